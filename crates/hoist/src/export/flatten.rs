//! Which entries of an image's layers make its flattened tar, decided reading the layers from
//! the top one down (`crane export`'s order): the first entry met at a path is the one the
//! root filesystem holds, and every path a higher layer whited out, made opaque below, or
//! replaced by a non-directory hides what the lower layers have there. Nothing is buffered:
//! each entry is written or skipped as it is read.
//!
//! Where the top-down order alone would write a wrong tar, [`Flattener`] fixes it or refuses:
//! - **Hard links to a lower layer**: a tar names a hard link's target before the link, but
//!   the target is in a layer read later. The link waits ([`Decision::Emit`]'s `links`) until
//!   the target is met; if the target is then hidden (a higher layer replaced it after the
//!   link was made), its content is written under the link's name instead.
//! - **Hard links to a hidden entry of the same layer** (read before the link, skipped): the
//!   layer is read a second time for them ([`Flattener::end_layer`]).
//! - **A lower layer's symlink (or file) where a higher layer put files below an implicit
//!   directory**: the directory export resolves `a/b` through a lower symlink `a`, but `a/b`
//!   has already been written as a real directory's child. Refused ([`FlattenError`]); a
//!   directory export handles it.
//! - A hard link whose target a layer between deleted, or that no layer has: refused, as the
//!   directory export refuses to make it.

use std::collections::{HashMap, HashSet};

use crate::unpack::path::EntryPath;
use crate::unpack::whiteout::{classify, Whiteout};

/// What an entry is, as far as flattening cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kind {
    /// A directory.
    Dir,
    /// A regular file, symlink, device or FIFO.
    Other,
    /// A hard link to the named path.
    Link(EntryPath),
}

/// A hard link waiting for its target, with what is needed to write it.
#[derive(Debug, Clone)]
pub(super) struct Waiting<H> {
    /// The link's own path.
    pub(super) path: EntryPath,
    /// The link's header (owner, times), kept until it is written.
    pub(super) header: H,
    /// The layer it is in.
    layer: usize,
}

/// What to do with an entry.
#[derive(Debug)]
pub(super) enum Decision<H> {
    /// Not part of the root filesystem (hidden, or a whiteout), or a link that waits.
    Skip,
    /// Write it, with its `header` (handed back), under `name` (its own path, or the first
    /// waiting link's when it is hidden), then each of `links` as a hard link to `name`.
    Emit {
        name: EntryPath,
        header: H,
        links: Vec<Waiting<H>>,
    },
    /// Write each of `links` as a hard link to `target`, written earlier in this layer.
    Links {
        target: EntryPath,
        links: Vec<Waiting<H>>,
    },
}

/// Why a layer stack cannot be written as one tar in this order.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FlattenError {
    /// A lower layer makes a non-directory of a path a higher layer put entries under.
    #[error("layer {lower} has {path:?} as a symlink or file, under which layer {upper} put entries without naming the directory; export to a directory instead")]
    ParentReplaced {
        /// The path.
        path: String,
        /// The higher layer (counted from 0, the bottom).
        upper: usize,
        /// The lower layer.
        lower: usize,
    },
    /// A hard link to a directory (no filesystem makes one).
    #[error("layer {layer}: hard link {link:?} names the directory {target:?}")]
    LinkToDirectory {
        /// The link.
        link: String,
        /// Its target.
        target: String,
        /// Its layer.
        layer: usize,
    },
    /// A hard link whose target is missing when the link is made.
    #[error("layer {layer}: hard link {link:?} names {target:?}, which no layer below has")]
    LinkTargetMissing {
        /// The link.
        link: String,
        /// Its target.
        target: String,
        /// Its layer.
        layer: usize,
    },
}

/// Links to hidden entries of one layer, by target: the first is written with the target's
/// content, the others link to it.
pub(super) type Reread<H> = HashMap<Vec<u8>, Vec<Waiting<H>>>;

/// The visibility state of a top-down walk (see the module docs). `H` is the header a
/// waiting link keeps.
#[derive(Debug)]
pub(super) struct Flattener<H> {
    /// Paths an entry of a layer above has, and whether it is a directory; whiteouts count
    /// as entries.
    seen: HashMap<Vec<u8>, bool>,
    /// Paths whose descendants in lower layers are hidden.
    covered: HashSet<Vec<u8>>,
    /// Paths written only as some entry's parent, with the layer that did.
    implicit: HashMap<Vec<u8>, usize>,
    /// Links of the layers above waiting for their target, by target.
    waiting: HashMap<Vec<u8>, Vec<Waiting<H>>>,
    /// The layer being read, and what it did so far.
    layer: usize,
    this: ThisLayer<H>,
}

/// What the layer being read did so far.
#[derive(Debug)]
struct ThisLayer<H> {
    /// Entries' paths, and whether the last entry there is a directory.
    named: HashMap<Vec<u8>, bool>,
    /// Whiteouts (`.wh.X`: X) and opaque directories.
    removed: Vec<Vec<u8>>,
    opaque: Vec<Vec<u8>>,
    /// Entries written, and regular entries skipped as hidden.
    written: HashSet<Vec<u8>>,
    hidden: HashSet<Vec<u8>>,
    /// Hard links not written yet (hidden, or waiting for their target): their target, for
    /// links to them.
    aliases: HashMap<Vec<u8>, EntryPath>,
    /// Links waiting for a lower layer.
    waiting: Vec<(Vec<u8>, Waiting<H>)>,
    /// Links to a hidden entry of this layer.
    reread: Reread<H>,
}

impl<H> Default for ThisLayer<H> {
    fn default() -> Self {
        ThisLayer {
            named: HashMap::new(),
            removed: Vec::new(),
            opaque: Vec::new(),
            written: HashSet::new(),
            hidden: HashSet::new(),
            aliases: HashMap::new(),
            waiting: Vec::new(),
            reread: HashMap::new(),
        }
    }
}

impl<H> Default for Flattener<H> {
    fn default() -> Self {
        Flattener {
            seen: HashMap::new(),
            covered: HashSet::new(),
            implicit: HashMap::new(),
            waiting: HashMap::new(),
            layer: 0,
            this: ThisLayer::default(),
        }
    }
}

impl<H> Flattener<H> {
    /// Starts layer `layer` (counted from 0, the bottom; called from the top one down).
    pub(super) fn begin_layer(&mut self, layer: usize) {
        self.layer = layer;
        self.this = ThisLayer::default();
    }

    /// Decides on the next entry of the layer: its path, what it is, and its header (kept if
    /// it is a link that must wait).
    pub(super) fn entry(
        &mut self,
        path: &EntryPath,
        kind: Kind,
        header: H,
    ) -> Result<Decision<H>, FlattenError> {
        if let Some((parent, last)) = path.split_last() {
            match classify(last) {
                Whiteout::Opaque => {
                    self.this.opaque.push(join(parent));
                    return Ok(Decision::Skip);
                }
                Whiteout::Remove(name) => {
                    let mut removed = parent.to_vec();
                    removed.push(name.to_vec());
                    self.this.removed.push(join(&removed));
                    return Ok(Decision::Skip);
                }
                Whiteout::AufsMeta => return Ok(Decision::Skip),
                Whiteout::None => {}
            }
        }
        let name = path.to_bytes();
        let is_dir = kind == Kind::Dir;
        let hidden = self.seen.contains_key(&name) || covered_by(&self.covered, &name);
        self.this.named.insert(name.clone(), is_dir);
        // Links of the layers above to this path link to this entry.
        let mut links = self.waiting.remove(&name).unwrap_or_default();
        if let Kind::Link(target) = kind {
            if !hidden {
                self.note_implicit_parents(path);
                links.push(Waiting {
                    path: path.clone(),
                    header,
                    layer: self.layer,
                });
            }
            let decision = self.link(target.clone(), links)?;
            match (&decision, hidden) {
                // Written now: a later link of this layer may name it.
                (Decision::Links { .. }, false) => self.this.written.insert(name),
                // Not written (yet): a later link of this layer to it links to its target.
                _ => self.this.aliases.insert(name, target).is_none(),
            };
            return Ok(decision);
        }
        if let (true, Some(link)) = (is_dir, links.first()) {
            return Err(FlattenError::LinkToDirectory {
                link: link.path.to_string(),
                target: path.to_string(),
                layer: link.layer,
            });
        }
        if hidden {
            if !is_dir {
                self.this.hidden.insert(name);
            }
            if links.is_empty() {
                return Ok(Decision::Skip);
            }
            // Replaced above, but linked to before that: written under the first link's name.
            let first = links.remove(0);
            return Ok(Decision::Emit {
                name: first.path,
                header,
                links,
            });
        }
        if let (Some(&upper), false) = (self.implicit.get(&name), is_dir) {
            return Err(FlattenError::ParentReplaced {
                path: String::from_utf8_lossy(&name).into_owned(),
                upper,
                lower: self.layer,
            });
        }
        self.note_implicit_parents(path);
        self.this.written.insert(name);
        Ok(Decision::Emit {
            name: path.clone(),
            header,
            links,
        })
    }

    /// What to do with `links`, all linking to `target` as this layer has it so far.
    fn link(
        &mut self,
        target: EntryPath,
        links: Vec<Waiting<H>>,
    ) -> Result<Decision<H>, FlattenError> {
        let Some(first) = links.first() else {
            return Ok(Decision::Skip);
        };
        // Through this layer's links not written yet (bounded: a cycle is not followed forever).
        let mut target = target;
        for _ in 0..self.this.aliases.len() {
            match self.this.aliases.get(&target.to_bytes()) {
                Some(next) => target = next.clone(),
                None => break,
            }
        }
        let name = target.to_bytes();
        if self.this.named.get(&name) == Some(&true) {
            return Err(FlattenError::LinkToDirectory {
                link: first.path.to_string(),
                target: target.to_string(),
                layer: first.layer,
            });
        }
        if self.this.written.contains(&name) {
            return Ok(Decision::Links { target, links });
        }
        if self.this.hidden.contains(&name) {
            self.this.reread.entry(name).or_default().extend(links);
        } else {
            self.this
                .waiting
                .extend(links.into_iter().map(|link| (name.clone(), link)));
        }
        Ok(Decision::Skip)
    }

    /// Ends the layer: its whiteouts, opaque directories and entries now hide what the lower
    /// layers have. Returns the links to read this layer again for.
    pub(super) fn end_layer(&mut self) -> Result<Reread<H>, FlattenError> {
        let this = std::mem::take(&mut self.this);
        // A link of a layer above still waiting for a path this layer hid waits in vain: what
        // the lower layers have there was gone when the link was made.
        let mut hiding: HashSet<Vec<u8>> = this.removed.iter().cloned().collect();
        hiding.extend(this.opaque.iter().cloned());
        hiding.extend(
            this.named
                .iter()
                .filter(|(_, d)| !**d)
                .map(|(n, _)| n.clone()),
        );
        let lost = self
            .waiting
            .iter()
            .find(|(target, _)| this.removed.contains(target) || covered_by(&hiding, target));
        if let Some((target, links)) = lost {
            if let Some(link) = links.first() {
                return Err(missing(link, target));
            }
        }
        for (name, is_dir) in this.named {
            if !is_dir {
                self.covered.insert(name.clone());
            }
            self.seen.entry(name).or_insert(is_dir);
        }
        for removed in this.removed {
            self.covered.insert(removed.clone());
            self.seen.entry(removed).or_insert(false);
        }
        self.covered.extend(this.opaque);
        for (target, link) in this.waiting {
            self.waiting.entry(target).or_default().push(link);
        }
        Ok(this.reread)
    }

    /// Ends the walk: a link still waiting names a target no layer has.
    pub(super) fn finish(&self) -> Result<(), FlattenError> {
        let waiting = self.waiting.iter();
        match waiting
            .filter_map(|(t, links)| Some((t, links.first()?)))
            .next()
        {
            Some((target, link)) => Err(missing(link, target)),
            None => Ok(()),
        }
    }

    /// Records `path`'s parents that no entry of this layer or a higher one names.
    fn note_implicit_parents(&mut self, path: &EntryPath) {
        let components = path.components();
        for depth in 1..components.len() {
            let parent = join(&components[..depth]);
            if !self.seen.contains_key(&parent) && !self.this.named.contains_key(&parent) {
                self.implicit.entry(parent).or_insert(self.layer);
            }
        }
    }
}

fn missing<H>(link: &Waiting<H>, target: &[u8]) -> FlattenError {
    FlattenError::LinkTargetMissing {
        link: link.path.to_string(),
        target: String::from_utf8_lossy(target).into_owned(),
        layer: link.layer,
    }
}

/// Whether a strict ancestor of the path `name` (the root included) is in `covered`.
fn covered_by(covered: &HashSet<Vec<u8>>, name: &[u8]) -> bool {
    if name.is_empty() {
        return false;
    }
    covered.contains(&b""[..])
        || name
            .iter()
            .enumerate()
            .any(|(at, &b)| b == b'/' && covered.contains(&name[..at]))
}

/// Components joined with `/`.
fn join(components: &[Vec<u8>]) -> Vec<u8> {
    components.join(&b'/')
}

#[cfg(test)]
#[path = "flatten_tests.rs"]
mod tests;

//! The one descriptor walk: from root descriptors, every manifest they reach, children before
//! parents. DESIGN.md principle 1: copy (and so pull, push, load and save), garbage
//! collection, index completion and recording all walk the graph with this [`Walker`], never
//! with a loop of their own.
//!
//! containerd's `images.Walk` with `images.ChildrenHandler` (what a manifest names:
//! [`Children`]), `images.LimitManifests` / `FilterPlatforms` (an index narrowed to the best
//! match for a platform: [`Walker::platform`]) and a filter of index entries
//! ([`Walker::filter`]), plus the two limits a hostile graph needs: how deep indexes nest
//! ([`WalkLimits::max_depth`]; an index naming itself would loop) and how large a manifest may
//! be ([`WalkLimits::max_manifest_size`]).
//!
//! # Reading is the caller's
//! The walker does no I/O: [`Walker::next_manifest`] says which manifest it needs, and the
//! caller reads it however its side reads (a registry asynchronously, the content store or an
//! archive blocking), checks it against its descriptor if the bytes are untrusted, and hands
//! the bytes to [`Walker::visit`] — or says it cannot have them ([`Walker::skip`]). So one
//! walk serves async and blocking callers alike.
//!
//! # Order and invariants
//! - [`Walker::finish`] lists the [`Node`]s in **post order**: an index's children before the
//!   index, roots in the order given. A sink storing manifests in that order never holds one
//!   that names something it lacks (go-containerregistry's `remote.WriteIndex`; registries
//!   that check references on `PUT` require it).
//! - Each manifest is visited once, however many indexes name it.
//! - Only `manifests` entries are followed; `config`, `layers`, `subject` and schema 1
//!   `fsLayers` are reported in [`Children`] for the caller to use (copy moves them, gc keeps
//!   them).
//! - Referrers (OCI 1.1) are one more step of the same walk: the caller lists a visited
//!   manifest's referrers wherever its side keeps them and hands them to
//!   [`Walker::add_referrers`], which queues them as further roots (bounded in number), so
//!   they and their own referrers come after everything already queued.
//! - Strict (the default): a manifest that is not JSON of a manifest's shape, that is larger
//!   than the limit, or an index nested deeper than the limit, is an error. [`Walker::lenient`]
//!   (garbage collection, which must keep whatever it can tell is used): such a manifest is a
//!   leaf instead, and an entry that is not a whole descriptor still counts by its `digest`.

use std::collections::{HashSet, VecDeque};

use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use super::types::{OCI_INDEX, OCI_MANIFEST};
use super::{Descriptor, ManifestKind, NoMatchingManifest, Platform, PlatformMatcher};
use crate::digest::Digest;

/// How deep indexes may nest below a root by default (an index naming itself would loop);
/// pull's and `hoist manifest`'s choice of a platform follow the same limit.
pub const MAX_INDEX_DEPTH: usize = 4;

/// How far a walk goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalkLimits {
    /// Indexes below the roots deeper than this are refused (a root index is at depth 0).
    pub max_depth: usize,
    /// Manifests larger than this many bytes are refused.
    pub max_manifest_size: u64,
}

impl Default for WalkLimits {
    /// [`MAX_INDEX_DEPTH`] levels of indexes, manifests up to [`super::MAX_MANIFEST_SIZE`].
    fn default() -> WalkLimits {
        WalkLimits {
            max_depth: MAX_INDEX_DEPTH,
            max_manifest_size: super::MAX_MANIFEST_SIZE as u64,
        }
    }
}

/// Why a strict walk stopped.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// Indexes nest deeper than [`WalkLimits::max_depth`].
    #[error("index {digest} nests indexes deeper than {limit} levels")]
    TooDeep {
        /// The innermost index reached.
        digest: Digest,
        /// The limit.
        limit: usize,
    },
    /// A manifest is larger than [`WalkLimits::max_manifest_size`].
    #[error("manifest {digest} has {size} bytes, more than the {limit} a manifest may have")]
    TooLarge {
        /// The manifest.
        digest: Digest,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A manifest is not JSON of a manifest's shape.
    #[error("manifest {digest} cannot be read")]
    Malformed {
        /// The manifest.
        digest: Digest,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// [`Walker::platform`] matches no entry of an index.
    #[error(transparent)]
    NoMatchingManifest(Box<NoMatchingManifest>),
    /// More referrers were added than [`Walker::max_referrers`] allows.
    #[error("the referrers of {subject} make more than {limit} referrers in one walk")]
    TooManyReferrers {
        /// The subject whose referrers passed the limit.
        subject: Digest,
        /// The limit.
        limit: usize,
    },
}

/// What one manifest names (containerd's `images.Children`). Read from any manifest-shaped
/// JSON: an OCI or Docker index, an image manifest, an artifact manifest, schema 1.
#[derive(Debug, Clone, Default)]
pub struct Children {
    /// `schemaVersion`, when a number.
    pub schema_version: Option<u64>,
    /// The body's own `mediaType`, when it has one.
    pub media_type: Option<String>,
    /// An index's entries; `None` for anything but an index.
    pub manifests: Option<Vec<Descriptor>>,
    /// An image manifest's config.
    pub config: Option<Descriptor>,
    /// An image manifest's layers, bottom first.
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (OCI 1.1 referrers).
    pub subject: Option<Descriptor>,
    /// Schema 1 `fsLayers[].blobSum`.
    pub fs_layers: Vec<Digest>,
}

/// The JSON fields [`Children`] is read from.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    #[serde(default)]
    schema_version: Option<Value>,
    #[serde(default)]
    media_type: Option<Value>,
    #[serde(default)]
    manifests: Option<Vec<Value>>,
    #[serde(default)]
    config: Option<Value>,
    #[serde(default)]
    layers: Option<Vec<Value>>,
    #[serde(default)]
    subject: Option<Value>,
    #[serde(default)]
    fs_layers: Option<Vec<Value>>,
}

impl Children {
    /// The children of the manifest `bytes`; every entry must be a whole descriptor.
    pub fn parse(bytes: &[u8]) -> Result<Children, serde_json::Error> {
        let raw: Raw = serde_json::from_slice(bytes)?;
        let strict = |v: Value| serde_json::from_value::<Descriptor>(v);
        let list = |values: Option<Vec<Value>>| {
            values
                .unwrap_or_default()
                .into_iter()
                .map(strict)
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Children {
            schema_version: raw.schema_version.as_ref().and_then(Value::as_u64),
            media_type: media_type(raw.media_type)?,
            manifests: match raw.manifests {
                Some(entries) => Some(list(Some(entries))?),
                None => None,
            },
            config: raw.config.map(strict).transpose()?,
            layers: list(raw.layers)?,
            subject: raw.subject.map(strict).transpose()?,
            fs_layers: blob_sums(raw.fs_layers),
        })
    }

    /// The children of the manifest `bytes` as far as they can be told: an entry that is not
    /// a whole descriptor counts by its `digest` alone; `None` when `bytes` is not a JSON
    /// object.
    pub fn parse_lenient(bytes: &[u8]) -> Option<Children> {
        let raw: Raw = serde_json::from_slice(bytes).ok()?;
        let list = |values: Option<Vec<Value>>| -> Vec<Descriptor> {
            values.into_iter().flatten().filter_map(lenient).collect()
        };
        Some(Children {
            schema_version: raw.schema_version.as_ref().and_then(Value::as_u64),
            media_type: media_type(raw.media_type).ok().flatten(),
            manifests: raw.manifests.map(|entries| list(Some(entries))),
            config: raw.config.and_then(lenient),
            layers: list(raw.layers),
            subject: raw.subject.and_then(lenient),
            fs_layers: blob_sums(raw.fs_layers),
        })
    }

    /// An index (or manifest list).
    pub fn is_index(&self) -> bool {
        self.manifests.is_some()
    }

    /// A Docker schema 1 manifest.
    pub fn is_schema1(&self) -> bool {
        self.schema_version == Some(1)
    }

    /// The config, then the layers.
    pub fn blobs(&self) -> impl Iterator<Item = &Descriptor> {
        self.config.iter().chain(&self.layers)
    }

    /// The media type the manifest `descriptor` names is stored with: the descriptor's when it
    /// is a manifest type, else the body's own, else the descriptor's whatever it is, else
    /// what the shape says (an OCI index or manifest).
    pub fn media_type_of(&self, descriptor: &Descriptor) -> String {
        let declared = descriptor.media_type.trim();
        if ManifestKind::from_media_type(declared).is_some() {
            return declared.to_owned();
        }
        if let Some(own) = self.media_type.as_deref().filter(|t| !t.is_empty()) {
            return own.to_owned();
        }
        if !declared.is_empty() {
            return declared.to_owned();
        }
        if self.is_index() {
            OCI_INDEX
        } else {
            OCI_MANIFEST
        }
        .to_owned()
    }
}

fn media_type(value: Option<Value>) -> Result<Option<String>, serde_json::Error> {
    value
        .filter(|v| !v.is_null())
        .map(serde_json::from_value)
        .transpose()
}

fn lenient(value: Value) -> Option<Descriptor> {
    let digest = Digest::parse(value.get("digest")?.as_str()?).ok()?;
    Some(
        serde_json::from_value::<Descriptor>(value.clone()).unwrap_or_else(|_| {
            let size = value.get("size").and_then(Value::as_u64).unwrap_or(0);
            Descriptor::new("", digest, size)
        }),
    )
}

fn blob_sums(values: Option<Vec<Value>>) -> Vec<Digest> {
    values
        .into_iter()
        .flatten()
        .filter_map(|v| Digest::parse(v.get("blobSum")?.as_str()?).ok())
        .collect()
}

/// A manifest the walk visited.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its descriptor, the media type made definite ([`Children::media_type_of`]).
    pub descriptor: Descriptor,
    /// Its exact bytes (empty when it was skipped).
    pub bytes: Bytes,
    /// What it names (nothing when it was skipped or, leniently, unreadable).
    pub children: Children,
    /// How many indexes lie between it and its root.
    pub depth: usize,
    /// Its bytes were read and understood (false: skipped, or leniently a leaf).
    pub read: bool,
}

/// A node whose children are still being visited.
struct Frame {
    node: Node,
    pending: VecDeque<Descriptor>,
}

/// The walk (see the module docs).
pub struct Walker {
    limits: WalkLimits,
    lenient: bool,
    platform: Option<PlatformMatcher>,
    requested: Option<Platform>,
    filter: Option<fn(&Descriptor) -> bool>,
    roots: VecDeque<Descriptor>,
    stack: Vec<Frame>,
    wanted: Option<(Descriptor, usize)>,
    seen: HashSet<Digest>,
    done: Vec<Node>,
    max_referrers: usize,
    referrers: usize,
}

impl Walker {
    /// A strict walk from `roots`, in their order.
    pub fn new(roots: impl IntoIterator<Item = Descriptor>, limits: WalkLimits) -> Walker {
        Walker {
            limits,
            lenient: false,
            platform: None,
            requested: None,
            filter: None,
            roots: roots.into_iter().collect(),
            stack: Vec::new(),
            wanted: None,
            seen: HashSet::new(),
            done: Vec::new(),
            max_referrers: super::MAX_REFERRERS,
            referrers: 0,
        }
    }

    /// At most `limit` referrers in the whole walk ([`Walker::add_referrers`]; default
    /// [`super::MAX_REFERRERS`]).
    pub fn max_referrers(mut self, limit: usize) -> Walker {
        self.max_referrers = limit;
        self
    }

    /// Adds `referrers` of the manifest `subject` (OCI 1.1: manifests naming it as their
    /// `subject`, listed by whoever holds them) as more roots, walked after the roots already
    /// queued — so a referrer comes after its subject in [`Walker::finish`], and referrers
    /// of referrers after those. Each is visited once; more than
    /// [`Walker::max_referrers`] in one walk is [`WalkError::TooManyReferrers`].
    pub fn add_referrers(
        &mut self,
        subject: &Digest,
        referrers: impl IntoIterator<Item = Descriptor>,
    ) -> Result<(), WalkError> {
        for referrer in referrers {
            if self.seen.contains(&referrer.digest)
                || self.roots.iter().any(|r| r.digest == referrer.digest)
            {
                continue;
            }
            self.referrers += 1;
            if self.referrers > self.max_referrers {
                return Err(WalkError::TooManyReferrers {
                    subject: subject.clone(),
                    limit: self.max_referrers,
                });
            }
            self.roots.push_back(referrer);
        }
        Ok(())
    }

    /// Unreadable, oversized or too deep manifests become leaves instead of errors (see the
    /// module docs).
    pub fn lenient(mut self) -> Walker {
        self.lenient = true;
        self
    }

    /// Follow only the best match for `platform` of each index (docker's `filterManifests`,
    /// containerd's `LimitManifests(…, 1)`); an index with no match is
    /// [`WalkError::NoMatchingManifest`].
    pub fn platform(mut self, platform: &Platform) -> Walker {
        self.platform = Some(PlatformMatcher::new(platform));
        self.requested = Some(platform.clone());
        self
    }

    /// Follow only the index entries `keep` accepts.
    pub fn filter(mut self, keep: fn(&Descriptor) -> bool) -> Walker {
        self.filter = Some(keep);
        self
    }

    /// The manifest whose bytes the walk needs now, `None` when it is done. The caller
    /// answers with [`Walker::visit`] or [`Walker::skip`]; asking again first gives the same
    /// descriptor.
    pub fn next_manifest(&mut self) -> Option<&Descriptor> {
        while self.wanted.is_none() {
            let depth = self.stack.len();
            let candidate = match self.stack.last_mut() {
                Some(frame) => match frame.pending.pop_front() {
                    Some(child) => child,
                    None => {
                        if let Some(frame) = self.stack.pop() {
                            self.done.push(frame.node);
                        }
                        continue;
                    }
                },
                None => self.roots.pop_front()?,
            };
            if self.seen.insert(candidate.digest.clone()) {
                self.wanted = Some((candidate, depth));
            }
        }
        self.wanted.as_ref().map(|(descriptor, _)| descriptor)
    }

    /// The bytes of the manifest [`Walker::next_manifest`] named; returns the node they make.
    /// Called without a pending [`Walker::next_manifest`], it visits nothing: `Ok(None)`. A
    /// lenient walk returns no error.
    pub fn visit(&mut self, bytes: Bytes) -> Result<Option<&Node>, WalkError> {
        let Some((mut descriptor, depth)) = self.wanted.take() else {
            return Ok(None);
        };
        let digest = descriptor.digest.clone();
        let size = bytes.len() as u64;
        if size > self.limits.max_manifest_size {
            let limit = self.limits.max_manifest_size;
            return self.refuse(
                descriptor,
                depth,
                WalkError::TooLarge {
                    digest,
                    size,
                    limit,
                },
            );
        }
        let children = if self.lenient {
            Children::parse_lenient(&bytes)
        } else {
            Some(
                Children::parse(&bytes)
                    .map_err(|source| WalkError::Malformed { digest, source })?,
            )
        };
        let Some(children) = children else {
            tracing::debug!(digest = %descriptor.digest, "not a manifest: kept as a leaf");
            self.leaf(descriptor, depth);
            return Ok(self.stack.last().map(|frame| &frame.node));
        };
        descriptor.media_type = children.media_type_of(&descriptor);
        let pending = match &children.manifests {
            Some(_) if depth >= self.limits.max_depth => {
                let error = WalkError::TooDeep {
                    digest: descriptor.digest.clone(),
                    limit: self.limits.max_depth,
                };
                return self.refuse(descriptor, depth, error);
            }
            Some(entries) => self.followed(entries)?,
            None => VecDeque::new(),
        };
        let node = Node {
            descriptor,
            bytes,
            children,
            depth,
            read: true,
        };
        self.stack.push(Frame { node, pending });
        Ok(self.stack.last().map(|frame| &frame.node))
    }

    /// The manifest [`Walker::next_manifest`] named cannot be had: it is a leaf of the walk.
    pub fn skip(&mut self) {
        if let Some((descriptor, depth)) = self.wanted.take() {
            self.leaf(descriptor, depth);
        }
    }

    /// Every node visited, children before parents (see the module docs).
    pub fn finish(mut self) -> Vec<Node> {
        while self.next_manifest().is_some() {
            self.skip();
        }
        self.done
    }

    /// The entries of an index the walk follows.
    fn followed(&self, entries: &[Descriptor]) -> Result<VecDeque<Descriptor>, WalkError> {
        let kept: Vec<Descriptor> = entries
            .iter()
            .filter(|d| self.filter.is_none_or(|keep| keep(d)))
            .cloned()
            .collect();
        let (Some(matcher), Some(requested)) = (&self.platform, &self.requested) else {
            return Ok(kept.into());
        };
        match matcher
            .select(&kept)
            .map(|best| best.first().map(|d| (*d).clone()))
        {
            Ok(Some(best)) => Ok(VecDeque::from([best])),
            Ok(None) | Err(_) => Err(WalkError::NoMatchingManifest(Box::new(
                NoMatchingManifest::new(requested, entries),
            ))),
        }
    }

    /// `error` when strict; a leaf when lenient.
    fn refuse(
        &mut self,
        descriptor: Descriptor,
        depth: usize,
        error: WalkError,
    ) -> Result<Option<&Node>, WalkError> {
        if !self.lenient {
            return Err(error);
        }
        tracing::debug!(%error, "kept as a leaf");
        self.leaf(descriptor, depth);
        Ok(self.stack.last().map(|frame| &frame.node))
    }

    /// Records `descriptor` as a node without children, visited now (moved to the finished
    /// nodes by the next call to `next`).
    fn leaf(&mut self, descriptor: Descriptor, depth: usize) {
        let node = Node {
            descriptor,
            bytes: Bytes::new(),
            children: Children::default(),
            depth,
            read: false,
        };
        self.stack.push(Frame {
            node,
            pending: VecDeque::new(),
        });
    }
}

#[cfg(test)]
#[path = "walk_tests.rs"]
pub(crate) mod tests;

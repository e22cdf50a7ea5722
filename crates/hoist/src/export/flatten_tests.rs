//! The flattener's decisions on small layer stacks, read top down as `export_tar` reads them.

use super::*;

/// One layer's entries: `(path, kind)`; a header is the entry's own path.
type Layer<'a> = &'a [(&'a str, Kind)];

fn path(p: &str) -> EntryPath {
    EntryPath::parse(p.as_bytes()).unwrap()
}

fn link(target: &str) -> Kind {
    Kind::Link(path(target))
}

/// What a tar writer would write for `layers` (bottom first), in order: `name` for an entry,
/// `name -> target` for a hard link, `name <= source` for a hidden entry written under a
/// link's name, `reread name -> target` for a link written by reading a layer again.
fn flatten(layers: &[Layer<'_>]) -> Result<Vec<String>, FlattenError> {
    let mut flat: Flattener<String> = Flattener::default();
    let mut out = Vec::new();
    for (index, layer) in layers.iter().enumerate().rev() {
        flat.begin_layer(index);
        for (name, kind) in layer.iter() {
            match flat.entry(&path(name), kind.clone(), name.to_string())? {
                Decision::Skip => {}
                Decision::Emit {
                    name: written,
                    links,
                    ..
                } => {
                    let own = written == path(name);
                    let written = written.to_string();
                    match own {
                        true => out.push(written.clone()),
                        false => out.push(format!("{written} <= {name}")),
                    }
                    out.extend(links.iter().map(|l| format!("{} -> {written}", l.path)));
                }
                Decision::Links { target, links } => {
                    out.extend(links.iter().map(|l| format!("{} -> {target}", l.path)));
                }
            }
        }
        let mut reread: Vec<_> = flat.end_layer()?.into_iter().collect();
        reread.sort_by(|a, b| a.0.cmp(&b.0));
        for (target, links) in reread {
            let target = String::from_utf8(target).unwrap();
            out.extend(
                links
                    .iter()
                    .map(|l| format!("reread {} -> {target}", l.path)),
            );
        }
    }
    flat.finish()?;
    Ok(out)
}

#[test]
fn the_highest_entry_wins_and_whiteouts_and_opaque_directories_hide_lower_ones() {
    let bottom: Layer = &[
        ("etc", Kind::Dir),
        ("etc/a", Kind::Other),
        ("etc/b", Kind::Other),
        ("opt", Kind::Dir),
        ("opt/x", Kind::Other),
        ("f", Kind::Other),
    ];
    let top: Layer = &[
        ("etc/.wh.b", Kind::Other),
        ("opt/.wh..wh..opq", Kind::Other),
        ("opt/y", Kind::Other),
        ("etc/a", Kind::Other),
    ];
    assert_eq!(
        flatten(&[bottom, top]).unwrap(),
        ["opt/y", "etc/a", "etc", "opt", "f"]
    );
}

#[test]
fn a_non_directory_hides_what_lower_layers_have_below_it_even_when_itself_hidden() {
    let bottom: Layer = &[("d", Kind::Dir), ("d/child", Kind::Other)];
    let middle: Layer = &[("d", Kind::Other)];
    let top: Layer = &[("d", Kind::Dir), ("d/new", Kind::Other)];
    assert_eq!(flatten(&[bottom, middle, top]).unwrap(), ["d", "d/new"]);
}

#[test]
fn links_are_written_after_their_target_whatever_layer_it_is_in() {
    // Same layer, target first; a lower layer; a chain through a middle layer's link.
    let bottom: Layer = &[("t", Kind::Other), ("same", link("t"))];
    let middle: Layer = &[("mid", link("t"))];
    let top: Layer = &[("up", link("mid")), ("direct", link("t"))];
    assert_eq!(
        flatten(&[bottom, middle, top]).unwrap(),
        ["t", "direct -> t", "up -> t", "mid -> t", "same -> t"]
    );
}

#[test]
fn a_link_to_a_link_still_waiting_waits_with_it() {
    let bottom: Layer = &[("t", Kind::Other)];
    let top: Layer = &[("l", link("t")), ("l2", link("l"))];
    assert_eq!(flatten(&[bottom, top]).unwrap(), ["t", "l -> t", "l2 -> t"]);
}

#[test]
fn a_link_to_an_entry_replaced_later_gets_the_old_content() {
    // Lower layer: a link made before a higher layer replaced its target.
    let bottom: Layer = &[("perl", Kind::Other)];
    let middle: Layer = &[("perl5", link("perl")), ("perl5b", link("perl"))];
    let top: Layer = &[("perl", Kind::Other)];
    assert_eq!(
        flatten(&[bottom, middle, top]).unwrap(),
        ["perl", "perl5 <= perl", "perl5b -> perl5"]
    );
    // Same layer: the hidden target was read before the link, so the layer is read again.
    let bottom: Layer = &[("perl", Kind::Other), ("perl5", link("perl"))];
    let top: Layer = &[("perl", Kind::Other)];
    assert_eq!(
        flatten(&[bottom, top]).unwrap(),
        ["perl", "reread perl5 -> perl"]
    );
}

#[test]
fn links_that_cannot_be_made_are_refused() {
    let bottom: Layer = &[("t", Kind::Other)];
    let middle: Layer = &[(".wh.t", Kind::Other)];
    let top: Layer = &[("link", link("t"))];
    assert!(matches!(
        flatten(&[bottom, middle, top]),
        Err(FlattenError::LinkTargetMissing { layer: 2, .. })
    ));
    let dir: Layer = &[("d", Kind::Dir)];
    let top: Layer = &[("link", link("d"))];
    assert!(matches!(
        flatten(&[dir, top]),
        Err(FlattenError::LinkToDirectory { layer: 1, .. })
    ));
    let same: Layer = &[("d", Kind::Dir), ("link", link("d"))];
    assert!(matches!(
        flatten(&[same]),
        Err(FlattenError::LinkToDirectory { layer: 0, .. })
    ));
    let only: Layer = &[("link", link("nowhere"))];
    assert!(matches!(
        flatten(&[only]),
        Err(FlattenError::LinkTargetMissing { layer: 0, .. })
    ));
    // Under an opaque directory of a layer between.
    let bottom: Layer = &[("d", Kind::Dir), ("d/t", Kind::Other)];
    let middle: Layer = &[("d/.wh..wh..opq", Kind::Other)];
    let top: Layer = &[("link", link("d/t"))];
    assert!(flatten(&[bottom, middle, top]).is_err());
}

#[test]
fn a_lower_non_directory_under_an_implicit_directory_is_refused_a_directory_is_not() {
    let symlink: Layer = &[("lib", Kind::Other)];
    let dir: Layer = &[("lib", Kind::Dir)];
    let top: Layer = &[("lib/b", Kind::Other)];
    assert_eq!(
        flatten(&[symlink, top]),
        Err(FlattenError::ParentReplaced {
            path: "lib".into(),
            upper: 1,
            lower: 0
        })
    );
    assert_eq!(flatten(&[dir, top]).unwrap(), ["lib/b", "lib"]);
    // Named by the higher layer itself: not implicit, the lower symlink is hidden.
    let named: Layer = &[("lib", Kind::Dir), ("lib/b", Kind::Other)];
    assert_eq!(flatten(&[symlink, named]).unwrap(), ["lib", "lib/b"]);
}

#[test]
fn a_root_opaque_marker_hides_every_lower_entry_but_the_root() {
    let bottom: Layer = &[("", Kind::Dir), ("a", Kind::Other)];
    let top: Layer = &[(".wh..wh..opq", Kind::Other), ("b", Kind::Other)];
    assert_eq!(flatten(&[bottom, top]).unwrap(), ["b", "/"]);
}

//! PEM, read as Go's `encoding/pem` reads it — cosign, skopeo and containers/image are Go
//! programs, and where a PEM ends matters to what they accept: a Rekor entry's public key and
//! a signature's certificate are compared as the DER of their first block, and a block
//! followed by anything more is refused ("trailing data").
//!
//! [`decode`] is Go's `pem.Decode`: a block starts with a line `-----BEGIN LABEL-----` at the
//! start of the input or of a line, ends with a line `-----END LABEL-----` (the same label,
//! then only blanks), and what follows that line is the rest; a malformed block is skipped
//! and the search goes on after its BEGIN line. Header lines (`Key: value`) are not part of
//! the body. [`encode`] writes 64 columns as `pem.Encode` does.

use base64::Engine;

const BEGIN: &[u8] = b"-----BEGIN ";
const END: &[u8] = b"\n-----END ";
const DASHES: &[u8] = b"-----";

/// One PEM block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Block {
    /// The label (`CERTIFICATE`, `PUBLIC KEY`, …).
    pub(crate) label: String,
    /// The decoded body.
    pub(crate) der: Vec<u8>,
}

/// The first valid block of `data` and the bytes after its END line; `None` when there is
/// none.
pub(crate) fn decode(mut data: &[u8]) -> Option<(Block, &[u8])> {
    loop {
        let start = if data.starts_with(BEGIN) {
            0
        } else {
            find(data, b"\n-----BEGIN ")? + 1
        };
        let (type_line, rest) = line(&data[start + BEGIN.len()..]);
        if let Some(label) = type_line.strip_suffix(DASHES) {
            if let Some(found) = block(label, rest) {
                return Some(found);
            }
        }
        data = rest;
    }
}

/// Every valid block of `data`, in order.
pub(crate) fn decode_all(mut data: &[u8]) -> Vec<Block> {
    let mut blocks = Vec::new();
    while let Some((block, rest)) = decode(data) {
        blocks.push(block);
        data = rest;
    }
    blocks
}

/// The block labelled `label` whose body starts at `rest`, and what follows its END line.
fn block<'a>(label: &[u8], rest: &'a [u8]) -> Option<(Block, &'a [u8])> {
    let (body, after_end) = if let Some(tail) = rest.strip_prefix(&END[1..]) {
        (&rest[..0], tail)
    } else {
        let at = find(rest, END)?;
        (&rest[..at], &rest[at + END.len()..])
    };
    let after_label = after_end.strip_prefix(label)?.strip_prefix(DASHES)?;
    let (end_line, tail) = line(after_label);
    if !end_line.is_empty() {
        return None;
    }
    let text: Vec<u8> = body
        .split(|b| *b == b'\n')
        // Headers (`Proc-Type: …`) are not base64; the Go tools write none.
        .filter(|l| !l.contains(&b':'))
        .flat_map(|l| l.iter().copied().filter(|b| !b.is_ascii_whitespace()))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    let label = String::from_utf8(label.to_vec()).ok()?;
    Some((Block { label, der }, tail))
}

/// The line at the start of `data` without its trailing blanks, and what follows its `\n`.
fn line(data: &[u8]) -> (&[u8], &[u8]) {
    let (line, rest) = match data.iter().position(|b| *b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &data[data.len()..]),
    };
    let end = line
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t' | b'\r'))
        .map_or(0, |at| at + 1);
    (&line[..end], rest)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `bytes` as a PEM block labelled `label`, 64 columns as Go's `pem.Encode`.
pub(crate) fn encode(label: &str, bytes: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_and_what_follows_it() {
        let pem = encode("CERTIFICATE", b"der bytes");
        let (block, rest) = decode(pem.as_bytes()).unwrap();
        assert_eq!(block.label, "CERTIFICATE");
        assert_eq!(block.der, b"der bytes");
        assert!(rest.is_empty());
        let two = format!("{pem}\n");
        assert_eq!(decode(two.as_bytes()).unwrap().1, b"\n");
    }

    #[test]
    fn text_before_and_malformed_blocks_are_skipped() {
        let good = encode("PUBLIC KEY", b"k");
        let text = format!("comment\n-----BEGIN X-----\n!!!\n-----END X-----\n{good}");
        let blocks = decode_all(text.as_bytes());
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].label, "PUBLIC KEY");
    }

    proptest::proptest! {
        #[test]
        fn any_input_decodes_without_panicking(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = decode_all(&bytes);
        }

        #[test]
        fn what_encode_writes_decodes_back(label in "[A-Z][A-Z ]{0,20}[A-Z]", der in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let pem = encode(&label, &der);
            let (block, rest) = decode(pem.as_bytes()).unwrap();
            proptest::prop_assert_eq!(block, Block { label, der });
            proptest::prop_assert!(rest.is_empty());
        }
    }

    #[test]
    fn the_end_line_must_name_the_same_label_alone() {
        let text = "-----BEGIN A-----\nAAAA\n-----END B-----\n";
        assert!(decode(text.as_bytes()).is_none());
        let text = "-----BEGIN A-----\nAAAA\n-----END A----- x\n";
        assert!(decode(text.as_bytes()).is_none());
        let text = "x-----BEGIN A-----\nAAAA\n-----END A-----\n";
        assert!(decode(text.as_bytes()).is_none());
    }
}

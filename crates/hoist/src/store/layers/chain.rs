//! `ChainId`: the name of a layer *stack*, docker's `layer.ChainID` / the OCI image spec's
//! "ChainID" (<https://github.com/opencontainers/image-spec/blob/main/config.md#layer-chainid>).
//!
//! `ChainID(L0) = DiffID(L0)`; `ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))`. Two
//! images share an unpacked layer exactly when they share the chain up to it: the same diff on
//! another base is another chain ID, another directory.

use std::fmt;

use crate::digest::Digest;

/// The chain ID of a layer stack (see the module docs). Always a sha256 digest except for a
/// one-layer stack, whose chain ID is that layer's diffID as is.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChainId(Digest);

impl ChainId {
    /// The chain ID of `diff_id` stacked on `parent` (none for the bottom layer).
    pub fn next(parent: Option<&ChainId>, diff_id: &Digest) -> ChainId {
        match parent {
            None => ChainId(diff_id.clone()),
            Some(parent) => ChainId(Digest::sha256_of(
                format!("{} {}", parent.0, diff_id).as_bytes(),
            )),
        }
    }

    /// The chain IDs of every prefix of `diff_ids` (bottom layer first), as docker's
    /// `layer.CreateChainID` applied to each.
    pub fn chain(diff_ids: &[Digest]) -> Vec<ChainId> {
        let mut chain: Vec<ChainId> = Vec::with_capacity(diff_ids.len());
        for diff_id in diff_ids {
            let next = ChainId::next(chain.last(), diff_id);
            chain.push(next);
        }
        chain
    }

    /// Takes a digest read back from the store as a chain ID.
    pub fn from_digest(digest: Digest) -> ChainId {
        ChainId(digest)
    }

    /// The digest.
    pub fn digest(&self) -> &Digest {
        &self.0
    }

    /// The hex part: the layer's directory name.
    pub fn hex(&self) -> &str {
        self.0.hex()
    }
}

impl fmt::Display for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainId({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Digest {
        Digest::parse(s).unwrap()
    }

    #[test]
    fn bottom_chain_id_is_the_diff_id() {
        let diff = Digest::sha256_of(b"a");
        assert_eq!(ChainId::next(None, &diff).digest(), &diff);
    }

    /// The chain of two well-known diffIDs, computed independently with
    /// `printf '%s %s' A B | sha256sum`.
    #[test]
    fn chain_id_matches_docker_formula() {
        let a = d("sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4");
        let b = d("sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef");
        let chain = ChainId::chain(&[a.clone(), b]);
        let expected = d("sha256:71dec89dc33c1a1cd5f73cd1e0885ec74b73b03fb9d5a98fddb6486563565072");
        assert_eq!(chain[0].digest(), &a);
        assert_eq!(chain[1].digest(), &expected);
    }

    #[test]
    fn same_diff_on_another_base_is_another_chain() {
        let (a, b, c) = (
            Digest::sha256_of(b"a"),
            Digest::sha256_of(b"b"),
            Digest::sha256_of(b"c"),
        );
        let one = ChainId::chain(&[a, c.clone()]);
        let two = ChainId::chain(&[b, c]);
        assert_ne!(one[1], two[1]);
    }
}

//! Token scopes: `repository:NAME:pull`, `repository:NAME:pull,push`, `registry:catalog:*`.
//!
//! Corresponds to docker/distribution's `auth.RepositoryScope` / `auth.RegistryScope` and
//! containerd's `remotes/docker/scope.go`. A [`ScopeSet`] is the set of scopes one token
//! request asks for: resources sorted, actions merged and sorted per resource, so two requests
//! for the same access share one cache entry whatever the order they were built in.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The access a repository operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Access {
    /// Read: manifests, blobs, tags.
    Pull,
    /// Read and write: uploads, manifest PUT (`pull,push`, as docker asks).
    Push,
    /// Manifest DELETE (`delete`).
    Delete,
}

/// A set of scopes for one token request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScopeSet {
    /// `type:name` ⇒ actions.
    resources: BTreeMap<String, BTreeSet<String>>,
}

impl ScopeSet {
    /// The empty set (what `hoist login` asks for, as docker's login does).
    pub fn empty() -> ScopeSet {
        ScopeSet::default()
    }

    /// The scope for one repository operation.
    pub fn repository(name: &str, access: Access) -> ScopeSet {
        let mut s = ScopeSet::default();
        s.add_repository(name, access);
        s
    }

    /// `registry:catalog:*`.
    pub fn catalog() -> ScopeSet {
        let mut s = ScopeSet::default();
        s.add("registry", "catalog", ["*"]);
        s
    }

    /// Adds a repository's access (a mount adds `pull` on the source repository).
    pub fn add_repository(&mut self, name: &str, access: Access) {
        match access {
            Access::Pull => self.add("repository", name, ["pull"]),
            Access::Push => self.add("repository", name, ["pull", "push"]),
            Access::Delete => self.add("repository", name, ["delete"]),
        }
    }

    /// Adds a scope string as a registry sends it in a challenge (`type:name:a,b`; several
    /// scopes separated by spaces). Malformed pieces are ignored.
    pub fn add_challenge_scope(&mut self, scope: &str) {
        for piece in scope.split(' ').filter(|p| !p.is_empty()) {
            // The name may itself contain ':' (a registry host with a port), so split the
            // type off the front and the actions off the back.
            let Some((kind, rest)) = piece.split_once(':') else {
                continue;
            };
            let Some((name, actions)) = rest.rsplit_once(':') else {
                continue;
            };
            self.add(kind, name, actions.split(',').filter(|a| !a.is_empty()));
        }
    }

    /// Merges another set into this one.
    pub fn extend(&mut self, other: &ScopeSet) {
        for (k, v) in &other.resources {
            self.resources
                .entry(k.clone())
                .or_default()
                .extend(v.iter().cloned());
        }
    }

    /// Whether the set asks for nothing.
    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    /// The scope strings, one per resource, sorted.
    pub fn to_strings(&self) -> Vec<String> {
        self.resources
            .iter()
            .map(|(resource, actions)| {
                let actions: Vec<&str> = actions.iter().map(String::as_str).collect();
                format!("{resource}:{}", actions.join(","))
            })
            .collect()
    }

    fn add<'a>(&mut self, kind: &str, name: &str, actions: impl IntoIterator<Item = &'a str>) {
        self.resources
            .entry(format!("{kind}:{name}"))
            .or_default()
            .extend(actions.into_iter().map(str::to_string));
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_strings().join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_scope_asks_pull_and_push() {
        assert_eq!(
            ScopeSet::repository("library/ubuntu", Access::Push).to_strings(),
            ["repository:library/ubuntu:pull,push"]
        );
    }

    #[test]
    fn merges_actions_of_the_same_repository() {
        let mut s = ScopeSet::repository("a", Access::Pull);
        s.add_repository("a", Access::Push);
        s.add_repository("b", Access::Pull);
        assert_eq!(
            s.to_strings(),
            ["repository:a:pull,push", "repository:b:pull"]
        );
    }

    #[test]
    fn order_of_building_does_not_matter() {
        let mut x = ScopeSet::repository("b", Access::Pull);
        x.add_repository("a", Access::Push);
        let mut y = ScopeSet::repository("a", Access::Push);
        y.add_repository("b", Access::Pull);
        assert_eq!(x, y);
    }

    #[test]
    fn parses_challenge_scopes_with_port_in_name() {
        let mut s = ScopeSet::empty();
        s.add_challenge_scope("repository:localhost:5000/x:pull,push registry:catalog:*");
        assert_eq!(
            s.to_strings(),
            [
                "registry:catalog:*",
                "repository:localhost:5000/x:pull,push"
            ]
        );
    }

    #[test]
    fn ignores_malformed_challenge_scope() {
        let mut s = ScopeSet::empty();
        s.add_challenge_scope("garbage");
        assert!(s.is_empty());
    }
}

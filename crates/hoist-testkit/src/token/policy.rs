//! The token server's policy: which scopes a user (or an anonymous client) may get.
//!
//! A scope is docker's `type:name:actions` (`repository:team/app:pull,push`,
//! `registry:catalog:*`). A grant gives `actions` (`*` = all) on names matching a pattern (`*`,
//! `prefix/*`, or an exact name). The token carries, per asked resource, the asked actions
//! that some grant of the requester allows — never more than was asked.

use std::collections::HashMap;

use serde::Serialize;

/// One grant: repositories matching `pattern` may get `actions`.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    /// `None` for anonymous clients.
    pub(crate) user: Option<String>,
    pub(crate) pattern: String,
    pub(crate) actions: Vec<String>,
}

impl Grant {
    /// `*` matches every resource of every type (also `registry:catalog:*`); `prefix/*` matches
    /// repositories under `prefix/`; anything else matches one repository exactly.
    fn matches(&self, resource_type: &str, name: &str) -> bool {
        if self.pattern == "*" {
            return true;
        }
        if resource_type != "repository" {
            return false;
        }
        match self.pattern.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == self.pattern,
        }
    }
}

/// Users, grants and token lifetime.
pub(crate) struct Policy {
    pub(crate) users: HashMap<String, String>,
    pub(crate) grants: Vec<Grant>,
    pub(crate) expires_in: u64,
}

/// One parsed scope: `type:name:actions`. The type may carry a class (`repository(plugin)`);
/// split at the first and the last colon.
#[derive(Debug, Clone)]
struct Scope {
    resource_type: String,
    name: String,
    actions: Vec<String>,
}

impl Scope {
    fn parse(s: &str) -> Option<Scope> {
        let (resource_type, rest) = s.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        Some(Scope {
            resource_type: resource_type.to_string(),
            name: name.to_string(),
            actions: actions
                .split(',')
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect(),
        })
    }
}

#[derive(Serialize)]
/// One `access` claim entry.
pub(crate) struct Access {
    #[serde(rename = "type")]
    pub(crate) resource_type: String,
    pub(crate) name: String,
    pub(crate) actions: Vec<String>,
}

/// The intersection of the asked scopes with the user's (or anonymous) grants.
pub(crate) fn grant_access(policy: &Policy, user: Option<&str>, asked: &[String]) -> Vec<Access> {
    let mut out: Vec<Access> = Vec::new();
    for scope in asked.iter().filter_map(|s| Scope::parse(s)) {
        let mut actions: Vec<String> = Vec::new();
        for grant in policy
            .grants
            .iter()
            .filter(|g| g.user.as_deref() == user && g.matches(&scope.resource_type, &scope.name))
        {
            for action in &scope.actions {
                let allowed = grant.actions.iter().any(|a| a == "*" || a == action);
                if allowed && !actions.contains(action) {
                    actions.push(action.clone());
                }
            }
        }
        if actions.is_empty() {
            continue;
        }
        match out
            .iter_mut()
            .find(|a| a.resource_type == scope.resource_type && a.name == scope.name)
        {
            Some(existing) => {
                for a in actions {
                    if !existing.actions.contains(&a) {
                        existing.actions.push(a);
                    }
                }
            }
            None => out.push(Access {
                resource_type: scope.resource_type,
                name: scope.name,
                actions,
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_with_class_and_several_actions_is_parsed() {
        let s = Scope::parse("repository(plugin):team/x:pull,push").unwrap();
        assert_eq!(s.resource_type, "repository(plugin)");
        assert_eq!(s.name, "team/x");
        assert_eq!(s.actions, vec!["pull", "push"]);
    }

    #[test]
    fn token_carries_only_the_intersection_of_asked_and_granted() {
        let policy = Policy {
            users: HashMap::new(),
            grants: vec![Grant {
                user: Some("u".into()),
                pattern: "team/*".into(),
                actions: vec!["pull".into()],
            }],
            expires_in: 60,
        };
        let asked = vec![
            "repository:team/a:pull,push".to_string(),
            "repository:other/b:pull".to_string(),
        ];
        let got = grant_access(&policy, Some("u"), &asked);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].name, "team/a");
        assert_eq!(got[0].actions, vec!["pull"]);
        assert!(grant_access(&policy, None, &asked).is_empty());
    }
}

//! Which tags of a repository a sync takes: [`TagFilter`] — every tag, the tags listed, the
//! tags a regular expression matches (`images-by-tag-regex`) or the tags inside a semantic
//! version range (`images-by-semver`).
//!
//! skopeo compiles the regex with Go's `regexp` (RE2 syntax, unanchored: `MatchString` finds
//! the pattern anywhere in the tag) and the range with Masterminds' `semver/v3`
//! (`NewConstraint`, then `Check` on each tag parsed by `NewVersion`). Rust's `regex` crate
//! is RE2's syntax too, so patterns carry over as written. The `semver` crate speaks Cargo's
//! dialect, so [`SemverRange`] reads Masterminds' and maps each comparator onto a
//! [`semver::Comparator`], whose meaning of partial versions is the same
//! (`>= 1.2` ⇒ `>= 1.2.0`; `<= 2` ⇒ `< 3.0.0`; `1.2.x` ⇒ `>= 1.2.0, < 1.3.0`):
//! - alternatives separated by `||`, each a list of comparators separated by commas or
//!   spaces (`">= 1.2 < 3.0.0 || >= 4.2.3"`);
//! - operators `=` (also none: a bare version is exact, where Cargo would read `^`), `!=`,
//!   `>`, `<`, `>=`, `<=` (also `=>`, `=<`), `~`, `~>`, `^`; wildcards `x`, `X`, `*`;
//! - hyphen ranges `1.2 - 1.4.5` (`>= 1.2, <= 1.4.5`);
//! - versions with or without a leading `v`, with one to three numbers.
//!
//! A tag is a version when Masterminds' `NewVersion` would take it: an optional `v`, one to
//! three numbers without leading zeros, an optional pre-release and build (`v1.2`, `3`,
//! `1.25.3-alpine`). Tags that are not (`latest`, `1.2.3.4`) are skipped, as skopeo skips
//! them. As with both libraries, a pre-release tag matches only an alternative that names a
//! pre-release of the same `major.minor.patch`.

use regex::Regex;
use semver::{BuildMetadata, Comparator, Prerelease, Version, VersionReq};

use super::SyncError;

/// How a repository's tags are chosen.
#[derive(Debug, Clone)]
pub enum TagFilter {
    /// Every tag the registry lists (`images: {repo: []}`, `--src docker REPO`).
    All,
    /// Exactly these tags or digests (`images: {repo: [tags]}`), not listed first.
    Listed(Vec<String>),
    /// The listed tags this expression matches anywhere (`images-by-tag-regex`).
    Regex(Regex),
    /// The listed tags that are versions inside this range (`images-by-semver`).
    Semver(SemverRange),
}

impl TagFilter {
    /// A filter from the regular expression `pattern` (`images-by-tag-regex`).
    pub fn regex(repository: &str, pattern: &str) -> Result<TagFilter, SyncError> {
        Regex::new(pattern)
            .map(TagFilter::Regex)
            .map_err(|e| SyncError::Filter {
                repository: repository.to_owned(),
                filter: pattern.to_owned(),
                reason: e.to_string(),
            })
    }

    /// A filter from the range `range` (`images-by-semver`).
    pub fn semver(repository: &str, range: &str) -> Result<TagFilter, SyncError> {
        SemverRange::parse(range)
            .map(TagFilter::Semver)
            .map_err(|reason| SyncError::Filter {
                repository: repository.to_owned(),
                filter: range.to_owned(),
                reason,
            })
    }

    /// Whether the registry's tag list is needed (everything but [`TagFilter::Listed`]).
    pub fn needs_listing(&self) -> bool {
        !matches!(self, TagFilter::Listed(_))
    }

    /// Whether the listed tag `tag` is taken.
    pub fn admits(&self, tag: &str) -> bool {
        match self {
            TagFilter::All => true,
            TagFilter::Listed(tags) => tags.iter().any(|t| t == tag),
            TagFilter::Regex(pattern) => pattern.is_match(tag),
            TagFilter::Semver(range) => range.admits(tag),
        }
    }
}

/// A Masterminds semantic version range (see the module docs).
#[derive(Debug, Clone)]
pub struct SemverRange {
    /// Any alternative admits a version.
    alternatives: Vec<Alternative>,
}

/// Comparators that must all hold: `required` as one Cargo requirement (which applies the
/// pre-release rule), `excluded` the versions `!=` names.
#[derive(Debug, Clone)]
struct Alternative {
    required: VersionReq,
    excluded: Vec<Comparator>,
}

impl SemverRange {
    /// Parses `text`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<SemverRange, String> {
        let alternatives = text
            .split("||")
            .map(parse_alternative)
            .collect::<Result<Vec<_>, String>>()?;
        Ok(SemverRange { alternatives })
    }

    /// Whether the tag `tag` is a version inside the range.
    pub fn admits(&self, tag: &str) -> bool {
        let Some(version) = lenient_version(tag) else {
            return false;
        };
        self.alternatives.iter().any(|a| {
            a.required.matches(&version) && !a.excluded.iter().any(|c| c.matches(&version))
        })
    }
}

/// One `||` alternative: comparators separated by commas or spaces.
fn parse_alternative(text: &str) -> Result<Alternative, String> {
    let tokens = tokens(text);
    let mut required = Vec::new();
    let mut excluded = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        // A hyphen range: `A - B`.
        if tokens.get(i + 1).is_some_and(|t| t == "-") {
            let (Some(low), Some(high)) = (tokens.get(i), tokens.get(i + 2)) else {
                return Err(format!("a hyphen range needs two versions: {text:?}"));
            };
            required.extend(comparator(">=", low)?);
            required.extend(comparator("<=", high)?);
            i += 3;
            continue;
        }
        let (op, version) = split_operator(&tokens[i]);
        match op {
            "!=" => excluded.extend(comparator("=", version)?),
            _ => required.extend(comparator(op, version)?),
        }
        i += 1;
    }
    Ok(Alternative {
        required: VersionReq {
            comparators: required,
        },
        excluded,
    })
}

/// The comparators of an alternative, an operator joined to the version that follows it
/// (`>= 1.2` and `>=1.2` alike); a lone `-` stays a token (hyphen ranges).
fn tokens(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut pending_operator = String::new();
    for word in text.split([',', ' ', '\t']).filter(|w| !w.is_empty()) {
        if word.chars().all(|c| "=!<>~^".contains(c)) {
            pending_operator.push_str(word);
            continue;
        }
        out.push(format!("{pending_operator}{word}"));
        pending_operator.clear();
    }
    if !pending_operator.is_empty() {
        out.push(pending_operator);
    }
    out
}

/// `>=1.2` ⇒ (`>=`, `1.2`).
fn split_operator(token: &str) -> (&str, &str) {
    let end = token
        .find(|c: char| !"=!<>~^".contains(c))
        .unwrap_or(token.len());
    token.split_at(end)
}

/// Masterminds' operator `op` on `version` as a Cargo comparator; `None` when it admits any
/// version (`*`, `>= x`).
///
/// A wildcard part ends the version (`1.2.x` ⇒ `1.2`): Cargo reads a partial version as
/// Masterminds reads a wildcard one.
fn comparator(op: &str, version: &str) -> Result<Option<Comparator>, String> {
    let op = match op {
        "" | "=" => "=",
        "=>" => ">=",
        "=<" => "<=",
        "~>" => "~",
        other @ (">" | "<" | ">=" | "<=" | "~" | "^") => other,
        other => return Err(format!("unknown operator {other:?}")),
    };
    let version = version.strip_prefix(['v', 'V']).unwrap_or(version);
    if version.is_empty() {
        return Err(format!("{op} needs a version"));
    }
    let core_end = version.find(['-', '+']).unwrap_or(version.len());
    let (core, suffix) = version.split_at(core_end);
    let parts: Vec<&str> = core
        .split('.')
        .take_while(|p| !matches!(*p, "x" | "X" | "*"))
        .collect();
    if parts.is_empty() {
        return Ok(None);
    }
    let text = format!("{op}{}{suffix}", parts.join("."));
    Comparator::parse(&text)
        .map(Some)
        .map_err(|e| format!("{text:?}: {e}"))
}

/// A tag as Masterminds' `NewVersion` reads it: an optional `v`, one to three numbers, an
/// optional pre-release and build.
fn lenient_version(tag: &str) -> Option<Version> {
    let text = tag.strip_prefix(['v', 'V']).unwrap_or(tag);
    let core_end = text.find(['-', '+']).unwrap_or(text.len());
    let (core, suffix) = text.split_at(core_end);
    let numbers: Vec<&str> = core.split('.').collect();
    if numbers.len() > 3 || numbers.iter().any(|n| n.is_empty()) {
        return None;
    }
    let mut parsed = [0u64; 3];
    for (slot, number) in parsed.iter_mut().zip(&numbers) {
        if !number.bytes().all(|b| b.is_ascii_digit())
            || (number.len() > 1 && number.starts_with('0'))
        {
            return None;
        }
        *slot = number.parse().ok()?;
    }
    let (pre, build) = match suffix.split_once('+') {
        Some((pre, build)) => (pre, build),
        None => (suffix, ""),
    };
    let pre = pre.strip_prefix('-').unwrap_or(pre);
    Some(Version {
        major: parsed[0],
        minor: parsed[1],
        patch: parsed[2],
        pre: Prerelease::new(pre).ok()?,
        build: BuildMetadata::new(build).ok()?,
    })
}

/// A comparator's operator, for tests and messages.
#[cfg(test)]
fn ops(range: &SemverRange) -> Vec<semver::Op> {
    range
        .alternatives
        .iter()
        .flat_map(|a| a.required.comparators.iter().map(|c| c.op))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use semver::Op;

    fn admitted(range: &str, tags: &[&str]) -> Vec<String> {
        let range = SemverRange::parse(range).unwrap();
        tags.iter()
            .filter(|t| range.admits(t))
            .map(|t| t.to_string())
            .collect()
    }

    const TAGS: &[&str] = &[
        "latest", "3.11", "3.11.8", "3.12.0", "3.12", "v3.13.1", "3.14-rc1", "4.0.0", "3.12.0.1",
        "03.12.0",
    ];

    #[test]
    fn skopeo_man_page_range_takes_versions_from_3_12_on() {
        assert_eq!(
            admitted(">= 3.12.0", TAGS),
            ["3.12.0", "3.12", "v3.13.1", "4.0.0"]
        );
    }

    #[test]
    fn comparators_are_joined_by_spaces_or_commas_and_alternatives_by_bars() {
        let expected = ["3.11", "3.11.8", "4.0.0"];
        assert_eq!(admitted(">= 3.11 < 3.12 || >= 4", TAGS), expected);
        assert_eq!(admitted(">=3.11, <3.12 || >=4", TAGS), expected);
    }

    #[test]
    fn a_bare_version_is_exact_not_a_caret() {
        assert_eq!(admitted("3.12.0", TAGS), ["3.12.0", "3.12"]);
        assert_eq!(admitted("^3.12.0", TAGS), ["3.12.0", "3.12", "v3.13.1"]);
    }

    #[test]
    fn hyphen_ranges_wildcards_and_not_equal() {
        assert_eq!(
            admitted("3.11 - 3.12", TAGS),
            ["3.11", "3.11.8", "3.12.0", "3.12"]
        );
        assert_eq!(admitted("3.11.x", TAGS), ["3.11", "3.11.8"]);
        assert_eq!(
            admitted("*", TAGS).len(),
            6,
            "every release, no pre-release"
        );
        assert_eq!(
            admitted(">= 3.11, != 3.12.0", TAGS),
            ["3.11", "3.11.8", "v3.13.1", "4.0.0"]
        );
    }

    #[test]
    fn a_v_prefix_is_accepted_on_both_sides() {
        assert_eq!(admitted(">=v3.13.0", TAGS), ["v3.13.1", "4.0.0"]);
    }

    #[test]
    fn pre_releases_match_only_a_range_naming_one() {
        assert!(!admitted(">= 3.12", TAGS).contains(&"3.14-rc1".to_owned()));
        assert_eq!(admitted(">= 3.14.0-0, < 3.15", TAGS), ["3.14-rc1"]);
    }

    #[test]
    fn malformed_ranges_are_refused() {
        for range in [">= ", ">= one", "3.1 -", "!! 3"] {
            assert!(SemverRange::parse(range).is_err(), "{range}");
        }
        assert_eq!(
            ops(&SemverRange::parse("=> 1, =< 2").unwrap()),
            [Op::GreaterEq, Op::LessEq]
        );
    }

    #[test]
    fn regex_filters_match_anywhere_in_the_tag_as_go_does() {
        let filter = TagFilter::regex("nginx", r"^1\.13\.[12]-alpine-perl$").unwrap();
        let tags = [
            "1.13.1-alpine-perl",
            "1.13.2-alpine-perl",
            "1.13.3-alpine-perl",
            "x1.13.1-alpine-perl",
        ];
        let taken: Vec<_> = tags.iter().filter(|t| filter.admits(t)).collect();
        assert_eq!(taken, [&"1.13.1-alpine-perl", &"1.13.2-alpine-perl"]);
        let unanchored = TagFilter::regex("r", "alpine").unwrap();
        assert!(unanchored.admits("3.20-alpine-slim"));
        assert!(TagFilter::regex("r", "(").is_err());
    }
}

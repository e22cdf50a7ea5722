//! `hoist images --filter …`: docker's image list filters (`daemon/images/images.go`):
//!
//! - `reference=PATTERN` (repeatable, any may match): a shell pattern (Go's `path.Match`:
//!   `*` and `?` stop at `/`, `[…]` classes) matched against the row's familiar `NAME:TAG`
//!   and, failing that, its familiar `NAME` (docker's `reference.FamiliarMatch`);
//! - `dangling=true|false`: only images without any reference, or only images with one;
//! - `before=IMAGE`, `since=IMAGE`: images created before / after the image IMAGE names
//!   (any REF [`resolve_image`] accepts), by the configs' `created` times.
//!
//! Rows pass when every kind of filter given matches, as in docker. A dangling row never
//! matches a `reference` filter.

use std::time::SystemTime;

use crate::store::MetadataStore;

use super::created::parse_rfc3339;
use super::{resolve_image, ImageError, ImageSummary};

/// Parsed `--filter` values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageFilter {
    /// `reference=` patterns.
    pub references: Vec<String>,
    /// `dangling=`.
    pub dangling: Option<bool>,
    /// `before=`: the named image's creation time.
    pub before: Option<SystemTime>,
    /// `since=`: the named image's creation time.
    pub since: Option<SystemTime>,
}

/// Why a `--filter` was refused.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// Not `KEY=VALUE`, or a key docker's `images` does not know.
    #[error("invalid filter {0:?}: expected reference=PATTERN, dangling=true|false, before=IMAGE or since=IMAGE")]
    Unknown(String),
    /// `dangling=` with something other than true/false.
    #[error("invalid filter 'dangling={0}': expected true or false")]
    Dangling(String),
    /// The image of `before=`/`since=` cannot be found or has no creation time.
    #[error("invalid filter {filter:?}: the image has no creation time")]
    NoCreationTime {
        /// The filter as given.
        filter: String,
    },
    /// The image of `before=`/`since=` cannot be resolved.
    #[error("invalid filter {filter:?}")]
    Image {
        /// The filter as given.
        filter: String,
        /// Why.
        #[source]
        source: Box<ImageError>,
    },
}

impl ImageFilter {
    /// Parses `--filter` values; `before`/`since` images are looked up in `meta`.
    pub fn parse(meta: &MetadataStore, filters: &[String]) -> Result<ImageFilter, FilterError> {
        let mut out = ImageFilter::default();
        for filter in filters {
            let Some((key, value)) = filter.split_once('=') else {
                return Err(FilterError::Unknown(filter.clone()));
            };
            match key {
                "reference" => out.references.push(value.to_owned()),
                "dangling" => {
                    out.dangling = Some(match value {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        other => return Err(FilterError::Dangling(other.to_owned())),
                    })
                }
                "before" | "since" => {
                    let created = created_of(meta, value).map_err(|source| FilterError::Image {
                        filter: filter.clone(),
                        source: Box::new(source),
                    })?;
                    let created = created.ok_or_else(|| FilterError::NoCreationTime {
                        filter: filter.clone(),
                    })?;
                    if key == "before" {
                        out.before = Some(created);
                    } else {
                        out.since = Some(created);
                    }
                }
                _ => return Err(FilterError::Unknown(filter.clone())),
            }
        }
        Ok(out)
    }

    /// Whether `row` passes every filter.
    pub fn matches(&self, row: &ImageSummary) -> bool {
        let dangling = row.repository.is_none();
        if self.dangling.is_some_and(|want| want != dangling) {
            return false;
        }
        if !self.references.is_empty() && !self.references.iter().any(|p| matches_pattern(p, row)) {
            return false;
        }
        if let Some(before) = self.before {
            if row.created.is_none_or(|c| c >= before) {
                return false;
            }
        }
        if let Some(since) = self.since {
            if row.created.is_none_or(|c| c <= since) {
                return false;
            }
        }
        true
    }
}

fn created_of(meta: &MetadataStore, input: &str) -> Result<Option<SystemTime>, ImageError> {
    let image = resolve_image(meta, input)?;
    Ok(image.record.created.as_deref().and_then(parse_rfc3339))
}

/// docker's `FamiliarMatch` for one row (see the module docs).
fn matches_pattern(pattern: &str, row: &ImageSummary) -> bool {
    let Some(repository) = &row.repository else {
        return false;
    };
    let name = repository.familiar();
    let full = match &row.tag {
        Some(tag) => format!("{name}:{}", tag.as_str()),
        None => name.clone(),
    };
    glob_match(pattern, &full) || glob_match(pattern, &name)
}

/// Go's `path.Match`: `*` any run of non-`/` characters, `?` one non-`/` character,
/// `[abc]`, `[a-z]`, `[^a]` classes, `\` escapes. A malformed pattern matches nothing.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    glob_at(&p, &t)
}

fn glob_at(p: &[char], t: &[char]) -> bool {
    match p.first() {
        None => t.is_empty(),
        Some('*') => {
            let rest = &p[1..];
            let mut i = 0;
            loop {
                if glob_at(rest, &t[i..]) {
                    return true;
                }
                if i >= t.len() || t[i] == '/' {
                    return false;
                }
                i += 1;
            }
        }
        Some('?') => t.first().is_some_and(|c| *c != '/') && glob_at(&p[1..], &t[1..]),
        Some('[') => {
            let Some(c) = t.first() else { return false };
            match class_match(&p[1..], *c) {
                Some((true, used)) => glob_at(&p[1 + used..], &t[1..]),
                _ => false,
            }
        }
        Some('\\') => match (p.get(1), t.first()) {
            (Some(a), Some(b)) if a == b => glob_at(&p[2..], &t[1..]),
            _ => false,
        },
        Some(c) => t.first() == Some(c) && glob_at(&p[1..], &t[1..]),
    }
}

/// Matches `c` against the class starting after `[`; returns whether it matched and how many
/// pattern characters the class used (through `]`), `None` when the class is not closed.
fn class_match(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 0;
    let negated = p.first() == Some(&'^');
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return Some((matched != negated, i + 1));
        }
        first = false;
        let lo = p[i];
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|h| *h != ']') {
            let hi = p[i + 2];
            matched |= lo <= c && c <= hi;
            i += 3;
        } else {
            matched |= lo == c;
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_stops_at_slashes_as_path_match_does() {
        assert!(glob_match("team/*", "team/app"));
        assert!(!glob_match("*", "team/app"));
        assert!(glob_match("*/*", "team/app"));
        assert!(glob_match("ubuntu:2*", "ubuntu:22.04"));
        assert!(!glob_match("ubuntu:2*", "ubuntu:18.04"));
    }

    #[test]
    fn classes_and_question_marks() {
        assert!(glob_match("app:v[0-9]", "app:v3"));
        assert!(!glob_match("app:v[^0-9]", "app:v3"));
        assert!(glob_match("ap?", "app"));
        assert!(!glob_match("app:[", "app:["));
    }
}

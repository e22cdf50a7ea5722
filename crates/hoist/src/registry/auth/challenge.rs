//! `WWW-Authenticate` parsing (RFC 7235 §4.1): one header may carry several challenges, each a
//! scheme followed by `name=value` parameters, values being tokens or quoted strings with
//! backslash escapes; several headers may be present.
//!
//! Corresponds to docker/distribution's `registry/client/auth/challenge` (`ResponseChallenges`)
//! and containerd's `remotes/docker/auth/parse.go`. Scheme and parameter names are
//! case-insensitive and stored lowercase; values keep their case.
//!
//! The parser never fails: malformed input yields the challenges that could be read.

use std::collections::BTreeMap;

/// One authentication challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme, lowercase (`bearer`, `basic`).
    pub scheme: String,
    /// Parameters by lowercase name (`realm`, `service`, `scope`, `error`).
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    /// A parameter by (lowercase) name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// Whether this is a Bearer challenge.
    pub fn is_bearer(&self) -> bool {
        self.scheme == "bearer"
    }

    /// Whether this is a Basic challenge.
    pub fn is_basic(&self) -> bool {
        self.scheme == "basic"
    }
}

/// Parses every challenge of every given header value, in order.
pub fn parse_challenges<'a>(headers: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    headers.into_iter().flat_map(parse_header).collect()
}

/// Parses one header value.
pub fn parse_header(value: &str) -> Vec<Challenge> {
    let mut p = Parser {
        s: value.as_bytes(),
        i: 0,
    };
    let mut out = Vec::new();
    loop {
        p.skip_separators();
        let scheme = p.token();
        if scheme.is_empty() {
            if p.i >= p.s.len() {
                break;
            }
            // A stray character where a scheme should start: skip it.
            p.i += 1;
            continue;
        }
        let mut challenge = Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params: BTreeMap::new(),
        };
        p.params(&mut challenge.params);
        out.push(challenge);
    }
    out
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn skip_separators(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }

    /// An RFC 7230 token (also accepting `/` so token68-ish values survive).
    fn token(&mut self) -> String {
        let start = self.i;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~/:".contains(&c) {
                self.i += 1;
            } else {
                break;
            }
        }
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    fn quoted(&mut self) -> String {
        // Called on the opening quote.
        self.i += 1;
        let mut out = Vec::new();
        while let Some(c) = self.peek() {
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    if let Some(n) = self.peek() {
                        out.push(n);
                        self.i += 1;
                    }
                }
                _ => out.push(c),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Reads `name=value` pairs until the next challenge's scheme or the end.
    fn params(&mut self, params: &mut BTreeMap<String, String>) {
        loop {
            self.skip_separators();
            let save = self.i;
            let name = self.token();
            self.skip_spaces();
            if name.is_empty() || self.peek() != Some(b'=') {
                // Not a parameter: either the end, or the next challenge's scheme.
                self.i = save;
                return;
            }
            self.i += 1; // '='
            self.skip_spaces();
            let value = if self.peek() == Some(b'"') {
                self.quoted()
            } else {
                self.token()
            };
            params.insert(name.to_ascii_lowercase(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_hub_bearer_challenge() {
        let c = parse_header(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull""#,
        );
        assert_eq!(c.len(), 1);
        assert!(c[0].is_bearer());
        assert_eq!(c[0].param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c[0].param("service"), Some("registry.docker.io"));
        assert_eq!(c[0].param("scope"), Some("repository:library/ubuntu:pull"));
    }

    #[test]
    fn parses_basic_challenge() {
        let c = parse_header(r#"Basic realm="Registry Realm""#);
        assert!(c[0].is_basic());
        assert_eq!(c[0].param("realm"), Some("Registry Realm"));
    }

    #[test]
    fn parses_several_challenges_in_one_header() {
        let c = parse_header(r#"Basic realm="a, b", Bearer realm="https://t/token", service=reg"#);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].param("realm"), Some("a, b"));
        assert!(c[1].is_bearer());
        assert_eq!(c[1].param("service"), Some("reg"));
    }

    #[test]
    fn parses_several_headers() {
        let c = parse_challenges([r#"Basic realm="x""#, r#"Bearer realm="y""#]);
        assert_eq!(
            c.iter().map(|c| c.scheme.as_str()).collect::<Vec<_>>(),
            ["basic", "bearer"]
        );
    }

    #[test]
    fn scheme_and_names_are_case_insensitive() {
        let c = parse_header(r#"BEARER Realm="R", SERVICE="S""#);
        assert!(c[0].is_bearer());
        assert_eq!(c[0].param("realm"), Some("R"));
        assert_eq!(c[0].param("service"), Some("S"));
    }

    #[test]
    fn unescapes_quoted_pairs() {
        let c = parse_header(r#"Bearer realm="a\"b\\c", scope="x""#);
        assert_eq!(c[0].param("realm"), Some(r#"a"b\c"#));
        assert_eq!(c[0].param("scope"), Some("x"));
    }

    #[test]
    fn scope_with_spaces_and_commas_survives_quoting() {
        let c = parse_header(
            r#"Bearer realm="r",scope="repository:a:pull,push repository:b:pull",error="insufficient_scope""#,
        );
        assert_eq!(
            c[0].param("scope"),
            Some("repository:a:pull,push repository:b:pull")
        );
        assert_eq!(c[0].param("error"), Some("insufficient_scope"));
    }

    #[test]
    fn tolerates_spaces_around_equals_and_unquoted_values() {
        let c = parse_header("Bearer realm = https://t/token , service = svc");
        assert_eq!(c[0].param("realm"), Some("https://t/token"));
        assert_eq!(c[0].param("service"), Some("svc"));
    }

    #[test]
    fn unterminated_quote_keeps_the_rest() {
        let c = parse_header(r#"Bearer realm="https://t/token"#);
        assert_eq!(c[0].param("realm"), Some("https://t/token"));
    }

    #[test]
    fn empty_and_garbage_headers_yield_nothing_or_partial() {
        assert!(parse_header("").is_empty());
        assert!(parse_header(" , ,").is_empty());
        let c = parse_header("Bearer");
        assert_eq!(c.len(), 1);
        assert!(c[0].params.is_empty());
    }

    #[test]
    fn scheme_without_params_followed_by_another() {
        let c = parse_header(r#"Negotiate, Bearer realm="r""#);
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].param("realm"), Some("r"));
    }
}

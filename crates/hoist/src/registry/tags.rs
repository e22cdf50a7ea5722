//! Listing: tags of a repository (`GET /v2/NAME/tags/list`) and the registry's catalog
//! (`GET /v2/_catalog`), both paginated with `?n=` and the `Link: <URL>; rel="next"` header.
//!
//! Corresponds to docker/distribution's `tags.All` and `registry.Repositories` (whose
//! `getNextLink` parses the `Link` header), and the OCI distribution spec's "Listing Tags".
//! Pages are followed until no `Link` remains; a `Link` that leaves the endpoint's origin is
//! refused (credentials would follow it). A page is capped at [`Document::Listing`]'s size.
//! The referrers API (`referrers`) pages the same way, through the same page reader.
//!
//! Each page of a listing is retried on its own ([`LISTING_RETRY`], the one
//! [`RetryPolicy`]): a registry that rate-limits (429 with `Retry-After`, as Docker Hub does
//! for tag lists) or drops a connection mid-listing slows the listing down rather than
//! failing it, and pages already read are not asked for again.

use std::time::Duration;

use http::{Method, StatusCode};
use serde::Deserialize;
use url::Url;

use super::body::{read_document, Document};
use super::endpoint::{Endpoint, Purpose};
use super::error::RegistryError;
use super::transport::{read_error, Outgoing};
use super::{Access, RegistryClient, RemoteRepository, ScopeSet};
use crate::transfer::{Backoff, RetryPolicy};

/// One page of a listing: 5 attempts, 500 ms × attempts between them, or as long as the
/// registry's `Retry-After` asks, up to a minute.
pub const LISTING_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 5,
    backoff: Backoff::Linear {
        step: Duration::from_millis(500),
    },
    max_retry_after: Duration::from_secs(60),
};

/// A page of `tags/list`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TagList {
    /// The repository name as the registry spells it.
    #[serde(default)]
    pub name: String,
    /// The tags (`null` from some registries is read as empty).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub tags: Vec<String>,
}

/// A page of `_catalog`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Catalog {
    /// Repository names.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub repositories: Vec<String>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

impl RemoteRepository {
    /// Every tag of the repository, following pagination; `page_size` sets `?n=`.
    pub async fn tags(&self, page_size: Option<usize>) -> Result<Vec<String>, RegistryError> {
        let scopes = self.scopes(Access::Pull);
        self.client
            .with_endpoints(&self.domain, Purpose::Pull, |ep| {
                let scopes = scopes.clone();
                async move {
                    let first = first_page(&ep, &format!("{}/tags/list", self.path), page_size)?;
                    let pages: Vec<TagList> = all_pages(&self.client, &ep, &scopes, first).await?;
                    Ok(pages.into_iter().flat_map(|p| p.tags).collect())
                }
            })
            .await
    }
}

impl RegistryClient {
    /// Every repository in the registry `domain`'s catalog (the registry itself, not its
    /// mirrors), following pagination; `page_size` sets `?n=`.
    pub async fn catalog(
        &self,
        domain: &str,
        page_size: Option<usize>,
    ) -> Result<Vec<String>, RegistryError> {
        let scopes = ScopeSet::catalog();
        self.with_endpoints(domain, Purpose::Push, |ep| {
            let scopes = scopes.clone();
            async move {
                let first = first_page(&ep, "_catalog", page_size)?;
                let pages: Vec<Catalog> = all_pages(self, &ep, &scopes, first).await?;
                Ok(pages.into_iter().flat_map(|p| p.repositories).collect())
            }
        })
        .await
    }
}

fn first_page(ep: &Endpoint, path: &str, page_size: Option<usize>) -> Result<Url, RegistryError> {
    let mut url = ep.api_url(path)?;
    if let Some(n) = page_size {
        url.query_pairs_mut().append_pair("n", &n.to_string());
    }
    Ok(url)
}

async fn all_pages<T: serde::de::DeserializeOwned>(
    client: &RegistryClient,
    ep: &Endpoint,
    scopes: &ScopeSet,
    first: Url,
) -> Result<Vec<T>, RegistryError> {
    let mut pages = Vec::new();
    let mut next = Some(first);
    while let Some(url) = next.take() {
        let page = LISTING_RETRY
            .run("listing page", || {
                fetch_page(client, ep, scopes, &url, None)
            })
            .await?;
        let parsed: T =
            serde_json::from_slice(&page.body).map_err(|e| RegistryError::Protocol {
                url: url.to_string(),
                reason: format!("listing is not valid JSON: {e}"),
            })?;
        pages.push(parsed);
        next = page.next;
    }
    Ok(pages)
}

/// One page of a paginated listing (tags, catalog, referrers).
pub(crate) struct Page {
    /// The answer's headers.
    pub headers: http::HeaderMap,
    /// The body, at most [`Document::Listing`]'s cap.
    pub body: Vec<u8>,
    /// The next page from the `Link` header, on the same origin.
    pub next: Option<Url>,
}

/// `GET url` (with `accept` when given); anything but 200 is the registry's error. The next
/// page's URL is resolved against `url` and must stay on its origin and differ from it.
pub(crate) async fn fetch_page(
    client: &RegistryClient,
    ep: &Endpoint,
    scopes: &ScopeSet,
    url: &Url,
    accept: Option<http::HeaderValue>,
) -> Result<Page, RegistryError> {
    let mut out =
        Outgoing::new(Method::GET, url.clone()).with_deadline(client.config().document_timeout);
    if let Some(accept) = accept {
        out = out.header(http::header::ACCEPT, accept);
    }
    let response = client.send(ep, scopes, out).await?;
    if response.status() != StatusCode::OK {
        return Err(read_error(&Method::GET, url, response).await);
    }
    let headers = response.headers().clone();
    let link = headers
        .get_all(http::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(parse_next_link);
    let body = read_document(&Method::GET, url, response, Document::Listing).await?;
    let next = match link {
        Some(link) => Some(next_page_url(url, &link)?),
        None => None,
    };
    Ok(Page {
        headers,
        body,
        next,
    })
}

/// The page `link` names, relative to `url`: refused when it leaves the origin (credentials
/// would follow it) or points back to the same page.
fn next_page_url(url: &Url, link: &str) -> Result<Url, RegistryError> {
    let target = url.join(link).map_err(|e| RegistryError::Url {
        url: link.to_owned(),
        reason: e.to_string(),
    })?;
    if target.origin() != url.origin() {
        return Err(RegistryError::Protocol {
            url: url.to_string(),
            reason: format!("Link to another origin refused: {target}"),
        });
    }
    if target == *url {
        return Err(RegistryError::Protocol {
            url: url.to_string(),
            reason: "Link points to the same page".into(),
        });
    }
    Ok(target)
}

/// The target of the `rel="next"` entry of a `Link` header value (RFC 8288), if any.
/// Several comma-separated links may appear; `rel` may be quoted or not, and may list
/// several relation types.
pub fn parse_next_link(value: &str) -> Option<String> {
    let mut rest = value;
    loop {
        let start = rest.find('<')?;
        let end = start + rest[start..].find('>')?;
        let target = &rest[start + 1..end];
        let after = &rest[end + 1..];
        let params_end = after.find('<').unwrap_or(after.len());
        let params = &after[..params_end];
        let is_next = params.split(';').any(|p| {
            let Some((name, v)) = p.split_once('=') else {
                return false;
            };
            name.trim().eq_ignore_ascii_case("rel")
                && v.trim()
                    .trim_matches('"')
                    .split_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target.trim().to_string());
        }
        rest = &after[params_end..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn link_parser_never_panics(s in "\\PC*") {
            let _ = parse_next_link(&s);
        }
    }

    #[test]
    fn parses_distribution_link() {
        assert_eq!(
            parse_next_link(r#"</v2/_catalog?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/_catalog?last=b&n=2")
        );
    }

    #[test]
    fn parses_unquoted_rel_and_spacing() {
        assert_eq!(
            parse_next_link("< /v2/x/tags/list?n=1&last=a >;rel=next").as_deref(),
            Some("/v2/x/tags/list?n=1&last=a")
        );
    }

    #[test]
    fn finds_next_among_several_links() {
        let v = r#"<https://r/v2/a?p=1>; rel="prev", <https://r/v2/a?p=3>; rel="next""#;
        assert_eq!(parse_next_link(v).as_deref(), Some("https://r/v2/a?p=3"));
    }

    #[test]
    fn rel_with_several_types() {
        assert_eq!(
            parse_next_link(r#"</n>; rel="last next""#).as_deref(),
            Some("/n")
        );
    }

    #[test]
    fn no_next_link() {
        assert_eq!(parse_next_link(r#"</p>; rel="prev""#), None);
        assert_eq!(parse_next_link("garbage"), None);
        assert_eq!(parse_next_link(""), None);
    }

    #[test]
    fn null_tags_read_as_empty() {
        let t: TagList = serde_json::from_str(r#"{"name":"x","tags":null}"#).unwrap();
        assert!(t.tags.is_empty());
    }
}

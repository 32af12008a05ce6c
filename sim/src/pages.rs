//! Pagination as Canvas does it (shared/CANVAS.md, Pagination).
//!
//! `per_page` defaults to 10 and is clamped to 1..100; a page past the end
//! is an empty list. The `Link` header lists `current`, `next`, `prev`,
//! `first` and `last` (only those that apply; no `last` where Canvas does
//! not count), separated by a comma without a space. Each URL repeats the
//! request's query minus `page`, `per_page` and credentials, then
//! `page=N&per_page=M`, under the path the handler gives: always with
//! numeric ids, even for a list requested by a SIS id. Bookmark lists
//! (course enrollments, page views) use `page=first` and
//! `page=bookmark:<opaque>` and have no `last`. Wrapped lists
//! (`{"enrollment_terms":[...]}`) page like the others.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::params::Params;

/// `per_page` when the request names none.
pub(crate) const DEFAULT_PER_PAGE: usize = 10;
/// The largest `per_page` Canvas honours.
pub(crate) const MAX_PER_PAGE: usize = 100;

/// Parameters a link never repeats.
const NOT_REPEATED: &[&str] = &["page", "per_page", "access_token", "api_key"];

/// Where `Link` URLs point: an origin (`http://127.0.0.1:4000`), or none
/// for relative links (`/api/v1/...`).
#[derive(Debug, Clone)]
pub(crate) struct Links {
    origin: String,
}

impl Links {
    /// Absolute links under `origin`.
    pub(crate) fn absolute(origin: &str) -> Self {
        Links {
            origin: origin.trim_end_matches('/').to_owned(),
        }
    }

    /// Relative links (a fault some deployments and fixtures show).
    pub(crate) fn relative() -> Self {
        Links {
            origin: String::new(),
        }
    }

    fn url(&self, path: &str, query: &Params, page: &str, per_page: usize) -> String {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        ser.extend_pairs(
            query
                .pairs()
                .iter()
                .filter(|(k, _)| !NOT_REPEATED.contains(&k.as_str())),
        );
        ser.append_pair("page", page);
        ser.append_pair("per_page", &per_page.to_string());
        format!("<{}{path}?{}>", self.origin, ser.finish())
    }
}

/// One page of a list and its `Link` header.
pub(crate) struct Page<'a, T> {
    pub(crate) items: &'a [T],
    pub(crate) headers: HeaderMap,
}

impl<T> Page<'_, T> {
    /// The page as a JSON array, each item rendered by `render`.
    pub(crate) fn json(self, render: impl Fn(&T) -> Value) -> Response {
        let body: Vec<Value> = self.items.iter().map(render).collect();
        (self.headers, Json(body)).into_response()
    }

    /// The page wrapped in an object under `key`, as Canvas sends terms and
    /// SIS imports.
    pub(crate) fn wrapped(self, key: &str, render: impl Fn(&T) -> Value) -> Response {
        let body: Vec<Value> = self.items.iter().map(render).collect();
        (self.headers, Json(json!({ key: body }))).into_response()
    }
}

fn per_page(query: &Params) -> usize {
    query
        .value("per_page")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(DEFAULT_PER_PAGE)
        .clamp(1, MAX_PER_PAGE)
}

fn link_header(rels: &[(String, &str)]) -> HeaderMap {
    let text = rels
        .iter()
        .map(|(url, rel)| format!("{url}; rel=\"{rel}\""))
        .collect::<Vec<_>>()
        .join(",");
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&text) {
        headers.insert("link", v);
    }
    headers
}

/// The numbered page of `items` the query asks for; `with_last: false`
/// leaves out `last`, as Canvas does where counting is expensive.
pub(crate) fn numbered<'a, T>(
    links: &Links,
    path: &str,
    query: &Params,
    items: &'a [T],
    with_last: bool,
) -> Page<'a, T> {
    let per_page = per_page(query);
    let page = query
        .value("page")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let start = (page - 1).saturating_mul(per_page);
    let slice = items
        .get(start..)
        .map(|rest| &rest[..rest.len().min(per_page)])
        .unwrap_or(&[]);
    let last = items.len().div_ceil(per_page).max(1);
    let to = |n: usize| links.url(path, query, &n.to_string(), per_page);
    let mut rels = vec![(to(page), "current")];
    if page < last {
        rels.push((to(page + 1), "next"));
    }
    if page > 1 {
        rels.push((to(page - 1), "prev"));
    }
    rels.push((to(1), "first"));
    if with_last {
        rels.push((to(last), "last"));
    }
    Page {
        items: slice,
        headers: link_header(&rels),
    }
}

/// The bookmark page of `items` (sorted by `key`) the query asks for:
/// `page=first` (or none) starts, `page=bookmark:<opaque>` continues after
/// the item it names. Links are current, next and first.
pub(crate) fn bookmarked<'a, T>(
    links: &Links,
    path: &str,
    query: &Params,
    items: &'a [T],
    key: impl Fn(&T) -> u64,
) -> Page<'a, T> {
    let per_page = per_page(query);
    let codec = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let after: Option<u64> = query
        .value("page")
        .and_then(|p| p.strip_prefix("bookmark:"))
        .and_then(|b| codec.decode(b).ok())
        .and_then(|bytes| serde_json::from_slice::<Vec<u64>>(&bytes).ok())
        .and_then(|v| v.first().copied());
    let start = after
        .map_or(0, |a| items.partition_point(|i| key(i) <= a))
        .min(items.len());
    let slice = &items[start..(start + per_page).min(items.len())];
    let bookmark = |id: u64| format!("bookmark:{}", codec.encode(format!("[{id}]")));
    let current = after.map_or_else(|| "first".to_owned(), bookmark);
    let to = |page: &str| links.url(path, query, page, per_page);
    let mut rels = vec![(to(&current), "current")];
    if start + per_page < items.len()
        && let Some(last) = slice.last()
    {
        rels.push((to(&bookmark(key(last))), "next"));
    }
    rels.push((to("first"), "first"));
    Page {
        items: slice,
        headers: link_header(&rels),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(raw: &str) -> Params {
        Params::from_query(Some(raw))
    }

    fn link(page: &Page<'_, u64>) -> String {
        page.headers
            .get("link")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    }

    #[test]
    fn a_middle_page_links_every_relation_in_canvas_s_order() {
        let items: Vec<u64> = (1..=25).collect();
        let links = Links::absolute("http://c.test");
        let page = numbered(
            &links,
            "/api/v1/x",
            &q("per_page=10&page=2&a=1"),
            &items,
            true,
        );
        assert_eq!(page.items, &items[10..20]);
        assert_eq!(
            link(&page),
            "<http://c.test/api/v1/x?a=1&page=2&per_page=10>; rel=\"current\",\
             <http://c.test/api/v1/x?a=1&page=3&per_page=10>; rel=\"next\",\
             <http://c.test/api/v1/x?a=1&page=1&per_page=10>; rel=\"prev\",\
             <http://c.test/api/v1/x?a=1&page=1&per_page=10>; rel=\"first\",\
             <http://c.test/api/v1/x?a=1&page=3&per_page=10>; rel=\"last\""
        );
    }

    #[test]
    fn relative_links_carry_only_the_path_and_query() {
        let items: Vec<u64> = (1..=3).collect();
        let page = numbered(
            &Links::relative(),
            "/api/v1/x",
            &q("per_page=1"),
            &items,
            true,
        );
        assert!(
            link(&page).contains("</api/v1/x?page=2&per_page=1>; rel=\"next\""),
            "{}",
            link(&page)
        );
    }

    #[test]
    fn credentials_are_never_repeated_in_a_link() {
        let items: Vec<u64> = (1..=3).collect();
        let page = numbered(
            &Links::relative(),
            "/x",
            &q("access_token=7~secret&api_key=k&per_page=1"),
            &items,
            true,
        );
        assert!(!link(&page).contains("secret") && !link(&page).contains("api_key"));
    }

    #[test]
    fn a_bookmark_continues_after_the_item_it_names() {
        let items: Vec<u64> = vec![5, 7, 9, 11];
        let links = Links::relative();
        let page = bookmarked(&links, "/x", &q("per_page=2"), &items, |i| *i);
        assert_eq!(page.items, &[5, 7]);
        let header = link(&page);
        let next = header
            .split(',')
            .find(|l| l.ends_with("rel=\"next\""))
            .and_then(|l| l.split("page=").nth(1))
            .and_then(|l| l.split('&').next())
            .unwrap_or("");
        let next = url::form_urlencoded::parse(format!("page={next}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let page = bookmarked(
            &links,
            "/x",
            &q(&format!("per_page=2&page={next}")),
            &items,
            |i| *i,
        );
        assert_eq!(page.items, &[9, 11]);
        assert!(!link(&page).contains("rel=\"next\""), "the end has no next");
        assert!(
            !link(&page).contains("rel=\"last\""),
            "bookmarks have no last"
        );
    }

    #[test]
    fn per_page_is_clamped_and_a_page_past_the_end_is_empty() {
        let items: Vec<u64> = (1..=250).collect();
        let links = Links::relative();
        assert_eq!(
            numbered(&links, "/x", &q("per_page=500"), &items, true)
                .items
                .len(),
            100
        );
        assert_eq!(
            numbered(&links, "/x", &q("per_page=0"), &items, true)
                .items
                .len(),
            1
        );
        assert_eq!(numbered(&links, "/x", &q(""), &items, true).items.len(), 10);
        assert!(
            numbered(&links, "/x", &q("page=99"), &items, true)
                .items
                .is_empty()
        );
    }
}

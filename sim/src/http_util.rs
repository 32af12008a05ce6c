//! Canvas's response conventions: error bodies, pagination and Link headers.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

/// Query pairs in order, repeated keys kept (`state[]=a&state[]=b`).
pub(crate) fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// All values of a parameter (with or without `[]`).
pub(crate) fn values<'a>(q: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    let bracket = format!("{name}[]");
    q.iter()
        .filter(|(k, _)| k == name || *k == bracket)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The first value of a parameter.
pub(crate) fn value<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    values(q, name).into_iter().next()
}

/// 404 with Canvas's body.
pub(crate) fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"errors":[{"message":"The specified resource does not exist."}]})),
    )
        .into_response()
}

/// 401 for an invalid or unknown token.
pub(crate) fn invalid_token() -> Response {
    let mut r = (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"errors":[{"message":"Invalid access token."}]})),
    )
        .into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"canvas-lms\""),
    );
    r
}

/// 401 when no credentials were sent.
pub(crate) fn unauthenticated() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"status":"unauthenticated","errors":[{"message":"user authorization required"}]})),
    )
        .into_response()
}

/// 403 for a caller without permission.
pub(crate) fn unauthorized() -> Response {
    (
        StatusCode::FORBIDDEN,
        axum::Json(json!({"status":"unauthorized","errors":[{"message":"user not authorized to perform that action"}]})),
    )
        .into_response()
}

/// 400 with Canvas's attribute-error shape.
pub(crate) fn bad_request(attribute: &str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"errors":{attribute:[{"attribute":attribute,"type":"invalid","message":message}]}})),
    )
        .into_response()
}

/// One page of `items` with Canvas's `Link` header.
pub(crate) fn paginate<T: Serialize>(
    base_url: &str,
    path: &str,
    query: &[(String, String)],
    items: &[T],
) -> Response {
    let (headers, slice) = page_of(base_url, path, query, items);
    (headers, axum::Json(slice)).into_response()
}

/// The page of `items` the query asks for, and its `Link` header.
pub(crate) fn page_of<'a, T>(
    base_url: &str,
    path: &str,
    query: &[(String, String)],
    items: &'a [T],
) -> (HeaderMap, &'a [T]) {
    page_of_with(base_url, path, query, items, true)
}

/// One page without a `last` link (Canvas omits it where counting is
/// expensive, e.g. recursive sub-accounts).
pub(crate) fn paginate_without_last<T: Serialize>(
    base_url: &str,
    path: &str,
    query: &[(String, String)],
    items: &[T],
) -> Response {
    let (headers, slice) = page_of_with(base_url, path, query, items, false);
    (headers, axum::Json(slice)).into_response()
}

fn page_of_with<'a, T>(
    base_url: &str,
    path: &str,
    query: &[(String, String)],
    items: &'a [T],
    with_last: bool,
) -> (HeaderMap, &'a [T]) {
    let per_page = value(query, "per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(10)
        .clamp(1, 100);
    let page = value(query, "page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let start = (page - 1).saturating_mul(per_page);
    let slice: &'a [T] = items
        .get(start..)
        .map(|rest| &rest[..rest.len().min(per_page)])
        .unwrap_or(&[]);
    let last = items.len().div_ceil(per_page).max(1);
    let kept: Vec<(String, String)> = query
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "page" | "per_page" | "access_token"))
        .cloned()
        .collect();
    let link_to = |n: usize| {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        ser.extend_pairs(&kept);
        ser.append_pair("page", &n.to_string());
        ser.append_pair("per_page", &per_page.to_string());
        format!("<{base_url}{path}?{}>", ser.finish())
    };
    let mut rels = vec![format!("{}; rel=\"current\"", link_to(page))];
    if page < last {
        rels.push(format!("{}; rel=\"next\"", link_to(page + 1)));
    }
    if page > 1 {
        rels.push(format!("{}; rel=\"prev\"", link_to(page - 1)));
    }
    rels.push(format!("{}; rel=\"first\"", link_to(1)));
    if with_last {
        rels.push(format!("{}; rel=\"last\"", link_to(last)));
    }
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&rels.join(",")) {
        headers.insert("link", v);
    }
    (headers, slice)
}

/// Bookmark pagination (e.g. course enrollments): `page=first` or
/// `page=bookmark:<opaque>`, links current, next, first; never last.
/// `key` gives each item's position (its id); items must be sorted by it.
pub(crate) fn paginate_bookmark<T: Serialize>(
    base_url: &str,
    path: &str,
    query: &[(String, String)],
    items: &[T],
    key: impl Fn(&T) -> u64,
) -> Response {
    let per_page = value(query, "per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(10)
        .clamp(1, 100);
    let after: Option<u64> = value(query, "page")
        .and_then(|p| p.strip_prefix("bookmark:"))
        .and_then(|b| {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(b)
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice::<Vec<u64>>(&bytes).ok())
        .and_then(|v| v.first().copied());
    let start = after.map_or(0, |a| items.partition_point(|i| key(i) <= a));
    let slice = &items[start.min(items.len())..(start + per_page).min(items.len())];
    let kept: Vec<(String, String)> = query
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "page" | "per_page" | "access_token"))
        .cloned()
        .collect();
    let link_to = |page: &str| {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        ser.extend_pairs(&kept);
        ser.append_pair("page", page);
        ser.append_pair("per_page", &per_page.to_string());
        format!("<{base_url}{path}?{}>", ser.finish())
    };
    let bookmark = |id: u64| {
        use base64::Engine as _;
        format!(
            "bookmark:{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("[{id}]"))
        )
    };
    let current = after.map_or_else(|| "first".to_owned(), bookmark);
    let mut rels = vec![format!("{}; rel=\"current\"", link_to(&current))];
    if start + per_page < items.len()
        && let Some(last) = slice.last()
    {
        rels.push(format!("{}; rel=\"next\"", link_to(&bookmark(key(last)))));
    }
    rels.push(format!("{}; rel=\"first\"", link_to("first")));
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&rels.join(",")) {
        headers.insert("link", v);
    }
    (headers, axum::Json(slice)).into_response()
}

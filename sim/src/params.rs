//! Request parameters as Rails sees them: one set merged from the query
//! string and the body (form-encoded, JSON or multipart), with nested
//! names flattened to Rails's `a[b][c]` and `a[]` forms, so a handler asks
//! for `course[name]` or `course_ids[]` however the client sent it
//! (shared/CANVAS.md, "Request parameters").
//!
//! Two extractors: [`Query`] (the query string, for reads) and [`Body`]
//! (query and body merged, for writes; it also keeps the raw body for
//! endpoints that take a file). A body that cannot be parsed is Canvas's
//! 400, in JSON.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde_json::Value;

use crate::error::ApiError;

/// Ordered (name, value) pairs; repeated names kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// The pairs of a query string.
    pub(crate) fn from_query(raw: Option<&str>) -> Self {
        Self::from_form(raw.unwrap_or("").as_bytes())
    }

    /// The pairs of a form-encoded body.
    pub(crate) fn from_form(body: &[u8]) -> Self {
        Params(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The parameters a body carries, by its content type.
    pub(crate) fn from_body(content_type: &str, body: &[u8]) -> Result<Self, ApiError> {
        let media = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if media == "application/json" || media.ends_with("+json") {
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(Params::default());
            }
            let v: Value = serde_json::from_slice(body).map_err(|_| ApiError::BadRequest)?;
            let mut out = Vec::new();
            flatten(None, &v, &mut out);
            return Ok(Params(out));
        }
        if media == "multipart/form-data" {
            let fields = multipart(content_type, body)
                .into_iter()
                .filter(|p| p.filename.is_none())
                .map(|p| (p.name, String::from_utf8_lossy(&p.data).into_owned()))
                .collect();
            return Ok(Params(fields));
        }
        if media.is_empty() || media == "application/x-www-form-urlencoded" {
            return Ok(Self::from_form(body));
        }
        // Any other body (text/csv, a zip) is a file, not parameters.
        Ok(Params::default())
    }

    /// `self` with `later`'s pairs added; as in Rails, a scalar name in
    /// `later` replaces the same name here, an array (`name[]`) extends it.
    pub(crate) fn merge(mut self, later: Params) -> Self {
        for (k, v) in later.0 {
            if !k.ends_with("[]") {
                self.0.retain(|(existing, _)| *existing != k);
            }
            self.0.push((k, v));
        }
        self
    }

    /// Every pair, in order.
    pub(crate) fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// Every value of `name` (also sent as `name[]`).
    pub(crate) fn values(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| {
                k == name || (k.len() == name.len() + 2 && k.starts_with(name) && k.ends_with("[]"))
            })
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value of `name` (the last, as Rack keeps it).
    pub(crate) fn value(&self, name: &str) -> Option<&str> {
        self.values(name).pop()
    }

    /// The value of `name`, trimmed, if not empty.
    pub(crate) fn text(&self, name: &str) -> Option<&str> {
        self.value(name).map(str::trim).filter(|v| !v.is_empty())
    }

    /// A boolean as Canvas reads one (`true`/`1`/`yes`/`on`, or
    /// `false`/`0`/`no`/`off`); `None` when absent or neither.
    pub(crate) fn flag(&self, name: &str) -> Option<bool> {
        match self.value(name)?.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" | "t" => Some(true),
            "false" | "0" | "no" | "off" | "f" => Some(false),
            _ => None,
        }
    }

    /// The `include[]` values.
    pub(crate) fn includes(&self) -> Vec<&str> {
        self.values("include")
    }

    /// Does `include[]` name `what`?
    pub(crate) fn has_include(&self, what: &str) -> bool {
        self.includes().contains(&what)
    }
}

/// JSON to Rails parameter names: `{"a":{"b":1}}` is `a[b]=1`,
/// `{"ids":[1,2]}` is `ids[]=1&ids[]=2`.
fn flatten(name: Option<String>, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                let key = match &name {
                    Some(p) => format!("{p}[{k}]"),
                    None => k.clone(),
                };
                flatten(Some(key), v, out);
            }
        }
        Value::Array(items) => {
            let key = format!("{}[]", name.unwrap_or_default());
            for item in items {
                flatten(Some(key.clone()), item, out);
            }
        }
        scalar => {
            if let Some(name) = name {
                let text = match scalar {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                out.push((name, text));
            }
        }
    }
}

/// One part of a multipart body.
#[derive(Debug)]
pub(crate) struct Part {
    pub(crate) name: String,
    pub(crate) filename: Option<String>,
    pub(crate) data: Vec<u8>,
}

/// The parts of a `multipart/form-data` body (RFC 7578), enough for the
/// form fields and file uploads Canvas clients send.
pub(crate) fn multipart(content_type: &str, body: &[u8]) -> Vec<Part> {
    let Some(boundary) = content_type
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .next()
        .map(|b| format!("--{}", b.trim_matches('"')))
    else {
        return Vec::new();
    };
    let mut parts = Vec::new();
    for chunk in split_bytes(body, boundary.as_bytes()).into_iter().skip(1) {
        if chunk.starts_with(b"--") {
            break;
        }
        let chunk = chunk.strip_prefix(b"\r\n").unwrap_or(chunk);
        let Some(split) = find(chunk, b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&chunk[..split]);
        let data = &chunk[split + 4..];
        let data = data.strip_suffix(b"\r\n").unwrap_or(data);
        let disposition = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))
            .unwrap_or("");
        let attr = |key: &str| {
            disposition.split(';').find_map(|p| {
                p.trim()
                    .strip_prefix(key)
                    .and_then(|v| v.strip_prefix('='))
                    .map(|v| v.trim_matches('"').to_owned())
            })
        };
        parts.push(Part {
            name: attr("name").unwrap_or_default(),
            filename: attr("filename"),
            data: data.to_vec(),
        });
    }
    parts
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn split_bytes<'a>(mut hay: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    while let Some(at) = find(hay, sep) {
        out.push(&hay[..at]);
        hay = &hay[at + sep.len()..];
    }
    out.push(hay);
    out
}

/// The query string's parameters.
pub(crate) struct Query(pub(crate) Params);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Query(Params::from_query(parts.uri.query())))
    }
}

/// The query and body parameters merged, and the raw body.
pub(crate) struct Body {
    pub(crate) params: Params,
    pub(crate) raw: Bytes,
    pub(crate) content_type: String,
}

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let query = Params::from_query(req.uri().query());
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let raw = Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::BadRequest)?;
        let params = query.merge(Params::from_body(&content_type, &raw)?);
        Ok(Body {
            params,
            raw,
            content_type,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Params {
        Params(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn a_json_body_reads_as_the_same_parameters_as_a_form() {
        let json = Params::from_body(
            "application/json; charset=utf-8",
            br#"{"course":{"name":"Art","event":"offer"},"course_ids":[1,"2"],"offer":true,"x":null}"#,
        )
        .unwrap_or_default();
        let form = Params::from_body(
            "application/x-www-form-urlencoded",
            b"course%5Bname%5D=Art&course[event]=offer&course_ids[]=1&course_ids[]=2&offer=true&x=",
        )
        .unwrap_or_default();
        for name in ["course[name]", "course[event]", "offer", "x"] {
            assert_eq!(json.value(name), form.value(name), "{name}");
        }
        assert_eq!(json.values("course_ids"), ["1", "2"]);
        assert_eq!(form.values("course_ids"), ["1", "2"]);
        assert_eq!(json.flag("offer"), Some(true));
    }

    #[test]
    fn a_malformed_json_body_is_a_bad_request() {
        assert!(matches!(
            Params::from_body("application/json", b"{\"course\":"),
            Err(ApiError::BadRequest)
        ));
        assert_eq!(
            Params::from_body("application/json", b"  ").ok(),
            Some(Params::default()),
            "an empty JSON body has no parameters"
        );
    }

    #[test]
    fn body_scalars_replace_query_scalars_and_arrays_accumulate() {
        let merged = p(&[("event", "offer"), ("ids[]", "1")])
            .merge(p(&[("event", "conclude"), ("ids[]", "2")]));
        assert_eq!(merged.value("event"), Some("conclude"));
        assert_eq!(merged.values("event"), ["conclude"]);
        assert_eq!(merged.values("ids"), ["1", "2"]);
    }

    #[test]
    fn a_name_is_not_confused_with_a_longer_one() {
        let q = p(&[("state[]", "active"), ("statex", "1"), ("state_x[]", "2")]);
        assert_eq!(q.values("state"), ["active"]);
    }

    #[test]
    fn multipart_fields_are_parameters_and_files_are_not() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"import_type\"\r\n\r\ninstructure_csv\r\n--XyZ\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"u.csv\"\r\nContent-Type: text/csv\r\n\r\nuser_id,login_id\r\nU1,u1\r\n\r\n--XyZ--\r\n";
        let ct = "multipart/form-data; boundary=XyZ";
        let params = Params::from_body(ct, body).unwrap_or_default();
        assert_eq!(
            params.pairs(),
            p(&[("import_type", "instructure_csv")]).pairs()
        );
        let parts = multipart(ct, body);
        assert_eq!(parts[1].filename.as_deref(), Some("u.csv"));
        assert_eq!(parts[1].data, b"user_id,login_id\r\nU1,u1\r\n");
    }
}

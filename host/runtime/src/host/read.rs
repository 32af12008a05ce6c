//! `easel:canvas/read`: GET one object, or stream a list page by page.
//!
//! Threat: a list used to wander. The host keeps the `next` link; the guest
//! only says "next". Each page counts as a call and is re-decided, and a
//! `next` link must stay on the list's own path and origin.

use easel_policy::{Method, ObjectKey, ObjectKind, Operation};
use wasmtime::component::Resource;

use crate::bindings::easel::canvas::read::{Host, HostPages};
use crate::bindings::easel::canvas::types::{CanvasError, Denial};
use crate::state::RunState;

/// A list being streamed: the authorized operation and where it stands.
pub struct PageStream {
    op: Operation,
    next: Option<String>,
    started: bool,
    /// For a wrapped list: the key of the array in each page's object.
    key: Option<String>,
}

impl Host for RunState {
    async fn get(
        &mut self,
        path: String,
        query: Vec<(String, String)>,
    ) -> wasmtime::Result<Result<String, CanvasError>> {
        let mark = self.mark();
        let mut op = match self.operation(Method::Get, &path, query, None) {
            Ok(op) => op,
            Err(e) => return Ok(Err(e)),
        };
        if let Err(e) = self.authorize(&mut op).await {
            return Ok(Err(e));
        }
        let result = self.send(&op, None, false).await.map(|(body, _)| body);
        if let Ok(body) = &result {
            self.learn(&op, body);
        }
        self.record_overhead(mark);
        Ok(result)
    }

    async fn list(
        &mut self,
        path: String,
        query: Vec<(String, String)>,
    ) -> wasmtime::Result<Result<Resource<PageStream>, CanvasError>> {
        let op = match self.operation(Method::Get, &path, query, None) {
            Ok(op) => op,
            Err(e) => return Ok(Err(e)),
        };
        let stream = PageStream {
            op,
            next: None,
            started: false,
            key: None,
        };
        Ok(Ok(self.table.push(stream)?))
    }

    async fn list_wrapped(
        &mut self,
        path: String,
        query: Vec<(String, String)>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<PageStream>, CanvasError>> {
        let plain = !key.is_empty()
            && key.len() <= 64
            && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
        if !plain {
            return Ok(Err(CanvasError::Invalid(
                "a wrapped list's key is a plain name such as enrollment_terms".into(),
            )));
        }
        let op = match self.operation(Method::Get, &path, query, None) {
            Ok(op) => op,
            Err(e) => return Ok(Err(e)),
        };
        let stream = PageStream {
            op,
            next: None,
            started: false,
            key: Some(key),
        };
        Ok(Ok(self.table.push(stream)?))
    }
}

impl RunState {
    /// Let the directory learn from Canvas's answer to an allowed read.
    fn learn(&mut self, op: &Operation, body: &str) {
        let masqueraded = !matches!(op.masquerade, easel_policy::Masquerade::None);
        self.directory
            .learn_courses(op.path.resource_segments(), masqueraded, body);
    }
}

impl HostPages for RunState {
    async fn next(
        &mut self,
        this: Resource<PageStream>,
    ) -> wasmtime::Result<Result<Option<String>, CanvasError>> {
        let mark = self.mark();
        let stream = self.table.get_mut(&this)?;
        if stream.started && stream.next.is_none() {
            return Ok(Ok(None));
        }
        let mut op = stream.op.clone();
        let next = stream.next.take();
        let first = !stream.started;
        stream.started = true;
        if let Some(url) = next.as_deref() {
            // Canvas's next link names by number an object the list's path
            // named by SIS id; the host placed it, so it knows the number.
            let paths = [Some(op.path.as_string()), self.numeric_path(&op)];
            let paths: Vec<&str> = paths.iter().flatten().map(String::as_str).collect();
            if let Some(why) = unfollowable(url, &paths) {
                return Ok(Err(CanvasError::Denied(Denial {
                    rule: "pagination".into(),
                    reason: format!("Canvas's next link {url} {why}; not followed"),
                })));
            }
        }
        if let Err(e) = self.authorize(&mut op).await {
            return Ok(Err(e));
        }
        let result = match &next {
            None if first => self.send(&op, None, true).await,
            Some(url) => self.follow(url).await,
            None => return Ok(Ok(None)),
        };
        self.record_overhead(mark);
        match result {
            Ok((body, next)) => {
                self.learn(&op, &body);
                let stream = self.table.get_mut(&this)?;
                stream.next = next;
                match &stream.key {
                    None => Ok(Ok(Some(body))),
                    Some(key) => Ok(unwrap_page(&body, key).map(Some)),
                }
            }
            Err(e) => Ok(Err(e)),
        }
    }

    async fn drop(&mut self, this: Resource<PageStream>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl RunState {
    /// The list's path with each object it names by SIS id named by the
    /// number the host's placement found for it; `None` if it names none.
    fn numeric_path(&self, op: &Operation) -> Option<String> {
        let template = op
            .endpoint
            .template
            .trim_start_matches("/api/v1/")
            .split('/');
        let mut changed = false;
        let mut out = Vec::new();
        for (t, seg) in template.zip(op.path.resource_segments()) {
            let kind = match t {
                ":account" => Some(ObjectKind::Account),
                ":course" => Some(ObjectKind::Course),
                _ => None,
            };
            let key = ObjectKey::parse(&percent_decode(seg));
            match (kind, &key) {
                (Some(kind), ObjectKey::Sis(..)) => {
                    out.push(self.directory.numeric_id(kind, &key)?.to_string());
                    changed = true;
                }
                _ => out.push(seg.clone()),
            }
        }
        changed.then(|| format!("/api/v1/{}", out.join("/")))
    }
}

/// The array under `key` in a wrapped list's page, as JSON text.
fn unwrap_page(body: &str, key: &str) -> Result<String, CanvasError> {
    let missing = || {
        CanvasError::Upstream(crate::bindings::easel::canvas::types::UpstreamError {
            status: 200,
            body: format!("Canvas's page has no {key} list"),
        })
    };
    let mut page: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(body).map_err(|_| missing())?;
    match page.remove(key) {
        Some(items @ serde_json::Value::Array(_)) => Ok(items.to_string()),
        _ => Err(missing()),
    }
}

/// A path segment with its `%XX` escapes decoded (lossy).
fn percent_decode(seg: &str) -> String {
    percent_encoding::percent_decode_str(seg)
        .decode_utf8_lossy()
        .into_owned()
}

/// Why a `next` link may not be followed, if it may not: it must stay on
/// one of the list's paths (the client checks the origin), and its query
/// must pass the same checks as a plugin's and must not masquerade.
fn unfollowable(url: &str, paths: &[&str]) -> Option<String> {
    let Ok(u) = url::Url::parse(url) else {
        return Some("is not a URL".into());
    };
    if !paths.contains(&u.path()) {
        return Some(format!(
            "left {}",
            paths.first().copied().unwrap_or_default()
        ));
    }
    let pairs: Vec<(String, String)> = u.query_pairs().into_owned().collect();
    if let Err(e) = easel_policy::check_query(&pairs) {
        return Some(format!("has a query easel refuses ({e})"));
    }
    if pairs
        .iter()
        .any(|(k, _)| k.to_ascii_lowercase().contains("as_user_id"))
    {
        return Some("would masquerade (as_user_id)".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::unfollowable;

    const PATH: &str = "/api/v1/accounts/2/courses";

    #[test]
    fn a_next_link_on_the_lists_path_is_followed() {
        let next = "https://c.example/api/v1/accounts/2/courses?page=2&per_page=100";
        assert_eq!(unfollowable(next, &[PATH]), None);
    }

    #[test]
    fn a_next_link_elsewhere_or_masquerading_is_not_followed() {
        for next in [
            "https://c.example/api/v1/accounts/3/courses?page=2",
            "https://c.example/api/v1/accounts/2/courses?page=2&as_user_id=1",
            "https://c.example/api/v1/accounts/2/courses?page=2&AS_USER_ID%5B%5D=1",
            "https://c.example/api/v1/accounts/2/courses?page=2&access_token=x",
            "not a url",
        ] {
            assert!(unfollowable(next, &[PATH]).is_some(), "{next}");
        }
    }
}

//! `easel:canvas/read`: GET one object, or stream a list page by page.
//!
//! Threat: a list used to wander. The host keeps the `next` link; the guest
//! only says "next". Each page counts as a call and is re-decided, and a
//! `next` link must stay on the list's own path and origin.

use easel_policy::{Method, Operation};
use wasmtime::component::Resource;

use crate::bindings::easel::canvas::read::{Host, HostPages};
use crate::bindings::easel::canvas::types::{CanvasError, Denial};
use crate::state::RunState;

/// A list being streamed: the authorized operation and where it stands.
pub struct PageStream {
    op: Operation,
    next: Option<String>,
    started: bool,
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
        };
        Ok(Ok(self.table.push(stream)?))
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
        if let Some(url) = next.as_deref()
            && let Some(why) = unfollowable(url, &op.path.as_string())
        {
            return Ok(Err(CanvasError::Denied(Denial {
                rule: "pagination".into(),
                reason: format!("Canvas's next link {why}; not followed"),
            })));
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
                self.table.get_mut(&this)?.next = next;
                Ok(Ok(Some(body)))
            }
            Err(e) => Ok(Err(e)),
        }
    }

    async fn drop(&mut self, this: Resource<PageStream>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

/// Why a `next` link may not be followed, if it may not: it must stay on
/// the list's path (the client checks the origin), and its query must pass
/// the same checks as a plugin's and must not masquerade.
fn unfollowable(url: &str, path: &str) -> Option<String> {
    let Ok(u) = url::Url::parse(url) else {
        return Some("is not a URL".into());
    };
    if u.path() != path {
        return Some(format!("left {path}"));
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
        assert_eq!(unfollowable(next, PATH), None);
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
            assert!(unfollowable(next, PATH).is_some(), "{next}");
        }
    }
}

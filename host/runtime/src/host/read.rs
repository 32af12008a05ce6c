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
        if let Some(url) = next
            .as_deref()
            .filter(|u| !same_path(u, &op.path.as_string()))
        {
            let shown: String = url.chars().take(120).collect();
            return Ok(Err(CanvasError::Denied(Denial {
                rule: "pagination".into(),
                reason: format!("Canvas's next link {shown} left {}; not followed", op.path),
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

/// Does `url`'s path equal `path`? (The origin is checked by the client.)
fn same_path(url: &str, path: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| u.path() == path)
}

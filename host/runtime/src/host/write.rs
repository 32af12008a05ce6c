//! `easel:canvas/write`: POST, PUT, DELETE. Linked only for grants with
//! write access. In a dry run nothing is sent: each write that passes the
//! policy is recorded in the run's plan instead.

use bytes::Bytes;
use easel_policy::Method as PolicyMethod;

use crate::bindings::easel::canvas::types::CanvasError;
use crate::bindings::easel::canvas::write::{Host, Method, Outcome};
use crate::outcome::PlannedWrite;
use crate::state::{RunState, log_line};

impl Host for RunState {
    async fn send(
        &mut self,
        method: Method,
        path: String,
        query: Vec<(String, String)>,
        body: Option<String>,
    ) -> wasmtime::Result<Result<Outcome, CanvasError>> {
        let mark = self.mark();
        let method = match method {
            Method::Post => PolicyMethod::Post,
            Method::Put => PolicyMethod::Put,
            Method::Delete => PolicyMethod::Delete,
        };
        let json = match body
            .as_deref()
            .map(serde_json::from_str::<serde_json::Value>)
            .transpose()
        {
            Ok(v) => v,
            Err(e) => {
                return Ok(Err(CanvasError::Invalid(format!(
                    "request body is not JSON: {e}"
                ))));
            }
        };
        let mut op = match self.operation(method, &path, query, json.as_ref()) {
            Ok(op) => op,
            Err(e) => return Ok(Err(e)),
        };
        if let Err(e) = self.authorize(&mut op).await {
            return Ok(Err(e));
        }
        if self.dry_run {
            let step = self.plan.len() as u32 + 1;
            let objects = op
                .targets
                .iter()
                .map(|t| format!("{} {}", t.object.kind.name(), t.object.key))
                .collect();
            log_line(
                &self.log,
                "[plan]",
                &format!("step {step}: {} {}", op.method.as_str(), op.path),
            );
            self.plan.push(PlannedWrite {
                step,
                method: op.method.as_str().to_owned(),
                path: op.path.as_string(),
                query: op.query.clone(),
                body: json,
                objects,
            });
            return Ok(Ok(Outcome::Planned(step)));
        }
        let bytes = body.map(Bytes::from);
        self.writes += 1;
        let result = self.send(&op, bytes, false).await;
        self.record_overhead(mark);
        Ok(result.map(|(body, _)| Outcome::Sent(body)))
    }
}

//! `easel:canvas/write`: POST, PUT, DELETE. Linked only for grants with
//! write access. In a dry run nothing is sent: each write that passes the
//! policy is recorded in the run's plan instead.
//!
//! Threat: sending something other than what was checked. The body is
//! parsed once by the policy and the bytes sent are re-serialised from that
//! parse, never the guest's text.

use easel_canvas::RequestBody;
use easel_policy::{Method as PolicyMethod, Needs, Operation, Rule};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

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
        let mut op = match self.operation(method, &path, query, body.as_deref()) {
            Ok(op) => op,
            Err(e) => return Ok(Err(e)),
        };
        drop(body);
        if let Err(e) = self.authorize(&mut op).await {
            return Ok(Err(e));
        }
        if self.dry_run {
            return Ok(self.plan_write(&op).map(Outcome::Planned));
        }
        // The bytes the policy read, re-serialised: not the guest's text.
        let bytes = op
            .body
            .as_ref()
            .map(|b| RequestBody::typed(b.as_str().to_owned(), b.content_type()));
        self.writes += 1;
        self.extra_changes += op.changes.saturating_sub(1);
        let result = self.send(&op, bytes, false).await;
        if op.endpoint.needs == Needs::SisImport
            && let Ok((body, _)) = &result
            && let Some(id) = import_id(body)
        {
            self.sis_imports.push(id);
        }
        self.record_overhead(mark);
        Ok(result.map(|(body, _)| Outcome::Sent(body)))
    }
}

/// The id of the SIS import Canvas answered with.
fn import_id(body: &str) -> Option<u64> {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()?
        .get("id")?
        .as_u64()
}

impl RunState {
    /// Record an authorized write as the next step of the dry run's plan.
    /// Each distinct body is held once; a plan past its size limit stops
    /// the run.
    fn plan_write(&mut self, op: &Operation) -> Result<u32, CanvasError> {
        let step = self.plan.len() as u32 + 1;
        let body = op.body.as_ref().map(|b| b.as_str());
        let digest = body.map(|b| hex::encode(Sha256::digest(b.as_bytes())));
        let path = op.path.as_string();
        let new_body = match &digest {
            Some(d) if !self.plan_bodies.contains(d) => body,
            _ => None,
        };
        let size = path.len()
            + op.query
                .iter()
                .map(|(k, v)| k.len() + v.len() + 2)
                .sum::<usize>()
            + new_body.map_or(0, str::len)
            + 128;
        if self.plan_bytes + size > self.limits.max_plan_bytes {
            let reason = format!(
                "the plan would grow past its limit of {} bytes; the run is stopped",
                self.limits.max_plan_bytes
            );
            let err = self.deny(op.method, &path, Rule::PlanLimit, &reason);
            if self.aborted.is_none() {
                self.aborted = Some(format!("stopped at plan step {step}: {reason}"));
            }
            return Err(err);
        }
        // A JSON body is held as it is; a SIS import's CSV as a JSON string.
        let csv = op.body.as_ref().is_some_and(|b| b.csv().is_some());
        let raw = match new_body
            .map(|b| {
                if csv {
                    RawValue::from_string(serde_json::Value::from(b).to_string())
                } else {
                    RawValue::from_string(b.to_owned())
                }
            })
            .transpose()
        {
            Ok(raw) => raw,
            Err(_) => {
                return Err(CanvasError::Invalid(
                    "the body could not be recorded in the plan".into(),
                ));
            }
        };
        self.plan_bytes += size;
        self.extra_changes += op.changes.saturating_sub(1);
        if let Some(d) = &digest {
            self.plan_bodies.insert(d.clone());
        }
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
            path,
            query: op.query.clone(),
            body_sha256: digest,
            body: raw,
            objects,
        });
        Ok(step)
    }
}

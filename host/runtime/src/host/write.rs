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
        let op = match self.operation(method, &path, query, body.as_deref()) {
            Ok(op) => op,
            Err(e) => return Ok(Err(e)),
        };
        drop(body);
        let result = self.write(op).await;
        self.record_overhead(mark);
        Ok(result)
    }
}

impl RunState {
    /// Authorize a write, then plan it (dry run) or send it. A run bound to
    /// a reviewed plan may make only the plan's writes, each once.
    pub(crate) async fn write(&mut self, mut op: Operation) -> Result<Outcome, CanvasError> {
        let step = self.bound_step(&op)?;
        if let Err(e) = self.authorize(&mut op).await {
            if let (Some(i), Some(b)) = (step, self.binding.as_mut()) {
                b.refused(i, refusal(&e));
            }
            return Err(e);
        }
        if self.dry_run {
            return self.plan_write(&op).map(Outcome::Planned);
        }
        // The bytes the policy read, re-serialised: not the guest's text.
        let bytes = op
            .body
            .as_ref()
            .map(|b| RequestBody::typed(b.as_str().to_owned(), b.content_type()));
        self.writes += 1;
        self.extra_changes += op.changes.saturating_sub(1);
        let result = self.send(&op, bytes, false).await;
        if let (Some(i), Some(b)) = (step, self.binding.as_mut()) {
            b.sent(i, result.as_ref().err().map(refusal));
        }
        if op.endpoint.needs == Needs::SisImport
            && let Ok((body, _)) = &result
            && let Some(id) = import_id(body)
        {
            self.sis_imports.push(id);
        }
        result.map(|(body, _)| Outcome::Sent(body))
    }

    /// The plan step this write is, for a bound run; a write the plan does
    /// not hold is denied before any lookup is made.
    fn bound_step(&mut self, op: &Operation) -> Result<Option<usize>, CanvasError> {
        let Some(binding) = &self.binding else {
            return Ok(None);
        };
        let path = op.path.as_string();
        let digest = crate::plan::body_digest(op.body.as_ref().map(|b| b.as_str()));
        match binding.find(op.method.as_str(), &path, &op.query, digest.as_deref()) {
            Some(i) => Ok(Some(i)),
            None => {
                let reason = format!(
                    "{} {path} is not a write of the reviewed plan of run {} (or it was made already); \
                     a live run after a plan makes only the plan's writes: dry-run again to review new ones",
                    op.method.as_str(),
                    binding.plan.plan_run
                );
                Err(self.deny(op.method, &path, Rule::NotInPlan, &reason))
            }
        }
    }
}

/// Why a step was not applied, in words.
pub(crate) fn refusal(e: &CanvasError) -> String {
    match e {
        CanvasError::Denied(d) => format!("denied ({}): {}", d.rule, d.reason),
        CanvasError::NotFound(m) => format!("Canvas answered 404: {m}"),
        CanvasError::Unauthorized(m) => format!("Canvas refused: {m}"),
        CanvasError::Invalid(m) => format!("Canvas answered invalid: {m}"),
        CanvasError::Throttled(m) => format!("throttled: {m}"),
        CanvasError::BudgetExhausted(m) => format!("call budget: {m}"),
        CanvasError::Upstream(u) => format!("Canvas answered {}: {}", u.status, u.body),
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

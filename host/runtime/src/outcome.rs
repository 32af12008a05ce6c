//! What a run produced.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// `run` returned Ok.
    Succeeded,
    /// `run` returned an error, or the guest trapped.
    Failed(String),
    /// The CPU or wall-clock budget ran out.
    TimedOut(String),
    /// The memory cap was reached.
    MemoryLimit(String),
    /// The host refused to start it (e.g. it imports an interface the grant
    /// does not include).
    Refused(String),
}

impl RunOutcome {
    /// Short status name, as stored in run records.
    pub fn status(&self) -> &'static str {
        match self {
            RunOutcome::Succeeded => "succeeded",
            RunOutcome::Failed(_) => "failed",
            RunOutcome::TimedOut(_) => "timed-out",
            RunOutcome::MemoryLimit(_) => "memory-limit",
            RunOutcome::Refused(_) => "refused",
        }
    }

    /// The error text, if any.
    pub fn error(&self) -> Option<&str> {
        match self {
            RunOutcome::Succeeded => None,
            RunOutcome::Failed(m)
            | RunOutcome::TimedOut(m)
            | RunOutcome::MemoryLimit(m)
            | RunOutcome::Refused(m) => Some(m),
        }
    }
}

/// A write a dry run would have sent.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedWrite {
    /// 1-based step.
    pub step: u32,
    /// HTTP method.
    pub method: String,
    /// Canvas path.
    pub path: String,
    /// Query pairs.
    pub query: Vec<(String, String)>,
    /// sha256 of the body as it would be sent, if there is one.
    pub body_sha256: Option<String>,
    /// The body, on the first step that sends it; a later step with the
    /// same body carries only its digest, so a plan holds each body once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Box<serde_json::value::RawValue>>,
    /// The objects it would change, e.g. `course 101`.
    pub objects: Vec<String>,
}

/// Everything a run produced, for the run record.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// How it ended.
    pub outcome: RunOutcome,
    /// Wall time.
    pub duration: Duration,
    /// Canvas calls the plugin made that were allowed and sent.
    pub calls: u32,
    /// Calls the policy denied.
    pub denied: u32,
    /// Host lookups made to place objects in the school.
    pub lookups: u32,
    /// Report files written (renamed `NAME.partial` when the run did not
    /// succeed).
    pub outputs: Vec<PathBuf>,
    /// The run did not succeed and its report files are incomplete.
    pub partial: bool,
    /// Captured log, stdout and stderr.
    pub log: String,
    /// Intended writes (dry run).
    pub plan: Vec<PlannedWrite>,
    /// For a run bound to a reviewed plan: what became of each step.
    pub plan_result: Vec<crate::plan::StepResult>,
    /// Time the host spent on each Canvas call the plugin made, excluding
    /// the wait for the token and for Canvas (policy, lookups' own work,
    /// building the request, copying the answer).
    pub call_overheads: Vec<Duration>,
}

//! Plans that bind: a live run after a reviewed dry run may make only the
//! plan's writes, and `plan apply` sends exactly them without the plugin.
//!
//! Threat: a live run that differs from what was reviewed. Re-running the
//! plugin against a Canvas that changed since the dry run makes other
//! writes (a course unpublished since is published, unreviewed). Here every
//! live write is matched against the plan by method, path, query and the
//! digest of its canonical body; a write that matches no unused step is
//! denied (`not-in-plan`), and each planned step the run did not make is
//! reported as skipped, with the reason when it is known.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::outcome::PlannedWrite;

/// One step of a reviewed plan, as a live run must make it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundStep {
    /// 1-based step of the plan.
    pub step: u32,
    /// HTTP method.
    pub method: String,
    /// Canvas path.
    pub path: String,
    /// Query pairs, in order.
    pub query: Vec<(String, String)>,
    /// sha256 of the canonical body, if there is one.
    pub body_sha256: Option<String>,
    /// The body's text as the plugin would give it (for `plan apply`).
    pub body: Option<String>,
}

/// The plan a live run is bound to.
#[derive(Debug, Clone)]
pub struct PlanBinding {
    /// The dry run that made the plan.
    pub plan_run: String,
    /// Its steps, in order.
    pub steps: Vec<BoundStep>,
}

impl PlanBinding {
    /// Read a stored plan (the JSON of its [`PlannedWrite`]s). A body is
    /// stored once, on the first step that sends it; a SIS import's CSV is
    /// stored as a JSON string.
    pub fn from_stored(plan_run: &str, plan: &[serde_json::Value]) -> Result<Self, String> {
        let mut bodies: std::collections::HashMap<String, String> = Default::default();
        let mut steps = Vec::with_capacity(plan.len());
        for (i, v) in plan.iter().enumerate() {
            let bad = |what: &str| format!("step {} of plan {plan_run} has no valid {what}", i + 1);
            let text = |key: &str| v.get(key).and_then(|x| x.as_str()).map(str::to_owned);
            let body_sha256 = text("body_sha256");
            let body = match (v.get("body").filter(|b| !b.is_null()), &body_sha256) {
                (Some(b), Some(digest)) => {
                    let text = match b {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    bodies.insert(digest.clone(), text.clone());
                    Some(text)
                }
                (None, Some(digest)) => {
                    Some(bodies.get(digest).cloned().ok_or_else(|| bad("body"))?)
                }
                (_, None) => None,
            };
            let query = match v.get("query") {
                None | Some(serde_json::Value::Null) => Vec::new(),
                Some(q) => serde_json::from_value(q.clone()).map_err(|_| bad("query"))?,
            };
            steps.push(BoundStep {
                step: v
                    .get("step")
                    .and_then(|s| s.as_u64())
                    .and_then(|s| u32::try_from(s).ok())
                    .ok_or_else(|| bad("step number"))?,
                method: text("method").ok_or_else(|| bad("method"))?,
                path: text("path").ok_or_else(|| bad("path"))?,
                query,
                body_sha256,
                body,
            });
        }
        Ok(Self {
            plan_run: plan_run.to_owned(),
            steps,
        })
    }

    /// The binding of a plan a dry run just made.
    pub fn from_plan(plan_run: &str, plan: &[PlannedWrite]) -> Result<Self, String> {
        let stored: Vec<serde_json::Value> = plan
            .iter()
            .map(|p| serde_json::to_value(p).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        Self::from_stored(plan_run, &stored)
    }
}

/// What became of one planned step in the live run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepResult {
    /// The plan's step.
    pub step: u32,
    /// HTTP method.
    pub method: String,
    /// Canvas path.
    pub path: String,
    /// `applied`, `failed` (sent, Canvas refused) or `skipped` (not sent).
    pub state: &'static str,
    /// Why, when it was not applied and the reason is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A binding as a run uses it: which steps are done.
#[derive(Debug)]
pub(crate) struct Binding {
    pub(crate) plan: PlanBinding,
    /// Per step: done (sent, whatever Canvas answered), and the outcome or
    /// the last reason it was not sent.
    done: Vec<bool>,
    results: Vec<Option<(&'static str, Option<String>)>>,
}

/// sha256 of a body's canonical text.
pub(crate) fn body_digest(body: Option<&str>) -> Option<String> {
    body.map(|b| hex::encode(Sha256::digest(b.as_bytes())))
}

impl Binding {
    pub(crate) fn new(plan: PlanBinding) -> Self {
        let n = plan.steps.len();
        Self {
            plan,
            done: vec![false; n],
            results: vec![None; n],
        }
    }

    /// The first step not yet made that this write is.
    pub(crate) fn find(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        body_sha256: Option<&str>,
    ) -> Option<usize> {
        self.plan.steps.iter().enumerate().position(|(i, s)| {
            !self.done[i]
                && s.method == method
                && s.path == path
                && s.query == query
                && s.body_sha256.as_deref() == body_sha256
        })
    }

    /// The step was refused before it was sent (it stays open).
    pub(crate) fn refused(&mut self, i: usize, reason: String) {
        self.results[i] = Some(("skipped", Some(reason)));
    }

    /// The step was sent: applied, or refused by Canvas.
    pub(crate) fn sent(&mut self, i: usize, failure: Option<String>) {
        self.done[i] = true;
        self.results[i] = Some(match failure {
            None => ("applied", None),
            Some(why) => ("failed", Some(why)),
        });
    }

    /// Every step's result; a step never attempted is skipped.
    pub(crate) fn results(&self) -> Vec<StepResult> {
        self.plan
            .steps
            .iter()
            .zip(&self.results)
            .map(|(s, r)| {
                let (state, reason) = r.clone().unwrap_or((
                    "skipped",
                    Some("the live run did not make this write".to_owned()),
                ));
                StepResult {
                    step: s.step,
                    method: s.method.clone(),
                    path: s.path.clone(),
                    state,
                    reason,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan() -> Vec<serde_json::Value> {
        vec![
            json!({"step": 1, "method": "PUT", "path": "/api/v1/courses/104", "query": [],
                   "body_sha256": "aa", "body": {"course": {"event": "offer"}}, "objects": []}),
            json!({"step": 2, "method": "PUT", "path": "/api/v1/courses/106", "query": [],
                   "body_sha256": "aa", "objects": []}),
            json!({"step": 3, "method": "POST", "path": "/api/v1/accounts/1/sis_imports",
                   "query": [["extension", "csv"]], "body_sha256": "bb",
                   "body": "course_id,user_id,role,status\nC,U,student,active\n", "objects": []}),
        ]
    }

    #[test]
    fn a_stored_plan_gives_every_step_its_body() {
        let b = PlanBinding::from_stored("run-1", &plan()).unwrap();
        assert_eq!(b.steps.len(), 3);
        assert_eq!(
            b.steps[1].body.as_deref(),
            Some(r#"{"course":{"event":"offer"}}"#)
        );
        assert_eq!(
            b.steps[2].body.as_deref(),
            Some("course_id,user_id,role,status\nC,U,student,active\n")
        );
        assert_eq!(b.steps[2].query, vec![("extension".into(), "csv".into())]);
    }

    #[test]
    fn a_plan_missing_a_body_it_refers_to_is_refused() {
        let mut p = plan();
        p.remove(0);
        assert!(PlanBinding::from_stored("run-1", &p).is_err());
    }

    #[test]
    fn each_step_is_made_once_and_the_rest_are_skipped() {
        let mut b = Binding::new(PlanBinding::from_stored("run-1", &plan()).unwrap());
        let i = b
            .find("PUT", "/api/v1/courses/104", &[], Some("aa"))
            .unwrap();
        assert_eq!(i, 0);
        b.sent(i, None);
        assert_eq!(
            b.find("PUT", "/api/v1/courses/104", &[], Some("aa")),
            None,
            "once only"
        );
        assert_eq!(
            b.find("PUT", "/api/v1/courses/110", &[], Some("aa")),
            None,
            "not planned"
        );
        assert_eq!(
            b.find("PUT", "/api/v1/courses/106", &[], Some("bb")),
            None,
            "other body"
        );
        let i = b
            .find("PUT", "/api/v1/courses/106", &[], Some("aa"))
            .unwrap();
        b.refused(i, "denied (school-boundary)".into());
        let r = b.results();
        assert_eq!(r[0].state, "applied");
        assert_eq!(r[1].state, "skipped");
        assert_eq!(r[1].reason.as_deref(), Some("denied (school-boundary)"));
        assert_eq!(r[2].state, "skipped");
        assert!(r[2].reason.as_deref().unwrap().contains("did not make"));
    }
}

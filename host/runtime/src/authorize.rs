//! `authorize`: the only caller of `easel_policy::decide`, and `send`: the
//! only way a host interface reaches the canvas client.

use easel_canvas::RequestBody;
use easel_policy::{Decision, Method, Needs, Operation, Outside, Rule, decide};

use crate::audit::CanvasEvent;
use crate::bindings::easel::canvas::types::{CanvasError, Denial, UpstreamError};
use crate::state::{RunState, log_line};
use crate::text::bounded;

/// Longest Canvas error body passed back to a guest.
const MAX_ERROR_BODY: usize = 2048;

/// Longest denial reason kept in full (the rest is replaced by its digest).
pub const MAX_REASON_BYTES: usize = 1024;

fn denied(rule: &str, reason: String) -> CanvasError {
    CanvasError::Denied(Denial {
        rule: rule.to_owned(),
        reason,
    })
}

impl RunState {
    /// Validate a guest's request into an [`Operation`]. A malformed path or
    /// forbidden parameter is a denial under the `path-form` rule.
    pub(crate) fn operation(
        &mut self,
        method: Method,
        path: &str,
        query: Vec<(String, String)>,
        body: Option<&str>,
    ) -> Result<Operation, CanvasError> {
        self.audit_ok()?;
        let shown = || -> String { path.chars().take(120).collect() };
        Operation::from_text(method, path, query, body, 0)
            .map_err(|d| self.deny(method, &shown(), d.rule, &d.reason))
    }

    /// Count, log and audit a denial; the error for the guest. After the
    /// run's limit of denials, the run is stopped.
    pub(crate) fn deny(
        &mut self,
        method: Method,
        path: &str,
        rule: Rule,
        reason: &str,
    ) -> CanvasError {
        self.denied += 1;
        let reason = &bounded(reason, MAX_REASON_BYTES);
        log_line(
            &self.log,
            "[easel]",
            &format!(
                "denied {} {path} ({}): {reason}",
                method.as_str(),
                rule.name()
            ),
        );
        self.audit(CanvasEvent::Denied {
            method: method.as_str(),
            path,
            rule: rule.name(),
            reason,
        });
        if self.denied >= self.limits.max_denials && self.aborted.is_none() {
            self.aborted = Some(format!(
                "stopped after {} denied calls (the run's limit); fix the plugin or its grant",
                self.denied
            ));
        }
        if rule == Rule::WriteLimit && self.aborted.is_none() {
            self.aborted = Some(format!(
                "stopped before a write past the run's limit: {reason}; nothing after it was sent"
            ));
        }
        if rule == Rule::CallBudget {
            CanvasError::BudgetExhausted(reason.to_owned())
        } else {
            denied(rule.name(), reason.to_owned())
        }
    }

    /// Record an event; a failure is kept and ends the run's Canvas access.
    fn audit(&mut self, event: CanvasEvent<'_>) {
        if self.audit_failed.is_none()
            && let Err(e) = self.audit.record(event)
        {
            log_line(
                &self.log,
                "[easel]",
                &format!(
                    "the audit log could not be written ({e}); no further Canvas call is made"
                ),
            );
            self.audit_failed = Some(e);
        }
    }

    /// Refuse every call once the audit log has failed or the run was
    /// stopped.
    fn audit_ok(&self) -> Result<(), CanvasError> {
        if let Some(why) = &self.aborted {
            return Err(CanvasError::Denied(
                crate::bindings::easel::canvas::types::Denial {
                    rule: "run-stopped".into(),
                    reason: why.clone(),
                },
            ));
        }
        match &self.audit_failed {
            None => Ok(()),
            Some(e) => Err(CanvasError::Upstream(UpstreamError {
                status: 0,
                body: format!("easel's audit log cannot be written ({e}); the call was not made"),
            })),
        }
    }

    /// Place every object the call names, then ask the policy. Records the
    /// denial when refused, and the permission before anything is sent;
    /// `send`/`follow` count the calls actually sent. The host's own
    /// lookups count against the run's call budget.
    pub(crate) async fn authorize(&mut self, op: &mut Operation) -> Result<(), CanvasError> {
        self.audit_ok()?;
        // An assignment is placed by a course the same call names.
        let courses: Vec<easel_policy::ObjectKey> = op
            .targets
            .iter()
            .filter(|t| t.object.kind == easel_policy::ObjectKind::Course)
            .map(|t| t.object.key.clone())
            .collect();
        let path = op.path.as_string();
        self.number(op);
        if op.endpoint.needs == Needs::SisImportStatus {
            let id = op
                .path
                .resource_segments()
                .last()
                .and_then(|s| s.parse().ok());
            op.own_import = id.is_some_and(|id: u64| self.sis_imports.contains(&id));
        }
        // Every rule that needs no placement first: a call refused anyway
        // makes no lookup on its way to the refusal.
        if let Decision::Deny(d) = decide(&self.grant, op)
            && d.rule != Rule::SchoolBoundary
        {
            return Err(self.deny(op.method, &path, d.rule, &d.reason));
        }
        for i in 0..op.targets.len() {
            let object = op.targets[i].object.clone();
            self.directory.allowance = self.grant.max_calls.saturating_sub(self.spent());
            let started = std::time::Instant::now();
            let resolved = if object.kind == easel_policy::ObjectKind::Assignment {
                self.directory
                    .resolve_assignment(&self.client, &self.lookup_tag, &courses, &object.key)
                    .await
            } else {
                self.directory
                    .resolve(&self.client, &self.lookup_tag, &object)
                    .await
            };
            self.waiting += started.elapsed();
            // Outside the school, an object a SIS import may name anyway
            // (the root account, a row's new object) is looked at closer.
            let resolved = match resolved {
                Ok(mut placed)
                    if placed.chain.is_none() && op.targets[i].may_be != Outside::Never =>
                {
                    let may_be = op.targets[i].may_be;
                    self.directory
                        .outside(&self.client, &self.lookup_tag, &object, may_be, &mut placed)
                        .await
                        .map(|()| placed)
                }
                other => other,
            };
            match resolved {
                Ok(placed) => {
                    op.targets[i].chain = placed.chain;
                    op.targets[i].shared = placed.shared;
                    op.targets[i].found = placed.found;
                }
                Err(e) => {
                    log_line(&self.log, "[easel]", &format!("lookup failed: {e}"));
                    let (rule, reason) = if e.is_budget() {
                        (
                            Rule::CallBudget,
                            format!(
                                "the run's budget of {} Canvas calls is spent (easel's lookups to place objects count too)",
                                self.grant.max_calls
                            ),
                        )
                    } else {
                        (
                            Rule::SchoolBoundary,
                            format!(
                                "easel could not place {} {} in a school (its lookup failed; the run log says why)",
                                object.kind.name(),
                                object.key
                            ),
                        )
                    };
                    return Err(self.deny(op.method, &path, rule, &reason));
                }
            }
        }
        // The lookups just made count too.
        self.number(op);
        match decide(&self.grant, op) {
            Decision::Allow => {
                let digest = request_digest(op);
                self.audit(CanvasEvent::Allowed {
                    method: op.method.as_str(),
                    path: &path,
                    request_sha256: digest.as_deref(),
                });
                self.audit_ok()
            }
            Decision::Deny(d) => Err(self.deny(op.method, &path, d.rule, &d.reason)),
        }
    }

    /// Number `op` among the run's calls and writes. Planned writes count
    /// too, so a dry run predicts whether the live run fits.
    fn number(&self, op: &mut Operation) {
        op.seq = self.spent() + 1;
        if op.method.is_write() {
            op.write_seq = self.writes + self.plan.len() as u32 + self.extra_changes + 1;
        }
    }

    /// Requests made or planned on the run's behalf: the plugin's calls,
    /// its planned writes, and easel's lookups.
    pub(crate) fn spent(&self) -> u32 {
        self.calls + self.plan.len() as u32 + self.directory.lookups
    }

    /// Send an authorized operation (`list`: as the first page of a list,
    /// with `per_page=100`) and map Canvas's answer. Returns the
    /// body and the `next` link (kept host-side for page streams).
    pub(crate) async fn send(
        &mut self,
        op: &Operation,
        body: Option<RequestBody>,
        list: bool,
    ) -> Result<(String, Option<String>), CanvasError> {
        let method = match op.method {
            Method::Get => http::Method::GET,
            Method::Post => http::Method::POST,
            Method::Put => http::Method::PUT,
            Method::Delete => http::Method::DELETE,
        };
        let path = op.path.as_string();
        let fut = async {
            if list {
                self.client.list_first(&self.tag, &path, &op.query).await
            } else {
                self.client
                    .send(&self.tag, method, &path, &op.query, body)
                    .await
            }
        };
        self.calls += 1;
        let started = std::time::Instant::now();
        let resp = tokio::time::timeout_at(self.deadline, fut).await;
        self.waiting += waited(&resp, started);
        self.answer(op.method.as_str(), &path, resp)
    }

    /// GET a `next` link of a list this run started.
    pub(crate) async fn follow(
        &mut self,
        next: &str,
    ) -> Result<(String, Option<String>), CanvasError> {
        self.calls += 1;
        let started = std::time::Instant::now();
        let resp =
            tokio::time::timeout_at(self.deadline, self.client.follow(&self.tag, next)).await;
        self.waiting += waited(&resp, started);
        let path = url::Url::parse(next)
            .map(|u| u.path().to_owned())
            .unwrap_or_default();
        self.answer("GET", &path, resp)
    }

    /// Map Canvas's answer (or the lack of one before the run's deadline).
    fn answer(
        &mut self,
        method: &str,
        path: &str,
        resp: Answer,
    ) -> Result<(String, Option<String>), CanvasError> {
        let resp = match resp {
            Err(_) => {
                return Err(CanvasError::Upstream(UpstreamError {
                    status: 0,
                    body: "the run's time limit ended the call".into(),
                }));
            }
            Ok(r) => r,
        };
        let resp = match resp {
            Ok(r) => r,
            Err(e @ easel_canvas::ClientError::OffOrigin { .. }) => {
                log_line(&self.log, "[easel]", &format!("refused: {e}"));
                return Err(denied("origin-pin", e.to_string()));
            }
            Err(e @ easel_canvas::ClientError::Credentials(_)) => {
                log_line(&self.log, "[easel]", &e.to_string());
                return Err(CanvasError::Unauthorized(e.to_string()));
            }
            Err(e) => {
                return Err(CanvasError::Upstream(UpstreamError {
                    status: 0,
                    body: e.to_string(),
                }));
            }
        };
        self.audit(CanvasEvent::Answered {
            method,
            path,
            status: resp.status,
            cost: resp.request_cost,
        });
        if !resp.retries.is_empty() {
            let why: Vec<String> = resp.retries.iter().map(ToString::to_string).collect();
            log_line(
                &self.log,
                "[easel]",
                &format!(
                    "retried a Canvas call {} time(s): {}",
                    why.len(),
                    why.join(", ")
                ),
            );
        }
        if (300..400).contains(&resp.status) {
            let to = resp
                .redirect_origin
                .as_deref()
                .unwrap_or("an unknown place");
            let message = format!(
                "refused to follow Canvas's redirect ({}) to {to}: the token is pinned to {}",
                resp.status,
                self.client.origin()
            );
            log_line(&self.log, "[easel]", &message);
            return Err(denied("origin-pin", message));
        }
        if resp.body.len() > self.limits.max_response_bytes {
            return Err(CanvasError::Upstream(UpstreamError {
                status: resp.status,
                body: format!(
                    "response of {} bytes is over the limit of {}",
                    resp.body.len(),
                    self.limits.max_response_bytes
                ),
            }));
        }
        let text = String::from_utf8_lossy(&resp.body).into_owned();
        map_status(resp.status, text).map(|body| (body, resp.next))
    }
}

/// sha256 of an operation's query (form-encoded, as sent) and body, or
/// `None` when it has neither.
fn request_digest(op: &Operation) -> Option<String> {
    use sha2::{Digest, Sha256};
    if op.query.is_empty() && op.body.is_none() {
        return None;
    }
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&op.query)
        .finish();
    let mut h = Sha256::new();
    h.update(query.as_bytes());
    h.update(b"\n");
    h.update(op.body.as_ref().map_or("", |b| b.as_str()).as_bytes());
    Some(hex::encode(h.finalize()))
}

type Answer =
    Result<Result<easel_canvas::Response, easel_canvas::ClientError>, tokio::time::error::Elapsed>;

/// How long a call waited for the governor and Canvas (all of it when
/// there is no answer to say).
fn waited(resp: &Answer, started: std::time::Instant) -> std::time::Duration {
    match resp {
        Ok(Ok(r)) => r.queued + r.upstream,
        _ => started.elapsed(),
    }
}

/// Canvas's status and body as a guest-visible result.
fn map_status(status: u16, body: String) -> Result<String, CanvasError> {
    let message = || canvas_message(&body).unwrap_or_else(|| truncate(&body));
    match status {
        200..=299 => Ok(body),
        401 => Err(CanvasError::Unauthorized(message())),
        429 => Err(CanvasError::Throttled(message())),
        403 if body.contains("Rate Limit Exceeded") => Err(CanvasError::Throttled(message())),
        403 => Err(CanvasError::Unauthorized(message())),
        404 => Err(CanvasError::NotFound(message())),
        400 | 422 => Err(CanvasError::Invalid(truncate(&body))),
        300..=399 => Err(CanvasError::Upstream(UpstreamError {
            status,
            body: "Canvas answered with a redirect; easel does not follow redirects".into(),
        })),
        _ => Err(CanvasError::Upstream(UpstreamError {
            status,
            body: truncate(&body),
        })),
    }
}

/// `errors[0].message` or `message` from a Canvas error body.
fn canvas_message(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v.pointer("/errors/0/message")
        .or_else(|| v.get("message"))
        .or_else(|| v.get("errors").filter(|e| e.is_string()))
        .and_then(|m| m.as_str())
        .map(str::to_owned)
}

fn truncate(s: &str) -> String {
    if s.len() <= MAX_ERROR_BODY {
        return s.to_owned();
    }
    let mut end = MAX_ERROR_BODY;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

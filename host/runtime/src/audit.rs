//! Where a run's Canvas decisions are recorded.
//!
//! Threat: a call that leaves no trace. Every decision is handed to the
//! run's [`AuditSink`] before anything is sent; if it cannot be recorded the
//! call is not made and the run fails (fail closed).

/// A Canvas call the policy decided on, or Canvas's answer to one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CanvasEvent<'a> {
    /// Allowed; about to be sent.
    Allowed {
        /// HTTP method.
        method: &'a str,
        /// Canvas path.
        path: &'a str,
        /// sha256 of the query and body exactly as sent (`query\nbody`),
        /// when there is either: the audit log does not keep queries and
        /// bodies (they carry personal data) but can prove which were sent.
        request_sha256: Option<&'a str>,
    },
    /// Denied by the policy (or the path was malformed).
    Denied {
        /// HTTP method.
        method: &'a str,
        /// Canvas path as the plugin gave it (shortened).
        path: &'a str,
        /// The rule that denied it.
        rule: &'a str,
        /// Why.
        reason: &'a str,
    },
    /// The host's own lookup (placing an object the plugin named in the
    /// school): before it is sent (`status` `None`), then its answer.
    Lookup {
        /// Canvas path.
        path: &'a str,
        /// HTTP status, once answered.
        status: Option<u16>,
        /// `x-request-cost`, once answered.
        cost: Option<f64>,
    },
    /// Canvas answered an allowed call.
    Answered {
        /// HTTP method.
        method: &'a str,
        /// Canvas path.
        path: &'a str,
        /// HTTP status.
        status: u16,
        /// `x-request-cost`.
        cost: Option<f64>,
    },
}

/// Records a run's Canvas events. An `Err` means the event was not
/// recorded; the runtime then makes no further Canvas call for the run.
pub trait AuditSink: Send + Sync {
    /// Record one event.
    fn record(&self, event: CanvasEvent<'_>) -> Result<(), String>;
}

/// Records nothing: for benchmarks and tests that measure the runtime on
/// its own. easel's commands always pass their audit log.
#[derive(Debug, Clone, Copy, Default)]
pub struct DiscardAudit;

impl AuditSink for DiscardAudit {
    fn record(&self, _: CanvasEvent<'_>) -> Result<(), String> {
        Ok(())
    }
}

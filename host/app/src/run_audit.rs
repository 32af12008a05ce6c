//! The adapter that records a run's Canvas events in the audit log.

use std::sync::Arc;

use easel_runtime::{AuditSink, CanvasEvent};
use easel_store::{Action, AuditEntry, AuditLog};

/// Records one run's Canvas events in the audit log, with the fields every
/// record of the run shares. Made with [`RunAudit::new`], which makes the
/// log's deferred records part of what [`stop_recording`] commits.
#[derive(Debug, Clone)]
pub struct RunAudit {
    /// The audit log.
    log: Arc<Watched>,
    /// Run id.
    pub run: String,
    /// Plugin id.
    pub plugin: String,
    /// Component sha256.
    pub digest: String,
    /// School account id.
    pub school: u64,
    /// Instance name.
    pub instance: String,
    /// The token's keyed fingerprint (`None`: the embedded simulator).
    pub token: Option<String>,
}

impl RunAudit {
    /// Record run `run`'s events in `log`; the other fields start empty
    /// and are set by the caller.
    pub fn new(log: Arc<AuditLog>, run: String) -> Self {
        watch(&log);
        RunAudit {
            log: Arc::new(Watched(log)),
            run,
            plugin: String::new(),
            digest: String::new(),
            school: 0,
            instance: String::new(),
            token: None,
        }
    }

    /// An entry for this run.
    pub fn entry(&self, action: Action) -> AuditEntry {
        AuditEntry {
            instance: Some(self.instance.clone()),
            school: Some(self.school),
            plugin: Some(self.plugin.clone()),
            digest: Some(self.digest.clone()),
            run: Some(self.run.clone()),
            token: self.token.clone(),
            ..AuditEntry::new(format!("run:{}", self.run), action)
        }
    }
}

/// Set once this process stops its runs: from then on no run records (so
/// none sends) another Canvas call. Held for reading across each record's
/// append, so that once [`stop_recording`] returns, the log holds every
/// call it ever will from this process.
static STOPPED: std::sync::RwLock<bool> = std::sync::RwLock::new(false);

/// The audit logs runs of this process record in, so that
/// [`stop_recording`] can commit the answers they hold back (deferred
/// records): counted before that commit, a run's calls would miss them,
/// and the log would later hold more calls than its run says.
static LOGS: std::sync::Mutex<Vec<std::sync::Weak<AuditLog>>> = std::sync::Mutex::new(Vec::new());

/// A run's hold on its audit log. When the run's last [`RunAudit`] goes,
/// it commits what the log holds back, with [`LOGS`] locked: a log whose
/// last holder is going is then either committed here before
/// [`stop_recording`] looks, or still held when it does.
#[derive(Debug)]
struct Watched(Arc<AuditLog>);

impl Drop for Watched {
    fn drop(&mut self) {
        let _logs = LOGS.lock().unwrap_or_else(|p| p.into_inner());
        self.0.flush();
    }
}

fn watch(log: &Arc<AuditLog>) {
    let mut logs = LOGS.lock().unwrap_or_else(|p| p.into_inner());
    logs.retain(|l| l.strong_count() > 0);
    if !logs
        .iter()
        .any(|l| std::ptr::eq(l.as_ptr(), Arc::as_ptr(log)))
    {
        logs.push(Arc::downgrade(log));
    }
}

/// Stop this process's runs from recording (and so from sending) Canvas
/// calls, before they are marked interrupted: once it returns, every
/// record a run made is committed (answers held back for the next commit
/// included), so the counts then taken from the audit log are final. An
/// answer that arrives later is not recorded: its write is listed as of
/// unknown outcome.
pub fn stop_recording() {
    {
        let mut stopped = STOPPED.write().unwrap_or_else(|p| p.into_inner());
        *stopped = true;
    }
    // No record is half-way now (each holds the read lock across its
    // append), and none comes after: what the logs hold back is final.
    let logs = LOGS.lock().unwrap_or_else(|p| p.into_inner());
    for log in logs.iter().filter_map(std::sync::Weak::upgrade) {
        log.flush();
    }
}

/// Has this process stopped its runs (see [`stop_recording`])?
pub fn recording_stopped() -> bool {
    *STOPPED.read().unwrap_or_else(|p| p.into_inner())
}

impl AuditSink for RunAudit {
    fn record(&self, event: CanvasEvent<'_>) -> Result<(), String> {
        let stopped = STOPPED.read().unwrap_or_else(|p| p.into_inner());
        if *stopped {
            return Err("easel is stopping: this run is interrupted".into());
        }
        let e = match event {
            CanvasEvent::Allowed {
                method,
                path,
                request_sha256,
            } => AuditEntry {
                method: Some(method.to_owned()),
                path: Some(path.to_owned()),
                detail: request_sha256.map(|d| format!("request sha256 {d}")),
                ..self.entry(Action::CanvasRequestAllowed)
            },
            CanvasEvent::Denied {
                method,
                path,
                rule,
                reason,
            } => AuditEntry {
                method: Some(method.to_owned()),
                path: Some(path.to_owned()),
                detail: Some(format!("{rule}: {reason}")),
                ..self.entry(Action::CanvasRequestDenied)
            },
            CanvasEvent::Lookup { path, status, cost } => AuditEntry {
                method: Some("GET".into()),
                path: Some(path.to_owned()),
                status,
                cost,
                detail: Some("easel's lookup to place an object the plugin named".into()),
                ..self.entry(if status.is_some() {
                    Action::CanvasResponse
                } else {
                    Action::CanvasRequestAllowed
                })
            },
            CanvasEvent::Answered {
                method,
                path,
                status,
                cost,
            } => AuditEntry {
                method: Some(method.to_owned()),
                path: Some(path.to_owned()),
                status: Some(status),
                cost,
                ..self.entry(Action::CanvasResponse)
            },
        };
        // A call is never sent before its record is committed; Canvas's
        // answer to it joins the next commit (the next call's, or the
        // run's end).
        let answer = matches!(
            event,
            CanvasEvent::Answered { .. }
                | CanvasEvent::Lookup {
                    status: Some(_),
                    ..
                }
        );
        let appended = if answer {
            self.log.0.append_deferred(e)
        } else {
            self.log.0.append(&e).map(|_| ())
        };
        drop(stopped);
        appended.map_err(|e| e.to_string())
    }
}

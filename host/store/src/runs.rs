//! Run records: what ran, for whom, how it ended, what it produced.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::{Result, Store, StoreError};

/// How a run ended (or that it has not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    /// Waiting in `easel serve`'s queue for a worker.
    Queued,
    /// Still going (or the host died; see `finished_at`).
    Running,
    /// `run` returned Ok.
    Succeeded,
    /// `run` returned an error, or the plugin trapped.
    Failed,
    /// The CPU or wall-clock limit ended it.
    TimedOut,
    /// The memory cap ended it.
    MemoryLimit,
    /// The host refused to start it (missing grant, bad component).
    Refused,
    /// The process running it ended first (killed, interrupted, crashed).
    Interrupted,
}

impl RunStatus {
    /// Stable name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::TimedOut => "timed-out",
            RunStatus::MemoryLimit => "memory-limit",
            RunStatus::Refused => "refused",
            RunStatus::Interrupted => "interrupted",
        }
    }

    /// The status named `s`, as stored.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => RunStatus::Queued,
            "running" => RunStatus::Running,
            "succeeded" => RunStatus::Succeeded,
            "failed" => RunStatus::Failed,
            "timed-out" => RunStatus::TimedOut,
            "memory-limit" => RunStatus::MemoryLimit,
            "refused" => RunStatus::Refused,
            "interrupted" => RunStatus::Interrupted,
            _ => return None,
        })
    }
}

/// A run about to start.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// Run id.
    pub id: String,
    /// Plugin id.
    pub plugin_id: String,
    /// Component digest being run.
    pub digest: String,
    /// School account id.
    pub school: u64,
    /// Instance name.
    pub instance: String,
    /// Dry run?
    pub dry_run: bool,
    /// Resolved params.
    pub params: Vec<(String, String)>,
    /// The dry run whose plan this live run applies (once only).
    pub applies: Option<String>,
    /// The process running it (`pid:start-time`), to tell a run whose
    /// process died from one still going.
    pub owner: Option<String>,
    /// The batch (one many-school command) it belongs to.
    pub batch: Option<String>,
    /// The token it spends (`None`: it spends none).
    pub token: Option<String>,
}

/// How a run finished.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunFinish {
    /// Final status.
    pub status: Option<RunStatus>,
    /// Wall time.
    pub duration_ms: u64,
    /// Canvas calls made (allowed and sent, or planned).
    pub calls: u32,
    /// Calls the policy denied.
    pub denied: u32,
    /// Error text, if it failed.
    pub error: Option<String>,
    /// Report files written (paths).
    pub outputs: Vec<String>,
    /// Captured log, stdout and stderr (bounded).
    pub log: String,
    /// Intended writes of a dry run (JSON objects).
    pub plan: Vec<serde_json::Value>,
    /// For a run that applied a plan: what became of each step.
    pub plan_result: Vec<serde_json::Value>,
}

/// Which runs to list (all of them when every field is `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// Only this plugin's.
    pub plugin: Option<String>,
    /// Only this school's.
    pub school: Option<u64>,
    /// Only in this state (as stored, e.g. `failed`).
    pub status: Option<String>,
    /// Started at or after this time (an RFC 3339 prefix).
    pub since: Option<String>,
    /// Only this batch's.
    pub batch: Option<String>,
    /// Only on this instance.
    pub instance: Option<String>,
}

/// A stored run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRow {
    /// Run id.
    pub id: String,
    /// Plugin id.
    pub plugin_id: String,
    /// Component digest.
    pub digest: String,
    /// School account id.
    pub school: u64,
    /// Instance name.
    pub instance: String,
    /// Dry run?
    pub dry_run: bool,
    /// Params as given (after defaults).
    pub params: Vec<(String, String)>,
    /// Status.
    pub status: RunStatus,
    /// Start time.
    pub started_at: String,
    /// End time.
    pub finished_at: Option<String>,
    /// Wall time.
    pub duration_ms: Option<u64>,
    /// Canvas calls.
    pub calls: u32,
    /// Denied calls.
    pub denied: u32,
    /// Error text.
    pub error: Option<String>,
    /// Report files.
    pub outputs: Vec<String>,
    /// Captured log.
    pub log: String,
    /// Plan of intended writes.
    pub plan: Vec<serde_json::Value>,
    /// The dry run whose plan this run applied.
    pub applies: Option<String>,
    /// For a run that applied a plan: what became of each step.
    pub plan_result: Vec<serde_json::Value>,
    /// The batch (one many-school command) it belongs to.
    pub batch: Option<String>,
    /// For an interrupted run: writes answered by Canvas (from the audit
    /// log); `None` for other runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writes: Option<u32>,
    /// For an interrupted live run: the writes easel sent (or was about to
    /// send) whose answer was never recorded, as `{"method", "path"}`:
    /// check them in Canvas.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<serde_json::Value>,
    /// The token it spends (`None`: none, or queued before runs named
    /// theirs).
    #[serde(default, skip_serializing)]
    pub token: Option<String>,
}

fn json_col<T: for<'de> Deserialize<'de>>(column: &'static str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        column,
        message: e.to_string(),
    })
}

fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".to_owned())
}

const RUN_COLUMNS: &str = "id, plugin_id, digest, school, instance, dry_run, params, status, started_at, finished_at, duration_ms, calls, denied, error, outputs, log, plan, applies, plan_result, batch, writes, unknown, token";

type RawRun = (RunRow, String, String, String, String, String, String);

fn raw_run(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRun> {
    let status: String = r.get(7)?;
    Ok((
        RunRow {
            id: r.get(0)?,
            plugin_id: r.get(1)?,
            digest: r.get(2)?,
            school: r.get::<_, i64>(3)? as u64,
            instance: r.get(4)?,
            dry_run: r.get(5)?,
            params: Vec::new(),
            status: RunStatus::parse(&status).unwrap_or(RunStatus::Failed),
            started_at: r.get(8)?,
            finished_at: r.get(9)?,
            duration_ms: r.get::<_, Option<i64>>(10)?.map(|d| d as u64),
            calls: r.get::<_, i64>(11)? as u32,
            denied: r.get::<_, i64>(12)? as u32,
            error: r.get(13)?,
            outputs: Vec::new(),
            log: r.get(15)?,
            plan: Vec::new(),
            applies: r.get(17)?,
            plan_result: Vec::new(),
            batch: r.get(19)?,
            writes: r.get::<_, Option<i64>>(20)?.map(|w| w.max(0) as u32),
            unknown: Vec::new(),
            token: r.get(22)?,
        },
        r.get(6)?,
        r.get(14)?,
        r.get(16)?,
        r.get(18)?,
        status,
        r.get(21)?,
    ))
}

fn cook((mut row, params, outputs, plan, plan_result, _, unknown): RawRun) -> Result<RunRow> {
    row.unknown = json_col("runs.unknown", &unknown)?;
    row.params = json_col("runs.params", &params)?;
    row.outputs = json_col("runs.outputs", &outputs)?;
    row.plan = json_col("runs.plan", &plan)?;
    row.plan_result = json_col("runs.plan_result", &plan_result)?;
    Ok(row)
}

/// Milliseconds since the Unix epoch, now (leases are kept in these: they
/// compare as numbers).
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// What the audit log says an interrupted run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditedCalls {
    /// The plugin's calls Canvas answered.
    pub answered: u32,
    /// Of those, writes.
    pub writes: u32,
    /// Calls the policy denied.
    pub denied: u32,
    /// Calls allowed with no answer recorded, as (method, path).
    pub unanswered: Vec<(String, String)>,
}

impl AuditedCalls {
    /// Count a run's audit records, `(action, method, path)` in order:
    /// allowed and answered records are paired by method and path.
    pub fn from_records(records: impl IntoIterator<Item = (String, String, String)>) -> Self {
        let mut calls = AuditedCalls::default();
        for (action, method, path) in records {
            match action.as_str() {
                "canvas-request-allowed" => calls.unanswered.push((method, path)),
                "canvas-response" => {
                    calls.answered += 1;
                    if method != "GET" {
                        calls.writes += 1;
                    }
                    if let Some(i) = calls
                        .unanswered
                        .iter()
                        .position(|(m, p)| *m == method && *p == path)
                    {
                        calls.unanswered.remove(i);
                    }
                }
                _ => calls.denied += 1,
            }
        }
        calls
    }

    /// An interrupted run's error text, and its writes sent with no
    /// answer recorded, of unknown outcome (none for a dry run).
    pub fn interruption(&self, dry_run: bool) -> (String, Vec<serde_json::Value>) {
        let writes: Vec<&(String, String)> = if dry_run {
            Vec::new()
        } else {
            self.unanswered.iter().filter(|(m, _)| m != "GET").collect()
        };
        let unknown = writes
            .iter()
            .map(|(m, p)| serde_json::json!({"method": m, "path": p, "outcome": "unknown"}))
            .collect();
        let mut error = format!(
            "interrupted: the process running it ended first; the audit log records {} answered call(s), {} of them write(s)",
            self.answered, self.writes
        );
        if !writes.is_empty() {
            error.push_str(&format!(
                "; {} write(s) were sent with no answer recorded, their outcome unknown: check them in Canvas ({})",
                writes.len(),
                writes
                    .iter()
                    .map(|(m, p)| format!("{m} {p}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        (error, unknown)
    }
}

impl Store {
    /// Record the start of a run.
    pub fn start_run(&self, run: &NewRun) -> Result<()> {
        self.insert_run(run, RunStatus::Running, None)
    }

    /// Put a run in the queue (status `queued`) for a worker to claim;
    /// `request` is what the worker needs to run it.
    pub fn enqueue_run(&self, run: &NewRun, request: &str) -> Result<()> {
        self.insert_run(run, RunStatus::Queued, Some(request))
    }

    fn insert_run(&self, run: &NewRun, status: RunStatus, request: Option<&str>) -> Result<()> {
        let inserted = self.conn().execute(
            "INSERT INTO runs (id, plugin_id, digest, school, instance, dry_run, params, status, started_at, applies, owner, batch, request, token)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![
                run.id,
                run.plugin_id,
                run.digest,
                run.school as i64,
                run.instance,
                run.dry_run,
                to_json(&run.params),
                status.as_str(),
                crate::now(),
                run.applies,
                run.owner,
                run.batch,
                request,
                run.token
            ],
        );
        match (inserted, &run.applies) {
            (Err(rusqlite::Error::SqliteFailure(e, _)), Some(plan))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                let by = self.run_applying(plan)?.map(|r| r.id).unwrap_or_default();
                Err(StoreError::Invalid(format!(
                    "the plan of run {plan} was applied already, by run {by}; a plan is applied once: dry-run again"
                )))
            }
            (r, _) => r.map(|_| ()).map_err(Into::into),
        }
    }

    /// Claim the oldest queued run for `owner`, holding it until
    /// `lease_until` (unix ms), skipping runs on the instances in `busy`
    /// (at their concurrency limit). The run becomes `running`, started
    /// now. `None`: nothing to claim.
    pub fn claim_run(
        &self,
        owner: &str,
        lease_until: i64,
        busy: &[String],
    ) -> Result<Option<RunRow>> {
        let id: Option<String> = self
            .conn()
            .query_row(
                "UPDATE runs SET status = 'running', owner = ?1, lease_until = ?2, started_at = ?3
                 WHERE rowid = (SELECT rowid FROM runs WHERE status = 'queued'
                                  AND instance NOT IN (SELECT value FROM json_each(?4))
                                ORDER BY rowid LIMIT 1)
                   AND status = 'queued'
                 RETURNING id",
                params![owner, lease_until, crate::now(), to_json(&busy)],
                |r| r.get(0),
            )
            .optional()?;
        match id {
            Some(id) => self.run(&id),
            None => Ok(None),
        }
    }

    /// What a queued run's worker needs (as given to [`Store::enqueue_run`]).
    pub fn run_request(&self, id: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row("SELECT request FROM runs WHERE id = ?1", params![id], |r| {
                r.get::<_, Option<String>>(0)
            })
            .optional()?
            .flatten())
    }

    /// Hold runs `ids` of `owner` (those still running) until
    /// `lease_until` (unix ms); returns how many.
    pub fn renew_leases(&self, owner: &str, ids: &[String], lease_until: i64) -> Result<usize> {
        Ok(self.conn().execute(
            "UPDATE runs SET lease_until = ?2 WHERE owner = ?1 AND status = 'running'
               AND id IN (SELECT value FROM json_each(?3))",
            params![owner, lease_until, to_json(&ids)],
        )?)
    }

    /// Runs waiting in the queue.
    pub fn queued_runs(&self) -> Result<u64> {
        let n: i64 = self.conn().query_row(
            "SELECT COUNT(*) FROM runs WHERE status = 'queued'",
            [],
            |r| r.get(0),
        )?;
        Ok(n.max(0) as u64)
    }

    /// End a claimed run that was refused when its worker checked it again
    /// (approval revoked, plan expired, …): `refused`, with why. A plan it
    /// was to apply is free again.
    pub fn refuse_run(&self, id: &str, error: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE runs SET status = 'refused', finished_at = ?2, duration_ms = 0, error = ?3,
                 applies = NULL, lease_until = NULL
             WHERE id = ?1 AND status IN ('queued', 'running')",
            params![id, crate::now(), error],
        )?;
        Ok(())
    }

    /// Put a run claimed by `owner` back in the queue, untouched (claimed
    /// as the process began to stop). `false` if it was not such a run.
    pub fn release_run(&self, id: &str, owner: &str) -> Result<bool> {
        Ok(self.conn().execute(
            "UPDATE runs SET status = 'queued', owner = NULL, lease_until = NULL
             WHERE id = ?1 AND owner = ?2 AND status = 'running'",
            params![id, owner],
        )? == 1)
    }

    /// End a claimed run that could not be started or recorded, with why
    /// (`failed`), unless it already ended.
    pub fn fail_claimed_run(&self, id: &str, error: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE runs SET status = 'failed', finished_at = ?2, error = ?3, lease_until = NULL
             WHERE id = ?1 AND status = 'running'",
            params![id, crate::now(), error],
        )?;
        Ok(())
    }

    /// Interrupted runs queued by a schedule and not retried yet, with
    /// their queued request.
    pub fn interrupted_unretried(&self) -> Result<Vec<(RunRow, String)>> {
        let ids: Vec<(String, String)> = {
            let mut stmt = self.conn().prepare(
                "SELECT id, request FROM runs WHERE status = 'interrupted' AND retried_by IS NULL
                   AND request LIKE '%\"schedule\":\"%'",
            )?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<std::result::Result<_, _>>()?
        };
        let mut out = Vec::with_capacity(ids.len());
        for (id, request) in ids {
            if let Some(row) = self.run(&id)? {
                out.push((row, request));
            }
        }
        Ok(out)
    }

    /// Queued runs that ended without success at or after `since` (RFC
    /// 3339) and were not reported to the failure webhook yet, oldest
    /// first, at most `limit`.
    pub fn unreported_failures(&self, since: &str, limit: usize) -> Result<Vec<String>> {
        let mut stmt = self.conn().prepare(
            "SELECT id FROM runs WHERE reported_at IS NULL AND request IS NOT NULL
               AND status IN ('failed', 'refused', 'timed-out', 'memory-limit', 'interrupted')
               AND finished_at >= ?1
             ORDER BY finished_at LIMIT ?2",
        )?;
        let ids = stmt
            .query_map(params![since, limit as i64], |r| r.get(0))?
            .collect::<std::result::Result<_, _>>()?;
        Ok(ids)
    }

    /// Claim the report of run `id`, a queued run that did not succeed:
    /// true once, for whoever claims it first (so each failure is sent at
    /// most once, by one server); false for a run that succeeded, is still
    /// going, was not queued, or was reported.
    pub fn claim_report(&self, id: &str) -> Result<bool> {
        Ok(self.conn().execute(
            "UPDATE runs SET reported_at = ?2 WHERE id = ?1 AND reported_at IS NULL
               AND request IS NOT NULL
               AND status IN ('failed', 'refused', 'timed-out', 'memory-limit', 'interrupted')",
            params![id, crate::now()],
        )? == 1)
    }

    /// Record that run `id` was retried by `by` (or, `by` = `-`, will not
    /// be): once.
    pub fn mark_retried(&self, id: &str, by: &str) -> Result<bool> {
        Ok(self.conn().execute(
            "UPDATE runs SET retried_by = ?2 WHERE id = ?1 AND retried_by IS NULL",
            params![id, by],
        )? == 1)
    }

    /// Record the report files an interrupted run left (renamed partial).
    pub fn set_run_outputs(&self, id: &str, outputs: &[String]) -> Result<()> {
        self.conn().execute(
            "UPDATE runs SET outputs = ?2 WHERE id = ?1",
            params![id, to_json(&outputs)],
        )?;
        Ok(())
    }

    /// What the audit log records of run `id`'s Canvas calls (easel's own
    /// lookups left out): answered calls and writes, denials, and calls
    /// allowed with no answer. Allowed and answered records are paired by
    /// method and path, in order.
    pub fn audited_calls(&self, id: &str) -> Result<AuditedCalls> {
        let mut stmt = self.conn().prepare(
            "SELECT action, method, path FROM audit WHERE run = ?1
               AND (detail IS NULL OR detail NOT LIKE 'easel''s lookup%')
               AND action IN ('canvas-request-allowed', 'canvas-response', 'canvas-request-denied')
             ORDER BY seq",
        )?;
        let rows = stmt
            .query_map(params![id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                    r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                ))
            })?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(AuditedCalls::from_records(rows))
    }

    /// Mark `running` runs interrupted: those of `owner` (this process,
    /// interrupted), or (with `owner` `None`) those whose owner `alive`
    /// says has ended. Their calls, writes and denials are counted from the
    /// audit log, and a live run's writes allowed with no answer recorded
    /// are listed as of unknown outcome. Returns the runs marked.
    ///
    /// A lease that ran out while its process lives does not count: the
    /// process may be slow, not gone, and its run would go on sending
    /// after being marked. (Leases are for owners on other hosts, whose
    /// processes cannot be looked at from here.)
    pub fn interrupt_runs(
        &self,
        owner: Option<&str>,
        alive: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<String>> {
        let candidates: Vec<(String, Option<String>, bool)> = {
            let mut stmt = self
                .conn()
                .prepare("SELECT id, owner, dry_run FROM runs WHERE status = 'running'")?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?
        };
        let mut ended = Vec::new();
        for (id, o, dry_run) in candidates {
            let gone = match (owner, &o) {
                (Some(me), Some(o)) => o == me,
                (Some(_), None) => false,
                (None, Some(o)) => !alive(o),
                (None, None) => true,
            };
            if !gone {
                continue;
            }
            let calls = self.audited_calls(&id)?;
            let (error, unknown) = calls.interruption(dry_run);
            let changed = self.conn().execute(
                "UPDATE runs SET status = 'interrupted', finished_at = ?2, calls = ?3, denied = ?4, error = ?5,
                     writes = ?6, unknown = ?7, lease_until = NULL
                 WHERE id = ?1 AND status = 'running'",
                params![
                    id,
                    crate::now(),
                    calls.answered,
                    calls.denied,
                    error,
                    calls.writes,
                    to_json(&unknown)
                ],
            )?;
            if changed > 0 {
                ended.push(id);
            }
        }
        Ok(ended)
    }

    /// The run that applied (or is applying) the plan of dry run `plan`.
    pub fn run_applying(&self, plan: &str) -> Result<Option<RunRow>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE applies = ?1");
        let raw = self
            .conn()
            .query_row(&sql, params![plan], raw_run)
            .optional()?;
        raw.map(cook).transpose()
    }

    /// Record how a run ended (unless it was marked interrupted first: its
    /// counts then come from the audit log, and stay).
    pub fn finish_run(&self, id: &str, f: &RunFinish) -> Result<()> {
        self.conn().execute(
            "UPDATE runs SET status = ?2, finished_at = ?3, duration_ms = ?4, calls = ?5, denied = ?6,
                 error = ?7, outputs = ?8, log = ?9, plan = ?10, plan_result = ?11, lease_until = NULL,
                 writes = NULL, unknown = '[]'
             WHERE id = ?1 AND status IN ('running', 'queued')",
            params![
                id,
                f.status.unwrap_or(RunStatus::Failed).as_str(),
                crate::now(),
                f.duration_ms as i64,
                f.calls,
                f.denied,
                f.error,
                to_json(&f.outputs),
                f.log,
                to_json(&f.plan),
                to_json(&f.plan_result)
            ],
        )?;
        Ok(())
    }

    /// The newest `limit` runs that pass `filter`.
    pub fn runs_where(&self, limit: usize, filter: &RunFilter) -> Result<Vec<RunRow>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs
             WHERE (?2 IS NULL OR plugin_id = ?2) AND (?3 IS NULL OR school = ?3)
               AND (?4 IS NULL OR status = ?4) AND (?5 IS NULL OR started_at >= ?5)
               AND (?6 IS NULL OR batch = ?6) AND (?7 IS NULL OR instance = ?7)
             ORDER BY started_at DESC, rowid DESC LIMIT ?1"
        );
        let mut stmt = self.conn().prepare(&sql)?;
        let raws = stmt
            .query_map(
                params![
                    limit as i64,
                    filter.plugin,
                    filter.school.map(|s| s as i64),
                    filter.status,
                    filter.since,
                    filter.batch,
                    filter.instance
                ],
                raw_run,
            )?
            .collect::<Result<Vec<_>, _>>()?;
        raws.into_iter().map(cook).collect()
    }

    /// The newest `limit` runs.
    pub fn runs(&self, limit: usize) -> Result<Vec<RunRow>> {
        let sql =
            format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?1");
        let mut stmt = self.conn().prepare(&sql)?;
        let raws = stmt
            .query_map([limit as i64], raw_run)?
            .collect::<Result<Vec<_>, _>>()?;
        raws.into_iter().map(cook).collect()
    }

    /// Runs of plugin `id` for `school` started at or after `since`
    /// (RFC 3339).
    pub fn runs_since(&self, plugin: &str, school: u64, since: &str) -> Result<u32> {
        let n: i64 = self.conn().query_row(
            "SELECT COUNT(*) FROM runs WHERE plugin_id = ?1 AND school = ?2 AND started_at >= ?3",
            rusqlite::params![plugin, school as i64, since],
            |r| r.get(0),
        )?;
        Ok(n as u32)
    }

    /// One run by id (or unique id prefix).
    pub fn run(&self, id: &str) -> Result<Option<RunRow>> {
        let exact = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1");
        if let Some(raw) = self
            .conn()
            .query_row(&exact, params![id], raw_run)
            .optional()?
        {
            return cook(raw).map(Some);
        }
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1 OR id LIKE ?2 ORDER BY id = ?1 DESC LIMIT 1"
        );
        let raw = self
            .conn()
            .query_row(
                &sql,
                params![id, format!("{}%", id.replace(['%', '_'], ""))],
                raw_run,
            )
            .optional()?;
        raw.map(cook).transpose()
    }
}

/// Counts of runs by plugin and status, and finished runs' durations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunStats {
    /// (plugin, status, count).
    pub counts: Vec<(String, String, u64)>,
    /// Durations of finished runs, in milliseconds.
    pub durations_ms: Vec<u64>,
    /// Canvas calls made by all runs.
    pub calls: u64,
    /// Calls the policy denied, all runs.
    pub denied: u64,
}

impl Store {
    /// Counts for `/metrics`.
    pub fn run_stats(&self) -> Result<RunStats> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT plugin_id, status, COUNT(*) FROM runs GROUP BY plugin_id, status ORDER BY plugin_id, status",
        )?;
        let counts = stmt
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64))
            })?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut stmt =
            conn.prepare("SELECT duration_ms FROM runs WHERE duration_ms IS NOT NULL")?;
        let durations_ms = stmt
            .query_map([], |r| r.get::<_, i64>(0).map(|v| v.max(0) as u64))?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let (calls, denied): (i64, i64) = conn.query_row(
            "SELECT COALESCE(SUM(calls), 0), COALESCE(SUM(denied), 0) FROM runs",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(RunStats {
            counts,
            durations_ms,
            calls: calls.max(0) as u64,
            denied: denied.max(0) as u64,
        })
    }
}

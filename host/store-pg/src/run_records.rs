//! Run records on PostgreSQL beyond the queue (runs.rs): how runs ended,
//! lookups and listings, failure reports claimed once, retries, and runs
//! interrupted with what the audit log says they did. The same rows and
//! meanings as SQLite's (host/store/src/runs.rs).
//!
//! Threat: a run record that hides a write. An interrupted run's counts
//! come from the audit log, never from the process that died, and a
//! write sent with no answer recorded is listed for a person to check.
//!
//! Text is ordered and compared byte by byte (`COLLATE "C"`) and matched
//! with `ILIKE`, as SQLite orders and matches it, whatever the
//! database's locale.

use easel_store::{AuditedCalls, Result, RunFilter, RunRow, RunStats};
use tokio_postgres::Client;

use crate::runs::{DB_NOW_MS, RUN_COLUMNS, run_row, to_json};
use crate::{PgResult, PgStore};

/// Statuses of a run that ended without success.
const UNSUCCESSFUL: &str = "('failed', 'refused', 'timed-out', 'memory-limit', 'interrupted')";

/// What run `id`'s audit records say it did (easel's own lookups left
/// out). Allowed and answered records are paired by method and path, in
/// order.
async fn audited(c: &Client, id: &str) -> PgResult<AuditedCalls> {
    let rows = c
        .query(
            "SELECT action, method, path FROM audit WHERE run = $1
               AND (detail IS NULL OR detail NOT ILIKE 'easel''s lookup%' ESCAPE '')
               AND action IN ('canvas-request-allowed', 'canvas-response', 'canvas-request-denied')
             ORDER BY seq",
            &[&id],
        )
        .await?;
    Ok(AuditedCalls::from_records(rows.iter().map(|r| {
        (
            r.get::<_, String>(0),
            r.get::<_, Option<String>>(1).unwrap_or_default(),
            r.get::<_, Option<String>>(2).unwrap_or_default(),
        )
    })))
}

impl PgStore {
    /// What a queued run's worker needs (as given to
    /// [`PgStore::enqueue_run`]).
    pub fn run_request(&self, id: &str) -> Result<Option<String>> {
        let id = id.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let row = c
                .query_opt("SELECT request FROM runs WHERE id = $1", &[&id])
                .await?;
            Ok(row.and_then(|r| r.get(0)))
        })
    }

    /// Run one update of run `id` with `sql` (`$1` the id, `$2` now, `$3`
    /// `text`); rows changed.
    fn update_run(&self, sql: &'static str, id: &str, text: &str) -> Result<u64> {
        let (id, text) = (id.to_string(), text.to_string());
        self.block(move |pool| async move {
            let c = pool.get().await?;
            Ok(c.execute(sql, &[&id, &easel_store::now(), &text]).await?)
        })
    }

    /// End a claimed run that was refused when its worker checked it again
    /// (approval revoked, plan expired, …): `refused`, with why. A plan it
    /// was to apply is free again.
    pub fn refuse_run(&self, id: &str, error: &str) -> Result<()> {
        self.update_run(
            "UPDATE runs SET status = 'refused', finished_at = $2, duration_ms = 0, error = $3,
                 applies = NULL, lease_until = NULL
             WHERE id = $1 AND status IN ('queued', 'running')",
            id,
            error,
        )?;
        Ok(())
    }

    /// End a claimed run that could not be started or recorded, with why
    /// (`failed`), unless it already ended.
    pub fn fail_claimed_run(&self, id: &str, error: &str) -> Result<()> {
        self.update_run(
            "UPDATE runs SET status = 'failed', finished_at = $2, error = $3, lease_until = NULL
             WHERE id = $1 AND status = 'running'",
            id,
            error,
        )?;
        Ok(())
    }

    /// Claim the report of run `id`, a queued run that did not succeed:
    /// true once, for whoever claims it first (so each failure is sent at
    /// most once, by one node); false for a run that succeeded, is still
    /// going, was not queued, or was reported.
    pub fn claim_report(&self, id: &str) -> Result<bool> {
        let id = id.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let n = c
                .execute(
                    &format!(
                        "UPDATE runs SET reported_at = $2 WHERE id = $1 AND reported_at IS NULL
                           AND request IS NOT NULL AND status IN {UNSUCCESSFUL}"
                    ),
                    &[&id, &easel_store::now()],
                )
                .await?;
            Ok(n == 1)
        })
    }

    /// Record that run `id` was retried by `by` (or, `by` = `-`, will not
    /// be): once.
    pub fn mark_retried(&self, id: &str, by: &str) -> Result<bool> {
        let (id, by) = (id.to_string(), by.to_string());
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let n = c
                .execute(
                    "UPDATE runs SET retried_by = $2 WHERE id = $1 AND retried_by IS NULL",
                    &[&id, &by],
                )
                .await?;
            Ok(n == 1)
        })
    }

    /// Record the report files an interrupted run left (renamed partial).
    pub fn set_run_outputs(&self, id: &str, outputs: &[String]) -> Result<()> {
        let (id, outputs) = (id.to_string(), to_json(&outputs));
        self.block(move |pool| async move {
            let c = pool.get().await?;
            c.execute(
                "UPDATE runs SET outputs = $2 WHERE id = $1",
                &[&id, &outputs],
            )
            .await?;
            Ok(())
        })
    }

    /// Interrupted runs queued by a schedule and not retried yet, with
    /// their queued request, oldest first.
    pub fn interrupted_unretried(&self) -> Result<Vec<(RunRow, String)>> {
        self.block(|pool| async move {
            let c = pool.get().await?;
            let rows = c
                .query(
                    &format!(
                        "SELECT {RUN_COLUMNS}, request FROM runs
                         WHERE status = 'interrupted' AND retried_by IS NULL
                           AND request ILIKE '%\"schedule\":\"%' ESCAPE ''
                         ORDER BY seq"
                    ),
                    &[],
                )
                .await?;
            rows.iter().map(|r| Ok((run_row(r)?, r.get(23)))).collect()
        })
    }

    /// Queued runs that ended without success at or after `since` (RFC
    /// 3339) and were not reported to the failure webhook yet, oldest
    /// first, at most `limit`.
    pub fn unreported_failures(&self, since: &str, limit: usize) -> Result<Vec<String>> {
        let since = since.to_string();
        let limit = limit.min(i64::MAX as usize) as i64;
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let rows = c
                .query(
                    &format!(
                        "SELECT id FROM runs WHERE reported_at IS NULL AND request IS NOT NULL
                           AND status IN {UNSUCCESSFUL} AND finished_at COLLATE \"C\" >= $1
                         ORDER BY finished_at COLLATE \"C\", seq LIMIT $2"
                    ),
                    &[&since, &limit],
                )
                .await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    /// What the audit log records of run `id`'s Canvas calls (easel's own
    /// lookups left out): answered calls and writes, denials, and calls
    /// allowed with no answer. Allowed and answered records are paired by
    /// method and path, in order.
    pub fn audited_calls(&self, id: &str) -> Result<AuditedCalls> {
        let id = id.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            audited(&c, &id).await
        })
    }

    /// Mark `running` runs interrupted: those of `owner` (this process,
    /// interrupted), or (with `owner` `None`) those whose owner `alive`
    /// says has ended. Their calls, writes and denials are counted from the
    /// audit log, and a live run's writes allowed with no answer recorded
    /// are listed as of unknown outcome. Returns the runs marked, oldest
    /// first.
    ///
    /// `alive` judges processes on this host: with many nodes, a run of
    /// another node is ended by [`PgStore::interrupt_expired`] instead.
    pub fn interrupt_runs(
        &self,
        owner: Option<&str>,
        alive: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<String>> {
        // A run under a lease (a queued run a node claimed) is judged by
        // its lease alone, on the database's clock: its node, on whatever
        // host, stopped renewing it. Only a run without one (a local
        // `easel run`) is judged by whether its process is alive.
        let candidates: Vec<(String, Option<String>, bool, Option<bool>)> =
            self.block(|pool| async move {
                let c = pool.get().await?;
                let rows = c
                    .query(
                        &format!(
                            "SELECT id, owner, dry_run, lease_until < {DB_NOW_MS}
                             FROM runs WHERE status = 'running' ORDER BY seq"
                        ),
                        &[],
                    )
                    .await?;
                Ok(rows
                    .iter()
                    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
                    .collect())
            })?;
        // `alive` is the caller's and stays on the caller's thread.
        let gone: Vec<(String, bool)> = candidates
            .into_iter()
            .filter(|(_, o, _, expired)| match (owner, o) {
                (Some(me), Some(o)) => o == me,
                (Some(_), None) => false,
                (None, Some(o)) => match expired {
                    Some(expired) => *expired,
                    None => !alive(o),
                },
                (None, None) => true,
            })
            .map(|(id, _, dry_run, _)| (id, dry_run))
            .collect();
        if gone.is_empty() {
            return Ok(Vec::new());
        }
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let mut ended = Vec::new();
            for (id, dry_run) in gone {
                let calls = audited(&c, &id).await?;
                let (error, unknown) = calls.interruption(dry_run);
                let changed = c
                    .execute(
                        // A lease renewed since it was looked at stands.
                        &format!(
                            "UPDATE runs SET status = 'interrupted', finished_at = $2, calls = $3,
                                 denied = $4, error = $5, writes = $6, unknown = $7, lease_until = NULL
                             WHERE id = $1 AND status = 'running'
                               AND (lease_until IS NULL OR lease_until < {DB_NOW_MS})"
                        ),
                        &[
                            &id,
                            &easel_store::now(),
                            &i64::from(calls.answered),
                            &i64::from(calls.denied),
                            &error,
                            &i64::from(calls.writes),
                            &to_json(&unknown),
                        ],
                    )
                    .await?;
                if changed > 0 {
                    ended.push(id);
                }
            }
            Ok(ended)
        })
    }

    /// The newest `limit` runs that pass `filter`.
    pub fn runs_where(&self, limit: usize, filter: &RunFilter) -> Result<Vec<RunRow>> {
        let f = filter.clone();
        let limit = limit.min(i64::MAX as usize) as i64;
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let rows = c
                .query(
                    &format!(
                        "SELECT {RUN_COLUMNS} FROM runs
                         WHERE ($2::text IS NULL OR plugin_id = $2)
                           AND ($3::bigint IS NULL OR school = $3)
                           AND ($4::text IS NULL OR status = $4)
                           AND ($5::text IS NULL OR started_at COLLATE \"C\" >= $5)
                           AND ($6::text IS NULL OR batch = $6)
                           AND ($7::text IS NULL OR instance = $7)
                         ORDER BY started_at COLLATE \"C\" DESC, seq DESC LIMIT $1"
                    ),
                    &[
                        &limit,
                        &f.plugin,
                        &f.school.map(|s| s as i64),
                        &f.status,
                        &f.since,
                        &f.batch,
                        &f.instance,
                    ],
                )
                .await?;
            rows.iter().map(run_row).collect()
        })
    }

    /// The newest `limit` runs.
    pub fn runs(&self, limit: usize) -> Result<Vec<RunRow>> {
        self.runs_where(limit, &RunFilter::default())
    }

    /// Runs of plugin `id` for `school` started at or after `since`
    /// (RFC 3339).
    pub fn runs_since(&self, plugin: &str, school: u64, since: &str) -> Result<u32> {
        let (plugin, since) = (plugin.to_string(), since.to_string());
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let n: i64 = c
                .query_one(
                    "SELECT count(*) FROM runs
                     WHERE plugin_id = $1 AND school = $2 AND started_at COLLATE \"C\" >= $3",
                    &[&plugin, &(school as i64), &since],
                )
                .await?
                .get(0);
            Ok(n as u32)
        })
    }

    /// One run by id, or else by id prefix (ignoring ASCII case, as
    /// SQLite's `LIKE`): when several runs start with it, the oldest, as
    /// SQLite's scan finds it.
    pub fn run(&self, id: &str) -> Result<Option<RunRow>> {
        let id = id.to_string();
        let prefix = format!("{}%", id.replace(['%', '_'], ""));
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let exact = c
                .query_opt(
                    &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1"),
                    &[&id],
                )
                .await?;
            let row = match exact {
                Some(row) => Some(row),
                None => {
                    c.query_opt(
                        &format!(
                            "SELECT {RUN_COLUMNS} FROM runs WHERE id ILIKE $1 ESCAPE ''
                             ORDER BY seq LIMIT 1"
                        ),
                        &[&prefix],
                    )
                    .await?
                }
            };
            row.as_ref().map(run_row).transpose()
        })
    }

    /// Counts for `/metrics`.
    pub fn run_stats(&self) -> Result<RunStats> {
        self.block(|pool| async move {
            let c = pool.get().await?;
            let counts = c
                .query(
                    "SELECT plugin_id, status, count(*) FROM runs GROUP BY plugin_id, status
                     ORDER BY plugin_id COLLATE \"C\", status COLLATE \"C\"",
                    &[],
                )
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get::<_, i64>(2).max(0) as u64))
                .collect();
            let durations_ms = c
                .query(
                    "SELECT duration_ms FROM runs WHERE duration_ms IS NOT NULL ORDER BY seq",
                    &[],
                )
                .await?
                .iter()
                .map(|r| r.get::<_, i64>(0).max(0) as u64)
                .collect();
            let sums = c
                .query_one(
                    "SELECT COALESCE(SUM(calls), 0)::bigint, COALESCE(SUM(denied), 0)::bigint FROM runs",
                    &[],
                )
                .await?;
            Ok(RunStats {
                counts,
                durations_ms,
                calls: sums.get::<_, i64>(0).max(0) as u64,
                denied: sums.get::<_, i64>(1).max(0) as u64,
            })
        })
    }
}

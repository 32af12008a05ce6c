//! The run queue on PostgreSQL: the same rows and meanings as SQLite's
//! (host/store/src/runs.rs), claimed with `FOR UPDATE SKIP LOCKED` so
//! that many nodes claim at once without waiting on each other or taking
//! one run twice.
//!
//! Leases are unix milliseconds, as on SQLite, but judged by the
//! database's clock: a node's lease is moved onto that clock when stored,
//! so a node whose clock runs ahead cannot keep another's run alive, nor
//! one whose clock runs behind take a live run.

use easel_store::{NewRun, Result, RunFinish, RunRow, RunStatus, StoreError};
use tokio_postgres::Row;

use crate::{PgError, PgResult, PgStore, is_unique_violation};

pub(crate) const RUN_COLUMNS: &str = "id, plugin_id, digest, school, instance, dry_run, params, status, started_at, finished_at, duration_ms, calls, denied, error, outputs, log, plan, applies, plan_result, batch, writes, unknown, token";

/// The database's clock, in unix milliseconds (SQL).
pub(crate) const DB_NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

fn json<T: for<'de> serde::Deserialize<'de>>(column: &'static str, text: &str) -> PgResult<T> {
    serde_json::from_str(text).map_err(|e| PgError(format!("corrupt {column}: {e}")))
}

pub(crate) fn run_row(r: &Row) -> PgResult<RunRow> {
    let status: String = r.get(7);
    Ok(RunRow {
        id: r.get(0),
        plugin_id: r.get(1),
        digest: r.get(2),
        school: r.get::<_, i64>(3) as u64,
        instance: r.get(4),
        dry_run: r.get(5),
        params: json("runs.params", r.get(6))?,
        status: RunStatus::parse(&status).unwrap_or(RunStatus::Failed),
        started_at: r.get(8),
        finished_at: r.get(9),
        duration_ms: r.get::<_, Option<i64>>(10).map(|d| d.max(0) as u64),
        calls: r.get::<_, i64>(11).max(0) as u32,
        denied: r.get::<_, i64>(12).max(0) as u32,
        error: r.get(13),
        outputs: json("runs.outputs", r.get(14))?,
        log: r.get(15),
        plan: json("runs.plan", r.get(16))?,
        applies: r.get(17),
        plan_result: json("runs.plan_result", r.get(18))?,
        batch: r.get(19),
        writes: r.get::<_, Option<i64>>(20).map(|w| w.max(0) as u32),
        unknown: json("runs.unknown", r.get(21))?,
        token: r.get(22),
    })
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// Which queued runs a node may claim.
#[derive(Debug, Clone, Default)]
pub struct Claim<'a> {
    /// Skip runs on these instances (at their concurrency limit).
    pub busy: &'a [String],
    /// Only runs that spend one of these tokens (those whose lease this
    /// node holds; checked again in the claim itself), or no token.
    /// `None`: any run (one host).
    pub tokens: Option<&'a [String]>,
}

impl PgStore {
    /// Put a run in the queue (status `queued`): `request` is what the
    /// worker needs; only a node holding the lease of the token it
    /// spends (`run.token`) claims it.
    pub fn enqueue_run(&self, run: &NewRun, request: &str) -> Result<()> {
        self.insert_run(run, RunStatus::Queued, Some(request))
    }

    /// Record the start of a run this process runs itself.
    pub fn start_run(&self, run: &NewRun) -> Result<()> {
        self.insert_run(run, RunStatus::Running, None)
    }

    fn insert_run(&self, run: &NewRun, status: RunStatus, request: Option<&str>) -> Result<()> {
        let run = run.clone();
        let request = request.map(str::to_string);
        let token = run.token.clone();
        let applies = run.applies.clone();
        let inserted = self.block(move |pool| async move {
            let c = pool.get().await?;
            let r = c
                .execute(
                    "INSERT INTO runs (id, plugin_id, digest, school, instance, dry_run, params,
                         status, started_at, applies, owner, batch, request, token)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                    &[
                        &run.id,
                        &run.plugin_id,
                        &run.digest,
                        &(run.school as i64),
                        &run.instance,
                        &run.dry_run,
                        &to_json(&run.params),
                        &status.as_str(),
                        &easel_store::now(),
                        &run.applies,
                        &run.owner,
                        &run.batch,
                        &request,
                        &token,
                    ],
                )
                .await;
            match r {
                Ok(_) => Ok(Ok(())),
                Err(e) if is_unique_violation(&e) && run.applies.is_some() => Ok(Err(())),
                Err(e) => Err(e.into()),
            }
        })?;
        match (inserted, applies) {
            (Ok(()), _) => Ok(()),
            (Err(()), Some(plan)) => {
                let by = self.run_applying(&plan)?.map(|r| r.id).unwrap_or_default();
                Err(StoreError::Invalid(format!(
                    "the plan of run {plan} was applied already, by run {by}; a plan is applied once: dry-run again"
                )))
            }
            (Err(()), None) => Err(StoreError::Invalid("that run id exists already".into())),
        }
    }

    /// Claim the oldest queued run that `claim` admits for `owner`,
    /// holding it until `lease_until` (unix ms on this host's clock). The
    /// run becomes `running`, started now. `None`: nothing to claim.
    ///
    /// Claimers never wait for each other: a run another claimer has
    /// locked is skipped. A run that spends a token is claimed only while
    /// `owner` holds that token's lease.
    pub fn claim_run(
        &self,
        owner: &str,
        lease_until: i64,
        claim: &Claim<'_>,
    ) -> Result<Option<RunRow>> {
        let owner = owner.to_string();
        let busy = claim.busy.to_vec();
        let tokens = claim.tokens.map(<[String]>::to_vec);
        let ahead = lease_until - easel_store::now_ms();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let sql = format!(
                "UPDATE runs SET status = 'running', owner = $1,
                     lease_until = {DB_NOW_MS} + $2, started_at = $3
                 WHERE id = (
                     SELECT q.id FROM runs q
                     WHERE q.status = 'queued' AND NOT (q.instance = ANY($4))
                       AND ($5::text[] IS NULL OR q.token IS NULL OR (q.token = ANY($5)
                            AND EXISTS (SELECT 1 FROM token_leases l
                                        WHERE l.token_id = q.token AND l.node = $1
                                          AND l.lease_until > clock_timestamp()
                                        -- held until this claim commits: a
                                        -- release waits, then sees the run
                                        FOR SHARE)))
                     ORDER BY q.seq LIMIT 1
                     FOR UPDATE SKIP LOCKED)
                 RETURNING {RUN_COLUMNS}"
            );
            let row = c
                .query_opt(&sql, &[&owner, &ahead, &easel_store::now(), &busy, &tokens])
                .await?;
            row.as_ref().map(run_row).transpose()
        })
    }

    /// Hold runs `ids` of `owner` (those still running) until
    /// `lease_until` (unix ms, this host's clock); how many.
    pub fn renew_leases(&self, owner: &str, ids: &[String], lease_until: i64) -> Result<usize> {
        let owner = owner.to_string();
        let ids = ids.to_vec();
        let ahead = lease_until - easel_store::now_ms();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let n = c
                .execute(
                    &format!(
                        "UPDATE runs SET lease_until = {DB_NOW_MS} + $2
                         WHERE owner = $1 AND status = 'running' AND id = ANY($3)"
                    ),
                    &[&owner, &ahead, &ids],
                )
                .await?;
            Ok(n as usize)
        })
    }

    /// Put a run claimed by `owner` back in the queue, untouched.
    pub fn release_run(&self, id: &str, owner: &str) -> Result<bool> {
        let (id, owner) = (id.to_string(), owner.to_string());
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let n = c
                .execute(
                    "UPDATE runs SET status = 'queued', owner = NULL, lease_until = NULL
                     WHERE id = $1 AND owner = $2 AND status = 'running'",
                    &[&id, &owner],
                )
                .await?;
            Ok(n == 1)
        })
    }

    /// Record how a run ended (unless it was marked interrupted first: its
    /// counts then come from the audit log, and stay).
    pub fn finish_run(&self, id: &str, f: &RunFinish) -> Result<()> {
        let id = id.to_string();
        let status = f.status.unwrap_or(RunStatus::Failed).as_str();
        let (outputs, plan, plan_result) = (
            to_json(&f.outputs),
            to_json(&f.plan),
            to_json(&f.plan_result),
        );
        let (duration_ms, calls, denied) = (
            f.duration_ms.min(i64::MAX as u64) as i64,
            i64::from(f.calls),
            i64::from(f.denied),
        );
        let (error, log) = (f.error.clone(), f.log.clone());
        self.block(move |pool| async move {
            let c = pool.get().await?;
            c.execute(
                "UPDATE runs SET status = $2, finished_at = $3, duration_ms = $4, calls = $5,
                     denied = $6, error = $7, outputs = $8, log = $9, plan = $10,
                     plan_result = $11, lease_until = NULL, writes = NULL, unknown = '[]'
                 WHERE id = $1 AND status IN ('running', 'queued')",
                &[
                    &id,
                    &status,
                    &easel_store::now(),
                    &duration_ms,
                    &calls,
                    &denied,
                    &error,
                    &outputs,
                    &log,
                    &plan,
                    &plan_result,
                ],
            )
            .await?;
            Ok(())
        })
    }

    /// Runs waiting in the queue.
    pub fn queued_runs(&self) -> Result<u64> {
        self.block(|pool| async move {
            let c = pool.get().await?;
            let n: i64 = c
                .query_one("SELECT count(*) FROM runs WHERE status = 'queued'", &[])
                .await?
                .get(0);
            Ok(n.max(0) as u64)
        })
    }

    /// The run that applied (or is applying) the plan of dry run `plan`.
    pub fn run_applying(&self, plan: &str) -> Result<Option<RunRow>> {
        let plan = plan.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let row = c
                .query_opt(
                    &format!("SELECT {RUN_COLUMNS} FROM runs WHERE applies = $1"),
                    &[&plan],
                )
                .await?;
            row.as_ref().map(run_row).transpose()
        })
    }
}

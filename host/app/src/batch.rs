//! A batch: one plugin for many schools (`easel run --schools a,b,c` or
//! `--all-schools`), locally or through `easel serve`, with one result that
//! both print the same way.

use std::collections::HashMap;
use std::time::Instant;

use easel_runtime::{Limits, Runtime, School};
use serde::{Deserialize, Serialize};

use crate::connection::Connection;
use crate::error::AppError;
use crate::home::Home;
use crate::many::{Progress, execute_many};
use crate::principal::{Act, Actor};
use crate::run::{RunRequest, RunResult};

/// What to run, for which schools.
#[derive(Debug, Clone)]
pub struct BatchRequest {
    /// Plugin id.
    pub plugin: String,
    /// The schools named (with `all_schools`, ignored).
    pub schools: Vec<u64>,
    /// Every school the plugin is approved for (that the actor may run).
    pub all_schools: bool,
    /// Plan, do not write.
    pub dry_run: bool,
    /// Parameters, the same for every school.
    pub params: Vec<(String, String)>,
    /// Most writes per run.
    pub max_writes: Option<u32>,
    /// Runs at once.
    pub concurrency: usize,
}

/// One school's line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchRow {
    /// School account.
    pub school: u64,
    /// Its name.
    pub name: String,
    /// Its run, if one was made.
    pub run: Option<String>,
    /// `succeeded`, `failed`, …, or `not-run`.
    pub status: String,
    /// Why it failed or was not run.
    pub error: Option<String>,
    /// Canvas calls.
    pub calls: u32,
    /// Calls the policy denied.
    pub denied: u32,
    /// How long it took.
    pub duration_ms: u64,
    /// Report files it wrote.
    pub outputs: Vec<String>,
}

impl BatchRow {
    fn new(school: u64, name: Option<&str>, result: Result<RunResult, AppError>) -> Self {
        match result {
            Ok(r) => BatchRow {
                school,
                name: r.school_name,
                run: Some(r.run_id),
                status: r.report.outcome.status().to_owned(),
                error: r.report.outcome.error().map(str::to_owned),
                calls: r.report.calls,
                denied: r.report.denied,
                duration_ms: r.report.duration.as_millis() as u64,
                outputs: r
                    .report
                    .outputs
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect(),
            },
            Err(e) => BatchRow {
                school,
                name: name.unwrap_or_default().to_owned(),
                run: None,
                status: "not-run".into(),
                error: Some(e.to_string()),
                calls: 0,
                denied: 0,
                duration_ms: 0,
                outputs: Vec::new(),
            },
        }
    }

    /// A school whose run was not made, with why.
    pub fn not_run(school: u64, name: &str, why: &str) -> Self {
        BatchRow {
            school,
            name: name.to_owned(),
            run: None,
            status: "not-run".into(),
            error: Some(why.to_owned()),
            calls: 0,
            denied: 0,
            duration_ms: 0,
            outputs: Vec::new(),
        }
    }

    /// Did it run and succeed?
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

/// How a batch went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchResult {
    /// Plugin id.
    pub plugin: String,
    /// The Canvas instance.
    pub instance: String,
    /// The batch id (`easel runs --batch`).
    pub batch: String,
    /// Dry runs?
    pub dry_run: bool,
    /// Schools run for.
    pub schools: usize,
    /// Runs that succeeded.
    pub succeeded: usize,
    /// Runs that failed or were not run.
    pub failed: usize,
    /// Canvas calls, all runs.
    pub calls: u64,
    /// Throttled answers from Canvas during the batch (each retried).
    pub throttled: u64,
    /// Wall time.
    pub duration_ms: u64,
    /// One row per school, by school.
    pub runs: Vec<BatchRow>,
}

/// The schools a batch runs for: those named, or every school with a live
/// approval of the plugin that the actor may run. Refused, before anything
/// runs, if a named school is one the actor may not run.
pub fn batch_schools(home: &Home, by: &Actor, req: &BatchRequest) -> Result<Vec<u64>, AppError> {
    let act = |s: u64| {
        if req.dry_run {
            Act::RunDry(s)
        } else {
            Act::RunLive(s)
        }
    };
    let mut schools: Vec<u64> = if req.all_schools {
        home.store
            .live_schools(&req.plugin, &[])?
            .into_iter()
            .filter(|s| by.may(act(*s)))
            .collect()
    } else {
        for s in &req.schools {
            by.require(act(*s))?;
        }
        req.schools.clone()
    };
    schools.sort_unstable();
    schools.dedup();
    if schools.is_empty() {
        return Err(if home.store.find_plugin(&req.plugin)?.is_none() {
            AppError::invalid(format!(
                "no plugin {:?}: see `easel plugin list`",
                req.plugin
            ))
        } else {
            AppError::invalid(format!(
                "plugin {} is not approved for any school you may run: `easel plugin approve {} --school <id>` approves it",
                req.plugin, req.plugin
            ))
        });
    }
    Ok(schools)
}

/// Run the batch for `schools` (from [`batch_schools`]) through `conn` and
/// `runtime`, telling `progress` as each run ends.
pub async fn run_batch(
    home: &Home,
    by: &Actor,
    conn: &Connection,
    runtime: &Runtime,
    req: &BatchRequest,
    schools: &[u64],
    progress: &dyn Progress,
) -> Result<BatchResult, AppError> {
    // One paged listing names most schools; the rest are looked up per run.
    let names: HashMap<u64, School> = conn
        .schools()
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let concurrency = req.concurrency.clamp(1, schools.len().max(1));
    let throttled_before = conn.client.governor().stats().throttled;
    let started = Instant::now();
    let reqs = schools
        .iter()
        .map(|&school| RunRequest {
            plugin: req.plugin.clone(),
            school,
            dry_run: req.dry_run,
            params: req.params.clone(),
            limits: Limits {
                max_writes: req.max_writes,
                ..Limits::default()
            },
            plan: None,
        })
        .collect();
    let results = execute_many(home, by, conn, runtime, reqs, &names, concurrency, progress).await;
    let mut batch = None;
    let mut runs: Vec<BatchRow> = results
        .into_iter()
        .map(|(school, result)| {
            if let Ok(r) = &result {
                batch = batch.clone().or_else(|| r.batch.clone());
            }
            let name = names.get(&school).map(|s| s.name.as_str());
            BatchRow::new(school, name, result)
        })
        .collect();
    runs.sort_by_key(|r| r.school);
    let succeeded = runs.iter().filter(|r| r.ok()).count();
    Ok(BatchResult {
        plugin: req.plugin.clone(),
        instance: conn.instance.clone(),
        batch: batch.unwrap_or_default(),
        dry_run: req.dry_run,
        schools: runs.len(),
        succeeded,
        failed: runs.len() - succeeded,
        calls: runs.iter().map(|r| u64::from(r.calls)).sum(),
        throttled: conn
            .client
            .governor()
            .stats()
            .throttled
            .saturating_sub(throttled_before),
        duration_ms: started.elapsed().as_millis() as u64,
        runs,
    })
}

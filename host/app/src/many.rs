//! Many schools at once: one run per school, concurrently and bounded,
//! all sharing the token through its governor.

use std::collections::HashMap;
use std::time::Duration;

use easel_runtime::{Runtime, School};
use futures::StreamExt as _;

use crate::connection::Connection;
use crate::error::AppError;
use crate::home::Home;
use crate::principal::Actor;
use crate::run::{RunRequest, RunResult, execute_run_for};

/// Told how a batch of runs goes (a progress bar, a log, an event
/// stream).
pub trait Progress: Sync {
    /// Run `done` of `total` ended; `line` says how, in one line.
    fn run_ended(&self, done: usize, total: usize, ok: bool, line: &str);
    /// A status line: runs going, calls made, the token's queue.
    fn status(&self, line: &str);
}

/// A [`Progress`] that is told nothing.
pub struct Quiet;

impl Progress for Quiet {
    fn run_ended(&self, _: usize, _: usize, _: bool, _: &str) {}
    fn status(&self, _: &str) {}
}

#[derive(Default)]
struct Tally {
    ok: usize,
    failed: usize,
    calls: u64,
}

/// Run each request, at most `concurrency` at once, all through `conn`
/// (so all share its token's governor) and `runtime` (so all share the
/// compiled component). `known` names schools already looked up. Tells
/// `progress` as each run ends; returns each school's result in
/// completion order.
#[allow(clippy::too_many_arguments)]
pub async fn execute_many(
    home: &Home,
    by: &Actor,
    conn: &Connection,
    runtime: &Runtime,
    reqs: Vec<RunRequest>,
    known: &HashMap<u64, School>,
    concurrency: usize,
    progress: &dyn Progress,
) -> Vec<(u64, Result<RunResult, AppError>)> {
    let total = reqs.len();
    // One batch id for the command's runs (`easel runs --batch`, `runs
    // export --batch`).
    let batch = crate::run::new_run_id();
    let mut runs = futures::stream::iter(reqs.into_iter().map(|req| {
        let school = req.school;
        let known = known.get(&school).cloned();
        let batch = Some(batch.clone());
        async move {
            (
                school,
                execute_run_for(home, by, conn, runtime, req, known, batch).await,
            )
        }
    }))
    .buffer_unordered(concurrency.max(1));
    let mut results = Vec::with_capacity(total);
    let mut tally = Tally::default();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            next = runs.next() => {
                let Some((school, result)) = next else { break };
                let line = match &result {
                    Ok(r) if r.report.outcome.error().is_none() => {
                        tally.ok += 1;
                        format!(
                            "{} ({school}): succeeded in {:.2}s, {} Canvas call(s)",
                            r.school_name,
                            r.report.duration.as_secs_f64(),
                            r.report.calls
                        )
                    }
                    Ok(r) => {
                        tally.failed += 1;
                        let line = format!(
                            "{} ({school}): {}: {}",
                            r.school_name,
                            r.report.outcome.status(),
                            r.report.outcome.error().unwrap_or_default()
                        );
                        line
                    }
                    Err(e) => {
                        tally.failed += 1;
                        let line = format!("school {school}: not run: {e}");
                        line
                    }
                };
                let ok = matches!(&result, Ok(r) if r.report.outcome.error().is_none());
                if let Ok(r) = &result {
                    tally.calls += u64::from(r.report.calls);
                }
                results.push((school, result));
                progress.run_ended(results.len(), total, ok, &line);
            }
            _ = tick.tick() => {}
        }
        let g = conn.client.governor().stats();
        progress.status(&format!(
            "{} ok, {} failed, {} running · {} Canvas calls · {} in flight, {} waiting for the token",
            tally.ok,
            tally.failed,
            (total - results.len()).min(concurrency),
            tally.calls,
            g.in_flight,
            g.waiting
        ));
    }
    results
}

//! `easel run --schools a,b,c` and `--all-schools`: one run per school,
//! concurrently and bounded, all sharing the token through its governor,
//! with a progress bar, a final table and `--json`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use easel_runtime::{Limits, School};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::args::RunArgs;
use crate::error::{CliError, Outcome};
use easel_app::ConnectOptions;
use easel_app::Home;
use easel_app::{RunRequest, RunResult, connection_for_grant, execute_many};

/// One school's line in the final table.
#[derive(Debug, serde::Serialize)]
struct Row {
    school: u64,
    #[serde(skip)]
    batch: Option<String>,
    name: String,
    run: Option<String>,
    status: String,
    error: Option<String>,
    calls: u32,
    denied: u32,
    duration_ms: u64,
    outputs: Vec<String>,
}

impl Row {
    fn new(
        school: u64,
        name: Option<&str>,
        result: Result<RunResult, easel_app::AppError>,
    ) -> Self {
        match result {
            Ok(r) => Row {
                school,
                batch: r.batch.clone(),
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
            Err(e) => Row {
                school,
                batch: None,
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

    fn ok(&self) -> bool {
        self.error.is_none()
    }
}

/// The schools to run for: the list given, or every school with an active
/// approval of the plugin.
fn target_schools(home: &Home, args: &RunArgs) -> Result<Vec<u64>, CliError> {
    let mut schools: Vec<u64> = if args.all_schools {
        home.store.live_schools(&args.plugin, &[])?
    } else {
        args.schools.iter().copied().chain(args.school).collect()
    };
    schools.sort_unstable();
    schools.dedup();
    if schools.is_empty() {
        return Err(if home.store.find_plugin(&args.plugin)?.is_none() {
            CliError::input(format!(
                "no plugin {:?}: see `easel plugin list`",
                args.plugin
            ))
        } else {
            CliError::input(format!(
                "plugin {} is not approved for any school: run `easel plugin approve {} --school <id>`",
                args.plugin, args.plugin
            ))
        });
    }
    Ok(schools)
}

fn progress(total: usize, hidden: bool) -> ProgressBar {
    let target = if hidden {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    };
    let bar = ProgressBar::with_draw_target(Some(total as u64), target);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} schools\n  {msg}",
    ) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// The progress bar as the application layer's observer. Without a
/// terminal (cron, CI) the bar is hidden: each run's line goes to standard
/// error as it ends.
struct Bar<'a>(&'a ProgressBar);

impl easel_app::Progress for Bar<'_> {
    fn run_ended(&self, done: usize, total: usize, ok: bool, line: &str) {
        if !ok {
            self.0.println(line);
        }
        if self.0.is_hidden() {
            eprintln!("[{done}/{total}] {line}");
        }
        self.0.inc(1);
    }

    fn status(&self, line: &str) {
        self.0.set_message(line.to_owned());
    }
}

#[derive(Default)]
struct Tally {
    ok: usize,
    failed: usize,
    calls: u64,
}

/// `easel run <plugin> --schools ... | --all-schools`.
pub(crate) async fn command(
    home: &Home,
    args: RunArgs,
    params: Vec<(String, String)>,
    connect: &ConnectOptions,
) -> Result<Outcome, CliError> {
    let schools = target_schools(home, &args)?;
    let conn = connection_for_grant(home, &args.plugin, schools[0], connect).await?;
    // One paged listing names most schools; the rest are looked up per run.
    let names: HashMap<u64, School> = conn
        .schools()
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let concurrency = (args.concurrency as usize).min(schools.len());
    let runtime = home.runtime_for(concurrency as u32)?;
    let bar = progress(schools.len(), args.json);
    let started = Instant::now();
    let reqs = schools
        .iter()
        .map(|&school| RunRequest {
            plugin: args.plugin.clone(),
            school,
            dry_run: args.dry_run,
            params: params.clone(),
            limits: Limits {
                max_writes: args.max_writes,
                ..Limits::default()
            },
            plan: None,
        })
        .collect();
    let me = crate::local_actor(home)?;
    let results = execute_many(
        home,
        &me,
        &conn,
        &runtime,
        reqs,
        &names,
        concurrency,
        &Bar(&bar),
    )
    .await;
    let mut rows: Vec<Row> = results
        .into_iter()
        .map(|(school, result)| {
            let name = names.get(&school).map(|s| s.name.as_str());
            Row::new(school, name, result)
        })
        .collect();
    let tally = Tally {
        ok: rows.iter().filter(|r| r.ok()).count(),
        failed: rows.iter().filter(|r| !r.ok()).count(),
        calls: rows.iter().map(|r| u64::from(r.calls)).sum(),
    };
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    rows.sort_by_key(|r| r.school);
    let g = conn.client.governor().stats();
    let batch = rows
        .iter()
        .find_map(|r| r.batch.clone())
        .unwrap_or_default();
    if args.json {
        let v = serde_json::json!({
            "plugin": args.plugin,
            "instance": conn.instance,
            "batch": batch,
            "dry_run": args.dry_run,
            "schools": rows.len(),
            "succeeded": tally.ok,
            "failed": tally.failed,
            "calls": tally.calls,
            "throttled": g.throttled,
            "duration_ms": elapsed.as_millis() as u64,
            "runs": rows,
        });
        println!("{v:#}");
    } else {
        print_table(&rows);
        println!();
        println!(
            "{} school(s) on {}: {} succeeded, {} failed; {} Canvas call(s) in {:.1}s ({:.0}/s); Canvas throttled {} request(s){}",
            rows.len(),
            conn.instance,
            tally.ok,
            tally.failed,
            tally.calls,
            elapsed.as_secs_f64(),
            tally.calls as f64 / elapsed.as_secs_f64().max(0.001),
            g.throttled,
            if g.throttled > 0 {
                ", each retried"
            } else {
                ""
            }
        );
        println!(
            "batch {batch}: `easel runs --batch {batch}`; merge its reports with `easel runs export --batch {batch} --merge out.csv`"
        );
        if args.dry_run {
            println!("dry run: see each run's plan with `easel runs show <run> --plan`");
        }
    }
    Ok(if tally.failed == 0 {
        Outcome::Success
    } else {
        Outcome::RunFailed
    })
}

fn print_table(rows: &[Row]) {
    println!(
        "{:>8}  {:<28} {:<16} {:<12} {:>6} {:>8}  REPORT / ERROR",
        "SCHOOL", "NAME", "RUN", "STATUS", "CALLS", "SECONDS"
    );
    for r in rows {
        let name: String = r.name.chars().take(28).collect();
        let detail = match &r.error {
            Some(e) => e.lines().next().unwrap_or_default().to_owned(),
            None => r.outputs.join(" "),
        };
        println!(
            "{:>8}  {name:<28} {:<16} {:<12} {:>6} {:>8.2}  {detail}",
            r.school,
            r.run.as_deref().unwrap_or("-"),
            r.status,
            r.calls,
            r.duration_ms as f64 / 1000.0
        );
    }
}

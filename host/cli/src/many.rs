//! `easel run --schools a,b,c` and `--all-schools`: one run per school,
//! concurrently and bounded, all sharing the token through its governor,
//! with a progress bar, a final table and `--json`. The batch itself is the
//! application layer's ([`easel_app::run_batch`]); a server runs the same
//! and answers the same result, printed here the same way.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::args::RunArgs;
use crate::error::{CliError, Outcome};
use easel_app::{BatchRequest, BatchResult, ConnectOptions, Home, connection_for_grant};

/// The batch `args` asks for.
pub(crate) fn request(args: &RunArgs, params: Vec<(String, String)>) -> BatchRequest {
    BatchRequest {
        plugin: args.plugin.clone(),
        schools: args.schools.iter().copied().chain(args.school).collect(),
        all_schools: args.all_schools,
        dry_run: args.dry_run,
        params,
        max_writes: args.max_writes,
        concurrency: args.concurrency as usize,
    }
}

/// The bar on a terminal: elapsed, the bar, schools done, and an estimate
/// of the time left from the pace so far.
const BAR: &str =
    "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} schools, about {eta} left\n  {msg}";

fn progress(total: usize, hidden: bool) -> ProgressBar {
    let target = if hidden {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    };
    let bar = ProgressBar::with_draw_target(Some(total as u64), target);
    if let Ok(style) = ProgressStyle::with_template(BAR) {
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

/// `easel run <plugin> --schools ... | --all-schools`.
pub(crate) async fn command(
    home: &Home,
    args: RunArgs,
    params: Vec<(String, String)>,
    connect: &ConnectOptions,
) -> Result<Outcome, CliError> {
    let me = crate::local_actor(home)?;
    let req = request(&args, params);
    let schools = easel_app::batch_schools(home, &me, &req)?;
    let conn = connection_for_grant(home, &args.plugin, schools[0], connect).await?;
    let runtime = home.runtime_for(req.concurrency.clamp(1, schools.len()) as u32)?;
    let bar = progress(schools.len(), args.json);
    let result = easel_app::run_batch(home, &me, &conn, &runtime, &req, &schools, &Bar(&bar)).await;
    bar.finish_and_clear();
    print(&result?, args.json)
}

/// Print a batch's result (or its JSON) and the exit it implies.
pub(crate) fn print(r: &BatchResult, json: bool) -> Result<Outcome, CliError> {
    if json {
        let v = serde_json::to_value(r).map_err(|e| CliError::Failed(e.into()))?;
        println!("{v:#}");
    } else {
        print_table(r);
        println!();
        let secs = r.duration_ms as f64 / 1000.0;
        println!(
            "{} school(s) on {}: {} succeeded, {} failed; {} Canvas call(s) in {:.1}s ({:.0}/s); Canvas throttled {} request(s){}",
            r.schools,
            r.instance,
            r.succeeded,
            r.failed,
            r.calls,
            secs,
            r.calls as f64 / secs.max(0.001),
            r.throttled,
            if r.throttled > 0 {
                ", each retried"
            } else {
                ""
            }
        );
        println!(
            "batch {b}: `easel runs --batch {b}`; merge its reports with `easel runs export --batch {b} --merge out.csv`",
            b = r.batch
        );
        if r.dry_run {
            println!("dry run: see each run's plan with `easel runs show <run> --plan`");
        }
    }
    Ok(if r.failed == 0 {
        Outcome::Success
    } else {
        Outcome::RunFailed
    })
}

fn print_table(r: &BatchResult) {
    println!(
        "{:>8}  {:<28} {:<16} {:<12} {:>6} {:>8}  REPORT / ERROR",
        "SCHOOL", "NAME", "RUN", "STATUS", "CALLS", "SECONDS"
    );
    for r in &r.runs {
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_bar_shows_an_estimate_of_the_time_left() {
        assert!(super::BAR.contains("{eta}"));
        assert!(indicatif::ProgressStyle::with_template(super::BAR).is_ok());
    }
}

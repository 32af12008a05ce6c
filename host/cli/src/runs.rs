//! `easel runs` and `easel runs show`.

use easel_runtime::text::escape;
use easel_store::RunRow;

use crate::args::RunsCommand;
use crate::error::{CliError, Outcome};
use easel_app::Home;

pub(crate) fn dispatch(
    home: &Home,
    command: Option<RunsCommand>,
    limit: usize,
    filter: &easel_store::RunFilter,
    json: bool,
) -> Result<Outcome, CliError> {
    match command {
        None => list(home, limit, filter, json),
        Some(RunsCommand::Show { run, plan, json }) => show(home, &run, plan, json),
        Some(RunsCommand::Report {
            run,
            name,
            output,
            json,
        }) => {
            let me = crate::local_actor(home)?;
            let path = easel_app::reads::report(home, &me, &run, &name)?;
            let bytes = std::fs::read(&path).map_err(|e| CliError::Failed(e.into()))?;
            write_report(&run, &name, &bytes, output.as_deref(), json)
        }
        Some(RunsCommand::Export {
            batch,
            merge,
            report,
            json,
        }) => export(home, &batch, &merge, report.as_deref(), json),
    }
}

fn list(
    home: &Home,
    limit: usize,
    filter: &easel_store::RunFilter,
    json: bool,
) -> Result<Outcome, CliError> {
    let me = crate::local_actor(home)?;
    let runs = easel_app::reads::list_runs(home, &me, limit, filter)?;
    print_list(&runs, json)
}

/// `easel runs`'s table (or JSON), locally or from a server.
pub(crate) fn print_list(runs: &[RunRow], json: bool) -> Result<Outcome, CliError> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&runs).map_err(|e| CliError::Failed(e.into()))?
        );
        return Ok(Outcome::Success);
    }
    if runs.is_empty() {
        println!("no runs yet: start one with `easel run <plugin> --school <account>`");
        return Ok(Outcome::Success);
    }
    println!(
        "{:<16}  {:<20} {:>7}  {:<10} {:<5} {:<12} {:>5} {:>6} {:>8}  STARTED",
        "RUN", "PLUGIN", "SCHOOL", "INSTANCE", "MODE", "STATUS", "CALLS", "DENIED", "SECONDS"
    );
    for r in runs {
        println!(
            "{:<16}  {:<20} {:>7}  {:<10} {:<5} {:<12} {:>5} {:>6} {:>8.2}  {}",
            r.id,
            r.plugin_id,
            r.school,
            r.instance,
            if r.dry_run { "dry" } else { "live" },
            r.status.as_str(),
            r.calls,
            r.denied,
            r.duration_ms.unwrap_or(0) as f64 / 1000.0,
            r.started_at
        );
    }
    Ok(Outcome::Success)
}

fn show(home: &Home, id: &str, plan_only: bool, json: bool) -> Result<Outcome, CliError> {
    let me = crate::local_actor(home)?;
    let run: RunRow = easel_app::reads::run(home, &me, id)?;
    if json {
        let v = if plan_only {
            serde_json::json!(run.plan)
        } else {
            serde_json::to_value(&run).map_err(|e| CliError::Failed(e.into()))?
        };
        println!("{v:#}");
        return Ok(Outcome::Success);
    }
    if plan_only {
        if run.plan.is_empty() {
            println!(
                "run {} planned no writes{}",
                run.id,
                if run.dry_run {
                    ""
                } else {
                    " (it was a live run)"
                }
            );
        }
        // What the run that applied the plan did with each step.
        let applier = home.store.run_applying(&run.id)?;
        let results: std::collections::HashMap<u64, (String, String)> = applier
            .as_ref()
            .map(|a| {
                a.plan_result
                    .iter()
                    .filter_map(|r| {
                        let step = r.get("step")?.as_u64()?;
                        let state = r.get("state")?.as_str()?.to_owned();
                        let reason = r
                            .get("reason")
                            .and_then(|x| x.as_str())
                            .unwrap_or_default()
                            .to_owned();
                        Some((step, (state, reason)))
                    })
                    .collect()
            })
            .unwrap_or_default();
        match &applier {
            Some(a) if a.status == easel_store::RunStatus::Running => {
                println!("being applied by run {} (running)", a.id)
            }
            Some(a) => println!("applied by run {} ({})", a.id, a.status.as_str()),
            None if run.dry_run && !run.plan.is_empty() => println!(
                "not applied yet: `easel plan apply {}`, or `easel run {} --after-plan {}`",
                run.id, run.plugin_id, run.id
            ),
            None => {}
        }
        // A plan holds each body once, on the first step that sends it.
        let mut bodies = std::collections::HashMap::new();
        for step in &run.plan {
            let method = step.get("method").and_then(|v| v.as_str()).unwrap_or("?");
            let path = step.get("path").and_then(|v| v.as_str()).unwrap_or("?");
            let n = step.get("step").and_then(|v| v.as_u64()).unwrap_or(0);
            let digest = step.get("body_sha256").and_then(|v| v.as_str());
            let body = match step.get("body").filter(|b| !b.is_null()) {
                Some(b) => {
                    let text = b.to_string();
                    if let Some(d) = digest {
                        bodies.insert(d.to_owned(), text.clone());
                    }
                    text
                }
                None => digest
                    .and_then(|d| bodies.get(d).cloned())
                    .unwrap_or_default(),
            };
            let state = match results.get(&n) {
                Some((state, reason)) if reason.is_empty() => format!("  [{state}]"),
                Some((state, reason)) => format!("  [{state}: {}]", escape(reason)),
                None if applier.is_some() => "  [skipped]".to_owned(),
                None => String::new(),
            };
            println!("{n:>4}. {method} {} {}{state}", escape(path), escape(&body));
        }
        return Ok(Outcome::Success);
    }
    print_summary(&run, |o| o.to_owned());
    Ok(Outcome::Success)
}

/// `easel runs show`'s text: `report` says how to name each report file
/// (its path here, or how to fetch it from a server).
pub(crate) fn print_summary(run: &RunRow, report: impl Fn(&str) -> String) {
    println!("run       {}", run.id);
    println!(
        "plugin    {}@{}",
        run.plugin_id,
        &run.digest[..12.min(run.digest.len())]
    );
    println!(
        "school    {}  instance {}  {}",
        run.school,
        run.instance,
        if run.dry_run { "dry run" } else { "live" }
    );
    let params: Vec<String> = run.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!(
        "params    {}",
        if params.is_empty() {
            "-".into()
        } else {
            params.join(" ")
        }
    );
    println!("status    {}", run.status.as_str());
    println!(
        "started   {}  finished {}",
        run.started_at,
        run.finished_at.as_deref().unwrap_or("-")
    );
    println!(
        "calls     {} made, {} denied, {} write(s) planned",
        run.calls,
        run.denied,
        run.plan.len()
    );
    if let Some(w) = run.writes {
        println!("writes    {w} answered by Canvas (from the audit log)");
    }
    if let Some(e) = &run.error {
        println!("error     {}", escape(e));
    }
    for u in &run.unknown {
        println!(
            "unknown   {} {}  (sent, no answer recorded: check it in Canvas)",
            u["method"].as_str().unwrap_or("?"),
            escape(u["path"].as_str().unwrap_or("?"))
        );
    }
    for o in &run.outputs {
        if o.ends_with(".partial") {
            println!("report    {}  (partial: the run did not finish)", report(o));
        } else {
            println!("report    {}", report(o));
        }
    }
    if let Some(plan) = &run.applies {
        let applied = run
            .plan_result
            .iter()
            .filter(|r| r.get("state").and_then(|s| s.as_str()) == Some("applied"))
            .count();
        println!(
            "plan      applies the plan of run {plan}: {applied} of {} write(s) applied (`easel runs show {plan} --plan`)",
            run.plan_result.len()
        );
    }
    if !run.log.is_empty() {
        println!("log:");
        // The host wrote each entry escaped; older runs may not have been.
        for line in run.log.lines() {
            println!("  {}", escape(line));
        }
    }
}

/// `easel runs export --batch ID --merge FILE`: one CSV of every succeeded
/// run's report, each row prefixed with its school.
fn export(
    home: &Home,
    batch: &str,
    out: &std::path::Path,
    report: Option<&str>,
    json: bool,
) -> Result<Outcome, CliError> {
    if let Some(n) = report
        && (n.is_empty() || n.contains(['/', '\\']) || n == "." || n == "..")
    {
        return Err(CliError::input(format!(
            "--report takes a report's file name, such as courses.csv, not {n:?}"
        )));
    }
    let filter = easel_store::RunFilter {
        batch: Some(batch.to_owned()),
        ..easel_store::RunFilter::default()
    };
    let me = crate::local_actor(home)?;
    let mut runs = easel_app::reads::list_runs(home, &me, 100_000, &filter)?;
    if runs.is_empty() {
        return Err(CliError::input(format!(
            "no runs in batch {batch:?}: `easel runs --json` shows each run's batch"
        )));
    }
    runs.sort_by_key(|r| r.school);
    let name = match report {
        Some(n) => n.to_owned(),
        None => {
            let mut names: Vec<String> = runs
                .iter()
                .flat_map(|r| r.outputs.iter())
                .filter_map(|o| std::path::Path::new(o).file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".csv"))
                .collect();
            names.sort();
            names.dedup();
            match names.as_slice() {
                [one] => one.clone(),
                [] => {
                    return Err(CliError::input(format!(
                        "the runs of batch {batch} wrote no CSV report"
                    )));
                }
                many => {
                    return Err(CliError::input(format!(
                        "the runs wrote several reports ({}): pick one with --report",
                        many.join(", ")
                    )));
                }
            }
        }
    };
    let mut header: Option<String> = None;
    let mut body = String::new();
    let (mut merged, mut rows, mut skipped) = (0, 0, Vec::new());
    for r in &runs {
        if r.status != easel_store::RunStatus::Succeeded {
            skipped.push(r);
            continue;
        }
        let path = home.run_dir(&r.id).join(&name);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| CliError::input(format!("run {} has no readable {name}: {e}", r.id)))?;
        let mut lines = text.lines();
        let head = lines.next().unwrap_or_default();
        match &header {
            None => header = Some(head.to_owned()),
            Some(h) if h != head => {
                return Err(CliError::input(format!(
                    "run {}'s {name} has another header than the first run's: merge refused",
                    r.id
                )));
            }
            Some(_) => {}
        }
        for line in lines {
            body.push_str(&format!("{},{line}\n", r.school));
            rows += 1;
        }
        merged += 1;
    }
    let mut text = format!("school,{}\n", header.unwrap_or_default());
    text.push_str(&body);
    std::fs::write(out, text)
        .map_err(|e| CliError::input(format!("cannot write {}: {e}", out.display())))?;
    if json {
        let left_out: Vec<_> = skipped
            .iter()
            .map(|r| serde_json::json!({"run": r.id, "school": r.school, "status": r.status.as_str()}))
            .collect();
        return crate::json_out(&serde_json::json!({
            "batch": batch,
            "report": name,
            "file": out,
            "runs_merged": merged,
            "rows": rows,
            "left_out": left_out,
        }));
    }
    println!(
        "merged {name} of {merged} run(s) of batch {batch} into {} ({rows} row(s))",
        out.display()
    );
    if !skipped.is_empty() {
        let named: Vec<String> = skipped
            .iter()
            .map(|r| format!("{} ({}: {})", r.school, r.id, r.status.as_str()))
            .collect();
        println!(
            "left out {} run(s) that did not succeed: {}",
            skipped.len(),
            named.join(", ")
        );
    }
    Ok(Outcome::Success)
}

/// A report's bytes to `output`, or to standard output.
pub(crate) fn write_report(
    run: &str,
    name: &str,
    bytes: &[u8],
    output: Option<&std::path::Path>,
    json: bool,
) -> Result<Outcome, CliError> {
    match output {
        Some(path) => {
            std::fs::write(path, bytes)
                .map_err(|e| CliError::input(format!("cannot write {}: {e}", path.display())))?;
            if json {
                return crate::json_out(&serde_json::json!({
                    "run": run,
                    "report": name,
                    "file": path,
                    "bytes": bytes.len(),
                }));
            }
            Ok(Outcome::Success)
        }
        None => crate::write_stdout(bytes),
    }
}

//! `easel run` and `easel plan apply`: parse, call the application layer,
//! print.

use easel_app::{
    ConnectOptions, Home, PlanRef, RunRequest, RunResult, after_plan, connection_for_grant,
    execute_run_as, parse_params,
};
use easel_runtime::Limits;

use crate::args::RunArgs;
use crate::error::{CliError, Outcome};

/// `easel run`.
pub(crate) async fn command(
    home: &Home,
    args: RunArgs,
    connect: &ConnectOptions,
) -> Result<Outcome, CliError> {
    if args.detach {
        return Err(CliError::input(
            "--detach puts runs in a server's queue: `easel login --server URL` first (without a server, a run runs now, in this process)",
        ));
    }
    let mut params = parse_params(&args.params)?;
    let limits = Limits {
        max_writes: args.max_writes,
        ..Limits::default()
    };
    let school = match (
        &args.after_plan,
        args.school,
        args.schools.as_slice(),
        args.all_schools,
    ) {
        (Some(plan), ..) => {
            let (school, planned) = after_plan(home, &args.plugin, plan, &params)?;
            params = planned;
            school
        }
        (None, Some(school), [], false) => school,
        _ => return crate::many::command(home, args, params, connect).await,
    };
    let conn = connection_for_grant(home, &args.plugin, school, connect).await?;
    let runtime = home.runtime()?;
    let req = RunRequest {
        plugin: args.plugin,
        school,
        dry_run: args.dry_run,
        params,
        limits,
        plan: args.after_plan.map(|run| PlanRef {
            run,
            apply_only: false,
        }),
    };
    let me = crate::local_actor(home)?;
    let r = execute_run_as(home, &me, &conn, &runtime, req).await?;
    print_result(home, &r, school, args.dry_run, args.json)
}

/// `easel plan apply RUN`: send exactly a dry run's planned writes, in
/// order, without running the plugin.
pub(crate) async fn apply(
    home: &Home,
    run: &str,
    json: bool,
    connect: &ConnectOptions,
) -> Result<Outcome, CliError> {
    let plan = home
        .store
        .run(run)?
        .ok_or_else(|| CliError::input(format!("no run {run}: see `easel runs`")))?;
    let conn = connection_for_grant(home, &plan.plugin_id, plan.school, connect).await?;
    let runtime = home.runtime()?;
    let req = RunRequest {
        plugin: plan.plugin_id.clone(),
        school: plan.school,
        dry_run: false,
        params: plan.params.clone(),
        limits: Limits::default(),
        plan: Some(PlanRef {
            run: plan.id.clone(),
            apply_only: true,
        }),
    };
    let me = crate::local_actor(home)?;
    let r = execute_run_as(home, &me, &conn, &runtime, req).await?;
    print_result(home, &r, plan.school, false, json)
}

/// Print how a run went (or its JSON) and the exit it implies.
/// With `--json`, the stored run as `easel runs show RUN --json` prints it
/// (the same field names), plus `partial`.
fn print_result(
    home: &Home,
    r: &RunResult,
    school: u64,
    dry_run: bool,
    json: bool,
) -> Result<Outcome, CliError> {
    let rep = &r.report;
    if json {
        let row = home.store.run(&r.run_id)?.ok_or_else(|| {
            CliError::Failed(anyhow::anyhow!("run {} was not recorded", r.run_id))
        })?;
        let mut v = serde_json::to_value(&row).map_err(|e| CliError::Failed(e.into()))?;
        v["partial"] = serde_json::Value::Bool(rep.partial);
        println!("{v:#}");
    } else {
        println!(
            "run {} of {} for {} ({}) on {}: {} in {:.2}s, {} Canvas call(s), {} denied",
            r.run_id,
            r.plugin_id,
            r.school_name,
            school,
            r.instance,
            rep.outcome.status(),
            rep.duration.as_secs_f64(),
            rep.calls,
            rep.denied
        );
        if let Some(e) = rep.outcome.error() {
            println!("  error: {}", easel_runtime::text::escape(e));
        }
        for o in &rep.outputs {
            if rep.partial {
                println!(
                    "  report (partial: the run did not finish): {}",
                    o.display()
                );
            } else {
                println!("  report: {}", o.display());
            }
        }
        if !rep.plan_result.is_empty() {
            let applied = rep
                .plan_result
                .iter()
                .filter(|s| s.state == "applied")
                .count();
            println!(
                "  plan: {applied} of {} planned write(s) applied",
                rep.plan_result.len()
            );
            for s in rep.plan_result.iter().filter(|s| s.state != "applied") {
                println!(
                    "  step {} {} {} {}: {}",
                    s.step,
                    s.method,
                    easel_runtime::text::escape(&s.path),
                    s.state,
                    easel_runtime::text::escape(s.reason.as_deref().unwrap_or("-"))
                );
            }
        }
        if dry_run {
            println!(
                "  dry run: {} write(s) planned; review with `easel runs show {} --plan`, then apply with `easel plan apply {}`",
                rep.plan.len(),
                r.run_id,
                r.run_id
            );
        }
    }
    Ok(if rep.outcome.error().is_none() {
        Outcome::Success
    } else {
        Outcome::RunFailed
    })
}

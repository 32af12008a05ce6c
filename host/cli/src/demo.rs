//! `easel demo`: the guided tour against the embedded simulator.

use easel_runtime::Limits;

use easel_app::{Actor, Connection, Home, Role, RunRequest, SignIn, execute_run_as};

use crate::error::{CliError, Outcome};

/// Who the demo says added and approved the plugins.
const DEMO_CONTRIBUTOR: &str = "demo-contributor";
const DEMO_ADMIN: &str = "demo-admin";

pub(crate) async fn demo(home: &Home) -> Result<Outcome, CliError> {
    println!("easel demo: data in {}", home.root().display());
    let conn = Connection::embedded_sim().await?;
    if let Some(sim) = &conn.sim {
        println!(
            "started the Canvas simulator at {} (a district with school sub-accounts)",
            sim.url()
        );
    }
    let schools = conn.schools().await?;
    let ids: Vec<u64> = schools.iter().map(|s| s.id).collect();
    // Two people: a school's IT person submits, a district approver
    // approves (no one approves what they submitted).
    let os = easel_app::process::os_user();
    let contributor = Actor {
        name: DEMO_CONTRIBUTOR.into(),
        roles: vec![Role::SchoolContributor {
            schools: ids.clone(),
        }],
        via: SignIn::Local(os.clone()),
    };
    let approver = Actor {
        name: DEMO_ADMIN.into(),
        roles: vec![Role::Approver],
        via: SignIn::Local(os),
    };
    for p in easel_bundled::ALL {
        let row = easel_app::add(home, &contributor, p.wasm, p.manifest, p.name)?;
        let approvals = home.store.approvals()?;
        let missing: Vec<u64> = ids
            .iter()
            .copied()
            .filter(|s| {
                !approvals
                    .iter()
                    .any(|a| a.digest == row.digest && a.school == *s)
            })
            .collect();
        if !missing.is_empty() {
            easel_app::approve(
                home,
                &format!("{}@{}", row.id, row.digest),
                &missing,
                true,
                &approver,
            )?;
        }
        println!(
            "added and approved {} {} (sha256 {}) for {} schools",
            row.id,
            row.version,
            &row.digest[..12],
            ids.len()
        );
    }
    // Seal the setup in a signed checkpoint now, so the note about where
    // checkpoints are witnessed comes before the table, not inside it.
    home.audit
        .checkpoint("demo-setup")
        .map_err(|e| CliError::Failed(e.into()))?;
    let runtime = home.runtime()?;
    let plan = [
        ("course-report", false, vec![]),
        (
            "course-publisher",
            true,
            vec![("action".to_owned(), "publish".to_owned())],
        ),
        (
            "course-publisher",
            false,
            vec![("action".to_owned(), "publish".to_owned())],
        ),
    ];
    println!();
    println!(
        "{:<28} {:<17} {:<5} {:<10} {:>5} {:>7} {:>8}  REPORT",
        "SCHOOL", "PLUGIN", "MODE", "STATUS", "CALLS", "WRITES", "SECONDS"
    );
    let mut failures = 0;
    let mut last_dry = None;
    for school in &schools {
        for (plugin_id, dry_run, params) in &plan {
            let req = RunRequest {
                plugin: (*plugin_id).to_owned(),
                school: school.id,
                dry_run: *dry_run,
                params: params.clone(),
                limits: Limits::default(),
                plan: None,
            };
            let r = execute_run_as(home, &approver, &conn, &runtime, req).await?;
            let rep = &r.report;
            if rep.outcome.error().is_some() {
                failures += 1;
            }
            let writes = if *dry_run {
                format!("{} plan", rep.plan.len())
            } else {
                String::new()
            };
            if *dry_run {
                last_dry = Some(r.run_id.clone());
            }
            let report = rep
                .outputs
                .first()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let name: String = school.name.chars().take(28).collect();
            println!(
                "{name:<28} {plugin_id:<17} {:<5} {:<10} {:>5} {writes:>7} {:>8.2}  {report}",
                if *dry_run { "dry" } else { "live" },
                rep.outcome.status(),
                rep.calls,
                rep.duration.as_secs_f64()
            );
            if let Some(e) = rep.outcome.error() {
                println!("  error: {e}");
            }
        }
    }
    println!();
    println!(
        "What happened: course-report listed every course of each school as CSV; course-publisher"
    );
    println!(
        "planned (dry run: nothing sent) and then published the unpublished courses. The plugins"
    );
    println!("never saw the Canvas token; every call carried a per-plugin User-Agent.");
    println!("Next: `easel runs` lists the runs; `easel runs show <run>` shows one");
    if let Some(id) = last_dry {
        println!("      `easel runs show {id} --plan` shows a dry run's plan");
    }
    Ok(if failures == 0 {
        Outcome::Success
    } else {
        Outcome::RunFailed
    })
}

//! `easel demo`: the guided tour against the embedded simulator.

use easel_runtime::Limits;

use easel_app::{Actor, Connection, Home, Role, RunRequest, SignIn, execute_run_as};

use crate::error::{CliError, Outcome};

/// Who the demo says added and approved the plugins.
const DEMO_CONTRIBUTOR: &str = "demo-contributor";
const DEMO_ADMIN: &str = "demo-admin";

pub(crate) async fn demo(home: &Home) -> Result<Outcome, CliError> {
    // The tour adds and approves plugins: only for whoever may do anything.
    crate::local_actor(home)?.require(easel_app::Act::ManageUsers)?;
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

/// `easel demo --serve`: the service tour. A school's IT person and an
/// approver sign in to `easel serve` with passwords, and the flow goes
/// through the API as it would from their own machines.
pub(crate) async fn demo_serve(home: &Home) -> Result<Outcome, CliError> {
    use base64::Engine as _;
    use serde_json::json;

    println!("easel demo --serve: data in {}", home.root().display());
    let root = crate::local_actor(home)?;
    root.require(easel_app::Act::ManageUsers)?;
    let principals = home.principals();
    // Two people, each with a fresh password (the demo sets it again when
    // they exist from an earlier tour).
    let school = 2;
    let mut passwords = Vec::new();
    for (name, role) in [
        (
            "demo-school-it",
            Role::SchoolContributor {
                schools: vec![school],
            },
        ),
        ("demo-approver", Role::Approver),
    ] {
        let password = match home.store.user(name)? {
            None => principals.add_user(&root, name, vec![role])?.password,
            Some(_) => {
                let pw = format!("demo-{}", easel_app::new_run_id());
                principals.set_password(&root, name, &pw)?;
                pw
            }
        };
        passwords.push(password);
    }
    let server = easel_server::Server::new(home.root().to_path_buf(), home.cache_override())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| CliError::Failed(e.into()))?;
    let url = format!(
        "http://{}",
        listener
            .local_addr()
            .map_err(|e| CliError::Failed(e.into()))?
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(easel_server::serve(listener, server, async move {
        let _ = stopped.await;
    }));
    println!("started easel serve at {url}/api/v1 (loopback only), over the embedded simulator");

    let it = crate::client::Client::sign_in(&url, "demo-school-it", &passwords[0], None).await?;
    let approver =
        crate::client::Client::sign_in(&url, "demo-approver", &passwords[1], None).await?;
    println!(
        "signed in demo-school-it (contributor for school {school}) and demo-approver (approver) with passwords"
    );

    let p = &easel_bundled::COURSE_REPORT;
    let added = it
        .post(
            "/api/v1/plugins",
            &json!({"manifest": p.manifest,
                    "component_base64": base64::engine::general_purpose::STANDARD.encode(p.wasm),
                    "label": p.name}),
        )
        .await?;
    println!(
        "demo-school-it submitted {} {} (sha256 {})",
        added["id"].as_str().unwrap_or_default(),
        added["version"].as_str().unwrap_or_default(),
        &added["digest"].as_str().unwrap_or_default()[..12]
    );
    let digest = added["digest"].as_str().unwrap_or_default().to_owned();
    let version = format!("course-report@{digest}");
    match it
        .post(
            &format!("/api/v1/plugins/{version}/approve"),
            &json!({"schools": [school], "read_only": true}),
        )
        .await
    {
        Err(e) => println!("demo-school-it tried to approve it too, and was refused: {e}"),
        Ok(_) => {
            return Err(CliError::Failed(anyhow::anyhow!(
                "a contributor approved its own plugin"
            )));
        }
    }
    approver
        .post(
            &format!("/api/v1/plugins/{version}/approve"),
            &json!({"schools": [school], "read_only": true}),
        )
        .await?;
    println!("demo-approver approved it for school {school}, read only");
    let run =
        |dry_run: bool| json!({"plugin": "course-report", "school": school, "dry_run": dry_run});
    if let Err(e) = it.post("/api/v1/runs", &run(false)).await {
        println!("demo-school-it may not run it live: {e}");
    }
    let dry = it.post("/api/v1/runs", &run(true)).await?;
    let live = approver.post("/api/v1/runs", &run(false)).await?;
    for (who, r) in [("demo-school-it", &dry), ("demo-approver", &live)] {
        println!(
            "{who} ran it{} for {}: run {} {}, {} Canvas call(s)",
            if r["dry_run"] == true {
                " dry"
            } else {
                " live"
            },
            r["school_name"].as_str().unwrap_or_default(),
            r["id"].as_str().unwrap_or_default(),
            r["status"].as_str().unwrap_or_default(),
            r["calls"]
        );
    }
    let run_id = dry["id"].as_str().unwrap_or_default();
    let csv = it
        .send(reqwest::Client::new().get(format!("{url}/api/v1/runs/{run_id}/reports/courses.csv")))
        .await?
        .text()
        .await
        .map_err(|e| CliError::Failed(e.into()))?;
    println!(
        "demo-school-it downloaded the report of run {run_id} ({} courses); its first lines:",
        csv.lines().count().saturating_sub(1)
    );
    for line in csv.lines().take(3) {
        println!("  {line}");
    }
    let _ = stop.send(());
    let _ = serving.await;
    println!();
    println!(
        "What happened: the school's IT person submitted and dry-ran from a client with only an API token;"
    );
    println!(
        "the approver, a different person, approved; the run happened in the server, with its Canvas token,"
    );
    println!("which no client ever saw. Every step is in the audit log: `easel audit tail`.");
    println!(
        "For real: `easel serve`, then on each person's machine `easel login --server URL --name NAME` (README)."
    );
    Ok(Outcome::Success)
}

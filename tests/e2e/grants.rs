//! Grants end to end: the admin's terms (dry runs only, runs per day,
//! expiry, scopes, write limits) hold at run time and cannot exceed the
//! manifest's request (scopes, masquerading, calls); a live run
//! after a reviewed plan sends exactly the planned writes; sections and
//! users of other schools are refused.

use easel_app::{RunRequest, execute_run};
use easel_runtime::{Limits, RunOutcome};
use easel_tests::{add_bundled, canary_token, connect, programs, sim_with_token};

easel_tests::matrix!();

/// A probe plugin whose manifest requests the given extra capability lines.
fn probe_manifest(extra: &str) -> String {
    easel_tests::test_manifest("probe", true)
        .replace("max_calls = 50\n", &format!("max_calls = 50\n{extra}\n"))
}

fn submit_probe(h: &easel_app::Home, extra: &str) {
    let bytes = std::fs::read(programs::TEST_PROBE).unwrap();
    easel_app::add(
        h,
        &easel_tests::person("school-it"),
        &bytes,
        &probe_manifest(extra),
        "probe",
    )
    .unwrap();
}

/// Approve the probe for school 2 with `terms`; the error's text if refused.
fn approve(h: &easel_app::Home, terms: easel_store::GrantTerms) -> Result<(), String> {
    let options = easel_app::ApproveOptions {
        write: true,
        terms,
        ..Default::default()
    };
    easel_app::approve_with(h, "probe", &[2], &easel_tests::person("admin"), &options)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admins_terms_hold_at_run_time() {
    use easel_store::GrantTerms;
    let dir = tempfile::tempdir().unwrap();
    let h = home(&dir.path().join("home"));
    submit_probe(
        &h,
        r#"scopes = ["url:GET|/api/v1/accounts/:account_id", "url:GET|/api/v1/accounts/:account_id/courses"]"#,
    );
    let scopes = |s: &str| Some(vec![s.to_owned()]);
    // The grant may narrow the request, never widen it.
    let e = approve(
        &h,
        GrantTerms {
            scopes: scopes("url:GET|/api/v1/courses/:id"),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(e.contains("does not request scope"), "{e}");
    let e = approve(
        &h,
        GrantTerms {
            masquerade: true,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(e.contains("masquerade"), "{e}");
    approve(
        &h,
        GrantTerms {
            max_calls: Some(51),
            ..Default::default()
        },
    )
    .unwrap_err();

    // Dry runs only, and one run a day.
    let admin = easel_tests::person("admin");
    let run = |dry: bool| easel_tests::run_as(&h, &admin, "probe", 2, dry, &[]);
    approve(
        &h,
        GrantTerms {
            dry_run_only: true,
            runs_per_day: Some(1),
            ..Default::default()
        },
    )
    .unwrap();
    let e = run(false).await.unwrap_err().to_string();
    assert!(e.contains("dry runs only"), "{e}");
    run(true).await.unwrap();
    let e = run(true).await.unwrap_err().to_string();
    assert!(e.contains("1 run(s) in 24 hours"), "{e}");

    // An expired grant does not run.
    approve(
        &h,
        GrantTerms {
            expires_at: Some("2020-01-01T00:00:00Z".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let e = run(true).await.unwrap_err().to_string();
    assert!(e.contains("expired"), "{e}");

    // Only the granted scope: the account may be read, its courses not.
    approve(
        &h,
        GrantTerms {
            scopes: scopes("url:GET|/api/v1/accounts/:account_id"),
            ..Default::default()
        },
    )
    .unwrap();
    let params = [
        ("get", "/api/v1/accounts/2"),
        ("list", "/api/v1/accounts/2/courses"),
    ];
    let r = easel_tests::run_as(&h, &admin, "probe", 2, false, &params)
        .await
        .unwrap();
    assert_eq!(r.report.outcome, RunOutcome::Succeeded, "{}", r.report.log);
    let last = &h.store.runs(1).unwrap()[0];
    let report = std::fs::read_to_string(&last.outputs[0]).unwrap();
    let v: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert!(v["get"]["ok"].is_object(), "{v}");
    assert!(
        v["list"]["error"]
            .as_str()
            .unwrap()
            .contains("not-in-scope"),
        "{v}"
    );
    // The denial is in the audit log with its rule.
    let denied: Vec<_> = h
        .audit
        .records(&easel_store::AuditFilter::default(), None)
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "canvas-request-denied")
        .collect();
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(
        denied[0].path.as_deref(),
        Some("/api/v1/accounts/2/courses")
    );
    assert!(
        denied[0]
            .detail
            .as_deref()
            .unwrap()
            .starts_with("not-in-scope")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sections_and_users_of_other_schools_are_refused() {
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    let (school, own_section, other_section, own_user, other_user) = sim.with_data(|d| {
        let schools = d.schools();
        let (a, b) = (schools[0].id, schools[1].id);
        let section_in = |s: u64| {
            let course = d.courses_in(s)[0].id;
            d.sections
                .values()
                .find(|x| x.course_id == course)
                .unwrap()
                .id
        };
        // A user enrolled only in school b's courses.
        let only_in = |s: u64, not: u64| {
            d.users
                .keys()
                .copied()
                .find(|u| {
                    let courses: Vec<u64> = d
                        .enrollments
                        .values()
                        .filter(|e| e.user_id == *u)
                        .map(|e| e.course_id)
                        .collect();
                    !courses.is_empty()
                        && courses
                            .iter()
                            .all(|c| d.is_within(d.courses[c].account_id, s))
                        && !courses
                            .iter()
                            .any(|c| d.is_within(d.courses[c].account_id, not))
                })
                .unwrap()
        };
        (
            a,
            section_in(a),
            section_in(b),
            only_in(a, b),
            only_in(b, a),
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path());
    easel_tests::add_and_approve(&h, programs::TEST_PROBE, "probe", school, true);
    let conn = connect(sim, &token);
    let runtime = h.runtime().unwrap();
    let mut outcomes = Vec::new();
    for path in [
        format!("/api/v1/sections/{own_section}"),
        format!("/api/v1/sections/{other_section}"),
        format!("/api/v1/users/{own_user}"),
        format!("/api/v1/users/{other_user}"),
    ] {
        let req = RunRequest {
            plugin: "probe".into(),
            school,
            dry_run: false,
            params: vec![("get".into(), path.clone())],
            limits: Limits::default(),
            plan: None,
        };
        let r = execute_run(&h, &conn, &runtime, req).await.unwrap();
        assert_eq!(r.report.outcome, RunOutcome::Succeeded, "{}", r.report.log);
        let v: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(r.output_dir.join("probe.json")).unwrap(),
        )
        .unwrap();
        outcomes.push((path, v["get"].clone()));
    }
    assert!(
        outcomes[0].1["ok"].is_object(),
        "own section: {:?}",
        outcomes[0]
    );
    assert!(
        outcomes[1].1["error"]
            .as_str()
            .unwrap()
            .contains("school-boundary"),
        "{:?}",
        outcomes[1]
    );
    assert!(
        outcomes[2].1["ok"].is_object(),
        "own user: {:?}",
        outcomes[2]
    );
    assert!(
        outcomes[3].1["error"]
            .as_str()
            .unwrap()
            .contains("school-boundary"),
        "{:?}",
        outcomes[3]
    );
    // The host's lookups that placed them are in the audit log too.
    let lookups: Vec<_> = h
        .audit
        .records(&easel_store::AuditFilter::default(), None)
        .unwrap()
        .into_iter()
        .filter(|r| r.detail.as_deref().is_some_and(|d| d.contains("lookup")))
        .collect();
    assert!(
        lookups.iter().any(|r| r.path.as_deref()
            == Some(format!("/api/v1/sections/{other_section}").as_str())
            && r.action == "canvas-response"
            && r.status == Some(200)),
        "{lookups:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_run_after_a_plan_sends_exactly_the_planned_writes() {
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    let school = sim.with_data(|d| d.schools()[0].id);
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path());
    add_bundled(&h, &easel_bundled::COURSE_PUBLISHER, school, true);
    let conn = connect(sim, &token);
    let runtime = h.runtime().unwrap();
    let req = |dry_run: bool, limits: Limits| RunRequest {
        plugin: "course-publisher".into(),
        school,
        dry_run,
        params: vec![("action".into(), "publish".into())],
        limits,
        plan: None,
    };
    let plan = execute_run(&h, &conn, &runtime, req(true, Limits::default()))
        .await
        .unwrap();
    assert_eq!(
        plan.report.outcome,
        RunOutcome::Succeeded,
        "{}",
        plan.report.log
    );
    assert!(
        plan.report.plan.len() >= 2,
        "the demo school has unpublished courses"
    );
    let sim = conn.sim.as_ref().unwrap();
    let writes = || -> Vec<(String, String, serde_json::Value)> {
        sim.requests()
            .into_iter()
            .filter(|q| q.method != "GET")
            .map(|q| {
                (
                    q.method.clone(),
                    q.path.clone(),
                    serde_json::from_str(&q.body).unwrap_or_default(),
                )
            })
            .collect()
    };
    assert!(writes().is_empty(), "a dry run sends no write");

    let live = execute_run(&h, &conn, &runtime, req(false, Limits::default()))
        .await
        .unwrap();
    assert_eq!(
        live.report.outcome,
        RunOutcome::Succeeded,
        "{}",
        live.report.log
    );
    // The plan holds each body once, on its first step; later steps name it
    // by digest.
    let mut bodies = std::collections::HashMap::new();
    for p in &plan.report.plan {
        if let (Some(d), Some(b)) = (&p.body_sha256, &p.body) {
            bodies.insert(
                d.clone(),
                serde_json::from_str::<serde_json::Value>(b.get()).unwrap(),
            );
        }
    }
    let planned: Vec<(String, String, serde_json::Value)> = plan
        .report
        .plan
        .iter()
        .map(|p| {
            let body = p
                .body_sha256
                .as_ref()
                .map(|d| bodies[d].clone())
                .unwrap_or_default();
            (p.method.clone(), p.path.clone(), body)
        })
        .collect();
    assert_eq!(writes(), planned, "the live run's writes equal the plan");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_writes_stops_the_run_before_the_write_that_would_exceed_it() {
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    let school = sim.with_data(|d| d.schools()[0].id);
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path());
    add_bundled(&h, &easel_bundled::COURSE_PUBLISHER, school, true);
    let conn = connect(sim, &token);
    let runtime = h.runtime().unwrap();
    let req = RunRequest {
        plugin: "course-publisher".into(),
        school,
        dry_run: false,
        params: vec![("action".into(), "publish".into())],
        limits: Limits {
            max_writes: Some(1),
            ..Limits::default()
        },
        plan: None,
    };
    let r = execute_run(&h, &conn, &runtime, req).await.unwrap();
    let RunOutcome::Failed(e) = &r.report.outcome else {
        panic!("expected the run to stop: {:?}", r.report.outcome);
    };
    assert!(e.contains("at most 1 write"), "{e}");
    let puts = conn
        .sim
        .as_ref()
        .unwrap()
        .requests()
        .iter()
        .filter(|q| q.method == "PUT")
        .count();
    assert_eq!(puts, 1, "exactly the allowed write reached Canvas");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_plan_runs_the_planned_school_and_params_and_refuses_others() {
    let dir = tempfile::tempdir().unwrap();
    let h = home(&dir.path().join("home"));
    add_bundled(&h, &easel_bundled::COURSE_PUBLISHER, 2, true);
    let admin = easel_tests::person("admin");
    easel_tests::run_as(
        &h,
        &admin,
        "course-publisher",
        2,
        true,
        &[("action", "publish")],
    )
    .await
    .unwrap();
    let plan = h.store.runs(1).unwrap()[0].id.clone();
    // What `easel run PLUGIN --after-plan RUN [--param ...]` does.
    let after = |plugin: &str, plan: &str, params: &[(&str, &str)]| {
        let given: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let (h, admin, plugin, plan) = (&h, &admin, plugin.to_owned(), plan.to_owned());
        async move {
            let (school, planned) = easel_app::after_plan(h, &plugin, &plan, &given)?;
            let conn = easel_app::connection_for_grant(
                h,
                &plugin,
                school,
                &easel_app::ConnectOptions::default(),
            )
            .await?;
            let req = RunRequest {
                plugin,
                school,
                dry_run: false,
                params: planned,
                limits: Limits::default(),
                plan: Some(easel_app::PlanRef {
                    run: plan,
                    apply_only: false,
                }),
            };
            easel_app::execute_run_as(h, admin, &conn, &h.runtime()?, req).await
        }
    };
    let e = after("course-publisher", &plan, &[("action", "unpublish")])
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("differ from the plan"), "{e}");
    let e = after("course-report", &plan, &[])
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("planned course-publisher"), "{e}");
    after("course-publisher", &plan, &[]).await.unwrap();
    let runs = h.store.runs(2).unwrap();
    let (live, planned) = (&runs[0], &runs[1]);
    assert_eq!(planned.id, plan);
    assert!(!live.dry_run);
    assert_eq!(live.school, 2);
    assert_eq!(live.params, planned.params, "the plan's params");
    // A live run is not a plan.
    let live_id = live.id.clone();
    let e = after("course-publisher", &live_id, &[])
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a dry run"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assignment_in_a_body_is_placed_by_the_course_the_call_names() {
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    let (school, course, own, foreign) = sim.with_data(|d| {
        let schools = d.schools();
        let (a, b) = (schools[0].id, schools[1].id);
        let course = d.courses_in(a)[0].id;
        let other = d.courses_in(b)[0].id;
        let of = |c: u64| {
            d.assignments
                .values()
                .find(|x| x.course_id == c)
                .unwrap()
                .id
        };
        (a, course, of(course), of(other))
    });
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path());
    easel_tests::add_and_approve(&h, programs::TEST_PROBE, "probe", school, true);
    let conn = connect(sim, &token);
    let runtime = h.runtime().unwrap();
    let mut outcomes = Vec::new();
    for aid in [own, foreign] {
        let req = RunRequest {
            plugin: "probe".into(),
            school,
            dry_run: true,
            params: vec![
                (
                    "get".into(),
                    format!("/api/v1/courses/{course}/students/submissions"),
                ),
                ("query".into(), format!("assignment_ids[]={aid}")),
            ],
            limits: Limits::default(),
            plan: None,
        };
        let r = execute_run(&h, &conn, &runtime, req).await.unwrap();
        assert_eq!(r.report.outcome, RunOutcome::Succeeded, "{}", r.report.log);
        let v: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(r.output_dir.join("probe.json")).unwrap(),
        )
        .unwrap();
        outcomes.push(v["get"].clone());
    }
    assert!(
        !outcomes[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("Denied"),
        "own assignment: {}",
        outcomes[0]
    );
    assert!(
        outcomes[1]["error"]
            .as_str()
            .unwrap()
            .contains("school-boundary"),
        "foreign assignment: {}",
        outcomes[1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_the_manifest_does_not_declare_is_refused() {
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    let school = sim.with_data(|d| d.schools()[0].id);
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path());
    let bytes = std::fs::read(programs::TEST_PROBE).unwrap();
    easel_app::add(
        &h,
        &easel_tests::person("school-it"),
        &bytes,
        &probe_manifest(r#"reports = ["summary.csv"]"#),
        "probe",
    )
    .unwrap();
    easel_app::approve(&h, "probe", &[school], true, &easel_tests::person("admin")).unwrap();
    let conn = connect(sim, &token);
    let runtime = h.runtime().unwrap();
    let req = RunRequest {
        plugin: "probe".into(),
        school,
        dry_run: false,
        params: vec![],
        limits: Limits::default(),
        plan: None,
    };
    let r = execute_run(&h, &conn, &runtime, req).await.unwrap();
    let RunOutcome::Failed(e) = &r.report.outcome else {
        panic!("probe.json is not declared: {:?}", r.report.outcome);
    };
    assert!(e.contains("not among the reports"), "{e}");
    assert!(r.report.outputs.is_empty());
}

/// The compiled component is in the cache, by digest, once approval returns:
/// a run never compiles (a Python component takes seconds to).
#[test]
fn approval_compiles_the_component_into_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("home");
    // Its own cache, not the suite's shared one.
    let h = easel_app::Home::open_in(
        Some(root.clone()),
        easel_tests::matrix_database(env!("CARGO_CRATE_NAME"), &root),
    )
    .unwrap();
    submit_probe(&h, "");
    let cache = root.join("cache");
    let compiled = || {
        std::fs::read_dir(&cache)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
                    .count()
            })
            .unwrap_or(0)
    };
    assert_eq!(compiled(), 1, "submitting compiled it");
    // The cache is cleared (an upgrade, or an operator's clean-up).
    std::fs::remove_dir_all(&cache).unwrap();
    assert_eq!(compiled(), 0);
    approve(&h, easel_store::GrantTerms::default()).unwrap();
    assert_eq!(compiled(), 1, "approval compiled it again");
}

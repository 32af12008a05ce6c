//! A dry run sends no write and records each intended write; the live run
//! then sends exactly the planned writes.

use easel_app::{PLAN_EXPIRY_HOURS, PlanRef, RunRequest, execute_run};
use easel_runtime::{Limits, RunOutcome};
use easel_tests::{add_bundled, canary_token, connect, home, sim_with_token};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_sends_no_write_and_the_live_run_sends_the_plan() {
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    let school = sim.with_data(|d| d.schools()[2].id);
    let unpublished: Vec<u64> = sim.with_data(|d| {
        d.courses_in(school)
            .into_iter()
            .filter(|c| c.workflow_state == "unpublished")
            .map(|c| c.id)
            .collect()
    });
    assert!(!unpublished.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    add_bundled(&home, &easel_bundled::COURSE_PUBLISHER, school, true);
    let conn = connect(sim, &token);
    let runtime = home.runtime().unwrap();
    let run = |dry_run| RunRequest {
        plugin: "course-publisher".into(),
        school,
        dry_run,
        params: vec![("action".into(), "publish".into())],
        limits: Limits::default(),
        plan: None,
    };
    let sim = conn.sim.as_ref().unwrap();

    let dry = execute_run(&home, &conn, &runtime, run(true))
        .await
        .unwrap();
    assert_eq!(
        dry.report.outcome,
        RunOutcome::Succeeded,
        "log:\n{}",
        dry.report.log
    );
    let writes = |reqs: &[easel_sim::RecordedRequest]| {
        reqs.iter()
            .filter(|q| q.method != "GET")
            .map(|q| format!("{} {}", q.method, q.path))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        writes(&sim.requests()),
        Vec::<String>::new(),
        "a dry run sent a write"
    );
    let planned: Vec<String> = dry
        .report
        .plan
        .iter()
        .map(|p| format!("{} {}", p.method, p.path))
        .collect();
    let expected: Vec<String> = unpublished
        .iter()
        .map(|id| format!("PUT /api/v1/courses/{id}"))
        .collect();
    assert_eq!(planned, expected);
    // Every step sends the same body; the plan holds it once.
    let first = dry.report.plan[0]
        .body
        .as_ref()
        .expect("the first step holds the body");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(first.get()).unwrap(),
        serde_json::json!({"course": {"event": "offer"}})
    );
    let digest = dry.report.plan[0].body_sha256.clone();
    assert!(digest.is_some());
    assert!(dry.report.plan.iter().all(|p| p.body_sha256 == digest));
    assert!(dry.report.plan[1..].iter().all(|p| p.body.is_none()));
    let stored = home.store.run(&dry.run_id).unwrap().unwrap();
    assert_eq!(stored.plan.len(), unpublished.len());
    assert!(sim.with_data(|d| {
        unpublished
            .iter()
            .all(|id| d.courses[id].workflow_state == "unpublished")
    }));

    sim.clear_requests();
    let live = execute_run(&home, &conn, &runtime, run(false))
        .await
        .unwrap();
    assert_eq!(
        live.report.outcome,
        RunOutcome::Succeeded,
        "log:\n{}",
        live.report.log
    );
    assert_eq!(
        writes(&sim.requests()),
        planned,
        "the live run's writes equal the plan"
    );
    assert!(sim.with_data(|d| {
        unpublished
            .iter()
            .all(|id| d.courses[id].workflow_state == "available")
    }));
}

/// PUT a course's `event` straight to Canvas, as someone else would.
async fn change_course(sim: &easel_sim::SimHandle, course: u64, event: &str) {
    let resp = reqwest::Client::new()
        .put(format!("{}/api/v1/courses/{course}", sim.url()))
        .bearer_auth(sim.admin_token())
        .header("user-agent", "someone-else")
        .header("content-type", "application/json")
        .body(serde_json::json!({"course": {"event": event}}).to_string())
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewed_plan_binds_the_live_run_and_is_applied_once() {
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    let school = sim.with_data(|d| d.schools()[2].id);
    let unpublished: Vec<u64> = sim.with_data(|d| {
        d.courses_in(school)
            .into_iter()
            .filter(|c| c.workflow_state == "unpublished")
            .map(|c| c.id)
            .collect()
    });
    let published: Vec<u64> = sim.with_data(|d| {
        d.courses_in(school)
            .into_iter()
            .filter(|c| c.workflow_state == "available")
            .map(|c| c.id)
            .collect()
    });
    assert!(unpublished.len() >= 3 && !published.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    add_bundled(&home, &easel_bundled::COURSE_PUBLISHER, school, true);
    let conn = connect(sim, &token);
    let runtime = home.runtime().unwrap();
    let sim = conn.sim.as_ref().unwrap();
    let req = |dry_run, plan: Option<PlanRef>| RunRequest {
        plugin: "course-publisher".into(),
        school,
        dry_run,
        params: vec![("action".into(), "publish".into())],
        limits: Limits::default(),
        plan,
    };
    let bound = |run: &str, apply_only| {
        Some(PlanRef {
            run: run.to_owned(),
            apply_only,
        })
    };
    let dry = execute_run(&home, &conn, &runtime, req(true, None))
        .await
        .unwrap();
    assert_eq!(dry.report.plan.len(), unpublished.len());

    // Canvas drifts: the first planned course is published by someone
    // else, and a published course is unpublished.
    let (gone, drifted) = (unpublished[0], published[0]);
    change_course(sim, gone, "offer").await;
    change_course(sim, drifted, "claim").await;
    sim.clear_requests();

    let live = execute_run(
        &home,
        &conn,
        &runtime,
        req(false, bound(&dry.run_id, false)),
    )
    .await
    .unwrap();
    let puts: Vec<String> = sim
        .requests()
        .iter()
        .filter(|q| q.method == "PUT")
        .map(|q| q.path.clone())
        .collect();
    assert!(
        !puts.contains(&format!("/api/v1/courses/{drifted}")),
        "the unreviewed course reached Canvas: {puts:?}"
    );
    assert!(sim.with_data(|d| d.courses[&drifted].workflow_state == "unpublished"));
    assert!(live.report.denied >= 1);
    assert!(
        live.report.log.contains("not-in-plan"),
        "{}",
        live.report.log
    );
    let step_of = |course: u64| {
        live.report
            .plan_result
            .iter()
            .find(|s| s.path == format!("/api/v1/courses/{course}"))
            .unwrap()
            .clone()
    };
    assert_eq!(
        step_of(gone).state,
        "skipped",
        "the course published meanwhile"
    );
    assert_eq!(live.report.plan_result.len(), unpublished.len());
    for p in &puts {
        assert!(
            dry.report.plan.iter().any(|s| &s.path == p),
            "{p} was not planned"
        );
        let course: u64 = p.rsplit('/').next().unwrap().parse().unwrap();
        assert_eq!(step_of(course).state, "applied");
    }
    let stored = home.store.run(&live.run_id).unwrap().unwrap();
    assert_eq!(stored.applies.as_deref(), Some(dry.run_id.as_str()));
    assert_eq!(stored.plan_result.len(), unpublished.len());

    // Applied once: neither mode may apply the plan again.
    for apply_only in [false, true] {
        let again = execute_run(
            &home,
            &conn,
            &runtime,
            req(false, bound(&dry.run_id, apply_only)),
        )
        .await;
        let e = again.expect_err("a second apply is refused").to_string();
        assert!(
            e.contains("applied already") && e.contains(&live.run_id),
            "{e}"
        );
    }

    // `plan apply` sends exactly the planned writes, without the plugin.
    let dry = execute_run(&home, &conn, &runtime, req(true, None))
        .await
        .unwrap();
    assert!(!dry.report.plan.is_empty());
    sim.clear_requests();
    let applied = execute_run(&home, &conn, &runtime, req(false, bound(&dry.run_id, true)))
        .await
        .unwrap();
    assert_eq!(
        applied.report.outcome,
        RunOutcome::Succeeded,
        "{}",
        applied.report.log
    );
    let writes: Vec<(String, String, String)> = sim
        .requests()
        .iter()
        .filter(|q| q.method != "GET")
        .map(|q| (q.method.clone(), q.path.clone(), q.body.clone()))
        .collect();
    let planned: Vec<(String, String, String)> = dry
        .report
        .plan
        .iter()
        .map(|p| {
            (
                p.method.clone(),
                p.path.clone(),
                r#"{"course":{"event":"offer"}}"#.to_owned(),
            )
        })
        .collect();
    assert_eq!(writes, planned, "exactly the plan, in order");
    // The plugin did not run: every read was easel's own (a lookup, or
    // reading the school), none the plugin's.
    for q in sim.requests().iter().filter(|q| q.method == "GET") {
        let ua = q.header("user-agent").unwrap_or_default();
        assert!(
            ua.contains("(lookup; plugin=course-publisher@") || ua.contains("(admin;"),
            "{} {ua}",
            q.path
        );
    }
    assert!(
        applied
            .report
            .plan_result
            .iter()
            .all(|s| s.state == "applied")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_plan_is_refused() {
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    let school = sim.with_data(|d| d.schools()[2].id);
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    add_bundled(&home, &easel_bundled::COURSE_PUBLISHER, school, true);
    let conn = connect(sim, &token);
    let runtime = home.runtime().unwrap();
    let req = |dry_run, plan| RunRequest {
        plugin: "course-publisher".into(),
        school,
        dry_run,
        params: vec![("action".into(), "publish".into())],
        limits: Limits::default(),
        plan,
    };
    let dry = execute_run(&home, &conn, &runtime, req(true, None))
        .await
        .unwrap();
    // The plan was made two hours ago; plans expire after one.
    home.store.set_setting(PLAN_EXPIRY_HOURS, "1").unwrap();
    rusqlite::Connection::open(dir.path().join("easel.db"))
        .unwrap()
        .execute(
            "UPDATE runs SET finished_at = '2026-01-01T00:00:00Z' WHERE id = ?1",
            [&dry.run_id],
        )
        .unwrap();
    let plan = Some(PlanRef {
        run: dry.run_id.clone(),
        apply_only: true,
    });
    let e = execute_run(&home, &conn, &runtime, req(false, plan))
        .await
        .expect_err("an expired plan is refused")
        .to_string();
    assert!(e.contains("expired after 1"), "{e}");
    assert!(
        conn.sim
            .as_ref()
            .unwrap()
            .requests()
            .iter()
            .all(|q| q.method == "GET"),
        "nothing was written"
    );
}

//! A dry run sends no write and records each intended write; the live run
//! then sends exactly the planned writes.

use easel_cli::{RunRequest, execute_run};
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

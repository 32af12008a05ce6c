//! Hostile plugins end with the right status within their limits, and the
//! host then runs another plugin normally.

use std::time::Duration;

use easel_app::{RunRequest, execute_run};
use easel_runtime::{Limits, RunOutcome};
use easel_tests::{add_and_approve, canary_token, connect, home, programs, sim_with_token};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spinning_and_hoarding_plugins_are_stopped_and_the_host_carries_on() {
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    let school = sim.with_data(|d| d.schools()[0].id);
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    add_and_approve(&home, programs::TEST_SPIN, "spin", school, false);
    add_and_approve(&home, programs::TEST_HOG, "hog", school, false);
    add_and_approve(&home, programs::TEST_NOOP, "noop", school, false);
    let conn = connect(sim, &token);
    let runtime = home.runtime().unwrap();
    let limits = Limits {
        cpu: Duration::from_millis(500),
        wall: Duration::from_secs(5),
        memory_bytes: 32 << 20,
        ..Limits::default()
    };
    let run = |plugin: &str| RunRequest {
        plugin: plugin.into(),
        school,
        dry_run: false,
        params: vec![],
        limits: limits.clone(),
        plan: None,
    };

    let spin = execute_run(&home, &conn, &runtime, run("spin"))
        .await
        .unwrap();
    assert!(
        matches!(spin.report.outcome, RunOutcome::TimedOut(_)),
        "{:?}",
        spin.report.outcome
    );
    assert!(
        spin.report.duration < limits.wall,
        "stopped by the CPU limit, took {:?}",
        spin.report.duration
    );
    assert_eq!(
        home.store
            .run(&spin.run_id)
            .unwrap()
            .unwrap()
            .status
            .as_str(),
        "timed-out"
    );

    let hog = execute_run(&home, &conn, &runtime, run("hog"))
        .await
        .unwrap();
    assert!(
        matches!(hog.report.outcome, RunOutcome::MemoryLimit(_)),
        "{:?}",
        hog.report.outcome
    );
    assert_eq!(
        home.store
            .run(&hog.run_id)
            .unwrap()
            .unwrap()
            .status
            .as_str(),
        "memory-limit"
    );

    let noop = execute_run(&home, &conn, &runtime, run("noop"))
        .await
        .unwrap();
    assert_eq!(noop.report.outcome, RunOutcome::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wall_clock_limit_stops_a_plugin_when_the_cpu_limit_is_generous() {
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    let school = sim.with_data(|d| d.schools()[0].id);
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    add_and_approve(&home, programs::TEST_SPIN, "spin", school, false);
    let conn = connect(sim, &token);
    let runtime = home.runtime().unwrap();
    let limits = Limits {
        cpu: Duration::from_secs(600),
        wall: Duration::from_millis(800),
        ..Limits::default()
    };
    let r = execute_run(
        &home,
        &conn,
        &runtime,
        RunRequest {
            plugin: "spin".into(),
            school,
            dry_run: false,
            params: vec![],
            limits: limits.clone(),
            plan: None,
        },
    )
    .await
    .unwrap();
    match &r.report.outcome {
        RunOutcome::TimedOut(m) => assert!(m.contains("wall-clock"), "{m}"),
        other => panic!("expected timed-out, got {other:?}"),
    }
    assert!(
        r.report.duration < Duration::from_secs(3),
        "took {:?}",
        r.report.duration
    );
}

/// A run's guest executes as a task of its own (so concurrent runs use
/// every worker thread); when the caller gives up on the run (a cancelled
/// batch), that task is stopped and its instance slot is free for the next
/// run, rather than spinning on to its CPU limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_caller_gives_up_is_stopped_and_frees_its_slot() {
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    let school = sim.with_data(|d| d.schools()[0].id);
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    add_and_approve(&home, programs::TEST_SPIN, "spin", school, false);
    add_and_approve(&home, programs::TEST_NOOP, "noop", school, false);
    let conn = connect(sim, &token);
    // One slot: the next run can start only once the spinning one is gone.
    let runtime = home.runtime_for(1).unwrap();
    let run = |plugin: &str| RunRequest {
        plugin: plugin.into(),
        school,
        dry_run: false,
        params: vec![],
        limits: Limits {
            cpu: Duration::from_secs(40),
            wall: Duration::from_secs(40),
            ..Limits::default()
        },
        plan: None,
    };
    let gave_up = tokio::time::timeout(
        Duration::from_millis(300),
        execute_run(&home, &conn, &runtime, run("spin")),
    )
    .await;
    assert!(gave_up.is_err(), "the spinning run ended on its own");
    let started = std::time::Instant::now();
    let noop = loop {
        let r = tokio::time::timeout(
            Duration::from_secs(20),
            execute_run(&home, &conn, &runtime, run("noop")),
        )
        .await
        .expect("the next run did not end within 20 s")
        .unwrap();
        if r.report.outcome == RunOutcome::Succeeded || started.elapsed() > Duration::from_secs(20)
        {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        noop.report.outcome,
        RunOutcome::Succeeded,
        "the abandoned run still holds the only slot: {}",
        noop.report.log
    );
}

/// Runs of a plugin the host has not compiled yet, started together (a
/// node that just took a token over), wait for one compile: before, each
/// compiled it, and on 2 cores 160 runs spent half a minute doing so.
#[test]
fn runs_starting_together_compile_a_component_once() {
    let cache = tempfile::tempdir().unwrap();
    let runtime = std::sync::Arc::new(
        easel_runtime::Runtime::new(easel_runtime::EngineOptions::new(cache.path())).unwrap(),
    );
    let loaders: Vec<_> = (0..6)
        .map(|_| {
            let r = runtime.clone();
            std::thread::spawn(move || {
                r.load(easel_bundled::COURSE_REPORT.wasm, "course-report")
                    .unwrap()
            })
        })
        .collect();
    let loaded: Vec<_> = loaders.into_iter().map(|l| l.join().unwrap()).collect();
    assert_eq!(runtime.compiled(), 1, "compiled more than once");
    assert!(loaded.iter().all(|c| std::sync::Arc::ptr_eq(c, &loaded[0])));
    // Another runtime over the same cache compiles nothing.
    let again =
        easel_runtime::Runtime::new(easel_runtime::EngineOptions::new(cache.path())).unwrap();
    again
        .load(easel_bundled::COURSE_REPORT.wasm, "course-report")
        .unwrap();
    assert_eq!(again.compiled(), 0);
}

//! The run queue: a run is checked again when its turn comes, as its asker
//! now; a revoked approval or API token runs nothing. A claim made as the
//! process stops goes back to the queue, and a slow process's runs are not
//! marked interrupted while it lives (on one host; on PostgreSQL its lease
//! alone counts). A run whose grant moved to another token is refused.

use std::time::Duration;

use easel_app::queue;
use easel_runtime::{Limits, School};
use easel_store::RunStatus;
use easel_tests::{Workers, add_bundled, person};

easel_tests::matrix!();

/// Queue one dry run of the course report for school 2 as `by`.
async fn queue_one(dir: &std::path::Path, workers: &Workers, by: &easel_app::Actor) -> String {
    let h = home(dir);
    let conn = workers
        .connections()
        .for_grant(&h, "course-report", 2)
        .await
        .unwrap();
    let req = easel_app::RunRequest {
        plugin: "course-report".into(),
        school: 2,
        dry_run: true,
        params: Vec::new(),
        limits: Limits::default(),
        plan: None,
    };
    let school = School {
        id: 2,
        name: "Lincoln".into(),
    };
    queue::enqueue(&h, by, &conn, req, Some(school), None)
        .await
        .unwrap()
        .run
}

/// Run the queue until `id` has ended; its record.
async fn ended(dir: &std::path::Path, id: &str) -> easel_store::RunRow {
    let (_workers, _stop) = workers(dir);
    let h = home(dir);
    // A deadline, not a timing: on a cold cache a loaded CI machine takes
    // seconds to compile the component the first time.
    for _ in 0..1200 {
        let row = h.store.run(id).unwrap().unwrap();
        if !matches!(row.status, RunStatus::Queued | RunStatus::Running) {
            return row;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let row = h.store.run(id).unwrap().unwrap();
    panic!("run {id} did not end in 60 s: {row:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_run_is_checked_again_when_its_turn_comes() {
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path());
    add_bundled(&h, &easel_bundled::COURSE_REPORT, 2, false);
    let admin = person("admin");
    let (idle, stop) = workers(dir.path());
    idle.stop_claiming().await;

    // Asked with an API token that is revoked before the run starts.
    let p = h.principals();
    p.add_user(
        &admin,
        "ci",
        vec![easel_app::Role::SchoolContributor { schools: vec![2] }],
    )
    .unwrap();
    let issued = p.issue_token(&admin, "ci", "ci", None, None).unwrap();
    let ci = p.authenticate(&issued.token, "test").unwrap();
    let by_token = queue_one(dir.path(), &idle, &ci).await;
    // Asked by an admin, and the approval is revoked before it starts.
    let revoked = queue_one(dir.path(), &idle, &admin).await;
    drop(stop);
    p.revoke_token(&admin, &issued.id).unwrap();
    easel_app::revoke(&h, &admin, "course-report", &[2]).unwrap();
    let row = ended(dir.path(), &by_token).await;
    assert_eq!(row.status, RunStatus::Refused, "{row:?}");
    assert!(
        row.error
            .as_deref()
            .unwrap()
            .contains("was revoked or has expired"),
        "{row:?}"
    );
    assert_eq!(row.calls, 0);

    let row = ended(dir.path(), &revoked).await;
    assert_eq!(row.status, RunStatus::Refused, "{row:?}");
    assert!(
        row.error
            .as_deref()
            .unwrap()
            .contains("refused when its turn came")
    );

    // Approved again: a new run goes through.
    easel_app::approve(&h, "course-report", &[2], false, &admin).unwrap();
    let (idle, stop) = workers(dir.path());
    idle.stop_claiming().await;
    let ok = queue_one(dir.path(), &idle, &admin).await;
    drop(stop);
    let row = ended(dir.path(), &ok).await;
    assert_eq!(row.status, RunStatus::Succeeded, "{row:?}");
    assert!(row.calls > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_goes_back_when_stopping_and_a_live_slow_process_keeps_its_runs() {
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path());
    add_bundled(&h, &easel_bundled::COURSE_REPORT, 2, false);
    let admin = person("admin");
    let (idle, stop) = workers(dir.path());
    idle.stop_claiming().await;
    let id = queue_one(dir.path(), &idle, &admin).await;
    // The queue's own claim step, as the process stops: the run goes back.
    assert!(
        queue::claim_next(&*idle, &h, &[]).unwrap().is_none(),
        "a run claimed by a stopping queue is put back"
    );
    assert_eq!(h.store.run(&id).unwrap().unwrap().status, RunStatus::Queued);
    drop(stop);
    let me = easel_app::process::me();
    // Claimed, then given back when stopping: queued again.
    let lease = easel_store::now_ms() + 60_000;
    let claimed = h.store.claim_run(&me, lease, &[], None).unwrap().unwrap();
    assert_eq!(claimed.id, id);
    assert!(h.store.release_run(&id, &me).unwrap());
    assert_eq!(h.store.run(&id).unwrap().unwrap().status, RunStatus::Queued);
    // A lease already run out, held by this (live) process.
    h.store.claim_run(&me, 0, &[], None).unwrap().unwrap();
    let swept = h
        .store
        .interrupt_runs(None, &easel_app::process::alive)
        .unwrap();
    if on_postgres() {
        // Hosts sharing a database cannot see each other's processes: a
        // run whose lease ran out is interrupted, its process live or not.
        assert_eq!(swept, vec![id.clone()], "judged by its lease alone");
        let row = h.store.run(&id).unwrap().unwrap();
        assert_eq!(row.status, RunStatus::Interrupted);
        assert!(h.store.claim_run(&me, 0, &[], None).unwrap().is_none());
        return;
    }
    assert!(
        swept.is_empty(),
        "a live process's run is not interrupted for a lease"
    );
    assert!(h.store.release_run(&id, &me).unwrap());
    assert_eq!(h.store.run(&id).unwrap().unwrap().status, RunStatus::Queued);
    // Claimed by a process that is gone: interrupted, never run again.
    h.store.claim_run("1:gone", 0, &[], None).unwrap().unwrap();
    assert_eq!(
        h.store
            .interrupt_runs(None, &easel_app::process::alive)
            .unwrap(),
        vec![id.clone()]
    );
    let row = h.store.run(&id).unwrap().unwrap();
    assert_eq!(row.status, RunStatus::Interrupted);
    assert!(h.store.claim_run(&me, 0, &[], None).unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_retries_its_interrupted_read_only_runs_once_and_never_a_writer() {
    use easel_app::schedules::{self, NewSchedule};
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path());
    add_bundled(&h, &easel_bundled::COURSE_REPORT, 2, false);
    add_bundled(&h, &easel_bundled::COURSE_PUBLISHER, 2, true);
    let admin = person("admin");
    let now = jiff::Timestamp::now();
    let new = |plugin: &str, dry_run: bool, retry: bool| NewSchedule {
        plugin: plugin.into(),
        schools: vec![2],
        all_schools: false,
        cron: "0 6 * * *".into(),
        tz: "UTC".into(),
        dry_run,
        params: Vec::new(),
        overlap: "skip".into(),
        misfire: "skip".into(),
        retry_interrupted: retry,
    };
    // A live schedule of a plugin that may write cannot ask for retries.
    let e = schedules::add(&h, &admin, &new("course-publisher", false, true), now).unwrap_err();
    assert!(
        e.to_string().contains("only read-only runs are retried"),
        "{e}"
    );
    let report = schedules::add(&h, &admin, &new("course-report", false, true), now).unwrap();
    let plain = schedules::add(&h, &admin, &new("course-report", true, false), now).unwrap();

    // Each schedule's fire queues a run; a process that dies holds them.
    let (idle, stop) = workers(dir.path());
    idle.stop_claiming().await;
    let conn = idle
        .connections()
        .for_grant(&h, "course-report", 2)
        .await
        .unwrap();
    let mut queued = Vec::new();
    for (s, dry) in [(&report, false), (&plain, true)] {
        let req = easel_app::BatchRequest {
            plugin: "course-report".into(),
            schools: vec![2],
            all_schools: false,
            dry_run: dry,
            params: Vec::new(),
            max_writes: None,
            concurrency: 1,
        };
        let b = queue::enqueue_batch(&h, &admin, &conn, &req, &[2], Some(&s.id))
            .await
            .unwrap();
        queued.push(b.run_ids()[0].clone());
    }
    drop(stop);
    for _ in &queued {
        h.store.claim_run("1:gone", 0, &[], None).unwrap().unwrap();
    }
    let mut interrupted = h
        .store
        .interrupt_runs(None, &easel_app::process::alive)
        .unwrap();
    interrupted.sort();
    let mut expected = queued.clone();
    expected.sort();
    assert_eq!(interrupted, expected);

    // Only the retrying schedule's run is queued again, in its batch.
    let again = queue::retry_interrupted(&h, idle.connections())
        .await
        .unwrap();
    assert_eq!(again.len(), 1, "{again:?}");
    let first = h.store.run(&queued[0]).unwrap().unwrap();
    let retry = ended(dir.path(), &again[0]).await;
    assert_eq!(retry.status, RunStatus::Succeeded, "{retry:?}");
    assert_eq!(retry.batch, first.batch);
    // Never twice: neither the run again, nor its retry.
    assert!(
        queue::retry_interrupted(&h, idle.connections())
            .await
            .unwrap()
            .is_empty()
    );
}

/// A run is queued on the token its grant names; the grant moves to
/// another token before the run's turn: the run is refused, not run on a
/// token it was not claimed for (with many hosts, one another host may be
/// spending).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_grant_moved_to_another_token_is_refused_when_its_turn_comes() {
    const TA: &str = "7~QUEUETOKENA00000000000000000000000000000000000000000000000000000";
    const TB: &str = "7~QUEUETOKENB00000000000000000000000000000000000000000000000000000";
    let sim = easel_tests::sim_with_token(TA).await;
    sim.add_token(TB, easel_sim::ADMIN_USER_ID);
    let school = sim.with_data(|d| d.schools()[0].id);
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path());
    easel_tests::prod_with_tokens(&h, sim.url(), &[("ta", TA), ("tb", TB)]);
    let r = &easel_bundled::COURSE_REPORT;
    easel_app::add(&h, &person("contributor"), r.wasm, r.manifest, r.name).unwrap();
    let admin = person("admin");
    let approve_on = |token: &str| {
        easel_app::approve_on(
            &h,
            "course-report",
            &[school],
            false,
            &admin,
            &easel_tests::on_prod(token),
        )
        .unwrap()
    };
    approve_on("ta");

    let (idle, stop) = workers(dir.path());
    idle.stop_claiming().await;
    let conn = idle
        .connections()
        .for_grant(&h, "course-report", school)
        .await
        .unwrap();
    assert_eq!(conn.token_id.as_deref(), Some("ta"));
    let req = easel_app::RunRequest {
        plugin: "course-report".into(),
        school,
        dry_run: true,
        params: Vec::new(),
        limits: Limits::default(),
        plan: None,
    };
    let id = queue::enqueue(&h, &admin, &conn, req, None, None)
        .await
        .unwrap()
        .run;
    drop(stop);
    // The grant now names token tb.
    easel_app::revoke(&h, &admin, "course-report", &[school]).unwrap();
    approve_on("tb");
    sim.clear_requests();

    let row = ended(dir.path(), &id).await;
    assert_eq!(row.status, RunStatus::Refused, "{row:?}");
    assert!(
        row.error
            .as_deref()
            .unwrap()
            .contains("queued on token ta and its grant now uses tb"),
        "{row:?}"
    );
    assert_eq!(row.calls, 0);
    assert!(
        sim.requests().iter().all(|q| q
            .header("user-agent")
            .is_none_or(|ua| !ua.contains("course-report"))),
        "the plugin reached Canvas"
    );
}

//! Several schools at once: `easel run --schools/--all-schools` runs one
//! plugin instance per school and records each; runs sharing a token share
//! its rate limit evenly.

use easel_app::{RunRequest, execute_run};
use easel_runtime::{Limits, RunOutcome};
use easel_tests::{add_and_approve, add_bundled, canary_token, connect, programs};

easel_tests::matrix!();

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_schools_runs_once_per_approved_school_and_records_each() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("home");
    let h = home(&root);
    // The embedded simulator's demo institution: schools 2, 4, 6, 8.
    for school in [2, 4, 6] {
        if school == 2 {
            add_bundled(&h, &easel_bundled::COURSE_REPORT, school, false);
        } else {
            easel_app::approve(
                &h,
                "course-report",
                &[school],
                false,
                &easel_tests::person("admin"),
            )
            .unwrap();
        }
    }
    let admin = easel_tests::person("admin");
    let r = easel_tests::batch(
        &h,
        &admin,
        easel_app::BatchRequest {
            all_schools: true,
            params: vec![("sections".into(), "true".into())],
            ..easel_tests::batch_request("course-report")
        },
    )
    .await
    .unwrap();
    assert_eq!((r.succeeded, r.failed), (3, 0), "{r:?}");
    assert!(!r.batch.is_empty());
    let runs = h.store.runs(10).unwrap();
    let mut schools: Vec<u64> = runs.iter().map(|r| r.school).collect();
    schools.sort_unstable();
    assert_eq!(schools, vec![2, 4, 6], "one run per approved school");
    for run in &runs {
        assert_eq!(run.status.as_str(), "succeeded", "{}", run.log);
        assert_eq!(run.batch.as_deref(), Some(r.batch.as_str()));
        let csv = std::fs::read_to_string(&run.outputs[0]).unwrap();
        assert!(
            csv.starts_with("course_id,")
                && csv
                    .lines()
                    .next()
                    .unwrap()
                    .ends_with(",sections,section_names")
        );
    }

    // A school without a grant is reported, the others still run.
    let r = easel_tests::batch(
        &h,
        &admin,
        easel_app::BatchRequest {
            schools: vec![4, 8],
            ..easel_tests::batch_request("course-report")
        },
    )
    .await
    .unwrap();
    assert_eq!((r.succeeded, r.failed), (1, 1), "{r:?}");
    assert_eq!(r.runs[1].school, 8);
    assert_eq!(r.runs[1].status, "not-run");
    let runs = h.store.runs(10).unwrap();
    assert_eq!(runs.len(), 4, "school 8 was not run");
    assert_eq!(runs[0].school, 4);

    // Naming nothing to run for is bad input.
    let e = easel_tests::batch(
        &h,
        &admin,
        easel_app::BatchRequest {
            all_schools: true,
            ..easel_tests::batch_request("course-publisher")
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind, easel_app::Kind::Invalid);
    assert!(e.to_string().contains("easel plugin list"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_section_columns_match_the_simulators_data() {
    let token = canary_token();
    let sim = easel_tests::sim_with_token(&token).await;
    let school = sim.with_data(|d| d.schools()[0].id);
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path());
    add_bundled(&h, &easel_bundled::COURSE_REPORT, school, false);
    let conn = connect(sim, &token);
    let runtime = h.runtime().unwrap();
    let req = RunRequest {
        plugin: "course-report".into(),
        school,
        dry_run: false,
        params: vec![("sections".into(), "true".into())],
        limits: Limits::default(),
        plan: None,
    };
    let r = execute_run(&h, &conn, &runtime, req).await.unwrap();
    assert_eq!(r.report.outcome, RunOutcome::Succeeded, "{}", r.report.log);
    let mut reader = csv::Reader::from_path(&r.report.outputs[0]).unwrap();
    let mut rows = 0;
    for row in reader.records() {
        let row = row.unwrap();
        let course: u64 = row[0].parse().unwrap();
        let expected: Vec<String> = conn.sim.as_ref().unwrap().with_data(|d| {
            d.sections
                .values()
                .filter(|s| s.course_id == course)
                .map(|s| s.name.clone())
                .collect()
        });
        assert_eq!(row[9].parse::<usize>().unwrap(), expected.len());
        assert_eq!(&row[10], expected.join("; ").as_str());
        rows += 1;
    }
    assert!(rows > 0);
    assert_eq!(
        r.report.calls as usize,
        rows + 1,
        "one list call plus one per course"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_runs_on_one_token_get_equal_shares() {
    let token = canary_token();
    let sim = easel_tests::sim_with_token(&token).await;
    // Each call costs a full reservation, and the bucket leaks 20 calls' worth
    // per real second: the token, not the plugins, sets the pace.
    let throttle = easel_sim::ThrottleConfig {
        request_cost: 50.0,
        time_scale: 100.0,
        ..easel_sim::ThrottleConfig::default()
    };
    sim.set_throttle(throttle.clone());
    let (a, b) = sim.with_data(|d| (d.schools()[0].id, d.schools()[1].id));
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path());
    add_and_approve(&h, programs::TEST_BENCH_GET, "bench-get", a, false);
    easel_app::approve(&h, "bench-get", &[b], false, &easel_tests::person("admin")).unwrap();
    let conn = connect(sim, &token);
    let runtime = h.runtime().unwrap();
    let req = |school: u64| RunRequest {
        plugin: "bench-get".into(),
        school,
        dry_run: false,
        params: vec![
            ("n".into(), "40".into()),
            ("path".into(), format!("/api/v1/accounts/{school}")),
        ],
        limits: Limits::default(),
        plan: None,
    };
    let (ra, rb) = tokio::join!(
        execute_run(&h, &conn, &runtime, req(a)),
        execute_run(&h, &conn, &runtime, req(b))
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.report.outcome, RunOutcome::Succeeded);
    assert_eq!(rb.report.outcome, RunOutcome::Succeeded);
    let sim = conn.sim.as_ref().unwrap();
    assert_eq!(
        sim.throttled_count(),
        0,
        "the governor kept under the limit"
    );
    // Canvas's order of arrival: while both runs waited for the token (from
    // the later one's first request, and after the opening burst the empty
    // bucket admits without waiting, to the end of the one that finished
    // first), how many requests did each get? The runs' tasks start on
    // different threads, so one may have the burst to itself.
    let order: Vec<String> = sim
        .requests()
        .iter()
        .filter_map(|q| q.header("user-agent"))
        .filter_map(|ua| {
            ua.split("run=")
                .nth(1)?
                .split(';')
                .next()
                .map(str::to_owned)
        })
        .collect();
    let last = |run: &str| order.iter().rposition(|r| r == run).unwrap();
    let (first, other) = if last(&ra.run_id) < last(&rb.run_id) {
        (&ra.run_id, &rb.run_id)
    } else {
        (&rb.run_id, &ra.run_id)
    };
    let cut = last(first);
    let start = |run: &str| order.iter().position(|r| r == run).unwrap();
    let burst = (throttle.hwm / throttle.request_cost) as usize;
    let both = start(first).max(start(other)).max(burst);
    let done = |run: &str| order[both..=cut].iter().filter(|r| *r == run).count() as f64;
    let (x, y) = (done(first), done(other));
    assert!(
        (x - y).abs() / x.max(y) <= 0.2,
        "shares differ by more than 20%: {x} and {y} calls"
    );
    // Neither the governor's state nor the runs' records show the token.
    let shown = format!("{:?} {:?}", conn.client, conn.client.governor());
    assert!(!shown.contains(&token), "{shown}");
    for (path, bytes) in easel_tests::read_all_files(dir.path()) {
        assert!(
            !easel_tests::contains(&bytes, token.as_bytes()),
            "the token is in {path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_plugin_stops_its_queued_runs() {
    let token = canary_token();
    let sim = easel_tests::sim_with_token(&token).await;
    // Each call waits a little, so the first run is still going when the
    // admin revokes.
    sim.set_faults(easel_sim::Faults {
        latency: Some(std::time::Duration::from_millis(20)),
        ..easel_sim::Faults::default()
    });
    let (a, b) = sim.with_data(|d| (d.schools()[0].id, d.schools()[1].id));
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path());
    add_and_approve(&h, programs::TEST_BENCH_GET, "bench-get", a, false);
    easel_app::approve(&h, "bench-get", &[b], false, &easel_tests::person("admin")).unwrap();
    let conn = connect(sim, &token);
    let runtime = h.runtime().unwrap();
    let req = |school: u64| RunRequest {
        plugin: "bench-get".into(),
        school,
        dry_run: false,
        params: vec![
            ("n".into(), "15".into()),
            ("path".into(), format!("/api/v1/accounts/{school}")),
        ],
        limits: Limits::default(),
        plan: None,
    };
    let sim = conn.sim.as_ref().unwrap();
    let admin = async {
        // Another admin, another connection to the same database.
        while !sim.requests().iter().any(|q| {
            q.header("user-agent")
                .is_some_and(|ua| ua.contains("plugin=bench-get"))
        }) {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let other = home(dir.path());
        assert_eq!(other.store.revoke("bench-get", &[]).unwrap(), vec![a, b]);
    };
    // One run at a time: school b's run waits in the queue behind a's.
    let known = std::collections::HashMap::new();
    let me = easel_tests::person("admin");
    let (results, ()) = tokio::join!(
        easel_app::execute_many(
            &h,
            &me,
            &conn,
            &runtime,
            vec![req(a), req(b)],
            &known,
            1,
            &easel_app::Quiet
        ),
        admin
    );
    let by_school: std::collections::HashMap<u64, _> = results.into_iter().collect();
    let first = by_school[&a].as_ref().expect("the running run finishes");
    assert_eq!(first.report.outcome, RunOutcome::Succeeded);
    let queued = by_school[&b]
        .as_ref()
        .expect_err("the queued run is refused");
    assert!(queued.to_string().contains("was revoked"), "{queued}");
}

/// More runs at once than wasmtime's default 1,000 fiber stacks: each run
/// executes on a stack of its own for as long as it lasts, so a runtime
/// sized for 1,100 instances must run 1,050 runs that all wait on Canvas at
/// the same moment (the 1,001st trapped before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_a_thousand_runs_wait_on_canvas_at_once() {
    const SCHOOLS: usize = 1_050;
    let sim = easel_sim::Simulator::start(easel_sim::SimConfig {
        preset: easel_sim::Preset::Custom(easel_sim::Sizes {
            schools: SCHOOLS,
            courses_per_school: 1,
            students_per_school: 2,
            teachers_per_school: 1,
        }),
        // (Canvas then reports the high-water mark as its room.)
        throttle: easel_sim::ThrottleConfig {
            enabled: false,
            hwm: 1e9,
            maximum: 1e9,
            ..easel_sim::ThrottleConfig::default()
        },
        ..easel_sim::SimConfig::default()
    })
    .await
    .unwrap();
    // Every run's one call waits here while the others start.
    sim.set_faults(easel_sim::Faults {
        latency: Some(std::time::Duration::from_millis(400)),
        ..easel_sim::Faults::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let h = home(&dir.path().join("home"));
    let report = &easel_bundled::COURSE_REPORT;
    easel_app::add(
        &h,
        &easel_tests::person("dev"),
        report.wasm,
        report.manifest,
        report.name,
    )
    .unwrap();
    // A bucket with room for every call at once.
    let bucket = easel_canvas::GovernorConfig {
        hwm: 1e9,
        ..easel_canvas::GovernorConfig::default()
    };
    let token = easel_canvas::Token::new(secrecy::SecretString::from(sim.admin_token().to_owned()));
    let conn = easel_app::Connection::to_url(sim.url(), token, bucket).unwrap();
    let schools = conn.schools().await.unwrap();
    assert_eq!(schools.len(), SCHOOLS);
    let ids: Vec<u64> = schools.iter().map(|s| s.id).collect();
    let admin = easel_tests::person("admin");
    easel_app::approve(&h, "course-report", &ids, false, &admin).unwrap();
    let runtime = h.runtime_for(1_100).unwrap();
    let known = schools.into_iter().map(|s| (s.id, s)).collect();
    let reqs = ids
        .iter()
        .map(|&school| RunRequest {
            plugin: "course-report".into(),
            school,
            dry_run: false,
            params: vec![],
            limits: Limits::default(),
            plan: None,
        })
        .collect();
    let results = easel_app::execute_many(
        &h,
        &admin,
        &conn,
        &runtime,
        reqs,
        &known,
        SCHOOLS,
        &easel_app::Quiet,
    )
    .await;
    assert_eq!(results.len(), SCHOOLS);
    let failed: Vec<String> = results
        .iter()
        .filter_map(|(_, r)| match r {
            Err(e) => Some(e.to_string()),
            Ok(r) => r.report.outcome.error().map(str::to_owned),
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {SCHOOLS} runs failed, the first: {}",
        failed.len(),
        failed[0]
    );
}

/// The schools are the root account's sub-accounts, read by following the
/// `next` links Canvas sends: 320 schools at 100 to a page are 4 requests,
/// none spent on a page past the end (the district job made one request
/// more than the canvasapi script for it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schools_are_read_in_as_many_pages_as_they_fill() {
    let sim = easel_sim::Simulator::start(easel_sim::SimConfig {
        preset: easel_sim::Preset::District,
        record_requests: true,
        ..easel_sim::SimConfig::default()
    })
    .await
    .unwrap();
    let token = easel_canvas::Token::new(secrecy::SecretString::from(sim.admin_token().to_owned()));
    let conn =
        easel_app::Connection::to_url(sim.url(), token, easel_canvas::GovernorConfig::default())
            .unwrap();
    let schools = conn.schools().await.unwrap();
    assert_eq!(schools.len(), 320);
    let mut ids: Vec<u64> = schools.iter().map(|s| s.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 320, "each school once");
    let pages = sim
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/sub_accounts"))
        .count();
    assert_eq!(pages, 4, "one request per page of 100");
}

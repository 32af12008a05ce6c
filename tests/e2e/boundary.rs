//! A run is bound to its school: naming another school's course or account
//! is denied with the typed error, and nothing about it reaches Canvas.

use easel_app::{RunRequest, execute_run};
use easel_runtime::{Limits, RunOutcome};
use easel_tests::{
    add_and_approve, add_bundled, canary_token, connect, home, programs, sim_with_token,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_schools_course_and_account_are_denied_before_any_request() {
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    let (school, other, own_course, foreign_course) = sim.with_data(|d| {
        let s = d.schools();
        let (a, b) = (s[0].id, s[1].id);
        let own = d.courses_in(a)[0].id;
        let foreign = d.courses_in(b)[0].id;
        (a, b, own, foreign)
    });
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    add_and_approve(&home, programs::TEST_PROBE, "probe", school, true);
    let conn = connect(sim, &token);
    let runtime = home.runtime().unwrap();
    let run = |params: Vec<(String, String)>| RunRequest {
        plugin: "probe".into(),
        school,
        dry_run: false,
        params,
        limits: Limits::default(),
        plan: None,
    };
    let r = execute_run(
        &home,
        &conn,
        &runtime,
        run(vec![
            ("get".into(), format!("/api/v1/courses/{foreign_course}")),
            ("list".into(), format!("/api/v1/accounts/{other}/courses")),
            ("put".into(), format!("/api/v1/courses/{foreign_course}")),
        ]),
    )
    .await
    .unwrap();
    assert_eq!(
        r.report.outcome,
        RunOutcome::Succeeded,
        "log:\n{}",
        r.report.log
    );
    assert_eq!(r.report.denied, 3);
    assert_eq!(r.report.calls, 0);
    let probe: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&r.report.outputs[0]).unwrap()).unwrap();
    for key in ["get", "list", "put"] {
        let err = probe[key]["error"].as_str().unwrap_or_default();
        assert!(err.contains("::Denied("), "{key}: {err}");
        assert!(err.contains("school-boundary"), "{key}: {err}");
    }
    let requests = conn.sim.as_ref().unwrap().requests();
    for q in &requests {
        assert!(
            !q.path.contains(&format!("/courses/{foreign_course}")),
            "sent {}",
            q.path
        );
        assert!(
            !q.path.contains(&format!("/accounts/{other}")),
            "sent {}",
            q.path
        );
        assert_eq!(
            q.method, "GET",
            "no write was sent: {} {}",
            q.method, q.path
        );
    }

    // The same plugin may reach its own school's course.
    let r = execute_run(
        &home,
        &conn,
        &runtime,
        run(vec![(
            "get".into(),
            format!("/api/v1/courses/{own_course}"),
        )]),
    )
    .await
    .unwrap();
    let probe: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&r.report.outputs[0]).unwrap()).unwrap();
    assert_eq!(probe["get"]["ok"]["id"], own_course, "{probe}");
    assert_eq!(r.report.denied, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_with_a_read_only_grant_is_refused_naming_the_missing_grant() {
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    let school = sim.with_data(|d| d.schools()[0].id);
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    add_bundled(&home, &easel_bundled::COURSE_PUBLISHER, school, false);
    let conn = connect(sim, &token);
    let runtime = home.runtime().unwrap();
    let r = execute_run(
        &home,
        &conn,
        &runtime,
        RunRequest {
            plugin: "course-publisher".into(),
            school,
            dry_run: true,
            params: vec![],
            limits: Limits::default(),
            plan: None,
        },
    )
    .await
    .unwrap();
    match &r.report.outcome {
        RunOutcome::Refused(m) => assert!(
            m.contains("easel:canvas/write@0.1.0") && m.contains("write access"),
            "{m}"
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let sent = conn.sim.as_ref().unwrap().requests();
    assert!(sent.iter().all(|q| {
        q.header("user-agent")
            .is_none_or(|ua| !ua.contains("plugin=course-publisher"))
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_stops_at_its_call_budget() {
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    let school = sim.with_data(|d| d.schools()[0].id);
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    // The test manifest allows 50 calls per run.
    add_and_approve(&home, programs::TEST_BENCH_GET, "bench-get", school, false);
    let conn = connect(sim, &token);
    let runtime = home.runtime().unwrap();
    let r = execute_run(
        &home,
        &conn,
        &runtime,
        RunRequest {
            plugin: "bench-get".into(),
            school,
            dry_run: false,
            params: vec![
                ("n".into(), "60".into()),
                ("path".into(), format!("/api/v1/accounts/{school}")),
            ],
            limits: Limits::default(),
            plan: None,
        },
    )
    .await
    .unwrap();
    match &r.report.outcome {
        RunOutcome::Failed(m) => assert!(m.contains("budget exhausted"), "{m}"),
        other => panic!("expected the budget to stop the run, got {other:?}"),
    }
    assert_eq!(r.report.calls, 50);
    let sent = conn.sim.as_ref().unwrap().requests();
    assert_eq!(
        sent.iter()
            .filter(|q| q
                .header("user-agent")
                .is_some_and(|ua| ua.contains("plugin=bench-get@")))
            .count(),
        50
    );
}

/// The probe's report of one run.
fn probe_of(r: &easel_app::RunResult) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(&r.report.outputs[0]).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_started_at_the_schools_sis_id_pages_on_by_number() {
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    let (school, sis, courses) = sim.with_data(|d| {
        let s = &d.schools()[0];
        (
            s.id,
            s.sis_account_id.clone().unwrap(),
            d.courses_in(s.id).len(),
        )
    });
    assert!(courses > 2, "three pages of one course need three courses");
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    add_and_approve(&home, programs::TEST_PROBE, "probe", school, true);
    let conn = connect(sim, &token);
    let runtime = home.runtime().unwrap();
    let sim = conn.sim.as_ref().unwrap();
    let per_page = courses.div_ceil(3).to_string();
    let r = execute_run(
        &home,
        &conn,
        &runtime,
        RunRequest {
            plugin: "probe".into(),
            school,
            dry_run: false,
            params: vec![
                (
                    "list".into(),
                    format!("/api/v1/accounts/sis_account_id:{sis}/courses"),
                ),
                ("per_page".into(), per_page),
            ],
            limits: Limits::default(),
            plan: None,
        },
    )
    .await
    .unwrap();
    let v = probe_of(&r);
    assert!(v["list"]["ok"].is_number(), "{}", v["list"]);
    let pages: Vec<String> = sim
        .requests()
        .iter()
        .filter(|q| {
            q.header("user-agent")
                .is_some_and(|u| u.contains("(plugin=probe@"))
        })
        .filter(|q| q.path.ends_with("/courses"))
        .map(|q| q.path.clone())
        .collect();
    assert!(pages.len() >= 3, "{pages:?}");
    assert_eq!(
        pages[0],
        format!("/api/v1/accounts/sis_account_id:{sis}/courses")
    );
    assert!(
        pages[1..]
            .iter()
            .all(|p| p == &format!("/api/v1/accounts/{school}/courses")),
        "Canvas's next links name the school by number: {pages:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrapped_list_is_read_whole_over_several_pages() {
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    let (school, terms) = sim.with_data(|d| (d.schools()[0].id, d.terms.len()));
    assert!(terms > 2, "the simulator has several terms");
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    add_and_approve(&home, programs::TEST_PROBE, "probe", school, true);
    let conn = connect(sim, &token);
    let runtime = home.runtime().unwrap();
    let run = |key: Option<&str>| RunRequest {
        plugin: "probe".into(),
        school,
        dry_run: false,
        params: [
            Some((
                "list".to_owned(),
                format!("/api/v1/accounts/{school}/terms"),
            )),
            Some(("per_page".to_owned(), "2".to_owned())),
            key.map(|k| ("list_key".to_owned(), k.to_owned())),
        ]
        .into_iter()
        .flatten()
        .collect(),
        limits: Limits::default(),
        plan: None,
    };
    let r = execute_run(&home, &conn, &runtime, run(Some("enrollment_terms")))
        .await
        .unwrap();
    let v = probe_of(&r);
    assert_eq!(v["list"]["ok"], terms, "{}", v["list"]);
    // The wrong key is an error, not an empty list.
    let r = execute_run(&home, &conn, &runtime, run(Some("terms")))
        .await
        .unwrap();
    let v = probe_of(&r);
    assert!(
        v["list"]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("no terms list"),
        "{}",
        v["list"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relative_next_links_are_followed_on_the_lists_path() {
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    let school = sim.with_data(|d| d.schools()[0].id);
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    add_and_approve(&home, programs::TEST_PROBE, "probe", school, true);
    let conn = connect(sim, &token);
    let runtime = home.runtime().unwrap();
    let sim = conn.sim.as_ref().unwrap();
    let listed = |relative: bool| {
        sim.set_faults(easel_sim::Faults {
            relative_links: relative,
            ..easel_sim::Faults::default()
        });
        let req = RunRequest {
            plugin: "probe".into(),
            school,
            dry_run: false,
            params: vec![
                ("list".into(), format!("/api/v1/accounts/{school}/courses")),
                ("per_page".into(), "3".into()),
            ],
            limits: Limits::default(),
            plan: None,
        };
        let (home, conn, runtime) = (&home, &conn, &runtime);
        async move {
            let r = execute_run(home, conn, runtime, req).await.unwrap();
            let v = probe_of(&r);
            v["list"]["ok"]
                .as_u64()
                .unwrap_or_else(|| panic!("relative={relative}: {}", v["list"]))
        }
    };
    let relative = listed(true).await;
    let absolute = listed(false).await;
    assert!(absolute > 3, "the list spans several pages of 3");
    assert_eq!(relative, absolute, "every page was followed");
}

/// The course report lists its school's courses, then reads each course's
/// sections: the host places every course from Canvas's answer to that
/// listing, so it makes no lookup of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn courses_are_placed_from_the_runs_own_listing_without_a_lookup() {
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    let school = sim.with_data(|d| d.schools()[0].id);
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    add_bundled(&home, &easel_bundled::COURSE_REPORT, school, false);
    let conn = connect(sim, &token);
    let runtime = home.runtime().unwrap();
    let r = execute_run(
        &home,
        &conn,
        &runtime,
        RunRequest {
            plugin: "course-report".into(),
            school,
            dry_run: false,
            params: vec![("sections".into(), "true".into())],
            limits: Limits::default(),
            plan: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(r.report.outcome, RunOutcome::Succeeded, "{}", r.report.log);
    assert!(r.report.calls > 1, "the report read sections");
    assert_eq!(r.report.lookups, 0, "no lookup: {}", r.report.log);
    let sim = conn.sim.as_ref().unwrap();
    // What Canvas saw: the school's account, read to start the run, then
    // only the plugin's own calls (no listing of the school's subtree).
    let sent: Vec<String> = sim
        .requests()
        .iter()
        .map(|q| format!("{} {}", q.path, q.header("user-agent").unwrap_or_default()))
        .filter(|q| {
            !(q.starts_with(&format!("/api/v1/accounts/{school} "))
                && q.ends_with("(admin; command=run)"))
        })
        .collect();
    assert!(
        sent.iter().all(|q| q.contains("(plugin=course-report@")),
        "{sent:#?}"
    );
    assert_eq!(sent.len() as u32, r.report.calls, "{sent:#?}");
}

/// Placements learned from one school's listing never admit another
/// school's course: in the same run, or in a run for the other school.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_of_one_school_never_places_another_schools_course() {
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    let (a, b, a_course, b_course) = sim.with_data(|d| {
        let s = d.schools();
        let (a, b) = (s[0].id, s[1].id);
        (a, b, d.courses_in(a)[0].id, d.courses_in(b)[0].id)
    });
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    add_and_approve(&home, programs::TEST_PROBE, "probe", a, true);
    easel_app::approve(&home, "probe", &[b], true, &easel_tests::person("admin")).unwrap();
    let conn = connect(sim, &token);
    let runtime = home.runtime().unwrap();
    let run = |school: u64, own: u64, foreign: u64| RunRequest {
        plugin: "probe".into(),
        school,
        dry_run: false,
        params: vec![
            ("list".into(), format!("/api/v1/accounts/{school}/courses")),
            (
                "get_after_list".into(),
                format!("/api/v1/courses/{foreign}"),
            ),
            ("get".into(), format!("/api/v1/courses/{own}")),
        ],
        limits: Limits::default(),
        plan: None,
    };
    for (school, own, foreign) in [(a, a_course, b_course), (b, b_course, a_course)] {
        let r = execute_run(&home, &conn, &runtime, run(school, own, foreign))
            .await
            .unwrap();
        let v = probe_of(&r);
        assert!(v["list"]["ok"].is_number(), "{v}");
        let err = v["get_after_list"]["error"].as_str().unwrap_or_default();
        assert!(err.contains("school-boundary"), "school {school}: {v}");
        assert!(v["get"]["ok"]["id"].is_number(), "{v}");
    }
    let sim = conn.sim.as_ref().unwrap();
    for q in sim.requests() {
        let ua = q.header("user-agent").unwrap_or_default().to_owned();
        let plugin_asked = |c: u64| q.path == format!("/api/v1/courses/{c}");
        assert!(
            !(plugin_asked(b_course) && ua.contains(&format!("school={a})"))
                || plugin_asked(a_course) && ua.contains(&format!("school={b})"))),
            "another school's course reached Canvas: {} ({ua})",
            q.path
        );
    }
}

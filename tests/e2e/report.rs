//! The report plugin's CSV equals what the simulator's data says, computed
//! here independently; every call carries the plugin's User-Agent.

use easel_app::{RunRequest, execute_run};
use easel_runtime::{Limits, RunOutcome};
use easel_tests::{add_bundled, canary_token, connect, sim_with_token};

easel_tests::matrix!();

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_course_report_matches_the_simulators_data_for_a_school() {
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    let school = sim.with_data(|d| d.schools()[1].id);
    let expected: Vec<Vec<String>> = sim.with_data(|d| {
        let in_school = |mut a: u64| loop {
            if a == school {
                return true;
            }
            match d.accounts[&a].parent_account_id {
                Some(p) => a = p,
                None => return false,
            }
        };
        let count = |course: u64, kind: &str| {
            d.enrollments
                .values()
                .filter(|e| {
                    e.course_id == course && e.kind == kind && e.enrollment_state == "active"
                })
                .count()
        };
        d.courses
            .values()
            .filter(|c| in_school(c.account_id) && c.workflow_state != "deleted")
            .map(|c| {
                vec![
                    c.id.to_string(),
                    c.sis_course_id.clone().unwrap_or_default(),
                    c.course_code.clone(),
                    c.name.clone(),
                    c.account_id.to_string(),
                    d.terms[&c.enrollment_term_id].name.clone(),
                    c.workflow_state.clone(),
                    count(c.id, "TeacherEnrollment").to_string(),
                    count(c.id, "StudentEnrollment").to_string(),
                ]
            })
            .collect()
    });
    assert!(expected.len() > 10, "the demo school has courses");
    assert!(
        expected.iter().any(|r| r[4] != school.to_string()),
        "some courses live in the school's sub-account"
    );

    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    add_bundled(&home, &easel_bundled::COURSE_REPORT, school, false);
    let conn = connect(sim, &token);
    let runtime = home.runtime().unwrap();
    let req = RunRequest {
        plugin: "course-report".into(),
        school,
        dry_run: false,
        params: vec![],
        limits: Limits::default(),
        plan: None,
    };
    let r = execute_run(&home, &conn, &runtime, req).await.unwrap();
    assert_eq!(
        r.report.outcome,
        RunOutcome::Succeeded,
        "log:\n{}",
        r.report.log
    );
    assert_eq!(r.report.outputs.len(), 1);
    let mut reader = csv::Reader::from_path(&r.report.outputs[0]).unwrap();
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        header,
        [
            "course_id",
            "sis_course_id",
            "course_code",
            "name",
            "account_id",
            "term",
            "state",
            "teachers",
            "students"
        ]
    );
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_owned).collect())
        .collect();
    assert_eq!(rows, expected);

    // One list call per 100 courses, each with the plugin's User-Agent.
    let sim = conn.sim.as_ref().unwrap();
    let requests = sim.requests();
    let plugin_calls: Vec<_> = requests
        .iter()
        .filter(|q| {
            q.header("user-agent")
                .is_some_and(|ua| ua.contains("plugin=course-report@"))
        })
        .collect();
    assert_eq!(plugin_calls.len() as u32, r.report.calls);
    let digest = home
        .store
        .find_plugin("course-report")
        .unwrap()
        .unwrap()
        .digest;
    let ua = format!(
        "easel/{} (plugin=course-report@{}; run={}; school={school})",
        env!("CARGO_PKG_VERSION"),
        &digest[..12],
        r.run_id
    );
    for q in plugin_calls {
        assert_eq!(q.header("user-agent"), Some(ua.as_str()));
        assert!(
            q.query.contains("per_page=100"),
            "per_page=100 on {}",
            q.query
        );
        assert_eq!(q.path, format!("/api/v1/accounts/{school}/courses"));
    }
    let stored = home.store.run(&r.run_id).unwrap().unwrap();
    assert_eq!(stored.status.as_str(), "succeeded");
    assert_eq!(
        stored.outputs,
        vec![r.report.outputs[0].display().to_string()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_run_is_retried_and_succeeds_and_says_so() {
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    // Every call costs most of the bucket; a sped-up clock drains it fast.
    sim.set_throttle(easel_sim::ThrottleConfig {
        request_cost: 400.0,
        time_scale: 200.0,
        ..easel_sim::ThrottleConfig::default()
    });
    let school = sim.with_data(|d| d.schools()[0].id);
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    easel_tests::add_and_approve(
        &home,
        easel_tests::programs::TEST_BENCH_GET,
        "bench-get",
        school,
        false,
    );
    let conn = connect(sim, &token);
    // Once the plugin is calling, another integration on the same token
    // keeps the bucket full for a while: the governor cannot know, so Canvas
    // throttles.
    let sim = conn.sim.as_ref().unwrap();
    let watcher = async {
        while !sim.requests().iter().any(|q| {
            q.header("user-agent")
                .is_some_and(|ua| ua.contains("plugin=bench-get"))
        }) {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        for _ in 0..150 {
            sim.fill_bucket(&token);
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    };
    let runtime = home.runtime().unwrap();
    let req = RunRequest {
        plugin: "bench-get".into(),
        school,
        dry_run: false,
        params: vec![
            ("n".into(), "20".into()),
            ("path".into(), format!("/api/v1/accounts/{school}")),
        ],
        limits: Limits::default(),
        plan: None,
    };
    let (r, ()) = tokio::join!(execute_run(&home, &conn, &runtime, req), watcher);
    let r = r.unwrap();
    assert_eq!(r.report.outcome, RunOutcome::Succeeded, "{}", r.report.log);
    assert!(
        conn.sim.as_ref().unwrap().throttled_count() > 0,
        "the bucket did throttle"
    );
    assert!(
        r.report.log.contains("retried a Canvas call"),
        "{}",
        r.report.log
    );
    let stored = home.store.run(&r.run_id).unwrap().unwrap();
    assert!(
        stored.log.contains("throttled"),
        "the retries are in the run record"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_that_gets_a_500_is_sent_once_and_reported_to_the_plugin() {
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    let (school, course) = sim.with_data(|d| {
        let school = d.schools()[0].id;
        (school, d.courses_in(school)[0].id)
    });
    sim.set_faults(easel_sim::Faults {
        error_rate: 1.0,
        error_method: Some(http::Method::POST),
        ..easel_sim::Faults::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    easel_tests::add_and_approve(
        &home,
        easel_tests::programs::TEST_PROBE,
        "probe",
        school,
        true,
    );
    let conn = connect(sim, &token);
    let runtime = home.runtime().unwrap();
    let path = format!("/api/v1/courses/{course}/sections");
    let req = RunRequest {
        plugin: "probe".into(),
        school,
        dry_run: false,
        params: vec![("post".into(), path.clone())],
        limits: Limits::default(),
        plan: None,
    };
    let r = execute_run(&home, &conn, &runtime, req).await.unwrap();
    let posts = conn
        .sim
        .as_ref()
        .unwrap()
        .requests()
        .into_iter()
        .filter(|q| q.method == "POST" && q.path == path)
        .count();
    assert_eq!(
        posts, 1,
        "a POST that may have been applied is never resent"
    );
    assert!(!r.report.log.contains("retried"), "{}", r.report.log);
    let out = std::fs::read_to_string(r.output_dir.join("probe.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let err = v["post"]["error"].as_str().unwrap();
    assert!(
        err.contains("500"),
        "the plugin is told Canvas answered 500: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_runs_report_is_marked_partial() {
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    let school = sim.with_data(|d| d.schools()[0].id);
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    easel_tests::add_and_approve(
        &home,
        easel_tests::programs::TEST_PROBE,
        "probe",
        school,
        true,
    );
    let conn = connect(sim, &token);
    let runtime = home.runtime().unwrap();
    let run = |fail: bool| RunRequest {
        plugin: "probe".into(),
        school,
        dry_run: false,
        params: vec![("fail".into(), fail.to_string())],
        limits: Limits::default(),
        plan: None,
    };
    // The probe writes its report, then fails.
    let r = execute_run(&home, &conn, &runtime, run(true))
        .await
        .unwrap();
    assert!(matches!(r.report.outcome, RunOutcome::Failed(_)));
    assert!(r.report.partial);
    let partial = r.output_dir.join("probe.json.partial");
    assert_eq!(r.report.outputs, vec![partial.clone()]);
    assert!(partial.exists() && !r.output_dir.join("probe.json").exists());
    assert!(r.report.log.contains("partial"), "{}", r.report.log);
    let stored = home.store.run(&r.run_id).unwrap().unwrap();
    assert!(stored.outputs[0].ends_with("probe.json.partial"));
    // The same plugin succeeding leaves a complete report.
    let r = execute_run(&home, &conn, &runtime, run(false))
        .await
        .unwrap();
    assert_eq!(r.report.outcome, RunOutcome::Succeeded);
    assert!(!r.report.partial);
    assert!(r.output_dir.join("probe.json").exists());
}

/// The course report, run by the real host, policy and runtime against a
/// stand-in Canvas serving canvasapi's recorded responses: Canvas JSON that
/// nobody on easel wrote. The school is the recordings' account 1
/// (`account.json` `get_by_id`); its courses are `get_courses` and the page
/// its `Link` names. Canvas sent no `teachers` or `total_students` there, so
/// those cells must be empty, not 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_course_report_reads_canvasapis_recorded_canvas_end_to_end() {
    use easel_tests::fixtures::find;
    use easel_tests::standin::{Route, StandIn};
    use serde_json::Value;

    let school_fixture = find("account.json", "get_by_id");
    let school = school_fixture.data["id"].as_u64().unwrap();
    let courses_p1 = Route::from_fixture(&find("account.json", "get_courses"));
    let mut courses_p2 = Route::from_fixture(&find("account.json", "get_courses_page_2"));
    let mut subs_p1 = Route::from_fixture(&find("account.json", "subaccounts"));
    let mut subs_p2 = Route::from_fixture(&find("account.json", "subaccounts_page_2"));
    assert_eq!(
        courses_p1.path,
        format!("/api/v1/accounts/{school}/courses")
    );
    assert_eq!(
        subs_p1.path,
        format!("/api/v1/accounts/{school}/sub_accounts")
    );
    assert!(
        courses_p1.next.is_some() && subs_p1.next.is_some(),
        "two pages each"
    );

    // Shaped for the host's placement: canvasapi trimmed `parent_account_id`
    // from the sub-accounts (Canvas sends it), and records every course in
    // account 1. The first course of page 2 is moved into the last
    // sub-account of page 2: the host places it from the plugin's own
    // listing, which says it is the school's, without listing the
    // sub-accounts (the routes stay, so a lookup would be answered).
    for page in [&mut subs_p1, &mut subs_p2] {
        for a in page.body.as_array_mut().unwrap() {
            a["parent_account_id"] = school.into();
        }
    }
    let sub_account = subs_p2.body.as_array().unwrap().last().unwrap()["id"]
        .as_u64()
        .unwrap();
    courses_p2.body[0]["account_id"] = sub_account.into();
    let courses: Vec<Value> = [&courses_p1, &courses_p2]
        .iter()
        .flat_map(|r| r.body.as_array().unwrap().clone())
        .collect();
    assert!(
        courses
            .iter()
            .all(|c| c.get("teachers").is_none() && c.get("total_students").is_none()),
        "the recordings have no counts (else this test would not show empty cells)"
    );

    // Sections: course 1's are recorded on two pages; the other courses
    // answer canvasapi's recorded empty list.
    let sections_p1 = Route::from_fixture(&find("course.json", "get_sections"));
    let sections_p2 = Route::from_fixture(&find("course.json", "get_sections_p2"));
    let empty = Route::from_fixture(&find("paginated_list.json", "empty"));
    let mut routes = vec![
        Route::from_fixture(&school_fixture),
        courses_p1.clone(),
        courses_p2.clone(),
        subs_p1,
        subs_p2,
        sections_p1.clone(),
        sections_p2.clone(),
    ];
    let mut sections: Vec<(u64, Vec<String>)> = Vec::new();
    for c in &courses {
        let id = c["id"].as_u64().unwrap();
        let path = format!("/api/v1/courses/{id}/sections");
        let names: Vec<String> = if path == sections_p1.path {
            [&sections_p1, &sections_p2]
                .iter()
                .flat_map(|r| r.body.as_array().unwrap().clone())
                .map(|s| s["name"].as_str().unwrap().to_owned())
                .collect()
        } else {
            routes.push(Route {
                method: "GET".into(),
                path,
                ..empty.clone()
            });
            Vec::new()
        };
        sections.push((id, names));
    }
    assert!(
        sections.iter().any(|(_, s)| s.len() > 2),
        "a course with two pages of sections"
    );

    // The CSV, worked out from the JSON served.
    let text = |c: &Value, key: &str| c.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
    let expected: Vec<Vec<String>> = courses
        .iter()
        .zip(&sections)
        .map(|(c, (_, names))| {
            vec![
                c["id"].to_string(),
                text(c, "sis_course_id"),
                text(c, "course_code"),
                text(c, "name"),
                c["account_id"].to_string(),
                c.get("term").map(|t| text(t, "name")).unwrap_or_default(),
                text(c, "workflow_state"),
                c.get("teachers")
                    .and_then(Value::as_array)
                    .map(|t| t.len().to_string())
                    .unwrap_or_default(),
                c.get("total_students")
                    .map(Value::to_string)
                    .unwrap_or_default(),
                names.len().to_string(),
                names.join("; "),
            ]
        })
        .collect();

    let canvas = StandIn::start(routes).await;
    let conn = easel_app::Connection::to_url(
        canvas.url(),
        easel_canvas::Token::new(secrecy::SecretString::from(canary_token())),
        easel_canvas::GovernorConfig::default(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    add_bundled(&home, &easel_bundled::COURSE_REPORT, school, false);
    let runtime = home.runtime().unwrap();
    let req = RunRequest {
        plugin: "course-report".into(),
        school,
        dry_run: false,
        params: vec![("sections".into(), "true".into())],
        limits: Limits::default(),
        plan: None,
    };
    let r = execute_run(&home, &conn, &runtime, req).await.unwrap();
    assert_eq!(
        r.report.outcome,
        RunOutcome::Succeeded,
        "log:\n{}",
        r.report.log
    );
    assert_eq!(r.school_name, school_fixture.data["name"].as_str().unwrap());
    let mut reader = csv::Reader::from_path(&r.report.outputs[0]).unwrap();
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "course_id",
            "sis_course_id",
            "course_code",
            "name",
            "account_id",
            "term",
            "state",
            "teachers",
            "students",
            "sections",
            "section_names"
        ]
    );
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_owned).collect())
        .collect();
    assert_eq!(rows, expected);
    assert!(rows.iter().all(|r| r[7].is_empty() && r[8].is_empty()));
    assert!(rows.iter().any(|r| r[4].parse() == Ok(sub_account)));

    // Everything asked was answered. The host placed every course, the one
    // moved into a sub-account too, from Canvas's answer to the plugin's
    // own listing of the school's courses: it listed neither the
    // sub-accounts nor the courses itself.
    let seen = canvas.requests();
    let unanswered: Vec<_> = seen.iter().filter(|q| q.status != 200).collect();
    assert!(unanswered.is_empty(), "unanswered: {unanswered:#?}");
    assert!(seen.iter().all(|q| q.user_agent.is_some()));
    let asked = |path: &str, query: &str, page: u32| {
        seen.iter()
            .any(|q| q.path == path && q.query.contains(query) && q.page() == page)
    };
    let accounts = format!("/api/v1/accounts/{school}");
    assert!(asked(&accounts, "", 1), "the school's account was read");
    let subs = format!("{accounts}/sub_accounts");
    assert!(
        !seen.iter().any(|q| q.path == subs),
        "the host listed the sub-accounts: {seen:#?}"
    );
    let listed = format!("{accounts}/courses");
    assert!(
        !asked(&listed, "state%5B%5D=all", 1),
        "the host listed the courses: {seen:#?}"
    );
    assert!(
        asked(&listed, "include%5B%5D=total_students", 1),
        "the plugin did"
    );
    assert_eq!(
        seen.iter()
            .filter(|q| q.path == listed && q.page() == 2)
            .count(),
        1,
        "the plugin read the courses' second page, once"
    );
    assert!(
        asked(&sections_p1.path, "", 2),
        "the plugin followed the sections' Link"
    );
}

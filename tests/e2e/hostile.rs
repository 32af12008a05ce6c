//! Hostile plugins against the boundaries a security review broke: each
//! test checks what the simulator actually received, not only what easel
//! reports.

use easel_app::{ApproveOptions, RunRequest, RunResult, execute_run};
use easel_runtime::{Limits, RunOutcome};
use easel_sim::{Faults, SimHandle};
use easel_store::GrantTerms;
use easel_tests::{
    add_and_approve, canary_token, connect, contains, home, programs, sim_with_token, test_manifest,
};
use serde_json::Value;

struct World {
    _dir: tempfile::TempDir,
    home: easel_app::Home,
    conn: easel_app::Connection,
    runtime: easel_runtime::Runtime,
    token: String,
    id: String,
    school: u64,
    other: u64,
    own_course: u64,
    foreign_course: u64,
}

async fn world(plugin: &str, id: &str, terms: Option<GrantTerms>) -> World {
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    let (school, other, own_course, foreign_course) = sim.with_data(|d| {
        let s = d.schools();
        let (a, b) = (s[0].id, s[1].id);
        (a, b, d.courses_in(a)[0].id, d.courses_in(b)[0].id)
    });
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    match terms {
        None => add_and_approve(&home, plugin, id, school, true),
        Some(terms) => {
            let bytes = std::fs::read(plugin).unwrap();
            // The manifest asks for SIS imports; only a grant that says so
            // allows them.
            let manifest = test_manifest(id, true)
                .replace("max_calls = 50", "max_calls = 50\nsis_import = true");
            easel_app::add(
                &home,
                &easel_tests::person("contributor"),
                &bytes,
                &manifest,
                id,
            )
            .unwrap();
            let options = ApproveOptions {
                write: true,
                terms,
                ..ApproveOptions::default()
            };
            easel_app::approve_with(
                &home,
                id,
                &[school],
                &easel_tests::person("admin"),
                &options,
            )
            .unwrap();
            // The school's SIS ids (SCH001-...) start with its SIS account
            // id and a dash: its SIS imports may create only such ids.
            let prefix = sim
                .with_data(|d| format!("{}-", d.accounts[&school].sis_account_id.clone().unwrap()));
            home.store
                .set_sis_prefix("sim", school, &prefix, "admin")
                .unwrap();
        }
    }
    let conn = connect(sim, &token);
    let runtime = home.runtime().unwrap();
    World {
        _dir: dir,
        home,
        conn,
        runtime,
        token,
        id: id.to_owned(),
        school,
        other,
        own_course,
        foreign_course,
    }
}

impl World {
    fn sim(&self) -> &SimHandle {
        self.conn.sim.as_ref().unwrap()
    }

    /// Run the world's plugin once.
    async fn run(&self, dry_run: bool, params: &[(&str, String)]) -> RunResult {
        self.run_with(dry_run, params, Limits::default()).await
    }

    async fn run_with(
        &self,
        dry_run: bool,
        params: &[(&str, String)],
        limits: Limits,
    ) -> RunResult {
        let req = RunRequest {
            plugin: self.id.clone(),
            school: self.school,
            dry_run,
            params: params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            limits,
            plan: None,
        };
        execute_run(&self.home, &self.conn, &self.runtime, req)
            .await
            .unwrap()
    }

    /// The probe's report of what happened to each call (marked partial
    /// when the run failed).
    fn probe(r: &RunResult) -> Value {
        let name = if r.report.partial {
            "probe.json.partial"
        } else {
            "probe.json"
        };
        let text = std::fs::read_to_string(r.output_dir.join(name)).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// Requests made on a plugin's behalf (its calls and easel's lookups
    /// for it, tagged `plugin=` in the User-Agent), not the host's own
    /// administrative reads such as the school's name.
    fn plugin_requests(&self) -> Vec<easel_sim::RecordedRequest> {
        self.sim()
            .requests()
            .into_iter()
            .filter(|q| {
                q.headers
                    .iter()
                    .any(|(k, v)| k == "user-agent" && v.contains("plugin="))
            })
            .collect()
    }

    /// Requests that reached the simulator with a write method.
    fn writes(&self) -> Vec<String> {
        self.sim()
            .requests()
            .into_iter()
            .filter(|q| q.method != "GET")
            .map(|q| format!("{} {}?{} {}", q.method, q.path, q.query, q.body))
            .collect()
    }
}

fn denied_by(v: &Value, rule: &str) -> bool {
    v["error"]
        .as_str()
        .is_some_and(|e| e.contains("Denied") && e.contains(&format!("rule: \"{rule}\"")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sis_import_polyglot_and_other_unreadable_bodies_are_refused_unsent() {
    let w = world(programs::TEST_PROBE, "probe", None).await;
    let (s, foreign) = (w.school, w.foreign_course);
    let csv_array = r#"["course_id,short_name,long_name,status","FOREIGN-1,x,x,deleted"]"#;
    let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
        // The polyglot: a JSON array that is also a CSV.
        (
            vec![
                ("raw_path", format!("/api/v1/accounts/{s}/sis_imports")),
                ("query", "import_type=instructure_csv".into()),
                ("raw_body", csv_array.into()),
            ],
            "body-form",
        ),
        // The same rows in an object: a SIS import's body is its CSV.
        (
            vec![
                ("raw_path", format!("/api/v1/accounts/{s}/sis_imports")),
                ("query", "import_type=instructure_csv&extension=csv".into()),
                (
                    "raw_body",
                    r#"{"attachment":"course_id,status\nFOREIGN-1,deleted"}"#.into(),
                ),
            ],
            "body-form",
        ),
        // A readable file, without a grant that allows SIS imports.
        (
            vec![
                ("raw_path", "/api/v1/accounts/1/sis_imports".into()),
                ("query", "import_type=instructure_csv&extension=csv".into()),
                (
                    "raw_body",
                    "course_id,short_name,long_name,account_id,status\nNEW-1,n,New,SCH001,active\n"
                        .into(),
                ),
            ],
            "capability-not-granted",
        ),
        (
            vec![
                ("raw_method", "put".into()),
                ("raw_path", format!("/api/v1/accounts/{s}/courses")),
                (
                    "raw_body",
                    format!(r#"["&course_ids[]={foreign}&event=delete&"]"#),
                ),
            ],
            "body-form",
        ),
        (
            vec![
                ("raw_method", "put".into()),
                ("raw_path", format!("/api/v1/accounts/{s}/courses")),
                (
                    "raw_body",
                    format!(r#"{{"event":"offer","course_ids":{{"x":{foreign}}}}}"#),
                ),
            ],
            "body-form",
        ),
        (
            vec![
                ("raw_method", "put".into()),
                ("raw_path", format!("/api/v1/accounts/{s}/courses")),
                (
                    "raw_body",
                    format!(
                        r#"{{"event":"offer","course_ids":[{}],"course_ids":[{foreign}]}}"#,
                        w.own_course
                    ),
                ),
            ],
            "body-form",
        ),
    ];
    for (params, rule) in cases {
        let r = w.run(false, &params).await;
        let v = World::probe(&r);
        assert!(denied_by(&v["raw"], rule), "{params:?}: {}", v["raw"]);
    }
    assert_eq!(w.writes(), Vec::<String>::new(), "nothing was written");
    assert!(
        w.sim()
            .with_data(|d| d.courses[&foreign].workflow_state != "deleted"),
        "the other school's course is intact"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_in_crosslist_course_copy_and_blueprint_keys_are_placed() {
    let w = world(programs::TEST_PROBE, "probe", None).await;
    let (own, foreign) = (w.own_course, w.foreign_course);
    let section = w.sim().with_data(|d| {
        d.sections
            .values()
            .find(|s| s.course_id == own)
            .map(|s| s.id)
            .unwrap()
    });
    let attacks: Vec<Vec<(&str, String)>> = vec![
        vec![(
            "raw_path",
            format!("/api/v1/sections/{section}/crosslist/{foreign}"),
        )],
        vec![
            ("raw_path", format!("/api/v1/courses/{own}/course_copy")),
            ("raw_body", format!(r#"{{"source_course":{foreign}}}"#)),
        ],
        vec![
            ("raw_path", format!("/api/v1/courses/{own}/course_copy")),
            ("query", format!("source_course={foreign}")),
        ],
        vec![
            ("raw_method", "put".into()),
            (
                "raw_path",
                format!("/api/v1/courses/{own}/blueprint_templates/1/update_associations"),
            ),
            (
                "raw_body",
                format!(r#"{{"course_ids_to_add":[{foreign}]}}"#),
            ),
        ],
    ];
    for params in attacks {
        let r = w.run(false, &params).await;
        let v = World::probe(&r);
        assert!(
            denied_by(&v["raw"], "school-boundary"),
            "{params:?}: {}",
            v["raw"]
        );
    }
    // An unmodelled id key is refused even where the endpoint is known.
    let r = w
        .run(
            false,
            &[
                ("raw_path", format!("/api/v1/courses/{own}/course_copy")),
                ("raw_body", format!(r#"{{"source_course_id":"{foreign}"}}"#)),
            ],
        )
        .await;
    assert!(denied_by(&World::probe(&r)["raw"], "unmodelled-field"));
    assert_eq!(w.writes(), Vec::<String>::new(), "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_user_id_in_any_form_is_masquerading() {
    let w = world(programs::TEST_PROBE, "probe", None).await;
    let own = w.own_course;
    for query in [
        "as_user_id[]=1",
        "AS_USER_ID=1",
        "as_user_id=1&as_user_id=2",
    ] {
        let r = w
            .run(
                false,
                &[
                    ("get", format!("/api/v1/courses/{own}")),
                    ("query", query.into()),
                ],
            )
            .await;
        assert!(
            denied_by(&World::probe(&r)["get"], "masquerade-not-granted"),
            "{query}: {}",
            World::probe(&r)["get"]
        );
    }
    let r = w
        .run(
            false,
            &[
                ("raw_method", "put".into()),
                ("raw_path", format!("/api/v1/courses/{own}")),
                (
                    "raw_body",
                    r#"{"course":{"name":"x","as_user_id":1}}"#.into(),
                ),
            ],
        )
        .await;
    assert!(denied_by(
        &World::probe(&r)["raw"],
        "masquerade-not-granted"
    ));
    for q in w.sim().requests() {
        assert!(
            !q.query.to_ascii_lowercase().contains("as_user_id") && !q.body.contains("as_user_id"),
            "sent {} {}?{}",
            q.method,
            q.path,
            q.query
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_are_built_from_encoded_ids_and_bounded_by_the_call_budget() {
    let terms = GrantTerms {
        max_calls: Some(5),
        ..GrantTerms::default()
    };
    let w = world(programs::TEST_PROBE, "probe", Some(terms)).await;
    let (own, other) = (w.own_course, w.other);
    // A SIS value that tries to become a path and a query of its own.
    let injection = format!("sis_user_id:x/../../accounts/{other}/courses?as_user_id=1&");
    let r = w
        .run(
            false,
            &[
                ("get", format!("/api/v1/courses/{own}/enrollments")),
                ("query", format!("user_id={injection}")),
            ],
        )
        .await;
    let v = World::probe(&r);
    assert!(
        v["get"]["error"].as_str().unwrap().contains("Denied"),
        "{v}"
    );
    // The denial names the rule and the object, not what a lookup read.
    assert!(
        !v["get"]["error"].as_str().unwrap().contains("answered"),
        "{v}"
    );
    for q in w.sim().requests() {
        assert!(q.path.starts_with("/api/v1/"), "sent {}", q.path);
        assert!(
            !q.path.contains(&format!("accounts/{other}")),
            "sent {}",
            q.path
        );
        assert!(
            !q.query.contains("as_user_id"),
            "sent {}?{}",
            q.path,
            q.query
        );
        assert!(!q.path.contains("/../"), "sent {}", q.path);
    }
    assert!(
        w.sim()
            .requests()
            .iter()
            .any(|q| q.path.starts_with("/api/v1/users/sis_user_id:x%2F")),
        "the SIS value was sent percent-encoded as one segment: {:?}",
        w.sim()
            .requests()
            .iter()
            .map(|q| &q.path)
            .collect::<Vec<_>>()
    );

    // Many users to place: the lookups stop at the run's budget of 5.
    w.sim().clear_requests();
    let students: Vec<String> = (1..=40).map(|u| format!("student_ids[]={u}")).collect();
    let r = w
        .run(
            false,
            &[
                ("get", format!("/api/v1/courses/{own}/students/submissions")),
                ("query", students.join("&")),
            ],
        )
        .await;
    let sent = w.plugin_requests().len();
    assert!(sent <= 5, "a budget of 5 calls sent {sent} requests");
    let v = World::probe(&r);
    assert!(
        denied_by(&v["get"], "call-budget")
            || v["get"]["error"]
                .as_str()
                .unwrap()
                .contains("BudgetExhausted"),
        "{v}"
    );
    assert_eq!(
        r.report.calls + r.report.lookups,
        sent as u32,
        "every request is counted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denial_flood_is_stopped_and_leaves_the_database_small() {
    let w = world(programs::TEST_HOSTILE, "hostile", None).await;
    let r = w
        .run(false, &[("attack", "flood".into()), ("n", "100000".into())])
        .await;
    assert!(
        matches!(&r.report.outcome, RunOutcome::Failed(m) if m.contains("denied calls")),
        "{:?}",
        r.report.outcome
    );
    assert_eq!(r.report.denied, easel_runtime::DEFAULT_MAX_DENIALS);
    assert_eq!(
        w.plugin_requests().len(),
        0,
        "no lookup for unplaceable values"
    );
    let db = w.home.root().join("easel.db");
    let size = std::fs::metadata(&db).unwrap().len()
        + std::fs::metadata(db.with_extension("db-wal")).map_or(0, |m| m.len());
    assert!(size < 4 << 20, "database grew to {size} bytes");
    // Each record holds a bounded reason.
    let longest = w
        .home
        .audit
        .last(200)
        .unwrap()
        .iter()
        .filter_map(|r| r.detail.as_ref().map(String::len))
        .max()
        .unwrap_or(0);
    assert!(longest < 1_400, "a denial record held {longest} bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_with_whitespace_is_refused_not_trimmed() {
    let w = world(programs::TEST_PROBE, "probe", None).await;
    let own = w.own_course;
    for path in [
        format!("/api/v1/courses/{own}/.. "),
        format!("/api/v1/courses/{own} "),
        format!("/api/v1/courses/{own}/\t"),
    ] {
        let r = w.run(false, &[("get", path.clone())]).await;
        assert!(denied_by(&World::probe(&r)["get"], "path-form"), "{path:?}");
    }
    assert_eq!(w.plugin_requests().len(), 0, "nothing was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_echoes_the_credential_is_redacted_everywhere() {
    let w = world(programs::TEST_PROBE, "probe", None).await;
    w.sim().set_faults(Faults {
        echo_headers: Some("/api/v1/courses/".into()),
        ..Faults::default()
    });
    let r = w
        .run(
            false,
            &[("get", format!("/api/v1/courses/{}", w.own_course))],
        )
        .await;
    let v = World::probe(&r);
    let err = v["get"]["error"].as_str().unwrap().to_owned();
    assert!(err.contains("502"), "{err}");
    assert!(err.contains("redacted"), "the echo was redacted: {err}");
    assert!(
        w.sim()
            .requests()
            .iter()
            .any(|q| q.headers.iter().any(|(_, v)| v.contains(&w.token))),
        "the token did reach the echoing upstream"
    );
    let secret = w.token.as_bytes();
    assert!(
        !contains(err.as_bytes(), secret),
        "the plugin saw the token"
    );
    assert!(
        !contains(r.report.log.as_bytes(), secret),
        "the run log holds it"
    );
    for (name, bytes) in easel_tests::read_all_files(w.home.root()) {
        assert!(!contains(&bytes, secret), "{name} holds the token");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_cannot_forge_the_hosts_log_lines_or_send_escapes() {
    let w = world(programs::TEST_HOSTILE, "hostile", None).await;
    let r = w.run(false, &[("attack", "forge-log".into())]).await;
    assert_eq!(r.report.outcome, RunOutcome::Succeeded);
    let stored = w.home.store.run(&r.run_id).unwrap().unwrap();
    for log in [&r.report.log, &stored.log] {
        for line in log.lines() {
            assert!(
                line.starts_with("[easel]") == line.contains("lookup")
                    || !line.contains("run succeeded"),
                "forged line: {line}"
            );
            assert!(!line.starts_with("[easel] run succeeded"), "{line}");
            assert!(!line.starts_with("[easel] denied"), "{line}");
        }
        assert!(!log.contains('\u{1b}') && !log.contains('\r') && !log.contains('\u{7}'));
        assert!(log.contains("\\n[easel] run succeeded"), "{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_of_trap_is_told_apart() {
    let w = world(programs::TEST_HOSTILE, "hostile", None).await;
    let limits = Limits {
        max_handles: 50,
        ..Limits::default()
    };
    let expect = [
        ("stack", "stack overflow"),
        ("bytes", "per-call byte limit"),
        ("handles", "handle limit"),
        ("forge", "invalid handle"),
        ("panic", "panic: hostile panics on purpose"),
        ("exit", "exit: the plugin exited with status 1"),
    ];
    for (attack, want) in expect {
        let r = w
            .run_with(false, &[("attack", attack.into())], limits.clone())
            .await;
        let msg = r.report.outcome.error().unwrap_or_default().to_owned();
        assert!(msg.contains(want), "{attack}: {msg}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_shared_with_another_school_is_reached_only_through_the_school() {
    let w = world(programs::TEST_PROBE, "probe", None).await;
    // Canvas adds no enrollment to a concluded course: share the user
    // through one of the other school's open courses.
    let own = w.own_course;
    let foreign = w.sim().with_data(|d| {
        d.courses_in(w.other)
            .into_iter()
            .find(|c| c.workflow_state != "completed")
            .map(|c| c.id)
            .unwrap()
    });
    let user = w.sim().with_data(|d| {
        d.enrollments
            .values()
            .find(|e| e.course_id == own && e.kind == "StudentEnrollment")
            .map(|e| e.user_id)
            .unwrap()
    });
    // Before: enrolled only in this school, so the user may be read.
    let r = w
        .run(false, &[("get", format!("/api/v1/users/{user}"))])
        .await;
    assert!(
        World::probe(&r)["get"]["ok"].is_object(),
        "{}",
        World::probe(&r)
    );
    // Enrol them in the other school too, through Canvas's own API.
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/courses/{foreign}/enrollments",
            w.sim().url()
        ))
        .bearer_auth(w.sim().token_for(easel_sim::Role::RootAdmin).unwrap())
        .header("content-type", "application/json")
        .header("user-agent", "easel-tests (Canvas requires one)")
        .body(
            serde_json::json!({"enrollment": {"user_id": user, "type": "StudentEnrollment"}})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let enrollment: Value =
        serde_json::from_str(&resp.text().await.unwrap_or_default()).unwrap_or_default();
    assert!(status.is_success(), "{status}: {enrollment}");
    // ...and conclude that enrollment: Canvas lists only active and invited
    // enrollments unless asked, so a finished one must still count.
    let eid = enrollment["id"].as_u64().unwrap();
    let resp = reqwest::Client::new()
        .delete(format!(
            "{}/api/v1/courses/{foreign}/enrollments/{eid}?task=conclude",
            w.sim().url()
        ))
        .bearer_auth(w.sim().token_for(easel_sim::Role::RootAdmin).unwrap())
        .header("user-agent", "easel-tests (Canvas requires one)")
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    assert!(
        w.sim()
            .with_data(|d| d.enrollments[&eid].enrollment_state == "completed")
    );
    w.sim().clear_requests();
    for path in [
        format!("/api/v1/users/{user}/page_views"),
        format!("/api/v1/users/{user}/enrollments"),
        format!("/api/v1/users/{user}"),
    ] {
        let r = w.run(false, &[("get", path.clone())]).await;
        assert!(
            denied_by(&World::probe(&r)["get"], "shared-user"),
            "{path}: {}",
            World::probe(&r)
        );
    }
    let r = w
        .run(
            false,
            &[
                ("raw_method", "put".into()),
                ("raw_path", format!("/api/v1/users/{user}")),
                ("raw_body", r#"{"user":{"name":"renamed"}}"#.into()),
            ],
        )
        .await;
    // No user is changed at user level (their login acts everywhere).
    assert!(denied_by(&World::probe(&r)["raw"], "unmodelled-endpoint"));
    // Course-scoped calls within the school still work.
    let r = w
        .run(
            false,
            &[
                ("get", format!("/api/v1/courses/{own}/enrollments")),
                ("query", format!("user_id={user}")),
            ],
        )
        .await;
    // Its audit record proves which query was sent, without keeping it.
    let sent_query = format!("user_id={user}\n");
    let want = easel_tests::sha256_hex(sent_query.as_bytes());
    let allowed = w
        .home
        .audit
        .records(&easel_store::AuditFilter::default(), None)
        .unwrap()
        .into_iter()
        .rfind(|a| {
            a.action == "canvas-request-allowed"
                && a.run.as_deref() == Some(r.run_id.as_str())
                && a.path.as_deref() == Some(&format!("/api/v1/courses/{own}/enrollments"))
        })
        .expect("the call was audited");
    assert_eq!(
        allowed.detail.as_deref(),
        Some(format!("request sha256 {want}").as_str())
    );
    assert!(
        World::probe(&r)["get"]["ok"].is_array(),
        "{}",
        World::probe(&r)
    );
    for q in w.sim().requests() {
        assert!(
            !(q.path.contains(&format!("/users/{user}/page_views")) || q.method == "PUT"),
            "sent {} {}",
            q.method,
            q.path
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sis_id_canvas_would_trim_or_cut_is_neither_set_nor_placed() {
    let w = world(programs::TEST_PROBE, "probe", None).await;
    let (own, foreign) = (w.own_course, w.foreign_course);
    let victim = w
        .sim()
        .with_data(|d| d.courses[&foreign].sis_course_id.clone())
        .expect("the simulator gives courses SIS ids");
    // Give the school's own course a near-miss of the other school's SIS id.
    for near in [format!("{victim} "), format!("{victim}.json")] {
        let body = serde_json::json!({"course": {"sis_course_id": near}}).to_string();
        let r = w
            .run(
                false,
                &[
                    ("raw_method", "put".into()),
                    ("raw_path", format!("/api/v1/courses/{own}")),
                    ("raw_body", body),
                ],
            )
            .await;
        assert!(denied_by(&World::probe(&r)["raw"], "body-form"), "{near:?}");
    }
    // Name the other school's course by such a near-miss.
    let encoded: String = victim
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    for path in [
        format!("/api/v1/courses/sis_course_id:{encoded}%20/students/submissions"),
        format!("/api/v1/courses/sis_course_id:{encoded}.json"),
    ] {
        let r = w.run(false, &[("get", path.clone())]).await;
        assert!(
            denied_by(&World::probe(&r)["get"], "school-boundary"),
            "{path}: {}",
            World::probe(&r)
        );
    }
    assert_eq!(w.writes(), Vec::<String>::new(), "nothing was written");
    assert!(
        w.plugin_requests()
            .iter()
            .all(|q| !q.path.contains("sis_course_id")),
        "no request named the near-miss"
    );
}

/// SIS ids of the world's school: a course, a student enrolled only there,
/// and the other school's course, student and student's login.
struct SisIds {
    own_course: String,
    own_student: String,
    foreign_course: String,
    foreign_student: String,
    foreign_login: String,
    own_account: String,
    own_prefix: String,
}

fn sis_ids(w: &World) -> SisIds {
    w.sim().with_data(|d| {
        let only_in = |school: u64| {
            let courses: Vec<u64> = d.courses_in(school).iter().map(|c| c.id).collect();
            d.enrollments
                .values()
                .filter(|e| e.kind == "StudentEnrollment" && courses.contains(&e.course_id))
                .map(|e| &d.users[&e.user_id])
                .find(|u| {
                    d.enrollments
                        .values()
                        .filter(|e| e.user_id == u.id)
                        .all(|e| courses.contains(&e.course_id))
                })
                .expect("a student of one school")
                .clone()
        };
        let (own, foreign) = (only_in(w.school), only_in(w.other));
        SisIds {
            own_course: d.courses[&w.own_course].sis_course_id.clone().unwrap(),
            own_student: own.sis_user_id.clone().unwrap(),
            foreign_course: d.courses[&w.foreign_course].sis_course_id.clone().unwrap(),
            foreign_student: foreign.sis_user_id.clone().unwrap(),
            foreign_login: foreign.login_id.clone(),
            own_account: d.accounts[&w.school].sis_account_id.clone().unwrap(),
            own_prefix: format!("{}-", d.accounts[&w.school].sis_account_id.clone().unwrap()),
        }
    })
}

fn import(csv: String) -> Vec<(&'static str, String)> {
    vec![
        ("raw_path", "/api/v1/accounts/1/sis_imports".into()),
        ("query", "import_type=instructure_csv&extension=csv".into()),
        ("raw_body", csv),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_granted_sis_import_is_checked_row_by_row_and_applied_only_when_every_row_is_the_schools()
{
    let terms = GrantTerms {
        sis_import: true,
        ..GrantTerms::default()
    };
    let w = world(programs::TEST_PROBE, "probe", Some(terms)).await;
    let ids = sis_ids(&w);
    let imports_sent = |w: &World| {
        w.plugin_requests()
            .into_iter()
            .filter(|q| q.method == "POST" && q.path.ends_with("/sis_imports"))
            .count()
    };
    // Each file has a good row first and one hostile row: the whole file
    // is refused, unsent. A row naming another school's object by a SIS id
    // outside the school's prefix is refused by the prefix rule before
    // anything is looked up.
    let p = &ids.own_prefix;
    let hostile = [
        (
            format!(
                "course_id,user_id,role,status\n{},{},student,active\n{},{},teacher,active\n",
                ids.own_course, ids.own_student, ids.foreign_course, ids.own_student
            ),
            "school-boundary",
        ),
        (
            format!(
                "course_id,user_id,role,status\n{},{},student,active\n{},{},student,active\n",
                ids.own_course, ids.own_student, ids.own_course, ids.foreign_student
            ),
            "sis-namespace",
        ),
        (
            format!(
                "course_id,short_name,long_name,account_id,status\n{p}NEW-1,n,New,{},active\n{},x,Renamed,{},deleted\n",
                ids.own_account, ids.foreign_course, ids.own_account
            ),
            "sis-namespace",
        ),
        (
            format!(
                "user_id,login_id,full_name,status\n{p}NEW-U1,new1@example.edu,New One,active\n{p}NEW-U2,{},Taken Login,active\n",
                ids.foreign_login
            ),
            "school-boundary",
        ),
        (
            format!(
                "user_id,login_id,full_name,status\n{},new2@example.edu,Renamed,active\n",
                ids.foreign_student
            ),
            "sis-namespace",
        ),
        (
            "user_id,login_id,full_name,status\nNEW-U3,new3@example.edu,Outside,active\n"
                .to_owned(),
            "sis-namespace",
        ),
    ];
    for (csv, rule) in hostile {
        let r = w.run(false, &import(csv.clone())).await;
        let v = World::probe(&r);
        assert!(denied_by(&v["raw"], rule), "{csv}: {}", v["raw"]);
    }
    assert_eq!(imports_sent(&w), 0, "no hostile file reached Canvas");

    // A file of the school's own rows (a new course, and its student
    // enrolled in it) is sent to the root account as text/csv, and the run
    // may read the import it made.
    let own = format!(
        "course_id,user_id,role,status\n{},{},ta,active\n",
        ids.own_course, ids.own_student
    );
    let mut params = import(own);
    params.push(("then_get", "/api/v1/accounts/1/sis_imports/{id}".into()));
    let r = w.run(false, &params).await;
    let v = World::probe(&r);
    assert!(v["raw"]["ok"]["sent"].is_string(), "{}", v["raw"]);
    assert_eq!(
        v["then_get"]["ok"]["workflow_state"], "imported",
        "{}",
        v["then_get"]
    );
    assert_eq!(imports_sent(&w), 1);
    let sent = w
        .plugin_requests()
        .into_iter()
        .find(|q| q.method == "POST" && q.path.ends_with("/sis_imports"))
        .unwrap();
    assert!(
        sent.headers
            .iter()
            .any(|(k, v)| k == "content-type" && v == "text/csv"),
        "{:?}",
        sent.headers
    );
    assert_eq!(
        sent.body,
        format!(
            "course_id,user_id,role,status\n{},{},ta,active\n",
            ids.own_course, ids.own_student
        )
    );
    let own_student_id = w.sim().with_data(|d| {
        d.users
            .values()
            .find(|u| u.sis_user_id.as_deref() == Some(ids.own_student.as_str()))
            .unwrap()
            .id
    });
    assert!(
        w.sim().with_data(
            |d| d.enrollments.values().any(|e| e.course_id == w.own_course
                && e.user_id == own_student_id
                && e.kind == "TaEnrollment")
        ),
        "the school's own row was applied"
    );

    // Another run may not read that import's status on the root account.
    let r = w
        .run(
            false,
            &[("get", "/api/v1/accounts/1/sis_imports/1".to_owned())],
        )
        .await;
    assert!(denied_by(&World::probe(&r)["get"], "school-boundary"));

    // Each row is a write: a limit of 1 refuses a file of 2 rows.
    let two = format!(
        "course_id,user_id,role,status\n{c},{u},student,active\n{c},{p}NEW-U9,student,active\n",
        c = ids.own_course,
        p = ids.own_prefix,
        u = ids.own_student
    );
    let r = w
        .run_with(
            false,
            &import(two),
            Limits {
                max_writes: Some(1),
                ..Limits::default()
            },
        )
        .await;
    assert!(denied_by(&World::probe(&r)["raw"], "write-limit"));
    assert_eq!(imports_sent(&w), 1, "the two-row file was not sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sis_import_may_not_revive_another_schools_deleted_course_and_creates_only_under_its_prefix()
 {
    let terms = GrantTerms {
        sis_import: true,
        ..GrantTerms::default()
    };
    let w = world(programs::TEST_PROBE, "probe", Some(terms)).await;
    let ids = sis_ids(&w);
    // An admin deletes the other school's course: Canvas answers 404 for
    // it from then on, but its SIS importer would find it by SIS id,
    // restore it and move it to the row's account.
    let deleted = reqwest::Client::new()
        .put(format!(
            "{}/api/v1/courses/{}",
            w.sim().url(),
            w.foreign_course
        ))
        .bearer_auth(&w.token)
        .header("user-agent", "easel-tests admin")
        .header("content-type", "application/json")
        .body(r#"{"course":{"event":"delete"}}"#)
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());
    let gone = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/courses/{}",
            w.sim().url(),
            w.foreign_course
        ))
        .bearer_auth(&w.token)
        .header("user-agent", "easel-tests admin")
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404, "a deleted course is not found");
    let revive = format!(
        "course_id,short_name,long_name,account_id,status\n{},x,Mine Now,{},active\n",
        ids.foreign_course, ids.own_account
    );
    let r = w.run(false, &import(revive.clone())).await;
    let v = World::probe(&r);
    assert!(denied_by(&v["raw"], "sis-namespace"), "{}", v["raw"]);
    assert!(
        v["raw"]["error"]
            .as_str()
            .unwrap()
            .contains(&ids.own_prefix),
        "the denial names the school's prefix: {}",
        v["raw"]
    );
    let imports_sent = |w: &World| {
        w.plugin_requests()
            .into_iter()
            .filter(|q| q.method == "POST" && q.path.ends_with("/sis_imports"))
            .count()
    };
    assert_eq!(
        imports_sent(&w),
        0,
        "the reviving file never reached Canvas"
    );
    w.sim().with_data(|d| {
        let c = &d.courses[&w.foreign_course];
        assert_eq!(c.workflow_state, "deleted");
        assert_eq!(c.account_id, w.other);
    });

    // Without a prefix the school's imports create nothing, even an id
    // that would have been in it.
    let new_course = format!(
        "course_id,short_name,long_name,account_id,status\n{}NEW-7,n7,New Seven,{},active\n",
        ids.own_prefix, ids.own_account
    );
    assert!(w.home.store.clear_sis_prefix("sim", w.school).unwrap());
    let r = w.run(false, &import(new_course.clone())).await;
    let v = World::probe(&r);
    assert!(denied_by(&v["raw"], "sis-namespace"), "{}", v["raw"]);
    assert!(
        v["raw"]["error"].as_str().unwrap().contains("sis-prefix"),
        "the denial says how to set one: {}",
        v["raw"]
    );
    assert_eq!(imports_sent(&w), 0);

    // With its prefix set again, the new course is created in the school.
    w.home
        .store
        .set_sis_prefix("sim", w.school, &ids.own_prefix, "admin")
        .unwrap();
    let mut params = import(new_course);
    params.push(("then_get", "/api/v1/accounts/1/sis_imports/{id}".into()));
    let r = w.run(false, &params).await;
    let v = World::probe(&r);
    assert_eq!(v["then_get"]["ok"]["workflow_state"], "imported", "{v}");
    assert_eq!(imports_sent(&w), 1);
    let want = format!("{}NEW-7", ids.own_prefix);
    w.sim().with_data(|d| {
        let c = d
            .courses
            .values()
            .find(|c| c.sis_course_id.as_deref() == Some(want.as_str()))
            .expect("the new course exists");
        assert_eq!(c.account_id, w.school);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_school_may_not_plant_a_sis_id_under_another_schools_prefix_through_the_api() {
    // Write access only: no SIS-import grant is needed to plant an id.
    let w = world(programs::TEST_PROBE, "probe", Some(GrantTerms::default())).await;
    let ids = sis_ids(&w);
    let other_prefix = w
        .sim()
        .with_data(|d| format!("{}-", d.accounts[&w.other].sis_account_id.clone().unwrap()));
    let put = |sis: &str| {
        vec![
            ("raw_method", "put".to_owned()),
            ("raw_path", format!("/api/v1/courses/{}", w.own_course)),
            (
                "raw_body",
                format!(r#"{{"course":{{"sis_course_id":"{sis}"}}}}"#),
            ),
        ]
    };
    // The bait: the school's own course, renamed into the other school's
    // prefix (then deleted, the other school's import would revive it).
    let bait = format!("{other_prefix}BAIT-2027");
    let r = w.run(false, &put(&bait)).await;
    let v = World::probe(&r);
    assert!(denied_by(&v["raw"], "sis-namespace"), "{}", v["raw"]);
    assert!(
        w.plugin_requests().iter().all(|q| q.method != "PUT"),
        "the planting PUT never reached Canvas"
    );
    let after = w
        .sim()
        .with_data(|d| d.courses[&w.own_course].sis_course_id.clone());
    assert_eq!(after.as_deref(), Some(ids.own_course.as_str()));
    // Its own prefix is fine.
    let own = format!("{}RENAMED-1", ids.own_prefix);
    let r = w.run(false, &put(&own)).await;
    let v = World::probe(&r);
    assert!(v["raw"]["ok"]["sent"].is_string(), "{}", v["raw"]);
    let after = w
        .sim()
        .with_data(|d| d.courses[&w.own_course].sis_course_id.clone());
    assert_eq!(after.as_deref(), Some(own.as_str()));
}

/// A run cannot read what the previous run of the same plugin left in its
/// memory: the pooled slot is reset between runs, however it is reset
/// (memset of the region kept resident, or only the pages the kernel's
/// PAGEMAP_SCAN says were touched).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_finds_nothing_of_the_previous_run_in_its_memory() {
    let w = world(programs::TEST_HOSTILE, "hostile", None).await;
    let pages = |r: &RunResult| -> usize {
        assert_eq!(r.report.outcome, RunOutcome::Succeeded, "{}", r.report.log);
        let line = r
            .report
            .log
            .lines()
            .find_map(|l| l.split("residue pages: ").nth(1))
            .unwrap_or_else(|| panic!("no count in {}", r.report.log));
        line.trim().parse().unwrap()
    };
    // The reader sees the pattern where it is (about 256 pages of 1 MiB).
    let both = w
        .run(
            false,
            &[("attack", "residue-both".into()), ("n", "1".into())],
        )
        .await;
    let seen = pages(&both);
    eprintln!("residue pages in the writing run: {seen}");
    assert!(seen >= 200, "the reader misses the pattern: {seen} pages");
    for _ in 0..3 {
        let write = w
            .run(
                false,
                &[("attack", "residue-write".into()), ("n", "4".into())],
            )
            .await;
        assert_eq!(write.report.outcome, RunOutcome::Succeeded);
        let read = w.run(false, &[("attack", "residue-read".into())]).await;
        assert_eq!(pages(&read), 0, "the previous run's memory was readable");
    }
}

//! Token canary: a unique token may appear only in the Authorization
//! header the simulator received. It must not appear, raw, base64 or
//! URL-encoded, in plugin output, logs (debug level), reports, run records,
//! the SQLite files (or the PostgreSQL database: canary_on_postgres), error
//! texts or Debug output.

use base64::Engine as _;
use easel_app::{RunRequest, execute_run};
use easel_runtime::{Limits, RunOutcome};
use easel_tests::{
    add_and_approve, add_bundled, canary_token, connect, contains, programs, read_all_files,
    sim_with_token,
};

easel_tests::matrix!();

fn forms(token: &str) -> Vec<(String, Vec<u8>)> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let bearer = format!("Bearer {token}");
    vec![
        ("raw".into(), token.as_bytes().to_vec()),
        ("base64".into(), b64.encode(token).into_bytes()),
        ("base64url".into(), b64url.encode(token).into_bytes()),
        ("base64 bearer".into(), b64.encode(&bearer).into_bytes()),
        ("url-encoded".into(), token.replace('~', "%7E").into_bytes()),
        // As pg_dump writes a BYTEA column.
        (
            "hex".into(),
            token
                .bytes()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                .into_bytes(),
        ),
        (
            "url-encoded (lower)".into(),
            token.replace('~', "%7e").into_bytes(),
        ),
    ]
}

fn assert_clean(what: &str, bytes: &[u8], token: &str) {
    for (form, needle) in forms(token) {
        assert!(
            !contains(bytes, &needle),
            "the token ({form}) leaked into {what}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_appears_only_in_authorization_headers() {
    let captured = easel_tests::Captured::install();

    let token = canary_token();
    let sim = sim_with_token(&token).await;
    let (school, other, own_course, foreign_course) = sim.with_data(|d| {
        let s = d.schools();
        (
            s[0].id,
            s[1].id,
            d.courses_in(s[0].id)[0].id,
            d.courses_in(s[1].id)[0].id,
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    add_bundled(&home, &easel_bundled::COURSE_REPORT, school, false);
    add_and_approve(&home, programs::TEST_PROBE, "probe", school, true);
    let conn = connect(sim, &token);
    let runtime = home.runtime().unwrap();
    let run = |plugin: &str, dry_run: bool, params: Vec<(&str, String)>| RunRequest {
        plugin: plugin.into(),
        school,
        dry_run,
        params: params.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        limits: Limits::default(),
        plan: None,
    };

    let mut texts: Vec<String> = Vec::new();
    let report = execute_run(&home, &conn, &runtime, run("course-report", false, vec![]))
        .await
        .unwrap();
    assert_eq!(report.report.outcome, RunOutcome::Succeeded);
    let probe_params = vec![
        ("get", format!("/api/v1/courses/{own_course}")),
        ("list", format!("/api/v1/accounts/{school}/courses")),
        ("put", format!("/api/v1/courses/{own_course}")),
    ];
    for dry_run in [true, false] {
        let r = execute_run(
            &home,
            &conn,
            &runtime,
            run("probe", dry_run, probe_params.clone()),
        )
        .await
        .unwrap();
        assert_eq!(r.report.outcome, RunOutcome::Succeeded, "{}", r.report.log);
        texts.push(format!("{r:?}"));
    }
    let denied = vec![
        (
            "get",
            format!("/api/v1/courses/{foreign_course}?access_token=x"),
        ),
        ("list", format!("/api/v1/accounts/{other}/courses")),
        ("fail", "true".to_owned()),
    ];
    let failed = execute_run(&home, &conn, &runtime, run("probe", false, denied))
        .await
        .unwrap();
    assert!(matches!(failed.report.outcome, RunOutcome::Failed(_)));
    texts.push(format!("{failed:?}"));
    texts.push(failed.report.outcome.error().unwrap_or_default().to_owned());
    for bad in [
        run("nope", false, vec![]),
        run("probe", false, vec![("colour", "x".into())]),
        RunRequest {
            school: 999_999,
            ..run("probe", false, vec![])
        },
    ] {
        let e = execute_run(&home, &conn, &runtime, bad).await.unwrap_err();
        texts.push(e.to_string());
        texts.push(format!("{e:?}"));
    }
    texts.push(format!("{:?}", conn.client));
    texts.push(serde_json::to_string(&home.store.runs(100).unwrap()).unwrap());

    // The plugin saw its environment, arguments and filesystem: none holds it.
    let probe: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&failed.report.outputs[0]).unwrap()).unwrap();
    assert_eq!(
        probe["env"],
        serde_json::json!([]),
        "a plugin has no environment"
    );
    assert!(
        probe["fs_root"].as_str().unwrap().starts_with("Err"),
        "a plugin has no filesystem: {probe}"
    );

    for t in &texts {
        assert_clean("a run record, error or Debug output", t.as_bytes(), &token);
    }
    drop(runtime);
    for (path, bytes) in read_all_files(dir.path()) {
        assert_clean(&path, &bytes, &token);
    }
    // On PostgreSQL the records are not files in the data directory.
    if let Some(dump) = database_dump(dir.path()) {
        assert!(
            dump.contains("INSERT INTO public.runs"),
            "the dump holds the runs"
        );
        assert_clean("the PostgreSQL database", dump.as_bytes(), &token);
    }
    assert_clean("the debug log", &captured.0.lock().unwrap(), &token);
    assert!(
        !captured.0.lock().unwrap().is_empty(),
        "debug logging was captured"
    );

    let sim = conn.sim.as_ref().unwrap();
    let requests = sim.requests();
    assert!(requests.len() > 5);
    for q in &requests {
        assert_eq!(
            q.header("authorization"),
            Some(format!("Bearer {token}").as_str())
        );
        let mut elsewhere = format!("{} {} {} {}", q.method, q.path, q.query, q.body);
        for (name, value) in &q.headers {
            if name != "authorization" {
                elsewhere.push_str(value);
            }
        }
        assert_clean(
            "a request outside its Authorization header",
            elsewhere.as_bytes(),
            &token,
        );
    }
}

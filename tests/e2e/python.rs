//! Python plugins (componentize-py, the `easel` SDK in `plugins/python`)
//! run in the same host under the same policy, audit and limits as Rust
//! ones. The components are built here by `easel_wasm_build::python`, with a
//! pinned componentize-py in a venv under `target/`, and cached there by
//! the hash of their inputs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use easel_app::{Home, RunRequest, RunResult, execute_run};
use easel_runtime::{Limits, RunOutcome};
use easel_store::AuditFilter;
use easel_tests::{canary_token, connect, home, sim_with_token};
use easel_wasm_build::python::PythonBuild;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn builder() -> PythonBuild {
    PythonBuild::new(
        repo(),
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("python"),
    )
}

/// Build (or take from the cache) the Python plugin in `dir` (relative to
/// the repository); returns its bytes and manifest.
fn build(dir: &str) -> (Vec<u8>, String) {
    let dir = repo().join(dir);
    let wasm = builder()
        .build(&dir)
        .unwrap_or_else(|e| panic!("building the Python plugin {}: {e}", dir.display()));
    let manifest = std::fs::read_to_string(dir.join("easel.toml")).unwrap();
    (std::fs::read(wasm).unwrap(), manifest)
}

fn add(home: &Home, dir: &str, school: u64, write: bool) -> String {
    let started = std::time::Instant::now();
    let (bytes, manifest) = tokio::task::block_in_place(|| build(dir));
    let built = started.elapsed();
    let id = easel_policy::Manifest::parse(&manifest).unwrap().id;
    easel_app::add(
        home,
        &easel_tests::person("contributor"),
        &bytes,
        &manifest,
        &id,
    )
    .unwrap();
    eprintln!(
        "{dir}: {} bytes, built (or cached) in {built:?}, added (compiled or cached) in {:?}",
        bytes.len(),
        started.elapsed() - built
    );
    easel_app::approve(home, &id, &[school], write, &easel_tests::person("admin")).unwrap();
    id
}

fn request(plugin: &str, school: u64, dry_run: bool, params: &[(&str, &str)]) -> RunRequest {
    RunRequest {
        plugin: plugin.into(),
        school,
        dry_run,
        params: params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        limits: Limits::default(),
        plan: None,
    }
}

fn succeeded(r: &RunResult) {
    assert_eq!(
        r.report.outcome,
        RunOutcome::Succeeded,
        "log:\n{}",
        r.report.log
    );
}

/// The SDK's own tests (plugins/python/tests), against its generated
/// bindings with the host faked: no wasm, a second or two.
#[test]
fn the_python_sdk_passes_its_unit_tests() {
    let bindings = tempfile::tempdir().unwrap();
    let b = builder();
    b.bindings("easel:canvas/plugin", bindings.path())
        .unwrap_or_else(|e| panic!("{e}"));
    let sdk = repo().join("plugins/python");
    let out = std::process::Command::new(b.venv_python().unwrap())
        .args(["-m", "unittest", "-v", "test_sdk"])
        .current_dir(sdk.join("tests"))
        .env(
            "PYTHONPATH",
            std::env::join_paths([bindings.path(), &sdk, &sdk.join("tests")]).unwrap(),
        )
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Ran 8 tests"), "{text}");
}

/// canvasapi and the pure-Python packages it needs (its `requests` is
/// easel's own), pinned.
const CANVASAPI: &[&str] = &[
    "canvasapi==3.6.0",
    "arrow==1.3.0",
    "python-dateutil==2.9.0.post0",
    "six==1.16.0",
    "pytz==2025.2",
];

#[test]
fn canvasapi_runs_unmodified_over_the_sdks_requests() {
    let bindings = tempfile::tempdir().unwrap();
    let b = builder();
    b.bindings("easel:canvas/plugin", bindings.path())
        .unwrap_or_else(|e| panic!("{e}"));
    let deps = b
        .dependencies(&CANVASAPI.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(deps.join("canvasapi").is_dir());
    assert!(!deps.join("requests").exists(), "requests is easel's own");
    let sdk = repo().join("plugins/python");
    let out = std::process::Command::new(b.venv_python().unwrap())
        .args(["-m", "unittest", "-v", "test_requests"])
        .current_dir(sdk.join("tests"))
        .env(
            "PYTHONPATH",
            std::env::join_paths([bindings.path(), &sdk, &sdk.join("tests"), &deps]).unwrap(),
        )
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Ran 8 tests"), "{text}");
    // requests itself is refused as a dependency.
    let refused = b
        .dependencies(&["requests==2.32.3".to_string()])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(refused.contains("easel's own"), "{refused}");
}

/// The rows of a run's one CSV report, header first, the rest sorted.
fn csv_rows(r: &RunResult) -> Vec<Vec<String>> {
    assert_eq!(r.report.outputs.len(), 1, "one report");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(&r.report.outputs[0])
        .unwrap();
    let mut rows: Vec<Vec<String>> = reader
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_owned).collect())
        .collect();
    rows[1..].sort();
    rows
}

/// The course report written with canvasapi (unmodified, bundled from
/// PyPI) pages through the host and writes the Rust report's rows; its
/// placeholder "token" is never sent, the institution's token is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_canvasapi_course_report_pages_through_the_host_and_matches_the_rust_one() {
    let token = canary_token();
    // Schools of 230 courses: three pages of 100.
    let sim = easel_sim::Simulator::start(easel_sim::SimConfig {
        admin_token: Some(token.clone()),
        preset: easel_sim::Preset::Custom(easel_sim::Sizes {
            schools: 2,
            courses_per_school: 230,
            students_per_school: 60,
            teachers_per_school: 8,
        }),
        ..easel_sim::SimConfig::default()
    })
    .await
    .unwrap();
    // The school with the most courses (its department's included).
    let (school, courses) = sim.with_data(|d| {
        d.schools()
            .iter()
            .map(|s| (s.id, d.courses_in(s.id).len()))
            .max_by_key(|(_, n)| *n)
            .unwrap()
    });
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    easel_tests::add_bundled(&home, &easel_bundled::COURSE_REPORT, school, false);
    let id = add(
        &home,
        "plugins/python/course-report-canvasapi",
        school,
        false,
    );
    let digest = home.store.find_plugin(&id).unwrap().unwrap().digest;
    let conn = connect(sim, &token);
    let sim = conn.sim.as_ref().unwrap();
    let runtime = home.runtime().unwrap();
    let rust = execute_run(
        &home,
        &conn,
        &runtime,
        request("course-report", school, false, &[]),
    )
    .await
    .unwrap();
    succeeded(&rust);
    sim.clear_requests();
    let py = execute_run(&home, &conn, &runtime, request(&id, school, false, &[]))
        .await
        .unwrap();
    succeeded(&py);
    let (rust_rows, py_rows) = (csv_rows(&rust), csv_rows(&py));
    assert_eq!(py_rows.len(), courses + 1, "every course, and the header");
    assert_eq!(py_rows, rust_rows, "canvasapi's report is the Rust one's");

    let ua = format!(
        "easel/{} (plugin={id}@{}; run={}; school={school})",
        env!("CARGO_PKG_VERSION"),
        &digest[..12],
        py.run_id
    );
    let requests = sim.requests();
    let pages = requests
        .iter()
        .filter(|q| {
            q.header("user-agent") == Some(ua.as_str())
                && q.path == format!("/api/v1/accounts/{school}/courses")
        })
        .count();
    assert!(
        courses > 100 && pages >= courses.div_ceil(100),
        "{courses} courses in {pages} pages"
    );
    for q in &requests {
        let all = format!("{:?}", q);
        assert!(
            !all.contains("easel-placeholder"),
            "the placeholder reached Canvas: {all}"
        );
        if q.header("user-agent") == Some(ua.as_str()) {
            assert_eq!(
                q.header("authorization"),
                Some(format!("Bearer {token}").as_str()),
                "the host's token, not the plugin's"
            );
        }
    }
    assert!(
        py.report.log.contains("with canvasapi"),
        "{}",
        py.report.log
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_unstaffed_courses_report_matches_the_simulators_data() {
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    let school = sim.with_data(|d| d.schools()[1].id);
    // Every simulated course has a teacher: end the teacher enrollments of
    // three published courses through the API, as an admin would.
    let staffed: Vec<(u64, Vec<u64>)> = sim.with_data(|d| {
        d.courses_in(school)
            .into_iter()
            .filter(|c| c.workflow_state == "available")
            .take(3)
            .map(|c| {
                let teachers = d
                    .enrollments
                    .values()
                    .filter(|e| e.course_id == c.id && e.kind == "TeacherEnrollment")
                    .map(|e| e.id)
                    .collect();
                (c.id, teachers)
            })
            .collect()
    });
    assert_eq!(staffed.len(), 3, "the school has published courses");
    let http = reqwest::Client::new();
    for (course, enrollments) in &staffed {
        for e in enrollments {
            let answer = http
                .delete(format!(
                    "{}/api/v1/courses/{course}/enrollments/{e}?task=delete",
                    sim.url()
                ))
                .bearer_auth(&token)
                .header("user-agent", "easel-tests (Canvas requires one)")
                .send()
                .await
                .unwrap();
            assert!(answer.status().is_success(), "{}", answer.status());
        }
    }
    // Computed independently from the simulator's data.
    let expected: Vec<Vec<String>> = sim.with_data(|d| {
        let mut rows: Vec<Vec<String>> = d
            .courses_in(school)
            .into_iter()
            .filter(|c| c.workflow_state == "available")
            .filter(|c| d.count_enrollments(c.id, "TeacherEnrollment") == 0)
            .map(|c| {
                vec![
                    c.id.to_string(),
                    c.sis_course_id.clone().unwrap_or_default(),
                    c.course_code.clone(),
                    c.name.clone(),
                    c.account_id.to_string(),
                    d.count_enrollments(c.id, "StudentEnrollment").to_string(),
                ]
            })
            .collect();
        rows.sort();
        rows
    });
    let mut removed: Vec<String> = staffed.iter().map(|(c, _)| c.to_string()).collect();
    removed.sort();
    let mut expected_ids: Vec<String> = expected.iter().map(|r| r[0].clone()).collect();
    expected_ids.sort();
    assert_eq!(
        expected_ids, removed,
        "exactly the three courses lost their teachers"
    );

    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    let id = add(&home, "plugins/python/unstaffed-courses", school, false);
    assert_eq!(id, "unstaffed-courses");
    let digest = home.store.find_plugin(&id).unwrap().unwrap().digest;
    let conn = connect(sim, &token);
    let sim = conn.sim.as_ref().unwrap();
    sim.clear_requests();
    let runtime = home.runtime().unwrap();
    let r = execute_run(&home, &conn, &runtime, request(&id, school, false, &[]))
        .await
        .unwrap();
    succeeded(&r);
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
            "students"
        ]
    );
    let mut rows: Vec<Vec<String>> = reader
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_owned).collect())
        .collect();
    rows.sort();
    assert_eq!(rows, expected);
    assert!(
        r.report.log.contains(&format!("{} of ", expected.len())),
        "the plugin logs its count:\n{}",
        r.report.log
    );

    // Every call the plugin made carries its User-Agent and is audited.
    let ua = format!(
        "easel/{} (plugin={id}@{}; run={}; school={school})",
        env!("CARGO_PKG_VERSION"),
        &digest[..12],
        r.run_id
    );
    // Besides the CLI's own lookup of the school, every request is the
    // plugin's call (with its User-Agent) or easel's lookup on its behalf.
    let requests = sim.requests();
    assert!(r.report.calls >= 1);
    let plugin_calls = requests
        .iter()
        .filter(|q| q.header("user-agent") == Some(ua.as_str()))
        .count();
    assert_eq!(plugin_calls as u32, r.report.calls);
    for q in &requests {
        let agent = q.header("user-agent").unwrap_or_default();
        assert!(
            agent == ua
                || agent.contains("(admin; command=run)")
                || agent.contains("(lookup; plugin=unstaffed-courses@"),
            "{agent} {}",
            q.path
        );
    }
    let listed: Vec<_> = requests
        .iter()
        .filter(|q| q.header("user-agent") == Some(ua.as_str()))
        .collect();
    for q in listed {
        assert_eq!(q.path, format!("/api/v1/accounts/{school}/courses"));
        assert!(
            q.query.contains("state%5B%5D=available") || q.query.contains("state[]=available"),
            "{}",
            q.query
        );
    }
    let audited: Vec<_> = home
        .audit
        .records(&AuditFilter::default(), None)
        .unwrap()
        .into_iter()
        .filter(|rec| {
            rec.run.as_deref() == Some(r.run_id.as_str())
                && rec.status == Some(200)
                && rec.path.as_deref()
                    == Some(format!("/api/v1/accounts/{school}/courses").as_str())
        })
        .collect();
    assert_eq!(
        audited.len() as u32,
        r.report.calls,
        "each call audited with its answer"
    );
    for rec in &audited {
        assert_eq!(
            rec.path.as_deref(),
            Some(format!("/api/v1/accounts/{school}/courses").as_str())
        );
        assert_eq!(rec.plugin.as_deref(), Some(id.as_str()));
    }

    // Compiled once, at `plugin add`: a second runtime's run only
    // deserializes the cached code and leaves it as it was.
    let cache = Path::new(env!("OUT_DIR")).join("compile-cache");
    let cached: Vec<PathBuf> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&digest) && n.ends_with(".cwasm"))
        })
        .collect();
    assert_eq!(cached.len(), 1, "one compiled artifact for {digest}");
    let modified = std::fs::metadata(&cached[0]).unwrap().modified().unwrap();
    let again = home.runtime().unwrap();
    let started = std::time::Instant::now();
    let r2 = execute_run(&home, &conn, &again, request(&id, school, false, &[]))
        .await
        .unwrap();
    succeeded(&r2);
    eprintln!(
        "python component: {} bytes; run with a fresh runtime (cached code) {:?}",
        std::fs::metadata(home.component_path(&digest))
            .unwrap()
            .len(),
        started.elapsed()
    );
    assert_eq!(
        std::fs::metadata(&cached[0]).unwrap().modified().unwrap(),
        modified,
        "the run did not recompile"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_plugin_is_held_by_the_same_policy_sandbox_and_limits() {
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    let (school, other, course) = sim.with_data(|d| {
        let school = d.schools()[0].id;
        let course = d.courses_in(school)[0].id;
        (school, d.schools()[1].id, course)
    });
    let name_before = sim.with_data(|d| d.courses[&course].name.clone());
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    let id = add(&home, "tests/plugins/python-probe", school, true);
    let conn = connect(sim, &token);
    let sim = conn.sim.as_ref().unwrap();
    let runtime = home.runtime().unwrap();
    let run = |params: &[(&str, &str)], dry_run: bool| {
        let mut req = request(&id, school, dry_run, params);
        req.limits.cpu = Duration::from_secs(2);
        req.limits.wall = Duration::from_secs(60);
        execute_run(&home, &conn, &runtime, req)
    };

    // A call outside its school is denied before anything is sent, the
    // plugin sees `easel.Denied` with the rule, and the denial is audited.
    sim.clear_requests();
    let other_path = format!("/api/v1/accounts/{other}");
    let r = run(&[("attack", "get"), ("path", &other_path)], false)
        .await
        .unwrap();
    succeeded(&r);
    assert_eq!(r.report.denied, 1);
    assert_eq!(r.report.calls, 0);
    assert!(
        sim.requests()
            .iter()
            .all(|q| !q.path.contains(&format!("/accounts/{other}"))),
        "nothing about the other school was sent: {:?}",
        sim.requests()
    );
    let denial = home
        .audit
        .records(&AuditFilter::default(), None)
        .unwrap()
        .into_iter()
        .find(|rec| {
            rec.run.as_deref() == Some(r.run_id.as_str())
                && rec.path.as_deref() == Some(other_path.as_str())
        })
        .expect("the denial is audited");
    let detail = denial.detail.unwrap();
    let rule = detail.split(':').next().unwrap();
    assert_eq!(rule, "school-boundary");
    assert!(
        r.report
            .log
            .contains(&format!("denied rule={rule} reason=")),
        "the plugin saw the rule {rule:?}:\n{}",
        r.report.log
    );

    // A dry run of a write plans it and sends nothing.
    sim.clear_requests();
    let course_path = format!("/api/v1/courses/{course}");
    let r = run(&[("attack", "put"), ("path", &course_path)], true)
        .await
        .unwrap();
    succeeded(&r);
    assert_eq!(r.report.plan.len(), 1);
    assert_eq!(r.report.plan[0].method, "PUT");
    assert_eq!(r.report.plan[0].path, course_path);
    assert!(
        r.report
            .log
            .contains(&format!("planned step={}", r.report.plan[0].step)),
        "{}",
        r.report.log
    );
    assert!(
        sim.requests().iter().all(|q| q.method == "GET"),
        "a dry run sends no write: {:?}",
        sim.requests()
    );
    assert_eq!(
        sim.with_data(|d| d.courses[&course].name.clone()),
        name_before
    );

    // The environment is empty; files and sockets trap (WASI is stubbed).
    let r = run(&[("attack", "environ")], false).await.unwrap();
    succeeded(&r);
    assert!(r.report.log.contains("environ={}"), "{}", r.report.log);
    let r = run(&[("attack", "passwd")], false).await.unwrap();
    assert!(
        matches!(r.report.outcome, RunOutcome::Failed(_)),
        "{:?}",
        r.report.outcome
    );
    eprintln!("passwd attack: {:?}", r.report.outcome);
    assert!(!r.report.log.contains("passwd="), "{}", r.report.log);
    assert!(!r.report.log.contains("root:"), "{}", r.report.log);
    sim.clear_requests();
    let before = sim.request_count();
    let port = sim
        .url()
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let r = run(&[("attack", "socket"), ("port", &port)], false)
        .await
        .unwrap();
    assert!(
        matches!(r.report.outcome, RunOutcome::Failed(_)),
        "{:?}",
        r.report.outcome
    );
    assert!(!r.report.log.contains("socket="), "{}", r.report.log);
    eprintln!("socket attack: {:?}", r.report.outcome);
    let seen = sim.requests();
    assert_eq!(sim.request_count() - before, seen.len() as u64);
    assert!(
        seen.iter().all(|q| q
            .header("user-agent")
            .is_some_and(|ua| ua.starts_with("easel/"))),
        "only easel's own requests reached the simulator: {seen:?}"
    );

    // An unexpected exception fails the run with its type and place.
    let r = run(&[("attack", "bug")], false).await.unwrap();
    match &r.report.outcome {
        RunOutcome::Failed(m) => {
            assert!(m.contains("KeyError: 'missing'"), "{m}");
            assert!(m.contains("app.py:"), "{m}");
        }
        other => panic!("expected a failed run, got {other:?}"),
    }

    // An infinite loop is stopped by the CPU budget, well before the wall clock.
    let r = run(&[("attack", "spin")], false).await.unwrap();
    assert!(
        matches!(r.report.outcome, RunOutcome::TimedOut(_)),
        "{:?}",
        r.report.outcome
    );
    assert!(
        r.report.duration < Duration::from_secs(30),
        "{:?}",
        r.report.duration
    );

    // A memory bomb is stopped at the manifest's `memory = "48MiB"`, not
    // the host's default or its pool slot.
    let r = run(&[("attack", "bomb")], false).await.unwrap();
    match &r.report.outcome {
        RunOutcome::MemoryLimit(m) => assert!(m.contains("48 MiB"), "{m}"),
        other => panic!("expected the memory limit, got {other:?}"),
    }

    // The host stays up: the next run, in the same runtime, succeeds.
    let r = run(&[("attack", "environ")], false).await.unwrap();
    succeeded(&r);
}

/// Every run slot of the pool can hold a Python plugin (38 core module
/// instances each), not only a Rust one: as many Python runs as the
/// runtime has slots run at once (each waits on a slow Canvas answer while
/// the others start), and each succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_many_python_runs_as_the_runtime_has_slots_run_at_once() {
    const SLOTS: u32 = 4;
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    sim.set_faults(easel_sim::Faults {
        latency: Some(Duration::from_millis(400)),
        ..Default::default()
    });
    let schools: Vec<u64> = sim.with_data(|d| d.schools().iter().map(|a| a.id).collect());
    assert!(schools.len() >= SLOTS as usize);
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    let id = add(&home, "tests/plugins/python-probe", schools[0], true);
    for &school in &schools[1..SLOTS as usize] {
        easel_app::approve(&home, &id, &[school], true, &easel_tests::person("admin")).unwrap();
    }
    let conn = connect(sim, &token);
    let runtime = home.runtime_for(SLOTS).unwrap();
    let known = std::collections::HashMap::new();
    let reqs = schools[..SLOTS as usize]
        .iter()
        .map(|&school| {
            let path = format!("/api/v1/accounts/{school}");
            request(&id, school, false, &[("attack", "get"), ("path", &path)])
        })
        .collect();
    let started = std::time::Instant::now();
    let results = easel_app::execute_many(
        &home,
        &easel_tests::person("admin"),
        &conn,
        &runtime,
        reqs,
        &known,
        SLOTS as usize,
        &easel_app::Quiet,
    )
    .await;
    assert_eq!(results.len(), SLOTS as usize);
    for (_, r) in results {
        succeeded(&r.unwrap());
    }
    eprintln!("{SLOTS} Python runs at once in {:?}", started.elapsed());
}

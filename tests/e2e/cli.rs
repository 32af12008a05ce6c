//! The CLI's exit codes and one-line errors for bad input, driven through
//! the same entry point as the binary (against the embedded simulator).

use easel_cli::{CliError, Outcome};

async fn easel(home: &std::path::Path, args: &[&str]) -> Result<Outcome, CliError> {
    easel_tests::easel(home, args).await.1
}

fn code(r: &Result<Outcome, CliError>) -> u8 {
    match r {
        Ok(Outcome::Success) => 0,
        Ok(Outcome::RunFailed) => 1,
        Err(e) => e.exit_code(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_exits_2_with_a_message_that_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let manifest = dir.path().join("easel.toml");
    std::fs::write(&manifest, "id = \"x\"\nversoin = \"1\"\n").unwrap();
    let wasm = dir.path().join("plugin.wasm");
    std::fs::write(&wasm, easel_bundled::COURSE_REPORT.wasm).unwrap();

    let r = easel(
        &home,
        &[
            "plugin",
            "add",
            "missing.wasm",
            "--manifest",
            manifest.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(code(&r), 2);
    assert!(
        r.unwrap_err()
            .to_string()
            .contains("cannot read missing.wasm")
    );

    let r = easel(
        &home,
        &[
            "plugin",
            "add",
            wasm.to_str().unwrap(),
            "--manifest",
            manifest.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(code(&r), 2);
    let msg = r.unwrap_err().to_string();
    assert!(
        msg.contains("manifest is not valid") && msg.contains("line 2"),
        "{msg}"
    );

    let good = dir.path().join("good.toml");
    std::fs::write(&good, easel_bundled::COURSE_REPORT.manifest).unwrap();
    let r = easel(
        &home,
        &[
            "plugin",
            "add",
            manifest.to_str().unwrap(),
            "--manifest",
            good.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(code(&r), 2, "a TOML file is not a component");

    let r = easel(
        &home,
        &[
            "plugin",
            "add",
            wasm.to_str().unwrap(),
            "--manifest",
            good.to_str().unwrap(),
            "--by",
            "school-it",
        ],
    )
    .await;
    assert_eq!(code(&r), 0);
    let r = easel(
        &home,
        &["plugin", "approve", "course-report", "--school", "999999"],
    )
    .await;
    assert_eq!(code(&r), 2);
    assert!(r.unwrap_err().to_string().contains("easel schools"));
    let r = easel(&home, &["run", "course-report", "--school", "2"]).await;
    assert_eq!(code(&r), 2, "not approved yet");
    let r = easel(
        &home,
        &["plugin", "approve", "course-report", "--school", "2"],
    )
    .await;
    assert_eq!(code(&r), 0);
    let r = easel(
        &home,
        &[
            "run",
            "course-report",
            "--school",
            "2",
            "--param",
            "term_id=soon",
        ],
    )
    .await;
    assert_eq!(code(&r), 2);
    assert!(r.unwrap_err().to_string().contains("integer"));
    let r = easel(&home, &["run", "course-report", "--school", "2"]).await;
    assert_eq!(code(&r), 0);
    let r = easel(&home, &["plugin", "inspect", "course-report"]).await;
    assert_eq!(code(&r), 0);
    let r = easel(&home, &["runs", "show", "nonexistent"]).await;
    assert_eq!(code(&r), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_run_exits_1_and_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let wasm = dir.path().join("probe.wasm");
    std::fs::copy(easel_tests::programs::TEST_PROBE, &wasm).unwrap();
    let manifest = dir.path().join("easel.toml");
    std::fs::write(&manifest, easel_tests::test_manifest("probe", true)).unwrap();
    let add = easel(
        &home,
        &[
            "plugin",
            "add",
            wasm.to_str().unwrap(),
            "--manifest",
            manifest.to_str().unwrap(),
            "--by",
            "school-it",
        ],
    )
    .await;
    assert_eq!(code(&add), 0);
    assert_eq!(
        code(&easel(&home, &["plugin", "approve", "probe", "--school", "2"]).await),
        0
    );
    let r = easel(
        &home,
        &["run", "probe", "--school", "2", "--param", "fail=true"],
    )
    .await;
    assert_eq!(code(&r), 1);
    let h = easel_app::Home::open(Some(home)).unwrap();
    let runs = h.store.runs(10).unwrap();
    assert_eq!(runs[0].status.as_str(), "failed");
    assert_eq!(runs[0].error.as_deref(), Some("probe asked to fail"));
    assert!(
        runs[0].log.contains("[stdout] probe stdout"),
        "{}",
        runs[0].log
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_does_not_exist_is_an_error_not_the_simulator() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let h = easel_app::Home::open(Some(home.clone())).unwrap();
    easel_tests::add_bundled(&h, &easel_bundled::COURSE_REPORT, 2, false);
    drop(h);
    for args in [
        &[
            "run",
            "course-report",
            "--school",
            "2",
            "--instance",
            "nonexistent",
        ][..],
        &[
            "run",
            "course-report",
            "--all-schools",
            "--instance",
            "nonexistent",
        ][..],
    ] {
        let r = easel(&home, args).await;
        assert_eq!(code(&r), 2, "{args:?}");
        assert!(
            r.unwrap_err()
                .to_string()
                .contains("no instance \"nonexistent\""),
            "{args:?}"
        );
    }
    let h = easel_app::Home::open(Some(home)).unwrap();
    assert!(h.store.runs(10).unwrap().is_empty(), "nothing ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_approval_covers_a_list_of_schools_or_all_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let h = easel_app::Home::open(Some(home.clone())).unwrap();
    let p = &easel_bundled::COURSE_REPORT;
    easel_app::add(
        &h,
        &easel_tests::person("contributor"),
        p.wasm,
        p.manifest,
        p.name,
    )
    .unwrap();
    drop(h);
    let approve = |extra: &'static [&'static str]| {
        let mut args = vec!["plugin", "approve", "course-report", "--by", "admin"];
        args.extend_from_slice(extra);
        args
    };
    let r = easel(&home, &approve(&["--school", "2,4"])).await;
    assert_eq!(code(&r), 0);
    let h = easel_app::Home::open(Some(home.clone())).unwrap();
    let mut schools: Vec<u64> = h
        .store
        .approvals()
        .unwrap()
        .iter()
        .map(|a| a.school)
        .collect();
    schools.sort();
    assert_eq!(schools, vec![2, 4]);
    drop(h);
    let r = easel(&home, &approve(&["--all-schools"])).await;
    assert_eq!(code(&r), 0);
    let sim = easel_sim::Simulator::start(easel_sim::SimConfig::default())
        .await
        .unwrap();
    let all = sim.with_data(|d| d.schools().len());
    let h = easel_app::Home::open(Some(home.clone())).unwrap();
    let mut live: Vec<u64> = h
        .store
        .approvals()
        .unwrap()
        .iter()
        .map(|a| a.school)
        .collect();
    live.sort();
    live.dedup();
    assert_eq!(live.len(), all, "every school of the simulator");
    drop(h);
}

/// One `easel sim serve --state FILE` run: the admin token it used and the
/// name of course 101 when it started; `rename` renames that course
/// through the API before the simulator is stopped.
async fn serve_once(state: &std::path::Path, rename: Option<&str>) -> (String, String) {
    use tokio::sync::oneshot;
    let (started, running) = oneshot::channel::<(String, String)>();
    let (stop, stopped) = oneshot::channel::<()>();
    let command = easel_cli::SimCommand::Serve {
        port: 0,
        preset: "demo".into(),
        seed: 42,
        no_throttle: true,
        state: Some(state.to_path_buf()),
        sign_in_redirect: None,
    };
    let server = tokio::spawn(easel_cli::serve_simulator(
        command,
        move |sim| {
            let _ = started.send((sim.url().to_owned(), sim.admin_token().to_owned()));
        },
        async move {
            let _ = stopped.await;
            Ok(())
        },
    ));
    let (url, token) = running.await.unwrap();
    let client = reqwest::Client::new();
    let course = format!("{url}/api/v1/courses/101");
    let name = |r: reqwest::Response| async move {
        let v: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        v["name"].as_str().unwrap().to_owned()
    };
    let before = name(
        client
            .get(&course)
            .bearer_auth(&token)
            .header("user-agent", "easel-tests")
            .send()
            .await
            .unwrap(),
    )
    .await;
    if let Some(new) = rename {
        let r = client
            .put(&course)
            .bearer_auth(&token)
            .header("user-agent", "easel-tests")
            .form(&[("course[name]", new)])
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }
    stop.send(()).unwrap();
    assert!(matches!(server.await.unwrap(), Ok(Outcome::Success)));
    (token, before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_serve_with_a_state_file_keeps_writes_and_tokens_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("sim.json");
    let (token, original) = serve_once(&state, Some("Kept Across Restarts")).await;
    assert_ne!(original, "Kept Across Restarts");
    assert!(state.exists(), "the data was saved on stopping");
    let (again, name) = serve_once(&state, None).await;
    assert_eq!(name, "Kept Across Restarts", "the write came back");
    assert_eq!(again, token, "the tokens came back");
}

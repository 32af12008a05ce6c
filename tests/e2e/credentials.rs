//! Credentials: the vault, OAuth2 refresh, rotation, origin pinning, and
//! one school's token versus another's.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use easel_app::approve_on;
use easel_app::{Connection, Home, RunRequest, Target, execute_run};
use easel_canvas::{CallTag, CanvasClient, ReqwestTransport, Transport};
use easel_runtime::{Limits, RunOutcome};
use easel_sim::{Faults, SimHandle};
use easel_store::InstanceRow;
use easel_tests::{
    add_and_approve, canary_token, contains, programs, read_all_files, sim_with_token,
};

easel_tests::matrix!();
use easel_vault::{NewSecret, Vault};
use secrecy::SecretString;

/// The vault of the data directory `dir`, opened afresh with the key
/// file there, on this target's store.
fn open_vault(dir: &std::path::Path) -> Result<Vault, easel_vault::VaultError> {
    match easel_tests::matrix_database(env!("CARGO_CRATE_NAME"), dir) {
        easel_app::database::Database::Sqlite => Vault::open(dir),
        easel_app::database::Database::Postgres(url) => Vault::open_records(
            Box::new(easel_app::database::postgres(&url).unwrap()),
            &Vault::key_path_in(dir),
        ),
    }
}

fn add_instance(home: &Home, name: &str, url: &str) -> InstanceRow {
    let row = InstanceRow {
        name: name.into(),
        url: url.into(),
        copy_of: None,
        created_at: "2026-11-29T00:00:00Z".into(),
    };
    home.store.add_instance(&row).unwrap();
    row
}

fn user_secret(token: &str) -> NewSecret {
    NewSecret::User {
        token: SecretString::from(token.to_owned()),
    }
}

fn transport() -> Arc<dyn Transport> {
    Arc::new(ReqwestTransport::new(Duration::from_secs(30)).unwrap())
}

/// A loopback listener that counts every connection made to it.
async fn trap_listener() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        while let Ok((_sock, _)) = listener.accept().await {
            h.fetch_add(1, Ordering::SeqCst);
        }
    });
    (url, hits)
}

fn admin_school(sim: &SimHandle, n: usize) -> u64 {
    sim.with_data(|d| d.schools()[n].id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_calls_across_an_expiry_cause_one_refresh_and_no_failure() {
    let sim = sim_with_token(&canary_token()).await;
    // 50 calls at once would overflow the token's bucket; pacing them is the
    // rate governor's job (its own issue), not this test's.
    sim.set_throttle(easel_sim::ThrottleConfig {
        enabled: false,
        ..easel_sim::ThrottleConfig::default()
    });
    let (client_id, client_secret) = sim.add_developer_key();
    let (_access, refresh) = sim.issue_oauth_token(&client_id, 1);
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    add_instance(&home, "prod", sim.url());
    let vault = home.vault().unwrap();
    vault
        .add(
            "oauth",
            "prod",
            &NewSecret::Oauth2 {
                client_id,
                client_secret: SecretString::from(client_secret),
                refresh_token: SecretString::from(refresh),
            },
            None,
        )
        .unwrap();
    let creds = vault.credentials("oauth", sim.url(), transport()).unwrap();
    let client = CanvasClient::new(sim.url(), creds, transport()).unwrap();
    let tag = CallTag::admin("test");
    // The vault holds no access token yet: the first call refreshes once.
    let r = client
        .send(&tag, http::Method::GET, "/api/v1/users/self", &[], None)
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(sim.refresh_count(), 1);

    sim.advance_clock(easel_sim::ACCESS_TOKEN_LIFETIME + Duration::from_secs(60));
    let calls = (0..50).map(|_| {
        let c = client.clone();
        let tag = tag.clone();
        tokio::spawn(async move {
            c.send(&tag, http::Method::GET, "/api/v1/accounts/2", &[], None)
                .await
                .map(|r| r.status)
        })
    });
    let results = futures_join(calls).await;
    assert!(results.iter().all(|r| *r == Some(200)), "{results:?}");
    assert_eq!(sim.refresh_count(), 2, "exactly one refresh for the expiry");
}

async fn futures_join(
    handles: impl Iterator<Item = tokio::task::JoinHandle<Result<u16, easel_canvas::ClientError>>>,
) -> Vec<Option<u16>> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.ok().and_then(Result::ok));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_a_token_during_a_long_run_fails_no_call() {
    let old = canary_token();
    let sim = sim_with_token(&old).await;
    let school = admin_school(&sim, 0);
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    let instance = add_instance(&home, "prod", sim.url());
    let vault = home.vault().unwrap();
    vault
        .add("admin", "prod", &user_secret(&old), None)
        .unwrap();
    let bytes = std::fs::read(programs::TEST_BENCH_GET).unwrap();
    easel_app::add(
        &home,
        &easel_tests::person("c"),
        &bytes,
        &easel_tests::test_manifest("bench-get", false)
            .replace("max_calls = 50", "max_calls = 5000"),
        "b",
    )
    .unwrap();
    let target = Target {
        instance: Some("prod".into()),
        token_id: Some("admin".into()),
    };
    approve_on(
        &home,
        "bench-get",
        &[school],
        false,
        &easel_tests::person("admin"),
        &target,
    )
    .unwrap();
    let conn = Connection::to_instance(&home, &instance, Some("admin"))
        .await
        .unwrap();
    let runtime = home.runtime().unwrap();
    let req = RunRequest {
        plugin: "bench-get".into(),
        school,
        dry_run: false,
        params: vec![
            ("n".into(), "1500".into()),
            ("path".into(), format!("/api/v1/accounts/{school}")),
        ],
        limits: Limits::default(),
        plan: None,
    };
    let rotate = async {
        // Rotate once the run is well under way: the new secret goes into
        // the vault, then Canvas stops accepting the old one.
        while sim.requests().len() < 300 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let new = canary_token();
        sim.add_token(&new, 1);
        home.vault()
            .unwrap()
            .rotate("admin", &user_secret(&new))
            .unwrap();
        sim.revoke_token(&old);
        new
    };
    let (run, new) = tokio::join!(execute_run(&home, &conn, &runtime, req), rotate);
    let run = run.unwrap();
    assert_eq!(
        run.report.outcome,
        RunOutcome::Succeeded,
        "{}",
        run.report.log
    );
    assert_eq!(run.report.calls, 1500);
    let auths: Vec<String> = sim
        .requests()
        .iter()
        .filter_map(|q| q.header("authorization").map(str::to_owned))
        .collect();
    assert!(
        auths.iter().any(|a| a.ends_with(&new)),
        "the new secret was used"
    );
    assert!(
        auths.iter().any(|a| a.ends_with(&old)),
        "the old secret was used first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_links_and_redirects_to_another_origin_are_refused_before_sending() {
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    let school = admin_school(&sim, 0);
    let (elsewhere, hits) = trap_listener().await;
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    add_and_approve(&home, programs::TEST_PROBE, "probe", school, true);
    let conn = easel_tests::connect(sim, &token);
    let sim = conn.sim.as_ref().unwrap();
    let runtime = home.runtime().unwrap();
    let run = |params: Vec<(String, String)>| RunRequest {
        plugin: "probe".into(),
        school,
        dry_run: false,
        params,
        limits: Limits::default(),
        plan: None,
    };

    sim.set_faults(Faults {
        next_link_origin: Some(elsewhere.clone()),
        ..Faults::default()
    });
    let r = execute_run(
        &home,
        &conn,
        &runtime,
        run(vec![
            ("list".into(), format!("/api/v1/accounts/{school}/courses")),
            ("per_page".into(), "5".into()),
        ]),
    )
    .await
    .unwrap();
    let probe: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&r.report.outputs[0]).unwrap()).unwrap();
    let err = probe["list"]["error"].as_str().unwrap_or_default();
    assert!(err.contains("origin-pin"), "{probe}");
    assert!(
        r.report.log.contains("refused to send to"),
        "{}",
        r.report.log
    );

    sim.set_faults(Faults {
        redirect_to: Some(elsewhere.clone()),
        ..Faults::default()
    });
    let r = execute_run(
        &home,
        &conn,
        &runtime,
        run(vec![("get".into(), format!("/api/v1/accounts/{school}"))]),
    )
    .await;
    // The school lookup before the run is redirected too: refused, not followed.
    assert!(r.is_err() || r.as_ref().unwrap().report.log.contains("refused to follow"));
    let client = &conn.client;
    let resp = client
        .send(
            &CallTag::admin("test"),
            http::Method::GET,
            &format!("/api/v1/accounts/{school}"),
            &[],
            None,
        )
        .await
        .unwrap();
    assert_eq!(resp.status, 302);
    assert_eq!(resp.redirect_origin.as_deref(), Some(elsewhere.as_str()));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "nothing reached the other origin"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_loose_or_wrong_master_key_decrypts_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    add_instance(&home, "prod", "https://canvas.example.edu");
    let secret = canary_token();
    home.vault()
        .unwrap()
        .add("admin", "prod", &user_secret(&secret), None)
        .unwrap();
    let key_path = dir.path().join("master.key");
    let key = std::fs::read(&key_path).unwrap();
    let sealed = || home.store.token("admin").unwrap().unwrap().sealed;
    let before = sealed();

    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = open_vault(dir.path()).unwrap_err().to_string();
    assert!(e.contains("chmod 600"), "{e}");
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();

    std::fs::remove_file(&key_path).unwrap();
    let e = open_vault(dir.path()).unwrap_err().to_string();
    assert!(e.contains("cannot read it"), "{e}");
    assert!(
        !key_path.exists(),
        "no new key was made over the missing one"
    );

    let other = easel_vault::MasterKey::generate();
    other.write_new(&key_path).unwrap();
    let e = open_vault(dir.path()).unwrap_err().to_string();
    assert!(e.contains("does not match"), "{e}");
    assert_eq!(sealed(), before, "nothing was re-encrypted");

    std::fs::remove_file(&key_path).unwrap();
    std::fs::write(&key_path, &key).unwrap();
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(open_vault(dir.path()).unwrap().list().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rekey_re_encrypts_every_token_and_they_still_work() {
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    add_instance(&home, "prod", sim.url());
    home.vault()
        .unwrap()
        .add("admin", "prod", &user_secret(&token), None)
        .unwrap();
    let before = home.store.token("admin").unwrap().unwrap();
    let old_key = std::fs::read(dir.path().join("master.key")).unwrap();
    if on_postgres() {
        // A shared database's key is on every host: refused, unchanged.
        let e = easel_app::credentials::rekey(&home, &easel_tests::person("admin")).unwrap_err();
        assert!(e.message.contains("PostgreSQL"), "{e}");
        assert!(e.message.contains("Nothing was changed"), "{e}");
        let after = home.store.token("admin").unwrap().unwrap();
        assert_eq!(before.sealed, after.sealed);
        assert_eq!(
            old_key,
            std::fs::read(dir.path().join("master.key")).unwrap()
        );
        return;
    }
    let mut vault = Vault::open(dir.path()).unwrap();
    assert_eq!(vault.rekey().unwrap(), 1);
    let after = home.store.token("admin").unwrap().unwrap();
    assert_ne!(before.sealed, after.sealed);
    assert_ne!(
        old_key,
        std::fs::read(dir.path().join("master.key")).unwrap()
    );
    let vault = Arc::new(Vault::open(dir.path()).unwrap());
    let client = CanvasClient::new(
        sim.url(),
        vault.credentials("admin", sim.url(), transport()).unwrap(),
        transport(),
    )
    .unwrap();
    let r = client
        .send(
            &CallTag::admin("test"),
            http::Method::GET,
            "/api/v1/users/self",
            &[],
            None,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schools_run_the_same_plugin_with_their_own_tokens() {
    let (t1, t2) = (canary_token(), canary_token());
    let sim = sim_with_token(&t1).await;
    sim.add_token(&t2, 1);
    let (a, b) = (admin_school(&sim, 0), admin_school(&sim, 1));
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    let instance = add_instance(&home, "prod", sim.url());
    let vault = home.vault().unwrap();
    vault
        .add("school-a", "prod", &user_secret(&t1), None)
        .unwrap();
    vault
        .add("school-b", "prod", &user_secret(&t2), None)
        .unwrap();
    let p = &easel_bundled::COURSE_REPORT;
    easel_app::add(
        &home,
        &easel_tests::person("contributor"),
        p.wasm,
        p.manifest,
        p.name,
    )
    .unwrap();
    for (school, token) in [(a, "school-a"), (b, "school-b")] {
        let target = Target {
            instance: Some("prod".into()),
            token_id: Some(token.into()),
        };
        approve_on(
            &home,
            "course-report",
            &[school],
            false,
            &easel_tests::person("admin"),
            &target,
        )
        .unwrap();
    }
    let runtime = home.runtime().unwrap();
    for (school, token) in [(a, "school-a"), (b, "school-b")] {
        let conn = Connection::to_instance(&home, &instance, Some(token))
            .await
            .unwrap();
        let req = RunRequest {
            plugin: "course-report".into(),
            school,
            dry_run: false,
            params: vec![],
            limits: Limits::default(),
            plan: None,
        };
        let r = execute_run(&home, &conn, &runtime, req.clone())
            .await
            .unwrap();
        assert_eq!(r.report.outcome, RunOutcome::Succeeded);
        // The other school's token is refused for this grant.
        let other = if token == "school-a" {
            "school-b"
        } else {
            "school-a"
        };
        let wrong = Connection::to_instance(&home, &instance, Some(other))
            .await
            .unwrap();
        assert_eq!(
            execute_run(&home, &wrong, &runtime, req)
                .await
                .unwrap_err()
                .kind,
            easel_app::Kind::Invalid
        );
    }
    for q in sim.requests().iter().filter(|q| {
        q.header("user-agent")
            .is_some_and(|ua| ua.contains("plugin=course-report@"))
    }) {
        let ua = q.header("user-agent").unwrap();
        let auth = q.header("authorization").unwrap();
        if ua.ends_with(&format!("school={a})")) {
            assert_eq!(auth, format!("Bearer {t1}"));
        } else {
            assert!(ua.ends_with(&format!("school={b})")), "{ua}");
            assert_eq!(auth, format!("Bearer {t2}"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_secrets_appear_only_where_canvas_needs_them() {
    let captured = easel_tests::Captured::install();
    let user_token = canary_token();
    let sim = sim_with_token(&user_token).await;
    let school = admin_school(&sim, 0);
    let (client_id, client_secret) = sim.add_developer_key();
    let (_, refresh) = sim.issue_oauth_token(&client_id, 1);
    let rotated = canary_token();
    sim.add_token(&rotated, 1);
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    let instance = add_instance(&home, "prod", sim.url());
    let vault = home.vault().unwrap();
    vault
        .add("admin", "prod", &user_secret(&user_token), None)
        .unwrap();
    vault.rotate("admin", &user_secret(&rotated)).unwrap();
    vault
        .add(
            "oauth",
            "prod",
            &NewSecret::Oauth2 {
                client_id,
                client_secret: SecretString::from(client_secret.clone()),
                refresh_token: SecretString::from(refresh.clone()),
            },
            None,
        )
        .unwrap();
    let mut texts = vec![format!("{:?}", vault.list().unwrap()), format!("{vault:?}")];
    add_and_approve(&home, programs::TEST_PROBE, "probe", school, true);
    let runtime = home.runtime().unwrap();
    for token in ["admin", "oauth"] {
        approve_on(
            &home,
            "probe",
            &[school],
            true,
            &easel_tests::person("admin"),
            &Target {
                instance: Some("prod".into()),
                token_id: Some(token.into()),
            },
        )
        .unwrap();
        let conn = Connection::to_instance(&home, &instance, Some(token))
            .await
            .unwrap();
        texts.push(format!("{:?}", conn.client));
        for params in [
            vec![("get", format!("/api/v1/accounts/{school}"))],
            vec![("panic", "true".to_owned())],
        ] {
            let req = RunRequest {
                plugin: "probe".into(),
                school,
                dry_run: false,
                params: params.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
                limits: Limits::default(),
                plan: None,
            };
            let r = execute_run(&home, &conn, &runtime, req).await.unwrap();
            texts.push(format!("{r:?}"));
        }
    }
    let panicked = home.store.runs(1).unwrap().remove(0);
    assert_eq!(
        panicked.status.as_str(),
        "failed",
        "a panicking plugin fails its run"
    );
    sim.revoke_token(&rotated);
    let conn = Connection::to_instance(&home, &instance, Some("admin"))
        .await
        .unwrap();
    let e = conn.school("test", school).await.unwrap_err();
    texts.push(e.to_string());

    let secrets = [&user_token, &rotated, &client_secret, &refresh];
    let log = captured.text();
    assert!(
        log.contains("refreshed an OAuth2 access token"),
        "debug logging was captured"
    );
    texts.push(log);
    for (path, bytes) in read_all_files(dir.path()) {
        for s in secrets {
            assert!(
                !contains(&bytes, s.as_bytes()),
                "a secret leaked into {path}"
            );
        }
    }
    for t in &texts {
        for s in secrets {
            assert!(!t.contains(s.as_str()), "a secret leaked into {t}");
        }
    }
    for q in sim.requests() {
        let mut outside = format!("{} {} {}", q.method, q.path, q.query);
        for (name, value) in &q.headers {
            if name != "authorization" {
                outside.push_str(value);
            }
        }
        if q.path != "/login/oauth2/token" {
            outside.push_str(&q.body);
        }
        for s in secrets {
            assert!(
                !outside.contains(s.as_str()),
                "a secret was sent outside its place: {} {}",
                q.method,
                q.path
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_name_their_token_and_a_used_token_is_not_removed_by_accident() {
    use easel_app::{ConnectOptions, Kind, credentials};
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    let school = admin_school(&sim, 0);
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path());
    let admin = easel_tests::person("admin");
    let e = credentials::add_instance(&h, &admin, "prod", "http://canvas.example.edu", None)
        .unwrap_err();
    assert_eq!(e.kind, Kind::Invalid, "plain http is refused: {e}");
    credentials::add_instance(&h, &admin, "prod", sim.url(), None).unwrap();
    credentials::add_instance(&h, &admin, "test", sim.url(), Some("prod")).unwrap();
    credentials::add_token(&h, &admin, "admin", "prod", &user_secret(&token), None).unwrap();
    let listed = credentials::tokens(&h, &admin).unwrap();
    assert_eq!(listed.len(), 1);
    assert!(!format!("{listed:?}").contains(&token));
    let (instance, owner) = credentials::check_token(&h, &admin, "admin").await.unwrap();
    assert_eq!(instance.name, "prod");
    assert!(!owner.name.is_empty());
    easel_app::add(
        &h,
        &easel_tests::person("school-it"),
        easel_bundled::COURSE_REPORT.wasm,
        easel_bundled::COURSE_REPORT.manifest,
        "r.wasm",
    )
    .unwrap();
    let target = Target {
        instance: Some("prod".into()),
        token_id: Some("admin".into()),
    };
    approve_on(&h, "course-report", &[school], false, &admin, &target).unwrap();
    let runtime = h.runtime().unwrap();
    let run = |instance: Option<&str>| {
        let (h, runtime) = (&h, &runtime);
        let connect = ConnectOptions {
            instance: instance.map(str::to_owned),
            token: None,
        };
        async move {
            let conn =
                easel_app::connection_for_grant(h, "course-report", school, &connect).await?;
            let req = RunRequest {
                plugin: "course-report".into(),
                school,
                dry_run: false,
                params: Vec::new(),
                limits: Limits::default(),
                plan: None,
            };
            execute_run(h, &conn, runtime, req).await
        }
    };
    assert_eq!(
        run(None).await.unwrap().report.outcome,
        RunOutcome::Succeeded
    );
    // The same grant may run against a declared copy of its instance.
    assert_eq!(
        run(Some("test")).await.unwrap().report.outcome,
        RunOutcome::Succeeded
    );
    let runs = h.store.runs(10).unwrap();
    assert_eq!(runs[0].instance, "test");
    assert_eq!(runs[1].instance, "prod");
    assert!(
        sim.requests()
            .iter()
            .any(|q| q.header("authorization") == Some(format!("Bearer {token}").as_str()))
    );

    let e = credentials::remove_token(&h, &admin, "admin", false).unwrap_err();
    assert_eq!(e.kind, Kind::Invalid, "a token grants use is kept: {e}");
    let e = credentials::remove_instance(&h, &admin, "prod").unwrap_err();
    assert!(
        e.to_string().contains("test is declared a copy of prod"),
        "{e}"
    );
    credentials::remove_instance(&h, &admin, "test").unwrap();
    let e = credentials::remove_instance(&h, &admin, "prod").unwrap_err();
    assert!(e.to_string().contains("still has tokens (admin)"), "{e}");
    assert_eq!(
        credentials::remove_token(&h, &admin, "admin", true).unwrap(),
        1,
        "its grant is disabled"
    );
    let e = run(None).await.unwrap_err();
    assert_eq!(e.kind, Kind::Invalid, "its grant is disabled: {e}");
    // Only a district admin manages credentials.
    let approver = easel_app::Actor {
        roles: vec![easel_app::Role::Approver],
        ..easel_tests::person("ana")
    };
    let e = credentials::add_instance(&h, &approver, "beta", sim.url(), None).unwrap_err();
    assert_eq!(e.kind, Kind::Forbidden, "{e}");
}

//! A simulator's data saved to a file comes back, writes and tokens
//! included, when a new simulator starts from it.
#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use common::{Api, regular_sim};
use easel_sim::{Role, SimConfig, Simulator, Snapshot};
use reqwest::Method;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_state_restarts_with_its_writes_and_its_tokens() {
    let sim = regular_sim().await;
    let course = sim.with_data(|d| d.courses_in(d.schools()[0].id)[0].id);
    let renamed = Api::admin(&sim)
        .form(
            Method::PUT,
            &format!("/api/v1/courses/{course}"),
            "course[name]=Renamed+Before+Restart",
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sim.json");
    assert!(Snapshot::load(&file).unwrap().is_none(), "no file yet");
    let snapshot = sim.snapshot();
    let shown = format!("{snapshot:?}");
    assert!(
        !shown.contains(sim.admin_token()),
        "Debug never shows a token: {shown}"
    );
    snapshot.save(&file).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let (admin, teacher) = (
        sim.admin_token().to_owned(),
        sim.token_for(Role::Teacher).unwrap().to_owned(),
    );
    drop(sim);

    let again = Simulator::start(SimConfig {
        snapshot: Snapshot::load(&file).unwrap(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    assert_eq!(again.admin_token(), admin);
    assert_eq!(again.token_for(Role::Teacher), Some(teacher.as_str()));
    let api = Api::admin(&again);
    let c = api.get(&format!("/api/v1/courses/{course}")).await;
    assert_eq!(c.body["name"], "Renamed Before Restart");
    let listed = api
        .get(&format!(
            "/api/v1/accounts/{}/courses?per_page=100",
            c.body["account_id"]
        ))
        .await;
    assert!(listed.ids().contains(&course), "the indexes were rebuilt");
}

#[test]
fn a_state_file_that_is_not_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.json");
    std::fs::write(&file, b"{\"version\": 99}").unwrap();
    assert!(Snapshot::load(&file).is_err());
}

#[test]
fn a_configs_debug_output_never_shows_its_admin_token() {
    let config = SimConfig {
        admin_token: Some("7~do-not-print-me".into()),
        ..SimConfig::default()
    };
    let shown = format!("{config:?}");
    assert!(!shown.contains("do-not-print-me"), "{shown}");
    assert!(shown.contains("[redacted]"), "{shown}");
}

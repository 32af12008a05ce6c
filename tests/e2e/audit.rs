//! The audit log end to end: what admins and runs do is recorded in a
//! MAC chain; editing, deleting or reordering a row with the sqlite3
//! command-line tool makes the log's verification fail at that row, even with
//! every later hash recomputed; a witness file catches a log cut short or
//! rolled back; a run
//! whose calls cannot be audited makes no call; approvals are pinned and
//! checked (no self-approval, downgrades are explicit, revocation stops
//! runs).

use std::path::{Path, PathBuf};
use std::process::Command;

use easel_app::{RunRequest, execute_run};
use easel_runtime::{Limits, RunOutcome};
use easel_store::{AuditFilter, Verdict};
use easel_tests::{add_and_approve, canary_token, connect, home, programs, sim_with_token};

/// The sqlite3 command-line tool, installed from Debian if missing.
fn sqlite3() -> PathBuf {
    let found = |p: &str| Path::new(p).exists().then(|| PathBuf::from(p));
    if let Some(p) = found("/usr/bin/sqlite3") {
        return p;
    }
    let status = Command::new("apt-get")
        .args(["install", "-y", "-qq", "sqlite3"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status();
    assert!(
        matches!(status, Ok(s) if s.success()),
        "the tamper tests need the sqlite3 command-line tool: apt-get install sqlite3"
    );
    found("/usr/bin/sqlite3").expect("sqlite3 installed")
}

fn sql(db: &Path, statements: &str) {
    let out = Command::new(sqlite3())
        .arg(db)
        .arg(statements)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sqlite3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

use easel_tests::person;

fn open(root: &Path) -> easel_app::Home {
    home(root)
}

/// `easel audit verify [--witness FILE]` through the application layer:
/// 0 when the log (and the witness) check out, else 1.
fn verify(root: &Path, witness: Option<&Path>) -> u8 {
    let h = open(root);
    let v = easel_app::audit::verify(&h, &person("auditor"), witness).unwrap();
    if v.ok() { 0 } else { 1 }
}

/// Submit the component at `wasm` with `manifest` as `by`.
fn submit(root: &Path, wasm: &str, manifest: &str, by: &str) {
    let bytes = std::fs::read(wasm).unwrap();
    easel_app::add(&open(root), &person(by), &bytes, manifest, "plugin.wasm").unwrap();
}

/// Approve `plugin` for `school` as `by` (read and write, if requested).
fn approve(
    root: &Path,
    plugin: &str,
    school: u64,
    by: &str,
    options: easel_app::ApproveOptions,
) -> Result<(), String> {
    easel_app::approve_with(&open(root), plugin, &[school], &person(by), &options)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn write_grant() -> easel_app::ApproveOptions {
    easel_app::ApproveOptions {
        write: true,
        ..Default::default()
    }
}

/// Run `plugin` live for `school` with `params`.
async fn run(
    root: &Path,
    plugin: &str,
    school: u64,
    params: &[(&str, &str)],
) -> Result<(), String> {
    let h = open(root);
    easel_tests::run_as(&h, &person("admin"), plugin, school, false, params)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A data directory whose audit log has a submission, an approval and a
/// run with its Canvas calls (embedded simulator, through the application
/// layer).
async fn populated(dir: &Path) -> PathBuf {
    let root = dir.join("home");
    submit(
        &root,
        programs::TEST_BENCH_GET,
        &easel_tests::test_manifest("bench-get", false),
        "school-it",
    );
    approve(&root, "bench-get", 2, "district-admin", Default::default()).unwrap();
    run(
        &root,
        "bench-get",
        2,
        &[("n", "3"), ("path", "/api/v1/accounts/2")],
    )
    .await
    .unwrap();
    root
}

fn actions(root: &Path) -> Vec<String> {
    let h = easel_app::Home::open(Some(root.to_path_buf())).unwrap();
    h.audit
        .records(&AuditFilter::default(), None)
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .collect()
}

fn broken_at(root: &Path) -> Option<u64> {
    let h = easel_app::Home::open(Some(root.to_path_buf())).unwrap();
    match h.audit.verify().unwrap() {
        Verdict::Intact { .. } => None,
        Verdict::Broken { seq, .. } => Some(seq),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_admins_and_runs_do_is_recorded_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let root = populated(dir.path()).await;
    let got = actions(&root);
    let mut want = vec!["plugin-submitted", "plugin-approved", "run-started"];
    for _ in 0..3 {
        want.extend(["canvas-request-allowed", "canvas-response"]);
    }
    want.push("run-finished");
    assert_eq!(got, want);
    assert_eq!(verify(&root, None), 0);
    let h = easel_app::Home::open(Some(root.clone())).unwrap();
    let recs = h.audit.records(&AuditFilter::default(), None).unwrap();
    assert_eq!(recs[0].actor, "school-it (local as test)");
    assert_eq!(recs[1].actor, "district-admin (local as test)");
    let call = &recs[4];
    assert_eq!(call.method.as_deref(), Some("GET"));
    assert_eq!(call.path.as_deref(), Some("/api/v1/accounts/2"));
    assert_eq!(call.status, Some(200));
    assert!(call.cost.is_some(), "the request cost is recorded");
    assert!(call.actor.starts_with("run:"));
    let auditor = person("auditor");
    let of_plugin = easel_app::audit::records(
        &h,
        &auditor,
        &AuditFilter {
            plugin: Some("bench-get".into()),
            ..AuditFilter::default()
        },
        None,
    )
    .unwrap();
    assert_eq!(of_plugin.len(), recs.len(), "every record names bench-get");
    let since = easel_app::audit::records(
        &h,
        &auditor,
        &AuditFilter {
            since: Some("2000-01-01".into()),
            ..AuditFilter::default()
        },
        None,
    )
    .unwrap();
    assert_eq!(since.len(), recs.len());
    let tail = easel_app::audit::last(&h, &auditor, 3).unwrap();
    assert_eq!(
        tail.iter().map(|r| r.seq).collect::<Vec<_>>(),
        recs[recs.len() - 3..]
            .iter()
            .map(|r| r.seq)
            .collect::<Vec<_>>()
    );
    // Only those who may read the audit log read it.
    let contributor = easel_app::Actor {
        roles: vec![easel_app::Role::SchoolContributor { schools: vec![2] }],
        ..person("school-it")
    };
    assert_eq!(
        easel_app::audit::last(&h, &contributor, 3)
            .unwrap_err()
            .kind,
        easel_app::Kind::Forbidden
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_deleting_or_reordering_a_row_with_sqlite3_fails_verify_at_that_row() {
    let cases: &[(&str, &str, u64)] = &[
        (
            "edit a call's path",
            "UPDATE audit SET path = '/api/v1/accounts/1' WHERE seq = 4;",
            4,
        ),
        (
            "edit who approved",
            "UPDATE audit SET actor = 'admin:someone-else' WHERE seq = 2;",
            2,
        ),
        (
            "edit the last record",
            "UPDATE audit SET detail = 'fine' WHERE seq = (SELECT MAX(seq) FROM audit);",
            10,
        ),
        (
            "delete a denial or call",
            "DELETE FROM audit WHERE seq = 5;",
            5,
        ),
        (
            "delete the first record",
            "DELETE FROM audit WHERE seq = 1;",
            1,
        ),
        (
            "swap two records",
            "UPDATE audit SET seq = -1 WHERE seq = 6; UPDATE audit SET seq = 6 WHERE seq = 7; UPDATE audit SET seq = 7 WHERE seq = -1;",
            6,
        ),
    ];
    for (what, statements, seq) in cases {
        let dir = tempfile::tempdir().unwrap();
        let root = populated(dir.path()).await;
        assert_eq!(broken_at(&root), None);
        // The triggers make the table append-only; someone with the file
        // can drop them, which is what verify is for.
        let db = root.join("easel.db");
        sql(
            &db,
            &format!("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; {statements}"),
        );
        assert_eq!(broken_at(&root), Some(*seq), "{what}");
        assert_eq!(verify(&root, None), 1, "{what}: verify fails");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_triggers_refuse_changes_from_sqlite3() {
    let dir = tempfile::tempdir().unwrap();
    let root = populated(dir.path()).await;
    let out = Command::new(sqlite3())
        .arg(root.join("easel.db"))
        .arg("DELETE FROM audit WHERE seq = 3;")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("append-only"));
    assert_eq!(broken_at(&root), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_cannot_be_audited_is_not_made_and_the_run_fails() {
    let token = canary_token();
    let sim = sim_with_token(&token).await;
    let school = sim.with_data(|d| d.schools()[0].id);
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path());
    add_and_approve(&h, programs::TEST_BENCH_GET, "bench-get", school, false);
    // The log refuses to record allowed calls from now on.
    sql(
        &dir.path().join("easel.db"),
        "CREATE TRIGGER audit_full BEFORE INSERT ON audit WHEN NEW.action = 'canvas-request-allowed' BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
    );
    let conn = connect(sim, &token);
    let runtime = h.runtime().unwrap();
    let req = RunRequest {
        plugin: "bench-get".into(),
        school,
        dry_run: false,
        params: vec![
            ("n".into(), "3".into()),
            ("path".into(), format!("/api/v1/accounts/{school}")),
        ],
        limits: Limits::default(),
        plan: None,
    };
    let r = execute_run(&h, &conn, &runtime, req).await.unwrap();
    let RunOutcome::Failed(e) = &r.report.outcome else {
        panic!("the run should fail: {:?}", r.report.outcome);
    };
    assert!(e.contains("audit log could not be written"), "{e}");
    assert_eq!(r.report.calls, 0);
    let plugin_calls = conn
        .sim
        .as_ref()
        .unwrap()
        .requests()
        .iter()
        .filter(|q| {
            q.header("user-agent")
                .is_some_and(|ua| ua.contains("plugin=bench-get"))
        })
        .count();
    assert_eq!(plugin_calls, 0, "no call reached Canvas");
    let stored = h.store.run(&r.run_id).unwrap().unwrap();
    assert_eq!(stored.status.as_str(), "failed");
    // The audit log holds no token.
    for (path, bytes) in easel_tests::read_all_files(dir.path()) {
        assert!(
            !easel_tests::contains(&bytes, token.as_bytes()),
            "token in {path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submitters_cannot_approve_downgrades_are_explicit_and_revocation_stops_runs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("home");
    let manifest = easel_tests::test_manifest("p", false);
    // Two versions of plugin p: different components.
    for wasm in [programs::TEST_NOOP, programs::TEST_BENCH_GET] {
        submit(&root, wasm, &manifest, "alice");
    }
    let h = easel_app::Home::open(Some(root.clone())).unwrap();
    let versions = h.store.plugins().unwrap();
    let (newer, older) = (&versions[0].digest, &versions[1].digest);

    let e = approve(&root, "p", 2, "alice", Default::default()).unwrap_err();
    assert!(e.contains("cannot approve it too"), "self-approval: {e}");
    // Under any casing or spacing of the name.
    let e = approve(&root, "p", 2, "  ALICE ", Default::default()).unwrap_err();
    assert!(e.contains("cannot approve it too"), "{e}");

    approve(&root, "p", 2, "bob", Default::default()).unwrap();
    let old = format!("p@{}", &older[..12]);
    let e = approve(&root, &old, 2, "bob", Default::default()).unwrap_err();
    assert!(e.contains("--allow-downgrade"), "downgrade: {e}");
    approve(
        &root,
        &old,
        2,
        "bob",
        easel_app::ApproveOptions {
            allow_downgrade: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(&h.store.approval("p", 2).unwrap().unwrap().digest, older);
    let _ = newer;

    run(&root, "p", 2, &[]).await.unwrap();
    easel_app::revoke(&open(&root), &person("bob"), "p", &[]).unwrap();
    let e = run(&root, "p", 2, &[]).await.unwrap_err();
    assert!(
        e.contains("was revoked at"),
        "a revoked plugin does not run: {e}"
    );
    let got = actions(&root);
    assert!(got.contains(&"plugin-revoked".to_owned()));
    assert_eq!(verify(&root, None), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_component_byte_is_refused_at_run_time_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let root = populated(dir.path()).await;
    let h = easel_app::Home::open(Some(root.clone())).unwrap();
    let digest = h.store.approval("bench-get", 2).unwrap().unwrap().digest;
    let path = h.component_path(&digest);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
    let runs_before = h.store.runs(100).unwrap().len();
    let e = run(
        &root,
        "bench-get",
        2,
        &[("n", "1"), ("path", "/api/v1/accounts/2")],
    )
    .await
    .unwrap_err();
    assert!(e.contains("no longer match"), "{e}");
    assert_eq!(h.store.runs(100).unwrap().len(), runs_before, "nothing ran");
    assert_eq!(
        actions(&root).last().map(String::as_str),
        Some("hash-mismatch")
    );
    assert_eq!(broken_at(&root), None);
}

/// A run does not hash the stored component again while the file is
/// unchanged (a Python plugin's 20 MiB cost every run tens of
/// milliseconds); a byte changed after a run, with the size and the
/// modification time put back, is still found: the file's change time
/// moved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_byte_changed_after_a_run_with_its_time_put_back_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = populated(dir.path()).await;
    let h = easel_app::Home::open(Some(root.clone())).unwrap();
    let digest = h.store.approval("bench-get", 2).unwrap().unwrap().digest;
    let path = h.component_path(&digest);
    let args = [("n", "1"), ("path", "/api/v1/accounts/2")];
    // Files changed in the last two seconds are hashed every time.
    std::thread::sleep(std::time::Duration::from_secs(3));
    run(&root, "bench-get", 2, &args).await.unwrap();
    assert_eq!(h.stored_component_digest(&digest).unwrap(), digest);

    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    std::io::Write::write_all(&mut f, &bytes).unwrap();
    f.set_modified(modified).unwrap();
    drop(f);
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        modified
    );

    let runs_before = h.store.runs(100).unwrap().len();
    let e = run(&root, "bench-get", 2, &args).await.unwrap_err();
    assert!(e.contains("no longer match"), "{e}");
    assert_eq!(h.store.runs(100).unwrap().len(), runs_before, "nothing ran");
    assert_eq!(
        actions(&root).last().map(String::as_str),
        Some("hash-mismatch")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_grants_can_require_a_second_admin() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("home");
    let h = open(&root);
    easel_app::settings::set(&h, &person("cio"), "write-approvers", "2").unwrap();
    let e = easel_app::settings::set(&h, &person("cio"), "write-approvers", "3").unwrap_err();
    assert_eq!(e.kind, easel_app::Kind::Invalid);
    submit(
        &root,
        programs::TEST_PROBE,
        &easel_tests::test_manifest("probe", true),
        "alice",
    );
    approve(&root, "probe", 2, "bob", write_grant()).unwrap();
    let e = run(&root, "probe", 2, &[]).await.unwrap_err();
    assert!(
        e.contains("waits for a second approver (bob approved first)"),
        "one approval of a write grant is not enough: {e}"
    );
    let e = approve(&root, "probe", 2, "bob", write_grant()).unwrap_err();
    assert!(
        e.contains("second, different admin"),
        "the same admin twice: {e}"
    );
    approve(&root, "probe", 2, "alice", write_grant()).unwrap_err();
    approve(&root, "probe", 2, "carol", write_grant()).unwrap();
    run(&root, "probe", 2, &[])
        .await
        .expect("live after the second approval");
    // A read-only grant needs one admin.
    approve(&root, "probe", 4, "bob", Default::default()).unwrap();
    let h = easel_app::Home::open(Some(root.clone())).unwrap();
    let a = h.store.approval("probe", 2).unwrap().unwrap();
    assert_eq!(
        (a.approved_by.as_str(), a.second_by.as_deref()),
        ("bob", Some("carol"))
    );
    assert!(h.store.approval("probe", 4).unwrap().is_some());
    assert!(actions(&root).contains(&"setting-changed".to_owned()));
    assert_eq!(verify(&root, None), 0);
}

/// Rewrite record `at` the way someone with the database file but not the
/// master key would: drop the triggers, change it, and recompute every
/// later row's hash with the old unkeyed SHA-256 chain
/// (`AuditRecord::compute_hash`), relinking each to the one before.
fn rewrite_and_rehash(root: &Path, at: u64, path: &str) {
    let h = easel_app::Home::open(Some(root.to_path_buf())).unwrap();
    let recs = h.audit.records(&AuditFilter::default(), None).unwrap();
    drop(h);
    let mut statements =
        String::from("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; ");
    let mut prev = recs[at as usize - 2].hash.clone();
    for mut r in recs.into_iter().filter(|r| r.seq >= at) {
        if r.seq == at {
            r.path = Some(path.to_owned());
        }
        r.prev_hash = prev;
        r.hash = r.compute_hash();
        statements.push_str(&format!(
            "UPDATE audit SET path = {}, prev_hash = '{}', hash = '{}' WHERE seq = {};",
            r.path
                .as_deref()
                .map_or("NULL".to_owned(), |p| format!("'{p}'")),
            r.prev_hash,
            r.hash,
            r.seq
        ));
        prev = r.hash;
    }
    sql(&root.join("easel.db"), &statements);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewrite_with_every_later_unkeyed_hash_recomputed_fails_verify() {
    let dir = tempfile::tempdir().unwrap();
    let root = populated(dir.path()).await;
    let before = actions(&root).len();
    rewrite_and_rehash(&root, 4, "/api/v1/accounts/1");
    let h = easel_app::Home::open(Some(root.clone())).unwrap();
    let recs = h.audit.records(&AuditFilter::default(), None).unwrap();
    assert_eq!(recs.len(), before);
    assert_eq!(recs[3].path.as_deref(), Some("/api/v1/accounts/1"));
    for w in recs.windows(2).filter(|w| w[1].seq >= 4) {
        assert_eq!(w[1].prev_hash, w[0].hash, "the rewritten chain links up");
        assert_eq!(w[1].hash, w[1].compute_hash(), "with the old algorithm");
    }
    drop(h);
    assert_eq!(broken_at(&root), Some(4));
    assert_eq!(verify(&root, None), 1);
}

/// A data directory like `populated`'s, with its witness file kept in
/// `dir/elsewhere` (set before anything is recorded).
async fn populated_with_witness(dir: &Path) -> (PathBuf, PathBuf) {
    let root = dir.join("home");
    let witness = dir.join("elsewhere").join("audit.witness");
    std::fs::create_dir_all(witness.parent().unwrap()).unwrap();
    easel_app::settings::set(
        &open(&root),
        &person("cio"),
        "audit-witness",
        witness.to_str().unwrap(),
    )
    .unwrap();
    let root = populated(dir).await;
    (root, witness)
}

fn witness_failure(root: &Path, witness: &Path) -> (usize, u64, String) {
    let h = easel_app::Home::open(Some(root.to_path_buf())).unwrap();
    match h.audit.verify_witness(witness).unwrap() {
        easel_store::WitnessVerdict::Failed {
            line,
            checkpoint,
            reason,
        } => (line, checkpoint.expect("the line parsed").seq, reason),
        other => panic!("the witness saw nothing wrong: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_witness_a_log_cut_short_fails_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (root, witness) = populated_with_witness(dir.path()).await;
    let records = actions(&root).len();
    let wit = Some(witness.as_path());
    assert_eq!(verify(&root, wit), 0);
    let lines = std::fs::read_to_string(&witness).unwrap();
    assert_eq!(lines.lines().count(), 1, "the run's end was witnessed");
    assert!(
        !root.join("audit.witness").exists(),
        "the setting moved the witness"
    );
    // Cut the last records and the checkpoint that covered them.
    let db = root.join("easel.db");
    sql(
        &db,
        "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq > 7;",
    );
    sql(
        &db,
        "DROP TRIGGER audit_checkpoints_no_delete; DELETE FROM audit_checkpoints;",
    );
    assert_eq!(
        verify(&root, None),
        0,
        "the database alone cannot show a cut with its checkpoints gone"
    );
    assert_eq!(verify(&root, wit), 1);
    let (line, seq, reason) = witness_failure(&root, &witness);
    assert_eq!((line, seq), (1, records as u64));
    assert!(reason.contains("no longer holds"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_cut_before_its_last_checkpoint_fails_verify_without_a_witness() {
    let dir = tempfile::tempdir().unwrap();
    let root = populated(dir.path()).await;
    let default_witness = std::fs::read_to_string(root.join("audit.witness")).unwrap();
    assert_eq!(default_witness.lines().count(), 1, "the default witness");
    sql(
        &root.join("easel.db"),
        "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq > 7;",
    );
    assert_eq!(broken_at(&root), Some(8));
    assert_eq!(verify(&root, None), 1);
}

/// The database's files (WAL mode: the main file, its log and index).
fn db_files(root: &Path) -> Vec<PathBuf> {
    ["easel.db", "easel.db-wal", "easel.db-shm"]
        .iter()
        .map(|f| root.join(f))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_witness_a_database_rolled_back_to_an_earlier_copy_fails_naming_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (root, witness) = populated_with_witness(dir.path()).await;
    let wit = Some(witness.as_path());
    let copy = dir.path().join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    for f in db_files(&root) {
        if f.exists() {
            std::fs::copy(&f, copy.join(f.file_name().unwrap())).unwrap();
        }
    }
    let copied = actions(&root).len() as u64;
    // More happens: a second run, witnessed at its end.
    run(
        &root,
        "bench-get",
        2,
        &[("n", "1"), ("path", "/api/v1/accounts/2")],
    )
    .await
    .unwrap();
    let later = actions(&root).len() as u64;
    assert!(later > copied);
    assert_eq!(verify(&root, wit), 0);
    // Roll the whole database back to the copy.
    for f in db_files(&root) {
        let saved = copy.join(f.file_name().unwrap());
        if saved.exists() {
            std::fs::copy(&saved, &f).unwrap();
        } else if f.exists() {
            std::fs::remove_file(&f).unwrap();
        }
    }
    assert_eq!(actions(&root).len() as u64, copied);
    assert_eq!(verify(&root, None), 0, "the copy is consistent on its own");
    assert_eq!(verify(&root, wit), 1);
    let (line, seq, reason) = witness_failure(&root, &witness);
    assert_eq!((line, seq), (2, later), "the second run's checkpoint");
    assert!(reason.contains("rolled back"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_rekey_re_macs_the_log_and_refuses_a_broken_one() {
    let dir = tempfile::tempdir().unwrap();
    let root = populated(dir.path()).await;
    let key_before = std::fs::read(root.join("master.key")).unwrap();
    let public_before = easel_app::Home::open(Some(root.clone()))
        .unwrap()
        .audit
        .public_key();
    let r = easel_app::credentials::rekey(&open(&root), &person("admin")).unwrap();
    assert_eq!(
        r.records,
        actions(&root).len() as u64 - 1,
        "every earlier record re-MACed"
    );
    assert_ne!(std::fs::read(root.join("master.key")).unwrap(), key_before);
    assert_eq!(broken_at(&root), None, "verifies under the new key");
    assert_eq!(verify(&root, None), 0);
    assert_eq!(
        actions(&root).last().map(String::as_str),
        Some("vault-rekeyed")
    );
    let h = easel_app::Home::open(Some(root.clone())).unwrap();
    let cps = h.audit.checkpoints().unwrap();
    assert!(cps.iter().all(|c| c.key == h.audit.public_key()));
    assert_ne!(h.audit.public_key(), public_before);
    drop(h);

    // A broken log is not rekeyed: the break stays visible.
    sql(
        &root.join("easel.db"),
        "DROP TRIGGER audit_no_update; UPDATE audit SET actor = 'admin:mallory' WHERE seq = 2;",
    );
    let key_now = std::fs::read(root.join("master.key")).unwrap();
    let e = easel_app::credentials::rekey(&open(&root), &person("admin")).unwrap_err();
    assert!(e.to_string().contains("broken at record 2"), "{e}");
    assert_eq!(std::fs::read(root.join("master.key")).unwrap(), key_now);
    assert_eq!(broken_at(&root), Some(2));
}

#[test]
fn a_run_whose_process_died_is_marked_interrupted_with_counts_from_the_audit_log() {
    use easel_store::{Action, AuditEntry, NewRun};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("home");
    let h = easel_app::Home::open(Some(root.clone())).unwrap();
    // A run started by a process that is gone (kill -9), with two answered
    // calls, one allowed call with no answer, one denial, and a report.
    h.store
        .start_run(&NewRun {
            id: "dead0000run00001".into(),
            plugin_id: "p".into(),
            digest: "d".repeat(64),
            school: 2,
            instance: "sim".into(),
            dry_run: false,
            params: vec![],
            applies: None,
            owner: Some("4194303:1".into()),
            batch: None,
            token: None,
        })
        .unwrap();
    let record = |action, path: &str| {
        h.audit(&AuditEntry {
            run: Some("dead0000run00001".into()),
            method: Some("PUT".into()),
            path: Some(path.into()),
            ..AuditEntry::new("run:dead0000run00001", action)
        })
        .unwrap()
    };
    for c in ["/api/v1/courses/1", "/api/v1/courses/2"] {
        record(Action::CanvasRequestAllowed, c);
        record(Action::CanvasResponse, c);
    }
    record(Action::CanvasRequestAllowed, "/api/v1/courses/3");
    record(Action::CanvasRequestDenied, "/api/v1/courses/99");
    std::fs::create_dir_all(h.run_dir("dead0000run00001")).unwrap();
    std::fs::write(h.run_dir("dead0000run00001").join("changes.csv"), "a\n").unwrap();
    // A run of a live process (this one) is left alone.
    h.store
        .start_run(&NewRun {
            id: "live0000run00001".into(),
            owner: Some(format!(
                "{}:{}",
                std::process::id(),
                std::fs::read_to_string("/proc/self/stat")
                    .unwrap()
                    .rsplit_once(')')
                    .unwrap()
                    .1
                    .split_whitespace()
                    .nth(19)
                    .unwrap()
            )),
            ..NewRun {
                id: String::new(),
                plugin_id: "p".into(),
                digest: "d".repeat(64),
                school: 2,
                instance: "sim".into(),
                dry_run: false,
                params: vec![],
                applies: None,
                owner: None,
                batch: None,
                token: None,
            }
        })
        .unwrap();
    drop(h);

    let h = easel_app::Home::open(Some(root)).unwrap();
    let dead = h.store.run("dead0000run00001").unwrap().unwrap();
    assert_eq!(dead.status, easel_store::RunStatus::Interrupted);
    assert_eq!((dead.calls, dead.denied), (2, 1));
    assert_eq!(dead.writes, Some(2));
    assert_eq!(dead.unknown.len(), 1, "{:?}", dead.unknown);
    assert_eq!(dead.unknown[0]["method"], "PUT");
    assert_eq!(dead.unknown[0]["path"], "/api/v1/courses/3");
    assert!(
        dead.outputs
            .iter()
            .any(|o| o.ends_with("changes.csv.partial")),
        "{:?}",
        dead.outputs
    );
    let e = dead.error.unwrap();
    assert!(
        e.contains("1 write(s) were sent with no answer recorded")
            && e.contains("PUT /api/v1/courses/3"),
        "{e}"
    );
    assert!(
        h.run_dir("dead0000run00001")
            .join("changes.csv.partial")
            .exists()
    );
    let live = h.store.run("live0000run00001").unwrap().unwrap();
    assert_eq!(live.status, easel_store::RunStatus::Running);
}

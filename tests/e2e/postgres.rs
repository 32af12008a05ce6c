//! Many hosts on one PostgreSQL database (a private cluster the harness
//! starts): a run queued on one host is claimed and run by another, which
//! fetches the component from the database; the audit log is one chain
//! that verifies from any host; a host without the right master key
//! refuses to start; a SQLite installation copied in runs on.

use std::time::Duration;

use easel_app::database::Database;
use easel_app::queue;
use easel_runtime::{Limits, School};
use easel_store::{RunStatus, Verdict};
use easel_tests::{Workers, add_bundled, home, home_in, person};

fn postgres() -> (std::sync::Arc<easel_pgtest::Cluster>, Database) {
    let cluster = easel_pgtest::Cluster::shared();
    let url = cluster.database();
    (cluster, Database::Postgres(url))
}

/// A second host's data directory: empty but for the master key file,
/// which the operator brings to every host.
fn second_host(first: &std::path::Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(first.join("master.key"), dir.path().join("master.key")).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_queued_on_one_host_is_run_by_another_and_audited_in_one_chain() {
    let (_cluster, db) = postgres();
    let a = tempfile::tempdir().unwrap();
    let ha = home_in(a.path(), &db);
    add_bundled(&ha, &easel_bundled::COURSE_REPORT, 2, false);
    let admin = person("admin");

    // Host A only queues (its workers claim nothing).
    let (idle, _stop_a) = Workers::start_in(a.path(), &db);
    idle.queue().stop_claiming();
    let conn = idle
        .connections()
        .for_grant(&ha, "course-report", 2)
        .await
        .unwrap();
    let req = easel_app::RunRequest {
        plugin: "course-report".into(),
        school: 2,
        dry_run: true,
        params: Vec::new(),
        limits: Limits::default(),
        plan: None,
    };
    let school = School {
        id: 2,
        name: "Lincoln".into(),
    };
    let id = queue::enqueue(&ha, &admin, &conn, req, Some(school), None)
        .await
        .unwrap()
        .run;

    // Host B never saw the submission: it runs the queued run.
    let b = second_host(a.path());
    let digest = ha.store.plugins().unwrap()[0].digest.clone();
    assert!(!b.path().join("components").exists());
    let (_workers_b, _stop_b) = Workers::start_in(b.path(), &db);
    let mut row = None;
    for _ in 0..400 {
        let r = ha.store.run(&id).unwrap().unwrap();
        if !matches!(r.status, RunStatus::Queued | RunStatus::Running) {
            row = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let row = row.expect("the run ended");
    assert_eq!(row.status, RunStatus::Succeeded, "{row:?}");
    assert!(row.calls > 0);
    assert!(
        b.path()
            .join("components")
            .join(format!("{digest}.wasm"))
            .exists(),
        "host B fetched the component from the database"
    );
    assert!(
        b.path().join("runs").join(&id).exists(),
        "the report is where the run ran"
    );

    // One chain, verified from host A, with host B's records of the run.
    let Verdict::Intact { records, .. } = ha.audit.verify().unwrap() else {
        panic!("the shared audit log does not verify");
    };
    let of_run = ha
        .audit
        .records(
            &easel_store::AuditFilter {
                run: Some(id.clone()),
                ..Default::default()
            },
            None,
        )
        .unwrap();
    assert!(of_run.len() as u64 >= 2 * u64::from(row.calls));
    assert!(records > of_run.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_with_another_master_key_refuses_to_start_and_says_why() {
    let (_cluster, db) = postgres();
    let a = tempfile::tempdir().unwrap();
    drop(home_in(a.path(), &db));
    // A key of its own (made by a SQLite home of its own).
    let c = tempfile::tempdir().unwrap();
    drop(home(c.path()));
    let err = easel_app::Home::open_in(Some(c.path().to_path_buf()), db.clone())
        .err()
        .expect("refused");
    let msg = err.message.to_string();
    assert!(msg.contains("does not match this database"), "{msg}");
    assert!(
        msg.contains("every host needs the same master key file"),
        "{msg}"
    );
    // Nor does a host with no key file make one of its own.
    let d = tempfile::tempdir().unwrap();
    let err = easel_app::Home::open_in(Some(d.path().to_path_buf()), db)
        .err()
        .expect("refused");
    assert!(
        err.message.contains("master key"),
        "{}",
        err.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_installation_copied_into_postgres_verifies_and_runs_on() {
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path());
    add_bundled(&h, &easel_bundled::COURSE_REPORT, 2, false);
    let admin = person("admin");
    let first = easel_tests::run_as(&h, &admin, "course-report", 2, true, &[])
        .await
        .unwrap();
    drop(h);

    let (_cluster, db) = postgres();
    let Database::Postgres(url) = &db else {
        unreachable!()
    };
    let (code, r) = easel_tests::easel(dir.path(), &["db", "copy", "--to", url]).await;
    assert_eq!(code, 0, "{r:?}");
    // Copying again is refused: the database is no longer empty.
    let (code, r) = easel_tests::easel(dir.path(), &["db", "copy", "--to", url]).await;
    assert_eq!(code, 2);
    assert!(format!("{r:?}").contains("not empty"), "{r:?}");
    let (code, _) = easel_tests::easel(dir.path(), &["db", "migrate", "--database", url]).await;
    assert_eq!(code, 0);

    // The same data directory, now on PostgreSQL.
    let h = home_in(dir.path(), &db);
    let runs = h.store.runs(10).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].id, first.run_id);
    assert!(matches!(h.audit.verify().unwrap(), Verdict::Intact { .. }));
    let again = easel_tests::run_as(&h, &admin, "course-report", 2, true, &[])
        .await
        .unwrap();
    assert_eq!(h.store.runs(10).unwrap().len(), 2);
    assert!(matches!(h.audit.verify().unwrap(), Verdict::Intact { .. }));
    assert_ne!(again.run_id, first.run_id);
}

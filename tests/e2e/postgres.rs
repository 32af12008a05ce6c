//! Many hosts on one PostgreSQL database (a private cluster the harness
//! starts): a run queued on one host is claimed and run by another, which
//! fetches the component from the database; the audit log is one chain
//! that verifies from any host; a host without the right master key
//! refuses to start; a SQLite installation copied in runs on.

use std::time::Duration;

use easel_app::database::Database;
use easel_app::queue::{self, QueueHost as _};
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
    idle.stop_claiming().await;
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
    let id = queue::enqueue(&ha, &admin, &conn, req.clone(), Some(school.clone()), None)
        .await
        .unwrap()
        .run;
    // More runs of it, which host B starts at once: each fetches the
    // component it does not have yet, none may tear another's copy.
    let mut others = Vec::new();
    for _ in 0..5 {
        others.push(
            queue::enqueue(&ha, &admin, &conn, req.clone(), Some(school.clone()), None)
                .await
                .unwrap()
                .run,
        );
    }

    // Host B never saw the submission: it runs the queued runs.
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
    for other in &others {
        let mut ended = None;
        for _ in 0..400 {
            let r = ha.store.run(other).unwrap().unwrap();
            if !matches!(r.status, RunStatus::Queued | RunStatus::Running) {
                ended = Some(r);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let r = ended.expect("the run ended");
        assert_eq!(r.status, RunStatus::Succeeded, "{r:?}");
    }
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
    assert!(err.message.contains("master key"), "{}", err.message);
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
    // The component went too, for hosts that never had it.
    assert_eq!(
        _cluster.psql(url, "SELECT count(*) FROM components").trim(),
        "1"
    );
    // The SQLite database says where its state went; its key is not
    // changed behind the shared database's back.
    let (code, r) = easel_tests::easel(dir.path(), &["vault", "rekey"]).await;
    assert_eq!(code, 2, "{r:?}");
    assert!(format!("{r:?}").contains("copied into PostgreSQL"), "{r:?}");
    // Nor does it go on quietly as if it were still the database: an old
    // unit file without the URL would spend tokens apart from the others.
    let (code, r) = easel_tests::easel(dir.path(), &["runs"]).await;
    assert_eq!(code, 2, "{r:?}");
    assert!(format!("{r:?}").contains("set EASEL_DATABASE_URL"), "{r:?}");
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

/// Queue a dry run of the course report for `school` on `host`'s grant.
async fn queue_on(h: &easel_app::Home, w: &Workers, school: u64) -> String {
    let conn = w
        .connections()
        .for_grant(h, "course-report", school)
        .await
        .unwrap();
    let req = easel_app::RunRequest {
        plugin: "course-report".into(),
        school,
        dry_run: true,
        params: Vec::new(),
        limits: Limits::default(),
        plan: None,
    };
    queue::enqueue(h, &person("admin"), &conn, req, None, None)
        .await
        .unwrap()
        .run
}

/// Who ran each run (its owner) and on which token, from the database.
fn owners(cluster: &easel_pgtest::Cluster, db: &Database) -> Vec<(String, String, String)> {
    let Database::Postgres(url) = db else {
        unreachable!()
    };
    cluster
        .psql(
            url,
            "SELECT id || '|' || COALESCE(owner, '') || '|' || COALESCE(token, '') || '|' || status || '|' || COALESCE(error, '') FROM runs ORDER BY seq",
        )
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            assert_eq!(f[3], "succeeded", "{l}");
            (f[0].to_owned(), f[1].to_owned(), f[2].to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_token_is_spent_by_the_node_holding_its_lease_and_moves_when_that_node_dies() {
    let (cluster, db) = postgres();
    const TA: &str = "7~TOKENA0000000000000000000000000000000000000000000000000000000000";
    const TB: &str = "7~TOKENB0000000000000000000000000000000000000000000000000000000000";
    let sim = easel_tests::sim_with_token(TA).await;
    sim.add_token(TB, easel_sim::ADMIN_USER_ID);
    let schools: Vec<u64> = sim.with_data(|d| d.schools().iter().take(2).map(|s| s.id).collect());
    let a = tempfile::tempdir().unwrap();
    let ha = home_in(a.path(), &db);
    easel_tests::prod_with_tokens(&ha, sim.url(), &[("ta", TA), ("tb", TB)]);
    easel_app::add(
        &ha,
        &person("contributor"),
        easel_bundled::COURSE_REPORT.wasm,
        easel_bundled::COURSE_REPORT.manifest,
        "course-report",
    )
    .unwrap();
    for (school, token) in schools.iter().zip(["ta", "tb"]) {
        easel_app::approve_on(
            &ha,
            "course-report",
            &[*school],
            false,
            &person("admin"),
            &easel_tests::on_prod(token),
        )
        .unwrap();
    }

    // Two nodes with short leases.
    let config = queue::QueueConfig {
        lease: Duration::from_secs(2),
        ..Default::default()
    };
    let b = second_host(a.path());
    let (na, stop_a) = Workers::start_with(a.path(), &db, config.clone());
    let (nb, stop_b) = Workers::start_with(b.path(), &db, config.clone());
    let both_held = || {
        let a = na.node().unwrap().owned();
        let b = nb.node().unwrap().owned();
        a.len() + b.len() == 2
    };
    for _ in 0..100 {
        if both_held() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(both_held(), "each token has one holder");
    let holder = |token: &str| {
        if na.node().unwrap().owned().iter().any(|t| t == token) {
            na.node().unwrap().id().to_owned()
        } else {
            nb.node().unwrap().id().to_owned()
        }
    };

    // Runs on each token are run by that token's holder only.
    let mut ids = Vec::new();
    for _ in 0..3 {
        for &school in &schools {
            ids.push(queue_on(&ha, &na, school).await);
        }
    }
    let finished = |ids: &[String]| {
        ids.iter().all(|id| {
            let r = ha.store.run(id).unwrap().unwrap();
            !matches!(r.status, RunStatus::Queued | RunStatus::Running)
        })
    };
    for _ in 0..600 {
        if finished(&ids) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ran = owners(&cluster, &db);
    assert_eq!(ran.len(), ids.len());
    for (id, owner, token) in &ran {
        assert_eq!(owner, &holder(token), "run {id} on {token}");
    }

    // The holder of token `ta` dies (its tasks stop; it renews nothing).
    let dead = holder("ta");
    let (survivor, stop_survivor) = if dead == na.node().unwrap().id() {
        drop(stop_a);
        (nb.clone(), stop_b)
    } else {
        drop(stop_b);
        (na.clone(), stop_a)
    };
    let start = std::time::Instant::now();
    while !survivor.node().unwrap().owned().iter().any(|t| t == "ta") {
        assert!(
            start.elapsed() < config.lease * 4,
            "the survivor never took the dead node's token"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        start.elapsed() <= config.lease * 2,
        "taken within the lease (and one renewal round): {:?}",
        start.elapsed()
    );
    // Runs on `ta` now go to the survivor.
    let more = vec![queue_on(&ha, &survivor, schools[0]).await];
    for _ in 0..600 {
        if finished(&more) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ran = owners(&cluster, &db);
    let last = ran.iter().find(|(id, _, _)| id == &more[0]).unwrap();
    assert_eq!(last.1, survivor.node().unwrap().id());
    drop(stop_survivor);
    assert!(matches!(ha.audit.verify().unwrap(), Verdict::Intact { .. }));

    // Canary: neither token's secret is anywhere in the shared database
    // (sealed records, audit log, runs, leases), in any form.
    let Database::Postgres(url) = &db else {
        unreachable!()
    };
    let dump = cluster.dump(url);
    assert!(
        dump.contains("INSERT INTO public.audit"),
        "the dump holds the data"
    );
    for secret in ["TOKENA0000", "TOKENB0000"] {
        assert!(!dump.contains(secret), "{secret} is in the database");
        assert!(
            !dump.contains(&hex_of(secret)),
            "{secret} is in the database, hex-encoded"
        );
    }
}

fn hex_of(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_on_three_hosts_fires_once_per_fire_time() {
    use easel_app::schedules::{self, NewSchedule};
    let (_cluster, db) = postgres();
    let a = tempfile::tempdir().unwrap();
    let ha = home_in(a.path(), &db);
    add_bundled(&ha, &easel_bundled::COURSE_REPORT, 2, false);
    let created: jiff::Timestamp = "2026-12-02T00:30:00Z".parse().unwrap();
    let schedule = schedules::add(
        &ha,
        &person("admin"),
        &NewSchedule {
            plugin: "course-report".into(),
            schools: vec![2],
            all_schools: false,
            cron: "0 * * * *".into(),
            tz: "UTC".into(),
            dry_run: true,
            params: Vec::new(),
            overlap: "skip".into(),
            misfire: "skip".into(),
            retry_interrupted: false,
        },
        created,
    )
    .unwrap();
    let others: Vec<tempfile::TempDir> = (0..2).map(|_| second_host(a.path())).collect();
    let mut dirs = vec![a.path().to_path_buf()];
    dirs.extend(others.iter().map(|d| d.path().to_path_buf()));
    let none = std::collections::HashSet::new();
    let mut fired = 0;
    for hour in 1..=6 {
        let now: jiff::Timestamp = format!("2026-12-02T{hour:02}:00:05Z").parse().unwrap();
        // The three schedulers look at the same moment.
        let due: Vec<usize> = std::thread::scope(|s| {
            let hs: Vec<_> = dirs
                .iter()
                .map(|dir| {
                    let (db, none) = (&db, &none);
                    s.spawn(move || {
                        let h = home_in(dir, db);
                        schedules::due(&h, now, none, none).unwrap().len()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(due.iter().sum::<usize>(), 1, "hour {hour}: {due:?}");
        fired += 1;
    }
    let fires = ha.store.fires(&schedule.id, 100).unwrap();
    assert_eq!(fires.len(), fired, "one row per fire time");
}

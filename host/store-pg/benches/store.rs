//! PostgreSQL store figures (docs/PERFORMANCE.md, "Many hosts"):
//!
//! - runs claimed per second, and a claim's tail latency, by 1 and by 3
//!   nodes from 10,000 queued trivial runs;
//! - audit appends per second on PostgreSQL against SQLite, one writer
//!   waiting for each commit and eight sharing commits.
//!
//! A private cluster with PostgreSQL's default durability (fsync on), on
//! loopback. `cargo bench -p easel-store-pg --bench store`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use easel_pgtest::{Cluster, Durability};
use easel_store::{
    Action, AuditEntry, AuditKeys, AuditLog, AuditOptions, RunFinish, RunStatus, Store,
};
use easel_store_pg::{Claim, PgAudit, PgStore};

const QUEUED: usize = 10_000;
/// Claimers per node (a node's workers).
const WORKERS: usize = 4;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

fn claims(cluster: &Cluster, nodes: usize) {
    let url = cluster.database();
    let store = PgStore::connect(&url, 2).unwrap();
    cluster.psql(
        &url,
        &format!(
            "INSERT INTO runs (id, plugin_id, digest, school, instance, dry_run, params, status, started_at, request)
             SELECT 'r' || g, 'trivial', 'd', g, 'main', true, '[]', 'queued', '2026-01-01T00:00:00Z', '{{}}'
             FROM generate_series(1, {QUEUED}) g"
        ),
    );
    assert_eq!(store.queued_runs().unwrap(), QUEUED as u64);
    let start = Instant::now();
    let latencies: Vec<Duration> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..nodes)
            .map(|n| {
                let url = url.clone();
                s.spawn(move || {
                    // A node: its own pool, WORKERS claimers on it.
                    let node = Arc::new(PgStore::connect(&url, WORKERS).unwrap());
                    std::thread::scope(|s| {
                        let ws: Vec<_> = (0..WORKERS)
                            .map(|_| {
                                let node = node.clone();
                                s.spawn(move || {
                                    let mut lat = Vec::new();
                                    let owner = format!("node-{n}");
                                    loop {
                                        let t = Instant::now();
                                        let lease = easel_store::now_ms() + 60_000;
                                        let Some(run) = node
                                            .claim_run(&owner, lease, &Claim::default())
                                            .unwrap()
                                        else {
                                            break;
                                        };
                                        lat.push(t.elapsed());
                                        node.finish_run(
                                            &run.id,
                                            &RunFinish {
                                                status: Some(RunStatus::Succeeded),
                                                ..RunFinish::default()
                                            },
                                        )
                                        .unwrap();
                                    }
                                    lat
                                })
                            })
                            .collect();
                        ws.into_iter()
                            .flat_map(|w| w.join().unwrap())
                            .collect::<Vec<_>>()
                    })
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let secs = start.elapsed().as_secs_f64();
    let mut lat = latencies;
    lat.sort();
    assert_eq!(lat.len(), QUEUED, "every run claimed once");
    println!(
        "claims, {nodes} node(s) x {WORKERS} workers: {QUEUED} runs in {secs:.2} s = {:.0} claims/s (claim and finish); claim p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        QUEUED as f64 / secs,
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0),
    );
}

fn entry(i: u64) -> AuditEntry {
    AuditEntry {
        school: Some(100 + i),
        method: Some("GET".into()),
        path: Some(format!("/api/v1/accounts/{i}/courses")),
        status: Some(200),
        cost: Some(0.25),
        ..AuditEntry::new("run:bench", Action::CanvasResponse)
    }
}

fn appends(name: &str, log: &AuditLog, writers: usize, per_writer: u64) {
    let start = Instant::now();
    std::thread::scope(|s| {
        for w in 0..writers {
            s.spawn(move || {
                for i in 0..per_writer {
                    log.append(&entry(w as u64 * per_writer + i)).unwrap();
                }
            });
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let n = writers as u64 * per_writer;
    let (commits, records) = log.commit_stats();
    println!(
        "audit appends, {name}, {writers} writer(s): {n} in {secs:.2} s = {:.0}/s ({:.1} records per commit)",
        n as f64 / secs,
        records as f64 / commits.max(1) as f64
    );
}

fn main() {
    let cluster = Cluster::start(Durability::Default);
    for nodes in [1, 3] {
        claims(&cluster, nodes);
    }
    let keys = || AuditKeys::derive(&[7u8; 32]).unwrap();
    for (writers, per) in [(1usize, 2_000u64), (8, 1_000)] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("easel.db");
        Store::open(&db).unwrap();
        let log = AuditLog::open(&db, keys()).unwrap();
        appends("SQLite", &log, writers, per);

        let url = cluster.database();
        PgStore::connect(&url, 1).unwrap();
        let log = AuditLog::with_backend(
            Box::new(PgAudit::open(&url).unwrap()),
            keys(),
            AuditOptions::default(),
        )
        .unwrap();
        appends("PostgreSQL", &log, writers, per);
        assert!(matches!(
            log.verify().unwrap(),
            easel_store::Verdict::Intact { .. }
        ));
    }
}

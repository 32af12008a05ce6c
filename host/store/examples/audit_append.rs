//! How long one audit append takes: `cargo run --release -p easel-store --example audit_append`.
#![allow(clippy::unwrap_used)]

use easel_store::{Action, AuditEntry, AuditKeys, AuditLog, Store};

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("easel.db");
    Store::open(&db).unwrap();
    let log = AuditLog::open(&db, AuditKeys::derive(&[7u8; 32]).unwrap()).unwrap();
    let e = AuditEntry {
        instance: Some("prod".into()),
        school: Some(12),
        plugin: Some("course-report".into()),
        digest: Some("ab".repeat(32)),
        run: Some("0123456789abcdef".into()),
        method: Some("GET".into()),
        path: Some("/api/v1/courses/1234/sections".into()),
        status: Some(200),
        cost: Some(0.25),
        token: Some("fp:0123456789abcdef".into()),
        ..AuditEntry::new("run:0123456789abcdef", Action::CanvasResponse)
    };
    for _ in 0..500 {
        log.append(&e).unwrap();
    }
    let n = 5_000;
    let t = std::time::Instant::now();
    for _ in 0..n {
        log.append(&e).unwrap();
    }
    let per = t.elapsed() / n;
    println!("audit append: {per:?} per record ({n} records)");

    // A Canvas call as a run records it: the call, committed before it is
    // sent, and its answer, which joins the next commit.
    let t = std::time::Instant::now();
    for _ in 0..n {
        log.append(&e).unwrap();
        log.append_deferred(e.clone()).unwrap();
    }
    let per = t.elapsed() / n;
    println!("audit per call (append + deferred answer): {per:?} ({n} calls)");

    // Many runs at once: 16 threads each recording calls.
    let log = std::sync::Arc::new(log);
    let before = log.commit_stats();
    let threads = 16;
    let t = std::time::Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (log, e) = (log.clone(), e.clone());
            std::thread::spawn(move || {
                for _ in 0..n / threads {
                    log.append(&e).unwrap();
                    log.append_deferred(e.clone()).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let per = t.elapsed() / n;
    let after = log.commit_stats();
    let (commits, records) = (after.0 - before.0, after.1 - before.1);
    println!(
        "audit per call, {threads} threads: {per:?} ({n} calls; {commits} commits, {:.1} records each)",
        records as f64 / commits.max(1) as f64
    );
}

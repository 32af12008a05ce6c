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
}

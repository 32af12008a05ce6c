//! Stopping a process's runs (SIGTERM past the grace, Ctrl-C): the counts
//! a run is marked interrupted with come from the audit log, so every
//! record its runs made must be committed first, answers held back for
//! the next commit included. Its own test binary: stopping is
//! process-wide.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use easel_app::{Home, RunAudit};
use easel_runtime::{AuditSink, CanvasEvent};
use easel_store::{AuditFilter, NewRun, RunStatus};

#[test]
fn a_run_stopped_with_an_answer_not_yet_committed_is_marked_with_that_answer() {
    let dir = tempfile::tempdir().unwrap();
    // The run's home and the one that marks it (a server opens its own).
    let running = Home::open(Some(dir.path().to_path_buf())).unwrap();
    let stopping = Home::open(Some(dir.path().to_path_buf())).unwrap();
    running
        .store
        .start_run(&NewRun {
            id: "r1".into(),
            plugin_id: "p".into(),
            digest: "d".repeat(64),
            school: 12,
            instance: "prod".into(),
            dry_run: false,
            params: vec![],
            applies: None,
            owner: Some(easel_app::process::me()),
            batch: None,
            token: None,
        })
        .unwrap();
    let mut audit = RunAudit::new(running.audit.clone(), "r1".into());
    audit.plugin = "p".into();
    audit.school = 12;
    audit.instance = "prod".into();
    let path = "/api/v1/courses/5";
    for (method, status) in [("GET", 200), ("PUT", 200)] {
        audit
            .record(CanvasEvent::Allowed {
                method,
                path,
                request_sha256: None,
            })
            .unwrap();
        // Canvas's answer waits for the next commit.
        audit
            .record(CanvasEvent::Answered {
                method,
                path,
                status,
                cost: None,
            })
            .unwrap();
    }

    // A run's audit, once gone, leaves no answer held back (so a log that
    // goes away as the process stops is not left to commit after the
    // counts are taken).
    let other = Home::open(Some(dir.path().to_path_buf())).unwrap();
    let mut ended = RunAudit::new(other.audit.clone(), "r0".into());
    ended.school = 12;
    for event in [
        CanvasEvent::Allowed {
            method: "GET",
            path,
            request_sha256: None,
        },
        CanvasEvent::Answered {
            method: "GET",
            path,
            status: 200,
            cost: None,
        },
    ] {
        ended.record(event).unwrap();
    }
    drop(ended);
    let answered = |run: &str| {
        stopping
            .audit
            .records(
                &AuditFilter {
                    run: Some(run.into()),
                    action: Some("canvas-response".into()),
                    ..AuditFilter::default()
                },
                None,
            )
            .unwrap()
            .len()
    };
    assert_eq!(answered("r0"), 1, "committed when its run's audit went");

    let marked = stopping.interrupt_own_runs();
    assert_eq!(marked, vec!["r1".to_string()]);
    let row = stopping.store.run("r1").unwrap().unwrap();
    assert_eq!(row.status, RunStatus::Interrupted);
    assert_eq!(row.calls, 2, "both answers counted: {row:?}");
    assert_eq!(row.writes, Some(1), "the PUT's answer counted: {row:?}");
    assert!(
        row.unknown.is_empty(),
        "a write whose answer was recorded is not of unknown outcome: {row:?}"
    );

    // Nothing more is recorded, so the counts stay final.
    let after = audit.record(CanvasEvent::Allowed {
        method: "GET",
        path,
        request_sha256: None,
    });
    assert!(after.is_err(), "a call after the stop is refused");
    drop(audit);
    drop(running);
    drop(other);
    assert_eq!(answered("r1"), 2, "the log and the run agree");
}

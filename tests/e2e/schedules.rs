//! Schedules through the application layer, with the clock given, not
//! slept: a fire time runs once however often it is looked at; fire times
//! missed while easel was down are recorded and, by the schedule's choice,
//! skipped or run once; a fire while the last still runs is skipped; a
//! revoked approval pauses the schedule, which then runs nothing; and who
//! may schedule what.

use std::collections::HashSet;

use easel_app::schedules::{self, NewSchedule};
use easel_app::{Actor, Kind, Role};
use easel_tests::{add_bundled, person};

easel_tests::matrix!();
use jiff::Timestamp;

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn hourly(misfire: &str) -> NewSchedule {
    NewSchedule {
        plugin: "course-report".into(),
        schools: vec![2],
        all_schools: false,
        cron: "0 * * * *".into(),
        tz: "UTC".into(),
        dry_run: false,
        params: Vec::new(),
        overlap: "skip".into(),
        misfire: misfire.into(),
        retry_interrupted: false,
    }
}

fn outcomes(h: &easel_app::Home, id: &str) -> Vec<(String, String)> {
    let mut f: Vec<(String, String)> = h
        .store
        .fires(id, 100)
        .unwrap()
        .into_iter()
        .map(|f| (f.fire_at, f.outcome))
        .collect();
    f.sort();
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fire_time_runs_once_and_missed_ones_are_skipped_or_run_once() {
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path());
    add_bundled(&h, &easel_bundled::COURSE_REPORT, 2, false);
    let admin = person("admin");
    let created = at("2026-12-02T00:30:00Z");
    let once = schedules::add(&h, &admin, &hourly("run-once"), created).unwrap();
    let skip = schedules::add(&h, &admin, &hourly("skip"), created).unwrap();
    let none = HashSet::new();

    // 01:00:30: both fire, once; looking again fires nothing.
    let due = schedules::due(&h, at("2026-12-02T01:00:30Z"), &none, &none).unwrap();
    assert_eq!(due.len(), 2);
    assert!(due.iter().all(|d| d.fire_at == "2026-12-02T01:00:00Z"));
    let (workers, _stop) = workers(dir.path());
    for d in &due {
        let r = schedules::run(&h, d, workers.connections(), workers.queue()).await;
        let batch = r.as_ref().unwrap().batch.clone();
        assert_eq!(r.as_ref().unwrap().succeeded, 1, "{r:?}");
        schedules::finished(&h, d, &r).unwrap();
        let runs = h.store.runs(10).unwrap();
        assert!(
            runs.iter()
                .any(|run| run.batch.as_deref() == Some(batch.as_str()))
        );
    }
    assert!(
        schedules::due(&h, at("2026-12-02T01:00:40Z"), &none, &none)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        outcomes(&h, &once.id),
        [("2026-12-02T01:00:00Z".to_owned(), "succeeded".to_owned())]
    );

    // Down from 01:00 to 05:30: 02:00..05:00 were missed. run-once runs
    // 05:00 once; skip runs none; every missed time is recorded.
    let due = schedules::due(&h, at("2026-12-02T05:30:00Z"), &none, &none).unwrap();
    assert_eq!(due.len(), 1, "{due:?}");
    assert_eq!(
        (due[0].schedule.id.as_str(), due[0].fire_at.as_str()),
        (once.id.as_str(), "2026-12-02T05:00:00Z")
    );
    let missed = |id: &str| {
        outcomes(&h, id)
            .into_iter()
            .filter(|(_, o)| o == "missed")
            .count()
    };
    assert_eq!(missed(&once.id), 3);
    assert_eq!(missed(&skip.id), 4);
    // A restart that looks again fires nothing more.
    assert!(
        schedules::due(&h, at("2026-12-02T05:31:00Z"), &none, &none)
            .unwrap()
            .is_empty()
    );

    // A fire while the last still runs is skipped (and recorded).
    let running: HashSet<String> = [once.id.clone()].into();
    let due = schedules::due(&h, at("2026-12-02T06:00:05Z"), &running, &none).unwrap();
    assert_eq!(due.len(), 1, "only the other schedule fires");
    assert_eq!(due[0].schedule.id, skip.id);
    assert!(
        outcomes(&h, &once.id).contains(&("2026-12-02T06:00:00Z".to_owned(), "skipped".to_owned()))
    );
    let actions: Vec<String> = h
        .audit
        .records(&easel_store::AuditFilter::default(), None)
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .collect();
    for a in ["schedule-changed", "schedule-fired", "schedule-skipped"] {
        assert!(actions.iter().any(|x| x == a), "{a}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_approval_pauses_the_schedule_and_nothing_runs() {
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path());
    add_bundled(&h, &easel_bundled::COURSE_REPORT, 2, false);
    let admin = person("admin");
    let s = schedules::add(&h, &admin, &hourly("run-once"), at("2026-12-02T00:30:00Z")).unwrap();
    easel_app::revoke(&h, &admin, "course-report", &[]).unwrap();
    let due = schedules::due(
        &h,
        at("2026-12-02T01:00:10Z"),
        &HashSet::new(),
        &HashSet::new(),
    )
    .unwrap();
    assert!(due.is_empty());
    let row = h.store.schedule(&s.id).unwrap().unwrap();
    assert!(row.paused_at.is_some());
    assert!(row.paused_why.unwrap().contains("revoked"), "says why");
    assert!(h.store.runs(10).unwrap().is_empty());
    // Paused, it fires nothing later either; the list shows no next time.
    assert!(
        schedules::due(
            &h,
            at("2026-12-02T09:00:10Z"),
            &HashSet::new(),
            &HashSet::new()
        )
        .unwrap()
        .is_empty()
    );
    let listed = schedules::list(&h, &admin, at("2026-12-02T09:00:10Z")).unwrap();
    assert!(listed[0].next.is_empty());
}

#[test]
fn who_may_schedule_what_and_bad_input_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path());
    add_bundled(&h, &easel_bundled::COURSE_REPORT, 2, false);
    let now = at("2026-12-02T00:30:00Z");
    let contributor = Actor {
        roles: vec![Role::SchoolContributor { schools: vec![2] }],
        ..person("lhs-it")
    };
    let e = schedules::add(&h, &contributor, &hourly("skip"), now).unwrap_err();
    assert_eq!(e.kind, Kind::Forbidden);
    let admin = person("admin");
    for (what, new) in [
        (
            "cron",
            NewSchedule {
                cron: "0 6 * *".into(),
                ..hourly("skip")
            },
        ),
        (
            "zone",
            NewSchedule {
                tz: "America/Nowhere".into(),
                ..hourly("skip")
            },
        ),
        (
            "overlap",
            NewSchedule {
                overlap: "sometimes".into(),
                ..hourly("skip")
            },
        ),
        ("misfire", hourly("always")),
        (
            "unapproved school",
            NewSchedule {
                schools: vec![4],
                ..hourly("skip")
            },
        ),
        (
            "no plugin",
            NewSchedule {
                plugin: "nope".into(),
                ..hourly("skip")
            },
        ),
    ] {
        let e = schedules::add(&h, &admin, &new, now).unwrap_err();
        assert_eq!(e.kind, Kind::Invalid, "{what}: {e}");
    }
    assert!(h.store.schedules().unwrap().is_empty(), "nothing was added");
    // Chicago's next three weekday 6:00s, in its own zone.
    let s = schedules::add(
        &h,
        &admin,
        &NewSchedule {
            cron: "0 6 * * 1-5".into(),
            tz: "America/Chicago".into(),
            ..hourly("skip")
        },
        now,
    )
    .unwrap();
    let (view, _) = schedules::show(&h, &admin, &s.id, at("2026-12-04T13:00:00Z")).unwrap();
    assert_eq!(
        view.next,
        [
            "2026-12-07 06:00 CST",
            "2026-12-08 06:00 CST",
            "2026-12-09 06:00 CST"
        ]
    );
    schedules::pause(&h, &admin, &s.id).unwrap();
    schedules::resume(&h, &admin, &s.id, now).unwrap();
    schedules::remove(&h, &admin, &s.id).unwrap();
    assert!(h.store.schedules().unwrap().is_empty());
}

fn every_minute(overlap: &str) -> NewSchedule {
    NewSchedule {
        cron: "* * * * *".into(),
        overlap: overlap.into(),
        ..hourly("run-once")
    }
}

#[test]
fn after_a_month_down_run_once_runs_one_fire_and_the_gap_is_summarised() {
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path());
    add_bundled(&h, &easel_bundled::COURSE_REPORT, 2, false);
    let admin = person("admin");
    let s = schedules::add(
        &h,
        &admin,
        &every_minute("skip"),
        at("2026-11-02T12:00:00Z"),
    )
    .unwrap();
    let none = HashSet::new();
    let now = at("2026-12-02T12:00:30Z");
    let due = schedules::due(&h, now, &none, &none).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].fire_at, "2026-12-02T12:00:00Z", "the latest, once");
    // Looked at again, and a minute later: nothing more, then the next.
    assert!(
        schedules::due(&h, at("2026-12-02T12:00:50Z"), &none, &none)
            .unwrap()
            .is_empty()
    );
    let due = schedules::due(&h, at("2026-12-02T12:01:10Z"), &none, &none).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].fire_at, "2026-12-02T12:01:00Z");
    let missed = h
        .store
        .fires(&s.id, 20_000)
        .unwrap()
        .into_iter()
        .filter(|f| f.outcome == "missed")
        .count();
    assert_eq!(missed, 10_000, "the first 10,000 recorded one by one");
    let summary = h
        .audit
        .records(&easel_store::AuditFilter::default(), None)
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "schedule-skipped")
        .filter_map(|r| r.detail)
        .collect::<Vec<_>>();
    assert!(
        summary.iter().any(|d| d.contains("43199 fire time(s)")),
        "{summary:?}"
    );
}

#[test]
fn one_unreadable_schedule_stops_no_other_and_queued_fires_wait_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path());
    add_bundled(&h, &easel_bundled::COURSE_REPORT, 2, false);
    let admin = person("admin");
    let created = at("2026-12-02T00:30:00Z");
    let good = schedules::add(&h, &admin, &every_minute("queue"), created).unwrap();
    let mut bad = good.clone();
    bad.id = "bad00000".into();
    bad.handled_until = "not-a-time".into();
    h.store.add_schedule(&bad).unwrap();
    let none = HashSet::new();
    let due = schedules::due(&h, at("2026-12-02T00:31:05Z"), &none, &none).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].schedule.id, good.id);
    let bad = h.store.schedule("bad00000").unwrap().unwrap();
    assert!(bad.paused_why.unwrap().contains("no longer reads"));
    // Running: the next fire queues behind it; with one waiting, the one
    // after is skipped.
    let running: HashSet<String> = [good.id.clone()].into();
    let due = schedules::due(&h, at("2026-12-02T00:32:05Z"), &running, &none).unwrap();
    assert_eq!(due.len(), 1, "queued behind the running fire");
    let due = schedules::due(&h, at("2026-12-02T00:33:05Z"), &running, &running).unwrap();
    assert!(due.is_empty());
    assert!(
        outcomes(&h, &good.id).contains(&("2026-12-02T00:33:00Z".to_owned(), "skipped".to_owned()))
    );
}

#[test]
fn a_creator_who_is_gone_or_an_expired_approval_pauses_the_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path());
    add_bundled(&h, &easel_bundled::COURSE_REPORT, 2, false);
    let created = at("2026-12-02T00:30:00Z");
    let none = HashSet::new();
    // Made by a signed-in approver whom easel no longer has.
    let ghost = Actor {
        roles: vec![Role::Approver],
        via: easel_app::SignIn::Password,
        ..person("ghost")
    };
    let s = schedules::add(&h, &ghost, &hourly("skip"), created).unwrap();
    assert!(
        schedules::due(&h, at("2026-12-02T01:00:05Z"), &none, &none)
            .unwrap()
            .is_empty()
    );
    let row = h.store.schedule(&s.id).unwrap().unwrap();
    assert!(row.paused_why.unwrap().contains("creator ghost is gone"));
    // All schools, and the only approval expires.
    let admin = person("admin");
    let all = schedules::add(
        &h,
        &admin,
        &NewSchedule {
            schools: Vec::new(),
            all_schools: true,
            ..hourly("skip")
        },
        created,
    )
    .unwrap();
    easel_app::approve_with(
        &h,
        "course-report",
        &[2],
        &admin,
        &easel_app::ApproveOptions {
            terms: easel_store::GrantTerms {
                expires_at: Some("2020-01-01T00:00:00Z".into()),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .unwrap();
    assert!(
        schedules::due(&h, at("2026-12-02T01:00:05Z"), &none, &none)
            .unwrap()
            .is_empty()
    );
    let row = h.store.schedule(&all.id).unwrap().unwrap();
    assert!(row.paused_why.unwrap().contains("expired"), "says why");
    assert!(h.store.runs(10).unwrap().is_empty(), "nothing ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fire_refused_outright_pauses_the_schedule_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path());
    add_bundled(&h, &easel_bundled::COURSE_REPORT, 2, false);
    let admin = person("admin");
    // A parameter the plugin does not take is refused at once.
    let e = schedules::add(
        &h,
        &admin,
        &NewSchedule {
            params: vec![("bogus".into(), "1".into())],
            ..hourly("skip")
        },
        at("2026-12-02T00:30:00Z"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("unknown parameter \"bogus\""), "{e}");
    // One run a day: the second fire is refused, and the schedule pauses.
    easel_app::approve_with(
        &h,
        "course-report",
        &[2],
        &admin,
        &easel_app::ApproveOptions {
            terms: easel_store::GrantTerms {
                runs_per_day: Some(1),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .unwrap();
    let s = schedules::add(&h, &admin, &hourly("skip"), at("2026-12-02T00:30:00Z")).unwrap();
    let none = HashSet::new();
    let (workers, _stop) = workers(dir.path());
    for (now, ok) in [
        ("2026-12-02T01:00:05Z", true),
        ("2026-12-02T02:00:05Z", false),
    ] {
        let due = schedules::due(&h, at(now), &none, &none).unwrap();
        assert_eq!(due.len(), 1, "{now}");
        let r = schedules::run(&h, &due[0], workers.connections(), workers.queue()).await;
        assert_eq!(r.as_ref().unwrap().failed == 0, ok, "{r:?}");
        schedules::finished(&h, &due[0], &r).unwrap();
    }
    let row = h.store.schedule(&s.id).unwrap().unwrap();
    let why = row.paused_why.unwrap();
    assert!(why.contains("1 run(s) in 24 hours"), "{why}");
    assert!(
        why.contains(&format!("easel schedule resume {}", s.id)),
        "{why}"
    );
    let last = &h.store.fires(&s.id, 1).unwrap()[0];
    assert_eq!(last.outcome, "failed");
    assert!(
        last.detail
            .as_deref()
            .unwrap()
            .contains("1 run(s) in 24 hours")
    );
    assert_eq!(last.batch, None, "no batch id when nothing ran");
    // Pausing a paused schedule says so.
    assert_eq!(
        schedules::pause(&h, &admin, &s.id).unwrap_err().kind,
        Kind::Conflict
    );
}

//! Three `easel serve` processes on one PostgreSQL database, against the
//! simulator: the course report for 320 schools on two tokens runs once
//! per school, each token spent by one node only (no throttle) and fairly
//! among its runs; then the node holding a token is killed (`kill -9`)
//! while its runs write. Another node takes the token within the lease,
//! the dead node's runs are interrupted with the writes the audit log
//! records, the runs after them succeed, no write reaches Canvas twice,
//! and the audit log verifies.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::fleet::{self, Fleet, Spec};

/// The run id in a request's User-Agent (`...; run=<id>; school=...`).
fn run_of(r: &easel_sim::RecordedRequest) -> Option<String> {
    let ua = r.header("user-agent")?;
    let rest = ua.split("run=").nth(1)?;
    Some(rest.split(';').next()?.to_owned())
}

#[test]
fn three_hosts_run_every_school_once_fairly_and_survive_a_token_holder_killed_mid_run() {
    const LEASE: Duration = Duration::from_secs(5);
    let fleet = Fleet::new(
        3,
        Spec {
            schools: 320,
            courses_per_school: 6,
            throttle: easel_sim::ThrottleConfig::default(),
        },
    );
    // Canvas's answers take a while, as over a network.
    fleet.sim.set_faults(easel_sim::Faults {
        latency: Some(Duration::from_millis(20)),
        ..Default::default()
    });
    let mut served: Vec<common::Served> =
        (0..3).map(|i| fleet.serve(i, &["--lease", "5s"])).collect();
    let ids = fleet::nodes(&served);
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 3, "{ids:?}");
    let holders: BTreeMap<String, String> = fleet
        .settled(&ids, Duration::from_secs(30))
        .into_iter()
        .collect();

    // 1. The course report with sections for every school: half on each
    // token, asked of two different hosts.
    let half = fleet.schools.len() / 2;
    let sections = serde_json::json!({"sections": "true"});
    let mut asked = fleet.batch(
        &served[0],
        "course-report",
        &fleet.schools[..half],
        sections.clone(),
    );
    asked.extend(fleet.batch(
        &served[1],
        "course-report",
        &fleet.schools[half..],
        sections,
    ));
    let runs = fleet.ended(&asked, Duration::from_secs(240));
    assert_eq!(runs.len(), 320);
    assert_eq!(
        runs.iter().map(|r| r.school).collect::<BTreeSet<_>>().len(),
        320,
        "one run per school"
    );
    for r in &runs {
        assert_eq!(r.status, "succeeded", "{r:?}");
        // Run by the node holding its token's lease, and by no other.
        assert_eq!(Some(&r.owner), holders.get(&r.token), "{r:?}");
    }
    // Each run's calls reached Canvas once: the simulator saw as many
    // requests tagged with the run as the run counts.
    let seen = fleet.sim.requests();
    let mut per_run: BTreeMap<String, u64> = BTreeMap::new();
    for r in &seen {
        if let Some(id) = run_of(r) {
            *per_run.entry(id).or_default() += 1;
        }
    }
    for r in &runs {
        assert_eq!(per_run.get(&r.id), Some(&r.calls), "{r:?}");
    }
    // Fairness among the runs that shared a token at the same time (the
    // first runs, while the bucket is still empty, are faster than later ones
    // without being favoured; the plain index over all runs is printed).
    for (token, _) in fleet::TOKENS {
        let on: Vec<&fleet::Run> = runs.iter().filter(|r| r.token == token).collect();
        assert_eq!(on.len(), 160);
        let mut speeds: Vec<f64> = on.iter().map(|r| r.throughput()).collect();
        let plain = fleet::jain(&speeds);
        speeds.sort_by(f64::total_cmp);
        let j = fleet::jain_among_contemporaries(&on);
        // The index barely moves for a few starved runs among 160: no run
        // may get less than a quarter of what the runs beside it got.
        let slowest = fleet::relative_to_contemporaries(&on)
            .into_iter()
            .fold(f64::INFINITY, f64::min);
        eprintln!(
            "token {token}: Jain's index over its 160 runs {j:.3} among contemporaries, {plain:.3} plain; the slowest run against its contemporaries {slowest:.2}; calls/s min {:.1}, median {:.1}, max {:.1}",
            speeds[0], speeds[80], speeds[159]
        );
        assert!(j >= 0.95, "token {token}: Jain {j:.3}");
        assert!(
            slowest >= 0.25,
            "token {token}: a run went at {slowest:.2} of its contemporaries' rate"
        );
    }
    assert_eq!(fleet.sim.throttled_count(), 0, "a token was overspent");

    // 2. The course publisher writes in the first half's schools (token
    // ta); its holder is killed while runs are in flight.
    fleet.sim.set_faults(easel_sim::Faults {
        latency: Some(Duration::from_millis(150)),
        ..Default::default()
    });
    let dead = holders["ta"].clone();
    let k = ids.iter().position(|n| *n == dead).unwrap();
    let other = (k + 1) % 3;
    let writes = fleet.batch(
        &served[other],
        "course-publisher",
        &fleet.schools[..half],
        serde_json::json!({}),
    );
    let puts = || {
        fleet
            .sim
            .requests()
            .into_iter()
            .filter(|r| r.method == "PUT")
            .count()
    };
    let start = Instant::now();
    while puts() < 6 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the publisher never wrote"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut killed = served.remove(k);
    killed.child.kill().unwrap();
    let _ = killed.child.wait();
    let killed_at = Instant::now();

    // Another node holds ta within the lease (and a renewal round).
    let taker = loop {
        let now: BTreeMap<String, String> = fleet.holders().into_iter().collect();
        if let Some(n) = now.get("ta")
            && *n != dead
        {
            break n.clone();
        }
        assert!(
            killed_at.elapsed() < LEASE * 4,
            "nobody took the dead node's token"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = killed_at.elapsed();
    eprintln!("token ta taken by another node {took:?} after the kill");
    assert!(took <= LEASE * 2, "taken after {took:?}");

    let runs = fleet.ended(&writes, Duration::from_secs(240));
    let interrupted: Vec<&fleet::Run> = runs.iter().filter(|r| r.status == "interrupted").collect();
    assert!(!interrupted.is_empty(), "no run was in flight at the kill");
    let after: Vec<&fleet::Run> = runs
        .iter()
        .filter(|r| r.status == "succeeded" && r.owner != dead)
        .collect();
    assert!(!after.is_empty(), "no run succeeded after the kill");
    for r in &runs {
        match r.status.as_str() {
            "interrupted" => assert_eq!(r.owner, dead, "{r:?}"),
            "succeeded" => assert!(r.owner == dead || r.owner == taker, "{r:?}"),
            _ => panic!("{r:?}"),
        }
    }
    // Each interrupted run's count is the audit log's, and what Canvas
    // received lies between the writes answered and those sent.
    let seen = fleet.sim.requests();
    for r in &interrupted {
        let audited = fleet.sql(&format!(
            "SELECT count(*) FROM audit WHERE run = '{}' AND action = 'canvas-response' AND method <> 'GET'",
            r.id
        ));
        assert_eq!(audited, [r.writes.to_string()], "{r:?}");
        let received = seen
            .iter()
            .filter(|q| q.method == "PUT" && run_of(q).as_deref() == Some(&r.id))
            .count() as i64;
        assert!(
            r.writes <= received && received <= r.writes + r.unknown as i64,
            "{r:?}: Canvas received {received} write(s)"
        );
    }
    // No write reached Canvas twice.
    let mut paths = BTreeSet::new();
    let mut total = 0;
    for q in seen.iter().filter(|q| q.method == "PUT") {
        total += 1;
        assert!(paths.insert(q.path.clone()), "{} sent twice", q.path);
    }
    eprintln!(
        "{} runs interrupted, {} succeeded after the kill; {total} writes, none twice",
        interrupted.len(),
        after.len()
    );
    assert_eq!(fleet.sim.throttled_count(), 0, "a token was overspent");

    // The audit log verifies, from a surviving host.
    let survivor = ids.iter().position(|n| *n == taker).unwrap();
    let out = common::command(&fleet.homes[survivor], &["audit", "verify"])
        .env("EASEL_DATABASE_URL", &fleet.url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::text(&out));

    // No password nor Canvas token in any log.
    for s in served.iter().chain([&killed]) {
        let log = s.log.lock().unwrap().clone();
        assert!(!log.contains("fleet2secret"), "{log}");
        assert!(!log.contains("FLEETTOKEN"), "{log}");
    }
}

/// The fairness measure: runs that go faster because they came first (a
/// bucket still empty) score 1; a run held back while its contemporaries go
/// scores low.
#[test]
fn fairness_is_measured_among_runs_that_shared_the_token_at_once() {
    let run = |start: u32, ms: u32, calls: u64| fleet::Run {
        id: format!("r{start}"),
        plugin: "p".into(),
        school: 1,
        status: "succeeded".into(),
        owner: "n".into(),
        token: "ta".into(),
        calls,
        duration_ms: ms.into(),
        writes: 0,
        unknown: 0,
        started_at: format!("2026-12-04T00:00:{:02}.000Z", start),
        finished_at: format!(
            "2026-12-04T00:00:{:02}.{:03}Z",
            start + ms / 1000,
            ms % 1000
        ),
    };
    // Four early runs at 35 calls/s, then four later at 14: fair.
    let ramp: Vec<fleet::Run> = (0..4)
        .map(|_| run(0, 200, 7))
        .chain((0..4).map(|_| run(10, 500, 7)))
        .collect();
    let ramp: Vec<&fleet::Run> = ramp.iter().collect();
    let speeds: Vec<f64> = ramp.iter().map(|r| r.throughput()).collect();
    assert!(
        fleet::jain(&speeds) < 0.9,
        "the plain index calls it unfair"
    );
    assert!(fleet::jain_among_contemporaries(&ramp) > 0.999);
    // Three runs go at 35 calls/s while a fourth beside them gets 1.75.
    let starved: Vec<fleet::Run> = (0..3)
        .map(|_| run(0, 200, 7))
        .chain([run(0, 4000, 7)])
        .collect();
    let starved: Vec<&fleet::Run> = starved.iter().collect();
    assert!(fleet::jain_among_contemporaries(&starved) < 0.85);
    let slowest = fleet::relative_to_contemporaries(&starved)
        .into_iter()
        .fold(f64::INFINITY, f64::min);
    assert!(slowest < 0.1, "{slowest}");
}

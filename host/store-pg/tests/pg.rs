//! The PostgreSQL store against a real PostgreSQL (a private cluster the
//! harness starts): migrations, the run queue claimed by many nodes at
//! once, token leases across nodes, and schedule fires handled once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use easel_pgtest::Cluster;
use easel_store::{NewRun, RunFinish, RunStatus};
use easel_store_pg::{Claim, PgStore, rendezvous_owner};

fn store(cluster: &Cluster) -> (String, PgStore) {
    let url = cluster.database();
    let s = PgStore::connect(&url, 4).expect("connect");
    (url, s)
}

fn new_run(id: &str, instance: &str) -> NewRun {
    NewRun {
        id: id.into(),
        plugin_id: "course-report".into(),
        digest: "d".repeat(64),
        school: 7,
        instance: instance.into(),
        dry_run: true,
        params: vec![],
        applies: None,
        owner: None,
        batch: None,
        token: None,
    }
}

fn finished(status: RunStatus) -> RunFinish {
    RunFinish {
        status: Some(status),
        duration_ms: 5,
        calls: 1,
        ..RunFinish::default()
    }
}

fn far() -> i64 {
    easel_store::now_ms() + 60_000
}

#[test]
fn migrations_apply_once_even_when_nodes_start_together() {
    let cluster = Cluster::shared();
    let url = cluster.database();
    let applied: Vec<Vec<usize>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let url = url.clone();
                s.spawn(move || PgStore::open(&url, 2).unwrap().migrate().unwrap())
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let all: Vec<usize> = applied.into_iter().flatten().collect();
    let want: Vec<usize> = (1..=PgStore::latest_version()).collect();
    assert_eq!(all, want, "each migration applied by exactly one node");
    let s = PgStore::open(&url, 1).unwrap();
    assert_eq!(s.schema_version().unwrap(), PgStore::latest_version());
    assert!(s.migrate().unwrap().is_empty(), "nothing left to apply");
}

#[test]
fn a_database_newer_than_this_build_is_refused() {
    let cluster = Cluster::shared();
    let (url, _s) = store(&cluster);
    cluster.psql(&url, "INSERT INTO easel_migrations (version) VALUES (999)");
    let err = PgStore::connect(&url, 1).unwrap_err().to_string();
    assert!(err.contains("newer than this easel knows"), "{err}");
}

#[test]
fn a_bad_url_or_a_server_that_is_not_there_says_so() {
    let err = PgStore::connect("mysql://x", 1).unwrap_err().to_string();
    assert!(err.contains("not a PostgreSQL URL"), "{err}");
    // TLS asked for is refused, not quietly done without.
    let err = PgStore::connect("postgres://easel@127.0.0.1:1/x?sslmode=require", 1)
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not support yet"), "{err}");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = PgStore::connect(&format!("postgres://easel:hunter2@127.0.0.1:{port}/x"), 1)
        .unwrap_err()
        .to_string();
    assert!(err.contains("database error"), "{err}");
    assert!(
        !err.contains("hunter2"),
        "the password is never shown: {err}"
    );
}

#[test]
fn many_nodes_claiming_at_once_take_each_run_exactly_once() {
    let cluster = Cluster::shared();
    let (url, s) = store(&cluster);
    const RUNS: usize = 300;
    for i in 0..RUNS {
        s.enqueue_run(&new_run(&format!("r{i:04}"), "main"), "{}")
            .unwrap();
    }
    let claimed: Vec<Vec<String>> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..3)
            .map(|n| {
                let url = url.clone();
                sc.spawn(move || {
                    let s = PgStore::connect(&url, 2).unwrap();
                    let mut mine = Vec::new();
                    while let Some(r) = s
                        .claim_run(&format!("node-{n}"), far(), &Claim::default())
                        .unwrap()
                    {
                        assert_eq!(r.status, RunStatus::Running);
                        mine.push(r.id);
                    }
                    mine
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let total: usize = claimed.iter().map(Vec::len).sum();
    let distinct: BTreeSet<&String> = claimed.iter().flatten().collect();
    assert_eq!(total, RUNS, "every run claimed");
    assert_eq!(distinct.len(), RUNS, "no run claimed twice");
    assert!(
        claimed.iter().all(|c| !c.is_empty()),
        "every node got work: {:?}",
        claimed.iter().map(Vec::len).collect::<Vec<_>>()
    );
    assert_eq!(s.queued_runs().unwrap(), 0);
}

#[test]
fn runs_are_claimed_oldest_first_skipping_busy_instances() {
    let cluster = Cluster::shared();
    let (_url, s) = store(&cluster);
    s.enqueue_run(&new_run("a", "busy"), "{}").unwrap();
    s.enqueue_run(&new_run("b", "main"), "{}").unwrap();
    s.enqueue_run(&new_run("c", "main"), "{}").unwrap();
    let busy = vec!["busy".to_string()];
    let claim = Claim {
        busy: &busy,
        tokens: None,
    };
    assert_eq!(s.claim_run("n", far(), &claim).unwrap().unwrap().id, "b");
    assert_eq!(s.claim_run("n", far(), &claim).unwrap().unwrap().id, "c");
    assert!(s.claim_run("n", far(), &claim).unwrap().is_none());
    let r = s.claim_run("n", far(), &Claim::default()).unwrap().unwrap();
    assert_eq!(r.id, "a");
    assert!(
        s.release_run("a", "other").is_ok_and(|b| !b),
        "only its owner releases it"
    );
    assert!(s.release_run("a", "n").unwrap());
    assert_eq!(s.queued_runs().unwrap(), 1);
}

#[test]
fn a_plan_is_applied_by_one_run_only() {
    let cluster = Cluster::shared();
    let (_url, s) = store(&cluster);
    let mut first = new_run("live-1", "main");
    first.applies = Some("dry-1".into());
    s.start_run(&first).unwrap();
    let mut second = new_run("live-2", "main");
    second.applies = Some("dry-1".into());
    let err = s.start_run(&second).unwrap_err().to_string();
    assert!(err.contains("applied already, by run live-1"), "{err}");
}

#[test]
fn a_node_claims_only_runs_on_tokens_whose_lease_it_holds() {
    let cluster = Cluster::shared();
    let (_url, s) = store(&cluster);
    let lease = Duration::from_secs(30);
    s.register_node("n1", "").unwrap();
    let tokens = vec!["t1".to_string()];
    let own = s.balance_tokens("n1", &tokens, lease).unwrap();
    assert_eq!(own.owned, tokens);
    s.enqueue_run(
        &NewRun {
            token: Some("t2".into()),
            ..new_run("on-t2", "main")
        },
        "{}",
    )
    .unwrap();
    s.enqueue_run(
        &NewRun {
            token: Some("t1".into()),
            ..new_run("on-t1", "main")
        },
        "{}",
    )
    .unwrap();
    // Saying it holds t2 is not enough: the lease row decides.
    let both = vec!["t1".to_string(), "t2".to_string()];
    let claim = Claim {
        busy: &[],
        tokens: Some(&both),
    };
    assert_eq!(
        s.claim_run("n1", far(), &claim).unwrap().unwrap().id,
        "on-t1"
    );
    assert!(s.claim_run("n1", far(), &claim).unwrap().is_none());
}

#[test]
fn each_token_has_one_owner_and_a_dead_nodes_tokens_move_to_the_next_in_hash_order() {
    let cluster = Cluster::shared();
    let (_url, s) = store(&cluster);
    let lease = Duration::from_millis(1500);
    let nodes: Vec<String> = (1..=3).map(|i| format!("node-{i}")).collect();
    let tokens: Vec<String> = (0..12).map(|i| format!("token-{i}")).collect();
    for n in &nodes {
        s.register_node(n, "").unwrap();
    }
    // Two rounds: the first lets every node see the others.
    for _ in 0..2 {
        for n in &nodes {
            s.balance_tokens(n, &tokens, lease).unwrap();
        }
    }
    let leases = s.leases().unwrap();
    assert_eq!(leases.len(), tokens.len(), "every token has a lease");
    let by_token: BTreeMap<&str, &str> = leases
        .iter()
        .map(|l| (l.token_id.as_str(), l.node.as_str()))
        .collect();
    for t in &tokens {
        assert_eq!(
            Some(by_token[t.as_str()]),
            rendezvous_owner(&nodes, t),
            "{t}"
        );
    }
    let owners: BTreeSet<&str> = by_token.values().copied().collect();
    assert_eq!(
        owners.len(),
        3,
        "12 tokens spread over all 3 nodes: {by_token:?}"
    );

    // node-1 dies (stops heartbeating); the others go on.
    let dead = "node-1";
    let alive: Vec<String> = nodes.iter().filter(|n| *n != dead).cloned().collect();
    let start = Instant::now();
    let moved_by = loop {
        for n in &alive {
            s.balance_tokens(n, &tokens, lease).unwrap();
        }
        let now: BTreeMap<String, String> = s
            .leases()
            .unwrap()
            .into_iter()
            .map(|l| (l.token_id, l.node))
            .collect();
        if now.len() == tokens.len() && now.values().all(|n| n != dead) {
            break now;
        }
        assert!(
            start.elapsed() < lease * 4,
            "the dead node's tokens never moved: {now:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        start.elapsed() >= lease / 2,
        "taken before the lease could run out"
    );
    for t in &tokens {
        let before = by_token[t.as_str()];
        let after = moved_by[t].as_str();
        if before == dead {
            assert_eq!(
                Some(after),
                rendezvous_owner(&alive, t),
                "{t}: the next in hash order"
            );
        } else {
            assert_eq!(after, before, "{t}: a live node's token stays where it was");
        }
    }
    assert!(s.handovers().unwrap() >= tokens.len() as u64);
}

#[test]
fn a_joining_node_waits_until_the_holder_has_finished_its_runs_on_the_token() {
    let cluster = Cluster::shared();
    let (_url, s) = store(&cluster);
    let lease = Duration::from_secs(30);
    // Find a token that hashes to the newcomer once it has joined.
    let both = vec!["old".to_string(), "new".to_string()];
    let token = (0..100)
        .map(|i| format!("tok-{i}"))
        .find(|t| rendezvous_owner(&both, t) == Some("new"))
        .unwrap();
    let tokens = vec![token.clone()];
    s.register_node("old", "").unwrap();
    assert_eq!(
        s.balance_tokens("old", &tokens, lease).unwrap().owned,
        tokens
    );
    s.enqueue_run(
        &NewRun {
            token: Some(token.clone()),
            ..new_run("long", "main")
        },
        "{}",
    )
    .unwrap();
    let claim = Claim {
        busy: &[],
        tokens: Some(&tokens),
    };
    s.claim_run("old", far(), &claim).unwrap().unwrap();

    s.register_node("new", "").unwrap();
    let old = s.balance_tokens("old", &tokens, lease).unwrap();
    assert_eq!(old.draining, tokens, "held while its run goes");
    let new = s.balance_tokens("new", &tokens, lease).unwrap();
    assert!(new.owned.is_empty(), "the newcomer waits: {new:?}");
    // The holder claims nothing new on it meanwhile: its caller claims
    // with `owned`, which no longer lists it.
    assert!(old.owned.is_empty());

    s.finish_run("long", &finished(RunStatus::Succeeded))
        .unwrap();
    assert_eq!(s.run("long").unwrap().unwrap().status, RunStatus::Succeeded);
    let old = s.balance_tokens("old", &tokens, lease).unwrap();
    assert_eq!(old.released, tokens);
    let new = s.balance_tokens("new", &tokens, lease).unwrap();
    assert_eq!(new.taken, tokens);
    assert_eq!(s.leases().unwrap()[0].epoch, 2, "one change of owner");
}

#[test]
fn a_dead_nodes_runs_are_interrupted_never_requeued() {
    let cluster = Cluster::shared();
    let (_url, s) = store(&cluster);
    let lease = Duration::from_millis(500);
    s.register_node("gone", "").unwrap();
    s.register_node("here", "").unwrap();
    s.enqueue_run(&new_run("a", "main"), "{}").unwrap();
    s.enqueue_run(&new_run("b", "main"), "{}").unwrap();
    let short = || easel_store::now_ms() + lease.as_millis() as i64;
    s.claim_run("gone", short(), &Claim::default())
        .unwrap()
        .unwrap();
    s.claim_run("here", short(), &Claim::default())
        .unwrap()
        .unwrap();
    // A run under a live lease stands, whatever this host's /proc says of
    // its owner (another host's pid means nothing here).
    assert!(s.interrupt_runs(None, &|_| false).unwrap().is_empty());
    // The live node renews its run's lease; the dead one cannot.
    let start = std::time::Instant::now();
    while start.elapsed() < lease * 2 {
        std::thread::sleep(lease / 5);
        assert_eq!(
            s.renew_leases("here", &["b".to_string()], short()).unwrap(),
            1
        );
    }
    // Every owner looks alive to this host's /proc: the lease decides.
    let interrupted = s.interrupt_runs(None, &|_| true).unwrap();
    assert_eq!(
        interrupted,
        vec!["a".to_string()],
        "only the dead node's run"
    );
    let a = s.run("a").unwrap().unwrap();
    assert_eq!(a.status, RunStatus::Interrupted);
    s.finish_run("a", &finished(RunStatus::Succeeded)).unwrap();
    assert_eq!(
        s.run("a").unwrap().unwrap().status,
        RunStatus::Interrupted,
        "stays interrupted"
    );
    assert_eq!(s.queued_runs().unwrap(), 0, "never re-queued");
    assert_eq!(s.run("b").unwrap().unwrap().status, RunStatus::Running);
}

#[test]
fn three_nodes_handle_each_fire_time_once() {
    let cluster = Cluster::shared();
    let (url, s) = store(&cluster);
    cluster.psql(
        &url,
        "INSERT INTO schedules (id, plugin_id, schools, all_schools, cron, tz, dry_run, params,
             overlap, misfire, created_at, created_by, handled_until)
         VALUES ('nightly', 'course-report', '[]', true, '0 2 * * *', 'UTC', true, '[]',
             'skip', 'skip', '2026-01-01T00:00:00Z', 'root', '2026-01-01T00:00:00Z')",
    );
    let fires: Vec<String> = (1..=20)
        .map(|d| format!("2026-01-{d:02}T02:00:00Z"))
        .collect();
    let store = Arc::new(s);
    let won: Vec<usize> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..3)
            .map(|n| {
                let (store, fires) = (store.clone(), fires.clone());
                sc.spawn(move || {
                    fires
                        .iter()
                        .filter(|f| {
                            store
                                .claim_fire("nightly", f, "fired", None, &format!("node-{n}"))
                                .unwrap()
                        })
                        .count()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(won.iter().sum::<usize>(), fires.len(), "{won:?}");
    let recorded = store.fire_nodes("nightly").unwrap();
    assert_eq!(recorded.len(), fires.len());
    assert!(recorded.iter().all(|(_, n)| n.is_some()));
}

/// A store call made by a task of another runtime that has spent its
/// cooperative budget (as a request handler does after many ready polls)
/// returns; before the fix it spun for ever, its join handle answering
/// "not yet" to a thread that never gave the budget back.
#[test]
fn a_call_from_a_task_that_spent_its_budget_returns() {
    let cluster = Cluster::shared();
    let (_url, s) = store(&cluster);
    let (done, finished) = std::sync::mpsc::channel();
    // On a thread of its own: if the call spins, this test fails (and the
    // harness ends the process, spinning thread and all).
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let version = rt.block_on(async {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            for _ in 0..1000 {
                tx.send(()).unwrap();
            }
            // Each ready receive spends a unit of the task's budget (128).
            for _ in 0..200 {
                if futures::poll!(std::pin::pin!(rx.recv())).is_pending() {
                    break;
                }
            }
            s.schema_version().unwrap()
        });
        let _ = done.send(version);
    });
    let version = match finished.recv_timeout(Duration::from_secs(60)) {
        Ok(v) => v,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("a store call from a task with no budget left never returned")
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!("the store call failed"),
    };
    assert_eq!(version, PgStore::latest_version());
}

//! Three `easel serve` processes on one PostgreSQL database (a private
//! cluster the harness starts): each joins as a node of its own, says so,
//! shows its node and tokens on /metrics, and every token is held by
//! exactly one of them; `kill -9` of one leaves the others serving, and a
//! node stopped with SIGTERM gives its tokens up. No password in any log.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

use easel_app::database::Database;

fn scrape(url: &str, token: &str) -> String {
    let host = url.strip_prefix("http://").unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    raw.split_once("\r\n\r\n").unwrap().1.to_owned()
}

/// The series `name`'s lines.
fn series<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .collect()
}

#[test]
fn three_serve_processes_share_the_tokens_and_survive_one_killed() {
    let cluster = easel_pgtest::Cluster::shared();
    let plain = cluster.database();
    // A password in the URL (trust auth ignores it): it must show nowhere.
    let url = plain.replace("postgres://easel@", "postgres://easel:hunter2secret@");
    let dir = tempfile::tempdir().unwrap();
    let homes: Vec<_> = (0..3)
        .map(|i| dir.path().join(format!("host{i}")))
        .collect();

    // Host 0 makes the key, an auditor's API token and two Canvas tokens.
    let token = {
        let h = easel_app::Home::open_in(Some(homes[0].clone()), Database::Postgres(url.clone()))
            .unwrap();
        let me = easel_app::process::local_actor();
        let p = h.principals();
        p.add_user(&me, "mon", vec![easel_app::Role::DistrictAdmin])
            .unwrap();
        let issued = p.issue_token(&me, "mon", "metrics", None, None).unwrap();
        h.store
            .add_instance(&easel_store::InstanceRow {
                name: "prod".into(),
                url: "https://canvas.example.edu".into(),
                copy_of: None,
                created_at: "2026-12-04T00:00:00Z".into(),
            })
            .unwrap();
        let vault = h.vault().unwrap();
        for id in ["ta", "tb", "tc", "td"] {
            vault
                .add(
                    id,
                    "prod",
                    &easel_vault::NewSecret::User {
                        token: secrecy::SecretString::from(format!("7~{id}SECRETTOKEN")),
                    },
                    None,
                )
                .unwrap();
        }
        issued.token
    };
    for h in &homes[1..] {
        std::fs::create_dir_all(h).unwrap();
        std::fs::copy(homes[0].join("master.key"), h.join("master.key")).unwrap();
    }

    let mut served: Vec<common::Served> = homes
        .iter()
        .map(|h| common::serve_with(h, &["--database", &url]))
        .collect();
    // Each says it is a node, of its own.
    let start = Instant::now();
    let node_of = |s: &common::Served| -> Option<String> {
        let log = s.log.lock().unwrap().clone();
        log.split("this host is node ")
            .nth(1)
            .map(|r| r.split(',').next().unwrap().to_owned())
    };
    while served.iter().any(|s| node_of(s).is_none()) {
        assert!(start.elapsed() < Duration::from_secs(30), "no node banner");
        std::thread::sleep(Duration::from_millis(100));
    }
    let ids: Vec<String> = served.iter().map(|s| node_of(s).unwrap()).collect();
    assert_eq!(
        ids.iter().collect::<std::collections::BTreeSet<_>>().len(),
        3,
        "{ids:?}"
    );

    // Every token held by exactly one node, as /metrics shows.
    let owned = |served: &[common::Served]| -> Vec<String> {
        served
            .iter()
            .flat_map(|s| {
                series(&scrape(&s.url, &token), "easel_node_token_owned")
                    .into_iter()
                    .map(|l| {
                        l.split("token=\"")
                            .nth(1)
                            .unwrap()
                            .split('"')
                            .next()
                            .unwrap()
                            .to_owned()
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let start = Instant::now();
    let mut held = owned(&served);
    while held.len() != 4 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "tokens never all held: {held:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
        held = owned(&served);
    }
    held.sort();
    assert_eq!(held, ["ta", "tb", "tc", "td"], "each token once");
    for (s, id) in served.iter().zip(&ids) {
        let m = scrape(&s.url, &token);
        assert_eq!(series(&m, "easel_node").len(), 1, "{m}");
        assert!(m.contains(&format!("easel_node{{node=\"{id}\"}} 1")), "{m}");
    }

    // kill -9 one: the others go on serving.
    let mut killed = served.remove(0);
    killed.child.kill().unwrap();
    let _ = killed.child.wait();
    for s in &served {
        assert!(scrape(&s.url, &token).contains("easel_node{"));
    }
    // SIGTERM the next: it leaves, and its tokens are free at once.
    let stopped = served.remove(0);
    let pid = stopped.child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut stopped = stopped;
    let _ = stopped.child.wait();
    let left = cluster.psql(
        &plain,
        "SELECT count(*) FROM nodes WHERE stopped_at IS NOT NULL",
    );
    assert_eq!(
        left.trim(),
        "1",
        "the stopped node left; the killed one did not"
    );
    let free = cluster.psql(
        &plain,
        &format!(
            "SELECT count(*) FROM token_leases WHERE node = '{}' AND lease_until > clock_timestamp()",
            ids[1]
        ),
    );
    assert_eq!(free.trim(), "0", "its leases were given up");

    // No password, nor Canvas token, in any log.
    for s in served.iter().chain([&killed, &stopped]) {
        let log = s.log.lock().unwrap().clone();
        assert!(!log.contains("hunter2secret"), "{log}");
        assert!(!log.contains("SECRETTOKEN"), "{log}");
    }
}

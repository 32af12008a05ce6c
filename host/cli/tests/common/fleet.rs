//! Several `easel serve` processes on one PostgreSQL database (a private
//! cluster) against a simulator in this process: what the many-hosts test
//! and benchmark share. Host 0's data directory makes the master key, an
//! API token, the instance, two Canvas tokens and the grants; the others
//! get the key file only, as an operator would bring it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use easel_app::database::Database;

use super::Served;

/// The Canvas tokens, by their id in easel and their secret.
pub const TOKENS: [(&str, &str); 2] = [
    (
        "ta",
        "7~FLEETTOKENA000000000000000000000000000000000000000000000000000000",
    ),
    (
        "tb",
        "7~FLEETTOKENB000000000000000000000000000000000000000000000000000000",
    ),
];

/// What the simulator holds and how its buckets behave.
pub struct Spec {
    pub schools: usize,
    pub courses_per_school: usize,
    pub throttle: easel_sim::ThrottleConfig,
}

/// The database, the simulator and the data directories (no host
/// serving yet).
pub struct Fleet {
    pub cluster: Arc<easel_pgtest::Cluster>,
    /// The database's URL, no password.
    pub plain: String,
    /// The URL the hosts are given (with a password trust auth ignores,
    /// which must show nowhere).
    pub url: String,
    pub dir: tempfile::TempDir,
    pub homes: Vec<PathBuf>,
    /// A district admin's API token.
    pub api: String,
    pub sim: easel_sim::SimHandle,
    /// The schools, in account order: the first half granted on `ta`, the
    /// rest on `tb`.
    pub schools: Vec<u64>,
    pub rt: tokio::runtime::Runtime,
}

impl Fleet {
    /// Set up `hosts` data directories on a fresh database: the course
    /// report approved for every school (the first half on token `ta`,
    /// the rest on `tb`), the course publisher approved to write in the
    /// first half (on `ta`).
    pub fn new(hosts: usize, spec: Spec) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let sim = rt
            .block_on(easel_sim::Simulator::start(easel_sim::SimConfig {
                preset: easel_sim::Preset::Custom(easel_sim::Sizes {
                    schools: spec.schools,
                    courses_per_school: spec.courses_per_school,
                    students_per_school: 12,
                    teachers_per_school: 3,
                }),
                throttle: spec.throttle,
                ..Default::default()
            }))
            .unwrap();
        for (_, secret) in TOKENS {
            sim.add_token(secret, easel_sim::ADMIN_USER_ID);
        }
        let schools: Vec<u64> = sim.with_data(|d| d.schools().iter().map(|s| s.id).collect());
        let cluster = easel_pgtest::Cluster::shared();
        let plain = cluster.database();
        let url = plain.replace("postgres://easel@", "postgres://easel:fleet2secret@");
        let dir = tempfile::tempdir().unwrap();
        let homes: Vec<PathBuf> = (0..hosts)
            .map(|i| dir.path().join(format!("host{i}")))
            .collect();

        let h = easel_app::Home::open_in(Some(homes[0].clone()), Database::Postgres(url.clone()))
            .unwrap();
        let me = easel_app::process::local_actor();
        let p = h.principals();
        p.add_user(&me, "ops", vec![easel_app::Role::DistrictAdmin])
            .unwrap();
        let api = p
            .issue_token(&me, "ops", "fleet", None, None)
            .unwrap()
            .token;
        easel_tests::prod_with_tokens(&h, sim.url(), &TOKENS);
        let contributor = easel_app::Actor {
            name: "school-it".into(),
            roles: vec![easel_app::Role::DistrictAdmin],
            via: easel_app::SignIn::Local("fleet".into()),
        };
        for plugin in [
            &easel_bundled::COURSE_REPORT,
            &easel_bundled::COURSE_PUBLISHER,
        ] {
            easel_app::add(&h, &contributor, plugin.wasm, plugin.manifest, plugin.name).unwrap();
        }
        let half = schools.len() / 2;
        let on = easel_tests::on_prod;
        for (part, token) in [(&schools[..half], "ta"), (&schools[half..], "tb")] {
            easel_app::approve_on(&h, "course-report", part, false, &me, &on(token)).unwrap();
        }
        easel_app::approve_on(
            &h,
            "course-publisher",
            &schools[..half],
            true,
            &me,
            &on("ta"),
        )
        .unwrap();
        drop(h);
        for home in &homes[1..] {
            std::fs::create_dir_all(home).unwrap();
            std::fs::copy(homes[0].join("master.key"), home.join("master.key")).unwrap();
        }
        Self {
            cluster,
            plain,
            url,
            dir,
            homes,
            api,
            sim,
            schools,
            rt,
        }
    }

    /// `easel serve` on host `i` with these options.
    pub fn serve(&self, i: usize, options: &[&str]) -> Served {
        let mut args = vec!["--database", self.url.as_str()];
        args.extend_from_slice(options);
        super::serve_with(&self.homes[i], &args)
    }

    /// `sql`'s output, one line per row.
    pub fn sql(&self, sql: &str) -> Vec<String> {
        self.cluster
            .psql(&self.plain, sql)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The live node holding each token's lease: `(token, node)`.
    pub fn holders(&self) -> Vec<(String, String)> {
        self.sql(
            "SELECT l.token_id || '|' || l.node FROM token_leases l JOIN nodes n ON n.id = l.node \
             WHERE l.lease_until > clock_timestamp() AND n.stopped_at IS NULL ORDER BY l.token_id",
        )
        .iter()
        .map(|l| {
            let (t, n) = l.split_once('|').unwrap();
            (t.to_owned(), n.to_owned())
        })
        .collect()
    }

    /// Wait until each token is held by the node rendezvous hashing over
    /// `nodes` gives it; the holders.
    pub fn settled(&self, nodes: &[String], within: Duration) -> Vec<(String, String)> {
        let expected: Vec<(String, String)> = TOKENS
            .iter()
            .map(|(t, _)| {
                let owner = easel_store_pg::rendezvous_owner(nodes, t).unwrap();
                (t.to_string(), owner.to_owned())
            })
            .collect();
        let start = Instant::now();
        loop {
            let now = self.holders();
            if now == expected {
                return now;
            }
            assert!(
                start.elapsed() < within,
                "the tokens never settled: {now:?}, expected {expected:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// POST a detached batch of `plugin` for `schools` to `served`; the
    /// queued runs' ids.
    pub fn batch(
        &self,
        served: &Served,
        plugin: &str,
        schools: &[u64],
        params: serde_json::Value,
    ) -> Vec<String> {
        let body = serde_json::json!({
            "plugin": plugin,
            "schools": schools,
            "params": params,
            "detach": true,
        });
        let (status, answer) = http(&served.url, "POST", "/api/v1/runs", &self.api, &body);
        assert!(status < 300, "{status}: {answer}");
        let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
        answer["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                assert_eq!(r["status"], "queued", "{r}");
                r["run"].as_str().unwrap().to_owned()
            })
            .collect()
    }

    /// The runs, as the database has them.
    pub fn runs(&self) -> Vec<Run> {
        self.sql(
            "SELECT id || '|' || plugin_id || '|' || school || '|' || status || '|' || \
             COALESCE(owner, '') || '|' || COALESCE(token, '') || '|' || calls || '|' || \
             COALESCE(duration_ms, -1) || '|' || COALESCE(writes, -1) || '|' || unknown || '|' || \
             started_at || '|' || COALESCE(finished_at, '') FROM runs ORDER BY seq",
        )
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            Run {
                id: f[0].into(),
                plugin: f[1].into(),
                school: f[2].parse().unwrap(),
                status: f[3].into(),
                owner: f[4].into(),
                token: f[5].into(),
                calls: f[6].parse().unwrap(),
                duration_ms: f[7].parse().unwrap(),
                writes: f[8].parse().unwrap(),
                unknown: serde_json::from_str::<Vec<serde_json::Value>>(f[9])
                    .unwrap()
                    .len(),
                started_at: f[10].into(),
                finished_at: f[11].into(),
            }
        })
        .collect()
    }

    /// Wait until none of `ids` is queued or running; the runs.
    pub fn ended(&self, ids: &[String], within: Duration) -> Vec<Run> {
        let start = Instant::now();
        loop {
            let runs: Vec<Run> = self
                .runs()
                .into_iter()
                .filter(|r| ids.contains(&r.id))
                .collect();
            let open = runs
                .iter()
                .filter(|r| r.status == "queued" || r.status == "running")
                .count();
            if runs.len() == ids.len() && open == 0 {
                return runs;
            }
            assert!(
                start.elapsed() < within,
                "{open} of {} runs still open after {within:?}",
                ids.len()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// One run's row.
#[derive(Debug, Clone)]
pub struct Run {
    pub id: String,
    pub plugin: String,
    pub school: u64,
    pub status: String,
    /// The process (node) that ran it.
    pub owner: String,
    pub token: String,
    pub calls: u64,
    pub duration_ms: i64,
    /// For an interrupted run, writes answered (from the audit log).
    pub writes: i64,
    /// For an interrupted run, writes of unknown outcome.
    pub unknown: usize,
    pub started_at: String,
    pub finished_at: String,
}

impl Run {
    /// Canvas calls a second while it ran.
    pub fn throughput(&self) -> f64 {
        self.calls as f64 / (self.duration_ms.max(1) as f64 / 1000.0)
    }
}

/// Jain's fairness index of `xs` (1: all equal).
pub fn jain(xs: &[f64]) -> f64 {
    let sum: f64 = xs.iter().sum();
    let squares: f64 = xs.iter().map(|x| x * x).sum();
    sum * sum / (xs.len() as f64 * squares)
}

/// Jain's index of how fairly `runs` (on one token) shared it: each run's
/// throughput against the mean of the runs that ran at the same time as
/// it (itself included). Fairness is among runs sharing the token at once:
/// a run that went while the token's bucket was still empty, or while the machine
/// had less else to do, is not favoured over runs that came later, and
/// one held back while its contemporaries went is unfairly treated.
pub fn jain_among_contemporaries(runs: &[&Run]) -> f64 {
    jain(&relative_to_contemporaries(runs))
}

/// Each run's throughput against the mean of the runs that ran at the
/// same time as it, itself included (1: as fast as the runs beside it).
pub fn relative_to_contemporaries(runs: &[&Run]) -> Vec<f64> {
    let span = |r: &Run| {
        let at = |s: &str| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|e| panic!("{s}: {e}"))
        };
        (at(&r.started_at), at(&r.finished_at))
    };
    let spans: Vec<_> = runs.iter().map(|r| span(r)).collect();
    runs.iter()
        .zip(&spans)
        .map(|(r, (start, end))| {
            let along: Vec<f64> = runs
                .iter()
                .zip(&spans)
                .filter(|(_, (s, e))| s < end && start < e)
                .map(|(o, _)| o.throughput())
                .collect();
            r.throughput() / (along.iter().sum::<f64>() / along.len() as f64)
        })
        .collect()
}

/// A plain HTTP/1.1 request with a bearer token and a JSON body; the
/// status and the body.
pub fn http(
    base: &str,
    method: &str,
    path: &str,
    token: &str,
    body: &serde_json::Value,
) -> (u16, String) {
    let host = base.strip_prefix("http://").unwrap();
    let body = body.to_string();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, rest) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, rest.to_owned())
}

/// The node `served` says it is, once it has said so.
pub fn node_of(served: &Served) -> Option<String> {
    let log = served.log.lock().unwrap().clone();
    log.split("this host is node ")
        .nth(1)
        .map(|r| r.split(',').next().unwrap().to_owned())
}

/// Wait for each of `served` to say which node it is; their node ids.
pub fn nodes(served: &[Served]) -> Vec<String> {
    let start = Instant::now();
    while served.iter().any(|s| node_of(s).is_none()) {
        assert!(start.elapsed() < Duration::from_secs(30), "no node banner");
        std::thread::sleep(Duration::from_millis(100));
    }
    served.iter().map(|s| node_of(s).unwrap()).collect()
}

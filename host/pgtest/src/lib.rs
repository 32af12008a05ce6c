//! A private PostgreSQL cluster for tests and benchmarks: Debian's
//! `postgresql` (installed with apt when missing, as the console tests
//! install Chromium), a cluster made with `initdb` in a temporary
//! directory, started with `pg_ctl` on a free loopback port and stopped
//! (its files removed) when the [`Cluster`] is dropped.
//!
//! PostgreSQL refuses to run as root. As root, the cluster belongs to the
//! `postgres` user the Debian package creates; otherwise to whoever runs
//! the tests.
//!
//! Each test takes a database of its own ([`Cluster::database`]) so tests
//! share one cluster per test binary without seeing each other's rows.

#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// Where Debian puts the server's programs: `/usr/lib/postgresql/<major>/bin`.
fn bin_dir() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((major, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    // `id -u` rather than libc: the workspace denies unsafe code.
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Debian's PostgreSQL server, installed if missing; its `bin` directory.
pub fn install() -> PathBuf {
    if let Some(bin) = bin_dir() {
        return bin;
    }
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !apt(&["install", "-y", "-qq", "postgresql"]) {
        apt(&["update", "-qq"]);
        apt(&["install", "-y", "-qq", "postgresql"]);
    }
    bin_dir().expect(
        "the PostgreSQL tests need Debian's postgresql (apt-get install postgresql) \
         and could not install it",
    )
}

/// How the cluster trades durability for speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// PostgreSQL's defaults (fsync on), for benchmarks.
    Default,
    /// No fsync: a test's data need not survive a power cut.
    Tests,
}

/// A running private cluster; stopped and removed when dropped.
pub struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// Run the server's programs as this user (`None`: as ourselves).
    user: Option<String>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free loopback port")
        .local_addr()
        .expect("its address")
        .port()
}

impl Cluster {
    /// Install (if needed), make and start a cluster.
    pub fn start(durability: Durability) -> Cluster {
        let bin = install();
        let user = is_root().then(|| "postgres".to_string());
        let dir = tempfile::Builder::new()
            .prefix("easel-pg-")
            .tempdir()
            .expect("a temporary directory");
        // The server's user must own its directory and reach it.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod the cluster's directory");
        if let Some(u) = &user {
            run_ok(Command::new("chown").arg(u).arg(dir.path()));
        }
        let port = free_port();
        let cluster = Cluster {
            bin,
            dir,
            port,
            user,
        };
        let data = cluster.data();
        run_ok(
            cluster
                .command("initdb")
                .args([
                    "--auth=trust",
                    "--username=easel",
                    "--encoding=UTF8",
                    "--no-instructions",
                    "-D",
                ])
                .arg(&data),
        );
        let mut opts = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c max_connections=200",
            cluster.dir.path().display()
        );
        if durability == Durability::Tests {
            opts.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        }
        run_ok(
            cluster
                .command("pg_ctl")
                .arg("-D")
                .arg(&data)
                .args(["-l"])
                .arg(cluster.dir.path().join("server.log"))
                .args(["-w", "-t", "60", "-o", &opts, "start"]),
        );
        cluster
    }

    /// One cluster per test binary, stopped when the last test using it
    /// drops its handle.
    pub fn shared() -> Arc<Cluster> {
        static SHARED: OnceLock<Mutex<Weak<Cluster>>> = OnceLock::new();
        let slot = SHARED.get_or_init(|| Mutex::new(Weak::new()));
        let mut held = slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = held.upgrade() {
            return c;
        }
        let c = Arc::new(Cluster::start(Durability::Tests));
        *held = Arc::downgrade(&c);
        c
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match &self.user {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--"]).arg(path);
                c
            }
            None => Command::new(path),
        }
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://easel@127.0.0.1:{}/{name}", self.port)
    }

    /// A new empty database; its URL.
    pub fn database(&self) -> String {
        // Numbered across the process, not the cluster: a cluster started
        // again later must not hand out a name (and URL) seen before.
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("t{}_{n}", std::process::id());
        run_ok(
            self.command("createdb")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "easel",
                ])
                .arg(&name),
        );
        self.url(&name)
    }

    /// Run SQL with `psql` in database `name` (for tests that tamper).
    pub fn psql(&self, url: &str, sql: &str) -> String {
        let out = run_ok(
            Command::new(Path::new("/usr/bin/psql"))
                .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1"])
                .arg(url)
                .args(["-c", sql]),
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Everything in the database at `url`, as `pg_dump` writes it (for
    /// tests that scan it for secrets).
    pub fn dump(&self, url: &str) -> String {
        let out = run_ok(
            Command::new(self.bin.join("pg_dump"))
                .args(["--no-owner", "--data-only", "--inserts"])
                .arg(url),
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The server's log so far (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

//! Shared helpers for easel's end-to-end tests: the built test plugins, a
//! simulator with a known token, a data directory per test, canvasapi's
//! recorded Canvas responses and a stand-in Canvas that serves them.

use std::path::Path;

use easel_app::{Connection, Home};
use easel_canvas::Token;
use easel_sim::{SimConfig, SimHandle, Simulator};
use secrecy::SecretString;

pub mod fixtures;
pub mod standin;

/// Paths of every component the build produced, one constant each.
pub mod programs {
    include!(concat!(env!("OUT_DIR"), "/programs.rs"));
}

/// A unique, recognisable token for canary tests.
pub fn canary_token() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    let body: String = (0..40)
        .map(|_| {
            const A: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
            A[rng.random_range(0..A.len())] as char
        })
        .collect();
    format!("7~CANARY{body}")
}

/// A running simulator with `token` as its admin token.
pub async fn sim_with_token(token: &str) -> SimHandle {
    Simulator::start(SimConfig {
        admin_token: Some(token.to_owned()),
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

/// A connection to `sim` with `token`.
pub fn connect(sim: SimHandle, token: &str) -> Connection {
    Connection::to_sim(sim, Token::new(SecretString::from(token.to_owned())))
        .expect("client builds")
}

/// Someone acting in a test: `name`, a district admin, signed in locally.
/// Tests that check roles build their own [`easel_app::Actor`].
pub fn person(name: &str) -> easel_app::Actor {
    easel_app::Actor {
        name: name.to_owned(),
        roles: vec![easel_app::Role::DistrictAdmin],
        via: easel_app::SignIn::Local("test".into()),
    }
}

/// Instance `prod` at `url` in `h`, with each `(id, secret)` of `tokens`
/// stored in the vault as a user's token on it: the set-up of the tests
/// that spread grants over several tokens.
pub fn prod_with_tokens(h: &Home, url: &str, tokens: &[(&str, &str)]) {
    h.store
        .add_instance(&easel_store::InstanceRow {
            name: "prod".into(),
            url: url.into(),
            copy_of: None,
            created_at: "2026-12-04T00:00:00Z".into(),
        })
        .expect("instance prod is added");
    let vault = h.vault().expect("vault opens");
    for (id, secret) in tokens {
        let secret = easel_vault::NewSecret::User {
            token: SecretString::from((*secret).to_owned()),
        };
        vault
            .add(id, "prod", &secret, None)
            .expect("token is stored");
    }
}

/// Where a grant's runs go: token `id` on instance `prod`.
pub fn on_prod(id: &str) -> easel_app::Target {
    easel_app::Target {
        instance: Some("prod".into()),
        token_id: Some(id.into()),
    }
}

/// A data directory in `dir`, with the shared compile cache linked in so
/// each test does not recompile every plugin.
pub fn home(dir: &Path) -> Home {
    home_in(dir, &easel_app::database::Database::Sqlite)
}

/// [`home`] with its state in `database` (PostgreSQL, for many hosts).
pub fn home_in(dir: &Path, database: &easel_app::database::Database) -> Home {
    Home::open_in(Some(dir.to_path_buf()), database.clone())
        .expect("home opens")
        .with_cache_dir(Path::new(env!("OUT_DIR")).join("compile-cache"))
}

/// The store matrix. A test file that touches storage is compiled twice
/// (tests/Cargo.toml): as its own target, on SQLite, and as
/// `<name>_on_postgres`, on PostgreSQL (a database of the private cluster
/// per data directory: a test that opens one directory twice finds the
/// same state). The file calls [`matrix!`], whose `home` and `workers` ask
/// this with the target's name.
pub fn matrix_database(target: &str, dir: &Path) -> easel_app::database::Database {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};
    if !target.ends_with("_on_postgres") {
        return easel_app::database::Database::Sqlite;
    }
    static DATABASES: Mutex<BTreeMap<std::path::PathBuf, String>> = Mutex::new(BTreeMap::new());
    thread_local! {
        // Keeps the cluster up while this test's thread runs (it stops
        // when the last thread holding it ends).
        static CLUSTER: std::cell::RefCell<Option<Arc<easel_pgtest::Cluster>>> =
            const { std::cell::RefCell::new(None) };
    }
    let cluster = CLUSTER.with(|c| {
        c.borrow_mut()
            .get_or_insert_with(easel_pgtest::Cluster::shared)
            .clone()
    });
    let mut databases = DATABASES.lock().unwrap_or_else(|p| p.into_inner());
    let url = databases
        .entry(dir.to_path_buf())
        .or_insert_with(|| cluster.database())
        .clone();
    easel_app::database::Database::Postgres(url)
}

/// On PostgreSQL, a plain dump of `dir`'s database (what a backup of it
/// holds); `None` on SQLite, whose files are in `dir`.
pub fn matrix_dump(target: &str, dir: &Path) -> Option<String> {
    match matrix_database(target, dir) {
        easel_app::database::Database::Sqlite => None,
        easel_app::database::Database::Postgres(url) => {
            Some(easel_pgtest::Cluster::shared().dump(&url))
        }
    }
}

/// `home(dir)`, `workers(dir)` and `database_dump(dir)` on the calling
/// test target's store (see [`matrix_database`]).
#[macro_export]
macro_rules! matrix {
    () => {
        /// The data directory `dir`, on this target's store.
        fn home(dir: &std::path::Path) -> easel_app::Home {
            $crate::home_in(dir, &$crate::matrix_database(env!("CARGO_CRATE_NAME"), dir))
        }

        /// The queue's workers over `dir`, on this target's store.
        #[allow(dead_code)]
        fn workers(
            dir: &std::path::Path,
        ) -> (std::sync::Arc<$crate::Workers>, $crate::WorkersHandle) {
            $crate::Workers::start_in(dir, &$crate::matrix_database(env!("CARGO_CRATE_NAME"), dir))
        }

        /// On PostgreSQL, a plain dump of `dir`'s database.
        #[allow(dead_code)]
        fn database_dump(dir: &std::path::Path) -> Option<String> {
            $crate::matrix_dump(env!("CARGO_CRATE_NAME"), dir)
        }

        /// Whether this target runs on PostgreSQL.
        #[allow(dead_code)]
        fn on_postgres() -> bool {
            env!("CARGO_CRATE_NAME").ends_with("_on_postgres")
        }
    };
}

/// A manifest for a test plugin.
pub fn test_manifest(id: &str, write: bool) -> String {
    format!(
        r#"id = "{id}"
version = "0.0.1"
author = "easel tests"
description = "test plugin {id}"

[capabilities]
read = true
write = {write}
max_calls = 50

[params.get]
type = "string"
[params.list]
type = "string"
[params.per_page]
type = "string"
[params.put]
type = "string"
[params.post]
type = "string"
[params.post_body]
type = "string"
[params.query]
type = "string"
[params.raw_method]
type = "string"
[params.raw_path]
type = "string"
[params.raw_body]
type = "string"
[params.then_get]
type = "string"
[params.get_after_list]
type = "string"
[params.list_key]
type = "string"
[params.attack]
type = "string"
[params.fail]
type = "boolean"
default = false
[params.panic]
type = "boolean"
default = false
[params.n]
type = "integer"
[params.path]
type = "string"
"#
    )
}

/// Add a built test component with a test manifest and approve it for
/// `school`.
pub fn add_and_approve(home: &Home, wasm_path: &str, id: &str, school: u64, write: bool) {
    let bytes = std::fs::read(wasm_path).expect("test plugin was built");
    easel_app::add(
        home,
        &crate::person("contributor"),
        &bytes,
        &test_manifest(id, write),
        id,
    )
    .expect("plugin adds");
    easel_app::approve(home, id, &[school], write, &crate::person("admin"))
        .expect("plugin approves");
}

/// Add and approve a first-party plugin.
pub fn add_bundled(home: &Home, plugin: &easel_bundled::Plugin, school: u64, write: bool) {
    easel_app::add(
        home,
        &crate::person("contributor"),
        plugin.wasm,
        plugin.manifest,
        plugin.name,
    )
    .expect("plugin adds");
    let id = easel_policy::Manifest::parse(plugin.manifest)
        .expect("manifest parses")
        .id;
    easel_app::approve(home, &id, &[school], write, &crate::person("admin"))
        .expect("plugin approves");
}

/// Read a file as bytes, for canary scans.
pub fn read_all_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                out.push((p.display().to_string(), bytes));
            }
        }
    }
    out
}

/// Does `haystack` contain `needle`?
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// A `tracing` writer that keeps everything logged, for canary scans.
#[derive(Clone, Default)]
pub struct Captured(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Install a global subscriber at trace level (minus the compiler's
    /// chatter) writing here; returns the capture.
    pub fn install() -> Self {
        let captured = Captured::default();
        let sink = captured.clone();
        tracing_subscriber::fmt()
            .with_env_filter("trace,cranelift_codegen=warn,cranelift_frontend=warn,regalloc2=warn,wasmtime_cranelift=warn,wasmtime_environ=warn,wasmtime=debug")
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .init();
        captured
    }

    /// Everything captured so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Run an `easel` command line against data directory `home`, through the
/// binary's own entry point; returns the exit code it would have.
pub async fn easel(
    home: &Path,
    args: &[&str],
) -> (u8, Result<easel_cli::Outcome, easel_cli::CliError>) {
    use clap::Parser as _;
    // --local: never through a server the machine may be signed in to.
    let mut argv = vec!["easel", "--local", "--home", home.to_str().unwrap()];
    // `--by NAME`: act as that person (a district admin), as a signed-in
    // principal would; the command line itself has no such flag.
    let mut by = None;
    let mut rest = args.iter();
    while let Some(a) = rest.next() {
        if *a == "--by" {
            by = rest.next().copied();
        } else {
            argv.push(a);
        }
    }
    let args = easel_cli::Args::try_parse_from(argv).unwrap();
    let result = match by {
        Some(name) => easel_cli::dispatch_as(args, person(name)).await,
        None => easel_cli::dispatch(args).await,
    };
    let code = match &result {
        Ok(easel_cli::Outcome::Success) => 0,
        Ok(easel_cli::Outcome::RunFailed) => 1,
        Err(e) => e.exit_code(),
    };
    (code, result)
}

/// A many-school batch through the application layer, as `easel run
/// --schools/--all-schools` makes it, on the grants' own connection.
pub async fn batch(
    home: &Home,
    by: &easel_app::Actor,
    req: easel_app::BatchRequest,
) -> Result<easel_app::BatchResult, easel_app::AppError> {
    let schools = easel_app::batch_schools(home, by, &req)?;
    let conn = easel_app::connection_for_grant(
        home,
        &req.plugin,
        schools[0],
        &easel_app::ConnectOptions::default(),
    )
    .await?;
    let runtime = home.runtime_for(req.concurrency.clamp(1, 64) as u32)?;
    easel_app::run_batch(home, by, &conn, &runtime, &req, &schools, &easel_app::Quiet).await
}

/// Run `plugin` for `school` through the application layer as `by`, on its
/// grant's own connection (`plan`: after that reviewed dry run).
pub async fn run_as(
    home: &Home,
    by: &easel_app::Actor,
    plugin: &str,
    school: u64,
    dry_run: bool,
    params: &[(&str, &str)],
) -> Result<easel_app::RunResult, easel_app::AppError> {
    let conn = easel_app::connection_for_grant(
        home,
        plugin,
        school,
        &easel_app::ConnectOptions::default(),
    )
    .await?;
    let runtime = home.runtime()?;
    let req = easel_app::RunRequest {
        plugin: plugin.to_owned(),
        school,
        dry_run,
        params: params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        limits: easel_runtime::Limits::default(),
        plan: None,
    };
    easel_app::execute_run_as(home, by, &conn, &runtime, req).await
}

/// A batch request for `plugin` with the command line's defaults.
pub fn batch_request(plugin: &str) -> easel_app::BatchRequest {
    easel_app::BatchRequest {
        plugin: plugin.to_owned(),
        schools: Vec::new(),
        all_schools: false,
        dry_run: false,
        params: Vec::new(),
        max_writes: None,
        concurrency: 8,
    }
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The queue's workers in this process, over the data directory `dir`
/// (what `easel serve` runs): runs queued there are claimed and run here.
pub struct Workers {
    dir: std::path::PathBuf,
    database: easel_app::database::Database,
    node: Option<std::sync::Arc<easel_app::nodes::Node>>,
    connections: easel_app::Connections,
    runtime: easel_runtime::Runtime,
    queue: easel_app::queue::Queue,
}

impl easel_app::queue::QueueHost for Workers {
    fn open_home(&self) -> Result<Home, easel_app::AppError> {
        Ok(home_in(&self.dir, &self.database))
    }
    fn connections(&self) -> &easel_app::Connections {
        &self.connections
    }
    fn runtime(&self) -> &easel_runtime::Runtime {
        &self.runtime
    }
    fn queue(&self) -> &easel_app::queue::Queue {
        &self.queue
    }
    fn node(&self) -> Option<&std::sync::Arc<easel_app::nodes::Node>> {
        self.node.as_ref()
    }
}

impl Workers {
    /// Start workers over `dir`; they stop when the handle is dropped.
    pub fn start(dir: &Path) -> (std::sync::Arc<Workers>, WorkersHandle) {
        Self::start_in(dir, &easel_app::database::Database::Sqlite)
    }

    /// Start workers over `dir` with its state in `database`.
    pub fn start_in(
        dir: &Path,
        database: &easel_app::database::Database,
    ) -> (std::sync::Arc<Workers>, WorkersHandle) {
        Self::start_with(dir, database, easel_app::queue::QueueConfig::default())
    }

    /// Start workers over `dir` with its state in `database` and the
    /// queue's settings `config` (on PostgreSQL, joined as a node).
    pub fn start_with(
        dir: &Path,
        database: &easel_app::database::Database,
        config: easel_app::queue::QueueConfig,
    ) -> (std::sync::Arc<Workers>, WorkersHandle) {
        // Nodes in one process need names of their own (after the host,
        // so this process's liveness check leaves them to their leases).
        static NODES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let queue = match database {
            easel_app::database::Database::Sqlite => easel_app::queue::Queue::new(config),
            easel_app::database::Database::Postgres(_) => easel_app::queue::Queue::with_owner(
                config,
                format!(
                    "{}/node-{}",
                    easel_app::process::me(),
                    NODES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                ),
            ),
        };
        let node = easel_app::nodes::join_if_shared(database, &queue, "").expect("node joins");
        let w = std::sync::Arc::new(Workers {
            dir: dir.to_path_buf(),
            node,
            database: database.clone(),
            connections: easel_app::Connections::new(),
            runtime: home_in(dir, database).runtime_for(16).expect("runtime"),
            queue,
        });
        let task = easel_app::queue::spawn_workers(w.clone());
        (w, WorkersHandle(task))
    }

    /// Stop claiming, and wait for a claim under way to end: a test that
    /// drops the workers after this leaves no run claimed by them.
    pub async fn stop_claiming(&self) {
        self.queue.stop_claiming();
        self.queue
            .claims_stopped(std::time::Duration::from_secs(30))
            .await;
    }

    /// Their connections.
    pub fn connections(&self) -> &easel_app::Connections {
        &self.connections
    }

    /// Their queue.
    pub fn queue(&self) -> &easel_app::queue::Queue {
        &self.queue
    }
}

/// Stops the workers when dropped.
pub struct WorkersHandle(tokio::task::JoinHandle<()>);

impl Drop for WorkersHandle {
    fn drop(&mut self) {
        self.0.abort();
    }
}

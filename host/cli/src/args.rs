//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// easel runs your schools' Canvas automation as sandboxed plugins, holding
/// the institution's Canvas token so no plugin ever sees it.
#[derive(Debug, Parser)]
#[command(name = "easel", version, about, long_about = None)]
pub struct Args {
    /// Data directory (default: $EASEL_HOME, else ~/.local/share/easel).
    #[arg(long, global = true, env = "EASEL_HOME")]
    pub home: Option<PathBuf>,
    /// More logging on stderr (-v, -vv). Tokens are never logged.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Work on the local data directory even when `easel login` (or
    /// EASEL_SERVER) names a server.
    #[arg(long, global = true)]
    pub local: bool,
    /// Which Canvas to talk to (default: the embedded simulator).
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Args {
    /// Did the command ask for machine-readable output (`--json`)? Its
    /// errors are then JSON too.
    pub fn wants_json(&self) -> bool {
        match &self.command {
            Command::Run(r) => r.json,
            Command::Runs { json, command, .. } => {
                *json
                    || matches!(
                        command,
                        Some(
                            RunsCommand::Show { json: true, .. }
                                | RunsCommand::Export { json: true, .. }
                                | RunsCommand::Report { json: true, .. }
                        )
                    )
            }
            Command::Schools { json, command } => {
                *json || matches!(command, Some(SchoolsCommand::SisPrefix { json: true, .. }))
            }
            Command::Plan {
                command: PlanCommand::Apply { json, .. },
            } => *json,
            Command::Plugin { command } => matches!(
                command,
                PluginCommand::List { json: true }
                    | PluginCommand::Check { json: true, .. }
                    | PluginCommand::Inspect { json: true, .. }
                    | PluginCommand::Add { json: true, .. }
                    | PluginCommand::Approve { json: true, .. }
                    | PluginCommand::Revoke { json: true, .. }
                    | PluginCommand::Deny { json: true, .. }
                    | PluginCommand::Build { json: true, .. }
                    | PluginCommand::New { json: true, .. }
                    | PluginCommand::Test { json: true, .. }
            ),
            Command::Config { command } => matches!(
                command,
                ConfigCommand::Show { json: true } | ConfigCommand::Set { json: true, .. }
            ),
            Command::Audit { command } => matches!(
                command,
                AuditCommand::Verify { json: true, .. }
                    | AuditCommand::Checkpoint { json: true }
                    | AuditCommand::Tail { json: true, .. }
            ),
            Command::Instance { command } => matches!(
                command,
                InstanceCommand::List { json: true }
                    | InstanceCommand::Add { json: true, .. }
                    | InstanceCommand::Remove { json: true, .. }
                    | InstanceCommand::SignIn { json: true, .. }
            ),
            Command::Token { command } => matches!(
                command,
                TokenCommand::List { json: true }
                    | TokenCommand::Add { json: true, .. }
                    | TokenCommand::Check { json: true, .. }
                    | TokenCommand::Rotate { json: true, .. }
                    | TokenCommand::Remove { json: true, .. }
            ),
            Command::User { command } => matches!(
                command,
                UserCommand::List { json: true }
                    | UserCommand::Add { json: true, .. }
                    | UserCommand::Password { json: true, .. }
                    | UserCommand::Token { json: true, .. }
                    | UserCommand::RevokeToken { json: true, .. }
            ),
            Command::Vault { command } => matches!(
                command,
                VaultCommand::Rekey { json: true } | VaultCommand::Reset { json: true, .. }
            ),
            Command::Login { json, .. }
            | Command::Logout { json }
            | Command::Backup { json, .. } => *json,
            Command::Db { command } => match command {
                DbCommand::Migrate { json, .. } | DbCommand::Copy { json, .. } => *json,
            },
            Command::Schedule { command } => matches!(
                command,
                ScheduleCommand::Add { json: true, .. }
                    | ScheduleCommand::List { json: true }
                    | ScheduleCommand::Show { json: true, .. }
                    | ScheduleCommand::Pause { json: true, .. }
                    | ScheduleCommand::Resume { json: true, .. }
                    | ScheduleCommand::Remove { json: true, .. }
            ),
            _ => false,
        }
    }
}

impl Command {
    /// Does this command choose a Canvas with `--instance`, and a token
    /// with `--token`? Elsewhere they would be ignored, so they are refused.
    pub fn uses_connect(&self) -> (bool, bool) {
        match self {
            Command::Run(_)
            | Command::Plan { .. }
            | Command::Schools { .. }
            | Command::Plugin {
                command: PluginCommand::Approve { .. },
            } => (true, true),
            Command::Token {
                command: TokenCommand::Add { .. },
            }
            | Command::Login { canvas: true, .. } => (true, false),
            _ => (false, false),
        }
    }
}

/// The commands `--instance` applies to, for messages.
pub const INSTANCE_COMMANDS: &str =
    "run, plan apply, schools, plugin approve, token add and login --canvas";

/// The commands `--token` applies to, for messages.
pub const TOKEN_COMMANDS: &str = "run, plan apply, schools and plugin approve";

/// A school's account id, with a message that says what to give.
fn school_id(s: &str) -> Result<u64, String> {
    s.trim().parse::<u64>().map_err(|_| {
        format!("a school is its numeric Canvas account id (not {s:?}); `easel schools` lists them")
    })
}

/// easel's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Add, list, inspect and approve plugins.
    Plugin {
        /// What to do with plugins.
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Run an approved plugin for one school, several, or all of them.
    Run(RunArgs),
    /// Print a shell completion script, e.g. `easel completions bash >
    /// /etc/bash_completion.d/easel`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `easel man > easel.1`.
    Man,
    /// People and scripts who use easel, and their roles: district-admin
    /// (everything), approver (approve, revoke, run, read all but secrets),
    /// contributor (bound to schools: submit, dry-run and read those
    /// schools' runs) and auditor (read runs and the audit log). Local
    /// commands act as the OS user, who holds the data directory and the
    /// master key and may do anything.
    User {
        /// What to do with users.
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Reviewed plans: apply a dry run's planned writes exactly.
    Plan {
        /// What to do with a plan.
        #[command(subcommand)]
        command: PlanCommand,
    },
    /// List past runs, or show one.
    Runs {
        /// Show one run.
        #[command(subcommand)]
        command: Option<RunsCommand>,
        /// How many runs to list.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Only this plugin's runs.
        #[arg(long)]
        plugin: Option<String>,
        /// Only this school's runs.
        #[arg(long, value_parser = school_id)]
        school: Option<u64>,
        /// Only runs in this state.
        #[arg(long, value_parser = ["queued", "running", "succeeded", "failed", "timed-out", "memory-limit", "refused", "interrupted"])]
        status: Option<String>,
        /// Only runs started at or after this time (RFC 3339, or a date
        /// such as 2026-12-01).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Only the runs of one many-school command (its batch id).
        #[arg(long, value_name = "BATCH")]
        batch: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Serve easel's JSON API (`/api/v1`) for clients on other machines:
    /// `easel login --server URL` there, then submit, approve, run and read
    /// runs through it. Runs execute here, sharing each token's governor.
    Serve {
        /// Address to listen on. Without TLS, only a loopback address is
        /// allowed unless --insecure-listen is given.
        #[arg(long, default_value = "127.0.0.1:7070", value_name = "ADDR")]
        listen: String,
        /// Keep easel's state in this PostgreSQL database, shared with
        /// the other hosts serving it (docs/DEPLOY.md), instead of the
        /// data directory's SQLite: postgres://user[:password]@host[:port]/database.
        /// Each host still needs the master key file.
        #[arg(
            long,
            value_name = "URL",
            env = "EASEL_DATABASE_URL",
            hide_env_values = true
        )]
        database: Option<String>,
        /// Listen on a non-loopback address without TLS (put a TLS proxy in
        /// front: tokens and passwords cross the network).
        #[arg(long)]
        insecure_listen: bool,
        /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
        #[arg(long, value_name = "PEM", requires = "tls_key")]
        tls_cert: Option<std::path::PathBuf>,
        /// The certificate's private key (PEM).
        #[arg(long, value_name = "PEM", requires = "tls_cert")]
        tls_key: Option<std::path::PathBuf>,
        /// The URL people reach this server at, when not the listen
        /// address (a proxy in front, a DNS name). Sign in with Canvas
        /// sends people back to <URL>/auth/canvas/callback: register that
        /// as the developer key's redirect URI.
        #[arg(long, value_name = "URL")]
        public_url: Option<String>,
        /// Runs at once, in all. Runs asked of the server wait in its
        /// queue (kept in the database) until a worker has room.
        #[arg(long, default_value_t = 16, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
        workers: u32,
        /// Runs at once on one Canvas instance (so on its token); the
        /// token's rate limit, shared by all of them, usually sets the pace.
        #[arg(long, default_value_t = 8, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
        per_instance: u32,
        /// On SIGTERM or Ctrl-C: how long runs in flight may take to finish
        /// (e.g. 30s, 2m, 0s). Those still going then are marked
        /// interrupted; queued runs wait for the next start.
        #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = duration)]
        grace: std::time::Duration,
        /// How long this host's hold on a run, and on a token when it
        /// shares a PostgreSQL database, lasts without renewal (renewed
        /// every third of it). A host that dies holds its runs and tokens
        /// this long before they are marked interrupted and taken by
        /// another host. Between 3s and 10m; the hosts sharing a database
        /// should agree on it.
        #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = lease)]
        lease: std::time::Duration,
        /// POST a JSON summary of every queued run that does not succeed
        /// (failed, refused, timed out, interrupted) to this https URL (or
        /// http to this machine), signed with HMAC-SHA256 (header
        /// x-easel-signature). The body holds no token, error text or
        /// report contents.
        #[arg(
            long,
            value_name = "URL",
            env = "EASEL_FAILURE_WEBHOOK",
            hide_env_values = true,
            requires = "failure_webhook_key"
        )]
        failure_webhook: Option<String>,
        /// The webhook's signing key: a file of at least 16 bytes, e.g.
        /// from `openssl rand -hex 32`; the key is its contents with
        /// surrounding whitespace (the final newline) removed.
        #[arg(
            long,
            value_name = "FILE",
            env = "EASEL_FAILURE_WEBHOOK_KEY",
            requires = "failure_webhook"
        )]
        failure_webhook_key: Option<std::path::PathBuf>,
    },
    /// Sign in to an easel server and keep an API token for it (in a 0600
    /// file under your config directory), so commands go through it.
    /// `EASEL_SERVER` and `EASEL_API_TOKEN` do the same without a file.
    Login {
        /// The server's URL, e.g. https://easel.district.example.
        #[arg(long, value_name = "URL")]
        server: String,
        /// Your easel user name (asked for a password).
        #[arg(long, conflicts_with_all = ["with_token", "canvas"])]
        name: Option<String>,
        /// Read an API token from standard input instead of signing in
        /// with a password.
        #[arg(long, conflicts_with = "canvas")]
        with_token: bool,
        /// Sign in with Canvas: open the printed address in a browser and
        /// sign in there. Your roles come from the Canvas accounts you
        /// administer (with --instance NAME when the server has several).
        #[arg(long)]
        canvas: bool,
        /// Trust this CA certificate (PEM) for the server, besides the
        /// system's (a server with its own certificate authority).
        #[arg(long, value_name = "PEM")]
        ca_cert: Option<std::path::PathBuf>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Forget the server and token `easel login` kept.
    Logout {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Schedules: a plugin run unattended at cron times in a time zone, by
    /// `easel serve` (add, list, show, pause, resume, remove).
    Schedule {
        /// What to do with schedules.
        #[command(subcommand)]
        command: ScheduleCommand,
    },
    /// The database itself: bring its schema up to date, or move a SQLite
    /// installation into PostgreSQL for many hosts (docs/DEPLOY.md).
    Db {
        /// What to do with the database.
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Write a consistent copy of the database to FILE, safe while easel
    /// runs (SQLite's VACUUM INTO). Back up master.key apart: without it the
    /// copy's tokens cannot be opened nor its audit log verified; with it,
    /// whoever holds both holds every token.
    Backup {
        /// A new file for the copy.
        file: std::path::PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Canvas instances: add, list, remove, and Sign in with Canvas.
    Instance {
        /// What to do with instances.
        #[command(subcommand)]
        command: InstanceCommand,
    },
    /// Canvas tokens, sealed in the vault: add, list, check, rotate, remove.
    Token {
        /// What to do with tokens.
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// The vault's master key.
    Vault {
        /// What to do with the vault.
        #[command(subcommand)]
        command: VaultCommand,
    },
    /// List the schools (sub-accounts of the root account) in Canvas, with
    /// the SIS-id prefix easel keeps for each.
    #[command(args_conflicts_with_subcommands = true)]
    Schools {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Set a school's SIS-id prefix.
        #[command(subcommand)]
        command: Option<SchoolsCommand>,
    },
    /// The Canvas simulator on its own, for trying clients against.
    Sim {
        /// What to do with the simulator.
        #[command(subcommand)]
        command: SimCommand,
    },
    /// The guided tour: start the simulator, add and approve the example
    /// plugins, run them for every school, print what happened.
    Demo {
        /// Tour the service instead: start `easel serve` on loopback, sign
        /// in a school's IT person and an approver, and walk submit,
        /// approve, run and report download through its API.
        #[arg(long)]
        serve: bool,
    },
    /// Institution-wide settings: `write-approvers` (1 or 2: how many admins
    /// approve a grant with write access), `audit-witness` (the file audit
    /// checkpoints are also appended to), `plan-expiry-hours` (how long a
    /// dry run's plan may wait to be applied; default 24).
    Config {
        /// What to do with settings.
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// The MAC-chained audit log: verify, checkpoint, export, tail.
    Audit {
        /// What to do with the audit log.
        #[command(subcommand)]
        command: AuditCommand,
    },
}

/// Settings commands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Show every setting.
    Show {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Change a setting, e.g. `easel config set write-approvers 2`.
    Set {
        /// The setting.
        key: String,
        /// Its value.
        value: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// `easel schools` subcommands.
#[derive(Debug, Subcommand)]
pub enum SchoolsCommand {
    /// Show, set or clear a school's SIS-id prefix. A SIS import may create
    /// only objects whose SIS id starts with the school's prefix, and a SIS
    /// id set through the API must start with it (updating the school's own
    /// objects needs none). No two schools' prefixes may overlap, and a
    /// prefix given up stays its school's, so one school's imports cannot
    /// name, revive or take another's objects by SIS id. Choose a prefix no
    /// other school's existing SIS ids use. Example: `easel schools
    /// sis-prefix 2 LHS-`.
    SisPrefix {
        /// The school's account id.
        #[arg(value_parser = school_id)]
        school: u64,
        /// The prefix, e.g. `LHS-` (omit to show the current one).
        #[arg(conflicts_with = "clear")]
        prefix: Option<String>,
        /// Remove the school's prefix (its SIS imports then create nothing).
        #[arg(long)]
        clear: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// Audit log commands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check every record's MAC and its link to the one before, and every
    /// signed checkpoint in the database; names the first bad record (exit
    /// 1) and says what was proved and what was not.
    Verify {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Also check every checkpoint in this witness file (kept where the
        /// database's holders cannot rewrite it): catches a log cut short,
        /// rolled back or rewritten since.
        #[arg(long)]
        witness: Option<PathBuf>,
    },
    /// Sign the head of the audit log now (also done every 1000 records,
    /// every 10 minutes of activity and at the end of every run).
    Checkpoint {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Print records for other tools, oldest first.
    Export {
        /// jsonl (one JSON object per line) or csv.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
        /// Only records at or after this time (RFC 3339 or a prefix, e.g.
        /// 2026-11-29).
        #[arg(long)]
        since: Option<String>,
        /// Only this plugin's records.
        #[arg(long)]
        plugin: Option<String>,
        /// Only this school's records.
        #[arg(long, value_parser = school_id)]
        school: Option<u64>,
    },
    /// The latest records, one per line.
    Tail {
        /// How many.
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: usize,
        /// Keep printing new records as they are written.
        #[arg(short, long)]
        follow: bool,
        /// One JSON object per line (as `audit export`'s jsonl).
        #[arg(long)]
        json: bool,
    },
}

/// `easel audit export` formats.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated, with a header row.
    Csv,
}

/// Plugin commands.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Submit a plugin for approval: its component (.wasm) and its manifest
    /// (easel.toml). Records who submitted it; they cannot approve it.
    #[command(name = "submit", visible_alias = "add")]
    Add {
        /// The component, built for wasm32-wasip2.
        component: PathBuf,
        /// The plugin's manifest.
        #[arg(long)]
        manifest: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Validate a manifest (strictly: unknown keys are errors naming the
    /// line) and, given the component, check that its imports match what the
    /// manifest requests. Stores nothing.
    Check {
        /// The manifest (easel.toml).
        manifest: PathBuf,
        /// The component (.wasm) to cross-check.
        component: Option<PathBuf>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// List plugins and their approval state.
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Show a plugin's digest, size, WIT imports and exports, and what its
    /// manifest requests.
    Inspect {
        /// Plugin id, id@digest-prefix, or digest prefix.
        plugin: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Approve the plugin's newest version for a school (and its
    /// sub-accounts). Pins the component's and manifest's sha256.
    Approve {
        /// Plugin id, id@digest-prefix, or digest prefix.
        plugin: String,
        /// The school's account id; repeat, or give several comma-separated
        /// (`--school 2,4,6`).
        #[arg(
            long = "school",
            value_delimiter = ',',
            value_name = "ID",
            value_parser = school_id,
            required_unless_present_any = ["all_schools", "schools_from"]
        )]
        schools: Vec<u64>,
        /// The schools' account ids from a file: one per line (or
        /// comma-separated), `#` starts a comment; `-` reads standard input.
        #[arg(long, value_name = "FILE", conflicts_with = "all_schools")]
        schools_from: Option<PathBuf>,
        /// Every school (each sub-account of the root account, as `easel
        /// schools` lists them), each its own grant.
        #[arg(long, conflicts_with = "schools")]
        all_schools: bool,
        /// Grant read access only, even if the manifest requests write.
        #[arg(long)]
        read_only: bool,
        /// Confirm a grant for the root account: it reaches every school
        /// in the district.
        #[arg(long)]
        district_wide: bool,
        /// Which manifest to approve, by a prefix of its sha256 (`plugin
        /// inspect` lists them), when the component was submitted with
        /// several.
        #[arg(long, value_name = "PREFIX")]
        manifest_digest: Option<String>,
        /// Approve a version older than the newest one approved (a
        /// downgrade).
        #[arg(long)]
        allow_downgrade: bool,
        /// The grant's terms from a TOML file (keys: scopes, masquerade,
        /// dry_run_only, max_calls, max_writes, runs_per_day, expires_at,
        /// shared_users, sis_import);
        /// flags given as well override it.
        #[arg(long, value_name = "FILE")]
        grant: Option<PathBuf>,
        /// Grant only this endpoint (repeatable; Canvas scope grammar, e.g.
        /// url:GET|/api/v1/accounts/:account_id/courses); each must be one
        /// the manifest requests. Default: all it requests.
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Let runs act as other users of the school (as_user_id), if the
        /// manifest asks.
        #[arg(long)]
        masquerade: bool,
        /// Only dry runs: live runs are refused.
        #[arg(long)]
        dry_run_only: bool,
        /// Canvas calls per run (at most what the manifest requests).
        #[arg(long)]
        max_calls: Option<u32>,
        /// Writes per run; the run stops before the write that would exceed it.
        #[arg(long)]
        max_writes: Option<u32>,
        /// Runs per school in any 24 hours.
        #[arg(long)]
        runs_per_day: Option<u32>,
        /// The grant stops working at this time (RFC 3339).
        #[arg(long)]
        expires_at: Option<String>,
        /// Users also enrolled in another school: `read` lets user-level
        /// reads (profile, page views, logins, all their enrollments) reach
        /// them; `deny` (the default) allows only course-scoped calls.
        #[arg(long, value_name = "deny|read", value_parser = ["deny", "read"])]
        shared_users: Option<String>,
        /// Let runs send SIS imports (CSV files of users, courses, sections
        /// or enrollments) to the root account, if the manifest asks. easel
        /// places every SIS id in every row: a row naming another school's
        /// object refuses the whole file. Each row counts as one write.
        #[arg(long)]
        sis_import: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Build the plugin in a folder into a component (.wasm), on your own
    /// machine: a Rust crate (Cargo.toml) with `cargo build --release
    /// --target wasm32-wasip2`; a Python plugin (app.py and easel.toml)
    /// with a pinned componentize-py, installed into a venv under the cache
    /// on first use (needs python3 with venv, and PyPI), bundling the
    /// packages its requirements.txt pins. Prints the component's path and
    /// how to submit it.
    Build {
        /// The plugin's folder (default: the current one).
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Start a new plugin: a folder with working code (Python or Rust), its
    /// manifest, a README and a test scenario. It builds with `easel plugin
    /// build` and runs with `easel plugin test` as written; a Rust plugin
    /// carries easel's Rust SDK in `easel-sdk/` (or uses `--sdk`).
    New {
        /// The plugin's id, and its folder's name: lowercase letters,
        /// digits and '-', e.g. unstaffed-courses.
        name: String,
        /// Its language.
        #[arg(long, value_name = "python|rust", value_parser = ["python", "rust"], default_value = "python")]
        lang: String,
        /// Start from a plugin that writes (publishes courses) instead of a
        /// read-only report.
        #[arg(long)]
        writes: bool,
        /// The folder to create (default: ./NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Rust only: where the SDK comes from, a git URL holding easel or
        /// the SDK's folder in a copy of it (default: a copy this binary
        /// carries, written into the plugin's folder).
        #[arg(long, value_name = "URL|PATH")]
        sdk: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Build the plugin in a folder and run it once against a simulated
    /// Canvas, in a throwaway data directory: the simulator makes the school
    /// and courses the scenario file lists, and the output shows the run's
    /// report files, its plan (the writes a dry run would make), every
    /// Canvas call and every call easel denied. Exits 1 if the run fails.
    Test {
        /// The plugin's folder (default: the current one).
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// The scenario (TOML; default: scenario.toml in the plugin's
        /// folder, if there is one; without one, the plugin runs on a
        /// generated school).
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Send writes to the simulator instead of planning them.
        #[arg(long)]
        live: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Deny a submitted version, saying why: its submitter sees the reason
    /// (`plugin list`, the console). A later approval is still possible.
    Deny {
        /// Plugin id, or id@digest-prefix for one version (default: the
        /// newest).
        plugin: String,
        /// Why, for the submitter (1 to 1000 characters).
        #[arg(long)]
        reason: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a plugin's approvals (all its versions): its runs stop,
    /// including queued and scheduled ones.
    Revoke {
        /// Plugin id.
        plugin: String,
        /// Only for these schools, repeated or comma-separated (default:
        /// every school).
        #[arg(long = "school", value_delimiter = ',', value_name = "ID", value_parser = school_id)]
        schools: Vec<u64>,
        /// The schools' account ids from a file: one per line (or
        /// comma-separated), `#` starts a comment; `-` reads standard input.
        #[arg(long, value_name = "FILE")]
        schools_from: Option<PathBuf>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// Instance commands.
#[derive(Debug, Subcommand)]
pub enum InstanceCommand {
    /// Add a Canvas instance by its URL.
    Add {
        /// Name, e.g. prod, test, beta.
        name: String,
        /// Its origin, e.g. https://district.instructure.com.
        #[arg(long)]
        url: String,
        /// This instance is refreshed from another (Canvas test and beta
        /// are copies of production) and accepts its tokens.
        #[arg(long)]
        copy_of: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// List instances.
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Remove an instance that has no tokens.
    Remove {
        /// Its name.
        name: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Turn on Sign in with Canvas for an instance, with a developer key
    /// whose redirect URI is <server>/auth/canvas/callback (the client
    /// secret is read from standard input or a prompt). A sub-account admin
    /// signs in as a school contributor for that school.
    SignIn {
        /// The instance.
        name: String,
        /// The developer key's client id.
        #[arg(long, required_unless_present = "off", conflicts_with = "off")]
        client_id: Option<String>,
        /// Let admins of the root account sign in as district admins (by
        /// default they are refused: a district admin is all-powerful).
        #[arg(long, conflicts_with = "off")]
        root_admins_are_district_admins: bool,
        /// The district's root account id (default: the one the instance's
        /// token administers). Only it and its direct sub-accounts (the
        /// schools) give roles.
        #[arg(long, conflicts_with = "off", value_name = "ID")]
        root_account: Option<u64>,
        /// Turn Sign in with Canvas off for the instance.
        #[arg(long)]
        off: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// Token commands. Secrets are read from standard input or a prompt that
/// does not echo, never from arguments or the environment.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Add a token: a user access token, or with --oauth2-client-id a
    /// developer-key grant (client secret, then refresh token).
    Add {
        /// Its id, e.g. prod-admin. Give the instance with --instance.
        id: String,
        /// Developer key id: the token is an OAuth2 grant easel refreshes.
        #[arg(long)]
        oauth2_client_id: Option<String>,
        /// When the token expires (RFC 3339, e.g. 2027-06-30T00:00:00Z);
        /// easel refuses to use it afterwards. User tokens without one never
        /// expire.
        #[arg(long)]
        expires_at: Option<String>,
        /// Store it without first asking Canvas whose it is
        /// (/api/v1/users/self), e.g. when Canvas cannot be reached from
        /// this machine.
        #[arg(long)]
        no_verify: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// List tokens: id, instance, kind, keyed fingerprint, dates.
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Call /api/v1/users/self and show whose token it is.
    Check {
        /// Token id.
        id: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Replace a token's secret in place; grants keep working.
    Rotate {
        /// Token id.
        id: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Remove a token (refused while grants use it, unless --force).
    Remove {
        /// Token id.
        id: String,
        /// Also disable the grants that use it.
        #[arg(long)]
        force: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// Simulator commands.
#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Serve a simulated institution on 127.0.0.1 until interrupted.
    Serve {
        /// Port (0 picks a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Institution size: demo (4 schools) or district (320 schools).
        #[arg(long, default_value = "demo")]
        preset: String,
        /// Generator seed: the same seed gives the same institution.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Turn the per-token rate limit off.
        #[arg(long)]
        no_throttle: bool,
        /// Keep the simulator's data (and its tokens) in FILE: loaded at
        /// start if it exists (then --preset and --seed are unused), saved
        /// when the simulator stops.
        #[arg(long, value_name = "FILE")]
        state: Option<std::path::PathBuf>,
        /// Register a developer key for Sign in with Canvas whose redirect
        /// URI is URL (an easel server's /auth/canvas/callback), and print
        /// its client id and secret. At the simulator's authorization page,
        /// add sim_user=<user id> to the address to choose who signs in.
        #[arg(long, value_name = "URL")]
        sign_in_redirect: Option<String>,
    },
}

/// Database commands.
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Upgrade the database's schema to this easel's: the data
    /// directory's SQLite database, or the PostgreSQL one --database (or
    /// EASEL_DATABASE_URL) names. Safe to run on several hosts at once;
    /// each step is applied once. Every command also migrates as it opens
    /// the database: this one does only that, and says what it did.
    Migrate {
        /// `sqlite` (this data directory's easel.db) or
        /// postgres://user[:password]@host[:port]/database.
        #[arg(
            long,
            value_name = "URL",
            env = "EASEL_DATABASE_URL",
            hide_env_values = true
        )]
        database: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Copy a SQLite installation into an empty PostgreSQL database, then
    /// verify its audit log there with the master key (the one beside the
    /// SQLite database). All or nothing; the components go too. The SQLite
    /// database then records where its state went (vault rekey and reset
    /// refuse to work on it). Stop easel on this host first: what is
    /// written during the copy is not copied.
    Copy {
        /// The SQLite database: `sqlite:PATH` (a file, or a data
        /// directory holding easel.db). Default: this data directory's.
        #[arg(long, value_name = "sqlite:PATH")]
        from: Option<String>,
        /// The PostgreSQL database: postgres://user[:password]@host[:port]/database
        /// (created empty; `easel db copy` makes its tables). Default:
        /// EASEL_DATABASE_URL, the database the hosts use.
        #[arg(
            long,
            value_name = "URL",
            env = "EASEL_DATABASE_URL",
            hide_env_values = true
        )]
        to: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// Vault commands.
#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Re-encrypt every token under a new master key, atomically.
    Rekey {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// The way out when master.key is lost or wrong: a new master key, and
    /// every stored Canvas token and Sign in with Canvas key forgotten (add
    /// them again). Plugins, approvals, runs, users and the audit log stay;
    /// the audit records before the reset can no longer be verified.
    Reset {
        /// Say that you mean it: the tokens are gone for good.
        #[arg(long)]
        forget_tokens: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// `easel run` arguments.
#[derive(Debug, Clone, clap::Args)]
#[command(group(
    clap::ArgGroup::new("target")
        .required(true)
        .args(["school", "schools", "all_schools", "after_plan"])
))]
pub struct RunArgs {
    /// Plugin id.
    pub plugin: String,
    /// The school's account id.
    #[arg(long, value_parser = school_id)]
    pub school: Option<u64>,
    /// Several schools' account ids, comma-separated: one run per school,
    /// run concurrently, sharing the token fairly.
    #[arg(long, value_delimiter = ',', value_name = "ID,ID,...", value_parser = school_id)]
    pub schools: Vec<u64>,
    /// Every school the plugin is approved for.
    #[arg(long)]
    pub all_schools: bool,
    /// With --schools or --all-schools: how many runs at once. The token's
    /// rate limit, not this, usually sets the pace. (Through a server, its
    /// --workers and --per-instance decide.)
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: u32,
    /// Record intended writes as a plan; send none.
    #[arg(long)]
    pub dry_run: bool,
    /// A parameter, as name=value (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Stop a live run before its (N+1)th write (like Canvas's SIS change
    /// threshold); overrides the grant's limit.
    #[arg(long, value_name = "N")]
    pub max_writes: Option<u32>,
    /// Run the plugin live, bound to what the dry run <RUN> planned: same
    /// plugin version, school and params, and only the plan's writes (any
    /// other write is denied as not-in-plan; planned writes it does not make
    /// are reported as skipped). A plan is applied once, within
    /// plan-expiry-hours (default 24). To send the plan without running the
    /// plugin, use `easel plan apply <RUN>`.
    #[arg(long, value_name = "RUN", conflicts_with = "dry_run")]
    pub after_plan: Option<String>,
    /// Through a server: put the run(s) in its queue and print their ids at
    /// once, without waiting (`easel runs show ID` follows them).
    #[arg(long)]
    pub detach: bool,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// `easel schedule` subcommands.
#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Add a schedule. `easel serve` fires it; each fire time runs once,
    /// with the approval live at that time (a revoked or expired approval
    /// pauses the schedule).
    #[command(group(
        clap::ArgGroup::new("target")
            .required(true)
            .args(["school", "schools", "all_schools"])
    ))]
    Add {
        /// Plugin id.
        plugin: String,
        /// The school's account id.
        #[arg(long, value_parser = school_id)]
        school: Option<u64>,
        /// Several schools' account ids, comma-separated.
        #[arg(long, value_delimiter = ',', value_name = "ID,ID,...", value_parser = school_id)]
        schools: Vec<u64>,
        /// Every school the plugin is approved for, at each fire.
        #[arg(long)]
        all_schools: bool,
        /// When, as cron's five fields: minute hour day-of-month month
        /// day-of-week, e.g. "0 6 * * 1-5" (6:00 on weekdays).
        #[arg(long, value_name = "EXPR")]
        cron: String,
        /// The time zone the cron times are in (IANA name). Daylight
        /// saving is followed: each wall-clock time fires once.
        #[arg(long, default_value = "UTC", value_name = "ZONE")]
        tz: String,
        /// Dry runs only: plans, no writes.
        #[arg(long)]
        dry_run: bool,
        /// A parameter, as name=value (repeatable).
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// A fire while the last one still runs: skip it (recorded) or
        /// queue it behind.
        #[arg(long, default_value = "skip", value_name = "skip|queue")]
        overlap: String,
        /// Fire times missed while easel was not running: skip them all
        /// (recorded), or run-once for the latest.
        #[arg(long, default_value = "skip", value_name = "skip|run-once")]
        misfire: String,
        /// A run interrupted (easel killed or stopped mid-run) is run again,
        /// once, when easel serve is back: only for read-only runs (a dry
        /// run, or a grant without write). Runs that may write never are.
        #[arg(long)]
        retry_interrupted: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// List schedules: next three fire times in each one's zone, and the
    /// last fire.
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// One schedule and its latest fires.
    Show {
        /// Schedule id.
        id: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Pause a schedule.
    Pause {
        /// Schedule id.
        id: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Resume a schedule from now (times missed while paused do not fire).
    Resume {
        /// Schedule id.
        id: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Remove a schedule (its fires stay in the record).
    Remove {
        /// Schedule id.
        id: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// `easel user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user and print a one-time password.
    Add {
        /// Their name (trimmed and case-folded).
        name: String,
        /// A role: district-admin, approver, contributor or auditor
        /// (repeatable).
        #[arg(long = "role", required = true, value_name = "ROLE")]
        roles: Vec<String>,
        /// A school account a contributor is bound to (repeatable).
        #[arg(long = "school", value_name = "ID", value_parser = school_id)]
        schools: Vec<u64>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// List users and their roles.
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Set a user's password, read from standard input.
    Password {
        /// The user.
        name: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Issue a personal API token for scripts and CI (shown once; only its
    /// hash is stored).
    Token {
        /// The user.
        name: String,
        /// What it is for, e.g. `ci`.
        #[arg(long, default_value = "cli")]
        label: String,
        /// It stops working after this many days (default: never).
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<u32>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a personal API token by its id.
    RevokeToken {
        /// The token's id (the part after `easel_pat_`, before the next `_`).
        id: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// `easel plan` subcommands.
#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Send exactly the writes a dry run planned, in order, without running
    /// the plugin: each through the same policy, token governor and audit.
    /// Stops at the first write that is not applied. A plan is applied
    /// once, within plan-expiry-hours (default 24) of the dry run.
    ///
    /// Use this when the plan itself is what was reviewed. Use `easel run
    /// <plugin> --after-plan <RUN>` when the plugin should run again (it
    /// may read Canvas as it is now) but make only the reviewed writes.
    Apply {
        /// The dry run whose plan to apply (or a unique prefix).
        run: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// `easel runs` subcommands.
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// Merge the reports of a batch (one `run --schools/--all-schools`)
    /// into one CSV with a school column first. Runs that did not succeed
    /// are left out and named.
    Export {
        /// The batch id the many-school command printed.
        #[arg(long)]
        batch: String,
        /// Where to write the merged CSV.
        #[arg(long, value_name = "FILE")]
        merge: std::path::PathBuf,
        /// Which report, when the runs wrote several (default: the only
        /// CSV they wrote).
        #[arg(long, value_name = "NAME")]
        report: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Write one report of a run to a file (or standard output).
    Report {
        /// Run id.
        run: String,
        /// The report's file name, e.g. courses.csv.
        name: String,
        /// Where to write it (default: standard output).
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
        /// Machine-readable output: what was written where (needs
        /// --output, as the report itself is not JSON).
        #[arg(long, requires = "output")]
        json: bool,
    },
    /// Show one run: status, calls, errors, outputs, log.
    Show {
        /// Run id (or a unique prefix).
        run: String,
        /// Print only the plan of intended writes.
        #[arg(long)]
        plan: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// Where Canvas is, and with which token.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConnectArgs {
    /// Canvas instance, for run, plan apply, schools, plugin approve, token
    /// add and login --canvas (see `easel instance list`; default: the
    /// only one configured, else the embedded simulator `sim`). Other
    /// commands refuse it.
    #[arg(long, global = true)]
    pub instance: Option<String>,
    /// Token to use, for run, plan apply, schools and plugin approve (see
    /// `easel token list`; default: the instance's only token). Other
    /// commands refuse it.
    #[arg(long, global = true)]
    pub token: Option<String>,
}

impl ConnectArgs {
    /// As the application layer takes them.
    pub fn options(&self) -> easel_app::ConnectOptions {
        easel_app::ConnectOptions {
            instance: self.instance.clone(),
            token: self.token.clone(),
        }
    }
}

/// School account ids from `--schools-from FILE` (`-`: standard input):
/// one per line or comma-separated, `#` to the end of a line a comment.
pub fn schools_file(path: &std::path::Path) -> Result<Vec<u64>, String> {
    let text = if path == std::path::Path::new("-") {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    }
    .map_err(|e| format!("--schools-from {}: {e}", path.display()))?;
    let mut ids = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default();
        for item in line.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            ids.push(
                school_id(item).map_err(|e| {
                    format!("--schools-from {} line {}: {e}", path.display(), n + 1)
                })?,
            );
        }
    }
    if ids.is_empty() {
        return Err(format!("--schools-from {} names no school", path.display()));
    }
    Ok(ids)
}

/// `--lease`: a [`duration`] from 3 seconds to 10 minutes.
fn lease(raw: &str) -> Result<std::time::Duration, String> {
    let d = duration(raw)?;
    if !(3..=600).contains(&d.as_secs()) {
        return Err(format!(
            "{raw:?} is out of range: a lease lasts from 3s to 10m"
        ));
    }
    Ok(d)
}

/// A duration such as `30s`, `2m`, `1h` or `45` (seconds).
pub fn duration(raw: &str) -> Result<std::time::Duration, String> {
    let t = raw.trim();
    let (n, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{raw:?} is not a duration: write e.g. 30s, 2m or 1h"))?;
    let secs = match unit.trim() {
        "s" | "sec" | "secs" => n,
        "m" | "min" | "mins" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => {
            return Err(format!(
                "{raw:?} is not a duration: write e.g. 30s, 2m or 1h"
            ));
        }
    };
    Ok(std::time::Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    /// Clap's own checks of the command line's definition: no two
    /// arguments of one command share a name (a global flag included), no
    /// conflict or requirement names an argument that does not exist.
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory as _;
        super::Args::command().debug_assert();
    }

    #[test]
    fn a_grace_period_reads_seconds_minutes_and_hours_and_nothing_else() {
        use std::time::Duration;
        assert_eq!(super::duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(super::duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(super::duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(super::duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(super::duration("0s"), Ok(Duration::ZERO));
        for bad in ["", "s", "3 days", "-1s", "1.5m", "10x"] {
            let e = super::duration(bad).unwrap_err();
            assert!(e.contains("30s, 2m or 1h"), "{bad}: {e}");
        }
    }

    /// `easel serve --lease` takes 3 seconds to 10 minutes and refuses
    /// anything else before the server starts, saying the range.
    #[test]
    fn a_lease_outside_three_seconds_to_ten_minutes_is_refused() {
        use clap::Parser as _;
        use std::time::Duration;
        let lease = |raw: &str| {
            super::Args::try_parse_from(["easel", "serve", "--lease", raw]).map(|a| {
                match a.command {
                    super::Command::Serve { lease, .. } => lease,
                    _ => unreachable!("parsed as serve"),
                }
            })
        };
        assert_eq!(lease("3s").unwrap(), Duration::from_secs(3));
        assert_eq!(lease("10m").unwrap(), Duration::from_secs(600));
        for bad in ["2s", "0", "601", "11m", "1h"] {
            let e = lease(bad).unwrap_err().to_string();
            assert!(e.contains("from 3s to 10m"), "{bad}: {e}");
        }
        let e = lease("soon").unwrap_err().to_string();
        assert!(e.contains("30s, 2m or 1h"), "{e}");
    }
}

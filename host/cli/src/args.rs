//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::connect::ConnectOptions;

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
    /// Which Canvas to talk to (default: the embedded simulator).
    #[command(flatten)]
    pub connect: ConnectOptions,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
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
    /// Run an approved plugin for one school.
    Run(RunArgs),
    /// List past runs, or show one.
    Runs {
        /// Show one run.
        #[command(subcommand)]
        command: Option<RunsCommand>,
        /// How many runs to list.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// List the schools (sub-accounts of the root account) in Canvas.
    Schools {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// The guided tour: start the simulator, add and approve the example
    /// plugins, run them for every school, print what happened.
    Demo,
}

/// Plugin commands.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Add a plugin: its component (.wasm) and its manifest (easel.toml).
    Add {
        /// The component, built for wasm32-wasip2.
        component: PathBuf,
        /// The plugin's manifest.
        #[arg(long)]
        manifest: PathBuf,
        /// Who is adding it (default: $USER).
        #[arg(long)]
        by: Option<String>,
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
        /// The school's account id (repeat for several schools).
        #[arg(long = "school", required = true)]
        schools: Vec<u64>,
        /// Grant read access only, even if the manifest requests write.
        #[arg(long)]
        read_only: bool,
        /// Who approves (default: $USER).
        #[arg(long)]
        by: Option<String>,
    },
}

/// `easel run` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Plugin id.
    pub plugin: String,
    /// The school's account id.
    #[arg(long)]
    pub school: u64,
    /// Record intended writes as a plan; send none.
    #[arg(long)]
    pub dry_run: bool,
    /// A parameter, as name=value (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// `easel runs` subcommands.
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
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

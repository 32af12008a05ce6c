//! easel's application layer: the services the CLI, `easel serve`, the
//! console and the scheduler share, each taking an authenticated
//! [`Actor`].
//!
//! It holds the data directory ([`Home`]), connections to Canvas
//! ([`Connection`]), the plugin workflow (submit, approve, revoke), run
//! admission and execution (one school, many, after a plan), and
//! principals: who someone is ([`Actor`]), what
//! their roles let them do ([`Act`]), and how they prove it (a local
//! password hashed with argon2id, or a personal API token of 256 random
//! bits stored only as its hash). Errors carry a [`Kind`] that the CLI maps
//! to exit codes and a server to HTTP statuses.
#![deny(missing_docs)]

pub mod audit;
pub mod author;
mod batch;
pub mod canvas_sign_in;
mod connection;
pub mod credentials;
pub mod cron;
pub mod database;
mod error;
mod home;
mod inspect;
mod many;
pub mod nodes;
mod plugins;
mod pool;
mod principal;
mod principals;
pub mod process;
pub mod queue;
pub mod reads;
mod run;
mod run_audit;
pub mod schedules;
pub mod settings;
mod storage;

pub use batch::{BatchRequest, BatchResult, BatchRow, batch_schools, run_batch};
pub use connection::{
    ConnectOptions, Connection, SIM_INSTANCE, choose_instance, namespace_instance, token_fits,
};
pub use error::{AppError, Kind};
pub use home::{AUDIT_WITNESS, DEFAULT_WITNESS_FILE, Home, root_dir};
pub use inspect::{
    ApprovalView, Changes, CheckReport, ComponentCheck, Inspection, ParamView, Requests, check,
    inspect,
};
pub use many::{Progress, Quiet, execute_many};
pub use plugins::{
    ApproveOptions, Target, VersionState, WRITE_APPROVERS, add, approve, approve_on, approve_with,
    deny, find, revoke, state_word, versions,
};
pub use pool::Connections;
pub use principal::{Act, Actor, Role, SignIn, fold_name};
pub use principals::{
    IssuedToken, MAX_FAILURES_PER_ADDRESS, MAX_FAILURES_PER_NAME, MAX_TOKEN_FAILURES_RECORDED,
    NewUser, Principals, TOKEN_PREFIX,
};
pub use run::{
    DEFAULT_PLAN_EXPIRY_HOURS, PLAN_EXPIRY_HOURS, PlanRef, RunRequest, RunResult, after_plan,
    connection_for_grant, execute_run, execute_run_as, execute_run_for, grant_target, new_run_id,
    parse_params,
};
pub use run_audit::{RunAudit, stop_recording};
pub use storage::{Storage, StoreResult};

//! easel's policy: what a plugin may ask of Canvas, decided without I/O.
//!
//! This crate guards the boundary between a school's plugin and the
//! institution's Canvas token. It parses plugin manifests, holds the grant an
//! admin approved, turns a guest's request into a validated [`Operation`], and
//! answers every call with one pure function, [`decide`]. It links no
//! wasmtime, no network and no async runtime, so its rules are tested in
//! milliseconds and cannot be bypassed by host code taking a shortcut.
//!
//! The gates, in the order a call meets them:
//! 1. path form ([`ApiPath::parse`], [`check_query`]): only characters a URL
//!    carries unchanged, so what is checked is what is sent;
//! 2. the endpoint table ([`Endpoint`]): a call must match a modelled row,
//!    else `unmodelled-endpoint`;
//! 3. keys and bodies ([`Body`], [`Operation::new`]): one JSON object with
//!    unique keys, re-serialised from the parse; every id-like key must be
//!    modelled for the row (`unmodelled-field`, `body-form`); a SIS
//!    import's CSV ([`SisCsv`]) is read row by row the same way;
//! 4. [`decide`]: the grant's schools, budgets, write access, capability,
//!    scopes, masquerading, then placement (`school-boundary`) and shared
//!    users (`shared-user`);
//! 5. the origin pin, in the canvas client.
//!
//! Deny by default: a form the policy does not model is refused with a
//! reason, never passed along.
#![deny(missing_docs)]

mod admission;
mod body;
mod decide;
mod endpoint;
mod grant;
mod manifest;
mod operation;
mod path;
mod scope;
mod sis_csv;

pub use admission::{ApprovalState, NotAdmitted, Refusal, RunFacts, admit};
pub use body::{Body, BodyError, MAX_BODY_BYTES};
pub use decide::{Decision, Denial, Rule, decide};
pub use endpoint::{Endpoint, Field, Needs, names_an_id};
pub use grant::{AccountId, Grant, SharedUsers};
pub use manifest::{
    Capability, DEFAULT_MEMORY_BYTES, MAX_MEMORY_BYTES, MIN_MEMORY_BYTES, Manifest, ManifestError,
    ParamSpec, ParamType,
};
pub use operation::{
    Found, MAX_QUERY_PAIRS, MAX_SIS_VALUE, MAX_TARGETS, Masquerade, Method, ObjectKey, ObjectKind,
    ObjectRef, Operation, Outside, Target, sis_value_is_exact,
};
pub use path::{ApiPath, MAX_QUERY_VALUE, PathError, QueryPair, check_query};
pub use scope::{Scope, ScopeError};
pub use sis_csv::{Column, FILE_KINDS, FileKind, MAX_ROWS, SisCsv};

//! easel's policy: what a plugin may ask of Canvas, decided without I/O.
//!
//! This crate guards the boundary between a school's plugin and the
//! institution's Canvas token. It parses plugin manifests, holds the grant an
//! admin approved, turns a guest's request into a validated [`Operation`], and
//! answers every call with one pure function, [`decide`]. It links no
//! wasmtime, no network and no async runtime, so its rules are tested in
//! milliseconds and cannot be bypassed by host code taking a shortcut.
#![deny(missing_docs)]

mod decide;
mod grant;
mod manifest;
mod operation;
mod path;
mod scope;

pub use decide::{Decision, Denial, Rule, decide};
pub use grant::{AccountId, Grant};
pub use manifest::{Capability, Manifest, ManifestError, ParamSpec, ParamType};
pub use operation::{Method, ObjectKey, ObjectKind, ObjectRef, Operation, Target};
pub use path::{ApiPath, PathError, QueryPair, check_query};
pub use scope::{Scope, ScopeError};

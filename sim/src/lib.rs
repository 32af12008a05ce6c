//! A Canvas LMS API simulator for easel's tests, benchmarks and `easel demo`.
//!
//! It serves a deterministic, seeded institution (a root account with school
//! sub-accounts, terms, courses, sections, users and enrollments) over real
//! HTTP on loopback, with Canvas's authentication, pagination and error
//! shapes (see shared/CANVAS.md). Every request it receives is recorded so
//! tests can prove what did, and did not, reach Canvas.

mod auth;
mod data;
mod extra;
mod faults;
mod http_util;
mod jobs;
mod permissions;
mod routes;
mod scope;
mod server;
mod throttle;
mod writes;

pub use auth::ACCESS_TOKEN_LIFETIME;
pub use data::{
    Account, Course, Enrollment, Institution, NOBODY_USER_ID, Preset, SCHOOL_ADMIN_USER_ID,
    Section, Sizes, Term, User,
};
pub use scope::{Scope, ScopeError};
pub use server::{Faults, RecordedRequest, Role, SimConfig, SimHandle, Simulator};
pub use throttle::{Bucket, ThrottleAnswer, ThrottleConfig};

//! A Canvas LMS API simulator for easel's tests, benchmarks and `easel demo`.
//!
//! It serves a deterministic, seeded institution (a root account with school
//! sub-accounts, terms, courses, sections, users and enrollments, with a
//! configurable share of the irregularities real institutions have) over
//! real HTTP on loopback, with Canvas's authentication, scopes, pagination,
//! id forms and error shapes (see shared/CANVAS.md and
//! docs/CANVAS-COMPAT.md). It judges every request by its own reading of
//! Canvas, never with easel's code. Every request it receives is recorded
//! so tests can prove what did, and did not, reach Canvas.
//!
//! Layout: `gate.rs` is what every request passes (authentication, scopes,
//! masquerading, permission, throttling); `api/` holds the endpoints;
//! `model.rs`, `generate.rs` and `irregular.rs` the data; `render.rs` how
//! objects look on the wire; `params.rs`, `lookup.rs`, `pages.rs` and
//! `error.rs` the conventions every endpoint shares.

mod api;
mod auth;
mod dates;
mod error;
mod faults;
mod gate;
mod generate;
mod irregular;
mod lookup;
mod model;
mod pages;
mod params;
mod permissions;
mod render;
mod scenario;
mod scope;
mod server;
mod snapshot;
mod throttle;

pub use auth::ACCESS_TOKEN_LIFETIME;
pub use generate::{DEFAULT_IRREGULAR_RATE, Preset, Sizes};
pub use model::{
    ADMIN_USER_ID, Account, Assignment, Course, Enrollment, Institution, NOBODY_USER_ID,
    SCHOOL_ADMIN_USER_ID, Section, Term, User,
};
pub use scenario::{CourseSpec, MAX_SCENARIO_ENROLLMENTS, Scenario, SchoolSpec, Seeded};
pub use scope::{Scope, ScopeError};
pub use server::{Faults, RecordedRequest, Role, SimConfig, SimHandle, Simulator};
pub use snapshot::Snapshot;
pub use throttle::{Bucket, CostModel, ThrottleAnswer, ThrottleConfig};

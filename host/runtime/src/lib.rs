//! easel's plugin host on wasmtime: loading, limits, and the WIT interfaces.
//!
//! Threat: a school's plugin escaping its grant or exhausting the host. A
//! plugin is a WebAssembly component with no ambient authority: no sockets,
//! no HTTP, no environment, no arguments, no filesystem. It reaches Canvas
//! only through the `easel:canvas` interfaces implemented in [`host`], each
//! of whose methods builds an `Operation`, passes it to
//! [`RunState::authorize`] (the only caller of `easel_policy::decide`), and
//! only then sends it through the canvas client. Every run gets a fresh store
//! with a memory cap, a CPU budget (epoch deadlines), a wall-clock timeout
//! that also bounds host calls, a call budget, a cap on bytes per host call
//! and on handles, and bounded captured output.
#![deny(missing_docs)]

mod audit;
mod authorize;
mod component;
mod directory;
mod engine;
pub mod host;
mod limits;
mod linker;
pub mod live;
mod outcome;
mod plan;
mod run;
mod state;
pub mod text;

pub use audit::{AuditSink, CanvasEvent, DiscardAudit};
pub use authorize::MAX_REASON_BYTES;
pub use component::{ComponentInfo, LoadError, LoadedComponent, inspect};
pub use directory::MAX_PLACED;
pub use engine::{EngineOptions, Runtime};
pub use limits::{DEFAULT_MAX_DENIALS, DEFAULT_MAX_PLAN_BYTES, Limits};
pub use outcome::{PlannedWrite, RunOutcome, RunReport};
pub use plan::{BoundStep, PlanBinding, StepResult};
pub use run::{RunSpec, School};
pub use state::RunState;

/// Bindings generated from the `easel:canvas` WIT package (host side).
#[allow(missing_docs)]
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "easel:canvas/easel-host",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "easel:canvas/read.pages": crate::host::read::PageStream,
            "easel:canvas/report.file": crate::host::report::ReportFile,
        },
    });
}

/// The WIT package the host implements.
pub const WIT_PACKAGE: &str = "easel:canvas@0.1.0";

//! Errors a plugin sees.

use std::fmt;

pub use crate::bindings::easel::canvas::types::CanvasError;

/// Result with the SDK's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Anything that can go wrong in a plugin.
#[derive(Debug)]
pub enum Error {
    /// The host or Canvas refused or failed a call.
    Canvas {
        /// What was called, e.g. `GET /api/v1/courses/1`.
        call: String,
        /// Why it failed.
        error: CanvasError,
    },
    /// Canvas's JSON did not have the expected shape.
    Json {
        /// What was being parsed.
        what: String,
        /// The parser's complaint.
        error: serde_json::Error,
    },
    /// A parameter is missing or malformed.
    Param(String),
    /// A report could not be written.
    Report(String),
    /// Anything else, in words.
    Other(String),
}

impl Error {
    /// True when the host's policy denied the call.
    pub fn is_denied(&self) -> bool {
        matches!(
            self,
            Error::Canvas {
                error: CanvasError::Denied(_),
                ..
            }
        )
    }

    /// True when Canvas said the object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Error::Canvas {
                error: CanvasError::NotFound(_),
                ..
            }
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Canvas { call, error } => write!(f, "{call}: {}", describe(error)),
            Error::Json { what, error } => write!(f, "unexpected JSON in {what}: {error}"),
            Error::Param(m) | Error::Report(m) | Error::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

/// A Canvas error in words.
pub fn describe(e: &CanvasError) -> String {
    match e {
        CanvasError::Denied(d) => format!("denied by rule {}: {}", d.rule, d.reason),
        CanvasError::NotFound(m) => format!("not found: {m}"),
        CanvasError::Unauthorized(m) => format!("unauthorized: {m}"),
        CanvasError::Throttled(m) => format!("throttled: {m}"),
        CanvasError::Invalid(m) => format!("invalid: {m}"),
        CanvasError::Upstream(u) => format!("Canvas answered {}: {}", u.status, u.body),
        CanvasError::BudgetExhausted(m) => format!("budget exhausted: {m}"),
    }
}

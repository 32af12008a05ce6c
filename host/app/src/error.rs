//! The application layer's one error type.

use std::fmt;

/// What kind of failure, for an exit code or an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The thing asked about does not exist (404).
    NotFound,
    /// The request is malformed or makes no sense (400).
    Invalid,
    /// The actor may not do this (403); or could not prove who they are.
    Forbidden,
    /// It conflicts with the current state (409), e.g. a name taken.
    Conflict,
    /// Canvas (or another upstream) failed (502).
    Upstream,
    /// easel itself failed (500).
    Internal,
}

impl Kind {
    /// Stable name, as JSON errors carry it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::NotFound => "not-found",
            Kind::Invalid => "invalid",
            Kind::Forbidden => "forbidden",
            Kind::Conflict => "conflict",
            Kind::Upstream => "upstream",
            Kind::Internal => "internal",
        }
    }

    /// The HTTP status a server answers with.
    pub fn http_status(self) -> u16 {
        match self {
            Kind::NotFound => 404,
            Kind::Invalid => 400,
            Kind::Forbidden => 403,
            Kind::Conflict => 409,
            Kind::Upstream => 502,
            Kind::Internal => 500,
        }
    }
}

/// A failure: its kind, what happened, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppError {
    /// What kind.
    pub kind: Kind,
    /// What happened.
    pub message: String,
    /// What to do, if there is something.
    pub hint: Option<String>,
}

impl AppError {
    /// An error of `kind`.
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            hint: None,
        }
    }

    /// With a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Bad input, with a message that says what to give instead.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Kind::Invalid, message)
    }

    /// Not allowed for this actor.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(Kind::Forbidden, message)
    }

    /// Nothing by that name or id.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Kind::NotFound, message)
    }

    /// easel itself failed: the error with its causes, in one line.
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        Self::new(Kind::Internal, format!("{:#}", e.into()))
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for AppError {}

impl From<easel_store::StoreError> for AppError {
    fn from(e: easel_store::StoreError) -> Self {
        match e {
            easel_store::StoreError::Invalid(m) => Self::new(Kind::Conflict, m),
            other => Self::new(Kind::Internal, other.to_string()),
        }
    }
}

impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> Self {
        Self::internal(e)
    }
}

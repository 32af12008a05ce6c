//! CLI errors: bad input (exit 2) versus everything else (exit 1).

use std::fmt;

/// How a command ended when it did not fail outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Success,
    /// A run failed, timed out or was refused: exit 1.
    RunFailed,
}

/// A command's error, with its exit code.
#[derive(Debug)]
pub enum CliError {
    /// The user gave something unusable: exit 2. The text says what to do.
    Input(String),
    /// Anything else: exit 1.
    Failed(anyhow::Error),
}

impl CliError {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Input(_) => 2,
            CliError::Failed(_) => 1,
        }
    }

    /// Bad input, with a message that says what to do.
    pub fn input(message: impl Into<String>) -> Self {
        CliError::Input(message.into())
    }

    /// The error as JSON, for commands given `--json` (on standard error):
    /// `{"error":{"kind":"invalid"|"failed","message":...,"exit_code":N}}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"error": {
            "kind": match self { CliError::Input(_) => "invalid", CliError::Failed(_) => "failed" },
            "message": self.to_string(),
            "exit_code": self.exit_code(),
        }})
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Input(m) => f.write_str(m),
            CliError::Failed(e) => write!(f, "{e:#}"),
        }
    }
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        CliError::Failed(e)
    }
}

impl From<easel_store::StoreError> for CliError {
    fn from(e: easel_store::StoreError) -> Self {
        CliError::Failed(e.into())
    }
}

impl From<easel_app::AppError> for CliError {
    /// Bad input, a refusal, a conflict or a missing thing: exit 2 (the
    /// user changes what they give); Canvas or easel failing: exit 1.
    fn from(e: easel_app::AppError) -> Self {
        use easel_app::Kind;
        match e.kind {
            Kind::Internal | Kind::Upstream => CliError::Failed(anyhow::anyhow!(e.to_string())),
            _ => CliError::Input(e.to_string()),
        }
    }
}

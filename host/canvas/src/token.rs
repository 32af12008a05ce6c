//! A Canvas API token in memory, redacted everywhere but the wire.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// A Canvas access token. `Debug` and `Display` print a redaction; the only
/// way to read it is [`Token::bearer_header`], private to this crate.
#[derive(Clone)]
pub struct Token(SecretString);

impl Token {
    /// Wrap a secret read from the vault or a prompt.
    pub fn new(secret: SecretString) -> Self {
        Self(secret)
    }

    /// The secret itself, for the OAuth2 refresh form (to the pinned origin).
    pub(crate) fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The `Authorization` header value, marked sensitive so HTTP libraries
    /// do not log it.
    pub(crate) fn bearer_header(&self) -> Option<http::HeaderValue> {
        let mut value =
            http::HeaderValue::from_str(&format!("Bearer {}", self.0.expose_secret())).ok()?;
        value.set_sensitive(true);
        Some(value)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

//! Canvas API paths as a guest may name them, normalised and checked.
//!
//! Threat: a plugin smuggling a request somewhere the grant does not cover,
//! by an absolute URL, `..` segments, encoded slashes or dots, backslashes,
//! control characters, or a credential in the query string. Every path is
//! parsed once into an [`ApiPath`]; nothing downstream re-parses raw text.

use std::fmt;

/// Maximum length of a path a guest may send.
pub const MAX_PATH_LEN: usize = 2048;

/// Query parameters no plugin may set: they carry or switch credentials.
const FORBIDDEN_PARAMS: &[&str] = &["access_token", "api_key"];

/// One query parameter as the guest sent it.
pub type QueryPair = (String, String);

/// A validated Canvas API path such as `/api/v1/courses/42/sections`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ApiPath {
    segments: Vec<String>,
}

/// Why a path or query was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path does not start with `/api/v1/`.
    #[error("paths must start with /api/v1/ (got {0:?})")]
    NotApiPath(String),
    /// The path is an absolute URL; the host chooses the origin.
    #[error("absolute URLs are not allowed; give the path only, e.g. /api/v1/courses/1")]
    AbsoluteUrl,
    /// The path has a `.` or `..` segment.
    #[error("path segments '.' and '..' are not allowed")]
    DotSegment,
    /// The path has `//` or a trailing `/`.
    #[error("empty path segments are not allowed")]
    EmptySegment,
    /// A percent-encoded slash, backslash or dot.
    #[error("percent-encoded '/', '\\' or '.' is not allowed in a path")]
    EncodedSeparator,
    /// A character a URL would not carry unchanged (whitespace, `\\`,
    /// `?`, `#`, non-ASCII, a stray `%`).
    #[error("character {0:?} is not allowed in a path")]
    BadCharacter(char),
    /// Longer than [`MAX_PATH_LEN`].
    #[error("path longer than {MAX_PATH_LEN} bytes")]
    TooLong,
    /// A query parameter that carries or switches credentials.
    #[error("query parameter {0:?} is not allowed: the host supplies credentials")]
    ForbiddenParam(String),
    /// A control character in a query name or value.
    #[error("control characters are not allowed in query parameters")]
    BadQuery,
    /// A query name or value longer than [`MAX_QUERY_VALUE`].
    #[error("query parameters are limited to {MAX_QUERY_VALUE} bytes")]
    QueryTooLong,
}

impl ApiPath {
    /// Parse and normalise a guest-supplied path.
    pub fn parse(raw: &str) -> Result<Self, PathError> {
        if raw.len() > MAX_PATH_LEN {
            return Err(PathError::TooLong);
        }
        if raw.contains("://") || raw.starts_with("//") {
            return Err(PathError::AbsoluteUrl);
        }
        // Only characters a URL carries unchanged: whatever is decided on
        // is byte for byte what is sent (no trimming, no re-encoding).
        if let Some(c) = raw.chars().find(|c| !allowed_in_path(*c)) {
            return Err(PathError::BadCharacter(c));
        }
        if let Some(bad) = bad_escape(raw) {
            return Err(bad);
        }
        let lower = raw.to_ascii_lowercase();
        if ["%2f", "%5c", "%2e", "%25"]
            .iter()
            .any(|e| lower.contains(e))
        {
            return Err(PathError::EncodedSeparator);
        }
        let rest = raw
            .strip_prefix("/api/v1/")
            .ok_or_else(|| PathError::NotApiPath(raw.chars().take(80).collect()))?;
        let mut segments = vec!["api".to_owned(), "v1".to_owned()];
        for seg in rest.split('/') {
            match seg {
                "" => return Err(PathError::EmptySegment),
                "." | ".." => return Err(PathError::DotSegment),
                s => segments.push(s.to_owned()),
            }
        }
        Ok(Self { segments })
    }

    /// The segments after `/api/v1/`.
    pub fn resource_segments(&self) -> &[String] {
        &self.segments[2..]
    }

    /// The path as sent to Canvas.
    pub fn as_string(&self) -> String {
        let mut s = String::new();
        for seg in &self.segments {
            s.push('/');
            s.push_str(seg);
        }
        s
    }
}

impl fmt::Display for ApiPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_string())
    }
}

impl fmt::Debug for ApiPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiPath({self})")
    }
}

/// Unreserved and sub-delimiter characters, `:`, `@`, `/` and `%` (for
/// escapes). Whitespace, quotes, `?`, `#`, `\\` and non-ASCII are refused.
fn allowed_in_path(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '-' | '.'
                | '_'
                | '~'
                | ':'
                | '@'
                | '!'
                | '$'
                | '&'
                | '\''
                | '('
                | ')'
                | '*'
                | '+'
                | ','
                | ';'
                | '='
                | '/'
                | '%'
        )
}

/// Every `%` must start a two-hex-digit escape.
fn bad_escape(raw: &str) -> Option<PathError> {
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let ok =
                i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit();
            if !ok {
                return Some(PathError::BadCharacter('%'));
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    None
}

/// Longest query parameter name or value a guest may send.
pub const MAX_QUERY_VALUE: usize = 2048;

/// Refuse query parameters that carry credentials, and control characters
/// anywhere in a name or value. (`as_user_id` is checked by the policy:
/// masquerading must be granted.)
pub fn check_query(query: &[QueryPair]) -> Result<(), PathError> {
    for (name, value) in query {
        if name.chars().chain(value.chars()).any(char::is_control) {
            return Err(PathError::BadQuery);
        }
        if name.len() > MAX_QUERY_VALUE || value.len() > MAX_QUERY_VALUE {
            return Err(PathError::QueryTooLong);
        }
        let bare = name.trim().to_ascii_lowercase();
        if FORBIDDEN_PARAMS.contains(&bare.as_str()) {
            return Err(PathError::ForbiddenParam(name.clone()));
        }
    }
    Ok(())
}

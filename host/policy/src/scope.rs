//! Canvas developer-key scopes: `url:<VERB>|<path template>`.
//!
//! easel's grants use Canvas's own scope grammar so admins read one
//! language, and the simulator enforces scoped tokens with the same rules.
//! Matching (shared/CANVAS.md): the request's method (HEAD counts as GET)
//! and its path without the query string, against a regex made from the
//! template: `:param` matches one segment, `*glob` one or more, `(...)` is
//! optional, the whole is anchored, and an optional `.json`-style suffix is
//! allowed.

use std::fmt;

use regex::Regex;

/// A parsed scope.
#[derive(Clone)]
pub struct Scope {
    verb: String,
    template: String,
    pattern: Regex,
}

/// Why a scope string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// Not `url:VERB|/path`.
    #[error("scope {0:?} must look like url:GET|/api/v1/courses/:course_id")]
    Form(String),
    /// An unknown HTTP verb.
    #[error("scope {0:?}: the verb must be GET, POST, PUT, PATCH or DELETE")]
    Verb(String),
    /// Unbalanced parentheses or a bad name.
    #[error("scope {0:?}: {1}")]
    Template(String, String),
}

impl Scope {
    /// Parse `url:GET|/api/v1/courses/:course_id/assignments`.
    pub fn parse(text: &str) -> Result<Self, ScopeError> {
        let rest = text
            .strip_prefix("url:")
            .ok_or_else(|| ScopeError::Form(text.to_owned()))?;
        let (verb, template) = rest
            .split_once('|')
            .ok_or_else(|| ScopeError::Form(text.to_owned()))?;
        if !matches!(verb, "GET" | "POST" | "PUT" | "PATCH" | "DELETE") {
            return Err(ScopeError::Verb(text.to_owned()));
        }
        if !template.starts_with('/') {
            return Err(ScopeError::Form(text.to_owned()));
        }
        let pattern = compile(template).map_err(|m| ScopeError::Template(text.to_owned(), m))?;
        Ok(Self {
            verb: verb.to_owned(),
            template: template.to_owned(),
            pattern,
        })
    }

    /// Does this scope allow `method` on `path` (query string ignored)?
    pub fn matches(&self, method: &str, path: &str) -> bool {
        let method = if method.eq_ignore_ascii_case("HEAD") {
            "GET"
        } else {
            method
        };
        let path = path.split_once('?').map_or(path, |(p, _)| p);
        method.eq_ignore_ascii_case(&self.verb) && self.pattern.is_match(path)
    }

    /// The HTTP verb.
    pub fn verb(&self) -> &str {
        &self.verb
    }

    /// The path template.
    pub fn template(&self) -> &str {
        &self.template
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "url:{}|{}", self.verb, self.template)
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scope({self})")
    }
}

impl PartialEq for Scope {
    fn eq(&self, other: &Self) -> bool {
        self.verb == other.verb && self.template == other.template
    }
}

impl Eq for Scope {}

/// Template → anchored regex.
fn compile(template: &str) -> Result<Regex, String> {
    let mut re = String::from("^");
    let mut depth = 0usize;
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ':' | '*' => {
                let mut name = String::new();
                while let Some(&n) = chars.peek() {
                    if n.is_ascii_alphanumeric() || n == '_' {
                        name.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if name.is_empty() {
                    return Err(format!("'{c}' must be followed by a parameter name"));
                }
                re.push_str(if c == ':' { "[^/]+" } else { ".+" });
            }
            '(' => {
                depth += 1;
                re.push_str("(?:");
            }
            ')' => {
                depth = depth.checked_sub(1).ok_or("unbalanced ')'")?;
                re.push_str(")?");
            }
            other => re.push_str(&regex::escape(&other.to_string())),
        }
    }
    if depth != 0 {
        return Err("unbalanced '('".into());
    }
    re.push_str(r"(?:\.[^/]+)?$");
    Regex::new(&re).map_err(|e| e.to_string())
}

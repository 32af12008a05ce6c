//! Developer-key scopes, judged the way Canvas judges them.
//!
//! A scoped token may call only the endpoints its developer key lists, each
//! written `url:<VERB>|<route path>` (e.g.
//! `url:GET|/api/v1/courses/:course_id/assignments`). Canvas turns each
//! route path into an anchored pattern over the request path (query string
//! excluded):
//!
//! - `:name` matches exactly one path segment (`[^/]+`), so
//!   `sis_course_id:X` fits where `:course_id` stands;
//! - `*name` (a glob) matches one or more characters, slashes included;
//! - `( ... )` is an optional group, as in Rails routes;
//! - every pattern also allows a format suffix (`.json`, `.csv`), as the
//!   `(.:format)` Rails adds to each API route.
//!
//! A `HEAD` request is held to the `GET` scopes. The simulator has its own
//! matcher so a scope failure it reports is Canvas's judgement, never
//! easel's: a bug in easel's grammar cannot hide behind a simulator that
//! shares it. Unlike Canvas, literal characters are escaped, so the `.` of
//! `(.:format)` matches only a dot.

use regex::Regex;

/// The verbs Canvas's API routes use.
const VERBS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

/// One `url:VERB|/path` scope.
#[derive(Debug, Clone)]
pub struct Scope {
    verb: String,
    pattern: Regex,
}

/// Why a scope was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// Not of the form `url:VERB|/path`.
    #[error("scope {0:?} is not of the form url:VERB|/api/v1/...")]
    Form(String),
    /// A verb Canvas's routes do not use.
    #[error("scope {0:?} names an unknown HTTP verb")]
    Verb(String),
    /// Unbalanced parentheses, or a `:`/`*` without a name.
    #[error("scope {0:?} has a malformed route path")]
    Path(String),
}

impl Scope {
    /// Parse `url:VERB|/path`.
    pub fn parse(text: &str) -> Result<Self, ScopeError> {
        let form = || ScopeError::Form(text.to_owned());
        let rest = text.strip_prefix("url:").ok_or_else(form)?;
        let (verb, path) = rest.split_once('|').ok_or_else(form)?;
        if !VERBS.contains(&verb) {
            return Err(ScopeError::Verb(text.to_owned()));
        }
        if !path.starts_with('/') {
            return Err(form());
        }
        let pattern = route_pattern(path).ok_or_else(|| ScopeError::Path(text.to_owned()))?;
        let pattern = Regex::new(&pattern).map_err(|_| ScopeError::Path(text.to_owned()))?;
        Ok(Self {
            verb: verb.to_owned(),
            pattern,
        })
    }

    /// Does a request with this method and path (no query string) fall
    /// within the scope?
    pub fn matches(&self, method: &str, path: &str) -> bool {
        let method = if method.eq_ignore_ascii_case("HEAD") {
            "GET"
        } else {
            method
        };
        method.eq_ignore_ascii_case(&self.verb) && self.pattern.is_match(path)
    }
}

/// The anchored regular expression for a route path, or `None` when the
/// path is malformed.
fn route_pattern(path: &str) -> Option<String> {
    let mut out = String::from("^");
    let mut depth = 0usize;
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ':' | '*' => {
                let mut name = String::new();
                while let Some(&n) = chars.peek() {
                    if n == '/' || n == '(' || n == ')' || n == '.' {
                        break;
                    }
                    name.push(n);
                    chars.next();
                }
                if name.is_empty() {
                    return None;
                }
                out.push_str(if c == ':' { "[^/]+" } else { ".+" });
            }
            '(' => {
                depth += 1;
                out.push_str("(?:");
            }
            ')' => {
                depth = depth.checked_sub(1)?;
                out.push_str("|)");
            }
            other => out.push_str(&regex::escape(other.encode_utf8(&mut [0; 4]))),
        }
    }
    if depth != 0 {
        return None;
    }
    out.push_str(r"(?:\.[^/]+|)$");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(scope: &str, method: &str, path: &str) -> bool {
        Scope::parse(scope)
            .unwrap_or_else(|e| unreachable!("{scope}: {e}"))
            .matches(method, path)
    }

    /// (scope, method, path, allowed): Canvas's documented examples and the
    /// route forms its scopes are generated from.
    const CASES: &[(&str, &str, &str, bool)] = &[
        // The developer-key documentation's example scope.
        (
            "url:GET|/api/v1/courses/:course_id/assignments",
            "GET",
            "/api/v1/courses/1/assignments",
            true,
        ),
        (
            "url:GET|/api/v1/courses/:course_id/assignments",
            "GET",
            "/api/v1/courses/sis_course_id:MATH-101/assignments",
            true,
        ),
        (
            "url:GET|/api/v1/courses/:course_id/assignments",
            "GET",
            "/api/v1/courses/1/assignments.json",
            true,
        ),
        (
            "url:GET|/api/v1/courses/:course_id/assignments",
            "HEAD",
            "/api/v1/courses/1/assignments",
            true,
        ),
        (
            "url:GET|/api/v1/courses/:course_id/assignments",
            "get",
            "/api/v1/courses/1/assignments",
            true,
        ),
        (
            "url:GET|/api/v1/courses/:course_id/assignments",
            "POST",
            "/api/v1/courses/1/assignments",
            false,
        ),
        (
            "url:GET|/api/v1/courses/:course_id/assignments",
            "GET",
            "/api/v1/courses/1/assignments/2",
            false,
        ),
        (
            "url:GET|/api/v1/courses/:course_id/assignments",
            "GET",
            "/api/v1/courses/1/2/assignments",
            false,
        ),
        (
            "url:GET|/api/v1/courses/:course_id/assignments",
            "GET",
            "/api/v1/courses//assignments",
            false,
        ),
        (
            "url:GET|/api/v1/courses/:course_id/assignments",
            "GET",
            "/api/v1/courses/1/assignments/",
            false,
        ),
        (
            "url:GET|/api/v1/courses/:course_id/assignments",
            "GET",
            "/prefix/api/v1/courses/1/assignments",
            false,
        ),
        (
            "url:GET|/api/v1/courses/:course_id/assignments",
            "GET",
            "/api/v1/courses/1/assignmentsX",
            false,
        ),
        // Two parameters, each one segment.
        (
            "url:PUT|/api/v1/courses/:course_id/assignments/:assignment_id/submissions/:user_id",
            "PUT",
            "/api/v1/courses/1/assignments/2/submissions/sis_user_id:S1",
            true,
        ),
        (
            "url:PUT|/api/v1/courses/:course_id/assignments/:assignment_id/submissions/:user_id",
            "PUT",
            "/api/v1/courses/1/assignments/2/submissions",
            false,
        ),
        // A literal segment is matched literally.
        (
            "url:GET|/api/v1/users/:user_id/page_views",
            "GET",
            "/api/v1/users/self/page_views",
            true,
        ),
        (
            "url:GET|/api/v1/users/:user_id/page_views",
            "GET",
            "/api/v1/users/self/page-views",
            false,
        ),
        // A glob spans segments.
        (
            "url:GET|/api/v1/courses/:course_id/folders/by_path/*full_path",
            "GET",
            "/api/v1/courses/1/folders/by_path/a/b/c",
            true,
        ),
        (
            "url:GET|/api/v1/courses/:course_id/folders/by_path/*full_path",
            "GET",
            "/api/v1/courses/1/folders/by_path/",
            false,
        ),
        // An optional group may be present or absent.
        (
            "url:GET|/api/v1/courses/:course_id/folders/by_path(/*full_path)",
            "GET",
            "/api/v1/courses/1/folders/by_path",
            true,
        ),
        (
            "url:GET|/api/v1/courses/:course_id/folders/by_path(/*full_path)",
            "GET",
            "/api/v1/courses/1/folders/by_path/a/b",
            true,
        ),
        // An explicit format group behaves like the implicit one.
        (
            "url:GET|/api/v1/accounts/:account_id/terms(.:format)",
            "GET",
            "/api/v1/accounts/1/terms.json",
            true,
        ),
        (
            "url:GET|/api/v1/accounts/:account_id/terms(.:format)",
            "GET",
            "/api/v1/accounts/1/termsXjson",
            false,
        ),
        // Write verbs are separate scopes.
        (
            "url:POST|/api/v1/accounts/:account_id/sis_imports",
            "POST",
            "/api/v1/accounts/1/sis_imports",
            true,
        ),
        (
            "url:POST|/api/v1/accounts/:account_id/sis_imports",
            "GET",
            "/api/v1/accounts/1/sis_imports",
            false,
        ),
        (
            "url:DELETE|/api/v1/courses/:course_id/enrollments/:id",
            "DELETE",
            "/api/v1/courses/1/enrollments/9",
            true,
        ),
    ];

    #[test]
    fn each_documented_case_is_judged_as_canvas_judges_it() {
        for (scope, method, path, want) in CASES {
            assert_eq!(
                allows(scope, method, path),
                *want,
                "{scope} on {method} {path}"
            );
        }
    }

    #[test]
    fn a_scope_not_of_the_url_verb_path_form_is_refused() {
        for (text, want) in [
            (
                "GET|/api/v1/courses",
                ScopeError::Form("GET|/api/v1/courses".into()),
            ),
            (
                "url:GET/api/v1/courses",
                ScopeError::Form("url:GET/api/v1/courses".into()),
            ),
            (
                "url:GET|api/v1/courses",
                ScopeError::Form("url:GET|api/v1/courses".into()),
            ),
            (
                "url:FETCH|/api/v1/courses",
                ScopeError::Verb("url:FETCH|/api/v1/courses".into()),
            ),
            (
                "url:GET|/api/v1/courses/:",
                ScopeError::Path("url:GET|/api/v1/courses/:".into()),
            ),
            (
                "url:GET|/api/v1/files(/*path",
                ScopeError::Path("url:GET|/api/v1/files(/*path".into()),
            ),
            (
                "url:GET|/api/v1/files)",
                ScopeError::Path("url:GET|/api/v1/files)".into()),
            ),
        ] {
            assert_eq!(Scope::parse(text).err(), Some(want), "{text}");
        }
    }

    #[test]
    fn regular_expression_characters_in_a_path_are_literal() {
        assert!(allows("url:GET|/api/v1/a+b", "GET", "/api/v1/a+b"));
        assert!(!allows("url:GET|/api/v1/a+b", "GET", "/api/v1/aab"));
    }
}

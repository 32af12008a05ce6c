//! Canvas scope matching, case by case (shared/CANVAS.md).
#![allow(clippy::expect_used, clippy::panic)] // test code fails loudly

use easel_policy::{Scope, ScopeError};

#[rustfmt::skip]
const CASES: &[(&str, &str, &str, bool)] = &[
    // scope, method, path, allowed
    ("url:GET|/api/v1/courses/:course_id/assignments", "GET", "/api/v1/courses/12/assignments", true),
    ("url:GET|/api/v1/courses/:course_id/assignments", "HEAD", "/api/v1/courses/12/assignments", true),
    ("url:GET|/api/v1/courses/:course_id/assignments", "POST", "/api/v1/courses/12/assignments", false),
    ("url:GET|/api/v1/courses/:course_id/assignments", "GET", "/api/v1/courses/12/assignments?page=2&per_page=100", true),
    ("url:GET|/api/v1/courses/:course_id/assignments", "GET", "/api/v1/courses/12/assignments.json", true),
    ("url:GET|/api/v1/courses/:course_id/assignments", "GET", "/api/v1/courses/sis_course_id:MATH-1/assignments", true),
    ("url:GET|/api/v1/courses/:course_id/assignments", "GET", "/api/v1/courses/12/assignments/5", false),
    ("url:GET|/api/v1/courses/:course_id/assignments", "GET", "/api/v1/courses/12/13/assignments", false),
    ("url:GET|/api/v1/courses/:course_id/assignments", "GET", "/api/v1/courses//assignments", false),
    ("url:GET|/api/v1/courses/:course_id/assignments", "GET", "/prefix/api/v1/courses/12/assignments", false),
    ("url:GET|/api/v1/courses/:course_id/assignments", "get", "/api/v1/courses/12/assignments", true),
    ("url:GET|/api/v1/courses/:course_id/assignments(/:id)", "GET", "/api/v1/courses/12/assignments", true),
    ("url:GET|/api/v1/courses/:course_id/assignments(/:id)", "GET", "/api/v1/courses/12/assignments/7", true),
    ("url:GET|/api/v1/courses/:course_id/assignments(/:id)", "GET", "/api/v1/courses/12/assignments/7/x", false),
    ("url:GET|/api/v1/files/*path", "GET", "/api/v1/files/a/b/c.pdf", true),
    ("url:GET|/api/v1/files/*path", "GET", "/api/v1/files/", false),
    ("url:PUT|/api/v1/courses/:id", "PUT", "/api/v1/courses/5", true),
    ("url:PUT|/api/v1/courses/:id", "PUT", "/api/v1/courses/5/enrollments", false),
    ("url:DELETE|/api/v1/courses/:course_id/enrollments/:id", "DELETE", "/api/v1/courses/5/enrollments/9", true),
    ("url:GET|/api/v1/users/:user_id/page_views", "GET", "/api/v1/users/self/page_views", true),
    ("url:GET|/api/v1/accounts/:account_id/courses", "GET", "/api/v1/accounts/1/courses.csv", true),
    ("url:GET|/api/v1/accounts/:account_id/courses", "GET", "/api/v1/accounts/1/courses.json/x", false),
];

#[test]
fn every_scope_case_matches_as_canvas_does() {
    let mut failures = Vec::new();
    for (scope, method, path, expected) in CASES {
        let s = Scope::parse(scope).expect("valid scope");
        if s.matches(method, path) != *expected {
            failures.push(format!("{scope} {method} {path}: expected {expected}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn malformed_scopes_are_refused() {
    assert!(matches!(
        Scope::parse("GET|/api/v1/x"),
        Err(ScopeError::Form(_))
    ));
    assert!(matches!(
        Scope::parse("url:FETCH|/api/v1/x"),
        Err(ScopeError::Verb(_))
    ));
    assert!(matches!(
        Scope::parse("url:GET|api/v1/x"),
        Err(ScopeError::Form(_))
    ));
    assert!(matches!(
        Scope::parse("url:GET|/api/v1/x(/:id"),
        Err(ScopeError::Template(..))
    ));
    assert!(matches!(
        Scope::parse("url:GET|/api/v1/x/:"),
        Err(ScopeError::Template(..))
    ));
}

#[test]
fn a_scope_prints_as_it_was_written() {
    let s = Scope::parse("url:GET|/api/v1/courses/:course_id").expect("valid scope");
    assert_eq!(s.to_string(), "url:GET|/api/v1/courses/:course_id");
}

//! Table-driven tests of the foundation policy: each row is one call, its
//! resolved targets, and the expected rule (or allow).

#![allow(clippy::expect_used, clippy::panic)] // test code fails loudly

use easel_policy::{Decision, Grant, Method, ObjectKey, ObjectKind, Operation, Rule, decide};

/// School 10 has sub-account 11; school 20 is another school; 1 is the root.
fn grant(write: bool) -> Grant {
    Grant {
        schools: vec![10],
        write,
        max_calls: 100,
    }
}

/// Stand-in for the host's directory: where each object lives.
fn chain_of(kind: ObjectKind, key: &ObjectKey) -> Option<Vec<u64>> {
    match (kind, key) {
        (ObjectKind::Account, ObjectKey::Id(10)) => Some(vec![10, 1]),
        (ObjectKind::Account, ObjectKey::Id(11)) => Some(vec![11, 10, 1]),
        (ObjectKind::Account, ObjectKey::Id(20)) => Some(vec![20, 1]),
        (ObjectKind::Account, ObjectKey::Id(1)) => Some(vec![1]),
        (ObjectKind::Course, ObjectKey::Id(100)) => Some(vec![10, 1]),
        (ObjectKind::Course, ObjectKey::Id(110)) => Some(vec![11, 10, 1]),
        (ObjectKind::Course, ObjectKey::Id(200)) => Some(vec![20, 1]),
        (ObjectKind::Course, ObjectKey::Sis(_, v)) if v == "MATH-10" => Some(vec![10, 1]),
        (ObjectKind::Course, ObjectKey::Sis(_, v)) if v == "MATH-20" => Some(vec![20, 1]),
        _ => None,
    }
}

fn check(
    grant: &Grant,
    method: Method,
    path: &str,
    query: &[(&str, &str)],
    body: Option<&str>,
    seq: u32,
) -> Result<(), Rule> {
    let query = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let body: Option<serde_json::Value> = body.map(|b| {
        serde_json::from_str(b).unwrap_or_else(|e| panic!("test body {b} is not JSON: {e}"))
    });
    let mut op = match Operation::new(method, path, query, body.as_ref(), seq) {
        Ok(op) => op,
        Err(_) => return Err(Rule::PathForm),
    };
    for t in &mut op.targets {
        t.chain = chain_of(t.object.kind, &t.object.key);
    }
    match decide(grant, &op) {
        Decision::Allow => Ok(()),
        Decision::Deny(d) => Err(d.rule),
    }
}

use Method::{Delete, Get, Post, Put};

/// (name, write granted, method, path, query, body, expected denial)
type Case = (
    &'static str,
    bool,
    Method,
    &'static str,
    &'static [(&'static str, &'static str)],
    Option<&'static str>,
    Option<Rule>,
);

#[rustfmt::skip]
const CASES: &[Case] = &[
    // name, write granted, method, path, query, body, expected denial
    ("the_school_account_itself_is_allowed", false, Get, "/api/v1/accounts/10", &[], None, None),
    ("courses_of_the_school_are_allowed", false, Get, "/api/v1/accounts/10/courses", &[("per_page", "100")], None, None),
    ("a_sub_account_of_the_school_is_allowed", false, Get, "/api/v1/accounts/11/courses", &[], None, None),
    ("a_course_in_the_school_is_allowed", false, Get, "/api/v1/courses/100/sections", &[], None, None),
    ("a_course_in_a_sub_account_is_allowed", false, Get, "/api/v1/courses/110/enrollments", &[], None, None),
    ("a_course_by_sis_id_in_the_school_is_allowed", false, Get, "/api/v1/courses/sis_course_id:MATH-10", &[], None, None),
    ("another_school_account_is_denied", false, Get, "/api/v1/accounts/20/courses", &[], None, Some(Rule::SchoolBoundary)),
    ("the_root_account_is_denied", false, Get, "/api/v1/accounts/1/sub_accounts", &[], None, Some(Rule::SchoolBoundary)),
    ("a_course_in_another_school_is_denied", false, Get, "/api/v1/courses/200", &[], None, Some(Rule::SchoolBoundary)),
    ("a_course_by_sis_id_in_another_school_is_denied", false, Get, "/api/v1/courses/sis_course_id:MATH-20", &[], None, Some(Rule::SchoolBoundary)),
    ("an_unknown_course_is_denied", false, Get, "/api/v1/courses/999", &[], None, Some(Rule::SchoolBoundary)),
    ("accounts_self_is_denied", false, Get, "/api/v1/accounts/self", &[], None, Some(Rule::SchoolBoundary)),
    ("a_course_named_by_uuid_is_denied", false, Get, "/api/v1/courses/uuid:abc", &[], None, Some(Rule::SchoolBoundary)),
    ("an_endpoint_outside_accounts_and_courses_is_denied", false, Get, "/api/v1/users/5", &[], None, Some(Rule::UnscopedEndpoint)),
    ("a_bare_collection_is_denied", false, Get, "/api/v1/courses", &[], None, Some(Rule::UnscopedEndpoint)),
    ("a_write_without_write_access_is_denied", false, Put, "/api/v1/courses/100", &[], Some(r#"{"course":{"event":"offer"}}"#), Some(Rule::WriteNotGranted)),
    ("a_write_with_write_access_is_allowed", true, Put, "/api/v1/courses/100", &[], Some(r#"{"course":{"event":"offer"}}"#), None),
    ("a_delete_in_another_school_is_denied", true, Delete, "/api/v1/courses/200", &[("event", "conclude")], None, Some(Rule::SchoolBoundary)),
    ("a_foreign_course_in_the_query_is_denied", true, Put, "/api/v1/accounts/10/courses", &[("course_ids[]", "100"), ("course_ids[]", "200")], None, Some(Rule::SchoolBoundary)),
    ("own_courses_in_the_query_are_allowed", true, Put, "/api/v1/accounts/10/courses", &[("course_ids[]", "100"), ("event", "offer")], None, None),
    ("a_foreign_account_in_the_body_is_denied", true, Post, "/api/v1/accounts/10/courses", &[], Some(r#"{"course":{"name":"x","account_id":20}}"#), Some(Rule::SchoolBoundary)),
    ("a_foreign_course_nested_in_the_body_is_denied", true, Post, "/api/v1/courses/100/enrollments", &[], Some(r#"{"enrollment":{"x":[{"course_id":"200"}]}}"#), Some(Rule::SchoolBoundary)),
    ("a_relative_path_is_refused", false, Get, "api/v1/accounts/10", &[], None, Some(Rule::PathForm)),
    ("an_absolute_url_is_refused", false, Get, "https://evil.example/api/v1/accounts/10", &[], None, Some(Rule::PathForm)),
    ("a_dot_dot_segment_is_refused", false, Get, "/api/v1/accounts/10/../20", &[], None, Some(Rule::PathForm)),
    ("a_dot_segment_is_refused", false, Get, "/api/v1/accounts/./10", &[], None, Some(Rule::PathForm)),
    ("an_empty_segment_is_refused", false, Get, "/api/v1/accounts//10", &[], None, Some(Rule::PathForm)),
    ("an_encoded_slash_is_refused", false, Get, "/api/v1/accounts/10%2F..%2F20", &[], None, Some(Rule::PathForm)),
    ("an_encoded_dot_is_refused", false, Get, "/api/v1/accounts/10/%2e%2e/20", &[], None, Some(Rule::PathForm)),
    ("a_double_encoded_slash_is_refused", false, Get, "/api/v1/accounts/10%252F20", &[], None, Some(Rule::PathForm)),
    ("a_backslash_is_refused", false, Get, "/api/v1/accounts/10\\..\\20", &[], None, Some(Rule::PathForm)),
    ("a_control_character_is_refused", false, Get, "/api/v1/accounts/10\r\nHost: evil", &[], None, Some(Rule::PathForm)),
    ("a_query_string_in_the_path_is_refused", false, Get, "/api/v1/accounts/10?as_user_id=1", &[], None, Some(Rule::PathForm)),
    ("an_access_token_parameter_is_refused", false, Get, "/api/v1/accounts/10", &[("access_token", "x")], None, Some(Rule::PathForm)),
    ("an_api_key_parameter_is_refused", false, Get, "/api/v1/accounts/10", &[("API_KEY", "x")], None, Some(Rule::PathForm)),
    ("masquerading_is_refused", false, Get, "/api/v1/accounts/10", &[("as_user_id", "5")], None, Some(Rule::PathForm)),
    ("a_control_character_in_a_query_value_is_refused", false, Get, "/api/v1/accounts/10", &[("search_term", "a\nb")], None, Some(Rule::PathForm)),
    ("a_protocol_relative_url_is_refused", false, Get, "//evil.example/api/v1/accounts/10", &[], None, Some(Rule::PathForm)),
];

#[test]
fn every_policy_case_decides_as_expected() {
    let mut failures = Vec::new();
    for (name, write, method, path, query, body, expected) in CASES {
        let got = check(&grant(*write), *method, path, query, *body, 1).err();
        if got != *expected {
            failures.push(format!("{name}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn an_empty_grant_denies_everything() {
    let g = Grant::deny_all();
    assert_eq!(
        check(&g, Get, "/api/v1/accounts/10", &[], None, 1),
        Err(Rule::EmptyGrant)
    );
}

#[test]
fn the_call_after_the_budget_is_denied() {
    let g = grant(false);
    assert_eq!(
        check(&g, Get, "/api/v1/accounts/10", &[], None, 100),
        Ok(())
    );
    assert_eq!(
        check(&g, Get, "/api/v1/accounts/10", &[], None, 101),
        Err(Rule::CallBudget)
    );
}

#[test]
fn a_denial_names_the_object_and_the_schools() {
    let mut op = Operation::new(Get, "/api/v1/courses/200", vec![], None, 1).expect("valid path");
    op.targets[0].chain = Some(vec![20, 1]);
    match decide(&grant(false), &op) {
        Decision::Deny(d) => {
            assert_eq!(d.rule, Rule::SchoolBoundary);
            assert!(d.reason.contains("course 200"), "{}", d.reason);
            assert!(d.reason.contains("[10]"), "{}", d.reason);
        }
        Decision::Allow => panic!("foreign course allowed"),
    }
}

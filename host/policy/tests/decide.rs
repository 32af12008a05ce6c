//! Table-driven tests of the policy: each row is a grant, one call (its
//! resolved targets come from a stand-in directory), and the expected rule
//! (or allow).

#![allow(clippy::expect_used, clippy::panic)] // test code fails loudly

use easel_policy::{
    Decision, Found, Grant, Method, ObjectKey, ObjectKind, Operation, Rule, Scope, SharedUsers,
    decide,
};

/// School 10 has sub-account 11; school 20 is another school; 1 is the root.
/// School 10's grant; its SIS ids start with `S10-` (the host puts the
/// school's prefix in every write grant).
fn grant(write: bool) -> Grant {
    Grant {
        sis_id_prefix: Some("S10-".into()),
        ..Grant::new(vec![10], write, 100)
    }
}

/// The grants the table uses.
#[derive(Debug, Clone, Copy)]
enum G {
    /// Read only.
    R,
    /// Read and write.
    W,
    /// Read and write, masquerading allowed.
    Masq,
    /// Read and write, only the scopes in `scoped()`.
    Scoped,
    /// Read and write, at most 2 writes per run.
    TwoWrites,
    /// Read and write, user-level reads of shared users allowed.
    SharedRead,
    /// Read and write, SIS imports allowed, school 10's SIS ids start
    /// with `S10-`.
    Sis,
    /// Read and write, SIS imports allowed, no SIS-id prefix set.
    SisNoPrefix,
}

fn scoped() -> Vec<Scope> {
    [
        "url:GET|/api/v1/accounts/:account_id/courses",
        "url:GET|/api/v1/courses/:id",
        "url:PUT|/api/v1/courses/:id",
        "url:GET|/api/v1/courses/:course_id/enrollments",
    ]
    .iter()
    .map(|s| Scope::parse(s).expect("scope parses"))
    .collect()
}

fn make(g: G) -> Grant {
    match g {
        G::R => grant(false),
        G::W => grant(true),
        G::Masq => Grant {
            masquerade: true,
            ..grant(true)
        },
        G::Scoped => Grant {
            scopes: Some(scoped()),
            ..grant(true)
        },
        G::TwoWrites => Grant {
            max_writes: Some(2),
            ..grant(true)
        },
        G::SharedRead => Grant {
            shared_users: SharedUsers::Read,
            masquerade: true,
            ..grant(true)
        },
        G::Sis => Grant {
            sis_import: true,
            sis_id_prefix: Some("S10-".into()),
            ..grant(true)
        },
        G::SisNoPrefix => Grant {
            sis_import: true,
            sis_id_prefix: None,
            ..grant(true)
        },
    }
}

/// Stand-in for what the host finds about an object outside the school:
/// account 1 is the root; `S10-NEW-1`, `S10-SEC-NEW`, `S10-new-user`,
/// `new-elsewhere` and the login `new@x` do not exist yet, nor seems
/// `DEL-20` (another school's deleted course: Canvas answers 404 for it,
/// and its importer would restore it); `lonely` is a user with no enrollment (who
/// may be an admin of another school, so is never taken for new).
fn found_of(kind: ObjectKind, key: &ObjectKey) -> Found {
    match (kind, key) {
        (ObjectKind::Account, ObjectKey::Id(1)) => Found::Root,
        (ObjectKind::Course, ObjectKey::Sis(_, v)) if v == "S10-NEW-1" || v == "DEL-20" => {
            Found::Missing
        }
        (ObjectKind::Section, ObjectKey::Sis(_, v)) if v == "S10-SEC-NEW" => Found::Missing,
        (ObjectKind::User, ObjectKey::Sis(_, v))
            if v == "S10-new-user" || v == "new-elsewhere" || v == "new@x" =>
        {
            Found::Missing
        }
        (ObjectKind::User, ObjectKey::Sis(_, v)) if v == "lonely" => Found::Unenrolled,
        _ => Found::Unknown,
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
        // In school 10's SIS-id prefix, but put in school 20 by an admin.
        (ObjectKind::Course, ObjectKey::Sis(_, v)) if v == "S10-TAKEN" => Some(vec![20, 1]),
        (ObjectKind::Account, ObjectKey::Sis(_, v)) if v == "SCH10" => Some(vec![10, 1]),
        (ObjectKind::Account, ObjectKey::Sis(_, v)) if v == "SCH20" => Some(vec![20, 1]),
        // Sections 1000 (school 10) and 2000 (school 20).
        (ObjectKind::Section, ObjectKey::Id(1000)) => Some(vec![10, 1]),
        (ObjectKind::Section, ObjectKey::Id(2000)) => Some(vec![20, 1]),
        (ObjectKind::Section, ObjectKey::Sis(_, v)) if v == "S-10" => Some(vec![10, 1]),
        (ObjectKind::Section, ObjectKey::Sis(_, v)) if v == "S-20" => Some(vec![20, 1]),
        // Users placed by their enrollments: 5 in school 10, 6 in school 20.
        (ObjectKind::User, ObjectKey::Id(5)) => Some(vec![10, 1]),
        (ObjectKind::User, ObjectKey::Id(6)) => Some(vec![20, 1]),
        // User 9 is enrolled in both schools.
        (ObjectKind::User, ObjectKey::Id(9)) => Some(vec![10, 1]),
        (ObjectKind::User, ObjectKey::Sis(_, v)) if v == "stu-10" => Some(vec![10, 1]),
        (ObjectKind::User, ObjectKey::Sis(_, v)) if v == "stu-20" => Some(vec![20, 1]),
        (ObjectKind::User, ObjectKey::Sis(p, v)) if p == "sis_login_id" && v == "stu10@x" => {
            Some(vec![10, 1])
        }
        (ObjectKind::User, ObjectKey::Sis(p, v)) if p == "sis_login_id" && v == "stu20@x" => {
            Some(vec![20, 1])
        }
        (ObjectKind::Enrollment, ObjectKey::Id(7000)) => Some(vec![10, 1]),
        (ObjectKind::Enrollment, ObjectKey::Id(8000)) => Some(vec![20, 1]),
        (ObjectKind::Assignment, ObjectKey::Id(300)) => Some(vec![10, 1]),
        (ObjectKind::Assignment, ObjectKey::Id(400)) => Some(vec![20, 1]),
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
    check_writes(grant, method, path, query, body, seq, 1)
}

fn check_writes(
    grant: &Grant,
    method: Method,
    path: &str,
    query: &[(&str, &str)],
    body: Option<&str>,
    seq: u32,
    write_seq: u32,
) -> Result<(), Rule> {
    let query = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut op = Operation::from_text(method, path, query, body, seq).map_err(|d| d.rule)?;
    if method.is_write() {
        op.write_seq = write_seq;
    }
    // The host's record of the SIS imports this run created.
    op.own_import = path.ends_with("/sis_imports/77");
    for t in &mut op.targets {
        t.chain = chain_of(t.object.kind, &t.object.key);
        t.found = found_of(t.object.kind, &t.object.key);
        t.shared = t.object.kind == ObjectKind::User && t.object.key == ObjectKey::Id(9);
    }
    match decide(grant, &op) {
        Decision::Allow => Ok(()),
        Decision::Deny(d) => Err(d.rule),
    }
}

use Method::{Delete, Get, Post, Put};

/// (name, grant, method, path, query, body, expected denial)
type Case = (
    &'static str,
    G,
    Method,
    &'static str,
    &'static [(&'static str, &'static str)],
    Option<&'static str>,
    Option<Rule>,
);

#[rustfmt::skip]
/// A SIS import's query: a CSV file sent as the body.
const CSV_Q: &[(&str, &str)] = &[("import_type", "instructure_csv"), ("extension", "csv")];

/// Enrollments of school 10's user in school 10's course.
const ENROL_OWN: &str = "course_id,user_id,role,status\nMATH-10,stu-10,student,active\n";

const CASES: &[Case] = &[
    // name, grant, method, path, query, body, expected denial
    (
        "the_school_account_itself_is_allowed",
        G::R,
        Get,
        "/api/v1/accounts/10",
        &[],
        None,
        None,
    ),
    (
        "courses_of_the_school_are_allowed",
        G::R,
        Get,
        "/api/v1/accounts/10/courses",
        &[("per_page", "100")],
        None,
        None,
    ),
    (
        "a_sub_account_of_the_school_is_allowed",
        G::R,
        Get,
        "/api/v1/accounts/11/courses",
        &[],
        None,
        None,
    ),
    (
        "a_course_in_the_school_is_allowed",
        G::R,
        Get,
        "/api/v1/courses/100/sections",
        &[],
        None,
        None,
    ),
    (
        "a_course_in_a_sub_account_is_allowed",
        G::R,
        Get,
        "/api/v1/courses/110/enrollments",
        &[],
        None,
        None,
    ),
    (
        "a_course_by_sis_id_in_the_school_is_allowed",
        G::R,
        Get,
        "/api/v1/courses/sis_course_id:MATH-10",
        &[],
        None,
        None,
    ),
    (
        "another_school_account_is_denied",
        G::R,
        Get,
        "/api/v1/accounts/20/courses",
        &[],
        None,
        Some(Rule::SchoolBoundary),
    ),
    (
        "the_root_account_is_denied",
        G::R,
        Get,
        "/api/v1/accounts/1/sub_accounts",
        &[],
        None,
        Some(Rule::SchoolBoundary),
    ),
    (
        "a_course_in_another_school_is_denied",
        G::R,
        Get,
        "/api/v1/courses/200",
        &[],
        None,
        Some(Rule::SchoolBoundary),
    ),
    (
        "a_course_by_sis_id_in_another_school_is_denied",
        G::R,
        Get,
        "/api/v1/courses/sis_course_id:MATH-20",
        &[],
        None,
        Some(Rule::SchoolBoundary),
    ),
    (
        "an_unknown_course_is_denied",
        G::R,
        Get,
        "/api/v1/courses/999",
        &[],
        None,
        Some(Rule::SchoolBoundary),
    ),
    (
        "accounts_self_is_denied",
        G::R,
        Get,
        "/api/v1/accounts/self",
        &[],
        None,
        Some(Rule::SchoolBoundary),
    ),
    (
        "a_course_named_by_uuid_is_denied",
        G::R,
        Get,
        "/api/v1/courses/uuid:abc",
        &[],
        None,
        Some(Rule::SchoolBoundary),
    ),
    (
        "an_endpoint_outside_schools_is_denied",
        G::R,
        Get,
        "/api/v1/announcements",
        &[("context_codes[]", "course_100")],
        None,
        Some(Rule::UnmodelledEndpoint),
    ),
    (
        "a_bare_collection_is_denied",
        G::R,
        Get,
        "/api/v1/courses",
        &[],
        None,
        Some(Rule::UnmodelledEndpoint),
    ),
    (
        "a_write_without_write_access_is_denied",
        G::R,
        Put,
        "/api/v1/courses/100",
        &[],
        Some(r#"{"course":{"event":"offer"}}"#),
        Some(Rule::WriteNotGranted),
    ),
    (
        "a_write_with_write_access_is_allowed",
        G::W,
        Put,
        "/api/v1/courses/100",
        &[],
        Some(r#"{"course":{"event":"offer"}}"#),
        None,
    ),
    (
        "a_delete_in_another_school_is_denied",
        G::W,
        Delete,
        "/api/v1/courses/200",
        &[("event", "conclude")],
        None,
        Some(Rule::SchoolBoundary),
    ),
    (
        "a_foreign_course_in_the_query_is_denied",
        G::W,
        Put,
        "/api/v1/accounts/10/courses",
        &[("course_ids[]", "100"), ("course_ids[]", "200")],
        None,
        Some(Rule::SchoolBoundary),
    ),
    (
        "own_courses_in_the_query_are_allowed",
        G::W,
        Put,
        "/api/v1/accounts/10/courses",
        &[("course_ids[]", "100"), ("event", "offer")],
        None,
        None,
    ),
    (
        "a_foreign_account_in_the_body_is_denied",
        G::W,
        Post,
        "/api/v1/accounts/10/courses",
        &[],
        Some(r#"{"course":{"name":"x","account_id":20}}"#),
        Some(Rule::SchoolBoundary),
    ),
    (
        "a_course_id_nested_where_no_endpoint_takes_one_is_denied",
        G::W,
        Post,
        "/api/v1/courses/100/enrollments",
        &[],
        Some(r#"{"enrollment":{"x":[{"course_id":"200"}]}}"#),
        Some(Rule::UnmodelledField),
    ),
    (
        "a_relative_path_is_refused",
        G::R,
        Get,
        "api/v1/accounts/10",
        &[],
        None,
        Some(Rule::PathForm),
    ),
    (
        "an_absolute_url_is_refused",
        G::R,
        Get,
        "https://evil.example/api/v1/accounts/10",
        &[],
        None,
        Some(Rule::PathForm),
    ),
    (
        "a_dot_dot_segment_is_refused",
        G::R,
        Get,
        "/api/v1/accounts/10/../20",
        &[],
        None,
        Some(Rule::PathForm),
    ),
    (
        "a_dot_segment_is_refused",
        G::R,
        Get,
        "/api/v1/accounts/./10",
        &[],
        None,
        Some(Rule::PathForm),
    ),
    (
        "an_empty_segment_is_refused",
        G::R,
        Get,
        "/api/v1/accounts//10",
        &[],
        None,
        Some(Rule::PathForm),
    ),
    (
        "an_encoded_slash_is_refused",
        G::R,
        Get,
        "/api/v1/accounts/10%2F..%2F20",
        &[],
        None,
        Some(Rule::PathForm),
    ),
    (
        "an_encoded_dot_is_refused",
        G::R,
        Get,
        "/api/v1/accounts/10/%2e%2e/20",
        &[],
        None,
        Some(Rule::PathForm),
    ),
    (
        "a_double_encoded_slash_is_refused",
        G::R,
        Get,
        "/api/v1/accounts/10%252F20",
        &[],
        None,
        Some(Rule::PathForm),
    ),
    (
        "a_backslash_is_refused",
        G::R,
        Get,
        "/api/v1/accounts/10\\..\\20",
        &[],
        None,
        Some(Rule::PathForm),
    ),
    (
        "a_control_character_is_refused",
        G::R,
        Get,
        "/api/v1/accounts/10\r\nHost: evil",
        &[],
        None,
        Some(Rule::PathForm),
    ),
    (
        "a_query_string_in_the_path_is_refused",
        G::R,
        Get,
        "/api/v1/accounts/10?as_user_id=1",
        &[],
        None,
        Some(Rule::PathForm),
    ),
    (
        "an_access_token_parameter_is_refused",
        G::R,
        Get,
        "/api/v1/accounts/10",
        &[("access_token", "x")],
        None,
        Some(Rule::PathForm),
    ),
    (
        "an_api_key_parameter_is_refused",
        G::R,
        Get,
        "/api/v1/accounts/10",
        &[("API_KEY", "x")],
        None,
        Some(Rule::PathForm),
    ),
    (
        "masquerading_without_the_grant_is_refused",
        G::R,
        Get,
        "/api/v1/accounts/10",
        &[("as_user_id", "5")],
        None,
        Some(Rule::MasqueradeNotGranted),
    ),
    (
        "a_control_character_in_a_query_value_is_refused",
        G::R,
        Get,
        "/api/v1/accounts/10",
        &[("search_term", "a\nb")],
        None,
        Some(Rule::PathForm),
    ),
    (
        "a_protocol_relative_url_is_refused",
        G::R,
        Get,
        "//evil.example/api/v1/accounts/10",
        &[],
        None,
        Some(Rule::PathForm),
    ),
    // Sections, users, enrollments and assignments, by id and SIS id.
    (
        "a_section_in_the_school_is_allowed",
        G::R,
        Get,
        "/api/v1/sections/1000",
        &[],
        None,
        None,
    ),
    (
        "a_section_in_another_school_is_denied",
        G::R,
        Get,
        "/api/v1/sections/2000/enrollments",
        &[],
        None,
        Some(Rule::SchoolBoundary),
    ),
    (
        "a_section_by_sis_id_in_the_school_is_allowed",
        G::R,
        Get,
        "/api/v1/sections/sis_section_id:S-10",
        &[],
        None,
        None,
    ),
    (
        "a_section_by_sis_id_in_another_school_is_denied",
        G::R,
        Get,
        "/api/v1/sections/sis_section_id:S-20",
        &[],
        None,
        Some(Rule::SchoolBoundary),
    ),
    (
        "a_section_named_with_a_course_sis_prefix_is_denied",
        G::R,
        Get,
        "/api/v1/sections/sis_course_id:MATH-10",
        &[],
        None,
        Some(Rule::SchoolBoundary),
    ),
    (
        "a_user_enrolled_in_the_school_is_allowed",
        G::R,
        Get,
        "/api/v1/users/5/enrollments",
        &[],
        None,
        None,
    ),
    (
        "a_user_of_another_school_is_denied",
        G::R,
        Get,
        "/api/v1/users/6/page_views",
        &[],
        None,
        Some(Rule::SchoolBoundary),
    ),
    (
        "a_user_by_sis_id_in_the_school_is_allowed",
        G::R,
        Get,
        "/api/v1/users/sis_user_id:stu-10/logins",
        &[],
        None,
        None,
    ),
    (
        "a_user_by_sis_id_in_another_school_is_denied",
        G::R,
        Get,
        "/api/v1/users/sis_user_id:stu-20",
        &[],
        None,
        Some(Rule::SchoolBoundary),
    ),
    (
        "users_self_is_denied",
        G::R,
        Get,
        "/api/v1/users/self/profile",
        &[],
        None,
        Some(Rule::SchoolBoundary),
    ),
    (
        "an_account_by_sis_id_in_the_school_is_allowed",
        G::R,
        Get,
        "/api/v1/accounts/sis_account_id:SCH10/courses",
        &[],
        None,
        None,
    ),
    (
        "an_account_by_sis_id_in_another_school_is_denied",
        G::R,
        Get,
        "/api/v1/accounts/sis_account_id:SCH20",
        &[],
        None,
        Some(Rule::SchoolBoundary),
    ),
    (
        "an_account_named_with_a_user_sis_prefix_is_denied",
        G::R,
        Get,
        "/api/v1/accounts/sis_user_id:SCH10",
        &[],
        None,
        Some(Rule::SchoolBoundary),
    ),
    (
        "an_enrollment_in_a_course_of_the_school_is_allowed",
        G::W,
        Delete,
        "/api/v1/courses/100/enrollments/8000",
        &[("task", "conclude")],
        None,
        None,
    ),
    (
        "an_assignment_in_a_course_of_the_school_is_allowed",
        G::W,
        Put,
        "/api/v1/courses/100/assignments/400",
        &[],
        Some(r#"{"assignment":{"published":true}}"#),
        None,
    ),
    (
        "a_user_in_a_course_of_another_school_is_denied",
        G::R,
        Get,
        "/api/v1/courses/200/users/5",
        &[],
        None,
        Some(Rule::SchoolBoundary),
    ),
    // Ids from other schools in bodies and queries.
    (
        "a_foreign_section_in_an_enrollment_body_is_denied",
        G::W,
        Post,
        "/api/v1/courses/100/enrollments",
        &[],
        Some(r#"{"enrollment":{"user_id":5,"course_section_id":2000}}"#),
        Some(Rule::SchoolBoundary),
    ),
    (
        "own_section_and_user_in_an_enrollment_body_are_allowed",
        G::W,
        Post,
        "/api/v1/courses/100/enrollments",
        &[],
        Some(
            r#"{"enrollment":{"user_id":"5","course_section_id":"1000","type":"StudentEnrollment"}}"#,
        ),
        None,
    ),
    (
        "a_foreign_user_in_an_enrollment_body_is_denied",
        G::W,
        Post,
        "/api/v1/sections/1000/enrollments",
        &[],
        Some(r#"{"enrollment":{"user_id":6}}"#),
        Some(Rule::SchoolBoundary),
    ),
    (
        "a_foreign_user_by_sis_id_in_a_body_is_denied",
        G::W,
        Post,
        "/api/v1/courses/100/enrollments",
        &[],
        Some(r#"{"enrollment":{"user_id":"sis_user_id:stu-20"}}"#),
        Some(Rule::SchoolBoundary),
    ),
    (
        "an_unmodelled_course_key_in_a_body_is_denied",
        G::W,
        Post,
        "/api/v1/accounts/10/courses",
        &[],
        Some(r#"{"course":{"course_id":"sis_course_id:MATH-20"}}"#),
        Some(Rule::UnmodelledField),
    ),
    (
        "an_unmodelled_bulk_endpoint_is_denied",
        G::W,
        Put,
        "/api/v1/courses/100/enrollments",
        &[("enrollment_ids[]", "7000"), ("enrollment_ids[]", "8000")],
        None,
        Some(Rule::UnmodelledEndpoint),
    ),
    (
        "an_unmodelled_assignment_key_in_a_body_is_denied",
        G::W,
        Post,
        "/api/v1/courses/100/assignments",
        &[],
        Some(r#"{"assignment":{"assignment_id":400}}"#),
        Some(Rule::UnmodelledField),
    ),
    (
        "a_foreign_assignment_in_the_query_is_denied",
        G::R,
        Get,
        "/api/v1/courses/100/students/submissions",
        &[("assignment_ids[]", "400")],
        None,
        Some(Rule::SchoolBoundary),
    ),
    (
        "a_foreign_student_in_the_query_is_denied",
        G::R,
        Get,
        "/api/v1/courses/100/students/submissions",
        &[("student_ids[]", "6")],
        None,
        Some(Rule::SchoolBoundary),
    ),
    (
        "a_copy_from_a_foreign_course_is_denied",
        G::W,
        Post,
        "/api/v1/courses/100/content_migrations",
        &[],
        Some(r#"{"migration_type":"course_copy_importer","settings":{"source_course_id":200}}"#),
        Some(Rule::SchoolBoundary),
    ),
    (
        "a_foreign_parent_account_in_the_body_is_denied",
        G::W,
        Post,
        "/api/v1/accounts/10/sub_accounts",
        &[],
        Some(r#"{"account":{"name":"x","parent_account_id":"20"}}"#),
        Some(Rule::SchoolBoundary),
    ),
    // Masquerading.
    (
        "masquerading_as_a_user_of_the_school_with_the_grant_is_allowed",
        G::Masq,
        Get,
        "/api/v1/courses/100",
        &[("as_user_id", "5")],
        None,
        None,
    ),
    (
        "masquerading_as_a_user_of_another_school_is_denied",
        G::Masq,
        Get,
        "/api/v1/courses/100",
        &[("as_user_id", "6")],
        None,
        Some(Rule::SchoolBoundary),
    ),
    (
        "masquerading_by_sis_id_without_the_grant_is_refused",
        G::W,
        Put,
        "/api/v1/courses/100",
        &[("As_User_Id", "sis_user_id:stu-10")],
        None,
        Some(Rule::MasqueradeNotGranted),
    ),
    // Scopes.
    (
        "a_granted_scope_is_allowed",
        G::Scoped,
        Get,
        "/api/v1/accounts/10/courses",
        &[],
        None,
        None,
    ),
    (
        "a_granted_write_scope_is_allowed",
        G::Scoped,
        Put,
        "/api/v1/courses/100",
        &[],
        Some(r#"{"course":{"event":"offer"}}"#),
        None,
    ),
    (
        "an_endpoint_outside_the_scopes_is_denied",
        G::Scoped,
        Get,
        "/api/v1/courses/100/sections",
        &[],
        None,
        Some(Rule::NotInScope),
    ),
    (
        "a_method_outside_the_scopes_is_denied",
        G::Scoped,
        Delete,
        "/api/v1/courses/100",
        &[],
        None,
        Some(Rule::NotInScope),
    ),
    (
        "a_scope_does_not_match_a_longer_path",
        G::Scoped,
        Get,
        "/api/v1/courses/100/users",
        &[],
        None,
        Some(Rule::NotInScope),
    ),
    (
        "a_scope_with_a_foreign_course_is_still_bounded",
        G::Scoped,
        Get,
        "/api/v1/courses/200",
        &[],
        None,
        Some(Rule::SchoolBoundary),
    ),
    // More encoded-path tricks.
    (
        "an_uppercase_encoded_slash_is_refused",
        G::R,
        Get,
        "/api/v1/courses/100%2F..%2F200",
        &[],
        None,
        Some(Rule::PathForm),
    ),
    (
        "an_encoded_backslash_is_refused",
        G::R,
        Get,
        "/api/v1/courses/100%5C200",
        &[],
        None,
        Some(Rule::PathForm),
    ),
    (
        "a_trailing_dot_dot_is_refused",
        G::R,
        Get,
        "/api/v1/courses/100/..",
        &[],
        None,
        Some(Rule::PathForm),
    ),
    (
        "a_null_byte_is_refused",
        G::R,
        Get,
        "/api/v1/courses/100\u{0}",
        &[],
        None,
        Some(Rule::PathForm),
    ),
    (
        "a_path_outside_api_v1_is_refused",
        G::R,
        Get,
        "/login/oauth2/token",
        &[],
        None,
        Some(Rule::PathForm),
    ),
    // Bodies the policy cannot read are refused, not sent.
    (
        "a_sis_import_is_refused_without_the_capability",
        G::W,
        Post,
        "/api/v1/accounts/1/sis_imports",
        CSV_Q,
        Some(ENROL_OWN),
        Some(Rule::CapabilityNotGranted),
    ),
    (
        "a_sis_import_of_the_schools_own_rows_goes_to_the_root_account",
        G::Sis,
        Post,
        "/api/v1/accounts/1/sis_imports",
        CSV_Q,
        Some(ENROL_OWN),
        None,
    ),
    (
        "a_sis_import_to_another_school_is_outside",
        G::Sis,
        Post,
        "/api/v1/accounts/20/sis_imports",
        CSV_Q,
        Some(ENROL_OWN),
        Some(Rule::SchoolBoundary),
    ),
    (
        "a_sis_import_to_the_school_itself_is_inside",
        G::Sis,
        Post,
        "/api/v1/accounts/10/sis_imports",
        CSV_Q,
        Some(ENROL_OWN),
        None,
    ),
    (
        "an_import_row_enrolling_in_another_schools_course_is_outside",
        G::Sis,
        Post,
        "/api/v1/accounts/1/sis_imports",
        CSV_Q,
        Some(
            "course_id,user_id,role,status\nMATH-10,stu-10,student,active\nMATH-20,stu-10,teacher,active\n",
        ),
        Some(Rule::SchoolBoundary),
    ),
    (
        "an_import_row_enrolling_another_schools_user_is_outside",
        G::Sis,
        Post,
        "/api/v1/accounts/1/sis_imports",
        CSV_Q,
        Some("course_id,user_id,role,status\nMATH-10,stu-20,student,active\n"),
        Some(Rule::SisNamespace),
    ),
    (
        "an_import_row_into_another_schools_section_is_outside",
        G::Sis,
        Post,
        "/api/v1/accounts/1/sis_imports",
        CSV_Q,
        Some("section_id,user_id,role,status\nS-20,stu-10,student,active\n"),
        Some(Rule::SchoolBoundary),
    ),
    (
        "an_import_row_may_enrol_a_new_user",
        G::Sis,
        Post,
        "/api/v1/accounts/1/sis_imports",
        CSV_Q,
        Some("course_id,user_id,role,status\nMATH-10,S10-new-user,student,active\n"),
        None,
    ),
    (
        "an_import_row_may_not_enrol_a_user_enrolled_nowhere",
        G::Sis,
        Post,
        "/api/v1/accounts/1/sis_imports",
        CSV_Q,
        Some("course_id,user_id,role,status\nMATH-10,lonely,student,active\n"),
        Some(Rule::SisNamespace),
    ),
    (
        "an_import_row_may_not_change_even_the_schools_own_user",
        G::Sis,
        Post,
        "/api/v1/accounts/1/sis_imports",
        CSV_Q,
        Some("user_id,login_id,full_name,status\nstu-10,new@x,Renamed,active\n"),
        Some(Rule::SchoolBoundary),
    ),
    (
        "an_import_row_may_not_give_a_new_user_the_schools_existing_login",
        G::Sis,
        Post,
        "/api/v1/accounts/1/sis_imports",
        CSV_Q,
        Some("user_id,login_id,full_name,status\nS10-new-user,stu10@x,Mine,active\n"),
        Some(Rule::SchoolBoundary),
    ),
    (
        "an_import_row_may_create_a_course_in_the_school",
        G::Sis,
        Post,
        "/api/v1/accounts/1/sis_imports",
        CSV_Q,
        Some("course_id,short_name,long_name,account_id,status\nS10-NEW-1,n,New,SCH10,active\n"),
        None,
    ),
    (
        "an_import_row_may_not_create_a_course_in_another_school",
        G::Sis,
        Post,
        "/api/v1/accounts/1/sis_imports",
        CSV_Q,
        Some("course_id,short_name,long_name,account_id,status\nS10-NEW-1,n,New,SCH20,active\n"),
        Some(Rule::SchoolBoundary),
    ),
    (
        "an_import_row_may_not_rename_or_delete_another_schools_course",
        G::Sis,
        Post,
        "/api/v1/accounts/1/sis_imports",
        CSV_Q,
        Some("course_id,short_name,long_name,account_id,status\nMATH-20,x,x,SCH10,deleted\n"),
        Some(Rule::SisNamespace),
    ),
    (
        "an_import_row_may_create_a_section_in_a_course_of_the_school",
        G::Sis,
        Post,
        "/api/v1/accounts/1/sis_imports",
        CSV_Q,
        Some("section_id,course_id,name,status\nS10-SEC-NEW,MATH-10,New,active\n"),
        None,
    ),
    (
        "an_import_row_may_not_take_another_schools_section",
        G::Sis,
        Post,
        "/api/v1/accounts/1/sis_imports",
        CSV_Q,
        Some("section_id,course_id,name,status\nS-20,MATH-10,Mine,active\n"),
        Some(Rule::SisNamespace),
    ),
    (
        "an_import_row_may_create_a_user_with_a_new_login",
        G::Sis,
        Post,
        "/api/v1/accounts/1/sis_imports",
        CSV_Q,
        Some("user_id,login_id,full_name,status\nS10-new-user,new@x,New One,active\n"),
        None,
    ),
    (
        "an_import_row_may_not_take_another_schools_login",
        G::Sis,
        Post,
        "/api/v1/accounts/1/sis_imports",
        CSV_Q,
        Some("user_id,login_id,full_name,status\nS10-new-user,stu20@x,Mine Now,active\n"),
        Some(Rule::SchoolBoundary),
    ),
    (
        "an_import_row_may_not_change_another_schools_user",
        G::Sis,
        Post,
        "/api/v1/accounts/1/sis_imports",
        CSV_Q,
        Some("user_id,login_id,full_name,status\nstu-20,new@x,Renamed,active\n"),
        Some(Rule::SisNamespace),
    ),
    (
        "an_import_row_may_not_change_a_user_with_no_enrollment",
        G::Sis,
        Post,
        "/api/v1/accounts/1/sis_imports",
        CSV_Q,
        Some("user_id,login_id,full_name,status\nlonely,new@x,Renamed,active\n"),
        Some(Rule::SisNamespace),
    ),
    (
        "an_import_row_may_not_revive_another_schools_deleted_course",
        G::Sis,
        Post,
        "/api/v1/accounts/1/sis_imports",
        CSV_Q,
        Some("course_id,short_name,long_name,account_id,status\nDEL-20,n,Mine,SCH10,active\n"),
        Some(Rule::SisNamespace),
    ),
    (
        "an_import_row_may_not_create_a_user_outside_the_prefix",
        G::Sis,
        Post,
        "/api/v1/accounts/1/sis_imports",
        CSV_Q,
        Some("user_id,login_id,full_name,status\nnew-elsewhere,new@x,New One,active\n"),
        Some(Rule::SisNamespace),
    ),
    (
        "an_import_row_may_not_enrol_a_new_user_outside_the_prefix",
        G::Sis,
        Post,
        "/api/v1/accounts/1/sis_imports",
        CSV_Q,
        Some("course_id,user_id,role,status\nMATH-10,new-elsewhere,student,active\n"),
        Some(Rule::SisNamespace),
    ),
    (
        "an_import_row_may_not_create_anything_when_the_school_has_no_prefix",
        G::SisNoPrefix,
        Post,
        "/api/v1/accounts/1/sis_imports",
        CSV_Q,
        Some("course_id,short_name,long_name,account_id,status\nS10-NEW-1,n,New,SCH10,active\n"),
        Some(Rule::SisNamespace),
    ),
    (
        "an_import_row_of_the_schools_own_rows_needs_no_prefix",
        G::SisNoPrefix,
        Post,
        "/api/v1/accounts/1/sis_imports",
        CSV_Q,
        Some(ENROL_OWN),
        None,
    ),
    (
        "an_import_row_may_update_the_schools_own_course_outside_the_prefix",
        G::Sis,
        Post,
        "/api/v1/accounts/1/sis_imports",
        CSV_Q,
        Some("course_id,short_name,long_name,account_id,status\nMATH-10,m,Math,SCH10,active\n"),
        None,
    ),
    (
        "an_import_row_may_not_take_a_course_in_the_prefix_that_lies_elsewhere",
        G::Sis,
        Post,
        "/api/v1/accounts/1/sis_imports",
        CSV_Q,
        Some("course_id,short_name,long_name,account_id,status\nS10-TAKEN,n,Mine,SCH10,active\n"),
        Some(Rule::SchoolBoundary),
    ),
    (
        "an_import_row_whose_id_is_the_bare_prefix_is_refused",
        G::Sis,
        Post,
        "/api/v1/accounts/1/sis_imports",
        CSV_Q,
        Some("course_id,short_name,long_name,account_id,status\nS10-,n,New,SCH10,active\n"),
        Some(Rule::SisNamespace),
    ),
    (
        "a_sis_import_in_batch_mode_is_refused",
        G::Sis,
        Post,
        "/api/v1/accounts/1/sis_imports",
        &[
            ("import_type", "instructure_csv"),
            ("extension", "csv"),
            ("batch_mode", "true"),
        ],
        Some(ENROL_OWN),
        Some(Rule::UnmodelledField),
    ),
    (
        "a_sis_import_with_diffing_is_refused",
        G::Sis,
        Post,
        "/api/v1/accounts/1/sis_imports",
        &[("extension", "csv"), ("diffing_data_set_identifier", "x")],
        Some(ENROL_OWN),
        Some(Rule::UnmodelledField),
    ),
    (
        "a_sis_import_without_extension_csv_is_refused",
        G::Sis,
        Post,
        "/api/v1/accounts/1/sis_imports",
        &[("import_type", "instructure_csv")],
        Some(ENROL_OWN),
        Some(Rule::BodyForm),
    ),
    (
        "a_sis_import_of_another_type_is_refused",
        G::Sis,
        Post,
        "/api/v1/accounts/1/sis_imports",
        &[("import_type", "ims_xml"), ("extension", "csv")],
        Some(ENROL_OWN),
        Some(Rule::BodyForm),
    ),
    (
        "a_sis_import_as_json_is_refused",
        G::Sis,
        Post,
        "/api/v1/accounts/1/sis_imports",
        CSV_Q,
        Some(r#"{"attachment":"course_id,user_id,role,status"}"#),
        Some(Rule::BodyForm),
    ),
    (
        "a_sis_import_without_a_file_is_refused",
        G::Sis,
        Post,
        "/api/v1/accounts/1/sis_imports",
        CSV_Q,
        None,
        Some(Rule::BodyForm),
    ),
    (
        "a_sis_import_of_accounts_is_unmodelled",
        G::Sis,
        Post,
        "/api/v1/accounts/1/sis_imports",
        CSV_Q,
        Some("account_id,parent_account_id,name,status\nX,SCH20,x,active\n"),
        Some(Rule::UnmodelledField),
    ),
    (
        "a_csv_body_elsewhere_is_not_json",
        G::Sis,
        Post,
        "/api/v1/courses/100/sections",
        &[],
        Some("course_id,user_id,role,status\nMATH-10,stu-10,student,active\n"),
        Some(Rule::BodyForm),
    ),
    (
        "the_runs_own_import_status_may_be_read_at_the_root",
        G::Sis,
        Get,
        "/api/v1/accounts/1/sis_imports/77",
        &[],
        None,
        None,
    ),
    (
        "another_import_status_at_the_root_is_outside",
        G::Sis,
        Get,
        "/api/v1/accounts/1/sis_imports/78",
        &[],
        None,
        Some(Rule::SchoolBoundary),
    ),
    (
        "an_import_status_at_the_root_needs_the_capability",
        G::W,
        Get,
        "/api/v1/accounts/1/sis_imports/77",
        &[],
        None,
        Some(Rule::SchoolBoundary),
    ),
    (
        "the_roots_import_list_is_outside",
        G::Sis,
        Get,
        "/api/v1/accounts/1/sis_imports",
        &[],
        None,
        Some(Rule::SchoolBoundary),
    ),
    (
        "the_root_account_itself_is_outside_even_with_sis_imports",
        G::Sis,
        Get,
        "/api/v1/accounts/1",
        &[],
        None,
        Some(Rule::SchoolBoundary),
    ),
    (
        "a_top_level_array_body_is_refused",
        G::W,
        Post,
        "/api/v1/accounts/10/courses",
        &[],
        Some(r#"["course_id,status","MATH-20,deleted"]"#),
        Some(Rule::BodyForm),
    ),
    (
        "form_fields_in_a_json_string_are_refused",
        G::W,
        Put,
        "/api/v1/accounts/10/courses",
        &[],
        Some(r#"["&course_ids[]=200&"]"#),
        Some(Rule::BodyForm),
    ),
    (
        "a_string_body_is_refused",
        G::W,
        Put,
        "/api/v1/accounts/10/courses",
        &[],
        Some(r#""course_ids[]=200""#),
        Some(Rule::BodyForm),
    ),
    (
        "an_id_given_as_an_object_is_refused",
        G::W,
        Put,
        "/api/v1/accounts/10/courses",
        &[],
        Some(r#"{"course_ids":{"x":200}}"#),
        Some(Rule::BodyForm),
    ),
    (
        "ids_in_nested_arrays_are_refused",
        G::W,
        Put,
        "/api/v1/accounts/10/courses",
        &[],
        Some(r#"{"course_ids":[[200]]}"#),
        Some(Rule::BodyForm),
    ),
    (
        "a_duplicate_body_key_is_refused",
        G::W,
        Put,
        "/api/v1/accounts/10/courses",
        &[],
        Some(r#"{"course_ids":[100],"course_ids":[200]}"#),
        Some(Rule::BodyForm),
    ),
    (
        "a_boolean_id_is_refused",
        G::W,
        Post,
        "/api/v1/accounts/10/courses",
        &[],
        Some(r#"{"course":{"account_id":true}}"#),
        Some(Rule::BodyForm),
    ),
    (
        "a_negative_id_is_refused",
        G::W,
        Post,
        "/api/v1/accounts/10/courses",
        &[],
        Some(r#"{"course":{"account_id":-20}}"#),
        Some(Rule::BodyForm),
    ),
    (
        "own_course_ids_in_a_body_are_allowed",
        G::W,
        Put,
        "/api/v1/accounts/10/courses",
        &[],
        Some(r#"{"course_ids":[100,110],"event":"offer"}"#),
        None,
    ),
    (
        "a_foreign_course_id_in_a_body_list_is_denied",
        G::W,
        Put,
        "/api/v1/accounts/10/courses",
        &[],
        Some(r#"{"course_ids":[100,200],"event":"offer"}"#),
        Some(Rule::SchoolBoundary),
    ),
    (
        "an_unmodelled_id_key_in_the_query_is_denied",
        G::R,
        Get,
        "/api/v1/accounts/10/courses",
        &[("foo_ids[]", "200")],
        None,
        Some(Rule::UnmodelledField),
    ),
    (
        "an_unmodelled_noun_key_in_a_body_is_denied",
        G::W,
        Put,
        "/api/v1/courses/100",
        &[],
        Some(r#"{"course":{"name":"x"},"target_course":200}"#),
        Some(Rule::UnmodelledField),
    ),
    (
        "a_new_user_with_a_login_and_sis_id_is_allowed",
        G::W,
        Post,
        "/api/v1/accounts/10/users",
        &[],
        Some(
            r#"{"user":{"name":"Ada"},"pseudonym":{"unique_id":"ada@example.edu","sis_user_id":"S10-stu-99"}}"#,
        ),
        None,
    ),
    (
        "a_boolean_given_as_1_for_section_privileges_is_allowed",
        G::W,
        Post,
        "/api/v1/courses/100/enrollments",
        &[("enrollment[limit_privileges_to_course_section]", "1")],
        Some(r#"{"enrollment":{"user_id":5}}"#),
        None,
    ),
    (
        "a_boolean_named_after_a_section_is_not_an_id",
        G::W,
        Post,
        "/api/v1/courses/100/enrollments",
        &[],
        Some(r#"{"enrollment":{"user_id":5,"limit_privileges_to_course_section":true}}"#),
        None,
    ),
    (
        "a_parameter_name_with_a_space_is_refused",
        G::R,
        Get,
        "/api/v1/accounts/10/courses",
        &[("course ids[]", "200")],
        None,
        Some(Rule::PathForm),
    ),
    (
        "a_parameter_name_with_unbalanced_brackets_is_refused",
        G::R,
        Get,
        "/api/v1/accounts/10/courses",
        &[("by_subaccounts[[]", "20")],
        None,
        Some(Rule::PathForm),
    ),
    // Ids in keys only some endpoints take.
    (
        "a_course_copy_from_a_foreign_course_is_denied",
        G::W,
        Post,
        "/api/v1/courses/100/course_copy",
        &[],
        Some(r#"{"source_course":200}"#),
        Some(Rule::SchoolBoundary),
    ),
    (
        "a_course_copy_from_a_foreign_course_in_the_query_is_denied",
        G::W,
        Post,
        "/api/v1/courses/100/course_copy",
        &[("source_course", "200")],
        None,
        Some(Rule::SchoolBoundary),
    ),
    (
        "a_course_copy_from_an_own_course_is_allowed",
        G::W,
        Post,
        "/api/v1/courses/100/course_copy",
        &[],
        Some(r#"{"source_course":"110"}"#),
        None,
    ),
    (
        "a_blueprint_association_with_a_foreign_course_is_denied",
        G::W,
        Put,
        "/api/v1/courses/100/blueprint_templates/default/update_associations",
        &[],
        Some(r#"{"course_ids_to_add":[110,200]}"#),
        Some(Rule::UnmodelledEndpoint),
    ),
    (
        "a_blueprint_association_by_id_with_a_foreign_course_is_denied",
        G::W,
        Put,
        "/api/v1/courses/100/blueprint_templates/1/update_associations",
        &[],
        Some(r#"{"course_ids_to_add":[110,200]}"#),
        Some(Rule::SchoolBoundary),
    ),
    (
        "a_blueprint_association_with_own_courses_is_allowed",
        G::W,
        Put,
        "/api/v1/courses/100/blueprint_templates/1/update_associations",
        &[],
        Some(r#"{"course_ids_to_add":[110],"course_ids_to_remove":["sis_course_id:MATH-10"]}"#),
        None,
    ),
    (
        "a_crosslist_into_a_foreign_course_is_denied",
        G::W,
        Post,
        "/api/v1/sections/1000/crosslist/200",
        &[],
        None,
        Some(Rule::SchoolBoundary),
    ),
    (
        "a_crosslist_into_an_own_course_is_allowed",
        G::W,
        Post,
        "/api/v1/sections/1000/crosslist/110",
        &[],
        None,
        None,
    ),
    // Masquerading in any form.
    (
        "as_user_id_with_brackets_is_masquerading",
        G::R,
        Get,
        "/api/v1/courses/100",
        &[("as_user_id[]", "6")],
        None,
        Some(Rule::MasqueradeNotGranted),
    ),
    (
        "as_user_id_in_a_body_is_masquerading",
        G::W,
        Put,
        "/api/v1/courses/100",
        &[],
        Some(r#"{"as_user_id":6,"course":{"name":"x"}}"#),
        Some(Rule::MasqueradeNotGranted),
    ),
    (
        "as_user_id_nested_in_a_body_is_masquerading",
        G::W,
        Put,
        "/api/v1/courses/100",
        &[],
        Some(r#"{"course":{"as_user_id":6}}"#),
        Some(Rule::MasqueradeNotGranted),
    ),
    (
        "as_user_id_with_brackets_is_refused_even_with_the_grant",
        G::Masq,
        Get,
        "/api/v1/courses/100",
        &[("as_user_id[]", "5")],
        None,
        Some(Rule::BodyForm),
    ),
    (
        "as_user_id_twice_is_refused_even_with_the_grant",
        G::Masq,
        Get,
        "/api/v1/courses/100",
        &[("as_user_id", "5"), ("as_user_id", "6")],
        None,
        Some(Rule::BodyForm),
    ),
    // What is checked is what is sent: no whitespace, nothing re-encoded.
    (
        "a_trailing_space_after_dot_dot_is_refused",
        G::R,
        Get,
        "/api/v1/courses/100/.. ",
        &[],
        None,
        Some(Rule::PathForm),
    ),
    (
        "a_trailing_space_is_refused",
        G::R,
        Get,
        "/api/v1/courses/100 ",
        &[],
        None,
        Some(Rule::PathForm),
    ),
    (
        "a_tab_is_refused",
        G::R,
        Get,
        "/api/v1/courses/100\t",
        &[],
        None,
        Some(Rule::PathForm),
    ),
    (
        "a_non_ascii_character_is_refused",
        G::R,
        Get,
        "/api/v1/courses/1００",
        &[],
        None,
        Some(Rule::PathForm),
    ),
    (
        "a_stray_percent_is_refused",
        G::R,
        Get,
        "/api/v1/courses/100%",
        &[],
        None,
        Some(Rule::PathForm),
    ),
    (
        "an_encoded_sis_id_is_placed_decoded",
        G::R,
        Get,
        "/api/v1/courses/sis_course_id:MATH%2D10",
        &[],
        None,
        None,
    ),
    // Users shared with another school.
    (
        "a_shared_users_page_views_are_denied",
        G::R,
        Get,
        "/api/v1/users/9/page_views",
        &[],
        None,
        Some(Rule::SharedUser),
    ),
    (
        "a_shared_users_profile_may_be_read_with_shared_users_read",
        G::SharedRead,
        Get,
        "/api/v1/users/9/profile",
        &[],
        None,
        None,
    ),
    (
        "a_shared_user_cannot_be_changed_at_user_level",
        G::SharedRead,
        Put,
        "/api/v1/users/9",
        &[],
        Some(r#"{"user":{"name":"x"}}"#),
        Some(Rule::UnmodelledEndpoint),
    ),
    (
        "a_shared_user_in_a_course_of_the_school_is_allowed",
        G::W,
        Post,
        "/api/v1/courses/100/enrollments",
        &[],
        Some(r#"{"enrollment":{"user_id":9}}"#),
        None,
    ),
    (
        "masquerading_as_a_shared_user_is_denied",
        G::Masq,
        Get,
        "/api/v1/courses/100",
        &[("as_user_id", "9")],
        None,
        Some(Rule::SharedUser),
    ),
    (
        "no_user_is_changed_at_user_level_even_one_only_in_the_school",
        G::W,
        Put,
        "/api/v1/users/5",
        &[],
        Some(r#"{"user":{"email":"x@example.com"}}"#),
        Some(Rule::UnmodelledEndpoint),
    ),
    (
        "a_user_only_in_the_school_may_be_read",
        G::R,
        Get,
        "/api/v1/users/5/page_views",
        &[],
        None,
        None,
    ),
    // SIS ids Canvas reads differently from how they are written.
    (
        "an_sis_id_with_a_trailing_space_is_not_placed",
        G::W,
        Get,
        "/api/v1/courses/sis_course_id:MATH-10%20",
        &[],
        None,
        Some(Rule::SchoolBoundary),
    ),
    (
        "an_sis_id_ending_in_json_is_not_placed",
        G::W,
        Put,
        "/api/v1/courses/sis_course_id:MATH-10.json",
        &[],
        Some(r#"{"course":{"name":"x"}}"#),
        Some(Rule::SchoolBoundary),
    ),
    (
        "an_sis_id_with_a_leading_space_in_a_body_is_not_placed",
        G::W,
        Post,
        "/api/v1/courses/100/course_copy",
        &[],
        Some(r#"{"source_course":"sis_course_id: MATH-10"}"#),
        Some(Rule::SchoolBoundary),
    ),
    (
        "setting_an_sis_id_with_a_trailing_space_is_refused",
        G::W,
        Put,
        "/api/v1/courses/100",
        &[],
        Some(r#"{"course":{"sis_course_id":"MATH-20 "}}"#),
        Some(Rule::BodyForm),
    ),
    (
        "setting_an_sis_id_ending_in_json_is_refused",
        G::W,
        Put,
        "/api/v1/sections/1000",
        &[],
        Some(r#"{"course_section":{"sis_section_id":"S-20.JSON"}}"#),
        Some(Rule::BodyForm),
    ),
    (
        "setting_an_exact_sis_id_is_allowed",
        G::W,
        Put,
        "/api/v1/courses/100",
        &[],
        Some(r#"{"course":{"sis_course_id":"S10-MATH-2027"}}"#),
        None,
    ),
    // A SIS id set through the API lies in the school's prefix: else a
    // school could plant a course (and delete it) under another school's
    // prefix, for that school's SIS import to revive and take.
    (
        "setting_a_sis_id_outside_the_prefix_is_refused",
        G::W,
        Put,
        "/api/v1/courses/100",
        &[],
        Some(r#"{"course":{"sis_course_id":"S20-BAIT-2027"}}"#),
        Some(Rule::SisNamespace),
    ),
    (
        "setting_a_sis_id_in_the_query_outside_the_prefix_is_refused",
        G::W,
        Put,
        "/api/v1/courses/100",
        &[("course[sis_course_id]", "S20-BAIT")],
        None,
        Some(Rule::SisNamespace),
    ),
    (
        "a_new_section_with_a_sis_id_outside_the_prefix_is_refused",
        G::W,
        Post,
        "/api/v1/courses/100/sections",
        &[],
        Some(r#"{"course_section":{"name":"A","sis_section_id":"S20-SEC"}}"#),
        Some(Rule::SisNamespace),
    ),
    (
        "a_new_user_with_a_sis_id_outside_the_prefix_is_refused",
        G::W,
        Post,
        "/api/v1/accounts/10/users",
        &[],
        Some(
            r#"{"user":{"name":"B"},"pseudonym":{"unique_id":"b@example.edu","sis_user_id":"S20-stu"}}"#,
        ),
        Some(Rule::SisNamespace),
    ),
    (
        "a_sis_id_given_as_a_number_is_checked_too",
        G::W,
        Put,
        "/api/v1/courses/100",
        &[],
        Some(r#"{"course":{"sis_course_id":2027}}"#),
        Some(Rule::SisNamespace),
    ),
    (
        "without_a_prefix_no_sis_id_may_be_set",
        G::SisNoPrefix,
        Put,
        "/api/v1/courses/100",
        &[],
        Some(r#"{"course":{"sis_course_id":"S10-MATH-2027"}}"#),
        Some(Rule::SisNamespace),
    ),
    (
        "removing_a_sis_id_is_allowed",
        G::SisNoPrefix,
        Put,
        "/api/v1/courses/100",
        &[],
        Some(r#"{"course":{"sis_course_id":""}}"#),
        None,
    ),
    // Every bracket component counts, not only the last.
    (
        "an_indexed_id_list_is_an_unmodelled_key",
        G::W,
        Put,
        "/api/v1/courses/100/blueprint_templates/1/update_associations",
        &[("course_ids_to_add[0]", "200")],
        None,
        Some(Rule::UnmodelledField),
    ),
    (
        "an_id_key_under_an_extra_bracket_is_unmodelled",
        G::W,
        Post,
        "/api/v1/courses/100/content_migrations",
        &[],
        Some(r#"{"settings":{"source_course_id":{"x":200}}}"#),
        Some(Rule::BodyForm),
    ),
    (
        "a_bracketed_body_key_is_refused",
        G::W,
        Post,
        "/api/v1/accounts/10/courses",
        &[],
        Some(r#"{"course[account_id]":20}"#),
        Some(Rule::BodyForm),
    ),
];

#[test]
fn every_policy_case_decides_as_expected() {
    let mut failures = Vec::new();
    for (name, g, method, path, query, body, expected) in CASES {
        let got = check(&make(*g), *method, path, query, *body, 1).err();
        if got != *expected {
            failures.push(format!("{name}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn there_are_at_least_sixty_cases_covering_every_rule() {
    assert!(CASES.len() >= 60, "{} cases", CASES.len());
    for rule in [
        Rule::PathForm,
        Rule::WriteNotGranted,
        Rule::SchoolBoundary,
        Rule::UnmodelledEndpoint,
        Rule::UnmodelledField,
        Rule::BodyForm,
        Rule::CapabilityNotGranted,
        Rule::SharedUser,
        Rule::NotInScope,
        Rule::MasqueradeNotGranted,
    ] {
        assert!(
            CASES.iter().any(|c| c.6 == Some(rule)),
            "no case for {rule}"
        );
    }
}

#[test]
fn the_write_past_the_limit_is_denied() {
    let g = make(G::TwoWrites);
    let put = |n| check_writes(&g, Put, "/api/v1/courses/100", &[], None, n, n);
    assert_eq!(put(1), Ok(()));
    assert_eq!(put(2), Ok(()));
    assert_eq!(put(3), Err(Rule::WriteLimit));
    // Reads do not count.
    assert_eq!(
        check_writes(&g, Get, "/api/v1/courses/100", &[], None, 9, 0),
        Ok(())
    );
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

#[test]
fn an_overlong_query_value_or_sis_id_is_refused() {
    let long = "x".repeat(3000);
    assert_eq!(
        check(
            &grant(false),
            Get,
            "/api/v1/accounts/10/courses",
            &[("search_term", &long)],
            None,
            1
        ),
        Err(Rule::PathForm)
    );
    let sis = format!("/api/v1/courses/sis_course_id:{}", "M".repeat(300));
    let op = Operation::new(Get, &sis, vec![], None, 1).expect("valid path");
    assert!(
        matches!(op.targets[0].object.key, ObjectKey::Other(_)),
        "an SIS value over 255 bytes cannot be placed"
    );
    assert!(
        op.targets[0].object.key.to_string().len() < 400,
        "shown shortened"
    );
}

#[test]
fn each_row_of_a_sis_import_counts_against_the_write_limit() {
    let g = Grant {
        sis_import: true,
        sis_id_prefix: Some("S10-".into()),
        max_writes: Some(2),
        ..grant(true)
    };
    let two = "course_id,user_id,role,status\nMATH-10,stu-10,student,active\nMATH-10,S10-new-user,student,active\n";
    let three = format!("{two}MATH-10,lonely,student,active\n");
    let import = |body: &str, write_seq| {
        check_writes(
            &g,
            Method::Post,
            "/api/v1/accounts/1/sis_imports",
            CSV_Q,
            Some(body),
            1,
            write_seq,
        )
    };
    assert_eq!(import(two, 1), Ok(()));
    assert_eq!(import(&three, 1), Err(Rule::WriteLimit));
    assert_eq!(
        import(two, 2),
        Err(Rule::WriteLimit),
        "one write already made"
    );
}

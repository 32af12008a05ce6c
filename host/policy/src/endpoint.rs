//! The endpoint table: every Canvas endpoint a plugin may call, described
//! once, with every place an id can appear in it.
//!
//! Threat: a call the policy cannot read. Before this table the policy
//! guessed which keys named ids (`*_id` of JSON objects) and let everything
//! else through unread, so an id in a key it did not know (`source_course`,
//! `course_ids_to_add`, a crosslist target) or an endpoint that acts on a
//! file (SIS imports) crossed schools. Now a call must match a row: a method
//! and a path template whose id segments say what they name, and the query
//! and body keys that may name ids. A call that matches no row is denied
//! (`unmodelled-endpoint`); a key that looks like it names an id but is not
//! listed for the row is denied (`unmodelled-field`). Adding an endpoint is
//! one row here and one test case.

use crate::operation::{Method, ObjectKind};

/// What a path segment of a template stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Segment {
    /// Must equal this text.
    Literal(&'static str),
    /// An object to place in the school (`:course`, `:user`, ...).
    Placed(ObjectKind),
    /// An id Canvas looks up within the object before it (e.g. the
    /// section in `/courses/:course/sections/:id`): a numeric or SIS id,
    /// not placed on its own.
    Inner,
    /// A name such as a report type (`provisioning_csv`): lowercase
    /// letters, digits and `_`.
    Name,
}

/// What a query or body key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// An object that must lie in the school.
    Ref(ObjectKind),
    /// An id-shaped attribute that names nothing another school owns: a
    /// value being set (`course[integration_id]`), or a filter of a list
    /// that is already bounded by its path (`enrollment_term_id`).
    Attr,
    /// A SIS id the call gives an object (`course[sis_course_id]`): it
    /// must start with the school's SIS-id prefix, or another school's
    /// SIS imports could later name, revive or take the object.
    SetsSis,
}

/// A capability beyond read and write that an endpoint needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Nothing more.
    Nothing,
    /// SIS imports carry a CSV file whose rows name objects by SIS id:
    /// only a grant that allows SIS imports may send one, to the school's
    /// root account, and every row's ids are placed.
    SisImport,
    /// A SIS import's status. On the root account, only an import the same
    /// run created.
    SisImportStatus,
}

/// One modelled endpoint.
#[derive(Debug)]
pub struct Endpoint {
    /// The methods this row allows.
    pub methods: &'static [Method],
    /// The path template, e.g. `/api/v1/courses/:course/sections`.
    pub template: &'static str,
    /// Query and body keys that name ids, in Canvas's bracket form
    /// (`enrollment[user_id]`, `course_ids[]`).
    pub fields: &'static [(&'static str, Field)],
    /// True when the call reaches a user beyond this school's courses
    /// (the profile, page views, logins, all enrollments): a user shared
    /// with another school is refused unless the grant allows it.
    pub user_level: bool,
    /// A capability beyond read and write.
    pub needs: Needs,
}

use Field::{Attr, Ref, SetsSis};
use Method::{Delete, Get, Post, Put};
use ObjectKind::{Account, Assignment, Course, Section, User};

const R: &[Method] = &[Get];
const RW: &[Method] = &[Get, Put];
const RWD: &[Method] = &[Get, Put, Delete];
const P: &[Method] = &[Post];
const W: &[Method] = &[Put];
const D: &[Method] = &[Delete];

const fn row(
    methods: &'static [Method],
    template: &'static str,
    fields: &'static [(&'static str, Field)],
) -> Endpoint {
    Endpoint {
        methods,
        template,
        fields,
        user_level: false,
        needs: Needs::Nothing,
    }
}

const fn user_row(
    methods: &'static [Method],
    template: &'static str,
    fields: &'static [(&'static str, Field)],
) -> Endpoint {
    Endpoint {
        methods,
        template,
        fields,
        user_level: true,
        needs: Needs::Nothing,
    }
}

/// Filters of a course list that the path already bounds.
const COURSE_LIST: &[(&str, Field)] = &[
    ("enrollment_term_id", Attr),
    ("by_subaccounts[]", Ref(Account)),
    ("by_teachers[]", Ref(User)),
];

/// Ids of a course a request may set.
const COURSE_ATTRS: &[(&str, Field)] = &[
    ("course[account_id]", Ref(Account)),
    ("course[term_id]", Attr),
    ("course[sis_course_id]", SetsSis),
    ("course[integration_id]", Attr),
    ("course[grading_standard_id]", Attr),
];

const SECTION_ATTRS: &[(&str, Field)] = &[
    ("course_section[sis_section_id]", SetsSis),
    ("course_section[integration_id]", Attr),
];

const NEW_ENROLLMENT: &[(&str, Field)] = &[
    ("enrollment[user_id]", Ref(User)),
    ("enrollment[course_section_id]", Ref(Section)),
    ("enrollment[associated_user_id]", Ref(User)),
    ("enrollment[role_id]", Attr),
    ("enrollment[limit_privileges_to_course_section]", Attr),
];

const ENROLLMENT_LIST: &[(&str, Field)] = &[
    ("user_id", Ref(User)),
    ("role_id", Attr),
    ("enrollment_term_id", Attr),
    ("grading_period_id", Attr),
    ("sis_account_id[]", Attr),
    ("sis_course_id[]", Attr),
    ("sis_section_id[]", Attr),
    ("sis_user_id[]", Attr),
];

/// Every endpoint a plugin may call. Order matters only where two
/// templates could match one path; none do today.
pub(crate) static ENDPOINTS: &[Endpoint] = &[
    // Accounts.
    row(
        RW,
        "/api/v1/accounts/:account",
        &[("account[sis_account_id]", Attr)],
    ),
    row(R, "/api/v1/accounts/:account/sub_accounts", &[]),
    row(
        P,
        "/api/v1/accounts/:account/sub_accounts",
        &[
            ("account[parent_account_id]", Ref(Account)),
            ("account[sis_account_id]", Attr),
        ],
    ),
    row(R, "/api/v1/accounts/:account/courses", COURSE_LIST),
    row(P, "/api/v1/accounts/:account/courses", COURSE_ATTRS),
    row(
        W,
        "/api/v1/accounts/:account/courses",
        &[("course_ids[]", Ref(Course))],
    ),
    row(R, "/api/v1/accounts/:account/users", &[]),
    row(
        P,
        "/api/v1/accounts/:account/users",
        &[
            ("pseudonym[unique_id]", Attr),
            ("pseudonym[sis_user_id]", SetsSis),
            ("pseudonym[integration_id]", Attr),
            ("pseudonym[authentication_provider_id]", Attr),
        ],
    ),
    row(R, "/api/v1/accounts/:account/terms", &[]),
    row(
        R,
        "/api/v1/accounts/:account/admins",
        &[("user_id[]", Ref(User))],
    ),
    row(R, "/api/v1/accounts/:account/reports", &[]),
    row(R, "/api/v1/accounts/:account/reports/:name", &[]),
    row(
        P,
        "/api/v1/accounts/:account/reports/:name",
        &[("parameters[enrollment_term_id]", Attr)],
    ),
    row(R, "/api/v1/accounts/:account/reports/:name/:id", &[]),
    row(R, "/api/v1/accounts/:account/sis_imports", &[]),
    Endpoint {
        methods: R,
        template: "/api/v1/accounts/:account/sis_imports/:id",
        fields: &[],
        user_level: false,
        needs: Needs::SisImportStatus,
    },
    Endpoint {
        methods: P,
        template: "/api/v1/accounts/:account/sis_imports",
        fields: &[],
        user_level: false,
        needs: Needs::SisImport,
    },
    // Courses.
    row(RW, "/api/v1/courses/:course", COURSE_ATTRS),
    row(D, "/api/v1/courses/:course", &[]),
    row(R, "/api/v1/courses/:course/sections", &[]),
    row(P, "/api/v1/courses/:course/sections", SECTION_ATTRS),
    row(R, "/api/v1/courses/:course/sections/:id", &[]),
    row(R, "/api/v1/courses/:course/enrollments", ENROLLMENT_LIST),
    row(P, "/api/v1/courses/:course/enrollments", NEW_ENROLLMENT),
    row(D, "/api/v1/courses/:course/enrollments/:id", &[]),
    row(
        R,
        "/api/v1/courses/:course/users",
        &[("user_ids[]", Ref(User)), ("enrollment_role_id", Attr)],
    ),
    row(R, "/api/v1/courses/:course/users/:id", &[]),
    row(R, "/api/v1/courses/:course/students", &[]),
    row(
        R,
        "/api/v1/courses/:course/students/submissions",
        &[
            ("student_ids[]", Ref(User)),
            ("assignment_ids[]", Ref(Assignment)),
        ],
    ),
    row(R, "/api/v1/courses/:course/assignments", &[]),
    row(
        P,
        "/api/v1/courses/:course/assignments",
        &[("assignment[assignment_group_id]", Attr)],
    ),
    row(
        RWD,
        "/api/v1/courses/:course/assignments/:id",
        &[("assignment[assignment_group_id]", Attr)],
    ),
    row(
        R,
        "/api/v1/courses/:course/assignments/:id/submissions",
        &[],
    ),
    row(
        RW,
        "/api/v1/courses/:course/assignments/:id/submissions/:id",
        &[],
    ),
    row(
        P,
        "/api/v1/courses/:course/course_copy",
        &[("source_course", Ref(Course))],
    ),
    row(R, "/api/v1/courses/:course/course_copy/:id", &[]),
    row(
        P,
        "/api/v1/courses/:course/content_migrations",
        &[("settings[source_course_id]", Ref(Course))],
    ),
    row(R, "/api/v1/courses/:course/content_migrations/:id", &[]),
    row(R, "/api/v1/courses/:course/blueprint_templates/:id", &[]),
    row(
        R,
        "/api/v1/courses/:course/blueprint_templates/:id/associated_courses",
        &[],
    ),
    row(
        W,
        "/api/v1/courses/:course/blueprint_templates/:id/update_associations",
        &[
            ("course_ids_to_add[]", Ref(Course)),
            ("course_ids_to_remove[]", Ref(Course)),
        ],
    ),
    // Sections.
    row(RWD, "/api/v1/sections/:section", SECTION_ATTRS),
    row(P, "/api/v1/sections/:section/crosslist/:course", &[]),
    row(D, "/api/v1/sections/:section/crosslist", &[]),
    row(R, "/api/v1/sections/:section/enrollments", ENROLLMENT_LIST),
    row(P, "/api/v1/sections/:section/enrollments", NEW_ENROLLMENT),
    // Users: everything here reaches the user beyond one school's courses,
    // and reads only. Changing a user (email, name, suspension) acts on
    // their login everywhere, and easel cannot tell whether they administer
    // another school, so it is not modelled.
    user_row(R, "/api/v1/users/:user", &[]),
    user_row(R, "/api/v1/users/:user/profile", &[]),
    user_row(
        R,
        "/api/v1/users/:user/enrollments",
        &[("enrollment_term_id", Attr), ("grading_period_id", Attr)],
    ),
    user_row(R, "/api/v1/users/:user/page_views", &[]),
    user_row(R, "/api/v1/users/:user/logins", &[]),
];

/// The template's segments after `/api/v1/`.
pub(crate) fn segments(template: &'static str) -> impl Iterator<Item = Segment> {
    template
        .trim_start_matches("/api/v1/")
        .split('/')
        .map(|s| match s {
            ":account" => Segment::Placed(Account),
            ":course" => Segment::Placed(Course),
            ":section" => Segment::Placed(Section),
            ":user" => Segment::Placed(User),
            ":enrollment" => Segment::Placed(ObjectKind::Enrollment),
            ":assignment" => Segment::Placed(Assignment),
            ":id" => Segment::Inner,
            ":name" => Segment::Name,
            lit => Segment::Literal(lit),
        })
}

/// The row for `method` and `path` (the segments after `/api/v1/`).
pub(crate) fn find(method: Method, path: &[String]) -> Option<&'static Endpoint> {
    ENDPOINTS.iter().find(|e| {
        e.methods.contains(&method) && {
            let mut n = 0;
            let all = segments(e.template).zip(path.iter()).all(|(seg, got)| {
                n += 1;
                match seg {
                    Segment::Literal(lit) => lit == got,
                    Segment::Placed(_) => true,
                    Segment::Inner => is_inner_id(got),
                    Segment::Name => {
                        !got.is_empty()
                            && got
                                .bytes()
                                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                    }
                }
            });
            all && n == path.len() && segments(e.template).count() == path.len()
        }
    })
}

/// A numeric id or an `sis_*:value` form.
fn is_inner_id(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty()
        || s.split_once(':')
            .is_some_and(|(p, v)| p.starts_with("sis_") && !v.is_empty())
}

impl Endpoint {
    /// What `key` (bracket form) names at this endpoint, if it is listed.
    pub fn field(&self, key: &str) -> Option<Field> {
        self.fields.iter().find(|(k, _)| *k == key).map(|(_, f)| *f)
    }
}

/// Object nouns: a key ending in one of these with a scalar value names an
/// object (`source_course`, `by_subaccounts[]`, `{"course": 142}`). A few
/// innocent keys end in one too; they are denied until modelled.
const NOUNS: &[&str] = &[
    "account",
    "accounts",
    "course",
    "courses",
    "section",
    "sections",
    "user",
    "users",
    "enrollment",
    "enrollments",
    "assignment",
    "assignments",
    "teacher",
    "teachers",
    "student",
    "students",
];

/// Does a key whose last bracket component is `bare` name an id? `scalar`:
/// the value is a number or string (a wrapper object such as
/// `{"course": {...}}` is not an id).
pub fn names_an_id(bare: &str, scalar: bool) -> bool {
    let b = bare.trim().to_ascii_lowercase();
    b == "id"
        || b == "ids"
        || b.ends_with("_id")
        || b.ends_with("_ids")
        || b.contains("_id_")
        || b.contains("_ids_")
        || b.ends_with("uuid")
        || (scalar && NOUNS.iter().any(|n| b.ends_with(n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The template with sample ids in place of its parameters.
    fn sample(template: &str) -> Vec<String> {
        template
            .trim_start_matches("/api/v1/")
            .split('/')
            .map(|s| match s {
                ":account" => "10".into(),
                ":course" => "100".into(),
                ":section" => "1000".into(),
                ":user" => "5".into(),
                ":enrollment" => "7000".into(),
                ":assignment" => "300".into(),
                ":id" => "1".into(),
                ":name" => "provisioning_csv".into(),
                lit => lit.to_owned(),
            })
            .collect()
    }

    #[test]
    fn every_row_matches_its_own_template_and_no_earlier_row() {
        for e in ENDPOINTS {
            for m in e.methods {
                let found = find(*m, &sample(e.template));
                assert!(
                    found.is_some_and(|f| std::ptr::eq(f, e)),
                    "{} {} matched {:?}",
                    m.as_str(),
                    e.template,
                    found.map(|f| f.template)
                );
            }
        }
    }

    #[test]
    fn every_row_names_an_object_to_place() {
        for e in ENDPOINTS {
            assert!(
                segments(e.template).any(|s| matches!(s, Segment::Placed(_))),
                "{} places nothing in a school",
                e.template
            );
        }
    }

    #[test]
    fn every_modelled_field_is_one_the_classifier_calls_an_id() {
        for e in ENDPOINTS {
            for (key, _) in e.fields {
                let bare = key
                    .trim_end_matches("[]")
                    .rsplit('[')
                    .next()
                    .unwrap_or(key)
                    .trim_end_matches(']');
                assert!(names_an_id(bare, true), "{key} of {}", e.template);
            }
        }
    }

    #[test]
    fn a_longer_or_shorter_path_matches_no_row() {
        let mut long = sample("/api/v1/courses/:course");
        long.push("extra".into());
        assert!(find(Method::Get, &long).is_none());
        assert!(find(Method::Get, &["courses".to_owned()]).is_none());
        assert!(find(Method::Post, &sample("/api/v1/courses/:course")).is_none());
    }
}

//! The simulated institution and its deterministic generator.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// How big an institution to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// A few schools, tens of courses each: `easel demo` and most tests.
    Demo,
    /// Many schools (one district with 320 schools in one instance).
    District,
    /// Any size.
    Custom(Sizes),
}

/// The generator's dials. Each course has three assignments (a quiz, an
/// essay, a project); each active student has a submission for each, some
/// graded; terms are Default, Fall 2026 and Spring 2027.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// School sub-accounts (each with one department sub-account).
    pub schools: usize,
    /// Courses per school.
    pub courses_per_school: usize,
    /// Students per school.
    pub students_per_school: usize,
    /// Teachers per school.
    pub teachers_per_school: usize,
}

impl Preset {
    /// The sizes this preset generates.
    pub fn sizes(self) -> Sizes {
        let (schools, courses_per_school, students_per_school, teachers_per_school) = match self {
            Preset::Demo => (4, 14, 60, 8),
            Preset::District => (320, 40, 300, 25),
            Preset::Custom(s) => return s,
        };
        Sizes {
            schools,
            courses_per_school,
            students_per_school,
            teachers_per_school,
        }
    }
}

/// An account or sub-account.
#[derive(Debug, Clone, Serialize)]
pub struct Account {
    pub id: u64,
    pub name: String,
    pub uuid: String,
    pub parent_account_id: Option<u64>,
    pub root_account_id: Option<u64>,
    pub workflow_state: String,
    pub sis_account_id: Option<String>,
    pub default_time_zone: String,
}

/// An enrollment term.
#[derive(Debug, Clone, Serialize)]
pub struct Term {
    pub id: u64,
    pub name: String,
    pub start_at: Option<String>,
    pub end_at: Option<String>,
    pub workflow_state: String,
    pub sis_term_id: Option<String>,
}

/// A course.
#[derive(Debug, Clone, Serialize)]
pub struct Course {
    pub id: u64,
    pub name: String,
    pub course_code: String,
    pub account_id: u64,
    pub root_account_id: u64,
    pub enrollment_term_id: u64,
    pub workflow_state: String,
    pub start_at: Option<String>,
    pub end_at: Option<String>,
    pub sis_course_id: Option<String>,
    pub uuid: String,
    pub time_zone: String,
    pub blueprint: bool,
    pub default_view: String,
    pub is_public: bool,
}

/// A course section.
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    pub id: u64,
    pub course_id: u64,
    pub name: String,
    pub sis_section_id: Option<String>,
    pub start_at: Option<String>,
    pub end_at: Option<String>,
}

/// A user.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: u64,
    pub name: String,
    pub sortable_name: String,
    pub short_name: String,
    pub sis_user_id: Option<String>,
    pub login_id: String,
    pub created_at: String,
}

/// An enrollment of a user in a course section.
#[derive(Debug, Clone, Serialize)]
pub struct Enrollment {
    pub id: u64,
    pub course_id: u64,
    pub course_section_id: u64,
    pub user_id: u64,
    #[serde(rename = "type")]
    pub kind: String,
    pub role: String,
    pub enrollment_state: String,
}

/// An assignment.
#[derive(Debug, Clone, Serialize)]
pub struct Assignment {
    pub id: u64,
    pub course_id: u64,
    pub name: String,
    pub due_at: Option<String>,
    pub points_possible: f64,
    pub published: bool,
    pub workflow_state: String,
    pub submission_types: Vec<String>,
}

/// The whole simulated institution.
#[derive(Debug, Clone, Default)]
pub struct Institution {
    pub accounts: BTreeMap<u64, Account>,
    pub terms: BTreeMap<u64, Term>,
    pub courses: BTreeMap<u64, Course>,
    pub sections: BTreeMap<u64, Section>,
    pub users: BTreeMap<u64, User>,
    pub enrollments: BTreeMap<u64, Enrollment>,
    /// Enrollment ids by course (kept in step with `enrollments` by
    /// [`Institution::add_enrollment`]).
    pub by_course: std::collections::HashMap<u64, Vec<u64>>,
    /// Course ids by owning account (kept in step by
    /// [`Institution::add_course`]).
    pub by_account: std::collections::HashMap<u64, Vec<u64>>,
    /// Account admins: (account, user); each administers the account's subtree.
    pub admins: Vec<(u64, u64)>,
    /// Assignments by id.
    pub assignments: BTreeMap<u64, Assignment>,
    /// Grades given through the API: (assignment, user) → (score, grade).
    pub grades: std::collections::HashMap<(u64, u64), (Option<f64>, Option<String>)>,
}

/// The user who administers the first school (sub-account admin role).
pub const SCHOOL_ADMIN_USER_ID: u64 = 2;
/// A user with no permissions anywhere.
pub const NOBODY_USER_ID: u64 = 3;

/// Id of the root account.
pub const ROOT_ACCOUNT_ID: u64 = 1;
/// Id of the root admin user (owner of the admin token).
pub const ADMIN_USER_ID: u64 = 1;

const SCHOOL_NAMES: &[&str] = &[
    "Lincoln",
    "Washington",
    "Jefferson",
    "Roosevelt",
    "Franklin",
    "Madison",
    "Hamilton",
    "Kennedy",
    "Riverside",
    "Oak Grove",
    "Cedar Park",
    "Maple Ridge",
    "Lakeview",
    "Hillcrest",
    "Sunnyvale",
    "Westwood",
];
const SCHOOL_KINDS: &[&str] = &["High School", "Middle School", "Elementary", "Academy"];
const SUBJECTS: &[(&str, &str)] = &[
    ("Algebra I", "MATH"),
    ("Geometry", "MATH"),
    ("Biology", "SCI"),
    ("Chemistry", "SCI"),
    ("World History", "HIST"),
    ("English Literature", "ENG"),
    ("Spanish I", "LANG"),
    ("Physics", "SCI"),
    ("Art Studio", "ART"),
    ("Computer Science", "CS"),
    ("Economics", "SOC"),
    ("Music Theory", "MUS"),
    ("Physical Education", "PE"),
    ("Statistics", "MATH"),
    ("Civics", "SOC"),
    ("Creative Writing", "ENG"),
];
const GIVEN: &[&str] = &[
    "Ava", "Liam", "Noah", "Emma", "Olivia", "Mateo", "Sofia", "Lucas", "Mia", "Ethan", "Amara",
    "Kenji", "Priya", "Diego", "Chloe", "Omar", "Zoe", "Hannah", "Wei", "Fatima", "Jonah", "Isla",
    "Ravi", "Leah",
];
const FAMILY: &[&str] = &[
    "Garcia", "Smith", "Nguyen", "Johnson", "Patel", "Kim", "Okafor", "Brown", "Rossi", "Müller",
    "Silva", "Cohen", "Haddad", "Lopez", "Chen", "Williams", "Novak", "Ibrahim", "Tanaka",
    "Murphy", "Dubois",
];

fn uuid_like(rng: &mut StdRng) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..40)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

impl Institution {
    /// Generate an institution from a preset and a seed. The same inputs
    /// always give the same institution.
    pub fn generate(preset: Preset, seed: u64) -> Self {
        let (schools, courses_per_school, students_per_school, teachers_per_school) = {
            let s = preset.sizes();
            (
                s.schools,
                s.courses_per_school,
                s.students_per_school.max(1),
                s.teachers_per_school.max(1),
            )
        };
        let mut rng = StdRng::seed_from_u64(seed);
        let mut inst = Institution::default();
        inst.accounts.insert(
            ROOT_ACCOUNT_ID,
            Account {
                id: ROOT_ACCOUNT_ID,
                name: "Riverside Unified School District".into(),
                uuid: uuid_like(&mut rng),
                parent_account_id: None,
                root_account_id: None,
                workflow_state: "active".into(),
                sis_account_id: Some("DISTRICT".into()),
                default_time_zone: "America/Chicago".into(),
            },
        );
        inst.users.insert(
            ADMIN_USER_ID,
            User {
                id: ADMIN_USER_ID,
                name: "District Admin".into(),
                sortable_name: "Admin, District".into(),
                short_name: "District Admin".into(),
                sis_user_id: Some("admin".into()),
                login_id: "admin@district.example".into(),
                created_at: "2019-07-01T12:00:00Z".into(),
            },
        );
        for (id, name, login) in [
            (
                SCHOOL_ADMIN_USER_ID,
                "Sam Schooladmin",
                "sam.schooladmin@district.example",
            ),
            (NOBODY_USER_ID, "Pat Nobody", "pat.nobody@district.example"),
        ] {
            let (given, family) = name.split_once(' ').unwrap_or((name, ""));
            inst.users.insert(
                id,
                User {
                    id,
                    name: name.into(),
                    sortable_name: format!("{family}, {given}"),
                    short_name: given.into(),
                    sis_user_id: Some(format!("staff-{id}")),
                    login_id: login.into(),
                    created_at: "2020-07-01T12:00:00Z".into(),
                },
            );
        }
        inst.admins.push((ROOT_ACCOUNT_ID, ADMIN_USER_ID));
        let term_specs = [
            (1, "Default Term", None, None, None),
            (
                2,
                "Fall 2026",
                Some("2026-08-17T05:00:00Z"),
                Some("2026-12-18T06:00:00Z"),
                Some("2026FA"),
            ),
            (
                3,
                "Spring 2027",
                Some("2027-01-05T06:00:00Z"),
                Some("2027-05-28T05:00:00Z"),
                Some("2027SP"),
            ),
        ];
        for (id, name, start, end, sis) in term_specs {
            inst.terms.insert(
                id,
                Term {
                    id,
                    name: name.into(),
                    start_at: start.map(Into::into),
                    end_at: end.map(Into::into),
                    workflow_state: "active".into(),
                    sis_term_id: sis.map(Into::into),
                },
            );
        }
        let mut next_account = 2;
        let mut next_course = 101;
        let mut next_section = 5001;
        let mut next_user = 10_001;
        let mut next_enrollment = 50_001;
        for s in 0..schools {
            let school_id = next_account;
            next_account += 1;
            let base = SCHOOL_NAMES[s % SCHOOL_NAMES.len()];
            let kind = SCHOOL_KINDS[(s / SCHOOL_NAMES.len() + s) % SCHOOL_KINDS.len()];
            let name = if s < SCHOOL_NAMES.len() {
                format!("{base} {kind}")
            } else {
                format!("{base} {kind} {}", s / SCHOOL_NAMES.len() + 1)
            };
            let sis_school = format!("SCH{:03}", s + 1);
            if s == 0 {
                inst.admins.push((school_id, SCHOOL_ADMIN_USER_ID));
            }
            inst.accounts.insert(
                school_id,
                Account {
                    id: school_id,
                    name: name.clone(),
                    uuid: uuid_like(&mut rng),
                    parent_account_id: Some(ROOT_ACCOUNT_ID),
                    root_account_id: Some(ROOT_ACCOUNT_ID),
                    workflow_state: "active".into(),
                    sis_account_id: Some(sis_school.clone()),
                    default_time_zone: "America/Chicago".into(),
                },
            );
            // One department sub-account per school, so schools are subtrees.
            let dept_id = next_account;
            next_account += 1;
            inst.accounts.insert(
                dept_id,
                Account {
                    id: dept_id,
                    name: format!("{name} - Science Department"),
                    uuid: uuid_like(&mut rng),
                    parent_account_id: Some(school_id),
                    root_account_id: Some(ROOT_ACCOUNT_ID),
                    workflow_state: "active".into(),
                    sis_account_id: Some(format!("{sis_school}-SCI")),
                    default_time_zone: "America/Chicago".into(),
                },
            );
            let mut make_user = |rng: &mut StdRng, role: &str, n: usize| {
                let id = next_user;
                next_user += 1;
                let given = GIVEN[rng.random_range(0..GIVEN.len())];
                let family = FAMILY[rng.random_range(0..FAMILY.len())];
                let login = format!(
                    "{}.{}{}@{}.example",
                    given.to_lowercase(),
                    family.to_lowercase(),
                    id,
                    role
                );
                inst.users.insert(
                    id,
                    User {
                        id,
                        name: format!("{given} {family}"),
                        sortable_name: format!("{family}, {given}"),
                        short_name: given.into(),
                        sis_user_id: Some(format!(
                            "{sis_school}-{}{n:04}",
                            &role[..1].to_uppercase()
                        )),
                        login_id: login,
                        created_at: "2024-08-01T15:00:00Z".into(),
                    },
                );
                id
            };
            let teachers: Vec<u64> = (0..teachers_per_school)
                .map(|n| make_user(&mut rng, "staff", n))
                .collect();
            let students: Vec<u64> = (0..students_per_school)
                .map(|n| make_user(&mut rng, "student", n))
                .collect();
            for c in 0..courses_per_school {
                let id = next_course;
                next_course += 1;
                let (subject, dept) = SUBJECTS[(c + s) % SUBJECTS.len()];
                let term_id = [2, 2, 3, 1][c % 4];
                let state = match rng.random_range(0..10) {
                    0..=5 => "available",
                    6..=8 => "unpublished",
                    _ => "completed",
                };
                let account_id = if dept == "SCI" { dept_id } else { school_id };
                let code = format!("{dept}-{}{:02}", 100 + (c / SUBJECTS.len()) * 100, c % 100);
                inst.add_course(Course {
                    id,
                    name: format!("{subject} ({})", inst.terms[&term_id].name),
                    course_code: code.clone(),
                    account_id,
                    root_account_id: ROOT_ACCOUNT_ID,
                    enrollment_term_id: term_id,
                    workflow_state: state.into(),
                    start_at: inst.terms[&term_id].start_at.clone(),
                    end_at: inst.terms[&term_id].end_at.clone(),
                    sis_course_id: Some(format!("{sis_school}-{code}")),
                    uuid: uuid_like(&mut rng),
                    time_zone: "America/Chicago".into(),
                    blueprint: false,
                    default_view: "modules".into(),
                    is_public: false,
                });
                for (k, (kind, points)) in [("Quiz", 10.0), ("Essay", 50.0), ("Project", 100.0)]
                    .into_iter()
                    .enumerate()
                {
                    let aid = 900_000 + id * 10 + k as u64;
                    inst.assignments.insert(
                        aid,
                        Assignment {
                            id: aid,
                            course_id: id,
                            name: format!("{kind} {}", k + 1),
                            due_at: Some(format!("2026-{:02}-15T05:59:59Z", 9 + k)),
                            points_possible: points,
                            published: state != "unpublished",
                            workflow_state: if state == "unpublished" {
                                "unpublished"
                            } else {
                                "published"
                            }
                            .into(),
                            submission_types: vec!["online_upload".into()],
                        },
                    );
                }
                let section_id = next_section;
                next_section += 1;
                inst.sections.insert(
                    section_id,
                    Section {
                        id: section_id,
                        course_id: id,
                        name: format!("{code} Section 1"),
                        sis_section_id: Some(format!("{sis_school}-{code}-S1")),
                        start_at: None,
                        end_at: None,
                    },
                );
                let mut enroll = |user_id: u64, kind: &str, state: &str| {
                    let eid = next_enrollment;
                    next_enrollment += 1;
                    inst.add_enrollment(Enrollment {
                        id: eid,
                        course_id: id,
                        course_section_id: section_id,
                        user_id,
                        kind: kind.into(),
                        role: kind.into(),
                        enrollment_state: state.into(),
                    });
                };
                let n_teachers = 1 + usize::from(rng.random_range(0..4) == 0);
                for t in 0..n_teachers {
                    enroll(
                        teachers[(c + t) % teachers.len()],
                        "TeacherEnrollment",
                        "active",
                    );
                }
                if state == "unpublished" {
                    continue; // no students yet in courses not offered
                }
                let n_students = rng.random_range(5..=25).min(students.len());
                let start = rng.random_range(0..students.len());
                for k in 0..n_students {
                    let st = if rng.random_range(0..20) == 0 {
                        "invited"
                    } else {
                        "active"
                    };
                    enroll(
                        students[(start + k) % students.len()],
                        "StudentEnrollment",
                        st,
                    );
                }
            }
        }
        inst
    }

    /// Schools: the direct sub-accounts of the root.
    pub fn schools(&self) -> Vec<&Account> {
        self.accounts
            .values()
            .filter(|a| a.parent_account_id == Some(ROOT_ACCOUNT_ID))
            .collect()
    }

    /// True when `account` is `ancestor` or lies below it.
    pub fn is_within(&self, account: u64, ancestor: u64) -> bool {
        let mut cur = Some(account);
        while let Some(id) = cur {
            if id == ancestor {
                return true;
            }
            cur = self.accounts.get(&id).and_then(|a| a.parent_account_id);
        }
        false
    }

    /// Record a course and index it by account.
    pub fn add_course(&mut self, c: Course) {
        self.by_account.entry(c.account_id).or_default().push(c.id);
        self.courses.insert(c.id, c);
    }

    /// `account` and every account below it.
    pub fn subtree(&self, account: u64) -> Vec<u64> {
        let mut children: std::collections::HashMap<u64, Vec<u64>> =
            std::collections::HashMap::new();
        for a in self.accounts.values() {
            if let Some(p) = a.parent_account_id {
                children.entry(p).or_default().push(a.id);
            }
        }
        let mut out = vec![account];
        let mut i = 0;
        while i < out.len() {
            out.extend(children.get(&out[i]).into_iter().flatten().copied());
            i += 1;
        }
        out
    }

    /// Courses whose account lies in `account`'s subtree, by id.
    pub fn courses_in(&self, account: u64) -> Vec<&Course> {
        let mut ids: Vec<u64> = self
            .subtree(account)
            .iter()
            .filter_map(|a| self.by_account.get(a))
            .flatten()
            .copied()
            .collect();
        ids.sort_unstable();
        ids.iter().filter_map(|id| self.courses.get(id)).collect()
    }

    /// Record an enrollment and index it by course.
    pub fn add_enrollment(&mut self, e: Enrollment) {
        self.by_course.entry(e.course_id).or_default().push(e.id);
        self.enrollments.insert(e.id, e);
    }

    /// A course's enrollments, in id order.
    pub fn enrollments_of(&self, course: u64) -> impl Iterator<Item = &Enrollment> {
        self.by_course
            .get(&course)
            .into_iter()
            .flatten()
            .filter_map(|id| self.enrollments.get(id))
    }

    /// Active enrollments of a type in a course.
    pub fn count_enrollments(&self, course: u64, kind: &str) -> usize {
        self.enrollments_of(course)
            .filter(|e| e.kind == kind && e.enrollment_state == "active")
            .count()
    }
}

impl Institution {
    /// Does `user` administer `account` (directly or through an ancestor)?
    pub fn is_admin_of(&self, user: u64, account: u64) -> bool {
        self.admins
            .iter()
            .any(|(a, u)| *u == user && self.is_within(account, *a))
    }

    /// Is `user` an active teacher (or TA) in `course`?
    pub fn teaches(&self, user: u64, course: u64) -> bool {
        self.enrollments_of(course).any(|e| {
            e.user_id == user
                && matches!(e.kind.as_str(), "TeacherEnrollment" | "TaEnrollment")
                && e.enrollment_state == "active"
        })
    }

    /// A teacher of the first school (the teacher role's user).
    pub fn a_teacher(&self) -> Option<u64> {
        let school = self.schools().first()?.id;
        let course = self.courses_in(school).first()?.id;
        self.enrollments_of(course)
            .find(|e| e.kind == "TeacherEnrollment")
            .map(|e| e.user_id)
    }
}

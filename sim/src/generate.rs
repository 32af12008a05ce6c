//! The deterministic generator: a district's root account, its schools
//! (each with a department sub-account), terms, courses, sections, users,
//! enrollments and assignments. The same preset, seed and irregularity
//! rate always give the same institution.
//!
//! Real institutions are untidy, and the tools easel runs exist to find the
//! untidiness, so the generator seeds irregularities at a configurable
//! rate (`irregular.rs`). At rate 0 the data is regular: every course has
//! an active teacher, every enrollment is active or invited, every user
//! has a SIS id.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::model::{
    ADMIN_USER_ID, Account, Assignment, Course, Enrollment, Institution, NOBODY_USER_ID,
    ROOT_ACCOUNT_ID, SCHOOL_ADMIN_USER_ID, Section, Term, User,
};

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

/// The share of candidates the generator makes irregular by default: a
/// few courses without teachers, concluded and deleted enrollments, empty
/// sub-accounts, unpublished courses with students and staff without SIS
/// ids (at least one of each whenever the rate is above 0).
pub const DEFAULT_IRREGULAR_RATE: f64 = 0.05;

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
const ZONE: &str = "America/Chicago";

pub(crate) fn uuid_like(rng: &mut StdRng) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..40)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn account(id: u64, name: String, parent: Option<u64>, sis: String, uuid: String) -> Account {
    Account {
        id,
        name,
        uuid,
        parent_account_id: parent,
        root_account_id: parent.map(|_| ROOT_ACCOUNT_ID),
        workflow_state: "active".into(),
        sis_account_id: Some(sis),
        default_time_zone: ZONE.into(),
    }
}

/// A user; `sortable_name` and `short_name` follow from "Given Family".
pub(crate) fn person(
    id: u64,
    name: &str,
    login: String,
    sis: Option<String>,
    uuid: String,
) -> User {
    let (given, family) = name.split_once(' ').unwrap_or((name, ""));
    User {
        id,
        name: name.to_owned(),
        sortable_name: if family.is_empty() {
            given.to_owned()
        } else {
            format!("{family}, {given}")
        },
        short_name: given.to_owned(),
        sis_user_id: sis,
        email: Some(login.clone()),
        login_id: login,
        created_at: "2024-08-01T15:00:00Z".into(),
        uuid,
    }
}

impl Institution {
    /// Generate an institution from a preset and a seed, with the default
    /// share of irregularities ([`DEFAULT_IRREGULAR_RATE`]).
    pub fn generate(preset: Preset, seed: u64) -> Self {
        Self::generate_with(preset, seed, DEFAULT_IRREGULAR_RATE)
    }

    /// Generate an institution with `irregular_rate` (0.0 to 1.0) of its
    /// candidates made irregular; 0 gives regular data.
    pub fn generate_with(preset: Preset, seed: u64, irregular_rate: f64) -> Self {
        let mut inst = Self::generate_regular(preset, seed);
        crate::irregular::apply(&mut inst, seed, irregular_rate);
        inst
    }

    fn generate_regular(preset: Preset, seed: u64) -> Self {
        let sizes = preset.sizes();
        let (students_per_school, teachers_per_school) = (
            sizes.students_per_school.max(1),
            sizes.teachers_per_school.max(1),
        );
        let mut rng = StdRng::seed_from_u64(seed);
        // Fields added after the first generator draw from their own stream,
        // so a seed keeps naming the same people and courses.
        let mut extra = StdRng::seed_from_u64(seed ^ 0x05ee_d0fc_a4a5);
        let mut inst = Institution::default();
        let root_uuid = uuid_like(&mut rng);
        inst.accounts.insert(
            ROOT_ACCOUNT_ID,
            account(
                ROOT_ACCOUNT_ID,
                "Riverside Unified School District".into(),
                None,
                "DISTRICT".into(),
                root_uuid,
            ),
        );
        let mut admin = person(
            ADMIN_USER_ID,
            "District Admin",
            "admin@district.example".into(),
            Some("admin".into()),
            uuid_like(&mut extra),
        );
        admin.sortable_name = "Admin, District".into();
        admin.short_name = "District Admin".into();
        admin.created_at = "2019-07-01T12:00:00Z".into();
        inst.users.insert(ADMIN_USER_ID, admin);
        for (id, name, login) in [
            (
                SCHOOL_ADMIN_USER_ID,
                "Sam Schooladmin",
                "sam.schooladmin@district.example",
            ),
            (NOBODY_USER_ID, "Pat Nobody", "pat.nobody@district.example"),
        ] {
            let mut u = person(
                id,
                name,
                login.into(),
                Some(format!("staff-{id}")),
                uuid_like(&mut extra),
            );
            u.created_at = "2020-07-01T12:00:00Z".into();
            inst.users.insert(id, u);
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
                    created_at: "2019-07-01T12:00:00Z".into(),
                },
            );
        }
        let mut next_account = 2;
        let mut next_course = 101;
        let mut next_section = 5001;
        let mut next_user = 10_001;
        let mut next_enrollment = 50_001;
        for s in 0..sizes.schools {
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
            let school_uuid = uuid_like(&mut rng);
            inst.accounts.insert(
                school_id,
                account(
                    school_id,
                    name.clone(),
                    Some(ROOT_ACCOUNT_ID),
                    sis_school.clone(),
                    school_uuid,
                ),
            );
            // One department sub-account per school, so schools are subtrees.
            let dept_id = next_account;
            next_account += 1;
            let dept_uuid = uuid_like(&mut rng);
            inst.accounts.insert(
                dept_id,
                account(
                    dept_id,
                    format!("{name} - Science Department"),
                    Some(school_id),
                    format!("{sis_school}-SCI"),
                    dept_uuid,
                ),
            );
            // Teachers are `-T`, students `-S`: SIS ids are unique across
            // the institution, as Canvas requires.
            let mut make_user = |rng: &mut StdRng, domain: &str, letter: char, n: usize| {
                let id = next_user;
                next_user += 1;
                let given = GIVEN[rng.random_range(0..GIVEN.len())];
                let family = FAMILY[rng.random_range(0..FAMILY.len())];
                let login = format!(
                    "{}.{}{}@{}.example",
                    given.to_lowercase(),
                    family.to_lowercase(),
                    id,
                    domain
                );
                let user = person(
                    id,
                    &format!("{given} {family}"),
                    login,
                    Some(format!("{sis_school}-{letter}{n:04}")),
                    uuid_like(&mut extra),
                );
                inst.users.insert(id, user);
                id
            };
            let teachers: Vec<u64> = (0..teachers_per_school)
                .map(|n| make_user(&mut rng, "staff", 'T', n))
                .collect();
            let students: Vec<u64> = (0..students_per_school)
                .map(|n| make_user(&mut rng, "student", 'S', n))
                .collect();
            for c in 0..sizes.courses_per_school {
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
                let term = &inst.terms[&term_id];
                let course = Course {
                    id,
                    name: format!("{subject} ({})", term.name),
                    course_code: code.clone(),
                    account_id,
                    root_account_id: ROOT_ACCOUNT_ID,
                    enrollment_term_id: term_id,
                    workflow_state: state.into(),
                    start_at: term.start_at.clone(),
                    end_at: term.end_at.clone(),
                    sis_course_id: Some(format!("{sis_school}-{code}")),
                    uuid: uuid_like(&mut rng),
                    time_zone: ZONE.into(),
                    blueprint: false,
                    default_view: "modules".into(),
                    is_public: false,
                    created_at: "2026-06-01T15:00:00Z".into(),
                    syllabus_body: Some(format!(
                        "<h2>{subject}</h2><p>Welcome to {code}. Assignments are due at midnight.</p>"
                    )),
                };
                inst.add_course(course);
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
                            grading_type: "points".into(),
                            created_at: "2026-07-01T15:00:00Z".into(),
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
                        created_at: "2026-06-01T15:00:00Z".into(),
                    },
                );
                let mut enroll = |user_id: u64, kind: &str, state: &str| {
                    let eid = next_enrollment;
                    next_enrollment += 1;
                    inst.add_enrollment(enrollment(eid, id, section_id, user_id, kind, state));
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
}

/// An enrollment made by the generator (or the irregularities).
pub(crate) fn enrollment(
    id: u64,
    course: u64,
    section: u64,
    user: u64,
    kind: &str,
    state: &str,
) -> Enrollment {
    let active = state == "active";
    Enrollment {
        id,
        course_id: course,
        course_section_id: section,
        user_id: user,
        kind: kind.into(),
        role: kind.into(),
        enrollment_state: state.into(),
        created_at: "2026-08-10T14:00:00Z".into(),
        updated_at: "2026-08-10T14:00:00Z".into(),
        last_activity_at: active.then(|| format!("2026-09-{:02}T15:30:00Z", 1 + user % 28)),
    }
}

//! Scenarios: a plugin author's school, seeded with exactly the objects
//! their plugin looks for (a course without teachers, a concluded
//! enrollment, an unpublished course with students). `easel plugin test`
//! reads one from a TOML file and runs the plugin on the school it makes.
//!
//! A scenario only adds: a new school sub-account of the root, with its
//! people, courses, sections and enrollments. Ids continue after the
//! institution's largest, so nothing already there changes.

use serde::Deserialize;

use crate::generate::{enrollment, person};
use crate::model::{Account, Course, Institution, ROOT_ACCOUNT_ID, Section};

/// The school a scenario makes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchoolSpec {
    /// Its name (default "Scenario School").
    #[serde(default = "default_school_name")]
    pub name: String,
    /// Its SIS id (default `SCENARIO`).
    #[serde(default = "default_school_sis")]
    pub sis_id: String,
}

impl Default for SchoolSpec {
    fn default() -> Self {
        Self {
            name: default_school_name(),
            sis_id: default_school_sis(),
        }
    }
}

fn default_school_name() -> String {
    "Scenario School".into()
}

fn default_school_sis() -> String {
    "SCENARIO".into()
}

/// One course and the people enrolled in it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CourseSpec {
    /// The course's name.
    pub name: String,
    /// Its course code (default: from its position, `COURSE-1`...).
    pub code: Option<String>,
    /// `unpublished`, `available` (the default), `completed` or `deleted`.
    #[serde(default = "default_state")]
    pub state: String,
    /// `Default Term`, `Fall 2026` (the default) or `Spring 2027`.
    #[serde(default = "default_term")]
    pub term: String,
    /// Its SIS id (default none).
    pub sis_id: Option<String>,
    /// Active teacher enrollments (default 1).
    #[serde(default = "one")]
    pub teachers: u32,
    /// Active TA enrollments (default 0).
    #[serde(default)]
    pub tas: u32,
    /// Active student enrollments (default 5).
    #[serde(default = "five")]
    pub students: u32,
    /// Student enrollments that are `invited` (default 0).
    #[serde(default)]
    pub invited_students: u32,
    /// Student enrollments that are `completed`, i.e. concluded (default 0).
    #[serde(default)]
    pub concluded_students: u32,
    /// Student enrollments that are `inactive` (default 0).
    #[serde(default)]
    pub inactive_students: u32,
    /// Student enrollments that are `deleted` (default 0).
    #[serde(default)]
    pub deleted_students: u32,
}

fn default_state() -> String {
    "available".into()
}

fn default_term() -> String {
    "Fall 2026".into()
}

fn one() -> u32 {
    1
}

fn five() -> u32 {
    5
}

/// Given names for the people a scenario makes ("Alex Teacher1").
const GIVEN: &[&str] = &[
    "Alex", "Blake", "Casey", "Drew", "Emery", "Finley", "Harper", "Jordan", "Kai", "Logan",
];

/// The most people one scenario may enroll (it is a test, not a district).
pub const MAX_SCENARIO_ENROLLMENTS: u32 = 10_000;

/// A scenario: a school and its courses.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The school.
    #[serde(default)]
    pub school: SchoolSpec,
    /// Its courses.
    #[serde(default)]
    pub courses: Vec<CourseSpec>,
}

/// What a scenario made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seeded {
    /// The new school's account id.
    pub school: u64,
    /// Each course's id, in the scenario's order.
    pub courses: Vec<u64>,
}

impl Scenario {
    /// Check the scenario: known states and terms, and a bounded size.
    /// The message says which course and what to write instead.
    pub fn check(&self, inst: &Institution) -> Result<(), String> {
        let mut people = 0u32;
        for (n, c) in self.courses.iter().enumerate() {
            let which = format!("course {} ({:?})", n + 1, c.name);
            if c.name.trim().is_empty() {
                return Err(format!("{which}: name must not be empty"));
            }
            if !matches!(
                c.state.as_str(),
                "unpublished" | "available" | "completed" | "deleted"
            ) {
                return Err(format!(
                    "{which}: state {:?} is not one of unpublished, available, completed, deleted",
                    c.state
                ));
            }
            if !inst.terms.values().any(|t| t.name == c.term) {
                let names: Vec<&str> = inst.terms.values().map(|t| t.name.as_str()).collect();
                return Err(format!(
                    "{which}: term {:?} is not one of {}",
                    c.term,
                    names.join(", ")
                ));
            }
            for n in [
                c.teachers,
                c.tas,
                c.students,
                c.invited_students,
                c.concluded_students,
                c.inactive_students,
                c.deleted_students,
            ] {
                people = people.saturating_add(n);
            }
        }
        if people > MAX_SCENARIO_ENROLLMENTS {
            return Err(format!(
                "the scenario enrolls {people} people; at most {MAX_SCENARIO_ENROLLMENTS}"
            ));
        }
        Ok(())
    }

    /// Add the scenario's school, people, courses and enrollments.
    pub fn apply(&self, inst: &mut Institution) -> Result<Seeded, String> {
        self.check(inst)?;
        let next = |ids: &mut dyn Iterator<Item = u64>, floor: u64| {
            ids.max().map_or(floor, |m| m + 1).max(floor)
        };
        let school = next(&mut inst.accounts.keys().copied(), 2);
        let first_course = next(&mut inst.courses.keys().copied(), 101);
        let first_section = next(&mut inst.sections.keys().copied(), 5001);
        let mut next_user = next(&mut inst.users.keys().copied(), 10_001);
        let mut next_enrollment = next(&mut inst.enrollments.keys().copied(), 50_001);
        let sis = &self.school.sis_id;
        inst.accounts.insert(
            school,
            Account {
                id: school,
                name: self.school.name.clone(),
                uuid: format!("scenario-school-{school}"),
                parent_account_id: Some(ROOT_ACCOUNT_ID),
                root_account_id: Some(ROOT_ACCOUNT_ID),
                workflow_state: "active".into(),
                sis_account_id: Some(sis.clone()),
                default_time_zone: "America/Chicago".into(),
            },
        );
        let mut seeded = Seeded {
            school,
            courses: Vec::new(),
        };
        for (n, spec) in self.courses.iter().enumerate() {
            let term = inst
                .terms
                .values()
                .find(|t| t.name == spec.term)
                .cloned()
                .ok_or_else(|| format!("term {:?} is unknown", spec.term))?;
            let id = first_course + n as u64;
            let code = spec
                .code
                .clone()
                .unwrap_or_else(|| format!("COURSE-{}", n + 1));
            inst.add_course(Course {
                id,
                name: spec.name.clone(),
                course_code: code.clone(),
                account_id: school,
                root_account_id: ROOT_ACCOUNT_ID,
                enrollment_term_id: term.id,
                workflow_state: spec.state.clone(),
                start_at: term.start_at.clone(),
                end_at: term.end_at.clone(),
                sis_course_id: spec.sis_id.clone(),
                uuid: format!("scenario-course-{id}"),
                time_zone: "America/Chicago".into(),
                blueprint: false,
                default_view: "modules".into(),
                is_public: false,
                created_at: "2026-06-01T15:00:00Z".into(),
                syllabus_body: None,
            });
            let section = first_section + n as u64;
            inst.sections.insert(
                section,
                Section {
                    id: section,
                    course_id: id,
                    name: format!("{code} Section 1"),
                    sis_section_id: None,
                    start_at: None,
                    end_at: None,
                    created_at: "2026-06-01T15:00:00Z".into(),
                },
            );
            let groups = [
                ("TeacherEnrollment", "active", spec.teachers, "Teacher"),
                ("TaEnrollment", "active", spec.tas, "Assistant"),
                ("StudentEnrollment", "active", spec.students, "Student"),
                (
                    "StudentEnrollment",
                    "invited",
                    spec.invited_students,
                    "Invited",
                ),
                (
                    "StudentEnrollment",
                    "completed",
                    spec.concluded_students,
                    "Concluded",
                ),
                (
                    "StudentEnrollment",
                    "inactive",
                    spec.inactive_students,
                    "Inactive",
                ),
                (
                    "StudentEnrollment",
                    "deleted",
                    spec.deleted_students,
                    "Deleted",
                ),
            ];
            for (kind, state, count, label) in groups {
                for k in 0..count {
                    let user = next_user;
                    next_user += 1;
                    inst.users.insert(
                        user,
                        person(
                            user,
                            &format!(
                                "{} {label}{}",
                                GIVEN[(user % GIVEN.len() as u64) as usize],
                                k + 1
                            ),
                            format!("user{user}@scenario.example"),
                            Some(format!("{sis}-U{user}")),
                            format!("scenario-user-{user}"),
                        ),
                    );
                    let e = next_enrollment;
                    next_enrollment += 1;
                    inst.add_enrollment(enrollment(e, id, section, user, kind, state));
                }
            }
            seeded.courses.push(id);
        }
        Ok(seeded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{Preset, Sizes};

    fn small() -> Institution {
        Institution::generate_with(
            Preset::Custom(Sizes {
                schools: 1,
                courses_per_school: 2,
                students_per_school: 3,
                teachers_per_school: 1,
            }),
            1,
            0.0,
        )
    }

    #[test]
    fn a_scenario_adds_a_school_with_exactly_its_objects() {
        let mut inst = small();
        let before = inst.courses.len();
        let s = Scenario {
            school: SchoolSpec::default(),
            courses: vec![
                CourseSpec {
                    name: "No teacher".into(),
                    code: None,
                    state: "available".into(),
                    term: "Fall 2026".into(),
                    sis_id: None,
                    teachers: 0,
                    tas: 1,
                    students: 2,
                    invited_students: 0,
                    concluded_students: 1,
                    inactive_students: 0,
                    deleted_students: 0,
                },
                CourseSpec {
                    name: "Draft".into(),
                    code: Some("DRAFT".into()),
                    state: "unpublished".into(),
                    term: "Spring 2027".into(),
                    sis_id: Some("X-1".into()),
                    teachers: 1,
                    tas: 0,
                    students: 0,
                    invited_students: 0,
                    concluded_students: 0,
                    inactive_students: 0,
                    deleted_students: 0,
                },
            ],
        };
        let seeded = s.apply(&mut inst).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(inst.courses.len(), before + 2);
        assert_eq!(inst.courses_in(seeded.school).len(), 2);
        assert!(inst.schools().iter().any(|a| a.id == seeded.school));
        let first = seeded.courses[0];
        assert_eq!(inst.count_enrollments(first, "TeacherEnrollment"), 0);
        let states: Vec<&str> = inst
            .enrollments_of(first)
            .filter(|e| e.kind == "StudentEnrollment")
            .map(|e| e.enrollment_state.as_str())
            .collect();
        assert_eq!(states, ["active", "active", "completed"]);
        assert_eq!(
            inst.courses[&seeded.courses[1]].workflow_state,
            "unpublished"
        );
        assert_eq!(inst.courses[&seeded.courses[1]].enrollment_term_id, 3);
    }

    #[test]
    fn unknown_states_and_terms_are_refused_by_course() {
        let mut inst = small();
        let mut s: Scenario = serde_json::from_value(serde_json::json!({
            "courses": [{"name": "A", "state": "published"}]
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let e = s.apply(&mut inst).unwrap_err();
        assert!(e.contains("course 1") && e.contains("published"), "{e}");
        s.courses[0].state = "available".into();
        s.courses[0].term = "Summer".into();
        let e = s.apply(&mut inst).unwrap_err();
        assert!(e.contains("Summer") && e.contains("Fall 2026"), "{e}");
        let unknown = serde_json::from_value::<Scenario>(serde_json::json!({
            "courses": [{"name": "A", "teacher": 0}]
        }));
        assert!(unknown.is_err(), "a misspelt key is an error");
    }
}

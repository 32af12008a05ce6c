//! Seeded irregularities: the untidy corners real institutions have and
//! admins' tools must cope with.
//!
//! - courses without a teacher;
//! - concluded and deleted student enrollments (Canvas lists them only
//!   when a `state[]` filter asks);
//! - unpublished courses that already have students;
//! - empty sub-accounts (a school's program with no courses yet);
//! - staff created by hand, without a SIS id.
//!
//! Each candidate is made irregular with probability `rate`; when the roll
//! picks none, one is picked anyway, so any rate above 0 shows every kind
//! (`easel demo` finds some). The rolls come from their own random stream:
//! the regular data of a seed is the same at every rate.

use std::collections::{HashMap, HashSet};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::generate::{enrollment, uuid_like};
use crate::model::{Account, Institution, ROOT_ACCOUNT_ID};

/// First id of the users the generator makes (below are the fixed staff).
const FIRST_GENERATED_USER: u64 = 10_001;

/// Make `rate` (0.0 to 1.0) of each kind of candidate irregular.
pub(crate) fn apply(inst: &mut Institution, seed: u64, rate: f64) {
    if rate.is_nan() || rate <= 0.0 {
        return;
    }
    let rate = rate.min(1.0);
    let mut rng = StdRng::seed_from_u64(seed ^ 0x0ddb_a115_eed0);
    courses_without_teachers(inst, &mut rng, rate);
    concluded_and_deleted_enrollments(inst, &mut rng, rate);
    unpublished_courses_with_students(inst, &mut rng, rate);
    empty_sub_accounts(inst, &mut rng, rate);
    staff_without_sis_ids(inst, &mut rng, rate);
    inst.reindex();
}

/// Each candidate with probability `rate`, and at least `min` of them
/// (fewer only if there are fewer candidates).
fn pick<T: Copy>(rng: &mut StdRng, rate: f64, candidates: &[T], min: usize) -> Vec<T> {
    let mut chosen: Vec<usize> = (0..candidates.len())
        .filter(|_| rng.random_bool(rate))
        .collect();
    while chosen.len() < min.min(candidates.len()) {
        let i = rng.random_range(0..candidates.len());
        if !chosen.contains(&i) {
            chosen.push(i);
        }
    }
    chosen.sort_unstable();
    chosen.into_iter().map(|i| candidates[i]).collect()
}

fn courses_without_teachers(inst: &mut Institution, rng: &mut StdRng, rate: f64) {
    let courses: Vec<u64> = inst.courses.keys().copied().collect();
    let chosen: HashSet<u64> = pick(rng, rate, &courses, 1).into_iter().collect();
    inst.enrollments
        .retain(|_, e| !(chosen.contains(&e.course_id) && e.kind == "TeacherEnrollment"));
    inst.reindex();
}

fn concluded_and_deleted_enrollments(inst: &mut Institution, rng: &mut StdRng, rate: f64) {
    let students: Vec<u64> = inst
        .enrollments
        .values()
        .filter(|e| e.kind == "StudentEnrollment")
        .map(|e| e.id)
        .collect();
    for (n, id) in pick(rng, rate, &students, 2).into_iter().enumerate() {
        if let Some(e) = inst.enrollments.get_mut(&id) {
            e.enrollment_state = if n % 2 == 0 { "completed" } else { "deleted" }.into();
            e.updated_at = "2026-10-20T16:00:00Z".into();
        }
    }
}

/// The school (a direct sub-account of the root) `account` lies in.
fn school_of(inst: &Institution, mut account: u64) -> Option<u64> {
    loop {
        let parent = inst.accounts.get(&account)?.parent_account_id?;
        if parent == ROOT_ACCOUNT_ID {
            return Some(account);
        }
        account = parent;
    }
}

fn unpublished_courses_with_students(inst: &mut Institution, rng: &mut StdRng, rate: f64) {
    let unpublished: Vec<u64> = inst
        .courses
        .values()
        .filter(|c| c.workflow_state == "unpublished")
        .map(|c| c.id)
        .collect();
    let chosen = pick(rng, rate, &unpublished, 1);
    if chosen.is_empty() {
        return;
    }
    // Each school's students, from one pass over the enrollments.
    let mut pupils: HashMap<u64, Vec<u64>> = HashMap::new();
    for e in inst.enrollments.values() {
        if e.kind != "StudentEnrollment" {
            continue;
        }
        let school = inst
            .courses
            .get(&e.course_id)
            .and_then(|c| school_of(inst, c.account_id));
        if let Some(school) = school {
            pupils.entry(school).or_default().push(e.user_id);
        }
    }
    for list in pupils.values_mut() {
        list.sort_unstable();
        list.dedup();
    }
    for course in chosen {
        let school = inst
            .courses
            .get(&course)
            .and_then(|c| school_of(inst, c.account_id));
        let Some(candidates) = school.and_then(|s| pupils.get(&s)) else {
            continue;
        };
        let Some(section) = inst
            .sections
            .values()
            .find(|s| s.course_id == course)
            .map(|s| s.id)
        else {
            continue;
        };
        let wanted = rng.random_range(3..=8).min(candidates.len());
        for user in pick(rng, 0.0, candidates, wanted) {
            let id = Institution::next_id(&inst.enrollments, 50_000);
            let e = enrollment(id, course, section, user, "StudentEnrollment", "active");
            inst.add_enrollment(e);
        }
    }
}

fn empty_sub_accounts(inst: &mut Institution, rng: &mut StdRng, rate: f64) {
    let schools: Vec<u64> = inst.schools().iter().map(|a| a.id).collect();
    for school in pick(rng, rate, &schools, 1) {
        let Some(parent) = inst.accounts.get(&school).cloned() else {
            continue;
        };
        let id = Institution::next_id(&inst.accounts, 1);
        let sis = parent
            .sis_account_id
            .as_ref()
            .map(|s| format!("{s}-SUMMER"));
        inst.accounts.insert(
            id,
            Account {
                id,
                name: format!("{} - Summer Programs", parent.name),
                uuid: uuid_like(rng),
                parent_account_id: Some(school),
                root_account_id: Some(ROOT_ACCOUNT_ID),
                workflow_state: "active".into(),
                sis_account_id: sis,
                default_time_zone: parent.default_time_zone.clone(),
            },
        );
    }
}

fn staff_without_sis_ids(inst: &mut Institution, rng: &mut StdRng, rate: f64) {
    let mut staff: Vec<u64> = inst
        .enrollments
        .values()
        .filter(|e| e.kind == "TeacherEnrollment" && e.user_id >= FIRST_GENERATED_USER)
        .map(|e| e.user_id)
        .collect();
    staff.sort_unstable();
    staff.dedup();
    for user in pick(rng, rate, &staff, 1) {
        if let Some(u) = inst.users.get_mut(&user) {
            u.sis_user_id = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::generate::Preset;
    use crate::model::Institution;

    fn kinds(inst: &Institution) -> [usize; 6] {
        let no_teacher = inst
            .courses
            .values()
            .filter(|c| {
                !inst
                    .enrollments_of(c.id)
                    .any(|e| e.kind == "TeacherEnrollment")
            })
            .count();
        let state = |s: &str| {
            inst.enrollments
                .values()
                .filter(|e| e.enrollment_state == s)
                .count()
        };
        let unpublished_with_students = inst
            .courses
            .values()
            .filter(|c| {
                c.workflow_state == "unpublished"
                    && inst
                        .enrollments_of(c.id)
                        .any(|e| e.kind == "StudentEnrollment")
            })
            .count();
        let empty = inst
            .accounts
            .values()
            .filter(|a| a.parent_account_id.is_some() && inst.courses_in(a.id).is_empty())
            .count();
        let no_sis = inst
            .users
            .values()
            .filter(|u| u.sis_user_id.is_none())
            .count();
        [
            no_teacher,
            state("completed"),
            state("deleted"),
            unpublished_with_students,
            empty,
            no_sis,
        ]
    }

    #[test]
    fn at_rate_zero_the_data_is_regular() {
        let inst = Institution::generate_with(Preset::Demo, 42, 0.0);
        assert_eq!(kinds(&inst), [0; 6]);
    }

    #[test]
    fn any_rate_above_zero_shows_every_kind_of_irregularity() {
        for rate in [0.001, crate::generate::DEFAULT_IRREGULAR_RATE] {
            let inst = Institution::generate_with(Preset::Demo, 42, rate);
            let found = kinds(&inst);
            assert!(found.iter().all(|n| *n > 0), "rate {rate}: {found:?}");
        }
    }

    #[test]
    fn irregularities_leave_the_regular_data_of_a_seed_alone() {
        let regular = Institution::generate_with(Preset::Demo, 7, 0.0);
        let irregular = Institution::generate_with(Preset::Demo, 7, 0.2);
        let names = |i: &Institution| {
            i.courses
                .values()
                .map(|c| (c.id, c.name.clone(), c.workflow_state.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&regular), names(&irregular));
        assert!(
            regular
                .users
                .keys()
                .all(|id| irregular.users.contains_key(id))
        );
    }

    #[test]
    fn a_higher_rate_gives_more_irregularities() {
        let few = kinds(&Institution::generate_with(Preset::Demo, 42, 0.02));
        let many = kinds(&Institution::generate_with(Preset::Demo, 42, 0.5));
        assert!(many[1] + many[2] > few[1] + few[2], "{few:?} vs {many:?}");
    }
}

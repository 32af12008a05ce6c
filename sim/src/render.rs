//! How each object looks on the wire: the fields Canvas's API sends for
//! it (its `Api::V1` serializers), including the ones clients such as
//! canvasapi read, with `html_url`s under the simulator's origin.
//!
//! Not modelled: fields shown only with permissions the simulator does not
//! distinguish (every caller sees SIS ids), integration ids (always
//! null), and avatars.

use serde_json::{Value, json};

use crate::dates::local;
use crate::model::{
    Account, Assignment, Course, Enrollment, Institution, ROOT_ACCOUNT_ID, Section, Term, User,
    role_id,
};
use crate::params::Params;

/// Enrollment states a "current" roster counts (Canvas's
/// `active_or_pending`).
pub(crate) const CURRENT_STATES: &[&str] = &["active", "invited", "creation_pending"];

/// Renders objects of `inst` with links under `base`.
pub(crate) struct View<'a> {
    pub(crate) inst: &'a Institution,
    pub(crate) base: &'a str,
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

impl View<'_> {
    /// The root account's time zone: the zone Canvas renders local times in
    /// for a caller without one of their own.
    fn zone(&self) -> &str {
        self.inst
            .accounts
            .get(&ROOT_ACCOUNT_ID)
            .map_or("UTC", |a| a.default_time_zone.as_str())
    }

    pub(crate) fn account(&self, a: &Account) -> Value {
        json!({
            "id": a.id, "name": a.name, "uuid": a.uuid, "workflow_state": a.workflow_state,
            "parent_account_id": a.parent_account_id, "root_account_id": a.root_account_id,
            "default_time_zone": a.default_time_zone, "sis_account_id": a.sis_account_id,
            "integration_id": null, "sis_import_id": null, "course_template_id": null,
            "default_storage_quota_mb": 500, "default_user_storage_quota_mb": 50,
            "default_group_storage_quota_mb": 50,
        })
    }

    pub(crate) fn term(&self, t: &Term) -> Value {
        json!({
            "id": t.id, "name": t.name, "start_at": t.start_at, "end_at": t.end_at,
            "created_at": t.created_at, "workflow_state": t.workflow_state,
            "grading_period_group_id": null, "sis_term_id": t.sis_term_id, "sis_import_id": null,
        })
    }

    /// A course, with `include[]` of `term`, `teachers`, `total_students`
    /// and `syllabus_body`.
    pub(crate) fn course(&self, c: &Course, q: &Params) -> Value {
        let mut v = json!({
            "id": c.id, "name": c.name, "course_code": c.course_code, "original_name": null,
            "account_id": c.account_id, "root_account_id": c.root_account_id,
            "enrollment_term_id": c.enrollment_term_id, "workflow_state": c.workflow_state,
            "created_at": c.created_at, "start_at": c.start_at, "end_at": c.end_at,
            "sis_course_id": c.sis_course_id, "integration_id": null, "sis_import_id": null,
            "uuid": c.uuid, "time_zone": c.time_zone, "blueprint": c.blueprint,
            "template": false, "default_view": c.default_view, "is_public": c.is_public,
            "is_public_to_auth_users": false, "public_syllabus": false,
            "public_syllabus_to_auth": false, "license": "private", "grading_standard_id": null,
            "grade_passback_setting": null, "storage_quota_mb": 500,
            "apply_assignment_group_weights": false, "hide_final_grades": false,
            "restrict_enrollments_to_course_dates": false, "homeroom_course": false,
            "course_color": null, "friendly_name": null,
            "calendar": {"ics": format!("{}/feeds/calendars/course_{}.ics", self.base, c.uuid)},
        });
        let Value::Object(map) = &mut v else {
            return v;
        };
        if q.has_include("term")
            && let Some(t) = self.inst.terms.get(&c.enrollment_term_id)
        {
            map.insert("term".into(), self.term(t));
        }
        if q.has_include("teachers") {
            let teachers: Vec<Value> = self
                .inst
                .enrollments_of(c.id)
                .filter(|e| e.kind == "TeacherEnrollment" && e.enrollment_state == "active")
                .filter_map(|e| self.inst.users.get(&e.user_id))
                .map(|u| {
                    json!({"id": u.id, "anonymous_id": base36(u.id), "display_name": u.short_name,
                       "avatar_image_url": format!("{}/images/messages/avatar-50.png", self.base),
                       "html_url": format!("{}/courses/{}/users/{}", self.base, c.id, u.id),
                       "pronouns": null})
                })
                .collect();
            map.insert("teachers".into(), Value::Array(teachers));
        }
        if q.has_include("total_students") {
            map.insert(
                "total_students".into(),
                json!(self.inst.count_enrollments(c.id, "StudentEnrollment")),
            );
        }
        if q.has_include("syllabus_body") {
            map.insert("syllabus_body".into(), json!(c.syllabus_body));
        }
        v
    }

    /// A section, with `include[]` of `students` (null when there are
    /// none, as Canvas sends it) and `total_students`.
    pub(crate) fn section(&self, s: &Section, q: &Params) -> Value {
        let course = self.inst.courses.get(&s.course_id);
        let mut v = json!({
            "id": s.id, "course_id": s.course_id, "name": s.name, "start_at": s.start_at,
            "end_at": s.end_at, "created_at": s.created_at, "nonxlist_course_id": null,
            "restrict_enrollments_to_section_dates": false, "sis_section_id": s.sis_section_id,
            "sis_course_id": course.and_then(|c| c.sis_course_id.clone()),
            "integration_id": null, "sis_import_id": null,
        });
        let Value::Object(map) = &mut v else {
            return v;
        };
        let students = || {
            self.inst
                .enrollments_of(s.course_id)
                .filter(|e| e.course_section_id == s.id && e.kind == "StudentEnrollment")
        };
        if q.has_include("students") {
            let list: Vec<Value> = students()
                .filter(|e| e.enrollment_state != "deleted")
                .filter_map(|e| self.inst.users.get(&e.user_id))
                .map(|u| self.user(u, q.has_include("email")))
                .collect();
            let list = if list.is_empty() {
                Value::Null
            } else {
                Value::Array(list)
            };
            map.insert("students".into(), list);
        }
        if q.has_include("total_students") {
            let n = students()
                .filter(|e| CURRENT_STATES.contains(&e.enrollment_state.as_str()))
                .count();
            map.insert("total_students".into(), json!(n));
        }
        v
    }

    /// A user as lists show one to an admin; `email` only when asked for.
    pub(crate) fn user(&self, u: &User, with_email: bool) -> Value {
        let mut v = json!({
            "id": u.id, "name": u.name, "created_at": local(&u.created_at, self.zone()),
            "sortable_name": u.sortable_name, "short_name": u.short_name,
            "sis_user_id": u.sis_user_id, "integration_id": null, "sis_import_id": null,
            "login_id": u.login_id,
        });
        if with_email && let Value::Object(map) = &mut v {
            map.insert("email".into(), json!(u.email));
        }
        v
    }

    /// A user's login (pseudonym).
    pub(crate) fn login(&self, u: &User) -> Value {
        json!({
            "id": 500_000 + u.id, "user_id": u.id, "account_id": ROOT_ACCOUNT_ID,
            "unique_id": u.login_id, "sis_user_id": u.sis_user_id, "integration_id": null,
            "authentication_provider_id": null, "authentication_provider_type": null,
            "created_at": local(&u.created_at, self.zone()), "workflow_state": "active",
            "declared_user_type": null,
        })
    }

    /// An enrollment, with its user, SIS ids, role and (for students)
    /// grades.
    pub(crate) fn enrollment(&self, e: &Enrollment) -> Value {
        let course = self.inst.courses.get(&e.course_id);
        let section = self.inst.sections.get(&e.course_section_id);
        let user = self.inst.users.get(&e.user_id);
        let account = course.and_then(|c| self.inst.accounts.get(&c.account_id));
        // Canvas reports every enrollment of a deleted course as deleted.
        let state = if course.is_some_and(|c| c.workflow_state == "deleted") {
            "deleted"
        } else {
            e.enrollment_state.as_str()
        };
        let mut v = json!({
            "id": e.id, "user_id": e.user_id, "course_id": e.course_id, "type": e.kind,
            "created_at": e.created_at, "updated_at": e.updated_at, "associated_user_id": null,
            "start_at": null, "end_at": null, "course_section_id": e.course_section_id,
            "root_account_id": ROOT_ACCOUNT_ID, "limit_privileges_to_course_section": false,
            "enrollment_state": state, "role": e.role, "role_id": role_id(&e.role).unwrap_or(3),
            "last_activity_at": e.last_activity_at, "last_attended_at": null,
            "total_activity_time": if e.last_activity_at.is_some() { 1800 + e.user_id % 3600 } else { 0 },
            "sis_import_id": null,
            "sis_account_id": account.and_then(|a| a.sis_account_id.clone()),
            "sis_course_id": course.and_then(|c| c.sis_course_id.clone()),
            "course_integration_id": null,
            "sis_section_id": section.and_then(|s| s.sis_section_id.clone()),
            "section_integration_id": null,
            "sis_user_id": user.and_then(|u| u.sis_user_id.clone()),
            "html_url": format!("{}/courses/{}/users/{}", self.base, e.course_id, e.user_id),
        });
        let Value::Object(map) = &mut v else {
            return v;
        };
        if e.kind == "StudentEnrollment" {
            map.insert("grades".into(), self.grades(e));
        }
        if let Some(u) = user {
            map.insert("user".into(), self.user(u, false));
        }
        v
    }

    /// A student's course grades, from their submissions.
    fn grades(&self, e: &Enrollment) -> Value {
        let (mut earned, mut graded_points, mut all_points) = (0.0, 0.0, 0.0);
        for a in self
            .inst
            .assignments
            .values()
            .filter(|a| a.course_id == e.course_id && a.published)
        {
            all_points += a.points_possible;
            if let (Some(score), _) = self.score(a, e.user_id) {
                earned += score;
                graded_points += a.points_possible;
            }
        }
        let percent = |of: f64| (of > 0.0).then(|| (earned / of * 10_000.0).round() / 100.0);
        let current = percent(graded_points);
        let final_score = percent(all_points).or(Some(0.0));
        json!({
            "html_url": format!("{}/courses/{}/grades/{}", self.base, e.course_id, e.user_id),
            "current_score": current, "current_grade": null,
            "final_score": final_score, "final_grade": null,
            "unposted_current_score": current, "unposted_current_grade": null,
            "unposted_final_score": final_score, "unposted_final_grade": null,
        })
    }

    pub(crate) fn assignment(&self, a: &Assignment) -> Value {
        let url = format!("{}/courses/{}/assignments/{}", self.base, a.course_id, a.id);
        json!({
            "id": a.id, "name": a.name, "description": null, "created_at": a.created_at,
            "updated_at": a.created_at, "due_at": a.due_at, "lock_at": null, "unlock_at": null,
            "has_overrides": false, "course_id": a.course_id, "html_url": url,
            "submissions_download_url": format!("{url}/submissions?zip=1"),
            "assignment_group_id": a.course_id * 10, "due_date_required": false,
            "allowed_extensions": [], "max_name_length": 255, "grading_type": a.grading_type,
            "grading_standard_id": null, "points_possible": a.points_possible,
            "submission_types": a.submission_types, "published": a.published,
            "unpublishable": true, "workflow_state": a.workflow_state,
            "only_visible_to_overrides": false, "peer_reviews": false, "muted": false,
            "anonymous_grading": false, "moderated_grading": false, "omit_from_final_grade": false,
            "post_manually": false, "position": a.id % 10 + 1,
        })
    }

    /// A student's (score, grade) on an assignment: the grade given through
    /// the API, or one derived from the ids (about a quarter ungraded).
    fn score(&self, a: &Assignment, user: u64) -> (Option<f64>, Option<String>) {
        if let Some(given) = self.inst.grades.get(&(a.id, user)) {
            return given.clone();
        }
        let seed = a.id.wrapping_mul(31).wrapping_add(user);
        if seed.is_multiple_of(4) {
            return (None, None);
        }
        let score = (a.points_possible * f64::from((seed % 41 + 60) as u32) / 100.0).round();
        (Some(score), Some(score.to_string()))
    }

    pub(crate) fn submission(&self, a: &Assignment, user: u64) -> Value {
        let seed = a.id.wrapping_mul(31).wrapping_add(user);
        let (score, grade) = self.score(a, user);
        let graded = score.is_some();
        let late = graded && seed.is_multiple_of(9);
        let url = format!(
            "{}/courses/{}/assignments/{}/submissions/{user}",
            self.base, a.course_id, a.id
        );
        json!({
            "id": 2_000_000_000 + seed % 1_000_000_000, "assignment_id": a.id, "user_id": user,
            "course_id": a.course_id, "attempt": graded.then_some(1), "body": null,
            "grade": grade, "score": score, "entered_grade": grade, "entered_score": score,
            "grade_matches_current_submission": true,
            "submitted_at": graded.then_some("2026-10-01T12:00:00Z"),
            "graded_at": graded.then_some("2026-10-03T15:00:00Z"),
            "posted_at": graded.then_some("2026-10-03T15:00:00Z"),
            "grader_id": graded.then_some(crate::model::ADMIN_USER_ID),
            "submission_type": graded.then_some("online_upload"), "url": null,
            "workflow_state": if graded { "graded" } else { "unsubmitted" },
            "late": late, "missing": !graded, "excused": false, "late_policy_status": null,
            "points_deducted": late.then_some(0.0), "seconds_late": if late { 3600 } else { 0 },
            "extra_attempts": null, "cached_due_date": a.due_at,
            "html_url": url, "preview_url": format!("{url}?preview=1&version=1"),
        })
    }
}

/// `Accept: application/json+canvas-string-ids`: every `id` and `*_id`
/// number becomes a string, and so does every number in an `ids` or
/// `*_ids` list, at any depth (Canvas's `stringify_json_ids`).
pub(crate) fn stringify_ids(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                let id = key == "id" || key.ends_with("_id");
                let ids = key == "ids" || key.ends_with("_ids");
                match value {
                    Value::Number(n) if id => *value = Value::String(n.to_string()),
                    Value::Array(items) if ids => {
                        for item in items.iter_mut() {
                            if let Value::Number(n) = item {
                                *item = Value::String(n.to_string());
                            }
                        }
                    }
                    _ => stringify_ids(value),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(stringify_ids),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_ids_reach_every_id_and_only_ids() {
        let mut v = json!({
            "id": 1, "course_id": 2, "name": "n", "points_possible": 10.0, "paid": 3,
            "user": {"id": 4, "sis_user_id": null, "login_id": "x"},
            "course_ids": [5, 6], "items": [{"assignment_id": 7}], "grades": {"html_url": "u"},
        });
        stringify_ids(&mut v);
        assert_eq!(
            v,
            json!({
                "id": "1", "course_id": "2", "name": "n", "points_possible": 10.0, "paid": 3,
                "user": {"id": "4", "sis_user_id": null, "login_id": "x"},
                "course_ids": ["5", "6"], "items": [{"assignment_id": "7"}],
                "grades": {"html_url": "u"},
            })
        );
    }

    #[test]
    fn anonymous_ids_are_base_36() {
        assert_eq!(base36(0), "0");
        assert_eq!(base36(35), "z");
        assert_eq!(base36(10_001), "7pt");
    }
}

//! Assignments and submissions: a course's assignments, one assignment's
//! submissions, several students' submissions, and grading.
//!
//! Submissions are derived from the ids (about a quarter ungraded) unless
//! a grade was given through the API. Students are those whose enrollment
//! is not deleted or rejected.

use axum::Json;
use axum::extract::Path;
use axum::response::IntoResponse;

use super::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::lookup::Kind;
use crate::model::{Assignment, Institution};
use crate::pages::numbered;
use crate::params::{Body, Query};

/// The course's students, in id order.
fn students(inst: &Institution, course: u64) -> Vec<u64> {
    let mut ids: Vec<u64> = inst
        .enrollments_of(course)
        .filter(|e| {
            e.kind == "StudentEnrollment"
                && !matches!(e.enrollment_state.as_str(), "deleted" | "rejected")
        })
        .map(|e| e.user_id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The assignment `raw` names in `course`, or 404.
fn assignment_in<'a>(
    inst: &'a Institution,
    course: u64,
    raw: &str,
) -> Result<&'a Assignment, ApiError> {
    raw.parse::<u64>()
        .ok()
        .and_then(|id| inst.assignments.get(&id))
        .filter(|a| a.course_id == course)
        .ok_or(ApiError::NotFound)
}

/// `GET /api/v1/courses/:id/assignments`.
pub(crate) async fn index(cx: Ctx, Path(id): Path<String>, Query(q): Query) -> ApiResult {
    let inst = cx.read();
    let view = cx.view(&inst);
    let course = inst.find_course(&id)?.id;
    let search = q.text("search_term").map(str::to_lowercase);
    let list: Vec<&Assignment> = inst
        .assignments
        .values()
        .filter(|a| a.course_id == course)
        .filter(|a| {
            search
                .as_deref()
                .is_none_or(|t| a.name.to_lowercase().contains(t))
        })
        .collect();
    let path = format!("/api/v1/courses/{course}/assignments");
    Ok(numbered(&cx.links(), &path, &q, &list, true).json(|a| view.assignment(a)))
}

/// `GET /api/v1/courses/:id/assignments/:id/submissions`: one submission
/// per student (`include[]=user` adds the user, `include[]=assignment` the
/// assignment).
pub(crate) async fn submissions(
    cx: Ctx,
    Path((course, assignment)): Path<(String, String)>,
    Query(q): Query,
) -> ApiResult {
    let inst = cx.read();
    let view = cx.view(&inst);
    let course = inst.find_course(&course)?.id;
    let a = assignment_in(&inst, course, &assignment)?;
    let students = students(&inst, course);
    let path = format!("/api/v1/courses/{course}/assignments/{}/submissions", a.id);
    let (with_user, with_assignment) = (q.has_include("user"), q.has_include("assignment"));
    Ok(numbered(&cx.links(), &path, &q, &students, true).json(|u| {
        let mut v = view.submission(a, *u);
        if let serde_json::Value::Object(map) = &mut v {
            if with_user && let Some(user) = inst.users.get(u) {
                map.insert("user".into(), view.user(user, false));
            }
            if with_assignment {
                map.insert("assignment".into(), view.assignment(a));
            }
        }
        v
    }))
}

/// `GET /api/v1/courses/:id/students/submissions` with `student_ids[]`
/// (`all`, or ids in any form) and `assignment_ids[]`.
pub(crate) async fn student_submissions(
    cx: Ctx,
    Path(id): Path<String>,
    Query(q): Query,
) -> ApiResult {
    let inst = cx.read();
    let view = cx.view(&inst);
    let course = inst.find_course(&id)?.id;
    let wanted = q.values("student_ids");
    let named: Vec<u64> = wanted
        .iter()
        .filter_map(|s| inst.resolve(Kind::User, s, cx.caller))
        .collect();
    let students: Vec<u64> = students(&inst, course)
        .into_iter()
        .filter(|u| wanted.is_empty() || wanted.contains(&"all") || named.contains(u))
        .collect();
    let only = q.values("assignment_ids");
    let pairs: Vec<(&Assignment, u64)> = inst
        .assignments
        .values()
        .filter(|a| a.course_id == course)
        .filter(|a| only.is_empty() || only.contains(&a.id.to_string().as_str()))
        .flat_map(|a| students.iter().map(move |u| (a, *u)))
        .collect();
    let path = format!("/api/v1/courses/{course}/students/submissions");
    Ok(numbered(&cx.links(), &path, &q, &pairs, true).json(|(a, u)| view.submission(a, *u)))
}

/// The score a posted grade gives: points (`7`, `7.5`) or a percentage of
/// the assignment's points (`85%`).
fn score_of(posted: &str, points_possible: f64) -> Option<f64> {
    let posted = posted.trim();
    match posted.strip_suffix('%') {
        Some(pct) => pct
            .trim()
            .parse::<f64>()
            .ok()
            .map(|p| (p / 100.0 * points_possible * 100.0).round() / 100.0),
        None => posted.parse::<f64>().ok(),
    }
    .filter(|s| s.is_finite())
}

/// `PUT /api/v1/courses/:id/assignments/:id/submissions/:user_id` with
/// `submission[posted_grade]` (the user in any id form).
pub(crate) async fn grade(
    cx: Ctx,
    Path((course, assignment, user)): Path<(String, String, String)>,
    body: Body,
) -> ApiResult {
    let mut inst = cx.write();
    let course = inst.find_course(&course)?.id;
    let user = inst.find_user(&user, cx.caller)?.id;
    let a = assignment_in(&inst, course, &assignment)?.clone();
    if let Some(posted) = body.params.value("submission[posted_grade]") {
        let score = score_of(posted, a.points_possible).ok_or(ApiError::Unprocessable {
            field: "posted_grade",
            message: "is not a valid grade".into(),
        })?;
        inst.grades
            .insert((a.id, user), (Some(score), Some(posted.trim().to_owned())));
    }
    Ok(Json(cx.view(&inst).submission(&a, user)).into_response())
}

#[cfg(test)]
mod tests {
    use super::score_of;

    #[test]
    fn a_posted_grade_is_points_or_a_percentage_of_the_points() {
        assert_eq!(score_of("7", 10.0), Some(7.0));
        assert_eq!(score_of(" 7.5 ", 10.0), Some(7.5));
        assert_eq!(score_of("85%", 50.0), Some(42.5));
        assert_eq!(score_of("seven", 10.0), None);
        assert_eq!(score_of("NaN", 10.0), None);
    }
}

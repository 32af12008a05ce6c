//! Courses and sections: an account's courses (with Canvas's filters and
//! includes), one course, creating and updating courses, the batch update
//! (answered with a Progress), and sections (with `include[]=students`).

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::Value;

use super::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::lookup::Kind;
use crate::model::{Course, Institution, ROOT_ACCOUNT_ID, Section};
use crate::pages::numbered;
use crate::params::{Body, Params, Query};

/// Canvas's limit on one batch update.
const MAX_BATCH: usize = 500;

/// Does the course's state answer one of `state[]` (none: all but
/// deleted)? `created` and `claimed` are both unpublished here.
fn state_matches(states: &[&str], state: &str) -> bool {
    if states.is_empty() {
        return state != "deleted";
    }
    states.iter().any(|s| {
        *s == state
            || *s == "all"
            || (matches!(*s, "created" | "claimed") && state == "unpublished")
    })
}

/// `GET /api/v1/accounts/:id/courses`: the courses of the account's
/// subtree, filtered by `state[]`, `enrollment_term_id`, `published`,
/// `completed`, `with_enrollments`, `blueprint`, `by_teachers[]`,
/// `by_subaccounts[]` and `search_term`.
pub(crate) async fn in_account(cx: Ctx, Path(id): Path<String>, Query(q): Query) -> ApiResult {
    let inst = cx.read();
    let view = cx.view(&inst);
    let account = inst.find_account(&id)?.id;
    let states = q.values("state");
    let term = match q.value("enrollment_term_id") {
        Some(t) => Some(inst.find(Kind::Term, t, cx.caller)?),
        None => None,
    };
    let teachers: Vec<u64> = q
        .values("by_teachers")
        .iter()
        .filter_map(|t| inst.resolve(Kind::User, t, cx.caller))
        .collect();
    let subaccounts: Vec<u64> = q
        .values("by_subaccounts")
        .iter()
        .filter_map(|a| inst.resolve(Kind::Account, a, cx.caller))
        .collect();
    let search = q.text("search_term").map(str::to_lowercase);
    let has_enrollments = |c: &Course| {
        inst.enrollments_of(c.id)
            .any(|e| e.enrollment_state != "deleted")
    };
    let courses: Vec<&Course> = inst
        .courses_in(account)
        .into_iter()
        .filter(|c| state_matches(&states, &c.workflow_state))
        .filter(|c| term.is_none_or(|t| c.enrollment_term_id == t))
        .filter(|c| match q.flag("published") {
            Some(true) => c.workflow_state == "available",
            Some(false) => c.workflow_state == "unpublished",
            None => true,
        })
        .filter(|c| {
            q.flag("completed")
                .is_none_or(|want| (c.workflow_state == "completed") == want)
        })
        .filter(|c| {
            q.flag("with_enrollments")
                .is_none_or(|want| has_enrollments(c) == want)
        })
        .filter(|c| q.flag("blueprint").is_none_or(|want| c.blueprint == want))
        .filter(|c| {
            teachers.is_empty()
                || inst
                    .enrollments_of(c.id)
                    .any(|e| e.kind == "TeacherEnrollment" && teachers.contains(&e.user_id))
        })
        .filter(|c| {
            subaccounts.is_empty() || subaccounts.iter().any(|a| inst.is_within(c.account_id, *a))
        })
        .filter(|c| {
            search.as_deref().is_none_or(|t| {
                c.name.to_lowercase().contains(t)
                    || c.course_code.to_lowercase().contains(t)
                    || c.sis_course_id
                        .as_deref()
                        .is_some_and(|s| s.to_lowercase() == t)
            })
        })
        .collect();
    let path = format!("/api/v1/accounts/{account}/courses");
    Ok(numbered(&cx.links(), &path, &q, &courses, true).json(|c| view.course(c, &q)))
}

/// `GET /api/v1/courses/:id` (a deleted course is not found).
pub(crate) async fn show(cx: Ctx, Path(id): Path<String>, Query(q): Query) -> ApiResult {
    let inst = cx.read();
    let course = inst.find_course(&id)?;
    if course.workflow_state == "deleted" {
        return Err(ApiError::NotFound);
    }
    Ok(Json(cx.view(&inst).course(course, &q)).into_response())
}

/// The state a `course[event]` moves a course to.
fn after_event(event: &str, state: &str) -> Result<&'static str, ApiError> {
    match (event, state) {
        ("offer", "unpublished" | "available") => Ok("available"),
        ("claim", "unpublished" | "available") => Ok("unpublished"),
        ("conclude", "available" | "unpublished" | "completed") => Ok("completed"),
        ("delete", _) => Ok("deleted"),
        ("undelete", "deleted") => Ok("unpublished"),
        ("offer" | "claim" | "conclude" | "undelete", _) => Err(ApiError::invalid(
            "event",
            "invalid",
            &format!("cannot {event} a course that is {state}"),
        )),
        _ => Err(ApiError::invalid(
            "event",
            "invalid",
            "must be one of offer, claim, conclude, delete, undelete",
        )),
    }
}

/// Another course already holds this SIS id.
fn sis_taken(inst: &Institution, sis: &str, except: u64) -> Option<ApiError> {
    inst.courses
        .values()
        .any(|c| c.id != except && c.sis_course_id.as_deref() == Some(sis))
        .then(|| {
            ApiError::invalid(
                "sis_source_id",
                "taken",
                &format!("SIS ID \"{sis}\" is already in use"),
            )
        })
}

/// `PUT /api/v1/courses/:id` with `course[event]`, `course[name]`,
/// `course[course_code]`, `course[sis_course_id]`, `course[syllabus_body]`.
pub(crate) async fn update(cx: Ctx, Path(id): Path<String>, body: Body) -> ApiResult {
    let f = &body.params;
    let mut inst = cx.write();
    let cid = inst.find_course(&id)?.id;
    if let Some(sis) = f.text("course[sis_course_id]")
        && let Some(taken) = sis_taken(&inst, sis, cid)
    {
        return Err(taken);
    }
    let course = inst.courses.get_mut(&cid).ok_or(ApiError::NotFound)?;
    if let Some(event) = f.text("course[event]") {
        course.workflow_state = after_event(event, &course.workflow_state)?.to_owned();
    }
    if let Some(name) = f.value("course[name]") {
        if name.trim().is_empty() {
            return Err(ApiError::invalid("name", "blank", "can't be blank"));
        }
        course.name = name.to_owned();
    }
    if let Some(code) = f.text("course[course_code]") {
        course.course_code = code.to_owned();
    }
    if let Some(sis) = f.text("course[sis_course_id]") {
        course.sis_course_id = Some(sis.to_owned());
    }
    if let Some(syllabus) = f.value("course[syllabus_body]") {
        course.syllabus_body = Some(syllabus.to_owned());
    }
    let course = course.clone();
    Ok(Json(cx.view(&inst).course(&course, &Params::default())).into_response())
}

/// `POST /api/v1/accounts/:id/courses`: a new course (unpublished unless
/// `offer=true`) with one default section.
pub(crate) async fn create(cx: Ctx, Path(id): Path<String>, body: Body) -> ApiResult {
    let f = &body.params;
    let mut inst = cx.write();
    let account = inst.find_account(&id)?.id;
    let sis = f.text("course[sis_course_id]").map(str::to_owned);
    if let Some(taken) = sis.as_deref().and_then(|s| sis_taken(&inst, s, 0)) {
        return Err(taken);
    }
    let term = match f.text("course[term_id]") {
        Some(t) => inst.find(Kind::Term, t, cx.caller)?,
        None => 1,
    };
    let id = Institution::next_id(&inst.courses, 100);
    let name = f
        .text("course[name]")
        .unwrap_or("Unnamed Course")
        .to_owned();
    let now = crate::dates::now();
    let course = Course {
        id,
        course_code: f.text("course[course_code]").unwrap_or(&name).to_owned(),
        name,
        account_id: account,
        root_account_id: ROOT_ACCOUNT_ID,
        enrollment_term_id: term,
        workflow_state: if f.flag("offer") == Some(true) {
            "available"
        } else {
            "unpublished"
        }
        .into(),
        start_at: f.text("course[start_at]").map(str::to_owned),
        end_at: f.text("course[end_at]").map(str::to_owned),
        sis_course_id: sis,
        uuid: crate::auth::random_string(40),
        time_zone: "America/Chicago".into(),
        blueprint: false,
        default_view: "modules".into(),
        is_public: false,
        created_at: now.clone(),
        syllabus_body: f.value("course[syllabus_body]").map(str::to_owned),
    };
    inst.add_course(course.clone());
    let section = Institution::next_id(&inst.sections, 5000);
    inst.sections.insert(
        section,
        Section {
            id: section,
            course_id: id,
            name: course.name.clone(),
            sis_section_id: None,
            start_at: None,
            end_at: None,
            created_at: now,
        },
    );
    Ok(Json(cx.view(&inst).course(&course, &Params::default())).into_response())
}

/// `PUT /api/v1/accounts/:id/courses` with `event` and `course_ids[]`
/// (numeric or SIS ids): a queued Progress; the change is applied by the
/// time the Progress reports `completed`. Errors are Canvas's
/// `{"message": ...}`.
pub(crate) async fn batch_update(cx: Ctx, Path(id): Path<String>, body: Body) -> ApiResult {
    let f = &body.params;
    let account = cx.read().find_account(&id)?.id;
    if !f.pairs().iter().any(|(k, _)| k == "course_ids[]") {
        return Err(ApiError::message("must specify course_ids[]"));
    }
    let ids: Vec<u64> = {
        let inst = cx.read();
        f.values("course_ids")
            .iter()
            .filter_map(|c| inst.resolve(Kind::Course, c, cx.caller))
            .collect()
    };
    if ids.len() > MAX_BATCH {
        return Err(ApiError::Message {
            status: StatusCode::FORBIDDEN,
            message: format!("course batch size limit ({MAX_BATCH}) exceeded"),
        });
    }
    let next = match f.text("event") {
        None => return Err(ApiError::message("need to specify event")),
        Some("offer") => "available",
        Some("conclude") => "completed",
        Some("delete") => "deleted",
        Some("undelete") => "unpublished",
        Some(_) => return Err(ApiError::message("invalid event")),
    };
    {
        let mut inst = cx.write();
        let owned: Vec<u64> = ids
            .into_iter()
            .filter(|c| {
                inst.courses
                    .get(c)
                    .is_some_and(|c| inst.is_within(c.account_id, account))
            })
            .collect();
        for c in owned {
            if let Some(course) = inst.courses.get_mut(&c) {
                course.workflow_state = next.to_owned();
            }
        }
    }
    let progress = super::progress::start(&cx, account, "Account", "course_batch_update");
    Ok(Json(progress).into_response())
}

/// `GET /api/v1/courses/:id/sections` (`include[]=students`,
/// `total_students`).
pub(crate) async fn sections(cx: Ctx, Path(id): Path<String>, Query(q): Query) -> ApiResult {
    let inst = cx.read();
    let view = cx.view(&inst);
    let course = inst.find_course(&id)?.id;
    let sections: Vec<&Section> = inst
        .sections
        .values()
        .filter(|s| s.course_id == course)
        .collect();
    let path = format!("/api/v1/courses/{course}/sections");
    Ok(numbered(&cx.links(), &path, &q, &sections, true).json(|s| view.section(s, &q)))
}

/// `GET /api/v1/sections/:id` (also `sis_section_id:X`).
pub(crate) async fn section(cx: Ctx, Path(id): Path<String>, Query(q): Query) -> ApiResult {
    let inst = cx.read();
    let section = inst.find_section(&id)?;
    let v: Value = cx.view(&inst).section(section, &q);
    Ok(Json(v).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_state_filter_every_course_but_deleted_ones_is_listed() {
        for (states, state, want) in [
            (&[][..], "available", true),
            (&[][..], "deleted", false),
            (&["deleted"][..], "deleted", true),
            (&["created"][..], "unpublished", true),
            (&["claimed"][..], "unpublished", true),
            (&["available"][..], "unpublished", false),
            (&["all"][..], "deleted", true),
        ] {
            assert_eq!(state_matches(states, state), want, "{states:?} {state}");
        }
    }

    #[test]
    fn events_move_a_course_as_canvas_does_and_refuse_the_rest() {
        assert_eq!(after_event("offer", "unpublished").ok(), Some("available"));
        assert_eq!(after_event("conclude", "available").ok(), Some("completed"));
        assert_eq!(after_event("undelete", "deleted").ok(), Some("unpublished"));
        assert!(after_event("offer", "completed").is_err());
        assert!(after_event("publish", "unpublished").is_err());
    }
}

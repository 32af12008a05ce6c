//! Asynchronous jobs answered with a Progress: batch course updates,
//! course copies (content migrations) and blueprint syncs. A Progress is
//! `queued` when created, `running` on the first poll and `completed` from
//! the second on.

use axum::Json;
use axum::extract::Path;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::params::Body;

/// A job's progress record.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    id: u64,
    context_id: u64,
    context_type: &'static str,
    tag: &'static str,
    user: u64,
    created_at: String,
    polls: u32,
}

fn progress_json(base: &str, p: &Progress) -> Value {
    let (state, completion) = match p.polls {
        0 => ("queued", 0),
        1 => ("running", 50),
        _ => ("completed", 100),
    };
    json!({
        "id": p.id, "context_id": p.context_id, "context_type": p.context_type,
        "user_id": p.user, "tag": p.tag, "completion": completion, "workflow_state": state,
        "created_at": p.created_at, "updated_at": p.created_at, "message": null, "results": null,
        "url": format!("{base}/api/v1/progress/{}", p.id),
    })
}

/// Start a Progress for a job in `context_id`; its JSON.
pub(crate) fn start(
    cx: &Ctx,
    context_id: u64,
    context_type: &'static str,
    tag: &'static str,
) -> Value {
    let mut all = cx.state.progress.lock().unwrap_or_else(|p| p.into_inner());
    let p = Progress {
        id: all.len() as u64 + 1,
        context_id,
        context_type,
        tag,
        user: cx.caller,
        created_at: crate::dates::now(),
        polls: 0,
    };
    let v = progress_json(cx.base(), &p);
    all.push(p);
    v
}

/// `GET /api/v1/progress/:id`.
pub(crate) async fn show(cx: Ctx, Path(id): Path<String>) -> ApiResult {
    let id: u64 = id.parse().map_err(|_| ApiError::NotFound)?;
    let mut all = cx.state.progress.lock().unwrap_or_else(|p| p.into_inner());
    let p = all
        .iter_mut()
        .find(|p| p.id == id)
        .ok_or(ApiError::NotFound)?;
    p.polls += 1;
    Ok(Json(progress_json(cx.base(), p)).into_response())
}

/// `PUT /api/v1/courses/:id/blueprint_templates/default/update_associations`.
pub(crate) async fn blueprint_associations(cx: Ctx, Path(id): Path<String>) -> ApiResult {
    cx.read().find_course(&id)?;
    Ok(Json(json!({"success": true})).into_response())
}

/// `POST /api/v1/courses/:id/blueprint_templates/default/migrations`.
pub(crate) async fn blueprint_migration(cx: Ctx, Path(id): Path<String>) -> ApiResult {
    let course = cx.read().find_course(&id)?.id;
    Ok(Json(json!({
        "id": course * 10 + 1, "template_id": course, "workflow_state": "queued",
        "user_id": cx.caller, "created_at": crate::dates::now(),
        "exports_started_at": null, "imports_queued_at": null, "imports_completed_at": null,
        "comment": null,
    }))
    .into_response())
}

/// `POST /api/v1/courses/:id/content_migrations` (a course copy and the
/// like): a ContentMigration whose `progress_url` completes.
pub(crate) async fn content_migration(cx: Ctx, Path(id): Path<String>, body: Body) -> ApiResult {
    let course = cx.read().find_course(&id)?.id;
    let Some(kind) = body.params.text("migration_type").map(str::to_owned) else {
        return Err(ApiError::message("Invalid migration_type"));
    };
    let progress = start(&cx, course, "Course", "content_migration");
    let progress_url = progress["url"].clone();
    Ok(Json(json!({
        "id": progress["id"], "migration_type": kind, "migration_type_title": null,
        "workflow_state": "queued", "user_id": cx.caller, "attachment": null,
        "started_at": null, "finished_at": null, "pre_attachment": null,
        "migration_issues_url": format!("{}/api/v1/courses/{course}/content_migrations/{}/migration_issues", cx.base(), progress["id"]),
        "progress_url": progress_url,
    }))
    .into_response())
}

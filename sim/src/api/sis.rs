//! SIS imports: `POST /accounts/:id/sis_imports` takes a CSV (raw or a
//! multipart `attachment`), the first `GET` of the import applies it
//! (`sis_csv.rs`), and the list is wrapped (`{"sis_imports":[...]}`) and
//! paged like any other. Hosted Canvas runs them on the root account only.
//! Times are in the account's time zone, with its offset, as Canvas shows
//! them.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::Ctx;
use crate::dates::local;
use crate::error::{ApiError, ApiResult};
use crate::model::ROOT_ACCOUNT_ID;
use crate::pages::numbered;
use crate::params::{Body, Query, multipart};

/// A SIS import and what it did.
#[derive(Debug, Clone)]
pub(crate) struct SisImport {
    pub(super) id: u64,
    pub(super) account: u64,
    pub(super) csv: String,
    pub(super) state: &'static str,
    pub(super) errors: Vec<(String, String)>,
    pub(super) counts: serde_json::Map<String, Value>,
    created_at: String,
    ended_at: Option<String>,
    user: u64,
}

fn sis_json(base: &str, zone: &str, i: &SisImport) -> Value {
    let done = i.ended_at.is_some();
    json!({
        "id": i.id, "created_at": local(&i.created_at, zone),
        "started_at": local(&i.created_at, zone),
        "ended_at": i.ended_at.as_deref().map(|t| local(t, zone)),
        "updated_at": local(i.ended_at.as_deref().unwrap_or(&i.created_at), zone),
        "workflow_state": i.state, "progress": if done { 100 } else { 0 },
        "data": {"import_type": "instructure_csv", "supplied_batches": i.counts.keys().collect::<Vec<_>>(), "counts": i.counts},
        "statistics": null, "batch_mode": false, "batch_mode_term_id": null,
        "multi_term_batch_mode": false, "skip_deletes": false, "override_sis_stickiness": false,
        "add_sis_stickiness": false, "clear_sis_stickiness": false, "diffing_data_set_identifier": null,
        "diffed_against_import_id": null, "user": {"id": i.user},
        "processing_warnings": [], "processing_errors": i.errors.iter().map(|(f, m)| json!([f, m])).collect::<Vec<_>>(),
        "errors_attachment": null, "csv_attachments": [],
        "url": format!("{base}/api/v1/accounts/{}/sis_imports/{}", i.account, i.id),
    })
}

/// The CSV inside a raw or multipart body.
fn csv_of(body: &Body) -> Option<String> {
    if body
        .content_type
        .to_ascii_lowercase()
        .starts_with("multipart/")
    {
        let part = multipart(&body.content_type, &body.raw)
            .into_iter()
            .find(|p| p.filename.is_some() || p.name == "attachment")?;
        return Some(String::from_utf8_lossy(&part.data).into_owned());
    }
    let text = String::from_utf8_lossy(&body.raw).into_owned();
    (!text.trim().is_empty()).then_some(text)
}

/// Canvas takes SIS imports only on a root account.
fn root_only(account: u64) -> Result<(), ApiError> {
    if account == ROOT_ACCOUNT_ID {
        return Ok(());
    }
    Err(ApiError::List {
        status: StatusCode::BAD_REQUEST,
        message: "SIS imports can only be executed on root accounts".into(),
    })
}

fn zone(cx: &Ctx) -> String {
    cx.read()
        .accounts
        .get(&ROOT_ACCOUNT_ID)
        .map_or_else(|| "UTC".to_owned(), |a| a.default_time_zone.clone())
}

/// `POST /api/v1/accounts/:id/sis_imports?import_type=instructure_csv`.
pub(crate) async fn create(cx: Ctx, Path(id): Path<String>, body: Body) -> ApiResult {
    if body
        .params
        .value("import_type")
        .is_some_and(|t| t != "instructure_csv")
    {
        return Err(ApiError::Unprocessable {
            field: "import_type",
            message: "unsupported import type".into(),
        });
    }
    let account = cx.read().find_account(&id)?.id;
    root_only(account)?;
    let csv = csv_of(&body)
        .ok_or_else(|| ApiError::invalid("attachment", "required", "no SIS data was given"))?;
    let zone = zone(&cx);
    let mut imports = cx
        .state
        .sis_imports
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let import = SisImport {
        id: imports.len() as u64 + 1,
        account,
        csv,
        state: "created",
        errors: Vec::new(),
        counts: serde_json::Map::new(),
        created_at: crate::dates::now(),
        ended_at: None,
        user: cx.caller,
    };
    let answer = sis_json(cx.base(), &zone, &import);
    imports.push(import);
    Ok(Json(answer).into_response())
}

/// `GET /api/v1/accounts/:id/sis_imports/:id`: the first look applies it.
pub(crate) async fn show(cx: Ctx, Path((id, sid)): Path<(String, String)>) -> ApiResult {
    let account = cx.read().find_account(&id)?.id;
    root_only(account)?;
    let sid: u64 = sid.parse().map_err(|_| ApiError::NotFound)?;
    let zone = zone(&cx);
    let mut imports = cx
        .state
        .sis_imports
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let import = imports
        .iter_mut()
        .find(|i| i.id == sid && i.account == account)
        .ok_or(ApiError::NotFound)?;
    if import.state == "created" {
        super::sis_csv::apply(&mut cx.write(), import);
        import.ended_at = Some(crate::dates::now());
    }
    Ok(Json(sis_json(cx.base(), &zone, import)).into_response())
}

/// `GET /api/v1/accounts/:id/sis_imports`: `{"sis_imports": [...]}`,
/// newest first, paged.
pub(crate) async fn index(cx: Ctx, Path(id): Path<String>, Query(q): Query) -> ApiResult {
    let account = cx.read().find_account(&id)?.id;
    root_only(account)?;
    let zone = zone(&cx);
    let imports = cx
        .state
        .sis_imports
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let list: Vec<&SisImport> = imports
        .iter()
        .rev()
        .filter(|i| i.account == account)
        .collect();
    let path = format!("/api/v1/accounts/{account}/sis_imports");
    Ok(numbered(&cx.links(), &path, &q, &list, true)
        .wrapped("sis_imports", |i| sis_json(cx.base(), &zone, i)))
}

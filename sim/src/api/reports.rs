//! Account reports: `POST /accounts/:id/reports/:report` starts one, it is
//! `running` on the first poll and `complete` (with a `file_url`) from the
//! second, and the file is the account's courses as a provisioning CSV.
//! File URLs are pre-signed, as Canvas's are: they need no token.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::params::Body;
use crate::server::SimState;

/// An account report run.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    id: u64,
    account: u64,
    name: String,
    created_at: String,
    parameters: serde_json::Map<String, Value>,
    polls: u32,
}

fn report_json(base: &str, r: &Report) -> Value {
    let complete = r.polls >= 2;
    json!({
        "id": r.id, "report": r.name, "status": if complete { "complete" } else { "running" },
        "progress": if complete { 100 } else { 50 * r.polls },
        "file_url": complete.then(|| format!("{base}/files/reports/{}/{}.csv", r.id, r.name)),
        "attachment": null, "created_at": r.created_at, "started_at": r.created_at,
        "ended_at": complete.then_some(&r.created_at), "parameters": r.parameters,
        "current_line": null,
    })
}

/// `POST /api/v1/accounts/:id/reports/:report` (`parameters[...]`).
pub(crate) async fn start(
    cx: Ctx,
    Path((id, name)): Path<(String, String)>,
    body: Body,
) -> ApiResult {
    let account = cx.read().find_account(&id)?.id;
    let parameters = body
        .params
        .pairs()
        .iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix("parameters[")?.strip_suffix(']')?;
            Some((key.to_owned(), Value::String(v.clone())))
        })
        .collect();
    let mut reports = cx.state.reports.lock().unwrap_or_else(|p| p.into_inner());
    let r = Report {
        id: reports.len() as u64 + 1,
        account,
        name,
        created_at: crate::dates::now(),
        parameters,
        polls: 0,
    };
    let answer = report_json(cx.base(), &r);
    reports.push(r);
    Ok(Json(answer).into_response())
}

/// `GET /api/v1/accounts/:id/reports/:report/:id`: running, then complete.
pub(crate) async fn status(
    cx: Ctx,
    Path((id, name, rid)): Path<(String, String, String)>,
) -> ApiResult {
    let account = cx.read().find_account(&id)?.id;
    let rid: u64 = rid.parse().map_err(|_| ApiError::NotFound)?;
    let mut reports = cx.state.reports.lock().unwrap_or_else(|p| p.into_inner());
    let r = reports
        .iter_mut()
        .find(|r| r.id == rid && r.account == account && r.name == name)
        .ok_or(ApiError::NotFound)?;
    r.polls += 1;
    Ok(Json(report_json(cx.base(), r)).into_response())
}

fn quote(v: &str) -> String {
    if v.contains([',', '"', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_owned()
    }
}

/// `GET /files/reports/:id/:name`: the report's CSV (the account's
/// courses).
pub(crate) async fn file(
    State(s): State<std::sync::Arc<SimState>>,
    Path((rid, _)): Path<(String, String)>,
) -> Response {
    let account = {
        let reports = s.reports.lock().unwrap_or_else(|p| p.into_inner());
        let rid: Option<u64> = rid.parse().ok();
        match reports.iter().find(|r| Some(r.id) == rid && r.polls >= 2) {
            Some(r) => r.account,
            None => return ApiError::NotFound.into_response(),
        }
    };
    let inst = s.read();
    let mut out =
        String::from("canvas_course_id,course_id,short_name,long_name,canvas_account_id,status\n");
    for c in inst.courses_in(account) {
        out.push_str(&format!(
            "{},{},{},{},{},{}\n",
            c.id,
            quote(c.sis_course_id.as_deref().unwrap_or("")),
            quote(&c.course_code),
            quote(&c.name),
            c.account_id,
            c.workflow_state
        ));
    }
    ([(header::CONTENT_TYPE, "text/csv")], out).into_response()
}

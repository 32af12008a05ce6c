//! Accounts: the caller's accounts, one account, sub-accounts (recursive
//! lists have no `last` link), terms (a wrapped list) and admins.

use axum::Json;
use axum::extract::Path;
use axum::response::IntoResponse;
use serde_json::json;

use super::Ctx;
use crate::error::ApiResult;
use crate::pages::numbered;
use crate::params::Query;

/// `GET /api/v1/accounts`: the accounts the caller administers.
pub(crate) async fn index(cx: Ctx, Query(q): Query) -> ApiResult {
    let inst = cx.read();
    let view = cx.view(&inst);
    let mine: Vec<_> = inst
        .admins
        .iter()
        .filter(|(_, u)| *u == cx.caller)
        .filter_map(|(a, _)| inst.accounts.get(a))
        .collect();
    Ok(numbered(&cx.links(), "/api/v1/accounts", &q, &mine, true).json(|a| view.account(a)))
}

/// `GET /api/v1/accounts/:id`.
pub(crate) async fn show(cx: Ctx, Path(id): Path<String>) -> ApiResult {
    let inst = cx.read();
    let account = inst.find_account(&id)?;
    Ok(Json(cx.view(&inst).account(account)).into_response())
}

/// `GET /api/v1/accounts/:id/sub_accounts` (`recursive=true`: the whole
/// subtree, without a `last` link).
pub(crate) async fn sub_accounts(cx: Ctx, Path(id): Path<String>, Query(q): Query) -> ApiResult {
    let inst = cx.read();
    let view = cx.view(&inst);
    let id = inst.find_account(&id)?.id;
    let recursive = q.flag("recursive") == Some(true);
    let subs: Vec<_> = inst
        .accounts
        .values()
        .filter(|a| a.id != id)
        .filter(|a| {
            if recursive {
                inst.is_within(a.id, id)
            } else {
                a.parent_account_id == Some(id)
            }
        })
        .collect();
    let path = format!("/api/v1/accounts/{id}/sub_accounts");
    Ok(numbered(&cx.links(), &path, &q, &subs, !recursive).json(|a| view.account(a)))
}

/// `GET /api/v1/accounts/:id/terms`: `{"enrollment_terms": [...]}`, paged.
pub(crate) async fn terms(cx: Ctx, Path(id): Path<String>, Query(q): Query) -> ApiResult {
    let inst = cx.read();
    let view = cx.view(&inst);
    let account = inst.find_account(&id)?.id;
    let state = q.value("workflow_state").unwrap_or("active");
    let terms: Vec<_> = inst
        .terms
        .values()
        .filter(|t| state == "all" || t.workflow_state == state)
        .collect();
    let path = format!("/api/v1/accounts/{account}/terms");
    Ok(
        numbered(&cx.links(), &path, &q, &terms, true)
            .wrapped("enrollment_terms", |t| view.term(t)),
    )
}

/// `GET /api/v1/accounts/:id/admins`.
pub(crate) async fn admins(cx: Ctx, Path(id): Path<String>, Query(q): Query) -> ApiResult {
    let inst = cx.read();
    let view = cx.view(&inst);
    let account = inst.find_account(&id)?.id;
    let admins: Vec<_> = inst
        .admins
        .iter()
        .filter(|(a, _)| *a == account)
        .filter_map(|(_, u)| inst.users.get(u))
        .collect();
    let path = format!("/api/v1/accounts/{account}/admins");
    Ok(numbered(&cx.links(), &path, &q, &admins, true).json(|u| {
        json!({"id": u.id * 10, "role": "AccountAdmin", "role_id": 1,
               "user": view.user(u, false), "workflow_state": "active"})
    }))
}

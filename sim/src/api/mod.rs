//! The Canvas endpoints the simulator serves, one module per area. Each
//! handler takes a [`Ctx`] (the data and the caller), its path ids as
//! text, and [`Query`](crate::params::Query) or
//! [`Body`](crate::params::Body) parameters; it resolves ids with the
//! lookup helper (`lookup.rs`, any id form, 404 otherwise) and returns an
//! [`ApiResult`](crate::error::ApiResult). Everything before and after the
//! handler (authentication, scopes, permission, throttling, string ids)
//! is the gate's (`gate.rs`).

pub(crate) mod accounts;
pub(crate) mod assignments;
pub(crate) mod courses;
pub(crate) mod enrollments;
pub(crate) mod oauth;
pub(crate) mod progress;
pub(crate) mod reports;
pub(crate) mod sis;
mod sis_csv;
pub(crate) mod users;

use std::sync::{Arc, RwLockReadGuard, RwLockWriteGuard};

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::middleware;
use axum::routing::{delete, get, post, put};

use crate::error::{self, ApiError};
use crate::gate::Caller;
use crate::model::Institution;
use crate::pages::Links;
use crate::render::View;
use crate::server::SimState;

/// What every handler works with: the simulator's state and the caller.
pub(crate) struct Ctx {
    pub(crate) state: Arc<SimState>,
    /// The user the request acts as (after masquerading).
    pub(crate) caller: u64,
}

impl FromRequestParts<Arc<SimState>> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<SimState>,
    ) -> Result<Self, Self::Rejection> {
        let caller = parts.extensions.get::<Caller>().map_or(0, |c| c.0);
        Ok(Ctx {
            state: state.clone(),
            caller,
        })
    }
}

impl Ctx {
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Institution> {
        self.state.read()
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Institution> {
        self.state.write()
    }

    /// Where this request's `Link` headers point.
    pub(crate) fn links(&self) -> Links {
        self.state.links()
    }

    /// The simulator's origin, for `html_url`s and job URLs.
    pub(crate) fn base(&self) -> &str {
        &self.state.base_url
    }

    /// Renders objects of `inst`.
    pub(crate) fn view<'a>(&'a self, inst: &'a Institution) -> View<'a> {
        View {
            inst,
            base: &self.state.base_url,
        }
    }
}

pub(crate) fn router(state: Arc<SimState>) -> Router {
    let routes = Router::new()
        .route("/login/oauth2/auth", get(oauth::authorize))
        .route(
            "/login/oauth2/token",
            post(oauth::token).delete(oauth::log_out),
        )
        .route("/files/reports/{rid}/{name}", get(reports::file))
        .route("/api/v1/accounts", get(accounts::index))
        .route("/api/v1/accounts/{id}", get(accounts::show))
        .route(
            "/api/v1/accounts/{id}/sub_accounts",
            get(accounts::sub_accounts),
        )
        .route("/api/v1/accounts/{id}/terms", get(accounts::terms))
        .route(
            "/api/v1/accounts/{id}/courses",
            get(courses::in_account)
                .post(courses::create)
                .put(courses::batch_update),
        )
        .route(
            "/api/v1/accounts/{id}/users",
            get(users::in_account).post(users::create),
        )
        .route("/api/v1/accounts/{id}/admins", get(accounts::admins))
        .route(
            "/api/v1/accounts/{id}/enrollments/{eid}",
            get(enrollments::show),
        )
        .route(
            "/api/v1/accounts/{id}/sis_imports",
            get(sis::index).post(sis::create),
        )
        .route("/api/v1/accounts/{id}/sis_imports/{sid}", get(sis::show))
        .route(
            "/api/v1/accounts/{id}/reports/{report}",
            post(reports::start),
        )
        .route(
            "/api/v1/accounts/{id}/reports/{report}/{rid}",
            get(reports::status),
        )
        .route("/api/v1/progress/{id}", get(progress::show))
        .route(
            "/api/v1/courses/{id}",
            get(courses::show).put(courses::update),
        )
        .route("/api/v1/courses/{id}/sections", get(courses::sections))
        .route("/api/v1/courses/{id}/users", get(users::in_course))
        .route(
            "/api/v1/courses/{id}/enrollments",
            get(enrollments::in_course).post(enrollments::create),
        )
        .route(
            "/api/v1/courses/{id}/enrollments/{eid}",
            delete(enrollments::end),
        )
        .route("/api/v1/courses/{id}/assignments", get(assignments::index))
        .route(
            "/api/v1/courses/{id}/assignments/{aid}/submissions",
            get(assignments::submissions),
        )
        .route(
            "/api/v1/courses/{id}/assignments/{aid}/submissions/{uid}",
            put(assignments::grade),
        )
        .route(
            "/api/v1/courses/{id}/students/submissions",
            get(assignments::student_submissions),
        )
        .route(
            "/api/v1/courses/{id}/blueprint_templates/default/update_associations",
            put(progress::blueprint_associations),
        )
        .route(
            "/api/v1/courses/{id}/blueprint_templates/default/migrations",
            post(progress::blueprint_migration),
        )
        .route(
            "/api/v1/courses/{id}/content_migrations",
            post(progress::content_migration),
        )
        .route("/api/v1/sections/{id}", get(courses::section))
        .route(
            "/api/v1/sections/{id}/enrollments",
            get(enrollments::in_section).post(enrollments::create_in_section),
        )
        .route("/api/v1/users/{id}", get(users::show).put(users::update))
        .route("/api/v1/users/{id}/enrollments", get(enrollments::of_user))
        .route("/api/v1/users/{id}/logins", get(users::logins))
        .route("/api/v1/users/{id}/page_views", get(users::page_views))
        .fallback(|| async { error::not_found() })
        .method_not_allowed_fallback(|| async { error::not_found() })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::gate::gate,
        ))
        .with_state(state);
    // A layer on a router runs after its routing, so the format suffix is
    // dropped by an outer router whose only route is the inner one.
    Router::new()
        .fallback_service(routes)
        .layer(middleware::map_request(crate::gate::strip_format))
}

//! Starting the simulator and observing what it received.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::auth::{Auth, Clock, random_string};
use crate::generate::{DEFAULT_IRREGULAR_RATE, Preset};
use crate::model::{ADMIN_USER_ID, Institution};
use crate::pages::Links;
use crate::snapshot::Snapshot;
use crate::throttle::{Throttle, ThrottleConfig};

/// How to start a simulator.
#[derive(Clone)]
pub struct SimConfig {
    /// Institution size.
    pub preset: Preset,
    /// Generator seed.
    pub seed: u64,
    /// Share of the generator's candidates made irregular (courses without
    /// teachers, concluded and deleted enrollments, empty sub-accounts,
    /// unpublished courses with students, staff without SIS ids); 0 gives
    /// regular data for tests that need exact data.
    pub irregular_rate: f64,
    /// Start from this saved data (and its role tokens) instead of
    /// generating; `preset`, `seed` and `irregular_rate` are then unused.
    pub snapshot: Option<Snapshot>,
    /// The root admin's token; random when `None`.
    pub admin_token: Option<String>,
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// The per-token leaky bucket (hosted Canvas's numbers by default).
    pub throttle: ThrottleConfig,
    /// Keep every request for [`SimHandle::requests`] (tests); benchmarks
    /// turn it off.
    pub record_requests: bool,
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("preset", &self.preset)
            .field("seed", &self.seed)
            .field("irregular_rate", &self.irregular_rate)
            .field("snapshot", &self.snapshot)
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "[redacted]"),
            )
            .field("port", &self.port)
            .field("throttle", &self.throttle)
            .field("record_requests", &self.record_requests)
            .finish()
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            preset: Preset::Demo,
            seed: 42,
            irregular_rate: DEFAULT_IRREGULAR_RATE,
            snapshot: None,
            admin_token: None,
            port: 0,
            throttle: ThrottleConfig::default(),
            record_requests: true,
        }
    }
}

/// One request as the simulator received it, for tests to inspect.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Path without query.
    pub path: String,
    /// Raw query string.
    pub query: String,
    /// Every header, name lowercase.
    pub headers: Vec<(String, String)>,
    /// Request body as text.
    pub body: String,
}

impl RecordedRequest {
    /// The first header with this (lowercase) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Misbehaviour on demand, for reliability and security tests.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Pagination links point to this origin instead of the simulator's.
    pub next_link_origin: Option<String>,
    /// Every `Link` header carries relative URLs
    /// (`</api/v1/...?page=2&per_page=100>; rel="next"`), as some
    /// deployments and recorded fixtures do.
    pub relative_links: bool,
    /// Every API request is answered `302 Found` to this origin.
    pub redirect_to: Option<String>,
    /// Share of API requests (0.0 to 1.0) answered with Canvas's 500.
    pub error_rate: f64,
    /// Only requests with this method get `error_rate`'s 500s (`None`: all).
    pub error_method: Option<http::Method>,
    /// Share of API requests whose connection drops before the body ends.
    pub drop_rate: f64,
    /// Added before every API answer (while its up-front cost is held,
    /// as a request's time on the network and in Canvas is).
    pub latency: Option<std::time::Duration>,
    /// Each answer's latency is drawn uniformly from `latency ± jitter`.
    pub latency_jitter: Option<std::time::Duration>,
    /// The network between the client and Canvas, each way: an API
    /// request reaches the bucket this long after it arrives (so another
    /// client's request may be admitted first), and its answer, throttles
    /// included, leaves this long after Canvas is done with it. Not part of
    /// `x-runtime`.
    pub network: Option<std::time::Duration>,
    /// The body is sent in two halves this far apart.
    pub slow_body: Option<std::time::Duration>,
    /// API requests whose path starts with this are answered `502` with
    /// their request headers echoed in the body, as a misconfigured proxy
    /// in front of Canvas does.
    pub echo_headers: Option<String>,
}

/// The kinds of user the simulator issues a token for at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// Administers the root account (everything).
    RootAdmin,
    /// Administers the first school's sub-account subtree.
    SubAccountAdmin,
    /// Teaches courses in the first school.
    Teacher,
    /// May read only itself.
    NoPermission,
}

impl Role {
    /// Name as `easel sim serve` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Role::RootAdmin => "root admin",
            Role::SubAccountAdmin => "sub-account admin (first school)",
            Role::Teacher => "teacher (first school)",
            Role::NoPermission => "no-permission user",
        }
    }
}

/// Shared state behind the routes.
pub(crate) struct SimState {
    pub(crate) data: RwLock<Institution>,
    pub(crate) auth: Mutex<Auth>,
    pub(crate) clock: Clock,
    pub(crate) faults: Mutex<Faults>,
    pub(crate) throttle: Throttle,
    pub(crate) progress: Mutex<Vec<crate::api::progress::Progress>>,
    pub(crate) sis_imports: Mutex<Vec<crate::api::sis::SisImport>>,
    pub(crate) reports: Mutex<Vec<crate::api::reports::Report>>,
    pub(crate) log: Mutex<Vec<RecordedRequest>>,
    pub(crate) record_requests: bool,
    pub(crate) base_url: String,
}

impl SimState {
    pub(crate) fn auth(&self) -> std::sync::MutexGuard<'_, Auth> {
        self.auth.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn faults(&self) -> Faults {
        self.faults.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// Where pagination links point: the simulator's origin, unless a
    /// fault says another origin or relative links.
    pub(crate) fn links(&self) -> Links {
        let faults = self.faults();
        if faults.relative_links {
            return Links::relative();
        }
        Links::absolute(faults.next_link_origin.as_deref().unwrap_or(&self.base_url))
    }

    /// The institution, for reading.
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Institution> {
        self.data.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The institution, for a write.
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Institution> {
        self.data.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// The simulator's entry point.
pub struct Simulator;

/// A running simulator. Dropping it stops the server.
pub struct SimHandle {
    url: String,
    admin_token: String,
    roles: Vec<(Role, u64, String)>,
    state: Arc<SimState>,
    task: JoinHandle<()>,
}

impl Simulator {
    /// Generate the institution and serve it on 127.0.0.1.
    pub async fn start(config: SimConfig) -> std::io::Result<SimHandle> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], config.port))).await?;
        let addr = listener.local_addr()?;
        let url = format!("http://{addr}");
        let (data, saved) = match config.snapshot {
            Some(snapshot) => {
                let roles = snapshot.roles();
                (snapshot.institution, roles)
            }
            None => (
                Institution::generate_with(config.preset, config.seed, config.irregular_rate),
                Vec::new(),
            ),
        };
        let saved_token = |role: Role| {
            saved
                .iter()
                .find(|(r, _, _)| *r == role)
                .map(|(_, _, t)| t.clone())
        };
        let admin_token = config
            .admin_token
            .or_else(|| saved_token(Role::RootAdmin))
            .unwrap_or_else(|| format!("7~{}", random_string(64)));
        let mut auth = Auth::default();
        auth.add_token(&admin_token, ADMIN_USER_ID, None);
        let mut roles = vec![(Role::RootAdmin, ADMIN_USER_ID, admin_token.clone())];
        for (role, user) in [
            (
                Role::SubAccountAdmin,
                Some(crate::model::SCHOOL_ADMIN_USER_ID),
            ),
            (Role::Teacher, data.a_teacher()),
            (Role::NoPermission, Some(crate::model::NOBODY_USER_ID)),
        ] {
            let saved_user = saved
                .iter()
                .find(|(r, _, _)| *r == role)
                .map(|(_, u, _)| *u);
            if let Some(user) = saved_user.or(user) {
                let token = saved_token(role).unwrap_or_else(|| format!("7~{}", random_string(64)));
                auth.add_token(&token, user, None);
                roles.push((role, user, token));
            }
        }
        let state = Arc::new(SimState {
            data: RwLock::new(data),
            auth: Mutex::new(auth),
            clock: Clock::new(),
            faults: Mutex::new(Faults::default()),
            throttle: Throttle::new(config.throttle.clone()),
            progress: Mutex::new(Vec::new()),
            sis_imports: Mutex::new(Vec::new()),
            reports: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            record_requests: config.record_requests,
            base_url: url.clone(),
        });
        let app = crate::api::router(state.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("simulator stopped: {e}");
            }
        });
        Ok(SimHandle {
            url,
            admin_token,
            roles,
            state,
            task,
        })
    }
}

impl SimHandle {
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The root admin's token.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Accept `token` for `user_id` (no expiry), like a manually generated
    /// user token.
    pub fn add_token(&self, token: &str, user_id: u64) {
        self.state.auth().add_token(token, user_id, None);
    }

    /// A token for each role: (role, user id, token).
    pub fn role_tokens(&self) -> &[(Role, u64, String)] {
        &self.roles
    }

    /// The token of one role.
    pub fn token_for(&self, role: Role) -> Option<&str> {
        self.roles
            .iter()
            .find(|(r, _, _)| *r == role)
            .map(|(_, _, t)| t.as_str())
    }

    /// Accept a developer-key token limited to `scopes` (Canvas's
    /// `url:VERB|/path` grammar); without `allow_includes`, `include[]` is
    /// cut to `uuid`.
    pub fn add_scoped_token(
        &self,
        token: &str,
        user_id: u64,
        scopes: &[&str],
        allow_includes: bool,
    ) -> Result<(), crate::scope::ScopeError> {
        let scopes = scopes
            .iter()
            .map(|s| crate::scope::Scope::parse(s))
            .collect::<Result<Vec<_>, _>>()?;
        self.state
            .auth()
            .add_scoped_token(token, user_id, scopes, allow_includes);
        Ok(())
    }

    /// Stop accepting `token`.
    pub fn revoke_token(&self, token: &str) {
        self.state.auth().revoke(token);
    }

    /// Register a developer key: (client id, client secret). It has no
    /// redirect URI, so it serves only tokens issued by the test itself
    /// (`issue_oauth_token`) and their refresh.
    pub fn add_developer_key(&self) -> (String, String) {
        self.state.auth().add_developer_key(Vec::new())
    }

    /// Register a developer key whose authorization-code flow may redirect
    /// to `redirect_uri` (or a path under it): (client id, client secret).
    pub fn add_developer_key_for(&self, redirect_uri: &str) -> (String, String) {
        self.state
            .auth()
            .add_developer_key(vec![redirect_uri.to_owned()])
    }

    /// Issue an OAuth2 access token (one hour) and refresh token for
    /// `user_id` under a developer key.
    pub fn issue_oauth_token(&self, client_id: &str, user_id: u64) -> (String, String) {
        let now = self.state.clock.now();
        self.state.auth().issue(client_id, user_id, now)
    }

    /// Move the simulator's clock forward (token expiry).
    pub fn advance_clock(&self, by: std::time::Duration) {
        self.state.clock.advance(by);
    }

    /// Successful refresh grants so far.
    pub fn refresh_count(&self) -> u64 {
        self.state.auth().refreshes
    }

    /// Change the throttling settings (buckets keep their levels).
    pub fn set_throttle(&self, config: ThrottleConfig) {
        if let Ok(mut c) = self.state.throttle.config.lock() {
            *c = config;
        }
    }

    /// The throttling settings.
    pub fn throttle(&self) -> ThrottleConfig {
        self.state.throttle.config()
    }

    /// Fill `token`'s bucket to the maximum, as another integration using
    /// the same token would: its next requests are throttled until it leaks.
    pub fn fill_bucket(&self, token: &str) {
        self.state.throttle.fill(token);
    }

    /// `token`'s bucket level now (0 for a token not seen yet).
    pub fn bucket_level(&self, token: &str) -> f64 {
        self.state.throttle.level(token)
    }

    /// Requests answered so far (throttled ones included).
    pub fn request_count(&self) -> u64 {
        self.state
            .throttle
            .seen
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Bucket units charged for finished requests so far (all tokens).
    pub fn charged_units(&self) -> f64 {
        self.state
            .throttle
            .charged_micro
            .load(std::sync::atomic::Ordering::Relaxed) as f64
            / 1e6
    }

    /// Requests throttled so far.
    pub fn throttled_count(&self) -> u64 {
        self.state
            .throttle
            .throttled
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Switch misbehaviour on or off.
    pub fn set_faults(&self, faults: Faults) {
        if let Ok(mut f) = self.state.faults.lock() {
            *f = faults;
        }
    }

    /// Forget the recorded requests.
    pub fn clear_requests(&self) {
        if let Ok(mut l) = self.state.log.lock() {
            l.clear();
        }
    }

    /// Read the current institution (including writes made so far).
    pub fn with_data<R>(&self, f: impl FnOnce(&Institution) -> R) -> R {
        f(&self.state.read())
    }

    /// Seed a scenario: a new school with exactly the scenario's objects.
    pub fn seed(
        &self,
        scenario: &crate::scenario::Scenario,
    ) -> Result<crate::scenario::Seeded, String> {
        scenario.apply(&mut self.state.write())
    }

    /// The institution and role tokens as they are now, to save with
    /// [`Snapshot::save`] and start from later with
    /// [`SimConfig::snapshot`].
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::new(self.state.read().clone(), &self.roles)
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

//! Starting the simulator and observing what it received.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};

use rand::Rng;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::data::{ADMIN_USER_ID, Institution, Preset};
use crate::routes;

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Institution size.
    pub preset: Preset,
    /// Generator seed.
    pub seed: u64,
    /// The root admin's token; random when `None`.
    pub admin_token: Option<String>,
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            preset: Preset::Demo,
            seed: 42,
            admin_token: None,
            port: 0,
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

/// Shared state behind the routes.
pub(crate) struct SimState {
    pub(crate) data: RwLock<Institution>,
    pub(crate) tokens: HashMap<String, u64>,
    pub(crate) log: Mutex<Vec<RecordedRequest>>,
    pub(crate) base_url: String,
}

/// The simulator's entry point.
pub struct Simulator;

/// A running simulator. Dropping it stops the server.
pub struct SimHandle {
    url: String,
    admin_token: String,
    state: Arc<SimState>,
    task: JoinHandle<()>,
}

impl Simulator {
    /// Generate the institution and serve it on 127.0.0.1.
    pub async fn start(config: SimConfig) -> std::io::Result<SimHandle> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], config.port))).await?;
        let addr = listener.local_addr()?;
        let url = format!("http://{addr}");
        let admin_token = config.admin_token.unwrap_or_else(random_token);
        let mut tokens = HashMap::new();
        tokens.insert(admin_token.clone(), ADMIN_USER_ID);
        let state = Arc::new(SimState {
            data: RwLock::new(Institution::generate(config.preset, config.seed)),
            tokens,
            log: Mutex::new(Vec::new()),
            base_url: url.clone(),
        });
        let app = routes::router(state.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("simulator stopped: {e}");
            }
        });
        Ok(SimHandle {
            url,
            admin_token,
            state,
            task,
        })
    }
}

/// A Canvas-looking token: `<shard>~<64 alphanumerics>`.
fn random_token() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let body: String = (0..64)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("7~{body}")
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

    /// Forget the recorded requests.
    pub fn clear_requests(&self) {
        if let Ok(mut l) = self.state.log.lock() {
            l.clear();
        }
    }

    /// Read the current institution (including writes made so far).
    pub fn with_data<R>(&self, f: impl FnOnce(&Institution) -> R) -> R {
        match self.state.data.read() {
            Ok(d) => f(&d),
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

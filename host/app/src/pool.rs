//! Connections kept open for a long-lived process (`easel serve`): one per
//! instance and token, so every run on a token shares that token's
//! governor and its bucket is never spent twice; and one embedded
//! simulator for the `sim` instance, whose data lives as long as the
//! process.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{Mutex, OnceCell};

use crate::connection::{ConnectOptions, Connection, SIM_INSTANCE, choose_instance};
use crate::error::AppError;
use crate::home::Home;
use crate::run::grant_target;

/// Open connections, by instance and token.
#[derive(Default)]
pub struct Connections {
    sim: OnceCell<Arc<Connection>>,
    open: Mutex<HashMap<(String, String), Arc<Connection>>>,
}

impl Connections {
    /// No connection open yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The embedded simulator, started on first use.
    pub async fn sim(&self) -> Result<Arc<Connection>, AppError> {
        self.sim
            .get_or_try_init(|| async { Connection::embedded_sim().await.map(Arc::new) })
            .await
            .cloned()
    }

    /// The connection for `instance` with `token`, opened on first use.
    async fn to(
        &self,
        home: &Home,
        instance: &easel_store::InstanceRow,
        token: &str,
    ) -> Result<Arc<Connection>, AppError> {
        let key = (instance.name.clone(), token.to_owned());
        let mut open = self.open.lock().await;
        if let Some(c) = open.get(&key) {
            return Ok(c.clone());
        }
        let c = Arc::new(Connection::to_instance(home, instance, Some(token)).await?);
        open.insert(key, c.clone());
        Ok(c)
    }

    /// Close the connections of `tokens` (their governors go with them):
    /// a token this host took from another starts afresh.
    pub async fn forget_tokens(&self, tokens: &[String]) {
        self.open
            .lock()
            .await
            .retain(|(_, token), _| !tokens.contains(token));
    }

    /// Each open connection's instance, token id, token fingerprint (the
    /// keyed one `easel token list` shows; never the secret) and its
    /// governor's counters.
    pub async fn governors(
        &self,
        home: &Home,
    ) -> Vec<(String, String, String, easel_canvas::GovernorStats)> {
        let fingerprints: HashMap<String, String> = home
            .vault()
            .ok()
            .and_then(|v| v.list().ok())
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.id, t.fingerprint))
            .collect();
        let mut out: Vec<_> = self
            .open
            .lock()
            .await
            .iter()
            .map(|((instance, token), c)| {
                (
                    instance.clone(),
                    token.clone(),
                    fingerprints.get(token).cloned().unwrap_or_default(),
                    c.client.governor().stats(),
                )
            })
            .collect();
        if let Some(c) = self.sim.get() {
            out.push((
                SIM_INSTANCE.into(),
                SIM_INSTANCE.into(),
                String::new(),
                c.client.governor().stats(),
            ));
        }
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        out
    }

    /// Each open connection's instance, token id, governor counters and
    /// bucket high-water mark, without reading the vault (for frequent
    /// sampling).
    pub async fn stats(&self) -> Vec<(String, String, easel_canvas::GovernorStats, f64)> {
        let mut out: Vec<_> = self
            .open
            .lock()
            .await
            .iter()
            .map(|((instance, token), c)| {
                let g = c.client.governor();
                (instance.clone(), token.clone(), g.stats(), g.config().hwm)
            })
            .collect();
        if let Some(c) = self.sim.get() {
            let g = c.client.governor();
            out.push((
                SIM_INSTANCE.into(),
                SIM_INSTANCE.into(),
                g.stats(),
                g.config().hwm,
            ));
        }
        out
    }

    /// The connection a grant's runs use.
    pub async fn for_grant(
        &self,
        home: &Home,
        plugin: &str,
        school: u64,
    ) -> Result<Arc<Connection>, AppError> {
        match grant_target(home, plugin, school, &ConnectOptions::default())? {
            None => self.sim().await,
            Some((instance, token)) => self.to(home, &instance, &token).await,
        }
    }

    /// The instance commands use when none is named: the only configured
    /// one (with its only token), else the embedded simulator.
    pub async fn default_instance(&self, home: &Home) -> Result<Arc<Connection>, AppError> {
        match choose_instance(home, None)? {
            None => self.sim().await,
            Some(instance) if instance.name == SIM_INSTANCE => self.sim().await,
            Some(instance) => {
                let tokens = home.vault()?.list().map_err(AppError::internal)?;
                let mine: Vec<_> = tokens
                    .iter()
                    .filter(|t| t.instance == instance.name)
                    .collect();
                match mine.as_slice() {
                    [one] => self.to(home, &instance, &one.id).await,
                    _ => Err(AppError::invalid(format!(
                        "instance {} has {} tokens; the server uses an instance with exactly one for listings",
                        instance.name,
                        mine.len()
                    ))),
                }
            }
        }
    }
}

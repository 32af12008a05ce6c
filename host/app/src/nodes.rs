//! This host as a node of a deployment sharing one PostgreSQL database:
//! registered with a heartbeat, holding the leases of the tokens that
//! hash to it (rendezvous hashing over the live nodes), so that each
//! token's governor lives on one host and its bucket is never spent by
//! two. The queue claims only runs on tokens this node holds
//! ([`crate::queue::QueueHost::owned_tokens`]).
//!
//! A token taken from another node (or taken back) starts with a new
//! governor, which begins conservatively and learns the bucket from
//! Canvas's headers. A node that dies stops renewing: its leases run out
//! and the next node in each token's hash order takes them; its runs'
//! leases run out too, and they are marked interrupted, never re-sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use easel_store_pg::{Ownership, PgStore};

use crate::error::AppError;

/// One host's membership.
pub struct Node {
    id: String,
    store: Arc<PgStore>,
    lease: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    owned: Vec<String>,
    handovers: u64,
    rounds: u64,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.id)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

/// This process's node over `database`, when it is PostgreSQL (joined
/// now, as `queue`'s owner); `None` for SQLite (one host).
pub fn join_if_shared(
    database: &crate::database::Database,
    queue: &crate::queue::Queue,
    address: &str,
) -> Result<Option<Arc<Node>>, AppError> {
    match database {
        crate::database::Database::Sqlite => Ok(None),
        crate::database::Database::Postgres(url) => Node::join(
            crate::database::postgres(url)?,
            queue.owner(),
            address,
            queue.config().lease,
        )
        .map(Some),
    }
}

impl Node {
    /// Register node `id` (reachable at `address`) in `store`; token
    /// leases last `lease` and are renewed every third of it.
    pub fn join(
        store: Arc<PgStore>,
        id: &str,
        address: &str,
        lease: Duration,
    ) -> Result<Arc<Node>, AppError> {
        store
            .register_node(id, address)
            .map_err(|e| AppError::internal(anyhow::anyhow!("cannot register this node: {e}")))?;
        Ok(Arc::new(Node {
            id: id.to_owned(),
            store,
            lease,
            state: Mutex::new(State::default()),
        }))
    }

    /// This node's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Record where this node's API is reached (for operators reading the
    /// `nodes` table).
    pub fn set_address(&self, address: &str) {
        if let Err(e) = self.store.register_node(&self.id, address) {
            tracing::warn!("cannot record this node's address: {e}");
        }
    }

    /// How long a token's lease lasts.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The tokens this node holds now (it claims runs on these only).
    pub fn owned(&self) -> Vec<String> {
        self.state().owned.clone()
    }

    /// Tokens this node took from another (or took back) since it
    /// started, and rounds of balancing done.
    pub fn counters(&self) -> (u64, u64) {
        let s = self.state();
        (s.handovers, s.rounds)
    }

    /// One round: heartbeat, then take, renew or give up each token's
    /// lease. Returns what changed. On an error this node holds nothing
    /// (it claims nothing until a round succeeds).
    pub fn balance(&self) -> Result<Ownership, AppError> {
        let tokens: Vec<String> = match self.store.tokens() {
            Ok(rows) => rows.into_iter().map(|t| t.id).collect(),
            Err(e) => {
                self.state().owned.clear();
                return Err(AppError::internal(anyhow::anyhow!(
                    "cannot list the tokens: {e}"
                )));
            }
        };
        match self.store.balance_tokens(&self.id, &tokens, self.lease) {
            Ok(o) => {
                let mut s = self.state();
                s.owned = o.owned.clone();
                s.handovers += o.taken.len() as u64;
                s.rounds += 1;
                Ok(o)
            }
            Err(e) => {
                self.state().owned.clear();
                Err(AppError::internal(anyhow::anyhow!(
                    "cannot renew this node's token leases: {e}"
                )))
            }
        }
    }

    /// Leave cleanly: give up every lease at once (the next owners need
    /// not wait for them to run out).
    pub fn leave(&self) {
        self.state().owned.clear();
        if let Err(e) = self.store.stop_node(&self.id) {
            tracing::warn!("cannot give up this node's token leases: {e}");
        }
    }
}

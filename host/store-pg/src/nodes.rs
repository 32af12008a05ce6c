//! Nodes and token ownership.
//!
//! Every `easel serve` against the database is a node: a row with a
//! heartbeat (the database's clock). Each token is spent by one node, the
//! holder of its lease row; the holder is chosen by rendezvous hashing
//! over the live nodes, so each node works out the same owner for every
//! token without talking to the others, and when a node dies only its
//! tokens move, each to the next node in that token's hash order.
//!
//! A node holds a lease only while it renews it. A token whose hash moves
//! to another node (one joined) is given up by its holder once its runs
//! on that token have ended: until then the newcomer waits, so a token's
//! bucket is never spent by two nodes at once. A dead node's leases run
//! out, and the next node in hash order takes them.

use std::time::Duration;

use easel_store::Result;
use sha2::{Digest, Sha256};

use crate::{PgResult, PgStore};

/// A live node, as the table shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    /// The node's id.
    pub id: String,
    /// Where its API listens (for operators).
    pub address: String,
}

/// One token's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The token.
    pub token_id: String,
    /// The node holding it.
    pub node: String,
    /// Changes of owner so far (grows with each).
    pub epoch: i64,
}

/// What one round of [`PgStore::balance_tokens`] left a node with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ownership {
    /// Tokens this node holds now (it may claim their runs).
    pub owned: Vec<String>,
    /// Tokens it took this round (a new governor starts for each).
    pub taken: Vec<String>,
    /// Tokens it gave up this round.
    pub released: Vec<String>,
    /// Tokens that hash to another node but that it still holds, because
    /// its runs on them have not ended (no new run is claimed on them).
    pub draining: Vec<String>,
}

fn score(node: &str, token: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((node.len() as u64).to_be_bytes());
    h.update(node.as_bytes());
    h.update(token.as_bytes());
    h.finalize().into()
}

/// The node of `nodes` that should own `token`: the highest score of
/// sha256(node, token). `None` when there are no nodes.
pub fn rendezvous_owner<'a>(nodes: &'a [String], token: &str) -> Option<&'a str> {
    nodes
        .iter()
        .max_by_key(|n| score(n, token))
        .map(String::as_str)
}

fn millis(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

impl PgStore {
    /// Register node `id` (or bring it back) with a fresh heartbeat.
    pub fn register_node(&self, id: &str, address: &str) -> Result<()> {
        let (id, address) = (id.to_string(), address.to_string());
        self.block(move |pool| async move {
            let c = pool.get().await?;
            c.execute(
                "INSERT INTO nodes (id, address, started_at, heartbeat_at)
                 VALUES ($1, $2, clock_timestamp(), clock_timestamp())
                 ON CONFLICT (id) DO UPDATE SET address = $2, started_at = clock_timestamp(),
                     heartbeat_at = clock_timestamp(), stopped_at = NULL",
                &[&id, &address],
            )
            .await?;
            Ok(())
        })
    }

    /// Node `id` is alive: move its heartbeat to now. False if it is not
    /// registered or was stopped.
    pub fn heartbeat(&self, id: &str) -> Result<bool> {
        let id = id.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let n = c
                .execute(
                    "UPDATE nodes SET heartbeat_at = clock_timestamp()
                     WHERE id = $1 AND stopped_at IS NULL",
                    &[&id],
                )
                .await?;
            Ok(n == 1)
        })
    }

    /// Node `id` stops cleanly: it gives up its leases at once (the next
    /// owners need not wait for them to run out) and leaves the live set.
    pub fn stop_node(&self, id: &str) -> Result<()> {
        let id = id.to_string();
        self.block(move |pool| async move {
            let mut c = pool.get().await?;
            let tx = c.transaction().await?;
            tx.execute(
                "UPDATE nodes SET stopped_at = clock_timestamp() WHERE id = $1",
                &[&id],
            )
            .await?;
            tx.execute(
                "UPDATE token_leases SET lease_until = clock_timestamp() WHERE node = $1",
                &[&id],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Nodes whose heartbeat is younger than `lease`, by id.
    pub fn live_nodes(&self, lease: Duration) -> Result<Vec<NodeRow>> {
        let ms = millis(lease);
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let rows = c
                .query(
                    "SELECT id, address FROM nodes WHERE stopped_at IS NULL
                       AND heartbeat_at > clock_timestamp() - $1::bigint * interval '1 millisecond'
                     ORDER BY id",
                    &[&ms],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| NodeRow {
                    id: r.get(0),
                    address: r.get(1),
                })
                .collect())
        })
    }

    /// Every token's lease that has not run out.
    pub fn leases(&self) -> Result<Vec<Lease>> {
        self.block(|pool| async move {
            let c = pool.get().await?;
            let rows = c
                .query(
                    "SELECT token_id, node, epoch FROM token_leases
                     WHERE lease_until > clock_timestamp() ORDER BY token_id",
                    &[],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| Lease {
                    token_id: r.get(0),
                    node: r.get(1),
                    epoch: r.get(2),
                })
                .collect())
        })
    }

    /// Changes of a token's owner recorded so far, all tokens.
    pub fn handovers(&self) -> Result<u64> {
        self.block(|pool| async move {
            let c = pool.get().await?;
            let n: i64 = c
                .query_one("SELECT count(*) FROM token_handovers", &[])
                .await?
                .get(0);
            Ok(n.max(0) as u64)
        })
    }

    /// One round of token ownership for node `me`: heartbeat, then for
    /// each of `tokens`, take or renew its lease (for `lease`) if it
    /// hashes to `me` among the live nodes and no other live holder has
    /// it; give it up if it hashes elsewhere and `me` has no running run
    /// on it. Call it well within `lease` (a third of it, say).
    pub fn balance_tokens(
        &self,
        me: &str,
        tokens: &[String],
        lease: Duration,
    ) -> Result<Ownership> {
        let me = me.to_string();
        let tokens = tokens.to_vec();
        let ms = millis(lease);
        self.block(move |pool| async move { balance(pool, me, tokens, ms).await })
    }
}

async fn balance(
    pool: deadpool_postgres::Pool,
    me: String,
    tokens: Vec<String>,
    lease_ms: i64,
) -> PgResult<Ownership> {
    let mut c = pool.get().await?;
    let beating = c
        .execute(
            "UPDATE nodes SET heartbeat_at = clock_timestamp() WHERE id = $1 AND stopped_at IS NULL",
            &[&me],
        )
        .await?;
    if beating == 0 {
        // This node has left (a round that raced its leave): it takes
        // nothing, and the leave gave up what it held.
        return Ok(Ownership::default());
    }
    let live: Vec<String> = c
        .query(
            "SELECT id FROM nodes WHERE stopped_at IS NULL
               AND heartbeat_at > clock_timestamp() - $1::bigint * interval '1 millisecond'",
            &[&lease_ms],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut out = Ownership::default();
    for token in &tokens {
        let mine = rendezvous_owner(&live, token) == Some(me.as_str());
        if mine {
            // Take it if free or run out; renew it if ours. A live
            // holder's lease is left alone: it gives the token up itself.
            let row = c
                .query_opt(
                    "INSERT INTO token_leases (token_id, node, lease_until, acquired_at, epoch)
                     VALUES ($1, $2, clock_timestamp() + $3::bigint * interval '1 millisecond',
                             now(), 1)
                     ON CONFLICT (token_id) DO UPDATE SET
                         node = $2,
                         lease_until = EXCLUDED.lease_until,
                         acquired_at = CASE WHEN token_leases.node = $2
                                            THEN token_leases.acquired_at ELSE now() END,
                         epoch = CASE WHEN token_leases.node = $2
                                      THEN token_leases.epoch ELSE token_leases.epoch + 1 END
                     WHERE token_leases.node = $2 OR token_leases.lease_until <= clock_timestamp()
                     RETURNING epoch, acquired_at = now() AS fresh,
                               (SELECT node FROM token_leases WHERE token_id = $1) AS before",
                    &[token, &me, &lease_ms],
                )
                .await?;
            if let Some(row) = row {
                let fresh: bool = row.get(1);
                let before: Option<String> = row.get(2);
                if fresh {
                    c.execute(
                        "INSERT INTO token_handovers (token_id, from_node, to_node, at, why)
                         VALUES ($1, $2, $3, clock_timestamp(), $4)",
                        &[
                            token,
                            &before.as_deref().filter(|b| *b != me),
                            &me,
                            &if before.is_some() && before.as_deref() != Some(me.as_str()) {
                                "its holder gave it up or stopped renewing it"
                            } else {
                                "no node held it"
                            },
                        ],
                    )
                    .await?;
                    out.taken.push(token.clone());
                }
                out.owned.push(token.clone());
            }
        } else {
            // Ours but hashing elsewhere: give it up once our runs on it
            // have ended; until then keep it (renewed) and claim nothing.
            // The lease row is locked first, so a claim under way on it
            // (which holds it in share mode) commits before the count.
            let tx = c.transaction().await?;
            let held = tx
                .query_opt(
                    "SELECT 1 FROM token_leases WHERE token_id = $1 AND node = $2
                       AND lease_until > clock_timestamp() FOR UPDATE",
                    &[token, &me],
                )
                .await?
                .is_some();
            if !held {
                tx.commit().await?;
                continue;
            }
            let running: i64 = tx
                .query_one(
                    "SELECT count(*) FROM runs WHERE owner = $1 AND token = $2 AND status = 'running'",
                    &[&me, token],
                )
                .await?
                .get(0);
            if running == 0 {
                // Run out at once, kept: the next owner's epoch follows on.
                tx.execute(
                    "UPDATE token_leases SET lease_until = clock_timestamp()
                     WHERE token_id = $1 AND node = $2",
                    &[token, &me],
                )
                .await?;
                out.released.push(token.clone());
            } else {
                tx.execute(
                    "UPDATE token_leases
                     SET lease_until = clock_timestamp() + $3::bigint * interval '1 millisecond'
                     WHERE token_id = $1 AND node = $2",
                    &[token, &me, &lease_ms],
                )
                .await?;
                out.draining.push(token.clone());
            }
            tx.commit().await?;
        }
    }
    Ok(out)
}

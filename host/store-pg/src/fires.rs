//! Schedule fires on PostgreSQL: a fire time is a row keyed by (schedule,
//! fire time), so whichever node handles it first handles it, and the
//! others find it taken.

use easel_store::Result;

use crate::PgStore;

impl PgStore {
    /// Claim fire time `fire_at` of schedule `id` for node `node`, with
    /// `outcome`, and move the schedule's handled mark to it, in one
    /// transaction. False if another node (or an earlier round) had
    /// claimed it.
    pub fn claim_fire(
        &self,
        id: &str,
        fire_at: &str,
        outcome: &str,
        detail: Option<&str>,
        node: &str,
    ) -> Result<bool> {
        let (id, fire_at, outcome) = (id.to_string(), fire_at.to_string(), outcome.to_string());
        let (detail, node) = (detail.map(str::to_string), node.to_string());
        self.block(move |pool| async move {
            let mut c = pool.get().await?;
            let tx = c.transaction().await?;
            let n = tx
                .execute(
                    "INSERT INTO schedule_fires (schedule_id, fire_at, outcome, detail, at, node)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (schedule_id, fire_at) DO NOTHING",
                    &[&id, &fire_at, &outcome, &detail, &easel_store::now(), &node],
                )
                .await?;
            tx.execute(
                "UPDATE schedules SET handled_until = $2
                 WHERE id = $1 AND handled_until COLLATE \"C\" < $2",
                &[&id, &fire_at],
            )
            .await?;
            tx.commit().await?;
            Ok(n == 1)
        })
    }

    /// Which node handled each fire time of schedule `id`, oldest first.
    pub fn fire_nodes(&self, id: &str) -> Result<Vec<(String, Option<String>)>> {
        let id = id.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let rows = c
                .query(
                    "SELECT fire_at, node FROM schedule_fires WHERE schedule_id = $1 ORDER BY fire_at COLLATE \"C\"",
                    &[&id],
                )
                .await?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }
}

//! Schedules and their fires on PostgreSQL: the same rows and meanings as
//! SQLite's (host/store/src/schedules.rs). A fire time is a row keyed by
//! (schedule, time), so whichever node records it first handles it;
//! claiming a fire is in fires.rs.

use easel_store::{FireRow, Result, ScheduleRow};
use tokio_postgres::Row;

use crate::PgStore;

const COLUMNS: &str = "id, plugin_id, schools, all_schools, cron, tz, dry_run, params, overlap, misfire, created_at, created_by, paused_at, paused_why, handled_until, creator_local, retry_interrupted";

fn schedule_row(r: &Row) -> ScheduleRow {
    // Unreadable lists read as empty, as on SQLite.
    ScheduleRow {
        id: r.get(0),
        plugin_id: r.get(1),
        schools: serde_json::from_str(r.get(2)).unwrap_or_default(),
        all_schools: r.get(3),
        cron: r.get(4),
        tz: r.get(5),
        dry_run: r.get(6),
        params: serde_json::from_str(r.get(7)).unwrap_or_default(),
        overlap: r.get(8),
        misfire: r.get(9),
        created_at: r.get(10),
        created_by: r.get(11),
        paused_at: r.get(12),
        paused_why: r.get(13),
        handled_until: r.get(14),
        creator_local: r.get(15),
        retry_interrupted: r.get(16),
    }
}

fn fire_row(r: &Row) -> FireRow {
    FireRow {
        schedule_id: r.get(0),
        fire_at: r.get(1),
        outcome: r.get(2),
        batch: r.get(3),
        detail: r.get(4),
        at: r.get(5),
    }
}

impl PgStore {
    /// Add a schedule.
    pub fn add_schedule(&self, s: &ScheduleRow) -> Result<()> {
        let s = s.clone();
        let schools = serde_json::to_string(&s.schools).unwrap_or_else(|_| "[]".into());
        let params = serde_json::to_string(&s.params).unwrap_or_else(|_| "[]".into());
        self.block(move |pool| async move {
            let c = pool.get().await?;
            c.execute(
                &format!(
                    "INSERT INTO schedules ({COLUMNS})
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
                ),
                &[
                    &s.id,
                    &s.plugin_id,
                    &schools,
                    &s.all_schools,
                    &s.cron,
                    &s.tz,
                    &s.dry_run,
                    &params,
                    &s.overlap,
                    &s.misfire,
                    &s.created_at,
                    &s.created_by,
                    &s.paused_at,
                    &s.paused_why,
                    &s.handled_until,
                    &s.creator_local,
                    &s.retry_interrupted,
                ],
            )
            .await?;
            Ok(())
        })
    }

    /// Every schedule, oldest first.
    pub fn schedules(&self) -> Result<Vec<ScheduleRow>> {
        self.block(|pool| async move {
            let c = pool.get().await?;
            let rows = c
                .query(
                    &format!(
                        "SELECT {COLUMNS} FROM schedules
                         ORDER BY created_at COLLATE \"C\", id COLLATE \"C\""
                    ),
                    &[],
                )
                .await?;
            Ok(rows.iter().map(schedule_row).collect())
        })
    }

    /// One schedule.
    pub fn schedule(&self, id: &str) -> Result<Option<ScheduleRow>> {
        let id = id.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let row = c
                .query_opt(
                    &format!("SELECT {COLUMNS} FROM schedules WHERE id = $1"),
                    &[&id],
                )
                .await?;
            Ok(row.as_ref().map(schedule_row))
        })
    }

    /// Pause a schedule (`why`), or resume it (`None`, with fire times up
    /// to `handled_until` counted as handled). False if there is none.
    pub fn set_schedule_paused(
        &self,
        id: &str,
        why: Option<&str>,
        handled_until: Option<&str>,
    ) -> Result<bool> {
        let id = id.to_string();
        let why = why.map(str::to_string);
        let handled_until = handled_until.map(str::to_string);
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let n = match why {
                Some(why) => {
                    c.execute(
                        "UPDATE schedules SET paused_at = $2, paused_why = $3 WHERE id = $1",
                        &[&id, &easel_store::now(), &why],
                    )
                    .await?
                }
                None => {
                    c.execute(
                        "UPDATE schedules SET paused_at = NULL, paused_why = NULL,
                           handled_until = COALESCE($2, handled_until) WHERE id = $1",
                        &[&id, &handled_until],
                    )
                    .await?
                }
            };
            Ok(n > 0)
        })
    }

    /// Remove a schedule (its fires stay, as history). False if none.
    pub fn remove_schedule(&self, id: &str) -> Result<bool> {
        let id = id.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let n = c
                .execute("DELETE FROM schedules WHERE id = $1", &[&id])
                .await?;
            Ok(n > 0)
        })
    }

    /// Record fire times of schedule `id` as missed (those not handled
    /// already), and move its handled mark to `until`, in one transaction.
    /// How many were newly recorded.
    pub fn record_missed(
        &self,
        id: &str,
        times: &[String],
        until: &str,
        detail: &str,
    ) -> Result<usize> {
        let (id, until, detail) = (id.to_string(), until.to_string(), detail.to_string());
        let times = times.to_vec();
        self.block(move |pool| async move {
            let mut c = pool.get().await?;
            let tx = c.transaction().await?;
            let at = easel_store::now();
            let insert = tx
                .prepare(
                    "INSERT INTO schedule_fires (schedule_id, fire_at, outcome, detail, at)
                     VALUES ($1, $2, 'missed', $3, $4)
                     ON CONFLICT (schedule_id, fire_at) DO NOTHING",
                )
                .await?;
            let mut n = 0;
            for t in &times {
                n += tx.execute(&insert, &[&id, t, &detail, &at]).await?;
            }
            tx.execute(
                "UPDATE schedules SET handled_until = $2
                 WHERE id = $1 AND handled_until COLLATE \"C\" < $2",
                &[&id, &until],
            )
            .await?;
            tx.commit().await?;
            Ok(n as usize)
        })
    }

    /// Record how a fire ended: its batch and outcome.
    pub fn finish_fire(
        &self,
        id: &str,
        fire_at: &str,
        outcome: &str,
        batch: Option<&str>,
        detail: Option<&str>,
    ) -> Result<()> {
        let (id, fire_at, outcome) = (id.to_string(), fire_at.to_string(), outcome.to_string());
        let (batch, detail) = (batch.map(str::to_string), detail.map(str::to_string));
        self.block(move |pool| async move {
            let c = pool.get().await?;
            c.execute(
                "UPDATE schedule_fires SET outcome = $3, batch = $4, detail = $5
                 WHERE schedule_id = $1 AND fire_at = $2",
                &[&id, &fire_at, &outcome, &batch, &detail],
            )
            .await?;
            Ok(())
        })
    }

    /// A schedule's latest fires, newest first.
    pub fn fires(&self, id: &str, limit: usize) -> Result<Vec<FireRow>> {
        let id = id.to_string();
        let limit = limit.min(i64::MAX as usize) as i64;
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let rows = c
                .query(
                    "SELECT schedule_id, fire_at, outcome, batch, detail, at FROM schedule_fires
                     WHERE schedule_id = $1 ORDER BY fire_at COLLATE \"C\" DESC LIMIT $2",
                    &[&id, &limit],
                )
                .await?;
            Ok(rows.iter().map(fire_row).collect())
        })
    }
}

//! Schedules and their fires. A fire time is a row keyed by (schedule,
//! time): whoever inserts it first handles it, so a time fires once.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::{Result, Store, now};

/// A stored schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleRow {
    /// Its id.
    pub id: String,
    /// The plugin it runs.
    pub plugin_id: String,
    /// The schools named (empty with `all_schools`).
    pub schools: Vec<u64>,
    /// Every school the plugin is approved for.
    pub all_schools: bool,
    /// Cron expression.
    pub cron: String,
    /// IANA time zone.
    pub tz: String,
    /// Dry runs.
    pub dry_run: bool,
    /// Parameters.
    pub params: Vec<(String, String)>,
    /// `skip` or `queue`: a fire while the last one still runs.
    pub overlap: String,
    /// `skip` or `run-once`: fire times missed while easel was down.
    pub misfire: String,
    /// When it was added.
    pub created_at: String,
    /// Who added it.
    pub created_by: String,
    /// When it was paused, if it is.
    pub paused_at: Option<String>,
    /// Why it was paused.
    pub paused_why: Option<String>,
    /// Fire times up to this one (RFC 3339) are handled.
    pub handled_until: String,
    /// Made by a local command on the data directory (not a user).
    pub creator_local: bool,
    /// Its interrupted read-only runs are run again (once each).
    #[serde(default)]
    pub retry_interrupted: bool,
}

/// One fire time handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FireRow {
    /// The schedule.
    pub schedule_id: String,
    /// The fire time (RFC 3339).
    pub fire_at: String,
    /// `fired`, `skipped`, `missed` or the batch's end: `succeeded`, `failed`.
    pub outcome: String,
    /// The batch it ran, if it ran.
    pub batch: Option<String>,
    /// Why, for a skip or a failure.
    pub detail: Option<String>,
    /// When it was handled.
    pub at: String,
}

const COLUMNS: &str = "id, plugin_id, schools, all_schools, cron, tz, dry_run, params, overlap, misfire, created_at, created_by, paused_at, paused_why, handled_until, creator_local, retry_interrupted";

fn schedule_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ScheduleRow> {
    let schools: String = r.get(2)?;
    let params: String = r.get(7)?;
    Ok(ScheduleRow {
        id: r.get(0)?,
        plugin_id: r.get(1)?,
        schools: serde_json::from_str(&schools).unwrap_or_default(),
        all_schools: r.get(3)?,
        cron: r.get(4)?,
        tz: r.get(5)?,
        dry_run: r.get(6)?,
        params: serde_json::from_str(&params).unwrap_or_default(),
        overlap: r.get(8)?,
        misfire: r.get(9)?,
        created_at: r.get(10)?,
        created_by: r.get(11)?,
        paused_at: r.get(12)?,
        paused_why: r.get(13)?,
        handled_until: r.get(14)?,
        creator_local: r.get(15)?,
        retry_interrupted: r.get(16)?,
    })
}

fn fire_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FireRow> {
    Ok(FireRow {
        schedule_id: r.get(0)?,
        fire_at: r.get(1)?,
        outcome: r.get(2)?,
        batch: r.get(3)?,
        detail: r.get(4)?,
        at: r.get(5)?,
    })
}

impl Store {
    /// Add a schedule.
    pub fn add_schedule(&self, s: &ScheduleRow) -> Result<()> {
        self.conn().execute(
            &format!("INSERT INTO schedules ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"),
            params![
                s.id,
                s.plugin_id,
                serde_json::to_string(&s.schools).unwrap_or_else(|_| "[]".into()),
                s.all_schools,
                s.cron,
                s.tz,
                s.dry_run,
                serde_json::to_string(&s.params).unwrap_or_else(|_| "[]".into()),
                s.overlap,
                s.misfire,
                s.created_at,
                s.created_by,
                s.paused_at,
                s.paused_why,
                s.handled_until,
                s.creator_local,
                s.retry_interrupted
            ],
        )?;
        Ok(())
    }

    /// Every schedule, oldest first.
    pub fn schedules(&self) -> Result<Vec<ScheduleRow>> {
        let mut stmt = self.conn().prepare(&format!(
            "SELECT {COLUMNS} FROM schedules ORDER BY created_at, id"
        ))?;
        let rows = stmt
            .query_map([], schedule_row)?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// One schedule.
    pub fn schedule(&self, id: &str) -> Result<Option<ScheduleRow>> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM schedules WHERE id = ?1"),
                params![id],
                schedule_row,
            )
            .optional()?)
    }

    /// Pause a schedule (`why`), or resume it (`None`, with fire times up
    /// to `handled_until` counted as handled). False if there is none.
    pub fn set_schedule_paused(
        &self,
        id: &str,
        why: Option<&str>,
        handled_until: Option<&str>,
    ) -> Result<bool> {
        let n = match why {
            Some(why) => self.conn().execute(
                "UPDATE schedules SET paused_at = ?2, paused_why = ?3 WHERE id = ?1",
                params![id, now(), why],
            )?,
            None => self.conn().execute(
                "UPDATE schedules SET paused_at = NULL, paused_why = NULL,
                   handled_until = COALESCE(?2, handled_until) WHERE id = ?1",
                params![id, handled_until],
            )?,
        };
        Ok(n > 0)
    }

    /// Remove a schedule (its fires stay, as history). False if none.
    pub fn remove_schedule(&self, id: &str) -> Result<bool> {
        Ok(self
            .conn()
            .execute("DELETE FROM schedules WHERE id = ?1", params![id])?
            > 0)
    }

    /// Claim fire time `fire_at` of schedule `id` with `outcome`, and move
    /// the schedule's handled mark to it, in one transaction. False if it
    /// was claimed already (by another process, or before a restart).
    pub fn claim_fire(
        &self,
        id: &str,
        fire_at: &str,
        outcome: &str,
        detail: Option<&str>,
    ) -> Result<bool> {
        let tx = self.conn().unchecked_transaction()?;
        let n = tx.execute(
            "INSERT OR IGNORE INTO schedule_fires (schedule_id, fire_at, outcome, detail, at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, fire_at, outcome, detail, now()],
        )?;
        tx.execute(
            "UPDATE schedules SET handled_until = ?2 WHERE id = ?1 AND handled_until < ?2",
            params![id, fire_at],
        )?;
        tx.commit()?;
        Ok(n == 1)
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
        let tx = self.conn().unchecked_transaction()?;
        let at = now();
        let mut n = 0;
        {
            let mut stmt = tx.prepare(
                "INSERT OR IGNORE INTO schedule_fires (schedule_id, fire_at, outcome, detail, at) VALUES (?1, ?2, 'missed', ?3, ?4)",
            )?;
            for t in times {
                n += stmt.execute(params![id, t, detail, at])?;
            }
        }
        tx.execute(
            "UPDATE schedules SET handled_until = ?2 WHERE id = ?1 AND handled_until < ?2",
            params![id, until],
        )?;
        tx.commit()?;
        Ok(n)
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
        self.conn().execute(
            "UPDATE schedule_fires SET outcome = ?3, batch = ?4, detail = ?5 WHERE schedule_id = ?1 AND fire_at = ?2",
            params![id, fire_at, outcome, batch, detail],
        )?;
        Ok(())
    }

    /// A schedule's latest fires, newest first.
    pub fn fires(&self, id: &str, limit: usize) -> Result<Vec<FireRow>> {
        let mut stmt = self.conn().prepare(
            "SELECT schedule_id, fire_at, outcome, batch, detail, at FROM schedule_fires
             WHERE schedule_id = ?1 ORDER BY fire_at DESC LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![id, limit as i64], fire_row)?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }
}

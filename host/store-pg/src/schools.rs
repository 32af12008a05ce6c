//! Per-school SIS-id prefixes on PostgreSQL: the same rows and rules as
//! SQLite's (host/store/src/schools.rs). No two schools' prefixes in an
//! instance may overlap (one starting with another, ignoring case), and a
//! prefix a school gives up stays reserved for it.
//!
//! Threat: two admins, perhaps on two nodes, setting overlapping prefixes
//! at once, each passing the check before the other's row exists. The
//! check and the insert run in one transaction holding a lock on the
//! history that only writers of prefixes take (SQLite's immediate
//! transaction), so the second waits and then sees the first.

use easel_store::{Result, SisPrefixRow, StoreError, prefix_problem};

use crate::PgStore;

impl PgStore {
    /// Set `school`'s SIS-id prefix in `instance`, refusing one that
    /// overlaps another school's.
    pub fn set_sis_prefix(
        &self,
        instance: &str,
        school: u64,
        prefix: &str,
        by: &str,
    ) -> Result<()> {
        if let Some(problem) = prefix_problem(prefix) {
            return Err(StoreError::Invalid(problem));
        }
        let (instance, wanted, by) = (instance.to_string(), prefix.to_string(), by.to_string());
        let school = school as i64;
        let clash = self.block(move |pool| async move {
            let mut c = pool.get().await?;
            let tx = c.transaction().await?;
            // Conflicts with itself, not with readers.
            tx.batch_execute("LOCK TABLE sis_prefix_history IN SHARE ROW EXCLUSIVE MODE")
                .await?;
            // Every prefix another school ever held, current or given up.
            let others = tx
                .query(
                    "SELECT school, prefix FROM sis_prefix_history WHERE instance = $1 AND school <> $2",
                    &[&instance, &school],
                )
                .await?;
            let folded = wanted.to_ascii_lowercase();
            let clash = others.iter().find_map(|r| {
                let theirs: String = r.get(1);
                let p = theirs.to_ascii_lowercase();
                (p.starts_with(&folded) || folded.starts_with(&p))
                    .then(|| (r.get::<_, i64>(0) as u64, theirs))
            });
            if clash.is_some() {
                return Ok(clash);
            }
            let at = easel_store::now();
            tx.execute(
                "INSERT INTO sis_prefix_history (instance, school, prefix, set_at, set_by)
                 VALUES ($1, $2, $3, $4, $5)",
                &[&instance, &school, &wanted, &at, &by],
            )
            .await?;
            tx.execute(
                "INSERT INTO sis_prefixes (instance, school, prefix, set_at, set_by)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (instance, school) DO UPDATE SET prefix = excluded.prefix,
                     set_at = excluded.set_at, set_by = excluded.set_by",
                &[&instance, &school, &wanted, &at, &by],
            )
            .await?;
            tx.commit().await?;
            Ok(None)
        })?;
        match clash {
            Some((other, theirs)) => Err(StoreError::Invalid(format!(
                "school {other} has (or had) the SIS-id prefix {theirs:?}, which overlaps {prefix:?}; \
                 each school's SIS ids must start with a prefix no other school's start with, \
                 and a prefix given up stays its school's"
            ))),
            None => Ok(()),
        }
    }

    /// Remove `school`'s SIS-id prefix; true if it had one.
    pub fn clear_sis_prefix(&self, instance: &str, school: u64) -> Result<bool> {
        let instance = instance.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let n = c
                .execute(
                    "DELETE FROM sis_prefixes WHERE instance = $1 AND school = $2",
                    &[&instance, &(school as i64)],
                )
                .await?;
            Ok(n > 0)
        })
    }

    /// `school`'s SIS-id prefix in `instance`.
    pub fn sis_prefix(&self, instance: &str, school: u64) -> Result<Option<String>> {
        let instance = instance.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let row = c
                .query_opt(
                    "SELECT prefix FROM sis_prefixes WHERE instance = $1 AND school = $2",
                    &[&instance, &(school as i64)],
                )
                .await?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    /// Every school's SIS-id prefix in `instance`, by school.
    pub fn sis_prefixes(&self, instance: &str) -> Result<Vec<SisPrefixRow>> {
        let instance = instance.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let rows = c
                .query(
                    "SELECT instance, school, prefix, set_at, set_by FROM sis_prefixes
                     WHERE instance = $1 ORDER BY school",
                    &[&instance],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| SisPrefixRow {
                    instance: r.get(0),
                    school: r.get::<_, i64>(1) as u64,
                    prefix: r.get(2),
                    set_at: r.get(3),
                    set_by: r.get(4),
                })
                .collect())
        })
    }
}

//! Per-school settings kept by easel: the SIS-id prefix of each school, in
//! each Canvas instance (a declared copy of an instance shares its
//! original's). A SIS import may create only objects whose SIS id starts
//! with the school's prefix, and a SIS id set through the API must start
//! with it too, so no two schools' prefixes may overlap: one may not start
//! with another, compared without regard to case. A prefix a school gives
//! up (changed or cleared) stays reserved for it: its objects keep their
//! ids, and another school must not be able to name them.

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use crate::{Result, Store, StoreError, now};

/// Longest prefix accepted.
pub const MAX_SIS_ID_PREFIX: usize = 64;

/// A school's SIS-id prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SisPrefixRow {
    /// The instance (the original, for a copy).
    pub instance: String,
    /// The school's account id.
    pub school: u64,
    /// The prefix, e.g. `LHS-`.
    pub prefix: String,
    /// When it was set.
    pub set_at: String,
    /// Who set it.
    pub set_by: String,
}

/// Why `prefix` cannot be a SIS-id prefix (`None`: it can).
pub fn prefix_problem(prefix: &str) -> Option<String> {
    if prefix.is_empty() {
        return Some("a SIS-id prefix may not be empty".into());
    }
    if prefix.len() > MAX_SIS_ID_PREFIX {
        return Some(format!(
            "a SIS-id prefix may be at most {MAX_SIS_ID_PREFIX} bytes"
        ));
    }
    if prefix.trim() != prefix || prefix.chars().any(char::is_control) {
        return Some(
            "a SIS-id prefix may not hold control characters or start or end with whitespace"
                .into(),
        );
    }
    if !prefix
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
    {
        return Some(
            "a SIS-id prefix is ASCII letters, digits and . _ : - (so case cannot be folded two ways)"
                .into(),
        );
    }
    None
}

impl Store {
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
        // Immediate: two admins setting overlapping prefixes at once cannot
        // both pass the check.
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        // Every prefix another school ever held, current or given up.
        let others: Vec<(u64, String)> = {
            let mut stmt = tx.prepare(
                "SELECT school, prefix FROM sis_prefix_history WHERE instance = ?1 AND school <> ?2",
            )?;
            stmt.query_map(params![instance, school as i64], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?
        };
        let folded = prefix.to_ascii_lowercase();
        if let Some((other, theirs)) = others.iter().find(|(_, p)| {
            let p = p.to_ascii_lowercase();
            p.starts_with(&folded) || folded.starts_with(&p)
        }) {
            return Err(StoreError::Invalid(format!(
                "school {other} has (or had) the SIS-id prefix {theirs:?}, which overlaps {prefix:?}; \
                 each school's SIS ids must start with a prefix no other school's start with, \
                 and a prefix given up stays its school's"
            )));
        }
        tx.execute(
            "INSERT INTO sis_prefix_history (instance, school, prefix, set_at, set_by) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![instance, school as i64, prefix, now(), by],
        )?;
        tx.execute(
            "INSERT INTO sis_prefixes (instance, school, prefix, set_at, set_by) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (instance, school) DO UPDATE SET prefix = excluded.prefix,
                 set_at = excluded.set_at, set_by = excluded.set_by",
            params![instance, school as i64, prefix, now(), by],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Remove `school`'s SIS-id prefix; true if it had one.
    pub fn clear_sis_prefix(&self, instance: &str, school: u64) -> Result<bool> {
        let n = self.conn.execute(
            "DELETE FROM sis_prefixes WHERE instance = ?1 AND school = ?2",
            params![instance, school as i64],
        )?;
        Ok(n > 0)
    }

    /// `school`'s SIS-id prefix in `instance`.
    pub fn sis_prefix(&self, instance: &str, school: u64) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT prefix FROM sis_prefixes WHERE instance = ?1 AND school = ?2",
                params![instance, school as i64],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Every school's SIS-id prefix in `instance`, by school.
    pub fn sis_prefixes(&self, instance: &str) -> Result<Vec<SisPrefixRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT instance, school, prefix, set_at, set_by FROM sis_prefixes
              WHERE instance = ?1 ORDER BY school",
        )?;
        let rows = stmt
            .query_map(params![instance], |r| {
                Ok(SisPrefixRow {
                    instance: r.get(0)?,
                    school: r.get::<_, i64>(1)? as u64,
                    prefix: r.get(2)?,
                    set_at: r.get(3)?,
                    set_by: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("easel.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn overlapping_prefixes_are_refused_in_either_order_and_any_case() {
        let (_d, s) = store();
        s.set_sis_prefix("prod", 2, "LHS-", "alice").unwrap();
        for (school, p) in [(3, "LHS-A"), (3, "lhs-"), (3, "L"), (3, "Lhs")] {
            let e = s.set_sis_prefix("prod", school, p, "alice").unwrap_err();
            assert!(e.to_string().contains("overlaps"), "{p}: {e}");
        }
        s.set_sis_prefix("prod", 3, "MHS-", "alice").unwrap();
        // Another instance is another namespace.
        s.set_sis_prefix("other", 3, "LHS-", "alice").unwrap();
        // A school may change its own prefix, even to one that extends it.
        s.set_sis_prefix("prod", 2, "LHS-2026-", "bob").unwrap();
        assert_eq!(
            s.sis_prefix("prod", 2).unwrap().as_deref(),
            Some("LHS-2026-")
        );
        let all = s.sis_prefixes("prod").unwrap();
        assert_eq!(
            all.iter()
                .map(|r| (r.school, r.prefix.as_str()))
                .collect::<Vec<_>>(),
            [(2, "LHS-2026-"), (3, "MHS-")]
        );
        // What it gave up stays its own: its old ids (LHS-MATH-101) are
        // not another school's to take.
        let e = s.set_sis_prefix("prod", 3, "LHS-M", "alice").unwrap_err();
        assert!(e.to_string().contains("had"), "{e}");
        assert!(s.clear_sis_prefix("prod", 2).unwrap());
        assert_eq!(s.sis_prefix("prod", 2).unwrap(), None);
        assert!(!s.clear_sis_prefix("prod", 2).unwrap());
        for p in ["LHS-2026-X", "LHS-", "lhs"] {
            assert!(s.set_sis_prefix("prod", 4, p, "alice").is_err(), "{p}");
        }
        // And it may take its old prefix back.
        s.set_sis_prefix("prod", 2, "LHS-", "bob").unwrap();
    }

    #[test]
    fn a_prefix_canvas_would_read_differently_is_refused() {
        let (_d, s) = store();
        // Greek capital sigma folds two ways (σ, ς): non-ASCII is refused.
        for p in [
            "",
            " LHS",
            "LHS ",
            "L\u{7}",
            "A,B",
            "A\"B",
            "A\u{3a3}",
            "L H",
            &"x".repeat(65),
        ] {
            assert!(s.set_sis_prefix("prod", 2, p, "alice").is_err(), "{p:?}");
        }
        assert_eq!(s.sis_prefix("prod", 2).unwrap(), None);
    }
}

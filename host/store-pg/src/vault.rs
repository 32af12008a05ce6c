//! Instances and sealed token records on PostgreSQL: the same rows and
//! meanings as SQLite's (host/store/src/vault.rs). Secrets arrive only
//! as AEAD ciphertext sealed by the vault; this module never sees
//! plaintext, and a rekey or reset changes every sealed record in one
//! transaction (all under the old key, or all under the new one).

use easel_store::{InstanceRow, Result, TokenRow};
use tokio_postgres::Row;

use crate::PgStore;

const TOKEN_COLUMNS: &str = "id, instance, kind, fingerprint, client_id, sealed, generation, created_at, rotated_at, last_used_at, expires_at";

fn token_row(r: &Row) -> TokenRow {
    TokenRow {
        id: r.get(0),
        instance: r.get(1),
        kind: r.get(2),
        fingerprint: r.get(3),
        client_id: r.get(4),
        sealed: r.get(5),
        generation: r.get::<_, i64>(6) as u64,
        created_at: r.get(7),
        rotated_at: r.get(8),
        last_used_at: r.get(9),
        expires_at: r.get(10),
    }
}

fn instance_row(r: &Row) -> InstanceRow {
    InstanceRow {
        name: r.get(0),
        url: r.get(1),
        copy_of: r.get(2),
        created_at: r.get(3),
    }
}

const SET_META: &str = "INSERT INTO vault_meta (key, value) VALUES ($1, $2)
     ON CONFLICT (key) DO UPDATE SET value = $2";

impl PgStore {
    /// Add an instance.
    pub fn add_instance(&self, i: &InstanceRow) -> Result<()> {
        let i = i.clone();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            c.execute(
                "INSERT INTO instances (name, url, copy_of, created_at) VALUES ($1, $2, $3, $4)",
                &[&i.name, &i.url, &i.copy_of, &i.created_at],
            )
            .await?;
            Ok(())
        })
    }

    /// Every instance, by name.
    pub fn instances(&self) -> Result<Vec<InstanceRow>> {
        self.block(|pool| async move {
            let c = pool.get().await?;
            let rows = c
                .query(
                    "SELECT name, url, copy_of, created_at FROM instances ORDER BY name COLLATE \"C\"",
                    &[],
                )
                .await?;
            Ok(rows.iter().map(instance_row).collect())
        })
    }

    /// One instance by name.
    pub fn instance(&self, name: &str) -> Result<Option<InstanceRow>> {
        let name = name.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let row = c
                .query_opt(
                    "SELECT name, url, copy_of, created_at FROM instances WHERE name = $1",
                    &[&name],
                )
                .await?;
            Ok(row.as_ref().map(instance_row))
        })
    }

    /// Remove an instance (the caller checks it has no tokens and no
    /// sign-in key), and which easel user each of its Canvas users was: a
    /// new instance of that name is another Canvas, whose user ids name
    /// other people.
    pub fn remove_instance(&self, name: &str) -> Result<bool> {
        let name = name.to_string();
        self.block(move |pool| async move {
            let mut c = pool.get().await?;
            let tx = c.transaction().await?;
            let n = tx
                .execute("DELETE FROM instances WHERE name = $1", &[&name])
                .await?;
            tx.execute(
                "DELETE FROM canvas_identities WHERE instance = $1",
                &[&name],
            )
            .await?;
            tx.commit().await?;
            Ok(n == 1)
        })
    }

    /// Store a new token record.
    pub fn add_token(&self, t: &TokenRow) -> Result<()> {
        let t = t.clone();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            c.execute(
                &format!(
                    "INSERT INTO tokens ({TOKEN_COLUMNS})
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                ),
                &[
                    &t.id,
                    &t.instance,
                    &t.kind,
                    &t.fingerprint,
                    &t.client_id,
                    &t.sealed,
                    &(t.generation as i64),
                    &t.created_at,
                    &t.rotated_at,
                    &t.last_used_at,
                    &t.expires_at,
                ],
            )
            .await?;
            Ok(())
        })
    }

    /// Every token record, by id.
    pub fn tokens(&self) -> Result<Vec<TokenRow>> {
        self.block(|pool| async move {
            let c = pool.get().await?;
            let rows = c
                .query(
                    &format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY id COLLATE \"C\""),
                    &[],
                )
                .await?;
            Ok(rows.iter().map(token_row).collect())
        })
    }

    /// One token record.
    pub fn token(&self, id: &str) -> Result<Option<TokenRow>> {
        let id = id.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let row = c
                .query_opt(
                    &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = $1"),
                    &[&id],
                )
                .await?;
            Ok(row.as_ref().map(token_row))
        })
    }

    /// Replace a token's sealed secret (rotation or refresh); bumps its
    /// generation, which it returns. An unknown token is an error.
    pub fn reseal_token(
        &self,
        id: &str,
        fingerprint: &str,
        sealed: &[u8],
        rotated: bool,
    ) -> Result<u64> {
        let (id, fingerprint, sealed) = (id.to_string(), fingerprint.to_string(), sealed.to_vec());
        self.block(move |pool| async move {
            let c = pool.get().await?;
            // One statement: two refreshes at once each get their own
            // generation.
            let row = c
                .query_one(
                    "UPDATE tokens SET sealed = $2, fingerprint = $3, generation = generation + 1,
                         rotated_at = CASE WHEN $4 THEN $5 ELSE rotated_at END
                     WHERE id = $1 RETURNING generation",
                    &[&id, &sealed, &fingerprint, &rotated, &easel_store::now()],
                )
                .await?;
            Ok(row.get::<_, i64>(0) as u64)
        })
    }

    /// Note that a run used the token.
    pub fn touch_token(&self, id: &str) -> Result<()> {
        let id = id.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            c.execute(
                "UPDATE tokens SET last_used_at = $2 WHERE id = $1",
                &[&id, &easel_store::now()],
            )
            .await?;
            Ok(())
        })
    }

    /// Delete a token record.
    pub fn remove_token(&self, id: &str) -> Result<bool> {
        let id = id.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let n = c
                .execute("DELETE FROM tokens WHERE id = $1", &[&id])
                .await?;
            Ok(n == 1)
        })
    }

    /// Live approvals that name a token.
    pub fn approvals_using_token(&self, id: &str) -> Result<usize> {
        let id = id.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let n: i64 = c
                .query_one(
                    "SELECT count(*) FROM approvals
                     WHERE token_id = $1 AND revoked_at IS NULL AND disabled_at IS NULL",
                    &[&id],
                )
                .await?
                .get(0);
            Ok(n as usize)
        })
    }

    /// Disable every approval that names a token (it is being removed).
    pub fn disable_approvals_using_token(&self, id: &str) -> Result<usize> {
        let id = id.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let n = c
                .execute(
                    "UPDATE approvals SET disabled_at = $2 WHERE token_id = $1 AND disabled_at IS NULL",
                    &[&id, &easel_store::now()],
                )
                .await?;
            Ok(n as usize)
        })
    }

    /// A vault setting.
    pub fn vault_meta(&self, key: &str) -> Result<Option<String>> {
        let key = key.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let row = c
                .query_opt("SELECT value FROM vault_meta WHERE key = $1", &[&key])
                .await?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    /// Set a vault setting.
    pub fn set_vault_meta(&self, key: &str, value: &str) -> Result<()> {
        let (key, value) = (key.to_string(), value.to_string());
        self.block(move |pool| async move {
            let c = pool.get().await?;
            c.execute(SET_META, &[&key, &value]).await?;
            Ok(())
        })
    }

    /// Set a vault setting unless it is set; the value it has after
    /// (nodes starting together on a new database agree on one value).
    pub fn claim_vault_meta(&self, key: &str, value: &str) -> Result<String> {
        let (key, value) = (key.to_string(), value.to_string());
        self.block(move |pool| async move {
            let c = pool.get().await?;
            // Two statements: the insert waits for a rival's to commit,
            // and the read after it (a new snapshot) sees the winner's.
            c.execute(
                "INSERT INTO vault_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                &[&key, &value],
            )
            .await?;
            let row = c
                .query_opt("SELECT value FROM vault_meta WHERE key = $1", &[&key])
                .await?;
            Ok(row.map(|r| r.get(0)).unwrap_or_default())
        })
    }

    /// Forget every sealed token and sign-in key and set a vault setting,
    /// in one transaction (`vault reset --forget-tokens`): how many of each.
    /// Approvals naming a token stay; they work again once a token of that
    /// id is added.
    pub fn forget_sealed(&self, meta: (&str, &str)) -> Result<(usize, usize)> {
        let (key, value) = (meta.0.to_string(), meta.1.to_string());
        self.block(move |pool| async move {
            let mut c = pool.get().await?;
            let tx = c.transaction().await?;
            let tokens = tx.execute("DELETE FROM tokens", &[]).await?;
            let keys = tx.execute("DELETE FROM sign_in_keys", &[]).await?;
            tx.execute(SET_META, &[&key, &value]).await?;
            tx.commit().await?;
            Ok((tokens as usize, keys as usize))
        })
    }

    /// Re-seal every token and sign-in key and set a vault setting in one
    /// transaction (`vault rekey`): all or nothing.
    pub fn reseal_all(
        &self,
        sealed: &[(String, Vec<u8>, String)],
        sign_in_keys: &[(String, Vec<u8>)],
        meta: (&str, &str),
    ) -> Result<()> {
        let (sealed, keys) = (sealed.to_vec(), sign_in_keys.to_vec());
        let (key, value) = (meta.0.to_string(), meta.1.to_string());
        self.block(move |pool| async move {
            let mut c = pool.get().await?;
            let tx = c.transaction().await?;
            for (id, blob, fingerprint) in &sealed {
                tx.execute(
                    "UPDATE tokens SET sealed = $2, fingerprint = $3 WHERE id = $1",
                    &[id, blob, fingerprint],
                )
                .await?;
            }
            for (instance, blob) in &keys {
                tx.execute(
                    "UPDATE sign_in_keys SET sealed = $2 WHERE instance = $1",
                    &[instance, blob],
                )
                .await?;
            }
            tx.execute(SET_META, &[&key, &value]).await?;
            tx.commit().await?;
            Ok(())
        })
    }
}

impl easel_store::VaultRecords for PgStore {
    fn vault_meta(&self, key: &str) -> Result<Option<String>> {
        PgStore::vault_meta(self, key)
    }
    fn set_vault_meta(&self, key: &str, value: &str) -> Result<()> {
        PgStore::set_vault_meta(self, key, value)
    }
    fn claim_vault_meta(&self, key: &str, value: &str) -> Result<String> {
        PgStore::claim_vault_meta(self, key, value)
    }
    fn token(&self, id: &str) -> Result<Option<TokenRow>> {
        PgStore::token(self, id)
    }
    fn tokens(&self) -> Result<Vec<TokenRow>> {
        PgStore::tokens(self)
    }
    fn add_token(&self, t: &TokenRow) -> Result<()> {
        PgStore::add_token(self, t)
    }
    fn reseal_token(
        &self,
        id: &str,
        fingerprint: &str,
        sealed: &[u8],
        rotated: bool,
    ) -> Result<u64> {
        PgStore::reseal_token(self, id, fingerprint, sealed, rotated)
    }
    fn touch_token(&self, id: &str) -> Result<()> {
        PgStore::touch_token(self, id)
    }
    fn sign_in_key(&self, instance: &str) -> Result<Option<easel_store::SignInKeyRow>> {
        PgStore::sign_in_key(self, instance)
    }
    fn sign_in_keys(&self) -> Result<Vec<easel_store::SignInKeyRow>> {
        PgStore::sign_in_keys(self)
    }
    fn set_sign_in_key(&self, k: &easel_store::SignInKeyRow) -> Result<()> {
        PgStore::set_sign_in_key(self, k)
    }
    fn forget_sealed(&self, meta: (&str, &str)) -> Result<(usize, usize)> {
        PgStore::forget_sealed(self, meta)
    }
    fn reseal_all(
        &self,
        sealed: &[(String, Vec<u8>, String)],
        sign_in_keys: &[(String, Vec<u8>)],
        meta: (&str, &str),
    ) -> Result<()> {
        PgStore::reseal_all(self, sealed, sign_in_keys, meta)
    }
}

//! Instances and sealed token records. Secrets are stored only as AEAD
//! ciphertext produced by the vault; this module never sees plaintext.

use rusqlite::{OptionalExtension, params};

use crate::{Result, Store, now};

/// A Canvas instance easel talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRow {
    /// Name, e.g. `prod`, `test`, `beta`.
    pub name: String,
    /// Origin, e.g. `https://district.instructure.com`.
    pub url: String,
    /// The instance this one is refreshed from (test/beta copy of prod).
    pub copy_of: Option<String>,
    /// When it was added.
    pub created_at: String,
}

/// A stored token (the secret part sealed).
#[derive(Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// Admin-chosen id.
    pub id: String,
    /// Instance whose origin it is pinned to.
    pub instance: String,
    /// `user` or `oauth2`.
    pub kind: String,
    /// Keyed fingerprint of the secret.
    pub fingerprint: String,
    /// Developer key id (OAuth2).
    pub client_id: Option<String>,
    /// AEAD ciphertext of the secret material.
    pub sealed: Vec<u8>,
    /// Incremented on every rotation or refresh.
    pub generation: u64,
    /// Created.
    pub created_at: String,
    /// Last rotated.
    pub rotated_at: Option<String>,
    /// Last used by a run.
    pub last_used_at: Option<String>,
    /// Expiry, if any.
    pub expires_at: Option<String>,
}

impl std::fmt::Debug for TokenRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRow")
            .field("id", &self.id)
            .field("instance", &self.instance)
            .field("kind", &self.kind)
            .field("fingerprint", &self.fingerprint)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

const TOKEN_COLUMNS: &str = "id, instance, kind, fingerprint, client_id, sealed, generation, created_at, rotated_at, last_used_at, expires_at";

fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRow> {
    Ok(TokenRow {
        id: r.get(0)?,
        instance: r.get(1)?,
        kind: r.get(2)?,
        fingerprint: r.get(3)?,
        client_id: r.get(4)?,
        sealed: r.get(5)?,
        generation: r.get::<_, i64>(6)? as u64,
        created_at: r.get(7)?,
        rotated_at: r.get(8)?,
        last_used_at: r.get(9)?,
        expires_at: r.get(10)?,
    })
}

impl Store {
    /// Add an instance.
    pub fn add_instance(&self, i: &InstanceRow) -> Result<()> {
        self.conn().execute(
            "INSERT INTO instances (name, url, copy_of, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![i.name, i.url, i.copy_of, i.created_at],
        )?;
        Ok(())
    }

    /// Every instance.
    pub fn instances(&self) -> Result<Vec<InstanceRow>> {
        let mut stmt = self
            .conn()
            .prepare("SELECT name, url, copy_of, created_at FROM instances ORDER BY name")?;
        let rows = stmt
            .query_map([], |r| {
                Ok(InstanceRow {
                    name: r.get(0)?,
                    url: r.get(1)?,
                    copy_of: r.get(2)?,
                    created_at: r.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// One instance by name.
    pub fn instance(&self, name: &str) -> Result<Option<InstanceRow>> {
        Ok(self.instances()?.into_iter().find(|i| i.name == name))
    }

    /// Remove an instance (the caller checks it has no tokens and no
    /// sign-in key), and which easel user each of its Canvas users was: a
    /// new instance of that name is another Canvas, whose user ids name
    /// other people.
    pub fn remove_instance(&self, name: &str) -> Result<bool> {
        let tx = self.conn().unchecked_transaction()?;
        let n = tx.execute("DELETE FROM instances WHERE name = ?1", [name])?;
        tx.execute("DELETE FROM canvas_identities WHERE instance = ?1", [name])?;
        tx.commit()?;
        Ok(n == 1)
    }

    /// Store a new token record.
    pub fn add_token(&self, t: &TokenRow) -> Result<()> {
        self.conn().execute(
            &format!("INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
            params![
                t.id,
                t.instance,
                t.kind,
                t.fingerprint,
                t.client_id,
                t.sealed,
                t.generation as i64,
                t.created_at,
                t.rotated_at,
                t.last_used_at,
                t.expires_at
            ],
        )?;
        Ok(())
    }

    /// Every token record.
    pub fn tokens(&self) -> Result<Vec<TokenRow>> {
        let mut stmt = self
            .conn()
            .prepare(&format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY id"))?;
        let rows = stmt
            .query_map([], token_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// One token record.
    pub fn token(&self, id: &str) -> Result<Option<TokenRow>> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = ?1"),
                [id],
                token_row,
            )
            .optional()?)
    }

    /// Replace a token's sealed secret (rotation or refresh); bumps its
    /// generation.
    pub fn reseal_token(
        &self,
        id: &str,
        fingerprint: &str,
        sealed: &[u8],
        rotated: bool,
    ) -> Result<u64> {
        let tx = self.conn().unchecked_transaction()?;
        tx.execute(
            "UPDATE tokens SET sealed = ?2, fingerprint = ?3, generation = generation + 1,
                 rotated_at = CASE WHEN ?4 THEN ?5 ELSE rotated_at END WHERE id = ?1",
            params![id, sealed, fingerprint, rotated, now()],
        )?;
        let generation: i64 =
            tx.query_row("SELECT generation FROM tokens WHERE id = ?1", [id], |r| {
                r.get(0)
            })?;
        tx.commit()?;
        Ok(generation as u64)
    }

    /// Note that a run used the token.
    pub fn touch_token(&self, id: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE tokens SET last_used_at = ?2 WHERE id = ?1",
            params![id, now()],
        )?;
        Ok(())
    }

    /// Delete a token record.
    pub fn remove_token(&self, id: &str) -> Result<bool> {
        Ok(self
            .conn()
            .execute("DELETE FROM tokens WHERE id = ?1", [id])?
            == 1)
    }

    /// Live approvals that name a token.
    pub fn approvals_using_token(&self, id: &str) -> Result<usize> {
        let n: i64 = self.conn().query_row(
            "SELECT COUNT(*) FROM approvals WHERE token_id = ?1 AND revoked_at IS NULL AND disabled_at IS NULL",
            [id],
            |r| r.get(0),
        )?;
        Ok(n as usize)
    }

    /// Disable every approval that names a token (it is being removed).
    pub fn disable_approvals_using_token(&self, id: &str) -> Result<usize> {
        Ok(self.conn().execute(
            "UPDATE approvals SET disabled_at = ?2 WHERE token_id = ?1 AND disabled_at IS NULL",
            params![id, now()],
        )?)
    }

    /// A vault setting.
    pub fn vault_meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row("SELECT value FROM vault_meta WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Set a vault setting.
    pub fn set_vault_meta(&self, key: &str, value: &str) -> Result<()> {
        self.conn().execute(
            "INSERT INTO vault_meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
            params![key, value],
        )?;
        Ok(())
    }

    /// Forget every sealed token and sign-in key and set a vault setting,
    /// in one transaction (`vault reset --forget-tokens`): how many of each.
    /// Approvals naming a token stay; they work again once a token of that
    /// id is added.
    pub fn forget_sealed(&self, meta: (&str, &str)) -> Result<(usize, usize)> {
        let tx = self.conn().unchecked_transaction()?;
        let tokens = tx.execute("DELETE FROM tokens", [])?;
        let keys = tx.execute("DELETE FROM sign_in_keys", [])?;
        tx.execute(
            "INSERT INTO vault_meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
            params![meta.0, meta.1],
        )?;
        tx.commit()?;
        Ok((tokens, keys))
    }

    /// Re-seal every token and sign-in key and set a vault setting in one
    /// transaction
    /// (`vault rekey`): all or nothing.
    pub fn reseal_all(
        &self,
        sealed: &[(String, Vec<u8>, String)],
        sign_in_keys: &[(String, Vec<u8>)],
        meta: (&str, &str),
    ) -> Result<()> {
        let tx = self.conn().unchecked_transaction()?;
        for (id, blob, fingerprint) in sealed {
            tx.execute(
                "UPDATE tokens SET sealed = ?2, fingerprint = ?3 WHERE id = ?1",
                params![id, blob, fingerprint],
            )?;
        }
        for (instance, blob) in sign_in_keys {
            tx.execute(
                "UPDATE sign_in_keys SET sealed = ?2 WHERE instance = ?1",
                params![instance, blob],
            )?;
        }
        tx.execute(
            "INSERT INTO vault_meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
            params![meta.0, meta.1],
        )?;
        tx.commit()?;
        Ok(())
    }
}

/// What the vault keeps in a database: sealed token records, sign-in
/// keys and its own settings (the master key's check value). The SQLite
/// [`Store`] keeps them for one host; `easel-store-pg`'s store for many.
/// The master key itself is never here.
pub trait VaultRecords: Send {
    /// A vault setting.
    fn vault_meta(&self, key: &str) -> Result<Option<String>>;
    /// Set a vault setting.
    fn set_vault_meta(&self, key: &str, value: &str) -> Result<()>;
    /// Set a vault setting unless it is set; the value it has after.
    /// (Nodes starting together on a new database agree on one value.)
    fn claim_vault_meta(&self, key: &str, value: &str) -> Result<String>;
    /// One token record.
    fn token(&self, id: &str) -> Result<Option<TokenRow>>;
    /// Every token record.
    fn tokens(&self) -> Result<Vec<TokenRow>>;
    /// Store a new token record.
    fn add_token(&self, t: &TokenRow) -> Result<()>;
    /// Replace a token's sealed material; its new generation.
    fn reseal_token(
        &self,
        id: &str,
        fingerprint: &str,
        sealed: &[u8],
        rotated: bool,
    ) -> Result<u64>;
    /// Record that a token was used now.
    fn touch_token(&self, id: &str) -> Result<()>;
    /// An instance's sign-in key.
    fn sign_in_key(&self, instance: &str) -> Result<Option<crate::SignInKeyRow>>;
    /// Every sign-in key.
    fn sign_in_keys(&self) -> Result<Vec<crate::SignInKeyRow>>;
    /// Set (or replace) an instance's sign-in key.
    fn set_sign_in_key(&self, k: &crate::SignInKeyRow) -> Result<()>;
    /// Forget every sealed token and sign-in key, set a setting; how many.
    fn forget_sealed(&self, meta: (&str, &str)) -> Result<(usize, usize)>;
    /// Re-seal everything and set a setting, all or nothing.
    fn reseal_all(
        &self,
        sealed: &[(String, Vec<u8>, String)],
        sign_in_keys: &[(String, Vec<u8>)],
        meta: (&str, &str),
    ) -> Result<()>;
}

impl VaultRecords for Store {
    fn vault_meta(&self, key: &str) -> Result<Option<String>> {
        Store::vault_meta(self, key)
    }
    fn set_vault_meta(&self, key: &str, value: &str) -> Result<()> {
        Store::set_vault_meta(self, key, value)
    }
    fn claim_vault_meta(&self, key: &str, value: &str) -> Result<String> {
        self.conn().execute(
            "INSERT INTO vault_meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
            params![key, value],
        )?;
        Ok(Store::vault_meta(self, key)?.unwrap_or_default())
    }
    fn token(&self, id: &str) -> Result<Option<TokenRow>> {
        Store::token(self, id)
    }
    fn tokens(&self) -> Result<Vec<TokenRow>> {
        Store::tokens(self)
    }
    fn add_token(&self, t: &TokenRow) -> Result<()> {
        Store::add_token(self, t)
    }
    fn reseal_token(
        &self,
        id: &str,
        fingerprint: &str,
        sealed: &[u8],
        rotated: bool,
    ) -> Result<u64> {
        Store::reseal_token(self, id, fingerprint, sealed, rotated)
    }
    fn touch_token(&self, id: &str) -> Result<()> {
        Store::touch_token(self, id)
    }
    fn sign_in_key(&self, instance: &str) -> Result<Option<crate::SignInKeyRow>> {
        Store::sign_in_key(self, instance)
    }
    fn sign_in_keys(&self) -> Result<Vec<crate::SignInKeyRow>> {
        Store::sign_in_keys(self)
    }
    fn set_sign_in_key(&self, k: &crate::SignInKeyRow) -> Result<()> {
        Store::set_sign_in_key(self, k)
    }
    fn forget_sealed(&self, meta: (&str, &str)) -> Result<(usize, usize)> {
        Store::forget_sealed(self, meta)
    }
    fn reseal_all(
        &self,
        sealed: &[(String, Vec<u8>, String)],
        sign_in_keys: &[(String, Vec<u8>)],
        meta: (&str, &str),
    ) -> Result<()> {
        Store::reseal_all(self, sealed, sign_in_keys, meta)
    }
}

/// A store shared by many holders (one pool per process).
impl<T: VaultRecords + Sync + ?Sized> VaultRecords for std::sync::Arc<T> {
    fn vault_meta(&self, key: &str) -> Result<Option<String>> {
        (**self).vault_meta(key)
    }
    fn set_vault_meta(&self, key: &str, value: &str) -> Result<()> {
        (**self).set_vault_meta(key, value)
    }
    fn claim_vault_meta(&self, key: &str, value: &str) -> Result<String> {
        (**self).claim_vault_meta(key, value)
    }
    fn token(&self, id: &str) -> Result<Option<TokenRow>> {
        (**self).token(id)
    }
    fn tokens(&self) -> Result<Vec<TokenRow>> {
        (**self).tokens()
    }
    fn add_token(&self, t: &TokenRow) -> Result<()> {
        (**self).add_token(t)
    }
    fn reseal_token(
        &self,
        id: &str,
        fingerprint: &str,
        sealed: &[u8],
        rotated: bool,
    ) -> Result<u64> {
        (**self).reseal_token(id, fingerprint, sealed, rotated)
    }
    fn touch_token(&self, id: &str) -> Result<()> {
        (**self).touch_token(id)
    }
    fn sign_in_key(&self, instance: &str) -> Result<Option<crate::SignInKeyRow>> {
        (**self).sign_in_key(instance)
    }
    fn sign_in_keys(&self) -> Result<Vec<crate::SignInKeyRow>> {
        (**self).sign_in_keys()
    }
    fn set_sign_in_key(&self, k: &crate::SignInKeyRow) -> Result<()> {
        (**self).set_sign_in_key(k)
    }
    fn forget_sealed(&self, meta: (&str, &str)) -> Result<(usize, usize)> {
        (**self).forget_sealed(meta)
    }
    fn reseal_all(
        &self,
        sealed: &[(String, Vec<u8>, String)],
        sign_in_keys: &[(String, Vec<u8>)],
        meta: (&str, &str),
    ) -> Result<()> {
        (**self).reseal_all(sealed, sign_in_keys, meta)
    }
}

//! Principals: users with roles, their password hashes and personal API
//! tokens, and failed sign-ins (for rate limiting). The store keeps only
//! what it is given: hashing and role logic live in the application layer.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::{Result, Store, StoreError, now};

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserRow {
    /// Case-folded, trimmed name.
    pub name: String,
    /// Roles, as the application layer wrote them (JSON).
    pub roles: String,
    /// argon2id PHC string (`None`: no password; API tokens only).
    #[serde(skip)]
    pub password_hash: Option<String>,
    /// When it was added.
    pub created_at: String,
    /// Who added it.
    pub created_by: String,
    /// When it was disabled, if it was.
    pub disabled_at: Option<String>,
}

/// A stored personal API token (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiTokenRow {
    /// Public id (the part of the token before its secret).
    pub id: String,
    /// Whose.
    pub user_name: String,
    /// What it is for, e.g. `ci`.
    pub label: String,
    /// sha256 of the secret, hex.
    #[serde(skip)]
    pub secret_sha256: String,
    /// Its roles (the user's or fewer), JSON.
    pub roles: String,
    /// When it was issued.
    pub created_at: String,
    /// When it stops working (RFC 3339), if ever.
    pub expires_at: Option<String>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<String>,
    /// A web console session: the console's only, refused by the API.
    #[serde(default)]
    pub console: bool,
}

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        name: r.get(0)?,
        roles: r.get(1)?,
        password_hash: r.get(2)?,
        created_at: r.get(3)?,
        created_by: r.get(4)?,
        disabled_at: r.get(5)?,
    })
}

fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiTokenRow> {
    Ok(ApiTokenRow {
        id: r.get(0)?,
        user_name: r.get(1)?,
        label: r.get(2)?,
        secret_sha256: r.get(3)?,
        roles: r.get(4)?,
        created_at: r.get(5)?,
        expires_at: r.get(6)?,
        revoked_at: r.get(7)?,
        console: r.get(8)?,
    })
}

const USER_COLUMNS: &str = "name, roles, password_hash, created_at, created_by, disabled_at";
const TOKEN_COLUMNS: &str =
    "id, user_name, label, secret_sha256, roles, created_at, expires_at, revoked_at, console";

impl Store {
    /// Add a user; refused if the name is taken.
    pub fn add_user(&self, name: &str, roles: &str, created_by: &str) -> Result<()> {
        let added = self.conn().execute(
            "INSERT INTO users (name, roles, created_at, created_by) VALUES (?1, ?2, ?3, ?4)",
            params![name, roles, now(), created_by],
        );
        match added {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(StoreError::Invalid(format!(
                    "there is a user {name} already"
                )))
            }
            r => r.map(|_| ()).map_err(Into::into),
        }
    }

    /// One user by (folded) name.
    pub fn user(&self, name: &str) -> Result<Option<UserRow>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE name = ?1");
        Ok(self
            .conn()
            .query_row(&sql, params![name], user_row)
            .optional()?)
    }

    /// Every user, by name.
    pub fn users(&self) -> Result<Vec<UserRow>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY name");
        let mut stmt = self.conn().prepare(&sql)?;
        let rows = stmt.query_map([], user_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Set a user's password hash.
    pub fn set_password_hash(&self, name: &str, hash: &str) -> Result<()> {
        let n = self.conn().execute(
            "UPDATE users SET password_hash = ?2 WHERE name = ?1",
            params![name, hash],
        )?;
        if n == 0 {
            return Err(StoreError::Invalid(format!("no user {name}")));
        }
        Ok(())
    }

    /// Store a new API token (its secret's hash only).
    pub fn add_api_token(&self, t: &ApiTokenRow) -> Result<()> {
        self.conn().execute(
            &format!(
                "INSERT INTO api_tokens ({TOKEN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, ?8)"
            ),
            params![
                t.id,
                t.user_name,
                t.label,
                t.secret_sha256,
                t.roles,
                t.created_at,
                t.expires_at,
                t.console
            ],
        )?;
        Ok(())
    }

    /// One API token by its public id.
    pub fn api_token(&self, id: &str) -> Result<Option<ApiTokenRow>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = ?1");
        Ok(self
            .conn()
            .query_row(&sql, params![id], token_row)
            .optional()?)
    }

    /// A user's API tokens, newest first.
    pub fn api_tokens(&self, user: &str) -> Result<Vec<ApiTokenRow>> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE user_name = ?1 ORDER BY created_at DESC"
        );
        let mut stmt = self.conn().prepare(&sql)?;
        let rows = stmt
            .query_map(params![user], token_row)?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Revoke every console session still live (at a server's start: the
    /// sessions of the process before it can no longer be idle-checked);
    /// how many.
    pub fn revoke_console_tokens(&self) -> Result<usize> {
        Ok(self.conn().execute(
            "UPDATE api_tokens SET revoked_at = ?1 WHERE console = 1 AND revoked_at IS NULL",
            params![now()],
        )?)
    }

    /// Revoke an API token; false if it was unknown or revoked already.
    pub fn revoke_api_token(&self, id: &str) -> Result<bool> {
        let n = self.conn().execute(
            "UPDATE api_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            params![id, now()],
        )?;
        Ok(n > 0)
    }

    /// Record a failed sign-in.
    pub fn record_sign_in_failure(&self, name: &str, address: &str) -> Result<i64> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO sign_in_failures (name, address, at) VALUES (?1, ?2, ?3)",
            params![name, address, now()],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Forget one recorded attempt (a sign-in that turned out right).
    pub fn forget_sign_in_attempt(&self, rowid: i64) -> Result<()> {
        self.conn().execute(
            "DELETE FROM sign_in_failures WHERE rowid = ?1",
            params![rowid],
        )?;
        Ok(())
    }

    /// Failed (or in-flight) sign-ins for `name` from `address`, and from
    /// `address` for any name, since `since` (RFC 3339).
    pub fn sign_in_failures_since(
        &self,
        name: &str,
        address: &str,
        since: &str,
    ) -> Result<(u32, u32)> {
        let conn = self.conn();
        let by_name: i64 = conn.query_row(
            "SELECT COUNT(*) FROM sign_in_failures WHERE name = ?1 AND address = ?2 AND at >= ?3",
            params![name, address, since],
            |r| r.get(0),
        )?;
        let by_address: i64 = conn.query_row(
            "SELECT COUNT(*) FROM sign_in_failures WHERE address = ?1 AND at >= ?2 AND name NOT LIKE 'api-token %'",
            params![address, since],
            |r| r.get(0),
        )?;
        Ok((by_name as u32, by_address as u32))
    }

    /// Refused API tokens from `address` since `since` (RFC 3339).
    pub fn token_failures_since(&self, address: &str, since: &str) -> Result<u32> {
        let n: i64 = self.conn().query_row(
            "SELECT COUNT(*) FROM sign_in_failures WHERE address = ?1 AND at >= ?2 AND name LIKE 'api-token %'",
            params![address, since],
            |r| r.get(0),
        )?;
        Ok(n as u32)
    }
}

/// An instance's developer key for Sign in with Canvas (its secret sealed).
#[derive(Clone, PartialEq, Eq)]
pub struct SignInKeyRow {
    /// The instance.
    pub instance: String,
    /// The developer key's client id.
    pub client_id: String,
    /// AEAD ciphertext of the client secret.
    pub sealed: Vec<u8>,
    /// May an admin of the root account become a district admin?
    pub root_admins_are_district_admins: bool,
    /// The instance's root account, which every role is read against.
    pub root_account_id: Option<u64>,
    /// When it was set.
    pub set_at: String,
    /// Who set it.
    pub set_by: String,
}

impl std::fmt::Debug for SignInKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInKeyRow")
            .field("instance", &self.instance)
            .field("client_id", &self.client_id)
            .field(
                "root_admins_are_district_admins",
                &self.root_admins_are_district_admins,
            )
            .finish_non_exhaustive()
    }
}

fn key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SignInKeyRow> {
    Ok(SignInKeyRow {
        instance: r.get(0)?,
        client_id: r.get(1)?,
        sealed: r.get(2)?,
        root_admins_are_district_admins: r.get(3)?,
        set_at: r.get(4)?,
        set_by: r.get(5)?,
        root_account_id: r.get::<_, Option<i64>>(6)?.map(|v| v as u64),
    })
}

const KEY_COLUMNS: &str =
    "instance, client_id, sealed, root_admins_are_district_admins, set_at, set_by, root_account_id";

impl Store {
    /// Set (or replace) an instance's sign-in key.
    pub fn set_sign_in_key(&self, k: &SignInKeyRow) -> Result<()> {
        self.conn().execute(
            &format!(
                "INSERT INTO sign_in_keys ({KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (instance) DO UPDATE SET client_id = ?2, sealed = ?3,
                   root_admins_are_district_admins = ?4, set_at = ?5, set_by = ?6,
                   root_account_id = ?7"
            ),
            params![
                k.instance,
                k.client_id,
                k.sealed,
                k.root_admins_are_district_admins,
                k.set_at,
                k.set_by,
                k.root_account_id.map(|v| v as i64)
            ],
        )?;
        Ok(())
    }

    /// An instance's sign-in key.
    pub fn sign_in_key(&self, instance: &str) -> Result<Option<SignInKeyRow>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM sign_in_keys WHERE instance = ?1");
        Ok(self
            .conn()
            .query_row(&sql, params![instance], key_row)
            .optional()?)
    }

    /// Every sign-in key, by instance.
    pub fn sign_in_keys(&self) -> Result<Vec<SignInKeyRow>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM sign_in_keys ORDER BY instance");
        let mut stmt = self.conn().prepare(&sql)?;
        let rows = stmt.query_map([], key_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Turn Sign in with Canvas off for an instance. False if it was off.
    pub fn remove_sign_in_key(&self, instance: &str) -> Result<bool> {
        Ok(self.conn().execute(
            "DELETE FROM sign_in_keys WHERE instance = ?1",
            params![instance],
        )? > 0)
    }

    /// The easel user a Canvas user of `instance` is, if linked.
    pub fn canvas_identity(&self, instance: &str, canvas_user_id: u64) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT user_name FROM canvas_identities WHERE instance = ?1 AND canvas_user_id = ?2",
                params![instance, canvas_user_id as i64],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The easel users Canvas users of `instance` signed in as.
    pub fn canvas_users(&self, instance: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn().prepare(
            "SELECT user_name FROM canvas_identities WHERE instance = ?1 ORDER BY user_name",
        )?;
        let rows = stmt
            .query_map(params![instance], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Revoke every live API token of `user`; how many.
    pub fn revoke_user_tokens(&self, user: &str) -> Result<usize> {
        Ok(self.conn().execute(
            "UPDATE api_tokens SET revoked_at = ?2 WHERE user_name = ?1 AND revoked_at IS NULL",
            params![user, now()],
        )?)
    }

    /// Is `name` some Canvas user's easel user?
    pub fn is_canvas_user(&self, name: &str) -> Result<bool> {
        Ok(self
            .conn()
            .query_row(
                "SELECT 1 FROM canvas_identities WHERE user_name = ?1",
                params![name],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Add the user `name` with `roles`, linked to a Canvas user, in one
    /// transaction; refused if the name is taken.
    pub fn add_canvas_user(
        &self,
        instance: &str,
        canvas_user_id: u64,
        name: &str,
        roles: &str,
    ) -> Result<()> {
        let tx = self.conn().unchecked_transaction()?;
        let at = now();
        let added = tx.execute(
            "INSERT INTO users (name, roles, created_at, created_by) VALUES (?1, ?2, ?3, ?4)",
            params![name, roles, at, format!("sign in with canvas ({instance})")],
        );
        if let Err(rusqlite::Error::SqliteFailure(e, _)) = &added
            && e.code == rusqlite::ErrorCode::ConstraintViolation
        {
            return Err(StoreError::Invalid(format!(
                "there is a user {name} already"
            )));
        }
        added?;
        tx.execute(
            "INSERT INTO canvas_identities (instance, canvas_user_id, user_name, linked_at) VALUES (?1, ?2, ?3, ?4)",
            params![instance, canvas_user_id as i64, name, at],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Replace a user's roles.
    pub fn set_user_roles(&self, name: &str, roles: &str) -> Result<()> {
        let n = self.conn().execute(
            "UPDATE users SET roles = ?2 WHERE name = ?1",
            params![name, roles],
        )?;
        if n == 0 {
            return Err(StoreError::Invalid(format!("no user {name}")));
        }
        Ok(())
    }
}

//! Principals on PostgreSQL: users with roles, their password hashes and
//! personal API tokens, failed sign-ins (for rate limiting), Sign in with
//! Canvas keys and the Canvas users linked to easel users. The same rows
//! and meanings as SQLite's (host/store/src/users.rs); hashing and role
//! logic live in the application layer.
//!
//! Failed sign-ins are counted across every node sharing the database, so
//! spreading guesses over the nodes behind a balancer does not multiply a
//! guesser's budget.

use easel_store::{ApiTokenRow, Result, SignInKeyRow, StoreError, UserRow};
use tokio_postgres::Row;

use crate::{PgStore, is_unique_violation};

const USER_COLUMNS: &str = "name, roles, password_hash, created_at, created_by, disabled_at";
const TOKEN_COLUMNS: &str =
    "id, user_name, label, secret_sha256, roles, created_at, expires_at, revoked_at, console";
const KEY_COLUMNS: &str =
    "instance, client_id, sealed, root_admins_are_district_admins, set_at, set_by, root_account_id";

fn user_row(r: &Row) -> UserRow {
    UserRow {
        name: r.get(0),
        roles: r.get(1),
        password_hash: r.get(2),
        created_at: r.get(3),
        created_by: r.get(4),
        disabled_at: r.get(5),
    }
}

fn token_row(r: &Row) -> ApiTokenRow {
    ApiTokenRow {
        id: r.get(0),
        user_name: r.get(1),
        label: r.get(2),
        secret_sha256: r.get(3),
        roles: r.get(4),
        created_at: r.get(5),
        expires_at: r.get(6),
        revoked_at: r.get(7),
        console: r.get(8),
    }
}

fn key_row(r: &Row) -> SignInKeyRow {
    SignInKeyRow {
        instance: r.get(0),
        client_id: r.get(1),
        sealed: r.get(2),
        root_admins_are_district_admins: r.get(3),
        set_at: r.get(4),
        set_by: r.get(5),
        root_account_id: r.get::<_, Option<i64>>(6).map(|v| v as u64),
    }
}

fn name_taken(name: &str) -> StoreError {
    StoreError::Invalid(format!("there is a user {name} already"))
}

impl PgStore {
    /// Add a user; refused if the name is taken.
    pub fn add_user(&self, name: &str, roles: &str, created_by: &str) -> Result<()> {
        let (user, roles, created_by) =
            (name.to_string(), roles.to_string(), created_by.to_string());
        let added = self.block(move |pool| async move {
            let c = pool.get().await?;
            let r = c
                .execute(
                    "INSERT INTO users (name, roles, created_at, created_by) VALUES ($1, $2, $3, $4)",
                    &[&user, &roles, &easel_store::now(), &created_by],
                )
                .await;
            match r {
                Ok(_) => Ok(true),
                Err(e) if is_unique_violation(&e) => Ok(false),
                Err(e) => Err(e.into()),
            }
        })?;
        if added { Ok(()) } else { Err(name_taken(name)) }
    }

    /// One user by (folded) name.
    pub fn user(&self, name: &str) -> Result<Option<UserRow>> {
        let name = name.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let row = c
                .query_opt(
                    &format!("SELECT {USER_COLUMNS} FROM users WHERE name = $1"),
                    &[&name],
                )
                .await?;
            Ok(row.as_ref().map(user_row))
        })
    }

    /// Every user, by name.
    pub fn users(&self) -> Result<Vec<UserRow>> {
        self.block(|pool| async move {
            let c = pool.get().await?;
            let rows = c
                .query(
                    &format!("SELECT {USER_COLUMNS} FROM users ORDER BY name COLLATE \"C\""),
                    &[],
                )
                .await?;
            Ok(rows.iter().map(user_row).collect())
        })
    }

    /// Set a user's password hash.
    pub fn set_password_hash(&self, name: &str, hash: &str) -> Result<()> {
        self.update_user(
            name,
            "UPDATE users SET password_hash = $2 WHERE name = $1",
            hash,
        )
    }

    /// Replace a user's roles.
    pub fn set_user_roles(&self, name: &str, roles: &str) -> Result<()> {
        self.update_user(name, "UPDATE users SET roles = $2 WHERE name = $1", roles)
    }

    /// Set one column of user `name` to `value` with `sql`; refused if
    /// there is no such user.
    fn update_user(&self, name: &str, sql: &'static str, value: &str) -> Result<()> {
        let (user, value) = (name.to_string(), value.to_string());
        let n = self.block(move |pool| async move {
            let c = pool.get().await?;
            Ok(c.execute(sql, &[&user, &value]).await?)
        })?;
        if n == 0 {
            return Err(StoreError::Invalid(format!("no user {name}")));
        }
        Ok(())
    }

    /// Store a new API token (its secret's hash only).
    pub fn add_api_token(&self, t: &ApiTokenRow) -> Result<()> {
        let t = t.clone();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            c.execute(
                &format!(
                    "INSERT INTO api_tokens ({TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8)"
                ),
                &[
                    &t.id,
                    &t.user_name,
                    &t.label,
                    &t.secret_sha256,
                    &t.roles,
                    &t.created_at,
                    &t.expires_at,
                    &t.console,
                ],
            )
            .await?;
            Ok(())
        })
    }

    /// One API token by its public id.
    pub fn api_token(&self, id: &str) -> Result<Option<ApiTokenRow>> {
        let id = id.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let row = c
                .query_opt(
                    &format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1"),
                    &[&id],
                )
                .await?;
            Ok(row.as_ref().map(token_row))
        })
    }

    /// A user's API tokens, newest first.
    pub fn api_tokens(&self, user: &str) -> Result<Vec<ApiTokenRow>> {
        let user = user.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let rows = c
                .query(
                    &format!(
                        "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE user_name = $1
                         ORDER BY created_at COLLATE \"C\" DESC"
                    ),
                    &[&user],
                )
                .await?;
            Ok(rows.iter().map(token_row).collect())
        })
    }

    /// Revoke every console session still live (at a server's start: the
    /// sessions of the process before it can no longer be idle-checked);
    /// how many.
    ///
    /// With many nodes, a node starting revokes every node's console
    /// sessions, as on SQLite: a session is not bound to a node.
    pub fn revoke_console_tokens(&self) -> Result<usize> {
        self.block(|pool| async move {
            let c = pool.get().await?;
            let n = c
                .execute(
                    "UPDATE api_tokens SET revoked_at = $1 WHERE console AND revoked_at IS NULL",
                    &[&easel_store::now()],
                )
                .await?;
            Ok(n as usize)
        })
    }

    /// Revoke an API token; false if it was unknown or revoked already.
    pub fn revoke_api_token(&self, id: &str) -> Result<bool> {
        let id = id.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let n = c
                .execute(
                    "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                    &[&id, &easel_store::now()],
                )
                .await?;
            Ok(n > 0)
        })
    }

    /// Revoke every live API token of `user`; how many.
    pub fn revoke_user_tokens(&self, user: &str) -> Result<usize> {
        let user = user.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let n = c
                .execute(
                    "UPDATE api_tokens SET revoked_at = $2 WHERE user_name = $1 AND revoked_at IS NULL",
                    &[&user, &easel_store::now()],
                )
                .await?;
            Ok(n as usize)
        })
    }

    /// Record a failed sign-in; the attempt's id (for
    /// [`PgStore::forget_sign_in_attempt`]).
    pub fn record_sign_in_failure(&self, name: &str, address: &str) -> Result<i64> {
        let (name, address) = (name.to_string(), address.to_string());
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let row = c
                .query_one(
                    "INSERT INTO sign_in_failures (name, address, at) VALUES ($1, $2, $3) RETURNING id",
                    &[&name, &address, &easel_store::now()],
                )
                .await?;
            Ok(row.get(0))
        })
    }

    /// Forget one recorded attempt (a sign-in that turned out right).
    pub fn forget_sign_in_attempt(&self, rowid: i64) -> Result<()> {
        self.block(move |pool| async move {
            let c = pool.get().await?;
            c.execute("DELETE FROM sign_in_failures WHERE id = $1", &[&rowid])
                .await?;
            Ok(())
        })
    }

    /// Failed (or in-flight) sign-ins for `name` from `address`, and from
    /// `address` for any name, since `since` (RFC 3339).
    ///
    /// `ILIKE`, as SQLite's `LIKE` ignores ASCII case.
    pub fn sign_in_failures_since(
        &self,
        name: &str,
        address: &str,
        since: &str,
    ) -> Result<(u32, u32)> {
        let (name, address, since) = (name.to_string(), address.to_string(), since.to_string());
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let row = c
                .query_one(
                    "SELECT
                       count(*) FILTER (WHERE name = $1),
                       count(*) FILTER (WHERE name NOT ILIKE 'api-token %')
                     FROM sign_in_failures WHERE address = $2 AND at COLLATE \"C\" >= $3",
                    &[&name, &address, &since],
                )
                .await?;
            let (by_name, by_address): (i64, i64) = (row.get(0), row.get(1));
            Ok((by_name as u32, by_address as u32))
        })
    }

    /// Refused API tokens from `address` since `since` (RFC 3339).
    pub fn token_failures_since(&self, address: &str, since: &str) -> Result<u32> {
        let (address, since) = (address.to_string(), since.to_string());
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let n: i64 = c
                .query_one(
                    "SELECT count(*) FROM sign_in_failures
                     WHERE address = $1 AND at COLLATE \"C\" >= $2 AND name ILIKE 'api-token %'",
                    &[&address, &since],
                )
                .await?
                .get(0);
            Ok(n as u32)
        })
    }

    /// Set (or replace) an instance's sign-in key.
    pub fn set_sign_in_key(&self, k: &SignInKeyRow) -> Result<()> {
        let k = k.clone();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            c.execute(
                &format!(
                    "INSERT INTO sign_in_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (instance) DO UPDATE SET client_id = $2, sealed = $3,
                       root_admins_are_district_admins = $4, set_at = $5, set_by = $6,
                       root_account_id = $7"
                ),
                &[
                    &k.instance,
                    &k.client_id,
                    &k.sealed,
                    &k.root_admins_are_district_admins,
                    &k.set_at,
                    &k.set_by,
                    &k.root_account_id.map(|v| v as i64),
                ],
            )
            .await?;
            Ok(())
        })
    }

    /// An instance's sign-in key.
    pub fn sign_in_key(&self, instance: &str) -> Result<Option<SignInKeyRow>> {
        let instance = instance.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let row = c
                .query_opt(
                    &format!("SELECT {KEY_COLUMNS} FROM sign_in_keys WHERE instance = $1"),
                    &[&instance],
                )
                .await?;
            Ok(row.as_ref().map(key_row))
        })
    }

    /// Every sign-in key, by instance.
    pub fn sign_in_keys(&self) -> Result<Vec<SignInKeyRow>> {
        self.block(|pool| async move {
            let c = pool.get().await?;
            let rows = c
                .query(
                    &format!(
                        "SELECT {KEY_COLUMNS} FROM sign_in_keys ORDER BY instance COLLATE \"C\""
                    ),
                    &[],
                )
                .await?;
            Ok(rows.iter().map(key_row).collect())
        })
    }

    /// Turn Sign in with Canvas off for an instance. False if it was off.
    pub fn remove_sign_in_key(&self, instance: &str) -> Result<bool> {
        let instance = instance.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let n = c
                .execute("DELETE FROM sign_in_keys WHERE instance = $1", &[&instance])
                .await?;
            Ok(n > 0)
        })
    }

    /// The easel user a Canvas user of `instance` is, if linked.
    pub fn canvas_identity(&self, instance: &str, canvas_user_id: u64) -> Result<Option<String>> {
        let instance = instance.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let row = c
                .query_opt(
                    "SELECT user_name FROM canvas_identities WHERE instance = $1 AND canvas_user_id = $2",
                    &[&instance, &(canvas_user_id as i64)],
                )
                .await?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    /// The easel users Canvas users of `instance` signed in as.
    pub fn canvas_users(&self, instance: &str) -> Result<Vec<String>> {
        let instance = instance.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let rows = c
                .query(
                    "SELECT user_name FROM canvas_identities WHERE instance = $1
                     ORDER BY user_name COLLATE \"C\"",
                    &[&instance],
                )
                .await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    /// Is `name` some Canvas user's easel user?
    pub fn is_canvas_user(&self, name: &str) -> Result<bool> {
        let name = name.to_string();
        self.block(move |pool| async move {
            let c = pool.get().await?;
            let row = c
                .query_opt(
                    "SELECT 1 FROM canvas_identities WHERE user_name = $1",
                    &[&name],
                )
                .await?;
            Ok(row.is_some())
        })
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
        let (instance, user, roles) = (instance.to_string(), name.to_string(), roles.to_string());
        let added = self.block(move |pool| async move {
            let mut c = pool.get().await?;
            let tx = c.transaction().await?;
            let at = easel_store::now();
            let by = format!("sign in with canvas ({instance})");
            let r = tx
                .execute(
                    "INSERT INTO users (name, roles, created_at, created_by) VALUES ($1, $2, $3, $4)",
                    &[&user, &roles, &at, &by],
                )
                .await;
            match r {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Ok(false),
                Err(e) => return Err(e.into()),
            }
            tx.execute(
                "INSERT INTO canvas_identities (instance, canvas_user_id, user_name, linked_at)
                 VALUES ($1, $2, $3, $4)",
                &[&instance, &(canvas_user_id as i64), &user, &at],
            )
            .await?;
            tx.commit().await?;
            Ok(true)
        })?;
        if added { Ok(()) } else { Err(name_taken(name)) }
    }
}

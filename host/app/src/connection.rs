//! Which Canvas a command talks to, and with which token.
//!
//! An instance is a named Canvas origin (`easel instance add`); a token is a
//! sealed secret pinned to an instance (`easel token add`). With no
//! instance configured, or with `--instance sim`, commands talk to the
//! embedded simulator, so everything works on a fresh machine.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use easel_canvas::{
    CallTag, CanvasClient, Governor, GovernorConfig, ReqwestTransport, Token, Transport,
};
use easel_sim::{SimConfig, SimHandle, Simulator};
use easel_store::InstanceRow;
use secrecy::SecretString;
use serde::Deserialize;

use crate::error::AppError;
use crate::home::Home;

/// Per-request timeout towards Canvas.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Name of the built-in embedded simulator instance.
pub const SIM_INSTANCE: &str = "sim";

/// Where Canvas is, and with which token.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// Canvas instance (see `easel instance list`; default: the only one
    /// configured, else the embedded simulator `sim`).
    pub instance: Option<String>,
    /// Token to use (see `easel token list`; default: the instance's only
    /// token).
    pub token: Option<String>,
}

/// An open connection: the client, the instance's name, the token's id, and
/// the embedded simulator if that is what we talk to.
pub struct Connection {
    /// The Canvas client (holds the credentials).
    pub client: CanvasClient,
    /// Instance name.
    pub instance: String,
    /// Token id (`None` for the embedded simulator's own token).
    pub token_id: Option<String>,
    /// The embedded simulator, kept alive while the connection lives.
    pub sim: Option<SimHandle>,
    /// The last school listing and when it was read ([`Self::schools_within`]).
    listed: std::sync::Mutex<Option<(std::time::Instant, Vec<easel_runtime::School>)>>,
}

#[derive(Deserialize)]
struct AccountJson {
    #[serde(deserialize_with = "id_of")]
    id: u64,
    name: String,
    #[serde(default, deserialize_with = "maybe_id_of")]
    parent_account_id: Option<u64>,
}

/// Canvas sends ids as numbers, or as strings (`canvas-string-ids`).
#[derive(Deserialize)]
#[serde(untagged)]
enum RawId {
    Number(u64),
    Text(String),
}

fn parse_id<E: serde::de::Error>(raw: RawId) -> Result<u64, E> {
    match raw {
        RawId::Number(n) => Ok(n),
        RawId::Text(s) => s
            .parse()
            .map_err(|_| E::custom("an id that is not a number")),
    }
}

fn id_of<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    parse_id(RawId::deserialize(d)?)
}

fn maybe_id_of<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Option::<RawId>::deserialize(d)?.map(parse_id).transpose()
}

fn transport() -> Result<Arc<dyn Transport>, AppError> {
    Ok(Arc::new(
        ReqwestTransport::new(REQUEST_TIMEOUT).map_err(|e| anyhow::anyhow!("{e}"))?,
    ))
}

/// Resolve `--instance`: the named one, the only configured one, or `sim`.
pub fn choose_instance(home: &Home, name: Option<&str>) -> Result<Option<InstanceRow>, AppError> {
    let instances = home.store.instances()?;
    match name {
        Some(SIM_INSTANCE) => Ok(None),
        Some(n) => instances.into_iter().find(|i| i.name == n).map(Some).ok_or_else(|| {
            AppError::invalid(format!("no instance {n:?}: see `easel instance list`, or add it with `easel instance add {n} --url https://...`"))
        }),
        None if instances.len() == 1 => Ok(instances.into_iter().next()),
        None if instances.is_empty() => Ok(None),
        None => Err(AppError::invalid(format!(
            "several instances are configured ({}): pick one with --instance",
            instances.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// May a token of instance `token_instance` be used against `target`? Yes
/// on its own instance, and on instances declared copies of it (Canvas test
/// and beta are refreshed from production and accept its tokens).
pub fn token_fits(
    home: &Home,
    token_instance: &str,
    target: &InstanceRow,
) -> Result<bool, AppError> {
    if target.name == token_instance {
        return Ok(true);
    }
    let mut cur = target.copy_of.clone();
    let mut hops = 0;
    while let Some(name) = cur {
        if name == token_instance {
            return Ok(true);
        }
        hops += 1;
        if hops > 8 {
            break;
        }
        cur = home.store.instance(&name)?.and_then(|i| i.copy_of);
    }
    Ok(false)
}

impl Connection {
    /// Connect as the options say.
    pub async fn open(home: &Home, options: &ConnectOptions) -> Result<Self, AppError> {
        match choose_instance(home, options.instance.as_deref())? {
            None => Self::embedded_sim().await,
            Some(instance) => Self::to_instance(home, &instance, options.token.as_deref()).await,
        }
    }

    /// Start the embedded simulator and connect to it with its admin token.
    pub async fn embedded_sim() -> Result<Self, AppError> {
        let sim = Simulator::start(SimConfig::default())
            .await
            .context("cannot start the embedded Canvas simulator")?;
        let token = Token::new(SecretString::from(sim.admin_token().to_owned()));
        Self::to_sim(sim, token)
    }

    /// Connect to a configured instance with a stored token (`None`: the
    /// instance's only token).
    pub async fn to_instance(
        home: &Home,
        instance: &InstanceRow,
        token: Option<&str>,
    ) -> Result<Self, AppError> {
        let vault = home.vault()?;
        let tokens = vault.list().map_err(AppError::internal)?;
        let token_id = match token {
            Some(id) => id.to_owned(),
            None => {
                let own: Vec<_> = tokens
                    .iter()
                    .filter(|t| t.instance == instance.name)
                    .collect();
                match own.as_slice() {
                    [one] => one.id.clone(),
                    [] => {
                        return Err(AppError::invalid(format!(
                            "instance {} has no token: add one with `easel token add <id> --instance {}`",
                            instance.name, instance.name
                        )));
                    }
                    _ => {
                        return Err(AppError::invalid(format!(
                            "instance {} has several tokens: pick one with --token",
                            instance.name
                        )));
                    }
                }
            }
        };
        let info = tokens.iter().find(|t| t.id == token_id).ok_or_else(|| {
            AppError::invalid(format!("no token {token_id:?}: see `easel token list`"))
        })?;
        if let Some(expiry) = &info.expires_at
            && let Ok(at) =
                time::OffsetDateTime::parse(expiry, &time::format_description::well_known::Rfc3339)
            && at <= time::OffsetDateTime::now_utc()
        {
            return Err(AppError::invalid(format!(
                "token {token_id} expired at {expiry}: generate a new one in Canvas and `easel token rotate {token_id}`"
            )));
        }
        if !token_fits(home, &info.instance, instance)? {
            return Err(AppError::invalid(format!(
                "token {token_id} belongs to instance {}, not {} (declare {} a copy with `easel instance add {} --url ... --copy-of {}`)",
                info.instance, instance.name, instance.name, instance.name, info.instance
            )));
        }
        let transport = transport()?;
        let credentials = vault
            .credentials(&token_id, &instance.url, transport.clone())
            .map_err(AppError::internal)?;
        // Another process (a host that died, a script) may have been
        // spending the token: learn the bucket's level from Canvas's first
        // answer before sending many at once.
        let client = CanvasClient::new(&instance.url, credentials, transport)
            .map_err(|e| AppError::invalid(format!("instance {}: {e}", instance.name)))?
            .with_governor(Governor::learning(GovernorConfig::default()));
        Ok(Self {
            client,
            instance: instance.name.clone(),
            token_id: Some(token_id),
            sim: None,
            listed: Default::default(),
        })
    }

    /// Connect to `url` with a bare token whose bucket has `bucket`'s
    /// settings (benchmarks and embedding; the CLI uses stored tokens).
    pub fn to_url(url: &str, token: Token, bucket: GovernorConfig) -> Result<Self, AppError> {
        let client = CanvasClient::with_token(url, token, transport()?)
            .map_err(|e| AppError::invalid(format!("{url}: {e}")))?
            .with_governor(Governor::new(bucket));
        Ok(Self {
            client,
            instance: url.to_owned(),
            token_id: None,
            sim: None,
            listed: Default::default(),
        })
    }

    /// Connect to a running simulator with a token (tests, the demo).
    pub fn to_sim(sim: SimHandle, token: Token) -> Result<Self, AppError> {
        // The simulator's bucket may run on a faster clock; meter the token
        // by the bucket it really has.
        let t = sim.throttle();
        let governor = Governor::new(
            GovernorConfig {
                hwm: t.hwm,
                outflow: t.outflow,
                up_front: t.up_front,
                ..GovernorConfig::default()
            }
            .time_scaled(t.time_scale),
        );
        let client = CanvasClient::with_token(sim.url(), token, transport()?)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .with_governor(governor);
        Ok(Self {
            client,
            instance: SIM_INSTANCE.into(),
            token_id: None,
            sim: Some(sim),
            listed: Default::default(),
        })
    }

    /// The instance's schools, as listed at most `max_age` ago (a page
    /// that shows them to people need not spend the token each time).
    pub async fn schools_within(
        &self,
        max_age: std::time::Duration,
    ) -> Result<Vec<easel_runtime::School>, AppError> {
        if let Ok(l) = self.listed.lock()
            && let Some((at, schools)) = l.as_ref()
            && at.elapsed() < max_age
        {
            return Ok(schools.clone());
        }
        let schools = self.schools().await?;
        if let Ok(mut l) = self.listed.lock() {
            *l = Some((std::time::Instant::now(), schools.clone()));
        }
        Ok(schools)
    }

    /// GET `path` as easel itself (an admin call, not a plugin's): the
    /// JSON answer, `None` on 404, an error that says what to do otherwise.
    pub async fn get_json<T: for<'de> Deserialize<'de>>(
        &self,
        command: &str,
        path: &str,
        query: &[(String, String)],
    ) -> Result<Option<T>, AppError> {
        let tag = CallTag::admin(command);
        let resp = self
            .client
            .send(&tag, http::Method::GET, path, query, None)
            .await
            .with_context(|| format!("cannot reach Canvas at {}", self.client.origin()))?;
        self.json(path, &resp)
    }

    /// Every page of the list at `path` (100 to a page), following the
    /// `next` links Canvas sends, so no request is spent on a page past the
    /// end; `None` if Canvas answers 404.
    pub async fn get_all<T: for<'de> Deserialize<'de>>(
        &self,
        command: &str,
        path: &str,
    ) -> Result<Option<Vec<T>>, AppError> {
        /// More pages than any list an admin command reads (100,000 items).
        const MOST_PAGES: usize = 1_000;
        let tag = CallTag::admin(command);
        let reach = || format!("cannot reach Canvas at {}", self.client.origin());
        let mut resp = self
            .client
            .list_first(&tag, path, &[])
            .await
            .with_context(reach)?;
        let mut all = Vec::new();
        for _ in 0..MOST_PAGES {
            let Some(page) = self.json::<Vec<T>>(path, &resp)? else {
                return Ok(None);
            };
            all.extend(page);
            let Some(next) = resp.next.take() else {
                return Ok(Some(all));
            };
            // Only the list's own pages, as for a plugin's lists.
            if url::Url::parse(&next).map_or(true, |u| u.path() != path) {
                return Err(AppError::internal(anyhow::anyhow!(
                    "Canvas at {}: the next page of {path} is not on its path; not followed",
                    self.client.origin()
                )));
            }
            resp = self.client.follow(&tag, &next).await.with_context(reach)?;
        }
        Err(AppError::internal(anyhow::anyhow!(
            "Canvas at {} sent more than {MOST_PAGES} pages for {path}",
            self.client.origin()
        )))
    }

    /// The JSON of a Canvas answer to a GET of `path`; `None` for a 404.
    fn json<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        resp: &easel_canvas::Response,
    ) -> Result<Option<T>, AppError> {
        match resp.status {
            200..=299 => Ok(Some(
                serde_json::from_slice(&resp.body).context("Canvas sent unexpected JSON")?,
            )),
            404 => Ok(None),
            401 => Err(AppError::internal(anyhow::anyhow!(
                "Canvas at {} refused the token (401): check it with `easel token check`, or rotate it",
                self.client.origin()
            ))),
            s => Err(AppError::internal(anyhow::anyhow!(
                "Canvas at {} answered {s} for {path}",
                self.client.origin()
            ))),
        }
    }

    /// The account `id` (a school), or a bad-input error naming what to do.
    pub async fn school(&self, command: &str, id: u64) -> Result<easel_runtime::School, AppError> {
        let account: Option<AccountJson> = self
            .get_json(command, &format!("/api/v1/accounts/{id}"), &[])
            .await?;
        match account {
            Some(a) => Ok(easel_runtime::School {
                id: a.id,
                name: a.name,
            }),
            None => Err(AppError::invalid(format!(
                "there is no account {id} in instance {}: list the schools with `easel schools`",
                self.instance
            ))),
        }
    }

    /// The accounts to approve for, looked up; refused when one is a root
    /// account (a grant for the whole district) and `district_wide` was
    /// not given to confirm it.
    pub async fn approval_schools(
        &self,
        ids: &[u64],
        district_wide: bool,
    ) -> Result<Vec<easel_runtime::School>, AppError> {
        let mut out = Vec::new();
        for id in ids {
            let account: AccountJson = self
                .get_json("approve", &format!("/api/v1/accounts/{id}"), &[])
                .await?
                .ok_or_else(|| {
                    AppError::invalid(format!(
                        "there is no account {id} in instance {}: list the schools with `easel schools`",
                        self.instance
                    ))
                })?;
            if account.parent_account_id.is_none() && !district_wide {
                return Err(AppError::invalid(format!(
                    "account {id} ({}) is the root account: a grant there reaches every school in the district; \
                     confirm it with --district-wide",
                    account.name
                )));
            }
            out.push(easel_runtime::School {
                id: account.id,
                name: account.name,
            });
        }
        Ok(out)
    }

    /// The root accounts the token administers.
    pub async fn root_accounts(&self) -> Result<Vec<u64>, AppError> {
        let accounts: Vec<AccountJson> = self
            .get_json("root-account", "/api/v1/accounts", &[])
            .await?
            .unwrap_or_default();
        Ok(accounts
            .iter()
            .filter(|a| a.parent_account_id.is_none())
            .map(|a| a.id)
            .collect())
    }

    /// Schools: the direct sub-accounts of the root account(s) the token
    /// administers.
    pub async fn schools(&self) -> Result<Vec<easel_runtime::School>, AppError> {
        let accounts: Vec<AccountJson> = self
            .get_json("schools", "/api/v1/accounts", &[])
            .await?
            .unwrap_or_default();
        let mut schools = Vec::new();
        for root in accounts.iter().filter(|a| a.parent_account_id.is_none()) {
            let subs: Vec<AccountJson> = self
                .get_all(
                    "schools",
                    &format!("/api/v1/accounts/{}/sub_accounts", root.id),
                )
                .await?
                .unwrap_or_default();
            schools.extend(subs.into_iter().map(|a| easel_runtime::School {
                id: a.id,
                name: a.name,
            }));
        }
        Ok(schools)
    }
}

/// The instance whose SIS-id prefixes apply on `instance`: the instance a
/// declared copy (test, beta) was copied from, since a copy holds its
/// original's SIS ids.
pub fn namespace_instance(home: &Home, instance: &str) -> Result<String, AppError> {
    let mut name = instance.to_owned();
    for _ in 0..8 {
        match home.store.instance(&name)?.and_then(|i| i.copy_of) {
            Some(original) => name = original,
            None => return Ok(name),
        }
    }
    Err(AppError::invalid(format!(
        "instance {instance:?} is declared a copy of a copy more than 8 times over; fix its --copy-of"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_are_read_with_ids_as_numbers_or_strings() {
        let a: AccountJson =
            serde_json::from_str(r#"{"id":"12","name":"S","parent_account_id":"1"}"#)
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((a.id, a.parent_account_id), (12, Some(1)));
        let a: AccountJson =
            serde_json::from_str(r#"{"id":1,"name":"Root","parent_account_id":null}"#)
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((a.id, a.parent_account_id), (1, None));
    }
}

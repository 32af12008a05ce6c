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
use easel_store::{Action, AuditEntry, InstanceRow};
use secrecy::SecretString;
use serde::Deserialize;

use crate::error::{CliError, Outcome};
use crate::home::Home;

/// Per-request timeout towards Canvas.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Name of the built-in embedded simulator instance.
pub const SIM_INSTANCE: &str = "sim";

/// Where Canvas is, and with which token.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConnectOptions {
    /// Canvas instance (see `easel instance list`; default: the only one
    /// configured, else the embedded simulator `sim`).
    #[arg(long, global = true)]
    pub instance: Option<String>,
    /// Token to use (see `easel token list`; default: the instance's only
    /// token).
    #[arg(long, global = true)]
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

fn transport() -> Result<Arc<dyn Transport>, CliError> {
    Ok(Arc::new(
        ReqwestTransport::new(REQUEST_TIMEOUT).map_err(|e| anyhow::anyhow!("{e}"))?,
    ))
}

/// Resolve `--instance`: the named one, the only configured one, or `sim`.
pub(crate) fn choose_instance(
    home: &Home,
    name: Option<&str>,
) -> Result<Option<InstanceRow>, CliError> {
    let instances = home.store.instances()?;
    match name {
        Some(SIM_INSTANCE) => Ok(None),
        Some(n) => instances.into_iter().find(|i| i.name == n).map(Some).ok_or_else(|| {
            CliError::input(format!("no instance {n:?}: see `easel instance list`, or add it with `easel instance add {n} --url https://...`"))
        }),
        None if instances.len() == 1 => Ok(instances.into_iter().next()),
        None if instances.is_empty() => Ok(None),
        None => Err(CliError::input(format!(
            "several instances are configured ({}): pick one with --instance",
            instances.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// May a token of instance `token_instance` be used against `target`? Yes
/// on its own instance, and on instances declared copies of it (Canvas test
/// and beta are refreshed from production and accept its tokens).
pub(crate) fn token_fits(
    home: &Home,
    token_instance: &str,
    target: &InstanceRow,
) -> Result<bool, CliError> {
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
    pub async fn open(home: &Home, options: &ConnectOptions) -> Result<Self, CliError> {
        match choose_instance(home, options.instance.as_deref())? {
            None => Self::embedded_sim().await,
            Some(instance) => Self::to_instance(home, &instance, options.token.as_deref()).await,
        }
    }

    /// Start the embedded simulator and connect to it with its admin token.
    pub async fn embedded_sim() -> Result<Self, CliError> {
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
    ) -> Result<Self, CliError> {
        let vault = home.vault()?;
        let tokens = vault.list().map_err(|e| CliError::Failed(e.into()))?;
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
                        return Err(CliError::input(format!(
                            "instance {} has no token: add one with `easel token add <id> --instance {}`",
                            instance.name, instance.name
                        )));
                    }
                    _ => {
                        return Err(CliError::input(format!(
                            "instance {} has several tokens: pick one with --token",
                            instance.name
                        )));
                    }
                }
            }
        };
        let info = tokens.iter().find(|t| t.id == token_id).ok_or_else(|| {
            CliError::input(format!("no token {token_id:?}: see `easel token list`"))
        })?;
        if let Some(expiry) = &info.expires_at
            && let Ok(at) =
                time::OffsetDateTime::parse(expiry, &time::format_description::well_known::Rfc3339)
            && at <= time::OffsetDateTime::now_utc()
        {
            return Err(CliError::input(format!(
                "token {token_id} expired at {expiry}: generate a new one in Canvas and `easel token rotate {token_id}`"
            )));
        }
        if !token_fits(home, &info.instance, instance)? {
            return Err(CliError::input(format!(
                "token {token_id} belongs to instance {}, not {} (declare {} a copy with `easel instance add {} --url ... --copy-of {}`)",
                info.instance, instance.name, instance.name, instance.name, info.instance
            )));
        }
        let transport = transport()?;
        let credentials = vault
            .credentials(&token_id, &instance.url, transport.clone())
            .map_err(|e| CliError::Failed(e.into()))?;
        let client = CanvasClient::new(&instance.url, credentials, transport)
            .map_err(|e| CliError::input(format!("instance {}: {e}", instance.name)))?;
        Ok(Self {
            client,
            instance: instance.name.clone(),
            token_id: Some(token_id),
            sim: None,
        })
    }

    /// Connect to `url` with a bare token whose bucket has `bucket`'s
    /// settings (benchmarks and embedding; the CLI uses stored tokens).
    pub fn to_url(url: &str, token: Token, bucket: GovernorConfig) -> Result<Self, CliError> {
        let client = CanvasClient::with_token(url, token, transport()?)
            .map_err(|e| CliError::input(format!("{url}: {e}")))?
            .with_governor(Governor::new(bucket));
        Ok(Self {
            client,
            instance: url.to_owned(),
            token_id: None,
            sim: None,
        })
    }

    /// Connect to a running simulator with a token (tests, the demo).
    pub fn to_sim(sim: SimHandle, token: Token) -> Result<Self, CliError> {
        // The simulator's bucket may run on a faster clock; meter the token
        // by the bucket it really has.
        let t = sim.throttle();
        let governor = Governor::new(GovernorConfig {
            hwm: t.hwm,
            outflow: t.outflow * t.time_scale,
            up_front: t.up_front,
            ..GovernorConfig::default()
        });
        let client = CanvasClient::with_token(sim.url(), token, transport()?)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .with_governor(governor);
        Ok(Self {
            client,
            instance: SIM_INSTANCE.into(),
            token_id: None,
            sim: Some(sim),
        })
    }

    pub(crate) async fn get_json<T: for<'de> Deserialize<'de>>(
        &self,
        command: &str,
        path: &str,
        query: &[(String, String)],
    ) -> Result<Option<T>, CliError> {
        let tag = CallTag::admin(command);
        let resp = self
            .client
            .send(&tag, http::Method::GET, path, query, None)
            .await
            .with_context(|| format!("cannot reach Canvas at {}", self.client.origin()))?;
        match resp.status {
            200..=299 => Ok(Some(
                serde_json::from_slice(&resp.body).context("Canvas sent unexpected JSON")?,
            )),
            404 => Ok(None),
            401 => Err(CliError::Failed(anyhow::anyhow!(
                "Canvas at {} refused the token (401): check it with `easel token check`, or rotate it",
                self.client.origin()
            ))),
            s => Err(CliError::Failed(anyhow::anyhow!(
                "Canvas at {} answered {s} for {path}",
                self.client.origin()
            ))),
        }
    }

    /// The account `id` (a school), or a bad-input error naming what to do.
    pub async fn school(&self, command: &str, id: u64) -> Result<easel_runtime::School, CliError> {
        let account: Option<AccountJson> = self
            .get_json(command, &format!("/api/v1/accounts/{id}"), &[])
            .await?;
        match account {
            Some(a) => Ok(easel_runtime::School {
                id: a.id,
                name: a.name,
            }),
            None => Err(CliError::input(format!(
                "there is no account {id} in instance {}: list the schools with `easel schools`",
                self.instance
            ))),
        }
    }

    /// Schools: the direct sub-accounts of the root account(s) the token
    /// administers.
    pub async fn schools(&self) -> Result<Vec<easel_runtime::School>, CliError> {
        let accounts: Vec<AccountJson> = self
            .get_json("schools", "/api/v1/accounts", &[])
            .await?
            .unwrap_or_default();
        let mut schools = Vec::new();
        for root in accounts.iter().filter(|a| a.parent_account_id.is_none()) {
            let mut page = 1;
            loop {
                let q = vec![
                    ("per_page".to_owned(), "100".to_owned()),
                    ("page".to_owned(), page.to_string()),
                ];
                let subs: Vec<AccountJson> = self
                    .get_json(
                        "schools",
                        &format!("/api/v1/accounts/{}/sub_accounts", root.id),
                        &q,
                    )
                    .await?
                    .unwrap_or_default();
                if subs.is_empty() {
                    break;
                }
                schools.extend(subs.into_iter().map(|a| easel_runtime::School {
                    id: a.id,
                    name: a.name,
                }));
                page += 1;
            }
        }
        Ok(schools)
    }
}

/// `easel schools`.
pub async fn schools(
    home: &Home,
    options: &ConnectOptions,
    json: bool,
) -> Result<Outcome, CliError> {
    let conn = Connection::open(home, options).await?;
    let schools = conn.schools().await?;
    let prefixes = home
        .store
        .sis_prefixes(&namespace_instance(home, &conn.instance)?)?;
    let prefix_of = |school: u64| {
        prefixes
            .iter()
            .find(|p| p.school == school)
            .map(|p| p.prefix.clone())
    };
    if json {
        let v: Vec<_> = schools
            .iter()
            .map(|s| serde_json::json!({"id": s.id, "name": s.name, "sis_id_prefix": prefix_of(s.id)}))
            .collect();
        println!("{}", serde_json::Value::Array(v));
    } else {
        let rows: Vec<_> = schools.iter().map(|s| (s, prefix_of(s.id))).collect();
        print!("{}", schools_table(&rows, conn.sim.is_some()));
    }
    Ok(Outcome::Success)
}

/// `easel schools`'s table; the embedded simulator's list says so, since
/// its data resets on every command.
fn schools_table(schools: &[(&easel_runtime::School, Option<String>)], simulator: bool) -> String {
    let mut out = String::new();
    if simulator {
        out.push_str(
            "(simulator) the embedded Canvas simulator's schools; its data resets on every command\n",
        );
    }
    out.push_str(&format!("{:>8}  {:<14}  NAME\n", "ACCOUNT", "SIS PREFIX"));
    for (s, prefix) in schools {
        out.push_str(&format!(
            "{:>8}  {:<14}  {}\n",
            s.id,
            prefix.as_deref().unwrap_or("-"),
            s.name
        ));
    }
    out
}

/// The instance whose SIS-id prefixes apply on `instance`: the instance a
/// declared copy (test, beta) was copied from, since a copy holds its
/// original's SIS ids.
pub(crate) fn namespace_instance(home: &Home, instance: &str) -> Result<String, CliError> {
    let mut name = instance.to_owned();
    for _ in 0..8 {
        match home.store.instance(&name)?.and_then(|i| i.copy_of) {
            Some(original) => name = original,
            None => return Ok(name),
        }
    }
    Err(CliError::input(format!(
        "instance {instance:?} is declared a copy of a copy more than 8 times over; fix its --copy-of"
    )))
}

/// `easel schools sis-prefix`: show, set or clear a school's SIS-id prefix.
pub async fn sis_prefix(
    home: &Home,
    options: &ConnectOptions,
    school: u64,
    prefix: Option<String>,
    clear: bool,
    by: Option<String>,
    json: bool,
) -> Result<Outcome, CliError> {
    let instance = choose_instance(home, options.instance.as_deref())?
        .map_or_else(|| SIM_INSTANCE.to_owned(), |i| i.name);
    let namespace = namespace_instance(home, &instance)?;
    let by = crate::plugin::who(by);
    let change = |detail: String| {
        home.audit(&AuditEntry {
            instance: Some(namespace.clone()),
            school: Some(school),
            detail: Some(detail),
            ..AuditEntry::new(format!("admin:{by}"), Action::SettingChanged)
        })
    };
    if clear {
        if home.store.clear_sis_prefix(&namespace, school)? {
            change(format!("sis-id-prefix of school {school} cleared"))?;
        }
    } else if let Some(prefix) = &prefix {
        // A typo'd account id is an error, not a prefix for nothing.
        let conn = Connection::open(home, options).await?;
        conn.school("sis-prefix", school).await?;
        home.store
            .set_sis_prefix(&namespace, school, prefix, &by)
            .map_err(|e| match e {
                easel_store::StoreError::Invalid(m) => CliError::input(m),
                other => other.into(),
            })?;
        change(format!("sis-id-prefix of school {school} = {prefix:?}"))?;
    }
    let current = home.store.sis_prefix(&namespace, school)?;
    if json {
        println!(
            "{}",
            serde_json::json!({"instance": namespace, "school": school, "sis_id_prefix": current})
        );
    } else {
        match &current {
            Some(p) => println!(
                "school {school} ({namespace}): SIS imports may create objects whose SIS id starts with {p:?}"
            ),
            None => println!(
                "school {school} ({namespace}) has no SIS-id prefix: its SIS imports may update its own objects \
                 but create none; set one with `easel schools sis-prefix {school} PREFIX`"
            ),
        }
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_simulators_schools_are_marked_as_the_simulators() {
        let school = easel_runtime::School {
            id: 2,
            name: "Lincoln High School".into(),
        };
        let schools = [(&school, Some("LHS-".to_owned()))];
        let sim = schools_table(&schools, true);
        assert!(sim.starts_with("(simulator)"), "{sim}");
        assert!(
            sim.contains("       2  LHS-            Lincoln High School\n"),
            "{sim}"
        );
        let real = schools_table(&schools, false);
        assert!(!real.contains("simulator"), "{real}");
    }

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

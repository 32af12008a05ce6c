//! Which Canvas a command talks to, and with which token.
//!
//! Until instances and the vault land, a command talks either to the
//! embedded simulator (the default, so everything works on a fresh machine)
//! or to `--canvas-url` with a token read from a `0600` file given by
//! `--token-file`. The token is never taken from argv or the environment.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use easel_canvas::{CallTag, CanvasClient, ReqwestTransport, Token};
use easel_sim::{SimConfig, SimHandle, Simulator};
use secrecy::SecretString;
use serde::Deserialize;

use crate::error::{CliError, Outcome};

/// Per-request timeout towards Canvas.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Where Canvas is.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConnectOptions {
    /// Canvas base URL, e.g. https://district.instructure.com (default: the
    /// embedded simulator).
    #[arg(long, global = true, requires = "token_file")]
    pub canvas_url: Option<String>,
    /// File holding the Canvas API token (must be mode 0600).
    #[arg(long, global = true)]
    pub token_file: Option<PathBuf>,
    /// Name of the instance, shown to plugins (prod, test, beta).
    #[arg(long, global = true, default_value = "prod")]
    pub instance: String,
}

/// An open connection: the client, the instance's name, and the embedded
/// simulator if that is what we talk to.
pub struct Connection {
    /// The Canvas client (holds the token).
    pub client: CanvasClient,
    /// Instance name.
    pub instance: String,
    /// The embedded simulator, kept alive while the connection lives.
    pub sim: Option<SimHandle>,
}

#[derive(Deserialize)]
struct AccountJson {
    id: u64,
    name: String,
    #[serde(default)]
    parent_account_id: Option<u64>,
}

impl Connection {
    /// Connect as the options say.
    pub async fn open(options: &ConnectOptions) -> Result<Self, CliError> {
        let transport =
            Arc::new(ReqwestTransport::new(REQUEST_TIMEOUT).map_err(|e| anyhow::anyhow!("{e}"))?);
        match (&options.canvas_url, &options.token_file) {
            (Some(url), Some(file)) => {
                let token = read_token_file(file)?;
                let client = CanvasClient::new(url, token, transport).map_err(|e| {
                    CliError::input(format!(
                        "{e}: give --canvas-url as https://your.instructure.com"
                    ))
                })?;
                Ok(Self {
                    client,
                    instance: options.instance.clone(),
                    sim: None,
                })
            }
            (None, Some(_)) => Err(CliError::input("--token-file needs --canvas-url")),
            _ => {
                let sim = Simulator::start(SimConfig::default())
                    .await
                    .context("cannot start the embedded Canvas simulator")?;
                let token = Token::new(SecretString::from(sim.admin_token().to_owned()));
                let client = CanvasClient::new(sim.url(), token, transport)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                Ok(Self {
                    client,
                    instance: "sim".into(),
                    sim: Some(sim),
                })
            }
        }
    }

    /// Start from an existing simulator (tests, the demo).
    pub fn to_sim(sim: SimHandle, token: Token) -> Result<Self, CliError> {
        let transport =
            Arc::new(ReqwestTransport::new(REQUEST_TIMEOUT).map_err(|e| anyhow::anyhow!("{e}"))?);
        let client =
            CanvasClient::new(sim.url(), token, transport).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Self {
            client,
            instance: "sim".into(),
            sim: Some(sim),
        })
    }

    async fn get_json<T: for<'de> Deserialize<'de>>(
        &self,
        command: &str,
        path: &str,
        query: &[(String, String)],
    ) -> Result<Option<T>, CliError> {
        let tag = CallTag::admin(command);
        let resp = self
            .client
            .send(&tag, http_get(), path, query, None)
            .await
            .with_context(|| format!("cannot reach Canvas at {}", self.client.origin()))?;
        match resp.status {
            200..=299 => Ok(Some(
                serde_json::from_slice(&resp.body).context("Canvas sent unexpected JSON")?,
            )),
            404 => Ok(None),
            401 => Err(CliError::Failed(anyhow::anyhow!(
                "Canvas at {} refused the token (401): check the token file",
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

fn http_get() -> http::Method {
    http::Method::GET
}

/// Read a token from a file only its owner can read.
fn read_token_file(path: &PathBuf) -> Result<Token, CliError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| CliError::input(format!("cannot read token file {}: {e}", path.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(CliError::input(format!(
                "token file {} is readable by others (mode {mode:o}): run `chmod 600 {}`",
                path.display(),
                path.display()
            )));
        }
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::input(format!("cannot read token file {}: {e}", path.display())))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(CliError::input(format!(
            "token file {} is empty",
            path.display()
        )));
    }
    Ok(Token::new(SecretString::from(token.to_owned())))
}

/// `easel schools`.
pub async fn schools(options: &ConnectOptions, json: bool) -> Result<Outcome, CliError> {
    let conn = Connection::open(options).await?;
    let schools = conn.schools().await?;
    if json {
        let v: Vec<_> = schools
            .iter()
            .map(|s| serde_json::json!({"id": s.id, "name": s.name}))
            .collect();
        println!("{}", serde_json::Value::Array(v));
    } else {
        println!("{:>8}  NAME", "ACCOUNT");
        for s in &schools {
            println!("{:>8}  {}", s.id, s.name);
        }
    }
    Ok(Outcome::Success)
}

//! Client mode: with a server configured (`easel login`, or
//! `EASEL_SERVER` and `EASEL_API_TOKEN`), plugin, run, runs and schools
//! commands go through its API and print what local mode prints. The
//! token is kept in a 0600 file under the user's config directory; a file
//! that others may read is refused.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::args::{AuditCommand, Command, ExportFormat, PlanCommand, PluginCommand, RunsCommand};
use crate::error::{CliError, Outcome};

/// A server and the token to use with it.
pub(crate) struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    server: String,
    token: String,
    /// A CA certificate (PEM file) to trust for the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ca_cert: Option<PathBuf>,
}

/// `$XDG_CONFIG_HOME/easel/credentials.json`, else
/// `~/.config/easel/credentials.json`.
fn credentials_path() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(x).join("easel/credentials.json"));
    }
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(|h| PathBuf::from(h).join(".config/easel/credentials.json"))
}

/// A server URL easel will send a token to: https, or http to this
/// machine only.
fn check_server(url: &str) -> Result<String, CliError> {
    let parsed = url::Url::parse(url).map_err(|e| {
        CliError::input(format!(
            "{url:?} is not a server URL ({e}): give it whole, e.g. https://easel.district.example"
        ))
    })?;
    let loopback = matches!(parsed.host(), Some(url::Host::Domain("localhost")))
        || matches!(parsed.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
        || matches!(parsed.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback());
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(CliError::input(format!(
                "{url} is not https: a token would cross the network in the clear (http is allowed to this machine only)"
            )));
        }
    }
    if !parsed.username().is_empty() || parsed.password().is_some() || parsed.query().is_some() {
        return Err(CliError::input(
            "the server URL may not carry credentials or a query",
        ));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

fn read_saved(path: &Path) -> Result<Option<Saved>, CliError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CliError::Failed(e.into())),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(CliError::input(format!(
                "{} may be read by others (mode {mode:o}): its token is a credential; `chmod 600 {}`, or `easel logout` and sign in again",
                path.display(),
                path.display()
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    let text = std::fs::read_to_string(path).map_err(|e| CliError::Failed(e.into()))?;
    let saved: Saved = serde_json::from_str(&text).map_err(|e| {
        CliError::input(format!(
            "{} is not what `easel login` writes ({e}); `easel logout` and sign in again",
            path.display()
        ))
    })?;
    Ok(Some(saved))
}

fn write_saved(path: &Path, saved: &Saved) -> Result<(), CliError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| CliError::Failed(e.into()))?;
    }
    let text = serde_json::to_string_pretty(saved).map_err(|e| CliError::Failed(e.into()))?;
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .map_err(|e| CliError::Failed(anyhow::anyhow!("cannot write {}: {e}", path.display())))?;
    f.write_all(text.as_bytes())
        .map_err(|e| CliError::Failed(e.into()))?;
    Ok(())
}

impl Client {
    pub(crate) fn new(server: &str, token: &str) -> Result<Self, CliError> {
        Self::with_ca(server, token, None)
    }

    /// A client that also trusts `ca` (a PEM file), or `EASEL_CA_CERT`.
    pub(crate) fn with_ca(server: &str, token: &str, ca: Option<&Path>) -> Result<Self, CliError> {
        let mut builder = reqwest::Client::builder().timeout(std::time::Duration::from_secs(600));
        let from_env = std::env::var_os("EASEL_CA_CERT")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        for path in ca.map(Path::to_path_buf).into_iter().chain(from_env) {
            let pem = std::fs::read(&path).map_err(|e| {
                CliError::input(format!(
                    "cannot read the CA certificate {}: {e}",
                    path.display()
                ))
            })?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
                CliError::input(format!("{} is not a PEM certificate: {e}", path.display()))
            })?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder.build().map_err(|e| CliError::Failed(e.into()))?;
        Ok(Self {
            base: check_server(server)?,
            token: token.trim().to_owned(),
            http,
        })
    }

    /// The server's URL.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// Sign in to `base` with a password: a client holding the API token
    /// the server issued.
    pub(crate) async fn sign_in(
        base: &str,
        name: &str,
        password: &str,
        ca: Option<&Path>,
    ) -> Result<Self, CliError> {
        let (token, _) = Self::open_session(
            base,
            ca,
            "/api/v1/sessions",
            &json!({"name": name, "password": password, "label": "easel login"}),
        )
        .await?;
        Client::with_ca(base, &token, ca)
    }

    /// POST `body` to the sign-in endpoint `path` without a token: the API
    /// token the server issued, and its whole answer.
    async fn open_session(
        base: &str,
        ca: Option<&Path>,
        path: &str,
        body: &Value,
    ) -> Result<(String, Value), CliError> {
        let anonymous = Client::with_ca(base, "", ca)?;
        let resp = anonymous
            .http
            .post(format!("{}{path}", anonymous.base))
            .json(body)
            .send()
            .await
            .map_err(|e| {
                CliError::Failed(anyhow::anyhow!(
                    "cannot reach the easel server at {base}: {e}"
                ))
            })?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(CliError::input(
                body["error"]["message"]
                    .as_str()
                    .unwrap_or("the server refused the sign-in")
                    .to_owned(),
            ));
        }
        let token = body["token"]
            .as_str()
            .ok_or_else(|| CliError::Failed(anyhow::anyhow!("the server sent no token")))?
            .to_owned();
        Ok((token, body))
    }

    /// The configured server: `EASEL_SERVER` (with `EASEL_API_TOKEN`), else
    /// the file `easel login` wrote; `None`: commands run locally.
    pub(crate) fn configured() -> Result<Option<Self>, CliError> {
        if let Some(server) = std::env::var("EASEL_SERVER").ok().filter(|s| !s.is_empty()) {
            let token = std::env::var("EASEL_API_TOKEN")
                .ok()
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(|| {
                    CliError::input(
                        "EASEL_SERVER is set but EASEL_API_TOKEN is not: give the API token too",
                    )
                })?;
            return Self::new(&server, &token).map(Some);
        }
        match credentials_path() {
            Some(path) => match read_saved(&path)? {
                Some(saved) => {
                    Self::with_ca(&saved.server, &saved.token, saved.ca_cert.as_deref()).map(Some)
                }
                None => Ok(None),
            },
            None => Ok(None),
        }
    }

    pub(crate) async fn send(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, CliError> {
        let resp = req.bearer_auth(&self.token).send().await.map_err(|e| {
            CliError::Failed(anyhow::anyhow!(
                "cannot reach the easel server at {}: {e}",
                self.base
            ))
        })?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        let e = &body["error"];
        let message = e["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("the server answered {status}"));
        let message = match e["hint"].as_str() {
            Some(h) => format!("{message} ({h})"),
            None => message,
        };
        Err(match e["kind"].as_str() {
            Some("invalid" | "not-found" | "forbidden" | "conflict") => CliError::Input(message),
            _ => CliError::Failed(anyhow::anyhow!("{message}")),
        })
    }

    pub(crate) async fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Value, CliError> {
        let resp = self
            .send(self.http.get(format!("{}{path}", self.base)).query(query))
            .await?;
        resp.json().await.map_err(|e| CliError::Failed(e.into()))
    }

    pub(crate) async fn post(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        let resp = self
            .send(self.http.post(format!("{}{path}", self.base)).json(body))
            .await?;
        resp.json().await.map_err(|e| CliError::Failed(e.into()))
    }
}

/// `easel login`.
pub(crate) async fn login(
    server: &str,
    name: Option<String>,
    token: bool,
    ca_cert: Option<PathBuf>,
    json: bool,
) -> Result<Outcome, CliError> {
    let path = credentials_path().ok_or_else(|| {
        CliError::input("no config directory: set HOME or XDG_CONFIG_HOME (or use EASEL_SERVER and EASEL_API_TOKEN)")
    })?;
    let base = check_server(server)?;
    let secret = if token {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| CliError::input(format!("cannot read the token: {e}")))?;
        let t = line.trim().to_owned();
        if t.is_empty() {
            return Err(CliError::input(
                "no token on standard input: `easel login --server URL --with-token < token.txt`",
            ));
        }
        t
    } else {
        let name = name.ok_or_else(|| {
            CliError::input("sign in with --name NAME (asked for a password), with --canvas (in a browser), or give an API token with --with-token")
        })?;
        let password = if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            rpassword::prompt_password(format!("password for {name} at {base}: "))
                .map_err(|e| CliError::input(format!("cannot read the password: {e}")))?
        } else {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| CliError::input(format!("cannot read the password: {e}")))?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        };
        Client::sign_in(&base, &name, &password, ca_cert.as_deref())
            .await?
            .token
    };
    let client = Client::with_ca(&base, &secret, ca_cert.as_deref())?;
    let me = client.get("/api/v1/me", &[]).await?;
    write_saved(
        &path,
        &Saved {
            server: base.clone(),
            token: secret,
            ca_cert: ca_cert.map(|p| std::fs::canonicalize(&p).unwrap_or(p)),
        },
    )?;
    if json {
        // Who, where and the file: never the token itself.
        return crate::json_out(&json!({
            "server": base,
            "user": me["name"],
            "roles": me["roles"],
            "kept_in": path,
        }));
    }
    println!(
        "signed in to {base} as {}; the token is kept in {} (mode 600); `easel logout` forgets it",
        me["name"].as_str().unwrap_or("?"),
        path.display()
    );
    Ok(Outcome::Success)
}

/// How long `easel login --canvas` waits for the browser.
const CANVAS_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

/// `easel login --canvas`: the browser signs in at Canvas; this command
/// waits on a loopback port for the one-time code, and redeems it with a
/// verifier only it knows.
pub(crate) async fn login_with_canvas(
    server: &str,
    instance: Option<&str>,
    ca_cert: Option<PathBuf>,
    json: bool,
) -> Result<Outcome, CliError> {
    let path = credentials_path().ok_or_else(|| {
        CliError::input("no config directory: set HOME or XDG_CONFIG_HOME (or use EASEL_SERVER and EASEL_API_TOKEN)")
    })?;
    let base = check_server(server)?;
    // The server answers, before anyone is sent to a browser.
    let probe = Client::with_ca(&base, "", ca_cert.as_deref())?;
    probe
        .http
        .get(format!("{base}/api/openapi.json"))
        .send()
        .await
        .map_err(|e| {
            CliError::Failed(anyhow::anyhow!(
                "cannot reach the easel server at {base}: {e}"
            ))
        })?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| CliError::Failed(anyhow::anyhow!("cannot listen on a loopback port: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| CliError::Failed(e.into()))?
        .port();
    let mut secret = [0u8; 32];
    rand::Rng::fill(&mut rand::rng(), &mut secret);
    let verifier = hex::encode(secret);
    let mut url = url::Url::parse(&format!("{base}/auth/canvas"))
        .map_err(|e| CliError::input(format!("{base}: {e}")))?;
    let challenge = easel_server::challenge_of(&verifier);
    url.query_pairs_mut()
        .append_pair("port", &port.to_string())
        .append_pair("challenge", &challenge);
    if let Some(i) = instance {
        url.query_pairs_mut().append_pair("instance", i);
    }
    eprintln!(
        "Sign in with Canvas: open this address in a browser on this machine and sign in there.\nThe browser then asks you to confirm the code {} (waiting up to {} minutes; Ctrl-C gives up):\n\n  {url}\n",
        easel_server::confirmation_code(&challenge),
        CANVAS_WAIT.as_secs() / 60
    );
    let answer = tokio::time::timeout(CANVAS_WAIT, wait_for_browser(listener))
        .await
        .map_err(|_| {
            CliError::input(
                "no sign-in came back within 5 minutes: run `easel login --canvas` again",
            )
        })??;
    let code = match answer {
        Ok(code) => code,
        Err(why) => {
            return Err(CliError::input(format!(
                "the sign-in failed: {}",
                printable(&why)
            )));
        }
    };
    let (token, body) = Client::open_session(
        &base,
        ca_cert.as_deref(),
        "/api/v1/sessions/canvas",
        &json!({"code": code, "verifier": verifier}),
    )
    .await?;
    write_saved(
        &path,
        &Saved {
            server: base.clone(),
            token,
            ca_cert: ca_cert.map(|p| std::fs::canonicalize(&p).unwrap_or(p)),
        },
    )?;
    let roles: Vec<String> = body["roles"]
        .as_array()
        .map(|a| a.iter().map(role_name).collect())
        .unwrap_or_default();
    if json {
        return crate::json_out(&json!({
            "server": base,
            "user": body["name"],
            "roles": roles,
            "expires_at": body["expires_at"],
            "kept_in": path,
        }));
    }
    println!(
        "signed in to {base} with Canvas as {} ({}); the token lasts until {} and is kept in {} (mode 600); `easel logout` ends it",
        printable(body["name"].as_str().unwrap_or("?")),
        printable(&roles.join(", ")),
        printable(body["expires_at"].as_str().unwrap_or("?")),
        path.display()
    );
    Ok(Outcome::Success)
}

/// A role as the server sends it, named as `easel user` shows it.
fn role_name(v: &Value) -> String {
    match v["role"].as_str() {
        Some("school-contributor") => format!(
            "contributor({})",
            v["schools"]
                .as_array()
                .map(|s| s
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","))
                .unwrap_or_default()
        ),
        Some(r) => r.to_owned(),
        None => "?".into(),
    }
}

/// Text from elsewhere (the server, the browser) as one printable line:
/// no escape sequence reaches the terminal.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(500)
        .collect()
}

/// How long one browser request may take to arrive whole.
const REQUEST_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// Answer browser requests on `listener`, each on its own task with its
/// own deadline (a slow or idle connection holds up no other), until one
/// brings `code` (Ok) or `error` (Err, with the server's description).
async fn wait_for_browser(
    listener: tokio::net::TcpListener,
) -> Result<Result<String, String>, CliError> {
    let (found, mut first) = tokio::sync::mpsc::channel::<Result<String, String>>(1);
    let accepting = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let found = found.clone();
            tokio::spawn(async move {
                if let Ok(Some(answer)) =
                    tokio::time::timeout(REQUEST_DEADLINE, answer_browser(stream)).await
                {
                    let _ = found.send(answer).await;
                }
            });
        }
    });
    let answer = first.recv().await;
    accepting.abort();
    answer.ok_or_else(|| CliError::Failed(anyhow::anyhow!("the loopback listener stopped")))
}

/// One browser request: what it brings, if anything, after answering it.
async fn answer_browser(mut stream: tokio::net::TcpStream) -> Option<Result<String, String>> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut buf).await {
            Ok(n) if n > 0 => head.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let target = head
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("GET "))
        .and_then(|l| l.split(' ').next())
        .unwrap_or("");
    let query = target.strip_prefix("/?").unwrap_or("");
    let pairs: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
    let found = if let Some(code) = pairs.get("code") {
        Some(Ok(code.clone()))
    } else {
        pairs.get("error").map(|e| {
            let text = pairs
                .get("error_description")
                .cloned()
                .unwrap_or_else(|| e.clone());
            Err(match pairs.get("hint").filter(|h| !h.is_empty()) {
                Some(h) => format!("{text} ({h})"),
                None => text,
            })
        })
    };
    let (status, page) = match &found {
        Some(Ok(_)) => (
            "200 OK",
            "Signed in: go back to the terminal. You may close this tab.",
        ),
        Some(Err(_)) => ("200 OK", "The sign-in failed: the terminal says why."),
        None => ("404 Not Found", "Not the sign-in."),
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n{page}",
        page.len()
    );
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
    found
}

/// `easel logout`: the server revokes the token, then the file goes.
pub(crate) async fn logout(json: bool) -> Result<Outcome, CliError> {
    let Some(path) = credentials_path().filter(|p| p.exists()) else {
        return crate::say(
            json,
            json!({"signed_in": false, "server": null, "token_revoked": false}),
            || println!("not signed in to a server"),
        );
    };
    let (mut server, mut revoked) = (None, false);
    if let Some(saved) = read_saved(&path)? {
        let client = Client::with_ca(&saved.server, &saved.token, saved.ca_cert.as_deref())?;
        let req = client
            .http
            .delete(format!("{}/api/v1/sessions", client.base));
        match client.send(req).await {
            Ok(_) => {
                revoked = true;
                if !json {
                    println!("{} revoked the token", client.base);
                }
            }
            Err(e) => eprintln!(
                "warning: {} did not revoke the token ({e}); it stops working when it expires, or an admin revokes it",
                client.base
            ),
        }
        server = Some(client.base);
    }
    std::fs::remove_file(&path).map_err(|e| CliError::Failed(e.into()))?;
    crate::say(
        json,
        json!({"signed_in": true, "server": server, "token_revoked": revoked, "forgot": path}),
        || println!("forgot the server and token in {}", path.display()),
    )
}

/// Does `command` work on this machine's data directory, and so make no
/// sense while signed in to a server (it would quietly read an empty or
/// stale local one)?
pub(crate) fn needs_local_data(command: &Command) -> bool {
    match command {
        Command::Runs { command, .. } => matches!(command, Some(RunsCommand::Export { .. })),
        Command::Audit { .. }
        | Command::Backup { .. }
        | Command::Db { .. }
        | Command::Schedule { .. }
        | Command::User { .. }
        | Command::Token { .. }
        | Command::Instance { .. }
        | Command::Vault { .. }
        | Command::Config { .. }
        | Command::Schools {
            command: Some(_), ..
        } => true,
        _ => false,
    }
}

/// Does `command` go through the server when one is configured?
pub(crate) fn routed(command: &Command) -> bool {
    match command {
        Command::Plugin { command } => matches!(
            command,
            PluginCommand::Add { .. }
                | PluginCommand::List { .. }
                | PluginCommand::Inspect { .. }
                | PluginCommand::Check { .. }
                | PluginCommand::Approve { .. }
                | PluginCommand::Revoke { .. }
                | PluginCommand::Deny { .. }
        ),
        Command::Audit { command } => matches!(
            command,
            AuditCommand::Verify { witness: None, .. }
                | AuditCommand::Export { .. }
                | AuditCommand::Tail { .. }
        ),
        Command::Run(_) | Command::Plan { .. } | Command::Schools { command: None, .. } => true,
        Command::Runs { command, .. } => !matches!(command, Some(RunsCommand::Export { .. })),
        _ => false,
    }
}

fn not_through_server(what: &str) -> CliError {
    CliError::input(format!(
        "{what} does not go through a server yet: run it on the server's machine, or `easel logout` to work locally"
    ))
}

/// The run(s) a detached `run` queued: their ids.
fn print_queued(v: &serde_json::Value, json: bool) -> Result<Outcome, CliError> {
    if json {
        println!("{v:#}");
        return Ok(Outcome::Success);
    }
    let runs = match v["runs"].as_array() {
        Some(runs) => runs.clone(),
        None => vec![v.clone()],
    };
    for r in &runs {
        match r["run"].as_str() {
            Some(id) => println!("{id}"),
            None => eprintln!(
                "school {}: not queued: {}",
                r["school"],
                r["error"].as_str().unwrap_or("refused")
            ),
        }
    }
    match v["batch"].as_str() {
        Some(batch) => eprintln!(
            "queued {} run(s) as batch {batch}: `easel runs --batch {batch}` follows them",
            runs.iter().filter(|r| r["run"].is_string()).count()
        ),
        None => eprintln!("queued: `easel runs show ID` follows it"),
    }
    Ok(Outcome::Success)
}

/// Run `command` through the server.
pub(crate) async fn dispatch(client: &Client, command: Command) -> Result<Outcome, CliError> {
    match command {
        Command::Plugin { command } => plugin(client, command).await,
        Command::Run(args) => {
            let params = easel_app::parse_params(&args.params)?;
            if args.after_plan.is_none() && (!args.schools.is_empty() || args.all_schools) {
                let b = crate::many::request(&args, params);
                if !args.json && !args.detach {
                    eprintln!(
                        "running {} for {} on {} (the server answers when every run has ended)",
                        b.plugin,
                        if b.all_schools {
                            "every approved school".to_owned()
                        } else {
                            format!("{} school(s)", b.schools.len())
                        },
                        client.base
                    );
                }
                let v = client
                    .post(
                        "/api/v1/runs",
                        &json!({"plugin": b.plugin, "schools": b.schools, "all_schools": b.all_schools,
                                "dry_run": b.dry_run, "params": params_json(&b.params),
                                "max_writes": b.max_writes, "detach": args.detach}),
                    )
                    .await?;
                if args.detach {
                    return print_queued(&v, args.json);
                }
                let r: easel_app::BatchResult =
                    serde_json::from_value(v).map_err(|e| CliError::Failed(e.into()))?;
                return crate::many::print(&r, args.json);
            }
            let mut body = json!({"plugin": args.plugin, "dry_run": args.dry_run,
                                  "params": params_json(&params), "max_writes": args.max_writes,
                                  "detach": args.detach});
            match (&args.after_plan, args.school) {
                (Some(plan), _) => body["after_plan"] = json!(plan),
                (None, Some(school)) => body["school"] = json!(school),
                (None, None) => return Err(CliError::input("name the school: --school ID")),
            }
            let v = client.post("/api/v1/runs", &body).await?;
            if args.detach {
                return print_queued(&v, args.json);
            }
            print_run(&v, args.json)
        }
        Command::Plan {
            command: PlanCommand::Apply { run, json },
        } => {
            let v = client
                .post(&format!("/api/v1/runs/{}/apply", seg(&run)), &json!({}))
                .await?;
            print_run(&v, json)
        }
        Command::Runs {
            command,
            limit,
            plugin,
            school,
            status,
            since,
            batch,
            json,
        } => match command {
            None => {
                let mut q = vec![("limit", limit.to_string())];
                for (k, v) in [
                    ("plugin", plugin),
                    ("status", status),
                    ("since", since),
                    ("batch", batch),
                ] {
                    if let Some(v) = v {
                        q.push((k, v));
                    }
                }
                if let Some(s) = school {
                    q.push(("school", s.to_string()));
                }
                let v = client.get("/api/v1/runs", &q).await?;
                let runs: Vec<easel_store::RunRow> =
                    serde_json::from_value(v).map_err(|e| CliError::Failed(e.into()))?;
                crate::runs::print_list(&runs, json)
            }
            Some(RunsCommand::Show { run, plan, json }) => {
                let v = client
                    .get(&format!("/api/v1/runs/{}", seg(&run)), &[])
                    .await?;
                let row: easel_store::RunRow =
                    serde_json::from_value(v.clone()).map_err(|e| CliError::Failed(e.into()))?;
                if json {
                    println!("{:#}", if plan { json!(row.plan) } else { v });
                    return Ok(Outcome::Success);
                }
                if plan {
                    println!("{:#}", json!(row.plan));
                    return Ok(Outcome::Success);
                }
                crate::runs::print_summary(&row, |o| report_hint(&row.id, o));
                Ok(Outcome::Success)
            }
            Some(RunsCommand::Report {
                run,
                name,
                output,
                json,
            }) => {
                let resp = client
                    .send(client.http.get(format!(
                        "{}/api/v1/runs/{}/reports/{}",
                        client.base,
                        seg(&run),
                        seg(&name)
                    )))
                    .await?;
                let bytes = resp.bytes().await.map_err(|e| CliError::Failed(e.into()))?;
                crate::runs::write_report(&run, &name, &bytes, output.as_deref(), json)
            }
            Some(RunsCommand::Export { .. }) => Err(not_through_server("runs export")),
        },
        Command::Schools { json, .. } => {
            let v = client.get("/api/v1/schools", &[]).await?;
            if json {
                println!("{v}");
                return Ok(Outcome::Success);
            }
            let schools: Vec<(easel_runtime::School, Option<String>)> = v
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| {
                    (
                        easel_runtime::School {
                            id: s["id"].as_u64().unwrap_or_default(),
                            name: s["name"].as_str().unwrap_or_default().to_owned(),
                        },
                        s["sis_id_prefix"].as_str().map(str::to_owned),
                    )
                })
                .collect();
            let rows: Vec<_> = schools.iter().map(|(s, p)| (s, p.clone())).collect();
            print!("{}", crate::schools_cmd::schools_table(&rows, false));
            Ok(Outcome::Success)
        }
        Command::Audit { command } => audit(client, command).await,
        _ => Err(not_through_server("this command")),
    }
}

/// `easel audit verify|export|tail` through the server (it holds the keys
/// that verify the log; a witness file is checked on the server's
/// machine).
async fn audit(client: &Client, command: AuditCommand) -> Result<Outcome, CliError> {
    match command {
        AuditCommand::Verify {
            json,
            witness: None,
        } => {
            let v = client.get("/api/v1/audit/verify", &[]).await?;
            let intact = v["intact"].as_bool() == Some(true);
            if json {
                println!("{v:#}");
            } else if intact {
                println!(
                    "intact (verified by {}): {} records, every MAC and link checks out; head {}; {} signed checkpoint(s)",
                    client.base,
                    v["records"],
                    v["head"].as_str().unwrap_or("?"),
                    v["checkpoints"]
                );
            } else {
                println!(
                    "BROKEN at record {} (verified by {}): {}",
                    v["broken_at"],
                    client.base,
                    v["reason"].as_str().unwrap_or("?")
                );
            }
            Ok(if intact {
                Outcome::Success
            } else {
                Outcome::RunFailed
            })
        }
        AuditCommand::Export {
            format,
            since,
            plugin,
            school,
        } => {
            if matches!(format, ExportFormat::Csv) {
                println!("{}", crate::audit_cmd::CSV_HEADER);
            }
            let mut after = 0u64;
            loop {
                let mut q = vec![("after_seq", after.to_string())];
                for (k, v) in [("since", &since), ("plugin", &plugin)] {
                    if let Some(v) = v {
                        q.push((k, v.clone()));
                    }
                }
                if let Some(s) = school {
                    q.push(("school", s.to_string()));
                }
                let v = client.get("/api/v1/audit", &q).await?;
                let page: Vec<easel_store::AuditRecord> =
                    serde_json::from_value(v).map_err(|e| CliError::Failed(e.into()))?;
                for r in &page {
                    match format {
                        ExportFormat::Jsonl => {
                            println!("{}", serde_json::to_string(r).unwrap_or_default())
                        }
                        ExportFormat::Csv => println!("{}", crate::audit_cmd::csv_row(r)),
                    }
                }
                match page.last() {
                    Some(r) if page.len() >= easel_server::MAX_AUDIT_RECORDS => after = r.seq,
                    _ => return Ok(Outcome::Success),
                }
            }
        }
        AuditCommand::Tail {
            lines,
            follow,
            json,
        } => {
            let v = client
                .get("/api/v1/audit", &[("last", lines.to_string())])
                .await?;
            let mut page: Vec<easel_store::AuditRecord> =
                serde_json::from_value(v).map_err(|e| CliError::Failed(e.into()))?;
            let mut last = 0;
            loop {
                for r in &page {
                    if json {
                        println!("{}", serde_json::to_string(r).unwrap_or_default());
                    } else {
                        println!("{}", crate::audit_cmd::line(r));
                    }
                    last = r.seq;
                }
                if !follow {
                    return Ok(Outcome::Success);
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                let v = client
                    .get("/api/v1/audit", &[("after_seq", last.to_string())])
                    .await?;
                page = serde_json::from_value(v).map_err(|e| CliError::Failed(e.into()))?;
            }
        }
        AuditCommand::Checkpoint { .. } | AuditCommand::Verify { .. } => Err(not_through_server(
            "audit checkpoint and audit verify --witness",
        )),
    }
}

fn params_json(params: &[(String, String)]) -> serde_json::Map<String, Value> {
    params
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

/// One path segment, percent-encoded.
fn seg(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// How to fetch a run's report from the server.
fn report_hint(run: &str, path: &str) -> String {
    let name = Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{name}  (`easel runs report {run} {name} -o {name}`)")
}

async fn plugin(client: &Client, command: PluginCommand) -> Result<Outcome, CliError> {
    match command {
        PluginCommand::Build { dir, json } => crate::plugin::build(&dir, json),
        PluginCommand::New {
            name,
            lang,
            writes,
            dir,
            sdk,
            json,
        } => crate::plugin::new(&name, &lang, writes, dir.as_deref(), sdk.as_deref(), json),
        PluginCommand::Test {
            dir,
            scenario,
            live,
            json,
        } => crate::plugin::test(&dir, scenario.as_deref(), live, json).await,
        PluginCommand::Add {
            component,
            manifest,
            json,
        } => {
            let bytes = std::fs::read(&component).map_err(|e| {
                CliError::input(format!("cannot read {}: {e}", component.display()))
            })?;
            let text = std::fs::read_to_string(&manifest).map_err(|e| {
                CliError::input(format!("cannot read manifest {}: {e}", manifest.display()))
            })?;
            let v = client
                .post(
                    "/api/v1/plugins",
                    &json!({
                        "manifest": text,
                        "component_base64": base64::engine::general_purpose::STANDARD.encode(&bytes),
                        "label": component.file_name().map(|n| n.to_string_lossy().into_owned()),
                    }),
                )
                .await?;
            crate::plugin::print_added(&v, json)
        }
        PluginCommand::Check {
            manifest,
            component,
            json,
        } => {
            let (text, bytes) = crate::plugin::check_inputs(&manifest, component.as_deref())?;
            let labels = (
                manifest.display().to_string(),
                component
                    .as_ref()
                    .map(|c| c.display().to_string())
                    .unwrap_or_default(),
            );
            let v = client
                .post(
                    "/api/v1/plugin-checks",
                    &json!({
                        "manifest": text,
                        "component_base64": bytes.map(|b| base64::engine::general_purpose::STANDARD.encode(b)),
                        "labels": labels,
                    }),
                )
                .await?;
            let r: easel_app::CheckReport =
                serde_json::from_value(v).map_err(|e| CliError::Failed(e.into()))?;
            crate::plugin::print_check(&r, &manifest, component.as_deref(), json)
        }
        PluginCommand::Inspect { plugin, json } => {
            let v = client
                .get(&format!("/api/v1/plugins/{}", seg(&plugin)), &[])
                .await?;
            let i: easel_app::Inspection =
                serde_json::from_value(v).map_err(|e| CliError::Failed(e.into()))?;
            crate::plugin::print_inspection(&i, json)
        }
        PluginCommand::List { json } => {
            let v = client.get("/api/v1/plugins", &[]).await?;
            let versions: Vec<Value> = v.as_array().cloned().unwrap_or_default();
            crate::plugin::print_list(&versions, json)
        }
        PluginCommand::Approve {
            plugin,
            schools_from: _,
            mut schools,
            all_schools,
            read_only,
            district_wide,
            manifest_digest,
            allow_downgrade,
            grant,
            scopes,
            masquerade,
            dry_run_only,
            max_calls,
            max_writes,
            runs_per_day,
            expires_at,
            shared_users,
            sis_import,
            json,
        } => {
            let mut terms = crate::plugin::terms_from(
                grant.as_deref(),
                scopes,
                masquerade,
                dry_run_only,
                max_calls,
                max_writes,
                runs_per_day,
                expires_at,
            )?;
            terms.shared_users = shared_users.or(terms.shared_users);
            terms.sis_import |= sis_import;
            if all_schools {
                let v = client.get("/api/v1/schools", &[]).await?;
                schools = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s["id"].as_u64())
                    .collect();
            }
            let v = client
                .post(
                    &format!("/api/v1/plugins/{}/approve", seg(&plugin)),
                    &json!({"schools": schools, "read_only": read_only, "district_wide": district_wide, "manifest_digest": manifest_digest,
                            "allow_downgrade": allow_downgrade, "terms": terms}),
                )
                .await?;
            let rows: Vec<easel_store::ApprovalRow> =
                serde_json::from_value(v).map_err(|e| CliError::Failed(e.into()))?;
            // Whether a school has a SIS-id prefix is the server's to say.
            print_approvals_remote(&rows, json)
        }
        PluginCommand::Deny {
            plugin,
            reason,
            json,
        } => {
            let v = client
                .post(
                    &format!("/api/v1/plugins/{}/deny", seg(&plugin)),
                    &json!({"reason": reason}),
                )
                .await?;
            let d: easel_store::DenialRow =
                serde_json::from_value(v).map_err(|e| CliError::Failed(e.into()))?;
            crate::plugin::print_denied(&d, json)
        }
        PluginCommand::Revoke {
            plugin,
            schools_from: _,
            schools,
            json,
        } => {
            let v = client
                .post(
                    &format!("/api/v1/plugins/{}/revoke", seg(&plugin)),
                    &json!({"schools": schools}),
                )
                .await?;
            let revoked: Vec<u64> = v["revoked_schools"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_u64)
                .collect();
            crate::plugin::print_revoked(&plugin, &revoked, json)
        }
    }
}

fn print_approvals_remote(
    rows: &[easel_store::ApprovalRow],
    json: bool,
) -> Result<Outcome, CliError> {
    crate::plugin::print_approvals(rows, json, |_| Ok(false))
}

/// A run the server made, as `easel run` prints one.
fn print_run(v: &Value, json: bool) -> Result<Outcome, CliError> {
    if json {
        println!("{v:#}");
    } else {
        let row: easel_store::RunRow =
            serde_json::from_value(v.clone()).map_err(|e| CliError::Failed(e.into()))?;
        println!(
            "run {} of {} for {} ({}) on {}: {} in {:.2}s, {} Canvas call(s), {} denied",
            row.id,
            row.plugin_id,
            v["school_name"].as_str().unwrap_or_default(),
            row.school,
            row.instance,
            row.status.as_str(),
            row.duration_ms.unwrap_or(0) as f64 / 1000.0,
            row.calls,
            row.denied
        );
        if let Some(e) = &row.error {
            println!("  error: {}", easel_runtime::text::escape(e));
        }
        for o in &row.outputs {
            println!("  report: {}", report_hint(&row.id, o));
        }
        if row.dry_run {
            println!(
                "  dry run: {} write(s) planned; review with `easel runs show {} --plan`",
                row.plan.len(),
                row.id
            );
        }
    }
    let failed = v["status"].as_str() != Some("succeeded");
    Ok(if failed {
        Outcome::RunFailed
    } else {
        Outcome::Success
    })
}

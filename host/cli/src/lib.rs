//! The `easel` command line: every command's logic lives here so it can be
//! tested without spawning the binary.
//!
//! Exit codes: 0 success, 1 a run failed (or was refused), 2 bad input.

mod args;
mod audit_cmd;
mod client;
mod credentials_cmd;
mod db_cmd;
mod demo;
mod error;
mod many;
mod plugin;
mod run;
mod runs;
mod schedule_cmd;
mod schools_cmd;
mod user_cmd;

use std::process::ExitCode;

pub use args::{
    Args, Command, ConnectArgs, InstanceCommand, PluginCommand, RunArgs, RunsCommand, SimCommand,
    TokenCommand, VaultCommand,
};
pub use error::{CliError, Outcome};

use easel_app::{Actor, Home};

/// Write to standard output; a reader that closed early (`| head`) is not
/// an error.
fn write_stdout(bytes: &[u8]) -> Result<Outcome, CliError> {
    use std::io::Write;
    match std::io::stdout().write_all(bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::Failed(e.into())),
        _ => Ok(Outcome::Success),
    }
}

/// Print one JSON value (`--json`), pretty, on standard output.
pub(crate) fn json_out(v: &impl serde::Serialize) -> Result<Outcome, CliError> {
    let v = serde_json::to_value(v).map_err(|e| CliError::Failed(e.into()))?;
    write_stdout(format!("{v:#}\n").as_bytes())
}

/// Print `--json`'s value, or else the text.
pub(crate) fn say(
    json: bool,
    v: serde_json::Value,
    text: impl FnOnce(),
) -> Result<Outcome, CliError> {
    if json {
        return json_out(&v);
    }
    text();
    Ok(Outcome::Success)
}

/// Ctrl-C (SIGINT) or SIGTERM, whichever comes first.
async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

/// Run the parsed command and turn the result into an exit code, printing
/// errors as one line with their causes.
pub fn main(args: Args) -> ExitCode {
    init_tracing(args.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let json = args.wants_json();
    let home = args.home.clone();
    // Servers stop on a signal by themselves: `sim serve` saves its state,
    // `serve` lets the requests in flight finish.
    let own_stop = matches!(args.command, Command::Sim { .. } | Command::Serve { .. });
    let result = runtime.block_on(async {
        if own_stop {
            return Some(dispatch(args).await);
        }
        tokio::select! {
            r = dispatch(args) => Some(r),
            signal = stop_signal() => {
                // The runs this process started did not finish: say so in
                // their records and on stderr, rather than leave them
                // "running".
                easel_app::stop_recording();
                let ids = Home::open(home).map(|h| h.interrupt_own_runs()).unwrap_or_default();
                if !ids.is_empty() {
                    eprintln!(
                        "interrupted ({signal}): {} run(s) marked interrupted, their reports partial: {}; see `easel runs`",
                        ids.len(),
                        ids.join(", ")
                    );
                } else {
                    eprintln!("interrupted ({signal})");
                }
                None
            }
        }
    });
    // Work left on blocking threads (a run marked interrupted) ends with
    // the process; it is not waited for.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    let Some(result) = result else {
        return ExitCode::from(130);
    };
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::RunFailed) => ExitCode::from(1),
        // With --json, the error is a JSON object on standard error, and
        // standard output holds only results.
        Err(e) if json => {
            eprintln!("{}", e.to_json());
            ExitCode::from(e.exit_code())
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn init_tracing(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info,easel=debug",
        _ => "debug",
    };
    // tokio-postgres logs every statement's parameters at debug (password
    // and token hashes, sealed tokens among them): never below info,
    // whatever the level asked for.
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("EASEL_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level))
            .add_directive("tokio_postgres=info".parse().unwrap_or_else(|_| {
                tracing_subscriber::filter::Directive::from(tracing::Level::INFO)
            }));
    // Colour only on a terminal (and never with NO_COLOR): a log file or
    // journald gets plain text.
    use std::io::IsTerminal as _;
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

tokio::task_local! {
    /// Who the command acts as, when the caller (a test, the demo) says.
    static ACTING: Actor;
}

/// Run one command as `actor` instead of the local principal (for
/// in-process callers such as tests).
pub async fn dispatch_as(args: Args, actor: Actor) -> Result<Outcome, CliError> {
    ACTING.scope(actor, dispatch(args)).await
}

/// Run one command.
pub async fn dispatch(mut args: Args) -> Result<Outcome, CliError> {
    // `--schools-from FILE` is read here, once, for local and server use.
    if let Command::Plugin {
        command:
            PluginCommand::Approve {
                schools,
                schools_from,
                ..
            }
            | PluginCommand::Revoke {
                schools,
                schools_from,
                ..
            },
    } = &mut args.command
        && let Some(path) = schools_from.take()
    {
        schools.extend(crate::args::schools_file(&path).map_err(CliError::input)?);
        let mut seen = std::collections::HashSet::new();
        schools.retain(|s| seen.insert(*s));
    }
    // Commands that need no data directory.
    match &args.command {
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut text = Vec::new();
            clap_complete::generate(*shell, &mut Args::command(), "easel", &mut text);
            return write_stdout(&text);
        }
        Command::Man => {
            use clap::CommandFactory;
            let mut text = Vec::new();
            clap_mangen::Man::new(Args::command())
                .render(&mut text)
                .map_err(|e| CliError::Failed(e.into()))?;
            return write_stdout(&text);
        }
        Command::Plugin {
            command: PluginCommand::Build { dir, json },
        } if args.connect.instance.is_none() && args.connect.token.is_none() => {
            return plugin::build(dir, *json);
        }
        Command::Plugin {
            command:
                PluginCommand::New {
                    name,
                    lang,
                    writes,
                    dir,
                    sdk,
                    json,
                },
        } if args.connect.instance.is_none() && args.connect.token.is_none() => {
            return plugin::new(name, lang, *writes, dir.as_deref(), sdk.as_deref(), *json);
        }
        Command::Plugin {
            command:
                PluginCommand::Test {
                    dir,
                    scenario,
                    live,
                    json,
                },
        } if args.connect.instance.is_none() && args.connect.token.is_none() => {
            return plugin::test(dir, scenario.as_deref(), *live, *json).await;
        }
        _ => {}
    }
    // --instance and --token are global options: a command they mean
    // nothing to refuses them rather than ignore them.
    let (instance_ok, token_ok) = args.command.uses_connect();
    for (given, ok, flag, applies) in [
        (
            args.connect.instance.is_some(),
            instance_ok,
            "--instance",
            args::INSTANCE_COMMANDS,
        ),
        (
            args.connect.token.is_some(),
            token_ok,
            "--token",
            args::TOKEN_COMMANDS,
        ),
    ] {
        if given && !ok {
            return Err(CliError::input(format!(
                "{flag} does not apply to this command, which would ignore it: drop it ({flag} is for {applies})"
            )));
        }
    }
    match &args.command {
        Command::Login {
            server,
            name,
            with_token,
            canvas: true,
            ca_cert,
            json,
        } => {
            debug_assert!(name.is_none() && !with_token);
            let instance = args.connect.instance.as_deref();
            return client::login_with_canvas(server, instance, ca_cert.clone(), *json).await;
        }
        Command::Login {
            server,
            name,
            with_token,
            ca_cert,
            json,
            ..
        } => {
            return client::login(server, name.clone(), *with_token, ca_cert.clone(), *json).await;
        }
        Command::Logout { json } => return client::logout(*json).await,
        _ => {}
    }
    // Signed in to a server: these commands go through it.
    if !args.local
        && ACTING.try_with(|_| ()).is_err()
        && (client::routed(&args.command) || client::needs_local_data(&args.command))
        && let Some(c) = client::Client::configured()?
    {
        if args.connect.instance.is_some() || args.connect.token.is_some() {
            return Err(CliError::input(format!(
                "you are signed in to {}, where a run uses its grant's instance and token and listings the server's:                  drop --instance and --token, or add --local to work on this machine's data directory",
                c.base()
            )));
        }
        if !client::routed(&args.command) {
            return Err(CliError::input(format!(
                "you are signed in to {}, and this command does not go through a server yet: \
                 run it on the server's machine, or add --local to work on this machine's data directory",
                c.base()
            )));
        }
        return client::dispatch(&c, args.command).await;
    }
    // A lost master key: the data directory does not open, so this runs
    // without it.
    if let Command::Vault {
        command: VaultCommand::Reset {
            forget_tokens,
            json,
        },
    } = &args.command
    {
        return credentials_cmd::vault_reset(
            &easel_app::root_dir(args.home.clone()),
            *forget_tokens,
            *json,
        );
    }
    // The database itself: no data directory needs to open.
    if let Command::Db { .. } = &args.command {
        let root = easel_app::root_dir(args.home.clone());
        if let Command::Db { command } = args.command {
            return db_cmd::command(&root, command);
        }
    }
    // `easel serve --database URL` keeps the state there.
    let home = match &args.command {
        Command::Serve {
            database: Some(url),
            ..
        } => Home::open_in(
            args.home.clone(),
            easel_app::database::Database::parse(url)?,
        )?,
        _ => Home::open(args.home.clone())?,
    };
    // A token that does not sign in is an error for every command, not a
    // silent fallback to the OS user.
    local_actor(&home)?;
    let connect = args.connect.options();
    let args = Args {
        connect: args.connect,
        ..args
    };
    match args.command {
        Command::Completions { .. } | Command::Man | Command::Db { .. } => Ok(Outcome::Success),
        Command::Plugin { command } => plugin::dispatch(&home, command, &connect).await,
        Command::Run(run) => run::command(&home, run, &connect).await,
        Command::User { command } => user_cmd::command(&home, command),
        Command::Plan {
            command: args::PlanCommand::Apply { run, json },
        } => run::apply(&home, &run, json, &connect).await,
        Command::Runs {
            command,
            limit,
            plugin,
            school,
            status,
            since,
            batch,
            json,
        } => {
            let filter = easel_store::RunFilter {
                plugin,
                school,
                status,
                since,
                batch,
                instance: None,
            };
            runs::dispatch(&home, command, limit, &filter, json)
        }
        Command::Schools {
            command:
                Some(args::SchoolsCommand::SisPrefix {
                    school,
                    prefix,
                    clear,
                    json,
                }),
            ..
        } => schools_cmd::sis_prefix(&home, &connect, school, prefix, clear, json).await,
        Command::Schools {
            json,
            command: None,
        } => schools_cmd::schools(&home, &connect, json).await,
        Command::Schedule { command } => schedule_cmd::command(&home, command),
        Command::Backup { file, json } => {
            easel_app::settings::backup(&home, &local_actor(&home)?, &file)?;
            let bytes = std::fs::metadata(&file).map(|m| m.len()).ok();
            say(
                json,
                serde_json::json!({"file": file, "bytes": bytes}),
                || {
                    println!(
                        "wrote a copy of the database to {}; restore it as easel.db in a data directory beside its master.key (kept apart)",
                        file.display()
                    )
                },
            )
        }
        Command::Instance { command } => credentials_cmd::instance(&home, command).await,
        Command::Token { command } => credentials_cmd::token(&home, command, &connect).await,
        Command::Vault { command } => credentials_cmd::vault(&home, command),
        Command::Demo { serve: false } => demo::demo(&home).await,
        Command::Demo { serve: true } => demo::demo_serve(&home).await,
        Command::Audit { command } => audit_cmd::command(&home, command).await,
        Command::Config { command } => plugin::config(&home, command),
        Command::Sim { command } => serve_simulator(command, |_| {}, stopped()).await,
        Command::Serve {
            listen,
            database: _,
            insecure_listen,
            tls_cert,
            tls_key,
            public_url,
            workers,
            per_instance,
            grace,
            lease,
            failure_webhook,
            failure_webhook_key,
        } => {
            let webhook = match failure_webhook.zip(failure_webhook_key) {
                None => None,
                Some((url, key)) => {
                    let bytes = std::fs::read(&key).map_err(|e| {
                        CliError::input(format!("--failure-webhook-key {}: {e}", key.display()))
                    })?;
                    Some(easel_server::notify::Webhook::new(&url, &bytes)?)
                }
            };
            let tls = tls_cert.zip(tls_key);
            let listening = Listening {
                listen: &listen,
                insecure_listen,
                tls,
                public_url: public_url.as_deref(),
                queue: easel_app::queue::QueueConfig {
                    workers: workers as usize,
                    per_instance: per_instance as usize,
                    lease,
                    ..Default::default()
                },
                grace,
                webhook,
            };
            serve(&home, listening, |_| {}, stopped()).await
        }
        Command::Login { .. } | Command::Logout { .. } => Ok(Outcome::Success),
    }
}

/// `easel sim serve`, until `stop` resolves; `on_start` sees the running
/// simulator (tests use it to reach it).
pub async fn serve_simulator(
    command: args::SimCommand,
    on_start: impl FnOnce(&easel_sim::SimHandle),
    stop: impl std::future::Future<Output = Result<(), CliError>>,
) -> Result<Outcome, CliError> {
    let args::SimCommand::Serve {
        port,
        preset,
        seed,
        no_throttle,
        state,
        sign_in_redirect,
    } = command;
    let preset = match preset.as_str() {
        "demo" => easel_sim::Preset::Demo,
        "district" => easel_sim::Preset::District,
        other => {
            return Err(CliError::input(format!(
                "--preset {other:?}: use demo or district"
            )));
        }
    };
    let snapshot = match &state {
        Some(path) => easel_sim::Snapshot::load(path).map_err(|e| {
            CliError::input(format!("--state {}: cannot read it: {e}", path.display()))
        })?,
        None => None,
    };
    let loaded = snapshot.is_some();
    let throttle = easel_sim::ThrottleConfig {
        enabled: !no_throttle,
        ..Default::default()
    };
    let sim = easel_sim::Simulator::start(easel_sim::SimConfig {
        preset,
        seed,
        port,
        throttle,
        snapshot,
        ..Default::default()
    })
    .await
    .map_err(|e| CliError::input(format!("cannot listen on 127.0.0.1:{port}: {e}")))?;
    let schools = sim.with_data(|d| d.schools().len());
    match &state {
        Some(path) if loaded => println!(
            "Canvas simulator at {} ({schools} schools, data from {})",
            sim.url(),
            path.display()
        ),
        _ => println!(
            "Canvas simulator at {} ({schools} schools, seed {seed})",
            sim.url()
        ),
    }
    for (role, user, token) in sim.role_tokens() {
        println!("{:<34} user {user:<6} token {token}", role.name());
    }
    if let Some(redirect) = &sign_in_redirect {
        let (client_id, secret) = sim.add_developer_key_for(redirect);
        println!(
            "developer key for Sign in with Canvas: client id {client_id}, secret {secret} (redirect URI {redirect}); add sim_user=<user id> at the authorization page"
        );
    }
    match &state {
        Some(path) => println!(
            "(simulated data and tokens only; Ctrl-C stops it and saves the data to {})",
            path.display()
        ),
        None => println!("(simulated data and tokens only; Ctrl-C stops it)"),
    }
    on_start(&sim);
    stop.await?;
    if let Some(path) = &state {
        sim.snapshot().save(path).map_err(|e| {
            CliError::Failed(anyhow::anyhow!(
                "cannot save the simulator's data to {}: {e}",
                path.display()
            ))
        })?;
        println!("saved the simulator's data to {}", path.display());
    }
    Ok(Outcome::Success)
}

/// Wait for Ctrl-C (or, on Unix, SIGTERM).
fn stopped() -> impl std::future::Future<Output = Result<(), CliError>> + Send + 'static {
    // The handlers are installed now, not when the future is first polled:
    // a signal that comes between start-up and the first poll is caught too.
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let streams = signal(SignalKind::terminate())
            .and_then(|term| signal(SignalKind::interrupt()).map(|int| (term, int)));
        async move {
            let (mut term, mut int) = streams.map_err(|e| CliError::Failed(e.into()))?;
            tokio::select! {
                _ = int.recv() => Ok(()),
                _ = term.recv() => Ok(()),
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            tokio::signal::ctrl_c()
                .await
                .map_err(|e| CliError::Failed(e.into()))
        }
    }
}

/// Who a local command acts as: the principal whose API token is in
/// `EASEL_API_TOKEN` (checked against this data directory), else the OS
/// user, who holds the data directory and so is all-powerful.
pub(crate) fn local_actor(home: &Home) -> Result<Actor, CliError> {
    if let Ok(actor) = ACTING.try_with(Actor::clone) {
        return Ok(actor);
    }
    match std::env::var("EASEL_API_TOKEN") {
        Ok(token) if !token.trim().is_empty() => {
            let p = home.principals();
            Ok(p.authenticate(token.trim(), "local")?)
        }
        _ => Ok(easel_app::process::local_actor()),
    }
}

/// Where and how `easel serve` listens.
pub struct Listening<'a> {
    /// Address and port.
    pub listen: &'a str,
    /// Allow a non-loopback address without TLS.
    pub insecure_listen: bool,
    /// Certificate chain and key (PEM files).
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// The URL people reach the server at (default: the listen address).
    pub public_url: Option<&'a str>,
    /// How many runs at once.
    pub queue: easel_app::queue::QueueConfig,
    /// How long runs in flight may take to finish when it stops.
    pub grace: std::time::Duration,
    /// Where failed runs are reported.
    pub webhook: Option<easel_server::notify::Webhook>,
}

/// `easel serve`, until `stop` resolves; `on_listen` learns the address
/// (tests listen on port 0).
pub async fn serve(
    home: &Home,
    listening: Listening<'_>,
    on_listen: impl FnOnce(std::net::SocketAddr),
    stop: impl std::future::Future<Output = Result<(), CliError>> + Send + 'static,
) -> Result<Outcome, CliError> {
    let Listening {
        listen,
        insecure_listen,
        tls,
        public_url,
        queue,
        grace,
        webhook,
    } = listening;
    let addr: std::net::SocketAddr = listen.parse().map_err(|_| {
        CliError::input(format!(
            "--listen takes an address and port such as 127.0.0.1:7070, not {listen:?}"
        ))
    })?;
    if !addr.ip().is_loopback() && tls.is_none() && !insecure_listen {
        return Err(CliError::input(format!(
            "{addr} is not a loopback address: serve HTTPS with --tls-cert and --tls-key, or put a TLS proxy in front and add --insecure-listen"
        )));
    }
    let config = match &tls {
        Some((cert, key)) => Some(easel_server::tls_config(cert, key)?),
        None => None,
    };
    let server = easel_server::Server::with_database(
        home.root().to_path_buf(),
        home.cache_override(),
        queue,
        home.database().clone(),
    )?;
    server.set_grace(grace);
    if let Some(webhook) = webhook {
        eprintln!(
            "easel serve: runs that do not succeed are reported to the failure webhook at {}",
            webhook.host()
        );
        server.set_webhook(webhook);
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| CliError::input(format!("cannot listen on {addr}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| CliError::Failed(e.into()))?;
    let scheme = if config.is_some() { "https" } else { "http" };
    let public = public_url
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{scheme}://{bound}"));
    server.set_public_url(&public)?;
    eprintln!(
        "easel serve: the API is at {scheme}://{bound}/api/v1 (data in {}); Ctrl-C stops it",
        home.root().display()
    );
    eprintln!(
        "easel serve: the web console is at {}/console",
        public.trim_end_matches('/')
    );
    if let Some(node) = server.node() {
        node.set_address(&public);
        eprintln!(
            "easel serve: state in PostgreSQL {}; this host is node {}, spending the tokens whose lease it holds (docs/DEPLOY.md)",
            home.database().describe(),
            node.id()
        );
    }
    let canvas = easel_app::canvas_sign_in::instances(home)?;
    if !canvas.is_empty() {
        eprintln!(
            "Sign in with Canvas ({}): the developer key's redirect URI is {}/auth/canvas/callback",
            canvas
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            public.trim_end_matches('/')
        );
    }
    on_listen(bound);
    let stop = async move {
        let _ = stop.await;
    };
    let scheduler = easel_server::spawn_scheduler(server.clone());
    let served = match config {
        Some(config) => easel_server::serve_tls(listener, config, server, stop).await,
        None => easel_server::serve(listener, server, stop).await,
    };
    scheduler.abort();
    served.map_err(|e| CliError::Failed(e.into()))?;
    Ok(Outcome::Success)
}

//! `easel serve`'s durable run queue. A run asked of the server is first a
//! row in the runs table (`queued`), checked as a run is and holding
//! everything its worker needs. Workers claim the oldest row they have room
//! for, holding a lease they renew while it runs; a run whose lease runs
//! out, or whose process ended, is marked `interrupted` with its counts
//! from the audit log and is never run again. Runs left queued when the
//! server stops wait for it to start again.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use easel_runtime::{Limits, Runtime, School};
use easel_store::{Action, AuditEntry, NewRun, RunRow, RunStatus};
use serde::{Deserialize, Serialize};

use crate::batch::{BatchRequest, BatchResult, BatchRow};
use crate::connection::Connection;
use crate::error::{AppError, Kind};
use crate::home::Home;
use crate::pool::Connections;
use crate::principal::{Actor, Role, SignIn};
use crate::run::{PlanRef, RunRequest, RunResult, launch, new_run_id, prepare};

/// How many runs a server runs at once, and how long a claim holds.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// Runs at once, in all.
    pub workers: usize,
    /// Runs at once on one Canvas instance (so on its token).
    pub per_instance: usize,
    /// How long a claim holds without a heartbeat; renewed every third of
    /// it. A run whose lease runs out is marked interrupted.
    pub lease: Duration,
    /// How often an idle worker looks for queued runs (a run queued here
    /// wakes it at once).
    pub poll: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            workers: 16,
            per_instance: 8,
            lease: Duration::from_secs(30),
            poll: Duration::from_millis(500),
        }
    }
}

/// What a queued run's worker needs besides the run row.
#[derive(Debug, Serialize, Deserialize)]
struct Queued {
    /// Who asked (their roles then; the worker keeps only those they still
    /// hold).
    actor: Actor,
    /// The school's name, as looked up when queued.
    school_name: String,
    /// Most writes.
    max_writes: Option<u32>,
    /// The reviewed plan it follows.
    plan: Option<QueuedPlan>,
    /// The schedule whose fire queued it.
    #[serde(default)]
    schedule: Option<String>,
    /// The interrupted run it runs again.
    #[serde(default)]
    retry_of: Option<String>,
}

/// Where a queued run comes from, besides who asked.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The schedule whose fire queued it.
    pub schedule: Option<String>,
    /// The interrupted run it runs again.
    pub retry_of: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct QueuedPlan {
    run: String,
    apply_only: bool,
}

/// A run put in the queue.
#[derive(Debug, Clone, Serialize)]
pub struct QueuedRun {
    /// Run id.
    pub run: String,
    /// School account.
    pub school: u64,
    /// Its name.
    pub school_name: String,
}

/// Check `req` as a run is checked (who asks, the approval and its terms,
/// the plan, the stored bytes, the school), then put it in the queue. A
/// run that would be refused now is refused now, not queued.
pub async fn enqueue(
    home: &Home,
    by: &Actor,
    conn: &Connection,
    req: RunRequest,
    known: Option<School>,
    batch: Option<String>,
) -> Result<QueuedRun, AppError> {
    enqueue_from(home, by, conn, req, known, batch, Origin::default()).await
}

/// [`enqueue`], saying where the run comes from.
pub async fn enqueue_from(
    home: &Home,
    by: &Actor,
    conn: &Connection,
    req: RunRequest,
    known: Option<School>,
    batch: Option<String>,
    origin: Origin,
) -> Result<QueuedRun, AppError> {
    let prepared = prepare(home, by, conn, &req, known, None).await?;
    let id = new_run_id();
    let queued = Queued {
        actor: by.clone(),
        school_name: prepared.school.name.clone(),
        max_writes: req.limits.max_writes,
        plan: req.plan.as_ref().map(|p| QueuedPlan {
            run: p.run.clone(),
            apply_only: p.apply_only,
        }),
        schedule: origin.schedule.clone(),
        retry_of: origin.retry_of.clone(),
    };
    let request = serde_json::to_string(&queued).map_err(AppError::internal)?;
    home.audit(&AuditEntry {
        actor: by.audit_name(),
        instance: Some(conn.instance.clone()),
        school: Some(prepared.school.id),
        plugin: Some(prepared.row.id.clone()),
        digest: Some(prepared.row.digest.clone()),
        run: Some(id.clone()),
        detail: Some(format!(
            "queued {}{}; params {}",
            if req.dry_run { "dry run" } else { "live run" },
            origin
                .retry_of
                .as_ref()
                .map(|r| format!(", again for interrupted run {r}"))
                .unwrap_or_default(),
            serde_json::to_string(&prepared.params).unwrap_or_default()
        )),
        ..AuditEntry::new(by.audit_name(), Action::RunQueued)
    })?;
    home.store
        .enqueue_run(
            &NewRun {
                id: id.clone(),
                plugin_id: prepared.row.id.clone(),
                digest: prepared.row.digest.clone(),
                school: prepared.school.id,
                instance: conn.instance.clone(),
                dry_run: req.dry_run,
                params: prepared.params.clone(),
                applies: req.plan.as_ref().map(|p| p.run.clone()),
                owner: None,
                batch,
                token: conn.token_id.clone(),
            },
            &request,
        )
        .map_err(|e| match e {
            easel_store::StoreError::Invalid(m) => AppError::invalid(m),
            e => e.into(),
        })?;
    Ok(QueuedRun {
        run: id,
        school: prepared.school.id,
        school_name: prepared.school.name,
    })
}

/// A batch put in the queue: one run per school, or why a school's was
/// not queued.
#[derive(Debug)]
pub struct QueuedBatch {
    /// The batch id.
    pub batch: String,
    /// The Canvas instance.
    pub instance: String,
    /// Per school, in order: its run, or why it was not queued.
    pub runs: Vec<(u64, String, Result<String, AppError>)>,
    /// When it was queued.
    pub started: Instant,
    /// Throttled answers on the token when it was queued.
    pub throttled_before: u64,
}

impl QueuedBatch {
    /// The runs queued.
    pub fn run_ids(&self) -> Vec<String> {
        self.runs
            .iter()
            .filter_map(|(_, _, r)| r.as_ref().ok().cloned())
            .collect()
    }
}

/// Queue `req` for each of `schools` (from [`crate::batch_schools`]), as
/// one batch. A school whose run is refused is reported, not fatal.
pub async fn enqueue_batch(
    home: &Home,
    by: &Actor,
    conn: &Connection,
    req: &BatchRequest,
    schools: &[u64],
    schedule: Option<&str>,
) -> Result<QueuedBatch, AppError> {
    // One paged listing names most schools; the rest are looked up.
    let names: HashMap<u64, School> = conn
        .schools()
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let batch = new_run_id();
    let mut runs = Vec::with_capacity(schools.len());
    for &school in schools {
        let run = RunRequest {
            plugin: req.plugin.clone(),
            school,
            dry_run: req.dry_run,
            params: req.params.clone(),
            limits: Limits {
                max_writes: req.max_writes,
                ..Limits::default()
            },
            plan: None,
        };
        let known = names.get(&school).cloned();
        let name = known.as_ref().map(|s| s.name.clone()).unwrap_or_default();
        let origin = Origin {
            schedule: schedule.map(str::to_owned),
            retry_of: None,
        };
        let queued = enqueue_from(home, by, conn, run, known, Some(batch.clone()), origin).await;
        runs.push((school, name, queued.map(|q| q.run)));
    }
    Ok(QueuedBatch {
        batch,
        instance: conn.instance.clone(),
        runs,
        started: Instant::now(),
        throttled_before: conn.client.governor().stats().throttled,
    })
}

/// Who a claimed run runs as: who asked, with those of the roles they had
/// then that they still hold (a local command's stay). Refused when the
/// user is gone or disabled.
fn current_actor(home: &Home, asked: &Actor) -> Result<Actor, AppError> {
    if matches!(asked.via, SignIn::Local(_)) {
        return Ok(asked.clone());
    }
    let user = home
        .store
        .user(&asked.name)?
        .filter(|u| u.disabled_at.is_none())
        .ok_or_else(|| {
            AppError::forbidden(format!(
                "{} asked for this run and is now disabled or gone",
                asked.name
            ))
        })?;
    if let SignIn::ApiToken(id) = &asked.via {
        let token = home.store.api_token(id)?;
        let live = token.as_ref().is_some_and(|t| {
            t.user_name == asked.name
                && t.revoked_at.is_none()
                && t.expires_at.as_deref().is_none_or(|e| {
                    time::OffsetDateTime::parse(e, &time::format_description::well_known::Rfc3339)
                        .is_ok_and(|at| at > time::OffsetDateTime::now_utc())
                })
        });
        if !live {
            return Err(AppError::forbidden(format!(
                "the API token {id} that asked for this run was revoked or has expired"
            )));
        }
    }
    let now: Vec<Role> = serde_json::from_str(&user.roles).unwrap_or_default();
    Ok(Actor {
        roles: asked
            .roles
            .iter()
            .filter(|r| now.contains(r))
            .cloned()
            .collect(),
        ..asked.clone()
    })
}

/// Run a claimed run (its record `running`, leased to this process) on
/// `conn`. It is checked again first, as its asker now: a run no longer
/// admitted (approval revoked or changed, role taken away, plan expired)
/// ends `refused`, with why, and sends nothing.
pub async fn execute_claimed(
    home: &Home,
    conn: &Connection,
    runtime: &Runtime,
    row: &RunRow,
) -> Result<RunResult, AppError> {
    let checked = async {
        let raw = home.store.run_request(&row.id)?.ok_or_else(|| {
            AppError::internal(anyhow::anyhow!("queued run {} has no request", row.id))
        })?;
        let queued: Queued = serde_json::from_str(&raw).map_err(|e| {
            AppError::internal(anyhow::anyhow!(
                "queued run {} has an unreadable request: {e}",
                row.id
            ))
        })?;
        let actor = current_actor(home, &queued.actor)?;
        let req = RunRequest {
            plugin: row.plugin_id.clone(),
            school: row.school,
            dry_run: row.dry_run,
            params: row.params.clone(),
            limits: Limits {
                max_writes: queued.max_writes,
                ..Limits::default()
            },
            plan: queued.plan.map(|p| PlanRef {
                run: p.run,
                apply_only: p.apply_only,
            }),
        };
        let known = School {
            id: row.school,
            name: queued.school_name,
        };
        // The approval first: a revoked one says so.
        let prepared = prepare(home, &actor, conn, &req, Some(known), Some(&row.id)).await?;
        if conn.instance != row.instance {
            return Err(AppError::invalid(format!(
                "the run was queued for instance {} and its grant now names {}: run it again",
                row.instance, conn.instance
            )));
        }
        // It was claimed for the token it named (with many hosts, by the
        // host that holds that token): a grant moved to another token
        // meanwhile would spend that one, perhaps beside its holder.
        if row.token.is_some() && conn.token_id != row.token {
            return Err(AppError::invalid(format!(
                "the run was queued on token {} and its grant now uses {}: queue it again",
                row.token.as_deref().unwrap_or("none"),
                conn.token_id.as_deref().unwrap_or("none")
            )));
        }
        if prepared.row.digest != row.digest {
            return Err(AppError::invalid(format!(
                "the approved version of {} changed since the run was queued ({} then, {} now): queue it again",
                row.plugin_id,
                &row.digest[..12.min(row.digest.len())],
                &prepared.row.digest[..12.min(prepared.row.digest.len())]
            )));
        }
        Ok((actor, req, prepared))
    }
    .await;
    match checked {
        Ok((actor, req, prepared)) => {
            let ran = launch(
                home,
                &actor,
                conn,
                runtime,
                req,
                prepared,
                row.batch.clone(),
                Some(row.id.clone()),
            )
            .await;
            if let Err(e) = &ran
                && !crate::run_audit::recording_stopped()
            {
                // Not started, or its end not recorded: it must not stay
                // "running" (unless the process is stopping: then it is
                // marked interrupted).
                let _ = home
                    .store
                    .fail_claimed_run(&row.id, &format!("could not be run or recorded: {e}"));
            }
            ran
        }
        Err(e) => {
            refuse(home, row, &e);
            Err(e)
        }
    }
}

/// End a claimed run that may not run, with why (in its record and the
/// audit log).
fn refuse(home: &Home, row: &RunRow, why: &AppError) {
    let message = format!("refused when its turn came: {why}");
    if let Err(e) = home.store.refuse_run(&row.id, &message) {
        tracing::warn!(run = %row.id, "cannot record a refused run: {e}");
    }
    let _ = home.audit(&AuditEntry {
        instance: Some(row.instance.clone()),
        school: Some(row.school),
        plugin: Some(row.plugin_id.clone()),
        digest: Some(row.digest.clone()),
        run: Some(row.id.clone()),
        detail: Some(message),
        ..AuditEntry::new("queue", Action::RunFailed)
    });
}

/// What a queue's workers need from the process they run in.
pub trait QueueHost: Send + Sync + 'static {
    /// A handle on the data directory (each run opens its own).
    fn open_home(&self) -> Result<Home, AppError>;
    /// The connections (and token governors) runs share.
    fn connections(&self) -> &Connections;
    /// The runtime runs share.
    fn runtime(&self) -> &Runtime;
    /// The queue.
    fn queue(&self) -> &Queue;

    /// With many hosts (PostgreSQL), this host's membership: it claims
    /// only runs on tokens whose lease it holds. `None`: one host.
    fn node(&self) -> Option<&Arc<crate::nodes::Node>> {
        None
    }

    /// The tokens whose lease this host holds (it claims only runs that
    /// spend one of them, or none); `None`: one host, holding every token.
    fn owned_tokens(&self) -> Option<Vec<String>> {
        self.node().map(|n| n.owned())
    }
    /// Runs `ids` ended here (or were marked interrupted): e.g. tell
    /// someone about those that failed.
    fn runs_ended(&self, ids: &[String]) {
        let _ = ids;
    }
}

/// One process's side of the queue: what it runs now, and whether it
/// still takes runs.
pub struct Queue {
    config: QueueConfig,
    owner: String,
    stopping: AtomicBool,
    /// Runs in flight here, by id, with their instance.
    running: Mutex<HashMap<String, String>>,
    wake: tokio::sync::Notify,
    ended: tokio::sync::Notify,
    /// Set once the claim loop has stopped (no claim is under way).
    claims_done: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("config", &self.config)
            .field("owner", &self.owner)
            .field("running", &self.in_flight().len())
            .finish()
    }
}

impl Queue {
    /// A queue for this process.
    pub fn new(config: QueueConfig) -> Self {
        Self::with_owner(config, crate::process::me())
    }

    /// A queue whose runs (and, with many hosts, whose node) are named
    /// `owner`: several nodes in one process (tests) need names of their
    /// own.
    pub fn with_owner(config: QueueConfig, owner: String) -> Self {
        Self {
            config: QueueConfig {
                workers: config.workers.max(1),
                per_instance: config.per_instance.max(1),
                ..config
            },
            owner,
            stopping: AtomicBool::new(false),
            running: Mutex::new(HashMap::new()),
            wake: tokio::sync::Notify::new(),
            ended: tokio::sync::Notify::new(),
            claims_done: tokio::sync::watch::channel(false).0,
        }
    }

    fn claiming_ended(&self) {
        self.claims_done.send_replace(true);
    }

    /// Wait (up to `limit`) until the claim loop has stopped, after
    /// [`Queue::stop_claiming`]: a claim under way ends first.
    pub async fn claims_stopped(&self, limit: Duration) {
        let mut done = self.claims_done.subscribe();
        let _ = tokio::time::timeout(limit, done.wait_for(|d| *d)).await;
    }

    /// This process as the owner of the runs it claims (and, with many
    /// hosts, its node id).
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Its configuration.
    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    /// Does it take new runs? (Not once the server is stopping.)
    pub fn accepting(&self) -> bool {
        !self.stopping.load(Ordering::SeqCst)
    }

    /// Refused unless it takes new runs.
    pub fn require_accepting(&self) -> Result<(), AppError> {
        if self.accepting() {
            return Ok(());
        }
        Err(AppError::new(
            Kind::Conflict,
            "easel serve is stopping and takes no new runs",
        )
        .hint("ask again once it is back"))
    }

    /// A run was queued: look now, not at the next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stop claiming runs (those queued wait for the next start).
    pub fn stop_claiming(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.wake.notify_waiters();
        self.ended.notify_waiters();
    }

    /// The runs in flight in this process.
    pub fn in_flight(&self) -> Vec<String> {
        self.running
            .lock()
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Wait up to `grace` for the runs in flight to end; returns those
    /// still going.
    pub async fn wait_idle(&self, grace: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let left = self.in_flight();
            if left.is_empty() {
                return left;
            }
            let ended = self.ended.notified();
            if tokio::time::timeout_at(deadline, ended).await.is_err() {
                return self.in_flight();
            }
        }
    }

    fn busy_instances(&self) -> Option<Vec<String>> {
        let running = self.running.lock().ok()?;
        if running.len() >= self.config.workers {
            return None;
        }
        let mut per: HashMap<&str, usize> = HashMap::new();
        for instance in running.values() {
            *per.entry(instance.as_str()).or_default() += 1;
        }
        Some(
            per.into_iter()
                .filter(|(_, n)| *n >= self.config.per_instance)
                .map(|(i, _)| i.to_owned())
                .collect(),
        )
    }

    fn started(&self, row: &RunRow) {
        if let Ok(mut r) = self.running.lock() {
            r.insert(row.id.clone(), row.instance.clone());
        }
    }

    fn finished(&self, id: &str) {
        if let Ok(mut r) = self.running.lock() {
            r.remove(id);
        }
        self.ended.notify_waiters();
        self.wake.notify_one();
    }
}

/// Claim the next queued run this process may run (none on the instances
/// in `busy`). A run claimed as the queue stops claiming goes back to the
/// queue, for the next start: put back here, in the claim's own (blocking)
/// step, which ends even when the workers' task is aborted meanwhile.
pub fn claim_next<H: QueueHost + ?Sized>(
    host: &H,
    home: &Home,
    busy: &[String],
) -> easel_store::Result<Option<RunRow>> {
    let queue = host.queue();
    let lease = easel_store::now_ms() + queue.config.lease.as_millis() as i64;
    let tokens = host.owned_tokens();
    let row = home
        .store
        .claim_run(&queue.owner, lease, busy, tokens.as_deref())?;
    match row {
        Some(row) if !queue.accepting() => {
            put_back(home, &row, &queue.owner);
            Ok(None)
        }
        row => Ok(row),
    }
}

/// Put a run this process claimed but will not start back in the queue,
/// for the next start; a failure is logged (the run then stays `running`
/// until a start or a sweep marks it interrupted).
fn put_back(home: &Home, row: &RunRow, owner: &str) {
    if let Err(e) = home.store.release_run(&row.id, owner) {
        tracing::warn!(run = %row.id, "cannot put a run back in the queue: {e}");
    }
}

/// Claim and run queued runs in this process until the task is aborted or
/// the queue stops claiming; renew the leases of the runs in flight; mark
/// interrupted the runs whose process ended or whose lease ran out (at
/// start, then every lease period).
pub fn spawn_workers<H: QueueHost>(host: Arc<H>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let config = host.queue().config().clone();
        // Aborting the workers (dropping this task) stops these too: a
        // process whose workers are gone renews no lease.
        let heartbeat = AbortOnDrop(tokio::spawn(heartbeat(host.clone(), config.lease / 3)));
        let sweeper = AbortOnDrop(tokio::spawn(sweep(host.clone(), config.lease)));
        let balancer = host
            .node()
            .map(|n| AbortOnDrop(tokio::spawn(balance(host.clone(), n.lease() / 3))));
        let mut home: Option<Home> = None;
        loop {
            if !host.queue().accepting() {
                break;
            }
            let mut claimed_any = false;
            while let Some(busy) = host.queue().busy_instances() {
                if !host.queue().accepting() {
                    break;
                }
                let h = host.clone();
                let held = home.take();
                let claimed = tokio::task::spawn_blocking(move || {
                    let home = match held {
                        Some(home) => home,
                        None => h.open_home()?,
                    };
                    let row = claim_next(&*h, &home, &busy);
                    Ok::<_, AppError>((home, row))
                })
                .await;
                let row = match claimed {
                    Ok(Ok((h, Ok(row)))) => {
                        home = Some(h);
                        row
                    }
                    Ok(Ok((h, Err(e)))) => {
                        home = Some(h);
                        tracing::warn!("the queue could not claim a run: {e}");
                        None
                    }
                    Ok(Err(e)) => {
                        tracing::warn!("the queue cannot open the data directory: {}", e.message);
                        None
                    }
                    Err(e) => {
                        tracing::warn!("the queue's claim failed: {e}");
                        None
                    }
                };
                let Some(row) = row else { break };
                if !host.queue().accepting() {
                    // Claimed as the process began to stop: back to the
                    // queue, for the next start.
                    if let Some(h) = &home {
                        put_back(h, &row, &host.queue().owner);
                    }
                    break;
                }
                claimed_any = true;
                host.queue().started(&row);
                tokio::spawn(run_claimed(host.clone(), row));
            }
            if claimed_any {
                continue;
            }
            let _ = tokio::time::timeout(config.poll, host.queue().wake.notified()).await;
        }
        host.queue().claiming_ended();
        drop(heartbeat);
        drop(sweeper);
        // The leases of runs still going are renewed until they end (and
        // the node keeps their tokens meanwhile).
        let lease = config.lease;
        while !host.queue().in_flight().is_empty() {
            renew(&host, lease).await;
            tokio::time::sleep(lease / 3).await;
        }
        if let Some(balancer) = balancer {
            drop(balancer);
            let h = host.clone();
            let _ = tokio::task::spawn_blocking(move || {
                if let Some(n) = h.node() {
                    n.leave();
                }
            })
            .await;
        }
    })
}

/// Run one claimed run to its end, on its grant's connection.
async fn run_claimed<H: QueueHost>(host: Arc<H>, row: RunRow) {
    let id = row.id.clone();
    let h = host.clone();
    let ran = tokio::task::spawn_blocking(move || {
        let handle = tokio::runtime::Handle::current();
        let home = match h.open_home() {
            Ok(home) => home,
            Err(e) => {
                // Once more, to record why it did not run.
                if let Ok(home) = h.open_home() {
                    let _ = home
                        .store
                        .fail_claimed_run(&row.id, &format!("could not be run: {e}"));
                }
                return Err(e);
            }
        };
        let conn =
            match handle.block_on(h.connections().for_grant(&home, &row.plugin_id, row.school)) {
                Ok(c) => c,
                Err(e) => {
                    refuse(&home, &row, &e);
                    return Err(e);
                }
            };
        handle
            .block_on(execute_claimed(&home, &conn, h.runtime(), &row))
            .map(|_| ())
    })
    .await;
    match ran {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::info!(run = %id, "a queued run was not run: {}", e.message),
        // Its lease is no longer renewed: the sweep marks it interrupted.
        Err(e) => tracing::warn!(run = %id, "a queued run's task failed: {e}"),
    }
    host.queue().finished(&id);
    host.runs_ended(std::slice::from_ref(&id));
}

async fn renew<H: QueueHost>(host: &Arc<H>, lease: Duration) {
    let ids = host.queue().in_flight();
    if ids.is_empty() {
        return;
    }
    let h = host.clone();
    let renewed = tokio::task::spawn_blocking(move || {
        let home = h.open_home()?;
        let until = easel_store::now_ms() + lease.as_millis() as i64;
        home.store
            .renew_leases(&h.queue().owner, &ids, until)
            .map_err(AppError::from)
    })
    .await;
    if let Ok(Err(e)) = renewed {
        tracing::warn!("cannot renew the leases of runs in flight: {}", e.message);
    }
}

async fn heartbeat<H: QueueHost>(host: Arc<H>, every: Duration) {
    let lease = host.queue().config().lease;
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(100)));
    loop {
        tick.tick().await;
        renew(&host, lease).await;
    }
}

/// A task that is aborted when this is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Keep this node's token leases: take the tokens that hash to it, give
/// up those that no longer do (once its runs on them end), renew the
/// rest. A token taken starts with a new governor.
async fn balance<H: QueueHost>(host: Arc<H>, every: Duration) {
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(100)));
    loop {
        tick.tick().await;
        let h = host.clone();
        let round = tokio::task::spawn_blocking(move || match h.node() {
            Some(n) => n.balance().map(Some),
            None => Ok(None),
        })
        .await;
        match round {
            Ok(Ok(Some(o))) => {
                if !o.taken.is_empty() {
                    tracing::info!(tokens = ?o.taken, "this node now spends these tokens");
                    host.connections().forget_tokens(&o.taken).await;
                    host.queue().wake();
                }
                if !o.released.is_empty() {
                    tracing::info!(tokens = ?o.released, "this node gave these tokens to another");
                    host.connections().forget_tokens(&o.released).await;
                }
            }
            Ok(Err(e)) => tracing::warn!("{}", e.message),
            _ => {}
        }
    }
}

async fn sweep<H: QueueHost>(host: Arc<H>, every: Duration) {
    let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
    loop {
        tick.tick().await;
        let h = host.clone();
        let swept = tokio::task::spawn_blocking(move || {
            let home = h.open_home()?;
            let ids = home.interrupt_orphans()?;
            // Scheduled read-only runs interrupted here or elsewhere (a
            // kill -9 before this start) run again, once.
            let handle = tokio::runtime::Handle::current();
            match handle.block_on(retry_interrupted(&home, h.connections())) {
                Ok(again) if !again.is_empty() => {
                    tracing::info!("{} interrupted read-only run(s) queued again", again.len());
                    h.queue().wake();
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("cannot retry interrupted runs: {}", e.message),
            }
            Ok::<_, AppError>(ids)
        })
        .await;
        match swept {
            Ok(Ok(ids)) if !ids.is_empty() => {
                tracing::warn!(
                    "{} run(s) whose process ended or whose lease ran out are now interrupted: {}",
                    ids.len(),
                    ids.join(", ")
                );
                host.runs_ended(&ids);
            }
            Ok(Err(e)) => tracing::warn!("cannot look for interrupted runs: {}", e.message),
            _ => {}
        }
    }
}

/// Wait for runs `ids` to end, looking every `every`; stops waiting when
/// `queue` stops claiming and what is left is still queued. Returns their
/// records, in the order given.
pub async fn wait_for(
    home: &Home,
    queue: &Queue,
    ids: &[String],
    every: Duration,
) -> Result<Vec<RunRow>, AppError> {
    let mut open: HashSet<String> = ids.iter().cloned().collect();
    let mut rows: HashMap<String, RunRow> = HashMap::new();
    loop {
        let mut pending_queued = false;
        for id in open.clone() {
            let Some(row) = home.store.run(&id)? else {
                open.remove(&id);
                continue;
            };
            match row.status {
                RunStatus::Running => {}
                RunStatus::Queued => pending_queued = true,
                _ => {
                    open.remove(&id);
                }
            }
            rows.insert(id, row);
        }
        let running = rows
            .values()
            .any(|r| open.contains(&r.id) && r.status == RunStatus::Running);
        let stuck = !queue.accepting() && pending_queued && !running;
        if open.is_empty() || stuck {
            break;
        }
        tokio::time::sleep(every).await;
    }
    Ok(ids.iter().filter_map(|id| rows.remove(id)).collect())
}

impl BatchRow {
    /// A school's line from its stored run.
    pub fn from_run(row: &RunRow, name: &str) -> Self {
        BatchRow {
            school: row.school,
            name: name.to_owned(),
            run: Some(row.id.clone()),
            status: row.status.as_str().to_owned(),
            error: match row.status {
                RunStatus::Succeeded => None,
                RunStatus::Queued => Some("still queued: it runs when easel serve is back".into()),
                _ => Some(
                    row.error
                        .clone()
                        .unwrap_or_else(|| row.status.as_str().into()),
                ),
            },
            calls: row.calls,
            denied: row.denied,
            duration_ms: row.duration_ms.unwrap_or(0),
            outputs: row.outputs.clone(),
        }
    }
}

/// The result of a queued batch whose runs ended (`rows`, from
/// [`wait_for`]).
pub fn batch_result(
    req: &BatchRequest,
    queued: &QueuedBatch,
    rows: &[RunRow],
    throttled_now: u64,
) -> BatchResult {
    let by_id: HashMap<&str, &RunRow> = rows.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut runs: Vec<BatchRow> = queued
        .runs
        .iter()
        .map(|(school, name, r)| match r {
            Ok(id) => match by_id.get(id.as_str()) {
                Some(row) => BatchRow::from_run(row, name),
                None => BatchRow::not_run(*school, name, "its record is gone"),
            },
            Err(e) => BatchRow::not_run(*school, name, &e.to_string()),
        })
        .collect();
    runs.sort_by_key(|r| r.school);
    let succeeded = runs.iter().filter(|r| r.ok()).count();
    BatchResult {
        plugin: req.plugin.clone(),
        instance: queued.instance.clone(),
        // No batch when nothing was queued (as for a batch run here).
        batch: if queued.run_ids().is_empty() {
            String::new()
        } else {
            queued.batch.clone()
        },
        dry_run: req.dry_run,
        schools: runs.len(),
        succeeded,
        failed: runs.len() - succeeded,
        calls: runs.iter().map(|r| u64::from(r.calls)).sum(),
        throttled: throttled_now.saturating_sub(queued.throttled_before),
        duration_ms: queued.started.elapsed().as_millis() as u64,
        runs,
    }
}

/// Run again, once, each interrupted run that a schedule with
/// `retry_interrupted` queued, if it is read-only (a dry run, or its live
/// approval grants no write) and wrote nothing: queued as the schedule's
/// creator now, in the same batch. A retry is not retried, and a run that
/// may write never is. Returns the new runs.
pub async fn retry_interrupted(
    home: &Home,
    connections: &Connections,
) -> Result<Vec<String>, AppError> {
    let mut queued = Vec::new();
    for (row, raw) in home.store.interrupted_unretried()? {
        let Ok(request) = serde_json::from_str::<Queued>(&raw) else {
            home.store.mark_retried(&row.id, "-")?;
            continue;
        };
        let schedule = match &request.schedule {
            Some(id) => home.store.schedule(id)?,
            None => None,
        };
        let Some(schedule) = schedule.filter(|s| s.retry_interrupted && s.paused_at.is_none())
        else {
            home.store.mark_retried(&row.id, "-")?;
            continue;
        };
        let approval = home.store.approval(&row.plugin_id, row.school)?;
        let read_only = row.dry_run || approval.as_ref().is_some_and(|a| !a.write);
        if request.retry_of.is_some() || !read_only || row.writes.unwrap_or(0) > 0 {
            home.store.mark_retried(&row.id, "-")?;
            continue;
        }
        let Ok(actor) = crate::schedules::acting(home, &schedule)? else {
            home.store.mark_retried(&row.id, "-")?;
            continue;
        };
        let req = RunRequest {
            plugin: row.plugin_id.clone(),
            school: row.school,
            dry_run: row.dry_run,
            params: row.params.clone(),
            limits: Limits {
                max_writes: request.max_writes,
                ..Limits::default()
            },
            plan: None,
        };
        let known = School {
            id: row.school,
            name: request.school_name.clone(),
        };
        let origin = Origin {
            schedule: Some(schedule.id.clone()),
            retry_of: Some(row.id.clone()),
        };
        let conn = connections
            .for_grant(home, &row.plugin_id, row.school)
            .await?;
        match enqueue_from(
            home,
            &actor,
            &conn,
            req,
            Some(known),
            row.batch.clone(),
            origin,
        )
        .await
        {
            Ok(q) => {
                home.store.mark_retried(&row.id, &q.run)?;
                queued.push(q.run);
            }
            Err(e) => {
                tracing::info!(run = %row.id, "an interrupted run is not retried: {}", e.message);
                home.store.mark_retried(&row.id, "-")?;
            }
        }
    }
    Ok(queued)
}

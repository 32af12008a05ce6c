//! One run: a fresh store from the cached `InstancePre`, limits applied,
//! `run` called, the outcome classified.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use easel_canvas::{CallTag, CanvasClient};
use easel_policy::Grant;
use wasmtime::component::ResourceTable;
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;

use crate::audit::AuditSink;
use crate::bindings::EaselHostPre;
use crate::component::{LoadedComponent, WRITE_IMPORT};
use crate::directory::Directory;
use crate::engine::{EPOCH_TICK, Runtime};
use crate::limits::{Limits, MemoryCap};
use crate::outcome::{RunOutcome, RunReport};
use crate::plan::{Binding, PlanBinding};
use crate::state::{CapturedStream, RunState, log_line, new_log};

/// The school a run is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct School {
    /// Sub-account id.
    pub id: u64,
    /// Its name.
    pub name: String,
}

/// Everything needed to run a plugin once.
pub struct RunSpec {
    /// Run id (appears in the User-Agent and the run record).
    pub run_id: String,
    /// Plugin id from the manifest.
    pub plugin_id: String,
    /// The approved, loaded component.
    pub component: Arc<LoadedComponent>,
    /// The school.
    pub school: School,
    /// Instance name shown to the plugin.
    pub instance: String,
    /// Record writes instead of sending them.
    pub dry_run: bool,
    /// Parameters after defaults.
    pub params: Vec<(String, String)>,
    /// What the run may do.
    pub grant: Grant,
    /// The Canvas client (holds the token; never exposed to the guest).
    pub client: CanvasClient,
    /// The run's output folder.
    pub output_dir: PathBuf,
    /// Resource limits.
    pub limits: Limits,
    /// Where the run's Canvas decisions are recorded (fail closed).
    pub audit: Arc<dyn AuditSink>,
    /// The reviewed plan a live run is bound to: only its writes may be
    /// made (`--after-plan`, `plan apply`).
    pub binding: Option<PlanBinding>,
}

impl Runtime {
    fn instance_pre(
        &self,
        component: &LoadedComponent,
        write: bool,
    ) -> Result<EaselHostPre<RunState>, String> {
        let (cell, linker) = if write {
            (&component.pre_write, &self.linker_write)
        } else {
            (&component.pre_read, &self.linker_read)
        };
        cell.get_or_init(|| {
            let pre = linker
                .instantiate_pre(&component.component)
                .map_err(|e| format!("cannot link the plugin: {e:#}"))?;
            EaselHostPre::new(pre)
                .map_err(|e| format!("the plugin does not match easel's plugin world: {e:#}"))
        })
        .clone()
    }

    /// Run a plugin once. Never panics on guest behaviour: every ending is
    /// a [`RunOutcome`].
    pub async fn run(&self, spec: RunSpec) -> RunReport {
        let started = Instant::now();
        let limits = spec.limits.clone();
        let log = new_log(limits.max_log_bytes);
        let _live = crate::live::register(&spec.run_id, &log);
        let refuse = |message: String, log: &crate::state::SharedLog| {
            log_line(log, "[easel]", &message);
            RunReport {
                outcome: RunOutcome::Refused(message),
                duration: started.elapsed(),
                calls: 0,
                denied: 0,
                lookups: 0,
                outputs: Vec::new(),
                partial: false,
                log: log.lock().map(|l| l.finish()).unwrap_or_default(),
                plan: Vec::new(),
                plan_result: Vec::new(),
                call_overheads: Vec::new(),
            }
        };
        if spec.component.info.imports_write() && !spec.grant.write {
            let import = spec
                .component
                .info
                .imports
                .iter()
                .find(|i| i.starts_with(WRITE_IMPORT))
                .cloned()
                .unwrap_or_default();
            return refuse(
                format!(
                    "plugin {} imports {import}, but its grant does not include write access; approve it with write access or use a read-only build",
                    spec.plugin_id
                ),
                &log,
            );
        }
        let pre = match self.instance_pre(&spec.component, spec.grant.write) {
            Ok(pre) => pre,
            Err(message) => return refuse(message, &log),
        };
        let state = new_state(spec, &log);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.memory);
        store.set_hostcall_fuel(limits.hostcall_bytes);
        store.set_max_component_handles(limits.max_handles);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut ctx| {
            let s = ctx.data_mut();
            if s.cpu_ticks_left == 0 {
                s.cpu_exhausted = true;
                return Ok(UpdateDeadline::Interrupt);
            }
            s.cpu_ticks_left -= 1;
            Ok(UpdateDeadline::Yield(1))
        });
        // The guest runs as its own task, so concurrent runs use every
        // worker thread of the runtime rather than the one polling the
        // caller (a batch polls all its runs from one task). Dropping this
        // run's future (a cancelled batch) aborts the task.
        let wall = limits.wall;
        let ticker = self.ticker.clone();
        let guest = AbortOnDrop(tokio::spawn(async move {
            let _ticking = ticker;
            let result = tokio::time::timeout(wall, async {
                let instance = pre.instantiate_async(&mut store).await?;
                instance.call_run(&mut store).await
            })
            .await;
            (store, result)
        }));
        let (store, result) = match guest.join().await {
            Ok(ended) => ended,
            Err(e) => {
                let message = format!("the run's task ended without a result: {e}");
                return RunReport {
                    outcome: RunOutcome::Failed(message.clone()),
                    ..refuse(message, &log)
                };
            }
        };
        let s = store.data();
        let outcome = match result {
            _ if s.aborted.is_some() => RunOutcome::Failed(s.aborted.clone().unwrap_or_default()),
            _ if s.audit_failed.is_some() => RunOutcome::Failed(format!(
                "the audit log could not be written ({}); easel made no Canvas call after that",
                s.audit_failed.as_deref().unwrap_or_default()
            )),
            Ok(Ok(Ok(()))) => RunOutcome::Succeeded,
            Ok(Ok(Err(message))) => RunOutcome::Failed(message),
            Ok(Err(_)) if s.memory.exceeded => RunOutcome::MemoryLimit(format!(
                "the plugin reached its memory limit of {} MiB",
                limits.memory_bytes >> 20
            )),
            Ok(Err(_)) if s.cpu_exhausted => {
                RunOutcome::TimedOut(format!("the plugin used its CPU limit of {:?}", limits.cpu))
            }
            Ok(Err(trap)) => RunOutcome::Failed(format!(
                "the plugin trapped: {}",
                trap_reason(&trap, &log, &limits)
            )),
            Err(_) => RunOutcome::TimedOut(format!(
                "the run reached its wall-clock limit of {:?}",
                limits.wall
            )),
        };
        let report = finish(s, outcome, started, &log);
        // Drop the store (and with it the guest's stdio writers) before
        // reading the log, so trailing output is flushed into it.
        drop(store);
        RunReport {
            log: log.lock().map(|l| l.finish()).unwrap_or_default(),
            ..report
        }
    }

    /// Apply a reviewed plan without the plugin: send exactly its writes,
    /// in order, through the same policy, governor and audit. Stops at the
    /// first step that is not applied; the rest are skipped.
    pub async fn apply_plan(&self, spec: RunSpec) -> RunReport {
        let started = Instant::now();
        let limits = spec.limits.clone();
        let log = new_log(limits.max_log_bytes);
        let _live = crate::live::register(&spec.run_id, &log);
        let steps = match (&spec.binding, spec.dry_run) {
            (Some(b), false) => b.steps.clone(),
            _ => {
                let message = "a plan is applied live, with the plan to apply".to_owned();
                log_line(&log, "[easel]", &message);
                let s = new_state(spec, &log);
                return finish(&s, RunOutcome::Refused(message), started, &log);
            }
        };
        let mut s = new_state(spec, &log);
        let applied = tokio::time::timeout(limits.wall, async {
            for step in &steps {
                log_line(
                    &log,
                    "[plan]",
                    &format!("step {}: {} {}", step.step, step.method, step.path),
                );
                let Some(method) = easel_policy::Method::parse(&step.method) else {
                    return Err(format!("step {} has method {:?}", step.step, step.method));
                };
                let result =
                    match s.operation(method, &step.path, step.query.clone(), step.body.as_deref())
                    {
                        Ok(op) => s.write(op).await.map(|_| ()),
                        Err(e) => Err(e),
                    };
                if let Err(e) = result {
                    let why = crate::host::write::refusal(&e);
                    return Err(format!(
                        "step {} was not applied: {why}; the steps after it were not sent",
                        step.step
                    ));
                }
            }
            Ok(())
        })
        .await;
        let outcome = match applied {
            _ if s.audit_failed.is_some() => RunOutcome::Failed(format!(
                "the audit log could not be written ({}); easel made no Canvas call after that",
                s.audit_failed.as_deref().unwrap_or_default()
            )),
            Ok(Ok(())) => RunOutcome::Succeeded,
            Ok(Err(why)) => RunOutcome::Failed(why),
            Err(_) => RunOutcome::TimedOut(format!(
                "applying the plan reached the wall-clock limit of {:?}",
                limits.wall
            )),
        };
        let report = finish(&s, outcome, started, &log);
        drop(s);
        RunReport {
            log: log.lock().map(|l| l.finish()).unwrap_or_default(),
            ..report
        }
    }
}

/// A spawned task that is aborted when its handle is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    async fn join(mut self) -> Result<T, tokio::task::JoinError> {
        (&mut self.0).await
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The report of a run that ended with `outcome`. A run that did not
/// succeed leaves its report files marked partial (`NAME.partial`).
fn finish(
    s: &RunState,
    outcome: RunOutcome,
    started: Instant,
    log: &crate::state::SharedLog,
) -> RunReport {
    if s.directory.lookups > 0 {
        log_line(
            log,
            "[easel]",
            &format!(
                "{} lookup call(s) listed the school's own subtree to place the objects the plugin named",
                s.directory.lookups
            ),
        );
    }
    let plan_result = s.binding.as_ref().map(|b| b.results()).unwrap_or_default();
    let skipped = plan_result.iter().filter(|r| r.state != "applied").count();
    if skipped > 0 {
        log_line(
            log,
            "[easel]",
            &format!(
                "{skipped} of {} planned write(s) were not applied: see `easel runs show {} --plan`",
                plan_result.len(),
                s.run_id
            ),
        );
    }
    let partial = outcome != RunOutcome::Succeeded && !s.report_files.is_empty();
    let outputs = if partial {
        s.report_files
            .iter()
            .map(|p| mark_partial(p, log))
            .collect()
    } else {
        s.report_files.clone()
    };
    if let Some(e) = outcome.error() {
        log_line(log, "[easel]", &format!("run {}: {e}", outcome.status()));
    }
    RunReport {
        outcome,
        duration: started.elapsed(),
        calls: s.calls,
        denied: s.denied,
        lookups: s.directory.lookups,
        outputs,
        partial,
        log: String::new(),
        plan: s.plan.clone(),
        plan_result,
        call_overheads: s.overheads.clone(),
    }
}

/// Rename a report file of a run that did not finish to `NAME.partial`, so
/// it cannot be taken for a complete one.
fn mark_partial(path: &std::path::Path, log: &crate::state::SharedLog) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    let partial = PathBuf::from(name);
    match std::fs::rename(path, &partial) {
        Ok(()) => {
            log_line(
                log,
                "[easel]",
                &format!(
                    "report {} is partial (the run did not finish): kept as {}",
                    path.file_name().unwrap_or_default().to_string_lossy(),
                    partial.file_name().unwrap_or_default().to_string_lossy()
                ),
            );
            partial
        }
        Err(_) => path.to_path_buf(),
    }
}

/// A fresh store's data for one run (or one plan's application).
fn new_state(spec: RunSpec, log: &crate::state::SharedLog) -> RunState {
    let limits = spec.limits.clone();
    let wasi = WasiCtxBuilder::new()
        .stdout(CapturedStream::new(log.clone(), "[stdout]"))
        .stderr(CapturedStream::new(log.clone(), "[stderr]"))
        .build();
    let mut table = ResourceTable::new();
    table.set_max_capacity(limits.max_handles);
    let tag = CallTag {
        plugin: spec.plugin_id.clone(),
        digest: spec.component.info.digest.clone(),
        run: spec.run_id.clone(),
        school: spec.school.id,
        lookup: false,
    };
    let cpu_ticks = (limits.cpu.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
    RunState {
        wasi,
        table,
        memory: MemoryCap {
            max: limits.memory_bytes,
            exceeded: false,
        },
        cpu_ticks_left: cpu_ticks,
        cpu_exhausted: false,
        deadline: tokio::time::Instant::now() + limits.wall,
        limits: limits.clone(),
        run_id: spec.run_id.clone(),
        directory: Directory::new(spec.school.id, spec.audit.clone()),
        school: spec.school,
        instance: spec.instance,
        dry_run: spec.dry_run,
        params: spec.params,
        client: spec.client,
        lookup_tag: tag.for_lookups(),
        tag,
        grant: spec.grant,
        calls: 0,
        denied: 0,
        log: log.clone(),
        report_dir: spec.output_dir,
        report_files: Vec::new(),
        report_bytes: 0,
        plan: Vec::new(),
        plan_bytes: 0,
        plan_bodies: Default::default(),
        waiting: std::time::Duration::ZERO,
        overheads: Vec::new(),
        audit: spec.audit,
        audit_failed: None,
        aborted: None,
        writes: 0,
        extra_changes: 0,
        sis_imports: Vec::new(),
        binding: spec.binding.map(Binding::new),
    }
}

/// Why a guest trapped, told apart: stack overflow, the per-call byte
/// limit, an invalid handle, the handle limit, a panic (with its message),
/// an exit, or another trap (its first line, without the backtrace).
fn trap_reason(e: &wasmtime::Error, log: &crate::state::SharedLog, limits: &Limits) -> String {
    if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return format!("exit: the plugin exited with status {}", exit.0);
    }
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        return match trap {
            wasmtime::Trap::StackOverflow => {
                "stack overflow: the plugin recursed past its stack".into()
            }
            wasmtime::Trap::UnreachableCodeReached => match panic_message(log) {
                Some(m) => format!("panic: {m}"),
                None => "panic: the plugin reached unreachable code".into(),
            },
            other => other.to_string(),
        };
    }
    let chain = format!("{e:#}");
    if chain.contains("fuel allocated for hostcalls has been exhausted") {
        return format!(
            "per-call byte limit: the plugin passed more than {} bytes into one host call",
            limits.hostcall_bytes
        );
    }
    if chain.contains("handle limit exceeded") || chain.contains("resource table has no free keys")
    {
        return format!(
            "handle limit: the plugin held more than {} handles at once",
            limits.max_handles
        );
    }
    if [
        "unknown handle index",
        "resource not present",
        "used with the wrong type",
        "is not a resource",
        "resource is of another type",
    ]
    .iter()
    .any(|m| chain.contains(m))
    {
        return "invalid handle: the plugin used a handle it does not hold".into();
    }
    let first = chain.lines().next().unwrap_or("unknown trap");
    crate::text::escape(first).into_owned()
}

/// The message of a Rust guest's panic, from its captured stderr: the line
/// after `panicked at ...`.
fn panic_message(log: &crate::state::SharedLog) -> Option<String> {
    let text = log.lock().ok()?.finish();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.starts_with("[stderr]") && line.contains(" panicked at ") {
            // std prints `panicked at src/lib.rs:1:2:` then the message
            // (escaped into one entry, or on the next line).
            if let Some((_, msg)) = line.split_once(":\\n") {
                return Some(msg.to_owned());
            }
            return lines
                .next()
                .and_then(|l| l.strip_prefix("[stderr] "))
                .map(str::to_owned);
        }
    }
    None
}

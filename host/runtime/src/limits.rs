//! Per-run resource limits and the memory limiter that reports a breach.

use std::time::Duration;

/// Limits applied to every run. The defaults suit a report over a large
/// school; admins can tighten them per plugin.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Guest linear memory, bytes.
    pub memory_bytes: usize,
    /// CPU time the guest may spend executing wasm.
    pub cpu: Duration,
    /// Wall-clock time for the whole run, host calls included.
    pub wall: Duration,
    /// Bytes the guest may pass into one host call.
    pub hostcall_bytes: usize,
    /// Resource handles (page streams, report files) alive at once.
    pub max_handles: usize,
    /// Captured log, stdout and stderr, bytes (the rest is dropped).
    pub max_log_bytes: usize,
    /// Total bytes of report files.
    pub max_report_bytes: u64,
    /// Number of report files.
    pub max_report_files: usize,
    /// Largest Canvas response body handed to the guest.
    pub max_response_bytes: usize,
    /// Writes per run (`--max-writes`); overrides the grant's limit.
    pub max_writes: Option<u32>,
    /// The report files the manifest declares (`None`: any name).
    pub report_names: Option<Vec<String>>,
    /// Denied calls after which the run is stopped.
    pub max_denials: u32,
    /// Bytes a dry run's plan may hold (paths, queries and each distinct
    /// body once).
    pub max_plan_bytes: usize,
}

/// Default number of denials that stops a run.
pub const DEFAULT_MAX_DENIALS: u32 = 100;
/// Default size limit of a dry run's plan (8 MiB).
pub const DEFAULT_MAX_PLAN_BYTES: usize = 8 << 20;

/// Default guest memory cap: the manifest's default (64 MiB).
pub const DEFAULT_MEMORY_BYTES: usize = easel_policy::DEFAULT_MEMORY_BYTES as usize;
/// Largest memory cap the engine's pool supports: the most a manifest may
/// ask for (512 MiB).
pub const MAX_MEMORY_BYTES: usize = easel_policy::MAX_MEMORY_BYTES as usize;

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: DEFAULT_MEMORY_BYTES,
            cpu: Duration::from_secs(60),
            wall: Duration::from_secs(600),
            hostcall_bytes: 1 << 20,
            max_handles: 1_000,
            max_log_bytes: 256 << 10,
            max_report_bytes: 256 << 20,
            max_report_files: 32,
            max_response_bytes: 16 << 20,
            max_writes: None,
            report_names: None,
            max_denials: DEFAULT_MAX_DENIALS,
            max_plan_bytes: DEFAULT_MAX_PLAN_BYTES,
        }
    }
}

/// Refuses memory growth past the cap and remembers that it did, so the run
/// ends with a memory-limit status rather than a generic trap.
#[derive(Debug)]
pub(crate) struct MemoryCap {
    pub(crate) max: usize,
    pub(crate) exceeded: bool,
}

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max {
            self.exceeded = true;
            return Err(wasmtime::Error::msg(format!(
                "memory limit of {} MiB reached",
                self.max >> 20
            )));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

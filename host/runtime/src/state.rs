//! The store's data for one run: WASI context, Canvas context, budgets.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use easel_canvas::{CallTag, CanvasClient};
use easel_policy::Grant;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::directory::Directory;
use crate::limits::{Limits, MemoryCap};
use crate::outcome::PlannedWrite;
use crate::run::School;

/// Everything one run's store holds. A fresh one per run; dropped after.
pub struct RunState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) memory: MemoryCap,
    pub(crate) cpu_ticks_left: u64,
    pub(crate) cpu_exhausted: bool,
    pub(crate) deadline: tokio::time::Instant,
    pub(crate) limits: Limits,
    pub(crate) run_id: String,
    pub(crate) school: School,
    pub(crate) instance: String,
    pub(crate) dry_run: bool,
    pub(crate) params: Vec<(String, String)>,
    pub(crate) client: CanvasClient,
    pub(crate) tag: CallTag,
    /// The tag of easel's own lookups on the run's behalf.
    pub(crate) lookup_tag: CallTag,
    pub(crate) grant: Grant,
    pub(crate) directory: Directory,
    pub(crate) calls: u32,
    pub(crate) denied: u32,
    pub(crate) log: SharedLog,
    pub(crate) report_dir: PathBuf,
    pub(crate) report_files: Vec<PathBuf>,
    pub(crate) report_bytes: u64,
    pub(crate) plan: Vec<PlannedWrite>,
    /// Bytes the plan holds, and the digests of the bodies it holds.
    pub(crate) plan_bytes: usize,
    pub(crate) plan_bodies: std::collections::HashSet<String>,
    /// Time spent waiting for the token's governor and for Canvas.
    pub(crate) waiting: std::time::Duration,
    /// Host time per plugin call, waits excluded.
    pub(crate) overheads: Vec<std::time::Duration>,
    /// Where Canvas decisions are recorded.
    pub(crate) audit: std::sync::Arc<dyn crate::audit::AuditSink>,
    /// Why the audit log failed, if it did (no call is made after).
    pub(crate) audit_failed: Option<String>,
    /// Why the host ended the run's Canvas access (e.g. its write limit).
    pub(crate) aborted: Option<String>,
    /// Live writes sent.
    pub(crate) writes: u32,
    /// Changes beyond one per write, sent or planned (a SIS import's rows
    /// after its first), for the write limit.
    pub(crate) extra_changes: u32,
    /// SIS imports this run created: only their status may be read on the
    /// root account.
    pub(crate) sis_imports: Vec<u64>,
    /// The reviewed plan a live run is bound to.
    pub(crate) binding: Option<crate::plan::Binding>,
}

/// Where a host call started, to measure the host's own time.
pub(crate) struct CallMark {
    at: std::time::Instant,
    waited: std::time::Duration,
}

/// At most this many per-call overheads are kept per run.
const MAX_OVERHEADS: usize = 100_000;

impl RunState {
    pub(crate) fn mark(&self) -> CallMark {
        CallMark {
            at: std::time::Instant::now(),
            waited: self.waiting,
        }
    }

    /// Record the host's own time since `mark`.
    pub(crate) fn record_overhead(&mut self, mark: CallMark) {
        if self.overheads.len() < MAX_OVERHEADS {
            let waited = self.waiting.saturating_sub(mark.waited);
            self.overheads
                .push(mark.at.elapsed().saturating_sub(waited));
        }
    }
}

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The run's captured log: plugin log lines, stdout and stderr, and host
/// notes, bounded; what does not fit is counted and dropped.
#[derive(Debug, Default)]
pub(crate) struct BoundedLog {
    text: String,
    cap: usize,
    dropped: usize,
}

impl BoundedLog {
    pub(crate) fn push_line(&mut self, prefix: &str, line: &str) {
        // One entry is one line: a plugin cannot start a line of its own
        // (or the host's), nor send escapes to whoever reads the log.
        let line = &*crate::text::escape(line);
        let needed = prefix.len() + line.len() + 2;
        if self.text.len() + needed > self.cap {
            self.dropped += line.len();
            return;
        }
        self.text.push_str(prefix);
        self.text.push(' ');
        self.text.push_str(line);
        self.text.push('\n');
    }

    /// The text so far.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    pub(crate) fn finish(&self) -> String {
        if self.dropped > 0 {
            format!(
                "{}[easel] {} bytes of output dropped (log limit)\n",
                self.text, self.dropped
            )
        } else {
            self.text.clone()
        }
    }
}

/// A log shared between the host interfaces and the stdio pipes.
pub(crate) type SharedLog = Arc<Mutex<BoundedLog>>;

pub(crate) fn new_log(cap: usize) -> SharedLog {
    Arc::new(Mutex::new(BoundedLog {
        text: String::new(),
        cap,
        dropped: 0,
    }))
}

pub(crate) fn log_line(log: &SharedLog, prefix: &str, line: &str) {
    if let Ok(mut l) = log.lock() {
        l.push_line(prefix, line);
    }
}

/// stdout or stderr of the guest, captured into the run log line by line.
pub(crate) struct CapturedStream {
    log: SharedLog,
    prefix: &'static str,
}

impl CapturedStream {
    pub(crate) fn new(log: SharedLog, prefix: &'static str) -> Self {
        Self { log, prefix }
    }
}

impl IsTerminal for CapturedStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedStream {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            log: self.log.clone(),
            prefix: self.prefix,
            pending: Vec::new(),
        })
    }
}

struct LineWriter {
    log: SharedLog,
    prefix: &'static str,
    pending: Vec<u8>,
}

impl LineWriter {
    fn flush_lines(&mut self, all: bool) {
        while let Some(pos) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=pos).collect();
            log_line(
                &self.log,
                self.prefix,
                String::from_utf8_lossy(&line).trim_end(),
            );
        }
        if all && !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            log_line(
                &self.log,
                self.prefix,
                String::from_utf8_lossy(&rest).trim_end(),
            );
        }
        // A guest that never writes a newline cannot grow this without bound.
        if self.pending.len() > 4096 {
            let rest = std::mem::take(&mut self.pending);
            log_line(&self.log, self.prefix, &String::from_utf8_lossy(&rest));
        }
    }
}

impl tokio::io::AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.pending.extend_from_slice(buf);
        self.flush_lines(false);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.flush_lines(true);
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        self.flush_lines(true);
    }
}

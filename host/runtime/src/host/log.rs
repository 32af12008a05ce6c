//! `easel:canvas/log`: plugin messages into the bounded run log.

use crate::bindings::easel::canvas::log::{Host, Level};
use crate::state::{RunState, log_line};

/// Longest single log message kept.
const MAX_MESSAGE: usize = 8192;

impl Host for RunState {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let prefix = match level {
            Level::Debug => "[debug]",
            Level::Info => "[info]",
            Level::Warn => "[warn]",
            Level::Error => "[error]",
        };
        let mut end = message.len().min(MAX_MESSAGE);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        tracing::debug!(run = %self.run_id, "{prefix} {}", &message[..end]);
        log_line(&self.log, prefix, &message[..end]);
        Ok(())
    }
}

//! The logs of runs under way in this process, readable while they run:
//! the console follows a run's log as it is written. A run's log is
//! registered when it starts and forgotten when it ends (the stored run
//! then holds it); it is the same bounded, escaped text the run records.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use crate::state::SharedLog;

fn registry() -> &'static Mutex<HashMap<String, SharedLog>> {
    static LIVE: OnceLock<Mutex<HashMap<String, SharedLog>>> = OnceLock::new();
    LIVE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// A run's log in the registry; taken out when dropped.
pub(crate) struct Registered(String);

impl Drop for Registered {
    fn drop(&mut self) {
        registry()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.0);
    }
}

/// Make run `run_id`'s `log` readable while it runs.
pub(crate) fn register(run_id: &str, log: &SharedLog) -> Registered {
    registry()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(run_id.to_owned(), log.clone());
    Registered(run_id.to_owned())
}

/// What run `run_id` has logged from byte `from` on, if it is under way in
/// this process (`None`: it is not, or has ended: read the stored run).
pub fn log_since(run_id: &str, from: usize) -> Option<String> {
    let log = registry()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(run_id)
        .cloned()?;
    let log = log.lock().ok()?;
    let text = log.text();
    Some(
        text.get(from.min(text.len())..)
            .unwrap_or_default()
            .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_is_readable_while_registered_and_gone_after() {
        let log = crate::state::new_log(1024);
        {
            let _r = register("run-live-1", &log);
            crate::state::log_line(&log, "[plugin]", "first");
            let all = log_since("run-live-1", 0).unwrap_or_default();
            assert_eq!(all, "[plugin] first\n");
            crate::state::log_line(&log, "[plugin]", "second");
            assert_eq!(
                log_since("run-live-1", all.len()).as_deref(),
                Some("[plugin] second\n")
            );
            assert_eq!(log_since("run-live-1", 10_000).as_deref(), Some(""));
        }
        assert_eq!(log_since("run-live-1", 0), None);
    }
}

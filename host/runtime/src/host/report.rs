//! `easel:canvas/report`: report files in the run's own output folder.
//!
//! Threat: a plugin writing outside its folder or filling the disk. Names
//! are plain file names with a known extension; count and total size are
//! capped per run. Files are opened through a `cap-std` handle on the
//! run's folder, which cannot reach outside it.

use std::io::Write;
use std::path::PathBuf;

use wasmtime::component::Resource;

use crate::bindings::easel::canvas::report::{Host, HostFile};
use crate::state::RunState;

/// Extensions a report may have.
const EXTENSIONS: &[&str] = &["csv", "json", "jsonl", "txt"];

/// An open report file.
pub struct ReportFile {
    file: std::fs::File,
}

fn valid_name(name: &str) -> Result<(), String> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let ext_ok = name
        .rsplit_once('.')
        .is_some_and(|(stem, ext)| !stem.is_empty() && EXTENSIONS.contains(&ext));
    if name.len() > 100 || !ok_chars || name.starts_with('.') || !ext_ok {
        return Err(format!(
            "report name {name:?} must be a plain file name (letters, digits, - _ .) ending in .{}",
            EXTENSIONS.join(", .")
        ));
    }
    Ok(())
}

impl Host for RunState {
    async fn create(
        &mut self,
        name: String,
    ) -> wasmtime::Result<Result<Resource<ReportFile>, String>> {
        if let Err(e) = valid_name(&name) {
            return Ok(Err(e));
        }
        if let Some(declared) = &self.limits.report_names
            && !declared.contains(&name)
        {
            return Ok(Err(format!(
                "report {name} is not among the reports the plugin's manifest declares ({})",
                declared.join(", ")
            )));
        }
        if self.report_files.len() >= self.limits.max_report_files {
            return Ok(Err(format!(
                "a run may write at most {} report files",
                self.limits.max_report_files
            )));
        }
        let path: PathBuf = self.report_dir.join(&name);
        if self.report_files.contains(&path) {
            return Ok(Err(format!(
                "report {name} was already created in this run"
            )));
        }
        // Opened through a capability handle on the run's folder: even if
        // the name check above regressed, no path outside it can be opened.
        let opened = std::fs::create_dir_all(&self.report_dir)
            .and_then(|_| {
                cap_std::fs::Dir::open_ambient_dir(&self.report_dir, cap_std::ambient_authority())
            })
            .and_then(|dir| {
                let mut options = cap_std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                dir.open_with(&name, &options)
            })
            .map(cap_std::fs::File::into_std);
        match opened {
            Ok(file) => {
                self.report_files.push(path);
                Ok(Ok(self.table.push(ReportFile { file })?))
            }
            Err(e) => Ok(Err(format!("cannot create report {name}: {e}"))),
        }
    }
}

impl HostFile for RunState {
    async fn write(
        &mut self,
        this: Resource<ReportFile>,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<(), String>> {
        let total = self.report_bytes + data.len() as u64;
        if total > self.limits.max_report_bytes {
            return Ok(Err(format!(
                "reports of this run are over the limit of {} MiB",
                self.limits.max_report_bytes >> 20
            )));
        }
        let file = self.table.get_mut(&this)?;
        match file.file.write_all(&data) {
            Ok(()) => {
                self.report_bytes = total;
                Ok(Ok(()))
            }
            Err(e) => Ok(Err(format!("cannot write report: {e}"))),
        }
    }

    async fn drop(&mut self, this: Resource<ReportFile>) -> wasmtime::Result<()> {
        let mut f = self.table.delete(this)?;
        let _ = f.file.flush();
        Ok(())
    }
}

//! Which process runs a run, and whether it is still alive: a run left
//! `running` by a process that ended (killed, crashed, interrupted) is
//! marked `interrupted`, with its counts from the audit log, the next time
//! easel opens the data directory.

use std::path::{Path, PathBuf};

/// This process as a run's owner: `pid:start-time@host` (the start time,
/// in clock ticks since boot, tells a reused pid apart; the host tells
/// this machine's processes from those of other hosts sharing a
/// database), with the start time empty where it cannot be read.
pub fn me() -> String {
    let pid = std::process::id();
    format!(
        "{pid}:{}@{}",
        start_time(pid).unwrap_or_default(),
        host_name()
    )
}

/// Where this process's pids mean something: the machine's name and its
/// pid namespace (containers sharing a name have namespaces of their
/// own), as `name#namespace`.
pub fn host_name() -> String {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(read_host_name).clone()
}

fn read_host_name() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    // `pid:[4026531836]`
    let namespace = std::fs::read_link("/proc/self/ns/pid")
        .ok()
        .and_then(|l| {
            l.to_string_lossy()
                .trim_start_matches("pid:[")
                .trim_end_matches(']')
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(0);
    format!("{name}#{namespace}")
}

/// Field 22 of `/proc/<pid>/stat`: when the process started.
fn start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; fields after it follow ")".
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(19).map(str::to_owned)
}

/// Is the owner `pid:start-time[@host]` still running? Where `/proc`
/// cannot say, a run is assumed alive (never marked wrongly): so is a
/// process of another host, whose runs its leases end when it dies.
pub fn alive(owner: &str) -> bool {
    let owner = match owner.rsplit_once('@') {
        Some((_, host)) if host != host_name() => return true,
        Some((local, _)) => local,
        None => owner,
    };
    let Some((pid, start)) = owner.split_once(':') else {
        return true;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return true;
    };
    if !Path::new("/proc/self/stat").exists() {
        return true;
    }
    // Dead only when /proc says so: no such process, or another process
    // with that pid. Unreadable (hidepid, another user) is alive.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(_) => true,
        Ok(_) => match start_time(pid) {
            None => true,
            Some(now) => start.is_empty() || now == start,
        },
    }
}

/// Rename the report files of interrupted runs `NAME.partial`; returns
/// the renamed files' paths.
pub fn mark_reports_partial(run_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(run_dir) else {
        return Vec::new();
    };
    let mut renamed = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_file() && path.extension().is_none_or(|e| e != "partial") {
            let mut name = path.as_os_str().to_owned();
            name.push(".partial");
            if std::fs::rename(&path, &name).is_ok() {
                renamed.push(PathBuf::from(name).display().to_string());
            }
        }
    }
    renamed.sort();
    renamed
}

/// The OS user this process runs as (by its real uid, not `$USER`): the
/// name local commands are recorded under.
pub fn os_user() -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        if let Ok(meta) = std::fs::metadata("/proc/self") {
            let uid = meta.uid();
            let name = std::fs::read_to_string("/etc/passwd")
                .ok()
                .and_then(|text| {
                    text.lines().find_map(|line| {
                        let mut f = line.split(':');
                        let name = f.next()?;
                        let _password = f.next()?;
                        (f.next()?.parse::<u32>().ok()? == uid).then(|| name.to_owned())
                    })
                });
            return name.unwrap_or_else(|| format!("uid{uid}"));
        }
    }
    std::env::var("USER")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "local".to_owned())
}

/// The actor of a local command: the OS user, all-powerful (they hold the
/// data directory and the master key).
pub fn local_actor() -> crate::Actor {
    crate::Principals::local(&os_user())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_dead_or_reused_pid_is_not() {
        let me = me();
        assert!(alive(&me), "{me}");
        let (pid, _) = me.split_once(':').unwrap_or_default();
        assert!(
            !alive(&format!("{pid}:1")),
            "a reused pid with another start time"
        );
        assert!(!alive("4194303:1"), "no such process");
        assert!(alive("garbage"), "unreadable owners are left alone");
        let host = host_name();
        assert!(me.ends_with(&format!("@{host}")), "{me}");
        assert!(!alive(&format!("4194303:1@{host}")), "gone, on this host");
        assert!(
            alive("4194303:1@another-host.example"),
            "another host's process: its leases decide, not our /proc"
        );
    }
}

//! The data directory: database, stored components, compile cache, run
//! outputs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use easel_runtime::{EngineOptions, Runtime};
use easel_store::{AuditEntry, AuditLog, AuditOptions, LegacySeal, Store};
use easel_vault::Vault;

use crate::database::Database;
use crate::error::AppError;
use crate::storage::Storage;

/// easel's data directory, opened.
pub struct Home {
    root: PathBuf,
    cache: PathBuf,
    /// Where the state is kept.
    database: Database,
    /// What the services keep (SQLite on one host, PostgreSQL for many).
    pub store: Box<dyn Storage>,
    /// The audit log (same database, its own connection).
    pub audit: Arc<AuditLog>,
}

/// The setting naming the audit witness file (`easel config set
/// audit-witness /path`).
pub const AUDIT_WITNESS: &str = "audit-witness";

/// The witness file's name in the data directory when the setting is unset.
pub const DEFAULT_WITNESS_FILE: &str = "audit.witness";

/// The data directory `root` names, or the default one: what
/// [`Home::open`] would open.
pub fn root_dir(root: Option<PathBuf>) -> PathBuf {
    root.unwrap_or_else(default_root)
}

/// `$XDG_DATA_HOME/easel`, else `~/.local/share/easel`, else `./.easel`.
fn default_root() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("easel");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(h).join(".local/share/easel");
    }
    PathBuf::from(".easel")
}

fn create_private_dir(path: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

impl Home {
    /// Open (creating) the data directory, with the database
    /// `EASEL_DATABASE_URL` names (SQLite in the directory when unset).
    pub fn open(root: Option<PathBuf>) -> Result<Self, AppError> {
        let home = Self::open_in(root, Database::from_env()?)?;
        // A SQLite database copied into PostgreSQL is the shared database's
        // past: used by default (an old unit file without the URL), it would
        // spend tokens and keep an audit log apart from the others.
        if home.database == Database::Sqlite
            && std::env::var_os(crate::database::DATABASE_ENV).is_none()
            && let Some(to) = home.store.setting(crate::database::COPIED_TO)?
        {
            return Err(AppError::invalid(format!(
                "this data directory's SQLite database was copied into PostgreSQL ({to}), where its state now lives: set EASEL_DATABASE_URL to that database (docs/DEPLOY.md). To go on with this SQLite copy instead, say so with EASEL_DATABASE_URL=sqlite"
            )));
        }
        Ok(home)
    }

    /// Open (creating) the data directory, with its state in `database`.
    /// On PostgreSQL the directory still holds this host's master key
    /// file, compile cache, components and run outputs.
    pub fn open_in(root: Option<PathBuf>, database: Database) -> Result<Self, AppError> {
        let root = root.unwrap_or_else(default_root);
        create_private_dir(&root)
            .with_context(|| format!("cannot create the data directory {}", root.display()))?;
        let (store, audit): (Box<dyn Storage>, _) = match &database {
            Database::Sqlite => {
                let db = root.join("easel.db");
                let store = Store::open(&db)
                    .with_context(|| format!("cannot open the database {}", db.display()))?;
                // The master key also keys the audit log: its MAC and
                // checkpoint signing keys are derived from it, never stored.
                let keys = Vault::open(&root)
                    .and_then(|v| v.audit_keys())
                    .context("cannot open the vault, whose master key also keys the audit log")?;
                let options = audit_options(&root, &store, false)?;
                let audit = AuditLog::open_with(&db, keys, options)
                    .with_context(|| format!("cannot open the audit log in {}", db.display()))?;
                (Box::new(store), audit)
            }
            Database::Postgres(url) => {
                let pg = crate::database::postgres(url)?;
                let keys = Vault::open_records(Box::new(pg.clone()), &Vault::key_path_in(&root))
                    .and_then(|v| v.audit_keys())
                    .map_err(|e| match e {
                        // The single-host advice (vault reset) is refused
                        // here: the key is the other hosts'.
                        easel_vault::VaultError::KeyFile { path, .. } => AppError::invalid(format!(
                            "the master key file {} cannot be used: copy master.key from another host of {} (every host needs the same file; EASEL_MASTER_KEY_FILE names another place)",
                            path.display(),
                            database.describe()
                        )),
                        other => AppError::internal(anyhow::anyhow!(
                            "cannot open the vault in {}, whose master key also keys the audit log (every host needs the same master key file): {other}",
                            database.describe()
                        )),
                    })?;
                let options = audit_options(&root, &pg, true)?;
                let audit = AuditLog::with_backend(
                    Box::new(easel_store_pg::PgAudit::shared(pg.clone())),
                    keys,
                    options,
                )
                .with_context(|| format!("cannot open the audit log in {}", database.describe()))?;
                (Box::new(pg), audit)
            }
        };
        match audit.legacy_seal() {
            Some(LegacySeal::Sealed { records }) => eprintln!(
                "note: verified the {records} audit record(s) written before keyed MACs and sealed them under a signed checkpoint"
            ),
            Some(LegacySeal::Broken { seq, reason }) => eprintln!(
                "warning: the audit log's old unkeyed chain is broken at record {seq} ({reason}); it was not sealed, and `easel audit verify` reports it"
            ),
            Some(LegacySeal::Refused { reason }) => {
                eprintln!("warning: the audit log was not sealed: {reason}")
            }
            None => {}
        }
        let home = Self {
            cache: root.join("cache"),
            root,
            database,
            store,
            audit: Arc::new(audit),
        };
        // Runs left `running` by a process that ended are interrupted.
        let orphans = home.interrupt_orphans()?;
        if !orphans.is_empty() {
            eprintln!(
                "note: {} run(s) left running by a process that ended are now marked interrupted (their counts come from the audit log): {}",
                orphans.len(),
                orphans.join(", ")
            );
        }
        Ok(home)
    }

    /// Mark runs whose process ended, or whose lease ran out, interrupted,
    /// with their report files partial; returns them.
    pub fn interrupt_orphans(&self) -> Result<Vec<String>, AppError> {
        let orphans = self
            .store
            .interrupt_runs(None, &crate::process::alive)
            .context("cannot mark runs whose process ended as interrupted")?;
        for id in &orphans {
            self.mark_partial(id);
        }
        Ok(orphans)
    }

    /// Rename an interrupted run's report files `NAME.partial` and record
    /// them in its run.
    fn mark_partial(&self, id: &str) {
        let renamed = crate::process::mark_reports_partial(&self.run_dir(id));
        if !renamed.is_empty() {
            let _ = self.store.set_run_outputs(id, &renamed);
        }
    }

    /// Mark this process's running runs interrupted (Ctrl-C, SIGTERM), with
    /// their report files partial; returns them.
    pub fn interrupt_own_runs(&self) -> Vec<String> {
        crate::run_audit::stop_recording();
        let me = crate::process::me();
        let ids = self
            .store
            .interrupt_runs(Some(&me), &|_| true)
            .unwrap_or_default();
        for id in &ids {
            self.mark_partial(id);
        }
        ids
    }

    /// Append to the audit log. An error means it was not recorded, and the
    /// caller must not go on with what it was about to do.
    pub fn audit(&self, entry: &AuditEntry) -> Result<(), AppError> {
        self.audit.append(entry).map(|_| ()).map_err(|e| {
            AppError::internal(anyhow::anyhow!(
                "the audit log could not be written ({e}); nothing was done"
            ))
        })
    }

    /// Sign the audit log's head (at the end of a run). A failure is
    /// reported, not returned: the records stand, and `audit verify` shows
    /// how far the checkpoints reach.
    pub fn checkpoint(&self, reason: &str) {
        if let Err(e) = self.audit.checkpoint(reason) {
            tracing::warn!(error = %e, "the audit log could not write a checkpoint");
            eprintln!("warning: the audit log could not write a checkpoint: {e}");
        }
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The principals service over this directory's store and audit log.
    pub fn principals(&self) -> crate::Principals<'_> {
        crate::Principals::new(self.store.as_ref(), &self.audit)
    }

    /// Where a component with this digest is stored.
    pub fn component_path(&self, digest: &str) -> PathBuf {
        self.root.join("components").join(format!("{digest}.wasm"))
    }

    /// Where a run's reports go.
    pub fn run_dir(&self, run_id: &str) -> PathBuf {
        self.root.join("runs").join(run_id)
    }

    /// The token vault (creates the master key on first use).
    pub fn vault(&self) -> Result<std::sync::Arc<Vault>, AppError> {
        let vault = match &self.database {
            Database::Sqlite => Vault::open(&self.root),
            Database::Postgres(url) => Vault::open_records(
                Box::new(crate::database::postgres(url)?),
                &Vault::key_path_in(&self.root),
            ),
        };
        vault.map(std::sync::Arc::new).map_err(AppError::internal)
    }

    /// Where the state is kept.
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// Keep precompiled components in `dir` instead (tests share one).
    pub fn with_cache_dir(mut self, dir: PathBuf) -> Self {
        self.cache = dir;
        self
    }

    /// The compile cache, when it is not the one under the data directory.
    pub fn cache_override(&self) -> Option<PathBuf> {
        (self.cache != self.root.join("cache")).then(|| self.cache.clone())
    }

    /// The plugin runtime, with its compile cache in this directory.
    pub fn runtime(&self) -> Result<Runtime, AppError> {
        self.runtime_for(EngineOptions::new(&self.cache).max_instances)
    }

    /// The plugin runtime with room for `max_instances` runs at once.
    pub fn runtime_for(&self, max_instances: u32) -> Result<Runtime, AppError> {
        let cache = self.cache.clone();
        create_private_dir(&cache).with_context(|| format!("cannot create {}", cache.display()))?;
        let options = EngineOptions {
            max_instances,
            ..EngineOptions::new(cache)
        };
        Runtime::new(options).map_err(AppError::internal)
    }

    /// Store component bytes under their digest (idempotent). On
    /// PostgreSQL the database keeps them too, for the other hosts.
    pub fn save_component(&self, digest: &str, bytes: &[u8]) -> Result<PathBuf, AppError> {
        if let Database::Postgres(url) = &self.database {
            crate::database::postgres(url)?
                .put_component(digest, bytes)
                .context("cannot store the component in the database")?;
        }
        self.save_component_file(digest, bytes)
    }

    /// The sha256 of the bytes stored for the component with `digest`
    /// (which is `digest` unless they were changed after they were
    /// stored). Hashing a Python plugin's 20 MiB took tens of
    /// milliseconds of every run, so a file is hashed again only when its
    /// identity, size, modification time or change time differ from when
    /// it was last hashed in this process; any write to the file, or
    /// another file put in its place, changes one of them (a file's
    /// change time cannot be set back from user space). Runs that start
    /// together hash it once: the others wait and take that result.
    pub fn stored_component_digest(&self, digest: &str) -> Result<String, AppError> {
        use sha2::{Digest as _, Sha256};
        let path = self.component_path(digest);
        file_digest_once(&path, || {
            Ok(hex::encode(Sha256::digest(&self.component_bytes(digest)?)))
        })
    }

    /// The bytes stored for the component with `digest`: from this
    /// directory, or (on PostgreSQL, for one submitted on another host)
    /// from the database, refused there unless they hash to `digest`, and
    /// kept here after. The caller checks them against the digest it
    /// trusts (a run refuses, and audits, bytes changed after approval).
    pub fn component_bytes(&self, digest: &str) -> Result<Vec<u8>, AppError> {
        use sha2::{Digest as _, Sha256};
        let path = self.component_path(digest);
        let from_file = std::fs::read(&path);
        let bytes = match (from_file, &self.database) {
            (Ok(bytes), _) => bytes,
            (Err(_), Database::Postgres(url)) => {
                let Some(bytes) = crate::database::postgres(url)?
                    .component(digest)
                    .context("cannot read the component from the database")?
                else {
                    return Err(AppError::invalid(format!(
                        "the component {digest} is in neither {} nor the database: submit it again",
                        path.display()
                    )));
                };
                if hex::encode(Sha256::digest(&bytes)) != digest {
                    return Err(AppError::internal(anyhow::anyhow!(
                        "the component stored in the database for {digest} does not hash to it: it was changed there after it was submitted; submit it again"
                    )));
                }
                self.save_component_file(digest, &bytes)?;
                bytes
            }
            (Err(e), Database::Sqlite) => {
                return Err(AppError::invalid(format!(
                    "cannot read the stored component {} ({e}): submit it again",
                    path.display()
                )));
            }
        };
        Ok(bytes)
    }

    fn save_component_file(&self, digest: &str, bytes: &[u8]) -> Result<PathBuf, AppError> {
        let path = self.component_path(digest);
        if path.exists() {
            return Ok(path);
        }
        let dir = self.root.join("components");
        create_private_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        // A temporary name of this writer's own: two runs fetching the
        // same component at once must not write into one file (a torn
        // file would fail its digest check). The rename is atomic.
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let tmp = path.with_extension(format!(
            "{}.{}.tmp",
            std::process::id(),
            WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::write(&tmp, bytes)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .with_context(|| format!("cannot store the component in {}", dir.display()))?;
        Ok(path)
    }
}

/// The witness file: the `audit-witness` setting, else `audit.witness` in
/// the data directory, and for the default a warning (logged once, when the
/// file is created) that it should be moved: beside the database, whoever
/// can rewrite the one can rewrite the other.
fn audit_options(root: &Path, store: &dyn Storage, shared: bool) -> Result<AuditOptions, AppError> {
    let (witness, warning) = witness_path(root, store, shared)?;
    Ok(AuditOptions {
        witness: Some(witness),
        warn_on_witness_created: warning,
        ..AuditOptions::default()
    })
}

fn witness_path(
    root: &Path,
    store: &dyn Storage,
    shared: bool,
) -> Result<(PathBuf, Option<String>), AppError> {
    if let Some(set) = store.setting(AUDIT_WITNESS)? {
        return Ok((PathBuf::from(set), None));
    }
    let path = root.join(DEFAULT_WITNESS_FILE);
    let warning = if shared {
        format!(
            "audit checkpoints are witnessed in {}, in this host's data directory: each host keeps only its own. Point every host at one file the database's administrators cannot rewrite (append-only, another machine): easel config set {AUDIT_WITNESS} /path",
            path.display()
        )
    } else {
        format!(
            "audit checkpoints are witnessed in {}, beside the database: whoever can rewrite the database can rewrite it too. Move it to storage they cannot rewrite (append-only, another host): easel config set {AUDIT_WITNESS} /path",
            path.display()
        )
    };
    Ok((path, Some(warning)))
}

/// The digest `hash` computes for the file at `path`, remembered while the
/// file's [`FileStamp`] stays the same. One caller per path looks and
/// hashes at a time, so those that waited take its result when the file
/// is still the one it hashed: 64 runs of a Python plugin starting at once
/// (a server starting with a full queue) read and hash its 20 MiB once,
/// not 64 times side by side with 1.3 GiB of copies.
fn file_digest_once(
    path: &Path,
    hash: impl FnOnce() -> Result<String, AppError>,
) -> Result<String, AppError> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    type Hashed = Arc<Mutex<Option<(FileStamp, String)>>>;
    static FILES: OnceLock<Mutex<HashMap<PathBuf, Hashed>>> = OnceLock::new();
    let file = FILES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(path.to_path_buf())
        .or_default()
        .clone();
    let mut known = file.lock().unwrap_or_else(|p| p.into_inner());
    // Stamped before the read: a write during it shows as a new stamp
    // next time.
    let stamp = FileStamp::of(path);
    if let (Some(now), Some((then, digest))) = (&stamp, &*known)
        && now == then
    {
        return Ok(digest.clone());
    }
    let actual = hash()?;
    // A file changed in the last seconds is not remembered: the kernel's
    // timestamps are coarse, and a second write in the same tick would
    // keep the stamp.
    if let Some(stamp) = stamp.filter(FileStamp::settled) {
        *known = Some((stamp, actual.clone()));
    }
    Ok(actual)
}

/// What identifies a file's content without reading it: device, inode,
/// size, and modification and change times to the nanosecond.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp([i64; 7]);

impl FileStamp {
    fn of(path: &Path) -> Option<Self> {
        use std::os::unix::fs::MetadataExt as _;
        let m = std::fs::metadata(path).ok()?;
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        Some(Self([
            n(m.dev()),
            n(m.ino()),
            n(m.size()),
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec(),
        ]))
    }

    /// Whether the file last changed more than two seconds ago.
    fn settled(&self) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        self.0[5] < now - 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Asks for the digest of `path` from `callers` threads at once, each
    /// hash taking 100 ms; how many hashed, and the most at one time.
    fn at_once(path: &Path, callers: usize) -> (usize, usize) {
        let (hashes, now, most) = (
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
        );
        let start = std::sync::Barrier::new(callers);
        std::thread::scope(|s| {
            for _ in 0..callers {
                s.spawn(|| {
                    start.wait();
                    let d = file_digest_once(path, || {
                        hashes.fetch_add(1, Ordering::SeqCst);
                        most.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(100));
                        now.fetch_sub(1, Ordering::SeqCst);
                        Ok(std::fs::read_to_string(path).unwrap())
                    })
                    .unwrap();
                    assert_eq!(d, std::fs::read_to_string(path).unwrap());
                });
            }
        });
        (hashes.into_inner(), most.into_inner())
    }

    /// Runs starting together hash a stored component once, and a write
    /// to it makes the next run hash it again.
    #[test]
    fn callers_at_once_hash_a_settled_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("component.wasm");
        std::fs::write(&path, "first").unwrap();
        // Only a file unchanged for two seconds is remembered.
        std::thread::sleep(Duration::from_millis(3100));
        assert_eq!(at_once(&path, 16), (1, 1));
        assert_eq!(at_once(&path, 4), (0, 0), "remembered");
        std::fs::write(&path, "second").unwrap();
        // Just written: every caller hashes it, one at a time.
        assert_eq!(at_once(&path, 4), (4, 1), "a changed file is hashed again");
    }

    /// A caller that waited while the file changed under the one hashing
    /// does not take that result: it looks at the file again after the
    /// wait, and hashes what is there now.
    #[test]
    fn a_caller_that_waited_while_the_file_changed_hashes_it_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("component.wasm");
        std::fs::write(&path, "first").unwrap();
        std::thread::sleep(Duration::from_millis(3100));
        let hashes = AtomicUsize::new(0);
        let start = std::sync::Barrier::new(4);
        let got: Vec<String> = std::thread::scope(|s| {
            let callers: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        start.wait();
                        file_digest_once(&path, || {
                            let read = std::fs::read_to_string(&path).unwrap();
                            if hashes.fetch_add(1, Ordering::SeqCst) == 0 {
                                // The others are waiting by now, their
                                // first look at the file taken.
                                std::thread::sleep(Duration::from_millis(200));
                                std::fs::write(&path, "second").unwrap();
                            }
                            Ok(read)
                        })
                        .unwrap()
                    })
                })
                .collect();
            callers.into_iter().map(|c| c.join().unwrap()).collect()
        });
        let firsts = got.iter().filter(|d| *d == "first").count();
        assert_eq!(
            firsts, 1,
            "only the caller that read it before the write: {got:?}"
        );
        assert_eq!(hashes.into_inner(), 4);
    }

    /// A file changed in the last seconds is hashed by every caller (its
    /// stamp could hide a second write), one at a time.
    #[test]
    fn a_file_just_written_is_hashed_by_each_caller_in_turn() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("component.wasm");
        std::fs::write(&path, "fresh").unwrap();
        assert_eq!(at_once(&path, 4), (4, 1));
    }
}

//! Python plugins: a pinned `componentize-py` (from PyPI, in a venv cached
//! under `target/`) builds a plugin folder (`app.py`, `easel.toml`) with the
//! `easel` SDK (`plugins/python`) into a component for easel's WIT world.
//!
//! Threat: a component that reaches past `easel:canvas`. The build stubs
//! every WASI import with a trap (`--stub-wasi`), so the component imports
//! only `easel:canvas` interfaces, and a read-only plugin (manifest without
//! `write = true`) is built against the `reader` world, so it cannot import
//! `write`. CPython's start-up runs at build time; the build machine's
//! environment is not captured (checked by the tests).
//!
//! Built components are cached by the sha256 of everything that goes into
//! them (tool version, WIT, SDK, plugin files), so CI builds each once.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// The pinned tool. Changing it rebuilds every Python component.
pub const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

/// Why a Python plugin could not be built.
#[derive(Debug)]
pub enum PythonBuildError {
    /// `python3 -m venv` is not available.
    NoPython(String),
    /// pip could not install componentize-py (usually: no network to PyPI).
    Install(String),
    /// The plugin folder is not a Python plugin.
    Plugin(String),
    /// componentize-py failed on the plugin.
    Componentize(String),
    /// Reading or writing the cache failed.
    Io(String),
    /// A plugin's dependencies could not be installed.
    Dependencies(String),
}

impl std::fmt::Display for PythonBuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoPython(e) => write!(
                f,
                "Python plugins are built with python3 and venv, which failed: {e}. Install python3 with the venv module (Debian: apt-get install python3-venv), then build again"
            ),
            Self::Install(e) => write!(
                f,
                "cannot install {COMPONENTIZE_PY} from PyPI (offline, or PyPI unreachable?): {e}. Python plugins need it once: connect to PyPI (or set PIP_INDEX_URL / PIP_FIND_LINKS to a mirror holding it) and build again"
            ),
            Self::Plugin(e) => write!(f, "not a Python plugin: {e}"),
            Self::Componentize(e) => write!(f, "the Python plugin did not build: {e}"),
            Self::Io(e) => write!(f, "Python plugin cache: {e}"),
            Self::Dependencies(e) => write!(
                f,
                "cannot bundle the plugin's dependencies: {e}. List pure-Python packages only (a wheel for any platform, py3-none-any), pinned as name==version, one per line in requirements.txt, with their own dependencies (each is installed without them); requests is easel's own"
            ),
        }
    }
}

impl std::error::Error for PythonBuildError {}

/// Where Python builds keep their venv and components (under `target/`).
#[derive(Debug, Clone)]
pub struct PythonBuild {
    /// Repository root: holds `wit/` and `plugins/python/easel`.
    pub repo: PathBuf,
    /// Cache folder, e.g. `target/python`.
    pub cache: PathBuf,
}

impl PythonBuild {
    /// Builds for `repo` caching under `cache`.
    pub fn new(repo: impl Into<PathBuf>, cache: impl Into<PathBuf>) -> Self {
        Self {
            repo: repo.into(),
            cache: cache.into(),
        }
    }

    /// The venv's python, with `componentize-py` installed on first use.
    pub fn venv_python(&self) -> Result<PathBuf, PythonBuildError> {
        let version = COMPONENTIZE_PY.replace("==", "-");
        let venv = self.cache.join(format!("venv-{version}"));
        // The venv's python finds its venv from its own path, so it keeps
        // working after the rename below (the installed scripts would not).
        let tool = venv.join("bin/python");
        if venv.join(".installed").exists() {
            return Ok(tool);
        }
        std::fs::create_dir_all(&self.cache).map_err(|e| io(&self.cache, e))?;
        // Build in a private folder and rename, so concurrent builds never
        // see a half-installed venv.
        let tmp = self.cache.join(format!(".venv-{version}-{}", unique()));
        let _ = std::fs::remove_dir_all(&tmp);
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&tmp)
            .output()
            .map_err(|e| PythonBuildError::NoPython(e.to_string()))?;
        if !made.status.success() {
            return Err(PythonBuildError::NoPython(tail(&made.stderr)));
        }
        let pip = Command::new(tmp.join("bin/python"))
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                COMPONENTIZE_PY,
            ])
            .output()
            .map_err(|e| PythonBuildError::Install(e.to_string()))?;
        if !pip.status.success() {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(PythonBuildError::Install(tail(&pip.stderr)));
        }
        std::fs::write(tmp.join(".installed"), COMPONENTIZE_PY).map_err(|e| io(&tmp, e))?;
        // A concurrent build may have won the rename: use its venv.
        if std::fs::rename(&tmp, &venv).is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        if venv.join(".installed").exists() {
            Ok(tool)
        } else {
            Err(PythonBuildError::Io(format!(
                "{} was not created",
                venv.display()
            )))
        }
    }

    /// Install pure-Python `requirements` (e.g. `canvasapi==3.6.0`) for
    /// the component into a folder of their own, cached by the list: wheels
    /// for any platform only (nothing compiled goes into a component),
    /// each without its dependencies (the list names them all). `requests`
    /// is refused: the SDK brings its own, which goes through the host.
    pub fn dependencies(&self, requirements: &[String]) -> Result<PathBuf, PythonBuildError> {
        for r in requirements {
            let name: String = r
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                .collect::<String>()
                .to_ascii_lowercase()
                .replace('_', "-");
            if name == "requests" {
                return Err(PythonBuildError::Dependencies(
                    "requests is easel's own (it sends through the host); drop it from requirements.txt"
                        .into(),
                ));
            }
            if name.is_empty() || r.starts_with('-') || r.contains(['/', '\\', ' ']) {
                return Err(PythonBuildError::Dependencies(format!(
                    "{r:?} is not a package requirement such as canvasapi==3.6.0"
                )));
            }
        }
        let mut h = Sha256::new();
        for r in requirements {
            h.update(r.as_bytes());
            h.update(b"\n");
        }
        let dir = self
            .cache
            .join("deps")
            .join(&hex::encode(h.finalize())[..16]);
        if dir.join(".installed").exists() {
            return Ok(dir);
        }
        let tool = self.venv_python()?;
        let parent = self.cache.join("deps");
        std::fs::create_dir_all(&parent).map_err(|e| io(&parent, e))?;
        let tmp = parent.join(format!(".tmp-{}", unique()));
        let pip = Command::new(&tool)
            .env_remove("EASEL_DATABASE_URL")
            .env_remove("EASEL_MASTER_KEY_FILE")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--only-binary=:all:",
                "--platform",
                "any",
                "--implementation",
                "py",
                "--python-version",
                "3.12",
                "--target",
            ])
            .arg(&tmp)
            .args(requirements)
            .output()
            .map_err(|e| PythonBuildError::Dependencies(e.to_string()))?;
        if !pip.status.success() {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(PythonBuildError::Dependencies(tail(&pip.stderr)));
        }
        // Metadata and caches are not code.
        if let Ok(entries) = std::fs::read_dir(&tmp) {
            for e in entries.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.ends_with(".dist-info") || n == "__pycache__" || n == "bin" {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        std::fs::write(tmp.join(".installed"), requirements.join("\n")).map_err(|e| io(&tmp, e))?;
        if std::fs::rename(&tmp, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        if dir.join(".installed").exists() {
            Ok(dir)
        } else {
            Err(PythonBuildError::Io(format!(
                "{} was not created",
                dir.display()
            )))
        }
    }

    /// Build the plugin in `dir` (`app.py` defining `run(cx)`, `easel.toml`)
    /// into a component, or return the cached one. Returns its path.
    pub fn build(&self, dir: &Path) -> Result<PathBuf, PythonBuildError> {
        if !dir.join("app.py").is_file() {
            return Err(PythonBuildError::Plugin(format!(
                "{} has no app.py",
                dir.display()
            )));
        }
        let manifest = std::fs::read_to_string(dir.join("easel.toml"))
            .map_err(|e| PythonBuildError::Plugin(format!("{}/easel.toml: {e}", dir.display())))?;
        let world = if requests_write(&manifest) {
            "easel:canvas/plugin"
        } else {
            "easel:canvas/reader"
        };
        let sdk = self.repo.join("plugins/python");
        let wit = self.repo.join("wit");
        let mut h = Sha256::new();
        h.update(COMPONENTIZE_PY);
        h.update(world);
        for root in [
            &wit,
            &sdk.join("easel"),
            &sdk.join("requests"),
            &sdk.join("easel_entry.py"),
            dir,
        ] {
            hash_tree(&mut h, root)?;
        }
        let key = hex::encode(h.finalize());
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("plugin")
            .to_owned();
        let out_dir = self.cache.join("components");
        let out = out_dir.join(format!("{name}-{}.wasm", &key[..16]));
        if out.is_file() {
            return Ok(out);
        }
        let tool = self.venv_python()?;
        let requirements = match std::fs::read_to_string(dir.join("requirements.txt")) {
            Ok(text) => text
                .lines()
                .map(|l| l.split('#').next().unwrap_or_default().trim().to_owned())
                .filter(|l| !l.is_empty())
                .collect(),
            Err(_) => Vec::new(),
        };
        let deps = if requirements.is_empty() {
            None
        } else {
            Some(self.dependencies(&requirements)?)
        };
        std::fs::create_dir_all(&out_dir).map_err(|e| io(&out_dir, e))?;
        // Only the SDK and the plugin's own files go in: componentize-py
        // bundles whatever its Python path holds.
        let stage = self.cache.join(format!(".stage-{}", unique()));
        copy_tree(dir, &stage)?;
        copy_tree(&sdk.join("easel"), &stage.join("easel"))?;
        copy_tree(&sdk.join("easel_entry.py"), &stage.join("easel_entry.py"))?;
        copy_tree(&sdk.join("requests"), &stage.join("requests"))?;
        if let Some(deps) = &deps {
            for e in std::fs::read_dir(deps).map_err(|e| io(deps, e))?.flatten() {
                let name = e.file_name();
                if name != ".installed" {
                    copy_tree(&e.path(), &stage.join(&name))?;
                }
            }
        }
        let tmp = out.with_extension(format!("tmp{}", unique()));
        let run = Command::new(&tool)
            .env_remove("EASEL_DATABASE_URL")
            .env_remove("EASEL_MASTER_KEY_FILE")
            .args(["-c", SCRIPT, "-d"])
            .arg(&wit)
            .args(["-w", world, "componentize", "--stub-wasi", "-p"])
            .arg(&stage)
            .args(["easel_entry", "-o"])
            .arg(&tmp)
            // Nothing of the build machine's environment goes in.
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.cache)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .current_dir(&self.cache)
            .output();
        let _ = std::fs::remove_dir_all(&stage);
        let run = run.map_err(|e| PythonBuildError::Componentize(e.to_string()))?;
        if !run.status.success() {
            let _ = std::fs::remove_file(&tmp);
            let stderr = String::from_utf8_lossy(&run.stderr);
            return Err(PythonBuildError::Componentize(format!(
                "{}{}: {}{}",
                explain(dir, &stderr).map_or(String::new(), |e| format!("{e}\n\n")),
                dir.display(),
                String::from_utf8_lossy(&run.stdout),
                tail(&run.stderr)
            )));
        }
        std::fs::rename(&tmp, &out).map_err(|e| io(&out, e))?;
        Ok(out)
    }
}

impl PythonBuild {
    /// Generate the Python bindings of `world` (e.g. `easel:canvas/plugin`)
    /// into `out`, for testing the SDK without wasm.
    pub fn bindings(&self, world: &str, out: &Path) -> Result<(), PythonBuildError> {
        let python = self.venv_python()?;
        let run = Command::new(python)
            .env_remove("EASEL_DATABASE_URL")
            .env_remove("EASEL_MASTER_KEY_FILE")
            .args(["-c", SCRIPT, "-d"])
            .arg(self.repo.join("wit"))
            .args(["-w", world, "bindings"])
            .arg(out)
            .output()
            .map_err(|e| PythonBuildError::Componentize(e.to_string()))?;
        if !run.status.success() {
            return Err(PythonBuildError::Componentize(tail(&run.stderr)));
        }
        Ok(())
    }
}

/// Runs componentize-py's entry point with the venv's python.
const SCRIPT: &str = "import sys; from componentize_py import script; sys.argv[0] = 'componentize-py'; sys.exit(script())";

/// Does the manifest's `[capabilities]` say `write = true`? A plain scan,
/// not a parse: the host validates the manifest at `plugin add`, and a
/// plugin built for the wrong world is refused there.
fn requests_write(manifest: &str) -> bool {
    let mut in_caps = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_caps = line == "[capabilities]";
        } else if in_caps {
            let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
            if compact.starts_with("write=true") {
                return true;
            }
        }
    }
    false
}

/// A name part no other build in this or another process uses now.
fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn io(path: &Path, e: std::io::Error) -> PythonBuildError {
    PythonBuildError::Io(format!("{}: {e}", path.display()))
}

/// The plugin's own error in componentize-py's output, where it is and
/// what to do: `DIR/app.py, line 12: SyntaxError: expected ':'`.
fn explain(dir: &Path, stderr: &str) -> Option<String> {
    let is_exception = |l: &str| {
        l.split_once(": ").is_some_and(|(name, _)| {
            let name = name.rsplit('.').next().unwrap_or(name);
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && (name.ends_with("Error") || name.ends_with("Exception"))
        })
    };
    let cause = stderr
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| is_exception(l))?;
    // The innermost frame in the plugin's files (not the SDK's entry).
    let place = stderr.lines().rev().find_map(|l| {
        let rest = l.trim_start().strip_prefix("File \"")?;
        let (file, rest) = rest.split_once('"')?;
        let line = rest.strip_prefix(", line ")?;
        let line: String = line.chars().take_while(char::is_ascii_digit).collect();
        // componentize-py names the staged folder `/0/`, `/1/`...
        let file = file.trim_start_matches('/');
        let file = file.split_once('/').map_or(file, |(_, f)| f);
        (!file.starts_with("easel_entry") && !file.starts_with('<') && !line.is_empty())
            .then(|| format!("{}, line {line}", dir.join(file).display()))
    });
    let what = if cause.starts_with("ModuleNotFoundError") {
        "\nA package the plugin imports is not bundled: add it, pinned, to requirements.txt beside app.py (pure-Python packages only), or drop the import"
    } else if cause.contains("defines no run(cx)") {
        ""
    } else if cause.starts_with("SyntaxError") || cause.starts_with("IndentationError") {
        "\nFix the Python there and build again"
    } else {
        "\nThe plugin failed while it was imported (its top-level code runs at build time): fix it and build again"
    };
    Some(match place {
        Some(p) => format!("{p}: {cause}{what}"),
        None => format!("{cause}{what}"),
    })
}

fn tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// Copy a file or a folder (without `__pycache__`).
fn copy_tree(from: &Path, to: &Path) -> Result<(), PythonBuildError> {
    if from.is_dir() {
        std::fs::create_dir_all(to).map_err(|e| io(to, e))?;
        for e in std::fs::read_dir(from).map_err(|e| io(from, e))? {
            let path = e.map_err(|e| io(from, e))?.path();
            if let Some(name) = path.file_name().filter(|n| *n != "__pycache__") {
                copy_tree(&path, &to.join(name))?;
            }
        }
        Ok(())
    } else {
        std::fs::copy(from, to).map(|_| ()).map_err(|e| io(from, e))
    }
}

/// Hash every file under `root` (or `root` itself), by relative path and
/// content, in a stable order; `__pycache__` is skipped.
fn hash_tree(h: &mut Sha256, root: &Path) -> Result<(), PythonBuildError> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            for e in std::fs::read_dir(&p).map_err(|e| io(&p, e))? {
                let path = e.map_err(|e| io(&p, e))?.path();
                if path.file_name().is_some_and(|n| n != "__pycache__") {
                    stack.push(path);
                }
            }
        } else {
            files.push(p);
        }
    }
    files.sort();
    for f in files {
        let rel = f.strip_prefix(root).unwrap_or(&f);
        h.update(rel.to_string_lossy().as_bytes());
        h.update([0]);
        let bytes = std::fs::read(&f).map_err(|e| io(&f, e))?;
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::requests_write;

    #[test]
    fn write_is_read_from_the_capabilities_table_only() {
        assert!(requests_write(
            "[capabilities]\nread = true\nwrite = true\n"
        ));
        assert!(!requests_write("[capabilities]\nwrite = false\n"));
        assert!(!requests_write("[params.write]\nwrite = true\n"));
        assert!(!requests_write("id = \"x\"\n"));
    }
}

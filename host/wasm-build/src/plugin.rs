//! `easel plugin build`: build a plugin folder into a component, whatever
//! its language, on the author's machine (no data directory, no copy of
//! this repository).
//!
//! - A folder with `Cargo.toml` is a Rust plugin: `cargo build --release
//!   --target wasm32-wasip2`, and the `.wasm` cargo reports.
//! - A folder with `app.py` (or `pyproject.toml`) is a Python plugin: built
//!   by [`crate::python`] against the WIT and the `easel` SDK this binary
//!   carries, written once into the cache.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::python::PythonBuild;

/// A plugin's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// A Rust crate.
    Rust,
    /// `app.py` with `run(cx)`.
    Python,
}

impl Lang {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
        }
    }
}

/// A built plugin.
#[derive(Debug, Clone)]
pub struct Built {
    /// Its language.
    pub lang: Lang,
    /// The component.
    pub wasm: PathBuf,
    /// Its manifest.
    pub manifest: PathBuf,
}

/// What language the plugin in `dir` is written in.
pub fn detect(dir: &Path) -> Result<Lang, String> {
    if dir.join("Cargo.toml").is_file() {
        Ok(Lang::Rust)
    } else if dir.join("app.py").is_file() || dir.join("pyproject.toml").is_file() {
        Ok(Lang::Python)
    } else {
        Err(format!(
            "{} holds neither Cargo.toml (a Rust plugin) nor app.py (a Python plugin)",
            dir.display()
        ))
    }
}

/// Build the plugin in `dir`, caching what can be cached under `cache`.
pub fn build(dir: &Path, cache: &Path) -> Result<Built, String> {
    let manifest = dir.join("easel.toml");
    if !manifest.is_file() {
        return Err(format!(
            "{} has no easel.toml: a plugin ships its manifest beside its code",
            dir.display()
        ));
    }
    let lang = detect(dir)?;
    let wasm = match lang {
        Lang::Rust => build_rust(dir)?,
        Lang::Python => {
            let root = sdk(cache)?;
            PythonBuild::new(root, cache.join("python"))
                .build(dir)
                .map_err(|e| e.to_string())?
        }
    };
    Ok(Built {
        lang,
        wasm,
        manifest,
    })
}

fn build_rust(dir: &Path) -> Result<PathBuf, String> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "--target",
            crate::TARGET,
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(dir)
        // A plugin's build scripts are its author's code: nothing of
        // easel's own configuration (the database's URL and password) for
        // them to read.
        .env_remove("EASEL_DATABASE_URL")
        .env_remove("EASEL_MASTER_KEY_FILE")
        .output()
        .map_err(|e| format!("cannot run cargo (is Rust installed?): {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        if stderr.contains("wasm32-wasip2") && stderr.contains("target may not be installed") {
            return Err(
                "the wasm32-wasip2 target is not installed: run `rustup target add wasm32-wasip2`, then build again"
                    .into(),
            );
        }
        let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
        return Err(format!(
            "cargo build failed:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    let mut wasm = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["reason"] != "compiler-artifact" {
            continue;
        }
        for f in v["filenames"].as_array().into_iter().flatten() {
            if let Some(f) = f.as_str().filter(|f| f.ends_with(".wasm")) {
                wasm = Some(PathBuf::from(f));
            }
        }
    }
    wasm.ok_or_else(|| {
        "cargo built no .wasm: a plugin crate needs `[lib] crate-type = [\"cdylib\"]`".into()
    })
}

/// The files a Python plugin is built with, as this binary carries them.
const SDK: &[(&str, &str)] = &[
    ("wit/context.wit", include_str!("../../../wit/context.wit")),
    ("wit/log.wit", include_str!("../../../wit/log.wit")),
    ("wit/read.wit", include_str!("../../../wit/read.wit")),
    ("wit/report.wit", include_str!("../../../wit/report.wit")),
    ("wit/types.wit", include_str!("../../../wit/types.wit")),
    ("wit/world.wit", include_str!("../../../wit/world.wit")),
    ("wit/write.wit", include_str!("../../../wit/write.wit")),
    (
        "plugins/python/easel/__init__.py",
        include_str!("../../../plugins/python/easel/__init__.py"),
    ),
    (
        "plugins/python/easel/canvas.py",
        include_str!("../../../plugins/python/easel/canvas.py"),
    ),
    (
        "plugins/python/easel/context.py",
        include_str!("../../../plugins/python/easel/context.py"),
    ),
    (
        "plugins/python/easel/errors.py",
        include_str!("../../../plugins/python/easel/errors.py"),
    ),
    (
        "plugins/python/easel/log.py",
        include_str!("../../../plugins/python/easel/log.py"),
    ),
    (
        "plugins/python/easel/report.py",
        include_str!("../../../plugins/python/easel/report.py"),
    ),
    (
        "plugins/python/easel_entry.py",
        include_str!("../../../plugins/python/easel_entry.py"),
    ),
    (
        "plugins/python/requests/__init__.py",
        include_str!("../../../plugins/python/requests/__init__.py"),
    ),
];

/// The WIT and the Python SDK, written under `cache` (once per version of
/// them): a root laid out as this repository is, for [`PythonBuild`].
pub fn sdk(cache: &Path) -> Result<PathBuf, String> {
    let mut h = Sha256::new();
    for (name, text) in SDK {
        h.update(name.as_bytes());
        h.update(text.as_bytes());
    }
    let root = cache.join(format!("sdk-{}", &hex::encode(h.finalize())[..16]));
    if root.join(".complete").exists() {
        return Ok(root);
    }
    for (name, text) in SDK {
        let path = root.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    std::fs::write(root.join(".complete"), "").map_err(|e| format!("{}: {e}", root.display()))?;
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file the build needs is carried: a new SDK module or WIT file
    /// must be added to `SDK`.
    #[test]
    fn the_carried_sdk_holds_every_file_of_the_repositorys() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut expected = Vec::new();
        for (dir, ext) in [
            ("wit", "wit"),
            ("plugins/python/easel", "py"),
            ("plugins/python/requests", "py"),
        ] {
            for e in std::fs::read_dir(repo.join(dir)).unwrap_or_else(|e| panic!("{dir}: {e}")) {
                let p = e.unwrap_or_else(|e| panic!("{e}")).path();
                if p.extension().is_some_and(|x| x == ext) {
                    let name = p
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned();
                    expected.push(format!("{dir}/{name}"));
                }
            }
        }
        expected.push("plugins/python/easel_entry.py".into());
        expected.sort();
        let mut carried: Vec<String> = SDK.iter().map(|(n, _)| (*n).to_owned()).collect();
        carried.sort();
        assert_eq!(carried, expected);
    }

    #[test]
    fn the_language_is_told_by_the_folder() {
        let dir = std::env::temp_dir().join(format!("easel-detect-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        assert!(detect(&dir).is_err());
        std::fs::write(dir.join("app.py"), "def run(cx): pass\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(detect(&dir), Ok(Lang::Python));
        std::fs::write(dir.join("Cargo.toml"), "[package]\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(detect(&dir), Ok(Lang::Rust));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

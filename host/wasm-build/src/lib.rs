//! Build-script helper: compiles easel's guest workspace (`plugins/`, which
//! also holds the hostile test plugins) for `wasm32-wasip2`.
//!
//! Rust guests built for that target with wit-bindgen are components
//! directly. rustup does not always honour the `targets` line of
//! `rust-toolchain.toml` on an installed toolchain, so the target is added
//! here when it is missing. Python plugins are built by [`python`].

pub mod plugin;
pub mod python;
pub mod scaffold;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The guest target.
pub const TARGET: &str = "wasm32-wasip2";

/// One built component.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// File stem, e.g. `course_report` or `test_noop`.
    pub name: String,
    /// Absolute path of the `.wasm` file.
    pub path: PathBuf,
}

/// Stop the build with a one-line message that says what to do.
fn fail(message: &str) -> ! {
    println!("cargo::error={message}");
    eprintln!("error: {message}");
    std::process::exit(1)
}

fn ensure_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let installed = sysroot
        .as_deref()
        .is_some_and(|s| Path::new(s).join("lib/rustlib").join(TARGET).exists());
    if installed {
        return;
    }
    let added = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .is_ok_and(|s| s.success());
    if !added {
        fail(
            "the wasm32-wasip2 target is missing and could not be installed: run `rustup target add wasm32-wasip2`, then build again",
        );
    }
}

/// Build every guest in `<repo>/plugins` (release, `wasm32-wasip2`) into
/// `<target-dir>/guests` and return the components.
pub fn build_guests(repo: &Path) -> Vec<Artifact> {
    let guests = repo.join("plugins");
    for dir in ["wit", "plugins", "tests/plugins"] {
        println!("cargo::rerun-if-changed={}", repo.join(dir).display());
    }
    ensure_target();
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("target"))
        .join("guests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    // Run from the guest workspace so its .cargo/config.toml applies.
    cmd.current_dir(&guests)
        .args(["build", "--release", "--workspace", "--target", TARGET])
        .arg("--manifest-path")
        .arg(guests.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    // The host build's flags and settings must not leak into the guest build.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| fail(&format!("cannot run cargo to build plugins: {e}")));
    if !status.success() {
        fail("building the wasm plugins failed (see the cargo output above)");
    }
    let out = target_dir.join(TARGET).join("release");
    let mut artifacts: Vec<Artifact> = std::fs::read_dir(&out)
        .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", out.display())))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .filter_map(|path| {
            let name = path.file_stem()?.to_str()?.replace('-', "_");
            Some(Artifact { name, path })
        })
        .collect();
    artifacts.sort_by(|a, b| a.name.cmp(&b.name));
    artifacts
}

/// Find an artifact by name or stop the build naming it.
pub fn find<'a>(artifacts: &'a [Artifact], name: &str) -> &'a Artifact {
    artifacts
        .iter()
        .find(|a| a.name == name)
        .unwrap_or_else(|| fail(&format!("plugin {name} was not built")))
}

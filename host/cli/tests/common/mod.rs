//! What the binary tests share: running `easel` on a data directory, and a
//! bundled plugin's files on disk to submit.

#![allow(clippy::unwrap_used, dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Run `easel ARGS` on `home`; it must succeed.
pub fn easel(home: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_easel"))
        .args(args)
        .env("EASEL_HOME", home)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Write a bundled plugin's component and manifest into `dir`; their paths.
pub fn bundled_files(dir: &Path, plugin: &easel_bundled::Plugin) -> (String, String) {
    let (wasm, manifest) = (dir.join("p.wasm"), dir.join("easel.toml"));
    std::fs::write(&wasm, plugin.wasm).unwrap();
    std::fs::write(&manifest, plugin.manifest).unwrap();
    (
        wasm.to_str().unwrap().to_owned(),
        manifest.to_str().unwrap().to_owned(),
    )
}

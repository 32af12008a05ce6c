//! Shared helpers for easel's end-to-end tests: the built test plugins, a
//! simulator with a known token, and a data directory per test.

use std::path::Path;

use easel_canvas::Token;
use easel_cli::{Connection, Home};
use easel_sim::{SimConfig, SimHandle, Simulator};
use secrecy::SecretString;

/// Paths of every component the build produced, one constant each.
pub mod programs {
    include!(concat!(env!("OUT_DIR"), "/programs.rs"));
}

/// A unique, recognisable token for canary tests.
pub fn canary_token() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    let body: String = (0..40)
        .map(|_| {
            const A: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
            A[rng.random_range(0..A.len())] as char
        })
        .collect();
    format!("7~CANARY{body}")
}

/// A running simulator with `token` as its admin token.
pub async fn sim_with_token(token: &str) -> SimHandle {
    Simulator::start(SimConfig {
        admin_token: Some(token.to_owned()),
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

/// A connection to `sim` with `token`.
pub fn connect(sim: SimHandle, token: &str) -> Connection {
    Connection::to_sim(sim, Token::new(SecretString::from(token.to_owned())))
        .expect("client builds")
}

/// A data directory in `dir`, with the shared compile cache linked in so
/// each test does not recompile every plugin.
pub fn home(dir: &Path) -> Home {
    Home::open(Some(dir.to_path_buf()))
        .expect("home opens")
        .with_cache_dir(Path::new(env!("OUT_DIR")).join("compile-cache"))
}

/// A manifest for a test plugin.
pub fn test_manifest(id: &str, write: bool) -> String {
    format!(
        r#"id = "{id}"
version = "0.0.1"
author = "easel tests"
description = "test plugin {id}"

[capabilities]
read = true
write = {write}
max_calls = 50

[params.get]
type = "string"
[params.list]
type = "string"
[params.per_page]
type = "string"
[params.put]
type = "string"
[params.fail]
type = "boolean"
default = false
[params.panic]
type = "boolean"
default = false
[params.n]
type = "integer"
[params.path]
type = "string"
"#
    )
}

/// Add a built test component with a test manifest and approve it for
/// `school`.
pub fn add_and_approve(home: &Home, wasm_path: &str, id: &str, school: u64, write: bool) {
    let bytes = std::fs::read(wasm_path).expect("test plugin was built");
    easel_cli::add_plugin(home, &bytes, &test_manifest(id, write), id, "contributor")
        .expect("plugin adds");
    easel_cli::approve_plugin(home, id, &[school], write, "admin").expect("plugin approves");
}

/// Add and approve a first-party plugin.
pub fn add_bundled(home: &Home, plugin: &easel_bundled::Plugin, school: u64, write: bool) {
    easel_cli::add_plugin(
        home,
        plugin.wasm,
        plugin.manifest,
        plugin.name,
        "contributor",
    )
    .expect("plugin adds");
    let id = easel_policy::Manifest::parse(plugin.manifest)
        .expect("manifest parses")
        .id;
    easel_cli::approve_plugin(home, &id, &[school], write, "admin").expect("plugin approves");
}

/// Read a file as bytes, for canary scans.
pub fn read_all_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                out.push((p.display().to_string(), bytes));
            }
        }
    }
    out
}

/// Does `haystack` contain `needle`?
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

//! Loading components: digest, import checks, precompiled cache.
//!
//! Threat: a component that reaches past the `easel:canvas` interfaces
//! (sockets, HTTP, anything unknown), and compilation cost on the run path.
//! Imports are checked against an allowlist before anything is compiled into
//! a runnable form; compiled code is cached on disk by digest, so runs only
//! deserialize.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::bindings::EaselHostPre;
use crate::state::RunState;

/// Interface prefixes a plugin may import. Everything else (notably
/// `wasi:sockets` and `wasi:http`) is refused.
const ALLOWED_IMPORTS: &[&str] = &[
    "easel:canvas/types@0.1.",
    "easel:canvas/context@0.1.",
    "easel:canvas/log@0.1.",
    "easel:canvas/report@0.1.",
    "easel:canvas/read@0.1.",
    "easel:canvas/write@0.1.",
    "wasi:io/",
    "wasi:clocks/wall-clock@0.2.",
    "wasi:clocks/monotonic-clock@0.2.",
    "wasi:random/",
    "wasi:cli/environment@0.2.",
    "wasi:cli/exit@0.2.",
    "wasi:cli/stdin@0.2.",
    "wasi:cli/stdout@0.2.",
    "wasi:cli/stderr@0.2.",
    "wasi:cli/terminal-",
    "wasi:filesystem/types@0.2.",
    "wasi:filesystem/preopens@0.2.",
];

/// The import that carries write access.
pub(crate) const WRITE_IMPORT: &str = "easel:canvas/write@0.1.";

/// Why a component cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Not a WebAssembly component (a core module, or not wasm at all).
    #[error(
        "{0} is not a WebAssembly component: build the plugin for wasm32-wasip2 with the easel SDK (see plugins/sdk)"
    )]
    NotAComponent(String),
    /// wasmtime rejected it.
    #[error("the component is invalid: {0}")]
    Invalid(String),
    /// It imports interfaces easel does not provide.
    #[error("the component imports {}, which easel does not provide (plugins reach Canvas only through easel:canvas; no sockets, HTTP or other host access)", .0.join(", "))]
    UnsupportedImports(Vec<String>),
    /// It does not export `run`.
    #[error(
        "the component does not implement easel's plugin world (it exports {exports}); build it against easel:canvas/plugin with the SDK's `plugin!` macro"
    )]
    WrongWorld {
        /// What it exports instead.
        exports: String,
    },
    /// The on-disk cache failed.
    #[error("component cache at {path}: {message}")]
    Cache {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

/// What a component is and what it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentInfo {
    /// sha256 of the bytes, hex.
    pub digest: String,
    /// Size in bytes.
    pub size: usize,
    /// Imported interfaces, e.g. `easel:canvas/read@0.1.0`.
    pub imports: Vec<String>,
    /// Exports, e.g. `run`.
    pub exports: Vec<String>,
}

impl ComponentInfo {
    /// Does it import the write interface?
    pub fn imports_write(&self) -> bool {
        self.imports.iter().any(|i| i.starts_with(WRITE_IMPORT))
    }
}

/// A compiled, checked component with its `InstancePre`s cached.
pub struct LoadedComponent {
    /// Digest, size, imports, exports.
    pub info: ComponentInfo,
    pub(crate) component: Component,
    pub(crate) pre_read: OnceLock<Result<EaselHostPre<RunState>, String>>,
    pub(crate) pre_write: OnceLock<Result<EaselHostPre<RunState>, String>>,
}

impl std::fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedComponent")
            .field("info", &self.info)
            .finish()
    }
}

/// sha256 of `bytes`, hex.
pub(crate) fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Inspect a component without caching it: digest, imports, exports, and
/// the same checks [`crate::Runtime::load`] makes.
pub fn inspect(
    engine: &Engine,
    bytes: &[u8],
    label: &str,
) -> Result<(ComponentInfo, Component), LoadError> {
    if !wasmparser_is_component(bytes) {
        return Err(LoadError::NotAComponent(label.to_owned()));
    }
    let component =
        Component::new(engine, bytes).map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
    let info = describe(engine, &component, bytes);
    check(&info)?;
    Ok((info, component))
}

/// The component preamble: magic, then version 0x0d and layer 0x01.
fn wasmparser_is_component(bytes: &[u8]) -> bool {
    bytes.len() >= 8
        && bytes[..4] == *b"\0asm"
        && bytes[6..8] == [0x01, 0x00]
        && bytes[4..6] == [0x0d, 0x00]
}

fn describe(engine: &Engine, component: &Component, bytes: &[u8]) -> ComponentInfo {
    let ty = component.component_type();
    ComponentInfo {
        digest: digest(bytes),
        size: bytes.len(),
        imports: ty.imports(engine).map(|(n, _)| n.to_owned()).collect(),
        exports: ty.exports(engine).map(|(n, _)| n.to_owned()).collect(),
    }
}

fn check(info: &ComponentInfo) -> Result<(), LoadError> {
    let unsupported: Vec<String> = info
        .imports
        .iter()
        .filter(|i| !ALLOWED_IMPORTS.iter().any(|p| i.starts_with(p)))
        .cloned()
        .collect();
    if !unsupported.is_empty() {
        return Err(LoadError::UnsupportedImports(unsupported));
    }
    if !info.exports.iter().any(|e| e == "run") {
        return Err(LoadError::WrongWorld {
            exports: if info.exports.is_empty() {
                "nothing".into()
            } else {
                info.exports.join(", ")
            },
        });
    }
    Ok(())
}

/// Load through the on-disk cache: deserialize `<digest>-<engine>.cwasm` if
/// present, else compile, check and store it. Whether it was compiled.
pub(crate) fn load_cached(
    engine: &Engine,
    cache_dir: &Path,
    bytes: &[u8],
    label: &str,
) -> Result<(Arc<LoadedComponent>, bool), LoadError> {
    let d = digest(bytes);
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    let path = cache_dir.join(format!("{d}-{:016x}.cwasm", h.finish()));
    if let Some(component) = deserialize(engine, &path) {
        let info = describe(engine, &component, bytes);
        check(&info)?;
        return Ok((Arc::new(new_loaded(info, component)), false));
    }
    let (info, component) = inspect(engine, bytes, label)?;
    let cache_err = |e: std::io::Error| LoadError::Cache {
        path: path.clone(),
        message: e.to_string(),
    };
    let serialized = component
        .serialize()
        .map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
    std::fs::create_dir_all(cache_dir).map_err(cache_err)?;
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
    std::fs::write(&tmp, serialized).map_err(cache_err)?;
    std::fs::rename(&tmp, &path).map_err(cache_err)?;
    Ok((Arc::new(new_loaded(info, component)), true))
}

fn new_loaded(info: ComponentInfo, component: Component) -> LoadedComponent {
    LoadedComponent {
        info,
        component,
        pre_read: OnceLock::new(),
        pre_write: OnceLock::new(),
    }
}

/// Deserialize a precompiled artifact easel wrote itself.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, path: &Path) -> Option<Component> {
    if !path.exists() {
        return None;
    }
    // SAFETY: the file is in easel's own cache directory, named by the
    // sha256 of the source component and the engine's compatibility hash,
    // and was written by `load_cached` from `Component::serialize`. wasmtime
    // also checks the artifact's header against this engine and fails
    // (rather than misbehaving) on a mismatch, in which case we recompile.
    unsafe { Component::deserialize_file(engine, path) }.ok()
}

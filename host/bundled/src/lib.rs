//! The first-party plugins, compiled for `wasm32-wasip2` by this crate's
//! build script and embedded with their manifests, so `easel demo` works
//! from one binary.

/// A plugin shipped with easel.
#[derive(Debug, Clone, Copy)]
pub struct Plugin {
    /// Directory name under `plugins/`.
    pub name: &'static str,
    /// The component.
    pub wasm: &'static [u8],
    /// Its manifest (TOML).
    pub manifest: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/bundled.rs"));

/// Every first-party plugin.
pub const ALL: &[Plugin] = &[COURSE_REPORT, COURSE_PUBLISHER];

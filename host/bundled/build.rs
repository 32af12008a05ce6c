//! Builds the guest workspace and embeds the first-party plugins.
use std::path::Path;

fn main() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let artifacts = easel_wasm_build::build_guests(&repo);
    let mut code = String::new();
    for (konst, name, dir) in [
        ("COURSE_REPORT", "course_report", "course-report"),
        ("COURSE_PUBLISHER", "course_publisher", "course-publisher"),
    ] {
        let wasm = easel_wasm_build::find(&artifacts, name);
        let manifest = repo.join("plugins").join(dir).join("easel.toml");
        code.push_str(&format!(
            "/// The `{dir}` plugin.\npub const {konst}: Plugin = Plugin {{ name: {dir:?}, wasm: include_bytes!({:?}), manifest: include_str!({:?}) }};\n",
            wasm.path.display(),
            manifest.display()
        ));
    }
    let out = Path::new(&std::env::var("OUT_DIR").unwrap_or_default()).join("bundled.rs");
    if let Err(e) = std::fs::write(&out, code) {
        println!("cargo::error=cannot write {}: {e}", out.display());
    }
}

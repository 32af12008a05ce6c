//! Builds the guest workspace (first-party and hostile test plugins) and
//! emits one path constant per component.
use std::path::Path;

fn main() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let artifacts = easel_wasm_build::build_guests(&repo);
    let mut code = String::new();
    for a in &artifacts {
        code.push_str(&format!(
            "/// `{}.wasm`\npub const {}: &str = {:?};\n",
            a.name,
            a.name.to_uppercase(),
            a.path.display().to_string()
        ));
    }
    let out = Path::new(&std::env::var("OUT_DIR").unwrap_or_default()).join("programs.rs");
    if let Err(e) = std::fs::write(&out, code) {
        println!("cargo::error=cannot write {}: {e}", out.display());
    }
}

//! The Rust SDK carries its own copy of the WIT (so a copied SDK builds
//! outside this repository); it must be the host's, file for file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;

fn wit_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wit"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_sdks_wit_is_the_hosts() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let host = wit_files(&repo.join("wit"));
    let sdk = wit_files(&repo.join("plugins/sdk/wit"));
    assert!(!host.is_empty());
    let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&sdk),
        names(&host),
        "plugins/sdk/wit must hold the same files as wit/: cp wit/*.wit plugins/sdk/wit/"
    );
    for (name, bytes) in &host {
        assert!(
            sdk[name] == *bytes,
            "plugins/sdk/wit/{name} differs from wit/{name}: cp wit/*.wit plugins/sdk/wit/"
        );
    }
}

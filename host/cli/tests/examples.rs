//! What `examples/` ships works as its README says: the grant narrows
//! either first-party plugin, which then runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::text;

#[test]
fn the_example_grant_approves_each_shipped_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let grant = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/grant.toml");
    for plugin in [
        &easel_bundled::COURSE_REPORT,
        &easel_bundled::COURSE_PUBLISHER,
    ] {
        common::submit_bundled(&home, plugin);
        let out = common::easel(
            &home,
            &[
                "plugin",
                "approve",
                plugin.name,
                "--school",
                "2",
                "--grant",
                grant,
            ],
        );
        assert!(out.status.success(), "{}: {}", plugin.name, text(&out));
        let out = common::easel(&home, &["run", plugin.name, "--school", "2", "--dry-run"]);
        assert!(out.status.success(), "{}: {}", plugin.name, text(&out));
    }
}

//! The real binary reads a token from standard input, stores it sealed,
//! and never prints it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code fails loudly

use std::io::Write;
use std::process::{Command, Stdio};

fn easel(home: &std::path::Path, args: &[&str], stdin: Option<&str>) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_easel"))
        .env("EASEL_HOME", home)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        pipe.write_all(text.as_bytes()).unwrap();
    }
    drop(pipe);
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn a_token_piped_on_stdin_is_sealed_and_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let secret = "7~STDINCANARYabcdefghijklmnopqrstuvwxyz0123456789";
    assert_eq!(
        easel(
            home,
            &[
                "instance",
                "add",
                "prod",
                "--url",
                "https://canvas.example.edu"
            ],
            None
        )
        .0,
        0
    );
    // canvas.example.edu cannot be asked whose the token is: --no-verify.
    let (code, out) = easel(
        home,
        &["--instance", "prod", "token", "add", "admin"],
        Some(&format!("{secret}\n")),
    );
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("was not added") && out.contains("--no-verify"),
        "{out}"
    );
    assert!(!out.contains(secret), "{out}");
    let (code, out) = easel(
        home,
        &["--instance", "prod", "token", "add", "admin", "--no-verify"],
        Some(&format!("{secret}\n")),
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("not verified"), "{out}");
    let (code, out) = easel(
        home,
        &["--instance", "prod", "token", "add", "empty"],
        Some(""),
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("no secret given"), "{out}");
    let (code, list) = easel(home, &["token", "list"], None);
    assert_eq!(code, 0);
    assert!(list.contains("admin") && list.contains("fp:"), "{list}");
    let (_, verbose) = easel(home, &["-vv", "token", "list", "--json"], None);
    for text in [&out, &list, &verbose] {
        assert!(!text.contains(secret));
    }
    for entry in std::fs::read_dir(home).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{}",
                path.display()
            );
        }
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(home.join("master.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn pasted_token_mistakes_are_refused_without_echoing_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let add = [
        "instance",
        "add",
        "prod",
        "--url",
        "https://canvas.example.edu",
    ];
    assert_eq!(easel(home, &add, None).0, 0);
    let secret = "7~PASTECANARYabcdefghijklmnopqrstuvwxyz0123456789";
    for (input, says) in [
        (format!("Bearer {secret}\n"), "starts with \"Bearer \""),
        (format!("7~PASTE CANARY{secret}\n"), "whitespace inside"),
        (format!("{secret}\n{secret}\n"), "more lines"),
    ] {
        let (code, out) = easel(
            home,
            &["--instance", "prod", "token", "add", "admin"],
            Some(&input),
        );
        assert_eq!(code, 2, "{out}");
        assert!(out.contains(says), "{out}");
        assert!(!out.contains("PASTECANARY"), "the secret was echoed: {out}");
    }
    let (_, out) = easel(home, &["token", "list"], None);
    assert!(!out.contains("admin"), "nothing was stored: {out}");
}

#[test]
fn a_new_token_is_asked_whose_it_is_and_one_canvas_refuses_is_not_stored() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt
        .block_on(easel_sim::Simulator::start(easel_sim::SimConfig::default()))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let (code, out) = easel(home, &["instance", "add", "prod", "--url", sim.url()], None);
    assert_eq!(code, 0, "{out}");
    let wrong = "7~WRONGCANARYabcdefghijklmnopqrstuvwxyz0123456789";
    let (code, out) = easel(
        home,
        &["--instance", "prod", "token", "add", "admin"],
        Some(&format!("{wrong}\n")),
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("token admin was not added"), "{out}");
    assert!(!out.contains("WRONGCANARY"), "the secret was echoed: {out}");
    let (_, list) = easel(home, &["token", "list"], None);
    assert!(!list.contains("admin"), "nothing was stored: {list}");
    let (code, out) = easel(
        home,
        &["--instance", "prod", "token", "add", "admin"],
        Some(&format!("{}\n", sim.admin_token())),
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("it belongs to") && out.contains("(user 1)"),
        "{out}"
    );
    assert!(!out.contains(sim.admin_token()), "{out}");
}

//! What the binary tests share: running `easel` on a data directory, and a
//! bundled plugin's files on disk to submit.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

pub mod fleet;

/// `easel ARGS` on `home`, not run yet. `--by NAME` in `args` is taken
/// out: the command then acts as NAME (a district admin, made on first
/// use) through `EASEL_API_TOKEN`, as a signed-in principal would.
pub fn command(home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_easel"));
    cmd.env("EASEL_HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env_remove("EASEL_SERVER")
        .env_remove("EASEL_API_TOKEN");
    let mut rest = args.iter();
    while let Some(a) = rest.next() {
        if *a == "--by" {
            let name = rest.next().unwrap();
            cmd.env("EASEL_API_TOKEN", token_for(home, name));
        } else {
            cmd.arg(a);
        }
    }
    cmd
}

/// An API token for `name` (added as a district admin if new).
pub fn token_for(home: &Path, name: &str) -> String {
    let h = easel_app::Home::open(Some(home.to_path_buf())).unwrap();
    let p = h.principals();
    let me = easel_app::process::local_actor();
    let folded = easel_app::fold_name(name).unwrap();
    if h.store.user(&folded).unwrap().is_none() {
        p.add_user(&me, name, vec![easel_app::Role::DistrictAdmin])
            .unwrap();
    }
    p.issue_token(&me, name, "test", None, None).unwrap().token
}

/// Run `easel ARGS` on `home`; it must succeed.
pub fn easel(home: &Path, args: &[&str]) -> Output {
    let out = command(home, args).output().unwrap();
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

/// `easel serve` on a free loopback port, and its URL.
pub struct Served {
    pub child: Child,
    pub url: String,
    pub log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn serve(home: &Path) -> Served {
    serve_with(home, &[])
}

/// [`serve`] with more options.
pub fn serve_with(home: &Path, extra: &[&str]) -> Served {
    let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let mut child = command(home, &args)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let url = loop {
        let line = lines.next().expect("serve prints its address").unwrap();
        log.lock().unwrap().push_str(&line);
        if let Some(rest) = line.split("the API is at ").nth(1) {
            break rest.split("/api/v1").next().unwrap().to_owned();
        }
    };
    let keep = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            keep.lock().unwrap().push_str(&line);
            keep.lock().unwrap().push('\n');
        }
    });
    Served { child, url, log }
}

/// A process's standard output and error, together.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `easel --instance INSTANCE token add ID [EXTRA]` with `secret` on
/// standard input; it must succeed. Its output.
pub fn add_token(home: &Path, instance: &str, id: &str, secret: &str, extra: &[&str]) -> Output {
    use std::io::Write as _;
    let mut args = vec!["--instance", instance, "token", "add", id];
    args.extend_from_slice(extra);
    let mut add = command(home, &args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(format!("{secret}\n").as_bytes())
        .unwrap();
    let out = add.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    out
}

/// Submit a bundled plugin as `school-it` (made a district admin on first
/// use).
pub fn submit_bundled(home: &Path, plugin: &easel_bundled::Plugin) {
    let files = tempfile::tempdir().unwrap();
    let (wasm, manifest) = bundled_files(files.path(), plugin);
    easel(
        home,
        &[
            "plugin",
            "submit",
            &wasm,
            "--manifest",
            &manifest,
            "--by",
            "school-it",
        ],
    );
}

/// A user added on `home` with `easel user add ...` (`args`); their
/// one-time password (the output's last line).
pub fn add_user(home: &Path, args: &[&str]) -> String {
    let out = easel(home, args);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned()
}

/// `easel ARGS` on `home` with `stdin` (a secret, a password), not
/// checked.
pub fn easel_with(home: &Path, args: &[&str], stdin: &str) -> Output {
    use std::io::Write as _;
    let mut child = command(home, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

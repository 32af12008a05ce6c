//! `easel plugin new`: a working plugin to start from, in Python or Rust,
//! reading or writing: its code, manifest, a README and a test scenario.
//!
//! A Rust plugin depends on easel's Rust SDK. By default the scaffold
//! writes the copy this binary carries into the plugin's folder
//! (`easel-sdk/`, with its own WIT), so the plugin builds anywhere with no
//! copy of easel's repository; `--sdk` names a checkout or a git URL
//! instead.

use std::path::{Path, PathBuf};

use crate::plugin::Lang;

/// Where a Rust plugin gets the SDK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sdk {
    /// The copy this binary carries, written into `easel-sdk/`.
    Carried,
    /// A folder holding the SDK's Cargo.toml (`plugins/sdk` in a checkout).
    Path(PathBuf),
    /// A git repository holding easel (the SDK is found by its name).
    Git(String),
}

impl Sdk {
    /// Read `--sdk`: a URL is a git repository, anything else a folder.
    pub fn parse(given: &str) -> Sdk {
        let url = ["https://", "http://", "ssh://", "git://", "git@", "file://"]
            .iter()
            .any(|p| given.starts_with(p));
        if url {
            Sdk::Git(given.to_owned())
        } else {
            Sdk::Path(PathBuf::from(given))
        }
    }
}

/// What to scaffold.
#[derive(Debug, Clone)]
pub struct NewPlugin {
    /// The plugin's id (and folder name).
    pub id: String,
    /// Its language.
    pub lang: Lang,
    /// Does it write to Canvas?
    pub writes: bool,
    /// Where a Rust plugin gets the SDK.
    pub sdk: Sdk,
}

const MANIFEST_READ: &str = include_str!("../templates/easel.read.toml");
const MANIFEST_WRITE: &str = include_str!("../templates/easel.write.toml");
const SCENARIO_READ: &str = include_str!("../templates/scenario.read.toml");
const SCENARIO_WRITE: &str = include_str!("../templates/scenario.write.toml");
const APP_READ: &str = include_str!("../templates/app.read.py");
const APP_WRITE: &str = include_str!("../templates/app.write.py");
const LIB_READ: &str = include_str!("../templates/lib.read.rs");
const LIB_WRITE: &str = include_str!("../templates/lib.write.rs");
const CARGO: &str = include_str!("../templates/Cargo.toml.tmpl");
const README_PYTHON: &str = include_str!("../templates/README.python.md");
const README_RUST: &str = include_str!("../templates/README.rust.md");

/// easel's Rust SDK, as this binary carries it (its Cargo.toml is made
/// standalone by [`sdk_manifest`]).
const RUST_SDK: &[(&str, &str)] = &[
    (
        "src/canvas.rs",
        include_str!("../../../plugins/sdk/src/canvas.rs"),
    ),
    (
        "src/context.rs",
        include_str!("../../../plugins/sdk/src/context.rs"),
    ),
    (
        "src/error.rs",
        include_str!("../../../plugins/sdk/src/error.rs"),
    ),
    (
        "src/lib.rs",
        include_str!("../../../plugins/sdk/src/lib.rs"),
    ),
    (
        "src/log.rs",
        include_str!("../../../plugins/sdk/src/log.rs"),
    ),
    (
        "src/models.rs",
        include_str!("../../../plugins/sdk/src/models.rs"),
    ),
    (
        "src/report.rs",
        include_str!("../../../plugins/sdk/src/report.rs"),
    ),
    (
        "wit/README.md",
        include_str!("../../../plugins/sdk/wit/README.md"),
    ),
    (
        "wit/context.wit",
        include_str!("../../../plugins/sdk/wit/context.wit"),
    ),
    (
        "wit/log.wit",
        include_str!("../../../plugins/sdk/wit/log.wit"),
    ),
    (
        "wit/read.wit",
        include_str!("../../../plugins/sdk/wit/read.wit"),
    ),
    (
        "wit/report.wit",
        include_str!("../../../plugins/sdk/wit/report.wit"),
    ),
    (
        "wit/types.wit",
        include_str!("../../../plugins/sdk/wit/types.wit"),
    ),
    (
        "wit/world.wit",
        include_str!("../../../plugins/sdk/wit/world.wit"),
    ),
    (
        "wit/write.wit",
        include_str!("../../../plugins/sdk/wit/write.wit"),
    ),
];

/// The guest workspace's manifest, for the SDK's dependency versions.
const GUEST_WORKSPACE: &str = include_str!("../../../plugins/Cargo.toml");

/// The SDK's dependency lines as the guest workspace pins them.
fn workspace_dependency(name: &str) -> Result<&'static str, String> {
    GUEST_WORKSPACE
        .lines()
        .find(|l| l.split('=').next().is_some_and(|k| k.trim() == name))
        .ok_or_else(|| {
            format!("the carried SDK has no version of {name} (a bug in this build of easel)")
        })
}

/// A standalone Cargo.toml for the carried SDK.
fn sdk_manifest() -> Result<String, String> {
    Ok(format!(
        "# easel's Rust SDK, as `easel plugin new` wrote it (easel {}).\n\
         [package]\nname = \"easel-sdk\"\nversion = \"{}\"\nedition = \"2024\"\nlicense = \"Apache-2.0\"\npublish = false\n\
         description = \"Write easel plugins in Rust: Canvas access, typed models, reports\"\n\n\
         [dependencies]\n{}\n{}\n{}\n",
        env!("CARGO_PKG_VERSION"),
        env!("CARGO_PKG_VERSION"),
        workspace_dependency("wit-bindgen")?,
        workspace_dependency("serde")?,
        workspace_dependency("serde_json")?,
    ))
}

/// Is `id` a plugin id easel takes (1-64 lowercase letters, digits, `-`,
/// starting with a letter so it is also a crate name)?
fn check_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{id:?} is not a plugin id: use 1-64 lowercase letters, digits or '-', starting with a letter (e.g. unstaffed-courses)"
        ))
    }
}

fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (k, v) in vars {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    out
}

/// Write the plugin into `dir` (which must not exist, or be empty).
/// Returns the files written, relative to `dir`.
pub fn scaffold(dir: &Path, spec: &NewPlugin) -> Result<Vec<PathBuf>, String> {
    check_id(&spec.id)?;
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .next()
            .is_none();
        if !empty {
            return Err(format!(
                "{} already exists and is not empty: choose another name, or --dir for another folder",
                dir.display()
            ));
        }
    }
    let summary = if spec.writes {
        "Publishes the school's unpublished courses whose name starts with a prefix (a `prefix` parameter), writing changes.csv."
    } else {
        "Lists the school's published courses with their teachers and student counts, as courses.csv."
    };
    let id = spec.id.as_str();
    let mut files: Vec<(PathBuf, String)> = vec![
        (
            "easel.toml".into(),
            fill(
                if spec.writes {
                    MANIFEST_WRITE
                } else {
                    MANIFEST_READ
                },
                &[("id", id)],
            ),
        ),
        (
            "scenario.toml".into(),
            if spec.writes {
                SCENARIO_WRITE
            } else {
                SCENARIO_READ
            }
            .to_owned(),
        ),
    ];
    match spec.lang {
        Lang::Python => {
            files.push((
                "app.py".into(),
                fill(
                    if spec.writes { APP_WRITE } else { APP_READ },
                    &[("id", id)],
                ),
            ));
            files.push((
                "README.md".into(),
                fill(README_PYTHON, &[("id", id), ("summary", summary)]),
            ));
        }
        Lang::Rust => {
            let (dependency, row, note) = match &spec.sdk {
                Sdk::Carried => {
                    for (name, text) in RUST_SDK {
                        files.push((Path::new("easel-sdk").join(name), (*text).to_owned()));
                    }
                    files.push(("easel-sdk/Cargo.toml".into(), sdk_manifest()?));
                    (
                        "easel-sdk = { path = \"easel-sdk\" }".to_owned(),
                        "| `easel-sdk/` | easel's Rust SDK, copied from the `easel` that made this folder (with easel's WIT) |".to_owned(),
                        format!(
                            "`easel-sdk/` is the SDK as easel {} carries it, so this folder builds \
                             anywhere. To follow your district's copy of easel instead, delete \
                             `easel-sdk/` and point `Cargo.toml` at it:\n\n    \
                             easel-sdk = {{ git = \"https://git.example.edu/easel.git\" }}   # a repository holding easel\n    \
                             easel-sdk = {{ path = \"../easel/plugins/sdk\" }}             # or a checkout of it\n\n\
                             (`easel plugin new --sdk URL-OR-PATH` writes that for you.)",
                            env!("CARGO_PKG_VERSION")
                        ),
                    )
                }
                Sdk::Path(p) => {
                    if !p.join("Cargo.toml").is_file() {
                        return Err(format!(
                            "--sdk {}: no Cargo.toml there; give the SDK's folder (plugins/sdk in a copy of easel)",
                            p.display()
                        ));
                    }
                    let shown = p.display().to_string();
                    (
                        format!("easel-sdk = {{ path = {shown:?} }}"),
                        String::new(),
                        format!("`Cargo.toml` uses the SDK in `{shown}`."),
                    )
                }
                Sdk::Git(url) => (
                    format!("easel-sdk = {{ git = {url:?} }}"),
                    String::new(),
                    format!(
                        "`Cargo.toml` takes the SDK from `{url}` (cargo finds the `easel-sdk` package in it); \
                         pin a `rev = \"...\"` for builds that do not move."
                    ),
                ),
            };
            files.push((
                "Cargo.toml".into(),
                fill(CARGO, &[("id", id), ("sdk_dependency", &dependency)]),
            ));
            files.push((
                "src/lib.rs".into(),
                fill(
                    if spec.writes { LIB_WRITE } else { LIB_READ },
                    &[("id", id)],
                ),
            ));
            files.push((
                "README.md".into(),
                fill(
                    README_RUST,
                    &[
                        ("id", id),
                        ("summary", summary),
                        ("sdk_row", &row),
                        ("sdk_note", &note),
                    ],
                ),
            ));
            files.push((".gitignore".into(), "/target\n".into()));
        }
    }
    let mut written = Vec::new();
    for (name, text) in files {
        let path = dir.join(&name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        written.push(name);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The carried Rust SDK is the repository's, file for file: a new SDK
    /// module or WIT file must be added to `RUST_SDK`.
    #[test]
    fn the_carried_rust_sdk_holds_every_file_of_the_repositorys() {
        let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/sdk");
        let mut expected = Vec::new();
        for dir in ["src", "wit"] {
            for e in std::fs::read_dir(sdk.join(dir)).unwrap_or_else(|e| panic!("{dir}: {e}")) {
                let p = e.unwrap_or_else(|e| panic!("{e}")).path();
                if p.is_file() {
                    let name = p
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned();
                    expected.push(format!("{dir}/{name}"));
                }
            }
        }
        expected.sort();
        let mut carried: Vec<String> = RUST_SDK.iter().map(|(n, _)| (*n).to_owned()).collect();
        carried.sort();
        assert_eq!(carried, expected);
    }

    #[test]
    fn the_sdks_standalone_manifest_pins_the_workspaces_versions() {
        let m = sdk_manifest().unwrap_or_else(|e| panic!("{e}"));
        for dep in ["wit-bindgen = {", "serde = {", "serde_json = "] {
            assert!(m.contains(dep), "{dep} in\n{m}");
        }
        assert!(!m.contains("workspace"), "{m}");
    }

    #[test]
    fn ids_and_non_empty_folders_are_refused_with_what_to_do() {
        let dir = std::env::temp_dir().join(format!("easel-scaffold-{}", std::process::id()));
        let spec = |id: &str| NewPlugin {
            id: id.into(),
            lang: Lang::Python,
            writes: false,
            sdk: Sdk::Carried,
        };
        for bad in ["My Plugin", "9lives", "", "a/b"] {
            let e = scaffold(&dir.join("x"), &spec(bad)).unwrap_err();
            assert!(e.contains("not a plugin id"), "{bad}: {e}");
        }
        let files = scaffold(&dir, &spec("ok-plugin")).unwrap_or_else(|e| panic!("{e}"));
        assert!(files.iter().any(|f| f == Path::new("app.py")));
        let manifest = std::fs::read_to_string(dir.join("easel.toml")).unwrap_or_default();
        assert!(manifest.contains("id = \"ok-plugin\""), "{manifest}");
        assert!(!manifest.contains("{{"), "{manifest}");
        let e = scaffold(&dir, &spec("ok-plugin")).unwrap_err();
        assert!(e.contains("not empty"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn sdk_is_a_url_or_a_folder() {
        assert_eq!(
            Sdk::parse("https://git.example.edu/easel.git"),
            Sdk::Git("https://git.example.edu/easel.git".into())
        );
        assert_eq!(
            Sdk::parse("../easel/plugins/sdk"),
            Sdk::Path("../easel/plugins/sdk".into())
        );
    }
}

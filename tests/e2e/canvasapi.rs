//! Compatibility: the real Python client `canvasapi` (from PyPI, in a
//! virtual environment this test creates) accepts the simulator.

use std::path::{Path, PathBuf};
use std::process::Command;

use easel_sim::{SimConfig, Simulator, ThrottleConfig};

/// Pinned so the test is reproducible.
const CANVASAPI: &str = "canvasapi==3.6.0";

/// The venv's python, creating it and installing canvasapi if needed.
/// `Err(reason)` when PyPI cannot be reached (the test then skips).
fn python() -> Result<PathBuf, String> {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("canvasapi-venv");
    let py = venv.join("bin/python");
    let ready = venv.join(".installed");
    if ready.exists() {
        return Ok(py);
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .map_err(|e| e.to_string())?;
    assert!(made.success(), "python3 -m venv failed");
    let out = Command::new(&py)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            CANVASAPI,
        ])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let offline = [
            "NewConnectionError",
            "ConnectionError",
            "Temporary failure",
            "Network is unreachable",
            "No matching distribution",
        ]
        .iter()
        .any(|m| err.contains(m));
        assert!(offline, "pip install {CANVASAPI} failed:\n{err}");
        return Err(err);
    }
    std::fs::write(&ready, CANVASAPI).unwrap();
    Ok(py)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canvasapi_reads_writes_and_errors_against_the_simulator() {
    let py = match python() {
        Ok(p) => p,
        Err(reason) => {
            eprintln!("SKIPPED: PyPI cannot be reached to install {CANVASAPI}: {reason}");
            return;
        }
    };
    let token = "7~compat-token";
    let sim = Simulator::start(SimConfig {
        admin_token: Some(token.into()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let nobody = sim
        .token_for(easel_sim::Role::NoPermission)
        .unwrap()
        .to_owned();
    let expected = sim.with_data(|d| {
        let school = d.schools()[0].id;
        let course = d
            .courses_in(school)
            .into_iter()
            .find(|c| d.count_enrollments(c.id, "StudentEnrollment") > 5)
            .unwrap()
            .id;
        let mut subaccounts: Vec<u64> = d.accounts.keys().copied().filter(|a| *a != 1).collect();
        subaccounts.sort();
        let courses: Vec<u64> = d
            .courses_in(school)
            .iter()
            .filter(|c| c.workflow_state != "deleted")
            .map(|c| c.id)
            .collect();
        // Canvas lists a course's concluded, rejected and deleted
        // enrollments only when a state[] filter asks for them.
        let enrollments: Vec<u64> = d
            .enrollments
            .values()
            .filter(|e| e.course_id == course)
            .filter(|e| {
                !matches!(
                    e.enrollment_state.as_str(),
                    "completed" | "rejected" | "deleted"
                )
            })
            .map(|e| e.id)
            .collect();
        let user = d
            .enrollments
            .values()
            .find(|e| e.course_id == course)
            .unwrap()
            .user_id;
        serde_json::json!({
            "school": school, "course": course, "subaccounts": subaccounts, "courses": courses,
            "enrollments": enrollments, "user": user, "user_name": d.users[&user].name,
            "nobody_token": nobody,
        })
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("compat/canvasapi_compat.py");
    let run = |mode: &str| {
        let out = Command::new(&py)
            .arg(&script)
            .args([sim.url(), token, mode, &expected.to_string()])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (ok, text) = tokio::task::block_in_place(|| run("main"));
    assert!(ok, "{text}");
    assert_eq!(
        text.matches("\nok ").count() + usize::from(text.starts_with("ok ")),
        12,
        "{text}"
    );

    sim.set_throttle(ThrottleConfig {
        request_cost: 400.0,
        ..ThrottleConfig::default()
    });
    let (ok, text) = tokio::task::block_in_place(|| run("throttle"));
    assert!(ok, "{text}");
}

//! For plugin authors: `easel plugin test`, a run of a built plugin against
//! the embedded simulator, seeded by a scenario file with the objects the
//! plugin looks for.
//!
//! Everything happens in a throwaway data directory and a simulator of its
//! own: the plugin is submitted by an "author", approved by a "tester" for
//! the scenario's school, and run once (a dry run unless the scenario says
//! otherwise). Nothing touches the author's own data directory or Canvas.

use std::collections::BTreeMap;

use easel_policy::Manifest;
use easel_runtime::Limits;
use easel_sim::{CourseSpec, Preset, Scenario, SchoolSpec, SimConfig, Simulator, Sizes};
use easel_store::AuditFilter;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::Connection;
use crate::error::AppError;
use crate::home::Home;
use crate::principal::{Actor, Role, SignIn};
use crate::run::{RunRequest, execute_run_as};

/// Largest share of a report file [`PluginTest`] carries.
const MAX_REPORT_TEXT: usize = 256 << 10;

/// A scenario file: what to seed in the simulator, and how to run.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// How to run the plugin.
    #[serde(default)]
    pub run: RunSpec,
    /// The school to make (default: "Scenario School" when there are
    /// courses; with neither, the plugin runs on a generated school).
    pub school: Option<SchoolSpec>,
    /// The school's courses.
    #[serde(default)]
    pub courses: Vec<CourseSpec>,
}

/// `[run]` in a scenario file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// Parameters, as the manifest declares them.
    #[serde(default)]
    pub params: BTreeMap<String, toml::Value>,
    /// Plan writes instead of sending them (default true).
    pub dry_run: Option<bool>,
}

impl ScenarioFile {
    /// Parse a scenario file's text; `label` names it in errors.
    pub fn parse(text: &str, label: &str) -> Result<Self, AppError> {
        toml::from_str(text).map_err(|e| {
            AppError::invalid(format!(
                "{label} is not a scenario easel reads: {}",
                e.to_string().trim()
            ))
        })
    }

    /// The run's parameters as text, the way `--param` gives them.
    fn params(&self) -> Result<Vec<(String, String)>, AppError> {
        self.run
            .params
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Boolean(b) => b.to_string(),
                    other => {
                        return Err(AppError::invalid(format!(
                            "[run.params] {k} = {other} must be text, an integer or true/false"
                        )));
                    }
                };
                Ok((k.clone(), text))
            })
            .collect()
    }
}

/// One Canvas call the plugin made, as the audit log recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestCall {
    /// HTTP method.
    pub method: String,
    /// Canvas path.
    pub path: String,
    /// Canvas's status.
    pub status: Option<u16>,
}

/// One call the policy denied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestDenial {
    /// HTTP method.
    pub method: String,
    /// Canvas path.
    pub path: String,
    /// The rule and its reason.
    pub detail: String,
}

/// A report file the run wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestReport {
    /// Its name.
    pub name: String,
    /// Its size.
    pub bytes: u64,
    /// Its text (the first 256 KiB; lossy UTF-8).
    pub text: String,
}

/// What `easel plugin test` saw.
#[derive(Debug, Clone, Serialize)]
pub struct PluginTest {
    /// Plugin id.
    pub plugin: String,
    /// Its version.
    pub version: String,
    /// The school it ran for.
    pub school: u64,
    /// Its name.
    pub school_name: String,
    /// Courses the scenario made, in its order.
    pub seeded_courses: Vec<u64>,
    /// The run.
    pub run_id: String,
    /// `succeeded`, `failed`, ...
    pub status: String,
    /// Why it did not succeed.
    pub error: Option<String>,
    /// Writes were planned, not sent.
    pub dry_run: bool,
    /// Its parameters.
    pub params: Vec<(String, String)>,
    /// Every Canvas call it made, in order.
    pub calls: Vec<TestCall>,
    /// Every call the policy denied.
    pub denials: Vec<TestDenial>,
    /// The writes it planned (dry run).
    pub plan: Vec<easel_runtime::PlannedWrite>,
    /// Its log.
    pub log: String,
    /// Its report files.
    pub reports: Vec<TestReport>,
    /// Wall time, seconds.
    pub seconds: f64,
}

impl PluginTest {
    /// Did the run succeed?
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }
}

/// Run a built plugin (`bytes` with `manifest`) against a fresh simulator
/// seeded by `scenario`, in a throwaway data directory.
/// `compile_cache` keeps compiled components across tests (a Python
/// component takes seconds to compile).
pub async fn test_plugin(
    bytes: &[u8],
    manifest: &str,
    scenario: &ScenarioFile,
    live: bool,
    compile_cache: &std::path::Path,
) -> Result<PluginTest, AppError> {
    let m = Manifest::parse(manifest).map_err(|e| AppError::invalid(e.to_string()))?;
    let params = scenario.params()?;
    m.resolve_params(&params).map_err(|e| {
        AppError::invalid(format!(
            "the scenario's [run.params] do not fit the manifest: {e}"
        ))
    })?;
    let dir = tempfile::Builder::new()
        .prefix("easel-plugin-test-")
        .tempdir()
        .map_err(|e| {
            AppError::internal(anyhow::anyhow!("cannot make a temporary directory: {e}"))
        })?;
    // A throwaway log's checkpoints need no warning about where they are
    // witnessed: name the place, then open the data directory for good.
    let root = dir.path().to_path_buf();
    Home::open(Some(root.clone()))?.store.set_setting(
        crate::AUDIT_WITNESS,
        &root.join("audit.witness").to_string_lossy(),
    )?;
    let home = Home::open(Some(root))?.with_cache_dir(compile_cache.to_path_buf());
    // A small district: one generated school beside the scenario's, so a
    // call that strays outside the school is denied as it would be.
    let sim = Simulator::start(SimConfig {
        preset: Preset::Custom(Sizes {
            schools: 1,
            courses_per_school: 6,
            students_per_school: 20,
            teachers_per_school: 4,
        }),
        irregular_rate: 0.0,
        ..SimConfig::default()
    })
    .await
    .map_err(|e| AppError::internal(anyhow::anyhow!("cannot start the simulator: {e}")))?;
    let seeded = if scenario.school.is_some() || !scenario.courses.is_empty() {
        let s = Scenario {
            school: scenario.school.clone().unwrap_or_default(),
            courses: scenario.courses.clone(),
        };
        Some(sim.seed(&s).map_err(AppError::invalid)?)
    } else {
        None
    };
    let school = match &seeded {
        Some(s) => s.school,
        None => sim
            .with_data(|d| d.schools().first().map(|a| a.id))
            .unwrap_or(2),
    };
    let token = easel_canvas::Token::new(SecretString::from(sim.admin_token().to_owned()));
    let conn = Connection::to_sim(sim, token)?;
    let os = crate::process::os_user();
    let author = Actor {
        name: "author".into(),
        roles: vec![Role::SchoolContributor {
            schools: vec![school],
        }],
        via: SignIn::Local(os.clone()),
    };
    let tester = Actor {
        name: "tester".into(),
        roles: vec![Role::Approver],
        via: SignIn::Local(os),
    };
    let row = crate::plugins::add(&home, &author, bytes, manifest, &m.id)?;
    crate::plugins::approve(
        &home,
        &format!("{}@{}", row.id, row.digest),
        &[school],
        m.requests_write(),
        &tester,
    )?;
    let dry_run = !live && scenario.run.dry_run.unwrap_or(true);
    let runtime = home.runtime()?;
    let req = RunRequest {
        plugin: m.id.clone(),
        school,
        dry_run,
        params: params.clone(),
        limits: Limits::default(),
        plan: None,
    };
    let r = execute_run_as(&home, &tester, &conn, &runtime, req).await?;
    let records = home.audit.records(
        &AuditFilter {
            run: Some(r.run_id.clone()),
            ..AuditFilter::default()
        },
        None,
    )?;
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let calls = records
        .iter()
        .filter(|rec| rec.action == "canvas-response")
        .map(|rec| TestCall {
            method: text(&rec.method),
            path: text(&rec.path),
            status: rec.status,
        })
        .collect();
    let denials = records
        .iter()
        .filter(|rec| rec.action == "canvas-request-denied")
        .map(|rec| TestDenial {
            method: text(&rec.method),
            path: text(&rec.path),
            detail: text(&rec.detail),
        })
        .collect();
    let mut reports = Vec::new();
    for path in &r.report.outputs {
        let data = std::fs::read(path).map_err(|e| {
            AppError::internal(anyhow::anyhow!("cannot read {}: {e}", path.display()))
        })?;
        reports.push(TestReport {
            name: path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            bytes: data.len() as u64,
            text: String::from_utf8_lossy(&data[..data.len().min(MAX_REPORT_TEXT)]).into_owned(),
        });
    }
    let rep = r.report;
    Ok(PluginTest {
        plugin: m.id,
        version: m.version,
        school,
        school_name: r.school_name,
        seeded_courses: seeded.map(|s| s.courses).unwrap_or_default(),
        run_id: r.run_id,
        status: rep.outcome.status().to_owned(),
        error: rep.outcome.error().map(str::to_owned),
        dry_run,
        params,
        calls,
        denials,
        plan: rep.plan,
        log: rep.log,
        reports,
        seconds: rep.duration.as_secs_f64(),
    })
}

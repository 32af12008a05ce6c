//! What a plugin version is, for whoever reviews it: its digests, its WIT
//! imports and exports, what its manifest requests, what changed since the
//! approved version, and where it is approved.

use easel_policy::Manifest;
use easel_store::PluginRow;
use serde::{Deserialize, Serialize};

use crate::error::{AppError, Kind};
use crate::home::Home;
use crate::principal::{Act, Actor};

/// A plugin version under review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inspection {
    /// Plugin id.
    pub id: String,
    /// Its version.
    pub version: String,
    /// Its author, as the manifest says.
    pub author: String,
    /// What it does, as the manifest says.
    pub description: String,
    /// sha256 of the component.
    pub digest: String,
    /// sha256 of the manifest.
    pub manifest_digest: String,
    /// Component size in bytes.
    pub size: u64,
    /// When it was added.
    pub added_at: String,
    /// Who added it.
    pub added_by: String,
    /// The WIT interfaces it imports.
    pub imports: Vec<String>,
    /// What it exports.
    pub exports: Vec<String>,
    /// What its manifest requests.
    pub requests: Requests,
    /// What changed since the approved version (when this one is not it).
    pub changes: Option<Changes>,
    /// Its approvals, newest first.
    pub approvals: Vec<ApprovalView>,
}

/// What a manifest requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Requests {
    /// `read`, and `write` if requested.
    pub capabilities: Vec<String>,
    /// Most Canvas calls per run.
    pub max_calls: u32,
    /// Memory a run may use, MiB.
    pub memory_mib: u64,
    /// Canvas scopes.
    pub scopes: Vec<String>,
    /// Acting as other users.
    pub masquerade: bool,
    /// Sending SIS imports.
    pub sis_import: bool,
    /// Report files it writes.
    pub reports: Vec<String>,
    /// Its parameters.
    pub params: Vec<ParamView>,
}

/// One parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamView {
    /// Name.
    pub name: String,
    /// Type, e.g. `string`.
    #[serde(rename = "type")]
    pub ty: String,
    /// Default, if any.
    pub default: Option<String>,
    /// Must a run give it?
    pub required: bool,
    /// What it means.
    pub description: String,
    /// All of it in one line, as shown.
    pub summary: String,
}

/// Changes against the approved version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Changes {
    /// The approved component's sha256.
    pub since_digest: String,
    /// The approved version.
    pub since_version: String,
    /// One line each: `+ import …`, `- scope …`, `~ max calls a -> b`.
    pub lines: Vec<String>,
}

/// One approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalView {
    /// Component sha256 approved.
    pub digest: String,
    /// Manifest sha256 approved.
    pub manifest_digest: String,
    /// School account.
    pub school: u64,
    /// Writes allowed.
    pub write: bool,
    /// Who approved.
    pub by: String,
    /// When.
    pub at: String,
}

fn internal(what: String) -> AppError {
    AppError::new(Kind::Internal, what)
}

/// Inspect plugin `name` (its newest version). Anyone who may submit,
/// approve or read the audit log may.
pub fn inspect(home: &Home, by: &Actor, name: &str) -> Result<Inspection, AppError> {
    if !(by.may(Act::Submit) || by.may(Act::Approve) || by.may(Act::ReadAudit)) {
        by.require(Act::Approve)?;
    }
    let row = crate::plugins::find(home, name)?;
    let manifest = Manifest::parse(&row.manifest).map_err(|e| internal(e.to_string()))?;
    let runtime = home.runtime()?;
    let imports_of = |r: &PluginRow| -> Result<(Vec<String>, Vec<String>), AppError> {
        let bytes = home.component_bytes(&r.digest).map_err(|e| {
            internal(format!(
                "the stored component {} of {} is missing ({}); add it again",
                &r.digest[..12.min(r.digest.len())],
                r.id,
                e.message
            ))
        })?;
        let loaded = runtime
            .load(&bytes, &r.id)
            .map_err(|e| internal(e.to_string()))?;
        Ok((loaded.info.imports.clone(), loaded.info.exports.clone()))
    };
    let (imports, exports) = imports_of(&row)?;
    let approvals: Vec<_> = home
        .store
        .approvals()?
        .into_iter()
        .filter(|a| a.plugin_id == row.id)
        .collect();
    let changes = match approvals
        .first()
        .filter(|a| a.digest != row.digest || a.manifest_digest != row.manifest_digest)
    {
        None => None,
        Some(a) => {
            let old = home
                .store
                .plugin_version(&a.digest, &a.manifest_digest)?
                .ok_or_else(|| {
                    internal(format!(
                        "the approved version {} of {} is missing",
                        &a.digest[..12.min(a.digest.len())],
                        row.id
                    ))
                })?;
            let old_manifest =
                Manifest::parse(&old.manifest).map_err(|e| internal(e.to_string()))?;
            let (old_imports, _) = imports_of(&old)?;
            Some(Changes {
                since_digest: old.digest.clone(),
                since_version: old.version.clone(),
                lines: diff(&old, &old_manifest, &old_imports, &row, &manifest, &imports),
            })
        }
    };
    let capabilities = manifest
        .capabilities
        .iter()
        .map(|c| match c {
            easel_policy::Capability::Read => "read".to_owned(),
            easel_policy::Capability::Write => "write".to_owned(),
        })
        .collect();
    let params = manifest
        .params
        .iter()
        .map(|(name, p)| ParamView {
            name: name.clone(),
            ty: format!("{:?}", p.ty).to_lowercase(),
            default: p.default.clone(),
            required: p.required,
            description: p.description.clone(),
            summary: describe_param(p),
        })
        .collect();
    Ok(Inspection {
        id: row.id.clone(),
        version: row.version.clone(),
        author: manifest.author.clone(),
        description: manifest.description.clone(),
        digest: row.digest.clone(),
        manifest_digest: row.manifest_digest.clone(),
        size: row.size,
        added_at: row.added_at.clone(),
        added_by: row.added_by.clone(),
        imports,
        exports,
        requests: Requests {
            capabilities,
            max_calls: manifest.max_calls,
            memory_mib: manifest.memory_bytes >> 20,
            scopes: manifest.scopes.iter().map(ToString::to_string).collect(),
            masquerade: manifest.masquerade,
            sis_import: manifest.sis_import,
            reports: manifest.reports.clone(),
            params,
        },
        changes,
        approvals: approvals
            .iter()
            .map(|a| ApprovalView {
                digest: a.digest.clone(),
                manifest_digest: a.manifest_digest.clone(),
                school: a.school,
                write: a.write,
                by: a.approved_by.clone(),
                at: a.approved_at.clone(),
            })
            .collect(),
    })
}

pub(crate) fn describe_param(p: &easel_policy::ParamSpec) -> String {
    let default = p
        .default
        .as_deref()
        .map(|d| format!(", default {d:?}"))
        .unwrap_or_default();
    let required = if p.required { ", required" } else { "" };
    format!("({:?}{default}{required}): {}", p.ty, p.description)
}

/// What changed between two versions, one line each: imports, scopes,
/// capabilities, params, size.
fn diff(
    old: &PluginRow,
    old_m: &Manifest,
    old_imports: &[String],
    new: &PluginRow,
    new_m: &Manifest,
    new_imports: &[String],
) -> Vec<String> {
    let mut out = Vec::new();
    let set_diff = |what: &str, a: &[String], b: &[String], out: &mut Vec<String>| {
        for x in b.iter().filter(|x| !a.contains(x)) {
            out.push(format!("+ {what} {x}"));
        }
        for x in a.iter().filter(|x| !b.contains(x)) {
            out.push(format!("- {what} {x}"));
        }
    };
    set_diff("import", old_imports, new_imports, &mut out);
    let scopes = |m: &Manifest| m.scopes.iter().map(ToString::to_string).collect::<Vec<_>>();
    set_diff("scope", &scopes(old_m), &scopes(new_m), &mut out);
    if old_m.requests_write() != new_m.requests_write() {
        out.push(format!(
            "{} write access",
            if new_m.requests_write() {
                "+ requests"
            } else {
                "- no longer requests"
            }
        ));
    }
    if old_m.masquerade != new_m.masquerade {
        out.push(format!(
            "{} masquerading (as_user_id)",
            if new_m.masquerade {
                "+ requests"
            } else {
                "- no longer requests"
            }
        ));
    }
    if old_m.sis_import != new_m.sis_import {
        out.push(format!(
            "{} SIS imports",
            if new_m.sis_import {
                "+ requests"
            } else {
                "- no longer requests"
            }
        ));
    }
    if old_m.max_calls != new_m.max_calls {
        out.push(format!(
            "~ max calls {} -> {}",
            old_m.max_calls, new_m.max_calls
        ));
    }
    if old_m.memory_bytes != new_m.memory_bytes {
        out.push(format!(
            "~ memory {} MiB -> {} MiB",
            old_m.memory_bytes >> 20,
            new_m.memory_bytes >> 20
        ));
    }
    for (name, p) in &new_m.params {
        match old_m.params.get(name) {
            None => out.push(format!("+ param {name} {}", describe_param(p))),
            Some(o) if o != p => out.push(format!(
                "~ param {name} {} -> {}",
                describe_param(o),
                describe_param(p)
            )),
            Some(_) => {}
        }
    }
    for name in old_m
        .params
        .keys()
        .filter(|n| !new_m.params.contains_key(*n))
    {
        out.push(format!("- param {name}"));
    }
    if old.size != new.size {
        out.push(format!(
            "~ size {} -> {} bytes ({:+})",
            old.size,
            new.size,
            new.size as i64 - old.size as i64
        ));
    }
    if old_m.version != new_m.version {
        out.push(format!("~ version {} -> {}", old_m.version, new_m.version));
    }
    out
}

/// What `easel plugin check` found: a manifest's request, and whether a
/// component matches it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    /// Plugin id.
    pub id: String,
    /// Its version.
    pub version: String,
    /// Does it request write access?
    pub write: bool,
    /// Most Canvas calls per run.
    pub max_calls: u32,
    /// Memory a run may use, MiB.
    pub memory_mib: u64,
    /// How many scopes it lists.
    pub scopes: usize,
    /// How many parameters it takes.
    pub params: usize,
    /// The component, if one was given.
    pub component: Option<ComponentCheck>,
}

/// A component checked against its manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentCheck {
    /// sha256 of the component.
    pub digest: String,
    /// The WIT interfaces it imports.
    pub imports: Vec<String>,
    /// Something to reconsider that is not an error.
    pub note: Option<String>,
}

/// Check `manifest`, and `component` against it (each with a label for
/// messages):
/// refused (invalid) when the manifest is not one easel takes, the
/// bytes are not a component easel runs, or the component imports writes
/// the manifest does not request. Changes nothing.
pub fn check(
    runtime: &easel_runtime::Runtime,
    (manifest, manifest_label): (&str, &str),
    component: Option<(&[u8], &str)>,
) -> Result<CheckReport, AppError> {
    let m = Manifest::parse(manifest)
        .map_err(|e| AppError::invalid(format!("{manifest_label}: {e}")))?;
    let component = match component {
        None => None,
        Some((bytes, label)) => {
            let loaded = runtime
                .load(bytes, label)
                .map_err(|e| AppError::invalid(format!("{label}: {e}")))?;
            let imports_write = loaded.info.imports_write();
            if imports_write && !m.requests_write() {
                return Err(AppError::invalid(format!(
                    "{label} imports easel:canvas/write, but the manifest does not request write access: set write = true under [capabilities], or build without writes"
                )));
            }
            Some(ComponentCheck {
                digest: loaded.info.digest.clone(),
                imports: loaded.info.imports.clone(),
                note: (m.requests_write() && !imports_write).then(|| {
                    "the manifest requests write access the component never uses (it does not import easel:canvas/write); consider write = false".to_owned()
                }),
            })
        }
    };
    Ok(CheckReport {
        id: m.id.clone(),
        version: m.version.clone(),
        write: m.requests_write(),
        max_calls: m.max_calls,
        memory_mib: m.memory_bytes >> 20,
        scopes: m.scopes.len(),
        params: m.params.len(),
        component,
    })
}

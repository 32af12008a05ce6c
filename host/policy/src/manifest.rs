//! Plugin manifests: what a plugin's author says it needs.
//!
//! Threat: a manifest that hides what a plugin does. Parsing is strict
//! (unknown keys are errors that name the line) and happens once; the raw
//! serde structs never leave this module.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::scope::Scope;

/// Default budget of Canvas calls per run when a manifest names none.
pub const DEFAULT_MAX_CALLS: u32 = 10_000;

/// Memory a plugin may use when its manifest names none (64 MiB): room for
/// CPython, its standard library and a large school's report.
pub const DEFAULT_MEMORY_BYTES: u64 = 64 << 20;
/// The least a manifest may ask for (16 MiB).
pub const MIN_MEMORY_BYTES: u64 = 16 << 20;
/// The most a manifest may ask for (512 MiB, the host's pool slot).
pub const MAX_MEMORY_BYTES: u64 = 512 << 20;

/// A capability a plugin requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// GET requests (`easel:canvas/read`).
    Read,
    /// POST, PUT, DELETE (`easel:canvas/write`).
    Write,
}

/// The type of a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    /// Any text.
    String,
    /// A signed 64-bit integer.
    Integer,
    /// `true` or `false`.
    Boolean,
}

/// One declared parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamSpec {
    /// Its type.
    pub ty: ParamType,
    /// Default value, already type-checked.
    pub default: Option<String>,
    /// Must the admin give it?
    pub required: bool,
    /// What it means.
    pub description: String,
}

/// A validated manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Plugin id: lowercase letters, digits and `-`.
    pub id: String,
    /// The plugin's version (free-form, usually semver).
    pub version: String,
    /// School or author.
    pub author: String,
    /// What it does.
    pub description: String,
    /// Requested capabilities.
    pub capabilities: Vec<Capability>,
    /// Requested budget of Canvas calls per run.
    pub max_calls: u32,
    /// Requested endpoints, in Canvas's scope grammar (empty: none listed,
    /// any endpoint the other rules allow).
    pub scopes: Vec<Scope>,
    /// Does the plugin ask to act as other users (`as_user_id`)?
    pub masquerade: bool,
    /// Does the plugin ask to send SIS imports (CSV files whose rows easel
    /// places one by one)? Needs write access.
    pub sis_import: bool,
    /// Report files the plugin says it writes.
    pub reports: Vec<String>,
    /// Memory the plugin may use, bytes (`memory = "128MiB"`; default
    /// [`DEFAULT_MEMORY_BYTES`]).
    pub memory_bytes: u64,
    /// Declared parameters by name.
    pub params: BTreeMap<String, ParamSpec>,
}

/// Why a manifest or a set of parameters was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// TOML syntax or an unknown/missing key; the text names the line.
    #[error("manifest is not valid: {0}")]
    Syntax(String),
    /// A value that parses but makes no sense.
    #[error("manifest is not valid: {0}")]
    Invalid(String),
    /// A run parameter that does not fit the manifest.
    #[error("{0}")]
    Param(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    id: String,
    version: String,
    author: String,
    description: String,
    capabilities: RawCapabilities,
    #[serde(default)]
    params: BTreeMap<String, RawParam>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCapabilities {
    #[serde(default)]
    read: bool,
    #[serde(default)]
    write: bool,
    max_calls: Option<u32>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    masquerade: bool,
    #[serde(default)]
    sis_import: bool,
    #[serde(default)]
    reports: Vec<String>,
    memory: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParam {
    #[serde(rename = "type")]
    ty: ParamType,
    default: Option<toml::Value>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    description: String,
}

impl Manifest {
    /// Parse and validate manifest text (TOML).
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let raw: RawManifest = toml::from_str(text)
            .map_err(|e| ManifestError::Syntax(e.to_string().trim().to_owned()))?;
        let valid_id = !raw.id.is_empty()
            && raw.id.len() <= 64
            && raw
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid_id {
            return Err(ManifestError::Invalid(format!(
                "id {:?} must be 1-64 lowercase letters, digits or '-'",
                raw.id
            )));
        }
        let mut capabilities = Vec::new();
        if raw.capabilities.read {
            capabilities.push(Capability::Read);
        }
        if raw.capabilities.write {
            capabilities.push(Capability::Write);
        }
        let mut params = BTreeMap::new();
        for (name, p) in raw.params {
            let default = match p.default {
                None => None,
                Some(v) => Some(typed_default(&name, p.ty, v)?),
            };
            params.insert(
                name,
                ParamSpec {
                    ty: p.ty,
                    default,
                    required: p.required,
                    description: p.description,
                },
            );
        }
        let scopes = raw
            .capabilities
            .scopes
            .iter()
            .map(|s| Scope::parse(s).map_err(|e| ManifestError::Invalid(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        for scope in &scopes {
            let writes = scope.verb() != "GET";
            if writes && !raw.capabilities.write {
                return Err(ManifestError::Invalid(format!(
                    "scope {scope} writes, but [capabilities] does not request write = true"
                )));
            }
        }
        if raw.capabilities.sis_import && !raw.capabilities.write {
            return Err(ManifestError::Invalid(
                "sis_import = true sends SIS imports, which write; [capabilities] must request write = true too"
                    .into(),
            ));
        }
        for name in &raw.capabilities.reports {
            if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
                return Err(ManifestError::Invalid(format!(
                    "report {name:?} must be a plain file name such as courses.csv"
                )));
            }
        }
        let memory_bytes = match &raw.capabilities.memory {
            None => DEFAULT_MEMORY_BYTES,
            Some(text) => parse_memory(text)?,
        };
        Ok(Self {
            id: raw.id,
            version: raw.version,
            author: raw.author,
            description: raw.description,
            capabilities,
            max_calls: raw.capabilities.max_calls.unwrap_or(DEFAULT_MAX_CALLS),
            scopes,
            masquerade: raw.capabilities.masquerade,
            sis_import: raw.capabilities.sis_import,
            reports: raw.capabilities.reports,
            memory_bytes,
            params,
        })
    }

    /// Does the manifest request write access?
    pub fn requests_write(&self) -> bool {
        self.capabilities.contains(&Capability::Write)
    }

    /// Check run parameters against the declarations and apply defaults.
    pub fn resolve_params(
        &self,
        given: &[(String, String)],
    ) -> Result<Vec<(String, String)>, ManifestError> {
        let mut out = BTreeMap::new();
        for (name, value) in given {
            let spec = self.params.get(name).ok_or_else(|| {
                let known: Vec<&str> = self.params.keys().map(String::as_str).collect();
                ManifestError::Param(format!(
                    "unknown parameter {name:?}; {} accepts: {}",
                    self.id,
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ))
            })?;
            check_value(name, spec.ty, value)?;
            out.insert(name.clone(), value.clone());
        }
        for (name, spec) in &self.params {
            if out.contains_key(name) {
                continue;
            }
            match (&spec.default, spec.required) {
                (Some(d), _) => {
                    out.insert(name.clone(), d.clone());
                }
                (None, true) => {
                    return Err(ManifestError::Param(format!(
                        "parameter {name:?} is required: add --param {name}=<value> ({})",
                        spec.description
                    )));
                }
                (None, false) => {}
            }
        }
        Ok(out.into_iter().collect())
    }
}

/// `"64MiB"`, `"128 MiB"`, `"1GiB"`: binary units only, within
/// [`MIN_MEMORY_BYTES`]..=[`MAX_MEMORY_BYTES`].
fn parse_memory(text: &str) -> Result<u64, ManifestError> {
    let bad = || {
        ManifestError::Invalid(format!(
            "memory = {text:?} must be a size in MiB or GiB, such as \"64MiB\" or \"256MiB\""
        ))
    };
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = t.split_at(split);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let shift = match unit.trim() {
        "MiB" => 20,
        "GiB" => 30,
        _ => return Err(bad()),
    };
    let bytes = number.checked_mul(1 << shift).ok_or_else(bad)?;
    if !(MIN_MEMORY_BYTES..=MAX_MEMORY_BYTES).contains(&bytes) {
        return Err(ManifestError::Invalid(format!(
            "memory = {text:?} is outside what a plugin may ask for: {} MiB to {} MiB",
            MIN_MEMORY_BYTES >> 20,
            MAX_MEMORY_BYTES >> 20
        )));
    }
    Ok(bytes)
}

fn typed_default(name: &str, ty: ParamType, v: toml::Value) -> Result<String, ManifestError> {
    let text = match (&ty, v) {
        (ParamType::String, toml::Value::String(s)) => s,
        (ParamType::Integer, toml::Value::Integer(i)) => i.to_string(),
        (ParamType::Boolean, toml::Value::Boolean(b)) => b.to_string(),
        (_, other) => {
            return Err(ManifestError::Invalid(format!(
                "default of parameter {name:?} is {other}, which is not a {ty:?}"
            )));
        }
    };
    Ok(text)
}

fn check_value(name: &str, ty: ParamType, value: &str) -> Result<(), ManifestError> {
    let ok = match ty {
        ParamType::String => true,
        ParamType::Integer => value.parse::<i64>().is_ok(),
        ParamType::Boolean => matches!(value, "true" | "false"),
    };
    if ok {
        Ok(())
    } else {
        Err(ManifestError::Param(format!(
            "parameter {name:?} must be {}, got {value:?}",
            match ty {
                ParamType::String => "text",
                ParamType::Integer => "an integer",
                ParamType::Boolean => "true or false",
            }
        )))
    }
}

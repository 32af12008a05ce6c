//! What the plugin is running for.

use std::collections::BTreeMap;

use crate::bindings::easel::canvas::context as host;
use crate::error::{Error, Result};

/// The run's parameters, school, instance and mode, read once at start.
#[derive(Debug, Clone)]
pub struct Context {
    params: BTreeMap<String, String>,
    school_id: u64,
    school_name: String,
    instance: String,
    dry_run: bool,
    run_id: String,
}

impl Context {
    /// Read the context from the host. Called by [`crate::plugin!`].
    pub fn load() -> Self {
        let school = host::school();
        Self {
            params: host::params().into_iter().collect(),
            school_id: school.account_id,
            school_name: school.name,
            instance: host::instance(),
            dry_run: host::dry_run(),
            run_id: host::run_id(),
        }
    }

    /// The school's account id.
    pub fn school_id(&self) -> u64 {
        self.school_id
    }

    /// The school's name.
    pub fn school_name(&self) -> &str {
        &self.school_name
    }

    /// The Canvas instance name (`prod`, `test`, `beta`, `sim`...).
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// True when writes are recorded, not sent.
    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// The run id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// A parameter as text (defaults from the manifest already applied).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A parameter that must be present.
    pub fn require(&self, name: &str) -> Result<&str> {
        self.param(name)
            .ok_or_else(|| Error::Param(format!("parameter {name:?} is required")))
    }

    /// An integer parameter.
    pub fn param_i64(&self, name: &str) -> Result<Option<i64>> {
        self.param(name)
            .map(|v| {
                v.parse().map_err(|_| {
                    Error::Param(format!("parameter {name:?} must be an integer, got {v:?}"))
                })
            })
            .transpose()
    }

    /// A boolean parameter (`true`/`false`), `false` when absent.
    pub fn param_bool(&self, name: &str) -> Result<bool> {
        match self.param(name) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(v) => Err(Error::Param(format!(
                "parameter {name:?} must be true or false, got {v:?}"
            ))),
        }
    }
}

//! The simulator's data kept in a file between runs, for `easel sim serve
//! --state FILE`: the institution with every write made to it, and the
//! role tokens, so a token handed to a client keeps working after a
//! restart. Jobs in flight (progress, SIS imports, reports) and tokens
//! added later are not kept.
//!
//! The file holds tokens, like the output of `easel sim serve`: it is
//! written with mode 0600, and `Debug` never shows a token.

use std::io::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::model::Institution;
use crate::server::Role;

/// The file format's version.
const VERSION: u32 = 1;

/// A simulator's data, as saved to and loaded from a state file.
#[derive(Clone, Serialize, Deserialize)]
pub struct Snapshot {
    version: u32,
    /// The institution, with every write made to it.
    pub institution: Institution,
    tokens: Vec<SavedToken>,
}

#[derive(Clone, Serialize, Deserialize)]
struct SavedToken {
    role: Role,
    user: u64,
    token: String,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("accounts", &self.institution.accounts.len())
            .field("courses", &self.institution.courses.len())
            .field("users", &self.institution.users.len())
            .field("tokens", &format_args!("[{} redacted]", self.tokens.len()))
            .finish()
    }
}

impl Snapshot {
    pub(crate) fn new(institution: Institution, roles: &[(Role, u64, String)]) -> Self {
        Snapshot {
            version: VERSION,
            institution,
            tokens: roles
                .iter()
                .map(|(role, user, token)| SavedToken {
                    role: *role,
                    user: *user,
                    token: token.clone(),
                })
                .collect(),
        }
    }

    /// The saved (role, user, token) triples.
    pub(crate) fn roles(&self) -> Vec<(Role, u64, String)> {
        self.tokens
            .iter()
            .map(|t| (t.role, t.user, t.token.clone()))
            .collect()
    }

    /// Read `path`; `Ok(None)` when there is no such file.
    pub fn load(path: &Path) -> std::io::Result<Option<Self>> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut snapshot: Snapshot = serde_json::from_slice(&bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        if snapshot.version != VERSION {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "state file version {} (this simulator reads {VERSION})",
                    snapshot.version
                ),
            ));
        }
        snapshot.institution.reindex();
        Ok(Some(snapshot))
    }

    /// Write to `path` (a temporary file beside it, then renamed, so a crash
    /// never leaves half a file).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "state".into());
        let tmp = path.with_file_name(format!(".{name}.tmp"));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(&text)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
    }
}

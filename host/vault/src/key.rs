//! The master key file.

use std::io::Write;
use std::path::Path;

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::vault::VaultError;

/// File name of the master key in the data directory.
pub const MASTER_KEY_FILE: &str = "master.key";

/// A 256-bit master key. Debug prints a redaction.
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let mut k = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(k.as_mut());
        Self(k)
    }

    /// Read the key file, refusing one that others can read.
    pub fn load(path: &Path) -> Result<Self, VaultError> {
        let meta = std::fs::metadata(path).map_err(|e| VaultError::KeyFile {
            path: path.to_path_buf(),
            problem: format!("cannot read it ({e}); restore it from your backup; if it is lost for good, `easel vault reset --forget-tokens` makes a new one and forgets the stored tokens (add them again)"),
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(VaultError::KeyFile {
                    path: path.to_path_buf(),
                    problem: format!(
                        "it is readable by others (mode {mode:o}); run `chmod 600 {}`",
                        path.display()
                    ),
                });
            }
        }
        let text =
            Zeroizing::new(
                std::fs::read_to_string(path).map_err(|e| VaultError::KeyFile {
                    path: path.to_path_buf(),
                    problem: format!("cannot read it: {e}"),
                })?,
            );
        let mut k = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.trim(), k.as_mut()).map_err(|_| VaultError::KeyFile {
            path: path.to_path_buf(),
            problem: "it is not a 64-hex-digit key".into(),
        })?;
        Ok(Self(k))
    }

    /// Write the key to a new file with mode 0600 (never overwrites).
    pub fn write_new(&self, path: &Path) -> Result<(), VaultError> {
        let fail = |e: std::io::Error| VaultError::KeyFile {
            path: path.to_path_buf(),
            problem: format!("cannot create it: {e}"),
        };
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(path).map_err(fail)?;
        let text = Zeroizing::new(hex::encode(self.0.as_ref()));
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(fail)
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A subkey for one purpose.
    pub(crate) fn derive(&self, label: &str) -> Zeroizing<[u8; 32]> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.0.as_ref())
            .unwrap_or_else(|_| unreachable_hmac());
        mac.update(label.as_bytes());
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&mac.finalize().into_bytes());
        out
    }

    /// A value stored in the database to recognise this key.
    pub fn check_value(&self) -> String {
        hex::encode(&self.derive("easel key check v1")[..16])
    }
}

/// HMAC accepts keys of any length; this cannot happen.
fn unreachable_hmac() -> Hmac<Sha256> {
    <Hmac<Sha256> as Mac>::new_from_slice(&[0u8; 32]).unwrap_or_else(|_| unreachable_hmac())
}

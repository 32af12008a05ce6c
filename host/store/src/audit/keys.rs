//! The audit log's keys: an HMAC-SHA256 key that chains records and an
//! Ed25519 key that signs checkpoints, both derived from the vault's master
//! key and never stored in the database.
//!
//! Threat: whoever can write the database recomputing an unkeyed chain
//! after rewriting history. Without the master key nobody can compute a
//! record's MAC or sign a checkpoint; with it, everything can be forged
//! (docs/SECURITY.md).

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::{Result, StoreError};

/// HKDF `info` for the record MAC key.
pub const MAC_KEY_LABEL: &str = "easel audit mac v1";
/// HKDF `info` for the checkpoint signing key's seed.
pub const SIGNING_KEY_LABEL: &str = "easel audit checkpoint signing v1";

/// The keys the audit log writes and verifies with. Debug shows only the
/// public key.
pub struct AuditKeys {
    mac: Zeroizing<[u8; 32]>,
    signing: SigningKey,
}

impl std::fmt::Debug for AuditKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKeys")
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

impl AuditKeys {
    /// Derive both keys from the master key with HKDF-SHA256 (no salt; the
    /// labels above as `info`).
    pub fn derive(master: &[u8]) -> Result<Self> {
        let hk = Hkdf::<Sha256>::new(None, master);
        let mut mac = Zeroizing::new([0u8; 32]);
        let mut seed = Zeroizing::new([0u8; 32]);
        hk.expand(MAC_KEY_LABEL.as_bytes(), mac.as_mut())
            .and_then(|_| hk.expand(SIGNING_KEY_LABEL.as_bytes(), seed.as_mut()))
            .map_err(|_| StoreError::Invalid("cannot derive the audit keys".into()))?;
        Ok(Self {
            mac,
            signing: SigningKey::from_bytes(&seed),
        })
    }

    /// The checkpoint verifying key, hex (safe to publish).
    pub fn public_key(&self) -> String {
        hex::encode(self.signing.verifying_key().as_bytes())
    }

    fn hmac(&self) -> Result<Hmac<Sha256>> {
        <Hmac<Sha256> as Mac>::new_from_slice(self.mac.as_ref())
            .map_err(|_| StoreError::Invalid("cannot key the audit MAC".into()))
    }

    /// HMAC-SHA256 over `prev`, a newline and `fields`, hex.
    pub(crate) fn mac(&self, prev: &str, fields: &str) -> Result<String> {
        let mut m = self.hmac()?;
        m.update(prev.as_bytes());
        m.update(b"\n");
        m.update(fields.as_bytes());
        Ok(hex::encode(m.finalize().into_bytes()))
    }

    /// Does `mac_hex` authenticate `prev` and `fields`? (Constant time.)
    pub(crate) fn mac_matches(&self, prev: &str, fields: &str, mac_hex: &str) -> bool {
        let Ok(tag) = hex::decode(mac_hex) else {
            return false;
        };
        let Ok(mut m) = self.hmac() else {
            return false;
        };
        m.update(prev.as_bytes());
        m.update(b"\n");
        m.update(fields.as_bytes());
        m.verify_slice(&tag).is_ok()
    }

    /// Sign `message`; the signature in hex.
    pub(crate) fn sign(&self, message: &[u8]) -> String {
        hex::encode(self.signing.sign(message).to_bytes())
    }

    /// Does `sig_hex`, made by the key `public_key_hex`, sign `message`, and
    /// is that key ours?
    pub(crate) fn signature_matches(
        &self,
        public_key_hex: &str,
        message: &[u8],
        sig_hex: &str,
    ) -> SignatureCheck {
        if public_key_hex != self.public_key() {
            return SignatureCheck::OtherKey;
        }
        let mut sig = [0u8; 64];
        if hex::decode_to_slice(sig_hex, &mut sig).is_err() {
            return SignatureCheck::Bad;
        }
        let key: VerifyingKey = self.signing.verifying_key();
        match key.verify(message, &Signature::from_bytes(&sig)) {
            Ok(()) => SignatureCheck::Good,
            Err(_) => SignatureCheck::Bad,
        }
    }
}

/// The result of checking a checkpoint's signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignatureCheck {
    /// Made by our key over this message.
    Good,
    /// Names a key other than ours (another master key, or forged).
    OtherKey,
    /// Not a valid signature by our key over this message.
    Bad,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keys_depend_on_the_master_key_and_debug_shows_no_secret() {
        let a = AuditKeys::derive(&[1u8; 32]).unwrap();
        let b = AuditKeys::derive(&[2u8; 32]).unwrap();
        assert_ne!(a.public_key(), b.public_key());
        assert_ne!(a.mac("p", "f").unwrap(), b.mac("p", "f").unwrap());
        assert_eq!(
            a.mac("p", "f").unwrap(),
            AuditKeys::derive(&[1u8; 32])
                .unwrap()
                .mac("p", "f")
                .unwrap(),
            "derivation is deterministic"
        );
        let debug = format!("{a:?}");
        assert!(debug.contains(&a.public_key()));
        for secret in [
            hex::encode(a.mac.as_ref()),
            hex::encode(a.signing.to_bytes()),
        ] {
            assert!(!debug.contains(&secret), "{debug}");
        }
    }

    #[test]
    fn a_mac_authenticates_its_inputs_only_under_its_key() {
        let k = AuditKeys::derive(&[3u8; 32]).unwrap();
        let tag = k.mac("prev", "[1,\"x\"]").unwrap();
        assert!(k.mac_matches("prev", "[1,\"x\"]", &tag));
        assert!(!k.mac_matches("prev", "[1,\"y\"]", &tag));
        assert!(!k.mac_matches("prex", "[1,\"x\"]", &tag));
        let other = AuditKeys::derive(&[4u8; 32]).unwrap();
        assert!(!other.mac_matches("prev", "[1,\"x\"]", &tag));
        assert!(!k.mac_matches("prev", "[1,\"x\"]", "not hex"));
    }

    #[test]
    fn a_signature_checks_only_for_its_message_and_key() {
        let k = AuditKeys::derive(&[5u8; 32]).unwrap();
        let sig = k.sign(b"seq 7");
        assert_eq!(
            k.signature_matches(&k.public_key(), b"seq 7", &sig),
            SignatureCheck::Good
        );
        assert_eq!(
            k.signature_matches(&k.public_key(), b"seq 8", &sig),
            SignatureCheck::Bad
        );
        let other = AuditKeys::derive(&[6u8; 32]).unwrap();
        assert_eq!(
            k.signature_matches(&other.public_key(), b"seq 7", &other.sign(b"seq 7")),
            SignatureCheck::OtherKey
        );
        let mut flipped = sig.into_bytes();
        flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
        assert_eq!(
            k.signature_matches(
                &k.public_key(),
                b"seq 7",
                &String::from_utf8(flipped).unwrap()
            ),
            SignatureCheck::Bad
        );
    }
}

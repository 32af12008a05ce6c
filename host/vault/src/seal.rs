//! Sealing and opening token secrets, and keyed fingerprints.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::key::MasterKey;
use crate::vault::VaultError;

const NONCE_LEN: usize = 24;

fn aad(record: &str) -> Vec<u8> {
    format!("easel-token-v1:{record}").into_bytes()
}

/// Encrypt `plaintext` for record `record`: nonce || ciphertext.
pub(crate) fn seal(key: &MasterKey, record: &str, plaintext: &[u8]) -> Result<Vec<u8>, VaultError> {
    let cipher = XChaCha20Poly1305::new(key.bytes().into());
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let ct = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad(record),
            },
        )
        .map_err(|_| VaultError::Crypto("encryption failed".into()))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Decrypt a sealed record; fails on a wrong key, a tampered blob, or a
/// blob moved from another record.
pub(crate) fn open(
    key: &MasterKey,
    record: &str,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    if sealed.len() < NONCE_LEN + 16 {
        return Err(VaultError::Crypto(format!(
            "token {record}: sealed record is truncated"
        )));
    }
    let cipher = XChaCha20Poly1305::new(key.bytes().into());
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    cipher
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ct,
                aad: &aad(record),
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| {
            VaultError::Crypto(format!(
                "token {record} cannot be decrypted: wrong master key, or the record was altered"
            ))
        })
}

/// A keyed fingerprint of a secret: identifies it in listings and audit
/// records without revealing it (or allowing offline guessing without the
/// master key).
pub(crate) fn fingerprint(key: &MasterKey, secret: &str) -> String {
    let sub = key.derive("easel token fingerprint v1");
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(sub.as_ref()) {
        Ok(m) => m,
        Err(_) => return String::from("fp:?"),
    };
    mac.update(secret.as_bytes());
    format!("fp:{}", hex::encode(&mac.finalize().into_bytes()[..8]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_record() {
        let key = MasterKey::generate();
        let sealed = seal(&key, "prod-admin", b"7~secret").unwrap();
        assert_eq!(
            open(&key, "prod-admin", &sealed).unwrap().as_slice(),
            b"7~secret"
        );
        assert!(
            open(&key, "other-record", &sealed).is_err(),
            "moved between records"
        );
        assert!(
            open(&MasterKey::generate(), "prod-admin", &sealed).is_err(),
            "wrong key"
        );
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(open(&key, "prod-admin", &tampered).is_err(), "tampered");
        assert!(!sealed.windows(8).any(|w| w == b"7~secret"));
    }

    #[test]
    fn fingerprints_are_keyed_and_stable() {
        let key = MasterKey::generate();
        assert_eq!(fingerprint(&key, "a"), fingerprint(&key, "a"));
        assert_ne!(fingerprint(&key, "a"), fingerprint(&key, "b"));
        assert_ne!(
            fingerprint(&key, "a"),
            fingerprint(&MasterKey::generate(), "a")
        );
    }
}

//! The vault: Canvas tokens at rest and their hand-over to the client.
//!
//! Threat: a copied database, a readable key file, a token in a log. Every
//! secret is sealed with XChaCha20-Poly1305 under a 256-bit master key kept
//! in its own file (mode 0600, refused if wider), with the token's id as
//! associated data so ciphertexts cannot be swapped between records. The
//! database stores a keyed check value, so a wrong key is detected before
//! anything is decrypted or overwritten. Secrets leave the vault only as
//! `easel_canvas::Credentials`, which only the canvas client can read.
#![deny(missing_docs)]

mod credentials;
mod key;
mod seal;
mod vault;

pub use key::{MASTER_KEY_FILE, MasterKey};
pub use vault::{NewSecret, Reset, SignInKey, TokenInfo, TokenKind, Vault, VaultError};

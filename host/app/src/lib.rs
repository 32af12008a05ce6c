//! easel's application layer: the services the CLI, `easel serve`, the
//! console and the scheduler share, each taking an authenticated
//! [`Actor`].
//!
//! This first part holds principals: who someone is ([`Actor`]), what
//! their roles let them do ([`Act`]), and how they prove it (a local
//! password hashed with argon2id, or a personal API token of 256 random
//! bits stored only as its hash). Errors carry a [`Kind`] that the CLI maps
//! to exit codes and a server to HTTP statuses.
#![deny(missing_docs)]

mod error;
mod principal;
mod principals;

pub use error::{AppError, Kind};
pub use principal::{Act, Actor, Role, SignIn, fold_name};
pub use principals::{
    IssuedToken, MAX_FAILURES_PER_ADDRESS, MAX_FAILURES_PER_NAME, NewUser, Principals, TOKEN_PREFIX,
};

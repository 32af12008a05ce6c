//! The Canvas client: the only code in easel that handles a token.
//!
//! Threat: a token leaving the host (logged, echoed in an error, sent to an
//! origin it was not issued for) and plugins that cannot be told apart in
//! Canvas's logs. Every outbound request is built by [`CanvasClient`]: it
//! builds the URL, re-checks the origin, attaches `Authorization: Bearer`
//! and the per-plugin User-Agent, and hands the request to a [`Transport`].
//! Nothing else can turn a [`Token`] into bytes.
#![deny(missing_docs)]

mod client;
mod credential;
mod governor;
mod link;
mod redact;
mod retry;
pub mod sign_in;
mod token;
mod transport;

pub use client::{CallTag, CanvasClient, ClientError, RequestBody, Response, USER_AGENT_PRODUCT};
pub use credential::{
    Credential, CredentialError, Credentials, OAuthCredentials, OAuthGrant, OnRefresh,
    StaticCredentials,
};
pub use governor::{Governor, GovernorConfig, GovernorStats, Permit, Priority, Retries, Settled};
pub use link::next_link;
pub use redact::REDACTED;
pub use retry::{RetryPolicy, RetryReason, is_idempotent, is_throttled};
pub use token::Token;
pub use transport::{
    BoxFuture, MAX_RESPONSE_BYTES, OutboundRequest, ReqwestTransport, Transport, TransportError,
};

//! Mayfly: a self-hostable keyless code-signing service.
//!
//! Layers, from the inside out (dependencies point inward):
//! - [`tlog`]: pure transparency-log protocol code (RFC 6962 hashing and proofs, C2SP tiles,
//!   checkpoints and signed notes). No I/O, no async.
//! - [`ct`]: RFC 6962 SCTs, Merkle leaves and precertificate TBS handling. No I/O.
//! - [`identity`]: Fulcio-format OIDC issuer configuration, CI-provider claim templates, token
//!   verification and principals.
//! - [`ca`]: the certificate profile, CA keys and chain, and the issuance pipeline.
//! - [`log`]: the log engine: sequencer with durable group commit over a narrow storage trait.
//! - [`store`]: the SQL implementations of that trait. The only module that knows SQL.
//! - [`api`]: the HTTP surface. The only module that knows HTTP.
//! - [`server`]: wiring: data dir, keys, database, logs and the listener.
#![forbid(unsafe_code)]

pub mod api;
pub mod bench;
pub mod ca;
pub mod demo;
pub mod hsm;
pub mod identity;
pub mod instance;
pub mod log;
pub mod logging;
pub mod policy;
pub mod ratelimit;
pub mod server;
pub mod storage;
#[cfg(feature = "test-util")]
pub mod testing;
pub mod trust;

/// Makes aws-lc the process-wide rustls crypto provider, which every HTTP client (outbound OIDC
/// discovery, the benchmarks' load generator) builds on. Idempotent; the first call wins.
pub fn install_crypto_provider() {
    mayfly_client::install_crypto_provider();
}

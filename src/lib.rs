//! Mayfly: a self-hostable keyless code-signing service.
//!
//! Layers, from the inside out (dependencies point inward):
//! - [`tlog`]: pure transparency-log protocol code (RFC 6962 hashing and proofs, C2SP tiles,
//!   checkpoints and signed notes). No I/O, no async.
//! - [`ca`]: the certificate profile (Fulcio extensions; the issuance pipeline follows).
//! - [`identity`]: Fulcio-format OIDC issuer configuration and CI-provider claim templates.
//! - [`log`]: the log engine: sequencer with durable group commit over a narrow storage trait.
//! - [`store`]: the SQL implementations of that trait. The only module that knows SQL.
//! - [`api`]: the HTTP surface. The only module that knows HTTP.
//! - [`server`]: wiring: data dir, keys, database, logs and the listener.
#![forbid(unsafe_code)]

pub mod api;
pub mod bench;
pub mod ca;
pub mod identity;
pub mod keys;
pub mod log;
pub mod server;
pub mod store;
pub mod tlog;

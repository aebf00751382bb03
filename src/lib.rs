//! Mayfly, the server: a short-lived certificate authority wire-compatible with Fulcio, an
//! embedded Merkle log that records every issuance before the certificate is returned, and a
//! Rekor-compatible transparency log. The protocol bytes live in `mayfly-spec` and the
//! companion client in `mayfly-client`; this crate holds the engines, storage and HTTP.
//!
//! Modules, from the inside out (dependencies point inward):
//! - [`identity`]: Fulcio-format issuer configuration, CI-provider claim templates, OIDC token
//!   verification, principals and SANs, the development issuer.
//! - [`policy`]: the issuance policy, CEL rules over a verified token's claims.
//! - [`ratelimit`]: per-identity and per-client request rates (bounded GCRA tables).
//! - [`ca`]: the certificate profile and leaf encoder, CA keys and chain, and the issuance
//!   pipeline (token → principal → policy → proof of possession → precertificate → log → SCT).
//! - [`hsm`]: PKCS#11 keys (CA and log signing keys that never leave the token).
//! - [`log`]: the log engine: a sequencer with durable group commit over a narrow storage
//!   trait, tile and checkpoint reads, the log signing keys, the whole-tree audit.
//! - [`index`]: the search index of both logs, derived from their entries and rebuildable:
//!   the indexer that follows them and the storage trait it writes through.
//! - [`storage`]: the implementations of that trait; the only module that knows SQL.
//! - [`tsa`]: the RFC 3161 timestamp authority (its key, certificates and signing).
//! - [`trust`]: the trusted root, signing config and client trust config the instance serves.
//! - [`instance`]: the data directory's layout and every name derived from the public URL.
//! - [`api`]: the HTTP surface (Fulcio, Rekor, tiles, trust documents); the only module that
//!   knows HTTP, and the one place errors become status codes.
//! - [`server`]: wiring (keys, database, logs, reload) and the connection-level listener.
//! - [`logging`]: structured logs (tracing), text or JSON.
//! - [`bench`]: the benchmark programs behind `mayfly bench`.
//! - [`demo`]: `mayfly demo`, a whole signing flow against a throwaway instance.
//! - `testing` (feature `test-util`): fault-injecting store, failing signer and log checks
//!   for tests.
#![forbid(unsafe_code)]
// Items are `pub(crate)` unless the crate's public surface reaches them.
#![warn(unreachable_pub)]

pub mod api;
pub mod bench;
pub mod ca;
pub mod demo;
pub mod hsm;
pub mod identity;
pub mod index;
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
pub mod tsa;
pub mod tuf;

/// Makes aws-lc the process-wide rustls crypto provider, which every HTTP client (outbound OIDC
/// discovery, the benchmarks' load generator) builds on. Idempotent; the first call wins.
pub fn install_crypto_provider() {
    mayfly_client::install_crypto_provider();
}

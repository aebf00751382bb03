//! The companion client: `mayfly attest` (npm provenance and general in-toto attestations,
//! signed keylessly against a Mayfly) and `mayfly verify` (Sigstore bundles, offline, against a
//! trusted root). It talks to servers over HTTP only, and builds on `mayfly-spec` alone: the
//! compiler keeps it from reaching into the server.
//!
//! - [`attest`]: statements (npm provenance, in-toto), DSSE signing, the keyless flow against
//!   Fulcio and Rekor endpoints, bundles.
//! - [`verify`]: offline bundle verification against a trusted root and an identity policy.
//! - [`audit`]: `mayfly audit search` (certificates from the search API, every inclusion proof
//!   and checkpoint signature checked against the trusted root) and `mayfly audit watch` (a
//!   monitor of both logs through checkpoints and tiles).
//! - [`commands`]: the `attest` and `verify` subcommands' arguments and output.
#![forbid(unsafe_code)]
// Items are `pub(crate)` unless the crate's public surface reaches them.
#![warn(unreachable_pub)]

pub mod attest;
pub mod audit;
pub mod commands;
mod net;
pub mod verify;

/// Makes aws-lc the process-wide rustls crypto provider, which every HTTPS client here builds
/// on. Idempotent; the first call wins.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

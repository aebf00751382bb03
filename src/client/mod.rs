//! The companion client: `mayfly attest` (npm provenance and general in-toto attestations,
//! signed keylessly against a Mayfly) and `mayfly verify` (Sigstore bundles, offline, against a
//! trusted root). It talks to servers over HTTP only and knows nothing of their internals.

pub mod attest;
pub mod commands;
pub mod verify;

//! Mayfly's protocol code: what the bytes of a keyless signing service are and whether they
//! verify. Nothing here does I/O, reads a clock or spawns a task: the server and the client both
//! build on it, and the compiler keeps it that way (this crate depends on no async runtime, HTTP
//! or SQL crate).
//!
//! - [`tlog`]: RFC 6962 / RFC 9162 Merkle hashing and proofs, C2SP tlog-tiles tile maths, C2SP
//!   signed notes and checkpoints.
//! - [`ct`]: RFC 6962 SCTs, precertificate Merkle leaves, TBS surgery.
//! - [`audit`]: the identity in a logged precertificate TBS, the certificate rebuilt from it,
//!   and the JSON of the certificate search API.
//! - [`fulcio`]: the Fulcio certificate extensions: the OID table, their encoding and decoding.
//! - [`subject_key`]: the client key policy and proof of possession of a signing-cert request.
//! - [`rekor`]: Rekor v1 entry kinds, canonical bodies (RFC 8785), UUIDs and entry IDs, the
//!   signed entry timestamp payload.
//! - [`sigstore`]: bundles, trusted roots and signing configs in protobuf JSON.
//! - [`tsp`]: RFC 3161 time-stamp responses and tokens, decoded (no trust decisions).
//! - [`der`], [`pem`]: the one strict DER reader/writer and the one PEM reader/writer.
#![forbid(unsafe_code)]
// Items are `pub(crate)` unless the crate's public surface reaches them.
#![warn(unreachable_pub)]

pub mod audit;
pub mod ct;
pub mod der;
pub mod fulcio;
pub mod pem;
pub mod rekor;
pub mod sigstore;
pub mod subject_key;
pub mod tlog;
pub mod tsp;

//! The Sigstore documents Mayfly writes and reads, in their protobuf JSON mapping (camelCase
//! names, bytes as standard base64, int64 as decimal strings, enums by name, RFC 3339 times):
//! the bundle, the trusted root, the signing config and the client trust config.
//!
//! The server writes the trust documents ([`documents`]) and the client writes bundles
//! ([`bundle_document`]); both read them back through [`bundle`] and [`trusted_root`], which
//! accept what every real producer writes (omitted proto3 defaults, `null` for absent, int64 as
//! strings or numbers) and refuse every shape the real clients refuse, naming the field.

pub mod bundle;
pub mod bundle_document;
pub mod documents;
pub mod json;
pub mod trusted_root;

/// Why a bundle or trusted root could not be read. The message names the JSON path at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("bundle: {0}")]
    Bundle(String),
    #[error("trusted root: {0}")]
    TrustedRoot(String),
}

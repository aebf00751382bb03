//! The certificate authority: Fulcio's leaf profile and extensions, the CA's own chain and
//! signer backends, client-key policy, and the issuance pipeline that logs every
//! precertificate before a certificate leaves (design.md §1, §5; reference/fulcio.md §2).
//!
//! Pure parts (`extensions`, `profile`, `leaf`, `der`) transform data; `signer` and `setup` hold keys
//! and files; `issuance` ties the CA to the issuance log through `Log::append`.

pub(crate) mod chain;
pub(crate) mod issuance;
pub(crate) mod leaf;
pub mod pipeline;
pub(crate) mod profile;
pub mod setup;
pub(crate) mod signer;

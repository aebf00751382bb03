//! The certificate authority: Fulcio's leaf profile, the CA's own chain and its generations,
//! signer backends, and the issuance pipeline that logs every precertificate before a
//! certificate leaves (design.md §1, §5; reference/fulcio.md §2). The Fulcio extension codecs
//! and client-key rules it uses are protocol code in `mayfly_spec`.
//!
//! - `pipeline`: the one issuance call (token → principal → policy → rate limit → proof of
//!   possession → issue), which `api` wraps;
//! - `profile`, `leaf`: the leaf certificate's contents, pure;
//! - `issuance`: one CA generation signing precertificate and certificate around
//!   `Log::append`;
//! - `chain`, `signer`: the root and intermediate certificates, and the keys behind them;
//! - `generations`, `authorities`, `setup`: the rotation schedule, the generations a running
//!   instance holds, and creating, loading and rotating them in the data dir.

pub mod authorities;
pub(crate) mod chain;
pub mod generations;
pub(crate) mod issuance;
pub(crate) mod leaf;
pub mod pipeline;
pub(crate) mod profile;
pub mod setup;
pub(crate) mod signer;

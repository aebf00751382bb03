//! Certificate Transparency for precertificates: the byte formats a Fulcio-style CA needs to
//! obtain, embed and check Signed Certificate Timestamps (SCTs).
//!
//! The issuance flow this supports (RFC 6962 §3.1, as Fulcio does it): the CA signs a
//! *precertificate* carrying the critical poison extension, logs it, receives an SCT, then signs
//! the *final certificate* from the same fields with the poison replaced by the embedded SCT list.
//! Both sides of that flow hash and sign the same TBSCertificate: the precertificate's TBS minus
//! the poison, which equals the final certificate's TBS minus the SCT list
//! ([`precert_signing_tbs`] and [`final_cert_signing_tbs`]).
//!
//! - [`sct`]: SCT v1 and `SignedCertificateTimestampList` encoding, the §3.2 signature input,
//!   the §3.4 `MerkleTreeLeaf`, and the C2SP static-ct-api `leaf_index` SCT extension that
//!   Sunlight-style logs put in both the SCT and the leaf.
//! - [`tbs`]: strict DER walking of a certificate, enough to find the TBSCertificate and
//!   re-encode it with one extension removed.
//!
//! Everything is pure: no I/O, no clocks, no key material. Signing and verifying the bytes
//! produced here is the caller's business. Every parser is total: malformed input gives a
//! [`CtError`], never a panic.

mod error;
pub mod sct;
pub mod tbs;
mod tls;

#[cfg(test)]
mod tests;

pub use error::CtError;
pub use sct::{
    LoggedPrecert, POISON_OID, PrecertEntry, SCT_LIST_OID, Sct, issuer_key_hash,
    leaf_index_extension, leaf_index_from_extensions, merkle_tree_leaf, parse_merkle_tree_leaf,
    parse_sct_list, parse_sct_list_extension_value, sct_list, sct_list_extension_value,
    signing_input,
};
pub use tbs::{final_cert_signing_tbs, precert_signing_tbs, tbs_certificate, without_extension};

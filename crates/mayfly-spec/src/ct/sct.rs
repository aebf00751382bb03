//! Signed Certificate Timestamps for precertificates: the SCT v1 wire format, the embedded SCT
//! list, what the log signs (RFC 6962 §3.2) and what it hashes into its tree (§3.4).
//!
//! `extensions` means the same bytes everywhere in this module: the *contents* of the
//! `CtExtensions` vector, without its u16 length prefix. Static CT logs (C2SP static-ct-api)
//! put a `leaf_index` extension there, and the same bytes appear in the SCT and in the
//! `MerkleTreeLeaf`, so the leaf hash of an SCT'd entry can be recomputed from the SCT alone.

use sha2::{Digest, Sha256};

use super::CtError;
use super::tls::{Reader, put_uint, put_vec};
use crate::der::{self, TAG_OCTET_STRING};

/// The precertificate poison extension (RFC 6962 §3.1): critical, value ASN.1 NULL.
pub const POISON_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 11129, 2, 4, 3];
/// The embedded `SignedCertificateTimestampList` extension (RFC 6962 §3.3): non-critical.
pub const SCT_LIST_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 11129, 2, 4, 2];

const VERSION_V1: u8 = 0;
const SIGNATURE_TYPE_CERTIFICATE_TIMESTAMP: u8 = 0;
const LEAF_TYPE_TIMESTAMPED_ENTRY: u8 = 0;
const ENTRY_TYPE_PRECERT: u64 = 1;
/// TLS `HashAlgorithm.sha256` and `SignatureAlgorithm.ecdsa` (RFC 5246 §7.4.1.4.1).
const HASH_SHA256: u8 = 4;
const SIGNATURE_ECDSA: u8 = 3;
/// static-ct-api `ExtensionType.leaf_index`, whose data is a uint40.
const EXTENSION_LEAF_INDEX: u8 = 0;
const LEAF_INDEX_WIDTH: usize = 5;

/// Length-prefix widths of the vectors involved (RFC 6962 §3.2, §3.3).
const U16: usize = 2;
const U24: usize = 3;

/// Log ID and issuer key hash are both SHA-256 of a DER SubjectPublicKeyInfo (RFC 6962 §3.2).
pub fn issuer_key_hash(issuer_spki_der: &[u8]) -> [u8; 32] {
    Sha256::digest(issuer_spki_der).into()
}

/// The `CtExtensions` contents announcing a static-ct-api leaf index: `00 | 0005 | uint40`.
///
/// Fails if `index` does not fit 40 bits.
pub fn leaf_index_extension(index: u64) -> Result<Vec<u8>, CtError> {
    let mut out = Vec::with_capacity(3 + LEAF_INDEX_WIDTH);
    out.push(EXTENSION_LEAF_INDEX);
    let mut data = Vec::with_capacity(LEAF_INDEX_WIDTH);
    put_uint(&mut data, LEAF_INDEX_WIDTH, index, "leaf index")?;
    put_vec(&mut out, U16, &data, "extension data")?;
    Ok(out)
}

/// The leaf index in `CtExtensions` contents, if there is one.
///
/// Unknown extension types are skipped (the registry is open-ended), but every extension must
/// be well-formed, and a second `leaf_index` or one whose data is not exactly a uint40 is an
/// error: two logs' worth of indices in one SCT cannot both be true.
pub fn leaf_index_from_extensions(extensions: &[u8]) -> Result<Option<u64>, CtError> {
    let mut reader = Reader::new(extensions);
    let mut index = None;
    while !reader.is_empty() {
        let kind = reader.u8()?;
        let data = reader.vec(U16)?;
        if kind != EXTENSION_LEAF_INDEX {
            continue;
        }
        let mut data = Reader::new(data);
        let value = data.uint(LEAF_INDEX_WIDTH)?;
        data.finish()?;
        if index.replace(value).is_some() {
            return Err(CtError::MalformedSct("duplicate leaf_index extension"));
        }
    }
    Ok(index)
}

/// A precertificate log entry (RFC 6962 §3.2 `PreCert`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrecertEntry<'a> {
    /// [`issuer_key_hash`] of the CA that will sign the final certificate.
    pub issuer_key_hash: [u8; 32],
    /// The precertificate's TBSCertificate without the poison ([`super::precert_signing_tbs`]).
    pub tbs: &'a [u8],
}

/// The RFC 6962 §3.4 `MerkleTreeLeaf` for a precertificate: the bytes a log hashes (with the
/// 0x00 leaf prefix) into its tree.
pub fn merkle_tree_leaf(
    timestamp_ms: u64,
    entry: &PrecertEntry<'_>,
    extensions: &[u8],
) -> Result<Vec<u8>, CtError> {
    timestamped_entry(LEAF_TYPE_TIMESTAMPED_ENTRY, timestamp_ms, entry, extensions)
}

/// A precertificate `MerkleTreeLeaf` read back from a log: what [`merkle_tree_leaf`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoggedPrecert<'a> {
    pub timestamp_ms: u64,
    pub entry: PrecertEntry<'a>,
    /// The `CtExtensions` contents (see the module doc), e.g. the `leaf_index`.
    pub extensions: &'a [u8],
}

/// Parses a §3.4 `MerkleTreeLeaf` holding a precertificate entry, strictly: v1, a timestamped
/// entry of type `precert_entry`, nothing after the extensions. Auditors and the index read
/// issuance-log entries with it; anything else in such a log is an error, not skipped.
pub fn parse_merkle_tree_leaf(leaf: &[u8]) -> Result<LoggedPrecert<'_>, CtError> {
    let mut reader = Reader::new(leaf);
    if reader.u8()? != VERSION_V1 {
        return Err(CtError::UnsupportedSct("leaf version is not v1"));
    }
    if reader.u8()? != LEAF_TYPE_TIMESTAMPED_ENTRY {
        return Err(CtError::UnsupportedSct("leaf is not a timestamped entry"));
    }
    let timestamp_ms = reader.uint(8)?;
    if reader.uint(U16)? != ENTRY_TYPE_PRECERT {
        return Err(CtError::UnsupportedSct(
            "leaf is not a precertificate entry",
        ));
    }
    let issuer_key_hash = reader.array::<32>()?;
    let tbs = reader.vec(U24)?;
    let extensions = reader.vec(U16)?;
    reader.finish()?;
    Ok(LoggedPrecert {
        timestamp_ms,
        entry: PrecertEntry {
            issuer_key_hash,
            tbs,
        },
        extensions,
    })
}

/// The RFC 6962 §3.2 input to an SCT signature over a precertificate.
pub fn signing_input(
    timestamp_ms: u64,
    entry: &PrecertEntry<'_>,
    extensions: &[u8],
) -> Result<Vec<u8>, CtError> {
    timestamped_entry(
        SIGNATURE_TYPE_CERTIFICATE_TIMESTAMP,
        timestamp_ms,
        entry,
        extensions,
    )
}

/// The leaf and the signature input differ only in their second byte (`leaf_type` vs
/// `signature_type`, both 0 today); sharing the rest keeps them from drifting apart.
fn timestamped_entry(
    kind: u8,
    timestamp_ms: u64,
    entry: &PrecertEntry<'_>,
    extensions: &[u8],
) -> Result<Vec<u8>, CtError> {
    let mut out = Vec::with_capacity(50 + entry.tbs.len() + extensions.len());
    out.extend_from_slice(&[VERSION_V1, kind]);
    out.extend_from_slice(&timestamp_ms.to_be_bytes());
    put_uint(&mut out, U16, ENTRY_TYPE_PRECERT, "entry type")?;
    out.extend_from_slice(&entry.issuer_key_hash);
    put_vec(&mut out, U24, entry.tbs, "TBSCertificate")?;
    put_vec(&mut out, U16, extensions, "CT extensions")?;
    Ok(out)
}

/// An SCT v1 signed with ECDSA over SHA-256, the only kind Sigstore logs issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sct {
    /// SHA-256 of the log's DER SubjectPublicKeyInfo.
    pub log_id: [u8; 32],
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// `CtExtensions` contents (no length prefix); see the module docs.
    pub extensions: Vec<u8>,
    /// DER `ECDSA-Sig-Value` over [`signing_input`].
    pub signature: Vec<u8>,
}

impl Sct {
    /// The TLS encoding of the SCT (RFC 6962 §3.2 `SignedCertificateTimestamp`).
    pub fn to_bytes(&self) -> Result<Vec<u8>, CtError> {
        let mut out = Vec::with_capacity(47 + self.extensions.len() + self.signature.len());
        out.push(VERSION_V1);
        out.extend_from_slice(&self.log_id);
        out.extend_from_slice(&self.timestamp_ms.to_be_bytes());
        put_vec(&mut out, U16, &self.extensions, "CT extensions")?;
        out.extend_from_slice(&[HASH_SHA256, SIGNATURE_ECDSA]);
        put_vec(&mut out, U16, &self.signature, "SCT signature")?;
        Ok(out)
    }

    /// Parses exactly one SCT. Anything but v1 with SHA-256/ECDSA is refused, as are
    /// trailing bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, CtError> {
        let mut r = Reader::new(bytes);
        if r.u8()? != VERSION_V1 {
            return Err(CtError::UnsupportedSct("version is not v1"));
        }
        let log_id = r.array()?;
        let timestamp_ms = r.uint(8)?;
        let extensions = r.vec(U16)?.to_vec();
        if r.array()? != [HASH_SHA256, SIGNATURE_ECDSA] {
            return Err(CtError::UnsupportedSct(
                "signature is not ECDSA with SHA-256",
            ));
        }
        let signature = r.vec(U16)?.to_vec();
        r.finish()?;
        Ok(Self {
            log_id,
            timestamp_ms,
            extensions,
            signature,
        })
    }

    /// The bytes this SCT's signature covers if it was issued for `entry`.
    pub fn signing_input(&self, entry: &PrecertEntry<'_>) -> Result<Vec<u8>, CtError> {
        signing_input(self.timestamp_ms, entry, &self.extensions)
    }
}

/// The TLS `SignedCertificateTimestampList` (RFC 6962 §3.3): u16 total length, then each SCT
/// with a u16 length. The list must not be empty.
pub fn sct_list(scts: &[Sct]) -> Result<Vec<u8>, CtError> {
    if scts.is_empty() {
        return Err(CtError::MalformedSct("empty SCT list"));
    }
    let mut body = Vec::new();
    for sct in scts {
        put_vec(&mut body, U16, &sct.to_bytes()?, "serialized SCT")?;
    }
    let mut out = Vec::with_capacity(body.len() + U16);
    put_vec(&mut out, U16, &body, "SCT list")?;
    Ok(out)
}

/// Parses a `SignedCertificateTimestampList`; every SCT in it must parse.
pub fn parse_sct_list(bytes: &[u8]) -> Result<Vec<Sct>, CtError> {
    let mut outer = Reader::new(bytes);
    let mut list = Reader::new(outer.vec(U16)?);
    outer.finish()?;
    let mut scts = Vec::new();
    while !list.is_empty() {
        scts.push(Sct::parse(list.vec(U16)?)?);
    }
    if scts.is_empty() {
        return Err(CtError::MalformedSct("empty SCT list"));
    }
    Ok(scts)
}

/// The `extnValue` contents of the SCT list extension: a DER OCTET STRING wrapping the TLS
/// list. This is what a certificate builder takes as the extension's value; the certificate
/// itself then wraps it in the `extnValue` OCTET STRING a second time.
pub fn sct_list_extension_value(scts: &[Sct]) -> Result<Vec<u8>, CtError> {
    let list = sct_list(scts)?;
    let mut out = Vec::with_capacity(list.len() + 4);
    der::push_tlv(&mut out, TAG_OCTET_STRING, &list);
    Ok(out)
}

/// Inverse of [`sct_list_extension_value`].
pub fn parse_sct_list_extension_value(der_value: &[u8]) -> Result<Vec<Sct>, CtError> {
    parse_sct_list(der::read_single(
        der_value,
        TAG_OCTET_STRING,
        "SCT list extension value is not an OCTET STRING",
    )?)
}

#[cfg(test)]
mod tests;

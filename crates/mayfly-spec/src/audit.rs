//! What auditors read out of the issuance log: the identity a logged precertificate TBS names,
//! a certificate wrapping exactly that TBS, and the JSON of the search API
//! (`GET /api/v1/audit/certificates`) that the server writes and `mayfly audit` reads.
//!
//! **What the search API returns as `certificate`.** The issuance log commits to RFC 6962
//! precertificate entries: the precertificate's TBSCertificate without the poison, which is also
//! the final certificate's TBSCertificate without its SCT list. Neither signed certificate is
//! stored (the CA signs them and hands them out; only the TBS is logged). So the certificate
//! "rebuilt from the logged precertificate" is [`certificate_from_tbs`]: the logged TBS, the
//! signature algorithm it names, and an **empty signature**. Every field a person or tool reads
//! (serial, validity, SAN, Fulcio extensions, issuer name, key) is the logged one, and the
//! inclusion proof covers exactly those bytes. It is not a valid certificate and must not be
//! used as one; to tie a certificate someone holds to the log, compare
//! `ct::final_cert_signing_tbs(held)` with the TBS of this one.
//!
//! Pure: no I/O.

use crate::der::{self, TAG_BIT_STRING, TAG_SEQUENCE};
use crate::fulcio::{self, ISSUER_LEGACY_ARC, ISSUER_V2_ARC, OTHER_NAME_OID};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use x509_parser::certificate::TbsCertificate;
use x509_parser::der_parser::asn1_rs::{Any, FromDer as _, Tag};
use x509_parser::extensions::{GeneralName, ParsedExtension};

/// Why a logged TBS could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("logged TBSCertificate: {0}")]
pub struct AuditError(pub String);

fn err(message: impl Into<String>) -> AuditError {
    AuditError(message.into())
}

/// Who a logged certificate was issued to, as its TBS says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateIdentity {
    /// The subjectAltName entries: emails and URIs as written, username otherNames decoded.
    pub sans: Vec<String>,
    /// `.8`, else the deprecated `.1`; empty when neither is there.
    pub issuer: String,
    /// Every Fulcio extension as (last arc, value), in certificate order.
    pub extensions: Vec<(u32, String)>,
    /// Validity bounds in Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
}

impl CertificateIdentity {
    /// The first SAN (Fulcio certificates hold exactly one), or `""`.
    pub fn san(&self) -> &str {
        self.sans.first().map_or("", String::as_str)
    }

    /// The value of Fulcio extension `.arc`, if present.
    pub fn extension(&self, arc: u32) -> Option<&str> {
        self.extensions
            .iter()
            .find(|(a, _)| *a == arc)
            .map(|(_, v)| v.as_str())
    }

    /// The Fulcio extensions keyed by their JSON names ([`fulcio::arc_name`]); arcs without a
    /// name are keyed by their dotted OID.
    pub fn extensions_by_name(&self) -> BTreeMap<String, String> {
        self.extensions
            .iter()
            .map(|(arc, value)| {
                let name = fulcio::arc_name(*arc)
                    .map_or_else(|| format!("1.3.6.1.4.1.57264.1.{arc}"), str::to_owned);
                (name, value.clone())
            })
            .collect()
    }
}

/// Reads the identity of a DER TBSCertificate (a logged precertificate entry's TBS).
pub fn identity_from_tbs(tbs_der: &[u8]) -> Result<CertificateIdentity, AuditError> {
    let (rest, tbs) =
        TbsCertificate::from_der(tbs_der).map_err(|e| err(format!("not DER: {e}")))?;
    if !rest.is_empty() {
        return Err(err("trailing bytes"));
    }
    identity(&tbs)
}

/// [`identity_from_tbs`] on an already parsed TBS (the client has whole certificates).
pub fn identity(tbs: &TbsCertificate<'_>) -> Result<CertificateIdentity, AuditError> {
    let mut sans = Vec::new();
    let mut extensions = Vec::new();
    for ext in tbs.extensions() {
        if let ParsedExtension::SubjectAlternativeName(names) = ext.parsed_extension() {
            push_sans(names, &mut sans)?;
            continue;
        }
        if let Some(extension) = fulcio_extension(ext).map_err(err)? {
            extensions.push(extension);
        }
    }
    let find = |arc: u32| extensions.iter().find(|(a, _)| *a == arc).map(|(_, v)| v);
    let issuer = find(ISSUER_V2_ARC)
        .or_else(|| find(ISSUER_LEGACY_ARC))
        .cloned()
        .unwrap_or_default();
    Ok(CertificateIdentity {
        sans,
        issuer,
        extensions,
        not_before: tbs.validity.not_before.timestamp(),
        not_after: tbs.validity.not_after.timestamp(),
    })
}

/// The subjectAltName entries of a TBS, as [`identity`] reads them, without decoding its other
/// extensions: all that a Rekor entry's signing certificate is searched by.
pub fn sans(tbs: &TbsCertificate<'_>) -> Result<Vec<String>, AuditError> {
    let mut sans = Vec::new();
    for ext in tbs.extensions() {
        if let ParsedExtension::SubjectAlternativeName(names) = ext.parsed_extension() {
            push_sans(names, &mut sans)?;
        }
    }
    Ok(sans)
}

fn push_sans(
    names: &x509_parser::extensions::SubjectAlternativeName<'_>,
    sans: &mut Vec<String>,
) -> Result<(), AuditError> {
    for name in &names.general_names {
        if let Some(text) = general_name(name)? {
            sans.push(text);
        }
    }
    Ok(())
}

/// The text of a SAN entry Fulcio writes (email, URI, username otherName, DNS name); `None`
/// for kinds that name no signer.
fn general_name(name: &GeneralName<'_>) -> Result<Option<String>, AuditError> {
    Ok(match name {
        GeneralName::RFC822Name(s) | GeneralName::URI(s) | GeneralName::DNSName(s) => {
            Some((*s).to_owned())
        }
        GeneralName::OtherName(oid, value)
            if oid.iter().is_some_and(|arcs| arcs.eq(OTHER_NAME_OID)) =>
        {
            Some(other_name_text(value).map_err(|why| err(format!("otherName SAN: {why}")))?)
        }
        _ => None,
    })
}

/// A Fulcio extension as (last arc, decoded value); `None` for any other extension. An
/// extension under Fulcio's arc whose value is not what Fulcio writes is an error naming it.
pub fn fulcio_extension(
    ext: &x509_parser::extensions::X509Extension<'_>,
) -> Result<Option<(u32, String)>, String> {
    let Some(arc) = fulcio::fulcio_arc(ext.oid.as_bytes()) else {
        return Ok(None);
    };
    let value = fulcio::decode_value(arc, ext.value).ok_or_else(|| {
        format!(
            "extension {} is not what Fulcio writes (UTF-8, as a UTF8String from .8 on)",
            ext.oid.to_id_string()
        )
    })?;
    Ok(Some((arc, value.to_owned())))
}

/// The text of a username otherName value: a DER UTF8String, optionally inside the
/// `[0] EXPLICIT` wrapper.
pub fn other_name_text(der: &[u8]) -> Result<String, String> {
    let (rest, any) = Any::from_der(der).map_err(|_| "not DER")?;
    if !rest.is_empty() {
        return Err("trailing bytes".into());
    }
    if any.tag() == Tag(0) && any.header.is_constructed() {
        return other_name_text(any.data);
    }
    if any.tag() != Tag::Utf8String {
        return Err("not a UTF8String".into());
    }
    std::str::from_utf8(any.data)
        .map(str::to_owned)
        .map_err(|_| "invalid UTF-8".into())
}

/// The certificate the log committed to: `tbs_der`, the signature algorithm its `signature`
/// field names (RFC 5280 requires the two to match), and an empty signature (see the module
/// doc for why there is no signature to give).
pub fn certificate_from_tbs(tbs_der: &[u8]) -> Result<Vec<u8>, AuditError> {
    let content = der::read_single(tbs_der, TAG_SEQUENCE, "TBSCertificate")
        .map_err(|e| err(e.to_string()))?;
    let mut fields = der::children(content);
    // `[0] EXPLICIT version` is optional (absent means v1); then serial, then the algorithm.
    let mut next = fields.next().transpose().map_err(|e| err(e.to_string()))?;
    if next.is_some_and(|tlv| tlv.tag == 0xA0) {
        next = fields.next().transpose().map_err(|e| err(e.to_string()))?;
    }
    if next.is_none_or(|tlv| tlv.tag != 0x02) {
        return Err(err("no serial number"));
    }
    let algorithm = fields
        .expect(TAG_SEQUENCE, "no signature algorithm")
        .map_err(|e| err(e.to_string()))?;
    // A BIT STRING with no unused bits and no bits: the signature nobody made.
    let empty_signature = der::tlv(TAG_BIT_STRING, &[0]);
    Ok(der::sequence(&[
        tbs_der,
        algorithm.encoded,
        &empty_signature,
    ]))
}

/// `owner/name` (or `group/subgroup/name`) from a repository URI such as Fulcio's `.12`, and the
/// owner name from an owner URI such as `.16`: the URI's path without slashes at either end or a
/// trailing `.git`. `None` if the value is not a URI with a path.
pub fn repository_path(uri: &str) -> Option<String> {
    let (_, rest) = uri.split_once("://")?;
    let (_, path) = rest.split_once('/')?;
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    (!path.is_empty()).then(|| path.to_owned())
}

/// One page of `GET /api/v1/audit/certificates`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificatesPage {
    pub certificates: Vec<AuditedCertificate>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// One logged certificate with its inclusion proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditedCertificate {
    pub log_index: u64,
    /// PEM of [`certificate_from_tbs`] over the logged TBS (unsigned; see the module doc).
    pub certificate: String,
    /// Base64 of the logged `MerkleTreeLeaf`, the bytes the proof's leaf hash is over.
    pub leaf: String,
    /// The leaf's timestamp, Unix milliseconds (when the log integrated it).
    pub timestamp: u64,
    pub san: String,
    pub issuer: String,
    pub extensions: BTreeMap<String, String>,
    /// RFC 3339.
    pub not_before: String,
    pub not_after: String,
    pub inclusion_proof: AuditProof,
}

/// An RFC 6962 inclusion proof against a signed checkpoint (hashes in hex, as Rekor writes
/// them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditProof {
    pub log_index: u64,
    pub tree_size: u64,
    pub root_hash: String,
    pub hashes: Vec<String>,
    pub checkpoint: String,
}

#[cfg(test)]
mod tests;

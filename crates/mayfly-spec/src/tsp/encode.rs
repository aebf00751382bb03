//! Writing RFC 3161 tokens: the inverse of [`super::parse_signed_timestamp`], for a TSA and for
//! tests that need timestamps they control. The caller signs (this crate holds no keys):
//! [`signed_attributes`] gives the bytes to sign, [`encode_response`] wraps the signature.

use super::{DigestAlgorithm, TAG_CONTEXT_0, TAG_INTEGER, TAG_SET, oid};
use crate::der::{self, push_tlv, sequence, tlv};

/// `[4]` constructed: GeneralName's directoryName.
const TAG_CONTEXT_4: u8 = 0xA4;
use time::OffsetDateTime;

/// What a TSA asserts, to be encoded as TSTInfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TstInfoFields<'a> {
    /// Policy OID content octets.
    pub policy: &'a [u8],
    pub imprint_algorithm: DigestAlgorithm,
    pub hashed_message: &'a [u8],
    /// Unsigned big-endian serial number (leading zeros are stripped, a sign byte is added).
    pub serial: &'a [u8],
    /// Unix seconds.
    pub gen_time: i64,
    pub nonce: Option<&'a [u8]>,
    /// `accuracy` in whole seconds (absent: the TSA claims none).
    pub accuracy_seconds: Option<u32>,
    /// The TSA's Name (whole DER TLV), written as the `tsa` directoryName.
    pub tsa: Option<&'a [u8]>,
}

/// Who signs the token: the certificate's issuer Name (whole DER TLV) and serial (INTEGER
/// content octets), the digest and signature algorithms (OID content octets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerFields<'a> {
    pub issuer: &'a [u8],
    pub serial: &'a [u8],
    pub digest_algorithm: DigestAlgorithm,
    pub signature_algorithm: &'a [u8],
    /// DER certificates to embed (none: the verifier must know the signer's certificate).
    pub certificates: &'a [Vec<u8>],
}

fn algorithm_identifier(oid_content: &[u8]) -> Vec<u8> {
    sequence(&[&tlv(der::TAG_OID, oid_content)])
}

/// A non-negative INTEGER from unsigned big-endian bytes.
fn unsigned_integer(bytes: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(&trimmed);
    tlv(TAG_INTEGER, &content)
}

/// DER GeneralizedTime of a Unix time, whole seconds.
fn generalized_time(unix: i64) -> Result<Vec<u8>, time::error::ComponentRange> {
    let t = OffsetDateTime::from_unix_timestamp(unix)?;
    let text = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    Ok(tlv(0x18, text.as_bytes()))
}

/// The DER TSTInfo.
pub fn encode_tst_info(f: &TstInfoFields<'_>) -> Result<Vec<u8>, time::error::ComponentRange> {
    let imprint = sequence(&[
        &algorithm_identifier(f.imprint_algorithm.oid()),
        &tlv(der::TAG_OCTET_STRING, f.hashed_message),
    ]);
    let nonce = f.nonce.map(unsigned_integer).unwrap_or_default();
    // Accuracy ::= SEQUENCE { seconds INTEGER OPTIONAL, millis [0], micros [1] }.
    let accuracy = f
        .accuracy_seconds
        .map(|s| sequence(&[&unsigned_integer(&s.to_be_bytes())]))
        .unwrap_or_default();
    // tsa [0] EXPLICIT GeneralName, here directoryName [4] EXPLICIT Name.
    let tsa = f
        .tsa
        .map(|name| tlv(TAG_CONTEXT_0, &tlv(TAG_CONTEXT_4, name)))
        .unwrap_or_default();
    // `ordering` stays absent (DEFAULT FALSE): this TSA makes no ordering claim.
    Ok(sequence(&[
        &tlv(TAG_INTEGER, &[1]),
        &tlv(der::TAG_OID, f.policy),
        &imprint,
        &unsigned_integer(f.serial),
        &generalized_time(f.gen_time)?,
        &accuracy,
        &nonce,
        &tsa,
    ]))
}

/// The signed attributes as the DER `SET OF` the signature covers: content-type id-ct-TSTInfo
/// and the message digest of `tst_info` under `alg`, in DER (sorted) order.
pub fn signed_attributes(tst_info: &[u8], alg: DigestAlgorithm) -> Vec<u8> {
    attribute_set(attributes(tst_info, alg).to_vec())
}

/// [`signed_attributes`] plus the ESS `signingCertificateV2` attribute (RFC 5816, RFC 5035)
/// naming `signer_certificate` (DER) by its SHA-256 hash, which binds the token to that one
/// certificate and which OpenSSL's `ts -verify` requires.
pub fn signed_attributes_with_certificate(
    tst_info: &[u8],
    alg: DigestAlgorithm,
    signer_certificate: &[u8],
) -> Vec<u8> {
    // SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2 }; ESSCertIDv2 ::=
    // SEQUENCE { hashAlgorithm DEFAULT sha256 (so omitted in DER), certHash OCTET STRING }.
    let cert_id = sequence(&[&tlv(
        der::TAG_OCTET_STRING,
        &DigestAlgorithm::Sha256.hash(signer_certificate),
    )]);
    let signing_certificate = sequence(&[
        &tlv(der::TAG_OID, oid::SIGNING_CERTIFICATE_V2),
        &tlv(TAG_SET, &sequence(&[&sequence(&[&cert_id])])),
    ]);
    let mut attrs = attributes(tst_info, alg).to_vec();
    attrs.push(signing_certificate);
    attribute_set(attrs)
}

/// A DER `SET OF Attribute`: elements sorted by their encodings (X.690 §11.6).
fn attribute_set(mut attrs: Vec<Vec<u8>>) -> Vec<u8> {
    attrs.sort();
    tlv(TAG_SET, &attrs.concat())
}

fn attributes(tst_info: &[u8], alg: DigestAlgorithm) -> [Vec<u8>; 2] {
    let content_type = sequence(&[
        &tlv(der::TAG_OID, oid::CONTENT_TYPE),
        &tlv(TAG_SET, &tlv(der::TAG_OID, oid::TST_INFO)),
    ]);
    let message_digest = sequence(&[
        &tlv(der::TAG_OID, oid::MESSAGE_DIGEST),
        &tlv(TAG_SET, &tlv(der::TAG_OCTET_STRING, &alg.hash(tst_info))),
    ]);
    [content_type, message_digest]
}

/// A granted TimeStampResp around a token over `tst_info`, signed with `signature` over
/// `signed_attributes` (the output of [`signed_attributes`], or any SET the caller wants to
/// test with).
pub fn encode_response(
    tst_info: &[u8],
    signer: &SignerFields<'_>,
    signed_attributes: &[u8],
    signature: &[u8],
) -> Vec<u8> {
    // signedAttrs is the SET re-tagged [0] IMPLICIT.
    let attrs_content = der::read_tlv(signed_attributes)
        .map(|(t, _)| t.content)
        .unwrap_or_default();
    let signer_info = sequence(&[
        &tlv(TAG_INTEGER, &[1]),
        &sequence(&[signer.issuer, &tlv(TAG_INTEGER, signer.serial)]),
        &algorithm_identifier(signer.digest_algorithm.oid()),
        &tlv(TAG_CONTEXT_0, attrs_content),
        &algorithm_identifier(signer.signature_algorithm),
        &tlv(der::TAG_OCTET_STRING, signature),
    ]);
    let encap = sequence(&[
        &tlv(der::TAG_OID, oid::TST_INFO),
        &tlv(TAG_CONTEXT_0, &tlv(der::TAG_OCTET_STRING, tst_info)),
    ]);
    let mut signed_data = Vec::new();
    signed_data.extend(tlv(TAG_INTEGER, &[3]));
    signed_data.extend(tlv(
        TAG_SET,
        &algorithm_identifier(signer.digest_algorithm.oid()),
    ));
    signed_data.extend(encap);
    if !signer.certificates.is_empty() {
        push_tlv(
            &mut signed_data,
            TAG_CONTEXT_0,
            &signer.certificates.concat(),
        );
    }
    signed_data.extend(tlv(TAG_SET, &signer_info));
    let content_info = sequence(&[
        &tlv(der::TAG_OID, oid::SIGNED_DATA),
        &tlv(TAG_CONTEXT_0, &tlv(der::TAG_SEQUENCE, &signed_data)),
    ]);
    sequence(&[&sequence(&[&tlv(TAG_INTEGER, &[0])]), &content_info])
}

//! RFC 3161 time-stamp responses and tokens, decoded: what a verifier (the bundle verifier) and
//! a time-stamping authority (the TSA, issue 15 item 2) both need to read. Decoding only: no
//! signature is checked and no certificate trusted here; [`SignedTimestamp`] hands out the exact
//! bytes each check covers.
//!
//! Requests (TimeStampReq) are decoded by [`parse_request`].
//!
//! Shapes read (RFC 3161 §2.4.2, RFC 5652 §5):
//! ```text
//! TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken ContentInfo OPTIONAL }
//! ContentInfo   ::= SEQUENCE { id-signedData, [0] EXPLICIT SignedData }
//! SignedData    ::= SEQUENCE { version, digestAlgorithms SET, encapContentInfo,
//!                              certificates [0] IMPLICIT OPTIONAL, crls [1] IMPLICIT OPTIONAL,
//!                              signerInfos SET OF SignerInfo }
//! SignerInfo    ::= SEQUENCE { version, sid, digestAlgorithm, signedAttrs [0] IMPLICIT,
//!                              signatureAlgorithm, signature OCTET STRING, unsignedAttrs [1] OPTIONAL }
//! TSTInfo       ::= SEQUENCE { version, policy, messageImprint, serialNumber, genTime, accuracy OPTIONAL,
//!                              ordering DEFAULT FALSE, nonce OPTIONAL, tsa [0] OPTIONAL, extensions [1] OPTIONAL }
//! ```
//!
//! Stricter than the RFCs allow, on purpose (every rule fails closed, none is needed by the
//! sigstore TSA or by the TSAs sigstore-python and sigstore-go are tested against):
//! - DER only (the reader is [`crate::der`]); a BER token is refused;
//! - exactly one SignerInfo, and it must carry signed attributes with exactly one content-type
//!   and one message-digest attribute (RFC 3161 requires both);
//! - `genTime` is `YYYYMMDDHHMMSS[.f+]Z` as DER demands.

use crate::der::{self, DerError, Tlv, children, read_single, read_tlv};
use sha2::{Digest as _, Sha256, Sha384, Sha512};
use tst_info::tst_info;

const TAG_INTEGER: u8 = 0x02;
const TAG_SET: u8 = 0x31;
const TAG_GENERALIZED_TIME: u8 = 0x18;
const TAG_BOOLEAN: u8 = 0x01;
/// `[0]` constructed: ContentInfo's content, eContent, certificates, signedAttrs.
const TAG_CONTEXT_0: u8 = 0xA0;
/// `[1]` constructed: crls, unsignedAttrs, TSTInfo extensions.
const TAG_CONTEXT_1: u8 = 0xA1;
/// `[0]` primitive: SignerIdentifier's subjectKeyIdentifier.
const TAG_CONTEXT_0_PRIMITIVE: u8 = 0x80;

/// OID content octets (no tag, no length) of the identifiers this module recognises.
pub mod oid {
    /// 1.2.840.113549.1.7.2 id-signedData
    pub const SIGNED_DATA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02];
    /// 1.2.840.113549.1.9.16.1.4 id-ct-TSTInfo
    pub const TST_INFO: &[u8] = &[
        0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x10, 0x01, 0x04,
    ];
    /// 1.2.840.113549.1.9.3 content-type attribute
    pub const CONTENT_TYPE: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x03];
    /// 1.2.840.113549.1.9.4 message-digest attribute
    pub const MESSAGE_DIGEST: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x04];
    /// 2.16.840.1.101.3.4.2.1 / .2 / .3: SHA-256, SHA-384, SHA-512
    pub const SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
    pub const SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
    pub const SHA512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];
    /// 1.2.840.113549.1.9.16.2.47 id-aa-signingCertificateV2 (RFC 5035, required by RFC 5816)
    pub const SIGNING_CERTIFICATE_V2: &[u8] = &[
        0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x10, 0x02, 0x2F,
    ];
    /// 1.2.840.10045.4.3.2 / .3 / .4: ecdsa-with-SHA256, -SHA384, -SHA512
    pub const ECDSA_SHA256: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02];
    pub const ECDSA_SHA384: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x03];
    pub const ECDSA_SHA512: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x04];
    /// 1.2.840.10045.2.1 id-ecPublicKey (some signers name the key type, not the algorithm)
    pub const EC_PUBLIC_KEY: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
    /// 1.2.840.113549.1.1.1 rsaEncryption, .11 / .12 / .13 sha{256,384,512}WithRSAEncryption
    pub const RSA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];
    pub const RSA_SHA256: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B];
    pub const RSA_SHA384: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0C];
    pub const RSA_SHA512: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0D];
}

/// Why bytes are not a time-stamp token this module reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TspError {
    #[error(transparent)]
    Der(#[from] DerError),
    /// Well-formed DER, but not the structure (or a value) RFC 3161 / RFC 5652 prescribe.
    #[error("{0}")]
    Invalid(String),
}

fn invalid(m: impl Into<String>) -> TspError {
    TspError::Invalid(m.into())
}

/// The digest algorithms a timestamp may use (message imprint, signed-attribute digest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlgorithm {
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlgorithm {
    fn from_oid(oid: &[u8]) -> Result<Self, TspError> {
        match oid {
            oid::SHA256 => Ok(Self::Sha256),
            oid::SHA384 => Ok(Self::Sha384),
            oid::SHA512 => Ok(Self::Sha512),
            _ => Err(invalid(format!(
                "unsupported digest algorithm {}",
                hex::encode(oid)
            ))),
        }
    }

    /// The digest of `bytes`.
    pub fn hash(self, bytes: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(bytes).to_vec(),
            Self::Sha384 => Sha384::digest(bytes).to_vec(),
            Self::Sha512 => Sha512::digest(bytes).to_vec(),
        }
    }

    /// The digest length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// The DER content octets of its OID.
    pub fn oid(self) -> &'static [u8] {
        match self {
            Self::Sha256 => oid::SHA256,
            Self::Sha384 => oid::SHA384,
            Self::Sha512 => oid::SHA512,
        }
    }
}

/// How the SignerInfo's signature was made, as far as the token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureAlgorithm {
    /// ECDSA (ASN.1 DER signature) with this hash.
    Ecdsa(DigestAlgorithm),
    /// RSASSA-PKCS1-v1_5 with this hash.
    RsaPkcs1(DigestAlgorithm),
}

impl SignatureAlgorithm {
    /// `signatureAlgorithm`, with the SignerInfo's digest algorithm for the bare key-type OIDs
    /// (`id-ecPublicKey`, `rsaEncryption`) that RFC 5652 §5.3 permits.
    fn from_oid(oid: &[u8], digest: DigestAlgorithm) -> Result<Self, TspError> {
        use DigestAlgorithm::*;
        match oid {
            oid::ECDSA_SHA256 => Ok(Self::Ecdsa(Sha256)),
            oid::ECDSA_SHA384 => Ok(Self::Ecdsa(Sha384)),
            oid::ECDSA_SHA512 => Ok(Self::Ecdsa(Sha512)),
            oid::EC_PUBLIC_KEY => Ok(Self::Ecdsa(digest)),
            oid::RSA_SHA256 => Ok(Self::RsaPkcs1(Sha256)),
            oid::RSA_SHA384 => Ok(Self::RsaPkcs1(Sha384)),
            oid::RSA_SHA512 => Ok(Self::RsaPkcs1(Sha512)),
            oid::RSA => Ok(Self::RsaPkcs1(digest)),
            _ => Err(invalid(format!(
                "unsupported signature algorithm {}",
                hex::encode(oid)
            ))),
        }
    }
}

/// Which certificate made the signature (RFC 5652 §5.3 SignerIdentifier).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignerId {
    /// The issuer's Name (whole DER TLV) and the serial number (INTEGER content octets).
    IssuerAndSerial { issuer: Vec<u8>, serial: Vec<u8> },
    /// The subjectKeyIdentifier value.
    KeyId(Vec<u8>),
}

/// TSTInfo: what the TSA asserts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TstInfo {
    /// The TSA policy OID (content octets).
    pub policy: Vec<u8>,
    pub imprint_algorithm: DigestAlgorithm,
    /// The hash of the time-stamped data.
    pub hashed_message: Vec<u8>,
    /// INTEGER content octets.
    pub serial: Vec<u8>,
    /// `genTime` in Unix seconds, rounded down.
    pub gen_time: i64,
    /// Whether `genTime` had a non-zero fraction of a second (so the instant lies strictly
    /// between `gen_time` and `gen_time + 1`).
    pub gen_time_fraction: bool,
    /// INTEGER content octets, if the request carried a nonce.
    pub nonce: Option<Vec<u8>>,
}

/// A decoded time-stamp token with the bytes each verification step covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTimestamp {
    pub info: TstInfo,
    /// The DER TSTInfo (the eContent octets): what the message-digest attribute hashes.
    pub tst_info_der: Vec<u8>,
    /// DER certificates embedded in the token (`certificates`), in order.
    pub certificates: Vec<Vec<u8>>,
    pub signer: SignerId,
    pub digest_algorithm: DigestAlgorithm,
    /// The signed attributes re-tagged as `SET OF` (0x31): exactly what the signature covers
    /// (RFC 5652 §5.4).
    pub signed_attributes: Vec<u8>,
    /// The content-type attribute value (OID content octets).
    pub content_type: Vec<u8>,
    /// The message-digest attribute value.
    pub message_digest: Vec<u8>,
    pub signature_algorithm: SignatureAlgorithm,
    pub signature: Vec<u8>,
}

/// Decodes `signedTimestamp` of a Sigstore bundle: a DER TimeStampResp whose status is
/// granted (0) or grantedWithMods (1), or a bare TimeStampToken (ContentInfo), which some
/// producers store instead.
pub fn parse_signed_timestamp(bytes: &[u8]) -> Result<SignedTimestamp, TspError> {
    let (top, rest) = read_tlv(bytes)?;
    if top.tag != der::TAG_SEQUENCE || !rest.is_empty() {
        return Err(invalid("timestamp is not one DER SEQUENCE"));
    }
    let mut parts = children(top.content);
    let first = parts.expect_any("empty timestamp")?;
    if first.tag == der::TAG_OID {
        // A ContentInfo: the token itself.
        return parse_token(top);
    }
    if first.tag != der::TAG_SEQUENCE {
        return Err(invalid("neither a TimeStampResp nor a TimeStampToken"));
    }
    let status = children(first.content).expect(TAG_INTEGER, "missing PKIStatus")?;
    if !matches!(status.content, [0] | [1]) {
        return Err(invalid(format!(
            "the TSA did not grant the timestamp (status {})",
            hex::encode(status.content)
        )));
    }
    let token = parts.expect_any("granted response without a timeStampToken")?;
    end(&mut parts, "TimeStampResp")?;
    parse_token(token)
}

fn parse_token(token: Tlv<'_>) -> Result<SignedTimestamp, TspError> {
    if token.tag != der::TAG_SEQUENCE {
        return Err(invalid("timeStampToken is not a SEQUENCE"));
    }
    let mut ci = children(token.content);
    if ci.expect(der::TAG_OID, "missing contentType")?.content != oid::SIGNED_DATA {
        return Err(invalid("timeStampToken is not CMS SignedData"));
    }
    let explicit = ci.expect(TAG_CONTEXT_0, "missing SignedData")?;
    end(&mut ci, "ContentInfo")?;
    let signed_data = read_single(explicit.content, der::TAG_SEQUENCE, "SignedData")?;
    let mut sd = children(signed_data);
    sd.expect(TAG_INTEGER, "missing SignedData version")?;
    sd.expect(TAG_SET, "missing digestAlgorithms")?;
    let encap = sd.expect(der::TAG_SEQUENCE, "missing encapContentInfo")?;
    let tst_info_der = econtent(encap.content)?;
    let mut next = sd.expect_any("missing signerInfos")?;
    let mut certificates = Vec::new();
    if next.tag == TAG_CONTEXT_0 {
        for cert in children(next.content) {
            let cert = cert?;
            // Other CertificateChoices (attribute certificates...) are [n]-tagged; skip them.
            if cert.tag == der::TAG_SEQUENCE {
                certificates.push(cert.encoded.to_vec());
            }
        }
        next = sd.expect_any("missing signerInfos")?;
    }
    if next.tag == TAG_CONTEXT_1 {
        next = sd.expect_any("missing signerInfos")?;
    }
    if next.tag != TAG_SET {
        return Err(invalid("signerInfos is not a SET"));
    }
    end(&mut sd, "SignedData")?;
    let mut infos = children(next.content);
    let info = infos.expect(der::TAG_SEQUENCE, "no SignerInfo")?;
    if infos.next().is_some() {
        return Err(invalid("more than one SignerInfo"));
    }
    let signer = signer_info(info.content)?;
    Ok(SignedTimestamp {
        info: tst_info(&tst_info_der)?,
        tst_info_der,
        certificates,
        signer: signer.sid,
        digest_algorithm: signer.digest,
        signed_attributes: signer.signed_attributes,
        content_type: signer.content_type,
        message_digest: signer.message_digest,
        signature_algorithm: signer.signature_algorithm,
        signature: signer.signature,
    })
}

trait ExpectAny<'a> {
    fn expect_any(&mut self, what: &'static str) -> Result<Tlv<'a>, TspError>;
}

impl<'a> ExpectAny<'a> for der::Children<'a> {
    fn expect_any(&mut self, what: &'static str) -> Result<Tlv<'a>, TspError> {
        self.next().transpose()?.ok_or_else(|| invalid(what))
    }
}

fn end(parts: &mut der::Children<'_>, what: &str) -> Result<(), TspError> {
    match parts.next() {
        None => Ok(()),
        Some(_) => Err(invalid(format!("trailing fields in {what}"))),
    }
}

/// The TSTInfo DER inside encapContentInfo, which must be typed id-ct-TSTInfo.
fn econtent(encap: &[u8]) -> Result<Vec<u8>, TspError> {
    let mut parts = children(encap);
    if parts.expect(der::TAG_OID, "missing eContentType")?.content != oid::TST_INFO {
        return Err(invalid("eContentType is not id-ct-TSTInfo"));
    }
    let explicit = parts.expect(TAG_CONTEXT_0, "missing eContent")?;
    end(&mut parts, "encapContentInfo")?;
    Ok(read_single(
        explicit.content,
        der::TAG_OCTET_STRING,
        "eContent is not an OCTET STRING",
    )?
    .to_vec())
}

struct Signer {
    sid: SignerId,
    digest: DigestAlgorithm,
    signed_attributes: Vec<u8>,
    content_type: Vec<u8>,
    message_digest: Vec<u8>,
    signature_algorithm: SignatureAlgorithm,
    signature: Vec<u8>,
}

fn signer_info(info: &[u8]) -> Result<Signer, TspError> {
    let mut parts = children(info);
    parts.expect(TAG_INTEGER, "missing SignerInfo version")?;
    let sid = parts.expect_any("missing sid")?;
    let sid = match sid.tag {
        der::TAG_SEQUENCE => {
            let mut ias = children(sid.content);
            let issuer = ias.expect(der::TAG_SEQUENCE, "missing sid issuer")?;
            let serial = ias.expect(TAG_INTEGER, "missing sid serialNumber")?;
            end(&mut ias, "IssuerAndSerialNumber")?;
            SignerId::IssuerAndSerial {
                issuer: issuer.encoded.to_vec(),
                serial: serial.content.to_vec(),
            }
        }
        TAG_CONTEXT_0_PRIMITIVE => SignerId::KeyId(sid.content.to_vec()),
        _ => {
            return Err(invalid(
                "sid is neither issuerAndSerialNumber nor a key identifier",
            ));
        }
    };
    let digest = DigestAlgorithm::from_oid(algorithm(
        parts.expect(der::TAG_SEQUENCE, "missing digestAlgorithm")?,
    )?)?;
    let attrs = parts.expect(
        TAG_CONTEXT_0,
        "no signed attributes (RFC 3161 requires them)",
    )?;
    let signature_algorithm = SignatureAlgorithm::from_oid(
        algorithm(parts.expect(der::TAG_SEQUENCE, "missing signatureAlgorithm")?)?,
        digest,
    )?;
    let signature = parts.expect(der::TAG_OCTET_STRING, "missing signature")?;
    if let Some(unsigned) = parts.next().transpose()?
        && unsigned.tag != TAG_CONTEXT_1
    {
        return Err(invalid("unexpected field after the signature"));
    }
    end(&mut parts, "SignerInfo")?;
    let (content_type, message_digest) = signed_attributes(attrs.content)?;
    let mut as_set = Vec::with_capacity(attrs.encoded.len());
    der::push_tlv(&mut as_set, TAG_SET, attrs.content);
    Ok(Signer {
        sid,
        digest,
        signed_attributes: as_set,
        content_type,
        message_digest,
        signature_algorithm,
        signature: signature.content.to_vec(),
    })
}

/// The OID of an AlgorithmIdentifier (parameters, if any, are not interpreted).
fn algorithm<'a>(alg: Tlv<'a>) -> Result<&'a [u8], TspError> {
    let mut parts = children(alg.content);
    Ok(parts
        .expect(der::TAG_OID, "AlgorithmIdentifier without an OID")?
        .content)
}

/// The single values of the content-type and message-digest attributes; each must appear
/// exactly once with exactly one value (RFC 5652 §11.1, §11.2).
fn signed_attributes(attrs: &[u8]) -> Result<(Vec<u8>, Vec<u8>), TspError> {
    let mut content_type = None;
    let mut message_digest = None;
    for attr in children(attrs) {
        let attr = attr?;
        if attr.tag != der::TAG_SEQUENCE {
            return Err(invalid("signed attribute is not a SEQUENCE"));
        }
        let mut parts = children(attr.content);
        let kind = parts
            .expect(der::TAG_OID, "attribute without a type")?
            .content;
        let values = parts.expect(TAG_SET, "attribute without values")?;
        let (slot, tag, name) = match kind {
            oid::CONTENT_TYPE => (&mut content_type, der::TAG_OID, "content-type"),
            oid::MESSAGE_DIGEST => (&mut message_digest, der::TAG_OCTET_STRING, "message-digest"),
            _ => continue,
        };
        if slot.is_some() {
            return Err(invalid(format!("two {name} attributes")));
        }
        let value = read_single(values.content, tag, "attribute value of the wrong type")
            .map_err(|_| invalid(format!("the {name} attribute must have exactly one value")))?;
        *slot = Some(value.to_vec());
    }
    Ok((
        content_type.ok_or_else(|| invalid("no content-type signed attribute"))?,
        message_digest.ok_or_else(|| invalid("no message-digest signed attribute"))?,
    ))
}

pub mod encode;
mod request;
mod tst_info;

pub use request::{MAX_NONCE_OCTETS, TimeStampRequest, oid_text, parse_request};

#[cfg(test)]
mod tests;

//! RFC 3161 timestamps from `timestampVerificationData` (issue 15): each one is a signing time
//! the rest of the verification must hold at, so each one is checked, as sigstore-go
//! (`VerifyTimestampAuthority`) and sigstore-python (`_verify_timestamp_authority`) do:
//!
//! 1. it decodes (DER; [`mayfly_spec::tsp`]);
//! 2. its message imprint is the hash of the bundle's signature bytes;
//! 3. its signed attributes name id-ct-TSTInfo and carry the hash of the TSTInfo;
//! 4. some `timestampAuthorities` entry of the trusted root, whose `validFor` contains the
//!    `genTime`, vouches for the signer: the signing certificate (embedded in the token, or else
//!    the entry's leaf) matches the token's signer ID, has a critical extendedKeyUsage of
//!    timeStamping alone (RFC 3161 §2.3), is
//!    valid at `genTime` and chains to the entry's root with every link valid at `genTime`;
//! 5. the signature over the signed attributes verifies under that certificate's key.
//!
//! Every timestamp present must pass (one failing is a rejection, not a skip). The caller then
//! requires the leaf certificate (and its chain) to be valid at every verified time.

use super::chain::{self, parse_cert};
use super::error::VerifyError;
use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use mayfly_spec::sigstore::trusted_root::Authority;
use mayfly_spec::tsp::{
    DigestAlgorithm, SignatureAlgorithm, SignedTimestamp, SignerId, oid, parse_signed_timestamp,
};
use x509_parser::certificate::X509Certificate;

/// The verified time of one timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct VerifiedTime {
    /// `genTime`, Unix seconds rounded down.
    pub seconds: i64,
    /// The instant is strictly after `seconds` (a fractional `genTime`).
    pub fraction: bool,
}

impl VerifiedTime {
    /// The whole seconds the instant lies within: checking a validity window at both is
    /// checking it at the instant, since windows are whole seconds.
    pub(crate) fn bounds(self) -> Vec<i64> {
        if self.fraction {
            vec![self.seconds, self.seconds.saturating_add(1)]
        } else {
            vec![self.seconds]
        }
    }
}

/// Verifies every timestamp over `signature`; returns their times, in bundle order.
pub(crate) fn verify_timestamps(
    timestamps: &[Vec<u8>],
    signature: &[u8],
    tsas: &[Authority],
) -> Result<Vec<VerifiedTime>, VerifyError> {
    timestamps
        .iter()
        .enumerate()
        .map(|(i, der)| {
            verify_one(der, signature, tsas)
                .map_err(|why| VerifyError::Timestamp(format!("timestamp {i}: {why}")))
        })
        .collect()
}

fn verify_one(der: &[u8], signature: &[u8], tsas: &[Authority]) -> Result<VerifiedTime, String> {
    let ts = parse_signed_timestamp(der).map_err(|e| format!("malformed: {e}"))?;
    let info = &ts.info;
    if info.imprint_algorithm.hash(signature) != info.hashed_message {
        return Err("message imprint is not the hash of the bundle's signature".into());
    }
    if ts.content_type != oid::TST_INFO {
        return Err("the content-type signed attribute is not id-ct-TSTInfo".into());
    }
    if ts.digest_algorithm.hash(&ts.tst_info_der) != ts.message_digest {
        return Err("the message-digest signed attribute is not the hash of the TSTInfo".into());
    }
    let time = VerifiedTime {
        seconds: info.gen_time,
        fraction: info.gen_time_fraction,
    };
    let mut reasons = Vec::new();
    for tsa in tsas {
        if !time.bounds().iter().all(|t| tsa.valid_for.contains(*t)) {
            continue;
        }
        match verify_under(&ts, tsa, &time) {
            Ok(()) => return Ok(time),
            Err(why) => reasons.push(why),
        }
    }
    if reasons.is_empty() {
        return Err(format!(
            "no timestamp authority in the trusted root is valid at genTime {}",
            info.gen_time
        ));
    }
    Err(format!(
        "not signed by a trusted timestamp authority ({})",
        reasons.join("; ")
    ))
}

/// The token's signer is vouched for by `tsa` and its signature verifies.
fn verify_under(ts: &SignedTimestamp, tsa: &Authority, time: &VerifiedTime) -> Result<(), String> {
    let (tsa_leaf, tsa_issuers) = tsa.chain.split_first().ok_or("empty TSA chain")?;
    // The signer: an embedded certificate matching the signer ID, else the root's TSA leaf.
    let signer_der = ts
        .certificates
        .iter()
        .find(|der| parse_cert(der).is_ok_and(|c| is_signer(&c, &ts.signer)))
        .unwrap_or(tsa_leaf);
    let signer = parse_cert(signer_der).map_err(|e| e.to_string())?;
    if !is_signer(&signer, &ts.signer) {
        return Err("no certificate matches the token's signer ID".into());
    }
    // RFC 3161 §2.3: the TSA's certificate has exactly one extendedKeyUsage, timeStamping,
    // in a critical extension (as the sigstore TSAs' certificates do).
    let eku = signer
        .extended_key_usage()
        .map_err(|e| format!("bad extendedKeyUsage: {e}"))?
        .ok_or("the TSA certificate has no extendedKeyUsage")?;
    if !eku.value.time_stamping {
        return Err("the TSA certificate lacks extendedKeyUsage timeStamping".into());
    }
    let u = eku.value;
    if u.any
        || u.server_auth
        || u.client_auth
        || u.code_signing
        || u.email_protection
        || u.ocsp_signing
        || !u.other.is_empty()
        || !eku.critical
    {
        return Err(
            "the TSA certificate's extendedKeyUsage is not a critical timeStamping only".into(),
        );
    }
    // The trusted root lists the TSA's own leaf first; a different (embedded) signer must
    // chain to the same issuers.
    let issuers: Vec<Vec<u8>> = tsa_issuers.to_vec();
    for t in time.bounds() {
        chain::check_cert_time(&signer, t).map_err(|e| e.to_string())?;
        chain::verify_chain(&signer, &issuers, t)?;
    }
    check_signature(ts, &signer)
}

fn is_signer(cert: &X509Certificate<'_>, id: &SignerId) -> bool {
    match id {
        SignerId::IssuerAndSerial { issuer, serial } => {
            cert.issuer().as_raw() == issuer.as_slice()
                && strip_sign(cert.raw_serial()) == strip_sign(serial)
        }
        SignerId::KeyId(key_id) => chain::subject_key_id(cert) == Some(key_id.as_slice()),
    }
}

/// An INTEGER's magnitude: DER content without the leading 0x00 sign octet.
fn strip_sign(bytes: &[u8]) -> &[u8] {
    match bytes {
        [0, rest @ ..] if rest.first().is_some_and(|b| b & 0x80 != 0) => rest,
        _ => bytes,
    }
}

/// The signature over the DER signed attributes, under the signer's key with the algorithm
/// the token names; the key's curve must be one that algorithm table knows.
fn check_signature(ts: &SignedTimestamp, signer: &X509Certificate<'_>) -> Result<(), String> {
    use DigestAlgorithm::*;
    let spki = signer.public_key();
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|o| o.to_id_string());
    let alg: &'static dyn VerificationAlgorithm = match (ts.signature_algorithm, curve.as_deref()) {
        (SignatureAlgorithm::Ecdsa(Sha256), Some(P256)) => &signature::ECDSA_P256_SHA256_ASN1,
        (SignatureAlgorithm::Ecdsa(Sha384), Some(P256)) => &signature::ECDSA_P256_SHA384_ASN1,
        (SignatureAlgorithm::Ecdsa(Sha256), Some(P384)) => &signature::ECDSA_P384_SHA256_ASN1,
        (SignatureAlgorithm::Ecdsa(Sha384), Some(P384)) => &signature::ECDSA_P384_SHA384_ASN1,
        (SignatureAlgorithm::Ecdsa(Sha512), Some(P521)) => &signature::ECDSA_P521_SHA512_ASN1,
        (SignatureAlgorithm::RsaPkcs1(Sha256), _) => &signature::RSA_PKCS1_2048_8192_SHA256,
        (SignatureAlgorithm::RsaPkcs1(Sha384), _) => &signature::RSA_PKCS1_2048_8192_SHA384,
        (SignatureAlgorithm::RsaPkcs1(Sha512), _) => &signature::RSA_PKCS1_2048_8192_SHA512,
        (alg, curve) => {
            return Err(format!(
                "unsupported signature algorithm {alg:?} for key curve {curve:?}"
            ));
        }
    };
    UnparsedPublicKey::new(alg, &spki.subject_public_key.data)
        .verify(&ts.signed_attributes, &ts.signature)
        .map_err(|_| "the signature over the signed attributes does not verify".into())
}

const P256: &str = "1.2.840.10045.3.1.7";
const P384: &str = "1.3.132.0.34";
const P521: &str = "1.3.132.0.35";

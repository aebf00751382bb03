//! The RFC 3161 time-stamping authority: signs a TSTInfo over a client's message imprint with
//! the TSA's own key, so Sigstore clients can prove *when* they signed without a log entry.
//!
//! The protocol bytes (request decoding, TSTInfo and CMS encoding) are in
//! [`mayfly_spec::tsp`]; this module holds the key, the certificate chain and the one signature
//! per timestamp. [`setup`] finds or creates them in the data dir.
//!
//! What every token says (RFC 3161 §2.4.2):
//! - `policy`: [`POLICY_OID`], a UUID-derived OID (2.25.…, no registration needed); a request
//!   asking for another policy is refused;
//! - `serialNumber`: 128 random bits, so replicas sharing one TSA key never coordinate and
//!   never repeat a serial;
//! - `genTime`: whole seconds, with `accuracy` one second; `ordering` absent;
//! - `nonce`: the request's, echoed byte for byte; `tsa`: the signing certificate's subject;
//! - signed attributes: content-type, message-digest and ESS `signingCertificateV2`
//!   (RFC 5816), signed with ECDSA P-256 / SHA-256; the leaf is embedded when `certReq` asks.

pub mod setup;

use crate::ca::signer::{CaSigner, SignerError};
use mayfly_spec::tsp::encode::{
    SignerFields, TstInfoFields, encode_response, encode_tst_info,
    signed_attributes_with_certificate,
};
use mayfly_spec::tsp::{DigestAlgorithm, TimeStampRequest, TspError, oid, parse_request};
use std::sync::Arc;
use x509_parser::prelude::{FromDer, X509Certificate};

/// 2.25.259335839167217315367362062748699923304 (UUID c31a440d-779c-4910-8064-33534ae51368):
/// "Mayfly TSA policy 1": the time comes from the host clock (keep it NTP-synchronised), to
/// within [`ACCURACY_SECONDS`]; no ordering is claimed between tokens.
pub const POLICY_OID: &[u8] = &[
    0x69, 0x83, 0x86, 0x9A, 0xA2, 0x83, 0xAE, 0xF9, 0xE2, 0xA4, 0xA1, 0x80, 0xB2, 0x8C, 0xEA, 0xB4,
    0xD7, 0x94, 0xA6, 0x68,
];
/// The dotted form of [`POLICY_OID`], for messages and documentation.
pub const POLICY: &str = "2.25.259335839167217315367362062748699923304";
/// The `accuracy` every token claims: genTime is the clock truncated to the second.
pub const ACCURACY_SECONDS: u32 = 1;

/// Why a timestamp was not issued.
#[derive(Debug, thiserror::Error)]
pub enum TsaError {
    /// The query is not one this TSA answers; nothing was signed. A 400.
    #[error("invalid timestamp query: {0}")]
    Request(#[from] TspError),
    #[error("unsupported policy {requested}; this TSA issues under {POLICY}")]
    Policy { requested: String },
    /// The key failed to sign: a server fault.
    #[error(transparent)]
    Sign(#[from] SignerError),
    #[error("the system clock is outside what a GeneralizedTime can hold")]
    Clock,
}

/// The TSA's key and certificates, ready to sign. Cheap to share.
pub struct TimestampAuthority {
    key: Arc<dyn CaSigner>,
    /// DER certificates, signing certificate first, root last.
    chain: Vec<Vec<u8>>,
    leaf_issuer: Vec<u8>,
    leaf_serial: Vec<u8>,
    leaf_subject: Vec<u8>,
}

impl std::fmt::Debug for TimestampAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimestampAuthority")
            .field("backend", &self.key.backend())
            .finish_non_exhaustive()
    }
}

impl TimestampAuthority {
    /// `chain` is leaf first; the leaf must certify `key` (checked by [`setup`]).
    pub(crate) fn new(
        key: Arc<dyn CaSigner>,
        chain: Vec<Vec<u8>>,
    ) -> Result<Self, setup::TsaSetupError> {
        let leaf_der = chain
            .first()
            .ok_or(setup::TsaSetupError::Invalid("empty TSA chain".into()))?;
        let (_, leaf) = X509Certificate::from_der(leaf_der).map_err(|_| {
            setup::TsaSetupError::Invalid("TSA certificate is not DER X.509".into())
        })?;
        Ok(TimestampAuthority {
            leaf_issuer: leaf.tbs_certificate.issuer.as_raw().to_vec(),
            leaf_serial: leaf.tbs_certificate.raw_serial().to_vec(),
            leaf_subject: leaf.tbs_certificate.subject.as_raw().to_vec(),
            key,
            chain,
        })
    }

    /// DER certificates, the signing certificate first and the root last.
    pub fn chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    /// The chain as PEM, leaf first: what `GET /api/v1/timestamp/certchain` serves.
    pub fn chain_pem(&self) -> String {
        self.chain
            .iter()
            .map(|der| mayfly_spec::pem::encode("CERTIFICATE", der))
            .collect()
    }

    /// Answers a DER TimeStampReq with a granted DER TimeStampResp for `now` (Unix seconds).
    pub fn stamp(&self, query: &[u8], now: i64) -> Result<Vec<u8>, TsaError> {
        let request = parse_request(query)?;
        self.stamp_request(&request, now)
    }

    /// [`TimestampAuthority::stamp`] for a request already decoded (the JSON form).
    pub fn stamp_request(&self, request: &TimeStampRequest, now: i64) -> Result<Vec<u8>, TsaError> {
        if let Some(policy) = &request.policy
            && policy.as_slice() != POLICY_OID
        {
            return Err(TsaError::Policy {
                requested: mayfly_spec::tsp::oid_text(policy),
            });
        }
        let serial: [u8; 16] = rand::random();
        let tst_info = encode_tst_info(&TstInfoFields {
            policy: POLICY_OID,
            imprint_algorithm: request.imprint_algorithm,
            hashed_message: &request.hashed_message,
            serial: &serial,
            gen_time: now,
            nonce: request.nonce.as_deref(),
            accuracy_seconds: Some(ACCURACY_SECONDS),
            tsa: Some(&self.leaf_subject),
        })
        .map_err(|_| TsaError::Clock)?;
        let leaf = self.chain.first().map(Vec::as_slice).unwrap_or_default();
        let attributes =
            signed_attributes_with_certificate(&tst_info, DigestAlgorithm::Sha256, leaf);
        let signature = self.key.sign(&attributes)?;
        let embedded = match request.cert_req {
            true => self.chain.get(..1).unwrap_or_default(),
            false => &[],
        };
        metrics::counter!("mayfly_timestamps_issued_total").increment(1);
        Ok(encode_response(
            &tst_info,
            &SignerFields {
                issuer: &self.leaf_issuer,
                serial: &self.leaf_serial,
                digest_algorithm: DigestAlgorithm::Sha256,
                signature_algorithm: oid::ECDSA_SHA256,
                certificates: embedded,
            },
            &attributes,
            &signature,
        ))
    }
}

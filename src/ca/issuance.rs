//! One issuance: precertificate → issuance-log entry → SCT → final certificate
//! (reference/fulcio.md §2.4, design.md §1).
//!
//! Invariant: a certificate is returned only after its precertificate entry is durable in the
//! issuance log, because `Log::append` resolves only once the batch holding the entry has
//! committed. If anything fails after that, the entry stays logged and no certificate leaves:
//! the log over-reports, never under-reports.

use crate::ca::chain::CaChain;
use crate::ca::leaf::{self, POISON_EXTENSION};
use crate::ca::profile::LeafProfile;
use crate::ca::signer::{CaSigner, SignerError};
use crate::identity::principal::Principal;
use crate::log::storage::LogStore;
use crate::log::{Appended, CodecError, LeafCodec, Log, LogError};
use mayfly_spec::ct::{self, CtError, PrecertEntry, Sct};
use mayfly_spec::fulcio::fulcio_extensions_with_subject;
use mayfly_spec::subject_key::SubjectKey;
use std::sync::Arc;
use time::OffsetDateTime;

#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error(transparent)]
    Sign(#[from] SignerError),
    #[error(
        "the CA signer must use ECDSA P-256 with SHA-256, the algorithm leaves are written for"
    )]
    UnsupportedSigner,
    #[error("certificate encoding: {0}")]
    Encoding(#[from] CtError),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("the issuance log key could not sign the SCT")]
    SctSignature,
    #[error("internal invariant broken: {0}")]
    Invariant(&'static str),
}

/// A signed leaf and where its precertificate is logged.
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    pub leaf_der: Vec<u8>,
    /// Go-style PEM, as the Sigstore clients compare it.
    pub leaf_pem: String,
    pub log_index: u64,
    pub timestamp_ms: u64,
}

/// The issuing CA: the chain and the intermediate's signer.
#[derive(Clone)]
pub struct CertificateAuthority {
    chain: CaChain,
    signer: Arc<dyn CaSigner>,
    /// The intermediate's subject `Name` exactly as its certificate encodes it: every leaf's
    /// issuer field. Copied rather than re-encoded, because verifiers chain by byte comparison.
    issuer_name: Vec<u8>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("chain", &self.chain)
            .field("backend", &self.signer.backend())
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    pub fn new(chain: CaChain, signer: Arc<dyn CaSigner>) -> Result<Self, CaError> {
        // Leaves name their signature algorithm with a fixed AlgorithmIdentifier; a signer
        // with another algorithm would produce certificates that cannot verify.
        if signer.algorithm() != &rcgen::PKCS_ECDSA_P256_SHA256 {
            return Err(CaError::UnsupportedSigner);
        }
        // CaChain has parsed and checked the intermediate, so this finds its subject.
        let issuer_name = leaf::subject_name(chain.intermediate_der())
            .ok_or(CaError::Invariant(
                "the intermediate certificate has no subject Name",
            ))?
            .to_vec();
        Ok(CertificateAuthority {
            chain,
            signer,
            issuer_name,
        })
    }

    pub fn chain(&self) -> &CaChain {
        &self.chain
    }

    /// The same CA with its signer wrapped (the test kit's failing signer wraps the real one).
    pub fn map_signer(self, wrap: impl FnOnce(Arc<dyn CaSigner>) -> Arc<dyn CaSigner>) -> Self {
        CertificateAuthority {
            signer: wrap(self.signer),
            ..self
        }
    }

    /// The signer backend's name, for startup logs.
    pub fn backend(&self) -> &'static str {
        self.signer.backend()
    }

    /// Issues a leaf for `principal`'s identity and the (already policy-checked, possession
    /// proven) `key`, logging the precertificate in `log` first.
    pub async fn issue<S: LogStore>(
        &self,
        log: &Log<S>,
        principal: &Principal,
        key: &SubjectKey,
    ) -> Result<IssuedCertificate, CaError> {
        let spki = key.spki_der();
        // SubjectKey builds its SPKI itself, always with a whole-byte key.
        let subject_key_raw = leaf::spki_public_key(spki)
            .ok_or(CaError::Invariant("the subject key's SPKI is not DER"))?;
        let fulcio =
            fulcio_extensions_with_subject(&principal.issuer, &principal.subject, &principal.ci);
        let profile = LeafProfile::new(
            &principal.san,
            &fulcio,
            subject_key_raw,
            self.chain.intermediate_ski(),
            OffsetDateTime::now_utc(),
        )
        .map_err(CtError::from)?;
        // Encoded once; the precertificate, the logged TBS and the final certificate below are
        // this plus (at most) one extension, which is what makes the SCT valid for the final
        // certificate (see `leaf`).
        let leaf_tbs = profile.tbs(&self.issuer_name, spki);

        // The precertificate carries the critical poison, so it can never serve as a
        // certificate; what the log records is its TBS without the poison (RFC 6962 §3.2).
        // Only that TBS leaves this function: the signed precertificate itself is not stored.
        let precert = self.sign(&leaf_tbs.with_last_extension(POISON_EXTENSION))?;
        let tbs = leaf_tbs.with_last_extension(&[]);
        // True by construction. Debug builds (every test) re-derive it on each issuance with
        // `ct`'s DER walk, the verifier-side code that shares nothing with `leaf`.
        debug_assert_eq!(
            ct::precert_signing_tbs(&precert).ok().as_deref(),
            Some(tbs.as_slice())
        );
        let entry = PrecertEntry {
            issuer_key_hash: *self.chain.issuer_key_hash(),
            tbs: &tbs,
        };

        let (index, timestamp_ms) = match log.append(PrecertCodec::payload(&entry)).await? {
            Appended::New(sequenced) => (sequenced.index, sequenced.timestamp),
            // A random 159-bit serial makes a duplicate TBS practically impossible; if one
            // came anyway, the logged entry is the one the SCT must describe.
            Appended::Existing(record) => (record.index, record.timestamp),
        };
        let extensions = ct::leaf_index_extension(index)?;
        let signed = ct::signing_input(timestamp_ms, &entry, &extensions)?;
        let signature = log.key().sign(&signed).map_err(|e| {
            tracing::error!(error = %e, backend = log.key().backend(), "SCT signing failed");
            CaError::SctSignature
        })?;
        let sct = Sct {
            log_id: log.key().log_id().0,
            timestamp_ms,
            extensions,
            signature,
        };
        let sct_list = leaf::extension(
            ct::SCT_LIST_OID,
            false,
            &ct::sct_list_extension_value(std::slice::from_ref(&sct))?,
        )
        .map_err(CtError::from)?;
        let leaf_der = self.sign(&leaf_tbs.with_last_extension(&sct_list))?;
        // The SCT is only valid if the final TBS minus the SCT list is the logged TBS. Both come
        // from `leaf_tbs` and differ only in the appended extension and the enclosing lengths,
        // so this holds by construction (a release-build compare would compare a buffer with
        // its own copy); debug builds re-derive it independently, as above.
        debug_assert_eq!(
            ct::final_cert_signing_tbs(&leaf_der).ok().as_deref(),
            Some(tbs.as_slice())
        );
        metrics::counter!("mayfly_certificates_issued_total").increment(1);
        Ok(IssuedCertificate {
            leaf_pem: mayfly_spec::pem::encode("CERTIFICATE", &leaf_der),
            leaf_der,
            log_index: index,
            timestamp_ms,
        })
    }

    /// Signs `tbs` with the intermediate's key and frames the certificate.
    fn sign(&self, tbs: &[u8]) -> Result<Vec<u8>, CaError> {
        let signature = self.signer.sign(tbs).inspect_err(|e| {
            // The signer puts nothing secret in its errors; record which backend failed.
            tracing::error!(error = %e, backend = self.signer.backend(), "CA signing failed");
        })?;
        Ok(leaf::certificate(tbs, &signature))
    }
}

fn codec_error(e: CtError) -> CodecError {
    Arc::new(e)
}

/// A precertificate payload without its issuer key hash: never built by `issue`.
#[derive(Debug, thiserror::Error)]
#[error("precertificate payload of {0} bytes has no issuer key hash")]
struct ShortPayload(usize);

/// The issuance log's leaves: RFC 6962 `MerkleTreeLeaf`s for precertificate entries, with the
/// batch timestamp and the static-CT `leaf_index` extension the sequencer assigns. Payloads are
/// `issuer_key_hash ‖ TBS`, as [`PrecertCodec::payload`] builds them.
pub(crate) struct PrecertCodec;

/// The bytes the leaf adds around the payload: version, leaf type, timestamp, entry type, the
/// u24 TBS length, the u16 extensions length and the 8-byte `leaf_index` extension.
const LEAF_OVERHEAD: usize = 1 + 1 + 8 + 2 + 3 + 2 + 8;

impl PrecertCodec {
    pub(crate) fn payload(entry: &PrecertEntry) -> Vec<u8> {
        [&entry.issuer_key_hash[..], entry.tbs].concat()
    }
}

impl LeafCodec for PrecertCodec {
    fn encode(&self, index: u64, timestamp_ms: u64, payload: &[u8]) -> Result<Vec<u8>, CodecError> {
        // Payloads come only from `issue`, so they always hold the 32-byte hash; anything else
        // is refused rather than logged. An index past 2^40 cannot carry a `leaf_index`
        // extension: the entry is refused before any SCT could be signed for it.
        let (hash, tbs) = payload
            .split_first_chunk::<32>()
            .ok_or_else(|| Arc::new(ShortPayload(payload.len())) as CodecError)?;
        let entry = PrecertEntry {
            issuer_key_hash: *hash,
            tbs,
        };
        let extensions = ct::leaf_index_extension(index).map_err(codec_error)?;
        ct::merkle_tree_leaf(timestamp_ms, &entry, &extensions).map_err(codec_error)
    }

    fn overhead(&self) -> usize {
        LEAF_OVERHEAD
    }
}

//! One issuance: precertificate → issuance-log entry → SCT → final certificate
//! (reference/fulcio.md §2.4, design.md §1).
//!
//! Invariant: a certificate is returned only after its precertificate entry is durable in the
//! issuance log, because `Log::append` resolves only once the batch holding the entry has
//! committed. If anything fails after that, the entry stays logged and no certificate leaves:
//! the log over-reports, never under-reports.

use crate::ca::chain::CaChain;
use crate::ca::extensions::fulcio_extensions_with_subject;
use crate::ca::profile::{LeafProfile, extension};
use crate::ca::signer::{CaSigner, RcgenSigner};
use crate::ca::subject_key::SubjectKey;
use crate::ct::{self, CtError, PrecertEntry, Sct};
use crate::identity::principal::Principal;
use crate::keys::pem_block;
use crate::log::store::LogStore;
use crate::log::{Appended, LeafCodec, Log, LogError};
use rcgen::Issuer;
use std::sync::Arc;
use time::OffsetDateTime;

#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("cannot build the certificate: {0}")]
    Build(#[from] rcgen::Error),
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
pub struct CertificateAuthority {
    chain: CaChain,
    issuer: Issuer<'static, RcgenSigner>,
    backend: &'static str,
}

impl CertificateAuthority {
    pub fn new(chain: CaChain, signer: Arc<dyn CaSigner>) -> Result<Self, CaError> {
        let backend = signer.backend();
        let issuer = Issuer::from_ca_cert_der(
            &chain.intermediate_der().to_vec().into(),
            RcgenSigner(signer),
        )?;
        Ok(CertificateAuthority {
            chain,
            issuer,
            backend,
        })
    }

    pub fn chain(&self) -> &CaChain {
        &self.chain
    }

    /// The signer backend's name, for startup logs.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// Issues a leaf for `principal`'s identity and the (already policy-checked, possession
    /// proven) `key`, logging the precertificate in `log` first.
    pub async fn issue<S: LogStore>(
        &self,
        log: &Log<S>,
        principal: &Principal,
        key: &SubjectKey,
    ) -> Result<IssuedCertificate, CaError> {
        let subject = rcgen::SubjectPublicKeyInfo::from_der(key.spki_der())?;
        let fulcio =
            fulcio_extensions_with_subject(&principal.issuer, &principal.subject, &principal.ci);
        let profile = LeafProfile::new(
            &principal.san,
            &fulcio,
            rcgen::PublicKeyData::der_bytes(&subject),
            self.chain.intermediate_ski(),
            OffsetDateTime::now_utc(),
        );

        // ASN.1 NULL, critical: a precertificate must never be usable as a certificate.
        let poison = extension(ct::POISON_OID, true, vec![0x05, 0x00]);
        let precert = profile.params(poison).signed_by(&subject, &self.issuer)?;
        let tbs = ct::precert_signing_tbs(precert.der())?;
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
        let signature = log.key().sign(&signed);
        let sct = Sct {
            log_id: log.key().log_id().0,
            timestamp_ms,
            extensions,
            signature,
        };
        let sct_list = extension(
            ct::SCT_LIST_OID,
            false,
            ct::sct_list_extension_value(std::slice::from_ref(&sct))?,
        );
        let leaf = profile.params(sct_list).signed_by(&subject, &self.issuer)?;
        // The SCT is only valid if the final TBS minus the SCT list is the logged TBS. This is
        // a byte comparison after a DER walk, cheap beside the signatures, and it turns a
        // profile regression into a 500 instead of certificates that fail verification.
        if ct::final_cert_signing_tbs(leaf.der())? != tbs {
            return Err(CaError::Invariant(
                "final certificate TBS differs from the logged precertificate TBS",
            ));
        }
        metrics::counter!("mayfly_certificates_issued_total").increment(1);
        let leaf_der = leaf.der().to_vec();
        Ok(IssuedCertificate {
            leaf_pem: pem_block("CERTIFICATE", &leaf_der),
            leaf_der,
            log_index: index,
            timestamp_ms,
        })
    }
}

/// The issuance log's leaves: RFC 6962 `MerkleTreeLeaf`s for precertificate entries, with the
/// batch timestamp and the static-CT `leaf_index` extension the sequencer assigns. Payloads are
/// `issuer_key_hash ‖ TBS`, as [`PrecertCodec::payload`] builds them.
pub struct PrecertCodec;

/// The bytes the leaf adds around the payload: version, leaf type, timestamp, entry type, the
/// u24 TBS length, the u16 extensions length and the 8-byte `leaf_index` extension.
const LEAF_OVERHEAD: usize = 1 + 1 + 8 + 2 + 3 + 2 + 8;

impl PrecertCodec {
    pub fn payload(entry: &PrecertEntry) -> Vec<u8> {
        [&entry.issuer_key_hash[..], entry.tbs].concat()
    }
}

impl LeafCodec for PrecertCodec {
    fn encode(&self, index: u64, timestamp_ms: u64, payload: &[u8]) -> Vec<u8> {
        // Payloads come only from `issue`, so they always hold the 32-byte hash, and the log caps
        // entries far below the 16 MiB a u24 TBS length allows. An index past 2^40 cannot get a
        // leaf_index extension; `issue` fails for it before any SCT is signed, so the logged leaf
        // without one is never contradicted by a certificate.
        let Some((hash, tbs)) = payload.split_first_chunk::<32>() else {
            return payload.to_vec();
        };
        let entry = PrecertEntry {
            issuer_key_hash: *hash,
            tbs,
        };
        let extensions = ct::leaf_index_extension(index).unwrap_or_default();
        ct::merkle_tree_leaf(timestamp_ms, &entry, &extensions).unwrap_or_default()
    }

    fn overhead(&self) -> usize {
        LEAF_OVERHEAD
    }
}

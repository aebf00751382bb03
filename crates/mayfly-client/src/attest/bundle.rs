//! The Sigstore bundle v0.3 (protobuf JSON mapping) assembled from the leaf certificate, the
//! DSSE envelope and Rekor's answer, in the shape sigstore-js writes for `attest`: int64s as
//! decimal strings, bytes as standard base64, the log's hex fields converted to bytes.
//!
//! Rekor's answer is checked before it goes into the bundle: it must describe a dsse 0.0.1
//! entry over our payload and signature, and carry the SET, inclusion proof and checkpoint that
//! both sigstore-js and sigstore-python require. Whether the proof and SET are cryptographically
//! valid is the verifier's question; this only refuses to write a bundle that cannot verify.

use super::error::{AttestError, Step};
use super::http::RekorEntry;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mayfly_spec::sigstore::bundle_document::{
    BUNDLE_V03, Bundle, Checkpoint, Empty, Envelope, InclusionPromise, InclusionProof, KeyId,
    KindVersion, RawBytes, TlogEntry, VerificationMaterial,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The parts of the canonical dsse body we check against what we submitted.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DsseBody {
    api_version: String,
    kind: String,
    spec: DsseSpec,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DsseSpec {
    payload_hash: HashValue,
    signatures: Vec<BodySignature>,
}

#[derive(Deserialize)]
struct HashValue {
    algorithm: String,
    value: String,
}

#[derive(Deserialize)]
struct BodySignature {
    signature: String,
}

/// Builds the bundle; `payload` and `envelope` are what was signed and submitted.
pub(super) fn assemble(
    leaf_der: &[u8],
    envelope: Envelope,
    payload: &[u8],
    entry: RekorEntry,
) -> Result<Bundle, AttestError> {
    let bad = |reason: String| AttestError::BadResponse {
        step: Step::TransparencyLog,
        reason,
    };
    let body_bytes = STANDARD
        .decode(&entry.body)
        .map_err(|_| bad("the entry body is not base64".into()))?;
    let body: DsseBody = serde_json::from_slice(&body_bytes)
        .map_err(|e| bad(format!("the entry body is not a dsse entry: {e}")))?;
    if body.kind != "dsse" || body.api_version != "0.0.1" {
        return Err(bad(format!(
            "the log recorded a {} {} entry, not dsse 0.0.1",
            body.kind, body.api_version
        )));
    }
    let payload_hash = hex::encode(Sha256::digest(payload));
    let our_sig = &envelope.signatures[0].sig;
    let matches = body.spec.payload_hash.algorithm == "sha256"
        && body.spec.payload_hash.value == payload_hash
        && body.spec.signatures.len() == 1
        && body.spec.signatures.iter().all(|s| &s.signature == our_sig);
    if !matches {
        return Err(bad(
            "the recorded entry is not for this payload and signature".into(),
        ));
    }

    let log_id = hex_bytes(&entry.log_id, "logID").map_err(bad)?;
    if entry.integrated_time < 0 {
        return Err(bad("negative integratedTime".into()));
    }
    let verification = entry
        .verification
        .ok_or_else(|| bad("no verification (SET and inclusion proof)".into()))?;
    let set = verification
        .signed_entry_timestamp
        .filter(|s| STANDARD.decode(s).is_ok_and(|b| !b.is_empty()))
        .ok_or_else(|| bad("no usable signedEntryTimestamp".into()))?;
    let proof = verification
        .inclusion_proof
        .ok_or_else(|| bad("no inclusion proof".into()))?;
    let checkpoint = proof
        .checkpoint
        .filter(|c| !c.is_empty())
        .ok_or_else(|| bad("the inclusion proof has no checkpoint".into()))?;
    let hashes = proof
        .hashes
        .iter()
        .map(|h| hex_bytes(h, "inclusionProof.hashes").map(|b| STANDARD.encode(b)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad)?;
    let root_hash = hex_bytes(&proof.root_hash, "inclusionProof.rootHash").map_err(bad)?;

    Ok(Bundle {
        media_type: BUNDLE_V03,
        verification_material: VerificationMaterial {
            certificate: RawBytes {
                raw_bytes: STANDARD.encode(leaf_der),
            },
            tlog_entries: vec![TlogEntry {
                log_index: entry.log_index.to_string(),
                log_id: KeyId {
                    key_id: STANDARD.encode(log_id),
                },
                kind_version: KindVersion {
                    kind: "dsse",
                    version: "0.0.1",
                },
                integrated_time: entry.integrated_time.to_string(),
                inclusion_promise: InclusionPromise {
                    signed_entry_timestamp: set,
                },
                inclusion_proof: InclusionProof {
                    log_index: proof.log_index.to_string(),
                    root_hash: STANDARD.encode(root_hash),
                    tree_size: proof.tree_size.to_string(),
                    hashes,
                    checkpoint: Checkpoint {
                        envelope: checkpoint,
                    },
                },
                canonicalized_body: entry.body,
            }],
            timestamp_verification_data: Empty {},
        },
        dsse_envelope: envelope,
    })
}

/// A 32-byte SHA-256 value written as hex by Rekor.
fn hex_bytes(text: &str, field: &str) -> Result<Vec<u8>, String> {
    hex::decode(text)
        .ok()
        .filter(|b| b.len() == 32)
        .ok_or_else(|| format!("{field} is not a 64-character hex SHA-256 value"))
}

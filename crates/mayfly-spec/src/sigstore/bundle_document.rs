//! Writing a Sigstore bundle v0.3 in the protobuf JSON mapping, in the shape sigstore-js writes
//! for `attest`: int64s as decimal strings, bytes as standard base64, every proof field present
//! (sigstore-python refuses a bundle without `logIndex`, `hashes` or `integratedTime`, so zero
//! values are written out, never dropped).
//!
//! Only the message shapes Mayfly writes are modelled (a DSSE envelope with one signature,
//! logged with an inclusion promise and proof); reading any bundle is [`super::bundle::parse`].

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

pub use super::documents::RawBytes;

pub const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
pub const INTOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    pub media_type: &'static str,
    pub verification_material: VerificationMaterial,
    pub dsse_envelope: Envelope,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationMaterial {
    pub certificate: RawBytes,
    pub tlog_entries: Vec<TlogEntry>,
    /// Empty (no TSA); sigstore-js writes it this way too.
    pub timestamp_verification_data: Empty,
}

#[derive(Serialize)]
pub struct Empty {}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TlogEntry {
    pub log_index: String,
    pub log_id: KeyId,
    pub kind_version: KindVersion,
    pub integrated_time: String,
    pub inclusion_promise: InclusionPromise,
    pub inclusion_proof: InclusionProof,
    pub canonicalized_body: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyId {
    pub key_id: String,
}

#[derive(Serialize)]
pub struct KindVersion {
    pub kind: &'static str,
    pub version: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InclusionPromise {
    pub signed_entry_timestamp: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InclusionProof {
    pub log_index: String,
    pub root_hash: String,
    pub tree_size: String,
    pub hashes: Vec<String>,
    pub checkpoint: Checkpoint,
}

#[derive(Serialize)]
pub struct Checkpoint {
    pub envelope: String,
}

/// A DSSE envelope with one signature, as both the bundle and the Rekor request carry it.
#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub payload: String,
    pub payload_type: &'static str,
    pub signatures: [EnvelopeSignature; 1],
}

#[derive(Serialize, Clone)]
pub struct EnvelopeSignature {
    pub sig: String,
    /// Always empty for keyless signing (the certificate identifies the key); npm's bundles
    /// carry it explicitly.
    pub keyid: String,
}

impl Envelope {
    pub fn new(payload: &[u8], signature: &[u8]) -> Envelope {
        Envelope {
            payload: STANDARD.encode(payload),
            payload_type: INTOTO_PAYLOAD_TYPE,
            signatures: [EnvelopeSignature {
                sig: STANDARD.encode(signature),
                keyid: String::new(),
            }],
        }
    }
}

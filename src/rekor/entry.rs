//! Identifiers and the response form of a logged entry: tree ID, EntryID, the signed entry
//! timestamp's payload, and Rekor's `LogEntry` JSON.

use super::{RekorError, encode_base64, jcs};
use crate::tlog::Hash;
use serde_json::{Value, json};

/// Rekor's tree ID for this log: the first 8 bytes of the log ID, big-endian, with the sign bit
/// cleared (Trillian tree IDs are positive int64s). Derived, not stored, so it is the same on
/// every start and every replica, in EntryIDs and in `GET /api/v1/log`.
pub fn tree_id(log_id: &Hash) -> i64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&log_id.0[..8]);
    let id = i64::from_be_bytes(first) & i64::MAX;
    // Zero means "no tree" to Trillian-era tooling.
    if id == 0 { 1 } else { id }
}

/// EntryID: 16 hex digits of the tree ID, then the 64-hex UUID.
pub fn entry_id(tree_id: i64, uuid: &Hash) -> String {
    format!("{tree_id:016x}{}", uuid.to_hex())
}

/// What a client may name an entry by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryRef {
    Uuid(Hash),
    EntryId { tree_id: i64, uuid: Hash },
}

impl EntryRef {
    pub fn uuid(&self) -> Hash {
        match self {
            EntryRef::Uuid(uuid) | EntryRef::EntryId { uuid, .. } => *uuid,
        }
    }
}

/// Parses a UUID (64 hex) or EntryID (80 hex), either case.
pub fn parse_entry_ref(text: &str) -> Result<EntryRef, RekorError> {
    let bad = || RekorError::EntryRef(text.chars().take(100).collect());
    if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    match text.len() {
        64 => Hash::from_hex(text).map(EntryRef::Uuid).ok_or_else(bad),
        80 => {
            let (tree, uuid) = text.split_at(16);
            let tree_id = u64::from_str_radix(tree, 16)
                .ok()
                .and_then(|t| i64::try_from(t).ok())
                .ok_or_else(bad)?;
            let uuid = Hash::from_hex(uuid).ok_or_else(bad)?;
            Ok(EntryRef::EntryId { tree_id, uuid })
        }
        _ => Err(bad()),
    }
}

/// The facts the SET signs.
#[derive(Debug, Clone, Copy)]
pub struct Integrated<'a> {
    /// The canonical body (the leaf value).
    pub body: &'a [u8],
    /// Unix seconds.
    pub integrated_time: i64,
    pub log_id: Hash,
    pub log_index: u64,
}

/// The SET payload: RFC 8785 JSON of exactly `{body, integratedTime, logID, logIndex}`, which
/// verifiers rebuild from a bundle's `canonicalizedBody`, `integratedTime`, `logId` and
/// `logIndex` (hex log ID, numbers as JSON numbers).
pub fn set_payload(entry: &Integrated<'_>) -> Result<Vec<u8>, RekorError> {
    jcs(&json!({
        "body": encode_base64(entry.body),
        "integratedTime": entry.integrated_time,
        "logID": entry.log_id.to_hex(),
        "logIndex": entry.log_index,
    }))
}

/// An inclusion proof with the signed checkpoint it proves against.
#[derive(Debug, Clone)]
pub struct InclusionProof {
    pub tree_size: u64,
    pub root: Hash,
    /// Leaf to root.
    pub hashes: Vec<Hash>,
    /// The signed note whose size and root are `tree_size` and `root`.
    pub checkpoint: String,
}

/// `{"<entryID>": LogEntry}` as Rekor answers create and get. Every field is written, zeros and
/// empty lists included: clients' models reject a missing `logIndex: 0` or `hashes: []`.
pub fn log_entry_json(
    entry_id: &str,
    entry: &Integrated<'_>,
    set: &[u8],
    proof: &InclusionProof,
) -> Value {
    let hashes: Vec<String> = proof.hashes.iter().map(Hash::to_hex).collect();
    let mut map = serde_json::Map::new();
    map.insert(
        entry_id.to_owned(),
        json!({
            "body": encode_base64(entry.body),
            "integratedTime": entry.integrated_time,
            "logID": entry.log_id.to_hex(),
            "logIndex": entry.log_index,
            "verification": {
                "inclusionProof": {
                    "checkpoint": proof.checkpoint,
                    "hashes": hashes,
                    "logIndex": entry.log_index,
                    "rootHash": proof.root.to_hex(),
                    "treeSize": proof.tree_size,
                },
                "signedEntryTimestamp": encode_base64(set),
            },
        }),
    );
    Value::Object(map)
}

//! Identifiers and the response form of a logged entry: tree ID, EntryID, the signed entry
//! timestamp's payload, and Rekor's `LogEntry` JSON.

use super::{RekorError, encode_base64, json};
use crate::tlog::Hash;

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
    let mut id = Vec::with_capacity(80);
    // Big-endian bytes in hex are `{:016x}` (two's complement for a negative i64).
    json::hex_digits(&mut id, &tree_id.to_be_bytes());
    json::hex_digits(&mut id, &uuid.0);
    // Hex digits are ASCII: never the default.
    String::from_utf8(id).unwrap_or_default()
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

/// [`Integrated`] with the body already in base64, the form in which both the SET payload and
/// the `LogEntry` response carry it: an answer encodes its body (KiBs) once, not once per use.
#[derive(Debug, Clone, Copy)]
pub struct IntegratedBase64<'a> {
    pub body_base64: &'a str,
    /// Unix seconds.
    pub integrated_time: i64,
    pub log_id: Hash,
    pub log_index: u64,
}

/// The SET payload: RFC 8785 JSON of exactly `{body, integratedTime, logID, logIndex}`, which
/// verifiers rebuild from a bundle's `canonicalizedBody`, `integratedTime`, `logId` and
/// `logIndex` (hex log ID, numbers as JSON numbers).
pub fn set_payload(entry: &Integrated<'_>) -> Result<Vec<u8>, RekorError> {
    set_payload_base64(&IntegratedBase64 {
        body_base64: &encode_base64(entry.body),
        integrated_time: entry.integrated_time,
        log_id: entry.log_id,
        log_index: entry.log_index,
    })
}

/// [`set_payload`] for a body already in base64.
pub fn set_payload_base64(entry: &IntegratedBase64<'_>) -> Result<Vec<u8>, RekorError> {
    let mut out = Vec::with_capacity(entry.body_base64.len() + 160);
    let mut payload = json::Object::open(&mut out);
    json::str_member(&mut payload, "body", entry.body_base64);
    json::jcs_integer(payload.key("integratedTime"), entry.integrated_time)?;
    json::hex(payload.key("logID"), &entry.log_id.0);
    json::jcs_integer(payload.key("logIndex"), entry.log_index)?;
    payload.close();
    Ok(out)
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

/// `{"<entryID>": LogEntry}` as Rekor answers create and get, as JSON bytes (serde_json's compact
/// form, keys in its sorted order). Every field is written, zeros and empty lists included:
/// clients' models reject a missing `logIndex: 0` or `hashes: []`.
pub fn log_entry_json(
    entry_id: &str,
    entry: &IntegratedBase64<'_>,
    set: &[u8],
    proof: &InclusionProof,
) -> Vec<u8> {
    let capacity = entry_id.len()
        + entry.body_base64.len()
        + 2 * set.len()
        + proof.checkpoint.len()
        + 67 * proof.hashes.len()
        + 400;
    let mut out = Vec::with_capacity(capacity);
    out.push(b'{');
    json::string(&mut out, entry_id);
    out.push(b':');
    let mut log_entry = json::Object::open(&mut out);
    json::str_member(&mut log_entry, "body", entry.body_base64);
    json::integer(log_entry.key("integratedTime"), entry.integrated_time);
    json::hex(log_entry.key("logID"), &entry.log_id.0);
    json::integer(log_entry.key("logIndex"), entry.log_index);
    let mut verification = json::Object::open(log_entry.key("verification"));
    let mut inclusion = json::Object::open(verification.key("inclusionProof"));
    json::str_member(&mut inclusion, "checkpoint", &proof.checkpoint);
    json::array(inclusion.key("hashes"), &proof.hashes, |out, hash| {
        json::hex(out, &hash.0);
    });
    json::integer(inclusion.key("logIndex"), entry.log_index);
    json::hex(inclusion.key("rootHash"), &proof.root.0);
    json::integer(inclusion.key("treeSize"), proof.tree_size);
    inclusion.close();
    json::str_member(
        &mut verification,
        "signedEntryTimestamp",
        &encode_base64(set),
    );
    verification.close();
    log_entry.close();
    out.push(b'}');
    out
}

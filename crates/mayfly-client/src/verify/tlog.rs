//! Transparency-log evidence for the bundle's entry: the signed entry timestamp (SET) and the
//! inclusion proof with its checkpoint (rekor-bundle-npm.md §1.4, §3; §7.1 step 4, §7.2 step 4).
//!
//! The log is chosen by the entry's `logId` among the trusted root's `tlogs`, with a key valid at
//! `integratedTime` (sigstore-js `tlog/set.ts`). The checkpoint is checked as both clients do:
//! its signature line must carry key hint `logId[0..4]` (sigstore-python) and a key name that
//! the log's `baseUrl` contains (sigstore-js), its root must equal the proof's `rootHash`
//! (sigstore-python) and its size the proof's `treeSize` (sigstore-js proves against the
//! checkpoint's size, so the two must agree).

use super::error::VerifyError;
use super::keys::verify_log_signature;
use mayfly_spec::rekor::{Integrated, set_payload};
use mayfly_spec::sigstore::bundle::{Proof, TlogEntry};
use mayfly_spec::sigstore::trusted_root::{Log, find_log};
use mayfly_spec::tlog::checkpoint::Checkpoint;
use mayfly_spec::tlog::note::{Note, NoteVerifier, open_note};
use mayfly_spec::tlog::proof::verify_inclusion;
use mayfly_spec::tlog::{Hash, leaf_hash};

/// The trusted log that holds `entry`, with a key valid at `time` (the integrated time when a
/// SET vouches for it, else the first verified timestamp).
pub(crate) fn select_log<'a>(
    tlogs: &'a [Log],
    entry: &TlogEntry,
    time: i64,
) -> Result<&'a Log, VerifyError> {
    find_log(tlogs, &entry.log_id, time).ok_or_else(|| {
        VerifyError::UnknownTlog(format!(
            "log {} is not in the trusted root (or its key was not valid at signing time {time})",
            hex::encode(entry.log_id),
        ))
    })
}

/// Verifies the SET over the JCS payload rebuilt from the entry's own fields.
pub(crate) fn verify_set(log: &Log, entry: &TlogEntry, set: &[u8]) -> Result<(), VerifyError> {
    let payload = set_payload(&Integrated {
        body: &entry.body,
        integrated_time: entry.integrated_time,
        log_id: Hash(entry.log_id),
        log_index: entry.log_index,
    })
    .map_err(|e| VerifyError::Set(format!("cannot rebuild the payload: {e}")))?;
    verify_log_signature(&log.key_details, &log.spki, &payload, set)
        .map_err(|why| VerifyError::Set(format!("{why} under tlog {}", hex::encode(log.log_id))))
}

/// Verifies the checkpoint's signature under `log`, then the inclusion of the body's leaf
/// hash at `proof.log_index` in the checkpointed tree.
pub(crate) fn verify_proof(log: &Log, entry: &TlogEntry, proof: &Proof) -> Result<(), VerifyError> {
    let checkpoint = open_checkpoint(log, &entry.log_id, &proof.checkpoint)?;
    let proof_err = |m: String| VerifyError::InclusionProof(m);
    if checkpoint.root.0 != proof.root_hash {
        return Err(proof_err("root does not match checkpoint".into()));
    }
    if checkpoint.size != proof.tree_size {
        return Err(proof_err(format!(
            "tree size {} does not match checkpoint size {}",
            proof.tree_size, checkpoint.size
        )));
    }
    let hashes: Vec<Hash> = proof.hashes.iter().copied().map(Hash).collect();
    verify_inclusion(
        &leaf_hash(&entry.body),
        proof.log_index,
        proof.tree_size,
        &hashes,
        &Hash(proof.root_hash),
    )
    .map_err(|e| {
        proof_err(format!(
            "leaf does not verify at index {}: {e}",
            proof.log_index
        ))
    })
}

/// Opens the checkpoint under `log`: a signature line with key hint `logId[0..4]` and a key
/// name within the log's `baseUrl` must be present and verify; lines by other keys (witness
/// cosignatures, in any position) are ignored, as C2SP signed notes prescribe.
pub(crate) fn open_checkpoint(
    log: &Log,
    log_id: &[u8; 32],
    text: &str,
) -> Result<Checkpoint, VerifyError> {
    let err = |m: String| VerifyError::Checkpoint(m);
    let note = Note::parse(text.as_bytes()).map_err(|e| err(e.to_string()))?;
    let hint = u32::from_be_bytes([log_id[0], log_id[1], log_id[2], log_id[3]]);
    let name = note
        .signatures()
        .iter()
        .find(|s| s.key_id == hint && log.base_url.contains(s.name.as_str()))
        .map(|s| s.name.clone())
        .ok_or_else(|| {
            err(format!(
                "no signature by the log (key hint {hint:08x}, a key name within {})",
                log.base_url
            ))
        })?;
    let verifier = LogNoteVerifier {
        name,
        key_id: hint,
        log,
    };
    // open_note rejects a note whose matching signature fails, and one with none verified.
    let opened = open_note(text.as_bytes(), &[&verifier]).map_err(|e| {
        err(format!(
            "signature does not verify under tlog {}: {e}",
            hex::encode(log.log_id)
        ))
    })?;
    Checkpoint::parse(opened.text()).map_err(|e| err(e.to_string()))
}

/// A trusted-root log key as a signed-note verifier, for any key type the root declares
/// (ECDSA for Rekor v1, Ed25519 for Rekor v2): the signature algorithm follows `keyDetails`.
struct LogNoteVerifier<'a> {
    name: String,
    key_id: u32,
    log: &'a Log,
}

impl NoteVerifier for LogNoteVerifier<'_> {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.key_id
    }

    fn verify(&self, msg: &[u8], signature: &[u8]) -> bool {
        verify_log_signature(&self.log.key_details, &self.log.spki, msg, signature).is_ok()
    }
}

#[cfg(test)]
mod tests;

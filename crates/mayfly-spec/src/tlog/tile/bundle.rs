//! Entry bundles: entries as big-endian u16 length + bytes, concatenated.

use super::HASHES_PER_TILE;
use crate::tlog::TlogError;

/// Longest entry an entry bundle can hold: its length prefix is a `u16`.
pub const MAX_ENTRY_LEN: usize = u16::MAX as usize;

fn bundle_error(what: &str) -> TlogError {
    TlogError::Bundle(what.to_owned())
}

/// Appends one entry to a bundle, prefixed by its big-endian `u16` length.
pub fn push_entry(bundle: &mut Vec<u8>, entry: &[u8]) -> Result<(), TlogError> {
    let len =
        u16::try_from(entry.len()).map_err(|_| bundle_error("entry longer than 65535 bytes"))?;
    bundle.extend_from_slice(&len.to_be_bytes());
    bundle.extend_from_slice(entry);
    Ok(())
}

/// Splits the first entry off a non-empty bundle remainder.
fn next_entry(rest: &[u8]) -> Result<(&[u8], &[u8]), TlogError> {
    let [hi, lo, body @ ..] = rest else {
        return Err(bundle_error("truncated length prefix"));
    };
    body.split_at_checked(usize::from(u16::from_be_bytes([*hi, *lo])))
        .ok_or_else(|| bundle_error("truncated entry"))
}

/// The entries of a bundle, in order. Rejects a truncated prefix or entry, and more than 256
/// entries, since no tile-sized bundle holds that many.
pub fn split_entries(bundle: &[u8]) -> Result<Vec<&[u8]>, TlogError> {
    let mut entries = Vec::new();
    let mut rest = bundle;
    while !rest.is_empty() {
        if entries.len() == HASHES_PER_TILE {
            return Err(bundle_error("more than 256 entries"));
        }
        let (entry, tail) = next_entry(rest)?;
        entries.push(entry);
        rest = tail;
    }
    Ok(entries)
}

/// The bytes of the first `count` entries of a bundle: the `.p/<count>` view of a bundle.
/// Only those entries are checked; an error if the bundle holds fewer.
pub fn bundle_prefix(bundle: &[u8], count: usize) -> Result<&[u8], TlogError> {
    let mut rest = bundle;
    for _ in 0..count {
        if rest.is_empty() {
            return Err(TlogError::Bundle(format!(
                "bundle holds fewer than {count} entries"
            )));
        }
        rest = next_entry(rest)?.1;
    }
    Ok(&bundle[..bundle.len() - rest.len()])
}

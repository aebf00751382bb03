//! C2SP checkpoints (<https://c2sp.org/tlog-checkpoint>): the signed statement "the log called
//! `origin` has `size` entries and Merkle root `root`", carried as the text of a signed note.
//!
//! Text layout, one item per line, each line ending in `\n`:
//! ```text
//! <origin>
//! <size in decimal, no leading zeros>
//! <standard base64 of the 32-byte RFC 6962 root>
//! [<extension line>]*
//! ```
//! Parsing is exact: every accepted text has one meaning and `to_text` of the parsed value gives
//! the same text back, so a checkpoint cannot be re-serialised into something that no longer
//! matches its signature.

use crate::tlog::Hash;
use crate::tlog::TlogError;
use crate::tlog::note::{NoteSigner, NoteVerifier, open_note, sign_note};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// The body of a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity; by convention (and for us) the key name, a scheme-less URL.
    pub origin: String,
    /// Number of entries in the tree.
    pub size: u64,
    /// RFC 6962 root hash of the first `size` entries.
    pub root: Hash,
    /// Optional extra lines (discouraged by C2SP; kept for logs that emit them).
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The checkpoint text: `"origin\nsize\nbase64(root)\n"` then one line per extension.
    ///
    /// Only meaningful for a valid checkpoint (see [`Checkpoint::parse`]); [`sign_checkpoint`]
    /// checks that before signing.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root.as_bytes())
        );
        for ext in &self.extensions {
            out.push_str(ext);
            out.push('\n');
        }
        out
    }

    /// Parse a checkpoint text (the text of a signed note, including its final `\n`).
    ///
    /// Rules: ends in `\n`; no empty line; no ASCII control character other than `\n`;
    /// origin non-empty; size decimal without sign or leading zeros ("0" is fine) and fitting
    /// in a u64; root canonical padded standard base64 of exactly 32 bytes.
    pub fn parse(text: &str) -> Result<Checkpoint, TlogError> {
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| malformed("text does not end with a newline"))?;
        // Same character rule as signed notes, so every parsed checkpoint is signable text.
        if text.bytes().any(|b| b.is_ascii_control() && b != b'\n') {
            return Err(malformed("text contains a control character"));
        }
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        if origin.is_empty() {
            return Err(malformed("empty origin"));
        }
        let size = parse_size(lines.next().ok_or_else(|| malformed("missing tree size"))?)?;
        let root = parse_root(lines.next().ok_or_else(|| malformed("missing root hash"))?)?;
        let extensions = lines
            .map(|line| {
                if line.is_empty() {
                    Err(malformed("empty extension line"))
                } else {
                    Ok(line.to_owned())
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }
}

/// Decimal u64 with no sign, no leading zeros, no spaces. `str::parse` alone would accept "+7"
/// and "007", giving one size several texts.
fn parse_size(line: &str) -> Result<u64, TlogError> {
    if line.is_empty() || !line.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed("tree size is not a decimal number"));
    }
    if line.len() > 1 && line.starts_with('0') {
        return Err(malformed("tree size has leading zeros"));
    }
    line.parse::<u64>()
        .map_err(|_| malformed("tree size does not fit in 64 bits"))
}

fn parse_root(line: &str) -> Result<Hash, TlogError> {
    // The standard engine demands canonical padding and zero trailing bits, so a 32-byte hash
    // has exactly one accepted 44-character form.
    let bytes = BASE64
        .decode(line)
        .map_err(|_| malformed("root hash is not valid base64"))?;
    Hash::from_slice(&bytes).ok_or_else(|| {
        malformed(format!(
            "root hash is {} bytes, not {}",
            bytes.len(),
            Hash::LEN
        ))
    })
}

/// A checkpoint together with the exact signed-note bytes that carry it (what we store and
/// serve).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The parsed body.
    pub checkpoint: Checkpoint,
    /// The complete signed note: `checkpoint.to_text()`, a blank line, signature lines.
    pub note: String,
}

/// Sign `cp` with `signer`. Refuses a checkpoint whose text would not parse back to `cp`
/// (empty origin, a newline in a field, an empty extension, ...), so every note we sign means
/// exactly what the caller asked for.
pub fn sign_checkpoint(
    cp: &Checkpoint,
    signer: &dyn NoteSigner,
) -> Result<SignedCheckpoint, TlogError> {
    let text = cp.to_text();
    if Checkpoint::parse(&text).as_ref() != Ok(cp) {
        return Err(malformed(
            "checkpoint fields do not survive a round trip through its text",
        ));
    }
    let note = sign_note(&text, &[signer])?;
    Ok(SignedCheckpoint {
        checkpoint: cp.clone(),
        note,
    })
}

/// Verify the note with `verifier` and parse its text; the origin must equal `origin`.
///
/// The returned `note` is the input, byte for byte (including any signatures by other keys).
pub fn open_checkpoint(
    note: &[u8],
    origin: &str,
    verifier: &dyn NoteVerifier,
) -> Result<SignedCheckpoint, TlogError> {
    let opened = open_note(note, &[verifier])?;
    let checkpoint = Checkpoint::parse(opened.text())?;
    if checkpoint.origin != origin {
        return Err(malformed(format!(
            "origin is {:?}, expected {origin:?}",
            checkpoint.origin
        )));
    }
    // open_note has already checked that the bytes are UTF-8; this cannot fail.
    let note = String::from_utf8(note.to_vec())
        .map_err(|_| TlogError::Note("note is not UTF-8".into()))?;
    Ok(SignedCheckpoint { checkpoint, note })
}

fn malformed(msg: impl Into<String>) -> TlogError {
    TlogError::Checkpoint(msg.into())
}

#[cfg(test)]
mod tests;

//! C2SP signed notes (<https://c2sp.org/signed-note>): a UTF-8 text followed by a blank line
//! and one or more signature lines `— <key name> <base64(key ID ‖ signature)>`.
//!
//! The format is tiny but every byte matters to some verifier, so the rules here are spelled
//! out and enforced on both sides:
//! - the note is UTF-8 with no ASCII control character other than `\n`, and ends in `\n`;
//! - the text and the signatures are split at the **last** `"\n\n"`; the text keeps its own
//!   final `\n`;
//! - each signature line is `"— "` (U+2014 EM DASH, space), a key name (non-empty, no
//!   whitespace, no `+`), a space, and standard padded base64 of a 4-byte big-endian key ID
//!   followed by at least one signature byte.
//!
//! What we *sign* is stricter than what we *parse*: sigstore-python splits the whole note on
//! `"\n\n"` and wants exactly one occurrence, so [`sign_note`] refuses texts containing a blank
//! line even though C2SP would allow them.
//!
//! The only signature type implemented is ECDSA P-256 (C2SP type 0x02), because that is what
//! Rekor v1 emits and what sigstore-python and sigstore-js check: key ID = the first four bytes
//! of SHA-256 over the DER SubjectPublicKeyInfo (no name, no type byte), signature = ASN.1 DER
//! ECDSA-P256-SHA256 over the note text.

use crate::tlog::TlogError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{DerSignature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePublicKey as _, EncodePublicKey as _};
use sha2::{Digest as _, Sha256};
use std::fmt;

/// Largest note we parse or produce. A checkpoint is well under 1 KiB; the cap only exists so
/// hostile input cannot make us decode and scan megabytes.
pub const MAX_NOTE_BYTES: usize = 1 << 20;

/// Most signature lines a note may carry. C2SP asks verifiers to accept at least 16; 100 leaves
/// room for many cosigners while bounding the work one note can cause.
pub const MAX_SIGNATURES: usize = 100;

/// What starts every signature line: U+2014 EM DASH and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// Bytes of the key ID at the front of each decoded signature.
const KEY_ID_LEN: usize = 4;

/// One signature line of a note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name, as written on the line.
    pub name: String,
    /// The key ID: the first four decoded bytes, big-endian.
    pub key_id: u32,
    /// The signature bytes after the key ID (never empty).
    pub signature: Vec<u8>,
}

/// A parsed (not yet verified) note.
///
/// Invariant: `text` is non-empty, ends in `\n`, has no ASCII control characters other than
/// `\n`; `signatures` is non-empty and every name is a valid key name. Only [`Note::parse`] and
/// [`open_note`] build one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

impl Note {
    /// Parse a signed note by the C2SP rules, without verifying any signature.
    pub fn parse(bytes: &[u8]) -> Result<Note, TlogError> {
        if bytes.len() > MAX_NOTE_BYTES {
            return Err(malformed(format!(
                "note is larger than {MAX_NOTE_BYTES} bytes"
            )));
        }
        let note = std::str::from_utf8(bytes).map_err(|_| malformed("note is not UTF-8"))?;
        check_no_controls(note).map_err(malformed)?;
        if !note.ends_with('\n') {
            return Err(malformed("note does not end with a newline"));
        }
        // The split is at the LAST blank line: the text may contain blank lines, the signature
        // block cannot (every signature line is non-empty).
        let split = note
            .rfind("\n\n")
            .ok_or_else(|| malformed("no blank line before the signatures"))?;
        let (text, sigs) = (&note[..=split], &note[split + 2..]);

        let mut signatures = Vec::new();
        // `sigs` ends in '\n' (the note does, and it cannot be the separator's '\n' unless
        // `sigs` is empty), so `split_terminator` yields exactly the signature lines.
        for line in sigs.split_terminator('\n') {
            if signatures.len() == MAX_SIGNATURES {
                return Err(malformed(format!(
                    "more than {MAX_SIGNATURES} signature lines"
                )));
            }
            signatures.push(parse_signature_line(line)?);
        }
        if signatures.is_empty() {
            return Err(malformed("note has no signature lines"));
        }
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The signed text, including its final `\n`.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines, in note order. After [`open_note`], only the verified ones.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }
}

fn parse_signature_line(line: &str) -> Result<NoteSignature, TlogError> {
    let rest = line
        .strip_prefix(SIG_PREFIX)
        .ok_or_else(|| malformed("signature line does not start with \"— \""))?;
    let (name, b64) = rest
        .split_once(' ')
        .ok_or_else(|| malformed("signature line has no space after the key name"))?;
    check_key_name(name).map_err(malformed)?;
    // The standard engine insists on canonical padding and zero trailing bits, so each
    // signature has exactly one textual form; spaces or extra fields fail to decode.
    let decoded = BASE64
        .decode(b64)
        .map_err(|_| malformed("signature is not valid base64"))?;
    if decoded.len() <= KEY_ID_LEN {
        return Err(malformed("signature is shorter than 5 bytes"));
    }
    let (id, signature) = decoded.split_at(KEY_ID_LEN);
    let mut id_bytes = [0u8; KEY_ID_LEN];
    id_bytes.copy_from_slice(id);
    Ok(NoteSignature {
        name: name.to_owned(),
        key_id: u32::from_be_bytes(id_bytes),
        signature: signature.to_vec(),
    })
}

/// Something that can sign note texts under one key.
pub trait NoteSigner {
    /// The key name written on the signature line.
    fn name(&self) -> &str;
    /// The key ID written in front of the signature.
    fn key_id(&self) -> u32;
    /// Sign `msg` (the note text). Must return at least one byte.
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, TlogError>;
}

/// Something that can check note signatures made by one key.
pub trait NoteVerifier {
    /// The key name this verifier answers to.
    fn name(&self) -> &str;
    /// The key ID this verifier answers to.
    fn key_id(&self) -> u32;
    /// Whether `signature` (without the key ID) is a valid signature of `msg` (the note text).
    fn verify(&self, msg: &[u8], signature: &[u8]) -> bool;
}

/// Text + one signature line per signer.
///
/// The text must end with `\n`, must not contain a blank line (`"\n\n"`: sigstore-python needs
/// exactly one in the whole note) and no ASCII control character other than `\n`. Signer names
/// must be valid key names and (name, key ID) pairs distinct. The result always parses back with
/// [`Note::parse`] to the same text and signatures.
pub fn sign_note(text: &str, signers: &[&dyn NoteSigner]) -> Result<String, TlogError> {
    check_no_controls(text).map_err(malformed)?;
    if !text.ends_with('\n') {
        return Err(malformed("text does not end with a newline"));
    }
    if text.contains("\n\n") || text.starts_with('\n') {
        // A leading '\n' is an empty first line, which is a blank line too.
        return Err(malformed("text contains a blank line"));
    }
    if signers.is_empty() {
        return Err(TlogError::Signing("no signers".into()));
    }
    if signers.len() > MAX_SIGNATURES {
        return Err(TlogError::Signing(format!(
            "more than {MAX_SIGNATURES} signers"
        )));
    }
    let mut out = String::with_capacity(text.len() + 1 + signers.len() * 128);
    out.push_str(text);
    out.push('\n');
    for (i, signer) in signers.iter().enumerate() {
        let (name, key_id) = (signer.name(), signer.key_id());
        check_key_name(name).map_err(|e| TlogError::Signing(e.into()))?;
        if signers[..i]
            .iter()
            .any(|s| s.name() == name && s.key_id() == key_id)
        {
            return Err(TlogError::Signing(format!(
                "two signers for key {name}+{key_id:08x}"
            )));
        }
        let sig = signer.sign(text.as_bytes())?;
        if sig.is_empty() {
            return Err(TlogError::Signing(format!(
                "key {name} produced an empty signature"
            )));
        }
        let mut blob = Vec::with_capacity(KEY_ID_LEN + sig.len());
        blob.extend_from_slice(&key_id.to_be_bytes());
        blob.extend_from_slice(&sig);
        out.push_str(SIG_PREFIX);
        out.push_str(name);
        out.push(' ');
        out.push_str(&BASE64.encode(&blob));
        out.push('\n');
    }
    // Never hand out a note that we ourselves would refuse to parse.
    if out.len() > MAX_NOTE_BYTES {
        return Err(malformed(format!(
            "signed note would be larger than {MAX_NOTE_BYTES} bytes"
        )));
    }
    Ok(out)
}

/// Parse and verify a note.
///
/// Signatures whose (name, key ID) match no verifier are ignored. A signature that matches one
/// or more verifiers must be accepted by at least one of them, or the note is rejected (it
/// claims a key we know and lies). At least one signature must verify, else
/// [`TlogError::UnverifiedNote`]. Two verified signatures by the same (name, key ID) are
/// rejected as ambiguous.
///
/// The returned note carries **only the verified signatures**, so callers cannot mistake an
/// ignored one for a checked one.
pub fn open_note(bytes: &[u8], verifiers: &[&dyn NoteVerifier]) -> Result<Note, TlogError> {
    let note = Note::parse(bytes)?;
    let mut verified: Vec<NoteSignature> = Vec::new();
    for sig in &note.signatures {
        let mut matching = verifiers
            .iter()
            .filter(|v| v.name() == sig.name && v.key_id() == sig.key_id)
            .peekable();
        if matching.peek().is_none() {
            continue;
        }
        if !matching.any(|v| v.verify(note.text.as_bytes(), &sig.signature)) {
            return Err(malformed(format!(
                "invalid signature from known key {}+{:08x}",
                sig.name, sig.key_id
            )));
        }
        if verified
            .iter()
            .any(|v| v.name == sig.name && v.key_id == sig.key_id)
        {
            return Err(malformed(format!(
                "two signatures from key {}+{:08x}",
                sig.name, sig.key_id
            )));
        }
        verified.push(sig.clone());
    }
    if verified.is_empty() {
        return Err(TlogError::UnverifiedNote);
    }
    Ok(Note {
        text: note.text,
        signatures: verified,
    })
}

/// The C2SP key ID of an ECDSA key: the first four bytes, big-endian, of SHA-256 over its DER
/// SubjectPublicKeyInfo. This is also the prefix of the Rekor v1 log ID, which is SHA-256 of
/// the same bytes.
pub fn ecdsa_key_id(spki_der: &[u8]) -> u32 {
    let digest = Sha256::digest(spki_der);
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Signs notes with an ECDSA P-256 key (C2SP type 0x02), as Rekor v1 does.
pub struct EcdsaNoteSigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl EcdsaNoteSigner {
    /// A signer under key name `name` (validated); the key ID is derived from the public key.
    pub fn new(name: impl Into<String>, key: SigningKey) -> Result<Self, TlogError> {
        let name = name.into();
        check_key_name(&name).map_err(|e| TlogError::Signing(e.into()))?;
        let spki = key
            .verifying_key()
            .to_public_key_der()
            .map_err(|_| TlogError::Signing("cannot encode the public key".into()))?;
        Ok(EcdsaNoteSigner {
            key_id: ecdsa_key_id(spki.as_bytes()),
            name,
            key,
        })
    }

    /// The verifier matching this signer (same name, key and key ID).
    pub fn verifier(&self) -> EcdsaNoteVerifier {
        EcdsaNoteVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: *self.key.verifying_key(),
        }
    }
}

// Hand-written so that no formatting of the signer can ever include key material.
impl fmt::Debug for EcdsaNoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EcdsaNoteSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

impl NoteSigner for EcdsaNoteSigner {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.key_id
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, TlogError> {
        // ECDSA-P256 over SHA-256(msg), DER-encoded: what Go's ecdsa.SignASN1 produces and what
        // OpenSSL-based verifiers (sigstore-python, Node's crypto) accept.
        let sig: DerSignature = self
            .key
            .try_sign(msg)
            .map_err(|_| TlogError::Signing("ECDSA signing failed".into()))?;
        Ok(sig.as_bytes().to_vec())
    }
}

/// Verifies ECDSA P-256 note signatures (C2SP type 0x02).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EcdsaNoteVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl EcdsaNoteVerifier {
    /// A verifier under key name `name` (validated); the key ID is derived from the canonical
    /// DER SubjectPublicKeyInfo of `key`.
    pub fn new(name: impl Into<String>, key: VerifyingKey) -> Result<Self, TlogError> {
        let spki = key
            .to_public_key_der()
            .map_err(|_| malformed("cannot encode the public key"))?;
        Self::build(name.into(), key, spki.as_bytes())
    }

    /// A verifier from a DER SubjectPublicKeyInfo (e.g. `tlogs[].publicKey.rawBytes` of a
    /// trusted root). The key ID is computed over `der` exactly as given, which is what the
    /// clients compare with the log ID.
    pub fn from_spki_der(name: impl Into<String>, der: &[u8]) -> Result<Self, TlogError> {
        let key = VerifyingKey::from_public_key_der(der)
            .map_err(|_| malformed("not a DER P-256 SubjectPublicKeyInfo"))?;
        Self::build(name.into(), key, der)
    }

    fn build(name: String, key: VerifyingKey, spki_der: &[u8]) -> Result<Self, TlogError> {
        check_key_name(&name).map_err(malformed)?;
        Ok(EcdsaNoteVerifier {
            key_id: ecdsa_key_id(spki_der),
            name,
            key,
        })
    }
}

impl NoteVerifier for EcdsaNoteVerifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.key_id
    }

    fn verify(&self, msg: &[u8], signature: &[u8]) -> bool {
        // Strict DER only (as OpenSSL demands). High-S values are accepted, as by Go and
        // OpenSSL: P-256 ECDSA has no low-S rule.
        match DerSignature::from_bytes(signature) {
            Ok(sig) => self.key.verify(msg, &sig).is_ok(),
            Err(_) => false,
        }
    }
}

/// Key names: non-empty, no whitespace, no `+` (the vkey separator), no control characters.
/// Scheme-less URLs such as `log.example.com` or `127.0.0.1:8700` are fine.
fn check_key_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("empty key name");
    }
    if name
        .chars()
        .any(|c| c.is_whitespace() || c == '+' || c.is_control())
    {
        return Err("key name contains whitespace, '+' or a control character");
    }
    Ok(())
}

/// C2SP: no ASCII control characters other than newline (this includes DEL, 0x7F).
fn check_no_controls(s: &str) -> Result<(), &'static str> {
    if s.bytes().any(|b| b.is_ascii_control() && b != b'\n') {
        return Err("contains a control character");
    }
    Ok(())
}

fn malformed(msg: impl Into<String>) -> TlogError {
    TlogError::Note(msg.into())
}

#[cfg(test)]
mod tests;

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
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A deterministic test key derived from a seed (SHA-256 of the seed is a valid scalar
    /// with overwhelming probability, and for these seeds it is).
    fn key(seed: &str) -> SigningKey {
        SigningKey::from_slice(&Sha256::digest(seed.as_bytes())).unwrap()
    }

    fn signer(name: &str, seed: &str) -> EcdsaNoteSigner {
        EcdsaNoteSigner::new(name, key(seed)).unwrap()
    }

    /// A fake signer with a fixed key ID and fixed signature, for exact-layout tests.
    struct Fixed {
        name: &'static str,
        id: u32,
        sig: &'static [u8],
    }

    impl NoteSigner for Fixed {
        fn name(&self) -> &str {
            self.name
        }
        fn key_id(&self) -> u32 {
            self.id
        }
        fn sign(&self, _: &[u8]) -> Result<Vec<u8>, TlogError> {
            Ok(self.sig.to_vec())
        }
    }

    impl NoteVerifier for Fixed {
        fn name(&self) -> &str {
            self.name
        }
        fn key_id(&self) -> u32 {
            self.id
        }
        fn verify(&self, _: &[u8], sig: &[u8]) -> bool {
            sig == self.sig
        }
    }

    const TEXT: &str = "example.com/log\n42\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";

    fn is_note_err(r: Result<Note, TlogError>) -> bool {
        matches!(r, Err(TlogError::Note(_)))
    }

    #[test]
    fn exact_layout_with_fixed_signer() {
        let s = Fixed {
            name: "mayfly.example.com",
            id: 0x0102_0304,
            sig: b"sig!",
        };
        let note = sign_note("hello\nworld\n", &[&s]).unwrap();
        // base64(01 02 03 04 's' 'i' 'g' '!') = "AQIDBHNpZyE="
        assert_eq!(
            note,
            "hello\nworld\n\n\u{2014} mayfly.example.com AQIDBHNpZyE=\n"
        );
        let parsed = Note::parse(note.as_bytes()).unwrap();
        assert_eq!(parsed.text(), "hello\nworld\n");
        assert_eq!(
            parsed.signatures(),
            &[NoteSignature {
                name: "mayfly.example.com".into(),
                key_id: 0x0102_0304,
                signature: b"sig!".to_vec(),
            }]
        );
        assert_eq!(open_note(note.as_bytes(), &[&s]).unwrap(), parsed);
    }

    /// RFC 6979 §A.2.5: the P-256 key, its public point and the deterministic SHA-256
    /// signature of "sample". Pins the key-ID rule and the DER signature encoding.
    #[test]
    fn rfc6979_key_and_signature() {
        let sk = SigningKey::from_slice(
            &hex::decode("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721")
                .unwrap(),
        )
        .unwrap();
        let s = EcdsaNoteSigner::new("127.0.0.1:8700", sk).unwrap();

        // SPKI DER built by hand: SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 },
        // BIT STRING { 04 ‖ X ‖ Y } }.
        let spki = hex::decode(concat!(
            "3059301306072a8648ce3d020106082a8648ce3d030107034200",
            "04",
            "60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6",
            "7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299",
        ))
        .unwrap();
        let digest = Sha256::digest(&spki);
        let want_id = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
        assert_eq!(ecdsa_key_id(&spki), want_id);
        assert_eq!(s.key_id(), want_id);
        assert_eq!(
            EcdsaNoteVerifier::from_spki_der("127.0.0.1:8700", &spki).unwrap(),
            s.verifier()
        );

        let sig = s.sign(b"sample").unwrap();
        let want_sig = hex::decode(concat!(
            "3046",
            "022100EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716",
            "022100F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8",
        ))
        .unwrap();
        assert_eq!(sig, want_sig);
        assert!(s.verifier().verify(b"sample", &sig));
        // This s is high: it must still verify (no low-S rule for P-256).
        assert!(s.verifier().verify(b"sample", &want_sig));

        // The whole note, assembled by hand from the pinned pieces.
        let text = "127.0.0.1:8700\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n";
        let note = sign_note(text, &[&s]).unwrap();
        let mut blob = want_id.to_be_bytes().to_vec();
        blob.extend(s.sign(text.as_bytes()).unwrap());
        let want = format!("{text}\n\u{2014} 127.0.0.1:8700 {}\n", BASE64.encode(&blob));
        assert_eq!(note, want);
        assert_eq!(note.matches("\n\n").count(), 1);
        open_note(note.as_bytes(), &[&s.verifier()]).unwrap();
    }

    #[test]
    fn round_trip_two_signers() {
        let a = signer("a.example", "a");
        let b = signer("b.example", "b");
        let note = sign_note(TEXT, &[&a, &b]).unwrap();
        let parsed = Note::parse(note.as_bytes()).unwrap();
        assert_eq!(parsed.text(), TEXT);
        assert_eq!(parsed.signatures().len(), 2);
        assert_eq!(parsed.signatures()[0].key_id, a.key_id());
        assert_eq!(parsed.signatures()[1].name, "b.example");

        let only_b = open_note(note.as_bytes(), &[&b.verifier()]).unwrap();
        assert_eq!(only_b.signatures().len(), 1);
        assert_eq!(only_b.signatures()[0].name, "b.example");
        let both = open_note(note.as_bytes(), &[&a.verifier(), &b.verifier()]).unwrap();
        assert_eq!(both, parsed);
    }

    #[test]
    fn unknown_keys_ignored_known_one_verifies() {
        let known = signer("log.example", "known");
        let other = signer("other.example", "other");
        // Same name, different key: the key ID differs, so it is "unknown" too.
        let impostor = signer("log.example", "impostor");
        assert_ne!(known.key_id(), impostor.key_id());
        let note = sign_note(TEXT, &[&other, &impostor, &known]).unwrap();
        let opened = open_note(note.as_bytes(), &[&known.verifier()]).unwrap();
        assert_eq!(
            opened.signatures(),
            &[Note::parse(note.as_bytes()).unwrap().signatures()[2].clone()]
        );

        // With no verifier matching anything: UnverifiedNote, not a parse error.
        let stranger = signer("stranger.example", "stranger");
        assert_eq!(
            open_note(note.as_bytes(), &[&stranger.verifier()]),
            Err(TlogError::UnverifiedNote)
        );
        assert_eq!(
            open_note(note.as_bytes(), &[]),
            Err(TlogError::UnverifiedNote)
        );
    }

    #[test]
    fn wrong_key_and_flipped_bits() {
        let s = signer("log.example", "k");
        let v = s.verifier();
        let note = sign_note(TEXT, &[&s]).unwrap();

        // A verifier with the right name and key ID but another key: a lying signature.
        let wrong = Fixed {
            name: "log.example",
            id: s.key_id(),
            sig: b"x",
        };
        assert!(is_note_err(open_note(note.as_bytes(), &[&wrong])));
        // Both known: one that accepts is enough.
        open_note(note.as_bytes(), &[&wrong, &v]).unwrap();

        // Flip a bit in the text.
        let mut bad = note.clone().into_bytes();
        bad[1] ^= 0x01;
        assert!(is_note_err(open_note(&bad, &[&v])));

        // Flip a bit in the signature (decoded), re-encoded canonically.
        let parsed = Note::parse(note.as_bytes()).unwrap();
        let mut blob = s.key_id().to_be_bytes().to_vec();
        blob.extend(&parsed.signatures()[0].signature);
        let last = blob.len() - 1;
        blob[last] ^= 0x01;
        let bad = format!("{TEXT}\n\u{2014} log.example {}\n", BASE64.encode(&blob));
        assert!(Note::parse(bad.as_bytes()).is_ok());
        assert!(is_note_err(open_note(bad.as_bytes(), &[&v])));
    }

    #[test]
    fn two_signatures_by_one_key_rejected() {
        let s = signer("log.example", "k");
        let note = sign_note(TEXT, &[&s]).unwrap();
        let line = &note[TEXT.len() + 1..];
        let doubled = format!("{note}{line}");
        assert!(Note::parse(doubled.as_bytes()).is_ok());
        assert!(is_note_err(open_note(doubled.as_bytes(), &[&s.verifier()])));
        assert!(sign_note(TEXT, &[&s, &s]).is_err());
    }

    #[test]
    fn parse_rejections() {
        let good = "t\n\n\u{2014} n AQIDBHg=\n";
        assert!(Note::parse(good.as_bytes()).is_ok());
        let bad: &[(&str, &[u8])] = &[
            ("no blank line", b"t\n\xE2\x80\x94 n AQIDBHg=\n"),
            ("no signature", b"t\n\n"),
            ("empty", b""),
            ("no final newline", b"t\n\n\xE2\x80\x94 n AQIDBHg="),
            ("hyphen not em dash", b"t\n\n- n AQIDBHg=\n"),
            ("no space after dash", b"t\n\n\xE2\x80\x94n AQIDBHg=\n"),
            ("bad base64", b"t\n\n\xE2\x80\x94 n AQIDBHg*\n"),
            ("unpadded base64", b"t\n\n\xE2\x80\x94 n AQIDBHg\n"),
            (
                "non-canonical base64 bits",
                b"t\n\n\xE2\x80\x94 n AQIDBHh=\n",
            ),
            ("empty base64", b"t\n\n\xE2\x80\x94 n \n"),
            ("no base64", b"t\n\n\xE2\x80\x94 n\n"),
            ("4-byte signature", b"t\n\n\xE2\x80\x94 n AQIDBA==\n"),
            ("space in name", b"t\n\n\xE2\x80\x94 n m AQIDBHg=\n"),
            ("plus in name", b"t\n\n\xE2\x80\x94 n+1 AQIDBHg=\n"),
            ("empty name", b"t\n\n\xE2\x80\x94  AQIDBHg=\n"),
            ("tab in text", b"t\tx\n\n\xE2\x80\x94 n AQIDBHg=\n"),
            ("CR in text", b"t\r\n\n\xE2\x80\x94 n AQIDBHg=\n"),
            ("DEL in text", b"t\x7f\n\n\xE2\x80\x94 n AQIDBHg=\n"),
            ("NUL in signatures", b"t\n\n\xE2\x80\x94 n AQIDBHg=\n\x00\n"),
            ("invalid UTF-8", b"t\xff\n\n\xE2\x80\x94 n AQIDBHg=\n"),
            ("trailing field", b"t\n\n\xE2\x80\x94 n AQIDBHg= x\n"),
            (
                "blank line after the signatures: splits there, leaving none",
                b"t\n\n\xE2\x80\x94 n AQIDBHg=\n\n",
            ),
            (
                "second blank line: the last one splits, so a signature lands in the text",
                b"t\n\n\xE2\x80\x94 n AQIDBHg=\n\n\xE2\x80\x94 n AQIDBHg=\n\nx\n",
            ),
        ];
        for (why, input) in bad {
            assert!(
                is_note_err(Note::parse(input)),
                "{why}: {:?}",
                Note::parse(input)
            );
        }
    }

    #[test]
    fn split_is_at_last_blank_line() {
        // The text may itself hold a blank line when parsing (C2SP), though we never sign one.
        let n = Note::parse("a\n\nb\n\n\u{2014} n AQIDBHg=\n".as_bytes()).unwrap();
        assert_eq!(n.text(), "a\n\nb\n");
        // A signature-looking line before the last blank line is text, not a signature.
        let n =
            Note::parse("a\n\n\u{2014} x AQIDBHg=\n\n\u{2014} n AQIDBHg=\n".as_bytes()).unwrap();
        assert_eq!(n.text(), "a\n\n\u{2014} x AQIDBHg=\n");
        assert_eq!(n.signatures().len(), 1);
        assert_eq!(n.signatures()[0].name, "n");
    }

    #[test]
    fn size_and_count_caps() {
        let line = "\u{2014} n AQIDBHg=\n";
        let at_cap = format!("t\n\n{}", line.repeat(MAX_SIGNATURES));
        assert_eq!(
            Note::parse(at_cap.as_bytes()).unwrap().signatures().len(),
            MAX_SIGNATURES
        );
        let over = format!("t\n\n{}", line.repeat(MAX_SIGNATURES + 1));
        assert!(is_note_err(Note::parse(over.as_bytes())));

        let big = format!("{}\n\n{line}", "x".repeat(MAX_NOTE_BYTES));
        assert!(is_note_err(Note::parse(big.as_bytes())));
        let s = Fixed {
            name: "n",
            id: 1,
            sig: b"x",
        };
        let big_text = format!("{}\n", "x".repeat(MAX_NOTE_BYTES));
        assert!(sign_note(&big_text, &[&s]).is_err());
    }

    #[test]
    fn sign_rejections() {
        let s = Fixed {
            name: "n",
            id: 1,
            sig: b"x",
        };
        for text in [
            "",
            "no newline",
            "a\n\nb\n",
            "a\n\n",
            "\n",
            "\na\n",
            "a\tb\n",
        ] {
            assert!(sign_note(text, &[&s]).is_err(), "{text:?}");
        }
        assert!(sign_note("a\n", &[]).is_err());
        for name in ["", "a b", "a+b", "a\tb", "a\u{a0}b"] {
            let bad = Fixed {
                name,
                id: 1,
                sig: b"x",
            };
            assert!(sign_note("a\n", &[&bad]).is_err(), "{name:?}");
            assert!(EcdsaNoteSigner::new(name, key("k")).is_err(), "{name:?}");
        }
        let empty = Fixed {
            name: "n",
            id: 1,
            sig: b"",
        };
        assert!(matches!(
            sign_note("a\n", &[&empty]),
            Err(TlogError::Signing(_))
        ));
    }

    #[test]
    fn url_like_names_work() {
        for name in [
            "mayfly.example.com",
            "127.0.0.1:8700",
            "log.example/path-x_1",
        ] {
            let s = signer(name, name);
            let note = sign_note(TEXT, &[&s]).unwrap();
            let n = open_note(note.as_bytes(), &[&s.verifier()]).unwrap();
            assert_eq!(n.signatures()[0].name, name);
        }
    }

    #[test]
    fn verifier_rejects_garbage_signatures() {
        let v = signer("n", "k").verifier();
        assert!(!v.verify(b"m", b""));
        assert!(!v.verify(b"m", b"\x30\x00"));
        assert!(!v.verify(b"m", &[0u8; 64]));
        assert!(EcdsaNoteVerifier::from_spki_der("n", b"not der").is_err());
        assert!(EcdsaNoteVerifier::from_spki_der("n", &[]).is_err());
    }

    #[test]
    fn debug_shows_no_key_material() {
        let s = signer("n", "k");
        let dbg = format!("{s:?}");
        assert!(dbg.contains("\"n\""));
        assert!(!dbg.contains(&hex::encode(key("k").to_bytes())));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any single-byte change, deletion or insertion is rejected by `open_note` or yields
        /// exactly the note the original opens to.
        #[test]
        fn single_byte_mutations(pos in any::<prop::sample::Index>(), byte in any::<u8>(), op in 0u8..3) {
            let s = signer("log.example", "prop");
            let extra = signer("extra.example", "extra");
            let v = s.verifier();
            let note = sign_note(TEXT, &[&extra, &s]).unwrap().into_bytes();
            let want = open_note(&note, &[&v]).unwrap();

            let mut m = note.clone();
            match op {
                0 => {
                    let i = pos.index(m.len());
                    prop_assume!(m[i] != byte);
                    m[i] = byte;
                }
                1 => { m.remove(pos.index(m.len())); }
                _ => m.insert(pos.index(m.len() + 1), byte),
            }
            if let Ok(got) = open_note(&m, &[&v]) {
                prop_assert_eq!(got, want);
            }
        }
    }
}

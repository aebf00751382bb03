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
        &hex::decode("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721").unwrap(),
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
    let n = Note::parse("a\n\n\u{2014} x AQIDBHg=\n\n\u{2014} n AQIDBHg=\n".as_bytes()).unwrap();
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

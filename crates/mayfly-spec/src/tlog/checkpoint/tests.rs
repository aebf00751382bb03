use super::*;
use crate::tlog::note::{EcdsaNoteSigner, EcdsaNoteVerifier, Note};
use p256::ecdsa::SigningKey;
use proptest::prelude::*;
use sha2::{Digest as _, Sha256};

const ORIGIN: &str = "mayfly.example.com";

fn signer(name: &str, seed: &str) -> EcdsaNoteSigner {
    let key = SigningKey::from_slice(&Sha256::digest(seed.as_bytes())).unwrap();
    EcdsaNoteSigner::new(name, key).unwrap()
}

fn cp(size: u64) -> Checkpoint {
    Checkpoint {
        origin: ORIGIN.into(),
        size,
        root: Hash(Sha256::digest(size.to_be_bytes()).into()),
        extensions: vec![],
    }
}

fn is_cp_err<T: std::fmt::Debug>(r: Result<T, TlogError>) -> bool {
    matches!(r, Err(TlogError::Checkpoint(_)))
}

#[test]
fn text_layout() {
    let c = Checkpoint {
        origin: "example.com/log".into(),
        size: 1234,
        root: Hash([0xab; 32]),
        extensions: vec!["ext one".into(), "— two".into()],
    };
    let want =
        "example.com/log\n1234\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\next one\n— two\n";
    assert_eq!(c.to_text(), want);
    assert_eq!(Checkpoint::parse(want).unwrap(), c);

    let zero = Checkpoint {
        origin: "o".into(),
        size: 0,
        root: crate::tlog::hash::empty_root(),
        extensions: vec![],
    };
    let text = "o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n";
    assert_eq!(zero.to_text(), text);
    assert_eq!(Checkpoint::parse(text).unwrap(), zero);

    let max = format!(
        "o\n{}\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
        u64::MAX
    );
    assert_eq!(Checkpoint::parse(&max).unwrap().size, u64::MAX);
}

#[test]
fn parse_rejections() {
    let root = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    let bad = [
        ("no final newline", format!("o\n1\n{root}")),
        ("empty origin", format!("\n1\n{root}\n")),
        ("missing root", "o\n1\n".to_owned()),
        ("missing size", "o\n".to_owned()),
        ("empty", String::new()),
        ("leading zero", format!("o\n01\n{root}\n")),
        ("double zero", format!("o\n00\n{root}\n")),
        ("plus sign", format!("o\n+1\n{root}\n")),
        ("minus sign", format!("o\n-1\n{root}\n")),
        ("space in size", format!("o\n 1\n{root}\n")),
        ("empty size", format!("o\n\n{root}\n")),
        ("hex size", format!("o\n0x1\n{root}\n")),
        (
            "size overflow",
            format!("o\n18446744073709551616\n{root}\n"),
        ),
        (
            "31-byte root",
            format!("o\n1\n{}\n", BASE64.encode([7u8; 31])),
        ),
        (
            "33-byte root",
            format!("o\n1\n{}\n", BASE64.encode([7u8; 33])),
        ),
        (
            "unpadded root",
            "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\n".to_owned(),
        ),
        (
            "non-canonical trailing bits",
            "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=\n".to_owned(),
        ),
        (
            "url-safe alphabet",
            "o\n1\n47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=\n".to_owned(),
        ),
        ("empty extension", format!("o\n1\n{root}\n\next\n")),
        ("trailing empty line", format!("o\n1\n{root}\n\n")),
        ("control character", format!("o\r\n1\n{root}\n")),
    ];
    for (why, text) in bad {
        assert!(
            is_cp_err(Checkpoint::parse(&text)),
            "{why}: {:?}",
            Checkpoint::parse(&text)
        );
    }
}

#[test]
fn sign_and_open_round_trip() {
    let s = signer(ORIGIN, "log");
    let c = cp(77);
    let signed = sign_checkpoint(&c, &s).unwrap();
    assert_eq!(signed.checkpoint, c);
    assert!(
        signed
            .note
            .starts_with(&format!("{}\n\u{2014} {ORIGIN} ", c.to_text()))
    );
    assert_eq!(signed.note.matches("\n\n").count(), 1);
    let opened = open_checkpoint(signed.note.as_bytes(), ORIGIN, &s.verifier()).unwrap();
    assert_eq!(opened, signed);
}

#[test]
fn open_rejections() {
    let s = signer(ORIGIN, "log");
    let signed = sign_checkpoint(&cp(5), &s).unwrap();
    let note = signed.note.as_bytes();

    // Origin mismatch.
    assert!(is_cp_err(open_checkpoint(
        note,
        "other.example.com",
        &s.verifier()
    )));
    // Wrong key under the right name: the key ID differs, so nothing verifies.
    let other = signer(ORIGIN, "other");
    assert_eq!(
        open_checkpoint(note, ORIGIN, &other.verifier()),
        Err(TlogError::UnverifiedNote)
    );
    // Tampered size ("5" → "6").
    let tampered = signed.note.replacen("\n5\n", "\n6\n", 1);
    assert!(matches!(
        open_checkpoint(tampered.as_bytes(), ORIGIN, &s.verifier()),
        Err(TlogError::Note(_))
    ));
    // A validly signed note whose text is not a checkpoint.
    let not_cp = sign_note("hello\n", &[&s]).unwrap();
    assert!(is_cp_err(open_checkpoint(
        not_cp.as_bytes(),
        ORIGIN,
        &s.verifier()
    )));
}

#[test]
fn sign_rejects_unrepresentable_checkpoints() {
    let s = signer(ORIGIN, "log");
    let mut bad = vec![];
    for f in [
        |c: &mut Checkpoint| c.origin.clear(),
        |c: &mut Checkpoint| c.origin.push_str("\n2"),
        |c: &mut Checkpoint| c.origin.push('\t'),
        |c: &mut Checkpoint| c.extensions.push(String::new()),
        |c: &mut Checkpoint| c.extensions.push("a\nb".into()),
        |c: &mut Checkpoint| c.extensions.push("a\n".into()),
    ] {
        let mut c = cp(3);
        f(&mut c);
        bad.push(c);
    }
    for c in bad {
        assert!(is_cp_err(sign_checkpoint(&c, &s)), "{c:?}");
    }
}

/// Vectors of real public-good Sigstore data, shared with the rest of the project.
fn vector(name: &str) -> serde_json::Value {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/vectors/sigstore-public/"
    );
    let text = std::fs::read_to_string(format!("{dir}{name}")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn b64(v: &serde_json::Value) -> Vec<u8> {
    BASE64.decode(v.as_str().unwrap()).unwrap()
}

/// A checkpoint produced by the production Rekor v1 (rekor.sigstore.dev) opens with the
/// rekor.sigstore.dev key from the public-good trusted root, and its key ID is the
/// first four bytes of that log's logId.
#[test]
fn real_rekor_checkpoint() {
    let bundle = vector("github-signed.whl.sigstore");
    let entry = &bundle["verificationMaterial"]["tlogEntries"][0];
    let proof = &entry["inclusionProof"];
    let envelope = proof["checkpoint"]["envelope"].as_str().unwrap();

    let root = vector("trusted_root.public-good.json");
    let tlog = root["tlogs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["baseUrl"] == "https://rekor.sigstore.dev")
        .unwrap();
    let spki = b64(&tlog["publicKey"]["rawBytes"]);
    let log_id = b64(&tlog["logId"]["keyId"]);
    assert_eq!(log_id, Sha256::digest(&spki).to_vec());
    assert_eq!(b64(&entry["logId"]["keyId"]), log_id);

    let v = EcdsaNoteVerifier::from_spki_der("rekor.sigstore.dev", &spki).unwrap();
    assert_eq!(v.key_id().to_be_bytes(), log_id[..4]);

    let origin = envelope.split('\n').next().unwrap();
    assert!(origin.starts_with("rekor.sigstore.dev - "));
    let signed = open_checkpoint(envelope.as_bytes(), origin, &v).unwrap();
    assert_eq!(signed.note, envelope);
    assert_eq!(
        signed.checkpoint.size,
        proof["treeSize"].as_str().unwrap().parse::<u64>().unwrap()
    );
    assert_eq!(signed.checkpoint.root.0.to_vec(), b64(&proof["rootHash"]));
    assert!(signed.checkpoint.extensions.is_empty());
    // Our own serialisation reproduces Rekor's text exactly.
    let note = Note::parse(envelope.as_bytes()).unwrap();
    assert_eq!(signed.checkpoint.to_text(), note.text());
    assert_eq!(note.signatures()[0].key_id, v.key_id());

    // A flipped bit in the real signature or text is caught.
    let mut bad = envelope.as_bytes().to_vec();
    bad[origin.len() + 1] ^= 0x01; // first digit of the size
    assert!(open_checkpoint(&bad, origin, &v).is_err());

    // The staging log's checkpoint (sigstage key, not in this trusted root) parses but
    // does not open: its signature is under an unknown key and is ignored.
    let staging = vector("email-signed.txt.sigstore");
    let staging_env = staging["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
        ["checkpoint"]["envelope"]
        .as_str()
        .unwrap();
    let staging_note = Note::parse(staging_env.as_bytes()).unwrap();
    assert_eq!(staging_note.signatures()[0].name, "rekor.sigstage.dev");
    let staging_origin = staging_env.split('\n').next().unwrap();
    assert_eq!(
        open_checkpoint(staging_env.as_bytes(), staging_origin, &v),
        Err(TlogError::UnverifiedNote)
    );

    // Append the staging signature line to the production note: the unknown signature is
    // ignored and the production one still verifies.
    let staging_line = &staging_env[staging_env.rfind("\n\n").unwrap() + 2..];
    let both = format!("{envelope}{staging_line}");
    let opened = open_checkpoint(both.as_bytes(), origin, &v).unwrap();
    assert_eq!(opened.checkpoint, signed.checkpoint);
    assert_eq!(opened.note, both);
}

proptest! {
    #[test]
    fn text_round_trip(
        origin in "[a-zA-Z0-9 .:/_-]{1,40}",
        size in any::<u64>(),
        root in any::<[u8; 32]>(),
        extensions in prop::collection::vec("[ -~]{1,20}", 0..3),
    ) {
        let c = Checkpoint { origin, size, root: Hash(root), extensions };
        prop_assert_eq!(Checkpoint::parse(&c.to_text()).unwrap(), c);
    }

    #[test]
    fn parse_never_panics(text in "\\PC*") {
        if let Ok(c) = Checkpoint::parse(&text) {
            prop_assert_eq!(c.to_text(), text);
        }
    }
}

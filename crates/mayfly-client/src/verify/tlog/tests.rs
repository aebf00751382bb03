//! The tlog checks on a one-entry log built here: a P-256 log key, its checkpoint and SET.

use super::*;
use mayfly_spec::sigstore::trusted_root::Validity;
use mayfly_spec::tlog::checkpoint::sign_checkpoint;
use mayfly_spec::tlog::note::{EcdsaNoteSigner, sign_note};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::EncodePublicKey as _;
use sha2::{Digest as _, Sha256};

struct Fixture {
    log: Log,
    entry: TlogEntry,
    key: SigningKey,
}

fn fixture() -> Fixture {
    let key = SigningKey::from_slice(&Sha256::digest(b"tlog test key"))
        .unwrap_or_else(|_| unreachable!());
    let spki = key
        .verifying_key()
        .to_public_key_der()
        .map(|d| d.as_bytes().to_vec())
        .unwrap_or_default();
    let log_id: [u8; 32] = Sha256::digest(&spki).into();
    let body = br#"{"kind":"dsse"}"#.to_vec();
    let root = leaf_hash(&body);
    let cp = Checkpoint {
        origin: "log.example - 1".into(),
        size: 1,
        root,
        extensions: vec![],
    };
    let signer =
        EcdsaNoteSigner::new("log.example", key.clone()).unwrap_or_else(|_| unreachable!());
    let note = sign_checkpoint(&cp, &signer)
        .map(|s| s.note)
        .unwrap_or_default();
    let mut entry = TlogEntry {
        log_index: 0,
        log_id,
        kind: "dsse".into(),
        version: "0.0.1".into(),
        integrated_time: 1_700_000_000,
        set: None,
        proof: Some(Proof {
            log_index: 0,
            root_hash: root.0,
            tree_size: 1,
            hashes: vec![],
            checkpoint: note,
        }),
        body,
    };
    let payload = set_payload(&Integrated {
        body: &entry.body,
        integrated_time: entry.integrated_time,
        log_id: Hash(log_id),
        log_index: 0,
    })
    .unwrap_or_default();
    let sig: DerSignature = key.sign(&payload);
    entry.set = Some(sig.as_bytes().to_vec());
    let log = Log {
        base_url: "https://log.example".into(),
        log_id,
        spki,
        key_details: "PKIX_ECDSA_P256_SHA_256".into(),
        valid_for: Validity {
            start: 0,
            end: None,
        },
    };
    Fixture { log, entry, key }
}

fn proof(f: &Fixture) -> Proof {
    f.entry.proof.clone().unwrap_or_else(|| unreachable!())
}

#[test]
fn good_set_and_proof_verify() {
    let f = fixture();
    assert_eq!(
        select_log(
            std::slice::from_ref(&f.log),
            &f.entry,
            f.entry.integrated_time
        )
        .map(|l| l.log_id),
        Ok(f.log.log_id)
    );
    assert_eq!(
        verify_set(&f.log, &f.entry, f.entry.set.as_deref().unwrap_or_default()),
        Ok(())
    );
    assert_eq!(verify_proof(&f.log, &f.entry, &proof(&f)), Ok(()));
}

/// `validFor` ends are inclusive: a key whose window ends exactly at the time still counts.
#[test]
fn log_valid_until_exactly_the_time_is_selected() {
    let mut f = fixture();
    let t = f.entry.integrated_time;
    f.log.valid_for = Validity {
        start: t,
        end: Some(t),
    };
    assert!(select_log(std::slice::from_ref(&f.log), &f.entry, t).is_ok());
    assert!(select_log(std::slice::from_ref(&f.log), &f.entry, t + 1).is_err());
    assert!(select_log(std::slice::from_ref(&f.log), &f.entry, t - 1).is_err());
}

#[test]
fn unknown_or_expired_log_is_refused() {
    let mut f = fixture();
    f.log.valid_for = Validity {
        start: 0,
        end: Some(f.entry.integrated_time - 1),
    };
    assert!(matches!(
        select_log(&[f.log], &f.entry, f.entry.integrated_time),
        Err(VerifyError::UnknownTlog(_))
    ));
}

#[test]
fn set_over_other_facts_is_refused() {
    let mut f = fixture();
    let set = f.entry.set.clone().unwrap_or_default();
    f.entry.log_index = 1;
    assert!(matches!(
        verify_set(&f.log, &f.entry, &set),
        Err(VerifyError::Set(_))
    ));
}

#[test]
fn checkpoint_must_be_signed_by_the_log_under_its_name() {
    let f = fixture();
    // Another key, same name: no signature with the log's key hint.
    let other =
        SigningKey::from_slice(&Sha256::digest(b"other")).unwrap_or_else(|_| unreachable!());
    let signer = EcdsaNoteSigner::new("log.example", other).unwrap_or_else(|_| unreachable!());
    let cp = Checkpoint::parse(
        Note::parse(proof(&f).checkpoint.as_bytes())
            .map(|n| n.text().to_owned())
            .unwrap_or_default()
            .as_str(),
    )
    .unwrap_or_else(|_| unreachable!());
    let mut p = proof(&f);
    p.checkpoint = sign_checkpoint(&cp, &signer)
        .map(|s| s.note)
        .unwrap_or_default();
    assert!(matches!(
        verify_proof(&f.log, &f.entry, &p),
        Err(VerifyError::Checkpoint(_))
    ));
    // Right key, a name the log's baseUrl does not contain (sigstore-js's rule).
    let signer =
        EcdsaNoteSigner::new("elsewhere.example", f.key.clone()).unwrap_or_else(|_| unreachable!());
    p.checkpoint = sign_checkpoint(&cp, &signer)
        .map(|s| s.note)
        .unwrap_or_default();
    assert!(matches!(
        verify_proof(&f.log, &f.entry, &p),
        Err(VerifyError::Checkpoint(_))
    ));
}

#[test]
fn proof_must_agree_with_checkpoint_and_leaf() {
    let f = fixture();
    let mut p = proof(&f);
    p.root_hash[0] ^= 1;
    let err = verify_proof(&f.log, &f.entry, &p)
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("inclusion proof: root does not match checkpoint")
    );
    let mut other = f.entry.clone();
    other.body.push(b' ');
    assert!(matches!(
        verify_proof(&f.log, &other, &proof(&f)),
        Err(VerifyError::InclusionProof(_))
    ));
}

/// Witness cosignatures may come before or after the log's own line; the log's line must be
/// there and verify.
#[test]
fn checkpoint_with_cosignatures_needs_the_logs_own() {
    let f = fixture();
    let text = Note::parse(proof(&f).checkpoint.as_bytes())
        .map(|n| n.text().to_owned())
        .unwrap_or_default();
    let witness = |seed: &[u8], name: &str| {
        let key = SigningKey::from_slice(&Sha256::digest(seed)).unwrap_or_else(|_| unreachable!());
        EcdsaNoteSigner::new(name, key).unwrap_or_else(|_| unreachable!())
    };
    let w1 = witness(b"w1", "witness1.example");
    let w2 = witness(b"w2", "witness2.example");
    let log = EcdsaNoteSigner::new("log.example", f.key.clone()).unwrap_or_else(|_| unreachable!());
    let mut p = proof(&f);
    p.checkpoint = sign_note(&text, &[&w1, &log, &w2]).unwrap_or_default();
    assert_eq!(verify_proof(&f.log, &f.entry, &p), Ok(()));
    p.checkpoint = sign_note(&text, &[&w1, &w2]).unwrap_or_default();
    let err = verify_proof(&f.log, &f.entry, &p)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.starts_with("checkpoint: no signature by the log"),
        "{err}"
    );
}

//! Client keys and CSRs as the signing API reads them (`mayfly_spec::subject_key`).
//!
//! Input: a mode byte, then
//! - mode 0: a CSR, PEM or DER (`SubjectKey::from_csr`);
//! - mode 1: a public key, PEM or DER (`SubjectKey::from_pem_or_der`);
//! - mode 2: a proof of possession under one of four fixed keys (P-256, P-384, Ed25519,
//!   RSA-2048): a key-selector byte, a challenge-length byte, the challenge, the signature.
//!
//! Beyond "no panic": an accepted key's canonical SPKI, as DER and as PEM, reads back as the
//! same key (the certificate embeds it, so it must be a fixed point), and an empty signature
//! never proves possession.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mayfly_spec::pem;
use mayfly_spec::subject_key::SubjectKey;
use std::sync::LazyLock;

static KEYS: LazyLock<Vec<SubjectKey>> = LazyLock::new(|| {
    [
        &include_bytes!("../fixtures/p256.pub.pem")[..],
        &include_bytes!("../fixtures/p384.pub.pem")[..],
        &include_bytes!("../fixtures/ed25519.pub.pem")[..],
        &include_bytes!("../fixtures/rsa2048.pub.pem")[..],
    ]
    .iter()
    .map(|pem| SubjectKey::from_pem_or_der(pem).expect("fixture key"))
    .collect()
});

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let key = match mode % 3 {
        0 => SubjectKey::from_csr(rest),
        1 => SubjectKey::from_pem_or_der(rest),
        _ => {
            possession(rest);
            return;
        }
    };
    let key = match key {
        Ok(key) => key,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let again = SubjectKey::from_pem_or_der(key.spki_der()).expect("canonical SPKI re-reads");
    assert_eq!(again, key);
    let text = pem::encode("PUBLIC KEY", key.spki_der());
    let again = SubjectKey::from_pem_or_der(text.as_bytes()).expect("canonical PEM re-reads");
    assert_eq!(again, key);
    assert!(key.verify_possession(b"challenge", b"").is_err());
});

fn possession(input: &[u8]) {
    let [selector, challenge_len, rest @ ..] = input else {
        return;
    };
    let key = &KEYS[usize::from(*selector) % KEYS.len()];
    let (challenge, signature) = rest.split_at(rest.len().min(usize::from(*challenge_len)));
    if let Err(e) = key.verify_possession(challenge, signature) {
        let _ = e.to_string();
    }
}

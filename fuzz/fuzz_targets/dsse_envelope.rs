//! DSSE envelopes (`mayfly_spec::rekor::Envelope::parse`), the JSON a dsse entry carries as a
//! string.
//!
//! Beyond "no panic": every signature's bytes are its text, decoded; the envelope written back
//! in canonical form (standard base64) parses to the same envelope; the same envelope with a
//! repeated key is refused (as every Rekor body with one is, since issue 11); PAE is the spec's
//! framing of the payload.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use mayfly_spec::rekor::{Envelope, pae};
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let envelope = match Envelope::parse("envelope", text) {
        Ok(envelope) => envelope,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    assert!(!envelope.signatures.is_empty());
    for s in &envelope.signatures {
        assert!(!s.sig_text.is_empty());
        assert!(!s.sig.is_empty() || s.sig_text.chars().all(|c| c == '='));
    }
    let framed = envelope.pae();
    assert_eq!(framed, pae(&envelope.payload_type, &envelope.payload));
    assert!(framed.ends_with(&envelope.payload));

    let canonical = json!({
        "payloadType": &*envelope.payload_type,
        "payload": STANDARD.encode(&envelope.payload),
        "signatures": envelope.signatures.iter()
            .map(|s| json!({"sig": STANDARD.encode(&s.sig)}))
            .collect::<Vec<Value>>(),
    })
    .to_string();
    let typed = Envelope::parse("envelope", &canonical).expect("the canonical form parses");
    assert_same(&typed, &envelope);

    let repeated = format!(
        "{},\"payloadType\":{}}}",
        &canonical[..canonical.len() - 1],
        Value::String(envelope.payload_type.to_string())
    );
    assert!(
        Envelope::parse("envelope", &repeated).is_err(),
        "a repeated key is refused"
    );
});

/// Same payload type, payload and signature bytes (the signature text may differ in alphabet or
/// padding).
fn assert_same(a: &Envelope<'_>, b: &Envelope<'_>) {
    assert_eq!(a.payload_type, b.payload_type);
    assert_eq!(a.payload, b.payload);
    assert_eq!(a.signatures.len(), b.signatures.len());
    for (x, y) in a.signatures.iter().zip(&b.signatures) {
        assert_eq!(x.sig, y.sig);
    }
}

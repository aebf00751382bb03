//! dsse 0.0.1: a DSSE envelope (sent as a JSON *string*) and the keys that verify it.
//!
//! Rules, as Rekor applies them: the client sends only `proposedContent`; every envelope
//! signature must verify over the PAE under some verifier, and every verifier must verify at
//! least one signature. The canonical spec keeps no client text but the signatures: the SHA-256
//! of the envelope string as received, the SHA-256 of the payload, and one
//! `{signature, verifier}` per distinct signature, sorted by signature text.

use super::envelope::Envelope;
use super::key::Verifier;
use super::{RekorError, array_field, obj_field, sha256_hex, str_field};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

pub(crate) fn canonical_spec(spec: &Map<String, Value>) -> Result<Value, RekorError> {
    for server_side in ["envelopeHash", "payloadHash", "signatures"] {
        if spec.get(server_side).is_some_and(|v| !v.is_null()) {
            return Err(RekorError::field(
                format!("spec.{server_side}"),
                "is computed by the log; send only spec.proposedContent",
            ));
        }
    }
    let proposed = obj_field(spec, "spec", "proposedContent")?;
    let envelope_text = str_field(proposed, "spec.proposedContent", "envelope")?;
    let envelope = Envelope::parse("spec.proposedContent.envelope", envelope_text)?;
    let verifiers = array_field(proposed, "spec.proposedContent", "verifiers")?
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let at = format!("spec.proposedContent.verifiers[{i}]");
            let text = item
                .as_str()
                .ok_or_else(|| RekorError::field(&at, "must be a string"))?;
            Verifier::from_base64_pem(&at, text)
        })
        .collect::<Result<Vec<_>, _>>()?;

    let pae = envelope.pae();
    // Keyed by signature text: a repeated signature is one entry, and the map's order is the
    // byte order of the text, which is the canonical order.
    let mut by_signature: BTreeMap<&str, &Verifier> = BTreeMap::new();
    let mut used = vec![false; verifiers.len()];
    for (i, signature) in envelope.signatures.iter().enumerate() {
        let mut found = None;
        for (j, verifier) in verifiers.iter().enumerate() {
            if verifier.verify_message(&pae, &signature.sig) {
                used[j] = true;
                // The last verifier that accepts wins, as in Rekor.
                found = Some(verifier);
            }
        }
        let verifier = found.ok_or_else(|| {
            RekorError::Signature(format!(
                "spec.proposedContent.envelope.signatures[{i}] does not verify over the DSSE \
                 PAE with any of spec.proposedContent.verifiers"
            ))
        })?;
        by_signature.insert(&signature.sig_text, verifier);
    }
    if let Some(unused) = used.iter().position(|u| !u) {
        return Err(RekorError::Signature(format!(
            "spec.proposedContent.verifiers[{unused}] verifies none of the envelope's signatures"
        )));
    }

    let signatures: Vec<Value> = by_signature
        .into_iter()
        .map(|(sig, verifier)| {
            json!({
                "signature": sig,
                "verifier": super::encode_base64(verifier.canonical_pem().as_bytes()),
            })
        })
        .collect();
    Ok(json!({
        "envelopeHash": {"algorithm": "sha256", "value": sha256_hex(envelope_text.as_bytes())},
        "payloadHash": {"algorithm": "sha256", "value": sha256_hex(&envelope.payload)},
        "signatures": signatures,
    }))
}

//! dsse 0.0.1: a DSSE envelope (sent as a JSON *string*) and the keys that verify it.
//!
//! Rules, as Rekor applies them: the client sends only `proposedContent`; every envelope
//! signature must verify over the PAE under some verifier, and every verifier must verify at
//! least one signature. The canonical spec keeps no client text but the signatures: the SHA-256
//! of the envelope string as received, the SHA-256 of the payload, and one
//! `{signature, verifier}` per distinct signature, sorted by signature text.

use super::envelope::Envelope;
use super::key::Verifier;
use super::{
    Canonical, Kind, RekorError, Text, TypedSpec, array_field, json, obj_field, sha256, str_field,
};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;

const ENVELOPE_AT: &str = "spec.proposedContent.envelope";

/// `spec.proposedContent` in the typed reading (see [`super::canonicalize`]).
#[derive(Deserialize)]
pub(super) struct ProposedContent<'a> {
    #[serde(borrow)]
    envelope: Cow<'a, str>,
    #[serde(borrow)]
    verifiers: Vec<Text<'a>>,
}

fn verifier_at(i: usize) -> String {
    format!("spec.proposedContent.verifiers[{i}]")
}

/// The typed reading: the same steps as [`canonical`] once the shape is known to fit; `None`
/// where it does not, for [`canonical`] to name the field.
pub(super) fn canonical_typed(spec: &TypedSpec<'_>) -> Option<Result<Canonical, RekorError>> {
    let proposed = spec.proposed_content.as_ref()?;
    let server_side = [&spec.envelope_hash, &spec.payload_hash, &spec.signatures];
    if server_side.iter().any(|field| field.is_some()) || proposed.verifiers.is_empty() {
        return None;
    }
    let verified = Envelope::parse(ENVELOPE_AT, &proposed.envelope).and_then(|envelope| {
        let verifiers = proposed
            .verifiers
            .iter()
            .enumerate()
            .map(|(i, text)| Verifier::from_base64_pem(&verifier_at(i), &text.0))
            .collect::<Result<Vec<_>, _>>()?;
        verify_and_write(&proposed.envelope, &envelope, &verifiers)
    });
    Some(verified)
}

pub(crate) fn canonical(spec: &Map<String, Value>) -> Result<Canonical, RekorError> {
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
    let envelope = Envelope::parse(ENVELOPE_AT, envelope_text)?;
    let verifiers = array_field(proposed, "spec.proposedContent", "verifiers")?
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let at = verifier_at(i);
            let text = item
                .as_str()
                .ok_or_else(|| RekorError::field(&at, "must be a string"))?;
            Verifier::from_base64_pem(&at, text)
        })
        .collect::<Result<Vec<_>, _>>()?;
    verify_and_write(envelope_text, &envelope, &verifiers)
}

fn verify_and_write(
    envelope_text: &str,
    envelope: &Envelope<'_>,
    verifiers: &[Verifier],
) -> Result<Canonical, RekorError> {
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

    let envelope_hash = sha256(envelope_text.as_bytes());
    let payload_hash = sha256(&envelope.payload);
    let capacity = 256
        + by_signature
            .iter()
            .map(|(sig, v)| sig.len() + v.canonical_pem_base64().len() + 32)
            .sum::<usize>();
    Ok(Canonical::new(Kind::Dsse, capacity, |out| {
        let mut spec = json::Object::open(out);
        json::sha256_object(spec.key("envelopeHash"), envelope_hash.as_ref());
        json::sha256_object(spec.key("payloadHash"), payload_hash.as_ref());
        json::array(
            spec.key("signatures"),
            &by_signature,
            |out, (sig, verifier)| {
                let mut item = json::Object::open(out);
                json::str_member(&mut item, "signature", sig);
                json::str_member(&mut item, "verifier", verifier.canonical_pem_base64());
                item.close();
            },
        );
        spec.close();
    }))
}

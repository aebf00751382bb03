//! dsse 0.0.1: a DSSE envelope (sent as a JSON *string*) and the keys that verify it.
//!
//! Rules, as Rekor applies them: the client sends only `proposedContent`; every envelope
//! signature must verify over the PAE under some verifier, and every verifier must verify at
//! least one signature. Real clients send one of each. The work is bounded: at most
//! [`MAX_SIGNATURES`] signatures and as many verifiers, counted before anything is parsed, and
//! each distinct signature is checked at most once per distinct verifier. The canonical spec keeps no client text but the signatures: the SHA-256
//! of the envelope string as received, the SHA-256 of the payload, and one
//! `{signature, verifier}` per distinct signature, sorted by signature text.

use super::envelope::Envelope;
use super::key::Verifier;
use super::{
    Canonical, Check, Kind, RekorError, Text, TypedSpec, array_field, check_count, json, obj_field,
    sha256, str_field,
};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;

const ENVELOPE_AT: &str = "spec.proposedContent.envelope";
const SIGNATURES_AT: &str = "spec.proposedContent.envelope.signatures";
const VERIFIERS_AT: &str = "spec.proposedContent.verifiers";

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
/// `None` also when the entry asks for more than `max_checks` signature checks (signatures ×
/// verifiers), which the caller then runs where long work is expected.
pub(super) fn canonical_typed(
    spec: &TypedSpec<'_>,
    max_checks: usize,
) -> Option<Result<Canonical, RekorError>> {
    let proposed = spec.proposed_content.as_ref()?;
    let server_side = [&spec.envelope_hash, &spec.payload_hash, &spec.signatures];
    if server_side.iter().any(|field| field.is_some()) || proposed.verifiers.is_empty() {
        return None;
    }
    if let Err(e) = check_count(VERIFIERS_AT, proposed.verifiers.len()) {
        return Some(Err(e));
    }
    let envelope = match Envelope::parse(ENVELOPE_AT, &proposed.envelope) {
        Ok(envelope) => envelope,
        Err(e) => return Some(Err(e)),
    };
    if envelope.signatures.len() * proposed.verifiers.len() > max_checks {
        return None;
    }
    let verified = proposed
        .verifiers
        .iter()
        .enumerate()
        .map(|(i, text)| Verifier::from_base64_pem(&verifier_at(i), &text.0))
        .collect::<Result<Vec<_>, _>>()
        .and_then(|verifiers| {
            verify_and_write(&proposed.envelope, &envelope, &verifiers, Check::Signatures)
        });
    Some(verified)
}

pub(crate) fn canonical(spec: &Map<String, Value>, check: Check) -> Result<Canonical, RekorError> {
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
    let verifiers = array_field(proposed, "spec.proposedContent", "verifiers")?;
    check_count(VERIFIERS_AT, verifiers.len())?;
    let envelope = Envelope::parse(ENVELOPE_AT, envelope_text)?;
    let verifiers = verifiers
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
    verify_and_write(envelope_text, &envelope, &verifiers, check)
}

fn verify_and_write(
    envelope_text: &str,
    envelope: &Envelope<'_>,
    verifiers: &[Verifier],
    check: Check,
) -> Result<Canonical, RekorError> {
    check_count(SIGNATURES_AT, envelope.signatures.len())?;
    let by_signature = match check {
        Check::Signatures => match_signatures(envelope, verifiers)?,
        // Without verifying, a signature's verifier is known only when there is one.
        Check::ShapeOnly => match verifiers {
            [only] => envelope
                .signatures
                .iter()
                .map(|s| (&*s.sig_text, only))
                .collect(),
            _ => {
                return Err(RekorError::Unsupported(
                    "a dsse entry with several verifiers can only be looked up by UUID or log \
                     index"
                        .into(),
                ));
            }
        },
    };

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

/// Which verifier each signature is filed under, keyed by signature text (a repeated
/// signature is one entry, and the map's order is the canonical order). Every signature must
/// verify under some verifier and every verifier must verify one; the last verifier that
/// accepts wins, as in Rekor. Identical signatures and identical verifiers are checked once,
/// so the work is at most distinct signatures × distinct verifiers.
fn match_signatures<'e, 'v>(
    envelope: &'e Envelope<'_>,
    verifiers: &'v [Verifier],
) -> Result<BTreeMap<&'e str, &'v Verifier>, RekorError> {
    let pae = envelope.pae();
    // Each verifier's first identical copy; copies share its outcome and its canonical text.
    let first_copy: Vec<usize> = (0..verifiers.len())
        .map(|j| {
            (0..j)
                .find(|&k| {
                    verifiers[k].canonical_pem_base64() == verifiers[j].canonical_pem_base64()
                })
                .unwrap_or(j)
        })
        .collect();
    let distinct: Vec<usize> = (0..verifiers.len())
        .filter(|&j| first_copy[j] == j)
        .collect();
    // For each distinct signature, the distinct verifiers that accept it.
    let mut accepting: BTreeMap<&[u8], Vec<usize>> = BTreeMap::new();
    let mut by_signature: BTreeMap<&str, &Verifier> = BTreeMap::new();
    for (i, signature) in envelope.signatures.iter().enumerate() {
        let accepted = accepting.entry(&signature.sig).or_insert_with(|| {
            distinct
                .iter()
                .copied()
                .filter(|&d| verifiers[d].verify_message(&pae, &signature.sig))
                .collect()
        });
        let last = accepted.last().copied().ok_or_else(|| {
            RekorError::Signature(format!(
                "spec.proposedContent.envelope.signatures[{i}] does not verify over the DSSE \
                 PAE with any of spec.proposedContent.verifiers"
            ))
        })?;
        by_signature.insert(&signature.sig_text, &verifiers[last]);
    }
    let used = |j: usize| accepting.values().any(|a| a.contains(&first_copy[j]));
    if let Some(unused) = (0..verifiers.len()).find(|&j| !used(j)) {
        return Err(RekorError::Signature(format!(
            "spec.proposedContent.verifiers[{unused}] verifies none of the envelope's signatures"
        )));
    }
    Ok(by_signature)
}

//! intoto 0.0.2: a DSSE envelope spelled out field by field, each signature with its key, and
//! the client's hash of the envelope (what `@sigstore/cli attest` and legacy sigstore-js send).
//!
//! Byte fields are base64 of the envelope's own base64 text (Rekor's `strfmt.Base64` over DSSE
//! strings), so `payload` and `sig` are decoded twice. The canonical spec drops `payload`,
//! replaces `payloadHash` with the server's SHA-256 of the payload, keeps the client's `hash`
//! (Rekor cannot recompute it: clients serialize the envelope differently) and re-encodes each
//! signature's key as canonical PEM (Rekor's fix for sigstore/rekor#1170). Signatures keep the
//! client's order; `keyid` appears only when non-empty.

use super::envelope::{decode_dsse_base64, pae};
use super::key::Verifier;
use super::{
    Canonical, Check, Kind, RekorError, array_field, as_object, check_count, check_hex,
    decode_base64, json, nonempty_str_field, obj_field, sha256, str_field,
};
use serde_json::{Map, Value};

/// One verified signature as the body stores it.
struct Signed<'a> {
    keyid: &'a str,
    verifier: Verifier,
    /// The `sig` field as sent, which decoded strictly: its canonical base64.
    sig: &'a str,
}

pub(crate) fn canonical(spec: &Map<String, Value>, check: Check) -> Result<Canonical, RekorError> {
    let content = obj_field(spec, "spec", "content")?;
    let hash = obj_field(content, "spec.content", "hash")?;
    let algorithm = str_field(hash, "spec.content.hash", "algorithm")?;
    if algorithm != "sha256" {
        return Err(RekorError::field(
            "spec.content.hash.algorithm",
            "must be sha256",
        ));
    }
    let hash_value = str_field(hash, "spec.content.hash", "value")?;
    check_hex("spec.content.hash.value", hash_value, 32)?;

    let env_at = "spec.content.envelope";
    let envelope = obj_field(content, "spec.content", "envelope")?;
    let payload_type = nonempty_str_field(envelope, env_at, "payloadType")?;
    let payload_b64 = decode_base64(
        "spec.content.envelope.payload",
        nonempty_str_field(envelope, env_at, "payload")?,
    )?;
    let payload_text = std::str::from_utf8(&payload_b64).map_err(|_| RekorError::Base64 {
        field: "spec.content.envelope.payload (inner)".into(),
    })?;
    let payload = decode_dsse_base64("spec.content.envelope.payload (inner)", payload_text)?;
    let message = pae(payload_type, &payload);

    let signatures = array_field(envelope, env_at, "signatures")?;
    check_count("spec.content.envelope.signatures", signatures.len())?;
    let signatures = signatures
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let at = format!("{env_at}.signatures[{i}]");
            let obj = as_object(item, &at)?;
            let sig_field = nonempty_str_field(obj, &at, "sig")?;
            let sig_b64 = decode_base64(&format!("{at}.sig"), sig_field)?;
            let inner_at = format!("{at}.sig (inner)");
            let sig_text = std::str::from_utf8(&sig_b64).map_err(|_| RekorError::Base64 {
                field: inner_at.clone(),
            })?;
            let sig = decode_dsse_base64(&inner_at, sig_text)?;
            let verifier = Verifier::from_base64_pem(
                &format!("{at}.publicKey"),
                nonempty_str_field(obj, &at, "publicKey")?,
            )?;
            // Stricter than Rekor's any-key rule: each signature must verify under the key
            // sent beside it, which is how every client builds the entry.
            if check == Check::Signatures && !verifier.verify_message(&message, &sig) {
                return Err(RekorError::Signature(format!(
                    "{at} does not verify over the DSSE PAE with its publicKey"
                )));
            }
            let keyid = match obj.get("keyid") {
                None | Some(Value::Null) => "",
                Some(Value::String(s)) => s.as_str(),
                Some(_) => {
                    return Err(RekorError::field(format!("{at}.keyid"), "must be a string"));
                }
            };
            Ok(Signed {
                keyid,
                verifier,
                sig: sig_field,
            })
        })
        .collect::<Result<Vec<_>, RekorError>>()?;

    let payload_hash = sha256(&payload);
    let capacity = 512
        + payload_type.len()
        + signatures
            .iter()
            .map(|s| s.keyid.len() + s.sig.len() + s.verifier.canonical_pem_base64().len() + 48)
            .sum::<usize>();
    Ok(Canonical::new(Kind::Intoto, capacity, |out| {
        let mut spec = json::Object::open(out);
        let mut content = json::Object::open(spec.key("content"));
        let mut envelope = json::Object::open(content.key("envelope"));
        json::str_member(&mut envelope, "payloadType", payload_type);
        json::array(envelope.key("signatures"), &signatures, |out, signed| {
            let mut item = json::Object::open(out);
            if !signed.keyid.is_empty() {
                json::str_member(&mut item, "keyid", signed.keyid);
            }
            json::str_member(
                &mut item,
                "publicKey",
                signed.verifier.canonical_pem_base64(),
            );
            json::str_member(&mut item, "sig", signed.sig);
            item.close();
        });
        envelope.close();
        let mut hash = json::Object::open(content.key("hash"));
        json::str_member(&mut hash, "algorithm", "sha256");
        json::str_member(&mut hash, "value", hash_value);
        hash.close();
        json::sha256_object(content.key("payloadHash"), payload_hash.as_ref());
        content.close();
        spec.close();
    }))
}

//! hashedrekord 0.0.1: a signature over a digest the client computed, with the signer's key.
//!
//! Canonical spec: `data.hash` {algorithm, value}, `signature.content` (re-encoded base64 of the
//! signature bytes), `signature.publicKey.content` (base64 of the canonical PEM).

use super::key::{DigestAlg, Verifier};
use super::{
    RekorError, check_hex, decode_base64, encode_base64, nonempty_str_field, obj_field, str_field,
};
use serde_json::{Map, Value, json};

pub(crate) fn canonical_spec(spec: &Map<String, Value>) -> Result<Value, RekorError> {
    let hash = obj_field(obj_field(spec, "spec", "data")?, "spec.data", "hash")?;
    let algorithm_name = str_field(hash, "spec.data.hash", "algorithm")?;
    let algorithm = DigestAlg::parse(algorithm_name).ok_or_else(|| {
        RekorError::field(
            "spec.data.hash.algorithm",
            format!("{algorithm_name:?} is not one of sha256, sha384, sha512"),
        )
    })?;
    let value = str_field(hash, "spec.data.hash", "value")?;
    check_hex("spec.data.hash.value", value, algorithm.digest_len())?;
    // check_hex guarantees valid hex; decoding cannot fail, but never unwrap attacker bytes.
    let digest =
        hex::decode(value).map_err(|_| RekorError::field("spec.data.hash.value", "not hex"))?;

    let signature = obj_field(spec, "spec", "signature")?;
    let sig = decode_base64(
        "spec.signature.content",
        nonempty_str_field(signature, "spec.signature", "content")?,
    )?;
    let public_key = obj_field(signature, "spec.signature", "publicKey")?;
    let verifier = Verifier::from_base64_pem(
        "spec.signature.publicKey.content",
        nonempty_str_field(public_key, "spec.signature.publicKey", "content")?,
    )?;
    verifier.verify_prehashed(algorithm, &digest, &sig)?;

    Ok(json!({
        "data": {"hash": {"algorithm": algorithm.name(), "value": value}},
        "signature": {
            "content": encode_base64(&sig),
            "publicKey": {"content": encode_base64(verifier.canonical_pem().as_bytes())},
        },
    }))
}

//! hashedrekord 0.0.1: a signature over a digest the client computed, with the signer's key.
//!
//! Canonical spec: `data.hash` {algorithm, value}, `signature.content` (canonical base64 of the
//! signature bytes), `signature.publicKey.content` (base64 of the canonical PEM).

use super::key::{DigestAlg, Verifier};
use super::{
    Canonical, Check, Kind, RekorError, TypedSpec, check_hex, decode_base64, json,
    nonempty_str_field, obj_field, str_field,
};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::borrow::Cow;

const SIGNATURE_AT: &str = "spec.signature.content";
const KEY_AT: &str = "spec.signature.publicKey.content";

/// `spec.data` in the typed reading (see [`super::canonicalize`]).
#[derive(Deserialize)]
pub(super) struct Data<'a> {
    #[serde(borrow)]
    hash: Hash<'a>,
}

#[derive(Deserialize)]
struct Hash<'a> {
    #[serde(borrow)]
    algorithm: Cow<'a, str>,
    #[serde(borrow)]
    value: Cow<'a, str>,
}

/// `spec.signature` in the typed reading.
#[derive(Deserialize)]
pub(super) struct Signature<'a> {
    #[serde(borrow)]
    content: Cow<'a, str>,
    #[serde(rename = "publicKey", borrow)]
    public_key: PublicKey<'a>,
}

#[derive(Deserialize)]
struct PublicKey<'a> {
    #[serde(borrow)]
    content: Cow<'a, str>,
}

/// The typed reading: the same checks as [`canonical`], in the same order, once the shape is
/// known to fit; `None` where it does not, for [`canonical`] to name the field.
pub(super) fn canonical_typed(spec: &TypedSpec<'_>) -> Option<Result<Canonical, RekorError>> {
    let (hash, signature) = (&spec.data.as_ref()?.hash, spec.signature.as_ref()?);
    if signature.content.is_empty() || signature.public_key.content.is_empty() {
        return None;
    }
    Some(check_typed(hash, signature))
}

fn check_typed(hash: &Hash<'_>, signature: &Signature<'_>) -> Result<Canonical, RekorError> {
    let check = Check::Signatures;
    let algorithm = algorithm(&hash.algorithm)?;
    let digest = digest(algorithm, &hash.value)?;
    let sig = decode_base64(SIGNATURE_AT, &signature.content)?;
    let verifier = Verifier::from_base64_pem(KEY_AT, &signature.public_key.content)?;
    verify_and_write(
        algorithm,
        &hash.value,
        &digest,
        &signature.content,
        &sig,
        &verifier,
        check,
    )
}

pub(crate) fn canonical(spec: &Map<String, Value>, check: Check) -> Result<Canonical, RekorError> {
    let hash = obj_field(obj_field(spec, "spec", "data")?, "spec.data", "hash")?;
    let algorithm = algorithm(str_field(hash, "spec.data.hash", "algorithm")?)?;
    let value = str_field(hash, "spec.data.hash", "value")?;
    let digest = digest(algorithm, value)?;

    let signature = obj_field(spec, "spec", "signature")?;
    let content = nonempty_str_field(signature, "spec.signature", "content")?;
    let sig = decode_base64(SIGNATURE_AT, content)?;
    let public_key = obj_field(signature, "spec.signature", "publicKey")?;
    let verifier = Verifier::from_base64_pem(
        KEY_AT,
        nonempty_str_field(public_key, "spec.signature.publicKey", "content")?,
    )?;
    verify_and_write(algorithm, value, &digest, content, &sig, &verifier, check)
}

fn algorithm(name: &str) -> Result<DigestAlg, RekorError> {
    DigestAlg::parse(name).ok_or_else(|| {
        RekorError::field(
            "spec.data.hash.algorithm",
            format!("{name:?} is not one of sha256, sha384, sha512"),
        )
    })
}

fn digest(algorithm: DigestAlg, value: &str) -> Result<Vec<u8>, RekorError> {
    check_hex("spec.data.hash.value", value, algorithm.digest_len())?;
    // check_hex guarantees valid hex; decoding cannot fail, but never unwrap attacker bytes.
    hex::decode(value).map_err(|_| RekorError::field("spec.data.hash.value", "not hex"))
}

/// `value` is the checked lowercase hex of `digest`; `content` is the text `sig` was strictly
/// decoded from, hence its canonical base64.
fn verify_and_write(
    algorithm: DigestAlg,
    value: &str,
    digest: &[u8],
    content: &str,
    sig: &[u8],
    verifier: &Verifier,
    check: Check,
) -> Result<Canonical, RekorError> {
    if check == Check::Signatures {
        verifier.verify_prehashed(algorithm, digest, sig)?;
    }
    let capacity = 160 + value.len() + content.len() + verifier.canonical_pem_base64().len();
    Ok(Canonical::new(Kind::HashedRekord, capacity, |out| {
        let mut spec = json::Object::open(out);
        let mut data = json::Object::open(spec.key("data"));
        let mut hash = json::Object::open(data.key("hash"));
        json::str_member(&mut hash, "algorithm", algorithm.name());
        json::str_member(&mut hash, "value", value);
        hash.close();
        data.close();
        let mut signature = json::Object::open(spec.key("signature"));
        json::str_member(&mut signature, "content", content);
        let mut public_key = json::Object::open(signature.key("publicKey"));
        json::str_member(&mut public_key, "content", verifier.canonical_pem_base64());
        public_key.close();
        signature.close();
        spec.close();
    }))
}

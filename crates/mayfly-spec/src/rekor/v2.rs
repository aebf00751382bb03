//! Rekor v2 entries (rekor-tiles): the `POST /api/v2/log/entries` request, the entry the log
//! stores for it, and the `TransparencyLogEntry` the log answers (rekor-bundle-npm.md §2).
//!
//! Requests are protobuf JSON of `CreateEntryRequest`: `hashedRekordRequestV002` (a signature
//! over a digest; how sigstore-python ≥ 4.3 also logs DSSE, over the PAE) or `dsseRequestV002`
//! (what sigstore-js still sends). As the grpc-gateway in front of rekor-tiles does, unknown
//! fields are refused; repeated keys are refused too (see [`super::strict`]).
//!
//! The stored entry is the RFC 8785 form of the protobuf JSON `Entry`
//! `{kind, apiVersion: "0.0.2", spec: {hashedRekordV002 | dsseV002}}`, built only from values
//! parsed and verified here: verifiers re-encode it from a bundle and compare.
//!
//! The signature algorithm is the one `keyDetails` names, and it must be the key's: a P-256
//! key is checked with SHA-256 and nothing else, so one signature has one reading.

use super::envelope::{decode_dsse_base64, pae};
use super::key::Verifier;
use super::{MAX_SIGNATURES, RekorError, encode_base64, sha256, strict};
use crate::subject_key::KeyKind;
use crate::tlog::{Hash, leaf_hash};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};

/// The entry version both kinds are logged at.
pub const API_VERSION: &str = "0.0.2";

/// The entry kinds a v2 log accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindV2 {
    HashedRekord,
    Dsse,
}

impl KindV2 {
    pub fn name(self) -> &'static str {
        match self {
            KindV2::HashedRekord => "hashedrekord",
            KindV2::Dsse => "dsse",
        }
    }
}

/// A verified v2 entry in its stored form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryV2 {
    pub kind: KindV2,
    /// RFC 8785 JSON of the protobuf `Entry`: the leaf value.
    pub body: Vec<u8>,
}

impl EntryV2 {
    /// The RFC 6962 leaf hash of the body: the log's dedup key.
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.body)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateEntryRequest {
    #[serde(
        rename = "hashedRekordRequestV002",
        alias = "hashed_rekord_request_v002"
    )]
    hashed_rekord: Option<HashedRekordRequest>,
    #[serde(rename = "dsseRequestV002", alias = "dsse_request_v002")]
    dsse: Option<DsseRequest>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HashedRekordRequest {
    digest: String,
    signature: SignatureJson,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureJson {
    content: String,
    verifier: VerifierJson,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct VerifierJson {
    #[serde(rename = "publicKey", alias = "public_key")]
    public_key: Option<RawBytes>,
    #[serde(rename = "x509Certificate", alias = "x509_certificate")]
    x509_certificate: Option<RawBytes>,
    #[serde(rename = "keyDetails", alias = "key_details")]
    key_details: String,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawBytes {
    #[serde(rename = "rawBytes", alias = "raw_bytes")]
    raw_bytes: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DsseRequest {
    envelope: EnvelopeJson,
    verifiers: Vec<VerifierJson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeJson {
    payload: String,
    #[serde(rename = "payloadType", alias = "payload_type")]
    payload_type: String,
    signatures: Vec<EnvelopeSignatureJson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeSignatureJson {
    sig: String,
    /// Accepted and not stored: the stored signature names its verifier instead.
    #[serde(default, rename = "keyid")]
    _keyid: String,
}

/// Parses, verifies and canonicalises a `POST /api/v2/log/entries` body.
pub fn canonicalize_v2(request: &[u8]) -> Result<EntryV2, RekorError> {
    // Strict first (repeated keys), then the typed shape (unknown fields, types).
    let value = strict::from_slice(request).map_err(|e| RekorError::Json(e.to_string()))?;
    let request: CreateEntryRequest =
        serde_json::from_value(value).map_err(|e| RekorError::Json(e.to_string()))?;
    match (request.hashed_rekord, request.dsse) {
        (Some(hashed), None) => hashed_rekord(&hashed),
        (None, Some(dsse)) => dsse_entry(&dsse),
        (Some(_), Some(_)) => Err(RekorError::field(
            "(body)",
            "holds both hashedRekordRequestV002 and dsseRequestV002; send one",
        )),
        (None, None) => Err(RekorError::field(
            "(body)",
            "needs hashedRekordRequestV002 or dsseRequestV002",
        )),
    }
}

/// What `keyDetails` names: the key type and the digest its signatures are made over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct KeyDetails {
    kinds: &'static [KeyKind],
    /// The protobuf `HashAlgorithm` and its aws-lc digest; `None` for Ed25519, which signs
    /// whole messages.
    digest: Option<(&'static str, &'static aws_lc_rs::digest::Algorithm)>,
}

fn key_details(at: &str, name: &str) -> Result<KeyDetails, RekorError> {
    use aws_lc_rs::digest::{SHA256, SHA384, SHA512};
    const RSA: &[KeyKind] = &[KeyKind::Rsa2048, KeyKind::Rsa3072, KeyKind::Rsa4096];
    let (kinds, digest): (&'static [KeyKind], _) = match name {
        "PKIX_ECDSA_P256_SHA_256" => (&[KeyKind::EcdsaP256], Some(("SHA2_256", &SHA256))),
        "PKIX_ECDSA_P384_SHA_384" => (&[KeyKind::EcdsaP384], Some(("SHA2_384", &SHA384))),
        "PKIX_ECDSA_P521_SHA_512" => (&[KeyKind::EcdsaP521], Some(("SHA2_512", &SHA512))),
        "PKIX_RSA_PKCS1V15_2048_SHA256" => (&RSA[..1], Some(("SHA2_256", &SHA256))),
        "PKIX_RSA_PKCS1V15_3072_SHA256" => (&RSA[1..2], Some(("SHA2_256", &SHA256))),
        "PKIX_RSA_PKCS1V15_4096_SHA256" => (&RSA[2..], Some(("SHA2_256", &SHA256))),
        "PKIX_ED25519" => (&[KeyKind::Ed25519], None),
        other => {
            return Err(RekorError::field(
                at,
                format!(
                    "{other:?} is not a supported key type; use PKIX_ECDSA_P256_SHA_256, \
                     PKIX_ECDSA_P384_SHA_384, PKIX_ECDSA_P521_SHA_512, \
                     PKIX_RSA_PKCS1V15_{{2048,3072,4096}}_SHA256 or PKIX_ED25519"
                ),
            ));
        }
    };
    Ok(KeyDetails { kinds, digest })
}

/// A request verifier, parsed and checked against its `keyDetails`.
struct ParsedVerifier {
    key: Verifier,
    details: KeyDetails,
    /// Its stored form: the request's verifier with canonical base64.
    json: Value,
}

fn parse_verifier(at: &str, verifier: &VerifierJson) -> Result<ParsedVerifier, RekorError> {
    let details = key_details(&format!("{at}.keyDetails"), &verifier.key_details)?;
    let (member, raw, certificate) = match (&verifier.x509_certificate, &verifier.public_key) {
        (Some(cert), None) => ("x509Certificate", cert, true),
        (None, Some(key)) => ("publicKey", key, false),
        _ => {
            return Err(RekorError::field(
                at,
                "needs exactly one of x509Certificate and publicKey",
            ));
        }
    };
    let field = format!("{at}.{member}.rawBytes");
    let der = STANDARD
        .decode(&raw.raw_bytes)
        .map_err(|_| RekorError::Base64 {
            field: field.clone(),
        })?;
    let key = Verifier::from_der(&field, certificate, &der)?;
    if !details.kinds.contains(&key.kind()) {
        return Err(RekorError::field(
            format!("{at}.keyDetails"),
            format!(
                "{} does not describe the {} key in {member}",
                verifier.key_details,
                key.kind()
            ),
        ));
    }
    let json = json!({
        member: {"rawBytes": encode_base64(&der)},
        "keyDetails": verifier.key_details,
    });
    Ok(ParsedVerifier { key, details, json })
}

fn hashed_rekord(request: &HashedRekordRequest) -> Result<EntryV2, RekorError> {
    const AT: &str = "hashedRekordRequestV002";
    let verifier = parse_verifier(
        &format!("{AT}.signature.verifier"),
        &request.signature.verifier,
    )?;
    let Some((algorithm, digest_alg)) = verifier.details.digest else {
        return Err(RekorError::Unsupported(
            "a hashedrekord needs a key that signs digests; Ed25519 signs whole messages: \
             log the signature in a dsseRequestV002 instead"
                .into(),
        ));
    };
    let digest = STANDARD
        .decode(&request.digest)
        .map_err(|_| RekorError::Base64 {
            field: format!("{AT}.digest"),
        })?;
    if digest.len() != digest_alg.output_len() {
        return Err(RekorError::field(
            format!("{AT}.digest"),
            format!(
                "holds {} bytes; {} (from keyDetails) digests are {}",
                digest.len(),
                algorithm,
                digest_alg.output_len()
            ),
        ));
    }
    let sig = STANDARD
        .decode(&request.signature.content)
        .map_err(|_| RekorError::Base64 {
            field: format!("{AT}.signature.content"),
        })?;
    let alg = match algorithm {
        "SHA2_384" => super::DigestAlg::Sha384,
        "SHA2_512" => super::DigestAlg::Sha512,
        _ => super::DigestAlg::Sha256,
    };
    verifier.key.verify_prehashed(alg, &digest, &sig)?;
    let entry = json!({
        "kind": KindV2::HashedRekord.name(),
        "apiVersion": API_VERSION,
        "spec": {"hashedRekordV002": {
            "data": {"algorithm": algorithm, "digest": encode_base64(&digest)},
            "signature": {"content": encode_base64(&sig), "verifier": verifier.json},
        }},
    });
    Ok(EntryV2 {
        kind: KindV2::HashedRekord,
        body: jcs(&entry)?,
    })
}

fn dsse_entry(request: &DsseRequest) -> Result<EntryV2, RekorError> {
    const AT: &str = "dsseRequestV002";
    let signatures = &request.envelope.signatures;
    for (len, what) in [
        (signatures.len(), "envelope.signatures"),
        (request.verifiers.len(), "verifiers"),
    ] {
        if len == 0 || len > MAX_SIGNATURES {
            return Err(RekorError::field(
                format!("{AT}.{what}"),
                format!("holds {len} items; 1 to {MAX_SIGNATURES} are accepted"),
            ));
        }
    }
    let verifiers = request
        .verifiers
        .iter()
        .enumerate()
        .map(|(i, v)| parse_verifier(&format!("{AT}.verifiers[{i}]"), v))
        .collect::<Result<Vec<_>, _>>()?;
    let payload = decode_dsse_base64(&format!("{AT}.envelope.payload"), &request.envelope.payload)?;
    let message = pae(&request.envelope.payload_type, &payload);
    let mut used = vec![false; verifiers.len()];
    let mut stored = Vec::with_capacity(signatures.len());
    for (i, signature) in signatures.iter().enumerate() {
        let at = format!("{AT}.envelope.signatures[{i}].sig");
        let sig = decode_dsse_base64(&at, &signature.sig)?;
        let Some(v) = verifiers
            .iter()
            .position(|v| v.key.verify_message(&message, &sig))
        else {
            return Err(RekorError::Signature(format!(
                "verifying signature: {at} does not verify over the envelope's PAE with any of \
                 {AT}.verifiers"
            )));
        };
        used[v] = true;
        stored.push(json!({"content": encode_base64(&sig), "verifier": verifiers[v].json}));
    }
    if let Some(unused) = used.iter().position(|u| !u) {
        return Err(RekorError::Signature(format!(
            "{AT}.verifiers[{unused}] verifies none of the envelope's signatures"
        )));
    }
    let entry = json!({
        "kind": KindV2::Dsse.name(),
        "apiVersion": API_VERSION,
        "spec": {"dsseV002": {
            "payloadHash": {"algorithm": "SHA2_256", "digest": encode_base64(sha256(&payload).as_ref())},
            "signatures": stored,
        }},
    });
    Ok(EntryV2 {
        kind: KindV2::Dsse,
        body: jcs(&entry)?,
    })
}

fn jcs(value: &Value) -> Result<Vec<u8>, RekorError> {
    // Only strings and objects: canonicalisation cannot fail, but never panic on it.
    serde_json_canonicalizer::to_vec(value)
        .map_err(|e| RekorError::Unsupported(format!("canonical JSON: {e}")))
}

/// The kind of a stored v2 entry, read back from its body (for the response's `kindVersion`).
pub fn stored_kind(body: &[u8]) -> Option<KindV2> {
    let entry: Value = serde_json::from_slice(body).ok()?;
    match (entry["kind"].as_str()?, entry["apiVersion"].as_str()?) {
        ("hashedrekord", API_VERSION) => Some(KindV2::HashedRekord),
        ("dsse", API_VERSION) => Some(KindV2::Dsse),
        _ => None,
    }
}

/// Where a logged v2 entry is and the proof that it is there.
#[derive(Debug, Clone, Copy)]
pub struct Logged<'a> {
    pub kind: KindV2,
    pub body: &'a [u8],
    pub log_index: u64,
    /// The log's ID: SHA-256 of its key's DER SPKI (what trusted_root lists).
    pub log_id: &'a [u8],
    pub tree_size: u64,
    pub root: &'a Hash,
    pub proof: &'a [Hash],
    /// The signed checkpoint the proof is against.
    pub checkpoint: &'a str,
}

/// The `TransparencyLogEntry` answered for a logged entry, in protobuf JSON as rekor-tiles
/// writes it: int64 as decimal strings, bytes as base64, unpopulated fields present (an
/// `integratedTime` of "0" and a null `inclusionPromise`: v2 gives no signed time, a TSA does).
pub fn transparency_log_entry(logged: &Logged<'_>) -> Value {
    json!({
        "logIndex": logged.log_index.to_string(),
        "logId": {"keyId": encode_base64(logged.log_id)},
        "kindVersion": {"kind": logged.kind.name(), "version": API_VERSION},
        "integratedTime": "0",
        "inclusionPromise": null,
        "inclusionProof": {
            "logIndex": logged.log_index.to_string(),
            "rootHash": encode_base64(&logged.root.0),
            "treeSize": logged.tree_size.to_string(),
            "hashes": logged.proof.iter().map(|h| encode_base64(&h.0)).collect::<Vec<_>>(),
            "checkpoint": {"envelope": logged.checkpoint},
        },
        "canonicalizedBody": encode_base64(logged.body),
    })
}

#[cfg(test)]
mod tests;

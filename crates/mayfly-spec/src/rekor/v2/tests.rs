//! Stored entries are checked against JSON written out by hand in RFC 8785 order, and every
//! refusal names the field or check that failed.

use super::*;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A signer with a P-256 key and a self-signed certificate for it.
struct Signer {
    key: EcdsaKeyPair,
    cert_der: Vec<u8>,
}

impl Signer {
    fn new() -> Signer {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["signer.test".into()])
            .unwrap()
            .self_signed(&pair)
            .unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &pair.serialize_der())
            .unwrap();
        Signer {
            key,
            cert_der: cert.der().to_vec(),
        }
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.key
            .sign(&SystemRandom::new(), message)
            .unwrap()
            .as_ref()
            .to_vec()
    }

    fn cert_verifier(&self) -> Value {
        json!({"x509Certificate": {"rawBytes": B64.encode(&self.cert_der)},
               "keyDetails": "PKIX_ECDSA_P256_SHA_256"})
    }

    /// The DER SPKI, rebuilt from the raw point (the fixed P-256 SPKI prefix).
    fn spki_der(&self) -> Vec<u8> {
        let mut spki = hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").unwrap();
        spki.extend_from_slice(self.key.public_key().as_ref());
        spki
    }
}

/// A hashedrekord request as sigstore-python and sigstore-js send it.
fn hashedrekord(signer: &Signer, message: &[u8]) -> (Value, Vec<u8>, Vec<u8>) {
    let digest = Sha256::digest(message).to_vec();
    // A P-256 signature over the message is a signature over its SHA-256 digest.
    let sig = signer.sign(message);
    let request = json!({"hashedRekordRequestV002": {
        "digest": B64.encode(&digest),
        "signature": {"content": B64.encode(&sig), "verifier": signer.cert_verifier()}}});
    (request, digest, sig)
}

fn canonical(request: &Value) -> Result<EntryV2, RekorError> {
    canonicalize_v2(request.to_string().as_bytes())
}

fn refusal(request: &Value) -> String {
    canonical(request).unwrap_err().to_string()
}

#[test]
fn hashedrekord_entry_is_byte_exact() {
    let signer = Signer::new();
    let (request, digest, sig) = hashedrekord(&signer, b"hello v2");
    let entry = canonical(&request).unwrap();
    assert_eq!(entry.kind, KindV2::HashedRekord);
    let expected = format!(
        concat!(
            r#"{{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{{"hashedRekordV002":{{"#,
            r#""data":{{"algorithm":"SHA2_256","digest":"{}"}},"#,
            r#""signature":{{"content":"{}","verifier":{{"keyDetails":"PKIX_ECDSA_P256_SHA_256","#,
            r#""x509Certificate":{{"rawBytes":"{}"}}}}}}}}}}}}"#
        ),
        B64.encode(&digest),
        B64.encode(&sig),
        B64.encode(&signer.cert_der)
    );
    assert_eq!(String::from_utf8(entry.body.clone()).unwrap(), expected);
    assert_eq!(stored_kind(&entry.body), Some(KindV2::HashedRekord));
    // The snake_case proto names are the same request.
    let snake = json!({"hashed_rekord_request_v002": request["hashedRekordRequestV002"]});
    assert_eq!(canonical(&snake).unwrap(), entry);
}

#[test]
fn hashedrekord_with_a_public_key_verifier() {
    let signer = Signer::new();
    let (mut request, _, _) = hashedrekord(&signer, b"keyed");
    request["hashedRekordRequestV002"]["signature"]["verifier"] = json!({
        "publicKey": {"rawBytes": B64.encode(signer.spki_der())},
        "keyDetails": "PKIX_ECDSA_P256_SHA_256"});
    let entry = canonical(&request).unwrap();
    let body: Value = serde_json::from_slice(&entry.body).unwrap();
    assert_eq!(
        body["spec"]["hashedRekordV002"]["signature"]["verifier"]["publicKey"]["rawBytes"],
        B64.encode(signer.spki_der())
    );
}

#[test]
fn hashedrekord_refusals_name_what_is_wrong() {
    let signer = Signer::new();
    let (good, _, _) = hashedrekord(&signer, b"m");

    let mut bad_sig = good.clone();
    let (_, _, other_sig) = hashedrekord(&signer, b"another message");
    bad_sig["hashedRekordRequestV002"]["signature"]["content"] = json!(B64.encode(other_sig));
    assert!(
        refusal(&bad_sig).contains("does not verify"),
        "{}",
        refusal(&bad_sig)
    );

    let mut wrong_details = good.clone();
    wrong_details["hashedRekordRequestV002"]["signature"]["verifier"]["keyDetails"] =
        json!("PKIX_ECDSA_P384_SHA_384");
    let message = refusal(&wrong_details);
    assert!(
        message.contains("keyDetails") && message.contains("does not describe"),
        "{message}"
    );

    let mut unknown_details = good.clone();
    unknown_details["hashedRekordRequestV002"]["signature"]["verifier"]["keyDetails"] =
        json!("PKIX_SECP256K1");
    assert!(refusal(&unknown_details).contains("not a supported key type"));

    let mut short = good.clone();
    short["hashedRekordRequestV002"]["digest"] = json!(B64.encode([0u8; 20]));
    let message = refusal(&short);
    assert!(
        message.contains("digest") && message.contains("20 bytes"),
        "{message}"
    );

    let mut not_base64 = good.clone();
    not_base64["hashedRekordRequestV002"]["digest"] = json!("%%%");
    assert!(refusal(&not_base64).contains("hashedRekordRequestV002.digest"));

    let mut two_keys = good.clone();
    two_keys["hashedRekordRequestV002"]["signature"]["verifier"]["publicKey"] =
        json!({"rawBytes": B64.encode(signer.spki_der())});
    assert!(refusal(&two_keys).contains("exactly one of x509Certificate and publicKey"));

    let mut extra = good.clone();
    extra["hashedRekordRequestV002"]["surprise"] = json!(1);
    assert!(
        refusal(&extra).contains("unknown field"),
        "{}",
        refusal(&extra)
    );
}

#[test]
fn request_shape_refusals() {
    let signer = Signer::new();
    let (good, _, _) = hashedrekord(&signer, b"m");
    let repeated = format!(
        r#"{{"hashedRekordRequestV002":{},"hashedRekordRequestV002":{}}}"#,
        good["hashedRekordRequestV002"], good["hashedRekordRequestV002"]
    );
    assert!(canonicalize_v2(repeated.as_bytes()).is_err());
    assert!(refusal(&json!({})).contains("needs hashedRekordRequestV002 or dsseRequestV002"));
    let both = json!({"hashedRekordRequestV002": good["hashedRekordRequestV002"],
                      "dsseRequestV002": {"envelope": {"payload": "", "payloadType": "t",
                                          "signatures": []}, "verifiers": []}});
    assert!(refusal(&both).contains("send one"));
    assert!(canonicalize_v2(b"not json").is_err());
    // v1's shape is not a v2 request.
    let v1 = json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {}});
    assert!(refusal(&v1).contains("unknown field"));
}

fn dsse_request(signer: &Signer, payload: &[u8], sig: &[u8]) -> Value {
    json!({"dsseRequestV002": {
        "envelope": {"payload": B64.encode(payload), "payloadType": "application/vnd.in-toto+json",
                     "signatures": [{"sig": B64.encode(sig), "keyid": ""}]},
        "verifiers": [signer.cert_verifier()]}})
}

#[test]
fn dsse_entry_is_byte_exact() {
    let signer = Signer::new();
    let payload = br#"{"_type":"https://in-toto.io/Statement/v1"}"#;
    let sig = signer.sign(&pae("application/vnd.in-toto+json", payload));
    let entry = canonical(&dsse_request(&signer, payload, &sig)).unwrap();
    assert_eq!(entry.kind, KindV2::Dsse);
    let expected = format!(
        concat!(
            r#"{{"apiVersion":"0.0.2","kind":"dsse","spec":{{"dsseV002":{{"#,
            r#""payloadHash":{{"algorithm":"SHA2_256","digest":"{}"}},"#,
            r#""signatures":[{{"content":"{}","verifier":{{"keyDetails":"PKIX_ECDSA_P256_SHA_256","#,
            r#""x509Certificate":{{"rawBytes":"{}"}}}}}}]}}}}}}"#
        ),
        B64.encode(Sha256::digest(payload)),
        B64.encode(&sig),
        B64.encode(&signer.cert_der)
    );
    assert_eq!(String::from_utf8(entry.body.clone()).unwrap(), expected);
    assert_eq!(stored_kind(&entry.body), Some(KindV2::Dsse));
}

#[test]
fn dsse_refusals_name_what_is_wrong() {
    let signer = Signer::new();
    let payload = b"{}";
    let over_other = signer.sign(&pae("text/plain", payload));
    let message = refusal(&dsse_request(&signer, payload, &over_other));
    assert!(
        message.contains("does not verify over the envelope's PAE"),
        "{message}"
    );

    let good_sig = signer.sign(&pae("application/vnd.in-toto+json", payload));
    let mut unused = dsse_request(&signer, payload, &good_sig);
    unused["dsseRequestV002"]["verifiers"]
        .as_array_mut()
        .unwrap()
        .push(Signer::new().cert_verifier());
    assert!(refusal(&unused).contains("verifiers[1] verifies none"));

    let mut empty = dsse_request(&signer, payload, &good_sig);
    empty["dsseRequestV002"]["envelope"]["signatures"] = json!([]);
    assert!(refusal(&empty).contains("envelope.signatures: holds 0 items"));
}

#[test]
fn transparency_log_entry_uses_protobuf_json() {
    let root = Hash([7; 32]);
    let proof = [Hash([1; 32]), Hash([2; 32])];
    let entry = transparency_log_entry(&Logged {
        kind: KindV2::HashedRekord,
        body: b"{}",
        log_index: 41,
        log_id: &[9; 32],
        tree_size: 42,
        root: &root,
        proof: &proof,
        checkpoint: "origin\n42\nroot\n\n— origin sig\n",
    });
    assert_eq!(entry["logIndex"], "41");
    assert_eq!(entry["integratedTime"], "0");
    assert!(entry["inclusionPromise"].is_null());
    assert_eq!(
        entry["kindVersion"],
        json!({"kind": "hashedrekord", "version": "0.0.2"})
    );
    assert_eq!(entry["inclusionProof"]["treeSize"], "42");
    assert_eq!(entry["inclusionProof"]["hashes"][1], B64.encode([2u8; 32]));
    assert_eq!(entry["canonicalizedBody"], B64.encode(b"{}"));
}

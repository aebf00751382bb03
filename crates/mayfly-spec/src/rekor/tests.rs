//! Canonical bodies are checked against JSON written out by hand (keys in RFC 8785 order), and
//! against production: bodies re-derived from real public-good bundles must equal the
//! `canonicalizedBody` Rekor logged, and our SET payload must verify under Rekor's real key.

use super::*;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, UnparsedPublicKey,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A client with a key and a self-signed certificate for it.
struct Client {
    key: EcdsaKeyPair,
    cert_der: Vec<u8>,
}

impl Client {
    fn new() -> Client {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["signer.test".into()])
            .unwrap()
            .self_signed(&pair)
            .unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &pair.serialize_der())
            .unwrap();
        Client {
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

    /// Go `pem.Encode` layout, written independently of `pem::encode`.
    fn go_pem(&self) -> String {
        let b64 = B64.encode(&self.cert_der);
        let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(chunk).unwrap());
            out.push('\n');
        }
        out + "-----END CERTIFICATE-----\n"
    }

    /// The same certificate as a sloppy client might send it: CRLF, no final newline.
    fn sloppy_pem(&self) -> String {
        self.go_pem().trim_end().replace('\n', "\r\n")
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A hashedrekord request as sigstore-js sends it, plus a field Rekor would ignore.
fn hashedrekord_request(pem: &str, digest_hex: &str, sig: &[u8]) -> Value {
    json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "unknownField": 1, "spec": {
        "data": {"hash": {"algorithm": "sha256", "value": digest_hex}},
        "signature": {"content": B64.encode(sig), "publicKey": {"content": B64.encode(pem)}}}})
}

fn body_of(request: &Value) -> Result<Canonical, RekorError> {
    canonicalize(request.to_string().as_bytes())
}

#[test]
fn hashedrekord_body_is_byte_exact_with_reencoded_pem() {
    let client = Client::new();
    let message = b"hello mayfly";
    let digest = sha256_hex(message);
    let sig = client.sign(message);
    let request = hashedrekord_request(&client.sloppy_pem(), &digest, &sig);
    let canonical = body_of(&request).unwrap();
    let expected = format!(
        r#"{{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{{"data":{{"hash":{{"algorithm":"sha256","value":"{digest}"}}}},"signature":{{"content":"{}","publicKey":{{"content":"{}"}}}}}}}}"#,
        B64.encode(&sig),
        B64.encode(client.go_pem())
    );
    assert_eq!(String::from_utf8(canonical.body.clone()).unwrap(), expected);
    assert_eq!(canonical.kind, Kind::HashedRekord);

    let mut leaf = vec![0u8];
    leaf.extend_from_slice(expected.as_bytes());
    assert_eq!(
        canonical.uuid().to_hex(),
        sha256_hex(&leaf),
        "UUID = RFC 6962 leaf hash"
    );
}

#[test]
fn hashedrekord_rejections() {
    let client = Client::new();
    let other = Client::new();
    let digest = sha256_hex(b"artifact");
    let sig = client.sign(b"artifact");
    let pem = client.go_pem();

    let tampered = sha256_hex(b"artifacT");
    let err = body_of(&hashedrekord_request(&pem, &tampered, &sig)).unwrap_err();
    assert!(matches!(err, RekorError::Signature(_)), "{err}");

    let err = body_of(&hashedrekord_request(&other.go_pem(), &digest, &sig)).unwrap_err();
    assert!(matches!(err, RekorError::Signature(_)), "wrong key: {err}");

    let upper = digest.to_uppercase();
    let err = body_of(&hashedrekord_request(&pem, &upper, &sig)).unwrap_err();
    assert!(err.to_string().contains("spec.data.hash.value"), "{err}");

    let mut request = hashedrekord_request(&pem, &digest, &sig);
    request["spec"]["data"]["hash"]["algorithm"] = json!("md5");
    let err = body_of(&request).unwrap_err();
    assert!(
        err.to_string().contains("spec.data.hash.algorithm"),
        "{err}"
    );

    let mut request = hashedrekord_request(&pem, &digest, &sig);
    request["spec"]["signature"]["publicKey"]
        .as_object_mut()
        .unwrap()
        .remove("content");
    assert_eq!(
        body_of(&request).unwrap_err().to_string(),
        "spec.signature.publicKey.content: is required"
    );

    let mut request = hashedrekord_request(&pem, &digest, &sig);
    request["kind"] = json!("rekord");
    assert!(matches!(body_of(&request), Err(RekorError::UnknownKind(_))));
    request["kind"] = json!("hashedrekord");
    request["apiVersion"] = json!("0.0.2");
    assert!(matches!(
        body_of(&request),
        Err(RekorError::UnknownVersion { .. })
    ));

    assert!(matches!(
        canonicalize(b"{not json"),
        Err(RekorError::Json(_))
    ));
    assert!(matches!(canonicalize(b"[]"), Err(RekorError::Field { .. })));
}

#[test]
fn hashedrekord_refuses_ed25519_clearly() {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["ed.test".into()])
        .unwrap()
        .self_signed(&pair)
        .unwrap();
    let pem = cert.pem();
    let request = json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
        "data": {"hash": {"algorithm": "sha256", "value": sha256_hex(b"x")}},
        "signature": {"content": B64.encode([1u8; 64]), "publicKey": {"content": B64.encode(pem)}}}});
    let err = body_of(&request).unwrap_err();
    assert!(
        matches!(err, RekorError::Unsupported(_)) && err.to_string().contains("Ed25519"),
        "{err}"
    );
}

#[test]
fn pae_matches_the_dsse_spec_example() {
    assert_eq!(
        pae("http://example.com/HelloWorld", b"hello world"),
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
    );
    assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
}

const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
const PAYLOAD: &[u8] = br#"{"_type":"https://in-toto.io/Statement/v1","subject":[]}"#;

fn pae_bytes() -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {PAYLOAD_TYPE} {} ",
        PAYLOAD_TYPE.len(),
        PAYLOAD.len()
    )
    .into_bytes();
    out.extend_from_slice(PAYLOAD);
    out
}

fn dsse_request(envelope: &str, verifiers: &[String]) -> Value {
    let verifiers: Vec<String> = verifiers.iter().map(|p| B64.encode(p)).collect();
    json!({"apiVersion": "0.0.1", "kind": "dsse", "spec": {"proposedContent": {
        "envelope": envelope, "verifiers": verifiers}}})
}

#[test]
fn dsse_body_is_byte_exact_with_sorted_signatures() {
    let (a, b) = (Client::new(), Client::new());
    let (sig_a, sig_b) = (
        B64.encode(a.sign(&pae_bytes())),
        B64.encode(b.sign(&pae_bytes())),
    );
    let envelope = json!({"payload": B64.encode(PAYLOAD), "payloadType": PAYLOAD_TYPE,
        "signatures": [{"keyid": "", "sig": sig_a}, {"keyid": "", "sig": sig_b}]})
    .to_string();
    let canonical = body_of(&dsse_request(&envelope, &[a.sloppy_pem(), b.go_pem()])).unwrap();

    let mut pairs = [(sig_a, a.go_pem()), (sig_b, b.go_pem())];
    pairs.sort_by(|x, y| x.0.cmp(&y.0));
    let signatures: Vec<String> = pairs
        .iter()
        .map(|(sig, pem)| {
            format!(
                r#"{{"signature":"{sig}","verifier":"{}"}}"#,
                B64.encode(pem)
            )
        })
        .collect();
    let expected = format!(
        r#"{{"apiVersion":"0.0.1","kind":"dsse","spec":{{"envelopeHash":{{"algorithm":"sha256","value":"{}"}},"payloadHash":{{"algorithm":"sha256","value":"{}"}},"signatures":[{}]}}}}"#,
        sha256_hex(envelope.as_bytes()),
        sha256_hex(PAYLOAD),
        signatures.join(",")
    );
    assert_eq!(String::from_utf8(canonical.body).unwrap(), expected);
}

#[test]
fn dsse_rejections() {
    let (a, b) = (Client::new(), Client::new());
    let sig = B64.encode(a.sign(&pae_bytes()));
    let envelope = |sig: &str, payload: &[u8]| {
        json!({"payload": B64.encode(payload), "payloadType": PAYLOAD_TYPE,
            "signatures": [{"keyid": "", "sig": sig}]})
        .to_string()
    };
    // Signed over other bytes.
    let err = body_of(&dsse_request(&envelope(&sig, b"other"), &[a.go_pem()])).unwrap_err();
    assert!(matches!(err, RekorError::Signature(_)), "{err}");
    // Wrong key.
    let err = body_of(&dsse_request(&envelope(&sig, PAYLOAD), &[b.go_pem()])).unwrap_err();
    assert!(matches!(err, RekorError::Signature(_)), "{err}");
    // A verifier that verifies nothing.
    let err = body_of(&dsse_request(
        &envelope(&sig, PAYLOAD),
        &[a.go_pem(), b.go_pem()],
    ))
    .unwrap_err();
    assert!(err.to_string().contains("verifiers[1]"), "{err}");
    // Server-computed fields from the client.
    let mut request = dsse_request(&envelope(&sig, PAYLOAD), &[a.go_pem()]);
    request["spec"]["signatures"] = json!([]);
    assert!(
        body_of(&request)
            .unwrap_err()
            .to_string()
            .contains("spec.signatures")
    );
    // The envelope must be a JSON string holding an envelope.
    let err = body_of(&dsse_request("{\"payload\":1}", &[a.go_pem()])).unwrap_err();
    assert!(
        err.to_string().contains("spec.proposedContent.envelope"),
        "{err}"
    );
    let no_sigs = json!({"payload": "", "payloadType": PAYLOAD_TYPE, "signatures": []}).to_string();
    assert!(body_of(&dsse_request(&no_sigs, &[a.go_pem()])).is_err());
}

/// The amplification a hostile client once got: 1,000 copies of one valid signature against
/// 101 verifiers cost 101,000 verifications. Now refused before any key is parsed.
#[test]
fn dsse_work_is_bounded_before_any_crypto() {
    let a = Client::new();
    let sig = B64.encode(a.sign(&pae_bytes()));
    let many_sigs: Vec<Value> = (0..1000)
        .map(|_| json!({"keyid": "", "sig": sig}))
        .collect();
    let envelope =
        json!({"payload": B64.encode(PAYLOAD), "payloadType": PAYLOAD_TYPE, "signatures": many_sigs})
            .to_string();
    let verifiers: Vec<String> = (0..101).map(|_| a.go_pem()).collect();
    let started = std::time::Instant::now();
    let err = body_of(&dsse_request(&envelope, &verifiers)).unwrap_err();
    assert!(
        err.to_string()
            .contains("spec.proposedContent.verifiers: holds 101 items; at most 8"),
        "{err}"
    );
    let err = body_of(&dsse_request(&envelope, &[a.go_pem()])).unwrap_err();
    assert!(
        err.to_string()
            .contains("signatures: holds 1000 items; at most 8"),
        "{err}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_millis(500),
        "refused in {:?}",
        started.elapsed()
    );
    // Within the caps, duplicates are checked once and the entry is the single-signature one.
    let eight: Vec<Value> = (0..8).map(|_| json!({"keyid": "", "sig": sig})).collect();
    let envelope =
        json!({"payload": B64.encode(PAYLOAD), "payloadType": PAYLOAD_TYPE, "signatures": eight})
            .to_string();
    let body = body_of(&dsse_request(&envelope, &vec![a.go_pem(); 8])).unwrap();
    let spec: Value = serde_json::from_slice(&body.body).unwrap();
    assert_eq!(spec["spec"]["signatures"].as_array().unwrap().len(), 1);
}

/// Looking an entry up canonicalises it without verifying: the same body as when it was
/// logged, and no signature work (a bad signature still finds its canonical form).
#[test]
fn lookup_canonicalises_without_verifying() {
    let client = Client::new();
    let digest = Sha256::digest(b"artifact");
    let sig = client.sign(b"artifact");
    let logged = hashedrekord_request(&client.go_pem(), &hex::encode(digest), &sig);
    assert_eq!(
        canonical_for_lookup(&logged).unwrap(),
        body_of(&logged).unwrap()
    );
    let forged = hashedrekord_request(&client.go_pem(), &hex::encode(digest), &[0x30, 0x00]);
    assert!(body_of(&forged).is_err());
    assert!(canonical_for_lookup(&forged).is_ok());

    let dsse_sig = B64.encode(client.sign(&pae_bytes()));
    let envelope = json!({"payload": B64.encode(PAYLOAD), "payloadType": PAYLOAD_TYPE,
        "signatures": [{"keyid": "", "sig": dsse_sig}]})
    .to_string();
    let dsse = dsse_request(&envelope, &[client.go_pem()]);
    assert_eq!(
        canonical_for_lookup(&dsse).unwrap(),
        body_of(&dsse).unwrap()
    );
    let two = dsse_request(&envelope, &[client.go_pem(), Client::new().go_pem()]);
    assert!(matches!(
        canonical_for_lookup(&two),
        Err(RekorError::Unsupported(_))
    ));

    let intoto = intoto_request(&client.go_pem(), &client.sign(&pae_bytes()), None);
    assert_eq!(
        canonical_for_lookup(&intoto).unwrap(),
        body_of(&intoto).unwrap()
    );
}

fn intoto_request(pem: &str, sig: &[u8], keyid: Option<&str>) -> Value {
    let mut signature = json!({"sig": B64.encode(B64.encode(sig)), "publicKey": B64.encode(pem)});
    if let Some(k) = keyid {
        signature["keyid"] = json!(k);
    }
    json!({"apiVersion": "0.0.2", "kind": "intoto", "spec": {"content": {
        "envelope": {"payloadType": PAYLOAD_TYPE, "payload": B64.encode(B64.encode(PAYLOAD)),
                     "signatures": [signature]},
        "hash": {"algorithm": "sha256", "value": "ab".repeat(32)},
        "payloadHash": {"algorithm": "sha256", "value": "00".repeat(32)}}}})
}

#[test]
fn intoto_body_is_byte_exact_and_drops_empty_keyid() {
    let client = Client::new();
    let sig = client.sign(&pae_bytes());
    let sig_field = B64.encode(B64.encode(&sig));
    let key_field = B64.encode(client.go_pem());
    let expected = |signature: String| {
        format!(
            r#"{{"apiVersion":"0.0.2","kind":"intoto","spec":{{"content":{{"envelope":{{"payloadType":"{PAYLOAD_TYPE}","signatures":[{signature}]}},"hash":{{"algorithm":"sha256","value":"{}"}},"payloadHash":{{"algorithm":"sha256","value":"{}"}}}}}}}}"#,
            "ab".repeat(32),
            sha256_hex(PAYLOAD)
        )
    };

    let canonical = body_of(&intoto_request(&client.sloppy_pem(), &sig, Some(""))).unwrap();
    assert_eq!(
        String::from_utf8(canonical.body).unwrap(),
        expected(format!(
            r#"{{"publicKey":"{key_field}","sig":"{sig_field}"}}"#
        ))
    );
    let canonical = body_of(&intoto_request(&client.go_pem(), &sig, Some("k1"))).unwrap();
    assert_eq!(
        String::from_utf8(canonical.body).unwrap(),
        expected(format!(
            r#"{{"keyid":"k1","publicKey":"{key_field}","sig":"{sig_field}"}}"#
        ))
    );

    let other = Client::new();
    let err = body_of(&intoto_request(&other.go_pem(), &sig, None)).unwrap_err();
    assert!(matches!(err, RekorError::Signature(_)), "{err}");
    let mut request = intoto_request(&client.go_pem(), &sig, None);
    request["spec"]["content"]
        .as_object_mut()
        .unwrap()
        .remove("hash");
    assert!(
        body_of(&request)
            .unwrap_err()
            .to_string()
            .contains("spec.content.hash")
    );
}

#[test]
fn identifiers_and_set_payload() {
    let mut log_id = Hash([0xff; 32]);
    assert_eq!(tree_id(&log_id), i64::MAX, "sign bit cleared");
    log_id.0[..8].copy_from_slice(&[0, 0, 0, 0, 0, 0, 0x12, 0x34]);
    assert_eq!(tree_id(&log_id), 0x1234);
    log_id.0[..8].copy_from_slice(&[0; 8]);
    assert_eq!(tree_id(&log_id), 1, "never zero");

    let uuid = Hash([0xab; 32]);
    let id = entry_id(0x1234, &uuid);
    assert_eq!(id, format!("0000000000001234{}", "ab".repeat(32)));
    assert_eq!(
        parse_entry_ref(&id).unwrap(),
        EntryRef::EntryId {
            tree_id: 0x1234,
            uuid
        }
    );
    assert_eq!(
        parse_entry_ref(&"AB".repeat(32)).unwrap(),
        EntryRef::Uuid(uuid)
    );
    for bad in [
        "",
        "ab",
        &"ab".repeat(33),
        &"zz".repeat(32),
        &format!("ffffffffffffffff{}", "ab".repeat(32)),
    ] {
        assert!(parse_entry_ref(bad).is_err(), "{bad}");
    }

    let payload = set_payload(&Integrated {
        body: b"{}",
        integrated_time: 1_700_000_000,
        log_id: Hash([0x01; 32]),
        log_index: 0,
    })
    .unwrap();
    assert_eq!(
        String::from_utf8(payload).unwrap(),
        format!(
            r#"{{"body":"e30=","integratedTime":1700000000,"logID":"{}","logIndex":0}}"#,
            "01".repeat(32)
        )
    );
}

// --- production vectors --------------------------------------------------------------------

fn vector(name: &str) -> Value {
    let path = format!(
        "{}/../../tests/vectors/sigstore-public/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn b64(value: &Value) -> Vec<u8> {
    B64.decode(value.as_str().unwrap()).unwrap()
}

fn leaf_cert(bundle: &Value) -> Vec<u8> {
    let material = &bundle["verificationMaterial"];
    if material["certificate"].is_object() {
        b64(&material["certificate"]["rawBytes"])
    } else {
        b64(&material["x509CertificateChain"]["certificates"][0]["rawBytes"])
    }
}

fn go_pem_of(der: &[u8]) -> String {
    let client = Client {
        key: EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap(),
        cert_der: der.to_vec(),
    };
    client.go_pem()
}

/// Verifies the bundle's SET with our payload builder and Rekor's key from the trusted root.
fn check_production_set(bundle: &Value, body: &[u8]) {
    let entry = &bundle["verificationMaterial"]["tlogEntries"][0];
    let log_id = Hash::from_slice(&b64(&entry["logId"]["keyId"])).unwrap();
    let payload = set_payload(&Integrated {
        body,
        integrated_time: entry["integratedTime"].as_str().unwrap().parse().unwrap(),
        log_id,
        log_index: entry["logIndex"].as_str().unwrap().parse().unwrap(),
    })
    .unwrap();
    let root = vector("trusted_root.public-good.json");
    let tlog = root["tlogs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| b64(&t["logId"]["keyId"]) == log_id.0)
        .expect("the bundle's log is in the trusted root");
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, b64(&tlog["publicKey"]["rawBytes"]))
        .verify(
            &payload,
            &b64(&entry["inclusionPromise"]["signedEntryTimestamp"]),
        )
        .expect("production SET verifies over our payload");
}

#[test]
fn production_hashedrekord_bodies_are_rederived_byte_for_byte() {
    // The email bundle was logged by the staging instance, whose key is not in the public-good
    // root: only its body is compared.
    for (name, check_set) in [
        ("github-signed.whl.sigstore", true),
        ("email-signed.txt.sigstore", false),
    ] {
        let bundle = vector(name);
        let message = &bundle["messageSignature"];
        assert_eq!(message["messageDigest"]["algorithm"], "SHA2_256");
        let request = json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
            "data": {"hash": {"algorithm": "sha256",
                              "value": hex::encode(b64(&message["messageDigest"]["digest"]))}},
            "signature": {"content": message["signature"],
                          "publicKey": {"content": B64.encode(go_pem_of(&leaf_cert(&bundle)))}}}});
        let ours = body_of(&request).unwrap().body;
        let production =
            b64(&bundle["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]);
        assert_eq!(
            String::from_utf8(ours.clone()).unwrap(),
            String::from_utf8(production).unwrap(),
            "{name}"
        );
        if check_set {
            check_production_set(&bundle, &ours);
        }
    }
}

#[test]
fn production_intoto_body_matches_up_to_rekor_1170_pem_fix() {
    let bundle = vector("npm-sigstore-1.3.0-provenance.sigstore.json");
    let envelope = &bundle["dsseEnvelope"];
    let production = b64(&bundle["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]);
    let logged: Value = serde_json::from_slice(&production).unwrap();
    let cert = leaf_cert(&bundle);
    let signatures: Vec<Value> = envelope["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            json!({"keyid": s["keyid"], "sig": B64.encode(s["sig"].as_str().unwrap()),
                        "publicKey": B64.encode(go_pem_of(&cert))})
        })
        .collect();
    let request = json!({"apiVersion": "0.0.2", "kind": "intoto", "spec": {"content": {
        "envelope": {"payloadType": envelope["payloadType"],
                     "payload": B64.encode(envelope["payload"].as_str().unwrap()),
                     "signatures": signatures},
        // Client-supplied and not recomputable by a server (rekor-bundle-npm.md §1.1).
        "hash": logged["spec"]["content"]["hash"]}}});
    let ours = String::from_utf8(body_of(&request).unwrap().body).unwrap();

    // In 2023 Rekor stored the client's PEM, which sigstore-js sent without its final newline;
    // Rekor now re-encodes it (sigstore/rekor#1170), as we do. Apart from that, byte-identical.
    let pem = go_pem_of(&cert);
    let production = String::from_utf8(production)
        .unwrap()
        .replace(&B64.encode(pem.trim_end()), &B64.encode(&pem));
    assert_eq!(ours, production);
}

#[test]
fn production_intoto_set_verifies_with_our_payload() {
    for name in [
        "npm-sigstore-1.3.0-provenance.sigstore.json",
        "npm-sigstore-1.3.0-publish.sigstore.json",
    ] {
        let bundle = vector(name);
        let body = b64(&bundle["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]);
        check_production_set(&bundle, &body);
    }
}

// --- the typed reading and the hand-written JSON ----------------------------------------------

/// `canonicalize` (typed reading first) and `canonicalize_value` (the `Value` walk) on the same
/// bytes, which must agree; a request with a repeated key is refused by both.
fn both_readings(request: &str) -> Result<Canonical, RekorError> {
    let typed_first = canonicalize(request.as_bytes());
    match strict::from_str(request) {
        Ok(value) => assert_eq!(typed_first, canonicalize_value(&value), "{request}"),
        Err(_) => assert!(
            matches!(&typed_first, Err(RekorError::Json(e)) if e.contains("appears twice")),
            "{request}: {typed_first:?}"
        ),
    }
    typed_first
}

/// Whether the typed reading settles the request (rather than handing it to the `Value` walk).
fn typed_reading_settles(request: &str) -> bool {
    serde_json::from_str::<Proposed<'_>>(request)
        .ok()
        .and_then(|proposed| proposed.canonicalize(usize::MAX))
        .is_some()
}

/// `request` with the value at `path` replaced (`None`: removed).
fn edited(request: &Value, path: &[&str], new: Option<Value>) -> String {
    let mut request = request.clone();
    let (last, parents) = path.split_last().unwrap();
    let mut at = &mut request;
    for name in parents {
        at = &mut at[*name];
    }
    let object = at.as_object_mut().unwrap();
    match new {
        Some(new) => object.insert((*last).to_owned(), new),
        None => object.remove(*last),
    };
    request.to_string()
}

#[test]
fn typed_reading_agrees_with_the_value_walk_on_dsse() {
    let (client, other) = (Client::new(), Client::new());
    let sig = B64.encode(client.sign(&pae_bytes()));
    let envelope_with = |signatures: Value, payload: Value| {
        json!({"payload": payload, "payloadType": PAYLOAD_TYPE, "signatures": signatures})
            .to_string()
    };
    let envelope = envelope_with(
        json!([{"keyid": "", "sig": sig}]),
        json!(B64.encode(PAYLOAD)),
    );
    let request = dsse_request(&envelope, &[client.go_pem()]);
    let text = request.to_string();
    // What clients send takes the typed reading.
    assert!(typed_reading_settles(&text));
    let body = both_readings(&text).unwrap();

    // Escaped solidi (`\/`, as some JSON encoders write base64) are the same strings.
    assert_eq!(both_readings(&text.replace('/', "\\/")).unwrap(), body);
    // A repeated key: the typed reading defers, and the Value walk refuses it.
    let repeated = text.replace("\"verifiers\":[", "\"verifiers\":[1],\"verifiers\":[");
    assert!(!typed_reading_settles(&repeated));
    assert!(both_readings(&repeated).is_err());
    // Unknown fields and null server-side fields are ignored by both.
    for (name, value) in [("unknown", json!({"x": 1})), ("envelopeHash", Value::Null)] {
        let variant = edited(&request, &["spec", name], Some(value));
        assert_eq!(both_readings(&variant).unwrap(), body);
    }

    let mut refused = vec![
        edited(&request, &["spec", "signatures"], Some(json!([]))),
        edited(&request, &["spec", "payloadHash"], Some(json!({}))),
        edited(&request, &["spec", "proposedContent"], None),
        edited(&request, &["spec", "proposedContent"], Some(json!("x"))),
        edited(&request, &["spec", "proposedContent", "envelope"], None),
        edited(
            &request,
            &["spec", "proposedContent", "envelope"],
            Some(json!({})),
        ),
        edited(&request, &["spec", "proposedContent", "verifiers"], None),
        edited(
            &request,
            &["spec", "proposedContent", "verifiers"],
            Some(json!([])),
        ),
        edited(
            &request,
            &["spec", "proposedContent", "verifiers"],
            Some(json!("x")),
        ),
        edited(
            &request,
            &["spec", "proposedContent", "verifiers"],
            Some(json!([null])),
        ),
        edited(
            &request,
            &["spec", "proposedContent", "verifiers"],
            Some(json!(["!"])),
        ),
        edited(&request, &["apiVersion"], Some(json!("0.0.2"))),
        edited(&request, &["kind"], Some(json!("rekord"))),
        edited(&request, &["kind"], Some(Value::Null)),
        edited(&request, &["spec"], Some(json!([]))),
        // Verifiers beside the envelope's key: wrong, extra, or a PEM of another kind.
        dsse_request(&envelope, &[other.go_pem()]).to_string(),
        dsse_request(&envelope, &[client.go_pem(), other.go_pem()]).to_string(),
        dsse_request(
            &envelope,
            &["-----BEGIN X-----\nAA==\n-----END X-----\n".into()],
        )
        .to_string(),
    ];
    // Envelopes that are not what DSSE libraries write, or that do not verify.
    for envelope in [
        envelope_with(json!([]), json!(B64.encode(PAYLOAD))),
        envelope_with(json!([{"sig": ""}]), json!(B64.encode(PAYLOAD))),
        envelope_with(json!([{"sig": 1}]), json!(B64.encode(PAYLOAD))),
        envelope_with(json!([{"sig": "%%%"}]), json!(B64.encode(PAYLOAD))),
        envelope_with(json!([{"sig": sig}]), json!("%%%")),
        envelope_with(json!([{"sig": sig}]), Value::Null),
        envelope_with(json!([{"sig": sig}]), json!(B64.encode(b"other"))),
        envelope_with(json!("x"), json!(B64.encode(PAYLOAD))),
        "not json".into(),
        "[]".into(),
    ] {
        refused.push(dsse_request(&envelope, &[client.go_pem()]).to_string());
    }
    for variant in &refused {
        assert!(both_readings(variant).is_err(), "{variant}");
    }

    // Envelope variations DSSE allows are accepted alike: URL-safe or unpadded base64, other
    // fields, two signatures (in either order) by two verifiers.
    let sig_other = B64.encode(other.sign(&pae_bytes()));
    let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    for (envelope, verifiers) in [
        (
            envelope_with(
                json!([{"sig": url_safe.encode(client.sign(&pae_bytes())), "x": [1]}]),
                json!(url_safe.encode(PAYLOAD)),
            ),
            vec![client.sloppy_pem()],
        ),
        (
            envelope_with(
                json!([{"sig": sig_other}, {"sig": sig}]),
                json!(B64.encode(PAYLOAD)),
            ),
            vec![client.go_pem(), other.sloppy_pem()],
        ),
    ] {
        let variant = dsse_request(&envelope, &verifiers).to_string();
        assert!(typed_reading_settles(&variant));
        assert!(both_readings(&variant).is_ok(), "{variant}");
    }
}

#[test]
fn typed_reading_agrees_with_the_value_walk_on_hashedrekord_and_intoto() {
    let client = Client::new();
    let (digest, sig) = (sha256_hex(b"hello"), client.sign(b"hello"));
    let request = hashedrekord_request(&client.go_pem(), &digest, &sig);
    let text = request.to_string();
    assert!(typed_reading_settles(&text));
    let body = both_readings(&text).unwrap();
    assert_eq!(both_readings(&text.replace('/', "\\/")).unwrap(), body);
    let sloppy = hashedrekord_request(&client.sloppy_pem(), &digest, &sig);
    assert_eq!(both_readings(&sloppy.to_string()).unwrap().body, body.body);

    let hash = ["spec", "data", "hash"];
    for variant in [
        // The first problem is reported, whichever reading finds it.
        edited(&request, &hash, Some(json!({"algorithm": "md5"}))),
        edited(&request, &hash, Some(json!({"algorithm": "sha256"}))),
        edited(
            &request,
            &hash,
            Some(json!({"algorithm": "sha256", "value": "AB"})),
        ),
        edited(
            &request,
            &hash,
            Some(json!({"algorithm": "sha384", "value": digest})),
        ),
        edited(&request, &["spec", "data"], None),
        edited(&request, &["spec", "signature", "content"], Some(json!(""))),
        edited(
            &request,
            &["spec", "signature", "content"],
            Some(json!("AAA")),
        ),
        edited(
            &request,
            &["spec", "signature", "content"],
            Some(json!("AAAA")),
        ),
        edited(
            &request,
            &["spec", "signature", "publicKey"],
            Some(json!({})),
        ),
        edited(
            &request,
            &["spec", "signature", "publicKey", "content"],
            Some(json!("")),
        ),
        edited(&request, &["spec", "signature"], None),
    ] {
        assert!(both_readings(&variant).is_err(), "{variant}");
    }

    // intoto has no typed reading; it reaches the Value walk from `canonicalize` as before.
    let intoto = intoto_request(&client.go_pem(), &client.sign(&pae_bytes()), None).to_string();
    assert!(!typed_reading_settles(&intoto));
    assert!(both_readings(&intoto).is_ok());
}

#[test]
fn verifier_keeps_canonical_text_and_agrees_with_the_pem_parser() {
    let client = Client::new();
    let go_pem = client.go_pem();
    let from_text = |pem: &str| Verifier::from_base64_pem("k", &B64.encode(pem));
    let canonical = B64.encode(&go_pem);
    for pem in [go_pem.clone(), client.sloppy_pem(), format!("\n{go_pem}\n")] {
        assert_eq!(from_text(&pem).unwrap().canonical_pem_base64(), canonical);
        let parsed = Verifier::from_pem("k", pem.as_bytes()).unwrap();
        assert_eq!(parsed.canonical_pem_base64(), canonical);
    }

    // A public key: kept when its DER is the canonical SPKI, re-encoded when it is not (here a
    // long-form length, which the SPKI reader accepts).
    let cert = x509_parser::parse_x509_certificate(&client.cert_der)
        .unwrap()
        .1;
    let spki = cert.tbs_certificate.subject_pki.raw.to_vec();
    let key_pem = |der: &[u8]| crate::pem::encode("PUBLIC KEY", der);
    let canonical_key = B64.encode(key_pem(&spki));
    assert_eq!(
        from_text(&key_pem(&spki)).unwrap().canonical_pem_base64(),
        canonical_key
    );
    let mut long_form = vec![0x30, 0x81, spki[1]];
    long_form.extend_from_slice(&spki[2..]);
    assert_eq!(
        from_text(&key_pem(&long_form))
            .unwrap()
            .canonical_pem_base64(),
        canonical_key
    );
    assert_eq!(
        Verifier::from_pem("k", key_pem(&long_form).as_bytes())
            .unwrap()
            .canonical_pem_base64(),
        canonical_key
    );

    // Go-layout PEMs that fail do so with the PEM parser's error.
    for pem in [
        crate::pem::encode("CERTIFICATE", b"not a certificate"),
        crate::pem::encode("CERTIFICATE", &[&client.cert_der[..], b"x"].concat()),
        crate::pem::encode("PUBLIC KEY", b"not a key"),
        crate::pem::encode("PRIVATE KEY", &spki),
        format!("{go_pem}{go_pem}"),
    ] {
        assert_eq!(
            from_text(&pem).unwrap_err(),
            Verifier::from_pem("k", pem.as_bytes()).unwrap_err(),
            "{pem}"
        );
    }
}

/// The response as it was built before the hand-written writer: a `serde_json::Value`.
fn log_entry_value(
    entry_id: &str,
    entry: &Integrated<'_>,
    set: &[u8],
    proof: &InclusionProof,
) -> String {
    let hashes: Vec<String> = proof.hashes.iter().map(Hash::to_hex).collect();
    let mut map = serde_json::Map::new();
    map.insert(
        entry_id.to_owned(),
        json!({
            "body": B64.encode(entry.body),
            "integratedTime": entry.integrated_time,
            "logID": entry.log_id.to_hex(),
            "logIndex": entry.log_index,
            "verification": {
                "inclusionProof": {
                    "checkpoint": proof.checkpoint,
                    "hashes": hashes,
                    "logIndex": entry.log_index,
                    "rootHash": proof.root.to_hex(),
                    "treeSize": proof.tree_size,
                },
                "signedEntryTimestamp": B64.encode(set),
            },
        }),
    );
    Value::Object(map).to_string()
}

#[test]
fn log_entry_json_and_set_payload_match_serde() {
    let body = br#"{"apiVersion":"0.0.1","kind":"dsse","spec":{}}"#;
    for (integrated_time, log_index, hashes, checkpoint) in [
        (
            1_700_000_000,
            0,
            vec![],
            "origin\n1\nAAAA\n\n\u{2014} origin sig\n",
        ),
        (
            -5,
            1 << 53,
            vec![Hash([1; 32])],
            "tab\there \"quoted\" \\ \u{1}",
        ),
        (i64::MAX, u64::MAX, vec![Hash([0xab; 32]); 17], ""),
        (i64::MIN, (1 << 53) + 1, vec![Hash([7; 32]); 2], "x"),
    ] {
        let entry = Integrated {
            body,
            integrated_time,
            log_id: Hash([0x5a; 32]),
            log_index,
        };
        let body_base64 = B64.encode(body);
        let encoded = IntegratedBase64 {
            body_base64: &body_base64,
            integrated_time,
            log_id: entry.log_id,
            log_index,
        };
        let proof = InclusionProof {
            tree_size: log_index.saturating_add(1),
            root: Hash([3; 32]),
            hashes,
            checkpoint: checkpoint.into(),
        };
        let id = entry_id(tree_id(&entry.log_id), &Hash([0xcd; 32]));
        assert_eq!(
            id,
            format!("{:016x}{}", tree_id(&entry.log_id), "cd".repeat(32))
        );
        let set = [0x30, 0x45, 0xff];
        assert_eq!(
            String::from_utf8(log_entry_json(&id, &encoded, &set, &proof)).unwrap(),
            log_entry_value(&id, &entry, &set, &proof)
        );

        let reference = serde_json_canonicalizer::to_vec(&json!({
            "body": body_base64,
            "integratedTime": integrated_time,
            "logID": entry.log_id.to_hex(),
            "logIndex": log_index,
        }))
        .unwrap();
        assert_eq!(set_payload(&entry).unwrap(), reference);
        assert_eq!(set_payload_base64(&encoded).unwrap(), reference);
    }
}

mod json_writer {
    use super::super::json;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Strings are escaped as serde_json and RFC 8785 escape them, whatever they hold.
        #[test]
        fn strings_match_serde_json_and_jcs(
            text in prop_oneof![any::<String>(), "[\\x00-\\x7f\"\\\\]{0,40}", "[a-zA-Z0-9+/=]{0,80}"],
        ) {
            let mut ours = Vec::new();
            json::string(&mut ours, &text);
            prop_assert_eq!(&ours, &serde_json::to_vec(&text).unwrap());
            prop_assert_eq!(&ours, &serde_json_canonicalizer::to_vec(&text).unwrap());
        }

        #[test]
        fn integers_match_serde_json_and_jcs(signed in any::<i64>(), unsigned in any::<u64>(), small in -(1i64 << 54)..(1i64 << 54)) {
            for value in [signed, small] {
                let (mut plain, mut jcs) = (Vec::new(), Vec::new());
                json::integer(&mut plain, value);
                json::jcs_integer(&mut jcs, value).unwrap();
                prop_assert_eq!(plain, serde_json::to_vec(&value).unwrap());
                prop_assert_eq!(jcs, serde_json_canonicalizer::to_vec(&value).unwrap());
            }
            let (mut plain, mut jcs) = (Vec::new(), Vec::new());
            json::integer(&mut plain, unsigned);
            json::jcs_integer(&mut jcs, unsigned).unwrap();
            prop_assert_eq!(plain, serde_json::to_vec(&unsigned).unwrap());
            prop_assert_eq!(jcs, serde_json_canonicalizer::to_vec(&unsigned).unwrap());
        }

        #[test]
        fn hex_matches_the_hex_crate(bytes in proptest::collection::vec(any::<u8>(), 0..70)) {
            let mut ours = Vec::new();
            json::hex(&mut ours, &bytes);
            prop_assert_eq!(ours, format!("\"{}\"", hex::encode(&bytes)).into_bytes());
        }

        /// What the bodies store instead of re-encoding (see `decode_base64`): a text that
        /// decodes is the canonical encoding of what it decodes to.
        #[test]
        fn strict_base64_round_trips(text in "[A-Za-z0-9+/=]{0,12}") {
            if let Ok(bytes) = STANDARD.decode(&text) {
                prop_assert_eq!(STANDARD.encode(bytes), text);
            }
        }
    }
}

/// A repeated key would mean one thing to this log and another to a reader that keeps the
/// first: refused, in the entry and in a dsse envelope.
#[test]
fn repeated_keys_are_refused() {
    let client = Client::new();
    let digest = Sha256::digest(b"artifact");
    let entry = hashedrekord_request(
        &client.go_pem(),
        &hex::encode(digest),
        &client.sign(b"artifact"),
    )
    .to_string();
    let doubled = entry.replacen(
        r#""kind":"hashedrekord""#,
        r#""kind":"hashedrekord","kind":"dsse""#,
        1,
    );
    assert_ne!(doubled, entry);
    let err = canonicalize(doubled.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("appears twice"), "{err}");

    let sig = B64.encode(client.sign(&pae_bytes()));
    let envelope = format!(
        r#"{{"payload":"{}","payloadType":"{PAYLOAD_TYPE}","payloadType":"text/plain","signatures":[{{"sig":"{sig}"}}]}}"#,
        B64.encode(PAYLOAD)
    );
    let err = body_of(&dsse_request(&envelope, &[client.go_pem()])).unwrap_err();
    assert!(err.to_string().contains("appears twice"), "{err}");
}

/// `canonicalize_within` settles exactly the entries whose checks fit its budget, with the same
/// result as `canonicalize`, and leaves everything else (more checks, unusual shapes) to it.
#[test]
fn canonicalize_within_settles_what_fits_the_budget_and_nothing_else() {
    let (client, other) = (Client::new(), Client::new());
    let signed_by = |signers: &[&Client]| {
        let signatures: Vec<Value> = signers
            .iter()
            .map(|c| json!({"keyid": "", "sig": B64.encode(c.sign(&pae_bytes()))}))
            .collect();
        json!({"payload": B64.encode(PAYLOAD), "payloadType": PAYLOAD_TYPE, "signatures": signatures})
            .to_string()
    };
    let single = dsse_request(&signed_by(&[&client]), &[client.go_pem()]).to_string();
    let double = dsse_request(
        &signed_by(&[&client, &other]),
        &[client.go_pem(), other.go_pem()],
    )
    .to_string();
    let digest = hex::encode(Sha256::digest(b"artifact"));
    let hashed =
        hashedrekord_request(&client.go_pem(), &digest, &client.sign(b"artifact")).to_string();

    for request in [&single, &hashed] {
        let settled = canonicalize_within(request.as_bytes(), 1).expect("one check fits one");
        assert_eq!(settled, canonicalize(request.as_bytes()));
        assert!(settled.is_ok(), "{settled:?}");
        assert!(canonicalize_within(request.as_bytes(), 0).is_none());
    }
    // Two signatures under two verifiers are four checks.
    assert!(canonicalize_within(double.as_bytes(), 1).is_none());
    assert!(canonicalize_within(double.as_bytes(), 3).is_none());
    assert_eq!(
        canonicalize_within(double.as_bytes(), 4),
        Some(canonicalize(double.as_bytes()))
    );
    // A shape only the `Value` walk reads (a repeated key) is never settled here.
    let repeated = single.replace("\"verifiers\":[", "\"verifiers\":[1],\"verifiers\":[");
    assert!(canonicalize_within(repeated.as_bytes(), usize::MAX).is_none());
}

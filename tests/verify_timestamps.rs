//! RFC 3161 timestamps in `mayfly verify` (issue 15): the real public-good wheel bundle with a
//! timestamp from a test TSA built here, trusted through the bundle's trusted root. Every
//! timestamp must verify, and the signing certificate must be valid at every verified time, so
//! a timestamp outside its validity is a rejection, not something to ignore.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mayfly_client::verify::{
    Artifact, IdentityMatcher, Policy, Verified, VerifyError, verify_bundle,
};
use mayfly_spec::tsp::encode::{
    SignerFields, TstInfoFields, encode_response, encode_tst_info, signed_attributes,
};
use mayfly_spec::tsp::{DigestAlgorithm, oid};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SigningKey as _,
};
use serde_json::{Value, json};
use std::path::PathBuf;
use x509_parser::prelude::{FromDer as _, X509Certificate};

const GH_SAN: &str =
    "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2";
const GH_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// The wheel's SET-signed integratedTime.
const INTEGRATED: i64 = 1_710_888_076;

fn vector(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/sigstore-public")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn policy() -> Policy {
    Policy {
        identity: IdentityMatcher::Exact(GH_SAN.into()),
        issuer: GH_ISSUER.into(),
    }
}

fn wheel() -> (Value, Artifact) {
    (
        serde_json::from_slice(&vector("github-signed.whl.sigstore")).unwrap(),
        Artifact::Bytes(vector("github-signed.whl")),
    )
}

fn b64_field(v: &Value, pointer: &str) -> Vec<u8> {
    STANDARD
        .decode(v.pointer(pointer).unwrap().as_str().unwrap())
        .unwrap()
}

fn signature(bundle: &Value) -> Vec<u8> {
    b64_field(bundle, "/messageSignature/signature")
}

/// The leaf's notBefore and notAfter, Unix seconds.
fn leaf_validity(bundle: &Value) -> (i64, i64) {
    let der = b64_field(
        bundle,
        "/verificationMaterial/x509CertificateChain/certificates/0/rawBytes",
    );
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    let v = cert.validity();
    (v.not_before.timestamp(), v.not_after.timestamp())
}

/// A TSA: a self-signed root and a P-256 signing certificate issued by it.
struct Tsa {
    root: Vec<u8>,
    leaf: Vec<u8>,
    key: KeyPair,
}

impl Tsa {
    fn new(time_stamping: bool) -> Tsa {
        Tsa::with_usage(if time_stamping {
            Usage::TimeStampingCritical
        } else {
            Usage::CodeSigning
        })
    }

    fn with_usage(usage: Usage) -> Tsa {
        let root_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut root = CertificateParams::new(Vec::<String>::new()).unwrap();
        root.distinguished_name = DistinguishedName::new();
        root.distinguished_name
            .push(DnType::CommonName, "test TSA root");
        root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        root.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let root_der = root.self_signed(&root_key).unwrap().der().to_vec();
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut leaf = CertificateParams::new(Vec::<String>::new()).unwrap();
        leaf.distinguished_name = DistinguishedName::new();
        leaf.distinguished_name.push(DnType::CommonName, "test TSA");
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        match usage {
            // rcgen writes extendedKeyUsage non-critical; RFC 3161 wants it critical.
            Usage::TimeStampingCritical => {
                // SEQUENCE { OID 1.3.6.1.5.5.7.3.8 }
                let eku = hex::decode("300a06082b06010505070308").unwrap();
                let mut ext = CustomExtension::from_oid_content(&[2, 5, 29, 37], eku);
                ext.set_criticality(true);
                leaf.custom_extensions = vec![ext];
            }
            Usage::TimeStampingNonCritical => {
                leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::TimeStamping];
            }
            Usage::CodeSigning => {
                leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
            }
        }
        let issuer = Issuer::new(root, root_key);
        let leaf_der = leaf.signed_by(&key, &issuer).unwrap().der().to_vec();
        Tsa {
            root: root_der,
            leaf: leaf_der,
            key,
        }
    }

    /// Its `timestampAuthorities` entry, valid over `[start, end]`.
    fn authority(&self, start: i64, end: Option<i64>) -> Value {
        let rfc3339 = |t: i64| {
            time::OffsetDateTime::from_unix_timestamp(t)
                .unwrap()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap()
        };
        let mut valid_for = json!({"start": rfc3339(start)});
        if let Some(end) = end {
            valid_for["end"] = rfc3339(end).into();
        }
        json!({
            "subject": {"organization": "test", "commonName": "test TSA"},
            "certChain": {"certificates": [
                {"rawBytes": STANDARD.encode(&self.leaf)},
                {"rawBytes": STANDARD.encode(&self.root)},
            ]},
            "validFor": valid_for,
        })
    }

    fn stamp(&self, s: Stamp) -> Vec<u8> {
        let tst = encode_tst_info(&TstInfoFields {
            policy: &[0x2A, 0x03, 0x04],
            imprint_algorithm: DigestAlgorithm::Sha256,
            hashed_message: &DigestAlgorithm::Sha256.hash(&s.over),
            serial: &[1, 2, 3],
            gen_time: s.gen_time,
            nonce: None,
            accuracy_seconds: None,
            tsa: None,
        })
        .unwrap();
        let (_, cert) = X509Certificate::from_der(&self.leaf).unwrap();
        let attrs = signed_attributes(&tst, DigestAlgorithm::Sha256);
        let mut sig = self.key.sign(&attrs).unwrap();
        if s.corrupt_signature {
            *sig.last_mut().unwrap() ^= 1;
        }
        let embedded = if s.embed {
            vec![self.leaf.clone()]
        } else {
            vec![]
        };
        encode_response(
            &tst,
            &SignerFields {
                issuer: cert.issuer().as_raw(),
                serial: cert.raw_serial(),
                digest_algorithm: DigestAlgorithm::Sha256,
                signature_algorithm: oid::ECDSA_SHA256,
                certificates: &embedded,
            },
            &attrs,
            &sig,
        )
    }
}

/// The TSA certificate's extendedKeyUsage.
#[derive(Clone, Copy)]
enum Usage {
    TimeStampingCritical,
    TimeStampingNonCritical,
    CodeSigning,
}

/// One timestamp to make: over which bytes, at what time, with what defects.
struct Stamp {
    over: Vec<u8>,
    gen_time: i64,
    embed: bool,
    corrupt_signature: bool,
}

impl Stamp {
    fn at(bundle: &Value, gen_time: i64) -> Stamp {
        Stamp {
            over: signature(bundle),
            gen_time,
            embed: true,
            corrupt_signature: false,
        }
    }
}

fn with_timestamps(bundle: &Value, stamps: &[Vec<u8>]) -> Vec<u8> {
    let mut b = bundle.clone();
    let list: Vec<Value> = stamps
        .iter()
        .map(|s| json!({"signedTimestamp": STANDARD.encode(s)}))
        .collect();
    b["verificationMaterial"]["timestampVerificationData"] = json!({"rfc3161Timestamps": list});
    serde_json::to_vec(&b).unwrap()
}

/// The public-good trusted root with `authorities` as its `timestampAuthorities`.
fn root_with(authorities: &[Value]) -> Vec<u8> {
    let mut tr: Value = serde_json::from_slice(&vector("trusted_root.public-good.json")).unwrap();
    tr["timestampAuthorities"] = Value::Array(authorities.to_vec());
    serde_json::to_vec(&tr).unwrap()
}

fn verify(bundle: &[u8], root: &[u8]) -> Result<Verified, VerifyError> {
    let (_, artifact) = wheel();
    verify_bundle(bundle, Some(&artifact), root, &policy())
}

fn assert_rejected(result: Result<Verified, VerifyError>, prefix: &str) {
    let err = result.expect_err("must be rejected").to_string();
    assert!(
        err.starts_with(prefix),
        "expected a {prefix:?} error, got {err:?}"
    );
}

#[test]
fn timestamp_inside_the_leaf_validity_verifies() {
    let (bundle, _) = wheel();
    let tsa = Tsa::new(true);
    let root = root_with(&[tsa.authority(0, None)]);
    let b = with_timestamps(&bundle, &[tsa.stamp(Stamp::at(&bundle, INTEGRATED + 2))]);
    let v = verify(&b, &root).unwrap();
    assert_eq!(v.integrated_time, INTEGRATED);
    // The TSA's certificate may also come from the trusted root instead of the token.
    let mut bare = Stamp::at(&bundle, INTEGRATED + 2);
    bare.embed = false;
    let b = with_timestamps(&bundle, &[tsa.stamp(bare)]);
    assert!(verify(&b, &root).is_ok());
}

/// The security bug of issue 15: a genuine timestamp that says the signature existed after
/// the certificate expired must sink the bundle, even though the SET's time is fine.
#[test]
fn timestamp_outside_the_leaf_validity_is_rejected() {
    let (bundle, _) = wheel();
    let (not_before, not_after) = leaf_validity(&bundle);
    let tsa = Tsa::new(true);
    let root = root_with(&[tsa.authority(0, None)]);
    for t in [not_after + 1, not_before - 1, not_after + 365 * 86_400] {
        let b = with_timestamps(&bundle, &[tsa.stamp(Stamp::at(&bundle, t))]);
        assert_rejected(verify(&b, &root), "certificate: not valid at signing time");
    }
    // Windows are inclusive: exactly at notAfter and at notBefore is inside.
    for t in [not_after, not_before] {
        let b = with_timestamps(&bundle, &[tsa.stamp(Stamp::at(&bundle, t))]);
        assert!(verify(&b, &root).is_ok(), "at {t}");
    }
}

#[test]
fn every_timestamp_must_verify() {
    let (bundle, _) = wheel();
    let tsa = Tsa::new(true);
    let root = root_with(&[tsa.authority(0, None)]);
    let good = tsa.stamp(Stamp::at(&bundle, INTEGRATED));
    let mut wrong = Stamp::at(&bundle, INTEGRATED);
    wrong.over = b"another signature".to_vec();
    let b = with_timestamps(&bundle, &[good, tsa.stamp(wrong)]);
    assert_rejected(
        verify(&b, &root),
        "RFC 3161 timestamp: timestamp 1: message imprint is not the hash of the bundle's signature",
    );
}

#[test]
fn timestamp_signature_must_verify() {
    let (bundle, _) = wheel();
    let tsa = Tsa::new(true);
    let root = root_with(&[tsa.authority(0, None)]);
    let mut bad = Stamp::at(&bundle, INTEGRATED);
    bad.corrupt_signature = true;
    let b = with_timestamps(&bundle, &[tsa.stamp(bad)]);
    assert_rejected(
        verify(&b, &root),
        "RFC 3161 timestamp: timestamp 0: not signed by a trusted timestamp authority (the \
         signature over the signed attributes does not verify)",
    );
}

#[test]
fn tsa_must_be_trusted_and_valid_at_the_time() {
    let (bundle, _) = wheel();
    let tsa = Tsa::new(true);
    let b = with_timestamps(&bundle, &[tsa.stamp(Stamp::at(&bundle, INTEGRATED))]);
    // Not in the trusted root at all (another TSA is).
    let other = Tsa::new(true);
    assert_rejected(
        verify(&b, &root_with(&[other.authority(0, None)])),
        "RFC 3161 timestamp: timestamp 0: not signed by a trusted timestamp authority",
    );
    assert_rejected(
        verify(&b, &root_with(&[])),
        "RFC 3161 timestamp: timestamp 0: no timestamp authority",
    );
    // validFor ends one second before genTime; then exactly at it (inclusive).
    assert_rejected(
        verify(&b, &root_with(&[tsa.authority(0, Some(INTEGRATED - 1))])),
        "RFC 3161 timestamp: timestamp 0: no timestamp authority in the trusted root is valid",
    );
    assert!(verify(&b, &root_with(&[tsa.authority(0, Some(INTEGRATED))])).is_ok());
    assert!(verify(&b, &root_with(&[tsa.authority(INTEGRATED, None)])).is_ok());
    assert_rejected(
        verify(&b, &root_with(&[tsa.authority(INTEGRATED + 1, None)])),
        "RFC 3161 timestamp: timestamp 0: no timestamp authority",
    );
}

#[test]
fn tsa_certificate_needs_time_stamping_usage() {
    let (bundle, _) = wheel();
    let tsa = Tsa::new(false);
    let b = with_timestamps(&bundle, &[tsa.stamp(Stamp::at(&bundle, INTEGRATED))]);
    assert_rejected(
        verify(&b, &root_with(&[tsa.authority(0, None)])),
        "RFC 3161 timestamp: timestamp 0: not signed by a trusted timestamp authority (the TSA \
         certificate lacks extendedKeyUsage timeStamping)",
    );
    let tsa = Tsa::with_usage(Usage::TimeStampingNonCritical);
    let b = with_timestamps(&bundle, &[tsa.stamp(Stamp::at(&bundle, INTEGRATED))]);
    assert_rejected(
        verify(&b, &root_with(&[tsa.authority(0, None)])),
        "RFC 3161 timestamp: timestamp 0: not signed by a trusted timestamp authority (the TSA \
         certificate's extendedKeyUsage is not a critical timeStamping only)",
    );
}

/// Without a SET, integratedTime means nothing: a verified timestamp supplies the time, and
/// with neither there is no time at all.
#[test]
fn timestamp_replaces_a_missing_set() {
    let (mut bundle, _) = wheel();
    bundle["verificationMaterial"]["tlogEntries"][0]
        .as_object_mut()
        .unwrap()
        .remove("inclusionPromise");
    let tsa = Tsa::new(true);
    let root = root_with(&[tsa.authority(0, None)]);
    let b = with_timestamps(&bundle, &[tsa.stamp(Stamp::at(&bundle, INTEGRATED + 5))]);
    assert_eq!(verify(&b, &root).unwrap().integrated_time, INTEGRATED + 5);
    let b = with_timestamps(&bundle, &[]);
    assert_rejected(verify(&b, &root), "signing time: no verified time");
}

/// The real staging timestamp is genuine but over another bundle's signature.
#[test]
fn a_timestamp_from_another_bundle_is_rejected() {
    let staging: Value =
        serde_json::from_slice(&vector("staging-rekor-v2.txt.sigstore.json")).unwrap();
    let (mut bundle, _) = wheel();
    bundle["verificationMaterial"]["timestampVerificationData"] =
        staging["verificationMaterial"]["timestampVerificationData"].clone();
    let b = serde_json::to_vec(&bundle).unwrap();
    let staging_root = vector("trusted_root.staging.json");
    let tr: Value = serde_json::from_slice(&staging_root).unwrap();
    let root = root_with(tr["timestampAuthorities"].as_array().unwrap());
    assert_rejected(
        verify(&b, &root),
        "RFC 3161 timestamp: timestamp 0: message imprint",
    );
}

/// A Rekor v2 log built here: an Ed25519 key (as the public Rekor v2 logs use) and a
/// one-entry tree whose checkpoint carries a witness cosignature before the log's own.
struct V2Log {
    key: aws_lc_rs::signature::Ed25519KeyPair,
    log_id: [u8; 32],
}

impl V2Log {
    fn new() -> V2Log {
        use aws_lc_rs::signature::KeyPair as _;
        let key = aws_lc_rs::signature::Ed25519KeyPair::generate().unwrap();
        let log_id =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.public_key().as_ref());
        V2Log {
            key,
            log_id: log_id.as_ref().try_into().unwrap(),
        }
    }

    fn spki(&self) -> Vec<u8> {
        use aws_lc_rs::signature::KeyPair as _;
        let mut spki = hex::decode("302a300506032b6570032100").unwrap();
        spki.extend_from_slice(self.key.public_key().as_ref());
        spki
    }

    /// The checkpoint for a one-leaf tree, signed by a witness and (if `by_log`) the log.
    fn checkpoint(&self, root: &[u8], by_log: bool) -> String {
        let text = format!("log.example\n1\n{}\n", STANDARD.encode(root));
        let mut note = format!("{text}\n");
        let mut witness = vec![0xAB, 0xCD, 0xEF, 0x01];
        witness.extend_from_slice(&[7; 64]);
        note.push_str(&format!(
            "\u{2014} witness.example {}\n",
            STANDARD.encode(witness)
        ));
        if by_log {
            let mut line = self.log_id[..4].to_vec();
            line.extend_from_slice(self.key.sign(text.as_bytes()).as_ref());
            note.push_str(&format!("\u{2014} log.example {}\n", STANDARD.encode(line)));
        }
        note
    }

    fn trust(&self, tsa: &Tsa) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [{
                "baseUrl": "https://log.example",
                "hashAlgorithm": "SHA2_256",
                "publicKey": {"rawBytes": STANDARD.encode(self.spki()),
                              "keyDetails": "PKIX_ED25519",
                              "validFor": {"start": "2020-01-01T00:00:00Z"}},
                "logId": {"keyId": STANDARD.encode(self.log_id)},
            }],
            "timestampAuthorities": [tsa.authority(0, None)],
        }))
        .unwrap()
    }
}

const IN_TOTO: &str = "application/vnd.in-toto+json";
const NOW: i64 = 1_760_000_000;

/// A DSSE bundle signed with a managed P-256 key and logged in a Rekor v2 log as `kind`
/// (`hashedrekord`: over the PAE; `dsse`), with a TSA timestamp when `stamped`.
fn keyed_v2_bundle(
    log: &V2Log,
    tsa: &Tsa,
    kind: &str,
    by_log: bool,
    stamped: bool,
) -> (Vec<u8>, String) {
    use p256::ecdsa::signature::Signer as _;
    use p256::pkcs8::{EncodePublicKey as _, LineEnding};
    let key = p256::ecdsa::SigningKey::from_slice(&[0x42; 32]).unwrap();
    let spki = key
        .verifying_key()
        .to_public_key_der()
        .unwrap()
        .as_bytes()
        .to_vec();
    let pem = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let artifact_digest = DigestAlgorithm::Sha256.hash(b"artifact");
    let payload = serde_json::to_vec(&json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "artifact", "digest": {"sha256": hex::encode(&artifact_digest)}}],
        "predicateType": "https://example.com/p", "predicate": {}
    }))
    .unwrap();
    let pae = mayfly_spec::rekor::pae(IN_TOTO, &payload);
    let sig: p256::ecdsa::DerSignature = key.sign(&pae);
    let sig = sig.as_bytes().to_vec();
    let verifier = json!({"keyDetails": "PKIX_ECDSA_P256_SHA_256",
                          "publicKey": {"rawBytes": STANDARD.encode(&spki)}});
    let spec = match kind {
        "hashedrekord" => json!({"hashedRekordV002": {
            "data": {"algorithm": "SHA2_256", "digest": STANDARD.encode(DigestAlgorithm::Sha256.hash(&pae))},
            "signature": {"content": STANDARD.encode(&sig), "verifier": verifier}}}),
        _ => json!({"dsseV002": {
            "payloadHash": {"algorithm": "SHA2_256", "digest": STANDARD.encode(DigestAlgorithm::Sha256.hash(&payload))},
            "signatures": [{"content": STANDARD.encode(&sig), "verifier": verifier}]}}),
    };
    let body =
        serde_json::to_vec(&json!({"apiVersion": "0.0.2", "kind": kind, "spec": spec})).unwrap();
    let mut leaf = vec![0u8];
    leaf.extend_from_slice(&body);
    let root = DigestAlgorithm::Sha256.hash(&leaf);
    let mut material = json!({
        "publicKey": {"hint": "test key"},
        "tlogEntries": [{
            "logIndex": "0",
            "logId": {"keyId": STANDARD.encode(log.log_id)},
            "kindVersion": {"kind": kind, "version": "0.0.2"},
            "inclusionProof": {"logIndex": "0", "rootHash": STANDARD.encode(&root), "treeSize": "1",
                               "hashes": [], "checkpoint": {"envelope": log.checkpoint(&root, by_log)}},
            "canonicalizedBody": STANDARD.encode(&body),
        }],
    });
    if stamped {
        let stamp = tsa.stamp(Stamp {
            over: sig.clone(),
            gen_time: NOW,
            embed: false,
            corrupt_signature: false,
        });
        material["timestampVerificationData"] =
            json!({"rfc3161Timestamps": [{"signedTimestamp": STANDARD.encode(stamp)}]});
    }
    let bundle = json!({
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": material,
        "dsseEnvelope": {"payload": STANDARD.encode(&payload), "payloadType": IN_TOTO,
                         "signatures": [{"sig": STANDARD.encode(&sig), "keyid": ""}]},
    });
    (serde_json::to_vec(&bundle).unwrap(), pem)
}

/// Rekor v2 end to end with a managed key: DSSE logged as a hashedrekord over its PAE and as
/// dsse 0.0.2, Ed25519 checkpoint with a cosignature, the TSA's time as the only time.
#[test]
fn keyed_dsse_in_a_rekor_v2_log_verifies() {
    use mayfly_client::verify::verify_bundle_with_key;
    let (log, tsa) = (V2Log::new(), Tsa::new(true));
    let root = log.trust(&tsa);
    let artifact = Artifact::Bytes(b"artifact".to_vec());
    for kind in ["hashedrekord", "dsse"] {
        let (bundle, pem) = keyed_v2_bundle(&log, &tsa, kind, true, true);
        let v = verify_bundle_with_key(&bundle, Some(&artifact), &root, pem.as_bytes()).unwrap();
        assert_eq!((v.kind.as_str(), v.integrated_time), (kind, NOW));
        let other = Artifact::Bytes(b"other".to_vec());
        assert_rejected(
            verify_bundle_with_key(&bundle, Some(&other), &root, pem.as_bytes()),
            "artifact: no statement subject",
        );
        // Only a witness signed the checkpoint.
        let (bundle, pem) = keyed_v2_bundle(&log, &tsa, kind, false, true);
        assert_rejected(
            verify_bundle_with_key(&bundle, Some(&artifact), &root, pem.as_bytes()),
            "checkpoint: no signature by the log",
        );
        // No timestamp: a v2 entry then has no verified time.
        let (bundle, pem) = keyed_v2_bundle(&log, &tsa, kind, true, false);
        assert_rejected(
            verify_bundle_with_key(&bundle, Some(&artifact), &root, pem.as_bytes()),
            "signing time: no verified time",
        );
    }
}

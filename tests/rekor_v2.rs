//! The Rekor v2 log end to end against a real Mayfly on port 0: hashedrekord 0.0.2 and dsse
//! 0.0.2 requests are answered with a `TransparencyLogEntry` that is checked here with code
//! independent of Mayfly's (the RFC 9162 inclusion proof, the checkpoint's signature under the
//! key from `/logs/rekor-v2/key.pem` and the trusted root, the leaf read back through the
//! tiles); duplicates, bad bodies, the trust documents, and a data dir made before the v2 log
//! existed.

mod support;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use p256::ecdsa::signature::Signer;
use p256::pkcs8::EncodePublicKey;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::{Mayfly, p256_key, pem_ders};

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn node(left: &[u8], right: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// RFC 9162 §2.1.3.2 inclusion verification.
fn root_from_inclusion(index: u64, size: u64, leaf: [u8; 32], proof: &[[u8; 32]]) -> [u8; 32] {
    assert!(index < size);
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = leaf;
    for p in proof {
        assert!(sn != 0, "proof too long");
        if fn_ & 1 == 1 || fn_ == sn {
            r = node(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    assert_eq!(sn, 0, "proof too short");
    r
}

fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

struct Client {
    key: p256::ecdsa::SigningKey,
    spki: Vec<u8>,
}

impl Client {
    fn new() -> Client {
        let (key, _) = p256_key();
        let spki = key
            .verifying_key()
            .to_public_key_der()
            .unwrap()
            .as_bytes()
            .to_vec();
        Client { key, spki }
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        let sig: p256::ecdsa::DerSignature = self.key.sign(message);
        sig.as_bytes().to_vec()
    }

    fn verifier(&self) -> Value {
        json!({"publicKey": {"rawBytes": B64.encode(&self.spki)},
               "keyDetails": "PKIX_ECDSA_P256_SHA_256"})
    }

    fn hashedrekord(&self, blob: &[u8]) -> Value {
        json!({"hashedRekordRequestV002": {
            "digest": B64.encode(sha256(blob)),
            "signature": {"content": B64.encode(self.sign(blob)), "verifier": self.verifier()},
        }})
    }

    fn dsse(&self, payload: &[u8]) -> Value {
        let payload_type = "application/vnd.in-toto+json";
        json!({"dsseRequestV002": {
            "envelope": {
                "payload": B64.encode(payload),
                "payloadType": payload_type,
                "signatures": [{"sig": B64.encode(self.sign(&pae(payload_type, payload))), "keyid": ""}],
            },
            "verifiers": [self.verifier()],
        }})
    }
}

async fn post(mayfly: &Mayfly, path: &str, body: &[u8]) -> reqwest::Response {
    mayfly
        .client
        .post(format!("{}{path}", mayfly.url))
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

/// The v2 log's public key, as served with its tiles.
async fn log_spki(mayfly: &Mayfly) -> Vec<u8> {
    let pem = String::from_utf8(mayfly.get_bytes("/logs/rekor-v2/key.pem").await).unwrap();
    pem_ders(&pem).remove(0)
}

/// Checks a `TransparencyLogEntry` independently; returns the logged body and its index.
fn verify(entry: &Value, log_spki: &[u8], origin: &str, kind: &str) -> (Vec<u8>, u64) {
    // protobuf JSON: int64 as strings, no SET, no integrated time.
    for field in [&entry["logIndex"], &entry["integratedTime"]] {
        assert!(field.is_string(), "{entry}");
    }
    assert_eq!(entry["integratedTime"], "0");
    assert_eq!(entry["inclusionPromise"], Value::Null);
    assert_eq!(
        entry["kindVersion"],
        json!({"kind": kind, "version": "0.0.2"})
    );
    assert_eq!(entry["logId"]["keyId"], B64.encode(sha256(log_spki)));
    let body = B64
        .decode(entry["canonicalizedBody"].as_str().unwrap())
        .unwrap();
    let stored: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(stored["kind"], kind);
    assert_eq!(stored["apiVersion"], "0.0.2");

    let proof = &entry["inclusionProof"];
    assert_eq!(proof["logIndex"], entry["logIndex"]);
    let index: u64 = proof["logIndex"].as_str().unwrap().parse().unwrap();
    let size: u64 = proof["treeSize"].as_str().unwrap().parse().unwrap();
    let hashes: Vec<[u8; 32]> = proof["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| B64.decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
        .collect();
    let mut leaf_input = vec![0u8];
    leaf_input.extend_from_slice(&body);
    let root = root_from_inclusion(index, size, sha256(&leaf_input), &hashes);
    assert_eq!(proof["rootHash"], B64.encode(root));

    let note = proof["checkpoint"]["envelope"].as_str().unwrap();
    let (text, signatures) = note.split_once("\n\n").unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], origin);
    assert_eq!(lines[1].parse::<u64>().unwrap(), size);
    assert_eq!(B64.decode(lines[2]).unwrap(), root);
    let sig_line = signatures.lines().next().unwrap();
    assert!(sig_line.starts_with(&format!("— {origin} ")), "{sig_line}");
    let sig = B64.decode(sig_line.rsplit(' ').next().unwrap()).unwrap();
    assert_eq!(&sig[..4], &sha256(log_spki)[..4], "key hint");
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, log_spki)
        .verify(format!("{text}\n").as_bytes(), &sig[4..])
        .expect("checkpoint signature verifies");
    (body, index)
}

/// The entries of the v2 log's first bundle, read through the tiles (C2SP: 2-byte big-endian
/// length, then the entry).
async fn entries_from_tiles(mayfly: &Mayfly, size: u64) -> Vec<Vec<u8>> {
    let bundle = mayfly
        .get_bytes(&format!("/logs/rekor-v2/tile/entries/000.p/{size}"))
        .await;
    let mut out = Vec::new();
    let mut rest = &bundle[..];
    while !rest.is_empty() {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        out.push(rest[2..2 + len].to_vec());
        rest = &rest[2 + len..];
    }
    out
}

#[tokio::test]
async fn hashedrekord_and_dsse_entries_are_logged_with_proofs_that_verify() {
    let mayfly = Mayfly::start(None, false).await;
    let spki = log_spki(&mayfly).await;
    let origin = format!("{}/logs/rekor-v2", mayfly.url.trim_start_matches("http://"));
    let client = Client::new();

    // The trusted root lists the v2 log after the artifact log, with this key and a baseUrl
    // that contains its checkpoint key name (sigstore-js's rule).
    let root = mayfly.get_json("/trust/trusted_root.json").await;
    let tlogs = root["tlogs"].as_array().unwrap();
    assert_eq!(tlogs.len(), 2);
    assert_eq!(tlogs[0]["baseUrl"], mayfly.url);
    assert_eq!(tlogs[1]["baseUrl"], format!("{}/logs/rekor-v2", mayfly.url));
    assert!(tlogs[1]["baseUrl"].as_str().unwrap().contains(&origin));
    assert_eq!(tlogs[1]["publicKey"]["rawBytes"], B64.encode(&spki));
    assert_eq!(tlogs[1]["logId"]["keyId"], B64.encode(sha256(&spki)));
    assert_eq!(
        tlogs[1]["publicKey"]["validFor"],
        tlogs[0]["publicKey"]["validFor"]
    );

    // Through the path clients build from the signing config's base URL…
    let request = client.hashedrekord(b"a blob");
    let response = post(
        &mayfly,
        "/logs/rekor-v2/api/v2/log/entries",
        request.to_string().as_bytes(),
    )
    .await;
    assert_eq!(response.status(), 200);
    let first: Value = response.json().await.unwrap();
    let (hashed_body, hashed_index) = verify(&first, &spki, &origin, "hashedrekord");
    assert_eq!(hashed_index, 1, "index 0 is the genesis entry");
    let stored: Value = serde_json::from_slice(&hashed_body).unwrap();
    assert_eq!(
        stored["spec"]["hashedRekordV002"]["data"],
        json!({"algorithm": "SHA2_256", "digest": B64.encode(sha256(b"a blob"))})
    );

    // …and through the path the issue names: the same log.
    let request = client.dsse(br#"{"_type":"https://in-toto.io/Statement/v1"}"#);
    let response = post(
        &mayfly,
        "/api/v2/log/entries",
        request.to_string().as_bytes(),
    )
    .await;
    assert_eq!(response.status(), 200);
    let second: Value = response.json().await.unwrap();
    let (dsse_body, dsse_index) = verify(&second, &spki, &origin, "dsse");
    assert_eq!(dsse_index, 2);
    assert_eq!(second["inclusionProof"]["treeSize"], "3");

    // What was answered is what the log holds, and the served checkpoint has moved on.
    assert_eq!(
        entries_from_tiles(&mayfly, 3).await,
        vec![
            mayfly_spec::tlog::genesis::entry(&origin),
            hashed_body,
            dsse_body
        ]
    );
    let checkpoint =
        String::from_utf8(mayfly.get_bytes("/logs/rekor-v2/checkpoint").await).unwrap();
    assert!(
        checkpoint.starts_with(&format!("{origin}\n3\n")),
        "{checkpoint}"
    );
    // The other logs are untouched.
    assert_eq!(mayfly.artifacts_size().await, 1, "only its genesis entry");
    mayfly.stop().await;
}

#[tokio::test]
async fn duplicates_are_409_with_the_index_and_bad_bodies_400_naming_the_field() {
    let mayfly = Mayfly::start(None, false).await;
    let client = Client::new();
    for blob in [&b"one"[..], b"two"] {
        let request = client.hashedrekord(blob);
        let response = post(
            &mayfly,
            "/api/v2/log/entries",
            request.to_string().as_bytes(),
        )
        .await;
        assert_eq!(response.status(), 200);
    }
    // ECDSA signatures are randomised: the same blob signed again is another entry, so the
    // repeat is the same request.
    let request = client.hashedrekord(b"again");
    let first = post(
        &mayfly,
        "/api/v2/log/entries",
        request.to_string().as_bytes(),
    )
    .await;
    assert_eq!(first.status(), 200);
    let again = post(
        &mayfly,
        "/logs/rekor-v2/api/v2/log/entries",
        request.to_string().as_bytes(),
    )
    .await;
    assert_eq!(again.status(), 409);
    assert_eq!(again.headers()["x-log-index"], "3");
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["code"], 6);
    assert_eq!(body["details"], json!([]));
    assert!(
        body["message"].as_str().unwrap().contains("index 3"),
        "{body}"
    );

    // Bad input: 400 with gRPC's InvalidArgument and the field named; nothing logged.
    let mut wrong_key = client.hashedrekord(b"x");
    wrong_key["hashedRekordRequestV002"]["signature"]["verifier"]["keyDetails"] =
        json!("PKIX_ECDSA_P384_SHA_384");
    let mut short_digest = client.hashedrekord(b"x");
    short_digest["hashedRekordRequestV002"]["digest"] = json!(B64.encode([0u8; 20]));
    let mut unknown = client.hashedrekord(b"x");
    unknown["hashedRekordRequestV002"]["extra"] = json!(1);
    let other_client = Client::new();
    let mut forged = client.hashedrekord(b"x");
    forged["hashedRekordRequestV002"]["signature"]["content"] =
        json!(B64.encode(other_client.sign(b"x")));
    for (body, names) in [
        (wrong_key.to_string(), "keyDetails"),
        (short_digest.to_string(), "hashedRekordRequestV002.digest"),
        (unknown.to_string(), "extra"),
        (forged.to_string(), "signature"),
        ("{}".to_owned(), "hashedRekordRequestV002"),
        ("not json".to_owned(), ""),
    ] {
        let response = post(&mayfly, "/api/v2/log/entries", body.as_bytes()).await;
        assert_eq!(response.status(), 400, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["code"], 3, "{answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(message.contains(names), "{message} should name {names}");
    }
    let checkpoint =
        String::from_utf8(mayfly.get_bytes("/logs/rekor-v2/checkpoint").await).unwrap();
    assert_eq!(checkpoint.lines().nth(1), Some("4"));
    mayfly.stop().await;
}

#[tokio::test]
async fn the_default_signing_config_lists_rekor_v2_first_then_v1_and_the_v2_name_is_an_alias() {
    let mayfly = Mayfly::start(None, false).await;
    let service = |config: &Value| -> Vec<(String, u64)> {
        config["rekorTlogUrls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["url"].as_str().unwrap().to_owned(),
                    s["majorApiVersion"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let default = mayfly.get_json("/trust/signing_config.json").await;
    assert_eq!(
        default["mediaType"],
        "application/vnd.dev.sigstore.signingconfig.v0.2+json"
    );
    // v2 first: sigstore-js takes the first of equal `validFor.start`s.
    assert_eq!(
        service(&default),
        vec![
            (format!("{}/logs/rekor-v2", mayfly.url), 2),
            (mayfly.url.clone(), 1)
        ]
    );
    assert_eq!(
        default["rekorTlogUrls"][0]["validFor"],
        default["rekorTlogUrls"][1]["validFor"]
    );
    assert_eq!(default["rekorTlogConfig"]["selector"], "ANY");
    assert_eq!(default["tsaConfig"]["selector"], "ANY");
    assert_eq!(default["tsaUrls"][0]["majorApiVersion"], 1);
    assert_eq!(
        default["tsaUrls"][0]["url"],
        format!("{}/api/v1/timestamp", mayfly.url)
    );
    assert_eq!(default["caUrls"][0]["url"], mayfly.url);
    // The former opt-in name serves the same bytes, and the client trust config wraps it.
    assert_eq!(
        mayfly.get_bytes("/trust/signing_config.v2.json").await,
        mayfly.get_bytes("/trust/signing_config.json").await
    );
    let both = mayfly.get_json("/trust/client_trust_config.json").await;
    assert_eq!(both["signingConfig"], default);
    mayfly.stop().await;
}

/// Removes what a start of this version added, leaving a data dir and database as an instance
/// made before the v2 log existed left them.
fn make_old_layout(data: &std::path::Path) {
    std::fs::remove_file(data.join("keys/rekor-v2-log.key.pem")).unwrap();
    let status = std::process::Command::new("sqlite3")
        .arg(data.join("mayfly.db"))
        .arg("DELETE FROM checkpoints WHERE log = 3;")
        .status()
        .expect("sqlite3 runs");
    assert!(status.success());
}

#[tokio::test]
async fn a_data_dir_from_before_the_v2_log_gains_it_on_start() {
    let mut mayfly = Mayfly::start(None, false).await;
    let client = Client::new();
    let v1_entry = {
        // Something in the other logs, to show they survive.
        mayfly
            .state
            .artifacts
            .append(b"kept".to_vec())
            .await
            .unwrap();
        mayfly.artifacts_size().await
    };
    mayfly.shut_down().await;
    let data = mayfly.config.data_dir.clone();
    make_old_layout(&data);
    assert!(!data.join("keys/rekor-v2-log.key.pem").exists());

    let reopened = mayfly::server::Instance::open(&mayfly.config, None)
        .await
        .expect("an old data dir opens");
    assert!(data.join("keys/rekor-v2-log.key.pem").exists());
    // A v2 log added to an old instance is a new log: it starts with its genesis entry.
    assert_eq!(reopened.state.rekor_v2.checkpoint().size, 1);
    assert_eq!(reopened.state.artifacts.checkpoint().size, v1_entry);
    let request = client.hashedrekord(b"after the upgrade");
    let appended = reopened
        .state
        .rekor_v2
        .append(
            mayfly_spec::rekor::v2::canonicalize_v2(request.to_string().as_bytes())
                .unwrap()
                .body,
        )
        .await
        .unwrap();
    assert!(matches!(appended, mayfly::log::Appended::New(_)));
    reopened.close().await;

    // A replica whose data dir predates the log, on a database that holds it: refused, and
    // nothing written to its data dir.
    let key = std::fs::read(data.join("keys/rekor-v2-log.key.pem")).unwrap();
    std::fs::remove_file(data.join("keys/rekor-v2-log.key.pem")).unwrap();
    let refused = mayfly::server::Instance::open(&mayfly.config, None)
        .await
        .err()
        .expect("a missing v2 key is refused");
    let message = refused.to_string();
    assert!(message.contains("rekor-v2-log.key.pem"), "{message}");
    assert!(message.contains("size 2"), "{message}");
    assert!(!data.join("keys/rekor-v2-log.key.pem").exists());

    // A replica with another v2 key: refused by the key check on the stored checkpoint.
    let other = tempfile::tempdir().unwrap();
    let other_key = other.path().join("k.pem");
    mayfly::log::key::LogKey::generate()
        .unwrap()
        .write_new(&other_key)
        .unwrap();
    std::fs::copy(&other_key, data.join("keys/rekor-v2-log.key.pem")).unwrap();
    let refused = mayfly::server::Instance::open(&mayfly.config, None)
        .await
        .err()
        .expect("another v2 key is refused");
    assert!(refused.to_string().contains("rekor-v2"), "{refused}");

    // With the right key back, it opens again.
    std::fs::write(data.join("keys/rekor-v2-log.key.pem"), key).unwrap();
    let back = mayfly::server::Instance::open(&mayfly.config, None)
        .await
        .expect("the right key opens");
    assert_eq!(back.state.rekor_v2.checkpoint().size, 2);
    back.close().await;
}

/// The real clients against the v2 log, through the default signing config as served.
/// sigstore-js (`bundleBuilderFromSigningConfig`, the only sigstore-js path to v2) signs a
/// blob (hashedrekord 0.0.2) and an in-toto statement (dsse 0.0.2, which rekor-tiles no
/// longer takes but sigstore-js still sends), each with a timestamp from Mayfly's TSA; the
/// entries verify here against the v2 key, and `mayfly verify` and `@sigstore/verify` accept
/// both bundles.
/// sigstore-python verifies the message signature; it refuses the dsse 0.0.2 one by design
/// (`Verifier.verify_dsse` takes only hashedrekord 0.0.2 and dsse 0.0.1). sigstore-python
/// itself signs to v2 with a timestamp, and both verifiers accept its bundle.
#[tokio::test]
async fn real_clients_log_to_the_v2_log() {
    use mayfly_client::verify::{Artifact, IdentityMatcher, Policy, verify_bundle};
    use support::clients::{Clients, run, run_failing};
    let clients = Clients::get();
    let mayfly = Mayfly::start(None, true).await;
    let spki = log_spki(&mayfly).await;
    let origin = format!("{}/logs/rekor-v2", mayfly.url.trim_start_matches("http://"));
    let dir = mayfly.dir.path();
    let trusted_root = mayfly.get_json("/trust/trusted_root.json").await;
    let trusted_root_file = mayfly.trust_file("trusted_root.json").await;
    // sigstore-python's `--trust-config`, built from the two documents as the README shows;
    // it is what /trust/client_trust_config.json serves.
    let built = json!({
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": trusted_root,
        "signingConfig": mayfly.get_json("/trust/signing_config.json").await,
    });
    assert_eq!(
        built,
        mayfly.get_json("/trust/client_trust_config.json").await
    );
    let trust_config = dir.join("mayfly-trust.json");
    std::fs::write(&trust_config, built.to_string()).unwrap();
    let issuer = format!("{}/dev-oidc", mayfly.url);
    let san = "https://github.com/octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main";
    let policy = Policy {
        identity: IdentityMatcher::Exact(san.into()),
        issuer: issuer.clone(),
    };
    let mayfly_verify = |bundle: &std::path::Path, artifact: Option<&std::path::Path>| {
        verify_bundle(
            &std::fs::read(bundle).unwrap(),
            artifact
                .map(|a| Artifact::Bytes(std::fs::read(a).unwrap()))
                .as_ref(),
            trusted_root.to_string().as_bytes(),
            &policy,
        )
    };

    // sigstore-js, with the signing config exactly as served: it picks the v2 log (listed
    // first, equal start) and the TSA.
    let config_file = mayfly.trust_file("signing_config.json").await;
    let statement = dir.join("statement.json");
    std::fs::write(
        &statement,
        br#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"00"}}],"predicateType":"https://example.com/p","predicate":{}}"#,
    )
    .unwrap();
    for (bundle_type, kind, index) in [
        ("messageSignature", "hashedrekord", 1),
        ("dsseEnvelope", "dsse", 2),
    ] {
        let bundle_file = dir.join(format!("{bundle_type}.sigstore.json"));
        let mut command = clients.node_script("sign_v2.cjs");
        command
            .arg(bundle_type)
            .arg(&config_file)
            .arg(mayfly.ci_token().await)
            .arg(&statement)
            .arg(&bundle_file);
        run(command).await;
        let bundle: Value = serde_json::from_slice(&std::fs::read(&bundle_file).unwrap()).unwrap();
        let stamps =
            &bundle["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"];
        assert_eq!(stamps.as_array().map(Vec::len), Some(1), "{bundle}");
        let mut entry = bundle["verificationMaterial"]["tlogEntries"][0].clone();
        // protobuf JSON as sigstore-js writes it drops zero, empty and null fields: put back
        // the defaults rekor-tiles (and Mayfly) send.
        assert!(entry["integratedTime"].is_null() || entry["integratedTime"] == "0");
        entry["integratedTime"] = json!("0");
        entry["inclusionPromise"] = Value::Null;
        for (object, field, default) in [
            ("", "logIndex", json!("0")),
            ("inclusionProof", "logIndex", json!("0")),
            ("inclusionProof", "hashes", json!([])),
        ] {
            let target = match object {
                "" => &mut entry,
                name => &mut entry[name],
            };
            if target[field].is_null() {
                target[field] = default;
            }
        }
        let (_, logged_at) = verify(&entry, &spki, &origin, kind);
        assert_eq!(logged_at, index);

        let artifact = (kind == "hashedrekord").then_some(statement.as_path());
        let verified = mayfly_verify(&bundle_file, artifact).unwrap_or_else(|e| {
            panic!("mayfly verify refuses sigstore-js's {kind} 0.0.2 bundle: {e}")
        });
        assert_eq!(verified.kind, kind);
        assert_eq!(verified.log_index, index);
        assert_eq!(verified.san, san);
        let mut command = clients.node_script("verify.cjs");
        command
            .arg(&trusted_root_file)
            .arg(&bundle_file)
            .args([san, &issuer]);
        if let Some(artifact) = artifact {
            command.arg(artifact);
        }
        let by_js = support::clients::stdout_json(&run(command).await);
        assert_eq!(by_js["kind"], kind, "@sigstore/verify: {by_js}");
        assert_eq!(by_js["version"], "0.0.2");
        if kind == "hashedrekord" {
            let mut command = clients.python_cli();
            command
                .arg("--trust-config")
                .arg(&trust_config)
                .args(["verify", "identity", "--offline", "--bundle"])
                .arg(&bundle_file)
                .args(["--cert-identity", san, "--cert-oidc-issuer", &issuer])
                .arg(&statement);
            run(command).await;
        } else {
            // sigstore-python 4.5.1 `Verifier.verify_dsse` (sigstore/verify/verifier.py)
            // accepts hashedrekord 0.0.2 (how it logs DSSE to v2 itself) and dsse 0.0.1, and
            // raises for anything else: its limitation, not the bundle's.
            let mut command = clients.python_script("verify_dsse.py");
            command
                .arg(&trust_config)
                .arg(&bundle_file)
                .args([san, &issuer]);
            let output = run_failing(command).await;
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                stderr.contains("Unsupported DSSE log entry type: dsse/0.0.2"),
                "{stderr}"
            );
        }
    }

    // sigstore-python with the default trust config signs to the v2 log with a timestamp
    // from Mayfly's TSA (a v2 entry has no signed time of its own), and both verifiers accept
    // the bundle.
    let artifact = dir.join("artifact.txt");
    std::fs::write(&artifact, b"rekor v2\n").unwrap();
    let bundle = dir.join("artifact.sigstore.json");
    let mut command = clients.python_cli();
    command
        .arg("--trust-config")
        .arg(&trust_config)
        .args([
            "sign",
            "--identity-token",
            &mayfly.ci_token().await,
            "--bundle",
        ])
        .arg(&bundle)
        .arg(&artifact);
    run(command).await;
    let checkpoint =
        String::from_utf8(mayfly.get_bytes("/logs/rekor-v2/checkpoint").await).unwrap();
    assert_eq!(checkpoint.lines().nth(1), Some("4"), "python logged to v2");
    let written: Value = serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    let material = &written["verificationMaterial"];
    assert_eq!(
        material["tlogEntries"][0]["kindVersion"]["version"],
        "0.0.2"
    );
    assert_eq!(
        material["timestampVerificationData"]["rfc3161Timestamps"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "{material}"
    );
    let mut command = clients.python_cli();
    command
        .arg("--trust-config")
        .arg(&trust_config)
        .args(["verify", "identity", "--offline", "--bundle"])
        .arg(&bundle)
        .args(["--cert-identity", san, "--cert-oidc-issuer", &issuer])
        .arg(&artifact);
    run(command).await;
    let verified = mayfly_verify(&bundle, Some(&artifact))
        .expect("mayfly verify accepts sigstore-python's Rekor v2 bundle");
    assert_eq!(verified.kind, "hashedrekord");
    // Nothing went to the v1 log: only its genesis entry.
    assert_eq!(mayfly.artifacts_size().await, 1);
    mayfly.stop().await;
}

/// `mayfly init` on a data dir from before the v2 log adds it and says that replicas need the
/// data dir again; run once more, it changes nothing.
#[tokio::test]
async fn init_adds_the_v2_log_to_an_old_data_dir_and_says_so() {
    use mayfly::server::{InitConfig, init};
    let tmp = tempfile::tempdir().unwrap();
    let config = InitConfig {
        data_dir: tmp.path().join("data"),
        public_url: url::Url::parse("https://sign.example.com/").unwrap(),
        database_url: None,
        ca: mayfly::ca::setup::CaBackend::File,
        ca_passphrase_file: None,
        hsm: None,
    };
    let made = init(&config).await.unwrap();
    assert!(made.created);
    let names: Vec<&str> = made.logs.iter().map(|l| l.name).collect();
    assert_eq!(names, ["issuance", "artifacts", "rekor-v2"]);
    assert_eq!(made.logs[2].origin, "sign.example.com/logs/rekor-v2");

    make_old_layout(&config.data_dir);
    let upgraded = init(&config).await.unwrap();
    assert!(!upgraded.created && upgraded.added_rekor_v2);
    assert!(
        upgraded.to_string().contains("added its Rekor v2 log"),
        "{upgraded}"
    );
    assert_ne!(upgraded.logs[2].log_id, made.logs[2].log_id, "a new shard");

    let again = init(&config).await.unwrap();
    assert!(!again.created && !again.added_rekor_v2);
    assert!(again.to_string().contains("nothing written"), "{again}");
    assert_eq!(again.logs[2].log_id, upgraded.logs[2].log_id);
}

//! The Rekor v1 API end to end against a real Mayfly on port 0: a real certificate from the
//! dev issuer signs a blob (hashedrekord), a DSSE envelope (dsse) and an in-toto envelope
//! (intoto); each response is then verified here with code independent of Mayfly's — the SET
//! over a hand-built RFC 8785 payload, the RFC 9162 inclusion proof, the checkpoint's signature
//! and its agreement with `rootHash`/`treeSize` — using only the key from `/api/v1/log/publicKey`.

mod support;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD};
use p256::ecdsa::signature::Signer;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::{Mayfly, key_request, p256_key, p256_sign, pem_ders};

use support::backend::Backend;

// Every test below runs twice: on SQLite and on PostgreSQL (tests/support/backend.rs).
on_both_backends!(
    every_kind_logs_and_verifies_independently,
    bad_entries_are_400_and_append_nothing,
);

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
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
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

fn dsse_pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

struct Harness {
    mayfly: Mayfly,
    key: p256::ecdsa::SigningKey,
    cert_pem: String,
    log_spki: Vec<u8>,
}

impl Harness {
    async fn start() -> Harness {
        let mayfly = Mayfly::start(None, true).await;
        let token = mayfly.dev_token(&json!({})).await;
        let claims: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        let (key, pem) = p256_key();
        let proof = p256_sign(&key, claims["sub"].as_str().unwrap());
        let (status, body) = mayfly
            .sign_v2(&key_request(&token, &pem, &proof), None)
            .await;
        assert_eq!(status, 200, "{body}");
        let cert_pem = body["signedCertificateEmbeddedSct"]["chain"]["certificates"][0]
            .as_str()
            .unwrap()
            .to_owned();
        let key_pem = String::from_utf8(mayfly.get_bytes("/api/v1/log/publicKey").await).unwrap();
        let log_spki = pem_ders(&key_pem).remove(0);
        Harness {
            mayfly,
            key,
            cert_pem,
            log_spki,
        }
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        let sig: p256::ecdsa::DerSignature = self.key.sign(message);
        sig.as_bytes().to_vec()
    }

    async fn post(&self, body: &Value) -> reqwest::Response {
        self.mayfly
            .client
            .post(format!("{}/api/v1/log/entries", self.mayfly.url))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn tree_size(&self) -> u64 {
        self.mayfly.get_json("/api/v1/log").await["treeSize"]
            .as_u64()
            .unwrap()
    }

    fn hashedrekord(&self, blob: &[u8]) -> Value {
        json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hex::encode(sha256(blob))}},
            "signature": {"content": B64.encode(self.sign(blob)),
                          "publicKey": {"content": B64.encode(&self.cert_pem)}}}})
    }

    /// Checks one `{entryID: LogEntry}` map independently; returns (entryID, LogEntry).
    fn verify(&self, response: &Value) -> (String, Value) {
        let map = response.as_object().unwrap();
        assert_eq!(map.len(), 1);
        let (entry_id, entry) = map.iter().next().unwrap();
        let body = B64.decode(entry["body"].as_str().unwrap()).unwrap();
        let mut leaf_input = vec![0u8];
        leaf_input.extend_from_slice(&body);
        let leaf = sha256(&leaf_input);
        assert_eq!(entry_id.len(), 80);
        assert_eq!(
            &entry_id[16..],
            hex::encode(leaf),
            "EntryID ends with the UUID"
        );
        let log_id = hex::encode(sha256(&self.log_spki));
        assert_eq!(entry["logID"], log_id);

        // The SET over a hand-built RFC 8785 payload (keys sorted, no spaces).
        let payload = format!(
            r#"{{"body":"{}","integratedTime":{},"logID":"{}","logIndex":{}}}"#,
            entry["body"].as_str().unwrap(),
            entry["integratedTime"].as_i64().unwrap(),
            log_id,
            entry["logIndex"].as_u64().unwrap()
        );
        let set = B64
            .decode(
                entry["verification"]["signedEntryTimestamp"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &self.log_spki)
            .verify(payload.as_bytes(), &set)
            .expect("SET verifies");

        // The inclusion proof reaches rootHash, which the signed checkpoint also states.
        let proof = &entry["verification"]["inclusionProof"];
        assert_eq!(proof["logIndex"], entry["logIndex"]);
        let hashes: Vec<[u8; 32]> = proof["hashes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                hex::decode(h.as_str().unwrap())
                    .unwrap()
                    .try_into()
                    .unwrap()
            })
            .collect();
        let size = proof["treeSize"].as_u64().unwrap();
        let root = root_from_inclusion(proof["logIndex"].as_u64().unwrap(), size, leaf, &hashes);
        assert_eq!(proof["rootHash"], hex::encode(root));

        let note = proof["checkpoint"].as_str().unwrap();
        let (text, signatures) = note.split_once("\n\n").unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1].parse::<u64>().unwrap(), size);
        assert_eq!(B64.decode(lines[2]).unwrap(), root);
        let sig_line = signatures.lines().next().unwrap();
        let sig = B64.decode(sig_line.rsplit(' ').next().unwrap()).unwrap();
        assert_eq!(
            &sig[..4],
            &sha256(&self.log_spki)[..4],
            "key hint = logID[:4]"
        );
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &self.log_spki)
            .verify(format!("{text}\n").as_bytes(), &sig[4..])
            .expect("checkpoint signature verifies");
        (entry_id.clone(), entry.clone())
    }

    async fn created(&self, request: &Value) -> (String, Value) {
        let response = self.post(request).await;
        assert_eq!(response.status(), 201);
        let etag = response.headers()["etag"].to_str().unwrap().to_owned();
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let (entry_id, entry) = self.verify(&response.json().await.unwrap());
        assert_eq!(etag, entry_id);
        assert_eq!(location, format!("/api/v1/log/entries/{entry_id}"));
        (entry_id, entry)
    }
}

const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

async fn every_kind_logs_and_verifies_independently() {
    let h = Harness::start().await;
    // A fresh log holds only its genesis entry: client entries start at index 1.
    assert_eq!(h.tree_size().await, 1);

    // hashedrekord: the signature is over the blob; the log checks it against the digest.
    let first = h.hashedrekord(b"artifact bytes");
    let (hr_id, hr) = h.created(&first).await;
    assert_eq!(hr["logIndex"], 1, "index 0 is the genesis entry");
    assert_eq!(
        hr["verification"]["inclusionProof"]["hashes"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let body: Value =
        serde_json::from_slice(&B64.decode(hr["body"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(body["kind"], "hashedrekord");
    assert_eq!(
        B64.decode(
            body["spec"]["signature"]["publicKey"]["content"]
                .as_str()
                .unwrap()
        )
        .unwrap(),
        h.cert_pem.as_bytes(),
        "the CA's Go-style PEM is stored unchanged"
    );

    // dsse, as npm sends it.
    let statement = br#"{"_type":"https://in-toto.io/Statement/v1","subject":[]}"#;
    let sig = B64.encode(h.sign(&dsse_pae(PAYLOAD_TYPE, statement)));
    let envelope = json!({"payload": B64.encode(statement), "payloadType": PAYLOAD_TYPE,
                          "signatures": [{"keyid": "", "sig": sig}]})
    .to_string();
    let dsse = json!({"apiVersion": "0.0.1", "kind": "dsse", "spec": {"proposedContent": {
        "envelope": envelope, "verifiers": [B64.encode(&h.cert_pem)]}}});
    let (_, entry) = h.created(&dsse).await;
    assert_eq!(entry["logIndex"], 2);

    // intoto 0.0.2, as @sigstore/cli attest sends it.
    let intoto = json!({"apiVersion": "0.0.2", "kind": "intoto", "spec": {"content": {
        "envelope": {"payloadType": PAYLOAD_TYPE, "payload": B64.encode(B64.encode(statement)),
                     "signatures": [{"sig": B64.encode(&sig), "publicKey": B64.encode(&h.cert_pem)}]},
        "hash": {"algorithm": "sha256", "value": hex::encode(sha256(envelope.as_bytes()))}}}});
    let (_, entry) = h.created(&intoto).await;
    assert_eq!(entry["logIndex"], 3);

    // A duplicate is 409 with the Location of the first, and appends nothing.
    let response = h.post(&first).await;
    assert_eq!(response.status(), 409);
    assert_eq!(
        response.headers()["location"].to_str().unwrap(),
        format!("/api/v1/log/entries/{hr_id}")
    );
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["code"], 409);
    assert_eq!(h.tree_size().await, 4);

    // Reads: by EntryID, by UUID, by index; each proves against the current tree.
    let by_id = h
        .mayfly
        .get_json(&format!("/api/v1/log/entries/{hr_id}"))
        .await;
    let (id, entry) = h.verify(&by_id);
    assert_eq!(id, hr_id);
    assert_eq!(entry["body"], hr["body"]);
    assert_eq!(entry["integratedTime"], hr["integratedTime"]);
    assert_eq!(entry["verification"]["inclusionProof"]["treeSize"], 4);
    let by_uuid = h
        .mayfly
        .get_json(&format!("/api/v1/log/entries/{}", &hr_id[16..]))
        .await;
    assert_eq!(h.verify(&by_uuid).0, hr_id);
    let by_index = h.mayfly.get_json("/api/v1/log/entries?logIndex=2").await;
    assert_eq!(h.verify(&by_index).1["logIndex"], 2);

    // Index 0 is the log's genesis entry: in the tiles, but no Rekor entry, so 404 saying so.
    let response = h
        .mayfly
        .client
        .get(format!("{}/api/v1/log/entries?logIndex=0", h.mayfly.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], 404);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("genesis entry, not a signature"),
        "{body}"
    );

    let info = h.mayfly.get_json("/api/v1/log").await;
    let origin = info["signedTreeHead"]
        .as_str()
        .unwrap()
        .lines()
        .next()
        .unwrap();
    let genesis_uuid =
        mayfly_spec::tlog::leaf_hash(&mayfly_spec::tlog::genesis::entry(origin)).to_hex();

    // Misses: 404 with no body.
    for path in [
        format!("/api/v1/log/entries/{}", "00".repeat(32)),
        "/api/v1/log/entries?logIndex=4".to_owned(),
        // The genesis entry's UUID (its leaf hash) is not an entry either.
        format!("/api/v1/log/entries/{genesis_uuid}"),
    ] {
        let response = h
            .mayfly
            .client
            .get(format!("{}{path}", h.mayfly.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], 404, "{path}: {body}");
        assert_eq!(body["message"], "entry not found");
    }

    // Retrieve: mixed queries, misses omitted; more than 10 queries is 422.
    let retrieve = |query: Value| {
        let h = &h;
        async move {
            h.mayfly
                .client
                .post(format!("{}/api/v1/log/entries/retrieve", h.mayfly.url))
                .json(&query)
                .send()
                .await
                .unwrap()
        }
    };
    let response = retrieve(json!({"entryUUIDs": [&hr_id[16..], "ff".repeat(32)],
                                   "logIndexes": [0, 2, 99], "entries": [first]}))
    .await;
    assert_eq!(response.status(), 200);
    let found: Vec<Value> = response.json().await.unwrap();
    assert_eq!(found.len(), 3, "misses and the genesis entry omitted");
    for item in &found {
        h.verify(item);
    }
    let response = retrieve(json!({"logIndexes": (0..11).collect::<Vec<u64>>()})).await;
    assert_eq!(response.status(), 422);

    // Log info, consistency proof, public key.
    let info = h.mayfly.get_json("/api/v1/log").await;
    assert_eq!(info["treeSize"], 4, "the real tree size, genesis included");
    assert_eq!(
        info["rootHash"],
        entry["verification"]["inclusionProof"]["rootHash"]
    );
    let tree_id: i64 = info["treeID"].as_str().unwrap().parse().unwrap();
    assert!(tree_id > 0);
    assert_eq!(format!("{tree_id:016x}"), hr_id[..16]);
    let proof = h
        .mayfly
        .get_json("/api/v1/log/proof?firstSize=1&lastSize=4")
        .await;
    assert_eq!(proof["rootHash"], info["rootHash"]);
    assert!(!proof["hashes"].as_array().unwrap().is_empty());
    let response = h
        .mayfly
        .client
        .get(format!(
            "{}/api/v1/log/proof?firstSize=1&lastSize=5",
            h.mayfly.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let response = h
        .mayfly
        .client
        .get(format!("{}/api/v1/log/publicKey", h.mayfly.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/x-pem-file");
    h.mayfly.stop().await;
}

async fn bad_entries_are_400_and_append_nothing() {
    let h = Harness::start().await;
    let (other, _) = p256_key();
    let good = h.hashedrekord(b"blob");

    let mut bad_signature = good.clone();
    bad_signature["spec"]["data"]["hash"]["value"] = json!(hex::encode(sha256(b"other blob")));
    let mut wrong_key = good.clone();
    let sig: p256::ecdsa::DerSignature = other.sign(b"blob");
    wrong_key["spec"]["signature"]["content"] = json!(B64.encode(sig.as_bytes()));
    let mut unknown_kind = good.clone();
    unknown_kind["kind"] = json!("rpm");
    let mut missing = good.clone();
    missing["spec"].as_object_mut().unwrap().remove("signature");

    for (name, body) in [
        ("bad signature", bad_signature.to_string()),
        ("wrong key", wrong_key.to_string()),
        ("unknown kind", unknown_kind.to_string()),
        ("missing field", missing.to_string()),
        ("malformed JSON", "{\"kind\":".to_owned()),
        (
            "not base64",
            good.to_string()
                .replace("\"content\":\"", "\"content\":\"!"),
        ),
    ] {
        let response = h
            .mayfly
            .client
            .post(format!("{}/api/v1/log/entries", h.mayfly.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{name}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["code"], 400, "{name}");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.starts_with("error processing entry: "),
            "{name}: {message}"
        );
    }
    assert_eq!(
        h.tree_size().await,
        1,
        "nothing was appended (only genesis)"
    );

    // And the good one still goes in.
    assert_eq!(h.post(&good).await.status(), 201);
    assert_eq!(h.tree_size().await, 2);
    h.mayfly.stop().await;
}

//! A hostile client against a real Mayfly on port 0: bounded work per request, nothing
//! malformed signed or logged, escaped logs, JSON errors under `/api/`, sane answers at the
//! edges of the tile index space.

mod support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use mayfly::ratelimit::Rate;
use p256::ecdsa::signature::Signer;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::{Mayfly, p256_key};

const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

fn pae(payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {PAYLOAD_TYPE} {} ",
        PAYLOAD_TYPE.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// A certificate from `mayfly` and its key.
async fn certificate(mayfly: &Mayfly) -> (String, p256::ecdsa::SigningKey) {
    let (request, key) = mayfly.signing_request().await;
    let (status, body) = mayfly.sign_v2(&request, None).await;
    assert_eq!(status, 200, "{body}");
    let pem = body["signedCertificateEmbeddedSct"]["chain"]["certificates"][0]
        .as_str()
        .unwrap()
        .to_owned();
    (pem, key)
}

fn dsse_entry(signatures: Vec<String>, verifiers: Vec<String>) -> Value {
    let payload = b"{\"_type\":\"https://in-toto.io/Statement/v1\"}";
    let sigs: Vec<Value> = signatures
        .into_iter()
        .map(|sig| json!({"keyid": "", "sig": sig}))
        .collect();
    let envelope =
        json!({"payload": B64.encode(payload), "payloadType": PAYLOAD_TYPE, "signatures": sigs});
    json!({"apiVersion": "0.0.1", "kind": "dsse", "spec": {"proposedContent": {
        "envelope": envelope.to_string(),
        "verifiers": verifiers.iter().map(|v| B64.encode(v)).collect::<Vec<_>>()}}})
}

async fn post(mayfly: &Mayfly, path: &str, body: &Value) -> (u16, Value, Duration) {
    let started = Instant::now();
    let response = mayfly
        .client
        .post(format!("{}{path}", mayfly.url))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body, started.elapsed())
}

/// 1,000 copies of one valid signature against 101 verifiers once cost 101,000 ECDSA
/// verifications (3.8 s of CPU) and ended in a 400 anyway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dsse_amplification_envelope_is_refused_in_milliseconds() {
    let mayfly = Mayfly::start(None, true).await;
    let (pem, key) = certificate(&mayfly).await;
    let signature: p256::ecdsa::DerSignature =
        key.sign(&pae(b"{\"_type\":\"https://in-toto.io/Statement/v1\"}"));
    let sig = B64.encode(signature.as_bytes());
    let hostile = dsse_entry(vec![sig.clone(); 1000], vec![pem.clone(); 101]);
    assert!(hostile.to_string().len() > 150_000);
    for path in ["/api/v1/log/entries"] {
        let (status, body, took) = post(&mayfly, path, &hostile).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["message"].as_str().unwrap().contains("at most 8"),
            "{body}"
        );
        assert!(took < Duration::from_millis(200), "{path} took {took:?}");
    }
    // Retrieve only looks entries up: five such bodies cost no verification at all.
    let query = json!({"entries": vec![hostile; 5]});
    let (status, body, took) = post(&mayfly, "/api/v1/log/entries/retrieve", &query).await;
    assert!(status == 400 || status == 200, "{status} {body}");
    assert!(took < Duration::from_millis(500), "retrieve took {took:?}");
    assert_eq!(mayfly.artifacts_size().await, 1, "only the genesis entry");
    mayfly.stop().await;
}

/// The most work one dsse request can still cause (8 distinct bad signatures × 8 distinct
/// verifiers) runs off the async workers: health checks answer promptly meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_answer_while_verification_saturates_the_cores() {
    // The per-client write limit would otherwise turn a fast machine's load into 429s: the
    // load must reach the verifier for as long as the test runs.
    let mayfly = Mayfly::builder()
        .dev_issuer()
        .configure(|config, _| config.rate_limit_client = Rate::Off)
        .start()
        .await;
    let mut verifiers = Vec::new();
    for _ in 0..8 {
        verifiers.push(certificate(&mayfly).await.0);
    }
    let signatures: Vec<String> = (0..8)
        .map(|i| {
            let (key, _) = p256_key();
            let sig: p256::ecdsa::DerSignature = key.sign(format!("other {i}").as_bytes());
            B64.encode(sig.as_bytes())
        })
        .collect();
    let worst = dsse_entry(signatures, verifiers);
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut load = Vec::new();
    for _ in 0..6 {
        let (client, url, body) = (mayfly.client.clone(), mayfly.url.clone(), worst.clone());
        load.push(tokio::spawn(async move {
            let mut sent = 0;
            while Instant::now() < deadline {
                let response = client
                    .post(format!("{url}/api/v1/log/entries"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 400);
                sent += 1;
            }
            sent
        }));
    }
    let mut slowest = Duration::ZERO;
    tokio::time::sleep(Duration::from_millis(100)).await;
    while Instant::now() < deadline {
        let started = Instant::now();
        let response = mayfly
            .client
            .get(format!("{}/healthz", mayfly.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        slowest = slowest.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut sent = 0;
    for task in load {
        sent += task.await.unwrap();
    }
    assert!(sent > 6, "the load ran ({sent} requests)");
    assert!(
        slowest < Duration::from_millis(100),
        "healthz took {slowest:?} under verification load"
    );
    mayfly.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Claims that feed the SAN.
// ---------------------------------------------------------------------------------------------

const WORKFLOW: &str = "octo-org/octo-repo/.github/workflows/release.yml";

/// Issues with `job_workflow_ref` set to `workflow_ref`; returns status and body.
async fn issue_with_ref(mayfly: &Mayfly, workflow_ref: &str) -> (u16, Value) {
    let (request, _) = mayfly
        .signing_request_with(&json!({ "job_workflow_ref": workflow_ref }))
        .await;
    mayfly.sign_v2(&request, None).await
}

#[tokio::test]
async fn non_ascii_claims_are_percent_encoded_into_a_well_formed_certificate() {
    let mayfly = Mayfly::start(None, true).await;
    for (git_ref, encoded) in [
        ("refs/heads/mäin", "refs/heads/m%C3%A4in"),
        ("refs/heads/with space", "refs/heads/with%20space"),
        ("refs/heads/<tag>", "refs/heads/%3Ctag%3E"),
    ] {
        let (status, body) = issue_with_ref(&mayfly, &format!("{WORKFLOW}@{git_ref}")).await;
        assert_eq!(status, 200, "{git_ref:?}: {body}");
        let issued = support::certs::chain_of(&body);
        support::certs::x509_parser_parses(&issued.leaf);
        support::certs::webpki_verifies(&issued);
        let text = support::certs::openssl_verify(mayfly.dir.path(), &issued);
        let want = format!("URI:https://github.com/{WORKFLOW}@{encoded}");
        assert!(text.contains(&want), "{git_ref:?}: no {want} in\n{text}");
    }
    assert_eq!(mayfly.issuance_size().await, 3);
    mayfly.stop().await;
}

#[tokio::test]
async fn impossible_claims_are_refused_naming_the_claim_and_log_nothing() {
    let mayfly = Mayfly::start(None, true).await;
    for git_ref in [
        "refs/heads/main\r\nX-Injected: yes",
        "refs/heads/ma\u{0}in",
        "refs/heads/100%",
    ] {
        let (status, body) = issue_with_ref(&mayfly, &format!("{WORKFLOW}@{git_ref}")).await;
        assert_eq!(status, 400, "{git_ref:?}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.starts_with(
                "There was an error processing the identity token: claim \"job_workflow_ref\""
            ),
            "{git_ref:?}: {message}"
        );
    }
    assert_eq!(
        mayfly.issuance_size().await,
        0,
        "nothing malformed is logged"
    );
    mayfly.stop().await;
}

#[tokio::test]
async fn a_non_ascii_email_is_refused() {
    let idp = support::TestIdp::start().await;
    let mayfly = Mayfly::start(Some(&support::issuers_with_idp(&idp)), false).await;
    let now = support::now();
    let email = "jürgen@example.com";
    let token = idp.sign(&json!({
        "iss": idp.issuer("corp"), "aud": "sigstore", "sub": "1234", "email": email,
        "email_verified": true, "iat": now, "nbf": now, "exp": now + 300,
    }));
    let (key, pem) = p256_key();
    let proof = support::p256_sign(&key, email);
    let (status, body) = mayfly
        .sign_v2(&support::key_request(&token, &pem, &proof), None)
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("claim \"email\""),
        "{body}"
    );
    assert_eq!(mayfly.issuance_size().await, 0);
    mayfly.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Errors under /api/ are JSON; tile indexes at the edge of u64.
// ---------------------------------------------------------------------------------------------

async fn raw(
    mayfly: &Mayfly,
    method: reqwest::Method,
    path: &str,
    body: Vec<u8>,
) -> (u16, String, String) {
    let response = mayfly
        .client
        .request(method, format!("{}{path}", mayfly.url))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

#[tokio::test]
async fn every_error_under_api_is_json_with_code_and_message() {
    use reqwest::Method;
    let mayfly = Mayfly::start(None, true).await;
    let uuid = "ab".repeat(32);
    let cases: Vec<(Method, String, Vec<u8>, u16, &str)> = vec![
        (
            Method::POST,
            "/api/v2/signingCert".into(),
            vec![b' '; 5 << 20],
            413,
            "limit of 4194304 bytes",
        ),
        (
            Method::POST,
            "/api/v1/log/entries".into(),
            vec![b' '; 5 << 20],
            413,
            "limit of 4194304 bytes",
        ),
        (
            Method::GET,
            "/api/v2/signingCert".into(),
            vec![],
            405,
            "does not take this method",
        ),
        (
            Method::POST,
            "/api/v1/log".into(),
            vec![],
            405,
            "does not take this method",
        ),
        (
            Method::GET,
            format!("/api/v1/log/entries?x={}", "a".repeat(9000)),
            vec![],
            414,
            "longer than",
        ),
        (
            Method::GET,
            format!("/api/v1/log/entries/{uuid}"),
            vec![],
            404,
            "entry not found",
        ),
        (
            Method::GET,
            "/api/v1/nothing/here".into(),
            vec![],
            404,
            "does not exist",
        ),
        (
            Method::GET,
            "/api/v1/log/../log/publicKey/..".into(),
            vec![],
            404,
            "does not exist",
        ),
    ];
    for (method, path, body, status, needle) in cases {
        let shown = format!("{method} {}", &path[..path.len().min(60)]);
        let (got, content_type, text) = raw(&mayfly, method, &path, body).await;
        assert_eq!(got, status, "{shown}: {text}");
        assert!(
            content_type.starts_with("application/json"),
            "{shown}: {content_type}"
        );
        let json: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{shown}: {e}: {text}"));
        assert!(json["code"].is_u64(), "{shown}: {json}");
        assert!(
            json["message"].as_str().unwrap().contains(needle),
            "{shown}: {json}"
        );
    }
    mayfly.stop().await;
}

/// 2^63 and beyond once reached SQLite as an integer it cannot hold: a 500 and two ERROR log
/// lines per request. Every such index is simply beyond the tree.
#[tokio::test]
async fn tile_indexes_at_the_edge_of_u64_are_404() {
    let mayfly = Mayfly::start(None, true).await;
    let index_path = |n: u64| {
        let digits = n.to_string();
        let padded = format!("{digits:0>width$}", width = digits.len().div_ceil(3) * 3);
        let groups: Vec<&str> = padded
            .as_bytes()
            .chunks(3)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        let (last, rest) = groups.split_last().unwrap();
        rest.iter().map(|g| format!("x{g}/")).collect::<String>() + last
    };
    for n in [
        1u64 << 63,
        (1 << 63) + 1,
        u64::MAX - 1,
        u64::MAX,
        (1 << 63) - 1,
    ] {
        for log in ["artifacts", "issuance"] {
            for kind in ["0/", "1/", "3/", "entries/"] {
                for suffix in ["", ".p/7"] {
                    let path = format!("/logs/{log}/tile/{kind}{}{suffix}", index_path(n));
                    let (status, _, body) = raw(&mayfly, reqwest::Method::GET, &path, vec![]).await;
                    assert_eq!(status, 404, "{path}: {body}");
                }
            }
        }
    }
    mayfly.stop().await;
}

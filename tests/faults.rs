//! Failures inside the server, seen from a client: a store that fails at each persistence step
//! and a CA signer that fails, injected into a real Mayfly on port 0, then asked over HTTP.
//!
//! What must hold (design.md §1 and §6): no certificate or entry is ever acknowledged unless it
//! is durable; a failure is a 503 (retry is safe) or a 500 with an error id that the server log
//! also carries, never a 400; a retry after a commit that failed *after* writing resolves to
//! exactly one entry; and every log still audits from storage afterwards.

mod support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use mayfly::log::storage::LogSlot;
use mayfly::testing::{Fault, Faults, check_log};
use p256::ecdsa::signature::Signer;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use support::Mayfly;

use support::backend::Backend;

// Every test below runs twice: on SQLite and on PostgreSQL (tests/support/backend.rs).
on_both_backends!(
    a_commit_that_fails_after_writing_issues_no_certificate_and_a_retry_issues_one,
    a_commit_that_fails_before_writing_logs_nothing_and_says_retry,
    a_failing_ca_signer_is_a_500_with_an_error_id_and_never_a_400,
    a_rekor_post_whose_commit_failed_after_writing_resolves_to_exactly_one_entry,
    a_rekor_post_whose_commit_failed_before_writing_is_created_by_the_retry,
);

/// Everything the server logs in this test binary, to find error ids in.
fn server_log() -> Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || Capture(writer.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber per binary");
        buffer
    })
    .clone()
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The error id in a 500's message, which the server log must also name.
fn assert_logged_error_id(message: &str) {
    let id = message
        .split("error id ")
        .nth(1)
        .and_then(|rest| rest.get(..12))
        .unwrap_or_else(|| panic!("no error id in {message:?}"));
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{message}");
    let log = String::from_utf8_lossy(&server_log().lock().unwrap()).into_owned();
    assert!(
        log.lines()
            .any(|line| line.contains(id) && line.contains("ERROR")),
        "error id {id} is not in the server log:\n{log}"
    );
}

async fn audit(mayfly: &Mayfly, slot: LogSlot) -> u64 {
    let state = &mayfly.state;
    let (log, verbatim) = match slot {
        LogSlot::ISSUANCE => (&state.issuance, false),
        _ => (&state.artifacts, true),
    };
    let report = check_log(log.store(), slot, &log.config().origin, log.key(), verbatim)
        .await
        .expect("the log audits from storage");
    report.size
}

async fn faulty() -> Mayfly {
    server_log();
    Mayfly::builder()
        .dev_issuer()
        .faults(&Faults::default())
        .failing_signer()
        .start()
        .await
}

fn leaf_of(body: &Value) -> Option<&str> {
    body["signedCertificateEmbeddedSct"]["chain"]["certificates"][0].as_str()
}

async fn a_commit_that_fails_after_writing_issues_no_certificate_and_a_retry_issues_one() {
    let mayfly = faulty().await;
    let (request, _) = mayfly.signing_request().await;

    mayfly.faults().arm(Fault::CommitFailsAfterWrite);
    let (status, body) = mayfly.sign_v2(&request, None).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], 14, "gRPC Unavailable: {body}");
    assert!(leaf_of(&body).is_none(), "no certificate may leave: {body}");
    // The precertificate did become durable: the log over-reports, never under-reports.
    assert_eq!(mayfly.issuance_size().await, 1);

    let (status, body) = mayfly.sign_v2(&request, None).await;
    assert_eq!(status, 200, "the retry issues: {body}");
    assert!(leaf_of(&body).is_some());
    assert_eq!(mayfly.issuance_size().await, 2);
    assert_eq!(audit(&mayfly, LogSlot::ISSUANCE).await, 2);
    mayfly.stop().await;
}

async fn a_commit_that_fails_before_writing_logs_nothing_and_says_retry() {
    let mayfly = faulty().await;
    let (request, _) = mayfly.signing_request().await;
    mayfly.faults().arm(Fault::CommitFailsBeforeWrite);
    let response = mayfly
        .client
        .post(format!("{}/api/v2/signingCert", mayfly.url))
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(mayfly.issuance_size().await, 0);

    let (status, _) = mayfly.sign_v2(&request, None).await;
    assert_eq!(status, 200);
    assert_eq!(audit(&mayfly, LogSlot::ISSUANCE).await, 1);
    mayfly.stop().await;
}

async fn a_failing_ca_signer_is_a_500_with_an_error_id_and_never_a_400() {
    let mayfly = faulty().await;
    let (request, _) = mayfly.signing_request().await;

    // The precertificate signature fails: nothing reaches the log.
    mayfly.signer().fail_next();
    let (status, body) = mayfly.sign_v2(&request, None).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["code"], 13, "gRPC Internal: {body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with("error communicating with CA backend"),
        "{message}"
    );
    assert!(
        !message.contains("injected"),
        "the cause stays in the log: {message}"
    );
    assert_logged_error_id(message);
    assert_eq!(mayfly.issuance_size().await, 0);

    // The final certificate's signature fails after the precertificate was logged: still no
    // certificate, and the logged precertificate stays (it was never contradicted).
    mayfly.signer().fail_after(1);
    let (status, body) = mayfly.sign_v2(&request, None).await;
    assert_eq!(status, 500, "{body}");
    assert!(leaf_of(&body).is_none());
    assert_logged_error_id(body["message"].as_str().unwrap());
    assert_eq!(mayfly.issuance_size().await, 1);

    let (status, _) = mayfly.sign_v2(&request, None).await;
    assert_eq!(status, 200, "the signer recovers");
    assert_eq!(audit(&mayfly, LogSlot::ISSUANCE).await, 2);
    mayfly.stop().await;
}

/// A hashedrekord entry for `blob`, signed with the key of a certificate from `mayfly`.
async fn hashedrekord(mayfly: &Mayfly, blob: &[u8]) -> Value {
    let (request, key) = mayfly.signing_request().await;
    let (status, body) = mayfly.sign_v2(&request, None).await;
    assert_eq!(status, 200, "{body}");
    let cert = leaf_of(&body).unwrap().to_owned();
    let signature: p256::ecdsa::DerSignature = key.sign(blob);
    json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
        "data": {"hash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(blob))}},
        "signature": {"content": B64.encode(signature.as_bytes()),
                      "publicKey": {"content": B64.encode(cert)}}}})
}

async fn post_entry(mayfly: &Mayfly, entry: &Value) -> reqwest::Response {
    mayfly
        .client
        .post(format!("{}/api/v1/log/entries", mayfly.url))
        .json(entry)
        .send()
        .await
        .unwrap()
}

async fn a_rekor_post_whose_commit_failed_after_writing_resolves_to_exactly_one_entry() {
    let mayfly = faulty().await;
    let entry = hashedrekord(&mayfly, b"release.tar.gz").await;

    mayfly.faults().arm(Fault::CommitFailsAfterWrite);
    let response = post_entry(&mayfly, &entry).await;
    assert_eq!(response.status(), 503);
    assert_eq!(mayfly.artifacts_size().await, 2, "genesis and the entry");

    // The retry finds the entry the failed commit made durable, and says where it is.
    let response = post_entry(&mayfly, &entry).await;
    assert_eq!(response.status(), 409);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let found: Value = mayfly
        .client
        .get(format!("{}{location}", mayfly.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let found = found.as_object().unwrap().values().next().unwrap().clone();
    assert_eq!(found["logIndex"], 1);
    assert_eq!(
        mayfly.artifacts_size().await,
        2,
        "genesis and exactly one entry"
    );
    assert_eq!(audit(&mayfly, LogSlot::ARTIFACTS).await, 2);
    mayfly.stop().await;
}

async fn a_rekor_post_whose_commit_failed_before_writing_is_created_by_the_retry() {
    let mayfly = faulty().await;
    let entry = hashedrekord(&mayfly, b"app.whl").await;
    for fault in [Fault::CommitFailsBeforeWrite, Fault::LookupFails] {
        mayfly.faults().arm(fault);
        let response = post_entry(&mayfly, &entry).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert!(
            status == 503 || status == 500,
            "{fault:?}: a storage failure is never the client's: {status} {body}"
        );
        if status == 500 {
            assert_logged_error_id(body["message"].as_str().unwrap());
        }
        assert_eq!(mayfly.artifacts_size().await, 1, "{fault:?}: only genesis");
    }
    assert_eq!(post_entry(&mayfly, &entry).await.status(), 201);
    assert_eq!(audit(&mayfly, LogSlot::ARTIFACTS).await, 2);
    mayfly.stop().await;
}

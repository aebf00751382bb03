//! The two server calls of keyless signing, in the wire shapes sigstore-js (npm) uses, and the
//! HTTP plumbing under them. Answers are untrusted input: bodies are size-capped, parsed into
//! narrow types, and every failure names the step and carries the server's `message`.

use super::error::{AttestError, Step};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Generous for a CI runner talking to a loaded server, short enough that a dead one fails
/// the job rather than hanging it.
const TIMEOUT: Duration = Duration::from_secs(60);

/// No legitimate answer here comes close (a certificate chain, one log entry with a proof).
const MAX_BODY: usize = 4 << 20;

/// How much of an error body is quoted back to the user.
const MAX_MESSAGE: usize = 500;

/// An HTTPS client trusting the system roots, with aws-lc as the TLS provider. Redirects are
/// not followed: none of these endpoints redirects, and a redirected POST would resend the
/// identity token somewhere else.
pub(crate) fn client() -> Result<reqwest::Client, AttestError> {
    crate::install_crypto_provider();
    let native = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    // Unparsable system roots are skipped: they could never anchor a chain anyway.
    let _ = roots.add_parsable_certificates(native.certs);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| AttestError::HttpSetup(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("mayfly-attest/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| AttestError::HttpSetup(e.to_string()))
}

/// Retries after a transport failure, 408, 429 or 5xx, as sigstore-js does (two retries), with
/// these pauses; a server's `Retry-After` of up to five seconds replaces the pause.
const RETRY_PAUSES: [Duration; 2] = [Duration::from_millis(500), Duration::from_secs(2)];

/// An answer read in full.
pub(super) struct Answer {
    pub status: reqwest::StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

/// Sends `request`, retrying what a retry can fix (see [`RETRY_PAUSES`]); returns the final
/// answer, whatever its status. Every request here is safe to repeat: a certificate request
/// only costs a certificate, and a repeated log entry is answered 409 (see
/// [`create_dsse_entry`]).
pub(super) async fn send(
    step: Step,
    request: reqwest::RequestBuilder,
) -> Result<Answer, AttestError> {
    let mut pauses = RETRY_PAUSES.iter();
    loop {
        let attempt = request
            .try_clone()
            .ok_or_else(|| AttestError::HttpSetup("request body cannot be resent".into()))?;
        let outcome = receive(step, attempt).await;
        let retryable = match &outcome {
            Err(AttestError::Transport { .. }) => true,
            Ok(answer) => {
                let code = answer.status.as_u16();
                code == 408 || code == 429 || answer.status.is_server_error()
            }
            Err(_) => false,
        };
        let Some(pause) = pauses.next().filter(|_| retryable) else {
            return outcome;
        };
        let pause = outcome
            .as_ref()
            .ok()
            .and_then(|answer| answer.headers.get(reqwest::header::RETRY_AFTER))
            .and_then(|value| value.to_str().ok()?.trim().parse::<u64>().ok())
            .filter(|seconds| *seconds <= 5)
            .map_or(*pause, Duration::from_secs);
        tokio::time::sleep(pause).await;
    }
}

/// One attempt, with the body size-capped.
async fn receive(step: Step, request: reqwest::RequestBuilder) -> Result<Answer, AttestError> {
    let mut response = request.send().await.map_err(|e| AttestError::Transport {
        step,
        reason: describe_reqwest(&e),
    })?;
    let status = response.status();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| AttestError::Transport {
        step,
        reason: describe_reqwest(&e),
    })? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(AttestError::BadResponse {
                step,
                reason: format!("answer larger than {MAX_BODY} bytes"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// Sends `request` (with retries); a 2xx answer is parsed as `T`, anything else becomes
/// `Server` with the body's `message` (Fulcio and Rekor both answer `{"code", "message"}`).
pub(super) async fn send_json<T: DeserializeOwned>(
    step: Step,
    request: reqwest::RequestBuilder,
) -> Result<T, AttestError> {
    parse_json(step, send(step, request).await?)
}

fn parse_json<T: DeserializeOwned>(step: Step, answer: Answer) -> Result<T, AttestError> {
    if !answer.status.is_success() {
        return Err(AttestError::Server {
            step,
            status: answer.status.as_u16(),
            message: error_message(&answer.body),
        });
    }
    serde_json::from_slice(&answer.body).map_err(|e| AttestError::BadResponse {
        step,
        reason: e.to_string(),
    })
}

/// reqwest's Display hides the cause ("error sending request"); the chain says why.
fn describe_reqwest(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The `message` of a JSON error body, else the body as text; control characters are
/// replaced and the length capped, since it is printed to a terminal or CI log.
fn error_message(body: &[u8]) -> String {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let mut cleaned: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_MESSAGE)
        .collect();
    if cleaned.trim().is_empty() {
        cleaned = "(no message)".to_owned();
    }
    cleaned
}

/// `POST {server}/api/v2/signingCert`, npm's shape: the token in the body, no Authorization
/// header. Returns the chain's PEM certificates, leaf first.
pub(super) async fn signing_certificate(
    client: &reqwest::Client,
    server: &url::Url,
    token: &str,
    public_key_pem: &str,
    proof_of_possession_b64: &str,
) -> Result<Vec<String>, AttestError> {
    let step = Step::SigningCertificate;
    let body = json!({
        "credentials": {"oidcIdentityToken": token},
        "publicKeyRequest": {
            "publicKey": {"algorithm": "ECDSA", "content": public_key_pem},
            "proofOfPossession": proof_of_possession_b64,
        },
    });
    let request = client
        .post(endpoint(server, "api/v2/signingCert")?)
        .json(&body);
    let answer: SigningCertResponse = send_json(step, request).await?;
    let chain = answer
        .signed_certificate_embedded_sct
        .or(answer.signed_certificate_detached_sct)
        .map(|c| c.chain.certificates)
        .unwrap_or_default();
    if chain.is_empty() {
        return Err(AttestError::BadResponse {
            step,
            reason: "no certificate chain in the answer".into(),
        });
    }
    Ok(chain)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SigningCertResponse {
    signed_certificate_embedded_sct: Option<Chained>,
    signed_certificate_detached_sct: Option<Chained>,
}

#[derive(Deserialize)]
struct Chained {
    chain: Chain,
}

#[derive(Deserialize)]
struct Chain {
    certificates: Vec<String>,
}

/// `POST {server}/api/v1/log/entries` with a dsse 0.0.1 proposed entry: the envelope as a
/// JSON string and the leaf certificate as base64 of its PEM (Rekor's convention for keys).
pub(super) async fn create_dsse_entry(
    client: &reqwest::Client,
    server: &url::Url,
    envelope_json: &str,
    leaf_pem_b64: &str,
) -> Result<RekorEntry, AttestError> {
    let step = Step::TransparencyLog;
    let body = json!({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {"proposedContent": {
            "envelope": envelope_json,
            "verifiers": [leaf_pem_b64],
        }},
    });
    let request = client
        .post(endpoint(server, "api/v1/log/entries")?)
        .json(&body);
    let mut answer = send(step, request).await?;
    if answer.status == reqwest::StatusCode::CONFLICT {
        // The same envelope is already logged: an earlier attempt of ours was committed but
        // its answer was lost (the envelope carries a fresh signature by a key that never left
        // this process, so nobody else can have logged it). Rekor points at it; fetch it. The
        // bundle code still checks that the entry is ours.
        let location = answer
            .headers
            .get(reqwest::header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .filter(|path| path.starts_with("/api/v1/log/entries/"))
            .ok_or_else(|| AttestError::Server {
                step,
                status: 409,
                message: error_message(&answer.body),
            })?
            .to_owned();
        let existing = client.get(endpoint(server, location.trim_start_matches('/'))?);
        answer = send(step, existing).await?;
    }
    let answer: HashMap<String, RekorEntry> = parse_json(step, answer)?;
    // The answer is keyed by entry ID; exactly one entry was created.
    let mut entries = answer.into_values();
    match (entries.next(), entries.next()) {
        (Some(entry), None) => Ok(entry),
        _ => Err(AttestError::BadResponse {
            step,
            reason: "expected exactly one log entry in the answer".into(),
        }),
    }
}

/// A Rekor v1 log entry as the API returns it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RekorEntry {
    pub body: String,
    pub integrated_time: i64,
    #[serde(rename = "logID")]
    pub log_id: String,
    pub log_index: u64,
    pub verification: Option<Verification>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Verification {
    pub inclusion_proof: Option<InclusionProof>,
    pub signed_entry_timestamp: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct InclusionProof {
    pub checkpoint: Option<String>,
    pub hashes: Vec<String>,
    pub log_index: u64,
    pub root_hash: String,
    pub tree_size: u64,
}

/// `server` joined with an API path, keeping any path prefix the server is mounted under.
fn endpoint(server: &url::Url, path: &str) -> Result<url::Url, AttestError> {
    let mut base = server.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    base.join(path)
        .map_err(|e| AttestError::InvalidInput(format!("server URL {server}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_keeps_a_path_prefix() {
        let at = |s: &str| endpoint(&url::Url::parse(s).unwrap(), "api/v1/log/entries").unwrap();
        assert_eq!(at("http://h:1").as_str(), "http://h:1/api/v1/log/entries");
        assert_eq!(
            at("https://h/mayfly").as_str(),
            "https://h/mayfly/api/v1/log/entries"
        );
        assert_eq!(
            at("https://h/mayfly/").as_str(),
            "https://h/mayfly/api/v1/log/entries"
        );
    }

    #[test]
    fn error_message_prefers_json_message_and_sanitises() {
        assert_eq!(
            error_message(br#"{"code":400,"message":"bad\nthing"}"#),
            "bad thing"
        );
        assert_eq!(error_message(b"plain text"), "plain text");
        assert_eq!(error_message(b""), "(no message)");
        assert_eq!(error_message(&[b'x'; 2000]).len(), MAX_MESSAGE);
    }
}

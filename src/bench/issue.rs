//! `mayfly bench issue`: certificates per second through the real HTTP API, against the
//! cryptographic floor measured in the same run (design.md §7).
//!
//! Clients POST the npm-shaped v2 request with a dev-issuer token. Tokens and
//! proof-of-possession signatures are made before the clock starts, so the load generator
//! spends its CPU on HTTP only — but it still shares the machine with the server, which the
//! ratio includes.
//!
//! The floor is what one issuance cannot avoid: verifying the token (ES256 here; RS256 for
//! GitHub's real tokens) and the proof of possession (P-256), and three P-256 signatures
//! (precertificate, SCT, certificate).

use super::harness::{
    BenchError, BenchServer, Floor, p256_key, p256_spki_pem, print_header, print_row, print_rss,
    rss_mib, run_level, send_expecting,
};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::KeyPair;
use axum::body::Bytes;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

pub struct Options {
    pub concurrency: Vec<usize>,
    pub seconds: f64,
    /// A running Mayfly (started with `--dev-issuer`) to load instead of a fresh local one.
    pub url: Option<String>,
    /// Total requests per second, open loop; `None` for closed loop.
    pub rate: Option<f64>,
}

/// Distinct client keys (with their proofs) cycled through by the clients.
const KEYS: usize = 256;

pub async fn run(options: Options) -> Result<(), BenchError> {
    let server = BenchServer::start_or_connect(options.url.as_deref()).await?;
    // One set of bodies per replica: each replica's dev issuer signs tokens only it accepts.
    let mut per_server = Vec::with_capacity(server.urls.len());
    for url in &server.urls {
        per_server.push((
            format!("{url}/api/v2/signingCert"),
            prepare_requests(&server, url).await?,
        ));
    }
    let per_server = Arc::new(per_server);
    let rss_start = rss_mib();
    let floor = Floor::measure();

    server.print_intro(
        "issue",
        "POST /api/v2/signingCert",
        options.seconds,
        options.rate,
        &floor,
    );
    let es256 = 3.0 * floor.p256_sign_us + 2.0 * floor.p256_verify_us;
    let rs256 = 3.0 * floor.p256_sign_us + floor.p256_verify_us + floor.rsa2048_verify_us;
    let floor_rate = floor.rate(es256);
    println!(
        "- one issuance as benchmarked (ES256 token): {es256:.0} µs → floor {floor_rate:.0}/s on {} cores",
        floor.cores
    );
    println!(
        "- one issuance with an RS256 (GitHub) token: {rs256:.0} µs → floor {:.0}/s on {} cores",
        floor.rate(rs256),
        floor.cores
    );
    println!();
    print_header("issuances/s", "");
    for &clients in &options.concurrency {
        let client = server.client.clone();
        let per_server = per_server.clone();
        let level = run_level(
            clients,
            Duration::from_secs_f64(options.seconds),
            options.rate,
            move |worker, n| {
                let (endpoint, requests) = &per_server[worker % per_server.len()];
                let request = client
                    .post(endpoint)
                    .header(CONTENT_TYPE, "application/json")
                    .body(requests[(worker + n * clients) % requests.len()].clone());
                send_expecting(request, 200, "issuance")
            },
        )
        .await?;
        print_row(clients, &level, floor_rate, "");
    }
    print_rss(&server, rss_start);
    server.stop().await
}

/// Request bodies with a valid dev-issuer token and distinct keys, checked once. Serialised
/// up front, so the clock times the server, not the generator's JSON encoding.
pub(super) async fn prepare_requests(
    server: &BenchServer,
    url: &str,
) -> Result<Vec<Bytes>, BenchError> {
    let token = dev_token_from(server, url).await?;
    let claims = token
        .split('.')
        .nth(1)
        .and_then(|c| URL_SAFE_NO_PAD.decode(c).ok())
        .and_then(|c| serde_json::from_slice::<Value>(&c).ok())
        .ok_or_else(|| BenchError::Check("unreadable dev token".into()))?;
    let sub = claims["sub"].as_str().unwrap_or_default().to_owned();
    let rng = SystemRandom::new();
    let mut requests = Vec::with_capacity(KEYS);
    for _ in 0..KEYS {
        let key = p256_key()?;
        let proof = key
            .sign(&rng, sub.as_bytes())
            .map_err(|_| BenchError::Check("signing failed".into()))?;
        let body = json!({
            "credentials": {"oidcIdentityToken": token},
            "publicKeyRequest": {
                "publicKey": {"algorithm": "ECDSA", "content": p256_spki_pem(key.public_key().as_ref())},
                "proofOfPossession": STANDARD.encode(proof.as_ref()),
            }
        });
        requests.push(Bytes::from(body.to_string()));
    }
    let response = server
        .client
        .post(format!("{url}/api/v2/signingCert"))
        .header(CONTENT_TYPE, "application/json")
        .body(requests[0].clone())
        .send()
        .await?;
    if response.status() != 200 {
        return Err(BenchError::Check(format!(
            "a warm-up issuance failed: {} {}",
            response.status(),
            response.text().await.unwrap_or_default()
        )));
    }
    Ok(requests)
}

/// A dev-issuer token with audience `sigstore`.
/// Valid for a day rather than the dev issuer's default five minutes, so one token lasts a
/// long run (a ten-minute memory check outlived the default and turned into 400s).
pub async fn dev_token(server: &BenchServer) -> Result<String, BenchError> {
    dev_token_from(server, &server.url).await
}

/// [`dev_token`] from the replica at `url`: only that replica accepts it.
async fn dev_token_from(server: &BenchServer, url: &str) -> Result<String, BenchError> {
    token_request(server, url, json!({})).await
}

/// [`dev_token`] with `claims` (a JSON object) overriding the dev issuer's GitHub-shaped ones.
pub async fn dev_token_with(server: &BenchServer, claims: Value) -> Result<String, BenchError> {
    token_request(server, &server.url, claims).await
}

async fn token_request(
    server: &BenchServer,
    url: &str,
    claims: Value,
) -> Result<String, BenchError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let mut overrides = json!({"aud": "sigstore", "iat": now, "nbf": now, "exp": now + 86_400});
    if let (Some(all), Value::Object(extra)) = (overrides.as_object_mut(), claims) {
        all.extend(extra);
    }
    let token: Value = server
        .client
        .post(format!("{url}/dev-oidc/token"))
        .json(&overrides)
        .send()
        .await?
        .json()
        .await?;
    token["value"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| BenchError::Check("the dev issuer returned no token".into()))
}

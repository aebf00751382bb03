//! `mayfly bench issue`: certificates per second through the real HTTP API, against the
//! cryptographic floor measured in the same run (design.md §7).
//!
//! A fresh instance (file-backed SQLite, ephemeral CA, the dev issuer) listens on 127.0.0.1;
//! clients POST the npm-shaped v2 request. Tokens and proof-of-possession signatures are made
//! before the clock starts, so the load generator spends its CPU on HTTP only — but it still
//! shares the machine with the server, which the ratio includes.
//!
//! The floor is what one issuance cannot avoid: verifying the token (ES256 here; RS256 for
//! GitHub's real tokens) and the proof of possession (P-256), and three P-256 signatures
//! (precertificate, SCT, certificate), timed single-threaded and scaled by the cores.

use super::quantile;
use crate::ca::setup::CaBackend;
use crate::server::{Instance, ServeConfig, ServerError, serve};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub struct Options {
    pub concurrency: Vec<usize>,
    pub seconds: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error("scratch directory: {0}")]
    Io(#[from] std::io::Error),
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("{0}")]
    Check(String),
}

/// Distinct client keys (with their proofs) cycled through by the clients.
const KEYS: usize = 256;

pub async fn run(options: Options) -> Result<(), BenchError> {
    crate::install_crypto_provider();
    let scratch = tempfile::tempdir()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let url = format!("http://{addr}");
    let config = ServeConfig {
        listen: addr,
        data_dir: scratch.path().join("data"),
        public_url: url::Url::parse(&url).map_err(|e| BenchError::Check(e.to_string()))?,
        database_url: None,
        issuers: None,
        ca: CaBackend::Ephemeral,
        ca_passphrase_file: None,
        dev_issuer: true,
    };
    let instance = Instance::open(&config, None).await?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, instance, async {
        let _ = stop_rx.await;
    }));

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()?;
    let requests = Arc::new(prepare_requests(&client, &url).await?);
    let floor = crypto_floor();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    println!("# mayfly bench issue");
    println!(
        "POST /api/v2/signingCert over HTTP on 127.0.0.1, {} s per level, {cores} cores, ephemeral CA, SQLite (synchronous=FULL)",
        options.seconds
    );
    println!();
    println!("crypto floor, one core (aws-lc, single-threaded, this run):");
    println!(
        "- P-256 sign {:.1} µs, P-256 verify {:.1} µs, RSA-2048 verify {:.1} µs",
        floor.p256_sign_us, floor.p256_verify_us, floor.rsa_verify_us
    );
    let per_issue_es256 = 3.0 * floor.p256_sign_us + 2.0 * floor.p256_verify_us;
    let per_issue_rs256 = 3.0 * floor.p256_sign_us + floor.p256_verify_us + floor.rsa_verify_us;
    let floor_rate = cores as f64 * 1e6 / per_issue_es256;
    println!(
        "- one issuance as benchmarked (ES256 token): {per_issue_es256:.0} µs → floor {floor_rate:.0}/s on {cores} cores"
    );
    println!(
        "- one issuance with an RS256 (GitHub) token: {per_issue_rs256:.0} µs → floor {:.0}/s on {cores} cores",
        cores as f64 * 1e6 / per_issue_rs256
    );
    println!();
    println!("| clients | issuances/s | p50 latency | p99 latency | ratio to floor |");
    println!("|---:|---:|---:|---:|---:|");
    for &clients in &options.concurrency {
        let (rate, p50, p99) = measure(
            &client,
            &url,
            &requests,
            clients,
            Duration::from_secs_f64(options.seconds),
        )
        .await?;
        println!(
            "| {clients} | {rate:.0} | {:.2} ms | {:.2} ms | {:.2} |",
            p50 as f64 / 1000.0,
            p99 as f64 / 1000.0,
            rate / floor_rate
        );
    }
    let _ = stop_tx.send(());
    server
        .await
        .map_err(|e| BenchError::Check(e.to_string()))??;
    Ok(())
}

/// Request bodies with a valid dev-issuer token and distinct keys, checked once.
async fn prepare_requests(client: &reqwest::Client, url: &str) -> Result<Vec<Value>, BenchError> {
    let token: Value = client
        .get(format!("{url}/dev-oidc/token?audience=sigstore"))
        .send()
        .await?
        .json()
        .await?;
    let token = token["value"]
        .as_str()
        .ok_or_else(|| BenchError::Check("the dev issuer returned no token".into()))?
        .to_owned();
    let claims = token
        .split('.')
        .nth(1)
        .and_then(|c| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(c)
                .ok()
        })
        .and_then(|c| serde_json::from_slice::<Value>(&c).ok())
        .ok_or_else(|| BenchError::Check("unreadable dev token".into()))?;
    let sub = claims["sub"].as_str().unwrap_or_default().to_owned();
    let rng = SystemRandom::new();
    let mut requests = Vec::with_capacity(KEYS);
    for _ in 0..KEYS {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .map_err(|_| BenchError::Check("key generation failed".into()))?;
        let key =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref())
                .map_err(|_| BenchError::Check("key generation failed".into()))?;
        let spki = spki_pem(key.public_key().as_ref());
        let proof = key
            .sign(&rng, sub.as_bytes())
            .map_err(|_| BenchError::Check("signing failed".into()))?;
        requests.push(json!({
            "credentials": {"oidcIdentityToken": token},
            "publicKeyRequest": {
                "publicKey": {"algorithm": "ECDSA", "content": spki},
                "proofOfPossession": STANDARD.encode(proof.as_ref()),
            }
        }));
    }
    let response = client
        .post(format!("{url}/api/v2/signingCert"))
        .json(&requests[0])
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

/// SPKI PEM of an uncompressed P-256 point.
fn spki_pem(point: &[u8]) -> String {
    // id-ecPublicKey with prime256v1, then the 65-byte point in a BIT STRING.
    const PREFIX: [u8; 26] = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    crate::keys::pem_block("PUBLIC KEY", &[&PREFIX[..], point].concat())
}

async fn measure(
    client: &reqwest::Client,
    url: &str,
    requests: &Arc<Vec<Value>>,
    clients: usize,
    duration: Duration,
) -> Result<(f64, u64, u64), BenchError> {
    let progress = ProgressBar::new(duration.as_millis() as u64).with_style(
        ProgressStyle::with_template("{msg:>12} [{bar:30}] {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    progress.set_message(format!("{clients} clients"));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..clients {
        let client = client.clone();
        let endpoint = format!("{url}/api/v2/signingCert");
        let requests = requests.clone();
        let stop = stop.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut next = worker;
            while !stop.load(Ordering::Relaxed) {
                let body = &requests[next % requests.len()];
                next += clients;
                let sent = Instant::now();
                let response = client.post(&endpoint).json(body).send().await?;
                let status = response.status();
                response.bytes().await?;
                if status != 200 {
                    return Err(BenchError::Check(format!("issuance failed with {status}")));
                }
                latencies.push(sent.elapsed().as_micros() as u64);
            }
            Ok::<_, BenchError>(latencies)
        });
    }
    while start.elapsed() < duration {
        tokio::time::sleep(Duration::from_millis(100)).await;
        progress.set_position(start.elapsed().as_millis() as u64);
    }
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        latencies.extend(joined.map_err(|e| BenchError::Check(e.to_string()))??);
    }
    let elapsed = start.elapsed().as_secs_f64();
    progress.finish_and_clear();
    latencies.sort_unstable();
    Ok((
        latencies.len() as f64 / elapsed,
        quantile(&latencies, 0.5),
        quantile(&latencies, 0.99),
    ))
}

struct Floor {
    p256_sign_us: f64,
    p256_verify_us: f64,
    rsa_verify_us: f64,
}

/// Single-threaded cost of each primitive, from a short timed loop of each.
fn crypto_floor() -> Floor {
    let rng = SystemRandom::new();
    let message = [0x42u8; 300];
    let p256 = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_ASN1_SIGNING).ok();
    let rsa = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).ok();
    let time = |f: &mut dyn FnMut()| {
        let runs = 2000;
        let start = Instant::now();
        for _ in 0..runs {
            f();
        }
        start.elapsed().as_secs_f64() * 1e6 / runs as f64
    };
    let (Some(p256), Some(rsa)) = (p256, rsa) else {
        return Floor {
            p256_sign_us: f64::NAN,
            p256_verify_us: f64::NAN,
            rsa_verify_us: f64::NAN,
        };
    };
    let ecdsa_signature = p256
        .sign(&rng, &message)
        .map(|s| s.as_ref().to_vec())
        .unwrap_or_default();
    let mut rsa_signature = vec![0; rsa.public_modulus_len()];
    let _ = rsa.sign(
        &signature::RSA_PKCS1_SHA256,
        &rng,
        &message,
        &mut rsa_signature,
    );
    let p256_public = signature::UnparsedPublicKey::new(
        &signature::ECDSA_P256_SHA256_ASN1,
        p256.public_key().as_ref().to_vec(),
    );
    let rsa_public = signature::UnparsedPublicKey::new(
        &signature::RSA_PKCS1_2048_8192_SHA256,
        rsa.public_key().as_ref().to_vec(),
    );
    Floor {
        p256_sign_us: time(&mut || {
            let _ = p256.sign(&rng, &message);
        }),
        p256_verify_us: time(&mut || {
            let _ = p256_public.verify(&message, &ecdsa_signature);
        }),
        rsa_verify_us: time(&mut || {
            let _ = rsa_public.verify(&message, &rsa_signature);
        }),
    }
}

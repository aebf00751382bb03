//! `mayfly bench rekor`: dsse entries per second through `POST /api/v1/log/entries`, as npm
//! sends them, against the crypto floor measured in the same run (design.md §7), and how long
//! reads take meanwhile.
//!
//! Each entry is a distinct in-toto statement of about 1.5 KiB, signed as a DSSE envelope by a
//! key with a real certificate from this instance. Entries are built and signed on all cores
//! before each level's clock starts (as many as `--rate` × seconds, or half the floor rate ×
//! seconds in a closed loop, up to [`MAX_PREBUILT`]), so the clock times the server, not the
//! generator's signing. A separate reader fetches random entries by index throughout, to show
//! whether reads wait behind writes.
//!
//! The floor per entry: one P-256 verify (the envelope signature) and one P-256 sign (the SET);
//! checkpoints are signed once per batch and are left out.

use super::harness::{
    BenchError, BenchServer, Floor, Level, p256_key, p256_spki_pem, print_header, print_row,
    print_rss, rss_mib, run_level, send_expecting,
};
use super::issue::dev_token;
use super::quantile;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair};
use axum::body::Bytes;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngExt;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub struct Options {
    pub concurrency: Vec<usize>,
    pub seconds: f64,
    /// A running Mayfly (started with `--dev-issuer`) to load instead of a fresh local one.
    pub url: Option<String>,
    /// Total requests per second, open loop; `None` for closed loop.
    pub rate: Option<f64>,
}

const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// Entries built before a level's clock starts, at most: about 3.7 KiB each, so this bounds
/// the generator's memory near 370 MiB. A level that outruns them signs the rest as it goes.
const MAX_PREBUILT: usize = 100_000;

/// The signer every entry uses: a P-256 key and its certificate (base64 PEM, as clients send it).
pub(super) struct Signer {
    key: EcdsaKeyPair,
    certificate_b64: String,
    rng: SystemRandom,
}

pub async fn run(options: Options) -> Result<(), BenchError> {
    let server = BenchServer::start_or_connect(options.url.as_deref()).await?;
    let signer = Arc::new(certified_signer(&server).await?);
    let rss_start = rss_mib();
    // Statements are unique per run as well as per request, so a second run against the same
    // server never collides with the first's entries.
    let run_id: u64 = rand::rng().random();
    let floor = Floor::measure();

    server.print_intro(
        "rekor",
        "POST /api/v1/log/entries (dsse 0.0.1, ~1.5 KiB statements)",
        options.seconds,
        options.rate,
        &floor,
    );
    let per_entry = floor.p256_verify_us + floor.p256_sign_us;
    let floor_rate = floor.rate(per_entry);
    println!(
        "- one entry (verify + SET sign): {per_entry:.0} µs → floor {floor_rate:.0}/s on {} cores",
        floor.cores
    );
    println!();
    print_header("entries/s", " reads meanwhile, p50 / p99 |");
    let endpoints: Arc<Vec<String>> = Arc::new(
        server
            .urls
            .iter()
            .map(|url| format!("{url}/api/v1/log/entries"))
            .collect(),
    );
    for (round, &clients) in options.concurrency.iter().enumerate() {
        let reading = Arc::new(AtomicBool::new(true));
        let reader = tokio::spawn(read_continuously(
            server.client.clone(),
            server.url.clone(),
            reading.clone(),
        ));
        let client = server.client.clone();
        let endpoints = endpoints.clone();
        let signer = signer.clone();
        // Closed loop: enough for half the floor rate, the target, for the whole level.
        let expected = options.rate.unwrap_or(floor_rate / 2.0) * options.seconds;
        let prebuilt = Arc::new(signer.prebuild(
            run_id,
            round,
            (expected as usize + clients).min(MAX_PREBUILT),
            floor.cores,
        ));
        let level: Level = run_level(
            clients,
            Duration::from_secs_f64(options.seconds),
            options.rate,
            move |worker, n| {
                let k = worker + n * clients;
                let body = match prebuilt.get(k) {
                    Some(body) => Ok(body.clone()),
                    None => signer.dsse_entry(run_id, round, k),
                };
                let endpoint = &endpoints[worker % endpoints.len()];
                let request = body.map(|body| {
                    client
                        .post(endpoint)
                        .header(CONTENT_TYPE, "application/json")
                        .body(body)
                });
                async move { send_expecting(request?, 201, "append").await }
            },
        )
        .await?;
        reading.store(false, Ordering::Relaxed);
        let mut reads = reader
            .await
            .map_err(|e| BenchError::Check(e.to_string()))??;
        reads.sort_unstable();
        let reads_cell = format!(
            " {:.2} ms / {:.2} ms ({} reads) |",
            quantile(&reads, 0.5) as f64 / 1000.0,
            quantile(&reads, 0.99) as f64 / 1000.0,
            reads.len()
        );
        print_row(clients, &level, floor_rate, &reads_cell);
    }
    print_rss(&server, rss_start);
    server.stop().await
}

impl Signer {
    /// The serialised dsse proposed entry for statement `k` of level `round` in run `run`,
    /// unique per (run, round, k).
    fn dsse_entry(&self, run: u64, round: usize, k: usize) -> Result<Bytes, BenchError> {
        let digest = hex::encode(
            aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA256,
                format!("{run}/{round}/{k}").as_bytes(),
            )
            .as_ref(),
        );
        let statement = json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": format!("pkg:npm/bench-{round}@1.0.{k}"), "digest": {"sha512": digest.repeat(2)}}],
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {"buildDefinition": {
                "buildType": "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1",
                "externalParameters": {"workflow": {"ref": "refs/heads/main", "repository": "https://github.com/octo-org/octo-repo", "path": ".github/workflows/release.yml"}},
                "internalParameters": {"github": {"event_name": "push", "repository_id": "123456789", "repository_owner_id": "987654"}},
                "resolvedDependencies": [{"uri": "git+https://github.com/octo-org/octo-repo@refs/heads/main", "digest": {"gitCommit": "0123456789abcdef0123456789abcdef01234567"}}]},
              "runDetails": {"builder": {"id": "https://github.com/actions/runner/github-hosted"},
                "metadata": {"invocationId": format!("https://github.com/octo-org/octo-repo/actions/runs/{k}/attempts/1")}}}
        })
        .to_string();
        let pae = format!(
            "DSSEv1 {} {PAYLOAD_TYPE} {} {statement}",
            PAYLOAD_TYPE.len(),
            statement.len()
        );
        let signature = self
            .key
            .sign(&self.rng, pae.as_bytes())
            .map_err(|_| BenchError::Check("signing failed".into()))?;
        let envelope = json!({
            "payload": STANDARD.encode(&statement),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"keyid": "", "sig": STANDARD.encode(signature.as_ref())}],
        })
        .to_string();
        let entry = json!({"apiVersion": "0.0.1", "kind": "dsse", "spec": {"proposedContent": {
            "envelope": envelope, "verifiers": [self.certificate_b64]}}});
        // Copied out of the serialiser's buffer, which has up to twice the capacity it uses.
        Ok(Bytes::copy_from_slice(entry.to_string().as_bytes()))
    }

    /// Entries 0..count of a level, built on all cores before its clock starts.
    pub(super) fn prebuild(
        &self,
        run: u64,
        round: usize,
        count: usize,
        cores: usize,
    ) -> Vec<Bytes> {
        let per_thread = count.div_ceil(cores.max(1));
        std::thread::scope(|scope| {
            let parts: Vec<_> = (0..cores.max(1))
                .map(|t| {
                    scope.spawn(move || {
                        let range = (t * per_thread)..((t + 1) * per_thread).min(count);
                        range
                            .map(|k| self.dsse_entry(run, round, k))
                            .collect::<Result<Vec<_>, _>>()
                    })
                })
                .collect();
            parts
                .into_iter()
                .filter_map(|part| part.join().ok().and_then(Result::ok))
                .flatten()
                .collect()
        })
    }
}

/// A key with a certificate from this instance's CA, via the dev issuer.
pub(super) async fn certified_signer(server: &BenchServer) -> Result<Signer, BenchError> {
    let token = dev_token(server).await?;
    let sub = token
        .split('.')
        .nth(1)
        .and_then(|c| URL_SAFE_NO_PAD.decode(c).ok())
        .and_then(|c| serde_json::from_slice::<Value>(&c).ok())
        .and_then(|claims| claims["sub"].as_str().map(str::to_owned))
        .ok_or_else(|| BenchError::Check("unreadable dev token".into()))?;
    let key = p256_key()?;
    let rng = SystemRandom::new();
    let proof = key
        .sign(&rng, sub.as_bytes())
        .map_err(|_| BenchError::Check("signing failed".into()))?;
    let response: Value = server
        .client
        .post(format!("{}/api/v2/signingCert", server.url))
        .json(&json!({
            "credentials": {"oidcIdentityToken": token},
            "publicKeyRequest": {
                "publicKey": {"algorithm": "ECDSA", "content": p256_spki_pem(key.public_key().as_ref())},
                "proofOfPossession": STANDARD.encode(proof.as_ref()),
            }
        }))
        .send()
        .await?
        .json()
        .await?;
    let leaf = response["signedCertificateEmbeddedSct"]["chain"]["certificates"][0]
        .as_str()
        .ok_or_else(|| BenchError::Check(format!("no certificate: {response}")))?;
    Ok(Signer {
        key,
        certificate_b64: STANDARD.encode(leaf),
        rng,
    })
}

/// Fetches random existing entries by index until told to stop; returns the latencies (µs).
async fn read_continuously(
    client: reqwest::Client,
    url: String,
    reading: Arc<AtomicBool>,
) -> Result<Vec<u64>, BenchError> {
    let mut latencies = Vec::new();
    while reading.load(Ordering::Relaxed) {
        let info: Value = client
            .get(format!("{url}/api/v1/log"))
            .send()
            .await?
            .json()
            .await?;
        let size = info["treeSize"].as_u64().unwrap_or(0);
        // Index 0 of a new log is its genesis entry, which the Rekor API does not serve.
        if size <= 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        let index = rand::rng().random_range(1..size);
        let sent = Instant::now();
        let response = client
            .get(format!("{url}/api/v1/log/entries?logIndex={index}"))
            .send()
            .await?;
        let status = response.status();
        response.bytes().await?;
        if status != 200 {
            return Err(BenchError::Check(format!(
                "read of entry {index} failed with {status}"
            )));
        }
        latencies.push(sent.elapsed().as_micros() as u64);
    }
    Ok(latencies)
}

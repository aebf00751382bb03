//! `mayfly bench audit`: the auditor's reads on a large instance.
//!
//! Fills a fresh local instance with real certificates through the HTTP API (dev-issuer tokens
//! for many repositories, so the index has realistic fan-out), samples the index lag while the
//! issuance load runs, then times the search API and the explorer's pages one request at a
//! time, so each latency is the service time of one answer on a log of that size.

use super::harness::{BenchError, BenchServer, p256_key, p256_spki_pem, rss_mib};
use super::issue::dev_token_with;
use super::quantile;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::KeyPair;
use axum::body::Bytes;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use indicatif::{ProgressBar, ProgressStyle};
use rand::RngExt;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct Options {
    /// Certificates to issue before the reads are timed.
    pub certificates: u64,
    /// Distinct repositories the certificates are spread over (ten per owner).
    pub repositories: usize,
    /// Concurrent clients during the fill.
    pub clients: usize,
    /// Timed requests per kind of read.
    pub samples: usize,
}

/// One repository's identity, as its tokens and searches name it.
struct Repository {
    name: String,
    owner: String,
    git_ref: String,
    /// The certificate's SAN: the workflow's URI at `git_ref`.
    san: String,
}

fn repository(r: usize) -> Repository {
    let owner = format!("org-{:03}", r / 10);
    let name = format!("{owner}/repo-{r:05}");
    // A third of the repositories release from tags, the rest from main.
    let git_ref = if r.is_multiple_of(3) {
        "refs/tags/v1.0.0".to_owned()
    } else {
        "refs/heads/main".to_owned()
    };
    let san = format!("https://github.com/{name}/.github/workflows/release.yml@{git_ref}");
    Repository {
        name,
        owner,
        git_ref,
        san,
    }
}

pub async fn run(options: Options) -> Result<(), BenchError> {
    let server = BenchServer::start_with(true).await?;
    let repositories: Vec<Repository> = (0..options.repositories.max(1)).map(repository).collect();
    let bodies = Arc::new(request_bodies(&server, &repositories).await?);
    println!("# mayfly bench audit");
    println!(
        "{} certificates for {} repositories ({} owners) through POST /api/v2/signingCert to {} \
         (in this process, SQLite synchronous=FULL), {} clients; then {} timed reads of each kind, \
         one at a time",
        options.certificates,
        repositories.len(),
        repositories.len().div_ceil(10),
        server.url,
        options.clients,
        options.samples
    );
    println!();

    let fill = fill(&server, bodies, options.certificates, options.clients).await?;
    println!("## Issuance while the index follows");
    println!();
    println!(
        "| certificates/s | p50 | p99 | errors | index lag p50 | index lag p99 | index lag max | catch-up after the load |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {:.0} | {:.1} ms | {:.1} ms | {} | {} | {} | {} | {:.2} s |",
        fill.rate,
        fill.p50_us as f64 / 1000.0,
        fill.p99_us as f64 / 1000.0,
        fill.errors,
        quantile(&fill.lag, 0.5),
        quantile(&fill.lag, 0.99),
        fill.lag.last().copied().unwrap_or(0),
        fill.catch_up.as_secs_f64()
    );
    if let Some(error) = &fill.first_error {
        println!("\nfirst error: {error}");
    }
    let size = log_size(&server).await?;
    if let Some(bytes) = server.database_bytes() {
        println!(
            "\ndatabase: {:.1} MiB for {size} certificates ({:.0} B per certificate, log and index)",
            bytes as f64 / (1 << 20) as f64,
            bytes as f64 / size.max(1) as f64
        );
    }

    println!();
    println!("## Reads at {size} certificates");
    println!();
    println!("| read | p50 | p99 | max | items per answer |");
    println!("|---|---:|---:|---:|---:|");
    let reads = Reads {
        server: &server,
        repositories: &repositories,
        size,
        samples: options.samples,
    };
    reads.run_all().await?;
    if let Some(rss) = rss_mib() {
        println!("\nresident memory at the end (server and load generator): {rss:.0} MiB");
    }
    server.stop().await
}

/// One request body per repository: its token and a proof of possession for a fresh key.
async fn request_bodies(
    server: &BenchServer,
    repositories: &[Repository],
) -> Result<Vec<Bytes>, BenchError> {
    let rng = SystemRandom::new();
    let progress = bar(repositories.len() as u64, "tokens");
    let mut bodies = Vec::with_capacity(repositories.len());
    for repo in repositories {
        let sub = format!("repo:{}:ref:{}", repo.name, repo.git_ref);
        let workflow = format!(
            "{}/.github/workflows/release.yml@{}",
            repo.name, repo.git_ref
        );
        let token = dev_token_with(
            server,
            json!({
                "sub": sub,
                "repository": repo.name,
                "repository_owner": repo.owner,
                "ref": repo.git_ref,
                "workflow_ref": workflow,
                "job_workflow_ref": workflow,
            }),
        )
        .await?;
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
        bodies.push(Bytes::from(body.to_string()));
        progress.inc(1);
    }
    progress.finish_and_clear();
    Ok(bodies)
}

struct Fill {
    rate: f64,
    p50_us: u64,
    p99_us: u64,
    errors: u64,
    first_error: Option<String>,
    /// Index lag of the issuance log sampled every 250 ms during the load, sorted.
    lag: Vec<u64>,
    /// From the last acknowledged certificate until the index held all of them.
    catch_up: Duration,
}

/// Issues `total` certificates with `clients` concurrent clients, cycling over the bodies.
async fn fill(
    server: &BenchServer,
    bodies: Arc<Vec<Bytes>>,
    total: u64,
    clients: usize,
) -> Result<Fill, BenchError> {
    let progress = bar(total, "certificates");
    let next = Arc::new(AtomicU64::new(0));
    let endpoint = format!("{}/api/v2/signingCert", server.url);
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..clients.max(1) {
        let (client, endpoint, bodies) = (server.client.clone(), endpoint.clone(), bodies.clone());
        let (next, progress) = (next.clone(), progress.clone());
        workers.spawn(async move {
            let mut latencies = Vec::new();
            let (mut errors, mut first_error) = (0u64, None);
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return (latencies, errors, first_error);
                }
                let t = Instant::now();
                let body = bodies[(n % bodies.len() as u64) as usize].clone();
                let sent = client
                    .post(&endpoint)
                    .header(CONTENT_TYPE, "application/json")
                    .body(body)
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == 200 => {
                        // Read the body: the request is done when the chain has arrived.
                        let _ = r.bytes().await;
                        latencies.push(t.elapsed().as_micros() as u64);
                        progress.inc(1);
                    }
                    Ok(r) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| format!("status {}", r.status()));
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| e.to_string());
                    }
                }
            }
        });
    }
    // Lag samples come back through a channel: the sampler runs until aborted.
    let (lag_tx, mut lag_rx) = tokio::sync::mpsc::unbounded_channel();
    let sampler = {
        let (client, url) = (server.client.clone(), server.url.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                if let Ok(lag) = index_lag(&client, &url).await
                    && lag_tx.send(lag).is_err()
                {
                    return;
                }
            }
        })
    };
    let mut latencies = Vec::new();
    let (mut errors, mut first_error) = (0, None);
    while let Some(joined) = workers.join_next().await {
        let (mine, my_errors, my_first) = joined.map_err(|e| BenchError::Check(e.to_string()))?;
        latencies.extend(mine);
        errors += my_errors;
        first_error = first_error.or(my_first);
    }
    let elapsed = started.elapsed();
    sampler.abort();
    progress.finish_and_clear();
    let loaded = Instant::now();
    while index_lag(&server.client, &server.url).await? > 0 {
        if loaded.elapsed() > Duration::from_secs(600) {
            return Err(BenchError::Check(
                "the index did not catch up within 10 minutes".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let catch_up = loaded.elapsed();
    let mut lag = Vec::new();
    while let Ok(sample) = lag_rx.try_recv() {
        lag.push(sample);
    }
    lag.sort_unstable();
    latencies.sort_unstable();
    Ok(Fill {
        rate: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50_us: quantile(&latencies, 0.5),
        p99_us: quantile(&latencies, 0.99),
        errors,
        first_error,
        lag,
        catch_up,
    })
}

/// The issuance log's `mayfly_index_lag_entries` from the Prometheus exposition.
async fn index_lag(client: &reqwest::Client, url: &str) -> Result<u64, BenchError> {
    let text = client
        .get(format!("{url}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    text.lines()
        .find_map(|line| line.strip_prefix("mayfly_index_lag_entries{log=\"issuance\"} "))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .map(|lag| lag as u64)
        .ok_or_else(|| BenchError::Check("/metrics has no issuance index lag".into()))
}

async fn log_size(server: &BenchServer) -> Result<u64, BenchError> {
    let note = server
        .client
        .get(format!("{}/logs/issuance/checkpoint", server.url))
        .send()
        .await?
        .text()
        .await?;
    note.lines()
        .nth(1)
        .and_then(|size| size.parse().ok())
        .ok_or_else(|| BenchError::Check(format!("unreadable checkpoint: {note:?}")))
}

struct Reads<'a> {
    server: &'a BenchServer,
    repositories: &'a [Repository],
    size: u64,
    samples: usize,
}

impl Reads<'_> {
    async fn run_all(&self) -> Result<(), BenchError> {
        let api = "/api/v1/audit/certificates?limit=100&";
        let since = |rng: &mut rand::rngs::ThreadRng| {
            // A one-minute window somewhere in the last ten minutes (the fill's span).
            let now = time::OffsetDateTime::now_utc();
            let start = now - time::Duration::seconds(rng.random_range(60..600));
            let format = time::format_description::well_known::Rfc3339;
            let text = |t: time::OffsetDateTime| t.format(&format).unwrap_or_default();
            format!(
                "since={}&until={}",
                text(start),
                text(start + time::Duration::seconds(60))
            )
        };
        self.time("API: repository (owner/name)", |repo, _| {
            format!("{api}repository={}", repo.name)
        })
        .await?;
        self.time("API: owner", |repo, _| format!("{api}owner={}", repo.owner))
            .await?;
        self.time("API: SAN", |repo, _| {
            format!("{api}san={}", encode(&repo.san))
        })
        .await?;
        let issuer = encode(&format!("{}/dev-oidc", self.server.url));
        self.time("API: issuer (every certificate matches)", |_, _| {
            format!("{api}issuer={issuer}")
        })
        .await?;
        self.time("API: workflow (build signer URI)", |repo, _| {
            format!("{api}workflow={}", encode(&repo.san))
        })
        .await?;
        self.time("API: repository and ref", |repo, _| {
            format!(
                "{api}repository={}&ref={}",
                repo.name,
                encode(&repo.git_ref)
            )
        })
        .await?;
        self.time("API: one-minute time window", |_, rng| {
            format!("{api}{}", since(rng))
        })
        .await?;
        self.time("API: owner, fifth page (cursor)", |repo, rng| {
            // A cursor is the log index a page starts at: one in the second half of the log.
            let cursor = rng.random_range(self.size / 2..self.size.max(1));
            format!("{api}owner={}&cursor={cursor}", repo.owner)
        })
        .await?;
        self.time("explorer: home", |_, _| "/".to_owned()).await?;
        self.time("explorer: search by repository", |repo, _| {
            format!("/search?repository={}", repo.name)
        })
        .await?;
        self.time("explorer: certificate page", |_, rng| {
            format!("/certificates/{}", rng.random_range(0..self.size.max(1)))
        })
        .await
    }

    /// Times `samples` GETs of the paths `path` makes (for a random repository each time).
    async fn time(
        &self,
        what: &str,
        path: impl Fn(&Repository, &mut rand::rngs::ThreadRng) -> String,
    ) -> Result<(), BenchError> {
        let mut rng = rand::rng();
        let mut latencies = Vec::with_capacity(self.samples);
        let mut items = 0usize;
        for _ in 0..self.samples {
            let repo = &self.repositories[rng.random_range(0..self.repositories.len())];
            let url = format!("{}{}", self.server.url, path(repo, &mut rng));
            let t = Instant::now();
            let response = self.server.client.get(&url).send().await?;
            let status = response.status();
            let body = response.bytes().await?;
            latencies.push(t.elapsed().as_micros() as u64);
            if status != 200 {
                return Err(BenchError::Check(format!(
                    "{url} answered {status}: {}",
                    String::from_utf8_lossy(&body[..body.len().min(300)])
                )));
            }
            if url.contains("/api/") {
                let page: Value = serde_json::from_slice(&body)
                    .map_err(|e| BenchError::Check(format!("{url}: {e}")))?;
                items += page["certificates"].as_array().map_or(0, Vec::len);
            }
        }
        latencies.sort_unstable();
        let per_answer = if what.starts_with("API") {
            format!("{:.1}", items as f64 / self.samples.max(1) as f64)
        } else {
            "page".to_owned()
        };
        println!(
            "| {what} | {:.2} ms | {:.2} ms | {:.2} ms | {per_answer} |",
            quantile(&latencies, 0.5) as f64 / 1000.0,
            quantile(&latencies, 0.99) as f64 / 1000.0,
            latencies.last().copied().unwrap_or(0) as f64 / 1000.0
        );
        Ok(())
    }
}

/// Percent-encodes a query value (the SAN holds `:`, `/` and `@`).
fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn bar(len: u64, what: &str) -> ProgressBar {
    ProgressBar::new(len).with_style(
        ProgressStyle::with_template(&format!(
            "{{bar:40}} {{pos}}/{{len}} {what} ({{per_sec}}, eta {{eta}})"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    )
}

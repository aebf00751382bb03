//! What the HTTP benchmarks share: a fresh instance on 127.0.0.1 (file-backed SQLite, ephemeral
//! CA, the dev issuer), a closed-loop load generator, and the crypto floor timed in the same
//! process so every result can be given as a ratio to it (design.md §7).

use super::quantile;
use crate::ca::setup::CaBackend;
use crate::ratelimit::Rate;
use crate::server::{Instance, ServeConfig, ServerError, serve};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use indicatif::{ProgressBar, ProgressStyle};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

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

/// The Mayfly under load: one started here on an ephemeral port (stopped by
/// [`BenchServer::stop`]), or a running one given by URL.
pub struct BenchServer {
    /// The first (or only) server: tokens, reads and the report name it.
    pub url: String,
    /// Every server the load is spread over: replicas of one instance, `url` first.
    pub urls: Vec<String>,
    pub client: reqwest::Client,
    owned: Option<OwnedServer>,
}

struct OwnedServer {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), ServerError>>,
    scratch: tempfile::TempDir,
}

impl BenchServer {
    /// A running Mayfly at `url` (several replicas, comma-separated), or a fresh one in this
    /// process when `None`. A running one must have been started with `--dev-issuer`: the
    /// benchmarks get their tokens there (from each replica, whose dev issuer is its own).
    pub async fn start_or_connect(url: Option<&str>) -> Result<Self, BenchError> {
        match url {
            None => Self::start().await,
            Some(list) => {
                crate::install_crypto_provider();
                let urls: Vec<String> = list
                    .split(',')
                    .map(|u| u.trim().trim_end_matches('/').to_owned())
                    .filter(|u| !u.is_empty())
                    .collect();
                let url = urls
                    .first()
                    .cloned()
                    .ok_or_else(|| BenchError::Check("--url names no server".into()))?;
                Ok(BenchServer {
                    url,
                    urls,
                    client: client()?,
                    owned: None,
                })
            }
        }
    }

    /// The server a worker sends to: workers are spread evenly over the replicas.
    pub fn url_for(&self, worker: usize) -> &str {
        &self.urls[worker % self.urls.len()]
    }

    /// Bytes of the local server's database files (main file and WAL), if it is local.
    pub fn database_bytes(&self) -> Option<u64> {
        let data = self.owned.as_ref()?.scratch.path().join("data");
        let mut bytes = 0;
        for file in ["mayfly.db", "mayfly.db-wal"] {
            bytes += std::fs::metadata(data.join(file)).map_or(0, |m| m.len());
        }
        Some(bytes)
    }

    /// Whether the server runs in this process (so its memory is this process's).
    pub fn is_local(&self) -> bool {
        self.owned.is_some()
    }

    /// The report's first line: what is loaded, where, and how.
    pub fn print_intro(
        &self,
        bench: &str,
        what: &str,
        seconds: f64,
        rate: Option<f64>,
        floor: &Floor,
    ) {
        let server = if self.is_local() {
            "in this process: ephemeral CA, SQLite synchronous=FULL".to_owned()
        } else if self.urls.len() > 1 {
            format!(
                "{} running replicas, the load spread over them",
                self.urls.len()
            )
        } else {
            "a running Mayfly".to_owned()
        };
        let load = match rate {
            Some(per_second) => format!("open loop at {per_second:.0} requests/s"),
            None => "closed loop".to_owned(),
        };
        println!("# mayfly bench {bench}");
        println!(
            "{what} to {} ({server}), {load}, {seconds} s per level, {} cores",
            self.url, floor.cores
        );
        println!();
        floor.print();
    }

    pub async fn start() -> Result<Self, BenchError> {
        Self::start_with(false).await
    }

    /// As [`BenchServer::start`]; with `metrics`, the server records and serves `/metrics` (a
    /// benchmark that reads them pays for recording them; the others do not).
    pub async fn start_with(metrics: bool) -> Result<Self, BenchError> {
        crate::install_crypto_provider();
        let metrics = match metrics {
            true => Some(
                crate::api::install_metrics_recorder()
                    .map_err(|e| BenchError::Check(format!("metrics recorder: {e}")))?,
            ),
            false => None,
        };
        let scratch = tempfile::tempdir()?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let url = format!("http://{addr}");
        // A load generator is one client with one identity: the rate limits would measure
        // themselves, not the server.
        let config = ServeConfig {
            ca: CaBackend::Ephemeral,
            dev_issuer: true,
            rate_limit_identity: Rate::Off,
            rate_limit_client: Rate::Off,
            ..ServeConfig::new(
                addr,
                scratch.path().join("data"),
                url::Url::parse(&url).map_err(|e| BenchError::Check(e.to_string()))?,
            )
        };
        let instance = Instance::open(&config, metrics).await?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, instance, async {
            let _ = stopped.await;
        }));
        Ok(BenchServer {
            urls: vec![url.clone()],
            url,
            client: client()?,
            owned: Some(OwnedServer {
                stop,
                task,
                scratch,
            }),
        })
    }

    pub async fn stop(self) -> Result<(), BenchError> {
        if let Some(owned) = self.owned {
            let _ = owned.stop.send(());
            owned
                .task
                .await
                .map_err(|e| BenchError::Check(e.to_string()))??;
        }
        Ok(())
    }
}

fn client() -> Result<reqwest::Client, BenchError> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()?)
}

/// Sends one timed request; anything but `expected` is an error quoting the server's answer.
pub(super) async fn send_expecting(
    request: reqwest::RequestBuilder,
    expected: u16,
    what: &str,
) -> Result<(), BenchError> {
    let response = request.send().await?;
    let status = response.status();
    let body = response.bytes().await?;
    if status.as_u16() == expected {
        return Ok(());
    }
    Err(BenchError::Check(format!(
        "{what} answered {status}: {}",
        String::from_utf8_lossy(&body[..body.len().min(300)])
    )))
}

/// Prints the memory line after a run with a local server.
pub(super) fn print_rss(server: &BenchServer, start: Option<f64>) {
    if let (true, Some(start), Some(end)) = (server.is_local(), start, rss_mib()) {
        println!(
            "\nresident memory (server and load generator): {start:.0} MiB at start, {end:.0} MiB at end"
        );
    }
}

/// This process's resident memory in MiB (Linux), for the memory-over-time check.
pub(super) fn rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// One level's outcome. Only successful requests count toward the rate and latencies.
pub(super) struct Level {
    pub rate: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub errors: u64,
    /// The first error seen, to say what went wrong.
    pub first_error: Option<String>,
}

/// Runs `clients` workers for `duration`; each call of `request(worker, n)` is one timed
/// operation. Failures are counted (and the first one kept), not fatal: a load test must
/// report errors, not stop at the first.
///
/// Closed loop when `rate` is `None`: a worker sends again as soon as it has an answer.
/// Open loop with `Some(per_second)`: request k (counting over all workers) is due at
/// `start + k / per_second`, worker w taking k ≡ w (mod clients). A worker that is still
/// waiting when its next request falls due sends late, and the latency counts from when it
/// was due, so queueing is measured rather than hidden (coordinated omission).
pub(super) async fn run_level<F, Fut>(
    clients: usize,
    duration: Duration,
    rate: Option<f64>,
    request: F,
) -> Result<Level, BenchError>
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), BenchError>> + Send,
{
    let progress = ProgressBar::new(duration.as_millis() as u64).with_style(
        ProgressStyle::with_template("{msg:>12} [{bar:30}] {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    progress.set_message(format!("{clients} clients"));
    let request = Arc::new(request);
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..clients {
        let request = request.clone();
        let stop = stop.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut first_error = None;
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let due = match rate {
                    Some(per_second) => {
                        let k = (worker + n * clients) as f64;
                        let due = start + Duration::from_secs_f64(k / per_second);
                        tokio::time::sleep_until(due.into()).await;
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        due
                    }
                    None => Instant::now(),
                };
                match request(worker, n).await {
                    Ok(()) => latencies.push(due.elapsed().as_micros() as u64),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| e.to_string());
                    }
                }
                n += 1;
            }
            (latencies, errors, first_error)
        });
    }
    while start.elapsed() < duration {
        tokio::time::sleep(Duration::from_millis(100)).await;
        progress.set_position(start.elapsed().as_millis() as u64);
    }
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        let (mine, my_errors, my_first) = joined.map_err(|e| BenchError::Check(e.to_string()))?;
        latencies.extend(mine);
        errors += my_errors;
        first_error = first_error.or(my_first);
    }
    let elapsed = start.elapsed().as_secs_f64();
    progress.finish_and_clear();
    latencies.sort_unstable();
    Ok(Level {
        rate: latencies.len() as f64 / elapsed,
        p50_us: quantile(&latencies, 0.5),
        p90_us: quantile(&latencies, 0.9),
        p99_us: quantile(&latencies, 0.99),
        max_us: latencies.last().copied().unwrap_or(0),
        errors,
        first_error,
    })
}

/// Single-threaded cost of each primitive the floor is made of, in µs (aws-lc).
pub struct Floor {
    pub p256_sign_us: f64,
    pub p256_verify_us: f64,
    pub rsa2048_verify_us: f64,
    /// The same P-256 operations with the RustCrypto `p256` crate, for the backend choice.
    pub rustcrypto_sign_us: f64,
    pub rustcrypto_verify_us: f64,
    /// A P-384 signature (aws-lc), for the CA key's curve: the public-good CA uses P-384.
    pub p384_sign_us: f64,
    pub cores: usize,
}

impl Floor {
    /// Times each primitive in a short loop.
    pub fn measure() -> Floor {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let rng = SystemRandom::new();
        let message = [0x42u8; 300];
        let keys = (
            EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_ASN1_SIGNING).ok(),
            RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).ok(),
        );
        let (Some(p256), Some(rsa)) = keys else {
            return Floor {
                p256_sign_us: f64::NAN,
                p256_verify_us: f64::NAN,
                rsa2048_verify_us: f64::NAN,
                rustcrypto_sign_us: f64::NAN,
                rustcrypto_verify_us: f64::NAN,
                p384_sign_us: f64::NAN,
                cores,
            };
        };
        let time = |f: &mut dyn FnMut()| {
            let runs = 2000;
            let start = Instant::now();
            for _ in 0..runs {
                f();
            }
            start.elapsed().as_secs_f64() * 1e6 / f64::from(runs)
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
        let (rustcrypto_sign_us, rustcrypto_verify_us) = rustcrypto_p256(&message, &time);
        let p384_sign_us = EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_ASN1_SIGNING)
            .map_or(f64::NAN, |p384| {
                time(&mut || {
                    let _ = p384.sign(&rng, &message);
                })
            });
        Floor {
            p384_sign_us,
            rustcrypto_sign_us,
            rustcrypto_verify_us,
            p256_sign_us: time(&mut || {
                let _ = p256.sign(&rng, &message);
            }),
            p256_verify_us: time(&mut || {
                let _ = p256_public.verify(&message, &ecdsa_signature);
            }),
            rsa2048_verify_us: time(&mut || {
                let _ = rsa_public.verify(&message, &rsa_signature);
            }),
            cores,
        }
    }

    /// Operations per second on all cores if each costs `per_op_us` of crypto and nothing else.
    pub fn rate(&self, per_op_us: f64) -> f64 {
        self.cores as f64 * 1e6 / per_op_us
    }

    pub fn print(&self) {
        println!("crypto floor, one core (aws-lc, single-threaded, this run):");
        println!(
            "- P-256 sign {:.1} µs, P-256 verify {:.1} µs, RSA-2048 verify {:.1} µs",
            self.p256_sign_us, self.p256_verify_us, self.rsa2048_verify_us
        );
        println!(
            "- for comparison, RustCrypto p256: sign {:.1} µs, verify {:.1} µs; aws-lc P-384 sign {:.1} µs (a P-384 CA would pay it twice per issuance)",
            self.rustcrypto_sign_us, self.rustcrypto_verify_us, self.p384_sign_us
        );
    }
}

/// Single-threaded P-256 sign and verify with the RustCrypto `p256` crate, in µs.
fn rustcrypto_p256(message: &[u8], time: &dyn Fn(&mut dyn FnMut()) -> f64) -> (f64, f64) {
    use p256::ecdsa::signature::{Signer, Verifier};
    use p256::elliptic_curve::Generate;
    let key = p256::ecdsa::SigningKey::generate();
    let signature: p256::ecdsa::Signature = key.sign(message);
    let verifying = *key.verifying_key();
    let sign = time(&mut || {
        let _: p256::ecdsa::Signature = key.sign(message);
    });
    let verify = time(&mut || {
        let _ = verifying.verify(message, &signature);
    });
    (sign, verify)
}

/// The table header matching [`print_row`]; `what` names the operation (e.g. `issuances/s`).
pub(super) fn print_header(what: &str, extra: &str) {
    println!("| clients | {what} | p50 | p90 | p99 | max | errors | ratio to floor |{extra}");
    println!(
        "|---:|---:|---:|---:|---:|---:|---:|---:|{}",
        if extra.is_empty() { "" } else { "---:|" }
    );
}

/// Prints one table row: clients, rate, latencies, errors, ratio to `floor_rate`, and `extra`
/// cells (already formatted, each ending in `|`).
pub(super) fn print_row(clients: usize, level: &Level, floor_rate: f64, extra: &str) {
    let ms = |us: u64| us as f64 / 1000.0;
    println!(
        "| {clients} | {:.0} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {} | {:.2} |{extra}",
        level.rate,
        ms(level.p50_us),
        ms(level.p90_us),
        ms(level.p99_us),
        ms(level.max_us),
        level.errors,
        level.rate / floor_rate
    );
    if let Some(error) = &level.first_error {
        eprintln!("  first error at {clients} clients: {error}");
    }
}

/// A fresh P-256 key as aws-lc signs with it.
pub(super) fn p256_key() -> Result<EcdsaKeyPair, BenchError> {
    EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_ASN1_SIGNING)
        .map_err(|_| BenchError::Check("key generation failed".into()))
}

/// SPKI PEM of an uncompressed P-256 point.
pub(super) fn p256_spki_pem(point: &[u8]) -> String {
    // id-ecPublicKey with prime256v1, then the 65-byte point in a BIT STRING.
    const PREFIX: [u8; 26] = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    mayfly_spec::pem::encode("PUBLIC KEY", &[&PREFIX[..], point].concat())
}

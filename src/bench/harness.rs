//! What the HTTP benchmarks share: a fresh instance on 127.0.0.1 (file-backed SQLite, ephemeral
//! CA, the dev issuer), a closed-loop load generator, and the crypto floor timed in the same
//! process so every result can be given as a ratio to it (design.md §7).

use super::quantile;
use crate::ca::setup::CaBackend;
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

/// A Mayfly serving on an ephemeral port until [`BenchServer::stop`].
pub struct BenchServer {
    pub url: String,
    pub client: reqwest::Client,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), ServerError>>,
    _scratch: tempfile::TempDir,
}

impl BenchServer {
    pub async fn start() -> Result<Self, BenchError> {
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
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, instance, async {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .build()?;
        Ok(BenchServer {
            url,
            client,
            stop,
            task,
            _scratch: scratch,
        })
    }

    pub async fn stop(self) -> Result<(), BenchError> {
        let _ = self.stop.send(());
        self.task
            .await
            .map_err(|e| BenchError::Check(e.to_string()))??;
        Ok(())
    }
}

/// One level's outcome.
pub struct Level {
    pub rate: f64,
    pub p50_us: u64,
    pub p99_us: u64,
}

/// Runs `clients` closed-loop workers for `duration`; each call of `request(worker, n)` is one
/// timed operation that must succeed.
pub async fn run_level<F, Fut>(
    clients: usize,
    duration: Duration,
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
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let sent = Instant::now();
                request(worker, n).await?;
                latencies.push(sent.elapsed().as_micros() as u64);
                n += 1;
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
    Ok(Level {
        rate: latencies.len() as f64 / elapsed,
        p50_us: quantile(&latencies, 0.5),
        p99_us: quantile(&latencies, 0.99),
    })
}

/// Single-threaded cost of each primitive the floor is made of, in µs (aws-lc).
pub struct Floor {
    pub p256_sign_us: f64,
    pub p256_verify_us: f64,
    pub rsa2048_verify_us: f64,
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
        Floor {
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
    }
}

/// Prints one table row: clients, rate, latencies, ratio to `floor_rate`.
pub fn print_row(clients: usize, level: &Level, floor_rate: f64) {
    println!(
        "| {clients} | {:.0} | {:.2} ms | {:.2} ms | {:.2} |",
        level.rate,
        level.p50_us as f64 / 1000.0,
        level.p99_us as f64 / 1000.0,
        level.rate / floor_rate
    );
}

/// A fresh P-256 key as aws-lc signs with it.
pub fn p256_key() -> Result<EcdsaKeyPair, BenchError> {
    EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_ASN1_SIGNING)
        .map_err(|_| BenchError::Check("key generation failed".into()))
}

/// SPKI PEM of an uncompressed P-256 point.
pub fn p256_spki_pem(point: &[u8]) -> String {
    // id-ecPublicKey with prime256v1, then the 65-byte point in a BIT STRING.
    const PREFIX: [u8; 26] = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    crate::keys::pem_block("PUBLIC KEY", &[&PREFIX[..], point].concat())
}

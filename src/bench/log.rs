//! `mayfly bench log`: the log engine alone, on a fresh SQLite file in WAL mode with
//! `synchronous=FULL`, so every acknowledged append is durable exactly as in production.

use super::quantile;
use crate::log::key::LogKey;
use crate::log::storage::LogSlot;
use crate::log::{Appended, Log, LogConfig, LogError, Verbatim};
use crate::storage::SqliteStore;
use indicatif::{ProgressBar, ProgressStyle};
use mayfly_spec::tlog::{leaf_hash, proof};
use rand::RngExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct Options {
    pub concurrency: Vec<usize>,
    pub seconds: f64,
    pub entry_bytes: usize,
    pub proof_tree_size: u64,
    pub dir: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("storage: {0}")]
    Store(#[from] crate::log::storage::StoreError),
    #[error("scratch directory: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Key(#[from] crate::log::key::KeyError),
    #[error("{0}")]
    Check(String),
}

pub async fn run(options: Options) -> Result<(), BenchError> {
    let scratch = match &options.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            tempfile::tempdir_in(dir)?
        }
        None => tempfile::tempdir()?,
    };
    println!("# mayfly bench log");
    println!(
        "entries of {} bytes, {} s per level, database under {}",
        options.entry_bytes,
        options.seconds,
        scratch.path().display()
    );
    println!();
    println!("| appenders | durable appends/s | p50 latency | p99 latency | mean batch |");
    println!("|---:|---:|---:|---:|---:|");
    for (run, &appenders) in options.concurrency.iter().enumerate() {
        let db = scratch.path().join(format!("throughput-{run}.db"));
        let (log, store, _) = fresh_log(&db).await?;
        let result = measure(
            &log,
            appenders,
            Duration::from_secs_f64(options.seconds),
            options.entry_bytes,
        )
        .await?;
        println!(
            "| {appenders} | {:.0} | {:.2} ms | {:.2} ms | {:.1} |",
            result.rate,
            result.p50_us as f64 / 1000.0,
            result.p99_us as f64 / 1000.0,
            result.mean_batch
        );
        log.close().await;
        store.close().await;
    }

    let db = scratch.path().join("proofs.db");
    let (log, store, key) = fresh_log(&db).await?;
    fill(&log, options.proof_tree_size, options.entry_bytes).await?;
    let size = log.checkpoint().size;
    let timing = time_proofs(&log, size).await?;
    log.close().await;
    store.checkpoint_wal().await?;
    store.close().await;
    let bytes = disk_bytes(&db)?;
    // What `serve` does for each log when it starts: open the database, read the checkpoint
    // and the tiles on the tree's right edge, check them against the checkpoint. Nothing here
    // may grow with the log beyond its height.
    let reopening = Instant::now();
    let store = SqliteStore::open(&db).await?;
    let log = Log::open(store.clone(), key, bench_config(), Arc::new(Verbatim)).await?;
    let reopened = reopening.elapsed();
    if log.checkpoint().size != size {
        return Err(BenchError::Check(
            "the reopened log has another size".into(),
        ));
    }
    log.close().await;
    store.close().await;
    let per_entry = bytes as f64 / size as f64;
    let budget = 1.2 * options.entry_bytes as f64 + 64.0;
    println!();
    println!(
        "| tree size | inclusion proof (read tiles + hash), p50 | p99 | disk per entry | target (1.2 × entry + 64) | reopen (open, load, verify) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {size} | {:.3} ms | {:.3} ms | {per_entry:.0} B | {budget:.0} B | {:.1} ms |",
        timing.0 as f64 / 1000.0,
        timing.1 as f64 / 1000.0,
        reopened.as_secs_f64() * 1000.0
    );
    Ok(())
}

async fn fresh_log(db: &Path) -> Result<(Log<SqliteStore>, SqliteStore, LogKey), BenchError> {
    let store = SqliteStore::open(db).await?;
    let key = LogKey::generate()?;
    let log = Log::create(
        store.clone(),
        key.clone(),
        bench_config(),
        Arc::new(Verbatim),
    )
    .await?;
    Ok((log, store, key))
}

fn bench_config() -> LogConfig {
    LogConfig::new("bench", LogSlot::ARTIFACTS, "bench.mayfly.invalid")
}

struct Throughput {
    rate: f64,
    p50_us: u64,
    p99_us: u64,
    mean_batch: f64,
}

/// `appenders` tasks append distinct entries back to back until `duration` has passed.
async fn measure(
    log: &Log<SqliteStore>,
    appenders: usize,
    duration: Duration,
    entry_bytes: usize,
) -> Result<Throughput, BenchError> {
    let start_size = log.checkpoint().size;
    let mut commits = log.watch();
    let batches = Arc::new(AtomicU64::new(0));
    let counter = batches.clone();
    let batch_counter = tokio::spawn(async move {
        while commits.changed().await.is_ok() {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..appenders)
        .map(|task| {
            let log = log.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut payload = vec![0u8; entry_bytes];
                rand::rng().fill(&mut payload[..]);
                let mut n = 0u64;
                while Instant::now() < deadline {
                    // Distinct entries: the first 16 bytes name the task and the sequence number.
                    payload[..8].copy_from_slice(&(task as u64).to_be_bytes());
                    payload[8..16].copy_from_slice(&n.to_be_bytes());
                    n += 1;
                    let t = Instant::now();
                    match log.append(payload.clone()).await? {
                        Appended::New(_) => latencies.push(t.elapsed().as_micros() as u64),
                        Appended::Existing(_) => {
                            return Err(LogError::Stopped("unexpected duplicate".into()));
                        }
                    }
                }
                Ok::<_, LogError>(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.map_err(|e| BenchError::Check(e.to_string()))??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    batch_counter.abort();
    latencies.sort_unstable();
    let appended = log.checkpoint().size - start_size;
    Ok(Throughput {
        rate: appended as f64 / elapsed,
        p50_us: quantile(&latencies, 0.50),
        p99_us: quantile(&latencies, 0.99),
        mean_batch: appended as f64 / batches.load(Ordering::Relaxed).max(1) as f64,
    })
}

/// Fills the log to `size` entries with 1024 appenders, showing progress.
async fn fill(log: &Log<SqliteStore>, size: u64, entry_bytes: usize) -> Result<(), BenchError> {
    let bar = ProgressBar::new(size).with_style(
        ProgressStyle::with_template("filling {bar:40} {pos}/{len} entries ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let next = Arc::new(AtomicU64::new(log.checkpoint().size));
    let tasks: Vec<_> = (0..1024)
        .map(|_| {
            let (log, next, bar) = (log.clone(), next.clone(), bar.clone());
            tokio::spawn(async move {
                let mut payload = vec![0u8; entry_bytes];
                rand::rng().fill(&mut payload[..]);
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= size {
                        return Ok::<_, LogError>(());
                    }
                    payload[..8].copy_from_slice(&n.to_be_bytes());
                    log.append(payload.clone()).await?;
                    bar.inc(1);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.map_err(|e| BenchError::Check(e.to_string()))??;
    }
    bar.finish_and_clear();
    Ok(())
}

/// Times inclusion proofs for random leaves, each read from storage (no cache), and checks
/// that every one verifies against the checkpoint.
async fn time_proofs(log: &Log<SqliteStore>, size: u64) -> Result<(u64, u64), BenchError> {
    let head = log.checkpoint();
    let mut rng = rand::rng();
    let mut samples = Vec::new();
    for _ in 0..2000 {
        let index = rng.random_range(0..size);
        let t = Instant::now();
        let path = log.inclusion_proof(index, size).await?;
        samples.push(t.elapsed().as_micros() as u64);
        let entry = log
            .entry(index)
            .await?
            .ok_or_else(|| BenchError::Check(format!("entry {index} missing")))?;
        proof::verify_inclusion(&leaf_hash(&entry), index, size, &path, &head.root)
            .map_err(|e| BenchError::Check(format!("proof for {index} does not verify: {e}")))?;
    }
    samples.sort_unstable();
    Ok((quantile(&samples, 0.5), quantile(&samples, 0.99)))
}

fn disk_bytes(db: &Path) -> Result<u64, BenchError> {
    let mut total = 0;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        if let Ok(meta) = std::fs::metadata(PathBuf::from(name)) {
            total += meta.len();
        }
    }
    Ok(total)
}

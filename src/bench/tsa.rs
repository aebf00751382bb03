//! `mayfly bench tsa`: RFC 3161 timestamps per second through the real HTTP API, against the
//! cryptographic floor measured in the same run.
//!
//! Clients POST DER TimeStampReqs (SHA-256 imprint, a nonce, certReq TRUE: what sigstore
//! clients send), made before the clock starts. The floor is what one timestamp cannot avoid:
//! one P-256 signature plus the SHA-256 hashes of the TSTInfo, the signing certificate and the
//! signed attributes. `stamp` alone (decode, encode, hash, sign; no HTTP) is timed too, so the
//! report separates the TSA's own cost from the HTTP stack's.

use super::harness::{
    BenchError, BenchServer, Floor, print_header, print_row, print_rss, rss_mib, run_level,
    send_expecting,
};
use crate::instance::DataDir;
use axum::body::Bytes;
use mayfly_spec::der;
use reqwest::header::CONTENT_TYPE;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use super::issue::Options;

/// Distinct queries cycled through by the clients.
const QUERIES: usize = 256;

pub async fn run(options: Options) -> Result<(), BenchError> {
    let server = BenchServer::start_or_connect(options.url.as_deref()).await?;
    let queries: Arc<Vec<Bytes>> = Arc::new((0..QUERIES).map(|i| query(i as u64)).collect());
    let rss_start = rss_mib();
    let floor = Floor::measure();
    server.print_intro(
        "tsa",
        "POST /api/v1/timestamp",
        options.seconds,
        options.rate,
        &floor,
    );
    let hashing_us = sha256_us();
    let per_timestamp = floor.p256_sign_us + hashing_us;
    let floor_rate = floor.rate(per_timestamp);
    println!(
        "- one timestamp: one P-256 signature + SHA-256 of ~1.4 KB ({hashing_us:.1} µs) = {per_timestamp:.0} µs → floor {floor_rate:.0}/s on {} cores",
        floor.cores
    );
    let stamp_us = stamp_us(&queries)?;
    println!(
        "- `TimestampAuthority::stamp` alone (decode, encode, hash, sign; no HTTP): {stamp_us:.0} µs → {:.0}/s on {} cores",
        floor.rate(stamp_us),
        floor.cores
    );
    println!();
    print_header("timestamps/s", "");
    let endpoint = format!("{}/api/v1/timestamp", server.url);
    let check = server
        .client
        .post(&endpoint)
        .header(CONTENT_TYPE, "application/timestamp-query")
        .body(queries[0].clone());
    send_expecting(check, 200, "timestamp").await?;
    for &clients in &options.concurrency {
        let client = server.client.clone();
        let endpoint = endpoint.clone();
        let queries = queries.clone();
        let level = run_level(
            clients,
            Duration::from_secs_f64(options.seconds),
            options.rate,
            move |worker, n| {
                let request = client
                    .post(&endpoint)
                    .header(CONTENT_TYPE, "application/timestamp-query")
                    .body(queries[(worker + n * clients) % queries.len()].clone());
                send_expecting(request, 200, "timestamp")
            },
        )
        .await?;
        print_row(clients, &level, floor_rate, "");
    }
    print_rss(&server, rss_start);
    server.stop().await
}

/// A DER TimeStampReq for the SHA-256 of `i`, with a 64-bit nonce and certReq TRUE.
fn query(i: u64) -> Bytes {
    let imprint = der::sequence(&[
        &der::sequence(&[&der::tlv(der::TAG_OID, mayfly_spec::tsp::oid::SHA256)]),
        &der::tlv(der::TAG_OCTET_STRING, &Sha256::digest(i.to_be_bytes())),
    ]);
    let nonce = (i | 1 << 62).to_be_bytes();
    Bytes::from(der::sequence(&[
        &der::tlv(0x02, &[1]),
        &imprint,
        &der::tlv(0x02, &nonce),
        &der::tlv(der::TAG_BOOLEAN, &[0xFF]),
    ]))
}

/// SHA-256 of what one timestamp hashes: TSTInfo (~300 B), the certificate (~600 B) and the
/// signed attributes twice (signing hashes them; ~250 B each).
fn sha256_us() -> f64 {
    let data = [0x5Au8; 1400];
    let rounds = 20_000;
    let start = Instant::now();
    let mut acc = 0u8;
    for _ in 0..rounds {
        acc ^= Sha256::digest(data)[0];
    }
    std::hint::black_box(acc);
    start.elapsed().as_secs_f64() * 1e6 / f64::from(rounds)
}

/// Mean µs of `stamp` on one core, with a TSA created in a scratch data dir.
fn stamp_us(queries: &[Bytes]) -> Result<f64, BenchError> {
    let scratch = tempfile::tempdir()?;
    let dir = DataDir::new(scratch.path().join("data"));
    dir.create()?;
    let (tsa, _) = crate::tsa::setup::open_or_create(&dir, "bench")
        .map_err(|e| BenchError::Check(e.to_string()))?;
    let rounds = 5_000;
    let start = Instant::now();
    for i in 0..rounds {
        let query = &queries[i % queries.len()];
        tsa.stamp(query, 1_800_000_000)
            .map_err(|e| BenchError::Check(e.to_string()))?;
    }
    Ok(start.elapsed().as_secs_f64() * 1e6 / rounds as f64)
}

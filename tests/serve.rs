//! The server end to end, over HTTP only: the library's `serve` in process (tiles, checkpoints,
//! errors, graceful shutdown), and the `mayfly` binary as an operator runs it (first start,
//! restart, refusals, signals, environment and config file).
//!
//! Everything fetched over HTTP is re-verified here from first principles: checkpoint
//! signatures against the served public key, tile hashes against the entry bundles, and the
//! checkpoint root against the tiles, without the server's tile or proof code.

mod support;

use mayfly::log::audit::check_log;
use mayfly::log::key::LogKey;
use mayfly::log::storage::LogSlot;
use mayfly::log::{Appended, Log, LogError};
use mayfly::server::Instance;
use mayfly::storage::Store;
use mayfly_spec::tlog::checkpoint::{SignedCheckpoint, open_checkpoint};
use mayfly_spec::tlog::hash::{empty_root, root_of};
use mayfly_spec::tlog::note::EcdsaNoteVerifier;
use mayfly_spec::tlog::{Hash, leaf_hash};
use p256::ecdsa::VerifyingKey;
use p256::pkcs8::DecodePublicKey;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use support::Mayfly;
use support::process::{Process, TIMEOUT, mayfly_command};
use tokio::task::JoinSet;

use support::backend::Backend;

// Every test below runs twice: on SQLite and on PostgreSQL (tests/support/backend.rs).
on_both_backends!(
    tiles_and_checkpoints_verify_over_http(flavor = "multi_thread", worker_threads = 2),
    graceful_shutdown_keeps_every_acknowledged_append(flavor = "multi_thread", worker_threads = 2),
);

/// Hashes per full tile and entries per full bundle (C2SP tlog-tiles).
const WIDTH: u64 = 256;
const IMMUTABLE: &str = "immutable";

// ---------------------------------------------------------------------------------------------
// HTTP and C2SP helpers, written from the specs rather than from the server's code.
// ---------------------------------------------------------------------------------------------

/// A response, read completely.
#[derive(Debug)]
struct Fetched {
    status: u16,
    content_type: String,
    cache_control: Option<String>,
    body: Vec<u8>,
}

impl Fetched {
    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("response body is UTF-8")
    }

    /// Asserts the API's error shape: `{"code": <status>, "message": "<non-empty>"}`.
    fn assert_json_error(&self, status: u16, url: &str) {
        assert_eq!(
            self.status,
            status,
            "{url}: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert!(
            self.content_type.starts_with("application/json"),
            "{url}: content-type {:?}",
            self.content_type
        );
        let body: serde_json::Value = serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{url}: error body is not JSON ({e})"));
        assert_eq!(body["code"], serde_json::json!(status), "{url}: {body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{url}: no message in {body}");
        assert_eq!(body.as_object().map(|o| o.len()), Some(2), "{url}: {body}");
    }
}

/// An HTTP client (rustls needs its crypto provider chosen before the first client).
fn http_client() -> reqwest::Client {
    mayfly::install_crypto_provider();
    reqwest::Client::new()
}

async fn get(client: &reqwest::Client, url: &str) -> Fetched {
    let response = tokio::time::timeout(TIMEOUT, client.get(url).send())
        .await
        .unwrap_or_else(|_| panic!("GET {url} timed out"))
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let header = |name: reqwest::header::HeaderName| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().expect("ASCII header").to_owned())
    };
    let status = response.status().as_u16();
    let content_type = header(reqwest::header::CONTENT_TYPE).unwrap_or_default();
    let cache_control = header(reqwest::header::CACHE_CONTROL);
    let body = response
        .bytes()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: reading body: {e}"))
        .to_vec();
    Fetched {
        status,
        content_type,
        cache_control,
        body,
    }
}

/// A tile index as C2SP path elements: 3-digit groups, all but the last prefixed with `x`.
fn index_path(n: u64) -> String {
    let mut groups = Vec::new();
    let mut rest = n;
    loop {
        groups.push(rest % 1000);
        rest /= 1000;
        if rest == 0 {
            break;
        }
    }
    groups.reverse();
    let last = groups.len() - 1;
    groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            if i < last {
                format!("x{g:03}")
            } else {
                format!("{g:03}")
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// `tile/<level>/<index>` or `tile/entries/<index>`, with `.p/<width>` unless full.
fn tile_path(level: Option<u8>, index: u64, width: u64) -> String {
    assert!((1..=WIDTH).contains(&width));
    let kind = level.map_or_else(|| "entries".to_owned(), |l| l.to_string());
    let partial = if width == WIDTH {
        String::new()
    } else {
        format!(".p/{width}")
    };
    format!("tile/{kind}/{}{partial}", index_path(index))
}

/// The entries of an entry bundle: each a big-endian u16 length, then that many bytes.
fn parse_bundle(mut data: &[u8]) -> Vec<Vec<u8>> {
    let mut entries = Vec::new();
    while !data.is_empty() {
        assert!(data.len() >= 2, "bundle ends inside a length prefix");
        let len = usize::from(u16::from_be_bytes([data[0], data[1]]));
        let rest = &data[2..];
        assert!(rest.len() >= len, "bundle ends inside an entry");
        entries.push(rest[..len].to_vec());
        data = &rest[len..];
    }
    entries
}

fn parse_hashes(data: &[u8]) -> Vec<Hash> {
    assert_eq!(
        data.len() % 32,
        0,
        "a hash tile is a whole number of hashes"
    );
    data.chunks_exact(32)
        .map(|c| Hash::from_slice(c).expect("32 bytes"))
        .collect()
}

/// Fetches `key.pem` and `checkpoint` of a log and verifies the checkpoint with that key under
/// the key name the note itself announces (its first line, the origin).
async fn fetch_verified_checkpoint(
    client: &reqwest::Client,
    log_url: &str,
) -> (SignedCheckpoint, EcdsaNoteVerifier) {
    let pem = get(client, &format!("{log_url}/key.pem")).await;
    assert_eq!(pem.status, 200, "{log_url}/key.pem");
    let key = VerifyingKey::from_public_key_pem(&pem.text())
        .unwrap_or_else(|e| panic!("{log_url}/key.pem is not a P-256 public key: {e}"));

    let url = format!("{log_url}/checkpoint");
    let note = get(client, &url).await;
    assert_eq!(note.status, 200, "{url}");
    assert!(
        note.content_type.starts_with("text/plain"),
        "{url}: content-type {:?}",
        note.content_type
    );
    let cache = note.cache_control.clone().unwrap_or_default();
    assert!(
        !cache.contains(IMMUTABLE),
        "the checkpoint changes, yet is served with Cache-Control {cache:?}"
    );
    let text = note.text();
    let origin = text.lines().next().unwrap_or_default().to_owned();
    let verifier = EcdsaNoteVerifier::new(origin.clone(), key).expect("origin is a key name");
    let opened = open_checkpoint(&note.body, &origin, &verifier)
        .unwrap_or_else(|e| panic!("{url} does not verify with {log_url}/key.pem: {e}\n{text}"));
    assert_eq!(opened.note, text, "the note is returned byte for byte");
    (opened, verifier)
}

fn payload(tag: &str, i: usize) -> Vec<u8> {
    // Distinct and of varied length, so entry boundaries in bundles are exercised.
    format!("{tag} entry {i} {}", "~".repeat(i % 41)).into_bytes()
}

/// Appends all payloads concurrently; returns each one's index, requiring all to be new.
async fn append_concurrently(log: &Log<Store>, payloads: Vec<Vec<u8>>) -> BTreeMap<u64, Vec<u8>> {
    let mut tasks = JoinSet::new();
    for p in payloads {
        let log = log.clone();
        tasks.spawn(async move { (log.append(p.clone()).await, p) });
    }
    let mut by_index = BTreeMap::new();
    while let Some(joined) = tokio::time::timeout(TIMEOUT, tasks.join_next())
        .await
        .expect("appends finish")
    {
        let (result, p) = joined.expect("append task");
        match result {
            Ok(Appended::New(seq)) => {
                assert!(
                    by_index.insert(seq.index, p).is_none(),
                    "index {} twice",
                    seq.index
                );
            }
            other => panic!("append of a new payload: {other:?}"),
        }
    }
    by_index
}

// ---------------------------------------------------------------------------------------------
// In process.
// ---------------------------------------------------------------------------------------------

async fn tiles_and_checkpoints_verify_over_http() {
    let mut serving = Mayfly::builder().start().await;
    let base = serving.url.clone();
    let artifacts = serving.state.artifacts.clone();
    let issuance = serving.state.issuance.clone();

    // Two full tiles and a partial one at level 0; a partial level-1 tile of 2 hashes.
    // N entries in all: the log's genesis entry at 0, then N - 1 appended ones.
    const N: usize = 600;
    let mut appended =
        append_concurrently(&artifacts, (1..N).map(|i| payload("a", i)).collect()).await;
    assert_eq!(
        appended.keys().copied().collect::<Vec<_>>(),
        (1..N as u64).collect::<Vec<_>>(),
        "concurrent appends get exactly the indices 1..N"
    );
    appended.insert(
        0,
        mayfly_spec::tlog::genesis::entry(&artifacts.config().origin),
    );

    let client = http_client();

    let health = get(&client, &format!("{base}/healthz")).await;
    assert_eq!(health.status, 200);

    // The checkpoint, verified with the served key under the origin derived from --public-url.
    let log_url = format!("{base}/logs/artifacts");
    let (cp, verifier) = fetch_verified_checkpoint(&client, &log_url).await;
    let origin = cp.checkpoint.origin.clone();
    assert_eq!(origin, serving.config.listen.to_string());
    assert_eq!(cp.checkpoint.size, N as u64);
    assert_eq!(
        get(&client, &format!("{log_url}/key.pem")).await.text(),
        artifacts.key().public_pem(),
        "key.pem is the key the log signs with"
    );

    // Every entry bundle and level-0 tile the size implies, by path, over HTTP.
    let size = cp.checkpoint.size;
    let mut level0: Vec<Hash> = Vec::new();
    let mut tiles0: Vec<Vec<Hash>> = Vec::new();
    for n in 0..size.div_ceil(WIDTH) {
        let width = (size - n * WIDTH).min(WIDTH);

        let url = format!("{log_url}/{}", tile_path(None, n, width));
        let bundle = get(&client, &url).await;
        assert_eq!(bundle.status, 200, "{url}");
        assert!(
            bundle.cache_control.unwrap_or_default().contains(IMMUTABLE),
            "{url}"
        );
        let entries = parse_bundle(&bundle.body);
        assert_eq!(entries.len() as u64, width, "{url}");
        for (i, entry) in entries.iter().enumerate() {
            let index = n * WIDTH + i as u64;
            assert_eq!(Some(entry), appended.get(&index), "entry {index} in {url}");
        }

        let url = format!("{log_url}/{}", tile_path(Some(0), n, width));
        let tile = get(&client, &url).await;
        assert_eq!(tile.status, 200, "{url}");
        assert_eq!(tile.content_type, "application/octet-stream", "{url}");
        assert!(
            tile.cache_control.unwrap_or_default().contains(IMMUTABLE),
            "{url}"
        );
        let hashes = parse_hashes(&tile.body);
        let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
        assert_eq!(
            hashes, leaves,
            "{url} holds the leaf hashes of its entry bundle"
        );
        level0.extend(&hashes);
        tiles0.push(hashes);
    }
    assert_eq!(
        root_of(&level0),
        cp.checkpoint.root,
        "the tiles reproduce the signed root"
    );

    // Level 1 holds the root of each full level-0 tile.
    let full = size / WIDTH;
    assert_eq!(full, 2);
    let url = format!("{log_url}/{}", tile_path(Some(1), 0, full));
    let tile = get(&client, &url).await;
    assert_eq!(tile.status, 200, "{url}");
    assert!(
        tile.cache_control.unwrap_or_default().contains(IMMUTABLE),
        "{url}"
    );
    let level1 = parse_hashes(&tile.body);
    let expected: Vec<Hash> = tiles0[..full as usize].iter().map(|t| root_of(t)).collect();
    assert_eq!(level1, expected, "{url}");

    // A narrower .p/W view of a tile or bundle is a prefix of the wider one.
    let url = format!("{log_url}/tile/0/002.p/10");
    assert_eq!(
        parse_hashes(&get(&client, &url).await.body),
        tiles0[2][..10]
    );
    let url = format!("{log_url}/tile/0/000.p/3");
    assert_eq!(parse_hashes(&get(&client, &url).await.body), tiles0[0][..3]);
    let url = format!("{log_url}/tile/entries/001.p/5");
    let prefix = parse_bundle(&get(&client, &url).await.body);
    let want: Vec<Vec<u8>> = (256..261).map(|i| appended[&i].clone()).collect();
    assert_eq!(prefix, want, "{url}");

    // Non-canonical paths: 400 with the API's JSON error.
    for path in [
        "tile/0/1",
        "tile/0/0000",
        "tile/0/000.p/0",
        "tile/0/000.p/007",
        "tile/0/000.p/256",
        "tile/64/000",
        "tile/00/000",
        "tile/0/x000/001",
        "tile/0/+01",
        "tile/0/000/",
        "tile/entries/1",
        "tile/entries/000.p/0",
        "tile/data/000",
    ] {
        let url = format!("{log_url}/{path}");
        get(&client, &url).await.assert_json_error(400, &url);
    }

    // Well-formed, but not (yet) in a tree of 600: 404 with the API's JSON error.
    for path in [
        "tile/0/009",
        "tile/0/002",
        "tile/0/002.p/89",
        "tile/0/003.p/1",
        "tile/1/000",
        "tile/1/000.p/3",
        "tile/2/000.p/1",
        "tile/entries/002",
        "tile/entries/002.p/89",
        "tile/entries/003.p/1",
        "tile/0/x001/000",
    ] {
        let url = format!("{log_url}/{path}");
        get(&client, &url).await.assert_json_error(404, &url);
    }
    for path in ["checkpoint", "key.pem", "tile/0/000"] {
        let url = format!("{base}/logs/nope/{path}");
        get(&client, &url).await.assert_json_error(404, &url);
    }

    // The issuance log: its own key and origin, empty.
    let (icp, iverifier) =
        fetch_verified_checkpoint(&client, &format!("{base}/logs/issuance")).await;
    assert_eq!(icp.checkpoint.size, 0);
    assert_eq!(icp.checkpoint.root, empty_root());
    assert_eq!(icp.checkpoint.origin, format!("{origin}/logs/issuance"));
    assert_ne!(icp.checkpoint.origin, origin);
    assert_eq!(icp.note, issuance.checkpoint().note, "served as stored");
    // Neither log's key vouches for the other's checkpoint.
    let issuance_key = VerifyingKey::from_public_key_pem(
        &get(&client, &format!("{base}/logs/issuance/key.pem"))
            .await
            .text(),
    )
    .expect("issuance key.pem");
    let crossed = EcdsaNoteVerifier::new(origin.clone(), issuance_key).expect("key name");
    assert!(open_checkpoint(cp.note.as_bytes(), &origin, &crossed).is_err());
    assert!(open_checkpoint(icp.note.as_bytes(), &icp.checkpoint.origin, &verifier).is_err());
    assert!(open_checkpoint(cp.note.as_bytes(), &origin, &iverifier).is_err());

    drop(client);
    serving.shut_down().await;
}

async fn graceful_shutdown_keeps_every_acknowledged_append() {
    let mut serving = Mayfly::builder().start().await;
    let base = serving.url.clone();
    let artifacts = serving.state.artifacts.clone();
    let data_dir = serving.config.data_dir.clone();
    let origin = mayfly::instance::PublicUrl::new(serving.config.public_url.clone())
        .expect("public url")
        .artifacts_origin();

    // A live keep-alive connection must not hold shutdown up.
    let client = http_client();
    assert_eq!(get(&client, &format!("{base}/healthz")).await.status, 200);

    let mut head = artifacts.watch();
    let mut tasks = JoinSet::new();
    for i in 0..200 {
        let log = artifacts.clone();
        let p = payload("shutdown", i);
        tasks.spawn(async move { (log.append(p.clone()).await, p) });
    }
    // Shut down once the first batch is durable, with the rest still in flight: in practice the
    // first batch holds a single entry and the drain on shutdown commits the other 199.
    tokio::time::timeout(TIMEOUT, head.wait_for(|cp| cp.size > 0))
        .await
        .expect("a first batch commits")
        .expect("log running");
    serving.shut_down().await;

    let mut acknowledged: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut refused = 0;
    while let Some(joined) = tokio::time::timeout(TIMEOUT, tasks.join_next())
        .await
        .expect("every append is answered after shutdown")
    {
        match joined.expect("append task") {
            (Ok(Appended::New(seq)), p) => acknowledged.push((seq.index, p)),
            (Err(LogError::ShuttingDown), _) => refused += 1,
            (other, _) => panic!("append during shutdown: {other:?}"),
        }
    }
    assert!(!acknowledged.is_empty());
    assert_eq!(acknowledged.len() + refused, 200);
    assert!(
        matches!(
            artifacts.append(b"after shutdown".to_vec()).await,
            Err(LogError::ShuttingDown)
        ),
        "a closed log refuses appends"
    );
    assert!(
        client.get(format!("{base}/healthz")).send().await.is_err(),
        "the listener is closed after serve returns"
    );

    // Reopen from the same data dir: every acknowledged append is there, the tree audits.
    let reopened = Instance::open(&serving.config, None).await.expect("reopen");
    let log = &reopened.state.artifacts;
    let size = log.checkpoint().size;
    assert!(size > acknowledged.len() as u64);
    // Entries refused at admission were never sequenced, and admitted ones were all answered;
    // the one more is the log's genesis entry.
    assert_eq!(size, acknowledged.len() as u64 + 1);
    for (index, p) in &acknowledged {
        let entry = log.entry(*index).await.expect("read entry");
        assert_eq!(entry.as_ref(), Some(p), "acknowledged entry {index}");
    }
    let key = LogKey::read(&data_dir.join("keys/artifact-log.key.pem")).expect("key file");
    let report = check_log(&reopened.store, LogSlot::ARTIFACTS, &origin, &key, true)
        .await
        .expect("the reopened log audits");
    assert_eq!(report.size, size);
    assert_eq!(report.root, log.checkpoint().root);
    reopened.close().await;
}

// ---------------------------------------------------------------------------------------------
// The binary.
// ---------------------------------------------------------------------------------------------

/// GET over HTTP from a synchronous test.
fn blocking_get(url: &str) -> Fetched {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async { get(&http_client(), url).await })
}

/// The artifact log's origin, as served by the instance on `port`.
fn served_origin(port: u16) -> String {
    let note = blocking_get(&format!(
        "http://127.0.0.1:{port}/logs/artifacts/checkpoint"
    ));
    assert_eq!(note.status, 200);
    note.text().lines().next().unwrap_or_default().to_owned()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn serve_args(data_dir: &Path, public_url: &str) -> Vec<OsString> {
    vec![
        "serve".into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--data-dir".into(),
        data_dir.into(),
        "--public-url".into(),
        public_url.into(),
    ]
}

#[test]
fn binary_creates_reopens_and_refuses_mismatched_or_partial_data() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let start = || {
        let mut command = mayfly_command(tmp.path());
        command.args(serve_args(&data, "http://127.0.0.1:9/"));
        command
    };

    // First start: creates everything owner-only.
    let mut first = Process::spawn(start());
    let created = first.wait_for("created a new Mayfly instance");
    assert!(created.contains(&data.display().to_string()), "{created}");
    let port = first.port();
    assert_eq!(mode(&data), 0o700, "data dir");
    assert_eq!(mode(&data.join("keys")), 0o700, "keys dir");
    let mut key_files: Vec<String> = std::fs::read_dir(data.join("keys"))
        .expect("keys dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    key_files.sort();
    assert_eq!(
        key_files,
        [
            "artifact-log.key.pem",
            "ca-intermediate.key.pem",
            "ca-root.key.pem",
            "issuance-log.key.pem",
            "rekor-v2-log.key.pem",
            "tsa.key.pem"
        ]
    );
    for name in &key_files {
        assert_eq!(mode(&data.join("keys").join(name)), 0o600, "{name}");
    }
    assert!(data.join("mayfly.db").is_file());
    assert!(data.join("ca/root.pem").is_file() && data.join("ca/intermediate.pem").is_file());
    let bundle = blocking_get(&format!("http://127.0.0.1:{port}/api/v2/trustBundle")).text();
    let health = blocking_get(&format!("http://127.0.0.1:{port}/healthz"));
    assert_eq!(health.status, 200);
    assert_eq!(
        served_origin(port),
        "127.0.0.1:9",
        "origin follows --public-url"
    );
    let status = first.terminate();
    assert_eq!(
        status.code(),
        Some(0),
        "SIGTERM exit; stderr:\n{}",
        first.stderr()
    );
    assert!(
        first.stderr().contains("shut down cleanly"),
        "{}",
        first.stderr()
    );

    // Second start on the same dir: opens it, with the same identity.
    let mut second = Process::spawn(start());
    second.wait_for("opened existing Mayfly instance");
    let port = second.port();
    assert_eq!(
        blocking_get(&format!("http://127.0.0.1:{port}/healthz")).status,
        200
    );
    assert_eq!(
        blocking_get(&format!("http://127.0.0.1:{port}/api/v2/trustBundle")).text(),
        bundle,
        "the same CA after a restart"
    );
    let status = second.terminate();
    assert_eq!(status.code(), Some(0), "stderr:\n{}", second.stderr());
    assert!(
        !second.stderr().contains("created a new"),
        "{}",
        second.stderr()
    );

    // A different --public-url changes the origins the stored checkpoints were signed for.
    let mut command = mayfly_command(tmp.path());
    command.args(serve_args(&data, "http://elsewhere.example/"));
    let (status, stderr) = Process::run_to_exit(command);
    assert!(
        !status.success(),
        "started with another public URL:\n{stderr}"
    );
    assert!(stderr.contains("does not verify"), "{stderr}");
    assert!(!stderr.contains("listening"), "{stderr}");

    // A different artifact log key: the stored checkpoint does not verify with it.
    let key_path = data.join("keys/artifact-log.key.pem");
    std::fs::remove_file(&key_path).expect("remove key");
    LogKey::generate()
        .unwrap()
        .write_new(&key_path)
        .expect("write other key");
    let (status, stderr) = Process::run_to_exit(start());
    assert!(!status.success(), "started with a foreign key:\n{stderr}");
    assert!(stderr.contains("does not verify"), "{stderr}");
    assert!(stderr.contains("artifacts"), "names the log: {stderr}");
    assert!(!stderr.contains("listening"), "{stderr}");

    // Only part of an instance: no database.
    for leftover in ["mayfly.db", "mayfly.db-wal", "mayfly.db-shm"] {
        let _ = std::fs::remove_file(data.join(leftover));
    }
    let (status, stderr) = Process::run_to_exit(start());
    assert!(!status.success(), "started without its database:\n{stderr}");
    assert!(stderr.contains("holds only part"), "{stderr}");
    assert!(
        !data.join("mayfly.db").exists(),
        "a refused start creates nothing"
    );

    // Still partial with one key gone as well.
    std::fs::remove_file(data.join("keys/issuance-log.key.pem")).expect("remove key");
    let (status, stderr) = Process::run_to_exit(start());
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("holds only part"), "{stderr}");
}

#[test]
fn binary_takes_settings_from_the_environment() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("from-env");
    let mut command = mayfly_command(tmp.path());
    command
        .arg("serve")
        .env("MAYFLY_DATA_DIR", &data)
        .env("MAYFLY_LISTEN", "127.0.0.1:0")
        .env("MAYFLY_PUBLIC_URL", "http://env.mayfly.test/");
    let mut mayfly = Process::spawn(command);
    let created = mayfly.wait_for("created a new Mayfly instance");
    assert!(created.contains(&data.display().to_string()), "{created}");
    let port = mayfly.port();
    assert_eq!(served_origin(port), "env.mayfly.test");
    assert!(data.join("keys/artifact-log.key.pem").is_file());
    assert!(
        !tmp.path().join("mayfly-data").exists(),
        "the default dir was not used"
    );
    assert_eq!(mayfly.terminate().code(), Some(0), "{}", mayfly.stderr());
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// Writes a TOML config file of `key = "value"` lines.
fn write_config(path: &Path, settings: &[(&str, &str)]) {
    let text: String = settings
        .iter()
        .map(|(key, value)| format!("{key} = {}\n", toml_string(value)))
        .collect();
    std::fs::write(path, text).expect("write config");
}

#[test]
fn binary_takes_settings_from_a_config_file_below_command_line_and_environment() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("from-config");
    let config = tmp.path().join("mayfly.toml");
    write_config(
        &config,
        &[
            ("data-dir", &data.display().to_string()),
            ("listen", "127.0.0.1:0"),
            ("public-url", "http://config.mayfly.test/"),
        ],
    );

    // data-dir and listen from the file; the command line beats the file's public-url.
    let mut command = mayfly_command(tmp.path());
    command
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .args(["--public-url", "http://cli.mayfly.test/"]);
    let mut mayfly = Process::spawn(command);
    let created = mayfly.wait_for("created a new Mayfly instance");
    assert!(created.contains(&data.display().to_string()), "{created}");
    let port = mayfly.port();
    assert_eq!(served_origin(port), "cli.mayfly.test");
    assert!(data.join("mayfly.db").is_file());
    assert!(
        !tmp.path().join("mayfly-data").exists(),
        "the default dir was not used"
    );
    assert_eq!(mayfly.terminate().code(), Some(0), "{}", mayfly.stderr());

    // The environment beats the file's data-dir; the file still supplies listen.
    let env_data = tmp.path().join("env-wins");
    let mut command = mayfly_command(tmp.path());
    command
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .env("MAYFLY_DATA_DIR", &env_data)
        .env("MAYFLY_PUBLIC_URL", "http://env.mayfly.test/");
    let mut mayfly = Process::spawn(command);
    let created = mayfly.wait_for("created a new Mayfly instance");
    assert!(
        created.contains(&env_data.display().to_string()),
        "{created}"
    );
    let port = mayfly.port();
    assert_eq!(served_origin(port), "env.mayfly.test");
    assert!(env_data.join("mayfly.db").is_file());
    assert_eq!(mayfly.terminate().code(), Some(0), "{}", mayfly.stderr());
}

/// Regression: config keys used to be checked against `ArgMatches::ids()`, which
/// lists only arguments that are present (given or defaulted), so a flag without a default
/// (`public-url`, `database-url`) is "unknown" unless it is also given on the command line or
/// in the environment. Keys are now checked against the flag definitions.
#[test]
fn binary_takes_public_url_from_a_config_file_alone() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("from-config");
    let config = tmp.path().join("mayfly.toml");
    write_config(
        &config,
        &[
            ("data-dir", &data.display().to_string()),
            ("listen", "127.0.0.1:0"),
            ("public-url", "http://config.mayfly.test/"),
        ],
    );
    let mut command = mayfly_command(tmp.path());
    command.arg("serve").arg("--config").arg(&config);
    let mut mayfly = Process::spawn(command);
    mayfly.wait_for("created a new Mayfly instance");
    let port = mayfly.port();
    assert_eq!(served_origin(port), "config.mayfly.test");
    assert_eq!(mayfly.terminate().code(), Some(0), "{}", mayfly.stderr());
}

#[test]
fn binary_rejects_an_unknown_config_key() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("never");
    let config = tmp.path().join("mayfly.toml");
    write_config(
        &config,
        &[
            ("data-dir", &data.display().to_string()),
            ("listen", "127.0.0.1:0"),
            ("colour", "blue"),
        ],
    );
    let mut command = mayfly_command(tmp.path());
    command.arg("serve").arg("--config").arg(&config);
    let (status, stderr) = Process::run_to_exit(command);
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("\"colour\""), "names the key: {stderr}");
    assert!(!data.exists(), "nothing was created");
    assert!(!stderr.contains("listening"), "{stderr}");
}

/// Keeps the helpers honest: the C2SP index spelling.
#[test]
fn tile_paths_follow_c2sp() {
    assert_eq!(index_path(5), "005");
    assert_eq!(index_path(1234067), "x001/x234/067");
    assert_eq!(tile_path(Some(1), 0, 2), "tile/1/000.p/2");
    assert_eq!(tile_path(None, 1000, 256), "tile/entries/x001/000");
}

#[test]
fn binary_encrypts_ca_keys_with_a_passphrase_and_needs_it_to_start_again() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let mut command = mayfly_command(tmp.path());
    command
        .args(serve_args(&data, "http://127.0.0.1:9/"))
        .env("MAYFLY_CA_PASSPHRASE", "correct horse battery staple");
    let mut first = Process::spawn(command);
    first.wait_for("created a new Mayfly instance");
    assert_eq!(first.terminate().code(), Some(0), "{}", first.stderr());
    for key in ["ca-root.key.pem", "ca-intermediate.key.pem"] {
        let text = std::fs::read_to_string(data.join("keys").join(key)).expect("key file");
        assert!(
            text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"),
            "{key}"
        );
    }
    assert!(
        !first.stderr().contains("stored unencrypted"),
        "{}",
        first.stderr()
    );

    // Without the passphrase: refuses, and says how to give it.
    let mut command = mayfly_command(tmp.path());
    command.args(serve_args(&data, "http://127.0.0.1:9/"));
    let (status, stderr) = Process::run_to_exit(command);
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("MAYFLY_CA_PASSPHRASE"), "{stderr}");

    // The wrong passphrase, from a file: refuses too.
    let wrong = tmp.path().join("wrong-passphrase");
    std::fs::write(&wrong, "incorrect\n").expect("write");
    let mut command = mayfly_command(tmp.path());
    command
        .args(serve_args(&data, "http://127.0.0.1:9/"))
        .arg("--ca-passphrase-file")
        .arg(&wrong);
    let (status, stderr) = Process::run_to_exit(command);
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("wrong passphrase"), "{stderr}");

    // The right one, from a file with a trailing newline: opens.
    let right = tmp.path().join("passphrase");
    std::fs::write(&right, "correct horse battery staple\n").expect("write");
    let mut command = mayfly_command(tmp.path());
    command
        .args(serve_args(&data, "http://127.0.0.1:9/"))
        .arg("--ca-passphrase-file")
        .arg(&right);
    let mut again = Process::spawn(command);
    again.wait_for("opened existing Mayfly instance");
    assert_eq!(again.terminate().code(), Some(0), "{}", again.stderr());
}

/// What a hostile client can do to the operator's view: a `sub` claim holding a newline and a
/// forged log line, tile indexes past 2^63, and connections that never finish a request. The
/// log keeps one line per event with the client's text escaped and no ERROR from client input,
/// and SIGTERM still ends the process within the shutdown grace.
#[test]
fn binary_escapes_client_text_in_its_log_and_stops_despite_stalled_clients() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut command = mayfly_command(tmp.path());
    command
        .args(serve_args(
            &tmp.path().join("data"),
            "http://127.0.0.1:8700",
        ))
        .args([
            "--dev-issuer",
            "--shutdown-grace",
            "1s",
            "--header-timeout",
            "60s",
        ])
        .env("MAYFLY_LOG_FORMAT", "text");
    let mut mayfly = Process::spawn(command);
    let base = format!("http://127.0.0.1:{}", mayfly.port());

    let forged = "2026-12-06T00:00:00.000000Z  INFO mayfly: issued certificate subject=admin";
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    mayfly::install_crypto_provider();
    let status = runtime.block_on(async {
        let client = reqwest::Client::new();
        let token: serde_json::Value = client
            .post(format!("{base}/dev-oidc/token"))
            .json(&serde_json::json!({ "sub": format!("repo:o/r:ref:refs/heads/main\n{forged}") }))
            .send()
            .await
            .expect("dev token")
            .json()
            .await
            .expect("token json");
        let token = token["value"].as_str().expect("token").to_owned();
        let claims = token.split('.').nth(1).expect("claims");
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, claims)
                .expect("base64"),
        )
        .expect("claims json");
        let (key, pem) = support::p256_key();
        let proof = support::p256_sign(&key, claims["sub"].as_str().expect("sub"));
        let issued = client
            .post(format!("{base}/api/v2/signingCert"))
            .json(&support::key_request(&token, &pem, &proof))
            .send()
            .await
            .expect("signingCert");
        for path in [
            "/logs/artifacts/tile/0/x009/x223/x372/x036/x854/x775/808",
            "/logs/artifacts/tile/entries/x018/x446/x744/x073/x709/x551/615.p/7",
        ] {
            let tile = client
                .get(format!("{base}{path}"))
                .send()
                .await
                .expect("tile");
            assert_eq!(tile.status(), 404, "{path}");
        }
        issued.status()
    });
    assert_eq!(status, 200);
    mayfly.wait_for("issued certificate");

    // Three clients that never finish their request head.
    let stalled: Vec<std::net::TcpStream> = (0..3)
        .map(|_| {
            let mut stream =
                std::net::TcpStream::connect(base.trim_start_matches("http://")).expect("connect");
            std::io::Write::write_all(&mut stream, b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .expect("partial head");
            stream
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let started = std::time::Instant::now();
    let status = mayfly.terminate();
    let took = started.elapsed();
    drop(stalled);
    assert_eq!(status.code(), Some(0), "{}", mayfly.stderr());
    assert!(
        took < std::time::Duration::from_secs(5),
        "SIGTERM took {took:?} with stalled clients"
    );

    let log = mayfly.stderr();
    assert!(
        log.lines()
            .all(|line| !line.starts_with("2026-12-06T00:00:00")),
        "a forged line reached the log:\n{log}"
    );
    let issued = log
        .lines()
        .find(|line| line.contains("issued certificate"))
        .expect("the issuance is logged");
    assert!(issued.contains(r"main\n2026-12-06"), "{issued}");
    assert!(
        !log.contains(" ERROR "),
        "client input caused an ERROR line:\n{log}"
    );
}

/// A database that cannot be used stops the first start before anything is created: the data
/// dir stays fresh, so the next start with the right URL creates the instance.
#[tokio::test]
async fn an_unreachable_database_creates_no_keys_and_shows_no_password() {
    let scratch = tempfile::tempdir().unwrap();
    let data_dir = scratch.path().join("data");
    let dir = data_dir.clone();
    let refused = Mayfly::builder()
        .configure(move |config, _| {
            config.data_dir = dir;
            config.database_url = Some("postgres://mayfly:s3cret@127.0.0.1:1/mayfly".into());
        })
        .open()
        .await;
    let Err(error) = refused else {
        panic!("a server on an unreachable database started")
    };
    let message = error.to_string();
    assert!(
        message.contains("cannot connect to postgres://mayfly:***@127.0.0.1:1/mayfly")
            && message.contains("is the server running?")
            && !message.contains("s3cret"),
        "{message}"
    );
    let files: Vec<_> = walk(&data_dir);
    assert!(files.is_empty(), "the refused start wrote {files:?}");
}

/// Every file (not directory) below `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

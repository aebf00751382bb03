//! Replicas under failure (issue 14): three `mayfly serve` processes on one database, each on
//! its own copy of one `mayfly init` data dir, under mixed load (certificate requests and Rekor
//! entries). One replica is killed with SIGKILL at a random moment (seeded: the seed is printed,
//! and MAYFLY_FAILOVER_SEED replays it) while the load goes on. Then: every acknowledged
//! certificate and entry is in the logs exactly once, the survivors kept writing and the longest
//! interruption a client saw is measured and bounded, the killed replica restarts, rejoins and
//! writes, and all three serve the same signed checkpoints. Also: a replica with other keys
//! refuses to start, naming the log and the keys.
//!
//! The database URL comes from [`support::database_url`], so the same test runs on any backend.

mod support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use mayfly_spec::tlog::checkpoint::open_checkpoint;
use mayfly_spec::tlog::note::EcdsaNoteVerifier;
use mayfly_spec::tlog::tile::{self, TILE_WIDTH, TilePath};
use mayfly_spec::tlog::{Hash, hash::root_of, leaf_hash};
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use support::process::{Process, mayfly_command};
use support::{TestIdp, issuers_with_idp, key_request, p256_key, p256_sign, pem_ders};

/// The URL clients reach every replica at (a load balancer's): the logs' origins derive from it.
const PUBLIC_URL: &str = "http://mayfly.test/";
const REPLICAS: usize = 3;
/// The goal for the longest gap a client sees between two successful writes.
const MAX_INTERRUPTION: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_keep_every_acknowledged_write_through_a_kill_9() {
    let scratch = tempfile::tempdir().unwrap();
    let database_url = support::database_url(scratch.path());
    failover(scratch.path(), &database_url).await;
}

/// The same on PostgreSQL, the database replicas are meant to share (deploy/compose).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_on_postgres_keep_every_acknowledged_write_through_a_kill_9() {
    let scratch = tempfile::tempdir().unwrap();
    let database = mayfly::testing::ScratchDatabase::create().await;
    failover(scratch.path(), database.url()).await;
}

#[test]
fn a_replica_with_other_keys_refuses_to_start_naming_the_log_and_the_keys() {
    let scratch = tempfile::tempdir().unwrap();
    let database_url = support::database_url(scratch.path());
    refuses_other_keys(scratch.path(), &database_url);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_with_other_keys_refuses_to_start_on_postgres() {
    let scratch = tempfile::tempdir().unwrap();
    let database = mayfly::testing::ScratchDatabase::create().await;
    let url = database.url().to_owned();
    let path = scratch.path().to_owned();
    tokio::task::spawn_blocking(move || refuses_other_keys(&path, &url))
        .await
        .unwrap();
}

fn refuses_other_keys(scratch: &Path, database_url: &str) {
    let original = scratch.join("init");
    init(scratch, &original, database_url);

    // A data dir of its own (another `mayfly init` would make one) on the shared database.
    let stranger = scratch.join("stranger");
    let (status, stderr) =
        Process::run_to_exit(serve_command(scratch, &stranger, database_url, None));
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("already holds a Mayfly instance") && stderr.contains("key ID"),
        "{stderr}"
    );
    assert!(!stranger.join("keys").exists() || dir_is_empty(&stranger.join("keys")));

    // A copy of the data dir whose artifact log key was replaced.
    let copy = scratch.join("copy");
    copy_dir(&original, &copy);
    let key = copy.join("keys/artifact-log.key.pem");
    std::fs::remove_file(&key).unwrap();
    let other = mayfly::log::key::LogKey::generate().unwrap();
    other.write_new(&key).unwrap();
    let (status, stderr) = Process::run_to_exit(serve_command(scratch, &copy, database_url, None));
    assert!(!status.success(), "{stderr}");
    let theirs = format!("{:08x}", other.key_id());
    assert!(
        stderr.contains("artifacts log") && stderr.contains(&theirs),
        "names the log and this replica's key ID {theirs}: {stderr}"
    );
    assert!(
        stderr.contains("signed by key ID"),
        "names the key that signed: {stderr}"
    );
    assert!(!stderr.contains("listening"), "{stderr}");

    // `init` again on the original: nothing to do, and it says so.
    let again = mayfly_command(scratch)
        .args(init_args(&original, database_url))
        .output()
        .unwrap();
    assert!(again.status.success(), "{again:?}");
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(
        text.contains("already holds this Mayfly instance"),
        "{text}"
    );
}

/// Read-your-writes across replicas: an entry logged through one replica is found by UUID
/// through another at once, not only after that one's next follow tick.
#[tokio::test]
async fn an_entry_logged_through_one_replica_is_found_through_another_at_once() {
    let a = support::Mayfly::builder().start().await;
    let data_dir = a.config.data_dir.clone();
    let public_url = a.config.public_url.clone();
    let b = support::Mayfly::builder()
        .configure(move |config, _| {
            config.data_dir = data_dir;
            config.public_url = public_url;
        })
        .start()
        .await;
    let (key, pem) = p256_key();
    for n in 0..5 {
        let entry = hashedrekord(&key, &pem, format!("written through A {n}").as_bytes());
        let created = a.create_entry(&entry).await;
        let entry_id = created.as_object().unwrap().keys().next().unwrap().clone();
        let found = b
            .client
            .get(format!("{}/api/v1/log/entries/{entry_id}", b.url))
            .send()
            .await
            .unwrap();
        assert_eq!(found.status(), 200, "entry {n} through B");
        let found: Value = found.json().await.unwrap();
        assert_eq!(found[&entry_id]["logIndex"], created[&entry_id]["logIndex"]);
    }
    b.stop().await;
    a.stop().await;
}

fn dir_is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none())
}

fn init_args(data_dir: &Path, database_url: &str) -> Vec<String> {
    vec![
        "init".into(),
        "--data-dir".into(),
        data_dir.display().to_string(),
        "--public-url".into(),
        PUBLIC_URL.into(),
        "--database-url".into(),
        database_url.into(),
    ]
}

/// `mayfly init`, which must create the instance and print its logs' key IDs.
fn init(scratch: &Path, data_dir: &Path, database_url: &str) {
    let output = mayfly_command(scratch)
        .args(init_args(data_dir, database_url))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "init: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("created a Mayfly instance"), "{stdout}");
    assert!(
        stdout.contains("issuance log") && stdout.contains("artifacts log"),
        "{stdout}"
    );
}

/// Copies a data dir as an operator would (`cp -a`): owner-only modes kept.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    std::fs::set_permissions(to, std::fs::metadata(from).unwrap().permissions()).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn serve_command(
    scratch: &Path,
    data_dir: &Path,
    database_url: &str,
    issuers: Option<&Path>,
) -> Command {
    let mut command = mayfly_command(scratch);
    command.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--public-url",
        PUBLIC_URL,
    ]);
    command.arg("--data-dir").arg(data_dir);
    command.args(["--database-url", database_url]);
    // The load is a handful of clients on loopback: no rate limit may get in its way.
    command.args(["--rate-limit-identity", "0", "--rate-limit-client", "0"]);
    if let Some(issuers) = issuers {
        command.arg("--issuers").arg(issuers);
    }
    command
}

struct Replica {
    process: Process,
    url: String,
}

fn start_replica(command: Command) -> Replica {
    let mut process = Process::spawn(command);
    let port = tokio::task::block_in_place(|| process.port());
    Replica {
        process,
        url: format!("http://127.0.0.1:{port}"),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Certificate,
    Entry,
}

/// What one load client did: when each request finished and whether it succeeded, and what
/// was acknowledged.
#[derive(Default)]
struct ClientLog {
    events: Vec<(Instant, bool)>,
    /// Serial numbers (DER content bytes) of the certificates received.
    certificates: Vec<Vec<u8>>,
    /// (UUID, logIndex when the answer gave it) of every acknowledged entry.
    entries: Vec<(Hash, Option<u64>)>,
    /// Successes per replica.
    by_replica: [usize; REPLICAS],
    /// Successes after the kill.
    after_kill: usize,
}

/// Sends one request after another to its current replica, moving to the next one on any
/// failure, as a client behind a load balancer (or with a list of replicas) does. A failed
/// Rekor entry is resent as is (its retry may find it logged: 409); a failed certificate
/// request is replaced by a new one.
async fn client(
    n: usize,
    kind: Kind,
    urls: Arc<RwLock<Vec<String>>>,
    token: String,
    stop: Arc<AtomicBool>,
    killed_at: Arc<RwLock<Option<Instant>>>,
    successes: Arc<AtomicUsize>,
) -> ClientLog {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let (entry_key, entry_key_pem) = p256_key();
    let mut log = ClientLog::default();
    let mut at = n % REPLICAS;
    let mut pending: Option<Value> = None;
    let mut sent = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let url = urls.read().unwrap()[at].clone();
        let outcome = match kind {
            Kind::Certificate => request_certificate(&http, &url, &token)
                .await
                .map(|serial| log.certificates.push(serial)),
            Kind::Entry => {
                let entry = pending.get_or_insert_with(|| {
                    sent += 1;
                    hashedrekord(
                        &entry_key,
                        &entry_key_pem,
                        format!("client {n} artifact {sent}").as_bytes(),
                    )
                });
                let result = post_entry(&http, &url, entry).await;
                if let Ok(ack) = result {
                    log.entries.push(ack);
                    pending = None;
                }
                result.map(|_| ())
            }
        };
        let now = Instant::now();
        log.events.push((now, outcome.is_ok()));
        match outcome {
            Ok(()) => {
                successes.fetch_add(1, Ordering::Relaxed);
                log.by_replica[at] += 1;
                if killed_at.read().unwrap().is_some_and(|k| now > k) {
                    log.after_kill += 1;
                }
            }
            Err(why) => {
                eprintln!("client {n} ({kind:?}) on replica {at}: {why}; moving on");
                at = (at + 1) % REPLICAS;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    log
}

/// A certificate for a fresh key; its serial number.
async fn request_certificate(
    http: &reqwest::Client,
    url: &str,
    token: &str,
) -> Result<Vec<u8>, String> {
    let (key, pem) = p256_key();
    let proof = p256_sign(&key, "repo:octo-org/octo-repo:ref:refs/heads/main");
    let response = http
        .post(format!("{url}/api/v2/signingCert"))
        .json(&key_request(token, &pem, &proof))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body: Value = response.json().await.map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("{status}: {body}"));
    }
    let leaf = body["signedCertificateEmbeddedSct"]["chain"]["certificates"][0]
        .as_str()
        .ok_or("no leaf certificate")?;
    let der = pem_ders(leaf).remove(0);
    let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|e| e.to_string())?;
    Ok(cert.raw_serial().to_vec())
}

/// A hashedrekord entry over `blob`, signed by a keyed signer (a PEM public key).
fn hashedrekord(key: &p256::ecdsa::SigningKey, key_pem: &str, blob: &[u8]) -> Value {
    use p256::ecdsa::signature::Signer;
    let signature: p256::ecdsa::DerSignature = key.sign(blob);
    json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
        "data": {"hash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(blob))}},
        "signature": {"content": B64.encode(signature.as_bytes()),
                      "publicKey": {"content": B64.encode(key_pem)}}}})
}

/// POSTs an entry: 201 (new, with its logIndex) and 409 (already logged, perhaps by an
/// earlier attempt whose answer was lost with its replica) both acknowledge it.
async fn post_entry(
    http: &reqwest::Client,
    url: &str,
    entry: &Value,
) -> Result<(Hash, Option<u64>), String> {
    let response = http
        .post(format!("{url}/api/v1/log/entries"))
        .json(entry)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body: Value = response.json().await.map_err(|e| e.to_string())?;
    match status.as_u16() {
        201 => {
            let (uuid, logged) = body
                .as_object()
                .and_then(|m| m.iter().next())
                .ok_or("an empty answer")?;
            // The key is the entry ID: the tree ID (16 hex digits), then the UUID.
            let uuid =
                Hash::from_hex(&uuid[uuid.len().saturating_sub(64)..]).ok_or("a bad entry ID")?;
            Ok((uuid, logged["logIndex"].as_u64()))
        }
        409 => {
            let uuid = body["message"]
                .as_str()
                .and_then(|m| m.split_whitespace().find_map(Hash::from_hex))
                .ok_or_else(|| format!("409 without a UUID: {body}"))?;
            Ok((uuid, None))
        }
        _ => Err(format!("{status}: {body}")),
    }
}

async fn failover(scratch: &Path, database_url: &str) {
    mayfly::install_crypto_provider();
    let seed = std::env::var("MAYFLY_FAILOVER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    println!("failover seed {seed} (MAYFLY_FAILOVER_SEED={seed} replays it)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    let idp = TestIdp::start().await;
    let issuers = scratch.join("issuers.yaml");
    std::fs::write(&issuers, issuers_with_idp(&idp)).unwrap();
    let original = scratch.join("init");
    init(scratch, &original, database_url);
    let dirs: Vec<PathBuf> = (0..REPLICAS)
        .map(|n| {
            let dir = scratch.join(format!("replica-{n}"));
            copy_dir(&original, &dir);
            dir
        })
        .collect();
    let command =
        |n: usize| serve_command(scratch, &dirs[n], database_url, Some(issuers.as_path()));
    let mut replicas: Vec<Replica> = (0..REPLICAS).map(|n| start_replica(command(n))).collect();
    let urls = Arc::new(RwLock::new(
        replicas.iter().map(|r| r.url.clone()).collect::<Vec<_>>(),
    ));

    // Mixed load: three clients asking for certificates, three logging entries, each starting
    // on a different replica.
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let killed_at = Arc::new(RwLock::new(None));
    let token = idp.sign(&idp.github_claims("gha"));
    let successes: Vec<Arc<AtomicUsize>> = (0..6).map(|_| Arc::default()).collect();
    let clients: Vec<_> = (0..6)
        .map(|n| {
            let kind = if n % 2 == 0 {
                Kind::Certificate
            } else {
                Kind::Entry
            };
            let task = tokio::spawn(client(
                n,
                kind,
                urls.clone(),
                token.clone(),
                stop.clone(),
                killed_at.clone(),
                successes[n].clone(),
            ));
            (kind, task)
        })
        .collect();

    // Every client is under way (its first write through, token keys fetched) before the
    // random moment is counted, so each has a success before the kill to measure from.
    let warm = tokio::time::timeout(Duration::from_secs(20), async {
        while successes.iter().any(|s| s.load(Ordering::Relaxed) == 0) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    warm.await.expect("every client gets a first write through");
    let victim = rng.random_range(0..REPLICAS);
    let before = Duration::from_millis(rng.random_range(500..3000));
    tokio::time::sleep(before).await;
    let kill_time = Instant::now();
    *killed_at.write().unwrap() = Some(kill_time);
    replicas[victim].process.signal("KILL");
    println!("killed replica {victim} with SIGKILL {before:?} into the load");

    // The survivors carry the load; then the victim restarts on its data dir and rejoins.
    tokio::time::sleep(Duration::from_secs(3)).await;
    tokio::task::block_in_place(|| replicas[victim].process.wait_exit());
    let restarted_at = Instant::now();
    replicas[victim] = start_replica(command(victim));
    println!("replica {victim} restarted in {:?}", restarted_at.elapsed());
    urls.write().unwrap()[victim] = replicas[victim].url.clone();
    // It serves writes at once: a certificate and an entry sent to it directly.
    let http = reqwest::Client::new();
    let rejoined = &replicas[victim].url;
    // Under load a write may lose the compare-and-swap race too often and answer 503 ("retry
    // is safe"), as it may on any replica; a client retries, and so does this check.
    let mut attempts = 0;
    loop {
        attempts += 1;
        match request_certificate(&http, rejoined, &token).await {
            Ok(_) => break,
            Err(e) if e.contains("503") && attempts < 5 => sleep_a_moment().await,
            Err(e) => panic!("the restarted replica issues a certificate: {e}"),
        }
    }
    let (key, pem) = p256_key();
    let entry = hashedrekord(&key, &pem, b"after the restart");
    let mut attempts = 0;
    let rejoin_entry = loop {
        attempts += 1;
        match post_entry(&http, rejoined, &entry).await {
            Ok(logged) => break logged,
            Err(e) if e.contains("503") && attempts < 5 => sleep_a_moment().await,
            Err(e) => panic!("the restarted replica logs an entry: {e}"),
        }
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);

    let mut certificates = Vec::new();
    let mut entries = vec![rejoin_entry];
    let mut worst = Duration::ZERO;
    let mut stalled = false;
    for (n, (kind, task)) in clients.into_iter().enumerate() {
        let log = task.await.unwrap();
        let last_before = log
            .events
            .iter()
            .filter(|(t, ok)| *ok && *t < kill_time)
            .map(|(t, _)| *t)
            .max();
        let first_after = log
            .events
            .iter()
            .filter(|(t, ok)| *ok && *t > kill_time)
            .map(|(t, _)| *t)
            .min();
        let failures = log.events.iter().filter(|(_, ok)| !ok).count();
        // For comparison: the longest wait between two successes before the kill, when all
        // three replicas were up.
        let oks: Vec<Instant> = log
            .events
            .iter()
            .filter(|(t, ok)| *ok && *t < kill_time)
            .map(|(t, _)| *t)
            .collect();
        let normal = oks
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or_default();
        let gap = match (last_before, first_after) {
            (Some(before), Some(after)) => after - before,
            // No success on one side of the kill: the whole run counts as interrupted.
            _ => start.elapsed(),
        };
        println!(
            "client {n} ({kind:?}): {} ok per replica {:?}, {failures} failed, {} ok after the kill; interruption {gap:?} (longest gap before the kill {normal:?})",
            log.by_replica.iter().sum::<usize>(),
            log.by_replica,
            log.after_kill,
        );
        stalled |= log.after_kill == 0;
        worst = worst.max(gap);
        certificates.extend(log.certificates);
        entries.extend(log.entries);
    }
    println!("longest interruption seen by a client: {worst:?} (goal ≤ {MAX_INTERRUPTION:?})");
    for (n, replica) in replicas.iter().enumerate() {
        for line in replica.process.stderr().lines() {
            if line.contains(" WARN ") || line.contains(" ERROR ") {
                println!("replica {n}: {line}");
            }
        }
    }
    if stalled || worst > MAX_INTERRUPTION {
        for (n, replica) in replicas.iter().enumerate() {
            eprintln!("replica {n} stderr:\n{}", replica.process.stderr());
        }
    }
    assert!(!stalled, "every client kept writing on the survivors");
    assert!(worst <= MAX_INTERRUPTION, "interruption {worst:?}");

    // Every replica serves the same signed checkpoint of each log (the idle ones follow within
    // a tick), and the logs hold every acknowledged write exactly once.
    let http = reqwest::Client::new();
    let urls: Vec<String> = replicas.iter().map(|r| r.url.clone()).collect();
    for name in ["issuance", "artifacts"] {
        let note = converged_checkpoint(&http, &urls, name).await;
        let logged = read_log(&http, &urls[0], name, &note).await;
        let hashes: Vec<Hash> = logged.iter().map(|e| leaf_hash(e)).collect();
        let distinct: HashSet<&Hash> = hashes.iter().collect();
        assert_eq!(distinct.len(), hashes.len(), "{name}: a leaf is duplicated");
        println!(
            "{name} log: {} entries, every replica at the same checkpoint",
            logged.len()
        );
        if name == "issuance" {
            let mut serials: HashMap<Vec<u8>, usize> = HashMap::new();
            for entry in &logged {
                *serials.entry(precert_serial(entry)).or_default() += 1;
            }
            for serial in &certificates {
                assert_eq!(
                    serials.get(serial),
                    Some(&1),
                    "certificate {} is logged once",
                    hex::encode(serial)
                );
            }
            println!(
                "{} acknowledged certificates, each in the log",
                certificates.len()
            );
        } else {
            let at: HashMap<&Hash, usize> =
                hashes.iter().enumerate().map(|(i, h)| (h, i)).collect();
            for (uuid, index) in &entries {
                let found = at.get(uuid).copied();
                assert!(found.is_some(), "entry {uuid} is not in the log");
                if let Some(index) = index {
                    assert_eq!(found, Some(*index as usize), "entry {uuid} at its logIndex");
                }
            }
            println!(
                "{} acknowledged entries, each at its logIndex",
                entries.len()
            );
        }
    }
    for replica in &mut replicas {
        let status = tokio::task::block_in_place(|| replica.process.terminate());
        assert!(status.success(), "{}", replica.process.stderr());
    }
}

/// Polls every replica's checkpoint of `log` until all serve the same note; returns it.
async fn converged_checkpoint(http: &reqwest::Client, urls: &[String], log: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut notes = HashSet::new();
        for url in urls {
            let note = http
                .get(format!("{url}/logs/{log}/checkpoint"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            notes.insert(note);
        }
        if notes.len() == 1 {
            return notes.into_iter().next().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "the replicas serve different {log} checkpoints: {notes:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every entry of `log` up to the checkpoint `note`, read through the tiles API, after checking
/// the note's signature with the log's key and that the entries hash to its root.
async fn read_log(http: &reqwest::Client, url: &str, log: &str, note: &str) -> Vec<Vec<u8>> {
    let key_pem = http
        .get(format!("{url}/logs/{log}/key.pem"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let origin = note.lines().next().unwrap();
    let verifier = EcdsaNoteVerifier::from_spki_der(origin, &pem_ders(&key_pem)[0]).unwrap();
    let checkpoint = open_checkpoint(note.as_bytes(), origin, &verifier)
        .expect("the served checkpoint verifies with the log's key")
        .checkpoint;
    let mut entries = Vec::new();
    let mut index = 0;
    while index < checkpoint.size {
        let bundle = index / TILE_WIDTH;
        let width = (checkpoint.size - bundle * TILE_WIDTH).min(TILE_WIDTH);
        let path = TilePath::Entries {
            index: bundle,
            width: (width < TILE_WIDTH).then_some(width as u8),
        };
        let response = http
            .get(format!("{url}/logs/{log}/{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{log} {path}");
        let data = response.bytes().await.unwrap();
        let got = tile::split_entries(&data).unwrap();
        assert_eq!(got.len() as u64, width, "{log} {path}");
        entries.extend(got.into_iter().map(<[u8]>::to_vec));
        index += width;
    }
    let hashes: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
    assert_eq!(
        root_of(&hashes),
        checkpoint.root,
        "{log}: the entries hash to the checkpoint's root"
    );
    entries
}

/// The serial number of the precertificate in an issuance-log leaf: an RFC 6962
/// `MerkleTreeLeaf` (version, leaf type, 8-byte timestamp, entry type 1) whose entry is the
/// issuer key hash (32 bytes) and the u24-length-prefixed TBSCertificate.
fn precert_serial(leaf: &[u8]) -> Vec<u8> {
    use x509_parser::prelude::{FromDer, TbsCertificate};
    const TBS_LEN_AT: usize = 1 + 1 + 8 + 2 + 32;
    assert_eq!(&leaf[10..12], &[0, 1], "a precertificate entry");
    let len = leaf[TBS_LEN_AT..TBS_LEN_AT + 3]
        .iter()
        .fold(0usize, |n, b| n << 8 | usize::from(*b));
    let tbs = &leaf[TBS_LEN_AT + 3..TBS_LEN_AT + 3 + len];
    let (_, parsed) = TbsCertificate::from_der(tbs).expect("the leaf holds a TBSCertificate");
    parsed.raw_serial().to_vec()
}

async fn sleep_a_moment() {
    tokio::time::sleep(Duration::from_millis(200)).await;
}

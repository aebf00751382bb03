//! `mayfly audit watch` against real servers: matches reported once, restarts that repeat and
//! miss nothing, a webhook that stays down, and a fork, a rollback and a foreign key detected.

mod support;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use mayfly_client::audit::watch::{WatchError, WatchOptions, watch_once};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::Mayfly;
use support::process::mayfly_command;

use support::backend::Backend;

// Every test below runs twice: on SQLite and on PostgreSQL (tests/support/backend.rs).
on_both_backends!(
    a_watched_repository_new_certificate_is_reported_once(
        flavor = "multi_thread",
        worker_threads = 2
    ),
    artifact_log_entries_are_reported_by_their_certificate_identity(
        flavor = "multi_thread",
        worker_threads = 2
    ),
    a_webhook_that_stays_down_fails_the_run_without_losing_the_match(
        flavor = "multi_thread",
        worker_threads = 2
    ),
    a_restarted_watcher_reports_nothing_twice_and_misses_nothing(
        flavor = "multi_thread",
        worker_threads = 2
    ),
    a_checkpoint_under_another_key_is_detected(flavor = "multi_thread", worker_threads = 2),
    catch_up_crosses_tiles_and_batches_and_resumes_mid_tile(
        flavor = "multi_thread",
        worker_threads = 2
    ),
    entries_that_do_not_hash_to_the_signed_root_are_never_reported(
        flavor = "multi_thread",
        worker_threads = 2
    ),
);

const WATCHED: &str = "octo-org/watched";

/// A webhook receiver on port 0: keeps every JSON body; answers 500 while `down` is set.
struct Hook {
    url: url::Url,
    received: Arc<Mutex<Vec<Value>>>,
    down: Arc<AtomicBool>,
}

#[derive(Clone)]
struct HookState {
    received: Arc<Mutex<Vec<Value>>>,
    down: Arc<AtomicBool>,
}

impl Hook {
    async fn start() -> Hook {
        let state = HookState {
            received: Arc::default(),
            down: Arc::default(),
        };
        let app = axum::Router::new()
            .route(
                "/hook",
                post(
                    async |State(s): State<HookState>, Json(body): Json<Value>| {
                        if s.down.load(Ordering::SeqCst) {
                            return StatusCode::INTERNAL_SERVER_ERROR;
                        }
                        s.received.lock().unwrap().push(body);
                        StatusCode::NO_CONTENT
                    },
                ),
            )
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url =
            url::Url::parse(&format!("http://{}/hook", listener.local_addr().unwrap())).unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Hook {
            url,
            received: state.received,
            down: state.down,
        }
    }

    fn received(&self) -> Vec<Value> {
        self.received.lock().unwrap().clone()
    }
}

/// Issues a certificate for a GitHub workflow of `repository` (`owner/name`); returns its
/// issuance-log index.
async fn issue(mayfly: &Mayfly, repository: &str) -> u64 {
    issue_with_key(mayfly, repository).await.0
}

/// [`issue`], also returning the certificate (PEM) and its key.
async fn issue_with_key(
    mayfly: &Mayfly,
    repository: &str,
) -> (u64, String, p256::ecdsa::SigningKey) {
    let owner = repository.split('/').next().unwrap();
    let workflow = format!("{repository}/.github/workflows/release.yml@refs/heads/main");
    let claims = json!({
        "repository": repository,
        "repository_owner": owner,
        "sub": format!("repo:{repository}:ref:refs/heads/main"),
        "workflow_ref": workflow,
        "job_workflow_ref": workflow,
    });
    let before = mayfly.issuance_size().await;
    let (request, key) = mayfly.signing_request_with(&claims).await;
    let (status, body) = mayfly.sign_v2(&request, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(mayfly.issuance_size().await, before + 1);
    let pem = body["signedCertificateEmbeddedSct"]["chain"]["certificates"][0]
        .as_str()
        .unwrap()
        .to_owned();
    (before, pem, key)
}

/// Logs a hashedrekord entry signed with a fresh certificate for `repository`; returns its
/// artifact-log index.
async fn log_artifact(mayfly: &Mayfly, repository: &str, blob: &[u8]) -> u64 {
    use base64::Engine as _;
    use p256::ecdsa::signature::Signer as _;
    use sha2::Digest as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let (_, pem, key) = issue_with_key(mayfly, repository).await;
    let signature: p256::ecdsa::DerSignature = key.sign(blob);
    let entry = json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
        "data": {"hash": {"algorithm": "sha256", "value": hex::encode(sha2::Sha256::digest(blob))}},
        "signature": {"content": b64(signature.as_bytes()),
                      "publicKey": {"content": b64(pem.as_bytes())}}}});
    let body = mayfly.create_entry(&entry).await;
    body.as_object().unwrap().values().next().unwrap()["logIndex"]
        .as_u64()
        .unwrap()
}

fn watch_options(mayfly: &Mayfly, state: &Path) -> WatchOptions {
    WatchOptions {
        repositories: vec![WATCHED.into()],
        print: false,
        webhook_pauses: vec![Duration::from_millis(10); 2],
        ..WatchOptions::new(url::Url::parse(&mayfly.url).unwrap(), state.to_owned())
    }
}

async fn a_watched_repository_new_certificate_is_reported_once() {
    let mayfly = Mayfly::builder().dev_issuer().start().await;
    let hook = Hook::start().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let options = WatchOptions {
        webhook: Some(hook.url.clone()),
        ..watch_options(&mayfly, &state)
    };

    issue(&mayfly, "octo-org/noise").await;
    let watched = issue(&mayfly, WATCHED).await;
    issue(&mayfly, "octo-org/watched-not").await;
    let summary = watch_once(&options).await.expect("first pass");
    assert_eq!(
        summary.entries, 4,
        "three certificates and the artifact log's genesis entry"
    );
    assert_eq!(summary.sizes[0], 3);
    assert_eq!(summary.matches.len(), 1, "{:?}", summary.matches);
    let got = hook.received();
    assert_eq!(got.len(), 1);
    let line = &got[0];
    assert_eq!(line["log"], "issuance");
    assert_eq!(line["index"], watched);
    assert_eq!(line["checkpointSize"], 3);
    assert_eq!(line["repository"], format!("https://github.com/{WATCHED}"));
    assert_eq!(line["ref"], "refs/heads/main");
    assert_eq!(
        line["san"],
        format!("https://github.com/{WATCHED}/.github/workflows/release.yml@refs/heads/main")
    );
    assert_eq!(line["issuer"], mayfly.dev_issuer_url());
    assert_eq!(
        line["workflow"],
        format!("https://github.com/{WATCHED}/.github/workflows/release.yml@refs/heads/main")
    );

    // Nothing new: nothing reported again.
    let summary = watch_once(&options).await.expect("idle pass");
    assert_eq!((summary.entries, summary.matches.len()), (0, 0));
    assert_eq!(hook.received().len(), 1);

    // A new certificate for the watched repository, among others: reported, once.
    issue(&mayfly, "octo-org/noise").await;
    let second = issue(&mayfly, WATCHED).await;
    let summary = watch_once(&options).await.expect("second pass");
    assert_eq!(summary.entries, 2);
    let got = hook.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1]["index"], second);
    assert_eq!(got[1]["checkpointSize"], 5);

    // An identity regex alone matches by SAN.
    let by_identity = WatchOptions {
        repositories: vec![],
        identity_regexps: vec!["https://github\\.com/octo-org/noise/.*".into()],
        webhook: None,
        ..watch_options(&mayfly, &dir.path().join("other.json"))
    };
    let summary = watch_once(&by_identity).await.expect("identity pass");
    let indices: Vec<u64> = summary.matches.iter().map(|m| m.index).collect();
    assert_eq!(indices, [0, 3]);
}

async fn artifact_log_entries_are_reported_by_their_certificate_identity() {
    let mayfly = Mayfly::builder().dev_issuer().start().await;
    let dir = tempfile::tempdir().unwrap();
    let options = watch_options(&mayfly, &dir.path().join("state.json"));
    log_artifact(&mayfly, "octo-org/noise", b"one").await;
    let watched = log_artifact(&mayfly, WATCHED, b"two").await;
    let summary = watch_once(&options).await.expect("pass");
    assert_eq!(
        summary.sizes,
        [2, 3],
        "the artifact log starts with its genesis entry"
    );
    let found: Vec<(&str, u64)> = summary.matches.iter().map(|m| (m.log, m.index)).collect();
    assert_eq!(found, [("issuance", 1), ("artifacts", watched)]);
    let artifact = &summary.matches[1];
    assert_eq!(
        artifact.repository.as_deref(),
        Some("https://github.com/octo-org/watched")
    );
    assert_eq!(artifact.checkpoint_size, 3);
}

async fn a_webhook_that_stays_down_fails_the_run_without_losing_the_match() {
    let mayfly = Mayfly::builder().dev_issuer().start().await;
    let hook = Hook::start().await;
    let dir = tempfile::tempdir().unwrap();
    let options = WatchOptions {
        webhook: Some(hook.url.clone()),
        ..watch_options(&mayfly, &dir.path().join("state.json"))
    };
    let index = issue(&mayfly, WATCHED).await;
    hook.down.store(true, Ordering::SeqCst);
    let err = watch_once(&options).await.expect_err("the webhook is down");
    assert!(matches!(err, WatchError::Webhook { .. }), "{err}");
    assert!(err.to_string().contains("500"), "{err}");

    hook.down.store(false, Ordering::SeqCst);
    let summary = watch_once(&options).await.expect("the webhook is back");
    assert_eq!(summary.matches.len(), 1);
    let got = hook.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["index"], index);
}

/// Runs `mayfly audit watch --once` against `server`; returns (success, stdout, stderr).
async fn watch_binary(server: &str, state: &Path, extra: &[&str]) -> (bool, String, String) {
    let (code, out, err) = watch_binary_code(server, state, extra).await;
    (code == Some(0), out, err)
}

/// [`watch_binary`] with the exit code.
async fn watch_binary_code(
    server: &str,
    state: &Path,
    extra: &[&str],
) -> (Option<i32>, String, String) {
    let mut command = mayfly_command(state.parent().unwrap());
    command
        .args(["audit", "watch", "--once", "--server", server, "--state"])
        .arg(state)
        .args(extra);
    let output = tokio::task::spawn_blocking(move || command.output().expect("run mayfly"))
        .await
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

async fn a_restarted_watcher_reports_nothing_twice_and_misses_nothing() {
    let mayfly = Mayfly::builder().dev_issuer().start().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let args = ["--repository", WATCHED];

    let mut expected = vec![issue(&mayfly, WATCHED).await];
    issue(&mayfly, "octo-org/noise").await;
    let (ok, out, err) = watch_binary(&mayfly.url, &state, &args).await;
    assert!(ok, "{err}");
    let first: Vec<u64> = lines(&out)
        .iter()
        .map(|l| l["index"].as_u64().unwrap())
        .collect();
    assert_eq!(first, expected);

    let mut new = Vec::new();
    for _ in 0..3 {
        new.push(issue(&mayfly, WATCHED).await);
        issue(&mayfly, "octo-org/noise").await;
    }
    let (ok, out, err) = watch_binary(&mayfly.url, &state, &args).await;
    assert!(ok, "{err}");
    let second: Vec<u64> = lines(&out)
        .iter()
        .map(|l| l["index"].as_u64().unwrap())
        .collect();
    assert_eq!(
        second, new,
        "each new certificate once, none of the earlier ones"
    );
    expected.extend(new);

    let (ok, out, err) = watch_binary(&mayfly.url, &state, &args).await;
    assert!(ok, "{err}");
    assert_eq!(out, "", "nothing new, nothing printed");

    let saved: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(saved["logs"]["issuance"]["size"], 8);
    assert!(
        saved["logs"]["issuance"]["checkpoint"]
            .as_str()
            .unwrap()
            .contains("\n8\n")
    );
    assert_eq!(expected.len(), 4);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
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

/// A dev-issuer instance on `data_dir` whose public URL (and so its log origins) is fixed,
/// whatever port it listens on: copies of one data dir then sign as the same logs.
async fn instance(data_dir: &Path) -> Mayfly {
    let data_dir = data_dir.to_owned();
    Mayfly::builder()
        .dev_issuer()
        .configure(move |config, _| {
            config.data_dir = data_dir;
            config.public_url = url::Url::parse("http://mayfly.test").unwrap();
        })
        .start()
        .await
}

/// The first three lines (origin, size, root) of a log's served checkpoint.
async fn checkpoint_body(mayfly: &Mayfly, log: &str) -> String {
    let note = mayfly.get_bytes(&format!("/logs/{log}/checkpoint")).await;
    let text = String::from_utf8(note).unwrap();
    text.lines().take(3).collect::<Vec<_>>().join("\n")
}

async fn pinned_root(mayfly: &Mayfly, dir: &Path) -> PathBuf {
    let path = dir.join("trusted_root.json");
    std::fs::write(&path, mayfly.get_bytes("/trust/trusted_root.json").await).unwrap();
    path
}

/// SQLite only: the fork is made by copying the data dir, database file included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_is_detected_naming_both_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    let mut original = instance(&a_dir).await;
    issue(&original, WATCHED).await;
    original.shut_down().await;
    copy_dir(&a_dir, &b_dir);

    // The same keys now sign two different trees of size 2.
    let a = instance(&a_dir).await;
    let b = instance(&b_dir).await;
    issue(&a, "octo-org/one").await;
    issue(&b, "octo-org/other").await;
    let root = pinned_root(&a, dir.path()).await;
    let root = root.to_str().unwrap();
    let state = dir.path().join("state.json");
    let (ok, _, err) = watch_binary(&a.url, &state, &["--trusted-root", root]).await;
    assert!(ok, "{err}");

    let (code, _, err) = watch_binary_code(&b.url, &state, &["--trusted-root", root]).await;
    assert_eq!(
        code,
        Some(3),
        "a fork fails the run as log misbehaviour: {err}"
    );
    assert!(err.contains("issuance log FORKED"), "{err}");
    assert!(err.contains("roots differ"), "{err}");
    for cp in [
        checkpoint_body(&a, "issuance").await,
        checkpoint_body(&b, "issuance").await,
    ] {
        assert!(err.contains(&cp), "missing {cp:?} in {err}");
    }

    // B grows on: its larger tree does not extend the one the watcher saw either.
    issue(&b, "octo-org/other").await;
    let (ok, _, err) = watch_binary(&b.url, &state, &["--trusted-root", root]).await;
    assert!(!ok, "an inconsistent tree must fail the run");
    assert!(err.contains("issuance log FORKED"), "{err}");
    assert!(err.contains("does not extend"), "{err}");
    assert!(
        err.contains(&checkpoint_body(&b, "issuance").await),
        "{err}"
    );
    assert!(
        err.contains(&checkpoint_body(&a, "issuance").await),
        "{err}"
    );

    // The honest copy still checks out, and only its new entry is reported.
    let index = issue(&a, WATCHED).await;
    let (ok, out, err) = watch_binary(&a.url, &state, &["--trusted-root", root]).await;
    assert!(ok, "{err}");
    let reported: Vec<u64> = lines(&out)
        .iter()
        .map(|l| l["index"].as_u64().unwrap())
        .collect();
    assert_eq!(reported, [index], "{out}");
}

/// SQLite only: the fork is made by copying the data dir, database file included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_is_detected_naming_both_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let (live, backup) = (dir.path().join("live"), dir.path().join("backup"));
    let mut first = instance(&live).await;
    issue(&first, WATCHED).await;
    first.shut_down().await;
    copy_dir(&live, &backup);

    let later = instance(&live).await;
    issue(&later, WATCHED).await;
    issue(&later, WATCHED).await;
    let state = dir.path().join("state.json");
    let (ok, _, err) = watch_binary(&later.url, &state, &[]).await;
    assert!(ok, "{err}");
    let newer = checkpoint_body(&later, "issuance").await;

    let restored = instance(&backup).await;
    let (code, _, err) = watch_binary_code(&restored.url, &state, &[]).await;
    assert_eq!(
        code,
        Some(3),
        "a rollback fails the run as log misbehaviour: {err}"
    );
    assert!(err.contains("issuance log ROLLED BACK"), "{err}");
    assert!(err.contains("has 1 entries, fewer than the 3"), "{err}");
    assert!(err.contains(&newer), "{err}");
    assert!(
        err.contains(&checkpoint_body(&restored, "issuance").await),
        "{err}"
    );
}

async fn a_checkpoint_under_another_key_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let genuine = instance(&dir.path().join("genuine")).await;
    let impostor = instance(&dir.path().join("impostor")).await;
    issue(&genuine, WATCHED).await;
    issue(&impostor, WATCHED).await;
    let root = pinned_root(&genuine, dir.path()).await;
    let root = root.to_str().unwrap();

    // Same origin, another key: the pinned root's key does not verify it.
    let state = dir.path().join("state.json");
    let (code, _, err) = watch_binary_code(&impostor.url, &state, &["--trusted-root", root]).await;
    assert_eq!(
        code,
        Some(3),
        "a foreign signature is log misbehaviour: {err}"
    );
    assert!(err.contains("signature does not verify"), "{err}");
    assert!(
        err.contains(&checkpoint_body(&impostor, "issuance").await),
        "{err}"
    );
    assert!(!state.exists(), "nothing is stored from an unverified log");

    // Unpinned, the impostor's own trusted root no longer verifies what the state holds.
    let (ok, _, err) = watch_binary(&genuine.url, &state, &[]).await;
    assert!(ok, "{err}");
    let (code, _, err) = watch_binary_code(&impostor.url, &state, &[]).await;
    assert_eq!(code, Some(1), "a changed trusted root is refused: {err}");
    assert!(err.contains("stored checkpoint does not verify"), "{err}");
}

/// Appends `count` distinct raw entries to the artifact log behind the API, concurrently so
/// they commit in a few batches.
async fn fill_artifacts(mayfly: &Mayfly, tag: &str, count: usize) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count {
        let log = mayfly.state.artifacts.clone();
        let payload = format!("{tag} entry {i}").into_bytes();
        tasks.spawn(async move { log.append(payload).await.map(|_| ()) });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap().expect("append");
    }
}

async fn catch_up_crosses_tiles_and_batches_and_resumes_mid_tile() {
    let mayfly = Mayfly::builder().dev_issuer().start().await;
    let dir = tempfile::tempdir().unwrap();
    let options = watch_options(&mayfly, &dir.path().join("state.json"));

    // 4100 entries: past one batch of 16 full bundles, ending in a partial tile.
    fill_artifacts(&mayfly, "first", 4100).await;
    let summary = watch_once(&options).await.expect("first catch-up");
    assert_eq!(
        (summary.entries, summary.sizes[1]),
        (4101, 4101),
        "genesis included"
    );

    // Resume from the middle of a tile, across the next tile boundary.
    fill_artifacts(&mayfly, "second", 300).await;
    let watched = log_artifact(&mayfly, WATCHED, b"late").await;
    let summary = watch_once(&options).await.expect("second catch-up");
    assert_eq!(summary.sizes[1], 4402);
    assert_eq!(
        summary.entries,
        301 + 1,
        "the new artifacts and one issuance"
    );
    let found: Vec<(&str, u64)> = summary.matches.iter().map(|m| (m.log, m.index)).collect();
    assert_eq!(found, [("issuance", 0), ("artifacts", watched)]);
}

/// A proxy in front of `upstream` that flips the last byte of every entry bundle it serves.
async fn tampering_proxy(upstream: &str) -> String {
    let upstream = upstream.to_owned();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let upstream = upstream.clone();
        async move {
            let response = reqwest::get(format!("{upstream}{}", uri.path()))
                .await
                .unwrap();
            let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
            let mut body = response.bytes().await.unwrap().to_vec();
            if uri.path().contains("/tile/entries/")
                && let Some(last) = body.last_mut()
            {
                *last ^= 1;
            }
            (status, body)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

async fn entries_that_do_not_hash_to_the_signed_root_are_never_reported() {
    let mayfly = Mayfly::builder().dev_issuer().start().await;
    let hook = Hook::start().await;
    issue(&mayfly, WATCHED).await;
    issue(&mayfly, WATCHED).await;
    let proxy = tampering_proxy(&mayfly.url).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let options = WatchOptions {
        server: url::Url::parse(&proxy).unwrap(),
        webhook: Some(hook.url.clone()),
        ..watch_options(&mayfly, &state)
    };
    let err = watch_once(&options).await.expect_err("tampered entries");
    assert!(
        matches!(
            err,
            WatchError::Log {
                log: "issuance",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("do not match the signed checkpoint of size 2"),
        "{err}"
    );
    assert!(hook.received().is_empty(), "nothing unproven is reported");
    let saved: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(saved["logs"]["issuance"]["size"], 0);

    // Straight from the server, the same state catches up and reports both.
    let options = WatchOptions {
        webhook: Some(hook.url.clone()),
        ..watch_options(&mayfly, &state)
    };
    watch_once(&options).await.expect("untampered");
    assert_eq!(hook.received().len(), 2);
}

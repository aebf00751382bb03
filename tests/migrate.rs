//! `mayfly migrate`: an instance on SQLite moved to PostgreSQL serves the same signed logs and
//! keeps growing them; a copy that does not verify, a destination that is not empty and a data
//! dir of another instance are refused, each with a message saying what is wrong.

mod support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use mayfly::log::storage::{Batch, LogSlot, LogStore};
use mayfly::storage::{DatabaseUrl, Store};
use mayfly::testing::ScratchDatabase;
use mayfly_spec::tlog::tile::TileId;
use p256::ecdsa::signature::Signer;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::Mayfly;
use support::clients::{run, run_failing};

/// An instance on SQLite with three certificates and two Rekor entries, stopped.
async fn stopped_instance_with_entries() -> Mayfly {
    let mut mayfly = Mayfly::builder().dev_issuer().start().await;
    let (request, key) = mayfly.signing_request().await;
    let (status, body) = mayfly.sign_v2(&request, None).await;
    assert_eq!(status, 200, "{body}");
    let cert_pem = body["signedCertificateEmbeddedSct"]["chain"]["certificates"][0]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..2 {
        let (request, _) = mayfly.signing_request().await;
        assert_eq!(mayfly.sign_v2(&request, None).await.0, 200);
    }
    for blob in [&b"first"[..], b"second"] {
        let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(blob));
        let sig: p256::ecdsa::DerSignature = key.sign(blob);
        let entry = json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": digest}},
            "signature": {"content": B64.encode(sig.as_bytes()),
                          "publicKey": {"content": B64.encode(&cert_pem)}}}});
        mayfly.create_entry(&entry).await;
    }
    assert_eq!(
        (mayfly.issuance_size().await, mayfly.artifacts_size().await),
        // The artifact log starts with its genesis entry.
        (3, 3)
    );
    mayfly.shut_down().await;
    mayfly
}

fn sqlite_url(mayfly: &Mayfly) -> String {
    format!(
        "sqlite://{}",
        mayfly.config.data_dir.join("mayfly.db").display()
    )
}

fn migrate(data_dir: &Path, from: &str, to: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mayfly"));
    command
        .args(["migrate", "--data-dir"])
        .arg(data_dir)
        .args(["--from", from, "--to", to]);
    command
}

/// The stopped instance's data dir and public URL on another database: what an operator
/// restarts with after migrating.
async fn restart_on(old: &Mayfly, database_url: &str) -> Mayfly {
    let data_dir: PathBuf = old.config.data_dir.clone();
    let public_url = old.config.public_url.clone();
    let database_url = database_url.to_owned();
    Mayfly::builder()
        .dev_issuer()
        .configure(move |config, _| {
            config.data_dir = data_dir;
            config.public_url = public_url;
            config.database_url = Some(database_url);
        })
        .start()
        .await
}

/// A Rekor entry without its signed entry timestamp, which is signed afresh (ECDSA, randomised)
/// at every request: the body, integration time, index and inclusion proof remain.
fn without_set(mut entry: Value) -> Value {
    for (_, value) in entry.as_object_mut().unwrap() {
        value["verification"]
            .as_object_mut()
            .unwrap()
            .remove("signedEntryTimestamp");
    }
    entry
}

#[tokio::test]
async fn an_instance_moved_to_postgres_serves_the_same_logs_and_keeps_growing() {
    let mut old = stopped_instance_with_entries().await;
    // The stopped server's answers, to compare with the copy's: checkpoints, entries, tiles.
    let before = restart_on(&old, &sqlite_url(&old)).await;
    let paths = [
        "/logs/issuance/checkpoint",
        "/logs/artifacts/checkpoint",
        "/logs/issuance/tile/0/000.p/3",
        "/logs/artifacts/tile/entries/000.p/3",
    ];
    let mut answers = Vec::new();
    for path in paths {
        answers.push(before.get_bytes(path).await);
    }
    let entry = without_set(before.get_json("/api/v1/log/entries?logIndex=1").await);
    let mut before = before;
    before.shut_down().await;

    let pg = ScratchDatabase::create().await;
    let output = run(migrate(&old.config.data_dir, &sqlite_url(&old), pg.url())).await;
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains("issuance: copied and verified 3 entries")
            // Two entries after the log's genesis entry, which has no dedup row.
            && stdout.contains("artifacts: copied and verified 3 entries")
            && stdout.contains("2 dedup rows")
            && stdout.contains("artifacts: indexed 3 entries"),
        "{stdout}"
    );

    let moved = restart_on(&old, pg.url()).await;
    for (path, answer) in paths.iter().zip(&answers) {
        assert!(moved.get_bytes(path).await == *answer, "{path} differs");
    }
    let moved_entry = without_set(moved.get_json("/api/v1/log/entries?logIndex=1").await);
    assert_eq!(moved_entry, entry);
    // The search index was rebuilt on the copy.
    let found = moved
        .client
        .post(format!("{}/api/v1/index/retrieve", moved.url))
        .json(&json!({"hash": format!("sha256:{}", hex::encode(
            <sha2::Sha256 as sha2::Digest>::digest(b"second")))}))
        .send()
        .await
        .unwrap();
    let found: Value = found.json().await.unwrap();
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");

    // The moved log grows from where it was, and the auditor verifies every certificate in
    // it (inclusion proofs and checkpoint signatures) against the instance's trusted root.
    let (request, _) = moved.signing_request().await;
    assert_eq!(moved.sign_v2(&request, None).await.0, 200);
    assert_eq!(moved.issuance_size().await, 4);
    // The search index follows the log in the background: wait until it holds the new one.
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        moved.state.index.indexed(LogSlot::ISSUANCE, 4),
    )
    .await
    .expect("the new certificate is indexed");
    let root = moved.trust_file("trusted_root.json").await;
    let mut audit = Command::new(env!("CARGO_BIN_EXE_mayfly"));
    audit
        .args(["audit", "search", "--server", &moved.url, "--trusted-root"])
        .arg(&root);
    let output = run(audit).await;
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(
        table.contains("4 certificate(s)") && table.contains("verified"),
        "{table}"
    );
    moved.stop().await;

    // The destination is no longer empty: a second copy into it is refused.
    let output = run_failing(migrate(&old.config.data_dir, &sqlite_url(&old), pg.url())).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("already holds log data") && stderr.contains("empty database"),
        "{stderr}"
    );
    old.shut_down().await;
}

#[tokio::test]
async fn a_copy_that_does_not_verify_or_another_instances_keys_are_refused() {
    let old = stopped_instance_with_entries().await;

    // Another instance's data dir: its keys did not sign these checkpoints. Nothing is copied.
    let stranger = stopped_instance_with_entries().await;
    let pg = ScratchDatabase::create().await;
    let output = run_failing(migrate(
        &stranger.config.data_dir,
        &sqlite_url(&old),
        pg.url(),
    ))
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("does not verify") && stderr.contains("different instances"),
        "{stderr}"
    );
    let destination = Store::open(&DatabaseUrl::parse(pg.url()).unwrap())
        .await
        .unwrap();
    assert!(destination.is_empty().await.unwrap());
    destination.close().await;

    // A hash tile changed behind the log's back: the copy is made, then refused by its audit.
    let source = Store::open(&DatabaseUrl::sqlite(&old.config.data_dir.join("mayfly.db")))
        .await
        .unwrap();
    let tile = TileId { level: 0, index: 0 };
    let mut data = source
        .hash_tile(LogSlot::ISSUANCE, tile)
        .await
        .unwrap()
        .unwrap();
    data[0] ^= 1;
    let tamper = Batch {
        tiles: vec![(tile, data)],
        ..Batch::default()
    };
    source.commit(LogSlot::ISSUANCE, &tamper).await.unwrap();
    source.close().await;
    let output = run_failing(migrate(&old.config.data_dir, &sqlite_url(&old), pg.url())).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the copy of the issuance log does not verify")
            && stderr.contains("tile")
            && stderr.contains("partial copy"),
        "{stderr}"
    );

    // Bad URLs are named, and a password in one is never shown.
    for (to, says) in [
        ("mysql://u:s3cret@db/m", "unknown scheme"),
        (
            "postgres://u:s3cret@127.0.0.1:1/m",
            "is the server running?",
        ),
    ] {
        let output = run_failing(migrate(&old.config.data_dir, &sqlite_url(&old), to)).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(says) && !stderr.contains("s3cret"),
            "{stderr}"
        );
    }
}

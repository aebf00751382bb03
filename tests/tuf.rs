//! The TUF repository (`mayfly tuf init` / `update` / `rotate-root`, served under `/tuf/`)
//! as real TUF clients see it: python-tuf's ngclient (what sigstore-python uses) and
//! `@sigstore/tuf` (sigstore-js, npm) bootstrap from `1.root.json`, fetch the trusted root,
//! follow a CA rotation published as a new targets version and a root key rotation, and refuse
//! a target tampered with on disk and a repository whose timestamp role has expired.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::Mayfly;
use support::clients::{Clients, run, run_failing};
use support::process::mayfly_command;

fn mayfly_tuf(mayfly: &Mayfly, offline: &Path, args: &[&str]) -> String {
    let mut command = mayfly_command(mayfly.dir.path());
    command
        .arg("tuf")
        .args(args)
        .arg("--data-dir")
        .arg(&mayfly.config.data_dir)
        .arg("--offline-key-dir")
        .arg(offline);
    if args[0] != "rotate-root" {
        command.args(["--public-url", &mayfly.url, "--dev-issuer"]);
    }
    let output = command.output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "mayfly tuf {args:?}: {text}");
    text
}

fn python_fetch(mayfly: &Mayfly, root: &Path, cache: &Path, target: &str) -> (Command, PathBuf) {
    let out = cache.with_extension(target);
    let mut command = Clients::get().python_script("tuf_fetch.py");
    command
        .arg(format!("{}/tuf", mayfly.url))
        .arg(root)
        .arg(cache)
        .arg(target)
        .arg(&out);
    (command, out)
}

fn node_fetch(mayfly: &Mayfly, root: &Path, cache: &Path) -> Command {
    let mut command = Clients::get().node_script("tuf_fetch.cjs");
    command
        .arg(format!("{}/tuf", mayfly.url))
        .arg(root)
        .arg(cache);
    command
}

async fn node_trusted_root(command: Command) -> Value {
    let output = run(command).await;
    serde_json::from_slice(&output.stdout).unwrap()
}

fn authorities(root: &Value) -> usize {
    root["certificateAuthorities"].as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tuf_clients_bootstrap_follow_updates_and_refuse_tampering() {
    let mayfly = Mayfly::builder().dev_issuer().start().await;
    let scratch = mayfly.dir.path().join("clients");
    let offline = mayfly.dir.path().join("offline-keys");
    std::fs::create_dir_all(&scratch).unwrap();
    mayfly_tuf(&mayfly, &offline, &["init"]);
    assert!(offline.join("root.pk8").exists());
    let fresh = mayfly_tuf(&mayfly, &offline, &["update", "--timestamp-only"]);
    assert!(fresh.contains("timestamp still fresh"), "{fresh}");

    // The bootstrap root, as an operator hands it out: fetched once over /tuf/.
    let root = scratch.join("1.root.json");
    std::fs::write(&root, mayfly.get_bytes("/tuf/1.root.json").await).unwrap();

    let python_cache = scratch.join("python");
    let (command, out) = python_fetch(&mayfly, &root, &python_cache, "trusted_root.json");
    run(command).await;
    let served = mayfly.get_bytes("/trust/trusted_root.json").await;
    assert_eq!(std::fs::read(&out).unwrap(), served);
    let (command, out) = python_fetch(&mayfly, &root, &python_cache, "signing_config.v0.2.json");
    run(command).await;
    assert_eq!(
        std::fs::read(&out).unwrap(),
        mayfly.get_bytes("/trust/signing_config.json").await
    );
    // sigstore-python itself, pointed at the mirror: trust it once, then sign through it.
    let sigstore = |args: &[&str]| {
        let mut command = Clients::get().python_cli();
        command
            .env("HOME", &scratch)
            .env("XDG_CACHE_HOME", scratch.join("xdg-cache"))
            .env("XDG_DATA_HOME", scratch.join("xdg-data"))
            .args(["--instance", &format!("{}/tuf", mayfly.url)])
            .args(args);
        command
    };
    run(sigstore(&["trust-instance", root.to_str().unwrap()])).await;
    let artifact = scratch.join("artifact.txt");
    std::fs::write(&artifact, "signed through TUF\n").unwrap();
    let bundle = scratch.join("artifact.sigstore.json");
    let token = mayfly.ci_token().await;
    let (bundle_arg, artifact_arg) = (bundle.to_str().unwrap(), artifact.to_str().unwrap());
    run(sigstore(&[
        "sign",
        "--identity-token",
        &token,
        "--bundle",
        bundle_arg,
        artifact_arg,
    ]))
    .await;
    // The TUF signing config is the default one: Rekor v2 with a Mayfly timestamp.
    let signed: Value = serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    let material = &signed["verificationMaterial"];
    assert_eq!(
        material["tlogEntries"][0]["kindVersion"]["version"], "0.0.2",
        "{material}"
    );
    assert_eq!(
        material["timestampVerificationData"]["rfc3161Timestamps"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "{material}"
    );
    let issuer = mayfly.dev_issuer_url();
    let san = "https://github.com/octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main";
    run(sigstore(&[
        "verify",
        "identity",
        "--offline",
        "--bundle",
        bundle_arg,
        "--cert-identity",
        san,
        "--cert-oidc-issuer",
        &issuer,
        artifact_arg,
    ]))
    .await;

    let node_cache = scratch.join("node");
    let js = node_trusted_root(node_fetch(&mayfly, &root, &node_cache)).await;
    assert_eq!(authorities(&js), 1, "{js}");

    // A CA rotation, published as a new targets version: both clients pick it up.
    let mut rotate = mayfly_command(mayfly.dir.path());
    rotate
        .args(["ca", "rotate", "--data-dir"])
        .arg(&mayfly.config.data_dir);
    assert!(rotate.output().unwrap().status.success());
    mayfly.reloader.reload().unwrap();
    mayfly_tuf(&mayfly, &offline, &["update"]);
    let served = mayfly.get_bytes("/trust/trusted_root.json").await;
    let (command, out) = python_fetch(&mayfly, &root, &python_cache, "trusted_root.json");
    run(command).await;
    let fetched = std::fs::read(&out).unwrap();
    assert_eq!(fetched, served);
    assert_eq!(authorities(&serde_json::from_slice(&fetched).unwrap()), 2);
    let js = node_trusted_root(node_fetch(&mayfly, &root, &node_cache)).await;
    assert_eq!(authorities(&js), 2, "{js}");

    // A root key rotation: a client trusting version 1 walks to version 2.
    mayfly_tuf(&mayfly, &offline, &["rotate-root"]);
    let (command, _) = python_fetch(&mayfly, &root, &python_cache, "trusted_root.json");
    let output = run(command).await;
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("root version 2"),
        "{output:?}"
    );
    node_trusted_root(node_fetch(&mayfly, &root, &node_cache)).await;

    // The served target changed on disk behind the metadata's back: refused by fresh clients.
    let targets = mayfly.config.data_dir.join("tuf/repository/targets");
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&served));
    let target = targets.join(format!("{hash}.trusted_root.json"));
    let mut tampered = served.clone();
    tampered[served.len() / 2] ^= 1;
    std::fs::write(&target, &tampered).unwrap();
    let (command, out) = python_fetch(
        &mayfly,
        &root,
        &scratch.join("python-2"),
        "trusted_root.json",
    );
    let output = run_failing(command).await;
    assert!(!out.exists() || std::fs::read(&out).unwrap() != tampered);
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(text.contains("hash") || text.contains("length"), "{text}");
    let output = run_failing(node_fetch(&mayfly, &root, &scratch.join("node-2"))).await;
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("refused"),
        "{output:?}"
    );
    mayfly.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tuf_paths_outside_the_repository_are_not_served() {
    let mayfly = Mayfly::builder().start().await;
    let client = &mayfly.client;
    for path in [
        "/tuf/1.root.json",
        "/tuf/..%2Fkeys%2Froot.pk8",
        "/tuf/targets",
        "/tuf/",
    ] {
        let response = client
            .get(format!("{}{path}", mayfly.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    // Without a repository, an update says what to do and creates nothing.
    let output = mayfly_command(mayfly.dir.path())
        .args(["tuf", "update", "--timestamp-only", "--data-dir"])
        .arg(&mayfly.config.data_dir)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(text.contains("mayfly tuf init"), "{text}");
    assert!(!mayfly.config.data_dir.join("tuf").exists());
    mayfly.stop().await;
}

/// The hourly `tuf update --timestamp-only` stopped running and the timestamp role expired:
/// python-tuf (sigstore-python's client) and `@sigstore/tuf` refuse the repository, though
/// every other role is still valid, and accept it again once the timestamp is re-signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_timestamp_is_refused_until_it_is_re_signed() {
    use mayfly::instance::{DataDir, PublicUrl};
    use mayfly::tuf::repository::{Expiries, KeyDirs, Publish, publish_trust};
    let mayfly = Mayfly::builder().dev_issuer().start().await;
    let scratch = mayfly.dir.path().join("clients");
    let offline = mayfly.dir.path().join("offline-keys");
    std::fs::create_dir_all(&scratch).unwrap();

    // Signed two days ago: the timestamp (valid one day) expired yesterday; snapshot (a week),
    // targets and root have not.
    let data_dir = DataDir::new(&mayfly.config.data_dir);
    let keys = KeyDirs::new(&data_dir, Some(&offline));
    let url = PublicUrl::new(mayfly.config.public_url.clone()).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let signed_at = now - time::Duration::days(2);
    publish_trust(
        &data_dir,
        &keys,
        &url,
        true,
        Publish::Init,
        signed_at,
        &Expiries::default(),
    )
    .unwrap();
    let expires = |role: &Value| {
        let at = role["signed"]["expires"].as_str().unwrap();
        time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).unwrap()
    };
    assert!(expires(&mayfly.get_json("/tuf/timestamp.json").await) < now);
    assert!(expires(&mayfly.get_json("/tuf/1.snapshot.json").await) > now);

    let root = scratch.join("1.root.json");
    std::fs::write(&root, mayfly.get_bytes("/tuf/1.root.json").await).unwrap();
    let python_cache = scratch.join("python");
    let (command, out) = python_fetch(&mayfly, &root, &python_cache, "trusted_root.json");
    let output = run_failing(command).await;
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(text.contains("ExpiredMetadataError"), "{text}");
    assert!(text.contains("timestamp"), "{text}");
    assert!(!out.exists(), "nothing downloaded");
    let node_cache = scratch.join("node");
    let output = run_failing(node_fetch(&mayfly, &root, &node_cache)).await;
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains("refused") && text.contains("expired"),
        "{text}"
    );

    // The cron job runs again: a fresh timestamp, and both clients update.
    let resigned = mayfly_tuf(&mayfly, &offline, &["update", "--timestamp-only"]);
    assert!(resigned.contains("timestamp re-signed"), "{resigned}");
    let (command, out) = python_fetch(&mayfly, &root, &python_cache, "trusted_root.json");
    run(command).await;
    assert_eq!(
        std::fs::read(&out).unwrap(),
        mayfly.get_bytes("/trust/trusted_root.json").await
    );
    let js = node_trusted_root(node_fetch(&mayfly, &root, &node_cache)).await;
    assert_eq!(authorities(&js), 1, "{js}");
    mayfly.stop().await;
}

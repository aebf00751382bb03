//! The stock npm CLI (`npm publish --provenance`, whatever npm is on PATH) publishing with
//! provenance from a private Mayfly, through `deploy/npm/mayfly-preload.cjs`, to a stand-in
//! registry that records the PUT. The provenance bundle npm attached is then verified with the
//! real `@sigstore/verify` against Mayfly's trusted root, and its statement checked against the
//! tarball npm uploaded.

mod support;

use axum::extract::State;
use axum::routing::put;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use std::process::Command;
use std::sync::{Arc, Mutex};
use support::clients::{Clients, run, stdout_json};
use support::{Mayfly, github_actions_env};

const NAME: &str = "mayfly-provenance-probe";
const VERSION: &str = "1.0.0";
const SAN: &str =
    "https://github.com/octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main";

/// A registry that accepts one publish and remembers its body; everything else is a 404, which
/// npm treats as "no such package yet" (and its trusted-publishing attempt as unavailable).
async fn start_registry() -> (String, Arc<Mutex<Option<Value>>>) {
    let published = Arc::new(Mutex::new(None));
    let app = axum::Router::new()
        .route(
            "/{name}",
            put(
                async |State(store): State<Arc<Mutex<Option<Value>>>>,
                       axum::Json(body): axum::Json<Value>| {
                    *store.lock().unwrap() = Some(body);
                    axum::Json(serde_json::json!({"ok": true}))
                },
            ),
        )
        .fallback(async || {
            (
                axum::http::StatusCode::NOT_FOUND,
                axum::Json(serde_json::json!({"error": "not found"})),
            )
        })
        .with_state(published.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, published)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_publish_provenance_uses_a_private_mayfly() {
    let clients = Clients::get();
    let mayfly = Mayfly::start(None, true).await;
    let (registry, published) = start_registry().await;
    let package = mayfly.dir.path().join("package");
    std::fs::create_dir_all(&package).unwrap();
    std::fs::write(
        package.join("package.json"),
        format!(
            r#"{{"name":"{NAME}","version":"{VERSION}","repository":{{"type":"git","url":"git+https://github.com/octo-org/octo-repo.git"}}}}"#
        ),
    )
    .unwrap();
    std::fs::write(package.join("index.js"), "module.exports = 42;\n").unwrap();

    let preload = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/npm/mayfly-preload.cjs");
    let host = registry.trim_start_matches("http://").trim_end_matches('/');
    let mut npm = Command::new("npm");
    npm.current_dir(&package)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", mayfly.dir.path())
        .env("npm_config_cache", mayfly.dir.path().join("npm-cache"))
        .env("NODE_OPTIONS", format!("--require {preload}"))
        .env("MAYFLY_URL", &mayfly.url)
        // GitHub Actions, as npm's provenance code reads it.
        .envs(github_actions_env(&mayfly.url))
        .args([
            "publish",
            "--provenance",
            "--access",
            "public",
            "--registry",
        ])
        .arg(&registry)
        .arg(format!("--//{host}/:_authToken=test-token"));
    let output = run(npm).await;
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(log.contains("Provenance statement published"), "{log}");

    // What npm uploaded: the tarball and the provenance bundle beside it.
    let body = published.lock().unwrap().take().expect("npm published");
    let attachments = &body["_attachments"];
    let tarball = STANDARD
        .decode(
            attachments[format!("{NAME}-{VERSION}.tgz")]["data"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let sigstore = &attachments[format!("{NAME}-{VERSION}.sigstore")];
    assert_eq!(
        sigstore["content_type"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );
    let bundle: Value = serde_json::from_str(sigstore["data"].as_str().unwrap()).unwrap();
    let entry = &bundle["verificationMaterial"]["tlogEntries"][0];
    assert_eq!(entry["kindVersion"]["kind"], "dsse");

    // The entry is in this Mayfly's artifact log.
    // Never index 0 (the log's genesis entry), so sigstore-js keeps the field.
    let index = entry["logIndex"]
        .as_str()
        .expect("logIndex is in the bundle");
    assert_ne!(index, "0");
    let logged = mayfly
        .get_json(&format!("/api/v1/log/entries?logIndex={index}"))
        .await;
    let (_, logged) = logged.as_object().unwrap().iter().next().unwrap();
    assert_eq!(logged["body"], entry["canonicalizedBody"]);

    // The real sigstore-js verifier accepts it against Mayfly's trust root…
    let dir = mayfly.dir.path();
    let bundle_path = dir.join("provenance.sigstore.json");
    std::fs::write(&bundle_path, serde_json::to_vec(&bundle).unwrap()).unwrap();
    let root = mayfly.trust_file("trusted_root.json").await;
    let mut verify = clients.node_script("verify.cjs");
    verify
        .arg(&root)
        .arg(&bundle_path)
        .arg(SAN)
        .arg(mayfly.dev_issuer_url());
    let verified = stdout_json(&run(verify).await);
    assert_eq!(verified["kind"], "dsse");
    assert_eq!(verified["san"], SAN);

    // …and the statement names the package npm uploaded, by PURL and sha512.
    let payload = STANDARD
        .decode(bundle["dsseEnvelope"]["payload"].as_str().unwrap())
        .unwrap();
    let statement: Value = serde_json::from_slice(&payload).unwrap();
    let subject = &statement["subject"][0];
    assert_eq!(subject["name"], format!("pkg:npm/{NAME}@{VERSION}"));
    let sha512 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, &tarball);
    assert_eq!(subject["digest"]["sha512"], hex::encode(sha512.as_ref()));
    assert_eq!(
        statement["predicate"]["buildDefinition"]["externalParameters"]["workflow"]["repository"],
        "https://github.com/octo-org/octo-repo"
    );

    // `mayfly verify npm` accepts what the stock npm CLI made: the registry-side checks
    // (PURL, sha512, the certificate's repository, ref and runner against the statement) and
    // the identity.
    let tarball_path = dir.join(format!("{NAME}-{VERSION}.tgz"));
    std::fs::write(&tarball_path, &tarball).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_mayfly"))
        .args(["verify", "npm"])
        .arg(&tarball_path)
        .arg(&bundle_path)
        .arg("--trusted-root")
        .arg(&root)
        .args(["--cert-identity", SAN, "--cert-oidc-issuer"])
        .arg(mayfly.dev_issuer_url())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(&format!("pkg:npm/{NAME}@{VERSION}")),
        "{stdout}"
    );
    mayfly.stop().await;
}

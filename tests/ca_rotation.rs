//! CA rotation: `mayfly ca rotate` on a running instance's data dir, picked up by a reload.
//! Bundles signed by sigstore-python before and after the switch both verify, in
//! sigstore-python and in `mayfly verify`, against the trusted root served after it.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::Mayfly;
use support::clients::{Clients, run};
use support::process::mayfly_command;

/// The dev issuer's GitHub-Actions identity.
const SAN: &str =
    "https://github.com/octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main";

fn rotate(mayfly: &Mayfly, args: &[&str]) -> (bool, String) {
    let mut command = mayfly_command(mayfly.dir.path());
    command
        .args(["ca", "rotate", "--data-dir"])
        .arg(&mayfly.config.data_dir)
        .args(args);
    outcome(command)
}

/// Success, and stdout followed by stderr.
fn outcome(mut command: Command) -> (bool, String) {
    let output = command.output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

/// sigstore-python signs `name` with a fresh CI token; returns the artifact and its bundle.
async fn python_sign(mayfly: &Mayfly, name: &str) -> (PathBuf, PathBuf) {
    let trust_config = mayfly.trust_file("client_trust_config.json").await;
    let artifact = mayfly.dir.path().join(name);
    std::fs::write(&artifact, format!("{name}\n")).unwrap();
    let bundle = mayfly.dir.path().join(format!("{name}.sigstore.json"));
    let mut command = Clients::get().python_cli();
    command
        .arg("--trust-config")
        .arg(&trust_config)
        .args([
            "sign",
            "--identity-token",
            &mayfly.ci_token().await,
            "--bundle",
        ])
        .arg(&bundle)
        .arg(&artifact);
    run(command).await;
    (artifact, bundle)
}

/// The issuing intermediate's subject CN, from the bundle's leaf certificate.
fn issuer_common_name(bundle: &Path) -> String {
    let bundle: Value = serde_json::from_slice(&std::fs::read(bundle).unwrap()).unwrap();
    let leaf = &bundle["verificationMaterial"]["certificate"]["rawBytes"];
    let der = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        leaf.as_str().unwrap(),
    )
    .unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let name = cert.issuer().iter_common_name().next().unwrap();
    name.as_str().unwrap().to_owned()
}

async fn verify_everywhere(mayfly: &Mayfly, artifact: &Path, bundle: &Path) {
    let trust_config = mayfly.trust_file("client_trust_config.json").await;
    let trusted_root = mayfly.trust_file("trusted_root.json").await;
    let issuer = mayfly.dev_issuer_url();
    let mut python = Clients::get().python_cli();
    python
        .arg("--trust-config")
        .arg(&trust_config)
        .args(["verify", "identity", "--offline", "--bundle"])
        .arg(bundle)
        .args(["--cert-identity", SAN, "--cert-oidc-issuer", &issuer])
        .arg(artifact);
    let output = run(python).await;
    let text = String::from_utf8_lossy(&output.stderr).to_string()
        + &String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("OK"), "sigstore-python: {text}");

    let mut ours: Command = mayfly_command(mayfly.dir.path());
    ours.arg("verify")
        .arg(bundle)
        .arg("--artifact")
        .arg(artifact)
        .arg("--trusted-root")
        .arg(&trusted_root)
        .args(["--cert-identity", SAN, "--cert-oidc-issuer", &issuer]);
    let (ok, output) = outcome(ours);
    assert!(ok, "mayfly verify: {output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundles_from_before_and_after_a_rotation_both_verify() {
    let mayfly = Mayfly::builder().dev_issuer().start().await;
    let (before_artifact, before) = python_sign(&mayfly, "before.txt").await;
    assert_eq!(issuer_common_name(&before), "mayfly-intermediate");

    let (ok, output) = rotate(&mayfly, &[]);
    assert!(ok, "{output}");
    assert!(
        output.contains("CA generation 2 (root of generation 1)"),
        "{output}"
    );
    mayfly.reloader.reload().unwrap();

    let (after_artifact, after) = python_sign(&mayfly, "after.txt").await;
    assert_eq!(issuer_common_name(&after), "mayfly-intermediate-2");

    // Both generations are published, the first one's window closed once its last
    // certificate has expired, under the one root.
    let bundle = mayfly.get_json("/api/v2/trustBundle").await;
    assert_eq!(bundle["chains"].as_array().unwrap().len(), 2, "{bundle}");
    let root = mayfly.get_json("/trust/trusted_root.json").await;
    let authorities = root["certificateAuthorities"].as_array().unwrap();
    assert_eq!(authorities.len(), 2, "{root}");
    let end = |ca: &Value| ca["validFor"]["end"].as_str().unwrap().to_owned();
    assert!(end(&authorities[0]) < end(&authorities[1]), "{root}");
    let root_of = |ca: &Value| ca["certChain"]["certificates"][1]["rawBytes"].clone();
    assert_eq!(root_of(&authorities[0]), root_of(&authorities[1]));

    verify_everywhere(&mayfly, &before_artifact, &before).await;
    verify_everywhere(&mayfly, &after_artifact, &after).await;
    mayfly.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_root_takes_over_at_its_time_and_a_restart_keeps_the_schedule() {
    let mut mayfly = Mayfly::builder().dev_issuer().start().await;
    let in_an_hour = (time::OffsetDateTime::now_utc() + time::Duration::hours(1))
        .replace_nanosecond(0)
        .unwrap();
    let at = in_an_hour
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (ok, output) = rotate(&mayfly, &["--new-root", "--at", &at]);
    assert!(ok, "{output}");
    mayfly.reloader.reload().unwrap();

    // Scheduled, published, not yet signing.
    let root = mayfly.get_json("/trust/trusted_root.json").await;
    let authorities = root["certificateAuthorities"].as_array().unwrap();
    assert_eq!(authorities.len(), 2, "{root}");
    assert_eq!(authorities[1]["validFor"]["start"], at.as_str());
    assert_ne!(
        authorities[0]["certChain"]["certificates"][1],
        authorities[1]["certChain"]["certificates"][1],
        "a new root"
    );
    let (before_artifact, before) = python_sign(&mayfly, "still-one.txt").await;
    assert_eq!(issuer_common_name(&before), "mayfly-intermediate");
    verify_everywhere(&mayfly, &before_artifact, &before).await;

    // A restart loads the same schedule from the data dir.
    mayfly.shut_down().await;
    let reopened = mayfly::server::Instance::open(&mayfly.config, None)
        .await
        .unwrap();
    let numbers: Vec<u32> = reopened
        .state
        .issuer
        .authorities()
        .generations()
        .iter()
        .map(|g| g.number)
        .collect();
    assert_eq!(numbers, [1, 2]);
    reopened.close().await;
}

#[tokio::test]
async fn rotations_that_would_break_verification_are_refused_and_change_nothing() {
    let mayfly = Mayfly::builder().dev_issuer().start().await;
    let schedule = mayfly.config.data_dir.join("ca/generations.json");

    let (ok, output) = rotate(&mayfly, &["--at", "2020-01-01T00:00:00Z"]);
    assert!(!ok);
    assert!(output.contains("in the past"), "{output}");
    let (ok, output) = rotate(&mayfly, &["--at", "tomorrow"]);
    assert!(!ok);
    assert!(output.contains("RFC 3339"), "{output}");
    let (ok, output) = rotate(&mayfly, &["--root-key", "/nonexistent/root.key.pem"]);
    assert!(!ok);
    assert!(output.contains("/nonexistent/root.key.pem"), "{output}");
    assert!(!schedule.exists(), "a refused rotation schedules nothing");

    // An ephemeral instance has nothing on disk to rotate.
    let empty = tempfile::tempdir().unwrap();
    let mut command = mayfly_command(empty.path());
    command
        .args(["ca", "rotate", "--data-dir"])
        .arg(empty.path());
    let (ok, output) = outcome(command);
    assert!(!ok);
    assert!(output.contains("holds no CA"), "{output}");
    mayfly.stop().await;
}

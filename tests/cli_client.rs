//! The companion client as a user runs it: the `mayfly` binary's `demo`, `attest` and
//! `verify` subcommands, their exit codes and what they print.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::{Mayfly, github_actions_env};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/sigstore-public");
const WHEEL_SAN: &str =
    "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2";
const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
const SAN: &str =
    "https://github.com/octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main";

fn mayfly() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mayfly"));
    // Nothing from a surrounding CI job may leak into the client.
    for var in [
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "SIGSTORE_ID_TOKEN",
        "GITHUB_ACTIONS",
        "GITLAB_CI",
        "MAYFLY_LOG",
    ] {
        command.env_remove(var);
    }
    command
}

fn output_of(command: &mut Command) -> (Output, String, String) {
    let output = command.output().expect("run mayfly");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

fn vector(name: &str) -> PathBuf {
    Path::new(VECTORS).join(name)
}

#[test]
fn demo_runs_the_whole_flow_and_cleans_up() {
    let (output, stdout, stderr) = output_of(mayfly().arg("demo"));
    assert!(output.status.success(), "{stdout}{stderr}");
    for needle in [
        "1. Mayfly is serving at http://127.0.0.1:",
        "4. verified the bundle offline",
        "Source Repository URI",
        "https://github.com/octo-org/octo-repo",
        "issuance log    precertificate at index 0",
        "artifact log    dsse entry at index 1",
        "all steps passed",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
    let data_dir = stdout
        .lines()
        .next()
        .and_then(|line| line.split("(data dir ").nth(1))
        .map(|rest| PathBuf::from(rest.trim_end_matches(')')))
        .expect("the demo names its data dir");
    assert!(
        !data_dir.exists(),
        "{} should have been removed",
        data_dir.display()
    );

    let (output, stdout, stderr) = output_of(mayfly().args(["demo", "--keep"]));
    assert!(output.status.success(), "{stdout}{stderr}");
    let kept = stdout
        .lines()
        .find_map(|line| line.strip_prefix("kept everything in "))
        .map(PathBuf::from)
        .expect("--keep says where");
    assert!(kept.join("mayfly-demo-1.0.0.sigstore").is_file());
    assert!(kept.join("data/mayfly.db").is_file());
    std::fs::remove_dir_all(kept).unwrap();
}

#[test]
fn verify_accepts_a_real_public_good_bundle_and_names_the_failed_check() {
    let verify = |artifact: &Path, san: &str| {
        let mut command = mayfly();
        command
            .arg("verify")
            .arg(vector("github-signed.whl.sigstore"))
            .arg("--artifact")
            .arg(artifact)
            .arg("--trusted-root")
            .arg(vector("trusted_root.public-good.json"))
            .args(["--cert-identity", san, "--cert-oidc-issuer", GITHUB_ISSUER]);
        output_of(&mut command)
    };
    let (output, stdout, stderr) = verify(&vector("github-signed.whl"), WHEEL_SAN);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("verified hashedrekord entry"), "{stdout}");
    assert!(
        stdout.contains("https://github.com/trailofbits/rfc8785.py"),
        "{stdout}"
    );

    // One flipped bit in the artifact: refused, naming the artifact check.
    let tmp = tempfile::tempdir().unwrap();
    let mut wheel = std::fs::read(vector("github-signed.whl")).unwrap();
    wheel[100] ^= 1;
    let tampered = tmp.path().join("tampered.whl");
    std::fs::write(&tampered, wheel).unwrap();
    let (output, _, stderr) = verify(&tampered, WHEEL_SAN);
    assert!(!output.status.success());
    assert!(stderr.contains("verification failed: artifact"), "{stderr}");

    // Someone else's identity: refused, naming the identity check.
    let (output, _, stderr) = verify(&vector("github-signed.whl"), SAN);
    assert!(!output.status.success());
    assert!(stderr.contains("identity"), "{stderr}");

    // A digest works in place of the file.
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        &std::fs::read(vector("github-signed.whl")).unwrap(),
    );
    let (output, stdout, stderr) = output_of(
        mayfly()
            .arg("verify")
            .arg(vector("github-signed.whl.sigstore"))
            .arg("--digest")
            .arg(format!("sha256:{}", hex::encode(digest.as_ref())))
            .arg("--trusted-root")
            .arg(vector("trusted_root.public-good.json"))
            .args([
                "--cert-identity-regexp",
                "https://github.com/trailofbits/.*",
                "--cert-oidc-issuer",
                GITHUB_ISSUER,
            ]),
    );
    assert!(output.status.success(), "{stdout}{stderr}");
}

/// A minimal npm package tarball, as `npm pack` lays it out.
fn write_tarball(path: &Path, name: &str, version: &str, description: &str) {
    let manifest =
        format!(r#"{{"name":"{name}","version":"{version}","description":"{description}"}}"#);
    let gzip = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::default(),
    );
    let mut tar = tar::Builder::new(gzip);
    let mut header = tar::Header::new_gnu();
    header.set_size(manifest.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "package/package.json", manifest.as_bytes())
        .unwrap();
    tar.into_inner().unwrap().finish().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attest_npm_in_a_github_job_then_verify_npm() {
    let server = Mayfly::start(None, true).await;
    let dir = server.dir.path().to_owned();
    let tarball = dir.join("widget-2.0.0.tgz");
    write_tarball(&tarball, "@acme/widget", "2.0.0", "the real one");
    let root = server.trust_file("trusted_root.json").await;
    let url = server.url.clone();
    let issuer = server.dev_issuer_url();

    let run = move |args: Vec<std::ffi::OsString>, github: bool| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            let mut command = mayfly();
            command.args(args);
            if github {
                command.envs(github_actions_env(&url));
            }
            output_of(&mut command)
        })
    };

    // Outside CI there is no token: a clear refusal, and no bundle.
    let (output, _, stderr) = run(
        vec![
            "attest".into(),
            "npm".into(),
            tarball.clone().into(),
            "--server".into(),
            server.url.clone().into(),
        ],
        false,
    )
    .await
    .unwrap();
    assert!(!output.status.success());
    assert!(stderr.contains("GitHub Actions"), "{stderr}");
    assert_eq!(
        stderr.matches("needs a CI build").count(),
        1,
        "said once: {stderr}"
    );
    assert!(!dir.join("acme-widget-2.0.0.sigstore").exists());

    // In a GitHub Actions job: the bundle lands beside the tarball.
    let (output, stdout, stderr) = run(
        vec![
            "attest".into(),
            "npm".into(),
            tarball.clone().into(),
            "--server".into(),
            server.url.clone().into(),
        ],
        true,
    )
    .await
    .unwrap();
    assert!(output.status.success(), "{stdout}{stderr}");
    let bundle = dir.join("acme-widget-2.0.0.sigstore");
    assert!(bundle.is_file(), "{stdout}");

    // …and verifies as npm provenance for that tarball, from that workflow.
    let verify_args = |tarball: &Path| -> Vec<std::ffi::OsString> {
        vec![
            "verify".into(),
            "npm".into(),
            tarball.into(),
            bundle.clone().into(),
            "--trusted-root".into(),
            root.clone().into(),
            "--cert-identity".into(),
            SAN.into(),
            "--cert-oidc-issuer".into(),
            issuer.clone().into(),
        ]
    };
    let (output, stdout, stderr) = run(verify_args(&tarball), false).await.unwrap();
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("pkg:npm/%40acme/widget@2.0.0"), "{stdout}");

    // Another tarball with the same name and version: the sha512 no longer matches.
    let other = dir.join("other.tgz");
    write_tarball(&other, "@acme/widget", "2.0.0", "a substitute");
    let (output, _, stderr) = run(verify_args(&other), false).await.unwrap();
    assert!(!output.status.success());
    assert!(stderr.contains("sha512"), "{stderr}");
    server.stop().await;
}

/// `--key` verifies a bundle signed with a managed key (the npm registry's publish
/// attestation); another key is refused naming the body check; `--key` with an identity is a
/// usage error. The real Rekor v2 bundle verifies through the CLI too.
#[test]
fn verify_with_key_and_rekor_v2() {
    let with_key = |key: &Path| {
        output_of(
            mayfly()
                .arg("verify")
                .arg(vector("npm-sigstore-1.3.0-publish.sigstore.json"))
                .arg("--trusted-root")
                .arg(vector("trusted_root.public-good.json"))
                .arg("--key")
                .arg(key),
        )
    };
    let (output, stdout, stderr) = with_key(&vector("npm-registry-publish-key.pub"));
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("verified intoto entry"), "{stdout}");
    assert!(stdout.contains("key       SHA256:"), "{stdout}");

    let tmp = tempfile::tempdir().unwrap();
    let other = tmp.path().join("other.pub");
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    std::fs::write(&other, key.public_key_pem()).unwrap();
    let (output, _, stderr) = with_key(&other);
    assert!(!output.status.success());
    assert!(
        stderr.contains("verification failed: tlog body: logged key is not the given public key"),
        "{stderr}"
    );

    let (output, _, stderr) = output_of(
        mayfly()
            .arg("verify")
            .arg(vector("npm-sigstore-1.3.0-publish.sigstore.json"))
            .arg("--trusted-root")
            .arg(vector("trusted_root.public-good.json"))
            .arg("--key")
            .arg(vector("npm-registry-publish-key.pub"))
            .args(["--cert-identity", SAN]),
    );
    assert!(!output.status.success());
    assert!(stderr.contains("cannot be used with"), "{stderr}");

    let (output, stdout, stderr) = output_of(
        mayfly()
            .arg("verify")
            .arg(vector("staging-rekor-v2.txt.sigstore.json"))
            .arg("--artifact")
            .arg(vector("staging-rekor-v2.txt"))
            .arg("--trusted-root")
            .arg(vector("trusted_root.staging.json"))
            .args([
                "--cert-identity",
                "jku@goto.fi",
                "--cert-oidc-issuer",
                "https://github.com/login/oauth",
            ]),
    );
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("verified hashedrekord entry 645"),
        "{stdout}"
    );
}

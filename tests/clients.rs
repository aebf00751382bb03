//! Real Sigstore clients against a running Mayfly (`--dev-issuer`): sigstore-python (CLI and
//! API) and sigstore-js (the library npm runs, `@sigstore/verify`, `@sigstore/cli`) sign
//! through our Fulcio and Rekor APIs, and every bundle is verified by its own client and,
//! where the entry kind allows, by the other one. Clients get only what a real deployment
//! hands them: `/trust/*` documents and a CI-shaped OIDC token.
//!
//! The clients are installed by `tests/clients/install.sh` (see `support::clients`); their
//! absence fails these tests.

mod support;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use support::Mayfly;
use support::clients::{Clients, run, run_failing, stdout_json};

use support::backend::Backend;

// Every test below runs twice: on SQLite and on PostgreSQL (tests/support/backend.rs).
on_both_backends!(
    python_sign_verifies_in_python_and_js(flavor = "multi_thread", worker_threads = 2),
    python_attest_verifies_in_python_and_js(flavor = "multi_thread", worker_threads = 2),
    js_attest_verifies_in_js_and_python(flavor = "multi_thread", worker_threads = 2),
    js_sign_verifies_in_js_and_python(flavor = "multi_thread", worker_threads = 2),
    sigstore_cli_attest_verifies_in_js(flavor = "multi_thread", worker_threads = 2),
    first_entry_of_a_fresh_log_verifies_in_python(flavor = "multi_thread", worker_threads = 2),
);

/// The dev issuer's GitHub-Actions identity: `https://github.com/` + `job_workflow_ref`.
const SAN: &str =
    "https://github.com/octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main";

/// A server plus the files a client run needs.
struct Setup {
    mayfly: Mayfly,
    clients: &'static Clients,
    trust_config: PathBuf,
    trusted_root: PathBuf,
    issuer: String,
    token: String,
}

impl Setup {
    async fn start() -> Setup {
        let clients = Clients::get();
        let mayfly = Mayfly::start(None, true).await;
        let trust_config = mayfly.trust_file("client_trust_config.json").await;
        let trusted_root = mayfly.trust_file("trusted_root.json").await;
        let token = mayfly.ci_token().await;
        Setup {
            issuer: mayfly.dev_issuer_url(),
            clients,
            trust_config,
            trusted_root,
            token,
            mayfly,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.mayfly.dir.path().join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// `sigstore --trust-config … <args>`.
    fn python(&self, args: &[&str]) -> std::process::Command {
        let mut command = self.clients.python_cli();
        command
            .arg("--trust-config")
            .arg(&self.trust_config)
            .args(args);
        command
    }

    async fn python_verify_identity(&self, bundle: &Path, file: &Path, offline: bool) {
        let mut args = vec!["verify", "identity"];
        if offline {
            args.push("--offline");
        }
        let mut command = self.python(&args);
        command
            .arg("--bundle")
            .arg(bundle)
            .args(["--cert-identity", SAN, "--cert-oidc-issuer", &self.issuer])
            .arg(file);
        let output = run(command).await;
        let text = String::from_utf8_lossy(&output.stderr).to_string()
            + &String::from_utf8_lossy(&output.stdout);
        assert!(text.contains("OK"), "{text}");
    }

    /// sigstore-python's API `Verifier.verify_dsse` with an identity policy.
    async fn python_verify_dsse(&self, bundle: &Path) -> Value {
        let mut command = self.clients.python_script("verify_dsse.py");
        command
            .arg(&self.trust_config)
            .arg(bundle)
            .args([SAN, &self.issuer]);
        stdout_json(&run(command).await)
    }

    /// `@sigstore/verify` against our trusted_root.json with a SAN and issuer policy.
    async fn js_verify(&self, bundle: &Path, artifact: Option<&Path>) -> Value {
        let mut command = self.clients.node_script("verify.cjs");
        command
            .arg(&self.trusted_root)
            .arg(bundle)
            .args([SAN, &self.issuer]);
        if let Some(artifact) = artifact {
            command.arg(artifact);
        }
        let verified = stdout_json(&run(command).await);
        assert_eq!(verified["san"], SAN);
        assert_eq!(verified["issuer"], self.issuer.as_str());
        verified
    }

    /// The sigstore-js library (`sign` or `attest`) with our URLs and the CI token.
    async fn js_sign(&self, mode: &str, input: &Path, bundle: &Path) {
        let mut command = self.clients.node_script("sign.cjs");
        command
            .args([mode, &self.mayfly.url, &self.token])
            .arg(input)
            .arg(bundle);
        run(command).await;
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// How many RFC 3161 timestamps the bundle carries.
fn timestamps(bundle: &Value) -> usize {
    bundle["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
        .as_array()
        .map_or(0, Vec::len)
}

fn kind_of(bundle: &Value) -> (String, String) {
    let kv = &bundle["verificationMaterial"]["tlogEntries"][0]["kindVersion"];
    (
        kv["kind"].as_str().unwrap().to_owned(),
        kv["version"].as_str().unwrap().to_owned(),
    )
}

/// An in-toto statement about `name` with SHA-256 `digest` and a minimal SLSA v1 predicate.
fn statement(name: &str, digest_hex: &str) -> Value {
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": name, "digest": {"sha256": digest_hex}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": slsa_predicate(),
    })
}

fn slsa_predicate() -> Value {
    json!({
        "buildDefinition": {
            "buildType": "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1",
            "externalParameters": {"workflow": {
                "ref": "refs/heads/main",
                "repository": "https://github.com/octo-org/octo-repo",
                "path": ".github/workflows/release.yml",
            }},
            "internalParameters": {},
            "resolvedDependencies": [],
        },
        "runDetails": {
            "builder": {"id": "https://github.com/actions/runner/github-hosted"},
            "metadata": {"invocationId": "https://github.com/octo-org/octo-repo/actions/runs/1/attempts/1"},
        },
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// sigstore-python `sign` with the default signing config (Rekor v2, hashedrekord 0.0.2, with
/// a Mayfly timestamp) and with `--rekor-version 1` (hashedrekord 0.0.1): verified by its own
/// CLI, online and `--offline`, and by `@sigstore/verify`. A tampered artifact is rejected by
/// both.
async fn python_sign_verifies_in_python_and_js() {
    let s = Setup::start().await;
    let artifact = s.write("artifact.txt", b"mayfly python sign\n");
    for (rekor_version, kind_version) in [(None, "0.0.2"), (Some("1"), "0.0.1")] {
        let bundle = s.path(&format!("artifact.txt.{kind_version}.sigstore.json"));
        let mut args = vec!["sign"];
        if let Some(version) = rekor_version {
            args.extend(["--rekor-version", version]);
        }
        args.extend(["--identity-token", &s.token, "--bundle"]);
        let mut command = s.python(&args);
        command.arg(&bundle).arg(&artifact);
        run(command).await;
        let parsed = read_json(&bundle);
        assert_eq!(
            kind_of(&parsed),
            ("hashedrekord".into(), kind_version.into())
        );
        assert_eq!(
            timestamps(&parsed),
            1,
            "the TSA stamps either way: {parsed}"
        );

        s.python_verify_identity(&bundle, &artifact, false).await;
        s.python_verify_identity(&bundle, &artifact, true).await;
        let verified = s.js_verify(&bundle, Some(&artifact)).await;
        assert_eq!(verified["kind"], "hashedrekord");
        assert_eq!(verified["version"], kind_version);

        let tampered = s.write("tampered.txt", b"mayfly python sign, tampered\n");
        let mut command = s.python(&["verify", "identity", "--bundle"]);
        command
            .arg(&bundle)
            .args(["--cert-identity", SAN, "--cert-oidc-issuer", &s.issuer])
            .arg(&tampered);
        run_failing(command).await;
        let mut command = s.clients.node_script("verify.cjs");
        command
            .arg(&s.trusted_root)
            .arg(&bundle)
            .args([SAN, &s.issuer])
            .arg(&tampered);
        run_failing(command).await;
    }
    // One entry in each log (after its genesis entry).
    assert_eq!(s.mayfly.artifacts_size().await, 2);
    assert_eq!(s.mayfly.state.rekor_v2.checkpoint().size, 2);
    s.mayfly.stop().await;
}

/// sigstore-python `attest` with a SLSA v1 predicate, to Rekor v2 by default (logged as
/// hashedrekord 0.0.2 over the envelope's PAE, as rekor-tiles wants) and with `--rekor-version
/// 1` (dsse 0.0.1): verified by its CLI, by its API (`verify_dsse`), and by
/// `@sigstore/verify`. A wrong identity policy is rejected.
async fn python_attest_verifies_in_python_and_js() {
    let s = Setup::start().await;
    let artifact = s.write("widget.tgz", b"mayfly python attest\n");
    let predicate = s.write(
        "predicate.json",
        serde_json::to_string(&slsa_predicate()).unwrap().as_bytes(),
    );
    for (rekor_version, kind) in [
        (None, ("hashedrekord", "0.0.2")),
        (Some("1"), ("dsse", "0.0.1")),
    ] {
        let bundle = s.path(&format!("widget.tgz.{}.sigstore.json", kind.0));
        let mut args = vec!["attest"];
        if let Some(version) = rekor_version {
            args.extend(["--rekor-version", version]);
        }
        args.push("--predicate");
        let mut command = s.python(&args);
        command
            .arg(&predicate)
            .args(["--predicate-type", "https://slsa.dev/provenance/v1"])
            .args(["--identity-token", &s.token, "--bundle"])
            .arg(&bundle)
            .arg(&artifact);
        run(command).await;
        let parsed = read_json(&bundle);
        assert_eq!(kind_of(&parsed), (kind.0.into(), kind.1.into()));
        assert!(parsed["dsseEnvelope"].is_object(), "{parsed}");

        s.python_verify_identity(&bundle, &artifact, true).await;
        let verified = s.python_verify_dsse(&bundle).await;
        assert_eq!(verified["payloadType"], "application/vnd.in-toto+json");
        assert_eq!(
            verified["statement"]["subject"][0]["digest"]["sha256"],
            sha256_hex(b"mayfly python attest\n")
        );
        assert_eq!(
            s.js_verify(&bundle, None).await["kind"],
            kind.0,
            "sigstore-js verifies python's DSSE bundle"
        );

        let mut command = s.clients.python_script("verify_dsse.py");
        command
            .arg(&s.trust_config)
            .arg(&bundle)
            .args(["https://github.com/someone/else/.github/workflows/x.yml@refs/heads/main"])
            .arg(&s.issuer);
        run_failing(command).await;
    }
    s.mayfly.stop().await;
}

/// sigstore-js `attest` (what `npm publish --provenance` runs; dsse 0.0.1): verified by
/// `@sigstore/verify` and by sigstore-python's API.
async fn js_attest_verifies_in_js_and_python() {
    let s = Setup::start().await;
    let tgz = b"mayfly js attest\n";
    let input = s.write(
        "statement.json",
        serde_json::to_string(&statement("pkg:npm/widget@1.0.0", &sha256_hex(tgz)))
            .unwrap()
            .as_bytes(),
    );
    let bundle = s.path("js-attest.sigstore.json");
    s.js_sign("attest", &input, &bundle).await;
    let parsed = read_json(&bundle);
    assert_eq!(kind_of(&parsed), ("dsse".into(), "0.0.1".into()));
    assert_eq!(
        parsed["mediaType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );

    assert_eq!(s.js_verify(&bundle, None).await["kind"], "dsse");
    let verified = s.python_verify_dsse(&bundle).await;
    assert_eq!(
        verified["statement"]["subject"][0]["name"],
        "pkg:npm/widget@1.0.0"
    );
    s.mayfly.stop().await;
}

/// sigstore-js `sign` (hashedrekord 0.0.1): verified by `@sigstore/verify` and by the
/// sigstore-python CLI.
async fn js_sign_verifies_in_js_and_python() {
    let s = Setup::start().await;
    let artifact = s.write("blob.bin", b"mayfly js sign\n");
    let bundle = s.path("blob.bin.sigstore.json");
    s.js_sign("sign", &artifact, &bundle).await;
    assert_eq!(
        kind_of(&read_json(&bundle)),
        ("hashedrekord".into(), "0.0.1".into())
    );
    assert_eq!(
        s.js_verify(&bundle, Some(&artifact)).await["kind"],
        "hashedrekord"
    );
    s.python_verify_identity(&bundle, &artifact, true).await;
    s.mayfly.stop().await;
}

/// `@sigstore/cli attest` run as in CI (`CI=true SIGSTORE_ID_TOKEN=…`, no flags for the token):
/// an intoto 0.0.2 entry, verified by `@sigstore/verify`. sigstore-python cannot verify intoto
/// entries at all, so it is not asked to.
async fn sigstore_cli_attest_verifies_in_js() {
    let s = Setup::start().await;
    let input = s.write(
        "cli-statement.json",
        serde_json::to_string(&statement("widget.tgz", &sha256_hex(b"cli")))
            .unwrap()
            .as_bytes(),
    );
    let bundle = s.path("cli.sigstore.json");
    let mut command = s.clients.js_cli();
    command
        .arg("attest")
        .arg(&input)
        .args(["--fulcio-url", &s.mayfly.url, "--rekor-url", &s.mayfly.url])
        .args(["--timeout", "30", "-o"])
        .arg(&bundle)
        .env("CI", "true")
        .env("SIGSTORE_ID_TOKEN", &s.token);
    run(command).await;
    assert_eq!(
        kind_of(&read_json(&bundle)),
        ("intoto".into(), "0.0.2".into())
    );
    assert_eq!(s.js_verify(&bundle, None).await["kind"], "intoto");
    s.mayfly.stop().await;
}

/// The first client entry of a fresh instance, a dsse entry as npm's sigstore-js makes it,
/// is at index 1 (index 0 is the log's genesis entry), so the bundle sigstore-js writes for it
/// keeps `logIndex` and its proof hashes, and sigstore-python verifies it. An entry at index 0
/// in a tree of size 1 would lose both (protobuf JSON drops zero values) and sigstore-python
/// would refuse the bundle ("Field required").
async fn first_entry_of_a_fresh_log_verifies_in_python() {
    let s = Setup::start().await;
    let tgz = b"mayfly first entry\n";
    let input = s.write(
        "statement.json",
        serde_json::to_string(&statement("pkg:npm/first@1.0.0", &sha256_hex(tgz)))
            .unwrap()
            .as_bytes(),
    );
    let bundle = s.path("first.sigstore.json");
    s.js_sign("attest", &input, &bundle).await;
    let entry = &read_json(&bundle)["verificationMaterial"]["tlogEntries"][0];
    assert_eq!(entry["logIndex"], "1", "{entry}");
    assert_eq!(entry["inclusionProof"]["treeSize"], "2", "{entry}");
    assert_eq!(
        entry["inclusionProof"]["hashes"].as_array().map(Vec::len),
        Some(1),
        "{entry}"
    );
    let verified = s.python_verify_dsse(&bundle).await;
    assert_eq!(
        verified["statement"]["subject"][0]["name"],
        "pkg:npm/first@1.0.0"
    );
    s.mayfly.stop().await;
}

/// sigstore-python with our signing config (which lists the TSA in `tsaUrls`) asks Mayfly's
/// TSA for an RFC 3161 timestamp of its signature and puts it in the bundle; its own offline
/// verifier and Mayfly's accept the bundle against the served trusted root.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sign_gets_a_mayfly_timestamp() {
    use base64::Engine as _;
    let s = Setup::start().await;
    let artifact = s.write("stamped.txt", b"mayfly python timestamp\n");
    let bundle = s.path("stamped.txt.sigstore.json");
    let mut command = s.python(&["sign", "--identity-token", &s.token, "--bundle"]);
    command.arg(&bundle).arg(&artifact);
    run(command).await;
    let parsed = read_json(&bundle);
    let stamps = parsed["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
        .as_array()
        .unwrap_or_else(|| panic!("no RFC 3161 timestamps in {parsed}"));
    assert_eq!(stamps.len(), 1, "{parsed}");
    // It came from this TSA: signed by the certificate the server publishes, over the
    // bundle's signature.
    let der = base64::engine::general_purpose::STANDARD
        .decode(stamps[0]["signedTimestamp"].as_str().unwrap())
        .unwrap();
    let token = mayfly_spec::tsp::parse_signed_timestamp(&der).unwrap();
    let root = read_json(&s.trusted_root);
    let tsa_leaf = base64::engine::general_purpose::STANDARD
        .decode(
            root["timestampAuthorities"][0]["certChain"]["certificates"][0]["rawBytes"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let (_, leaf) = x509_parser::parse_x509_certificate(&tsa_leaf).unwrap();
    match &token.signer {
        mayfly_spec::tsp::SignerId::IssuerAndSerial { serial, .. } => {
            assert_eq!(serial.as_slice(), leaf.tbs_certificate.raw_serial());
        }
        other => panic!("unexpected signer {other:?}"),
    }
    let signature = base64::engine::general_purpose::STANDARD
        .decode(parsed["messageSignature"]["signature"].as_str().unwrap())
        .unwrap();
    assert_eq!(token.info.hashed_message, sha2_256(&signature));
    assert!(token.info.nonce.is_some(), "sigstore-python sends a nonce");

    s.python_verify_identity(&bundle, &artifact, true).await;
    s.python_verify_identity(&bundle, &artifact, false).await;
    let verified = mayfly_client::verify::verify_bundle(
        &std::fs::read(&bundle).unwrap(),
        Some(&mayfly_client::verify::Artifact::Bytes(
            std::fs::read(&artifact).unwrap(),
        )),
        &std::fs::read(&s.trusted_root).unwrap(),
        &mayfly_client::verify::Policy {
            identity: mayfly_client::verify::IdentityMatcher::Exact(SAN.into()),
            issuer: s.issuer.clone(),
        },
    )
    .unwrap();
    assert_eq!(verified.san, SAN);
    // The same verification fails without the TSA in the trusted root: the timestamp is
    // checked, not ignored.
    let mut untrusting = root.clone();
    untrusting["timestampAuthorities"] = json!([]);
    let refused = mayfly_client::verify::verify_bundle(
        &std::fs::read(&bundle).unwrap(),
        None,
        &serde_json::to_vec(&untrusting).unwrap(),
        &mayfly_client::verify::Policy {
            identity: mayfly_client::verify::IdentityMatcher::Exact(SAN.into()),
            issuer: s.issuer.clone(),
        },
    );
    assert!(
        refused.is_err(),
        "a timestamp from an untrusted TSA must not pass"
    );
    s.mayfly.stop().await;
}

fn sha2_256(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).to_vec()
}

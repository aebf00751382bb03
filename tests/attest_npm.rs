//! `mayfly attest` end to end against a real Mayfly with the dev issuer, in a fake GitHub
//! Actions job (an injected environment whose token endpoint is the dev issuer's): the bundles
//! it writes are checked independently (certificate chain, DSSE signature, the log's record)
//! and then verified by the real clients, `@sigstore/verify` (what npm runs) and
//! sigstore-python's API.

mod support;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mayfly_client::attest::{AttestError, AttestOptions, Attested, Step, Subject, attest};
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha512};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use support::Mayfly;
use support::clients::{Clients, run, stdout_json};

/// The dev issuer's GitHub-Actions identity: `https://github.com/` + `job_workflow_ref`.
const SAN: &str =
    "https://github.com/octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main";

/// A GitHub Actions job environment whose OIDC token endpoint is `mayfly`'s dev issuer.
fn github_env(mayfly: &Mayfly) -> HashMap<String, String> {
    [
        ("GITHUB_ACTIONS", "true"),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "runtime-token"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_REPOSITORY", "octo-org/octo-repo"),
        ("GITHUB_REF", "refs/heads/main"),
        ("GITHUB_SHA", "a3c8e5f1b2d4c6e8f0a1b3c5d7e9f1a2b4c6d8e0"),
        (
            "GITHUB_WORKFLOW_REF",
            "octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main",
        ),
        ("GITHUB_EVENT_NAME", "push"),
        ("GITHUB_REPOSITORY_ID", "123456789"),
        ("GITHUB_REPOSITORY_OWNER_ID", "987654"),
        ("GITHUB_RUN_ID", "4242"),
        ("GITHUB_RUN_ATTEMPT", "1"),
        ("RUNNER_ENVIRONMENT", "github-hosted"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .chain([(
        "ACTIONS_ID_TOKEN_REQUEST_URL".to_owned(),
        format!("{}/dev-oidc/token?", mayfly.url),
    )])
    .collect()
}

fn options(mayfly: &Mayfly) -> AttestOptions {
    AttestOptions {
        server: url::Url::parse(&mayfly.url).unwrap(),
        identity_token: None,
        out: None,
    }
}

/// An `npm pack`-shaped tarball for `name@version`.
fn npm_tarball(dir: &Path, name: &str, version: &str) -> PathBuf {
    let manifest = json!({"name": name, "version": version, "main": "index.js"}).to_string();
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    for (path, contents) in [
        ("package/package.json", manifest.as_bytes()),
        ("package/index.js", b"module.exports = 42;\n".as_slice()),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, path, contents).unwrap();
    }
    let bytes = builder.into_inner().unwrap().finish().unwrap();
    let path = dir.join("package.tgz");
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The DSSE pre-authentication encoding, written out here independently of the crate's.
fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

fn pem_der(pem: &str) -> Vec<u8> {
    support::pem_ders(pem).into_iter().next().unwrap()
}

/// Everything about a bundle that can be checked without a Sigstore client.
async fn check_independently(mayfly: &Mayfly, attested: &Attested) -> Value {
    let bundle: Value =
        serde_json::from_slice(&std::fs::read(&attested.bundle_path).unwrap()).unwrap();
    assert_eq!(
        bundle, attested.bundle,
        "the returned bundle is the written one"
    );
    assert_eq!(
        bundle["mediaType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );

    // The certificate: the one returned, issued by the trust bundle's intermediate, which the
    // root issued.
    let leaf_der = STANDARD
        .decode(
            bundle["verificationMaterial"]["certificate"]["rawBytes"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    assert_eq!(pem_der(&attested.certificate_pem), leaf_der);
    let trust = mayfly.get_json("/api/v2/trustBundle").await;
    let chain: Vec<Vec<u8>> = trust["chains"][0]["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pem| pem_der(pem.as_str().unwrap()))
        .collect();
    let (_, leaf) = x509_parser::parse_x509_certificate(&leaf_der).unwrap();
    let (_, intermediate) = x509_parser::parse_x509_certificate(&chain[0]).unwrap();
    let (_, root) = x509_parser::parse_x509_certificate(chain.last().unwrap()).unwrap();
    leaf.verify_signature(Some(intermediate.public_key()))
        .expect("leaf signed by the intermediate");
    intermediate
        .verify_signature(Some(root.public_key()))
        .expect("intermediate signed by the root");
    assert_eq!(leaf.issuer(), intermediate.subject());

    // The DSSE signature verifies over the PAE under the certificate's key.
    let envelope = &bundle["dsseEnvelope"];
    assert_eq!(envelope["payloadType"], "application/vnd.in-toto+json");
    let payload = STANDARD
        .decode(envelope["payload"].as_str().unwrap())
        .unwrap();
    let signatures = envelope["signatures"].as_array().unwrap();
    assert_eq!(signatures.len(), 1);
    let sig = STANDARD
        .decode(signatures[0]["sig"].as_str().unwrap())
        .unwrap();
    let key = UnparsedPublicKey::new(
        &ECDSA_P256_SHA256_ASN1,
        leaf.public_key().subject_public_key.data.as_ref(),
    );
    key.verify(&pae("application/vnd.in-toto+json", &payload), &sig)
        .expect("DSSE signature over the PAE with the certificate key");
    let statement: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(statement, attested.statement);

    // The log's own record of the entry, fetched by index, is the bundle's.
    let entry = &bundle["verificationMaterial"]["tlogEntries"][0];
    assert_eq!(entry["logIndex"], attested.log_index.to_string());
    assert_eq!(
        entry["kindVersion"],
        json!({"kind": "dsse", "version": "0.0.1"})
    );
    let fetched = mayfly
        .get_json(&format!(
            "/api/v1/log/entries?logIndex={}",
            attested.log_index
        ))
        .await;
    let record = fetched.as_object().unwrap().values().next().unwrap();
    assert_eq!(record["body"], entry["canonicalizedBody"]);
    assert_eq!(record["logIndex"], attested.log_index);
    assert_eq!(
        entry["integratedTime"],
        record["integratedTime"].to_string().as_str()
    );
    let key_id = STANDARD
        .decode(entry["logId"]["keyId"].as_str().unwrap())
        .unwrap();
    assert_eq!(hex::encode(key_id), record["logID"].as_str().unwrap());
    let body: Value = serde_json::from_slice(
        &STANDARD
            .decode(entry["canonicalizedBody"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        body["spec"]["payloadHash"]["value"],
        hex::encode(Sha256::digest(&payload))
    );
    statement
}

/// Both real verifiers accept the bundle for the dev issuer's identity; returns the statement
/// sigstore-python extracted.
async fn verify_with_real_clients(mayfly: &Mayfly, bundle: &Path) -> Value {
    let clients = Clients::get();
    let issuer = mayfly.dev_issuer_url();
    let trusted_root = mayfly.trust_file("trusted_root.json").await;
    let trust_config = mayfly.trust_file("client_trust_config.json").await;

    let mut js = clients.node_script("verify.cjs");
    js.arg(&trusted_root).arg(bundle).args([SAN, &issuer]);
    let verified = stdout_json(&run(js).await);
    assert_eq!(verified["kind"], "dsse");
    assert_eq!(verified["san"], SAN);
    assert_eq!(verified["issuer"], issuer.as_str());

    let mut python = clients.python_script("verify_dsse.py");
    python.arg(&trust_config).arg(bundle).args([SAN, &issuer]);
    let verified = stdout_json(&run(python).await);
    assert_eq!(verified["payloadType"], "application/vnd.in-toto+json");
    verified["statement"].clone()
}

/// npm provenance for a scoped package in a (fake) GitHub Actions job, then a general
/// attestation of a file, each verified independently and by both real clients. The first
/// bundle is the log's entry 0 (tree size 1, no proof hashes), which sigstore-js's own bundles
/// cannot express; ours must load in sigstore-python anyway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_provenance_and_file_attestation_verify_everywhere() {
    let mayfly = Mayfly::start(None, true).await;
    let dir = tempfile::tempdir().unwrap();
    let env = github_env(&mayfly);

    let tarball = npm_tarball(dir.path(), "@acme/widget", "1.2.3");
    let attested = attest(
        Subject::NpmTarball(tarball.clone()),
        &options(&mayfly),
        &env,
    )
    .await
    .unwrap();
    assert_eq!(
        attested.bundle_path,
        dir.path().join("acme-widget-1.2.3.sigstore")
    );
    assert_eq!(attested.log_index, 1, "index 0 is the genesis entry");
    let statement = check_independently(&mayfly, &attested).await;
    let sha512 = hex::encode(Sha512::digest(std::fs::read(&tarball).unwrap()));
    assert_eq!(
        statement["subject"],
        json!([{"name": "pkg:npm/%40acme/widget@1.2.3", "digest": {"sha512": sha512}}])
    );
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(statement["predicateType"], "https://slsa.dev/provenance/v1");
    assert_eq!(
        statement["predicate"]["runDetails"]["builder"]["id"],
        "https://github.com/actions/runner/github-hosted"
    );
    let verified = verify_with_real_clients(&mayfly, &attested.bundle_path).await;
    assert_eq!(verified, statement);

    // A general attestation, bundle path from --out, token from --identity-token.
    let artifact = dir.path().join("app.bin");
    std::fs::write(&artifact, b"mayfly attest general\n").unwrap();
    let out = dir.path().join("custom.sigstore.json");
    let mut opts = options(&mayfly);
    opts.identity_token = Some(mayfly.ci_token().await);
    opts.out = Some(out.clone());
    let attested = attest(
        Subject::File {
            path: artifact.clone(),
            predicate: json!({"builder": {"id": "https://example.com/b"}}),
            predicate_type: "https://example.com/predicate/v1".into(),
        },
        &opts,
        &HashMap::<String, String>::new(),
    )
    .await
    .unwrap();
    assert_eq!(attested.bundle_path, out);
    assert_eq!(attested.log_index, 2);
    let statement = check_independently(&mayfly, &attested).await;
    assert_eq!(
        statement["subject"],
        json!([{"name": "app.bin", "digest": {"sha256": hex::encode(Sha256::digest(b"mayfly attest general\n"))}}])
    );
    assert_eq!(
        verify_with_real_clients(&mayfly, &out).await["predicateType"],
        "https://example.com/predicate/v1"
    );
    mayfly.stop().await;
}

/// Client-side pre-checks fire before the server is asked; server refusals name the step and
/// carry the server's message. No bundle is written in either case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_say_what_went_wrong() {
    let mayfly = Mayfly::start(None, true).await;
    let dir = tempfile::tempdir().unwrap();
    let tarball = npm_tarball(dir.path(), "widget", "1.0.0");
    let no_env = HashMap::<String, String>::new();

    // npm provenance outside CI.
    let err = attest(
        Subject::NpmTarball(tarball.clone()),
        &options(&mayfly),
        &no_env,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, AttestError::NotInCi), "{err}");

    // In CI, but the job lacks `id-token: write` (no token request variables).
    let mut env = github_env(&mayfly);
    env.remove("ACTIONS_ID_TOKEN_REQUEST_URL");
    env.remove("ACTIONS_ID_TOKEN_REQUEST_TOKEN");
    let err = attest(
        Subject::NpmTarball(tarball.clone()),
        &options(&mayfly),
        &env,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("id-token: write"), "{err}");

    // An expired token is refused locally.
    let mut opts = options(&mayfly);
    opts.identity_token = Some(
        mayfly
            .dev_token(&json!({"exp": support::now() - 60, "iat": support::now() - 400, "nbf": support::now() - 400}))
            .await,
    );
    let err = attest(
        Subject::NpmTarball(tarball.clone()),
        &opts,
        &github_env(&mayfly),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, AttestError::TokenExpired { .. }), "{err}");

    // A token for npm's registry rather than Sigstore.
    opts.identity_token = Some(
        mayfly
            .dev_token(&json!({"aud": "npm:registry.npmjs.org"}))
            .await,
    );
    let err = attest(
        Subject::NpmTarball(tarball.clone()),
        &opts,
        &github_env(&mayfly),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, AttestError::WrongAudience { .. }), "{err}");

    // A well-formed token from an issuer the server does not trust: the server refuses, and
    // the error names the step and quotes the server.
    opts.identity_token = Some(
        mayfly
            .dev_token(&json!({"iss": "https://untrusted.example.com"}))
            .await,
    );
    let err = attest(
        Subject::NpmTarball(tarball.clone()),
        &opts,
        &github_env(&mayfly),
    )
    .await
    .unwrap_err();
    match &err {
        AttestError::Server {
            step: Step::SigningCertificate,
            status,
            message,
        } => {
            assert!((400..500).contains(status), "{err}");
            assert!(!message.is_empty() && message != "(no message)", "{err}");
        }
        other => panic!("expected a signing-certificate refusal, got {other:?}"),
    }
    assert!(err.to_string().contains("/api/v2/signingCert"), "{err}");

    // Nothing was written.
    let written: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("sigstore"))
        .collect();
    assert!(written.is_empty());
    mayfly.stop().await;
}

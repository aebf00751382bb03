//! `mayfly serve --issuers`: Fulcio's issuer config, loaded and validated at startup and
//! served at `GET /api/v2/configuration`.

mod support;

use mayfly::ca::setup::CaBackend;
use mayfly::server::{Instance, ServerError};
use serde_json::Value;
use std::path::{Path, PathBuf};
use support::Mayfly;

/// Starts the server and returns the issuers listed by `/api/v2/configuration`.
async fn served_issuers(issuers: Option<&Path>) -> Vec<Value> {
    let mut builder = Mayfly::builder().ca(CaBackend::Ephemeral);
    if let Some(file) = issuers {
        builder = builder.issuers_file(file);
    }
    let mayfly = builder.start().await;
    let body = mayfly.get_json("/api/v2/configuration").await;
    mayfly.stop().await;
    body["issuers"].as_array().expect("issuers array").clone()
}

/// An instance's settings with `issuers`, for starts that must fail.
fn config(data_dir: &Path, issuers: Option<PathBuf>) -> mayfly::server::ServeConfig {
    let mut config = support::serve_config("127.0.0.1:0".parse().unwrap(), data_dir, issuers);
    config.ca = CaBackend::Ephemeral;
    config
}

fn find<'a>(issuers: &'a [Value], field: &str, url: &str) -> &'a Value {
    issuers
        .iter()
        .find(|i| i[field] == url)
        .unwrap_or_else(|| panic!("no issuer with {field} = {url}: {issuers:?}"))
}

#[tokio::test]
async fn the_shipped_config_is_served_in_fulcios_shape() {
    let issuers = served_issuers(None).await;
    let github = find(
        &issuers,
        "issuerUrl",
        "https://token.actions.githubusercontent.com",
    );
    assert_eq!(github["audience"], "sigstore");
    assert_eq!(github["challengeClaim"], "sub");
    assert_eq!(github["issuerType"], "ci-provider");
    assert_eq!(github["skipEmailVerification"], false);
    find(&issuers, "issuerUrl", "https://gitlab.com");
    find(&issuers, "issuerUrl", "https://agent.buildkite.com");
    let enterprise = find(
        &issuers,
        "wildcardIssuerUrl",
        "https://token.actions.githubusercontent.com/*",
    );
    assert_eq!(enterprise["issuerType"], "ci-provider");
    for issuer in &issuers {
        for field in [
            "audience",
            "challengeClaim",
            "spiffeTrustDomain",
            "issuerType",
            "subjectDomain",
            "skipEmailVerification",
        ] {
            assert!(
                issuer.get(field).is_some(),
                "{field} missing (Fulcio emits empty fields): {issuer}"
            );
        }
    }
}

#[tokio::test]
async fn an_existing_fulcio_json_config_works_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fulcio-config.json");
    std::fs::write(
        &file,
        r#"{"OIDCIssuers": {"http://127.0.0.1:5556/dex": {
              "IssuerURL": "http://127.0.0.1:5556/dex", "ClientID": "corp-signing", "Type": "email"}}}"#,
    )
    .unwrap();
    let issuers = served_issuers(Some(&file)).await;
    assert_eq!(issuers.len(), 1);
    let corp = find(&issuers, "issuerUrl", "http://127.0.0.1:5556/dex");
    assert_eq!(corp["audience"], "corp-signing");
    assert_eq!(corp["challengeClaim"], "email");
    assert_eq!(corp["issuerType"], "email");
}

#[tokio::test]
async fn a_bad_issuer_config_refuses_to_start_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("issuers.yaml");
    std::fs::write(
        &file,
        "oidc-issuers:\n  http://idp.example.com:\n    issuer-url: http://idp.example.com\n    client-id: sigstore\n    type: email\n",
    )
    .unwrap();
    let data_dir = dir.path().join("data");
    let err = Instance::open(&config(&data_dir, Some(file.clone())), None)
        .await
        .err()
        .expect("must refuse");
    assert!(matches!(err, ServerError::Issuers { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&file.display().to_string()) && message.contains("loopback"),
        "{message}"
    );
    assert!(
        !data_dir.exists(),
        "nothing may be created for a refused config"
    );

    let missing = dir.path().join("nope.yaml");
    let err = Instance::open(&config(&data_dir, Some(missing)), None)
        .await
        .err()
        .expect("must refuse");
    assert!(matches!(err, ServerError::Issuers { .. }), "{err}");
}

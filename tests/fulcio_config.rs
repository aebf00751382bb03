//! `mayfly serve --issuers`: Fulcio's issuer config, loaded and validated at startup and
//! served at `GET /api/v2/configuration`.

use mayfly::server::{Instance, ServeConfig, ServerError, serve};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn config(data_dir: &Path, issuers: Option<PathBuf>) -> ServeConfig {
    ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.to_owned(),
        public_url: url::Url::parse("http://127.0.0.1:8700").unwrap(),
        database_url: None,
        issuers,
        ca: mayfly::ca::setup::CaBackend::Ephemeral,
        ca_passphrase_file: None,
        dev_issuer: false,
    }
}

/// Starts the server and returns the issuers listed by `/api/v2/configuration`.
async fn served_issuers(config: ServeConfig) -> Vec<Value> {
    let instance = Instance::open(&config, None).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, instance, async move {
        let _ = stopped.await;
    }));
    let response = reqwest::get(format!("http://{addr}/api/v2/configuration"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    body["issuers"].as_array().expect("issuers array").clone()
}

fn find<'a>(issuers: &'a [Value], field: &str, url: &str) -> &'a Value {
    issuers
        .iter()
        .find(|i| i[field] == url)
        .unwrap_or_else(|| panic!("no issuer with {field} = {url}: {issuers:?}"))
}

#[tokio::test]
async fn the_shipped_config_is_served_in_fulcios_shape() {
    let dir = tempfile::tempdir().unwrap();
    let issuers = served_issuers(config(dir.path(), None)).await;
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
    let issuers = served_issuers(config(&dir.path().join("data"), Some(file))).await;
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

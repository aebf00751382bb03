//! `mayfly attest` through a flaky network: a proxy in front of a real Mayfly fails the first
//! certificate request with a 503, and lets the first log-entry request reach the server but
//! loses its answer (502). The client must retry, resolve Rekor's 409 to the entry its first
//! attempt created, and still write a bundle that verifies — with exactly one entry logged.

mod support;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use mayfly_client::attest::{AttestOptions, Subject, attest};
use mayfly_client::verify::{IdentityMatcher, Policy, verify_bundle};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use support::Mayfly;

#[derive(Clone)]
struct Proxy {
    upstream: String,
    client: reqwest::Client,
    certificate_requests: Arc<AtomicUsize>,
    entry_requests: Arc<AtomicUsize>,
}

async fn forward(
    State(proxy): State<Proxy>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    if method == Method::POST
        && path == "/api/v2/signingCert"
        && proxy.certificate_requests.fetch_add(1, Ordering::SeqCst) == 0
    {
        return (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response();
    }
    let lose_answer = method == Method::POST
        && path == "/api/v1/log/entries"
        && proxy.entry_requests.fetch_add(1, Ordering::SeqCst) == 0;
    let mut request = proxy
        .client
        .request(method, format!("{}{path}", proxy.upstream))
        .body(body.to_vec());
    if let Some(content_type) = headers.get("content-type") {
        request = request.header("content-type", content_type);
    }
    let upstream = request.send().await.unwrap();
    if lose_answer {
        // The server committed the entry; the client never hears about it.
        return (StatusCode::BAD_GATEWAY, "connection reset").into_response();
    }
    let status = upstream.status();
    let mut response = Response::builder().status(status.as_u16());
    for (name, value) in upstream.headers() {
        if name != "transfer-encoding" && name != "content-length" {
            response = response.header(name.as_str(), value.as_bytes());
        }
    }
    response
        .body(axum::body::Body::from(upstream.bytes().await.unwrap()))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attest_retries_and_resolves_a_lost_log_answer() {
    let mayfly = Mayfly::start(None, true).await;
    let proxy = Proxy {
        upstream: mayfly.url.clone(),
        client: reqwest::Client::new(),
        certificate_requests: Arc::new(AtomicUsize::new(0)),
        entry_requests: Arc::new(AtomicUsize::new(0)),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(proxy.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = mayfly.dir.path();
    let artifact = dir.join("app.tar.gz");
    std::fs::write(&artifact, b"release bytes").unwrap();
    let entries_before = mayfly.get_json("/api/v1/log").await["treeSize"]
        .as_u64()
        .unwrap();
    let token = mayfly.ci_token().await;
    let attested = attest(
        Subject::File {
            path: artifact.clone(),
            predicate: serde_json::json!({"buildType": "https://example.com/release"}),
            predicate_type: "https://slsa.dev/provenance/v1".into(),
        },
        &AttestOptions {
            server: url::Url::parse(&proxy_url).unwrap(),
            identity_token: Some(token),
            out: None,
        },
        &HashMap::<String, String>::new(),
    )
    .await
    .expect("attest survives a 503 and a lost answer");

    assert_eq!(
        proxy.certificate_requests.load(Ordering::SeqCst),
        2,
        "one retry"
    );
    assert_eq!(proxy.entry_requests.load(Ordering::SeqCst), 2, "one retry");
    let entries_after = mayfly.get_json("/api/v1/log").await["treeSize"]
        .as_u64()
        .unwrap();
    assert_eq!(entries_after, entries_before + 1, "logged exactly once");

    let root = std::fs::read(mayfly.trust_file("trusted_root.json").await).unwrap();
    let policy = Policy {
        identity: IdentityMatcher::Exact(
            "https://github.com/octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main"
                .into(),
        ),
        issuer: mayfly.dev_issuer_url(),
    };
    let bundle = std::fs::read(&attested.bundle_path).unwrap();
    let verified = verify_bundle(&bundle, None, &root, &policy).expect("the bundle verifies");
    assert_eq!(verified.kind, "dsse");
    assert_eq!(verified.log_index, attested.log_index);
    mayfly.stop().await;
}

//! Shared harness for the Fulcio API tests: a real Mayfly on port 0, and a real (tiny) OIDC
//! identity provider on port 0 that signs RS256 tokens with its own key. Tokens are built here
//! by hand (header, claims, aws-lc signature), independently of the server's JWT library.
#![allow(dead_code)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use mayfly::api::SharedState;
use mayfly::ca::setup::CaBackend;
use mayfly::server::{Hooks, Instance, ServeConfig, ServerError, serve};
use mayfly::storage::Store;
use mayfly::testing::{FailingSigner, Faults};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An OIDC provider serving several issuers under `/<tenant>`, all with one RSA key.
pub struct TestIdp {
    pub base: String,
    key: Arc<RsaKeyPair>,
    pub kid: String,
    pub jwks_fetches: Arc<AtomicUsize>,
    _shutdown: oneshot::Sender<()>,
}

#[derive(Clone)]
struct IdpState {
    base: String,
    jwks: Value,
    fetches: Arc<AtomicUsize>,
}

impl TestIdp {
    pub async fn start() -> TestIdp {
        let key = Arc::new(RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap());
        let kid = "test-key-1".to_owned();
        let public = key.public_key();
        let jwks = json!({"keys": [{
            "kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
            "n": b64url(public.modulus().big_endian_without_leading_zero()),
            "e": b64url(public.exponent().big_endian_without_leading_zero()),
        }]});
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let fetches = Arc::new(AtomicUsize::new(0));
        let state = IdpState {
            base: base.clone(),
            jwks,
            fetches: fetches.clone(),
        };
        // GitHub-style discovery: issuer and jwks_uri, no authorization_endpoint.
        let app = axum::Router::new()
            .route(
                "/{tenant}/.well-known/openid-configuration",
                get(
                    async |State(s): State<IdpState>, UrlPath(tenant): UrlPath<String>| {
                        Json(json!({
                            "issuer": format!("{}/{tenant}", s.base),
                            "jwks_uri": format!("{}/{tenant}/jwks", s.base),
                            "subject_types_supported": ["public"],
                            "response_types_supported": ["id_token"],
                            "id_token_signing_alg_values_supported": ["RS256"],
                        }))
                    },
                ),
            )
            .route(
                "/{tenant}/jwks",
                get(async |State(s): State<IdpState>| {
                    s.fetches.fetch_add(1, Ordering::SeqCst);
                    Json(s.jwks.clone())
                }),
            )
            .with_state(state);
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        TestIdp {
            base,
            key,
            kid,
            jwks_fetches: fetches,
            _shutdown: tx,
        }
    }

    pub fn issuer(&self, tenant: &str) -> String {
        format!("{}/{tenant}", self.base)
    }

    /// The RSA public key as PEM SPKI: what the "HS256 with the public key as secret" attack
    /// uses as its HMAC key.
    pub fn public_key_pem(&self) -> String {
        use aws_lc_rs::encoding::AsDer;
        let der = self.key.public_key().as_der().unwrap();
        mayfly_spec::pem::encode("PUBLIC KEY", der.as_ref())
    }

    /// An RS256 token with this IdP's key and `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(
            &json!({"alg": "RS256", "typ": "JWT", "kid": self.kid}),
            claims,
        )
    }

    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .unwrap();
        format!("{input}.{}", b64url(&signature))
    }

    /// A GitHub-Actions-shaped claim set for `tenant`, valid for five minutes.
    pub fn github_claims(&self, tenant: &str) -> Value {
        let now = now();
        json!({
            "iss": self.issuer(tenant),
            "aud": "sigstore",
            "sub": "repo:octo-org/octo-repo:ref:refs/heads/main",
            "iat": now, "nbf": now, "exp": now + 300,
            "jti": "3b6a5a2e-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
            "repository": "octo-org/octo-repo",
            "repository_id": "123456789",
            "repository_owner": "octo-org",
            "repository_owner_id": "987654",
            "repository_visibility": "public",
            "runner_environment": "github-hosted",
            "ref": "refs/heads/main",
            "ref_type": "branch",
            "sha": "0123456789abcdef0123456789abcdef01234567",
            "event_name": "push",
            "workflow": "release",
            "workflow_ref": "octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main",
            "workflow_sha": "0123456789abcdef0123456789abcdef01234567",
            "job_workflow_ref": "octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main",
            "job_workflow_sha": "0123456789abcdef0123456789abcdef01234567",
            "run_id": "4242", "run_attempt": "1", "run_number": "7",
            "actor": "octocat", "actor_id": "1",
        })
    }
}

/// The shipped issuer config plus the test IdP's tenants: `gha` as a GitHub-Actions-shaped
/// ci-provider issuer, `corp` as an email issuer.
pub fn issuers_with_idp(idp: &TestIdp) -> String {
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/ca-config/issuers.yaml"
    ))
    .unwrap();
    let mut config: Value = serde_norway::from_str(&shipped).unwrap();
    let issuers = config["oidc-issuers"].as_object_mut().unwrap();
    issuers.insert(
        idp.issuer("gha"),
        json!({"issuer-url": idp.issuer("gha"), "client-id": "sigstore",
               "type": "ci-provider", "ci-provider": "github-workflow"}),
    );
    issuers.insert(
        idp.issuer("corp"),
        json!({"issuer-url": idp.issuer("corp"), "client-id": "sigstore", "type": "email"}),
    );
    serde_norway::to_string(&config).unwrap()
}

/// How to start a test Mayfly: the shipped issuers, file-backed CA, no dev issuer, unless told
/// otherwise.
#[derive(Default)]
pub struct Builder {
    issuers_yaml: Option<String>,
    issuers_file: Option<std::path::PathBuf>,
    dev_issuer: bool,
    ca: Option<CaBackend>,
    faults: Option<Faults>,
    signer: Option<Arc<std::sync::Mutex<Option<Arc<FailingSigner>>>>>,
    configure: Vec<Configure>,
}

/// A change to the settings of a test instance, given the test's scratch directory.
type Configure = Box<dyn FnOnce(&mut ServeConfig, &std::path::Path) + Send>;

impl Builder {
    /// Changes the settings before the instance opens; `dir` is the test's scratch directory
    /// (for policy files and the like).
    pub fn configure(
        mut self,
        change: impl FnOnce(&mut ServeConfig, &std::path::Path) + Send + 'static,
    ) -> Self {
        self.configure.push(Box::new(change));
        self
    }

    /// A Fulcio issuer config (YAML) instead of the shipped one.
    pub fn issuers(mut self, yaml: &str) -> Self {
        self.issuers_yaml = Some(yaml.to_owned());
        self
    }

    /// An issuer config file (JSON or YAML) as an operator would pass it.
    pub fn issuers_file(mut self, path: &std::path::Path) -> Self {
        self.issuers_file = Some(path.to_owned());
        self
    }

    /// `--dev-issuer`.
    pub fn dev_issuer(mut self) -> Self {
        self.dev_issuer = true;
        self
    }

    pub fn ca(mut self, ca: CaBackend) -> Self {
        self.ca = Some(ca);
        self
    }

    /// Injects `faults` into the instance's store.
    pub fn faults(mut self, faults: &Faults) -> Self {
        self.faults = Some(faults.clone());
        self
    }

    /// Wraps the CA signer in a [`FailingSigner`], reachable as [`Mayfly::signer`].
    pub fn failing_signer(mut self) -> Self {
        self.signer = Some(Arc::default());
        self
    }

    /// Opens the instance and serves it on 127.0.0.1:0.
    pub async fn start(self) -> Mayfly {
        self.open().await.expect("the test instance opens")
    }

    /// Like [`Builder::start`], for tests of starts that must fail.
    pub async fn open(self) -> Result<Mayfly, ServerError> {
        let dir = tempfile::tempdir().unwrap();
        let issuers = self.issuers_yaml.map(|text| {
            let path = dir.path().join("issuers.yaml");
            std::fs::write(&path, text).unwrap();
            path
        });
        let issuers = issuers.or(self.issuers_file);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = serve_config(addr, &dir.path().join("data"), issuers);
        // The test's backend (see `on_both_backends!`): a PostgreSQL database of its own.
        let database = match backend::Backend::current() {
            backend::Backend::Sqlite => None,
            backend::Backend::Postgres => {
                let database = backend::Backend::Postgres.database(dir.path()).await;
                config.database_url = Some(database.url_string());
                Some(database)
            }
        };
        config.ca = self.ca.unwrap_or(CaBackend::File);
        config.dev_issuer = self.dev_issuer;
        for change in self.configure {
            change(&mut config, dir.path());
        }
        let mut hooks = Hooks::default();
        if let Some(faults) = self.faults.clone() {
            hooks.store = Some(Box::new(move |store: Store| store.with_faults(&faults)));
        }
        if let Some(slot) = self.signer.clone() {
            hooks.ca_signer = Some(std::sync::Arc::new(move |real| {
                let failing = Arc::new(FailingSigner::new(real));
                *slot.lock().unwrap() = Some(failing.clone());
                failing
            }));
        }
        let instance = Instance::open_with(&config, None, hooks).await?;
        let state = instance.state.clone();
        let reloader = instance.reloader();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            serve(listener, instance, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        let signer = self.signer.and_then(|slot| slot.lock().unwrap().clone());
        Ok(Mayfly {
            url: format!("http://{addr}"),
            client: reqwest::Client::new(),
            dir,
            config,
            state,
            reloader,
            faults: self.faults,
            signer,
            shutdown: Some(tx),
            task: Some(task),
            _database: database,
        })
    }
}

/// The settings of a test instance on `addr` in `data_dir`: what `mayfly serve` would use by
/// default, with the public URL at the listener.
pub fn serve_config(
    addr: std::net::SocketAddr,
    data_dir: &std::path::Path,
    issuers: Option<std::path::PathBuf>,
) -> ServeConfig {
    ServeConfig {
        issuers,
        ..ServeConfig::new(
            addr,
            data_dir,
            url::Url::parse(&format!("http://{addr}")).unwrap(),
        )
    }
}

/// The `--database-url` of a database that several processes of one test share (replicas):
/// a SQLite file in `scratch`, which WAL lets processes on one machine share. The one place to
/// change for running such tests on another backend.
pub fn database_url(scratch: &std::path::Path) -> String {
    format!("sqlite://{}", scratch.join("shared.db").display())
}

/// A running Mayfly (library `serve` in this process) with its own data dir.
pub struct Mayfly {
    pub url: String,
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
    pub config: ServeConfig,
    /// The running instance's parts (its logs), for tests that look behind the HTTP API.
    pub state: SharedState,
    /// Re-reads the issuers and policy files, as SIGHUP does.
    pub reloader: mayfly::server::Reloader,
    faults: Option<Faults>,
    signer: Option<Arc<FailingSigner>>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// The PostgreSQL database of a PostgreSQL test, dropped with the instance.
    _database: Option<backend::Database>,
}

impl Mayfly {
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// `issuers_yaml`: a Fulcio issuer config (None = the shipped one).
    pub async fn start(issuers_yaml: Option<&str>, dev_issuer: bool) -> Mayfly {
        let mut builder = Builder::default();
        if let Some(yaml) = issuers_yaml {
            builder = builder.issuers(yaml);
        }
        if dev_issuer {
            builder = builder.dev_issuer();
        }
        builder.start().await
    }

    /// The store's fault switchboard (built with [`Builder::faults`]).
    pub fn faults(&self) -> &Faults {
        self.faults.as_ref().expect("built with .faults()")
    }

    /// The CA's failing signer (built with [`Builder::failing_signer`]).
    pub fn signer(&self) -> &FailingSigner {
        self.signer.as_ref().expect("built with .failing_signer()")
    }

    pub async fn stop(mut self) {
        self.shut_down().await;
    }

    /// Graceful shutdown, keeping the data dir (to reopen it, for instance).
    pub async fn shut_down(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(process::TIMEOUT, task)
                .await
                .expect("serve returns after shutdown")
                .expect("serve ends cleanly");
        }
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let response = self
            .client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    /// POSTs a Rekor entry, requires 201, and returns the answer (`{entryID: entry}`).
    pub async fn create_entry(&self, entry: &Value) -> Value {
        let response = self
            .client
            .post(format!("{}/api/v1/log/entries", self.url))
            .json(entry)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    pub async fn get_bytes(&self, path: &str) -> Vec<u8> {
        let response = self
            .client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.bytes().await.unwrap().to_vec()
    }

    /// A token from the built-in dev issuer with `overrides` on top of its GitHub defaults.
    pub async fn dev_token(&self, overrides: &Value) -> String {
        let response = self
            .client
            .post(format!("{}/dev-oidc/token", self.url))
            .json(overrides)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["value"].as_str().unwrap().to_owned()
    }

    /// POSTs a v2 signing request; returns status and JSON body.
    pub async fn sign_v2(&self, body: &Value, bearer: Option<&str>) -> (u16, Value) {
        let mut request = self
            .client
            .post(format!("{}/api/v2/signingCert", self.url))
            .json(body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, json)
    }

    /// A valid v2 signing request for a fresh P-256 key with a dev-issuer token: the request
    /// and the key. Needs `--dev-issuer`.
    pub async fn signing_request(&self) -> (Value, p256::ecdsa::SigningKey) {
        self.signing_request_with(&json!({})).await
    }

    /// [`Mayfly::signing_request`] with a token whose claims `overrides` changes.
    pub async fn signing_request_with(
        &self,
        overrides: &Value,
    ) -> (Value, p256::ecdsa::SigningKey) {
        let token = self.dev_token(overrides).await;
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        let (key, pem) = p256_key();
        let proof = p256_sign(&key, claims["sub"].as_str().unwrap());
        (key_request(&token, &pem, &proof), key)
    }

    /// The artifact log's current size, from its signed checkpoint.
    pub async fn artifacts_size(&self) -> u64 {
        let text = String::from_utf8(self.get_bytes("/logs/artifacts/checkpoint").await).unwrap();
        text.lines().nth(1).unwrap().parse().unwrap()
    }

    /// The issuance log's current size, from its signed checkpoint.
    pub async fn issuance_size(&self) -> u64 {
        let text = String::from_utf8(self.get_bytes("/logs/issuance/checkpoint").await).unwrap();
        text.lines().nth(1).unwrap().parse().unwrap()
    }
}

/// A fresh P-256 client key: (signing key, SPKI PEM).
pub fn p256_key() -> (p256::ecdsa::SigningKey, String) {
    use p256::elliptic_curve::Generate;
    use p256::pkcs8::EncodePublicKey;
    let key = p256::ecdsa::SigningKey::generate();
    let pem = key
        .verifying_key()
        .to_public_key_pem(p256::pkcs8::LineEnding::LF)
        .unwrap();
    (key, pem)
}

/// base64 of a DER ECDSA-SHA256 signature over `message`.
pub fn p256_sign(key: &p256::ecdsa::SigningKey, message: &str) -> String {
    use p256::ecdsa::signature::Signer;
    let signature: p256::ecdsa::DerSignature = key.sign(message.as_bytes());
    STANDARD.encode(signature.as_bytes())
}

/// The npm/sigstore-js request shape.
pub fn key_request(token: &str, key_pem: &str, proof_b64: &str) -> Value {
    json!({
        "credentials": {"oidcIdentityToken": token},
        "publicKeyRequest": {
            "publicKey": {"algorithm": "ECDSA", "content": key_pem},
            "proofOfPossession": proof_b64,
        }
    })
}

/// DER bodies of every PEM block in `text`.
pub fn pem_ders(text: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut body = String::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("-----BEGIN ") {
            inside = true;
            body.clear();
        } else if line.starts_with("-----END ") {
            inside = false;
            out.push(STANDARD.decode(&body).unwrap());
        } else if inside {
            body.push_str(line.trim());
        }
    }
    out
}

/// The database backends the tests run on, and `on_both_backends!`.
pub mod backend;
/// Issued certificates checked by OpenSSL, webpki and x509-parser.
pub mod certs;
/// The real Sigstore clients (sigstore-python, sigstore-js) for the client tests.
pub mod clients;
/// Many idle connections held by a child process.
pub mod flood;
/// A fresh SoftHSM2 token per test, each test in its own process.
#[macro_use]
pub mod softhsm;
/// The HTTP listener alone on a test router, with raw-TCP clients.
pub mod listener;
/// The `mayfly` binary as an operator runs it.
pub mod process;

impl Mayfly {
    /// Fetches a `/trust/*` document and writes it into this instance's temp dir; returns
    /// the file's path (what the clients are given).
    pub async fn trust_file(&self, name: &str) -> std::path::PathBuf {
        let bytes = self.get_bytes(&format!("/trust/{name}")).await;
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// A GitHub-Actions-shaped token from the dev issuer, fetched the way a CI job fetches
    /// one (`GET …?audience=sigstore`, answered as `{"value": jwt}`).
    pub async fn ci_token(&self) -> String {
        let body = self.get_json("/dev-oidc/token?audience=sigstore").await;
        body["value"].as_str().unwrap().to_owned()
    }

    /// The dev issuer's URL, which certificates carry as their OIDC issuer.
    pub fn dev_issuer_url(&self) -> String {
        format!("{}/dev-oidc", self.url)
    }
}

/// The environment of a GitHub Actions job whose token endpoint is `mayfly`'s dev issuer, as
/// npm and `mayfly attest` read it. The values match the claims the dev issuer puts in its
/// tokens, as a real job's environment matches its token.
pub fn github_actions_env(mayfly: &str) -> Vec<(&'static str, String)> {
    [
        ("CI", "true".to_owned()),
        ("GITHUB_ACTIONS", "true".to_owned()),
        (
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            format!("{mayfly}/dev-oidc/token?api-version=2.0"),
        ),
        (
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
            "unused-by-the-dev-issuer".to_owned(),
        ),
        ("GITHUB_SERVER_URL", "https://github.com".to_owned()),
        ("GITHUB_REPOSITORY", "octo-org/octo-repo".to_owned()),
        ("GITHUB_REPOSITORY_ID", "123456789".to_owned()),
        ("GITHUB_REPOSITORY_OWNER_ID", "987654".to_owned()),
        ("GITHUB_REF", "refs/heads/main".to_owned()),
        (
            "GITHUB_SHA",
            "a3c8e5f1b2d4c6e8f0a1b3c5d7e9f1a2b4c6d8e0".to_owned(),
        ),
        (
            "GITHUB_WORKFLOW_REF",
            "octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main".to_owned(),
        ),
        ("GITHUB_EVENT_NAME", "push".to_owned()),
        ("GITHUB_RUN_ID", "4242424242".to_owned()),
        ("GITHUB_RUN_ATTEMPT", "1".to_owned()),
        ("RUNNER_ENVIRONMENT", "github-hosted".to_owned()),
    ]
    .into()
}

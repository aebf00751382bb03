//! End-to-end verifier tests against a real local identity provider (axum on 127.0.0.1:0).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaPublicKeyComponents};
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use super::*;
use crate::identity::config::IssuerConfig;

const NOW: u64 = 1_800_000_000;

/// The IdP's mutable state and request counters.
#[derive(Default)]
struct IdpState {
    base: Mutex<String>,
    jwks: Mutex<Value>,
    requests: AtomicUsize,
    discovery: AtomicUsize,
    jwks_fetches: AtomicUsize,
}

struct Idp {
    url: String,
    state: Arc<IdpState>,
}

impl Idp {
    async fn start() -> Idp {
        let state = Arc::new(IdpState::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        *state.base.lock().unwrap() = url.clone();
        // Every configured issuer path answers with the *base* URL as `issuer`, so issuer
        // `{url}/other` exercises the discovery-issuer mismatch. GitHub-like: no
        // authorization_endpoint.
        async fn discovery(State(s): State<Arc<IdpState>>) -> axum::Json<Value> {
            s.requests.fetch_add(1, Ordering::SeqCst);
            s.discovery.fetch_add(1, Ordering::SeqCst);
            let base = s.base.lock().unwrap().clone();
            axum::Json(json!({
                "issuer": base,
                "jwks_uri": format!("{base}/jwks"),
                "subject_types_supported": ["public"],
                "response_types_supported": ["id_token"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "claims_supported": ["sub", "aud"],
                "scopes_supported": ["openid"],
            }))
        }
        async fn jwks(State(s): State<Arc<IdpState>>) -> axum::Json<Value> {
            s.requests.fetch_add(1, Ordering::SeqCst);
            s.jwks_fetches.fetch_add(1, Ordering::SeqCst);
            axum::Json(s.jwks.lock().unwrap().clone())
        }
        async fn other(State(s): State<Arc<IdpState>>) -> axum::http::StatusCode {
            s.requests.fetch_add(1, Ordering::SeqCst);
            axum::http::StatusCode::NOT_FOUND
        }
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/other/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .fallback(other)
            .with_state(state.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Idp { url, state }
    }

    fn set_keys(&self, keys: &[&RsaKey]) {
        let keys: Vec<Value> = keys.iter().map(|k| k.jwk()).collect();
        *self.state.jwks.lock().unwrap() = json!({ "keys": keys });
    }

    fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }
}

struct RsaKey {
    kid: String,
    pair: RsaKeyPair,
}

impl RsaKey {
    fn new(kid: &str) -> RsaKey {
        RsaKey {
            kid: kid.to_owned(),
            pair: RsaKeyPair::generate(KeySize::Rsa2048).unwrap(),
        }
    }

    fn jwk(&self) -> Value {
        let c = RsaPublicKeyComponents::<Vec<u8>>::from(self.pair.public_key());
        json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
               "n": URL_SAFE_NO_PAD.encode(&c.n), "e": URL_SAFE_NO_PAD.encode(&c.e)})
    }

    fn spki_der(&self) -> Vec<u8> {
        self.pair.public_key().as_der().unwrap().as_ref().to_vec()
    }

    fn spki_pem(&self) -> String {
        let b64 = STANDARD.encode(self.spki_der());
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        )
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64(header), b64(claims));
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    fn token(&self, claims: &Value) -> String {
        self.sign(
            &json!({"alg": "RS256", "typ": "JWT", "kid": self.kid}),
            claims,
        )
    }
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

fn hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

fn claims(iss: &str) -> Value {
    json!({"iss": iss, "aud": "sigstore", "sub": "alice", "email": "alice@example.com",
           "email_verified": true, "iat": NOW, "nbf": NOW, "exp": NOW + 300})
}

fn with(mut v: Value, key: &str, value: Value) -> Value {
    v[key] = value;
    v
}

fn without(mut v: Value, key: &str) -> Value {
    v.as_object_mut().unwrap().remove(key);
    v
}

/// A verifier for the IdP (and for `{url}/other`), with a settable clock.
fn verifier(idp: &Idp) -> (TokenVerifier, Arc<AtomicU64>) {
    let config = json!({"OIDCIssuers": {
        idp.url.clone(): {"IssuerURL": idp.url, "ClientID": "sigstore", "Type": "email"},
        format!("{}/other", idp.url): {"ClientID": "sigstore", "Type": "email"},
    }});
    let config = IssuerConfig::from_json_or_yaml(&config.to_string()).unwrap();
    let clock = Arc::new(AtomicU64::new(NOW));
    let c = clock.clone();
    let v = TokenVerifier::new(Arc::new(config))
        .unwrap()
        .with_clock(Arc::new(move || c.load(Ordering::SeqCst)));
    (v, clock)
}

async fn setup() -> (Idp, RsaKey, TokenVerifier, Arc<AtomicU64>) {
    let idp = Idp::start().await;
    let key = RsaKey::new("k1");
    idp.set_keys(&[&key]);
    let (v, clock) = verifier(&idp);
    (idp, key, v, clock)
}

#[tokio::test]
async fn valid_rs256_token_is_accepted_and_keys_are_cached() {
    let (idp, key, v, _) = setup().await;
    let token = key.token(&claims(&idp.url));
    let verified = v.verify(&token).await.unwrap();
    assert_eq!(verified.issuer.issuer_url, idp.url);
    assert_eq!(verified.claims["sub"], "alice");
    v.verify(&token).await.unwrap();
    assert_eq!(idp.jwks_fetches(), 1, "second verify must use the cache");
    assert_eq!(idp.state.discovery.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn time_audience_and_required_claims() {
    let (idp, key, v, _) = setup().await;
    let c = claims(&idp.url);
    let cases: Vec<(Value, &str)> = vec![
        (with(c.clone(), "exp", json!(NOW - 61)), "token expired at"),
        (with(c.clone(), "nbf", json!(NOW + 120)), "not valid before"),
        (
            with(c.clone(), "iat", json!(NOW + 120)),
            "issued in the future",
        ),
        (
            with(c.clone(), "aud", json!("other")),
            "audience does not include \"sigstore\"",
        ),
        (
            with(c.clone(), "aud", json!(["a", "b"])),
            "audience does not include",
        ),
        (without(c.clone(), "exp"), "no \"exp\" claim"),
        (without(c.clone(), "sub"), "no \"sub\" claim"),
    ];
    for (claims, want) in cases {
        let err = v.verify(&key.token(&claims)).await.unwrap_err();
        assert!(
            err.to_string().contains(want),
            "{err} should contain {want}"
        );
        assert!(err.is_client_error());
    }
    // Inside the leeway is fine.
    v.verify(&key.token(&with(c.clone(), "exp", json!(NOW - 59))))
        .await
        .unwrap();
    v.verify(&key.token(&with(c, "nbf", json!(NOW + 59))))
        .await
        .unwrap();
}

#[tokio::test]
async fn expiry_follows_the_injected_clock() {
    let (idp, key, v, clock) = setup().await;
    let token = key.token(&claims(&idp.url));
    v.verify(&token).await.unwrap();
    clock.store(NOW + 300 + 61, Ordering::SeqCst);
    assert!(matches!(
        v.verify(&token).await,
        Err(TokenError::Expired { .. })
    ));
}

#[tokio::test]
async fn discovery_issuer_must_equal_iss() {
    let (idp, key, v, _) = setup().await;
    let iss = format!("{}/other", idp.url);
    let err = v.verify(&key.token(&claims(&iss))).await.unwrap_err();
    assert!(
        matches!(err, TokenError::DiscoveryIssuerMismatch { .. }),
        "{err}"
    );
    assert!(!err.is_client_error());
    assert_eq!(
        idp.jwks_fetches(),
        0,
        "JWKS must not be fetched after a mismatch"
    );
}

#[tokio::test]
async fn unconfigured_issuer_causes_no_request() {
    let (idp, key, v, _) = setup().await;
    for iss in [
        format!("{}/evil", idp.url),
        format!("{}/", idp.url),
        "https://attacker.example".to_owned(),
        "http://169.254.169.254/latest".to_owned(),
    ] {
        let err = v.verify(&key.token(&claims(&iss))).await.unwrap_err();
        assert!(matches!(err, TokenError::UnknownIssuer(_)), "{err}");
        assert!(err.to_string().contains("unknown issuer"));
    }
    assert_eq!(idp.requests(), 0);
}

#[tokio::test]
async fn alg_none_and_hmac_with_the_public_key_are_rejected() {
    let (idp, key, v, _) = setup().await;
    let c = claims(&idp.url);
    for sig in ["", "c2ln"] {
        let token = format!(
            "{}.{}.{sig}",
            b64(&json!({"alg": "none", "kid": "k1"})),
            b64(&c)
        );
        assert!(matches!(
            v.verify(&token).await,
            Err(TokenError::AlgorithmNone)
        ));
    }
    // The classic key-confusion attack: HS256 keyed with the RSA public key, in PEM and DER
    // form, with and without the kid.
    let pem = key.spki_pem();
    let der = key.spki_der();
    for secret in [pem.as_bytes(), der.as_slice()] {
        for header in [
            json!({"alg": "HS256", "kid": "k1"}),
            json!({"alg": "HS256"}),
            json!({"alg": "HS512", "kid": "k1"}),
        ] {
            let err = v.verify(&hs256(&header, &c, secret)).await.unwrap_err();
            assert!(matches!(err, TokenError::AlgorithmNotAllowed(_)), "{err}");
        }
    }
    assert_eq!(
        v.verify(&hs256(&json!({"alg": "HS256"}), &c, &der))
            .await
            .unwrap_err()
            .to_string(),
        "algorithm HS256 is not allowed (allowed: RS256/384/512, PS256/384/512, ES256/384, EdDSA)"
    );
}

#[tokio::test]
async fn signature_must_verify() {
    let (idp, key, v, _) = setup().await;
    let good = key.token(&claims(&idp.url));
    // Same header and signature, different payload.
    let (_, rest) = good.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let forged = format!(
        "{}.{}.{sig}",
        b64(&json!({"alg": "RS256", "typ": "JWT", "kid": "k1"})),
        b64(&with(claims(&idp.url), "sub", json!("mallory")))
    );
    assert!(matches!(
        v.verify(&forged).await,
        Err(TokenError::BadSignature)
    ));
    // Signed by another key that claims the same kid.
    let impostor = RsaKey::new("k1");
    assert!(matches!(
        v.verify(&impostor.token(&claims(&idp.url))).await,
        Err(TokenError::BadSignature)
    ));
    // No kid: every fitting key is tried.
    let no_kid = key.sign(&json!({"alg": "RS256"}), &claims(&idp.url));
    v.verify(&no_kid).await.unwrap();
}

#[tokio::test]
async fn unknown_kid_refreshes_once_then_is_rate_limited() {
    let (idp, key, v, clock) = setup().await;
    v.verify(&key.token(&claims(&idp.url))).await.unwrap();
    assert_eq!(idp.jwks_fetches(), 1);
    clock.store(NOW + 31, Ordering::SeqCst);
    let stranger = RsaKey::new("unknown-0");
    let err = v
        .verify(&stranger.token(&claims(&idp.url)))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "key id \"unknown-0\" not in the issuer's JWKS"
    );
    assert_eq!(idp.jwks_fetches(), 2, "an unknown kid triggers one refresh");
    for i in 1..=50 {
        clock.store(NOW + 31 + (i % 29), Ordering::SeqCst);
        let header = json!({"alg": "RS256", "kid": format!("unknown-{i}")});
        let err = v
            .verify(&stranger.sign(&header, &claims(&idp.url)))
            .await
            .unwrap_err();
        assert!(matches!(err, TokenError::UnknownKeyId(_)), "{err}");
    }
    assert_eq!(
        idp.jwks_fetches(),
        2,
        "the flood must not refetch within 30 s"
    );
    // The known key keeps working meanwhile.
    v.verify(&key.token(&claims(&idp.url))).await.unwrap();
    // After the interval, one more refresh is allowed.
    clock.store(NOW + 31 + 30, Ordering::SeqCst);
    let _ = v.verify(&stranger.token(&claims(&idp.url))).await;
    assert_eq!(idp.jwks_fetches(), 3);
}

#[tokio::test]
async fn key_rotation_refetches_exactly_once() {
    let (idp, old, v, clock) = setup().await;
    v.verify(&old.token(&claims(&idp.url))).await.unwrap();
    let new = RsaKey::new("k2");
    idp.set_keys(&[&new]);
    clock.store(NOW + 45, Ordering::SeqCst);
    let fresh = with(claims(&idp.url), "iat", json!(NOW + 45));
    v.verify(&new.token(&fresh)).await.unwrap();
    assert_eq!(idp.jwks_fetches(), 2);
    v.verify(&new.token(&fresh)).await.unwrap();
    assert_eq!(idp.jwks_fetches(), 2);
    // The retired key is gone from the cache too.
    assert!(matches!(
        v.verify(&old.token(&claims(&idp.url))).await,
        Err(TokenError::UnknownKeyId(_))
    ));
    assert_eq!(idp.jwks_fetches(), 2);
}

#[tokio::test]
async fn keys_are_refreshed_after_an_hour() {
    let (idp, key, v, clock) = setup().await;
    v.verify(&key.token(&claims(&idp.url))).await.unwrap();
    clock.store(NOW + 3600, Ordering::SeqCst);
    let later = json!({"iss": idp.url, "aud": "sigstore", "sub": "a", "exp": NOW + 4000});
    v.verify(&key.token(&later)).await.unwrap();
    assert_eq!(idp.jwks_fetches(), 2);
}

#[tokio::test]
async fn concurrent_misses_share_one_fetch() {
    let (idp, key, v, _) = setup().await;
    let v = Arc::new(v);
    let token = key.token(&claims(&idp.url));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let v = v.clone();
            let t = token.clone();
            tokio::spawn(async move { v.verify(&t).await.map(|_| ()) })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(idp.jwks_fetches(), 1);
}

#[tokio::test]
async fn unreachable_issuer_is_reported_and_rate_limited() {
    // A configured loopback issuer on a port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let config = json!({"OIDCIssuers": {url.clone(): {"ClientID": "sigstore", "Type": "email"}}});
    let config = IssuerConfig::from_json_or_yaml(&config.to_string()).unwrap();
    let v = TokenVerifier::new(Arc::new(config))
        .unwrap()
        .with_clock(Arc::new(|| NOW));
    let key = RsaKey::new("k1");
    let err = v.verify(&key.token(&claims(&url))).await.unwrap_err();
    assert!(matches!(err, TokenError::KeysUnavailable { .. }), "{err}");
    assert!(!err.is_client_error());
    // Within 30 s the failure is remembered, not retried.
    let again = v.verify(&key.token(&claims(&url))).await.unwrap_err();
    assert_eq!(again, err);
}

#[tokio::test]
async fn malformed_tokens() {
    let (idp, key, v, _) = setup().await;
    let good = key.token(&claims(&idp.url));
    let parts: Vec<&str> = good.split('.').collect();
    let cases = [
        format!("{}.{}", parts[0], parts[1]),
        format!("{good}.{}", parts[2]),
        format!("{}.%%%.{}", parts[0], parts[2]),
        format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode("not json"),
            parts[2]
        ),
        format!("{}.{}.{}", URL_SAFE_NO_PAD.encode("[]"), parts[1], parts[2]),
    ];
    for bad in &cases {
        let err = v.verify(bad).await.unwrap_err();
        assert!(matches!(err, TokenError::Malformed(_)), "{bad}: {err}");
    }
    let big = key.token(&with(
        claims(&idp.url),
        "padding",
        json!("x".repeat(9 * 1024)),
    ));
    assert!(matches!(
        v.verify(&big).await,
        Err(TokenError::TooLarge { .. })
    ));
    assert_eq!(idp.requests(), 0, "malformed tokens never reach the IdP");
}

#[tokio::test]
async fn static_keys_are_never_fetched() {
    let dev = crate::identity::dev_issuer::DevIssuer::generate("http://127.0.0.1:9/dev").unwrap();
    let config = json!({"OIDCIssuers": {"http://127.0.0.1:9/dev":
        {"ClientID": "sigstore", "Type": "email"}}});
    let config = IssuerConfig::from_json_or_yaml(&config.to_string()).unwrap();
    let v = TokenVerifier::new(Arc::new(config))
        .unwrap()
        .with_static_keys(dev.issuer_url(), dev.jwks())
        .with_clock(Arc::new(|| NOW));
    let claims = dev.github_actions_claims(NOW, &Map::new());
    let verified = v.verify(&dev.mint(&claims).unwrap()).await.unwrap();
    assert_eq!(verified.claims, claims);
    // Another instance has another key, hence another kid: never accepted.
    let other = crate::identity::dev_issuer::DevIssuer::generate("http://127.0.0.1:9/dev").unwrap();
    assert!(matches!(
        v.verify(&other.mint(&claims).unwrap()).await,
        Err(TokenError::UnknownKeyId(_))
    ));
}

//! The dev issuer's tokens verify through the real verifier and give GitHub's identity.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::*;
use crate::identity::config::IssuerConfig;
use crate::identity::oidc::{TokenError, TokenVerifier, VerifiedToken};
use crate::identity::principal::principal;

const NOW: u64 = 1_800_000_000;
const DEV_URL: &str = "http://127.0.0.1:9/dev-oidc";
const SHIPPED_YAML: &str = include_str!("../../../ca-config/issuers.yaml");

/// The shipped configuration plus the dev issuer as a ci-provider/github-workflow issuer.
fn config() -> Arc<IssuerConfig> {
    let entry = format!(
        "oidc-issuers:\n  {DEV_URL}:\n    client-id: sigstore\n    type: ci-provider\n    \
         ci-provider: github-workflow\n"
    );
    let text = SHIPPED_YAML.replacen("oidc-issuers:\n", &entry, 1);
    Arc::new(IssuerConfig::from_json_or_yaml(&text).unwrap())
}

fn verifier(dev: &DevIssuer) -> TokenVerifier {
    TokenVerifier::new(config())
        .unwrap()
        .with_static_keys(dev.issuer_url(), dev.jwks())
        .with_clock(Arc::new(|| NOW))
}

fn overrides(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

#[test]
fn discovery_and_jwks_shape() {
    let dev = DevIssuer::generate(DEV_URL).unwrap();
    let doc = dev.discovery_document();
    assert_eq!(doc["issuer"], DEV_URL);
    assert_eq!(doc["jwks_uri"], format!("{DEV_URL}/jwks"));
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["ES256"])
    );
    assert!(doc.get("authorization_endpoint").is_none());
    let jwks = dev.jwks_json();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "EC");
    assert_eq!(key["crv"], "P-256");
    assert_eq!(key["kid"], dev.kid());
    assert!(
        key.get("d").is_none(),
        "no private key material in the JWKS"
    );
    assert!(!format!("{dev:?}").contains(key["x"].as_str().unwrap()));
    assert!(DevIssuer::generate("not a url").is_err());
    assert!(DevIssuer::generate("ftp://127.0.0.1/").is_err());
}

#[test]
fn claims_are_github_shaped_and_overridable() {
    let dev = DevIssuer::generate(DEV_URL).unwrap();
    let c = dev.github_actions_claims(NOW, &Map::new());
    assert_eq!(c["iss"], DEV_URL);
    assert_eq!(c["aud"], "sigstore");
    assert_eq!(c["sub"], "repo:octo-org/octo-repo:ref:refs/heads/main");
    assert_eq!(c["exp"], json!(NOW + 300));
    assert_eq!(c["repository_visibility"], "public");
    assert_eq!(c["runner_environment"], "github-hosted");
    let o = dev.github_actions_claims(NOW, &overrides(json!({"aud": "x", "environment": "prod"})));
    assert_eq!(o["aud"], "x");
    assert_eq!(o["environment"], "prod");
    assert_ne!(c["jti"], o["jti"]);
}

#[tokio::test]
async fn dev_tokens_verify_with_static_keys_and_match_github() {
    let dev = DevIssuer::generate(DEV_URL).unwrap();
    let v = verifier(&dev);
    let claims = dev.github_actions_claims(NOW, &Map::new());
    let token = dev.mint(&claims).unwrap();
    let verified = v.verify(&token).await.unwrap();
    let p = principal(&verified).unwrap();

    // The same claims under the shipped GitHub issuer give the same identity.
    let gh_url = "https://token.actions.githubusercontent.com";
    let gh = VerifiedToken {
        issuer: config().issuer_for(gh_url).unwrap(),
        claims: {
            let mut c = claims.clone();
            c.insert("iss".into(), json!(gh_url));
            c
        },
    };
    let expected = principal(&gh).unwrap();
    assert_eq!(p.san, expected.san);
    assert_eq!(p.ci, expected.ci);
    assert_eq!(p.subject, expected.subject);
    assert_eq!(p.challenge, "repo:octo-org/octo-repo:ref:refs/heads/main");
    assert_eq!(p.issuer, DEV_URL);
    assert_eq!(
        p.san,
        crate::identity::principal::SubjectAltName::Uri(
            "https://github.com/octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main"
                .into()
        )
    );
}

#[tokio::test]
async fn dev_tokens_respect_the_usual_checks() {
    let dev = DevIssuer::generate(DEV_URL).unwrap();
    let v = verifier(&dev);
    let mint = |o: Value| {
        dev.mint(&dev.github_actions_claims(NOW, &overrides(o)))
            .unwrap()
    };
    assert!(matches!(
        v.verify(&mint(json!({"aud": "other"}))).await,
        Err(TokenError::Audience { .. })
    ));
    assert!(matches!(
        v.verify(&mint(json!({"exp": NOW - 120}))).await,
        Err(TokenError::Expired { .. })
    ));
    assert!(matches!(
        v.verify(&mint(json!({"iss": "http://127.0.0.1:9/unknown"})))
            .await,
        Err(TokenError::UnknownIssuer(_))
    ));
    // Tampering with a signed token breaks the signature.
    let token = mint(json!({}));
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let forged = dev.github_actions_claims(NOW, &overrides(json!({"repository": "evil/repo"})));
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
    assert!(matches!(
        v.verify(&parts.join(".")).await,
        Err(TokenError::BadSignature)
    ));
}

#[tokio::test]
async fn dev_issuer_without_config_entry_is_unknown() {
    let dev = DevIssuer::generate("http://127.0.0.1:9/not-configured").unwrap();
    let v = TokenVerifier::new(config())
        .unwrap()
        .with_static_keys(dev.issuer_url(), dev.jwks())
        .with_clock(Arc::new(|| NOW));
    let token = dev
        .mint(&dev.github_actions_claims(NOW, &Map::new()))
        .unwrap();
    assert!(matches!(
        v.verify(&token).await,
        Err(TokenError::UnknownIssuer(_))
    ));
}

//! The built-in development OIDC issuer (`mayfly serve --dev-issuer`): pure core.
//!
//! It mints GitHub-Actions-shaped ES256 tokens with a key generated at start-up and held only
//! in memory, so a local Mayfly can be exercised end to end (sigstore-js, sigstore-python,
//! `mayfly attest`) without a real CI. The HTTP routes (discovery, JWKS, token endpoint) live in
//! the API layer and call this. Its discovery document is deliberately GitHub-like (no
//! `authorization_endpoint`) so the verifier's tolerance for it is exercised on every dev run.
//!
//! The verifier gets this issuer's keys in-process ([`super::oidc::TokenVerifier::with_static_keys`]),
//! never over the network, and only accepts its tokens if the issuer URL is configured.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters,
    EllipticCurveKeyType, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, ThumbprintHash,
};
use serde_json::{Map, Value, json};

/// Why the dev issuer could not start or sign.
#[derive(Debug, thiserror::Error)]
pub enum DevIssuerError {
    /// Key generation failed (the system RNG or aws-lc).
    #[error("generating the dev issuer key failed")]
    KeyGeneration,
    /// The issuer URL is not usable.
    #[error("dev issuer URL {0:?} must be an http(s) URL without query or fragment")]
    BadUrl(String),
    /// Signing failed.
    #[error("signing the dev token failed")]
    Signing,
    /// The claims could not be serialised.
    #[error("serialising dev token: {0}")]
    Json(String),
}

/// Claims a GitHub Actions token carries (advertised in the discovery document).
const CLAIMS_SUPPORTED: &[&str] = &[
    "sub",
    "aud",
    "exp",
    "iat",
    "iss",
    "jti",
    "nbf",
    "ref",
    "sha",
    "repository",
    "repository_id",
    "repository_owner",
    "repository_owner_id",
    "enterprise",
    "enterprise_id",
    "run_id",
    "run_number",
    "run_attempt",
    "actor",
    "actor_id",
    "workflow",
    "workflow_ref",
    "workflow_sha",
    "head_ref",
    "base_ref",
    "event_name",
    "ref_type",
    "ref_protected",
    "environment",
    "job_workflow_ref",
    "job_workflow_sha",
    "repository_visibility",
    "runner_environment",
];

/// An in-memory ES256 OIDC issuer.
pub struct DevIssuer {
    issuer_url: String,
    key: EcdsaKeyPair,
    jwk: Jwk,
    kid: String,
}

impl std::fmt::Debug for DevIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("DevIssuer")
            .field("issuer_url", &self.issuer_url)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl DevIssuer {
    /// Generates a fresh P-256 key for `issuer_url` (e.g. `http://127.0.0.1:8080/dev-oidc`).
    pub fn generate(issuer_url: &str) -> Result<Self, DevIssuerError> {
        let parsed = url::Url::parse(issuer_url)
            .map_err(|_| DevIssuerError::BadUrl(issuer_url.to_owned()))?;
        if !matches!(parsed.scheme(), "http" | "https")
            || parsed.host().is_none()
            || parsed.query().is_some()
            || parsed.fragment().is_some()
        {
            return Err(DevIssuerError::BadUrl(issuer_url.to_owned()));
        }
        let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|_| DevIssuerError::KeyGeneration)?;
        // Uncompressed SEC1 point: 0x04 || x (32) || y (32).
        let point = key.public_key().as_ref();
        let (Some(x), Some(y)) = (point.get(1..33), point.get(33..65)) else {
            return Err(DevIssuerError::KeyGeneration);
        };
        let mut jwk = Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::ES256),
                ..CommonParameters::default()
            },
            algorithm: AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
                key_type: EllipticCurveKeyType::EC,
                curve: EllipticCurve::P256,
                x: URL_SAFE_NO_PAD.encode(x),
                y: URL_SAFE_NO_PAD.encode(y),
            }),
        };
        // RFC 7638 thumbprint: stable for the key, distinct across restarts.
        let kid = jwk.thumbprint(ThumbprintHash::SHA256);
        jwk.common.key_id = Some(kid.clone());
        Ok(DevIssuer {
            issuer_url: issuer_url.to_owned(),
            key,
            jwk,
            kid,
        })
    }

    /// The issuer URL (`iss` of every token).
    pub fn issuer_url(&self) -> &str {
        &self.issuer_url
    }

    /// The signing key's id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The JWKS URL the discovery document advertises.
    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.issuer_url.trim_end_matches('/'))
    }

    /// The discovery document, shaped like GitHub's (no `authorization_endpoint`).
    pub fn discovery_document(&self) -> Value {
        json!({
            "issuer": self.issuer_url,
            "jwks_uri": self.jwks_uri(),
            "subject_types_supported": ["public", "pairwise"],
            "response_types_supported": ["id_token"],
            "claims_supported": CLAIMS_SUPPORTED,
            "id_token_signing_alg_values_supported": ["ES256"],
            "scopes_supported": ["openid"],
        })
    }

    /// The public keys.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: vec![self.jwk.clone()],
        }
    }

    /// The public keys as served at [`DevIssuer::jwks_uri`].
    pub fn jwks_json(&self) -> Value {
        serde_json::to_value(self.jwks()).unwrap_or_else(|_| json!({"keys": []}))
    }

    /// A complete GitHub Actions claim set (push to `main` of public `octo-org/octo-repo` on a
    /// GitHub-hosted runner, audience `sigstore`, valid for 5 minutes from `now`), with
    /// `overrides` replacing or adding any claim (including `iss`, `aud`, `exp` for negative
    /// tests). Identifiers are strings, as GitHub sends them.
    pub fn github_actions_claims(
        &self,
        now: u64,
        overrides: &Map<String, Value>,
    ) -> Map<String, Value> {
        const SHA: &str = "a3c8e5f1b2d4c6e8f0a1b3c5d7e9f1a2b4c6d8e0";
        const WORKFLOW: &str = "octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main";
        let mut jti = [0u8; 16];
        // A failed RNG only makes the jti less unique; the token stays valid.
        let _ = SystemRandom::new().fill(&mut jti);
        let jti: String = jti.iter().map(|b| format!("{b:02x}")).collect();
        let base = json!({
            "jti": jti,
            "iss": self.issuer_url,
            "aud": "sigstore",
            "sub": "repo:octo-org/octo-repo:ref:refs/heads/main",
            "ref": "refs/heads/main",
            "ref_type": "branch",
            "ref_protected": "false",
            "sha": SHA,
            "repository": "octo-org/octo-repo",
            "repository_id": "123456789",
            "repository_owner": "octo-org",
            "repository_owner_id": "987654",
            "repository_visibility": "public",
            "run_id": "4242424242",
            "run_number": "17",
            "run_attempt": "1",
            "actor": "octocat",
            "actor_id": "583231",
            "workflow": "Release",
            "workflow_ref": WORKFLOW,
            "workflow_sha": SHA,
            "job_workflow_ref": WORKFLOW,
            "job_workflow_sha": SHA,
            "head_ref": "",
            "base_ref": "",
            "event_name": "push",
            "runner_environment": "github-hosted",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
        });
        let mut claims = match base {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        for (k, v) in overrides {
            claims.insert(k.clone(), v.clone());
        }
        claims
    }

    /// Signs `claims` as an ES256 JWT whose header names this issuer's `kid`.
    pub fn mint(&self, claims: &Map<String, Value>) -> Result<String, DevIssuerError> {
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": self.kid});
        let header = b64_json(&header)?;
        let payload = b64_json(claims)?;
        let signing_input = format!("{header}.{payload}");
        // The FIXED algorithm yields r || s, the JWS (RFC 7518 §3.4) signature format.
        let signature = self
            .key
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .map_err(|_| DevIssuerError::Signing)?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
    }
}

fn b64_json<T: serde::Serialize>(value: &T) -> Result<String, DevIssuerError> {
    let bytes = serde_json::to_vec(value).map_err(|e| DevIssuerError::Json(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests;

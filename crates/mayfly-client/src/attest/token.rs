//! Finding the OIDC identity token and pre-checking it locally.
//!
//! Precedence follows the Sigstore clients: an explicit `--identity-token`, then
//! `SIGSTORE_ID_TOKEN` (how GitLab CI and most other CIs hand one over), then GitHub Actions'
//! token request endpoint. The local checks (shape, `exp`, `aud`) exist only to turn the common
//! CI misconfigurations into actionable messages before anything is sent; they decide nothing
//! about trust, which is the server's job, so the signature is deliberately not checked here.

use super::env::{Env, nonempty};
use super::error::{AttestError, Step};
use super::http;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

/// The audience every Sigstore signing token must carry.
pub const SIGSTORE_AUDIENCE: &str = "sigstore";

/// Issuers whose tokens Fulcio binds to the `email` claim rather than `sub`; the proof of
/// possession must sign the same string (the list sigstore-js uses).
const EMAIL_ISSUERS: &[&str] = &[
    "https://accounts.google.com",
    "https://oauth2.sigstore.dev/auth",
];

/// Where a token came from, named in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    Flag,
    SigstoreIdToken,
    GitHubActions,
}

impl TokenSource {
    pub fn name(self) -> &'static str {
        match self {
            TokenSource::Flag => "--identity-token",
            TokenSource::SigstoreIdToken => "SIGSTORE_ID_TOKEN",
            TokenSource::GitHubActions => "the GitHub Actions token endpoint",
        }
    }
}

/// A token that passed the local checks, with the string its proof of possession signs.
#[derive(Debug, Clone)]
pub struct IdentityToken {
    pub jwt: String,
    pub source: TokenSource,
    pub proof_subject: String,
}

/// Where the token will come from, decided from the flag and the environment alone (no I/O),
/// so precedence is testable without a server.
#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    Ready(String, TokenSource),
    /// GitHub Actions: request URL and bearer token.
    GitHub {
        url: String,
        bearer: String,
    },
}

pub fn plan(flag: Option<&str>, env: &dyn Env) -> Result<Plan, AttestError> {
    if let Some(token) = flag.map(str::trim).filter(|t| !t.is_empty()) {
        return Ok(Plan::Ready(token.to_owned(), TokenSource::Flag));
    }
    if let Some(token) = nonempty(env, "SIGSTORE_ID_TOKEN") {
        return Ok(Plan::Ready(
            token.trim().to_owned(),
            TokenSource::SigstoreIdToken,
        ));
    }
    let url = nonempty(env, "ACTIONS_ID_TOKEN_REQUEST_URL");
    let bearer = nonempty(env, "ACTIONS_ID_TOKEN_REQUEST_TOKEN");
    match (url, bearer) {
        (Some(url), Some(bearer)) => Ok(Plan::GitHub { url, bearer }),
        (None, Some(_)) => Err(AttestError::GitHubTokenVariableMissing {
            missing: "ACTIONS_ID_TOKEN_REQUEST_URL",
        }),
        (Some(_), None) => Err(AttestError::GitHubTokenVariableMissing {
            missing: "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        }),
        // On GitHub Actions without `id-token: write` neither variable exists; say so rather
        // than the generic message, since that is by far the most common cause.
        (None, None) if nonempty(env, "GITHUB_ACTIONS").is_some() => {
            Err(AttestError::GitHubTokenVariableMissing {
                missing: "ACTIONS_ID_TOKEN_REQUEST_URL",
            })
        }
        (None, None) => Err(AttestError::NoTokenSource),
    }
}

/// Carries out the plan and pre-checks the token against `now` (Unix seconds).
pub async fn acquire(
    flag: Option<&str>,
    env: &dyn Env,
    client: &reqwest::Client,
    now: u64,
) -> Result<IdentityToken, AttestError> {
    let (jwt, source) = match plan(flag, env)? {
        Plan::Ready(jwt, source) => (jwt, source),
        Plan::GitHub { url, bearer } => (
            fetch_github(client, &url, &bearer).await?,
            TokenSource::GitHubActions,
        ),
    };
    let proof_subject = precheck(&jwt, source, now)?;
    Ok(IdentityToken {
        jwt,
        source,
        proof_subject,
    })
}

/// `GET <url>&audience=sigstore` with `Authorization: bearer <token>`, answered `{"value"}`.
async fn fetch_github(
    client: &reqwest::Client,
    url: &str,
    bearer: &str,
) -> Result<String, AttestError> {
    let step = Step::GitHubToken;
    let mut url = url::Url::parse(url).map_err(|e| AttestError::Transport {
        step,
        reason: format!("ACTIONS_ID_TOKEN_REQUEST_URL is not a URL: {e}"),
    })?;
    url.query_pairs_mut()
        .append_pair("audience", SIGSTORE_AUDIENCE);
    let request = client
        .get(url)
        .header(reqwest::header::AUTHORIZATION, format!("bearer {bearer}"));
    #[derive(Deserialize)]
    struct TokenResponse {
        value: String,
    }
    let body: TokenResponse = http::send_json(step, request).await?;
    let token = body.value.trim();
    if token.is_empty() {
        return Err(AttestError::BadResponse {
            step,
            reason: "empty \"value\"".into(),
        });
    }
    Ok(token.to_owned())
}

/// The claims the pre-checks read. `aud` may be a string or an array (RFC 7519 §4.1.3).
#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    email: Option<String>,
    exp: Option<serde_json::Value>,
    aud: Option<serde_json::Value>,
}

/// Checks shape, expiry and audience; returns the proof-of-possession subject.
pub fn precheck(jwt: &str, source: TokenSource, now: u64) -> Result<String, AttestError> {
    let source_name = source.name();
    let malformed = |reason: &str| AttestError::MalformedToken {
        source_name,
        reason: reason.to_owned(),
    };
    let mut parts = jwt.split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("expected three dot-separated parts"));
    };
    // JWTs use unpadded base64url; tolerate padding some issuers leave in.
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| malformed("the claims are not base64url"))?;
    let claims: Claims = serde_json::from_slice(&bytes)
        .map_err(|_| malformed("the claims are not a JSON object"))?;

    match claims.exp.as_ref().map(|exp| exp.as_f64()) {
        None => return Err(malformed("no exp claim")),
        Some(None) => return Err(malformed("exp is not a number")),
        Some(Some(exp)) => {
            // `as u64` saturates: negative or NaN become 0 (long expired), huge stays huge.
            let exp = exp as u64;
            if exp <= now {
                return Err(AttestError::TokenExpired {
                    source_name,
                    ago_seconds: now - exp,
                });
            }
        }
    }

    let audiences: Vec<&str> = match &claims.aud {
        Some(serde_json::Value::String(aud)) => vec![aud.as_str()],
        Some(serde_json::Value::Array(items)) => items.iter().filter_map(|a| a.as_str()).collect(),
        _ => Vec::new(),
    };
    if !audiences.contains(&SIGSTORE_AUDIENCE) {
        let found = match &claims.aud {
            Some(aud) => aud.to_string(),
            None => "(none)".to_owned(),
        };
        return Err(AttestError::WrongAudience { source_name, found });
    }

    let uses_email = claims
        .iss
        .as_deref()
        .is_some_and(|iss| EMAIL_ISSUERS.contains(&iss));
    let (claim, value) = if uses_email {
        ("email", claims.email)
    } else {
        ("sub", claims.sub)
    };
    value
        .filter(|v| !v.is_empty())
        .ok_or(AttestError::TokenClaimMissing { source_name, claim })
}

#[cfg(test)]
mod tests;

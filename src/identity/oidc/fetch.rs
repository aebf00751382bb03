//! Fetching an issuer's discovery document and JWKS.
//!
//! Only URLs derived from a *configured* issuer reach this module (the caller resolved `iss`
//! through the configuration first). Rules: `https://` everywhere except loopback hosts; 10 s
//! timeout; redirects only to the same scheme, host and port; bodies capped; of the discovery
//! document only `issuer` and `jwks_uri` are read (GitHub's has no `authorization_endpoint`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Client;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::Value;
use url::Url;

use super::error::TokenError;
use super::keys::KeySet;
use crate::identity::config::{IssuerConfig, is_loopback_host};

/// Whole-request timeout (Fulcio's discovery timeout).
const TIMEOUT: Duration = Duration::from_secs(10);
/// Largest discovery document or JWKS we read. Real ones are a few KiB.
const MAX_BODY_BYTES: usize = 512 * 1024;
/// Redirect hops followed (all same-origin).
const MAX_REDIRECTS: usize = 5;

/// HTTP clients: one trusting only its `CACert` per issuer that configures one, and a default
/// trusting the system roots.
#[derive(Debug)]
pub(super) struct Clients {
    default: Client,
    /// Keyed by the configuration entry's URL or pattern (`IssuerEntry::issuer_url`).
    pinned: HashMap<String, Client>,
}

impl Clients {
    /// Builds every client up front, so a bad `CACert` fails at start-up, not per token.
    pub(super) fn new(config: &IssuerConfig) -> Result<Self, TokenError> {
        let mut pinned = HashMap::new();
        for (key, entry) in config.issuers().chain(config.meta_issuers()) {
            if let Some(pem) = &entry.ca_cert {
                let mut roots = RootCertStore::empty();
                let mut count = 0usize;
                for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                    let cert =
                        cert.map_err(|e| TokenError::Setup(format!("CACert of {key}: {e}")))?;
                    roots
                        .add(cert)
                        .map_err(|e| TokenError::Setup(format!("CACert of {key}: {e}")))?;
                    count += 1;
                }
                if count == 0 {
                    return Err(TokenError::Setup(format!(
                        "CACert of {key} holds no certificate"
                    )));
                }
                pinned.insert(key.to_owned(), build_client(roots)?);
            }
        }
        let native = rustls_native_certs::load_native_certs();
        for e in &native.errors {
            tracing::warn!(error = %e, "could not load some system root certificates");
        }
        let mut roots = RootCertStore::empty();
        let (added, ignored) = roots.add_parsable_certificates(native.certs);
        if ignored > 0 {
            tracing::debug!(ignored, "ignored unparsable system root certificates");
        }
        if added == 0 {
            tracing::warn!("no system root certificates: https issuers without CACert will fail");
        }
        Ok(Clients {
            default: build_client(roots)?,
            pinned,
        })
    }

    /// The client for a configuration entry.
    pub(super) fn for_entry(&self, entry_url: &str) -> &Client {
        self.pinned.get(entry_url).unwrap_or(&self.default)
    }
}

fn build_client(roots: RootCertStore) -> Result<Client, TokenError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TokenError::Setup(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::custom(same_origin_redirects))
        .build()
        .map_err(|e| TokenError::Setup(format!("HTTP client: {e}")))
}

/// Follows a redirect only to the origin of the first request (Fulcio: same host), which also
/// keeps the https/loopback rule intact across hops.
fn same_origin_redirects(attempt: reqwest::redirect::Attempt<'_>) -> reqwest::redirect::Action {
    let same = attempt.previous().first().is_some_and(|first| {
        first.scheme() == attempt.url().scheme()
            && first.host_str() == attempt.url().host_str()
            && first.port_or_known_default() == attempt.url().port_or_known_default()
    });
    if !same {
        attempt.error("redirect to another origin refused")
    } else if attempt.previous().len() > MAX_REDIRECTS {
        attempt.error("too many redirects")
    } else {
        attempt.follow()
    }
}

/// Parses a URL we are about to fetch and applies the https/loopback rule.
pub(super) fn checked_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if url.host().is_some_and(|host| is_loopback_host(&host)) => Ok(url),
        _ => Err(format!(
            "{text:?} must be https:// (http:// only for loopback hosts)"
        )),
    }
}

/// The discovery URL for an issuer (OIDC Discovery §4: drop a trailing `/`, then append).
pub(super) fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// GETs `url` and returns the body, capped at [`MAX_BODY_BYTES`].
async fn get(client: &Client, url: Url) -> Result<Vec<u8>, String> {
    let shown = url.to_string();
    let mut response = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| format!("GET {shown}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("GET {shown}: HTTP {}", response.status()));
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY_BYTES as u64)
    {
        return Err(format!(
            "GET {shown}: body larger than {MAX_BODY_BYTES} bytes"
        ));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("GET {shown}: {e}"))?
    {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(format!(
                "GET {shown}: body larger than {MAX_BODY_BYTES} bytes"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Discovery then JWKS for `issuer` (the token's `iss`, already matched to the configuration).
pub(super) async fn fetch_keys(client: &Client, issuer: &str) -> Result<KeySet, TokenError> {
    let unavailable = |reason: String| TokenError::KeysUnavailable {
        issuer: issuer.to_owned(),
        reason,
    };
    let url = checked_url(&discovery_url(issuer)).map_err(unavailable)?;
    let body = get(client, url).await.map_err(unavailable)?;
    let doc: Value = serde_json::from_slice(&body)
        .map_err(|e| unavailable(format!("discovery document is not JSON: {e}")))?;
    match doc.get("issuer") {
        Some(Value::String(found)) if found == issuer => {}
        Some(Value::String(found)) => {
            return Err(TokenError::DiscoveryIssuerMismatch {
                expected: issuer.to_owned(),
                found: found.clone(),
            });
        }
        _ => {
            return Err(unavailable(
                "discovery document has no string \"issuer\"".to_owned(),
            ));
        }
    }
    let Some(Value::String(jwks_uri)) = doc.get("jwks_uri") else {
        return Err(unavailable(
            "discovery document has no string \"jwks_uri\"".to_owned(),
        ));
    };
    let jwks_url = checked_url(jwks_uri).map_err(|e| unavailable(format!("jwks_uri {e}")))?;
    let body = get(client, jwks_url).await.map_err(unavailable)?;
    KeySet::from_json(&body).map_err(unavailable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http() {
        assert!(checked_url("https://example.com/x").is_ok());
        assert!(checked_url("http://127.0.0.1:8080/x").is_ok());
        assert!(checked_url("http://127.9.9.9/x").is_ok());
        assert!(checked_url("http://[::1]:1/x").is_ok());
        assert!(checked_url("http://localhost/x").is_ok());
        assert!(checked_url("http://example.com/x").is_err());
        assert!(checked_url("http://10.0.0.1/x").is_err());
        assert!(checked_url("file:///etc/passwd").is_err());
        assert!(checked_url("ftp://example.com/").is_err());
    }

    #[test]
    fn discovery_url_handles_trailing_slash() {
        assert_eq!(
            discovery_url("https://a.example/tenant/"),
            "https://a.example/tenant/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url("https://a.example"),
            "https://a.example/.well-known/openid-configuration"
        );
    }
}

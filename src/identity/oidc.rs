//! OIDC identity-token verification (design §1 step 2, §6).
//!
//! [`TokenVerifier::verify`] runs, in this order:
//! 1. shape: at most [`MAX_TOKEN_BYTES`], exactly three segments, base64url JSON header and
//!    payload, `alg` in the asymmetric allow-list (never `none`, never HMAC);
//! 2. issuer: the *unverified* `iss` selects a configured issuer (exact, then anchored meta
//!    pattern). An unconfigured `iss` is rejected before any network request, so `iss` cannot
//!    be used to make us fetch arbitrary URLs;
//! 3. claims: `aud` contains the issuer's `ClientID`, `exp` present and not passed, `nbf`/`iat`
//!    not in the future (60 s leeway each), `sub` present. Checked before keys are fetched so
//!    expired or misdirected tokens cost no network traffic;
//! 4. keys: the issuer's JWKS (static for the built-in dev issuer, else discovery + JWKS,
//!    cached per issuer URL, see [`cache`]); the key is chosen by `kid` and must fit the
//!    algorithm (see [`keys`]); the signature must verify.
//!
//! Turning claims into an identity is [`super::principal`]'s job.

mod cache;
mod error;
mod fetch;
mod keys;
mod token;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;

use jsonwebtoken::jwk::JwkSet;
use serde_json::{Map, Value};

pub use error::TokenError;
pub use token::{LEEWAY_SECS, MAX_TOKEN_BYTES};
/// The pure steps [`TokenVerifier::verify`] runs on a token before any key is fetched (shape and
/// header allow-list, the unverified `iss`, the claim checks): no network, no keys, no clock.
/// Public so the fuzz targets (`fuzz/`) reach exactly the server's code path.
pub use token::{Parsed as ParsedToken, check_claims, issuer_claim, parse as parse_token};

use cache::{KeyCache, Snapshot};
use fetch::Clients;
use keys::KeySet;

use super::config::{IssuerConfig, ResolvedIssuer};

/// A token whose signature, issuer, audience and validity period have been checked.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    /// The configured issuer `iss` selected.
    pub issuer: ResolvedIssuer,
    /// All payload claims.
    pub claims: Map<String, Value>,
}

/// The verifier's notion of "now", in unix seconds. Injectable so tests need not sleep.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

fn system_clock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Verifies identity tokens against the issuer configuration. `Send + Sync`; share it via `Arc`.
pub struct TokenVerifier {
    config: Arc<IssuerConfig>,
    clients: Clients,
    cache: KeyCache,
    /// Keys known in-process (the built-in dev issuer), by issuer URL; never fetched.
    static_keys: HashMap<String, Arc<KeySet>>,
    clock: Clock,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("cached_issuers", &self.cache.len())
            .field(
                "static_issuers",
                &self.static_keys.keys().collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl TokenVerifier {
    /// Builds the verifier and its HTTP clients (per-issuer `CACert` pins, else system roots;
    /// rustls on aws-lc-rs; 10 s timeout; same-origin redirects only).
    pub fn new(config: Arc<IssuerConfig>) -> Result<Self, TokenError> {
        let clients = Clients::new(&config)?;
        Ok(TokenVerifier {
            config,
            clients,
            cache: KeyCache::default(),
            static_keys: HashMap::new(),
            clock: Arc::new(system_clock),
        })
    }

    /// Uses `jwks` for `issuer_url` instead of discovery (the built-in dev issuer, whose keys
    /// live in this process). The issuer must still be configured for its tokens to verify.
    pub fn with_static_keys(mut self, issuer_url: &str, jwks: JwkSet) -> Self {
        self.static_keys
            .insert(issuer_url.to_owned(), Arc::new(KeySet::from_jwks(&jwks)));
        self
    }

    /// Replaces the clock (unix seconds) used for `exp`/`nbf`/`iat` and cache ages.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    fn now(&self) -> u64 {
        (self.clock)()
    }

    /// Verifies `token`; see the module docs for the order of checks.
    pub async fn verify(&self, token: &str) -> Result<VerifiedToken, TokenError> {
        let parsed = token::parse(token)?;
        let iss = token::issuer_claim(&parsed.claims)?;
        let issuer = self
            .config
            .issuer_for(iss)
            .ok_or_else(|| TokenError::UnknownIssuer(iss.to_owned()))?;
        token::check_claims(&parsed.claims, &issuer.entry.client_id, self.now())?;

        let keys = self.keys_for(&issuer, parsed.kid.as_deref()).await?;
        keys.verify(
            parsed.kid.as_deref(),
            parsed.alg,
            &parsed.alg_name,
            parsed.signing_input,
            parsed.signature,
        )?;
        Ok(VerifiedToken {
            issuer,
            claims: parsed.claims,
        })
    }

    /// The keys to verify a token for `issuer` naming `kid`: static keys, else the cached set,
    /// refreshed (rate-limited) when missing, stale, or lacking `kid`.
    async fn keys_for(
        &self,
        issuer: &ResolvedIssuer,
        kid: Option<&str>,
    ) -> Result<Arc<KeySet>, TokenError> {
        let url = issuer.issuer_url.as_str();
        if let Some(keys) = self.static_keys.get(url) {
            return Ok(keys.clone());
        }
        let needs_fetch = |snap: &Option<Snapshot>, now: u64| match snap {
            None => true,
            Some(s) => s.is_stale(now) || kid.is_some_and(|k| !s.keys.has_kid(k)),
        };

        let entry = self.cache.entry(url, issuer.meta_pattern.is_some());
        // Fast path: known keys, no lock held across an await.
        let snap = entry.snapshot();
        if !needs_fetch(&snap, self.now())
            && let Some(s) = snap
        {
            return Ok(s.keys);
        }

        let mut state = entry.refresh.lock().await;
        // Another task may have fetched while we waited for the lock.
        let snap = entry.snapshot();
        let now = self.now();
        if needs_fetch(&snap, now) {
            if state.may_fetch(now) {
                state.last_attempt = Some(now);
                let client = self.clients.for_entry(&issuer.entry.issuer_url);
                match fetch::fetch_keys(client, url).await {
                    Ok(keys) => {
                        tracing::debug!(issuer = url, keys = keys.len(), "fetched issuer JWKS");
                        let keys = Arc::new(keys);
                        entry.store(Snapshot {
                            keys: keys.clone(),
                            fetched_at: now,
                        });
                        state.last_error = None;
                        return Ok(keys);
                    }
                    Err(e) => {
                        tracing::warn!(issuer = url, error = %e, "fetching issuer keys failed");
                        state.last_error = Some(e.clone());
                        if snap.is_none() {
                            return Err(e);
                        }
                    }
                }
            } else {
                tracing::debug!(issuer = url, "JWKS refresh rate-limited; using cached keys");
            }
        }
        match snap {
            Some(s) => Ok(s.keys),
            None => Err(state
                .last_error
                .clone()
                .unwrap_or_else(|| TokenError::KeysUnavailable {
                    issuer: url.to_owned(),
                    reason: "not fetched yet".to_owned(),
                })),
        }
    }
}

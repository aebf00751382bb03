//! The whole issuance pipeline as one call: token → principal → policy and rate limit → proof
//! of possession → issue (design.md §1, steps 2–5), in Fulcio's order, so the HTTP layer only
//! decodes requests and encodes answers.
//!
//! The issuer configuration, the token verifier built on it and the issuance policy are one
//! [`Settings`] value, replaced whole on reload: each request takes the current one when it
//! starts and is decided under it to the end, so a reload never mixes two configurations.
//!
//! Fulcio checks the token before it even parses the key, so a bad key encoding is reported
//! only once the token has passed; [`KeyProof`] therefore carries the request's key material
//! still in its transport encoding. Nothing is written before every check has passed: the
//! issuance log sees a request only in [`CertificateAuthority::issue`].

use crate::ca::authorities::Authorities;
use crate::ca::issuance::{CaError, CertificateAuthority, IssuedCertificate};
use crate::identity::IssuerConfig;
use crate::identity::oidc::{TokenError, TokenVerifier, VerifiedToken};
use crate::identity::principal::{Principal, PrincipalError, principal};
use crate::identity::san::{self, SanError};
use crate::log::Log;
use crate::policy::Policy;
use crate::ratelimit::{RateLimiter, RetryAfter};
use crate::storage::Store;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mayfly_spec::subject_key::{SubjectKey, SubjectKeyError};
use std::sync::{Arc, RwLock};
use std::time::Instant;

/// How a request proves that it holds the key to certify, as the Fulcio request carries it.
#[derive(Debug, Clone)]
pub enum KeyProof {
    /// A public key (PEM or DER; `None` if its transport encoding was already broken) and the
    /// base64 signature over the token's challenge claim.
    Signature {
        key: Option<Vec<u8>>,
        signature: String,
    },
    /// Base64 of a PEM (or DER) PKCS#10 request, self-signed.
    Csr(String),
}

/// Why a certificate was not issued. Every variant but [`IssueError::Ca`] is the client's
/// doing and left nothing behind.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Principal(#[from] PrincipalError),
    /// The identity holds what an X.509 SAN cannot carry.
    #[error(transparent)]
    San(#[from] SanError),
    /// The public key is missing or its transport encoding is broken.
    #[error("the public key is missing or not base64")]
    KeyEncoding,
    /// The proof of possession is not base64.
    #[error("the proof of possession is not base64")]
    ProofEncoding,
    /// The CSR is not base64.
    #[error("the certificate signing request is not base64")]
    CsrEncoding,
    /// The key or CSR is unparseable, refused by the key policy, or its proof does not verify.
    #[error(transparent)]
    Key(#[from] SubjectKeyError),
    /// The issuance policy allows no certificate for this identity.
    #[error("no policy rule allows a certificate for {identity}")]
    Denied { identity: String },
    /// This identity asked for more certificates than its rate allows.
    #[error("too many certificates for {identity}; retry in {}s", retry_after.header_secs())]
    RateLimited {
        identity: String,
        retry_after: RetryAfter,
    },
    /// Signing or logging failed: the server's side.
    #[error(transparent)]
    Ca(#[from] CaError),
}

/// What requests are decided under, replaced whole on reload.
pub struct Settings {
    /// The OIDC issuers this CA accepts.
    pub issuers: Arc<IssuerConfig>,
    /// Verifies tokens of exactly those issuers.
    pub tokens: TokenVerifier,
    /// Who may get a certificate; `None` admits any identity of a configured issuer, as
    /// Fulcio does.
    pub policy: Option<Arc<Policy>>,
}

/// The CA with everything it needs to serve a request.
pub struct Issuer {
    settings: RwLock<Arc<Settings>>,
    /// Certificates per identity (SAN).
    identity_limit: RateLimiter,
    /// Swapped whole when a rotation is loaded; a request keeps the set it started with.
    ca: RwLock<Arc<Authorities>>,
    log: Log<Store>,
}

impl Issuer {
    pub fn new(
        settings: Settings,
        identity_limit: RateLimiter,
        ca: Authorities,
        log: Log<Store>,
    ) -> Self {
        Issuer {
            settings: RwLock::new(Arc::new(settings)),
            identity_limit,
            ca: RwLock::new(Arc::new(ca)),
            log,
        }
    }

    /// Every CA generation; [`Authorities::current`] signs now.
    pub fn authorities(&self) -> Arc<Authorities> {
        // As with the settings: a poisoned lock still holds a whole `Arc`.
        self.ca.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the CA generations (a rotation loaded by a reload) for every request that
    /// starts from now on.
    pub fn replace_authorities(&self, authorities: Authorities) {
        *self.ca.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(authorities);
    }

    /// The settings requests are decided under now.
    pub fn settings(&self) -> Arc<Settings> {
        // A poisoned lock only means a panic while swapping an `Arc`; the value is whole.
        self.settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the settings for every request that starts from now on.
    pub fn replace_settings(&self, settings: Settings) {
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(settings);
    }

    /// Authenticates the token, applies the policy and the identity's rate limit, checks the
    /// key and its proof, and issues a certificate whose precertificate is durable in the
    /// issuance log.
    pub async fn issue(&self, token: &str, proof: KeyProof) -> Result<Issued, IssueError> {
        let settings = self.settings();
        let (principal, verified) = authenticate(&settings.tokens, token).await?;
        let identity = principal.san.as_str().to_owned();
        if let Some(policy) = &settings.policy {
            let decision =
                policy.evaluate(&verified.issuer.issuer_url, &verified.claims, &identity);
            if !decision.allowed {
                metrics::counter!("mayfly_issuance_denied_total", "issuer" => verified.issuer.issuer_url.clone())
                    .increment(1);
                tracing::warn!(
                    identity = %identity,
                    issuer = %verified.issuer.issuer_url,
                    rules_evaluated = ?decision.evaluated,
                    rule_errors = ?decision.errors,
                    "issuance denied by policy"
                );
                return Err(IssueError::Denied { identity });
            }
        }
        if let Err(retry_after) = self.identity_limit.check(&identity, Instant::now()) {
            metrics::counter!("mayfly_rate_limited_total", "limit" => "identity").increment(1);
            return Err(IssueError::RateLimited {
                identity,
                retry_after,
            });
        }
        let key = verify_proof(&principal, proof)?;
        // The generation is picked once: the chain returned is the one that signed.
        let ca = Arc::clone(self.authorities().current());
        let certificate = ca.issue(&self.log, &principal, &key).await?;
        tracing::info!(
            log_index = certificate.log_index,
            issuer = %principal.issuer,
            subject = %principal.subject,
            "issued certificate"
        );
        Ok(Issued {
            certificate,
            principal,
            ca,
        })
    }
}

/// The verified token and the identity it names, encodable in a certificate.
async fn authenticate(
    tokens: &TokenVerifier,
    token: &str,
) -> Result<(Principal, VerifiedToken), IssueError> {
    let verified = tokens.verify(token).await.inspect_err(|e| {
        tracing::warn!(reason = %e, "identity token rejected");
    })?;
    let mut principal = principal(&verified).inspect_err(|e| {
        tracing::warn!(reason = %e, issuer = %verified.issuer.issuer_url, "identity rejected");
    })?;
    principal.san = san::encodable(principal.san, &verified.claims).inspect_err(|e| {
        tracing::warn!(reason = %e, issuer = %verified.issuer.issuer_url, "identity rejected");
    })?;
    Ok((principal, verified))
}

/// A certificate and whom it was issued to.
#[derive(Debug, Clone)]
pub struct Issued {
    pub certificate: IssuedCertificate,
    pub principal: Principal,
    /// The CA generation that signed it, whose chain goes back with the certificate.
    pub ca: Arc<CertificateAuthority>,
}

/// The key the request proved it holds, or why it did not.
fn verify_proof(principal: &Principal, proof: KeyProof) -> Result<SubjectKey, IssueError> {
    match proof {
        KeyProof::Signature { key, signature } => {
            let key = SubjectKey::from_pem_or_der(&key.ok_or(IssueError::KeyEncoding)?)?;
            let signature = STANDARD
                .decode(signature)
                .map_err(|_| IssueError::ProofEncoding)?;
            key.verify_possession(principal.challenge.as_bytes(), &signature)?;
            Ok(key)
        }
        KeyProof::Csr(csr) => {
            let csr = STANDARD.decode(csr).map_err(|_| IssueError::CsrEncoding)?;
            Ok(SubjectKey::from_csr(&csr)?)
        }
    }
}

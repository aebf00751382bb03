//! Why a token was rejected.
//!
//! Every variant's `Display` is one short, actionable sentence for logs and operators. The HTTP
//! layer answers every variant with Fulcio's fixed 400 message ("There was an error processing
//! the identity token"); [`TokenError::is_client_error`] only tells logs whether the token or
//! the identity provider was at fault.

/// A token that could not be verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Longer than the cap; rejected before any decoding.
    #[error("token is {len} bytes; at most {max} are accepted")]
    TooLarge {
        /// The token's length in bytes.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// Not a compact JWS: wrong segment count, bad base64url, or a header/payload that is not a
    /// JSON object.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// `alg: none`: an unsigned token.
    #[error("algorithm \"none\" (unsigned token) is not allowed")]
    AlgorithmNone,
    /// An algorithm outside the asymmetric allow-list (HMAC included).
    #[error(
        "algorithm {0} is not allowed (allowed: RS256/384/512, PS256/384/512, ES256/384, EdDSA)"
    )]
    AlgorithmNotAllowed(String),
    /// The header marks an extension as critical (`crit`); none is understood.
    #[error("token header has critical extensions ({0}); none are supported")]
    CriticalHeader(String),
    /// A required claim is absent.
    #[error("token has no \"{0}\" claim")]
    MissingClaim(&'static str),
    /// A claim has the wrong JSON type or an unusable value.
    #[error("claim \"{claim}\" is invalid: {reason}")]
    InvalidClaim {
        /// The claim name.
        claim: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// `iss` matches no configured issuer (nothing was fetched).
    #[error("unknown issuer {0:?}: not configured in OIDCIssuers or MetaIssuers")]
    UnknownIssuer(String),
    /// `aud` does not contain the issuer's `ClientID`.
    #[error("audience does not include {expected:?}")]
    Audience {
        /// The configured client id.
        expected: String,
    },
    /// `exp` (plus leeway) has passed.
    #[error("token expired at {exp} (unix seconds; now {now}, leeway {leeway} s)")]
    Expired {
        /// The `exp` claim.
        exp: i64,
        /// The verifier's clock.
        now: u64,
        /// The allowed clock skew.
        leeway: u64,
    },
    /// `nbf` is in the future (beyond the leeway).
    #[error("token is not valid before {nbf} (unix seconds; now {now}, leeway {leeway} s)")]
    NotYetValid {
        /// The `nbf` claim.
        nbf: i64,
        /// The verifier's clock.
        now: u64,
        /// The allowed clock skew.
        leeway: u64,
    },
    /// `iat` is in the future (beyond the leeway).
    #[error("token issued in the future at {iat} (unix seconds; now {now}, leeway {leeway} s)")]
    IssuedInFuture {
        /// The `iat` claim.
        iat: i64,
        /// The verifier's clock.
        now: u64,
        /// The allowed clock skew.
        leeway: u64,
    },
    /// The token names a `kid` the issuer's JWKS does not have (after the allowed refresh).
    #[error("key id {0:?} not in the issuer's JWKS")]
    UnknownKeyId(String),
    /// The token has no `kid` and no key in the JWKS fits its algorithm.
    #[error("no key in the issuer's JWKS can verify {0} (and the token names no kid)")]
    NoKeyForAlgorithm(String),
    /// The key chosen by `kid` cannot verify the token's algorithm (e.g. an HMAC header over an
    /// RSA key, or an ES384 header over a P-256 key).
    #[error("key {kid:?} is not a {alg} key")]
    KeyAlgorithmMismatch {
        /// The key id.
        kid: String,
        /// The token's algorithm.
        alg: String,
    },
    /// No candidate key verifies the signature.
    #[error("signature does not verify with the issuer's key")]
    BadSignature,
    /// Discovery or JWKS could not be fetched or parsed (network, status, body).
    #[error("the issuer's keys could not be fetched from {issuer}: {reason}")]
    KeysUnavailable {
        /// The issuer URL.
        issuer: String,
        /// What failed.
        reason: String,
    },
    /// The discovery document names another issuer than the token's `iss`.
    #[error("discovery document of {expected} names issuer {found:?}; it must be identical")]
    DiscoveryIssuerMismatch {
        /// The token's `iss`.
        expected: String,
        /// The document's `issuer`.
        found: String,
    },
    /// The verifier could not be built (bad `CACert`, TLS setup).
    #[error("token verifier setup: {0}")]
    Setup(String),
}

impl TokenError {
    /// `true` when the token itself is at fault (bad format, claims, signature, unknown issuer or
    /// key); `false` when the identity provider or our setup is (unreachable or inconsistent
    /// discovery/JWKS). Fulcio answers 400 for both; the distinction is for logs and metrics.
    pub fn is_client_error(&self) -> bool {
        !matches!(
            self,
            TokenError::KeysUnavailable { .. }
                | TokenError::DiscoveryIssuerMismatch { .. }
                | TokenError::Setup(_)
        )
    }
}

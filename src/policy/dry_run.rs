//! `mayfly policy test`: what a policy decides for a token or a set of claims, without a
//! server, so operators can test policy changes in their own CI.
//!
//! The token is decoded, not verified: a test fixture is usually an expired token copied from a
//! real job, and the point is the decision, not the signature. The identity is computed exactly
//! as the server computes it (the issuer's type or CI-provider templates, then made encodable),
//! so what is printed is the SAN the certificate would carry.

use super::{Decision, Policy, PolicyError};
use crate::identity::IssuerConfig;
use crate::identity::oidc::VerifiedToken;
use crate::identity::principal::principal;
use crate::identity::san;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use std::path::Path;

/// What a dry run needs: the claims (from a token or a file) and, when the claims have no
/// `iss`, the issuer they are for.
pub struct DryRun<'a> {
    pub issuers: &'a IssuerConfig,
    pub claims: Map<String, Value>,
    pub issuer: Option<String>,
}

/// Where the claims come from.
pub enum Input<'a> {
    Token(&'a str),
    ClaimsFile(&'a Path),
}

/// Why a dry run could not reach a decision.
#[derive(Debug, thiserror::Error)]
pub enum DryRunError {
    #[error("{path}: {source}")]
    Policy { path: String, source: PolicyError },
    #[error("--issuers {path}: {source}")]
    Issuers {
        path: String,
        source: crate::identity::IssuerConfigError,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the token is not a JWT (three base64url parts with a JSON claims object)")]
    Token,
    #[error("the claims are not a JSON object: {0}")]
    Claims(String),
    #[error("no issuer: the claims have no \"iss\"; give --issuer")]
    NoIssuer,
    #[error("issuer {0} is not configured (see --issuers)")]
    UnknownIssuer(String),
    #[error("these claims make no identity for issuer {issuer}: {reason}")]
    Identity { issuer: String, reason: String },
}

/// The decision, with what it was about.
pub struct Outcome {
    pub issuer: String,
    pub identity: String,
    pub decision: Decision,
}

/// `mayfly policy test`: loads the issuer config (or the shipped one), the policy and the
/// claims, and decides.
pub fn test_files(
    policy: &Path,
    issuers: Option<&Path>,
    input: Input<'_>,
    issuer: Option<String>,
) -> Result<Outcome, DryRunError> {
    let loaded = load_files(policy, issuers, input)?;
    DryRun {
        issuers: &loaded.issuers,
        claims: loaded.claims,
        issuer,
    }
    .decide(&loaded.policy)
}

/// A policy with the issuer configuration it was checked against, and the claims to decide.
pub struct Loaded {
    pub issuers: IssuerConfig,
    pub policy: Policy,
    pub claims: Map<String, Value>,
}

/// Reads and checks the files `mayfly policy test` (and `mayfly bench policy`) take.
pub fn load_files(
    policy: &Path,
    issuers: Option<&Path>,
    input: Input<'_>,
) -> Result<Loaded, DryRunError> {
    let shown = |p: &Path| p.display().to_string();
    let config = match issuers {
        Some(path) => IssuerConfig::load(path),
        None => IssuerConfig::shipped(),
    }
    .map_err(|source| DryRunError::Issuers {
        path: issuers.map_or_else(|| "(shipped)".into(), shown),
        source,
    })?;
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|source| DryRunError::Read {
            path: shown(path),
            source,
        })
    };
    let known = |url: &str| {
        config.issuers().any(|(u, _)| u == url) || config.meta_issuers().any(|(p, _)| p == url)
    };
    let checked = Policy::from_yaml_or_json(&read(policy)?, &known).map_err(|source| {
        DryRunError::Policy {
            path: shown(policy),
            source,
        }
    })?;
    let claims = match input {
        Input::Token(token) => claims_of_token(token)?,
        Input::ClaimsFile(path) => claims_of_json(&read(path)?)?,
    };
    Ok(Loaded {
        issuers: config,
        policy: checked,
        claims,
    })
}

/// The claims of a compact JWS, unverified.
pub fn claims_of_token(token: &str) -> Result<Map<String, Value>, DryRunError> {
    let payload = token.trim().split('.').nth(1).ok_or(DryRunError::Token)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| DryRunError::Token)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(claims)) => Ok(claims),
        _ => Err(DryRunError::Token),
    }
}

/// The claims in a JSON document.
pub fn claims_of_json(text: &str) -> Result<Map<String, Value>, DryRunError> {
    match serde_json::from_str(text) {
        Ok(Value::Object(claims)) => Ok(claims),
        Ok(_) => Err(DryRunError::Claims("a JSON object is needed".into())),
        Err(e) => Err(DryRunError::Claims(e.to_string())),
    }
}

impl DryRun<'_> {
    /// Computes the identity and evaluates `policy` for it.
    pub fn decide(self, policy: &Policy) -> Result<Outcome, DryRunError> {
        let issuer = match (self.issuer, self.claims.get("iss").and_then(Value::as_str)) {
            (Some(given), _) => given,
            (None, Some(iss)) => iss.to_owned(),
            (None, None) => return Err(DryRunError::NoIssuer),
        };
        let resolved = self
            .issuers
            .issuer_for(&issuer)
            .ok_or_else(|| DryRunError::UnknownIssuer(issuer.clone()))?;
        let verified = VerifiedToken {
            issuer: resolved,
            claims: self.claims,
        };
        let identity_error = |reason: String| DryRunError::Identity {
            issuer: issuer.clone(),
            reason,
        };
        let found = principal(&verified).map_err(|e| identity_error(e.to_string()))?;
        let san = san::encodable(found.san, &verified.claims)
            .map_err(|e| identity_error(e.to_string()))?;
        let identity = san.as_str().to_owned();
        let decision = policy.evaluate(&issuer, &verified.claims, &identity);
        Ok(Outcome {
            issuer,
            identity,
            decision,
        })
    }
}

impl Outcome {
    /// The report `mayfly policy test` prints.
    pub fn report(&self) -> String {
        let mut out = String::new();
        let verdict = if self.decision.allowed {
            "allow"
        } else {
            "deny"
        };
        out.push_str(&format!("decision  {verdict}\n"));
        match &self.decision.rule {
            Some(rule) => out.push_str(&format!("rule      {rule}\n")),
            None if self.decision.evaluated.is_empty() => {
                out.push_str("rule      (none: no rule applies to this issuer)\n")
            }
            None => out.push_str(&format!(
                "rule      (none of {} allows it)\n",
                self.decision.evaluated.join(", ")
            )),
        }
        out.push_str(&format!("identity  {}\n", self.identity));
        out.push_str(&format!("issuer    {}\n", self.issuer));
        for (rule, error) in &self.decision.errors {
            out.push_str(&format!("error     {rule}: {error}\n"));
        }
        out
    }
}

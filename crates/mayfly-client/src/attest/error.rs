//! The one error type of `mayfly attest`. Every variant says what to do next or which step
//! failed, because the person reading it is usually looking at a failed CI job log.

use std::fmt;
use std::path::PathBuf;

/// A network step of the signing flow, named in errors so a failure points at one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=sigstore`.
    GitHubToken,
    /// `POST /api/v2/signingCert` (Fulcio).
    SigningCertificate,
    /// `POST /api/v1/log/entries` (Rekor).
    TransparencyLog,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::GitHubToken => "fetching the GitHub Actions identity token",
            Step::SigningCertificate => {
                "requesting a signing certificate (POST /api/v2/signingCert)"
            }
            Step::TransparencyLog => {
                "recording the attestation in the transparency log (POST /api/v1/log/entries)"
            }
        })
    }
}

/// Why `mayfly attest` could not produce a bundle.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    /// No identity token could be found anywhere.
    #[error(
        "no identity token: pass --identity-token, set SIGSTORE_ID_TOKEN (GitLab: an `id_tokens:` \
         entry with `aud: sigstore`), or run in GitHub Actions with `permissions: id-token: write`"
    )]
    NoTokenSource,
    /// Half of GitHub's token request pair is set: the job is misconfigured.
    #[error(
        "GitHub Actions token request is incomplete: {missing} is not set (is \
         `permissions: id-token: write` granted to this job?)"
    )]
    GitHubTokenVariableMissing { missing: &'static str },
    /// npm provenance describes a CI build; outside one there is nothing to describe.
    #[error(
        "npm provenance needs a CI build to describe: run in GitHub Actions (GITHUB_ACTIONS) or \
         GitLab CI (GITLAB_CI)"
    )]
    NotInCi,
    /// A CI variable the provenance statement is built from is unset.
    #[error("the CI environment variable {name} is not set; it is needed for {purpose}")]
    MissingCiVariable {
        name: &'static str,
        purpose: &'static str,
    },
    /// The token is not a JWT we can read.
    #[error("the identity token from {source_name} is malformed: {reason}")]
    MalformedToken {
        source_name: &'static str,
        reason: String,
    },
    /// The token's `exp` is in the past (checked locally, before any request).
    #[error(
        "the identity token from {source_name} expired {ago_seconds} s ago; CI tokens live for \
         minutes: request a fresh one right before signing"
    )]
    TokenExpired {
        source_name: &'static str,
        ago_seconds: u64,
    },
    /// The token is for another audience; the server would refuse it.
    #[error(
        "the identity token from {source_name} has audience {found}, but Sigstore needs \
         \"sigstore\" (GitLab: `aud: sigstore` in `id_tokens:`)"
    )]
    WrongAudience {
        source_name: &'static str,
        found: String,
    },
    /// The token lacks the claim the proof of possession signs.
    #[error("the identity token from {source_name} has no {claim} claim")]
    TokenClaimMissing {
        source_name: &'static str,
        claim: &'static str,
    },
    /// Reading an input file failed.
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The npm tarball is not usable.
    #[error("{}: not a usable npm package tarball: {reason}", path.display())]
    Tarball { path: PathBuf, reason: String },
    /// The general subject cannot be described.
    #[error("invalid attestation input: {0}")]
    InvalidInput(String),
    /// Key generation or signing failed in aws-lc.
    #[error("the ephemeral signing key failed: {0}")]
    Key(&'static str),
    /// Setting up the HTTP client failed.
    #[error("setting up the HTTP client: {0}")]
    HttpSetup(String),
    /// A request could not be sent or its answer not read.
    #[error("{step} failed: {reason}")]
    Transport { step: Step, reason: String },
    /// The server answered with an error status.
    #[error("{step} failed: the server answered {status}: {message}")]
    Server {
        step: Step,
        status: u16,
        message: String,
    },
    /// The server answered success with something unusable.
    #[error("{step} failed: unusable answer from the server: {reason}")]
    BadResponse { step: Step, reason: String },
    /// Writing the bundle failed.
    #[error("writing the bundle to {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

//! Fulcio's issuer configuration (`pkg/config/config.go` format), validated at load.
//!
//! Accepted spellings: Fulcio's JSON form uses Go field names (`OIDCIssuers`, `IssuerURL`,
//! `BuildSignerURI`, …) and its YAML form kebab-case (`oidc-issuers`, `issuer-url`,
//! `build-signer-uri`, …). Go's `encoding/json` also matches field names case-insensitively. To
//! accept every file Fulcio accepts, keys are compared after lower-casing and dropping `-`/`_`,
//! in both formats. Unlike Go, unknown keys are rejected: a misspelt key in a security
//! configuration should stop the server, not be ignored.
//!
//! Like Fulcio, the text is parsed as JSON first and, if that fails, as YAML.
//!
//! Mayfly rules stricter than Fulcio (each with a clear error naming the issuer):
//! `http://` only for loopback hosts; an exact issuer's `IssuerURL`, if given, must equal its
//! map key (otherwise no token could ever verify); fields that only mean something for one
//! issuer type are rejected on other types; a meta-issuer pattern must keep its host's last two
//! labels literal (no wildcard registrable domain); `Issuer` in `ExtensionTemplates` is rejected
//! (Fulcio always overrides it from the token).
//!
//! This module holds the loaded configuration and its lookup; `parse` turns text into it,
//! `rules` holds the checks above and `wildcard` matches meta-issuer patterns.

mod parse;
mod rules;
#[cfg(test)]
mod tests;
mod wildcard;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use mayfly_spec::fulcio::ExtensionField;
use serde_json::Value;

use super::template::Template;

pub(crate) use rules::is_loopback_host;
pub(crate) use wildcard::WildcardPattern;

/// A configuration that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum IssuerConfigError {
    /// The file could not be read.
    #[error("reading issuer config {path}: {source}")]
    Io {
        /// The path given.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Neither valid JSON nor valid YAML.
    #[error("issuer config is neither JSON ({json}) nor YAML ({yaml})")]
    Syntax {
        /// The JSON parser's complaint.
        json: String,
        /// The YAML parser's complaint.
        yaml: String,
    },
    /// Well-formed but invalid; `what` names the issuer, meta issuer or CI provider.
    #[error("{what}: {reason}")]
    Invalid {
        /// E.g. `issuer "https://gitlab.com"`.
        what: String,
        /// What is wrong.
        reason: String,
    },
}

fn invalid(what: &str, reason: impl Into<String>) -> IssuerConfigError {
    IssuerConfigError::Invalid {
        what: what.to_owned(),
        reason: reason.into(),
    }
}

/// Fulcio's issuer types (`Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IssuerType {
    /// `email`
    Email,
    /// `github-workflow` (legacy code path; new configs use `ci-provider`).
    GithubWorkflow,
    /// `gitlab-pipeline` (legacy).
    GitlabPipeline,
    /// `buildkite-job` (legacy).
    BuildkiteJob,
    /// `codefresh-workflow` (legacy).
    CodefreshWorkflow,
    /// `chainguard-identity`
    ChainguardIdentity,
    /// `kubernetes`
    Kubernetes,
    /// `spiffe`
    Spiffe,
    /// `uri`
    Uri,
    /// `username`
    Username,
    /// `ci-provider`: SAN and extensions from `CIIssuerMetadata` templates.
    CiProvider,
}

impl IssuerType {
    const ALL: [IssuerType; 11] = [
        IssuerType::Email,
        IssuerType::GithubWorkflow,
        IssuerType::GitlabPipeline,
        IssuerType::BuildkiteJob,
        IssuerType::CodefreshWorkflow,
        IssuerType::ChainguardIdentity,
        IssuerType::Kubernetes,
        IssuerType::Spiffe,
        IssuerType::Uri,
        IssuerType::Username,
        IssuerType::CiProvider,
    ];

    /// The name as written in the configuration and in `/api/v2/configuration`.
    pub fn as_str(self) -> &'static str {
        match self {
            IssuerType::Email => "email",
            IssuerType::GithubWorkflow => "github-workflow",
            IssuerType::GitlabPipeline => "gitlab-pipeline",
            IssuerType::BuildkiteJob => "buildkite-job",
            IssuerType::CodefreshWorkflow => "codefresh-workflow",
            IssuerType::ChainguardIdentity => "chainguard-identity",
            IssuerType::Kubernetes => "kubernetes",
            IssuerType::Spiffe => "spiffe",
            IssuerType::Uri => "uri",
            IssuerType::Username => "username",
            IssuerType::CiProvider => "ci-provider",
        }
    }

    /// Parses a configured `Type` (exact, as Fulcio compares it).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// One issuer (an `OIDCIssuers` or `MetaIssuers` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerEntry {
    /// For exact issuers the issuer URL; for meta issuers the wildcard pattern.
    pub issuer_url: String,
    /// Expected `aud`.
    pub client_id: String,
    /// `Type`.
    pub issuer_type: IssuerType,
    /// `CIProvider` (set, and present in `CIIssuerMetadata`, exactly for `ci-provider`).
    pub ci_provider: Option<String>,
    /// `IssuerClaim`: JSONPath of the claim to use as issuer extension (email issuers only).
    pub issuer_claim: Option<String>,
    /// `SubjectDomain` (uri and username issuers).
    pub subject_domain: Option<String>,
    /// `SPIFFETrustDomain` (spiffe issuers).
    pub spiffe_trust_domain: Option<String>,
    /// `ChallengeClaim` as configured; see [`IssuerEntry::challenge_claim`].
    pub challenge_claim_override: Option<String>,
    /// `Description`.
    pub description: Option<String>,
    /// `Contact`.
    pub contact: Option<String>,
    /// `Environment` (a label such as staging/production).
    pub environment: Option<String>,
    /// `CACert`: PEM to trust for this issuer's TLS.
    pub ca_cert: Option<String>,
    /// `SkipEmailVerification` (email issuers only).
    pub skip_email_verification: bool,
}

impl IssuerEntry {
    /// The claim whose value the proof of possession signs: the configured `ChallengeClaim`, else
    /// `email` for email issuers and `sub` for every other type (Fulcio's defaults).
    pub fn challenge_claim(&self) -> &str {
        match &self.challenge_claim_override {
            Some(c) => c,
            None if self.issuer_type == IssuerType::Email => "email",
            None => "sub",
        }
    }
}

/// One `CIIssuerMetadata` entry with its templates parsed. A token's claims are rendered
/// through it by [`CiProvider::render`], beside the rest of the principal code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiProvider {
    /// The provider name (map key).
    pub name: String,
    /// `DefaultTemplateValues`.
    pub defaults: BTreeMap<String, String>,
    /// `ExtensionTemplates`, keyed (and therefore ordered) by extension.
    pub extension_templates: BTreeMap<ExtensionField, Template>,
    /// `SubjectAlternativeNameTemplate`.
    pub san_template: Template,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct MetaIssuer {
    pattern: String,
    matcher: WildcardPattern,
    entry: Arc<IssuerEntry>,
}

/// The issuer a token's `iss` selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedIssuer {
    /// The concrete issuer URL (the token's `iss`); discovery and the `iss` check use this.
    pub issuer_url: String,
    /// The configuration entry.
    pub entry: Arc<IssuerEntry>,
    /// The `MetaIssuers` pattern that matched, if not an exact issuer.
    pub meta_pattern: Option<String>,
    /// For `ci-provider` issuers, the provider's templates.
    pub ci_provider: Option<Arc<CiProvider>>,
}

/// A loaded, validated issuer configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerConfig {
    issuers: BTreeMap<String, Arc<IssuerEntry>>,
    /// In pattern order: when several patterns match, the first in this order wins. (Fulcio
    /// iterates a Go map, i.e. in random order; a deterministic choice can only be safer.)
    meta_issuers: Vec<MetaIssuer>,
    ci_providers: BTreeMap<String, Arc<CiProvider>>,
}

/// The configuration shipped in `ca-config/issuers.yaml`.
const SHIPPED: &str = include_str!("../../../ca-config/issuers.yaml");

impl IssuerConfig {
    /// The shipped default configuration (GitHub Actions, GitLab.com, Buildkite, CircleCI,
    /// Codefresh).
    pub fn shipped() -> Result<Self, IssuerConfigError> {
        Self::from_json_or_yaml(SHIPPED)
    }

    /// Reads and parses a configuration file (JSON or YAML).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, IssuerConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| IssuerConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json_or_yaml(&text)
    }

    /// Parses JSON, or if that fails YAML (Fulcio's order), then validates.
    pub fn from_json_or_yaml(text: &str) -> Result<Self, IssuerConfigError> {
        let value = match serde_json::from_str::<Value>(text) {
            Ok(v) => v,
            Err(json) => {
                serde_norway::from_str::<Value>(text).map_err(|yaml| IssuerConfigError::Syntax {
                    json: json.to_string(),
                    yaml: yaml.to_string(),
                })?
            }
        };
        parse::from_value(value)
    }

    /// The issuer for a token's `iss`: an exact `OIDCIssuers` key first, then the first
    /// `MetaIssuers` pattern (in pattern order) that matches the whole string.
    pub fn issuer_for(&self, iss: &str) -> Option<ResolvedIssuer> {
        let (entry, meta_pattern) = match self.issuers.get(iss) {
            Some(entry) => (entry.clone(), None),
            None => {
                let meta = self.meta_issuers.iter().find(|m| m.matcher.matches(iss))?;
                (meta.entry.clone(), Some(meta.pattern.clone()))
            }
        };
        let ci_provider = entry
            .ci_provider
            .as_ref()
            .and_then(|name| self.ci_providers.get(name).cloned());
        Some(ResolvedIssuer {
            issuer_url: iss.to_owned(),
            entry,
            meta_pattern,
            ci_provider,
        })
    }

    /// Accepts the built-in development issuer at `url` as a GitHub-Actions-shaped
    /// `ci-provider` issuer (audience `sigstore`, the `github-workflow` templates). Its keys are
    /// handed to the verifier in-process, so unlike configured issuers its URL need not be
    /// https or loopback: nothing is ever fetched from it.
    pub fn add_dev_issuer(&mut self, url: &str) -> Result<(), IssuerConfigError> {
        const PROVIDER: &str = "github-workflow";
        let what = format!("dev issuer {url:?}");
        if !self.ci_providers.contains_key(PROVIDER) {
            return Err(invalid(
                &what,
                format!("needs the {PROVIDER:?} CI provider in CIIssuerMetadata"),
            ));
        }
        if self.issuers.contains_key(url) {
            return Err(invalid(
                &what,
                "an issuer with this URL is already configured",
            ));
        }
        let entry = IssuerEntry {
            issuer_url: url.to_owned(),
            client_id: "sigstore".to_owned(),
            issuer_type: IssuerType::CiProvider,
            ci_provider: Some(PROVIDER.to_owned()),
            issuer_claim: None,
            subject_domain: None,
            spiffe_trust_domain: None,
            challenge_claim_override: None,
            description: Some("Mayfly built-in development issuer".to_owned()),
            contact: None,
            environment: Some("development".to_owned()),
            ca_cert: None,
            skip_email_verification: false,
        };
        self.issuers.insert(url.to_owned(), Arc::new(entry));
        Ok(())
    }

    /// Exact issuers, by URL.
    pub fn issuers(&self) -> impl Iterator<Item = (&str, &IssuerEntry)> {
        self.issuers.iter().map(|(k, v)| (k.as_str(), v.as_ref()))
    }

    /// Meta issuers, by wildcard pattern.
    pub fn meta_issuers(&self) -> impl Iterator<Item = (&str, &IssuerEntry)> {
        self.meta_issuers
            .iter()
            .map(|m| (m.pattern.as_str(), m.entry.as_ref()))
    }

    /// A CI provider by name.
    pub fn ci_provider(&self, name: &str) -> Option<&CiProvider> {
        self.ci_providers.get(name).map(Arc::as_ref)
    }
}

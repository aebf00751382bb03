//! Verified claims → the identity a certificate will carry (Fulcio's `identity/*/principal.go`).
//!
//! This module knows nothing of certificates: it yields the SAN, the issuer and subject values
//! for extensions .1/.8/.24, the CI extension values, and the challenge the proof of possession
//! must sign. Per issuer type (reference/fulcio.md §2.2):
//! - `email`: `email` with `email_verified` (bool or `"true"`, unless `SkipEmailVerification`);
//!   issuer from `IssuerClaim` (simple `$.a.b` JSONPath) if configured;
//! - `ci-provider`: the configured provider's templates;
//! - `github-workflow` (legacy): Fulcio's fixed GitHub mapping, coded here (not taken from a
//!   configuration a deployment may edit), over the 16 claims Fulcio requires;
//! - `gitlab-pipeline`, `buildkite-job`, `codefresh-workflow` (legacy): the shipped CI provider
//!   of the same name;
//! - `kubernetes`, `spiffe`, `uri`, `username`, `chainguard-identity`: as in Fulcio.

use std::sync::LazyLock;

use serde_json::{Map, Value};

use super::config::{CiProvider, IssuerConfig, IssuerEntry, IssuerType};
use super::oidc::VerifiedToken;
use super::template::{TemplateData, TemplateError, stringify_claim};
use mayfly_spec::fulcio::ExtensionField;

/// The certificate's one subject alternative name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectAltName {
    /// rfc822Name.
    Email(String),
    /// uniformResourceIdentifier.
    Uri(String),
    /// otherName 1.3.6.1.4.1.57264.1.7 whose value is `"{sub}!{SubjectDomain}"`.
    Username(String),
}

/// An authenticated identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The SAN.
    pub san: SubjectAltName,
    /// For extensions .1 and .8: `iss`, or for email issuers with `IssuerClaim` the claim it
    /// names.
    pub issuer: String,
    /// The raw `sub` (extension .24).
    pub subject: String,
    /// CI extension values in OID order (empty values already left out).
    pub ci: Vec<(ExtensionField, String)>,
    /// The value of the issuer's challenge claim, which the proof of possession signs.
    pub challenge: String,
}

/// Why verified claims do not make an identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrincipalError {
    /// A claim the issuer type needs is absent.
    #[error("token has no {0:?} claim")]
    MissingClaim(String),
    /// A claim has the wrong type or is empty.
    #[error("claim {claim:?} must be {expected}")]
    ClaimType {
        /// The claim.
        claim: String,
        /// What it must be.
        expected: &'static str,
    },
    /// `email_verified` is not true and verification is not skipped.
    #[error("email address is not verified (email_verified is {0})")]
    EmailNotVerified(String),
    /// The `email` claim is not an address.
    #[error("{0:?} is not a valid email address")]
    InvalidEmail(String),
    /// A CI provider template failed for this token.
    #[error("CI provider {provider:?}: {source}")]
    Template {
        /// The provider name.
        provider: String,
        /// The rendering error.
        source: TemplateError,
    },
    /// The issuer type needs a CI provider that is not available.
    #[error("{0}")]
    NoCiProvider(String),
    /// `IssuerClaim` could not be applied.
    #[error("IssuerClaim {path:?}: {reason}")]
    IssuerClaim {
        /// The configured JSONPath.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// A rendered or derived SAN is not a URI.
    #[error("subject alternative name {0:?} is not an absolute URI")]
    InvalidSan(String),
    /// `sub` is not a SPIFFE ID of the configured trust domain.
    #[error("subject {subject:?} is not a SPIFFE ID in trust domain {trust_domain:?}: {reason}")]
    Spiffe {
        /// The `sub` claim.
        subject: String,
        /// `SPIFFETrustDomain`.
        trust_domain: String,
        /// What is wrong.
        reason: String,
    },
    /// `sub` is not a URI under `SubjectDomain`.
    #[error("subject {subject:?} is not a URI on {domain:?}: {reason}")]
    Uri {
        /// The `sub` claim.
        subject: String,
        /// `SubjectDomain`.
        domain: String,
        /// What is wrong.
        reason: String,
    },
    /// `sub` cannot be a username.
    #[error("subject {subject:?} cannot be a username: {reason}")]
    Username {
        /// The `sub` claim.
        subject: String,
        /// What is wrong.
        reason: String,
    },
    /// The `kubernetes.io` claim is missing or incomplete.
    #[error("kubernetes.io claim: {0}")]
    Kubernetes(String),
    /// A configuration field the type requires is absent (config validation should prevent it).
    #[error("issuer {issuer} has no {field} configured")]
    MissingConfig {
        /// The issuer URL.
        issuer: String,
        /// The field name.
        field: &'static str,
    },
    /// The challenge claim is absent, not a string, or empty.
    #[error("challenge claim {0:?} must be a non-empty string")]
    Challenge(String),
}

/// Builds the principal for a verified token.
pub(crate) fn principal(token: &VerifiedToken) -> Result<Principal, PrincipalError> {
    let claims = &token.claims;
    let entry: &IssuerEntry = &token.issuer.entry;
    let iss = token.issuer.issuer_url.clone();
    let subject = string_claim(claims, "sub")?.to_owned();

    let mut issuer = iss.clone();
    let mut ci = Vec::new();
    let san = match entry.issuer_type {
        IssuerType::Email => {
            let email = email_identity(claims, entry.skip_email_verification)?;
            if let Some(path) = &entry.issuer_claim {
                issuer = json_path(claims, path)?;
            }
            SubjectAltName::Email(email)
        }
        IssuerType::CiProvider => {
            let provider = token.issuer.ci_provider.as_deref().ok_or_else(|| {
                PrincipalError::NoCiProvider(format!(
                    "ci-provider issuer {iss} has no CI provider templates"
                ))
            })?;
            let (san, ext) = render(provider, claims)?;
            ci = ext;
            san
        }
        IssuerType::GithubWorkflow => {
            let (san, ext) = github_legacy(claims)?;
            ci = ext;
            san
        }
        IssuerType::GitlabPipeline | IssuerType::BuildkiteJob | IssuerType::CodefreshWorkflow => {
            let name = entry.issuer_type.as_str();
            let shipped = SHIPPED
                .as_ref()
                .map_err(|e| PrincipalError::NoCiProvider(e.clone()))?;
            let provider = shipped.ci_provider(name).ok_or_else(|| {
                PrincipalError::NoCiProvider(format!(
                    "legacy issuer type {name} needs the CI provider {name:?}, which the \
                     shipped configuration lacks; configure the issuer as ci-provider"
                ))
            })?;
            let (san, ext) = render(provider, claims)?;
            ci = ext;
            san
        }
        IssuerType::Kubernetes => SubjectAltName::Uri(kubernetes_uri(claims)?),
        IssuerType::Spiffe => {
            let domain = config_field(&entry.spiffe_trust_domain, &iss, "SPIFFETrustDomain")?;
            check_spiffe_id(&subject, domain)?;
            SubjectAltName::Uri(subject.clone())
        }
        IssuerType::Uri => {
            let domain = config_field(&entry.subject_domain, &iss, "SubjectDomain")?;
            check_uri_subject(&subject, domain)?;
            SubjectAltName::Uri(subject.clone())
        }
        IssuerType::Username => {
            let domain = config_field(&entry.subject_domain, &iss, "SubjectDomain")?;
            let reason = if subject.contains('!') {
                Some("it contains '!'")
            } else if valid_email(&subject) {
                Some("it is an email address")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(PrincipalError::Username {
                    subject,
                    reason: reason.to_owned(),
                });
            }
            SubjectAltName::Username(format!("{subject}!{domain}"))
        }
        IssuerType::ChainguardIdentity => {
            let uri = format!("{}/{}", iss.trim_end_matches('/'), subject);
            SubjectAltName::Uri(check_absolute_uri(uri)?)
        }
    };

    let challenge_claim = entry.challenge_claim();
    let challenge = match claims.get(challenge_claim) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(PrincipalError::Challenge(challenge_claim.to_owned())),
    };

    Ok(Principal {
        san,
        issuer,
        subject,
        ci,
        challenge,
    })
}

/// The shipped configuration, for the legacy CI issuer types (parsed once).
static SHIPPED: LazyLock<Result<IssuerConfig, String>> = LazyLock::new(|| {
    IssuerConfig::shipped().map_err(|e| format!("shipped issuer configuration: {e}"))
});

fn config_field<'a>(
    value: &'a Option<String>,
    issuer: &str,
    field: &'static str,
) -> Result<&'a str, PrincipalError> {
    value
        .as_deref()
        .ok_or_else(|| PrincipalError::MissingConfig {
            issuer: issuer.to_owned(),
            field,
        })
}

fn string_claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Result<&'a str, PrincipalError> {
    match claims.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(_) => Err(PrincipalError::ClaimType {
            claim: name.to_owned(),
            expected: "a non-empty string",
        }),
        None => Err(PrincipalError::MissingClaim(name.to_owned())),
    }
}

// ---- ci-provider ----------------------------------------------------------------------------

/// The SAN URI and extension values a CI provider's templates give for one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedCi {
    /// The URI SAN.
    pub san: String,
    /// Extension values in OID order; empty results are left out (Fulcio omits them).
    pub extensions: Vec<(ExtensionField, String)>,
}

impl RenderedCi {
    /// The value rendered for `field`, if any.
    pub fn get(&self, field: ExtensionField) -> Option<&str> {
        self.extensions
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, v)| v.as_str())
    }
}

impl CiProvider {
    /// Renders the SAN and every extension template against one token's claims. Any failure
    /// rejects the token, as in Fulcio.
    pub fn render(&self, claims: &Map<String, Value>) -> Result<RenderedCi, TemplateError> {
        let data = TemplateData::new(claims, &self.defaults);
        let san = self.san_template.render(&data)?;
        if san.is_empty() {
            return Err(TemplateError::Exec(
                "subject alternative name template rendered empty".to_owned(),
            ));
        }
        let mut extensions = Vec::new();
        for (field, template) in &self.extension_templates {
            let value = template.render(&data)?;
            if !value.is_empty() {
                extensions.push((*field, value));
            }
        }
        Ok(RenderedCi { san, extensions })
    }
}

fn render(
    provider: &CiProvider,
    claims: &Map<String, Value>,
) -> Result<(SubjectAltName, Vec<(ExtensionField, String)>), PrincipalError> {
    let rendered = provider
        .render(claims)
        .map_err(|source| PrincipalError::Template {
            provider: provider.name.clone(),
            source,
        })?;
    let san = check_absolute_uri(rendered.san)?;
    Ok((SubjectAltName::Uri(san), rendered.extensions))
}

fn check_absolute_uri(uri: String) -> Result<String, PrincipalError> {
    match url::Url::parse(&uri) {
        Ok(u) if !u.cannot_be_a_base() => Ok(uri),
        _ => Err(PrincipalError::InvalidSan(uri)),
    }
}

// ---- email ----------------------------------------------------------------------------------

fn email_identity(
    claims: &Map<String, Value>,
    skip_verification: bool,
) -> Result<String, PrincipalError> {
    let email = string_claim(claims, "email")?;
    if !skip_verification {
        // Fulcio accepts a JSON boolean or the string "true" (some IdPs send strings).
        match claims.get("email_verified") {
            Some(Value::Bool(true)) => {}
            Some(Value::String(s)) if s == "true" => {}
            Some(other) => return Err(PrincipalError::EmailNotVerified(other.to_string())),
            None => return Err(PrincipalError::EmailNotVerified("absent".to_owned())),
        }
    }
    if !valid_email(email) {
        return Err(PrincipalError::InvalidEmail(email.to_owned()));
    }
    Ok(email.to_owned())
}

/// A conservative `local@domain` check: one `@`, no spaces, controls or address-list syntax,
/// dot-separated non-empty domain labels. It rejects quoted local parts and display names,
/// which never appear in IdP `email` claims.
fn valid_email(s: &str) -> bool {
    if s.len() > 254 {
        return false;
    }
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let forbidden = |c: char| c.is_whitespace() || c.is_control() || "<>()[]\\,;:\"@".contains(c);
    if local.is_empty() || local.len() > 64 || local.chars().any(forbidden) {
        return false;
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return false;
    }
    !domain.is_empty()
        && domain.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
}

/// Evaluates the simple JSONPath form `$.a.b.c` (object members only) to a non-empty string.
fn json_path(claims: &Map<String, Value>, path: &str) -> Result<String, PrincipalError> {
    let fail = |reason: String| PrincipalError::IssuerClaim {
        path: path.to_owned(),
        reason,
    };
    let rest = path
        .strip_prefix("$.")
        .ok_or_else(|| fail("must start with \"$.\"".to_owned()))?;
    let segments: Vec<&str> = rest.split('.').collect();
    let simple = |s: &&str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    };
    if !segments.iter().all(simple) {
        return Err(fail(
            "only the dotted form $.a.b with plain member names is supported".to_owned(),
        ));
    }
    let mut current: Option<&Value> = None;
    for (i, segment) in segments.iter().enumerate() {
        let object = match current {
            None => claims,
            Some(Value::Object(m)) => m,
            Some(_) => {
                return Err(fail(format!(
                    "{} is not an object",
                    segments[..i].join(".")
                )));
            }
        };
        current = Some(
            object
                .get(*segment)
                .ok_or_else(|| fail(format!("the token has no member {segment:?}")))?,
        );
    }
    match current {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(fail("the value is not a non-empty string".to_owned())),
    }
}

// ---- GitHub Actions (legacy github-workflow type) -------------------------------------------

/// The claims Fulcio's legacy GitHub principal requires.
const GITHUB_REQUIRED: [&str; 16] = [
    "job_workflow_ref",
    "sha",
    "event_name",
    "repository",
    "workflow",
    "ref",
    "job_workflow_sha",
    "runner_environment",
    "repository_id",
    "repository_owner",
    "repository_owner_id",
    "workflow_ref",
    "workflow_sha",
    "run_id",
    "run_attempt",
    "repository_visibility",
];

/// Fulcio's fixed GitHub mapping: extensions .2–.6 and .9–.22 (no .23 on this code path).
fn github_legacy(
    claims: &Map<String, Value>,
) -> Result<(SubjectAltName, Vec<(ExtensionField, String)>), PrincipalError> {
    let mut values = std::collections::BTreeMap::new();
    for name in GITHUB_REQUIRED {
        // Strings in real tokens; numbers are stringified as templates do, so both code paths
        // give identical values.
        let value = match claims.get(name) {
            Some(v @ (Value::String(_) | Value::Number(_))) => stringify_claim(v),
            Some(_) => {
                return Err(PrincipalError::ClaimType {
                    claim: name.to_owned(),
                    expected: "a string",
                });
            }
            None => return Err(PrincipalError::MissingClaim(name.to_owned())),
        };
        if value.is_empty() {
            return Err(PrincipalError::MissingClaim(name.to_owned()));
        }
        values.insert(name, value);
    }
    let v = |name: &str| values.get(name).cloned().unwrap_or_default();
    let gh = |name: &str| format!("https://github.com/{}", v(name));
    use ExtensionField as F;
    let ext = vec![
        (F::GithubWorkflowTrigger, v("event_name")),
        (F::GithubWorkflowSha, v("sha")),
        (F::GithubWorkflowName, v("workflow")),
        (F::GithubWorkflowRepository, v("repository")),
        (F::GithubWorkflowRef, v("ref")),
        (F::BuildSignerUri, gh("job_workflow_ref")),
        (F::BuildSignerDigest, v("job_workflow_sha")),
        (F::RunnerEnvironment, v("runner_environment")),
        (F::SourceRepositoryUri, gh("repository")),
        (F::SourceRepositoryDigest, v("sha")),
        (F::SourceRepositoryRef, v("ref")),
        (F::SourceRepositoryIdentifier, v("repository_id")),
        (F::SourceRepositoryOwnerUri, gh("repository_owner")),
        (F::SourceRepositoryOwnerIdentifier, v("repository_owner_id")),
        (F::BuildConfigUri, gh("workflow_ref")),
        (F::BuildConfigDigest, v("workflow_sha")),
        (F::BuildTrigger, v("event_name")),
        (
            F::RunInvocationUri,
            format!(
                "https://github.com/{}/actions/runs/{}/attempts/{}",
                v("repository"),
                v("run_id"),
                v("run_attempt")
            ),
        ),
        (
            F::SourceRepositoryVisibilityAtSigning,
            v("repository_visibility"),
        ),
    ];
    let san = check_absolute_uri(gh("job_workflow_ref"))?;
    Ok((SubjectAltName::Uri(san), ext))
}

// ---- kubernetes, spiffe, uri ----------------------------------------------------------------

/// DNS-1123 subdomain: what Kubernetes allows for namespace and service-account names. Also
/// keeps `/` and `..` out of the SAN path.
fn k8s_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !s.starts_with(['-', '.'])
        && !s.ends_with(['-', '.'])
}

fn kubernetes_uri(claims: &Map<String, Value>) -> Result<String, PrincipalError> {
    let k8s = match claims.get("kubernetes.io") {
        Some(Value::Object(m)) => m,
        Some(_) => return Err(PrincipalError::Kubernetes("not an object".to_owned())),
        None => return Err(PrincipalError::Kubernetes("absent".to_owned())),
    };
    let namespace = match k8s.get("namespace") {
        Some(Value::String(s)) if k8s_name(s) => s,
        _ => {
            return Err(PrincipalError::Kubernetes(
                "namespace missing or not a valid name".to_owned(),
            ));
        }
    };
    let account = match k8s.get("serviceaccount").and_then(|sa| sa.get("name")) {
        Some(Value::String(s)) if k8s_name(s) => s,
        _ => {
            return Err(PrincipalError::Kubernetes(
                "serviceaccount.name missing or not a valid name".to_owned(),
            ));
        }
    };
    Ok(format!(
        "https://kubernetes.io/namespaces/{namespace}/serviceaccounts/{account}"
    ))
}

/// SPIFFE ID syntax (SPIFFE-ID spec §2): `spiffe://<trust domain>[/<segment>...]`, trust domain
/// `[a-z0-9._-]`, segments `[a-zA-Z0-9._-]`, no empty, `.` or `..` segments, no trailing `/`,
/// no port, user info, query or fragment. The trust domain must equal the configured one.
fn check_spiffe_id(subject: &str, trust_domain: &str) -> Result<(), PrincipalError> {
    let fail = |reason: &str| PrincipalError::Spiffe {
        subject: subject.to_owned(),
        trust_domain: trust_domain.to_owned(),
        reason: reason.to_owned(),
    };
    if subject.len() > 2048 {
        return Err(fail("longer than 2048 bytes"));
    }
    let rest = subject
        .strip_prefix("spiffe://")
        .ok_or_else(|| fail("does not start with spiffe://"))?;
    let (domain, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let domain_ok = !domain.is_empty()
        && domain.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_')
        });
    if !domain_ok {
        return Err(fail("invalid trust domain name"));
    }
    if !path.is_empty() {
        // `path` starts with '/', so the first split piece is "".
        let segments_ok = path.split('/').skip(1).all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        });
        if !segments_ok {
            return Err(fail("invalid path"));
        }
    }
    if domain != trust_domain {
        return Err(fail("wrong trust domain"));
    }
    Ok(())
}

fn check_uri_subject(subject: &str, domain: &str) -> Result<(), PrincipalError> {
    let fail = |reason: &str| PrincipalError::Uri {
        subject: subject.to_owned(),
        domain: domain.to_owned(),
        reason: reason.to_owned(),
    };
    if valid_email(subject) {
        return Err(fail("it is an email address"));
    }
    let sub = url::Url::parse(subject).map_err(|_| fail("not a URL"))?;
    let dom = url::Url::parse(domain).map_err(|_| fail("SubjectDomain is not a URL"))?;
    if sub.scheme() != dom.scheme() {
        return Err(fail("scheme differs"));
    }
    if sub.host_str().is_none() || sub.host_str() != dom.host_str() {
        return Err(fail("host differs"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;

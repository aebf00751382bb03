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

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use mayfly_spec::fulcio::ExtensionField;
use serde_json::{Map, Value};

use super::template::{Template, TemplateData, TemplateError};

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

/// One `CIIssuerMetadata` entry with its templates parsed.
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

/// An anchored `MetaIssuers` pattern: each `*` matches one or more of `[-_a-zA-Z0-9]` (so never
/// a `.`, `/`, `:`, `@`, `?` or `#`), everything else matches literally. This is exactly what
/// Fulcio's quoted-and-anchored regex does, without building a regex from config text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WildcardPattern {
    /// The literal text between wildcards (`n` wildcards ⇒ `n + 1` pieces, possibly empty).
    pieces: Vec<String>,
}

fn is_wildcard_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

impl WildcardPattern {
    /// Compiles a pattern.
    pub fn new(pattern: &str) -> Self {
        WildcardPattern {
            pieces: pattern.split('*').map(str::to_owned).collect(),
        }
    }

    /// Whether the whole of `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        // Set of positions in `text` where the current literal piece may start. Positions only
        // ever follow a literal piece or ASCII wildcard bytes, so they are char boundaries.
        let mut starts = BTreeSet::from([0usize]);
        let last = self.pieces.len().saturating_sub(1);
        for (i, piece) in self.pieces.iter().enumerate() {
            let mut next = BTreeSet::new();
            for &p in &starts {
                let Some(rest) = text.get(p..) else { continue };
                if !rest.starts_with(piece.as_str()) {
                    continue;
                }
                let q = p + piece.len();
                if i == last {
                    if q == text.len() {
                        return true;
                    }
                    continue;
                }
                let run = text.as_bytes()[q..]
                    .iter()
                    .take_while(|b| is_wildcard_char(**b))
                    .count();
                next.extend((1..=run).map(|n| q + n));
            }
            if next.is_empty() {
                return false;
            }
            starts = next;
        }
        false
    }
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
const SHIPPED: &str = include_str!("../../ca-config/issuers.yaml");

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
        Self::from_value(&value)
    }

    fn from_value(value: &Value) -> Result<Self, IssuerConfigError> {
        let top = fields(value, "issuer config")?;
        let mut issuers_raw = None;
        let mut meta_raw = None;
        let mut providers_raw = None;
        for (key, v) in top {
            match key.as_str() {
                "oidcissuers" => issuers_raw = Some(v),
                "metaissuers" => meta_raw = Some(v),
                "ciissuermetadata" => providers_raw = Some(v),
                _ => {
                    return Err(invalid(
                        "issuer config",
                        format!(
                            "unknown top-level key (expected OIDCIssuers, MetaIssuers, \
                             CIIssuerMetadata) in {:?}",
                            original_keys(value)
                        ),
                    ));
                }
            }
        }

        let mut ci_providers = BTreeMap::new();
        for (name, v) in map_entries(providers_raw, "CIIssuerMetadata")? {
            let provider = parse_provider(name, v)?;
            ci_providers.insert(name.clone(), Arc::new(provider));
        }

        let mut issuers = BTreeMap::new();
        for (url, v) in map_entries(issuers_raw, "OIDCIssuers")? {
            let what = format!("issuer {url:?}");
            let entry = parse_issuer(&what, url, v, false, &ci_providers)?;
            issuers.insert(url.clone(), Arc::new(entry));
        }

        let mut meta_issuers = Vec::new();
        for (pattern, v) in map_entries(meta_raw, "MetaIssuers")? {
            let what = format!("meta issuer {pattern:?}");
            let entry = parse_issuer(&what, pattern, v, true, &ci_providers)?;
            meta_issuers.push(MetaIssuer {
                pattern: pattern.clone(),
                matcher: WildcardPattern::new(pattern),
                entry: Arc::new(entry),
            });
        }
        meta_issuers.sort_by(|a, b| a.pattern.cmp(&b.pattern));

        Ok(IssuerConfig {
            issuers,
            meta_issuers,
            ci_providers,
        })
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

// ---- generic value helpers ------------------------------------------------------------------

/// Key normalisation shared by the JSON and YAML spellings (see module docs).
/// The extension field a `ExtensionTemplates` key names, however Fulcio's loader would spell it.
fn extension_field(key: &str) -> Option<ExtensionField> {
    let k = normalize(key);
    ExtensionField::ALL
        .into_iter()
        .find(|f| normalize(f.json_name()) == k)
}

fn normalize(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

fn original_keys(value: &Value) -> Vec<String> {
    match value {
        Value::Object(m) => m.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// A struct-like mapping with normalised keys; duplicate spellings are an error.
fn fields<'a>(value: &'a Value, what: &str) -> Result<Vec<(String, &'a Value)>, IssuerConfigError> {
    let Value::Object(map) = value else {
        return Err(invalid(what, "must be a mapping"));
    };
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (key, v) in map {
        let norm = normalize(key);
        if !seen.insert(norm.clone()) {
            return Err(invalid(what, format!("key {key:?} is given twice")));
        }
        out.push((norm, v));
    }
    Ok(out)
}

/// A data mapping (keys kept verbatim); absent or null is empty.
fn map_entries<'a>(
    value: Option<&'a Value>,
    what: &str,
) -> Result<Vec<(&'a String, &'a Value)>, IssuerConfigError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(map)) => Ok(map.iter().collect()),
        Some(_) => Err(invalid(what, "must be a mapping")),
    }
}

fn string_field(what: &str, name: &str, v: &Value) -> Result<Option<String>, IssuerConfigError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(invalid(what, format!("{name} must be a string"))),
    }
}

// ---- CI providers ---------------------------------------------------------------------------

fn parse_provider(name: &str, value: &Value) -> Result<CiProvider, IssuerConfigError> {
    let what = format!("CI provider {name:?}");
    let mut defaults = BTreeMap::new();
    let mut extension_templates = BTreeMap::new();
    let mut san_template = None;
    for (key, v) in fields(value, &what)? {
        match key.as_str() {
            "defaulttemplatevalues" => {
                for (k, v) in map_entries(Some(v), &format!("{what} DefaultTemplateValues"))? {
                    let Value::String(s) = v else {
                        return Err(invalid(
                            &what,
                            format!("DefaultTemplateValues[{k:?}] must be a string"),
                        ));
                    };
                    defaults.insert(k.clone(), s.clone());
                }
            }
            "extensiontemplates" => {
                for (k, v) in map_entries(Some(v), &format!("{what} ExtensionTemplates"))? {
                    let field = match extension_field(k) {
                        Some(f) => f,
                        None if normalize(k) == "issuer" => {
                            return Err(invalid(
                                &what,
                                "ExtensionTemplates may not set Issuer: it is always the \
                                 token's issuer",
                            ));
                        }
                        None => {
                            return Err(invalid(
                                &what,
                                format!("unknown extension {k:?} in ExtensionTemplates"),
                            ));
                        }
                    };
                    // An empty template would always yield an omitted extension; treat it as
                    // absent rather than as the (missing) claim named "".
                    let Some(text) = string_field(&what, k, v)? else {
                        continue;
                    };
                    let template = Template::parse(&text)
                        .map_err(|e| invalid(&what, format!("extension {k}: {e}")))?;
                    if extension_templates.insert(field, template).is_some() {
                        return Err(invalid(&what, format!("extension {k:?} is given twice")));
                    }
                }
            }
            "subjectalternativenametemplate" => {
                if let Some(text) = string_field(&what, "SubjectAlternativeNameTemplate", v)? {
                    san_template = Some(Template::parse(&text).map_err(|e| {
                        invalid(&what, format!("SubjectAlternativeNameTemplate: {e}"))
                    })?);
                }
            }
            _ => {
                return Err(invalid(
                    &what,
                    format!(
                        "unknown key (normalised {key:?}); expected DefaultTemplateValues, \
                             ExtensionTemplates, SubjectAlternativeNameTemplate"
                    ),
                ));
            }
        }
    }
    let san_template =
        san_template.ok_or_else(|| invalid(&what, "SubjectAlternativeNameTemplate is required"))?;
    Ok(CiProvider {
        name: name.to_owned(),
        defaults,
        extension_templates,
        san_template,
    })
}

// ---- issuers --------------------------------------------------------------------------------

fn parse_issuer(
    what: &str,
    key: &str,
    value: &Value,
    is_meta: bool,
    ci_providers: &BTreeMap<String, Arc<CiProvider>>,
) -> Result<IssuerEntry, IssuerConfigError> {
    let mut issuer_url = None;
    let mut client_id = None;
    let mut type_name = None;
    let mut ci_provider = None;
    let mut issuer_claim = None;
    let mut subject_domain = None;
    let mut spiffe_trust_domain = None;
    let mut challenge_claim = None;
    let mut description = None;
    let mut contact = None;
    let mut environment = None;
    let mut ca_cert = None;
    let mut skip_email_verification = false;
    for (k, v) in fields(value, what)? {
        let s = |name: &str| string_field(what, name, v);
        match k.as_str() {
            "issuerurl" => issuer_url = s("IssuerURL")?,
            "clientid" => client_id = s("ClientID")?,
            "type" => type_name = s("Type")?,
            "ciprovider" => ci_provider = s("CIProvider")?,
            "issuerclaim" => issuer_claim = s("IssuerClaim")?,
            "subjectdomain" => subject_domain = s("SubjectDomain")?,
            "spiffetrustdomain" => spiffe_trust_domain = s("SPIFFETrustDomain")?,
            "challengeclaim" => challenge_claim = s("ChallengeClaim")?,
            "description" => description = s("Description")?,
            "contact" => contact = s("Contact")?,
            "environment" => environment = s("Environment")?,
            "cacert" => ca_cert = s("CACert")?,
            "skipemailverification" => match v {
                Value::Bool(b) => skip_email_verification = *b,
                Value::Null => {}
                _ => return Err(invalid(what, "SkipEmailVerification must be true or false")),
            },
            _ => {
                return Err(invalid(
                    what,
                    format!(
                        "unknown key in {:?}; expected IssuerURL, ClientID, Type, CIProvider, \
                         IssuerClaim, SubjectDomain, SPIFFETrustDomain, ChallengeClaim, \
                         Description, Contact, Environment, CACert, SkipEmailVerification",
                        original_keys(value)
                    ),
                ));
            }
        }
    }

    let type_name = type_name.ok_or_else(|| invalid(what, "Type is required"))?;
    let issuer_type = IssuerType::parse(&type_name).ok_or_else(|| {
        let known: Vec<&str> = IssuerType::ALL.iter().map(|t| t.as_str()).collect();
        invalid(
            what,
            format!(
                "unknown Type {type_name:?}; expected one of {}",
                known.join(", ")
            ),
        )
    })?;
    let client_id = client_id.ok_or_else(|| invalid(what, "ClientID is required"))?;

    // The URL or pattern.
    let host = if is_meta {
        check_meta_pattern(what, key)?
    } else {
        check_issuer_url(what, key)?
    };
    let issuer_url = match issuer_url {
        Some(u) if u != key => {
            return Err(invalid(
                what,
                format!("IssuerURL {u:?} differs from the map key; tokens could never verify"),
            ));
        }
        _ => key.to_owned(),
    };

    // Type-specific fields.
    let only_for = |field: &str, set: bool, ty: IssuerType| -> Result<(), IssuerConfigError> {
        if set && issuer_type != ty {
            Err(invalid(
                what,
                format!("{field} is only used by {} issuers", ty.as_str()),
            ))
        } else {
            Ok(())
        }
    };
    only_for("CIProvider", ci_provider.is_some(), IssuerType::CiProvider)?;
    only_for("IssuerClaim", issuer_claim.is_some(), IssuerType::Email)?;
    only_for(
        "SkipEmailVerification",
        skip_email_verification,
        IssuerType::Email,
    )?;
    only_for(
        "SPIFFETrustDomain",
        spiffe_trust_domain.is_some(),
        IssuerType::Spiffe,
    )?;
    if subject_domain.is_some() && !matches!(issuer_type, IssuerType::Uri | IssuerType::Username) {
        return Err(invalid(
            what,
            "SubjectDomain is only used by uri and username issuers",
        ));
    }

    match issuer_type {
        IssuerType::CiProvider => {
            let name = ci_provider
                .as_deref()
                .ok_or_else(|| invalid(what, "ci-provider issuers need CIProvider"))?;
            if !ci_providers.contains_key(name) {
                let known: Vec<&str> = ci_providers.keys().map(String::as_str).collect();
                return Err(invalid(
                    what,
                    format!(
                        "CIProvider {name:?} is not in CIIssuerMetadata (has: {})",
                        known.join(", ")
                    ),
                ));
            }
        }
        IssuerType::Email => {
            if let Some(path) = &issuer_claim
                && !path.starts_with("$.")
            {
                return Err(invalid(
                    what,
                    format!("IssuerClaim {path:?} must be a JSONPath starting with \"$.\""),
                ));
            }
        }
        IssuerType::Spiffe => {
            if is_meta {
                return Err(invalid(what, "spiffe issuers cannot be meta issuers"));
            }
            let domain = spiffe_trust_domain
                .as_deref()
                .ok_or_else(|| invalid(what, "spiffe issuers need SPIFFETrustDomain"))?;
            // SPIFFE trust domain names: lowercase letters, digits, '.', '-', '_'.
            let ok = domain.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_')
            });
            if !ok {
                return Err(invalid(
                    what,
                    format!("SPIFFETrustDomain {domain:?} is not a valid trust domain name"),
                ));
            }
        }
        IssuerType::Uri => {
            let domain = subject_domain
                .as_deref()
                .ok_or_else(|| invalid(what, "uri issuers need SubjectDomain"))?;
            let parsed = url::Url::parse(domain)
                .ok()
                .filter(|u| domain.contains("://") && u.host_str().is_some())
                .ok_or_else(|| {
                    invalid(
                        what,
                        format!("SubjectDomain {domain:?} must be a URL with a scheme and host"),
                    )
                })?;
            let subject_host = parsed.host_str().unwrap_or_default();
            if last_two_labels(subject_host) != last_two_labels(&host) {
                return Err(invalid(
                    what,
                    format!(
                        "SubjectDomain {domain:?} must share its top two domain labels with \
                         the issuer host {host:?}"
                    ),
                ));
            }
        }
        IssuerType::Username => {
            let domain = subject_domain
                .as_deref()
                .ok_or_else(|| invalid(what, "username issuers need SubjectDomain"))?;
            if domain.contains("://") {
                return Err(invalid(
                    what,
                    format!("SubjectDomain {domain:?} must not have a scheme for username issuers"),
                ));
            }
            if domain.contains('!') {
                return Err(invalid(
                    what,
                    format!("SubjectDomain {domain:?} must not contain '!'"),
                ));
            }
        }
        _ => {}
    }

    if let Some(pem) = &ca_cert
        && !pem.contains("-----BEGIN CERTIFICATE-----")
    {
        return Err(invalid(what, "CACert must be a PEM certificate"));
    }

    Ok(IssuerEntry {
        issuer_url,
        client_id,
        issuer_type,
        ci_provider,
        issuer_claim,
        subject_domain,
        spiffe_trust_domain,
        challenge_claim_override: challenge_claim,
        description,
        contact,
        environment,
        ca_cert,
        skip_email_verification,
    })
}

fn last_two_labels(host: &str) -> String {
    let labels: Vec<&str> = host.trim_end_matches('.').split('.').collect();
    labels[labels.len().saturating_sub(2)..].join(".")
}

fn is_loopback_host<S: AsRef<str>>(host: &url::Host<S>) -> bool {
    match host {
        url::Host::Domain(d) => d.as_ref().eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// Checks an exact issuer URL; returns its host.
fn check_issuer_url(what: &str, key: &str) -> Result<String, IssuerConfigError> {
    let url = url::Url::parse(key)
        .map_err(|e| invalid(what, format!("issuer URL does not parse: {e}")))?;
    let host = url
        .host()
        .ok_or_else(|| invalid(what, "issuer URL has no host"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(&host) => {}
        "http" => {
            return Err(invalid(
                what,
                "http:// issuer URLs are only allowed for loopback hosts (127.0.0.0/8, ::1, \
                 localhost); use https://",
            ));
        }
        other => {
            return Err(invalid(
                what,
                format!("issuer URL scheme {other:?} is not allowed; use https://"),
            ));
        }
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(invalid(
            what,
            "issuer URL must not have user info, a query or a fragment",
        ));
    }
    Ok(host.to_string())
}

/// Checks a meta-issuer pattern; returns its host (possibly with wildcards).
fn check_meta_pattern(what: &str, pattern: &str) -> Result<String, IssuerConfigError> {
    let (scheme, rest) = if let Some(rest) = pattern.strip_prefix("https://") {
        ("https", rest)
    } else if let Some(rest) = pattern.strip_prefix("http://") {
        ("http", rest)
    } else {
        return Err(invalid(
            what,
            "meta issuer pattern must start with https:// (or http:// for loopback hosts)",
        ));
    };
    if pattern.contains(['?', '#', '@', ' ']) {
        return Err(invalid(
            what,
            "meta issuer pattern must not contain '?', '#', '@' or spaces",
        ));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    // Strip a port; IPv6 literals keep their brackets.
    let host = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => &authority[..i],
        _ => authority,
    };
    if host.is_empty() {
        return Err(invalid(what, "meta issuer pattern has no host"));
    }
    if scheme == "http" {
        // `Host::parse` takes IPv6 literals in brackets, as they appear in the URL.
        let literal_loopback = !authority.contains('*')
            && url::Host::parse(host)
                .map(|h| is_loopback_host(&h))
                .unwrap_or(false);
        if !literal_loopback {
            return Err(invalid(
                what,
                "http:// meta issuer patterns are only allowed for literal loopback hosts; \
                 use https://",
            ));
        }
    } else if last_two_labels(host).contains('*') {
        return Err(invalid(
            what,
            "the last two labels of a meta issuer's host must be literal (a wildcard there \
             would admit any registrable domain)",
        ));
    }
    Ok(host.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const JSON: &str = r#"{
      "OIDCIssuers": {
        "https://token.actions.githubusercontent.com": {
          "IssuerURL": "https://token.actions.githubusercontent.com",
          "ClientID": "sigstore", "Type": "ci-provider", "CIProvider": "github-workflow"},
        "https://idp.corp.example": {"IssuerURL": "https://idp.corp.example", "ClientID": "sigstore",
          "Type": "email", "SkipEmailVerification": true,
          "CACert": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"},
        "http://127.0.0.1:8700/dev-oidc": {"ClientID": "sigstore", "Type": "ci-provider",
          "CIProvider": "github-workflow"}
      },
      "MetaIssuers": {
        "https://token.actions.githubusercontent.com/*": {"ClientID": "sigstore",
          "Type": "ci-provider", "CIProvider": "github-workflow"},
        "https://oidc.eks.*.amazonaws.com/id/*": {"ClientID": "sigstore", "Type": "kubernetes"}
      },
      "CIIssuerMetadata": {
        "github-workflow": {
          "DefaultTemplateValues": {"url": "https://github.com", "environment": ""},
          "SubjectAlternativeNameTemplate": "{{ .url }}/{{ .job_workflow_ref }}",
          "ExtensionTemplates": {"BuildSignerURI": "{{ .url }}/{{ .job_workflow_ref }}",
            "BuildSignerDigest": "job_workflow_sha", "DeploymentEnvironment": "environment"}}
      }
    }"#;

    const YAML: &str = r#"
oidc-issuers:
  https://token.actions.githubusercontent.com:
    issuer-url: https://token.actions.githubusercontent.com
    client-id: sigstore
    type: ci-provider
    ci-provider: github-workflow
  https://idp.corp.example:
    issuer-url: https://idp.corp.example
    client-id: sigstore
    type: email
    skip-email-verification: true
    ca-cert: |
      -----BEGIN CERTIFICATE-----
      MIIB
      -----END CERTIFICATE-----
  http://127.0.0.1:8700/dev-oidc:
    client-id: sigstore
    type: ci-provider
    ci-provider: github-workflow
meta-issuers:
  https://token.actions.githubusercontent.com/*:
    client-id: sigstore
    type: ci-provider
    ci-provider: github-workflow
  https://oidc.eks.*.amazonaws.com/id/*:
    client-id: sigstore
    type: kubernetes
ci-issuer-metadata:
  github-workflow:
    default-template-values:
      url: https://github.com
      environment: ""
    subject-alternative-name-template: "{{ .url }}/{{ .job_workflow_ref }}"
    extension-templates:
      build-signer-uri: "{{ .url }}/{{ .job_workflow_ref }}"
      build-signer-digest: job_workflow_sha
      deployment-environment: environment
"#;

    fn err_of(text: &str) -> String {
        match IssuerConfig::from_json_or_yaml(text) {
            Ok(_) => panic!("config should have been rejected:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn json_and_yaml_forms_are_equal() {
        let a = IssuerConfig::from_json_or_yaml(JSON).expect("json loads");
        let b = IssuerConfig::from_json_or_yaml(YAML).expect("yaml loads");
        assert_eq!(a, b);
        let gh = a
            .issuer_for("https://token.actions.githubusercontent.com")
            .expect("exact issuer");
        assert_eq!(gh.entry.client_id, "sigstore");
        assert_eq!(gh.entry.challenge_claim(), "sub");
        assert!(gh.meta_pattern.is_none());
        assert_eq!(
            gh.ci_provider.map(|p| p.name.clone()).as_deref(),
            Some("github-workflow")
        );
        let corp = a
            .issuer_for("https://idp.corp.example")
            .expect("email issuer");
        assert!(corp.entry.skip_email_verification);
        assert_eq!(corp.entry.challenge_claim(), "email");
        assert!(corp.ci_provider.is_none());
    }

    #[test]
    fn go_style_case_insensitive_keys_are_accepted() {
        let text = r#"{"oidcissuers": {"https://a.example": {"clientid": "x", "TYPE": "email"}}}"#;
        let c = IssuerConfig::from_json_or_yaml(text).expect("loads");
        assert!(c.issuer_for("https://a.example").is_some());
    }

    #[test]
    fn load_reads_a_file_and_reports_missing_ones() {
        let dir = std::env::temp_dir().join(format!("mayfly-issuers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("issuers.yaml");
        std::fs::write(&path, YAML).expect("write");
        let loaded = IssuerConfig::load(&path).expect("loads");
        assert_eq!(loaded, IssuerConfig::from_json_or_yaml(JSON).expect("json"));
        let missing = IssuerConfig::load(dir.join("nope.yaml"));
        assert!(matches!(missing, Err(IssuerConfigError::Io { .. })));
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn one_issuer(url: &str, body: Value) -> String {
        json!({
            "OIDCIssuers": {url: body},
            "CIIssuerMetadata": {"p": {"SubjectAlternativeNameTemplate": "{{ .url }}"}}
        })
        .to_string()
    }

    fn one_meta(pattern: &str, body: Value) -> String {
        json!({"MetaIssuers": {pattern: body}}).to_string()
    }

    #[test]
    fn validation_rules_each_reject_with_a_message_naming_the_issuer() {
        let cases: Vec<(String, &str)> = vec![
            (
                one_issuer("https://a.example", json!({"ClientID": "s"})),
                "Type is required",
            ),
            (
                one_issuer(
                    "https://a.example",
                    json!({"ClientID": "s", "Type": "ldap"}),
                ),
                "unknown Type \"ldap\"",
            ),
            (
                one_issuer("https://a.example", json!({"Type": "email"})),
                "ClientID is required",
            ),
            (
                one_issuer(
                    "https://a.example",
                    json!({"ClientID": "s", "Type": "ci-provider"}),
                ),
                "need CIProvider",
            ),
            (
                one_issuer(
                    "https://a.example",
                    json!({"ClientID": "s", "Type": "ci-provider", "CIProvider": "nope"}),
                ),
                "CIProvider \"nope\" is not in CIIssuerMetadata",
            ),
            (
                one_issuer(
                    "https://a.example",
                    json!({"ClientID": "s", "Type": "email", "CIProvider": "p"}),
                ),
                "CIProvider is only used by ci-provider",
            ),
            (
                one_issuer(
                    "http://a.example",
                    json!({"ClientID": "s", "Type": "email"}),
                ),
                "only allowed for loopback",
            ),
            (
                one_issuer("http://10.0.0.1", json!({"ClientID": "s", "Type": "email"})),
                "only allowed for loopback",
            ),
            (
                one_issuer("ftp://a.example", json!({"ClientID": "s", "Type": "email"})),
                "scheme \"ftp\"",
            ),
            (
                one_issuer("not a url", json!({"ClientID": "s", "Type": "email"})),
                "does not parse",
            ),
            (
                one_issuer(
                    "https://a.example?x=1",
                    json!({"ClientID": "s", "Type": "email"}),
                ),
                "query",
            ),
            (
                one_issuer(
                    "https://a.example",
                    json!({"ClientID": "s", "Type": "email", "IssuerURL": "https://b.example"}),
                ),
                "differs from the map key",
            ),
            (
                one_issuer(
                    "https://a.example",
                    json!({"ClientID": "s", "Type": "kubernetes", "IssuerClaim": "$.x"}),
                ),
                "IssuerClaim is only used by email",
            ),
            (
                one_issuer(
                    "https://a.example",
                    json!({"ClientID": "s", "Type": "email", "IssuerClaim": "x"}),
                ),
                "must be a JSONPath",
            ),
            (
                one_issuer(
                    "https://a.example",
                    json!({"ClientID": "s", "Type": "uri", "SkipEmailVerification": true}),
                ),
                "SkipEmailVerification is only used by email",
            ),
            (
                one_issuer(
                    "https://a.example",
                    json!({"ClientID": "s", "Type": "spiffe"}),
                ),
                "need SPIFFETrustDomain",
            ),
            (
                one_issuer(
                    "https://a.example",
                    json!({"ClientID": "s", "Type": "spiffe", "SPIFFETrustDomain": "Bad Domain"}),
                ),
                "not a valid trust domain",
            ),
            (
                one_issuer(
                    "https://a.example",
                    json!({"ClientID": "s", "Type": "email", "SPIFFETrustDomain": "x"}),
                ),
                "SPIFFETrustDomain is only used by spiffe",
            ),
            (
                one_issuer("https://a.example", json!({"ClientID": "s", "Type": "uri"})),
                "uri issuers need SubjectDomain",
            ),
            (
                one_issuer(
                    "https://a.example",
                    json!({"ClientID": "s", "Type": "uri", "SubjectDomain": "a.example"}),
                ),
                "must be a URL with a scheme",
            ),
            (
                one_issuer(
                    "https://id.a.example",
                    json!({"ClientID": "s", "Type": "uri", "SubjectDomain": "https://b.example"}),
                ),
                "top two domain labels",
            ),
            (
                one_issuer(
                    "https://a.example",
                    json!({"ClientID": "s", "Type": "username"}),
                ),
                "username issuers need SubjectDomain",
            ),
            (
                one_issuer(
                    "https://a.example",
                    json!({"ClientID": "s", "Type": "username", "SubjectDomain": "https://a.example"}),
                ),
                "must not have a scheme",
            ),
            (
                one_issuer(
                    "https://a.example",
                    json!({"ClientID": "s", "Type": "email", "SubjectDomain": "a.example"}),
                ),
                "SubjectDomain is only used by uri and username",
            ),
            (
                one_issuer(
                    "https://a.example",
                    json!({"ClientID": "s", "Type": "email", "CACert": "hello"}),
                ),
                "CACert must be a PEM",
            ),
            (
                one_issuer("https://a.example", json!({"ClientID": 5, "Type": "email"})),
                "ClientID must be a string",
            ),
            (
                one_issuer(
                    "https://a.example",
                    json!({"ClientID": "s", "Type": "email", "SkipEmailVerification": "yes"}),
                ),
                "SkipEmailVerification must be true or false",
            ),
            (
                one_issuer(
                    "https://a.example",
                    json!({"ClientID": "s", "Type": "email", "Typo": 1}),
                ),
                "unknown key",
            ),
            (
                one_issuer(
                    "https://a.example",
                    json!({"ClientID": "s", "client-id": "t", "Type": "email"}),
                ),
                "given twice",
            ),
            (
                one_meta(
                    "https://spiffe.*.example.com",
                    json!({"ClientID": "s", "Type": "spiffe", "SPIFFETrustDomain": "example.com"}),
                ),
                "spiffe issuers cannot be meta issuers",
            ),
            (
                one_meta(
                    "http://*.example.com",
                    json!({"ClientID": "s", "Type": "email"}),
                ),
                "literal loopback",
            ),
            (
                one_meta(
                    "http://127.0.0.*",
                    json!({"ClientID": "s", "Type": "email"}),
                ),
                "literal loopback",
            ),
            (
                one_meta("https://a.*.*", json!({"ClientID": "s", "Type": "email"})),
                "must be literal",
            ),
            (
                one_meta(
                    "https://issuer.*",
                    json!({"ClientID": "s", "Type": "email"}),
                ),
                "must be literal",
            ),
            (
                one_meta(
                    "*://a.example.com",
                    json!({"ClientID": "s", "Type": "email"}),
                ),
                "must start with https://",
            ),
            (
                one_meta(
                    "https://a.example.com/*?x",
                    json!({"ClientID": "s", "Type": "email"}),
                ),
                "must not contain",
            ),
            (json!({"Issuers": {}}).to_string(), "unknown top-level key"),
            (
                json!({"CIIssuerMetadata": {"p": {}}}).to_string(),
                "SubjectAlternativeNameTemplate is required",
            ),
            (
                json!({"CIIssuerMetadata": {"p": {"SubjectAlternativeNameTemplate": "{{ .x "}}})
                    .to_string(),
                "unclosed action",
            ),
            (
                json!({"CIIssuerMetadata": {"p": {"SubjectAlternativeNameTemplate": "x",
                    "ExtensionTemplates": {"Bogus": "x"}}}})
                .to_string(),
                "unknown extension \"Bogus\"",
            ),
            (
                json!({"CIIssuerMetadata": {"p": {"SubjectAlternativeNameTemplate": "x",
                    "ExtensionTemplates": {"Issuer": "iss"}}}})
                .to_string(),
                "may not set Issuer",
            ),
            (
                json!({"CIIssuerMetadata": {"p": {"SubjectAlternativeNameTemplate": "x",
                    "DefaultTemplateValues": {"n": 1}}}})
                .to_string(),
                "must be a string",
            ),
            ("{ not json: [".to_owned(), "neither JSON"),
            ("- just\n- a list\n".to_owned(), "must be a mapping"),
        ];
        for (text, expected) in cases {
            let err = err_of(&text);
            assert!(
                err.contains(expected),
                "for {text}\n got {err:?}\n want {expected:?}"
            );
        }
        // Errors name the issuer.
        let err = err_of(&one_issuer(
            "http://a.example",
            json!({"ClientID": "s", "Type": "email"}),
        ));
        assert!(err.starts_with("issuer \"http://a.example\""), "{err}");
        let err = err_of(&one_meta(
            "https://a.*.*",
            json!({"ClientID": "s", "Type": "email"}),
        ));
        assert!(err.starts_with("meta issuer \"https://a.*.*\""), "{err}");
    }

    #[test]
    fn loopback_http_and_valid_type_specific_issuers_are_accepted() {
        for url in [
            "http://127.0.0.1:8700/dev-oidc",
            "http://127.1.2.3",
            "http://[::1]:9000",
            "http://localhost:8080/x",
        ] {
            let text = one_issuer(url, json!({"ClientID": "s", "Type": "email"}));
            assert!(IssuerConfig::from_json_or_yaml(&text).is_ok(), "{url}");
        }
        let text = json!({
            "OIDCIssuers": {
                "https://id.corp.example.com": {"ClientID": "s", "Type": "uri",
                    "SubjectDomain": "https://build.example.com"},
                "https://u.example.com": {"ClientID": "s", "Type": "username",
                    "SubjectDomain": "example.com"},
                "https://spire.example.com": {"ClientID": "s", "Type": "spiffe",
                    "SPIFFETrustDomain": "example.com", "ChallengeClaim": "sub"},
                "https://dex.example.com": {"ClientID": "s", "Type": "email",
                    "IssuerClaim": "$.federated_claims.connector_id"}
            },
            "MetaIssuers": {
                "http://localhost:1234/*": {"ClientID": "s", "Type": "kubernetes"},
                "http://[::1]:99/*": {"ClientID": "s", "Type": "kubernetes"}
            }
        })
        .to_string();
        let c = IssuerConfig::from_json_or_yaml(&text).expect("valid");
        assert!(c.issuer_for("http://localhost:1234/tenant-1").is_some());
        assert!(c.issuer_for("http://[::1]:99/tenant-1").is_some());
    }

    #[test]
    fn meta_issuer_matching() {
        let c = IssuerConfig::from_json_or_yaml(JSON).expect("loads");
        let gh = c
            .issuer_for("https://token.actions.githubusercontent.com/my-enterprise")
            .expect("enterprise slug matches");
        assert_eq!(
            gh.issuer_url,
            "https://token.actions.githubusercontent.com/my-enterprise"
        );
        assert_eq!(
            gh.meta_pattern.as_deref(),
            Some("https://token.actions.githubusercontent.com/*")
        );
        assert!(gh.ci_provider.is_some());
        let eks = c
            .issuer_for(
                "https://oidc.eks.us-west-2.amazonaws.com/id/B02C93B6A2D30341AD01E1B6D48164CB",
            )
            .expect("eks");
        assert_eq!(eks.entry.issuer_type, IssuerType::Kubernetes);

        for bad in [
            // Extra path segments, dots or other characters in a wildcard.
            "https://token.actions.githubusercontent.com/a/b",
            "https://token.actions.githubusercontent.com/a.b",
            "https://token.actions.githubusercontent.com/a%2Fb",
            "https://token.actions.githubusercontent.com/",
            "https://token.actions.githubusercontent.com/a/",
            "https://token.actions.githubusercontent.com/a?b",
            "https://token.actions.githubusercontent.com/a#b",
            "https://token.actions.githubusercontent.com/a@evil.example",
            // Unanchored matches (the SSRF fix GHSA-59jp-pj84-45mr).
            "https://evil.example/https://token.actions.githubusercontent.com/a",
            "https://token.actions.githubusercontent.com/a\n",
            "https://oidc.eks.us-west-2.evil.example/amazonaws.com/id/x",
            "https://oidc.eks.us.west.amazonaws.com/id/x",
            "https://oidc.eks.evil.example#.amazonaws.com/id/x",
            "https://oidc.eks.x.amazonaws.com.evil.example/id/x",
            "https://oidc.eks.x.amazonaws.com/id/x/y",
            "https://oidc.eks..amazonaws.com/id/x",
            // Regex metacharacters in the pattern are literal: '.' does not match any char.
            "https://tokenXactions.githubusercontent.com/a",
            "https://oidc-eks-x-amazonaws-com/id/x",
            // Case-sensitive, like the regex.
            "https://TOKEN.actions.githubusercontent.com/a",
            "",
        ] {
            assert!(c.issuer_for(bad).is_none(), "{bad:?} must not match");
        }
    }

    #[test]
    fn wildcard_pattern_edge_cases() {
        let p = WildcardPattern::new("https://a*b.example/*");
        assert!(p.matches("https://ab-b.example/x"));
        // Backtracking: the wildcard may itself contain the following literal's first char.
        assert!(p.matches("https://abbbb.example/x"));
        assert!(
            !p.matches("https://ab.example/x"),
            "wildcard needs at least one char"
        );
        let p = WildcardPattern::new("https://x/**");
        assert!(p.matches("https://x/ab"));
        assert!(!p.matches("https://x/a"));
        let p = WildcardPattern::new("https://x/plain");
        assert!(p.matches("https://x/plain"));
        assert!(!p.matches("https://x/plainer"));
        let p = WildcardPattern::new("https://x/*");
        assert!(p.matches("https://x/A_z-9"));
        assert!(!p.matches("https://x/é"));
    }

    #[test]
    fn exact_issuer_wins_over_meta_pattern() {
        let text = json!({
            "OIDCIssuers": {"https://a.example.com/exact": {"ClientID": "exact", "Type": "email"}},
            "MetaIssuers": {"https://a.example.com/*": {"ClientID": "meta", "Type": "email"}}
        })
        .to_string();
        let c = IssuerConfig::from_json_or_yaml(&text).expect("loads");
        let r = c.issuer_for("https://a.example.com/exact").expect("found");
        assert_eq!(r.entry.client_id, "exact");
        let r = c.issuer_for("https://a.example.com/other").expect("found");
        assert_eq!(r.entry.client_id, "meta");
    }

    fn github_claims() -> Map<String, Value> {
        let v = json!({
            "iss": "https://token.actions.githubusercontent.com",
            "aud": "sigstore",
            "sub": "repo:octo-org/octo-repo:ref:refs/heads/main",
            "jti": "example-id",
            "exp": 1632493867, "iat": 1632493567, "nbf": 1632492967,
            "ref": "refs/heads/main",
            "ref_type": "branch",
            "ref_protected": "true",
            "sha": "a4a8e15de4c1a5a4c5d5e7d3e0f00f8f2f0e1d2c",
            "repository": "octo-org/octo-repo",
            "repository_id": "74",
            "repository_owner": "octo-org",
            "repository_owner_id": "65",
            "repository_visibility": "public",
            "run_id": "12345678901",
            "run_number": "10",
            "run_attempt": "2",
            "runner_environment": "github-hosted",
            "actor": "octocat",
            "actor_id": "12",
            "workflow": "release",
            "workflow_ref": "octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main",
            "workflow_sha": "a4a8e15de4c1a5a4c5d5e7d3e0f00f8f2f0e1d2c",
            "job_workflow_ref": "octo-org/shared/.github/workflows/build.yml@refs/tags/v1",
            "job_workflow_sha": "0123456789abcdef0123456789abcdef01234567",
            "event_name": "push",
            "head_ref": "",
            "base_ref": ""
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn shipped_config_renders_github_actions_extensions() {
        let c = IssuerConfig::shipped().expect("shipped config loads");
        let r = c
            .issuer_for("https://token.actions.githubusercontent.com")
            .expect("github issuer");
        assert_eq!(r.entry.client_id, "sigstore");
        let provider = r.ci_provider.expect("ci provider");
        let out = provider.render(&github_claims()).expect("renders");
        assert_eq!(
            out.san,
            "https://github.com/octo-org/shared/.github/workflows/build.yml@refs/tags/v1"
        );
        use ExtensionField as F;
        let expected = [
            (F::GithubWorkflowTrigger, "push"),
            (
                F::GithubWorkflowSha,
                "a4a8e15de4c1a5a4c5d5e7d3e0f00f8f2f0e1d2c",
            ),
            (F::GithubWorkflowName, "release"),
            (F::GithubWorkflowRepository, "octo-org/octo-repo"),
            (F::GithubWorkflowRef, "refs/heads/main"),
            (
                F::BuildSignerUri,
                "https://github.com/octo-org/shared/.github/workflows/build.yml@refs/tags/v1",
            ),
            (
                F::BuildSignerDigest,
                "0123456789abcdef0123456789abcdef01234567",
            ),
            (F::RunnerEnvironment, "github-hosted"),
            (
                F::SourceRepositoryUri,
                "https://github.com/octo-org/octo-repo",
            ),
            (
                F::SourceRepositoryDigest,
                "a4a8e15de4c1a5a4c5d5e7d3e0f00f8f2f0e1d2c",
            ),
            (F::SourceRepositoryRef, "refs/heads/main"),
            (F::SourceRepositoryIdentifier, "74"),
            (F::SourceRepositoryOwnerUri, "https://github.com/octo-org"),
            (F::SourceRepositoryOwnerIdentifier, "65"),
            (
                F::BuildConfigUri,
                "https://github.com/octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main",
            ),
            (
                F::BuildConfigDigest,
                "a4a8e15de4c1a5a4c5d5e7d3e0f00f8f2f0e1d2c",
            ),
            (F::BuildTrigger, "push"),
            (
                F::RunInvocationUri,
                "https://github.com/octo-org/octo-repo/actions/runs/12345678901/attempts/2",
            ),
            (F::SourceRepositoryVisibilityAtSigning, "public"),
        ];
        let expected: Vec<(F, String)> = expected
            .iter()
            .map(|(f, v)| (*f, (*v).to_owned()))
            .collect();
        // No `environment` claim ⇒ DeploymentEnvironment renders empty and is omitted.
        assert_eq!(out.extensions, expected);

        let mut with_env = github_claims();
        with_env.insert("environment".to_owned(), json!("production"));
        let out = provider.render(&with_env).expect("renders");
        assert_eq!(out.get(F::DeploymentEnvironment), Some("production"));

        // Enterprise issuer URLs use the same templates.
        let ent = c
            .issuer_for("https://token.actions.githubusercontent.com/octo-enterprise")
            .expect("enterprise");
        assert_eq!(
            ent.ci_provider.map(|p| p.name.clone()),
            Some(provider.name.clone())
        );

        // A missing required claim rejects the token.
        let mut missing = github_claims();
        missing.remove("job_workflow_sha");
        assert_eq!(
            provider.render(&missing),
            Err(TemplateError::MissingKey("job_workflow_sha".to_owned()))
        );
    }

    #[test]
    fn shipped_config_renders_gitlab_extensions() {
        let c = IssuerConfig::shipped().expect("shipped config loads");
        let r = c.issuer_for("https://gitlab.com").expect("gitlab issuer");
        let provider = r.ci_provider.expect("ci provider");
        let claims = json!({
            "iss": "https://gitlab.com", "aud": "sigstore",
            "sub": "project_path:my-group/my-project:ref_type:branch:ref:main",
            "namespace_id": "72", "namespace_path": "my-group",
            "project_id": "20", "project_path": "my-group/my-project",
            "user_id": "1", "user_login": "sample-user",
            "pipeline_id": "574", "pipeline_source": "push",
            "job_id": "302", "ref": "main", "ref_type": "branch", "ref_protected": "true",
            "runner_id": 1, "runner_environment": "gitlab-hosted",
            "sha": "714a629c0b401fdce83e847fc9589983fc6f46bc",
            "project_visibility": "public",
            "ci_config_ref_uri": "gitlab.com/my-group/my-project//.gitlab-ci.yml@refs/heads/main",
            "ci_config_sha": "714a629c0b401fdce83e847fc9589983fc6f46bc"
        });
        let Value::Object(claims) = claims else {
            panic!("object")
        };
        let out = provider.render(&claims).expect("renders");
        assert_eq!(
            out.san,
            "https://gitlab.com/my-group/my-project//.gitlab-ci.yml@refs/heads/main"
        );
        use ExtensionField as F;
        let sha = "714a629c0b401fdce83e847fc9589983fc6f46bc";
        let expected = [
            (
                F::BuildSignerUri,
                "https://gitlab.com/my-group/my-project//.gitlab-ci.yml@refs/heads/main",
            ),
            (F::BuildSignerDigest, sha),
            (F::RunnerEnvironment, "gitlab-hosted"),
            (
                F::SourceRepositoryUri,
                "https://gitlab.com/my-group/my-project",
            ),
            (F::SourceRepositoryDigest, sha),
            (F::SourceRepositoryRef, "refs/heads/main"),
            (F::SourceRepositoryIdentifier, "20"),
            (F::SourceRepositoryOwnerUri, "https://gitlab.com/my-group"),
            (F::SourceRepositoryOwnerIdentifier, "72"),
            (
                F::BuildConfigUri,
                "https://gitlab.com/my-group/my-project//.gitlab-ci.yml@refs/heads/main",
            ),
            (F::BuildConfigDigest, sha),
            (F::BuildTrigger, "push"),
            (
                F::RunInvocationUri,
                "https://gitlab.com/my-group/my-project/-/jobs/302",
            ),
            (F::SourceRepositoryVisibilityAtSigning, "public"),
        ];
        let expected: Vec<(F, String)> = expected
            .iter()
            .map(|(f, v)| (*f, (*v).to_owned()))
            .collect();
        assert_eq!(out.extensions, expected);

        let mut tag = claims.clone();
        tag.insert("ref_type".to_owned(), json!("tag"));
        tag.insert("ref".to_owned(), json!("v1.0.0"));
        let out = provider.render(&tag).expect("renders");
        assert_eq!(out.get(F::SourceRepositoryRef), Some("refs/tags/v1.0.0"));
    }

    #[test]
    fn shipped_config_other_providers_load_and_render() {
        let c = IssuerConfig::shipped().expect("shipped config loads");
        let bk = c
            .issuer_for("https://agent.buildkite.com")
            .expect("buildkite");
        let claims = json!({
            "organization_slug": "acme", "pipeline_slug": "app", "build_number": 1234567,
            "job_id": "0190-ab", "build_commit": "deadbeef", "build_source": "webhook",
            "runner_environment": "buildkite-hosted", "sub": "organization:acme:pipeline:app"
        });
        let Value::Object(claims) = claims else {
            panic!("object")
        };
        let out = bk
            .ci_provider
            .expect("provider")
            .render(&claims)
            .expect("renders");
        assert_eq!(out.san, "https://buildkite.com/acme/app");
        assert_eq!(
            out.get(ExtensionField::RunInvocationUri),
            Some("https://buildkite.com/acme/app/builds/1234567#0190-ab")
        );
        assert!(c.issuer_for("https://oidc.codefresh.io").is_some());
        assert!(
            c.issuer_for("https://oidc.circleci.com/org/0a1b2c3d-4e5f")
                .is_some()
        );
        assert!(c.issuer_for("https://oidc.circleci.com/org/a/b").is_none());
    }
}

//! From text to a validated [`IssuerConfig`]: JSON or YAML, keys normalised, every issuer and
//! CI provider checked.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use mayfly_spec::fulcio::ExtensionField;
use serde_json::Value;

use super::rules::{check_issuer_url, check_meta_pattern, last_two_labels};
use super::wildcard::WildcardPattern;
use super::{
    CiProvider, IssuerConfig, IssuerConfigError, IssuerEntry, IssuerType, MetaIssuer, invalid,
};
use crate::identity::template::Template;

pub(super) fn from_value(value: &Value) -> Result<IssuerConfig, IssuerConfigError> {
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

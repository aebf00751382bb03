//! From parsed JSON or YAML to a validated [`IssuerConfig`].
//!
//! Fulcio's loader (viper and mapstructure) matches keys case-insensitively, and its JSON and
//! YAML spellings differ only in case and `-`/`_` (`OIDCIssuers`, `oidc-issuers`). So each
//! struct-shaped mapping has its keys normalised (lower-cased, `-` and `_` dropped; two keys
//! that normalise alike are refused) before serde sees it, and the `Raw*` structs below name
//! their fields by the normalised keys and refuse any other. Maps keyed by data keep their
//! keys as written: issuer URLs, meta-issuer patterns, CI provider names, extension names
//! (matched with the same normalisation by [`extension_field`], but quoted as written) and
//! default template value names (which templates look up case-sensitively).
//!
//! Each struct level is deserialized on its own, from the [`Value`] its parent kept, so that an
//! error names the issuer or CI provider it belongs to. Every field is a [`Field`], which takes
//! any value, so the only thing serde can refuse is a key; wrong types are reported here, with
//! the field's name as Fulcio's documentation spells it.

use std::collections::BTreeMap;
use std::sync::Arc;

use mayfly_spec::fulcio::ExtensionField;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::wildcard::WildcardPattern;
use super::{
    CiProvider, IssuerConfig, IssuerConfigError, IssuerEntry, IssuerType, MetaIssuer, invalid,
    rules,
};
use crate::identity::template::Template;

// ---- the file's shape -----------------------------------------------------------------------

/// The top level.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawConfig {
    /// Issuer URL → issuer.
    #[serde(rename = "oidcissuers")]
    oidc_issuers: Field<BTreeMap<String, Value>>,
    /// Pattern → issuer.
    #[serde(rename = "metaissuers")]
    meta_issuers: Field<BTreeMap<String, Value>>,
    /// Provider name → templates.
    #[serde(rename = "ciissuermetadata")]
    ci_issuer_metadata: Field<BTreeMap<String, Value>>,
}

/// One `CIIssuerMetadata` entry.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawProvider {
    #[serde(rename = "defaulttemplatevalues")]
    default_template_values: Field<BTreeMap<String, Field<String>>>,
    #[serde(rename = "extensiontemplates")]
    extension_templates: Field<BTreeMap<String, Field<String>>>,
    #[serde(rename = "subjectalternativenametemplate")]
    subject_alternative_name_template: Field<String>,
}

/// One `OIDCIssuers` or `MetaIssuers` entry.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawIssuer {
    #[serde(rename = "issuerurl")]
    issuer_url: Field<String>,
    #[serde(rename = "clientid")]
    client_id: Field<String>,
    #[serde(rename = "type")]
    issuer_type: Field<String>,
    #[serde(rename = "ciprovider")]
    ci_provider: Field<String>,
    #[serde(rename = "issuerclaim")]
    issuer_claim: Field<String>,
    #[serde(rename = "subjectdomain")]
    subject_domain: Field<String>,
    #[serde(rename = "spiffetrustdomain")]
    spiffe_trust_domain: Field<String>,
    #[serde(rename = "challengeclaim")]
    challenge_claim: Field<String>,
    #[serde(rename = "description")]
    description: Field<String>,
    #[serde(rename = "contact")]
    contact: Field<String>,
    #[serde(rename = "environment")]
    environment: Field<String>,
    #[serde(rename = "cacert")]
    ca_cert: Field<String>,
    #[serde(rename = "skipemailverification")]
    skip_email_verification: Field<bool>,
}

/// One value as written: serde accepts anything here, and the caller reports a wrong type.
#[derive(Default)]
enum Field<T> {
    /// Absent, or null (YAML `key:` with nothing after it).
    #[default]
    Absent,
    /// A value of the expected type.
    Given(T),
    /// Anything else.
    WrongType,
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(deserializer)? {
            Value::Null => Field::Absent,
            value => T::deserialize(value).map_or(Field::WrongType, Field::Given),
        })
    }
}

impl Field<String> {
    /// The string, or `None` if absent or empty (Go's zero value: unset).
    fn string(self, what: &str, name: &str) -> Result<Option<String>, IssuerConfigError> {
        match self {
            Field::Absent => Ok(None),
            Field::Given(s) => Ok(Some(s).filter(|s| !s.is_empty())),
            Field::WrongType => Err(invalid(what, format!("{name} must be a string"))),
        }
    }
}

impl<V> Field<BTreeMap<String, V>> {
    /// A data mapping; absent is empty. `what` names the mapping itself.
    fn mapping(self, what: &str) -> Result<BTreeMap<String, V>, IssuerConfigError> {
        match self {
            Field::Absent => Ok(BTreeMap::new()),
            Field::Given(map) => Ok(map),
            Field::WrongType => Err(invalid(what, "must be a mapping")),
        }
    }
}

/// Deserializes one struct-shaped mapping after normalising its keys. `unknown_key` words the
/// error for a key `T` does not have, from that key (normalised) and the keys as written.
fn deserialize_normalised<T: DeserializeOwned>(
    value: Value,
    what: &str,
    unknown_key: impl FnOnce(&str, &[String]) -> String,
) -> Result<T, IssuerConfigError> {
    let Value::Object(map) = value else {
        return Err(invalid(what, "must be a mapping"));
    };
    let written: Vec<String> = map.keys().cloned().collect();
    let mut normalised = Map::new();
    for (key, v) in map {
        if normalised.insert(normalize(&key), v).is_some() {
            return Err(invalid(what, format!("key {key:?} is given twice")));
        }
    }
    serde_path_to_error::deserialize(Value::Object(normalised)).map_err(|e| {
        // The keys are unique, every field is an optional `Field` and a `Field` takes any
        // value, so serde can only refuse a key: the one segment of the error's path.
        match e.path().iter().next_back() {
            Some(serde_path_to_error::Segment::Map { key }) => {
                invalid(what, unknown_key(key, &written))
            }
            _ => invalid(what, e.to_string()),
        }
    })
}

/// Lower-cased, `-` and `_` dropped: the key as Fulcio's loader compares it.
fn normalize(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// The extension field a `ExtensionTemplates` key names, however Fulcio's loader would spell it.
fn extension_field(key: &str) -> Option<ExtensionField> {
    let k = normalize(key);
    ExtensionField::ALL
        .into_iter()
        .find(|f| normalize(f.json_name()) == k)
}

// ---- the whole configuration ----------------------------------------------------------------

/// Parses and checks a whole configuration: CI providers first (issuers refer to them), then
/// exact issuers, then meta issuers.
pub(super) fn from_value(value: Value) -> Result<IssuerConfig, IssuerConfigError> {
    let raw: RawConfig = deserialize_normalised(value, "issuer config", |_, written| {
        format!(
            "unknown top-level key (expected OIDCIssuers, MetaIssuers, CIIssuerMetadata) in \
             {written:?}"
        )
    })?;

    let mut ci_providers = BTreeMap::new();
    for (name, v) in raw.ci_issuer_metadata.mapping("CIIssuerMetadata")? {
        let provider = parse_provider(&name, v)?;
        ci_providers.insert(name, Arc::new(provider));
    }

    let mut issuers = BTreeMap::new();
    for (url, v) in raw.oidc_issuers.mapping("OIDCIssuers")? {
        let what = format!("issuer {url:?}");
        let entry = parse_issuer(&what, &url, v, false, &ci_providers)?;
        issuers.insert(url, Arc::new(entry));
    }

    let mut meta_issuers = Vec::new();
    for (pattern, v) in raw.meta_issuers.mapping("MetaIssuers")? {
        let what = format!("meta issuer {pattern:?}");
        let entry = parse_issuer(&what, &pattern, v, true, &ci_providers)?;
        meta_issuers.push(MetaIssuer {
            matcher: WildcardPattern::new(&pattern),
            pattern,
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

// ---- CI providers ---------------------------------------------------------------------------

fn parse_provider(name: &str, value: Value) -> Result<CiProvider, IssuerConfigError> {
    let what = format!("CI provider {name:?}");
    let raw: RawProvider = deserialize_normalised(value, &what, |key, _| {
        format!(
            "unknown key (normalised {key:?}); expected DefaultTemplateValues, \
             ExtensionTemplates, SubjectAlternativeNameTemplate"
        )
    })?;

    let mut defaults = BTreeMap::new();
    let values = raw
        .default_template_values
        .mapping(&format!("{what} DefaultTemplateValues"))?;
    for (k, v) in values {
        let Field::Given(s) = v else {
            return Err(invalid(
                &what,
                format!("DefaultTemplateValues[{k:?}] must be a string"),
            ));
        };
        defaults.insert(k, s);
    }

    let mut extension_templates = BTreeMap::new();
    let templates = raw
        .extension_templates
        .mapping(&format!("{what} ExtensionTemplates"))?;
    for (k, v) in templates {
        let field = match extension_field(&k) {
            Some(f) => f,
            None if normalize(&k) == "issuer" => {
                return Err(invalid(
                    &what,
                    "ExtensionTemplates may not set Issuer: it is always the token's issuer",
                ));
            }
            None => {
                return Err(invalid(
                    &what,
                    format!("unknown extension {k:?} in ExtensionTemplates"),
                ));
            }
        };
        // An empty template would always yield an omitted extension; treat it as absent
        // rather than as the (missing) claim named "".
        let Some(text) = v.string(&what, &k)? else {
            continue;
        };
        let template =
            Template::parse(&text).map_err(|e| invalid(&what, format!("extension {k}: {e}")))?;
        if extension_templates.insert(field, template).is_some() {
            return Err(invalid(&what, format!("extension {k:?} is given twice")));
        }
    }

    let san_template = raw
        .subject_alternative_name_template
        .string(&what, "SubjectAlternativeNameTemplate")?
        .map(|text| {
            Template::parse(&text)
                .map_err(|e| invalid(&what, format!("SubjectAlternativeNameTemplate: {e}")))
        })
        .transpose()?
        .ok_or_else(|| invalid(&what, "SubjectAlternativeNameTemplate is required"))?;

    Ok(CiProvider {
        name: name.to_owned(),
        defaults,
        extension_templates,
        san_template,
    })
}

// ---- issuers --------------------------------------------------------------------------------

/// One issuer; `key` is its map key (URL or pattern) and `what` names it in errors.
fn parse_issuer(
    what: &str,
    key: &str,
    value: Value,
    is_meta: bool,
    ci_providers: &BTreeMap<String, Arc<CiProvider>>,
) -> Result<IssuerEntry, IssuerConfigError> {
    let raw: RawIssuer = deserialize_normalised(value, what, |_, written| {
        format!(
            "unknown key in {written:?}; expected IssuerURL, ClientID, Type, CIProvider, \
             IssuerClaim, SubjectDomain, SPIFFETrustDomain, ChallengeClaim, Description, \
             Contact, Environment, CACert, SkipEmailVerification"
        )
    })?;
    let issuer_url = raw.issuer_url.string(what, "IssuerURL")?;
    let client_id = raw.client_id.string(what, "ClientID")?;
    let type_name = raw.issuer_type.string(what, "Type")?;
    let ci_provider = raw.ci_provider.string(what, "CIProvider")?;
    let issuer_claim = raw.issuer_claim.string(what, "IssuerClaim")?;
    let subject_domain = raw.subject_domain.string(what, "SubjectDomain")?;
    let spiffe_trust_domain = raw.spiffe_trust_domain.string(what, "SPIFFETrustDomain")?;
    let challenge_claim = raw.challenge_claim.string(what, "ChallengeClaim")?;
    let description = raw.description.string(what, "Description")?;
    let contact = raw.contact.string(what, "Contact")?;
    let environment = raw.environment.string(what, "Environment")?;
    let ca_cert = raw.ca_cert.string(what, "CACert")?;
    let skip_email_verification = match raw.skip_email_verification {
        Field::Absent => false,
        Field::Given(b) => b,
        Field::WrongType => {
            return Err(invalid(what, "SkipEmailVerification must be true or false"));
        }
    };

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

    let entry = IssuerEntry {
        issuer_url: key.to_owned(),
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
    };
    rules::check_issuer(what, &entry, issuer_url.as_deref(), is_meta, ci_providers)?;
    Ok(entry)
}

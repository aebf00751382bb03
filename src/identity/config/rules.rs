//! Mayfly's rules for one issuer, stricter than Fulcio's (see the module docs of `config`):
//! the URL or pattern (https, or http for loopback hosts; no wildcard in a pattern's
//! registrable domain), `IssuerURL` equal to the map key, fields only on the issuer types that
//! use them, each type's own requirements, and `CACert` a PEM certificate.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{CiProvider, IssuerConfigError, IssuerEntry, IssuerType, invalid};

/// Every rule for one parsed issuer, in the order they are reported. `written_url` is the
/// `IssuerURL` as configured, if it was.
pub(super) fn check_issuer(
    what: &str,
    entry: &IssuerEntry,
    written_url: Option<&str>,
    is_meta: bool,
    ci_providers: &BTreeMap<String, Arc<CiProvider>>,
) -> Result<(), IssuerConfigError> {
    let key = entry.issuer_url.as_str();
    let host = if is_meta {
        check_meta_pattern(what, key)?
    } else {
        check_issuer_url(what, key)?
    };
    if let Some(u) = written_url
        && u != key
    {
        return Err(invalid(
            what,
            format!("IssuerURL {u:?} differs from the map key; tokens could never verify"),
        ));
    }

    fields_on_their_types(what, entry)?;
    type_requirements(what, entry, &host, is_meta, ci_providers)?;
    if let Some(pem) = &entry.ca_cert
        && !pem.contains("-----BEGIN CERTIFICATE-----")
    {
        return Err(invalid(what, "CACert must be a PEM certificate"));
    }
    Ok(())
}

/// Fields that only mean something for one issuer type are refused on the others.
fn fields_on_their_types(what: &str, entry: &IssuerEntry) -> Result<(), IssuerConfigError> {
    let issuer_type = entry.issuer_type;
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
    only_for(
        "CIProvider",
        entry.ci_provider.is_some(),
        IssuerType::CiProvider,
    )?;
    only_for(
        "IssuerClaim",
        entry.issuer_claim.is_some(),
        IssuerType::Email,
    )?;
    only_for(
        "SkipEmailVerification",
        entry.skip_email_verification,
        IssuerType::Email,
    )?;
    only_for(
        "SPIFFETrustDomain",
        entry.spiffe_trust_domain.is_some(),
        IssuerType::Spiffe,
    )?;
    if entry.subject_domain.is_some()
        && !matches!(issuer_type, IssuerType::Uri | IssuerType::Username)
    {
        return Err(invalid(
            what,
            "SubjectDomain is only used by uri and username issuers",
        ));
    }
    Ok(())
}

/// What each issuer type needs: its provider, a JSONPath, a trust domain or a subject domain.
/// `host` is the issuer's (or pattern's) host.
fn type_requirements(
    what: &str,
    entry: &IssuerEntry,
    host: &str,
    is_meta: bool,
    ci_providers: &BTreeMap<String, Arc<CiProvider>>,
) -> Result<(), IssuerConfigError> {
    match entry.issuer_type {
        IssuerType::CiProvider => {
            let name = entry
                .ci_provider
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
            if let Some(path) = &entry.issuer_claim
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
            let domain = entry
                .spiffe_trust_domain
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
            let domain = entry
                .subject_domain
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
            if last_two_labels(subject_host) != last_two_labels(host) {
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
            let domain = entry
                .subject_domain
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
    Ok(())
}

// ---- URLs and patterns ----------------------------------------------------------------------

fn last_two_labels(host: &str) -> String {
    let labels: Vec<&str> = host.trim_end_matches('.').split('.').collect();
    labels[labels.len().saturating_sub(2)..].join(".")
}

/// Whether `host` is `localhost` or a loopback address: the hosts `http://` is allowed for, here
/// and when fetching from an issuer.
pub(crate) fn is_loopback_host<S: AsRef<str>>(host: &url::Host<S>) -> bool {
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

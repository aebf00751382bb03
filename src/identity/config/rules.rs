//! Mayfly's checks on issuer URLs and meta-issuer patterns: https only (http for loopback
//! hosts), no user info, query or fragment, and no wildcard in a pattern's registrable domain.

use super::{IssuerConfigError, invalid};

pub(super) fn last_two_labels(host: &str) -> String {
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
pub(super) fn check_issuer_url(what: &str, key: &str) -> Result<String, IssuerConfigError> {
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
pub(super) fn check_meta_pattern(what: &str, pattern: &str) -> Result<String, IssuerConfigError> {
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

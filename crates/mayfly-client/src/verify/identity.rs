//! The signer's identity as Fulcio writes it (fulcio.md §2.2–2.3) and the policy check
//! (rekor-bundle-npm.md §7.1 step 6, §7.2 step 3).
//!
//! - SAN: the single subjectAltName entry: rfc822Name (email), URI (workflows, SPIFFE, …) or
//!   otherName `1.3.6.1.4.1.57264.1.7` (username identities, a UTF8String).
//! - Issuer: extension `.1.8` (DER UTF8String) else the deprecated `.1.1` (raw bytes), as
//!   sigstore-js and sigstore-python read it.
//! - Every Fulcio extension `.1.x` is decoded for the caller: `.1`–`.6` raw UTF-8, `.8`+ DER
//!   UTF8String.
//!
//! Regex policies match the *whole* SAN (we anchor the pattern). sigstore-js tests an
//! unanchored `RegExp`, which lets `https://github.com/org/` also accept
//! `https://evil.example/?https://github.com/org/`; an anchored match fails closed instead.
//! The `regex` crate matches in linear time, so a hostile certificate cannot stall us.

use super::chain::parse_cert;
use super::error::VerifyError;
use super::{IdentityMatcher, Policy};
use mayfly_spec::audit;
use mayfly_spec::fulcio::{ISSUER_LEGACY_ARC, ISSUER_V2_ARC, OTHER_NAME_OID};
use x509_parser::certificate::TbsCertificate;
use x509_parser::extensions::GeneralName;

fn cert_err(m: impl Into<String>) -> VerifyError {
    VerifyError::Certificate(m.into())
}

/// What the certificate says about who signed (empty for a managed-key signature).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Identity {
    pub san: String,
    pub issuer: String,
    /// Every Fulcio extension as (last arc, value), in certificate order.
    pub extensions: Vec<(u32, String)>,
}

pub(crate) fn read_identity(leaf_der: &[u8]) -> Result<Identity, VerifyError> {
    let leaf = parse_cert(leaf_der)?;
    let extensions = fulcio_extensions(&leaf)?;
    let issuer = issuer(&extensions)
        .ok_or_else(|| cert_err("no OIDC issuer extension (1.3.6.1.4.1.57264.1.8 or .1.1)"))?;
    Ok(Identity {
        san: san(&leaf)?,
        issuer,
        extensions,
    })
}

/// The OIDC issuer among decoded Fulcio extensions: `.8`, else the deprecated `.1`.
pub(crate) fn issuer(extensions: &[(u32, String)]) -> Option<String> {
    let find = |arc: u32| {
        extensions
            .iter()
            .find(|(a, _)| *a == arc)
            .map(|(_, v)| v.clone())
    };
    find(ISSUER_V2_ARC).or_else(|| find(ISSUER_LEGACY_ARC))
}

/// The single SAN of a leaf (or of a logged precertificate's TBSCertificate).
pub(crate) fn san(leaf: &TbsCertificate<'_>) -> Result<String, VerifyError> {
    let ext = leaf
        .subject_alternative_name()
        .map_err(|e| cert_err(format!("bad subjectAltName: {e}")))?
        .ok_or_else(|| cert_err("no subjectAltName"))?;
    let [name] = ext.value.general_names.as_slice() else {
        return Err(cert_err("subjectAltName must hold exactly one name"));
    };
    match name {
        GeneralName::RFC822Name(s) | GeneralName::URI(s) => Ok((*s).to_owned()),
        GeneralName::OtherName(oid, value)
            if oid.iter().is_some_and(|arcs| arcs.eq(OTHER_NAME_OID)) =>
        {
            audit::other_name_text(value).map_err(|why| cert_err(format!("otherName SAN: {why}")))
        }
        other => Err(cert_err(format!("unsupported subjectAltName {other}"))),
    }
}

/// Every Fulcio extension of a leaf (or TBSCertificate) as (last arc, value).
pub(crate) fn fulcio_extensions(
    leaf: &TbsCertificate<'_>,
) -> Result<Vec<(u32, String)>, VerifyError> {
    let mut out = Vec::new();
    for ext in leaf.extensions() {
        if let Some(extension) = audit::fulcio_extension(ext).map_err(cert_err)? {
            out.push(extension);
        }
    }
    Ok(out)
}

pub(crate) fn check_policy(identity: &Identity, policy: &Policy) -> Result<(), VerifyError> {
    let matches = match &policy.identity {
        IdentityMatcher::Exact(want) => identity.san == *want,
        IdentityMatcher::Regex(pattern) => regex::Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|e| VerifyError::Identity(format!("invalid SAN regex {pattern:?}: {e}")))?
            .is_match(&identity.san),
    };
    if !matches {
        let want = match &policy.identity {
            IdentityMatcher::Exact(s) => format!("{s:?}"),
            IdentityMatcher::Regex(r) => format!("regex {r:?}"),
        };
        return Err(VerifyError::Identity(format!(
            "SAN {:?} does not match {want}",
            identity.san
        )));
    }
    if identity.issuer != policy.issuer {
        return Err(VerifyError::Identity(format!(
            "issuer {:?} does not match {:?}",
            identity.issuer, policy.issuer
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> Identity {
        Identity {
            san: "https://github.com/o/r/.github/workflows/x.yml@refs/heads/main".into(),
            issuer: "https://token.actions.githubusercontent.com".into(),
            extensions: vec![],
        }
    }

    fn policy(m: IdentityMatcher, issuer: &str) -> Policy {
        Policy {
            identity: m,
            issuer: issuer.into(),
        }
    }

    #[test]
    fn exact_and_anchored_regex() {
        let iss = "https://token.actions.githubusercontent.com";
        let exact = IdentityMatcher::Exact(id().san);
        assert!(check_policy(&id(), &policy(exact, iss)).is_ok());
        let re = IdentityMatcher::Regex("https://github\\.com/o/r/.*".into());
        assert!(check_policy(&id(), &policy(re, iss)).is_ok());
        // Unanchored, this would match; anchored it must not.
        let re = IdentityMatcher::Regex("github\\.com/o/r".into());
        let err = check_policy(&id(), &policy(re, iss))
            .err()
            .map(|e| e.to_string());
        assert!(err.unwrap_or_default().starts_with("identity: SAN"));
        let exact = IdentityMatcher::Exact(id().san);
        let err = check_policy(&id(), &policy(exact, "https://accounts.google.com")).err();
        assert!(
            err.map(|e| e.to_string())
                .unwrap_or_default()
                .starts_with("identity: issuer")
        );
        let bad = IdentityMatcher::Regex("(".into());
        assert!(check_policy(&id(), &policy(bad, iss)).is_err());
    }
}

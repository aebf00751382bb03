//! The certificate path: leaf → intermediate(s) → root, taken from a trusted-root CA whose
//! `validFor` contains the signing time (rekor-bundle-npm.md §7.1 step 2, §7.2 steps 1, 3, 5).
//!
//! As sigstore-js does, every certificate on the path must be valid at the signing time (so the
//! time must fall in the leaf's ten-minute window), each issuer must be a CA (basicConstraints
//! cA, keyCertSign, pathLen respected) and each signature must verify under the next
//! certificate's key. The anchor (last in the CA's chain) is trusted as given but must still be
//! self-signed and in date. The leaf must have keyUsage digitalSignature and extendedKeyUsage
//! codeSigning (sigstore-python `_validate_leaf`), and must not itself be a CA.

use super::error::VerifyError;
use mayfly_spec::sigstore::trusted_root::Authority;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

fn err(m: impl Into<String>) -> VerifyError {
    VerifyError::Certificate(m.into())
}

/// Parses a DER certificate, refusing trailing bytes.
pub(crate) fn parse_cert(der: &[u8]) -> Result<X509Certificate<'_>, VerifyError> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(err("trailing bytes after the certificate")),
        Err(e) => Err(err(format!("not a DER X.509 certificate: {e}"))),
    }
}

/// The certificate's validity window contains `time`, both ends inclusive (sigstore-python
/// step 5 for the leaf).
pub(crate) fn check_cert_time(cert: &X509Certificate<'_>, time: i64) -> Result<(), VerifyError> {
    let v = cert.validity();
    if time < v.not_before.timestamp() || time > v.not_after.timestamp() {
        return Err(err(format!(
            "not valid at signing time {time} (valid {} to {})",
            v.not_before, v.not_after
        )));
    }
    Ok(())
}

/// KU digitalSignature, EKU codeSigning, not a CA.
pub(crate) fn check_leaf_usage(leaf: &X509Certificate<'_>) -> Result<(), VerifyError> {
    let ku = leaf
        .key_usage()
        .map_err(|e| err(format!("bad keyUsage: {e}")))?
        .ok_or_else(|| err("leaf has no keyUsage"))?;
    if !ku.value.digital_signature() {
        return Err(err("leaf keyUsage lacks digitalSignature"));
    }
    let eku = leaf
        .extended_key_usage()
        .map_err(|e| err(format!("bad extendedKeyUsage: {e}")))?
        .ok_or_else(|| err("leaf has no extendedKeyUsage"))?;
    if !eku.value.code_signing {
        return Err(err("leaf extendedKeyUsage lacks codeSigning"));
    }
    if leaf.is_ca() {
        return Err(err("leaf is a CA certificate"));
    }
    Ok(())
}

/// Finds a trusted CA, valid at `time`, whose chain the leaf extends. Returns the DER of the
/// leaf's issuer (the SCT check needs its key).
pub(crate) fn verify_path<'a>(
    leaf: &X509Certificate<'_>,
    authorities: &'a [Authority],
    time: i64,
) -> Result<&'a [u8], VerifyError> {
    let mut reasons = Vec::new();
    for ca in authorities.iter().filter(|ca| ca.valid_for.contains(time)) {
        match verify_chain(leaf, &ca.chain, time) {
            Ok(()) => {
                if let Some(issuer) = ca.chain.first() {
                    return Ok(issuer);
                }
            }
            Err(why) => reasons.push(why),
        }
    }
    if reasons.is_empty() {
        return Err(err(format!(
            "no trusted CA is valid at signing time {time}"
        )));
    }
    Err(err(format!(
        "does not chain to a trusted CA valid at {time} ({})",
        reasons.join("; ")
    )))
}

/// `leaf` chains through `chain` (issuer first, self-signed anchor last), every link valid at
/// `time`.
pub(crate) fn verify_chain(
    leaf: &X509Certificate<'_>,
    chain: &[Vec<u8>],
    time: i64,
) -> Result<(), String> {
    let issuers = chain
        .iter()
        .map(|der| parse_cert(der).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut child = leaf;
    for (depth, issuer) in issuers.iter().enumerate() {
        link(child, issuer, time)?;
        // pathLenConstraint counts the intermediates below this CA (leaf excluded).
        if let Ok(Some(bc)) = issuer.basic_constraints()
            && let Some(max) = bc.value.path_len_constraint
            && usize::try_from(max).is_ok_and(|max| depth > max)
        {
            return Err(format!(
                "pathLenConstraint of {} exceeded",
                issuer.subject()
            ));
        }
        child = issuer;
    }
    // The anchor must be self-signed: the chain's last element is the root, not a cross-sign.
    let root = issuers.last().ok_or("empty CA chain")?;
    link(root, root, time)
}

/// `child` was issued and signed by `issuer`, which may issue certificates, and both are valid
/// at `time`.
fn link(
    child: &X509Certificate<'_>,
    issuer: &X509Certificate<'_>,
    time: i64,
) -> Result<(), String> {
    if child.issuer().as_raw() != issuer.subject().as_raw() {
        return Err(format!(
            "issuer {} is not {}",
            child.issuer(),
            issuer.subject()
        ));
    }
    if let (Some(aki), Some(ski)) = (authority_key_id(child), subject_key_id(issuer))
        && aki != ski
    {
        return Err(format!(
            "authorityKeyIdentifier does not match {}",
            issuer.subject()
        ));
    }
    let bc = issuer
        .basic_constraints()
        .map_err(|e| format!("bad basicConstraints: {e}"))?;
    if !bc.is_some_and(|bc| bc.value.ca) {
        return Err(format!("{} is not a CA", issuer.subject()));
    }
    let ku = issuer
        .key_usage()
        .map_err(|e| format!("bad keyUsage: {e}"))?;
    if !ku.is_some_and(|ku| ku.value.key_cert_sign()) {
        return Err(format!("{} may not sign certificates", issuer.subject()));
    }
    let v = issuer.validity();
    if time < v.not_before.timestamp() || time > v.not_after.timestamp() {
        return Err(format!("{} is not valid at {time}", issuer.subject()));
    }
    child
        .verify_signature(Some(issuer.public_key()))
        .map_err(|_| format!("signature by {} does not verify", issuer.subject()))
}

fn authority_key_id<'a>(cert: &'a X509Certificate<'_>) -> Option<&'a [u8]> {
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(aki) => {
                aki.key_identifier.as_ref().map(|k| k.0)
            }
            _ => None,
        })
}

pub(crate) fn subject_key_id<'a>(cert: &'a X509Certificate<'_>) -> Option<&'a [u8]> {
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(ski) => Some(ski.0),
            _ => None,
        })
}

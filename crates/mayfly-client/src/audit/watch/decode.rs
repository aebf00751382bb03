//! Who a log entry is about. Issuance-log leaves are RFC 6962 precertificate entries, whose TBS
//! carries the SAN and the Fulcio extensions; artifact-log entries are Rekor bodies, decoded as
//! far as is cheap: the SAN and extensions of the certificate that verifies them, if any.

use crate::verify::identity;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mayfly_spec::ct::parse_precert_leaf;
use serde_json::Value;
use x509_parser::certificate::{TbsCertificate, X509Certificate};
use x509_parser::prelude::FromDer as _;

/// What an entry says about its subject. Empty for entries signed with a bare public key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Subject {
    pub(crate) san: Option<String>,
    pub(crate) issuer: Option<String>,
    /// Fulcio extensions as (last arc, value).
    pub(crate) extensions: Vec<(u32, String)>,
}

impl Subject {
    fn of(tbs: &TbsCertificate<'_>) -> Self {
        let extensions = identity::fulcio_extensions(tbs).unwrap_or_default();
        Subject {
            san: identity::san(tbs).ok(),
            issuer: identity::issuer(&extensions),
            extensions,
        }
    }

    pub(crate) fn extension(&self, arc: u32) -> Option<&str> {
        self.extensions
            .iter()
            .find(|(a, _)| *a == arc)
            .map(|(_, v)| v.as_str())
    }
}

/// An issuance-log leaf: the logged TBSCertificate's identity. An error means the log holds a
/// leaf that is not a precertificate entry at all, which the caller reports.
pub(crate) fn issuance_leaf(leaf: &[u8]) -> Result<Subject, String> {
    let parsed = parse_precert_leaf(leaf).map_err(|e| e.to_string())?;
    let (_, tbs) = TbsCertificate::from_der(parsed.entry.tbs)
        .map_err(|e| format!("the logged TBSCertificate does not parse: {e}"))?;
    Ok(Subject::of(&tbs))
}

/// An artifact-log entry: the identity of its first verifier that is a certificate.
pub(crate) fn artifact_entry(body: &[u8]) -> Subject {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Subject::default();
    };
    let spec = &value["spec"];
    let verifiers: Vec<&Value> = match value["kind"].as_str() {
        Some("hashedrekord") => vec![&spec["signature"]["publicKey"]["content"]],
        Some("dsse") => signatures(&spec["signatures"], "verifier"),
        Some("intoto") => signatures(&spec["content"]["envelope"]["signatures"], "publicKey"),
        _ => Vec::new(),
    };
    verifiers
        .into_iter()
        .filter_map(Value::as_str)
        .find_map(certificate_subject)
        .unwrap_or_default()
}

fn signatures<'a>(list: &'a Value, field: &str) -> Vec<&'a Value> {
    list.as_array()
        .map(|items| items.iter().map(|s| &s[field]).collect())
        .unwrap_or_default()
}

/// A base64 PEM verifier, if it is a certificate.
fn certificate_subject(base64_pem: &str) -> Option<Subject> {
    let pem = STANDARD.decode(base64_pem).ok()?;
    let der = mayfly_spec::pem::decode_label(&pem, "CERTIFICATE").ok()?;
    let (_, cert) = X509Certificate::from_der(&der).ok()?;
    Some(Subject::of(&cert.tbs_certificate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_decodes_to_nothing_or_an_error() {
        assert!(issuance_leaf(b"not a leaf").is_err());
        assert_eq!(artifact_entry(b"{"), Subject::default());
        assert_eq!(
            artifact_entry(
                br#"{"kind":"hashedrekord","spec":{"signature":{"publicKey":{"content":"!!"}}}}"#
            ),
            Subject::default()
        );
    }
}

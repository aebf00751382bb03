//! What each logged entry adds to the index: pure functions of the entry's bytes, so a rebuild
//! from the log gives the same index as following it did.
//!
//! An entry that cannot be read (it never should: both logs only hold what this server built or
//! verified) is still counted, with no terms, and reported to the caller as a warning: skipping
//! it silently would make the index look complete while missing it, and refusing it would stop
//! the index at that entry forever.

use super::{EntryDetail, Field, IndexedEntry, Term};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mayfly_spec::audit::{self, CertificateIdentity};
use mayfly_spec::fulcio::ExtensionField;
use mayfly_spec::tlog::{genesis, leaf_hash};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The index entry for issuance-log entry `index` (an RFC 6962 precertificate leaf), and why
/// it has no terms if it could not be read.
pub fn certificate(index: u64, leaf: &[u8]) -> (IndexedEntry, Option<String>) {
    let parsed = match mayfly_spec::ct::parse_precert_leaf(leaf) {
        Ok(parsed) => parsed,
        Err(e) => return (unreadable_certificate(index, 0), Some(e.to_string())),
    };
    let fallback_time = i64::try_from(parsed.timestamp_ms / 1000).unwrap_or(i64::MAX);
    match audit::identity_from_tbs(parsed.entry.tbs) {
        Ok(identity) => (
            IndexedEntry {
                index,
                terms: certificate_terms(&identity),
                detail: EntryDetail::Certificate {
                    not_before: identity.not_before,
                },
            },
            None,
        ),
        Err(e) => (
            unreadable_certificate(index, fallback_time),
            Some(e.to_string()),
        ),
    }
}

fn unreadable_certificate(index: u64, not_before: i64) -> IndexedEntry {
    IndexedEntry {
        index,
        terms: Vec::new(),
        detail: EntryDetail::Certificate { not_before },
    }
}

/// The terms a certificate is found by (see the module doc of [`super`]).
pub fn certificate_terms(identity: &CertificateIdentity) -> Vec<Term> {
    let mut terms: Vec<Term> = identity
        .sans
        .iter()
        .map(|san| Term::new(Field::San, san.as_str()))
        .collect();
    terms.push(Term::new(Field::Issuer, identity.issuer.as_str()));
    let ext = |field: ExtensionField| identity.extension(field.oid_arc());
    if let Some(repo) = ext(ExtensionField::SourceRepositoryUri) {
        terms.push(Term::new(Field::Repository, repo));
        if let Some(path) = audit::repository_path(repo) {
            terms.push(Term::new(Field::RepositoryPath, path));
        }
    }
    if let Some(owner) = ext(ExtensionField::SourceRepositoryOwnerUri) {
        terms.push(Term::new(Field::Owner, owner));
        if let Some(path) = audit::repository_path(owner) {
            terms.push(Term::new(Field::OwnerPath, path));
        }
    }
    for (field, source) in [
        (Field::Ref, ExtensionField::SourceRepositoryRef),
        (Field::Workflow, ExtensionField::BuildSignerUri),
        (Field::Trigger, ExtensionField::BuildTrigger),
    ] {
        if let Some(value) = ext(source) {
            terms.push(Term::new(field, value));
        }
    }
    tidy(terms)
}

/// Drops empty values and duplicates (an entry is posted under a term once).
fn tidy(mut terms: Vec<Term>) -> Vec<Term> {
    terms.retain(|t| !t.value.is_empty());
    terms.sort();
    terms.dedup();
    terms
}

/// The index entry for artifact-log entry `index` (a canonical Rekor body), and why it has no
/// terms if it could not be read. Its UUID is always known: the leaf hash of the body.
pub fn artifact(index: u64, body: &[u8]) -> (IndexedEntry, Option<String>) {
    let uuid = leaf_hash(body);
    let (terms, problem) = match artifact_terms(body) {
        Ok(terms) => (terms, None),
        // The log's genesis entry (`mayfly_spec::tlog::genesis`) is not a Rekor body: it is
        // counted with no terms, as expected, so no search finds it and nothing warns.
        Err(_) if genesis::looks_like_genesis(index, body) => (Vec::new(), None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let entry = IndexedEntry {
        index,
        terms,
        detail: EntryDetail::Artifact { uuid },
    };
    (entry, problem)
}

fn artifact_terms(body: &[u8]) -> Result<Vec<Term>, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("body: {e}"))?;
    let spec = &value["spec"];
    let mut terms = Vec::new();
    let (verifiers, digests): (Vec<&Value>, Vec<&Value>) = match value["kind"].as_str() {
        Some("hashedrekord") => (
            vec![&spec["signature"]["publicKey"]["content"]],
            vec![&spec["data"]["hash"]],
        ),
        Some("dsse") => (
            array(&spec["signatures"]).map(|s| &s["verifier"]).collect(),
            vec![&spec["payloadHash"], &spec["envelopeHash"]],
        ),
        Some("intoto") => (
            array(&spec["content"]["envelope"]["signatures"])
                .map(|s| &s["publicKey"])
                .collect(),
            vec![&spec["content"]["payloadHash"], &spec["content"]["hash"]],
        ),
        other => return Err(format!("unknown kind {other:?}")),
    };
    for verifier in verifiers {
        let text = verifier.as_str().ok_or("a verifier is not a string")?;
        let pem = STANDARD
            .decode(text)
            .map_err(|e| format!("verifier base64: {e}"))?;
        terms.extend(verifier_terms(&pem)?);
    }
    for digest in digests {
        if let (Some(alg), Some(hex)) = (digest["algorithm"].as_str(), digest["value"].as_str()) {
            terms.push(Term::new(Field::Digest, digest_key(alg, hex)));
        }
    }
    Ok(tidy(terms))
}

fn array(value: &Value) -> impl Iterator<Item = &Value> {
    value.as_array().into_iter().flatten()
}

/// Rekor's key for a digest: `algorithm:hex`, lowercased.
pub fn digest_key(algorithm: &str, hex: &str) -> String {
    format!("{algorithm}:{hex}").to_ascii_lowercase()
}

/// The terms of one verifier given as its canonical PEM: the PEM's SHA-256 (Rekor's key
/// fingerprint) and, for a certificate, its SANs lowercased.
pub fn verifier_terms(pem: &[u8]) -> Result<Vec<Term>, String> {
    let mut terms = vec![Term::new(Field::PublicKey, key_fingerprint(pem))];
    let (label, der) =
        mayfly_spec::pem::decode_public(pem).map_err(|e| format!("verifier PEM: {e}"))?;
    if label == "CERTIFICATE" {
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| format!("verifier certificate: {e}"))?;
        let sans = audit::sans(&cert.tbs_certificate).map_err(|e| format!("verifier: {e}"))?;
        for san in sans {
            terms.push(Term::new(Field::ArtifactSubject, san.to_lowercase()));
        }
    }
    Ok(terms)
}

/// Hex SHA-256 of a canonical PEM, as Rekor keys public keys.
pub fn key_fingerprint(pem: &[u8]) -> String {
    hex::encode(Sha256::digest(pem))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_entries_are_counted_without_terms() {
        let (entry, problem) = certificate(3, b"not a leaf");
        assert!(entry.terms.is_empty());
        assert_eq!(entry.index, 3);
        assert!(problem.is_some());
        let (entry, problem) = artifact(4, b"{\"kind\":\"rpm\"}");
        assert!(entry.terms.is_empty());
        assert!(problem.unwrap().contains("rpm"));
        assert_eq!(
            entry.detail,
            EntryDetail::Artifact {
                uuid: leaf_hash(b"{\"kind\":\"rpm\"}")
            }
        );
    }

    #[test]
    fn hashedrekord_digests_and_keys() {
        let pem = b"-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n";
        let body = serde_json::json!({
            "kind": "hashedrekord",
            "spec": {"data": {"hash": {"algorithm": "sha256", "value": "ABCD"}},
                     "signature": {"publicKey": {"content": STANDARD.encode(pem)}}}
        });
        // The key does not parse as a PEM of a real key, but its fingerprint is still a term:
        // the verifier PEM decodes (a PUBLIC KEY block), so only the certificate branch is skipped.
        let terms = artifact_terms(body.to_string().as_bytes()).unwrap();
        assert!(terms.contains(&Term::new(Field::Digest, "sha256:abcd")));
        assert!(terms.contains(&Term::new(Field::PublicKey, key_fingerprint(pem))));
    }
}

//! The canonicalized body must describe this bundle (rekor-bundle-npm.md §7.1 step 4, §7.2
//! step 7): otherwise a valid log entry for *another* signature could vouch for this one.
//!
//! Kind and version must match `kindVersion` and the content type; hashedrekord must carry the
//! bundle's signature and digest, dsse and intoto the bundle's signature and SHA-256 of its
//! payload (and intoto its payload type). In every kind the logged key must be the bundle's
//! leaf certificate: we compare DER, which is at least as strict as sigstore-python's
//! re-encoded-PEM comparison and immune to PEM layout differences.

mod v2;

use super::error::VerifyError;
use super::keys::SignerKey;
use mayfly_spec::pem;
use mayfly_spec::sigstore::bundle::{Content, TlogEntry};
use mayfly_spec::sigstore::json::{self, Obj};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

pub(super) fn err(m: impl Into<String>) -> VerifyError {
    VerifyError::Body(m.into())
}

/// What a hashedrekord body commits to: the digest algorithm and bytes that were signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignedDigest {
    pub algorithm: String,
    pub digest: Vec<u8>,
}

/// Checks the body against the bundle; for a hashedrekord of a message signature returns the
/// logged digest.
pub(crate) fn check_body(
    entry: &TlogEntry,
    content: &Content,
    signer: SignerKey<'_>,
) -> Result<Option<SignedDigest>, VerifyError> {
    let value: Value =
        serde_json::from_slice(&entry.body).map_err(|e| err(format!("not JSON: {e}")))?;
    let top = json::as_obj(&value, "body").map_err(err)?;
    let kind = json::string(top, "body", "kind").map_err(err)?;
    let version = json::string(top, "body", "apiVersion").map_err(err)?;
    if kind != entry.kind || version != entry.version {
        return Err(err(format!(
            "body is {kind} {version}, bundle says {} {}",
            entry.kind, entry.version
        )));
    }
    let spec = json::obj(top, "body", "spec").map_err(err)?;
    match (kind, version, content) {
        ("hashedrekord", "0.0.2", _) => v2::hashedrekord(spec, content, signer),
        (
            "dsse",
            "0.0.2",
            Content::Dsse {
                payload, signature, ..
            },
        ) => v2::dsse(spec, payload, signature, signer).map(|()| None),
        ("hashedrekord", _, Content::Message { digest, signature }) => {
            hashedrekord(spec, digest.as_ref(), signature, signer).map(Some)
        }
        (
            "dsse",
            _,
            Content::Dsse {
                payload, signature, ..
            },
        ) => dsse(spec, payload, signature, signer).map(|()| None),
        (
            "intoto",
            _,
            Content::Dsse {
                payload_type,
                payload,
                signature,
            },
        ) => intoto(spec, payload_type, payload, signature, signer).map(|()| None),
        _ => Err(err(format!(
            "a {kind} entry cannot log this bundle's content type"
        ))),
    }
}

fn hashedrekord(
    spec: &Obj,
    bundle_digest: Option<&(String, Vec<u8>)>,
    signature: &[u8],
    signer: SignerKey<'_>,
) -> Result<SignedDigest, VerifyError> {
    let hash = json::obj(
        json::obj(spec, "spec", "data").map_err(err)?,
        "spec.data",
        "hash",
    )
    .map_err(err)?;
    let algorithm = json::string(hash, "spec.data.hash", "algorithm").map_err(err)?;
    let digest = hex::decode(json::string(hash, "spec.data.hash", "value").map_err(err)?)
        .map_err(|_| err("spec.data.hash.value is not hex"))?;
    if let Some((alg, d)) = bundle_digest
        && (alg != algorithm || *d != digest)
    {
        return Err(err("logged digest differs from the bundle's messageDigest"));
    }
    let sig = json::obj(spec, "spec", "signature").map_err(err)?;
    if json::bytes(sig, "spec.signature", "content").map_err(err)? != signature {
        return Err(err("logged signature differs from the bundle's signature"));
    }
    let key = json::obj(sig, "spec.signature", "publicKey").map_err(err)?;
    check_key(
        json::string(key, "spec.signature.publicKey", "content").map_err(err)?,
        signer,
    )?;
    Ok(SignedDigest {
        algorithm: algorithm.to_owned(),
        digest,
    })
}

fn dsse(
    spec: &Obj,
    payload: &[u8],
    signature: &[u8],
    signer: SignerKey<'_>,
) -> Result<(), VerifyError> {
    check_payload_hash(spec, "spec", payload)?;
    let sigs = json::array(spec, "spec", "signatures").map_err(err)?;
    let [only] = sigs else {
        return Err(err(format!(
            "expected one logged signature, found {}",
            sigs.len()
        )));
    };
    let only = json::as_obj(only, "spec.signatures[0]").map_err(err)?;
    if json::bytes(only, "spec.signatures[0]", "signature").map_err(err)? != signature {
        return Err(err("logged signature differs from the bundle's signature"));
    }
    check_key(
        json::string(only, "spec.signatures[0]", "verifier").map_err(err)?,
        signer,
    )
}

fn intoto(
    spec: &Obj,
    payload_type: &str,
    payload: &[u8],
    signature: &[u8],
    signer: SignerKey<'_>,
) -> Result<(), VerifyError> {
    let content = json::obj(spec, "spec", "content").map_err(err)?;
    check_payload_hash(content, "spec.content", payload)?;
    let env = json::obj(content, "spec.content", "envelope").map_err(err)?;
    if json::string(env, "envelope", "payloadType").map_err(err)? != payload_type {
        return Err(err("logged payloadType differs from the envelope's"));
    }
    let sigs = json::array(env, "envelope", "signatures").map_err(err)?;
    let [only] = sigs else {
        return Err(err(format!(
            "expected one logged signature, found {}",
            sigs.len()
        )));
    };
    let only = json::as_obj(only, "envelope.signatures[0]").map_err(err)?;
    // intoto 0.0.2 stores the envelope's base64 signature text base64-encoded again.
    let once = json::bytes(only, "envelope.signatures[0]", "sig").map_err(err)?;
    let sig_text = std::str::from_utf8(&once).map_err(|_| err("logged sig is not base64 text"))?;
    if json::b64(sig_text, "envelope.signatures[0].sig").map_err(err)? != signature {
        return Err(err("logged signature differs from the bundle's signature"));
    }
    check_key(
        json::string(only, "envelope.signatures[0]", "publicKey").map_err(err)?,
        signer,
    )
}

fn check_payload_hash(obj: &Obj, at: &str, payload: &[u8]) -> Result<(), VerifyError> {
    let ph = json::obj(obj, at, "payloadHash").map_err(err)?;
    let alg = json::string(ph, "payloadHash", "algorithm").map_err(err)?;
    let value = json::string(ph, "payloadHash", "value").map_err(err)?;
    if alg != "sha256" || value != hex::encode(Sha256::digest(payload)) {
        return Err(err(
            "logged payloadHash is not SHA-256 of the bundle's payload",
        ));
    }
    Ok(())
}

/// `b64_pem` (base64 of a PEM certificate or public key) holds exactly the signer.
fn check_key(b64_pem: &str, signer: SignerKey<'_>) -> Result<(), VerifyError> {
    let pem = json::b64(b64_pem, "logged key").map_err(err)?;
    let (label, der) = signer.label_and_der();
    // Read as Go's pem.Decode does (Rekor's own parser): the npm registry logs its key with
    // 124-character lines. What is compared is the DER.
    match pem::decode_first(&pem) {
        Some((logged_label, logged)) if logged_label == label && logged == der => Ok(()),
        _ => Err(err(match signer {
            SignerKey::Certificate(_) => "logged key is not the bundle's certificate",
            SignerKey::PublicKey(_) => "logged key is not the given public key",
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    fn entry(body: &Value) -> TlogEntry {
        TlogEntry {
            log_index: 0,
            log_id: [0; 32],
            kind: "dsse".into(),
            version: "0.0.1".into(),
            integrated_time: 0,
            set: None,
            proof: None,
            body: serde_json::to_vec(body).unwrap_or_default(),
        }
    }

    fn pem(der: &[u8]) -> String {
        STANDARD.encode(mayfly_spec::pem::encode("CERTIFICATE", der))
    }

    #[test]
    fn dsse_body_must_match_signature_payload_and_key() {
        let leaf = [0x30, 0x03, 0x02, 0x01, 0x01];
        let content = Content::Dsse {
            payload_type: "t".into(),
            payload: b"p".to_vec(),
            signature: vec![1, 2],
        };
        let body = |sig: &[u8], payload: &[u8], key: &[u8]| {
            serde_json::json!({"kind": "dsse", "apiVersion": "0.0.1", "spec": {
                "payloadHash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(payload))},
                "signatures": [{"signature": STANDARD.encode(sig), "verifier": pem(key)}]}})
        };
        assert_eq!(
            check_body(
                &entry(&body(&[1, 2], b"p", &leaf)),
                &content,
                SignerKey::Certificate(&leaf)
            ),
            Ok(None)
        );
        for (bad, want) in [
            (body(&[1, 3], b"p", &leaf), "signature differs"),
            (body(&[1, 2], b"q", &leaf), "payloadHash"),
            (
                body(&[1, 2], b"p", &[0x30, 0]),
                "not the bundle's certificate",
            ),
        ] {
            let got = check_body(&entry(&bad), &content, SignerKey::Certificate(&leaf))
                .err()
                .map(|e| e.to_string());
            assert!(got.unwrap_or_default().contains(want), "{want}");
        }
        let mut wrong_kind = entry(&body(&[1, 2], b"p", &leaf));
        wrong_kind.kind = "intoto".into();
        assert!(check_body(&wrong_kind, &content, SignerKey::Certificate(&leaf)).is_err());
    }

    fn v2_entry(kind: &str, spec: Value) -> TlogEntry {
        let mut e = entry(&serde_json::json!({"kind": kind, "apiVersion": "0.0.2", "spec": spec}));
        e.kind = kind.into();
        e.version = "0.0.2".into();
        e
    }

    fn verifier(cert: &[u8]) -> Value {
        serde_json::json!({"keyDetails": "PKIX_ECDSA_P256_SHA_256",
                           "x509Certificate": {"rawBytes": STANDARD.encode(cert)}})
    }

    fn dsse_content() -> Content {
        Content::Dsse {
            payload_type: "t".into(),
            payload: b"p".to_vec(),
            signature: vec![1, 2],
        }
    }

    fn reason(r: Result<Option<SignedDigest>, VerifyError>) -> String {
        r.err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn dsse_v002_body_must_match_payload_signature_and_certificate() {
        let leaf = [0x30, 0x03, 0x02, 0x01, 0x01];
        let signer = SignerKey::Certificate(&leaf);
        let spec = |payload: &[u8], sig: &[u8], cert: &[u8]| {
            serde_json::json!({"dsseV002": {
                "payloadHash": {"algorithm": "SHA2_256", "digest": STANDARD.encode(Sha256::digest(payload))},
                "signatures": [{"content": STANDARD.encode(sig), "verifier": verifier(cert)}]}})
        };
        let good = v2_entry("dsse", spec(b"p", &[1, 2], &leaf));
        assert_eq!(check_body(&good, &dsse_content(), signer), Ok(None));
        for (bad, want) in [
            (spec(b"q", &[1, 2], &leaf), "payloadHash"),
            (spec(b"p", &[1, 3], &leaf), "signature differs"),
            (
                spec(b"p", &[1, 2], &[0x30, 0]),
                "x509Certificate is not the bundle's certificate",
            ),
        ] {
            let got = reason(check_body(&v2_entry("dsse", bad), &dsse_content(), signer));
            assert!(got.contains(want), "{got} lacks {want}");
        }
        // Signed with a managed key, the verifier must be that key, not a certificate.
        let got = reason(check_body(
            &good,
            &dsse_content(),
            SignerKey::PublicKey(&leaf),
        ));
        assert!(got.contains("no publicKey"), "{got}");
    }

    /// How Rekor v2 ≥ 2.3 and sigstore-python ≥ 4.3 log a DSSE envelope: a hashedrekord over
    /// SHA-256 of its PAE, with the envelope's signature.
    #[test]
    fn dsse_as_hashedrekord_v002_must_log_the_pae_digest() {
        let leaf = [0x30, 0x03, 0x02, 0x01, 0x01];
        let signer = SignerKey::Certificate(&leaf);
        let spec = |digest: &[u8], sig: &[u8]| {
            serde_json::json!({"hashedRekordV002": {
                "data": {"algorithm": "SHA2_256", "digest": STANDARD.encode(digest)},
                "signature": {"content": STANDARD.encode(sig), "verifier": verifier(&leaf)}}})
        };
        let pae_digest = Sha256::digest(mayfly_spec::rekor::pae("t", b"p"));
        let good = v2_entry("hashedrekord", spec(&pae_digest, &[1, 2]));
        assert_eq!(check_body(&good, &dsse_content(), signer), Ok(None));
        let payload_digest = Sha256::digest(b"p");
        let got = reason(check_body(
            &v2_entry("hashedrekord", spec(&payload_digest, &[1, 2])),
            &dsse_content(),
            signer,
        ));
        assert!(got.contains("not SHA-256 of the envelope's PAE"), "{got}");
        let got = reason(check_body(
            &v2_entry("hashedrekord", spec(&pae_digest, &[9])),
            &dsse_content(),
            signer,
        ));
        assert!(got.contains("signature differs"), "{got}");
        // As a message signature, the same body yields its digest for the artifact check.
        let message = Content::Message {
            digest: None,
            signature: vec![1, 2],
        };
        assert_eq!(
            check_body(&good, &message, signer),
            Ok(Some(SignedDigest {
                algorithm: "sha256".into(),
                digest: pae_digest.to_vec(),
            }))
        );
    }
}

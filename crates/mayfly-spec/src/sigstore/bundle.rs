//! Parsing a Sigstore bundle (protobuf-specs `Bundle`, JSON mapping; rekor-bundle-npm.md §4.1)
//! into the facts the checks need, refusing every shape the clients refuse at parse time.
//!
//! Mirrors sigstore-python's `Bundle._verify` and sigstore-js's bundle validation: a known media
//! type; v0.1/v0.2 carry `x509CertificateChain` (leaf first; the rest is ignored, the path is
//! built from the trusted root), v0.3 a bare `certificate`; exactly one tlog entry; v0.1 needs
//! an inclusion promise, v0.2+ an inclusion proof with a checkpoint; a DSSE envelope has
//! exactly one signature.

use super::DocumentError;
use super::json::{self, Obj};
use serde_json::Value;

/// Bundle format versions. They differ in the certificate field and in which of promise and
/// proof is mandatory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V01,
    V02,
    V03,
}

impl Version {
    fn from_media_type(media_type: &str) -> Result<Self, DocumentError> {
        match media_type {
            "application/vnd.dev.sigstore.bundle+json;version=0.1" => Ok(Self::V01),
            "application/vnd.dev.sigstore.bundle+json;version=0.2" => Ok(Self::V02),
            "application/vnd.dev.sigstore.bundle+json;version=0.3"
            | "application/vnd.dev.sigstore.bundle.v0.3+json" => Ok(Self::V03),
            other => Err(bundle(format!("unsupported media type {other:?}"))),
        }
    }
}

/// The inclusion proof of a tlog entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub log_index: u64,
    pub root_hash: [u8; 32],
    pub tree_size: u64,
    pub hashes: Vec<[u8; 32]>,
    /// The signed note text (`checkpoint.envelope`).
    pub checkpoint: String,
}

/// The one tlog entry of a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogEntry {
    pub log_index: u64,
    pub log_id: [u8; 32],
    pub kind: String,
    pub version: String,
    pub integrated_time: i64,
    pub set: Option<Vec<u8>>,
    pub proof: Option<Proof>,
    /// The canonicalized body (the leaf value).
    pub body: Vec<u8>,
}

/// The signed content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// `messageSignature`: a signature over an artifact; the digest is optional in the spec.
    Message {
        digest: Option<(String, Vec<u8>)>,
        signature: Vec<u8>,
    },
    /// `dsseEnvelope` with its single signature.
    Dsse {
        payload_type: String,
        payload: Vec<u8>,
        signature: Vec<u8>,
    },
}

/// Who signed, as the verification material says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    /// DER of the signing (leaf) certificate: a keyless (Fulcio) signature.
    Certificate(Vec<u8>),
    /// `publicKey`: a long-lived key the verifier must be given; the bundle only names it.
    PublicKey { hint: Option<String> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub version: Version,
    pub signer: Signer,
    pub entry: TlogEntry,
    pub content: Content,
    /// The DER of each RFC 3161 timestamp in `timestampVerificationData` (a verifier must check
    /// every one it is given, or refuse the bundle).
    pub timestamps: Vec<Vec<u8>>,
}

/// Protobuf `HashAlgorithm` names for message digests.
fn bundle(msg: impl Into<String>) -> DocumentError {
    DocumentError::Bundle(msg.into())
}

fn digest_name(proto: &str) -> Result<&'static str, DocumentError> {
    match proto {
        "SHA2_256" => Ok("sha256"),
        "SHA2_384" => Ok("sha384"),
        "SHA2_512" => Ok("sha512"),
        other => Err(bundle(format!("unsupported message digest {other:?}"))),
    }
}

pub fn parse(bytes: &[u8]) -> Result<Bundle, DocumentError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| bundle(format!("not JSON: {e}")))?;
    let top = json::as_obj(&value, "$").map_err(bundle)?;
    let version = Version::from_media_type(json::string(top, "$", "mediaType").map_err(bundle)?)?;
    let material = json::obj(top, "$", "verificationMaterial").map_err(bundle)?;
    let signer = signer(material, version)?;
    let entries = json::array(material, "verificationMaterial", "tlogEntries").map_err(bundle)?;
    let [entry] = entries else {
        return Err(bundle(format!(
            "expected exactly one tlog entry, found {}",
            entries.len()
        )));
    };
    let entry = tlog_entry(entry)?;
    match (version, &entry.set, &entry.proof) {
        (Version::V01, None, _) => return Err(bundle("a v0.1 bundle needs an inclusion promise")),
        (Version::V02 | Version::V03, _, None) => {
            return Err(bundle("a v0.2+ bundle needs an inclusion proof"));
        }
        _ => {}
    }
    let content = content(top)?;
    Ok(Bundle {
        version,
        signer,
        entry,
        content,
        timestamps: timestamps(material)?,
    })
}

/// `timestampVerificationData.rfc3161Timestamps[].signedTimestamp`, absent meaning none.
fn timestamps(material: &Obj) -> Result<Vec<Vec<u8>>, DocumentError> {
    let at = "timestampVerificationData";
    let Some(data) = json::opt_obj(material, "verificationMaterial", at).map_err(bundle)? else {
        return Ok(Vec::new());
    };
    json::array_or_empty(data, at, "rfc3161Timestamps")
        .map_err(bundle)?
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let at = format!("{at}.rfc3161Timestamps[{i}]");
            let t = json::as_obj(t, &at).map_err(bundle)?;
            json::bytes(t, &at, "signedTimestamp").map_err(bundle)
        })
        .collect()
}

/// The certificate (chain) or the `publicKey` hint; exactly one of the three forms.
fn signer(material: &Obj, version: Version) -> Result<Signer, DocumentError> {
    if let Some(key) =
        json::opt_obj(material, "verificationMaterial", "publicKey").map_err(bundle)?
    {
        if json::opt(material, "certificate").is_some()
            || json::opt(material, "x509CertificateChain").is_some()
        {
            return Err(bundle(
                "verificationMaterial has both publicKey and a certificate",
            ));
        }
        let hint = match json::opt(key, "hint") {
            None | Some(Value::Null) => None,
            Some(Value::String(h)) => Some(h.clone()),
            Some(_) => return Err(bundle("publicKey.hint is not a string")),
        };
        return Ok(Signer::PublicKey { hint });
    }
    leaf_certificate(material, version).map(Signer::Certificate)
}

fn leaf_certificate(material: &Obj, version: Version) -> Result<Vec<u8>, DocumentError> {
    let at = "verificationMaterial";
    let raw = |cert: &Value, at: &str| -> Result<Vec<u8>, DocumentError> {
        let cert = json::as_obj(cert, at).map_err(bundle)?;
        json::bytes(cert, at, "rawBytes").map_err(bundle)
    };
    match version {
        Version::V01 | Version::V02 => {
            if json::opt(material, "certificate").is_some() {
                return Err(bundle(
                    "v0.1/v0.2 bundles carry x509CertificateChain, not certificate",
                ));
            }
            let chain = json::obj(material, at, "x509CertificateChain").map_err(bundle)?;
            let certs =
                json::array(chain, "x509CertificateChain", "certificates").map_err(bundle)?;
            let first = certs
                .first()
                .ok_or_else(|| bundle("x509CertificateChain.certificates is empty"))?;
            raw(first, "x509CertificateChain.certificates[0]")
        }
        Version::V03 => {
            if json::opt(material, "x509CertificateChain").is_some() {
                return Err(bundle(
                    "v0.3 bundles carry certificate, not x509CertificateChain",
                ));
            }
            raw(
                json::req(material, at, "certificate").map_err(bundle)?,
                "verificationMaterial.certificate",
            )
        }
    }
}

fn tlog_entry(value: &Value) -> Result<TlogEntry, DocumentError> {
    let at = "tlogEntries[0]";
    let e = json::as_obj(value, at).map_err(bundle)?;
    let kv = json::obj(e, at, "kindVersion").map_err(bundle)?;
    let kind = json::string(kv, "kindVersion", "kind").map_err(bundle)?;
    let version = json::string(kv, "kindVersion", "version").map_err(bundle)?;
    match (kind, version) {
        ("hashedrekord" | "dsse", "0.0.1" | "0.0.2") | ("intoto", "0.0.2") => {}
        _ => {
            return Err(bundle(format!(
                "unsupported tlog entry kind {kind} {version} (hashedrekord and dsse 0.0.1 and \
                 0.0.2, and intoto 0.0.2 are)"
            )));
        }
    }
    let log_id = json::hash32(json::obj(e, at, "logId").map_err(bundle)?, "logId", "keyId")
        .map_err(bundle)?;
    let set = json::opt_obj(e, at, "inclusionPromise")
        .map_err(bundle)?
        .map(|p| json::bytes(p, "inclusionPromise", "signedEntryTimestamp"))
        .transpose()
        .map_err(bundle)?;
    let proof = json::opt_obj(e, at, "inclusionProof")
        .map_err(bundle)?
        .map(proof)
        .transpose()?;
    Ok(TlogEntry {
        log_index: json::uint_or_zero(e, at, "logIndex").map_err(bundle)?,
        log_id,
        kind: kind.to_owned(),
        version: version.to_owned(),
        integrated_time: json::int64_or_zero(e, at, "integratedTime").map_err(bundle)?,
        set,
        proof,
        body: json::bytes(e, at, "canonicalizedBody").map_err(bundle)?,
    })
}

fn proof(p: &Obj) -> Result<Proof, DocumentError> {
    let at = "inclusionProof";
    let hashes = json::array_or_empty(p, at, "hashes")
        .map_err(bundle)?
        .iter()
        .map(|h| {
            let h = h
                .as_str()
                .ok_or_else(|| bundle("inclusionProof.hashes[] is not a string"))?;
            <[u8; 32]>::try_from(json::b64(h, "inclusionProof.hashes[]").map_err(bundle)?)
                .map_err(|_| bundle("inclusionProof.hashes[] is not 32 bytes"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    // sigstore-python and sigstore-js both need the checkpoint: without it the root is unsigned.
    let checkpoint = json::obj(p, at, "checkpoint").map_err(bundle)?;
    Ok(Proof {
        log_index: json::uint_or_zero(p, at, "logIndex").map_err(bundle)?,
        root_hash: json::hash32(p, at, "rootHash").map_err(bundle)?,
        tree_size: json::uint(p, at, "treeSize").map_err(bundle)?,
        hashes,
        checkpoint: json::string(checkpoint, "checkpoint", "envelope")
            .map_err(bundle)?
            .to_owned(),
    })
}

fn content(top: &Obj) -> Result<Content, DocumentError> {
    match (
        json::opt_obj(top, "$", "messageSignature").map_err(bundle)?,
        json::opt_obj(top, "$", "dsseEnvelope").map_err(bundle)?,
    ) {
        (Some(m), None) => {
            let at = "messageSignature";
            let digest = json::opt_obj(m, at, "messageDigest")
                .map_err(bundle)?
                .map(|d| -> Result<_, DocumentError> {
                    let alg = digest_name(
                        json::string(d, "messageDigest", "algorithm").map_err(bundle)?,
                    )?;
                    Ok((
                        alg.to_owned(),
                        json::bytes(d, "messageDigest", "digest").map_err(bundle)?,
                    ))
                })
                .transpose()?;
            Ok(Content::Message {
                digest,
                signature: json::bytes(m, at, "signature").map_err(bundle)?,
            })
        }
        (None, Some(d)) => {
            let at = "dsseEnvelope";
            let sigs = json::array(d, at, "signatures").map_err(bundle)?;
            let [sig] = sigs else {
                return Err(bundle(format!(
                    "a DSSE envelope must have exactly one signature, found {}",
                    sigs.len()
                )));
            };
            let sig = json::as_obj(sig, "dsseEnvelope.signatures[0]").map_err(bundle)?;
            Ok(Content::Dsse {
                payload_type: json::string(d, at, "payloadType")
                    .map_err(bundle)?
                    .to_owned(),
                payload: json::bytes(d, at, "payload").map_err(bundle)?,
                signature: json::bytes(sig, "dsseEnvelope.signatures[0]", "sig").map_err(bundle)?,
            })
        }
        (Some(_), Some(_)) => Err(bundle("both messageSignature and dsseEnvelope are present")),
        (None, None) => Err(bundle(
            "neither messageSignature nor dsseEnvelope is present",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry() -> Value {
        json!({
            "logIndex": "5", "logId": {"keyId": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
            "kindVersion": {"kind": "hashedrekord", "version": "0.0.1"},
            "integratedTime": "1700000000",
            "inclusionPromise": {"signedEntryTimestamp": "AQID"},
            "inclusionProof": {"logIndex": "5", "treeSize": "6", "hashes": [],
                "rootHash": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                "checkpoint": {"envelope": "x\n"}},
            "canonicalizedBody": "e30="
        })
    }

    fn doc(media: &str, material_cert: (&str, Value), entries: Value) -> Vec<u8> {
        let mut material = json!({"tlogEntries": entries});
        if let Some(m) = material.as_object_mut() {
            m.insert(material_cert.0.into(), material_cert.1);
        }
        serde_json::to_vec(&json!({
            "mediaType": media,
            "verificationMaterial": material,
            "messageSignature": {"messageDigest": {"algorithm": "SHA2_256", "digest": "AQID"},
                                 "signature": "BAUG"}
        }))
        .unwrap_or_default()
    }

    const V3: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
    const V2: &str = "application/vnd.dev.sigstore.bundle+json;version=0.2";

    #[test]
    fn accepts_v03_certificate_and_v02_chain() {
        let v3 = parse(&doc(
            V3,
            ("certificate", json!({"rawBytes": "MAA="})),
            json!([entry()]),
        ));
        assert_eq!(
            v3.map(|b| (b.version, b.signer)),
            Ok((Version::V03, Signer::Certificate(vec![0x30, 0])))
        );
        let v2 = doc(
            V2,
            (
                "x509CertificateChain",
                json!({"certificates": [{"rawBytes": "MAA="}]}),
            ),
            json!([entry()]),
        );
        assert_eq!(parse(&v2).map(|b| b.version), Ok(Version::V02));
    }

    #[test]
    fn refuses_wrong_shapes() {
        let cert = || ("certificate", json!({"rawBytes": "MAA="}));
        let cases = [
            (
                doc("application/json", cert(), json!([entry()])),
                "media type",
            ),
            (doc(V2, cert(), json!([entry()])), "x509CertificateChain"),
            (doc(V3, cert(), json!([])), "exactly one tlog entry"),
            (
                doc(V3, cert(), json!([entry(), entry()])),
                "exactly one tlog entry",
            ),
        ];
        for (bytes, want) in cases {
            let err = parse(&bytes)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains(want), "{err} does not mention {want}");
        }
        let mut e = entry();
        if let Some(o) = e.as_object_mut() {
            o.remove("inclusionProof");
        }
        let err = parse(&doc(V3, cert(), json!([e])))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("bundle: a v0.2+ bundle needs an inclusion proof")
        );
        let mut e = entry();
        e["kindVersion"]["version"] = json!("0.0.3");
        let err = parse(&doc(V3, cert(), json!([e])))
            .err()
            .map(|e| e.to_string());
        assert!(
            err.unwrap_or_default()
                .contains("unsupported tlog entry kind")
        );
    }

    #[test]
    fn public_key_material_is_a_managed_key_signer() {
        let keyed = doc(
            V3,
            ("publicKey", json!({"hint": "SHA256:abc"})),
            json!([entry()]),
        );
        assert_eq!(
            parse(&keyed).map(|b| b.signer),
            Ok(Signer::PublicKey {
                hint: Some("SHA256:abc".into())
            })
        );
        let mut both: Value = serde_json::from_slice(&keyed).unwrap_or_default();
        both["verificationMaterial"]["certificate"] = json!({"rawBytes": "MAA="});
        let err = parse(&serde_json::to_vec(&both).unwrap_or_default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("both publicKey and a certificate"), "{err}");
    }

    #[test]
    fn rekor_v2_kinds_are_accepted() {
        let cert = || ("certificate", json!({"rawBytes": "MAA="}));
        for kind in ["hashedrekord", "dsse"] {
            let mut e = entry();
            e["kindVersion"] = json!({"kind": kind, "version": "0.0.2"});
            assert!(parse(&doc(V3, cert(), json!([e]))).is_ok(), "{kind}");
        }
        let mut e = entry();
        e["kindVersion"] = json!({"kind": "intoto", "version": "0.0.1"});
        assert!(parse(&doc(V3, cert(), json!([e]))).is_err());
    }
}

//! End-to-end checks of the whole module: real SCTs from the public Sigstore CT log, and a
//! synthetic precertificate issuance signed and verified with P-256.

use super::*;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::DecodePublicKey as _;
use serde_json::Value;
use std::error::Error;
use x509_parser::prelude::{FromDer as _, TbsCertificate, X509Certificate};

type TestResult = Result<(), Box<dyn Error>>;

/// The repository's copy of the real Sigstore data (tests/vectors/README.md).
const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/vectors/sigstore-public"
);
const SCT_LIST_OID_DOTTED: &str = "1.3.6.1.4.1.11129.2.4.2";

fn json(name: &str) -> Result<Value, Box<dyn Error>> {
    let text = std::fs::read_to_string(format!("{VECTORS}/{name}"))?;
    Ok(serde_json::from_str(&text)?)
}

fn b64(value: &Value) -> Result<Vec<u8>, Box<dyn Error>> {
    let text = value.as_str().ok_or("expected a base64 string")?;
    Ok(STANDARD.decode(text)?)
}

/// The leaf certificate of a bundle, whichever of the two bundle layouts it uses.
fn bundle_leaf(name: &str) -> Result<Vec<u8>, Box<dyn Error>> {
    let material = &json(name)?["verificationMaterial"];
    let raw = if material["certificate"].is_object() {
        &material["certificate"]["rawBytes"]
    } else {
        &material["x509CertificateChain"]["certificates"][0]["rawBytes"]
    };
    b64(raw)
}

/// Public-good trusted root: (CT log id, CT log SPKI) pairs and every CA certificate.
struct TrustedRoot {
    ctlogs: Vec<([u8; 32], Vec<u8>)>,
    ca_certs: Vec<Vec<u8>>,
}

fn trusted_root() -> Result<TrustedRoot, Box<dyn Error>> {
    let root = json("trusted_root.public-good.json")?;
    let mut ctlogs = Vec::new();
    for log in root["ctlogs"].as_array().ok_or("no ctlogs")? {
        let id: [u8; 32] = b64(&log["logId"]["keyId"])?
            .try_into()
            .map_err(|_| "log id length")?;
        ctlogs.push((id, b64(&log["publicKey"]["rawBytes"])?));
    }
    let mut ca_certs = Vec::new();
    for ca in root["certificateAuthorities"].as_array().ok_or("no CAs")? {
        for cert in ca["certChain"]["certificates"]
            .as_array()
            .ok_or("no chain")?
        {
            ca_certs.push(b64(&cert["rawBytes"])?);
        }
    }
    Ok(TrustedRoot { ctlogs, ca_certs })
}

/// Everything needed to check the embedded SCTs of one real leaf.
struct RealLeaf {
    leaf: Vec<u8>,
    /// The SCT list extension's value as x509-parser reports it (the inner OCTET STRING).
    extension_value: Vec<u8>,
    issuer_spki: Vec<u8>,
}

fn real_leaf(bundle: &str, root: &TrustedRoot) -> Result<RealLeaf, Box<dyn Error>> {
    let leaf = bundle_leaf(bundle)?;
    let (_, cert) = X509Certificate::from_der(&leaf)?;
    let extension_value = cert
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == SCT_LIST_OID_DOTTED)
        .ok_or("leaf has no SCT list")?
        .value
        .to_vec();
    let mut issuers = Vec::new();
    for ca in &root.ca_certs {
        let (_, ca) = X509Certificate::from_der(ca)?;
        if ca.subject().as_raw() == cert.issuer().as_raw() {
            issuers.push(ca.public_key().raw.to_vec());
        }
    }
    issuers.dedup();
    let [issuer_spki] = <[Vec<u8>; 1]>::try_from(issuers).map_err(|_| "not exactly one issuer")?;
    Ok(RealLeaf {
        leaf,
        extension_value,
        issuer_spki,
    })
}

fn verify(spki: &[u8], sct: &Sct, entry: &PrecertEntry<'_>) -> Result<(), Box<dyn Error>> {
    let key = VerifyingKey::from_public_key_der(spki)?;
    let signature = Signature::from_der(&sct.signature)?;
    key.verify(&sct.signing_input(entry)?, &signature)?;
    Ok(())
}

/// Parses, re-encodes and verifies every SCT in a production leaf; returns how many verified.
fn check_production_leaf(bundle: &str) -> Result<usize, Box<dyn Error>> {
    let root = trusted_root()?;
    let real = real_leaf(bundle, &root)?;
    let scts = parse_sct_list_extension_value(&real.extension_value)?;
    assert_eq!(
        sct_list_extension_value(&scts)?,
        real.extension_value,
        "exact re-encoding"
    );

    let tbs = final_cert_signing_tbs(&real.leaf)?;
    // x509-parser agrees the result is a TBSCertificate, with one extension fewer.
    let (rest, parsed) = TbsCertificate::from_der(&tbs)?;
    assert!(rest.is_empty());
    let (_, leaf) = X509Certificate::from_der(&real.leaf)?;
    assert_eq!(parsed.extensions().len() + 1, leaf.extensions().len());
    assert!(
        parsed
            .extensions()
            .iter()
            .all(|e| e.oid.to_id_string() != SCT_LIST_OID_DOTTED)
    );

    let entry = PrecertEntry {
        issuer_key_hash: issuer_key_hash(&real.issuer_spki),
        tbs: &tbs,
    };
    let mut verified = 0;
    for sct in &scts {
        assert_eq!(Sct::parse(&sct.to_bytes()?)?, *sct);
        let Some((_, spki)) = root.ctlogs.iter().find(|(id, _)| *id == sct.log_id) else {
            continue;
        };
        assert_eq!(
            issuer_key_hash(spki),
            sct.log_id,
            "log id is SHA-256 of the log's SPKI"
        );
        verify(spki, sct, &entry)?;
        verified += 1;

        // Tampering with anything the signature covers breaks it.
        let mut later = sct.clone();
        later.timestamp_ms += 1;
        assert!(verify(spki, &later, &entry).is_err(), "timestamp is signed");
        let mut with_index = sct.clone();
        with_index.extensions = leaf_index_extension(0)?;
        assert!(
            verify(spki, &with_index, &entry).is_err(),
            "extensions are signed"
        );
        let mut other_tbs = tbs.clone();
        let last = other_tbs.len() - 1;
        other_tbs[last] ^= 1;
        let tampered = PrecertEntry {
            tbs: &other_tbs,
            ..entry
        };
        assert!(verify(spki, sct, &tampered).is_err(), "TBS is signed");
        let wrong_issuer = PrecertEntry {
            issuer_key_hash: [0; 32],
            ..entry
        };
        assert!(
            verify(spki, sct, &wrong_issuer).is_err(),
            "issuer key hash is signed"
        );
    }
    Ok(verified)
}

#[test]
fn github_leaf_sct_verifies_against_public_ct_log() -> TestResult {
    assert_eq!(check_production_leaf("github-signed.whl.sigstore")?, 1);
    Ok(())
}

#[test]
fn npm_provenance_leaf_sct_verifies_against_public_ct_log() -> TestResult {
    assert_eq!(
        check_production_leaf("npm-sigstore-1.3.0-provenance.sigstore.json")?,
        1
    );
    Ok(())
}

/// The email bundle comes from Sigstore *staging*: its SCT's log is not in the public-good
/// root, so only the encoding can be checked, not the signature.
#[test]
fn email_leaf_sct_is_from_a_log_outside_public_good() -> TestResult {
    assert_eq!(check_production_leaf("email-signed.txt.sigstore")?, 0);
    Ok(())
}

#[test]
fn synthetic_issuance_round_trip() -> TestResult {
    use super::tbs::tests::{certificate, extension, poison, tbs};

    let log_key = SigningKey::from_slice(&[0x42; 32])?;
    let issuer_spki = b"stand-in issuer SubjectPublicKeyInfo";
    let san = extension(&[2, 5, 29, 17], true, b"san");
    let fulcio = extension(&[1, 3, 6, 1, 4, 1, 57264, 1, 8], false, b"issuer");

    // The log's side: sign the precert's TBS minus poison, with a static-ct leaf index.
    let precert = certificate(&tbs(&[san.clone(), poison(), fulcio.clone()]));
    let precert_tbs = precert_signing_tbs(&precert)?;
    let entry = PrecertEntry {
        issuer_key_hash: issuer_key_hash(issuer_spki),
        tbs: &precert_tbs,
    };
    let extensions = leaf_index_extension(41)?;
    let signature: Signature =
        log_key.sign(&signing_input(1_700_000_000_000, &entry, &extensions)?);
    let sct = Sct {
        log_id: [0x77; 32],
        timestamp_ms: 1_700_000_000_000,
        extensions,
        signature: signature.to_der().as_bytes().to_vec(),
    };

    // The CA's side: the final certificate carries the SCT where the poison was.
    let sct_ext = extension(
        SCT_LIST_OID,
        false,
        &sct_list_extension_value(std::slice::from_ref(&sct))?,
    );
    let final_cert = certificate(&tbs(&[san, sct_ext, fulcio]));

    // A verifier's side, from the final certificate alone.
    let final_tbs = final_cert_signing_tbs(&final_cert)?;
    assert_eq!(final_tbs, precert_tbs);
    let [found] = <[Sct; 1]>::try_from(parse_sct_list_extension_value(&sct_list_value(
        &final_cert,
    )?)?)
    .map_err(|_| "exactly one SCT")?;
    assert_eq!(found, sct);
    let entry = PrecertEntry {
        tbs: &final_tbs,
        ..entry
    };
    verify_with(log_key.verifying_key(), &found, &entry)?;
    assert_eq!(leaf_index_from_extensions(&found.extensions)?, Some(41));
    Ok(())
}

fn verify_with(
    key: &VerifyingKey,
    sct: &Sct,
    entry: &PrecertEntry<'_>,
) -> Result<(), Box<dyn Error>> {
    key.verify(
        &sct.signing_input(entry)?,
        &Signature::from_der(&sct.signature)?,
    )?;
    Ok(())
}

/// The SCT list extension's value in a (synthetic) certificate, found with the module's own
/// DER reader since x509-parser rightly refuses the shape-only test TBS.
fn sct_list_value(cert: &[u8]) -> Result<Vec<u8>, Box<dyn Error>> {
    use crate::der::{TAG_EXTENSIONS, TAG_SEQUENCE, children, encode_oid, read_single};
    let tbs = read_single(tbs_certificate(cert)?, TAG_SEQUENCE, "tbs")?;
    let wrapper = children(tbs)
        .filter_map(Result::ok)
        .find(|f| f.tag == TAG_EXTENSIONS)
        .ok_or("no extensions")?;
    let oid = encode_oid(SCT_LIST_OID)?;
    for ext in children(read_single(wrapper.content, TAG_SEQUENCE, "list")?) {
        let mut parts = children(ext?.content);
        if parts
            .next()
            .transpose()?
            .is_some_and(|id| id.content == oid)
        {
            let value = parts.last().ok_or("no value")??;
            return Ok(value.content.to_vec());
        }
    }
    Err("no SCT list extension".into())
}

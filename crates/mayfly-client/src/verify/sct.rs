//! The embedded SCT (fulcio.md §2.4; rekor-bundle-npm.md §7.1 step 3, §7.2 step 2).
//!
//! sigstore-python demands exactly one embedded precertificate SCT; sigstore-js verifies every
//! SCT and needs one. We take the stricter rule. The SCT covers the leaf's TBS without the SCT
//! list and SHA-256 of the issuer's SPKI; it must verify under the `ctlogs` key with its log ID,
//! valid at the SCT's own timestamp.

use super::error::VerifyError;
use super::keys::verify_log_signature;
use mayfly_spec::ct::{
    PrecertEntry, SCT_LIST_OID, final_cert_signing_tbs, issuer_key_hash,
    parse_sct_list_extension_value,
};
use mayfly_spec::sigstore::trusted_root::{Log, find_log};
use x509_parser::certificate::X509Certificate;
use x509_parser::oid_registry::Oid;

fn err(m: impl Into<String>) -> VerifyError {
    VerifyError::Sct(m.into())
}

pub(crate) fn verify_embedded_sct(
    leaf_der: &[u8],
    leaf: &X509Certificate<'_>,
    issuer_spki_der: &[u8],
    ctlogs: &[Log],
) -> Result<(), VerifyError> {
    let oid = Oid::from(SCT_LIST_OID).map_err(|_| err("bad SCT list OID"))?;
    let mut found = leaf.extensions().iter().filter(|e| e.oid == oid);
    let ext = found
        .next()
        .ok_or_else(|| err("certificate has no embedded SCT list"))?;
    if found.next().is_some() {
        return Err(err("certificate has two SCT list extensions"));
    }
    let scts = parse_sct_list_extension_value(ext.value)
        .map_err(|e| err(format!("malformed SCT list: {e}")))?;
    let [sct] = scts.as_slice() else {
        return Err(err(format!(
            "expected exactly one SCT, found {}",
            scts.len()
        )));
    };
    let seconds =
        i64::try_from(sct.timestamp_ms / 1000).map_err(|_| err("timestamp out of range"))?;
    let log = find_log(ctlogs, &sct.log_id, seconds).ok_or_else(|| {
        err(format!(
            "unknown CT log {} (not in the trusted root, or its key was not valid at {seconds})",
            hex::encode(sct.log_id)
        ))
    })?;
    let tbs =
        final_cert_signing_tbs(leaf_der).map_err(|e| err(format!("cannot rebuild TBS: {e}")))?;
    let input = sct
        .signing_input(&PrecertEntry {
            issuer_key_hash: issuer_key_hash(issuer_spki_der),
            tbs: &tbs,
        })
        .map_err(|e| err(format!("cannot rebuild the signed data: {e}")))?;
    verify_log_signature(&log.key_details, &log.spki, &input, &sct.signature)
        .map_err(|why| err(format!("{why} under CT log {}", hex::encode(sct.log_id))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mayfly_spec::ct::{Sct, leaf_index_extension, sct_list_extension_value};
    use mayfly_spec::sigstore::trusted_root::Validity;
    use p256::ecdsa::signature::Signer as _;
    use p256::ecdsa::{DerSignature, SigningKey};
    use p256::pkcs8::EncodePublicKey as _;
    use rcgen::{
        CertificateParams, CustomExtension, Issuer, KeyPair, PublicKeyData as _, SerialNumber,
    };
    use sha2::{Digest as _, Sha256};
    use x509_parser::prelude::FromDer as _;

    type TestResult = Result<(), Box<dyn std::error::Error>>;
    /// The leaf's DER, its issuer's SPKI, the trusted CT logs.
    type Fixture = (Vec<u8>, Vec<u8>, Vec<Log>);

    /// A leaf issued by a CA with one embedded SCT carrying `extensions` (a static-ct-api log
    /// puts its leaf index there), signed by a CT log key listed in `ctlogs`.
    fn leaf_with_sct(extensions: Vec<u8>) -> Result<Fixture, Box<dyn std::error::Error>> {
        let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let ca_spki = ca_key.subject_public_key_info();
        let issuer = Issuer::new(CertificateParams::new(Vec::<String>::new())?, ca_key);
        let leaf_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let log_key = SigningKey::from_slice(&Sha256::digest(b"ct log"))?;
        let log_spki = log_key
            .verifying_key()
            .to_public_key_der()?
            .as_bytes()
            .to_vec();
        let log_id: [u8; 32] = Sha256::digest(&log_spki).into();
        let oid = [1u64, 3, 6, 1, 4, 1, 11129, 2, 4, 2];
        // Same parameters twice: the TBS minus the SCT list is the same in both certificates.
        let build = |sct_value: Vec<u8>| -> Result<Vec<u8>, rcgen::Error> {
            let mut params = CertificateParams::new(vec!["leaf.example".to_owned()])?;
            params.serial_number = Some(SerialNumber::from(vec![1, 2, 3]));
            params.custom_extensions = vec![CustomExtension::from_oid_content(&oid, sct_value)];
            Ok(params.signed_by(&leaf_key, &issuer)?.der().to_vec())
        };
        let mut sct = Sct {
            log_id,
            timestamp_ms: 1_700_000_000_000,
            extensions,
            signature: vec![0],
        };
        let draft = build(sct_list_extension_value(std::slice::from_ref(&sct))?)?;
        let input = sct.signing_input(&PrecertEntry {
            issuer_key_hash: issuer_key_hash(&ca_spki),
            tbs: &final_cert_signing_tbs(&draft)?,
        })?;
        let sig: DerSignature = log_key.sign(&input);
        sct.signature = sig.as_bytes().to_vec();
        let leaf = build(sct_list_extension_value(&[sct])?)?;
        let log = Log {
            base_url: "https://ct.example".into(),
            log_id,
            spki: log_spki,
            key_details: "PKIX_ECDSA_P256_SHA_256".into(),
            valid_for: Validity {
                start: 0,
                end: None,
            },
        };
        Ok((leaf, ca_spki, vec![log]))
    }

    #[test]
    fn scts_with_extensions_verify() -> TestResult {
        for extensions in [Vec::new(), leaf_index_extension(42)?] {
            let (leaf_der, ca_spki, logs) = leaf_with_sct(extensions)?;
            let (_, leaf) = X509Certificate::from_der(&leaf_der)?;
            assert_eq!(
                verify_embedded_sct(&leaf_der, &leaf, &ca_spki, &logs),
                Ok(())
            );
            // The extensions are signed: another CA key changes the input and fails.
            let other = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
            let err =
                verify_embedded_sct(&leaf_der, &leaf, &other.subject_public_key_info(), &logs)
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default();
            assert!(err.starts_with("SCT: signature does not verify"), "{err}");
        }
        Ok(())
    }

    #[test]
    fn tampered_sct_extensions_are_refused() -> TestResult {
        let (mut leaf_der, ca_spki, logs) = leaf_with_sct(leaf_index_extension(42)?)?;
        // The leaf index (42) is the last byte of the extension data inside the SCT.
        let needle = leaf_index_extension(42)?;
        let at = leaf_der
            .windows(needle.len())
            .position(|w| w == needle.as_slice())
            .ok_or("extension not found")?;
        leaf_der[at + needle.len() - 1] ^= 1;
        let (_, leaf) = X509Certificate::from_der(&leaf_der)?;
        assert!(matches!(
            verify_embedded_sct(&leaf_der, &leaf, &ca_spki, &logs),
            Err(VerifyError::Sct(_))
        ));
        Ok(())
    }
}

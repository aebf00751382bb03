//! Signature checks under a trusted-root log key (SETs and SCTs), dispatched on the key's
//! declared `keyDetails` rather than guessed from the key: a root that says P-256/SHA-256 gets
//! exactly that algorithm, so a key cannot be used with a hash its operator did not intend.

use super::error::VerifyError;
use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use mayfly_spec::pem;

/// Who signed the bundle: the key its signature must verify under and the key the logged body
/// must name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignerKey<'a> {
    /// A keyless signature: the leaf certificate's DER.
    Certificate(&'a [u8]),
    /// A managed key (`--key`): its DER SubjectPublicKeyInfo.
    PublicKey(&'a [u8]),
}

impl SignerKey<'_> {
    /// The PEM label and DER this signer is logged as.
    pub(crate) fn label_and_der(&self) -> (&'static str, &[u8]) {
        match self {
            Self::Certificate(der) => ("CERTIFICATE", der),
            Self::PublicKey(der) => ("PUBLIC KEY", der),
        }
    }

    pub(crate) fn pem(&self) -> String {
        let (label, der) = self.label_and_der();
        pem::encode(label, der)
    }
}

/// The DER SubjectPublicKeyInfo of a PEM `PUBLIC KEY` given by the user, checked to be a key
/// the signature verifier supports (so a bad file fails here, naming the file's problem). Read
/// as Go's `pem.Decode` reads it (cosign writes these files): any line length, text around it.
pub(crate) fn parse_public_key_pem(text: &[u8]) -> Result<Vec<u8>, VerifyError> {
    let der = match pem::decode_first(text) {
        Some((label, der)) if label == "PUBLIC KEY" => der,
        Some((label, _)) => {
            return Err(VerifyError::Key(format!(
                "not a PEM PUBLIC KEY (the block is {label:?})"
            )));
        }
        None => return Err(VerifyError::Key("not a PEM PUBLIC KEY".into())),
    };
    mayfly_spec::rekor::Verifier::from_pem(
        "public key",
        pem::encode("PUBLIC KEY", &der).as_bytes(),
    )
    .map_err(|e| VerifyError::Key(e.to_string()))?;
    Ok(der)
}

/// Checks `sig` over `msg` with the DER SPKI `spki` under the algorithm `key_details` names.
/// An unsupported `key_details` is an error (fail closed), not a skipped check.
pub(crate) fn verify_log_signature(
    key_details: &str,
    spki: &[u8],
    msg: &[u8],
    sig: &[u8],
) -> Result<(), String> {
    let alg: &'static dyn VerificationAlgorithm = match key_details {
        "PKIX_ECDSA_P256_SHA_256" => &signature::ECDSA_P256_SHA256_ASN1,
        "PKIX_ECDSA_P384_SHA_384" => &signature::ECDSA_P384_SHA384_ASN1,
        "PKIX_ECDSA_P521_SHA_512" => &signature::ECDSA_P521_SHA512_ASN1,
        "PKIX_ED25519" => &signature::ED25519,
        other => return Err(format!("unsupported log key type {other}")),
    };
    UnparsedPublicKey::new(alg, spki)
        .verify(msg, sig)
        .map_err(|_| "signature does not verify".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};

    #[test]
    fn checks_under_declared_algorithm_only() -> Result<(), Box<dyn std::error::Error>> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)?;
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref())?;
        let sig = key.sign(&rng, b"msg")?;
        let point = key.public_key().as_ref();
        assert!(
            verify_log_signature("PKIX_ECDSA_P256_SHA_256", point, b"msg", sig.as_ref()).is_ok()
        );
        assert!(
            verify_log_signature("PKIX_ECDSA_P256_SHA_256", point, b"msh", sig.as_ref()).is_err()
        );
        assert!(
            verify_log_signature("PKIX_ECDSA_P384_SHA_384", point, b"msg", sig.as_ref()).is_err()
        );
        assert!(verify_log_signature("PKIX_RSA_PKCS1V5", point, b"msg", sig.as_ref()).is_err());
        Ok(())
    }
}

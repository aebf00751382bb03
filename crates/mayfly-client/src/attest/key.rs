//! The ephemeral signing key: P-256, generated in memory for one attestation and dropped with
//! it. Keyless signing rests on the key never outliving the ten-minute certificate, so there is
//! deliberately no way to export or persist the private half.

use super::error::AttestError;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};

pub(super) struct EphemeralKey {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
    spki_der: Vec<u8>,
}

impl EphemeralKey {
    pub(super) fn generate() -> Result<Self, AttestError> {
        // `generate` keeps the private key inside aws-lc; no PKCS#8 bytes ever exist.
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING)
            .map_err(|_| AttestError::Key("P-256 key generation failed"))?;
        let spki_der = pair
            .public_key()
            .as_der()
            .map_err(|_| AttestError::Key("encoding the public key failed"))?
            .as_ref()
            .to_vec();
        Ok(EphemeralKey {
            pair,
            rng: SystemRandom::new(),
            spki_der,
        })
    }

    /// The public key as DER SubjectPublicKeyInfo.
    pub(super) fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The public key as a PEM `PUBLIC KEY` block (what Fulcio's `publicKey.content` takes).
    pub(super) fn public_pem(&self) -> String {
        mayfly_spec::pem::encode("PUBLIC KEY", &self.spki_der)
    }

    /// ECDSA P-256 with SHA-256 over `message`, DER-encoded (what Fulcio and DSSE verifiers
    /// expect).
    pub(super) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, AttestError> {
        self.pair
            .sign(&self.rng, message)
            .map(|sig| sig.as_ref().to_vec())
            .map_err(|_| AttestError::Key("signing failed"))
    }
}

//! The signer's key as a Rekor entry carries it: base64 of a PEM `CERTIFICATE` (what keyless
//! clients send: their Fulcio leaf) or a PEM `PUBLIC KEY` (keyed signers such as the npm
//! registry's publish attestations).
//!
//! Only the key is used: the certificate chain is not checked here (Rekor does not either;
//! verifiers check the chain against the trusted root at the log's integrated time).
//!
//! The key policy is the CA's own ([`SubjectKey`]): ECDSA P-256/384/521, RSA 2048/3072/4096 with
//! exponent 65537, Ed25519. Every certificate this service issues passes it, so nothing a client
//! of ours can produce is refused, and odd keys never reach the log.
//!
//! [`Verifier::canonical_pem`] is re-encoded from the parsed DER, never the client's text: Go's
//! `pem.Encode` layout, which is what Rekor stores and what sigstore-python rebuilds and
//! compares byte for byte (design.md §9).

use super::RekorError;
use crate::ca::subject_key::{KeyKind, SubjectKey};
use crate::keys::pem_block;
use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use x509_parser::prelude::{FromDer, X509Certificate};

/// The digest algorithms a hashedrekord entry may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlg {
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlg {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "sha256" => Some(Self::Sha256),
            "sha384" => Some(Self::Sha384),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    pub fn digest_len(self) -> usize {
        self.aws().output_len()
    }

    fn aws(self) -> &'static digest::Algorithm {
        match self {
            Self::Sha256 => &digest::SHA256,
            Self::Sha384 => &digest::SHA384,
            Self::Sha512 => &digest::SHA512,
        }
    }
}

/// A parsed, policy-checked signer key with its canonical PEM.
#[derive(Debug, Clone)]
pub struct Verifier {
    key: SubjectKey,
    canonical_pem: String,
}

impl Verifier {
    /// Parses the base64 of a PEM certificate or public key found at JSON path `field`.
    pub fn from_base64_pem(field: &str, b64: &str) -> Result<Self, RekorError> {
        let pem = super::decode_base64(field, b64)?;
        Self::from_pem(field, &pem)
    }

    pub fn from_pem(field: &str, pem: &[u8]) -> Result<Self, RekorError> {
        let bad = |problem: &str| RekorError::PublicKey {
            field: field.to_owned(),
            problem: problem.to_owned(),
        };
        let (rest, block) = x509_parser::pem::parse_x509_pem(pem)
            .map_err(|_| bad("not a PEM certificate or public key"))?;
        if !rest.iter().all(u8::is_ascii_whitespace) {
            return Err(bad(
                "more than one PEM block; send only the signing (leaf) certificate",
            ));
        }
        let key_error = |reason| RekorError::Key {
            field: field.to_owned(),
            reason,
        };
        match block.label.as_str() {
            "CERTIFICATE" => {
                let cert = match X509Certificate::from_der(&block.contents) {
                    Ok(([], cert)) => cert,
                    _ => {
                        return Err(bad(
                            "the PEM CERTIFICATE is not a well-formed X.509 certificate",
                        ));
                    }
                };
                let key = SubjectKey::from_pem_or_der(cert.tbs_certificate.subject_pki.raw)
                    .map_err(key_error)?;
                Ok(Verifier {
                    key,
                    canonical_pem: pem_block("CERTIFICATE", &block.contents),
                })
            }
            "PUBLIC KEY" => {
                let key = SubjectKey::from_pem_or_der(&block.contents).map_err(key_error)?;
                let canonical_pem = pem_block("PUBLIC KEY", key.spki_der());
                Ok(Verifier { key, canonical_pem })
            }
            other => Err(bad(&format!(
                "PEM block {other:?} is neither CERTIFICATE nor PUBLIC KEY"
            ))),
        }
    }

    /// The PEM to store in the canonical body (Go `pem.Encode` layout).
    pub fn canonical_pem(&self) -> &str {
        &self.canonical_pem
    }

    pub fn kind(&self) -> KeyKind {
        self.key.kind()
    }

    /// Checks a signature over a whole message (a DSSE PAE).
    ///
    /// Rekor verifies envelopes with SHA-256 whatever the curve (`LoadVerifier(key, SHA256)`);
    /// clients that pair P-384/P-521 with their natural hash (SHA-384/512) are accepted too.
    /// Either way the signature is a valid signature by this key over exactly this message.
    pub fn verify_message(&self, message: &[u8], sig: &[u8]) -> bool {
        let algorithms: &[&'static dyn VerificationAlgorithm] = match self.kind() {
            KeyKind::EcdsaP256 => &[&signature::ECDSA_P256_SHA256_ASN1],
            KeyKind::EcdsaP384 => &[
                &signature::ECDSA_P384_SHA256_ASN1,
                &signature::ECDSA_P384_SHA384_ASN1,
            ],
            KeyKind::EcdsaP521 => &[
                &signature::ECDSA_P521_SHA256_ASN1,
                &signature::ECDSA_P521_SHA512_ASN1,
            ],
            KeyKind::Rsa2048 | KeyKind::Rsa3072 | KeyKind::Rsa4096 => {
                &[&signature::RSA_PKCS1_2048_8192_SHA256]
            }
            KeyKind::Ed25519 => &[&signature::ED25519],
        };
        algorithms.iter().any(|alg| {
            UnparsedPublicKey::new(*alg, self.key.spki_der())
                .verify(message, sig)
                .is_ok()
        })
    }

    /// Checks a signature over a digest the client computed (hashedrekord). The digest length
    /// has been checked against `alg` by the caller.
    pub fn verify_prehashed(
        &self,
        alg: DigestAlg,
        digest_bytes: &[u8],
        sig: &[u8],
    ) -> Result<(), RekorError> {
        use DigestAlg::{Sha256, Sha384, Sha512};
        let algorithm: &'static dyn VerificationAlgorithm = match (self.kind(), alg) {
            (KeyKind::EcdsaP256, Sha256) => &signature::ECDSA_P256_SHA256_ASN1,
            (KeyKind::EcdsaP256, Sha384) => &signature::ECDSA_P256_SHA384_ASN1,
            (KeyKind::EcdsaP256, Sha512) => &signature::ECDSA_P256_SHA512_ASN1,
            (KeyKind::EcdsaP384, Sha256) => &signature::ECDSA_P384_SHA256_ASN1,
            (KeyKind::EcdsaP384, Sha384) => &signature::ECDSA_P384_SHA384_ASN1,
            (KeyKind::EcdsaP384, Sha512) => &signature::ECDSA_P384_SHA512_ASN1,
            (KeyKind::EcdsaP521, Sha256) => &signature::ECDSA_P521_SHA256_ASN1,
            (KeyKind::EcdsaP521, Sha384) => &signature::ECDSA_P521_SHA384_ASN1,
            (KeyKind::EcdsaP521, Sha512) => &signature::ECDSA_P521_SHA512_ASN1,
            (KeyKind::Rsa2048 | KeyKind::Rsa3072 | KeyKind::Rsa4096, Sha256) => {
                &signature::RSA_PKCS1_2048_8192_SHA256
            }
            (KeyKind::Rsa2048 | KeyKind::Rsa3072 | KeyKind::Rsa4096, Sha384) => {
                &signature::RSA_PKCS1_2048_8192_SHA384
            }
            (KeyKind::Rsa2048 | KeyKind::Rsa3072 | KeyKind::Rsa4096, Sha512) => {
                &signature::RSA_PKCS1_2048_8192_SHA512
            }
            (KeyKind::Ed25519, _) => {
                return Err(RekorError::Unsupported(
                    "hashedrekord needs a key that can verify a precomputed digest; Ed25519 \
                     signs whole messages (Ed25519ph is not supported): log Ed25519 signatures \
                     as a dsse entry instead"
                        .into(),
                ));
            }
        };
        let digest = digest::Digest::import_less_safe(digest_bytes, alg.aws()).map_err(|_| {
            RekorError::field(
                "spec.data.hash.value",
                "digest length does not match algorithm",
            )
        })?;
        UnparsedPublicKey::new(algorithm, self.key.spki_der())
            .verify_digest(&digest, sig)
            .map_err(|_| {
                RekorError::Signature(format!(
                    "verifying signature: the signature does not verify over the {} digest with \
                     the {} key in spec.signature.publicKey",
                    alg.name(),
                    self.kind()
                ))
            })
    }
}

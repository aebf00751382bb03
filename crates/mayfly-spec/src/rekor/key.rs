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
//! [`Verifier::canonical_pem_base64`] is the base64 of the PEM re-encoded from the parsed DER in
//! Go's `pem.Encode` layout, which is what Rekor stores and what sigstore-python rebuilds and
//! compares byte for byte (design.md §9). It is the client's text only when that text is
//! already exactly this (see [`Verifier::from_base64_pem`]).

use super::RekorError;
use crate::pem;
use crate::subject_key::{KeyKind, SubjectKey};
use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use x509_parser::certificate::X509CertificateParser;
use x509_parser::nom::Parser;

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

/// A parsed, policy-checked signer key with the base64 of its canonical PEM (the form every
/// body stores).
#[derive(Debug, Clone)]
pub struct Verifier {
    key: SubjectKey,
    canonical_pem_base64: String,
}

/// The PEM blocks a verifier may come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Certificate,
    PublicKey,
}

impl Block {
    fn label(self) -> &'static str {
        match self {
            Block::Certificate => "CERTIFICATE",
            Block::PublicKey => "PUBLIC KEY",
        }
    }
}

impl Verifier {
    /// Parses the base64 of a PEM certificate or public key found at JSON path `field`.
    ///
    /// Clients send the PEM in Go's layout (sigstore-js and sigstore-python both write it so),
    /// and then it is already the canonical PEM: `b64`, which decoded strictly, is the base64
    /// the body stores, and re-encoding the DER twice (to PEM, then to base64) would only give
    /// back the same text. For a certificate that holds whenever the layout is Go's, since the
    /// canonical PEM wraps the DER as sent; for a public key only if the DER also was already
    /// the canonical SPKI the key re-encodes to. Any other PEM takes [`Verifier::from_pem`],
    /// which also gives the same errors for the same DER.
    pub fn from_base64_pem(field: &str, b64: &str) -> Result<Self, RekorError> {
        let pem = super::decode_base64(field, b64)?;
        if let Some((block, der)) = go_layout_pem(&pem) {
            let key = subject_key(field, block, &der)?;
            if block == Block::Certificate || key.spki_der() == der {
                return Ok(Verifier {
                    key,
                    canonical_pem_base64: b64.to_owned(),
                });
            }
        }
        Self::from_pem(field, &pem)
    }

    pub fn from_pem(field: &str, pem: &[u8]) -> Result<Self, RekorError> {
        let (rest, read) = x509_parser::pem::parse_x509_pem(pem)
            .map_err(|_| bad_key(field, "not a PEM certificate or public key"))?;
        if !rest.iter().all(u8::is_ascii_whitespace) {
            return Err(bad_key(
                field,
                "more than one PEM block; send only the signing (leaf) certificate",
            ));
        }
        let block = match read.label.as_str() {
            "CERTIFICATE" => Block::Certificate,
            "PUBLIC KEY" => Block::PublicKey,
            other => {
                return Err(bad_key(
                    field,
                    &format!("PEM block {other:?} is neither CERTIFICATE nor PUBLIC KEY"),
                ));
            }
        };
        let der = &read.contents;
        let key = subject_key(field, block, der)?;
        let canonical_der = match block {
            Block::Certificate => der,
            Block::PublicKey => key.spki_der(),
        };
        let canonical_pem = pem::encode(block.label(), canonical_der);
        Ok(Verifier {
            key,
            canonical_pem_base64: super::encode_base64(canonical_pem.as_bytes()),
        })
    }

    /// A key from DER, as Rekor v2 requests carry it: a certificate (`certificate`) or a
    /// public key (SPKI), found at JSON path `field`.
    pub fn from_der(field: &str, certificate: bool, der: &[u8]) -> Result<Self, RekorError> {
        let block = match certificate {
            true => Block::Certificate,
            false => Block::PublicKey,
        };
        let key = subject_key(field, block, der)?;
        let canonical_der = match block {
            Block::Certificate => der,
            Block::PublicKey => key.spki_der(),
        };
        let canonical_pem = pem::encode(block.label(), canonical_der);
        Ok(Verifier {
            key,
            canonical_pem_base64: super::encode_base64(canonical_pem.as_bytes()),
        })
    }

    /// The base64 of the canonical PEM (Go `pem.Encode` layout), as bodies store it.
    pub fn canonical_pem_base64(&self) -> &str {
        &self.canonical_pem_base64
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

fn bad_key(field: &str, problem: &str) -> RekorError {
    RekorError::PublicKey {
        field: field.to_owned(),
        problem: problem.to_owned(),
    }
}

/// The signer's key from the DER of a PEM block, under the CA's key policy.
///
/// Only the certificate's SPKI is used, so its extensions are not parsed deeply: x509-parser
/// turns a malformed extension value into `ParsedExtension::ParseError` rather than failing the
/// certificate, so deep parsing decides nothing here and costs a parse of every extension
/// (Fulcio certificates carry a dozen).
fn subject_key(field: &str, block: Block, der: &[u8]) -> Result<SubjectKey, RekorError> {
    let key_error = |reason| RekorError::Key {
        field: field.to_owned(),
        reason,
    };
    match block {
        Block::Certificate => {
            let mut parser = X509CertificateParser::new().with_deep_parse_extensions(false);
            let cert = match parser.parse(der) {
                Ok(([], cert)) => cert,
                _ => {
                    return Err(bad_key(
                        field,
                        "the PEM CERTIFICATE is not a well-formed X.509 certificate",
                    ));
                }
            };
            SubjectKey::from_pem_or_der(cert.tbs_certificate.subject_pki.raw).map_err(key_error)
        }
        Block::PublicKey => SubjectKey::from_pem_or_der(der).map_err(key_error),
    }
}

/// The block and DER of a PEM in exactly Go's `pem.Encode` layout (the header line, the
/// base64 in 64-column lines, each ending in `\n`, the footer line, nothing else) whose base64
/// is canonical; `None` for any other PEM. What x509-parser reads from such a PEM is the same
/// block and DER.
fn go_layout_pem(pem: &[u8]) -> Option<(Block, Vec<u8>)> {
    [Block::Certificate, Block::PublicKey]
        .into_iter()
        .find_map(|block| Some((block, pem::go_layout(pem, block.label())?)))
}

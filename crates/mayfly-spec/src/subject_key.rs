//! The client's public key in a signing-certificate request: parsing, key policy and proof of
//! possession, with Fulcio's behaviour and error messages (fulcio.md §1.2–1.4, §1.6).
//!
//! A request carries the key in one of two ways:
//! - **A bare public key** ([`SubjectKey::from_pem_or_der`]): a PEM `PUBLIC KEY` (SPKI) block, a
//!   PEM `RSA PUBLIC KEY` (PKCS#1) block, or raw DER SPKI — PEM is tried first, then DER, as
//!   Fulcio's `challenges.ParsePublicKey` does. The proof of possession is then a signature over
//!   the UTF-8 bytes of the token's challenge claim ([`SubjectKey::verify_possession`]).
//! - **A PKCS#10 CSR** ([`SubjectKey::from_csr`]), PEM or DER. Only its public key is used; its
//!   self-signature is the proof of possession. Subject, attributes and requested extensions are
//!   ignored, as in Fulcio.
//!
//! # Key policy
//! Fulcio's `cryptoutils.ValidatePubKey` (Boulder's `goodkey` for RSA) followed by its default
//! `--client-signing-algorithms` allow-list admits exactly the [`KeyKind`]s:
//! - ECDSA on P-256, P-384 or P-521 (named curve, uncompressed point on the curve);
//! - RSA with a modulus of exactly 2048, 3072 or 4096 bits, public exponent exactly 65537
//!   (goodkey's rule), and no prime factor below 752 (goodkey's small-prime check). Goodkey's
//!   Fermat-factorisation and ROCA checks are **not** reproduced;
//! - Ed25519.
//!
//! A well-formed SPKI for anything else (RSA-1024, secp256k1, X25519, Ed448, DSA, …) is
//! "insecure". Go's parser cannot even read some of those (e.g. secp256k1), so Fulcio calls them
//! "could not be parsed"; both are 400s, and "insecure" tells the client more.
//!
//! # Signature algorithms
//! Each kind has exactly one permitted signature scheme, used for both proofs of possession:
//! ECDSA P-256/SHA-256, P-384/SHA-384, P-521/SHA-512 (ASN.1 DER signatures), RSA PKCS#1 v1.5
//! with SHA-256, and pure Ed25519. A CSR signed with any other scheme (SHA-1, RSA-PSS, P-256 with
//! SHA-384, …) is refused as "signing algorithm not permitted". We check that *before* verifying
//! the signature, so a CSR that is both badly signed and signed with a refused scheme gets the
//! "not permitted" message where Fulcio (which verifies first) would say the signature is bad.
//!
//! # The SPKI put in the certificate
//! [`SubjectKey::spki_der`] is a canonical DER re-encoding built from the validated key, not the
//! client's bytes: Go's `x509.CreateCertificate` re-marshals the parsed key as well, so this
//! matches Fulcio byte for byte, and a lenient or odd input encoding can never reach a
//! certificate.

use std::fmt;

use aws_lc_rs::signature::{self, ParsedPublicKey, UnparsedPublicKey, VerificationAlgorithm};
use x509_parser::asn1_rs::Tag;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_NIST_EC_P521,
    OID_PKCS1_RSAENCRYPTION, OID_PKCS1_SHA256WITHRSA, OID_SIG_ECDSA_WITH_SHA256,
    OID_SIG_ECDSA_WITH_SHA384, OID_SIG_ECDSA_WITH_SHA512, OID_SIG_ED25519, Oid,
};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::RSAPublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::der::{TAG_BIT_STRING, TAG_SEQUENCE, push_tlv};

/// Inputs longer than this are refused unparsed. The largest legitimate input, a PEM CSR for an
/// RSA-4096 key, is under 2 KiB; the cap bounds the work an unauthenticated byte string can cause.
pub const MAX_INPUT_LEN: usize = 16 * 1024;

/// Why a client key or CSR was refused. The messages are Fulcio's sentences, because they say
/// exactly what is wrong; the Rekor entry errors carry them too. The HTTP layer picks its own
/// wire text per variant and never depends on `Display`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectKeyError {
    /// Neither PEM nor DER SPKI, malformed key material, a point off the curve, or too long.
    #[error("The public key supplied in the request could not be parsed")]
    Unparseable,
    /// A well-formed key that the key policy refuses.
    #[error("The public key supplied in the request is insecure")]
    Insecure,
    /// The CSR is not a well-formed PKCS#10 request (PEM or DER), or its key is malformed.
    #[error("The certificate signing request could not be parsed")]
    CsrUnparseable,
    /// The proof of possession (or the CSR self-signature) does not verify.
    #[error("The signature supplied in the request could not be verified")]
    BadSignature,
    /// The proof of possession verifies, but with a hash the key's one scheme does not use.
    #[error(
        "The signature supplied in the request could not be verified: it was made with {used}, \
         but {key} keys must sign with {required}"
    )]
    WrongHash {
        key: &'static str,
        used: &'static str,
        required: &'static str,
    },
    /// The (key, signature algorithm) pair is not on the allow-list; the text names both.
    #[error("signing algorithm not permitted: {0}")]
    NotPermitted(String),
}

/// The kinds of client key the policy admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    EcdsaP256,
    EcdsaP384,
    EcdsaP521,
    Rsa2048,
    Rsa3072,
    Rsa4096,
    Ed25519,
}

impl KeyKind {
    /// The one signature scheme permitted for this kind of key (Fulcio's default
    /// `--client-signing-algorithms`), for both a proof of possession and a CSR.
    fn verification_algorithm(self) -> &'static dyn VerificationAlgorithm {
        match self {
            Self::EcdsaP256 => &signature::ECDSA_P256_SHA256_ASN1,
            Self::EcdsaP384 => &signature::ECDSA_P384_SHA384_ASN1,
            Self::EcdsaP521 => &signature::ECDSA_P521_SHA512_ASN1,
            Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Self::Ed25519 => &signature::ED25519,
        }
    }

    /// The same curve with the other SHA-2 hashes clients mix up (P-384 signed with SHA-256,
    /// say); never accepted, only used to explain a refusal.
    fn other_hashes(self) -> &'static [(&'static str, &'static dyn VerificationAlgorithm)] {
        match self {
            Self::EcdsaP256 => &[
                ("SHA-384", &signature::ECDSA_P256_SHA384_ASN1),
                ("SHA-512", &signature::ECDSA_P256_SHA512_ASN1),
            ],
            Self::EcdsaP384 => &[
                ("SHA-256", &signature::ECDSA_P384_SHA256_ASN1),
                ("SHA-512", &signature::ECDSA_P384_SHA512_ASN1),
            ],
            Self::EcdsaP521 => &[
                ("SHA-256", &signature::ECDSA_P521_SHA256_ASN1),
                ("SHA-384", &signature::ECDSA_P521_SHA384_ASN1),
            ],
            Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096 => &[
                ("SHA-384", &signature::RSA_PKCS1_2048_8192_SHA384),
                ("SHA-512", &signature::RSA_PKCS1_2048_8192_SHA512),
            ],
            Self::Ed25519 => &[],
        }
    }

    /// A short name for messages.
    fn name(self) -> &'static str {
        match self {
            Self::EcdsaP256 => "P-256",
            Self::EcdsaP384 => "P-384",
            Self::EcdsaP521 => "P-521",
            Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096 => "RSA",
            Self::Ed25519 => "Ed25519",
        }
    }

    /// The hash of the kind's one scheme.
    fn hash_name(self) -> &'static str {
        match self {
            Self::EcdsaP256 | Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096 => "SHA-256",
            Self::EcdsaP384 => "SHA-384",
            Self::EcdsaP521 => "SHA-512",
            Self::Ed25519 => "Ed25519's own hash",
        }
    }

    /// The CSR `signatureAlgorithm` OID of that scheme.
    fn csr_signature_oid(self) -> Oid<'static> {
        match self {
            Self::EcdsaP256 => OID_SIG_ECDSA_WITH_SHA256,
            Self::EcdsaP384 => OID_SIG_ECDSA_WITH_SHA384,
            Self::EcdsaP521 => OID_SIG_ECDSA_WITH_SHA512,
            Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096 => OID_PKCS1_SHA256WITHRSA,
            Self::Ed25519 => OID_SIG_ED25519,
        }
    }

    /// The DER contents of the SPKI `AlgorithmIdentifier` SEQUENCE, exactly as Go's
    /// `x509.MarshalPKIXPublicKey` writes them (RSA with explicit NULL parameters, EC with the
    /// named-curve OID, Ed25519 with no parameters).
    fn spki_algorithm_contents(self) -> &'static [u8] {
        match self {
            // id-ecPublicKey, prime256v1
            Self::EcdsaP256 => &[
                0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
                0xce, 0x3d, 0x03, 0x01, 0x07,
            ],
            // id-ecPublicKey, secp384r1
            Self::EcdsaP384 => &[
                0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b, 0x81, 0x04,
                0x00, 0x22,
            ],
            // id-ecPublicKey, secp521r1
            Self::EcdsaP521 => &[
                0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b, 0x81, 0x04,
                0x00, 0x23,
            ],
            // rsaEncryption, NULL
            Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096 => &[
                0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
            ],
            // id-Ed25519
            Self::Ed25519 => &[0x06, 0x03, 0x2b, 0x65, 0x70],
        }
    }

    /// Length of an uncompressed SEC1 point (`04 || X || Y`) on the curve; `None` for non-EC.
    fn ec_point_len(self) -> Option<usize> {
        match self {
            Self::EcdsaP256 => Some(1 + 2 * 32),
            Self::EcdsaP384 => Some(1 + 2 * 48),
            Self::EcdsaP521 => Some(1 + 2 * 66),
            _ => None,
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::EcdsaP256 => "ECDSA P-256",
            Self::EcdsaP384 => "ECDSA P-384",
            Self::EcdsaP521 => "ECDSA P-521",
            Self::Rsa2048 => "RSA-2048",
            Self::Rsa3072 => "RSA-3072",
            Self::Rsa4096 => "RSA-4096",
            Self::Ed25519 => "Ed25519",
        })
    }
}

/// A client public key that has passed the key policy.
///
/// Invariant: `public_key` is accepted by aws-lc-rs for `kind.verification_algorithm()` (for EC
/// that means the point is on the curve), and `spki_der` is the canonical SPKI wrapping it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectKey {
    kind: KeyKind,
    /// The SPKI BIT STRING contents: SEC1 point, PKCS#1 `RSAPublicKey` DER, or 32 Ed25519 bytes.
    public_key: Vec<u8>,
    spki_der: Vec<u8>,
}

impl SubjectKey {
    /// Parses a public key given as PEM (`PUBLIC KEY` or `RSA PUBLIC KEY`) or as DER SPKI and
    /// applies the key policy. For the v2 API pass the `content` string's bytes; for v1, the
    /// base64-decoded bytes.
    pub fn from_pem_or_der(bytes: &[u8]) -> Result<Self, SubjectKeyError> {
        if bytes.is_empty() || bytes.len() > MAX_INPUT_LEN {
            return Err(SubjectKeyError::Unparseable);
        }
        let from_pem = match decode_pem(bytes) {
            Some((label, der)) if label == "PUBLIC KEY" => Self::from_spki_der(&der),
            Some((label, der)) if label == "RSA PUBLIC KEY" => Self::from_pkcs1_der(&der),
            _ => Err(SubjectKeyError::Unparseable),
        };
        // Like Fulcio, anything that is not a usable PEM key gets a second chance as DER.
        match from_pem {
            Err(SubjectKeyError::Unparseable) => Self::from_spki_der(bytes),
            other => other,
        }
    }

    /// Parses a PKCS#10 CSR (PEM `CERTIFICATE REQUEST` / `NEW CERTIFICATE REQUEST`, or DER),
    /// applies the key policy and the algorithm allow-list, and verifies the self-signature.
    pub fn from_csr(pem_or_der: &[u8]) -> Result<Self, SubjectKeyError> {
        if pem_or_der.is_empty() || pem_or_der.len() > MAX_INPUT_LEN {
            return Err(SubjectKeyError::CsrUnparseable);
        }
        let der = match decode_pem(pem_or_der) {
            Some((label, der))
                if label == "CERTIFICATE REQUEST" || label == "NEW CERTIFICATE REQUEST" =>
            {
                der
            }
            Some(_) => return Err(SubjectKeyError::CsrUnparseable),
            None => pem_or_der.to_vec(),
        };
        let csr = match X509CertificationRequest::from_der(&der) {
            Ok(([], csr)) => csr,
            _ => return Err(SubjectKeyError::CsrUnparseable),
        };

        // A malformed key makes the whole CSR malformed (Go fails CSR parsing there too).
        let key =
            Self::from_spki(&csr.certification_request_info.subject_pki).map_err(|e| match e {
                SubjectKeyError::Unparseable => SubjectKeyError::CsrUnparseable,
                other => other,
            })?;

        let sig_alg = &csr.signature_algorithm;
        // RFC 8410: Ed25519 AlgorithmIdentifiers carry no parameters (Go enforces this too).
        let ed25519_with_params = key.kind == KeyKind::Ed25519 && sig_alg.parameters.is_some();
        if sig_alg.algorithm != key.kind.csr_signature_oid() || ed25519_with_params {
            return Err(SubjectKeyError::NotPermitted(format!(
                "{} key with {} signature",
                key.kind,
                signature_algorithm_name(&sig_alg.algorithm)
            )));
        }

        // Every permitted scheme produces whole-byte signatures.
        if csr.signature_value.unused_bits != 0 {
            return Err(SubjectKeyError::BadSignature);
        }
        key.verify(
            csr.certification_request_info.raw,
            &csr.signature_value.data,
        )?;
        Ok(key)
    }

    /// Checks a proof of possession: `signature` over the UTF-8 bytes of the challenge claim
    /// (the token's `email` or `sub`, chosen by the caller), with the kind's permitted scheme.
    ///
    /// When it does not verify, the key's other common hashes are tried (at most two more
    /// verifications, only on this failure path) to tell the client which hash to use.
    pub fn verify_possession(
        &self,
        challenge: &[u8],
        signature: &[u8],
    ) -> Result<(), SubjectKeyError> {
        self.verify(challenge, signature).map_err(|e| {
            self.kind
                .other_hashes()
                .iter()
                .find(|(_, alg)| {
                    UnparsedPublicKey::new(*alg, &self.public_key)
                        .verify(challenge, signature)
                        .is_ok()
                })
                .map_or(e, |(used, _)| SubjectKeyError::WrongHash {
                    key: self.kind.name(),
                    used,
                    required: self.kind.hash_name(),
                })
        })
    }

    /// The kind of key, which also fixes its signature scheme.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The canonical DER `SubjectPublicKeyInfo` to embed in the issued certificate (re-encoded
    /// from the validated key, identical to what Go would marshal; see the module docs).
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), SubjectKeyError> {
        UnparsedPublicKey::new(self.kind.verification_algorithm(), &self.public_key)
            .verify(message, signature)
            .map_err(|_| SubjectKeyError::BadSignature)
    }

    /// A complete DER SPKI with nothing after it (Go rejects trailing data).
    fn from_spki_der(der: &[u8]) -> Result<Self, SubjectKeyError> {
        match SubjectPublicKeyInfo::from_der(der) {
            Ok(([], spki)) => Self::from_spki(&spki),
            _ => Err(SubjectKeyError::Unparseable),
        }
    }

    fn from_spki(spki: &SubjectPublicKeyInfo<'_>) -> Result<Self, SubjectKeyError> {
        let algorithm = &spki.algorithm.algorithm;
        let params = spki.algorithm.parameters.as_ref();
        // All admitted key encodings are whole bytes.
        if spki.subject_public_key.unused_bits != 0 {
            return Err(SubjectKeyError::Unparseable);
        }
        let key_bytes: &[u8] = &spki.subject_public_key.data;

        if *algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
            // Only named curves; explicit curve parameters are not parseable (as in Go).
            let curve = params
                .and_then(|p| p.as_oid().ok())
                .ok_or(SubjectKeyError::Unparseable)?;
            let kind = if curve == OID_EC_P256 {
                KeyKind::EcdsaP256
            } else if curve == OID_NIST_EC_P384 {
                KeyKind::EcdsaP384
            } else if curve == OID_NIST_EC_P521 {
                KeyKind::EcdsaP521
            } else {
                return Err(SubjectKeyError::Insecure);
            };
            // Go accepts uncompressed points only; checking the exact form here also stops
            // aws-lc-rs from accepting a nested SPKI in place of the point.
            let uncompressed =
                key_bytes.first() == Some(&0x04) && Some(key_bytes.len()) == kind.ec_point_len();
            if !uncompressed {
                return Err(SubjectKeyError::Unparseable);
            }
            Self::new(kind, key_bytes.to_vec())
        } else if *algorithm == OID_PKCS1_RSAENCRYPTION {
            // RFC 3279 (and Go) require the parameters to be an explicit NULL.
            let null_params =
                params.is_some_and(|p| p.header.tag() == Tag::Null && p.data.is_empty());
            if !null_params {
                return Err(SubjectKeyError::Unparseable);
            }
            Self::from_pkcs1_der(key_bytes)
        } else if *algorithm == OID_SIG_ED25519 {
            // RFC 8410: no parameters; the key is exactly 32 bytes.
            if params.is_some() || key_bytes.len() != 32 {
                return Err(SubjectKeyError::Unparseable);
            }
            Self::new(KeyKind::Ed25519, key_bytes.to_vec())
        } else {
            Err(SubjectKeyError::Insecure)
        }
    }

    /// A PKCS#1 `RSAPublicKey` (the rsaEncryption BIT STRING contents, or a PEM
    /// `RSA PUBLIC KEY` block), checked against goodkey's RSA rules.
    fn from_pkcs1_der(der: &[u8]) -> Result<Self, SubjectKeyError> {
        let rsa = match RSAPublicKey::from_der(der) {
            Ok(([], rsa)) => rsa,
            _ => return Err(SubjectKeyError::Unparseable),
        };
        let modulus = positive_magnitude(rsa.modulus).ok_or(SubjectKeyError::Unparseable)?;
        let exponent = positive_magnitude(rsa.exponent).ok_or(SubjectKeyError::Unparseable)?;

        let kind = match bit_length(modulus) {
            2048 => KeyKind::Rsa2048,
            3072 => KeyKind::Rsa3072,
            4096 => KeyKind::Rsa4096,
            _ => return Err(SubjectKeyError::Insecure),
        };
        if exponent != [0x01, 0x00, 0x01] || has_small_prime_factor(modulus) {
            return Err(SubjectKeyError::Insecure);
        }

        // Re-encode so that the certificate carries minimal INTEGERs whatever the input had.
        let mut fields = Vec::with_capacity(modulus.len() + 16);
        push_unsigned_integer(&mut fields, modulus);
        push_unsigned_integer(&mut fields, exponent);
        let mut pkcs1 = Vec::with_capacity(fields.len() + 4);
        push_tlv(&mut pkcs1, TAG_SEQUENCE, &fields);
        Self::new(kind, pkcs1)
    }

    /// Final check with aws-lc-rs (EC point on the curve, RSA key usable) and SPKI assembly.
    fn new(kind: KeyKind, public_key: Vec<u8>) -> Result<Self, SubjectKeyError> {
        ParsedPublicKey::new(kind.verification_algorithm(), &public_key)
            .map_err(|_| SubjectKeyError::Unparseable)?;

        let mut bit_string = Vec::with_capacity(public_key.len() + 1);
        bit_string.push(0); // no unused bits
        bit_string.extend_from_slice(&public_key);
        let mut body = Vec::with_capacity(bit_string.len() + 32);
        push_tlv(&mut body, TAG_SEQUENCE, kind.spki_algorithm_contents());
        push_tlv(&mut body, TAG_BIT_STRING, &bit_string);
        let mut spki_der = Vec::with_capacity(body.len() + 4);
        push_tlv(&mut spki_der, TAG_SEQUENCE, &body);

        Ok(Self {
            kind,
            public_key,
            spki_der,
        })
    }
}

/// The label and decoded contents of the first PEM block in `bytes`, if there is one.
fn decode_pem(bytes: &[u8]) -> Option<(String, Vec<u8>)> {
    crate::pem::decode_first(bytes)
}

/// A readable name for a signature-algorithm OID in "not permitted" messages.
fn signature_algorithm_name(oid: &Oid<'_>) -> String {
    x509_parser::objects::oid2sn(oid, x509_parser::objects::oid_registry())
        .map(str::to_owned)
        .unwrap_or_else(|_| oid.to_id_string())
}

const TAG_INTEGER: u8 = 0x02;

/// Appends a DER INTEGER for the unsigned big-endian `magnitude` (which has no leading zeros).
fn push_unsigned_integer(out: &mut Vec<u8>, magnitude: &[u8]) {
    let mut contents = Vec::with_capacity(magnitude.len() + 1);
    // A set top bit would read as negative: prefix a zero byte. Zero itself is one 0x00 byte.
    if magnitude.first().is_none_or(|&b| b & 0x80 != 0) {
        contents.push(0);
    }
    contents.extend_from_slice(magnitude);
    push_tlv(out, TAG_INTEGER, &contents);
}

/// The magnitude (leading zero bytes removed) of a DER INTEGER's contents, if it is positive.
fn positive_magnitude(integer: &[u8]) -> Option<&[u8]> {
    if integer.first().is_none_or(|&b| b & 0x80 != 0) {
        return None; // empty or negative
    }
    let start = integer.iter().position(|&b| b != 0)?; // `None` for zero
    integer.get(start..)
}

/// Bit length of a big-endian magnitude without leading zero bytes.
fn bit_length(magnitude: &[u8]) -> usize {
    match magnitude.first() {
        Some(&top) => magnitude.len() * 8 - top.leading_zeros() as usize,
        None => 0,
    }
}

/// Boulder's goodkey refuses RSA moduli with a prime factor below this bound.
const SMALL_PRIME_BOUND: u32 = 752;

/// Whether the big-endian `modulus` is divisible by a prime below [`SMALL_PRIME_BOUND`]
/// (this includes 2, i.e. an even modulus).
fn has_small_prime_factor(modulus: &[u8]) -> bool {
    let is_prime = |n: u32| {
        (2..n)
            .take_while(|d| d * d <= n)
            .all(|d| !n.is_multiple_of(d))
    };
    (2..SMALL_PRIME_BOUND).filter(|&p| is_prime(p)).any(|p| {
        // Horner's rule mod p; the accumulator stays below 752 * 256 + 256.
        modulus
            .iter()
            .fold(0u32, |rem, &byte| (rem * 256 + u32::from(byte)) % p)
            == 0
    })
}

#[cfg(test)]
mod tests;

//! CA signing keys behind one narrow trait, so an HSM backend can replace the software key
//! without the certificate code noticing.
//!
//! Backends today:
//! - **file**: a PKCS#8 PEM file. With a passphrase it is an `ENCRYPTED PRIVATE KEY` (PBES2:
//!   scrypt + AES-256-CBC), readable by `openssl pkey -passin`; without one it is a plain
//!   owner-only `PRIVATE KEY`, as the log keys are, and startup says so.
//! - **ephemeral**: generated in memory at start and never written; for tests and demos only,
//!   since every restart makes a new CA that no verifier trusts yet.
//!
//! CA keys are ECDSA P-256 with SHA-256: the same scheme as the log keys, the one every Sigstore
//! client verifies, and the cheapest of the allowed signatures (two of them per issuance).
//! Private key material never reaches `Debug`, `Display` or an error message.

use crate::log::key::{KeyError, write_private_file};
use pkcs8::der::Decode;
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256, PublicKeyData, SignatureAlgorithm, SigningKey};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

/// What signs certificates. Implementations must be usable from many requests at once.
pub trait CaSigner: Send + Sync {
    /// The signature algorithm, which also names the key type written into certificates.
    fn algorithm(&self) -> &'static SignatureAlgorithm;
    /// The public key as the contents of the SPKI BIT STRING.
    fn public_key_raw(&self) -> &[u8];
    /// Signs `message` (hashing it as [`CaSigner::algorithm`] says); DER ECDSA signature.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError>;
    /// A short name for logs and metrics: `file`, `ephemeral`, …
    fn backend(&self) -> &'static str;
}

#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    #[error("the CA key could not sign: {0}")]
    Sign(String),
    #[error("CA key file {path} could not be decrypted: wrong passphrase or not a PKCS#8 key")]
    Decrypt { path: PathBuf },
    #[error(
        "CA key file {path} is encrypted; give its passphrase with MAYFLY_CA_PASSPHRASE or --ca-passphrase-file"
    )]
    PassphraseNeeded { path: PathBuf },
    #[error("CA key file {path} is not an ECDSA P-256 PKCS#8 PEM key")]
    Malformed { path: PathBuf },
    #[error("cannot encrypt the CA key: {0}")]
    Encrypt(String),
    #[error(transparent)]
    File(#[from] KeyError),
}

/// A passphrase protecting CA key files. Zeroed on drop and never printed.
#[derive(Clone)]
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    /// Takes the passphrase as typed; a trailing newline from a file is not part of it.
    pub fn new(text: &str) -> Option<Self> {
        let trimmed = text.trim_end_matches(['\r', '\n']);
        (!trimmed.is_empty()).then(|| Passphrase(Zeroizing::new(trimmed.to_owned())))
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(..)")
    }
}

/// An ECDSA P-256 key held in process memory (aws-lc), from a file or freshly generated.
pub(crate) struct SoftwareKey {
    key: KeyPair,
    backend: &'static str,
}

const PLAIN_LABEL: &str = "PRIVATE KEY";
const ENCRYPTED_LABEL: &str = "ENCRYPTED PRIVATE KEY";

impl SoftwareKey {
    /// A new key for the ephemeral backend: lives as long as the process.
    pub(crate) fn ephemeral() -> Result<Self, SignerError> {
        Ok(SoftwareKey {
            key: generate()?,
            backend: "ephemeral",
        })
    }

    /// Generates a key and writes it to a new owner-only file (encrypted when a passphrase is
    /// given). Never overwrites an existing file.
    pub(crate) fn create_file(
        path: &Path,
        passphrase: Option<&Passphrase>,
    ) -> Result<Self, SignerError> {
        let key = generate()?;
        let pkcs8 = Zeroizing::new(key.serialize_der());
        let pem = match passphrase {
            None => Zeroizing::new(mayfly_spec::pem::encode(PLAIN_LABEL, &pkcs8)),
            Some(passphrase) => {
                let info = pkcs8::PrivateKeyInfoRef::from_der(&pkcs8)
                    .map_err(|e| SignerError::Encrypt(e.to_string()))?;
                let encrypted = info
                    .encrypt(passphrase.bytes())
                    .map_err(|e| SignerError::Encrypt(e.to_string()))?;
                Zeroizing::new(mayfly_spec::pem::encode(
                    ENCRYPTED_LABEL,
                    encrypted.as_bytes(),
                ))
            }
        };
        write_private_file(path, pem.as_bytes())?;
        Ok(SoftwareKey {
            key,
            backend: "file",
        })
    }

    /// Loads a key written by [`SoftwareKey::create_file`], or any P-256 PKCS#8 PEM key
    /// (`openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`, optionally with
    /// `-aes-256-cbc`).
    pub(crate) fn open_file(
        path: &Path,
        passphrase: Option<&Passphrase>,
    ) -> Result<Self, SignerError> {
        let text =
            Zeroizing::new(
                std::fs::read_to_string(path).map_err(|source| KeyError::Io {
                    path: path.to_owned(),
                    source,
                })?,
            );
        let malformed = || SignerError::Malformed {
            path: path.to_owned(),
        };
        let (label, der) = mayfly_spec::pem::decode(text.as_bytes()).map_err(|_| malformed())?;
        let der = Zeroizing::new(der);
        let pkcs8 = match label.as_str() {
            PLAIN_LABEL => der,
            ENCRYPTED_LABEL => {
                let passphrase = passphrase.ok_or_else(|| SignerError::PassphraseNeeded {
                    path: path.to_owned(),
                })?;
                let decrypt_failed = || SignerError::Decrypt {
                    path: path.to_owned(),
                };
                let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(&der)
                    .map_err(|_| decrypt_failed())?;
                let plain = info
                    .decrypt(passphrase.bytes())
                    .map_err(|_| decrypt_failed())?;
                Zeroizing::new(plain.as_bytes().to_vec())
            }
            _ => return Err(malformed()),
        };
        let key = KeyPair::from_pkcs8_der_and_sign_algo(
            &pkcs8.as_slice().into(),
            &PKCS_ECDSA_P256_SHA256,
        )
        .map_err(|_| malformed())?;
        Ok(SoftwareKey {
            key,
            backend: "file",
        })
    }
}

fn generate() -> Result<KeyPair, SignerError> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| SignerError::Sign(e.to_string()))
}

impl CaSigner for SoftwareKey {
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.key.algorithm()
    }
    fn public_key_raw(&self) -> &[u8] {
        self.key.der_bytes()
    }
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        SigningKey::sign(&self.key, message).map_err(|e| SignerError::Sign(e.to_string()))
    }
    fn backend(&self) -> &'static str {
        self.backend
    }
}

/// A key in an HSM signs certificates the same way: the token hashes nothing, Mayfly hashes
/// with SHA-256 and the token signs the digest (see [`crate::hsm`]).
impl CaSigner for crate::hsm::Pkcs11Key {
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &PKCS_ECDSA_P256_SHA256
    }
    fn public_key_raw(&self) -> &[u8] {
        crate::hsm::Pkcs11Key::public_key_raw(self)
    }
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        crate::hsm::Pkcs11Key::sign(self, message).map_err(|e| SignerError::Sign(e.to_string()))
    }
    fn backend(&self) -> &'static str {
        "pkcs11"
    }
}

impl fmt::Debug for SoftwareKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareKey")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// Lets rcgen sign with any [`CaSigner`].
pub(crate) struct RcgenSigner(pub Arc<dyn CaSigner>);

impl PublicKeyData for RcgenSigner {
    fn der_bytes(&self) -> &[u8] {
        self.0.public_key_raw()
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.0.algorithm()
    }
}

impl SigningKey for RcgenSigner {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        // rcgen's error type has no variant for a remote signer's failure, and its message
        // would be lost anyway; the signer logs nothing secret, so record it here.
        self.0.sign(msg).map_err(|e| {
            tracing::error!(error = %e, backend = self.0.backend(), "CA signing failed");
            rcgen::Error::RemoteKeyError
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifies(key: &dyn CaSigner, message: &[u8], signature: &[u8]) -> bool {
        aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
            key.public_key_raw(),
        )
        .verify(message, signature)
        .is_ok()
    }

    #[test]
    fn encrypted_key_round_trips_and_needs_the_right_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.key.pem");
        let pass = Passphrase::new("correct horse\n").unwrap();
        let created = SoftwareKey::create_file(&path, Some(&pass)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        let opened = SoftwareKey::open_file(&path, Some(&pass)).unwrap();
        assert_eq!(opened.public_key_raw(), created.public_key_raw());
        let signature = opened.sign(b"tbs").unwrap();
        assert!(verifies(&created, b"tbs", &signature));
        assert!(!verifies(&created, b"tbs!", &signature));

        let wrong = Passphrase::new("incorrect horse").unwrap();
        assert!(matches!(
            SoftwareKey::open_file(&path, Some(&wrong)),
            Err(SignerError::Decrypt { .. })
        ));
        assert!(matches!(
            SoftwareKey::open_file(&path, None),
            Err(SignerError::PassphraseNeeded { .. })
        ));
        assert!(matches!(
            SoftwareKey::create_file(&path, Some(&pass)),
            Err(SignerError::File(KeyError::Exists { .. }))
        ));
    }

    #[test]
    fn openssl_reads_our_encrypted_key_and_we_read_openssl_keys() {
        let dir = tempfile::tempdir().unwrap();
        let ours = dir.path().join("ours.pem");
        let pass = Passphrase::new("s3cret").unwrap();
        let key = SoftwareKey::create_file(&ours, Some(&pass)).unwrap();
        let out = std::process::Command::new("openssl")
            .args([
                "pkey",
                "-pubout",
                "-outform",
                "DER",
                "-passin",
                "pass:s3cret",
                "-in",
            ])
            .arg(&ours)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.ends_with(key.public_key_raw()));

        let theirs = dir.path().join("theirs.pem");
        let status = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args(["-aes-256-cbc", "-pass", "pass:s3cret", "-out"])
            .arg(&theirs)
            .status()
            .unwrap();
        assert!(status.success());
        let loaded = SoftwareKey::open_file(&theirs, Some(&pass)).unwrap();
        let signature = loaded.sign(b"m").unwrap();
        assert!(verifies(&loaded, b"m", &signature));
    }

    #[test]
    fn plain_and_garbage_files() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain.pem");
        let key = SoftwareKey::create_file(&plain, None).unwrap();
        let text = std::fs::read_to_string(&plain).unwrap();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let back = SoftwareKey::open_file(&plain, None).unwrap();
        assert_eq!(back.public_key_raw(), key.public_key_raw());

        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        assert!(matches!(
            SoftwareKey::open_file(&garbage, None),
            Err(SignerError::Malformed { .. })
        ));
        assert!(Passphrase::new("\n").is_none());
        assert_eq!(
            format!("{:?}", Passphrase::new("x").unwrap()),
            "Passphrase(..)"
        );
    }
}

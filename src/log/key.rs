//! Log signing keys: ECDSA P-256, in owner-only PKCS#8 PEM files or in an HSM.
//!
//! Both logs sign with P-256 because that is what the Sigstore clients verify for Rekor v1
//! checkpoints and SETs, and for RFC 6962 SCTs: the log ID is SHA-256 of the DER
//! SubjectPublicKeyInfo and the checkpoint key hint is its first four bytes.
//!
//! Private key material never reaches `Debug`, `Display` or an error message.

use crate::hsm::Pkcs11Key;
use mayfly_spec::tlog::note::{EcdsaNoteVerifier, NoteSigner, ecdsa_key_id};
use mayfly_spec::tlog::{Hash, TlogError};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::elliptic_curve::Generate;
use p256::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read or write key file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key file {path} is not a PKCS#8 PEM P-256 private key")]
    Malformed { path: PathBuf },
    #[error("public key file {path} is not a PEM P-256 public key")]
    MalformedPublic { path: PathBuf },
    #[error("refusing to overwrite existing key file {path}")]
    Exists { path: PathBuf },
    #[error("cannot encode key: {0}")]
    Encode(String),
    #[error("the crypto library refused a freshly generated P-256 key: {0}")]
    Generate(String),
    #[error("the log key could not sign: {0}")]
    Sign(String),
    #[error("this log key lives in an HSM; it has no key file to write")]
    NotExportable,
}

/// A P-256 signing key with its public identity precomputed.
#[derive(Clone)]
pub struct LogKey {
    signer: Signer,
    verifying: VerifyingKey,
    spki_der: Vec<u8>,
    log_id: Hash,
}

#[derive(Clone)]
enum Signer {
    /// In process memory, held twice: as a RustCrypto key, which the PEM files use, and as an
    /// aws-lc key for the signatures themselves, because aws-lc signs several times faster
    /// (`mayfly bench` prints both backends' timings each run).
    Software {
        signing: SigningKey,
        fast: Arc<aws_lc_rs::signature::EcdsaKeyPair>,
    },
    /// In an HSM, which never lets the private key out.
    Pkcs11(Arc<Pkcs11Key>),
}

impl LogKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, KeyError> {
        Self::from_signing_key(SigningKey::generate())
    }

    /// A key in an HSM, found and checked by [`crate::hsm::Pkcs11Session::find_key`].
    pub fn from_pkcs11(key: Pkcs11Key) -> Self {
        let spki_der = key.spki_der().to_vec();
        LogKey {
            verifying: *key.verifying_key(),
            log_id: Hash(key.log_id()),
            spki_der,
            signer: Signer::Pkcs11(Arc::new(key)),
        }
    }

    /// Both forms of the key and its identity. Fails rather than derive a log ID from anything
    /// but the key's own SPKI: a wrong log ID would be signed into every SCT and SET.
    fn from_signing_key(signing: SigningKey) -> Result<Self, KeyError> {
        let pkcs8 = signing
            .to_pkcs8_der()
            .map_err(|e| KeyError::Generate(e.to_string()))?;
        let fast = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            pkcs8.as_bytes(),
        )
        .map_err(|e| KeyError::Generate(e.to_string()))?;
        let verifying = *signing.verifying_key();
        let spki_der = spki_of(&verifying)?;
        let log_id = Hash(Sha256::digest(&spki_der).into());
        Ok(LogKey {
            signer: Signer::Software {
                signing,
                fast: Arc::new(fast),
            },
            verifying,
            spki_der,
            log_id,
        })
    }

    /// Parse a PKCS#8 PEM private key.
    pub fn from_pkcs8_pem(pem: &str) -> Option<Self> {
        SigningKey::from_pkcs8_pem(pem)
            .ok()
            .and_then(|key| Self::from_signing_key(key).ok())
    }

    /// The private key as PKCS#8 PEM. Handle with care: write only to owner-only files.
    fn to_pkcs8_pem(&self) -> Result<String, KeyError> {
        match &self.signer {
            Signer::Software { signing, .. } => signing
                .to_pkcs8_pem(LineEnding::LF)
                .map(|pem| pem.to_string())
                .map_err(|e| KeyError::Encode(e.to_string())),
            Signer::Pkcs11(_) => Err(KeyError::NotExportable),
        }
    }

    /// DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// SHA-256(DER SPKI): the RFC 6962 / Rekor log ID, whose first 4 bytes are the note key hint.
    pub fn log_id(&self) -> Hash {
        self.log_id
    }

    /// The C2SP note key ID: the first four bytes of the log ID, as every checkpoint signature
    /// line carries them. What an operator compares when keys and a database disagree.
    pub fn key_id(&self) -> u32 {
        let id = self.log_id.0;
        u32::from_be_bytes([id[0], id[1], id[2], id[3]])
    }

    /// The public key as a PEM "PUBLIC KEY" block.
    pub fn public_pem(&self) -> String {
        mayfly_spec::pem::encode("PUBLIC KEY", &self.spki_der)
    }

    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying
    }

    /// Where the key lives, for logs: `file` or `pkcs11`.
    pub fn backend(&self) -> &'static str {
        match self.signer {
            Signer::Software { .. } => "file",
            Signer::Pkcs11(_) => "pkcs11",
        }
    }

    /// ECDSA-P256-SHA256 over `msg`, ASN.1 DER encoded.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.signer {
            Signer::Software { signing, fast } => {
                match fast.sign(&aws_lc_rs::rand::SystemRandom::new(), msg) {
                    Ok(signature) => Ok(signature.as_ref().to_vec()),
                    // aws-lc fails only if its RNG does; the RustCrypto key signs
                    // deterministically (RFC 6979) and needs none.
                    Err(_) => {
                        let sig: p256::ecdsa::DerSignature =
                            p256::ecdsa::signature::Signer::try_sign(signing, msg)
                                .map_err(|e| KeyError::Sign(e.to_string()))?;
                        Ok(sig.to_bytes().to_vec())
                    }
                }
            }
            Signer::Pkcs11(key) => key.sign(msg).map_err(|e| KeyError::Sign(e.to_string())),
        }
    }

    /// Checks a DER ECDSA-P256-SHA256 signature made by this key.
    pub fn verify(&self, msg: &[u8], der_sig: &[u8]) -> bool {
        Signature::from_der(der_sig).is_ok_and(|sig| self.verifying.verify(msg, &sig).is_ok())
    }

    /// A signed-note signer under key name `name` (the log's origin).
    pub fn note_signer(&self, name: &str) -> Result<LogNoteSigner<'_>, TlogError> {
        Ok(LogNoteSigner {
            name: name.to_owned(),
            key_id: ecdsa_key_id(&self.spki_der),
            key: self,
        })
    }

    /// The matching signed-note verifier.
    pub fn note_verifier(&self, name: &str) -> Result<EcdsaNoteVerifier, TlogError> {
        EcdsaNoteVerifier::new(name, self.verifying)
    }

    /// Write the key to a new file that only the owner can read. Never overwrites.
    pub fn write_new(&self, path: &Path) -> Result<(), KeyError> {
        write_private_file(path, self.to_pkcs8_pem()?.as_bytes())
    }

    /// Read a key written by [`LogKey::write_new`] (or any PKCS#8 PEM P-256 key).
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let pem = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_pkcs8_pem(&pem).ok_or_else(|| KeyError::Malformed {
            path: path.to_owned(),
        })
    }
}

/// A log's public key alone, from a PEM file: what `mayfly trust` needs of a key that lives in
/// an HSM (an instance on PKCS#11 keeps these beside its database).
pub fn read_public_spki(path: &Path) -> Result<Vec<u8>, KeyError> {
    let pem = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.to_owned(),
        source,
    })?;
    let malformed = || KeyError::MalformedPublic {
        path: path.to_owned(),
    };
    let key = VerifyingKey::from_public_key_pem(&pem).map_err(|_| malformed())?;
    spki_of(&key).map_err(|_| malformed())
}

fn spki_of(key: &VerifyingKey) -> Result<Vec<u8>, KeyError> {
    key.to_public_key_der()
        .map(|doc| doc.as_bytes().to_vec())
        .map_err(|e| KeyError::Generate(e.to_string()))
}

/// Signs notes with a [`LogKey`], wherever the key lives.
pub struct LogNoteSigner<'a> {
    name: String,
    key_id: u32,
    key: &'a LogKey,
}

impl NoteSigner for LogNoteSigner<'_> {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.key_id
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, TlogError> {
        self.key
            .sign(msg)
            .map_err(|e| TlogError::Signing(e.to_string()))
    }
}

impl fmt::Debug for LogKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogKey")
            .field("log_id", &self.log_id)
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

/// Creates `path` readable by the owner only, writes `contents` and syncs it. Never overwrites:
/// a key file that exists belongs to an instance and replacing it would orphan its logs.
pub fn write_private_file(path: &Path, contents: &[u8]) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => KeyError::Exists {
            path: path.to_owned(),
        },
        _ => io(e),
    })?;
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_key_reads_back_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.key.pem");
        let key = LogKey::generate().unwrap();
        key.write_new(&path).unwrap();
        let back = LogKey::read(&path).unwrap();
        assert_eq!(back.log_id(), key.log_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(key.write_new(&path), Err(KeyError::Exists { .. })));
    }

    #[test]
    fn signatures_verify_and_bind_the_message() {
        let key = LogKey::generate().unwrap();
        let sig = key.sign(b"checkpoint").unwrap();
        assert!(key.verify(b"checkpoint", &sig));
        assert!(!key.verify(b"checkpoinT", &sig));
        assert!(!LogKey::generate().unwrap().verify(b"checkpoint", &sig));
    }

    #[test]
    fn log_id_is_sha256_of_spki_and_debug_hides_the_secret() {
        let key = LogKey::generate().unwrap();
        assert_eq!(
            key.log_id().0,
            <[u8; 32]>::from(Sha256::digest(key.spki_der()))
        );
        assert_eq!(key.spki_der().len(), 91, "P-256 SPKI is 91 bytes");
        let shown = format!("{key:?}");
        assert!(!shown.contains("PRIVATE"), "{shown}");
        assert!(key.public_pem().starts_with("-----BEGIN PUBLIC KEY-----\n"));
    }
}

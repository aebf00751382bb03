//! Where the CA lives in a data dir, and how a start finds or creates it.
//!
//! The file backend keeps both keys (owner-only) and both certificates in the data dir, where
//! [`DataDir`] names them.
//!
//! The root key is kept so an operator can sign a new intermediate later; a production
//! deployment moves it offline after the first start.

use crate::ca::chain::{CaChain, ChainError};
use crate::ca::issuance::{CaError, CertificateAuthority};
use crate::ca::signer::{CaSigner, Passphrase, SignerError, SoftwareKey};
use crate::instance::DataDir;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use time::OffsetDateTime;

/// Which signer backend holds the CA keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaBackend {
    /// PKCS#8 PEM files in the data dir (encrypted when a passphrase is given).
    File,
    /// Generated at every start and never written: tests and demos only.
    Ephemeral,
    /// In an HSM through PKCS#11 (the root and intermediate keys; certificates in the data
    /// dir).
    Pkcs11,
}

impl CaBackend {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "file" => Some(CaBackend::File),
            "ephemeral" => Some(CaBackend::Ephemeral),
            "pkcs11" => Some(CaBackend::Pkcs11),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Signer(#[from] SignerError),
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Ca(#[from] CaError),
    #[error("--ca pkcs11 needs the HSM settings (--pkcs11-module, --pkcs11-token-label)")]
    NoHsm,
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Creates the CA (first start) or loads and checks it. `organization` goes into new CA
/// subjects.
///
/// `hsm` holds the root and intermediate signers when the keys live in an HSM
/// ([`CaBackend::Pkcs11`]); the chain is then created with them on the first start, and on
/// later starts the stored intermediate certificate must be for the token's key.
pub fn open_or_create(
    dir: &DataDir,
    backend: CaBackend,
    passphrase: Option<&Passphrase>,
    hsm: Option<(Arc<dyn CaSigner>, Arc<dyn CaSigner>)>,
    organization: &str,
    fresh: bool,
) -> Result<CertificateAuthority, SetupError> {
    let now = OffsetDateTime::now_utc();
    let (chain, signer) = match (backend, fresh) {
        (CaBackend::Pkcs11, _) => {
            let (root, intermediate) = hsm.ok_or(SetupError::NoHsm)?;
            let chain = if fresh {
                let chain = CaChain::create(&root, &intermediate, organization, now)?;
                write(&dir.ca_root_cert(), chain.root_pem())?;
                write(&dir.ca_intermediate_cert(), chain.intermediate_pem())?;
                chain
            } else {
                CaChain::from_pem(
                    &read(&dir.ca_root_cert())?,
                    &read(&dir.ca_intermediate_cert())?,
                    intermediate.as_ref(),
                )?
            };
            (chain, intermediate)
        }
        (CaBackend::Ephemeral, _) => {
            let root: Arc<dyn CaSigner> = Arc::new(SoftwareKey::ephemeral()?);
            let intermediate: Arc<dyn CaSigner> = Arc::new(SoftwareKey::ephemeral()?);
            (
                CaChain::create(&root, &intermediate, organization, now)?,
                intermediate,
            )
        }
        (CaBackend::File, true) => {
            let root: Arc<dyn CaSigner> =
                Arc::new(SoftwareKey::create_file(&dir.ca_root_key(), passphrase)?);
            let intermediate: Arc<dyn CaSigner> = Arc::new(SoftwareKey::create_file(
                &dir.ca_intermediate_key(),
                passphrase,
            )?);
            let chain = CaChain::create(&root, &intermediate, organization, now)?;
            write(&dir.ca_root_cert(), chain.root_pem())?;
            write(&dir.ca_intermediate_cert(), chain.intermediate_pem())?;
            (chain, intermediate)
        }
        (CaBackend::File, false) => {
            let intermediate: Arc<dyn CaSigner> = Arc::new(SoftwareKey::open_file(
                &dir.ca_intermediate_key(),
                passphrase,
            )?);
            let chain = CaChain::from_pem(
                &read(&dir.ca_root_cert())?,
                &read(&dir.ca_intermediate_cert())?,
                intermediate.as_ref(),
            )?;
            (chain, intermediate)
        }
    };
    Ok(CertificateAuthority::new(chain, signer)?)
}

fn io(path: PathBuf) -> impl FnOnce(std::io::Error) -> SetupError {
    move |source| SetupError::Io { path, source }
}

fn read(path: &Path) -> Result<String, SetupError> {
    std::fs::read_to_string(path).map_err(io(path.to_owned()))
}

fn write(path: &Path, text: &str) -> Result<(), SetupError> {
    std::fs::write(path, text).map_err(io(path.to_owned()))
}

//! The CA's keys as the server holds them: loading every generation at start and on reload,
//! and `mayfly ca rotate`, which adds a generation to a data dir offline.
//!
//! A rotation written while replicas run reaches them on their next reload (SIGHUP or
//! `--watch-config`, which watches the schedule too) or restart; it takes effect at its
//! `activeFrom`, on every replica at the same instant. Scheduling it ahead of that reload is
//! what keeps an old generation from signing after its window in the trusted root has closed.

use std::path::PathBuf;

use super::{ServerError, SignerWrap, ca_passphrase};
use crate::ca::authorities::Authorities;
use crate::ca::generations::Generation;
use crate::ca::setup::{self as ca_setup, CaBackend, CaKeys, Rotation, SetupError};
use crate::ca::signer::Passphrase;
use crate::hsm::{HsmSettings, KeyLabels, Pkcs11Session};
use crate::instance::DataDir;

/// [`CaKeys`] with everything owned, so a running instance can reload its generations.
pub(super) enum KeySource {
    Files(Option<Passphrase>),
    Hsm {
        session: Pkcs11Session,
        labels: KeyLabels,
    },
    /// Nothing on disk: there is nothing to reload.
    Ephemeral,
}

impl KeySource {
    pub(super) fn keys(&self) -> CaKeys<'_> {
        match self {
            KeySource::Files(passphrase) => CaKeys::Files(passphrase.as_ref()),
            KeySource::Hsm { session, labels } => CaKeys::Hsm { session, labels },
            KeySource::Ephemeral => CaKeys::Ephemeral,
        }
    }
}

/// What reloads a running instance's CA generations from its data dir.
pub(super) struct CaSource {
    pub(super) dir: DataDir,
    pub(super) keys: KeySource,
    pub(super) organization: String,
    pub(super) wrap_signer: SignerWrap,
}

impl CaSource {
    /// Every generation on disk, or `None` for an ephemeral CA.
    pub(super) fn load(&self) -> Result<Option<Authorities>, SetupError> {
        if matches!(self.keys, KeySource::Ephemeral) {
            return Ok(None);
        }
        let authorities =
            ca_setup::open_or_create(&self.dir, self.keys.keys(), &self.organization, false)?;
        Ok(Some(authorities.map_signer(&*self.wrap_signer)))
    }
}

/// What `mayfly ca rotate` is given.
#[derive(Debug, Clone)]
pub struct RotateConfig {
    pub data_dir: PathBuf,
    /// `file` or `pkcs11`, as the instance is served with.
    pub ca: CaBackend,
    pub ca_passphrase_file: Option<PathBuf>,
    pub hsm: Option<HsmSettings>,
    pub rotation: Rotation,
}

/// Adds a CA generation to the instance in `config.data_dir` (see [`ca_setup::rotate`]).
pub fn rotate_ca(config: &RotateConfig) -> Result<Generation, ServerError> {
    let dir = DataDir::new(&config.data_dir);
    if !dir.ca_intermediate_cert().exists() {
        return Err(ServerError::Config(format!(
            "{} holds no CA; `mayfly serve` or `mayfly init` creates one",
            dir.root().display()
        )));
    }
    let generation = match config.ca {
        CaBackend::File => {
            let passphrase = ca_passphrase(config.ca_passphrase_file.as_deref())?;
            ca_setup::rotate(&dir, CaKeys::Files(passphrase.as_ref()), &config.rotation)?
        }
        CaBackend::Pkcs11 => {
            let hsm = config.hsm.as_ref().ok_or(SetupError::NoHsm)?;
            let session = hsm.open()?;
            let keys = CaKeys::Hsm {
                session: &session,
                labels: &hsm.labels,
            };
            ca_setup::rotate(&dir, keys, &config.rotation)?
        }
        CaBackend::Ephemeral => return Err(SetupError::NotRotatable.into()),
    };
    Ok(generation)
}

/// The generation numbers a set holds, to tell whether a reload changed anything.
pub(super) fn numbers(authorities: &Authorities) -> Vec<u32> {
    authorities.generations().iter().map(|g| g.number).collect()
}

//! Where the CA lives in a data dir, and how a start finds or creates it.
//!
//! The file backend keeps both keys (owner-only) and both certificates in the data dir, where
//! [`DataDir`] names them.
//!
//! The root key is kept so an operator can sign a new intermediate later; a production
//! deployment moves it offline after the first start.

use crate::ca::authorities::Authorities;
use crate::ca::chain::{CaChain, ChainError};
use crate::ca::generations::{self, Generation, Schedule, ScheduleError};
use crate::ca::issuance::{CaError, CertificateAuthority};
use crate::ca::signer::{CaSigner, Passphrase, SignerError, SoftwareKey};
use crate::hsm::{KeyLabels, Pkcs11Error, Pkcs11Session};
use crate::instance::DataDir;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

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
    #[error(transparent)]
    Hsm(#[from] Pkcs11Error),
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    #[error(
        "an ephemeral CA has no generations to rotate; rotation needs --ca file or --ca pkcs11"
    )]
    NotRotatable,
    #[error("the root key {path} is not there; if it is kept offline, give it with --root-key")]
    RootKeyMissing { path: PathBuf },
    #[error(
        "--at {at} is in the past: certificates the current CA already issued would stop verifying; give a time from now on"
    )]
    ActiveFromInThePast { at: String },
    #[error("files of an interrupted rotation are in the way ({0}); remove them and rotate again")]
    Leftovers(String),
    #[error("internal invariant broken: {0}")]
    Invariant(&'static str),
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where the CA's private keys are, for loading and for creating new ones.
#[derive(Clone, Copy)]
pub enum CaKeys<'a> {
    /// PKCS#8 files in the data dir, encrypted with the passphrase when there is one.
    Files(Option<&'a Passphrase>),
    /// A logged-in PKCS#11 token; generation N's keys carry the labels [`KeyLabels`] derives.
    Hsm {
        session: &'a Pkcs11Session,
        labels: &'a KeyLabels,
    },
    /// Generated now, never written (tests and demos): one generation, no rotation.
    Ephemeral,
}

impl CaKeys<'_> {
    /// Generation `n`'s intermediate key, which must exist.
    fn intermediate(&self, dir: &DataDir, n: u32) -> Result<Arc<dyn CaSigner>, SetupError> {
        match self {
            CaKeys::Files(passphrase) => Ok(Arc::new(SoftwareKey::open_file(
                &dir.ca_generation(n).intermediate_key,
                *passphrase,
            )?)),
            CaKeys::Hsm { session, labels } => {
                Ok(Arc::new(session.find_key(&labels.ca_generation(n))?))
            }
            CaKeys::Ephemeral => Err(SetupError::NotRotatable),
        }
    }

    /// The root key created with generation `n`; `file` overrides where a file backend finds
    /// it (a root key kept offline).
    fn root(
        &self,
        dir: &DataDir,
        n: u32,
        file: Option<&Path>,
    ) -> Result<Arc<dyn CaSigner>, SetupError> {
        match self {
            CaKeys::Files(passphrase) => {
                let default = dir.ca_generation(n).root_key;
                let path = file.unwrap_or(&default);
                if !path.exists() {
                    return Err(SetupError::RootKeyMissing {
                        path: path.to_owned(),
                    });
                }
                Ok(Arc::new(SoftwareKey::open_file(path, *passphrase)?))
            }
            CaKeys::Hsm { session, labels } => {
                Ok(Arc::new(session.find_key(&labels.ca_root_generation(n))?))
            }
            CaKeys::Ephemeral => Err(SetupError::NotRotatable),
        }
    }

    /// Creates generation `n`'s intermediate key (and root key when `root`); refuses to
    /// replace an existing one.
    fn create(&self, dir: &DataDir, n: u32, root: bool) -> Result<NewKeys, SetupError> {
        match self {
            CaKeys::Files(passphrase) => {
                let files = dir.ca_generation(n);
                let root = match root {
                    true => Some(
                        Arc::new(SoftwareKey::create_file(&files.root_key, *passphrase)?)
                            as Arc<dyn CaSigner>,
                    ),
                    false => None,
                };
                let intermediate = SoftwareKey::create_file(&files.intermediate_key, *passphrase)?;
                Ok(NewKeys {
                    root,
                    intermediate: Arc::new(intermediate),
                })
            }
            CaKeys::Hsm { session, labels } => {
                let root = match root {
                    true => Some(
                        Arc::new(session.generate_key(&labels.ca_root_generation(n))?)
                            as Arc<dyn CaSigner>,
                    ),
                    false => None,
                };
                let intermediate = session.generate_key(&labels.ca_generation(n))?;
                Ok(NewKeys {
                    root,
                    intermediate: Arc::new(intermediate),
                })
            }
            CaKeys::Ephemeral => Err(SetupError::NotRotatable),
        }
    }
}

/// The keys [`CaKeys::create`] made: the intermediate's, and the root's when asked for.
struct NewKeys {
    root: Option<Arc<dyn CaSigner>>,
    intermediate: Arc<dyn CaSigner>,
}

/// Creates the CA (first start) or loads and checks every generation of it.
///
/// On a first start, generation 1's keys are created (file backend) or must already be on
/// the token (`mayfly keys create`). `organization` goes into new CA subjects.
pub fn open_or_create(
    dir: &DataDir,
    keys: CaKeys<'_>,
    organization: &str,
    fresh: bool,
) -> Result<Authorities, SetupError> {
    let now = OffsetDateTime::now_utc();
    let first = match keys {
        CaKeys::Ephemeral => {
            let root: Arc<dyn CaSigner> = Arc::new(SoftwareKey::ephemeral()?);
            let intermediate: Arc<dyn CaSigner> = Arc::new(SoftwareKey::ephemeral()?);
            let chain = CaChain::create(&root, &intermediate, organization, 1, now)?;
            return Ok(Authorities::new(
                CertificateAuthority::new(chain, intermediate)?,
                Vec::new(),
            ));
        }
        CaKeys::Files(_) if fresh => {
            let NewKeys { root, intermediate } = keys.create(dir, 1, true)?;
            let root = root.ok_or(SetupError::Invariant("a new CA has a root key"))?;
            new_chain(dir, &root, intermediate, organization, now)?
        }
        CaKeys::Hsm { .. } if fresh => {
            let root = keys.root(dir, 1, None)?;
            new_chain(dir, &root, keys.intermediate(dir, 1)?, organization, now)?
        }
        _ => load(dir, &keys, 1, 1)?,
    };
    let schedule = read_schedule(dir)?;
    let mut rotations = Vec::new();
    for generation in schedule.rotations() {
        rotations.push((
            generation.number,
            generation.active_from,
            load(dir, &keys, generation.number, generation.root)?,
        ));
    }
    Ok(Authorities::new(first, rotations))
}

/// What `mayfly ca rotate` is asked for.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// When the new generation starts signing; not in the past.
    pub active_from: OffsetDateTime,
    /// A new root as well, instead of a new intermediate under the current root.
    pub new_root: bool,
    /// Where the current root's key file is, when it was moved offline (file backend).
    pub root_key_file: Option<PathBuf>,
}

/// Adds a CA generation: creates its keys and certificates, then records it in the schedule
/// (the last step, so an interrupted rotation schedules nothing). Returns the new generation.
pub fn rotate(
    dir: &DataDir,
    keys: CaKeys<'_>,
    rotation: &Rotation,
) -> Result<Generation, SetupError> {
    let now = OffsetDateTime::now_utc();
    // A switch-over in the past would end the current generation's window before certificates
    // it has already issued, and they would stop verifying. A minute of slack covers clocks.
    if rotation.active_from < now - time::Duration::minutes(1) {
        return Err(SetupError::ActiveFromInThePast {
            at: generations::rfc3339(rotation.active_from),
        });
    }
    let mut schedule = read_schedule(dir)?;
    let generation = schedule.next(rotation.active_from, rotation.new_root)?;
    let files = dir.ca_generation(generation.number);
    let leftovers: Vec<String> = [
        &files.intermediate_cert,
        &files.root_cert,
        &files.intermediate_key,
        &files.root_key,
    ]
    .into_iter()
    .filter(|p| p.exists())
    .map(|p| p.display().to_string())
    .collect();
    if !leftovers.is_empty() {
        return Err(SetupError::Leftovers(leftovers.join(", ")));
    }
    let current = dir.ca_generation(schedule.latest_number());
    let organization = organization_of(&read(&current.intermediate_cert)?)?;
    let chain = if rotation.new_root {
        let NewKeys { root, intermediate } = keys.create(dir, generation.number, true)?;
        let root = root.ok_or(SetupError::Invariant("a new root has a key"))?;
        let chain = CaChain::create(&root, &intermediate, &organization, generation.number, now)?;
        write(&files.root_cert, chain.root_pem())?;
        chain
    } else {
        let root_files = dir.ca_generation(generation.root);
        let root = keys.root(dir, generation.root, rotation.root_key_file.as_deref())?;
        let root_der =
            mayfly_spec::pem::decode_label(read(&root_files.root_cert)?.as_bytes(), "CERTIFICATE")
                .map_err(|_| ChainError::Unparseable { which: "root" })?;
        let NewKeys { intermediate, .. } = keys.create(dir, generation.number, false)?;
        CaChain::renew_intermediate(
            &root_der,
            &root,
            &intermediate,
            &organization,
            generation.number,
            now,
        )?
    };
    write(&files.intermediate_cert, chain.intermediate_pem())?;
    schedule.push(generation)?;
    write_atomically(&dir.ca_schedule(), &schedule.to_json())?;
    Ok(generation)
}

/// Every generation's certificates and start, without any key: what `mayfly trust` needs.
pub fn stored_generations(dir: &DataDir) -> Result<Vec<StoredGeneration>, SetupError> {
    let schedule = read_schedule(dir)?;
    let mut generations = vec![stored(dir, 1, 1, None)?];
    for g in schedule.rotations() {
        generations.push(stored(dir, g.number, g.root, Some(g.active_from))?);
    }
    Ok(generations)
}

/// One generation's certificates as stored.
#[derive(Debug, Clone)]
pub struct StoredGeneration {
    pub number: u32,
    pub active_from: Option<OffsetDateTime>,
    pub root_der: Vec<u8>,
    pub intermediate_der: Vec<u8>,
}

fn stored(
    dir: &DataDir,
    number: u32,
    root: u32,
    active_from: Option<OffsetDateTime>,
) -> Result<StoredGeneration, SetupError> {
    let der = |path: &Path, which| {
        mayfly_spec::pem::decode_label(read(path)?.as_bytes(), "CERTIFICATE")
            .map_err(|_| SetupError::Chain(ChainError::Unparseable { which }))
    };
    Ok(StoredGeneration {
        number,
        active_from,
        root_der: der(&dir.ca_generation(root).root_cert, "root")?,
        intermediate_der: der(&dir.ca_generation(number).intermediate_cert, "intermediate")?,
    })
}

/// Creates generation 1's chain and writes its certificates.
fn new_chain(
    dir: &DataDir,
    root: &Arc<dyn CaSigner>,
    intermediate: Arc<dyn CaSigner>,
    organization: &str,
    now: OffsetDateTime,
) -> Result<CertificateAuthority, SetupError> {
    let chain = CaChain::create(root, &intermediate, organization, 1, now)?;
    write(&dir.ca_root_cert(), chain.root_pem())?;
    write(&dir.ca_intermediate_cert(), chain.intermediate_pem())?;
    Ok(CertificateAuthority::new(chain, intermediate)?)
}

/// Loads generation `number` (under generation `root`'s root) and checks its chain.
fn load(
    dir: &DataDir,
    keys: &CaKeys<'_>,
    number: u32,
    root: u32,
) -> Result<CertificateAuthority, SetupError> {
    let signer = keys.intermediate(dir, number)?;
    let chain = CaChain::from_pem(
        &read(&dir.ca_generation(root).root_cert)?,
        &read(&dir.ca_generation(number).intermediate_cert)?,
        signer.as_ref(),
    )?;
    Ok(CertificateAuthority::new(chain, signer)?)
}

fn read_schedule(dir: &DataDir) -> Result<Schedule, SetupError> {
    let path = dir.ca_schedule();
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Schedule::parse(&text)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Schedule::default()),
        Err(source) => Err(SetupError::Io { path, source }),
    }
}

/// The organization (O) of a CA certificate's subject: new generations keep the instance's.
fn organization_of(pem: &str) -> Result<String, SetupError> {
    let der = mayfly_spec::pem::decode_label(pem.as_bytes(), "CERTIFICATE").map_err(|_| {
        ChainError::Unparseable {
            which: "intermediate",
        }
    })?;
    let (_, cert) = X509Certificate::from_der(&der).map_err(|_| ChainError::Unparseable {
        which: "intermediate",
    })?;
    let organization = cert
        .subject()
        .iter_organization()
        .find_map(|o| o.as_str().ok())
        .unwrap_or("mayfly")
        .to_owned();
    Ok(organization)
}

/// Writes through a temporary file and a rename, so a reader sees the old or the new text.
fn write_atomically(path: &Path, text: &str) -> Result<(), SetupError> {
    let temporary = path.with_extension("json.tmp");
    write(&temporary, text)?;
    std::fs::rename(&temporary, path).map_err(io(path.to_owned()))
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

//! Wiring: the data dir, keys, database and logs behind one HTTP listener ([`listener`]).
//!
//! First start (empty data dir): creates the dir owner-only, generates the log keys, creates
//! the database and the logs, and says so. Later starts: load the keys and refuse to run if
//! the stored checkpoints were not signed by them, or if only part of an instance is present.
//! An instance made before the Rekor v2 log existed gains it (a new shard with its own key) on
//! its next start; see [`start_rekor_v2`].

use crate::api::{self, AppState};
use crate::ca::issuance::PrecertCodec;
use crate::ca::pipeline::{Issuer, Settings};
use crate::ca::setup::{self as ca_setup, CaBackend, SetupError};
use crate::ca::signer::{CaSigner, Passphrase};
use crate::identity::dev_issuer::DevIssuer;
use crate::identity::oidc::{TokenError, TokenVerifier};
use crate::identity::{IssuerConfig, IssuerConfigError};
use crate::instance::{DataDir, PublicUrl, PublicUrlError};
use crate::log::key::{KeyError, LogKey};
use crate::log::storage::LogSlot;
use crate::log::storage::StoreError;
use crate::log::{LeafCodec, Log, LogConfig, LogError, Verbatim};
use crate::policy::{Policy, PolicyError};
use crate::ratelimit::{Rate, RateLimiter};
use crate::storage::{DatabaseUrl, DatabaseUrlError, Store};
mod ca;
mod init;
pub mod listener;
mod migrate;
mod offline;

pub use init::{InitConfig, Initialized, InitializedLog, init};
pub use migrate::{LogCopy, MigrateReport, migrate};
pub use offline::rebuild_index;

use ca::{CaSource, KeySource};
pub use ca::{RotateConfig, rotate_ca};

use listener::{ConnectionLimits, ConnectionSettings};
use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpListener;

/// Everything `mayfly serve` needs to know.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// The URL clients reach this instance at; log origins derive from it.
    pub public_url: url::Url,
    /// `sqlite://PATH`; defaults to `<data-dir>/mayfly.db`.
    pub database_url: Option<String>,
    /// Fulcio-format issuer config (JSON or YAML); `None` means the shipped
    /// `ca-config/issuers.yaml`.
    pub issuers: Option<PathBuf>,
    /// Where the CA keys live.
    pub ca: CaBackend,
    /// File holding the CA key passphrase; without it, `MAYFLY_CA_PASSPHRASE` is used if set,
    /// else the CA keys are stored unencrypted (owner-only).
    pub ca_passphrase_file: Option<PathBuf>,
    /// Mount the built-in OIDC issuer under `<public-url>/dev-oidc` and accept its tokens.
    pub dev_issuer: bool,
    /// Connection timeouts and caps (see [`listener`]).
    pub connections: ConnectionSettings,
    /// Issuance policy (CEL rules, YAML or JSON); `None` admits any identity of a configured
    /// issuer, as Fulcio does.
    pub policy: Option<PathBuf>,
    /// Certificates per identity (SAN).
    pub rate_limit_identity: Rate,
    /// Certificate and Rekor write requests per client address.
    pub rate_limit_client: Rate,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Reload when the issuers or policy file changes, not only on SIGHUP.
    pub watch_config: bool,
    /// Where the keys live when `ca` is [`CaBackend::Pkcs11`]: the CA's and both logs'.
    pub hsm: Option<crate::hsm::HsmSettings>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    PublicUrl(#[from] PublicUrlError),
    #[error(transparent)]
    DatabaseUrl(#[from] DatabaseUrlError),
    #[error("data dir {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("refusing to start: {0}")]
    Inconsistent(String),
    #[error("--issuers {path}: {source}")]
    Issuers {
        path: String,
        source: IssuerConfigError,
    },
    #[error("--policy {path}: {source}")]
    Policy { path: String, source: PolicyError },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("HSM: {0}")]
    Hsm(#[from] crate::hsm::Pkcs11Error),
    #[error("CA: {0}")]
    Ca(#[from] SetupError),
    #[error("timestamp authority: {0}")]
    Tsa(#[from] crate::tsa::setup::TsaSetupError),
    #[error("token verification: {0}")]
    Tokens(#[from] TokenError),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot install the shutdown signal handlers: {0}")]
    Signal(std::io::Error),
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

impl ServeConfig {
    /// `mayfly serve`'s defaults for an instance on `listen` in `data_dir`, reached at
    /// `public_url`: the shipped issuers, a file-backed CA, SQLite in the data dir, no policy,
    /// the default rate limits and connection limits, no dev issuer.
    pub fn new(listen: SocketAddr, data_dir: impl Into<PathBuf>, public_url: url::Url) -> Self {
        ServeConfig {
            listen,
            data_dir: data_dir.into(),
            public_url,
            database_url: None,
            issuers: None,
            ca: CaBackend::File,
            ca_passphrase_file: None,
            dev_issuer: false,
            connections: ConnectionSettings::default(),
            policy: None,
            rate_limit_identity: Rate::DEFAULT_IDENTITY,
            rate_limit_client: Rate::DEFAULT_CLIENT,
            trusted_proxies: Vec::new(),
            watch_config: false,
            hsm: None,
        }
    }
}

/// The running service's parts, ready to serve.
pub struct Instance {
    pub state: api::SharedState,
    pub store: Store,
    /// How the listener treats connections.
    pub limits: ConnectionLimits,
    reloader: Reloader,
}

/// Re-reads `--issuers` and `--policy` into a running instance (SIGHUP, `--watch-config`).
/// Cheap to clone.
#[derive(Clone)]
pub struct Reloader {
    state: api::SharedState,
    config: Arc<ServeConfig>,
    dev: Option<Arc<DevIssuer>>,
    ca: Arc<CaSource>,
}

impl Reloader {
    /// Loads and checks both files, then swaps them in for every request that starts from
    /// now on. Anything wrong keeps the running configuration: the error is logged, counted in
    /// `mayfly_config_reload_failures_total`, and returned.
    pub fn reload(&self) -> Result<(), ServerError> {
        match self.load() {
            Ok(rules) => {
                metrics::counter!("mayfly_config_reloads_total").increment(1);
                tracing::info!(
                    policy_rules = rules,
                    "reloaded the issuer configuration, policy and CA generations"
                );
                Ok(())
            }
            Err(e) => {
                metrics::counter!("mayfly_config_reload_failures_total").increment(1);
                tracing::error!(error = %e, "configuration reload failed; keeping the running configuration");
                Err(e)
            }
        }
    }

    /// Loads everything first and swaps only when all of it loaded, so a reload applies whole
    /// or not at all. Returns the number of policy rules.
    fn load(&self) -> Result<usize, ServerError> {
        let settings = load_settings(&self.config, self.dev.as_deref())?;
        let authorities = self.ca.load()?;
        let rules = settings.policy.as_ref().map_or(0, |p| p.len());
        self.state.issuer.replace_settings(settings);
        if let Some(authorities) = authorities {
            let before = ca::numbers(&self.state.issuer.authorities());
            if ca::numbers(&authorities) != before {
                for g in authorities
                    .generations()
                    .iter()
                    .filter(|g| !before.contains(&g.number))
                {
                    tracing::info!(
                        generation = g.number,
                        active_from = ?g.active_from,
                        "loaded a new CA generation"
                    );
                }
                self.state.issuer.replace_authorities(authorities);
            }
        }
        Ok(rules)
    }

    /// The files a reload reads.
    fn watched(&self) -> Vec<PathBuf> {
        self.config
            .issuers
            .iter()
            .chain(&self.config.policy)
            .cloned()
            .chain(std::iter::once(self.ca.dir.ca_schedule()))
            .collect()
    }
}

/// Wraps the store before the logs open on it.
pub type StoreWrap = Box<dyn FnOnce(Store) -> Store + Send>;
/// Wraps the CA intermediate's signer.
pub type SignerWrap = Arc<dyn Fn(Arc<dyn CaSigner>) -> Arc<dyn CaSigner> + Send + Sync>;

/// Wrappers applied while an instance opens, so tests can inject faults into the real store
/// and signer (see [`crate::testing`]).
#[cfg(feature = "test-util")]
#[derive(Default)]
pub struct Hooks {
    pub store: Option<StoreWrap>,
    pub ca_signer: Option<SignerWrap>,
}

impl Instance {
    /// Opens or creates the instance in `config.data_dir`.
    pub async fn open(
        config: &ServeConfig,
        metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    ) -> Result<Self, ServerError> {
        Self::open_wrapped(config, metrics, Box::new(|s| s), Arc::new(|s| s)).await
    }

    /// [`Instance::open`] with the store and CA signer wrapped by `hooks`.
    #[cfg(feature = "test-util")]
    pub async fn open_with(
        config: &ServeConfig,
        metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
        hooks: Hooks,
    ) -> Result<Self, ServerError> {
        let store = hooks.store.unwrap_or_else(|| Box::new(|s| s));
        let signer = hooks.ca_signer.unwrap_or_else(|| Arc::new(|s| s));
        Self::open_wrapped(config, metrics, store, signer).await
    }

    async fn open_wrapped(
        config: &ServeConfig,
        metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
        wrap_store: StoreWrap,
        wrap_signer: SignerWrap,
    ) -> Result<Self, ServerError> {
        crate::install_crypto_provider();
        // Resolved against the open-file limit as it is now (`run` raises it first).
        let limits = config
            .connections
            .resolve(listener::nofile_soft_limit())
            .map_err(|e| ServerError::Config(e.to_string()))?;
        let public_url = PublicUrl::new(config.public_url.clone())?;
        // Everything that can be checked is checked before anything is created: a typo must
        // not leave a half-initialised data dir behind.
        let dev_issuer = match config.dev_issuer {
            true => Some(Arc::new(new_dev_issuer(&public_url)?)),
            false => None,
        };
        let settings = load_settings(config, dev_issuer.as_deref())?;
        if settings.policy.is_none() {
            tracing::warn!(
                "no --policy: any identity of a configured issuer gets a certificate, as with Fulcio; \
                 give a policy to restrict who may sign"
            );
        }
        let client_limit = rate_limiter(config.rate_limit_client);
        let Core {
            dir,
            database,
            fresh,
            ca,
            tsa,
            ca_source,
            store,
            issuance,
            artifacts,
            rekor_v2,
        } = open_core(config, &public_url, wrap_store, wrap_signer).await?;
        if fresh {
            tracing::info!(
                data_dir = %dir.root().display(),
                database = %database,
                issuance_log_id = %issuance.key().log_id(),
                artifact_log_id = %artifacts.key().log_id(),
                rekor_v2_log_id = %rekor_v2.key().log_id(),
                ca_backend = ca.backend(),
                "created a new Mayfly instance: a CA (root and intermediate), fresh log keys (owner-only files) and an empty database"
            );
        } else {
            tracing::info!(
                data_dir = %dir.root().display(),
                issuance_size = issuance.checkpoint().size,
                artifacts_size = artifacts.checkpoint().size,
                rekor_v2_size = rekor_v2.checkpoint().size,
                "opened existing Mayfly instance"
            );
        }
        // The search index follows the issuance and artifact logs from wherever it stopped. The
        // Rekor v2 log is not indexed: its entries are served from tiles, and the index's
        // extractors and search answers are built for the other two logs' entries.
        let index = crate::index::Indexer::start(&[&issuance, &artifacts]);
        let state = Arc::new(AppState {
            index,
            issuer: Issuer::new(
                settings,
                rate_limiter(config.rate_limit_identity),
                ca,
                issuance.clone(),
            ),
            issuance,
            artifacts,
            rekor_v2,
            client_limit,
            trusted_proxies: config.trusted_proxies.clone(),
            public_url,
            dev_issuer: dev_issuer.clone(),
            metrics,
            verify_pool: api::VerifyPool::for_this_machine(),
            tuf_repository: dir.tuf_repository(),
            tsa,
        });
        Ok(Instance {
            reloader: Reloader {
                state: state.clone(),
                config: Arc::new(config.clone()),
                dev: dev_issuer,
                ca: Arc::new(ca_source),
            },
            store,
            limits,
            state,
        })
    }

    /// What re-reads this instance's issuers and policy.
    pub fn reloader(&self) -> Reloader {
        self.reloader.clone()
    }

    /// Finishes the batches in flight and closes the database.
    pub async fn close(&self) {
        self.state.index.stop().await;
        self.state.issuance.close().await;
        self.state.artifacts.close().await;
        self.state.rekor_v2.close().await;
        self.store.close().await;
    }
}

/// The parts of an instance that outlive its processes: the data dir's keys and CA, and the
/// database with its logs (opened and verified against the keys, or created on a fresh dir).
/// What `serve` starts from and what `init` makes.
struct Core {
    dir: DataDir,
    database: DatabaseUrl,
    /// Whether this call created the instance.
    fresh: bool,
    ca: crate::ca::authorities::Authorities,
    /// The timestamp authority (created with the instance, or on the first start after it).
    tsa: Arc<crate::tsa::TimestampAuthority>,
    ca_source: CaSource,
    store: Store,
    issuance: Log<Store>,
    artifacts: Log<Store>,
    rekor_v2: Log<Store>,
}

/// Opens the instance in `config.data_dir`, or creates it there if the dir holds none of it.
async fn open_core(
    config: &ServeConfig,
    public_url: &PublicUrl,
    wrap_store: StoreWrap,
    wrap_signer: SignerWrap,
) -> Result<Core, ServerError> {
    let passphrase = ca_passphrase(config.ca_passphrase_file.as_deref())?;
    // Keys in an HSM are found (and a wrong PIN, module or label reported) before anything
    // is created.
    let hsm_keys = match (config.ca, &config.hsm) {
        (CaBackend::Pkcs11, Some(hsm)) => {
            let session = hsm.open()?;
            let keys = hsm.find_keys(&session)?;
            tracing::info!(token = %hsm.token_label, "found the CA and log keys in the HSM");
            Some((session, keys))
        }
        (CaBackend::Pkcs11, None) => return Err(ServerError::Ca(SetupError::NoHsm)),
        _ => None,
    };
    let dir = DataDir::new(&config.data_dir);
    let database = match &config.database_url {
        Some(url) => DatabaseUrl::parse(url)?,
        None => DatabaseUrl::sqlite(&dir.database()),
    };
    dir.create().map_err(|source| ServerError::DataDir {
        path: dir.root().to_owned(),
        source,
    })?;
    // What a complete instance has on disk: the log keys (or, when they live in an HSM,
    // their public halves), the CA's files, and the database file.
    let key_paths = match hsm_keys {
        Some(_) => dir.log_public_keys(),
        None => dir.log_keys(),
    };
    let ca_paths: Vec<PathBuf> = match config.ca {
        CaBackend::File => dir.ca_files().into(),
        CaBackend::Pkcs11 => dir.ca_certs().into(),
        CaBackend::Ephemeral => Vec::new(),
    };
    let db_file: Vec<&Path> = database.local_file().into_iter().collect();
    let expected = key_paths.len() + ca_paths.len() + db_file.len();
    let present: Vec<&Path> = key_paths
        .iter()
        .chain(&ca_paths)
        .map(PathBuf::as_path)
        .chain(db_file)
        .filter(|p| p.exists())
        .collect();
    let fresh = present.is_empty();
    if !fresh && present.len() != expected {
        // Only the database: most likely a replica started without the keys of the instance
        // that created it. Say so, naming who signed its logs, when it does hold logs.
        if let [only] = present.as_slice()
            && database.local_file() == Some(*only)
        {
            let store = Store::open(&database).await?;
            let refused = refuse_existing_logs(&store, &database).await;
            store.close().await;
            refused?;
        }
        return Err(ServerError::Inconsistent(format!(
            "{} holds only part of a Mayfly instance ({}); restore the missing files or start from an empty data dir \
             (a replica needs a copy of the whole data dir `mayfly init` made, keys and CA included)",
            dir.root().display(),
            present
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    // Issuance payloads hold a fresh random 159-bit serial, so they never repeat and the
    // dedup index would only cost a random B-tree write per certificate.
    let issuance_config = LogConfig {
        dedup: false,
        ..LogConfig::new("issuance", LogSlot::ISSUANCE, public_url.issuance_origin())
    };
    // The logs whose entries clients carry in bundles get a genesis entry at index 0 when they
    // are created, so no client entry is at index 0 (sigstore-js writes a bundle for it that
    // sigstore-python refuses; see `mayfly_spec::tlog::genesis`). Issuance entries are never
    // in a bundle (an SCT is not an index).
    let artifacts_config = LogConfig {
        genesis: true,
        ..LogConfig::new(
            "artifacts",
            LogSlot::ARTIFACTS,
            public_url.artifacts_origin(),
        )
    };

    let store = wrap_store(Store::open(&database).await?);
    if fresh {
        refuse_existing_logs(&store, &database).await?;
    }
    let (log_keys, rekor_v2_hsm_key, hsm_session) = match hsm_keys {
        Some((session, keys)) => {
            let log_keys = [
                LogKey::from_pkcs11(keys.issuance_log),
                LogKey::from_pkcs11(keys.artifact_log),
            ];
            if fresh {
                for (key, path) in log_keys.iter().zip(&key_paths) {
                    write_public_key(path, key)?;
                }
            }
            let rekor_v2 = LogKey::from_pkcs11(keys.rekor_v2_log);
            (log_keys, Some(rekor_v2), Some(session))
        }
        None if fresh => {
            let keys = [LogKey::generate()?, LogKey::generate()?];
            for (key, path) in keys.iter().zip(&key_paths) {
                key.write_new(path)?;
            }
            (keys, None, None)
        }
        None => (
            [LogKey::read(&key_paths[0])?, LogKey::read(&key_paths[1])?],
            None,
            None,
        ),
    };
    let [issuance_key, artifacts_key] = log_keys;
    let organization = match public_url.host() {
        "" => "mayfly",
        host => host,
    };
    let ca_source = CaSource {
        dir: dir.clone(),
        keys: match (&config.hsm, hsm_session) {
            (Some(hsm), Some(session)) => KeySource::Hsm {
                session,
                labels: hsm.labels.clone(),
            },
            _ if config.ca == CaBackend::Ephemeral => KeySource::Ephemeral,
            _ => KeySource::Files(passphrase.clone()),
        },
        organization: organization.to_owned(),
        wrap_signer,
    };
    let ca = ca_setup::open_or_create(&dir, ca_source.keys.keys(), organization, fresh)?
        .map_signer(&*ca_source.wrap_signer);
    // The TSA has its own files (see `tsa::setup`); a data dir made before it existed gets one
    // now, so this is not tied to `fresh`.
    let (tsa, tsa_created) = crate::tsa::setup::open_or_create(&dir, organization)?;
    if tsa_created && !fresh {
        tracing::info!(
            data_dir = %dir.root().display(),
            "this data dir had no timestamp authority: created one (key keys/tsa.key.pem, certificates ca/tsa.pem and ca/tsa-root.pem); clients must fetch the trusted root again to verify its timestamps"
        );
    }
    let issuance = start_log(
        &store,
        issuance_key,
        issuance_config,
        Arc::new(PrecertCodec),
        fresh,
    )
    .await?;
    let artifacts = start_log(
        &store,
        artifacts_key,
        artifacts_config,
        Arc::new(Verbatim),
        fresh,
    )
    .await?;
    let rekor_v2 = start_rekor_v2(
        &dir,
        &store,
        &database,
        LogConfig {
            genesis: true,
            ..LogConfig::new("rekor-v2", LogSlot::REKOR_V2, public_url.rekor_v2_origin())
        },
        rekor_v2_hsm_key,
        fresh,
    )
    .await?;
    if config.ca == CaBackend::File && passphrase.is_none() && fresh {
        tracing::warn!(
            "CA keys are stored unencrypted (owner-only files); set MAYFLY_CA_PASSPHRASE or --ca-passphrase-file to encrypt them"
        );
    }
    if config.ca == CaBackend::Ephemeral {
        tracing::warn!(
            "ephemeral CA: new root and intermediate on every start, nothing written; for tests and demos only"
        );
    }
    Ok(Core {
        dir,
        database,
        fresh,
        ca,
        tsa: Arc::new(tsa),
        ca_source,
        store,
        issuance,
        artifacts,
        rekor_v2,
    })
}

/// Opens the Rekor v2 log, creating it (and, with file keys, its key) when the database has
/// none: on a fresh instance, and on the first start of one made before the v2 log existed.
///
/// A database that holds the log while this data dir lacks its key is a replica whose data dir
/// predates the log: refused without writing anything, because a new key could not verify the
/// stored checkpoints. A key that did not sign them is refused by [`Log::open`].
async fn start_rekor_v2(
    dir: &DataDir,
    store: &Store,
    database: &DatabaseUrl,
    config: LogConfig,
    hsm_key: Option<LogKey>,
    fresh: bool,
) -> Result<Log<Store>, ServerError> {
    use crate::log::storage::LogStore;
    let stored = store.checkpoint(config.slot).await?;
    let (key, key_file) = match hsm_key {
        Some(key) => {
            let public = dir.rekor_v2_log_public_key();
            if !public.exists() {
                write_public_key(&public, &key)?;
            }
            (key, public)
        }
        None => {
            let path = dir.rekor_v2_log_key();
            match &stored {
                _ if path.exists() => (LogKey::read(&path)?, path),
                Some(head) => {
                    return Err(ServerError::Inconsistent(format!(
                        "the database {database} holds the Rekor v2 log (size {}, signed by {}) but                          {} is missing: copy it from the data dir that created the log (every                          replica needs the same keys; rerun `mayfly init` on the shared data dir                          and copy that to each replica)",
                        head.size,
                        crate::log::describe_signers(&head.note),
                        path.display()
                    )));
                }
                None => {
                    let key = LogKey::generate()?;
                    key.write_new(&path)?;
                    (key, path)
                }
            }
        }
    };
    let codec: Arc<dyn LeafCodec> = Arc::new(Verbatim);
    if stored.is_some() {
        return Ok(Log::open(store.clone(), key, config, codec).await?);
    }
    let origin = config.origin.clone();
    match Log::create(store.clone(), key.clone(), config.clone(), codec.clone()).await {
        Ok(log) => {
            if !fresh {
                tracing::info!(
                    origin = %origin,
                    log_id = %log.key().log_id(),
                    key = %key_file.display(),
                    "added the Rekor v2 log (a new shard with its own key) to this instance; \
                     replicas on the same database need a copy of this key file"
                );
            }
            Ok(log)
        }
        // Another replica created it first: open it, which refuses if its key is not ours.
        Err(LogError::Storage(e)) if matches!(*e, StoreError::Conflict) => {
            Ok(Log::open(store.clone(), key, config, codec).await?)
        }
        Err(e) => Err(e.into()),
    }
}

/// On a data dir without the instance's files, refuses a database that already holds logs:
/// new keys would not verify them, and creating logs over them is impossible. The way to add a
/// replica is to copy the data dir of the instance that created the database.
async fn refuse_existing_logs(store: &Store, database: &DatabaseUrl) -> Result<(), ServerError> {
    use crate::log::storage::LogStore;
    for (name, slot) in [
        ("issuance", LogSlot::ISSUANCE),
        ("artifacts", LogSlot::ARTIFACTS),
        ("rekor-v2", LogSlot::REKOR_V2),
    ] {
        if let Some(head) = store.checkpoint(slot).await? {
            return Err(ServerError::Inconsistent(format!(
                "the database {database} already holds a Mayfly instance (the {name} log, size {}, \
                 signed by {}) but this data dir holds none of its keys and CA files: give this replica \
                 a copy of the data dir of the instance that created the database, not new keys",
                head.size,
                crate::log::describe_signers(&head.note)
            )));
        }
    }
    Ok(())
}

/// A log key's public half, for `mayfly trust` on an instance whose keys live in an HSM. The
/// file is world-readable: it is public, and a key file is never overwritten.
fn write_public_key(path: &Path, key: &LogKey) -> Result<(), ServerError> {
    if path.exists() {
        return Err(ServerError::Key(KeyError::Exists {
            path: path.to_owned(),
        }));
    }
    std::fs::write(path, key.public_pem()).map_err(|source| ServerError::DataDir {
        path: path.to_owned(),
        source,
    })
}

/// Loads and validates the issuer config, or the shipped one when no file is given.
fn load_issuers(path: Option<&Path>) -> Result<IssuerConfig, ServerError> {
    let (shown, loaded) = match path {
        Some(path) => (path.display().to_string(), IssuerConfig::load(path)),
        None => (
            "(shipped ca-config/issuers.yaml)".to_owned(),
            IssuerConfig::shipped(),
        ),
    };
    let config = loaded.map_err(|source| ServerError::Issuers {
        path: shown.clone(),
        source,
    })?;
    tracing::info!(
        issuers = %shown,
        exact = config.issuers().count(),
        meta = config.meta_issuers().count(),
        "loaded OIDC issuer configuration"
    );
    Ok(config)
}

/// Creates the log on a fresh instance, otherwise opens (and verifies) the stored one.
async fn start_log(
    store: &Store,
    key: LogKey,
    config: LogConfig,
    codec: Arc<dyn LeafCodec>,
    fresh: bool,
) -> Result<Log<Store>, LogError> {
    if fresh {
        Log::create(store.clone(), key, config, codec).await
    } else {
        Log::open(store.clone(), key, config, codec).await
    }
}

/// The CA key passphrase: from the file if one is named, else `MAYFLY_CA_PASSPHRASE`.
fn ca_passphrase(file: Option<&Path>) -> Result<Option<Passphrase>, ServerError> {
    match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ServerError::DataDir {
                path: path.to_owned(),
                source,
            })?;
            Passphrase::new(&text).map(Some).ok_or_else(|| {
                ServerError::Config(format!(
                    "--ca-passphrase-file {}: file is empty",
                    path.display()
                ))
            })
        }
        None => Ok(std::env::var("MAYFLY_CA_PASSPHRASE")
            .ok()
            .and_then(|text| Passphrase::new(&text))),
    }
}

/// The built-in issuer, when `--dev-issuer` is on.
fn new_dev_issuer(public_url: &PublicUrl) -> Result<DevIssuer, ServerError> {
    let url = public_url.dev_issuer_url();
    let dev =
        DevIssuer::generate(&url).map_err(|e| ServerError::Config(format!("--dev-issuer: {e}")))?;
    tracing::warn!(
        issuer = %url,
        "--dev-issuer is ON: anyone who can reach {url}/token can get certificates for any GitHub identity. Never use this in production."
    );
    Ok(dev)
}

/// Reads and checks what can be reloaded: the issuer config (with the dev issuer added when
/// on), the token verifier for it, and the issuance policy against those issuers. Fails
/// without side effects, so a reload can keep the old settings.
pub fn load_settings(
    config: &ServeConfig,
    dev: Option<&DevIssuer>,
) -> Result<Settings, ServerError> {
    let mut issuers = load_issuers(config.issuers.as_deref())?;
    if let Some(dev) = dev {
        issuers
            .add_dev_issuer(dev.issuer_url())
            .map_err(|source| ServerError::Issuers {
                path: "--dev-issuer".to_owned(),
                source,
            })?;
    }
    let policy = match &config.policy {
        Some(path) => Some(Arc::new(load_policy(path, &issuers)?)),
        None => None,
    };
    let issuers = Arc::new(issuers);
    let mut tokens = TokenVerifier::new(issuers.clone())?;
    if let Some(dev) = dev {
        tokens = tokens.with_static_keys(dev.issuer_url(), dev.jwks());
    }
    Ok(Settings {
        issuers,
        tokens,
        policy,
    })
}

/// Loads and checks an issuance policy: every rule's issuer must be configured.
pub fn load_policy(path: &Path, issuers: &IssuerConfig) -> Result<Policy, ServerError> {
    let text = std::fs::read_to_string(path).map_err(|source| ServerError::DataDir {
        path: path.to_owned(),
        source,
    })?;
    let known = |url: &str| {
        issuers.issuers().any(|(u, _)| u == url) || issuers.meta_issuers().any(|(p, _)| p == url)
    };
    let policy =
        Policy::from_yaml_or_json(&text, &known).map_err(|source| ServerError::Policy {
            path: path.display().to_string(),
            source,
        })?;
    tracing::info!(policy = %path.display(), rules = policy.len(), "loaded issuance policy");
    Ok(policy)
}

/// A limiter for `rate`, remembering at most this many keys (identities or client addresses):
/// a few MB, and an attacker with more distinct keys only evicts idle, refilled ones first.
fn rate_limiter(rate: Rate) -> RateLimiter {
    const KEYS: NonZeroUsize = NonZeroUsize::new(100_000).expect("non-zero");
    RateLimiter::new(rate, KEYS)
}

/// Serves until `shutdown` resolves, then drains: stop accepting requests, let in-flight
/// requests finish (stalled connections are closed after the limits' grace period), commit
/// the logs' pending batches, close the database.
pub async fn serve(
    listener: TcpListener,
    instance: Instance,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let router = api::router(instance.state.clone());
    listener::serve(listener, router, instance.limits, shutdown).await?;
    instance.close().await;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// How often unscraped histogram samples are folded into their summaries.
const METRICS_UPKEEP: std::time::Duration = std::time::Duration::from_secs(5);

/// `mayfly serve`: open the instance, listen, serve until Ctrl-C or SIGTERM.
pub async fn run(config: ServeConfig) -> Result<(), ServerError> {
    // Handlers first: a SIGTERM that arrives while the instance opens (a supervisor stopping a
    // slow start) must lead to a clean exit once serving begins, not the default kill.
    let shutdown = shutdown_signal()?;
    // Connections must run out before descriptors do: raise the soft limit as far as the hard
    // limit allows, then size the connection caps (unless given) below it.
    match listener::raise_nofile_limit() {
        Ok((before, after)) if after > before => {
            tracing::info!(before, after, "raised the open-file limit")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
    let metrics = crate::api::install_metrics_recorder().ok();
    listener::describe_metrics();
    if let Some(handle) = metrics.clone() {
        // Histogram samples pile up in the recorder until something drains them. Scrapes do,
        // but a server nobody scrapes would grow by every batch's samples, forever: drain on a
        // timer, as the exporter's own upkeep task would.
        tokio::spawn(async move {
            let mut every = tokio::time::interval(METRICS_UPKEEP);
            loop {
                every.tick().await;
                handle.run_upkeep();
            }
        });
    }
    let instance = Instance::open(&config, metrics).await?;
    reload_on_signal(instance.reloader())?;
    if config.watch_config {
        watch_config(instance.reloader());
    }
    tracing::info!(
        max_connections = instance.limits.max_connections,
        max_connections_per_client = instance.limits.max_connections_per_ip,
        header_timeout = %listener::format_duration(instance.limits.header_read_timeout),
        body_timeout = %listener::format_duration(instance.limits.body_read_timeout),
        idle_timeout = %listener::format_duration(instance.limits.keep_alive_idle_timeout),
        "connection limits"
    );
    let listener = listener::bind(config.listen).map_err(|source| ServerError::Listen {
        addr: config.listen,
        source,
    })?;
    tracing::info!(addr = %listener.local_addr()?, public_url = %config.public_url, "listening");
    serve(listener, instance, shutdown).await
}

/// Reloads on every SIGHUP, for as long as the process runs.
#[cfg(unix)]
fn reload_on_signal(reloader: Reloader) -> Result<(), ServerError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup()).map_err(ServerError::Signal)?;
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the issuer configuration and policy");
            let _ = reloader.reload();
        }
    });
    Ok(())
}

#[cfg(not(unix))]
fn reload_on_signal(_: Reloader) -> Result<(), ServerError> {
    Ok(())
}

/// Reloads when a watched file's modification time or size changes; polled once a second,
/// which needs no platform file-notification API and costs two `stat`s.
fn watch_config(reloader: Reloader) {
    let files = reloader.watched();
    let stamp = move || -> Vec<Option<(std::time::SystemTime, u64)>> {
        files
            .iter()
            .map(|f| {
                let meta = std::fs::metadata(f).ok()?;
                Some((meta.modified().ok()?, meta.len()))
            })
            .collect()
    };
    tokio::spawn(async move {
        let mut last = stamp();
        let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            every.tick().await;
            let now = stamp();
            if now != last {
                last = now;
                tracing::info!("configuration file changed: reloading");
                let _ = reloader.reload();
            }
        }
    });
}

/// Registers SIGINT (Ctrl-C) and SIGTERM now; the returned future completes on the first.
#[cfg(unix)]
fn shutdown_signal() -> Result<impl Future<Output = ()>, ServerError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).map_err(ServerError::Signal)?;
    let mut terminate = signal(SignalKind::terminate()).map_err(ServerError::Signal)?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        tracing::info!("shutdown requested; finishing in-flight work");
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> Result<impl Future<Output = ()>, ServerError> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown requested; finishing in-flight work");
    })
}

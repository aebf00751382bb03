//! Wiring: the data dir, keys, database and logs behind one HTTP listener.
//!
//! First start (empty data dir): creates the dir owner-only, generates both log keys, creates
//! the database and both logs, and says so. Later starts: load the keys and refuse to run if
//! the stored checkpoints were not signed by them, or if only part of an instance is present.

use crate::api::{self, AppState};
use crate::identity::{IssuerConfig, IssuerConfigError};
use crate::keys::{KeyError, LogKey};
use crate::log::store::LogSlot;
use crate::log::store::StoreError;
use crate::log::{Log, LogConfig, LogError, Verbatim};
use crate::store::{SqliteStore, Store};
use std::future::Future;
use std::net::SocketAddr;
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
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0}")]
    Config(String),
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
    #[error(transparent)]
    Key(#[from] KeyError),
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

const ISSUANCE_KEY: &str = "keys/issuance-log.key.pem";
const ARTIFACTS_KEY: &str = "keys/artifact-log.key.pem";
const DATABASE_FILE: &str = "mayfly.db";

/// Checkpoint origins (and note key names) for both logs. The artifact log's origin is the
/// scheme-less public URL because sigstore-js matches the checkpoint key name against the
/// trusted root's tlog `baseUrl`, which is the Rekor API base, i.e. the public URL itself.
pub fn origins(public_url: &url::Url) -> Result<(String, String), ServerError> {
    let host = public_url
        .host_str()
        .ok_or_else(|| ServerError::Config(format!("--public-url {public_url} has no host")))?;
    let mut base = match public_url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    base.push_str(public_url.path().trim_end_matches('/'));
    Ok((format!("{base}/logs/issuance"), base))
}

/// The running service's parts, ready to serve.
pub struct Instance {
    pub state: api::SharedState,
    pub store: Store,
}

impl Instance {
    /// Opens or creates the instance in `config.data_dir`.
    pub async fn open(
        config: &ServeConfig,
        metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    ) -> Result<Self, ServerError> {
        if !matches!(config.public_url.scheme(), "http" | "https") {
            return Err(ServerError::Config(format!(
                "--public-url must be http:// or https://, not {}",
                config.public_url
            )));
        }
        // The issuer config is checked before anything is created: a typo must not leave a
        // half-initialised data dir behind.
        let issuers = Arc::new(load_issuers(config.issuers.as_deref())?);
        let dir = &config.data_dir;
        create_private_dir(dir)?;
        create_private_dir(&dir.join("keys"))?;
        let db_path = match &config.database_url {
            Some(url) => PathBuf::from(
                url.strip_prefix("sqlite://")
                    .or_else(|| url.strip_prefix("sqlite:"))
                    .ok_or_else(|| {
                        ServerError::Config(format!(
                            "--database-url {url}: only sqlite:// URLs are supported by this build"
                        ))
                    })?,
            ),
            None => dir.join(DATABASE_FILE),
        };
        let key_paths = [dir.join(ISSUANCE_KEY), dir.join(ARTIFACTS_KEY)];
        let present: Vec<&Path> = key_paths
            .iter()
            .map(PathBuf::as_path)
            .chain([db_path.as_path()])
            .filter(|p| p.exists())
            .collect();
        let fresh = present.is_empty();
        if !fresh && present.len() != 3 {
            return Err(ServerError::Inconsistent(format!(
                "{} holds only part of a Mayfly instance ({}); restore the missing files or start from an empty data dir",
                dir.display(),
                present
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let (issuance_origin, artifacts_origin) = origins(&config.public_url)?;
        let issuance_config = LogConfig::new("issuance", LogSlot::ISSUANCE, issuance_origin);
        let artifacts_config = LogConfig::new("artifacts", LogSlot::ARTIFACTS, artifacts_origin);

        let [issuance_key, artifacts_key] = if fresh {
            let keys = [LogKey::generate(), LogKey::generate()];
            for (key, path) in keys.iter().zip(&key_paths) {
                key.write_new(path)?;
            }
            keys
        } else {
            [LogKey::read(&key_paths[0])?, LogKey::read(&key_paths[1])?]
        };
        let store = SqliteStore::open(&db_path).await?;
        let issuance = start_log(&store, issuance_key, issuance_config, fresh).await?;
        let artifacts = start_log(&store, artifacts_key, artifacts_config, fresh).await?;
        if fresh {
            tracing::info!(
                data_dir = %dir.display(),
                database = %db_path.display(),
                issuance_log_id = %issuance.key().log_id(),
                artifact_log_id = %artifacts.key().log_id(),
                "created a new Mayfly instance: fresh log keys (owner-only files) and an empty database"
            );
        } else {
            tracing::info!(
                data_dir = %dir.display(),
                issuance_size = issuance.checkpoint().size,
                artifacts_size = artifacts.checkpoint().size,
                "opened existing Mayfly instance"
            );
        }
        Ok(Instance {
            state: Arc::new(AppState {
                issuance,
                artifacts,
                issuers,
                metrics,
            }),
            store,
        })
    }

    /// Finishes the batches in flight and closes the database.
    pub async fn close(&self) {
        self.state.issuance.close().await;
        self.state.artifacts.close().await;
        self.store.close().await;
    }
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
    fresh: bool,
) -> Result<Log<Store>, LogError> {
    if fresh {
        Log::create(store.clone(), key, config, Arc::new(Verbatim)).await
    } else {
        Log::open(store.clone(), key, config, Arc::new(Verbatim)).await
    }
}

/// Serves until `shutdown` resolves, then drains: stop accepting requests, let in-flight
/// requests finish, commit the logs' pending batches, close the database.
pub async fn serve(
    listener: TcpListener,
    instance: Instance,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let router = api::router(instance.state.clone());
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await?;
    instance.close().await;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// `mayfly serve`: open the instance, listen, serve until Ctrl-C or SIGTERM.
pub async fn run(config: ServeConfig) -> Result<(), ServerError> {
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .ok();
    let instance = Instance::open(&config, metrics).await?;
    let listener =
        TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServerError::Listen {
                addr: config.listen,
                source,
            })?;
    // Handlers are registered before "listening" is announced: a supervisor (or test) that
    // sends SIGTERM as soon as it sees that line must get a drain, not the default kill.
    let shutdown = shutdown_signal()?;
    tracing::info!(addr = %listener.local_addr()?, public_url = %config.public_url, "listening");
    serve(listener, instance, shutdown).await
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

/// Creates `dir` (and parents) if missing, owner-only, since it will hold private keys.
fn create_private_dir(dir: &Path) -> Result<(), ServerError> {
    let err = |source| ServerError::DataDir {
        path: dir.to_owned(),
        source,
    };
    if dir.exists() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_less_and_distinct() {
        let url = url::Url::parse("https://mayfly.example.com/").unwrap();
        assert_eq!(
            origins(&url).unwrap(),
            (
                "mayfly.example.com/logs/issuance".into(),
                "mayfly.example.com".into()
            )
        );
        let url = url::Url::parse("http://127.0.0.1:8700/sigstore/").unwrap();
        assert_eq!(origins(&url).unwrap().1, "127.0.0.1:8700/sigstore");
    }
}

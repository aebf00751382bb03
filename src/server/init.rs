//! `mayfly init`: an instance's keys, CA, database schema and its logs' first checkpoints,
//! made without serving, so every replica can start from a copy of one data dir.

use super::{Core, ServeConfig, ServerError, open_core};
use crate::ca::setup::CaBackend;
use crate::instance::PublicUrl;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

/// What `mayfly init` is given: the instance's identity and where its keys and database live,
/// as `serve` takes them.
#[derive(Clone, Debug)]
pub struct InitConfig {
    pub data_dir: PathBuf,
    pub public_url: url::Url,
    pub database_url: Option<String>,
    /// `file` or `pkcs11`; an ephemeral CA leaves nothing for replicas to share.
    pub ca: CaBackend,
    pub ca_passphrase_file: Option<PathBuf>,
    pub hsm: Option<crate::hsm::HsmSettings>,
}

/// What `init` found or made.
#[derive(Clone, Debug)]
pub struct Initialized {
    /// False when the data dir and database already held this instance (nothing was written,
    /// unless `added_rekor_v2`).
    pub created: bool,
    /// An instance made before the Rekor v2 log existed: this run added the log and its key,
    /// which every replica's data dir now needs.
    pub added_rekor_v2: bool,
    pub data_dir: PathBuf,
    pub database: String,
    pub ca_backend: &'static str,
    pub logs: Vec<InitializedLog>,
}

#[derive(Clone, Debug)]
pub struct InitializedLog {
    pub name: &'static str,
    pub origin: String,
    pub key_id: u32,
    pub log_id: String,
    pub size: u64,
}

impl fmt::Display for Initialized {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.created {
            writeln!(
                f,
                "created a Mayfly instance in {} (CA: {}; database: {})",
                self.data_dir.display(),
                self.ca_backend,
                self.database
            )?;
        } else if self.added_rekor_v2 {
            writeln!(
                f,
                "{} already held this Mayfly instance; added its Rekor v2 log (a new shard with its own key): \
                 copy the data dir to every replica again, or they refuse to start (CA: {}; database: {})",
                self.data_dir.display(),
                self.ca_backend,
                self.database
            )?;
        } else {
            writeln!(
                f,
                "{} already holds this Mayfly instance and the database agrees with its keys; nothing written (CA: {}; database: {})",
                self.data_dir.display(),
                self.ca_backend,
                self.database
            )?;
        }
        for log in &self.logs {
            writeln!(
                f,
                "  {} log: origin {}, key ID {:08x}, log ID {}, size {}",
                log.name, log.origin, log.key_id, log.log_id, log.size
            )?;
        }
        write!(
            f,
            "start each replica with `mayfly serve` on a copy of {} (or the same keys from a \
             Secret or the HSM), the same --public-url and the same --database-url",
            self.data_dir.display()
        )
    }
}

/// Creates the instance (keys, CA, schema, the logs with signed checkpoints: issuance at size 0,
/// artifact and Rekor v2 at size 1, holding their genesis entries), or,
/// if the data dir and database already hold it, checks that they agree and changes nothing:
/// running it again, as an init container does on every start, is safe. Anything else (part of
/// an instance, keys that did not sign the database's checkpoints) is refused as `serve`
/// refuses it.
pub async fn init(config: &InitConfig) -> Result<Initialized, ServerError> {
    if config.ca == CaBackend::Ephemeral {
        return Err(ServerError::Config(
            "--ca ephemeral keeps no CA to share between replicas; `mayfly init` takes file or pkcs11"
                .to_owned(),
        ));
    }
    crate::install_crypto_provider();
    let public_url = PublicUrl::new(config.public_url.clone())?;
    let serve = ServeConfig {
        database_url: config.database_url.clone(),
        ca: config.ca,
        ca_passphrase_file: config.ca_passphrase_file.clone(),
        hsm: config.hsm.clone(),
        ..ServeConfig::new(
            SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            &config.data_dir,
            config.public_url.clone(),
        )
    };
    // The v2 log is the one part an existing instance can lack (made before it existed).
    let had_rekor_v2 = {
        let dir = crate::instance::DataDir::new(&config.data_dir);
        dir.rekor_v2_log_key().exists() || dir.rekor_v2_log_public_key().exists()
    };
    let Core {
        dir,
        database,
        fresh,
        ca,
        store,
        issuance,
        artifacts,
        rekor_v2,
        ..
    } = open_core(&serve, &public_url, Box::new(|s| s), Arc::new(|s| s)).await?;
    let logs = [&issuance, &artifacts, &rekor_v2]
        .into_iter()
        .map(|log| InitializedLog {
            name: log.config().name,
            origin: log.config().origin.clone(),
            key_id: log.key().key_id(),
            log_id: log.key().log_id().to_string(),
            size: log.checkpoint().size,
        })
        .collect();
    issuance.close().await;
    artifacts.close().await;
    rekor_v2.close().await;
    store.close().await;
    Ok(Initialized {
        created: fresh,
        added_rekor_v2: !fresh && !had_rekor_v2,
        data_dir: dir.root().to_owned(),
        database: database.to_string(),
        ca_backend: ca.backend(),
        logs,
    })
}

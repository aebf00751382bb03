//! The watcher's one error type. Log misbehaviour (fork, rollback, bad signature) gets its own
//! variants, each naming the checkpoints involved, so an operator can hand them to the log's
//! operator or to other monitors as evidence.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("{0}")]
    Usage(String),
    #[error("trusted root: {0}")]
    TrustedRoot(String),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state file {path}: {why}")]
    State { path: PathBuf, why: String },
    #[error("GET {url}: {why}")]
    Fetch { url: String, why: String },
    /// The log served something that does not match its own signed checkpoint (tiles or
    /// entries that do not hash to it, malformed tiles).
    #[error("{log} log: {why}")]
    Log { log: &'static str, why: String },
    #[error(
        "{log} log: the served checkpoint's signature does not verify under the trusted root's key: {why}\n--- served checkpoint ---\n{served}"
    )]
    BadSignature {
        log: &'static str,
        why: String,
        served: String,
    },
    #[error(
        "{log} log FORKED: {why}\n--- stored checkpoint (from the state file) ---\n{stored}--- served checkpoint ---\n{served}"
    )]
    Fork {
        log: &'static str,
        why: String,
        stored: String,
        served: String,
    },
    #[error(
        "{log} log ROLLED BACK: the served checkpoint has {served_size} entries, fewer than the {stored_size} of the stored one\n--- stored checkpoint (from the state file) ---\n{stored}--- served checkpoint ---\n{served}"
    )]
    Rollback {
        log: &'static str,
        stored_size: u64,
        served_size: u64,
        stored: String,
        served: String,
    },
    #[error("cannot print a match: {0} (the state file was not advanced past it)")]
    Stdout(std::io::Error),
    #[error("webhook {url}: {why} (the state file was not advanced past this match)")]
    Webhook { url: String, why: String },
}

impl WatchError {
    /// Whether the log itself misbehaved (as opposed to the watcher's surroundings failing).
    pub fn is_log_misbehaviour(&self) -> bool {
        matches!(
            self,
            WatchError::Fork { .. } | WatchError::Rollback { .. } | WatchError::BadSignature { .. }
        )
    }
}

//! `mayfly audit watch`: follows both logs of a Mayfly through their signed checkpoints and
//! tiles only, and reports every entry that matches a watch list.
//!
//! Trust comes from the instance's trusted root (fetched from `/trust/trusted_root.json`, or a
//! pinned file) and from the state file: each run checks the served checkpoints against the
//! stored ones, so a fork, a rollback or a checkpoint under another key stops the watcher with
//! an error naming both checkpoints. Matches are printed as JSON lines and POSTed to a webhook;
//! the state advances only past batches whose matches were all delivered (at least once).

mod decode;
mod error;
mod follow;
mod report;
mod state;
mod tiles;
mod trust;

pub use error::WatchError;
pub use report::Match;

use follow::{Context, follow};
use report::{Filters, Webhook};
use state::StateFile;
use std::path::PathBuf;
use std::time::Duration;
use tiles::LogReader;

/// Largest trusted root accepted from a server.
const MAX_TRUSTED_ROOT: usize = 1 << 20;

/// What `mayfly audit watch` was asked to do.
#[derive(Clone, Debug)]
pub struct WatchOptions {
    pub server: url::Url,
    pub state: PathBuf,
    /// `owner/name` or a full source repository URI (Fulcio `.12`).
    pub repositories: Vec<String>,
    /// Regexes the whole SAN must match.
    pub identity_regexps: Vec<String>,
    pub webhook: Option<url::Url>,
    /// A trusted root to use instead of the server's `/trust/trusted_root.json`.
    pub trusted_root: Option<PathBuf>,
    /// Print matches on stdout as JSON lines (the command line does). When false they are
    /// returned in [`Summary::matches`] instead; printing keeps memory flat however many
    /// entries match.
    pub print: bool,
    /// Pause between polls.
    pub interval: Duration,
    /// Pauses between webhook attempts (attempts = pauses + 1).
    pub webhook_pauses: Vec<Duration>,
}

impl WatchOptions {
    /// Every entry, no webhook, printing, polling every 10 s, webhook retries after 1, 2, 4
    /// and 8 s.
    pub fn new(server: url::Url, state: PathBuf) -> Self {
        WatchOptions {
            server,
            state,
            repositories: Vec::new(),
            identity_regexps: Vec::new(),
            webhook: None,
            trusted_root: None,
            print: true,
            interval: Duration::from_secs(10),
            webhook_pauses: [1, 2, 4, 8].map(Duration::from_secs).to_vec(),
        }
    }
}

/// What one pass over both logs found.
#[derive(Debug, Default)]
pub struct Summary {
    /// New entries checked, over both logs.
    pub entries: u64,
    /// Matches found, in log order (only when not printing, see [`WatchOptions::print`]).
    pub matches: Vec<Match>,
    /// Checkpoint sizes reached: [issuance, artifacts].
    pub sizes: [u64; 2],
}

/// One pass: both logs up to their current checkpoints (`--once`).
pub async fn watch_once(options: &WatchOptions) -> Result<Summary, WatchError> {
    Watcher::new(options).await?.pass().await
}

/// Passes every `interval` until an error. A server that cannot be reached is retried at the
/// next poll; anything the logs did wrong, a state that cannot be written or a webhook that
/// stays down ends the watch.
pub async fn watch(options: &WatchOptions) -> Result<(), WatchError> {
    let mut watcher = Watcher::new(options).await?;
    loop {
        match watcher.pass().await {
            Ok(_) => {}
            Err(e @ WatchError::Fetch { .. }) => {
                use std::io::Write as _;
                let _ = writeln!(std::io::stderr(), "warning: {e}; retrying");
            }
            Err(e) => return Err(e),
        }
        tokio::time::sleep(options.interval).await;
    }
}

struct Watcher<'a> {
    options: &'a WatchOptions,
    logs: [(trust::LogTrust, LogReader); 2],
    filters: Filters,
    webhook: Option<Webhook>,
    state: StateFile,
}

impl<'a> Watcher<'a> {
    async fn new(options: &'a WatchOptions) -> Result<Self, WatchError> {
        let filters = Filters::new(&options.repositories, &options.identity_regexps)?;
        let http = crate::net::https_client("mayfly-audit")
            .map_err(|e| WatchError::Usage(format!("HTTP client: {e}")))?;
        let root = match &options.trusted_root {
            Some(path) => std::fs::read(path).map_err(|source| WatchError::Read {
                path: path.clone(),
                source,
            })?,
            None => {
                let url = format!(
                    "{}/trust/trusted_root.json",
                    options.server.as_str().trim_end_matches('/')
                );
                tiles::fetch(&http, &url, MAX_TRUSTED_ROOT).await?
            }
        };
        let [issuance, artifacts] = trust::logs_from_root(&root)?;
        let reader = |name| LogReader::new(name, http.clone(), &options.server);
        let logs = [
            (issuance, reader("issuance")),
            (artifacts, reader("artifacts")),
        ];
        let webhook = options
            .webhook
            .clone()
            .map(|url| Webhook::new(http.clone(), url, options.webhook_pauses.clone()));
        Ok(Watcher {
            options,
            logs,
            filters,
            webhook,
            state: StateFile::load(&options.state)?,
        })
    }

    async fn pass(&mut self) -> Result<Summary, WatchError> {
        let mut summary = Summary::default();
        for (i, (trust, reader)) in self.logs.iter_mut().enumerate() {
            let mut cx = Context {
                filters: &self.filters,
                webhook: self.webhook.as_ref(),
                state: &mut self.state,
                print: self.options.print,
            };
            let outcome = follow(trust, reader, &mut cx).await?;
            summary.entries += outcome.entries;
            summary.matches.extend(outcome.matches);
            if let Some(size) = summary.sizes.get_mut(i) {
                *size = outcome.size;
            }
        }
        Ok(summary)
    }
}

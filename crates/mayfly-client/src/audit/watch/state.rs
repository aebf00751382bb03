//! The state file: per log, how far the watcher has processed (size and root of that prefix)
//! and the last signed checkpoint it verified (size ≥ the processed size while catching up).
//!
//! Written atomically (a temporary file beside it, synced, then renamed over it) after every
//! processed batch, so a crash or kill leaves either the old state or the new one, and a
//! restart neither repeats a reported batch nor skips one.

use super::WatchError;
use mayfly_spec::tlog::Hash;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

const VERSION: u32 = 1;

/// One log's progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct LogState {
    /// Entries `[0, size)` have been checked and reported.
    pub(crate) size: u64,
    /// Hex RFC 6962 root of those entries.
    pub(crate) root_hash: String,
    /// The latest verified signed checkpoint (the note, verbatim).
    pub(crate) checkpoint: String,
}

impl LogState {
    pub(crate) fn root(&self) -> Option<Hash> {
        Hash::from_hex(&self.root_hash)
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    version: u32,
    logs: BTreeMap<String, LogState>,
}

pub(crate) struct StateFile {
    path: PathBuf,
    doc: Document,
    /// An exclusive lock on `<state>.lock`, held while this watcher runs: two watchers
    /// writing one state file would each skip what the other reported.
    _lock: std::fs::File,
}

impl StateFile {
    /// Reads the state, or starts empty if the file does not exist. A file that exists but
    /// does not parse is an error: overwriting it would forget what was already reported.
    pub(crate) fn load(path: &Path) -> Result<Self, WatchError> {
        let err = |why: String| WatchError::State {
            path: path.to_owned(),
            why,
        };
        let lock = lock(path).map_err(err)?;
        let doc = match std::fs::read(path) {
            Ok(bytes) => {
                let doc: Document = serde_json::from_slice(&bytes)
                    .map_err(|e| err(format!("not a watcher state: {e}")))?;
                if doc.version != VERSION {
                    return Err(err(format!("unsupported version {}", doc.version)));
                }
                doc
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Document {
                version: VERSION,
                logs: BTreeMap::new(),
            },
            Err(e) => return Err(err(e.to_string())),
        };
        Ok(StateFile {
            path: path.to_owned(),
            doc,
            _lock: lock,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn log(&self, name: &str) -> Option<&LogState> {
        self.doc.logs.get(name)
    }

    /// Records `state` for `name` and writes the whole file atomically.
    pub(crate) fn store(&mut self, name: &str, state: LogState) -> Result<(), WatchError> {
        self.doc.logs.insert(name.to_owned(), state);
        self.save()
    }

    fn save(&self) -> Result<(), WatchError> {
        let err = |why: String| WatchError::State {
            path: self.path.clone(),
            why,
        };
        let mut bytes = serde_json::to_vec_pretty(&self.doc).map_err(|e| err(e.to_string()))?;
        bytes.push(b'\n');
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            // The rename is durable once the directory is; not every platform lets a
            // directory be opened for that, and the rename itself already happened.
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty())
                && let Ok(dir) = std::fs::File::open(dir)
            {
                let _ = dir.sync_all();
            }
            Ok(())
        };
        write().map_err(|e| err(format!("cannot write: {e}")))
    }
}

/// Takes the state's lock file, or says that another watcher holds it.
fn lock(path: &Path) -> Result<std::fs::File, String> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&name)
        .map_err(|e| format!("cannot open its lock file: {e}"))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err("another watcher is using this state file".to_owned())
        }
        Err(std::fs::TryLockError::Error(e)) => Err(format!("cannot lock it: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut state = StateFile::load(&path).unwrap();
        assert!(state.log("issuance").is_none());
        let log = LogState {
            size: 3,
            root_hash: "ab".repeat(32),
            checkpoint: "origin\n3\nroot\n\n— sig\n".into(),
        };
        state.store("issuance", log.clone()).unwrap();
        drop(state);
        let again = StateFile::load(&path).unwrap();
        assert_eq!(again.log("issuance"), Some(&log));
        assert!(!dir.path().join("state.json.tmp").exists());

        // One watcher per state file.
        let busy = StateFile::load(&path).err().map(|e| e.to_string());
        assert!(busy.is_some_and(|e| e.contains("another watcher")));
        drop(again);

        std::fs::write(&path, b"{not json").unwrap();
        assert!(StateFile::load(&path).is_err());
    }
}

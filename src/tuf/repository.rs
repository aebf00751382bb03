//! The TUF repository of a data dir: keys, metadata and target files on disk.
//!
//! Layout (names from [`crate::instance::DataDir`]): `tuf/repository/` is what `/tuf/` serves
//! (`N.root.json`, `N.targets.json`, `N.snapshot.json`, `timestamp.json`,
//! `targets/<sha256>.<name>`); the snapshot and timestamp keys (online: they are re-signed
//! unattended) live in `tuf/keys/`; the root and targets keys live in the offline key dir,
//! `tuf/keys/` unless `--offline-key-dir` puts them elsewhere (e.g. removable media).
//!
//! Every change writes the new versioned files first and `timestamp.json` last, each through
//! a rename, so a client never sees a timestamp naming a snapshot that is not there yet.
//! Older versions stay: a client mid-update may still fetch them.

use super::{
    RoleKeys, TufError, TufKey, format_expiry, parse_expiry, root_signed, sign, snapshot_signed,
    targets_signed, timestamp_signed,
};
use crate::instance::{DataDir, PublicUrl};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

/// How long each role's metadata stays valid after it is signed.
#[derive(Debug, Clone, Copy)]
pub struct Expiries {
    pub root: Duration,
    pub targets: Duration,
    pub snapshot: Duration,
    pub timestamp: Duration,
}

impl Default for Expiries {
    /// Root a year (offline key, rare ceremony), targets half a year (offline key, re-signed
    /// at each trust change), snapshot a week and timestamp a day (online keys, re-signed by
    /// `mayfly tuf update --timestamp-only` before half their validity is gone).
    fn default() -> Self {
        Expiries {
            root: Duration::days(365),
            targets: Duration::days(180),
            snapshot: Duration::days(7),
            timestamp: Duration::days(1),
        }
    }
}

/// Where the role keys are.
pub struct KeyDirs {
    /// Snapshot and timestamp keys.
    pub online: PathBuf,
    /// Root and targets keys.
    pub offline: PathBuf,
}

impl KeyDirs {
    pub fn new(data_dir: &DataDir, offline: Option<&Path>) -> Self {
        let online = data_dir.tuf_keys();
        KeyDirs {
            offline: offline.map_or_else(|| online.clone(), Path::to_owned),
            online,
        }
    }

    fn root(&self) -> PathBuf {
        self.offline.join("root.pk8")
    }
    fn targets(&self) -> PathBuf {
        self.offline.join("targets.pk8")
    }
    fn snapshot(&self) -> PathBuf {
        self.online.join("snapshot.pk8")
    }
    fn timestamp(&self) -> PathBuf {
        self.online.join("timestamp.pk8")
    }
}

/// The targets a repository publishes: `(name, bytes)`.
pub type Targets<'a> = [(&'a str, &'a [u8])];

/// Whether [`publish_trust`] creates the repository or adds a version to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publish {
    Init,
    Update,
}

/// `mayfly tuf init` / `update`: the trust documents `mayfly trust` builds for this data dir
/// and public URL, published as the repository's targets.
pub fn publish_trust(
    data_dir: &DataDir,
    keys: &KeyDirs,
    public_url: &PublicUrl,
    dev_issuer: bool,
    mode: Publish,
    now: OffsetDateTime,
    expiries: &Expiries,
) -> Result<Vec<PathBuf>, TufError> {
    let documents = crate::trust::datadir::from_data_dir(data_dir, public_url, dev_issuer)?;
    let owned = super::trust_targets(&documents);
    let targets: Vec<(&str, &[u8])> = owned.iter().map(|(n, b)| (*n, b.as_slice())).collect();
    match mode {
        Publish::Init => init(data_dir, keys, &targets, now, expiries),
        Publish::Update => update(data_dir, keys, &targets, now, expiries),
    }
}

/// Creates the repository: four fresh keys and version 1 of every role. Refuses, writing
/// nothing, if a repository or any of the keys already exists.
pub fn init(
    data_dir: &DataDir,
    keys: &KeyDirs,
    targets: &Targets<'_>,
    now: OffsetDateTime,
    expiries: &Expiries,
) -> Result<Vec<PathBuf>, TufError> {
    let repo = data_dir.tuf_repository();
    if latest_root_version(&repo)?.is_some() {
        return Err(TufError::Exists(repo.display().to_string()));
    }
    let key_paths = [
        keys.root(),
        keys.targets(),
        keys.snapshot(),
        keys.timestamp(),
    ];
    if let Some(existing) = key_paths.iter().find(|p| p.exists()) {
        return Err(TufError::Exists(existing.display().to_string()));
    }
    let generated = [
        TufKey::generate()?,
        TufKey::generate()?,
        TufKey::generate()?,
        TufKey::generate()?,
    ];
    for dir in [&keys.online, &keys.offline, &repo] {
        create_dir(dir)?;
    }
    let mut written = Vec::new();
    for (path, (_, pkcs8)) in key_paths.iter().zip(&generated) {
        crate::log::key::write_private_file(path, pkcs8).map_err(|e| TufError::Write {
            path: path.display().to_string(),
            source: std::io::Error::other(e.to_string()),
        })?;
        written.push(path.clone());
    }
    let [(root, _), (targets_key, _), (snapshot, _), (timestamp, _)] = &generated;
    let role_keys = RoleKeys {
        root: &[root],
        targets: targets_key,
        snapshot,
        timestamp,
    };
    let root_doc = sign(
        &root_signed(&role_keys, 1, &format_expiry(now + expiries.root)),
        &[root],
    )?;
    let root_path = repo.join("1.root.json");
    write_atomic(&root_path, &root_doc)?;
    written.push(root_path);
    let state = State {
        targets_version: 0,
        snapshot_version: 0,
        timestamp_version: 0,
        snapshot_expires: now,
    };
    written.extend(publish(
        &repo,
        targets,
        &state,
        [targets_key, snapshot, timestamp],
        now,
        expiries,
    )?);
    Ok(written)
}

/// Publishes `targets` as a new targets version, with a new snapshot and timestamp. Needs
/// the (offline) targets key.
pub fn update(
    data_dir: &DataDir,
    keys: &KeyDirs,
    targets: &Targets<'_>,
    now: OffsetDateTime,
    expiries: &Expiries,
) -> Result<Vec<PathBuf>, TufError> {
    let repo = data_dir.tuf_repository();
    let state = State::read(&repo)?;
    let targets_key = read_key(&keys.targets())?;
    let snapshot = read_key(&keys.snapshot())?;
    let timestamp = read_key(&keys.timestamp())?;
    publish(
        &repo,
        targets,
        &state,
        [&targets_key, &snapshot, &timestamp],
        now,
        expiries,
    )
}

/// What [`refresh`] re-signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refreshed {
    pub snapshot: bool,
    pub timestamp: bool,
}

/// Re-signs the timestamp (and the snapshot) once less than half of its validity is left, so
/// an hourly cron job keeps clients fed without a version bump every hour. Needs only the
/// online keys.
pub fn refresh(
    data_dir: &DataDir,
    keys: &KeyDirs,
    now: OffsetDateTime,
    expiries: &Expiries,
) -> Result<Refreshed, TufError> {
    let repo = data_dir.tuf_repository();
    let mut state = State::read(&repo)?;
    let timestamp_expires = read_expiry(&repo.join("timestamp.json"))?;
    let snapshot_due = state.snapshot_expires - now < expiries.snapshot / 2;
    let timestamp_due = snapshot_due || timestamp_expires - now < expiries.timestamp / 2;
    if snapshot_due {
        let snapshot = read_key(&keys.snapshot())?;
        state.snapshot_version += 1;
        let doc = sign(
            &snapshot_signed(
                state.targets_version,
                state.snapshot_version,
                &format_expiry(now + expiries.snapshot),
            ),
            &[&snapshot],
        )?;
        write_atomic(
            &repo.join(format!("{}.snapshot.json", state.snapshot_version)),
            &doc,
        )?;
    }
    if timestamp_due {
        let timestamp = read_key(&keys.timestamp())?;
        write_timestamp(&repo, &state, &timestamp, now, expiries)?;
    }
    Ok(Refreshed {
        snapshot: snapshot_due,
        timestamp: timestamp_due,
    })
}

/// Rotates the root key: a new key in the offline key dir (the old one is kept as
/// `root.pk8.<version>`) and root version N+1 signed by both the old and the new key, which
/// is what lets a client holding version N trust it. The other roles keep their keys.
pub fn rotate_root(
    data_dir: &DataDir,
    keys: &KeyDirs,
    now: OffsetDateTime,
    expiries: &Expiries,
) -> Result<PathBuf, TufError> {
    let repo = data_dir.tuf_repository();
    let version =
        latest_root_version(&repo)?.ok_or_else(|| TufError::Missing(repo.display().to_string()))?;
    let old_root = read_key(&keys.root())?;
    let targets_key = read_key(&keys.targets())?;
    let snapshot = read_key(&keys.snapshot())?;
    let timestamp = read_key(&keys.timestamp())?;
    let (new_root, pkcs8) = TufKey::generate()?;
    let role_keys = RoleKeys {
        root: &[&new_root],
        targets: &targets_key,
        snapshot: &snapshot,
        timestamp: &timestamp,
    };
    let doc = sign(
        &root_signed(&role_keys, version + 1, &format_expiry(now + expiries.root)),
        &[&old_root, &new_root],
    )?;
    let retired = keys.offline.join(format!("root.pk8.{version}"));
    std::fs::rename(keys.root(), &retired).map_err(|source| TufError::Write {
        path: retired.display().to_string(),
        source,
    })?;
    crate::log::key::write_private_file(&keys.root(), &pkcs8).map_err(|e| TufError::Write {
        path: keys.root().display().to_string(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let path = repo.join(format!("{}.root.json", version + 1));
    write_atomic(&path, &doc)?;
    Ok(path)
}

/// The versions the current timestamp leads to.
struct State {
    targets_version: u64,
    snapshot_version: u64,
    timestamp_version: u64,
    snapshot_expires: OffsetDateTime,
}

impl State {
    fn read(repo: &Path) -> Result<State, TufError> {
        if latest_root_version(repo)?.is_none() {
            return Err(TufError::Missing(repo.display().to_string()));
        }
        let timestamp_path = repo.join("timestamp.json");
        let timestamp = read_signed(&timestamp_path)?;
        let snapshot_version =
            field_u64(&timestamp, "/meta/snapshot.json/version", &timestamp_path)?;
        let snapshot_path = repo.join(format!("{snapshot_version}.snapshot.json"));
        let snapshot = read_signed(&snapshot_path)?;
        Ok(State {
            targets_version: field_u64(&snapshot, "/meta/targets.json/version", &snapshot_path)?,
            snapshot_version,
            timestamp_version: field_u64(&timestamp, "/version", &timestamp_path)?,
            snapshot_expires: expiry_of(&snapshot, &snapshot_path)?,
        })
    }
}

fn publish(
    repo: &Path,
    targets: &Targets<'_>,
    state: &State,
    [targets_key, snapshot, timestamp]: [&TufKey; 3],
    now: OffsetDateTime,
    expiries: &Expiries,
) -> Result<Vec<PathBuf>, TufError> {
    let mut written = Vec::new();
    let target_dir = repo.join("targets");
    create_dir(&target_dir)?;
    for (name, bytes) in targets {
        let path = target_dir.join(super::hashed_target_name(name, bytes));
        write_atomic(&path, bytes)?;
        written.push(path);
    }
    let next = State {
        targets_version: state.targets_version + 1,
        snapshot_version: state.snapshot_version + 1,
        timestamp_version: state.timestamp_version,
        snapshot_expires: now + expiries.snapshot,
    };
    let targets_doc = sign(
        &targets_signed(
            targets,
            next.targets_version,
            &format_expiry(now + expiries.targets),
        ),
        &[targets_key],
    )?;
    let path = repo.join(format!("{}.targets.json", next.targets_version));
    write_atomic(&path, &targets_doc)?;
    written.push(path);
    let snapshot_doc = sign(
        &snapshot_signed(
            next.targets_version,
            next.snapshot_version,
            &format_expiry(next.snapshot_expires),
        ),
        &[snapshot],
    )?;
    let path = repo.join(format!("{}.snapshot.json", next.snapshot_version));
    write_atomic(&path, &snapshot_doc)?;
    written.push(path);
    written.push(write_timestamp(repo, &next, timestamp, now, expiries)?);
    Ok(written)
}

fn write_timestamp(
    repo: &Path,
    state: &State,
    key: &TufKey,
    now: OffsetDateTime,
    expiries: &Expiries,
) -> Result<PathBuf, TufError> {
    let doc = sign(
        &timestamp_signed(
            state.snapshot_version,
            state.timestamp_version + 1,
            &format_expiry(now + expiries.timestamp),
        ),
        &[key],
    )?;
    let path = repo.join("timestamp.json");
    write_atomic(&path, &doc)?;
    Ok(path)
}

/// The highest `N` of the `N.root.json` files in `repo`, if any.
pub fn latest_root_version(repo: &Path) -> Result<Option<u64>, TufError> {
    let entries = match std::fs::read_dir(repo) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(TufError::Read {
                path: repo.display().to_string(),
                reason: e.to_string(),
            });
        }
    };
    Ok(entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".root.json")?.parse::<u64>().ok()
        })
        .max())
}

fn read_key(path: &Path) -> Result<TufKey, TufError> {
    let bytes = std::fs::read(path).map_err(|e| TufError::Read {
        path: path.display().to_string(),
        reason: format!("{e} (is --offline-key-dir right?)"),
    })?;
    TufKey::from_pkcs8(&bytes, &path.display().to_string())
}

fn read_signed(path: &Path) -> Result<Value, TufError> {
    let bytes = std::fs::read(path).map_err(|e| TufError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut doc: Value = serde_json::from_slice(&bytes).map_err(|e| TufError::Metadata {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(doc
        .get_mut("signed")
        .map(Value::take)
        .unwrap_or(Value::Null))
}

fn field_u64(signed: &Value, pointer: &str, path: &Path) -> Result<u64, TufError> {
    signed
        .pointer(pointer)
        .and_then(Value::as_u64)
        .ok_or_else(|| TufError::Metadata {
            path: path.display().to_string(),
            reason: format!("no signed{pointer}"),
        })
}

fn expiry_of(signed: &Value, path: &Path) -> Result<OffsetDateTime, TufError> {
    signed
        .get("expires")
        .and_then(Value::as_str)
        .and_then(parse_expiry)
        .ok_or_else(|| TufError::Metadata {
            path: path.display().to_string(),
            reason: "no valid signed.expires".to_owned(),
        })
}

fn read_expiry(path: &Path) -> Result<OffsetDateTime, TufError> {
    expiry_of(&read_signed(path)?, path)
}

fn create_dir(dir: &Path) -> Result<(), TufError> {
    std::fs::create_dir_all(dir).map_err(|source| TufError::Write {
        path: dir.display().to_string(),
        source,
    })
}

/// Writes through a temporary file and a rename, so a reader sees the old or the new file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TufError> {
    let err = |source| TufError::Write {
        path: path.display().to_string(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    file.write_all(bytes).map_err(err)?;
    file.as_file().sync_all().map_err(err)?;
    file.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

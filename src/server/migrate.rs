//! `mayfly migrate`: copies a stopped instance's database to another backend (SQLite to
//! PostgreSQL, or back), then proves the copy is the same signed logs before anyone serves it.
//!
//! The copy goes through the storage contract alone ([`LogStore`] and the store's leaf-row
//! walk), so it works between any two backends. The checkpoints are written last, one per log:
//! until then the destination holds no log a server would open. Afterwards every log is audited
//! on the destination from scratch ([`check_log_with`]): every entry bundle and hash tile, the
//! root against the checkpoint, the checkpoint's signature under the instance's log key, and
//! each dedup row against its entry; then the copied counts and leaf rows are compared with the
//! source's. The search index is rebuilt from the copied logs rather than copied: it is derived
//! data and the rebuild is its own check.

use super::ServerError;
use crate::index::RebuildReport;
use crate::instance::DataDir;
use crate::log::audit::{AuditReport, check_log_with};
use crate::log::key::{LogKey, read_public_spki};
use crate::log::storage::{Batch, BundleWrite, LogSlot, LogStore, StoredCheckpoint};
use crate::storage::{DatabaseUrl, Store};
use indicatif::{ProgressBar, ProgressStyle};
use mayfly_spec::tlog::Hash;
use mayfly_spec::tlog::tile::{self, TILE_WIDTH, TileId};
use p256::ecdsa::VerifyingKey;
use p256::pkcs8::DecodePublicKey;
use std::path::{Path, PathBuf};

/// Bytes of tiles and bundles per copy transaction: large enough to amortise a commit, small
/// enough that a big log never becomes one huge transaction.
const BYTES_PER_BATCH: usize = 4 << 20;
/// Dedup rows per copy transaction (and per page read from the source).
const LEAVES_PER_BATCH: usize = 10_000;

/// What was copied and verified, per log.
#[derive(Debug)]
pub struct MigrateReport {
    pub logs: Vec<LogCopy>,
    pub index: RebuildReport,
}

#[derive(Debug)]
pub struct LogCopy {
    pub name: &'static str,
    pub audit: AuditReport,
    pub leaf_rows: u64,
}

/// A log of an instance: where it lives, its name, its key file and whether its entries are
/// stored as submitted (so each has a dedup row).
struct LogSpec {
    name: &'static str,
    slot: LogSlot,
    verbatim: bool,
    key: VerifyingKey,
    key_path: PathBuf,
}

/// Copies the instance whose keys are in `data_dir` from the database at `from` to the empty
/// database at `to`, verifies the copy, and rebuilds its search index. `progress` draws a bar
/// on stderr. Run it with the server stopped: a log that moves during the copy fails the
/// comparison at the end.
pub async fn migrate(
    data_dir: &Path,
    from: &str,
    to: &str,
    progress: bool,
) -> Result<MigrateReport, ServerError> {
    let source_url = DatabaseUrl::parse(from)?;
    let destination_url = DatabaseUrl::parse(to)?;
    if source_url == destination_url {
        return Err(ServerError::Config(format!(
            "--from and --to are the same database ({source_url})"
        )));
    }
    if let Some(file) = source_url.local_file()
        && !file.exists()
    {
        return Err(ServerError::Config(format!(
            "--from {source_url}: {} does not exist: no Mayfly instance there",
            file.display()
        )));
    }
    let logs = log_specs(&DataDir::new(data_dir))?;
    let source = Store::open(&source_url).await?;
    let destination = Store::open(&destination_url).await?;
    let result = copy_and_verify(
        &logs,
        &source,
        &destination,
        &source_url,
        &destination_url,
        progress,
    )
    .await;
    source.close().await;
    destination.close().await;
    result
}

async fn copy_and_verify(
    logs: &[LogSpec],
    source: &Store,
    destination: &Store,
    source_url: &DatabaseUrl,
    destination_url: &DatabaseUrl,
    progress: bool,
) -> Result<MigrateReport, ServerError> {
    if !destination.is_empty().await? {
        return Err(ServerError::Config(format!(
            "--to {destination_url} already holds log data; migrate only into an empty database"
        )));
    }
    // Every checkpoint is checked against the data dir's keys before anything is written, so
    // a data dir of another instance is refused with the destination untouched.
    let mut heads = Vec::new();
    for log in logs {
        let head = source.checkpoint(log.slot).await?.ok_or_else(|| {
            ServerError::Config(format!(
                "--from {source_url} holds no {} log: not a Mayfly instance",
                log.name
            ))
        })?;
        let origin = origin_of(&head)?;
        let verifier = mayfly_spec::tlog::note::EcdsaNoteVerifier::new(origin, log.key)
            .map_err(|e| ServerError::Config(format!("{}: {e}", log.key_path.display())))?;
        mayfly_spec::tlog::checkpoint::open_checkpoint(head.note.as_bytes(), origin, &verifier)
            .map_err(|e| {
                ServerError::Inconsistent(format!(
                    "the {} log's checkpoint in {source_url} does not verify under {} ({e}): \
                     the data dir and the database belong to different instances",
                    log.name,
                    log.key_path.display()
                ))
            })?;
        heads.push(head);
    }

    let bar = progress_bar(progress, heads.iter().map(|h| h.size).sum());
    let partial = |e: ServerError| {
        ServerError::Inconsistent(format!(
            "{e}; {destination_url} now holds a partial copy: empty it (drop and recreate the \
             database) before migrating again"
        ))
    };
    let mut copies = Vec::new();
    for (log, head) in logs.iter().zip(&heads) {
        bar.set_message(log.name);
        let leaf_rows = copy_log(log, head, source, destination, &bar)
            .await
            .map_err(partial)?;
        copies.push(leaf_rows);
    }
    bar.finish_and_clear();

    let mut reports = Vec::new();
    for ((log, head), leaf_rows) in logs.iter().zip(&heads).zip(copies) {
        let refused = |what: String| {
            partial(ServerError::Inconsistent(format!(
                "the copy of the {} log does not verify: {what}",
                log.name
            )))
        };
        let origin = origin_of(head)?;
        let audit = check_log_with(destination, log.slot, origin, &log.key, log.verbatim)
            .await
            .map_err(|e| refused(e.to_string()))?;
        let copied = destination.checkpoint(log.slot).await?;
        if copied.as_ref() != Some(head) {
            return Err(refused("its checkpoint differs from the source's".into()));
        }
        let (tiles, bundles) = tree_counts(head.size);
        if (audit.tiles, audit.bundles) != (tiles, bundles) {
            return Err(refused(format!(
                "{} tiles and {} bundles, the source's size needs {tiles} and {bundles}",
                audit.tiles, audit.bundles
            )));
        }
        let verified = compare_leaf_rows(log.slot, source, destination)
            .await
            .map_err(|e| refused(e.to_string()))?;
        if verified != leaf_rows {
            return Err(refused(format!(
                "{verified} dedup rows, {leaf_rows} were copied"
            )));
        }
        reports.push(LogCopy {
            name: log.name,
            audit,
            leaf_rows,
        });
    }
    let index = crate::index::rebuild(destination).await?;
    Ok(MigrateReport {
        logs: reports,
        index,
    })
}

/// The log keys of the instance in `dir`: the private key files, or the public halves an
/// instance on an HSM keeps.
fn log_specs(dir: &DataDir) -> Result<Vec<LogSpec>, ServerError> {
    let load =
        |private: PathBuf, public: PathBuf| -> Result<(VerifyingKey, PathBuf), ServerError> {
            if private.exists() {
                return Ok((*LogKey::read(&private)?.verifying_key(), private));
            }
            if !public.exists() {
                return Err(ServerError::Config(format!(
                    "{} holds no log key ({} or {}): give the data dir of the instance to migrate",
                    dir.root().display(),
                    private.display(),
                    public.display()
                )));
            }
            let spki = read_public_spki(&public)?;
            let key = VerifyingKey::from_public_key_der(&spki)
                .map_err(|e| ServerError::Config(format!("{}: {e}", public.display())))?;
            Ok((key, public))
        };
    let (issuance, issuance_path) = load(dir.issuance_log_key(), dir.issuance_log_public_key())?;
    let (artifacts, artifacts_path) = load(dir.artifact_log_key(), dir.artifact_log_public_key())?;
    Ok(vec![
        LogSpec {
            name: "issuance",
            slot: LogSlot::ISSUANCE,
            // Precertificate entries are stored re-encoded, and the log keeps no dedup rows.
            verbatim: false,
            key: issuance,
            key_path: issuance_path,
        },
        LogSpec {
            name: "artifacts",
            slot: LogSlot::ARTIFACTS,
            verbatim: true,
            key: artifacts,
            key_path: artifacts_path,
        },
    ])
}

/// A checkpoint note's origin: its first line.
fn origin_of(head: &StoredCheckpoint) -> Result<&str, ServerError> {
    head.note
        .lines()
        .next()
        .filter(|line| !line.is_empty())
        .ok_or_else(|| ServerError::Inconsistent("a stored checkpoint has no origin line".into()))
}

/// How many hash tiles and entry bundles a tree of `size` leaves has: a level's tiles hold
/// its hashes 256 at a time, and each full tile adds one hash to the level above.
fn tree_counts(size: u64) -> (u64, u64) {
    let mut tiles = 0;
    let mut hashes = size;
    while hashes > 0 {
        tiles += hashes.div_ceil(TILE_WIDTH);
        hashes /= TILE_WIDTH;
    }
    (tiles, size.div_ceil(TILE_WIDTH))
}

/// Copies one log's bundles, tiles and dedup rows, then its checkpoint; returns the rows
/// copied.
async fn copy_log(
    log: &LogSpec,
    head: &StoredCheckpoint,
    source: &Store,
    destination: &Store,
    bar: &ProgressBar,
) -> Result<u64, ServerError> {
    let missing = |what: String| {
        ServerError::Inconsistent(format!(
            "the {} log at size {} has no {what} in the source",
            log.name, head.size
        ))
    };
    let mut batch = Batch::default();
    let mut bytes = 0;
    for index in 0..head.size.div_ceil(TILE_WIDTH) {
        let data = source
            .entry_bundle(log.slot, index)
            .await?
            .ok_or_else(|| missing(format!("entry bundle {index}")))?;
        bytes += data.len();
        // A full bundle is final; the open one is written as its first append, so the next
        // batch the server sequences continues it as usual.
        batch
            .bundles
            .push(if tile::entries_width(index, head.size) == TILE_WIDTH {
                BundleWrite::Complete { index, data }
            } else {
                BundleWrite::Append {
                    index,
                    offset: 0,
                    data,
                }
            });
        bar.inc(tile::entries_width(index, head.size));
        if bytes >= BYTES_PER_BATCH {
            destination
                .commit(log.slot, &std::mem::take(&mut batch))
                .await?;
            bytes = 0;
        }
    }
    let mut level = 0u8;
    let mut hashes = head.size;
    while hashes > 0 {
        for index in 0..hashes.div_ceil(TILE_WIDTH) {
            let id = TileId { level, index };
            let data = source
                .hash_tile(log.slot, id)
                .await?
                .ok_or_else(|| missing(format!("hash tile {level}/{index}")))?;
            bytes += data.len();
            batch.tiles.push((id, data));
            if bytes >= BYTES_PER_BATCH {
                destination
                    .commit(log.slot, &std::mem::take(&mut batch))
                    .await?;
                bytes = 0;
            }
        }
        hashes /= TILE_WIDTH;
        level += 1;
    }
    destination
        .commit(log.slot, &std::mem::take(&mut batch))
        .await?;

    let mut after: Option<Hash> = None;
    let mut rows = 0;
    loop {
        let page = source.leaf_rows(log.slot, after, LEAVES_PER_BATCH).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.key);
        rows += page.len() as u64;
        let batch = Batch {
            leaves: page,
            ..Batch::default()
        };
        destination.commit(log.slot, &batch).await?;
    }

    // Last: the checkpoint, which is what makes the log exist for a server.
    let create = Batch {
        previous: None,
        checkpoint: Some(head.clone()),
        ..Batch::default()
    };
    destination.commit(log.slot, &create).await?;
    Ok(rows)
}

/// Walks both stores' dedup rows of `slot` in key order and requires them equal; returns how
/// many there are.
async fn compare_leaf_rows(
    slot: LogSlot,
    source: &Store,
    destination: &Store,
) -> Result<u64, ServerError> {
    let mut after = None;
    let mut rows = 0;
    loop {
        let want = source.leaf_rows(slot, after, LEAVES_PER_BATCH).await?;
        let got = destination.leaf_rows(slot, after, LEAVES_PER_BATCH).await?;
        if want != got {
            return Err(ServerError::Inconsistent(format!(
                "the dedup rows after {} differ from the source's",
                rows
            )));
        }
        let Some(last) = want.last() else {
            return Ok(rows);
        };
        after = Some(last.key);
        rows += want.len() as u64;
    }
}

fn progress_bar(visible: bool, entries: u64) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    ProgressBar::new(entries).with_style(
        ProgressStyle::with_template(
            "copying {msg:9} {bar:40} {pos}/{len} entries ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_counts_follow_the_tile_levels() {
        assert_eq!(tree_counts(0), (0, 0));
        assert_eq!(tree_counts(1), (1, 1));
        assert_eq!(tree_counts(256), (2, 1));
        assert_eq!(tree_counts(257), (3, 2));
        assert_eq!(tree_counts(256 * 256), (256 + 1 + 1, 256));
    }
}

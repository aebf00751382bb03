//! Following one log from the stored state to its current signed checkpoint.
//!
//! 1. The served checkpoint must verify under the trusted key. Against the stored one it must
//!    not be smaller (rollback), not differ at the same size, and the consistency proof from
//!    the stored size, built from the served tiles, must verify (fork otherwise).
//! 2. The compact range of the processed prefix is read from the tiles and must hash to the
//!    stored root of that prefix.
//! 3. Entries are read in batches of bundles. Each entry's leaf hash is appended to the range,
//!    so the range's root is the root of everything read so far; before anything in the batch
//!    is reported, that root is proven to be a prefix of the signed tree (a consistency proof
//!    to the checkpoint's size, or equality at its size). Only entries proven to be in the
//!    signed tree are reported, and the state moves on only after they all were.

use super::WatchError;
use super::decode::{self, Subject};
use super::report::{Filters, Match, Webhook};
use super::state::{LogState, StateFile};
use super::tiles::LogReader;
use super::trust::LogTrust;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mayfly_spec::tlog::checkpoint::SignedCheckpoint;
use mayfly_spec::tlog::compact::CompactRange;
use mayfly_spec::tlog::proof::verify_consistency;
use mayfly_spec::tlog::tile::{TILE_WIDTH, split_entries};
use mayfly_spec::tlog::{Hash, leaf_hash};
use std::io::{IsTerminal as _, Write as _};

/// Entry bundles per batch: 4096 entries, fetched concurrently, then one state write.
const BATCH_BUNDLES: u64 = 16;

/// What one pass over a log found.
pub(crate) struct Outcome {
    pub(crate) entries: u64,
    pub(crate) matches: Vec<Match>,
    pub(crate) size: u64,
}

pub(crate) struct Context<'a> {
    pub(crate) filters: &'a Filters,
    pub(crate) webhook: Option<&'a Webhook>,
    pub(crate) state: &'a mut StateFile,
    /// Print each match as a JSON line on stdout; otherwise collect them in the outcome.
    pub(crate) print: bool,
}

fn lossy(note: &[u8]) -> String {
    String::from_utf8_lossy(note).into_owned()
}

pub(crate) async fn follow(
    trust: &LogTrust,
    reader: &mut LogReader,
    cx: &mut Context<'_>,
) -> Result<Outcome, WatchError> {
    let name = trust.name;
    let note = reader.checkpoint().await?;
    let served = trust.open(&note).map_err(|e| WatchError::BadSignature {
        log: name,
        why: e.to_string(),
        served: lossy(&note),
    })?;
    let n = served.checkpoint.size;
    let (processed, processed_root) = match cx.state.log(name).cloned() {
        None => (0, mayfly_spec::tlog::hash::empty_root()),
        Some(stored) => check_against_stored(trust, reader, cx.state, &stored, &served).await?,
    };
    if processed == n {
        remember(cx.state, name, processed, processed_root, &served)?;
        return Ok(Outcome {
            entries: 0,
            matches: Vec::new(),
            size: n,
        });
    }
    let mut range = if processed == 0 {
        CompactRange::new()
    } else {
        reader.compact_range(processed, n).await?
    };
    if range.root() != processed_root {
        return Err(WatchError::Log {
            log: name,
            why: format!(
                "the served tiles do not hash to the stored root of the first {processed} entries"
            ),
        });
    }
    // The newest verified checkpoint is kept even if the catch-up below fails, so a later
    // rollback is judged against it.
    remember(cx.state, name, processed, processed_root, &served)?;
    let bar = progress_bar(name, n - processed);
    let mut all = Vec::new();
    let mut next = Some(reader.prefetch(batch(processed, n), n));
    while let Some(fetching) = next.take() {
        let a = range.size();
        let bundles = fetching.bundles().await?;
        let first = a / TILE_WIDTH;
        let b = (first + bundles.len() as u64)
            .saturating_mul(TILE_WIDTH)
            .min(n);
        if b < n {
            next = Some(reader.prefetch(batch(b, n), n));
        }
        let mut matches = Vec::new();
        let mut index = first * TILE_WIDTH;
        for bundle in &bundles {
            let entries = split_entries(bundle).map_err(|e| WatchError::Log {
                log: name,
                why: e.to_string(),
            })?;
            for entry in entries {
                if index >= a {
                    range.push(leaf_hash(entry));
                    let subject = subject_of(name, index, entry, &bar);
                    if cx.filters.matches(&subject) {
                        matches.push(Match::new(name, index, subject, n));
                    }
                }
                index += 1;
            }
        }
        prove_prefix(reader, name, &range, &served).await?;
        for m in &matches {
            if cx.print {
                let line = serde_json::to_string(m).unwrap_or_default();
                // An error, not a panic, when stdout is gone (a closed pipe): the state then
                // stays before this batch, so nothing unprinted is skipped.
                bar.suspend(|| writeln!(std::io::stdout().lock(), "{line}"))
                    .map_err(WatchError::Stdout)?;
            }
            if let Some(webhook) = cx.webhook {
                webhook.deliver(m).await?;
            }
        }
        remember(cx.state, name, b, range.root(), &served)?;
        bar.inc(b - a);
        if !cx.print {
            all.extend(matches);
        }
    }
    bar.finish_and_clear();
    Ok(Outcome {
        entries: n - processed,
        matches: all,
        size: n,
    })
}

/// The bundles of the batch starting at entry `a` of a tree of `n` (`a < n`).
fn batch(a: u64, n: u64) -> std::ops::Range<u64> {
    let first = a / TILE_WIDTH;
    first..(first + BATCH_BUNDLES).min(n.div_ceil(TILE_WIDTH))
}

/// Rollback, fork and consistency checks of the served checkpoint against the stored one;
/// returns the processed prefix (size, root) to resume from.
async fn check_against_stored(
    trust: &LogTrust,
    reader: &mut LogReader,
    state: &StateFile,
    stored: &LogState,
    served: &SignedCheckpoint,
) -> Result<(u64, Hash), WatchError> {
    let name = trust.name;
    let state_error = |why: String| WatchError::State {
        path: state.path().to_owned(),
        why: format!("{name} log: {why}"),
    };
    let old = trust.open(stored.checkpoint.as_bytes()).map_err(|e| {
        state_error(format!(
            "the stored checkpoint does not verify under the trusted root's key ({e}): the log's \
             key changed, or this is not the instance the state was made with"
        ))
    })?;
    let root = stored
        .root()
        .ok_or_else(|| state_error("rootHash is not 64 hex digits".into()))?;
    let (m, n) = (old.checkpoint.size, served.checkpoint.size);
    if stored.size > m {
        return Err(state_error(format!(
            "processed size {} is beyond the stored checkpoint's {m}",
            stored.size
        )));
    }
    let fork = |why: String| WatchError::Fork {
        log: name,
        why,
        stored: old.note.clone(),
        served: served.note.clone(),
    };
    if n < m {
        return Err(WatchError::Rollback {
            log: name,
            stored_size: m,
            served_size: n,
            stored: old.note.clone(),
            served: served.note.clone(),
        });
    }
    if n == m && old.checkpoint.root != served.checkpoint.root {
        return Err(fork(format!(
            "both checkpoints are signed for {n} entries but their roots differ"
        )));
    }
    if n > m && m > 0 {
        let proof = reader.consistency_proof(m, n).await?;
        verify_consistency(m, n, &old.checkpoint.root, &served.checkpoint.root, &proof).map_err(
            |e| {
                fork(format!(
                    "the served tree of {n} entries does not extend the stored one of {m}: the \
                     consistency proof built from the served tiles fails ({e})"
                ))
            },
        )?;
    }
    Ok((stored.size, root))
}

/// Proves that the entries read so far are the first `range.size()` leaves of `served`.
async fn prove_prefix(
    reader: &mut LogReader,
    name: &'static str,
    range: &CompactRange,
    served: &SignedCheckpoint,
) -> Result<(), WatchError> {
    let (b, n) = (range.size(), served.checkpoint.size);
    let root = range.root();
    let result = if b == n {
        if root == served.checkpoint.root {
            Ok(())
        } else {
            Err("their root differs from the checkpoint's".to_owned())
        }
    } else {
        let proof = reader.consistency_proof(b, n).await?;
        verify_consistency(b, n, &root, &served.checkpoint.root, &proof).map_err(|e| {
            format!("they are not a prefix of the checkpoint's tree (consistency proof: {e})")
        })
    };
    result.map_err(|why| WatchError::Log {
        log: name,
        why: format!(
            "the first {b} entries as served do not match the signed checkpoint of size {n}: {why}"
        ),
    })
}

fn subject_of(name: &'static str, index: u64, entry: &[u8], bar: &ProgressBar) -> Subject {
    if name != "issuance" {
        // A log's genesis entry (index 0 of logs created since it existed) names no signer:
        // there is nothing to watch in it, and it is not a malformed entry.
        if mayfly_spec::tlog::genesis::looks_like_genesis(index, entry) {
            return Subject::default();
        }
        return decode::artifact_entry(entry);
    }
    decode::issuance_leaf(entry).unwrap_or_else(|why| {
        bar.suspend(|| {
            let _ = writeln!(
                std::io::stderr(),
                "warning: issuance log entry {index} is not a precertificate entry: {why}"
            );
        });
        Subject::default()
    })
}

fn remember(
    state: &mut StateFile,
    name: &str,
    size: u64,
    root: Hash,
    served: &SignedCheckpoint,
) -> Result<(), WatchError> {
    let next = LogState {
        size,
        root_hash: root.to_hex(),
        checkpoint: served.note.clone(),
    };
    if state.log(name) == Some(&next) {
        return Ok(());
    }
    state.store(name, next)
}

/// A catch-up bar on stderr, hidden when stderr is not a terminal (CI logs, pipes).
fn progress_bar(name: &str, len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{prefix:>9} {bar:40} {pos}/{len} entries ({per_sec}, {eta} left)",
    ) {
        bar.set_style(style);
    }
    bar.set_prefix(name.to_owned());
    bar
}

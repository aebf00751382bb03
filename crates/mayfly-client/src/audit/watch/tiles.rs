//! Reading one log over C2SP tlog-tiles: the checkpoint, hash tiles and entry bundles, and the
//! Merkle hashes (compact ranges, consistency proofs) computed from those tiles.
//!
//! Nothing read here is trusted on its own: every hash taken from a tile ends up in a
//! comparison with a signed root (see `follow`). Responses are size-capped by what the format
//! allows, and transient failures (transport errors, 429, 5xx) are retried, since every read is
//! idempotent.

use super::WatchError;
use mayfly_spec::tlog::compact::CompactRange;
use mayfly_spec::tlog::note::MAX_NOTE_BYTES;
use mayfly_spec::tlog::proof::{Subtree, consistency_proof, consistency_ranges, subtrees};
use mayfly_spec::tlog::tile::{
    self, MAX_ENTRY_LEN, TILE_WIDTH, TileId, TilePath, TileTree, tile_width,
};
use mayfly_spec::tlog::{Hash, TlogError};
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

const MAX_TILE: usize = TILE_WIDTH as usize * Hash::LEN;
const MAX_BUNDLE: usize = TILE_WIDTH as usize * (2 + MAX_ENTRY_LEN);
/// Pauses between attempts at one read.
const RETRY_PAUSES: [Duration; 3] = [
    Duration::from_millis(200),
    Duration::from_secs(1),
    Duration::from_secs(3),
];
/// Tiles kept between reads; the ones reused are the few high-level and right-edge tiles that
/// every consistency proof of a catch-up touches.
const MAX_CACHED_TILES: usize = 512;

/// A path under a log's prefix with the width a tree of `size` gives it.
fn tile_path(id: TileId, width: u64) -> String {
    let width = u8::try_from(width).ok();
    TilePath::Hash { id, width }.to_string()
}

fn bundle_path(index: u64, width: u64) -> String {
    let width = u8::try_from(width).ok();
    TilePath::Entries { index, width }.to_string()
}

/// GET `url`, at most `max` bytes, retried on transient failures.
pub(crate) async fn fetch(
    http: &reqwest::Client,
    url: &str,
    max: usize,
) -> Result<Vec<u8>, WatchError> {
    let mut pauses = RETRY_PAUSES.iter();
    loop {
        let (why, retry) = match fetch_once(http, url, max).await {
            Ok(body) => return Ok(body),
            Err(failure) => failure,
        };
        match pauses.next().filter(|_| retry) {
            Some(pause) => tokio::time::sleep(*pause).await,
            None => {
                return Err(WatchError::Fetch {
                    url: url.to_owned(),
                    why,
                });
            }
        }
    }
}

/// One attempt: the body, or why not and whether another attempt could help.
async fn fetch_once(
    http: &reqwest::Client,
    url: &str,
    max: usize,
) -> Result<Vec<u8>, (String, bool)> {
    let mut response = http
        .get(url)
        .send()
        .await
        .map_err(|e| (e.to_string(), true))?;
    let status = response.status();
    if !status.is_success() {
        let retry = status.is_server_error() || status.as_u16() == 429;
        return Err((format!("answered {status}"), retry));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| (e.to_string(), true))? {
        if body.len() + chunk.len() > max {
            return Err((format!("answer larger than {max} bytes"), false));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// One log's read side.
pub(crate) struct LogReader {
    name: &'static str,
    http: reqwest::Client,
    /// `<server>/logs/<name>/`.
    base: String,
    /// Tiles by coordinate and width (a partial tile's content is fixed by its width).
    cache: HashMap<(TileId, u64), Arc<TileTree>>,
}

impl LogReader {
    pub(crate) fn new(name: &'static str, http: reqwest::Client, server: &url::Url) -> Self {
        let base = format!("{}/logs/{name}/", server.as_str().trim_end_matches('/'));
        LogReader {
            name,
            http,
            base,
            cache: HashMap::new(),
        }
    }

    fn log_error(&self, why: impl std::fmt::Display) -> WatchError {
        WatchError::Log {
            log: self.name,
            why: why.to_string(),
        }
    }

    pub(crate) async fn checkpoint(&self) -> Result<Vec<u8>, WatchError> {
        fetch(
            &self.http,
            &format!("{}checkpoint", self.base),
            MAX_NOTE_BYTES,
        )
        .await
    }

    /// The hash tile `id` as a tree of `size` has it.
    async fn tile(&mut self, id: TileId, size: u64) -> Result<Arc<TileTree>, WatchError> {
        let width = tile_width(id, size);
        if width == 0 {
            return Err(self.log_error(format!("no tile {id:?} in a tree of {size}")));
        }
        if let Some(tile) = self.cache.get(&(id, width)) {
            return Ok(tile.clone());
        }
        let path = tile_path(id, width);
        let bytes = fetch(&self.http, &format!("{}{path}", self.base), MAX_TILE).await?;
        if bytes.len() as u64 != width * Hash::LEN as u64 {
            return Err(self.log_error(format!(
                "{path} holds {} bytes, not {width} hashes",
                bytes.len()
            )));
        }
        let tile = Arc::new(
            TileTree::from_bytes(id, &bytes).map_err(|e| self.log_error(format!("{path}: {e}")))?,
        );
        if self.cache.len() >= MAX_CACHED_TILES {
            self.cache.clear();
        }
        self.cache.insert((id, width), tile.clone());
        Ok(tile)
    }

    /// The hashes of perfect subtrees of a tree of `size`, read from its tiles.
    async fn subtree_hashes(
        &mut self,
        wanted: &[Subtree],
        size: u64,
    ) -> Result<HashMap<Subtree, Hash>, WatchError> {
        let mut out = HashMap::with_capacity(wanted.len());
        for &s in wanted {
            let (id, local_height, local_index) = tile::locate(s);
            let tile = self.tile(id, size).await?;
            let hash = tile.node(local_height, local_index).ok_or_else(|| {
                self.log_error(format!("tile {id:?} lacks the node for subtree {s:?}"))
            })?;
            out.insert(s, hash);
        }
        Ok(out)
    }

    /// The compact range of `[0, prefix)` in the tree of `size` (unchecked: the caller compares
    /// its root with a trusted one).
    pub(crate) async fn compact_range(
        &mut self,
        prefix: u64,
        size: u64,
    ) -> Result<CompactRange, WatchError> {
        let wanted = CompactRange::subtrees(prefix);
        let hashes = self.subtree_hashes(&wanted, size).await?;
        let nodes = wanted
            .iter()
            .filter_map(|s| hashes.get(s).copied())
            .collect();
        CompactRange::from_hashes(prefix, nodes).map_err(|e| self.log_error(e))
    }

    /// The consistency proof from `old` to `new`, built from the tiles of the tree of `new`.
    pub(crate) async fn consistency_proof(
        &mut self,
        old: u64,
        new: u64,
    ) -> Result<Vec<Hash>, WatchError> {
        let ranges = consistency_ranges(old, new).map_err(|e| self.log_error(e))?;
        let wanted: Vec<Subtree> = ranges.into_iter().flat_map(subtrees).collect();
        let hashes = self.subtree_hashes(&wanted, new).await?;
        consistency_proof(old, new, |s| {
            hashes
                .get(&s)
                .copied()
                .ok_or_else(|| TlogError::Tile(format!("subtree {s:?} not read")))
        })
        .map_err(|e| self.log_error(e))
    }

    /// Starts fetching the entry bundles `bundles` of the tree of `size` in the background,
    /// so the next batch downloads while the current one is checked.
    pub(crate) fn prefetch(&self, bundles: Range<u64>, size: u64) -> Prefetch {
        let (name, http, base) = (self.name, self.http.clone(), self.base.clone());
        let task =
            tokio::spawn(async move { fetch_bundles(name, &http, &base, bundles, size).await });
        Prefetch { name, task }
    }
}

/// Bundles being fetched; dropping it stops the fetch.
pub(crate) struct Prefetch {
    name: &'static str,
    task: tokio::task::JoinHandle<Result<Vec<Vec<u8>>, WatchError>>,
}

impl Prefetch {
    pub(crate) async fn bundles(mut self) -> Result<Vec<Vec<u8>>, WatchError> {
        (&mut self.task).await.map_err(|e| WatchError::Log {
            log: self.name,
            why: format!("fetch task: {e}"),
        })?
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Entry bundles `bundles` of the tree of `size`, fetched concurrently, in order, each checked
/// to hold the number of entries the tree gives it.
async fn fetch_bundles(
    name: &'static str,
    http: &reqwest::Client,
    base: &str,
    bundles: Range<u64>,
    size: u64,
) -> Result<Vec<Vec<u8>>, WatchError> {
    let log_error = |why: String| WatchError::Log { log: name, why };
    let mut tasks = tokio::task::JoinSet::new();
    for index in bundles.clone() {
        let width = tile::entries_width(index, size);
        let url = format!("{base}{}", bundle_path(index, width));
        let http = http.clone();
        tasks.spawn(async move { (index, fetch(&http, &url, MAX_BUNDLE).await) });
    }
    let mut out: Vec<Option<Vec<u8>>> = vec![None; (bundles.end - bundles.start) as usize];
    while let Some(joined) = tasks.join_next().await {
        let (index, body) = joined.map_err(|e| log_error(format!("fetch task: {e}")))?;
        let body = body?;
        let count = tile::split_entries(&body)
            .map_err(|e| log_error(format!("entry bundle {index}: {e}")))?
            .len() as u64;
        let want = tile::entries_width(index, size);
        if count != want {
            return Err(log_error(format!(
                "entry bundle {index} holds {count} entries, not {want}"
            )));
        }
        if let Some(slot) = out.get_mut((index - bundles.start) as usize) {
            *slot = Some(body);
        }
    }
    out.into_iter()
        .map(|b| b.ok_or_else(|| log_error("an entry bundle went missing".into())))
        .collect()
}

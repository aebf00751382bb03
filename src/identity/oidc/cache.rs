//! Per-issuer JWKS cache with a refresh rate limit.
//!
//! Invariants:
//! - at most one discovery+JWKS fetch per issuer URL per [`MIN_REFRESH_SECS`], successful or
//!   not: a flood of tokens with made-up `kid`s (or for an unreachable issuer) cannot make us
//!   hammer the identity provider;
//! - concurrent misses share one fetch: the fetch runs under the entry's async mutex and every
//!   waiter re-checks the snapshot once it gets the lock;
//! - tokens whose key is already known never wait for a fetch (they read the snapshot);
//! - keys older than [`MAX_AGE_SECS`] are refreshed; if that fails the old keys stay in use (an
//!   IdP outage should not stop signing with keys that were valid an hour ago);
//! - meta-issuer URLs (unbounded: any string matching a wildcard) live in a bounded LRU of
//!   [`MAX_META_ENTRIES`]; exact issuers are bounded by the configuration and never evicted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::error::TokenError;
use super::keys::KeySet;

/// Minimum interval between fetch attempts for one issuer URL, in seconds.
pub(super) const MIN_REFRESH_SECS: u64 = 30;
/// Age after which keys are refetched, in seconds.
pub(super) const MAX_AGE_SECS: u64 = 3600;
/// Bound on cached meta-issuer URLs (Fulcio: LRU of 100).
pub(super) const MAX_META_ENTRIES: usize = 100;

/// Keys as last fetched.
#[derive(Debug, Clone)]
pub(super) struct Snapshot {
    /// The keys.
    pub keys: Arc<KeySet>,
    /// When they were fetched (verifier clock, unix seconds).
    pub fetched_at: u64,
}

impl Snapshot {
    /// Whether the keys are due for a refresh.
    pub(super) fn is_stale(&self, now: u64) -> bool {
        now.saturating_sub(self.fetched_at) >= MAX_AGE_SECS
    }
}

/// Fetch bookkeeping, guarded by the async mutex that serialises fetches.
#[derive(Debug, Default)]
pub(super) struct RefreshState {
    /// Last fetch attempt (verifier clock).
    pub last_attempt: Option<u64>,
    /// The last failure, reported again while rate-limited and no keys are known.
    pub last_error: Option<TokenError>,
}

impl RefreshState {
    /// Whether the rate limit allows a fetch now.
    pub(super) fn may_fetch(&self, now: u64) -> bool {
        self.last_attempt
            .is_none_or(|t| now.saturating_sub(t) >= MIN_REFRESH_SECS)
    }
}

/// One issuer URL's keys.
#[derive(Debug, Default)]
pub(super) struct IssuerKeys {
    snapshot: Mutex<Option<Snapshot>>,
    /// Held across a fetch so concurrent misses share it.
    pub refresh: tokio::sync::Mutex<RefreshState>,
}

impl IssuerKeys {
    /// The current keys, if any were ever fetched.
    pub(super) fn snapshot(&self) -> Option<Snapshot> {
        self.snapshot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the keys.
    pub(super) fn store(&self, snapshot: Snapshot) {
        *self.snapshot.lock().unwrap_or_else(PoisonError::into_inner) = Some(snapshot);
    }
}

#[derive(Debug)]
struct Slot {
    keys: Arc<IssuerKeys>,
    last_used: u64,
    meta: bool,
}

#[derive(Debug, Default)]
struct Slots {
    map: HashMap<String, Slot>,
    /// Monotonic use counter for LRU order.
    tick: u64,
    meta_count: usize,
}

/// All issuers' key entries.
#[derive(Debug, Default)]
pub(super) struct KeyCache {
    slots: Mutex<Slots>,
}

impl KeyCache {
    /// The entry for `issuer_url`, created empty if needed. `meta` marks URLs that matched a
    /// wildcard; inserting one beyond the bound evicts the least recently used meta entry.
    pub(super) fn entry(&self, issuer_url: &str, meta: bool) -> Arc<IssuerKeys> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.tick += 1;
        let tick = slots.tick;
        if let Some(slot) = slots.map.get_mut(issuer_url) {
            slot.last_used = tick;
            return slot.keys.clone();
        }
        if meta && slots.meta_count >= MAX_META_ENTRIES {
            // O(entries) scan, only when inserting past the bound; the map holds at most
            // MAX_META_ENTRIES meta URLs plus the configured exact issuers.
            let victim = slots
                .map
                .iter()
                .filter(|(_, s)| s.meta)
                .min_by_key(|(_, s)| s.last_used)
                .map(|(url, _)| url.clone());
            if let Some(victim) = victim {
                slots.map.remove(&victim);
                slots.meta_count -= 1;
                tracing::debug!(evicted = %victim, "meta-issuer key cache full; evicted LRU entry");
            }
        }
        let keys = Arc::new(IssuerKeys::default());
        slots.map.insert(
            issuer_url.to_owned(),
            Slot {
                keys: keys.clone(),
                last_used: tick,
                meta,
            },
        );
        if meta {
            slots.meta_count += 1;
        }
        keys
    }

    /// Number of cached issuer URLs.
    pub(super) fn len(&self) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .len()
    }

    /// Whether `issuer_url` is cached (tests).
    #[cfg(test)]
    pub(super) fn contains(&self, issuer_url: &str) -> bool {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .contains_key(issuer_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_entries_are_bounded_lru_and_exact_ones_stay() {
        let cache = KeyCache::default();
        let exact = cache.entry("https://exact.example", false);
        for i in 0..MAX_META_ENTRIES {
            cache.entry(&format!("https://m.example/{i}"), true);
        }
        // Touch entry 0 so entry 1 becomes the least recently used.
        cache.entry("https://m.example/0", true);
        cache.entry("https://m.example/new", true);
        assert_eq!(cache.len(), MAX_META_ENTRIES + 1);
        assert!(cache.contains("https://m.example/0"));
        assert!(!cache.contains("https://m.example/1"));
        assert!(cache.contains("https://exact.example"));
        assert!(Arc::ptr_eq(
            &exact,
            &cache.entry("https://exact.example", false)
        ));
    }

    #[test]
    fn rate_limit_and_staleness() {
        let mut state = RefreshState::default();
        assert!(state.may_fetch(0));
        state.last_attempt = Some(100);
        assert!(!state.may_fetch(129));
        assert!(state.may_fetch(130));
        let snap = Snapshot {
            keys: Arc::new(KeySet::default()),
            fetched_at: 100,
        };
        assert!(!snap.is_stale(100 + MAX_AGE_SECS - 1));
        assert!(snap.is_stale(100 + MAX_AGE_SECS));
    }
}

//! Which connections may be open: the total cap (a semaphore), the per-client cap (a map of
//! counters), and the registry of open connections that eviction and shutdown walk.

use super::conn::ConnState;
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// How long a new connection waits for the connection it evicted to close. The victim only
/// has to be polled once; if it started a request in the meantime it declines, and the new
/// connection is refused when this runs out.
const EVICTION_WAIT: Duration = Duration::from_millis(100);

/// How many eviction candidates one scan of the registry yields (see
/// [`Admission::evict_oldest_idle`]).
const EVICTION_BATCH: usize = 64;

/// The unit the per-client cap counts: an IPv4 address, or an IPv6 /64 (the smallest block
/// a site is normally given, so one client can use any address in it). IPv4-mapped IPv6
/// addresses, as a dual-stack socket reports IPv4 clients, count as the IPv4 address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ClientKey {
    V4(Ipv4Addr),
    V6Prefix(u64),
}

impl ClientKey {
    pub(crate) fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => ClientKey::V4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey::V4(v4),
                None => ClientKey::V6Prefix((v6.to_bits() >> 64) as u64),
            },
        }
    }
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientKey::V4(v4) => v4.fmt(f),
            ClientKey::V6Prefix(prefix) => {
                let v6 = std::net::Ipv6Addr::from_bits(u128::from(*prefix) << 64);
                write!(f, "{v6}/64")
            }
        }
    }
}

/// Why a connection was closed at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    PerClient,
    Total,
}

impl Refusal {
    /// The `reason` label of `mayfly_connections_refused_total`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Refusal::PerClient => "max_connections_per_client",
            Refusal::Total => "max_connections",
        }
    }
}

pub(crate) struct Admission {
    permits: Arc<Semaphore>,
    per_client: usize,
    book: Mutex<Book>,
}

/// Invariants: `clients[k]` is the number of live [`Admitted`] (and admissions under way)
/// for client `k`, and a key is removed when it reaches 0, so the map never holds more
/// entries than `max_connections + 1`, whatever the number of distinct clients seen.
/// `conns` holds exactly the live [`Admitted`]. `candidates` is a cache of the longest-idle
/// connections as of the last scan, `(idle since, id)`, longest idle last; entries may have
/// gone stale since and are checked before use.
struct Book {
    clients: HashMap<ClientKey, usize>,
    conns: HashMap<u64, Arc<ConnState>>,
    next_id: u64,
    candidates: Vec<(Instant, u64)>,
}

impl Admission {
    pub(crate) fn new(max_connections: usize, per_client: usize) -> Arc<Self> {
        Arc::new(Admission {
            permits: Arc::new(Semaphore::new(max_connections)),
            per_client,
            book: Mutex::new(Book {
                clients: HashMap::new(),
                conns: HashMap::new(),
                next_id: 0,
                candidates: Vec::new(),
            }),
        })
    }

    /// Critical sections only update maps and cannot leave them half-done on a panic
    /// (an allocation failure aborts), so a poisoned lock still guards consistent data.
    fn lock(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn open_connections(&self) -> usize {
        self.lock().conns.len()
    }

    /// Admits a connection from `ip`, evicting the oldest idle connection if the total cap
    /// is reached. The per-client cap is checked first, so that a client at its own cap
    /// can never close other clients' connections.
    pub(crate) async fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admitted, Refusal> {
        let key = ClientKey::of(ip);
        {
            let mut book = self.lock();
            let count = book.clients.entry(key).or_insert(0);
            // `per_client >= 1`, so a refused key already had an entry: none is left at 0.
            if *count >= self.per_client {
                return Err(Refusal::PerClient);
            }
            *count += 1;
        }
        // Gives the client slot back if the total cap refuses (or this future is dropped).
        let slot = ClientSlot {
            admission: Arc::clone(self),
            key,
        };
        let permit = match Arc::clone(&self.permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if !self.evict_oldest_idle() {
                    return Err(Refusal::Total);
                }
                match tokio::time::timeout(EVICTION_WAIT, Arc::clone(&self.permits).acquire_owned())
                    .await
                {
                    Ok(Ok(permit)) => permit,
                    _ => return Err(Refusal::Total),
                }
            }
        };
        let state = Arc::new(ConnState::new(Instant::now()));
        let id = {
            let mut book = self.lock();
            let id = book.next_id;
            book.next_id += 1;
            book.conns.insert(id, Arc::clone(&state));
            id
        };
        metrics::gauge!("mayfly_connections_open").increment(1.0);
        Ok(Admitted {
            slot,
            id,
            state,
            _permit: permit,
        })
    }

    /// Asks the connection that has been idle longest (no request in progress, nothing
    /// unwritten) to close. False if every connection is busy.
    ///
    /// At the cap, every new connection evicts one, so this must not cost a scan of every
    /// connection each time: one scan keeps the [`EVICTION_BATCH`] longest-idle connections,
    /// and later evictions take from those while they are still idle since the same instant
    /// (a candidate that has served a request since is no longer among the longest idle).
    fn evict_oldest_idle(&self) -> bool {
        let mut book = self.lock();
        let mut scanned = false;
        loop {
            while let Some((since, id)) = book.candidates.pop() {
                if let Some(state) = book.conns.get(&id)
                    && state.idle_since() == Some(since)
                {
                    state.request_eviction();
                    return true;
                }
            }
            if scanned {
                return false;
            }
            scanned = true;
            let mut idle: Vec<(Instant, u64)> = book
                .conns
                .iter()
                .filter_map(|(id, state)| state.idle_since().map(|since| (since, *id)))
                .collect();
            if idle.len() > EVICTION_BATCH {
                idle.select_nth_unstable(EVICTION_BATCH);
                idle.truncate(EVICTION_BATCH);
            }
            // Longest idle last, for `pop`.
            idle.sort_unstable_by(|a, b| b.cmp(a));
            book.candidates = idle;
        }
    }

    /// Starts shutdown on every open connection.
    pub(crate) fn drain_all(&self) {
        for state in self.lock().conns.values() {
            state.request_drain();
        }
    }
}

/// One connection's place under the per-client cap.
struct ClientSlot {
    admission: Arc<Admission>,
    key: ClientKey,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut book = self.admission.lock();
        if let Some(count) = book.clients.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                book.clients.remove(&self.key);
            }
        }
    }
}

/// An open connection's places under both caps and in the registry; dropping it (when the
/// connection task ends, however it ends) gives them back.
pub(crate) struct Admitted {
    slot: ClientSlot,
    id: u64,
    state: Arc<ConnState>,
    _permit: OwnedSemaphorePermit,
}

impl Admitted {
    pub(crate) fn state(&self) -> &Arc<ConnState> {
        &self.state
    }

    pub(crate) fn client(&self) -> ClientKey {
        self.slot.key
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.slot.admission.lock().conns.remove(&self.id);
        metrics::gauge!("mayfly_connections_open").decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::listener::conn::RequestGuard;
    use std::net::Ipv6Addr;

    #[test]
    fn client_keys_group_ipv6_by_slash_64() {
        let a: Ipv6Addr = "2001:db8:1:2::1".parse().unwrap();
        let b: Ipv6Addr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: Ipv6Addr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ClientKey::of(a.into()), ClientKey::of(b.into()));
        assert_ne!(ClientKey::of(a.into()), ClientKey::of(c.into()));
        assert_eq!(ClientKey::of(a.into()).to_string(), "2001:db8:1:2::/64");
        let mapped: Ipv6Addr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(
            ClientKey::of(mapped.into()),
            ClientKey::V4(Ipv4Addr::new(192, 0, 2, 7))
        );
    }

    #[tokio::test]
    async fn per_client_map_stays_bounded() {
        let admission = Admission::new(4, 2);
        let mut held = Vec::new();
        for i in 0..4u8 {
            held.push(
                admission
                    .admit(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)))
                    .await
                    .unwrap(),
            );
        }
        // Every connection busy: a fifth client is refused and leaves no entry behind.
        let busy: Vec<_> = held
            .iter()
            .map(|a| RequestGuard::begin(Arc::clone(a.state())))
            .collect();
        let refused = admission
            .admit(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)))
            .await;
        assert_eq!(refused.err(), Some(Refusal::Total));
        assert_eq!(admission.lock().clients.len(), 4);
        drop(busy);
        // Idle now: a fifth client evicts one and is admitted.
        let fifth = admission.admit(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)));
        let (fifth, ()) = tokio::join!(fifth, async {
            tokio::task::yield_now().await;
            // Play the evicted connection's task: it drops its `Admitted`.
            let victim = held.iter().position(|a| a.state().idle_since().is_none());
            held.remove(victim.unwrap());
        });
        let fifth = fifth.unwrap();
        assert_eq!(admission.open_connections(), 4);
        drop((held, fifth));
        assert_eq!(admission.lock().clients.len(), 0);
        assert_eq!(admission.open_connections(), 0);
    }
}

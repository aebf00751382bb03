//! Rate limits with bounded memory.
//!
//! Algorithm: GCRA (the generic cell rate algorithm), which is a token bucket stored as one
//! number per key. A rate `N/period` emits one token every `T = period / N` and allows a burst
//! of `N`: a key that has been idle for a whole period may make `N` requests at once, then one
//! every `T`. Per key we keep the theoretical arrival time `tat`; a request at `now` is allowed
//! iff `max(tat, now) + T - now <= N·T`, and then `tat` becomes `max(tat, now) + T`. A denied
//! request changes nothing and may retry after exactly `max(tat, now) + T - N·T - now`.
//!
//! Memory: keys live in a fixed-capacity table (`table.rs`) split into shards, each behind its
//! own `std::sync::Mutex` held for a few pointer updates (no await, no allocation once full).
//! A full shard evicts a fully refilled entry (losing nothing) if one of its least recently
//! used entries is, else the least recently used entry: that key's next request then starts
//! with a full burst. Only flooding a shard with more distinct keys than it holds within one
//! period can do that to a key still in use, and every key keeps being checked on every
//! request, so an actively limited key stays at the recently-used end.
//!
//! Keys are stored as 64-bit SipHash values under a per-process random key, not as strings: an
//! entry is a fixed 24 bytes (plus the index) whatever the key's length, and a collision (two
//! keys sharing one budget, probability ≈ n²/2⁶⁵) cannot be aimed at by someone who does not
//! know the hash key.

mod client;
mod table;

pub use client::{CidrError, client_address, parse_trusted_proxy, rate_limit_key};

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::num::NonZeroUsize;
use std::str::FromStr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use table::Shard;

/// Largest amount per period accepted by [`Rate::parse`].
const MAX_AMOUNT: u64 = 1_000_000_000;

/// Upper bound on the number of shards (a power of two).
const MAX_SHARDS: usize = 32;

/// A rate limit: at most `amount` requests per `period`, with bursts of up to `amount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    /// No limit (`0`).
    Off,
    PerPeriod {
        amount: u32,
        period: Duration,
    },
}

/// Why a rate string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    #[error("empty rate: expected N/s, N/min, N/h or N/d (e.g. 60/min), or 0 for no limit")]
    Empty,
    #[error("invalid rate {0:?}: expected N/s, N/min, N/h or N/d (e.g. 60/min), or 0 for no limit")]
    Format(String),
    #[error("invalid rate {input:?}: {amount:?} is not a whole number of requests")]
    Amount { input: String, amount: String },
    #[error("invalid rate {0:?}: at most {MAX_AMOUNT} requests per period")]
    TooLarge(String),
    #[error("invalid rate {input:?}: unknown unit {unit:?}; use s, min, h or d")]
    Unit { input: String, unit: String },
}

impl Rate {
    /// `--rate-limit-identity`'s default: 300 certificates a minute per identity, with a burst
    /// of 300. A monorepo release publishing a few hundred packages from one workflow fits;
    /// a leaked token replayed in a loop does not.
    pub const DEFAULT_IDENTITY: Rate = Rate::PerPeriod {
        amount: 300,
        period: Duration::from_secs(60),
    };
    /// `--rate-limit-client`'s default: 1,200 write requests a minute per client address
    /// (IPv6: per /64), with a burst of 1,200. CI runners behind one NAT address share it.
    pub const DEFAULT_CLIENT: Rate = Rate::PerPeriod {
        amount: 1200,
        period: Duration::from_secs(60),
    };
    /// Parses `N/UNIT` (`60/min`, `10/s`, `3600/h`, `1000/d`; also `sec`, `second`, `minute`,
    /// `hour`, `day`, any case, spaces around parts) or `0` (no limit; `0/UNIT` too).
    pub fn parse(s: &str) -> Result<Rate, RateError> {
        let input = s.trim();
        if input.is_empty() {
            return Err(RateError::Empty);
        }
        if input == "0" {
            return Ok(Rate::Off);
        }
        let Some((amount, unit)) = input.split_once('/') else {
            return Err(RateError::Format(s.to_owned()));
        };
        let (amount, unit) = (amount.trim(), unit.trim());
        let period = match unit.to_ascii_lowercase().as_str() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            "d" | "day" => Duration::from_secs(86_400),
            _ => {
                return Err(RateError::Unit {
                    input: s.to_owned(),
                    unit: unit.to_owned(),
                });
            }
        };
        // Digits only: `u64::from_str` would also take a leading '+'.
        if amount.is_empty() || !amount.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RateError::Amount {
                input: s.to_owned(),
                amount: amount.to_owned(),
            });
        }
        let n: u64 = match amount.parse() {
            Ok(n) if n <= MAX_AMOUNT => n,
            _ => return Err(RateError::TooLarge(s.to_owned())),
        };
        if n == 0 {
            return Ok(Rate::Off);
        }
        let amount = u32::try_from(n).map_err(|_| RateError::TooLarge(s.to_owned()))?;
        Ok(Rate::PerPeriod { amount, period })
    }

    pub fn is_off(&self) -> bool {
        matches!(self, Rate::Off)
    }
}

impl FromStr for Rate {
    type Err = RateError;
    fn from_str(s: &str) -> Result<Rate, RateError> {
        Rate::parse(s)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rate::Off => f.write_str("0"),
            Rate::PerPeriod { amount, period } => {
                let unit = match period.as_secs() {
                    1 => "s",
                    60 => "min",
                    3600 => "h",
                    86_400 => "d",
                    _ => return write!(f, "{amount}/{}s", period.as_secs_f64()),
                };
                write!(f, "{amount}/{unit}")
            }
        }
    }
}

/// A request over the limit: how long until the same key would be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limit exceeded; retry after {0:?}")]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// The value for an HTTP `Retry-After` header: whole seconds, rounded up, at least 1.
    pub fn header_secs(&self) -> u64 {
        let secs = self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0);
        secs.max(1)
    }
}

/// GCRA parameters, in nanoseconds.
#[derive(Debug, Clone, Copy)]
struct Gcra {
    /// Emission interval `T`: one token per `interval`.
    interval: u64,
    /// Burst window `N·T`: how far ahead of `now` the TAT may run.
    window: u64,
}

/// A keyed GCRA limiter with a fixed-capacity, sharded state table.
pub struct RateLimiter {
    rate: Rate,
    gcra: Option<Gcra>,
    shards: Box<[Mutex<Shard>]>,
    /// `shards.len() - 1`; the shard count is a power of two.
    shard_mask: u64,
    hasher: RandomState,
    /// Times are kept as nanoseconds since this instant (u64 nanoseconds last 584 years).
    epoch: Instant,
    capacity: usize,
}

impl RateLimiter {
    /// A limiter for `rate` remembering at most `capacity` keys (rounded down to a multiple
    /// of the shard count, see [`RateLimiter::capacity`]). An `Off` rate allocates nothing.
    pub fn new(rate: Rate, capacity: NonZeroUsize) -> RateLimiter {
        // Node indices are u32 within a shard.
        let capacity = capacity.get().min(u32::MAX as usize - 1);
        // The largest power of two not above min(capacity, MAX_SHARDS): every shard holds at
        // least one key, and shards * per_shard <= capacity.
        let shards = 1usize << (MAX_SHARDS.min(capacity).ilog2());
        let per_shard = capacity / shards;
        let gcra = match rate {
            Rate::Off => None,
            Rate::PerPeriod { amount, period } => {
                let period = u64::try_from(period.as_nanos()).unwrap_or(u64::MAX);
                let interval = (period / u64::from(amount)).max(1);
                Some(Gcra {
                    interval,
                    window: interval.saturating_mul(u64::from(amount)),
                })
            }
        };
        let shard_count = if gcra.is_some() { shards } else { 0 };
        RateLimiter {
            rate,
            gcra,
            shards: (0..shard_count)
                .map(|_| Mutex::new(Shard::new(per_shard)))
                .collect(),
            shard_mask: (shards - 1) as u64,
            hasher: RandomState::new(),
            epoch: Instant::now(),
            capacity: per_shard * shards,
        }
    }

    /// Counts one request for `key` at `now`. `Err` carries how long until `key` may retry.
    ///
    /// Instants before the limiter was created count as its creation time; instants need not
    /// arrive in order across threads (the state only moves forward).
    pub fn check(&self, key: &str, now: Instant) -> Result<(), RetryAfter> {
        let Some(g) = self.gcra else {
            return Ok(());
        };
        let t =
            u64::try_from(now.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX);
        let h = self.hasher.hash_one(key);
        // Shard by bits 32.. of the hash: the shard's index uses the low bits for buckets and
        // the top 7 for tags, which must stay uniformly distributed within a shard.
        let shard = &self.shards[((h >> 32) & self.shard_mask) as usize];
        // The critical section cannot panic midway (index arithmetic on held invariants), so
        // a poisoned lock still guards consistent data.
        let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
        let tat = shard.slot(h, t);
        let next = (*tat).max(t).saturating_add(g.interval);
        let ahead = next - t;
        if ahead > g.window {
            return Err(RetryAfter(Duration::from_nanos(ahead - g.window)));
        }
        *tat = next;
        Ok(())
    }

    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// The most keys the table holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Keys currently held (locks each shard in turn; for tests and metrics, not the hot path).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("rate", &self.rate.to_string())
            .field("capacity", &self.capacity)
            .field("shards", &self.shards.len())
            .finish()
    }
}

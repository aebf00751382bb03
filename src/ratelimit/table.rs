//! One shard of the limiter's state: a fixed-capacity map from key hash to GCRA state (the
//! theoretical arrival time, TAT), kept in least-recently-used order.
//!
//! Layout: the nodes live in a `Vec` (a slab, never shrunk; a node is reused when its key is
//! evicted) threaded into a doubly-linked LRU list by index, plus a hash index from key to
//! node. Every operation is O(1); nothing is allocated once the shard is full.
//!
//! Invariants:
//! - `index.len() == nodes.len() <= cap`, and every node is in the list exactly once;
//! - `head` is the most recently used node, `tail` the least (both `NIL` iff empty).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

const NIL: u32 = u32::MAX;

/// How many nodes, from the LRU end, an insertion into a full shard inspects for one that is
/// fully refilled (evicting it loses nothing) before it evicts the LRU node itself.
const EVICT_SCAN: usize = 8;

struct Node {
    key: u64,
    /// Theoretical arrival time, in nanoseconds since the limiter's epoch. A state with
    /// `tat <= now` is "fully refilled": indistinguishable from an absent key.
    tat: u64,
    prev: u32,
    next: u32,
}

/// Keys are already SipHash outputs with a per-process random key (see `RateLimiter`), so the
/// index uses them as they are instead of hashing them again.
#[derive(Default)]
pub(super) struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; fold anything else in rather than ignore it.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub(super) struct Shard {
    index: HashMap<u64, u32, BuildHasherDefault<PreHashed>>,
    nodes: Vec<Node>,
    head: u32,
    tail: u32,
    cap: usize,
}

impl Shard {
    /// `cap` must be at least 1 and below `u32::MAX` (the caller guarantees both).
    pub(super) fn new(cap: usize) -> Shard {
        Shard {
            index: HashMap::default(),
            nodes: Vec::new(),
            head: NIL,
            tail: NIL,
            cap,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.index.len()
    }

    /// The TAT slot for `key`, marked most recently used. A new key starts at 0 (fully
    /// refilled); inserting it into a full shard evicts, in order of preference, one of the
    /// `EVICT_SCAN` least recently used entries that is fully refilled at `now`, or else the
    /// least recently used entry.
    pub(super) fn slot(&mut self, key: u64, now: u64) -> &mut u64 {
        let i = match self.index.get(&key) {
            Some(&i) => {
                self.unlink(i);
                i
            }
            None => self.insert(key, now),
        };
        self.push_front(i);
        &mut self.nodes[i as usize].tat
    }

    /// Makes a detached node for `key`; the caller links it.
    fn insert(&mut self, key: u64, now: u64) -> u32 {
        if self.nodes.len() < self.cap {
            // Grow the slab geometrically but never past `cap`, so memory stays bounded by
            // the capacity rather than by Vec's doubling.
            if self.nodes.len() == self.nodes.capacity() {
                let remaining = self.cap - self.nodes.len();
                self.nodes
                    .reserve_exact(self.nodes.len().max(16).min(remaining));
            }
            let i = self.nodes.len() as u32;
            self.nodes.push(Node {
                key,
                tat: 0,
                prev: NIL,
                next: NIL,
            });
            self.index.insert(key, i);
            return i;
        }
        let victim = self.victim(now);
        self.unlink(victim);
        let node = &mut self.nodes[victim as usize];
        self.index.remove(&node.key);
        node.key = key;
        node.tat = 0;
        self.index.insert(key, victim);
        victim
    }

    /// The node to evict from a full (hence non-empty) shard.
    fn victim(&self, now: u64) -> u32 {
        let mut i = self.tail;
        for _ in 0..EVICT_SCAN {
            if i == NIL {
                break;
            }
            let node = &self.nodes[i as usize];
            if node.tat <= now {
                return i;
            }
            i = node.prev;
        }
        self.tail
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next) = {
            let n = &self.nodes[i as usize];
            (n.prev, n.next)
        };
        match prev {
            NIL => self.head = next,
            p => self.nodes[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.nodes[n as usize].prev = prev,
        }
        let n = &mut self.nodes[i as usize];
        n.prev = NIL;
        n.next = NIL;
    }

    fn push_front(&mut self, i: u32) {
        let old = self.head;
        {
            let n = &mut self.nodes[i as usize];
            n.prev = NIL;
            n.next = old;
        }
        match old {
            NIL => self.tail = i,
            o => self.nodes[o as usize].prev = i,
        }
        self.head = i;
    }

    /// Keys from most to least recently used (tests only).
    #[cfg(test)]
    fn order(&self) -> Vec<u64> {
        let mut out = Vec::new();
        let mut i = self.head;
        while i != NIL {
            out.push(self.nodes[i as usize].key);
            i = self.nodes[i as usize].next;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_order_and_capacity() {
        let mut s = Shard::new(3);
        for k in [1, 2, 3] {
            *s.slot(k, 0) = 100;
        }
        assert_eq!(s.order(), [3, 2, 1]);
        s.slot(1, 0);
        assert_eq!(s.order(), [1, 3, 2]);
        // Full, nothing refilled at t=0: the LRU key (2) goes.
        *s.slot(4, 0) = 100;
        assert_eq!(s.order(), [4, 1, 3]);
        assert_eq!(s.len(), 3);
        assert!(!s.index.contains_key(&2));
    }

    #[test]
    fn refilled_entries_are_evicted_before_the_lru_one() {
        let mut s = Shard::new(3);
        *s.slot(1, 0) = 1_000; // LRU, still owes time at t=500
        *s.slot(2, 0) = 100; // refilled at t=500
        *s.slot(3, 0) = 1_000;
        *s.slot(4, 500) = 600;
        assert_eq!(s.order(), [4, 3, 1]);
        // The new key starts fully refilled.
        assert_eq!(*s.slot(5, 500), 0);
    }

    #[test]
    fn single_slot_shard() {
        let mut s = Shard::new(1);
        for k in 0..10 {
            *s.slot(k, 0) = 7;
            assert_eq!(s.order(), [k]);
        }
        assert_eq!(s.len(), 1);
    }
}

//! RFC 9162 §2.1.3–2.1.4 Merkle inclusion and consistency proofs: which subtrees they are made
//! of, how to build them from stored hashes, and how to verify them.
//!
//! Proof generation is split in two so the log engine can serve proofs from tiles: the
//! `*_ranges` functions say which leaf ranges a proof consists of, [`subtrees`] breaks each range
//! into perfect subtrees (the only hashes tiles store), and [`range_hash`] folds those back into
//! the range's Merkle tree hash. Verification needs none of that and works on any `u64` sizes.

use std::ops::Range;

use crate::tlog::hash::{empty_root, largest_power_of_two_below};
use crate::tlog::{Hash, TlogError, node_hash};

/// A perfect subtree: the 2^height leaves [index << height, (index + 1) << height).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subtree {
    /// log2 of the number of leaves below this node; 0 for a leaf.
    pub height: u8,
    /// Position among the nodes of the same height, counting from the left edge of the tree.
    pub index: u64,
}

impl Subtree {
    /// The leaf indices this subtree covers.
    ///
    /// Exact for every subtree of a tree whose size fits in a `u64`; a subtree that would
    /// reach past `u64::MAX` (which no such tree contains) has its bounds saturated.
    pub fn leaves(&self) -> Range<u64> {
        let width = 1u64.checked_shl(u32::from(self.height)).unwrap_or(u64::MAX);
        let start = self.index.saturating_mul(width);
        start..start.saturating_add(width)
    }
}

/// Greedy left-to-right decomposition of a range into perfect subtrees (largest aligned first).
///
/// For every range that occurs in RFC 6962 proofs (start aligned to a power of two ≥ len), the
/// MTH of the range equals the right fold of these subtrees' hashes. An empty or reversed
/// range has no subtrees.
pub fn subtrees(range: Range<u64>) -> Vec<Subtree> {
    let mut out = Vec::new();
    let mut pos = range.start;
    while pos < range.end {
        let remaining = range.end - pos;
        let fits = 63 - remaining.leading_zeros();
        let aligned = if pos == 0 { 63 } else { pos.trailing_zeros() };
        let height = fits.min(aligned);
        out.push(Subtree {
            // height ≤ 63, so the narrowing and the shifts below are exact.
            height: height as u8,
            index: pos >> height,
        });
        // 2^height ≤ remaining, so this never passes range.end (and so never overflows).
        pos += 1 << height;
    }
    out
}

/// MTH of the range from perfect-subtree hashes supplied by `node` (right fold:
/// H(s1, H(s2, ... sk))). The empty range hashes to MTH({}).
///
/// Only meaningful for ranges whose MTH is that fold; see [`subtrees`].
pub fn range_hash<E>(
    range: Range<u64>,
    mut node: impl FnMut(Subtree) -> Result<Hash, E>,
) -> Result<Hash, E> {
    let hashes = subtrees(range)
        .into_iter()
        .map(&mut node)
        .collect::<Result<Vec<_>, E>>()?;
    let mut rev = hashes.iter().rev();
    let Some(last) = rev.next() else {
        return Ok(empty_root());
    };
    Ok(rev.fold(*last, |acc, left| node_hash(left, &acc)))
}

/// Visits the ranges of the inclusion proof for `index` in a tree of `size`, root → leaf.
fn walk_inclusion(
    index: u64,
    size: u64,
    mut visit: impl FnMut(Range<u64>),
) -> Result<(), TlogError> {
    if index >= size {
        return Err(TlogError::IndexOutOfRange { index, size });
    }
    // Invariant: lo ≤ index < hi, and [lo, hi) is a subtree of the RFC 6962 recursion (so lo
    // is aligned to a power of two ≥ hi - lo).
    let (mut lo, mut hi) = (0u64, size);
    while hi - lo > 1 {
        let mid = lo + largest_power_of_two_below(hi - lo);
        if index < mid {
            visit(mid..hi);
            hi = mid;
        } else {
            visit(lo..mid);
            lo = mid;
        }
    }
    Ok(())
}

/// Visits the ranges of the consistency proof from `old` to `new`, root → leaf.
fn walk_consistency(
    old: u64,
    new: u64,
    mut visit: impl FnMut(Range<u64>),
) -> Result<(), TlogError> {
    if old == 0 || old > new {
        return Err(TlogError::InvalidSizes { old, new });
    }
    // Invariant: lo < old ≤ hi, with [lo, hi) a subtree of the RFC 6962 recursion. lo stays 0
    // exactly while RFC 9162's SUBPROOF flag b is true: then [lo, old) is the old tree itself,
    // whose root the verifier already holds, so it is left out of the proof.
    let (mut lo, mut hi) = (0u64, new);
    while old < hi {
        let mid = lo + largest_power_of_two_below(hi - lo);
        if old <= mid {
            visit(mid..hi);
            hi = mid;
        } else {
            visit(lo..mid);
            lo = mid;
        }
    }
    if lo != 0 {
        visit(lo..hi);
    }
    Ok(())
}

/// The leaf ranges whose MTHs form the RFC 9162 §2.1.3.1 inclusion proof for `index` in a tree
/// of `size`, ordered leaf→root.
pub fn inclusion_ranges(index: u64, size: u64) -> Result<Vec<Range<u64>>, TlogError> {
    let mut out = Vec::new();
    walk_inclusion(index, size, |r| out.push(r))?;
    out.reverse();
    Ok(out)
}

/// The leaf ranges whose MTHs form the RFC 9162 §2.1.4.1 consistency proof from `old` to `new`
/// (0 < old ≤ new; old == new gives []; old == 0 is an error), ordered leaf→root.
pub fn consistency_ranges(old: u64, new: u64) -> Result<Vec<Range<u64>>, TlogError> {
    let mut out = Vec::new();
    walk_consistency(old, new, |r| out.push(r))?;
    out.reverse();
    Ok(out)
}

/// The MTH of each range, in order.
fn hashes_of<E>(
    ranges: Vec<Range<u64>>,
    mut node: impl FnMut(Subtree) -> Result<Hash, E>,
) -> Result<Vec<Hash>, E> {
    ranges
        .into_iter()
        .map(|r| range_hash(r, &mut node))
        .collect()
}

/// The inclusion proof for `index` in a tree of `size`, from a perfect-subtree hash source.
pub fn inclusion_proof<E: From<TlogError>>(
    index: u64,
    size: u64,
    node: impl FnMut(Subtree) -> Result<Hash, E>,
) -> Result<Vec<Hash>, E> {
    hashes_of(inclusion_ranges(index, size)?, node)
}

/// The consistency proof from `old` to `new`, from a perfect-subtree hash source.
pub fn consistency_proof<E: From<TlogError>>(
    old: u64,
    new: u64,
    node: impl FnMut(Subtree) -> Result<Hash, E>,
) -> Result<Vec<Hash>, E> {
    hashes_of(consistency_ranges(old, new)?, node)
}

/// How many ranges a walk visits: a proof's length, found without allocating.
fn count(
    walk: impl FnOnce(&mut dyn FnMut(Range<u64>)) -> Result<(), TlogError>,
) -> Result<usize, TlogError> {
    let mut n = 0usize;
    walk(&mut |_| n += 1)?;
    Ok(n)
}

/// Shifts both node positions right until `f` is odd (or zero): climbing past the levels where
/// the path runs along the right edge and so has no sibling.
fn climb_right_edge(f: &mut u64, s: &mut u64) {
    while *f & 1 == 0 && *f != 0 {
        *f >>= 1;
        *s >>= 1;
    }
}

/// RFC 9162 §2.1.3.2: checks that `leaf` is at `index` in the tree of `size` with `root`.
///
/// The proof length is checked against the one the RFC construction gives before any hashing,
/// so overlong or short proofs fail with [`TlogError::ProofLength`].
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), TlogError> {
    let want = count(|v| walk_inclusion(index, size, v))?;
    let length_error = TlogError::ProofLength {
        got: proof.len(),
        want,
    };
    if proof.len() != want {
        return Err(length_error);
    }
    // index < size was checked by walk_inclusion, so size ≥ 1.
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(length_error);
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            climb_right_edge(&mut f, &mut s);
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(length_error);
    }
    if r != *root {
        return Err(TlogError::RootMismatch);
    }
    Ok(())
}

/// RFC 9162 §2.1.4.2: checks that the tree of `new_size` with `new_root` extends the tree of
/// `old_size` with `old_root`.
///
/// A proof from size 0 is rejected (every tree extends the empty one, so such a "proof" proves
/// nothing and is almost certainly a client bug); equal sizes need an empty proof and equal
/// roots.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), TlogError> {
    let want = count(|v| walk_consistency(old_size, new_size, v))?;
    let length_error = TlogError::ProofLength {
        got: proof.len(),
        want,
    };
    if proof.len() != want {
        return Err(length_error);
    }
    if old_size == new_size {
        return if old_root == new_root {
            Ok(())
        } else {
            Err(TlogError::RootMismatch)
        };
    }
    // When the old tree is a perfect subtree its root is a node of the new tree that the
    // proof omits; the RFC algorithm starts from it as if it were the proof's first element.
    let seed = old_size.is_power_of_two().then_some(old_root);
    let mut path = seed.into_iter().chain(proof);
    let Some(first) = path.next() else {
        return Err(length_error);
    };
    // 0 < old_size < new_size was checked by walk_consistency.
    let (mut f, mut s) = (old_size - 1, new_size - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in path {
        if s == 0 {
            return Err(length_error);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            climb_right_edge(&mut f, &mut s);
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(length_error);
    }
    if fr != *old_root || sr != *new_root {
        return Err(TlogError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests;

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
mod tests {
    use super::*;
    use crate::tlog::hash::root_of;
    use crate::tlog::leaf_hash;
    use std::convert::Infallible;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    /// A subtree hash source that recomputes every node from the leaves.
    fn naive(leaves: &[Hash]) -> impl FnMut(Subtree) -> Result<Hash, TlogError> + '_ {
        |s| {
            let r = s.leaves();
            let (a, b) = (r.start as usize, r.end as usize);
            leaves
                .get(a..b)
                .map(root_of)
                .ok_or(TlogError::IndexOutOfRange {
                    index: r.end,
                    size: leaves.len() as u64,
                })
        }
    }

    #[test]
    fn subtree_leaves() {
        assert_eq!(
            Subtree {
                height: 0,
                index: 5
            }
            .leaves(),
            5..6
        );
        assert_eq!(
            Subtree {
                height: 3,
                index: 2
            }
            .leaves(),
            16..24
        );
        assert_eq!(
            Subtree {
                height: 63,
                index: 1
            }
            .leaves(),
            1 << 63..u64::MAX
        );
        assert_eq!(
            Subtree {
                height: 200,
                index: 0
            }
            .leaves(),
            0..u64::MAX
        );
    }

    #[test]
    fn subtree_decomposition() {
        let st = |h, i| Subtree {
            height: h,
            index: i,
        };
        assert_eq!(subtrees(0..0), vec![]);
        #[allow(clippy::reversed_empty_ranges)]
        let reversed = 5..3;
        assert_eq!(subtrees(reversed), vec![]);
        assert_eq!(subtrees(0..1), vec![st(0, 0)]);
        assert_eq!(subtrees(0..8), vec![st(3, 0)]);
        assert_eq!(subtrees(0..7), vec![st(2, 0), st(1, 2), st(0, 6)]);
        assert_eq!(subtrees(4..7), vec![st(1, 2), st(0, 6)]);
        assert_eq!(subtrees(3..9), vec![st(0, 3), st(2, 1), st(0, 8)]);
        assert_eq!(subtrees(0..u64::MAX).len(), 64);
        assert_eq!(
            subtrees(1 << 63..u64::MAX).last(),
            Some(&st(0, u64::MAX - 1))
        );
        // The decomposition tiles the range exactly.
        for start in 0..40u64 {
            for end in start..80 {
                let mut pos = start;
                for s in subtrees(start..end) {
                    assert_eq!(s.leaves().start, pos);
                    pos = s.leaves().end;
                }
                assert_eq!(pos, end);
            }
        }
    }

    #[test]
    fn range_hash_matches_mth_on_aligned_ranges() {
        let l = leaves(64);
        for len in 0..=32u64 {
            let align = len.next_power_of_two();
            for start in (0..=32).step_by(align as usize) {
                let want = root_of(&l[start as usize..(start + len) as usize]);
                let got = range_hash(start..start + len, naive(&l)).unwrap();
                assert_eq!(got, want, "range {start}..{}", start + len);
            }
        }
    }

    #[test]
    fn range_hash_propagates_errors() {
        let r: Result<Hash, &str> = range_hash(0..3, |_| Err("gone"));
        assert_eq!(r, Err("gone"));
        let r: Result<Hash, Infallible> = range_hash(0..0, |_| unreachable!());
        assert_eq!(r, Ok(empty_root()));
    }

    // RFC 6962 §2.1.3 works through a 7-leaf tree; its audit paths and consistency proofs.
    #[test]
    fn rfc6962_examples() {
        assert_eq!(inclusion_ranges(0, 7).unwrap(), vec![1..2, 2..4, 4..7]);
        assert_eq!(inclusion_ranges(3, 7).unwrap(), vec![2..3, 0..2, 4..7]);
        assert_eq!(inclusion_ranges(4, 7).unwrap(), vec![5..6, 6..7, 0..4]);
        assert_eq!(inclusion_ranges(6, 7).unwrap(), vec![4..6, 0..4]);
        assert_eq!(
            consistency_ranges(3, 7).unwrap(),
            vec![2..3, 3..4, 0..2, 4..7]
        );
        assert_eq!(consistency_ranges(4, 7).unwrap(), vec![4..7]);
        assert_eq!(consistency_ranges(6, 7).unwrap(), vec![4..6, 6..7, 0..4]);
    }

    #[test]
    fn range_errors() {
        assert_eq!(
            inclusion_ranges(3, 3),
            Err(TlogError::IndexOutOfRange { index: 3, size: 3 })
        );
        assert!(inclusion_ranges(0, 0).is_err());
        assert_eq!(inclusion_ranges(0, 1).unwrap(), vec![]);
        assert_eq!(
            consistency_ranges(0, 5),
            Err(TlogError::InvalidSizes { old: 0, new: 5 })
        );
        assert!(consistency_ranges(0, 0).is_err());
        assert!(consistency_ranges(6, 5).is_err());
        assert_eq!(consistency_ranges(5, 5).unwrap(), vec![]);
    }

    #[test]
    fn every_proof_in_small_trees_verifies() {
        let l = leaves(40);
        for size in 1..=l.len() as u64 {
            let tree = &l[..size as usize];
            let root = root_of(tree);
            for index in 0..size {
                let proof = inclusion_proof(index, size, naive(tree)).unwrap();
                verify_inclusion(&l[index as usize], index, size, &proof, &root).unwrap();
            }
            for old in 1..=size {
                let old_root = root_of(&l[..old as usize]);
                let proof = consistency_proof(old, size, naive(tree)).unwrap();
                verify_consistency(old, size, &old_root, &root, &proof).unwrap();
                if old < size {
                    assert_eq!(
                        verify_consistency(old, size, &root, &old_root, &proof),
                        Err(TlogError::RootMismatch)
                    );
                }
            }
        }
    }

    #[test]
    fn verification_errors() {
        let l = leaves(5);
        let root = root_of(&l);
        let proof = inclusion_proof(2, 5, naive(&l)).unwrap();
        assert_eq!(
            verify_inclusion(&l[2], 5, 5, &proof, &root),
            Err(TlogError::IndexOutOfRange { index: 5, size: 5 })
        );
        assert_eq!(
            verify_inclusion(&l[2], 2, 5, &proof[1..], &root),
            Err(TlogError::ProofLength { got: 2, want: 3 })
        );
        assert_eq!(
            verify_inclusion(&l[3], 2, 5, &proof, &root),
            Err(TlogError::RootMismatch)
        );
        let old_root = root_of(&l[..3]);
        let proof = consistency_proof(3, 5, naive(&l)).unwrap();
        assert_eq!(
            verify_consistency(0, 5, &old_root, &root, &proof),
            Err(TlogError::InvalidSizes { old: 0, new: 5 })
        );
        assert_eq!(
            verify_consistency(0, 0, &empty_root(), &empty_root(), &[]),
            Err(TlogError::InvalidSizes { old: 0, new: 0 })
        );
        assert_eq!(
            verify_consistency(5, 5, &root, &root, &proof[..1]),
            Err(TlogError::ProofLength { got: 1, want: 0 })
        );
        assert_eq!(
            verify_consistency(5, 5, &root, &old_root, &[]),
            Err(TlogError::RootMismatch)
        );
        assert_eq!(verify_consistency(5, 5, &root, &root, &[]), Ok(()));
    }

    #[test]
    fn extreme_sizes_do_not_panic() {
        let h = leaf_hash(b"x");
        for &(index, size) in &[
            (0, u64::MAX),
            (u64::MAX - 1, u64::MAX),
            (1 << 63, u64::MAX),
            (u64::MAX, u64::MAX),
            (u64::MAX, 0),
        ] {
            let want = inclusion_ranges(index, size).map(|r| r.len());
            for len in [0, 1, 63, 64, 65] {
                let proof = vec![h; len];
                let got = verify_inclusion(&h, index, size, &proof, &h);
                assert!(got.is_err());
                if let Ok(want) = want {
                    assert!(want <= 64);
                    if len != want {
                        assert_eq!(got, Err(TlogError::ProofLength { got: len, want }));
                    }
                }
            }
        }
        for &(old, new) in &[
            (1, u64::MAX),
            (u64::MAX - 1, u64::MAX),
            (1 << 63, u64::MAX),
            ((1 << 63) + 1, u64::MAX),
            (u64::MAX, u64::MAX),
            (u64::MAX, 0),
            (0, u64::MAX),
        ] {
            for len in [0, 1, 63, 64, 65, 128] {
                let proof = vec![h; len];
                let ok = verify_consistency(old, new, &h, &h, &proof).is_ok();
                assert_eq!(ok, old == new && len == 0);
            }
        }
        assert_eq!(consistency_ranges(1, u64::MAX).unwrap().len(), 64);
    }
}

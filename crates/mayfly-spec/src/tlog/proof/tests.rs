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

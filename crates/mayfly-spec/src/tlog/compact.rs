//! Compact ranges: the perfect-subtree hashes of a tree's prefix `[0, size)`, enough to append
//! leaves and compute every later root without the rest of the tree.
//!
//! A monitor that has checked a prefix against a signed root keeps (or re-reads from tiles)
//! these O(log n) hashes, appends the leaf hashes of the entries it downloads, and compares the
//! resulting root with the next checkpoint: equal roots prove that every downloaded entry is in
//! the signed tree, at the position it was read from.

use crate::tlog::proof::{Subtree, subtrees};
use crate::tlog::{Hash, TlogError, node_hash};

/// The hashes of `subtrees(0..size)`, largest (leftmost) first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactRange {
    size: u64,
    nodes: Vec<Hash>,
}

impl CompactRange {
    /// The range of the empty tree.
    pub fn new() -> Self {
        CompactRange::default()
    }

    /// The perfect subtrees whose hashes [`CompactRange::from_hashes`] takes for `size`.
    pub fn subtrees(size: u64) -> Vec<Subtree> {
        subtrees(0..size)
    }

    /// A range from the hashes of [`CompactRange::subtrees`]`(size)`, in that order. The
    /// hashes are not checked here; compare [`CompactRange::root`] with a trusted root.
    pub fn from_hashes(size: u64, nodes: Vec<Hash>) -> Result<Self, TlogError> {
        let want = size.count_ones() as usize;
        if nodes.len() != want {
            return Err(TlogError::ProofLength {
                got: nodes.len(),
                want,
            });
        }
        Ok(CompactRange { size, nodes })
    }

    /// Number of leaves covered.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends one leaf hash. The subtrees of `[0, size)` are one per set bit of `size`, so
    /// the new leaf merges with as many right-edge subtrees as `size` has trailing ones.
    pub fn push(&mut self, leaf: Hash) {
        let mut merges = self.size.trailing_ones();
        let mut right = leaf;
        while merges > 0 {
            // The invariant nodes.len() == size.count_ones() ≥ merges keeps this Some.
            let Some(left) = self.nodes.pop() else { break };
            right = node_hash(&left, &right);
            merges -= 1;
        }
        self.nodes.push(right);
        self.size += 1;
    }

    /// The RFC 6962 root of `[0, size)`: the right fold of the subtree hashes.
    pub fn root(&self) -> Hash {
        let mut rev = self.nodes.iter().rev();
        let Some(last) = rev.next() else {
            return crate::tlog::hash::empty_root();
        };
        rev.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::hash::root_of;
    use crate::tlog::leaf_hash;
    use crate::tlog::proof::range_hash;

    #[test]
    fn matches_the_reference_root_at_every_size() {
        let leaves: Vec<Hash> = (0u32..300).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut range = CompactRange::new();
        assert_eq!(range.root(), root_of(&[]));
        for (i, leaf) in leaves.iter().enumerate() {
            range.push(*leaf);
            assert_eq!(range.size(), i as u64 + 1);
            assert_eq!(range.root(), root_of(&leaves[..=i]), "size {}", i + 1);
        }
    }

    #[test]
    fn resumes_from_subtree_hashes() {
        let leaves: Vec<Hash> = (0u32..77).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let node = |s: Subtree| {
            let r = s.leaves();
            Ok::<_, TlogError>(root_of(&leaves[r.start as usize..r.end as usize]))
        };
        for start in [0u64, 1, 5, 32, 50] {
            let hashes = CompactRange::subtrees(start)
                .into_iter()
                .map(node)
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let mut range = CompactRange::from_hashes(start, hashes).unwrap();
            assert_eq!(range.root(), range_hash(0..start, node).unwrap());
            for leaf in &leaves[start as usize..] {
                range.push(*leaf);
            }
            assert_eq!(range.root(), root_of(&leaves));
        }
        assert!(CompactRange::from_hashes(5, vec![Hash::default()]).is_err());
    }
}

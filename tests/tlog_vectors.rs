//! The Merkle proof and tile code against outside references: the transparency-dev/merkle
//! proof vectors, the RFC 6962 8-leaf reference tree, and (by property testing) a naive
//! recomputation of every hash from the leaves.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use mayfly_spec::tlog::hash::{largest_power_of_two_below, root_of};
use mayfly_spec::tlog::proof::{
    Subtree, consistency_proof, consistency_ranges, inclusion_proof, inclusion_ranges, range_hash,
    verify_consistency, verify_inclusion,
};
use mayfly_spec::tlog::tile::{TileId, TileTree, locate, tile_width};
use mayfly_spec::tlog::{Hash, TlogError, leaf_hash, node_hash};
use proptest::prelude::*;
use serde::Deserialize;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors");

// ---------------------------------------------------------------------------------------------
// Hash sources

#[derive(Debug, PartialEq)]
enum SourceError {
    Proof(TlogError),
    Missing(Subtree),
}

impl From<TlogError> for SourceError {
    fn from(e: TlogError) -> Self {
        SourceError::Proof(e)
    }
}

/// A log of the given leaves, with its hashes held the way the engine holds them: in tiles,
/// built by pushing one hash at a time and carrying each full tile's root one level up.
struct Log {
    leaves: Vec<Hash>,
    tiles: BTreeMap<TileId, TileTree>,
    /// MTH of all the leaves, computed once: it is the most expensive naive hash.
    root: Hash,
}

impl Log {
    fn new(leaves: Vec<Hash>) -> Log {
        let mut tiles: BTreeMap<TileId, TileTree> = BTreeMap::new();
        for (i, leaf) in leaves.iter().enumerate() {
            let mut level = 0u8;
            let mut index = i as u64 >> 8;
            let mut hash = *leaf;
            loop {
                let id = TileId { level, index };
                let tile = tiles.entry(id).or_insert_with(|| TileTree::new(id));
                tile.push(hash).expect("tile overfilled");
                match tile.root() {
                    Some(root) => {
                        hash = root;
                        level += 1;
                        index >>= 8;
                    }
                    None => break,
                }
            }
        }
        let root = root_of(&leaves);
        Log {
            leaves,
            tiles,
            root,
        }
    }

    fn size(&self) -> u64 {
        self.leaves.len() as u64
    }

    /// Every hash recomputed from the leaves.
    fn naive(&self, s: Subtree) -> Result<Hash, SourceError> {
        let r = s.leaves();
        let range = usize::try_from(r.start).ok()..usize::try_from(r.end).ok();
        match range {
            Range {
                start: Some(a),
                end: Some(b),
            } => self
                .leaves
                .get(a..b)
                .map(root_of)
                .ok_or(SourceError::Missing(s)),
            _ => Err(SourceError::Missing(s)),
        }
    }

    /// Every hash read from a tile.
    fn tiled(&self, s: Subtree) -> Result<Hash, SourceError> {
        let (id, local_height, local_index) = locate(s);
        self.tiles
            .get(&id)
            .and_then(|t| t.node(local_height, local_index))
            .ok_or(SourceError::Missing(s))
    }

    fn root(&self, size: u64) -> Hash {
        if size == self.size() {
            self.root
        } else {
            root_of(&self.leaves[..size as usize])
        }
    }

    /// The tiles are exactly the ones a tree of this size has, each as wide as the tile maths
    /// says and equal to one built in a single step from its hashes.
    fn check_tiles(&self) {
        let size = self.size();
        for (id, tile) in &self.tiles {
            assert_eq!(tile.id(), *id);
            assert_eq!(tile.width(), tile_width(*id, size), "{id:?} in size {size}");
            assert_eq!(
                TileTree::from_hashes(*id, tile.hashes()).as_ref(),
                Ok(tile),
                "{id:?}"
            );
        }
        for level in 0..8u8 {
            let mut index = 0;
            while tile_width(TileId { level, index }, size) > 0 {
                assert!(self.tiles.contains_key(&TileId { level, index }));
                index += 1;
            }
            let present = self.tiles.keys().filter(|id| id.level == level).count();
            assert_eq!(present as u64, index, "level {level} tiles in size {size}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reference verifiers
//
// Verification with a neighbouring size can legitimately succeed: a proof only fixes the
// sequence of left/right turns, and e.g. leaf 0 takes the same turns in trees of 3 and 4
// leaves. So off-by-one sizes are checked against these: they rebuild the root(s) from the
// proof by the RFC 6962 recursion over the ranges the proof is made of, independently of the
// RFC 9162 bit-twiddling verifiers.

/// MTH of [lo, hi) by the RFC 6962 recursion, taking the hashes of some ranges as given.
fn rebuild(lo: u64, hi: u64, known: &HashMap<(u64, u64), Hash>) -> Option<Hash> {
    if let Some(h) = known.get(&(lo, hi)) {
        return Some(*h);
    }
    if hi - lo < 2 {
        return None;
    }
    let mid = lo + largest_power_of_two_below(hi - lo);
    Some(node_hash(
        &rebuild(lo, mid, known)?,
        &rebuild(mid, hi, known)?,
    ))
}

fn known_from(ranges: Vec<Range<u64>>, proof: &[Hash]) -> Option<HashMap<(u64, u64), Hash>> {
    (ranges.len() == proof.len()).then(|| {
        ranges
            .into_iter()
            .map(|r| (r.start, r.end))
            .zip(proof.iter().copied())
            .collect()
    })
}

fn reference_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    let Ok(ranges) = inclusion_ranges(index, size) else {
        return false;
    };
    let Some(mut known) = known_from(ranges, proof) else {
        return false;
    };
    known.insert((index, index + 1), *leaf);
    rebuild(0, size, &known) == Some(*root)
}

fn reference_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old == new && old != 0 {
        return proof.is_empty() && old_root == new_root;
    }
    let Ok(ranges) = consistency_ranges(old, new) else {
        return false;
    };
    let Some(mut known) = known_from(ranges, proof) else {
        return false;
    };
    if old.is_power_of_two() {
        known.insert((0, old), *old_root);
    }
    rebuild(0, old, &known) == Some(*old_root) && rebuild(0, new, &known) == Some(*new_root)
}

fn flip(h: &Hash, bit: usize) -> Hash {
    let mut out = *h;
    out.0[bit / 8] ^= 1 << (bit % 8);
    out
}

// ---------------------------------------------------------------------------------------------
// Per-tree checks, shared by the property tests and the large fixed tree

/// Builds the inclusion proof for `index` from tiles and from the leaves, and checks that they
/// agree, verify, and stop verifying under any change to their inputs.
fn check_inclusion(log: &Log, index: u64, flips: bool) {
    let size = log.size();
    let root = log.root(size);
    let leaf = log.leaves[index as usize];
    let proof = inclusion_proof(index, size, |s| log.tiled(s)).expect("tiled inclusion proof");
    let naive = inclusion_proof(index, size, |s| log.naive(s)).expect("naive inclusion proof");
    assert_eq!(proof, naive, "inclusion proof of {index} in {size}");
    assert_eq!(verify_inclusion(&leaf, index, size, &proof, &root), Ok(()));
    assert!(reference_inclusion(&leaf, index, size, &proof, &root));

    for wrong in [index.wrapping_sub(1), index.wrapping_add(1)] {
        assert!(
            verify_inclusion(&leaf, wrong, size, &proof, &root).is_err(),
            "proof of {index} in {size} accepted for index {wrong}"
        );
    }
    for wrong in [size.wrapping_sub(1), size.wrapping_add(1)] {
        assert_eq!(
            verify_inclusion(&leaf, index, wrong, &proof, &root).is_ok(),
            reference_inclusion(&leaf, index, wrong, &proof, &root),
            "proof of {index} in {size} checked as size {wrong}"
        );
    }
    if !flips {
        return;
    }
    for bit in 0..256 {
        assert!(verify_inclusion(&flip(&leaf, bit), index, size, &proof, &root).is_err());
        assert!(verify_inclusion(&leaf, index, size, &proof, &flip(&root, bit)).is_err());
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i] = flip(&bad[i], bit);
            assert!(
                verify_inclusion(&leaf, index, size, &bad, &root).is_err(),
                "proof of {index} in {size} with bit {bit} of hash {i} flipped"
            );
        }
    }
}

/// As [`check_inclusion`], for the consistency proof from `old` to the log's size.
fn check_consistency(log: &Log, old: u64, flips: bool) {
    let new = log.size();
    let (old_root, new_root) = (log.root(old), log.root(new));
    let proof = consistency_proof(old, new, |s| log.tiled(s)).expect("tiled consistency proof");
    let naive = consistency_proof(old, new, |s| log.naive(s)).expect("naive consistency proof");
    assert_eq!(proof, naive, "consistency proof {old} → {new}");
    assert_eq!(
        verify_consistency(old, new, &old_root, &new_root, &proof),
        Ok(())
    );
    assert!(reference_consistency(
        old, new, &old_root, &new_root, &proof
    ));

    for (o, n) in [
        (old.wrapping_sub(1), new),
        (old.wrapping_add(1), new),
        (old, new.wrapping_sub(1)),
        (old, new.wrapping_add(1)),
    ] {
        assert_eq!(
            verify_consistency(o, n, &old_root, &new_root, &proof).is_ok(),
            reference_consistency(o, n, &old_root, &new_root, &proof),
            "proof {old} → {new} checked as {o} → {n}"
        );
    }
    if !flips {
        return;
    }
    for bit in 0..256 {
        assert!(verify_consistency(old, new, &flip(&old_root, bit), &new_root, &proof).is_err());
        assert!(verify_consistency(old, new, &old_root, &flip(&new_root, bit), &proof).is_err());
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i] = flip(&bad[i], bit);
            assert!(
                verify_consistency(old, new, &old_root, &new_root, &bad).is_err(),
                "proof {old} → {new} with bit {bit} of hash {i} flipped"
            );
        }
    }
}

fn seeded_leaves(seed: u64, size: u64) -> Vec<Hash> {
    (0..size)
        .map(|i| {
            let mut input = seed.to_be_bytes().to_vec();
            input.extend_from_slice(&i.to_be_bytes());
            leaf_hash(&input)
        })
        .collect()
}

fn check_log(log: &Log, index: u64, old: u64, flips: bool) {
    log.check_tiles();
    let size = log.size();
    assert_eq!(
        range_hash(0..size, |s| log.tiled(s)),
        Ok(log.root(size)),
        "root of {size} from tiles"
    );
    check_inclusion(log, index, flips);
    check_consistency(log, old, flips);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 40,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn tiled_proofs_match_naive_and_resist_tampering(
        size in prop_oneof![1u64..=40, 1u64..=3000],
        seed in any::<u64>(),
        index in any::<u64>(),
        old in any::<u64>(),
    ) {
        let log = Log::new(seeded_leaves(seed, size));
        check_log(&log, index % size, 1 + old % size, true);
    }
}

/// A tree deep enough for level-2 tiles, with proofs that cross every tile boundary kind.
#[test]
fn large_tree_with_level_two_tiles() {
    let size = 2 * 65536 + 3 * 256 + 5;
    let log = Log::new(seeded_leaves(7, size));
    assert!(log.tiles.contains_key(&TileId { level: 2, index: 0 }));
    log.check_tiles();
    assert_eq!(range_hash(0..size, |s| log.tiled(s)), Ok(log.root(size)));
    // Each naive proof rehashes the whole tree, so only the boundaries that matter.
    for index in [255, 65536, 2 * 65536 + 256, size - 1] {
        check_inclusion(&log, index, false);
    }
    for old in [1, 65536, 65537, 2 * 65536] {
        check_consistency(&log, old, false);
    }
    check_inclusion(&log, 65536 + 300, true);
    check_consistency(&log, 65536 + 300, true);
}

// ---------------------------------------------------------------------------------------------
// RFC 6962 reference tree

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReferenceTree {
    leaf_inputs_hex: Vec<String>,
    root_hashes_hex_by_size: Vec<String>,
}

fn reference_tree() -> (Vec<Hash>, Vec<Hash>) {
    let path = format!("{VECTORS}/rfc6962-8-leaves.json");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let tree: ReferenceTree = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let leaves = tree
        .leaf_inputs_hex
        .iter()
        .map(|h| leaf_hash(&hex::decode(h).expect("leaf input hex")))
        .collect();
    let roots = tree
        .root_hashes_hex_by_size
        .iter()
        .map(|h| Hash::from_hex(h).expect("root hex"))
        .collect();
    (leaves, roots)
}

#[test]
fn rfc6962_reference_tree() {
    let (leaves, roots) = reference_tree();
    assert_eq!(leaves.len(), 8);
    assert_eq!(roots.len(), 9);
    let log = Log::new(leaves);
    for (size, want) in roots.iter().enumerate() {
        let size = size as u64;
        assert_eq!(log.root(size), *want, "root_of, size {size}");
        let via_subtrees = range_hash(0..size, |s| log.naive(s));
        assert_eq!(via_subtrees, Ok(*want), "range_hash, size {size}");
    }
    for size in 1..=8u64 {
        let tree = Log::new(log.leaves[..size as usize].to_vec());
        for index in 0..size {
            let proof = inclusion_proof(index, size, |s| tree.naive(s)).unwrap();
            let leaf = &tree.leaves[index as usize];
            assert_eq!(
                verify_inclusion(leaf, index, size, &proof, &roots[size as usize]),
                Ok(()),
                "inclusion of {index} in {size}"
            );
        }
        for old in 1..=size {
            let proof = consistency_proof(old, size, |s| tree.naive(s)).unwrap();
            assert_eq!(
                verify_consistency(
                    old,
                    size,
                    &roots[old as usize],
                    &roots[size as usize],
                    &proof
                ),
                Ok(()),
                "consistency {old} → {size}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// transparency-dev/merkle vectors

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InclusionVector {
    leaf_idx: u64,
    tree_size: u64,
    root: String,
    leaf_hash: String,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConsistencyVector {
    size1: u64,
    size2: u64,
    root1: String,
    root2: String,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

/// A vector's hash field. The vectors also hold byte strings that are not 32 bytes long (empty
/// hashes, "don't care" placeholders); those cannot reach the verifiers, whose inputs are
/// [`Hash`]es, because every decoder in front of them goes through `Hash::from_slice`.
enum VectorHash {
    Hash(Hash),
    Other(Vec<u8>),
}

impl VectorHash {
    fn decode(text: &str) -> Result<VectorHash, String> {
        let bytes = BASE64
            .decode(text)
            .map_err(|e| format!("bad base64 {text:?}: {e}"))?;
        Ok(match Hash::from_slice(&bytes) {
            Some(h) => VectorHash::Hash(h),
            None => VectorHash::Other(bytes),
        })
    }

    fn strict(&self) -> Option<Hash> {
        match self {
            VectorHash::Hash(h) => Some(*h),
            VectorHash::Other(_) => None,
        }
    }

    /// The value zero-padded to 32 bytes: injective on the short placeholders the vectors use,
    /// so equal placeholders stay equal and different ones stay different.
    fn padded(&self) -> Hash {
        match self {
            VectorHash::Hash(h) => *h,
            VectorHash::Other(bytes) => {
                let mut out = [0u8; 32];
                let n = bytes.len().min(32);
                out[..n].copy_from_slice(&bytes[..n]);
                Hash(out)
            }
        }
    }
}

fn decode_proof(proof: &Option<Vec<String>>) -> Result<Vec<VectorHash>, String> {
    proof
        .iter()
        .flatten()
        .map(|h| VectorHash::decode(h))
        .collect()
}

/// Whether the verifier accepts a vector, given its hashes: a vector any of whose hashes is not
/// 32 bytes long is rejected at decoding, except that a happy path of that kind (a Go-specific
/// byte-string comparison case) is run with its placeholders padded, so that it still has to
/// verify.
fn accepted(
    hashes: &[&VectorHash],
    want_err: bool,
    verify: impl Fn(&dyn Fn(&VectorHash) -> Hash) -> Result<(), TlogError>,
) -> Result<(), String> {
    let all_strict = hashes.iter().all(|h| h.strict().is_some());
    if !all_strict && want_err {
        return Err("a hash is not 32 bytes long".into());
    }
    verify(&VectorHash::padded).map_err(|e| e.to_string())
}

fn run_inclusion(v: &InclusionVector) -> Result<Result<(), String>, String> {
    let root = VectorHash::decode(&v.root)?;
    let leaf = VectorHash::decode(&v.leaf_hash)?;
    let proof = decode_proof(&v.proof)?;
    let mut all: Vec<&VectorHash> = vec![&root, &leaf];
    all.extend(proof.iter());
    Ok(accepted(&all, v.want_err, |h| {
        let proof: Vec<Hash> = proof.iter().map(h).collect();
        verify_inclusion(&h(&leaf), v.leaf_idx, v.tree_size, &proof, &h(&root))
    }))
}

fn run_consistency(v: &ConsistencyVector) -> Result<Result<(), String>, String> {
    let root1 = VectorHash::decode(&v.root1)?;
    let root2 = VectorHash::decode(&v.root2)?;
    let proof = decode_proof(&v.proof)?;
    let mut all: Vec<&VectorHash> = vec![&root1, &root2];
    all.extend(proof.iter());
    Ok(accepted(&all, v.want_err, |h| {
        let proof: Vec<Hash> = proof.iter().map(h).collect();
        verify_consistency(v.size1, v.size2, &h(&root1), &h(&root2), &proof)
    }))
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let entries = fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        for entry in entries {
            let path = entry
                .unwrap_or_else(|e| panic!("{}: {e}", d.display()))
                .path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Runs every vector file under `kind`, returning how many there were and the failures.
fn run_vectors(
    kind: &str,
    run: impl Fn(&str) -> Result<(bool, String, Result<(), String>), String>,
) -> (usize, Vec<String>) {
    let files = files_under(&Path::new(VECTORS).join("merkle").join(kind));
    let mut failures = Vec::new();
    for path in &files {
        let shown = path.display();
        let outcome = fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| run(&text));
        match outcome {
            Err(e) => failures.push(format!("{shown}: unreadable vector: {e}")),
            Ok((false, desc, Err(e))) => {
                failures.push(format!("{shown} ({desc}): should verify, but: {e}"))
            }
            Ok((true, desc, Ok(()))) => {
                failures.push(format!("{shown} ({desc}): wantErr, but verified"))
            }
            Ok(_) => {}
        }
    }
    (files.len(), failures)
}

fn report(kind: &str, (count, failures): (usize, Vec<String>)) {
    assert!(count > 0, "no {kind} vectors found under {VECTORS}/merkle");
    let mut text = String::new();
    for f in &failures {
        let _ = writeln!(text, "  {f}");
    }
    assert!(
        failures.is_empty(),
        "{} of {count} {kind} vectors failed:\n{text}",
        failures.len()
    );
}

#[test]
fn transparency_dev_inclusion_vectors() {
    report(
        "inclusion",
        run_vectors("inclusion", |text| {
            let v: InclusionVector = serde_json::from_str(text).map_err(|e| e.to_string())?;
            Ok((v.want_err, v.desc.clone(), run_inclusion(&v)?))
        }),
    );
}

#[test]
fn transparency_dev_consistency_vectors() {
    report(
        "consistency",
        run_vectors("consistency", |text| {
            let v: ConsistencyVector = serde_json::from_str(text).map_err(|e| e.to_string())?;
            Ok((v.want_err, v.desc.clone(), run_consistency(&v)?))
        }),
    );
}

/// The happy-path vectors over the RFC 6962 reference tree are exactly the proofs we build.
#[test]
fn transparency_dev_happy_paths_are_our_proofs() {
    let (leaves, roots) = reference_tree();
    let log = Log::new(leaves);
    let root_of_size = |size: u64, root: &str| {
        let root = VectorHash::decode(root).ok()?.strict()?;
        (roots.get(usize::try_from(size).ok()?) == Some(&root)).then_some(())
    };
    let strict_proof = |p: &Option<Vec<String>>| -> Vec<Hash> {
        decode_proof(p)
            .expect("proof decodes")
            .iter()
            .map(|h| h.strict().expect("32-byte proof hash"))
            .collect()
    };
    let mut compared = 0;
    let dir = Path::new(VECTORS).join("merkle");
    for path in files_under(&dir.join("inclusion")) {
        let text = fs::read_to_string(&path).expect("readable");
        let v: InclusionVector = serde_json::from_str(&text).expect("parses");
        if v.want_err || root_of_size(v.tree_size, &v.root).is_none() {
            continue;
        }
        let tree = Log::new(log.leaves[..v.tree_size as usize].to_vec());
        let ours = inclusion_proof(v.leaf_idx, v.tree_size, |s| tree.naive(s)).unwrap();
        assert_eq!(ours, strict_proof(&v.proof), "{}", path.display());
        compared += 1;
    }
    for path in files_under(&dir.join("consistency")) {
        let text = fs::read_to_string(&path).expect("readable");
        let v: ConsistencyVector = serde_json::from_str(&text).expect("parses");
        if v.want_err || root_of_size(v.size2, &v.root2).is_none() {
            continue;
        }
        let tree = Log::new(log.leaves[..v.size2 as usize].to_vec());
        let ours = consistency_proof(v.size1, v.size2, |s| tree.naive(s)).unwrap();
        assert_eq!(ours, strict_proof(&v.proof), "{}", path.display());
        compared += 1;
    }
    assert!(
        compared >= 10,
        "only {compared} happy paths were over the reference tree"
    );
}

use super::*;
use crate::tlog::hash::root_of;
use crate::tlog::leaf_hash;
use crate::tlog::{Hash, TlogError};

fn hashes(n: u64) -> Vec<Hash> {
    (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect()
}

fn hash_path(level: u8, index: u64, width: Option<u8>) -> TilePath {
    TilePath::Hash {
        id: TileId { level, index },
        width,
    }
}

#[test]
fn paths_round_trip() {
    let cases = [
        ("tile/0/000", hash_path(0, 0, None)),
        ("tile/0/005", hash_path(0, 5, None)),
        ("tile/1/999", hash_path(1, 999, None)),
        ("tile/2/x001/000", hash_path(2, 1000, None)),
        ("tile/0/x001/x234/067", hash_path(0, 1_234_067, None)),
        (
            "tile/63/x001/x234/067.p/255",
            hash_path(63, 1_234_067, Some(255)),
        ),
        ("tile/0/000.p/1", hash_path(0, 0, Some(1))),
        (
            "tile/0/x018/x446/x744/x073/x709/x551/615",
            hash_path(0, u64::MAX, None),
        ),
        (
            "tile/entries/000",
            TilePath::Entries {
                index: 0,
                width: None,
            },
        ),
        (
            "tile/entries/x123/456.p/78",
            TilePath::Entries {
                index: 123_456,
                width: Some(78),
            },
        ),
    ];
    for (text, path) in cases {
        assert_eq!(TilePath::parse(text), Ok(path), "{text}");
        assert_eq!(path.to_string(), text);
    }
    for n in [0, 1, 999, 1000, 1001, 999_999, 1_000_000, u64::MAX - 1] {
        for width in [None, Some(1), Some(17), Some(255)] {
            let p = hash_path(7, n, width);
            assert_eq!(TilePath::parse(&p.to_string()), Ok(p));
        }
    }
}

#[test]
fn paths_rejected() {
    for bad in [
        "",
        "tile",
        "tile/",
        "tile/0",
        "tile/0/",
        "/tile/0/000",
        "tiles/0/000",
        "tile/0/5",
        "tile/0/05",
        "tile/0/0005",
        "tile/0/x005",
        "tile/0/001/002",
        "tile/0/x000/005",
        "tile/0/x001/x002",
        "tile/0/x01/002",
        "tile/0/xx01/002",
        "tile/0/x001//002",
        "tile/0/000/",
        "tile/0/+01",
        "tile/0/-01",
        "tile/0/0a0",
        "tile/0/000.p",
        "tile/0/000.p/",
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/01",
        "tile/0/000.p/+1",
        "tile/0/000.p/1/",
        "tile/0/000.p/1/2",
        "tile/0/000.q/1",
        "tile/0/x000.p/1",
        "tile/0/x001.p/1/000",
        "tile/64/000",
        "tile/00/000",
        "tile/01/000",
        "tile/+1/000",
        "tile/100/000",
        "tile/-1/000",
        "tile/entry/000",
        "tile/Entries/000",
        "tile/entries/5",
        "tile/entries",
        "tile/entries/000.p/0",
        "tile/0/x018/x446/x744/x073/x709/x551/616",
        "tile/0/x100/x000/x000/x000/x000/x000/x000/000",
        "tile/0/000\n",
        "tile/0/ 000",
        "tile/0/٠٠٠",
    ] {
        assert!(
            matches!(TilePath::parse(bad), Err(TlogError::TilePath(_))),
            "{bad:?} was accepted"
        );
    }
}

#[test]
fn widths_at_boundaries() {
    let t = |level, index| TileId { level, index };
    assert_eq!(tile_width(t(0, 0), 0), 0);
    assert_eq!(tile_width(t(0, 0), 1), 1);
    assert_eq!(tile_width(t(0, 0), 255), 255);
    assert_eq!(tile_width(t(0, 0), 256), 256);
    assert_eq!(tile_width(t(0, 0), 100_000), 256);
    assert_eq!(tile_width(t(0, 1), 256), 0);
    assert_eq!(tile_width(t(0, 1), 257), 1);
    assert_eq!(tile_width(t(0, 1), 512), 256);
    assert_eq!(tile_width(t(1, 0), 255), 0);
    assert_eq!(tile_width(t(1, 0), 256), 1);
    assert_eq!(tile_width(t(1, 0), 256 * 256 - 1), 255);
    assert_eq!(tile_width(t(1, 0), 256 * 256), 256);
    assert_eq!(tile_width(t(1, 1), 256 * 256 + 255), 0);
    assert_eq!(tile_width(t(1, 1), 256 * 256 + 256), 1);
    assert_eq!(tile_width(t(2, 0), 1 << 16), 1);
    assert_eq!(tile_width(t(7, 0), u64::MAX), 255);
    assert_eq!(tile_width(t(7, 1), u64::MAX), 0);
    assert_eq!(tile_width(t(6, 254), u64::MAX), 256);
    assert_eq!(tile_width(t(6, 255), u64::MAX), 255);
    assert_eq!(tile_width(t(8, 0), u64::MAX), 0);
    assert_eq!(tile_width(t(63, 0), u64::MAX), 0);
    assert_eq!(tile_width(t(255, 0), u64::MAX), 0);
    assert_eq!(tile_width(t(0, u64::MAX), u64::MAX), 0);
    assert_eq!(tile_width(t(0, u64::MAX >> 8), u64::MAX), 255);
    assert_eq!(entries_width(0, 300), 256);
    assert_eq!(entries_width(1, 300), 44);
    assert_eq!(entries_width(2, 300), 0);
}

#[test]
fn locate_subtrees() {
    let s = |height, index| Subtree { height, index };
    let t = |level, index| TileId { level, index };
    assert_eq!(locate(s(0, 0)), (t(0, 0), 0, 0));
    assert_eq!(locate(s(0, 255)), (t(0, 0), 0, 255));
    assert_eq!(locate(s(0, 256)), (t(0, 1), 0, 0));
    assert_eq!(locate(s(3, 5)), (t(0, 0), 3, 5));
    assert_eq!(locate(s(3, 33)), (t(0, 1), 3, 1));
    assert_eq!(locate(s(7, 1)), (t(0, 0), 7, 1));
    assert_eq!(locate(s(7, 2)), (t(0, 1), 7, 0));
    assert_eq!(locate(s(8, 0)), (t(1, 0), 0, 0));
    assert_eq!(locate(s(8, 257)), (t(1, 1), 0, 1));
    assert_eq!(locate(s(9, 3)), (t(1, 0), 1, 3));
    assert_eq!(locate(s(16, 1)), (t(2, 0), 0, 1));
    assert_eq!(locate(s(63, 1)), (t(7, 0), 7, 1));
    assert_eq!(locate(s(0, u64::MAX)), (t(0, u64::MAX >> 8), 0, 255));
    // The located node covers exactly the subtree's leaves.
    for height in 0..24u8 {
        for index in [0u64, 1, 2, 3, 255, 256, 1000] {
            let (id, lh, li) = locate(s(height, index));
            let level_shift = 8 * u32::from(id.level);
            let first = ((id.index << 8) + (li << lh)) << level_shift;
            assert_eq!(first, s(height, index).leaves().start);
            assert_eq!(u32::from(lh) + level_shift, u32::from(height));
        }
    }
}

#[test]
fn tile_tree_nodes_match_mth() {
    let hs = hashes(256);
    let id = TileId { level: 0, index: 3 };
    let mut incremental = TileTree::new(id);
    for width in 0..=256usize {
        let built = TileTree::from_hashes(id, &hs[..width]).unwrap();
        assert_eq!(incremental, built, "width {width}");
        assert_eq!(built.width(), width as u64);
        assert_eq!(built.is_full(), width == 256);
        assert_eq!(built.hashes(), &hs[..width]);
        assert_eq!(built.id(), id);
        for lh in 0..=9u8 {
            let span = 1usize << lh.min(8);
            for li in 0..=(256 / span) as u64 {
                let start = li as usize * span;
                let want =
                    (lh <= 8 && start + span <= width).then(|| root_of(&hs[start..start + span]));
                assert_eq!(built.node(lh, li), want, "width {width} node ({lh}, {li})");
            }
        }
        assert_eq!(built.root(), (width == 256).then(|| root_of(&hs)));
        if width < 256 {
            incremental.push(hs[width]).unwrap();
        }
    }
    assert!(matches!(incremental.push(hs[0]), Err(TlogError::Tile(_))));
    assert_eq!(incremental.node(0, u64::MAX), None);
}

#[test]
fn tile_tree_bytes() {
    let hs = hashes(256);
    let id = TileId { level: 2, index: 9 };
    let tile = TileTree::from_hashes(id, &hs[..100]).unwrap();
    let bytes = tile.to_bytes();
    assert_eq!(bytes.len(), 100 * 32);
    assert_eq!(&bytes[32..64], hs[1].as_bytes());
    assert_eq!(TileTree::from_bytes(id, &bytes), Ok(tile.clone()));
    assert_eq!(tile.prefix_bytes(100), Some(bytes.clone()));
    assert_eq!(tile.prefix_bytes(7), Some(bytes[..7 * 32].to_vec()));
    assert_eq!(tile.prefix_bytes(0), Some(Vec::new()));
    assert_eq!(tile.prefix_bytes(101), None);
    assert_eq!(tile.prefix_bytes(u64::MAX), None);
    let full = TileTree::from_hashes(id, &hs).unwrap();
    assert_eq!(
        TileTree::from_bytes(id, &full.to_bytes()).unwrap().root(),
        Some(root_of(&hs))
    );

    let too_many: Vec<Hash> = hashes(257);
    assert!(matches!(
        TileTree::from_hashes(id, &too_many),
        Err(TlogError::Tile(_))
    ));
    assert_eq!(TileTree::from_hashes(id, &[]), Ok(TileTree::new(id)));
    for len in [0, 1, 31, 33, 100 * 32 + 1, 257 * 32] {
        let data = vec![7u8; len];
        assert!(
            matches!(TileTree::from_bytes(id, &data), Err(TlogError::Tile(_))),
            "{len} bytes accepted"
        );
    }
}

#[test]
fn bundles() {
    let entries: Vec<Vec<u8>> = vec![
        b"first".to_vec(),
        Vec::new(),
        vec![0xAB; 300],
        vec![1; MAX_ENTRY_LEN],
    ];
    let mut bundle = Vec::new();
    for e in &entries {
        push_entry(&mut bundle, e).unwrap();
    }
    assert_eq!(&bundle[..7], b"\x00\x05first");
    assert_eq!(&bundle[7..9], b"\x00\x00");
    assert_eq!(&bundle[9..11], b"\x01\x2c");
    let split = split_entries(&bundle).unwrap();
    assert_eq!(split, entries.iter().map(Vec::as_slice).collect::<Vec<_>>());

    assert_eq!(bundle_prefix(&bundle, 0), Ok(&[][..]));
    assert_eq!(bundle_prefix(&bundle, 1), Ok(&bundle[..7]));
    assert_eq!(bundle_prefix(&bundle, 2), Ok(&bundle[..9]));
    assert_eq!(bundle_prefix(&bundle, 4), Ok(&bundle[..]));
    assert!(matches!(
        bundle_prefix(&bundle, 5),
        Err(TlogError::Bundle(_))
    ));
    // Only the requested entries need to be well formed.
    assert_eq!(
        bundle_prefix(b"\x00\x01a\x00\x09", 1),
        Ok(&b"\x00\x01a"[..])
    );
    assert!(bundle_prefix(b"\x00\x05abc", 1).is_err());

    assert_eq!(split_entries(&[]), Ok(vec![]));
    let too_long = vec![0; MAX_ENTRY_LEN + 1];
    let before = bundle.clone();
    assert!(matches!(
        push_entry(&mut bundle, &too_long),
        Err(TlogError::Bundle(_))
    ));
    assert_eq!(
        bundle, before,
        "a rejected entry leaves the bundle untouched"
    );

    for bad in [
        &b"\x00"[..],
        b"\x00\x05abcd",
        b"\x00\x01a\x00",
        b"\x00\x01a\x00\x02b",
        b"\xff\xff",
    ] {
        assert!(
            matches!(split_entries(bad), Err(TlogError::Bundle(_))),
            "{bad:?} accepted"
        );
    }
    let mut full = Vec::new();
    for i in 0..256u16 {
        push_entry(&mut full, &i.to_be_bytes()).unwrap();
    }
    assert_eq!(split_entries(&full).unwrap().len(), 256);
    push_entry(&mut full, b"one too many").unwrap();
    assert!(matches!(split_entries(&full), Err(TlogError::Bundle(_))));
}

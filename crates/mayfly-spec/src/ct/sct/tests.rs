use super::*;

fn sample(extensions: Vec<u8>) -> Sct {
    Sct {
        log_id: [0x11; 32],
        timestamp_ms: 0x0102_0304_0506_0708,
        extensions,
        signature: vec![0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02],
    }
}

#[test]
fn leaf_index_extension_bytes() {
    assert_eq!(leaf_index_extension(1).unwrap(), [0, 0, 5, 0, 0, 0, 0, 1]);
    assert_eq!(
        leaf_index_extension(0x12_3456_789A).unwrap(),
        [0, 0, 5, 0x12, 0x34, 0x56, 0x78, 0x9A]
    );
    for index in [0, 1, 255, 256, (1 << 40) - 1] {
        let ext = leaf_index_extension(index).unwrap();
        assert_eq!(leaf_index_from_extensions(&ext), Ok(Some(index)));
    }
    assert!(matches!(
        leaf_index_extension(1 << 40),
        Err(CtError::TooLarge {
            len: 0x100_0000_0000,
            max: 0xFF_FFFF_FFFF,
            ..
        })
    ));
}

#[test]
fn leaf_index_parsing_is_strict_but_skips_unknown_extensions() {
    assert_eq!(leaf_index_from_extensions(&[]), Ok(None));
    let unknown = [7, 0, 2, 0xAA, 0xBB];
    assert_eq!(leaf_index_from_extensions(&unknown), Ok(None));
    let both = [&unknown[..], &leaf_index_extension(9).unwrap()].concat();
    assert_eq!(leaf_index_from_extensions(&both), Ok(Some(9)));

    let twice = [
        leaf_index_extension(1).unwrap(),
        leaf_index_extension(2).unwrap(),
    ]
    .concat();
    assert!(leaf_index_from_extensions(&twice).is_err());
    // uint40 exactly: four or six data bytes are not a leaf index.
    assert!(leaf_index_from_extensions(&[0, 0, 4, 0, 0, 0, 1]).is_err());
    assert!(leaf_index_from_extensions(&[0, 0, 6, 0, 0, 0, 0, 0, 1]).is_err());
    assert!(leaf_index_from_extensions(&[0, 0, 5, 0, 0, 0, 0]).is_err());
    assert!(leaf_index_from_extensions(&[7]).is_err());
}

#[test]
fn sct_encoding_layout() {
    let sct = sample(vec![0xE0, 0xE1]);
    let bytes = sct.to_bytes().unwrap();
    let mut expected = vec![0x00];
    expected.extend([0x11; 32]);
    expected.extend([1, 2, 3, 4, 5, 6, 7, 8]);
    expected.extend([0x00, 0x02, 0xE0, 0xE1]);
    expected.extend([0x04, 0x03, 0x00, 0x08]);
    expected.extend(&sct.signature);
    assert_eq!(bytes, expected);
    assert_eq!(Sct::parse(&bytes), Ok(sct));
}

#[test]
fn sct_parsing_is_strict() {
    let good = sample(leaf_index_extension(3).unwrap()).to_bytes().unwrap();
    for len in 0..good.len() {
        assert!(Sct::parse(&good[..len]).is_err(), "prefix {len}");
    }
    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(
        Sct::parse(&trailing),
        Err(CtError::MalformedSct("trailing bytes"))
    );

    let mut v2 = good.clone();
    v2[0] = 1;
    assert_eq!(
        Sct::parse(&v2),
        Err(CtError::UnsupportedSct("version is not v1"))
    );
    // hash and signature algorithm bytes follow version, log id, timestamp, 2+8 ext bytes.
    let alg = 1 + 32 + 8 + 2 + 8;
    assert_eq!(good[alg..alg + 2], [4, 3]);
    for (hash, sig) in [(5, 3), (4, 1), (4, 7)] {
        let mut other = good.clone();
        other[alg] = hash;
        other[alg + 1] = sig;
        assert!(matches!(
            Sct::parse(&other),
            Err(CtError::UnsupportedSct(_))
        ));
    }
}

#[test]
fn oversized_fields_are_refused_not_truncated() {
    let mut sct = sample(Vec::new());
    sct.signature = vec![0; 1 << 16];
    assert!(matches!(sct.to_bytes(), Err(CtError::TooLarge { .. })));
    let big = vec![0; 1 << 24];
    let entry = PrecertEntry {
        issuer_key_hash: [0; 32],
        tbs: &big,
    };
    assert!(matches!(
        signing_input(0, &entry, &[]),
        Err(CtError::TooLarge { .. })
    ));
    let entry = PrecertEntry {
        issuer_key_hash: [0; 32],
        tbs: &big[1..],
    };
    assert!(signing_input(0, &entry, &[]).is_ok());
    assert!(merkle_tree_leaf(0, &entry, &big[..1 << 16]).is_err());
}

#[test]
fn sct_list_round_trip() {
    let scts = [sample(Vec::new()), sample(leaf_index_extension(5).unwrap())];
    let list = sct_list(&scts).unwrap();
    let first = scts[0].to_bytes().unwrap();
    let second = scts[1].to_bytes().unwrap();
    let body_len = 2 + first.len() + 2 + second.len();
    assert_eq!(
        list[..4],
        [(body_len >> 8) as u8, body_len as u8, 0, first.len() as u8]
    );
    assert_eq!(parse_sct_list(&list).unwrap(), scts);

    let value = sct_list_extension_value(&scts).unwrap();
    assert_eq!(list.len(), 124, "short-form DER length");
    assert_eq!(value[..2], [0x04, 124]);
    assert_eq!(value[2..], list);
    assert_eq!(parse_sct_list_extension_value(&value).unwrap(), scts);
    assert!(parse_sct_list_extension_value(&list).is_err());
}

#[test]
fn sct_list_must_be_non_empty_and_exact() {
    assert!(sct_list(&[]).is_err());
    assert!(parse_sct_list(&[0, 0]).is_err());
    let list = sct_list(&[sample(Vec::new())]).unwrap();
    let mut trailing = list.clone();
    trailing.push(0);
    assert!(parse_sct_list(&trailing).is_err());
    for len in 0..list.len() {
        assert!(parse_sct_list(&list[..len]).is_err(), "prefix {len}");
    }
    // An SCT that is shorter than its u16 length claims.
    let mut short = list.clone();
    short[3] += 1;
    assert!(parse_sct_list(&short).is_err());
}

#[test]
fn signed_input_and_leaf_layout() {
    let tbs = [0x30, 0x01, 0x00];
    let entry = PrecertEntry {
        issuer_key_hash: [0x22; 32],
        tbs: &tbs,
    };
    let ext = leaf_index_extension(1).unwrap();
    let leaf = merkle_tree_leaf(0x0102_0304_0506_0708, &entry, &ext).unwrap();
    let mut expected = vec![0x00, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 0x00, 0x01];
    expected.extend([0x22; 32]);
    expected.extend([0x00, 0x00, 0x03, 0x30, 0x01, 0x00]);
    expected.extend([0x00, 0x08, 0, 0, 5, 0, 0, 0, 0, 1]);
    assert_eq!(leaf, expected);
    // signature_type certificate_timestamp(0) and leaf_type timestamped_entry(0) coincide,
    // so for precerts the signed bytes and the leaf are the same bytes.
    let sct = Sct {
        timestamp_ms: 0x0102_0304_0506_0708,
        ..sample(ext)
    };
    assert_eq!(sct.signing_input(&entry).unwrap(), expected);
}

#[test]
fn issuer_key_hash_is_sha256() {
    assert_eq!(
        issuer_key_hash(b"abc"),
        [
            0xBA, 0x78, 0x16, 0xBF, 0x8F, 0x01, 0xCF, 0xEA, 0x41, 0x41, 0x40, 0xDE, 0x5D, 0xAE,
            0x22, 0x23, 0xB0, 0x03, 0x61, 0xA3, 0x96, 0x17, 0x7A, 0x9C, 0xB4, 0x10, 0xFF, 0x61,
            0xF2, 0x00, 0x15, 0xAD
        ]
    );
}

#[test]
fn precert_leaf_round_trips_and_refuses_other_leaves() {
    let tbs = [0x30, 0x03, 0x02, 0x01, 0x07];
    let entry = PrecertEntry {
        issuer_key_hash: [0x22; 32],
        tbs: &tbs,
    };
    let extensions = leaf_index_extension(42).unwrap();
    let leaf = merkle_tree_leaf(1_700_000_000_123, &entry, &extensions).unwrap();
    let parsed = parse_precert_leaf(&leaf).unwrap();
    assert_eq!(parsed.timestamp_ms, 1_700_000_000_123);
    assert_eq!(parsed.entry, entry);
    assert_eq!(leaf_index_from_extensions(parsed.extensions), Ok(Some(42)));

    let mut trailing = leaf.clone();
    trailing.push(0);
    assert!(parse_precert_leaf(&trailing).is_err());
    assert!(parse_precert_leaf(&leaf[..leaf.len() - 1]).is_err());
    // An x509_entry (type 0) and a v2 leaf are not what the issuance log holds.
    let mut x509 = leaf.clone();
    x509[11] = 0;
    assert!(parse_precert_leaf(&x509).is_err());
    let mut v2 = leaf;
    v2[0] = 1;
    assert!(parse_precert_leaf(&v2).is_err());
}

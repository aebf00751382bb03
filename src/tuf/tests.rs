use super::repository::{Expiries, KeyDirs, init, refresh, rotate_root, update};
use super::*;
use crate::instance::DataDir;
use aws_lc_rs::signature::{ED25519, UnparsedPublicKey};
use time::Duration;

/// What securesystemslib's `encode_canonical` prints for the same value (captured from the
/// sigstore-python venv): raw newline, only `"` and `\` escaped, keys sorted by code point.
#[test]
fn canonical_json_matches_securesystemslib() {
    let value = json!({"b": [1, true, null], "a": "x\"y\\z\nq", "é": "ü"});
    assert_eq!(
        String::from_utf8(canonical_json(&value).unwrap()).unwrap(),
        "{\"a\":\"x\\\"y\\\\z\nq\",\"b\":[1,true,null],\"é\":\"ü\"}"
    );
}

#[test]
fn canonical_json_refuses_floats() {
    assert!(canonical_json(&json!({"a": 1.5})).is_err());
}

#[test]
fn signatures_verify_over_the_canonical_signed_part() {
    let (key, pkcs8) = TufKey::generate().unwrap();
    let signed = targets_signed(&[("t.json", b"abc")], 3, "2030-01-01T00:00:00Z");
    let doc: Value = serde_json::from_slice(&sign(&signed, &[&key]).unwrap()).unwrap();
    let signature = &doc["signatures"][0];
    assert_eq!(signature["keyid"], key.key_id());
    let public = hex::decode(key.public()["keyval"]["public"].as_str().unwrap()).unwrap();
    let sig = hex::decode(signature["sig"].as_str().unwrap()).unwrap();
    UnparsedPublicKey::new(&ED25519, &public)
        .verify(&canonical_json(&doc["signed"]).unwrap(), &sig)
        .unwrap();
    // The key reads back from what `generate` returned, with the same id.
    assert_eq!(
        TufKey::from_pkcs8(&pkcs8, "k").unwrap().key_id(),
        key.key_id()
    );
    assert_eq!(
        doc["signed"]["targets"]["t.json"]["hashes"]["sha256"],
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn expiry_round_trips_in_whole_seconds() {
    let at = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let text = format_expiry(at + Duration::milliseconds(300));
    assert_eq!(text, "2027-01-15T08:00:00Z");
    assert_eq!(parse_expiry(&text), Some(at));
}

fn read(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn init_update_refresh_and_rotate_bump_the_right_versions() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = DataDir::new(dir.path());
    let offline = dir.path().join("offline");
    let keys = KeyDirs::new(&data_dir, Some(&offline));
    let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let expiries = Expiries::default();
    init(&data_dir, &keys, &[("a.json", b"one")], now, &expiries).unwrap();
    assert!(offline.join("root.pk8").exists() && offline.join("targets.pk8").exists());
    assert!(!data_dir.tuf_keys().join("root.pk8").exists());
    // A second init writes nothing and says why.
    let again = init(&data_dir, &keys, &[("a.json", b"two")], now, &expiries);
    assert!(matches!(again, Err(TufError::Exists(_))));

    let repo = data_dir.tuf_repository();
    assert_eq!(read(&repo.join("timestamp.json"))["signed"]["version"], 1);
    update(&data_dir, &keys, &[("a.json", b"two")], now, &expiries).unwrap();
    let timestamp = read(&repo.join("timestamp.json"));
    assert_eq!(timestamp["signed"]["version"], 2);
    assert_eq!(timestamp["signed"]["meta"]["snapshot.json"]["version"], 2);
    assert_eq!(
        read(&repo.join("2.snapshot.json"))["signed"]["meta"]["targets.json"]["version"],
        2
    );
    assert!(
        repo.join("targets")
            .join(hashed_target_name("a.json", b"two"))
            .exists()
    );
    assert!(
        repo.join("targets")
            .join(hashed_target_name("a.json", b"one"))
            .exists()
    );

    // Fresh: nothing to do. Past half the timestamp's day: timestamp only.
    let fresh = refresh(&data_dir, &keys, now, &expiries).unwrap();
    assert!(!fresh.timestamp && !fresh.snapshot);
    let later = refresh(&data_dir, &keys, now + Duration::hours(13), &expiries).unwrap();
    assert!(later.timestamp && !later.snapshot);
    assert_eq!(read(&repo.join("timestamp.json"))["signed"]["version"], 3);
    // Past half the snapshot's week: both, the snapshot keeping the targets version.
    let week = refresh(&data_dir, &keys, now + Duration::days(4), &expiries).unwrap();
    assert!(week.timestamp && week.snapshot);
    let snapshot = read(&repo.join("3.snapshot.json"));
    assert_eq!(snapshot["signed"]["meta"]["targets.json"]["version"], 2);
    assert_eq!(
        read(&repo.join("timestamp.json"))["signed"]["meta"]["snapshot.json"]["version"],
        3
    );

    let path = rotate_root(&data_dir, &keys, now, &expiries).unwrap();
    let root2 = read(&path);
    assert_eq!(root2["signed"]["version"], 2);
    assert_eq!(root2["signatures"].as_array().unwrap().len(), 2);
    assert!(offline.join("root.pk8.1").exists());
}

#[test]
fn update_without_a_repository_says_to_init() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = DataDir::new(dir.path());
    let keys = KeyDirs::new(&data_dir, None);
    let now = OffsetDateTime::now_utc();
    let err = update(&data_dir, &keys, &[], now, &Expiries::default()).unwrap_err();
    assert!(err.to_string().contains("mayfly tuf init"), "{err}");
}

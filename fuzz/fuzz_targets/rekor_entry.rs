//! Proposed Rekor entries, every kind (`mayfly_spec::rekor::canonicalize`: hashedrekord 0.0.1,
//! dsse 0.0.1, intoto 0.0.2), and entry references (`parse_entry_ref`).
//!
//! Input: a mode byte, then a `POST /api/v1/log/entries` body (mode ≠ 0) or an entry UUID /
//! EntryID (mode 0).
//!
//! Beyond "no panic": a body with a repeated key is refused; otherwise the typed reading and the
//! `Value` walk agree exactly (result and error);
//! an accepted body is RFC 8785 canonical JSON naming its kind; a canonical hashedrekord body
//! is itself a proposed entry that canonicalizes to itself; an entry reference re-encodes to
//! its input (lower-cased).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mayfly_spec::rekor::{
    EntryRef, Kind, RekorError, canonicalize, canonicalize_value, entry_id, parse_entry_ref,
};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode == 0 {
        entry_ref(rest);
        return;
    }
    let result = canonicalize(rest);
    // serde_json's `Value` keeps the last of repeated keys, which the server refuses (issue
    // 11), so only bodies without one can be compared with the `Value` walk.
    let repeated_key =
        matches!(&result, Err(RekorError::Json(e)) if e.contains("appears twice"));
    if !repeated_key && let Ok(value) = serde_json::from_slice::<Value>(rest) {
        assert_eq!(
            result,
            canonicalize_value(&value),
            "the typed reading and the Value walk disagree"
        );
    }
    let canonical = match result {
        Ok(canonical) => canonical,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let body: Value = serde_json::from_slice(&canonical.body).expect("the body is JSON");
    assert_eq!(
        serde_json_canonicalizer::to_vec(&body).expect("JCS"),
        canonical.body,
        "the body is not RFC 8785 canonical"
    );
    assert_eq!(body["kind"].as_str(), Some(canonical.kind.name()));
    assert_eq!(
        body["apiVersion"].as_str(),
        Some(canonical.kind.api_version())
    );
    if canonical.kind == Kind::HashedRekord {
        assert_eq!(
            canonicalize(&canonical.body).as_ref(),
            Ok(&canonical),
            "a canonical hashedrekord body is not a fixed point"
        );
    }
});

fn entry_ref(input: &[u8]) {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    match parse_entry_ref(text) {
        Ok(EntryRef::Uuid(uuid)) => assert_eq!(hex::encode(uuid.0), text.to_ascii_lowercase()),
        Ok(EntryRef::EntryId { tree_id, uuid }) => {
            assert!(tree_id >= 0);
            assert_eq!(entry_id(tree_id, &uuid), text.to_ascii_lowercase());
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

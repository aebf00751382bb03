//! The genesis entry: the fixed entry at index 0 of every Mayfly log created since the
//! first-entry fix, so that client entries start at index 1.
//!
//! Why: sigstore-js drops proto3 zero values when it writes a bundle, so an entry at `logIndex`
//! 0 in a tree of size 1 (no proof hashes) gives a bundle sigstore-python refuses ("Field
//! required"). A log whose index 0 is taken by this entry never hands a client index 0.
//!
//! The entry is a short text naming the log's origin. It is not JSON or protobuf, so it never
//! parses as a Rekor entry of any kind, and no client can submit it (the Rekor APIs accept only
//! entries that parse and verify). Whether a log's index 0 is its genesis entry is decided by
//! content ([`is_genesis`]): logs created before the fix hold a client entry there.

/// The first line of every genesis entry.
const MAGIC: &str = "mayfly genesis\n";

/// The genesis entry of the log with checkpoint origin `origin`.
pub fn entry(origin: &str) -> Vec<u8> {
    format!("{MAGIC}{origin}\n").into_bytes()
}

/// Whether `data`, the entry at `index` of the log with origin `origin`, is its genesis entry.
pub fn is_genesis(origin: &str, index: u64, data: &[u8]) -> bool {
    index == 0 && data == entry(origin).as_slice()
}

/// Whether `data` looks like a genesis entry of any log: for tools that read an entry without
/// knowing its log's origin. Still only at index 0.
pub fn looks_like_genesis(index: u64, data: &[u8]) -> bool {
    index == 0 && data.starts_with(MAGIC.as_bytes()) && data.ends_with(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genesis_is_recognized_only_at_index_zero_and_for_its_origin() {
        let e = entry("example.com/artifacts");
        assert_eq!(e, b"mayfly genesis\nexample.com/artifacts\n");
        assert!(is_genesis("example.com/artifacts", 0, &e));
        assert!(!is_genesis("example.com/artifacts", 1, &e));
        assert!(!is_genesis("example.com/issuance", 0, &e));
        assert!(looks_like_genesis(0, &e));
        assert!(!looks_like_genesis(1, &e));
        assert!(!looks_like_genesis(0, b"{\"kind\":\"dsse\"}"));
    }

    #[test]
    fn genesis_is_not_a_rekor_entry() {
        let e = entry("example.com/artifacts");
        assert!(crate::rekor::canonicalize(&e).is_err());
        assert!(crate::rekor::v2::canonicalize_v2(&e).is_err());
    }
}

//! JSON written straight into bytes, for the fixed shapes the log writes on every request:
//! canonical bodies and SET payloads (RFC 8785) and `LogEntry` responses (serde_json's compact
//! form).
//!
//! Why not serde: `serde_json_canonicalizer` re-parses every object key to sort it and boxes a
//! writer for every fragment, and a `serde_json::Value` tree copies each string (KiBs of base64
//! here) once more before it is written. Building and writing those trees was about 9% of the
//! server's CPU per dsse entry (issue 6), three times what is left of it now.
//! These shapes have fixed ASCII keys, so the canonical order is known when the code is written:
//! RFC 8785 sorts by UTF-16 code units, which for ASCII is byte order, and byte order is also
//! the order serde_json's `BTreeMap` gives a `Value` object. So one writer serves both the
//! canonical bodies and the responses, and [`Object::key`] checks the order in debug builds.
//!
//! Strings are escaped exactly as RFC 8785 §3.2.2.2 and serde_json both do (`"`, `\` and C0
//! controls; `\b \t \n \f \r` in short form, the rest as lowercase `\u00xx`; nothing else).
//! RFC 8785 numbers are ECMAScript doubles: integers up to 2^53 print as plain decimals, larger
//! ones go through the canonicalizer so that its number formatting stays authoritative. The
//! tests compare each primitive with serde_json and serde_json_canonicalizer.

use super::RekorError;

/// One JSON object under construction. The caller writes its members in ascending key order,
/// each key followed by exactly one value written with the functions of this module.
pub(crate) struct Object<'o> {
    out: &'o mut Vec<u8>,
    last_key: Option<&'static str>,
}

impl<'o> Object<'o> {
    pub(super) fn open(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        Object {
            out,
            last_key: None,
        }
    }

    /// Writes `"key":` and returns the buffer for its value.
    pub(super) fn key(&mut self, key: &'static str) -> &mut Vec<u8> {
        debug_assert!(
            key.bytes().all(|b| b.is_ascii() && !needs_escape(b))
                && self.last_key.is_none_or(|last| last < key),
            "JSON key {key:?} must be plain ASCII and follow {:?}",
            self.last_key
        );
        if self.last_key.is_some() {
            self.out.push(b',');
        }
        self.last_key = Some(key);
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    pub(super) fn close(self) {
        self.out.push(b'}');
    }
}

/// A member whose value is a string.
pub(crate) fn str_member(object: &mut Object<'_>, key: &'static str, value: &str) {
    string(object.key(key), value);
}

/// `[item,item,…]`, each written by `write`.
pub(crate) fn array<T>(
    out: &mut Vec<u8>,
    items: impl IntoIterator<Item = T>,
    mut write: impl FnMut(&mut Vec<u8>, T),
) {
    out.push(b'[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(out, item);
    }
    out.push(b']');
}

/// `{"algorithm":"sha256","value":"<hex>"}`, the digest object every kind stores.
pub(crate) fn sha256_object(out: &mut Vec<u8>, digest: &[u8]) {
    let mut object = Object::open(out);
    str_member(&mut object, "algorithm", "sha256");
    hex(object.key("value"), digest);
    object.close();
}

fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// The length of the prefix of `bytes` that needs no escaping, found eight bytes at a time:
/// the strings written here are mostly KiBs of base64, which never need escaping, and a
/// byte-at-a-time scan of them cost more than copying them.
fn plain_prefix_len(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // Nonzero iff some byte of `word` is below `n` (n <= 0x80): the classic "has a byte less
    // than n" test, exact as a yes/no answer (only which byte it flags may be imprecise).
    let has_below = |word: u64, n: u8| word.wrapping_sub(ONES * u64::from(n)) & !word & HIGHS;
    let has_zero = |word: u64| has_below(word, 1);
    let quote = ONES * u64::from(b'"');
    let backslash = ONES * u64::from(b'\\');
    let mut scanned = 0;
    for chunk in bytes.chunks_exact(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_ne_bytes(word);
        if has_below(word, 0x20) | has_zero(word ^ quote) | has_zero(word ^ backslash) != 0 {
            break;
        }
        scanned += 8;
    }
    scanned
        + bytes[scanned..]
            .iter()
            .position(|&b| needs_escape(b))
            .unwrap_or(bytes.len() - scanned)
}

/// A JSON string. Base64, hex and the other values this log writes never need escaping, so the
/// common case is one fast scan and one copy.
pub(crate) fn string(out: &mut Vec<u8>, value: &str) {
    out.reserve(value.len() + 2);
    out.push(b'"');
    let bytes = value.as_bytes();
    let plain = plain_prefix_len(bytes);
    out.extend_from_slice(&bytes[..plain]);
    let mut plain_from = plain;
    for (i, &b) in bytes.iter().enumerate().skip(plain) {
        if !needs_escape(b) {
            continue;
        }
        out.extend_from_slice(&bytes[plain_from..i]);
        plain_from = i + 1;
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            control => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX_DIGITS[usize::from(control >> 4)]);
                out.push(HEX_DIGITS[usize::from(control & 0xf)]);
            }
        }
    }
    out.extend_from_slice(&bytes[plain_from..]);
    out.push(b'"');
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// `bytes` as a JSON string of lowercase hex. `hex::encode` goes through a `char` iterator and
/// a fresh `String`; this is a table lookup into the output.
pub(crate) fn hex(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(2 * bytes.len() + 2);
    out.push(b'"');
    hex_digits(out, bytes);
    out.push(b'"');
}

/// Lowercase hex digits of `bytes`, unquoted.
pub(crate) fn hex_digits(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(2 * bytes.len());
    for &b in bytes {
        out.push(HEX_DIGITS[usize::from(b >> 4)]);
        out.push(HEX_DIGITS[usize::from(b & 0xf)]);
    }
}

/// An integer as serde_json writes it (the responses).
pub(crate) fn integer(out: &mut Vec<u8>, value: impl Into<i128>) {
    use std::io::Write;
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{}", value.into());
}

/// Largest magnitude up to which every integer is an exact double, so that ECMAScript prints it
/// as its plain decimal digits.
const JCS_EXACT: i128 = 1 << 53;

/// An integer as RFC 8785 writes it (canonical bodies and SET payloads).
pub(crate) fn jcs_integer(out: &mut Vec<u8>, value: impl Into<i128>) -> Result<(), RekorError> {
    let value = value.into();
    if (-JCS_EXACT..=JCS_EXACT).contains(&value) {
        integer(out, value);
        return Ok(());
    }
    // Beyond 2^53 the number is first rounded to a double, as the canonicalizer does with every
    // integer (`value as f64`); its ECMAScript formatting of that double is authoritative.
    let double = value as f64;
    serde_json_canonicalizer::to_writer(&double, out)
        .map_err(|e| RekorError::Unsupported(format!("cannot canonicalize the entry: {e}")))
}

//! Typed access to protobuf-JSON documents (bundles and trusted roots) without panics.
//!
//! The protobuf JSON mapping writes bytes as standard base64 and int64 as decimal *strings*;
//! parsers must also accept JSON numbers for int64, and treat `null` as an absent field
//! (the real npm bundle carries `"timestampVerificationData": null`). Every accessor takes the
//! path of what it reads so errors name the field.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

pub type Obj = Map<String, Value>;

/// A field that may be absent; `null` counts as absent.
pub fn opt<'a>(obj: &'a Obj, name: &str) -> Option<&'a Value> {
    obj.get(name).filter(|v| !v.is_null())
}

pub fn req<'a>(obj: &'a Obj, at: &str, name: &str) -> Result<&'a Value, String> {
    opt(obj, name).ok_or_else(|| format!("{at}.{name} is missing"))
}

pub fn as_obj<'a>(v: &'a Value, at: &str) -> Result<&'a Obj, String> {
    v.as_object()
        .ok_or_else(|| format!("{at} is not a JSON object"))
}

pub fn obj<'a>(o: &'a Obj, at: &str, name: &str) -> Result<&'a Obj, String> {
    as_obj(req(o, at, name)?, &format!("{at}.{name}"))
}

pub fn opt_obj<'a>(o: &'a Obj, at: &str, name: &str) -> Result<Option<&'a Obj>, String> {
    opt(o, name)
        .map(|v| as_obj(v, &format!("{at}.{name}")))
        .transpose()
}

pub fn string<'a>(o: &'a Obj, at: &str, name: &str) -> Result<&'a str, String> {
    req(o, at, name)?
        .as_str()
        .ok_or_else(|| format!("{at}.{name} is not a string"))
}

pub fn array<'a>(o: &'a Obj, at: &str, name: &str) -> Result<&'a [Value], String> {
    req(o, at, name)?
        .as_array()
        .map(Vec::as_slice)
        .ok_or_else(|| format!("{at}.{name} is not an array"))
}

/// Standard padded base64, the protobuf JSON form of `bytes`.
pub fn b64(text: &str, at: &str) -> Result<Vec<u8>, String> {
    STANDARD
        .decode(text)
        .map_err(|_| format!("{at} is not valid base64"))
}

pub fn bytes(o: &Obj, at: &str, name: &str) -> Result<Vec<u8>, String> {
    b64(string(o, at, name)?, &format!("{at}.{name}"))
}

/// A 32-byte hash written as base64.
pub fn hash32(o: &Obj, at: &str, name: &str) -> Result<[u8; 32], String> {
    <[u8; 32]>::try_from(bytes(o, at, name)?).map_err(|_| format!("{at}.{name} is not 32 bytes"))
}

/// An int64: a decimal string (protobuf JSON) or a JSON integer.
pub fn int64(o: &Obj, at: &str, name: &str) -> Result<i64, String> {
    let bad = || format!("{at}.{name} is not an int64");
    match req(o, at, name)? {
        Value::String(s) => {
            // Canonical decimal only: no sign on positives, no leading zeros, no spaces.
            if s.is_empty() || s.starts_with('+') || (s.len() > 1 && s.starts_with('0')) {
                return Err(bad());
            }
            s.parse().map_err(|_| bad())
        }
        Value::Number(n) => n.as_i64().ok_or_else(bad),
        _ => Err(bad()),
    }
}

/// A non-negative int64 (log indices and tree sizes).
pub fn uint(o: &Obj, at: &str, name: &str) -> Result<u64, String> {
    u64::try_from(int64(o, at, name)?).map_err(|_| format!("{at}.{name} is negative"))
}

/// proto3 leaves default values out of its JSON (a log index of 0, an empty list of proof
/// hashes), and sigstore-js writes bundles that way: absent means the default, as protobuf
/// parsers read it. (sigstore-python is stricter and refuses such bundles.)
pub fn uint_or_zero(o: &Obj, at: &str, name: &str) -> Result<u64, String> {
    match opt(o, name) {
        None => Ok(0),
        Some(_) => uint(o, at, name),
    }
}

/// See [`uint_or_zero`].
pub fn int64_or_zero(o: &Obj, at: &str, name: &str) -> Result<i64, String> {
    match opt(o, name) {
        None => Ok(0),
        Some(_) => int64(o, at, name),
    }
}

/// See [`uint_or_zero`].
pub fn array_or_empty<'a>(o: &'a Obj, at: &str, name: &str) -> Result<&'a [Value], String> {
    match opt(o, name) {
        None => Ok(&[]),
        Some(_) => array(o, at, name),
    }
}

/// An RFC 3339 timestamp (trusted root `validFor`) as Unix seconds; fractions are truncated,
/// which only ever moves an inclusive `end` earlier by under a second.
pub fn rfc3339(text: &str, at: &str) -> Result<i64, String> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| format!("{at} is not an RFC 3339 time"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn o(v: Value) -> Obj {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn proto3_defaults_may_be_left_out() {
        let doc = json!({"n": "7", "list": ["a"]});
        let doc = doc.as_object().unwrap();
        assert_eq!(uint_or_zero(doc, "$", "n"), Ok(7));
        assert_eq!(uint_or_zero(doc, "$", "absent"), Ok(0));
        assert_eq!(int64_or_zero(doc, "$", "absent"), Ok(0));
        assert_eq!(array_or_empty(doc, "$", "list").unwrap().len(), 1);
        assert!(array_or_empty(doc, "$", "absent").unwrap().is_empty());
        assert!(
            uint_or_zero(doc, "$", "list").is_err(),
            "present but wrong is still wrong"
        );
    }

    #[test]
    fn int64_accepts_strings_and_numbers_only_canonically() {
        let doc = o(json!({"a": "123", "b": 7, "c": "007", "d": "-1", "e": "x", "f": null}));
        assert_eq!(int64(&doc, "$", "a"), Ok(123));
        assert_eq!(int64(&doc, "$", "b"), Ok(7));
        assert!(int64(&doc, "$", "c").is_err());
        assert!(uint(&doc, "$", "d").is_err());
        assert!(int64(&doc, "$", "e").is_err());
        assert_eq!(int64(&doc, "$", "f"), Err("$.f is missing".into()));
    }

    #[test]
    fn rfc3339_parses_fractions_and_rejects_garbage() {
        assert_eq!(rfc3339("1970-01-01T00:00:01.999Z", "t"), Ok(1));
        assert!(rfc3339("yesterday", "t").is_err());
    }
}

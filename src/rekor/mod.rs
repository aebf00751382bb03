//! Rekor v1 entries on the artifact log: parsing and verifying proposed entries of the kinds
//! real Sigstore clients send (hashedrekord 0.0.1, dsse 0.0.1, intoto 0.0.2), the canonical body
//! Rekor would store for each (RFC 8785 JSON), and the identifiers and signed entry timestamp
//! built from it (rekor-bundle-npm.md §1).
//!
//! Pure code: no HTTP, no storage, no clock. The API layer hands in request bytes and gets back
//! a [`Canonical`] body, whose RFC 6962 leaf hash is both the log's dedup key and Rekor's UUID.
//!
//! Canonicalization is a contract with the verifiers: sigstore-python rebuilds hashedrekord and
//! dsse bodies from a bundle and compares them byte for byte, and every verifier rebuilds the SET
//! payload. So the body is built only from values the server parsed and verified (re-encoded
//! base64 and PEM, server-computed hashes), never from the client's text.
//!
//! Unknown JSON fields are ignored, as Rekor's generated models do; missing or mistyped fields
//! that matter are refused with their JSON path.
//!
//! JCS: `serde_json_canonicalizer` implements RFC 8785 in full (UTF-16 key order, ECMAScript
//! number form via `ryu-js`), is maintained, and adds only `ryu-js` to the tree. `serde_jcs`, the
//! alternative, is older and pins an older `ryu-js`. Our bodies hold only strings and integers,
//! but the SET payload is checked by clients that canonicalize independently, so a complete
//! implementation is the safe choice.

mod dsse;
mod entry;
mod envelope;
mod error;
mod hashedrekord;
mod intoto;
mod key;

pub use entry::{
    EntryRef, InclusionProof, Integrated, entry_id, log_entry_json, parse_entry_ref, set_payload,
    tree_id,
};
pub use envelope::pae;
pub use error::RekorError;
pub use key::{DigestAlg, Verifier};

use crate::tlog::{Hash, leaf_hash};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

/// The entry kinds this log accepts, each at the one version real clients send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    HashedRekord,
    Dsse,
    Intoto,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::HashedRekord => "hashedrekord",
            Kind::Dsse => "dsse",
            Kind::Intoto => "intoto",
        }
    }

    pub fn api_version(self) -> &'static str {
        match self {
            Kind::HashedRekord | Kind::Dsse => "0.0.1",
            Kind::Intoto => "0.0.2",
        }
    }
}

/// A verified entry in its stored form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canonical {
    pub kind: Kind,
    /// RFC 8785 JSON: the leaf value, and (base64) the `body` of every response.
    pub body: Vec<u8>,
}

impl Canonical {
    /// Rekor's UUID: the RFC 6962 leaf hash of the body.
    pub fn uuid(&self) -> Hash {
        leaf_hash(&self.body)
    }
}

/// Parses, verifies and canonicalizes a `POST /api/v1/log/entries` body.
pub fn canonicalize(proposed: &[u8]) -> Result<Canonical, RekorError> {
    let value: Value =
        serde_json::from_slice(proposed).map_err(|e| RekorError::Json(e.to_string()))?;
    canonicalize_value(&value)
}

/// As [`canonicalize`], for an entry already parsed as JSON (the `entries` of a retrieve query).
pub fn canonicalize_value(value: &Value) -> Result<Canonical, RekorError> {
    let top = as_object(value, "(body)")?;
    let kind_name = str_field(top, "", "kind")?;
    let version = str_field(top, "", "apiVersion")?;
    let kind = match kind_name {
        "hashedrekord" => Kind::HashedRekord,
        "dsse" => Kind::Dsse,
        "intoto" => Kind::Intoto,
        other => return Err(RekorError::UnknownKind(other.to_owned())),
    };
    if version != kind.api_version() {
        return Err(RekorError::UnknownVersion {
            kind: kind.name(),
            version: version.to_owned(),
            supported: kind.api_version(),
        });
    }
    let spec = obj_field(top, "", "spec")?;
    let canonical_spec = match kind {
        Kind::HashedRekord => hashedrekord::canonical_spec(spec)?,
        Kind::Dsse => dsse::canonical_spec(spec)?,
        Kind::Intoto => intoto::canonical_spec(spec)?,
    };
    let body = jcs(&serde_json::json!({
        "apiVersion": kind.api_version(),
        "kind": kind.name(),
        "spec": canonical_spec,
    }))?;
    Ok(Canonical { kind, body })
}

/// RFC 8785 serialization. Fails only for values JSON cannot hold (never built here), but a
/// failure must refuse the entry rather than log an empty body.
pub(crate) fn jcs(value: &Value) -> Result<Vec<u8>, RekorError> {
    serde_json_canonicalizer::to_vec(value)
        .map_err(|e| RekorError::Unsupported(format!("cannot canonicalize the entry: {e}")))
}

/// Standard, padded base64, as Go's `strfmt.Base64` requires for Rekor's byte fields.
pub(crate) fn decode_base64(field: &str, text: &str) -> Result<Vec<u8>, RekorError> {
    STANDARD.decode(text).map_err(|_| RekorError::Base64 {
        field: field.to_owned(),
    })
}

pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

fn path(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

pub(crate) fn as_object<'a>(
    value: &'a Value,
    at: &str,
) -> Result<&'a Map<String, Value>, RekorError> {
    value
        .as_object()
        .ok_or_else(|| RekorError::field(at, "must be a JSON object"))
}

pub(crate) fn field<'a>(
    obj: &'a Map<String, Value>,
    parent: &str,
    name: &str,
) -> Result<&'a Value, RekorError> {
    match obj.get(name) {
        Some(Value::Null) | None => Err(RekorError::field(path(parent, name), "is required")),
        Some(v) => Ok(v),
    }
}

pub(crate) fn obj_field<'a>(
    obj: &'a Map<String, Value>,
    parent: &str,
    name: &str,
) -> Result<&'a Map<String, Value>, RekorError> {
    as_object(field(obj, parent, name)?, &path(parent, name))
}

pub(crate) fn str_field<'a>(
    obj: &'a Map<String, Value>,
    parent: &str,
    name: &str,
) -> Result<&'a str, RekorError> {
    field(obj, parent, name)?
        .as_str()
        .ok_or_else(|| RekorError::field(path(parent, name), "must be a string"))
}

/// A required string that must not be empty.
pub(crate) fn nonempty_str_field<'a>(
    obj: &'a Map<String, Value>,
    parent: &str,
    name: &str,
) -> Result<&'a str, RekorError> {
    let s = str_field(obj, parent, name)?;
    if s.is_empty() {
        return Err(RekorError::field(path(parent, name), "must not be empty"));
    }
    Ok(s)
}

/// A required, non-empty array.
pub(crate) fn array_field<'a>(
    obj: &'a Map<String, Value>,
    parent: &str,
    name: &str,
) -> Result<&'a [Value], RekorError> {
    let items = field(obj, parent, name)?
        .as_array()
        .ok_or_else(|| RekorError::field(path(parent, name), "must be an array"))?;
    if items.is_empty() {
        return Err(RekorError::field(path(parent, name), "must not be empty"));
    }
    Ok(items)
}

/// `value` is `len` bytes of lowercase hex. Lowercase only: every client sends it, and one
/// spelling per digest keeps one body (one UUID) per signature.
pub(crate) fn check_hex(at: &str, value: &str, len: usize) -> Result<(), RekorError> {
    let ok = value.len() == 2 * len
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        Ok(())
    } else {
        Err(RekorError::field(
            at,
            format!("must be {} lowercase hex characters", 2 * len),
        ))
    }
}

#[cfg(test)]
mod tests;

//! Rekor v1 entries on the artifact log (and, in [`v2`], Rekor v2 entries on their own log): parsing and verifying proposed entries of the kinds
//! real Sigstore clients send (hashedrekord 0.0.1, dsse 0.0.1, intoto 0.0.2), the canonical body
//! Rekor would store for each (RFC 8785 JSON), and the identifiers and signed entry timestamp
//! built from it (rekor-bundle-npm.md §1).
//!
//! Pure code: no HTTP, no storage, no clock. The API layer hands in request bytes and gets back
//! a [`Canonical`] body, whose RFC 6962 leaf hash is both the log's dedup key and Rekor's UUID.
//!
//! Canonicalization is a contract with the verifiers: sigstore-python rebuilds hashedrekord and
//! dsse bodies from a bundle and compares them byte for byte, and every verifier rebuilds the SET
//! payload. So the body is built only from values the server parsed and verified (canonical
//! base64 and PEM, server-computed hashes), never from the client's text. Where the client's
//! text already is that canonical form, it is stored as is rather than re-encoded: base64 is
//! decoded strictly (see [`decode_base64`]), so re-encoding what decoded would give back the
//! same text, and a PEM already in Go's layout is its own canonical PEM ([`Verifier`]).
//!
//! Unknown JSON fields are ignored, as Rekor's generated models do; missing or mistyped fields
//! that matter are refused with their JSON path.
//!
//! JCS: bodies and SET payloads have fixed shapes, so they are written directly in RFC 8785
//! order by [`json`] (this is on every request's path; see there for why not serde).
//! `serde_json_canonicalizer` implements RFC 8785 in full (UTF-16 key order, ECMAScript number
//! form via `ryu-js`) and remains the reference: `json` hands it integers beyond 2^53, and the
//! tests check `json` against it. `serde_jcs`, the alternative, is older and pins an older
//! `ryu-js`.

mod dsse;
mod entry;
mod envelope;
mod error;
mod hashedrekord;
mod intoto;
mod json;
mod key;
pub mod strict;
pub mod v2;

pub use entry::{
    EntryRef, InclusionProof, Integrated, IntegratedBase64, entry_id, log_entry_json,
    parse_entry_ref, set_payload, set_payload_base64, tree_id,
};
pub use envelope::{Envelope, EnvelopeSignature, pae};
pub use error::RekorError;
pub use key::{DigestAlg, Verifier};

use crate::tlog::{Hash, leaf_hash};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Map, Value};
use std::borrow::Cow;

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

    /// `{"apiVersion":…,"kind":…,"spec":…}` with `write_spec` writing the spec object;
    /// `capacity` is a hint for the spec's length.
    fn new(kind: Kind, capacity: usize, write_spec: impl FnOnce(&mut Vec<u8>)) -> Canonical {
        let mut body = Vec::with_capacity(capacity + 64);
        let mut top = json::Object::open(&mut body);
        json::str_member(&mut top, "apiVersion", kind.api_version());
        json::str_member(&mut top, "kind", kind.name());
        write_spec(top.key("spec"));
        top.close();
        Canonical { kind, body }
    }
}

/// Parses, verifies and canonicalizes a `POST /api/v1/log/entries` body.
///
/// The request is first read as the typed [`Proposed`], which borrows the large strings from
/// the request and fits exactly the shapes clients send. Anything else (another kind, a null,
/// a mistyped field, a repeated key) fails that reading, and the request is read again as a
/// `Value` by [`canonicalize_value`], whose walk names the offending field. The two readings
/// share every check after the JSON shape and the body writer, so an entry that fits both is
/// verified and stored the same way (the tests compare them); the typed one only saves the
/// `Value` tree and its copies of every string.
pub fn canonicalize(proposed: &[u8]) -> Result<Canonical, RekorError> {
    if let Ok(typed) = serde_json::from_slice::<Proposed<'_>>(proposed)
        && let Some(result) = typed.canonicalize(usize::MAX)
    {
        return result;
    }
    let value: Value = strict::from_slice(proposed).map_err(|e| RekorError::Json(e.to_string()))?;
    canonicalize_value(&value)
}

/// As [`canonicalize`] for an entry in one of the shapes real clients send that asks for at
/// most `max_checks` signature checks; `None` for any other entry, to be given to
/// [`canonicalize`] (a server runs the cheap common case where it stands and the rest where
/// long work cannot hold up other requests). The result is the one [`canonicalize`] gives.
pub fn canonicalize_within(
    proposed: &[u8],
    max_checks: usize,
) -> Option<Result<Canonical, RekorError>> {
    serde_json::from_slice::<Proposed<'_>>(proposed)
        .ok()?
        .canonicalize(max_checks)
}

/// As [`canonicalize`], for an entry already parsed as JSON.
pub fn canonicalize_value(value: &Value) -> Result<Canonical, RekorError> {
    canonical_of(value, Check::Signatures)
}

/// The canonical body of a proposed entry *without* checking its signatures: only to find an
/// entry already in the log (the `entries` of a retrieve query), whose signatures were
/// verified when it was logged. A body that was never verified can match no logged entry.
///
/// A dsse entry with several verifiers cannot be canonicalised without verifying (which
/// verifier a signature is filed under depends on which one accepts it); it is refused.
pub fn canonical_for_lookup(value: &Value) -> Result<Canonical, RekorError> {
    canonical_of(value, Check::ShapeOnly)
}

/// Whether canonicalisation verifies signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// Every signature must verify: an entry about to be logged.
    Signatures,
    /// Parse and canonicalise only: an entry looked up, never logged.
    ShapeOnly,
}

/// Most signatures (and, for dsse, verifiers) one entry may carry. Real clients send one; the
/// cap bounds the verification work one request can cause (at most 8 × 8 checks for dsse).
pub const MAX_SIGNATURES: usize = 8;

fn canonical_of(value: &Value, check: Check) -> Result<Canonical, RekorError> {
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
    match kind {
        Kind::HashedRekord => hashedrekord::canonical(spec, check),
        Kind::Dsse => dsse::canonical(spec, check),
        Kind::Intoto => intoto::canonical(spec, check),
    }
}

/// The typed reading of a proposed entry (see [`canonicalize`]). Unknown fields are ignored,
/// as in the `Value` walk.
#[derive(Deserialize)]
struct Proposed<'a> {
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(rename = "apiVersion", borrow)]
    api_version: Cow<'a, str>,
    #[serde(borrow)]
    spec: TypedSpec<'a>,
}

/// The `spec` fields of the kinds with a typed reading (dsse and hashedrekord, what npm and the
/// signing clients send), in one struct because the kind may follow the spec in the request.
/// Each kind reads only its own fields; a field of the other kind that does not fit its type
/// sends the request down the `Value` path, which ignores it.
#[derive(Deserialize)]
struct TypedSpec<'a> {
    #[serde(rename = "proposedContent", borrow)]
    proposed_content: Option<dsse::ProposedContent<'a>>,
    /// dsse's server-computed fields: present and not null, they are refused (by the `Value`
    /// path, which names them).
    #[serde(rename = "envelopeHash")]
    envelope_hash: Option<IgnoredAny>,
    #[serde(rename = "payloadHash")]
    payload_hash: Option<IgnoredAny>,
    signatures: Option<IgnoredAny>,
    #[serde(borrow)]
    data: Option<hashedrekord::Data<'a>>,
    #[serde(borrow)]
    signature: Option<hashedrekord::Signature<'a>>,
}

/// A JSON string, borrowed from the request unless it holds escapes. serde borrows a
/// `Cow<str>` only as a struct field, hence the newtype for array items.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

impl Proposed<'_> {
    /// `None`: not a shape the typed reading covers; read the request as a `Value` instead.
    /// A hashedrekord entry is one check; a dsse entry as many as signatures × verifiers.
    fn canonicalize(&self, max_checks: usize) -> Option<Result<Canonical, RekorError>> {
        match (&*self.kind, &*self.api_version) {
            ("dsse", "0.0.1") => dsse::canonical_typed(&self.spec, max_checks),
            ("hashedrekord", "0.0.1") if max_checks >= 1 => {
                hashedrekord::canonical_typed(&self.spec)
            }
            _ => None,
        }
    }
}

/// Standard, padded base64, as Go's `strfmt.Base64` requires for Rekor's byte fields.
///
/// Strict: padding must be canonical and the unused bits of the last character zero, so a text
/// that decodes is the one canonical encoding of its bytes (`encode_base64(decode(t)) == t`).
/// The bodies rely on that to store a verified field's text instead of re-encoding it.
pub(crate) fn decode_base64(field: &str, text: &str) -> Result<Vec<u8>, RekorError> {
    STANDARD.decode(text).map_err(|_| RekorError::Base64 {
        field: field.to_owned(),
    })
}

pub fn encode_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// SHA-256 with aws-lc, as the signature checks use (as fast as sha2 here).
pub(crate) fn sha256(bytes: &[u8]) -> aws_lc_rs::digest::Digest {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
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

/// Refuses a list longer than [`MAX_SIGNATURES`] before any of it is parsed or verified.
pub(crate) fn check_count(at: &str, len: usize) -> Result<(), RekorError> {
    if len > MAX_SIGNATURES {
        return Err(RekorError::field(
            at,
            format!("holds {len} items; at most {MAX_SIGNATURES} are accepted"),
        ));
    }
    Ok(())
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

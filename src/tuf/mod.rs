//! Mayfly's trust material as a TUF repository (spec 1.0): root, targets, snapshot and
//! timestamp metadata whose targets are `trusted_root.json` and `signing_config.v0.2.json`,
//! the names Sigstore clients (sigstore-python, `@sigstore/tuf`, cosign) look up.
//!
//! Written here rather than with the `tough` crate: Mayfly only needs to *produce* four small
//! documents, and tough pulls a whole client stack (HTTP transport, its own error and
//! key-source layers). What must match the clients exactly is small and pinned by tests:
//! - signatures cover the OLPC canonical JSON of `signed` ([`canonical_json`]), which
//!   python-tuf (securesystemslib `encode_canonical`) and tuf-js (`@tufjs/canonical-json`)
//!   both compute: sorted keys, no whitespace, only `\` and `"` escaped, no floats;
//! - keys are Ed25519 (`keytype`/`scheme` `ed25519`, hex public key): supported by
//!   python-tuf, tuf-js and go-tuf alike, and a hex key has no newline whose escaping the
//!   canonical forms could disagree on (a PEM would);
//! - a key id is the SHA-256 of the canonical JSON of the key's public dict;
//! - `consistent_snapshot` is on: metadata is fetched as `N.targets.json`,
//!   `N.snapshot.json`, `N.root.json`, targets as `targets/<sha256>.<name>`.
//!
//! This module is pure (no I/O); [`repository`] reads and writes the data dir.

pub mod repository;
#[cfg(test)]
mod tests;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256, Sha512};
use time::OffsetDateTime;

/// The TUF specification version the metadata claims.
pub const SPEC_VERSION: &str = "1.0.31";
/// The target names Sigstore clients fetch.
pub const TRUSTED_ROOT_TARGET: &str = "trusted_root.json";
pub const SIGNING_CONFIG_TARGET: &str = "signing_config.v0.2.json";

/// Why TUF metadata could not be built, read or written.
#[derive(Debug, thiserror::Error)]
pub enum TufError {
    #[error("cannot encode canonical JSON: {0}")]
    Canonical(&'static str),
    #[error("TUF key {path} is not an Ed25519 PKCS#8 key: {reason}")]
    Key { path: String, reason: String },
    #[error(transparent)]
    Trust(#[from] crate::trust::TrustError),
    #[error("cannot generate a TUF key")]
    Generate,
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("{0} already holds a TUF repository; use `mayfly tuf update` to re-sign it")]
    Exists(String),
    #[error("{0} holds no TUF repository; create one with `mayfly tuf init`")]
    Missing(String),
    #[error("{path} is not valid TUF metadata: {reason}")]
    Metadata { path: String, reason: String },
}

/// The TUF targets for a set of trust documents: the trusted root and the signing config
/// (the Rekor v1 one: what every client version understands), byte for byte as `/trust/`
/// serves them.
pub fn trust_targets(documents: &crate::trust::TrustDocuments) -> Vec<(&'static str, Vec<u8>)> {
    documents
        .files()
        .into_iter()
        .filter_map(|(file, bytes)| match file {
            crate::trust::TRUSTED_ROOT_FILE => Some((TRUSTED_ROOT_TARGET, bytes)),
            crate::trust::SIGNING_CONFIG_FILE => Some((SIGNING_CONFIG_TARGET, bytes)),
            _ => None,
        })
        .collect()
}

/// The OLPC canonical JSON form (<http://wiki.laptop.org/go/Canonical_JSON>) TUF signatures
/// cover. Not RFC 8785: strings escape only `\` and `"` (a newline stays a raw byte), and
/// floats are refused rather than normalised.
pub fn canonical_json(value: &Value) -> Result<Vec<u8>, TufError> {
    let mut out = Vec::new();
    write_canonical(value, &mut out)?;
    Ok(out)
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) -> Result<(), TufError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => out.extend_from_slice(i.to_string().as_bytes()),
            (None, Some(u)) => out.extend_from_slice(u.to_string().as_bytes()),
            _ => return Err(TufError::Canonical("floats have no canonical form")),
        },
        Value::String(s) => write_canonical_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            // Sorted by code point, which for UTF-8 is byte order: what Python's and
            // JavaScript's sorts give for the ASCII keys metadata has.
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical_string(key, out);
                out.push(b':');
                write_canonical(&map[key], out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_canonical_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for byte in s.bytes() {
        if byte == b'\\' || byte == b'"' {
            out.push(b'\\');
        }
        out.push(byte);
    }
    out.push(b'"');
}

/// One role's signing key.
pub struct TufKey {
    pair: Ed25519KeyPair,
}

impl TufKey {
    /// A fresh key and its PKCS#8 encoding, the form [`TufKey::from_pkcs8`] reads back.
    pub fn generate() -> Result<(TufKey, Vec<u8>), TufError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let document = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| TufError::Generate)?;
        let pkcs8 = document.as_ref().to_vec();
        let key = TufKey::from_pkcs8(&pkcs8, "generated key")?;
        Ok((key, pkcs8))
    }

    pub fn from_pkcs8(pkcs8: &[u8], path: &str) -> Result<TufKey, TufError> {
        Ed25519KeyPair::from_pkcs8(pkcs8)
            .map(|pair| TufKey { pair })
            .map_err(|e| TufError::Key {
                path: path.to_owned(),
                reason: e.to_string(),
            })
    }

    /// The key as root metadata lists it.
    pub fn public(&self) -> Value {
        json!({
            "keytype": "ed25519",
            "scheme": "ed25519",
            "keyval": { "public": hex::encode(self.pair.public_key().as_ref()) },
        })
    }

    /// SHA-256 of the canonical public dict, as python-tuf and tuf-js compute key ids.
    pub fn key_id(&self) -> String {
        // A dict of three ASCII strings always has a canonical form.
        let canonical = canonical_json(&self.public()).unwrap_or_default();
        hex::encode(Sha256::digest(canonical))
    }
}

/// `signed` wrapped with one signature per key over its canonical form, as served.
pub fn sign(signed: &Value, keys: &[&TufKey]) -> Result<Vec<u8>, TufError> {
    let canonical = canonical_json(signed)?;
    let signatures: Vec<Value> = keys
        .iter()
        .map(|key| {
            json!({
                "keyid": key.key_id(),
                "sig": hex::encode(key.pair.sign(&canonical).as_ref()),
            })
        })
        .collect();
    let envelope = json!({ "signatures": signatures, "signed": signed });
    // Pretty for operators reading the files; clients re-canonicalise `signed` anyway.
    serde_json::to_vec_pretty(&envelope).map_err(|_| TufError::Canonical("unserialisable"))
}

/// The expiry form python-tuf accepts: whole seconds, `Z`.
pub fn format_expiry(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// Reads back what [`format_expiry`] writes.
pub fn parse_expiry(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

/// The four top-level roles' keys as root metadata names them.
pub struct RoleKeys<'a> {
    pub root: &'a [&'a TufKey],
    pub targets: &'a TufKey,
    pub snapshot: &'a TufKey,
    pub timestamp: &'a TufKey,
}

/// Root metadata `version` delegating each role to its keys, threshold 1 (root: a threshold
/// of all listed root keys would block rotation when one is lost, so 1 as well).
pub fn root_signed(keys: &RoleKeys<'_>, version: u64, expires: &str) -> Value {
    let mut all = Map::new();
    let mut role = |ks: &[&TufKey]| {
        let ids: Vec<Value> = ks
            .iter()
            .map(|k| {
                all.insert(k.key_id(), k.public());
                Value::String(k.key_id())
            })
            .collect();
        json!({ "keyids": ids, "threshold": 1 })
    };
    let roles = json!({
        "root": role(keys.root),
        "targets": role(&[keys.targets]),
        "snapshot": role(&[keys.snapshot]),
        "timestamp": role(&[keys.timestamp]),
    });
    json!({
        "_type": "root",
        "spec_version": SPEC_VERSION,
        "version": version,
        "expires": expires,
        "consistent_snapshot": true,
        "keys": all,
        "roles": roles,
    })
}

/// A target's length and hashes, as targets metadata describes it.
pub fn target_info(bytes: &[u8]) -> Value {
    json!({
        "length": bytes.len(),
        "hashes": {
            "sha256": hex::encode(Sha256::digest(bytes)),
            "sha512": hex::encode(Sha512::digest(bytes)),
        },
    })
}

/// The file name a consistent-snapshot client fetches a target under.
pub fn hashed_target_name(name: &str, bytes: &[u8]) -> String {
    format!("{}.{name}", hex::encode(Sha256::digest(bytes)))
}

pub fn targets_signed(targets: &[(&str, &[u8])], version: u64, expires: &str) -> Value {
    let entries: Map<String, Value> = targets
        .iter()
        .map(|(name, bytes)| ((*name).to_owned(), target_info(bytes)))
        .collect();
    json!({
        "_type": "targets",
        "spec_version": SPEC_VERSION,
        "version": version,
        "expires": expires,
        "targets": entries,
    })
}

pub fn snapshot_signed(targets_version: u64, version: u64, expires: &str) -> Value {
    json!({
        "_type": "snapshot",
        "spec_version": SPEC_VERSION,
        "version": version,
        "expires": expires,
        "meta": { "targets.json": { "version": targets_version } },
    })
}

pub fn timestamp_signed(snapshot_version: u64, version: u64, expires: &str) -> Value {
    json!({
        "_type": "timestamp",
        "spec_version": SPEC_VERSION,
        "version": version,
        "expires": expires,
        "meta": { "snapshot.json": { "version": snapshot_version } },
    })
}

//! The trusted root (`trusted_root.json`, protobuf-specs `TrustedRoot`; rekor-bundle-npm.md
//! §4.2): the CAs, transparency logs and CT logs a bundle may be checked against.
//!
//! Selection mirrors sigstore-js: logs are picked by ID *and* by their key's `validFor`
//! containing the time in question (integratedTime for tlogs, the SCT timestamp for CT logs),
//! CAs by `validFor` containing the signing time. `validFor` bounds are inclusive.

use super::DocumentError;
use super::json::{self, Obj};
use serde_json::Value;

/// A `[start, end]` window in Unix seconds; no `end` means open-ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub start: i64,
    pub end: Option<i64>,
}

impl Validity {
    pub fn contains(&self, t: i64) -> bool {
        self.start <= t && self.end.is_none_or(|end| t <= end)
    }
}

/// A transparency log or CT log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    pub base_url: String,
    pub log_id: [u8; 32],
    /// DER SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
    /// protobuf `PublicKeyDetails` name, e.g. `PKIX_ECDSA_P256_SHA_256`.
    pub key_details: String,
    pub valid_for: Validity,
}

/// A certificate authority: its chain, intermediate(s) first, the anchor (root) last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    pub chain: Vec<Vec<u8>>,
    pub valid_for: Validity,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedRoot {
    pub tlogs: Vec<Log>,
    pub ctlogs: Vec<Log>,
    pub authorities: Vec<Authority>,
    /// `timestampAuthorities`: RFC 3161 TSAs, chain leaf (the signing certificate) first.
    pub timestamp_authorities: Vec<Authority>,
}

fn bad(msg: String) -> DocumentError {
    DocumentError::TrustedRoot(msg)
}

impl TrustedRoot {
    pub fn parse(bytes: &[u8]) -> Result<Self, DocumentError> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
        let top = json::as_obj(&value, "$").map_err(bad)?;
        let media = json::string(top, "$", "mediaType").map_err(bad)?;
        // v0.1 is what production and staging publish; v0.2 only adds fields we do not need.
        if !matches!(
            media,
            "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
                | "application/vnd.dev.sigstore.trustedroot.v0.2+json"
        ) {
            return Err(bad(format!("unsupported media type {media:?}")));
        }
        let logs = |name: &str| -> Result<Vec<Log>, DocumentError> {
            match json::opt(top, name) {
                None => Ok(Vec::new()),
                Some(v) => v
                    .as_array()
                    .ok_or_else(|| bad(format!("{name} is not an array")))?
                    .iter()
                    .enumerate()
                    .map(|(i, l)| log(l, &format!("{name}[{i}]")))
                    .collect(),
            }
        };
        let authorities = |name: &str| -> Result<Vec<Authority>, DocumentError> {
            match json::opt(top, name) {
                None => Ok(Vec::new()),
                Some(v) => v
                    .as_array()
                    .ok_or_else(|| bad(format!("{name} is not an array")))?
                    .iter()
                    .enumerate()
                    .map(|(i, ca)| authority(ca, &format!("{name}[{i}]")))
                    .collect(),
            }
        };
        Ok(TrustedRoot {
            tlogs: logs("tlogs")?,
            ctlogs: logs("ctlogs")?,
            authorities: authorities("certificateAuthorities")?,
            timestamp_authorities: authorities("timestampAuthorities")?,
        })
    }
}

fn validity(o: &Obj, at: &str) -> Result<Validity, DocumentError> {
    let v = json::obj(o, at, "validFor").map_err(bad)?;
    let at = format!("{at}.validFor");
    let start = json::rfc3339(json::string(v, &at, "start").map_err(bad)?, &at).map_err(bad)?;
    let end = json::opt(v, "end")
        .map(|e| {
            e.as_str()
                .ok_or_else(|| format!("{at}.end is not a string"))
                .and_then(|s| json::rfc3339(s, &at))
        })
        .transpose()
        .map_err(bad)?;
    Ok(Validity { start, end })
}

fn log(value: &Value, at: &str) -> Result<Log, DocumentError> {
    let l = json::as_obj(value, at).map_err(bad)?;
    let key = json::obj(l, at, "publicKey").map_err(bad)?;
    let key_at = format!("{at}.publicKey");
    Ok(Log {
        base_url: json::string(l, at, "baseUrl").map_err(bad)?.to_owned(),
        log_id: json::hash32(json::obj(l, at, "logId").map_err(bad)?, at, "keyId").map_err(bad)?,
        spki: json::bytes(key, &key_at, "rawBytes").map_err(bad)?,
        key_details: json::string(key, &key_at, "keyDetails")
            .map_err(bad)?
            .to_owned(),
        valid_for: validity(key, &key_at)?,
    })
}

fn authority(value: &Value, at: &str) -> Result<Authority, DocumentError> {
    let ca = json::as_obj(value, at).map_err(bad)?;
    let chain_at = format!("{at}.certChain");
    let certs = json::array(
        json::obj(ca, at, "certChain").map_err(bad)?,
        &chain_at,
        "certificates",
    )
    .map_err(bad)?;
    if certs.is_empty() {
        return Err(bad(format!("{chain_at}.certificates is empty")));
    }
    let chain = certs
        .iter()
        .map(|c| {
            let c = json::as_obj(c, &chain_at).map_err(bad)?;
            json::bytes(c, &chain_at, "rawBytes").map_err(bad)
        })
        .collect::<Result<_, _>>()?;
    Ok(Authority {
        chain,
        valid_for: validity(ca, at)?,
    })
}

/// The log with this ID whose key was valid at `time`. IDs are compared on all 32 bytes.
pub fn find_log<'a>(logs: &'a [Log], log_id: &[u8; 32], time: i64) -> Option<&'a Log> {
    logs.iter()
        .find(|l| l.log_id == *log_id && l.valid_for.contains(time))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_is_inclusive_and_open_ended() {
        let v = Validity {
            start: 10,
            end: Some(20),
        };
        assert!(v.contains(10) && v.contains(20) && !v.contains(9) && !v.contains(21));
        assert!(
            Validity {
                start: 10,
                end: None
            }
            .contains(i64::MAX)
        );
    }

    #[test]
    fn find_log_needs_id_and_time() {
        let log = Log {
            base_url: "https://log".into(),
            log_id: [7; 32],
            spki: vec![],
            key_details: String::new(),
            valid_for: Validity {
                start: 100,
                end: Some(200),
            },
        };
        let logs = [log];
        assert!(find_log(&logs, &[7; 32], 150).is_some());
        assert!(find_log(&logs, &[7; 32], 201).is_none());
        assert!(find_log(&logs, &[8; 32], 150).is_none());
    }

    #[test]
    fn refuses_unknown_media_type() {
        let err = TrustedRoot::parse(br#"{"mediaType":"x"}"#).err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("trusted root: unsupported media type \"x\"")
        );
    }
}

//! Trust material for Sigstore clients: the trusted root, the signing config (v0.2) and the
//! client trust config that bundles both (what sigstore-python's `--trust-config` takes).
//!
//! Pure: documents are built from the CA certificates, the two log keys and the public URL,
//! with no I/O, so the server (`/trust/*`) and `mayfly trust` (from a data dir, offline)
//! produce byte-identical files. [`datadir`] does the reading and writing for the latter.
//!
//! Choices the clients force (see `reference/rekor-bundle-npm.md` §4, design.md §9):
//! - `tlogs` is the artifact log (the Rekor API), `baseUrl` = the public URL. Its checkpoint
//!   key name is the scheme-less public URL, which the `baseUrl` therefore contains.
//! - `ctlogs` is the issuance log, whose key signs the embedded SCTs. It must not be empty
//!   (sigstore-python), and its `baseUrl` (`<public>/logs/issuance`) contains that log's key
//!   name (`<host>/logs/issuance`), so the same substring rule holds for it.
//! - Log IDs are SHA-256 of the DER SPKI, for both Rekor and RFC 6962.
//! - The Rekor v2 log is a second `tlogs` entry after the artifact log, `baseUrl`
//!   `<public>/logs/rekor-v2`, which contains its key name `<host>/logs/rekor-v2`.
//! - The signing config lists the Rekor v2 log (`majorApiVersion` 2) before the v1 API, and
//!   the TSA in `tsaUrls`. sigstore-python takes the highest `majorApiVersion` per operator,
//!   so it logs to v2 (and timestamps with the TSA); sigstore-js's
//!   `bundleBuilderFromSigningConfig` takes the newest `validFor.start` and, on a tie (both
//!   start at the root's notBefore, see below), the first listed: hence v2 first. Clients that
//!   only speak v1 (`majorApiVersion` 1) still find it. A v2 entry carries no signed time (no
//!   SET, `integratedTime` 0), so v2 is listed only together with a TSA: a data dir from
//!   before the TSA (`mayfly trust` on it before its next start) lists Rekor v1 alone, as a v2
//!   bundle without a timestamp is one no verifier can date.
//! - `signing_config.v2.json` is an alias that serves the same bytes: it was the opt-in
//!   document while the default was v1-only, and is kept so links to it keep working.
//! - `timestampAuthorities` is the RFC 3161 TSA (chain leaf first, valid while its certificate
//!   is), and `tsaUrls` its endpoint, so clients timestamp their signatures with it.
//!
//! **Validity start.** Every `validFor.start` is the CA root's notBefore. A fresh instance
//! creates the root and both log keys in the same start, before any entry or certificate can
//! exist, so this instant is not later than any integrated time or SCT timestamp, and it is
//! read from a file that never changes: stable across restarts and identical offline. (The
//! logs store no creation time of their own.) With `--ca ephemeral` the root, and so this
//! start, is new on every start; such a CA cannot be trusted across restarts anyway.

pub mod datadir;
pub use mayfly_spec::sigstore::documents as model;

#[cfg(test)]
mod tests;

use crate::ca::profile::LEAF_VALIDITY;
use crate::instance::PublicUrl;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use model::{
    CLIENT_TRUST_CONFIG_MEDIA_TYPE, CertChain, CertificateAuthority, ClientTrustConfig,
    DistinguishedName, LogId, PublicKey, RawBytes, SIGNING_CONFIG_MEDIA_TYPE, Service,
    ServiceConfiguration, SigningConfig, TRUSTED_ROOT_MEDIA_TYPE, TransparencyLogInstance,
    TrustedRootDocument as TrustedRoot, ValidFor,
};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

/// File names under `/trust/` and in `mayfly trust --out`.
pub const TRUSTED_ROOT_FILE: &str = "trusted_root.json";
pub const SIGNING_CONFIG_FILE: &str = "signing_config.json";
pub const CLIENT_TRUST_CONFIG_FILE: &str = "client_trust_config.json";
/// The former opt-in name of the signing config, now an alias of `SIGNING_CONFIG_FILE`.
pub const SIGNING_CONFIG_V2_FILE: &str = "signing_config.v2.json";

/// Where the timestamp authority answers, under the public URL (the sigstore TSA's path).
pub const TIMESTAMP_PATH: &str = "/api/v1/timestamp";

/// Every log signs with P-256 (see `keys`).
const KEY_DETAILS: &str = "PKIX_ECDSA_P256_SHA_256";

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("{which} certificate is not valid DER X.509")]
    Certificate { which: &'static str },
    #[error("{which} certificate validity {year} cannot be written as RFC 3339")]
    Time { which: &'static str, year: i32 },
    #[error("no CA generation to list")]
    NoCertificateAuthority,
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// One CA generation, as the trusted root lists it.
#[derive(Debug, Clone, Copy)]
pub struct CaGeneration<'a> {
    pub root_der: &'a [u8],
    pub intermediate_der: &'a [u8],
    /// When it started (or starts) signing; `None` for the first generation, which signs
    /// since its root was created.
    pub active_from: Option<OffsetDateTime>,
}

/// What the documents are built from.
#[derive(Debug, Clone, Copy)]
pub struct TrustInputs<'a> {
    /// Where clients reach this instance (Fulcio and Rekor base URL).
    pub public_url: &'a PublicUrl,
    /// Every CA generation, oldest first (`mayfly ca rotate` adds them); never empty.
    pub certificate_authorities: &'a [CaGeneration<'a>],
    /// DER SPKI of the artifact log (Rekor API) key.
    pub artifact_log_spki: &'a [u8],
    /// DER SPKI of the issuance log key, which signs the SCTs.
    pub issuance_log_spki: &'a [u8],
    /// DER SPKI of the Rekor v2 log key; `None` for a data dir made before the v2 log existed
    /// (`mayfly trust` on it before its next start), which then lists no v2 log.
    pub rekor_v2_log_spki: Option<&'a [u8]>,
    /// The built-in dev issuer's URL, when it is on; the only interactive-free issuer this
    /// instance can name in `oidcUrls`.
    pub oidc_issuer: Option<&'a str>,
    /// The timestamp authority's chain (DER, signing certificate first), when the instance
    /// has one: listed in `timestampAuthorities`, its endpoint in `tsaUrls`.
    pub timestamp_authority: Option<&'a [Vec<u8>]>,
}

/// The trusted root and signing config of one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustDocuments {
    pub trusted_root: TrustedRoot,
    /// Rekor v2 (with a TSA) and v1, see the module notes; served under both names.
    pub signing_config: SigningConfig,
}

impl TrustDocuments {
    pub fn build(inputs: &TrustInputs<'_>) -> Result<Self, TrustError> {
        let first = inputs
            .certificate_authorities
            .first()
            .ok_or(TrustError::NoCertificateAuthority)?;
        let first_root = CertFacts::parse(first.root_der, "CA root")?;
        let base = inputs.public_url.base();
        let operator = inputs.public_url.host().to_owned();
        let since = ValidFor {
            start: first_root.not_before.clone(),
            end: None,
        };
        let certificate_authorities = inputs
            .certificate_authorities
            .iter()
            .enumerate()
            .map(|(i, generation)| {
                let next = inputs.certificate_authorities.get(i + 1);
                certificate_authority(&base, generation, next.and_then(|n| n.active_from))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let rekor_v2_url = inputs.public_url.rekor_v2_log_url();
        let mut tlogs = vec![log_instance(&base, inputs.artifact_log_spki, &since)];
        if let Some(spki) = inputs.rekor_v2_log_spki {
            tlogs.push(log_instance(&rekor_v2_url, spki, &since));
        }
        let trusted_root = TrustedRoot {
            media_type: TRUSTED_ROOT_MEDIA_TYPE,
            tlogs,
            certificate_authorities,
            ctlogs: vec![log_instance(
                &inputs.public_url.issuance_log_url(),
                inputs.issuance_log_spki,
                &since,
            )],
            timestamp_authorities: inputs
                .timestamp_authority
                .map(|chain| timestamp_authority(&base, chain))
                .transpose()?
                .into_iter()
                .collect(),
        };
        let versioned = |url: String, major_api_version| Service {
            url,
            major_api_version,
            valid_for: since.clone(),
            operator: operator.clone(),
        };
        let service = |url: String| versioned(url, 1);
        let tsa_urls = match &trusted_root.timestamp_authorities[..] {
            [tsa] => vec![Service {
                url: format!("{base}{TIMESTAMP_PATH}"),
                valid_for: tsa.valid_for.clone(),
                ..service(String::new())
            }],
            _ => Vec::new(),
        };
        // v2 first (sigstore-js's tie-break) and only with a TSA to date its entries.
        let mut rekor_tlog_urls = Vec::new();
        if inputs.rekor_v2_log_spki.is_some() && !tsa_urls.is_empty() {
            rekor_tlog_urls.push(versioned(rekor_v2_url, 2));
        }
        rekor_tlog_urls.push(service(base.clone()));
        let signing_config = SigningConfig {
            media_type: SIGNING_CONFIG_MEDIA_TYPE,
            ca_urls: vec![service(base.clone())],
            oidc_urls: inputs
                .oidc_issuer
                .map(|url| service(url.to_owned()))
                .into_iter()
                .collect(),
            rekor_tlog_urls,
            tsa_urls,
            rekor_tlog_config: ServiceConfiguration { selector: "ANY" },
            tsa_config: ServiceConfiguration { selector: "ANY" },
        };
        Ok(TrustDocuments {
            trusted_root,
            signing_config,
        })
    }

    pub fn client_trust_config(&self) -> ClientTrustConfig {
        ClientTrustConfig {
            media_type: CLIENT_TRUST_CONFIG_MEDIA_TYPE,
            trusted_root: self.trusted_root.clone(),
            signing_config: self.signing_config.clone(),
        }
    }

    /// The documents as served and written: (file name, pretty JSON with a final
    /// newline). One rendering for both paths keeps them byte-identical.
    pub fn files(&self) -> [(&'static str, Vec<u8>); 4] {
        [
            (TRUSTED_ROOT_FILE, render(&self.trusted_root)),
            (SIGNING_CONFIG_FILE, render(&self.signing_config)),
            (
                CLIENT_TRUST_CONFIG_FILE,
                render(&self.client_trust_config()),
            ),
            (SIGNING_CONFIG_V2_FILE, render(&self.signing_config)),
        ]
    }
}

/// Pretty JSON plus `\n`. Serialising these plain structs cannot fail (string keys, no
/// maps, no floats); the empty fallback is unreachable and would be caught by the tests.
pub fn render<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(value).unwrap_or_default();
    out.push(b'\n');
    out
}

/// One generation's entry: its chain, valid from its start until its certificates expire, or
/// until one leaf lifetime after the next generation took over (a certificate issued just
/// before the switch-over is used for up to that long).
fn certificate_authority(
    base: &str,
    generation: &CaGeneration<'_>,
    superseded_at: Option<OffsetDateTime>,
) -> Result<CertificateAuthority, TrustError> {
    let root = CertFacts::parse(generation.root_der, "CA root")?;
    let intermediate = CertFacts::parse(generation.intermediate_der, "CA intermediate")?;
    let start = match generation.active_from {
        Some(at) => rfc3339(at, "CA generation start")?,
        None => root.not_before.clone(),
    };
    let mut end = root.not_after_unix.min(intermediate.not_after_unix);
    if let Some(at) = superseded_at {
        end = end.min((at + LEAF_VALIDITY).unix_timestamp());
    }
    let end = OffsetDateTime::from_unix_timestamp(end).map_err(|_| TrustError::Certificate {
        which: "CA intermediate",
    })?;
    Ok(CertificateAuthority {
        subject: root.subject,
        uri: base.to_owned(),
        cert_chain: CertChain {
            certificates: vec![raw(generation.intermediate_der), raw(generation.root_der)],
        },
        valid_for: ValidFor {
            start,
            end: Some(rfc3339(end, "CA validity end")?),
        },
    })
}

/// The TSA's entry: its chain (leaf first, as the TSA serves it), valid while its signing
/// certificate is: a token's genTime must fall inside both.
fn timestamp_authority(base: &str, chain: &[Vec<u8>]) -> Result<CertificateAuthority, TrustError> {
    let leaf_der = chain.first().ok_or(TrustError::Certificate {
        which: "TSA (empty chain)",
    })?;
    let leaf = CertFacts::parse(leaf_der, "TSA")?;
    let end = OffsetDateTime::from_unix_timestamp(leaf.not_after_unix)
        .map_err(|_| TrustError::Certificate { which: "TSA" })?;
    Ok(CertificateAuthority {
        subject: leaf.subject,
        uri: format!("{base}{TIMESTAMP_PATH}"),
        cert_chain: CertChain {
            certificates: chain.iter().map(|der| raw(der)).collect(),
        },
        valid_for: ValidFor {
            start: leaf.not_before,
            end: Some(rfc3339(end, "TSA validity end")?),
        },
    })
}

fn log_instance(base_url: &str, spki: &[u8], since: &ValidFor) -> TransparencyLogInstance {
    TransparencyLogInstance {
        base_url: base_url.to_owned(),
        hash_algorithm: "SHA2_256",
        public_key: PublicKey {
            raw_bytes: STANDARD.encode(spki),
            key_details: KEY_DETAILS,
            valid_for: since.clone(),
        },
        log_id: LogId {
            key_id: STANDARD.encode(Sha256::digest(spki)),
        },
    }
}

fn raw(der: &[u8]) -> RawBytes {
    RawBytes {
        raw_bytes: STANDARD.encode(der),
    }
}

/// What the documents need from one certificate.
struct CertFacts {
    subject: DistinguishedName,
    not_before: String,
    not_after_unix: i64,
}

impl CertFacts {
    fn parse(der: &[u8], which: &'static str) -> Result<Self, TrustError> {
        let (_, cert) =
            X509Certificate::from_der(der).map_err(|_| TrustError::Certificate { which })?;
        let first = |values: Vec<&str>| values.first().map(|s| (*s).to_owned()).unwrap_or_default();
        let subject = cert.subject();
        let organization = first(
            subject
                .iter_organization()
                .filter_map(|a| a.as_str().ok())
                .collect(),
        );
        let common_name = first(
            subject
                .iter_common_name()
                .filter_map(|a| a.as_str().ok())
                .collect(),
        );
        let validity = cert.validity();
        Ok(CertFacts {
            subject: DistinguishedName {
                organization,
                common_name,
            },
            not_before: rfc3339(validity.not_before.to_datetime(), which)?,
            not_after_unix: validity.not_after.timestamp(),
        })
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the form protobuf JSON timestamps take. Certificate times have
/// whole seconds, so no fraction is ever needed.
fn rfc3339(at: OffsetDateTime, which: &'static str) -> Result<String, TrustError> {
    let at = at.to_offset(time::UtcOffset::UTC);
    let year = at.year();
    if !(0..=9999).contains(&year) {
        return Err(TrustError::Time { which, year });
    }
    Ok(format!(
        "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    ))
}

//! The protobuf-specs messages clients read, in their protobuf JSON mapping (camelCase names,
//! bytes as standard base64, enums by name, timestamps as RFC 3339).
//!
//! Only the fields this instance fills are modelled. Every modelled field is always
//! serialised, including empty lists: sigstore-python's models reject documents whose lists
//! are missing, and an explicit `[]` is what the public-good documents carry too.

use serde::Serialize;

/// `application/vnd.dev.sigstore.trustedroot+json;version=0.1`. The 0.1 form, not
/// `trustedroot.v0.2+json`: sigstore-python 4.5 rejects the latter.
pub const TRUSTED_ROOT_MEDIA_TYPE: &str =
    "application/vnd.dev.sigstore.trustedroot+json;version=0.1";
pub const SIGNING_CONFIG_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.signingconfig.v0.2+json";
pub const CLIENT_TRUST_CONFIG_MEDIA_TYPE: &str =
    "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustedRootDocument {
    pub media_type: &'static str,
    pub tlogs: Vec<TransparencyLogInstance>,
    pub certificate_authorities: Vec<CertificateAuthority>,
    pub ctlogs: Vec<TransparencyLogInstance>,
    pub timestamp_authorities: Vec<CertificateAuthority>,
}

/// One log a client may trust: a Rekor log (`tlogs`) or a CT log (`ctlogs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransparencyLogInstance {
    /// sigstore-js accepts a checkpoint only if this URL contains the note's key name.
    pub base_url: String,
    pub hash_algorithm: &'static str,
    pub public_key: PublicKey,
    pub log_id: LogId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicKey {
    /// Standard base64 of the DER SubjectPublicKeyInfo.
    pub raw_bytes: String,
    pub key_details: &'static str,
    pub valid_for: ValidFor,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogId {
    /// Standard base64 of SHA-256(DER SPKI): the Rekor log ID and the RFC 6962 CT log ID.
    pub key_id: String,
}

/// An inclusive time range. `end` absent means "still valid", which is how a current key or
/// CA is published; it is never written as an empty string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidFor {
    pub start: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateAuthority {
    pub subject: DistinguishedName,
    pub uri: String,
    pub cert_chain: CertChain,
    pub valid_for: ValidFor,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DistinguishedName {
    pub organization: String,
    pub common_name: String,
}

/// Certificates from the issuing CA down to the anchor: the **last** one is the trust anchor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertChain {
    pub certificates: Vec<RawBytes>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RawBytes {
    /// Standard base64 of the DER certificate.
    pub raw_bytes: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SigningConfig {
    pub media_type: &'static str,
    pub ca_urls: Vec<Service>,
    pub oidc_urls: Vec<Service>,
    pub rekor_tlog_urls: Vec<Service>,
    pub tsa_urls: Vec<Service>,
    pub rekor_tlog_config: ServiceConfiguration,
    pub tsa_config: ServiceConfiguration,
}

/// A service endpoint. CA and Rekor URLs are base URLs (clients append the API path).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub url: String,
    pub major_api_version: u32,
    pub valid_for: ValidFor,
    /// Clients pick at most one service per operator.
    pub operator: String,
}

/// `ANY`: use one of the listed services. sigstore-js's `bundleBuilderFromSigningConfig`
/// accepts nothing else, and `count` only applies to `EXACT`, so it is not written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceConfiguration {
    pub selector: &'static str,
}

/// What sigstore-python's `--trust-config` takes: both documents, no TUF.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientTrustConfig {
    pub media_type: &'static str,
    pub trusted_root: TrustedRootDocument,
    pub signing_config: SigningConfig,
}

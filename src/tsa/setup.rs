//! Where the TSA's key and certificates live, and how a start finds or creates them.
//!
//! **Its own root, not the Mayfly CA's.** The TSA certificate is issued by a TSA root made for
//! it alone, whose private key is used once, to sign the TSA certificate, and then dropped:
//! - the CA root may live in an HSM or offline (`--root-key`), where a start cannot reach it;
//! - `mayfly ca rotate` replaces CA generations on its own schedule, and a timestamp must keep
//!   verifying for as long as the TSA certificate is valid, whatever the CA did since;
//! - a CA root that only ever certifies the code-signing intermediate keeps its path length
//!   and EKU story simple, and a compromise of the TSA key says nothing about the CA.
//!
//! The trusted root lists the TSA (leaf, then its root) under `timestampAuthorities`. Both are
//! valid for [`TSA_VALIDITY`]; renewal (a new root and leaf listed next to the old ones, the
//! old entry's `validFor` ended) is not automated yet.
//!
//! Files (named by [`DataDir`]): the key `keys/tsa.key.pem` (PKCS#8, owner-only, like the log
//! keys), the certificates `ca/tsa.pem` and `ca/tsa-root.pem`. `mayfly init` creates them with
//! the rest of an instance, so replicas started from one initialised data dir share one TSA;
//! a start on an older data dir without them creates them and says so.

use super::TimestampAuthority;
use crate::ca::signer::{CaSigner, RcgenSigner, SignerError, SoftwareKey};
use crate::instance::DataDir;
use rcgen::{BasicConstraints, CertificateParams, CustomExtension, IsCa, Issuer, KeyUsagePurpose};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

/// How long the TSA root and certificate are valid: a timestamp verifies only while the
/// certificate that signed it does (the trusted root's `validFor` bounds it too).
pub const TSA_VALIDITY: time::Duration = time::Duration::days(3650);

/// id-ce-extKeyUsage (RFC 5280 §4.2.1.12).
const EXTENDED_KEY_USAGE: &[u64] = &[2, 5, 29, 37];
/// DER `SEQUENCE { id-kp-timeStamping (1.3.6.1.5.5.7.3.8) }`: the only usage RFC 3161 §2.3
/// allows a TSA certificate.
const TIME_STAMPING_ONLY: &[u8] = &[
    0x30, 0x0A, 0x06, 0x08, 0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08,
];

#[derive(Debug, thiserror::Error)]
pub enum TsaSetupError {
    #[error("TSA key: {0}")]
    Key(#[from] SignerError),
    #[error("cannot build the TSA certificate: {0}")]
    Build(#[from] rcgen::Error),
    #[error("{0}")]
    Invalid(String),
    #[error(
        "the data dir has only part of a TSA ({present} without {missing}); restore the missing file, or remove the TSA files ({files}) to create a new TSA (clients must then fetch the new trusted root)"
    )]
    Partial {
        present: String,
        missing: String,
        files: String,
    },
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Loads the TSA of `dir`, or creates it when none of its files exist. Returns it and whether
/// it was created now. `organization` names the instance in the new certificates' subjects.
pub fn open_or_create(
    dir: &DataDir,
    organization: &str,
) -> Result<(TimestampAuthority, bool), TsaSetupError> {
    let files = dir.tsa_files();
    let present: Vec<&PathBuf> = files.iter().filter(|p| p.exists()).collect();
    if present.is_empty() {
        return Ok((create(dir, organization, OffsetDateTime::now_utc())?, true));
    }
    if present.len() < files.len() {
        let list = |paths: Vec<&PathBuf>| {
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(TsaSetupError::Partial {
            present: list(present.clone()),
            missing: list(files.iter().filter(|p| !p.exists()).collect()),
            files: list(files.iter().collect()),
        });
    }
    Ok((load(dir)?, false))
}

/// The stored chain (signing certificate, root), without the key: what `mayfly trust` lists.
/// `None` when the data dir has no TSA yet.
pub fn read_chain(dir: &DataDir) -> Result<Option<Vec<Vec<u8>>>, TsaSetupError> {
    if !dir.tsa_cert().exists() && !dir.tsa_root_cert().exists() {
        return Ok(None);
    }
    Ok(Some(vec![
        read_cert(&dir.tsa_cert())?,
        read_cert(&dir.tsa_root_cert())?,
    ]))
}

fn load(dir: &DataDir) -> Result<TimestampAuthority, TsaSetupError> {
    let key: Arc<dyn CaSigner> = Arc::new(SoftwareKey::open_file(&dir.tsa_key(), None)?);
    let leaf = read_cert(&dir.tsa_cert())?;
    let root = read_cert(&dir.tsa_root_cert())?;
    let (_, parsed) = X509Certificate::from_der(&leaf)
        .map_err(|_| invalid(&dir.tsa_cert(), "is not a DER X.509 certificate"))?;
    if parsed.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
        return Err(invalid(
            &dir.tsa_cert(),
            "does not certify the key in the TSA key file",
        ));
    }
    TimestampAuthority::new(key, vec![leaf, root])
}

fn invalid(path: &Path, what: &str) -> TsaSetupError {
    TsaSetupError::Invalid(format!("{} {what}", path.display()))
}

fn read_cert(path: &Path) -> Result<Vec<u8>, TsaSetupError> {
    let text = std::fs::read(path).map_err(|source| TsaSetupError::Io {
        path: path.to_owned(),
        source,
    })?;
    mayfly_spec::pem::decode_label(&text, "CERTIFICATE")
        .map_err(|_| invalid(path, "is not one PEM CERTIFICATE"))
}

/// Makes a TSA root (whose key is dropped on return) and the TSA certificate under it. Files
/// are created, never replaced; an interruption leaves a partial TSA that the next start
/// reports instead of silently replacing.
fn create(
    dir: &DataDir,
    organization: &str,
    now: OffsetDateTime,
) -> Result<TimestampAuthority, TsaSetupError> {
    let root_key: Arc<dyn CaSigner> = Arc::new(SoftwareKey::ephemeral()?);
    let leaf_key: Arc<dyn CaSigner> = Arc::new(SoftwareKey::create_file(&dir.tsa_key(), None)?);
    let (root_der, leaf_der) = certificates(&root_key, &leaf_key, organization, now)?;
    write_public(&dir.tsa_root_cert(), &root_der)?;
    write_public(&dir.tsa_cert(), &leaf_der)?;
    TimestampAuthority::new(leaf_key, vec![leaf_der, root_der])
}

/// The TSA root and certificate (DER), for `root_key` and `leaf_key`.
pub(crate) fn certificates(
    root_key: &Arc<dyn CaSigner>,
    leaf_key: &Arc<dyn CaSigner>,
    organization: &str,
    now: OffsetDateTime,
) -> Result<(Vec<u8>, Vec<u8>), TsaSetupError> {
    let now = now.replace_nanosecond(0).unwrap_or(now);
    let root_signer = RcgenSigner(root_key.clone());
    let mut root = params(organization, "mayfly-tsa-root", root_key.as_ref(), now);
    root.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    root.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let root_cert = root.self_signed(&root_signer)?;
    let issuer = Issuer::from_params(&root, &root_signer);
    let mut leaf = params(organization, "mayfly-tsa", leaf_key.as_ref(), now);
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.use_authority_key_identifier_extension = true;
    let mut eku =
        CustomExtension::from_oid_content(EXTENDED_KEY_USAGE, TIME_STAMPING_ONLY.to_vec());
    eku.set_criticality(true);
    leaf.custom_extensions = vec![eku];
    let leaf_cert = leaf.signed_by(&RcgenSigner(leaf_key.clone()), &issuer)?;
    Ok((root_cert.der().to_vec(), leaf_cert.der().to_vec()))
}

fn params(
    organization: &str,
    common_name: &str,
    key: &dyn CaSigner,
    now: OffsetDateTime,
) -> CertificateParams {
    crate::ca::chain::named_params(organization, common_name, key, now, now + TSA_VALIDITY)
}

/// A certificate as a new world-readable PEM file; never overwrites.
fn write_public(path: &Path, der: &[u8]) -> Result<(), TsaSetupError> {
    let io = |source| TsaSetupError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io)?;
    file.write_all(mayfly_spec::pem::encode("CERTIFICATE", der).as_bytes())
        .map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> (tempfile::TempDir, DataDir) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::new(tmp.path().join("data"));
        dir.create().unwrap();
        (tmp, dir)
    }

    #[test]
    fn creates_once_then_reloads_the_same_tsa() {
        let (_tmp, dir) = scratch();
        let (first, created) = open_or_create(&dir, "example.com").unwrap();
        assert!(created);
        let (again, created) = open_or_create(&dir, "example.com").unwrap();
        assert!(!created);
        assert_eq!(first.chain(), again.chain());
        assert_eq!(read_chain(&dir).unwrap().as_deref(), Some(first.chain()));
    }

    #[test]
    fn the_certificate_is_a_tsa_certificate_under_its_root() {
        let (_tmp, dir) = scratch();
        let (tsa, _) = open_or_create(&dir, "example.com").unwrap();
        let [leaf, root] = tsa.chain() else {
            panic!("leaf and root")
        };
        let (_, leaf) = X509Certificate::from_der(leaf).unwrap();
        let (_, root) = X509Certificate::from_der(root).unwrap();
        let eku = leaf.extended_key_usage().unwrap().unwrap();
        assert!(eku.critical, "RFC 3161 §2.3: the EKU must be critical");
        assert!(eku.value.time_stamping);
        assert!(!eku.value.code_signing && !eku.value.server_auth && eku.value.other.is_empty());
        let usage = leaf.key_usage().unwrap().unwrap();
        assert!(usage.value.digital_signature() && !usage.value.key_cert_sign());
        assert!(!leaf.is_ca());
        assert_eq!(leaf.issuer(), root.subject());
        leaf.verify_signature(Some(root.public_key())).unwrap();
        let v = leaf.validity();
        assert!(v.not_after.timestamp() - v.not_before.timestamp() >= 9 * 365 * 86_400);
    }

    #[test]
    fn a_partial_tsa_is_refused_not_replaced() {
        let (_tmp, dir) = scratch();
        open_or_create(&dir, "example.com").unwrap();
        std::fs::remove_file(dir.tsa_cert()).unwrap();
        let err = open_or_create(&dir, "example.com").unwrap_err().to_string();
        assert!(err.contains("only part of a TSA"), "{err}");
        assert!(err.contains("tsa.pem"), "{err}");
        assert!(dir.tsa_key().exists(), "the key is kept");
    }

    #[test]
    fn a_certificate_for_another_key_is_refused() {
        let (_tmp, dir) = scratch();
        open_or_create(&dir, "example.com").unwrap();
        let (_tmp2, other) = scratch();
        open_or_create(&other, "example.com").unwrap();
        std::fs::copy(other.tsa_cert(), dir.tsa_cert()).unwrap();
        let err = open_or_create(&dir, "example.com").unwrap_err().to_string();
        assert!(err.contains("does not certify the key"), "{err}");
    }
}

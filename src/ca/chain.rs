//! The CA's own certificates: a root and one online intermediate (reference/fulcio.md §2.5).
//!
//! - Root: self-issued, CA:TRUE (pathlen 1), KU keyCertSign + cRLSign, SKI, no EKU, 10 years.
//! - Intermediate: CA:TRUE pathlen 0, KU keyCertSign + cRLSign, **EKU codeSigning** (Fulcio and
//!   the clients chain EKUs, so a leaf's codeSigning must be allowed by its issuer), SKI, AKI =
//!   root SKI, valid until the root expires.
//!
//! On every start the stored chain is checked the way Fulcio checks its own: both signatures
//! verify, the intermediate is a CA allowed to issue code-signing certificates, and its public
//! key is the signer's. A mismatch refuses to start rather than issue unverifiable leaves.

use crate::ca::profile::key_identifier;
use crate::ca::signer::{CaSigner, RcgenSigner};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyIdMethod, KeyUsagePurpose, SerialNumber,
};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

/// How long a freshly created root (and so its intermediate) is valid.
pub(crate) const ROOT_VALIDITY: time::Duration = time::Duration::days(3650);

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("cannot build the CA certificate: {0}")]
    Build(#[from] rcgen::Error),
    #[error("{which} certificate is not valid PEM/DER X.509")]
    Unparseable { which: &'static str },
    #[error("CA chain check failed: {0}")]
    Invalid(String),
}

/// The root and intermediate, with what issuance needs precomputed.
#[derive(Debug, Clone)]
pub struct CaChain {
    root_der: Vec<u8>,
    intermediate_der: Vec<u8>,
    root_pem: String,
    intermediate_pem: String,
    intermediate_ski: Vec<u8>,
    issuer_key_hash: [u8; 32],
}

impl CaChain {
    /// Creates a new root and intermediate for CA generation `generation` (1 on a new
    /// instance). `organization` names the instance (its host), so two Mayfly CAs are told
    /// apart in `openssl x509 -text` and verifier errors; the generation number is in the
    /// common names after the first, so two generations are too.
    pub fn create(
        root_key: &Arc<dyn CaSigner>,
        intermediate_key: &Arc<dyn CaSigner>,
        organization: &str,
        generation: u32,
        now: OffsetDateTime,
    ) -> Result<Self, ChainError> {
        let now = now.replace_nanosecond(0).unwrap_or(now);
        let root_signer = RcgenSigner(root_key.clone());
        let mut root = ca_params(
            organization,
            &common_name("mayfly-root", generation),
            &root_signer,
            now,
        );
        root.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
        let root_cert = root.self_signed(&root_signer)?;
        let issuer = Issuer::from_params(&root, &root_signer);
        let intermediate = intermediate_params(
            organization,
            generation,
            intermediate_key,
            now,
            root.not_after,
        );
        let intermediate_cert =
            intermediate.signed_by(&RcgenSigner(intermediate_key.clone()), &issuer)?;
        Self::from_der(
            root_cert.der().to_vec(),
            intermediate_cert.der().to_vec(),
            intermediate_key.as_ref(),
        )
    }

    /// A new intermediate for CA generation `generation` under an existing root (`root_der`,
    /// signed with `root_key`), valid until the root expires.
    pub fn renew_intermediate(
        root_der: &[u8],
        root_key: &Arc<dyn CaSigner>,
        intermediate_key: &Arc<dyn CaSigner>,
        organization: &str,
        generation: u32,
        now: OffsetDateTime,
    ) -> Result<Self, ChainError> {
        let now = now.replace_nanosecond(0).unwrap_or(now);
        let root = parse(root_der, "root")?;
        if root.public_key().subject_public_key.data.as_ref() != root_key.public_key_raw() {
            return Err(ChainError::Invalid(
                "the root key does not match the root certificate".into(),
            ));
        }
        let root_not_after = root.validity().not_after.to_datetime();
        if root_not_after <= now {
            return Err(ChainError::Invalid(
                "the root has expired; rotate with a new root".into(),
            ));
        }
        let root_signer = RcgenSigner(root_key.clone());
        let issuer = Issuer::from_ca_cert_der(&root_der.into(), &root_signer)?;
        let intermediate = intermediate_params(
            organization,
            generation,
            intermediate_key,
            now,
            root_not_after,
        );
        let intermediate_cert =
            intermediate.signed_by(&RcgenSigner(intermediate_key.clone()), &issuer)?;
        Self::from_der(
            root_der.to_vec(),
            intermediate_cert.der().to_vec(),
            intermediate_key.as_ref(),
        )
    }

    /// Loads a stored chain (PEM) and checks it against the intermediate's signer.
    pub fn from_pem(
        root_pem: &str,
        intermediate_pem: &str,
        intermediate_key: &dyn CaSigner,
    ) -> Result<Self, ChainError> {
        let der = |pem: &str, which| {
            mayfly_spec::pem::decode_label(pem.as_bytes(), "CERTIFICATE")
                .map_err(|_| ChainError::Unparseable { which })
        };
        Self::from_der(
            der(root_pem, "root")?,
            der(intermediate_pem, "intermediate")?,
            intermediate_key,
        )
    }

    fn from_der(
        root_der: Vec<u8>,
        intermediate_der: Vec<u8>,
        intermediate_key: &dyn CaSigner,
    ) -> Result<Self, ChainError> {
        let intermediate_ski;
        let issuer_key_hash;
        {
            let root = parse(&root_der, "root")?;
            let intermediate = parse(&intermediate_der, "intermediate")?;
            check_chain(&root, &intermediate, intermediate_key)?;
            let spki = intermediate.tbs_certificate.subject_pki.raw;
            issuer_key_hash = Sha256::digest(spki).into();
            intermediate_ski = key_identifier(intermediate_key.public_key_raw());
        }
        Ok(CaChain {
            root_pem: mayfly_spec::pem::encode("CERTIFICATE", &root_der),
            intermediate_pem: mayfly_spec::pem::encode("CERTIFICATE", &intermediate_der),
            root_der,
            intermediate_der,
            intermediate_ski,
            issuer_key_hash,
        })
    }

    pub fn root_der(&self) -> &[u8] {
        &self.root_der
    }
    pub fn intermediate_der(&self) -> &[u8] {
        &self.intermediate_der
    }
    pub fn root_pem(&self) -> &str {
        &self.root_pem
    }
    pub fn intermediate_pem(&self) -> &str {
        &self.intermediate_pem
    }
    /// The intermediate's key identifier: every leaf's AKI.
    pub fn intermediate_ski(&self) -> &[u8] {
        &self.intermediate_ski
    }
    /// SHA-256 of the intermediate's DER SPKI: the RFC 6962 `issuer_key_hash` of every leaf.
    pub fn issuer_key_hash(&self) -> &[u8; 32] {
        &self.issuer_key_hash
    }
    /// The issuing CA's certificates, issuer first (a trust bundle chain, without the leaf).
    pub fn pems(&self) -> [&str; 2] {
        [&self.intermediate_pem, &self.root_pem]
    }
}

/// A CA certificate's common name: `base` for generation 1, `base-<n>` after.
fn common_name(base: &str, generation: u32) -> String {
    match generation {
        0 | 1 => base.to_owned(),
        n => format!("{base}-{n}"),
    }
}

fn intermediate_params(
    organization: &str,
    generation: u32,
    key: &Arc<dyn CaSigner>,
    now: OffsetDateTime,
    not_after: OffsetDateTime,
) -> CertificateParams {
    let mut params = ca_params(
        organization,
        &common_name("mayfly-intermediate", generation),
        &RcgenSigner(key.clone()),
        now,
    );
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
    params.use_authority_key_identifier_extension = true;
    params.not_after = not_after;
    params
}

fn ca_params(
    organization: &str,
    common_name: &str,
    key: &RcgenSigner,
    now: OffsetDateTime,
) -> CertificateParams {
    let mut params = named_params(
        organization,
        common_name,
        key.0.as_ref(),
        now,
        now + ROOT_VALIDITY,
    );
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

/// What every certificate Mayfly makes for itself starts from (the CA's and the TSA's): the
/// organization and common name, a random positive 159-bit serial, the validity, and the
/// subject key identifier of `key`.
pub(crate) fn named_params(
    organization: &str,
    common_name: &str,
    key: &dyn CaSigner,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, organization);
    name.push(DnType::CommonName, common_name);
    params.distinguished_name = name;
    let mut serial: [u8; 20] = rand::random();
    serial[0] &= 0x7F;
    serial[0] |= 0x01;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    params.not_before = not_before;
    params.not_after = not_after;
    params.key_identifier_method = KeyIdMethod::PreSpecified(key_identifier(key.public_key_raw()));
    params
}

fn parse<'a>(der: &'a [u8], which: &'static str) -> Result<X509Certificate<'a>, ChainError> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        _ => Err(ChainError::Unparseable { which }),
    }
}

fn check_chain(
    root: &X509Certificate,
    intermediate: &X509Certificate,
    intermediate_key: &dyn CaSigner,
) -> Result<(), ChainError> {
    let invalid = |what: &str| Err(ChainError::Invalid(what.to_owned()));
    if root.verify_signature(None).is_err() {
        return invalid("the root is not self-signed");
    }
    if intermediate
        .verify_signature(Some(root.public_key()))
        .is_err()
    {
        return invalid("the intermediate is not signed by the root");
    }
    if intermediate.issuer() != root.subject() {
        return invalid("the intermediate's issuer is not the root's subject");
    }
    if !is_ca(root) || !is_ca(intermediate) {
        return invalid("root and intermediate must both be CA certificates");
    }
    let code_signing = intermediate
        .extended_key_usage()
        .ok()
        .flatten()
        .is_some_and(|eku| eku.value.code_signing);
    if !code_signing {
        return invalid("the intermediate must allow EKU codeSigning");
    }
    if intermediate.public_key().subject_public_key.data.as_ref()
        != intermediate_key.public_key_raw()
    {
        return invalid("the intermediate certificate does not match the CA signing key");
    }
    Ok(())
}

fn is_ca(cert: &X509Certificate) -> bool {
    cert.basic_constraints()
        .ok()
        .flatten()
        .is_some_and(|bc| bc.value.ca)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::signer::SoftwareKey;

    fn key() -> Arc<dyn CaSigner> {
        Arc::new(SoftwareKey::ephemeral().unwrap())
    }

    #[test]
    fn a_renewed_intermediate_chains_to_the_same_root_under_its_own_name() {
        let (root_key, first_key, second_key) = (key(), key(), key());
        let now = OffsetDateTime::now_utc();
        let first = CaChain::create(&root_key, &first_key, "mayfly.test", 1, now).unwrap();
        let second = CaChain::renew_intermediate(
            first.root_der(),
            &root_key,
            &second_key,
            "mayfly.test",
            2,
            now,
        )
        .unwrap();
        assert_eq!(second.root_der(), first.root_der());
        assert_ne!(second.issuer_key_hash(), first.issuer_key_hash());
        let root = parse(second.root_der(), "root").unwrap();
        let intermediate = parse(second.intermediate_der(), "intermediate").unwrap();
        assert_eq!(intermediate.issuer().as_raw(), root.subject().as_raw());
        assert!(
            intermediate
                .subject()
                .to_string()
                .contains("mayfly-intermediate-2")
        );
        assert_eq!(
            intermediate.validity().not_after,
            root.validity().not_after,
            "an intermediate lives as long as its root"
        );
        // Signing with a key that is not the root's is refused before anything is built.
        let err = CaChain::renew_intermediate(
            first.root_der(),
            &first_key,
            &second_key,
            "mayfly.test",
            2,
            now,
        )
        .unwrap_err();
        assert!(err.to_string().contains("root key does not match"), "{err}");
    }

    #[test]
    fn created_chain_reloads_and_refuses_the_wrong_key() {
        let (root_key, intermediate_key) = (key(), key());
        let chain = CaChain::create(
            &root_key,
            &intermediate_key,
            "mayfly.test",
            1,
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        let again = CaChain::from_pem(
            chain.root_pem(),
            chain.intermediate_pem(),
            intermediate_key.as_ref(),
        )
        .unwrap();
        assert_eq!(again.intermediate_der(), chain.intermediate_der());
        assert_eq!(again.issuer_key_hash(), chain.issuer_key_hash());

        let err = CaChain::from_pem(chain.root_pem(), chain.intermediate_pem(), key().as_ref())
            .unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
        // Swapped root and intermediate: the "root" is not self-signed.
        let err = CaChain::from_pem(
            chain.intermediate_pem(),
            chain.root_pem(),
            intermediate_key.as_ref(),
        )
        .unwrap_err();
        assert!(matches!(err, ChainError::Invalid(_)), "{err}");
    }

    #[test]
    fn intermediate_has_the_required_constraints() {
        let chain =
            CaChain::create(&key(), &key(), "mayfly.test", 1, OffsetDateTime::now_utc()).unwrap();
        let root = parse(chain.root_der(), "root").unwrap();
        let intermediate = parse(chain.intermediate_der(), "intermediate").unwrap();
        let bc = intermediate.basic_constraints().unwrap().unwrap();
        assert!(bc.critical && bc.value.ca);
        assert_eq!(bc.value.path_len_constraint, Some(0));
        let ku = intermediate.key_usage().unwrap().unwrap();
        assert!(ku.critical && ku.value.key_cert_sign() && ku.value.crl_sign());
        assert!(!ku.value.digital_signature());
        assert!(root.extended_key_usage().unwrap().is_none());
        let aki = intermediate
            .get_extension_unique(&x509_parser::oid_registry::OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER)
            .unwrap()
            .unwrap();
        let root_ski = key_identifier(&root.public_key().subject_public_key.data);
        assert!(aki.value.ends_with(&root_ski));
        assert_eq!(intermediate.validity().not_after, root.validity().not_after);
        let years = (root.validity().not_after.timestamp()
            - root.validity().not_before.timestamp())
            / (365 * 86400);
        assert_eq!(years, 10);
    }
}

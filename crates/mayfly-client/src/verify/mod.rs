//! `mayfly verify`: offline verification of a Sigstore bundle against a trusted root.
//!
//! [`verify_bundle`] runs every check that sigstore-js `@sigstore/verify` and sigstore-python
//! run on a keyless bundle (rekor-bundle-npm.md §7), failing closed at the first failure, in
//! this order (each step only relies on facts established by the steps before it):
//!
//! 1. [`bundle`]: media type v0.1/v0.2/v0.3, certificate form (or a `publicKey` hint for
//!    [`verify_bundle_with_key`]), exactly one tlog entry of kind hashedrekord or dsse 0.0.1
//!    (Rekor v1) or 0.0.2 (Rekor v2), or intoto 0.0.2, promise/proof per version.
//! 2. [`timestamp`]: every RFC 3161 timestamp in `timestampVerificationData` verifies (imprint
//!    over the signature, signed by a trusted TSA valid at its time); none may be skipped.
//! 3. [`tlog`]: the log (by `logId`, key valid at the signing time), the SET over the JCS
//!    payload, the checkpoint signature and the inclusion proof; at least one of SET and proof.
//!    The signing times are `integratedTime` if (and only if) a SET signed it, and the time of
//!    each verified timestamp; a bundle with none is refused.
//! 4. [`chain`]: at *every* signing time, the path to a trusted CA valid at that time and every
//!    certificate valid at it (so no timestamp may fall outside the leaf's validity); leaf
//!    KU/EKU.
//! 5. [`sct`]: exactly one embedded SCT, verified under a trusted CT log.
//! 6. [`body`]: the logged body describes this bundle's signature, digest or payload, and key.
//! 7. [`signature`]: the artifact matches and the signature verifies with the leaf key.
//! 8. [`identity`]: the SAN and issuer satisfy the policy.
//!
//! With a managed key ([`verify_bundle_with_key`]) steps 4, 5 and 8 do not apply: the key is
//! the user's to trust; the body must name it and the signature verify under it.
//!
//! [`verify_npm`] adds what `npm audit signatures` and the npm registry check ([`npm`]).
//!
//! No I/O: callers pass bytes. Bundle bytes are attacker-controlled; nothing here panics on
//! them.

mod body;
mod chain;
mod error;
pub(crate) mod identity;
mod keys;
mod npm;
mod sct;
mod signature;
mod timestamp;
pub(crate) mod tlog;

pub use error::VerifyError;

use keys::SignerKey;
pub use mayfly_spec::fulcio::ExtensionField;
use mayfly_spec::sigstore::bundle::{self, Content, Signer};
use mayfly_spec::sigstore::trusted_root::TrustedRoot;

/// How the certificate's SAN must look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityMatcher {
    /// The SAN, exactly.
    Exact(String),
    /// A regular expression (`regex` crate syntax) that must match the whole SAN.
    Regex(String),
}

/// Whose signature is acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub identity: IdentityMatcher,
    /// The OIDC issuer, exactly (certificate extension 1.3.6.1.4.1.57264.1.8, else .1.1).
    pub issuer: String,
}

/// Digest algorithms an artifact may be given by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgorithm {
    Sha256,
    Sha384,
    Sha512,
}

/// What was signed. Required for message signatures; for DSSE bundles optional, and if given
/// an in-toto statement subject must carry its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Artifact {
    Bytes(Vec<u8>),
    Digest {
        algorithm: HashAlgorithm,
        digest: Vec<u8>,
    },
}

/// The facts of a verified bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// `hashedrekord`, `dsse` or `intoto`.
    pub kind: String,
    pub san: String,
    pub issuer: String,
    /// Every Fulcio extension (OID 1.3.6.1.4.1.57264.1.x) of the leaf as (last arc, value),
    /// decoded, in certificate order.
    pub extensions: Vec<(u32, String)>,
    pub log_index: u64,
    /// The first verified signing time, Unix seconds: integratedTime when a SET signs it, else
    /// the first RFC 3161 timestamp's genTime (a Rekor v2 entry's only time).
    pub integrated_time: i64,
    /// The in-toto statement of a DSSE bundle.
    pub statement: Option<serde_json::Value>,
    /// For a bundle signed with a managed key (`--key`), that key's DER SubjectPublicKeyInfo;
    /// `san`, `issuer` and `extensions` are then empty.
    pub public_key: Option<Vec<u8>>,
}

impl Verified {
    /// The value of a Fulcio CI extension, if present.
    pub fn extension(&self, field: ExtensionField) -> Option<&str> {
        self.extensions
            .iter()
            .find(|(arc, _)| *arc == field.oid_arc())
            .map(|(_, v)| v.as_str())
    }
}

/// Verifies a bundle for `policy`; see the module docs for the checks and their order.
pub fn verify_bundle(
    bundle_json: &[u8],
    artifact: Option<&Artifact>,
    trusted_root_json: &[u8],
    policy: &Policy,
) -> Result<Verified, VerifyError> {
    verify(
        bundle_json,
        artifact,
        trusted_root_json,
        Trust::Keyless(Some(policy)),
    )
}

/// Verifies a bundle signed with a long-lived key (cosign `--key`, `publicKey` verification
/// material) under `public_key_pem` (a PEM `PUBLIC KEY`): the tlog and timestamp checks as for
/// a keyless bundle, then the logged key and the signature under the given key. There is no
/// certificate, so no chain, SCT or identity.
pub fn verify_bundle_with_key(
    bundle_json: &[u8],
    artifact: Option<&Artifact>,
    trusted_root_json: &[u8],
    public_key_pem: &[u8],
) -> Result<Verified, VerifyError> {
    let spki = keys::parse_public_key_pem(public_key_pem)?;
    verify(bundle_json, artifact, trusted_root_json, Trust::Key(&spki))
}

/// What vouches for the signer.
#[derive(Clone, Copy)]
enum Trust<'a> {
    /// A Fulcio certificate chaining to the trusted root, optionally matched to a policy.
    Keyless(Option<&'a Policy>),
    /// This DER SubjectPublicKeyInfo, given by the user.
    Key(&'a [u8]),
}

/// `mayfly verify npm <tarball> <bundle>`: an npm provenance bundle for this tarball. The
/// identity policy is optional, as in `npm audit signatures` (the registry's publisher checks
/// run regardless; see [`npm`]).
pub fn verify_npm(
    tarball: &[u8],
    bundle_json: &[u8],
    trusted_root_json: &[u8],
    policy: Option<&Policy>,
) -> Result<Verified, VerifyError> {
    let package = npm::read_package(tarball)?;
    // The statement subject is checked after the signatures: before that it is unauthenticated.
    let verified = verify(bundle_json, None, trusted_root_json, Trust::Keyless(policy))?;
    npm::check_provenance(&package, tarball, &verified)?;
    Ok(verified)
}

fn verify(
    bundle_json: &[u8],
    artifact: Option<&Artifact>,
    trusted_root_json: &[u8],
    trust: Trust<'_>,
) -> Result<Verified, VerifyError> {
    let bundle = bundle::parse(bundle_json)?;
    let root = TrustedRoot::parse(trusted_root_json)?;
    let entry = &bundle.entry;
    let signature = match &bundle.content {
        Content::Message { signature, .. } | Content::Dsse { signature, .. } => signature,
    };
    // Every timestamp is a time the signature is claimed to have existed at; each must verify
    // (an unverifiable one is a rejection, never a skip), and the certificate must be valid at
    // each (below).
    let stamped =
        timestamp::verify_timestamps(&bundle.timestamps, signature, &root.timestamp_authorities)?;

    if entry.set.is_none() && entry.proof.is_none() {
        return Err(VerifyError::Bundle(
            "the tlog entry has neither an inclusion promise nor an inclusion proof".into(),
        ));
    }
    // integratedTime is authenticated only by a SET; without one (a Rekor v2 entry, or a v1
    // entry with a proof only) the times are the timestamps' alone.
    let mut times: Vec<i64> = Vec::new();
    if entry.set.is_some() {
        times.push(entry.integrated_time);
    }
    times.extend(stamped.iter().flat_map(|t| t.bounds()));
    let Some(&first_time) = times.first() else {
        return Err(VerifyError::Time(
            "no verified time: the tlog entry has no signed entry timestamp and the bundle no \
             RFC 3161 timestamp"
                .into(),
        ));
    };
    let log = tlog::select_log(&root.tlogs, entry, first_time)?;
    if let Some(set) = &entry.set {
        tlog::verify_set(log, entry, set)?;
    }
    if let Some(proof) = &entry.proof {
        tlog::verify_proof(log, entry, proof)?;
    }

    // Keyless: the certificate at every signing time, its SCT, and (last) the identity.
    // Managed key: the key was given by the user, so there is no chain, SCT or identity.
    let (signer, who) = match (&bundle.signer, trust) {
        (Signer::Certificate(leaf_der), Trust::Keyless(policy)) => {
            let who = check_certificate(leaf_der, &root, &times)?;
            (SignerKey::Certificate(leaf_der), Some((who, policy)))
        }
        (Signer::PublicKey { .. }, Trust::Key(spki)) => (SignerKey::PublicKey(spki), None),
        (Signer::Certificate(_), Trust::Key(_)) => {
            return Err(VerifyError::Bundle(
                "the bundle is signed with a certificate, not a managed key: verify it with an \
                 identity policy instead of a public key"
                    .into(),
            ));
        }
        (Signer::PublicKey { hint }, Trust::Keyless(_)) => {
            return Err(VerifyError::Bundle(format!(
                "the bundle is signed with a managed key (hint {}), not a certificate: verify it \
                 with that public key",
                hint.as_deref().unwrap_or("none")
            )));
        }
    };

    let logged_digest = body::check_body(entry, &bundle.content, signer)?;
    let statement = match (&bundle.content, logged_digest) {
        (Content::Message { signature, .. }, Some(digest)) => {
            signature::verify_message(signer, &digest, signature, artifact)?;
            None
        }
        (
            Content::Dsse {
                payload_type,
                payload,
                signature,
            },
            None,
        ) => signature::verify_dsse(signer, payload_type, payload, signature, artifact)?,
        _ => return Err(VerifyError::Body("content and entry kind disagree".into())),
    };

    let who = match who {
        Some((who, policy)) => {
            if let Some(policy) = policy {
                identity::check_policy(&who, policy)?;
            }
            who
        }
        None => identity::Identity::default(),
    };
    let public_key = match signer {
        SignerKey::PublicKey(spki) => Some(spki.to_vec()),
        SignerKey::Certificate(_) => None,
    };
    Ok(Verified {
        kind: entry.kind.clone(),
        san: who.san,
        issuer: who.issuer,
        extensions: who.extensions,
        log_index: entry.log_index,
        integrated_time: first_time,
        statement,
        public_key,
    })
}

/// The leaf and its chain at every signing time, leaf usage, the SCT; returns the identity.
fn check_certificate(
    leaf_der: &[u8],
    root: &TrustedRoot,
    times: &[i64],
) -> Result<identity::Identity, VerifyError> {
    let leaf = chain::parse_cert(leaf_der)?;
    let mut issuer_der = None;
    for &time in times {
        let issuer = chain::verify_path(&leaf, &root.authorities, time)?;
        chain::check_cert_time(&leaf, time)?;
        issuer_der.get_or_insert(issuer);
    }
    let issuer_der =
        issuer_der.ok_or_else(|| VerifyError::Time("no signing time to check at".into()))?;
    chain::check_leaf_usage(&leaf)?;
    let issuer = chain::parse_cert(issuer_der)?;
    sct::verify_embedded_sct(leaf_der, &leaf, issuer.public_key().raw, &root.ctlogs)?;
    identity::read_identity(leaf_der)
}

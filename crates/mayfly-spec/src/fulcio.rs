//! The Fulcio-specific X.509 extensions (`1.3.6.1.4.1.57264.1.*`) of a leaf certificate: the one
//! table of their OIDs and names, and their encoding and decoding.
//!
//! Verifiers (cosign, sigstore-go, sigstore-python, npm's registry) read these extensions byte for
//! byte, so the encoding must match production Fulcio exactly:
//! - `.1` (issuer, deprecated) and the deprecated GitHub arcs `.2`–`.6` carry the **raw UTF-8
//!   bytes** of the value as the extension's `extnValue` contents, with no DER wrapper. This is a
//!   historical Fulcio quirk that every verifier now depends on.
//! - `.8` and later carry a DER `UTF8String` (tag `0x0C`).
//! - Every one of them is non-critical, values that are empty are left out, and they appear in
//!   ascending OID order (the order Fulcio's `Extensions.Render` produces, which real leaves show).
//!
//! Pure code: it produces `(OID, extnValue contents)` pairs and reads them back; assembling and
//! signing the certificate happens elsewhere.

use std::collections::BTreeMap;

use crate::der;

/// The arcs of `1.3.6.1.4.1.57264.1`, Fulcio's private extension arc (Sigstore's PEN 57264).
pub const FULCIO_OID_PREFIX: [u64; 8] = [1, 3, 6, 1, 4, 1, 57264, 1];

/// `.1`: the OIDC issuer, raw bytes (deprecated, but still emitted and still read by old clients).
pub const ISSUER_LEGACY_ARC: u32 = 1;
/// `.8`: the OIDC issuer as a DER `UTF8String`.
pub const ISSUER_V2_ARC: u32 = 8;
/// `.24`: the token's raw `sub` claim as a DER `UTF8String` (Fulcio ≥ 1.8.6).
pub const TOKEN_SUBJECT_ARC: u32 = 24;

/// `.7`: the otherName type of a username SAN (`username!issuer-host`), Fulcio's `OIDOtherName`.
pub const OTHER_NAME_ARC: u32 = 7;

/// The OID of the otherName SAN type for usernames, `1.3.6.1.4.1.57264.1.7`.
pub const OTHER_NAME_OID: [u64; 9] = [1, 3, 6, 1, 4, 1, 57264, 1, 7];

/// The largest arc whose value is raw bytes rather than a DER `UTF8String` (`.1`–`.6`; `.7` never
/// appears as an extension of its own, it only names the username otherName inside the SAN).
const LAST_RAW_ARC: u32 = 6;

/// DER universal tag of `UTF8String`.
const UTF8_STRING_TAG: u8 = 0x0C;

/// Fields of Fulcio's `certificate.Extensions` that `ExtensionTemplates` may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExtensionField {
    /// .2
    GithubWorkflowTrigger,
    /// .3
    GithubWorkflowSha,
    /// .4
    GithubWorkflowName,
    /// .5
    GithubWorkflowRepository,
    /// .6
    GithubWorkflowRef,
    /// .9
    BuildSignerUri,
    /// .10
    BuildSignerDigest,
    /// .11
    RunnerEnvironment,
    /// .12
    SourceRepositoryUri,
    /// .13
    SourceRepositoryDigest,
    /// .14
    SourceRepositoryRef,
    /// .15
    SourceRepositoryIdentifier,
    /// .16
    SourceRepositoryOwnerUri,
    /// .17
    SourceRepositoryOwnerIdentifier,
    /// .18
    BuildConfigUri,
    /// .19
    BuildConfigDigest,
    /// .20
    BuildTrigger,
    /// .21
    RunInvocationUri,
    /// .22
    SourceRepositoryVisibilityAtSigning,
    /// .23
    DeploymentEnvironment,
}

impl ExtensionField {
    /// All fields, in OID order (the order the variants are declared and sort in).
    pub const ALL: [ExtensionField; 20] = [
        ExtensionField::GithubWorkflowTrigger,
        ExtensionField::GithubWorkflowSha,
        ExtensionField::GithubWorkflowName,
        ExtensionField::GithubWorkflowRepository,
        ExtensionField::GithubWorkflowRef,
        ExtensionField::BuildSignerUri,
        ExtensionField::BuildSignerDigest,
        ExtensionField::RunnerEnvironment,
        ExtensionField::SourceRepositoryUri,
        ExtensionField::SourceRepositoryDigest,
        ExtensionField::SourceRepositoryRef,
        ExtensionField::SourceRepositoryIdentifier,
        ExtensionField::SourceRepositoryOwnerUri,
        ExtensionField::SourceRepositoryOwnerIdentifier,
        ExtensionField::BuildConfigUri,
        ExtensionField::BuildConfigDigest,
        ExtensionField::BuildTrigger,
        ExtensionField::RunInvocationUri,
        ExtensionField::SourceRepositoryVisibilityAtSigning,
        ExtensionField::DeploymentEnvironment,
    ];

    /// Fulcio's JSON field name.
    pub fn json_name(self) -> &'static str {
        match self {
            ExtensionField::GithubWorkflowTrigger => "GithubWorkflowTrigger",
            ExtensionField::GithubWorkflowSha => "GithubWorkflowSHA",
            ExtensionField::GithubWorkflowName => "GithubWorkflowName",
            ExtensionField::GithubWorkflowRepository => "GithubWorkflowRepository",
            ExtensionField::GithubWorkflowRef => "GithubWorkflowRef",
            ExtensionField::BuildSignerUri => "BuildSignerURI",
            ExtensionField::BuildSignerDigest => "BuildSignerDigest",
            ExtensionField::RunnerEnvironment => "RunnerEnvironment",
            ExtensionField::SourceRepositoryUri => "SourceRepositoryURI",
            ExtensionField::SourceRepositoryDigest => "SourceRepositoryDigest",
            ExtensionField::SourceRepositoryRef => "SourceRepositoryRef",
            ExtensionField::SourceRepositoryIdentifier => "SourceRepositoryIdentifier",
            ExtensionField::SourceRepositoryOwnerUri => "SourceRepositoryOwnerURI",
            ExtensionField::SourceRepositoryOwnerIdentifier => "SourceRepositoryOwnerIdentifier",
            ExtensionField::BuildConfigUri => "BuildConfigURI",
            ExtensionField::BuildConfigDigest => "BuildConfigDigest",
            ExtensionField::BuildTrigger => "BuildTrigger",
            ExtensionField::RunInvocationUri => "RunInvocationURI",
            ExtensionField::SourceRepositoryVisibilityAtSigning => {
                "SourceRepositoryVisibilityAtSigning"
            }
            ExtensionField::DeploymentEnvironment => "DeploymentEnvironment",
        }
    }

    /// The field carried at arc `arc`.
    pub fn from_arc(arc: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.oid_arc() == arc)
    }

    /// The last arc of the OID `1.3.6.1.4.1.57264.1.x`.
    pub fn oid_arc(self) -> u32 {
        match self {
            ExtensionField::GithubWorkflowTrigger => 2,
            ExtensionField::GithubWorkflowSha => 3,
            ExtensionField::GithubWorkflowName => 4,
            ExtensionField::GithubWorkflowRepository => 5,
            ExtensionField::GithubWorkflowRef => 6,
            ExtensionField::BuildSignerUri => 9,
            ExtensionField::BuildSignerDigest => 10,
            ExtensionField::RunnerEnvironment => 11,
            ExtensionField::SourceRepositoryUri => 12,
            ExtensionField::SourceRepositoryDigest => 13,
            ExtensionField::SourceRepositoryRef => 14,
            ExtensionField::SourceRepositoryIdentifier => 15,
            ExtensionField::SourceRepositoryOwnerUri => 16,
            ExtensionField::SourceRepositoryOwnerIdentifier => 17,
            ExtensionField::BuildConfigUri => 18,
            ExtensionField::BuildConfigDigest => 19,
            ExtensionField::BuildTrigger => 20,
            ExtensionField::RunInvocationUri => 21,
            ExtensionField::SourceRepositoryVisibilityAtSigning => 22,
            ExtensionField::DeploymentEnvironment => 23,
        }
    }
}

/// One Fulcio extension, ready to be placed in a certificate's `Extensions` sequence.
///
/// Always non-critical (see [`FulcioExtension::CRITICAL`]); the certificate builder writes the
/// `critical` field accordingly (i.e. omits it, DER's default for `FALSE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FulcioExtension {
    /// The full OID as arcs, e.g. `[1, 3, 6, 1, 4, 1, 57264, 1, 8]`: always the prefix and one
    /// arc, so it is held inline rather than allocated for each of a leaf's extensions.
    pub oid: [u64; FULCIO_OID_PREFIX.len() + 1],
    /// The contents of `extnValue` (the bytes inside the OCTET STRING): raw UTF-8 for `.1`–`.6`,
    /// the DER encoding of a `UTF8String` for the rest.
    pub value: Vec<u8>,
}

impl FulcioExtension {
    /// Fulcio marks none of its own extensions critical (fulcio.md §2.3); a verifier that did not
    /// know them would otherwise have to reject the certificate.
    pub const CRITICAL: bool = false;

    /// An extension under [`FULCIO_OID_PREFIX`] with the given last arc.
    fn new(arc: u32, value: Vec<u8>) -> Self {
        let mut oid = [u64::from(arc); FULCIO_OID_PREFIX.len() + 1];
        oid[..FULCIO_OID_PREFIX.len()].copy_from_slice(&FULCIO_OID_PREFIX);
        FulcioExtension { oid, value }
    }

    /// The DER encoding (tag, length and contents) of [`FulcioExtension::oid`], for the
    /// `extnID` field.
    pub fn oid_der(&self) -> Vec<u8> {
        // The prefix is a valid OID and one more arc keeps it valid, so this never fails; an
        // empty result would make the certificate unparseable, never silently different.
        der::oid(&self.oid).unwrap_or_default()
    }
}

/// The Fulcio extensions for an identity with no token-subject extension (`.24`): see
/// [`fulcio_extensions_with_subject`].
pub fn fulcio_extensions(
    issuer_url: &str,
    rendered: &[(ExtensionField, String)],
) -> Vec<FulcioExtension> {
    fulcio_extensions_with_subject(issuer_url, "", rendered)
}

/// The Fulcio extensions for one identity, sorted by OID.
///
/// - `issuer_url` goes in both `.1` (raw) and `.8` (`UTF8String`). Fulcio refuses to issue with
///   an empty issuer; this function cannot fail, so the caller must have rejected that already
///   (a verified token always has a non-empty `iss`). An empty issuer is simply left out here.
/// - `subject` is the token's raw `sub`, put in `.24`; pass `""` to omit it (certificates issued
///   before Fulcio 1.8.6 have no `.24`).
/// - `rendered` holds the CI values (for a `ci-provider` issuer, the server's rendered CI templates's
///   `extensions`). Each field goes to its own arc via [`ExtensionField::oid_arc`]; the
///   deprecated GitHub fields (`.2`–`.6`) are raw bytes and are emitted exactly when the
///   provider's templates set them (Fulcio's GitHub configuration does; other providers don't),
///   everything else is a `UTF8String`. If a field appears twice the later value wins, as
///   assigning the same Go struct field twice would.
///
/// Empty values are omitted everywhere, as Fulcio's `Extensions.Render` does.
pub fn fulcio_extensions_with_subject(
    issuer_url: &str,
    subject: &str,
    rendered: &[(ExtensionField, String)],
) -> Vec<FulcioExtension> {
    // Keyed by arc so the output is in OID order whatever order `rendered` came in; all arcs
    // share the same prefix, so ordering by the last arc is ordering by the whole OID.
    let mut by_arc: BTreeMap<u32, &str> = BTreeMap::new();
    by_arc.insert(ISSUER_LEGACY_ARC, issuer_url);
    by_arc.insert(ISSUER_V2_ARC, issuer_url);
    by_arc.insert(TOKEN_SUBJECT_ARC, subject);
    for (field, value) in rendered {
        by_arc.insert(field.oid_arc(), value.as_str());
    }
    by_arc
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(arc, value)| {
            let bytes = if arc <= LAST_RAW_ARC {
                value.as_bytes().to_vec()
            } else {
                der_utf8_string(value)
            };
            FulcioExtension::new(arc, bytes)
        })
        .collect()
}

/// DER `UTF8String`: tag `0x0C`, definite length, then the UTF-8 bytes.
pub fn der_utf8_string(value: &str) -> Vec<u8> {
    der::tlv(UTF8_STRING_TAG, value.as_bytes())
}

/// The value of a Fulcio extension as its `extnValue` contents carry it: raw UTF-8 for
/// `.1`–`.6`, a DER `UTF8String` for the rest. `None` if the bytes are neither what Fulcio
/// writes for that arc nor valid UTF-8.
pub fn decode_value(arc: u32, extn_value: &[u8]) -> Option<&str> {
    if arc <= LAST_RAW_ARC {
        return std::str::from_utf8(extn_value).ok();
    }
    let content = der::read_single(extn_value, UTF8_STRING_TAG, "UTF8String").ok()?;
    std::str::from_utf8(content).ok()
}

/// The content octets of [`FULCIO_OID_PREFIX`]'s encoding, which begin every Fulcio
/// extension's OID.
const FULCIO_OID_PREFIX_CONTENT: [u8; 9] = [0x2B, 0x06, 0x01, 0x04, 0x01, 0x83, 0xBF, 0x30, 0x01];

/// The last arc of an OID given as its DER content octets (what x509-parser's `Oid::as_bytes`
/// returns) if it is a Fulcio extension (`1.3.6.1.4.1.57264.1.x`). Read from the bytes, so an
/// indexer walking every extension of every certificate decodes no other OID.
pub fn fulcio_arc(oid_content: &[u8]) -> Option<u32> {
    let arc = oid_content.strip_prefix(&FULCIO_OID_PREFIX_CONTENT)?;
    // Exactly one subidentifier, minimally encoded: every group but the last has the high bit
    // set, and the first group is not an empty 0x80.
    let (last, leading) = arc.split_last()?;
    if last & 0x80 != 0 || leading.first() == Some(&0x80) || leading.iter().any(|g| g & 0x80 == 0) {
        return None;
    }
    arc.iter().try_fold(0u32, |value, group| {
        value.checked_mul(128)?.checked_add(u32::from(group & 0x7F))
    })
}

/// A readable name for a Fulcio extension arc (Fulcio's JSON field names, plus the issuer
/// arcs), for verifiers and auditors.
pub fn arc_name(arc: u32) -> Option<&'static str> {
    match arc {
        ISSUER_LEGACY_ARC => Some("Issuer"),
        ISSUER_V2_ARC => Some("IssuerV2"),
        TOKEN_SUBJECT_ARC => Some("TokenSubject"),
        _ => ExtensionField::from_arc(arc).map(ExtensionField::json_name),
    }
}

/// A title for a Fulcio extension arc, for people reading a certificate (the demo, the
/// explorer).
pub fn arc_title(arc: u32) -> Option<&'static str> {
    Some(match arc {
        1 => "Issuer (deprecated)",
        2 => "GitHub Workflow Trigger (deprecated)",
        3 => "GitHub Workflow SHA (deprecated)",
        4 => "GitHub Workflow Name (deprecated)",
        5 => "GitHub Workflow Repository (deprecated)",
        6 => "GitHub Workflow Ref (deprecated)",
        8 => "Issuer",
        9 => "Build Signer URI",
        10 => "Build Signer Digest",
        11 => "Runner Environment",
        12 => "Source Repository URI",
        13 => "Source Repository Digest",
        14 => "Source Repository Ref",
        15 => "Source Repository Identifier",
        16 => "Source Repository Owner URI",
        17 => "Source Repository Owner Identifier",
        18 => "Build Config URI",
        19 => "Build Config Digest",
        20 => "Build Trigger",
        21 => "Run Invocation URI",
        22 => "Source Repository Visibility",
        23 => "Deployment Environment",
        24 => "Token Subject",
        _ => return None,
    })
}

#[cfg(test)]
mod tests;

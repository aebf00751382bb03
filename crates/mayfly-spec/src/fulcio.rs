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
    /// The full OID as arcs, e.g. `[1, 3, 6, 1, 4, 1, 57264, 1, 8]`.
    pub oid: Vec<u64>,
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
        let mut oid = FULCIO_OID_PREFIX.to_vec();
        oid.push(u64::from(arc));
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

/// The last arc of `oid` if it is a Fulcio extension (`1.3.6.1.4.1.57264.1.x`).
pub fn fulcio_arc(oid: &[u64]) -> Option<u32> {
    match oid.split_at_checked(FULCIO_OID_PREFIX.len())? {
        (prefix, [arc]) if prefix == FULCIO_OID_PREFIX => u32::try_from(*arc).ok(),
        _ => None,
    }
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
mod tests {
    use super::*;
    use base64::Engine as _;
    use std::error::Error;
    use x509_parser::prelude::{FromDer as _, X509Certificate};

    type TestResult = Result<(), Box<dyn Error>>;

    /// The repository's copy of the real Sigstore data (tests/vectors/README.md).
    const VECTORS: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/vectors/sigstore-public"
    );

    #[test]
    fn utf8_string_length_forms() {
        // (content length, expected header) — the boundaries between DER length forms.
        let cases: [(usize, &[u8]); 6] = [
            (0, &[0x0C, 0x00]),
            (127, &[0x0C, 0x7F]),
            (128, &[0x0C, 0x81, 0x80]),
            (255, &[0x0C, 0x81, 0xFF]),
            (256, &[0x0C, 0x82, 0x01, 0x00]),
            (65536, &[0x0C, 0x83, 0x01, 0x00, 0x00]),
        ];
        for (len, header) in cases {
            let value = "a".repeat(len);
            let der = der_utf8_string(&value);
            assert_eq!(&der[..header.len()], header, "header for length {len}");
            assert_eq!(
                &der[header.len()..],
                value.as_bytes(),
                "body for length {len}"
            );
        }
    }

    #[test]
    fn utf8_string_length_counts_bytes_not_chars() {
        // 64 two-byte characters = 128 bytes, so the long form is needed.
        let value = "é".repeat(64);
        assert_eq!(&der_utf8_string(&value)[..3], &[0x0C, 0x81, 0x80]);
    }

    #[test]
    fn oid_der_matches_known_encoding() {
        let ext = FulcioExtension::new(24, Vec::new());
        // 1.3.6.1.4.1.57264.1.24 as it appears in Fulcio certificates.
        assert_eq!(
            ext.oid_der(),
            [
                0x06, 0x0A, 0x2B, 0x06, 0x01, 0x04, 0x01, 0x83, 0xBF, 0x30, 0x01, 0x18
            ]
        );
    }

    #[test]
    fn email_identity_gets_issuer_and_subject_only() {
        let exts = fulcio_extensions_with_subject("https://accounts.example", "1234", &[]);
        let arcs: Vec<u64> = exts.iter().filter_map(|e| e.oid.last().copied()).collect();
        assert_eq!(arcs, [1, 8, 24]);
        assert_eq!(exts[0].value, b"https://accounts.example");
        assert_eq!(exts[1].value, der_utf8_string("https://accounts.example"));
        assert_eq!(exts[2].value, der_utf8_string("1234"));
    }

    #[test]
    fn empty_values_are_omitted_and_output_is_sorted() {
        let rendered = vec![
            (
                ExtensionField::SourceRepositoryVisibilityAtSigning,
                "public".to_owned(),
            ),
            (ExtensionField::DeploymentEnvironment, String::new()),
            (ExtensionField::GithubWorkflowSha, "abc".to_owned()),
            (ExtensionField::BuildSignerUri, "https://b".to_owned()),
        ];
        let exts = fulcio_extensions("https://iss", &rendered);
        let arcs: Vec<u64> = exts.iter().filter_map(|e| e.oid.last().copied()).collect();
        assert_eq!(arcs, [1, 3, 8, 9, 22]);
        // .3 is a legacy arc: raw bytes.
        assert_eq!(exts[1].value, b"abc");
        assert!(exts.iter().all(|e| e.oid.starts_with(&FULCIO_OID_PREFIX)));
        assert!(fulcio_extensions("", &[]).is_empty());
    }

    /// The leaf certificate (DER) of a public-good Sigstore bundle.
    fn leaf_der(bundle_file: &str) -> Result<Vec<u8>, Box<dyn Error>> {
        let text = std::fs::read_to_string(format!("{VECTORS}/{bundle_file}"))?;
        let bundle: serde_json::Value = serde_json::from_str(&text)?;
        let raw = bundle
            .pointer("/verificationMaterial/certificate/rawBytes")
            .or_else(|| {
                bundle.pointer("/verificationMaterial/x509CertificateChain/certificates/0/rawBytes")
            })
            .and_then(|v| v.as_str())
            .ok_or("bundle has no leaf certificate")?;
        Ok(base64::engine::general_purpose::STANDARD.decode(raw)?)
    }

    /// Decodes a DER `UTF8String` with x509-parser's own DER parser, so the test does not check
    /// our encoder against itself.
    fn decode_utf8_string(der: &[u8]) -> Result<String, Box<dyn Error>> {
        let (rest, obj) = x509_parser::der_parser::der::parse_der_utf8string(der)
            .map_err(|e| format!("not a UTF8String: {e}"))?;
        if !rest.is_empty() {
            return Err("trailing bytes after UTF8String".into());
        }
        Ok(obj.as_str()?.to_owned())
    }

    /// Reads the Fulcio extensions of a real leaf, reconstructs the claims they encode, and checks
    /// that [`fulcio_extensions_with_subject`] reproduces them exactly: same OIDs, same order,
    /// same bytes, all non-critical.
    fn roundtrip_real_leaf(bundle_file: &str, expected_arcs: &[u64]) -> TestResult {
        let der = leaf_der(bundle_file)?;
        let (_, cert) = X509Certificate::from_der(&der).map_err(|e| format!("parse: {e}"))?;

        let mut real: Vec<(Vec<u64>, bool, Vec<u8>)> = Vec::new();
        let mut real_oid_der: Vec<Vec<u8>> = Vec::new();
        for ext in cert.extensions() {
            let arcs: Vec<u64> = ext
                .oid
                .iter()
                .ok_or("OID arc does not fit in u64")?
                .collect();
            if arcs.len() == FULCIO_OID_PREFIX.len() + 1 && arcs.starts_with(&FULCIO_OID_PREFIX) {
                real_oid_der.push(ext.oid.as_bytes().to_vec());
                real.push((arcs, ext.critical, ext.value.to_vec()));
            }
        }
        let real_arcs: Vec<u64> = real
            .iter()
            .filter_map(|(o, _, _)| o.last().copied())
            .collect();
        assert_eq!(
            real_arcs, expected_arcs,
            "{bundle_file}: unexpected Fulcio arcs"
        );

        // Reconstruct the identity from the certificate.
        let mut issuer = String::new();
        let mut subject = String::new();
        let mut rendered: Vec<(ExtensionField, String)> = Vec::new();
        for (oid, _, value) in &real {
            let arc = oid.last().copied().ok_or("empty OID")?;
            match arc {
                1 => {} // Checked below: must equal the `.8` issuer, raw.
                8 => issuer = decode_utf8_string(value)?,
                24 => subject = decode_utf8_string(value)?,
                _ => {
                    let field = ExtensionField::ALL
                        .into_iter()
                        .find(|f| u64::from(f.oid_arc()) == arc)
                        .ok_or_else(|| format!("no ExtensionField for arc {arc}"))?;
                    let text = if arc <= u64::from(LAST_RAW_ARC) {
                        String::from_utf8(value.clone())?
                    } else {
                        decode_utf8_string(value)?
                    };
                    rendered.push((field, text));
                }
            }
        }
        // Feed the fields in reverse to show the output order does not depend on input order.
        rendered.reverse();

        let ours = fulcio_extensions_with_subject(&issuer, &subject, &rendered);
        let ours_triples: Vec<(Vec<u64>, bool, Vec<u8>)> = ours
            .iter()
            .map(|e| (e.oid.clone(), FulcioExtension::CRITICAL, e.value.clone()))
            .collect();
        assert_eq!(ours_triples, real, "{bundle_file}: extensions differ");
        assert!(real.iter().all(|(_, critical, _)| !critical));

        // x509-parser's `as_bytes` is the OID contents without tag and length.
        let ours_oid_der: Vec<Vec<u8>> = ours
            .iter()
            .map(|e| e.oid_der().get(2..).map(<[u8]>::to_vec).unwrap_or_default())
            .collect();
        assert_eq!(
            ours_oid_der, real_oid_der,
            "{bundle_file}: OID encodings differ"
        );
        Ok(())
    }

    #[test]
    fn reproduces_real_github_actions_leaf() -> TestResult {
        let all_github: Vec<u64> = (1..=6).chain(8..=22).collect();
        roundtrip_real_leaf("github-signed.whl.sigstore", &all_github)
    }

    #[test]
    fn reproduces_real_npm_provenance_leaf() -> TestResult {
        // Issued in April 2023, before Fulcio added `.22` (repository visibility).
        let github_2023: Vec<u64> = (1..=6).chain(8..=21).collect();
        roundtrip_real_leaf("npm-sigstore-1.3.0-provenance.sigstore.json", &github_2023)
    }

    #[test]
    fn reproduces_real_email_leaf() -> TestResult {
        roundtrip_real_leaf("email-signed.txt.sigstore", &[1, 8])
    }
}

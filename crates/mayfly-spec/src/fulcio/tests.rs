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
        .map(|e| (e.oid.to_vec(), FulcioExtension::CRITICAL, e.value.clone()))
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

#[test]
fn fulcio_arcs_are_read_from_oid_bytes_and_nothing_else_is() {
    let content = |arcs: &[u64]| crate::der::encode_oid(arcs).unwrap();
    let mut arcs = FULCIO_OID_PREFIX.to_vec();
    arcs.push(0);
    for arc in [0, 1, 8, 24, 127, 128, 16_383, 16_384, u64::from(u32::MAX)] {
        *arcs.last_mut().unwrap() = arc;
        assert_eq!(fulcio_arc(&content(&arcs)), Some(arc as u32), "{arc}");
    }
    // Past u32, a deeper OID, a shorter one, another arc's prefix, a non-minimal encoding.
    *arcs.last_mut().unwrap() = u64::from(u32::MAX) + 1;
    assert_eq!(fulcio_arc(&content(&arcs)), None);
    *arcs.last_mut().unwrap() = 8;
    arcs.push(1);
    assert_eq!(fulcio_arc(&content(&arcs)), None);
    assert_eq!(fulcio_arc(&content(&FULCIO_OID_PREFIX)), None);
    assert_eq!(fulcio_arc(&content(&[1, 3, 6, 1, 4, 1, 57264, 2, 8])), None);
    let mut padded = content(&FULCIO_OID_PREFIX);
    padded.extend([0x80, 0x08]);
    assert_eq!(fulcio_arc(&padded), None);
}

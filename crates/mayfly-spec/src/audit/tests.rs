use super::*;
use crate::ct;
use crate::fulcio::{ExtensionField, fulcio_extensions_with_subject};

const REPO: &str = "https://github.com/octo-org/octo-repo";
const WORKFLOW: &str =
    "https://github.com/octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main";

/// A self-signed certificate shaped like a Fulcio leaf: a URI SAN and Fulcio extensions.
fn leaf() -> Vec<u8> {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::default();
    params.subject_alt_names = vec![rcgen::SanType::URI(WORKFLOW.try_into().unwrap())];
    let rendered = [
        (ExtensionField::SourceRepositoryUri, REPO.to_owned()),
        (
            ExtensionField::SourceRepositoryRef,
            "refs/heads/main".to_owned(),
        ),
        (ExtensionField::GithubWorkflowTrigger, "push".to_owned()),
    ];
    for ext in fulcio_extensions_with_subject("https://issuer.test", "repo:octo", &rendered) {
        params
            .custom_extensions
            .push(rcgen::CustomExtension::from_oid_content(
                &ext.oid, ext.value,
            ));
    }
    params.self_signed(&pair).unwrap().der().to_vec()
}

#[test]
fn reads_the_identity_of_a_logged_tbs() {
    let cert = leaf();
    let tbs = ct::tbs_certificate(&cert).unwrap();
    let id = identity_from_tbs(tbs).unwrap();
    assert_eq!(id.san(), WORKFLOW);
    assert_eq!(id.issuer, "https://issuer.test");
    assert_eq!(id.extension(12), Some(REPO));
    assert_eq!(id.extension(2), Some("push"), "raw-bytes arcs decode too");
    let named = id.extensions_by_name();
    assert_eq!(named["SourceRepositoryURI"], REPO);
    assert_eq!(named["SourceRepositoryRef"], "refs/heads/main");
    assert_eq!(named["TokenSubject"], "repo:octo");
    assert!(id.not_before < id.not_after);

    assert!(identity_from_tbs(&tbs[..tbs.len() - 1]).is_err());
    let mut trailing = tbs.to_vec();
    trailing.push(0);
    assert!(identity_from_tbs(&trailing).is_err());
}

#[test]
fn the_rebuilt_certificate_wraps_exactly_the_logged_tbs() {
    let cert = leaf();
    let tbs = ct::tbs_certificate(&cert).unwrap();
    let rebuilt = certificate_from_tbs(tbs).unwrap();
    assert_eq!(ct::tbs_certificate(&rebuilt).unwrap(), tbs);
    let (_, parsed) = x509_parser::parse_x509_certificate(&rebuilt).unwrap();
    assert!(parsed.signature_value.data.is_empty(), "no signature");
    assert_eq!(
        parsed.signature_algorithm.algorithm,
        parsed.tbs_certificate.signature.algorithm
    );
    assert!(certificate_from_tbs(&[0x30, 0x00]).is_err());
    assert!(certificate_from_tbs(b"junk").is_err());
}

#[test]
fn repository_paths() {
    assert_eq!(repository_path(REPO).as_deref(), Some("octo-org/octo-repo"));
    assert_eq!(
        repository_path("https://gitlab.com/group/sub/proj.git/").as_deref(),
        Some("group/sub/proj")
    );
    assert_eq!(
        repository_path("https://github.com/octo-org").as_deref(),
        Some("octo-org")
    );
    assert_eq!(repository_path("https://github.com/"), None);
    assert_eq!(repository_path("octo-org/octo-repo"), None);
}

#[test]
fn merkle_tree_leaves_parse_back() {
    let tbs = [0x30, 0x03, 0x02, 0x01, 0x05];
    let entry = ct::PrecertEntry {
        issuer_key_hash: [7; 32],
        tbs: &tbs,
    };
    let extensions = ct::leaf_index_extension(42).unwrap();
    let leaf = ct::merkle_tree_leaf(1_700_000_000_123, &entry, &extensions).unwrap();
    let parsed = ct::parse_precert_leaf(&leaf).unwrap();
    assert_eq!(parsed.timestamp_ms, 1_700_000_000_123);
    assert_eq!(parsed.entry, entry);
    assert_eq!(
        ct::leaf_index_from_extensions(parsed.extensions).unwrap(),
        Some(42)
    );
    for cut in 0..leaf.len() {
        assert!(
            ct::parse_precert_leaf(&leaf[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    let mut trailing = leaf.clone();
    trailing.push(0);
    assert!(ct::parse_precert_leaf(&trailing).is_err());
    let mut x509_entry = leaf;
    x509_entry[11] = 0;
    assert!(ct::parse_precert_leaf(&x509_entry).is_err());
}

#[test]
fn other_name_text_with_and_without_the_explicit_tag() {
    assert_eq!(other_name_text(&[0x0c, 2, b'h', b'i']), Ok("hi".into()));
    assert_eq!(
        other_name_text(&[0xa0, 4, 0x0c, 2, b'h', b'i']),
        Ok("hi".into())
    );
    assert!(other_name_text(&[0x13, 2, b'h', b'i']).is_err());
    assert!(other_name_text(&[0x0c, 3, b'h', b'i']).is_err());
}

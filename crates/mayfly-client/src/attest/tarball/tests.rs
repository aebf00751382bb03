use super::*;
use flate2::Compression;
use flate2::write::GzEncoder;

/// A gzipped tar with `files` (path, contents), as `npm pack` lays one out.
fn tgz(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    for (path, contents) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, path, *contents).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

fn package(name: &str, version: &str) -> Package {
    Package {
        name: name.into(),
        version: version.into(),
    }
}

#[test]
fn purl_encodes_only_the_scope_at() {
    assert_eq!(
        package("sigstore", "1.3.0").purl(),
        "pkg:npm/sigstore@1.3.0"
    );
    assert_eq!(
        package("@acme/widget", "2.0.0-rc.1").purl(),
        "pkg:npm/%40acme/widget@2.0.0-rc.1"
    );
}

#[test]
fn bundle_file_names_are_one_path_component() {
    assert_eq!(
        package("sigstore", "1.3.0").bundle_file_name(),
        "sigstore-1.3.0.sigstore"
    );
    assert_eq!(
        package("@acme/widget", "2.0.0").bundle_file_name(),
        "acme-widget-2.0.0.sigstore"
    );
}

#[test]
fn reads_name_and_version_from_package_json() {
    let bytes = tgz(&[
        ("package/README.md", b"# hi\n"),
        (
            "package/package.json",
            br#"{"version":"1.2.3","name":"@acme/widget","main":"index.js"}"#,
        ),
        ("package/index.js", b"module.exports = 1\n"),
    ]);
    assert_eq!(
        read_package(&bytes).unwrap(),
        package("@acme/widget", "1.2.3")
    );
}

#[test]
fn refuses_archives_without_a_usable_manifest() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"not gzip at all".to_vec(), "archive"),
        (
            tgz(&[("other/package.json", b"{}")]),
            "no package/package.json",
        ),
        (
            tgz(&[("package/package.json", b"{")]),
            "not a JSON manifest",
        ),
        (
            tgz(&[("package/package.json", br#"{"version":"1.0.0"}"#)]),
            "no \"name\"",
        ),
        (
            tgz(&[("package/package.json", br#"{"name":"x"}"#)]),
            "no \"version\"",
        ),
        (
            tgz(&[(
                "package/package.json",
                br#"{"name":"../../etc","version":"1.0.0"}"#,
            )]),
            "package name",
        ),
        (
            tgz(&[(
                "package/package.json",
                br#"{"name":"@a/b/c","version":"1.0.0"}"#,
            )]),
            "package name",
        ),
        (
            tgz(&[(
                "package/package.json",
                br#"{"name":"ok","version":"1.0.0/../../x"}"#,
            )]),
            "not a semver",
        ),
    ];
    for (bytes, expected) in cases {
        let err = read_package(&bytes).unwrap_err();
        assert!(
            err.contains(expected),
            "{err:?} should mention {expected:?}"
        );
    }
}

#[test]
fn name_rules() {
    for ok in ["a", "left-pad", "@scope/pkg", "a.b_c~d", "@s-1/x.y"] {
        assert!(check_name(ok).is_ok(), "{ok}");
    }
    for bad in [
        "", ".hidden", "_x", "UPPER", "@scope", "@/x", "@s/", "a b", "a/b", "a?b", "%40x",
    ] {
        assert!(check_name(bad).is_err(), "{bad}");
    }
    assert!(check_name(&"a".repeat(215)).is_err());
}

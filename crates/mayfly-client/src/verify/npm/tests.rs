//! npm checks on tarballs and statements built here.

use super::*;
use serde_json::json;

fn tarball(files: &[(&str, &str)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(gz);
    for (path, text) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        let _ = builder.append_data(&mut header, path, text.as_bytes());
    }
    builder
        .into_inner()
        .and_then(|gz| gz.finish())
        .unwrap_or_default()
}

#[test]
fn purl_escapes_the_scope() {
    let p = |name: &str| Package {
        name: name.into(),
        version: "1.2.3".into(),
        repository_url: None,
    };
    assert_eq!(p("@scope/pkg").purl(), "pkg:npm/%40scope/pkg@1.2.3");
    assert_eq!(p("pkg").purl(), "pkg:npm/pkg@1.2.3");
}

#[test]
fn reads_package_json_under_any_top_directory() {
    let manifest =
        r#"{"name":"a","version":"1.0.0","repository":{"url":"git+https://github.com/o/r.git"}}"#;
    let pkg = read_package(&tarball(&[
        ("package/README.md", "hi"),
        ("package/package.json", manifest),
    ]));
    assert_eq!(
        pkg.as_ref().map(|p| p.repository_url.as_deref()),
        Ok(Some("git+https://github.com/o/r.git"))
    );
    assert!(read_package(&tarball(&[("node/package.json", manifest)])).is_ok());
    // Nested manifests are not the package's; two top-level ones are ambiguous.
    assert!(read_package(&tarball(&[("package/lib/package.json", manifest)])).is_err());
    assert!(
        read_package(&tarball(&[
            ("a/package.json", manifest),
            ("b/package.json", manifest)
        ]))
        .is_err()
    );
    assert!(read_package(b"not a tarball").is_err());
}

fn verified(ext: &[(u32, &str)], statement: Value) -> Verified {
    Verified {
        kind: "dsse".into(),
        san: String::new(),
        issuer: String::new(),
        extensions: ext.iter().map(|(a, v)| (*a, (*v).to_owned())).collect(),
        log_index: 0,
        integrated_time: 0,
        statement: Some(statement),
        public_key: None,
    }
}

fn statement(tgz: &[u8], repo: &str) -> Value {
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "pkg:npm/a@1.0.0", "digest": {"sha512": hex::encode(HashAlgorithm::Sha512.digest(tgz))}}],
        "predicateType": SLSA_V1,
        "predicate": {"buildDefinition": {
            "buildType": GITHUB_WORKFLOW_V1,
            "externalParameters": {"workflow": {"ref": "refs/heads/main", "repository": repo, "path": ".github/workflows/x.yml"}},
            "resolvedDependencies": [{"uri": format!("git+{repo}@refs/heads/main"), "digest": {"gitCommit": "abc"}}]}}
    })
}

#[test]
fn publisher_checks_bind_certificate_statement_and_manifest() {
    let pkg = Package {
        name: "a".into(),
        version: "1.0.0".into(),
        repository_url: Some("git+https://github.com/o/r.git".into()),
    };
    let tgz = b"tarball bytes";
    let repo = "https://github.com/o/r";
    let ext = [
        (11, "github-hosted"),
        (12, repo),
        (13, "abc"),
        (14, "refs/heads/main"),
    ];
    assert_eq!(
        check_provenance(&pkg, tgz, &verified(&ext, statement(tgz, repo))),
        Ok(())
    );
    let fails = |v: Verified, p: &Package, want: &str| {
        let got = check_provenance(p, tgz, &v)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(got.contains(want), "{got:?} lacks {want:?}");
    };
    fails(
        verified(&ext, statement(b"other", repo)),
        &pkg,
        "does not match the tarball's sha512",
    );
    let self_hosted = [
        (11, "self-hosted"),
        (12, repo),
        (13, "abc"),
        (14, "refs/heads/main"),
    ];
    fails(
        verified(&self_hosted, statement(tgz, repo)),
        &pkg,
        "runner environment: self-hosted",
    );
    fails(
        verified(&ext, statement(tgz, "https://github.com/o/fork")),
        &pkg,
        "workflow repository",
    );
    let tag = [
        (11, "github-hosted"),
        (12, repo),
        (13, "abc"),
        (14, "refs/tags/v1"),
    ];
    fails(verified(&tag, statement(tgz, repo)), &pkg, "workflow ref");
    let other_repo = Package {
        repository_url: Some("https://github.com/x/y".into()),
        ..pkg.clone()
    };
    fails(
        verified(&ext, statement(tgz, repo)),
        &other_repo,
        "package.json repository",
    );
    let mut v02 = statement(tgz, repo);
    v02["predicateType"] = json!("https://slsa.dev/provenance/v0.2");
    fails(verified(&ext, v02), &pkg, "only GitHub Actions SLSA v1");
}

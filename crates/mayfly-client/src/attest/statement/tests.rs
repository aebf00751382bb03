use super::*;
use std::collections::HashMap;

/// The provenance npm published for sigstore@1.3.0 (GitHub Actions, 2023).
const VECTOR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/vectors/sigstore-public/npm-sigstore-1.3.0-provenance.statement.json"
);

fn vector() -> serde_json::Value {
    let text = std::fs::read_to_string(VECTOR).unwrap_or_else(|e| panic!("{VECTOR}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn npm_subject(vector: &serde_json::Value) -> ResourceDescriptor {
    let subject = &vector["subject"][0];
    ResourceDescriptor {
        name: subject["name"].as_str().unwrap().to_owned(),
        digest: BTreeMap::from([(
            "sha512",
            subject["digest"]["sha512"].as_str().unwrap().to_owned(),
        )]),
    }
}

/// The GitHub Actions environment of the run that produced the vector, read back from it.
fn github_env(vector: &serde_json::Value) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = vector["predicate"]["invocation"]["environment"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    env.insert("GITHUB_ACTIONS".into(), "true".into());
    env.insert("GITHUB_SERVER_URL".into(), "https://github.com".into());
    env.insert("RUNNER_ENVIRONMENT".into(), "github-hosted".into());
    env
}

/// What today's npm signs for that same run, written out by hand from libnpmpublish's
/// provenance.js (Statement v1, SLSA v1): every key, in order, compact.
const EXPECTED_GITHUB: &str = concat!(
    r#"{"_type":"https://in-toto.io/Statement/v1","#,
    r#""subject":[{"name":"pkg:npm/sigstore@1.3.0","digest":{"sha512":"76176ffa33808b54602c7c35de5c6e9a4deb96066dba6533f50ac234f4f1f4c6b3527515dc17c06fbe2860030f410eee69ea20079bd3a2c6f3dcf3b329b10751"}}],"#,
    r#""predicateType":"https://slsa.dev/provenance/v1","#,
    r#""predicate":{"buildDefinition":{"#,
    r#""buildType":"https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1","#,
    r#""externalParameters":{"workflow":{"ref":"refs/heads/main","repository":"https://github.com/sigstore/sigstore-js","path":".github/workflows/release.yml"}},"#,
    r#""internalParameters":{"github":{"event_name":"push","repository_id":"495574555","repository_owner_id":"71096353"}},"#,
    r#""resolvedDependencies":[{"uri":"git+https://github.com/sigstore/sigstore-js@refs/heads/main","digest":{"gitCommit":"dae8bd8eb433a4147b4655c00fe73e0f22bc0fb1"}}]},"#,
    r#""runDetails":{"builder":{"id":"https://github.com/actions/runner/github-hosted"},"#,
    r#""metadata":{"invocationId":"https://github.com/sigstore/sigstore-js/actions/runs/4735384265/attempts/1"}}}}"#,
);

#[test]
fn github_statement_is_npms_byte_for_byte() {
    let vector = vector();
    let payload = npm_provenance(npm_subject(&vector), &github_env(&vector)).unwrap();
    assert_eq!(String::from_utf8(payload).unwrap(), EXPECTED_GITHUB);
}

#[test]
fn github_statement_agrees_with_the_published_vector() {
    // The vector is npm's older v0.2 layout; the facts that carried over to v1 must match it.
    let vector = vector();
    let payload = npm_provenance(npm_subject(&vector), &github_env(&vector)).unwrap();
    let ours: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(ours["subject"], vector["subject"]);
    let old = &vector["predicate"]["invocation"]["configSource"];
    let dependency = &ours["predicate"]["buildDefinition"]["resolvedDependencies"][0];
    assert_eq!(dependency["uri"], old["uri"]);
    assert_eq!(dependency["digest"]["gitCommit"], old["digest"]["sha1"]);
    assert_eq!(
        ours["predicate"]["buildDefinition"]["externalParameters"]["workflow"]["path"],
        old["entryPoint"]
    );
    // The subject is the same bytes as npm's (key order included).
    let subject_json = serde_json::to_string(&npm_subject(&vector)).unwrap();
    assert!(subject_json.starts_with(r#"{"name":"pkg:npm/sigstore@1.3.0","digest":{"sha512":"#));
}

#[test]
fn github_omits_copied_values_and_refuses_interpolated_ones() {
    let vector = vector();
    let mut env = github_env(&vector);
    env.remove("GITHUB_REPOSITORY_ID");
    env.remove("GITHUB_SHA");
    let payload = npm_provenance(npm_subject(&vector), &env).unwrap();
    let text = String::from_utf8(payload).unwrap();
    assert!(text.contains(r#""github":{"event_name":"push","repository_owner_id":"71096353"}"#));
    assert!(text.contains(r#""digest":{}}]"#));

    for name in [
        "GITHUB_SERVER_URL",
        "GITHUB_REPOSITORY",
        "GITHUB_WORKFLOW_REF",
        "GITHUB_REF",
        "RUNNER_ENVIRONMENT",
        "GITHUB_RUN_ID",
        "GITHUB_RUN_ATTEMPT",
    ] {
        let mut env = github_env(&vector);
        env.remove(name);
        match npm_provenance(npm_subject(&vector), &env) {
            Err(AttestError::MissingCiVariable { name: missing, .. }) => {
                assert_eq!(missing, name)
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn npm_provenance_outside_ci_is_refused() {
    let vector = vector();
    let mut env = github_env(&vector);
    env.remove("GITHUB_ACTIONS");
    assert!(matches!(
        npm_provenance(npm_subject(&vector), &env),
        Err(AttestError::NotInCi)
    ));
}

fn gitlab_env() -> HashMap<&'static str, &'static str> {
    HashMap::from([
        ("GITLAB_CI", "true"),
        ("CI", "true"),
        ("CI_PROJECT_URL", "https://gitlab.com/acme/widget"),
        ("CI_RUNNER_ID", "12270837"),
        ("CI_JOB_URL", "https://gitlab.com/acme/widget/-/jobs/42"),
        ("CI_COMMIT_SHA", "0123456789abcdef0123456789abcdef01234567"),
        ("CI_JOB_NAME", "publish"),
        ("CI_JOB_ID", "42"),
        ("CI_PIPELINE_ID", "7"),
        ("CI_CONFIG_PATH", ".gitlab-ci.yml"),
        ("CI_SERVER_URL", "https://gitlab.com"),
        ("CI_PROJECT_PATH", "acme/widget"),
        ("CI_RUNNER_DESCRIPTION", "shared-runner"),
        ("CI_RUNNER_EXECUTABLE_ARCH", "linux/amd64"),
        ("GITLAB_USER_LOGIN", "octo"),
        // Not in npm's list: must not appear.
        ("CI_JOB_TOKEN", "secret"),
    ])
}

/// npm's GitLab statement for that environment (Statement v0.1, SLSA v0.2): parameters in
/// npm's order with the unset ones left out, as `JSON.stringify` drops `undefined`.
const EXPECTED_GITLAB: &str = concat!(
    r#"{"_type":"https://in-toto.io/Statement/v0.1","#,
    r#""subject":[{"name":"pkg:npm/%40acme/widget@1.0.0","digest":{"sha512":"ab"}}],"#,
    r#""predicateType":"https://slsa.dev/provenance/v0.2","#,
    r#""predicate":{"buildType":"https://github.com/npm/cli/gitlab/v0alpha1","#,
    r#""builder":{"id":"https://gitlab.com/acme/widget/-/runners/12270837"},"#,
    r#""invocation":{"configSource":{"uri":"git+https://gitlab.com/acme/widget","digest":{"sha1":"0123456789abcdef0123456789abcdef01234567"},"entryPoint":"publish"},"#,
    r#""parameters":{"CI":"true","CI_COMMIT_SHA":"0123456789abcdef0123456789abcdef01234567","CI_CONFIG_PATH":".gitlab-ci.yml","CI_JOB_ID":"42","CI_JOB_NAME":"publish","CI_JOB_URL":"https://gitlab.com/acme/widget/-/jobs/42","CI_PIPELINE_ID":"7","CI_PROJECT_PATH":"acme/widget","CI_PROJECT_URL":"https://gitlab.com/acme/widget","CI_RUNNER_DESCRIPTION":"shared-runner","CI_RUNNER_ID":"12270837","CI_SERVER_URL":"https://gitlab.com","GITLAB_CI":"true","GITLAB_USER_LOGIN":"octo"},"#,
    r#""environment":{"name":"shared-runner","architecture":"linux/amd64","server":"https://gitlab.com","project":"acme/widget","job":{"id":"42"},"pipeline":{"id":"7","ref":".gitlab-ci.yml"}}},"#,
    r#""metadata":{"buildInvocationId":"https://gitlab.com/acme/widget/-/jobs/42","completeness":{"parameters":true,"environment":true,"materials":false},"reproducible":false},"#,
    r#""materials":[{"uri":"git+https://gitlab.com/acme/widget","digest":{"sha1":"0123456789abcdef0123456789abcdef01234567"}}]}}"#,
);

#[test]
fn gitlab_statement_is_npms_byte_for_byte() {
    let subject = ResourceDescriptor {
        name: "pkg:npm/%40acme/widget@1.0.0".into(),
        digest: BTreeMap::from([("sha512", "ab".to_owned())]),
    };
    let payload = npm_provenance(subject, &gitlab_env()).unwrap();
    assert_eq!(String::from_utf8(payload).unwrap(), EXPECTED_GITLAB);
}

#[test]
fn gitlab_requires_its_interpolated_variables() {
    for name in ["CI_PROJECT_URL", "CI_RUNNER_ID", "CI_JOB_URL"] {
        let mut env = gitlab_env();
        env.remove(name);
        let subject = ResourceDescriptor {
            name: "pkg:npm/x@1.0.0".into(),
            digest: BTreeMap::new(),
        };
        assert!(
            matches!(
                npm_provenance(subject, &env),
                Err(AttestError::MissingCiVariable { name: missing, .. }) if missing == name
            ),
            "{name}"
        );
    }
}

#[test]
fn general_statement_is_v1_with_the_given_predicate() {
    let subject = ResourceDescriptor {
        name: "app.bin".into(),
        digest: BTreeMap::from([("sha256", "cd".to_owned())]),
    };
    let payload = general(
        subject.clone(),
        "https://example.com/p/v1",
        &serde_json::json!({"k": 1}),
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(payload).unwrap(),
        r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"app.bin","digest":{"sha256":"cd"}}],"predicateType":"https://example.com/p/v1","predicate":{"k":1}}"#
    );
    assert!(general(subject.clone(), "", &serde_json::json!({})).is_err());
    assert!(general(subject.clone(), "a b", &serde_json::json!({})).is_err());
    assert!(general(subject, "https://x", &serde_json::json!([1])).is_err());
}

use super::*;
use crate::identity::template::TemplateError;
use serde_json::{Map, json};

const JSON: &str = r#"{
  "OIDCIssuers": {
    "https://token.actions.githubusercontent.com": {
      "IssuerURL": "https://token.actions.githubusercontent.com",
      "ClientID": "sigstore", "Type": "ci-provider", "CIProvider": "github-workflow"},
    "https://idp.corp.example": {"IssuerURL": "https://idp.corp.example", "ClientID": "sigstore",
      "Type": "email", "SkipEmailVerification": true,
      "CACert": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"},
    "http://127.0.0.1:8700/dev-oidc": {"ClientID": "sigstore", "Type": "ci-provider",
      "CIProvider": "github-workflow"}
  },
  "MetaIssuers": {
    "https://token.actions.githubusercontent.com/*": {"ClientID": "sigstore",
      "Type": "ci-provider", "CIProvider": "github-workflow"},
    "https://oidc.eks.*.amazonaws.com/id/*": {"ClientID": "sigstore", "Type": "kubernetes"}
  },
  "CIIssuerMetadata": {
    "github-workflow": {
      "DefaultTemplateValues": {"url": "https://github.com", "environment": ""},
      "SubjectAlternativeNameTemplate": "{{ .url }}/{{ .job_workflow_ref }}",
      "ExtensionTemplates": {"BuildSignerURI": "{{ .url }}/{{ .job_workflow_ref }}",
        "BuildSignerDigest": "job_workflow_sha", "DeploymentEnvironment": "environment"}}
  }
}"#;

const YAML: &str = r#"
oidc-issuers:
  https://token.actions.githubusercontent.com:
    issuer-url: https://token.actions.githubusercontent.com
    client-id: sigstore
    type: ci-provider
    ci-provider: github-workflow
  https://idp.corp.example:
    issuer-url: https://idp.corp.example
    client-id: sigstore
    type: email
    skip-email-verification: true
    ca-cert: |
      -----BEGIN CERTIFICATE-----
      MIIB
      -----END CERTIFICATE-----
  http://127.0.0.1:8700/dev-oidc:
    client-id: sigstore
    type: ci-provider
    ci-provider: github-workflow
meta-issuers:
  https://token.actions.githubusercontent.com/*:
    client-id: sigstore
    type: ci-provider
    ci-provider: github-workflow
  https://oidc.eks.*.amazonaws.com/id/*:
    client-id: sigstore
    type: kubernetes
ci-issuer-metadata:
  github-workflow:
    default-template-values:
      url: https://github.com
      environment: ""
    subject-alternative-name-template: "{{ .url }}/{{ .job_workflow_ref }}"
    extension-templates:
      build-signer-uri: "{{ .url }}/{{ .job_workflow_ref }}"
      build-signer-digest: job_workflow_sha
      deployment-environment: environment
"#;

fn err_of(text: &str) -> String {
    match IssuerConfig::from_json_or_yaml(text) {
        Ok(_) => panic!("config should have been rejected:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn json_and_yaml_forms_are_equal() {
    let a = IssuerConfig::from_json_or_yaml(JSON).expect("json loads");
    let b = IssuerConfig::from_json_or_yaml(YAML).expect("yaml loads");
    assert_eq!(a, b);
    let gh = a
        .issuer_for("https://token.actions.githubusercontent.com")
        .expect("exact issuer");
    assert_eq!(gh.entry.client_id, "sigstore");
    assert_eq!(gh.entry.challenge_claim(), "sub");
    assert!(gh.meta_pattern.is_none());
    assert_eq!(
        gh.ci_provider.map(|p| p.name.clone()).as_deref(),
        Some("github-workflow")
    );
    let corp = a
        .issuer_for("https://idp.corp.example")
        .expect("email issuer");
    assert!(corp.entry.skip_email_verification);
    assert_eq!(corp.entry.challenge_claim(), "email");
    assert!(corp.ci_provider.is_none());
}

#[test]
fn go_style_case_insensitive_keys_are_accepted() {
    let text = r#"{"oidcissuers": {"https://a.example": {"clientid": "x", "TYPE": "email"}}}"#;
    let c = IssuerConfig::from_json_or_yaml(text).expect("loads");
    assert!(c.issuer_for("https://a.example").is_some());
}

#[test]
fn load_reads_a_file_and_reports_missing_ones() {
    let dir = std::env::temp_dir().join(format!("mayfly-issuers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("issuers.yaml");
    std::fs::write(&path, YAML).expect("write");
    let loaded = IssuerConfig::load(&path).expect("loads");
    assert_eq!(loaded, IssuerConfig::from_json_or_yaml(JSON).expect("json"));
    let missing = IssuerConfig::load(dir.join("nope.yaml"));
    assert!(matches!(missing, Err(IssuerConfigError::Io { .. })));
    let _ = std::fs::remove_dir_all(&dir);
}

fn one_issuer(url: &str, body: Value) -> String {
    json!({
        "OIDCIssuers": {url: body},
        "CIIssuerMetadata": {"p": {"SubjectAlternativeNameTemplate": "{{ .url }}"}}
    })
    .to_string()
}

fn one_meta(pattern: &str, body: Value) -> String {
    json!({"MetaIssuers": {pattern: body}}).to_string()
}

#[test]
fn validation_rules_each_reject_with_a_message_naming_the_issuer() {
    let cases: Vec<(String, &str)> = vec![
        (
            one_issuer("https://a.example", json!({"ClientID": "s"})),
            "Type is required",
        ),
        (
            one_issuer(
                "https://a.example",
                json!({"ClientID": "s", "Type": "ldap"}),
            ),
            "unknown Type \"ldap\"",
        ),
        (
            one_issuer("https://a.example", json!({"Type": "email"})),
            "ClientID is required",
        ),
        (
            one_issuer(
                "https://a.example",
                json!({"ClientID": "s", "Type": "ci-provider"}),
            ),
            "need CIProvider",
        ),
        (
            one_issuer(
                "https://a.example",
                json!({"ClientID": "s", "Type": "ci-provider", "CIProvider": "nope"}),
            ),
            "CIProvider \"nope\" is not in CIIssuerMetadata",
        ),
        (
            one_issuer(
                "https://a.example",
                json!({"ClientID": "s", "Type": "email", "CIProvider": "p"}),
            ),
            "CIProvider is only used by ci-provider",
        ),
        (
            one_issuer(
                "http://a.example",
                json!({"ClientID": "s", "Type": "email"}),
            ),
            "only allowed for loopback",
        ),
        (
            one_issuer("http://10.0.0.1", json!({"ClientID": "s", "Type": "email"})),
            "only allowed for loopback",
        ),
        (
            one_issuer("ftp://a.example", json!({"ClientID": "s", "Type": "email"})),
            "scheme \"ftp\"",
        ),
        (
            one_issuer("not a url", json!({"ClientID": "s", "Type": "email"})),
            "does not parse",
        ),
        (
            one_issuer(
                "https://a.example?x=1",
                json!({"ClientID": "s", "Type": "email"}),
            ),
            "query",
        ),
        (
            one_issuer(
                "https://a.example",
                json!({"ClientID": "s", "Type": "email", "IssuerURL": "https://b.example"}),
            ),
            "differs from the map key",
        ),
        (
            one_issuer(
                "https://a.example",
                json!({"ClientID": "s", "Type": "kubernetes", "IssuerClaim": "$.x"}),
            ),
            "IssuerClaim is only used by email",
        ),
        (
            one_issuer(
                "https://a.example",
                json!({"ClientID": "s", "Type": "email", "IssuerClaim": "x"}),
            ),
            "must be a JSONPath",
        ),
        (
            one_issuer(
                "https://a.example",
                json!({"ClientID": "s", "Type": "uri", "SkipEmailVerification": true}),
            ),
            "SkipEmailVerification is only used by email",
        ),
        (
            one_issuer(
                "https://a.example",
                json!({"ClientID": "s", "Type": "spiffe"}),
            ),
            "need SPIFFETrustDomain",
        ),
        (
            one_issuer(
                "https://a.example",
                json!({"ClientID": "s", "Type": "spiffe", "SPIFFETrustDomain": "Bad Domain"}),
            ),
            "not a valid trust domain",
        ),
        (
            one_issuer(
                "https://a.example",
                json!({"ClientID": "s", "Type": "email", "SPIFFETrustDomain": "x"}),
            ),
            "SPIFFETrustDomain is only used by spiffe",
        ),
        (
            one_issuer("https://a.example", json!({"ClientID": "s", "Type": "uri"})),
            "uri issuers need SubjectDomain",
        ),
        (
            one_issuer(
                "https://a.example",
                json!({"ClientID": "s", "Type": "uri", "SubjectDomain": "a.example"}),
            ),
            "must be a URL with a scheme",
        ),
        (
            one_issuer(
                "https://id.a.example",
                json!({"ClientID": "s", "Type": "uri", "SubjectDomain": "https://b.example"}),
            ),
            "top two domain labels",
        ),
        (
            one_issuer(
                "https://a.example",
                json!({"ClientID": "s", "Type": "username"}),
            ),
            "username issuers need SubjectDomain",
        ),
        (
            one_issuer(
                "https://a.example",
                json!({"ClientID": "s", "Type": "username", "SubjectDomain": "https://a.example"}),
            ),
            "must not have a scheme",
        ),
        (
            one_issuer(
                "https://a.example",
                json!({"ClientID": "s", "Type": "email", "SubjectDomain": "a.example"}),
            ),
            "SubjectDomain is only used by uri and username",
        ),
        (
            one_issuer(
                "https://a.example",
                json!({"ClientID": "s", "Type": "email", "CACert": "hello"}),
            ),
            "CACert must be a PEM",
        ),
        (
            one_issuer("https://a.example", json!({"ClientID": 5, "Type": "email"})),
            "ClientID must be a string",
        ),
        (
            one_issuer(
                "https://a.example",
                json!({"ClientID": "s", "Type": "email", "SkipEmailVerification": "yes"}),
            ),
            "SkipEmailVerification must be true or false",
        ),
        (
            one_issuer(
                "https://a.example",
                json!({"ClientID": "s", "Type": "email", "Typo": 1}),
            ),
            "unknown key",
        ),
        (
            one_issuer(
                "https://a.example",
                json!({"ClientID": "s", "client-id": "t", "Type": "email"}),
            ),
            "given twice",
        ),
        (
            one_meta(
                "https://spiffe.*.example.com",
                json!({"ClientID": "s", "Type": "spiffe", "SPIFFETrustDomain": "example.com"}),
            ),
            "spiffe issuers cannot be meta issuers",
        ),
        (
            one_meta(
                "http://*.example.com",
                json!({"ClientID": "s", "Type": "email"}),
            ),
            "literal loopback",
        ),
        (
            one_meta(
                "http://127.0.0.*",
                json!({"ClientID": "s", "Type": "email"}),
            ),
            "literal loopback",
        ),
        (
            one_meta("https://a.*.*", json!({"ClientID": "s", "Type": "email"})),
            "must be literal",
        ),
        (
            one_meta(
                "https://issuer.*",
                json!({"ClientID": "s", "Type": "email"}),
            ),
            "must be literal",
        ),
        (
            one_meta(
                "*://a.example.com",
                json!({"ClientID": "s", "Type": "email"}),
            ),
            "must start with https://",
        ),
        (
            one_meta(
                "https://a.example.com/*?x",
                json!({"ClientID": "s", "Type": "email"}),
            ),
            "must not contain",
        ),
        (json!({"Issuers": {}}).to_string(), "unknown top-level key"),
        (
            json!({"CIIssuerMetadata": {"p": {}}}).to_string(),
            "SubjectAlternativeNameTemplate is required",
        ),
        (
            json!({"CIIssuerMetadata": {"p": {"SubjectAlternativeNameTemplate": "{{ .x "}}})
                .to_string(),
            "unclosed action",
        ),
        (
            json!({"CIIssuerMetadata": {"p": {"SubjectAlternativeNameTemplate": "x",
                "ExtensionTemplates": {"Bogus": "x"}}}})
            .to_string(),
            "unknown extension \"Bogus\"",
        ),
        (
            json!({"CIIssuerMetadata": {"p": {"SubjectAlternativeNameTemplate": "x",
                "ExtensionTemplates": {"Issuer": "iss"}}}})
            .to_string(),
            "may not set Issuer",
        ),
        (
            json!({"CIIssuerMetadata": {"p": {"SubjectAlternativeNameTemplate": "x",
                "DefaultTemplateValues": {"n": 1}}}})
            .to_string(),
            "must be a string",
        ),
        ("{ not json: [".to_owned(), "neither JSON"),
        ("- just\n- a list\n".to_owned(), "must be a mapping"),
    ];
    for (text, expected) in cases {
        let err = err_of(&text);
        assert!(
            err.contains(expected),
            "for {text}\n got {err:?}\n want {expected:?}"
        );
    }
    // Errors name the issuer.
    let err = err_of(&one_issuer(
        "http://a.example",
        json!({"ClientID": "s", "Type": "email"}),
    ));
    assert!(err.starts_with("issuer \"http://a.example\""), "{err}");
    let err = err_of(&one_meta(
        "https://a.*.*",
        json!({"ClientID": "s", "Type": "email"}),
    ));
    assert!(err.starts_with("meta issuer \"https://a.*.*\""), "{err}");
}

/// Whole messages for the errors about keys and shapes, as `mayfly serve` prints them.
#[test]
fn key_and_shape_errors_read_exactly() {
    let provider = |body: Value| json!({"CIIssuerMetadata": {"p": body}}).to_string();
    let cases: Vec<(String, &str)> = vec![
        (
            json!({"OIDCIssuers": {}, "oidc_issuers": {}}).to_string(),
            r#"issuer config: key "oidc_issuers" is given twice"#,
        ),
        (
            json!({"OIDCIssuers": {}, "Issuers": {}}).to_string(),
            "issuer config: unknown top-level key (expected OIDCIssuers, MetaIssuers, \
             CIIssuerMetadata) in [\"Issuers\", \"OIDCIssuers\"]",
        ),
        (
            json!({"OIDCIssuers": []}).to_string(),
            "OIDCIssuers: must be a mapping",
        ),
        (
            json!({"MetaIssuers": "x"}).to_string(),
            "MetaIssuers: must be a mapping",
        ),
        (
            json!({"CIIssuerMetadata": 1}).to_string(),
            "CIIssuerMetadata: must be a mapping",
        ),
        (
            one_issuer(
                "https://a.example",
                json!({"ClientID": "s", "Type": "email", "Client-Secret": "x"}),
            ),
            "issuer \"https://a.example\": unknown key in [\"Client-Secret\", \"ClientID\", \
             \"Type\"]; expected IssuerURL, ClientID, Type, CIProvider, IssuerClaim, \
             SubjectDomain, SPIFFETrustDomain, ChallengeClaim, Description, Contact, \
             Environment, CACert, SkipEmailVerification",
        ),
        (
            one_issuer("https://a.example", json!("sigstore")),
            "issuer \"https://a.example\": must be a mapping",
        ),
        (
            one_meta(
                "https://*.example.com",
                json!({"ClientID": "s", "Type": "email", "Skip_Email_Verification": true,
                    "skipemailverification": false}),
            ),
            "meta issuer \"https://*.example.com\": key \"skipemailverification\" is given twice",
        ),
        (
            one_issuer(
                "https://a.example",
                json!({"ClientID": "s", "Type": "email", "Description": ["x"]}),
            ),
            "issuer \"https://a.example\": Description must be a string",
        ),
        (
            provider(json!({"SubjectAlternativeNameTemplate": "x", "Extension_Template": {}})),
            "CI provider \"p\": unknown key (normalised \"extensiontemplate\"); expected \
             DefaultTemplateValues, ExtensionTemplates, SubjectAlternativeNameTemplate",
        ),
        (
            provider(json!({"SubjectAlternativeNameTemplate": "x", "ExtensionTemplates": "x"})),
            "CI provider \"p\" ExtensionTemplates: must be a mapping",
        ),
        (
            provider(json!({"SubjectAlternativeNameTemplate": "x",
                "DefaultTemplateValues": [1]})),
            "CI provider \"p\" DefaultTemplateValues: must be a mapping",
        ),
        (
            provider(json!({"SubjectAlternativeNameTemplate": "x",
                "DefaultTemplateValues": {"url": null}})),
            "CI provider \"p\": DefaultTemplateValues[\"url\"] must be a string",
        ),
        (
            provider(json!({"SubjectAlternativeNameTemplate": 7})),
            "CI provider \"p\": SubjectAlternativeNameTemplate must be a string",
        ),
        (
            provider(json!({"SubjectAlternativeNameTemplate": "x",
                "ExtensionTemplates": {"build-signer-uri": true}})),
            "CI provider \"p\": build-signer-uri must be a string",
        ),
        (
            provider(json!({"SubjectAlternativeNameTemplate": "x",
                "ExtensionTemplates": {"BuildSignerURI": "a", "build_signer_uri": "b"}})),
            "CI provider \"p\": extension \"build_signer_uri\" is given twice",
        ),
        (
            provider(json!({"SubjectAlternativeNameTemplate": "x",
                "ExtensionTemplates": {"issuer": "iss"}})),
            "CI provider \"p\": ExtensionTemplates may not set Issuer: it is always the \
             token's issuer",
        ),
        (
            "oidc-issuers:\n  https://a.example:\n    client-id: s\n    type: email\n    \
             ClientId: t\n"
                .to_owned(),
            "issuer \"https://a.example\": key \"client-id\" is given twice",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(err_of(&text), expected, "for {text}");
    }
}

/// Keys of maps keyed by data are kept as written: issuer URLs, patterns, provider names and
/// default value names are case-sensitive; extension names match in any spelling.
#[test]
fn data_map_keys_are_kept_as_written() {
    let text = r#"
OIDC_Issuers:
  https://A.example/Path:
    Client_ID: s
    TYPE: ci-provider
    ci_provider: My-Provider
meta-issuers:
  https://a.example/Tenant-*:
    client-id: s
    type: kubernetes
CI-Issuer-Metadata:
  My-Provider:
    default-template-values:
      Base-URL: https://example.com
    subject-alternative-name-template: '{{ index . "Base-URL" }}/{{ .Repo_Name }}'
    extension-templates:
      build_signer_uri: Repo_Name
      SOURCEREPOSITORYURI: '{{ index . "Base-URL" }}'
"#;
    let c = IssuerConfig::from_json_or_yaml(text).expect("loads");
    // The URL parser lower-cases the host, but the map key is kept as written.
    assert_eq!(
        c.issuers().map(|(k, _)| k).collect::<Vec<_>>(),
        ["https://A.example/Path"]
    );
    let r = c.issuer_for("https://A.example/Path").expect("exact");
    let provider = r
        .ci_provider
        .expect("provider found by its name as written");
    assert_eq!(provider.name, "My-Provider");
    assert_eq!(
        provider.defaults.get("Base-URL").map(String::as_str),
        Some("https://example.com")
    );
    let claims = match json!({"Repo_Name": "r"}) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let out = provider.render(&claims).expect("renders");
    assert_eq!(out.san, "https://example.com/r");
    assert_eq!(out.get(ExtensionField::BuildSignerUri), Some("r"));
    assert_eq!(
        out.get(ExtensionField::SourceRepositoryUri),
        Some("https://example.com")
    );
    assert!(c.issuer_for("https://a.example/Tenant-x").is_some());
    assert!(c.issuer_for("https://a.example/tenant-x").is_none());
    // Null sections are empty, as in Fulcio.
    let empty = IssuerConfig::from_json_or_yaml("oidc-issuers:\nmeta-issuers: ~\n").expect("loads");
    assert_eq!(empty.issuers().count(), 0);
}

#[test]
fn loopback_http_and_valid_type_specific_issuers_are_accepted() {
    for url in [
        "http://127.0.0.1:8700/dev-oidc",
        "http://127.1.2.3",
        "http://[::1]:9000",
        "http://localhost:8080/x",
    ] {
        let text = one_issuer(url, json!({"ClientID": "s", "Type": "email"}));
        assert!(IssuerConfig::from_json_or_yaml(&text).is_ok(), "{url}");
    }
    let text = json!({
        "OIDCIssuers": {
            "https://id.corp.example.com": {"ClientID": "s", "Type": "uri",
                "SubjectDomain": "https://build.example.com"},
            "https://u.example.com": {"ClientID": "s", "Type": "username",
                "SubjectDomain": "example.com"},
            "https://spire.example.com": {"ClientID": "s", "Type": "spiffe",
                "SPIFFETrustDomain": "example.com", "ChallengeClaim": "sub"},
            "https://dex.example.com": {"ClientID": "s", "Type": "email",
                "IssuerClaim": "$.federated_claims.connector_id"}
        },
        "MetaIssuers": {
            "http://localhost:1234/*": {"ClientID": "s", "Type": "kubernetes"},
            "http://[::1]:99/*": {"ClientID": "s", "Type": "kubernetes"}
        }
    })
    .to_string();
    let c = IssuerConfig::from_json_or_yaml(&text).expect("valid");
    assert!(c.issuer_for("http://localhost:1234/tenant-1").is_some());
    assert!(c.issuer_for("http://[::1]:99/tenant-1").is_some());
}

#[test]
fn meta_issuer_matching() {
    let c = IssuerConfig::from_json_or_yaml(JSON).expect("loads");
    let gh = c
        .issuer_for("https://token.actions.githubusercontent.com/my-enterprise")
        .expect("enterprise slug matches");
    assert_eq!(
        gh.issuer_url,
        "https://token.actions.githubusercontent.com/my-enterprise"
    );
    assert_eq!(
        gh.meta_pattern.as_deref(),
        Some("https://token.actions.githubusercontent.com/*")
    );
    assert!(gh.ci_provider.is_some());
    let eks = c
        .issuer_for("https://oidc.eks.us-west-2.amazonaws.com/id/B02C93B6A2D30341AD01E1B6D48164CB")
        .expect("eks");
    assert_eq!(eks.entry.issuer_type, IssuerType::Kubernetes);

    for bad in [
        // Extra path segments, dots or other characters in a wildcard.
        "https://token.actions.githubusercontent.com/a/b",
        "https://token.actions.githubusercontent.com/a.b",
        "https://token.actions.githubusercontent.com/a%2Fb",
        "https://token.actions.githubusercontent.com/",
        "https://token.actions.githubusercontent.com/a/",
        "https://token.actions.githubusercontent.com/a?b",
        "https://token.actions.githubusercontent.com/a#b",
        "https://token.actions.githubusercontent.com/a@evil.example",
        // Unanchored matches (the SSRF fix GHSA-59jp-pj84-45mr).
        "https://evil.example/https://token.actions.githubusercontent.com/a",
        "https://token.actions.githubusercontent.com/a\n",
        "https://oidc.eks.us-west-2.evil.example/amazonaws.com/id/x",
        "https://oidc.eks.us.west.amazonaws.com/id/x",
        "https://oidc.eks.evil.example#.amazonaws.com/id/x",
        "https://oidc.eks.x.amazonaws.com.evil.example/id/x",
        "https://oidc.eks.x.amazonaws.com/id/x/y",
        "https://oidc.eks..amazonaws.com/id/x",
        // Regex metacharacters in the pattern are literal: '.' does not match any char.
        "https://tokenXactions.githubusercontent.com/a",
        "https://oidc-eks-x-amazonaws-com/id/x",
        // Case-sensitive, like the regex.
        "https://TOKEN.actions.githubusercontent.com/a",
        "",
    ] {
        assert!(c.issuer_for(bad).is_none(), "{bad:?} must not match");
    }
}

#[test]
fn exact_issuer_wins_over_meta_pattern() {
    let text = json!({
        "OIDCIssuers": {"https://a.example.com/exact": {"ClientID": "exact", "Type": "email"}},
        "MetaIssuers": {"https://a.example.com/*": {"ClientID": "meta", "Type": "email"}}
    })
    .to_string();
    let c = IssuerConfig::from_json_or_yaml(&text).expect("loads");
    let r = c.issuer_for("https://a.example.com/exact").expect("found");
    assert_eq!(r.entry.client_id, "exact");
    let r = c.issuer_for("https://a.example.com/other").expect("found");
    assert_eq!(r.entry.client_id, "meta");
}

fn github_claims() -> Map<String, Value> {
    let v = json!({
        "iss": "https://token.actions.githubusercontent.com",
        "aud": "sigstore",
        "sub": "repo:octo-org/octo-repo:ref:refs/heads/main",
        "jti": "example-id",
        "exp": 1632493867, "iat": 1632493567, "nbf": 1632492967,
        "ref": "refs/heads/main",
        "ref_type": "branch",
        "ref_protected": "true",
        "sha": "a4a8e15de4c1a5a4c5d5e7d3e0f00f8f2f0e1d2c",
        "repository": "octo-org/octo-repo",
        "repository_id": "74",
        "repository_owner": "octo-org",
        "repository_owner_id": "65",
        "repository_visibility": "public",
        "run_id": "12345678901",
        "run_number": "10",
        "run_attempt": "2",
        "runner_environment": "github-hosted",
        "actor": "octocat",
        "actor_id": "12",
        "workflow": "release",
        "workflow_ref": "octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main",
        "workflow_sha": "a4a8e15de4c1a5a4c5d5e7d3e0f00f8f2f0e1d2c",
        "job_workflow_ref": "octo-org/shared/.github/workflows/build.yml@refs/tags/v1",
        "job_workflow_sha": "0123456789abcdef0123456789abcdef01234567",
        "event_name": "push",
        "head_ref": "",
        "base_ref": ""
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[test]
fn shipped_config_renders_github_actions_extensions() {
    let c = IssuerConfig::shipped().expect("shipped config loads");
    let r = c
        .issuer_for("https://token.actions.githubusercontent.com")
        .expect("github issuer");
    assert_eq!(r.entry.client_id, "sigstore");
    let provider = r.ci_provider.expect("ci provider");
    let out = provider.render(&github_claims()).expect("renders");
    assert_eq!(
        out.san,
        "https://github.com/octo-org/shared/.github/workflows/build.yml@refs/tags/v1"
    );
    use ExtensionField as F;
    let expected = [
        (F::GithubWorkflowTrigger, "push"),
        (
            F::GithubWorkflowSha,
            "a4a8e15de4c1a5a4c5d5e7d3e0f00f8f2f0e1d2c",
        ),
        (F::GithubWorkflowName, "release"),
        (F::GithubWorkflowRepository, "octo-org/octo-repo"),
        (F::GithubWorkflowRef, "refs/heads/main"),
        (
            F::BuildSignerUri,
            "https://github.com/octo-org/shared/.github/workflows/build.yml@refs/tags/v1",
        ),
        (
            F::BuildSignerDigest,
            "0123456789abcdef0123456789abcdef01234567",
        ),
        (F::RunnerEnvironment, "github-hosted"),
        (
            F::SourceRepositoryUri,
            "https://github.com/octo-org/octo-repo",
        ),
        (
            F::SourceRepositoryDigest,
            "a4a8e15de4c1a5a4c5d5e7d3e0f00f8f2f0e1d2c",
        ),
        (F::SourceRepositoryRef, "refs/heads/main"),
        (F::SourceRepositoryIdentifier, "74"),
        (F::SourceRepositoryOwnerUri, "https://github.com/octo-org"),
        (F::SourceRepositoryOwnerIdentifier, "65"),
        (
            F::BuildConfigUri,
            "https://github.com/octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main",
        ),
        (
            F::BuildConfigDigest,
            "a4a8e15de4c1a5a4c5d5e7d3e0f00f8f2f0e1d2c",
        ),
        (F::BuildTrigger, "push"),
        (
            F::RunInvocationUri,
            "https://github.com/octo-org/octo-repo/actions/runs/12345678901/attempts/2",
        ),
        (F::SourceRepositoryVisibilityAtSigning, "public"),
    ];
    let expected: Vec<(F, String)> = expected
        .iter()
        .map(|(f, v)| (*f, (*v).to_owned()))
        .collect();
    // No `environment` claim ⇒ DeploymentEnvironment renders empty and is omitted.
    assert_eq!(out.extensions, expected);

    let mut with_env = github_claims();
    with_env.insert("environment".to_owned(), json!("production"));
    let out = provider.render(&with_env).expect("renders");
    assert_eq!(out.get(F::DeploymentEnvironment), Some("production"));

    // Enterprise issuer URLs use the same templates.
    let ent = c
        .issuer_for("https://token.actions.githubusercontent.com/octo-enterprise")
        .expect("enterprise");
    assert_eq!(
        ent.ci_provider.map(|p| p.name.clone()),
        Some(provider.name.clone())
    );

    // A missing required claim rejects the token.
    let mut missing = github_claims();
    missing.remove("job_workflow_sha");
    assert_eq!(
        provider.render(&missing),
        Err(TemplateError::MissingKey("job_workflow_sha".to_owned()))
    );
}

#[test]
fn shipped_config_renders_gitlab_extensions() {
    let c = IssuerConfig::shipped().expect("shipped config loads");
    let r = c.issuer_for("https://gitlab.com").expect("gitlab issuer");
    let provider = r.ci_provider.expect("ci provider");
    let claims = json!({
        "iss": "https://gitlab.com", "aud": "sigstore",
        "sub": "project_path:my-group/my-project:ref_type:branch:ref:main",
        "namespace_id": "72", "namespace_path": "my-group",
        "project_id": "20", "project_path": "my-group/my-project",
        "user_id": "1", "user_login": "sample-user",
        "pipeline_id": "574", "pipeline_source": "push",
        "job_id": "302", "ref": "main", "ref_type": "branch", "ref_protected": "true",
        "runner_id": 1, "runner_environment": "gitlab-hosted",
        "sha": "714a629c0b401fdce83e847fc9589983fc6f46bc",
        "project_visibility": "public",
        "ci_config_ref_uri": "gitlab.com/my-group/my-project//.gitlab-ci.yml@refs/heads/main",
        "ci_config_sha": "714a629c0b401fdce83e847fc9589983fc6f46bc"
    });
    let Value::Object(claims) = claims else {
        panic!("object")
    };
    let out = provider.render(&claims).expect("renders");
    assert_eq!(
        out.san,
        "https://gitlab.com/my-group/my-project//.gitlab-ci.yml@refs/heads/main"
    );
    use ExtensionField as F;
    let sha = "714a629c0b401fdce83e847fc9589983fc6f46bc";
    let expected = [
        (
            F::BuildSignerUri,
            "https://gitlab.com/my-group/my-project//.gitlab-ci.yml@refs/heads/main",
        ),
        (F::BuildSignerDigest, sha),
        (F::RunnerEnvironment, "gitlab-hosted"),
        (
            F::SourceRepositoryUri,
            "https://gitlab.com/my-group/my-project",
        ),
        (F::SourceRepositoryDigest, sha),
        (F::SourceRepositoryRef, "refs/heads/main"),
        (F::SourceRepositoryIdentifier, "20"),
        (F::SourceRepositoryOwnerUri, "https://gitlab.com/my-group"),
        (F::SourceRepositoryOwnerIdentifier, "72"),
        (
            F::BuildConfigUri,
            "https://gitlab.com/my-group/my-project//.gitlab-ci.yml@refs/heads/main",
        ),
        (F::BuildConfigDigest, sha),
        (F::BuildTrigger, "push"),
        (
            F::RunInvocationUri,
            "https://gitlab.com/my-group/my-project/-/jobs/302",
        ),
        (F::SourceRepositoryVisibilityAtSigning, "public"),
    ];
    let expected: Vec<(F, String)> = expected
        .iter()
        .map(|(f, v)| (*f, (*v).to_owned()))
        .collect();
    assert_eq!(out.extensions, expected);

    let mut tag = claims.clone();
    tag.insert("ref_type".to_owned(), json!("tag"));
    tag.insert("ref".to_owned(), json!("v1.0.0"));
    let out = provider.render(&tag).expect("renders");
    assert_eq!(out.get(F::SourceRepositoryRef), Some("refs/tags/v1.0.0"));
}

#[test]
fn shipped_config_other_providers_load_and_render() {
    let c = IssuerConfig::shipped().expect("shipped config loads");
    let bk = c
        .issuer_for("https://agent.buildkite.com")
        .expect("buildkite");
    let claims = json!({
        "organization_slug": "acme", "pipeline_slug": "app", "build_number": 1234567,
        "job_id": "0190-ab", "build_commit": "deadbeef", "build_source": "webhook",
        "runner_environment": "buildkite-hosted", "sub": "organization:acme:pipeline:app"
    });
    let Value::Object(claims) = claims else {
        panic!("object")
    };
    let out = bk
        .ci_provider
        .expect("provider")
        .render(&claims)
        .expect("renders");
    assert_eq!(out.san, "https://buildkite.com/acme/app");
    assert_eq!(
        out.get(ExtensionField::RunInvocationUri),
        Some("https://buildkite.com/acme/app/builds/1234567#0190-ab")
    );
    assert!(c.issuer_for("https://oidc.codefresh.io").is_some());
    assert!(
        c.issuer_for("https://oidc.circleci.com/org/0a1b2c3d-4e5f")
            .is_some()
    );
    assert!(c.issuer_for("https://oidc.circleci.com/org/a/b").is_none());
}

//! Claims → principal, per issuer type: happy paths and every rejection.

use serde_json::{Map, Value, json};

use super::*;
use crate::identity::config::IssuerConfig;

const CONFIG: &str = r#"{
  "OIDCIssuers": {
    "https://mail.example": {"ClientID": "sigstore", "Type": "email"},
    "https://skip.example": {"ClientID": "sigstore", "Type": "email", "SkipEmailVerification": true},
    "https://dex.example": {"ClientID": "sigstore", "Type": "email",
                            "IssuerClaim": "$.federated_claims.connector_id"},
    "https://dex-bad.example": {"ClientID": "sigstore", "Type": "email",
                                "IssuerClaim": "$.federated_claims[0]"},
    "https://k8s.example": {"ClientID": "sigstore", "Type": "kubernetes"},
    "https://spire.example.org": {"ClientID": "sigstore", "Type": "spiffe",
                                  "SPIFFETrustDomain": "example.org"},
    "https://id.corp.example.com": {"ClientID": "sigstore", "Type": "uri",
                                    "SubjectDomain": "https://corp.example.com"},
    "https://users.example.com": {"ClientID": "sigstore", "Type": "username",
                                  "SubjectDomain": "example.com"},
    "https://token.actions.githubusercontent.com": {"ClientID": "sigstore", "Type": "github-workflow"},
    "https://gh.example": {"ClientID": "sigstore", "Type": "ci-provider", "CIProvider": "github-workflow"},
    "https://agent.buildkite.com": {"ClientID": "sigstore", "Type": "buildkite-job"},
    "https://gitlab.com": {"ClientID": "sigstore", "Type": "gitlab-pipeline"},
    "https://issuer.enforce.dev": {"ClientID": "sigstore", "Type": "chainguard-identity"},
    "https://challenge.example": {"ClientID": "sigstore", "Type": "email", "ChallengeClaim": "sub"}
  },
  "CIIssuerMetadata": {
    "github-workflow": {
      "DefaultTemplateValues": {"url": "https://github.com", "environment": ""},
      "SubjectAlternativeNameTemplate": "{{ .url }}/{{ .job_workflow_ref }}",
      "ExtensionTemplates": {
        "GithubWorkflowTrigger": "event_name", "GithubWorkflowSHA": "sha",
        "GithubWorkflowName": "workflow", "GithubWorkflowRepository": "repository",
        "GithubWorkflowRef": "ref",
        "BuildSignerURI": "{{ .url }}/{{ .job_workflow_ref }}",
        "BuildSignerDigest": "job_workflow_sha", "RunnerEnvironment": "runner_environment",
        "SourceRepositoryURI": "{{ .url }}/{{ .repository }}", "SourceRepositoryDigest": "sha",
        "SourceRepositoryRef": "ref", "SourceRepositoryIdentifier": "repository_id",
        "SourceRepositoryOwnerURI": "{{ .url }}/{{ .repository_owner }}",
        "SourceRepositoryOwnerIdentifier": "repository_owner_id",
        "BuildConfigURI": "{{ .url }}/{{ .workflow_ref }}", "BuildConfigDigest": "workflow_sha",
        "BuildTrigger": "event_name",
        "RunInvocationURI": "{{ .url }}/{{ .repository }}/actions/runs/{{ .run_id }}/attempts/{{ .run_attempt }}",
        "SourceRepositoryVisibilityAtSigning": "repository_visibility",
        "DeploymentEnvironment": "environment"
      }
    }
  }
}"#;

fn token(iss: &str, claims: Value) -> VerifiedToken {
    let config = IssuerConfig::from_json_or_yaml(CONFIG).unwrap();
    let mut claims = match claims {
        Value::Object(m) => m,
        _ => unreachable!(),
    };
    claims.insert("iss".into(), json!(iss));
    claims.entry("sub").or_insert(json!("subject-1"));
    VerifiedToken {
        issuer: config.issuer_for(iss).unwrap(),
        claims,
    }
}

fn ok(iss: &str, claims: Value) -> Principal {
    principal(&token(iss, claims)).unwrap()
}

fn err(iss: &str, claims: Value) -> PrincipalError {
    principal(&token(iss, claims)).unwrap_err()
}

fn github_claims() -> Value {
    json!({
        "sub": "repo:o/r:ref:refs/heads/main",
        "job_workflow_ref": "o/r/.github/workflows/w.yml@refs/heads/main",
        "job_workflow_sha": "js", "sha": "s", "event_name": "push", "repository": "o/r",
        "workflow": "W", "ref": "refs/heads/main", "runner_environment": "github-hosted",
        "repository_id": "1", "repository_owner": "o", "repository_owner_id": 2,
        "workflow_ref": "o/r/.github/workflows/w.yml@refs/heads/main", "workflow_sha": "ws",
        "run_id": "3", "run_attempt": "4", "repository_visibility": "public"
    })
}

// ---- email ----

#[test]
fn email_happy_path() {
    let p = ok(
        "https://mail.example",
        json!({"email": "alice@example.com", "email_verified": true}),
    );
    assert_eq!(p.san, SubjectAltName::Email("alice@example.com".into()));
    assert_eq!(p.issuer, "https://mail.example");
    assert_eq!(p.subject, "subject-1");
    assert_eq!(
        p.challenge, "alice@example.com",
        "email issuers sign the email"
    );
    assert!(p.ci.is_empty());
    // The string "true" is accepted too (Fulcio does).
    ok(
        "https://mail.example",
        json!({"email": "alice@example.com", "email_verified": "true"}),
    );
}

#[test]
fn email_must_be_verified() {
    for verified in [json!(false), json!("false"), json!(1), json!(null)] {
        let e = err(
            "https://mail.example",
            json!({"email": "a@example.com", "email_verified": verified}),
        );
        assert!(matches!(e, PrincipalError::EmailNotVerified(_)), "{e}");
    }
    let e = err("https://mail.example", json!({"email": "a@example.com"}));
    assert_eq!(
        e.to_string(),
        "email address is not verified (email_verified is absent)"
    );
    // SkipEmailVerification lifts exactly that requirement.
    let p = ok(
        "https://skip.example",
        json!({"email": "a@example.com", "email_verified": false}),
    );
    assert_eq!(p.san, SubjectAltName::Email("a@example.com".into()));
}

#[test]
fn email_must_be_present_and_valid() {
    assert!(matches!(
        err("https://mail.example", json!({"email_verified": true})),
        PrincipalError::MissingClaim(c) if c == "email"
    ));
    for bad in [
        "alice",
        "@example.com",
        "alice@",
        "a b@example.com",
        "Alice <a@example.com>",
        "a@b@example.com",
        "a@exa..mple.com",
        ".a@example.com",
    ] {
        let e = err("https://skip.example", json!({"email": bad}));
        assert!(matches!(e, PrincipalError::InvalidEmail(_)), "{bad}: {e}");
    }
}

#[test]
fn issuer_claim_path() {
    let p = ok(
        "https://dex.example",
        json!({"email": "a@example.com", "email_verified": true,
               "federated_claims": {"connector_id": "https://github.com/login/oauth", "user_id": "1"}}),
    );
    assert_eq!(p.issuer, "https://github.com/login/oauth");
    let missing = err(
        "https://dex.example",
        json!({"email": "a@example.com", "email_verified": true}),
    );
    assert!(
        matches!(missing, PrincipalError::IssuerClaim { .. }),
        "{missing}"
    );
    let not_string = err(
        "https://dex.example",
        json!({"email": "a@example.com", "email_verified": true,
               "federated_claims": {"connector_id": 5}}),
    );
    assert!(matches!(not_string, PrincipalError::IssuerClaim { .. }));
    let unsupported = err(
        "https://dex-bad.example",
        json!({"email": "a@example.com", "email_verified": true, "federated_claims": ["x"]}),
    );
    assert!(
        unsupported.to_string().contains("only the dotted form"),
        "{unsupported}"
    );
}

#[test]
fn challenge_claim_override_and_emptiness() {
    let p = ok(
        "https://challenge.example",
        json!({"email": "a@example.com", "email_verified": true, "sub": "s-9"}),
    );
    assert_eq!(p.challenge, "s-9");
    let e = err(
        "https://challenge.example",
        json!({"email": "a@example.com", "email_verified": true, "sub": 7}),
    );
    // `sub` itself is checked first.
    assert!(matches!(e, PrincipalError::ClaimType { .. }), "{e}");
}

// ---- CI ----

#[test]
fn ci_provider_renders_templates() {
    let mut c = github_claims();
    c["environment"] = json!("prod");
    let p = ok("https://gh.example", c);
    assert_eq!(
        p.san,
        SubjectAltName::Uri(
            "https://github.com/o/r/.github/workflows/w.yml@refs/heads/main".into()
        )
    );
    assert_eq!(p.challenge, "repo:o/r:ref:refs/heads/main");
    let get = |f: ExtensionField| p.ci.iter().find(|(g, _)| *g == f).map(|(_, v)| v.as_str());
    assert_eq!(get(ExtensionField::DeploymentEnvironment), Some("prod"));
    assert_eq!(
        get(ExtensionField::SourceRepositoryOwnerIdentifier),
        Some("2")
    );
    assert_eq!(
        get(ExtensionField::RunInvocationUri),
        Some("https://github.com/o/r/actions/runs/3/attempts/4")
    );
    let mut missing = github_claims();
    missing.as_object_mut().unwrap().remove("workflow_sha");
    let e = err("https://gh.example", missing);
    assert!(matches!(e, PrincipalError::Template { .. }), "{e}");
    assert!(e.to_string().contains("workflow_sha"), "{e}");
}

#[test]
fn legacy_github_matches_the_template_mapping() {
    let legacy = ok(
        "https://token.actions.githubusercontent.com",
        github_claims(),
    );
    let templated = ok("https://gh.example", github_claims());
    assert_eq!(legacy.san, templated.san);
    // Without an `environment` claim both paths give the same 19 extensions.
    assert_eq!(legacy.ci, templated.ci);
    assert_eq!(legacy.ci.len(), 19);
    // The shipped github-workflow provider agrees as well.
    let shipped = SHIPPED
        .as_ref()
        .unwrap()
        .ci_provider("github-workflow")
        .unwrap();
    let mut claims = match github_claims() {
        Value::Object(m) => m,
        _ => unreachable!(),
    };
    claims.insert("iss".into(), json!("x"));
    assert_eq!(shipped.render(&claims).unwrap().extensions, legacy.ci);
    // Each of the 16 claims is required.
    for name in GITHUB_REQUIRED {
        let mut c = github_claims();
        c.as_object_mut().unwrap().remove(name);
        let e = err("https://token.actions.githubusercontent.com", c);
        assert_eq!(e, PrincipalError::MissingClaim(name.into()));
    }
    let mut c = github_claims();
    c["sha"] = json!(["x"]);
    assert!(matches!(
        err("https://token.actions.githubusercontent.com", c),
        PrincipalError::ClaimType { .. }
    ));
}

#[test]
fn legacy_buildkite_and_gitlab_use_the_shipped_providers() {
    let p = ok(
        "https://agent.buildkite.com",
        json!({"organization_slug": "acme", "pipeline_slug": "app", "build_number": 9,
               "job_id": "j", "build_commit": "c", "build_source": "ui",
               "runner_environment": "buildkite-hosted"}),
    );
    assert_eq!(
        p.san,
        SubjectAltName::Uri("https://buildkite.com/acme/app".into())
    );
    assert!(p.ci.contains(&(
        ExtensionField::RunInvocationUri,
        "https://buildkite.com/acme/app/builds/9#j".into()
    )));
    let e = err("https://gitlab.com", json!({"project_path": "g/p"}));
    assert!(matches!(e, PrincipalError::Template { .. }), "{e}");
}

// ---- kubernetes, spiffe, uri, username, chainguard ----

#[test]
fn kubernetes() {
    let p = ok(
        "https://k8s.example",
        json!({"sub": "system:serviceaccount:ns1:sa1",
               "kubernetes.io": {"namespace": "ns1", "serviceaccount": {"name": "sa1", "uid": "u"}}}),
    );
    assert_eq!(
        p.san,
        SubjectAltName::Uri("https://kubernetes.io/namespaces/ns1/serviceaccounts/sa1".into())
    );
    assert_eq!(p.challenge, "system:serviceaccount:ns1:sa1");
    for bad in [
        json!({}),
        json!({"kubernetes.io": "ns1"}),
        json!({"kubernetes.io": {"namespace": "ns1"}}),
        json!({"kubernetes.io": {"serviceaccount": {"name": "sa"}}}),
        json!({"kubernetes.io": {"namespace": "../x", "serviceaccount": {"name": "sa"}}}),
        json!({"kubernetes.io": {"namespace": "ns", "serviceaccount": {"name": "a/b"}}}),
    ] {
        let e = err("https://k8s.example", bad.clone());
        assert!(matches!(e, PrincipalError::Kubernetes(_)), "{bad}: {e}");
    }
}

#[test]
fn spiffe() {
    let id = "spiffe://example.org/ns/prod/sa/builder";
    let p = ok("https://spire.example.org", json!({"sub": id}));
    assert_eq!(p.san, SubjectAltName::Uri(id.into()));
    assert_eq!(p.challenge, id);
    for bad in [
        "spiffe://other.org/ns/prod",
        "spiffe://example.org.evil/x",
        "spiffe://EXAMPLE.org/x",
        "spiffe://example.org/a//b",
        "spiffe://example.org/a/../b",
        "spiffe://example.org/a/",
        "spiffe://example.org:443/a",
        "spiffe://user@example.org/a",
        "https://example.org/a",
        "example.org/a",
    ] {
        let e = err("https://spire.example.org", json!({"sub": bad}));
        assert!(matches!(e, PrincipalError::Spiffe { .. }), "{bad}: {e}");
    }
}

#[test]
fn uri() {
    let sub = "https://corp.example.com/users/alice";
    let p = ok("https://id.corp.example.com", json!({"sub": sub}));
    assert_eq!(p.san, SubjectAltName::Uri(sub.into()));
    for bad in [
        "https://evil.example.com/users/alice",
        "http://corp.example.com/users/alice",
        "https://corp.example.com.evil/alice",
        "alice@corp.example.com",
        "not a url",
    ] {
        let e = err("https://id.corp.example.com", json!({"sub": bad}));
        assert!(matches!(e, PrincipalError::Uri { .. }), "{bad}: {e}");
    }
}

#[test]
fn username() {
    let p = ok("https://users.example.com", json!({"sub": "alice"}));
    assert_eq!(p.san, SubjectAltName::Username("alice!example.com".into()));
    assert_eq!(p.challenge, "alice");
    for bad in ["alice!evil.com", "alice@example.com"] {
        let e = err("https://users.example.com", json!({"sub": bad}));
        assert!(matches!(e, PrincipalError::Username { .. }), "{bad}: {e}");
    }
}

#[test]
fn chainguard_identity() {
    let p = ok("https://issuer.enforce.dev", json!({"sub": "abc123/def"}));
    assert_eq!(
        p.san,
        SubjectAltName::Uri("https://issuer.enforce.dev/abc123/def".into())
    );
}

#[test]
fn json_path_forms() {
    let claims: Map<String, Value> = match json!({"a": {"b": {"c": "v"}}, "x": "y"}) {
        Value::Object(m) => m,
        _ => unreachable!(),
    };
    assert_eq!(json_path(&claims, "$.a.b.c").unwrap(), "v");
    assert_eq!(json_path(&claims, "$.x").unwrap(), "y");
    for bad in ["$.a.b", "$.x.y", "$..c", "$.a['b']", "$.a.*", "a.b", "$."] {
        assert!(json_path(&claims, bad).is_err(), "{bad}");
    }
}

use super::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use std::collections::HashMap;

const NOW: u64 = 1_800_000_000;

/// An unsigned JWT-shaped string with `claims` (the pre-checks never look at the signature).
fn jwt(claims: serde_json::Value) -> String {
    format!(
        "{}.{}.c2ln",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

fn good() -> serde_json::Value {
    json!({"iss": "https://token.actions.githubusercontent.com", "sub": "repo:o/r:ref:refs/heads/main",
           "aud": "sigstore", "exp": NOW + 300})
}

fn env(pairs: &[(&'static str, &'static str)]) -> HashMap<&'static str, &'static str> {
    pairs.iter().copied().collect()
}

#[test]
fn flag_beats_sigstore_id_token_beats_github() {
    let all = env(&[
        ("SIGSTORE_ID_TOKEN", "from-env"),
        ("ACTIONS_ID_TOKEN_REQUEST_URL", "https://gh/token?x=1"),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "bearer"),
    ]);
    assert_eq!(
        plan(Some("from-flag"), &all).unwrap(),
        Plan::Ready("from-flag".into(), TokenSource::Flag)
    );
    assert_eq!(
        plan(None, &all).unwrap(),
        Plan::Ready("from-env".into(), TokenSource::SigstoreIdToken)
    );
    // An empty flag or variable counts as absent, as in CI templates that expand to "".
    let github_only = env(&[
        ("SIGSTORE_ID_TOKEN", ""),
        ("ACTIONS_ID_TOKEN_REQUEST_URL", "https://gh/token?x=1"),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "bearer"),
    ]);
    assert_eq!(
        plan(Some(""), &github_only).unwrap(),
        Plan::GitHub {
            url: "https://gh/token?x=1".into(),
            bearer: "bearer".into()
        }
    );
}

#[test]
fn missing_sources_are_named() {
    assert!(matches!(
        plan(None, &env(&[])),
        Err(AttestError::NoTokenSource)
    ));
    assert!(matches!(
        plan(None, &env(&[("GITHUB_ACTIONS", "true")])),
        Err(AttestError::GitHubTokenVariableMissing {
            missing: "ACTIONS_ID_TOKEN_REQUEST_URL"
        })
    ));
    assert!(matches!(
        plan(
            None,
            &env(&[("ACTIONS_ID_TOKEN_REQUEST_URL", "https://gh/t?a=1")])
        ),
        Err(AttestError::GitHubTokenVariableMissing {
            missing: "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
        })
    ));
    let message = plan(None, &env(&[])).unwrap_err().to_string();
    assert!(message.contains("--identity-token") && message.contains("id-token: write"));
}

#[test]
fn a_good_token_yields_sub_as_proof_subject() {
    let subject = precheck(&jwt(good()), TokenSource::Flag, NOW).unwrap();
    assert_eq!(subject, "repo:o/r:ref:refs/heads/main");
}

#[test]
fn email_issuers_prove_the_email() {
    let mut claims = good();
    claims["iss"] = json!("https://oauth2.sigstore.dev/auth");
    claims["email"] = json!("dev@example.com");
    assert_eq!(
        precheck(&jwt(claims.clone()), TokenSource::Flag, NOW).unwrap(),
        "dev@example.com"
    );
    claims.as_object_mut().unwrap().remove("email");
    assert!(matches!(
        precheck(&jwt(claims), TokenSource::Flag, NOW),
        Err(AttestError::TokenClaimMissing { claim: "email", .. })
    ));
}

#[test]
fn expired_tokens_are_refused_locally() {
    let mut claims = good();
    claims["exp"] = json!(NOW - 42);
    let err = precheck(&jwt(claims), TokenSource::SigstoreIdToken, NOW).unwrap_err();
    assert!(matches!(
        err,
        AttestError::TokenExpired {
            ago_seconds: 42,
            source_name: "SIGSTORE_ID_TOKEN"
        }
    ));
    assert!(err.to_string().contains("expired 42 s ago"));
}

#[test]
fn audience_must_include_sigstore() {
    let mut claims = good();
    claims["aud"] = json!("npm:registry.npmjs.org");
    let err = precheck(&jwt(claims.clone()), TokenSource::Flag, NOW).unwrap_err();
    assert!(matches!(err, AttestError::WrongAudience { .. }));
    assert!(err.to_string().contains("npm:registry.npmjs.org"));
    // An array audience containing sigstore is fine (RFC 7519).
    claims["aud"] = json!(["other", "sigstore"]);
    assert!(precheck(&jwt(claims.clone()), TokenSource::Flag, NOW).is_ok());
    claims.as_object_mut().unwrap().remove("aud");
    assert!(matches!(
        precheck(&jwt(claims), TokenSource::Flag, NOW),
        Err(AttestError::WrongAudience { .. })
    ));
}

#[test]
fn malformed_tokens_are_refused() {
    for bad in [
        "not-a-jwt".to_owned(),
        "a.b".to_owned(),
        "a.b.c.d".to_owned(),
        "a.!!!.c".to_owned(),
        format!("a.{}.c", URL_SAFE_NO_PAD.encode("[1]")),
        jwt(json!({"sub": "x", "aud": "sigstore"})),
        jwt(json!({"sub": "x", "aud": "sigstore", "exp": "soon"})),
    ] {
        assert!(
            matches!(
                precheck(&bad, TokenSource::Flag, NOW),
                Err(AttestError::MalformedToken { .. })
            ),
            "{bad}"
        );
    }
}

//! Issuance policies (`mayfly::policy::Policy::from_yaml_or_json`) and their evaluation.
//!
//! Input: the policy text, then optionally a line `---claims---` followed by the claims JSON
//! of a verified token (a fixed GitHub Actions claim set when absent or not an object).
//!
//! Beyond "no panic": a loaded policy has rules, and the same document loads to the same
//! rules whether written as JSON or as YAML; evaluation is deterministic; a decision is
//! coherent: it allows only through a rule that was evaluated (the last one), evaluates rules
//! in file order and only rules of the policy, and an evaluation error never allows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mayfly::policy::{Decision, Policy};
use serde_json::{Map, Value, json};

const ISSUER: &str = "https://token.actions.githubusercontent.com";
const IDENTITY: &str =
    "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0";
const SEPARATOR: &str = "\n---claims---\n";

fn known_issuer(issuer: &str) -> bool {
    matches!(
        issuer,
        ISSUER | "https://gitlab.com" | "https://oidc.eks.*.amazonaws.com/id/*"
    )
}

fn default_claims() -> Map<String, Value> {
    let claims = json!({
        "iss": ISSUER,
        "sub": "repo:acme/app:ref:refs/tags/v1.0.0",
        "repository": "acme/app",
        "repository_owner": "acme",
        "repository_owner_id": "42",
        "ref": "refs/tags/v1.0.0",
        "workflow_ref": "acme/app/.github/workflows/release.yml@refs/tags/v1.0.0",
        "event_name": "push",
        "run_attempt": 1,
        "groups": ["a", "b"],
        "nested": {"x": 1.5, "y": null},
    });
    match claims {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn check_coherent(policy: &Policy, decision: &Decision) {
    let names: Vec<&str> = policy.rule_names().collect();
    let mut position = 0;
    for evaluated in &decision.evaluated {
        let found = names[position..]
            .iter()
            .position(|n| n == evaluated)
            .expect("an evaluated rule is a rule of the policy, in file order");
        position += found + 1;
    }
    if decision.allowed {
        let rule = decision.rule.as_deref().expect("an allow names its rule");
        assert_eq!(decision.evaluated.last().map(String::as_str), Some(rule));
        assert!(
            decision.errors.iter().all(|(name, _)| name != rule),
            "a rule that failed to evaluate allowed"
        );
    } else {
        assert!(decision.rule.is_none());
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (policy_text, claims) = match text.split_once(SEPARATOR) {
        Some((policy, claims)) => match serde_json::from_str::<Value>(claims) {
            Ok(Value::Object(map)) => (policy, map),
            _ => (policy, default_claims()),
        },
        None => (text, default_claims()),
    };
    let policy = match Policy::from_yaml_or_json(policy_text, &known_issuer) {
        Ok(policy) => policy,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    assert!(!policy.is_empty() && policy.len() == policy.rule_names().count());

    for issuer in [ISSUER, "https://gitlab.com", "https://oidc.eks.eu-west-1.amazonaws.com/id/A"] {
        let decision = policy.evaluate(issuer, &claims, IDENTITY);
        check_coherent(&policy, &decision);
        assert_eq!(decision, policy.evaluate(issuer, &claims, IDENTITY), "deterministic");
    }

    // The document as from_yaml_or_json read it, in the other syntax, is the same policy.
    let document: Value = if policy_text.trim_start().starts_with('{') {
        serde_json::from_str(policy_text).expect("an accepted JSON policy is JSON")
    } else {
        serde_norway::from_str(policy_text).expect("an accepted YAML policy is YAML")
    };
    let as_json = serde_json::to_string(&document).expect("JSON text");
    let again = Policy::from_yaml_or_json(&as_json, &known_issuer).expect("the policy as JSON");
    assert!(again.rule_names().eq(policy.rule_names()), "as JSON");
    let decision = again.evaluate(ISSUER, &claims, IDENTITY);
    assert_eq!(decision, policy.evaluate(ISSUER, &claims, IDENTITY), "as JSON");
});

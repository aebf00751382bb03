use mayfly::policy::{Decision, Policy, PolicyError};
use serde_json::{Map, Value, json};

const GITHUB: &str = "https://token.actions.githubusercontent.com";
const GITLAB: &str = "https://gitlab.com";
const EKS: &str = "https://oidc.eks.*.amazonaws.com/id/*";

fn known(issuer: &str) -> bool {
    [GITHUB, GITLAB, EKS].contains(&issuer)
}

fn load(text: &str) -> Result<Policy, PolicyError> {
    Policy::from_yaml_or_json(text, &known)
}

fn claims(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("claims must be an object"),
    }
}

fn github_claims(owner: &str, git_ref: &str) -> Map<String, Value> {
    claims(json!({
        "iss": GITHUB,
        "sub": format!("repo:{owner}/app:ref:{git_ref}"),
        "repository": format!("{owner}/app"),
        "repository_owner": owner,
        "ref": git_ref,
        "run_attempt": "1",
        "runner_environment": "github-hosted",
        "job_workflow_ref": format!("{owner}/app/.github/workflows/release.yml@{git_ref}"),
        "iat": 1_700_000_000,
        "groups": ["dev", "release"],
    }))
}

const ACME: &str = r#"
rules:
  - name: acme-releases
    issuer: https://token.actions.githubusercontent.com
    allow: 'claims.repository_owner == "acme" && claims.ref.startsWith("refs/tags/")'
"#;

fn identity(owner: &str) -> String {
    format!("https://github.com/{owner}/app/.github/workflows/release.yml@refs/tags/v1")
}

#[test]
fn allows_the_matching_rule_and_names_it() {
    let p = load(ACME).unwrap();
    let d = p.evaluate(
        GITHUB,
        &github_claims("acme", "refs/tags/v1"),
        &identity("acme"),
    );
    assert_eq!(
        d,
        Decision {
            allowed: true,
            rule: Some("acme-releases".into()),
            errors: vec![],
            evaluated: vec!["acme-releases".into()],
        }
    );
}

#[test]
fn denies_when_no_rule_is_true() {
    let p = load(ACME).unwrap();
    for (owner, git_ref) in [("evil", "refs/tags/v1"), ("acme", "refs/heads/main")] {
        let d = p.evaluate(GITHUB, &github_claims(owner, git_ref), &identity(owner));
        assert!(!d.allowed, "{owner} {git_ref}");
        assert_eq!(d.rule, None);
        assert!(d.errors.is_empty(), "{:?}", d.errors);
        assert_eq!(d.evaluated, ["acme-releases"]);
    }
}

#[test]
fn exact_issuer_scope_skips_other_issuers() {
    let p = load(ACME).unwrap();
    // Same claims, but from another configured issuer: the rule does not apply.
    let d = p.evaluate(GITLAB, &github_claims("acme", "refs/tags/v1"), "x");
    assert!(!d.allowed);
    assert!(d.evaluated.is_empty());
    // An issuer that is a prefix or extension of the configured URL does not match either.
    let d = p.evaluate(
        &format!("{GITHUB}/acme"),
        &github_claims("acme", "refs/tags/v1"),
        "x",
    );
    assert!(!d.allowed);
}

#[test]
fn meta_issuer_pattern_scope() {
    let p = load(&format!(
        "rules:\n  - name: eks\n    issuer: '{EKS}'\n    allow: 'claims.sub == \"system:serviceaccount:ci:signer\"'\n"
    ))
    .unwrap();
    let c = claims(json!({"sub": "system:serviceaccount:ci:signer"}));
    let ok = p.evaluate(
        "https://oidc.eks.eu-west-1.amazonaws.com/id/ABCDEF0123",
        &c,
        "x",
    );
    assert!(ok.allowed, "{ok:?}");
    for other in [
        "https://oidc.eks.eu.west.amazonaws.com/id/ABC",
        "https://oidc.eks.x.amazonaws.com/id/A/B",
        "https://oidc.eks.x.amazonaws.com.evil.example/id/A",
        GITHUB,
    ] {
        let d = p.evaluate(other, &c, "x");
        assert!(!d.allowed && d.evaluated.is_empty(), "{other}: {d:?}");
    }
}

#[test]
fn a_rule_without_issuer_applies_to_every_issuer() {
    let p = load("rules:\n  - name: corp-mail\n    allow: identity.endsWith('@acme.example') && issuer != ''\n").unwrap();
    for iss in [GITHUB, GITLAB, "https://anything.example"] {
        assert!(p.evaluate(iss, &Map::new(), "alice@acme.example").allowed);
        assert!(!p.evaluate(iss, &Map::new(), "alice@evil.example").allowed);
    }
}

#[test]
fn runtime_errors_deny_and_are_reported() {
    let p = load(
        r#"
rules:
  - name: missing-claim
    allow: claims.environment == "production"
  - name: wrong-type
    allow: claims.run_attempt > 0
  - name: not-a-bool
    allow: claims.runner_environment
  - name: bad-index
    allow: claims.groups[5] == "admin"
"#,
    )
    .unwrap();
    let d = p.evaluate(GITHUB, &github_claims("acme", "refs/tags/v1"), "x");
    assert!(!d.allowed);
    assert_eq!(d.rule, None);
    let by_rule: Vec<&str> = d.errors.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(
        by_rule,
        ["missing-claim", "wrong-type", "not-a-bool", "bad-index"]
    );
    assert!(
        d.errors[0].1.contains("No such key: environment"),
        "{:?}",
        d.errors
    );
    assert!(d.errors[2].1.contains("not a bool"), "{:?}", d.errors);
}

#[test]
fn an_error_in_one_rule_does_not_stop_a_later_rule_from_allowing() {
    let p = load(
        r#"
rules:
  - name: broken
    allow: claims.environment == "production"
  - name: fine
    allow: has(claims.environment) || claims.repository_owner == "acme"
"#,
    )
    .unwrap();
    let d = p.evaluate(GITHUB, &github_claims("acme", "refs/tags/v1"), "x");
    assert!(d.allowed);
    assert_eq!(d.rule.as_deref(), Some("fine"));
    assert_eq!(d.errors.len(), 1);
    assert_eq!(d.errors[0].0, "broken");
}

#[test]
fn macros_and_json_values_work() {
    let p = load(
        r#"{"rules": [{"name": "json-rule", "allow":
            "claims.groups.exists(g, g == 'release') && claims.iat > 1600000000 && size(claims.groups) == 2 && claims.groups.all(g, g.matches('^[a-z]+$')) && 'dev' in claims.groups && claims['repository'].endsWith('/app')"}]}"#,
    )
    .unwrap();
    let d = p.evaluate(GITHUB, &github_claims("acme", "refs/tags/v1"), "x");
    assert!(d.allowed, "{d:?}");
}

/// Every function the static checker admits must exist in the interpreter: a checker that
/// accepts what the runtime lacks would turn load-time errors into per-request denials.
#[test]
fn every_known_function_runs() {
    let exprs = [
        "size('ab') == 2 && size(b'ab') == 2 && size([1]) == 1 && size({'a': 1}) == 1",
        "'ab'.size() == 2 && [1, 2].size() == 2",
        "int('3') == 3 && int(3u) == 3 && int(3.5) == 3",
        "uint('3') == 3u && uint(3) == 3u",
        "double('1.5') == 1.5 && double(2) == 2.0",
        "string(1) == '1' && string(true) == 'true' && string(b'a') == 'a' && string(1u) == '1'",
        "bytes('a') == b'a'",
        "bool('true') && bool(true)",
        "type(1) == int && type('a') == string && type(claims) == map",
        "dyn(1) == 1",
        "matches('abc', '^a') && 'abc'.matches('c$')",
        "'abc'.contains('b') && 'abc'.startsWith('a') && 'abc'.endsWith('c')",
        "[1, 2].filter(x, x > 1) == [2] && [1, 2].map(x, x * 2) == [2, 4]",
        "[1, 2].exists_one(x, x == 2) && [1, 2].all(x, x > 0) && [1].exists(x, x == 1)",
        "-(1) == -1 && 7 % 3 == 1 && 6 / 2 == 3 && 2 * 3 == 6 && 3 - 1 == 2 && !false",
        "'a' + 'b' == 'ab' && [1] + [2] == [1, 2] && 1 < 2 && 2 >= 2 && 'a' <= 'b'",
        "(true ? 1 : 2) == 1 && {'k': 1}['k'] == 1 && 'k' in {'k': 1}",
    ];
    for e in exprs {
        let p = load(&format!("rules:\n  - name: f\n    allow: \"{e}\"\n"))
            .unwrap_or_else(|err| panic!("{e}: {err}"));
        let d = p.evaluate(GITHUB, &Map::new(), "x");
        assert!(d.allowed, "{e}: {d:?}");
    }
}

#[test]
fn ten_rules_last_matches() {
    let mut text = String::from("rules:\n");
    for i in 1..=9 {
        text.push_str(&format!(
            "  - name: rule-{i}\n    issuer: {GITHUB}\n    allow: claims.repository_owner == \"org{i}\" && claims.ref.startsWith(\"refs/tags/\")\n"
        ));
    }
    text.push_str(&format!(
        "  - name: rule-10\n    issuer: {GITHUB}\n    allow: claims.repository_owner == \"acme\" && claims.ref.startsWith(\"refs/tags/\")\n"
    ));
    let p = load(&text).unwrap();
    assert_eq!(p.len(), 10);
    let d = p.evaluate(GITHUB, &github_claims("acme", "refs/tags/v1"), "x");
    assert!(d.allowed);
    assert_eq!(d.rule.as_deref(), Some("rule-10"));
    assert_eq!(d.evaluated.len(), 10);
    assert!(d.errors.is_empty());
    let d = p.evaluate(GITHUB, &github_claims("org3", "refs/tags/v1"), "x");
    assert_eq!(d.rule.as_deref(), Some("rule-3"));
    assert_eq!(d.evaluated.len(), 3);
}

fn load_err(text: &str) -> String {
    load(text).expect_err(text).to_string()
}

fn one_rule(name: &str, allow: &str) -> String {
    format!("rules:\n  - name: {name}\n    allow: {allow}\n")
}

#[test]
fn file_shape_errors() {
    let e = load_err("rules:\n  - name: a\n    allow: 'true'\n    alow: 'false'\n");
    assert!(e.contains("unknown field `alow`"), "{e}");
    let e = load_err("rulez: []\n");
    assert!(e.contains("unknown field `rulez`"), "{e}");
    let e = load_err("rules:\n  - name: a\n");
    assert!(e.contains("missing field `allow`"), "{e}");
    let e = load_err(r#"{"rules": [{"name": "a", "allow": "true", "extra": 1}]}"#);
    assert!(e.contains("unknown field `extra`"), "{e}");
    assert_eq!(
        load_err("rules: []\n"),
        "the policy has no rules: it would deny every request"
    );
}

#[test]
fn name_errors() {
    assert_eq!(
        load_err(&one_rule("''", "'true'")),
        "rule #1: `name` is empty"
    );
    let e = load_err(&one_rule("'two words'", "'true'"));
    assert!(
        e.starts_with("rule #1 (\"two words\"): a rule name is 1 to 64"),
        "{e}"
    );
    let e = load_err(
        "rules:\n  - {name: a, allow: 'true'}\n  - {name: b, allow: 'true'}\n  - {name: a, allow: 'false'}\n",
    );
    assert_eq!(e, "rule \"a\" is defined twice (rules #1 and #3)");
}

#[test]
fn issuer_errors() {
    let e = load_err(
        "rules:\n  - name: r\n    issuer: https://accounts.google.com\n    allow: 'true'\n",
    );
    assert_eq!(
        e,
        "rule \"r\": issuer \"https://accounts.google.com\" is not a configured issuer URL or meta-issuer pattern"
    );
    // A pattern must be a configured pattern verbatim, not merely match one.
    let e = load_err(
        "rules:\n  - name: r\n    issuer: 'https://oidc.eks.*.amazonaws.com/*'\n    allow: 'true'\n",
    );
    assert!(e.contains("is not a configured issuer"), "{e}");
    let e = load_err("rules:\n  - name: r\n    issuer: ''\n    allow: 'true'\n");
    assert_eq!(
        e,
        "rule \"r\": `issuer` is empty; leave it out to apply the rule to every issuer"
    );
}

#[test]
fn syntax_errors_name_rule_line_and_column() {
    assert_eq!(
        load_err(&one_rule("r", "\"  \"")),
        "rule \"r\": `allow` is empty"
    );
    let err = load(&one_rule("r", "'claims.x == '")).unwrap_err();
    let PolicyError::Syntax {
        rule, line, column, ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!((rule.as_str(), *line, *column), ("r", 1, 13), "{err}");
    assert!(
        err.to_string()
            .starts_with("rule \"r\": CEL syntax error in `allow` at line 1, column 13:"),
        "{err}"
    );
    // Columns count characters, not bytes.
    let err = load(&one_rule("r", "'\"é\" == '")).unwrap_err();
    assert!(
        matches!(err, PolicyError::Syntax { column: 8, .. }),
        "{err}"
    );
    // A multi-line expression (YAML block scalar): the position is within the expression.
    let err = load("rules:\n  - name: multi\n    allow: |\n      claims.a == \"x\" &&\n        claims.b == )\n").unwrap_err();
    let PolicyError::Syntax { line, column, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!((*line, *column), (2, 15), "{err}");
}

#[test]
fn type_errors_name_rule_line_and_column() {
    for (allow, line, column, message) in [
        (
            "'claims.x + 1'",
            1,
            10,
            "the expression yields int, never a bool",
        ),
        (
            "'\"a\"'",
            1,
            1,
            "the expression yields string, never a bool",
        ),
        (
            "'claims.a == \"x\" || 3'",
            1,
            17,
            "no matching overload for '||' applied to (bool, int)",
        ),
        ("'request.ip == \"1\"'", 1, 1, "unknown variable 'request'"),
        (
            "'lower(claims.x) == \"a\"'",
            1,
            6,
            "unknown function 'lower'",
        ),
        (
            "'claims.x.lowerAscii() == \"a\"'",
            1,
            20,
            "unknown method 'lowerAscii'",
        ),
        (
            "'issuer.startsWith(1)'",
            1,
            18,
            "no matching overload for 'startsWith' applied to string.(int)",
        ),
        ("'identity == 1'", 1, 10, "'==' compares string with int"),
        (
            "'claims.x.matches(\"[\")'",
            1,
            18,
            "invalid regular expression",
        ),
        // Columns count characters: 'é' is two bytes but one column.
        (
            "'claims.g == \"é\" && request == 1'",
            1,
            20,
            "unknown variable 'request'",
        ),
        (
            "'claims.g.exists(g, g == 1) && g == 1'",
            1,
            31,
            "unknown variable 'g'",
        ),
    ] {
        let err = load(&one_rule("t", allow)).unwrap_err();
        let PolicyError::Type {
            rule,
            line: l,
            column: c,
            message: m,
        } = &err
        else {
            panic!("{allow}: {err}")
        };
        assert_eq!(rule, "t");
        assert!(m.contains(message), "{allow}: {err}");
        assert_eq!((*l, *c), (line, column), "{allow}: {err}");
    }
}

/// Hostile or odd values reaching the interpreter give a decision, never a panic.
#[test]
fn edge_values_never_panic() {
    let c = claims(json!({
        "big": i64::MAX, "small": i64::MIN, "u": u64::MAX, "f": 1.5e308, "zero": 0,
        "re": "(", "s": "x", "nested": {"a": [{"b": null}]}, "list": [1, "a", null, true],
    }));
    for e in [
        "claims.big + 1 == 0",
        "claims.small - 1 == 0",
        "-claims.small == 0",
        "claims.small / -1 == 0",
        "claims.small % -1 == 0",
        "claims.big * 2 == 0",
        "claims.u + 1u == 0u",
        "claims.f * 10.0 > 0.0",
        "1 / claims.zero == 0",
        "1 % claims.zero == 0",
        "claims.s.matches(claims.re)",
        "claims.nested.a[0].b == null",
        "claims.nested.a[1].b == null",
        "claims.list[-1] == 1",
        "claims.list.exists(x, x > 0)",
        "int(claims.f) == 0",
        "uint(claims.small) == 0u",
        "int(claims.u) == 0",
        "double(claims.s) == 0.0",
        "string(claims.nested) == ''",
        "claims.list.map(x, [x, x]).size() > 0",
        "claims.nested == claims.list",
    ] {
        let p = load(&format!("rules:\n  - name: e\n    allow: \"{e}\"\n"))
            .unwrap_or_else(|err| panic!("{e}: {err}"));
        let d = p.evaluate(GITHUB, &c, "x");
        assert!(!d.allowed || d.errors.is_empty(), "{e}: {d:?}");
    }
}

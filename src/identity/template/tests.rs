use super::*;
use serde_json::json;

fn claims(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn render(t: &str, c: Value, defaults: &[(&str, &str)]) -> Result<String, TemplateError> {
    let defaults: BTreeMap<String, String> = defaults
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Template::parse(t)
        .map_err(|e| TemplateError::Exec(e.to_string()))?
        .render_claims(&claims(c), &defaults)
}

#[test]
fn field_access_and_literal_text() {
    let out = render(
        "{{ .url }}/{{ .repository }}/actions/runs/{{.run_id}}",
        json!({"repository": "o/r", "run_id": "42"}),
        &[("url", "https://github.com")],
    );
    assert_eq!(out, Ok("https://github.com/o/r/actions/runs/42".to_owned()));
}

#[test]
fn bare_key_names_a_claim() {
    assert_eq!(
        render("sha", json!({"sha": "abc"}), &[]),
        Ok("abc".to_owned())
    );
    assert_eq!(
        render("sha", json!({}), &[]),
        Err(TemplateError::MissingKey("sha".to_owned()))
    );
    // A bare name may contain characters that are not identifiers.
    assert_eq!(
        render(
            "oidc.circleci.com/vcs-ref",
            json!({"oidc.circleci.com/vcs-ref": "refs/heads/x"}),
            &[]
        ),
        Ok("refs/heads/x".to_owned())
    );
}

#[test]
fn missing_claim_in_template_is_an_error() {
    assert_eq!(
        render("{{ .url }}/{{ .nope }}", json!({}), &[("url", "u")]),
        Err(TemplateError::MissingKey("nope".to_owned()))
    );
    assert_eq!(
        render("{{ if eq .nope \"x\" }}a{{ end }}", json!({}), &[]),
        Err(TemplateError::MissingKey("nope".to_owned()))
    );
}

#[test]
fn claims_override_defaults_and_defaults_fill_gaps() {
    assert_eq!(
        render(
            "{{ .url }}",
            json!({"url": "https://gitlab.example"}),
            &[("url", "https://gitlab.com")]
        ),
        Ok("https://gitlab.example".to_owned())
    );
    assert_eq!(
        render("environment", json!({}), &[("environment", "")]),
        Ok(String::new())
    );
}

#[test]
fn if_else_eq() {
    let t = "refs/{{if eq .ref_type \"branch\"}}heads/{{ else }}tags/{{end}}{{ .ref }}";
    assert_eq!(
        render(t, json!({"ref_type": "branch", "ref": "main"}), &[]),
        Ok("refs/heads/main".to_owned())
    );
    assert_eq!(
        render(t, json!({"ref_type": "tag", "ref": "v1"}), &[]),
        Ok("refs/tags/v1".to_owned())
    );
    let t = "{{ if eq .a \"x\" }}X{{ else if ne .a \"y\" }}notY{{ else }}Y{{ end }}";
    assert_eq!(render(t, json!({"a": "x"}), &[]), Ok("X".to_owned()));
    assert_eq!(render(t, json!({"a": "z"}), &[]), Ok("notY".to_owned()));
    assert_eq!(render(t, json!({"a": "y"}), &[]), Ok("Y".to_owned()));
    // eq with several arguments is "equal to any".
    assert_eq!(
        render(
            "{{ if eq .a \"p\" \"q\" }}1{{ end }}",
            json!({"a": "q"}),
            &[]
        ),
        Ok("1".to_owned())
    );
    // Truthiness of a plain string: non-empty.
    assert_eq!(
        render(
            "{{ if .e }}env={{ .e }}{{ else }}none{{ end }}",
            json!({"e": ""}),
            &[]
        ),
        Ok("none".to_owned())
    );
    assert_eq!(
        render("{{ if not .e }}none{{ end }}", json!({"e": ""}), &[]),
        Ok("none".to_owned())
    );
}

#[test]
fn index_and_parens() {
    let c = json!({"oidc.circleci.com/project-id": "p1", "oidc.circleci.com/ssh-rerun": false});
    assert_eq!(
        render(
            "{{ index . \"oidc.circleci.com/project-id\" }}",
            c.clone(),
            &[]
        ),
        Ok("p1".to_owned())
    );
    assert_eq!(
        render(
            "{{ if eq (index . \"oidc.circleci.com/ssh-rerun\") \"true\" }}ssh{{ else }}normal{{ end }}",
            c,
            &[]
        ),
        Ok("normal".to_owned())
    );
}

#[test]
fn trim_markers_and_comments() {
    assert_eq!(
        render("a  {{- .x -}}  b{{/* why */}}", json!({"x": "X"}), &[]),
        Ok("aXb".to_owned())
    );
}

#[test]
fn no_html_escaping() {
    assert_eq!(
        render("{{ .x }}", json!({"x": "<a&b>\"'"}), &[]),
        Ok("<a&b>\"'".to_owned())
    );
}

#[test]
fn non_string_claims_are_stringified_like_fulcio() {
    let c = json!({
        "n": 1234567, "big": 1e21, "f": 1.5, "tiny": 0.00001, "t": true,
        "arr": ["a", 1], "obj": {"b": 2, "a": "x"}, "nul": null
    });
    let get = |k: &str| render(&format!("{{{{ .{k} }}}}"), c.clone(), &[]);
    assert_eq!(get("n"), Ok("1234567".to_owned()));
    assert_eq!(get("big"), Ok("1000000000000000000000".to_owned()));
    assert_eq!(get("f"), Ok("1.5".to_owned()));
    assert_eq!(get("tiny"), Ok("1e-05".to_owned()));
    assert_eq!(get("t"), Ok("true".to_owned()));
    assert_eq!(get("arr"), Ok("[a 1]".to_owned()));
    assert_eq!(get("obj"), Ok("map[a:x b:2]".to_owned()));
    assert_eq!(get("nul"), Ok("<nil>".to_owned()));
    // Nested floats are plain %v: 1e6 prints in exponent form in Go.
    assert_eq!(
        stringify_claim(&json!([1000000.5, 1e6])),
        "[1.0000005e+06 1e+06]"
    );
}

#[test]
fn nested_field_access_fails_like_go_on_a_string() {
    assert!(matches!(
        render("{{ .a.b }}", json!({"a": {"b": "c"}}), &[]),
        Err(TemplateError::Exec(_))
    ));
}

#[test]
fn eq_on_incompatible_types_errors() {
    assert!(matches!(
        render(
            "{{ if eq (eq .a \"x\") \"true\" }}1{{ end }}",
            json!({"a": "x"}),
            &[]
        ),
        Err(TemplateError::Exec(_))
    ));
}

#[test]
fn malformed_templates_are_rejected_at_parse() {
    for bad in [
        "{{ .a ",
        "{{ if .a }}x",
        "{{ end }}",
        "{{ else }}",
        "{{ }}",
        "{{ .a | printf \"%s\" }}",
        "{{ range .a }}{{ end }}",
        "{{ printf \"%s\" .a }}",
        "{{ eq .a }}",
        "{{ \"unterminated }}",
        "{{ if .a }}x{{ else }}y{{ else }}z{{ end }}",
        "{{ .a-b }}",
        "{{ (eq .a \"b\" }}",
    ] {
        assert!(Template::parse(bad).is_err(), "{bad:?} should not parse");
    }
}

#[test]
fn text_without_braces_is_a_key_even_if_it_has_one_brace() {
    assert_eq!(render("a}b", json!({"a}b": "v"}), &[]), Ok("v".to_owned()));
}

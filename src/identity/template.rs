//! Fulcio's CI-provider templates (`ExtensionTemplates`, `SubjectAlternativeNameTemplate`).
//!
//! Semantics mirrored from Fulcio's `ci-provider` principal:
//! - The data is one flat string map: `DefaultTemplateValues` first, then every token claim
//!   stringified on top (a claim overrides a default of the same name).
//! - Claims are stringified the way Go's `fmt.Sprintf("%v")` prints decoded JSON, except that a
//!   top-level whole-number float prints as an integer (Fulcio #2406: JSON numbers decode to
//!   `float64`, and `1234567` must not become `1.234567e+06`). See [`TemplateData::new`].
//! - A template text containing `{{` is a Go `text/template` run with `missingkey=error`; any
//!   other text is the *name of a key* whose value is the result, and a missing key is an error.
//! - Output is not HTML-escaped (`text/template`, not `html/template`).
//!
//! Only the `text/template` subset the shipped configurations use is implemented: literal text,
//! `{{ .key }}`, `{{ . }}`, string literals, `eq`/`ne` (with Go's "equal to any" form for more
//! than two arguments), `not`, `index . "key"` (for claim names that are not identifiers, such as
//! CircleCI's `oidc.circleci.com/project-id`), parenthesised calls, `if`/`else if`/`else`/`end`,
//! comments and `{{-`/`-}}` whitespace trimming. Anything else is rejected when the template is
//! parsed, i.e. when the configuration is loaded, so a configuration never silently renders
//! differently from Fulcio.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Why a template could not be parsed (at configuration load).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template {template:?}: {reason}")]
pub struct TemplateParseError {
    /// The template text as written in the configuration.
    pub template: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Why rendering failed for one token. Fulcio rejects the token in that case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A key named by the template is neither a claim nor a default (Go: `missingkey=error`).
    #[error("value <{0}> not present in either claims or defaults")]
    MissingKey(String),
    /// An operation Go's template engine would fail at run time.
    #[error("template execution failed: {0}")]
    Exec(String),
}

/// The flat string map a template renders against: defaults overlaid with stringified claims.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateData {
    values: BTreeMap<String, String>,
}

impl TemplateData {
    /// Builds the data for one token: `defaults` first, then every claim (stringified) on top.
    pub fn new(claims: &Map<String, Value>, defaults: &BTreeMap<String, String>) -> Self {
        let mut values = defaults.clone();
        for (name, value) in claims {
            values.insert(name.clone(), stringify_claim(value));
        }
        TemplateData { values }
    }

    /// The value for `key`, if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }
}

/// Stringifies a top-level claim as Fulcio does: strings as-is, whole numbers as integers, the
/// rest like Go's `%v` of the decoded JSON value.
pub fn stringify_claim(value: &Value) -> String {
    match value {
        Value::Number(n) => {
            // Go decodes every JSON number to float64; mirror that (including the precision loss
            // above 2^53) so ids render to the same text as in Fulcio's certificates.
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.is_finite() && f.fract() == 0.0 {
                // Rust's Display never uses an exponent, like Go's FormatFloat(f, 'f', -1, 64).
                format!("{f}")
            } else {
                go_float(f)
            }
        }
        other => go_value(other),
    }
}

/// Go's `%v` for a value decoded by `encoding/json` into `interface{}`.
fn go_value(value: &Value) -> String {
    match value {
        Value::Null => "<nil>".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_float(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(go_value).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Object(map) => {
            // Go's fmt prints map keys sorted.
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k}:{}", map.get(k).map(go_value).unwrap_or_default()))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

/// Go's `%v` for a float64: `%g` with the shortest round-trip digits, which strconv switches to
/// exponent form when the decimal exponent is < -4 or >= 6 (so Go prints 1e6 as `1e+06`); the
/// exponent has a sign and at least two digits.
fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    // `{:e}` gives the shortest round-trip digits as "d.ddde<exp>".
    let sci = format!("{f:e}");
    match sci.split_once('e') {
        Some((mantissa, exp)) => match exp.parse::<i32>() {
            Ok(exp) if !(-4..6).contains(&exp) => {
                let sign = if exp < 0 { '-' } else { '+' };
                format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
            }
            _ => format!("{f}"),
        },
        None => format!("{f}"),
    }
}

/// A parsed template: either a bare key name or a Go template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// No `{{`: the text names a key.
    Key(String),
    /// A Go template.
    Go(Vec<Node>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Text(String),
    Action(Expr),
    If {
        cond: Expr,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expr {
    /// `.` — the whole data map.
    Dot,
    /// `.a` or `.a.b` (the latter fails at run time like Go does on a string).
    Field(Vec<String>),
    Str(String),
    Call(Func, Vec<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Eq,
    Ne,
    Not,
    Index,
}

/// A run-time value: the data map, a string or a boolean (from `eq`/`ne`/`not`).
enum Val<'a> {
    Map,
    Str(&'a str),
    Bool(bool),
}

impl Val<'_> {
    fn truthy(&self, data: &TemplateData) -> bool {
        match self {
            Val::Map => !data.values.is_empty(),
            Val::Str(s) => !s.is_empty(),
            Val::Bool(b) => *b,
        }
    }
}

impl Template {
    /// Parses a template once (at configuration load).
    pub fn parse(source: &str) -> Result<Self, TemplateParseError> {
        let err = |reason: String| TemplateParseError {
            template: source.to_owned(),
            reason,
        };
        let kind = if source.contains("{{") {
            let tokens = split_actions(source).map_err(err)?;
            let mut pos = 0;
            let (nodes, stop) = parse_nodes(&tokens, &mut pos).map_err(err)?;
            if let Some(stop) = stop {
                return Err(err(format!("unexpected {{{{{stop}}}}}")));
            }
            Kind::Go(nodes)
        } else {
            Kind::Key(source.to_owned())
        };
        Ok(Template {
            source: source.to_owned(),
            kind,
        })
    }

    /// The template text as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders against one token's data.
    pub fn render(&self, data: &TemplateData) -> Result<String, TemplateError> {
        match &self.kind {
            Kind::Key(key) => data
                .get(key)
                .map(str::to_owned)
                .ok_or_else(|| TemplateError::MissingKey(key.clone())),
            Kind::Go(nodes) => {
                let mut out = String::new();
                exec_nodes(nodes, data, &mut out)?;
                Ok(out)
            }
        }
    }

    /// Convenience: renders against `claims` overlaid on `defaults`.
    pub fn render_claims(
        &self,
        claims: &Map<String, Value>,
        defaults: &BTreeMap<String, String>,
    ) -> Result<String, TemplateError> {
        self.render(&TemplateData::new(claims, defaults))
    }
}

// ---- lexing: text / action split ------------------------------------------------------------

#[derive(Debug)]
enum Piece {
    Text(String),
    /// The inside of `{{ }}`, trim markers removed.
    Action(String),
}

/// Splits the source into text and actions, applying `{{- ` / ` -}}` trimming.
fn split_actions(src: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = src;
    let mut trim_next_text = false;
    while let Some(open) = rest.find("{{") {
        let mut text = &rest[..open];
        if trim_next_text {
            text = text.trim_start();
        }
        let mut inner_start = open + 2;
        // Go: "{{- " (dash followed by whitespace) trims preceding whitespace.
        let after = &rest[inner_start..];
        if after.starts_with('-') && after[1..].starts_with(|c: char| c.is_ascii_whitespace()) {
            text = text.trim_end();
            inner_start += 1;
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text.to_owned()));
        }
        let close = find_action_end(&rest[inner_start..])
            .ok_or_else(|| "unclosed action (missing \"}}\")".to_owned())?;
        let mut inner = &rest[inner_start..inner_start + close];
        trim_next_text = false;
        if inner.ends_with('-')
            && inner[..inner.len() - 1].ends_with(|c: char| c.is_ascii_whitespace())
        {
            inner = &inner[..inner.len() - 1];
            trim_next_text = true;
        }
        pieces.push(Piece::Action(inner.to_owned()));
        rest = &rest[inner_start + close + 2..];
    }
    let text = if trim_next_text {
        rest.trim_start()
    } else {
        rest
    };
    if !text.is_empty() {
        pieces.push(Piece::Text(text.to_owned()));
    }
    Ok(pieces)
}

/// Byte offset of the `}}` closing an action, skipping string literals and comments.
fn find_action_end(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    if s.trim_start().starts_with("/*") {
        let end = s.find("*/")?;
        let close = s[end + 2..].find("}}")?;
        return Some(end + 2 + close);
    }
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

// ---- lexing: inside an action ---------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Dot,
    Field(Vec<String>),
    Str(String),
    Ident(String),
    LParen,
    RParen,
}

fn lex_action(s: &str) -> Result<Vec<Tok>, String> {
    let mut toks = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                toks.push(Tok::LParen);
            }
            ')' => {
                chars.next();
                toks.push(Tok::RParen);
            }
            '"' => {
                chars.next();
                let mut out = String::new();
                let mut closed = false;
                while let Some((_, c)) = chars.next() {
                    match c {
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\\' => match chars.next() {
                            Some((_, 'n')) => out.push('\n'),
                            Some((_, 't')) => out.push('\t'),
                            Some((_, '\\')) => out.push('\\'),
                            Some((_, '"')) => out.push('"'),
                            Some((_, other)) => {
                                return Err(format!("unsupported escape \\{other} in string"));
                            }
                            None => break,
                        },
                        c => out.push(c),
                    }
                }
                if !closed {
                    return Err("unterminated string literal".to_owned());
                }
                toks.push(Tok::Str(out));
            }
            '`' => {
                chars.next();
                let mut out = String::new();
                let mut closed = false;
                for (_, c) in chars.by_ref() {
                    if c == '`' {
                        closed = true;
                        break;
                    }
                    out.push(c);
                }
                if !closed {
                    return Err("unterminated raw string literal".to_owned());
                }
                toks.push(Tok::Str(out));
            }
            '.' => {
                // `.` alone, or a chain `.a.b` of identifiers.
                let mut end = i;
                while let Some(&(j, c)) = chars.peek() {
                    if c == '.' || c == '_' || c.is_alphanumeric() {
                        end = j + c.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                let word = &s[i..end];
                if word == "." {
                    toks.push(Tok::Dot);
                } else {
                    let parts: Vec<String> = word[1..].split('.').map(str::to_owned).collect();
                    if parts.iter().any(|p| !is_ident(p)) {
                        return Err(format!("bad field name {word:?}"));
                    }
                    toks.push(Tok::Field(parts));
                }
            }
            c if c == '_' || c.is_alphabetic() => {
                let mut end = i;
                while let Some(&(j, c)) = chars.peek() {
                    if c == '_' || c.is_alphanumeric() {
                        end = j + c.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                toks.push(Tok::Ident(s[i..end].to_owned()));
            }
            other => return Err(format!("unsupported character {other:?} in action")),
        }
    }
    Ok(toks)
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

// ---- parsing --------------------------------------------------------------------------------

/// Parses nodes until `{{else…}}`/`{{end}}` (returned as the stop keyword) or the end.
fn parse_nodes(pieces: &[Piece], pos: &mut usize) -> Result<(Vec<Node>, Option<String>), String> {
    let mut nodes = Vec::new();
    while let Some(piece) = pieces.get(*pos) {
        *pos += 1;
        match piece {
            Piece::Text(t) => nodes.push(Node::Text(t.clone())),
            Piece::Action(inner) => {
                let trimmed = inner.trim();
                if trimmed.starts_with("/*") {
                    if !trimmed.ends_with("*/") {
                        return Err("comment must end with \"*/}}\"".to_owned());
                    }
                    continue;
                }
                let toks = lex_action(inner)?;
                match toks.first() {
                    None => return Err("empty action".to_owned()),
                    Some(Tok::Ident(kw)) if kw == "if" => {
                        nodes.push(parse_if(&toks[1..], pieces, pos)?);
                    }
                    Some(Tok::Ident(kw)) if kw == "end" => {
                        if toks.len() != 1 {
                            return Err("unexpected tokens after end".to_owned());
                        }
                        return Ok((nodes, Some("end".to_owned())));
                    }
                    Some(Tok::Ident(kw)) if kw == "else" => {
                        // The caller (parse_if) re-lexes the action to see `else if`.
                        return Ok((nodes, Some(inner.clone())));
                    }
                    Some(Tok::Ident(kw))
                        if matches!(
                            kw.as_str(),
                            "range"
                                | "with"
                                | "define"
                                | "template"
                                | "block"
                                | "break"
                                | "continue"
                        ) =>
                    {
                        return Err(format!("unsupported action {kw:?}"));
                    }
                    Some(_) => nodes.push(Node::Action(parse_pipeline(&toks)?)),
                }
            }
        }
    }
    Ok((nodes, None))
}

/// Parses the rest of an `if` whose condition tokens are `cond`.
fn parse_if(cond: &[Tok], pieces: &[Piece], pos: &mut usize) -> Result<Node, String> {
    let cond = parse_pipeline(cond)?;
    let (then, stop) = parse_nodes(pieces, pos)?;
    let otherwise = match stop.as_deref() {
        Some("end") => Vec::new(),
        Some(else_action) => {
            let toks = lex_action(else_action)?;
            match toks.get(1) {
                None => {
                    let (otherwise, stop) = parse_nodes(pieces, pos)?;
                    if stop.as_deref() != Some("end") {
                        return Err("missing {{end}} after {{else}}".to_owned());
                    }
                    otherwise
                }
                // `{{else if …}}` is sugar for `{{else}}{{if …}}…{{end}}{{end}}`, sharing the end.
                Some(Tok::Ident(kw)) if kw == "if" => vec![parse_if(&toks[2..], pieces, pos)?],
                Some(_) => return Err("unexpected tokens after else".to_owned()),
            }
        }
        None => return Err("missing {{end}} for {{if}}".to_owned()),
    };
    Ok(Node::If {
        cond,
        then,
        otherwise,
    })
}

/// A pipeline here is one command: an operand, or a function applied to operands.
fn parse_pipeline(toks: &[Tok]) -> Result<Expr, String> {
    let mut pos = 0;
    let expr = parse_command(toks, &mut pos)?;
    match toks.get(pos) {
        None => Ok(expr),
        Some(t) => Err(format!("unexpected {t:?}")),
    }
}

fn parse_command(toks: &[Tok], pos: &mut usize) -> Result<Expr, String> {
    match toks.get(*pos) {
        Some(Tok::Ident(name)) => {
            let func = match name.as_str() {
                "eq" => Func::Eq,
                "ne" => Func::Ne,
                "not" => Func::Not,
                "index" => Func::Index,
                other => return Err(format!("unsupported function or keyword {other:?}")),
            };
            *pos += 1;
            let mut args = Vec::new();
            while let Some(tok) = toks.get(*pos) {
                if *tok == Tok::RParen {
                    break;
                }
                args.push(parse_operand(toks, pos)?);
            }
            let arity_ok = match func {
                Func::Eq => args.len() >= 2,
                Func::Ne => args.len() == 2,
                Func::Not => args.len() == 1,
                Func::Index => args.len() == 2,
            };
            if !arity_ok {
                return Err(format!("wrong number of arguments for {name}"));
            }
            Ok(Expr::Call(func, args))
        }
        Some(_) => parse_operand(toks, pos),
        None => Err("missing value".to_owned()),
    }
}

fn parse_operand(toks: &[Tok], pos: &mut usize) -> Result<Expr, String> {
    let tok = toks.get(*pos).ok_or_else(|| "missing value".to_owned())?;
    *pos += 1;
    match tok {
        Tok::Dot => Ok(Expr::Dot),
        Tok::Field(parts) => Ok(Expr::Field(parts.clone())),
        Tok::Str(s) => Ok(Expr::Str(s.clone())),
        Tok::LParen => {
            let inner = parse_command(toks, pos)?;
            if toks.get(*pos) != Some(&Tok::RParen) {
                return Err("missing \")\"".to_owned());
            }
            *pos += 1;
            Ok(inner)
        }
        Tok::RParen => Err("unexpected \")\"".to_owned()),
        Tok::Ident(name) => Err(format!(
            "function {name:?} used as an argument (parenthesise it)"
        )),
    }
}

// ---- execution ------------------------------------------------------------------------------

fn exec_nodes(nodes: &[Node], data: &TemplateData, out: &mut String) -> Result<(), TemplateError> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Action(expr) => match eval(expr, data)? {
                Val::Str(s) => out.push_str(s),
                Val::Bool(b) => out.push_str(if b { "true" } else { "false" }),
                Val::Map => {
                    // Go prints a map[string]string as map[k:v …] with sorted keys.
                    let parts: Vec<String> = data
                        .values
                        .iter()
                        .map(|(k, v)| format!("{k}:{v}"))
                        .collect();
                    out.push_str(&format!("map[{}]", parts.join(" ")));
                }
            },
            Node::If {
                cond,
                then,
                otherwise,
            } => {
                if eval(cond, data)?.truthy(data) {
                    exec_nodes(then, data, out)?;
                } else {
                    exec_nodes(otherwise, data, out)?;
                }
            }
        }
    }
    Ok(())
}

fn lookup<'a>(data: &'a TemplateData, key: &str) -> Result<&'a str, TemplateError> {
    data.get(key)
        .ok_or_else(|| TemplateError::MissingKey(key.to_owned()))
}

fn eval<'a>(expr: &'a Expr, data: &'a TemplateData) -> Result<Val<'a>, TemplateError> {
    match expr {
        Expr::Dot => Ok(Val::Map),
        Expr::Str(s) => Ok(Val::Str(s)),
        Expr::Field(parts) => {
            let (first, rest) = match parts.split_first() {
                Some(split) => split,
                None => return Ok(Val::Map),
            };
            let value = lookup(data, first)?;
            match rest.first() {
                // The data is map[string]string: a second field step hits a string, which Go
                // reports as an execution error.
                Some(next) => Err(TemplateError::Exec(format!(
                    "can't evaluate field {next} in type string"
                ))),
                None => Ok(Val::Str(value)),
            }
        }
        Expr::Call(func, args) => match func {
            Func::Eq | Func::Ne => {
                let first = eval(&args[0], data)?;
                let mut any_equal = false;
                for arg in &args[1..] {
                    if equal(&first, &eval(arg, data)?)? {
                        any_equal = true;
                    }
                }
                Ok(Val::Bool(if *func == Func::Eq {
                    any_equal
                } else {
                    !any_equal
                }))
            }
            Func::Not => Ok(Val::Bool(!eval(&args[0], data)?.truthy(data))),
            Func::Index => {
                let map = eval(&args[0], data)?;
                let key = eval(&args[1], data)?;
                match (map, key) {
                    (Val::Map, Val::Str(k)) => lookup(data, k).map(Val::Str),
                    (Val::Map, _) => Err(TemplateError::Exec(
                        "index of map with non-string key".to_owned(),
                    )),
                    _ => Err(TemplateError::Exec(
                        "can't index item of type string".to_owned(),
                    )),
                }
            }
        },
    }
}

fn equal(a: &Val<'_>, b: &Val<'_>) -> Result<bool, TemplateError> {
    match (a, b) {
        (Val::Bool(x), Val::Bool(y)) => Ok(x == y),
        (Val::Str(x), Val::Str(y)) => Ok(x == y),
        _ => Err(TemplateError::Exec(
            "error calling eq: incompatible types for comparison".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
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
}

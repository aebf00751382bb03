//! Issuance policy: CEL rules over a verified token's claims.
//!
//! A policy is a list of rules; a request is allowed iff some rule whose issuer scope matches
//! the token's `iss` evaluates to `true`. Everything that can be checked without a token is
//! checked when the policy is loaded (see [`Policy::from_yaml_or_json`] and `check.rs`);
//! evaluation never panics and never allows on an error: an error in a rule only means that
//! rule does not allow, and is reported in the [`Decision`].

mod check;
pub mod dry_run;
mod refs;

use std::collections::HashMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt,
};
use cel::common::value::Val;
use cel::{Context, Env, Program, Value};
use regex::Regex;
use serde::Deserialize;

/// Longest accepted rule name: names appear in log lines and `policy test` output.
const MAX_NAME_LEN: usize = 64;

/// A loaded, checked policy. Cheap to share (`Arc<Policy>`) and to swap on reload.
pub struct Policy {
    /// The CEL environment every rule was compiled against and is evaluated with.
    env: Arc<Env>,
    rules: Vec<Rule>,
    /// The claims any rule may read: `None` for all of them. Only these are converted to CEL
    /// values per request; an unread claim cannot change any rule's result.
    claims_read: Option<Vec<String>>,
}

struct Rule {
    name: String,
    scope: IssuerScope,
    program: Program,
}

/// Which tokens a rule applies to.
enum IssuerScope {
    Any,
    /// An issuer URL, compared exactly with `iss`.
    Exact(String),
    /// A meta-issuer pattern (as configured, e.g. `https://oidc.eks.*.amazonaws.com/id/*`),
    /// compiled with the meta-issuer semantics: anchored, each `*` is one or more of
    /// `[-_a-zA-Z0-9]`, everything else literal.
    Pattern(Regex),
}

impl IssuerScope {
    fn matches(&self, iss: &str) -> bool {
        match self {
            IssuerScope::Any => true,
            IssuerScope::Exact(url) => url == iss,
            IssuerScope::Pattern(re) => re.is_match(iss),
        }
    }
}

/// The outcome of evaluating a policy for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The rule that allowed the request (the first one, in file order).
    pub rule: Option<String>,
    /// Rules that failed to evaluate, with the error: (rule name, message). Each counted as
    /// "does not allow". Messages may quote claim values: fit for logs and `policy test`,
    /// not for the HTTP response.
    pub errors: Vec<(String, String)>,
    /// Rules whose issuer scope matched and that were evaluated, in order. Empty on a deny
    /// means no rule applies to the token's issuer at all.
    pub evaluated: Vec<String>,
}

/// Why a policy file was rejected. Every variant names the rule it is about.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error("policy file is not valid YAML or JSON for a policy: {0}")]
    Parse(String),
    #[error("the policy has no rules: it would deny every request")]
    NoRules,
    #[error("rule #{index}: `name` is empty")]
    EmptyName { index: usize },
    #[error(
        "rule #{index} ({name:?}): a rule name is 1 to {MAX_NAME_LEN} characters of ASCII \
         letters, digits, '.', '_' and '-'"
    )]
    InvalidName { index: usize, name: String },
    #[error("rule {name:?} is defined twice (rules #{first} and #{second})")]
    DuplicateName {
        name: String,
        first: usize,
        second: usize,
    },
    #[error("rule {rule:?}: `issuer` is empty; leave it out to apply the rule to every issuer")]
    EmptyIssuer { rule: String },
    #[error(
        "rule {rule:?}: issuer {issuer:?} is not a configured issuer URL or meta-issuer pattern"
    )]
    UnknownIssuer { rule: String, issuer: String },
    #[error("rule {rule:?}: meta-issuer pattern {issuer:?} cannot be compiled: {message}")]
    IssuerPattern {
        rule: String,
        issuer: String,
        message: String,
    },
    #[error("rule {rule:?}: `allow` is empty")]
    EmptyAllow { rule: String },
    #[error(
        "rule {rule:?}: CEL syntax error in `allow` at line {line}, column {column}: {message}"
    )]
    Syntax {
        rule: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("rule {rule:?}: type error in `allow` at line {line}, column {column}: {message}")]
    Type {
        rule: String,
        line: usize,
        column: usize,
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    rules: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    #[serde(default)]
    issuer: Option<String>,
    allow: String,
}

impl Policy {
    /// Parses and checks a policy. `known_issuers` answers whether a string is a configured
    /// issuer URL or a configured meta-issuer pattern (verbatim); a rule's `issuer` must be one.
    ///
    /// Checked here: the file's shape (unknown keys, missing fields, wrong types), at least
    /// one rule, rule names (non-empty, charset, unique), issuers, CEL syntax (with line and
    /// column inside `allow`), and the static checks of `check.rs`.
    pub fn from_yaml_or_json(
        text: &str,
        known_issuers: &dyn Fn(&str) -> bool,
    ) -> Result<Policy, PolicyError> {
        // JSON first when it looks like JSON: serde_json's messages are the clearer for it.
        let raw: RawPolicy = if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| PolicyError::Parse(e.to_string()))?
        } else {
            // A YAML tag (`!name`) has no meaning in a policy and no JSON equivalent; the
            // typed reading would ignore it, so it is refused first: a YAML policy always says
            // exactly what the same document in JSON says. (Found by the policy_config fuzz
            // target.)
            serde_norway::from_str::<serde_json::Value>(text)
                .map_err(|e| PolicyError::Parse(e.to_string()))?;
            serde_norway::from_str(text).map_err(|e| PolicyError::Parse(e.to_string()))?
        };
        if raw.rules.is_empty() {
            return Err(PolicyError::NoRules);
        }
        // Macros (has, all, exists, exists_one, map, filter) are expanded at compile time by
        // the env's parser. Optional syntax (`a.?b`) is off: the checker does not model it.
        let env = Arc::new(Env::stdlib().with_optional_support(false));
        let mut rules: Vec<Rule> = Vec::with_capacity(raw.rules.len());
        let mut refs = refs::ClaimRefs::default();
        for (i, raw_rule) in raw.rules.into_iter().enumerate() {
            let index = i + 1;
            let name = raw_rule.name;
            check_name(index, &name)?;
            if let Some(first) = rules.iter().position(|r| r.name == name) {
                return Err(PolicyError::DuplicateName {
                    name,
                    first: first + 1,
                    second: index,
                });
            }
            let scope = match raw_rule.issuer {
                None => IssuerScope::Any,
                Some(issuer) if issuer.is_empty() => {
                    return Err(PolicyError::EmptyIssuer { rule: name });
                }
                Some(issuer) if !known_issuers(&issuer) => {
                    return Err(PolicyError::UnknownIssuer { rule: name, issuer });
                }
                Some(issuer) if issuer.contains('*') => match meta_regex(&issuer) {
                    Ok(re) => IssuerScope::Pattern(re),
                    Err(e) => {
                        return Err(PolicyError::IssuerPattern {
                            rule: name,
                            issuer,
                            message: e.to_string(),
                        });
                    }
                },
                Some(issuer) => IssuerScope::Exact(issuer),
            };
            let program = compile(&env, &name, &raw_rule.allow)?;
            refs::claim_refs(program.expression(), &mut refs);
            rules.push(Rule {
                name,
                scope,
                program,
            });
        }
        let claims_read = (!refs.all).then(|| refs.names.into_iter().collect());
        Ok(Policy {
            env,
            rules,
            claims_read,
        })
    }

    /// Evaluates the policy for a verified token: `issuer` is its `iss`, `claims` all its
    /// claims, `identity` the SAN the certificate would carry.
    ///
    /// Rules are evaluated in file order and evaluation stops at the first that allows.
    pub fn evaluate(
        &self,
        issuer: &str,
        claims: &serde_json::Map<String, serde_json::Value>,
        identity: &str,
    ) -> Decision {
        let mut decision = Decision {
            allowed: false,
            rule: None,
            errors: Vec::new(),
            evaluated: Vec::new(),
        };
        let mut applicable = self.rules.iter().filter(|r| r.scope.matches(issuer));
        let Some(first) = applicable.next() else {
            return decision;
        };
        // The activation is built once per request and shared by every rule.
        let mut ctx = Context::with_env(Arc::clone(&self.env));
        let claims_val = match &self.claims_read {
            None => json_object(claims),
            Some(names) => json_fields(claims, names),
        };
        ctx.add_variable_as_val("claims", claims_val);
        ctx.add_variable_as_val("issuer", Box::new(CelString::from(issuer)));
        ctx.add_variable_as_val("identity", Box::new(CelString::from(identity)));
        for rule in std::iter::once(first).chain(applicable) {
            decision.evaluated.push(rule.name.clone());
            // `cel` is a large third-party interpreter; a panic inside it must deny this rule,
            // not fail the request (this relies on the default panic=unwind). Evaluation
            // mutates nothing shared: the program is immutable, the context is this request's.
            let result = panic::catch_unwind(AssertUnwindSafe(|| rule.program.execute(&ctx)));
            let Ok(result) = result else {
                decision.errors.push((
                    rule.name.clone(),
                    "internal error in the CEL interpreter".to_owned(),
                ));
                continue;
            };
            match result {
                Ok(Value::Bool(true)) => {
                    decision.allowed = true;
                    decision.rule = Some(rule.name.clone());
                    break;
                }
                Ok(Value::Bool(false)) => {}
                Ok(other) => decision.errors.push((
                    rule.name.clone(),
                    format!("the expression yielded {:?}, not a bool", other.type_of()),
                )),
                Err(e) => decision.errors.push((rule.name.clone(), e.to_string())),
            }
        }
        decision
    }

    /// Rule names, in file order.
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.name.as_str())
    }

    /// Number of rules (never zero).
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Always false: a loaded policy has at least one rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("rules", &self.rule_names().collect::<Vec<_>>())
            .finish()
    }
}

fn check_name(index: usize, name: &str) -> Result<(), PolicyError> {
    if name.is_empty() {
        return Err(PolicyError::EmptyName { index });
    }
    let ok = name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !ok {
        return Err(PolicyError::InvalidName {
            index,
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// Parses and statically checks one rule's expression.
fn compile(env: &Env, rule: &str, source: &str) -> Result<Program, PolicyError> {
    if source.trim().is_empty() {
        return Err(PolicyError::EmptyAllow {
            rule: rule.to_owned(),
        });
    }
    let program = env.compile(source).map_err(|errors| {
        // The parser reports (line, column), both 1-based, the column in characters (unlike
        // node offsets, below); keep the first error, which the others usually follow from.
        let (line, column, message) = match errors.errors.first() {
            Some(e) => (e.pos.0, e.pos.1, e.msg.clone()),
            None => (1, 1, "unparsable expression".to_owned()),
        };
        let line = usize::try_from(line).unwrap_or(1).max(1);
        let column = usize::try_from(column).unwrap_or(1).max(1);
        PolicyError::Syntax {
            rule: rule.to_owned(),
            line,
            column,
            message,
        }
    })?;
    if let Err(e) = check::check(program.expression()) {
        let offset = program
            .source_info()
            .offset_for(e.expr_id)
            .map_or(0, |(start, _)| start as usize);
        let (line, column) = line_column(source, offset);
        return Err(PolicyError::Type {
            rule: rule.to_owned(),
            line,
            column,
            message: e.message,
        });
    }
    Ok(program)
}

/// 1-based line and column (in characters) of a byte offset into `source`: the parser's
/// offsets count bytes, but editors count characters.
fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let (mut line, mut column) = (1, 1);
    for (i, c) in source.char_indices() {
        if i >= offset {
            break;
        }
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}

/// Escaped literals joined by a fixed class are always valid syntax; the only possible error
/// is the regex crate's size limit, for an absurdly long pattern.
fn meta_regex(pattern: &str) -> Result<Regex, regex::Error> {
    let body: Vec<String> = pattern.split('*').map(regex::escape).collect();
    Regex::new(&format!("^(?:{})$", body.join("[-_a-zA-Z0-9]+")))
}

/// Converts a claims object to a CEL map that borrows the claims' strings (no copies: the
/// activation lives only as long as the request's claims). Integers stay integers
/// (`claims.iat > 0`); integers beyond i64 become uint, other numbers double.
fn json_object<'v>(claims: &'v serde_json::Map<String, serde_json::Value>) -> Box<dyn Val + 'v> {
    let map: HashMap<CelMapKey<'v>, Box<dyn Val + 'v>> = claims
        .iter()
        .map(|(k, v)| (CelMapKey::from(k.as_str()), json_value(v)))
        .collect();
    Box::new(CelMap::from(map))
}

/// Like [`json_object`], restricted to the claims named in `names` that the token has.
fn json_fields<'v>(
    claims: &'v serde_json::Map<String, serde_json::Value>,
    names: &[String],
) -> Box<dyn Val + 'v> {
    let map: HashMap<CelMapKey<'v>, Box<dyn Val + 'v>> = names
        .iter()
        .filter_map(|n| claims.get_key_value(n.as_str()))
        .map(|(k, v)| (CelMapKey::from(k.as_str()), json_value(v)))
        .collect();
    Box::new(CelMap::from(map))
}

fn json_value<'v>(v: &'v serde_json::Value) -> Box<dyn Val + 'v> {
    match v {
        serde_json::Value::Null => Box::new(CelNull),
        serde_json::Value::Bool(b) => Box::new(CelBool::from(*b)),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Box::new(CelInt::from(i)),
            (None, Some(u), _) => Box::new(CelUInt::from(u)),
            (None, None, Some(f)) => Box::new(CelDouble::from(f)),
            // Unreachable without serde_json's arbitrary_precision feature.
            (None, None, None) => Box::new(CelNull),
        },
        serde_json::Value::String(s) => Box::new(CelString::from(s.as_str())),
        serde_json::Value::Array(a) => {
            Box::new(CelList::from(a.iter().map(json_value).collect::<Vec<_>>()))
        }
        serde_json::Value::Object(o) => json_object(o),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_tags_are_refused_not_ignored() {
        let any = |_: &str| true;
        let tagged = "rules: !custom\n  - name: r\n    allow: 'true'\n";
        let err = Policy::from_yaml_or_json(tagged, &any)
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(err, PolicyError::Parse(_)), "{err}");
        let untagged = "rules:\n  - name: r\n    allow: 'true'\n";
        assert!(Policy::from_yaml_or_json(untagged, &any).is_ok());
    }

    #[test]
    fn policy_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Policy>();
    }

    #[test]
    fn meta_patterns_are_anchored_and_literal() {
        let re = meta_regex("https://oidc.eks.*.amazonaws.com/id/*").unwrap();
        assert!(re.is_match("https://oidc.eks.us-west-2.amazonaws.com/id/ABC123"));
        for bad in [
            "https://oidc.eks.us.west.amazonaws.com/id/x",
            "https://oidc.eks.x.amazonaws.com/id/x/y",
            "https://oidcXeks.x.amazonaws.com/id/x",
            "https://oidc.eks..amazonaws.com/id/x",
            "xhttps://oidc.eks.x.amazonaws.com/id/x",
            "https://oidc.eks.x.amazonaws.com/id/x\n",
        ] {
            assert!(!re.is_match(bad), "{bad:?}");
        }
    }

    #[test]
    fn line_column_counts_characters() {
        assert_eq!(line_column("ab\ncd", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("é+x", 3), (1, 3));
    }
}

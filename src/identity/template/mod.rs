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
//!
//! The engine runs in three steps, one module each: `lex` (text and actions, then tokens),
//! `parse` (the tree, refusing anything outside the subset) and `exec` (rendering, with Go's
//! run-time errors); `gofmt` prints claims the way Go does.

mod exec;
mod gofmt;
mod lex;
mod parse;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

pub(crate) use gofmt::stringify_claim;

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
    Go(Vec<parse::Node>),
}

impl Template {
    /// Parses a template once (at configuration load).
    pub fn parse(source: &str) -> Result<Self, TemplateParseError> {
        let err = |reason: String| TemplateParseError {
            template: source.to_owned(),
            reason,
        };
        let kind = if source.contains("{{") {
            let tokens = lex::split_actions(source).map_err(err)?;
            let mut pos = 0;
            let (nodes, stop) = parse::parse_nodes(&tokens, &mut pos).map_err(err)?;
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
                exec::exec_nodes(nodes, data, &mut out)?;
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

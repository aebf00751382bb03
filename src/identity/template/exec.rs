//! Execution: a parsed tree rendered against one token's data, with Go's run-time errors.

use super::parse::{Expr, Func, Node};
use super::{TemplateData, TemplateError};

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

pub(super) fn exec_nodes(
    nodes: &[Node],
    data: &TemplateData,
    out: &mut String,
) -> Result<(), TemplateError> {
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

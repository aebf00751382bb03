//! A minimal static checker for policy expressions, over the AST the `cel` crate parses.
//!
//! The `cel` crate (0.15) parses and evaluates but has no type checker: an expression such as
//! `claims.x + 1` or `"a"` compiles fine and only fails, or silently never allows, per request.
//! This module rejects at load what is decidable without knowing the claims:
//!
//! - identifiers other than `claims`, `issuer`, `identity`, comprehension variables and CEL's
//!   type names (`int`, `string`, …);
//! - calls to functions and methods outside the table below, or with the wrong arity;
//! - operator and function applications whose argument types cannot match any overload
//!   (`"a" + 1`, `issuer.startsWith(1)`, `size(true)`, `!"x"`, `issuer.field`);
//! - `matches` with a literal pattern that is not a valid regular expression;
//! - a top-level expression that cannot yield a bool.
//!
//! Types are tracked as *sets of possible kinds* (a bitset): `claims.x` may be anything (`DYN`),
//! `claims.x + 1` can only be an int, `claims.a - claims.b` only a number. An application is
//! rejected only when no combination of possible argument kinds matches an overload, so the
//! checker never rejects an expression that could succeed at run time (it is deliberately
//! incomplete, not unsound): element types of lists and maps are not tracked, so
//! `[1][0] + "a"` passes the checker and fails at evaluation.

use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue, operators};

/// A set of possible CEL kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ty(u16);

impl Ty {
    pub(crate) const BOOL: Ty = Ty(1);
    pub(crate) const INT: Ty = Ty(1 << 1);
    pub(crate) const UINT: Ty = Ty(1 << 2);
    pub(crate) const DOUBLE: Ty = Ty(1 << 3);
    pub(crate) const STRING: Ty = Ty(1 << 4);
    pub(crate) const BYTES: Ty = Ty(1 << 5);
    pub(crate) const NULL: Ty = Ty(1 << 6);
    pub(crate) const LIST: Ty = Ty(1 << 7);
    pub(crate) const MAP: Ty = Ty(1 << 8);
    pub(crate) const TYPE: Ty = Ty(1 << 9);
    pub(crate) const DYN: Ty = Ty((1 << 10) - 1);
    const NONE: Ty = Ty(0);
    const NUM: Ty = Ty(Ty::INT.0 | Ty::UINT.0 | Ty::DOUBLE.0);
    const NAMES: [(Ty, &'static str); 10] = [
        (Ty::BOOL, "bool"),
        (Ty::INT, "int"),
        (Ty::UINT, "uint"),
        (Ty::DOUBLE, "double"),
        (Ty::STRING, "string"),
        (Ty::BYTES, "bytes"),
        (Ty::NULL, "null"),
        (Ty::LIST, "list"),
        (Ty::MAP, "map"),
        (Ty::TYPE, "type"),
    ];

    const fn or(self, other: Ty) -> Ty {
        Ty(self.0 | other.0)
    }

    fn meets(self, other: Ty) -> bool {
        self.0 & other.0 != 0
    }

    fn kinds(self) -> impl Iterator<Item = Ty> {
        Ty::NAMES
            .into_iter()
            .map(|(t, _)| t)
            .filter(move |t| self.meets(*t))
    }

    pub(crate) fn name(self) -> String {
        if self == Ty::DYN {
            return "dyn".to_owned();
        }
        let names: Vec<&str> = Ty::NAMES
            .iter()
            .filter(|(t, _)| self.meets(*t))
            .map(|(_, n)| *n)
            .collect();
        names.join(" or ")
    }
}

/// A type error: the node it is about, and what is wrong.
#[derive(Debug)]
pub(crate) struct CheckError {
    pub(crate) expr_id: u64,
    pub(crate) message: String,
}

/// The root variables a policy expression may use, with their types.
const ROOTS: [(&str, Ty); 3] = [
    ("claims", Ty::MAP),
    ("issuer", Ty::STRING),
    ("identity", Ty::STRING),
];

/// Identifiers that resolve to CEL type values (`type(x) == string`).
const TYPE_NAMES: [&str; 10] = [
    "bool",
    "int",
    "uint",
    "double",
    "string",
    "bytes",
    "list",
    "map",
    "null_type",
    "type",
];

/// One overload: parameter kinds (receiver first for a method) and result kinds.
type Overload = (&'static [Ty], Ty);

const CONVERTIBLE_TO_NUMBER: Ty = Ty::NUM.or(Ty::STRING);

/// Global functions of `cel::Env::stdlib()` (with the `regex` feature and without `chrono` or
/// `optional`) that the checker admits. `tests::every_known_function_runs` keeps this table
/// honest against the interpreter.
const GLOBAL_FUNCTIONS: &[(&str, &[Overload])] = &[
    (
        "size",
        &[(
            &[Ty::STRING.or(Ty::BYTES).or(Ty::LIST).or(Ty::MAP)],
            Ty::INT,
        )],
    ),
    ("int", &[(&[CONVERTIBLE_TO_NUMBER], Ty::INT)]),
    ("uint", &[(&[CONVERTIBLE_TO_NUMBER], Ty::UINT)]),
    ("double", &[(&[CONVERTIBLE_TO_NUMBER], Ty::DOUBLE)]),
    (
        "string",
        &[(
            &[Ty::NUM.or(Ty::BOOL).or(Ty::STRING).or(Ty::BYTES)],
            Ty::STRING,
        )],
    ),
    ("bytes", &[(&[Ty::STRING.or(Ty::BYTES)], Ty::BYTES)]),
    ("bool", &[(&[Ty::STRING.or(Ty::BOOL)], Ty::BOOL)]),
    ("type", &[(&[Ty::DYN], Ty::TYPE)]),
    ("dyn", &[(&[Ty::DYN], Ty::DYN)]),
    ("matches", &[(&[Ty::STRING, Ty::STRING], Ty::BOOL)]),
];

/// Member functions (`receiver.f(args)`), receiver first.
const MEMBER_FUNCTIONS: &[(&str, &[Overload])] = &[
    ("contains", &[(&[Ty::STRING, Ty::STRING], Ty::BOOL)]),
    ("startsWith", &[(&[Ty::STRING, Ty::STRING], Ty::BOOL)]),
    ("endsWith", &[(&[Ty::STRING, Ty::STRING], Ty::BOOL)]),
    ("matches", &[(&[Ty::STRING, Ty::STRING], Ty::BOOL)]),
    (
        "size",
        &[(
            &[Ty::STRING.or(Ty::BYTES).or(Ty::LIST).or(Ty::MAP)],
            Ty::INT,
        )],
    ),
];

const ARITHMETIC: &[Overload] = &[
    (&[Ty::INT, Ty::INT], Ty::INT),
    (&[Ty::UINT, Ty::UINT], Ty::UINT),
    (&[Ty::DOUBLE, Ty::DOUBLE], Ty::DOUBLE),
];
const ADD: &[Overload] = &[
    (&[Ty::INT, Ty::INT], Ty::INT),
    (&[Ty::UINT, Ty::UINT], Ty::UINT),
    (&[Ty::DOUBLE, Ty::DOUBLE], Ty::DOUBLE),
    (&[Ty::STRING, Ty::STRING], Ty::STRING),
    (&[Ty::BYTES, Ty::BYTES], Ty::BYTES),
    (&[Ty::LIST, Ty::LIST], Ty::LIST),
];
const MODULO: &[Overload] = &[
    (&[Ty::INT, Ty::INT], Ty::INT),
    (&[Ty::UINT, Ty::UINT], Ty::UINT),
];
const ORDERING: &[Overload] = &[
    (&[Ty::NUM, Ty::NUM], Ty::BOOL),
    (&[Ty::STRING, Ty::STRING], Ty::BOOL),
    (&[Ty::BYTES, Ty::BYTES], Ty::BOOL),
    (&[Ty::BOOL, Ty::BOOL], Ty::BOOL),
];
const NEGATE: &[Overload] = &[(&[Ty::INT], Ty::INT), (&[Ty::DOUBLE], Ty::DOUBLE)];
const NOT: &[Overload] = &[(&[Ty::BOOL], Ty::BOOL)];
const LOGIC: &[Overload] = &[(&[Ty::BOOL, Ty::BOOL], Ty::BOOL)];
const IN: &[Overload] = &[(&[Ty::DYN, Ty::LIST.or(Ty::MAP)], Ty::BOOL)];
const INDEX: &[Overload] = &[
    (&[Ty::LIST, Ty::INT.or(Ty::UINT)], Ty::DYN),
    (&[Ty::MAP, Ty::DYN], Ty::DYN),
];

/// Checks a parsed expression; `Ok` carries the kinds it may yield.
pub(crate) fn check(expr: &IdedExpr) -> Result<Ty, CheckError> {
    let mut checker = Checker { scopes: Vec::new() };
    let ty = checker.expr(expr)?;
    if !ty.meets(Ty::BOOL) {
        return Err(CheckError {
            expr_id: expr.id,
            message: format!("the expression yields {}, never a bool", ty.name()),
        });
    }
    Ok(ty)
}

struct Checker {
    /// Comprehension variables in scope, innermost last.
    scopes: Vec<(String, Ty)>,
}

fn err(expr: &IdedExpr, message: impl Into<String>) -> CheckError {
    CheckError {
        expr_id: expr.id,
        message: message.into(),
    }
}

/// The operator as written, for messages: `_+_` → `+`.
fn display_name(func: &str) -> &str {
    match func {
        operators::IN => "in",
        operators::INDEX => "[]",
        operators::CONDITIONAL => "?:",
        f if f.starts_with('_') || f.ends_with('_') => f.trim_matches('_'),
        f => f,
    }
}

impl Checker {
    fn expr(&mut self, e: &IdedExpr) -> Result<Ty, CheckError> {
        match &e.expr {
            Expr::Literal(lit) => Ok(match lit {
                LiteralValue::Boolean(_) => Ty::BOOL,
                LiteralValue::Bytes(_) => Ty::BYTES,
                LiteralValue::Double(_) => Ty::DOUBLE,
                LiteralValue::Int(_) => Ty::INT,
                LiteralValue::Null => Ty::NULL,
                LiteralValue::String(_) => Ty::STRING,
                LiteralValue::UInt(_) => Ty::UINT,
            }),
            Expr::Ident(name) => self.ident(e, name),
            Expr::Select(select) => {
                let operand = self.expr(&select.operand)?;
                // Only maps have fields here: no protobuf message types are registered.
                if !operand.meets(Ty::MAP) {
                    return Err(err(
                        e,
                        format!(
                            "cannot select field '{}' from a value of type {}",
                            select.field,
                            operand.name()
                        ),
                    ));
                }
                Ok(if select.test { Ty::BOOL } else { Ty::DYN })
            }
            Expr::Call(call) => self.call(e, &call.func_name, call.target.as_deref(), &call.args),
            Expr::List(list) => {
                for element in &list.elements {
                    self.expr(element)?;
                }
                Ok(Ty::LIST)
            }
            Expr::Map(map) => {
                for entry in &map.entries {
                    match &entry.expr {
                        EntryExpr::MapEntry(m) => {
                            let key = self.expr(&m.key)?;
                            if !key.meets(Ty::INT.or(Ty::UINT).or(Ty::BOOL).or(Ty::STRING)) {
                                return Err(err(
                                    &m.key,
                                    format!("a map key cannot be of type {}", key.name()),
                                ));
                            }
                            self.expr(&m.value)?;
                        }
                        EntryExpr::StructField(_) => {
                            return Err(err(e, "struct fields are not supported in policies"));
                        }
                    }
                }
                Ok(Ty::MAP)
            }
            Expr::Struct(s) => Err(err(
                e,
                format!(
                    "message construction ({}{{…}}) is not supported",
                    s.type_name
                ),
            )),
            Expr::Comprehension(c) => {
                let range = self.expr(&c.iter_range)?;
                if !range.meets(Ty::LIST.or(Ty::MAP)) {
                    return Err(err(
                        &c.iter_range,
                        format!("cannot iterate over a value of type {}", range.name()),
                    ));
                }
                let mut accu = self.expr(&c.accu_init)?;
                // The accumulator's kinds grow until the step adds none: a finite lattice, so
                // this terminates within `Ty::NAMES.len()` rounds.
                loop {
                    let mark = self.scopes.len();
                    self.scopes.push((c.accu_var.clone(), accu));
                    self.scopes.push((c.iter_var.clone(), Ty::DYN));
                    if let Some(v2) = &c.iter_var2 {
                        self.scopes.push((v2.clone(), Ty::DYN));
                    }
                    let cond = self.expr(&c.loop_cond);
                    let step = self.expr(&c.loop_step);
                    self.scopes.truncate(mark);
                    let cond = cond?;
                    if !cond.meets(Ty::BOOL) {
                        return Err(err(&c.loop_cond, "a loop condition must be a bool"));
                    }
                    let grown = accu.or(step?);
                    if grown == accu {
                        break;
                    }
                    accu = grown;
                }
                self.scopes.push((c.accu_var.clone(), accu));
                let result = self.expr(&c.result);
                self.scopes.pop();
                result
            }
            Expr::Unspecified => Err(err(e, "incomplete expression")),
        }
    }

    fn ident(&self, e: &IdedExpr, name: &str) -> Result<Ty, CheckError> {
        if let Some((_, ty)) = self.scopes.iter().rev().find(|(n, _)| n == name) {
            return Ok(*ty);
        }
        if let Some((_, ty)) = ROOTS.iter().find(|(n, _)| *n == name) {
            return Ok(*ty);
        }
        if TYPE_NAMES.contains(&name) {
            return Ok(Ty::TYPE);
        }
        Err(err(
            e,
            format!("unknown variable '{name}' (a policy can use claims, issuer and identity)"),
        ))
    }

    fn call(
        &mut self,
        e: &IdedExpr,
        func: &str,
        target: Option<&IdedExpr>,
        args: &[IdedExpr],
    ) -> Result<Ty, CheckError> {
        // Operators (never with a target).
        if target.is_none() {
            let ops: Option<&[Overload]> = match (func, args.len()) {
                (operators::CONDITIONAL, 3) => {
                    let cond = self.expr(&args[0])?;
                    if !cond.meets(Ty::BOOL) {
                        return Err(err(
                            &args[0],
                            format!("a condition must be a bool, not {}", cond.name()),
                        ));
                    }
                    return Ok(self.expr(&args[1])?.or(self.expr(&args[2])?));
                }
                (operators::EQUALS | operators::NOT_EQUALS, 2) => {
                    let (a, b) = (self.expr(&args[0])?, self.expr(&args[1])?);
                    if !equality_possible(a, b) {
                        return Err(err(
                            e,
                            format!(
                                "'{}' compares {} with {}: the comparison can never hold",
                                display_name(func),
                                a.name(),
                                b.name()
                            ),
                        ));
                    }
                    return Ok(Ty::BOOL);
                }
                // Inserted by the `all` and `exists` macros; accepts anything.
                (operators::NOT_STRICTLY_FALSE, 1) => {
                    self.expr(&args[0])?;
                    return Ok(Ty::BOOL);
                }
                (operators::LOGICAL_AND | operators::LOGICAL_OR, 2) => Some(LOGIC),
                (operators::LOGICAL_NOT, 1) => Some(NOT),
                (operators::NEGATE, 1) => Some(NEGATE),
                (operators::ADD, 2) => Some(ADD),
                (operators::SUBSTRACT | operators::MULTIPLY | operators::DIVIDE, 2) => {
                    Some(ARITHMETIC)
                }
                (operators::MODULO, 2) => Some(MODULO),
                (
                    operators::LESS
                    | operators::LESS_EQUALS
                    | operators::GREATER
                    | operators::GREATER_EQUALS,
                    2,
                ) => Some(ORDERING),
                (operators::IN, 2) => Some(IN),
                (operators::INDEX, 2) => Some(INDEX),
                _ => None,
            };
            if let Some(overloads) = ops {
                let kinds = self.args(args)?;
                return resolve(e, display_name(func), &kinds, overloads, false);
            }
        }
        let (table, what) = match target {
            Some(_) => (MEMBER_FUNCTIONS, "method"),
            None => (GLOBAL_FUNCTIONS, "function"),
        };
        let Some((_, overloads)) = table.iter().find(|(name, _)| *name == func) else {
            return Err(err(e, format!("unknown {what} '{func}'")));
        };
        let mut kinds = Vec::with_capacity(args.len() + 1);
        if let Some(t) = target {
            kinds.push(self.expr(t)?);
        }
        kinds.extend(self.args(args)?);
        if func == "matches" {
            check_regex_literal(args)?;
        }
        resolve(e, func, &kinds, overloads, target.is_some())
    }

    fn args(&mut self, args: &[IdedExpr]) -> Result<Vec<Ty>, CheckError> {
        args.iter().map(|a| self.expr(a)).collect()
    }
}

/// The union of the results of every overload the argument kinds can match.
fn resolve(
    e: &IdedExpr,
    func: &str,
    kinds: &[Ty],
    overloads: &[Overload],
    member: bool,
) -> Result<Ty, CheckError> {
    let mut result = Ty::NONE;
    let mut arity_ok = false;
    for (params, ret) in overloads {
        if params.len() != kinds.len() {
            continue;
        }
        arity_ok = true;
        if params.iter().zip(kinds).all(|(p, k)| p.meets(*k)) {
            result = result.or(*ret);
        }
    }
    if result != Ty::NONE {
        return Ok(result);
    }
    let names: Vec<String> = kinds.iter().map(|k| k.name()).collect();
    let applied = match (member, names.split_first()) {
        (true, Some((receiver, rest))) => format!("{receiver}.({})", rest.join(", ")),
        _ => format!("({})", names.join(", ")),
    };
    Err(err(
        e,
        if arity_ok {
            format!("no matching overload for '{func}' applied to {applied}")
        } else {
            format!("'{func}' does not take {} argument(s)", kinds.len())
        },
    ))
}

/// CEL equality is defined between values of the same kind, across numeric kinds, and with
/// null; anything else is a checker error in the CEL specification.
fn equality_possible(a: Ty, b: Ty) -> bool {
    if a.meets(Ty::NULL) || b.meets(Ty::NULL) {
        return true;
    }
    if a.meets(Ty::NUM) && b.meets(Ty::NUM) {
        return true;
    }
    a.kinds().any(|k| b.meets(k))
}

/// A literal pattern given to `matches` must compile, like it will at every evaluation.
fn check_regex_literal(args: &[IdedExpr]) -> Result<(), CheckError> {
    let Some(pattern) = args.last() else {
        return Ok(());
    };
    if let Expr::Literal(LiteralValue::String(s)) = &pattern.expr {
        let text: &str = s.as_ref();
        if let Err(e) = regex::Regex::new(text) {
            return Err(err(pattern, format!("invalid regular expression: {e}")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds_of(src: &str) -> Result<Ty, String> {
        let program = cel::Env::stdlib().compile(src).map_err(|e| e.to_string())?;
        let mut c = Checker { scopes: Vec::new() };
        c.expr(program.expression()).map_err(|e| e.message)
    }

    #[test]
    fn kinds_are_inferred_through_operators() {
        assert_eq!(kinds_of("claims.x + 1"), Ok(Ty::INT));
        assert_eq!(kinds_of("claims.x - claims.y"), Ok(Ty::NUM));
        assert_eq!(kinds_of("claims.x"), Ok(Ty::DYN));
        assert_eq!(kinds_of("size(claims.x) > 2"), Ok(Ty::BOOL));
        assert_eq!(kinds_of("true ? 1 : 'a'"), Ok(Ty::INT.or(Ty::STRING)));
        assert_eq!(kinds_of("[1, 2].map(x, x * 2)"), Ok(Ty::LIST));
        assert_eq!(kinds_of("[1, 2].exists_one(x, x > 1)"), Ok(Ty::BOOL));
        assert_eq!(kinds_of("has(claims.x)"), Ok(Ty::BOOL));
        assert_eq!(kinds_of("type(issuer) == string"), Ok(Ty::BOOL));
    }

    #[test]
    fn impossible_applications_are_errors() {
        for (src, want) in [
            (
                "'a' + 1",
                "no matching overload for '+' applied to (string, int)",
            ),
            ("!'a'", "no matching overload for '!' applied to (string)"),
            ("issuer.startsWith(1)", "applied to string.(int)"),
            (
                "issuer.foo",
                "cannot select field 'foo' from a value of type string",
            ),
            ("'a' == 1", "compares string with int"),
            ("x", "unknown variable 'x'"),
            ("claims.sub.lowerAscii()", "unknown method 'lowerAscii'"),
            (
                "timestamp('2024-01-01T00:00:00Z')",
                "unknown function 'timestamp'",
            ),
            ("size(1, 2)", "'size' does not take 2 argument(s)"),
            ("issuer.matches('(')", "invalid regular expression"),
            (
                "1.exists(x, true)",
                "cannot iterate over a value of type int",
            ),
        ] {
            let got = kinds_of(src).expect_err(src);
            assert!(got.contains(want), "{src}: {got}");
        }
    }
}

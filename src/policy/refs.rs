//! Which claims a policy can read, so that evaluation converts only those.

use std::collections::BTreeSet;

use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue, operators};

/// Which top-level claims an expression can read, so evaluation converts only those (the
/// conversion of a whole token dominates the cost of simple rules).
///
/// `claims.name`, `has(claims.name)` and `claims["name"]` read one claim; any other use of the
/// identifier `claims` (passing the map whole, `size(claims)`, `k in claims`, a computed
/// index, iterating it) may read every claim, and so does a loop variable that shadows it:
/// the analysis only ever over-approximates.
#[derive(Debug, Default)]
pub(crate) struct ClaimRefs {
    pub(crate) all: bool,
    pub(crate) names: BTreeSet<String>,
}

fn is_claims(e: &IdedExpr) -> bool {
    matches!(&e.expr, Expr::Ident(name) if name == "claims")
}

pub(crate) fn claim_refs(e: &IdedExpr, out: &mut ClaimRefs) {
    match &e.expr {
        Expr::Ident(name) if name == "claims" => out.all = true,
        Expr::Select(select) if is_claims(&select.operand) => {
            out.names.insert(select.field.clone());
        }
        Expr::Call(call)
            if call.func_name == operators::INDEX
                && call.target.is_none()
                && call.args.len() == 2
                && is_claims(&call.args[0])
                && matches!(call.args[1].expr, Expr::Literal(LiteralValue::String(_))) =>
        {
            if let Expr::Literal(LiteralValue::String(key)) = &call.args[1].expr {
                out.names.insert(key.inner().to_owned());
            }
        }
        Expr::Select(select) => claim_refs(&select.operand, out),
        Expr::Call(call) => {
            if let Some(t) = &call.target {
                claim_refs(t, out);
            }
            for a in &call.args {
                claim_refs(a, out);
            }
        }
        Expr::List(list) => list.elements.iter().for_each(|x| claim_refs(x, out)),
        Expr::Map(map) => {
            for entry in &map.entries {
                match &entry.expr {
                    EntryExpr::MapEntry(m) => {
                        claim_refs(&m.key, out);
                        claim_refs(&m.value, out);
                    }
                    EntryExpr::StructField(f) => claim_refs(&f.value, out),
                }
            }
        }
        Expr::Struct(st) => {
            for entry in &st.entries {
                if let EntryExpr::StructField(f) = &entry.expr {
                    claim_refs(&f.value, out);
                }
            }
        }
        Expr::Comprehension(c) => {
            if [Some(&c.iter_var), c.iter_var2.as_ref(), Some(&c.accu_var)]
                .into_iter()
                .flatten()
                .any(|v| v == "claims")
            {
                out.all = true;
            }
            for x in [
                &c.iter_range,
                &c.accu_init,
                &c.loop_cond,
                &c.loop_step,
                &c.result,
            ] {
                claim_refs(x, out);
            }
        }
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(src: &str) -> (bool, Vec<String>) {
        let program = cel::Env::stdlib().compile(src).unwrap();
        let mut r = ClaimRefs::default();
        claim_refs(program.expression(), &mut r);
        (r.all, r.names.into_iter().collect())
    }

    #[test]
    fn claim_references() {
        let some = |names: &[&str]| (false, names.iter().map(|s| s.to_string()).collect());
        assert_eq!(
            refs("claims.a == 'x' && has(claims.b) && claims['c'].d.startsWith('y')"),
            some(&["a", "b", "c"])
        );
        assert_eq!(refs("claims.g.exists(x, x == claims.h)"), some(&["g", "h"]));
        assert_eq!(refs("issuer == identity"), some(&[]));
        for all in [
            "size(claims) > 1",
            "'a' in claims",
            "claims[issuer] == 1",
            "claims == {}",
            "claims.exists(k, k == 'a')",
            "[1].exists(claims, claims.x == 1)",
        ] {
            assert!(refs(all).0, "{all}");
        }
    }
}

//! Parsing: actions into a tree of text, expressions and `if` blocks. Everything outside the
//! supported subset is refused here, at configuration load.

use super::lex::{Piece, Tok, lex_action};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Node {
    Text(String),
    Action(Expr),
    If {
        cond: Expr,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Expr {
    /// `.` — the whole data map.
    Dot,
    /// `.a` or `.a.b` (the latter fails at run time like Go does on a string).
    Field(Vec<String>),
    Str(String),
    Call(Func, Vec<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Func {
    Eq,
    Ne,
    Not,
    Index,
}

/// Parses nodes until `{{else…}}`/`{{end}}` (returned as the stop keyword) or the end.
pub(super) fn parse_nodes(
    pieces: &[Piece],
    pos: &mut usize,
) -> Result<(Vec<Node>, Option<String>), String> {
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

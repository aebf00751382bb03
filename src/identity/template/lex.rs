//! Lexing: the source split into text and actions (with `{{-`/`-}}` trimming), then the inside
//! of one action split into tokens.

// ---- text / action split --------------------------------------------------------------------

#[derive(Debug)]
pub(super) enum Piece {
    Text(String),
    /// The inside of `{{ }}`, trim markers removed.
    Action(String),
}

/// Splits the source into text and actions, applying `{{- ` / ` -}}` trimming.
pub(super) fn split_actions(src: &str) -> Result<Vec<Piece>, String> {
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

// ---- inside an action -----------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok {
    Dot,
    Field(Vec<String>),
    Str(String),
    Ident(String),
    LParen,
    RParen,
}

pub(super) fn lex_action(s: &str) -> Result<Vec<Tok>, String> {
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

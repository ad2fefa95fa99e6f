//! The lexer: an expression string into tokens with byte ranges.

use std::ops::Range;

use super::SpanMap;
use crate::diag::Diagnostic;
use crate::expr::CmpOp;

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok {
    Ident(String),
    Str(String),
    Int(i64),
    Ip(String),
    List(String),
    /// `/…/` (a selector's regex on member names), with `\/` read as `/`.
    Regex(String),
    LParen,
    RParen,
    LBrack,
    RBrack,
    LBrace,
    RBrace,
    Comma,
    Cmp(CmpOp),
    AndAnd,
    OrOr,
    Bang,
    Eof,
}

impl Tok {
    pub(super) fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::Int(n) => format!("number {n}"),
            Tok::Ip(s) => format!("address `{s}`"),
            Tok::List(s) => format!("list `${s}`"),
            Tok::Regex(s) => format!("regex `/{s}/`"),
            Tok::Eof => "end of expression".into(),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::LBrack => "`[`".into(),
            Tok::RBrack => "`]`".into(),
            Tok::LBrace => "`{`".into(),
            Tok::RBrace => "`}`".into(),
            Tok::Comma => "`,`".into(),
            Tok::Cmp(_) => "a comparison".into(),
            Tok::AndAnd => "`&&`".into(),
            Tok::OrOr => "`||`".into(),
            Tok::Bang => "`!`".into(),
        }
    }
}

pub(super) fn lex(src: &str, map: &SpanMap) -> Result<Vec<(Tok, Range<usize>)>, Diagnostic> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |r: Range<usize>, m: &str, h: &str| Diagnostic::error(map.map(r), m).hint(h);
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let tok = match c {
            b'(' => Tok::LParen,
            b')' => Tok::RParen,
            b'[' => Tok::LBrack,
            b']' => Tok::RBrack,
            b'{' => Tok::LBrace,
            b'}' => Tok::RBrace,
            b',' => Tok::Comma,
            b'=' if b.get(i + 1) == Some(&b'=') => {
                i += 1;
                Tok::Cmp(CmpOp::Eq)
            }
            b'!' if b.get(i + 1) == Some(&b'=') => {
                i += 1;
                Tok::Cmp(CmpOp::Ne)
            }
            b'!' => Tok::Bang,
            b'<' | b'>' => {
                let eq = b.get(i + 1) == Some(&b'=');
                if eq {
                    i += 1;
                }
                Tok::Cmp(match (c, eq) {
                    (b'<', false) => CmpOp::Lt,
                    (b'<', true) => CmpOp::Le,
                    (_, false) => CmpOp::Gt,
                    (_, true) => CmpOp::Ge,
                })
            }
            b'&' if b.get(i + 1) == Some(&b'&') => {
                i += 1;
                Tok::AndAnd
            }
            b'|' if b.get(i + 1) == Some(&b'|') => {
                i += 1;
                Tok::OrOr
            }
            b'=' => return Err(err(i..i + 1, "`=` is not an operator", "compare with `==`")),
            b'"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match b.get(i) {
                        None => {
                            return Err(err(
                                start..b.len(),
                                "unterminated string literal",
                                "close the string with `\"`",
                            ))
                        }
                        Some(b'"') => break,
                        Some(b'\\') => {
                            let e = match b.get(i + 1) {
                                Some(b'"') => '"',
                                Some(b'\\') => '\\',
                                Some(b'n') => '\n',
                                Some(b'r') => '\r',
                                Some(b't') => '\t',
                                Some(b'0') => '\0',
                                _ => {
                                    return Err(err(
                                        i..(i + 2).min(b.len()),
                                        "unknown escape in string literal",
                                        "the escapes are \\\" \\\\ \\n \\r \\t \\0",
                                    ))
                                }
                            };
                            s.push(e);
                            i += 2;
                            continue;
                        }
                        Some(_) => {
                            let ch = src
                                .get(i..)
                                .and_then(|r| r.chars().next())
                                .unwrap_or('\u{FFFD}');
                            s.push(ch);
                            i += ch.len_utf8();
                            continue;
                        }
                    }
                }
                Tok::Str(s)
            }
            b'/' => {
                // A regex on member names; an escape is kept as it is, but `\/`, which
                // is a `/` that does not end the regex.
                let mut s = String::new();
                i += 1;
                loop {
                    let Some(ch) = src.get(i..).and_then(|r| r.chars().next()) else {
                        return Err(err(
                            start..b.len(),
                            "unterminated regex `/…/`",
                            "strings are quoted (`\"/admin\"`); a `/…/` regex selects members by name (`args[/^id_/]`): close it with `/`, and write a `/` inside it as `\\/`",
                        ));
                    };
                    i += ch.len_utf8();
                    match ch {
                        '/' => break,
                        '\\' => match src.get(i..).and_then(|r| r.chars().next()) {
                            Some('/') => {
                                s.push('/');
                                i += 1;
                            }
                            Some(next) => {
                                s.push('\\');
                                s.push(next);
                                i += next.len_utf8();
                            }
                            None => s.push('\\'),
                        },
                        ch => s.push(ch),
                    }
                }
                out.push((Tok::Regex(s), start..i));
                continue;
            }
            b'$' => {
                i += 1;
                while b
                    .get(i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
                {
                    i += 1;
                }
                if i == start + 1 {
                    return Err(err(
                        start..i,
                        "`$` must be followed by a list name",
                        "write `$name` for a list declared under [lists]",
                    ));
                }
                out.push((Tok::List(src[start + 1..i].to_string()), start..i));
                continue;
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b':' => {
                while b.get(i).is_some_and(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b':' | b'/')
                }) {
                    i += 1;
                }
                let word = &src[start..i];
                let tok = if word.contains(':') || (c.is_ascii_digit() && word.contains('.')) {
                    Tok::Ip(word.to_string())
                } else if c.is_ascii_digit() {
                    match word.parse::<i64>() {
                        Ok(n) => Tok::Int(n),
                        Err(_) => {
                            return Err(err(
                                start..i,
                                &format!("`{word}` is not a number"),
                                "integers are decimal and fit in 64 bits",
                            ))
                        }
                    }
                } else {
                    Tok::Ident(word.to_string())
                };
                out.push((tok, start..i));
                continue;
            }
            _ => {
                let ch = src.get(i..).and_then(|r| r.chars().next()).unwrap_or('?');
                return Err(err(
                    i..i + ch.len_utf8(),
                    &format!("unexpected character `{ch}`"),
                    "conditions are made of fields, operators, literals and parentheses",
                ));
            }
        };
        i += 1;
        out.push((tok, start..i));
    }
    out.push((Tok::Eof, b.len()..b.len()));
    Ok(out)
}

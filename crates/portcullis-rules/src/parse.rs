//! The `when` expression language: lexer, recursive-descent parser and type checker.
//!
//! Grammar (lowest precedence first):
//!
//! ```text
//! or    := and (("or" | "||") and)*
//! and   := unary (("and" | "&&") unary)*
//! unary := ("not" | "!") unary | "(" or ")" | pred
//! pred  := term [op rhs]
//! term  := field | field "[" string "]" | func "(" args ")" | string | int | ip | true | false
//! ```
//!
//! Nesting (parentheses, `not` and function calls) is bounded by a depth limit, so no input can overflow
//! the stack.

use std::collections::HashMap;
use std::net::IpAddr;
use std::ops::Range;

use crate::diag::Diagnostic;
use crate::expr::*;
use crate::lists::{List, ListItems, ListKind};
use crate::source::Span;

/// Maps byte offsets in an expression string to spans in its file.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SpanMap {
    /// The whole string value in the file.
    pub node: Span,
    /// Offset of the expression's first byte in the file, when the string holds no escapes
    /// (so positions inside it can be mapped exactly).
    pub base: Option<u32>,
}

impl SpanMap {
    pub fn map(&self, r: Range<usize>) -> Span {
        match self.base {
            Some(b) => Span {
                file: self.node.file,
                start: b.saturating_add(r.start as u32),
                end: b.saturating_add(r.end as u32),
            },
            None => self.node,
        }
    }
}

/// What the parser needs from the rule set around it.
pub(crate) struct Scope<'a> {
    pub names: &'a HashMap<String, ListId>,
    pub lists: &'a mut Vec<List>,
    pub used: &'a mut Vec<bool>,
    pub max_depth: usize,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Int(i64),
    Ip(String),
    List(String),
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
    fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::Int(n) => format!("number {n}"),
            Tok::Ip(s) => format!("address `{s}`"),
            Tok::List(s) => format!("list `${s}`"),
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

fn lex(src: &str, map: &SpanMap) -> Result<Vec<(Tok, Range<usize>)>, Diagnostic> {
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

const FIELDS: &[&str] = &[
    "ip",
    "method",
    "host",
    "path",
    "raw_path",
    "query",
    "arg",
    "header",
    "user_agent",
    "cookie",
    "auth.authenticated",
    "auth.subject",
    "auth.roles",
    "auth.scopes",
    "auth.tenant",
    "geo.country",
    "attr",
    "cors.preflight",
];
const FUNCS: &[&str] = &["lower", "url_decode", "path_segment", "len", "present"];

/// The closest known name, for "did you mean" hints.
pub(crate) fn suggest<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (edit_distance(word, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}

struct Parser<'s, 'a> {
    src: &'s str,
    toks: Vec<(Tok, Range<usize>)>,
    pos: usize,
    map: SpanMap,
    scope: &'s mut Scope<'a>,
    errors: Vec<Diagnostic>,
}

type PResult<T> = Result<T, Diagnostic>;

/// Parses and type-checks one condition. Syntax errors stop the expression; type errors are
/// all collected.
pub(crate) fn parse_condition(
    src: &str,
    map: SpanMap,
    scope: &mut Scope<'_>,
    errors: &mut Vec<Diagnostic>,
) -> Option<Expr> {
    let toks = match lex(src, &map) {
        Ok(t) => t,
        Err(d) => {
            errors.push(d);
            return None;
        }
    };
    let mut p = Parser {
        src,
        toks,
        pos: 0,
        map,
        scope,
        errors: Vec::new(),
    };
    let result = p.or(0).and_then(|e| match p.peek() {
        Tok::Eof => Ok(e),
        t => {
            let msg = format!("unexpected {} after a complete condition", t.describe());
            Err(p.error_here(&msg, "join conditions with `and` / `or`"))
        }
    });
    let ok = p.errors.is_empty();
    errors.append(&mut p.errors);
    match result {
        Ok(e) if ok => Some(*e),
        Ok(_) => None,
        Err(d) => {
            errors.push(d);
            None
        }
    }
}

impl Parser<'_, '_> {
    fn peek(&self) -> &Tok {
        self.toks.get(self.pos).map_or(&Tok::Eof, |t| &t.0)
    }

    fn range(&self) -> Range<usize> {
        self.toks
            .get(self.pos)
            .map_or(self.src.len()..self.src.len(), |t| t.1.clone())
    }

    fn bump(&mut self) -> (Tok, Range<usize>) {
        let t = self
            .toks
            .get(self.pos)
            .cloned()
            .unwrap_or((Tok::Eof, self.src.len()..self.src.len()));
        self.pos += 1;
        t
    }

    fn error_at(&self, r: Range<usize>, msg: &str, hint: &str) -> Diagnostic {
        Diagnostic::error(self.map.map(r), msg).hint(hint)
    }

    fn error_here(&self, msg: &str, hint: &str) -> Diagnostic {
        self.error_at(self.range(), msg, hint)
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s == w)
    }

    fn expect(&mut self, t: Tok, hint: &str) -> PResult<Range<usize>> {
        if *self.peek() == t {
            Ok(self.bump().1)
        } else {
            let msg = format!(
                "expected {}, found {}",
                t.describe(),
                self.peek().describe()
            );
            Err(self.error_here(&msg, hint))
        }
    }

    fn depth_check(&self, depth: usize) -> PResult<()> {
        if depth > self.scope.max_depth {
            Err(self.error_here(
                &format!("condition nested deeper than {} levels", self.scope.max_depth),
                "split the condition into several rules, or raise `max_expression_depth` in [policy]",
            ))
        } else {
            Ok(())
        }
    }

    // The recursive descent passes boxed expressions (and keeps the predicate parser out of
    // the recursion) so each nesting level costs little stack, even in debug builds:
    // `max_expression_depth` may be up to 1000.

    fn or(&mut self, depth: usize) -> PResult<Box<Expr>> {
        let first = self.and(depth)?;
        if !(self.is_word("or") || *self.peek() == Tok::OrOr) {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.is_word("or") || *self.peek() == Tok::OrOr {
            self.bump();
            items.push(self.and(depth)?);
        }
        Ok(join(items, Expr::Or))
    }

    fn and(&mut self, depth: usize) -> PResult<Box<Expr>> {
        let first = self.unary(depth)?;
        if !(self.is_word("and") || *self.peek() == Tok::AndAnd) {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.is_word("and") || *self.peek() == Tok::AndAnd {
            self.bump();
            items.push(self.unary(depth)?);
        }
        Ok(join(items, Expr::And))
    }

    fn unary(&mut self, depth: usize) -> PResult<Box<Expr>> {
        self.depth_check(depth)?;
        if self.is_word("not") || *self.peek() == Tok::Bang {
            self.bump();
            let inner = self.unary(depth + 1)?;
            return Ok(Box::new(Expr::Not(inner)));
        }
        if *self.peek() == Tok::LParen {
            self.bump();
            let e = self.or(depth + 1)?;
            self.expect(Tok::RParen, "close the group with `)`")?;
            return Ok(e);
        }
        self.pred(depth).map(Box::new)
    }

    fn pred(&mut self, depth: usize) -> PResult<Expr> {
        let start = self.range().start;
        let lhs = self.term(depth)?;
        let lhs_end = self
            .toks
            .get(self.pos.wrapping_sub(1))
            .map_or(start, |t| t.1.end);
        let lhs_range = start..lhs_end;
        let op = self.peek().clone();
        let op_range = self.range();
        let kind = match op {
            Tok::Cmp(cmp) => {
                self.bump();
                let rstart = self.range().start;
                let rhs = self.term(depth)?;
                let rend = self
                    .toks
                    .get(self.pos.wrapping_sub(1))
                    .map_or(rstart, |t| t.1.end);
                self.check_compare(&lhs, cmp, &rhs, lhs_range.clone(), rstart..rend);
                PredKind::Compare { lhs, op: cmp, rhs }
            }
            Tok::Ident(w) => match w.as_str() {
                "contains" | "starts_with" | "ends_with" | "matches" => {
                    self.bump();
                    let sop = match w.as_str() {
                        "contains" => StrOp::Contains,
                        "starts_with" => StrOp::StartsWith,
                        "ends_with" => StrOp::EndsWith,
                        _ => StrOp::Matches,
                    };
                    self.want_type(
                        &lhs,
                        Type::Str,
                        lhs_range.clone(),
                        &format!("`{w}` needs a string on its left"),
                    );
                    let (tok, r) = self.bump();
                    let Tok::Str(pattern) = tok else {
                        let hint = if matches!(tok, Tok::List(_) | Tok::LBrace) {
                            format!("to test against a list, use `{w}_any`")
                        } else {
                            "the right side is a quoted string literal".to_string()
                        };
                        return Err(self.error_at(
                            r,
                            &format!(
                                "`{w}` needs a string literal on its right, found {}",
                                tok.describe()
                            ),
                            &hint,
                        ));
                    };
                    if sop == StrOp::Matches {
                        if let Err(e) = check_regex(&pattern) {
                            self.errors.push(self.error_at(r, &format!("invalid regex: {e}"), "regexes use the syntax of the regex crate (no look-around or back-references)"));
                        }
                    }
                    PredKind::Str {
                        lhs,
                        op: sop,
                        pattern,
                    }
                }
                "in" | "contains_any" | "starts_with_any" | "ends_with_any" | "matches_any"
                | "has_any" => {
                    self.bump();
                    let lop = match w.as_str() {
                        "in" => ListOp::In,
                        "contains_any" => ListOp::ContainsAny,
                        "starts_with_any" => ListOp::StartsWithAny,
                        "ends_with_any" => ListOp::EndsWithAny,
                        "matches_any" => ListOp::MatchesAny,
                        _ => ListOp::HasAny,
                    };
                    let list = self.list_operand(&lhs, lop, lhs_range.clone())?;
                    PredKind::List { lhs, op: lop, list }
                }
                "has" => {
                    self.bump();
                    self.want_type(
                        &lhs,
                        Type::StrSet,
                        lhs_range.clone(),
                        "`has` needs a set (`auth.roles`, `auth.scopes`) on its left",
                    );
                    let rstart = self.range().start;
                    let item = self.term(depth)?;
                    let rend = self
                        .toks
                        .get(self.pos.wrapping_sub(1))
                        .map_or(rstart, |t| t.1.end);
                    self.want_type(
                        &item,
                        Type::Str,
                        rstart..rend,
                        "`has` needs a string on its right",
                    );
                    PredKind::Has { set: lhs, item }
                }
                "and" | "or" => self.test(lhs, lhs_range.clone())?,
                other => {
                    let known = [
                        "contains",
                        "starts_with",
                        "ends_with",
                        "matches",
                        "in",
                        "has",
                        "contains_any",
                        "starts_with_any",
                        "ends_with_any",
                        "matches_any",
                        "has_any",
                    ];
                    let hint = suggest(other, known)
                        .map_or("operators are == != < <= > >= in contains starts_with ends_with matches has and their _any forms".to_string(), |s| format!("did you mean `{s}`?"));
                    return Err(self.error_at(
                        op_range,
                        &format!("unknown operator `{other}`"),
                        &hint,
                    ));
                }
            },
            _ => self.test(lhs, lhs_range.clone())?,
        };
        let end = self
            .toks
            .get(self.pos.wrapping_sub(1))
            .map_or(start, |t| t.1.end);
        Ok(Expr::Pred(Pred {
            kind,
            span: self.map.map(start..end),
            text: self.src.get(start..end).unwrap_or("").to_string(),
        }))
    }

    /// A term standing alone must be boolean.
    fn test(&mut self, lhs: Term, r: Range<usize>) -> PResult<PredKind> {
        if let Term::Bool(b) = lhs {
            return Ok(PredKind::Compare {
                lhs: Term::Bool(b),
                op: CmpOp::Eq,
                rhs: Term::Bool(true),
            });
        }
        if lhs.ty() != Type::Bool {
            let what = lhs.ty();
            return Err(self.error_at(
                r,
                &format!("this is {what}, not a condition"),
                "compare it with an operator, e.g. `== \"…\"`, `contains \"…\"` or `in $list`",
            ));
        }
        Ok(PredKind::Test(lhs))
    }

    fn want_type(&mut self, t: &Term, want: Type, r: Range<usize>, msg: &str) {
        if t.ty() != want {
            let hint = format!("this is {}, but {want} is needed here", t.ty());
            self.errors.push(self.error_at(r, msg, &hint));
        }
    }

    fn check_compare(
        &mut self,
        lhs: &Term,
        op: CmpOp,
        rhs: &Term,
        lr: Range<usize>,
        rr: Range<usize>,
    ) {
        let (lt, rt) = (lhs.ty(), rhs.ty());
        if lt != rt {
            let hint = match (lt, rt) {
                (Type::Str, Type::Ip) | (Type::Ip, Type::Str) => "only `ip` holds addresses; compare it with an IP literal, or quote the address to compare text".to_string(),
                (Type::StrSet, _) => "to test membership in a set, use `has`".to_string(),
                _ => format!("both sides must have the same type; the right side is {rt}"),
            };
            self.errors.push(self.error_at(
                lr.start..rr.end,
                &format!("cannot compare {lt} with {rt}"),
                &hint,
            ));
            return;
        }
        if !matches!(op, CmpOp::Eq | CmpOp::Ne) && lt != Type::Int {
            self.errors.push(self.error_at(
                lr.start..rr.end,
                &format!("{lt} cannot be ordered"),
                "`<`, `<=`, `>` and `>=` compare integers, e.g. `len(query) > 1024`",
            ));
        }
        if lt == Type::StrSet {
            self.errors.push(self.error_at(
                lr,
                "sets cannot be compared with `==`",
                "use `has` or `has_any`",
            ));
        }
    }

    fn list_operand(&mut self, lhs: &Term, op: ListOp, lr: Range<usize>) -> PResult<ListId> {
        let (lt, wants) = match op {
            ListOp::In if lhs.ty() == Type::Ip => (Type::Ip, &[ListKind::Ip][..]),
            ListOp::In => (Type::Str, &[ListKind::String][..]),
            ListOp::ContainsAny | ListOp::StartsWithAny | ListOp::EndsWithAny => {
                (Type::Str, &[ListKind::Pattern, ListKind::String][..])
            }
            ListOp::MatchesAny => (Type::Str, &[ListKind::Regex][..]),
            ListOp::HasAny => (Type::StrSet, &[ListKind::String][..]),
        };
        self.want_type(lhs, lt, lr, "the left side does not fit this operator");
        let (tok, r) = self.bump();
        match tok {
            Tok::List(name) => {
                let Some(&id) = self.scope.names.get(&name) else {
                    let hint = suggest(&name, self.scope.names.keys().map(String::as_str))
                        .map_or("declare it under [lists]".to_string(), |s| {
                            format!("did you mean `${s}`?")
                        });
                    self.errors
                        .push(self.error_at(r, &format!("unknown list `${name}`"), &hint));
                    return Ok(ListId(u32::MAX));
                };
                if let Some(u) = self.scope.used.get_mut(id.0 as usize) {
                    *u = true;
                }
                let kind = self.scope.lists.get(id.0 as usize).map(|l| l.kind);
                if let Some(kind) = kind {
                    if !wants.contains(&kind) {
                        self.errors.push(self.error_at(
                            r,
                            &format!("`${name}` is a list of kind `{}`, which does not fit this operator", kind.name()),
                            &list_hint(kind),
                        ));
                    }
                }
                Ok(id)
            }
            Tok::LBrace => self.inline_set(op, wants, r.start),
            t => Err(self.error_at(
                r,
                &format!(
                    "expected a list (`$name` or `{{…}}`), found {}",
                    t.describe()
                ),
                "write `$name` for a declared list or `{\"a\", \"b\"}` for an inline set",
            )),
        }
    }

    /// `{ item, … }` becomes an anonymous list.
    fn inline_set(&mut self, op: ListOp, wants: &[ListKind], start: usize) -> PResult<ListId> {
        let mut strs = Vec::new();
        let mut nets = Vec::new();
        loop {
            if *self.peek() == Tok::RBrace {
                break;
            }
            let (tok, r) = self.bump();
            match tok {
                Tok::Str(s) => strs.push(s),
                Tok::Ip(s) => match crate::lists::parse_net(&s) {
                    Ok(n) => nets.push(n),
                    Err(e) => self.errors.push(self.error_at(
                        r,
                        &e,
                        "write an address (`192.0.2.1`, `2001:db8::1`) or a CIDR (`10.0.0.0/8`)",
                    )),
                },
                Tok::Int(n) => {
                    return Err(self.error_at(r, &format!("`{n}` is not an address or a string"), "sets hold quoted strings or IP addresses; compare integers with `<`, `==`, `>`"));
                }
                t => {
                    return Err(self.error_at(
                        r,
                        &format!("expected a set member, found {}", t.describe()),
                        "sets look like {\"GET\", \"HEAD\"} or {10.0.0.0/8, 192.0.2.1}",
                    ))
                }
            }
            if *self.peek() == Tok::Comma {
                self.bump();
            } else if *self.peek() != Tok::RBrace {
                return Err(self.error_here(
                    "expected `,` or `}` in a set",
                    "separate members with commas",
                ));
            }
        }
        let end = self.bump().1.end;
        let span = self.map.map(start..end);
        let (kind, items) = if !nets.is_empty() && strs.is_empty() {
            (ListKind::Ip, ListItems::Ip(nets))
        } else {
            if !nets.is_empty() {
                self.errors.push(self.error_at(
                    start..end,
                    "a set mixes addresses and strings",
                    "keep IP addresses and strings in separate sets",
                ));
            }
            let kind = match op {
                ListOp::ContainsAny | ListOp::StartsWithAny | ListOp::EndsWithAny => {
                    ListKind::Pattern
                }
                ListOp::MatchesAny => ListKind::Regex,
                _ => ListKind::String,
            };
            if kind == ListKind::Regex {
                for s in &strs {
                    if let Err(e) = check_regex(s) {
                        self.errors.push(self.error_at(
                            start..end,
                            &format!("invalid regex {s:?}: {e}"),
                            "regexes use the syntax of the regex crate",
                        ));
                    }
                }
            }
            (kind, ListItems::Str(strs))
        };
        // A set of strings also serves as patterns.
        let fits = wants.contains(&kind)
            || (kind == ListKind::String && wants.contains(&ListKind::Pattern));
        if !fits {
            self.errors.push(self.error_at(
                start..end,
                &format!("a set of kind `{}` does not fit this operator", kind.name()),
                &list_hint(kind),
            ));
        }
        let id = ListId(u32::try_from(self.scope.lists.len()).unwrap_or(u32::MAX));
        let name = self.src.get(start..end).unwrap_or("{…}").to_string();
        self.scope.lists.push(List {
            name,
            kind,
            case_insensitive: false,
            items,
            span,
            anonymous: true,
        });
        self.scope.used.push(true);
        Ok(id)
    }

    /// A term; `depth` counts enclosing parentheses, `not`s and function calls.
    fn term(&mut self, depth: usize) -> PResult<Term> {
        self.depth_check(depth)?;
        let (tok, r) = self.bump();
        match tok {
            Tok::Str(s) => Ok(Term::Str(s)),
            Tok::Int(n) => Ok(Term::Int(n)),
            Tok::Ip(s) => match s.parse::<IpAddr>() {
                Ok(ip) => Ok(Term::Ip(ip)),
                Err(_) => {
                    let hint = if s.contains('/') {
                        "a CIDR is a range, not one address: test it with `ip in {…}`"
                    } else {
                        "write a valid IPv4 (`192.0.2.1`) or IPv6 (`2001:db8::1`) address"
                    };
                    // Report a CIDR-specific message when it is one.
                    let msg = match crate::lists::parse_net(&s) {
                        Err(e) => e,
                        Ok(_) => format!("`{s}` is a network, not an address"),
                    };
                    Err(self.error_at(r, &msg, hint))
                }
            },
            Tok::Ident(w) if w == "true" => Ok(Term::Bool(true)),
            Tok::Ident(w) if w == "false" => Ok(Term::Bool(false)),
            Tok::Ident(w) if *self.peek() == Tok::LParen && FUNCS.contains(&w.as_str()) => {
                self.call(&w, r, depth)
            }
            Tok::Ident(w) => self.field(&w, r),
            t => Err(self.error_at(
                r,
                &format!("expected a field or a value, found {}", t.describe()),
                "a condition starts with a field such as `path`, `ip` or `header[\"x\"]`",
            )),
        }
    }

    fn call(&mut self, name: &str, r: Range<usize>, depth: usize) -> PResult<Term> {
        self.bump(); // (
        let astart = self.range().start;
        let term = if name == "path_segment" {
            let (tok, ar) = self.bump();
            match tok {
                Tok::Int(n) if (0..=u32::MAX as i64).contains(&n) => Term::PathSegment(n as u32),
                t => {
                    return Err(self.error_at(
                        ar,
                        &format!(
                            "`path_segment` takes a segment number, found {}",
                            t.describe()
                        ),
                        "segments count from 0: `path_segment(0)` of `/a/b` is \"a\"",
                    ))
                }
            }
        } else {
            let arg = self.term(depth + 1)?;
            let aend = self
                .toks
                .get(self.pos.wrapping_sub(1))
                .map_or(astart, |t| t.1.end);
            let ar = astart..aend;
            match name {
                "lower" | "url_decode" => {
                    self.want_type(&arg, Type::Str, ar, &format!("`{name}` takes a string"));
                    if name == "lower" {
                        Term::Lower(Box::new(arg))
                    } else {
                        Term::UrlDecode(Box::new(arg))
                    }
                }
                "len" => {
                    if !matches!(arg.ty(), Type::Str | Type::StrSet) {
                        self.errors.push(self.error_at(
                            ar,
                            "`len` takes a string or a set",
                            "e.g. `len(query) > 2048` or `len(auth.roles) == 0`",
                        ));
                    }
                    Term::Len(Box::new(arg))
                }
                _ => {
                    if !matches!(arg, Term::Field(_)) {
                        self.errors.push(self.error_at(
                            ar,
                            "`present` takes a field",
                            "e.g. `present(header[\"authorization\"])`",
                        ));
                    }
                    Term::Present(Box::new(arg))
                }
            }
        };
        self.expect(Tok::RParen, &format!("close the call to `{name}` with `)`"))
            .map_err(|d| d.hint(format!("`{name}` takes one argument")))?;
        let _ = r;
        Ok(term)
    }

    fn field(&mut self, w: &str, r: Range<usize>) -> PResult<Term> {
        let keyed = |k: &str, name: String| match k {
            "arg" => Field::Arg(name),
            "header" => Field::Header(name.to_ascii_lowercase()),
            "cookie" => Field::Cookie(name),
            _ => Field::Attr(name),
        };
        let f = match w {
            "ip" => Field::Ip,
            "method" => Field::Method,
            "host" => Field::Host,
            "path" => Field::Path,
            "raw_path" => Field::RawPath,
            "query" => Field::Query,
            "user_agent" => Field::UserAgent,
            "auth.authenticated" => Field::AuthAuthenticated,
            "auth.subject" => Field::AuthSubject,
            "auth.roles" => Field::AuthRoles,
            "auth.scopes" => Field::AuthScopes,
            "auth.tenant" => Field::AuthTenant,
            "geo.country" => Field::GeoCountry,
            "cors.preflight" => Field::CorsPreflight,
            "arg" | "header" | "cookie" | "attr" => {
                if *self.peek() != Tok::LBrack {
                    return Err(self.error_at(
                        r,
                        &format!("`{w}` needs a name in brackets"),
                        &format!("write `{w}[\"name\"]`"),
                    ));
                }
                self.bump();
                let (tok, nr) = self.bump();
                let Tok::Str(name) = tok else {
                    return Err(self.error_at(
                        nr,
                        &format!("expected a quoted name, found {}", tok.describe()),
                        &format!("write `{w}[\"name\"]`"),
                    ));
                };
                if w == "header" && !is_header_name(&name) {
                    return Err(self.error_at(
                        nr,
                        &format!("{name:?} is not a header name, so no request has it"),
                        "header names are tokens: letters, digits and !#$%&'*+-.^_`|~, no spaces or colons",
                    ));
                }
                self.expect(Tok::RBrack, "close the name with `]`")?;
                keyed(w, name)
            }
            _ => {
                let hint = suggest(w, FIELDS.iter().chain(FUNCS).copied())
                    .map_or("see docs/rules.md for the fields".to_string(), |s| {
                        format!("did you mean `{s}`?")
                    });
                return Err(self.error_at(r, &format!("unknown field `{w}`"), &hint));
            }
        };
        Ok(Term::Field(f))
    }
}

/// `Expr::And` or `Expr::Or` of boxed operands, unboxed here, off the recursive path.
// The boxes keep each level of the recursive descent small (see `Parser::or`).
#[allow(clippy::vec_box)]
fn join(items: Vec<Box<Expr>>, ctor: fn(Vec<Expr>) -> Expr) -> Box<Expr> {
    Box::new(ctor(items.into_iter().map(|e| *e).collect()))
}

fn list_hint(kind: ListKind) -> String {
    match kind {
        ListKind::Ip => "IP lists work with `ip in $list`".into(),
        ListKind::String => {
            "string lists work with `in`, `has_any` and the `*_any` operators".into()
        }
        ListKind::Pattern => {
            "pattern lists work with `contains_any`, `starts_with_any` and `ends_with_any`".into()
        }
        ListKind::Regex => "regex lists work with `matches_any`".into(),
    }
}

/// Checks that a regex parses and would run in linear time (no look-around, no
/// back-references: the syntax has neither).
pub(crate) fn check_regex(pattern: &str) -> Result<(), String> {
    regex_syntax::ParserBuilder::new()
        .nest_limit(64)
        .build()
        .parse(pattern)
        .map(|_| ())
        .map_err(|e| {
            // The crate's message spans several lines; keep the last, which says what is wrong.
            e.to_string()
                .lines()
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or("invalid")
                .trim()
                .trim_start_matches("error: ")
                .to_string()
        })
}

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
//! field := name ["[" selector ("," selector)* "]"]      a selector only after a collection
//! selector := ["not"] (string | "/" regex "/")
//! ```
//!
//! Nesting (parentheses, `not` and function calls) is bounded by a depth limit, so no input can overflow
//! the stack.

mod lex;
mod regex;
mod suggest;
mod typecheck;

use std::collections::HashMap;
use std::net::IpAddr;
use std::ops::Range;

use crate::diag::Diagnostic;
use crate::expr::*;
use crate::lists::List;
use crate::source::Span;

use lex::{lex, Tok};
pub(crate) use regex::check_regex;
pub(crate) use suggest::suggest;
use suggest::{FIELDS, FUNCS};

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
    pub regex_nesting: u32,
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
        // `lhs not op rhs`: the operator negated member by member (`SomeNot`).
        let negated = self.is_word("not").then(|| self.bump().1);
        let errors_before = self.errors.len();
        let op = self.peek().clone();
        let op_range = self.range();
        if let Some(not_range) = &negated {
            self.check_some_not(&op, not_range.clone(), op_range.clone())?;
        }
        let is_cmp = matches!(op, Tok::Cmp(_));
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
                "contains" | "starts_with" | "ends_with" | "matches" | "within" => {
                    self.bump();
                    let sop = match w.as_str() {
                        "contains" => StrOp::Contains,
                        "starts_with" => StrOp::StartsWith,
                        "ends_with" => StrOp::EndsWith,
                        "within" => StrOp::Within,
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
                        if let Err(e) = check_regex(&pattern, self.scope.regex_nesting) {
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
                        "within",
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
        let kind = match negated {
            Some(_) => {
                let kind = PredKind::SomeNot(Box::new(kind));
                if kind.some_not_operand().is_none() && self.errors.len() == errors_before {
                    let end = self
                        .toks
                        .get(self.pos.wrapping_sub(1))
                        .map_or(start, |t| t.1.end);
                    let (msg, hint) = if is_cmp {
                        (
                            "`not ==` compares with a string literal",
                            "e.g. `args not == \"on\"`; compare two fields with `!=`",
                        )
                    } else {
                        (
                            "`not` before an operator needs a string on its left",
                            "negate a whole test with `not (…)`",
                        )
                    };
                    self.errors.push(self.error_at(start..end, msg, hint));
                }
                kind
            }
            None => kind,
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
            Tok::Ident(w) => {
                let field = self.field(&w, r.clone())?;
                self.selection(field)
            }
            Tok::Regex(re) => Err(self.error_at(
                r,
                &format!("expected a field or a value, found regex `/{re}/`"),
                "strings are quoted (`\"/admin\"`); a `/…/` regex only selects a collection's members by name, as in `args[/^id_/]`",
            )),
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
                _ if Transform::from_name(name).is_some() => {
                    self.want_type(&arg, Type::Str, ar, &format!("`{name}` takes a string"));
                    match Transform::from_name(name) {
                        Some(func) => Term::Func(func, Box::new(arg)),
                        None => arg,
                    }
                }
                _ if Detector::from_name(name).is_some() => {
                    self.want_type(&arg, Type::Str, ar, &format!("`{name}` takes a string"));
                    match Detector::from_name(name) {
                        Some(d) => Term::Detect(d, Box::new(arg)),
                        None => arg,
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
                "count" => match arg {
                    Term::Field(f) if f.is_collection() => Term::Count(f),
                    other => {
                        let hint = match &other {
                            Term::Field(Field::Arg(n)) => {
                                format!("`arg[{n:?}]` is one argument; count them by name with `count(args[{n:?}])`")
                            }
                            Term::Field(Field::Header(n)) => {
                                format!("`header[{n:?}]` is one value; count the fields by name with `count(headers[{n:?}])`")
                            }
                            Term::Field(Field::Cookie(n)) => {
                                format!("`cookie[{n:?}]` is one value; count cookies by name with `count(cookies[{n:?}])`")
                            }
                            _ => COUNT_HINT.to_string(),
                        };
                        self.errors.push(self.error_at(
                            ar,
                            &format!("`count` takes a collection, not {other}"),
                            &hint,
                        ));
                        Term::Int(0)
                    }
                },
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
            "response.header" => Field::ResponseHeader(name.to_ascii_lowercase()),
            "cookie" => Field::Cookie(name),
            "score" => Field::Score(name),
            _ => Field::Attr(name),
        };
        let f = match w {
            "ip" => Field::Ip,
            "method" => Field::Method,
            "host" => Field::Host,
            "path" => Field::Path,
            "raw_path" => Field::RawPath,
            "query" => Field::Query,
            "protocol" => Field::Protocol,
            "request_line" => Field::RequestLine,
            "uri" => Field::Uri,
            "raw_uri" => Field::RawUri,
            "basename" => Field::Basename,
            "filename" => Field::Filename,
            "user_agent" => Field::UserAgent,
            "auth.authenticated" => Field::AuthAuthenticated,
            "auth.subject" => Field::AuthSubject,
            "auth.roles" => Field::AuthRoles,
            "auth.scopes" => Field::AuthScopes,
            "auth.tenant" => Field::AuthTenant,
            "geo.country" => Field::GeoCountry,
            "cors.preflight" => Field::CorsPreflight,
            "args" => Field::Args,
            "arg_names" => Field::ArgNames,
            "query_args" => Field::QueryArgs,
            "query_arg_names" => Field::QueryArgNames,
            "body_args" => Field::BodyArgs,
            "body_arg_names" => Field::BodyArgNames,
            "file_fields" => Field::FileFields,
            "body" => Field::Body,
            "body.inspected" => Field::BodyInspected,
            "body.truncated" => Field::BodyTruncated,
            "body.error" => Field::BodyError,
            "body.processor" => Field::BodyProcessor,
            "body.length" => Field::BodyLength,
            "files" => Field::Files,
            "files_size" => Field::FilesSize,
            "part_headers" => Field::PartHeaders,
            "xml_text" => Field::XmlText,
            "xml_attrs" => Field::XmlAttrs,
            "headers" => Field::Headers,
            "header_names" => Field::HeaderNames,
            "cookies" => Field::Cookies,
            "cookie_names" => Field::CookieNames,
            "labels" => Field::Labels,
            "response.status" => Field::ResponseStatus,
            "response.body" => Field::ResponseBody,
            "arg" | "header" | "cookie" | "attr" | "score" | "response.header" => {
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
                if (w == "header" || w == "response.header") && !is_header_name(&name) {
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

/// The collections, for hints.
const COLLECTIONS: &str = "args, arg_names, query_args, query_arg_names, body_args, body_arg_names, files, file_fields, part_headers, xml_text, xml_attrs, headers, header_names, cookies, cookie_names";

const COUNT_HINT: &str = "`count` counts a collection's members: `count(args) > 255`, `count(headers[\"host\"]) == 0`, `count(cookies[not /^__utm/])`";

impl Parser<'_, '_> {
    /// A field, narrowed by the selector after it when there is one: `headers[not
    /// "referer"]`.
    fn selection(&mut self, term: Term) -> PResult<Term> {
        let Term::Field(field) = term else {
            return Ok(term);
        };
        if *self.peek() != Tok::LBrack {
            return Ok(Term::Field(field));
        }
        if !field.is_collection() {
            let hint = match &field {
                Field::Arg(n) => format!("`arg[{n:?}]` is one argument; to select arguments by name, write `args[{n:?}]`"),
                Field::Header(n) => format!("`header[{n:?}]` is one header; to select header fields by name, write `headers[{n:?}]`"),
                Field::Cookie(n) => format!("`cookie[{n:?}]` is one cookie; to select cookies by name, write `cookies[{n:?}]`"),
                _ => format!("only a collection takes a selector: {COLLECTIONS}"),
            };
            return Err(self.error_here(
                &format!("`{field}` is not a collection, so it takes no selector `[…]`"),
                &hint,
            ));
        }
        let open = self.bump().1;
        if *self.peek() == Tok::RBrack {
            let close = self.bump().1;
            return Err(self.error_at(
                open.start..close.end,
                "empty selector `[]`",
                &format!("name the members to keep (`{field}[\"a\", /^id_/]`) or drop (`{field}[not \"a\"]`), or write `{field}` for all of them"),
            ));
        }
        let headers = matches!(field, Field::Headers | Field::HeaderNames);
        let mut items = Vec::new();
        loop {
            let exclude = self.is_word("not") || *self.peek() == Tok::Bang;
            if exclude {
                self.bump();
            }
            let (tok, tr) = self.bump();
            let name = match tok {
                Tok::Str(name) => {
                    if headers && !is_header_name(&name) {
                        self.errors.push(self.error_at(
                            tr,
                            &format!("{name:?} is not a header name, so no header field has it"),
                            "header names are tokens: letters, digits and !#$%&'*+-.^_`|~, no spaces or colons",
                        ));
                    }
                    NameMatch::Name(name)
                }
                Tok::Regex(re) => {
                    if re.is_empty() {
                        self.errors.push(self.error_at(
                            tr.clone(),
                            "an empty regex `//` matches every name",
                            &format!("write `{field}` for every member"),
                        ));
                    } else if let Err(e) = check_regex(&re, self.scope.regex_nesting) {
                        self.errors.push(self.error_at(
                            tr,
                            &format!("invalid regex: {e}"),
                            "regexes use the syntax of the regex crate (no look-around or back-references); a `/` inside is written `\\/`",
                        ));
                    }
                    NameMatch::Regex(re)
                }
                t => {
                    return Err(self.error_at(
                        tr,
                        &format!("expected a member name or a `/regex/` in a selector, found {}", t.describe()),
                        "a selector lists names and regexes on names, each optionally after `not`: `cookies[not /^__utm/]`, `headers[not \"user-agent\"]`, `args[\"a\", \"b\"]`",
                    ))
                }
            };
            items.push(Selector { exclude, name });
            match self.peek() {
                Tok::Comma => {
                    self.bump();
                }
                Tok::RBrack => {
                    self.bump();
                    break;
                }
                t => {
                    let msg = format!("expected `,` or `]` in a selector, found {}", t.describe());
                    return Err(self.error_here(
                        &msg,
                        "separate selectors with commas and close them with `]`",
                    ));
                }
            }
        }
        Ok(Term::Field(Field::Select {
            of: Box::new(field),
            selection: Selection { items },
        }))
    }
}

/// `Expr::And` or `Expr::Or` of boxed operands, unboxed here, off the recursive path.
// The boxes keep each level of the recursive descent small (see `Parser::or`).
#[allow(clippy::vec_box)]
fn join(items: Vec<Box<Expr>>, ctor: fn(Vec<Expr>) -> Expr) -> Box<Expr> {
    Box::new(ctor(items.into_iter().map(|e| *e).collect()))
}

//! Type checking: operators against operand types, and list operands.

use std::ops::Range;

use super::lex::Tok;
use super::regex::check_regex;
use super::suggest::suggest;
use super::{PResult, Parser};
use crate::expr::*;
use crate::lists::{List, ListItems, ListKind};

impl Parser<'_, '_> {
    /// A term standing alone must be boolean.
    pub(super) fn test(&mut self, lhs: Term, r: Range<usize>) -> PResult<PredKind> {
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

    /// The operator after `lhs not`: a string or string-list operator, or `==`.
    pub(super) fn check_some_not(
        &self,
        op: &Tok,
        not: Range<usize>,
        op_range: Range<usize>,
    ) -> PResult<()> {
        let fits = match op {
            Tok::Cmp(cmp) => *cmp == CmpOp::Eq,
            Tok::Ident(w) => matches!(
                w.as_str(),
                "contains"
                    | "starts_with"
                    | "ends_with"
                    | "matches"
                    | "within"
                    | "in"
                    | "contains_any"
                    | "starts_with_any"
                    | "ends_with_any"
                    | "matches_any"
            ),
            _ => false,
        };
        if fits {
            return Ok(());
        }
        let (r, msg) = match op {
            Tok::Ident(w) if !matches!(w.as_str(), "has" | "has_any") => (
                not.start..op_range.end,
                format!("expected an operator after `not`, found `{w}`"),
            ),
            Tok::Cmp(_) | Tok::Ident(_) => (
                op_range.clone(),
                format!(
                    "`{}` cannot follow `not`",
                    self.src.get(op_range).unwrap_or("")
                ),
            ),
            t => (
                not.start..op_range.end,
                format!("expected an operator after `not`, found {}", t.describe()),
            ),
        };
        Err(self.error_at(
            r,
            &msg,
            "`x not op …` holds when some value of x fails `op` (`args not matches \"^[0-9]+$\"`); it takes ==, contains, starts_with, ends_with, matches, within, in and the string _any forms. Negate a whole test with `not (…)`",
        ))
    }

    pub(super) fn want_type(&mut self, t: &Term, want: Type, r: Range<usize>, msg: &str) {
        if t.ty() != want {
            let hint = format!("this is {}, but {want} is needed here", t.ty());
            self.errors.push(self.error_at(r, msg, &hint));
        }
    }

    pub(super) fn check_compare(
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

    pub(super) fn list_operand(
        &mut self,
        lhs: &Term,
        op: ListOp,
        lr: Range<usize>,
    ) -> PResult<ListId> {
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
    pub(super) fn inline_set(
        &mut self,
        op: ListOp,
        wants: &[ListKind],
        start: usize,
    ) -> PResult<ListId> {
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
                    if let Err(e) = check_regex(s, self.scope.regex_nesting) {
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

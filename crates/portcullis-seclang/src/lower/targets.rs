//! A link's variables as engine fields: each target read through the link's
//! transformations under its operator, and the collections, counts and numbers they name.

use portcullis_rules::{
    Expr, Field, List, ListId, ListItems, ListKind, ListOp, NameMatch, Pred, PredKind, Selection,
    Span, StrOp, Term,
};

use super::chain::{transforms, Chain};
use super::operators::negated;
use super::{and, not, or, Cond, Lowering, Unsupported};
use crate::operator::{Operator, OperatorKind};
use crate::resolve::Link;
use crate::variable::{with_exclusions, Selector, Variable, VariableKind};

/// Removals of members of one target per request a rule may have: each set of those that
/// hold is a copy of the target's test (eight for three).
const MAX_MEMBER_REMOVALS: usize = 3;

impl Lowering<'_> {
    /// One link: any of its targets (but the excluded ones) satisfies the operator.
    pub(super) fn link(
        &mut self,
        link: &Link,
        actions: &[crate::action::Action],
        prev: Option<(&Link, &[crate::action::Action])>,
    ) -> Result<Cond, Unsupported> {
        let mut chain = transforms(actions)?;
        let op = &link.operator;
        let matched = link
            .variables
            .iter()
            .any(|v| matches!(v.kind, VariableKind::MatchedVar | VariableKind::MatchedVars));
        // `MATCHED_VAR` in a chain: the targets of the link before, as that link's
        // functions left them (ModSecurity v3 keeps the transformed value), then this
        // link's; read again, not bound to the member that matched there.
        let targets = if matched {
            if link.variables.len() > 1 {
                return Err(Unsupported("MATCHED_VAR beside other targets".into()));
            }
            let (prev, prev_actions) =
                prev.ok_or_else(|| Unsupported("MATCHED_VAR outside a chain".into()))?;
            let mut funcs = transforms(prev_actions)?.funcs;
            funcs.append(&mut chain.funcs);
            chain.funcs = funcs;
            &prev.variables
        } else {
            &link.variables
        };
        self.each_target(targets, |l, v, excl| {
            l.target(v, excl, &chain, op, link.span)
        })
    }

    /// Any of `targets` (but the excluded ones) satisfies `one`, which lowers one target
    /// with the exclusions of its kind.
    pub(super) fn each_target(
        &mut self,
        targets: &[Variable],
        mut one: impl FnMut(&mut Self, &Variable, &[&Variable]) -> Result<Cond, Unsupported>,
    ) -> Result<Cond, Unsupported> {
        let mut out = Cond::Static(false);
        for (v, excl) in with_exclusions(targets) {
            let (whole, members) = self.removed_from_target(v);
            let mut c = if members.is_empty() {
                one(self, v, &excl)?
            } else {
                // Members removed per request (`ctl:ruleRemoveTargetById=942100;ARGS:pwd`
                // where the path is the login's): for each set of the removals that
                // hold, the target without the members they remove.
                if members.len() > MAX_MEMBER_REMOVALS {
                    return Err(Unsupported(format!(
                        "more than {MAX_MEMBER_REMOVALS} removals of members of {} per request",
                        v.kind.name()
                    )));
                }
                let mut c = Cond::Static(false);
                for held in 0..1u32 << members.len() {
                    let mut case_excl = excl.clone();
                    let mut case = Cond::Static(true);
                    for (i, (member, when)) in members.iter().enumerate() {
                        if held & 1 << i != 0 {
                            case_excl.push(member);
                            case = and(case, Cond::Dynamic(when.clone()));
                        } else {
                            case = and(case, Cond::Dynamic(not(when.clone())));
                        }
                    }
                    c = or(c, and(case, one(self, v, &case_excl)?));
                }
                c
            };
            for when in whole {
                c = and(c, Cond::Dynamic(not(when)));
            }
            if let (VariableKind::RequestBody, Cond::Dynamic(e)) = (v.kind, &mut c) {
                // ModSecurity keeps the raw body only when no processor, or the form one,
                // read it (short of `ctl:forceRequestBodyVariable`).
                let raw = Expr::Pred(Pred {
                    kind: PredKind::Str {
                        lhs: Term::Field(Field::BodyProcessor),
                        op: StrOp::Within,
                        pattern: "URLENCODED".into(),
                    },
                    span: v.span,
                    text: "body.processor within \"URLENCODED\"".into(),
                });
                *e = Expr::And(vec![raw, std::mem::replace(e, Expr::Const(false))]);
            }
            out = or(out, c);
            if matches!(out, Cond::Static(true)) {
                break;
            }
        }
        Ok(out)
    }

    /// One target under the operator.
    fn target(
        &mut self,
        v: &Variable,
        excluded: &[&Variable],
        chain: &Chain,
        op: &Operator,
        span: Span,
    ) -> Result<Cond, Unsupported> {
        if v.kind == VariableKind::Tx {
            return self.tx_target(v, chain, op);
        }
        if v.count {
            return self.count_target(v, excluded, op);
        }
        if let Some(c) = self.numeric_target(v, op)? {
            return Ok(c);
        }
        self.field_target(v, excluded, chain, op.negated, span, &mut |l, term| {
            l.operator(term, op, span)
        })
    }

    /// One target that is a request field or collection, read through `chain`, under the
    /// test `test` makes of a term (`negated`: ModSecurity's `!@…`).
    pub(super) fn field_target(
        &mut self,
        v: &Variable,
        excluded: &[&Variable],
        chain: &Chain,
        negated: bool,
        span: Span,
        test: &mut dyn FnMut(&mut Self, Term) -> Result<PredKind, Unsupported>,
    ) -> Result<Cond, Unsupported> {
        let (field, collection) = field_of(v, excluded)?;
        let base = field.clone();
        // `multiMatch`: the operator runs on the value before and after each function.
        let cuts: Vec<usize> = if chain.multi_match {
            (0..=chain.funcs.len()).collect()
        } else {
            vec![chain.funcs.len()]
        };
        let mut preds = Vec::new();
        for cut in cuts {
            let mut term = Term::Field(field.clone());
            for t in chain.funcs.iter().take(cut) {
                term = Term::Func(*t, Box::new(term));
            }
            if chain.length {
                term = Term::Len(Box::new(term));
            }
            let kind = test(self, term)?;
            preds.push(Expr::Pred(Pred {
                kind,
                span,
                text: self.set.sources.slice(span).chars().take(200).collect(),
            }));
        }
        let pred = if preds.len() == 1 {
            preds.swap_remove(0)
        } else {
            Expr::Or(preds)
        };
        if !negated {
            return Ok(Cond::Dynamic(pred));
        }
        if collection {
            // Some member that fails the test (ModSecurity tests each member).
            let Expr::Pred(p) = pred else {
                return Err(Unsupported(
                    "a negated operator on a collection under multiMatch".into(),
                ));
            };
            if !matches!(
                p.kind,
                PredKind::Str { .. } | PredKind::List { .. } | PredKind::Compare { .. }
            ) {
                return Err(Unsupported("this negated operator on a collection".into()));
            }
            return Ok(Cond::Dynamic(Expr::Pred(Pred {
                kind: PredKind::SomeNot(Box::new(p.kind)),
                ..p
            })));
        }
        // ModSecurity tests each value a target has: an absent header has none, so a
        // negated operator does not match it either.
        let present = Expr::Pred(Pred {
            kind: PredKind::Test(Term::Present(Box::new(Term::Field(base)))),
            span,
            text: format!("present({})", self.set.sources.slice(v.span)),
        });
        Ok(Cond::Dynamic(Expr::And(vec![
            present,
            Expr::Not(Box::new(pred)),
        ])))
    }

    /// Variables ModSecurity reads as numbers: `REQUEST_BODY_LENGTH`, `REQBODY_ERROR`
    /// (1 when the body could not be read), and `REMOTE_ADDR` under `@ipMatch`.
    fn numeric_target(&mut self, v: &Variable, op: &Operator) -> Result<Option<Cond>, Unsupported> {
        let lhs = match v.kind {
            VariableKind::RequestBodyLength => Term::Field(Field::BodyLength),
            VariableKind::FilesCombinedSize => Term::Field(Field::FilesSize),
            VariableKind::ReqbodyError => {
                // `@eq 1`/`@eq 0` on whether a body processor failed.
                let n = match &op.kind {
                    OperatorKind::Eq(m) => self.expand(m)?,
                    _ => {
                        return Err(Unsupported(
                            "REQBODY_ERROR under another operator than @eq".into(),
                        ))
                    }
                };
                let error = Expr::Pred(Pred {
                    kind: PredKind::Test(Term::Present(Box::new(Term::Field(Field::BodyError)))),
                    span: v.span,
                    text: "present(body.error)".into(),
                });
                let holds = match n.trim() {
                    "1" => error,
                    "0" => Expr::Not(Box::new(error)),
                    _ => Expr::Const(false),
                };
                return Ok(Some(Cond::Dynamic(negated(holds, op))));
            }
            VariableKind::RemoteAddr => {
                let OperatorKind::IpMatch(nets) = &op.kind else {
                    return Err(Unsupported(
                        "REMOTE_ADDR under another operator than @ipMatch".into(),
                    ));
                };
                let id = ListId(u32::try_from(self.lists.len()).unwrap_or(u32::MAX));
                self.lists.push(List {
                    name: format!("@ipMatch {}", self.set.sources.slice(op.span)),
                    kind: ListKind::Ip,
                    case_insensitive: false,
                    items: ListItems::Ip(nets.clone()),
                    span: op.span,
                    anonymous: true,
                });
                let e = Expr::Pred(Pred {
                    kind: PredKind::List {
                        lhs: Term::Field(Field::Ip),
                        op: ListOp::In,
                        list: id,
                    },
                    span: op.span,
                    text: self.set.sources.slice(op.span).to_string(),
                });
                return Ok(Some(Cond::Dynamic(negated(e, op))));
            }
            _ => return Ok(None),
        };
        let Some((cmp, n)) = self.comparison(op)? else {
            return Err(Unsupported(format!(
                "{} under a string operator",
                v.kind.name()
            )));
        };
        let e = Expr::Pred(Pred {
            kind: PredKind::Compare {
                lhs,
                op: cmp,
                rhs: Term::Int(n),
            },
            span: op.span,
            text: format!(
                "{} {}",
                self.set.sources.slice(v.span),
                self.set.sources.slice(op.span)
            ),
        });
        Ok(Some(Cond::Dynamic(negated(e, op))))
    }

    /// What `ctl:ruleRemoveTarget…` of earlier rules remove from target `v` of the rule
    /// being lowered, per request: the whole target under each of the first conditions, and
    /// members of it (`ARGS:pwd` from `ARGS`) under the second's.
    fn removed_from_target(&self, v: &Variable) -> (Vec<Expr>, Vec<(Variable, Expr)>) {
        let mut whole = Vec::new();
        let mut members = Vec::new();
        for (t, when) in self
            .removed_targets
            .iter()
            .filter(|(t, _)| t.kind == v.kind)
        {
            match (&t.selector, &v.selector) {
                (None, _) => whole.push(when.clone()),
                (Some(Selector::Key(a)), Some(Selector::Key(b))) => {
                    // `ARGS:pwd` from `ARGS:pwd` is all of it; from `ARGS:user`, nothing.
                    if a.eq_ignore_ascii_case(b.as_str()) {
                        whole.push(when.clone());
                    }
                }
                (Some(_), _) => members.push((t.clone(), when.clone())),
            }
        }
        (whole, members)
    }

    /// `&VAR`: how many members there are.
    fn count_target(
        &mut self,
        v: &Variable,
        excluded: &[&Variable],
        op: &Operator,
    ) -> Result<Cond, Unsupported> {
        let field = collection_of(v, excluded)?
            .ok_or_else(|| Unsupported(format!("counting {}", v.kind.name())))?;
        let Some((cmp, n)) = self.comparison(op)? else {
            return Err(Unsupported("a count under a string operator".into()));
        };
        let e = Expr::Pred(Pred {
            kind: PredKind::Compare {
                lhs: Term::Count(field),
                op: cmp,
                rhs: Term::Int(n),
            },
            span: v.span,
            text: format!(
                "{} {}",
                self.set.sources.slice(v.span),
                self.set.sources.slice(op.span)
            ),
        });
        Ok(Cond::Dynamic(negated(e, op)))
    }
}

/// The collection a target reads, narrowed by its key or regex selector and by the
/// link's exclusions of the same variable (`REQUEST_HEADERS|!REQUEST_HEADERS:Referer`);
/// `None` when the variable is not a collection.
fn collection_of(v: &Variable, excluded: &[&Variable]) -> Result<Option<Field>, Unsupported> {
    use VariableKind as V;
    let of = match v.kind {
        V::Args => Field::Args,
        V::ArgsNames => Field::ArgNames,
        V::ArgsGet => Field::QueryArgs,
        V::ArgsGetNames => Field::QueryArgNames,
        V::ArgsPost => Field::BodyArgs,
        V::ArgsPostNames => Field::BodyArgNames,
        V::RequestHeaders => Field::Headers,
        V::RequestHeadersNames => Field::HeaderNames,
        V::RequestCookies => Field::Cookies,
        V::RequestCookiesNames => Field::CookieNames,
        V::Files => Field::Files,
        V::FilesNames => Field::FileFields,
        V::MultipartPartHeaders => Field::PartHeaders,
        // The two XPaths CRS uses: the root's text, and every attribute.
        V::Xml => match &v.selector {
            Some(Selector::XPath(p)) if p == "/*" && excluded.is_empty() => {
                return Ok(Some(Field::XmlText))
            }
            Some(Selector::XPath(p)) if p == "//@*" && excluded.is_empty() => {
                return Ok(Some(Field::XmlAttrs))
            }
            _ => return Err(Unsupported("an XPath other than `/*` and `//@*`".into())),
        },
        _ => return Ok(None),
    };
    let selector = |s: &Selector, exclude: bool| match s {
        Selector::Key(k) => Ok(portcullis_rules::Selector {
            exclude,
            name: NameMatch::Name(k.clone()),
        }),
        Selector::Regex(r) => Ok(portcullis_rules::Selector {
            exclude,
            name: NameMatch::Regex(r.clone()),
        }),
        Selector::XPath(_) => Err(Unsupported("an XPath selector".into())),
    };
    let mut items = Vec::new();
    if let Some(s) = &v.selector {
        items.push(selector(s, false)?);
    }
    for e in excluded {
        match &e.selector {
            Some(s) => items.push(selector(s, true)?),
            // `!ARGS` excludes every member.
            None => return Err(Unsupported(format!("excluding all of {}", v.kind.name()))),
        }
    }
    Ok(Some(if items.is_empty() {
        of
    } else {
        Field::Select {
            of: Box::new(of),
            selection: Selection { items },
        }
    }))
}

/// The field a target reads, and whether it has several members.
pub(crate) fn field_of(v: &Variable, excluded: &[&Variable]) -> Result<(Field, bool), Unsupported> {
    use VariableKind as V;
    let key = match &v.selector {
        Some(Selector::Key(k)) => Some(k.as_str()),
        _ => None,
    };
    // A header or cookie by name, as one value: a negated operator then has the absent
    // case right (a collection has none to test).
    match (v.kind, key, excluded.is_empty()) {
        (V::RequestHeaders, Some(k), true) => {
            return Ok((Field::Header(k.to_ascii_lowercase()), false))
        }
        (V::RequestCookies, Some(k), true) => return Ok((Field::Cookie(k.to_string()), false)),
        (V::ResponseHeaders, Some(k), true) => {
            return Ok((Field::ResponseHeader(k.to_ascii_lowercase()), false))
        }
        _ => {}
    }
    if let Some(c) = collection_of(v, excluded)? {
        return Ok((c, true));
    }
    if v.selector.is_some() || !excluded.is_empty() {
        return Err(Unsupported(format!("{} with a selector", v.kind.name())));
    }
    Ok(match v.kind {
        V::RequestMethod => (Field::Method, false),
        V::RequestProtocol => (Field::Protocol, false),
        V::RequestLine => (Field::RequestLine, false),
        V::QueryString => (Field::Query, false),
        V::RequestFilename => (Field::Filename, false),
        V::RequestBody => (Field::Body, false),
        V::RequestUri => (Field::Uri, false),
        V::RequestUriRaw => (Field::RawUri, false),
        V::RequestBasename => (Field::Basename, false),
        V::ReqbodyProcessor => (Field::BodyProcessor, false),
        V::RemoteAddr => (Field::Ip, false),
        V::ResponseStatus => (Field::ResponseStatus, false),
        V::ResponseBody => (Field::ResponseBody, false),
        kind => return Err(Unsupported(kind.name().to_string())),
    })
}

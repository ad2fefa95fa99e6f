//! The implication test behind "can never decide": negation normal form, constant
//! folding, and whether one condition implies another.

use crate::expr::{CmpOp, Expr, ListOp, Pred, PredKind, StrOp, Term};
use crate::lists::{List, ListItems, ListKind};

/// Negation normal form: `not` only directly above predicates; constant predicates folded.
pub(super) fn to_nnf(e: &Expr, neg: bool) -> Expr {
    match e {
        Expr::Const(b) => Expr::Const(*b != neg),
        Expr::Not(x) => to_nnf(x, !neg),
        Expr::And(xs) | Expr::Or(xs) => {
            let is_and = matches!(e, Expr::And(_)) != neg;
            let mut parts = Vec::with_capacity(xs.len());
            for x in xs {
                match to_nnf(x, neg) {
                    Expr::Const(b) if b == is_and => {} // neutral element
                    Expr::Const(b) => return Expr::Const(b),
                    p => parts.push(p),
                }
            }
            match parts.len() {
                0 => Expr::Const(is_and),
                1 => parts.pop().unwrap_or(Expr::Const(is_and)),
                _ if is_and => Expr::And(parts),
                _ => Expr::Or(parts),
            }
        }
        Expr::Pred(p) => match constant(p) {
            Some(b) => Expr::Const(b != neg),
            None if neg => Expr::Not(Box::new(Expr::Pred(p.clone()))),
            None => Expr::Pred(p.clone()),
        },
    }
}

/// The value of a predicate between two literals (`true`, `1 == 1`).
fn constant(p: &Pred) -> Option<bool> {
    let PredKind::Compare { lhs, op, rhs } = &p.kind else {
        return None;
    };
    let eq = match (lhs, rhs) {
        (Term::Bool(a), Term::Bool(b)) => a == b,
        (Term::Str(a), Term::Str(b)) => a == b,
        (Term::Int(a), Term::Int(b)) => return Some(op.holds(a, b)),
        _ => return None,
    };
    match op {
        CmpOp::Eq => Some(eq),
        CmpOp::Ne => Some(!eq),
        _ => None,
    }
}

/// Whether `r` implies `e` (both in NNF): every request matching `r` matches `e`. Sound,
/// not complete: `false` means "could not show it".
pub(super) fn implies(r: &Expr, e: &Expr, lists: &[List]) -> bool {
    match (r, e) {
        (_, Expr::Const(true)) | (Expr::Const(false), _) => true,
        (Expr::Or(rs), _) => rs.iter().all(|x| implies(x, e, lists)),
        (_, Expr::And(es)) => es.iter().all(|x| implies(r, x, lists)),
        (_, Expr::Or(es)) => {
            es.iter().any(|x| implies(r, x, lists))
                || matches!(r, Expr::And(rs) if rs.iter().any(|x| implies(x, e, lists)))
        }
        (Expr::And(rs), _) => rs.iter().any(|x| implies(x, e, lists)),
        (Expr::Pred(a), Expr::Pred(b)) => pred_implies(a, b, lists),
        (Expr::Not(a), Expr::Not(b)) => match (a.as_ref(), b.as_ref()) {
            // not a => not b  iff  b => a
            (Expr::Pred(a), Expr::Pred(b)) => pred_implies(b, a, lists),
            _ => false,
        },
        _ => false,
    }
}

/// What a string predicate says about its field's value, as a literal constraint.
enum StrFact<'a> {
    Eq(&'a str),
    Prefix(&'a str),
    Suffix(&'a str),
    Contains(&'a str),
}

fn str_fact(p: &PredKind) -> Option<(&Term, StrFact<'_>)> {
    match p {
        PredKind::Str { lhs, op, pattern } => Some((
            lhs,
            match op {
                StrOp::Contains => StrFact::Contains(pattern),
                StrOp::StartsWith => StrFact::Prefix(pattern),
                StrOp::EndsWith => StrFact::Suffix(pattern),
                StrOp::Matches | StrOp::Within => return None,
            },
        )),
        PredKind::Compare {
            lhs,
            op: CmpOp::Eq,
            rhs: Term::Str(s),
        } if lhs.field().is_some() => Some((lhs, StrFact::Eq(s))),
        PredKind::Compare {
            lhs: Term::Str(s),
            op: CmpOp::Eq,
            rhs,
        } if rhs.field().is_some() => Some((rhs, StrFact::Eq(s))),
        _ => None,
    }
}

/// Whether every value satisfying `r` satisfies `e`, for literal string facts.
fn fact_implies(r: &StrFact<'_>, e: &StrFact<'_>, fold: bool) -> bool {
    let norm = |s: &str| {
        if fold {
            s.to_ascii_lowercase()
        } else {
            s.to_string()
        }
    };
    match (r, e) {
        (StrFact::Eq(v), StrFact::Eq(w)) => norm(v) == norm(w),
        (StrFact::Eq(v), StrFact::Prefix(w)) | (StrFact::Prefix(v), StrFact::Prefix(w)) => {
            norm(v).starts_with(&norm(w))
        }
        (StrFact::Eq(v), StrFact::Suffix(w)) | (StrFact::Suffix(v), StrFact::Suffix(w)) => {
            norm(v).ends_with(&norm(w))
        }
        (
            StrFact::Eq(v) | StrFact::Prefix(v) | StrFact::Suffix(v) | StrFact::Contains(v),
            StrFact::Contains(w),
        ) => norm(v).contains(&norm(w)),
        _ => false,
    }
}

fn pred_implies(r: &Pred, e: &Pred, lists: &[List]) -> bool {
    if r.kind == e.kind {
        return true;
    }
    // A literal fact against another literal fact on the same term.
    if let (Some((rt, rf)), Some((et, ef))) = (str_fact(&r.kind), str_fact(&e.kind)) {
        return rt == et && fact_implies(&rf, &ef, false);
    }
    match (&r.kind, &e.kind) {
        // A literal fact against a list of patterns: implied when one entry implies it.
        (rk, PredKind::List { lhs: et, op, list }) => {
            let Some(list) = lists.get(list.0 as usize) else {
                return false;
            };
            if let PredKind::List {
                lhs: rt,
                op: rop,
                list: rlist,
            } = rk
            {
                // ip in $narrow => ip in $broad when every network of one is inside the other.
                let Some(rlist) = lists.get(rlist.0 as usize) else {
                    return false;
                };
                return rt == et
                    && *rop == ListOp::In
                    && *op == ListOp::In
                    && match (&rlist.items, &list.items) {
                        (ListItems::Ip(narrow), ListItems::Ip(broad)) => {
                            !narrow.is_empty()
                                && narrow.iter().all(|n| broad.iter().any(|b| b.contains(n)))
                        }
                        _ => false,
                    };
            }
            let Some((rt, rf)) = str_fact(rk) else {
                return false;
            };
            let ListItems::Str(items) = &list.items else {
                return false;
            };
            if rt != et {
                return false;
            }
            let fold = list.case_insensitive;
            items.iter().any(|item| {
                let ef = match (op, list.kind) {
                    (ListOp::In, ListKind::String) => StrFact::Eq(item),
                    (ListOp::ContainsAny, ListKind::Pattern) => StrFact::Contains(item),
                    (ListOp::StartsWithAny, ListKind::Pattern) => StrFact::Prefix(item),
                    (ListOp::EndsWithAny, ListKind::Pattern) => StrFact::Suffix(item),
                    _ => return false,
                };
                fact_implies(&rf, &ef, fold)
            })
        }
        _ => false,
    }
}

//! The reference evaluator: a plain tree walk over each rule's condition.
//!
//! It is the specification of the rule language. It favours being obviously right over
//! being fast; compiled evaluation is tested against it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;

use portcullis_match::normalize;
use portcullis_rules::{CmpOp, Expr, ListItems, ListOp, PredKind, RuleSet, StrOp, Term};
use regex_automata::meta::Regex;

use crate::fields::Fields;
use crate::CompileError;

/// A value during evaluation.
enum Val<'a> {
    Str(Option<Cow<'a, str>>),
    Int(i64),
    Bool(bool),
    Ip(Option<IpAddr>),
    Set(&'a [String]),
}

/// Regexes compiled one by one, keyed by (pattern, case-insensitive).
pub(crate) struct Reference {
    regexes: HashMap<(String, bool), Regex>,
}

/// One regex, bounded like the compiled program's (`max_regex_bytes`), so a rule set
/// compiles under both evaluators or under neither.
pub(crate) fn build_regex(
    pattern: &str,
    case_insensitive: bool,
    size_limit: usize,
) -> Result<Regex, String> {
    Regex::builder()
        .syntax(regex_automata::util::syntax::Config::new().case_insensitive(case_insensitive))
        .configure(Regex::config().nfa_size_limit(Some(size_limit)))
        .build(pattern)
        .map_err(|e| match e.size_limit() {
            Some(limit) => format!("it compiles to more than the size limit of {limit} bytes (`max_regex_bytes` in [policy])"),
            None => e.to_string(),
        })
}

impl Reference {
    pub fn new(rules: &RuleSet) -> Result<Reference, CompileError> {
        let mut regexes = HashMap::new();
        let mut add = |p: &str,
                       ci: bool,
                       rule: Option<&str>,
                       list: Option<&str>|
         -> Result<(), CompileError> {
            if regexes.contains_key(&(p.to_string(), ci)) {
                return Ok(());
            }
            let re = build_regex(p, ci, rules.settings.max_regex_bytes).map_err(|e| {
                CompileError::new(rule, list, format!("regex {p:?} does not compile: {e}"))
            })?;
            regexes.insert((p.to_string(), ci), re);
            Ok(())
        };
        for list in &rules.lists {
            if list.kind == portcullis_rules::ListKind::Regex {
                if let ListItems::Str(items) = &list.items {
                    for p in items {
                        add(p, list.case_insensitive, None, Some(&list.name))?;
                    }
                }
            }
        }
        for rule in &rules.rules {
            let mut result = Ok(());
            rule.when.visit_preds(&mut |p| {
                if let PredKind::Str {
                    op: StrOp::Matches,
                    pattern,
                    ..
                } = &p.kind
                {
                    if result.is_ok() {
                        result = add(pattern, false, Some(&rule.id), None);
                    }
                }
            });
            result?;
        }
        Ok(Reference { regexes })
    }

    fn search(&self, pattern: &str, ci: bool, hay: &str) -> bool {
        self.regexes
            .get(&(pattern.to_string(), ci))
            .is_some_and(|re| re.is_match(hay))
    }

    /// Evaluates a condition.
    pub fn eval(&self, rules: &RuleSet, e: &Expr, f: &Fields<'_>) -> bool {
        match e {
            Expr::Const(b) => *b,
            Expr::Not(e) => !self.eval(rules, e, f),
            Expr::And(es) => es.iter().all(|e| self.eval(rules, e, f)),
            Expr::Or(es) => es.iter().any(|e| self.eval(rules, e, f)),
            Expr::Pred(p) => self.pred(rules, &p.kind, f),
        }
    }

    /// Evaluates one predicate.
    pub fn pred(&self, rules: &RuleSet, p: &PredKind, f: &Fields<'_>) -> bool {
        match p {
            PredKind::Test(t) => matches!(term(t, f), Val::Bool(true)),
            PredKind::Compare { lhs, op, rhs } => {
                let (l, r) = (term(lhs, f), term(rhs, f));
                let eq = match (&l, &r) {
                    (Val::Str(Some(a)), Val::Str(Some(b))) => a == b,
                    (Val::Int(a), Val::Int(b)) => a == b,
                    (Val::Bool(a), Val::Bool(b)) => a == b,
                    (Val::Ip(Some(a)), Val::Ip(Some(b))) => {
                        portcullis_rules::canonical_ip(*a) == portcullis_rules::canonical_ip(*b)
                    }
                    _ => false,
                };
                match (op, &l, &r) {
                    (CmpOp::Eq, ..) => eq,
                    (CmpOp::Ne, ..) => !eq,
                    (op, Val::Int(a), Val::Int(b)) => op.holds(a, b),
                    _ => false,
                }
            }
            PredKind::Str { lhs, op, pattern } => {
                let Val::Str(Some(s)) = term(lhs, f) else {
                    return false;
                };
                match op {
                    StrOp::Contains => s.contains(pattern.as_str()),
                    StrOp::StartsWith => s.starts_with(pattern.as_str()),
                    StrOp::EndsWith => s.ends_with(pattern.as_str()),
                    StrOp::Matches => self.search(pattern, false, &s),
                }
            }
            PredKind::List { lhs, op, list } => {
                let Some(list) = rules.list(*list) else {
                    return false;
                };
                let ci = list.case_insensitive;
                let fold = |s: &str| {
                    if ci {
                        s.to_ascii_lowercase()
                    } else {
                        s.to_string()
                    }
                };
                match (&list.items, term(lhs, f)) {
                    (ListItems::Ip(nets), Val::Ip(Some(ip))) => {
                        let ip = portcullis_rules::canonical_ip(ip);
                        nets.iter().any(|n| n.contains(&ip))
                    }
                    (ListItems::Str(items), Val::Str(Some(s))) if *op == ListOp::MatchesAny => {
                        items.iter().any(|p| self.search(p, ci, &s))
                    }
                    (ListItems::Str(items), Val::Str(Some(s))) => {
                        let s = fold(&s);
                        items.iter().any(|item| {
                            let item = fold(item);
                            match op {
                                ListOp::In => s == item,
                                ListOp::ContainsAny => s.contains(&item),
                                ListOp::StartsWithAny => s.starts_with(&item),
                                ListOp::EndsWithAny => s.ends_with(&item),
                                ListOp::MatchesAny | ListOp::HasAny => false,
                            }
                        })
                    }
                    (ListItems::Str(items), Val::Set(set)) if *op == ListOp::HasAny => {
                        set.iter().any(|m| items.iter().any(|i| fold(i) == fold(m)))
                    }
                    _ => false,
                }
            }
            PredKind::Has { set, item } => match (term(set, f), term(item, f)) {
                (Val::Set(set), Val::Str(Some(item))) => set.iter().any(|m| *m == *item),
                _ => false,
            },
        }
    }
}

fn term<'a>(t: &'a Term, f: &'a Fields<'a>) -> Val<'a> {
    match t {
        Term::Field(field) => match field.ty() {
            portcullis_rules::Type::Ip => Val::Ip(f.ip()),
            portcullis_rules::Type::Bool => Val::Bool(f.boolean(field)),
            portcullis_rules::Type::StrSet => Val::Set(f.set(field)),
            _ => Val::Str(f.string(field)),
        },
        Term::Lower(t) => match term(t, f) {
            Val::Str(s) => Val::Str(s.map(|s| Cow::Owned(s.to_ascii_lowercase()))),
            other => other,
        },
        Term::UrlDecode(t) => match term(t, f) {
            Val::Str(s) => Val::Str(s.map(|s| {
                let mut out = String::new();
                normalize::percent_decode_into(&s, false, &mut out);
                Cow::Owned(out)
            })),
            other => other,
        },
        Term::PathSegment(n) => Val::Str(normalize::path_segment(&f.path, *n).map(Cow::Borrowed)),
        Term::Len(t) => match term(t, f) {
            Val::Str(s) => Val::Int(s.map_or(0, |s| s.len() as i64)),
            Val::Set(s) => Val::Int(s.len() as i64),
            _ => Val::Int(0),
        },
        Term::Present(t) => Val::Bool(match term(t, f) {
            Val::Str(s) => s.is_some(),
            Val::Ip(ip) => ip.is_some(),
            Val::Set(s) => !s.is_empty(),
            Val::Int(_) | Val::Bool(_) => true,
        }),
        Term::Str(s) => Val::Str(Some(Cow::Borrowed(s))),
        Term::Int(n) => Val::Int(*n),
        Term::Bool(b) => Val::Bool(*b),
        Term::Ip(ip) => Val::Ip(Some(*ip)),
    }
}

/// What a predicate saw on this request, for `--explain`: each field term it reads with
/// its value (`path = "/admin/users"`, `auth.tenant = (absent)`), values cut to 80
/// characters; `None` when it reads no field.
pub(crate) fn seen(p: &PredKind, f: &Fields<'_>) -> Option<String> {
    let terms: Vec<&Term> = match p {
        PredKind::Test(t) => vec![t],
        PredKind::Compare { lhs, rhs, .. } => vec![lhs, rhs],
        PredKind::Str { lhs, .. } | PredKind::List { lhs, .. } => vec![lhs],
        PredKind::Has { set, item } => vec![set, item],
    };
    let shown: Vec<String> = terms
        .into_iter()
        .filter(|t| t.field().is_some())
        .map(|t| {
            let value = match term(t, f) {
                Val::Str(Some(s)) => {
                    let mut q = format!("{s:?}");
                    if let Some((cut, _)) = q.char_indices().nth(80) {
                        q.truncate(cut);
                        q.push('…');
                    }
                    q
                }
                Val::Str(None) | Val::Ip(None) => "(absent)".to_string(),
                Val::Int(n) => n.to_string(),
                Val::Bool(b) => b.to_string(),
                Val::Ip(Some(ip)) => ip.to_string(),
                Val::Set(s) => format!("{s:?}"),
            };
            format!("{} = {value}", term_name(t))
        })
        .collect();
    (!shown.is_empty()).then(|| shown.join(", "))
}

/// A term as written in a rule (for terms that read a field).
fn term_name(t: &Term) -> String {
    match t {
        Term::Field(f) => f.to_string(),
        Term::Lower(t) => format!("lower({})", term_name(t)),
        Term::UrlDecode(t) => format!("url_decode({})", term_name(t)),
        Term::PathSegment(n) => format!("path_segment({n})"),
        Term::Len(t) => format!("len({})", term_name(t)),
        Term::Present(t) => format!("present({})", term_name(t)),
        Term::Str(s) => format!("{s:?}"),
        Term::Int(n) => n.to_string(),
        Term::Bool(b) => b.to_string(),
        Term::Ip(ip) => ip.to_string(),
    }
}

//! The reference evaluator: a plain tree walk over each rule's condition.
//!
//! It is the specification of the rule language. It favours being obviously right over
//! being fast; compiled evaluation is tested against it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;

use portcullis_rules::{CmpOp, Expr, ListItems, ListOp, PredKind, RuleSet, StrOp, Term};
use regex_automata::meta::Regex;

use crate::evidence::Evidence;
use crate::fields::Fields;
use crate::naive;
use crate::CompileError;

/// A value during evaluation.
enum Val<'a> {
    Str(Option<Cow<'a, str>>),
    Int(i64),
    Bool(bool),
    Ip(Option<IpAddr>),
    Set(Cow<'a, [String]>),
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
        .syntax(
            regex_automata::util::syntax::Config::new()
                .case_insensitive(case_insensitive)
                .utf8(false),
        )
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
                // Selectors' regexes, matched on names ignoring case (by `Fields`, which
                // compiles them again; checked here so both evaluators refuse the same).
                p.visit_fields(&mut |field| {
                    if let (_, Some(selection)) = field.selected() {
                        for re in selection.regexes() {
                            if result.is_ok() {
                                result = add(re, true, Some(&rule.id), None);
                            }
                        }
                    }
                });
                let kind = match &p.kind {
                    PredKind::SomeNot(inner) => &**inner,
                    k => k,
                };
                if let PredKind::Str {
                    op: StrOp::Matches,
                    pattern,
                    ..
                } = kind
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

    /// Evaluates one predicate. A predicate on a term over a field with several values (an
    /// argument's occurrences, a collection's members) holds when it holds for any value
    /// (each tried in turn); `a != b` is `not a == b`, so it holds when no value equals.
    pub fn pred(&self, rules: &RuleSet, p: &PredKind, f: &Fields<'_>) -> bool {
        if let PredKind::SomeNot(_) = p {
            return self.some_not(rules, p, f).is_some();
        }
        let any = self.pred_any(rules, p, f, None);
        match p {
            PredKind::Compare { op: CmpOp::Ne, .. } => !any,
            _ => any,
        }
    }

    /// `lhs not op rhs` ([`PredKind::SomeNot`]): the first value of `lhs` the inner
    /// predicate does not hold for, with its member's name (`""` for a field with one
    /// value); `None` when it holds for every value, or there is none.
    fn some_not(&self, rules: &RuleSet, p: &PredKind, f: &Fields<'_>) -> Option<(String, String)> {
        let PredKind::SomeNot(inner) = p else {
            return None;
        };
        let lhs = p.some_not_operand()?;
        let Some(field) = multi_field(lhs) else {
            return match term(lhs, f, &[]) {
                Val::Str(Some(v)) if !self.pred_one(rules, inner, f, &[]) => {
                    Some((String::new(), v.into_owned()))
                }
                _ => None,
            };
        };
        f.members(field).into_iter().find_map(|(name, value)| {
            if self.pred_any(rules, inner, f, Some((field, &value))) {
                return None;
            }
            let seen = match term(lhs, f, &[(field, Some(&value))]) {
                Val::Str(Some(s)) => s.into_owned(),
                _ => String::new(),
            };
            Some((name, seen))
        })
    }

    /// Whether the predicate (`!=` read as `==`) holds for some value of each field with
    /// several values it reads, `fixed` holding one of them to one value.
    fn pred_any(
        &self,
        rules: &RuleSet,
        p: &PredKind,
        f: &Fields<'_>,
        fixed: Option<(&portcullis_rules::Field, &str)>,
    ) -> bool {
        let mut names = Vec::new();
        for t in pred_terms(p) {
            if let Some(name) = multi_field(t) {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        // Every combination of one value per field read (an absent one: `None`).
        let per_name: Vec<Vec<Option<String>>> = names
            .iter()
            .map(|n| match fixed {
                Some((field, v)) if field == *n => vec![Some(v.to_string())],
                _ => {
                    let values: Vec<Option<String>> = f.values(n).into_iter().map(Some).collect();
                    if values.is_empty() {
                        vec![None]
                    } else {
                        values
                    }
                }
            })
            .collect();
        let mut combos: Vec<Vec<(&portcullis_rules::Field, Option<&str>)>> = vec![Vec::new()];
        for (name, values) in names.iter().zip(&per_name) {
            let mut next = Vec::new();
            for combo in &combos {
                for v in values {
                    let mut c = combo.clone();
                    c.push((*name, v.as_deref()));
                    next.push(c);
                }
            }
            combos = next;
        }
        combos.iter().any(|c| self.pred_one(rules, p, f, c))
    }

    /// Which member of a collection a rule's condition held on (see [`Evidence`]): the
    /// first predicate outside any `not` (and not a `!=`) that reads a field with several
    /// values and holds for one of its members, and the first such member.
    pub fn evidence(&self, rules: &RuleSet, e: &Expr, f: &Fields<'_>) -> Option<Evidence> {
        match e {
            Expr::Pred(p) => self.pred_evidence(rules, &p.kind, f),
            Expr::And(es) | Expr::Or(es) => es.iter().find_map(|e| self.evidence(rules, e, f)),
            Expr::Not(_) | Expr::Const(_) => None,
        }
    }

    fn pred_evidence(&self, rules: &RuleSet, p: &PredKind, f: &Fields<'_>) -> Option<Evidence> {
        if matches!(p, PredKind::Compare { op: CmpOp::Ne, .. }) {
            return None;
        }
        if let PredKind::SomeNot(_) = p {
            // The first member the inner predicate fails on.
            let lhs = p.some_not_operand()?;
            multi_field(lhs)?;
            let (name, seen) = self.some_not(rules, p, f)?;
            return Some(Evidence::new(lhs.to_string(), &name, &seen));
        }
        // The string the predicate reads: inside `len`, `present` and the detectors.
        let t = pred_terms(p).into_iter().find_map(|t| match t {
            Term::Len(inner) | Term::Present(inner) | Term::Detect(_, inner) => {
                multi_field(inner).map(|_| &**inner)
            }
            t => multi_field(t).map(|_| t),
        })?;
        let field = multi_field(t)?;
        f.members(field).into_iter().find_map(|(name, value)| {
            if !self.pred_any(rules, p, f, Some((field, &value))) {
                return None;
            }
            let seen = match term(t, f, &[(field, Some(&value))]) {
                Val::Str(Some(s)) => s.into_owned(),
                _ => String::new(),
            };
            Some(Evidence::new(t.to_string(), &name, &seen))
        })
    }

    /// One predicate on one value of each argument it reads (`!=` read as `==`).
    fn pred_one(&self, rules: &RuleSet, p: &PredKind, f: &Fields<'_>, c: &Choice<'_>) -> bool {
        let term = |t| term(t, f, c);
        match p {
            PredKind::Test(t) => matches!(term(t), Val::Bool(true)),
            PredKind::Interpreted(i) => i.0.holds(f),
            PredKind::Compare { lhs, op, rhs } => {
                let op = if *op == CmpOp::Ne { CmpOp::Eq } else { *op };
                let (l, r) = (term(lhs), term(rhs));
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
                    (op, Val::Int(a), Val::Int(b)) => op.holds(a, b),
                    _ => false,
                }
            }
            PredKind::Str { lhs, op, pattern } => {
                let Val::Str(Some(s)) = term(lhs) else {
                    return false;
                };
                match op {
                    StrOp::Contains => s.contains(pattern.as_str()),
                    StrOp::StartsWith => s.starts_with(pattern.as_str()),
                    StrOp::EndsWith => s.ends_with(pattern.as_str()),
                    StrOp::Matches => self.search(pattern, false, &s),
                    StrOp::Within => pattern.contains(&*s),
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
                match (&list.items, term(lhs)) {
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
            PredKind::Has { set, item } => match (term(set), term(item)) {
                (Val::Set(set), Val::Str(Some(item))) => set.iter().any(|m| *m == *item),
                _ => false,
            },
            // Evaluated as a whole by `some_not`, never value by value.
            PredKind::SomeNot(_) => false,
        }
    }
}

/// The value chosen for each field with several values a predicate reads (`None`: absent).
type Choice<'c> = [(&'c portcullis_rules::Field, Option<&'c str>)];

/// The terms a predicate reads.
fn pred_terms(p: &PredKind) -> Vec<&Term> {
    p.terms()
}

/// The field with several values a term is computed from, if any.
fn multi_field(t: &Term) -> Option<&portcullis_rules::Field> {
    match t {
        Term::Field(f) if f.is_multi() => Some(f),
        Term::Func(_, t) | Term::Len(t) | Term::Present(t) | Term::Detect(_, t) => multi_field(t),
        _ => None,
    }
}

fn term<'a>(t: &'a Term, f: &'a Fields<'a>, c: &Choice<'a>) -> Val<'a> {
    let term = |t| term(t, f, c);
    match t {
        Term::Field(multi) if multi.is_multi() => match c.iter().find(|(n, _)| *n == multi) {
            Some((_, v)) => Val::Str(v.map(Cow::Borrowed)),
            None => Val::Str(f.values(multi).into_iter().next().map(Cow::Owned)),
        },
        Term::Field(field) => match field.ty() {
            portcullis_rules::Type::Ip => Val::Ip(f.ip()),
            portcullis_rules::Type::Bool => Val::Bool(f.boolean(field)),
            portcullis_rules::Type::StrSet if *field == portcullis_rules::Field::Labels => {
                Val::Set(Cow::Owned(f.tally.borrow().labels.clone()))
            }
            portcullis_rules::Type::StrSet => Val::Set(Cow::Borrowed(f.set(field))),
            portcullis_rules::Type::Int => Val::Int(match field {
                portcullis_rules::Field::Score(name) => {
                    f.tally.borrow().scores.get(name).copied().unwrap_or(0)
                }
                portcullis_rules::Field::BodyLength => {
                    i64::try_from(f.body.length).unwrap_or(i64::MAX)
                }
                portcullis_rules::Field::FilesSize => {
                    i64::try_from(f.body.files_size).unwrap_or(i64::MAX)
                }
                _ => 0,
            }),
            _ => Val::Str(f.string(field)),
        },
        Term::Func(func, t) => match term(t) {
            Val::Str(s) => Val::Str(s.map(|s| Cow::Owned(naive::transform(*func, &s)))),
            other => other,
        },
        Term::PathSegment(n) => Val::Str(naive::path_segment(&f.path, *n).map(Cow::Borrowed)),
        Term::Count(c) => Val::Int(f.members(c).len() as i64),
        Term::Len(t) => match term(t) {
            Val::Str(s) => Val::Int(s.map_or(0, |s| s.len() as i64)),
            Val::Set(s) => Val::Int(s.len() as i64),
            _ => Val::Int(0),
        },
        Term::Present(t) => Val::Bool(match term(t) {
            Val::Str(s) => s.is_some(),
            Val::Ip(ip) => ip.is_some(),
            Val::Set(s) => !s.is_empty(),
            Val::Int(_) | Val::Bool(_) => true,
        }),
        Term::Detect(d, t) => Val::Bool(match term(t) {
            Val::Str(Some(s)) => naive::detect(*d, &s),
            _ => false,
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
    let shown: Vec<String> = pred_terms(p)
        .into_iter()
        .filter(|t| t.field().is_some())
        .map(|t| {
            // A term over a field with several values shows each of them.
            if let Some(multi) = multi_field(t) {
                let values = f.values(multi);
                if values.len() > 1 {
                    let each: Vec<String> = values
                        .iter()
                        .map(|v| shown_value(term(t, f, &[(multi, Some(v))])))
                        .collect();
                    return format!("{} = [{}]", t, each.join(", "));
                }
            }
            format!("{} = {}", t, shown_value(term(t, f, &[])))
        })
        .collect();
    (!shown.is_empty()).then(|| shown.join(", "))
}

/// A value as `--explain` shows it, cut to 80 characters.
fn shown_value(v: Val<'_>) -> String {
    {
        {
            match v {
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
            }
        }
    }
}

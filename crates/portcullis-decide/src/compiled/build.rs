//! Compilation: predicates classified (scanned, IP, direct), given ids grouped by slot,
//! their patterns put into one scanner per slot within the policy's limits.

use std::collections::HashMap;

use portcullis_match::{
    regex_on_lowered, IpTableBuilder, PatternId, PatternKind, ScanLimits, ScannerBuilder,
};
use portcullis_rules::{
    CmpOp, Expr, Field, ListItems, ListKind, ListOp, PredKind, RuleSet, Span, StrOp, Term,
    Transform, Type,
};

use crate::policy::CompileError;

use super::anchors::{anchors, Anchors};
use super::direct::Quick;
use super::steps::Steps;
use super::{Code, Formula, IntOperand, Program};

fn key<T: std::fmt::Debug>(t: &T) -> String {
    format!("{t:?}")
}

/// A string term, computed per request into a slot (literals too, so that a predicate on
/// a literal is scanned like any other).
fn is_slot_term(t: &Term) -> bool {
    t.ty() == Type::Str
}

struct Builder<'r> {
    rules: &'r RuleSet,
    slots: Vec<Term>,
    slot_index: HashMap<String, u32>,
    /// Predicates before id assignment: (dedup key, class).
    preds: Vec<Class>,
    pred_index: HashMap<String, usize>,
    /// For each temporary predicate: the first rule using it, for error messages.
    pred_rule: Vec<usize>,
    /// Where each predicate was first written, for errors.
    pred_span: Vec<Span>,
    /// The span of the predicate being compiled.
    span: Span,
    /// The first `SomeNot` predicate whose inner predicate no evaluator takes (only a
    /// rule set built without the parser can hold one): its rule and span.
    unsupported: Option<(usize, Span)>,
}

/// A predicate before ids are assigned.
enum Class {
    Scan {
        slot: u32,
        patterns: Vec<(PatternKind, String, bool)>,
    },
    Ip {
        list: u32,
    },
    Direct(PredKind, [Option<u32>; 2]),
    /// `lhs not op rhs`: the values of `slot` walked, the inner predicate (a temporary
    /// index; `None`: it never holds) tested on each.
    SomeNot {
        slot: u32,
        inner: Option<usize>,
    },
}

/// The string term a direct predicate reads on one side: the term itself, or the one
/// inside `len(..)` / `present(..)`.
fn string_operand(t: &Term) -> Option<&Term> {
    let computed = |t: &Term| is_slot_term(t) && !matches!(t, Term::Str(_));
    match t {
        Term::Len(inner) | Term::Present(inner) | Term::Detect(_, inner) if computed(inner) => {
            Some(inner)
        }
        t if computed(t) => Some(t),
        _ => None,
    }
}

impl Builder<'_> {
    fn slot(&mut self, t: &Term) -> u32 {
        let k = key(t);
        if let Some(&s) = self.slot_index.get(&k) {
            return s;
        }
        if let Term::PathSegment(_) = t {
            // Segments are cut from the normalised path's slot.
            self.slot(&Term::Field(Field::Path));
        }
        let s = self.slots.len() as u32;
        self.slots.push(t.clone());
        self.slot_index.insert(k, s);
        s
    }

    fn direct(&mut self, p: &PredKind) -> Class {
        let (a, b) = match p {
            PredKind::Test(t) => (Some(t), None),
            PredKind::Compare { lhs, rhs, .. } => (Some(lhs), Some(rhs)),
            PredKind::Has { set, item } => (Some(set), Some(item)),
            PredKind::List { lhs, .. } | PredKind::Str { lhs, .. } => (Some(lhs), None),
            PredKind::SomeNot(_) | PredKind::Interpreted(_) => (None, None),
        };
        let mut slot = |t: Option<&Term>| t.and_then(string_operand).map(|t| self.slot(t));
        let slots = [slot(a), slot(b)];
        Class::Direct(p.clone(), slots)
    }

    fn add_pred(
        &mut self,
        k: String,
        rule: usize,
        class: impl FnOnce(&mut Self) -> Class,
    ) -> usize {
        if let Some(&i) = self.pred_index.get(&k) {
            return i;
        }
        let c = class(self);
        self.preds.push(c);
        self.pred_rule.push(rule);
        self.pred_span.push(self.span);
        self.pred_index.insert(k, self.preds.len() - 1);
        self.preds.len() - 1
    }

    /// Compiles a condition to a formula over temporary predicate indexes.
    fn formula(&mut self, e: &Expr, rule: usize) -> Formula {
        match e {
            Expr::Const(b) => Formula::Const(*b),
            Expr::Not(e) => Formula::Not(Box::new(self.formula(e, rule))),
            Expr::And(es) => Formula::And(es.iter().map(|e| self.formula(e, rule)).collect()),
            Expr::Or(es) => Formula::Or(es.iter().map(|e| self.formula(e, rule)).collect()),
            Expr::Pred(p) => {
                self.span = p.span;
                self.pred(&p.kind, rule)
            }
        }
    }

    fn pred(&mut self, p: &PredKind, rule: usize) -> Formula {
        let k = key(p);
        let rules = self.rules;
        match p {
            // `within` tests the literal for the value: no scanner can, it is direct.
            PredKind::Str { lhs, op, pattern } if is_slot_term(lhs) && *op != StrOp::Within => {
                let kind = match op {
                    StrOp::Contains => PatternKind::Contains,
                    StrOp::StartsWith => PatternKind::StartsWith,
                    StrOp::EndsWith => PatternKind::EndsWith,
                    StrOp::Matches | StrOp::Within => PatternKind::Regex,
                };
                let Some((term, kind, pat, ci)) = scan_target(lhs, kind, pattern, false) else {
                    return Formula::Const(false);
                };
                let i = self.add_pred(k, rule, |b| Class::Scan {
                    slot: b.slot(term),
                    patterns: vec![(kind, pat, ci)],
                });
                Formula::Pred(i as u32)
            }
            // A detector's verdict on a value is scanned with the value, like a pattern:
            // remembered with the member, and an anchor for the rule.
            PredKind::Test(Term::Detect(d, inner)) if is_slot_term(inner) => {
                let d = *d;
                let i = self.add_pred(k, rule, |b| Class::Scan {
                    slot: b.slot(inner),
                    patterns: vec![(PatternKind::Detect(d), String::new(), false)],
                });
                Formula::Pred(i as u32)
            }
            PredKind::Compare {
                lhs,
                op: op @ (CmpOp::Eq | CmpOp::Ne),
                rhs,
            } if lhs.ty() == Type::Str => {
                let (term, lit) = match (lhs, rhs) {
                    (t, Term::Str(s)) | (Term::Str(s), t) if is_slot_term(t) => (t, s),
                    _ => return Formula::Pred(self.add_pred(k, rule, |b| b.direct(p)) as u32),
                };
                // `!=` is the negation of `==`: an absent field is unequal to everything.
                let f = match scan_target(term, PatternKind::Equals, lit, false) {
                    None => Formula::Const(false),
                    Some((term, _, lit, ci)) => {
                        let eq_key = format!("eq {} {lit:?} {ci}", key(term));
                        let i = self.add_pred(eq_key, rule, |b| Class::Scan {
                            slot: b.slot(term),
                            patterns: vec![(PatternKind::Equals, lit, ci)],
                        });
                        Formula::Pred(i as u32)
                    }
                };
                if *op == CmpOp::Ne {
                    Formula::Not(Box::new(f))
                } else {
                    f
                }
            }
            PredKind::List { lhs, op, list } if *op != ListOp::HasAny => {
                let Some(l) = rules.list(*list) else {
                    return Formula::Const(false);
                };
                if l.kind == ListKind::Ip {
                    let i = self.add_pred(k, rule, |_| Class::Ip { list: list.0 });
                    return Formula::Pred(i as u32);
                }
                if !is_slot_term(lhs) {
                    return Formula::Pred(self.add_pred(k, rule, |b| b.direct(p)) as u32);
                }
                let kind = match op {
                    ListOp::In => PatternKind::Equals,
                    ListOp::ContainsAny => PatternKind::Contains,
                    ListOp::StartsWithAny => PatternKind::StartsWith,
                    ListOp::EndsWithAny => PatternKind::EndsWith,
                    _ => PatternKind::Regex,
                };
                let items = match &l.items {
                    ListItems::Str(items) => items.as_slice(),
                    ListItems::Ip(_) => &[],
                };
                if items.is_empty() {
                    return Formula::Const(false);
                }
                let targets: Vec<(&Term, PatternKind, String, bool)> = items
                    .iter()
                    .filter_map(|s| scan_target(lhs, kind, s, l.case_insensitive))
                    .collect();
                let Some(&(term, ..)) = targets.first() else {
                    return Formula::Const(false);
                };
                let i = self.add_pred(k, rule, |b| Class::Scan {
                    slot: b.slot(term),
                    patterns: targets
                        .into_iter()
                        .map(|(_, kind, p, ci)| (kind, p, ci))
                        .collect(),
                });
                Formula::Pred(i as u32)
            }
            PredKind::SomeNot(inner) => {
                let Some(lhs) = p.some_not_operand() else {
                    self.unsupported.get_or_insert((rule, self.span));
                    return Formula::Const(false);
                };
                // The inner predicate, scanned (or direct) as if written alone; its values
                // are those of the slot it is scanned on (`x` for `lower(x) op …`, value
                // for value), or of `lhs`'s own.
                let inner = match self.pred(inner, rule) {
                    Formula::Pred(i) => Some(i as usize),
                    Formula::Const(false) => None,
                    _ => {
                        self.unsupported.get_or_insert((rule, self.span));
                        return Formula::Const(false);
                    }
                };
                let class = inner.and_then(|i| self.preds.get(i));
                if matches!(class, Some(Class::Ip { .. } | Class::SomeNot { .. })) {
                    // A string term against an IP list: no value is ever in it.
                    self.unsupported.get_or_insert((rule, self.span));
                    return Formula::Const(false);
                }
                let scanned = match class {
                    Some(Class::Scan { slot, .. }) => Some(*slot),
                    _ => None,
                };
                let slot = match scanned {
                    Some(s) => s,
                    None => self.slot(lhs),
                };
                let i = self.add_pred(k, rule, |_| Class::SomeNot { slot, inner });
                Formula::Pred(i as u32)
            }
            _ => Formula::Pred(self.add_pred(k, rule, |b| b.direct(p)) as u32),
        }
    }
}

/// Where a predicate is scanned: `lower(x) op "lit"` becomes an ASCII case-insensitive
/// `x op "lit"` (one scan of `x` then serves both), and never matches when the literal has
/// ASCII capitals (`None`); `lower(x) matches R` becomes `x matches R'`
/// ([`regex_on_lowered`]), or `x matches R` when `R` ignores case already. No lowered copy
/// of `x` is built either way.
fn scan_target<'t>(
    lhs: &'t Term,
    kind: PatternKind,
    pat: &str,
    ci: bool,
) -> Option<(&'t Term, PatternKind, String, bool)> {
    match lhs {
        // A regex that ignores case cannot tell a text from its lowered form.
        Term::Func(Transform::Lower, inner) if kind == PatternKind::Regex && ci => {
            Some((inner, kind, pat.to_string(), true))
        }
        Term::Func(Transform::Lower, inner) if kind == PatternKind::Regex => {
            match regex_on_lowered(pat) {
                Some((kind, rewritten, ci)) => Some((inner, kind, rewritten, ci)),
                None => Some((lhs, kind, pat.to_string(), ci)),
            }
        }
        Term::Func(Transform::Lower, inner) => {
            if !ci && pat.bytes().any(|b| b.is_ascii_uppercase()) {
                return None;
            }
            Some((inner, kind, pat.to_string(), true))
        }
        _ => Some((lhs, kind, pat.to_string(), ci)),
    }
}

/// Renumbers a formula's predicates.
fn renumber(f: Formula, map: &[u32]) -> Formula {
    match f {
        Formula::Pred(i) => Formula::Pred(map.get(i as usize).copied().unwrap_or(u32::MAX)),
        Formula::Not(f) => Formula::Not(Box::new(renumber(*f, map))),
        Formula::And(fs) => Formula::And(
            fs.into_vec()
                .into_iter()
                .map(|f| renumber(f, map))
                .collect(),
        ),
        Formula::Or(fs) => Formula::Or(
            fs.into_vec()
                .into_iter()
                .map(|f| renumber(f, map))
                .collect(),
        ),
        c @ Formula::Const(_) => c,
    }
}

impl Program {
    pub(crate) fn compile(rules: &RuleSet) -> Result<Program, CompileError> {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let mut b = Builder {
            rules,
            slots: Vec::new(),
            slot_index: HashMap::new(),
            preds: Vec::new(),
            pred_index: HashMap::new(),
            pred_rule: Vec::new(),
            pred_span: Vec::new(),
            span: Span::default(),
            unsupported: None,
        };
        let formulas: Vec<Formula> = rules
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| b.formula(&r.when, i))
            .collect();
        if let Some((rule, span)) = b.unsupported {
            return Err(CompileError::new(
                rules.rules.get(rule).map(|r| r.id.as_str()),
                None,
                "`not` before this operator is not supported".to_string(),
            )
            .hint("`x not op …` takes a string `x` and ==, contains, starts_with, ends_with, matches, within, in or a string _any operator")
            .at(Some(span)));
        }

        // Every function of a single value is computed from its argument's slot, so a
        // chain shared by several terms (CRS decodes `REQUEST_FILENAME` thirty ways) is
        // computed once per link: the arguments not read by any rule get a slot too.
        let mut i = 0;
        while let Some(t) = b.slots.get(i) {
            if let Some((_, inner)) = single_func(t) {
                let inner = inner.clone();
                b.slot(&inner);
            }
            i += 1;
        }
        let single_parents: Vec<Option<(u32, Transform)>> = b
            .slots
            .iter()
            .map(|t| {
                let (f, inner) = single_func(t)?;
                Some((*b.slot_index.get(&key(inner))?, f))
            })
            .collect();

        // Assign ids: scanned predicates grouped by slot, then IP, then direct.
        // Scanned predicates grouped by slot, those of a group's slots together, and those
        // of `arg` slots together (each one source).
        let (mut groups, slot_group) = group_layout(&b.slots);
        let is_arg =
            |slot: u32| matches!(b.slots.get(slot as usize), Some(Term::Field(Field::Arg(_))));
        let group_of = |slot: u32| slot_group.get(slot as usize).copied().flatten();
        let order_key = |c: &Class| match c {
            Class::Scan { slot, .. } => (0u8, is_arg(*slot), group_of(*slot), *slot),
            Class::Ip { .. } => (1, false, None, 0),
            Class::Direct(..) | Class::SomeNot { .. } => (2, false, None, 0),
        };
        let mut order: Vec<usize> = (0..b.preds.len()).collect();
        order.sort_by_key(|&i| order_key(&b.preds[i]));
        let mut map = vec![0u32; b.preds.len()];
        for (new, &old) in order.iter().enumerate() {
            map[old] = new as u32;
        }
        let nslots = b.slots.len();
        let limits = crate::policy::scan_limits(&rules.settings);
        let mut builders: Vec<ScannerBuilder> = (0..nslots)
            .map(|_| {
                let mut b = ScannerBuilder::new();
                b.limits(limits);
                b
            })
            .collect();
        let mut group_builders: Vec<ScannerBuilder> = groups
            .iter()
            .map(|_| {
                let mut b = ScannerBuilder::new();
                b.limits(limits);
                b
            })
            .collect();
        let mut slot_preds = vec![(u32::MAX, 0u32); nslots];
        // Each slot's patterns, in id order: slots with the same are twins.
        let mut slot_patterns: Vec<Vec<(PatternKind, String, bool)>> = vec![Vec::new(); nslots];
        let mut ip_preds = (u32::MAX, 0u32);
        let mut ip_builder = IpTableBuilder::new();
        let mut ip_list_preds: Vec<Vec<u32>> = vec![Vec::new(); rules.lists.len()];
        let mut codes = Vec::with_capacity(b.preds.len());
        let mut sets = HashMap::new();
        let mut ip_lists_added = std::collections::HashSet::new();
        let mut pred_rule = vec![0usize; b.preds.len()];
        let mut pred_span = vec![Span::default(); b.preds.len()];
        let preds = std::mem::take(&mut b.preds);
        let mut by_new: Vec<Option<Class>> = (0..preds.len()).map(|_| None).collect();
        for (old, c) in preds.into_iter().enumerate() {
            by_new[map[old] as usize] = Some(c);
            pred_rule[map[old] as usize] = b.pred_rule[old];
            pred_span[map[old] as usize] = b.pred_span[old];
        }
        for (id, class) in by_new.into_iter().enumerate() {
            let id = id as u32;
            let Some(class) = class else { continue };
            let widen = |r: &mut (u32, u32)| {
                r.0 = r.0.min(id);
                r.1 = r.1.max(id + 1);
            };
            codes.push(match class {
                Class::Scan { slot, patterns } => {
                    if let Some(sb) = builders.get_mut(slot as usize) {
                        for (kind, pat, ci) in &patterns {
                            sb.add(PatternId::new(id), *kind, pat, *ci);
                        }
                    }
                    let group = slot_group.get(slot as usize).copied().flatten();
                    if let Some(gb) = group.and_then(|g| group_builders.get_mut(g as usize)) {
                        for (kind, pat, ci) in &patterns {
                            gb.add(PatternId::new(id), *kind, pat, *ci);
                        }
                    }
                    if let Some(r) = slot_preds.get_mut(slot as usize) {
                        widen(r);
                    }
                    if let Some(all) = slot_patterns.get_mut(slot as usize) {
                        all.extend(patterns);
                    }
                    Code::Scan(slot)
                }
                Class::Ip { list } => {
                    if ip_lists_added.insert(list) {
                        if let Some(ListItems::Ip(nets)) =
                            rules.list(portcullis_rules::ListId(list)).map(|l| &l.items)
                        {
                            for n in nets {
                                ip_builder.insert(*n, list);
                            }
                        }
                    }
                    if let Some(v) = ip_list_preds.get_mut(list as usize) {
                        v.push(id);
                    }
                    widen(&mut ip_preds);
                    Code::Ip
                }
                Class::Direct(p, slots) => {
                    if let PredKind::List {
                        op: ListOp::HasAny,
                        list,
                        ..
                    } = &p
                    {
                        if let Some(l) = rules.list(*list) {
                            if let ListItems::Str(items) = &l.items {
                                let set = items
                                    .iter()
                                    .map(|s| {
                                        if l.case_insensitive {
                                            s.to_ascii_lowercase()
                                        } else {
                                            s.clone()
                                        }
                                    })
                                    .collect();
                                sets.insert(id, (l.case_insensitive, set));
                            }
                        }
                    }
                    Code::Direct(p, slots, None)
                }
                Class::SomeNot { slot, inner } => Code::SomeNot {
                    slot,
                    inner: inner.and_then(|i| map.get(i).copied()),
                },
            });
        }
        // The limits bound the whole policy, not each field: 40 fields of one large regex
        // each must not add up to 40 times `max_regex_bytes`.
        let rule_of = |pattern: Option<u32>| {
            pattern
                .and_then(|p| pred_rule.get(p as usize))
                .and_then(|&r| rules.rules.get(r))
                .map(|r| r.id.as_str())
        };
        let mut patterns = 0usize;
        for (sb, range) in builders.iter().zip(&slot_preds) {
            patterns += sb.len();
            if patterns > limits.max_patterns {
                return Err(CompileError::new(
                    rule_of(range.1.checked_sub(1)),
                    None,
                    format!(
                        "the rules have more than {} patterns (`max_patterns` in [policy])",
                        limits.max_patterns
                    ),
                )
                .hint("merge patterns into lists, or raise `max_patterns` in [policy]")
                .at(range
                    .1
                    .checked_sub(1)
                    .and_then(|p| pred_span.get(p as usize))
                    .copied()));
            }
        }
        let mut regex_bytes = 0usize;
        let mut scanners = Vec::with_capacity(nslots);
        let mut cache = portcullis_match::CompileCache::default();
        cache.prepare(builders.iter().chain(&group_builders));
        // Merged scanners are a faster path to the same bits, not more rules: one that does
        // not fit the limits is left out and its slots scan alone. They are built beside
        // the slots' own (for CRS, each takes 80 ms), on a cache of their own.
        let merging: Vec<bool> = groups
            .iter()
            .map(|g| {
                let scanning = g
                    .slots
                    .iter()
                    .filter(|&&s| builders.get(s as usize).is_some_and(|b| !b.is_empty()));
                scanning.count() >= 2
            })
            .collect();
        let group_builders = &group_builders;
        let merging = &merging;
        let build_merged = move |mut cache: portcullis_match::CompileCache| {
            let merged: Vec<Option<portcullis_match::Scanner>> = group_builders
                .iter()
                .zip(merging)
                .map(|(gb, &merge)| merge.then(|| gb.build_shared(&mut cache).ok()).flatten())
                .collect();
            (merged, cache)
        };
        // A second thread pays for itself only on large policies (CRS merges thousands of
        // patterns; a hand-written policy, a few).
        let merged_patterns: usize = group_builders
            .iter()
            .zip(merging)
            .filter(|(_, &m)| m)
            .map(|(gb, _)| gb.len())
            .sum();
        let parallel = merged_patterns >= 1000
            && std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2);
        let mut pending = Some(cache.clone());
        let (merged, merged_cache) = std::thread::scope(|s| {
            let handle = match parallel {
                true => pending.take().map(|c| s.spawn(move || build_merged(c))),
                false => None,
            };
            for (slot, sb) in builders.iter_mut().enumerate() {
                if sb.is_empty() {
                    scanners.push(None);
                    continue;
                }
                sb.limits(ScanLimits {
                    regex_size_limit: limits.regex_size_limit.saturating_sub(regex_bytes),
                    ..limits
                });
                match sb.build_shared(&mut cache) {
                    Ok(s) => {
                        // A regex shared with fields before counts once.
                        regex_bytes = cache.regex_bytes();
                        scanners.push(Some(s));
                    }
                    Err(e) => {
                        let what = b.slots.get(slot).map(|t| t.to_string()).unwrap_or_default();
                        let shared = if regex_bytes > 0 {
                            format!(", {regex_bytes} of which the fields before {what} use")
                        } else {
                            String::new()
                        };
                        let hint = match e.exceeded() {
                            Some("regex_size_limit") => format!(
                                "the regexes of all rules share `max_regex_bytes` ({} bytes{shared}); simplify the regex (bounded repeats such as {{1000}} multiply its size) or raise the limit in [policy]",
                                limits.regex_size_limit
                            ),
                            Some("max_pattern_len") => "shorten the pattern, or raise `max_pattern_len` in [policy]".to_string(),
                            _ => "see docs/rules.md for what regexes may contain".to_string(),
                        };
                        let reason = match e.exceeded() {
                            Some("regex_size_limit") => format!(
                                "regexes on {what} compile to more than the {} bytes left of `max_regex_bytes`",
                                limits.regex_size_limit.saturating_sub(regex_bytes)
                            ),
                            _ => format!("patterns on {what}: {}", e.reason()),
                        };
                        let span = e
                            .pattern_id()
                            .and_then(|p| pred_span.get(p.as_usize()))
                            .copied();
                        return Err(CompileError::new(
                            rule_of(e.pattern_id().map(PatternId::as_u32)),
                            None,
                            reason,
                        )
                        .hint(hint)
                        .at(span));
                    }
                }
            }
            Ok::<_, CompileError>(match handle {
                Some(h) => h.join().unwrap_or_default(),
                None => build_merged(pending.take().unwrap_or_default()),
            })
        })?;
        for (group, m) in groups.iter_mut().zip(merged) {
            group.merged = m;
        }
        // Each cache counts what it compiled: a regex both compiled is held twice.
        for group in &mut groups {
            group.twin_parents = group
                .parents
                .iter()
                .zip(&group.slots)
                .map(|(parent, &s)| {
                    let &(p, _) = parent.as_ref()?;
                    let p = *group.slots.get(p)?;
                    let mine = slot_patterns.get(s as usize)?;
                    (!mine.is_empty() && slot_patterns.get(p as usize) == Some(mine)).then_some(p)
                })
                .collect();
        }
        let regex_bytes = cache.regex_bytes() + merged_cache.regex_bytes();
        let ip_table = (!ip_lists_added.is_empty()).then(|| ip_builder.build());
        let formulas: Vec<Formula> = formulas.into_iter().map(|f| renumber(f, &map)).collect();

        // Anchors.
        let arg_slot: Vec<bool> = b
            .slots
            .iter()
            .map(|t| matches!(t, Term::Field(Field::Arg(_))))
            .collect();
        let arg_preds = slot_preds
            .iter()
            .zip(&arg_slot)
            .filter(|(_, &a)| a)
            .fold((u32::MAX, 0), |(lo, hi), (&(l, h), _)| {
                (lo.min(l), hi.max(h))
            });
        let Anchors {
            anchored,
            unanchored,
            pending,
        } = anchors(&formulas, &codes, &arg_slot, &slot_group);
        // Each group's predicates, contiguous.
        let group_preds: Vec<(u32, u32)> = groups
            .iter()
            .map(|g| {
                g.slots
                    .iter()
                    .filter_map(|&s| slot_preds.get(s as usize))
                    .fold((u32::MAX, 0), |(lo, hi), &(l, h)| (lo.min(l), hi.max(h)))
            })
            .collect();
        for (group, &(lo, hi)) in groups.iter_mut().zip(&group_preds) {
            group.owners = vec![u16::MAX; hi.saturating_sub(lo) as usize];
            for (k, &s) in group.slots.iter().enumerate() {
                let (a, b) = slot_preds.get(s as usize).copied().unwrap_or((0, 0));
                // A slot's predicates are within its group's.
                for at in a.saturating_sub(lo)..b.saturating_sub(lo) {
                    if let (Some(o), Ok(k)) = (group.owners.get_mut(at as usize), u16::try_from(k))
                    {
                        *o = k;
                    }
                }
            }
        }
        let mut arg_slots: Vec<(String, Vec<u32>)> = Vec::new();
        for (i, t) in b.slots.iter().enumerate() {
            if let Term::Field(Field::Arg(name)) = t {
                match arg_slots.iter_mut().find(|(n, _)| n == name) {
                    Some((_, v)) => v.push(i as u32),
                    None => arg_slots.push((name.clone(), vec![i as u32])),
                }
            }
        }
        arg_slots.sort();
        let (score_names, label_names, effects) = tally_layout(rules);
        let selections = super::select::Selections::compile(rules)?;
        let mut watched = super::members::WatchedHeaders::default();
        let mut slot_filter = vec![None; b.slots.len()];
        for group in &mut groups {
            for &s in &group.slots {
                let field = b.slots.get(s as usize).and_then(super::terms::collection);
                let bit = match field.and_then(|f| selections.index_of(f)) {
                    Some(f) => {
                        let j = match group.filters.iter().position(|&g| g == f) {
                            Some(j) => j,
                            None => {
                                group.filters.push(f);
                                group.filters.len() - 1
                            }
                        };
                        if let Some(at) = slot_filter.get_mut(s as usize) {
                            *at = u8::try_from(j).ok();
                        }
                        1 << j
                    }
                    None => {
                        group.all = true;
                        super::members::Admit::ALL
                    }
                };
                group.admits.push(bit);
            }
            if group.filters.len() > 1 {
                group.shared = super::select::SharedTests::new(&selections, &group.filters);
            }
            group.reads_body = group.of.reads_body();
            group.origin = super::members::Origin::of(&group.of, &mut watched);
        }
        let int_operands: Vec<[Option<IntOperand>; 2]> = codes
            .iter()
            .map(|c| match c {
                Code::Direct(PredKind::Compare { lhs, rhs, .. }, ..) => {
                    [lhs, rhs].map(|t| match t {
                        Term::Count(of) => {
                            let filter = selections.index_of(of);
                            // Header fields of given names: counted by the watched pass.
                            let by_name = match of.selected().0 {
                                Field::Headers => selections
                                    .get(filter)
                                    .and_then(|f| f.exact_names())
                                    .and_then(|names| {
                                        names.iter().try_fold(0u64, |mask, n| {
                                            Some(mask | 1 << watched.watch(n)?)
                                        })
                                    }),
                                _ => None,
                            };
                            by_name
                                .map(IntOperand::Headers)
                                .or(filter.map(IntOperand::Filter))
                        }
                        Term::Field(Field::Score(name)) => score_names
                            .binary_search_by(|n| n.as_str().cmp(name))
                            .ok()
                            .and_then(|i| u32::try_from(i).ok())
                            .map(IntOperand::Score),
                        _ => None,
                    })
                }
                _ => [None; 2],
            })
            .collect();
        for (code, &[lhs, _]) in codes.iter_mut().zip(&int_operands) {
            if let Code::Direct(kind, slots, quick) = code {
                *quick = Quick::of(kind, *slots, lhs);
            }
        }
        let path_slot = b
            .slots
            .iter()
            .position(|t| *t == Term::Field(Field::Path))
            .map(|p| p as u32);
        // The slots whose values are read, not only scanned: a remembered member's values
        // are copied into these alone. Evidence and `explain` read the others too, on a
        // scratch of their own, whose memo is empty: every value is computed there.
        let mut kept = vec![false; b.slots.len()];
        let read = codes.iter().flat_map(|c| match c {
            Code::Direct(_, slots, _) => *slots,
            Code::SomeNot { slot, .. } => [Some(*slot), None],
            Code::Scan(_) | Code::Ip => [None; 2],
        });
        let parents = single_parents.iter().flatten().map(|&(p, _)| Some(p));
        for s in read.chain(parents).chain([path_slot]).flatten() {
            if let Some(k) = kept.get_mut(s as usize) {
                *k = true;
            }
        }
        Ok(Program {
            slots: b.slots,
            single_parents,
            kept,
            scanners,
            regex_bytes,
            codes,
            steps: Steps::new(&formulas),
            formulas,
            ip_table,
            ip_list_preds,
            slot_preds,
            ip_preds,
            arg_preds,
            anchored,
            unanchored,
            pending,
            sets,
            arg_slots,
            groups,
            group_preds,
            watched,
            slot_group,
            slot_filter,
            selections,
            int_operands,
            path_slot,
            path_style: crate::policy::path_style(&rules.settings),
            body: super::body::BodyPolicy {
                limits: crate::policy::body_limits(&rules.settings),
                on_limit: rules.settings.on_body_limit,
            },
            reads_body: reads_any(rules, Field::reads_body),
            reads_response: reads_any(rules, Field::reads_response),
            score_names,
            label_names,
            effects,
            rule_count: rules.rules.len(),
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }
}

/// A function of a single value (not a collection's, an argument's or a path segment's):
/// the function and its argument.
fn single_func(t: &Term) -> Option<(Transform, &Term)> {
    match t {
        Term::Func(f, inner)
            if super::terms::collection(t).is_none() && super::terms::base_arg(t).is_none() =>
        {
            Some((*f, inner))
        }
        _ => None,
    }
}

/// The groups of slots over one collection or one single field (see [`super::Group`],
/// their merged scanners still to build) and each slot's group. A field read by one term
/// is a group of one: its walk keeps repeats apart and remembers members across requests.
fn group_layout(slots: &[Term]) -> (Vec<super::Group>, Vec<Option<u32>>) {
    let mut groups: Vec<super::Group> = Vec::new();
    // Per group: the distinct selections of its slots' collections.
    let mut selected: Vec<Vec<&Field>> = Vec::new();
    let mut slot_group = vec![None; slots.len()];
    for (i, t) in slots.iter().enumerate() {
        // A collection's terms, whatever their selections (each slot keeps the members of
        // its own), or a single field's: its one value is a collection of one.
        let Some(field) = super::terms::collection(t).or_else(|| super::terms::single_field(t))
        else {
            continue;
        };
        let (of, selection) = field.selected();
        let chain = chain_mask(t);
        let fits = |g: usize| {
            let seen = selected.get(g).map_or(&[][..], Vec::as_slice);
            selection.is_none() || seen.contains(&field) || seen.len() < 63
        };
        match (0..groups.len()).find(|&g| groups[g].of == *of && fits(g)) {
            Some(g) => {
                groups[g].slots.push(i as u32);
                groups[g].chains.push(chain);
                groups[g].used |= chain;
                if let Some(seen) = selected.get_mut(g).filter(|_| selection.is_some()) {
                    if !seen.contains(&field) {
                        seen.push(field);
                    }
                }
            }
            None => groups.push(super::Group {
                of: of.clone(),
                base: Term::Field(of.clone()),
                slots: vec![i as u32],
                chains: vec![chain],
                used: chain,
                parents: Vec::new(),
                twin_parents: Vec::new(),
                owners: Vec::new(),
                merged: None,
                filters: Vec::new(),
                all: false,
                admits: Vec::new(),
                shared: None,
                reads_body: false,
                origin: None,
            }),
        }
        if selected.len() < groups.len() {
            selected.push(selection.map(|_| field).into_iter().collect());
        }
    }
    let depth = |mut t: &Term| {
        let mut d = 0;
        while let Term::Func(_, inner) = t {
            d += 1;
            t = inner;
        }
        d
    };
    let term = |s: u32| slots.get(s as usize);
    for group in &mut groups {
        let mut order: Vec<(u32, u64)> = group
            .slots
            .iter()
            .copied()
            .zip(group.chains.iter().copied())
            .collect();
        order.sort_by_key(|&(s, _)| term(s).map_or(0, depth));
        (group.slots, group.chains) = order.into_iter().unzip();
        group.parents = group
            .slots
            .iter()
            .enumerate()
            .map(|(k, &s)| match term(s)? {
                Term::Func(f, inner) => group
                    .slots
                    .get(..k)?
                    .iter()
                    .position(|&p| term(p) == Some(&**inner))
                    .map(|p| (p, *f)),
                _ => None,
            })
            .collect();
    }
    for (g, group) in groups.iter().enumerate() {
        for &s in &group.slots {
            slot_group[s as usize] = Some(g as u32);
        }
    }
    (groups, slot_group)
}

/// The functions of a chain over a field, one bit per index in `Transform::ALL`.
fn chain_mask(t: &Term) -> u64 {
    match t {
        Term::Func(f, inner) => {
            let bit = Transform::ALL
                .iter()
                .position(|x| x == f)
                .map_or(0, |i| 1u64 << i);
            bit | chain_mask(inner)
        }
        _ => 0,
    }
}

/// The score and label names every rule sets, sorted, and each rule's effects on them.
fn tally_layout(rules: &RuleSet) -> (Vec<String>, Vec<String>, Vec<super::Effects>) {
    let mut scores: Vec<String> = rules
        .rules
        .iter()
        .flat_map(|r| r.score.iter().map(|(n, _)| n.clone()))
        .collect();
    scores.sort();
    scores.dedup();
    let mut labels: Vec<String> = rules.rules.iter().flat_map(|r| r.labels.clone()).collect();
    labels.sort();
    labels.dedup();
    let index = |names: &[String], n: &str| names.binary_search_by(|x| x.as_str().cmp(n)).ok();
    let effects = rules
        .rules
        .iter()
        .map(|r| {
            let s: Box<[(u32, i64)]> = r
                .score
                .iter()
                .filter_map(|(n, p)| Some((index(&scores, n)? as u32, *p)))
                .collect();
            let l: Box<[u32]> = r
                .labels
                .iter()
                .filter_map(|n| Some(index(&labels, n)? as u32))
                .collect();
            (s, l)
        })
        .collect();
    (scores, labels, effects)
}

/// Whether a rule reads a field `kind` says yes to.
fn reads_any(rules: &RuleSet, kind: fn(&Field) -> bool) -> bool {
    rules.rules.iter().any(|r| {
        let mut reads = false;
        r.when
            .visit_preds(&mut |p| p.visit_fields(&mut |f| reads |= kind(f)));
        reads
    })
}

#[cfg(test)]
mod tests {
    use portcullis_rules::RuleSet;

    use super::super::members::Admit;
    use super::Program;

    /// Terms over one collection are one group with a merged scanner; a collection read
    /// through one term is a group of one, without a merged scanner.
    #[test]
    fn chains_over_one_collection_share_a_merged_scan() {
        let rules = RuleSet::parse(
            "g.toml",
            r#"
[[rule]]
id = "a"
when = 'url_decode_uni(args) contains "union"'
action = "forbid"
[[rule]]
id = "b"
when = 'lower(cmd_line(args)) matches "cat /etc"'
action = "forbid"
[[rule]]
id = "c"
when = 'detect_sqli(html_entity_decode(args)) or cookies contains "x"'
action = "forbid"
"#,
        )
        .expect("parses");
        let p = Program::compile(&rules).expect("compiles");
        assert_eq!(p.groups.len(), 2, "{:?}", p.groups);
        let g = &p.groups[0];
        assert_eq!(g.of, portcullis_rules::Field::Args);
        assert_eq!(g.slots.len(), 3);
        assert!(g.merged.is_some());
        let g = &p.groups[1];
        assert_eq!(g.of, portcullis_rules::Field::Cookies);
        assert_eq!(g.slots.len(), 1);
        assert!(g.merged.is_none());
    }

    /// The ids of the rules of `toml` that a GET of `uri` matches, in order.
    fn matcher(toml: &str) -> impl Fn(&str) -> Vec<String> {
        let rules = RuleSet::parse("t.toml", toml).expect("parses");
        let policy = crate::Policy::compile(rules).expect("compiles");
        move |uri| {
            let d = policy.evaluate(&crate::Request::new("GET", uri));
            d.matched().map(|r| r.id.to_string()).collect()
        }
    }

    /// A chain scanning its parent's very patterns is its twin: a member the outer function
    /// leaves alone is not scanned again when the parent did not match it, and still
    /// matches when the function makes it match, or when the parent matched.
    #[test]
    fn a_twin_chain_skips_only_what_its_parent_answered() {
        let toml = r#"
[[rule]]
id = "plain"
when = 'url_decode(args) matches "ab+c"'
action = "log"
[[rule]]
id = "joined"
when = 'remove_whitespace(url_decode(args)) matches "ab+c"'
action = "log"
"#;
        let p =
            Program::compile(&RuleSet::parse("t.toml", toml).expect("parses")).expect("compiles");
        let g = p.groups.first().unwrap_or_else(|| panic!("{:?}", p.slots));
        assert_eq!(g.twin_parents.iter().filter(|t| t.is_some()).count(), 1);
        let matched = matcher(toml);
        assert_eq!(matched("/?a=x&b=y&c=a%20bc"), ["joined"]);
        assert_eq!(matched("/?a=x&b=abbc"), ["plain", "joined"]);
        assert_eq!(matched("/?a=abc&b=a+b+c&c=x"), ["plain", "joined"]);
        assert_eq!(matched("/?a=a+b+c&b=abc"), ["plain", "joined"]);
        assert_eq!(matched("/?a=x&b=y"), Vec::<String>::new());
    }

    /// A group slot keeps only the values its chain changed; the others, and repeated
    /// members, read as the member itself: predicates evaluated value by value see every
    /// value either way.
    #[test]
    fn group_values_read_the_same_changed_or_not() {
        let matched = matcher(
            r#"
[[rule]]
id = "short"
when = 'len(remove_whitespace(args)) == 2'
action = "log"
[[rule]]
id = "sqli"
when = 'detect_sqli(url_decode(args))'
action = "log"
[[rule]]
id = "scanned"
when = 'remove_whitespace(args) contains "ab"'
action = "log"
"#,
        );
        // Changed by remove_whitespace (`a b`), unchanged (`xy`), repeated.
        assert_eq!(matched("/?p=a+b&q=zzz&r=a+b"), ["short", "scanned"]);
        assert_eq!(matched("/?p=xyz&q=xy&r=xyz"), ["short"]);
        assert_eq!(matched("/?p=xyz&q=xyz"), Vec::<String>::new());
        // The detector reads an unchanged member, then its repeat, then a decoded one.
        assert_eq!(matched("/?a=1&b=1%27%20or%20%271%27%3D%271"), ["sqli"]);
        assert_eq!(
            matched("/?a=x&b=x&c=1%2527%2520or%2520%25271%2527%253D%25271"),
            ["sqli"]
        );
        assert_eq!(matched("/?a=x&b=x&c=x"), Vec::<String>::new());
    }

    /// A member is remembered across requests with the values its chains changed and the
    /// patterns it matched: asked again, it reads the same to scanned and direct
    /// predicates, wherever it comes in the walk (its matches are its own, not those of
    /// the members before it, and all of them, though a scanner skips what they matched).
    #[test]
    fn members_are_remembered_with_their_values_and_matches() {
        let matched = matcher(
            r#"
[[rule]]
id = "short"
when = 'len(remove_whitespace(args)) == 2'
action = "log"
[[rule]]
id = "scanned"
when = 'remove_whitespace(args) contains "ab" or url_decode(args) contains "%"'
action = "log"
[[rule]]
id = "other"
when = 'remove_whitespace(args) contains "zab"'
action = "log"
"#,
        );
        for _ in 0..3 {
            assert_eq!(matched("/?p=x+y&q=xyz"), ["short"]);
            assert_eq!(matched("/?p=a+b"), ["short", "scanned"]);
            assert_eq!(matched("/?q=xyz"), Vec::<String>::new());
        }
        // After `abc` matched, `z ab` (whose scan into the request's bits would skip "ab")
        // and `qqq` (which those bits would credit with `abc`'s match) are learnt with
        // their own matches: alone, each reads as itself.
        for _ in 0..3 {
            assert_eq!(matched("/?a=abc&b=z+ab"), ["scanned", "other"]);
            assert_eq!(matched("/?a=abc&b=qqq"), ["scanned"]);
        }
        assert_eq!(matched("/?b=z+ab"), ["scanned", "other"]);
        assert_eq!(matched("/?b=qqq"), Vec::<String>::new());
    }

    /// A collection narrowed by a selector is walked with the whole collection: its terms
    /// are slots of the same group, each keeping the members of its own selection.
    #[test]
    fn differently_selected_collections_share_a_walk() {
        let rules = RuleSet::parse(
            "g.toml",
            r#"
[[rule]]
id = "a"
when = 'url_decode_uni(args) contains "union" or lower(args) contains "x"'
action = "forbid"
[[rule]]
id = "b"
when = 'url_decode_uni(args[/^id_/]) contains "union" or lower(args[/^id_/]) contains "y"'
action = "forbid"
[[rule]]
id = "c"
when = 'url_decode_uni(args[not "q"]) contains "union" or lower(args[not "q"]) contains "z"'
action = "forbid"
"#,
        )
        .expect("parses");
        let p = Program::compile(&rules).expect("compiles");
        assert_eq!(p.groups.len(), 1, "{:?}", p.groups);
        let g = &p.groups[0];
        assert_eq!((g.of.to_string(), g.slots.len()), ("args".to_string(), 6));
        assert_eq!((g.filters.len(), g.all), (2, true));
        let mut admits = g.admits.clone();
        admits.sort_unstable();
        assert_eq!(admits, [1, 1, 2, 2, Admit::ALL, Admit::ALL]);
        let filtered = g
            .slots
            .iter()
            .filter(|&&s| p.slot_filter[s as usize].is_some());
        assert_eq!(filtered.count(), 4);
    }
}

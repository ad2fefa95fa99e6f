//! The compiled program: every predicate of every rule becomes a bit, computed by one scan
//! per field (or one IP table lookup), and rules become formulas over those bits.
//!
//! Compilation:
//! - each distinct string-valued term a predicate reads (`path`, `lower(header["x"])`,
//!   `path_segment(1)`…) is a *slot*: computed at most once per request into a reused buffer;
//! - every literal, list and regex predicate on a slot goes into that slot's `Scanner`, with
//!   the predicate's id as pattern id; predicate ids of one slot are contiguous;
//! - every `ip in <list>` predicate is answered by one `IpTable` holding all IP lists;
//! - the rest (`has`, `len`, `present`, field-to-field comparisons…) are evaluated directly;
//! - each rule gets an *anchor* when its condition implies one of a set of scanned
//!   predicates on one slot. Rules are then found through the bits that are set instead of
//!   being visited one by one, so 10,000 rules cost about what their matches cost.
//!
//! A field is scanned only when the next rule that could match needs it.

use std::collections::HashMap;
use std::net::IpAddr;

use portcullis_match::normalize::PathStyle;
use portcullis_match::{
    normalize, IpTable, IpTableBuilder, MatchSet, PatternKind, ScanLimits, ScanScratch, Scanner,
    ScannerBuilder,
};
use portcullis_rules::{
    CmpOp, Expr, Field, ListItems, ListKind, ListOp, PredKind, RuleSet, Span, StrOp, Term, Type,
};

use crate::policy::CompileError;
use crate::request::Request;

/// Where a predicate's value comes from.
#[derive(Debug)]
enum Code {
    /// A bit set by the slot's scanner.
    Scan(u32),
    /// A bit set from the IP table lookup.
    Ip,
    /// Evaluated directly; the slots of its left and right string terms (or of the term
    /// inside `len`/`present`).
    Direct(PredKind, [Option<u32>; 2]),
}

#[derive(Debug)]
enum Formula {
    Const(bool),
    Pred(u32),
    Not(Box<Formula>),
    And(Box<[Formula]>),
    Or(Box<[Formula]>),
}

/// The source of an anchor's bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Source {
    Ip,
    /// Every plain `arg["name"]` slot: filled by one pass over the query string.
    Args,
    Slot(u32),
}

pub(crate) struct Program {
    /// String terms computed per request, with their scanners.
    slots: Vec<Term>,
    scanners: Vec<Option<Scanner>>,
    /// Bytes the scanners' regexes hold, within `max_regex_bytes`.
    pub(crate) regex_bytes: usize,
    codes: Vec<Code>,
    formulas: Vec<Formula>,
    ip_table: Option<IpTable>,
    /// For each IP list id: the predicates true when the address is in it.
    ip_list_preds: Vec<Vec<u32>>,
    /// Predicate ids of each slot (contiguous) and of the IP predicates.
    slot_preds: Vec<(u32, u32)>,
    ip_preds: (u32, u32),
    /// Predicate ids of all `arg` slots (contiguous).
    arg_preds: (u32, u32),
    /// For each predicate: the rules it anchors (ascending; empty for most).
    anchored: Vec<Box<[u32]>>,
    /// Rules without an anchor: always candidates.
    unanchored: Vec<u64>,
    /// Sources in order of the first rule they anchor: scanned when the walk reaches it.
    pending: Vec<(u32, Source)>,
    /// String sets for `has_any`, and whether they are case-insensitive (then lowercased).
    sets: HashMap<u32, (bool, std::collections::HashSet<String>)>,
    /// Slots holding a plain `arg["name"]`, sorted by name: filled together in one pass
    /// over the query string.
    arg_slots: Vec<(String, Vec<u32>)>,
    /// The slot of `path`, when any rule reads it or a segment of it.
    path_slot: Option<u32>,
    /// How `path` is normalised.
    path_style: PathStyle,
    rule_count: usize,
    id: u64,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("slots", &self.slots.len())
            .field("predicates", &self.codes.len())
            .finish_non_exhaustive()
    }
}

/// Reusable per-thread state for evaluating one program.
pub struct Scratch {
    program: u64,
    bits: MatchSet,
    /// Per slot, the scratch of its scanner (`None`: the slot has no scanner).
    scan: Vec<Option<ScanScratch>>,
    /// Per slot: 0 not computed, 1 absent, 2 present (and scanned when it has a scanner).
    state: Vec<u8>,
    /// Per slot: its values, one after the other (one value, except for a term on an
    /// argument repeated in the query), and where each one is in it.
    values: Vec<String>,
    ranges: Vec<Vec<(u32, u32)>>,
    tmp: String,
    tmp2: String,
    /// One argument value, decoded, while terms over it are computed.
    arg: String,
    /// One value of an argument-based term, before it joins its slot.
    one: String,
    /// Holds one side of a comparison; never written by slot computation.
    held: String,
    ip_done: bool,
    args_done: bool,
    candidates: Vec<u64>,
    next_pending: usize,
}

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scratch").finish_non_exhaustive()
    }
}

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
}

/// The string term a direct predicate reads on one side: the term itself, or the one
/// inside `len(..)` / `present(..)`.
fn string_operand(t: &Term) -> Option<&Term> {
    let computed = |t: &Term| is_slot_term(t) && !matches!(t, Term::Str(_));
    match t {
        Term::Len(inner) | Term::Present(inner) if computed(inner) => Some(inner),
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
            PredKind::Str { lhs, op, pattern } if is_slot_term(lhs) => {
                let kind = match op {
                    StrOp::Contains => PatternKind::Contains,
                    StrOp::StartsWith => PatternKind::StartsWith,
                    StrOp::EndsWith => PatternKind::EndsWith,
                    StrOp::Matches => PatternKind::Regex,
                };
                let Some((term, pat, ci)) = scan_target(lhs, kind, pattern, false) else {
                    return Formula::Const(false);
                };
                let i = self.add_pred(k, rule, |b| Class::Scan {
                    slot: b.slot(term),
                    patterns: vec![(kind, pat, ci)],
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
                    Some((term, lit, ci)) => {
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
                let targets: Vec<(&Term, String, bool)> = items
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
                        .map(|(_, p, ci)| (kind, p, ci))
                        .collect(),
                });
                Formula::Pred(i as u32)
            }
            _ => Formula::Pred(self.add_pred(k, rule, |b| b.direct(p)) as u32),
        }
    }
}

/// Where a literal predicate is scanned: `lower(x) op "lit"` becomes an ASCII
/// case-insensitive `x op "lit"` (one scan of `x` then serves both), and never matches when
/// the literal has ASCII capitals (`None`). Regexes keep their lowered slot.
fn scan_target<'t>(
    lhs: &'t Term,
    kind: PatternKind,
    pat: &str,
    ci: bool,
) -> Option<(&'t Term, String, bool)> {
    match lhs {
        Term::Lower(inner) if kind != PatternKind::Regex => {
            if !ci && pat.bytes().any(|b| b.is_ascii_uppercase()) {
                return None;
            }
            Some((inner, pat.to_string(), true))
        }
        _ => Some((lhs, pat.to_string(), ci)),
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
        };
        let formulas: Vec<Formula> = rules
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| b.formula(&r.when, i))
            .collect();

        // Assign ids: scanned predicates grouped by slot, then IP, then direct.
        // Scanned predicates grouped by slot, those of `arg` slots together (one source).
        let is_arg =
            |slot: u32| matches!(b.slots.get(slot as usize), Some(Term::Field(Field::Arg(_))));
        let order_key = |c: &Class| match c {
            Class::Scan { slot, .. } => (0u8, is_arg(*slot), *slot),
            Class::Ip { .. } => (1, false, 0),
            Class::Direct(..) => (2, false, 0),
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
        let mut slot_preds = vec![(u32::MAX, 0u32); nslots];
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
                            sb.add(id, *kind, pat, *ci);
                        }
                    }
                    if let Some(r) = slot_preds.get_mut(slot as usize) {
                        widen(r);
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
                    Code::Direct(p, slots)
                }
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
        for (slot, sb) in builders.iter_mut().enumerate() {
            if sb.is_empty() {
                scanners.push(None);
                continue;
            }
            sb.limits(ScanLimits {
                regex_size_limit: limits.regex_size_limit.saturating_sub(regex_bytes),
                ..limits
            });
            match sb.build() {
                Ok(s) => {
                    regex_bytes = regex_bytes.saturating_add(s.regex_memory());
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
                        .and_then(|p| pred_span.get(p as usize))
                        .copied();
                    return Err(CompileError::new(rule_of(e.pattern_id()), None, reason)
                        .hint(hint)
                        .at(span));
                }
            }
        }
        let ip_table = (!ip_lists_added.is_empty()).then(|| ip_builder.build());
        let formulas: Vec<Formula> = formulas.into_iter().map(|f| renumber(f, &map)).collect();

        // Anchors.
        let mut anchored: Vec<Vec<u32>> = vec![Vec::new(); codes.len()];
        let mut unanchored = vec![0u64; formulas.len().div_ceil(64)];
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
        let mut first_rule: HashMap<Source, u32> = HashMap::new();
        for (r, f) in formulas.iter().enumerate() {
            // A rule is reached only after every source it is anchored on was scanned:
            // each source is scanned when the walk reaches its first anchored rule.
            match anchor(f, &codes, &arg_slot) {
                Some(anchors) => {
                    for (src, p) in anchors {
                        if let Some(v) = anchored.get_mut(p as usize) {
                            v.push(r as u32);
                        }
                        first_rule.entry(src).or_insert(r as u32);
                    }
                }
                None => unanchored[r / 64] |= 1 << (r % 64),
            }
        }
        let anchored: Vec<Box<[u32]>> = anchored
            .into_iter()
            .map(|mut v| {
                v.dedup();
                v.into_boxed_slice()
            })
            .collect();
        let mut pending: Vec<(u32, Source)> = first_rule.into_iter().map(|(s, r)| (r, s)).collect();
        pending.sort();
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
        let path_slot = b
            .slots
            .iter()
            .position(|t| *t == Term::Field(Field::Path))
            .map(|p| p as u32);
        Ok(Program {
            slots: b.slots,
            scanners,
            regex_bytes,
            codes,
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
            path_slot,
            path_style: crate::policy::path_style(&rules.settings),
            rule_count: rules.rules.len(),
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// Looks an address up only to bring the table's lines into the cache.
    pub(crate) fn touch_ip(&self, ip: IpAddr) {
        if let Some(t) = &self.ip_table {
            std::hint::black_box(t.lookup(ip));
        }
    }

    /// Fresh scratch space for this program.
    pub(crate) fn scratch(&self) -> Scratch {
        Scratch {
            program: self.id,
            bits: MatchSet::new(self.codes.len()),
            scan: self
                .scanners
                .iter()
                .map(|s| s.as_ref().map(Scanner::scratch))
                .collect(),
            state: vec![0; self.slots.len()],
            values: vec![String::new(); self.slots.len()],
            ranges: vec![Vec::new(); self.slots.len()],
            tmp: String::new(),
            tmp2: String::new(),
            arg: String::new(),
            one: String::new(),
            held: String::new(),
            ip_done: false,
            args_done: false,
            candidates: vec![0; self.unanchored.len()],
            next_pending: 0,
        }
    }

    /// Whether `s` was made for this program.
    pub(crate) fn owns(&self, s: &Scratch) -> bool {
        s.program == self.id
    }

    /// Prepares scratch for a new request.
    pub(crate) fn reset(&self, s: &mut Scratch) {
        if s.program != self.id {
            *s = self.scratch();
        }
        s.bits.clear();
        s.state.fill(0);
        s.ip_done = false;
        s.args_done = false;
        s.candidates.copy_from_slice(&self.unanchored);
        s.next_pending = 0;
    }
}

/// What one field costs across a set of requests (see [`Policy::field_costs`]).
///
/// [`Policy::field_costs`]: crate::Policy::field_costs
#[derive(Clone, Debug)]
pub struct FieldCost {
    /// The term as written (`user_agent`, `lower(path)`, `header["x"]`…).
    pub field: String,
    /// Predicates on it compiled into its scanner.
    pub predicates: usize,
    /// Requests where it was present.
    pub present: usize,
    /// Time to compute and scan it, over all requests.
    pub total: std::time::Duration,
}

impl Program {
    /// Times computing and scanning every slot for every request.
    pub(crate) fn field_costs(&self, reqs: &[Request<'_>]) -> Vec<FieldCost> {
        let mut scratch = self.scratch();
        let mut costs: Vec<FieldCost> = self
            .slots
            .iter()
            .zip(&self.slot_preds)
            .map(|(t, &(lo, hi))| FieldCost {
                field: t.to_string(),
                predicates: hi.saturating_sub(lo) as usize,
                present: 0,
                total: std::time::Duration::ZERO,
            })
            .collect();
        for req in reqs {
            self.reset(&mut scratch);
            let mut run = Run::new(self, &mut scratch, req, false);
            for (i, cost) in costs.iter_mut().enumerate() {
                let start = std::time::Instant::now();
                let present = run.ensure_slot(i as u32).is_some();
                cost.total += start.elapsed();
                cost.present += usize::from(present);
            }
        }
        costs.sort_by_key(|c| std::cmp::Reverse(c.total));
        costs
    }
}

/// Scanned predicates (with the source each comes from), at least one of which holds
/// whenever the formula holds: the rule need only be evaluated when one of their bits is set.
fn anchor(f: &Formula, codes: &[Code], arg_slot: &[bool]) -> Option<Vec<(Source, u32)>> {
    let anchor = |f: &Formula| anchor(f, codes, arg_slot);
    match f {
        Formula::Pred(p) => match codes.get(*p as usize)? {
            Code::Scan(slot) if arg_slot.get(*slot as usize) == Some(&true) => {
                Some(vec![(Source::Args, *p)])
            }
            Code::Scan(slot) => Some(vec![(Source::Slot(*slot), *p)]),
            Code::Ip => Some(vec![(Source::Ip, *p)]),
            Code::Direct(..) => None,
        },
        // Any conjunct's anchor will do: take the one touching the fewest sources.
        Formula::And(fs) => fs.iter().filter_map(anchor).min_by_key(|a| {
            let mut srcs: Vec<Source> = a.iter().map(|(s, _)| *s).collect();
            srcs.sort();
            srcs.dedup();
            (srcs.len(), a.len())
        }),
        // Every disjunct needs one.
        Formula::Or(fs) => fs.iter().map(anchor).try_fold(Vec::new(), |mut acc, a| {
            acc.extend(a?);
            Some(acc)
        }),
        Formula::Const(_) | Formula::Not(_) => None,
    }
}

/// A request target as sent, and how the server behind reads its path.
#[derive(Clone, Copy)]
struct Target<'r> {
    path: &'r str,
    query: &'r str,
    style: PathStyle,
}

/// One request's evaluation over a program.
pub(crate) struct Run<'a, 'r> {
    program: &'a Program,
    scratch: &'a mut Scratch,
    req: &'a Request<'r>,
    preflight: bool,
    /// The request target split once.
    target: Target<'r>,
}

impl<'a, 'r> Run<'a, 'r> {
    pub(crate) fn new(
        program: &'a Program,
        scratch: &'a mut Scratch,
        req: &'a Request<'r>,
        preflight: bool,
    ) -> Self {
        let (path, query) = normalize::split_target(req.uri);
        let target = Target {
            path,
            query,
            style: program.path_style,
        };
        Run {
            program,
            scratch,
            req,
            preflight,
            target,
        }
    }
}

impl crate::policy::Candidates for Run<'_, '_> {
    fn next_candidate(&mut self, from: usize) -> Option<usize> {
        loop {
            let next = next_bit(&self.scratch.candidates, from, self.program.rule_count);
            // Scan every source whose first anchored rule comes before that candidate: its
            // matches may add earlier candidates.
            match self.program.pending.get(self.scratch.next_pending) {
                Some(&(first, src)) if next.is_none_or(|n| first as usize <= n) => {
                    self.scratch.next_pending += 1;
                    self.add_anchored(src);
                }
                _ => return next,
            }
        }
    }

    fn matches(&mut self, i: usize) -> bool {
        match self.program.formulas.get(i) {
            Some(f) => self.formula(f),
            None => false,
        }
    }

    fn malformed(
        &self,
        req: &Request<'_>,
        forbid_ambiguous_path: bool,
    ) -> Option<crate::decision::Malformed> {
        req.malformed(self.target.path, forbid_ambiguous_path)
    }
}

fn next_bit(words: &[u64], from: usize, limit: usize) -> Option<usize> {
    let mut w = from / 64;
    let mut word = words.get(w)? & (u64::MAX.checked_shl((from % 64) as u32).unwrap_or(0));
    loop {
        if word != 0 {
            let i = w * 64 + word.trailing_zeros() as usize;
            return (i < limit).then_some(i);
        }
        w += 1;
        word = *words.get(w)?;
    }
}

impl Run<'_, '_> {
    fn add_anchored(&mut self, src: Source) {
        let (lo, hi) = match src {
            Source::Ip => {
                self.ensure_ip();
                self.program.ip_preds
            }
            Source::Args => {
                self.ensure_args();
                self.program.arg_preds
            }
            Source::Slot(s) => {
                self.ensure_slot(s);
                self.program
                    .slot_preds
                    .get(s as usize)
                    .copied()
                    .unwrap_or((0, 0))
            }
        };
        let Scratch {
            bits, candidates, ..
        } = &mut *self.scratch;
        for p in bits.iter_range(lo, hi) {
            if let Some(rules) = self.program.anchored.get(p as usize) {
                for &r in rules {
                    if let Some(w) = candidates.get_mut(r as usize / 64) {
                        *w |= 1 << (r % 64);
                    }
                }
            }
        }
    }

    /// Fills every `arg["name"]` slot in one pass over the query string, and scans each.
    /// A repeated argument gives its slot one value per occurrence, each scanned, so a
    /// predicate holds when any value satisfies it.
    fn ensure_args(&mut self) {
        if self.scratch.args_done {
            return;
        }
        self.scratch.args_done = true;
        let Scratch {
            values,
            ranges,
            tmp,
            state,
            scan,
            bits,
            ..
        } = &mut *self.scratch;
        for (_, slots) in &self.program.arg_slots {
            for &s in slots {
                if let (Some(v), Some(r)) = (values.get_mut(s as usize), ranges.get_mut(s as usize))
                {
                    v.clear();
                    r.clear();
                }
            }
        }
        for pair in self.target.query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let name = if k.bytes().any(|b| b == b'%' || b == b'+') {
                tmp.clear();
                normalize::percent_decode_into(k, true, tmp);
                tmp.as_str()
            } else {
                k
            };
            let args = &self.program.arg_slots;
            let Ok(at) = args.binary_search_by(|(n, _)| n.as_str().cmp(name)) else {
                continue;
            };
            let Some((_, slots)) = args.get(at) else {
                continue;
            };
            for &s in slots {
                let i = s as usize;
                let (Some(buf), Some(r), Some(st)) =
                    (values.get_mut(i), ranges.get_mut(i), state.get_mut(i))
                else {
                    continue;
                };
                let start = buf.len();
                normalize::percent_decode_into(v, true, buf);
                r.push((start as u32, buf.len() as u32));
                *st = 2;
                if let (Some(Some(scanner)), Some(Some(sc)), Some(value)) = (
                    self.program.scanners.get(i),
                    scan.get_mut(i),
                    buf.get(start..),
                ) {
                    scanner.scan(value, sc, bits);
                }
            }
        }
        for (_, slots) in &self.program.arg_slots {
            for &s in slots {
                if let Some(st @ 0) = state.get_mut(s as usize) {
                    *st = 1;
                }
            }
        }
    }

    /// Computes a term over an argument (`lower(arg["q"])`) once per value of the
    /// argument, scanning each.
    fn fill_arg_term(&mut self, i: usize, name: &str) -> Option<()> {
        let term = self.program.slots.get(i)?;
        let Scratch {
            values,
            ranges,
            tmp,
            tmp2,
            arg,
            one,
            state,
            scan,
            bits,
            ..
        } = &mut *self.scratch;
        let (buf, r) = (values.get_mut(i)?, ranges.get_mut(i)?);
        buf.clear();
        r.clear();
        let mut pairs = normalize::QueryArgs::new(self.target.query);
        while pairs.next_value(name, tmp, arg) {
            one.clear();
            compute(term, self.req, self.target, Some(arg), one, tmp, tmp2);
            let start = buf.len();
            buf.push_str(one);
            r.push((start as u32, buf.len() as u32));
            if let (Some(Some(scanner)), Some(Some(sc))) =
                (self.program.scanners.get(i), scan.get_mut(i))
            {
                scanner.scan(one, sc, bits);
            }
        }
        *state.get_mut(i)? = if r.is_empty() { 1 } else { 2 };
        Some(())
    }

    fn ensure_ip(&mut self) {
        if self.scratch.ip_done {
            return;
        }
        self.scratch.ip_done = true;
        let (Some(table), Some(ip)) = (&self.program.ip_table, self.req.client_ip) else {
            return;
        };
        for list in table.lookup(ip).iter() {
            if let Some(preds) = self.program.ip_list_preds.get(list as usize) {
                for &p in preds {
                    self.scratch.bits.insert(p);
                }
            }
        }
    }

    /// Computes a slot's value (and scans it) once per request; returns its value.
    fn ensure_slot(&mut self, s: u32) -> Option<&str> {
        let i = s as usize;
        if self.scratch.state.get(i).copied()? == 0 {
            let slot_term = self.program.slots.get(i)?;
            match slot_term {
                Term::Field(Field::Arg(_)) => self.ensure_args(),
                t if base_arg(t).is_some() => {
                    let name = base_arg(t).unwrap_or_default();
                    self.fill_arg_term(i, name);
                }
                Term::PathSegment(n) => {
                    let n = *n;
                    let path_slot = self.program.path_slot?;
                    self.ensure_slot(path_slot);
                    let Scratch {
                        values,
                        ranges,
                        state,
                        scan,
                        bits,
                        ..
                    } = &mut *self.scratch;
                    let mut buf = std::mem::take(values.get_mut(i)?);
                    buf.clear();
                    let segment = values
                        .get(path_slot as usize)
                        .and_then(|p| normalize::path_segment(p, n));
                    let present = segment.is_some();
                    buf.push_str(segment.unwrap_or(""));
                    state[i] = if present { 2 } else { 1 };
                    set_single(ranges, i, buf.len());
                    if present {
                        if let (Some(Some(scanner)), Some(Some(sc))) =
                            (self.program.scanners.get(i), scan.get_mut(i))
                        {
                            scanner.scan(&buf, sc, bits);
                        }
                    }
                    *values.get_mut(i)? = buf;
                }
                _ => {}
            }
        }
        if self.scratch.state.get(i).copied()? == 0 {
            let term = self.program.slots.get(i)?;
            let Scratch {
                values,
                ranges,
                tmp,
                tmp2,
                state,
                scan,
                bits,
                ..
            } = &mut *self.scratch;
            let buf = values.get_mut(i)?;
            buf.clear();
            let present = compute(term, self.req, self.target, None, buf, tmp, tmp2);
            state[i] = if present { 2 } else { 1 };
            set_single(ranges, i, buf.len());
            if present {
                if let (Some(Some(scanner)), Some(Some(sc))) =
                    (self.program.scanners.get(i), scan.get_mut(i))
                {
                    scanner.scan(buf, sc, bits);
                }
            }
        }
        self.value_at(s, 0)
    }

    /// The `k`-th value of a computed slot (`None` past the last, or when absent).
    fn value_at(&self, s: u32, k: usize) -> Option<&str> {
        let i = s as usize;
        if self.scratch.state.get(i) != Some(&2) {
            return None;
        }
        let &(a, b) = self.scratch.ranges.get(i)?.get(k)?;
        self.scratch.values.get(i)?.get(a as usize..b as usize)
    }

    /// How many values a slot has (computing it first): 0 when absent.
    fn value_count(&mut self, s: u32) -> usize {
        match self.ensure_slot(s) {
            Some(_) => self.scratch.ranges.get(s as usize).map_or(0, Vec::len),
            None => 0,
        }
    }

    /// The value of each predicate of rule `i`'s condition `when`, in the order
    /// `Expr::visit_preds` visits them, as this program computes them: its formula mirrors
    /// the condition node for node, a predicate being a bit, its negation (`!=`) or a
    /// constant.
    pub(crate) fn pred_values(&mut self, i: usize, when: &Expr, out: &mut Vec<bool>) {
        if let Some(f) = self.program.formulas.get(i) {
            self.mirror(when, f, out);
        }
    }

    fn mirror(&mut self, e: &Expr, f: &Formula, out: &mut Vec<bool>) {
        match (e, f) {
            (Expr::Pred(_), f) => out.push(self.formula(f)),
            (Expr::Not(e), Formula::Not(f)) => self.mirror(e, f, out),
            (Expr::And(es), Formula::And(fs)) | (Expr::Or(es), Formula::Or(fs)) => {
                for (e, f) in es.iter().zip(fs.iter()) {
                    self.mirror(e, f, out);
                }
            }
            _ => {}
        }
    }

    fn formula(&mut self, f: &Formula) -> bool {
        match f {
            Formula::Const(b) => *b,
            Formula::Pred(p) => self.pred(*p),
            Formula::Not(f) => !self.formula(f),
            Formula::And(fs) => fs.iter().all(|f| self.formula(f)),
            Formula::Or(fs) => fs.iter().any(|f| self.formula(f)),
        }
    }

    fn pred(&mut self, p: u32) -> bool {
        let program = self.program;
        match program.codes.get(p as usize) {
            Some(Code::Scan(slot)) => {
                self.ensure_slot(*slot);
                self.scratch.bits.contains(p)
            }
            Some(Code::Ip) => {
                self.ensure_ip();
                self.scratch.bits.contains(p)
            }
            Some(Code::Direct(kind, slots)) => self.direct(p, kind, *slots),
            None => false,
        }
    }

    /// A string operand: a literal, or the `k`-th value of its (computed) slot.
    fn string_of<'s>(&'s self, t: &'s Term, slot: Option<u32>, k: usize) -> Option<&'s str> {
        match t {
            Term::Str(s) => Some(s),
            _ => self.value_at(slot?, k),
        }
    }

    /// Whether two string operands are present and equal.
    fn string_eq(&mut self, a: &Term, b: &Term, slots: [Option<u32>; 2], k: [usize; 2]) -> bool {
        let mut held = std::mem::take(&mut self.scratch.held);
        held.clear();
        let eq = match self.string_of(a, slots[0], k[0]) {
            Some(x) => {
                held.push_str(x);
                self.string_of(b, slots[1], k[1]).is_some_and(|y| y == held)
            }
            None => false,
        };
        self.scratch.held = held;
        eq
    }

    fn set_of(&self, t: &Term) -> &[String] {
        let auth = self.req.auth;
        if !auth.is_authenticated() {
            return &[];
        }
        match t {
            Term::Field(Field::AuthRoles) => &auth.roles,
            Term::Field(Field::AuthScopes) => &auth.scopes,
            _ => &[],
        }
    }

    fn int_of(&self, t: &Term, slot: Option<u32>, k: usize) -> Option<i64> {
        match t {
            Term::Int(n) => Some(*n),
            Term::Len(inner) if inner.ty() == Type::StrSet => Some(self.set_of(inner).len() as i64),
            Term::Len(inner) => Some(self.string_of(inner, slot, k).map_or(0, |s| s.len() as i64)),
            _ => None,
        }
    }

    fn bool_of(&self, t: &Term, slot: Option<u32>, k: usize) -> bool {
        match t {
            Term::Bool(b) => *b,
            Term::Field(Field::AuthAuthenticated) => self.req.auth.is_authenticated(),
            Term::Field(Field::CorsPreflight) => self.preflight,
            Term::Present(inner) => match inner.ty() {
                Type::Ip => self.req.client_ip.is_some(),
                Type::StrSet => !self.set_of(inner).is_empty(),
                Type::Str => self.string_of(inner, slot, k).is_some(),
                Type::Int | Type::Bool => true,
            },
            _ => false,
        }
    }

    /// A predicate evaluated directly. It holds when it holds for any value of its
    /// operands (several for a term on a repeated argument); `a != b` is `not a == b`.
    fn direct(&mut self, id: u32, p: &PredKind, slots: [Option<u32>; 2]) -> bool {
        let counts = slots.map(|s| s.map_or(1, |s| self.value_count(s).max(1)));
        let any =
            (0..counts[0]).any(|a| (0..counts[1]).any(|b| self.direct_one(id, p, slots, [a, b])));
        match p {
            PredKind::Compare { op: CmpOp::Ne, .. } => !any,
            _ => any,
        }
    }

    /// [`Run::direct`] on one value of each operand (`!=` read as `==`).
    fn direct_one(
        &mut self,
        id: u32,
        p: &PredKind,
        slots: [Option<u32>; 2],
        k: [usize; 2],
    ) -> bool {
        match p {
            PredKind::Test(t) => self.bool_of(t, slots[0], k[0]),
            PredKind::Compare { lhs, op, rhs } => {
                let op = if *op == CmpOp::Ne { CmpOp::Eq } else { *op };
                let eq = match lhs.ty() {
                    Type::Str => self.string_eq(lhs, rhs, slots, k),
                    Type::Int => {
                        let a = self.int_of(lhs, slots[0], k[0]);
                        let b = self.int_of(rhs, slots[1], k[1]);
                        let (Some(a), Some(b)) = (a, b) else {
                            return false;
                        };
                        return op.holds(a, b);
                    }
                    Type::Bool => {
                        self.bool_of(lhs, slots[0], k[0]) == self.bool_of(rhs, slots[1], k[1])
                    }
                    Type::Ip => match (ip_of(lhs, self.req), ip_of(rhs, self.req)) {
                        (Some(a), Some(b)) => a == b,
                        _ => false,
                    },
                    Type::StrSet => false,
                };
                op == CmpOp::Eq && eq
            }
            PredKind::Has { set, item } => {
                let mut held = std::mem::take(&mut self.scratch.held);
                held.clear();
                let present = match self.string_of(item, slots[1], k[1]) {
                    Some(x) => {
                        held.push_str(x);
                        true
                    }
                    None => false,
                };
                let found = present && self.set_of(set).contains(&held);
                self.scratch.held = held;
                found
            }
            PredKind::List {
                lhs,
                op: ListOp::HasAny,
                ..
            } => {
                let Some((ci, set)) = self.program.sets.get(&id) else {
                    return false;
                };
                let mut held = std::mem::take(&mut self.scratch.held);
                let found = self.set_of(lhs).iter().any(|m| {
                    if *ci {
                        held.clear();
                        held.push_str(m);
                        held.make_ascii_lowercase();
                        set.contains(held.as_str())
                    } else {
                        set.contains(m.as_str())
                    }
                });
                self.scratch.held = held;
                found
            }
            // Every other list and string predicate on a computed term is scanned.
            PredKind::List { .. } | PredKind::Str { .. } => false,
        }
    }
}

fn ip_of(t: &Term, req: &Request<'_>) -> Option<IpAddr> {
    match t {
        Term::Ip(ip) => Some(portcullis_rules::canonical_ip(*ip)),
        Term::Field(Field::Ip) => req.client_ip.map(portcullis_rules::canonical_ip),
        _ => None,
    }
}

/// The argument a term is computed from (`q` for `lower(arg["q"])`), if any.
fn base_arg(t: &Term) -> Option<&str> {
    match t {
        Term::Field(Field::Arg(name)) => Some(name),
        Term::Lower(inner) | Term::UrlDecode(inner) => base_arg(inner),
        _ => None,
    }
}

/// Records that slot `i` holds one value, its whole buffer.
fn set_single(ranges: &mut [Vec<(u32, u32)>], i: usize, len: usize) {
    if let Some(r) = ranges.get_mut(i) {
        r.clear();
        r.push((0, len as u32));
    }
}

/// Writes a string term's value into `out`; returns whether it is present. `arg` is the
/// value of the argument the term reads, for a term over an argument. `tmp` and `tmp2`
/// are scratch buffers.
fn compute(
    t: &Term,
    req: &Request<'_>,
    target: Target<'_>,
    arg: Option<&str>,
    out: &mut String,
    tmp: &mut String,
    tmp2: &mut String,
) -> bool {
    let auth = req.auth;
    let authed = auth.is_authenticated();
    let copy = |s: Option<&str>, out: &mut String| match s {
        Some(s) => {
            out.push_str(s);
            true
        }
        None => false,
    };
    match t {
        Term::Str(s) => copy(Some(s), out),
        Term::Field(f) => match f {
            Field::Method => copy(Some(req.method), out),
            Field::Host => {
                // RFC 9112 §3.2.2: an absolute-form target's authority wins over Host.
                tmp.clear();
                let found = match normalize::authority(req.uri) {
                    Some(a) => {
                        tmp.push_str(a);
                        true
                    }
                    None => req.header_into("host", tmp),
                };
                if found {
                    normalize::normalize_host(tmp, out);
                }
                found
            }
            Field::Path => {
                normalize::normalize_path_as(target.style, target.path, out, tmp);
                true
            }
            Field::RawPath => copy(Some(target.path), out),
            Field::Query => copy(Some(target.query), out),
            Field::Arg(_) => copy(arg, out),
            Field::Header(name) => req.header_into(name, out),
            Field::UserAgent => req.header_into("user-agent", out),
            Field::Cookie(name) => {
                let mut found = false;
                req.headers.for_each("cookie", &mut |v| {
                    if found {
                        return;
                    }
                    tmp.clear();
                    normalize::push_bytes_lossy(v, tmp);
                    if let Some(c) = normalize::cookie(tmp, name) {
                        out.push_str(c);
                        found = true;
                    }
                });
                found
            }
            Field::AuthSubject if authed => copy(auth.subject.as_deref(), out),
            Field::AuthTenant if authed => copy(auth.tenant.as_deref(), out),
            Field::GeoCountry => copy(req.geo_country, out),
            Field::Attr(name) => copy(req.attrs.get(name), out),
            _ => false,
        },
        Term::Lower(inner) => {
            let present = compute(inner, req, target, arg, out, tmp, tmp2);
            out.make_ascii_lowercase();
            present
        }
        Term::UrlDecode(inner) => {
            tmp2.clear();
            let mut inner_buf = std::mem::take(tmp2);
            let present = compute(inner, req, target, arg, &mut inner_buf, tmp, out);
            out.clear();
            if present {
                normalize::percent_decode_into(&inner_buf, false, out);
            }
            *tmp2 = inner_buf;
            present
        }
        Term::PathSegment(n) => {
            tmp2.clear();
            normalize::normalize_path_as(target.style, target.path, tmp2, tmp);
            copy(normalize::path_segment(tmp2, *n), out)
        }
        _ => false,
    }
}

//! Chained rules the rule model cannot express, run link by link on each request: those
//! whose later links read what an earlier link captured (`TX:1`), matched (`MATCHED_VAR`,
//! `MATCHED_VARS`) or set (`tx.content_type=|%{tx.0}|` then `TX:content_type`), or a
//! macro over the request (`!@streq %{ARGS._method}`).
//!
//! A [`Chained`] is an engine [`Interpret`] test. The lowering puts it behind the links it
//! could compile (its scanned prefilter), so it runs only on requests those let through.
//! Semantics follow ModSecurity v3: each link tests every value of its targets; for each
//! match, `capture` sets `TX:0`–`TX:9`, `MATCHED_VAR(_NAME)` is that value (after the
//! link's functions), and the link's `setvar`s run; the next link runs once, after all
//! targets, with `MATCHED_VARS` holding this link's matches.
//!
//! A chain may read variables earlier rules set per request (`TX:/paramcounter_.*/`, which
//! 921170 counts for each argument name): those rules, the writers, are run first for
//! their `setvar`s, in their order, within the same test.

use std::sync::Arc;

use portcullis_rules::{CmpOp, Field, Interpret, Interpreted, Transform, Values};
use regex_automata::meta::Regex;

use crate::action::{ActionKind, Collection, SetVarOp};
use crate::lower::{field_of, pcre_pattern, transforms, Unsupported};
use crate::macros::{MacroPart, MacroString};
use crate::operator::OperatorKind;
use crate::resolve::Rule;
use crate::variable::{with_exclusions, Selector, Variable, VariableKind};

/// What the load time knows of a transaction variable another rule sets.
pub(crate) enum Known {
    /// A constant.
    Const(String),
    /// Not set.
    Unset,
    /// Set per request by another rule: readable only through that rule, a writer.
    Dynamic,
    /// An engine score: the engine adds it up.
    Score,
}

/// One rule's links, ready to run, after the links of the writers it reads that run on
/// the request (see [`Chained::with_off`]).
pub(crate) struct Chained {
    id: u32,
    steps: Arc<Steps>,
    /// Per writer: whether it runs.
    runs: Vec<bool>,
    /// How many members of one name the chain needs, when it compares the counters its one
    /// writer keeps per member name (see [`Chained::counted_by_name`]).
    by_name: Option<i64>,
}

struct Steps {
    /// Each writer's id and links.
    writers: Vec<(u32, Vec<Step>)>,
    links: Vec<Step>,
    reads: Vec<Field>,
}

#[derive(Debug)]
struct Step {
    targets: Vec<Target>,
    funcs: Vec<Transform>,
    length: bool,
    multi_match: bool,
    op: Op,
    negated: bool,
    capture: bool,
    /// `setvar:tx.name…`, in order.
    sets: Vec<(Text, SetOp)>,
}

#[derive(Debug)]
enum SetOp {
    /// `=value`
    Set(Text),
    /// `=+n`, `=-n` (negative): a counter.
    Add(Text, bool),
    /// `!tx.name`
    Unset,
}

#[derive(Debug)]
enum Target {
    /// A request field or collection, and the name ModSecurity gives its values.
    Field(Field, &'static str),
    /// `&VAR`: how many values it has.
    Count(Field, &'static str),
    /// `&TX:name` for a variable set within the test.
    TxCount(String),
    /// `ARGS_COMBINED_SIZE`: the bytes of every argument's name and value.
    CombinedSize,
    /// A value known at load time.
    Const(String),
    /// `TX:name`, set by this rule (a capture, or a `setvar` of an earlier link).
    Tx(String),
    /// `TX:/regex/`: the variables this rule set whose names match.
    TxMatching(Regex),
    MatchedVar,
    MatchedVars,
}

#[derive(Debug)]
enum Op {
    Rx(Regex),
    Phrases(Vec<String>),
    Streq(Text),
    Within(Text),
    BeginsWith(Text),
    EndsWith(Text),
    Contains(Text),
    Compare(CmpOp, Text),
}

/// A macro string: literals, and what only the request knows.
#[derive(Debug, Default)]
struct Text(Vec<Part>);

#[derive(Debug)]
enum Part {
    Lit(String),
    Tx(String),
    First(Field),
    MatchedVar,
    MatchedVarName,
}

/// What one run of a chain has bound so far.
#[derive(Default)]
struct State {
    /// Transaction variables this rule set, names lowercased.
    tx: Vec<(String, String)>,
    /// `MATCHED_VAR_NAME`, `MATCHED_VAR`.
    last: Option<(String, String)>,
    /// `MATCHED_VARS`: the link before's matches.
    matched: Vec<(String, String)>,
}

impl State {
    fn set(&mut self, name: String, value: String) {
        match self.tx.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.tx.push((name, value)),
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.tx
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Chained {
    /// The chain of `rule`, with `known` for the variables other rules set and `writers`,
    /// the earlier rules that set variables per request (those it reads kept, each run);
    /// `Unsupported` for what it cannot run.
    pub(crate) fn build(
        rule: &Rule,
        known: &dyn Fn(&str) -> Known,
        writers: &[&Rule],
    ) -> Result<Chained, Unsupported> {
        let mut b = Build {
            local: (0..10).map(|d| d.to_string()).collect(),
            macro_names: false,
            known,
            reads: Vec::new(),
        };
        let mut steps = Vec::new();
        for w in relevant(rule, writers) {
            steps.push((w.id, b.steps(w)?));
        }
        let links = b.steps(rule)?;
        let runs = vec![true; steps.len()];
        let steps = Steps {
            writers: steps,
            links,
            reads: b.reads,
        };
        Ok(Chained::new(rule.id, Arc::new(steps), runs))
    }

    /// The chain of rule `id` running the writers `runs` says run.
    fn new(id: u32, steps: Arc<Steps>, runs: Vec<bool>) -> Chained {
        let mut chain = Chained {
            id,
            steps,
            runs,
            by_name: None,
        };
        chain.by_name = chain.counted_by_name();
        chain
    }

    /// The ids of the writers it runs first.
    pub(crate) fn writer_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.steps.writers.iter().map(|(id, _)| *id)
    }

    /// The test for the requests where the writers `off` do not run (removed, skipped),
    /// and what the request needs for it to hold.
    pub(crate) fn with_off(&self, off: &[u32]) -> (Interpreted, Option<Guard>) {
        let runs = self.writer_ids().map(|id| !off.contains(&id)).collect();
        let chain = Chained::new(self.id, Arc::clone(&self.steps), runs);
        let guard = chain.guard();
        (Interpreted(Arc::new(chain)), guard)
    }

    /// The links of the writers that run.
    fn writers(&self) -> impl Iterator<Item = &Vec<Step>> + '_ {
        let writers = self.steps.writers.iter().zip(&self.runs);
        writers.filter(|(_, &runs)| runs).map(|((_, w), _)| w)
    }

    /// What the request must have for the chain to hold, when its first link reads only
    /// collections and the variables its writers set (CRS 921180 and 922110, which would
    /// otherwise run on every request). A link matches only a member of its targets, and
    /// a writer sets a variable only when its first link matched one.
    fn guard(&self) -> Option<Guard> {
        let first = self.steps.links.first()?;
        let (mut fields, stateful) = members_from(first)?;
        if stateful {
            // The writers that may set what a stateful first link reads (922150, not
            // 922140, which sets only the counter 922150 names its variables with), and
            // those that may set what theirs reads.
            let mut readers = vec![first];
            let writers: Vec<&Vec<Step>> = self.writers().collect();
            let mut taken = vec![false; writers.len()];
            let mut grew = true;
            while grew {
                grew = false;
                for (w, taken) in writers.iter().zip(taken.iter_mut()) {
                    if *taken || !readers.iter().any(|r| r.may_read(w)) {
                        continue;
                    }
                    *taken = true;
                    grew = true;
                    let w = w.first()?;
                    let (f, stateful) = members_from(w)?;
                    fields.extend(f);
                    if stateful {
                        readers.push(w);
                    }
                }
            }
        }
        if fields.is_empty() {
            return None;
        }
        let at_least = self.counted().unwrap_or(1).max(1);
        Some(Guard { fields, at_least })
    }

    /// The fewest members the one writer's collection needs for the first link to hold,
    /// when that link compares the counters the writer adds one to per member it matched
    /// (921170's `tx.paramcounter_%{MATCHED_VAR_NAME}=+1`, 921180's `@gt 1`): a counter
    /// never exceeds the members.
    fn counted(&self) -> Option<i64> {
        let first = self.steps.links.first()?;
        let Op::Compare(op, Text(n)) = &first.op else {
            return None;
        };
        let [Part::Lit(n)] = n.as_slice() else {
            return None;
        };
        let n: i64 = n.trim().parse().ok()?;
        let counters = first
            .targets
            .iter()
            .all(|t| matches!(t, Target::Tx(_) | Target::TxMatching(_)));
        let writers: Vec<&Vec<Step>> = self.writers().collect();
        let [writer] = writers.as_slice() else {
            return None;
        };
        let [step] = writer.as_slice() else {
            return None;
        };
        let adds_one = matches!(step.sets.as_slice(), [(_, SetOp::Add(Text(one), false))]
            if matches!(one.as_slice(), [Part::Lit(one)] if one.trim() == "1"));
        let one_collection =
            matches!(step.targets.as_slice(), [Target::Field(f, _)] if f.is_collection());
        if !counters
            || first.negated
            || !first.funcs.is_empty()
            || first.length
            || step.capture
            || !adds_one
            || !one_collection
        {
            return None;
        }
        match op {
            CmpOp::Gt => n.checked_add(1),
            CmpOp::Ge | CmpOp::Eq => Some(n),
            CmpOp::Ne | CmpOp::Lt | CmpOp::Le => None,
        }
    }

    /// [`Chained::counted`], when the writer's counters are one per member name: it names
    /// each `prefix%{MATCHED_VAR_NAME}` (921170's `tx.paramcounter_%{MATCHED_VAR_NAME}`),
    /// and its test reads nothing the run sets (a regex, capturing nothing). A counter
    /// then holds how many members of one name (ASCII case folded, as variable names are)
    /// the writer matched, and the chain can hold only when that many share a name:
    /// found in one walk, where the writer and the chain cost a `setvar` a member.
    fn counted_by_name(&self) -> Option<i64> {
        let at_least = self.counted()?;
        let step = self.writers().next()?.first()?;
        let [(Text(name), _)] = step.sets.as_slice() else {
            return None;
        };
        let per_name = matches!(name.as_slice(), [Part::Lit(_), Part::MatchedVarName]);
        (per_name && matches!(step.op, Op::Rx(_))).then_some(at_least)
    }

    /// Whether some name has `at_least` members the one writer's test matches (see
    /// [`Chained::counted_by_name`]).
    fn some_name_counts(&self, at_least: i64, values: &dyn Values) -> bool {
        let Some(step) = self.writers().next().and_then(|w| w.first()) else {
            return true;
        };
        let [Target::Field(f, _)] = step.targets.as_slice() else {
            return true;
        };
        // The names matched, one after the other. The test is a regex over the value: it
        // reads neither the state nor the request (which is walked one walk at a time).
        let (mut text, mut spans) = (String::new(), Vec::new());
        let mut scratch = State::default();
        values.each(f, &mut |name, value| {
            if step.test(value, &mut scratch, values).is_some() {
                let start = text.len();
                text.push_str(name);
                spans.push((start, text.len()));
            }
        });
        let name = |&(a, b): &(usize, usize)| text.get(a..b).unwrap_or_default().bytes();
        let folded = |s: &(usize, usize)| name(s).map(|b| b.to_ascii_lowercase());
        spans.sort_by(|x, y| folded(x).cmp(folded(y)));
        let mut run = 0i64;
        for (k, span) in spans.iter().enumerate() {
            let same = k > 0 && spans.get(k - 1).is_some_and(|p| folded(p).eq(folded(span)));
            run = if same { run + 1 } else { 1 };
            if run >= at_least {
                return true;
            }
        }
        false
    }
}

/// A chain holds only on a request where one of `fields` has at least `at_least` members.
pub(crate) struct Guard {
    pub(crate) fields: Vec<Field>,
    pub(crate) at_least: i64,
}

/// The collections a link's members come from, and whether some come from the variables
/// set within the test; `None` when a target has members whatever the request (a count,
/// a constant) or is a single field.
fn members_from(step: &Step) -> Option<(Vec<Field>, bool)> {
    let mut fields = Vec::new();
    let mut stateful = false;
    for t in &step.targets {
        match t {
            Target::Field(f, _) if f.is_collection() => fields.push(f.clone()),
            Target::Tx(_) | Target::TxMatching(_) | Target::MatchedVar | Target::MatchedVars => {
                stateful = true;
            }
            _ => return None,
        }
    }
    Some((fields, stateful))
}

impl Step {
    /// Whether this link may read a variable `writer` sets (or the value it matched).
    fn may_read(&self, writer: &[Step]) -> bool {
        let sets = || {
            writer
                .iter()
                .flat_map(|s| s.sets.iter().map(|(name, _)| name))
        };
        self.targets.iter().any(|t| match t {
            Target::MatchedVar | Target::MatchedVars => true,
            Target::Tx(k) => sets().any(|n| match n.prefix() {
                (name, true) => name.eq_ignore_ascii_case(k),
                (prefix, false) => k.starts_with(&prefix.to_ascii_lowercase()),
            }),
            Target::TxMatching(re) => sets().any(|n| match n.prefix() {
                (name, true) => re.is_match(&name),
                (_, false) => true,
            }),
            _ => false,
        })
    }
}

/// The writers whose variables `rule` reads, or reads through another writer, in order.
fn relevant<'w>(rule: &Rule, writers: &[&'w Rule]) -> Vec<&'w Rule> {
    let mut names: Vec<String> = Vec::new();
    let mut patterns: Vec<Regex> = Vec::new();
    tx_reads(rule, &mut names, &mut patterns);
    let mut taken = vec![false; writers.len()];
    loop {
        let mut grew = false;
        for (w, taken) in writers.iter().zip(taken.iter_mut()) {
            if *taken {
                continue;
            }
            let writes = set_vars(w).any(|name| {
                let prefix = name.literal_start();
                let read = name.as_literal().is_some() && names.contains(&prefix);
                read || patterns.iter().any(|r| r.is_match(&prefix))
            });
            if writes {
                *taken = true;
                grew = true;
                tx_reads(w, &mut names, &mut patterns);
            }
        }
        if !grew {
            break;
        }
    }
    writers
        .iter()
        .zip(taken)
        .filter_map(|(w, t)| t.then_some(*w))
        .collect()
}

/// The names of the transaction variables `rule` sets.
fn set_vars(rule: &Rule) -> impl Iterator<Item = &MacroString> {
    rule.actions
        .iter()
        .chain(rule.links.iter().skip(1).flat_map(|l| l.actions.iter()))
        .filter_map(|a| match &a.kind {
            ActionKind::SetVar(sv) if sv.collection == Collection::Tx => Some(&sv.name),
            _ => None,
        })
}

/// The transaction variables `rule` reads: by name (targets and macros), or by a name
/// pattern (`TX:/re/`).
fn tx_reads(rule: &Rule, names: &mut Vec<String>, patterns: &mut Vec<Regex>) {
    let macro_refs = |m: &MacroString, names: &mut Vec<String>| {
        for p in &m.parts {
            if let MacroPart::Ref {
                variable: VariableKind::Tx,
                key: Some(k),
                ..
            } = p
            {
                names.push(k.to_ascii_lowercase());
            }
        }
    };
    for (i, link) in rule.links.iter().enumerate() {
        for v in link.variables.iter().filter(|v| v.kind == VariableKind::Tx) {
            match &v.selector {
                Some(Selector::Key(k)) => names.push(k.to_ascii_lowercase()),
                Some(Selector::Regex(r)) => patterns.extend(regex(&format!("(?i){r}"))),
                _ => {}
            }
        }
        if let Some(m) = operand(&link.operator.kind) {
            macro_refs(m, names);
        }
        let actions = if i == 0 { &rule.actions } else { &link.actions };
        for a in actions {
            if let ActionKind::SetVar(sv) = &a.kind {
                macro_refs(&sv.name, names);
                if let SetVarOp::Set(v) | SetVarOp::Add(v) | SetVarOp::Sub(v) = &sv.op {
                    macro_refs(v, names);
                }
            }
        }
    }
}

/// An operator's macro-expandable argument.
fn operand(kind: &OperatorKind) -> Option<&MacroString> {
    match kind {
        OperatorKind::Rx(m)
        | OperatorKind::Streq(m)
        | OperatorKind::Within(m)
        | OperatorKind::BeginsWith(m)
        | OperatorKind::EndsWith(m)
        | OperatorKind::Contains(m)
        | OperatorKind::Eq(m)
        | OperatorKind::Ge(m)
        | OperatorKind::Gt(m)
        | OperatorKind::Lt(m)
        | OperatorKind::Le(m) => Some(m),
        _ => None,
    }
}

struct Build<'b> {
    /// Variables set within the test: captures, and what the links built so far set.
    local: Vec<String>,
    /// Whether a link built so far sets a variable whose name is built from a macro.
    macro_names: bool,
    known: &'b dyn Fn(&str) -> Known,
    reads: Vec<Field>,
}

impl Build<'_> {
    /// `rule`'s links, each reading what the links before it (and before the rule) set.
    fn steps(&mut self, rule: &Rule) -> Result<Vec<Step>, Unsupported> {
        let mut links = Vec::new();
        for (i, link) in rule.links.iter().enumerate() {
            let actions = if i == 0 { &rule.actions } else { &link.actions };
            let chain = transforms(actions)?;
            let mut targets = Vec::new();
            for (v, excl) in with_exclusions(&link.variables) {
                targets.push(self.target(v, &excl)?);
            }
            let op = self.op(&link.operator.kind)?;
            let mut sets = Vec::new();
            for a in actions {
                let ActionKind::SetVar(sv) = &a.kind else {
                    continue;
                };
                let score = sv
                    .name
                    .as_literal()
                    .is_some_and(|n| matches!((self.known)(&n.to_ascii_lowercase()), Known::Score));
                let op = match &sv.op {
                    // Scores are the engine's to add up.
                    SetVarOp::Add(_) | SetVarOp::Sub(_) if score => continue,
                    SetVarOp::Set(v) => SetOp::Set(self.text(v)?),
                    SetVarOp::Add(v) => SetOp::Add(self.text(v)?, false),
                    SetVarOp::Sub(v) => SetOp::Add(self.text(v)?, true),
                    SetVarOp::SetOne => SetOp::Set(Text(vec![Part::Lit("1".into())])),
                    SetVarOp::Unset => SetOp::Unset,
                };
                sets.push((self.text(&sv.name)?, op));
            }
            let capture = actions.iter().any(|a| a.kind == ActionKind::Capture);
            links.push(Step {
                targets,
                funcs: chain.funcs,
                length: chain.length,
                multi_match: chain.multi_match,
                op,
                negated: link.operator.negated,
                capture,
                sets,
            });
            for a in actions {
                if let ActionKind::SetVar(sv) = &a.kind {
                    match sv.name.as_literal() {
                        Some(n) => self.local.push(n.to_ascii_lowercase()),
                        None => self.macro_names = true,
                    }
                }
            }
        }
        Ok(links)
    }

    /// `tx.k`: set within the test, read per request (`None`), or its load-time value
    /// (`""` when unset).
    fn tx(&self, k: &str) -> Result<Option<String>, Unsupported> {
        if self.local.iter().any(|l| l == k) {
            return Ok(None);
        }
        match (self.known)(k) {
            Known::Const(c) => Ok(Some(c)),
            Known::Unset => Ok(Some(String::new())),
            Known::Dynamic | Known::Score => Err(Unsupported(format!("tx.{k}, set per request"))),
        }
    }

    fn target(&mut self, v: &Variable, excluded: &[&Variable]) -> Result<Target, Unsupported> {
        if v.count && v.kind != VariableKind::Tx {
            let (field, _) = field_of(v, excluded)?;
            self.reads.push(field.clone());
            return Ok(Target::Count(field, v.kind.name()));
        }
        if v.kind == VariableKind::ArgsCombinedSize {
            self.reads.push(Field::Args);
            return Ok(Target::CombinedSize);
        }
        if v.count {
            let Some(Selector::Key(k)) = &v.selector else {
                return Err(Unsupported("`&TX` without a key".into()));
            };
            let k = k.to_ascii_lowercase();
            if self.local.contains(&k) {
                return Ok(Target::TxCount(k));
            }
            return match (self.known)(&k) {
                Known::Const(_) => Ok(Target::Const("1".into())),
                Known::Unset => Ok(Target::Const("0".into())),
                Known::Dynamic | Known::Score => {
                    Err(Unsupported(format!("&tx.{k}, set per request")))
                }
            };
        }
        Ok(match v.kind {
            VariableKind::MatchedVar => Target::MatchedVar,
            VariableKind::MatchedVars => Target::MatchedVars,
            VariableKind::Tx => match &v.selector {
                Some(Selector::Key(k)) => {
                    let k = k.to_ascii_lowercase();
                    match self.tx(&k)? {
                        Some(c) => Target::Const(c),
                        None => Target::Tx(k),
                    }
                }
                // Only when this rule or a writer builds names from a macro: other rules'
                // variables may match too.
                Some(Selector::Regex(r)) if self.macro_names => {
                    Target::TxMatching(regex(&format!("(?i){r}")).ok_or_else(|| {
                        Unsupported("a TX name regex that does not compile".into())
                    })?)
                }
                _ => return Err(Unsupported("TX without a key".into())),
            },
            _ => {
                let (field, _) = field_of(v, excluded)?;
                self.reads.push(field.clone());
                Target::Field(field, v.kind.name())
            }
        })
    }

    fn op(&mut self, kind: &OperatorKind) -> Result<Op, Unsupported> {
        let cmp = |op: CmpOp, m: &MacroString, b: &mut Self| {
            Ok::<_, Unsupported>(Op::Compare(op, b.text(m)?))
        };
        Ok(match kind {
            OperatorKind::Rx(m) => {
                let pattern = m
                    .as_literal()
                    .ok_or_else(|| Unsupported("a macro in a regex".into()))?;
                Op::Rx(
                    regex(&pcre_pattern(pattern))
                        .ok_or_else(|| Unsupported("a regex that does not compile".into()))?,
                )
            }
            OperatorKind::Pm(_) | OperatorKind::PmFromFile(_) => {
                Op::Phrases(kind.phrases().unwrap_or_default())
            }
            OperatorKind::Streq(m) => Op::Streq(self.text(m)?),
            OperatorKind::Within(m) => Op::Within(self.text(m)?),
            OperatorKind::BeginsWith(m) => Op::BeginsWith(self.text(m)?),
            OperatorKind::EndsWith(m) => Op::EndsWith(self.text(m)?),
            OperatorKind::Contains(m) => Op::Contains(self.text(m)?),
            OperatorKind::Eq(m) => cmp(CmpOp::Eq, m, self)?,
            OperatorKind::Ge(m) => cmp(CmpOp::Ge, m, self)?,
            OperatorKind::Gt(m) => cmp(CmpOp::Gt, m, self)?,
            OperatorKind::Lt(m) => cmp(CmpOp::Lt, m, self)?,
            OperatorKind::Le(m) => cmp(CmpOp::Le, m, self)?,
            _ => {
                return Err(Unsupported(
                    "this operator in a chain read per request".into(),
                ))
            }
        })
    }

    fn text(&mut self, m: &MacroString) -> Result<Text, Unsupported> {
        let mut parts = Vec::new();
        for p in &m.parts {
            parts.push(match p {
                MacroPart::Literal(s) => Part::Lit(s.clone()),
                MacroPart::Ref {
                    variable: VariableKind::Tx,
                    key: Some(k),
                    ..
                } => {
                    let k = k.to_ascii_lowercase();
                    match self.tx(&k)? {
                        Some(c) => Part::Lit(c),
                        None => Part::Tx(k),
                    }
                }
                MacroPart::Ref {
                    variable: VariableKind::MatchedVar,
                    ..
                } => Part::MatchedVar,
                MacroPart::Ref {
                    variable: VariableKind::MatchedVarName,
                    ..
                } => Part::MatchedVarName,
                MacroPart::Ref {
                    variable,
                    key,
                    span,
                    ..
                } => {
                    let v = Variable::quoted(*variable, key.as_deref(), *span);
                    let (field, _) = field_of(&v, &[])?;
                    self.reads.push(field.clone());
                    Part::First(field)
                }
            });
        }
        Ok(Text(parts))
    }
}

/// A regex as the engine compiles `@rx` (linear time, bytes allowed), with its capture
/// groups.
pub(crate) fn regex(pattern: &str) -> Option<Regex> {
    Regex::builder()
        .syntax(regex_automata::util::syntax::Config::new().utf8(false))
        .build(pattern)
        .ok()
}

/// The parts one after the other: a variable's name (`ARGS:q`), without `format!`'s cost,
/// a fifth of a chain's on requests with a few headers.
fn joined(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        out.push_str(p);
    }
    out
}

impl Text {
    /// Its literal beginning, and whether that is all of it.
    fn prefix(&self) -> (String, bool) {
        let mut n = 0;
        let prefix = self
            .0
            .iter()
            .map_while(|p| match p {
                Part::Lit(s) => Some(s.as_str()),
                _ => None,
            })
            .inspect(|_| n += 1)
            .collect();
        (prefix, n == self.0.len())
    }

    fn expand<'t>(&'t self, st: &State, values: &dyn Values) -> std::borrow::Cow<'t, str> {
        // A constant (a list the setup set) is most texts: no copy per value tested.
        if let [Part::Lit(s)] = self.0.as_slice() {
            return std::borrow::Cow::Borrowed(s);
        }
        let mut out = String::with_capacity(64);
        for p in &self.0 {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Tx(k) => out.push_str(st.get(k).unwrap_or_default()),
                Part::First(f) => {
                    let mut first = None;
                    values.each(f, &mut |_, v| {
                        first.get_or_insert_with(|| v.to_string());
                    });
                    out.push_str(first.as_deref().unwrap_or_default());
                }
                Part::MatchedVar => out.push_str(st.last.as_ref().map_or("", |l| &l.1)),
                Part::MatchedVarName => out.push_str(st.last.as_ref().map_or("", |l| &l.0)),
            }
        }
        std::borrow::Cow::Owned(out)
    }
}

impl Interpret for Chained {
    fn reads(&self) -> &[Field] {
        &self.steps.reads
    }

    fn holds(&self, values: &dyn Values) -> bool {
        if let Some(at_least) = self.by_name {
            if !self.some_name_counts(at_least, values) {
                return false;
            }
        }
        let mut st = State::default();
        for writer in self.writers() {
            // Run for what it sets; whether it matched does not matter.
            let _ = writer.iter().all(|step| step.run(&mut st, values));
        }
        self.steps
            .links
            .iter()
            .all(|step| step.run(&mut st, values))
    }
}

impl Step {
    /// Tests every value of the targets; whether any matched.
    fn run(&self, st: &mut State, values: &dyn Values) -> bool {
        let mut found: Vec<(String, String)> = Vec::new();
        for target in &self.targets {
            let mut members: Vec<(String, String)> = Vec::new();
            match target {
                Target::Field(f, var) => values.each(f, &mut |name, value| {
                    let name = if f.is_collection() {
                        joined(&[var, ":", name])
                    } else {
                        (*var).to_string()
                    };
                    members.push((name, value.to_string()));
                }),
                Target::Count(f, var) => {
                    let mut n = 0;
                    values.each(f, &mut |_, _| n += 1);
                    members.push(((*var).to_string(), n.to_string()));
                }
                Target::TxCount(k) => {
                    let n = usize::from(st.get(k).is_some());
                    members.push((joined(&["&TX:", k]), n.to_string()));
                }
                Target::CombinedSize => {
                    let mut n = 0usize;
                    values.each(&Field::Args, &mut |name, value| {
                        n += name.len() + value.len()
                    });
                    members.push(("ARGS_COMBINED_SIZE".into(), n.to_string()));
                }
                Target::Const(c) => members.push(("TX".into(), c.clone())),
                Target::Tx(k) => members.extend(st.get(k).map(|v| (joined(&["TX:", k]), v.into()))),
                Target::TxMatching(re) => members.extend(
                    st.tx
                        .iter()
                        .filter(|(n, _)| re.is_match(n.as_str()))
                        .map(|(n, v)| (joined(&["TX:", n]), v.clone())),
                ),
                Target::MatchedVar => members.extend(st.last.clone()),
                Target::MatchedVars => members.extend(st.matched.iter().cloned()),
            }
            for (name, value) in members {
                if let Some(seen) = self.test(&value, st, values) {
                    st.last = Some((name.clone(), seen.clone()));
                    for (n, op) in &self.sets {
                        let n = n.expand(st, values).to_ascii_lowercase();
                        match op {
                            SetOp::Set(v) => {
                                let v = v.expand(st, values).into_owned();
                                st.set(n, v);
                            }
                            SetOp::Add(v, negative) => {
                                let num = |s: &str| s.trim().parse::<i64>().unwrap_or(0);
                                let d = num(&v.expand(st, values));
                                let d = if *negative { d.saturating_neg() } else { d };
                                let sum = num(st.get(&n).unwrap_or_default()).saturating_add(d);
                                st.set(n, sum.to_string());
                            }
                            SetOp::Unset => st.tx.retain(|(name, _)| *name != n),
                        }
                    }
                    found.push((name, seen));
                }
            }
        }
        let any = !found.is_empty();
        st.matched = found;
        any
    }

    /// The value as the operator matched it, when it did (for `multiMatch`, the first of
    /// the value before and after each function that does).
    fn test(&self, value: &str, st: &mut State, values: &dyn Values) -> Option<String> {
        if self.funcs.is_empty() && !self.length {
            // The value as it is, the one candidate: copied only when it matched.
            return (self.op_matches(value, st, values) != self.negated).then(|| value.to_string());
        }
        let mut cands = Vec::new();
        let mut v = value.to_string();
        if self.multi_match {
            cands.push(v.clone());
        }
        let mut bytes = Vec::new();
        for f in &self.funcs {
            let mut out = String::new();
            f.apply(&v, &mut out, &mut bytes);
            v = out;
            if self.multi_match && cands.last() != Some(&v) {
                cands.push(v.clone());
            }
        }
        if self.length {
            v = v.len().to_string();
            if self.multi_match {
                cands.push(v.clone());
            }
        }
        if !self.multi_match {
            cands.push(v);
        }
        cands
            .into_iter()
            .find(|c| self.op_matches(c, st, values) != self.negated)
    }

    fn op_matches(&self, v: &str, st: &mut State, values: &dyn Values) -> bool {
        let arg = |t| Text::expand(t, st, values);
        match &self.op {
            Op::Rx(re) if !self.capture || self.negated => re.is_match(v),
            Op::Rx(re) => {
                let mut caps = re.create_captures();
                re.captures(v, &mut caps);
                if !caps.is_match() {
                    return false;
                }
                if self.capture && !self.negated {
                    for i in 0..caps.group_len().min(10) {
                        let text = caps.get_group(i).and_then(|s| v.get(s.range()));
                        let text = text.unwrap_or_default();
                        st.set(i.to_string(), text.to_string());
                    }
                }
                true
            }
            Op::Phrases(p) => {
                let lower = v.to_ascii_lowercase();
                p.iter().any(|p| lower.contains(p.as_str()))
            }
            Op::Streq(t) => v == arg(t),
            Op::Within(t) => arg(t).contains(v),
            Op::BeginsWith(t) => v.starts_with(&*arg(t)),
            Op::EndsWith(t) => v.ends_with(&*arg(t)),
            Op::Contains(t) => v.contains(&*arg(t)),
            Op::Compare(op, t) => {
                let n = |s: &str| s.trim().parse::<i64>().unwrap_or(0);
                op.holds(n(v), n(&arg(t)))
            }
        }
    }
}

impl std::fmt::Debug for Chained {
    /// The rule: its regexes are too large to show.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rule {}'s chain", self.id)
    }
}

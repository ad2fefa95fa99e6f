//! SecLang rules lowered into portcullis' rule model ([`RuleSet`]), so the compiler reads
//! CRS like any rule file: every `@rx`/`@pm` on the same field and decoding chain joins the
//! same scanner.
//!
//! ModSecurity interprets transaction variables (`TX`) at run time; most of CRS's are
//! constants of its setup (paranoia levels, thresholds, allowed methods), set by rules
//! whose conditions read only other constants. The lowering runs the rules over those
//! constants first, the way ModSecurity would for any request: a rule whose condition
//! reads only constants is decided here (its `setvar`s and `skipAfter` applied, then it
//! is gone), and what is left reads the request and becomes an engine rule. Anomaly scores
//! (`setvar:tx.x=+5` in a rule that reads the request) become engine scores; a score
//! added into another (`tx.blocking=+%{tx.pl1}`, CRS's blocking evaluation) adds, at that
//! point, what each rule before it added. Phase 1 rules run before phase 2 rules, each
//! phase in file order; `skipAfter` in a rule that reads the request becomes a condition
//! of the rules it skips.
//!
//! What the engine cannot model yet is an error naming the rule, or with
//! [`LowerOptions::skip_unsupported`] a rule left out and listed.

use std::collections::{HashMap, HashSet};

use portcullis_rules::{
    Action as EngineAction, CmpOp, Detector, Diagnostic, Error, Expr, Field, List, ListId,
    ListItems, ListKind, ListOp, Mode, NameMatch, Pred, PredKind, Rule as EngineRule, RuleSet,
    Selection, Settings, Span, StrOp, Term, Transform,
};

use crate::action::{ActionKind, Collection, SetVarOp};
use crate::ctl::{Ctl, EngineMode};
use crate::interpret::{Chained, Known};
use crate::macros::{MacroPart, MacroString};
use crate::operator::{Operator, OperatorKind};
use crate::resolve::{Item, Link, Rule, SecLangRuleSet};
use crate::transform::Transformation;
use crate::variable::{Selector, Variable, VariableKind};
use crate::Phase;

/// How SecLang rules are lowered.
#[derive(Clone, Debug, Default)]
pub struct LowerOptions {
    /// Leave out a rule that uses what the engine cannot model yet, and list it in
    /// [`Lowered::skipped`], instead of failing. For measuring conformance while the
    /// lowering grows; a deployment should not rely on it.
    pub skip_unsupported: bool,
}

/// The result of lowering.
#[derive(Debug)]
pub struct Lowered {
    /// The engine rules.
    pub rules: RuleSet,
    /// Rules left out under [`LowerOptions::skip_unsupported`]: id and why.
    pub skipped: Vec<(u32, String)>,
    /// Rules decided at load time because they read only constants (`TX` set by the setup).
    pub folded: usize,
    /// Rules of the response phases (3 to 5), not run: portcullis sees requests only.
    pub response_rules: usize,
    /// Rules of the request phases (1 and 2).
    pub request_rules: usize,
    /// Engine rules from phase 1 and from phase 2.
    pub phases: [usize; 2],
    /// Engine rules whose chain runs link by link (it binds values).
    pub interpreted: usize,
}

impl Lowered {
    /// What became of the rules, in one line: `566 SecLang rules: 154 run per request
    /// (phase 1: 20, phase 2: 134; 16 link by link), 171 decided at load time, …`.
    #[must_use]
    pub fn summary(&self) -> String {
        let [one, two] = self.phases;
        let passed_over = self
            .request_rules
            .saturating_sub(one + two + self.folded + self.skipped.len());
        let mut s = format!(
            "{} run per request (phase 1: {one}, phase 2: {two}; {} link by link), {} decided at load time, {passed_over} passed over (above the paranoia level, removed, or without effect), {} of response phases not run",
            one + two,
            self.interpreted,
            self.folded,
            self.response_rules
        );
        if !self.skipped.is_empty() {
            s.push_str(&format!(", {} left out as unsupported", self.skipped.len()));
        }
        s
    }
}

/// Lowers resolved SecLang rules.
///
/// # Errors
///
/// A rule using what the engine cannot model yet (unless
/// [`LowerOptions::skip_unsupported`]), located at the rule.
pub fn lower(set: &SecLangRuleSet, options: &LowerOptions) -> Result<Lowered, Error> {
    let mut l = Lowering {
        env: HashMap::new(),
        versions: HashMap::new(),
        mode: match set.settings.rule_engine {
            Some(EngineMode::DetectionOnly) => Mode::Shadow,
            _ => Mode::Enforce,
        },
        engine_off: set.settings.rule_engine == Some(EngineMode::Off),
        removed: HashSet::new(),
        removals: Vec::new(),
        removed_targets: Vec::new(),
        phases: [0; 2],
        interpreted: 0,
        writers: Vec::new(),
        rules: Vec::new(),
        lists: Vec::new(),
        skipped: Vec::new(),
        errors: Vec::new(),
        folded: 0,
        response_rules: 0,
        options,
        set,
    };
    for (i, phase) in [Phase::RequestHeaders, Phase::RequestBody]
        .into_iter()
        .enumerate()
    {
        let before = l.rules.len();
        l.phase(phase);
        if let Some(n) = l.phases.get_mut(i) {
            *n = l.rules.len() - before;
        }
    }
    l.response_rules = set.rules().filter(|r| r.phase > Phase::RequestBody).count();
    if !l.errors.is_empty() {
        return Err(Error::new(l.errors, set.sources.clone()));
    }
    // CRS's assembled regexes run to 11 KB of source, and one regex on five collections
    // is five compiled copies today (about 130 MB for CRS at paranoia level 4).
    let mut settings = Settings {
        max_pattern_len: 64 << 10,
        max_regex_bytes: 512 << 20,
        // CRS's largest regexes need more lazy DFA cache than the default to run on
        // the lazy DFA at all (without it they fall back to a backtracker, 100x slower).
        max_regex_cache_bytes: 32 << 20,
        ..Settings::default()
    };
    if let Some(limit) = set.settings.request_body_no_files_limit {
        settings.max_body_bytes = usize::try_from(limit).unwrap_or(usize::MAX);
    }
    if let Some(depth) = set.settings.request_body_json_depth_limit {
        settings.max_json_depth = usize::try_from(depth).unwrap_or(usize::MAX);
    }
    if l.engine_off {
        l.rules.clear();
    }
    let rules = RuleSet::from_parts(
        settings,
        l.lists,
        l.rules,
        set.sources.clone(),
        set.warnings.clone(),
    );
    Ok(Lowered {
        rules,
        skipped: l.skipped,
        folded: l.folded,
        response_rules: l.response_rules,
        request_rules: set.rules().count() - l.response_rules,
        phases: l.phases,
        interpreted: l.interpreted,
    })
}

/// A transaction variable as far as the load time knows it.
#[derive(Clone, Debug)]
enum Tx {
    /// Set to this by rules that read only constants.
    Const(String),
    /// An anomaly score: what engine rules add up, under this engine score name.
    Score(String),
    /// Set by a rule that reads the request to something not a score.
    Dynamic,
}

/// Why a rule cannot be lowered.
pub(crate) struct Unsupported(pub(crate) String);

/// What a `ctl:ruleRemove…` of a rule that reads the request removes from the rules after
/// it, on the requests that rule matches.
enum Removal {
    /// `ruleRemoveById`
    Rules(Vec<crate::action::IdRange>),
    /// `ruleRemoveByTag`
    Tagged(String),
    /// `ruleRemoveTargetById`, `ruleRemoveTargetByTag`: whole variables, from the rules
    /// with these ids or this tag.
    Targets {
        ids: Vec<crate::action::IdRange>,
        tag: Option<String>,
        targets: Vec<VariableKind>,
    },
}

impl Removal {
    /// Whether it applies to `rule` (for target removals: whether the rule is one named).
    fn names(&self, rule: &Rule) -> bool {
        let (ids, tag) = match self {
            Removal::Rules(ids) => (ids.as_slice(), None),
            Removal::Tagged(tag) => (&[][..], Some(tag)),
            Removal::Targets { ids, tag, .. } => (ids.as_slice(), tag.as_ref()),
        };
        ids.iter().any(|r| r.contains(rule.id)) || tag.is_some_and(|t| rule.tags().any(|x| x == t))
    }
}

/// A condition: decided at load time, or read from the request.
enum Cond {
    Static(bool),
    Dynamic(Expr),
}

struct Lowering<'a> {
    env: HashMap<String, Tx>,
    versions: HashMap<String, u32>,
    mode: Mode,
    engine_off: bool,
    removed: HashSet<u32>,
    /// The `ctl:ruleRemove…` of rules that read the request, and those rules' conditions.
    removals: Vec<(Removal, Expr)>,
    /// The variables removed from the rule being lowered, and when.
    removed_targets: Vec<(VariableKind, Expr)>,
    phases: [usize; 2],
    interpreted: usize,
    /// Rules that set transaction variables per request beyond scores (counters, names
    /// built from macros): the chains that read those variables run them first.
    writers: Vec<u32>,
    rules: Vec<EngineRule>,
    lists: Vec<List>,
    skipped: Vec<(u32, String)>,
    errors: Vec<Diagnostic>,
    folded: usize,
    response_rules: usize,
    options: &'a LowerOptions,
    set: &'a SecLangRuleSet,
}

impl Lowering<'_> {
    fn phase(&mut self, phase: Phase) {
        let set = self.set;
        let mut skip_to: Option<&str> = None;
        // Markers a rule that reads the request may skip to, with its condition.
        let mut guards: Vec<(&str, Expr)> = Vec::new();
        for item in &set.items {
            let rule = match item {
                Item::Marker(m) => {
                    if skip_to == Some(m.name.as_str()) {
                        skip_to = None;
                    }
                    guards.retain(|(name, _)| *name != m.name);
                    continue;
                }
                Item::Rule(r) => r,
            };
            if rule.phase != phase || skip_to.is_some() || self.removed.contains(&rule.id) {
                continue;
            }
            match self.rule(rule, &guards) {
                Ok(Some(marker)) => match marker {
                    Skip::Static(m) => skip_to = Some(m),
                    Skip::Dynamic(m, e) => guards.push((m, e)),
                },
                Ok(None) => {}
                Err(Unsupported(why)) => {
                    // What it would have set is unknown here: rules reading it cannot be
                    // decided at load time either.
                    for a in rule
                        .actions
                        .iter()
                        .chain(rule.links.iter().flat_map(|l| l.actions.iter()))
                    {
                        if let ActionKind::SetVar(sv) = &a.kind {
                            let adds = matches!(sv.op, SetVarOp::Add(_) | SetVarOp::Sub(_));
                            if let Some(name) = self.name_of(&sv.name).filter(|_| !adds) {
                                self.env.insert(name, Tx::Dynamic);
                            }
                        }
                    }
                    if self.options.skip_unsupported {
                        self.skipped.push((rule.id, why));
                    } else {
                        self.errors.push(
                            Diagnostic::error(
                                rule.span,
                                format!("rule {} cannot be compiled yet: {why}", rule.id),
                            )
                            .hint("remove it with SecRuleRemoveById, or see docs/seclang.md for what is supported"),
                        );
                    }
                }
            }
        }
    }

    /// Lowers one rule; returns where it skips to, if it does.
    fn rule<'r>(
        &mut self,
        rule: &'r Rule,
        guards: &[(&str, Expr)],
    ) -> Result<Option<Skip<'r>>, Unsupported> {
        // A value set from the request (`%{tx.0}`, `%{MATCHED_VAR}`) is unknown at load
        // time, for this rule's own later links too.
        for a in rule
            .actions
            .iter()
            .chain(rule.links.iter().flat_map(|l| l.actions.iter()))
        {
            if let ActionKind::SetVar(sv) = &a.kind {
                if let (Some(name), SetVarOp::Set(v)) = (self.name_of(&sv.name), &sv.op) {
                    if self.expand(v).is_err() {
                        self.env.insert(name, Tx::Dynamic);
                    }
                }
            }
        }
        // What rules before removed from this one, per request.
        self.removed_targets.clear();
        let mut removed_when = Vec::new();
        for (removal, when) in &self.removals {
            if !removal.names(rule) {
                continue;
            }
            match removal {
                Removal::Targets { targets, .. } => self
                    .removed_targets
                    .extend(targets.iter().map(|&t| (t, when.clone()))),
                _ => removed_when.push(when.clone()),
            }
        }
        let mut cond = Cond::Static(true);
        let mut prev: Option<(&Link, &[crate::action::Action])> = None;
        let mut unsupported = None;
        for (i, link) in rule.links.iter().enumerate() {
            let actions = if i == 0 { &rule.actions } else { &link.actions };
            match self.link(link, actions, prev) {
                Ok(c) => cond = and(cond, c),
                // A link that cannot be lowered does not matter when another is false at
                // load time (CRS guards a check with `&TX:arg_length "@eq 1"`).
                Err(e) => unsupported = unsupported.or(Some(e)),
            }
            prev = Some((link, actions));
        }
        if let Some(e) = unsupported {
            if !matches!(cond, Cond::Static(false)) {
                // Run link by link, behind the links compiled above.
                let known = |k: &str| match self.env.get(k) {
                    Some(Tx::Const(c)) => Known::Const(c.clone()),
                    None => Known::Unset,
                    Some(Tx::Score(_)) => Known::Score,
                    Some(Tx::Dynamic) => Known::Dynamic,
                };
                let writers: Vec<&Rule> = self
                    .writers
                    .iter()
                    .filter_map(|id| self.set.rules().find(|r| r.id == *id))
                    .collect();
                let chain = Chained::build(rule, &known, &writers).map_err(|_| e)?;
                self.interpreted += 1;
                let pred = Expr::Pred(Pred {
                    kind: PredKind::Interpreted(chain),
                    span: rule.span,
                    text: format!("rule {}'s chain, run link by link", rule.id),
                });
                cond = and(cond, Cond::Dynamic(pred));
            }
        }
        let skip_after = rule.actions.iter().find_map(|a| match &a.kind {
            ActionKind::SkipAfter(m) => Some(m.as_str()),
            _ => None,
        });
        if rule
            .actions
            .iter()
            .any(|a| matches!(a.kind, ActionKind::Skip(_)))
        {
            return Err(Unsupported("`skip` (use skipAfter)".into()));
        }
        let expr = match cond {
            Cond::Static(false) => {
                self.folded += 1;
                return Ok(None);
            }
            Cond::Static(true) if self.is_static_effect(rule) => {
                self.folded += 1;
                self.apply_static(rule)?;
                return Ok(skip_after.map(Skip::Static));
            }
            // A score added into another at a point every request reaches: done here, on
            // the rules before it.
            Cond::Static(true)
                if matches!(rule.disruptive.kind, ActionKind::Pass | ActionKind::Block)
                    && self.only_aliases(rule) =>
            {
                self.folded += 1;
                self.dynamic_effects(rule, &Expr::Const(true))?;
                return Ok(skip_after.map(Skip::Static));
            }
            Cond::Static(true) => Expr::Const(true),
            Cond::Dynamic(e) => e,
        };
        let mut when = expr.clone();
        if !guards.is_empty() || !removed_when.is_empty() {
            let mut all = vec![when];
            all.extend(guards.iter().map(|(_, g)| Expr::Not(Box::new(g.clone()))));
            all.extend(removed_when.into_iter().map(|r| Expr::Not(Box::new(r))));
            when = Expr::And(all);
        }
        let score = self.dynamic_effects(rule, &when)?;
        // A `nolog` rule that lets the request pass and adds to no score has no effect
        // the engine models (CRS 901340 forces a body variable portcullis always has): it
        // would only show in `matched`, where ModSecurity's log would not show it.
        let nolog = rule
            .actions
            .iter()
            .rev()
            .find_map(|a| match a.kind {
                ActionKind::NoLog => Some(true),
                ActionKind::Log => Some(false),
                _ => None,
            })
            .unwrap_or(false);
        if nolog
            && score.is_empty()
            && skip_after.is_none()
            && matches!(rule.disruptive.kind, ActionKind::Pass | ActionKind::Block)
        {
            self.folded += 1;
            return Ok(None);
        }
        let (action, status) = match rule.disruptive.kind {
            ActionKind::Deny | ActionKind::Drop => (
                EngineAction::Forbid,
                rule.actions.iter().find_map(|a| match a.kind {
                    ActionKind::Status(s) => Some(s),
                    _ => None,
                }),
            ),
            ActionKind::Allow(_) => (EngineAction::Allow, None),
            ActionKind::Pass | ActionKind::Block => (EngineAction::Log, None),
            _ => return Err(Unsupported("this disruptive action".into())),
        };
        self.rules.push(EngineRule {
            id: rule.id.to_string(),
            when,
            action,
            reason: rule.msg().map(str::to_string),
            hide: false,
            status,
            mode: self.mode,
            priority: 0,
            tags: rule.tags().map(str::to_string).collect(),
            score,
            labels: Vec::new(),
            rate_limit: None,
            span: rule.span,
        });
        Ok(skip_after.map(|m| Skip::Dynamic(m, expr)))
    }

    /// Whether a rule whose condition holds always only sets constants, changes the
    /// engine or skips: then it is decided here.
    fn is_static_effect(&self, rule: &Rule) -> bool {
        matches!(
            rule.disruptive.kind,
            ActionKind::Pass | ActionKind::Block
        ) && rule.actions.iter().all(|a| match &a.kind {
            ActionKind::SetVar(sv) => {
                sv.collection == Collection::Tx
                    && match &sv.op {
                        SetVarOp::Add(v) | SetVarOp::Sub(v) => {
                            // Adding a score into another is an engine effect.
                            !v.parts.iter().any(|p| {
                                matches!(p, MacroPart::Ref { variable: VariableKind::Tx, key: Some(k), .. }
                                    if matches!(self.env.get(&k.to_ascii_lowercase()), Some(Tx::Score(_))))
                            }) && !matches!(
                                self.env.get(&self.name_of(&sv.name).unwrap_or_default()),
                                Some(Tx::Score(_))
                            )
                        }
                        _ => true,
                    }
            }
            _ => true,
        })
    }

    /// Whether every `setvar` of a rule adds a score into another.
    fn only_aliases(&self, rule: &Rule) -> bool {
        rule.actions.iter().all(|a| match &a.kind {
            ActionKind::SetVar(sv) => match &sv.op {
                SetVarOp::Add(v) => self.score_ref(v).is_some(),
                _ => false,
            },
            ActionKind::Ctl(_) | ActionKind::SkipAfter(_) | ActionKind::Skip(_) => false,
            _ => true,
        })
    }

    /// Applies a rule decided at load time: its `setvar`s on constants, its `ctl`s.
    fn apply_static(&mut self, rule: &Rule) -> Result<(), Unsupported> {
        for a in &rule.actions {
            match &a.kind {
                ActionKind::SetVar(sv) if sv.collection == Collection::Tx => {
                    let name = self.name_of(&sv.name).ok_or_else(|| {
                        Unsupported("a setvar whose name reads the request".into())
                    })?;
                    match &sv.op {
                        SetVarOp::Set(v) => {
                            let v = self.expand(v)?;
                            if matches!(self.env.get(&name), Some(Tx::Score(_))) {
                                if v.trim() != "0" {
                                    return Err(Unsupported(
                                        "setting a score to other than 0".into(),
                                    ));
                                }
                                // A score reset: later rules add to a fresh engine score.
                                let n = self.versions.entry(name.clone()).or_insert(1);
                                *n += 1;
                                let fresh = format!("{name}@{n}");
                                self.env.insert(name, Tx::Score(fresh));
                            } else {
                                self.env.insert(name, Tx::Const(v));
                            }
                        }
                        SetVarOp::SetOne => {
                            self.env.insert(name, Tx::Const("1".into()));
                        }
                        SetVarOp::Unset => {
                            self.env.remove(&name);
                        }
                        SetVarOp::Add(v) | SetVarOp::Sub(v) => {
                            let d: i64 =
                                self.expand(v)?.trim().parse().map_err(|_| {
                                    Unsupported("adding what is not a number".into())
                                })?;
                            let d = if matches!(sv.op, SetVarOp::Sub(_)) {
                                -d
                            } else {
                                d
                            };
                            let cur = match self.env.get(&name) {
                                Some(Tx::Const(c)) => c.trim().parse::<i64>().unwrap_or(0),
                                None => 0,
                                _ => {
                                    return Err(Unsupported(
                                        "adding to a variable set per request".into(),
                                    ))
                                }
                            };
                            self.env
                                .insert(name, Tx::Const(cur.saturating_add(d).to_string()));
                        }
                    }
                }
                ActionKind::SetVar(_) => {
                    return Err(Unsupported("persistent collections (IP, SESSION…)".into()))
                }
                ActionKind::Ctl(Ctl::RuleEngine(m)) => {
                    self.mode = match m {
                        EngineMode::DetectionOnly => Mode::Shadow,
                        _ => Mode::Enforce,
                    };
                    self.engine_off = *m == EngineMode::Off;
                }
                ActionKind::Ctl(Ctl::RuleRemoveById(ids)) => {
                    for r in self.set.rules() {
                        if ids.iter().any(|range| range.contains(r.id)) {
                            self.removed.insert(r.id);
                        }
                    }
                }
                // portcullis picks a body processor by the content type, as these would.
                ActionKind::Ctl(Ctl::RequestBodyProcessor(_) | Ctl::RequestBodyAccess(_))
                | ActionKind::Ctl(Ctl::ForceRequestBodyVariable(_)) => {}
                ActionKind::Ctl(Ctl::AuditEngine(_) | Ctl::AuditLogParts(_)) => {}
                ActionKind::Ctl(_) => return Err(Unsupported("this ctl action".into())),
                _ => {}
            }
        }
        Ok(())
    }

    /// The scores a rule that reads the request adds to; other `setvar`s mark their
    /// variables as set per request. A score added into another adds, to each earlier
    /// rule adding to the first, the same to the second.
    /// `ctl:ruleRemove…` removes from the rules after it, on the requests `when` holds for.
    fn dynamic_effects(
        &mut self,
        rule: &Rule,
        when: &Expr,
    ) -> Result<Vec<(String, i64)>, Unsupported> {
        let mut score = Vec::new();
        for a in rule
            .actions
            .iter()
            .chain(rule.links.iter().skip(1).flat_map(|l| l.actions.iter()))
        {
            match &a.kind {
                ActionKind::SetVar(sv) if sv.collection == Collection::Tx => {
                    let Some(name) = self.name_of(&sv.name) else {
                        // A name built per request (`tx.paramcounter_%{MATCHED_VAR_NAME}`):
                        // what reads it runs this rule first.
                        self.writer(rule.id);
                        continue;
                    };
                    match &sv.op {
                        SetVarOp::Add(v) | SetVarOp::Sub(v) => {
                            if let Some(from) = self.score_ref(v) {
                                self.alias(&name, &from)?;
                                continue;
                            }
                            let d: i64 =
                                self.expand(v)?.trim().parse().map_err(|_| {
                                    Unsupported("adding what is not a number".into())
                                })?;
                            let d = if matches!(sv.op, SetVarOp::Sub(_)) {
                                -d
                            } else {
                                d
                            };
                            if matches!(self.env.get(&name), Some(Tx::Dynamic)) {
                                // A counter set per request: read through this rule.
                                self.writer(rule.id);
                                continue;
                            }
                            let engine = self.score_name(&name)?;
                            score.push((engine, d));
                        }
                        _ => {
                            self.env.insert(name, Tx::Dynamic);
                            self.writer(rule.id);
                        }
                    }
                }
                ActionKind::SetVar(_) => {
                    return Err(Unsupported("persistent collections (IP, SESSION…)".into()))
                }
                ActionKind::Ctl(
                    Ctl::RequestBodyProcessor(_)
                    | Ctl::RequestBodyAccess(_)
                    | Ctl::ForceRequestBodyVariable(_)
                    | Ctl::AuditEngine(_)
                    | Ctl::AuditLogParts(_),
                ) => {}
                ActionKind::Ctl(Ctl::RuleRemoveById(ids)) => {
                    self.removals
                        .push((Removal::Rules(ids.clone()), when.clone()));
                }
                ActionKind::Ctl(Ctl::RuleRemoveByTag(tag)) => {
                    self.removals
                        .push((Removal::Tagged(tag.clone()), when.clone()));
                }
                ActionKind::Ctl(
                    c @ (Ctl::RuleRemoveTargetById { targets, .. }
                    | Ctl::RuleRemoveTargetByTag { targets, .. }),
                ) => {
                    if targets.iter().any(|t| t.selector.is_some() || t.count) {
                        return Err(Unsupported(
                            "removing one member of a target, per request".into(),
                        ));
                    }
                    let (ids, tag) = match c {
                        Ctl::RuleRemoveTargetById { ids, .. } => (ids.clone(), None),
                        Ctl::RuleRemoveTargetByTag { tag, .. } => (Vec::new(), Some(tag.clone())),
                        _ => (Vec::new(), None),
                    };
                    let targets = targets.iter().map(|t| t.kind).collect();
                    self.removals
                        .push((Removal::Targets { ids, tag, targets }, when.clone()));
                }
                ActionKind::Ctl(_) => {
                    return Err(Unsupported(
                        "a ctl action that depends on the request".into(),
                    ))
                }
                ActionKind::Capture => {}
                _ => {}
            }
        }
        Ok(score)
    }

    /// `%{tx.x}` alone, naming a score: a score added into another.
    fn score_ref(&self, v: &MacroString) -> Option<String> {
        match v.parts.as_slice() {
            [MacroPart::Ref {
                variable: VariableKind::Tx,
                key: Some(k),
                ..
            }] => match self.env.get(&k.to_ascii_lowercase()) {
                Some(Tx::Score(s)) => Some(s.clone()),
                _ => None,
            },
            _ => None,
        }
    }

    /// `tx.name += tx.from` where `from` is a score: every engine rule so far adding to
    /// `from` adds as much to `name`.
    fn alias(&mut self, name: &str, from: &str) -> Result<(), Unsupported> {
        let target = self.score_name(name)?;
        for r in &mut self.rules {
            let add: i64 = r
                .score
                .iter()
                .filter(|(n, _)| n == from)
                .map(|(_, p)| *p)
                .sum();
            if add != 0 {
                r.score.push((target.clone(), add));
            }
        }
        Ok(())
    }

    /// The engine score a `TX` variable accumulates into (made one if it was unset or 0).
    fn score_name(&mut self, name: &str) -> Result<String, Unsupported> {
        match self.env.get(name) {
            Some(Tx::Score(s)) => Ok(s.clone()),
            None => {
                self.env
                    .insert(name.to_string(), Tx::Score(name.to_string()));
                Ok(name.to_string())
            }
            Some(Tx::Const(c)) if c.trim() == "0" => {
                self.env
                    .insert(name.to_string(), Tx::Score(name.to_string()));
                Ok(name.to_string())
            }
            _ => Err(Unsupported(format!(
                "adding to tx.{name}, which is not a score"
            ))),
        }
    }

    /// Records a rule that sets variables per request (once).
    fn writer(&mut self, id: u32) {
        if !self.writers.contains(&id) {
            self.writers.push(id);
        }
    }

    /// A variable name (`tx.name`) with no request-dependent macro, lowercased.
    fn name_of(&self, m: &MacroString) -> Option<String> {
        self.expand(m).ok().map(|s| s.to_ascii_lowercase())
    }

    /// A macro string whose references are all load-time constants.
    fn expand(&self, m: &MacroString) -> Result<String, Unsupported> {
        let mut out = String::new();
        for p in &m.parts {
            match p {
                MacroPart::Literal(s) => out.push_str(s),
                MacroPart::Ref {
                    variable: VariableKind::Tx,
                    key: Some(k),
                    ..
                } if k.bytes().all(|b| b.is_ascii_digit()) => {
                    return Err(Unsupported("capture groups (TX:0-9)".into()))
                }
                MacroPart::Ref {
                    variable: VariableKind::Tx,
                    key: Some(k),
                    ..
                } => match self.env.get(&k.to_ascii_lowercase()) {
                    Some(Tx::Const(v)) => out.push_str(v),
                    None => {}
                    _ => return Err(Unsupported(format!("%{{tx.{k}}} read at load time"))),
                },
                MacroPart::Ref { variable, .. } => {
                    return Err(Unsupported(format!(
                        "a macro reading {} in an operator",
                        variable.name()
                    )))
                }
            }
        }
        Ok(out)
    }

    /// One link: any of its targets (but the excluded ones) satisfies the operator.
    fn link(
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
        let vars: Vec<&Variable> = targets.iter().filter(|v| !v.exclude).collect();
        let excluded: Vec<&Variable> = targets.iter().filter(|v| v.exclude).collect();
        let mut out = Cond::Static(false);
        for v in vars {
            let excl: Vec<&Variable> = excluded
                .iter()
                .copied()
                .filter(|e| e.kind == v.kind)
                .collect();
            let mut c = self.target(v, &excl, &chain, op, link.span)?;
            for (kind, when) in &self.removed_targets {
                if *kind == v.kind {
                    c = and(c, Cond::Dynamic(Expr::Not(Box::new(when.clone()))));
                }
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
            let kind = self.operator(term, op, span)?;
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
        if !op.negated {
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

    /// `TX:x` and `&TX:x`: a constant decided here, or a score compared.
    fn tx_target(
        &mut self,
        v: &Variable,
        chain: &Chain,
        op: &Operator,
    ) -> Result<Cond, Unsupported> {
        let Some(Selector::Key(k)) = &v.selector else {
            return Err(Unsupported("TX without a key".into()));
        };
        let key = k.to_ascii_lowercase();
        if key.len() == 1 && key.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Unsupported("capture groups (TX:0-9)".into()));
        }
        let value = self.env.get(&key).cloned();
        if v.count {
            let n = i64::from(value.is_some());
            let holds = match &op.kind {
                OperatorKind::Eq(m) => self.expand(m)?.trim().parse::<i64>().ok() == Some(n),
                _ => return Err(Unsupported("&TX under another operator than @eq".into())),
            };
            return Ok(Cond::Static(holds != op.negated));
        }
        match value {
            None => Ok(Cond::Static(false)),
            Some(Tx::Const(c)) => {
                let c = apply_static_chain(&c, chain);
                let holds = self.static_operator(&c, op)?;
                Ok(Cond::Static(holds != op.negated))
            }
            Some(Tx::Score(s)) => {
                let Some((cmp, n)) = self.comparison(op)? else {
                    return Err(Unsupported("a score under a string operator".into()));
                };
                let pred = Expr::Pred(Pred {
                    kind: PredKind::Compare {
                        lhs: Term::Field(Field::Score(s)),
                        op: cmp,
                        rhs: Term::Int(n),
                    },
                    span: op.span,
                    text: self.set.sources.slice(op.span).to_string(),
                });
                Ok(Cond::Dynamic(negated(pred, op)))
            }
            Some(Tx::Dynamic) => Err(Unsupported(format!("tx.{key}, set per request"))),
        }
    }

    /// An operator on a load-time constant.
    fn static_operator(&self, value: &str, op: &Operator) -> Result<bool, Unsupported> {
        let num = |m: &MacroString| -> Result<(i64, i64), Unsupported> {
            let a = value.trim().parse::<i64>().unwrap_or(0);
            let b = self.expand(m)?.trim().parse::<i64>().unwrap_or(0);
            Ok((a, b))
        };
        Ok(match &op.kind {
            OperatorKind::Eq(m) => num(m).map(|(a, b)| a == b)?,
            OperatorKind::Ge(m) => num(m).map(|(a, b)| a >= b)?,
            OperatorKind::Gt(m) => num(m).map(|(a, b)| a > b)?,
            OperatorKind::Lt(m) => num(m).map(|(a, b)| a < b)?,
            OperatorKind::Le(m) => num(m).map(|(a, b)| a <= b)?,
            OperatorKind::Streq(m) => value == self.expand(m)?,
            OperatorKind::Within(m) => self.expand(m)?.contains(value),
            OperatorKind::Contains(m) => value.contains(&self.expand(m)?),
            OperatorKind::BeginsWith(m) => value.starts_with(&self.expand(m)?),
            OperatorKind::EndsWith(m) => value.ends_with(&self.expand(m)?),
            OperatorKind::UnconditionalMatch => true,
            OperatorKind::NoMatch => false,
            _ => return Err(Unsupported("this operator on a TX constant".into())),
        })
    }

    /// The predicate an operator makes of a term.
    fn operator(&mut self, term: Term, op: &Operator, span: Span) -> Result<PredKind, Unsupported> {
        let text = |s: &str| s.to_string();
        Ok(match &op.kind {
            OperatorKind::Rx(m) => PredKind::Str {
                lhs: term,
                op: StrOp::Matches,
                pattern: pcre_pattern(&self.expand(m)?),
            },
            OperatorKind::Pm(phrases) => self.phrases(term, phrases.clone(), span),
            OperatorKind::PmFromFile(files) => {
                let phrases = files.iter().flat_map(|f| f.lines.iter().cloned()).collect();
                self.phrases(term, phrases, span)
            }
            OperatorKind::Streq(m) => PredKind::Compare {
                lhs: term,
                op: CmpOp::Eq,
                rhs: Term::Str(self.expand(m)?),
            },
            OperatorKind::Within(m) => PredKind::Str {
                lhs: term,
                op: StrOp::Within,
                pattern: self.expand(m)?,
            },
            OperatorKind::Contains(m) => PredKind::Str {
                lhs: term,
                op: StrOp::Contains,
                pattern: self.expand(m)?,
            },
            OperatorKind::BeginsWith(m) => PredKind::Str {
                lhs: term,
                op: StrOp::StartsWith,
                pattern: self.expand(m)?,
            },
            OperatorKind::EndsWith(m) => PredKind::Str {
                lhs: term,
                op: StrOp::EndsWith,
                pattern: self.expand(m)?,
            },
            OperatorKind::ContainsWord(m) => PredKind::Str {
                lhs: term,
                op: StrOp::Matches,
                pattern: format!(
                    r"(?:^|\W){}(?:\W|$)",
                    regex_syntax::escape(&self.expand(m)?)
                ),
            },
            OperatorKind::DetectSqli => {
                PredKind::Test(Term::Detect(Detector::Sqli, Box::new(term)))
            }
            OperatorKind::DetectXss => PredKind::Test(Term::Detect(Detector::Xss, Box::new(term))),
            OperatorKind::ValidateByteRange(ranges) => PredKind::Str {
                lhs: term,
                op: StrOp::Matches,
                pattern: byte_range_violation(ranges)?,
            },
            OperatorKind::ValidateUrlEncoding => PredKind::Str {
                lhs: term,
                op: StrOp::Matches,
                pattern: text("%(?:[^0-9A-Fa-f]|[0-9A-Fa-f](?:[^0-9A-Fa-f]|$)|$)"),
            },
            // Values reach rules as text, invalid UTF-8 replaced by U+FFFD: a replacement
            // character is the trace of a byte that was not UTF-8.
            OperatorKind::ValidateUtf8Encoding => PredKind::Str {
                lhs: term,
                op: StrOp::Contains,
                pattern: text("\u{FFFD}"),
            },
            OperatorKind::Eq(_)
            | OperatorKind::Ge(_)
            | OperatorKind::Gt(_)
            | OperatorKind::Lt(_)
            | OperatorKind::Le(_) => {
                let Term::Len(_) = term else {
                    return Err(Unsupported("a number compared with a field's text".into()));
                };
                let Some((cmp, n)) = self.comparison(op)? else {
                    return Err(Unsupported("this operator".into()));
                };
                PredKind::Compare {
                    lhs: term,
                    op: cmp,
                    rhs: Term::Int(n),
                }
            }
            OperatorKind::UnconditionalMatch => PredKind::Test(Term::Bool(true)),
            OperatorKind::NoMatch => PredKind::Test(Term::Bool(false)),
            _ => return Err(Unsupported("this operator".into())),
        })
    }

    /// `@eq @ge @gt @lt @le`: the comparison and the load-time number it compares with;
    /// `None` for the other operators.
    fn comparison(&self, op: &Operator) -> Result<Option<(CmpOp, i64)>, Unsupported> {
        let (cmp, m) = match &op.kind {
            OperatorKind::Eq(m) => (CmpOp::Eq, m),
            OperatorKind::Ge(m) => (CmpOp::Ge, m),
            OperatorKind::Gt(m) => (CmpOp::Gt, m),
            OperatorKind::Lt(m) => (CmpOp::Lt, m),
            OperatorKind::Le(m) => (CmpOp::Le, m),
            _ => return Ok(None),
        };
        let n = self
            .expand(m)?
            .trim()
            .parse()
            .map_err(|_| Unsupported("a comparison with what is not a number".into()))?;
        Ok(Some((cmp, n)))
    }

    /// `@pm`: any phrase, ASCII case-insensitively, as a pattern list.
    fn phrases(&mut self, term: Term, phrases: Vec<String>, span: Span) -> PredKind {
        let id = ListId(u32::try_from(self.lists.len()).unwrap_or(u32::MAX));
        self.lists.push(List {
            name: format!(
                "@pm {}",
                self.set
                    .sources
                    .slice(span)
                    .chars()
                    .take(60)
                    .collect::<String>()
            ),
            kind: ListKind::Pattern,
            case_insensitive: true,
            items: ListItems::Str(phrases),
            span,
            anonymous: true,
        });
        PredKind::List {
            lhs: term,
            op: ListOp::ContainsAny,
            list: id,
        }
    }
}

enum Skip<'r> {
    Static(&'r str),
    Dynamic(&'r str, Expr),
}

/// `e`, or `not e` under a negated operator (`!@…`).
fn negated(e: Expr, op: &Operator) -> Expr {
    if op.negated {
        Expr::Not(Box::new(e))
    } else {
        e
    }
}

fn and(a: Cond, b: Cond) -> Cond {
    match (a, b) {
        (Cond::Static(false), _) | (_, Cond::Static(false)) => Cond::Static(false),
        (Cond::Static(true), x) | (x, Cond::Static(true)) => x,
        (Cond::Dynamic(x), Cond::Dynamic(y)) => Cond::Dynamic(Expr::And(vec![x, y])),
    }
}

fn or(a: Cond, b: Cond) -> Cond {
    match (a, b) {
        (Cond::Static(true), _) | (_, Cond::Static(true)) => Cond::Static(true),
        (Cond::Static(false), x) | (x, Cond::Static(false)) => x,
        (Cond::Dynamic(x), Cond::Dynamic(y)) => Cond::Dynamic(Expr::Or(vec![x, y])),
    }
}

/// A link's transformations: the decoding functions in order (`t:none` clears those
/// before it), and whether `t:length` ends them.
pub(crate) struct Chain {
    pub(crate) funcs: Vec<Transform>,
    pub(crate) length: bool,
    pub(crate) multi_match: bool,
}

pub(crate) fn transforms(actions: &[crate::action::Action]) -> Result<Chain, Unsupported> {
    let mut funcs = Vec::new();
    let mut length = false;
    let multi_match = actions.iter().any(|a| a.kind == ActionKind::MultiMatch);
    for a in actions {
        let ActionKind::Transform(t) = a.kind else {
            continue;
        };
        if length {
            return Err(Unsupported("a transformation after t:length".into()));
        }
        let f = match t {
            Transformation::None => {
                funcs.clear();
                continue;
            }
            Transformation::Length => {
                length = true;
                continue;
            }
            Transformation::Lowercase => Transform::Lower,
            Transformation::Uppercase => Transform::Upper,
            Transformation::UrlDecode => Transform::UrlDecode,
            Transformation::UrlDecodeUni => Transform::UrlDecodeUni,
            Transformation::HtmlEntityDecode => Transform::HtmlEntityDecode,
            Transformation::JsDecode => Transform::JsDecode,
            Transformation::CssDecode => Transform::CssDecode,
            Transformation::Base64Decode => Transform::Base64Decode,
            Transformation::HexDecode => Transform::HexDecode,
            Transformation::RemoveNulls => Transform::RemoveNulls,
            Transformation::RemoveWhitespace => Transform::RemoveWhitespace,
            Transformation::CompressWhitespace => Transform::CompressWhitespace,
            Transformation::ReplaceComments => Transform::ReplaceComments,
            Transformation::NormalizePath => Transform::NormalizePath,
            Transformation::NormalizePathWin => Transform::NormalizePathWin,
            Transformation::CmdLine => Transform::CmdLine,
            Transformation::Utf8ToUnicode => Transform::Utf8ToUnicode,
            Transformation::Trim => Transform::Trim,
            other => match Transform::from_name(&snake(other.name())) {
                Some(f) => f,
                None => {
                    return Err(Unsupported(format!("t:{}", other.name())));
                }
            },
        };
        funcs.push(f);
    }
    Ok(Chain {
        funcs,
        length,
        multi_match,
    })
}

/// `escapeSeqDecode` → `escape_seq_decode`: the rule language's name of a transformation.
fn snake(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A constant through the load-time-computable transformations (CRS applies none that
/// matter to its constants but `t:none`).
fn apply_static_chain(value: &str, chain: &Chain) -> String {
    let mut v = value.to_string();
    for f in &chain.funcs {
        let mut out = String::new();
        f.apply(&v, &mut out, &mut Vec::new());
        v = out;
    }
    if chain.length {
        v = v.len().to_string();
    }
    v
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
        kind => return Err(Unsupported(kind.name().to_string())),
    })
}

/// `@validateByteRange`: a regex matching a character with a byte outside the ranges.
/// Values are text: a non-ASCII character is all bytes 0x80-0xFF, so the high half must be
/// wholly in the ranges or wholly out.
fn byte_range_violation(ranges: &[(u8, u8)]) -> Result<String, Unsupported> {
    let inside = |b: u8| ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&b));
    let high_all = (0x80..=0xffu8).all(inside);
    let high_none = !(0x80..=0xffu8).any(inside);
    if !high_all && !high_none {
        return Err(Unsupported(
            "@validateByteRange splitting the bytes 0x80-0xFF".into(),
        ));
    }
    let mut class = String::from("[^");
    for &(lo, hi) in ranges.iter().filter(|&&(lo, _)| lo < 0x80) {
        let hi = hi.min(0x7f);
        class.push_str(&format!("\\x{{{lo:02x}}}-\\x{{{hi:02x}}}"));
    }
    if high_all {
        class.push_str("\\x{80}-\\x{10ffff}");
    }
    class.push(']');
    Ok(class)
}

/// `@rx`'s pattern as ModSecurity v3 compiles it: PCRE2 with `DOTALL` and `MULTILINE`
/// (`(?sm)`) and without UTF (`(?-u)`): it matches bytes, so `\x{e2}\x80[\x98\x99]`
/// is `’` or `‘` in UTF-8, `[^a]` and `.` take one byte, and `\w`, `\s`, `\b` and
/// `(?i)` are ASCII's.
///
/// Two spellings are rewritten for the regex parser, which reads bytes only as `\xHH`:
/// `\x{HH}` becomes `\xHH`, and a non-ASCII character inside a class its UTF-8 bytes
/// (PCRE without UTF reads `[é]` as the two bytes).
pub(crate) fn pcre_pattern(pattern: &str) -> String {
    let mut out = String::from("(?sm-u)");
    let mut chars = pattern.chars().peekable();
    let mut class = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('x') if chars.peek() == Some(&'{') => {
                    let braced: String = chars.clone().skip(1).take_while(|&h| h != '}').collect();
                    match u8::from_str_radix(&braced, 16) {
                        Ok(byte) if !braced.is_empty() && braced.len() <= 4 => {
                            for _ in 0..braced.len() + 2 {
                                chars.next();
                            }
                            out.push_str(&format!("\\x{byte:02x}"));
                        }
                        _ => out.push_str("\\x"),
                    }
                }
                Some(e) => {
                    out.push('\\');
                    out.push(e);
                }
                None => out.push('\\'),
            },
            '[' => {
                class += 1;
                out.push(c);
                // A `]` first in a class is a literal.
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push(']');
                    chars.next();
                }
            }
            ']' if class > 0 => {
                class -= 1;
                out.push(c);
            }
            c if class > 0 && !c.is_ascii() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::pcre_pattern;

    #[test]
    fn rx_patterns_read_bytes_as_pcre_without_utf_does() {
        assert_eq!(
            pcre_pattern(r"a\x{e2}\x80[\x98\x{99}]"),
            r"(?sm-u)a\xe2\x80[\x98\x99]"
        );
        assert_eq!(
            pcre_pattern(r"[\x7f-\x{ff}]\\x{41}"),
            r"(?sm-u)[\x7f-\xff]\\x{41}"
        );
        assert_eq!(pcre_pattern("[é]é"), r"(?sm-u)[\xc3\xa9]é");
        assert_eq!(
            pcre_pattern(r"[]é][^]é]"),
            r"(?sm-u)[]\xc3\xa9][^]\xc3\xa9]"
        );
        assert_eq!(pcre_pattern(r"\x{zz}\x{100}"), r"(?sm-u)\x{zz}\x{100}");
    }
}

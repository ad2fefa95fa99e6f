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
//! point, what each rule before it added. The phases run in order, 1 to 5, each in file
//! order (the response's, 3 and 4, read `response.*`, which a request has only when the
//! host asks again with the response); `skipAfter` in a rule that reads the request
//! becomes a condition of the rules it skips.
//!
//! What the engine cannot model yet is an error naming the rule, or with
//! [`LowerOptions::skip_unsupported`] a rule left out and listed.

mod captured;
mod chain;
mod constants;
mod linked;
mod logtext;
mod operators;
mod removals;
mod scores;
mod targets;

use std::collections::{HashMap, HashSet};

use portcullis_rules::{
    Action as EngineAction, Diagnostic, Error, Expr, List, Mode, Rule as EngineRule, RuleSet,
    Settings,
};

use crate::action::{ActionKind, SetVarOp};
use crate::ctl::EngineMode;
use crate::resolve::{Item, Link, Rule, SecLangRuleSet};
use crate::variable::Variable;
use crate::Phase;
use constants::Tx;
use removals::Removal;

// The link-by-link interpreter lowers its links' pieces the same way.
pub(crate) use chain::transforms;
pub(crate) use operators::pcre_pattern;
pub(crate) use targets::field_of;

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
    /// All the SecLang rules.
    pub total: usize,
    /// Engine rules from each phase, 1 to 5. Those of phases 3 and 4 read the response:
    /// they match only when the host asks about it (`Policy::reads_response`).
    pub phases: [usize; 5],
    /// Engine rules whose chain runs link by link (it binds values).
    pub interpreted: usize,
    /// `nolog` rules that only skip, each become a condition of the rules it skips.
    pub skips: usize,
}

impl Lowered {
    /// What became of the rules, in one line: `630 SecLang rules: 205 run (phase 1: 39,
    /// phase 2: 116, phase 3: 1, phase 4: 47, phase 5: 2; 8 link by link), …`.
    #[must_use]
    pub fn summary(&self) -> String {
        let run: usize = self.phases.iter().sum();
        let passed_over = self
            .total
            .saturating_sub(run + self.skips + self.folded + self.skipped.len());
        let per_phase: Vec<String> = (1..)
            .zip(self.phases)
            .map(|(p, n)| format!("phase {p}: {n}"))
            .collect();
        let mut s = format!(
            "{run} run ({}; {} link by link), {} skipping only (conditions of the rules they skip), {} decided at load time, {passed_over} passed over (above the paranoia level, removed, or without effect)",
            per_phase.join(", "),
            self.interpreted,
            self.skips,
            self.folded,
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
        engine_switches: Vec::new(),
        removed_targets: Vec::new(),
        phases: [0; 5],
        interpreted: 0,
        skips: 0,
        writers: Vec::new(),
        runs_when: HashMap::new(),
        rules: Vec::new(),
        lists: Vec::new(),
        skipped: Vec::new(),
        errors: Vec::new(),
        folded: 0,
        options,
        set,
    };
    // One evaluation runs them all, in ModSecurity's order: the response's phases read
    // `response.*`, absent until the host asks with the response.
    for (i, phase) in Phase::ALL.into_iter().enumerate() {
        let before = l.rules.len();
        l.phase(phase);
        if let Some(n) = l.phases.get_mut(i) {
            *n = l.rules.len() - before;
        }
    }
    if !l.errors.is_empty() {
        return Err(Error::new(l.errors, set.sources.clone()));
    }
    // CRS's assembled regexes run to 11 KB of source, and its regex sets differ by field
    // (about 130 MB for CRS at paranoia level 4).
    let mut settings = Settings {
        max_pattern_len: 64 << 10,
        max_regex_bytes: 512 << 20,
        // CRS's largest regexes need more lazy DFA cache than the default to run on
        // the lazy DFA at all (without it they fall back to a backtracker, 100x slower).
        max_regex_cache_bytes: 32 << 20,
        // CRS's phrase lists make literal automata of up to 3,000 phrases on several
        // fields: as DFAs they took 19 MB and half the compile time each, for a
        // literal pass about 1 % of evaluating.
        max_literal_dfa_bytes: 1 << 20,
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
        total: set.rules().count(),
        phases: l.phases,
        interpreted: l.interpreted,
        skips: l.skips,
    })
}

/// Why a rule cannot be lowered.
pub(crate) struct Unsupported(pub(crate) String);

/// A condition: decided at load time, or read from the request.
enum Cond {
    Static(bool),
    Dynamic(Expr),
}

/// The state of one lowering. Its methods are spread over the child modules, one concept
/// each.
struct Lowering<'a> {
    env: HashMap<String, Tx>,
    versions: HashMap<String, u32>,
    mode: Mode,
    engine_off: bool,
    removed: HashSet<u32>,
    /// The `ctl:ruleRemove…` of rules that read the request, and those rules' conditions.
    removals: Vec<(Removal, Expr)>,
    /// `ctl:ruleEngine=DetectionOnly` (shadow) or `On` (enforce) of rules that read the
    /// request, in order, with their conditions: on those requests, the mode of the rules
    /// after them.
    engine_switches: Vec<(Mode, Expr)>,
    /// The variables removed from the rule being lowered, and when.
    removed_targets: Vec<(Variable, Expr)>,
    phases: [usize; 5],
    interpreted: usize,
    skips: usize,
    /// Rules that set transaction variables per request beyond scores (counters, names
    /// built from macros): the chains that read those variables run them first.
    writers: Vec<u32>,
    /// Each rule's conditions to run at all on a request (no `skipAfter` taken, no `ctl`
    /// removal), and whether a `ctl` removes one of its targets: a chain runs its writers
    /// only where they would have run.
    runs_when: HashMap<u32, (Vec<Expr>, bool)>,
    rules: Vec<EngineRule>,
    lists: Vec<List>,
    skipped: Vec<(u32, String)>,
    errors: Vec<Diagnostic>,
    folded: usize,
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
        let removed_when = self.removed_from(rule);
        // What must hold for the rule to run at all: no skip taken, no removal.
        let runs = guards.iter().map(|(_, g)| not(g.clone()));
        let runs: Vec<Expr> = runs.chain(removed_when.into_iter().map(not)).collect();
        self.runs_when
            .insert(rule.id, (runs.clone(), !self.removed_targets.is_empty()));
        let mut cond = Cond::Static(true);
        let mut prev: Option<(&Link, &[crate::action::Action])> = None;
        let mut unsupported = None;
        for (i, link) in rule.links.iter().enumerate() {
            let actions = if i == 0 { &rule.actions } else { &link.actions };
            let lowered = match self.captured_within(link, actions, prev) {
                Some(c) => c,
                None => self.link(link, actions, prev),
            };
            match lowered {
                Ok(c) => cond = and(cond, c),
                // A link that cannot be lowered does not matter when another is false at
                // load time (CRS guards a check with `&TX:arg_length "@eq 1"`).
                Err(e) => unsupported = unsupported.or(Some(e)),
            }
            prev = Some((link, actions));
        }
        if let Some(e) = unsupported {
            if self
                .removed_targets
                .iter()
                .any(|(t, _)| t.selector.is_some())
            {
                // The chain would read the members the removal takes out.
                return Err(Unsupported(
                    "removing a member of a target, per request, from a chain run link by link"
                        .into(),
                ));
            }
            if !matches!(cond, Cond::Static(false)) {
                // Run link by link, behind the links compiled above.
                let tested = self.link_by_link(rule, &runs, e)?;
                cond = and(cond, Cond::Dynamic(tested));
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
        let expr = match cond {
            Cond::Static(false) => {
                self.folded += 1;
                return Ok(None);
            }
            // A rule that logs on every request it reaches (CRS 980170, the scores'
            // report) is an engine rule: it shows in `matched` where ModSecurity logs it.
            Cond::Static(true) if self.is_static_effect(rule) => {
                self.apply_static(rule)?;
                if nolog || skip_after.is_some() {
                    self.folded += 1;
                    return Ok(skip_after.map(Skip::Static));
                }
                Expr::Const(true)
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
        if !runs.is_empty() {
            let mut all = vec![when];
            all.extend(runs);
            when = Expr::And(all);
        }
        let score = self.dynamic_effects(rule, &when)?;
        // A `nolog` rule that lets the request pass and adds to no score has no effect
        // the engine models (CRS 901340 forces a body variable portcullis always has): it
        // would only show in `matched`, where ModSecurity's log would not show it.
        if nolog
            && score.is_empty()
            && matches!(rule.disruptive.kind, ActionKind::Pass | ActionKind::Block)
        {
            // Its `skipAfter` (CRS 951100: no SQL error text in the response) is only a
            // condition of the rules it skips.
            match skip_after {
                None => self.folded += 1,
                Some(_) => self.skips += 1,
            }
            return Ok(skip_after.map(|m| Skip::Dynamic(m, expr)));
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
        self.push(EngineRule {
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
            log: self.rule_log(rule),
            span: rule.span,
        });
        Ok(skip_after.map(|m| Skip::Dynamic(m, expr)))
    }

    /// Adds an engine rule. One that would decide, after a `ctl:ruleEngine=…` of a rule
    /// that reads the request, is two: enforced on the requests where the last such
    /// `ctl` that applies says `On` (or none applies and the engine is on), in shadow mode
    /// (matched and logged, nothing refused) on the others.
    fn push(&mut self, rule: EngineRule) {
        if rule.action == EngineAction::Log
            || self
                .engine_switches
                .iter()
                .all(|(mode, _)| *mode == self.mode)
        {
            self.rules.push(rule);
            return;
        }
        let switches = &self.engine_switches;
        // Switch `i` decides when it applies and none after it does.
        let mut enforcing: Vec<Expr> = switches
            .iter()
            .enumerate()
            .filter(|(_, (mode, _))| *mode == Mode::Enforce)
            .map(|(i, (_, when))| {
                let later = switches.iter().skip(i + 1).map(|(_, w)| not(w.clone()));
                Expr::And(std::iter::once(when.clone()).chain(later).collect())
            })
            .collect();
        if self.mode == Mode::Enforce {
            enforcing.push(Expr::And(
                switches.iter().map(|(_, w)| not(w.clone())).collect(),
            ));
        }
        let enforce = Expr::Or(enforcing);
        let mut shadow = rule.clone();
        shadow.when = Expr::And(vec![rule.when.clone(), not(enforce.clone())]);
        shadow.mode = Mode::Shadow;
        let mut enforced = rule;
        enforced.when = Expr::And(vec![enforced.when, enforce]);
        enforced.mode = Mode::Enforce;
        self.rules.push(enforced);
        self.rules.push(shadow);
    }
}

enum Skip<'r> {
    Static(&'r str),
    Dynamic(&'r str, Expr),
}

fn not(e: Expr) -> Expr {
    Expr::Not(Box::new(e))
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

//! Resolution: from directives to the rules ModSecurity v3 would run.
//!
//! The semantics are documented on [`SecLangConfig::resolve`].

use std::collections::HashMap;

use portcullis_rules::{Diagnostic, Error, Severity, Sources, Span};

use crate::action::{Action, ActionKind, IdRange, Phase};
use crate::ctl::EngineMode;
use crate::directive::{BodyLimitAction, Directive, DirectiveKind, SecRule};
use crate::load::SecLangConfig;
use crate::operator::Operator;
use crate::suggest::did_you_mean;
use crate::variable::Variable;

/// Rules resolved from SecLang files, ready to be lowered into an engine.
#[derive(Clone, Debug)]
pub struct SecLangRuleSet {
    /// Rules and markers in file order (removed rules left out).
    pub items: Vec<Item>,
    /// What the engine directives set.
    pub settings: EngineSettings,
    /// Directives parsed and ignored because they change no decision.
    pub ignored: Vec<IgnoredDirective>,
    /// Rules removed by `SecRuleRemoveBy*`.
    pub removed: Vec<RemovedRule>,
    /// Things that load but may not do what was meant.
    pub warnings: Vec<Diagnostic>,
    /// The files; every span indexes into it.
    pub sources: Sources,
}

impl SecLangRuleSet {
    /// The rules, in order.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.items.iter().filter_map(|i| match i {
            Item::Rule(r) => Some(r),
            Item::Marker(_) => None,
        })
    }
}

/// A rule or a marker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// A `SecRule` (with its chain) or a `SecAction`.
    Rule(Rule),
    /// A `SecMarker`.
    Marker(Marker),
}

/// `SecMarker NAME`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marker {
    /// The name `skipAfter` refers to (compared exactly).
    pub name: String,
    /// The directive.
    pub span: Span,
}

/// One resolved rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Its id.
    pub id: u32,
    /// Its phase (2 when not given, as in ModSecurity).
    pub phase: Phase,
    /// Its conditions, all of which must match: one per `SecRule` of a chain, none for a
    /// `SecAction` (which always matches).
    pub links: Vec<Link>,
    /// The first link's actions with the phase's default actions merged in (defaults
    /// first, those the rule overrides left out, the disruptive one in `disruptive`).
    pub actions: Vec<Action>,
    /// What happens when it matches: its own disruptive action, or for `block` the phase
    /// default's, or `pass` (spanning the rule) when there is neither.
    pub disruptive: Action,
    /// The first directive of the rule.
    pub span: Span,
}

impl Rule {
    /// Its tags, literal text (macros unexpanded).
    pub fn tags(&self) -> impl Iterator<Item = &str> {
        self.actions.iter().filter_map(|a| match &a.kind {
            ActionKind::Tag(t) => Some(t.raw.as_str()),
            _ => None,
        })
    }

    /// Its message, literal text (macros unexpanded).
    #[must_use]
    pub fn msg(&self) -> Option<&str> {
        self.actions.iter().rev().find_map(|a| match &a.kind {
            ActionKind::Msg(m) => Some(m.raw.as_str()),
            _ => None,
        })
    }
}

/// One condition of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// Its targets.
    pub variables: Vec<Variable>,
    /// Its test.
    pub operator: Operator,
    /// For the first link, empty (its actions are the rule's); for the others, their own
    /// (`t:`, `setvar`, `capture`, `ctl`…).
    pub actions: Vec<Action>,
    /// The `SecRule` directive.
    pub span: Span,
}

/// The engine settings the files set (`None`: not set, the embedder's default applies).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineSettings {
    /// `SecRuleEngine`
    pub rule_engine: Option<EngineMode>,
    /// `SecRequestBodyAccess`
    pub request_body_access: Option<bool>,
    /// `SecRequestBodyLimit`
    pub request_body_limit: Option<u64>,
    /// `SecRequestBodyNoFilesLimit`
    pub request_body_no_files_limit: Option<u64>,
    /// `SecRequestBodyInMemoryLimit`
    pub request_body_in_memory_limit: Option<u64>,
    /// `SecRequestBodyLimitAction`
    pub request_body_limit_action: Option<BodyLimitAction>,
    /// `SecRequestBodyJsonDepthLimit`
    pub request_body_json_depth_limit: Option<u64>,
    /// `SecArgumentsLimit`
    pub arguments_limit: Option<u64>,
    /// `SecResponseBodyAccess`
    pub response_body_access: Option<bool>,
    /// `SecResponseBodyMimeType` (the last one; v3 adds to the list, a list set here
    /// replaces the embedder's)
    pub response_body_mime_types: Option<Vec<String>>,
    /// `SecResponseBodyLimit`
    pub response_body_limit: Option<u64>,
    /// `SecResponseBodyLimitAction`
    pub response_body_limit_action: Option<BodyLimitAction>,
    /// `SecCollectionTimeout`
    pub collection_timeout: Option<u64>,
    /// `SecComponentSignature`s, in order.
    pub component_signatures: Vec<String>,
}

/// A directive that was parsed and ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IgnoredDirective {
    /// Its name.
    pub name: &'static str,
    /// Why it changes no decision.
    pub reason: &'static str,
    /// Where it is.
    pub span: Span,
}

/// A rule a `SecRuleRemoveBy*` directive removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemovedRule {
    /// The rule's id.
    pub id: u32,
    /// The rule.
    pub span: Span,
    /// The directive that removed it.
    pub by: Span,
}

enum Exception {
    RemoveById(Vec<IdRange>),
    RemoveByTag(String),
    RemoveByMsg(String),
    TargetById(Vec<IdRange>, Vec<Variable>),
    TargetByTag(String, Vec<Variable>),
    ActionById(u32, Vec<Action>),
}

/// A rule being built: its chain may still be open.
struct Building {
    rule: Rule,
    /// The `chain` action of the last link, while the chain is open.
    open_chain: Option<Span>,
    id_span: Span,
}

impl SecLangConfig {
    /// Resolves the directives into rules.
    ///
    /// What is resolved, and after which model (ModSecurity v3,
    /// `owasp-modsecurity/ModSecurity`):
    ///
    /// - **Chains.** A `SecRule` with `chain` takes the next `SecRule` as a further condition;
    ///   the group is one [`Rule`] whose [`Link`]s are the conditions. Only the first link may
    ///   carry the id, phase, metadata and flow actions (reference manual, `chain`).
    /// - **`SecDefaultAction`**, at most once per phase (v3's parser refuses a second one). v3
    ///   keeps a phase's default actions beside the phase's rules and reads them when a rule of
    ///   that phase runs (`RuleWithActions::evaluate`, `Block::evaluate`), so they apply to
    ///   every rule of the phase, also those written before the directive; such rules get a
    ///   warning, since ModSecurity v2 would not apply them. A rule's own action replaces a
    ///   default of the same kind (disruptive, `log`/`nolog`, `status`…); lists (`t:`, `tag`,
    ///   `setvar`…) keep the defaults first. `block` becomes the phase default's disruptive
    ///   action; a rule without one does nothing disruptive (v3 runs the default's disruptive
    ///   action only through `block`).
    /// - **`SecRuleRemoveById/ByTag/ByMsg`, `SecRuleUpdateTargetById/ByTag`,
    ///   `SecRuleUpdateActionById`** apply to the rules they name *wherever* those rules are,
    ///   before or after the directive. The reference manual (written for v2) asks for them to
    ///   come after the rules they change, but v3 keeps them as exceptions of the whole rule set
    ///   and consults them as each rule runs (`RulesSet::evaluate` checks
    ///   `m_exceptions.contains(rule id)` and the tag and message lists for every rule), so their
    ///   position does not matter there. Tags and messages compare exactly, as v3's
    ///   `containsTag`/`containsMsg` do. Target updates apply to a chain's first link (its
    ///   other links carry no id). A directive that names no rule gets a warning.
    /// - **`skipAfter`** must name a `SecMarker` later in the file set; **rule ids** must be
    ///   unique (v3 refuses duplicates).
    ///
    /// # Errors
    ///
    /// Every resolution error (chains, ids, markers, default actions), located.
    pub fn resolve(self) -> Result<SecLangRuleSet, Error> {
        let mut r = Resolver {
            sources: &self.sources,
            diags: Vec::new(),
            items: Vec::new(),
            settings: EngineSettings::default(),
            ignored: Vec::new(),
            removed: Vec::new(),
            defaults: Default::default(),
            exceptions: Vec::new(),
            ids: HashMap::new(),
            early: [0; 5],
        };
        r.run(self.directives);
        let errors = r.diags.iter().any(|d| d.severity() == Severity::Error);
        if errors {
            return Err(Error::new(r.diags, self.sources));
        }
        let (items, settings, ignored, removed, warnings) =
            (r.items, r.settings, r.ignored, r.removed, r.diags);
        Ok(SecLangRuleSet {
            items,
            settings,
            ignored,
            removed,
            warnings,
            sources: self.sources,
        })
    }
}

struct Resolver<'s> {
    /// For hints that name another place ("first defined at …").
    sources: &'s Sources,
    diags: Vec<Diagnostic>,
    items: Vec<Item>,
    settings: EngineSettings,
    ignored: Vec<IgnoredDirective>,
    removed: Vec<RemovedRule>,
    defaults: [Option<(Vec<Action>, Span)>; 5],
    exceptions: Vec<(Exception, Span)>,
    /// Where each rule id is first defined.
    ids: HashMap<u32, Span>,
    /// Rule ids per phase seen before that phase's `SecDefaultAction`.
    early: [usize; 5],
}

fn phase_index(p: Phase) -> usize {
    usize::from(p.number()).saturating_sub(1).min(4)
}

impl Resolver<'_> {
    fn run(&mut self, directives: Vec<Directive>) {
        let mut building: Option<Building> = None;
        for d in directives {
            let span = d.span;
            if let DirectiveKind::Rule(rule) = d.kind {
                building = self.rule(building, rule, span);
                continue;
            }
            if let Some(b) = building.take() {
                self.close(b, Some(span));
            }
            match d.kind {
                DirectiveKind::Rule(_) => {}
                DirectiveKind::Action(actions) => {
                    if let Some(a) = actions.iter().find(|a| a.kind == ActionKind::Chain) {
                        self.diags.push(
                            Diagnostic::error(a.span, "`SecAction` cannot start a chain")
                                .hint("use `SecRule REQUEST_LINE \"@unconditionalMatch\" \"…,chain\"` instead"),
                        );
                        continue;
                    }
                    if let Some(b) = self.starter(actions, Vec::new(), span) {
                        self.push_rule(b.rule, b.id_span);
                    }
                }
                DirectiveKind::Marker(name) => self.items.push(Item::Marker(Marker { name, span })),
                DirectiveKind::DefaultAction(actions) => self.default_action(actions, span),
                DirectiveKind::RuleEngine(m) => self.settings.rule_engine = Some(m),
                DirectiveKind::RequestBodyAccess(b) => self.settings.request_body_access = Some(b),
                DirectiveKind::RequestBodyLimit(n) => self.settings.request_body_limit = Some(n),
                DirectiveKind::RequestBodyNoFilesLimit(n) => {
                    self.settings.request_body_no_files_limit = Some(n)
                }
                DirectiveKind::RequestBodyInMemoryLimit(n) => {
                    self.settings.request_body_in_memory_limit = Some(n)
                }
                DirectiveKind::RequestBodyLimitAction(a) => {
                    self.settings.request_body_limit_action = Some(a)
                }
                DirectiveKind::RequestBodyJsonDepthLimit(n) => {
                    self.settings.request_body_json_depth_limit = Some(n)
                }
                DirectiveKind::ArgumentsLimit(n) => self.settings.arguments_limit = Some(n),
                DirectiveKind::ResponseBodyAccess(b) => {
                    self.settings.response_body_access = Some(b)
                }
                DirectiveKind::ResponseBodyMimeType(t) => {
                    self.settings.response_body_mime_types = Some(t)
                }
                DirectiveKind::ResponseBodyLimit(n) => self.settings.response_body_limit = Some(n),
                DirectiveKind::ResponseBodyLimitAction(a) => {
                    self.settings.response_body_limit_action = Some(a)
                }
                DirectiveKind::CollectionTimeout(n) => self.settings.collection_timeout = Some(n),
                DirectiveKind::ComponentSignature(s) => self.settings.component_signatures.push(s),
                DirectiveKind::RuleRemoveById(ids) => {
                    self.exceptions.push((Exception::RemoveById(ids), span))
                }
                DirectiveKind::RuleRemoveByTag(t) => {
                    self.exceptions.push((Exception::RemoveByTag(t), span))
                }
                DirectiveKind::RuleRemoveByMsg(m) => {
                    self.exceptions.push((Exception::RemoveByMsg(m), span))
                }
                DirectiveKind::RuleUpdateTargetById { ids, targets } => {
                    self.exceptions
                        .push((Exception::TargetById(ids, targets), span));
                }
                DirectiveKind::RuleUpdateTargetByTag { tag, targets } => {
                    self.exceptions
                        .push((Exception::TargetByTag(tag, targets), span));
                }
                DirectiveKind::RuleUpdateActionById { id, actions } => {
                    self.update_action_check(id, actions, span)
                }
                DirectiveKind::Include { .. } => {}
                DirectiveKind::Ignored { name, reason } => {
                    self.ignored.push(IgnoredDirective { name, reason, span })
                }
            }
        }
        if let Some(b) = building.take() {
            self.close(b, None);
        }
        self.apply_exceptions();
        self.apply_defaults();
        self.check_skip_after();
    }

    /// A `SecRule`: a new rule, or the next link of the open chain.
    fn rule(&mut self, building: Option<Building>, rule: SecRule, span: Span) -> Option<Building> {
        let SecRule {
            variables,
            operator,
            actions,
        } = rule;
        match building {
            Some(mut b) if b.open_chain.is_some() => {
                let mut ok = true;
                for a in &actions {
                    if a.kind.starter_only() {
                        self.diags.push(
                            Diagnostic::error(
                                a.span,
                                "only the first rule of a chain may have this action",
                            )
                            .hint("move it to the rule that starts the chain"),
                        );
                        ok = false;
                    }
                }
                b.open_chain = actions
                    .iter()
                    .find(|a| a.kind == ActionKind::Chain)
                    .map(|a| a.span);
                if ok {
                    b.rule.links.push(Link {
                        variables,
                        operator,
                        actions,
                        span,
                    });
                }
                if b.open_chain.is_some() {
                    Some(b)
                } else {
                    self.push_rule(b.rule, b.id_span);
                    None
                }
            }
            previous => {
                if let Some(b) = previous {
                    self.push_rule(b.rule, b.id_span);
                }
                let open_chain = actions
                    .iter()
                    .find(|a| a.kind == ActionKind::Chain)
                    .map(|a| a.span);
                let link = Link {
                    variables,
                    operator,
                    actions: Vec::new(),
                    span,
                };
                let mut b = self.starter(actions, vec![link], span)?;
                b.open_chain = open_chain;
                if b.open_chain.is_some() {
                    Some(b)
                } else {
                    self.push_rule(b.rule, b.id_span);
                    None
                }
            }
        }
    }

    /// The first directive of a rule: its id and phase.
    fn starter(&mut self, actions: Vec<Action>, links: Vec<Link>, span: Span) -> Option<Building> {
        let mut id = None;
        let mut phase = None;
        let mut ok = true;
        for a in &actions {
            match a.kind {
                ActionKind::Id(n) => {
                    if id.is_some() {
                        self.diags.push(
                            Diagnostic::error(a.span, "a rule has one id").hint("remove this one"),
                        );
                        ok = false;
                    }
                    id = Some((n, a.span));
                }
                ActionKind::Phase(p) => {
                    if phase.is_some_and(|q| q != p) {
                        self.diags.push(
                            Diagnostic::error(a.span, "a rule has one phase")
                                .hint("remove this one"),
                        );
                        ok = false;
                    }
                    phase = Some(p);
                }
                _ => {}
            }
        }
        let Some((id, id_span)) = id else {
            self.diags.push(
                Diagnostic::error(span, "rule has no id")
                    .hint("every rule needs a unique `id:n` action (ModSecurity v3 requires one)"),
            );
            return None;
        };
        if !ok {
            return None;
        }
        let phase = phase.unwrap_or(Phase::RequestBody);
        Some(Building {
            rule: Rule {
                id,
                phase,
                links,
                disruptive: Action {
                    kind: ActionKind::Pass,
                    span,
                },
                actions,
                span,
            },
            open_chain: None,
            id_span,
        })
    }

    fn close(&mut self, b: Building, next: Option<Span>) {
        match b.open_chain {
            Some(chain) => {
                let hint = if next.is_some() {
                    "the directive after a rule with `chain` must be a `SecRule`"
                } else {
                    "a rule with `chain` must be followed by a `SecRule`; remove `chain` or add the rule"
                };
                self.diags
                    .push(Diagnostic::error(chain, "`chain` without a next rule").hint(hint));
            }
            None => self.push_rule(b.rule, b.id_span),
        }
    }

    fn push_rule(&mut self, rule: Rule, id_span: Span) {
        if let Some(first) = self.ids.get(&rule.id) {
            self.diags.push(
                Diagnostic::error(id_span, format!("duplicate rule id {}", rule.id)).hint(format!(
                    "rule ids must be unique; the first is at {}",
                    self.sources.location(*first)
                )),
            );
            return;
        }
        self.ids.insert(rule.id, id_span);
        if self
            .defaults
            .get(phase_index(rule.phase))
            .is_some_and(Option::is_none)
        {
            if let Some(n) = self.early.get_mut(phase_index(rule.phase)) {
                *n += 1;
            }
        }
        self.items.push(Item::Rule(rule));
    }

    fn default_action(&mut self, actions: Vec<Action>, span: Span) {
        let mut ok = true;
        let mut phase = None;
        for a in &actions {
            match &a.kind {
                ActionKind::Phase(p) => phase = Some(*p),
                ActionKind::Id(_)
                | ActionKind::Msg(_)
                | ActionKind::Tag(_)
                | ActionKind::LogData(_)
                | ActionKind::Severity(_)
                | ActionKind::Ver(_)
                | ActionKind::Rev(_)
                | ActionKind::Maturity(_)
                | ActionKind::Accuracy(_)
                | ActionKind::Chain
                | ActionKind::Skip(_)
                | ActionKind::SkipAfter(_) => {
                    self.diags.push(
                        Diagnostic::error(a.span, "this action cannot be a default action")
                            .hint("`SecDefaultAction` takes a phase, a disruptive action and logging or transformation actions"),
                    );
                    ok = false;
                }
                _ => {}
            }
        }
        let Some(phase) = phase else {
            self.diags.push(
                Diagnostic::error(span, "`SecDefaultAction` without a phase")
                    .hint("add `phase:N`, e.g. `phase:2`"),
            );
            return;
        };
        if !actions.iter().any(|a| a.kind.is_disruptive()) {
            self.diags.push(
                Diagnostic::error(span, "`SecDefaultAction` without a disruptive action")
                    .hint("add one, e.g. `pass` (CRS's choice) or `deny`"),
            );
            ok = false;
        }
        let i = phase_index(phase);
        if let Some(Some((_, first))) = self.defaults.get(i) {
            let first = *first;
            self.diags.push(
                Diagnostic::error(
                    span,
                    format!("a second `SecDefaultAction` for phase {}", phase.number()),
                )
                .hint(format!(
                    "ModSecurity v3 takes one per phase; the first is at {}",
                    self.sources.location(first)
                )),
            );
            return;
        }
        if !ok {
            return;
        }
        let early = self.early.get(i).copied().unwrap_or(0);
        if early > 0 {
            self.diags.push(
                Diagnostic::warning(
                    span,
                    format!(
                        "{early} rule(s) of phase {} come before this `SecDefaultAction`",
                        phase.number()
                    ),
                )
                .hint(
                    "ModSecurity v3 applies it to them too (v2 would not); put it before the rules",
                ),
            );
        }
        if let Some(slot) = self.defaults.get_mut(i) {
            *slot = Some((actions, span));
        }
    }

    fn update_action_check(&mut self, id: u32, actions: Vec<Action>, span: Span) {
        let mut ok = true;
        for a in &actions {
            if matches!(
                a.kind,
                ActionKind::Id(_) | ActionKind::Phase(_) | ActionKind::Chain
            ) {
                self.diags.push(
                    Diagnostic::error(
                        a.span,
                        "`SecRuleUpdateActionById` cannot change a rule's id, phase or chain",
                    )
                    .hint("remove the rule and write a new one instead"),
                );
                ok = false;
            }
        }
        if ok {
            self.exceptions
                .push((Exception::ActionById(id, actions), span));
        }
    }

    fn apply_exceptions(&mut self) {
        let exceptions = std::mem::take(&mut self.exceptions);
        for (e, by) in exceptions {
            let mut hits = 0usize;
            match &e {
                Exception::RemoveById(_)
                | Exception::RemoveByTag(_)
                | Exception::RemoveByMsg(_) => {
                    let removed = &mut self.removed;
                    self.items.retain(|item| {
                        let Item::Rule(rule) = item else { return true };
                        let hit = match &e {
                            Exception::RemoveById(ids) => ids.iter().any(|r| r.contains(rule.id)),
                            Exception::RemoveByTag(t) => rule.tags().any(|x| x == t),
                            Exception::RemoveByMsg(m) => rule.msg() == Some(m.as_str()),
                            _ => false,
                        };
                        if hit {
                            hits += 1;
                            removed.push(RemovedRule {
                                id: rule.id,
                                span: rule.span,
                                by,
                            });
                        }
                        !hit
                    });
                    // A rule removed earlier still counts as named.
                    if hits == 0 {
                        if let Exception::RemoveById(ids) = &e {
                            hits = self
                                .removed
                                .iter()
                                .filter(|r| ids.iter().any(|i| i.contains(r.id)))
                                .count();
                        }
                    }
                }
                Exception::TargetById(_, targets) | Exception::TargetByTag(_, targets) => {
                    for item in &mut self.items {
                        let Item::Rule(rule) = item else { continue };
                        let hit = match &e {
                            Exception::TargetById(ids, _) => {
                                ids.iter().any(|r| r.contains(rule.id))
                            }
                            Exception::TargetByTag(t, _) => rule.tags().any(|x| x == t),
                            _ => false,
                        };
                        if !hit {
                            continue;
                        }
                        hits += 1;
                        match rule.links.first_mut() {
                            Some(link) => link.variables.extend(targets.iter().cloned()),
                            None => self.diags.push(
                                Diagnostic::error(
                                    by,
                                    format!(
                                        "rule {} is a `SecAction`: it has no targets to update",
                                        rule.id
                                    ),
                                )
                                .hint("target updates apply to `SecRule`s"),
                            ),
                        }
                    }
                }
                Exception::ActionById(id, actions) => {
                    for item in &mut self.items {
                        let Item::Rule(rule) = item else { continue };
                        if rule.id == *id {
                            hits += 1;
                            update_actions(&mut rule.actions, actions);
                        }
                    }
                }
            }
            if hits == 0 && !self.removed_named(&e) {
                self.diags.push(
                    Diagnostic::warning(by, "this directive names no rule")
                        .hint("check the id, tag or message; tags and messages must match exactly"),
                );
            }
        }
    }

    /// Whether an exception names a rule that was removed (so naming it is not a mistake).
    fn removed_named(&self, e: &Exception) -> bool {
        match e {
            Exception::TargetById(ids, _) | Exception::RemoveById(ids) => self
                .removed
                .iter()
                .any(|r| ids.iter().any(|i| i.contains(r.id))),
            Exception::ActionById(id, _) => self.removed.iter().any(|r| r.id == *id),
            _ => false,
        }
    }

    fn apply_defaults(&mut self) {
        for item in &mut self.items {
            let Item::Rule(rule) = item else { continue };
            let defaults = self
                .defaults
                .get(phase_index(rule.phase))
                .and_then(Option::as_ref)
                .map(|(a, _)| a.as_slice())
                .unwrap_or(&[]);
            let own = std::mem::take(&mut rule.actions);
            let own_disruptive = own.iter().rev().find(|a| a.kind.is_disruptive()).cloned();
            let default_disruptive = defaults
                .iter()
                .rev()
                .find(|a| a.kind.is_disruptive())
                .cloned();
            rule.disruptive = match own_disruptive {
                Some(a) if a.kind == ActionKind::Block => default_disruptive.unwrap_or(Action {
                    kind: ActionKind::Pass,
                    span: a.span,
                }),
                Some(a) => a,
                None => Action {
                    kind: ActionKind::Pass,
                    span: rule.span,
                },
            };
            let mut merged: Vec<Action> = defaults
                .iter()
                .filter(|d| {
                    !matches!(d.kind, ActionKind::Phase(_))
                        && !d.kind.is_disruptive()
                        && group(&d.kind)
                            .is_none_or(|g| !own.iter().any(|o| group(&o.kind) == Some(g)))
                })
                .cloned()
                .collect();
            merged.extend(own);
            rule.actions = merged;
        }
    }

    fn check_skip_after(&mut self) {
        let mut markers: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, item) in self.items.iter().enumerate() {
            if let Item::Marker(m) = item {
                markers.entry(m.name.as_str()).or_default().push(i);
            }
        }
        for (i, item) in self.items.iter().enumerate() {
            let Item::Rule(rule) = item else { continue };
            for a in &rule.actions {
                let ActionKind::SkipAfter(name) = &a.kind else {
                    continue;
                };
                let later = markers
                    .get(name.as_str())
                    .is_some_and(|at| at.iter().any(|&m| m > i));
                if later {
                    continue;
                }
                let msg = if markers.contains_key(name.as_str()) {
                    format!("`skipAfter:{name}`: the marker comes before this rule")
                } else {
                    format!("`skipAfter:{name}`: no `SecMarker {name}`")
                };
                let hint = did_you_mean(name, markers.keys().copied()).unwrap_or_else(|| {
                    "skipAfter jumps forward to a `SecMarker` later in the files".into()
                });
                self.diags.push(Diagnostic::error(a.span, msg).hint(hint));
            }
        }
    }
}

/// Actions of which a rule keeps one: an own action replaces a default (or earlier) one of
/// the same group.
fn group(kind: &ActionKind) -> Option<u8> {
    Some(match kind {
        k if k.is_disruptive() => 0,
        ActionKind::Log | ActionKind::NoLog => 1,
        ActionKind::AuditLog | ActionKind::NoAuditLog => 2,
        ActionKind::Status(_) => 3,
        ActionKind::Severity(_) => 4,
        ActionKind::Msg(_) => 5,
        ActionKind::LogData(_) => 6,
        ActionKind::Capture => 7,
        ActionKind::MultiMatch => 8,
        ActionKind::Ver(_) => 9,
        ActionKind::Rev(_) => 10,
        ActionKind::Maturity(_) => 11,
        ActionKind::Accuracy(_) => 12,
        ActionKind::Phase(_) => 13,
        ActionKind::Id(_) => 14,
        _ => return None,
    })
}

/// `SecRuleUpdateActionById`: single-valued actions replace the rule's, lists are appended
/// (`t:none` among them then clears the transformations before it, as it does anywhere).
fn update_actions(actions: &mut Vec<Action>, updates: &[Action]) {
    for u in updates {
        if let Some(g) = group(&u.kind) {
            actions.retain(|a| group(&a.kind) != Some(g));
        }
        actions.push(u.clone());
    }
}

//! `ctl:ruleRemove…` in a rule that reads the request: the removal holds only on the
//! requests that rule matches, so it becomes a condition of the rules it removes.

use portcullis_rules::{Expr, Mode};

use super::{Lowering, Unsupported};
use crate::action::IdRange;
use crate::ctl::{Ctl, EngineMode};
use crate::resolve::Rule;
use crate::variable::Variable;

/// What a `ctl:ruleRemove…` of a rule that reads the request removes from the rules after
/// it, on the requests that rule matches.
pub(super) enum Removal {
    /// `ruleEngine=Off`: every rule.
    All,
    /// `ruleRemoveById`
    Rules(Vec<IdRange>),
    /// `ruleRemoveByTag`
    Tagged(String),
    /// `ruleRemoveTargetById`, `ruleRemoveTargetByTag`: variables, whole or a member
    /// (`ARGS:pwd`, `ARGS:/^pass/`), from the rules with these ids or this tag.
    Targets {
        ids: Vec<IdRange>,
        tag: Option<String>,
        targets: Vec<Variable>,
    },
}

impl Removal {
    /// Whether it applies to `rule` (for target removals: whether the rule is one named).
    fn names(&self, rule: &Rule) -> bool {
        let (ids, tag) = match self {
            Removal::All => return true,
            Removal::Rules(ids) => (ids.as_slice(), None),
            Removal::Tagged(tag) => (&[][..], Some(tag)),
            Removal::Targets { ids, tag, .. } => (ids.as_slice(), tag.as_ref()),
        };
        ids.iter().any(|r| r.contains(rule.id)) || tag.is_some_and(|t| rule.tags().any(|x| x == t))
    }
}

impl Lowering<'_> {
    /// What rules before removed from `rule`, per request: its removed variables go to
    /// `removed_targets`, and the conditions under which the whole rule is removed are
    /// returned.
    pub(super) fn removed_from(&mut self, rule: &Rule) -> Vec<Expr> {
        self.removed_targets.clear();
        let mut removed_when = Vec::new();
        for (removal, when) in &self.removals {
            if !removal.names(rule) {
                continue;
            }
            match removal {
                Removal::Targets { targets, .. } => self
                    .removed_targets
                    .extend(targets.iter().map(|t| (t.clone(), when.clone()))),
                _ => removed_when.push(when.clone()),
            }
        }
        removed_when
    }

    /// A `ctl` of a rule that reads the request: a `ruleRemove…` removes from the rules
    /// after it, on the requests `when` holds for.
    pub(super) fn request_ctl(&mut self, ctl: &Ctl, when: &Expr) -> Result<(), Unsupported> {
        match ctl {
            Ctl::RequestBodyProcessor(_)
            | Ctl::RequestBodyAccess(_)
            | Ctl::ForceRequestBodyVariable(_)
            | Ctl::AuditEngine(_)
            | Ctl::AuditLogParts(_) => {}
            // No rule after it runs (ModSecurity evaluates none): the page an operator
            // keeps out of the WAF.
            Ctl::RuleEngine(EngineMode::Off) => {
                self.removals.push((Removal::All, when.clone()));
            }
            Ctl::RuleRemoveById(ids) => {
                self.removals
                    .push((Removal::Rules(ids.clone()), when.clone()));
            }
            Ctl::RuleRemoveByTag(tag) => {
                self.removals
                    .push((Removal::Tagged(tag.clone()), when.clone()));
            }
            c @ (Ctl::RuleRemoveTargetById { targets, .. }
            | Ctl::RuleRemoveTargetByTag { targets, .. }) => {
                if targets.iter().any(|t| t.count) {
                    return Err(Unsupported("removing a count (`&VAR`), per request".into()));
                }
                let (ids, tag) = match c {
                    Ctl::RuleRemoveTargetById { ids, .. } => (ids.clone(), None),
                    Ctl::RuleRemoveTargetByTag { tag, .. } => (Vec::new(), Some(tag.clone())),
                    _ => (Vec::new(), None),
                };
                let targets = targets.clone();
                self.removals
                    .push((Removal::Targets { ids, tag, targets }, when.clone()));
            }
            // The rules after it run, match and log, and refuse nothing; or refuse again.
            Ctl::RuleEngine(EngineMode::DetectionOnly) => {
                self.engine_switches.push((Mode::Shadow, when.clone()));
            }
            Ctl::RuleEngine(EngineMode::On) => {
                self.engine_switches.push((Mode::Enforce, when.clone()));
            }
        }
        Ok(())
    }
}

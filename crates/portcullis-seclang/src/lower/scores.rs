//! Anomaly scores: the `setvar`s of rules that read the request become engine scores
//! (`tx.x=+5`), or mark a variable as set per request for the chains that read it.

use portcullis_rules::Expr;

use super::constants::Tx;
use super::{Lowering, Unsupported};
use crate::action::{ActionKind, Collection, SetVarOp};
use crate::macros::{MacroPart, MacroString};
use crate::resolve::Rule;
use crate::variable::VariableKind;

impl Lowering<'_> {
    /// The scores a rule that reads the request adds to; other `setvar`s mark their
    /// variables as set per request. A score added into another adds, to each earlier
    /// rule adding to the first, the same to the second.
    /// `ctl:ruleRemove…` removes from the rules after it, on the requests `when` holds for.
    pub(super) fn dynamic_effects(
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
                            let d = self.amount(v, &sv.op)?;
                            if matches!(self.env.get(&name), Some(Tx::Dynamic)) {
                                // A counter set per request: read through this rule.
                                self.writer(rule.id);
                                continue;
                            }
                            let engine = self.score_name(&name)?;
                            // Adding 0 (`+%{tx.outbound_anomaly_score_pl3}` when no rule
                            // scores at that level) changes nothing: a `nolog` rule doing
                            // only that has no effect, and must not show in `matched`.
                            if d != 0 {
                                score.push((engine, d));
                            }
                        }
                        // `tx.x=%{tx.score}` where every request gets: `x` starts afresh
                        // as a copy of the score (CRS 980099 sums inbound and outbound).
                        SetVarOp::Set(v)
                            if matches!(when, Expr::Const(true)) && self.score_ref(v).is_some() =>
                        {
                            if let Some(from) = self.score_ref(v) {
                                self.fresh_score(&name);
                                self.alias(&name, &from)?;
                            }
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
                ActionKind::Ctl(c) => self.request_ctl(c, when)?,
                ActionKind::Capture => {}
                _ => {}
            }
        }
        Ok(score)
    }

    /// `%{tx.x}` alone, naming a score: a score added into another.
    pub(super) fn score_ref(&self, v: &MacroString) -> Option<String> {
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

    /// Makes `name` a new engine score, holding 0: rules after this point add to it, and
    /// what rules before added to the old one stays there. The first score of a variable
    /// is named after it (`anomaly_score`, as decisions show it); each later one, after a
    /// reset, gets its number (`anomaly_score@2`).
    pub(super) fn fresh_score(&mut self, name: &str) -> String {
        let n = self.versions.entry(name.to_string()).or_insert(0);
        *n += 1;
        let fresh = match *n {
            1 => name.to_string(),
            n => format!("{name}@{n}"),
        };
        self.env.insert(name.to_string(), Tx::Score(fresh.clone()));
        fresh
    }

    /// The engine score a `TX` variable accumulates into (made one if it was unset or 0).
    fn score_name(&mut self, name: &str) -> Result<String, Unsupported> {
        match self.env.get(name) {
            Some(Tx::Score(s)) => Ok(s.clone()),
            None => Ok(self.fresh_score(name)),
            Some(Tx::Const(c)) if c.trim() == "0" => Ok(self.fresh_score(name)),
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
}

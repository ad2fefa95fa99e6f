//! The transaction variables (`TX`) known at load time, and the rules decided on them:
//! CRS sets most of its `TX` from constants of its setup, so a rule reading only those is
//! run here, once, instead of on every request.

use portcullis_rules::{Expr, Field, Mode, Pred, PredKind, Term};

use super::chain::Chain;
use super::operators::negated;
use super::{Cond, Lowering, Unsupported};
use crate::action::{ActionKind, Collection, SetVarOp};
use crate::ctl::{Ctl, EngineMode};
use crate::macros::{MacroPart, MacroString};
use crate::operator::{Operator, OperatorKind};
use crate::resolve::Rule;
use crate::variable::{Selector, Variable, VariableKind};

/// A transaction variable as far as the load time knows it.
#[derive(Clone, Debug)]
pub(super) enum Tx {
    /// Set to this by rules that read only constants.
    Const(String),
    /// An anomaly score: what engine rules add up, under this engine score name.
    Score(String),
    /// Set by a rule that reads the request to something not a score.
    Dynamic,
}

impl Lowering<'_> {
    /// Whether a rule whose condition holds always only sets constants, changes the
    /// engine or skips: then it is decided here.
    pub(super) fn is_static_effect(&self, rule: &Rule) -> bool {
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
    pub(super) fn only_aliases(&self, rule: &Rule) -> bool {
        rule.actions.iter().all(|a| match &a.kind {
            ActionKind::SetVar(sv) => match &sv.op {
                SetVarOp::Add(v) | SetVarOp::Set(v) => self.score_ref(v).is_some(),
                _ => false,
            },
            ActionKind::Ctl(_) | ActionKind::SkipAfter(_) | ActionKind::Skip(_) => false,
            _ => true,
        })
    }

    /// Applies a rule decided at load time: its `setvar`s on constants, its `ctl`s.
    pub(super) fn apply_static(&mut self, rule: &Rule) -> Result<(), Unsupported> {
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
                                self.fresh_score(&name);
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
                            let d = self.amount(v, &sv.op)?;
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

    /// A variable name (`tx.name`) with no request-dependent macro, lowercased.
    pub(super) fn name_of(&self, m: &MacroString) -> Option<String> {
        self.expand(m).ok().map(|s| s.to_ascii_lowercase())
    }

    /// A macro string whose references are all load-time constants.
    /// What `=+v` adds (`=-v`: its negation), `v` expanded to a number.
    pub(super) fn amount(&self, v: &MacroString, op: &SetVarOp) -> Result<i64, Unsupported> {
        let d: i64 = self
            .expand(v)?
            .trim()
            .parse()
            .map_err(|_| Unsupported("adding what is not a number".into()))?;
        Ok(if matches!(op, SetVarOp::Sub(_)) {
            -d
        } else {
            d
        })
    }

    pub(super) fn expand(&self, m: &MacroString) -> Result<String, Unsupported> {
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

    /// `TX:x` and `&TX:x`: a constant decided here, or a score compared.
    pub(super) fn tx_target(
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

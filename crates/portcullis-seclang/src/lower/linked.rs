//! A chain the rule model cannot express, as an engine test run link by link
//! ([`Chained`]), behind what its writers need, and with each writer only on the requests
//! where it runs itself.

use portcullis_rules::{CmpOp, Expr, Pred, PredKind, Term};

use super::constants::Tx;
use super::{not, Lowering, Unsupported};
use crate::interpret::{Chained, Guard, Known};
use crate::resolve::Rule;

/// Writers of a chain run link by link that may each run or not on a request: the chain
/// is tested once for each set of them that runs, 2^n tests.
const MAX_CONDITIONAL_WRITERS: usize = 3;

impl Lowering<'_> {
    /// The test of `rule`'s chain run link by link, where `runs` is what must hold for the
    /// rule to run at all; `unsupported`, why its links did not compile, when the chain
    /// cannot run either.
    pub(super) fn link_by_link(
        &mut self,
        rule: &Rule,
        runs: &[Expr],
        unsupported: Unsupported,
    ) -> Result<Expr, Unsupported> {
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
        let chain = Chained::build(rule, &known, &writers).map_err(|_| unsupported)?;
        // A writer runs within the test only on the requests where it would run: one
        // test per set of the writers that run under conditions.
        let mut conditional = Vec::new();
        for id in chain.writer_ids() {
            match self.runs_when.get(&id) {
                Some((_, true)) => {
                    return Err(Unsupported(format!(
                        "removing a target of rule {id}, per request, which a chain run link by link runs first"
                    )))
                }
                // What keeps this rule from running keeps the writer too (CRS's
                // own `ctl:ruleRemoveByTag=OWASP_CRS`): only the rest matters.
                Some((when, false)) => {
                    let rest: Vec<Expr> =
                        when.iter().filter(|c| !runs.contains(c)).cloned().collect();
                    if !rest.is_empty() {
                        conditional.push((id, Expr::And(rest)));
                    }
                }
                None => {}
            }
        }
        if conditional.len() > MAX_CONDITIONAL_WRITERS {
            return Err(Unsupported(format!(
                "a chain run link by link whose writers run under more than {MAX_CONDITIONAL_WRITERS} conditions"
            )));
        }
        let mut each = Vec::new();
        for set in 0..1u32 << conditional.len() {
            let on = |i: usize| set & (1 << i) != 0;
            let mut all: Vec<Expr> = conditional
                .iter()
                .enumerate()
                .map(|(i, (_, c))| if on(i) { c.clone() } else { not(c.clone()) })
                .collect();
            let off: Vec<u32> = conditional
                .iter()
                .enumerate()
                .filter(|&(i, _)| !on(i))
                .map(|(_, (id, _))| *id)
                .collect();
            let (test, guard) = chain.with_off(&off);
            all.extend(guard.map(|g| guard_expr(g, rule)));
            all.push(Expr::Pred(Pred {
                kind: PredKind::Interpreted(test),
                span: rule.span,
                text: format!("rule {}'s chain, run link by link", rule.id),
            }));
            each.push(match all.len() {
                1 => all.remove(0),
                _ => Expr::And(all),
            });
        }
        self.interpreted += 1;
        Ok(match each.len() {
            1 => each.remove(0),
            _ => Expr::Or(each),
        })
    }
}

/// A chain's guard: one of its collections has enough members.
fn guard_expr(g: Guard, rule: &Rule) -> Expr {
    let text = format!("rule {}'s chain can hold", rule.id);
    Expr::Or(
        g.fields
            .into_iter()
            .map(|f| {
                Expr::Pred(Pred {
                    kind: PredKind::Compare {
                        lhs: Term::Count(f),
                        op: CmpOp::Ge,
                        rhs: Term::Int(g.at_least),
                    },
                    span: rule.span,
                    text: text.clone(),
                })
            })
            .collect(),
    )
}

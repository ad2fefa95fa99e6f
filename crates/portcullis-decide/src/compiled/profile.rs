//! Profiling: what each field, and each rule, costs across a set of requests.

use crate::policy::Candidates;
use crate::request::Request;

use super::{Program, Run};

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

/// What one rule's condition costs across a set of requests, evaluated alone: the fields
/// it reads computed and scanned for it, as if no other rule shared them (see
/// [`Policy::rule_costs`]).
///
/// [`Policy::rule_costs`]: crate::Policy::rule_costs
#[derive(Clone, Debug)]
pub struct RuleCost {
    /// The rule's index in the rule set.
    pub rule: usize,
    /// Requests its condition held for (scores and labels of other rules read as 0).
    pub matched: usize,
    /// Time to evaluate it, over all requests.
    pub total: std::time::Duration,
}

impl Program {
    /// Times each rule's condition alone, on a fresh evaluation of every request.
    pub(crate) fn rule_costs(&self, reqs: &[Request<'_>]) -> Vec<RuleCost> {
        let mut scratch = self.scratch();
        let mut costs: Vec<RuleCost> = (0..self.rule_count)
            .map(|rule| RuleCost {
                rule,
                matched: 0,
                total: std::time::Duration::ZERO,
            })
            .collect();
        for req in reqs {
            for cost in &mut costs {
                self.reset(&mut scratch);
                let mut run = Run::new(self, &mut scratch, req, false);
                let start = std::time::Instant::now();
                let held = run.matches(cost.rule);
                cost.total += start.elapsed();
                cost.matched += usize::from(held);
            }
        }
        costs.sort_by_key(|c| std::cmp::Reverse(c.total));
        costs
    }

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

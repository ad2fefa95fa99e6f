//! Profiling: what each field costs across a set of requests.

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

//! Every rule's formula laid out as one flat list of steps, all rules in one array: a
//! candidate's condition is read front to back, its `and`s and `or`s short-circuiting by
//! jumps, instead of by walking a tree of boxes scattered over the heap (a request visits
//! some thirty candidates, most of them every time).

use super::Formula;

/// One step of a rule's condition. The steps work on one truth value: a predicate or a
/// constant sets it, `Not` flips it, a jump moves on when it is false (`IfFalse`) or true
/// (`IfTrue`); the value after the last step is the condition's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    Pred(u32),
    Const(bool),
    Not,
    /// To the step at this position of the rule's steps (one past the last: done).
    IfFalse(u32),
    IfTrue(u32),
}

/// The steps of all rules, and where each rule's begin.
#[derive(Debug, Default)]
pub(super) struct Steps {
    steps: Vec<Step>,
    starts: Vec<u32>,
}

impl Steps {
    pub(super) fn new(formulas: &[Formula]) -> Steps {
        let mut all = Steps::default();
        let mut rule = Vec::new();
        for f in formulas {
            rule.clear();
            emit(f, &mut rule);
            thread(&mut rule);
            all.starts.push(all.steps.len() as u32);
            all.steps.extend_from_slice(&rule);
        }
        all.starts.push(all.steps.len() as u32);
        all
    }

    /// Rule `i`'s steps (none past the last rule).
    pub(super) fn rule(&self, i: usize) -> &[Step] {
        match (self.starts.get(i), self.starts.get(i + 1)) {
            (Some(&a), Some(&b)) => self.steps.get(a as usize..b as usize).unwrap_or(&[]),
            _ => &[],
        }
    }
}

/// Runs a rule's steps, asking `pred` for the predicates it reaches.
pub(super) fn holds(steps: &[Step], mut pred: impl FnMut(u32) -> bool) -> bool {
    let mut value = false;
    let mut at = 0;
    while let Some(&step) = steps.get(at) {
        at += 1;
        match step {
            Step::Pred(p) => value = pred(p),
            Step::Const(b) => value = b,
            Step::Not => value = !value,
            Step::IfFalse(to) if !value => at = to as usize,
            Step::IfTrue(to) if value => at = to as usize,
            Step::IfFalse(_) | Step::IfTrue(_) => {}
        }
    }
    value
}

/// Appends the steps of `f`; its jumps are positions in `out`, which holds one rule.
fn emit(f: &Formula, out: &mut Vec<Step>) {
    match f {
        Formula::Const(b) => out.push(Step::Const(*b)),
        Formula::Pred(p) => out.push(Step::Pred(*p)),
        Formula::Not(f) => {
            emit(f, out);
            out.push(Step::Not);
        }
        Formula::And(fs) | Formula::Or(fs) => {
            let and = matches!(f, Formula::And(_));
            let Some((last, rest)) = fs.split_last() else {
                // `and` of nothing holds; `or` of nothing does not.
                out.push(Step::Const(and));
                return;
            };
            let mut jumps = Vec::with_capacity(rest.len());
            for f in rest {
                emit(f, out);
                jumps.push(out.len());
                out.push(if and {
                    Step::IfFalse(0)
                } else {
                    Step::IfTrue(0)
                });
            }
            emit(last, out);
            let end = out.len() as u32;
            for j in jumps {
                if let Some(Step::IfFalse(to) | Step::IfTrue(to)) = out.get_mut(j) {
                    *to = end;
                }
            }
        }
    }
}

/// Makes each jump go straight to where the jumps it lands on would take it: a jump
/// taken on false that lands on another jump taken on false goes on to that one's target,
/// and one that lands on a jump taken on true (which then is not taken) goes past it.
fn thread(steps: &mut [Step]) {
    for i in 0..steps.len() {
        let (on, mut to) = match steps.get(i) {
            Some(&Step::IfFalse(to)) => (false, to),
            Some(&Step::IfTrue(to)) => (true, to),
            _ => continue,
        };
        // Jumps go forward, so this ends.
        loop {
            to = match steps.get(to as usize) {
                Some(&Step::IfFalse(next)) if !on => next,
                Some(&Step::IfTrue(next)) if on => next,
                Some(Step::IfFalse(_) | Step::IfTrue(_)) => to + 1,
                _ => break,
            };
        }
        if let Some(Step::IfFalse(t) | Step::IfTrue(t)) = steps.get_mut(i) {
            *t = to;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The formula read as a tree: the reference the steps must agree with.
    fn tree(f: &Formula, truth: &[bool]) -> bool {
        match f {
            Formula::Const(b) => *b,
            Formula::Pred(p) => truth[*p as usize],
            Formula::Not(f) => !tree(f, truth),
            Formula::And(fs) => fs.iter().all(|f| tree(f, truth)),
            Formula::Or(fs) => fs.iter().any(|f| tree(f, truth)),
        }
    }

    fn formula() -> impl Strategy<Value = Formula> {
        let leaf = prop_oneof![
            any::<bool>().prop_map(Formula::Const),
            (0u32..6).prop_map(Formula::Pred),
        ];
        leaf.prop_recursive(5, 40, 4, |inner| {
            prop_oneof![
                inner.clone().prop_map(|f| Formula::Not(Box::new(f))),
                prop::collection::vec(inner.clone(), 0..4)
                    .prop_map(|fs| Formula::And(fs.into_boxed_slice())),
                prop::collection::vec(inner, 0..4)
                    .prop_map(|fs| Formula::Or(fs.into_boxed_slice())),
            ]
        })
    }

    /// The predicates a tree asks for, in order, short-circuiting.
    fn asked(f: &Formula, truth: &[bool], out: &mut Vec<u32>) -> bool {
        match f {
            Formula::Const(b) => *b,
            Formula::Pred(p) => {
                out.push(*p);
                truth[*p as usize]
            }
            Formula::Not(f) => !asked(f, truth, out),
            Formula::And(fs) => fs.iter().all(|f| asked(f, truth, out)),
            Formula::Or(fs) => fs.iter().any(|f| asked(f, truth, out)),
        }
    }

    proptest! {
        /// For every rule and every truth of its predicates, the steps give the tree's
        /// value, asking for the same predicates in the same order (a predicate computes
        /// fields, so one asked for needlessly costs time).
        #[test]
        fn steps_agree_with_the_tree(
            rules in prop::collection::vec(formula(), 1..4),
            truth in prop::collection::vec(any::<bool>(), 6),
        ) {
            let steps = Steps::new(&rules);
            for (i, f) in rules.iter().enumerate() {
                let mut want = Vec::new();
                let value = asked(f, &truth, &mut want);
                prop_assert_eq!(value, tree(f, &truth));
                let mut got = Vec::new();
                let held = holds(steps.rule(i), |p| {
                    got.push(p);
                    truth[p as usize]
                });
                prop_assert_eq!(held, value, "rule {}: {:?}", i, steps.rule(i));
                prop_assert_eq!(got, want);
            }
            prop_assert!(steps.rule(rules.len()).is_empty());
        }
    }

    #[test]
    fn jumps_are_threaded() {
        // `(a or b) and c`: `a` true jumps past the `and`'s test straight to `c`.
        let f = Formula::And(
            vec![
                Formula::Or(vec![Formula::Pred(0), Formula::Pred(1)].into_boxed_slice()),
                Formula::Pred(2),
            ]
            .into_boxed_slice(),
        );
        let steps = Steps::new(&[f]);
        assert_eq!(
            steps.rule(0),
            &[
                Step::Pred(0),
                Step::IfTrue(4),
                Step::Pred(1),
                Step::IfFalse(5),
                Step::Pred(2),
            ]
        );
    }
}

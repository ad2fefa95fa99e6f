//! Predicates evaluated directly rather than scanned: comparisons, set membership,
//! tests, detectors, and interpreted predicates reading the request's values.

use portcullis_rules::{CmpOp, Field, ListOp, PredKind, StrOp, Term, Type};

use super::terms::{compute, ip_of};
use super::{IntOperand, Run};

/// A request's values as an interpreted test reads them, from the evaluation's buffers.
struct RunValues<'x, 'a, 'r>(std::cell::RefCell<&'x mut Run<'a, 'r>>);

impl portcullis_rules::Values for RunValues<'_, '_, '_> {
    fn each(&self, f: &Field, each: &mut dyn FnMut(&str, &str)) {
        self.0.borrow_mut().values_of(f, each);
    }
}

/// A direct predicate of a shape most rules' conditions have, answered without reading
/// its terms again (their types, which operand is what) on every request.
#[derive(Clone, Copy, Debug)]
pub(super) enum Quick {
    /// `present(x)` of a string term: whether its slot has a value.
    Present(u32),
    /// `x within "…"` of a string term: whether a value of its slot is in the literal.
    Within(u32),
    /// A count of header fields by name, or a score, compared with a literal.
    Compare(IntOperand, CmpOp, i64),
}

impl Quick {
    /// The quick form of predicate `p`, whose string terms are in `slots` and whose left
    /// integer operand is `lhs` (see `Program::int_operands`), when it has one.
    pub(super) fn of(
        p: &PredKind,
        slots: [Option<u32>; 2],
        lhs: Option<IntOperand>,
    ) -> Option<Quick> {
        match (p, slots) {
            (PredKind::Test(Term::Present(inner)), [Some(s), _])
                if inner.ty() == Type::Str && **inner != Term::Field(Field::Labels) =>
            {
                Some(Quick::Present(s))
            }
            (
                PredKind::Str {
                    op: StrOp::Within, ..
                },
                [Some(s), _],
            ) => Some(Quick::Within(s)),
            (
                PredKind::Compare {
                    op,
                    rhs: Term::Int(n),
                    ..
                },
                [None, None],
            ) => match lhs? {
                o @ (IntOperand::Headers(_) | IntOperand::Score(_)) => {
                    Some(Quick::Compare(o, *op, *n))
                }
                IntOperand::Filter(_) => None,
            },
            _ => None,
        }
    }
}

impl Run<'_, '_> {
    /// A predicate of quick form `q`: as [`Run::direct`] would find it.
    pub(super) fn quick(&mut self, q: Quick, p: &PredKind) -> bool {
        if self.program.reads_body {
            self.ensure_body();
        }
        match q {
            Quick::Present(s) => self.value_count(s) > 0,
            Quick::Within(s) => {
                let PredKind::Str { pattern, .. } = p else {
                    return false;
                };
                (0..self.value_count(s)).any(|k| {
                    self.fresh(Some(s), k)
                        && self.value_at(s, k).is_some_and(|v| pattern.contains(v))
                })
            }
            Quick::Compare(operand, op, n) => {
                let a = match operand {
                    IntOperand::Headers(mask) => self.count_watched(mask),
                    IntOperand::Score(i) => {
                        self.scratch.scores.get(i as usize).copied().unwrap_or(0)
                    }
                    IntOperand::Filter(_) => return false,
                };
                op.holds(a, n)
            }
        }
    }

    /// Calls `each` with the name and value of every member of collection `of`, or with
    /// field `of`'s, for an interpreted test (rare: behind the scanned links of its rule,
    /// so allocating).
    fn values_of(&mut self, of: &Field, each: &mut dyn FnMut(&str, &str)) {
        if !of.is_collection() {
            let target = self.target_for(of);
            let (mut out, mut tmp, mut tmp2) = (String::new(), String::new(), String::new());
            let term = Term::Field(of.clone());
            if compute(&term, self.req, target, None, &mut out, &mut tmp, &mut tmp2) {
                each("", &out);
            }
            return;
        }
        let names = self.member_names(of);
        let mut names = names.iter();
        self.walk(of, &mut |v| {
            if let Some(name) = names.next() {
                each(name, v);
            }
        });
    }

    /// A string operand: a literal, or the `k`-th value of its (computed) slot.
    fn string_of<'s>(&'s self, t: &'s Term, slot: Option<u32>, k: usize) -> Option<&'s str> {
        match t {
            Term::Str(s) => Some(s),
            _ => self.value_at(slot?, k),
        }
    }

    /// Whether two string operands are present and equal.
    fn string_eq(&mut self, a: &Term, b: &Term, slots: [Option<u32>; 2], k: [usize; 2]) -> bool {
        let mut held = std::mem::take(&mut self.scratch.held);
        held.clear();
        let eq = match self.string_of(a, slots[0], k[0]) {
            Some(x) => {
                held.push_str(x);
                self.string_of(b, slots[1], k[1]).is_some_and(|y| y == held)
            }
            None => false,
        };
        self.scratch.held = held;
        eq
    }

    fn set_of(&self, t: &Term) -> &[String] {
        let auth = self.req.auth;
        if !auth.is_authenticated() {
            return &[];
        }
        match t {
            Term::Field(Field::AuthRoles) => &auth.roles,
            Term::Field(Field::AuthScopes) => &auth.scopes,
            _ => &[],
        }
    }

    /// Whether a rule that matched so far attached label `name`.
    fn has_label(&self, name: &str) -> bool {
        let names = &self.program.label_names;
        names
            .binary_search_by(|n| n.as_str().cmp(name))
            .ok()
            .and_then(|i| self.scratch.labels.get(i).copied())
            .unwrap_or(false)
    }

    /// The labels attached so far.
    fn labels(&self) -> impl Iterator<Item = &str> + '_ {
        self.program
            .label_names
            .iter()
            .zip(&self.scratch.labels)
            .filter(|(_, on)| **on)
            .map(|(n, _)| n.as_str())
    }

    /// An integer operand; `at`: where it is, found when the program was built
    /// (`Program::int_operands`).
    fn int_of(
        &mut self,
        t: &Term,
        slot: Option<u32>,
        k: usize,
        at: Option<IntOperand>,
    ) -> Option<i64> {
        match t {
            Term::Int(n) => Some(*n),
            Term::Count(of) => Some(match at {
                Some(IntOperand::Headers(mask)) => self.count_watched(mask),
                Some(IntOperand::Filter(f)) => self.count(of, Some(f)),
                _ => self.count(of, None),
            }),
            // A score no rule adds to is not among the names: 0.
            Term::Field(Field::Score(_)) => Some(
                match at {
                    Some(IntOperand::Score(i)) => self.scratch.scores.get(i as usize).copied(),
                    _ => None,
                }
                .unwrap_or(0),
            ),
            Term::Field(Field::BodyLength) => Some(
                self.req
                    .body
                    .map_or(0, |b| i64::try_from(b.len()).unwrap_or(i64::MAX)),
            ),
            Term::Field(Field::FilesSize) => {
                self.ensure_body();
                Some(i64::try_from(self.scratch.body_facts.files_size).unwrap_or(i64::MAX))
            }
            Term::Len(inner) if **inner == Term::Field(Field::Labels) => {
                Some(self.labels().count() as i64)
            }
            Term::Len(inner) if inner.ty() == Type::StrSet => Some(self.set_of(inner).len() as i64),
            Term::Len(inner) => Some(self.string_of(inner, slot, k).map_or(0, |s| s.len() as i64)),
            _ => None,
        }
    }

    fn bool_of(&self, t: &Term, slot: Option<u32>, k: usize) -> bool {
        match t {
            Term::Bool(b) => *b,
            Term::Field(Field::AuthAuthenticated) => self.req.auth.is_authenticated(),
            Term::Field(Field::CorsPreflight) => self.preflight,
            Term::Field(Field::BodyInspected) => self.scratch.body_facts.inspected,
            Term::Field(Field::BodyTruncated) => self.scratch.body_facts.truncated,
            Term::Detect(d, inner) => self
                .string_of(inner, slot, k)
                .is_some_and(|s| d.detect(s.as_bytes())),
            Term::Present(inner) if **inner == Term::Field(Field::Labels) => {
                self.labels().next().is_some()
            }
            Term::Present(inner) => match inner.ty() {
                Type::Ip => self.req.client_ip.is_some(),
                Type::StrSet => !self.set_of(inner).is_empty(),
                Type::Str => self.string_of(inner, slot, k).is_some(),
                Type::Int | Type::Bool => true,
            },
            _ => false,
        }
    }

    /// A predicate evaluated directly. It holds when it holds for any value of its
    /// operands (several for a term on a repeated argument); `a != b` is `not a == b`.
    pub(super) fn direct(&mut self, id: u32, p: &PredKind, slots: [Option<u32>; 2]) -> bool {
        if self.program.reads_body {
            self.ensure_body();
        }
        let [s0, s1] = slots;
        let mut count = |s: Option<u32>| s.map_or(1, |s| self.value_count(s).max(1));
        let counts = [count(s0), count(s1)];
        let mut any = false;
        'values: for a in 0..counts[0] {
            if !self.fresh(s0, a) {
                continue;
            }
            for b in 0..counts[1] {
                if self.fresh(s1, b) && self.direct_one(id, p, slots, [a, b]) {
                    any = true;
                    break 'values;
                }
            }
        }
        match p {
            PredKind::Compare { op: CmpOp::Ne, .. } => !any,
            _ => any,
        }
    }

    /// [`Run::direct`] on one value of each operand (`!=` read as `==`).
    pub(super) fn direct_one(
        &mut self,
        id: u32,
        p: &PredKind,
        slots: [Option<u32>; 2],
        k: [usize; 2],
    ) -> bool {
        match p {
            PredKind::Test(t) => self.bool_of(t, slots[0], k[0]),
            PredKind::Interpreted(i) => i.0.holds(&RunValues(std::cell::RefCell::new(self))),
            PredKind::Compare { lhs, op, rhs } => {
                let op = if *op == CmpOp::Ne { CmpOp::Eq } else { *op };
                let eq = match lhs.ty() {
                    Type::Str => self.string_eq(lhs, rhs, slots, k),
                    Type::Int => {
                        let [fa, fb] = self
                            .program
                            .int_operands
                            .get(id as usize)
                            .copied()
                            .unwrap_or_default();
                        let a = self.int_of(lhs, slots[0], k[0], fa);
                        let b = self.int_of(rhs, slots[1], k[1], fb);
                        let (Some(a), Some(b)) = (a, b) else {
                            return false;
                        };
                        return op.holds(a, b);
                    }
                    Type::Bool => {
                        self.bool_of(lhs, slots[0], k[0]) == self.bool_of(rhs, slots[1], k[1])
                    }
                    Type::Ip => match (ip_of(lhs, self.req), ip_of(rhs, self.req)) {
                        (Some(a), Some(b)) => a == b,
                        _ => false,
                    },
                    Type::StrSet => false,
                };
                op == CmpOp::Eq && eq
            }
            PredKind::Has { set, item } if *set == Term::Field(Field::Labels) => self
                .string_of(item, slots[1], k[1])
                .is_some_and(|l| self.has_label(l)),
            PredKind::Has { set, item } => {
                let mut held = std::mem::take(&mut self.scratch.held);
                held.clear();
                let present = match self.string_of(item, slots[1], k[1]) {
                    Some(x) => {
                        held.push_str(x);
                        true
                    }
                    None => false,
                };
                let found = present && self.set_of(set).contains(&held);
                self.scratch.held = held;
                found
            }
            PredKind::List {
                lhs,
                op: ListOp::HasAny,
                ..
            } if *lhs == Term::Field(Field::Labels) => {
                let Some((ci, set)) = self.program.sets.get(&id) else {
                    return false;
                };
                self.labels().any(|l| {
                    if *ci {
                        set.contains(l.to_ascii_lowercase().as_str())
                    } else {
                        set.contains(l)
                    }
                })
            }
            PredKind::List {
                lhs,
                op: ListOp::HasAny,
                ..
            } => {
                let Some((ci, set)) = self.program.sets.get(&id) else {
                    return false;
                };
                let mut held = std::mem::take(&mut self.scratch.held);
                let found = self.set_of(lhs).iter().any(|m| {
                    if *ci {
                        held.clear();
                        held.push_str(m);
                        held.make_ascii_lowercase();
                        set.contains(held.as_str())
                    } else {
                        set.contains(m.as_str())
                    }
                });
                self.scratch.held = held;
                found
            }
            PredKind::Str {
                lhs,
                op: StrOp::Within,
                pattern,
            } => self
                .string_of(lhs, slots[0], k[0])
                .is_some_and(|v| pattern.contains(v)),
            // Every other list and string predicate on a computed term is scanned, and
            // `SomeNot` has its own code.
            PredKind::List { .. } | PredKind::Str { .. } | PredKind::SomeNot(_) => false,
        }
    }
}

//! Explaining a rule's evaluation after the fact: the value of each of its predicates (for
//! a trace), and the member of a collection it held on (its evidence). Computed on
//! request, so it may allocate.

use portcullis_match::PatternId;
use portcullis_rules::{CmpOp, Expr, Field, PredKind, Term, Transform};

use crate::evidence::Evidence;

use super::terms::{base_arg, collection};
use super::{Code, Formula, Run};

/// The term a predicate reads a field with several values through, as written: the first
/// such operand, inside `len`, `present` and the detectors; with `singles`, the first
/// that reads any field.
fn written_operand(p: &PredKind, singles: bool) -> Option<&Term> {
    p.terms().into_iter().find_map(|t| {
        let t = match t {
            Term::Len(inner) | Term::Present(inner) | Term::Detect(_, inner) => inner,
            t => t,
        };
        let multi = base_arg(t).is_some() || collection(t).is_some();
        (multi || singles && base_field(t).is_some()).then_some(t)
    })
}

/// The field a computed term reads (`filename` in `lower(url_decode(filename))`): unlike
/// `Term::field`, none for a count or a path segment, which hold no value of the field.
fn base_field(t: &Term) -> Option<&Field> {
    match t {
        Term::Field(f) => Some(f),
        Term::Func(_, inner) => base_field(inner),
        _ => None,
    }
}

/// A value of a slot: the slot, and which of its values.
type Member = (u32, usize);

impl Run<'_, '_> {
    /// The value of each predicate of rule `i`'s condition `when`, in the order
    /// `Expr::visit_preds` visits them, as this program computes them: its formula mirrors
    /// the condition node for node, a predicate being a bit, its negation (`!=`) or a
    /// constant.
    pub(crate) fn pred_values(&mut self, i: usize, when: &Expr, out: &mut Vec<bool>) {
        if let Some(f) = self.program.formulas.get(i) {
            self.mirror(when, f, out);
        }
    }

    /// A formula's value, read as a tree (a candidate is evaluated through its steps).
    fn formula(&mut self, f: &Formula) -> bool {
        match f {
            Formula::Const(b) => *b,
            Formula::Pred(p) => self.pred(*p),
            Formula::Not(f) => !self.formula(f),
            Formula::And(fs) => fs.iter().all(|f| self.formula(f)),
            Formula::Or(fs) => fs.iter().any(|f| self.formula(f)),
        }
    }

    fn mirror(&mut self, e: &Expr, f: &Formula, out: &mut Vec<bool>) {
        match (e, f) {
            (Expr::Pred(_), f) => out.push(self.formula(f)),
            (Expr::Not(e), Formula::Not(f)) => self.mirror(e, f, out),
            (Expr::And(es), Formula::And(fs)) | (Expr::Or(es), Formula::Or(fs)) => {
                for (e, f) in es.iter().zip(fs.iter()) {
                    self.mirror(e, f, out);
                }
            }
            _ => {}
        }
    }

    /// Which member of a collection rule `i`'s condition `when` held on (see
    /// [`Evidence`]): the first predicate outside any `not` that reads a field with
    /// several values and holds, and the first of its members it holds for. Computed on
    /// request (the log, `portcullis eval`), so it may allocate.
    pub(crate) fn evidence(&mut self, i: usize, when: &Expr) -> Option<Evidence> {
        let f = self.program.formulas.get(i)?;
        let (written, (slot, k)) = self.member_in(when, f, false)?;
        self.evidence_at(slot, k, written)
    }

    /// The value rule `i`'s condition `when` held on, for its log texts: as
    /// [`Run::evidence`] finds it, or a single field's (`filename`): the field it was read
    /// from, the member's name in a collection, and the value as the rule saw it.
    pub(crate) fn matched_value(
        &mut self,
        i: usize,
        when: &Expr,
    ) -> Option<(Field, Option<String>, String)> {
        let f = self.program.formulas.get(i)?;
        let (written, (slot, k)) = self.member_in(when, f, true)?;
        let field = base_field(written)?.clone();
        let name = if self.is_multi_slot(slot) {
            Some(self.member_name(slot, k)?)
        } else {
            None
        };
        Some((field, name, self.seen_value(slot, k, written)?))
    }

    /// The first predicate outside any `not` that reads a field with several values (any
    /// field, with `singles`) and holds; the term it reads as written, and the first of
    /// its values it holds for.
    fn member_in<'e>(
        &mut self,
        e: &'e Expr,
        f: &Formula,
        singles: bool,
    ) -> Option<(&'e Term, Member)> {
        match (e, f) {
            (Expr::Pred(pred), Formula::Pred(p)) => {
                let written = written_operand(&pred.kind, singles)?;
                Some((written, self.pred_member(*p, singles)?))
            }
            (Expr::And(es), Formula::And(fs)) | (Expr::Or(es), Formula::Or(fs)) => es
                .iter()
                .zip(fs.iter())
                .find_map(|(e, f)| self.member_in(e, f, singles)),
            _ => None,
        }
    }

    fn is_multi_slot(&self, s: u32) -> bool {
        self.program
            .slots
            .get(s as usize)
            .is_some_and(|t| base_arg(t).is_some() || collection(t).is_some())
    }

    fn pred_member(&mut self, p: u32, singles: bool) -> Option<Member> {
        let program = self.program;
        match program.codes.get(p as usize)? {
            Code::Scan(slot) => {
                let slot = *slot;
                if !(singles || self.is_multi_slot(slot)) || !self.pred(p) {
                    return None;
                }
                // Each member scanned alone, to find one that sets the predicate's bit.
                let scanner = program.scanners.get(slot as usize)?.as_ref()?;
                let (mut sc, mut hits) = (scanner.scratch(), scanner.match_set());
                for k in 0..self.value_count(slot) {
                    hits.clear();
                    scanner.scan(self.value_at(slot, k)?, &mut sc, &mut hits);
                    if hits.contains(PatternId::new(p)) {
                        return Some((slot, k));
                    }
                }
                None
            }
            Code::Direct(kind, slots, _) => {
                if matches!(kind, PredKind::Compare { op: CmpOp::Ne, .. }) {
                    return None;
                }
                let (side, slot) = slots.iter().enumerate().find_map(|(j, s)| {
                    s.filter(|&s| singles || self.is_multi_slot(s))
                        .map(|s| (j, s))
                })?;
                if self.program.reads_body {
                    self.ensure_body();
                }
                let counts = slots.map(|s| s.map_or(1, |s| self.value_count(s).max(1)));
                let other = 1 - side;
                for k in 0..self.value_count(slot) {
                    let holds = (0..counts[other]).any(|o| {
                        let mut ks = [0; 2];
                        ks[side] = k;
                        ks[other] = o;
                        self.direct_one(p, kind, *slots, ks)
                    });
                    if holds {
                        return Some((slot, k));
                    }
                }
                None
            }
            Code::Ip => None,
            Code::SomeNot { slot, inner } => {
                let slot = *slot;
                if !(singles || self.is_multi_slot(slot)) {
                    return None;
                }
                Some((slot, self.some_not(slot, *inner)?))
            }
        }
    }

    /// The evidence of member `k` of a computed slot, for a predicate written on
    /// `written`: the slot's own term, or `lower(x)` compiled onto `x` (the lowered
    /// regex), whose value is the slot's lowercased.
    fn evidence_at(&mut self, slot: u32, k: usize, written: &Term) -> Option<Evidence> {
        let name = self.member_name(slot, k)?;
        let value = self.seen_value(slot, k, written)?;
        Some(Evidence::new(written.to_string(), &name, &value))
    }

    /// The name of member `k` of a slot computed from an argument or a collection.
    fn member_name(&mut self, slot: u32, k: usize) -> Option<String> {
        let term = self.program.slots.get(slot as usize)?;
        match base_arg(term) {
            Some(name) => Some(name.to_string()),
            None => self.member_names(collection(term)?).into_iter().nth(k),
        }
    }

    /// Value `k` of a slot as a predicate written on `written` sees it: the slot's own,
    /// or lowercased for `lower(x)` compiled onto `x` (the lowered regex).
    fn seen_value(&self, slot: u32, k: usize, written: &Term) -> Option<String> {
        let term = self.program.slots.get(slot as usize)?;
        let mut value = self.value_at(slot, k)?.to_string();
        if matches!(written, Term::Func(Transform::Lower, inner) if **inner == *term) {
            value.make_ascii_lowercase();
        }
        Some(value)
    }
}

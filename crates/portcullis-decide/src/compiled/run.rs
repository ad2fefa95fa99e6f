//! One request's evaluation: fields computed and scanned on demand, candidate rules walked
//! through their anchors, predicates evaluated from their bits. The other parts of `Run`
//! live beside it: `fill` (slots with several values), `members` (walking a collection),
//! `direct` (predicates evaluated directly), `explain` (traces and evidence).

use portcullis_match::{normalize, PatternId};
use portcullis_rules::{Field, Term, Transform};

use crate::policy::MalformedChecks;
use crate::request::Request;

use super::body::{self, BodyFacts};
use super::repeats::{Repeats, UNCHANGED};
use super::terms::{base_arg, compute, set_single, Target};
use super::{steps, Code, Program, Scratch, Source};

/// One request's evaluation over a program.
pub(crate) struct Run<'a, 'r> {
    pub(super) program: &'a Program,
    pub(super) scratch: &'a mut Scratch,
    pub(super) req: &'a Request<'r>,
    pub(super) preflight: bool,
    /// The request target, split (nearly every program reads it; asking is a copy).
    target: Target<'r>,
}

impl<'a, 'r> Run<'a, 'r> {
    pub(crate) fn new(
        program: &'a Program,
        scratch: &'a mut Scratch,
        req: &'a Request<'r>,
        preflight: bool,
    ) -> Self {
        let (path, query) = normalize::split_target(req.uri);
        let target = Target {
            path,
            query,
            style: program.path_style,
            body: BodyFacts::default(),
            max_body_bytes: program.body.limits.max_bytes,
        };
        Run {
            program,
            scratch,
            req,
            preflight,
            target,
        }
    }

    pub(super) fn target(&self) -> Target<'r> {
        self.target
    }

    /// The target with the body fields: the body is read first (once per request).
    pub(super) fn target_with_body(&mut self) -> Target<'r> {
        self.ensure_body();
        let mut t = self.target();
        t.body = self.scratch.body_facts;
        t
    }

    /// The target, with the body fields when field `of` reads the body.
    pub(super) fn target_for(&mut self, of: &Field) -> Target<'r> {
        if of.reads_body() {
            self.target_with_body()
        } else {
            self.target()
        }
    }

    /// Reads the body into the scratch, on the first rule that reads a body field.
    pub(super) fn ensure_body(&mut self) {
        if self.scratch.body_done || !self.program.reads_body {
            return;
        }
        self.scratch.body_done = true;
        let Scratch { body, tmp, .. } = &mut *self.scratch;
        self.scratch.body_facts = body::read(self.req, &self.program.body, body, tmp);
    }
}

impl crate::policy::Candidates for Run<'_, '_> {
    fn next_candidate(&mut self, from: usize) -> Option<usize> {
        let mut next = next_bit(&self.scratch.candidates, from, self.program.rule_count);
        loop {
            // Scan every source whose first anchored rule comes before that candidate: its
            // matches may add earlier candidates. One before `from` (a walk that skipped
            // ahead) is not one: then the next is searched for again.
            match self.program.pending.get(self.scratch.next_pending) {
                Some(&(first, src)) if next.is_none_or(|n| first as usize <= n) => {
                    self.scratch.next_pending += 1;
                    match self.add_anchored(src) {
                        Some(added) if added >= from => {
                            next = Some(next.map_or(added, |n| n.min(added)));
                        }
                        Some(_) => {
                            next =
                                next_bit(&self.scratch.candidates, from, self.program.rule_count);
                        }
                        None => {}
                    }
                }
                _ => return next,
            }
        }
    }

    fn matches(&mut self, i: usize) -> bool {
        let program = self.program;
        steps::holds(program.steps.rule(i), |p| self.pred(p))
    }

    fn malformed(
        &mut self,
        req: &Request<'_>,
        checks: MalformedChecks,
    ) -> Option<crate::decision::Malformed> {
        req.malformed(|| self.target().path, checks)
    }

    fn record(&mut self, i: usize) {
        let Some((scores, labels)) = self.program.effects.get(i) else {
            return;
        };
        for &(s, points) in scores.iter() {
            if let Some(v) = self.scratch.scores.get_mut(s as usize) {
                *v = v.saturating_add(points);
            }
        }
        for &l in labels.iter() {
            if let Some(v) = self.scratch.labels.get_mut(l as usize) {
                *v = true;
            }
        }
    }

    fn body(&self) -> Option<crate::decision::BodyState> {
        let f = self.scratch.body_facts;
        self.scratch
            .body_done
            .then_some(crate::decision::BodyState {
                inspected: f.inspected,
                truncated: f.truncated,
                error: f.error,
            })
    }
}

fn next_bit(words: &[u64], from: usize, limit: usize) -> Option<usize> {
    let mut w = from / 64;
    let mut word = words.get(w)? & (u64::MAX.checked_shl((from % 64) as u32).unwrap_or(0));
    loop {
        if word != 0 {
            let i = w * 64 + word.trailing_zeros() as usize;
            return (i < limit).then_some(i);
        }
        w += 1;
        word = *words.get(w)?;
    }
}

impl Run<'_, '_> {
    /// Scans source `src` and makes the rules its matches anchor candidates; returns the
    /// first of them.
    fn add_anchored(&mut self, src: Source) -> Option<usize> {
        let (lo, hi) = match src {
            Source::Ip => {
                self.ensure_ip();
                self.program.ip_preds
            }
            Source::Args => {
                self.ensure_args();
                self.program.arg_preds
            }
            Source::Group(g) => {
                let first = self
                    .program
                    .groups
                    .get(g as usize)?
                    .slots
                    .first()
                    .copied()?;
                self.compute_slot(first);
                self.program
                    .group_preds
                    .get(g as usize)
                    .copied()
                    .unwrap_or((0, 0))
            }
            Source::Slot(s) => {
                self.compute_slot(s);
                self.program
                    .slot_preds
                    .get(s as usize)
                    .copied()
                    .unwrap_or((0, 0))
            }
        };
        let Scratch {
            bits, candidates, ..
        } = &mut *self.scratch;
        let mut first = None;
        for p in bits.iter_range(PatternId::new(lo), PatternId::new(hi)) {
            if let Some(rules) = self.program.anchored.get(p.as_usize()) {
                for &r in rules {
                    if let Some(w) = candidates.get_mut(r as usize / 64) {
                        *w |= 1 << (r % 64);
                        first = Some(first.map_or(r as usize, |f: usize| f.min(r as usize)));
                    }
                }
            }
        }
        first
    }

    fn ensure_ip(&mut self) {
        if self.scratch.ip_done {
            return;
        }
        self.scratch.ip_done = true;
        let (Some(table), Some(ip)) = (&self.program.ip_table, self.req.client_ip) else {
            return;
        };
        for list in table.lookup(ip).iter() {
            if let Some(preds) = self.program.ip_list_preds.get(list as usize) {
                for &p in preds {
                    self.scratch.bits.insert(PatternId::new(p));
                }
            }
        }
    }

    /// Computes a slot's value (and scans it) once per request; returns its value.
    pub(super) fn ensure_slot(&mut self, s: u32) -> Option<&str> {
        self.compute_slot(s);
        self.value_at(s, 0)
    }

    /// Slot `i`'s state: 0 not computed, 1 absent, 2 present (its group's, for a group
    /// slot); `None` past the last slot.
    fn state(&self, i: usize) -> Option<u8> {
        match self.program.slot_group.get(i)? {
            // A selection's slot whose filter kept no member has no value to read (see
            // `position`), present as its group may be.
            Some(g) => self.scratch.group_state.get(*g as usize).copied(),
            None => self.scratch.state.get(i).copied(),
        }
    }

    /// Computes a slot's value (and scans it) once per request.
    #[inline]
    pub(super) fn compute_slot(&mut self, s: u32) -> Option<()> {
        // Most calls find it computed: that check stays out of the work's long call.
        if self.state(s as usize)? != 0 {
            return Some(());
        }
        self.fill_slot(s)
    }

    /// [`Run::compute_slot`] for a slot not computed yet.
    #[inline(never)]
    fn fill_slot(&mut self, s: u32) -> Option<()> {
        let i = s as usize;
        let slot_term = self.program.slots.get(i)?;
        // A group's slots (a collection's terms, or a single field's) fill together.
        let group = self.program.slot_group.get(i).copied().flatten();
        match (group, slot_term) {
            (Some(g), _) => {
                self.fill_group(g as usize);
            }
            (None, Term::Field(Field::Arg(_))) => self.ensure_args(),
            (None, t) if base_arg(t).is_some() => {
                let name = base_arg(t).unwrap_or_default();
                self.fill_arg_term(i, name);
            }
            (None, Term::PathSegment(n)) => {
                let n = *n;
                let path_slot = self.program.path_slot?;
                self.compute_slot(path_slot);
                let Scratch {
                    values,
                    ranges,
                    state,
                    scan,
                    bits,
                    repeats,
                    ..
                } = &mut *self.scratch;
                let mut buf = std::mem::take(values.get_mut(i)?);
                buf.clear();
                let path = slot_value(self.program, values, ranges, repeats, path_slot as usize, 0);
                let segment = path.and_then(|p| normalize::path_segment(p, n));
                let present = segment.is_some();
                buf.push_str(segment.unwrap_or(""));
                settle_single(self.program, i, present, &buf, state, ranges, scan, bits);
                *values.get_mut(i)? = buf;
            }
            _ => {}
        }
        if self.state(i)? == 0 {
            if let Some(&Some((parent, f))) = self.program.single_parents.get(i) {
                return self.apply_to_parent(i, parent, f);
            }
            let term = self.program.slots.get(i)?;
            let target = if self.program.reads_body && term.field().is_some_and(Field::reads_body) {
                self.target_with_body()
            } else {
                self.target()
            };
            let Scratch {
                values,
                ranges,
                tmp,
                tmp2,
                state,
                scan,
                bits,
                ..
            } = &mut *self.scratch;
            let buf = values.get_mut(i)?;
            buf.clear();
            let present = compute(term, self.req, target, None, buf, tmp, tmp2);
            settle_single(self.program, i, present, buf, state, ranges, scan, bits);
        }
        Some(())
    }

    /// Computes slot `i`, function `f` of slot `parent`'s value, from that value (computed
    /// first), and scans it.
    fn apply_to_parent(&mut self, i: usize, parent: u32, f: Transform) -> Option<()> {
        self.compute_slot(parent);
        let present = self.state(parent as usize) == Some(2);
        let Scratch {
            values,
            ranges,
            repeats,
            bytes,
            state,
            scan,
            bits,
            ..
        } = &mut *self.scratch;
        let mut buf = std::mem::take(values.get_mut(i)?);
        buf.clear();
        let value = slot_value(self.program, values, ranges, repeats, parent as usize, 0);
        if let Some(value) = value.filter(|_| present) {
            f.apply(value, &mut buf, bytes);
        }
        settle_single(self.program, i, present, &buf, state, ranges, scan, bits);
        *values.get_mut(i)? = buf;
        Some(())
    }

    /// The `k`-th value of a computed slot (`None` past the last, or when absent).
    pub(super) fn value_at(&self, s: u32, k: usize) -> Option<&str> {
        let i = s as usize;
        if self.state(i) != Some(2) {
            return None;
        }
        let Scratch {
            values,
            ranges,
            repeats,
            ..
        } = &*self.scratch;
        slot_value(self.program, values, ranges, repeats, i, k)
    }

    /// Whether value `k` of slot `s` is not a repeat of an earlier member (which answers
    /// for it); no slot, or one outside a group: never a repeat.
    pub(super) fn fresh(&self, s: Option<u32>, k: usize) -> bool {
        let Some(s) = s else {
            return true;
        };
        let group = self.program.slot_group.get(s as usize).copied().flatten();
        match group.and_then(|g| self.scratch.repeats.get(g as usize)) {
            Some(walk) => match position(self.program, walk, s as usize, k) {
                Some(k) => walk.first(k).is_none_or(|f| f == k),
                None => true,
            },
            None => true,
        }
    }

    /// How many values a slot has (computing it first): 0 when absent.
    #[inline]
    pub(super) fn value_count(&mut self, s: u32) -> usize {
        self.compute_slot(s);
        let i = s as usize;
        if self.state(i) != Some(2) {
            return 0;
        }
        match self.program.slot_group.get(i).copied().flatten() {
            Some(g) => {
                let walk = self.scratch.repeats.get(g as usize);
                match self.program.slot_filter.get(i).copied().flatten() {
                    Some(j) => walk.map_or(0, |w| w.admitted(j.into()).len()),
                    None => walk.map_or(0, Repeats::count),
                }
            }
            None => self.scratch.ranges.get(i).map_or(0, Vec::len),
        }
    }

    pub(super) fn pred(&mut self, p: u32) -> bool {
        let program = self.program;
        match program.codes.get(p as usize) {
            Some(Code::Scan(slot)) => {
                self.compute_slot(*slot);
                self.scratch.bits.contains(PatternId::new(p))
            }
            Some(Code::Ip) => {
                self.ensure_ip();
                self.scratch.bits.contains(PatternId::new(p))
            }
            Some(Code::Direct(kind, _, Some(quick))) => self.quick(*quick, kind),
            Some(Code::Direct(kind, slots, None)) => self.direct(p, kind, *slots),
            Some(Code::SomeNot { slot, inner }) => self.some_not(*slot, *inner).is_some(),
            None => false,
        }
    }

    /// `lhs not op rhs`: the first value of `slot` (the inner predicate's, or `lhs`'s)
    /// that the inner predicate `inner` does not hold for; `None` when it holds for every
    /// value, or there is none.
    pub(super) fn some_not(&mut self, slot: u32, inner: Option<u32>) -> Option<usize> {
        let count = self.value_count(slot);
        let Some(p) = inner else {
            return (count > 0).then_some(0);
        };
        let program = self.program;
        match program.codes.get(p as usize)? {
            Code::Scan(_) => {
                let id = PatternId::new(p);
                // One value, or none matching: the slot's bits say it.
                if count <= 1 || !self.scratch.bits.contains(id) {
                    return (count > 0 && !self.scratch.bits.contains(id)).then_some(0);
                }
                // Several, some matching: each scanned alone until one does not.
                let scanner = program.scanners.get(slot as usize)?.as_ref()?;
                let Scratch {
                    values,
                    ranges,
                    scan,
                    one_hits,
                    repeats,
                    ..
                } = &mut *self.scratch;
                let sc = scan.get_mut(slot as usize)?.as_mut()?;
                (0..count).find(|&k| {
                    let value = slot_value(program, values, ranges, repeats, slot as usize, k);
                    one_hits.remove(id);
                    scanner.scan(value.unwrap_or_default(), sc, one_hits);
                    !one_hits.contains(id)
                })
            }
            Code::Direct(kind, slots, _) => {
                if self.program.reads_body {
                    self.ensure_body();
                }
                (0..count).find(|&k| {
                    self.fresh(Some(slot), k) && !self.direct_one(p, kind, *slots, [k, 0])
                })
            }
            Code::Ip | Code::SomeNot { .. } => None,
        }
    }
}

/// Records slot `i`'s one value, `value` (absent unless `present`), and scans it when
/// present.
#[allow(clippy::too_many_arguments)] // the scratch's parts, borrowed apart by the callers
fn settle_single(
    program: &Program,
    i: usize,
    present: bool,
    value: &str,
    state: &mut [u8],
    ranges: &mut [Vec<(u32, u32)>],
    scan: &mut [Option<portcullis_match::ScanScratch>],
    bits: &mut portcullis_match::MatchSet,
) {
    if let Some(st) = state.get_mut(i) {
        *st = if present { 2 } else { 1 };
    }
    set_single(ranges, i, value.len());
    if present {
        if let (Some(Some(scanner)), Some(Some(sc))) = (program.scanners.get(i), scan.get_mut(i)) {
            scanner.scan(value, sc, bits);
        }
    }
}

/// Value `k` of slot `i`, computed: a group slot holds the values its chain changed, the
/// others are the members its group's walk keeps; a repeated member reads as its first
/// occurrence.
fn slot_value<'s>(
    program: &Program,
    values: &'s [String],
    ranges: &'s [Vec<(u32, u32)>],
    walks: &'s [Repeats],
    i: usize,
    k: usize,
) -> Option<&'s str> {
    match program.slot_group.get(i).copied().flatten() {
        Some(g) => {
            let walk = walks.get(g as usize)?;
            let k = walk.first(position(program, walk, i, k)?)?;
            match ranges.get(i)?.get(k) {
                Some(&(a, b)) if a != UNCHANGED => values.get(i)?.get(a as usize..b as usize),
                _ => walk.member(k),
            }
        }
        None => {
            let &(a, b) = ranges.get(i)?.get(k)?;
            values.get(i)?.get(a as usize..b as usize)
        }
    }
}

/// The position in its group's walk of value `k` of group slot `i`: the `k`-th member its
/// selection keeps, or the `k`-th member when it reads every one.
fn position(program: &Program, walk: &Repeats, i: usize, k: usize) -> Option<usize> {
    match program.slot_filter.get(i).copied().flatten() {
        Some(j) => walk.admitted(j.into()).get(k).map(|&p| p as usize),
        None => Some(k),
    }
}

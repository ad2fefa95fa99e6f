//! One request's evaluation: fields computed and scanned on demand, candidate rules walked
//! through their anchors, the rest evaluated directly.

use portcullis_match::body::ArgKind;
use portcullis_match::{normalize, PatternId};
use portcullis_rules::{CmpOp, Expr, Field, ListOp, PredKind, StrOp, Term, Transform, Type};

use crate::evidence::Evidence;
use crate::policy::MalformedChecks;
use crate::request::Request;

use super::body::{self, BodyFacts};
use super::select::NameFilter;
use super::terms::{base_arg, collection, compute, ip_of, set_single, Target};
use super::{Code, Formula, Program, Scratch, Source};

/// The term a predicate reads a field with several values through, as written: the first
/// such operand, inside `len`, `present` and the detectors.
fn written_operand(p: &PredKind) -> Option<&Term> {
    p.terms().into_iter().find_map(|t| {
        let t = match t {
            Term::Len(inner) | Term::Present(inner) | Term::Detect(_, inner) => inner,
            t => t,
        };
        (base_arg(t).is_some() || collection(t).is_some()).then_some(t)
    })
}

/// Calls `each` with every member of collection `of`, in order: the query's arguments,
/// then the body's (or their names, or the body's file names or their form fields); every
/// header field's value (or lowercased name); every cookie's value (or name). A selected
/// collection gives only the members whose name `filter` keeps. `line` and `arg` are
/// scratch.
#[allow(clippy::too_many_arguments)] // one walk shared by every caller, over split borrows
fn for_members(
    req: &Request<'_>,
    of: &Field,
    filter: Option<&NameFilter>,
    query: &str,
    body: &portcullis_match::body::BodyArgs,
    line: &mut String,
    arg: &mut String,
    each: &mut dyn FnMut(&str),
) {
    let keeps = |name: &str| filter.is_none_or(|f| f.keeps(name));
    let (of, _) = of.selected();
    match of {
        Field::Headers | Field::HeaderNames => {
            req.headers.for_all(&mut |n, v| {
                if !keeps(n) {
                    return;
                }
                arg.clear();
                if *of == Field::HeaderNames {
                    arg.push_str(n);
                    arg.make_ascii_lowercase();
                } else {
                    normalize::push_bytes_lossy(v, arg);
                }
                each(arg);
            });
        }
        Field::Cookies | Field::CookieNames => {
            req.headers.for_each("cookie", &mut |v| {
                line.clear();
                normalize::push_bytes_lossy(v, line);
                for (name, value) in normalize::cookies(line) {
                    if !keeps(name) {
                        continue;
                    }
                    arg.clear();
                    arg.push_str(if *of == Field::CookieNames {
                        name
                    } else {
                        value
                    });
                    each(arg);
                }
            });
        }
        _ => {
            let names = matches!(
                of,
                Field::ArgNames | Field::QueryArgNames | Field::BodyArgNames | Field::FileFields
            );
            let query_too = matches!(
                of,
                Field::Args | Field::ArgNames | Field::QueryArgs | Field::QueryArgNames
            );
            if query_too {
                for pair in query.split('&').filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    arg.clear();
                    if names {
                        normalize::percent_decode_into(k, true, arg);
                        if !keeps(arg) {
                            continue;
                        }
                    } else {
                        if filter.is_some() {
                            line.clear();
                            normalize::percent_decode_into(k, true, line);
                            if !keeps(line) {
                                continue;
                            }
                        }
                        normalize::percent_decode_into(v, true, arg);
                    }
                    each(arg);
                }
            }
            let want = match of {
                Field::Files | Field::FileFields => ArgKind::File,
                Field::PartHeaders => ArgKind::PartHeader,
                Field::XmlText => ArgKind::XmlText,
                Field::XmlAttrs => ArgKind::XmlAttr,
                Field::QueryArgs | Field::QueryArgNames => return,
                _ => ArgKind::Field,
            };
            for (kind, n, v) in body.iter() {
                if kind == want && keeps(n) {
                    arg.clear();
                    arg.push_str(if names { n } else { v });
                    each(arg);
                }
            }
        }
    }
}

/// A request's values as an interpreted test reads them, from the evaluation's buffers.
struct RunValues<'x, 'a, 'r>(std::cell::RefCell<&'x mut Run<'a, 'r>>);

impl portcullis_rules::Values for RunValues<'_, '_, '_> {
    fn each(&self, f: &Field, each: &mut dyn FnMut(&str, &str)) {
        self.0.borrow_mut().values_of(f, each);
    }
}

/// One request's evaluation over a program.
pub(crate) struct Run<'a, 'r> {
    program: &'a Program,
    scratch: &'a mut Scratch,
    req: &'a Request<'r>,
    preflight: bool,
    /// The request target, split on first use.
    target: Option<Target<'r>>,
}

impl<'a, 'r> Run<'a, 'r> {
    pub(crate) fn new(
        program: &'a Program,
        scratch: &'a mut Scratch,
        req: &'a Request<'r>,
        preflight: bool,
    ) -> Self {
        Run {
            program,
            scratch,
            req,
            preflight,
            target: None,
        }
    }

    fn target(&mut self) -> Target<'r> {
        *self.target.get_or_insert_with(|| {
            let (path, query) = normalize::split_target(self.req.uri);
            Target {
                path,
                query,
                style: self.program.path_style,
                body: BodyFacts::default(),
                max_body_bytes: self.program.body.limits.max_bytes,
            }
        })
    }

    /// The target with the body fields: the body is read first (once per request).
    fn target_with_body(&mut self) -> Target<'r> {
        self.ensure_body();
        let mut t = self.target();
        t.body = self.scratch.body_facts;
        t
    }

    /// The target, with the body fields when field `of` reads the body.
    fn target_for(&mut self, of: &Field) -> Target<'r> {
        if of.reads_body() {
            self.target_with_body()
        } else {
            self.target()
        }
    }

    /// Reads the body into the scratch, on the first rule that reads a body field.
    fn ensure_body(&mut self) {
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
        loop {
            let next = next_bit(&self.scratch.candidates, from, self.program.rule_count);
            // Scan every source whose first anchored rule comes before that candidate: its
            // matches may add earlier candidates.
            match self.program.pending.get(self.scratch.next_pending) {
                Some(&(first, src)) if next.is_none_or(|n| first as usize <= n) => {
                    self.scratch.next_pending += 1;
                    self.add_anchored(src);
                }
                _ => return next,
            }
        }
    }

    fn matches(&mut self, i: usize) -> bool {
        match self.program.formulas.get(i) {
            Some(f) => self.formula(f),
            None => false,
        }
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
    fn add_anchored(&mut self, src: Source) {
        let (lo, hi) = match src {
            Source::Ip => {
                self.ensure_ip();
                self.program.ip_preds
            }
            Source::Args => {
                self.ensure_args();
                self.program.arg_preds
            }
            Source::Slot(s) => {
                self.ensure_slot(s);
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
        for p in bits.iter_range(PatternId::new(lo), PatternId::new(hi)) {
            if let Some(rules) = self.program.anchored.get(p.as_usize()) {
                for &r in rules {
                    if let Some(w) = candidates.get_mut(r as usize / 64) {
                        *w |= 1 << (r % 64);
                    }
                }
            }
        }
    }

    /// Fills every `arg["name"]` slot in one pass over the query string, and scans each.
    /// A repeated argument gives its slot one value per occurrence, each scanned, so a
    /// predicate holds when any value satisfies it.
    fn ensure_args(&mut self) {
        if self.scratch.args_done {
            return;
        }
        self.scratch.args_done = true;
        let target = self.target();
        self.ensure_body();
        let Scratch {
            values,
            ranges,
            tmp,
            state,
            scan,
            bits,
            body,
            ..
        } = &mut *self.scratch;
        for (_, slots) in &self.program.arg_slots {
            for &s in slots {
                if let (Some(v), Some(r)) = (values.get_mut(s as usize), ranges.get_mut(s as usize))
                {
                    v.clear();
                    r.clear();
                }
            }
        }
        let program = self.program;
        // Appends one value of argument `name` (written by `write`) to each of its slots,
        // and scans it there.
        let mut add = |name: &str, write: &mut dyn FnMut(&mut String)| {
            let Ok(at) = program
                .arg_slots
                .binary_search_by(|(n, _)| n.as_str().cmp(name))
            else {
                return;
            };
            let Some((_, slots)) = program.arg_slots.get(at) else {
                return;
            };
            for &s in slots {
                let i = s as usize;
                let (Some(buf), Some(r), Some(st)) =
                    (values.get_mut(i), ranges.get_mut(i), state.get_mut(i))
                else {
                    continue;
                };
                let start = buf.len();
                write(buf);
                r.push((start as u32, buf.len() as u32));
                *st = 2;
                if let (Some(Some(scanner)), Some(Some(sc)), Some(value)) =
                    (program.scanners.get(i), scan.get_mut(i), buf.get(start..))
                {
                    scanner.scan(value, sc, bits);
                }
            }
        };
        for pair in target.query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let name = if k.bytes().any(|b| b == b'%' || b == b'+') {
                tmp.clear();
                normalize::percent_decode_into(k, true, tmp);
                tmp.as_str()
            } else {
                k
            };
            add(name, &mut |buf| {
                normalize::percent_decode_into(v, true, buf)
            });
        }
        // Then the body's arguments, read (once) when a rule reads a body field.
        for (kind, name, value) in body.iter() {
            if kind == ArgKind::Field {
                add(name, &mut |buf| buf.push_str(value));
            }
        }
        for (_, slots) in &self.program.arg_slots {
            for &s in slots {
                if let Some(st @ 0) = state.get_mut(s as usize) {
                    *st = 1;
                }
            }
        }
    }

    /// Computes a term over an argument (`lower(arg["q"])`) once per value of the
    /// argument, scanning each.
    fn fill_arg_term(&mut self, i: usize, name: &str) -> Option<()> {
        self.fill_values(i, |query, body, tmp, arg, each| {
            let mut pairs = normalize::QueryArgs::new(query);
            while pairs.next_value(name, tmp, arg) {
                each(arg);
            }
            for (kind, n, v) in body.iter() {
                if kind == ArgKind::Field && n == name {
                    arg.clear();
                    arg.push_str(v);
                    each(arg);
                }
            }
        })
    }

    /// Computes a term over a collection (`args`, `lower(arg_names)`…) once per member,
    /// scanning each.
    fn fill_members(&mut self, i: usize, of: &Field) -> Option<()> {
        let req = self.req;
        let filter = self.program.selections.of(of);
        self.fill_values(i, |query, body, line, arg, each| {
            for_members(req, of, filter, query, body, line, arg, each);
        })
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
                each(&of.to_string(), &out);
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

    /// Calls `each` with every member of collection `of` (after its selection).
    fn walk(&mut self, of: &Field, each: &mut dyn FnMut(&str)) {
        let target = self.target_for(of);
        let program = self.program;
        let Scratch { body, tmp, arg, .. } = &mut *self.scratch;
        let filter = program.selections.of(of);
        for_members(self.req, of, filter, target.query, body, tmp, arg, each);
    }

    /// How many members collection `of` has (after its selection), for `count(of)`.
    fn count(&mut self, of: &Field) -> i64 {
        let mut n = 0i64;
        self.walk(of, &mut |_| n += 1);
        n
    }

    /// Fills every slot of group `g` (the terms over one collection) in one walk over the
    /// collection's members. A member every chain of the group leaves unchanged (most are:
    /// no `%`, no `&`, no `\\`…) is scanned once, by the group's merged scanner, and each
    /// slot takes the matches of its own patterns; the others are computed and scanned slot
    /// by slot, as `fill_members` does.
    fn fill_group(&mut self, g: usize) -> Option<()> {
        let program = self.program;
        let group = program.groups.get(g)?;
        let target = self.target_for(&group.of);
        let req = self.req;
        let Scratch {
            values,
            ranges,
            tmp,
            tmp2,
            arg,
            one,
            state,
            scan,
            bits,
            body,
            held,
            group_scan,
            group_hits,
            ..
        } = &mut *self.scratch;
        for &s in &group.slots {
            if let (Some(v), Some(r)) = (values.get_mut(s as usize), ranges.get_mut(s as usize)) {
                v.clear();
                r.clear();
            }
        }
        let mut gsc = group_scan.get_mut(g).and_then(Option::as_mut);
        let hits = group_hits.get_mut(g)?;
        let mut each = |member: &str| {
            // Which of the group's functions would change this member.
            let changes = Transform::changing(member.as_bytes(), group.used);
            let shared = match (&group.merged, gsc.as_deref_mut()) {
                (Some(merged), Some(sc)) if group.chains.iter().any(|&c| c & changes == 0) => {
                    hits.clear();
                    merged.scan(member, sc, hits);
                    true
                }
                _ => false,
            };
            let any_hit = shared && !hits.is_empty();
            for (k, (&s, &chain)) in group.slots.iter().zip(&group.chains).enumerate() {
                let i = s as usize;
                let scanner = program.scanners.get(i).and_then(Option::as_ref);
                if chain & changes != 0 {
                    // The value: the parent slot's for this member (its last) with one more
                    // function, or the chain computed whole.
                    one.clear();
                    let parent = group.parents.get(k).copied().flatten().and_then(|(p, f)| {
                        let ps = *group.slots.get(p)? as usize;
                        let &(a, b) = ranges.get(ps)?.last()?;
                        Some((values.get(ps)?.get(a as usize..b as usize)?, f))
                    });
                    match parent {
                        Some((value, f)) => {
                            let mut bytes = std::mem::take(tmp2).into_bytes();
                            bytes.clear();
                            f.apply(value, one, &mut bytes);
                            bytes.clear();
                            *tmp2 = String::from_utf8(bytes).unwrap_or_default();
                        }
                        None => {
                            let Some(term) = program.slots.get(i) else {
                                continue;
                            };
                            compute(term, req, target, Some(member), one, tmp2, held);
                        }
                    }
                }
                let (Some(buf), Some(r)) = (values.get_mut(i), ranges.get_mut(i)) else {
                    continue;
                };
                let start = buf.len();
                if chain & changes == 0 {
                    buf.push_str(member);
                    r.push((start as u32, buf.len() as u32));
                    if shared {
                        if any_hit {
                            let (lo, hi) = program.slot_preds.get(i).copied().unwrap_or((0, 0));
                            for p in hits.iter_range(PatternId::new(lo), PatternId::new(hi)) {
                                bits.insert(p);
                            }
                        }
                        continue;
                    }
                    if let (Some(scanner), Some(Some(sc))) = (scanner, scan.get_mut(i)) {
                        scanner.scan(member, sc, bits);
                    }
                } else {
                    buf.push_str(one);
                    r.push((start as u32, buf.len() as u32));
                    if let (Some(scanner), Some(Some(sc))) = (scanner, scan.get_mut(i)) {
                        scanner.scan(one, sc, bits);
                    }
                }
            }
        };
        let filter = program.selections.of(&group.of);
        for_members(
            req,
            &group.of,
            filter,
            target.query,
            body,
            tmp,
            arg,
            &mut each,
        );
        for &s in &group.slots {
            let i = s as usize;
            let present = ranges.get(i).is_some_and(|r| !r.is_empty());
            if let Some(st) = state.get_mut(i) {
                *st = if present { 2 } else { 1 };
            }
        }
        Some(())
    }

    /// Fills slot `i` with the term's value of each member `members` gives (through
    /// `each`), scanning each.
    fn fill_values(
        &mut self,
        i: usize,
        members: impl FnOnce(
            &str,
            &portcullis_match::body::BodyArgs,
            &mut String,
            &mut String,
            &mut dyn FnMut(&str),
        ),
    ) -> Option<()> {
        // Only a term over the body reads it (not one over `headers` or `query_args`).
        let reads_body = self
            .program
            .slots
            .get(i)
            .and_then(Term::field)
            .is_some_and(Field::reads_body);
        let target = if reads_body {
            self.target_with_body()
        } else {
            self.target()
        };
        let term = self.program.slots.get(i)?;
        let Scratch {
            values,
            ranges,
            tmp,
            tmp2,
            arg,
            one,
            state,
            scan,
            bits,
            body,
            held,
            ..
        } = &mut *self.scratch;
        let (buf, r) = (values.get_mut(i)?, ranges.get_mut(i)?);
        buf.clear();
        r.clear();
        let scanner = self.program.scanners.get(i).and_then(Option::as_ref);
        let mut sc = scan.get_mut(i).and_then(Option::as_mut);
        let req = self.req;
        let mut each = |member: &str| {
            one.clear();
            compute(term, req, target, Some(member), one, tmp2, held);
            let start = buf.len();
            buf.push_str(one);
            r.push((start as u32, buf.len() as u32));
            if let (Some(scanner), Some(sc)) = (scanner, sc.as_deref_mut()) {
                scanner.scan(one, sc, bits);
            }
        };
        members(target.query, body, tmp, arg, &mut each);
        *state.get_mut(i)? = if r.is_empty() { 1 } else { 2 };
        Some(())
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
        let i = s as usize;
        if self.scratch.state.get(i).copied()? == 0 {
            let slot_term = self.program.slots.get(i)?;
            match slot_term {
                Term::Field(Field::Arg(_)) => self.ensure_args(),
                t if base_arg(t).is_some() => {
                    let name = base_arg(t).unwrap_or_default();
                    self.fill_arg_term(i, name);
                }
                t if collection(t).is_some() => match self.program.slot_group.get(i) {
                    Some(&Some(g)) => {
                        self.fill_group(g as usize);
                    }
                    _ => {
                        if let Some(of) = collection(t) {
                            self.fill_members(i, of);
                        }
                    }
                },
                Term::PathSegment(n) => {
                    let n = *n;
                    let path_slot = self.program.path_slot?;
                    self.ensure_slot(path_slot);
                    let Scratch {
                        values,
                        ranges,
                        state,
                        scan,
                        bits,
                        ..
                    } = &mut *self.scratch;
                    let mut buf = std::mem::take(values.get_mut(i)?);
                    buf.clear();
                    let segment = values
                        .get(path_slot as usize)
                        .and_then(|p| normalize::path_segment(p, n));
                    let present = segment.is_some();
                    buf.push_str(segment.unwrap_or(""));
                    state[i] = if present { 2 } else { 1 };
                    set_single(ranges, i, buf.len());
                    if present {
                        if let (Some(Some(scanner)), Some(Some(sc))) =
                            (self.program.scanners.get(i), scan.get_mut(i))
                        {
                            scanner.scan(&buf, sc, bits);
                        }
                    }
                    *values.get_mut(i)? = buf;
                }
                _ => {}
            }
        }
        if self.scratch.state.get(i).copied()? == 0 {
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
            state[i] = if present { 2 } else { 1 };
            set_single(ranges, i, buf.len());
            if present {
                if let (Some(Some(scanner)), Some(Some(sc))) =
                    (self.program.scanners.get(i), scan.get_mut(i))
                {
                    scanner.scan(buf, sc, bits);
                }
            }
        }
        self.value_at(s, 0)
    }

    /// The `k`-th value of a computed slot (`None` past the last, or when absent).
    fn value_at(&self, s: u32, k: usize) -> Option<&str> {
        let i = s as usize;
        if self.scratch.state.get(i) != Some(&2) {
            return None;
        }
        let &(a, b) = self.scratch.ranges.get(i)?.get(k)?;
        self.scratch.values.get(i)?.get(a as usize..b as usize)
    }

    /// How many values a slot has (computing it first): 0 when absent.
    fn value_count(&mut self, s: u32) -> usize {
        match self.ensure_slot(s) {
            Some(_) => self.scratch.ranges.get(s as usize).map_or(0, Vec::len),
            None => 0,
        }
    }

    /// The value of each predicate of rule `i`'s condition `when`, in the order
    /// `Expr::visit_preds` visits them, as this program computes them: its formula mirrors
    /// the condition node for node, a predicate being a bit, its negation (`!=`) or a
    /// constant.
    pub(crate) fn pred_values(&mut self, i: usize, when: &Expr, out: &mut Vec<bool>) {
        if let Some(f) = self.program.formulas.get(i) {
            self.mirror(when, f, out);
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
        self.evidence_in(when, f)
    }

    fn evidence_in(&mut self, e: &Expr, f: &Formula) -> Option<Evidence> {
        match (e, f) {
            (Expr::Pred(pred), Formula::Pred(p)) => {
                let written = written_operand(&pred.kind)?;
                self.pred_evidence(*p, written)
            }
            (Expr::And(es), Formula::And(fs)) | (Expr::Or(es), Formula::Or(fs)) => {
                for (e, f) in es.iter().zip(fs.iter()) {
                    if let Some(found) = self.evidence_in(e, f) {
                        return Some(found);
                    }
                }
                None
            }
            _ => None,
        }
    }

    fn is_multi_slot(&self, s: u32) -> bool {
        self.program
            .slots
            .get(s as usize)
            .is_some_and(|t| base_arg(t).is_some() || collection(t).is_some())
    }

    fn pred_evidence(&mut self, p: u32, written: &Term) -> Option<Evidence> {
        let program = self.program;
        match program.codes.get(p as usize)? {
            Code::Scan(slot) => {
                let slot = *slot;
                if !self.is_multi_slot(slot) || !self.pred(p) {
                    return None;
                }
                // Each member scanned alone, to find one that sets the predicate's bit.
                let scanner = program.scanners.get(slot as usize)?.as_ref()?;
                let (mut sc, mut hits) = (scanner.scratch(), scanner.match_set());
                for k in 0..self.value_count(slot) {
                    hits.clear();
                    scanner.scan(self.value_at(slot, k)?, &mut sc, &mut hits);
                    if hits.contains(PatternId::new(p)) {
                        return self.evidence_at(slot, k, written);
                    }
                }
                None
            }
            Code::Direct(kind, slots) => {
                if matches!(kind, PredKind::Compare { op: CmpOp::Ne, .. }) {
                    return None;
                }
                let (side, slot) = slots
                    .iter()
                    .enumerate()
                    .find_map(|(j, s)| s.filter(|&s| self.is_multi_slot(s)).map(|s| (j, s)))?;
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
                        return self.evidence_at(slot, k, written);
                    }
                }
                None
            }
            Code::Ip => None,
            Code::SomeNot { slot, inner } => {
                let slot = *slot;
                if !self.is_multi_slot(slot) {
                    return None;
                }
                let k = self.some_not(slot, *inner)?;
                self.evidence_at(slot, k, written)
            }
        }
    }

    /// `lhs not op rhs`: the first value of `slot` (the inner predicate's, or `lhs`'s)
    /// that the inner predicate `inner` does not hold for; `None` when it holds for every
    /// value, or there is none.
    fn some_not(&mut self, slot: u32, inner: Option<u32>) -> Option<usize> {
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
                    ..
                } = &mut *self.scratch;
                let (buf, ranges) = (values.get(slot as usize)?, ranges.get(slot as usize)?);
                let sc = scan.get_mut(slot as usize)?.as_mut()?;
                ranges.iter().position(|&(a, b)| {
                    one_hits.remove(id);
                    scanner.scan(
                        buf.get(a as usize..b as usize).unwrap_or_default(),
                        sc,
                        one_hits,
                    );
                    !one_hits.contains(id)
                })
            }
            Code::Direct(kind, slots) => {
                if self.program.reads_body {
                    self.ensure_body();
                }
                (0..count).find(|&k| !self.direct_one(p, kind, *slots, [k, 0]))
            }
            Code::Ip | Code::SomeNot { .. } => None,
        }
    }

    /// The evidence of member `k` of a computed slot, for a predicate written on
    /// `written`: the slot's own term, or `lower(x)` compiled onto `x` (the lowered
    /// regex), whose value is the slot's lowercased.
    fn evidence_at(&mut self, slot: u32, k: usize, written: &Term) -> Option<Evidence> {
        let term = self.program.slots.get(slot as usize)?;
        let name = match base_arg(term) {
            Some(name) => name.to_string(),
            None => self.member_names(collection(term)?).into_iter().nth(k)?,
        };
        let mut value = self.value_at(slot, k)?.to_string();
        if matches!(written, Term::Func(Transform::Lower, inner) if **inner == *term) {
            value.make_ascii_lowercase();
        }
        Some(Evidence::new(written.to_string(), &name, &value))
    }

    /// The names of a collection's members (those its selection keeps), in the order
    /// `fill_members` gives its values.
    fn member_names(&mut self, of: &Field) -> Vec<String> {
        let mut names = Vec::new();
        let req = self.req;
        let filter = self.program.selections.of(of);
        let keeps = |name: &str| filter.is_none_or(|f| f.keeps(name));
        let (of, _) = of.selected();
        match of {
            Field::Headers | Field::HeaderNames => {
                req.headers.for_all(&mut |n, _| {
                    if keeps(n) {
                        names.push(n.to_string());
                    }
                });
            }
            Field::Cookies | Field::CookieNames => {
                let mut line = String::new();
                req.headers.for_each("cookie", &mut |v| {
                    line.clear();
                    normalize::push_bytes_lossy(v, &mut line);
                    names.extend(
                        normalize::cookies(&line)
                            .map(|(n, _)| n)
                            .filter(|n| keeps(n))
                            .map(str::to_string),
                    );
                });
            }
            _ => {
                let target = self.target_for(of);
                if matches!(
                    of,
                    Field::Args | Field::ArgNames | Field::QueryArgs | Field::QueryArgNames
                ) {
                    for pair in target.query.split('&').filter(|p| !p.is_empty()) {
                        let (k, _) = pair.split_once('=').unwrap_or((pair, ""));
                        let mut name = String::new();
                        normalize::percent_decode_into(k, true, &mut name);
                        if keeps(&name) {
                            names.push(name);
                        }
                    }
                }
                let want = match of {
                    Field::Files | Field::FileFields => Some(ArgKind::File),
                    Field::PartHeaders => Some(ArgKind::PartHeader),
                    Field::XmlText => Some(ArgKind::XmlText),
                    Field::XmlAttrs => Some(ArgKind::XmlAttr),
                    Field::QueryArgs | Field::QueryArgNames => None,
                    _ => Some(ArgKind::Field),
                };
                for (kind, n, _) in self.scratch.body.iter() {
                    if Some(kind) == want && keeps(n) {
                        names.push(n.to_string());
                    }
                }
            }
        }
        names
    }

    fn formula(&mut self, f: &Formula) -> bool {
        match f {
            Formula::Const(b) => *b,
            Formula::Pred(p) => self.pred(*p),
            Formula::Not(f) => !self.formula(f),
            Formula::And(fs) => fs.iter().all(|f| self.formula(f)),
            Formula::Or(fs) => fs.iter().any(|f| self.formula(f)),
        }
    }

    fn pred(&mut self, p: u32) -> bool {
        let program = self.program;
        match program.codes.get(p as usize) {
            Some(Code::Scan(slot)) => {
                self.ensure_slot(*slot);
                self.scratch.bits.contains(PatternId::new(p))
            }
            Some(Code::Ip) => {
                self.ensure_ip();
                self.scratch.bits.contains(PatternId::new(p))
            }
            Some(Code::Direct(kind, slots)) => self.direct(p, kind, *slots),
            Some(Code::SomeNot { slot, inner }) => self.some_not(*slot, *inner).is_some(),
            None => false,
        }
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

    /// The request's score `name` so far (0 when no rule added to it).
    fn score(&self, name: &str) -> i64 {
        let names = &self.program.score_names;
        names
            .binary_search_by(|n| n.as_str().cmp(name))
            .ok()
            .and_then(|i| self.scratch.scores.get(i).copied())
            .unwrap_or(0)
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

    fn int_of(&mut self, t: &Term, slot: Option<u32>, k: usize) -> Option<i64> {
        match t {
            Term::Int(n) => Some(*n),
            Term::Count(of) => Some(self.count(of)),
            Term::Field(Field::Score(name)) => Some(self.score(name)),
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
    fn direct(&mut self, id: u32, p: &PredKind, slots: [Option<u32>; 2]) -> bool {
        if self.program.reads_body {
            self.ensure_body();
        }
        let counts = slots.map(|s| s.map_or(1, |s| self.value_count(s).max(1)));
        let any =
            (0..counts[0]).any(|a| (0..counts[1]).any(|b| self.direct_one(id, p, slots, [a, b])));
        match p {
            PredKind::Compare { op: CmpOp::Ne, .. } => !any,
            _ => any,
        }
    }

    /// [`Run::direct`] on one value of each operand (`!=` read as `==`).
    fn direct_one(
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
                        let a = self.int_of(lhs, slots[0], k[0]);
                        let b = self.int_of(rhs, slots[1], k[1]);
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

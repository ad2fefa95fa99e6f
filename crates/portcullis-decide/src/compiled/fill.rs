//! Filling the slots that hold several values: every `arg["name"]` in one pass over the
//! query, a term over an argument once per value, a term over a collection once per
//! member, and a group of terms over one collection in one walk.

use portcullis_match::body::ArgKind;
use portcullis_match::{normalize, PatternId};
use portcullis_rules::{Field, Term, Transform};

use super::members::{for_members, Admit};
use super::repeats::{Added, UNCHANGED};
use super::terms::compute;
use super::{Run, Scratch};

impl Run<'_, '_> {
    /// Fills every `arg["name"]` slot in one pass over the query string, and scans each.
    /// A repeated argument gives its slot one value per occurrence, each scanned, so a
    /// predicate holds when any value satisfies it.
    pub(super) fn ensure_args(&mut self) {
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
    pub(super) fn fill_arg_term(&mut self, i: usize, name: &str) -> Option<()> {
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

    /// Fills every slot of group `g` (the terms over one collection, or one field) in one
    /// walk over the members. A member every chain of the group leaves unchanged (most are:
    /// no `%`, no `&`, no `\\`…) is scanned once, by the group's merged scanner, and each
    /// slot takes the matches of its own patterns; the others are computed and scanned slot
    /// by slot, each from its parent chain's value. A slot stores only the values its chain
    /// changed (at the member's position; `UNCHANGED` before): the rest are the members,
    /// which the group's walk keeps. A member equal to an earlier one is that one again.
    pub(super) fn fill_group(&mut self, g: usize) -> Option<()> {
        let program = self.program;
        let group = program.groups.get(g)?;
        // Over a header the request lacks, or the body's members without a body: no
        // member, known without a walk.
        if group.origin.is_some_and(|o| self.lacks(o)) {
            self.scratch.repeats.get_mut(g)?.start();
            *self.scratch.group_state.get_mut(g)? = 1;
            return Some(());
        }
        let target = if group.reads_body {
            self.target_with_body()
        } else {
            self.target()
        };
        let req = self.req;
        let Scratch {
            values,
            ranges,
            tmp,
            tmp2,
            arg,
            one,
            group_state,
            scan,
            bits,
            body,
            headers,
            held,
            group_scan,
            group_hits,
            repeats,
            written,
            bytes,
            memo,
            member_hits,
            ..
        } = &mut *self.scratch;
        let walk = repeats.get_mut(g)?;
        let (lo, hi) = program.group_preds.get(g).copied().unwrap_or((0, 0));
        let (lo, hi) = (PatternId::new(lo), PatternId::new(hi));
        walk.start();
        // A single field's one member cannot repeat: it is kept without looking it up.
        let single = !group.of.is_multi();
        let mut gsc = group_scan.get_mut(g).and_then(Option::as_mut);
        let hits = group_hits.get_mut(g)?;
        let written = written.get_mut(g)?;
        // `mask`: the slots' selections that keep the member (see `Admit`).
        let mut each = |member: &str, mask: u64| {
            let at = if single {
                walk.push(member)
            } else {
                let Added::New(at) = walk.add(member, mask) else {
                    return;
                };
                at
            };
            // The slots keep the last walk's values until the group has a member (an absent
            // one's are never read: its walk has no member).
            if at == 0 {
                for s in written.drain(..) {
                    if let (Some(v), Some(r)) =
                        (values.get_mut(s as usize), ranges.get_mut(s as usize))
                    {
                        v.clear();
                        r.clear();
                    }
                }
            }
            let key = memo.key(g, member, walk.last_hash());
            if let Some(known) = key.and_then(|h| memo.find(h, g, mask, member)) {
                for (k, value) in known.values() {
                    let i = group.slots.get(k).copied().unwrap_or(u32::MAX) as usize;
                    if let (Some(buf), Some(r)) = (values.get_mut(i), ranges.get_mut(i)) {
                        push_at(buf, r, at, value, written, i);
                    }
                }
                for &p in known.hits() {
                    bits.insert(PatternId::new(lo.as_u32().saturating_add(p)));
                }
                return;
            }
            // This member's matches, apart from the other members': a scanner skips the
            // patterns already in the set it writes to, so only a set of its own holds all
            // of them, to remember it with.
            member_hits.clear_range(lo, hi);
            // Which of the group's functions would change this member.
            let changes = Transform::changing(member.as_bytes(), group.used);
            let admitted = |k: usize| group.admits.get(k).is_some_and(|&a| a & mask != 0);
            let shared = match (&group.merged, gsc.as_deref_mut()) {
                (Some(merged), Some(sc))
                    if (group.chains.iter().enumerate())
                        .any(|(k, &c)| c & changes == 0 && admitted(k)) =>
                {
                    hits.clear();
                    merged.scan(member, sc, hits);
                    true
                }
                _ => false,
            };
            if shared {
                // Each match goes to its slot, when that slot reads the member as it is.
                for p in hits.iter_range(lo, hi) {
                    let at = p.as_u32().checked_sub(lo.as_u32());
                    let owner = at.and_then(|at| group.owners.get(at as usize));
                    let k = owner.map_or(usize::MAX, |&k| usize::from(k));
                    if admitted(k) && group.chains.get(k).is_some_and(|&c| c & changes == 0) {
                        member_hits.insert(p);
                    }
                }
            }
            for (k, (&s, &chain)) in group.slots.iter().zip(&group.chains).enumerate() {
                let i = s as usize;
                if !admitted(k) {
                    continue;
                }
                if chain & changes == 0 {
                    // The member as it is: nothing to store, scanned already when shared.
                    if !shared && !twin_answered(program, group, k, member_hits) {
                        if let (Some(Some(scanner)), Some(Some(sc))) =
                            (program.scanners.get(i), scan.get_mut(i))
                        {
                            scanner.scan(member, sc, member_hits);
                        }
                    }
                    continue;
                }
                // The value: the parent slot's for this member with one more function, or
                // the chain computed whole.
                one.clear();
                let mut as_parent = false;
                let parent = group.parents.get(k).copied().flatten().and_then(|(p, f)| {
                    let ps = *group.slots.get(p)? as usize;
                    let value = match ranges.get(ps)?.get(at) {
                        Some(&(a, b)) if a != UNCHANGED => {
                            values.get(ps)?.get(a as usize..b as usize)?
                        }
                        _ => member,
                    };
                    Some((value, f))
                });
                match parent {
                    Some((value, f)) => {
                        f.apply(value, one, bytes);
                        as_parent = one == value;
                    }
                    None => {
                        let Some(term) = program.slots.get(i) else {
                            continue;
                        };
                        compute(term, req, target, Some(member), one, tmp2, held);
                    }
                }
                let (Some(buf), Some(r)) = (values.get_mut(i), ranges.get_mut(i)) else {
                    continue;
                };
                push_at(buf, r, at, one, written, i);
                if as_parent && twin_answered(program, group, k, member_hits) {
                    continue;
                }
                if let (Some(Some(scanner)), Some(Some(sc))) =
                    (program.scanners.get(i), scan.get_mut(i))
                {
                    scanner.scan(one, sc, member_hits);
                }
            }
            for p in member_hits.iter_range(lo, hi) {
                bits.insert(p);
            }
            if let Some(h) = key {
                // The values a predicate reads: one only scanned is not read again (see
                // `Program::kept`).
                let changed = group.slots.iter().zip(&group.chains).enumerate();
                let changed = changed.filter(|&(k, (&s, &chain))| {
                    chain & changes != 0
                        && admitted(k)
                        && program.kept.get(s as usize) == Some(&true)
                });
                memo.learn(
                    h,
                    g,
                    mask,
                    member,
                    changed.filter_map(|(k, (&s, _))| {
                        let &(a, b) = ranges.get(s as usize)?.get(at)?;
                        let value = values.get(s as usize)?.get(a as usize..b as usize)?;
                        Some((k, value))
                    }),
                    member_hits
                        .iter_range(lo, hi)
                        .map(|p| p.as_u32() - lo.as_u32()),
                );
            }
        };
        if !single {
            let admit = Admit {
                selections: &program.selections,
                filters: &group.filters,
                all: group.all,
                shared: group.shared.as_ref(),
            };
            for_members(
                req,
                &group.of,
                admit,
                target.query,
                body,
                headers,
                tmp,
                arg,
                &mut each,
            );
        } else {
            // A single field: its value, when present, is the one member.
            arg.clear();
            let mut unused = String::new();
            if compute(&group.base, req, target, None, arg, tmp, &mut unused) {
                each(arg, Admit::ALL);
            }
        }
        if let Some(st) = group_state.get_mut(g) {
            *st = if walk.count() > 0 { 2 } else { 1 };
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
}

/// Adds value `value` of the member at position `at` to group slot `i`'s values, the
/// members before it that its chain left unchanged marked so; a slot's first value puts
/// it among the `written`.
fn push_at(
    buf: &mut String,
    r: &mut Vec<(u32, u32)>,
    at: usize,
    value: &str,
    written: &mut Vec<u32>,
    i: usize,
) {
    if r.is_empty() {
        written.push(i as u32);
    }
    if r.len() < at {
        r.resize(at, (UNCHANGED, 0));
    }
    let start = buf.len();
    buf.push_str(value);
    r.push((start as u32, buf.len() as u32));
}

/// Whether slot `k` of `group`, given its parent's value, need not be scanned: its parent
/// scans the very same patterns (see `Group::twin_parents`) and matched nothing in this
/// member (`bits`: the member's own matches), so the same value matches nothing either.
fn twin_answered(
    program: &super::Program,
    group: &super::Group,
    k: usize,
    bits: &portcullis_match::MatchSet,
) -> bool {
    group
        .twin_parents
        .get(k)
        .copied()
        .flatten()
        .is_some_and(|p| {
            let (lo, hi) = program
                .slot_preds
                .get(p as usize)
                .copied()
                .unwrap_or((0, 0));
            bits.iter_range(PatternId::new(lo), PatternId::new(hi))
                .next()
                .is_none()
        })
}

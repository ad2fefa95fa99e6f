//! Anchors: the scanned predicates through which a rule is found. A rule whose condition
//! implies one of a set of scanned predicates needs evaluating only when one of their bits
//! is set, so rules are reached through the matches instead of one by one.

use std::collections::HashMap;

use super::{Code, Formula, Source};

/// Which rules each predicate anchors, and where the walk must scan what.
pub(super) struct Anchors {
    /// For each predicate: the rules it anchors (ascending).
    pub(super) anchored: Vec<Box<[u32]>>,
    /// Rules without an anchor, as a bit set: always candidates.
    pub(super) unanchored: Vec<u64>,
    /// Sources in order of the first rule they anchor.
    pub(super) pending: Vec<(u32, Source)>,
}

/// The anchors of every rule's formula.
pub(super) fn anchors(
    formulas: &[Formula],
    codes: &[Code],
    arg_slot: &[bool],
    slot_group: &[Option<u32>],
) -> Anchors {
    let mut anchored: Vec<Vec<u32>> = vec![Vec::new(); codes.len()];
    let mut unanchored = vec![0u64; formulas.len().div_ceil(64)];
    let mut first_rule: HashMap<Source, u32> = HashMap::new();
    for (r, f) in formulas.iter().enumerate() {
        // A rule is reached only after every source it is anchored on was scanned:
        // each source is scanned when the walk reaches its first anchored rule.
        match anchor(f, codes, arg_slot, slot_group) {
            Some(anchors) => {
                for (src, p) in anchors {
                    if let Some(v) = anchored.get_mut(p as usize) {
                        v.push(r as u32);
                    }
                    first_rule.entry(src).or_insert(r as u32);
                }
            }
            None => unanchored[r / 64] |= 1 << (r % 64),
        }
    }
    let anchored: Vec<Box<[u32]>> = anchored
        .into_iter()
        .map(|mut v| {
            v.dedup();
            v.into_boxed_slice()
        })
        .collect();
    let mut pending: Vec<(u32, Source)> = first_rule.into_iter().map(|(s, r)| (r, s)).collect();
    pending.sort();
    Anchors {
        anchored,
        unanchored,
        pending,
    }
}

/// Scanned predicates (with the source each comes from), at least one of which holds
/// whenever the formula holds: the rule need only be evaluated when one of their bits is set.
fn anchor(
    f: &Formula,
    codes: &[Code],
    arg_slot: &[bool],
    slot_group: &[Option<u32>],
) -> Option<Vec<(Source, u32)>> {
    let anchor = |f: &Formula| anchor(f, codes, arg_slot, slot_group);
    match f {
        Formula::Pred(p) => match codes.get(*p as usize)? {
            Code::Scan(slot) if arg_slot.get(*slot as usize) == Some(&true) => {
                Some(vec![(Source::Args, *p)])
            }
            // A group's slots are filled in one walk: one source.
            Code::Scan(slot) => match slot_group.get(*slot as usize).copied().flatten() {
                Some(g) => Some(vec![(Source::Group(g), *p)]),
                None => Some(vec![(Source::Slot(*slot), *p)]),
            },
            Code::Ip => Some(vec![(Source::Ip, *p)]),
            Code::Direct(..) | Code::SomeNot { .. } => None,
        },
        // Any conjunct's anchor will do: take the one touching the fewest sources.
        Formula::And(fs) => fs.iter().filter_map(anchor).min_by_key(|a| {
            let mut srcs: Vec<Source> = a.iter().map(|(s, _)| *s).collect();
            srcs.sort();
            srcs.dedup();
            (srcs.len(), a.len())
        }),
        // Every disjunct needs one.
        Formula::Or(fs) => fs.iter().map(anchor).try_fold(Vec::new(), |mut acc, a| {
            acc.extend(a?);
            Some(acc)
        }),
        Formula::Const(_) | Formula::Not(_) => None,
    }
}

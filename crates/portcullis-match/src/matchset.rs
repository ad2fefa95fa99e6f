//! Pattern ids and the growable bitset of them a scan fills.

use std::fmt;

/// The id of a pattern given to a [`ScannerBuilder`]: the bit a match sets in a
/// [`MatchSet`]. The caller numbers its patterns (several may share an id, the bit is
/// set if any matches); a set's memory grows with the largest id, so number densely
/// from 0.
///
/// [`ScannerBuilder`]: crate::ScannerBuilder
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct PatternId(u32);

impl PatternId {
    /// The id numbered `id`.
    #[must_use]
    pub const fn new(id: u32) -> Self {
        PatternId(id)
    }

    /// The number.
    #[must_use]
    pub const fn as_u32(self) -> u32 {
        self.0
    }

    /// The number, as an index.
    #[must_use]
    pub const fn as_usize(self) -> usize {
        self.0 as usize
    }
}

impl From<u32> for PatternId {
    fn from(id: u32) -> Self {
        PatternId(id)
    }
}

impl fmt::Display for PatternId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A set of [`PatternId`]s (set by a [`Scanner`]), as a bitset.
///
/// Size it once with [`MatchSet::new`] (or [`Scanner::match_set`]) and reuse
/// it: [`clear`](MatchSet::clear) keeps the memory, and
/// [`insert`](MatchSet::insert) allocates only for an id beyond the capacity.
///
/// [`Scanner`]: crate::Scanner
/// [`Scanner::match_set`]: crate::Scanner::match_set
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct MatchSet {
    words: Vec<u64>,
}

impl MatchSet {
    /// An empty set with room for ids `0..capacity_ids` without allocating.
    #[must_use]
    pub fn new(capacity_ids: usize) -> Self {
        MatchSet {
            words: vec![0; capacity_ids.div_ceil(64)],
        }
    }

    /// Adds `id`; returns whether it was absent. Grows the set if `id` is
    /// beyond its capacity.
    #[inline]
    pub fn insert(&mut self, id: PatternId) -> bool {
        let (word, bit) = split(id);
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        match self.words.get_mut(word) {
            Some(w) => {
                let absent = *w & bit == 0;
                *w |= bit;
                absent
            }
            None => false,
        }
    }

    /// Removes `id`; returns whether it was present.
    #[inline]
    pub fn remove(&mut self, id: PatternId) -> bool {
        let (word, bit) = split(id);
        match self.words.get_mut(word) {
            Some(w) => {
                let present = *w & bit != 0;
                *w &= !bit;
                present
            }
            None => false,
        }
    }

    /// Whether `id` is in the set.
    #[inline]
    #[must_use]
    pub fn contains(&self, id: PatternId) -> bool {
        let (word, bit) = split(id);
        self.words.get(word).is_some_and(|w| w & bit != 0)
    }

    /// Empties the set, keeping its capacity.
    #[inline]
    pub fn clear(&mut self) {
        // An empty slice would still cost a call to memset.
        if !self.words.is_empty() {
            self.words.fill(0);
        }
    }

    /// Whether the set is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// Number of ids in the set.
    #[must_use]
    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Ids the set holds without allocating.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.words.len() * 64
    }

    /// Adds every id of `other`.
    pub fn union_with(&mut self, other: &MatchSet) {
        if other.words.len() > self.words.len() {
            self.words.resize(other.words.len(), 0);
        }
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a |= b;
        }
    }

    /// The ids, ascending.
    pub fn iter(&self) -> impl Iterator<Item = PatternId> + '_ {
        self.iter_range(PatternId(0), PatternId(u32::MAX))
    }
}

impl MatchSet {
    /// The ids in `lo..hi`, ascending, visiting only the words of that range.
    #[must_use]
    pub fn iter_range(&self, lo: PatternId, hi: PatternId) -> RangeIds<'_> {
        let end =
            hi.0.min(u32::try_from(self.words.len() * 64).unwrap_or(u32::MAX));
        let first = (lo.0 / 64) as usize;
        // The first word without the ids below `lo`; an empty range reads no word.
        let word = match self.words.get(first) {
            Some(w) if lo.0 < end => w & (u64::MAX << (lo.0 % 64)),
            _ => 0,
        };
        RangeIds {
            words: &self.words,
            next: first + 1,
            last: (end.saturating_sub(1) / 64) as usize,
            base: (first as u32).wrapping_mul(64),
            word,
            end,
        }
    }
}

/// The ids of a [`MatchSet`] in a range, ascending ([`MatchSet::iter_range`]).
#[derive(Clone, Debug)]
pub struct RangeIds<'a> {
    words: &'a [u64],
    /// The next word to read, and the last one of the range.
    next: usize,
    last: usize,
    /// The id of the current word's bit 0, its bits not yet given, and the range's end.
    base: u32,
    word: u64,
    end: u32,
}

impl Iterator for RangeIds<'_> {
    type Item = PatternId;

    #[inline]
    fn next(&mut self) -> Option<PatternId> {
        while self.word == 0 {
            if self.next > self.last {
                return None;
            }
            self.word = *self.words.get(self.next)?;
            self.base = (self.next as u32).wrapping_mul(64);
            self.next += 1;
        }
        let id = self.base + self.word.trailing_zeros();
        self.word &= self.word - 1;
        // Ids only grow: the first at or past the end ends the range.
        if id >= self.end {
            self.word = 0;
            self.next = self.last + 1;
            return None;
        }
        Some(PatternId(id))
    }
}

impl MatchSet {
    /// Removes the ids in `lo..hi`, visiting only the words of that range.
    pub fn clear_range(&mut self, lo: PatternId, hi: PatternId) {
        let (lo, hi) = (lo.0 as usize, hi.0 as usize);
        if lo >= hi {
            return;
        }
        let (first, last) = (lo / 64, (hi - 1) / 64);
        for (i, w) in self.words.iter_mut().enumerate().take(last + 1).skip(first) {
            let from = if i == first { lo % 64 } else { 0 };
            let to = if i == last { (hi - 1) % 64 + 1 } else { 64 };
            let width = to - from;
            let mask = if width == 64 {
                u64::MAX
            } else {
                ((1u64 << width) - 1) << from
            };
            *w &= !mask;
        }
    }
}

impl Extend<PatternId> for MatchSet {
    fn extend<I: IntoIterator<Item = PatternId>>(&mut self, iter: I) {
        for id in iter {
            self.insert(id);
        }
    }
}

impl FromIterator<PatternId> for MatchSet {
    fn from_iter<I: IntoIterator<Item = PatternId>>(iter: I) -> Self {
        let mut set = MatchSet::default();
        set.extend(iter);
        set
    }
}

#[inline]
fn split(id: PatternId) -> (usize, u64) {
    ((id.0 / 64) as usize, 1 << (id.0 % 64))
}

#[cfg(test)]
mod tests {
    use super::{MatchSet, PatternId};

    fn ids(set: &MatchSet) -> Vec<u32> {
        set.iter().map(PatternId::as_u32).collect()
    }

    /// `iter_range` gives the ids of the range `contains` holds, ascending.
    #[test]
    fn iter_range_gives_the_ids_contains_holds() {
        let sparse: MatchSet = [0u32, 1, 63, 64, 65, 127, 128, 200, 255, 299]
            .into_iter()
            .map(PatternId::new)
            .collect();
        let full: MatchSet = (0..300).map(PatternId::new).collect();
        for set in [&sparse, &full, &MatchSet::default()] {
            for lo in [0u32, 1, 5, 63, 64, 65, 127, 128, 200, 299, 300, 500] {
                for hi in [
                    0u32,
                    1,
                    6,
                    63,
                    64,
                    65,
                    128,
                    129,
                    250,
                    300,
                    301,
                    400,
                    u32::MAX,
                ] {
                    let fast: Vec<u32> = set
                        .iter_range(PatternId::new(lo), PatternId::new(hi))
                        .map(PatternId::as_u32)
                        .collect();
                    let naive: Vec<u32> = (lo..hi.min(1000))
                        .filter(|&i| set.contains(PatternId::new(i)))
                        .collect();
                    assert_eq!(fast, naive, "{lo}..{hi}");
                }
            }
        }
    }

    /// `clear_range` removes what removing each id of the range would, and nothing else.
    #[test]
    fn clear_range_removes_exactly_the_range() {
        let full: MatchSet = (0..300).map(PatternId::new).collect();
        for lo in [0u32, 1, 5, 63, 64, 65, 127, 128, 200] {
            for hi in [0u32, 1, 6, 63, 64, 65, 128, 129, 250, 300, 400] {
                let mut fast = full.clone();
                fast.clear_range(PatternId::new(lo), PatternId::new(hi));
                let mut naive = full.clone();
                for id in lo..hi {
                    naive.remove(PatternId::new(id));
                }
                assert_eq!(ids(&fast), ids(&naive), "{lo}..{hi}");
            }
        }
    }

    #[test]
    fn insert_contains_iter_clear() {
        let p = PatternId::new;
        let mut set = MatchSet::new(10);
        assert_eq!(set.capacity(), 64);
        assert!(set.insert(p(3)));
        assert!(!set.insert(p(3)));
        assert!(set.insert(p(200)));
        assert!(set.insert(p(63)));
        assert!(set.insert(p(64)));
        assert_eq!(ids(&set), [3, 63, 64, 200]);
        assert!(set.contains(p(200)) && !set.contains(p(201)) && !set.contains(p(u32::MAX)));
        assert_eq!(set.len(), 4);
        assert!(set.remove(p(63)) && !set.remove(p(63)) && !set.remove(p(9999)));
        set.clear();
        assert!(set.is_empty());
        assert_eq!(set.capacity(), 256);
    }

    #[test]
    fn grows_for_large_ids() {
        let mut set = MatchSet::default();
        set.insert(PatternId::new(100_000));
        assert_eq!(ids(&set), [100_000]);
    }
}

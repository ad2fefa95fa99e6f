//! A growable bitset of pattern ids.

/// A set of small `u32` ids (pattern ids set by a [`Scanner`]), as a bitset.
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
    pub fn insert(&mut self, id: u32) -> bool {
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
    pub fn remove(&mut self, id: u32) -> bool {
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
    pub fn contains(&self, id: u32) -> bool {
        let (word, bit) = split(id);
        self.words.get(word).is_some_and(|w| w & bit != 0)
    }

    /// Empties the set, keeping its capacity.
    #[inline]
    pub fn clear(&mut self) {
        self.words.fill(0);
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
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &word)| {
            let base = (i as u32).wrapping_mul(64);
            Bits(word).map(move |b| base + b)
        })
    }
}

impl MatchSet {
    /// The ids in `lo..hi`, ascending, visiting only the words of that range.
    pub fn iter_range(&self, lo: u32, hi: u32) -> impl Iterator<Item = u32> + '_ {
        let first = (lo / 64) as usize;
        let last = (hi.div_ceil(64) as usize).min(self.words.len());
        self.words
            .get(first..last.max(first))
            .unwrap_or_default()
            .iter()
            .enumerate()
            .flat_map(move |(i, &word)| {
                let base = ((first + i) as u32).wrapping_mul(64);
                Bits(word).map(move |b| base + b)
            })
            .filter(move |&id| id >= lo && id < hi)
    }
}

impl Extend<u32> for MatchSet {
    fn extend<I: IntoIterator<Item = u32>>(&mut self, iter: I) {
        for id in iter {
            self.insert(id);
        }
    }
}

impl FromIterator<u32> for MatchSet {
    fn from_iter<I: IntoIterator<Item = u32>>(iter: I) -> Self {
        let mut set = MatchSet::default();
        set.extend(iter);
        set
    }
}

#[inline]
fn split(id: u32) -> (usize, u64) {
    ((id / 64) as usize, 1 << (id % 64))
}

/// The set bits of a word, ascending.
struct Bits(u64);

impl Iterator for Bits {
    type Item = u32;

    #[inline]
    fn next(&mut self) -> Option<u32> {
        if self.0 == 0 {
            return None;
        }
        let bit = self.0.trailing_zeros();
        self.0 &= self.0 - 1;
        Some(bit)
    }
}

#[cfg(test)]
mod tests {
    use super::MatchSet;

    #[test]
    fn insert_contains_iter_clear() {
        let mut set = MatchSet::new(10);
        assert_eq!(set.capacity(), 64);
        assert!(set.insert(3));
        assert!(!set.insert(3));
        assert!(set.insert(200));
        assert!(set.insert(63));
        assert!(set.insert(64));
        assert_eq!(set.iter().collect::<Vec<_>>(), [3, 63, 64, 200]);
        assert!(set.contains(200) && !set.contains(201) && !set.contains(u32::MAX));
        assert_eq!(set.len(), 4);
        assert!(set.remove(63) && !set.remove(63) && !set.remove(9999));
        set.clear();
        assert!(set.is_empty());
        assert_eq!(set.capacity(), 256);
    }

    #[test]
    fn grows_for_large_ids() {
        let mut set = MatchSet::default();
        set.insert(100_000);
        assert_eq!(set.iter().collect::<Vec<_>>(), [100_000]);
    }
}

//! The members of one walk over a group's collection (or its single field), kept for the
//! rest of the request: the group's slots read a member no function of theirs changed
//! from here rather than from a copy of their own, and a member equal to an earlier one (a
//! JSON array's `"qty": 1`, the same note on every item) is decoded and scanned once, its
//! values and matches those of its first occurrence.

use portcullis_match::quickhash;

use super::members::Admit;

/// In a group slot's ranges: the member's value is the member itself.
pub(super) const UNCHANGED: u32 = u32::MAX;

/// What [`Repeats::add`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Added {
    /// The first member of its kind, at this position of the walk.
    New(usize),
    /// A repeat of an earlier member.
    Repeat,
}

/// The members of the current walk, by position and by content.
#[derive(Default)]
pub(super) struct Repeats {
    seed: u64,
    /// Open addressing over the distinct members: `(walk, index)`, live when `walk` is the
    /// current one.
    table: Vec<(u32, u32)>,
    walk: u32,
    /// Each distinct member's hash, the readers it is for (see [`Admit`]) and the
    /// position of its first occurrence.
    hashes: Vec<u64>,
    masks: Vec<u64>,
    firsts: Vec<u32>,
    /// Per filter of the walk's readers (bit `j` of a mask): the positions of the members
    /// it keeps, in order.
    admitted: Vec<Vec<u32>>,
    /// The distinct members' text, one after the other.
    text: String,
    /// Per position: the first occurrence's position, and where its text is in `text`.
    canon: Vec<u32>,
    spans: Vec<(u32, u32)>,
    /// The hash of the member added last.
    last_hash: u64,
}

impl Repeats {
    /// Starts a new walk: every member seen so far is forgotten.
    pub(super) fn start(&mut self) {
        if self.seed == 0 {
            self.seed = quickhash::seed();
        }
        self.hashes.clear();
        self.masks.clear();
        self.firsts.clear();
        for positions in &mut self.admitted {
            positions.clear();
        }
        self.text.clear();
        self.canon.clear();
        self.spans.clear();
        self.walk = self.walk.wrapping_add(1);
        if self.walk == 0 {
            // Stale entries of 2^32 walks ago would look live.
            self.table.fill((0, 0));
            self.walk = 1;
        }
    }

    /// Members walked, repeats included.
    pub(super) fn count(&self) -> usize {
        self.canon.len()
    }

    /// The position of the first occurrence of the member at position `k`.
    pub(super) fn first(&self, k: usize) -> Option<usize> {
        self.canon.get(k).map(|&f| f as usize)
    }

    /// The member at position `k`.
    pub(super) fn member(&self, k: usize) -> Option<&str> {
        let &(a, b) = self.spans.get(k)?;
        self.text.get(a as usize..b as usize)
    }

    /// The positions of the members filter `j` of the walk's readers keeps.
    pub(super) fn admitted(&self, j: usize) -> &[u32] {
        self.admitted.get(j).map_or(&[], Vec::as_slice)
    }

    /// The hash of the member added last (for the cross-request memo's key).
    pub(super) fn last_hash(&self) -> u64 {
        self.last_hash
    }

    /// Adds the walk's next member without looking for an earlier occurrence (the walk of
    /// a single field, whose one member is always new); returns its position.
    pub(super) fn push(&mut self, member: &str) -> usize {
        self.last_hash = quickhash::hash(self.seed, member.as_bytes());
        let position = self.canon.len() as u32;
        let a = self.text.len() as u32;
        self.text.push_str(member);
        self.canon.push(position);
        self.spans.push((a, self.text.len() as u32));
        position as usize
    }

    /// Adds the walk's next member, for the readers `readers` gives (see [`Admit`]): the
    /// same text for other readers is another member.
    pub(super) fn add(&mut self, member: &str, readers: u64) -> Added {
        let position = self.canon.len() as u32;
        let mut filters = readers & !Admit::ALL;
        while filters != 0 {
            let j = filters.trailing_zeros() as usize;
            if self.admitted.len() <= j {
                self.admitted.resize_with(j + 1, Vec::new);
            }
            if let Some(positions) = self.admitted.get_mut(j) {
                positions.push(position);
            }
            filters &= filters - 1;
        }
        if self.table.len() < 2 * (self.hashes.len() + 1) {
            self.grow();
        }
        let h = quickhash::combine(quickhash::hash(self.seed, member.as_bytes()), readers);
        self.last_hash = h;
        let mask = self.table.len().saturating_sub(1);
        let mut at = h as usize & mask;
        while let Some(&(walk, d)) = self.table.get(at) {
            if walk != self.walk {
                break;
            }
            let d = d as usize;
            if let (Some(&hd), Some(&first)) = (self.hashes.get(d), self.firsts.get(d)) {
                if hd == h
                    && self.masks.get(d) == Some(&readers)
                    && self.member(first as usize) == Some(member)
                {
                    let span = self.spans.get(first as usize).copied().unwrap_or((0, 0));
                    self.canon.push(first);
                    self.spans.push(span);
                    return Added::Repeat;
                }
            }
            at = (at + 1) & mask;
        }
        // The text stays under 4 GiB: members come from a request read within
        // `max_body_bytes`, decoded.
        let a = self.text.len() as u32;
        self.text.push_str(member);
        let b = self.text.len() as u32;
        if let Some(e) = self.table.get_mut(at) {
            *e = (self.walk, self.hashes.len() as u32);
        }
        self.hashes.push(h);
        self.masks.push(readers);
        self.firsts.push(position);
        self.canon.push(position);
        self.spans.push((a, b));
        Added::New(position as usize)
    }

    /// Doubles the table (at least 64 entries) and re-enters this walk's members.
    fn grow(&mut self) {
        let size = (self.table.len() * 2).max(64);
        self.table.clear();
        self.table.resize(size, (0, 0));
        let mask = size - 1;
        for (d, &h) in self.hashes.iter().enumerate() {
            let mut at = h as usize & mask;
            while self.table.get(at).is_some_and(|&(w, _)| w == self.walk) {
                at = (at + 1) & mask;
            }
            if let Some(e) = self.table.get_mut(at) {
                *e = (self.walk, d as u32);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_occurrence_across_growth_and_forgets_between_walks() {
        let mut r = Repeats::default();
        r.start();
        // Enough members to grow the table several times.
        for i in 0..1000 {
            assert_eq!(r.add(&format!("v{i}"), Admit::ALL), Added::New(i));
        }
        for i in 0..1000 {
            assert_eq!(r.add(&format!("v{i}"), Admit::ALL), Added::Repeat);
            assert_eq!(r.first(1000 + i), Some(i));
            assert_eq!(r.member(1000 + i), Some(format!("v{i}").as_str()));
        }
        assert_eq!(r.add("", Admit::ALL), Added::New(2000));
        assert_eq!(r.add("", Admit::ALL), Added::Repeat);
        assert_eq!(
            (r.count(), r.first(2001), r.member(2001)),
            (2002, Some(2000), Some(""))
        );
        r.start();
        assert_eq!(r.add("v5", Admit::ALL), Added::New(0));
        assert_eq!(r.add("v5", Admit::ALL), Added::Repeat);
        assert_eq!(r.count(), 2);
    }

    /// The same text for other readers is another member, and each filter of the walk's
    /// readers keeps the positions of its members, repeats included.
    #[test]
    fn members_for_other_readers_are_apart() {
        let mut r = Repeats::default();
        r.start();
        assert_eq!(r.add("x", Admit::ALL | 0b01), Added::New(0));
        assert_eq!(r.add("x", Admit::ALL), Added::New(1));
        assert_eq!(r.add("x", Admit::ALL | 0b01), Added::Repeat);
        assert_eq!(r.add("y", 0b10), Added::New(3));
        assert_eq!(r.first(2), Some(0));
        assert_eq!(
            (r.admitted(0), r.admitted(1), r.admitted(5)),
            (&[0, 2][..], &[3][..], &[][..])
        );
        r.start();
        assert_eq!(r.add("x", Admit::ALL), Added::New(0));
        assert_eq!((r.admitted(0), r.admitted(1)), (&[][..], &[][..]));
    }
}

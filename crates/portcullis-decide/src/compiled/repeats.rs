//! The members of one walk over a collection, remembered so a repeated one (a JSON
//! array's `"qty": 1`, the same note on every item) is decoded and scanned once: its
//! slots take the first occurrence's values again, and its matches are already in.

use portcullis_match::quickhash;

/// Members seen in the current walk, by content.
#[derive(Default)]
pub(super) struct Repeats {
    seed: u64,
    /// Open addressing over `spans`: `(walk, ordinal)`, live when `walk` is the current one.
    table: Vec<(u32, u32)>,
    walk: u32,
    /// Each distinct member's hash, position in the walk, and where its text is in `text`.
    hashes: Vec<u64>,
    positions: Vec<u32>,
    spans: Vec<(u32, u32)>,
    text: String,
    /// Members walked so far, repeats included.
    walked: u32,
}

impl Repeats {
    /// Starts a new walk: every member seen so far is forgotten.
    pub(super) fn start(&mut self) {
        if self.seed == 0 {
            self.seed = quickhash::seed();
        }
        self.hashes.clear();
        self.positions.clear();
        self.spans.clear();
        self.walked = 0;
        self.text.clear();
        self.walk = self.walk.wrapping_add(1);
        if self.walk == 0 {
            // Stale entries of 2^32 walks ago would look live.
            self.table.fill((0, 0));
            self.walk = 1;
        }
    }

    /// The position in the walk of the earlier member equal to `member` (the walk's next
    /// member); `None`, and `member` is remembered, when it is the first of its kind.
    pub(super) fn seen(&mut self, member: &str) -> Option<usize> {
        let position = self.walked;
        self.walked = self.walked.saturating_add(1);
        if self.table.len() < 2 * (self.spans.len() + 1) {
            self.grow();
        }
        let h = quickhash::hash(self.seed, member.as_bytes());
        let mask = self.table.len() - 1;
        let mut at = h as usize & mask;
        loop {
            let &(walk, ord) = self.table.get(at)?;
            if walk != self.walk {
                break;
            }
            let k = ord as usize;
            if self.hashes.get(k) == Some(&h) && self.member(k) == Some(member) {
                return self.positions.get(k).map(|&p| p as usize);
            }
            at = (at + 1) & mask;
        }
        let (Ok(ord), Ok(a)) = (
            u32::try_from(self.spans.len()),
            u32::try_from(self.text.len()),
        ) else {
            return None;
        };
        self.text.push_str(member);
        let Ok(b) = u32::try_from(self.text.len()) else {
            return None;
        };
        if let Some(e) = self.table.get_mut(at) {
            *e = (self.walk, ord);
        }
        self.hashes.push(h);
        self.positions.push(position);
        self.spans.push((a, b));
        None
    }

    fn member(&self, k: usize) -> Option<&str> {
        let &(a, b) = self.spans.get(k)?;
        self.text.get(a as usize..b as usize)
    }

    /// Doubles the table (at least 64 entries) and re-enters this walk's members.
    fn grow(&mut self) {
        let size = (self.table.len() * 2).max(64);
        self.table.clear();
        self.table.resize(size, (0, 0));
        let mask = size - 1;
        for (ord, &h) in self.hashes.iter().enumerate() {
            let mut at = h as usize & mask;
            while self.table.get(at).is_some_and(|&(w, _)| w == self.walk) {
                at = (at + 1) & mask;
            }
            if let Some(e) = self.table.get_mut(at) {
                *e = (self.walk, ord as u32);
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
            assert_eq!(r.seen(&format!("v{i}")), None);
        }
        for i in 0..1000 {
            assert_eq!(r.seen(&format!("v{i}")), Some(i));
        }
        // Positions count the repeats walked.
        assert_eq!(r.seen(""), None);
        assert_eq!(r.seen(""), Some(2000));
        r.start();
        assert_eq!(r.seen("v5"), None);
        assert_eq!(r.seen("v5"), Some(0));
    }
}

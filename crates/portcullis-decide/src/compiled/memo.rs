//! Group members remembered across requests: a browser's headers, an API's argument names
//! and their common values come back on every request, and a member gives the same values
//! and matches the same patterns every time. Remembered with the values the group's chains
//! changed and the group's patterns it matched, so the slots and the match bits read them
//! as if computed and scanned.
//!
//! A member's matches are taken from a set of its own (`Scratch::member_hits`), not from
//! the request's bits: a scanner skips patterns already in the set it writes to, so the
//! request's bits after a member hold the earlier members' matches and may miss some of
//! its own. Each entry holds the whole member it answers for, compared byte
//! for byte: a hash collision costs a miss, never a wrong answer. The table lives in the
//! scratch, which is rebuilt when the program changes (and pattern ids with it).

use portcullis_match::quickhash;

/// Longest member remembered.
const MAX_MEMBER: usize = 256;
/// Most bytes of changed values an entry holds.
const MAX_VALUES: usize = 1024;
/// Most patterns a remembered member matched.
const MAX_HITS: usize = 16;
/// Members whose first offer is kept track of.
const OFFERED: usize = 8192;
/// Entries, two per set: room for a JSON API's hundreds of argument names across requests,
/// and for the user agents browsers send, in each group that reads them. CRS's request mix
/// fills it to about 1.2 MB per thread (7.3 MB at most); half as many entries cost 2 %
/// more instructions on its page loads and API calls (0.8 MB).
const ENTRIES: usize = 4096;

#[derive(Default)]
struct Entry {
    /// The group, plus one (0: empty), and the readers in it the member is for (see
    /// `members::Admit`): its slots' selections.
    group: u32,
    mask: u64,
    member: String,
    /// Each changed value: the slot's position in the group, and where the value is in
    /// `values` (chains that give the same value share it: CRS lowercases a user agent
    /// and then removes nothing from it in several chains).
    changed: Vec<(u16, u32, u32)>,
    values: String,
    /// The group's patterns it matched, as offsets from the group's first predicate id.
    hits: Vec<u32>,
}

/// A remembered member (see [`Memo::find`]).
pub(super) struct Known<'m>(&'m Entry);

impl<'m> Known<'m> {
    /// The values it was learnt with: (slot position, value).
    pub(super) fn values(&self) -> impl Iterator<Item = (usize, &'m str)> + use<'m> {
        let e = self.0;
        e.changed.iter().map(move |&(k, start, end)| {
            let value = e
                .values
                .get(start as usize..end as usize)
                .unwrap_or_default();
            (usize::from(k), value)
        })
    }

    /// The group's patterns it matched, as offsets from the group's first predicate id.
    pub(super) fn hits(&self) -> &'m [u32] {
        &self.0.hits
    }
}

/// Groups' members, in a two-way set-associative table under a seeded hash (the seed
/// random per process, so no client can aim members at one set).
#[derive(Default)]
pub(super) struct Memo {
    entries: Vec<Entry>,
    /// A tag of each member offered once, by hash: a member is learnt the second time it
    /// is offered, so values that never come back (ids, prices) cost no copy.
    offered: Vec<u32>,
}

impl Memo {
    /// The key member `member` of group `g` is found and learnt by, from the member's
    /// hash `h` (its walk's, [`quickhash::hash`] under the process's seed); `None` for a
    /// member too long to remember.
    pub(super) fn key(&mut self, g: usize, member: &str, h: u64) -> Option<u64> {
        if member.len() > MAX_MEMBER {
            return None;
        }
        if self.entries.is_empty() {
            self.entries.resize_with(ENTRIES, Entry::default);
            self.offered.resize(OFFERED, 0);
        }
        Some(quickhash::combine(h, g as u64))
    }

    /// The first of the two entries a member of hash `h` may be in.
    fn set(h: u64) -> usize {
        (h % (ENTRIES / 2) as u64) as usize * 2
    }

    fn holds(&self, i: usize, g: usize, mask: u64, member: &str) -> bool {
        self.entries
            .get(i)
            .is_some_and(|e| e.group as usize == g + 1 && e.mask == mask && e.member == member)
    }

    /// Member `member` of group `g` for the readers `mask` gives, when remembered; `h` is
    /// its [`Memo::key`]. A hit moves it to its set's first entry.
    pub(super) fn find(&mut self, h: u64, g: usize, mask: u64, member: &str) -> Option<Known<'_>> {
        let i = Memo::set(h);
        let at = if self.holds(i, g, mask, member) {
            i
        } else if self.holds(i + 1, g, mask, member) {
            self.entries.swap(i, i + 1);
            i
        } else {
            return None;
        };
        self.entries.get(at).map(Known)
    }

    /// Remembers `member` of group `g` for the readers `mask` gives, with the values
    /// `changed` gives (slot position, value: those its chains changed that a predicate
    /// reads) and the patterns it matched (`hits`, offsets from the group's first predicate
    /// id), in its set's first entry (the one there moves to the second), when it was
    /// offered before.
    pub(super) fn learn<'v>(
        &mut self,
        h: u64,
        g: usize,
        mask: u64,
        member: &str,
        changed: impl Iterator<Item = (usize, &'v str)>,
        hits: impl Iterator<Item = u32>,
    ) {
        let i = Memo::set(h);
        // The high half of the hash, never 0 (an empty tag), at a place the low half picks.
        let tag = (h >> 32) as u32 | 1;
        if let Some(t) = self.offered.get_mut((h as usize >> 1) % OFFERED) {
            if *t != tag {
                *t = tag;
                return;
            }
        }
        if i + 1 < self.entries.len() {
            self.entries.swap(i, i + 1);
        }
        let Some(e) = self.entries.get_mut(i) else {
            return;
        };
        e.group = 0;
        e.mask = mask;
        e.member.clear();
        e.member.push_str(member);
        e.changed.clear();
        e.values.clear();
        for (k, v) in changed {
            let same = e
                .changed
                .iter()
                .find(|&&(_, a, b)| e.values.get(a as usize..b as usize) == Some(v));
            if let (Some(&(_, a, b)), Ok(k)) = (same, u16::try_from(k)) {
                e.changed.push((k, a, b));
                continue;
            }
            let (Ok(k), true) = (u16::try_from(k), e.values.len() + v.len() <= MAX_VALUES) else {
                // Too much to hold: left empty rather than partly filled.
                return;
            };
            let start = e.values.len() as u32;
            e.values.push_str(v);
            e.changed.push((k, start, e.values.len() as u32));
        }
        e.hits.clear();
        for p in hits {
            if e.hits.len() == MAX_HITS {
                return;
            }
            e.hits.push(p);
        }
        e.group = u32::try_from(g + 1).unwrap_or(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: u64 = crate::compiled::members::Admit::ALL;

    /// [`Memo::key`], hashing the member as its walk would.
    fn hash(m: &mut Memo, g: usize, member: &str) -> Option<u64> {
        m.key(
            g,
            member,
            quickhash::hash(quickhash::seed(), member.as_bytes()),
        )
    }

    /// [`Memo::find`] by member, hashing it first: its changed values.
    fn find<'m>(
        m: &'m mut Memo,
        g: usize,
        member: &str,
    ) -> Option<impl Iterator<Item = (usize, &'m str)> + use<'m>> {
        let h = hash(m, g, member)?;
        m.find(h, g, ALL, member).map(|k| k.values())
    }

    /// [`Memo::learn`] by member, hashing it first, with no matches.
    fn learn<'v>(
        m: &mut Memo,
        g: usize,
        member: &str,
        changed: impl Iterator<Item = (usize, &'v str)>,
    ) {
        if let Some(h) = hash(m, g, member) {
            m.learn(h, g, ALL, member, changed, std::iter::empty());
        }
    }

    #[test]
    fn remembers_the_patterns_a_member_matched() {
        let mut m = Memo::default();
        let hits = |m: &mut Memo, member: &str| {
            let h = hash(m, 4, member)?;
            m.find(h, 4, ALL, member).map(|k| k.hits().to_vec())
        };
        for _ in 0..2 {
            if let Some(h) = hash(&mut m, 4, "x") {
                m.learn(h, 4, ALL, "x", std::iter::empty(), [0, 7].into_iter());
            }
            if let Some(h) = hash(&mut m, 4, "many") {
                m.learn(h, 4, ALL, "many", std::iter::empty(), 0..=MAX_HITS as u32);
            }
        }
        assert_eq!(hits(&mut m, "x"), Some(vec![0, 7]));
        // More matches than an entry holds: not remembered.
        assert_eq!(hits(&mut m, "many"), None);
        // The same member for other readers of the group (under the same key: the walk's
        // hash of it would differ) is another member.
        let h = hash(&mut m, 4, "x");
        assert!(h.is_some_and(|h| m.find(h, 4, ALL | 1, "x").is_none()));
    }

    #[test]
    fn remembers_members_with_their_values_per_group_and_keeps_two_per_set() {
        let mut m = Memo::default();
        assert!(find(&mut m, 0, "a").is_none());
        learn(&mut m, 0, "a", [(2, "A"), (5, "aa")].into_iter());
        assert!(find(&mut m, 0, "a").is_none(), "learnt when offered again");
        learn(&mut m, 0, "a", [(2, "A"), (5, "aa")].into_iter());
        for _ in 0..2 {
            learn(&mut m, 1, "a", std::iter::empty());
        }
        let got: Vec<(usize, String)> = find(&mut m, 0, "a")
            .map(|it| it.map(|(k, v)| (k, v.to_string())).collect())
            .unwrap_or_default();
        assert_eq!(got, [(2, "A".to_string()), (5, "aa".to_string())]);
        assert_eq!(find(&mut m, 1, "a").map(Iterator::count), Some(0));
        assert!(find(&mut m, 2, "a").is_none());
        assert!(find(&mut m, 0, "b").is_none());
        // Too long to remember, or values too long to hold: not remembered.
        let long = "x".repeat(MAX_MEMBER + 1);
        let big = "y".repeat(MAX_VALUES + 1);
        for _ in 0..2 {
            learn(&mut m, 0, &long, std::iter::empty());
            learn(&mut m, 3, "c", [(0, big.as_str())].into_iter());
        }
        assert!(find(&mut m, 0, &long).is_none());
        assert!(find(&mut m, 3, "c").is_none());
        // Chains giving the same value share it: three copies would not fit, one does.
        let half = "z".repeat(MAX_VALUES / 2);
        let shared = [
            (0, half.as_str()),
            (1, "B"),
            (2, half.as_str()),
            (4, half.as_str()),
        ];
        for _ in 0..2 {
            learn(&mut m, 5, "d", shared.into_iter());
        }
        let got: Vec<(usize, &str)> = find(&mut m, 5, "d")
            .map(Iterator::collect)
            .unwrap_or_default();
        assert_eq!(got, shared);
        // Many members: each found is found with its own values.
        for i in 0..20_000 {
            let s = format!("m{}", i / 2);
            learn(&mut m, 7, &s, [(1, s.as_str())].into_iter());
        }
        for i in 0..10_000 {
            let s = format!("m{i}");
            if let Some(mut it) = find(&mut m, 7, &s) {
                assert_eq!(it.next(), Some((1, s.as_str())));
                assert_eq!(it.next(), None);
            }
        }
    }
}

//! `Equals` patterns: a hash table keyed by a hash of the ASCII-lowercased bytes,
//! computed without copying the haystack.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::{MatchSet, PatternId};

#[derive(Default)]
pub(super) struct EqualsBuilder {
    pub(super) entries: Vec<(PatternId, String, bool)>,
}

impl EqualsBuilder {
    pub(super) fn add(&mut self, id: PatternId, text: &str, ci: bool) {
        self.entries.push((id, text.to_owned(), ci));
    }

    pub(super) fn build(mut self) -> Option<Equals> {
        if self.entries.is_empty() {
            return None;
        }
        self.entries.sort();
        self.entries.dedup();
        let max_len = self
            .entries
            .iter()
            .map(|(_, t, _)| t.len())
            .max()
            .unwrap_or(0);
        let mut by_hash: HashMap<u64, Vec<EqualsTarget>> = HashMap::new();
        for (id, text, ci) in self.entries {
            by_hash
                .entry(caseless_hash(text.as_bytes()))
                .or_default()
                .push(EqualsTarget {
                    id,
                    text: text.into_bytes().into_boxed_slice(),
                    case_insensitive: ci,
                });
        }
        let mut targets = Vec::new();
        let mut table = HashMap::with_capacity_and_hasher(by_hash.len(), Default::default());
        for (hash, list) in by_hash {
            table.insert(hash, (targets.len() as u32, list.len() as u32));
            targets.extend(list);
        }
        Some(Equals {
            table,
            targets: targets.into_boxed_slice(),
            max_len,
        })
    }
}

#[derive(Clone, Debug)]
pub(super) struct EqualsTarget {
    pub(super) id: PatternId,
    pub(super) text: Box<[u8]>,
    pub(super) case_insensitive: bool,
}

#[derive(Clone, Debug)]
pub(super) struct Equals {
    /// Caseless hash -> `(start, len)` in `targets`. The keys are already
    /// hashes, so the table's own hasher passes them through. Attackers pick
    /// haystacks, not patterns: a collision costs one extra comparison.
    pub(super) table: HashMap<u64, (u32, u32), BuildHasherDefault<PassThrough>>,
    pub(super) targets: Box<[EqualsTarget]>,
    pub(super) max_len: usize,
}

impl Equals {
    #[inline]
    pub(super) fn scan(&self, haystack: &str, out: &mut MatchSet) {
        let bytes = haystack.as_bytes();
        if bytes.len() > self.max_len {
            return;
        }
        let Some(&(start, len)) = self.table.get(&caseless_hash(bytes)) else {
            return;
        };
        let start = start as usize;
        for t in self.targets.get(start..start + len as usize).unwrap_or(&[]) {
            let equal = if t.case_insensitive {
                t.text.eq_ignore_ascii_case(bytes)
            } else {
                t.text[..] == *bytes
            };
            if equal {
                out.insert(t.id);
            }
        }
    }
}

/// A hasher for keys that are already hashes.
#[derive(Default)]
pub(super) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(K);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub(super) const K: u64 = 0xf135_7aea_2e62_a9c5;

/// A hash of `bytes` ASCII-lowercased, eight bytes at a time, without
/// copying them.
pub(super) fn caseless_hash(bytes: &[u8]) -> u64 {
    let mut h = (bytes.len() as u64).wrapping_mul(K);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = (h.rotate_left(26) ^ ascii_lower_word(u64::from_le_bytes(word))).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut word = [0u8; 8];
        for (w, b) in word.iter_mut().zip(rest) {
            *w = *b;
        }
        h = (h.rotate_left(26) ^ ascii_lower_word(u64::from_le_bytes(word))).wrapping_mul(K);
    }
    // Final mix so the low bits (used by the table) depend on every byte.
    h ^= h >> 32;
    h = h.wrapping_mul(K);
    h ^ (h >> 29)
}

/// ASCII-lowercases the eight bytes of `word` at once (bytes >= 0x80 are
/// left alone, as `u8::to_ascii_lowercase` does).
#[inline]
pub(super) fn ascii_lower_word(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low7 = word & !HIGH;
    // High bit of each byte: low7 >= 'A', then low7 > 'Z'.
    let ge_a = low7 + (0x80 - u64::from(b'A')) * ONES;
    let gt_z = low7 + (0x80 - u64::from(b'Z') - 1) * ONES;
    let upper = ge_a & !gt_z & !word & HIGH;
    word | (upper >> 2)
}

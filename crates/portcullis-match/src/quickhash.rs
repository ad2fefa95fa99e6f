//! A fast seeded hash of short byte strings, for the per-thread and per-request tables
//! that remember values (the detectors' verdicts, a collection's repeated members).
//!
//! Those tables compare every hit byte for byte, so a collision costs a miss, never a
//! wrong answer: the hash needs speed and a seed an attacker cannot read (so forced
//! collisions are guesswork), not SipHash's resistance, which cost a fifth of a cached
//! verdict.

/// A random seed, drawn once per process.
#[must_use]
pub fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *SEED.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u8(0);
        h.finish() | 1
    })
}

const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// The high and low halves of a full product, folded: every input bit reaches every
/// output bit.
#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

/// Hashes `bytes` under `seed`, eight bytes at a time.
#[must_use]
#[inline]
pub fn hash(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = seed ^ (bytes.len() as u64).wrapping_mul(K);
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        h = fold(h ^ u64::from_le_bytes(b), K);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut b = [0u8; 8];
        if let Some(d) = b.get_mut(..rest.len()) {
            d.copy_from_slice(rest);
        }
        h = fold(h ^ u64::from_le_bytes(b), K ^ seed);
    }
    // MurmurHash3's finaliser: a fold's low bits follow its input's low bits too closely
    // for a table indexed by them (CRS's detector cache missed half as often again).
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^ (h >> 33)
}

/// A hash of `h` (a [`hash`]) and a number `n`: a table of its own keyed on both (a
/// value and the group it belongs to) without hashing the value's bytes again.
#[must_use]
#[inline]
pub fn combine(h: u64, n: u64) -> u64 {
    let mut h = fold(h ^ n.wrapping_mul(K), K);
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_bytes_hash_equal_and_neighbours_differ() {
        let s = seed();
        assert_eq!(hash(s, b"order.items.7.sku"), hash(s, b"order.items.7.sku"));
        let mut seen = std::collections::HashSet::new();
        // Every string of up to two bytes, and their zero-padded twins: all distinct.
        seen.insert(hash(s, b""));
        for a in 0..=255u8 {
            assert!(seen.insert(hash(s, &[a])));
            for b in 0..=255u8 {
                assert!(seen.insert(hash(s, &[a, b])));
            }
        }
        assert_ne!(hash(s, b"a"), hash(s, b"a\0"));
        assert_ne!(hash(s, b"12345678"), hash(s, b"12345678\0"));
        assert_ne!(hash(s, b"x"), hash(s ^ 2, b"x"));
    }

    /// Every pair of a few thousand hashes and numbers combines to its own key, and its
    /// low bits (a table's index) spread.
    #[test]
    fn combined_keys_differ() {
        let s = seed();
        let mut seen = std::collections::HashSet::new();
        let mut low = std::collections::HashSet::new();
        for v in 0..2000u32 {
            let h = hash(s, v.to_string().as_bytes());
            for g in 0..8u64 {
                let k = combine(h, g);
                assert!(seen.insert(k), "{v} {g}");
                low.insert(k & 0xFFF);
            }
        }
        assert!(low.len() > 3000, "{}", low.len());
    }
}

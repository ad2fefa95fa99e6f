//! GCRA rate limiting with bounded memory.
//!
//! Each (rule, key) pair has a theoretical arrival time (TAT). A request at `now` is let
//! through when `max(tat, now) + T - now <= burst * T`, where `T = period / limit`; then the
//! TAT advances by `T`. An idle key may so send `burst` requests at once, then one every `T`.
//! In any window of one period at most `burst + limit - 1` requests pass.
//!
//! The limiter lives outside the compiled policy, so state survives a reload. Keys are
//! hashed (with a per-limiter random seed) together with the rule id and its limit, so a
//! rule whose limit changes starts afresh. Memory is bounded: past the cap, keys whose TAT has
//! passed (fully idle, indistinguishable from new) are dropped first, then the idlest
//! eighth of the shard.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Mutex, PoisonError};

const SHARDS: usize = 16;

/// The outcome of one rate-limit check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateCheck {
    /// Whether the request may pass.
    pub allowed: bool,
    /// Requests the key may still send at once.
    pub remaining: u32,
    /// Nanoseconds until the key is fully replenished.
    pub reset_ns: u64,
    /// Nanoseconds until the next request would pass (0 when allowed).
    pub retry_after_ns: u64,
}

/// Shared rate-limit state for every rule of a policy (and its reloads).
#[derive(Debug)]
pub struct RateLimiter {
    seed: (u64, u64),
    shards: Box<[Mutex<HashMap<u64, u64>>]>,
    max_per_shard: usize,
}

impl RateLimiter {
    /// A limiter remembering at most about `max_keys` keys.
    #[must_use]
    pub fn new(max_keys: usize) -> RateLimiter {
        let random = RandomState::new();
        RateLimiter {
            seed: (random.hash_one(1u8), random.hash_one(2u8)),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            max_per_shard: max_keys.div_ceil(SHARDS).max(1),
        }
    }

    /// The random seed keys are hashed with: a client cannot aim two keys at one slot.
    #[must_use]
    pub fn seed(&self) -> (u64, u64) {
        self.seed
    }

    /// Number of keys held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    /// Whether no key is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counts one request for `key` at `now_ns` against `limit` per `period_ns` with
    /// `burst`.
    pub fn check(
        &self,
        key: u64,
        now_ns: u64,
        limit: u32,
        period_ns: u64,
        burst: u32,
    ) -> RateCheck {
        let (t, tau) = intervals(limit, period_ns, burst);
        let shard = &self.shards[(key as usize) % SHARDS];
        let mut map = shard.lock().unwrap_or_else(PoisonError::into_inner);
        let tat = map.get(&key).copied().unwrap_or(now_ns).max(now_ns);
        let new_tat = tat.saturating_add(t);
        let ahead = new_tat - now_ns;
        if ahead > tau {
            let used = tat - now_ns;
            return RateCheck {
                allowed: false,
                remaining: 0,
                reset_ns: used,
                retry_after_ns: ahead - tau,
            };
        }
        if !map.contains_key(&key) && map.len() >= self.max_per_shard {
            evict(&mut map, now_ns);
        }
        map.insert(key, new_tat);
        RateCheck {
            allowed: true,
            remaining: u32::try_from((tau - ahead) / t).unwrap_or(u32::MAX),
            reset_ns: ahead,
            retry_after_ns: 0,
        }
    }
}

/// GCRA's emission interval `T` and burst tolerance `burst * T`, in nanoseconds, for
/// `limit` requests per `period_ns` (every store computes them alike).
#[must_use]
pub fn intervals(limit: u32, period_ns: u64, burst: u32) -> (u64, u64) {
    let t = (period_ns / u64::from(limit.max(1))).max(1);
    (t, t.saturating_mul(u64::from(burst.max(1))))
}

/// Makes room in a full shard: drop idle keys, then the idlest eighth.
fn evict(map: &mut HashMap<u64, u64>, now_ns: u64) {
    let before = map.len();
    map.retain(|_, tat| *tat > now_ns);
    if map.len() < before {
        return;
    }
    let mut tats: Vec<u64> = map.values().copied().collect();
    let cut = (tats.len() / 8).max(1);
    let (_, &mut threshold, _) = tats.select_nth_unstable(cut - 1);
    let mut removed = 0;
    map.retain(|_, tat| {
        let keep = *tat > threshold || removed >= cut;
        removed += usize::from(!keep);
        keep
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    #[test]
    fn burst_then_steady_rate() {
        let l = RateLimiter::new(100);
        let now = 1000 * SEC;
        // 5 per minute, burst 5: five at once, the sixth refused with retry after 12s.
        for i in 0..5 {
            let c = l.check(1, now, 5, 60 * SEC, 5);
            assert!(c.allowed, "request {i}");
            assert_eq!(c.remaining, 4 - i);
        }
        let c = l.check(1, now, 5, 60 * SEC, 5);
        assert!(!c.allowed);
        assert_eq!(c.retry_after_ns, 12 * SEC);
        assert_eq!(c.reset_ns, 60 * SEC);
        assert!(!l.check(1, now + 11 * SEC, 5, 60 * SEC, 5).allowed);
        assert!(l.check(1, now + 12 * SEC, 5, 60 * SEC, 5).allowed);
        // Another key is independent.
        assert!(l.check(2, now, 5, 60 * SEC, 5).allowed);
    }

    #[test]
    fn never_more_than_limit_plus_burst_per_period() {
        let l = RateLimiter::new(100);
        let mut passed = 0;
        for ms in 0..60_000u64 {
            passed += usize::from(
                l.check(7, 5 * SEC + ms * 1_000_000, 10, 60 * SEC, 3)
                    .allowed,
            );
        }
        assert!(passed <= 13, "{passed}");
        assert!(passed >= 12, "{passed}");
    }

    #[test]
    fn memory_is_bounded() {
        let l = RateLimiter::new(1000);
        for k in 0..100_000u64 {
            l.check(k.wrapping_mul(0x9E37_79B9_7F4A_7C15), SEC, 1, 3600 * SEC, 1);
        }
        assert!(l.len() <= 1000 + SHARDS, "{}", l.len());
    }
}

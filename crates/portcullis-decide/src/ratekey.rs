//! A rate-limit rule's key for one request, and the limiter's answer as a decision
//! reports it: shared by the in-process limiter and the stores outside the process.

use std::hash::Hasher;

use portcullis_rules::{RateKey, RateLimit, Rule};
use siphasher::sip128::{Hasher128, SipHasher13};

use crate::decision::RateInfo;
use crate::policy::RuleIndex;
use crate::ratelimit::RateCheck;
use crate::request::Request;

/// A rate-limit rule's key for a request: the rule's id and limit and the request's key
/// parts, each written with its length or a tag so that no two keys share an input, hashed
/// with `seed` (SipHash-1-3, 128 bits: stable across builds and platforms, so every server
/// of a fleet that shares a seed computes the same key).
pub(crate) fn limit_key(rule: &Rule, rl: &RateLimit, req: &Request<'_>, seed: (u64, u64)) -> u128 {
    fn bytes(h: &mut SipHasher13, b: &[u8]) {
        h.write(&(b.len() as u64).to_le_bytes());
        h.write(b);
    }
    let mut h = SipHasher13::new_with_keys(seed.0, seed.1);
    bytes(&mut h, rule.id.as_bytes());
    h.write(&rl.limit.to_le_bytes());
    h.write(&rl.period.as_nanos().to_le_bytes());
    h.write(&rl.burst.to_le_bytes());
    for k in &rl.key {
        match k {
            RateKey::Ip {
                v4_prefix,
                v6_prefix,
            } => match req.client_ip.map(portcullis_rules::canonical_ip) {
                Some(std::net::IpAddr::V4(v4)) => {
                    let bits = u32::from(v4)
                        & u32::MAX
                            .checked_shl(32 - u32::from(*v4_prefix))
                            .unwrap_or(0);
                    h.write(&[4]);
                    h.write(&bits.to_le_bytes());
                }
                Some(std::net::IpAddr::V6(v6)) => {
                    let bits = u128::from(v6)
                        & u128::MAX
                            .checked_shl(128 - u32::from(*v6_prefix))
                            .unwrap_or(0);
                    h.write(&[6]);
                    h.write(&bits.to_le_bytes());
                }
                None => h.write(&[0]),
            },
            RateKey::Header(name) => {
                let mut n = 0u64;
                h.write(&[1]);
                req.headers.for_each(name, &mut |v| {
                    bytes(&mut h, v);
                    n += 1;
                });
                h.write(&n.to_le_bytes());
            }
            RateKey::AuthSubject => {
                let subject = req
                    .auth
                    .is_authenticated()
                    .then_some(req.auth.subject.as_deref())
                    .flatten();
                match subject {
                    Some(s) => {
                        h.write(&[2]);
                        bytes(&mut h, s.as_bytes());
                    }
                    None => h.write(&[3]),
                }
            }
            RateKey::Attr(name) => match req.attrs.get(name) {
                Some(v) => {
                    h.write(&[5]);
                    bytes(&mut h, v.as_bytes());
                }
                None => h.write(&[7]),
            },
        }
    }
    h.finish128().as_u128()
}

/// A rate-limit answer as a decision reports it (seconds, rounded up).
pub(crate) fn rate_info(idx: RuleIndex, limit: u32, period_ns: u64, c: &RateCheck) -> RateInfo {
    let secs = |ns: u64| ns.div_ceil(1_000_000_000);
    RateInfo {
        rule: idx,
        limit,
        window_secs: secs(period_ns),
        remaining: c.remaining,
        reset_secs: secs(c.reset_ns),
        retry_after_secs: secs(c.retry_after_ns),
    }
}

//! Rate limits counted by a store outside the process (shared by a fleet of servers).
//!
//! [`Policy::evaluate_deferred`] walks the rules as [`Policy::evaluate`] does, but a rate
//! limit it meets is not counted: it becomes a [`LimitCheck`] and the walk goes on as if the
//! limit held. The tentative decision and its checks are a [`Pending`]; the store answers
//! every check in one round trip, in order, stopping after the first enforced limit that is
//! exceeded, and [`Pending::resolve`] turns the answers into the decision the in-process
//! limiter would have given: the first exceeded enforced limit decides (it comes before the
//! rule that decided tentatively), exceeded shadow limits are shadow hits, and what the walk
//! saw past the deciding limit is dropped.

use smallvec::SmallVec;

use crate::decision::{Cause, Decision, RateInfo, ShadowHit, Verdict};
use crate::policy::RuleIndex;
use crate::ratekey::rate_info;
use crate::ratelimit::RateCheck;
use crate::Policy;
use portcullis_rules::Action;

/// One rate limit for a store to count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitCheck {
    pub(crate) rule: RuleIndex,
    /// The key: the rule's id and limit and the request's key parts, hashed with the
    /// store's seed, so client text never reaches the store and every server computes the
    /// same key.
    pub key: u128,
    /// Requests per period.
    pub limit: u32,
    /// The period in nanoseconds.
    pub period_ns: u64,
    /// Requests an idle key may send at once.
    pub burst: u32,
    /// The request's own time in nanoseconds since the Unix epoch, when the embedder gave
    /// one (replays, tests); `None`: count at the store's clock.
    pub now_ns: Option<u64>,
    /// Whether the limit is enforced: an exceeded enforced limit decides, and the store
    /// counts no later check of the request.
    pub enforce: bool,
}

/// A decision waiting for a store's answer about its rate limits.
#[derive(Clone, Debug)]
pub struct Pending {
    pub(crate) policy: Policy,
    pub(crate) tentative: Decision,
    pub(crate) checks: SmallVec<[LimitCheck; 2]>,
}

/// What [`Policy::evaluate_deferred`] gives: a decision, or one that waits for a store.
#[derive(Clone, Debug)]
// `Done` is every request's path: boxing the decision would allocate per request.
#[allow(clippy::large_enum_variant)]
pub enum Evaluation {
    /// No rate limit was reached: the decision is final.
    Done(Decision),
    /// Rate limits to count first.
    Pending(Box<Pending>),
}

impl Pending {
    /// The checks, in rule order.
    #[must_use]
    pub fn checks(&self) -> &[LimitCheck] {
        &self.checks
    }

    /// The decision, given the store's answer to each check in order: `None` for a limit
    /// the store did not count (failing open), and no answer at all for the checks after an
    /// exceeded enforced one. `unavailable` marks the decision as made without the store
    /// (see [`Decision::rate_store_unavailable`]).
    #[must_use]
    pub fn resolve(self: Box<Self>, answers: &[Option<RateCheck>], unavailable: bool) -> Decision {
        let Pending {
            policy,
            mut tentative,
            checks,
        } = *self;
        let settings = &policy.rules().settings;
        tentative.rate_store_unavailable = unavailable;
        for (check, answer) in checks.iter().zip(answers) {
            let Some(answer) = answer else { continue };
            let info = rate_info(check.rule, check.limit, check.period_ns, answer);
            let exceeded = info.retry_after_secs > 0;
            if !check.enforce {
                if exceeded {
                    let at = tentative.shadow.partition_point(|h| h.rule < check.rule);
                    tentative.shadow.insert(
                        at,
                        ShadowHit {
                            rule: check.rule,
                            action: Action::RateLimit,
                        },
                    );
                }
                continue;
            }
            if exceeded {
                let status = policy
                    .rule_at(check.rule)
                    .and_then(|r| r.status)
                    .unwrap_or(settings.rate_limit_status);
                tentative.shadow.retain(|h| h.rule < check.rule);
                tentative.matched.retain(|m| *m <= check.rule);
                tentative.verdict = Verdict::RateLimit;
                tentative.rule = Some(check.rule);
                tentative.cause = Cause::RateLimited;
                tentative.status = status;
                tentative.rate = Some(info);
                break;
            }
            if tentative
                .rate
                .is_none_or(|r: RateInfo| info.remaining < r.remaining)
            {
                tentative.rate = Some(info);
            }
        }
        let refers = tentative.verdict != Verdict::Allow
            || tentative.rule.is_some()
            || tentative.rate.is_some()
            || !tentative.shadow.is_empty();
        tentative.policy = refers.then_some(policy);
        tentative
    }
}

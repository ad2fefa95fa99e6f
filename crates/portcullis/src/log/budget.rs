//! The decision log's budget: so many events per rule per interval, so that a flood of
//! refusals cannot fill a disk (35,000 refusals/s wrote 8 MB/s). Events past the budget
//! are counted, not written; the count is written as one summary event when the rule's
//! next interval starts.

use std::collections::HashMap;
use std::panic::RefUnwindSafe;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_decide::{Oversize, Policy};
use portcullis_rules::{Action, Mode};

/// How many decision-log events each rule may write per interval; set with
/// [`Engine::set_log_budget`](crate::Engine::set_log_budget).
///
/// The budget is counted per rule: one flooded rule cannot silence another. Refusals made
/// before any rule have their own budgets, one per name they are logged under
/// (`(limit max_uri_bytes)`, `(malformed)`, …), and so does the policy's default. Events
/// past the budget are counted; the first event of the rule's next interval is preceded
/// by one `warn` event with the count (`suppressed`). Counts still pending when the
/// policy is replaced or the engine dropped are written then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogBudget {
    events: u32,
    interval: Duration,
}

/// Written events are counted in the low bits of a slot's state, beside the interval.
const COUNT_BITS: u32 = 24;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

impl LogBudget {
    /// The default: 100 events per rule per second. At ~230 bytes an event, a flood
    /// writes at most ~23 KB/s per rule.
    pub const DEFAULT: LogBudget = LogBudget {
        events: 100,
        interval: Duration::from_secs(1),
    };

    /// At most `events` events per rule per `interval`. `events` = 0 means unlimited;
    /// more than 16,777,215 (2^24 − 1) counts as that many. The interval is counted in
    /// whole milliseconds, at least one.
    #[must_use]
    pub fn new(events: u32, interval: Duration) -> LogBudget {
        let ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
        LogBudget {
            events: events.min(COUNT_MASK as u32),
            interval: Duration::from_millis(ms.max(1)),
        }
    }

    /// No budget: every event is written.
    #[must_use]
    pub fn unlimited() -> LogBudget {
        LogBudget::new(0, Duration::from_secs(1))
    }

    /// Events per rule per interval; 0 when unlimited.
    #[must_use]
    pub fn events(&self) -> u32 {
        self.events
    }

    /// The interval.
    #[must_use]
    pub fn interval(&self) -> Duration {
        self.interval
    }
}

impl Default for LogBudget {
    fn default() -> LogBudget {
        LogBudget::DEFAULT
    }
}

/// A monotonic clock in milliseconds; injected so tests can step time.
pub(crate) trait Clock: Send + Sync + RefUnwindSafe {
    fn now_ms(&self) -> u64;
}

/// The real clock: milliseconds since the engine was made.
struct Monotonic(Instant);

impl Clock for Monotonic {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// The budget in force and the clock, shared by an engine's clones and kept across
/// reloads. Atomics, so [`Engine::set_log_budget`](crate::Engine::set_log_budget) works
/// through `&self` while requests are evaluated.
pub(crate) struct Limits {
    events: AtomicU32,
    interval_ms: AtomicU64,
    clock: Arc<dyn Clock>,
}

impl Limits {
    pub(crate) fn new(budget: LogBudget, clock: Option<Arc<dyn Clock>>) -> Limits {
        let limits = Limits {
            events: AtomicU32::new(0),
            interval_ms: AtomicU64::new(1),
            clock: clock.unwrap_or_else(|| Arc::new(Monotonic(Instant::now()))),
        };
        limits.set(budget);
        limits
    }

    pub(crate) fn set(&self, budget: LogBudget) {
        // Whole milliseconds, at least one, by `LogBudget::new`.
        let ms = u64::try_from(budget.interval.as_millis()).unwrap_or(u64::MAX);
        self.interval_ms.store(ms.max(1), Relaxed);
        self.events.store(budget.events, Relaxed);
    }

    pub(crate) fn get(&self) -> LogBudget {
        LogBudget {
            events: self.events.load(Relaxed),
            interval: Duration::from_millis(self.interval_ms.load(Relaxed)),
        }
    }
}

/// What to do with one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Write it, after a summary of `suppressed` events when that is not 0.
    Write { suppressed: u64 },
    /// Count it and write nothing.
    Suppress,
}

/// One rule's (or pre-rule refusal's) counters.
struct Slot {
    /// Whether its events are shadow hits (for the summary's target).
    shadow: bool,
    /// Interval number above `COUNT_BITS`, events written in it below: one word, so that
    /// starting an interval and counting in it is one compare-and-swap.
    state: AtomicU64,
    /// Events not written since the last summary.
    suppressed: AtomicU64,
}

impl Slot {
    fn admit(&self, interval: u64, events: u32) -> Admit {
        let mut state = self.state.load(Relaxed);
        loop {
            let (current, written) = (state >> COUNT_BITS, state & COUNT_MASK);
            // A thread that read the clock a little earlier counts in the newer interval
            // rather than start an old one again.
            let next = if interval > current {
                interval << COUNT_BITS | 1
            } else if written < u64::from(events) {
                state + 1
            } else {
                self.suppressed.fetch_add(1, Relaxed);
                return Admit::Suppress;
            };
            match self
                .state
                .compare_exchange_weak(state, next, Relaxed, Relaxed)
            {
                Ok(_) if interval > current => {
                    return Admit::Write {
                        suppressed: self.suppressed.swap(0, Relaxed),
                    }
                }
                Ok(_) => return Admit::Write { suppressed: 0 },
                Err(now) => state = now,
            }
        }
    }
}

/// Names refusals made before any rule are logged under, besides rule ids.
pub(crate) const DEFAULT: &str = "(default)";
pub(crate) const MALFORMED: &str = "(malformed)";

/// The name a refusal for size is logged under: the limit's setting.
pub(crate) fn limit_name(o: Oversize) -> &'static str {
    match o {
        Oversize::Uri { .. } => "(limit max_uri_bytes)",
        Oversize::HeaderCount { .. } => "(limit max_header_count)",
        Oversize::HeaderBytes { .. } => "(limit max_header_bytes)",
        Oversize::Body { .. } => "(limit max_body_bytes)",
    }
}

const PRE_RULE: [&str; 5] = [
    DEFAULT,
    MALFORMED,
    "(limit max_uri_bytes)",
    "(limit max_header_count)",
    "(limit max_header_bytes)",
];

/// The counters of one policy: a slot per rule id and per pre-rule name, made when the
/// policy is compiled, so the request path only reads the map and counts in atomics.
pub(crate) struct Table {
    slots: HashMap<Box<str>, Slot>,
}

impl Table {
    pub(crate) fn new(policy: &Policy) -> Table {
        let rules = &policy.rules().rules;
        let mut slots = HashMap::with_capacity(rules.len() + PRE_RULE.len());
        let slot = |shadow| Slot {
            shadow,
            state: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        };
        for name in PRE_RULE {
            slots.insert(name.into(), slot(false));
        }
        for rule in rules {
            // `log` rules and shadow-mode rules only ever make shadow hits; the others
            // only refusals.
            let shadow = rule.mode == Mode::Shadow || rule.action == Action::Log;
            slots.insert(rule.id.as_str().into(), slot(shadow));
        }
        Table { slots }
    }

    /// Counts one event for `name` against the budget.
    pub(crate) fn admit(&self, name: &str, limits: &Limits) -> Admit {
        let events = limits.events.load(Relaxed);
        let Some(slot) = self.slots.get(name) else {
            // Every name the log uses has a slot; never drop an event for want of one.
            return Admit::Write { suppressed: 0 };
        };
        if events == 0 {
            // Unlimited now, perhaps not a moment ago: report what was counted then.
            let suppressed = match slot.suppressed.load(Relaxed) {
                0 => 0,
                _ => slot.suppressed.swap(0, Relaxed),
            };
            return Admit::Write { suppressed };
        }
        let interval = limits.clock.now_ms() / limits.interval_ms.load(Relaxed).max(1);
        // Past 2^40 intervals (34 years of milliseconds) the count would overflow into it.
        slot.admit(interval & (u64::MAX >> COUNT_BITS), events)
    }
}

impl Drop for Table {
    /// The policy is being replaced, or the engine dropped: counts not yet reported would
    /// be lost with the table.
    fn drop(&mut self) {
        for (name, slot) in &self.slots {
            let suppressed = slot.suppressed.swap(0, Relaxed);
            if suppressed > 0 {
                super::summary(slot.shadow, name, suppressed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_names_are_the_settings() {
        for o in [
            Oversize::Uri { len: 2, max: 1 },
            Oversize::HeaderCount { count: 2, max: 1 },
            Oversize::HeaderBytes { bytes: 2, max: 1 },
        ] {
            assert_eq!(limit_name(o), format!("(limit {})", o.setting()));
            assert!(PRE_RULE.contains(&limit_name(o)));
        }
    }

    #[test]
    fn a_slot_writes_its_budget_then_counts_then_reports_in_the_next_interval() {
        let slot = Slot {
            shadow: false,
            state: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        };
        for _ in 0..3 {
            assert_eq!(slot.admit(0, 3), Admit::Write { suppressed: 0 });
        }
        for _ in 0..5 {
            assert_eq!(slot.admit(0, 3), Admit::Suppress);
        }
        assert_eq!(slot.admit(1, 3), Admit::Write { suppressed: 5 });
        // A late reader of the clock counts in the newer interval.
        assert_eq!(slot.admit(0, 3), Admit::Write { suppressed: 0 });
        assert_eq!(slot.admit(1, 3), Admit::Write { suppressed: 0 });
        assert_eq!(slot.admit(0, 3), Admit::Suppress);
        assert_eq!(slot.admit(7, 3), Admit::Write { suppressed: 1 });
    }

    #[test]
    fn budget_settings_are_clamped() {
        assert_eq!(
            LogBudget::new(u32::MAX, Duration::ZERO).events(),
            16_777_215
        );
        assert_eq!(
            LogBudget::new(1, Duration::ZERO).interval(),
            Duration::from_millis(1)
        );
        assert_eq!(LogBudget::default().events(), 100);
        assert_eq!(LogBudget::unlimited().events(), 0);
    }
}

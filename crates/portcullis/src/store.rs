//! Rate-limit stores outside the process: what lets a fleet of servers share its limits.
//!
//! By default an engine counts rate limits in process (`RateLimiter`). With a store
//! ([`EngineBuilder::rate_limit_store`](crate::EngineBuilder::rate_limit_store)), a request
//! that reaches rate limits is decided in two steps: the rules are walked at once, then the
//! store counts the limits the request reached, all in one round trip, and
//! [`Pending::resolve`] gives the decision. Requests that reach no limit are decided as
//! without a store: synchronously, allocating nothing.

#[cfg(feature = "redis")]
mod redis;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use portcullis_decide::{Decision, LimitCheck, Pending, RateCheck};

#[cfg(feature = "redis")]
pub use self::redis::{FailureMode, RedisOptions, RedisStore, StoreError};

/// The answer of a store to one request's checks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answers {
    /// One answer per check, in order: `None` for a limit not counted (failing open); none
    /// at all after an exceeded enforced check.
    pub checks: Vec<Option<RateCheck>>,
    /// Whether the store could not be asked and the answers come from its failure mode.
    pub unavailable: bool,
}

/// Where rate limits are counted when not in process.
///
/// `check` must call `done` exactly once, from any thread, and soon: a store bounds its own
/// waiting (a timeout) and answers from its failure mode past it.
pub trait RateStore: Send + Sync + fmt::Debug {
    /// The seed every server sharing the store hashes rate-limit keys with.
    fn seed(&self) -> (u64, u64);

    /// Counts `checks` in order, stopping after the first exceeded enforced one.
    fn check(&self, checks: &[LimitCheck], done: Box<dyn FnOnce(Answers) + Send>);
}

/// Asks `store` and blocks the calling thread until it answers (a store answers within
/// its timeout).
pub(crate) fn resolve_blocking(store: &dyn RateStore, pending: Box<Pending>) -> Decision {
    let (tx, rx) = mpsc::sync_channel(1);
    store.check(
        pending.checks(),
        Box::new(move |a| {
            let _ = tx.send(a);
        }),
    );
    let answers = rx.recv().unwrap_or_else(|_| gone(pending.checks().len()));
    pending.resolve(&answers.checks, answers.unavailable)
}

/// What a store that dropped its callback without answering means: unavailable, limits not
/// counted (a store bug; never a hang).
fn gone(n: usize) -> Answers {
    Answers {
        checks: vec![None; n],
        unavailable: true,
    }
}

/// A decision waiting for a store: a future of the [`Decision`], on any executor.
pub struct Wait {
    state: Option<Box<Pending>>,
    slot: Arc<Slot>,
}

#[derive(Default)]
struct Slot {
    inner: Mutex<(Option<Answers>, Option<Waker>, bool)>,
}

impl fmt::Debug for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait").finish_non_exhaustive()
    }
}

impl Wait {
    /// Asks `store` about `pending`'s checks.
    pub(crate) fn new(store: &dyn RateStore, pending: Box<Pending>) -> Wait {
        let slot = Arc::new(Slot::default());
        let theirs = Arc::clone(&slot);
        let n = pending.checks().len();
        // Answers on drop too, so a store that loses the callback cannot hang a request.
        let answer = Answer(Some(theirs), n);
        store.check(pending.checks(), Box::new(move |a| answer.give(a)));
        Wait {
            state: Some(pending),
            slot,
        }
    }
}

struct Answer(Option<Arc<Slot>>, usize);

impl Answer {
    fn give(mut self, a: Answers) {
        if let Some(slot) = self.0.take() {
            slot.put(a);
        }
    }
}

impl Drop for Answer {
    fn drop(&mut self) {
        if let Some(slot) = self.0.take() {
            slot.put(gone(self.1));
        }
    }
}

impl Slot {
    fn put(&self, a: Answers) {
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if g.2 {
            return;
        }
        g.0 = Some(a);
        g.2 = true;
        if let Some(w) = g.1.take() {
            w.wake();
        }
    }
}

impl Future for Wait {
    type Output = Decision;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Decision> {
        let answers = {
            let mut g = self
                .slot
                .inner
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match g.0.take() {
                Some(a) => a,
                None => {
                    g.1 = Some(cx.waker().clone());
                    return Poll::Pending;
                }
            }
        };
        match self.state.take() {
            Some(p) => Poll::Ready(p.resolve(&answers.checks, answers.unavailable)),
            // Polled after completion: the answers were consumed; never reached by
            // executors, which stop polling a ready future.
            None => Poll::Pending,
        }
    }
}

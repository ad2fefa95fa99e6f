//! Test helper: the `tracing` events written while a closure runs, as text fields.

use std::sync::{Arc, Mutex, PoisonError};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// One event: target, level, and its fields (the message under `message`) as `Debug`
/// text, strings unquoted.
#[derive(Clone, Debug)]
pub(crate) struct Captured {
    pub(crate) target: String,
    pub(crate) level: Level,
    pub(crate) fields: Vec<(String, String)>,
}

impl Captured {
    /// A field's value, if the event has it.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn message(&self) -> &str {
        self.get("message").unwrap_or("")
    }
}

#[derive(Clone, Default)]
pub(crate) struct Events(Arc<Mutex<Vec<Captured>>>);

impl Events {
    pub(crate) fn take(&self) -> Vec<Captured> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// A subscriber that records into these events.
    pub(crate) fn subscriber(&self) -> impl Subscriber + Send + Sync {
        tracing_subscriber::registry().with(Recorder(self.clone()))
    }
}

/// Runs `f` with a subscriber that records every event on this thread, and returns them.
pub(crate) fn events<R>(f: impl FnOnce() -> R) -> (R, Vec<Captured>) {
    let events = Events::default();
    let out = recording(&events, f);
    (out, events.take())
}

/// Runs `f` with `events` recording this thread's events.
///
/// `tracing` caches per call site whether any subscriber wants it. A call site first hit
/// by another test thread, with no subscriber there, while this one installs its own, can
/// be cached as unwanted (an event lost one run in ten). A global subscriber that wants
/// everything (and keeps nothing) means no call site is ever cached as unwanted.
pub(crate) fn recording<R>(events: &Events, f: impl FnOnce() -> R) -> R {
    with_subscriber(events.subscriber(), f)
}

/// Runs `f` with `subscriber` on this thread; see [`recording`].
pub(crate) fn with_subscriber<R>(
    subscriber: impl Subscriber + Send + Sync + 'static,
    f: impl FnOnce() -> R,
) -> R {
    static WANT_ALL: std::sync::Once = std::sync::Once::new();
    WANT_ALL.call_once(|| {
        // Fails only when another global subscriber is set, which then decides.
        let _ = tracing::subscriber::set_global_default(Discard);
    });
    tracing::subscriber::with_default(subscriber, || {
        tracing::callsite::rebuild_interest_cache();
        f()
    })
}

/// Wants every event and keeps none.
struct Discard;

impl Subscriber for Discard {
    fn register_callsite(&self, _: &tracing::Metadata<'_>) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::always()
    }
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

struct Recorder(Events);

impl<S: Subscriber> Layer<S> for Recorder {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields(Vec::new());
        event.record(&mut fields);
        let meta = event.metadata();
        (self.0)
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Captured {
                target: meta.target().to_string(),
                level: *meta.level(),
                fields: fields.0,
            });
    }
}

struct Fields(Vec<(String, String)>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_string(), value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .push((field.name().to_string(), format!("{value:?}")));
    }
}

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
    let out = tracing::subscriber::with_default(events.subscriber(), f);
    (out, events.take())
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

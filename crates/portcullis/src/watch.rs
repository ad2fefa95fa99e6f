//! Reload when the rule files change (feature `watch`).

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher as _};

use crate::engine::Engine;

/// Quiet time after the last change before reloading: editors and deploy tools write a
/// file in several steps (truncate, write, rename), and a directory in several files.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(200);

/// Target of the watcher's reload events.
const RELOAD_TARGET: &str = "portcullis::reload";

/// Why the rule files cannot be watched.
#[derive(Debug)]
pub struct WatchError {
    message: String,
}

impl fmt::Display for WatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot watch the rule files: {}", self.message)
    }
}

impl std::error::Error for WatchError {}

impl From<notify::Error> for WatchError {
    fn from(e: notify::Error) -> WatchError {
        WatchError {
            message: e.to_string(),
        }
    }
}

/// A running file watcher; dropping it stops watching. Made by [`Engine::watch`].
pub struct Watcher {
    // Dropped first: closing the watcher closes the event channel, which ends the thread.
    watcher: Option<notify::RecommendedWatcher>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for Watcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watcher").finish_non_exhaustive()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        drop(self.watcher.take());
        if let Some(t) = self.thread.take() {
            // The thread only logs; a panic in it has nothing to report here.
            let _ = t.join();
        }
    }
}

/// What a change event must touch to trigger a reload.
struct Scope {
    /// Rule directories, watched recursively: any change below them counts.
    dirs: Vec<PathBuf>,
    /// Rule and list files outside those directories (their parents are watched).
    files: HashSet<PathBuf>,
}

impl Scope {
    fn matches(&self, path: &Path) -> bool {
        self.dirs.iter().any(|d| path.starts_with(d)) || self.files.contains(path)
    }
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

impl Engine {
    /// Watches the files and directories the engine was loaded from, and every list file
    /// they read, and reloads after [`DEFAULT_DEBOUNCE`] of quiet following a change.
    /// A reload that fails keeps the current rules and logs the diagnostics as a `tracing`
    /// error (target `portcullis::reload`); a successful one logs at info.
    ///
    /// Watching stops when the returned [`Watcher`] is dropped.
    ///
    /// # Errors
    ///
    /// When the engine was not loaded from files, or the file system watcher cannot start.
    pub fn watch(&self) -> Result<Watcher, WatchError> {
        self.watch_with(DEFAULT_DEBOUNCE)
    }

    /// [`Engine::watch`] with another debounce delay.
    ///
    /// # Errors
    ///
    /// As [`Engine::watch`].
    pub fn watch_with(&self, debounce: Duration) -> Result<Watcher, WatchError> {
        let paths = self.paths();
        if paths.is_empty() {
            return Err(WatchError {
                message: "the engine was not loaded from files".to_string(),
            });
        }
        let mut scope = Scope {
            dirs: Vec::new(),
            files: HashSet::new(),
        };
        for p in &paths {
            let p = canonical(p);
            if p.is_dir() {
                scope.dirs.push(p);
            } else {
                scope.files.insert(p);
            }
        }
        // List files named by the rules, wherever they are.
        let policy = self.policy();
        let sources = policy.rules().sources();
        for file in (0..).map_while(|i| sources.get(i)) {
            let p = canonical(&file.path);
            if !scope.matches(&p) && p.is_file() {
                scope.files.insert(p);
            }
        }

        let (tx, rx) = mpsc::channel();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                // The receiver is gone only while the watcher is being dropped.
                let _ = tx.send(event);
            })?;
        for dir in &scope.dirs {
            watcher.watch(dir, RecursiveMode::Recursive)?;
        }
        // Watch the parent of a file, not the file: editors and deploy tools replace a
        // file by renaming a new one over it, which ends a watch on the old inode.
        let parents: HashSet<&Path> = scope.files.iter().filter_map(|f| f.parent()).collect();
        for parent in parents {
            if !scope.dirs.iter().any(|d| parent.starts_with(d)) {
                watcher.watch(parent, RecursiveMode::NonRecursive)?;
            }
        }

        let engine = self.clone();
        // Reloads log to the subscriber in force where the watch began: the global one
        // as a rule, a scoped one in tests and in hosts that scope theirs.
        let dispatch = tracing::dispatcher::get_default(tracing::Dispatch::clone);
        let thread = std::thread::Builder::new()
            .name("portcullis-watch".to_string())
            .spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    watch_loop(&engine, &scope, &rx, debounce);
                });
            })
            .map_err(|e| WatchError {
                message: e.to_string(),
            })?;
        Ok(Watcher {
            watcher: Some(watcher),
            thread: Some(thread),
        })
    }
}

/// Whether an event may mean the rules changed. Reads (ours included, on every reload)
/// do not.
fn relevant(event: &notify::Result<notify::Event>, scope: &Scope) -> bool {
    match event {
        Ok(e) => match e.kind {
            EventKind::Access(notify::event::AccessKind::Close(
                notify::event::AccessMode::Write,
            )) => e.paths.iter().any(|p| scope.matches(p)),
            EventKind::Access(_) => false,
            _ => e.paths.iter().any(|p| scope.matches(p)),
        },
        // The backend lost events (queue overflow): reload to be safe.
        Err(_) => true,
    }
}

fn watch_loop(
    engine: &Engine,
    scope: &Scope,
    rx: &mpsc::Receiver<notify::Result<notify::Event>>,
    debounce: Duration,
) {
    loop {
        match rx.recv() {
            Ok(event) if relevant(&event, scope) => {}
            Ok(_) => continue,
            Err(_) => return,
        }
        // Debounce: wait until nothing has happened for `debounce`.
        loop {
            match rx.recv_timeout(debounce) {
                Ok(_) => continue,
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        match engine.reload() {
            Ok(r) => tracing::info!(
                target: RELOAD_TARGET,
                rules = r.rules,
                warnings = r.warnings.len(),
                "rules reloaded after a file change"
            ),
            // `error` is one line; the diagnostics, when there are any, are in
            // `diagnostics` and nowhere else.
            Err(e) if e.diagnostics().is_empty() => tracing::error!(
                target: RELOAD_TARGET,
                error = %e,
                "rules changed but do not load; keeping the current rules"
            ),
            Err(e) => tracing::error!(
                target: RELOAD_TARGET,
                error = %e,
                diagnostics = %e.render(),
                "rules changed but do not load; keeping the current rules"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::capture::Events;
    use crate::Engine;

    #[test]
    fn a_failed_reload_logs_its_diagnostic_once() {
        let dir = std::env::temp_dir().join(format!("portcullis-watch-log-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("rules.toml");
        std::fs::write(
            &file,
            "[[rule]]\nid = 'x'\nwhen = 'path == \"/x\"'\naction = 'forbid'\n",
        )
        .unwrap();
        let engine = Engine::from_path(&file).unwrap();
        let events = Events::default();
        let watcher = crate::capture::recording(&events, || {
            engine.watch_with(Duration::from_millis(50)).unwrap()
        });
        std::fs::write(&file, "[[rule]]\nid = 'x'\nwhen = 'path =='\n").unwrap();
        let start = Instant::now();
        let mut seen = Vec::new();
        while start.elapsed() < Duration::from_secs(10) {
            seen.extend(events.take());
            if seen.iter().any(|e| e.level == tracing::Level::ERROR) {
                break;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        // Time for a second event, if there were one.
        std::thread::sleep(Duration::from_millis(500));
        drop(watcher);
        seen.extend(events.take());
        let errors: Vec<_> = seen
            .iter()
            .filter(|e| e.level == tracing::Level::ERROR)
            .collect();
        assert_eq!(errors.len(), 1, "{seen:#?}");
        assert_eq!(errors[0].target, "portcullis::reload");
        assert!(errors[0].message().contains("keeping the current rules"));
        let text: String = errors[0].fields.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(text.matches("rules.toml:3:").count(), 1, "{text}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! `Engine`: the compiled policy in use, swapped atomically on reload.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use portcullis_decide::{
    CompileError, Decision, Evaluation, Pending, Policy, RateLimiter, Request,
};
use portcullis_rules::{Ceilings, Diagnostic, LoadOptions, RuleSet};

use crate::log::{self, LogBudget};
use crate::store::{self, RateStore};

/// Why rules could not be loaded. The engine keeps its current policy.
///
/// `Display` is one line (how many errors); [`LoadError::render`] is what an operator
/// reads, every diagnostic with its place. `Debug` shows the diagnostics too.
pub struct LoadError(Kind);

enum Kind {
    /// The rule files have errors.
    Rules(portcullis_rules::Error),
    /// The rules are valid but cannot be compiled (a size limit, say).
    Compile(CompileError),
}

impl From<portcullis_rules::Error> for LoadError {
    fn from(e: portcullis_rules::Error) -> LoadError {
        LoadError(Kind::Rules(e))
    }
}

impl From<CompileError> for LoadError {
    fn from(e: CompileError) -> LoadError {
        LoadError(Kind::Compile(e))
    }
}

/// One line: how many errors, not where. [`LoadError::render`] shows them, each once; a
/// `Display` that rendered them too put every diagnostic twice in the reload log.
impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::Rules(e) => write!(f, "{} error(s) in rule files", e.error_count()),
            Kind::Compile(e) => write!(f, "cannot compile rules: {e}"),
        }
    }
}

impl fmt::Debug for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl std::error::Error for LoadError {}

impl LoadError {
    /// The located diagnostics.
    #[must_use]
    pub fn diagnostics(&self) -> &[Diagnostic] {
        self.located().map_or(&[], |e| e.diagnostics())
    }

    /// Whether the rule files were valid and compiling them failed (a size limit).
    #[must_use]
    pub fn is_compile_error(&self) -> bool {
        matches!(self.0, Kind::Compile(_))
    }

    /// The rule at fault of a compile error.
    #[must_use]
    pub fn rule(&self) -> Option<&str> {
        match &self.0 {
            Kind::Compile(e) => e.rule(),
            Kind::Rules(_) => None,
        }
    }

    fn located(&self) -> Option<&portcullis_rules::Error> {
        match &self.0 {
            Kind::Rules(e) => Some(e),
            Kind::Compile(e) => e.located(),
        }
    }

    /// The error as an operator reads it: every diagnostic with `file:line:col`, the line
    /// and a caret.
    #[must_use]
    pub fn render(&self) -> String {
        let Some(e) = self.located() else {
            return format!("error: {self}\n");
        };
        let mut out = String::new();
        for d in e.diagnostics() {
            out.push_str(&d.render(e.sources()));
            if !out.ends_with('\n') {
                out.push('\n');
            }
        }
        out
    }
}

/// A decision the tower layer waits for: the store's answer, then the log.
#[cfg(feature = "tower")]
pub(crate) struct Waiting {
    pub(crate) wait: store::Wait,
    current: Arc<Current>,
    limits: Arc<log::Limits>,
}

#[cfg(feature = "tower")]
impl Waiting {
    /// Logs the decision the store's answer gave, as `evaluate_deferring_shadow` does.
    pub(crate) fn log(
        &self,
        decision: &Decision,
        request: &Request<'_>,
    ) -> Option<Box<log::ShadowHits>> {
        log::decision_deferring_shadow(decision, request, &self.current.log, &self.limits)
    }
}

/// What a successful (re)load reports.
#[derive(Clone, Debug)]
pub struct Reloaded {
    /// Warnings about the new rules.
    pub warnings: Vec<Diagnostic>,
    /// Rules in the new policy.
    pub rules: usize,
}

struct Shared {
    current: ArcSwap<Current>,
    paths: Mutex<Vec<PathBuf>>,
    /// How rule files are read, on load and on every reload: limits, list roots, ceilings.
    options: LoadOptions,
    limiter: Arc<RateLimiter>,
    /// Where rate limits are counted when not in `limiter`. A store's state survives a
    /// panic unharmed (atomics, and locks that shrug off poisoning), as the engine's does.
    store: Option<AssertUnwindSafe<Arc<dyn RateStore>>>,
    log: Arc<log::Limits>,
}

/// The policy in force and its decision-log counters, swapped together.
struct Current {
    policy: Policy,
    log: Arc<log::Table>,
}

impl Current {
    fn new(policy: Policy) -> Current {
        let log = Arc::new(log::Table::new(&policy));
        Current { policy, log }
    }

    /// The decision log's budget: this policy's counters under the engine's `limits`.
    fn budget<'a>(&'a self, limits: &'a log::Limits) -> log::Budget<'a> {
        log::Budget {
            table: &self.log,
            limits,
        }
    }
}

/// The rules in force: evaluate requests against them, reload them while serving.
///
/// Cloning an engine is cheap and clones share the policy: a reload through one is seen by
/// all. Each evaluation sees one whole policy, old or new, never a mix; rate-limit state is
/// kept across reloads for rules whose id and limit did not change (the limiter is sized by
/// the first policy's `rate_limit_max_keys`).
///
/// The decision log has a budget per rule, [`LogBudget::DEFAULT`] unless
/// [`Engine::set_log_budget`] says otherwise (see [`crate`] docs, "Decision log").
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("policy", &self.shared.current.load().policy)
            .finish_non_exhaustive()
    }
}

fn compile(rules: RuleSet, limiter: &Arc<RateLimiter>) -> Result<(Policy, Reloaded), LoadError> {
    let report = Reloaded {
        warnings: rules.warnings().to_vec(),
        rules: rules.rules.len(),
    };
    let policy = Policy::compile_with(rules, Arc::clone(limiter))?;
    Ok((policy, report))
}

/// Builds an [`Engine`] that reads rule files under limits the embedder chooses: for rule
/// files it does not fully trust, [`Ceilings`] bound what their `[policy]` may ask for
/// (patterns, regex memory, list sizes, nesting, rate-limit keys), with the file size and
/// the directories list files may come from. Reloads read under the same options.
///
/// ```
/// use portcullis::{Ceilings, Engine};
///
/// let ceilings = Ceilings { max_regex_bytes: Some(8 << 20), ..Ceilings::default() };
/// let engine = Engine::builder().ceilings(ceilings).parse("").unwrap();
/// assert_eq!(engine.policy().rules().settings.max_regex_bytes, 8 << 20);
/// let err = Engine::builder()
///     .ceilings(ceilings)
///     .parse("[policy]\nmax_regex_bytes = 1073741824\n")
///     .unwrap_err();
/// assert!(err.render().contains("above the ceiling"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct EngineBuilder {
    options: LoadOptions,
    budget: Option<LogBudget>,
    store: Option<Arc<dyn RateStore>>,
}

impl EngineBuilder {
    /// Every option of reading rule files at once.
    #[must_use]
    pub fn load_options(mut self, options: LoadOptions) -> EngineBuilder {
        self.options = options;
        self
    }

    /// The most the files' `[policy]` may set each resource limit to.
    #[must_use]
    pub fn ceilings(mut self, ceilings: Ceilings) -> EngineBuilder {
        self.options.ceilings = ceilings;
        self
    }

    /// The largest rule or list file read (default 64 MiB).
    #[must_use]
    pub fn max_file_bytes(mut self, bytes: u64) -> EngineBuilder {
        self.options.max_file_bytes = bytes;
        self
    }

    /// Lets list files be read from under `dir` too.
    #[must_use]
    pub fn allow_list_root(mut self, dir: impl Into<PathBuf>) -> EngineBuilder {
        self.options = self.options.allow_list_root(dir);
        self
    }

    /// The decision log's budget (default [`LogBudget::DEFAULT`]).
    #[must_use]
    pub fn log_budget(mut self, budget: LogBudget) -> EngineBuilder {
        self.budget = Some(budget);
        self
    }

    /// Counts rate limits in `store` instead of in process: a store shared by every server
    /// (a [`RedisStore`](crate::store::RedisStore)) makes a limit hold for the fleet.
    /// Requests that reach a rate limit then wait for the store (see
    /// [`Engine::evaluate_async`]); the others are decided as before.
    #[must_use]
    pub fn rate_limit_store(mut self, store: impl RateStore + 'static) -> EngineBuilder {
        self.store = Some(Arc::new(store));
        self
    }

    /// Loads rule files or directories into one policy; [`Engine::reload`] reads them again.
    ///
    /// # Errors
    ///
    /// The rule files' diagnostics ([`LoadError::diagnostics`]) when they do not load, or
    /// the compile error when the policy does not compile.
    pub fn load<P: AsRef<Path>>(self, paths: &[P]) -> Result<Engine, LoadError> {
        let rules = portcullis_seclang::load_rules(paths, &self.options)?;
        let engine = self.build(rules, None)?;
        *engine
            .shared
            .paths
            .lock()
            .unwrap_or_else(PoisonError::into_inner) =
            paths.iter().map(|p| p.as_ref().to_path_buf()).collect();
        Ok(engine)
    }

    /// Parses TOML rules from a string.
    ///
    /// # Errors
    ///
    /// As [`EngineBuilder::load`].
    pub fn parse(self, rules: &str) -> Result<Engine, LoadError> {
        let rules = RuleSet::parse_with("<string>", rules, &self.options)?;
        self.build(rules, None)
    }

    /// The engine, with the decision log's budget on `clock` when given (tests step it).
    pub(crate) fn build(
        self,
        rules: RuleSet,
        clock: Option<Arc<dyn log::Clock>>,
    ) -> Result<Engine, LoadError> {
        let limiter = Arc::new(RateLimiter::new(rules.settings.rate_limit_max_keys));
        let (policy, _) = compile(rules, &limiter)?;
        Ok(Engine {
            shared: Arc::new(Shared {
                current: ArcSwap::from_pointee(Current::new(policy)),
                paths: Mutex::new(Vec::new()),
                options: self.options,
                limiter,
                store: self.store.map(AssertUnwindSafe),
                log: Arc::new(log::Limits::new(
                    self.budget.unwrap_or(LogBudget::DEFAULT),
                    clock,
                )),
            }),
        })
    }
}

impl Engine {
    /// A builder, for limits and ceilings on the rule files the engine reads.
    #[must_use]
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// Loads rule files or directories.
    ///
    /// # Errors
    ///
    /// As [`EngineBuilder::load`].
    pub fn from_path(path: impl AsRef<Path>) -> Result<Engine, LoadError> {
        Engine::from_paths(&[path.as_ref()])
    }

    /// Loads several rule files or directories into one policy.
    ///
    /// # Errors
    ///
    /// As [`EngineBuilder::load`].
    pub fn from_paths<P: AsRef<Path>>(paths: &[P]) -> Result<Engine, LoadError> {
        Engine::builder().load(paths)
    }

    /// Parses TOML rules from a string.
    ///
    /// # Errors
    ///
    /// As [`EngineBuilder::load`].
    #[allow(clippy::should_implement_trait)] // returns our error, not FromStr's
    pub fn from_str(rules: &str) -> Result<Engine, LoadError> {
        Engine::builder().parse(rules)
    }

    /// Compiles a parsed rule set (read under whatever options its caller chose).
    ///
    /// # Errors
    ///
    /// The compile error when the policy does not compile.
    pub fn from_rules(rules: RuleSet) -> Result<Engine, LoadError> {
        Engine::builder().build(rules, None)
    }

    /// [`Engine::from_rules`] with the decision log's budget on another clock than the
    /// system's monotonic one (tests step it).
    #[cfg(test)]
    pub(crate) fn from_rules_clocked(
        rules: RuleSet,
        clock: Option<Arc<dyn log::Clock>>,
    ) -> Result<Engine, LoadError> {
        Engine::builder().build(rules, clock)
    }

    /// Decides about a request with the policy in force, and writes the decision log: one
    /// `tracing` event per refusal and per shadow hit, within the log budget (see
    /// [`crate`] docs, "Decision log").
    ///
    /// With a [rate-limit store](EngineBuilder::rate_limit_store), a request that reaches
    /// a rate limit blocks the calling thread until the store answers (within its
    /// timeout): from async code, use [`Engine::evaluate_async`].
    #[must_use]
    pub fn evaluate(&self, request: &Request<'_>) -> Decision {
        self.evaluate_logged(request, log::decision)
    }

    /// Decides about a request asked about again with the application's response
    /// ([`Request::response`](portcullis_decide::Request::response)), once it was allowed:
    /// as [`Engine::evaluate`], but logging only what the response adds (a refusal, the
    /// shadow hits of the rules that read the response), since the request's own were
    /// logged the first time. It never waits for a store: rate limits are not counted again.
    #[must_use]
    pub fn evaluate_response(&self, request: &Request<'_>) -> Decision {
        self.evaluate_logged(request, log::response_decision)
    }

    /// [`Engine::evaluate_response`] given `first`, the decision that allowed the request
    /// (from [`Engine::evaluate`]): the rules before the first that reads the response are
    /// not evaluated again ([`Policy::evaluate_after`]); with CRS, only its response
    /// rules run. The tower layer asks this way.
    #[must_use]
    pub fn evaluate_response_after(&self, request: &Request<'_>, first: &Decision) -> Decision {
        let current = self.shared.current.load();
        let decision = current.policy.evaluate_after(request, first);
        log::response_decision(&decision, request, current.budget(&self.shared.log));
        decision
    }

    /// Decides, waiting for a store if need be, and logs the decision with `log`.
    fn evaluate_logged(
        &self,
        request: &Request<'_>,
        log: fn(&Decision, &Request<'_>, log::Budget<'_>),
    ) -> Decision {
        let current = self.shared.current.load();
        let decision = match self.evaluate_in(&current, request) {
            Ok(d) => d,
            Err((store, pending)) => store::resolve_blocking(store, pending),
        };
        log(&decision, request, current.budget(&self.shared.log));
        decision
    }

    /// [`Engine::evaluate`] without blocking: a request that reaches no rate limit kept in
    /// a store is decided at once, the others when the store answered. The future borrows
    /// nothing and runs on any executor.
    pub fn evaluate_async(
        &self,
        request: &Request<'_>,
    ) -> impl Future<Output = Decision> + Send + 'static {
        let current = self.shared.current.load_full();
        let limits = Arc::clone(&self.shared.log);
        let waiting = match self.evaluate_in(&current, request) {
            Ok(d) => {
                log::decision(&d, request, current.budget(&limits));
                Ok(d)
            }
            Err((store, pending)) => {
                Err((store::Wait::new(store, pending), log::Owned::of(request)))
            }
        };
        async move {
            match waiting {
                Ok(d) => d,
                Err((wait, fields)) => {
                    let d = wait.await;
                    log::decision_of(&d, &fields.borrow(), current.budget(&limits));
                    d
                }
            }
        }
    }

    /// The decision, or what a store must count first.
    fn evaluate_in<'s>(
        &'s self,
        current: &Current,
        request: &Request<'_>,
    ) -> Result<Decision, (&'s dyn RateStore, Box<Pending>)> {
        let Some(store) = self.shared.store.as_ref().map(|s| &*s.0) else {
            return Ok(current.policy.evaluate(request));
        };
        match current.policy.evaluate_deferred(request, store.seed()) {
            Evaluation::Done(d) => Ok(d),
            Evaluation::Pending(p) => Err((store, p)),
        }
    }

    /// [`Engine::evaluate`] for the tower layer: the shadow hits of an allowed request are
    /// returned unlogged, for the layer to log once the application answered; a request
    /// that waits for a rate-limit store is returned waiting.
    #[cfg(feature = "tower")]
    pub(crate) fn evaluate_deferring_shadow(
        &self,
        request: &Request<'_>,
    ) -> Result<(Decision, Option<Box<log::ShadowHits>>), Waiting> {
        let current = self.shared.current.load();
        match self.evaluate_in(&current, request) {
            Ok(decision) => {
                let shadow = log::decision_deferring_shadow(
                    &decision,
                    request,
                    &current.log,
                    &self.shared.log,
                );
                Ok((decision, shadow))
            }
            Err((store, pending)) => Err(Waiting {
                wait: store::Wait::new(store, pending),
                current: arc_swap::Guard::into_inner(current),
                limits: Arc::clone(&self.shared.log),
            }),
        }
    }

    /// Sets the decision log's budget: at most so many events per rule per interval
    /// (default [`LogBudget::DEFAULT`], 100 per second), so that a flood of refusals
    /// cannot fill a disk. It applies at once, to every clone of the engine, and stays
    /// across reloads.
    ///
    /// ```
    /// use std::time::Duration;
    /// use portcullis::{Engine, LogBudget};
    ///
    /// let engine = Engine::from_str("").unwrap();
    /// engine.set_log_budget(LogBudget::new(1_000, Duration::from_secs(60)));
    /// assert_eq!(engine.log_budget().events(), 1_000);
    /// ```
    pub fn set_log_budget(&self, budget: LogBudget) {
        self.shared.log.set(budget);
    }

    /// The decision log's budget.
    #[must_use]
    pub fn log_budget(&self) -> LogBudget {
        self.shared.log.get()
    }

    /// The files and directories the engine loads from on [`Engine::reload`] (empty for
    /// an engine made from a string or a rule set).
    pub fn paths(&self) -> Vec<PathBuf> {
        self.shared
            .paths
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many bytes of a body to hand over with a request, when the policy in force
    /// reads bodies: `max_body_bytes` and one more (so an over-long body shows as such);
    /// `None` when no rule reads the body.
    #[must_use]
    pub fn body_bytes_wanted(&self) -> Option<usize> {
        let current = self.shared.current.load();
        let p = &current.policy;
        p.reads_body()
            .then(|| p.rules().settings.max_body_bytes.saturating_add(1))
    }

    /// How many bytes of the application's response body to hand over when asking again
    /// with the response ([`Request::response`](portcullis_decide::Request::response)),
    /// when the policy in force reads responses: `max_body_bytes`; `None` when no rule
    /// reads them.
    #[must_use]
    pub fn response_bytes_wanted(&self) -> Option<usize> {
        let current = self.shared.current.load();
        let p = &current.policy;
        p.reads_response()
            .then(|| p.rules().settings.max_body_bytes)
    }

    /// The policy in force (a cheap handle; it stays valid across reloads).
    #[must_use]
    pub fn policy(&self) -> Policy {
        Policy::clone(&self.shared.current.load().policy)
    }

    /// Reloads the files the engine was loaded from. On error the current policy stays,
    /// and the error carries the diagnostics.
    ///
    /// # Errors
    ///
    /// As [`EngineBuilder::load`]; the engine keeps its current policy.
    pub fn reload(&self) -> Result<Reloaded, LoadError> {
        let paths = self
            .shared
            .paths
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let rules = portcullis_seclang::load_rules(&paths, &self.shared.options)?;
        self.install(rules)
    }

    /// Loads other files and makes them the engine's source for later reloads.
    ///
    /// # Errors
    ///
    /// As [`EngineBuilder::load`]; the engine keeps its current policy and paths.
    pub fn reload_from<P: AsRef<Path>>(&self, paths: &[P]) -> Result<Reloaded, LoadError> {
        let rules = portcullis_seclang::load_rules(paths, &self.shared.options)?;
        let report = self.install(rules)?;
        *self
            .shared
            .paths
            .lock()
            .unwrap_or_else(PoisonError::into_inner) =
            paths.iter().map(|p| p.as_ref().to_path_buf()).collect();
        Ok(report)
    }

    /// Parses TOML rules from a string and swaps them in (the file paths used by
    /// [`Engine::reload`] stay as they were).
    ///
    /// # Errors
    ///
    /// As [`EngineBuilder::load`]; the engine keeps its current policy.
    pub fn reload_str(&self, rules: &str) -> Result<Reloaded, LoadError> {
        self.install(RuleSet::parse_with(
            "<string>",
            rules,
            &self.shared.options,
        )?)
    }

    /// Compiles a rule set off to the side and swaps it in (it was read under its
    /// caller's options, not the engine's). Requests being evaluated
    /// finish with the policy they started with; the old policy is freed when the last
    /// decision holding it is dropped. Counts of decision-log events the old policy's
    /// budget suppressed are written as they are replaced.
    ///
    /// # Errors
    ///
    /// The compile error; the engine keeps its current policy.
    pub fn install(&self, rules: RuleSet) -> Result<Reloaded, LoadError> {
        let (policy, report) = compile(rules, &self.shared.limiter)?;
        self.shared.current.store(Arc::new(Current::new(policy)));
        Ok(report)
    }
}

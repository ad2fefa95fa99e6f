//! `Policy`: a compiled rule set, and the decision procedure shared by every evaluator.

use std::cell::Cell;
use std::fmt;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portcullis_match::normalize::PathStyle;
use portcullis_match::ScanLimits;
use portcullis_rules::{
    Action, Default, Field, Matched, MatchedValue, Mode, OnAmbiguousPath, OnBodyLimit, OnOversize,
    RateKey, Rule, RuleSet, Settings, Span,
};
use smallvec::SmallVec;

use crate::compiled::{FieldCost, Program, RuleCost, Run, Scratch};
use crate::decision::{
    BodyState, Cause, Decision, IdSource, Malformed, Oversize, RateInfo, RequestId, ShadowHit,
    Verdict,
};
use crate::deferred::{Evaluation, LimitCheck, Pending};
use crate::evidence::{Evidence, Message};
use crate::fields::Fields;
use crate::ratekey::{limit_key, rate_info};
use crate::ratelimit::RateLimiter;
use crate::reference::Reference;
use crate::request::{AuthStatus, Request};

/// Why a rule set could not be compiled (a regex over the size limits, say), located at
/// the rule or list at fault like every other rule-file error.
#[derive(Clone, Debug)]
pub struct CompileError(Box<Detail>);

#[derive(Clone, Debug)]
struct Detail {
    rule: Option<String>,
    list: Option<String>,
    message: String,
    hint: String,
    span: Option<Span>,
    /// The diagnostic with the rule set's sources, filled in once they are at hand.
    located: Option<portcullis_rules::Error>,
}

impl CompileError {
    pub(crate) fn new(rule: Option<&str>, list: Option<&str>, message: String) -> CompileError {
        CompileError(Box::new(Detail {
            rule: rule.map(str::to_string),
            list: list.map(str::to_string),
            message,
            hint: "raise the limit in [policy] if the rule is meant, or simplify it".to_string(),
            span: None,
            located: None,
        }))
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> CompileError {
        self.0.hint = hint.into();
        self
    }

    /// Points the error at the text at fault (a predicate) rather than its rule.
    pub(crate) fn at(mut self, span: Option<Span>) -> CompileError {
        self.0.span = span;
        self
    }

    /// Locates the error in `rules`' files: at its predicate, rule or list.
    pub(crate) fn locate(mut self, rules: &RuleSet) -> CompileError {
        let span = self.0.span.or_else(|| match (&self.0.rule, &self.0.list) {
            (Some(r), _) => rules.rules.iter().find(|x| &x.id == r).map(|x| x.span),
            (None, Some(l)) => rules.lists.iter().find(|x| &x.name == l).map(|x| x.span),
            (None, None) => None,
        });
        let message = self.to_string();
        let d = portcullis_rules::Diagnostic::error(span, message).hint(self.0.hint.clone());
        self.0.located = Some(portcullis_rules::Error::new(
            vec![d],
            rules.sources().clone(),
        ));
        self
    }

    /// The rule at fault, when one is.
    #[must_use]
    pub fn rule(&self) -> Option<&str> {
        self.0.rule.as_deref()
    }

    /// The list at fault, when one is.
    #[must_use]
    pub fn list(&self) -> Option<&str> {
        self.0.list.as_deref()
    }

    /// The error as a located diagnostic (`file:line:col`, the line, a caret and a hint),
    /// for reporting it the way rule-file errors are.
    #[must_use]
    pub fn located(&self) -> Option<&portcullis_rules::Error> {
        self.0.located.as_ref()
    }
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.0.rule, &self.0.list) {
            (Some(r), _) => write!(f, "rule `{r}`: {}", self.0.message),
            (None, Some(l)) => write!(f, "list `{l}`: {}", self.0.message),
            (None, None) => f.write_str(&self.0.message),
        }
    }
}

impl std::error::Error for CompileError {}

/// A compiled rule set: immutable, `Send + Sync`, and a cheap handle (cloning it clones a
/// reference count).
#[derive(Clone)]
pub struct Policy {
    inner: Arc<Inner>,
}

struct Inner {
    rules: RuleSet,
    program: Program,
    /// Built on first use: only tests and tools ask for it, and it would double the memory
    /// and compile time of every policy.
    reference: OnceLock<Result<Reference, CompileError>>,
    limiter: Arc<RateLimiter>,
    /// Per rule: whether its condition reads `auth.*`.
    identity: Vec<bool>,
    /// Whether an enforced allow rule reads identity: then a default refusal of an
    /// unauthenticated caller is a 401 (logging in could change the outcome).
    identity_allow: bool,
    checks: MalformedChecks,
    /// The first rule that reads the application's response: asked again with the
    /// response, the walk resumes there (see [`Policy::evaluate_after`]).
    first_response_rule: Option<usize>,
    /// Its number, unique in the process: which policy a decision came from.
    id: u64,
}

/// The number of the next policy compiled.
static NEXT_POLICY_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Which malformed-request checks a policy runs. Each guards a field against the server
/// reading it differently from the rules, so it runs only when some rule reads that
/// field: a policy that judges nothing of the path cannot be bypassed through the path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct MalformedChecks {
    /// A duplicate `Host`, or one that disagrees with the target: when a rule (or a rate
    /// limit's key) reads `host` or `header["host"]`.
    pub host: bool,
    /// An ambiguous path: under `on_ambiguous_path = "forbid"`, when a rule reads `path`,
    /// `raw_path`, `request_line`, `uri`, `raw_uri`, `basename` or `path_segment(n)`.
    pub ambiguous_path: bool,
}

impl MalformedChecks {
    fn of(rules: &RuleSet) -> MalformedChecks {
        let mut checks = MalformedChecks::default();
        for rule in &rules.rules {
            rule.when.visit_preds(&mut |p| {
                p.visit_fields(&mut |f| match f {
                    Field::Host => checks.host = true,
                    Field::Header(name) => checks.host |= name == "host",
                    f => checks.ambiguous_path |= f.reads_path(),
                });
            });
            let mut keys = rule.rate_limit.iter().flat_map(|rl| &rl.key);
            checks.host |= keys.any(|k| matches!(k, RateKey::Header(n) if n == "host"));
        }
        checks.ambiguous_path &= rules.settings.on_ambiguous_path == OnAmbiguousPath::Forbid;
        checks
    }
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("rules", &self.inner.rules.rules.len())
            .field("lists", &self.inner.rules.lists.len())
            .finish_non_exhaustive()
    }
}

/// What an evaluator gives the decision procedure: which rules may match, in order, and
/// whether one does.
pub(crate) trait Candidates {
    /// The first rule at or after `from` that may match (rules skipped are known not to).
    fn next_candidate(&mut self, from: usize) -> Option<usize>;
    /// Whether rule `i`'s condition holds.
    fn matches(&mut self, i: usize) -> bool;
    /// How the request is malformed, if it is (each evaluator finds out its own way).
    fn malformed(&mut self, req: &Request<'_>, checks: MalformedChecks) -> Option<Malformed>;
    /// Rule `i` matched: its scores and labels count for the rules after it.
    fn record(&mut self, i: usize);
    /// What the body fields said, when a rule read them.
    fn body(&self) -> Option<BodyState> {
        None
    }
}

thread_local! {
    /// Two per thread, so a thread alternating between two policies (the old and the new
    /// around a reload, or two engines) does not rebuild its scratch on every request.
    /// Boxed, so lending one out and taking it back moves a pointer.
    static SCRATCH: [Cell<Option<Box<Scratch>>>; 2] = const { [Cell::new(None), Cell::new(None)] };
}

/// Scratch lent out of [`SCRATCH`] for one evaluation, given back (as the most recently
/// used) when dropped: after the decision is written where the caller wants it.
struct Lent(Option<Box<Scratch>>);

impl Drop for Lent {
    fn drop(&mut self) {
        let scratch = self.0.take();
        let _ = SCRATCH.try_with(|[first, second]| {
            if let Some(other) = first.replace(scratch) {
                second.set(Some(other));
            }
        });
    }
}

/// Every rule is a candidate; `matches` decides, `record` keeps the tally.
struct EveryRule<F, G> {
    count: usize,
    matches: F,
    record: G,
}

impl<F: FnMut(usize) -> bool, G: FnMut(usize)> Candidates for EveryRule<F, G> {
    fn next_candidate(&mut self, from: usize) -> Option<usize> {
        (from < self.count).then_some(from)
    }
    fn matches(&mut self, i: usize) -> bool {
        (self.matches)(i)
    }
    fn record(&mut self, i: usize) {
        (self.record)(i);
    }
    fn malformed(&mut self, req: &Request<'_>, checks: MalformedChecks) -> Option<Malformed> {
        crate::naive::malformed(req, checks)
    }
}

/// The compiled evaluator, recording each rule it evaluates with the value of each of its
/// predicates (as the compiled program computed them) and the request values they read;
/// rules skipped for a preflight are traced as skipped.
struct Tracer<'p, 'f, 'a, 'r> {
    policy: &'p Policy,
    fields: &'f Fields<'f>,
    run: Run<'a, 'r>,
    exempt: bool,
    trace: Vec<RuleTrace<'p>>,
}

impl Candidates for Tracer<'_, '_, '_, '_> {
    fn next_candidate(&mut self, from: usize) -> Option<usize> {
        let next = self.run.next_candidate(from)?;
        let identity = self.policy.inner.identity.get(next).copied();
        if let (true, Some(true), Some(rule)) = (
            self.exempt,
            identity,
            self.policy.inner.rules.rules.get(next),
        ) {
            self.trace.push(RuleTrace {
                rule,
                matched: false,
                skipped_preflight: true,
                predicates: Vec::new(),
                seen: Vec::new(),
            });
        }
        Some(next)
    }

    fn malformed(&mut self, req: &Request<'_>, checks: MalformedChecks) -> Option<Malformed> {
        self.run.malformed(req, checks)
    }

    fn body(&self) -> Option<BodyState> {
        self.run.body()
    }

    fn record(&mut self, i: usize) {
        self.run.record(i);
    }

    fn matches(&mut self, i: usize) -> bool {
        let Some(rule) = self.policy.inner.rules.rules.get(i) else {
            return false;
        };
        let mut values = Vec::new();
        self.run.pred_values(i, &rule.when, &mut values);
        let mut predicates = Vec::new();
        let mut seen = Vec::new();
        rule.when.visit_preds(&mut |p| {
            predicates.push((p, values.get(predicates.len()).copied().unwrap_or(false)));
            seen.push(crate::reference::seen(&p.kind, self.fields));
        });
        let matched = self.run.matches(i);
        self.trace.push(RuleTrace {
            rule,
            matched,
            skipped_preflight: false,
            predicates,
            seen,
        });
        matched
    }
}

/// One rule's part in a decision, for `--explain`.
#[derive(Clone, Debug)]
pub struct RuleTrace<'p> {
    /// The rule.
    pub rule: &'p Rule,
    /// Whether its condition held.
    pub matched: bool,
    /// Not evaluated because the request is a CORS preflight and the rule reads identity.
    pub skipped_preflight: bool,
    /// Each predicate of the condition with its value on this request.
    pub predicates: Vec<(&'p portcullis_rules::Pred, bool)>,
    /// For each entry of `predicates`, the request values it read (`path = "/admin/x"`,
    /// cut to 80 characters), so an operator sees what matched; `None` for a predicate
    /// that reads no field.
    pub seen: Vec<Option<String>>,
}

impl Policy {
    /// Compiles a rule set with its own rate limiter (sized by the rule set's settings).
    ///
    /// # Errors
    ///
    /// A rule set over one of its compile limits (patterns, regex size or memory), located
    /// on the rule that crossed it.
    pub fn compile(rules: RuleSet) -> Result<Policy, CompileError> {
        let limiter = Arc::new(RateLimiter::new(rules.settings.rate_limit_max_keys));
        Policy::compile_with(rules, limiter)
    }

    /// Compiles a rule set that shares `limiter` (and so its state) with other policies,
    /// such as the one it replaces on reload.
    ///
    /// # Errors
    ///
    /// As [`Policy::compile`].
    pub fn compile_with(rules: RuleSet, limiter: Arc<RateLimiter>) -> Result<Policy, CompileError> {
        let program = Program::compile(&rules).map_err(|e| e.locate(&rules))?;
        let checks = MalformedChecks::of(&rules);
        let identity: Vec<bool> = rules.rules.iter().map(Rule::is_identity).collect();
        let first_response_rule = rules.rules.iter().position(Rule::reads_response);
        let identity_allow = rules
            .rules
            .iter()
            .zip(&identity)
            .any(|(r, &id)| id && r.action == Action::Allow && r.mode == Mode::Enforce);
        Ok(Policy {
            inner: Arc::new(Inner {
                rules,
                program,
                reference: OnceLock::new(),
                limiter,
                identity,
                identity_allow,
                checks,
                first_response_rule,
                id: NEXT_POLICY_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            }),
        })
    }

    /// The rule at an evaluation-order index.
    pub(crate) fn rule_at(&self, i: RuleIndex) -> Option<&Rule> {
        self.inner.rules.rules.get(i.0 as usize)
    }

    /// Bytes held by the compiled regexes of all rules and lists, which `max_regex_bytes`
    /// bounds (their per-thread search caches are bounded apart, by
    /// `max_regex_cache_bytes`).
    #[must_use]
    pub fn regex_bytes(&self) -> usize {
        self.inner.program.regex_bytes
    }

    /// Whether a rule reads the request body (`args`, `body`, …): a host should then hand
    /// the body over (up to `max_body_bytes`), and needs to only then.
    #[must_use]
    pub fn reads_body(&self) -> bool {
        self.inner.program.reads_body
    }

    /// Whether a rule reads the application's response (`response.*`): a host should
    /// then ask again with the response ([`Request::response`]) once the request was
    /// allowed, and needs to only then.
    #[must_use]
    pub fn reads_response(&self) -> bool {
        self.inner.program.reads_response
    }

    /// The rule set this policy was compiled from.
    #[must_use]
    pub fn rules(&self) -> &RuleSet {
        &self.inner.rules
    }

    /// The rate limiter.
    #[must_use]
    pub fn limiter(&self) -> &Arc<RateLimiter> {
        &self.inner.limiter
    }

    /// Decides about a request with the compiled program, using this thread's scratch
    /// space: nothing is allocated in the steady state.
    #[must_use]
    pub fn evaluate(&self, req: &Request<'_>) -> Decision {
        self.with_scratch(|scratch| self.evaluate_with(req, scratch))
    }

    /// [`Policy::evaluate`] for rate limits counted by a store outside the process (one a
    /// fleet of servers shares): the rate limits the request reaches are not counted here
    /// but returned as checks, keyed with `seed`, for the store to answer (see
    /// [`Pending::resolve`]). A request that reaches none is decided at once.
    #[must_use]
    pub fn evaluate_deferred(&self, req: &Request<'_>, seed: (u64, u64)) -> Evaluation {
        self.with_scratch(|scratch| {
            let mut checks = SmallVec::new();
            let tentative = self.run(req, scratch, Some((seed, &mut checks)));
            if checks.is_empty() {
                Evaluation::Done(tentative)
            } else {
                Evaluation::Pending(Box::new(Pending {
                    policy: self.clone(),
                    tentative,
                    checks,
                }))
            }
        })
    }

    /// Runs `f` with this thread's scratch space for this policy.
    fn with_scratch<R>(&self, f: impl FnOnce(&mut Scratch) -> R) -> R {
        let program = &self.inner.program;
        let mine = SCRATCH.try_with(|slots| {
            slots.iter().find_map(|slot| {
                let s = slot.take()?;
                if program.owns(&s) {
                    return Some(s);
                }
                slot.set(Some(s));
                None
            })
        });
        // None when re-entered (evaluate called from inside an evaluation) or new.
        let mut lent = Lent(mine.ok().flatten());
        let scratch = lent.0.get_or_insert_with(|| Box::new(program.scratch()));
        f(scratch)
    }

    /// Decides about several requests, appending the decisions to `out` in order. The IP
    /// table lookups of the whole batch run first, independently of each other, so their
    /// cache misses overlap instead of queueing one per request.
    pub fn evaluate_many(&self, reqs: &[Request<'_>], out: &mut Vec<Decision>) {
        for r in reqs {
            if let Some(ip) = r.client_ip {
                self.inner.program.touch_ip(ip);
            }
        }
        out.extend(reqs.iter().map(|r| self.evaluate(r)));
    }

    /// What each field costs to compute and scan over `reqs`, most expensive first: for
    /// `portcullis bench`, to show an operator where a rule set spends its time.
    #[must_use]
    pub fn field_costs(&self, reqs: &[Request<'_>]) -> Vec<FieldCost> {
        self.inner.program.field_costs(reqs)
    }

    /// What each rule's condition costs over `reqs` when evaluated alone (the fields it
    /// reads included), most expensive first: for `portcullis bench`, to show which rules
    /// of a large set (OWASP CRS) cost the most.
    #[must_use]
    pub fn rule_costs(&self, reqs: &[Request<'_>]) -> Vec<RuleCost> {
        self.inner.program.rule_costs(reqs)
    }

    /// [`Policy::evaluate`] with explicit scratch space (from [`Policy::scratch`]; scratch
    /// made for another policy is rebuilt).
    pub fn evaluate_with(&self, req: &Request<'_>, scratch: &mut Scratch) -> Decision {
        self.run(req, scratch, None)
    }

    /// The compiled program's decision, rate limits counted here or deferred.
    fn run(&self, req: &Request<'_>, scratch: &mut Scratch, defer: Option<Defer<'_>>) -> Decision {
        self.run_from(req, scratch, defer, None)
    }

    /// [`Policy::run`], resumed at a rule after what a first decision did before it.
    fn run_from(
        &self,
        req: &Request<'_>,
        scratch: &mut Scratch,
        defer: Option<Defer<'_>>,
        resume: Option<(usize, &Decision)>,
    ) -> Decision {
        let program = &self.inner.program;
        program.reset(scratch);
        let preflight = req.is_preflight();
        let mut run = Run::new(program, scratch, req, preflight);
        self.decide(req, preflight, &mut run, defer, resume)
    }

    /// Decides about a request asked about again with the application's response
    /// ([`Request::response`]), given the decision about it without the response,
    /// `first`, which allowed it by default: as [`Policy::evaluate`] would, but the rules
    /// before the first that reads the response are not evaluated again (with CRS, the
    /// request's 200-odd rules: only the response's run). Any other `first` (another
    /// policy's, as after a reload; one a rule decided) is evaluated whole.
    #[must_use]
    pub fn evaluate_after(&self, req: &Request<'_>, first: &Decision) -> Decision {
        // Another policy's rules (before a reload) may have matched otherwise.
        let from = self.inner.first_response_rule.filter(|_| {
            first.policy_id == self.inner.id
                && req.response.is_some()
                && first.verdict == Verdict::Allow
                && first.rule.is_none()
                && first.cause == Cause::None
        });
        match from {
            Some(from) => {
                self.with_scratch(|scratch| self.run_from(req, scratch, None, Some((from, first))))
            }
            None => self.evaluate(req),
        }
    }

    /// Scratch space for [`Policy::evaluate_with`].
    #[must_use]
    pub fn scratch(&self) -> Scratch {
        self.inner.program.scratch()
    }

    /// Decides with the reference evaluator: the specification other evaluators are
    /// tested against. It is compiled on the first call.
    ///
    /// # Panics
    ///
    /// When the reference cannot compile a pattern the compiled evaluator accepted: each
    /// reference regex is bounded by `max_regex_bytes` on its own, and the compiled program
    /// fits them all in that budget together, so this is a bug in one of the two.
    #[must_use]
    #[allow(clippy::panic)] // a bug, never input: see above
    pub fn evaluate_reference(&self, req: &Request<'_>) -> Decision {
        let reference = match self
            .inner
            .reference
            .get_or_init(|| Reference::new(&self.inner.rules))
        {
            Ok(r) => r,
            Err(e) => panic!("the reference evaluator rejects what the compiler accepted: {e}"),
        };
        let fields = Fields::new(req, &self.inner.rules.settings);
        let rules = &self.inner.rules;
        let mut every = EveryRule {
            count: rules.rules.len(),
            matches: |i: usize| {
                rules
                    .rules
                    .get(i)
                    .is_some_and(|r| reference.eval(rules, &r.when, &fields))
            },
            record: |i: usize| {
                if let Some(r) = rules.rules.get(i) {
                    fields.tally.borrow_mut().add(r);
                }
            },
        };
        self.decide(req, fields.preflight, &mut every, None, None)
    }

    /// For each rule of `matched` (indexes into this policy) whose condition held on a
    /// member of a collection, which member (see [`Evidence`]), computed again by the
    /// compiled program on `req`.
    pub(crate) fn evidence(
        &self,
        req: &Request<'_>,
        matched: &[RuleIndex],
    ) -> Vec<(&Rule, Evidence)> {
        let program = &self.inner.program;
        // A scratch of its own, whose memo is empty: every value the evidence reads is
        // computed (a remembered member's are not all kept).
        let mut scratch = program.scratch();
        program.reset(&mut scratch);
        let mut run = Run::new(program, &mut scratch, req, req.is_preflight());
        matched
            .iter()
            .filter_map(|&i| {
                let rule = self.rule_at(i)?;
                run.evidence(i.0 as usize, &rule.when).map(|e| (rule, e))
            })
            .collect()
    }

    /// For each rule of `matched` that has log texts, the texts filled in on `req` with
    /// the value it held on and the scores as they stood after it ran (the points of the
    /// rules matched up to it, its own included, as ModSecurity fills in a rule's `msg`
    /// after its `setvar`s).
    pub(crate) fn messages(&self, req: &Request<'_>, matched: &[RuleIndex]) -> Vec<Message> {
        let program = &self.inner.program;
        // Fresh, as for evidence.
        let mut scratch = program.scratch();
        program.reset(&mut scratch);
        let mut run = Run::new(program, &mut scratch, req, req.is_preflight());
        // Any field a text quotes (`%{ARGS._method}`), compiled into the program or not,
        // read (the body parsed again) only when one does.
        let fields = std::cell::OnceCell::new();
        let values = Quoted(|| fields.get_or_init(|| Fields::new(req, &self.inner.rules.settings)));
        let mut out = Vec::new();
        for (j, &i) in matched.iter().enumerate() {
            let Some(rule) = self.rule_at(i) else {
                continue;
            };
            let Some(log) = &rule.log else {
                continue;
            };
            let upto = matched.get(..=j).unwrap_or_default();
            let score = |name: &str| self.score_total(upto, name);
            let found = run.matched_value(i.0 as usize, &rule.when);
            let m = Matched {
                value: found.as_ref().map(|(field, name, value)| MatchedValue {
                    field,
                    name: name.as_deref(),
                    value,
                }),
                score: &score,
                values: &values,
            };
            out.push(Message {
                rule: rule.id.clone(),
                message: log.0.message(&m),
                data: log.0.data(&m),
                severity: log.0.severity().map(str::to_string),
                tags: rule.tags.clone(),
            });
        }
        out
    }

    /// The total of score `name` over the rules `matched`; `None` when none adds to it.
    pub(crate) fn score_total(&self, matched: &[RuleIndex], name: &str) -> Option<i64> {
        let mut points = matched
            .iter()
            .filter_map(|&i| self.rule_at(i))
            .flat_map(|r| r.score.iter())
            .filter(|(n, _)| n == name)
            .map(|(_, p)| *p)
            .peekable();
        points.peek()?;
        Some(points.fold(0i64, i64::saturating_add))
    }

    /// [`Policy::evidence`] by the reference evaluator.
    pub(crate) fn evidence_reference(
        &self,
        req: &Request<'_>,
        matched: &[RuleIndex],
    ) -> Vec<(&Rule, Evidence)> {
        let Ok(reference) = self
            .inner
            .reference
            .get_or_init(|| Reference::new(&self.inner.rules))
        else {
            return Vec::new();
        };
        let fields = Fields::new(req, &self.inner.rules.settings);
        let rules = &self.inner.rules;
        matched
            .iter()
            .filter_map(|&i| {
                let rule = self.rule_at(i)?;
                reference
                    .evidence(rules, &rule.when, &fields)
                    .map(|e| (rule, e))
            })
            .collect()
    }

    /// The rules the compiled evaluator evaluated for the request, in order, up to the one
    /// that decided (rules it skipped are known not to match), each with its predicates'
    /// values: the decision is the one [`Policy::evaluate`] makes.
    #[must_use]
    pub fn explain<'p>(&'p self, req: &Request<'_>) -> (Decision, Vec<RuleTrace<'p>>) {
        let settings = &self.inner.rules.settings;
        let fields = Fields::new(req, settings);
        let program = &self.inner.program;
        // Fresh, as for evidence: every value the trace shows is computed.
        let mut scratch = program.scratch();
        program.reset(&mut scratch);
        let preflight = req.is_preflight();
        let mut tracer = Tracer {
            policy: self,
            fields: &fields,
            run: Run::new(program, &mut scratch, req, preflight),
            exempt: preflight && settings.preflight_exempt,
            trace: Vec::new(),
        };
        let decision = self.decide(req, preflight, &mut tracer, None, None);
        (decision, tracer.trace)
    }

    /// The decision procedure: rules in order, the first terminal verdict wins; `log` and
    /// shadow rules record and go on; rate limits count and refuse when exceeded.
    /// `matches(i)` says whether rule `i`'s condition holds.
    pub(crate) fn decide(
        &self,
        req: &Request<'_>,
        preflight: bool,
        rules: &mut dyn Candidates,
        mut defer: Option<Defer<'_>>,
        resume: Option<(usize, &Decision)>,
    ) -> Decision {
        let settings = &self.inner.rules.settings;
        let (oversize, request_id) = oversize_and_id(req, settings);
        if let (Some(o), OnOversize::Forbid) = (oversize, settings.on_oversize) {
            let status = match o {
                Oversize::Uri { .. } => settings.uri_too_long_status,
                Oversize::HeaderCount { .. } | Oversize::HeaderBytes { .. } => {
                    settings.headers_too_large_status
                }
                Oversize::Body { .. } => 413,
            };
            return Decision {
                policy: Some(self.clone()),
                path_style: path_style(settings),
                verdict: Verdict::Forbid,
                rule: None,
                status,
                cause: Cause::Oversize,
                rate: None,
                shadow: SmallVec::new(),
                matched: SmallVec::new(),
                request_id,
                oversize,
                malformed: None,
                rate_store_unavailable: false,
                policy_id: self.inner.id,
                body: None,
            };
        }
        // A body too long to read whole, for a policy that reads bodies (RFC 9110 §15.5.14).
        let body_over = || {
            req.body
                .map(<[u8]>::len)
                .filter(|&len| len > settings.max_body_bytes)
        };
        let refuse_body =
            self.inner.program.reads_body && settings.on_body_limit == OnBodyLimit::Forbid;
        if let Some(len) = refuse_body.then(body_over).flatten() {
            return Decision {
                policy: Some(self.clone()),
                path_style: path_style(settings),
                verdict: Verdict::Forbid,
                rule: None,
                status: 413,
                cause: Cause::Oversize,
                rate: None,
                shadow: SmallVec::new(),
                matched: SmallVec::new(),
                request_id,
                oversize: Some(Oversize::Body {
                    len,
                    max: settings.max_body_bytes,
                }),
                malformed: None,
                rate_store_unavailable: false,
                policy_id: self.inner.id,
                body: None,
            };
        }
        let checks = self.inner.checks;
        let malformed = (checks != MalformedChecks::default())
            .then(|| rules.malformed(req, checks))
            .flatten();
        if let Some(m) = malformed {
            return Decision {
                policy: Some(self.clone()),
                path_style: path_style(settings),
                verdict: Verdict::Forbid,
                rule: None,
                status: 400,
                cause: Cause::Malformed,
                rate: None,
                shadow: SmallVec::new(),
                matched: SmallVec::new(),
                request_id,
                oversize,
                malformed: Some(m),
                rate_store_unavailable: false,
                policy_id: self.inner.id,
                body: None,
            };
        }
        let mut shadow: SmallVec<[ShadowHit; 4]> = SmallVec::new();
        let mut matched: SmallVec<[RuleIndex; 4]> = SmallVec::new();
        let mut rate: Option<RateInfo> = None;
        let unauthenticated = match req.auth.effective_status() {
            AuthStatus::Authenticated => None,
            AuthStatus::Anonymous => Some(false),
            AuthStatus::Invalid => Some(true),
        };
        let exempt = preflight && settings.preflight_exempt;
        let mut decided: Option<(Verdict, RuleIndex, Cause, u16)> = None;
        let mut cursor = 0;
        if let Some((from, first)) = resume {
            // The rules before `from` read nothing of the response: what they did the first
            // time stands, in order (their points counted again for the rules after). A
            // rate limit is not counted when asked with the response, nor shown.
            for &i in first.matched.iter().filter(|i| i.index() < from) {
                matched.push(i);
                rules.record(i.index());
            }
            shadow.extend(
                first
                    .shadow
                    .iter()
                    .filter(|h| h.rule.index() < from && h.action != Action::RateLimit)
                    .copied(),
            );
            cursor = from;
        }
        // A policy without rules (a default only) has no candidates to look for.
        let any_rules = !self.inner.rules.rules.is_empty();
        while let Some(i) = any_rules.then(|| rules.next_candidate(cursor)).flatten() {
            cursor = i + 1;
            let Some(rule) = self.inner.rules.rules.get(i) else {
                break;
            };
            let identity = self.inner.identity.get(i).copied().unwrap_or(false);
            if exempt && identity {
                continue;
            }
            if !rules.matches(i) {
                continue;
            }
            let enforce = rule.mode == Mode::Enforce;
            let idx = RuleIndex::new(i);
            matched.push(idx);
            rules.record(i);
            match rule.action {
                Action::Log => shadow.push(ShadowHit {
                    rule: idx,
                    action: Action::Log,
                }),
                Action::Allow | Action::Forbid if !enforce => {
                    shadow.push(ShadowHit {
                        rule: idx,
                        action: rule.action,
                    });
                }
                Action::Allow => {
                    decided = Some((Verdict::Allow, idx, Cause::None, 200));
                    break;
                }
                Action::Forbid => {
                    let (cause, status) = if rule.hide {
                        (Cause::Hidden, 404)
                    } else if let Some(s) = rule.status {
                        (Cause::Forbidden, s)
                    } else if let (true, Some(invalid)) = (identity, unauthenticated) {
                        (Cause::Unauthenticated { invalid }, 401)
                    } else {
                        (Cause::Forbidden, 403)
                    };
                    decided = Some((Verdict::Forbid, idx, cause, status));
                    break;
                }
                // Asked again with its response, the request was counted when it was first
                // asked about: counting it twice would halve its limits.
                Action::RateLimit if req.response.is_some() => continue,
                Action::RateLimit => {
                    // Counted by a store later: the walk goes on as if the limit held.
                    if let Some((seed, checks)) = defer.as_mut() {
                        checks.extend(Policy::limit_check(idx, rule, req, *seed));
                        continue;
                    }
                    let Some(info) = self.count(idx, rule, req) else {
                        continue;
                    };
                    let exceeded = info.retry_after_secs > 0;
                    if !enforce {
                        if exceeded {
                            shadow.push(ShadowHit {
                                rule: idx,
                                action: Action::RateLimit,
                            });
                        }
                        continue;
                    }
                    if exceeded {
                        let status = rule.status.unwrap_or(settings.rate_limit_status);
                        rate = Some(info);
                        decided = Some((Verdict::RateLimit, idx, Cause::RateLimited, status));
                        break;
                    }
                    if rate.is_none_or(|r| info.remaining < r.remaining) {
                        rate = Some(info);
                    }
                }
            }
        }
        let (verdict, rule, cause, status) = match decided {
            Some((v, r, c, s)) => (v, Some(r), c, s),
            None => match settings.default {
                Default::Allow => (Verdict::Allow, None, Cause::None, 200),
                Default::Forbid => match unauthenticated {
                    Some(invalid) if self.inner.identity_allow && !exempt => (
                        Verdict::Forbid,
                        None,
                        Cause::Unauthenticated { invalid },
                        401,
                    ),
                    _ => (Verdict::Forbid, None, Cause::Forbidden, 403),
                },
            },
        };
        // Only a decision that refers to the policy holds it (see `Decision`).
        let refers =
            verdict != Verdict::Allow || rule.is_some() || rate.is_some() || !shadow.is_empty();
        Decision {
            policy: refers.then(|| self.clone()),
            path_style: path_style(settings),
            verdict,
            rule,
            status,
            cause,
            rate,
            shadow,
            matched,
            request_id,
            oversize,
            malformed: None,
            rate_store_unavailable: false,
            policy_id: self.inner.id,
            body: if self.inner.program.reads_body {
                rules.body()
            } else {
                None
            },
        }
    }

    /// Counts the request against a rate-limit rule in the policy's own limiter.
    fn count(&self, idx: RuleIndex, rule: &Rule, req: &Request<'_>) -> Option<RateInfo> {
        let rl = rule.rate_limit.as_ref()?;
        let limiter = &self.inner.limiter;
        let key = limit_key(rule, rl, req, limiter.seed());
        let now = req
            .time
            .or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).ok())
            .unwrap_or(Duration::ZERO);
        let now_ns = u64::try_from(now.as_nanos()).unwrap_or(u64::MAX);
        let period_ns = u64::try_from(rl.period.as_nanos()).unwrap_or(u64::MAX);
        // The low half of a keyed 128-bit hash is a keyed 64-bit hash.
        #[allow(clippy::cast_possible_truncation)]
        let c = limiter.check(key as u64, now_ns, rl.limit, period_ns, rl.burst);
        Some(rate_info(idx, rl.limit, period_ns, &c))
    }

    /// The check a store outside the process is to count for a rate-limit rule.
    fn limit_check(
        idx: RuleIndex,
        rule: &Rule,
        req: &Request<'_>,
        seed: (u64, u64),
    ) -> Option<LimitCheck> {
        let rl = rule.rate_limit.as_ref()?;
        Some(LimitCheck {
            rule: idx,
            key: limit_key(rule, rl, req, seed),
            limit: rl.limit,
            period_ns: u64::try_from(rl.period.as_nanos()).unwrap_or(u64::MAX),
            burst: rl.burst,
            now_ns: req
                .time
                .map(|t| u64::try_from(t.as_nanos()).unwrap_or(u64::MAX)),
            enforce: rule.mode == Mode::Enforce,
        })
    }
}

/// Where [`Policy::decide`] puts the rate limits a store is to count, and the seed their
/// keys are hashed with.
type Defer<'a> = ((u64, u64), &'a mut SmallVec<[LimitCheck; 2]>);

/// A rule's position in evaluation order: what a decision keeps instead of the rule
/// (read back through [`Policy::rule_at`]), so a decision stays small and `Copy` parts
/// stay `Copy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct RuleIndex(u32);

/// The request's values a log text quotes, read through `self.0` when first asked.
struct Quoted<'f, F: Fn() -> &'f Fields<'f>>(F);

impl<'f, F: Fn() -> &'f Fields<'f>> portcullis_rules::Values for Quoted<'f, F> {
    fn each(&self, f: &Field, each: &mut dyn FnMut(&str, &str)) {
        (self.0)().each(f, each);
    }
}

impl RuleIndex {
    /// The index of the `i`th rule. Rule sets are far below `u32::MAX` rules (the
    /// loader's ceilings); a larger `i` names no rule.
    pub(crate) fn new(i: usize) -> Self {
        RuleIndex(u32::try_from(i).unwrap_or(u32::MAX))
    }

    /// The rule's evaluation-order index.
    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }
}

/// How a rule set's `[policy]` says the server behind reads paths.
pub(crate) fn path_style(s: &Settings) -> PathStyle {
    if s.windows_paths {
        PathStyle::Windows
    } else {
        PathStyle::Standard
    }
}

/// The body limits a rule set's `[policy]` sets.
pub(crate) fn body_limits(s: &Settings) -> portcullis_match::body::BodyLimits {
    portcullis_match::body::BodyLimits {
        max_bytes: s.max_body_bytes,
        max_depth: s.max_json_depth,
        max_args: s.max_body_args,
        max_parts: s.max_multipart_parts,
    }
}

/// The scanner size limits a rule set's `[policy]` sets.
pub(crate) fn scan_limits(s: &Settings) -> ScanLimits {
    ScanLimits {
        max_patterns: s.max_patterns,
        max_pattern_len: s.max_pattern_len,
        regex_size_limit: s.max_regex_bytes,
        dfa_size_limit: s.max_regex_cache_bytes,
        literal_dfa_size_limit: s.max_literal_dfa_bytes,
    }
}

/// The first request limit the request exceeds: the target's length, then the header
/// count, then their size.
/// The request limit the request exceeds, if any, and its id: one walk over the headers
/// gives their totals and the request-id header.
fn oversize_and_id(req: &Request<'_>, s: &Settings) -> (Option<Oversize>, IdSource) {
    let given = req.id.and_then(RequestId::parse);
    let mut found = None;
    let t = match (&given, s.request_id_header.as_deref()) {
        (None, Some(name)) => req.headers.totals_with(name, &mut |v| {
            if found.is_none() {
                found = std::str::from_utf8(v).ok().and_then(RequestId::parse);
            }
        }),
        _ => req.headers.totals(),
    };
    let id = match given.or(found) {
        Some(id) => IdSource::Given(id),
        None => IdSource::Serial(crate::decision::next_serial()),
    };
    let oversize = if req.uri.len() > s.max_uri_bytes {
        Some(Oversize::Uri {
            len: req.uri.len(),
            max: s.max_uri_bytes,
        })
    } else if t.count > s.max_header_count {
        Some(Oversize::HeaderCount {
            count: t.count,
            max: s.max_header_count,
        })
    } else {
        (t.bytes > s.max_header_bytes).then_some(Oversize::HeaderBytes {
            bytes: t.bytes,
            max: s.max_header_bytes,
        })
    };
    (oversize, id)
}

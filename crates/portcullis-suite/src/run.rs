//! Running a test: its steps in order against one evaluator of a policy.

use portcullis_decide::{Decision, OwnedRequest, Policy, Request};
use portcullis_rules::RuleSet;
use serde_json::Value;

use crate::expect::Mismatch;
use crate::schema::{parse_duration, Test, DEFAULT_TIME};

/// A way of evaluating: the reference, or the compiled evaluator under one configuration.
/// The engine's corpus runs every case under each; they must all agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evaluator {
    /// `Policy::evaluate`: what servers run.
    Compiled,
    /// `Policy::evaluate_reference`: the specification.
    Reference,
    /// `Policy::evaluate_with`, one scratch reused for every request of the test.
    ReusedScratch,
    /// `Policy::evaluate_many`, each step's repetitions as one batch.
    Batched,
    /// `Policy::explain`, which traces the compiled evaluator.
    Explain,
    /// The compiled evaluator with a one-byte literal DFA limit, so every literal scan
    /// takes the NFA path.
    LiteralNfa,
}

impl Evaluator {
    /// Every evaluator, the reference first.
    pub const ALL: [Evaluator; 6] = [
        Evaluator::Reference,
        Evaluator::Compiled,
        Evaluator::ReusedScratch,
        Evaluator::Batched,
        Evaluator::Explain,
        Evaluator::LiteralNfa,
    ];

    /// Its name in reports.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Evaluator::Compiled => "compiled",
            Evaluator::Reference => "reference",
            Evaluator::ReusedScratch => "compiled, reused scratch",
            Evaluator::Batched => "compiled, batched",
            Evaluator::Explain => "explain",
            Evaluator::LiteralNfa => "compiled, literal NFA",
        }
    }

    /// Compiles `rules` as this evaluator needs them: a fresh policy, so rate-limit
    /// sequences start from nothing.
    ///
    /// # Errors
    ///
    /// The compile error, rendered, when the rule set does not compile under this
    /// configuration.
    pub fn compile(self, rules: &RuleSet) -> Result<Policy, String> {
        let mut rules = rules.clone();
        if self == Evaluator::LiteralNfa {
            rules.settings.max_literal_dfa_bytes = 1;
        }
        Policy::compile(rules).map_err(|e| e.to_string())
    }
}

/// Why a test failed: the first request whose decision differed.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The step (1-based) and the number of steps.
    pub step: usize,
    /// How many steps the test has.
    pub steps: usize,
    /// The repetition of the step (1-based).
    pub repetition: u32,
    /// The request, in one line (`GET /admin from 198.51.100.7 as bob`).
    pub request: String,
    /// Every difference.
    pub mismatches: Vec<Mismatch>,
    /// The rules that matched that request, in order, each with its action.
    pub matched: Vec<String>,
}

/// Runs `test` against `policy` with `evaluator`: `Ok(None)` when every decision is as
/// expected, `Ok(Some(failure))` at the first that is not, `Err` when the test cannot run
/// (a bad request, an expectation that names no rule, a bad duration).
///
/// # Errors
///
/// When the test cannot run at all, as above.
pub fn run(policy: &Policy, test: &Test, evaluator: Evaluator) -> Result<Option<Failure>, String> {
    let steps = test.steps()?;
    let count = steps.len();
    let mut scratch = policy.scratch();
    // The time of the last request sent: a request without `time` follows it.
    let mut clock = DEFAULT_TIME;
    for (i, step) in steps.into_iter().enumerate() {
        let n = i + 1;
        let expect = step
            .expect
            .ok_or_else(|| format!("step {n} has no `expect`"))?;
        expect
            .validate(policy.rules())
            .map_err(|e| format!("step {n}: {e}"))?;
        let duration = |key: &str, v: Option<&str>| match v {
            None => Ok(0.0),
            Some(s) => parse_duration(s).map(|d| d.as_secs_f64()).ok_or_else(|| {
                format!(
                    "step {n}: `{key}` must be a duration such as \"1s\" or \"500ms\", found {s:?}"
                )
            }),
        };
        let every = duration("every", step.every.as_deref())?;
        let after = duration("after", step.after.as_deref())?;
        let mut request = step.request;
        let Some(obj) = request.as_object_mut() else {
            return Err(format!("step {n}: `request` must be a table"));
        };
        let base = match obj.get("time") {
            None => clock + after,
            Some(_) if step.after.is_some() => {
                return Err(format!(
                    "step {n}: give the request a `time` or the step an `after`, not both"
                ))
            }
            Some(t) => t
                .as_f64()
                .ok_or_else(|| format!("step {n}: `time` must be seconds since the Unix epoch"))?,
        };
        let repeat = step.repeat.unwrap_or(1);
        if repeat == 0 {
            return Err(format!("step {n}: `repeat` must be at least 1"));
        }
        let mut owned = Vec::with_capacity(repeat as usize);
        for k in 0..repeat {
            clock = base + every * f64::from(k);
            obj.insert("time".into(), Value::from(clock));
            owned.push(
                OwnedRequest::from_json(&Value::Object(obj.clone()).to_string())
                    .map_err(|e| format!("step {n}: the request is not valid: {e}"))?,
            );
        }
        let views: Vec<Request<'_>> = owned.iter().map(OwnedRequest::view).collect();
        let decisions = decide(policy, evaluator, &views, &mut scratch);
        for (k, (req, d)) in views.iter().zip(&decisions).enumerate() {
            let mismatches = expect.compare(d, req);
            if !mismatches.is_empty() {
                let (_, trace) = policy.explain(req);
                return Ok(Some(Failure {
                    step: n,
                    steps: count,
                    repetition: k as u32 + 1,
                    request: describe(&owned[k]),
                    mismatches,
                    matched: trace
                        .iter()
                        .filter(|t| t.matched)
                        .map(|t| format!("{} ({})", t.rule.id, t.rule.action.name()))
                        .collect(),
                }));
            }
        }
    }
    Ok(None)
}

fn decide(
    policy: &Policy,
    evaluator: Evaluator,
    reqs: &[Request<'_>],
    scratch: &mut portcullis_decide::Scratch,
) -> Vec<Decision> {
    match evaluator {
        Evaluator::Batched => {
            let mut out = Vec::with_capacity(reqs.len());
            policy.evaluate_many(reqs, &mut out);
            out
        }
        _ => reqs
            .iter()
            .map(|r| match evaluator {
                Evaluator::Reference => policy.evaluate_reference(r),
                Evaluator::ReusedScratch => policy.evaluate_with(r, scratch),
                Evaluator::Explain => policy.explain(r).0,
                _ => policy.evaluate(r),
            })
            .collect(),
    }
}

fn describe(r: &OwnedRequest) -> String {
    let mut s = format!("{} {}", r.method, r.uri);
    if let Some(ip) = r.client_ip {
        s.push_str(&format!(" from {ip}"));
    }
    if let Some(subject) = r
        .auth
        .subject
        .as_deref()
        .filter(|_| r.auth.is_authenticated())
    {
        s.push_str(&format!(" as {subject}"));
    }
    s
}

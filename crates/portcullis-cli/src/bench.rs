//! `portcullis bench`: what a rule set costs per decision, and where the time goes.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use portcullis::{OwnedRequest, Request};

use crate::{lines, load, Outcome};

/// Runs of the whole request set; the median is reported.
const RUNS: usize = 7;
/// Each run lasts at least this long (repeating the request set).
const RUN_TIME: Duration = Duration::from_millis(200);
/// The reference evaluator is the specification, not built for speed (milliseconds per
/// decision on a routing-table-sized list): it is timed on at most this many requests,
/// spread evenly over the set, and for about this long in all.
const REFERENCE_SAMPLE: usize = 1000;
const REFERENCE_TIME: Duration = Duration::from_secs(2);

pub fn run(rules: &[PathBuf], requests: Option<&Path>) -> anyhow::Result<Outcome> {
    let Some((engine, _)) = load(rules) else {
        return Ok(Outcome::Problems);
    };
    let policy = engine.policy();
    let mut owned = Vec::new();
    for (n, line) in lines(requests)?.enumerate() {
        let line = line.context("reading requests")?;
        if line.trim().is_empty() {
            continue;
        }
        match OwnedRequest::from_json(&line) {
            Ok(r) => owned.push(r),
            Err(e) => {
                reportln!("line {}: {e}", n + 1);
                return Ok(Outcome::Problems);
            }
        }
    }
    if owned.is_empty() {
        reportln!("error: no requests to evaluate");
        return Ok(Outcome::Problems);
    }
    let views: Vec<Request<'_>> = owned.iter().map(OwnedRequest::view).collect();
    let ns_per = |f: &mut dyn FnMut()| -> Vec<f64> {
        let mut samples: Vec<f64> = (0..RUNS)
            .map(|_| {
                let start = Instant::now();
                let mut n = 0usize;
                while start.elapsed() < RUN_TIME {
                    f();
                    n += views.len();
                }
                start.elapsed().as_nanos() as f64 / n as f64
            })
            .collect();
        samples.sort_by(f64::total_cmp);
        samples
    };
    let compiled = ns_per(&mut || {
        for r in &views {
            std::hint::black_box(policy.evaluate(r));
        }
    });
    let median = |v: &[f64]| v.get(v.len() / 2).copied().unwrap_or(0.0);
    let sample: Vec<&Request<'_>> = views
        .iter()
        .step_by(views.len().div_ceil(REFERENCE_SAMPLE))
        .collect();
    let reference = time_reference(&policy, &sample);

    // Time per deciding rule: each request timed on its own (adds the clock's overhead).
    let mut by_rule: HashMap<String, (usize, Duration)> = HashMap::new();
    for _ in 0..10 {
        for r in &views {
            let start = Instant::now();
            let d = policy.evaluate(r);
            let t = start.elapsed();
            let key = d.rule_id().map_or_else(
                || format!("(default: {})", d.verdict().name()),
                str::to_string,
            );
            let e = by_rule.entry(key).or_default();
            e.0 += 1;
            e.1 += t;
        }
    }
    let mut by_rule: Vec<(String, usize, Duration)> =
        by_rule.into_iter().map(|(k, (n, t))| (k, n, t)).collect();
    by_rule.sort_by_key(|r| std::cmp::Reverse(r.2));

    let mut out = std::io::stdout().lock();
    let rs = policy.rules();
    let c = median(&compiled);
    writeln!(
        out,
        "rules: {} rules, {} lists; requests: {}",
        rs.rules.len(),
        rs.lists.iter().filter(|l| !l.anonymous).count(),
        views.len()
    )?;
    writeln!(
        out,
        "engine:    {c:>10.1} ns/decision  {:>8.3} M decisions/s  (median of {RUNS} runs; min {:.1}, max {:.1})",
        1e3 / c.max(1e-9),
        compiled.first().copied().unwrap_or(0.0),
        compiled.last().copied().unwrap_or(0.0),
    )?;
    let r = reference.ns_per_decision;
    writeln!(
        out,
        "reference: {r:>10.1} ns/decision  ({:.1}x the engine's time; {} decisions on {} of the requests, spread evenly; built in {:.1} ms)",
        r / c.max(1e-9),
        reference.decisions,
        sample.len(),
        reference.built.as_secs_f64() * 1e3,
    )?;
    writeln!(
        out,
        "\ntime by deciding rule (each request timed alone, clock overhead included):"
    )?;
    writeln!(
        out,
        "  {:<32} {:>9} {:>10} {:>8}",
        "rule", "requests", "ns/request", "share"
    )?;
    let total: Duration = by_rule.iter().map(|x| x.2).sum();
    for (rule, n, t) in by_rule.iter().take(15) {
        writeln!(
            out,
            "  {rule:<32} {:>9} {:>10.1} {:>7.1}%",
            n / 10,
            t.as_nanos() as f64 / *n as f64,
            100.0 * t.as_secs_f64() / total.as_secs_f64().max(1e-12)
        )?;
    }
    writeln!(
        out,
        "\nmost expensive fields (compute and scan, over all requests):"
    )?;
    writeln!(
        out,
        "  {:<32} {:>10} {:>9} {:>12}",
        "field", "predicates", "present", "ns/request"
    )?;
    for f in policy.field_costs(&views).iter().take(10) {
        writeln!(
            out,
            "  {:<32} {:>10} {:>9} {:>12.1}",
            f.field,
            f.predicates,
            f.present,
            f.total.as_nanos() as f64 / views.len() as f64
        )?;
    }
    writeln!(
        out,
        "\nmost expensive rules (each condition evaluated alone, the fields it reads included):"
    )?;
    writeln!(
        out,
        "  {:<32} {:>9} {:>12}",
        "rule", "matched", "ns/request"
    )?;
    for c in policy.rule_costs(&views).iter().take(10) {
        let id = policy
            .rules()
            .rules
            .get(c.rule)
            .map_or("?", |r| r.id.as_str());
        writeln!(
            out,
            "  {id:<32} {:>9} {:>12.1}",
            c.matched,
            c.total.as_nanos() as f64 / views.len() as f64
        )?;
    }
    Ok(Outcome::Clean)
}

struct ReferenceTime {
    ns_per_decision: f64,
    decisions: usize,
    /// The first decision, which builds the reference evaluator.
    built: Duration,
}

/// Times the reference evaluator over `sample`, repeated for about [`REFERENCE_TIME`] and
/// cut short when that is spent (one decision, at the least).
fn time_reference(policy: &portcullis::Policy, sample: &[&Request<'_>]) -> ReferenceTime {
    let start = Instant::now();
    if let Some(first) = sample.first() {
        std::hint::black_box(policy.evaluate_reference(first));
    }
    let built = start.elapsed();
    let start = Instant::now();
    let mut decisions = 0usize;
    'runs: loop {
        for r in sample {
            std::hint::black_box(policy.evaluate_reference(r));
            decisions += 1;
            if start.elapsed() >= REFERENCE_TIME {
                break 'runs;
            }
        }
        if sample.is_empty() {
            break;
        }
    }
    ReferenceTime {
        ns_per_decision: start.elapsed().as_nanos() as f64 / decisions.max(1) as f64,
        decisions,
        built,
    }
}

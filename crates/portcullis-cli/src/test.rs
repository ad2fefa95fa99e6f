//! `portcullis test`: run the tests a rule pack carries, and report like `cargo test`.
//!
//! Tests live in `tests/*.toml` beside the rule files (a subdirectory, which the rule loader
//! does not read). Each `[[test]]` has a `name`, and either one `request` with its `expect`
//! or a sequence of `[[test.step]]`s (for rate limits), each with a `request`, an optional
//! `repeat` count and `every` interval, an `after` delay from the step before, and an
//! `expect`. Requests use the JSON request schema of `portcullis eval` (docs/requests.md),
//! written as TOML. The format is documented in docs/operators.md.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use portcullis::{Decision, OwnedRequest, Policy, RuleSet};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{load, Outcome};

/// Requests without a `time` arrive at 2026-01-01T00:00:00Z, so tests are deterministic.
const DEFAULT_TIME: f64 = 1_767_225_600.0;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default)]
    test: Vec<toml::Spanned<TestDef>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestDef {
    name: String,
    #[serde(default)]
    request: Option<Value>,
    #[serde(default)]
    expect: Option<Expect>,
    #[serde(default)]
    step: Vec<Step>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    request: Value,
    /// Send the request this many times (default 1); `expect` holds for every one.
    #[serde(default)]
    repeat: Option<u32>,
    /// Time between repetitions, e.g. "1s" or "500ms" (default 0: all at once).
    #[serde(default)]
    every: Option<String>,
    /// Time between the previous step's last request and this step's first, when the
    /// request has no `time` (default 0: at once).
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    expect: Option<Expect>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[serde(default)]
    verdict: Option<String>,
    #[serde(default)]
    status: Option<u16>,
    /// The deciding rule's id, or `false` for "no rule: the policy's default decided".
    #[serde(default)]
    rule: Option<RuleExpect>,
    #[serde(default)]
    reason: Option<String>,
    /// `log` or shadow-mode rules that must have matched.
    #[serde(default)]
    shadow: Vec<String>,
    /// Rules that must neither decide nor record a log or shadow hit.
    #[serde(default)]
    not_matched: Vec<String>,
    /// Response headers (names lowercase) and their exact values.
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RuleExpect {
    Id(String),
    Default(bool),
}

/// One difference between what a test expected and what happened.
struct Mismatch {
    what: String,
    expected: String,
    actual: String,
}

struct Failure {
    /// 1-based step and repetition, and a one-line description of the request.
    step: usize,
    steps: usize,
    repetition: u32,
    request: String,
    mismatches: Vec<Mismatch>,
    /// Rules that matched on the failing request, in order.
    matched: Vec<String>,
}

struct TestResult {
    file: PathBuf,
    line: usize,
    name: String,
    failure: Option<Failure>,
    /// The test could not run (bad request, bad expectation, bad file).
    error: Option<String>,
}

impl TestResult {
    fn ok(&self) -> bool {
        self.failure.is_none() && self.error.is_none()
    }
}

/// Where to look for tests: each rule directory's `tests/`, or the directory of each rule
/// file's `tests/`.
fn test_files(rules: &[PathBuf], explicit: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let dirs: Vec<PathBuf> = if explicit.is_empty() {
        rules
            .iter()
            .map(|p| {
                if p.is_dir() {
                    p.join("tests")
                } else {
                    p.parent().unwrap_or(Path::new(".")).join("tests")
                }
            })
            .collect()
    } else {
        explicit.to_vec()
    };
    let mut files = Vec::new();
    for d in dirs {
        if d.is_file() {
            files.push(d);
        } else if d.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(&d)
                .with_context(|| format!("cannot read {}", d.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "toml"))
                .collect();
            found.sort();
            files.extend(found);
        } else if !explicit.is_empty() {
            anyhow::bail!("cannot read {}: no such file or directory", d.display());
        }
    }
    files.dedup();
    Ok(files)
}

pub fn run(
    rules: &[PathBuf],
    tests: &[PathBuf],
    filter: Option<&str>,
    format: Format,
) -> anyhow::Result<Outcome> {
    let Some((engine, warnings)) = load(rules) else {
        return Ok(Outcome::Problems);
    };
    for w in &warnings {
        report!("{w}");
    }
    let policy = engine.policy();
    let files = test_files(rules, tests)?;
    if files.is_empty() {
        let dirs: Vec<String> = rules
            .iter()
            .map(|p| {
                let d = if p.is_dir() {
                    p.clone()
                } else {
                    p.parent().unwrap_or(Path::new(".")).to_path_buf()
                };
                d.join("tests").display().to_string()
            })
            .collect();
        reportln!("error: no tests found in {} (write them in tests/*.toml beside the rules; see docs/operators.md)", dirs.join(", "));
        return Ok(Outcome::Problems);
    }
    // Rate limits keep state: give each test a fresh policy (and limiter) when there are any.
    let stateful = policy.rules().rules.iter().any(|r| r.rate_limit.is_some());
    let mut results = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let parsed: TestFile = match toml::from_str(&text) {
            Ok(t) => t,
            Err(e) => {
                results.push(TestResult {
                    file: file.clone(),
                    line: 1,
                    name: "(test file)".into(),
                    failure: None,
                    error: Some(format!("cannot parse {}: {e}", file.display())),
                });
                continue;
            }
        };
        if parsed.test.is_empty() {
            results.push(TestResult {
                file: file.clone(),
                line: 1,
                name: "(test file)".into(),
                failure: None,
                error: Some(format!("{} holds no [[test]]", file.display())),
            });
        }
        let mut names = Vec::new();
        for t in parsed.test {
            let line = text
                .get(..t.span().start)
                .map_or(1, |s| s.matches('\n').count() + 1);
            let def = t.into_inner();
            if filter.is_some_and(|f| !def.name.contains(f)) {
                continue;
            }
            let mut result = TestResult {
                file: file.clone(),
                line,
                name: def.name.clone(),
                failure: None,
                error: None,
            };
            if names.contains(&def.name) {
                result.error = Some(format!(
                    "duplicate test name {:?} in {}",
                    def.name,
                    file.display()
                ));
            } else {
                names.push(def.name.clone());
                let fresh;
                let p = if stateful {
                    fresh =
                        Policy::compile(policy.rules().clone()).context("recompiling the rules")?;
                    &fresh
                } else {
                    &policy
                };
                match run_test(p, def) {
                    Ok(f) => result.failure = f,
                    Err(e) => result.error = Some(e),
                }
            }
            results.push(result);
        }
    }
    let failed = results.iter().filter(|r| !r.ok()).count();
    let passed = results.len() - failed;
    let mut out = std::io::stdout().lock();
    match format {
        Format::Text => write_text(&mut out, &results, &files, passed, failed)?,
        Format::Json => {
            let tests: Vec<Value> = results.iter().map(result_json).collect();
            let doc = json!({ "tests": tests, "passed": passed, "failed": failed });
            writeln!(out, "{doc}").context("writing to stdout")?;
        }
    }
    Ok(if failed > 0 {
        Outcome::Problems
    } else {
        Outcome::Clean
    })
}

fn steps_of(def: TestDef) -> Result<Vec<Step>, String> {
    match (def.request, def.step.is_empty()) {
        (Some(_), false) => {
            Err("a test has either `request` (one request) or `[[test.step]]`s, not both".into())
        }
        (Some(request), true) => Ok(vec![Step {
            request,
            repeat: None,
            every: None,
            after: None,
            expect: def.expect,
        }]),
        (None, false) if def.expect.is_some() => {
            Err("with `[[test.step]]`s, each step has its own `expect`".into())
        }
        (None, false) => Ok(def.step),
        (None, true) => Err("the test has no `request` and no `[[test.step]]`".into()),
    }
}

fn parse_every(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}

/// Runs one test; `Ok(None)` when it passes, `Err` when it cannot run.
fn run_test(policy: &Policy, def: TestDef) -> Result<Option<Failure>, String> {
    let steps = steps_of(def)?;
    let count = steps.len();
    // The time of the last request sent: a step without `time` follows it.
    let mut clock = DEFAULT_TIME;
    for (i, step) in steps.into_iter().enumerate() {
        let n = i + 1;
        let expect = step
            .expect
            .ok_or_else(|| format!("step {n} has no `expect`"))?;
        check_expect(policy, &expect).map_err(|e| format!("step {n}: {e}"))?;
        let duration = |key: &str, v: Option<&str>| match v {
            None => Ok(Duration::ZERO),
            Some(s) => parse_every(s).ok_or_else(|| {
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
            None => clock + after.as_secs_f64(),
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
        for k in 0..repeat {
            clock = base + every.as_secs_f64() * f64::from(k);
            obj.insert("time".into(), json!(clock));
            let owned = OwnedRequest::from_json(&Value::Object(obj.clone()).to_string())
                .map_err(|e| format!("step {n}: the request is not valid: {e}"))?;
            let req = owned.view();
            let decision = policy.evaluate(&req);
            let mismatches = compare(&expect, &decision, &req);
            if !mismatches.is_empty() {
                let (_, trace) = policy.explain(&req);
                let matched = trace
                    .iter()
                    .filter(|t| t.matched)
                    .map(|t| format!("{} ({})", t.rule.id, t.rule.action.name()))
                    .collect();
                return Ok(Some(Failure {
                    step: n,
                    steps: count,
                    repetition: k + 1,
                    request: describe(&owned),
                    mismatches,
                    matched,
                }));
            }
        }
    }
    Ok(None)
}

/// Rejects expectations that could never hold: unknown verdicts and rule ids.
fn check_expect(policy: &Policy, e: &Expect) -> Result<(), String> {
    if let Some(v) = &e.verdict {
        if !matches!(v.as_str(), "allow" | "forbid" | "rate_limit") {
            return Err(format!(
                "`verdict` must be \"allow\", \"forbid\" or \"rate_limit\", found {v:?}"
            ));
        }
    }
    let rules: &RuleSet = policy.rules();
    let known = |id: &str| rules.rules.iter().any(|r| r.id == id);
    let mut ids: Vec<&str> = e
        .shadow
        .iter()
        .chain(&e.not_matched)
        .map(String::as_str)
        .collect();
    match &e.rule {
        Some(RuleExpect::Id(id)) => ids.push(id),
        Some(RuleExpect::Default(true)) => {
            return Err("`rule` is a rule id, or false for \"the policy's default decided\"".into())
        }
        _ => {}
    }
    match ids.into_iter().find(|id| !known(id)) {
        Some(id) => Err(format!("no rule has the id `{id}`")),
        None => Ok(()),
    }
}

fn compare(e: &Expect, d: &Decision, req: &portcullis::Request<'_>) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let mut differ = |what: &str, expected: String, actual: String| {
        if expected != actual {
            out.push(Mismatch {
                what: what.into(),
                expected,
                actual,
            });
        }
    };
    if let Some(v) = &e.verdict {
        differ("verdict", v.clone(), d.verdict().name().into());
    }
    if let Some(s) = e.status {
        differ("status", s.to_string(), d.status().to_string());
    }
    let rule_name = |r: Option<&str>| r.map_or_else(|| "(default)".to_string(), str::to_string);
    match &e.rule {
        Some(RuleExpect::Id(id)) => differ("rule", id.clone(), rule_name(d.rule_id())),
        Some(RuleExpect::Default(_)) => differ("rule", "(default)".into(), rule_name(d.rule_id())),
        None => {}
    }
    if let Some(r) = &e.reason {
        differ("reason", r.clone(), d.reason().unwrap_or("(none)").into());
    }
    let hits: Vec<String> = d
        .shadow_hits()
        .map(|(r, a)| format!("{} ({})", r.id, a.name()))
        .collect();
    let hit_ids: Vec<&str> = d.shadow_hits().map(|(r, _)| r.id.as_str()).collect();
    let hits_text = if hits.is_empty() {
        "(none)".to_string()
    } else {
        hits.join(", ")
    };
    for want in &e.shadow {
        if !hit_ids.contains(&want.as_str()) {
            differ("shadow", format!("includes {want}"), hits_text.clone());
        }
    }
    for not in &e.not_matched {
        if d.rule_id() == Some(not.as_str()) {
            differ(
                "not_matched",
                format!("{not} does not match"),
                format!("{not} decided"),
            );
        } else if hit_ids.contains(&not.as_str()) {
            differ(
                "not_matched",
                format!("{not} does not match"),
                format!("{not} matched ({hits_text})"),
            );
        }
    }
    if !e.headers.is_empty() {
        let headers = match d.response(req) {
            Some(r) => r.headers,
            None => d.allow_headers(),
        };
        for (name, want) in &e.headers {
            let got = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map_or_else(|| "(absent)".to_string(), |(_, v)| v.clone());
            differ(&format!("header {name}"), want.clone(), got);
        }
    }
    out
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

fn display_name(r: &TestResult) -> String {
    let file = r.file.file_name().map_or_else(
        || r.file.display().to_string(),
        |f| f.to_string_lossy().into_owned(),
    );
    format!("{file}: {}", r.name)
}

fn write_text(
    out: &mut impl Write,
    results: &[TestResult],
    files: &[PathBuf],
    passed: usize,
    failed: usize,
) -> anyhow::Result<()> {
    let shown: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    writeln!(
        out,
        "\nrunning {} tests from {}",
        results.len(),
        shown.join(", ")
    )?;
    for r in results {
        writeln!(
            out,
            "test {} ... {}",
            display_name(r),
            if r.ok() { "ok" } else { "FAILED" }
        )?;
    }
    if failed > 0 {
        writeln!(out, "\nfailures:")?;
        for r in results.iter().filter(|r| !r.ok()) {
            writeln!(out, "\n---- {} ----", display_name(r))?;
            writeln!(out, "at {}:{}", r.file.display(), r.line)?;
            if let Some(e) = &r.error {
                writeln!(out, "error: {e}")?;
            }
            if let Some(f) = &r.failure {
                let rep = if f.repetition > 1 {
                    format!(", repetition {}", f.repetition)
                } else {
                    String::new()
                };
                writeln!(out, "step {} of {}{rep}: {}", f.step, f.steps, f.request)?;
                for m in &f.mismatches {
                    writeln!(out, "  - {}: {}", m.what, m.expected)?;
                    writeln!(out, "  + {}: {}", m.what, m.actual)?;
                }
                let matched = if f.matched.is_empty() {
                    "(none)".to_string()
                } else {
                    f.matched.join(", ")
                };
                writeln!(out, "  rules that matched, in order: {matched}")?;
            }
        }
        writeln!(out, "\nfailures:")?;
        for r in results.iter().filter(|r| !r.ok()) {
            writeln!(out, "    {}", display_name(r))?;
        }
    }
    writeln!(out, "\n{passed} passed, {failed} failed")?;
    Ok(())
}

fn result_json(r: &TestResult) -> Value {
    let mut v = json!({
        "name": r.name,
        "file": r.file.display().to_string(),
        "line": r.line,
        "ok": r.ok(),
    });
    if let Some(e) = &r.error {
        v["error"] = json!(e);
    }
    if let Some(f) = &r.failure {
        v["step"] = json!(f.step);
        v["repetition"] = json!(f.repetition);
        v["request"] = json!(f.request);
        v["mismatches"] = f
            .mismatches
            .iter()
            .map(|m| json!({ "field": m.what, "expected": m.expected, "actual": m.actual }))
            .collect();
        v["matched"] = json!(f.matched);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_accepts_durations() {
        assert_eq!(parse_every("1s"), Some(Duration::from_secs(1)));
        assert_eq!(parse_every("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_every("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_every("0.5s"), Some(Duration::from_millis(500)));
        assert_eq!(parse_every("soon"), None);
        assert_eq!(parse_every("5"), None);
    }
}

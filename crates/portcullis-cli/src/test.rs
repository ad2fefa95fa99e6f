//! `portcullis test`: run the tests a rule pack carries, and report like `cargo test`.
//!
//! Tests live in `tests/*.toml` beside the rule files (a subdirectory, which the rule loader
//! does not read). Each `[[test]]` has a `name`, and either one `request` with its `expect`
//! or a sequence of `[[test.step]]`s (for rate limits), each with a `request`, an optional
//! `repeat` count and `every` interval, an `after` delay from the step before, and an
//! `expect`. Requests use the JSON request schema of `portcullis eval` (docs/requests.md),
//! written as TOML. The format is documented in docs/operators.md.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use portcullis_suite::{Evaluator, Failure};
use serde_json::{json, Value};

use crate::{load, Outcome};

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
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
        let parsed = match portcullis_suite::parse_file(&text) {
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
            if def.rules.is_some() || def.format.is_some() || def.skip_compiled.is_some() {
                result.error = Some(
                    "`rules`, `format` and `skip_compiled` are for the engine's own corpus; a rule pack's tests run against the pack".into(),
                );
            } else if names.contains(&def.name) {
                result.error = Some(format!(
                    "duplicate test name {:?} in {}",
                    def.name,
                    file.display()
                ));
            } else {
                names.push(def.name.clone());
                let fresh;
                let p = if stateful {
                    fresh = portcullis::Policy::compile(policy.rules().clone())
                        .context("recompiling the rules")?;
                    &fresh
                } else {
                    &policy
                };
                match portcullis_suite::run(p, &def, Evaluator::Compiled) {
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

//! `portcullis ftw`: OWASP CRS's go-ftw regression tests run against a rule set, without
//! a server: each test's requests are built as go-ftw sends them, evaluated, and the ids
//! of the rules that matched (`Decision::matched`) checked against the test's log
//! expectations. The reading and checking are `portcullis_suite`'s; this is the glue.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use portcullis_suite::{run_suite, Report, SuiteOptions, TestOutcome};
use serde_json::{json, Value};

use crate::{load, Outcome};

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub struct Options<'a> {
    pub tests: &'a Path,
    pub rules: &'a [PathBuf],
    pub overrides: Option<&'a Path>,
    pub include: Option<&'a str>,
    pub exclude: Option<&'a str>,
    pub format: Format,
}

pub fn run(o: &Options<'_>) -> anyhow::Result<Outcome> {
    let mut options = SuiteOptions::default();
    if let Some(p) = o.include {
        options.set_include(p).context("--include")?;
    }
    if let Some(p) = o.exclude {
        options.set_exclude(p).context("--exclude")?;
    }
    if let Some(path) = o.overrides {
        match portcullis_suite::read_overrides(path, &options.limits) {
            Ok(ov) => options.overrides = Some(ov),
            Err(e) => {
                reportln!("error: cannot read the overrides: {e}");
                return Ok(Outcome::Problems);
            }
        }
    }
    let Some((engine, warnings)) = load(o.rules) else {
        return Ok(Outcome::Problems);
    };
    for w in &warnings {
        report!("{w}");
    }
    let policy = engine.policy();
    let report = run_suite(
        o.tests,
        |req| {
            let decision = policy.evaluate(&req.request.view());
            portcullis_suite::Outcome {
                matched: decision.matched().map(|r| r.id.clone()).collect(),
                status: Some(decision.status()),
            }
        },
        &options,
    )
    .with_context(|| format!("reading the tests in {}", o.tests.display()))?;
    let mut out = std::io::stdout().lock();
    match o.format {
        Format::Text => write!(out, "{}", report.render()).context("writing to stdout")?,
        Format::Json => writeln!(out, "{}", report_json(&report)).context("writing to stdout")?,
    }
    Ok(if report.is_ok() {
        Outcome::Clean
    } else {
        Outcome::Problems
    })
}

fn report_json(report: &Report) -> Value {
    let tests: Vec<Value> = report
        .results
        .iter()
        .map(|r| {
            let mut v = json!({ "id": r.id, "file": r.file.display().to_string() });
            match &r.outcome {
                TestOutcome::Passed => v["outcome"] = json!("passed"),
                TestOutcome::NoLogExpectation => v["outcome"] = json!("no_log_expectation"),
                TestOutcome::Overridden(reason) => {
                    v["outcome"] = json!("overridden");
                    v["reason"] = json!(reason);
                }
                TestOutcome::Skipped(p) => {
                    v["outcome"] = json!("skipped");
                    v["kind"] = json!(p.kind().name());
                    v["reason"] = json!(p.to_string());
                }
                TestOutcome::Failed(f) => {
                    v["outcome"] = json!("failed");
                    v["stage"] = json!(f.stage);
                    v["problems"] = json!(f.problems);
                    v["matched"] = json!(f.matched);
                }
            }
            v
        })
        .collect();
    let t = report.totals();
    let errors: Vec<String> = report
        .file_errors
        .iter()
        .map(|e| e.error.to_string())
        .collect();
    json!({
        "tests": tests,
        "file_errors": errors,
        "passed": t.passed,
        "failed": t.failed + t.file_errors,
        "skipped": t.skipped,
        "overridden": t.overridden,
        "no_log_expectation": t.no_log_expectation,
        "filtered_out": t.filtered_out,
    })
}

//! Running a go-ftw suite against any engine: each stage's request goes to a callback
//! that answers with the rule ids that matched, and the stage's log expectations are
//! checked against them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use regex::Regex;

use super::request::{stage_request, FtwRequest, ProblemKind, RequestProblem};
use super::schema::{read_ftw_file, FtwError, FtwLimits, Output, Overrides};

/// What the engine did with one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Every rule that matched, by id (CRS ids are numbers, compared as text).
    pub matched: Vec<String>,
    /// The HTTP status, when the engine answers with one: `status` expectations are
    /// checked only then.
    pub status: Option<u16>,
}

/// Which tests to run and how.
#[derive(Clone, Debug, Default)]
pub struct SuiteOptions {
    /// Run only the tests whose id (`942100-1`) this matches; it wins over `exclude`, as
    /// in go-ftw.
    pub include: Option<Regex>,
    /// Leave out the tests whose id this matches.
    pub exclude: Option<Regex>,
    /// A platform overrides file: the tests it lists are reported overridden, not run.
    pub overrides: Option<Overrides>,
    /// Bounds on files and requests.
    pub limits: FtwLimits,
}

impl SuiteOptions {
    /// Sets `include` from a regex (the syntax of the `regex` crate, close to Go's RE2).
    ///
    /// # Errors
    ///
    /// A pattern that is not a regex.
    pub fn set_include(&mut self, pattern: &str) -> Result<(), FtwError> {
        self.include = Some(compile(pattern, "include")?);
        Ok(())
    }

    /// Sets `exclude` from a regex.
    ///
    /// # Errors
    ///
    /// A pattern that is not a regex.
    pub fn set_exclude(&mut self, pattern: &str) -> Result<(), FtwError> {
        self.exclude = Some(compile(pattern, "exclude")?);
        Ok(())
    }

    fn selects(&self, id: &str) -> bool {
        if self.include.as_ref().is_some_and(|r| r.is_match(id)) {
            return true;
        }
        !self.exclude.as_ref().is_some_and(|r| r.is_match(id))
            && self.include.as_ref().is_none_or(|r| r.is_match(id))
    }
}

fn compile(pattern: &str, what: &str) -> Result<Regex, FtwError> {
    Regex::new(pattern).map_err(|e| FtwError::new(None, format!("`{what}` is not a regex: {e}")))
}

/// The result of one test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TestOutcome {
    /// Every expectation held.
    Passed,
    /// An expectation did not hold.
    Failed(Failure),
    /// The test expects nothing of the log (only `status`, `response_contains` or
    /// `expect_error`), and no status could be checked.
    NoLogExpectation,
    /// The overrides file lists the test, for this reason.
    Overridden(String),
    /// The test could not run: its request is unreadable or not representable, or it uses
    /// what this runner does not support.
    Skipped(RequestProblem),
}

/// How a test failed: the first stage that did, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The stage, from 1.
    pub stage: usize,
    /// Each expectation that did not hold.
    pub problems: Vec<String>,
    /// The rules that matched in that stage, in order.
    pub matched: Vec<String>,
}

/// One test's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestResult {
    /// `rule_id-test_id`, as go-ftw names tests.
    pub id: String,
    /// The file it is in.
    pub file: PathBuf,
    /// Whether a stage sends its request whole (`encoded_request`, `raw_request`).
    pub raw: bool,
    /// Whether a stage expects something of the log (rule ids, or a log regex).
    pub log_expectation: bool,
    /// What happened.
    pub outcome: TestOutcome,
}

/// A file that could not be read, named with the place of the problem.
#[derive(Clone, Debug)]
pub struct FileError {
    /// The file.
    pub file: PathBuf,
    /// Why.
    pub error: FtwError,
}

/// The results of a suite, per test.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Every selected test, in file and test order.
    pub results: Vec<TestResult>,
    /// Files that could not be read (they count as failures).
    pub file_errors: Vec<FileError>,
    /// Tests left out by `include` / `exclude`.
    pub filtered_out: usize,
    /// Test files read.
    pub files: usize,
}

/// A report's counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Tests that passed.
    pub passed: usize,
    /// Tests that failed.
    pub failed: usize,
    /// Tests skipped (all kinds).
    pub skipped: usize,
    /// Skipped: an input that cannot be decoded.
    pub unreadable: usize,
    /// Skipped: a request portcullis's request cannot carry.
    pub not_representable: usize,
    /// Skipped: a feature this runner does not have.
    pub unsupported: usize,
    /// Tests the overrides file lists.
    pub overridden: usize,
    /// Tests without a log expectation whose status could not be checked.
    pub no_log_expectation: usize,
    /// Tests with a log expectation (whatever their outcome).
    pub with_log_expectation: usize,
    /// Tests that send a request whole.
    pub raw: usize,
    /// Tests left out by the filter.
    pub filtered_out: usize,
    /// Files that could not be read.
    pub file_errors: usize,
}

impl Report {
    /// The counts.
    #[must_use]
    pub fn totals(&self) -> Totals {
        let mut t = Totals {
            filtered_out: self.filtered_out,
            file_errors: self.file_errors.len(),
            ..Totals::default()
        };
        for r in &self.results {
            t.raw += usize::from(r.raw);
            t.with_log_expectation += usize::from(r.log_expectation);
            match &r.outcome {
                TestOutcome::Passed => t.passed += 1,
                TestOutcome::Failed(_) => t.failed += 1,
                TestOutcome::NoLogExpectation => t.no_log_expectation += 1,
                TestOutcome::Overridden(_) => t.overridden += 1,
                TestOutcome::Skipped(p) => {
                    t.skipped += 1;
                    match p.kind() {
                        ProblemKind::Unreadable => t.unreadable += 1,
                        ProblemKind::NotRepresentable => t.not_representable += 1,
                        ProblemKind::Unsupported => t.unsupported += 1,
                    }
                }
            }
        }
        t
    }

    /// Whether nothing failed and every file was read.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.file_errors.is_empty()
            && !self
                .results
                .iter()
                .any(|r| matches!(r.outcome, TestOutcome::Failed(_)))
    }

    /// A summary like `cargo test`'s: a line per file error, failed and skipped test, the
    /// other counts, and `N passed, N failed, N skipped` last.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        for e in &self.file_errors {
            let _ = writeln!(out, "error: {}", e.error);
        }
        for r in &self.results {
            match &r.outcome {
                TestOutcome::Failed(f) => {
                    let _ = writeln!(
                        out,
                        "test {} ... FAILED (stage {}: {}; matched: {})",
                        r.id,
                        f.stage,
                        f.problems.join("; "),
                        if f.matched.is_empty() {
                            "none".to_string()
                        } else {
                            f.matched.join(", ")
                        }
                    );
                }
                TestOutcome::Skipped(p) => {
                    let _ = writeln!(out, "test {} ... skipped ({p})", r.id);
                }
                _ => {}
            }
        }
        let t = self.totals();
        let _ = writeln!(
            out,
            "\n{} tests from {} files: {} with a log expectation, {} sent whole (raw/encoded)",
            self.results.len(),
            self.files,
            t.with_log_expectation,
            t.raw
        );
        let _ = writeln!(
            out,
            "skipped: {} not representable, {} unsupported, {} unreadable; {} overridden; {} without a log expectation; {} filtered out; {} unreadable files",
            t.not_representable,
            t.unsupported,
            t.unreadable,
            t.overridden,
            t.no_log_expectation,
            t.filtered_out,
            t.file_errors
        );
        let _ = writeln!(
            out,
            "{} passed, {} failed, {} skipped",
            t.passed,
            t.failed + t.file_errors,
            t.skipped
        );
        out
    }
}

/// Runs every test of the go-ftw files under `dir` (`*.yaml` and `*.yml`, recursively, as
/// go-ftw's `*.y*ml`): each stage's request goes to `evaluate`, and the stage's
/// expectations are checked against its [`Outcome`].
///
/// A file that cannot be read is reported in [`Report::file_errors`] and the rest run.
///
/// # Errors
///
/// `dir` cannot be listed, or holds more files than `limits.max_files`.
pub fn run_suite(
    dir: &Path,
    mut evaluate: impl FnMut(&FtwRequest) -> Outcome,
    options: &SuiteOptions,
) -> Result<Report, FtwError> {
    let files = test_files(dir, &options.limits)?;
    let mut report = Report {
        files: files.len(),
        ..Report::default()
    };
    for file in files {
        let parsed = match read_ftw_file(&file, &options.limits) {
            Ok(p) => p,
            Err(error) => {
                report.file_errors.push(FileError { file, error });
                continue;
            }
        };
        let Some(rule_id) = parsed.rule_id.or_else(|| rule_id_from_name(&file)) else {
            report.file_errors.push(FileError {
                error: FtwError::new(
                    Some(&file),
                    "no rule_id, and no number in the file name to take it from",
                ),
                file,
            });
            continue;
        };
        for (index, test) in parsed.tests.iter().enumerate() {
            let test_id = test.test_id.unwrap_or(index as u64 + 1);
            let id = format!("{rule_id}-{test_id}");
            if !options.selects(&id) {
                report.filtered_out += 1;
                continue;
            }
            let expects: Vec<StageExpect> = test
                .stages
                .iter()
                .map(|s| StageExpect::of(&s.output))
                .collect();
            let raw = test.stages.iter().any(|s| s.input.is_raw());
            let log_expectation = expects.iter().any(|e| e.has_log);
            let overridden = options
                .overrides
                .as_ref()
                .and_then(|o| o.find(rule_id, test_id));
            let outcome = if let Some(o) = overridden {
                TestOutcome::Overridden(o.reason.trim().to_string())
            } else {
                run_test(test, &expects, &options.limits, &mut evaluate)
            };
            report.results.push(TestResult {
                id,
                file: file.clone(),
                raw,
                log_expectation,
                outcome,
            });
        }
    }
    Ok(report)
}

fn run_test(
    test: &super::schema::FtwTest,
    expects: &[StageExpect],
    limits: &FtwLimits,
    evaluate: &mut impl FnMut(&FtwRequest) -> Outcome,
) -> TestOutcome {
    if let Some(u) = expects.iter().find_map(|e| e.unsupported.first()) {
        return TestOutcome::Skipped(RequestProblem::unsupported(u.clone()));
    }
    // Every stage's request first: a test whose later stage cannot be sent does not run.
    let mut requests = Vec::with_capacity(test.stages.len());
    for s in &test.stages {
        match stage_request(&s.input, limits) {
            Ok(r) => requests.push(r),
            Err(p) => return TestOutcome::Skipped(p),
        }
    }
    let mut failure = None;
    let mut status_checked = false;
    for (n, (req, expect)) in requests.iter().zip(expects).enumerate() {
        let outcome = evaluate(req);
        let (problems, checked) = expect.check(&outcome);
        status_checked |= checked;
        if failure.is_none() && !problems.is_empty() {
            failure = Some(Failure {
                stage: n + 1,
                problems,
                matched: outcome.matched,
            });
        }
    }
    match failure {
        Some(f) => TestOutcome::Failed(f),
        None if !expects.iter().any(|e| e.has_log) && !status_checked => {
            TestOutcome::NoLogExpectation
        }
        None => TestOutcome::Passed,
    }
}

/// A stage's expectations, as rule ids.
#[derive(Debug, Default)]
struct StageExpect {
    present: Vec<String>,
    absent: Vec<String>,
    /// `match_regex: \[id "\d+"\]`: some rule matched.
    some: bool,
    /// `no_match_regex: \[id "\d+"\]`: no rule matched.
    none: bool,
    isolated: bool,
    status: Vec<String>,
    has_log: bool,
    unsupported: Vec<String>,
}

/// What a log regex (or `log_contains` text) says about rule ids.
enum LogPattern {
    Id(String),
    AnyId,
}

/// `id "942100"`, `[id "942100"]` or `\[id "942100"\]`; with `\d+` for any id.
fn log_pattern(p: &str) -> Option<LogPattern> {
    let p = p.trim();
    let p = p
        .strip_prefix("\\[")
        .or_else(|| p.strip_prefix('['))
        .unwrap_or(p);
    let p = p
        .strip_suffix("\\]")
        .or_else(|| p.strip_suffix(']'))
        .unwrap_or(p);
    let inner = p.strip_prefix("id")?;
    let inner = inner
        .strip_prefix(' ')
        .or_else(|| inner.strip_prefix("\\s"))?;
    let inner = inner
        .strip_prefix("\\\"")
        .or_else(|| inner.strip_prefix('"'))?;
    let inner = inner
        .strip_suffix("\\\"")
        .or_else(|| inner.strip_suffix('"'))?;
    match inner {
        "\\d+" | "[0-9]+" => Some(LogPattern::AnyId),
        s if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            Some(LogPattern::Id(s.to_string()))
        }
        _ => None,
    }
}

impl StageExpect {
    fn of(out: &Output) -> StageExpect {
        let mut e = StageExpect {
            isolated: out.isolated == Some(true),
            status: out.status.as_ref().map(|s| s.0.clone()).unwrap_or_default(),
            ..StageExpect::default()
        };
        if let Some(log) = &out.log {
            for ids in [&log.expect_ids, &log.expect_id].into_iter().flatten() {
                e.present.extend(ids.0.iter().cloned());
            }
            for ids in [&log.no_expect_ids, &log.no_expect_id]
                .into_iter()
                .flatten()
            {
                e.absent.extend(ids.0.iter().cloned());
            }
        }
        let log = out.log.as_ref();
        let positive = [
            ("log_contains", out.log_contains.as_deref()),
            ("match_regex", log.and_then(|l| l.match_regex.as_deref())),
        ];
        let negative = [
            ("no_log_contains", out.no_log_contains.as_deref()),
            (
                "no_match_regex",
                log.and_then(|l| l.no_match_regex.as_deref()),
            ),
        ];
        for (negated, list) in [(false, positive), (true, negative)] {
            for (key, pattern) in list {
                let Some(pattern) = pattern.filter(|p| !p.is_empty()) else {
                    continue;
                };
                e.has_log = true;
                match (log_pattern(pattern), negated) {
                    (Some(LogPattern::Id(id)), false) => e.present.push(id),
                    (Some(LogPattern::Id(id)), true) => e.absent.push(id),
                    (Some(LogPattern::AnyId), false) => e.some = true,
                    (Some(LogPattern::AnyId), true) => e.none = true,
                    (None, _) => e.unsupported.push(format!(
                        "{key} `{pattern}` is about the log's text, not a rule id"
                    )),
                }
            }
        }
        e.has_log |= !e.present.is_empty() || !e.absent.is_empty();
        e
    }

    /// What did not hold, and whether a status was checked.
    fn check(&self, o: &Outcome) -> (Vec<String>, bool) {
        let mut problems = Vec::new();
        let matched = |id: &str| o.matched.iter().any(|m| m == id);
        for id in &self.present {
            if !matched(id) {
                problems.push(format!("expected rule {id} to match, it did not"));
            }
        }
        for id in &self.absent {
            if matched(id) {
                problems.push(format!("expected rule {id} not to match, it did"));
            }
        }
        if self.some && o.matched.is_empty() {
            problems.push("expected some rule to match, none did".into());
        }
        if self.none && !o.matched.is_empty() {
            problems.push("expected no rule to match".into());
        }
        if self.isolated {
            let others: Vec<&str> = o
                .matched
                .iter()
                .filter(|m| !self.present.contains(m))
                .map(String::as_str)
                .collect();
            if !others.is_empty() {
                problems.push(format!(
                    "isolated: {} matched besides the expected",
                    others.join(", ")
                ));
            }
        }
        let mut checked = false;
        if let (Some(s), false) = (o.status, self.status.is_empty()) {
            checked = true;
            if !self.status.iter().any(|e| e == &s.to_string()) {
                problems.push(format!(
                    "expected status {}, got {s}",
                    self.status.join(" or ")
                ));
            }
        }
        (problems, checked)
    }
}

/// go-ftw's fallback: the first run of digits in the file's name.
fn rule_id_from_name(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    let start = name.find(|c: char| c.is_ascii_digit())?;
    let digits: String = name[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The `*.yaml` and `*.yml` files under `dir`, sorted, without following directory
/// symlinks (no loops), within the limits.
fn test_files(dir: &Path, limits: &FtwLimits) -> Result<Vec<PathBuf>, FtwError> {
    let mut files = Vec::new();
    if dir.is_file() {
        files.push(dir.to_path_buf());
        return Ok(files);
    }
    let mut stack = vec![(dir.to_path_buf(), 0usize)];
    while let Some((d, depth)) = stack.pop() {
        let entries = std::fs::read_dir(&d)
            .map_err(|e| FtwError::new(Some(&d), format!("cannot list: {e}")))?;
        for entry in entries {
            let entry = entry.map_err(|e| FtwError::new(Some(&d), format!("cannot list: {e}")))?;
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if depth + 1 > limits.max_depth {
                    return Err(FtwError::new(
                        Some(&path),
                        format!("deeper than the limit of {} directories", limits.max_depth),
                    ));
                }
                stack.push((path, depth + 1));
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") && path.is_file()
            {
                if files.len() >= limits.max_files {
                    return Err(FtwError::new(
                        Some(dir),
                        format!("more than the limit of {} test files", limits.max_files),
                    ));
                }
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

//! The data-driven corpus: every `testdata/*.toml` file is a list of `[[test]]`s, each with
//! its own rules (`rules`, TOML or `format = "json"`) and a sequence of `step`s with what
//! each decision must be, in the schema `portcullis test` reads (crate `portcullis-suite`,
//! unknown keys refused). Every test runs under every [`Evaluator`] (the reference, the
//! compiled evaluator as servers run it, with a reused scratch, batched, through `explain`,
//! and with literal scans on the NFA path), each with a fresh policy so rate-limit
//! sequences start from the same state, and each must meet the expectations.
//!
//! ```toml
//! [[test]]
//! name = "path normalisation stops %61dmin"
//! rules = '''
//! [[rule]]
//! id = "admin"
//! when = 'path starts_with "/admin"'
//! action = "forbid"
//! '''
//! step = [
//!   { request = { uri = "/%61dmin" }, expect = { verdict = "forbid", status = 403, rule = "admin" } },
//! ]
//! ```
//!
//! The expectations are those of `portcullis_suite::Expect`; every refusal is also checked
//! for what all refusals share (a problem+json body agreeing with the status and the
//! request id, `Cache-Control: no-store`). A test may set `skip_compiled = "why"` to run only
//! the reference, for a known divergence being fixed.

use std::path::{Path, PathBuf};

use portcullis_rules::RuleSet;
use portcullis_suite::{parse_file, run, Evaluator, Test};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// Runs every test of `testdata/<name>.toml` under every evaluator; panics listing every
/// failure. Returns the number of request checks.
fn run_file(name: &str) -> usize {
    let path = testdata().join(format!("{name}.toml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file = parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(!file.test.is_empty(), "{}: no [[test]]", path.display());
    let mut checks = 0;
    let mut failures = Vec::new();
    for test in &file.test {
        let test = test.get_ref();
        match check(&path, test) {
            Ok(n) => checks += n,
            Err(e) => failures.push(format!("  testdata/{name}.toml: {:?}: {e}", test.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} tests failed in testdata/{name}.toml:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checks > 0, "testdata/{name}.toml: no requests");
    checks
}

/// Runs one test under every evaluator; the number of request checks, or what failed.
fn check(path: &Path, test: &Test) -> Result<usize, String> {
    let text = test.rules.as_deref().ok_or("no `rules`")?;
    // List files are resolved next to the corpus file.
    let name = path.to_string_lossy();
    let rules = match test.format.as_deref() {
        Some("json") => RuleSet::parse_json(&name, text),
        None | Some("toml") => RuleSet::parse(&name, text),
        Some(other) => return Err(format!("unknown format {other:?}")),
    }
    .map_err(|e| format!("rules do not parse:\n{e}"))?;
    let evaluators: &[Evaluator] = if test.skip_compiled.is_some() {
        &[Evaluator::Reference]
    } else {
        &Evaluator::ALL
    };
    let requests: usize = test
        .steps()?
        .iter()
        .map(|s| s.repeat.unwrap_or(1) as usize)
        .sum();
    for &evaluator in evaluators {
        let policy = evaluator.compile(&rules)?;
        if let Some(f) = run(&policy, test, evaluator)? {
            let mismatches: Vec<String> =
                f.mismatches.iter().map(|m| format!("      {m}")).collect();
            return Err(format!(
                "{}: step {} of {}, repetition {} ({}):\n{}\n      rules that matched: {:?}",
                evaluator.name(),
                f.step,
                f.steps,
                f.repetition,
                f.request,
                mismatches.join("\n"),
                f.matched
            ));
        }
    }
    Ok(requests * evaluators.len())
}

/// One test per corpus file, so a failure names its file.
macro_rules! corpus {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_file(stringify!($name));
            }
        )*

        const FILES: &[&str] = &[$(stringify!($name)),*];
    };
}

corpus!(
    fields,
    operators,
    functions,
    normalisation,
    lists,
    status,
    reveal,
    preflight,
    shadow,
    priority,
    ratelimit,
    bodies,
    collections,
    detect,
    scores,
    requests,
);

/// A corpus file nobody runs is a test nobody has: every `testdata/*.toml` must be listed
/// above. Also reports the total, which the corpus keeps above 150 requests.
#[test]
fn every_corpus_file_is_run() {
    let mut on_disk: Vec<String> = std::fs::read_dir(testdata())
        .expect("testdata/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = FILES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "testdata/*.toml and the corpus! list differ"
    );
    let total: usize = FILES
        .iter()
        .map(|f| std::panic::catch_unwind(|| run_file(f)).unwrap_or(0))
        .sum();
    eprintln!("{total} request checks (every evaluator)");
    assert!(
        total >= 900,
        "only {total} request checks (every evaluator)"
    );
}

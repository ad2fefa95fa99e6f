//! The schema of a test file, read with serde: unknown keys are errors.

use std::time::Duration;

use serde::Deserialize;

use crate::expect::Expect;

/// Requests without a `time` start at 2026-01-01T00:00:00Z, so tests are deterministic.
pub const DEFAULT_TIME: f64 = 1_767_225_600.0;

/// A test file: its `[[test]]`s.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// The tests, with where each starts in the file.
    #[serde(default)]
    pub test: Vec<toml::Spanned<Test>>,
}

/// One test: a request and its expectation, or a sequence of steps.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Test {
    /// Unique within its file.
    pub name: String,
    /// Rules of its own (TOML, or JSON with `format = "json"`) instead of the pack's.
    #[serde(default)]
    pub rules: Option<String>,
    /// `"toml"` (the default) or `"json"`: the language of `rules`.
    #[serde(default)]
    pub format: Option<String>,
    /// One request (the JSON schema of `portcullis eval`, written as TOML).
    #[serde(default)]
    pub request: Option<serde_json::Value>,
    /// What the decision about `request` must be.
    #[serde(default)]
    pub expect: Option<Expect>,
    /// Or: requests in order, each with its expectation (rate limits need sequences).
    #[serde(default)]
    pub step: Vec<Step>,
    /// Run only against the reference evaluator, with the reason: a known divergence of
    /// the compiled evaluator being fixed.
    #[serde(default)]
    pub skip_compiled: Option<String>,
}

/// One request of a sequence.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The request.
    pub request: serde_json::Value,
    /// Send it this many times (default 1); `expect` holds for every one.
    #[serde(default)]
    pub repeat: Option<u32>,
    /// Time between repetitions, e.g. "1s" or "500ms" (default 0: all at once).
    #[serde(default)]
    pub every: Option<String>,
    /// Time after the previous step's last request, when the request has no `time`.
    #[serde(default)]
    pub after: Option<String>,
    /// What each decision must be.
    #[serde(default)]
    pub expect: Option<Expect>,
}

impl Test {
    /// The steps: `step`, or the one `request` with its `expect`.
    ///
    /// # Errors
    ///
    /// A test with both `request` and `step`, or with neither.
    pub fn steps(&self) -> Result<Vec<Step>, String> {
        match (&self.request, self.step.is_empty()) {
            (Some(_), false) => {
                Err("a test has either `request` (one request) or `step`s, not both".into())
            }
            (Some(request), true) => Ok(vec![Step {
                request: request.clone(),
                repeat: None,
                every: None,
                after: None,
                expect: self.expect.clone(),
            }]),
            (None, false) if self.expect.is_some() => {
                Err("with `step`s, each step has its own `expect`".into())
            }
            (None, false) => Ok(self.step.clone()),
            (None, true) => Err("the test has no `request` and no `step`".into()),
        }
    }
}

/// Reads a test file.
///
/// # Errors
///
/// The TOML error, located, when the text is not TOML or not the schema (unknown keys
/// are refused).
pub fn parse_file(text: &str) -> Result<TestFile, String> {
    toml::from_str(text).map_err(|e| e.to_string())
}

/// A duration such as `"1s"`, `"500ms"`, `"2m"` or `"1h"`.
pub(crate) fn parse_duration(s: &str) -> Option<Duration> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("0.5s"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("5"), None);
    }

    #[test]
    fn a_misspelt_expectation_is_an_error_not_a_pass() {
        let e = parse_file(
            "[[test]]\nname = \"x\"\nrequest = { uri = \"/\" }\nexpect = { verdcit = \"allow\" }\n",
        )
        .expect_err("misspelt key");
        assert!(e.contains("verdcit"), "{e}");
        let e = parse_file("[[test]]\nname = \"x\"\nrequest = { uri = \"/\" }\nexpect = { rate = { remainig = 1 } }\n")
            .expect_err("misspelt key");
        assert!(e.contains("remainig"), "{e}");
        let e = parse_file("[[case]]\nname = \"x\"\n").expect_err("unknown table");
        assert!(e.contains("case"), "{e}");
    }
}

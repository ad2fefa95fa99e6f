//! The go-ftw test format (coreruleset/ftw-tests-schema, v1 to v3) and the platform
//! overrides file, read with serde.
//!
//! Unknown keys are tolerated, as go-ftw tolerates them: it decodes with goccy/go-yaml's
//! plain `Unmarshal`, which skips fields it does not know, and test files written for a
//! newer schema (`template`, `virtual_host_mode`…) must still load. The forms older
//! schemas used are read too: `stages: [{stage: {input, output}}]`, `log.expect_id` and
//! `log.no_expect_id` (one id), `status` as a list, `stop_magic` and
//! `no_autocomplete_headers`.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// Bounds on what the go-ftw reader takes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FtwLimits {
    /// Bytes of one test or overrides file (default 16 MiB; CRS's largest is under 1 MiB).
    pub max_file_bytes: u64,
    /// Test files in one suite (default 100,000).
    pub max_files: usize,
    /// Directory depth below the suite's root (default 32).
    pub max_depth: usize,
    /// Bytes of one request as sent, after `data` templates are expanded (default 16 MiB).
    pub max_request_bytes: usize,
}

impl Default for FtwLimits {
    fn default() -> Self {
        FtwLimits {
            max_file_bytes: 16 << 20,
            max_files: 100_000,
            max_depth: 32,
            max_request_bytes: 16 << 20,
        }
    }
}

/// Why a go-ftw file could not be read: the file, and where in it when the YAML reader
/// says.
#[derive(Clone, Debug)]
pub struct FtwError {
    path: Option<PathBuf>,
    line: Option<usize>,
    column: Option<usize>,
    message: String,
}

impl FtwError {
    pub(crate) fn new(path: Option<&Path>, message: impl Into<String>) -> FtwError {
        FtwError {
            path: path.map(Path::to_path_buf),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    fn yaml(e: &serde_norway::Error) -> FtwError {
        let loc = e.location();
        FtwError {
            path: None,
            line: loc.as_ref().map(serde_norway::Location::line),
            column: loc.as_ref().map(serde_norway::Location::column),
            message: e.to_string(),
        }
    }

    #[must_use]
    fn in_file(mut self, path: &Path) -> FtwError {
        self.path = Some(path.to_path_buf());
        self
    }

    /// The file, when the text came from one.
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The 1-based line, when the YAML reader gave one.
    #[must_use]
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// The 1-based column, when the YAML reader gave one.
    #[must_use]
    pub fn column(&self) -> Option<usize> {
        self.column
    }

    /// What is wrong, in one line.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for FtwError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.path {
            write!(f, "{}", p.display())?;
            match (self.line, self.column) {
                (Some(l), Some(c)) => write!(f, ":{l}:{c}")?,
                (Some(l), None) => write!(f, ":{l}")?,
                _ => {}
            }
            f.write_str(": ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for FtwError {}

/// One go-ftw test file: the tests of one rule.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct FtwFile {
    /// Who wrote it and what it is for.
    #[serde(default)]
    pub meta: FtwMeta,
    /// The rule the tests target; go-ftw falls back to the first number in the file name.
    #[serde(default)]
    pub rule_id: Option<u64>,
    /// The tests.
    #[serde(default)]
    pub tests: Vec<FtwTest>,
}

/// A test file's `meta`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct FtwMeta {
    /// Authors.
    #[serde(default)]
    pub author: Option<String>,
    /// Name of the file's tests.
    #[serde(default)]
    pub name: Option<String>,
    /// What the tests are about.
    #[serde(default)]
    pub description: Option<String>,
    /// Deprecated in go-ftw and ignored there (overrides replace it); ignored here too.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// One test: stages run in order against the same WAF.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct FtwTest {
    /// The id within the rule's tests; go-ftw numbers tests from 1 by position when absent.
    #[serde(default)]
    pub test_id: Option<u64>,
    /// The v1 name of a test (deprecated for `rule_id` and `test_id`).
    #[serde(default)]
    pub test_title: Option<String>,
    /// What the test is about.
    #[serde(default)]
    pub desc: Option<String>,
    /// The requests and what the WAF must do with each.
    #[serde(default)]
    pub stages: Vec<Stage>,
}

/// One request of a test and what must follow from it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(from = "RawStage")]
pub struct Stage {
    /// What the stage is for.
    pub description: Option<String>,
    /// The request.
    pub input: Input,
    /// The expectations.
    pub output: Output,
}

/// A stage as written: directly, or wrapped in `stage:` (schema v1).
#[derive(Deserialize)]
struct RawStage {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    input: Option<Input>,
    #[serde(default)]
    output: Option<Output>,
    #[serde(default)]
    stage: Option<Box<RawStage>>,
}

impl From<RawStage> for Stage {
    fn from(r: RawStage) -> Stage {
        match r.stage {
            Some(inner) if r.input.is_none() && r.output.is_none() => Stage::from(*inner),
            _ => Stage {
                description: r.description,
                input: r.input.unwrap_or_default(),
                output: r.output.unwrap_or_default(),
            },
        }
    }
}

/// A stage's request.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Input {
    /// The WAF's address (go-ftw's default `localhost`); the client is the test runner.
    #[serde(default)]
    pub dest_addr: Option<String>,
    /// The WAF's port (default 80).
    #[serde(default)]
    pub port: Option<u64>,
    /// `http` (default) or `https`.
    #[serde(default)]
    pub protocol: Option<String>,
    /// The request target as sent (default `/`).
    #[serde(default)]
    pub uri: Option<String>,
    /// Several targets for one stage (schema v2.1); not supported here.
    #[serde(default)]
    pub uris: Option<Vec<String>>,
    /// Follow the previous stage's redirect; not supported here.
    #[serde(default)]
    pub follow_redirect: Option<bool>,
    /// The request line's version (default `HTTP/1.1`).
    #[serde(default)]
    pub version: Option<String>,
    /// The method (default `GET`).
    #[serde(default)]
    pub method: Option<String>,
    /// Headers as a map, in the file's order (go-ftw sends them sorted by name).
    #[serde(default)]
    pub headers: Option<HeaderMap>,
    /// Headers as a list of `{name, value}`, sent in this order (schema v3).
    #[serde(default)]
    pub ordered_headers: Option<Vec<HeaderTuple>>,
    /// The body.
    #[serde(default)]
    pub data: Option<Data>,
    /// The body, base64.
    #[serde(default)]
    pub encoded_data: Option<String>,
    /// Send the cookies the previous stage's response set; not supported here.
    #[serde(default)]
    pub save_cookie: Option<bool>,
    /// Deprecated inverse of `autocomplete_headers`.
    #[serde(default)]
    pub stop_magic: Option<bool>,
    /// go-ftw's transitional inverse of `autocomplete_headers`.
    #[serde(default)]
    pub no_autocomplete_headers: Option<bool>,
    /// Add `Content-Type`, `Content-Length` and `Connection` as go-ftw does (default true).
    #[serde(default)]
    pub autocomplete_headers: Option<bool>,
    /// The whole request, base64; overrides every other field.
    #[serde(default)]
    pub encoded_request: Option<String>,
    /// The whole request as text (deprecated for `encoded_request`).
    #[serde(default)]
    pub raw_request: Option<String>,
    /// A response for the backend to send (albedo); its presence is noted, nothing more.
    #[serde(default)]
    pub response: Option<serde_norway::Value>,
}

impl Input {
    /// Whether go-ftw adds its headers: `autocomplete_headers`, else the inverse of
    /// `stop_magic` (or `no_autocomplete_headers`), else true.
    #[must_use]
    pub fn autocomplete(&self) -> bool {
        match (
            self.autocomplete_headers,
            self.stop_magic.or(self.no_autocomplete_headers),
        ) {
            (Some(a), _) => a,
            (None, Some(stop)) => !stop,
            (None, None) => true,
        }
    }

    /// Whether the request is given whole (`encoded_request` or `raw_request`).
    #[must_use]
    pub fn is_raw(&self) -> bool {
        self.encoded_request
            .as_deref()
            .is_some_and(|s| !s.is_empty())
            || self.raw_request.as_deref().is_some_and(|s| !s.is_empty())
    }
}

/// One header of `ordered_headers`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct HeaderTuple {
    /// The name as sent.
    #[serde(default)]
    pub name: String,
    /// The value as sent.
    #[serde(default, deserialize_with = "scalar_string")]
    pub value: String,
}

/// `headers`: name and value pairs in the file's order (a repeated name kept twice).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderMap(pub Vec<(String, String)>);

impl<'de> Deserialize<'de> for HeaderMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HeaderMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of header names to values")
            }
            fn visit_unit<E: de::Error>(self) -> Result<HeaderMap, E> {
                Ok(HeaderMap::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<HeaderMap, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<Scalar, Scalar>()? {
                    out.push((k.0, v.0));
                }
                Ok(HeaderMap(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// `data`: text, or (refused by go-ftw, which asks for a block scalar) a list of lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Data {
    /// The body as text (Go template actions in it are expanded by go-ftw).
    Text(String),
    /// A list of lines.
    Lines(Vec<String>),
}

impl<'de> Deserialize<'de> for Data {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Data;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("text or a list of lines")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Data, A::Error> {
                let mut lines = Vec::new();
                while let Some(l) = s.next_element::<Scalar>()? {
                    lines.push(l.0);
                }
                Ok(Data::Lines(lines))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Data, E> {
                Ok(Data::Text(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Data, E> {
                Ok(Data::Text(String::new()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Data, E> {
                Ok(Data::Text(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Data, E> {
                Ok(Data::Text(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Data, E> {
                Ok(Data::Text(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Data, E> {
                Ok(Data::Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A stage's expectations.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Output {
    /// The HTTP status expected (schema v1 had a list: any of them).
    #[serde(default)]
    pub status: Option<Ids>,
    /// Text the response must contain.
    #[serde(default)]
    pub response_contains: Option<String>,
    /// A regex the WAF's log must match (deprecated for `log.match_regex`).
    #[serde(default)]
    pub log_contains: Option<String>,
    /// A regex the WAF's log must not match (deprecated for `log.no_match_regex`).
    #[serde(default)]
    pub no_log_contains: Option<String>,
    /// What the log must and must not hold.
    #[serde(default)]
    pub log: Option<Log>,
    /// The request is expected to fail on the wire (no answer from the WAF).
    #[serde(default)]
    pub expect_error: Option<bool>,
    /// Retry once on failure (a race in reading phase-5 logs); nothing to retry here.
    #[serde(default)]
    pub retry_once: Option<bool>,
    /// No rule but the expected ones may match.
    #[serde(default)]
    pub isolated: Option<bool>,
}

/// Log expectations.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Log {
    /// Rule ids that must be logged.
    #[serde(default)]
    pub expect_ids: Option<Ids>,
    /// Rule ids that must not be logged.
    #[serde(default)]
    pub no_expect_ids: Option<Ids>,
    /// One rule id that must be logged (schema v1).
    #[serde(default)]
    pub expect_id: Option<Ids>,
    /// One rule id that must not be logged (schema v1).
    #[serde(default)]
    pub no_expect_id: Option<Ids>,
    /// A regex the log must match.
    #[serde(default)]
    pub match_regex: Option<String>,
    /// A regex the log must not match.
    #[serde(default)]
    pub no_match_regex: Option<String>,
}

/// Numbers written as one number or a list (ids, statuses), kept as their decimal text:
/// CRS ids are numbers, portcullis rule ids are strings, and they are compared as text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ids(pub Vec<String>);

impl<'de> Deserialize<'de> for Ids {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ids;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a list of numbers")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Ids, E> {
                Ok(Ids::default())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Ids, E> {
                Ok(Ids(vec![v.to_string()]))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Ids, E> {
                Ok(Ids(vec![v.to_string()]))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Ids, E> {
                Ok(Ids(vec![v.trim().to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Ids, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = s.next_element::<Scalar>()? {
                    out.push(v.0.trim().to_string());
                }
                Ok(Ids(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A YAML scalar as text (go-yaml turns `Content-Length: 0` into "0" for a string field).
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        scalar_string(d).map(Scalar)
    }
}

fn scalar_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("text or a number")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_unit<E: de::Error>(self) -> Result<String, E> {
            Ok(String::new())
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    d.deserialize_any(V)
}

/// A platform overrides file (`coraza-overrides.yaml`…): tests an engine answers
/// differently, each with the reason.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Overrides {
    /// The schema's version.
    #[serde(default)]
    pub version: Option<String>,
    /// The engine and platform the overrides are for.
    #[serde(default)]
    pub meta: OverridesMeta,
    /// The overridden tests.
    #[serde(default)]
    pub test_overrides: Vec<TestOverride>,
}

/// An overrides file's `meta`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct OverridesMeta {
    /// The WAF engine (`coraza`, `libmodsecurity3`…).
    #[serde(default)]
    pub engine: Option<String>,
    /// The platform (`go`, `nginx`…).
    #[serde(default)]
    pub platform: Option<String>,
}

/// One override: tests of a rule (all of them when `test_ids` is empty).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct TestOverride {
    /// The rule.
    pub rule_id: u64,
    /// Its tests; empty: every test of the rule.
    #[serde(default)]
    pub test_ids: Vec<u64>,
    /// Stages the replacement output is for (empty: all).
    #[serde(default)]
    pub stage_ids: Vec<u64>,
    /// Why the engine answers differently.
    #[serde(default)]
    pub reason: String,
    /// The output the engine gives instead (go-ftw checks it in place of the test's).
    #[serde(default)]
    pub output: Option<Output>,
}

impl Overrides {
    /// The override that applies to test `test_id` of rule `rule_id`, if one does.
    #[must_use]
    pub fn find(&self, rule_id: u64, test_id: u64) -> Option<&TestOverride> {
        self.test_overrides.iter().find(|o| {
            o.rule_id == rule_id && (o.test_ids.is_empty() || o.test_ids.contains(&test_id))
        })
    }
}

/// Reads a go-ftw test file from YAML text.
///
/// # Errors
///
/// Text that is not YAML, or not the go-ftw schema (a field of the wrong type), with the
/// line and column where the YAML reader gives them.
pub fn parse_ftw_file(text: &str) -> Result<FtwFile, FtwError> {
    serde_norway::from_str(text).map_err(|e| FtwError::yaml(&e))
}

/// Reads a platform overrides file from YAML text.
///
/// # Errors
///
/// As [`parse_ftw_file`].
pub fn parse_overrides(text: &str) -> Result<Overrides, FtwError> {
    serde_norway::from_str(text).map_err(|e| FtwError::yaml(&e))
}

/// Reads a go-ftw test file, at most `limits.max_file_bytes` of it.
///
/// # Errors
///
/// A file that cannot be read, is too large, is not UTF-8, or does not parse; the error
/// names the file.
pub fn read_ftw_file(path: &Path, limits: &FtwLimits) -> Result<FtwFile, FtwError> {
    let text = read_bounded(path, limits.max_file_bytes)?;
    parse_ftw_file(&text).map_err(|e| e.in_file(path))
}

/// Reads a platform overrides file, at most `limits.max_file_bytes` of it.
///
/// # Errors
///
/// As [`read_ftw_file`].
pub fn read_overrides(path: &Path, limits: &FtwLimits) -> Result<Overrides, FtwError> {
    let text = read_bounded(path, limits.max_file_bytes)?;
    parse_overrides(&text).map_err(|e| e.in_file(path))
}

fn read_bounded(path: &Path, max: u64) -> Result<String, FtwError> {
    let file = std::fs::File::open(path)
        .map_err(|e| FtwError::new(Some(path), format!("cannot read: {e}")))?;
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| FtwError::new(Some(path), format!("cannot read: {e}")))?;
    if bytes.len() as u64 > max {
        return Err(FtwError::new(
            Some(path),
            format!("larger than the limit of {max} bytes"),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        FtwError::new(
            Some(path),
            format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
        )
    })
}

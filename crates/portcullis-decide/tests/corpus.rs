//! The data-driven corpus: every `testdata/*.toml` file is a list of cases, each a rule
//! file and a sequence of requests with what the decision must be. `check(case)` runs every
//! case through the compiled evaluator ([`Policy::evaluate`]) and the reference evaluator
//! ([`Policy::evaluate_reference`]), each with a fresh policy (so rate-limit sequences
//! start from the same state), and compares both with the expectations.
//!
//! # Case format
//!
//! ```toml
//! [[case]]
//! name = "path normalisation stops %61dmin"
//! rules = '''
//! [[rule]]
//! id = "admin"
//! when = 'path starts_with "/admin"'
//! action = "forbid"
//! '''
//! # format = "json"             # `rules` is JSON (RuleSet::parse_json); default TOML
//! requests = [
//!   { request = { uri = "/%61dmin" }, expect = { verdict = "forbid", status = 403, rule = "admin" } },
//! ]
//! ```
//!
//! A request is the JSON schema of `portcullis eval` (docs/requests.md), written as TOML.
//! `repeat = n` sends it n times with the same expectations. Expectations, all optional:
//!
//! - `verdict`: `allow`, `forbid` or `rate_limit`; `status`: the HTTP status (200 when allowed)
//! - `rule`: the deciding rule's id, or `false` when the policy default decided
//! - `shadow`: ids of the `log`/shadow rules that matched, in order; `shadow_actions`: their
//!   actions (`log`, `allow`, `forbid`, `rate_limit`)
//! - `headers`: a subset of the refusal's headers (names lowercase), `headers_absent`: names
//!   that must not be there
//! - `body`: a subset of the parsed problem+json body, `body_absent`: keys that must not be
//!   there, `body_null`: keys that must be `null` (TOML has no null)
//! - `rate`: a subset of `{ limit, window, remaining, reset, retry_after }` of the tightest rate
//!   limit that counted the request, or `false` when none did
//! - `allow_headers`: a subset of [`Decision::allow_headers`]
//!
//! Every refusal is also checked for what all refusals share: a problem+json body whose
//! `status` and `request_id` agree with the status and the `x-request-id` header,
//! `Cache-Control: no-store`, and `title`/`type`.
//!
//! A case may set `skip_compiled = "why"` to check only the reference evaluator, for a known
//! divergence of the compiled evaluator that is being fixed.

use std::path::{Path, PathBuf};

use portcullis_decide::{Decision, OwnedRequest, Policy};
use portcullis_rules::{Action, RuleSet};
use serde_json::{Map, Value};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// What running one corpus file found.
struct Report {
    file: String,
    checks: usize,
    failures: Vec<String>,
}

/// Runs every case of `testdata/<name>.toml`; panics listing every failure.
fn run_file(name: &str) -> usize {
    let path = testdata().join(format!("{name}.toml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc: toml::Value =
        toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let cases = doc
        .get("case")
        .and_then(toml::Value::as_array)
        .unwrap_or_else(|| panic!("{}: no [[case]]", path.display()));
    let mut report = Report {
        file: format!("testdata/{name}.toml"),
        checks: 0,
        failures: Vec::new(),
    };
    for case in cases {
        check(&path, case, &mut report);
    }
    if !report.failures.is_empty() {
        panic!(
            "{} of {} checks failed in {}:\n{}",
            report.failures.len(),
            report.checks,
            report.file,
            report.failures.join("\n")
        );
    }
    assert!(report.checks > 0, "{}: no requests", report.file);
    report.checks
}

/// Runs one case against both evaluators.
fn check(path: &Path, case: &toml::Value, report: &mut Report) {
    let name = case
        .get("name")
        .and_then(toml::Value::as_str)
        .unwrap_or("<unnamed>")
        .to_string();
    let prefix = format!("  {}: case {name:?}", report.file);
    let fail = |report: &mut Report, msg: String| report.failures.push(format!("{prefix}: {msg}"));
    let Some(rules_text) = case.get("rules").and_then(toml::Value::as_str) else {
        fail(report, "no `rules`".into());
        return;
    };
    // List files are resolved next to the corpus file.
    let rules_name = path.to_string_lossy();
    let parsed = match case.get("format").and_then(toml::Value::as_str) {
        Some("json") => RuleSet::parse_json(&rules_name, rules_text),
        _ => RuleSet::parse(&rules_name, rules_text),
    };
    let rules = match parsed {
        Ok(r) => r,
        Err(e) => {
            fail(report, format!("rules do not parse:\n{e}"));
            return;
        }
    };
    let Some(requests) = case.get("requests").and_then(toml::Value::as_array) else {
        fail(report, "no `requests`".into());
        return;
    };
    let skip_compiled = case.get("skip_compiled").is_some();
    let evaluators: &[&str] = if skip_compiled {
        &["reference"]
    } else {
        &["compiled", "reference"]
    };
    for &evaluator in evaluators {
        let policy = match Policy::compile(rules.clone()) {
            Ok(p) => p,
            Err(e) => {
                fail(report, format!("rules do not compile: {e}"));
                return;
            }
        };
        let mut index = 0;
        for entry in requests {
            let repeat = entry
                .get("repeat")
                .and_then(toml::Value::as_integer)
                .unwrap_or(1);
            for _ in 0..repeat {
                report.checks += 1;
                let at = format!("{prefix}: request {index} ({evaluator})");
                index += 1;
                let req = match request(entry) {
                    Ok(r) => r,
                    Err(e) => {
                        report.failures.push(format!("{at}: bad request: {e}"));
                        continue;
                    }
                };
                let view = req.view();
                let d = if evaluator == "compiled" {
                    policy.evaluate(&view)
                } else {
                    policy.evaluate_reference(&view)
                };
                let expect = entry
                    .get("expect")
                    .cloned()
                    .unwrap_or(toml::Value::Table(Default::default()));
                for problem in compare(&d, &req, &expect) {
                    report.failures.push(format!("{at}: {problem}"));
                }
            }
        }
    }
}

fn request(entry: &toml::Value) -> Result<OwnedRequest, String> {
    let r = entry.get("request").ok_or("no `request`")?;
    let json = serde_json::to_string(r).map_err(|e| e.to_string())?;
    OwnedRequest::from_json(&json).map_err(|e| e.to_string())
}

fn to_json(v: &toml::Value) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn action_name(a: Action) -> &'static str {
    a.name()
}

/// Every way the decision differs from the expectation.
fn compare(d: &Decision, req: &OwnedRequest, expect: &toml::Value) -> Vec<String> {
    let mut out = Vec::new();
    let summary = format!(
        "verdict {} status {} rule {:?}",
        d.verdict().name(),
        d.status(),
        d.rule_id()
    );
    let mut eq = |what: &str, got: String, want: String| {
        if got != want {
            out.push(format!(
                "{what}: got {got}, want {want} (decided: {summary})"
            ));
        }
    };
    if let Some(v) = expect.get("verdict").and_then(toml::Value::as_str) {
        eq("verdict", d.verdict().name().to_string(), v.to_string());
    }
    if let Some(s) = expect.get("status").and_then(toml::Value::as_integer) {
        eq("status", d.status().to_string(), s.to_string());
    }
    match expect.get("rule") {
        Some(toml::Value::String(id)) => eq(
            "rule",
            format!("{:?}", d.rule_id()),
            format!("{:?}", Some(id)),
        ),
        Some(toml::Value::Boolean(false)) => {
            eq("rule", format!("{:?}", d.rule_id()), "None".into())
        }
        Some(other) => out.push(format!("bad `rule` expectation {other:?}")),
        None => {}
    }
    let shadow: Vec<(String, &'static str)> = d
        .shadow_hits()
        .map(|(r, a)| (r.id.clone(), action_name(a)))
        .collect();
    if let Some(ids) = expect.get("shadow").and_then(toml::Value::as_array) {
        let want: Vec<&str> = ids.iter().filter_map(toml::Value::as_str).collect();
        let got: Vec<&str> = shadow.iter().map(|(id, _)| id.as_str()).collect();
        if got != want {
            out.push(format!("shadow: got {got:?}, want {want:?}"));
        }
    }
    if let Some(acts) = expect.get("shadow_actions").and_then(toml::Value::as_array) {
        let want: Vec<&str> = acts.iter().filter_map(toml::Value::as_str).collect();
        let got: Vec<&str> = shadow.iter().map(|(_, a)| *a).collect();
        if got != want {
            out.push(format!("shadow actions: got {got:?}, want {want:?}"));
        }
    }
    match expect.get("rate") {
        Some(toml::Value::Boolean(false)) => {
            if let Some(r) = d.rate_limit() {
                out.push(format!("rate: got {r:?}, want none"));
            }
        }
        Some(toml::Value::Table(want)) => match d.rate_limit() {
            None => out.push("rate: got none".into()),
            Some(r) => {
                for (k, v) in want {
                    let got = match k.as_str() {
                        "limit" => u64::from(r.limit),
                        "window" => r.window_secs,
                        "remaining" => u64::from(r.remaining),
                        "reset" => r.reset_secs,
                        "retry_after" => r.retry_after_secs,
                        other => {
                            out.push(format!("unknown rate key {other}"));
                            continue;
                        }
                    };
                    if Some(got as i64) != v.as_integer() {
                        out.push(format!("rate.{k}: got {got}, want {v:?} ({r:?})"));
                    }
                }
            }
        },
        Some(other) => out.push(format!("bad `rate` expectation {other:?}")),
        None => {}
    }
    if let Some(want) = expect.get("allow_headers").and_then(toml::Value::as_table) {
        let got = d.allow_headers();
        for (k, v) in want {
            let g = got
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.as_str());
            if g != v.as_str() {
                out.push(format!("allow header {k}: got {g:?}, want {v:?}"));
            }
        }
    }

    let view = req.view();
    let response = d.response(&view);
    let wants_response = [
        "headers",
        "headers_absent",
        "body",
        "body_absent",
        "body_null",
    ]
    .iter()
    .any(|k| expect.get(k).is_some());
    let Some(resp) = response else {
        if d.is_allowed() {
            if wants_response {
                out.push("expected a refusal to check, but the request is allowed".into());
            }
        } else {
            out.push("a refusal without a response".into());
        }
        return out;
    };
    if d.is_allowed() {
        out.push("an allowed request has a response".into());
    }
    // What every refusal shares.
    let body: Value = match serde_json::from_str(&resp.body) {
        Ok(b) => b,
        Err(e) => {
            out.push(format!("body is not JSON: {e}: {}", resp.body));
            return out;
        }
    };
    if resp.status != d.status() {
        out.push(format!(
            "response status {} != decision status {}",
            resp.status,
            d.status()
        ));
    }
    if body.get("status") != Some(&Value::from(d.status())) {
        out.push(format!(
            "body status {:?} != {}",
            body.get("status"),
            d.status()
        ));
    }
    if body.get("type") != Some(&Value::from("about:blank")) || body.get("title").is_none() {
        out.push(format!("body lacks type/title: {body}"));
    }
    let rid = d.request_id().as_str();
    if body.get("request_id") != Some(&Value::from(rid)) || resp.header("x-request-id") != Some(rid)
    {
        out.push(format!(
            "request id differs: decision {rid}, body {:?}, header {:?}",
            body.get("request_id"),
            resp.header("x-request-id")
        ));
    }
    if resp.header("content-type") != Some("application/problem+json") {
        out.push(format!("content-type {:?}", resp.header("content-type")));
    }
    if resp.header("cache-control") != Some("no-store") {
        out.push(format!("cache-control {:?}", resp.header("cache-control")));
    }
    if d.status() == 401 && resp.header("www-authenticate").is_none() {
        out.push("401 without WWW-Authenticate".into());
    }

    if let Some(want) = expect.get("headers").and_then(toml::Value::as_table) {
        for (k, v) in want {
            let g = resp.header(k);
            if g != v.as_str() {
                out.push(format!("header {k}: got {g:?}, want {v:?}"));
            }
        }
    }
    if let Some(names) = expect.get("headers_absent").and_then(toml::Value::as_array) {
        for n in names.iter().filter_map(toml::Value::as_str) {
            if let Some(g) = resp.header(n) {
                out.push(format!("header {n} should be absent, got {g:?}"));
            }
        }
    }
    if let Some(want) = expect.get("body").and_then(toml::Value::as_table) {
        let body = body.as_object().cloned().unwrap_or_else(Map::new);
        for (k, v) in want {
            let w = to_json(v);
            let g = body.get(k);
            if g != Some(&w) {
                out.push(format!(
                    "body.{k}: got {g:?}, want {w} (body {})",
                    resp.body
                ));
            }
        }
    }
    if let Some(names) = expect.get("body_null").and_then(toml::Value::as_array) {
        for n in names.iter().filter_map(toml::Value::as_str) {
            if body.get(n) != Some(&Value::Null) {
                out.push(format!(
                    "body.{n} should be null, got {:?} (body {})",
                    body.get(n),
                    resp.body
                ));
            }
        }
    }
    if let Some(names) = expect.get("body_absent").and_then(toml::Value::as_array) {
        for n in names.iter().filter_map(toml::Value::as_str) {
            if let Some(g) = body.get(n) {
                out.push(format!(
                    "body.{n} should be absent, got {g} (body {})",
                    resp.body
                ));
            }
        }
    }
    out
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
    eprintln!("{total} request checks (both evaluators)");
    assert!(
        total >= 300,
        "only {total} request checks (both evaluators)"
    );
}

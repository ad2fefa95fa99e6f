//! Expectations about a decision, and the comparison that lists every difference.

use std::collections::BTreeMap;
use std::fmt;

use portcullis_decide::{Decision, Request};
use portcullis_rules::RuleSet;
use serde::Deserialize;
use serde_json::Value;

/// What a decision must be. Every key is optional; what is not given is not checked.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// `allow`, `forbid` or `rate_limit`.
    pub verdict: Option<String>,
    /// The HTTP status (200 when allowed).
    pub status: Option<u16>,
    /// The deciding rule's id, or `false`: the policy's default decided.
    pub rule: Option<RuleExpect>,
    /// The deciding rule's reason.
    pub reason: Option<String>,
    /// The `log` and shadow-mode rules that matched, exactly and in order (`[]`: none).
    pub shadow: Option<Vec<String>>,
    /// Their actions (`log`, `allow`, `forbid`, `rate_limit`), in the same order.
    pub shadow_actions: Option<Vec<String>>,
    /// Rules that must neither decide nor record a log or shadow hit.
    #[serde(default)]
    pub not_matched: Vec<String>,
    /// Response headers (names lowercase) and their exact values: the refusal's, or for an
    /// allowed request the headers the layer adds (`RateLimit`, `RateLimit-Policy`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Headers the response must not have.
    #[serde(default)]
    pub headers_absent: Vec<String>,
    /// A subset of the refusal's problem+json body.
    pub body: Option<serde_json::Map<String, Value>>,
    /// Body keys that must not be there.
    #[serde(default)]
    pub body_absent: Vec<String>,
    /// Body keys that must be `null` (TOML has no null).
    #[serde(default)]
    pub body_null: Vec<String>,
    /// The tightest rate limit that counted the request, or `false`: none did.
    pub rate: Option<RateExpect>,
}

/// The `rule` expectation: an id, or `false` for the policy's default.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum RuleExpect {
    /// This rule decided.
    Id(String),
    /// `false`: no rule decided.
    Default(bool),
}

/// The `rate` expectation.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum RateExpect {
    /// `false`: no rate limit counted the request.
    None(bool),
    /// A subset of what the tightest one reports.
    Info(RateFields),
}

/// What a rate limit reports, each optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateFields {
    limit: Option<u64>,
    window: Option<u64>,
    remaining: Option<u64>,
    reset: Option<u64>,
    retry_after: Option<u64>,
}

/// One difference between what was expected and what happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// What differs (`status`, `header ratelimit`, `body.detail`…).
    pub what: String,
    /// What the test expected.
    pub expected: String,
    /// What the decision had.
    pub actual: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: got {}, want {}",
            self.what, self.actual, self.expected
        )
    }
}

impl Expect {
    /// Refuses expectations that could never hold: unknown verdicts, rule ids no rule has.
    ///
    /// # Errors
    ///
    /// What cannot hold: an unknown verdict or status, a rule id the rule set does not have.
    pub fn validate(&self, rules: &RuleSet) -> Result<(), String> {
        if let Some(v) = &self.verdict {
            if !matches!(v.as_str(), "allow" | "forbid" | "rate_limit") {
                return Err(format!(
                    "`verdict` must be \"allow\", \"forbid\" or \"rate_limit\", found {v:?}"
                ));
            }
        }
        if let Some(RateExpect::None(true)) = self.rate {
            return Err("`rate` is a table of what the limit reports, or false for none".into());
        }
        let mut ids: Vec<&str> = self.not_matched.iter().map(String::as_str).collect();
        ids.extend(self.shadow.iter().flatten().map(String::as_str));
        match &self.rule {
            Some(RuleExpect::Id(id)) => ids.push(id),
            Some(RuleExpect::Default(true)) => {
                return Err(
                    "`rule` is a rule id, or false for \"the policy's default decided\"".into(),
                )
            }
            _ => {}
        }
        match ids
            .into_iter()
            .find(|id| !rules.rules.iter().any(|r| r.id == *id))
        {
            Some(id) => Err(format!("no rule has the id `{id}`")),
            None => Ok(()),
        }
    }

    /// Every way `d`, the decision about `req`, differs from the expectation, and every way
    /// it breaks what all refusals share (a problem+json body agreeing with the status and
    /// the request id, `Cache-Control: no-store`, `WWW-Authenticate` with 401).
    pub fn compare(&self, d: &Decision, req: &Request<'_>) -> Vec<Mismatch> {
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
        if let Some(v) = &self.verdict {
            differ("verdict", v.clone(), d.verdict().name().into());
        }
        if let Some(s) = self.status {
            differ("status", s.to_string(), d.status().to_string());
        }
        let rule_name = |r: Option<&str>| r.map_or_else(|| "(default)".to_string(), str::to_string);
        match &self.rule {
            Some(RuleExpect::Id(id)) => differ("rule", id.clone(), rule_name(d.rule_id())),
            Some(RuleExpect::Default(_)) => {
                differ("rule", "(default)".into(), rule_name(d.rule_id()))
            }
            None => {}
        }
        if let Some(r) = &self.reason {
            differ(
                "reason",
                r.clone(),
                d.reason().as_deref().unwrap_or("(none)").into(),
            );
        }
        let hits: Vec<(&str, &str)> = d
            .shadow_hits()
            .map(|(r, a)| (r.id.as_str(), a.name()))
            .collect();
        let list =
            |v: &mut dyn Iterator<Item = &str>| format!("[{}]", v.collect::<Vec<_>>().join(", "));
        if let Some(want) = &self.shadow {
            differ(
                "shadow",
                list(&mut want.iter().map(String::as_str)),
                list(&mut hits.iter().map(|h| h.0)),
            );
        }
        if let Some(want) = &self.shadow_actions {
            differ(
                "shadow_actions",
                list(&mut want.iter().map(String::as_str)),
                list(&mut hits.iter().map(|h| h.1)),
            );
        }
        for not in &self.not_matched {
            let matched = d.rule_id() == Some(not.as_str()) || hits.iter().any(|h| h.0 == not);
            if matched {
                differ(
                    "not_matched",
                    format!("{not} does not match"),
                    format!("{not} matched"),
                );
            }
        }
        if let Some(want) = &self.rate {
            let got = d.rate_limit();
            match (want, got) {
                (RateExpect::None(_), Some(r)) => differ("rate", "none".into(), format!("{r:?}")),
                (RateExpect::Info(_), None) => differ("rate", "a rate limit".into(), "none".into()),
                (RateExpect::Info(w), Some(r)) => {
                    let fields = [
                        ("limit", w.limit, u64::from(r.limit)),
                        ("window", w.window, r.window_secs),
                        ("remaining", w.remaining, u64::from(r.remaining)),
                        ("reset", w.reset, r.reset_secs),
                        ("retry_after", w.retry_after, r.retry_after_secs),
                    ];
                    for (name, want, got) in fields {
                        if let Some(want) = want {
                            differ(&format!("rate.{name}"), want.to_string(), got.to_string());
                        }
                    }
                }
                (RateExpect::None(_), None) => {}
            }
        }
        response(self, d, req, &mut out);
        out
    }
}

/// Checks the response: the expected headers and body, and what every refusal shares.
fn response(e: &Expect, d: &Decision, req: &Request<'_>, out: &mut Vec<Mismatch>) {
    let mut push = |what: &str, expected: &str, actual: String| {
        out.push(Mismatch {
            what: what.into(),
            expected: expected.into(),
            actual,
        })
    };
    let Some(resp) = d.response(req) else {
        if !d.is_allowed() {
            push("response", "a refusal's response", "none".into());
        }
        let headers = d.allow_headers();
        let header = |n: &str| {
            headers
                .iter()
                .find(|(h, _)| h.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
        };
        for (name, want) in &e.headers {
            let got = header(name).unwrap_or_else(|| "(absent)".into());
            if &got != want {
                push(&format!("header {name}"), want, got);
            }
        }
        for name in &e.headers_absent {
            if let Some(got) = header(name) {
                push(&format!("header {name}"), "(absent)", got);
            }
        }
        if e.body.is_some() || !e.body_absent.is_empty() || !e.body_null.is_empty() {
            push("body", "a refusal's body", "the request is allowed".into());
        }
        return;
    };
    let body: Value = match serde_json::from_str(&resp.body) {
        Ok(b) => b,
        Err(err) => return push("body", "JSON", format!("{err}: {}", resp.body)),
    };
    // What every refusal shares.
    let status = Value::from(d.status());
    if resp.status != d.status() || body.get("status") != Some(&status) {
        push(
            "response status",
            &d.status().to_string(),
            format!("{} (body {:?})", resp.status, body.get("status")),
        );
    }
    if body.get("type") != Some(&Value::from("about:blank")) || body.get("title").is_none() {
        push(
            "body type and title",
            "about:blank and a title",
            body.to_string(),
        );
    }
    let rid = d.request_id();
    let rid = rid.as_str();
    if body.get("request_id") != Some(&Value::from(rid)) || resp.header("x-request-id") != Some(rid)
    {
        push(
            "request id",
            rid,
            format!(
                "body {:?}, header {:?}",
                body.get("request_id"),
                resp.header("x-request-id")
            ),
        );
    }
    let fixed = [
        ("content-type", Some("application/problem+json")),
        ("cache-control", Some("no-store")),
    ];
    for (name, want) in fixed {
        if resp.header(name) != want {
            push(
                &format!("header {name}"),
                want.unwrap_or(""),
                format!("{:?}", resp.header(name)),
            );
        }
    }
    if d.status() == 401 && resp.header("www-authenticate").is_none() {
        push(
            "header www-authenticate",
            "a challenge with 401",
            "(absent)".into(),
        );
    }
    // What the test expects.
    for (name, want) in &e.headers {
        let got = resp.header(name).unwrap_or("(absent)");
        if got != want {
            push(&format!("header {name}"), want, got.into());
        }
    }
    for name in &e.headers_absent {
        if let Some(got) = resp.header(name) {
            push(&format!("header {name}"), "(absent)", got.into());
        }
    }
    let field = |k: &str| body.get(k);
    for (k, want) in e.body.iter().flatten() {
        if field(k) != Some(want) {
            push(
                &format!("body.{k}"),
                &want.to_string(),
                format!("{:?} (body {})", field(k), resp.body),
            );
        }
    }
    for k in &e.body_null {
        if field(k) != Some(&Value::Null) {
            push(&format!("body.{k}"), "null", format!("{:?}", field(k)));
        }
    }
    for k in &e.body_absent {
        if let Some(got) = field(k) {
            push(&format!("body.{k}"), "(absent)", got.to_string());
        }
    }
}

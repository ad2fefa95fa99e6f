//! `portcullis eval`: JSON lines in, one JSON decision per line out, a summary on stderr.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use portcullis::inspect::RuleTrace;
use portcullis::{Decision, OwnedRequest, Request};
use serde_json::{json, Map, Value};

use crate::{lines, load, Outcome};

pub fn run(rules: &[PathBuf], requests: Option<&Path>, explain: bool) -> anyhow::Result<Outcome> {
    let Some((engine, warnings)) = load(rules) else {
        return Ok(Outcome::Problems);
    };
    for w in &warnings {
        report!("{w}");
    }
    let policy = engine.policy();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut verdicts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut errors = 0usize;
    for (n, line) in lines(requests)?.enumerate() {
        let line_no = n + 1;
        let line = line.context("reading requests")?;
        if line.trim().is_empty() {
            continue;
        }
        let value = match OwnedRequest::from_json(&line) {
            Ok(owned) => {
                let req = owned.view();
                let (decision, trace) = if explain {
                    let (d, t) = policy.explain(&req);
                    (d, Some(t))
                } else {
                    (policy.evaluate(&req), None)
                };
                *verdicts.entry(decision.verdict().name()).or_default() += 1;
                *statuses.entry(decision.status()).or_default() += 1;
                if let Some(trace) = &trace {
                    // The JSON on stdout is for machines; this is for the operator.
                    report!("{}", explain_text(line_no, &req, &decision, trace));
                }
                decision_json(line_no, &decision, &req, trace.as_deref())
            }
            Err(e) => {
                errors += 1;
                json!({ "line": line_no, "error": e.to_string() })
            }
        };
        writeln!(out, "{value}").context("writing to stdout")?;
    }
    out.flush().context("writing to stdout")?;
    let total: usize = verdicts.values().sum();
    let v: Vec<String> = verdicts.iter().map(|(k, n)| format!("{k} {n}")).collect();
    let s: Vec<String> = statuses.iter().map(|(k, n)| format!("{k}: {n}")).collect();
    reportln!(
        "evaluated {total} requests: {}; status {}; {errors} invalid lines",
        if v.is_empty() {
            "none".into()
        } else {
            v.join(", ")
        },
        if s.is_empty() {
            "-".into()
        } else {
            s.join(", ")
        },
    );
    Ok(if errors > 0 {
        Outcome::Problems
    } else {
        Outcome::Clean
    })
}

fn decision_json(
    line: usize,
    d: &Decision,
    req: &Request<'_>,
    trace: Option<&[RuleTrace<'_>]>,
) -> Value {
    let mut o = Map::new();
    o.insert("line".into(), json!(line));
    o.insert("action".into(), json!(d.verdict().name()));
    o.insert("status".into(), json!(d.status()));
    o.insert("rule".into(), json!(d.rule_id()));
    let matched: Vec<&str> = d.matched().map(|r| r.id.as_str()).collect();
    if !matched.is_empty() {
        o.insert("matched".into(), json!(matched));
    }
    // Which argument, header or cookie each matched rule found its match in.
    let evidence: Vec<Value> = d
        .evidence(req)
        .into_iter()
        .map(|(rule, e)| json!({ "rule": rule.id, "term": e.term, "name": e.name, "value": e.value }))
        .collect();
    if !evidence.is_empty() {
        o.insert("evidence".into(), Value::Array(evidence));
    }
    // Each matched rule's log texts, filled in (SecLang's `msg` and `logdata`).
    let messages: Vec<Value> = d
        .messages(req)
        .into_iter()
        .map(|m| {
            let mut o = Map::new();
            o.insert("rule".into(), json!(m.rule));
            o.extend(m.message.map(|t| ("msg".to_string(), json!(t))));
            o.extend(m.data.map(|t| ("logdata".to_string(), json!(t))));
            o.extend(m.severity.map(|t| ("severity".to_string(), json!(t))));
            if !m.tags.is_empty() {
                o.insert("tags".into(), json!(m.tags));
            }
            Value::Object(o)
        })
        .collect();
    if !messages.is_empty() {
        o.insert("messages".into(), Value::Array(messages));
    }
    let scores = d.scores();
    if !scores.is_empty() {
        let totals: serde_json::Map<String, Value> = scores
            .iter()
            .map(|(n, t)| {
                let by: Vec<&str> = d.score_rules(n).map(|r| r.id.as_str()).collect();
                ((*n).to_string(), json!({ "total": t, "rules": by }))
            })
            .collect();
        o.insert("scores".into(), Value::Object(totals));
    }
    let labels = d.labels();
    if !labels.is_empty() {
        o.insert("labels".into(), json!(labels));
    }
    if let Some(reason) = d.reason() {
        o.insert("reason".into(), json!(reason.as_ref()));
    }
    o.insert("request_id".into(), json!(d.request_id().as_str()));
    let shadow: Vec<Value> = d
        .shadow_hits()
        .map(|(rule, action)| json!({ "rule": rule.id, "action": action.name() }))
        .collect();
    if !shadow.is_empty() {
        o.insert("shadow".into(), Value::Array(shadow));
    }
    let (headers, body) = match d.response(req) {
        Some(r) => (
            r.headers,
            serde_json::from_str(&r.body).unwrap_or(Value::String(r.body)),
        ),
        None => (d.allow_headers(), Value::Null),
    };
    if !headers.is_empty() {
        let h: Map<String, Value> = headers
            .into_iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        o.insert("headers".into(), Value::Object(h));
    }
    if !body.is_null() {
        o.insert("body".into(), body);
    }
    if let Some(trace) = trace {
        let t: Vec<Value> = trace
            .iter()
            .map(|t| {
                let mut r = json!({ "rule": t.rule.id, "action": t.rule.action.name(), "matched": t.matched });
                if t.matched && d.rule_id() == Some(t.rule.id.as_str()) {
                    r["decided"] = json!(true);
                }
                if t.skipped_preflight {
                    r["skipped"] = json!("CORS preflight: the rule reads identity");
                } else {
                    // Each predicate with what it read from the request, so an operator
                    // sees which part of the request made the rule match.
                    r["predicates"] = t
                        .predicates
                        .iter()
                        .enumerate()
                        .map(|(i, (p, m))| {
                            let mut v = json!({ "when": p.text, "matched": m });
                            if let Some(Some(seen)) = t.seen.get(i) {
                                v["seen"] = json!(seen);
                            }
                            v
                        })
                        .collect();
                }
                r
            })
            .collect();
        o.insert("explain".into(), Value::Array(t));
    }
    Value::Object(o)
}

/// A compact trace an operator can read: each rule evaluated, matched or not, and for each
/// predicate what it saw in the request.
fn explain_text(line: usize, req: &Request<'_>, d: &Decision, trace: &[RuleTrace<'_>]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let by = d.rule_id().map_or_else(
        || "the policy default".to_string(),
        |id| format!("rule `{id}`"),
    );
    let _ = writeln!(
        out,
        "line {line}: {} {} -> {} {} by {by}",
        req.method,
        req.uri,
        d.verdict().name(),
        d.status()
    );
    let evidence = d.evidence(req);
    for t in trace {
        if t.skipped_preflight {
            let _ = writeln!(
                out,
                "  -  {:<28} skipped: CORS preflight, the rule reads identity",
                t.rule.id
            );
            continue;
        }
        let mark = if t.matched { "✓" } else { "✗" };
        let _ = writeln!(out, "  {mark}  {:<28} {}", t.rule.id, t.rule.action.name());
        if let Some((_, e)) = evidence.iter().find(|(r, _)| r.id == t.rule.id) {
            let _ = writeln!(
                out,
                "       matched in {} {:?}: {:?}",
                e.term, e.name, e.value
            );
        }
        for (i, (p, hit)) in t.predicates.iter().enumerate() {
            let seen = t
                .seen
                .get(i)
                .and_then(Option::as_deref)
                .map_or(String::new(), |s| format!("   [{s}]"));
            let _ = writeln!(
                out,
                "       {} {}{seen}",
                if *hit { "yes" } else { "no " },
                p.text
            );
        }
    }
    out
}

//! `portcullis replay`: evaluate every request of an access log as if the rules were
//! deployed, and report what they would have done — or, with `--compare`, what a new
//! version of the rules would change.
//!
//! Requests are evaluated in log order with the log's timestamps as request times, so rate
//! limits replay deterministically. Lines that cannot be read are counted and listed by
//! line number; none is dropped silently. Log lines are read by `portcullis::access_log`.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use portcullis::access_log::{parse_line, truncate, LogFormat};
use portcullis::{Decision, OwnedRequest, Policy, Verdict};
use serde_json::{json, Value};

use crate::{load, Outcome};

/// How to read log lines (`--format`).
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Per line: JSON when it starts with `{`, else combined.
    Auto,
    /// nginx/Apache combined (or common) log format.
    Combined,
    /// One JSON object a line.
    Json,
}

impl From<Format> for LogFormat {
    fn from(f: Format) -> LogFormat {
        match f {
            Format::Auto => LogFormat::Auto,
            Format::Combined => LogFormat::Combined,
            Format::Json => LogFormat::Json,
        }
    }
}

/// Report formats.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
}

pub struct Options<'a> {
    pub rules: &'a [PathBuf],
    pub log: &'a Path,
    pub format: Format,
    pub compare: &'a [PathBuf],
    pub output: Output,
    /// Examples kept per rule.
    pub examples: usize,
    /// Entries in each top list.
    pub top: usize,
    /// Exit 1 when a line could not be read.
    pub strict: bool,
}

/// Unparseable lines listed in full, at most; the rest are counted.
const MAX_BAD_LINES: usize = 1000;

/// A request, as shown in examples.
#[derive(Clone)]
struct Example {
    line: u64,
    ip: String,
    method: String,
    uri: String,
    user_agent: String,
    status: u16,
}

impl Example {
    fn of(line: u64, r: &OwnedRequest, status: u16) -> Example {
        Example {
            line,
            ip: r.client_ip.map_or_else(|| "-".into(), |ip| ip.to_string()),
            method: r.method.clone(),
            uri: truncate(&r.uri, 120),
            user_agent: r
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("user-agent"))
                .map_or_else(|| "-".into(), |(_, v)| truncate(v, 80)),
            status,
        }
    }

    fn text(&self) -> String {
        format!(
            "line {:<6} {:<15} {} {}  \"{}\"",
            self.line, self.ip, self.method, self.uri, self.user_agent
        )
    }

    fn json(&self) -> Value {
        json!({ "line": self.line, "ip": self.ip, "method": self.method, "uri": self.uri, "user_agent": self.user_agent, "status": self.status })
    }
}

#[derive(Default)]
struct RuleStats {
    action: &'static str,
    count: u64,
    statuses: BTreeMap<u16, u64>,
    examples: Vec<Example>,
}

impl RuleStats {
    fn add(
        &mut self,
        action: &'static str,
        status: u16,
        example: impl FnOnce() -> Example,
        keep: usize,
    ) {
        self.action = action;
        self.count += 1;
        *self.statuses.entry(status).or_default() += 1;
        if self.examples.len() < keep {
            self.examples.push(example());
        }
    }
}

/// What one rule set did over the log.
struct Tally {
    policy: Policy,
    verdicts: BTreeMap<&'static str, u64>,
    statuses: BTreeMap<u16, u64>,
    /// Deciding rules ("(default)" for the policy's default).
    decided: BTreeMap<String, RuleStats>,
    /// Log and shadow-mode rules that matched.
    shadow: BTreeMap<String, RuleStats>,
    refused_ips: HashMap<String, u64>,
    refused_paths: HashMap<String, u64>,
    refused_agents: HashMap<String, u64>,
}

impl Tally {
    fn new(policy: Policy) -> Tally {
        Tally {
            policy,
            verdicts: BTreeMap::new(),
            statuses: BTreeMap::new(),
            decided: BTreeMap::new(),
            shadow: BTreeMap::new(),
            refused_ips: HashMap::new(),
            refused_paths: HashMap::new(),
            refused_agents: HashMap::new(),
        }
    }

    fn record(&mut self, line: u64, r: &OwnedRequest, d: &Decision, keep: usize) {
        let status = d.status();
        *self.verdicts.entry(d.verdict().name()).or_default() += 1;
        *self.statuses.entry(status).or_default() += 1;
        let rule = d.rule_id().unwrap_or("(default)").to_string();
        self.decided.entry(rule).or_default().add(
            d.verdict().name(),
            status,
            || Example::of(line, r, status),
            keep,
        );
        for (rule, action) in d.shadow_hits() {
            self.shadow.entry(rule.id.clone()).or_default().add(
                action.name(),
                status,
                || Example::of(line, r, status),
                keep,
            );
        }
        if d.verdict() != Verdict::Allow {
            let ex = Example::of(line, r, status);
            let path = r.uri.split(['?', '#']).next().unwrap_or("").to_string();
            *self.refused_ips.entry(ex.ip).or_default() += 1;
            *self.refused_paths.entry(truncate(&path, 120)).or_default() += 1;
            *self.refused_agents.entry(ex.user_agent).or_default() += 1;
        }
    }
}

/// Differences between two rule sets, request by request.
#[derive(Default)]
struct Diff {
    /// Allowed by the base rules, refused by the other: keyed by the refusing rule.
    newly_blocked: BTreeMap<String, RuleStats>,
    /// Refused by the base rules, allowed by the other: keyed by the base's refusing rule.
    newly_allowed: BTreeMap<String, RuleStats>,
    /// Refused by both, by another rule or with another status: keyed by `old -> new`.
    changed: BTreeMap<String, RuleStats>,
}

struct BadLine {
    line: u64,
    error: String,
}

struct Progress {
    enabled: bool,
    total: Option<u64>,
    start: Instant,
    last: Instant,
}

impl Progress {
    fn new(total: Option<u64>) -> Progress {
        let now = Instant::now();
        Progress {
            enabled: std::io::stderr().is_terminal(),
            total,
            start: now,
            last: now,
        }
    }

    fn tick(&mut self, lines: u64, bytes: u64) {
        if !self.enabled || self.last.elapsed() < Duration::from_millis(100) {
            return;
        }
        self.last = Instant::now();
        let secs = self.start.elapsed().as_secs_f64().max(1e-9);
        let rate = lines as f64 / secs;
        let bar = match self.total {
            Some(t) if t > 0 => {
                let frac = (bytes as f64 / t as f64).min(1.0);
                let filled = (frac * 30.0) as usize;
                let eta = if frac > 0.0 {
                    secs * (1.0 - frac) / frac
                } else {
                    0.0
                };
                format!(
                    "[{}{}] {:>5.1}%  eta {:.0}s  ",
                    "#".repeat(filled),
                    "-".repeat(30 - filled),
                    frac * 100.0,
                    eta
                )
            }
            _ => String::new(),
        };
        report!(
            "\r\x1b[2K{bar}{} lines  {} lines/s",
            group(lines),
            group(rate as u64)
        );
    }

    fn finish(&self) {
        if self.enabled {
            report!("\r\x1b[2K");
        }
    }
}

/// 1234567 -> "1,234,567".
fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn load_policy(rules: &[PathBuf]) -> Option<Policy> {
    let (engine, warnings) = load(rules)?;
    for w in &warnings {
        report!("{w}");
    }
    Some(engine.policy())
}

pub fn run(o: &Options<'_>) -> anyhow::Result<Outcome> {
    let Some(base) = load_policy(o.rules) else {
        return Ok(Outcome::Problems);
    };
    let other = if o.compare.is_empty() {
        None
    } else {
        match load_policy(o.compare) {
            Some(p) => Some(p),
            None => return Ok(Outcome::Problems),
        }
    };
    let (reader, total): (Box<dyn Read>, Option<u64>) = if o.log == Path::new("-") {
        (Box::new(std::io::stdin().lock()), None)
    } else {
        let f = std::fs::File::open(o.log)
            .with_context(|| format!("cannot open {}", o.log.display()))?;
        let len = f.metadata().ok().map(|m| m.len());
        (Box::new(f), len)
    };
    let mut reader = std::io::BufReader::with_capacity(1 << 18, reader);
    let mut base_tally = Tally::new(base);
    let mut other_tally = other.map(Tally::new);
    let mut diff = Diff::default();
    let mut bad: Vec<BadLine> = Vec::new();
    let (mut bad_count, mut lines, mut bytes, mut requests) = (0u64, 0u64, 0u64, 0u64);
    let mut formats: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut last_time: Option<Duration> = None;
    let mut users = 0u64;
    let mut progress = Progress::new(total);
    let start = Instant::now();
    let mut buf = Vec::with_capacity(4096);
    // Scratch space per rule set: `Policy::evaluate` keeps one per thread, and alternating
    // two policies on it (with --compare) would rebuild it for every request.
    let mut base_scratch = base_tally.policy.scratch();
    let mut other_scratch = other_tally.as_ref().map(|t| t.policy.scratch());
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("reading {}", o.log.display()))?;
        if n == 0 {
            break;
        }
        lines += 1;
        bytes += n as u64;
        if lines % 4096 == 0 {
            progress.tick(lines, bytes);
        }
        let line = match std::str::from_utf8(&buf) {
            Ok(s) => std::borrow::Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(&buf),
        };
        let line = line.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            continue;
        }
        let mut req = match parse_line(line, o.format.into()) {
            Ok(r) => {
                *formats.entry(r.format.name()).or_default() += 1;
                r.request
            }
            Err(error) => {
                bad_count += 1;
                if bad.len() < MAX_BAD_LINES {
                    bad.push(BadLine { line: lines, error });
                }
                continue;
            }
        };
        // A line without a time happens when the one before it did: replays stay
        // deterministic.
        match req.time {
            Some(t) => last_time = Some(t),
            None => req.time = Some(last_time.unwrap_or(Duration::ZERO)),
        }
        if req.auth.is_authenticated() {
            users += 1;
        }
        requests += 1;
        let view = req.view();
        let d = base_tally.policy.evaluate_with(&view, &mut base_scratch);
        base_tally.record(lines, &req, &d, o.examples);
        if let (Some(t), Some(scratch)) = (&mut other_tally, &mut other_scratch) {
            let d2 = t.policy.evaluate_with(&view, scratch);
            t.record(lines, &req, &d2, o.examples);
            let status = d2.status();
            let ex = || Example::of(lines, &req, status);
            match (d.is_allowed(), d2.is_allowed()) {
                (true, false) => {
                    let key = d2.rule_id().unwrap_or("(default)").to_string();
                    diff.newly_blocked.entry(key).or_default().add(
                        d2.verdict().name(),
                        status,
                        ex,
                        o.examples,
                    );
                }
                (false, true) => {
                    let key = d.rule_id().unwrap_or("(default)").to_string();
                    diff.newly_allowed.entry(key).or_default().add(
                        d.verdict().name(),
                        d.status(),
                        ex,
                        o.examples,
                    );
                }
                (false, false) if d.rule_id() != d2.rule_id() || d.status() != status => {
                    let key = format!(
                        "{} ({}) -> {} ({status})",
                        d.rule_id().unwrap_or("(default)"),
                        d.status(),
                        d2.rule_id().unwrap_or("(default)")
                    );
                    diff.changed.entry(key).or_default().add(
                        d2.verdict().name(),
                        status,
                        ex,
                        o.examples,
                    );
                }
                _ => {}
            }
        }
    }
    progress.finish();
    let elapsed = start.elapsed();
    let summary = Summary {
        log: o.log.display().to_string(),
        lines,
        requests,
        bad_count,
        formats,
        users,
        elapsed,
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match o.output {
        Output::Text => write_text(
            &mut out,
            o,
            &summary,
            &base_tally,
            other_tally.as_ref(),
            &diff,
            &bad,
        )?,
        Output::Json => {
            let doc = report_json(o, &summary, &base_tally, other_tally.as_ref(), &diff, &bad);
            writeln!(out, "{doc}")?;
        }
    }
    out.flush().context("writing to stdout")?;
    if std::io::stderr().is_terminal() || o.output == Output::Json {
        reportln!(
            "replayed {} lines in {:.2}s ({} lines/s)",
            group(lines),
            elapsed.as_secs_f64(),
            group((lines as f64 / elapsed.as_secs_f64().max(1e-9)) as u64)
        );
    }
    Ok(if o.strict && bad_count > 0 {
        Outcome::Problems
    } else {
        Outcome::Clean
    })
}

struct Summary {
    log: String,
    lines: u64,
    requests: u64,
    bad_count: u64,
    formats: BTreeMap<&'static str, u64>,
    users: u64,
    elapsed: Duration,
}

fn pct(n: u64, total: u64) -> f64 {
    100.0 * n as f64 / total.max(1) as f64
}

fn top(map: &HashMap<String, u64>, n: usize) -> Vec<(&str, u64)> {
    let mut v: Vec<(&str, u64)> = map.iter().map(|(k, c)| (k.as_str(), *c)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v.truncate(n);
    v
}

fn statuses_text(s: &BTreeMap<u16, u64>) -> String {
    s.iter()
        .map(|(k, n)| format!("{k}×{n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Rules by requests, most first; ties by name.
fn by_count(m: &BTreeMap<String, RuleStats>) -> Vec<(&String, &RuleStats)> {
    let mut v: Vec<_> = m.iter().collect();
    v.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(b.0)));
    v
}

fn write_rules(
    out: &mut impl Write,
    m: &BTreeMap<String, RuleStats>,
    total: u64,
) -> std::io::Result<()> {
    writeln!(
        out,
        "  {:<34} {:<11} {:>9} {:>7}  status",
        "rule", "verdict", "requests", "share"
    )?;
    for (rule, s) in by_count(m) {
        writeln!(
            out,
            "  {rule:<34} {:<11} {:>9} {:>6.1}%  {}",
            s.action,
            s.count,
            pct(s.count, total),
            statuses_text(&s.statuses)
        )?;
        for e in &s.examples {
            writeln!(out, "      {}", e.text())?;
        }
    }
    Ok(())
}

fn write_text(
    out: &mut impl Write,
    o: &Options<'_>,
    s: &Summary,
    base: &Tally,
    other: Option<&Tally>,
    diff: &Diff,
    bad: &[BadLine],
) -> anyhow::Result<()> {
    let formats: Vec<String> = s.formats.iter().map(|(f, n)| format!("{f} {n}")).collect();
    writeln!(
        out,
        "replayed {}: {} lines, {} requests ({}), {} unparseable",
        s.log,
        s.lines,
        s.requests,
        if formats.is_empty() {
            "no format".into()
        } else {
            formats.join(", ")
        },
        s.bad_count
    )?;
    let verdicts = |t: &Tally| -> String {
        t.verdicts
            .iter()
            .map(|(v, n)| format!("{v} {n} ({:.1}%)", pct(*n, s.requests)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    writeln!(out, "\nverdicts: {}", verdicts(base))?;
    writeln!(
        out,
        "status:   {}",
        base.statuses
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    writeln!(out, "\ndeciding rules, with examples:")?;
    write_rules(out, &base.decided, s.requests)?;
    if !base.shadow.is_empty() {
        writeln!(out, "\nlog and shadow-mode hits (recorded; evaluation went on; verdict = what the rule would do):")?;
        write_rules(out, &base.shadow, s.requests)?;
    }
    let refused: u64 = base
        .verdicts
        .iter()
        .filter(|(v, _)| **v != "allow")
        .map(|(_, n)| n)
        .sum();
    if refused > 0 {
        for (title, map) in [
            ("client IPs", &base.refused_ips),
            ("paths", &base.refused_paths),
            ("user agents", &base.refused_agents),
        ] {
            writeln!(out, "\ntop {title} refused ({refused} refusals):")?;
            for (k, n) in top(map, o.top) {
                writeln!(out, "  {n:>8}  {k}")?;
            }
        }
    }
    if base.statuses.contains_key(&401) && s.users < s.requests {
        writeln!(
            out,
            "\nnote: a log carries no credentials; the {} requests without a logged user replay as anonymous, so rules on auth.* answer them 401",
            s.requests - s.users
        )?;
    }
    if let Some(other) = other {
        writeln!(
            out,
            "\ncompared with {}:",
            o.compare
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" ")
        )?;
        writeln!(out, "  verdicts before: {}", verdicts(base))?;
        writeln!(out, "  verdicts after:  {}", verdicts(other))?;
        let sum = |m: &BTreeMap<String, RuleStats>| m.values().map(|s| s.count).sum::<u64>();
        for (title, m) in [
            (
                "newly blocked (allowed before), by the rule that now refuses",
                &diff.newly_blocked,
            ),
            (
                "newly allowed (refused before), by the rule that refused",
                &diff.newly_allowed,
            ),
            (
                "refused by another rule or with another status, old -> new",
                &diff.changed,
            ),
        ] {
            writeln!(out, "\n{title}: {}", sum(m))?;
            if !m.is_empty() {
                write_rules(out, m, s.requests)?;
            }
        }
    }
    if s.bad_count > 0 {
        writeln!(out, "\nunparseable lines: {} (not evaluated)", s.bad_count)?;
        for b in bad.iter().take(20) {
            writeln!(out, "  line {}: {}", b.line, b.error)?;
        }
        if s.bad_count > 20 {
            writeln!(
                out,
                "  … and {} more (--output json lists up to {MAX_BAD_LINES})",
                s.bad_count - 20
            )?;
        }
    }
    Ok(())
}

fn rules_json(m: &BTreeMap<String, RuleStats>) -> Value {
    by_count(m)
        .into_iter()
        .map(|(rule, s)| {
            let statuses: serde_json::Map<String, Value> = s
                .statuses
                .iter()
                .map(|(k, n)| (k.to_string(), json!(n)))
                .collect();
            json!({
                "rule": rule,
                "verdict": s.action,
                "requests": s.count,
                "status": statuses,
                "examples": s.examples.iter().map(Example::json).collect::<Vec<_>>(),
            })
        })
        .collect()
}

fn tally_json(t: &Tally, n: usize) -> Value {
    let tops = |m: &HashMap<String, u64>| -> Value {
        top(m, n)
            .into_iter()
            .map(|(k, c)| json!({ "value": k, "requests": c }))
            .collect()
    };
    let statuses: serde_json::Map<String, Value> = t
        .statuses
        .iter()
        .map(|(k, c)| (k.to_string(), json!(c)))
        .collect();
    json!({
        "verdicts": t.verdicts,
        "status": statuses,
        "rules": rules_json(&t.decided),
        "shadow": rules_json(&t.shadow),
        "top_refused": {
            "ips": tops(&t.refused_ips),
            "paths": tops(&t.refused_paths),
            "user_agents": tops(&t.refused_agents),
        },
    })
}

fn report_json(
    o: &Options<'_>,
    s: &Summary,
    base: &Tally,
    other: Option<&Tally>,
    diff: &Diff,
    bad: &[BadLine],
) -> Value {
    let mut doc = json!({
        "log": s.log,
        "lines": s.lines,
        "requests": s.requests,
        "formats": s.formats,
        "seconds": s.elapsed.as_secs_f64(),
        "unparseable": {
            "count": s.bad_count,
            "lines": bad.iter().map(|b| json!({ "line": b.line, "error": b.error })).collect::<Vec<_>>(),
            "truncated": s.bad_count > bad.len() as u64,
        },
        "result": tally_json(base, o.top),
    });
    if let Some(other) = other {
        doc["compare"] = json!({
            "rules": o.compare.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "result": tally_json(other, o.top),
            "newly_blocked": rules_json(&diff.newly_blocked),
            "newly_allowed": rules_json(&diff.newly_allowed),
            "changed": rules_json(&diff.changed),
        });
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::group;

    #[test]
    fn groups_thousands() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1_234_567), "1,234,567");
    }
}

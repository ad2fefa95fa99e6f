//! The decision log: one structured `tracing` event per refusal and per shadow hit,
//! within a budget per rule (see `budget`).

mod budget;
#[cfg(feature = "tower")]
mod deferred;

use std::net::IpAddr;

use portcullis_decide::{Decision, Request};
use portcullis_rules::OnOversize;

pub use budget::LogBudget;
use budget::{Admit, DEFAULT, MALFORMED};
pub(crate) use budget::{Clock, Limits, Table};
#[cfg(feature = "tower")]
pub(crate) use deferred::{decision_deferring_shadow, ShadowHits};

/// Target of refusal events.
pub(crate) const DECISION_TARGET: &str = "portcullis::decision";
/// Target of shadow-hit events (`log` rules and rules in shadow mode).
pub(crate) const SHADOW_TARGET: &str = "portcullis::shadow";

/// Longest path written to the log; longer ones are cut at a character boundary.
const MAX_LOGGED_PATH: usize = 512;

/// The budget an event is counted against: the policy's counters, the engine's settings.
#[derive(Clone, Copy)]
pub(crate) struct Budget<'a> {
    pub(crate) table: &'a Table,
    pub(crate) limits: &'a Limits,
}

impl Budget<'_> {
    /// Whether to write an event for `name`; writes the summary of suppressed events
    /// first when its interval just started.
    fn admit(self, shadow: bool, name: &str) -> bool {
        match self.table.admit(name, self.limits) {
            Admit::Suppress => false,
            Admit::Write { suppressed } => {
                if suppressed > 0 {
                    summary(shadow, name, suppressed);
                }
                true
            }
        }
    }
}

/// The one event for events a budget kept out, under the target they would have had.
fn summary(shadow: bool, rule: &str, suppressed: u64) {
    if shadow {
        tracing::warn!(target: SHADOW_TARGET, rule, suppressed, "shadow events suppressed");
    } else {
        tracing::warn!(target: DECISION_TARGET, rule, suppressed, "decision events suppressed");
    }
}

/// The request as the log shows it.
pub(crate) struct Fields<'a> {
    client_ip: ClientIp,
    method: &'a str,
    path: &'a str,
    /// Where each matched rule found its match: the request itself, to compute it for the
    /// events the budget admits, or what was computed before the request went away.
    evidence: Evidence<'a>,
}

pub(crate) enum Evidence<'a> {
    /// The request, and what its rules found, computed for the first event that asks
    /// (each computation evaluates afresh) and kept for the others.
    Request(&'a Request<'a>, std::cell::OnceCell<Vec<Found>>),
    #[cfg(feature = "tower")]
    Computed(&'a [Found]),
    Unknown,
}

/// What a matched rule's event says it found.
#[derive(Clone, Debug, Default)]
pub(crate) struct Found {
    rule: String,
    /// `matched_in`: `term "name"="value"`, Debug-quoted so the attacker's text cannot
    /// forge log lines.
    matched_in: Option<String>,
    /// Its log texts filled in (SecLang's `msg` and `logdata`), Debug-quoted as well.
    message: Option<String>,
    data: Option<String>,
    severity: Option<String>,
    /// Its tags, as a Debug list.
    tags: Option<String>,
}

impl Evidence<'_> {
    /// What `rule`'s event under `target` says it found: nothing is computed when no
    /// subscriber wants the event (deciding allocates nothing then).
    fn of(&self, decision: &Decision, rule: &str, target: &'static str) -> Found {
        let wanted = match target {
            SHADOW_TARGET => tracing::enabled!(target: SHADOW_TARGET, tracing::Level::INFO),
            _ => tracing::enabled!(target: DECISION_TARGET, tracing::Level::INFO),
        };
        if !wanted {
            return Found::default();
        }
        let find = |all: &[Found]| all.iter().find(|f| f.rule == rule).cloned();
        match self {
            Evidence::Request(req, all) => find(all.get_or_init(|| found(decision, req))),
            #[cfg(feature = "tower")]
            Evidence::Computed(all) => find(all),
            Evidence::Unknown => None,
        }
        .unwrap_or_default()
    }
}

/// What each matched rule found: where (see [`Found`]), and its log texts.
pub(crate) fn found(decision: &Decision, req: &Request<'_>) -> Vec<Found> {
    let mut out: Vec<Found> = decision
        .evidence(req)
        .into_iter()
        .map(|(rule, e)| Found {
            rule: rule.id.clone(),
            matched_in: Some(format!("{} {:?}={:?}", e.term, e.name, e.value)),
            ..Found::default()
        })
        .collect();
    for m in decision.messages(req) {
        let quoted = |t: Option<String>| t.map(|t| format!("{t:?}"));
        let texts = Found {
            rule: m.rule,
            matched_in: None,
            message: quoted(m.message),
            data: quoted(m.data),
            severity: m.severity,
            tags: (!m.tags.is_empty()).then(|| format!("{:?}", m.tags)),
        };
        match out.iter_mut().find(|f| f.rule == texts.rule) {
            Some(f) => {
                *f = Found {
                    matched_in: f.matched_in.take(),
                    ..texts
                }
            }
            None => out.push(texts),
        }
    }
    out
}

impl<'a> Fields<'a> {
    fn of(request: &'a Request<'a>) -> Fields<'a> {
        Fields {
            client_ip: ClientIp(request.client_ip),
            method: request.method,
            path: logged_path(request.uri),
            evidence: Evidence::Request(request, std::cell::OnceCell::new()),
        }
    }
}

/// Logs a decision: the refusal, and the shadow hits with `app_status = unknown`.
/// Allowed requests without shadow hits, the common case, cost one branch: nothing is
/// formatted or counted.
pub(crate) fn decision(decision: &Decision, request: &Request<'_>, budget: Budget<'_>) {
    if decision.is_allowed() && decision.shadow_hits().next().is_none() {
        return;
    }
    decision_of(decision, &Fields::of(request), budget);
}

/// [`decision`] with the request's logged fields at hand.
pub(crate) fn decision_of(decision: &Decision, fields: &Fields<'_>, budget: Budget<'_>) {
    if !decision.is_allowed() {
        refusal(decision, fields, budget);
    }
    shadow_hits(decision, fields, AppStatus(None), budget);
}

/// The decision on a request asked about again with its response: the refusal, and the
/// shadow hits of the rules that read the response, with its status (the request's own
/// were logged when it was first asked about).
pub(crate) fn response_decision(decision: &Decision, request: &Request<'_>, budget: Budget<'_>) {
    let fields = Fields::of(request);
    if !decision.is_allowed() {
        refusal(decision, &fields, budget);
    }
    let status = AppStatus(request.response.map(|r| r.status));
    shadow_hits_of(
        decision,
        &fields,
        status,
        budget,
        portcullis_rules::Rule::reads_response,
    );
}

/// The logged fields of a request, kept while a decision waits for a rate-limit store.
pub(crate) struct Owned {
    client_ip: Option<IpAddr>,
    method: String,
    path: String,
}

impl Owned {
    pub(crate) fn of(request: &Request<'_>) -> Owned {
        let f = Fields::of(request);
        Owned {
            client_ip: f.client_ip.0,
            method: f.method.to_string(),
            path: f.path.to_string(),
        }
    }

    pub(crate) fn borrow(&self) -> Fields<'_> {
        Fields {
            client_ip: ClientIp(self.client_ip),
            method: &self.method,
            path: &self.path,
            evidence: Evidence::Unknown,
        }
    }
}

/// The name a refusal is logged under: the deciding rule's id, else what refused before
/// the rules ran (`(limit max_uri_bytes)`, `(malformed)`), else `(default)`.
fn refused_by(decision: &Decision) -> &str {
    if let Some(id) = decision.rule_id() {
        return id;
    }
    if decision.malformed().is_some() {
        return MALFORMED;
    }
    match decision.oversize() {
        // Under `on_oversize = "allow"` an oversize request goes on to the rules, and
        // a refusal without a rule is the default's.
        // A body over its limit is refused under `on_body_limit`, whatever `on_oversize`.
        Some(o)
            if matches!(o, portcullis_decide::Oversize::Body { .. })
                || decision
                    .policy()
                    .is_some_and(|p| p.rules().settings.on_oversize == OnOversize::Forbid) =>
        {
            budget::limit_name(o)
        }
        _ => DEFAULT,
    }
}

fn refusal(decision: &Decision, fields: &Fields<'_>, budget: Budget<'_>) {
    let rule = refused_by(decision);
    if !budget.admit(false, rule) {
        return;
    }
    let found = fields.evidence.of(decision, rule, DECISION_TARGET);
    tracing::info!(
        target: DECISION_TARGET,
        request_id = decision.request_id().as_str(),
        rule,
        verdict = decision.verdict().name(),
        status = decision.status(),
        reason = decision.reason().as_deref().unwrap_or(""),
        // The rule's log texts, filled in with what it matched (SecLang's `msg`,
        // `logdata`).
        msg = found.message,
        logdata = found.data,
        severity = found.severity,
        tags = found.tags,
        rate_store_unavailable = decision.rate_store_unavailable(),
        // What the rules could read of the body, when one read it.
        body_inspected = decision.body().map(|b| b.inspected),
        body_truncated = decision.body().map(|b| b.truncated),
        body_error = decision.body().and_then(|b| b.error).map(|e| e.name()),
        // Which argument, header or cookie the rule matched in, when it read a collection.
        matched_in = found.matched_in,
        client_ip = %fields.client_ip,
        // Method and path come from the client: `?` quotes and escapes them so they
        // cannot forge log lines.
        method = ?fields.method,
        path = ?fields.path,
        "request refused"
    );
}

fn shadow_hits(
    decision: &Decision,
    fields: &Fields<'_>,
    app_status: AppStatus,
    budget: Budget<'_>,
) {
    shadow_hits_of(decision, fields, app_status, budget, |_| true);
}

/// [`shadow_hits`] of the rules `keep` says yes to.
fn shadow_hits_of(
    decision: &Decision,
    fields: &Fields<'_>,
    app_status: AppStatus,
    budget: Budget<'_>,
    keep: fn(&portcullis_rules::Rule) -> bool,
) {
    for (rule, action) in decision.shadow_hits().filter(|(r, _)| keep(r)) {
        if !budget.admit(true, &rule.id) {
            continue;
        }
        let found = fields.evidence.of(decision, &rule.id, SHADOW_TARGET);
        tracing::info!(
            target: SHADOW_TARGET,
            request_id = decision.request_id().as_str(),
            rule = rule.id.as_str(),
            action = action.name(),
            verdict = decision.verdict().name(),
            status = decision.status(),
            app_status = %app_status,
            reason = rule.reason.as_deref().unwrap_or(""),
            msg = found.message,
            logdata = found.data,
            severity = found.severity,
            tags = found.tags,
            matched_in = found.matched_in,
            client_ip = %fields.client_ip,
            method = ?fields.method,
            path = ?fields.path,
            "shadow hit"
        );
    }
}

/// What the application answered: its status, or `unknown`. Always written with
/// `Display`, so log pipelines see one type (a string) for the field.
#[derive(Clone, Copy)]
struct AppStatus(Option<u16>);

impl std::fmt::Display for AppStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(status) => status.fmt(f),
            None => f.write_str("unknown"),
        }
    }
}

/// The path of a request target, without its query (which may carry secrets), bounded.
fn logged_path(uri: &str) -> &str {
    let path = uri.split(['?', '#']).next().unwrap_or("");
    if path.len() <= MAX_LOGGED_PATH {
        return path;
    }
    let mut end = MAX_LOGGED_PATH;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    &path[..end]
}

struct ClientIp(Option<IpAddr>);

impl std::fmt::Display for ClientIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => f.write_str("-"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use portcullis_rules::RuleSet;

    use super::{logged_path, Clock, LogBudget};
    use crate::capture::{events, Captured};
    use crate::{AppResponse, Engine, Request};

    /// A clock the test steps.
    #[derive(Default)]
    struct Manual(AtomicU64);

    impl Clock for Manual {
        fn now_ms(&self) -> u64 {
            self.0.load(Ordering::Relaxed)
        }
    }

    impl Manual {
        fn advance(&self, ms: u64) {
            self.0.fetch_add(ms, Ordering::Relaxed);
        }
    }

    const RULES: &str = r#"
[policy]
max_uri_bytes = 64

[[rule]]
id = "flooded"
when = 'path starts_with "/flood"'
action = "forbid"

[[rule]]
id = "other"
when = 'path starts_with "/other"'
action = "forbid"

[[rule]]
id = "watching"
when = 'path starts_with "/watched"'
action = "log"
"#;

    fn engine(rules: &str) -> (Engine, Arc<Manual>) {
        let clock = Arc::new(Manual::default());
        let rules = RuleSet::parse("<test>", rules).unwrap();
        let engine = Engine::from_rules_clocked(rules, Some(clock.clone())).unwrap();
        (engine, clock)
    }

    fn refuse(engine: &Engine, path: &str, n: usize) {
        for _ in 0..n {
            let _ = engine.evaluate(&Request::new("GET", path));
        }
    }

    fn by<'a>(events: &'a [Captured], message: &str, rule: &str) -> Vec<&'a Captured> {
        events
            .iter()
            .filter(|e| e.message() == message && e.get("rule") == Some(rule))
            .collect()
    }

    #[test]
    fn a_flood_of_one_rule_writes_its_budget_and_one_summary() {
        let (engine, clock) = engine(RULES);
        let (_, first) = events(|| refuse(&engine, "/flood", 10_000));
        assert_eq!(first.len(), 100, "the default budget, no summary yet");
        assert!(first.iter().all(|e| e.get("rule") == Some("flooded")));

        // The next interval: one summary with the count, then logging resumes.
        clock.advance(1_000);
        let (_, next) = events(|| refuse(&engine, "/flood", 150));
        let summary = by(&next, "decision events suppressed", "flooded");
        assert_eq!(summary.len(), 1, "{next:#?}");
        assert_eq!(summary[0].get("suppressed"), Some("9900"));
        assert_eq!(summary[0].target, "portcullis::decision");
        assert_eq!(summary[0].level, tracing::Level::WARN);
        assert_eq!(next[0].message(), "decision events suppressed");
        assert_eq!(by(&next, "request refused", "flooded").len(), 100);
        assert_eq!(next.len(), 101);
    }

    #[test]
    fn one_flooded_rule_cannot_silence_another() {
        let (engine, _clock) = engine(RULES);
        let (_, seen) = events(|| {
            refuse(&engine, "/flood", 10_000);
            refuse(&engine, "/other", 30);
            let _ = engine.evaluate(&Request::new("GET", "/watched"));
            // Pre-rule refusals have budgets of their own too.
            refuse(&engine, &format!("/flood/{}", "x".repeat(100)), 3);
        });
        assert_eq!(by(&seen, "request refused", "flooded").len(), 100);
        assert_eq!(by(&seen, "request refused", "other").len(), 30);
        assert_eq!(by(&seen, "shadow hit", "watching").len(), 1);
        let limit = by(&seen, "request refused", "(limit max_uri_bytes)");
        assert_eq!(limit.len(), 3);
    }

    #[test]
    fn the_budget_is_the_engines_setting() {
        let (engine, clock) = engine(RULES);
        engine.set_log_budget(LogBudget::new(5, Duration::from_secs(10)));
        assert_eq!(engine.log_budget().events(), 5);
        let (_, seen) = events(|| {
            refuse(&engine, "/flood", 20);
            clock.advance(9_999);
            refuse(&engine, "/flood", 20);
        });
        assert_eq!(seen.len(), 5, "one interval of 10 s: {seen:#?}");

        engine.set_log_budget(LogBudget::unlimited());
        let (_, seen) = events(|| refuse(&engine, "/flood", 500));
        // What the budget held back is reported, then every event is written.
        assert_eq!(seen[0].get("suppressed"), Some("35"));
        assert_eq!(seen.len(), 501);
    }

    #[test]
    fn counts_pending_at_a_reload_are_written_not_lost() {
        let (engine, _clock) = engine(RULES);
        let (_, seen) = events(|| {
            refuse(&engine, "/flood", 250);
            engine.reload_str(RULES).unwrap();
        });
        let summary = by(&seen, "decision events suppressed", "flooded");
        assert_eq!(summary.len(), 1);
        assert_eq!(summary[0].get("suppressed"), Some("150"));
    }

    #[test]
    fn refusals_before_any_rule_name_the_limit_not_the_default() {
        let (engine, _clock) = engine(
            r#"
[policy]
default = "forbid"
max_uri_bytes = 64
max_header_count = 2
[[rule]]
id = "reads-host-and-path"
when = 'host == "never.example" and path == "/never"'
action = "forbid"
"#,
        );
        let long = format!("/{}", "x".repeat(100));
        let headers = [("a", "1"), ("b", "2"), ("c", "3")];
        let dup_host = [("host", "a.example"), ("host", "b.example")];
        let (_, seen) = events(|| {
            let _ = engine.evaluate(&Request::new("GET", &long));
            let _ = engine.evaluate(&Request::new("GET", "/").headers(&headers));
            let _ = engine.evaluate(&Request::new("GET", "/").headers(&dup_host));
            let _ = engine.evaluate(&Request::new("GET", "/a/../b"));
            let _ = engine.evaluate(&Request::new("GET", "/"));
        });
        let rules: Vec<_> = seen.iter().map(|e| e.get("rule").unwrap_or("")).collect();
        assert_eq!(
            rules,
            [
                "(limit max_uri_bytes)",
                "(limit max_header_count)",
                "(malformed)",
                "(malformed)",
                "(default)"
            ]
        );
        let status: Vec<_> = seen.iter().map(|e| e.get("status").unwrap_or("")).collect();
        assert_eq!(status, ["414", "431", "400", "400", "403"]);
    }

    #[test]
    fn refusals_say_what_the_rules_could_read_of_the_body() {
        let (engine, _clock) = engine(
            r#"
[policy]
max_body_bytes = 32
[[rule]]
id = "unreadable"
when = 'present(body.error) or not body.inspected'
action = "forbid"
[[rule]]
id = "admin"
when = 'path starts_with "/admin"'
action = "forbid"
"#,
        );
        let json = [("content-type", "application/json")];
        let (_, seen) = events(|| {
            let _ = engine.evaluate(&Request::new("POST", "/").headers(&json).body(b"{\"a\": "));
            let _ = engine.evaluate(&Request::new("POST", "/").body(b"{}"));
            let _ = engine.evaluate(&Request::new("POST", "/").body(&[b'x'; 40]));
        });
        let field = |e: &Captured, k: &str| e.get(k).unwrap_or("-").to_string();
        let got: Vec<_> = seen
            .iter()
            .map(|e| {
                (
                    field(e, "rule"),
                    field(e, "body_inspected"),
                    field(e, "body_truncated"),
                    field(e, "body_error"),
                )
            })
            .collect();
        let s = |v: &str| v.to_string();
        assert_eq!(
            got,
            [
                (s("unreadable"), s("false"), s("false"), s("malformed json")),
                (s("unreadable"), s("false"), s("false"), s("-")),
                (s("(limit max_body_bytes)"), s("-"), s("-"), s("-")),
            ]
        );
    }

    #[test]
    fn events_say_which_member_a_rule_matched_in() {
        let (engine, _clock) = engine(
            r#"
[[rule]]
id = "watch-cookies"
when = 'cookies contains "<"'
action = "log"
[[rule]]
id = "sqli"
when = 'detect_sqli(args)'
action = "forbid"
"#,
        );
        let form = [
            ("content-type", "application/x-www-form-urlencoded"),
            ("cookie", "a=1; pref=<b>"),
        ];
        let (_, seen) = events(|| {
            let _ = engine.evaluate(
                &Request::new("POST", "/login?next=%2F")
                    .headers(&form)
                    .body(b"user=bob&pass=x%27+or+%271%27%3D%271"),
            );
        });
        let field = |e: &Captured, k: &str| e.get(k).unwrap_or("-").to_string();
        let got: Vec<_> = seen
            .iter()
            .map(|e| (field(e, "rule"), field(e, "matched_in")))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "sqli".to_string(),
                    r#"args "pass"="x' or '1'='1""#.to_string()
                ),
                (
                    "watch-cookies".to_string(),
                    r#"cookies "pref"="<b>""#.to_string()
                ),
            ]
        );
    }

    #[test]
    fn events_carry_a_seclang_rules_msg_and_logdata_filled_in() {
        let set = portcullis_seclang::parse_str(
            "t.conf",
            r#"
SecRule ARGS "@rx (?i)union\s+select" "id:1,phase:2,pass,log,capture,severity:CRITICAL,tag:attack-sqli,tag:paranoia-level/1,msg:'SQL in %{MATCHED_VAR_NAME}',logdata:'Matched Data: %{TX.0} found within %{MATCHED_VAR_NAME}: %{MATCHED_VAR}',setvar:tx.score=+5"
SecRule TX:SCORE "@ge 5" "id:2,phase:2,deny,log,msg:'Total Score: %{TX.SCORE}'"
"#,
        )
        .unwrap();
        let lowered = portcullis_seclang::lower(&set, &Default::default()).unwrap();
        let engine = Engine::from_rules_clocked(lowered.rules, None).unwrap();
        let (_, seen) = events(|| {
            let _ = engine.evaluate(&Request::new("GET", "/?q=1%20UNION%20SELECT%202"));
        });
        let field = |e: &Captured, k: &str| e.get(k).unwrap_or("-").to_string();
        let got: Vec<_> = seen
            .iter()
            .map(|e| (field(e, "rule"), field(e, "msg"), field(e, "logdata")))
            .collect();
        let sqli = seen.iter().find(|e| field(e, "rule") == "1");
        assert_eq!(
            sqli.map(|e| (field(e, "severity"), field(e, "tags"))),
            Some((
                "CRITICAL".to_string(),
                r#"["attack-sqli", "paranoia-level/1"]"#.to_string()
            ))
        );
        let quoted = |s: &str| format!("{s:?}");
        assert_eq!(
            got,
            [
                ("2".to_string(), quoted("Total Score: 5"), "-".to_string()),
                (
                    "1".to_string(),
                    quoted("SQL in ARGS:q"),
                    quoted("Matched Data: UNION SELECT found within ARGS:q: 1 UNION SELECT 2")
                ),
            ]
        );
    }

    #[test]
    fn an_oversize_request_the_rules_decided_is_the_defaults_refusal() {
        let (engine, _clock) = engine(
            r#"
[policy]
default = "forbid"
max_uri_bytes = 64
on_oversize = "allow"
"#,
        );
        let long = format!("/{}", "x".repeat(100));
        let (_, seen) = events(|| engine.evaluate(&Request::new("GET", &long)));
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].get("rule"), Some("(default)"));
    }

    #[test]
    fn asked_again_with_the_response_only_what_the_response_adds_is_logged() {
        let (engine, _clock) = engine(
            r#"
[[rule]]
id = "watching"
when = 'path starts_with "/watched"'
action = "log"
[[rule]]
id = "leak-watch"
when = 'response.body contains "ORA-"'
action = "log"
[[rule]]
id = "leak"
when = 'response.status == "500"'
action = "forbid"
"#,
        );
        let req = Request::new("GET", "/watched");
        let (_, seen) = events(|| engine.evaluate(&req));
        assert_eq!(seen.len(), 1);
        let answered = req.response(AppResponse::new(200).body(b"ORA-00933"));
        let (_, seen) = events(|| engine.evaluate_response(&answered));
        let got: Vec<_> = seen
            .iter()
            .map(|e| {
                (
                    e.get("rule").unwrap_or("-"),
                    e.get("app_status").unwrap_or("-"),
                )
            })
            .collect();
        assert_eq!(got, [("leak-watch", "200")]);
        let failed = req.response(AppResponse::new(500));
        let (d, seen) = events(|| engine.evaluate_response(&failed));
        assert!(!d.is_allowed());
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].get("rule"), Some("leak"));
    }

    #[test]
    fn shadow_hits_from_evaluate_do_not_know_the_applications_status() {
        let (engine, _clock) = engine(RULES);
        let (_, seen) = events(|| engine.evaluate(&Request::new("GET", "/watched")));
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].target, "portcullis::shadow");
        assert_eq!(seen[0].get("app_status"), Some("unknown"));
        assert_eq!(seen[0].get("status"), Some("200"));
    }

    /// The figure behind the budget: bytes a `fmt` subscriber writes for 35,000 refusals
    /// of one rule in one second (8,085,000 without a budget).
    #[test]
    fn a_flood_of_35k_refusals_writes_kilobytes_not_megabytes() {
        use std::io::Write;

        #[derive(Clone, Default)]
        struct Count(Arc<AtomicU64>);
        impl Write for Count {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.fetch_add(b.len() as u64, Ordering::Relaxed);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        let (engine, _clock) = engine(RULES);
        let count = Count::default();
        let writer = count.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        crate::capture::with_subscriber(subscriber, || {
            let headers = [("user-agent", "sqlmap/1.7")];
            for i in 0..35_000 {
                let uri = format!("/flood?id={i}");
                let ip = "203.0.113.9".parse().unwrap();
                let _ = engine.evaluate(&Request::new("GET", &uri).headers(&headers).client_ip(ip));
            }
        });
        let bytes = count.0.load(Ordering::Relaxed);
        assert!(bytes < 30_000, "{bytes} bytes");
    }

    #[test]
    fn logged_path_drops_query_and_bounds_length() {
        assert_eq!(logged_path("/a/b?token=secret"), "/a/b");
        assert_eq!(logged_path("/a#frag"), "/a");
        let long = format!("/{}", "é".repeat(600));
        let cut = logged_path(&long);
        assert!(cut.len() <= super::MAX_LOGGED_PATH && long.starts_with(cut));
    }
}

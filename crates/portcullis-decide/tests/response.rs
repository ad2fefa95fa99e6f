//! Rules on the application's response (`response.*`): absent until the host asks with
//! the response, then read alike by both evaluators.

use portcullis_decide::{AppResponse, OwnedRequest, Policy, Request, Verdict};
use portcullis_rules::RuleSet;

fn policy(rules: &str) -> Policy {
    Policy::compile(RuleSet::parse("r.toml", rules).expect("rules")).expect("compiles")
}

const RULES: &str = r#"
[policy]
max_body_bytes = 64

[[rule]]
id = "sql-error"
when = 'lower(response.body) contains "ora-00933"'
action = "forbid"

[[rule]]
id = "server-error"
when = 'response.status starts_with "5" and not (response.header["content-type"] contains "json")'
action = "forbid"
"#;

/// The id of the rule that decided, under both evaluators, which must agree.
fn decided(p: &Policy, req: &Request<'_>) -> Option<String> {
    let compiled = p.evaluate(req);
    let reference = p.evaluate_reference(req);
    assert_eq!(
        compiled.rule_id(),
        reference.rule_id(),
        "the evaluators agree"
    );
    assert_eq!(compiled.verdict(), reference.verdict());
    compiled.rule_id().map(str::to_owned)
}

#[test]
fn response_fields_are_absent_until_the_host_hands_the_response_over() {
    let p = policy(RULES);
    assert!(p.reads_response() && !p.reads_body());
    let req = Request::new("GET", "/report");
    assert_eq!(p.evaluate(&req).verdict(), Verdict::Allow);
    assert_eq!(decided(&p, &req), None);

    let leak = b"<p>SQL Error: ORA-00933: SQL command not properly ended</p>";
    let html = [("Content-Type", "text/html")];
    let answered = req.response(AppResponse::new(200).headers(&html).body(leak));
    assert_eq!(decided(&p, &answered).as_deref(), Some("sql-error"));

    // Past `max_body_bytes` the body is not read: the same text at byte 70 is not seen.
    let late = format!("{}ORA-00933", "x".repeat(70));
    let answered = req.response(AppResponse::new(200).body(late.as_bytes()));
    assert_eq!(decided(&p, &answered), None);

    let json = [("content-type", "application/json")];
    for (status, headers, rule) in [
        (503, &html, Some("server-error")),
        (503, &json, None),
        (404, &html, None),
    ] {
        let answered = req.response(AppResponse::new(status).headers(headers));
        assert_eq!(decided(&p, &answered).as_deref(), rule, "{status}");
    }
    // A rule with `not` over an absent response field does not fire on the request alone.
    assert_eq!(decided(&p, &Request::new("GET", "/")), None);
}

#[test]
fn json_requests_carry_a_response() {
    let p = policy(RULES);
    let r = OwnedRequest::from_json(
        r#"{"path": "/x", "response": {"status": 500, "headers": {"Content-Type": "text/plain"}, "body": "boom"}}"#,
    )
    .expect("reads");
    assert_eq!(decided(&p, &r.view()).as_deref(), Some("server-error"));
    let err = OwnedRequest::from_json(r#"{"path": "/x", "response": {"code": 500}}"#)
        .expect_err("unknown key");
    assert!(err.message().contains("code"), "{}", err.message());
}

#[test]
fn response_header_names_are_lowercased_and_checked() {
    let p = policy(RULES);
    let shown = format!("{:?}", p.rules().rules);
    assert!(
        shown.contains("ResponseHeader(\"content-type\")"),
        "{shown}"
    );
    let err = RuleSet::parse(
        "r.toml",
        "[[rule]]\nid = \"a\"\nwhen = 'response.header[\"a b\"] == \"x\"'\naction = \"forbid\"\n",
    )
    .expect_err("not a header name");
    assert!(err.to_string().contains("not a header name"), "{err}");
}

#[test]
fn asking_again_with_the_response_does_not_count_against_rate_limits() {
    let p = policy(
        r#"
[[rule]]
id = "per-client"
when = 'true'
action = "rate_limit"
rate_limit = { limit = 1, period = "1m", key = ["ip"] }
"#,
    );
    let ip = "192.0.2.1".parse().expect("ip");
    let req = Request::new("GET", "/").client_ip(ip);
    assert_eq!(p.evaluate(&req).verdict(), Verdict::Allow);
    for _ in 0..3 {
        let answered = req.response(AppResponse::new(200));
        assert_eq!(p.evaluate(&answered).verdict(), Verdict::Allow);
    }
    assert_eq!(
        p.evaluate(&req).verdict(),
        Verdict::RateLimit,
        "the second request"
    );
}

#[test]
fn asked_again_with_the_response_the_request_rules_are_not_evaluated_again() {
    // The scores and labels of the rules before the first that reads the response count
    // for the rules after it, as when the whole policy is evaluated again.
    let p = policy(
        r#"
[[rule]]
id = "suspicious-path"
when = 'path starts_with "/admin"'
action = "log"
score = { risk = 3 }
labels = ["admin"]

[[rule]]
id = "error-page"
when = 'response.status == "500"'
action = "log"
score = { risk = 2 }

[[rule]]
id = "risky"
when = 'score["risk"] >= 5 and labels has "admin"'
action = "forbid"

[[rule]]
id = "always"
when = 'method == "GET"'
action = "log"
"#,
    );
    for (path, status) in [("/admin/x", 500), ("/admin/x", 200), ("/shop", 500)] {
        let req = Request::new("GET", path);
        let first = p.evaluate(&req);
        let answered = req.response(AppResponse::new(status));
        let (resumed, whole) = (p.evaluate_after(&answered, &first), p.evaluate(&answered));
        let ids = |d: &portcullis_decide::Decision| -> Vec<String> {
            d.matched().map(|r| r.id.clone()).collect()
        };
        assert_eq!(ids(&resumed), ids(&whole), "{path} {status}");
        assert_eq!(resumed.rule_id(), whole.rule_id());
        assert_eq!(resumed.scores(), whole.scores());
    }
    let req = Request::new("GET", "/admin/x");
    let answered = req.response(AppResponse::new(500));
    let d = p.evaluate_after(&answered, &p.evaluate(&req));
    assert_eq!(d.rule_id(), Some("risky"));
}

#[test]
fn a_first_decision_from_another_policy_is_not_resumed_after() {
    // Reloaded between the request and its response: the new policy's request rules run.
    let old = policy(RULES);
    let new = policy(&RULES.replacen(
        "[[rule]]",
        "[[rule]]\nid = \"no-reports\"\nwhen = 'path == \"/report\"'\naction = \"forbid\"\n\n[[rule]]",
        1,
    ));
    let req = Request::new("GET", "/report");
    let first = old.evaluate(&req);
    assert!(first.is_allowed());
    let answered = req.response(AppResponse::new(200));
    assert_eq!(
        new.evaluate_after(&answered, &first).rule_id(),
        Some("no-reports")
    );
}

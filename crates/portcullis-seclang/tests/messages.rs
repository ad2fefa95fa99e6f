//! A rule's `msg` and `logdata` in the decision: load-time constants filled in when the
//! rules are lowered, and per match what the rule held on (`%{MATCHED_VAR}`), where
//! (`%{MATCHED_VAR_NAME}`), what of it the operator matched (`%{TX.0}`) and the scores as
//! they stood after it ran.

use portcullis_decide::{Message, Policy, Request};
use portcullis_seclang::{lower, parse_str, LowerOptions};

fn messages(text: &str, req: &Request<'_>) -> Vec<Message> {
    let set = parse_str("t.conf", text).unwrap_or_else(|e| panic!("{e}"));
    let lowered = lower(&set, &LowerOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let policy = Policy::compile(lowered.rules).unwrap_or_else(|e| panic!("{e}"));
    policy.evaluate(req).messages(req)
}

fn message(rule: &str, msg: Option<&str>, data: Option<&str>) -> Message {
    Message {
        rule: rule.into(),
        message: msg.map(str::to_string),
        data: data.map(str::to_string),
        severity: None,
        tags: Vec::new(),
    }
}

#[test]
fn macros_are_filled_in_with_what_each_rule_matched() {
    let rules = r#"
SecAction "id:900,phase:1,pass,nolog,setvar:tx.level=2,setvar:tx.score=0"
SecRule ARGS "@rx (?i)(union)\s+select" "id:1,phase:2,pass,log,capture,t:none,t:lowercase,msg:'SQL at level %{tx.level}',logdata:'Matched Data: %{TX.0} (%{TX.1}) found within %{MATCHED_VAR_NAME}: %{MATCHED_VAR}',setvar:tx.score=+5"
SecRule REQUEST_HEADERS:User-Agent "@pm sqlmap nikto" "id:2,phase:1,pass,log,capture,msg:'Scanner (score %{tx.score})',logdata:'Matched Data: %{TX.0} found within %{MATCHED_VAR_NAME}: %{MATCHED_VAR}',setvar:tx.score=+3"
SecRule REQUEST_FILENAME "@detectSQLi" "id:3,phase:2,pass,log,capture,t:urlDecode,logdata:'%{TX.0} in %{MATCHED_VAR_NAME}',setvar:tx.score=+1"
SecRule ARGS "@rx pw" "id:6,phase:2,pass,log,severity:2,tag:attack-sqli"
SecRule TX:SCORE "@ge 8" "id:4,phase:2,deny,log,msg:'Score exceeded (Total Score: %{TX.SCORE})'"
SecRule ARGS_NAMES "@rx ^nope$" "id:5,phase:2,pass,log,msg:'Never'"
"#;
    let headers = [("user-agent", "Mozilla/5.0 NIKTO/2.1")];
    let req =
        Request::new("GET", "/1'%20or%20'1'='1?a=1&q=x%20UNION%20SELECT%20pw").headers(&headers);
    assert_eq!(
        messages(rules, &req),
        [
            message(
                "2",
                // Its own points in: as ModSecurity, after the rule's `setvar`s.
                Some("Scanner (score 3)"),
                // The phrase as the value has it; a keyed header under its name.
                Some("Matched Data: NIKTO found within REQUEST_HEADERS:User-Agent: Mozilla/5.0 NIKTO/2.1"),
            ),
            message(
                "1",
                Some("SQL at level 2"),
                // The value as the rule saw it, after `t:lowercase`.
                Some("Matched Data: union select (union) found within ARGS:q: x union select pw"),
            ),
            // libinjection's fingerprint; a single field under its own name.
            message("3", None, Some("s&sos in REQUEST_FILENAME")),
            // No `msg` or `logdata`: its severity and tags.
            Message {
                severity: Some("CRITICAL".into()),
                tags: vec!["attack-sqli".into()],
                ..message("6", None, None)
            },
            // The score as it stood when the rule ran.
            message("4", Some("Score exceeded (Total Score: 9)"), None),
        ]
    );
}

#[test]
fn a_value_too_long_for_a_log_line_is_cut() {
    let rules = r#"
SecRule ARGS "@rx a" "id:1,phase:2,deny,log,logdata:'%{MATCHED_VAR}'"
"#;
    let long = format!("/?q={}", "a".repeat(500));
    let got = messages(rules, &Request::new("GET", &long));
    let data = got.first().and_then(|m| m.data.clone()).unwrap_or_default();
    assert_eq!(data, format!("{}…", "a".repeat(200)));
}

#[test]
fn other_variables_are_quoted_by_their_first_value() {
    // CRS 922100 logs `%{ARGS._charset_}`, 920440 `%{request_headers.host}`; a variable
    // another rule sets per request stays as written.
    let rules = r#"
SecRule ARGS_NAMES "@rx ^_method$" "id:1,phase:2,deny,log,setvar:'tx.seen=%{MATCHED_VAR}',logdata:'%{ARGS._method} on %{REQUEST_HEADERS.host} by %{REQUEST_METHOD}, %{ARGS.none}|%{tx.seen}'"
"#;
    let headers = [("host", "shop.example")];
    let req = Request::new("POST", "/?_method=PUT&_method=DELETE").headers(&headers);
    let got = messages(rules, &req);
    let data = got.first().and_then(|m| m.data.clone()).unwrap_or_default();
    assert_eq!(data, "PUT on shop.example by POST, |%{TX.seen}");
}

#[test]
fn a_refusal_s_reason_fills_in_scores_and_constants_never_the_request() {
    // 949110's `msg` shows its total; a `msg` quoting what matched keeps the macro in the
    // reason (which a refusal body may show the client) and fills it in the log.
    let rules = r#"
SecAction "id:900,phase:1,pass,nolog,setvar:tx.level=2,setvar:tx.score=0"
SecRule ARGS "@rx evil" "id:1,phase:2,pass,log,setvar:tx.score=+3"
SecRule ARGS "@rx evil" "id:2,phase:2,deny,msg:'Blocked %{MATCHED_VAR} at level %{tx.level} (Total Score: %{tx.score})',setvar:tx.score=+2"
"#;
    let set = parse_str("t.conf", rules).unwrap_or_else(|e| panic!("{e}"));
    let lowered = lower(&set, &LowerOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let policy = Policy::compile(lowered.rules).unwrap_or_else(|e| panic!("{e}"));
    let req = Request::new("GET", "/?q=evil");
    let d = policy.evaluate(&req);
    assert_eq!(
        d.reason().as_deref(),
        Some("Blocked %{MATCHED_VAR} at level 2 (Total Score: 5)")
    );
    let msg = d.messages(&req).pop().and_then(|m| m.message);
    assert_eq!(
        msg.as_deref(),
        Some("Blocked evil at level 2 (Total Score: 5)")
    );
}

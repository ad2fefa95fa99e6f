//! Limits as settings: every `[policy]` limit has its documented default, a rule set over
//! a compile-time limit is a clear error naming the rule or list, and a request over a
//! request limit gets the decision `on_oversize` says, reported in the decision.

use portcullis_decide::{HeaderSource, Oversize, Policy, Request, Verdict};
use portcullis_rules::{OnOversize, RuleSet, Settings};

fn policy(text: &str) -> Policy {
    let rules = RuleSet::parse("limits.toml", text).unwrap_or_else(|e| panic!("{e}"));
    Policy::compile(rules).unwrap_or_else(|e| panic!("{e}"))
}

/// Both evaluators, which must agree.
fn decide(p: &Policy, req: &Request<'_>) -> (Verdict, u16, Option<String>, Option<Oversize>) {
    let a = p.evaluate(req);
    let b = p.evaluate_reference(req);
    let key = |d: &portcullis_decide::Decision| {
        (
            d.verdict(),
            d.status(),
            d.rule_id().map(str::to_string),
            d.oversize(),
        )
    };
    assert_eq!(
        key(&a),
        key(&b),
        "compiled and reference disagree on {req:?}"
    );
    key(&a)
}

#[test]
fn defaults_are_the_documented_ones() {
    let s = Settings::default();
    assert_eq!(s.max_expression_depth, 64);
    assert_eq!(s.max_list_items, 4_000_000);
    assert_eq!(s.max_patterns, 100_000);
    assert_eq!(s.max_pattern_len, 4096);
    assert_eq!(s.max_regex_bytes, 64 << 20);
    assert_eq!(s.max_regex_cache_bytes, 2 << 20);
    assert_eq!(s.max_literal_dfa_bytes, 32 << 20);
    assert_eq!(s.max_uri_bytes, 8192);
    assert_eq!(s.max_header_count, 100);
    assert_eq!(s.max_header_bytes, 65_536);
    assert_eq!(s.on_oversize, OnOversize::Forbid);
    assert_eq!(
        (s.uri_too_long_status, s.headers_too_large_status),
        (414, 431)
    );
    assert_eq!(s.rate_limit_max_keys, 100_000);
}

#[test]
fn every_limit_is_read_from_policy() {
    let rules = RuleSet::parse(
        "l.toml",
        "[policy]\nmax_list_items = 1\nmax_patterns = 2\nmax_pattern_len = 3\nmax_regex_bytes = 4\nmax_regex_cache_bytes = 5\n\
         max_literal_dfa_bytes = 6\nmax_uri_bytes = 7\nmax_header_count = 8\nmax_header_bytes = 9\non_oversize = \"allow\"\n\
         uri_too_long_status = 400\nheaders_too_large_status = 413\n",
    )
    .unwrap();
    let s = &rules.settings;
    assert_eq!(
        (
            s.max_list_items,
            s.max_patterns,
            s.max_pattern_len,
            s.max_regex_bytes,
            s.max_regex_cache_bytes,
            s.max_literal_dfa_bytes
        ),
        (1, 2, 3, 4, 5, 6)
    );
    assert_eq!(
        (s.max_uri_bytes, s.max_header_count, s.max_header_bytes),
        (7, 8, 9)
    );
    assert_eq!(
        (
            s.on_oversize,
            s.uri_too_long_status,
            s.headers_too_large_status
        ),
        (OnOversize::Allow, 400, 413)
    );
}

#[test]
fn bad_limit_values_are_located_errors() {
    for (line, want) in [
        ("max_uri_bytes = 0", "`max_uri_bytes` must be at least 1"),
        (
            "max_header_count = -5",
            "`max_header_count` must be at least 1",
        ),
        (
            "max_patterns = \"many\"",
            "`max_patterns` must be an integer",
        ),
        (
            "on_oversize = \"drop\"",
            "`drop` is not a valid on_oversize",
        ),
        ("uri_too_long_status = 200", "200 is not an error status"),
        (
            "headers_too_large_status = 600",
            "600 is not an error status",
        ),
        ("max_uri_byte = 10", "unknown key `max_uri_byte`"),
    ] {
        let err = RuleSet::parse("bad.toml", &format!("[policy]\n{line}\n")).expect_err(line);
        let text = err.to_string();
        assert!(text.contains(want), "{line}: {text}");
        assert!(text.contains("bad.toml:2:"), "{line}: not located: {text}");
    }
    let err = RuleSet::parse("bad.toml", "[policy]\nmax_uri_byte = 10\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("did you mean `max_uri_bytes`?"), "{err}");
    let err = RuleSet::parse("bad.toml", "[policy]\nmax_uri_bytes = 0\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("the default is 8192"), "{err}");
}

#[test]
fn list_item_count_is_limited() {
    let err = RuleSet::parse(
        "l.toml",
        "[policy]\nmax_list_items = 2\n[lists]\nbad = { kind = \"string\", items = [\"a\", \"b\", \"c\"] }\n\
         [[rule]]\nid = \"r\"\nwhen = 'path in $bad or method in {\"GET\", \"PUT\", \"POST\"}'\naction = \"forbid\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("list `bad` has 3 items, over the limit of 2"),
        "{err}"
    );
    assert!(err.contains("l.toml:4:1"), "{err}");
    assert!(
        err.contains("an inline set has 3 items, over the limit of 2"),
        "{err}"
    );
    assert!(err.contains("raise `max_list_items`"), "{err}");
    // At the limit is fine.
    RuleSet::parse("l.toml", "[policy]\nmax_list_items = 3\n[lists]\nok = { kind = \"ip\", items = [\"10.0.0.1\", \"::1\", \"10.1.0.0/16\"] }\n[[rule]]\nid = \"r\"\nwhen = 'ip in $ok'\naction = \"forbid\"\n").unwrap();
}

#[test]
fn list_item_limit_applies_to_list_files() {
    let dir = std::env::temp_dir().join(format!("portcullis-limits-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("lists")).unwrap();
    let items: String = (0..50).map(|i| format!("10.0.{i}.0/24\n")).collect();
    std::fs::write(dir.join("lists/big.txt"), items).unwrap();
    std::fs::write(
        dir.join("rules.toml"),
        "[policy]\nmax_list_items = 49\n[lists]\nbig = { kind = \"ip\", file = \"lists/big.txt\" }\n[[rule]]\nid = \"r\"\nwhen = 'ip in $big'\naction = \"forbid\"\n",
    )
    .unwrap();
    let err = RuleSet::load(&[dir.join("rules.toml")])
        .unwrap_err()
        .to_string();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        err.contains("list `big` has 50 items, over the limit of 49"),
        "{err}"
    );
}

fn compile_err(text: &str) -> portcullis_decide::CompileError {
    let rules = RuleSet::parse("c.toml", text).unwrap_or_else(|e| panic!("{e}"));
    Policy::compile(rules).expect_err("should not compile")
}

#[test]
fn pattern_count_is_a_compile_error_naming_the_rule() {
    let e = compile_err(
        "[policy]\nmax_patterns = 2\n\
         [[rule]]\nid = \"one\"\nwhen = 'path starts_with \"/a\"'\naction = \"forbid\"\n\
         [[rule]]\nid = \"two\"\nwhen = 'path contains \"b\"'\naction = \"forbid\"\n\
         [[rule]]\nid = \"three\"\nwhen = 'path ends_with \".php\"'\naction = \"forbid\"\n",
    );
    assert_eq!(e.rule(), Some("three"), "{e}");
    assert!(e.to_string().contains("more than 2 patterns"), "{e}");
    // The limit is for the whole policy: patterns on different fields count together.
    let e = compile_err(
        "[policy]\nmax_patterns = 1\n\
         [[rule]]\nid = \"one\"\nwhen = 'path starts_with \"/a\"'\naction = \"forbid\"\n\
         [[rule]]\nid = \"two\"\nwhen = 'user_agent contains \"b\"'\naction = \"forbid\"\n",
    );
    let located = e.located().expect("located").to_string();
    assert!(located.contains("c.toml:"), "{located}");
    assert!(
        located.contains("= hint: merge patterns into lists"),
        "{located}"
    );
}

#[test]
fn pattern_length_is_a_compile_error_naming_the_rule() {
    let long = "x".repeat(33);
    let e = compile_err(&format!(
        "[policy]\nmax_pattern_len = 32\n[[rule]]\nid = \"ok\"\nwhen = 'path contains \"abc\"'\naction = \"log\"\n\
         [[rule]]\nid = \"long\"\nwhen = 'path contains \"{long}\"'\naction = \"forbid\"\n"
    ));
    assert_eq!(e.rule(), Some("long"), "{e}");
    assert!(
        e.to_string().contains("33 bytes long (the limit is 32)"),
        "{e}"
    );
    // A long pattern in a list names the rule that uses the list.
    let e = compile_err(&format!(
        "[policy]\nmax_pattern_len = 32\n[lists]\np = {{ kind = \"pattern\", items = [\"ok\", \"{long}\"] }}\n\
         [[rule]]\nid = \"uses-list\"\nwhen = 'user_agent contains_any $p'\naction = \"forbid\"\n"
    ));
    assert_eq!(e.rule(), Some("uses-list"), "{e}");
}

#[test]
fn regex_size_is_a_compile_error_naming_the_rule() {
    let e = compile_err(
        "[policy]\nmax_regex_bytes = 20000\n\
         [[rule]]\nid = \"small\"\nwhen = 'path matches \"^/a+$\"'\naction = \"log\"\n\
         [[rule]]\nid = \"huge\"\nwhen = 'user_agent matches \"(\\\\w+\\\\s+){20}\"'\naction = \"forbid\"\n",
    );
    assert_eq!(e.rule(), Some("huge"), "{e}");
    assert!(e.to_string().contains("max_regex_bytes"), "{e}");
}

#[test]
fn a_tiny_literal_dfa_limit_still_compiles_and_matches() {
    // Over `max_literal_dfa_bytes` the literals are kept as an NFA: slower, same answers.
    let p = policy(
        "[policy]\nmax_literal_dfa_bytes = 1\nmax_regex_cache_bytes = 1\n\
         [[rule]]\nid = \"bots\"\nwhen = 'user_agent contains \"sqlmap\" or user_agent matches \"nikto/[0-9]+\"'\naction = \"forbid\"\n",
    );
    let h = [("user-agent", "x sqlmap y")];
    assert_eq!(
        decide(&p, &Request::new("GET", "/").headers(&h)).0,
        Verdict::Forbid
    );
    let h = [("user-agent", "Nikto/2")];
    assert_eq!(
        decide(&p, &Request::new("GET", "/").headers(&h)).0,
        Verdict::Allow
    );
    let h = [("user-agent", "nikto/22")];
    assert_eq!(
        decide(&p, &Request::new("GET", "/").headers(&h)).0,
        Verdict::Forbid
    );
}

const SMALL: &str = "[policy]\nreveal = \"detail\"\nmax_uri_bytes = 20\nmax_header_count = 3\nmax_header_bytes = 40\n\
    [[rule]]\nid = \"admin\"\nwhen = 'path starts_with \"/admin\"'\naction = \"forbid\"\n";

#[test]
fn uri_over_the_limit_is_414_with_no_rule() {
    let p = policy(SMALL);
    let uri = format!("/{}", "a".repeat(20)); // 21 bytes
    let req = Request::new("GET", &uri);
    let (v, status, rule, o) = decide(&p, &req);
    assert_eq!((v, status, rule), (Verdict::Forbid, 414, None));
    assert_eq!(o, Some(Oversize::Uri { len: 21, max: 20 }));
    let d = p.evaluate(&req);
    assert_eq!(d.reason().as_deref(), Some("request URI too long"));
    assert_eq!(d.oversize().map(|o| o.setting()), Some("max_uri_bytes"));
    let answer = d.response(&req).unwrap();
    assert_eq!(answer.status, 414);
    assert!(
        answer.body.contains("\"title\":\"URI Too Long\""),
        "{}",
        answer.body
    );
    assert!(
        answer.body.contains("\"limit\":\"max_uri_bytes\""),
        "{}",
        answer.body
    );
    assert!(
        answer.body.contains("\"detail\":\"request URI too long\""),
        "{}",
        answer.body
    );
    assert_eq!(answer.header("www-authenticate"), None);
    // Exactly at the limit: rules run.
    let uri = format!("/{}", "a".repeat(19));
    assert_eq!(
        decide(&p, &Request::new("GET", &uri)),
        (Verdict::Allow, 200, None, None)
    );
}

#[test]
fn too_many_or_too_large_headers_are_431() {
    let p = policy(SMALL);
    let four = [("a", "1"), ("b", "2"), ("a", "3"), ("c", "4")];
    assert_eq!(four.totals().count, 4);
    // The one-pass form agrees with the two it replaces (the default, for other sources).
    let mut seen = Vec::new();
    assert_eq!(
        four.totals_with("a", &mut |v| seen.push(v.to_vec())),
        four.totals()
    );
    assert_eq!(seen, [b"1".to_vec(), b"3".to_vec()]);
    let (v, status, rule, o) = decide(&p, &Request::new("GET", "/").headers(&four));
    assert_eq!((v, status, rule), (Verdict::Forbid, 431, None));
    assert_eq!(o, Some(Oversize::HeaderCount { count: 4, max: 3 }));
    let big = [("x-big", "v".repeat(36))]; // 5 + 36 = 41 bytes
    let (v, status, _, o) = decide(&p, &Request::new("GET", "/").headers(&big));
    assert_eq!((v, status), (Verdict::Forbid, 431));
    assert_eq!(o, Some(Oversize::HeaderBytes { bytes: 41, max: 40 }));
    let d = p.evaluate(&Request::new("GET", "/").headers(&big));
    assert_eq!(d.reason().as_deref(), Some("request headers too large"));
    let body = d.response(&Request::new("GET", "/")).unwrap().body;
    assert!(body.contains("Request Header Fields Too Large"), "{body}");
    let ok = [("x-big", "v".repeat(35))];
    assert_eq!(decide(&p, &Request::new("GET", "/").headers(&ok)).3, None);
}

#[test]
fn oversize_statuses_are_settings() {
    let p = policy(&format!("{SMALL}\n").replace(
        "[policy]\n",
        "[policy]\nuri_too_long_status = 400\nheaders_too_large_status = 400\n",
    ));
    let uri = "/".repeat(30);
    assert_eq!(decide(&p, &Request::new("GET", &uri)).1, 400);
    let h = [("a", ""), ("b", ""), ("c", ""), ("d", "")];
    assert_eq!(decide(&p, &Request::new("GET", "/").headers(&h)).1, 400);
}

#[test]
fn on_oversize_allow_lets_rules_decide_and_reports_it() {
    let p = policy(&SMALL.replace("[policy]\n", "[policy]\non_oversize = \"allow\"\n"));
    let long = format!("/public/{}", "a".repeat(40));
    let (v, status, rule, o) = decide(&p, &Request::new("GET", &long));
    assert_eq!((v, status, rule), (Verdict::Allow, 200, None));
    assert_eq!(o.map(|o| o.setting()), Some("max_uri_bytes"));
    // Padding does not get an attack past the rules: they see the whole request.
    let padded = format!("/admin/{}", "a".repeat(40));
    let (v, status, rule, _) = decide(&p, &Request::new("GET", &padded));
    assert_eq!(
        (v, status, rule.as_deref()),
        (Verdict::Forbid, 403, Some("admin"))
    );
    let d = p.evaluate(&Request::new("GET", &padded));
    assert!(d.oversize().is_some());
    assert_eq!(
        d.reason().as_deref(),
        None,
        "the rule's reason, not the size"
    );
}

#[test]
fn default_request_limits_leave_ordinary_requests_alone() {
    let p = policy(
        "[[rule]]\nid = \"admin\"\nwhen = 'path starts_with \"/admin\"'\naction = \"forbid\"\n",
    );
    let headers: Vec<(String, String)> = (0..100)
        .map(|i| (format!("x-h{i}"), "v".repeat(500)))
        .collect();
    let uri = format!("/{}", "a".repeat(8191));
    assert_eq!(
        decide(&p, &Request::new("GET", &uri).headers(&headers)).3,
        None
    );
    let headers: Vec<(String, String)> = (0..101)
        .map(|i| (format!("x-h{i}"), String::new()))
        .collect();
    assert_eq!(
        decide(&p, &Request::new("GET", "/").headers(&headers)).1,
        431
    );
}

#[test]
fn regex_limits_bound_the_whole_policy_not_each_field() {
    // Forty fields with one regex each: each fits the limit alone, all together do not.
    let regex = |i: usize, distinct: bool| {
        let tail = if distinct {
            i.to_string()
        } else {
            String::new()
        };
        format!(
            "[[rule]]\nid = \"r{i}\"\nwhen = 'header[\"h{i}\"] matches \"(\\\\w+\\\\s+){{5}}{tail}\"'\naction = \"forbid\"\n"
        )
    };
    let one = |i: usize| regex(i, true);
    let alone = policy(&format!("[policy]\nmax_regex_bytes = 2000000\n{}", one(0)));
    assert!(alone.regex_bytes() > 60_000, "{}", alone.regex_bytes());
    // The same regex on forty fields is compiled once, and counted once.
    let same: String = (0..40).map(|i| regex(i, false)).collect();
    let shared = policy(&format!("[policy]\nmax_regex_bytes = 2000000\n{same}"));
    assert!(
        shared.regex_bytes() < 2 * alone.regex_bytes(),
        "{}",
        shared.regex_bytes()
    );
    let all: String = (0..40).map(one).collect();
    let e = compile_err(&format!("[policy]\nmax_regex_bytes = 2000000\n{all}"));
    assert!(
        e.to_string().contains("bytes left of `max_regex_bytes`"),
        "{e}"
    );
    let located = e.located().expect("located").to_string();
    // Located at the predicate whose regex went over (line 5 + 4i, column 9).
    let i: usize = e.rule().and_then(|r| r[1..].parse().ok()).expect("rule");
    assert!(
        located.contains(&format!("--> c.toml:{}:9", 5 + 4 * i)),
        "{located}"
    );
    assert!(
        located.contains("= hint: the regexes of all rules share `max_regex_bytes`"),
        "{located}"
    );
    // What compiles stays within the limit: a million-state regex that fits is held at
    // its size, once (the reference evaluator is built only when asked for).
    let big =
        "[[rule]]\nid = \"big\"\nwhen = 'path matches \"(a{1000}){1000}\"'\naction = \"forbid\"\n";
    let p = policy(big);
    assert!(p.regex_bytes() <= 64 << 20, "{}", p.regex_bytes());
    let e = compile_err(&format!("[policy]\nmax_regex_bytes = 33554432\n{big}"));
    assert_eq!(e.rule(), Some("big"), "{e}");
    assert!(e
        .located()
        .expect("located")
        .to_string()
        .contains("(a{1000}){1000}"));
}

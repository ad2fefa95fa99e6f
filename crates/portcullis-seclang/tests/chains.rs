//! What one rule does to the next ones per request: chained rules whose later links read
//! what an earlier one (or an earlier rule) captured, matched or set (run link by link),
//! and `ctl:ruleRemove…` in a rule that reads the request. Checked on the rules that match each request, by the
//! compiled evaluator and by the reference, which read the request each their own way.

use portcullis_decide::{Policy, Request};
use portcullis_rules::{CmpOp, PredKind, Term};
use portcullis_seclang::{lower, parse_str, LowerOptions};

/// The ids of the rules of `text` (SecLang) matching each request, after checking that
/// both evaluators agree.
fn matched(text: &str, requests: &[Request<'_>]) -> Vec<Vec<String>> {
    let set = parse_str("t.conf", text).unwrap_or_else(|e| panic!("{e}"));
    let lowered = lower(&set, &LowerOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let policy = Policy::compile(lowered.rules).unwrap_or_else(|e| panic!("{e}"));
    requests
        .iter()
        .map(|r| {
            let ids = |d: portcullis_decide::Decision| -> Vec<String> {
                d.matched().map(|r| r.id.clone()).collect()
            };
            let got = ids(policy.evaluate(r));
            assert_eq!(got, ids(policy.evaluate_reference(r)), "{r:?}");
            got
        })
        .collect()
}

/// The error lowering the rules of `text` fails with.
fn refused(text: &str) -> String {
    let set = parse_str("t.conf", text).unwrap_or_else(|e| panic!("{e}"));
    match lower(&set, &LowerOptions::default()) {
        Ok(_) => panic!("lowered"),
        Err(e) => e.to_string(),
    }
}

fn get(uri: &str) -> Request<'_> {
    Request::new("GET", uri)
}

#[test]
fn a_later_link_reads_the_capture_of_the_last_value_matched() {
    // CRS 942521 and 942130: a word captured, then tested; or two captures compared.
    let rules = r#"
SecRule ARGS "@rx ^'\s*([a-z]+)" "id:1,phase:2,pass,log,capture,t:none,t:urlDecodeUni,chain"
    SecRule TX:1 "@rx ^(?:and|or)$" "t:none"
SecRule ARGS "@rx \b(\w+)\s*=\s*(\w+)\b" "id:2,phase:2,pass,log,capture,chain"
    SecRule TX:1 "@streq %{TX.2}" "t:none"
"#;
    let got = matched(
        rules,
        &[
            get("/?a='%20or%201"),
            get("/?a='%20xor%201"),
            get("/?a=1=1"),
            get("/?a=1=2"),
            // The second argument's captures are the ones the next link reads.
            get("/?a='or&b='nand"),
            get("/"),
        ],
    );
    assert_eq!(got, [vec!["1"], vec![], vec!["2"], vec![], vec![], vec![]]);
}

#[test]
fn a_variable_set_by_an_earlier_link_is_read_by_a_later_one() {
    // CRS 920420: the content type's media type, checked against the allowed ones.
    let rules = r#"
SecAction "id:10,phase:1,pass,nolog,setvar:'tx.allowed=|application/json| |text/plain|'"
SecRule REQUEST_HEADERS:Content-Type "@rx ^[^;\s]+" "id:3,phase:1,pass,log,capture,t:none,setvar:'tx.content_type=|%{tx.0}|',chain"
    SecRule TX:content_type "!@within %{tx.allowed}" "t:lowercase"
"#;
    let json = [("content-type", "Application/JSON; charset=utf-8")];
    let xml = [("content-type", "application/xml")];
    let got = matched(
        rules,
        &[get("/").headers(&json), get("/").headers(&xml), get("/")],
    );
    assert_eq!(got, [vec![], vec!["3"], vec![]]);
}

#[test]
fn matched_vars_are_the_values_the_link_before_matched() {
    // CRS 932200: a value matching all three tests, after the first link's functions.
    let rules = r#"
SecRule ARGS "@rx \$\{" "id:4,phase:2,pass,log,t:none,t:urlDecodeUni,chain"
    SecRule MATCHED_VARS "@rx /" "t:none,chain"
        SecRule MATCHED_VARS "@rx \s" "t:none"
"#;
    let got = matched(
        rules,
        &[
            get("/?a=$%7Bx%7D%20/bin"),
            // Each test holds on some argument, but no argument holds all three.
            get("/?a=$%7Bx%7D/bin&b=$%7By%7D%20z"),
            get("/?a=/%20"),
        ],
    );
    assert_eq!(got, [vec!["4"], vec![], vec![]]);
}

#[test]
fn macros_read_the_request_and_the_names_matched() {
    // CRS 920650 (a method overridden by an argument) and 931130 (a URL's host, kept
    // under the argument's name, compared with the Host header).
    let rules = r#"
SecRule REQUEST_METHOD "!@streq %{ARGS._method}" "id:5,phase:2,pass,log,t:none,t:lowercase,chain"
    SecRule ARGS:_method "@rx ^[a-z]{3,10}$" "t:none,t:lowercase"
SecRule ARGS "@rx ^https?://([^/]*)" "id:6,phase:2,pass,log,capture,t:none,setvar:'tx.rfi_%{MATCHED_VAR_NAME}=.%{tx.1}',chain"
    SecRule TX:/rfi_.*/ "!@endsWith .%{request_headers.host}"
"#;
    let host = [("host", "example.com")];
    let got = matched(
        rules,
        &[
            get("/?_method=delete").headers(&host),
            get("/?_method=get").headers(&host),
            get("/?u=http://evil.test/x").headers(&host),
            get("/?u=http://www.example.com/x").headers(&host),
        ],
    );
    assert_eq!(got, [vec!["5"], vec![], vec!["6"], vec![]]);
}

#[test]
fn a_rule_that_reads_the_request_removes_rules_and_targets_after_it() {
    // CRS 920539 (JSON bodies skip 920540) and 941010 (a plain path is not read by the
    // rules tagged xss-perf-disable).
    let rules = r#"
SecRule ARGS "@streq json" "id:11,phase:1,pass,nolog,ctl:ruleRemoveById=12"
SecRule ARGS "@rx \\" "id:12,phase:2,pass,log"
SecRule REQUEST_FILENAME "@rx ^/[a-z/]*$" "id:13,phase:1,pass,nolog,ctl:ruleRemoveTargetByTag=perf;REQUEST_FILENAME"
SecRule REQUEST_FILENAME|ARGS "@rx cookie" "id:14,phase:2,pass,log,tag:perf"
SecRule ARGS "@rx \\" "id:15,phase:1,pass,log"
"#;
    let got = matched(
        rules,
        &[
            get("/?a=%5C"),
            // 12 is removed, 15 came before the removal.
            get("/?a=%5C&b=json"),
            get("/a/cookie"),
            get("/a/cookie/1"),
            get("/a?x=cookie"),
        ],
    );
    assert_eq!(
        got,
        [vec!["15", "12"], vec!["15"], vec![], vec!["14"], vec!["14"]]
    );
}

#[test]
fn a_rule_that_reads_the_request_removes_members_of_targets_after_it() {
    // CRS's runtime exclusions: on the login page, the password is not read by 942100;
    // anywhere, `ARGS:/^tmp_/` is not read by the rules tagged `t`; a rule reading only
    // `ARGS:pwd` loses all of it, one reading `ARGS:user` nothing.
    let rules = r#"
SecRule REQUEST_FILENAME "@endsWith /login" "id:1,phase:1,pass,nolog,ctl:ruleRemoveTargetById=10;ARGS:pwd,ctl:ruleRemoveTargetById=11;ARGS:pwd,ctl:ruleRemoveTargetById=12;ARGS:pwd"
SecRule REQUEST_METHOD "@streq POST" "id:2,phase:1,pass,nolog,ctl:ruleRemoveTargetByTag=t;ARGS:/^tmp_/"
SecRule ARGS "@rx '" "id:10,phase:2,pass,log,tag:t"
SecRule ARGS:pwd "@rx '" "id:11,phase:2,pass,log"
SecRule ARGS:user "@rx '" "id:12,phase:2,pass,log"
SecRule &ARGS "@ge 2" "id:13,phase:2,pass,log,tag:t"
"#;
    let post = |uri| Request::new("POST", uri);
    let got = matched(
        rules,
        &[
            get("/login?pwd=a'b"),
            get("/other?pwd=a'b"),
            get("/login?pwd=a'b&user=c'd"),
            post("/login?tmp_x=a'b&pwd=a'b"),
            post("/other?tmp_x=a'b&pwd=1"),
            get("/other?tmp_x=a'b&pwd=1"),
        ],
    );
    assert_eq!(
        got,
        [
            vec![],
            vec!["10", "11"],
            vec!["10", "12", "13"],
            vec![],
            vec![],
            vec!["10", "13"],
        ]
    );
}

#[test]
fn a_rule_that_reads_the_request_may_turn_the_rules_after_it_off() {
    let rules = r#"
SecRule ARGS "@rx '" "id:1,phase:1,pass,log"
SecRule REQUEST_URI "@beginsWith /internal/" "id:2,phase:1,pass,nolog,ctl:ruleEngine=Off"
SecRule ARGS "@rx '" "id:3,phase:1,deny,log"
SecRule ARGS "@rx '" "id:4,phase:2,deny,log"
"#;
    let got = matched(rules, &[get("/internal/x?a='"), get("/public/x?a='")]);
    // 1 ran before the engine was turned off.
    assert_eq!(got, [vec!["1"], vec!["1", "3"]]);
}

#[test]
fn a_rule_that_reads_the_request_may_switch_the_rules_after_it_to_detection_only_or_on() {
    // Watching a new path before protecting it; or, with the engine detecting only,
    // protecting one path first, but its test page.
    let rules = r#"
SecRule REQUEST_URI "@beginsWith /beta/" "id:1,phase:1,pass,nolog,ctl:ruleEngine=DetectionOnly"
SecRule ARGS "@rx '" "id:2,phase:1,deny,log"
"#;
    let staged = r#"
SecRuleEngine DetectionOnly
SecRule REQUEST_URI "@beginsWith /shop/" "id:1,phase:1,pass,nolog,ctl:ruleEngine=On"
SecRule REQUEST_URI "@beginsWith /shop/test" "id:3,phase:1,pass,nolog,ctl:ruleEngine=DetectionOnly"
SecRule ARGS "@rx '" "id:2,phase:1,deny,log"
"#;
    for (rules, uri, refused, matched) in [
        (rules, "/beta/x?a='", false, vec!["2"]),
        (rules, "/x?a='", true, vec!["2"]),
        (rules, "/beta/x?a=1", false, vec![]),
        (staged, "/shop/x?a='", true, vec!["2"]),
        (staged, "/shop/test?a='", false, vec!["2"]),
        (staged, "/x?a='", false, vec!["2"]),
    ] {
        let set = parse_str("t.conf", rules).unwrap_or_else(|e| panic!("{e}"));
        let lowered = lower(&set, &LowerOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        let policy = Policy::compile(lowered.rules).unwrap_or_else(|e| panic!("{e}"));
        let req = get(uri);
        for d in [policy.evaluate(&req), policy.evaluate_reference(&req)] {
            assert_eq!(!d.is_allowed(), refused, "{uri}");
            let ids: Vec<&str> = d.matched().map(|r| r.id.as_str()).collect();
            assert_eq!(ids, matched, "{uri}");
            // Detection only: the rule is a shadow hit.
            assert_eq!(
                d.shadow_hits().count(),
                usize::from(!refused && !ids.is_empty())
            );
        }
    }
}

#[test]
fn a_chain_reads_what_earlier_rules_set_per_request() {
    // CRS 921170 and 921180: every argument name counted, then any name seen twice.
    let rules = r#"
SecRule ARGS_NAMES "@rx ." "id:7,phase:2,pass,nolog,setvar:'tx.count_%{MATCHED_VAR_NAME}=+1'"
SecRule TX:/count_.*/ "@gt 1" "id:8,phase:2,pass,log"
"#;
    let got = matched(rules, &[get("/?a=1&b=2"), get("/?a=1&b=2&a=3"), get("/")]);
    assert_eq!(got, [vec![], vec!["8"], vec![]]);
}

/// A chain over counters one writer keeps per member name (921170 and 921180) holds when
/// some name (ASCII case folded, as variable names are) has enough members the writer
/// matched: the name's members are counted before the writer runs (`some_name_counts`).
/// Checked against that rule, written out here, over names that differ only in case,
/// names the writer's regex skips, and empty names.
#[test]
fn counters_per_name_hold_when_a_name_has_enough_members() {
    let rules = r#"
SecRule ARGS_NAMES "@rx ^[ab]" "id:7,phase:2,pass,nolog,setvar:'tx.count_%{MATCHED_VAR_NAME}=+1'"
SecRule TX:/count_.*/ "@gt 1" "id:8,phase:2,pass,log"
SecRule ARGS_NAMES "@rx ." "id:9,phase:2,pass,nolog,setvar:'tx.three_%{MATCHED_VAR_NAME}=+1'"
SecRule TX:/three_.*/ "@ge 3" "id:10,phase:2,pass,log"
"#;
    let alphabet = ["a", "A", "b", "B", "c", "ab", "aB", ""];
    // Every list of up to four names from the alphabet, and a few longer ones.
    let mut lists: Vec<Vec<&str>> = vec![vec![]];
    for _ in 0..4 {
        let longer: Vec<Vec<&str>> = (lists.iter())
            .filter(|l| l.len() == lists.last().map_or(0, Vec::len))
            .flat_map(|l| alphabet.iter().map(move |n| [l.clone(), vec![*n]].concat()))
            .collect();
        lists.extend(longer);
    }
    lists.extend([
        vec!["c", "C", "c", "a"],
        vec!["", "", "", ""],
        vec!["aB", "ab", "AB"],
    ]);
    let uris: Vec<String> = (lists.iter())
        .map(|l| {
            let pairs: Vec<String> = l.iter().map(|n| format!("{n}=1")).collect();
            format!("/?{}", pairs.join("&"))
        })
        .collect();
    let requests: Vec<Request<'_>> = uris.iter().map(|u| get(u)).collect();
    let got = matched(rules, &requests);
    for (names, got) in lists.iter().zip(got) {
        let most = |matches: &dyn Fn(&str) -> bool| {
            let folded: Vec<String> = (names.iter())
                .filter(|n| matches(n))
                .map(|n| n.to_ascii_lowercase())
                .collect();
            (folded.iter())
                .map(|f| folded.iter().filter(|g| *g == f).count())
                .max()
                .unwrap_or(0)
        };
        let mut want = Vec::new();
        if most(&|n| n.starts_with(['a', 'b'])) > 1 {
            want.push("8");
        }
        if most(&|n| !n.is_empty()) >= 3 {
            want.push("10");
        }
        assert_eq!(got, want, "{names:?}");
    }
}

/// The guards of each rule lowered from `text`: `count(…) >= n` tests the lowering put
/// before a chain run link by link.
fn guards(text: &str) -> Vec<(String, Vec<String>)> {
    let set = parse_str("t.conf", text).unwrap_or_else(|e| panic!("{e}"));
    let lowered = lower(&set, &LowerOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    lowered
        .rules
        .rules
        .iter()
        .map(|r| {
            let mut found = Vec::new();
            r.when.visit_preds(&mut |p| {
                if let PredKind::Compare {
                    lhs,
                    op: CmpOp::Ge,
                    rhs: Term::Int(n),
                } = &p.kind
                {
                    if p.text.contains("chain can hold") {
                        found.push(format!("{lhs} >= {n}"));
                    }
                }
            });
            (r.id.clone(), found)
        })
        .collect()
}

#[test]
fn a_chain_fed_by_writers_runs_only_when_they_have_members_to_read() {
    // 921180 counts names seen more than once: only a request with two names can have
    // one. 922110 reads the content types 922150 captured from the multipart part
    // headers: only a multipart body has one.
    let rules = r#"
SecRule ARGS_NAMES "@rx ." "id:7,phase:2,pass,nolog,setvar:'tx.count_%{MATCHED_VAR_NAME}=+1'"
SecRule TX:/count_.*/ "@gt 1" "id:8,phase:2,pass,log"
SecRule ARGS_NAMES "@rx ." "id:9,phase:2,pass,nolog,setvar:'tx.other_%{MATCHED_VAR_NAME}=+1'"
SecRule TX:/other_.*/ "@lt 3" "id:10,phase:2,pass,log"
SecRule REQUEST_HEADERS "@rx ^(\w+)" "id:11,phase:2,pass,nolog,capture,setvar:'tx.seen_%{tx.1}=%{tx.1}'"
SecRule TX:/seen_.*/ "!@rx ^x" "id:12,phase:2,pass,log"
SecRule &REQUEST_COOKIES "@gt 0" "id:13,phase:2,pass,nolog,setvar:'tx.cookie_counter=0'"
SecRule REQUEST_COOKIES "@rx ^(\w+)" "id:14,phase:2,pass,nolog,capture,setvar:'tx.cookie_value_%{tx.cookie_counter}=%{tx.1}',setvar:'tx.cookie_counter=+1'"
SecRule TX:/COOKIE_VALUE_*/ "!@rx ^x" "id:15,phase:2,pass,log"
"#;
    let got = guards(rules);
    let of = |id: &str| got.iter().find(|(i, _)| i == id).map(|(_, g)| g.clone());
    assert_eq!(of("8"), Some(vec!["count(arg_names) >= 2".to_string()]));
    // Not a count above a number: the counters only need a member.
    assert_eq!(of("10"), Some(vec!["count(arg_names) >= 1".to_string()]));
    assert_eq!(of("12"), Some(vec!["count(headers) >= 1".to_string()]));
    // CRS 922110's shape: 13 sets only the counter 14 names its variables with, and
    // holds on any request; 15 reads only what 14 sets.
    assert_eq!(of("15"), Some(vec!["count(cookies) >= 1".to_string()]));
    let (yes, no) = (vec![("x", "yes")], vec![("x", "xno")]);
    let (cookie_yes, cookie_no) = (vec![("cookie", "a=yes")], vec![("cookie", "a=xno")]);
    let got = matched(
        rules,
        &[
            get("/?a=1"),
            get("/?a=1&a=2"),
            get("/").headers(&yes),
            get("/").headers(&no),
            get("/?a=1&b=2&a=3&a=4"),
            get("/").headers(&cookie_yes),
            get("/").headers(&cookie_no),
        ],
    );
    assert_eq!(
        got,
        [
            vec!["10"],
            vec!["8", "10"],
            vec!["12"],
            vec![],
            vec!["8", "10"],
            vec!["12", "15"],
            vec!["12"],
        ]
    );
}

#[test]
fn args_combined_size_counts_names_and_values() {
    // CRS 920390 (and 920400's `&TX:MAX_FILE_SIZE`, a constant, in the first link).
    let rules = r#"
SecAction "id:20,phase:1,pass,nolog,setvar:tx.total=10"
SecRule &TX:TOTAL "@eq 1" "id:21,phase:2,pass,log,chain"
    SecRule ARGS_COMBINED_SIZE "@gt %{tx.total}"
"#;
    let got = matched(
        rules,
        &[get("/?abc=12345"), get("/?abc=123456&d=e"), get("/")],
    );
    assert_eq!(got, [vec![], vec!["21"], vec![]]);
}

#[test]
fn what_is_not_modelled_is_still_refused() {
    let e = refused(
        r#"
SecRule RESPONSE_CONTENT_TYPE "@rx html" "id:9,phase:3,pass,log"
"#,
    );
    assert!(e.contains("rule 9 cannot be compiled yet"), "{e}");
}

#[test]
fn a_name_captured_whole_then_wrapped_is_tested_against_the_list_as_a_set() {
    // CRS 920450: each header name, wrapped in slashes, within a list. Rule 1 has CRS's
    // shape and is compiled into a list test; rule 2 differs only in a regex that is not
    // literally `^.*$`, so it runs link by link: both must agree, and with the list.
    let list = "/content-encoding/ /proxy/ /if/";
    let rules = format!(
        r#"
SecAction "id:10,phase:1,pass,nolog,setvar:'tx.restricted={list}'"
SecRule REQUEST_HEADERS_NAMES "@rx ^.*$" "id:1,phase:1,pass,log,capture,t:none,t:lowercase,setvar:'tx.header_name_1_%{{tx.0}}=/%{{tx.0}}/',chain"
    SecRule TX:/^header_name_1_/ "@within %{{tx.restricted}}"
SecRule REQUEST_HEADERS_NAMES "@rx ^(?:.*)$" "id:2,phase:1,pass,log,capture,t:none,t:lowercase,setvar:'tx.header_name_2_%{{tx.0}}=/%{{tx.0}}/',chain"
    SecRule TX:/^header_name_2_/ "@within %{{tx.restricted}}"
SecRule REQUEST_HEADERS_NAMES "@rx ^.*$" "id:3,phase:1,pass,log,capture,t:none,setvar:'tx.header_name_3_%{{tx.0}}=/%{{tx.0}}/',chain"
    SecRule TX:/^header_name_3_/ "!@within %{{tx.restricted}}" "t:lowercase"
"#
    );
    let names = [
        ("Proxy", "1"),
        ("range", "1"),
        ("content-encoding", "1"),
        ("content-range", "1"),
        ("proxy/ /if", "1"),
        ("prox", "1"),
        ("", "1"),
        ("If", "1"),
        ("x-if", "1"),
    ];
    let headers = names.map(|h| [h]);
    let requests: Vec<Request<'_>> = headers.iter().map(|h| get("/").headers(h)).collect();
    let got = matched(&rules, &requests);
    // Only rule 2 runs link by link.
    let set = parse_str("t.conf", &rules).unwrap_or_else(|e| panic!("{e}"));
    let lowered = lower(&set, &LowerOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(lowered.interpreted, 1);
    for ((n, _), ids) in names.iter().zip(&got) {
        let restricted = list.contains(&format!("/{}/", n.to_ascii_lowercase()));
        let want = if restricted {
            vec!["1", "2"]
        } else {
            vec!["3"]
        };
        assert_eq!(ids, &want, "{n:?}");
    }
}

#[test]
fn a_writer_runs_within_the_chain_only_where_it_would_run() {
    // An upload page removes the counter 921170 keeps (7) by `ctl`, and a header skips
    // another writer (9): on those requests the counters are never set, so the chains
    // reading them (8, 10) cannot hold, as in ModSecurity.
    let rules = r#"
SecRule REQUEST_FILENAME "@beginsWith /upload" "id:1,phase:1,pass,nolog,ctl:ruleRemoveById=7"
SecRule REQUEST_HEADERS:X-Skip "@streq yes" "id:2,phase:2,pass,nolog,skipAfter:END"
SecRule ARGS_NAMES "@rx ." "id:9,phase:2,pass,nolog,setvar:'tx.other_%{MATCHED_VAR_NAME}=+1'"
SecMarker END
SecRule ARGS_NAMES "@rx ." "id:7,phase:2,pass,nolog,setvar:'tx.count_%{MATCHED_VAR_NAME}=+1'"
SecRule TX:/count_.*/ "@gt 1" "id:8,phase:2,pass,log"
SecRule TX:/other_.*/ "@gt 1" "id:10,phase:2,pass,log"
"#;
    let skip = [("x-skip", "yes")];
    let got = matched(
        rules,
        &[
            get("/?a=1&a=2"),
            get("/upload?a=1&a=2"),
            get("/?a=1&a=2").headers(&skip),
            get("/upload?a=1&a=2").headers(&skip),
            get("/upload?a=1&b=2"),
        ],
    );
    assert_eq!(
        got,
        [vec!["8", "10"], vec!["10"], vec!["8"], vec![], vec![]]
    );
    // A writer's target removed per request would need the chain to read its members
    // without it: refused, not ignored.
    let e = refused(
        r#"
SecRule REQUEST_FILENAME "@beginsWith /upload" "id:1,phase:1,pass,nolog,ctl:ruleRemoveTargetById=7;ARGS_NAMES:a"
SecRule ARGS_NAMES "@rx ." "id:7,phase:2,pass,nolog,setvar:'tx.count_%{MATCHED_VAR_NAME}=+1'"
SecRule TX:/count_.*/ "@gt 1" "id:8,phase:2,pass,log"
"#,
    );
    assert!(
        e.contains("removing a target of rule 7, per request"),
        "{e}"
    );
}

#[test]
fn what_removes_the_chain_and_its_writer_alike_tests_the_chain_once() {
    // CRS removes all of itself per request (`ctl:ruleRemoveByTag=OWASP_CRS`, 905100): the
    // writer 921170 then never runs without 921180, and one test is enough.
    let rules = r#"
SecRule REQUEST_HEADERS:User-Agent "@streq internal" "id:1,phase:1,pass,nolog,ctl:ruleRemoveByTag=crs"
SecRule ARGS_NAMES "@rx ." "id:7,phase:2,pass,nolog,tag:crs,setvar:'tx.count_%{MATCHED_VAR_NAME}=+1'"
SecRule TX:/count_.*/ "@gt 1" "id:8,phase:2,pass,log,tag:crs"
"#;
    let set = parse_str("t.conf", rules).unwrap_or_else(|e| panic!("{e}"));
    let lowered = lower(&set, &LowerOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let rule = lowered.rules.rules.iter().find(|r| r.id == "8");
    let mut tests = 0;
    if let Some(r) = rule {
        r.when.visit_preds(&mut |p| {
            tests += usize::from(matches!(p.kind, PredKind::Interpreted(_)));
        });
    }
    assert_eq!(tests, 1);
    let internal = [("user-agent", "internal")];
    let got = matched(
        rules,
        &[get("/?a=1&a=2"), get("/?a=1&a=2").headers(&internal)],
    );
    assert_eq!(got, [vec!["8"], vec![]]);
}

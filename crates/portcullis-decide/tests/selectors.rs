//! Selected collections beyond the decision: the member evidence names (the same under
//! both evaluators), what `explain` shows, and a selector regex over the size limit.

use portcullis_decide::{Policy, Request, Verdict};
use portcullis_rules::RuleSet;

fn policy(rules: &str) -> Policy {
    Policy::compile(RuleSet::parse("s.toml", rules).expect("rules")).expect("compiles")
}

#[test]
fn evidence_names_the_selected_member_under_both_evaluators() {
    let p = policy(
        r#"
[[rule]]
id = "ids"
when = 'url_decode(args[/^id_/, not "id_note"]) matches "[^0-9]"'
action = "forbid"
[[rule]]
id = "cookies"
when = 'lower(cookies[not /^__utm/]) contains "<script"'
action = "forbid"
"#,
    );
    let cookies = [("cookie", "__utma=<script>; pref=<SCRIPT>")];
    for (req, rule, name, value) in [
        (
            Request::new("GET", "/?q=x&id_note=abc&ID_USER=1%20x"),
            "ids",
            "ID_USER",
            "1 x",
        ),
        (
            Request::new("GET", "/").headers(&cookies),
            "cookies",
            "pref",
            "<script>",
        ),
    ] {
        let compiled = p.evaluate(&req);
        let reference = p.evaluate_reference(&req);
        assert_eq!(compiled.verdict(), Verdict::Forbid);
        assert_eq!(compiled.rule_id(), Some(rule));
        assert_eq!(reference.rule_id(), Some(rule));
        let ev = compiled.evidence(&req);
        let [(_, e)] = ev.as_slice() else {
            panic!("one piece of evidence: {ev:?}");
        };
        assert_eq!((e.name.as_str(), e.value.as_str()), (name, value));
        let ev_ref = reference.evidence_reference(&req);
        assert_eq!(
            ev_ref.iter().map(|(_, e)| e).collect::<Vec<_>>(),
            vec![e],
            "the reference names the same member"
        );
    }
}

#[test]
fn explain_shows_selected_terms_and_counts_as_written() {
    let p = policy(
        r#"
[[rule]]
id = "many"
when = 'count(headers[not "user-agent"]) > 1 and query_args["a"] == "1"'
action = "forbid"
"#,
    );
    let headers = [("user-agent", "x"), ("x-a", "1"), ("X-B", "2")];
    let req = Request::new("GET", "/?a=1&b=2").headers(&headers);
    let (d, trace) = p.explain(&req);
    assert_eq!(d.rule_id(), Some("many"));
    let seen: Vec<String> = trace[0].seen.iter().flatten().cloned().collect();
    assert_eq!(
        seen,
        [
            r#"count(headers[not "user-agent"]) = 2"#,
            r#"query_args["a"] = "1""#
        ]
    );
}

#[test]
fn a_selector_regex_over_the_size_limit_is_refused_at_its_predicate() {
    let rules = RuleSet::parse(
        "s.toml",
        r#"
[policy]
max_regex_bytes = 10000
[[rule]]
id = "big"
when = 'args[/\w{50}\w{50}/] == "x"'
action = "forbid"
"#,
    )
    .expect("parses");
    let err = Policy::compile(rules).expect_err("over the limit");
    let text = err.to_string();
    assert!(text.contains("does not compile"), "{text}");
    assert!(text.contains("big"), "{text}");
}

/// Selections of one collection share its walk, each slot keeping the members of its own
/// selection: the same value under an excluded and a kept name, a member only a positive
/// selection keeps, and the same requests again (members remembered across requests).
#[test]
fn selections_sharing_a_walk_keep_their_own_members() {
    let p = policy(
        r#"
[[rule]]
id = "kept"
when = 'lower(cookies[not /^_ga/]) contains "evil"'
action = "forbid"
[[rule]]
id = "all"
when = 'url_decode(cookies) contains "%"'
action = "forbid"
[[rule]]
id = "positive"
when = 'cookies[/^_ga/] == "EVIL"'
action = "forbid"
[[rule]]
id = "other"
when = 'lower(cookies[not "pref"]) == "x"'
action = "forbid"
"#,
    );
    let cases: [(&str, Option<&str>); 6] = [
        ("_ga=EVIL; pref=y", Some("positive")),
        ("pref=EVIL", Some("kept")),
        ("_ga=EVIL; pref=EVIL", Some("kept")),
        ("_ga=%2525; pref=x", Some("all")),
        ("pref=X; _ga=z", None),
        ("pref=X; b=X", Some("other")),
    ];
    for _ in 0..3 {
        for (cookie, want) in cases {
            let headers = [("cookie", cookie)];
            let req = Request::new("GET", "/").headers(&headers);
            let (compiled, reference) = (p.evaluate(&req), p.evaluate_reference(&req));
            assert_eq!(compiled.rule_id(), want, "{cookie}");
            assert_eq!(reference.rule_id(), want, "{cookie}");
        }
    }
}

//! ReDoS: the classic catastrophic-backtracking patterns compile (or fail with a clear
//! size-limit error under a tight `max_regex_bytes`) and are matched correctly over
//! 100 KB inputs on every field that takes regexes. That the time stays linear in the
//! input is shown by the criterion group `redos` (`cargo bench --bench redos`), not by
//! a timed test.

use portcullis_decide::{Policy, Request, Verdict};
use portcullis_rules::RuleSet;

/// (pattern, a 100 KB input it must match, one it must not), the input built for the
/// worst case of a backtracking engine.
fn cases() -> Vec<(&'static str, String, String)> {
    let n = 100 * 1024;
    vec![
        // Nested quantifiers: exponential on a backtracker when the end anchor fails.
        ("(a+)+$", "a".repeat(n), format!("{}!", "a".repeat(n))),
        ("(x+x+)+y", format!("{}y", "x".repeat(n)), "x".repeat(n)),
        // Overlapping alternation.
        ("(a|aa)+b", format!("{}b", "a".repeat(n)), "a".repeat(n)),
        // A counted repetition of `.*`: polynomial of degree 12 on a backtracker.
        ("^(.*a){12}$", "a".repeat(n), format!("{}b", "a".repeat(n))),
    ]
}

fn rules_for(pattern: &str, field: &str) -> String {
    // Limits raised so 100 KB requests reach the rules instead of being refused for size.
    format!(
        "[policy]\nmax_uri_bytes = 1000000\nmax_header_bytes = 1000000\n\
         [[rule]]\nid = \"redos\"\nwhen = '{field} matches \"{}\"'\naction = \"forbid\"\n",
        pattern.replace('\\', "\\\\")
    )
}

fn check(policy: &Policy, req: &Request<'_>, want: Verdict, what: &str) {
    let a = policy.evaluate(req);
    let b = policy.evaluate_reference(req);
    assert_eq!(a.verdict(), want, "{what} (compiled)");
    assert_eq!(b.verdict(), want, "{what} (reference)");
}

#[test]
fn catastrophic_patterns_compile_and_match_100kb_inputs() {
    for (pattern, hit, miss) in cases() {
        for field in [
            "path",
            "query",
            "user_agent",
            "header[\"x-payload\"]",
            "arg[\"q\"]",
        ] {
            let rules = RuleSet::parse("redos.toml", &rules_for(pattern, field))
                .unwrap_or_else(|e| panic!("{e}"));
            let policy =
                Policy::compile(rules).unwrap_or_else(|e| panic!("{pattern} on {field}: {e}"));
            for (input, want) in [(&hit, Verdict::Forbid), (&miss, Verdict::Allow)] {
                let what = format!("{pattern} on {field}, {} bytes", input.len());
                // Only `!` and letters: nothing is changed by normalisation, so the path
                // and query carry the input as it is.
                let uri = match field {
                    "path" => format!("/{input}"),
                    "query" => format!("/?{input}"),
                    _ => format!("/?q={input}"),
                };
                let headers = [
                    ("user-agent", input.as_str()),
                    ("x-payload", input.as_str()),
                ];
                let req = Request::new("GET", &uri).headers(&headers);
                check(&policy, &req, want, &what);
            }
        }
    }
}

#[test]
fn catastrophic_patterns_in_regex_lists() {
    let items: Vec<String> = cases().iter().map(|c| format!("\"{}\"", c.0)).collect();
    let text = format!(
        "[policy]\nmax_header_bytes = 1000000\n[lists]\nbad = {{ kind = \"regex\", items = [{}] }}\n\
         [[rule]]\nid = \"redos\"\nwhen = 'user_agent matches_any $bad'\naction = \"forbid\"\n",
        items.join(", ")
    );
    let policy = Policy::compile(RuleSet::parse("l.toml", &text).unwrap()).unwrap();
    let ua = format!("{}!", "a".repeat(100 * 1024)); // no pattern matches this
    let h = [("user-agent", ua.as_str())];
    check(
        &policy,
        &Request::new("GET", "/").headers(&h),
        Verdict::Allow,
        "list, no match",
    );
    let ua = "x".repeat(100 * 1024) + "y";
    let h = [("user-agent", ua.as_str())];
    check(
        &policy,
        &Request::new("GET", "/").headers(&h),
        Verdict::Forbid,
        "list, (x+x+)+y",
    );
}

#[test]
fn under_a_tight_regex_limit_they_fail_with_a_size_error() {
    for (pattern, ..) in cases() {
        let text = rules_for(pattern, "user_agent")
            .replace("[policy]\n", "[policy]\nmax_regex_bytes = 100\n");
        let rules = RuleSet::parse("redos.toml", &text).unwrap();
        let e = Policy::compile(rules).expect_err(pattern);
        assert_eq!(e.rule(), Some("redos"), "{pattern}: {e}");
        let msg = e.to_string();
        assert!(
            msg.contains("size limit") || msg.contains("bytes left of `max_regex_bytes`"),
            "{pattern}: {msg}"
        );
    }
}

#[test]
fn a_larger_repetition_hits_the_default_limit_cleanly() {
    // `(.*a){1000}` with Unicode `.` is large; whatever the outcome, it is a value, not a
    // panic or a hang, and an error names the rule.
    let text = rules_for("(.*a){1000}", "user_agent");
    let rules = RuleSet::parse("redos.toml", &text).unwrap();
    if let Err(e) = Policy::compile(rules) {
        assert_eq!(e.rule(), Some("redos"), "{e}");
    }
}

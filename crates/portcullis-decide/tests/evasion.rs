//! Evasion: encodings and spellings attackers use to slip a request past a path or
//! user-agent rule. Each variant either still fires the rule, or is one docs/rules.md
//! ("Evasion") says is treated otherwise, and why, with the rule that catches it.
//! Every case is checked with the compiled program and the reference evaluator.

use portcullis_decide::{Policy, Request, Verdict};
use portcullis_rules::RuleSet;

/// A policy refusing what `when` matches. It judges ambiguous paths (dot segments, `;`,
/// `\\`…) on their normalised form, to test that form; by default they are refused with
/// 400 before any rule runs (`ambiguous_paths_are_refused_by_default`).
fn policy(when: &str) -> Policy {
    let text = format!(
        "[policy]\non_ambiguous_path = \"rewrite\"\n[[rule]]\nid = \"r\"\nwhen = '{when}'\naction = \"forbid\"\n"
    );
    let rules = RuleSet::parse("evasion.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    Policy::compile(rules).unwrap_or_else(|e| panic!("{e}"))
}

fn fires_with(p: &Policy, req: &Request<'_>) -> bool {
    let a = p.evaluate(req).verdict() == Verdict::Forbid;
    let b = p.evaluate_reference(req).verdict() == Verdict::Forbid;
    assert_eq!(a, b, "compiled and reference disagree on {req:?}");
    a
}

fn fires(when: &str, uri: &str) -> bool {
    fires_with(&policy(when), &Request::new("GET", uri))
}

fn ua_fires(p: &Policy, ua: &[u8]) -> bool {
    let h = [("user-agent", ua)];
    fires_with(p, &Request::new("GET", "/").headers(&h))
}

const ADMIN: &str = r#"path starts_with "/admin""#;

#[test]
fn path_rule_fires_for_every_spelling_of_the_same_path() {
    for uri in [
        "/admin",
        // percent-encoded, in part or whole, either case of hex digit
        "/%61dmin",
        "/%61%64%6d%69%6e/users",
        "/%61%64%6D%69%6E",
        // dot segments, plain and encoded
        "/./admin",
        "/x/../admin",
        "/x/y/../../admin",
        "/../../../admin",
        "/%2e/admin",
        "/%2e%2e/admin",
        "/x/%2e%2e/admin",
        "/x/.%2e/admin",
        // repeated and encoded slashes
        "//admin",
        "///admin//users",
        "/%2fadmin",
        "/x%2f..%2fadmin",
        // backslash, plain and encoded (Windows servers read it as `/`)
        "\\admin",
        "/x\\..\\admin",
        "/%5cadmin",
        "/x%5c..%5cadmin",
        // `;parameters` (Tomcat, Jetty drop them): `/admin;x`, and the `..;/` traversal
        "/admin;jsessionid=0123",
        "/admin;/users",
        "/x/..;/admin",
        "/x/..%3b/admin",
        // trailing dots (Windows drops them)
        "/admin./users",
        "/admin.",
        // NUL and invalid UTF-8 after the match do not hide it
        "/admin%00",
        "/admin%00.png",
        "/admin%c0%af",
        "/admin%ff",
        // absolute form, query and fragment
        "http://example.com/admin",
        "https://user:pw@example.com:8443//admin",
        "/admin?x=1",
        "/admin#top",
    ] {
        assert!(fires(ADMIN, uri), "{uri} slipped past `{ADMIN}`");
    }
}

#[test]
fn paths_that_are_not_the_admin_area_do_not_fire() {
    for uri in [
        "/",
        "/adm",
        "/public/admin",
        "/x/admin",
        "/%2561dmin",
        "/%c0%afadmin",
        "/ADMIN",
    ] {
        assert!(!fires(ADMIN, uri), "{uri}");
    }
}

#[test]
fn double_encoding_is_decoded_once_and_caught_by_a_raw_path_rule() {
    // The origin server decodes once: `/%2561dmin` reaches it as the path `/%61dmin`, not
    // `/admin`, so the path rule does not fire (and must not, or it would disagree with
    // what the server routes). A server that decodes twice is caught by refusing
    // multiply-encoded requests outright, as OWASP CRS 920230 does.
    for uri in ["/%2561dmin", "/x/%252e%252e/admin", "/%252e%252e%252fadmin"] {
        assert!(!fires(ADMIN, uri), "{uri}");
        assert!(fires(r#"raw_path contains "%25""#, uri), "{uri}");
    }
    assert!(fires(
        r#"url_decode(path) starts_with "/admin""#,
        "/%2561dmin"
    ));
}

#[test]
fn overlong_utf8_is_never_a_slash_or_dot() {
    // `%c0%af` is an overlong encoding of `/`, invalid UTF-8 (RFC 3629): it becomes U+FFFD,
    // never `/`, so it cannot build a traversal, and the server does not route it as one.
    for uri in [
        "/%c0%afadmin",
        "/x/..%c0%af..%c0%afadmin",
        "/%c0%ae%c0%ae/admin",
    ] {
        assert!(!fires(ADMIN, uri), "{uri}");
        // Refusing any path that is not valid UTF-8 once decoded:
        assert!(fires("path contains \"\u{FFFD}\"", uri), "{uri}");
    }
    // `/%c0%ae%c0%ae/admin`: the overlong dots are no dot segment, so it is `/��/admin`.
    assert!(fires(r#"path ends_with "/admin""#, "/%c0%ae%c0%ae/admin"));
}

#[test]
fn nul_is_kept_and_can_be_refused() {
    // `%00` decodes to U+0000 and stays: `/shell.php%00.jpg` does not end with `.php`
    // (a C back end that stops at NUL would read it so); refuse NUL outright.
    assert!(!fires(r#"path ends_with ".php""#, "/shell.php%00.jpg"));
    assert!(fires(r#"path contains "\0""#, "/shell.php%00.jpg"));
    assert!(fires(r#"path contains "\0""#, "/a%00"));
    assert!(!fires(r#"path contains "\0""#, "/a%2500"));
}

#[test]
fn case_insensitive_rules_fire_for_any_case() {
    for uri in [
        "/ADMIN",
        "/AdMiN/users",
        "/%41dmin",
        "/%41%44MIN",
        "//Admin",
        "/x/../ADMIN;x",
    ] {
        assert!(fires(r#"lower(path) starts_with "/admin""#, uri), "{uri}");
        assert!(fires(r#"path matches "(?i)^/admin""#, uri), "{uri}");
        assert!(!fires(ADMIN, uri), "{uri}: a case-sensitive rule is exact");
    }
    let text =
        "[policy]\non_ambiguous_path = \"rewrite\"\n[lists]\np = { kind = \"pattern\", items = [\"/ADMIN\"], case = \"insensitive\" }\n\
        [[rule]]\nid = \"r\"\nwhen = 'path starts_with_any $p'\naction = \"forbid\"\n";
    let p = Policy::compile(RuleSet::parse("l.toml", text).unwrap()).unwrap();
    for uri in ["/admin", "/AdMiN", "/%61DMIN"] {
        assert!(fires_with(&p, &Request::new("GET", uri)), "{uri}");
    }
}

#[test]
fn extension_rules_see_through_trailing_dots_and_params() {
    for uri in [
        "/shell.php",
        "/shell.php.",
        "/shell.php;.jpg",
        "/shell.%70hp",
        "/x/../shell.php",
    ] {
        assert!(fires(r#"path ends_with ".php""#, uri), "{uri}");
    }
}

#[test]
fn raw_path_keeps_what_was_sent() {
    assert!(fires(
        r#"raw_path contains ";jsessionid=""#,
        "/admin;jsessionid=1"
    ));
    assert!(fires(r#"raw_path contains "%2e%2e""#, "/%2e%2e/admin"));
    assert!(!fires(r#"raw_path starts_with "/admin""#, "/%61dmin"));
}

#[test]
fn scanner_user_agents_with_odd_case_and_spacing() {
    let text = "[lists]\nscanners = { kind = \"pattern\", items = [\"sqlmap\", \"nikto\"], case = \"insensitive\" }\n\
        [[rule]]\nid = \"scanners\"\nwhen = 'user_agent contains_any $scanners'\naction = \"forbid\"\n";
    let p = Policy::compile(RuleSet::parse("ua.toml", text).unwrap()).unwrap();
    for ua in [
        &b"sqlmap/1.7"[..],
        b"SQLMap/1.7.2#stable (https://sqlmap.org)",
        b"  sqlmap  ",
        b"\tsqlmap\t",
        b"Mozilla/5.0 (compatible;  NIKTO/2.5)",
        b"Mozilla/5.0\t(nIkTo)",
        b"\xff\xfesqlmap\xc0",
    ] {
        assert!(ua_fires(&p, ua), "{:?}", String::from_utf8_lossy(ua));
    }
    for ua in [&b"Mozilla/5.0"[..], b"sql map", b""] {
        assert!(!ua_fires(&p, ua), "{:?}", String::from_utf8_lossy(ua));
    }
    // Repeated User-Agent headers are joined: a scanner cannot hide in the second one.
    let h = [("user-agent", "Mozilla/5.0"), ("User-Agent", "sqlmap")];
    assert!(fires_with(&p, &Request::new("GET", "/").headers(&h)));
}

#[test]
fn anchored_user_agent_rules_ignore_surrounding_whitespace() {
    // Leading and trailing spaces and tabs are not part of a header value (RFC 9110 §5.5).
    let p = policy(r#"user_agent starts_with "curl/""#);
    for ua in [&b"curl/8.5.0"[..], b"  curl/8.5.0", b"\tcurl/8.5.0 \t"] {
        assert!(ua_fires(&p, ua), "{:?}", String::from_utf8_lossy(ua));
    }
    assert!(!ua_fires(&p, b"CURL/8.5.0"), "exact case");
    let p = policy(r#"lower(user_agent) starts_with "curl/""#);
    assert!(ua_fires(&p, b" CuRL/8.5.0"));
    let p = policy(r#"user_agent == "python-requests/2.31""#);
    assert!(ua_fires(&p, b" python-requests/2.31 "));
    // Inner whitespace is kept: a regex with \s+ matches any run of it.
    let p = policy(r#"user_agent matches "(?i)python\\s*-\\s*requests""#);
    for ua in [
        &b"python-requests/2"[..],
        b"Python - Requests/2",
        b"PYTHON\t-requests",
    ] {
        assert!(ua_fires(&p, ua), "{:?}", String::from_utf8_lossy(ua));
    }
}

#[test]
fn query_argument_evasion() {
    let rule = r#"lower(arg["q"]) contains "<script""#;
    for uri in [
        "/?q=<script>",
        "/?q=%3Cscript%3E",
        "/?q=%3cSCRIPT",
        "/?%71=%3cscript",
        "/?a=1&q=x+%3CScRiPt",
    ] {
        assert!(fires(rule, uri), "{uri}");
    }
    // Double-encoded: decoded once, like the server; `url_decode` adds a round.
    assert!(!fires(rule, "/?q=%253Cscript"));
    assert!(fires(
        r#"lower(url_decode(arg["q"])) contains "<script""#,
        "/?q=%253Cscript"
    ));
}

#[test]
fn host_rules_see_through_case_port_and_trailing_dot() {
    let p = policy(r#"host == "admin.example.com""#);
    for host in [
        "admin.example.com",
        "ADMIN.Example.COM",
        "admin.example.com.",
        "admin.example.com:8443",
        " admin.example.com.:443 ",
    ] {
        let h = [("host", host)];
        assert!(
            fires_with(&p, &Request::new("GET", "/").headers(&h)),
            "{host}"
        );
    }
}

/// HTTP/2's `:authority` (given apart from the target) is the host, over a `Host` header,
/// in both evaluators (the compiled one once read only the target and `Host`).
#[test]
fn host_rules_read_the_authority_given_apart() {
    let p = policy(r#"host == "api.example""#);
    let other = [("host", "other.example")];
    for req in [
        Request::new("GET", "/x").authority("api.example"),
        Request::new("GET", "/x")
            .authority("API.example:443")
            .headers(&other),
    ] {
        assert!(fires_with(&p, &req), "{req:?}");
    }
}

#[test]
fn ambiguous_paths_are_refused_by_default() {
    let text =
        "[[rule]]\nid = \"public\"\nwhen = 'path starts_with \"/public\"'\naction = \"allow\"\n";
    let p = Policy::compile(RuleSet::parse("d.toml", text).unwrap()).unwrap();
    for uri in [
        "/admin/../public",
        "/admin/%2e%2e/public",
        "/admin/..;/public",
        "/admin/%5c..%5cpublic",
        "/admin%2f..%2fpublic",
        "/admin\\..\\public",
        "/tenants/globex/../../public",
        "http://x/admin/../public",
        "/public./x",
        "/public;x",
    ] {
        let req = Request::new("GET", uri);
        for d in [p.evaluate(&req), p.evaluate_reference(&req)] {
            assert_eq!(d.status(), 400, "{uri}");
            assert!(d.malformed().is_some() && d.rule_id().is_none(), "{uri}");
        }
    }
    for uri in ["/public", "/%70ublic/x", "//public", "/public/a.b"] {
        let d = p.evaluate(&Request::new("GET", uri));
        assert_eq!(d.rule_id(), Some("public"), "{uri}");
    }
}

#[test]
fn the_checks_guard_only_what_some_rule_reads() {
    // Nothing here reads the path or the host: no reading of either can change the
    // decision, so neither is checked (and the floor costs nothing for them).
    let compile = |text: &str| Policy::compile(RuleSet::parse("c.toml", text).unwrap()).unwrap();
    let blind = compile(
        "[[rule]]\nid = \"ua\"\nwhen = 'user_agent contains \"bot\"'\naction = \"forbid\"\n",
    );
    let two_hosts = [("host", "a.example"), ("host", "b.example")];
    let ambiguous = Request::new("GET", "/admin/../public");
    let duplicate = Request::new("GET", "/").headers(&two_hosts);
    for req in [&ambiguous, &duplicate] {
        for d in [blind.evaluate(req), blind.evaluate_reference(req)] {
            assert_eq!((d.status(), d.malformed()), (200, None), "{req:?}");
        }
    }
    // A rule on any path field, or on the host (as a field, a header or a rate-limit
    // key), turns its check on, in both evaluators.
    for (when, req) in [
        ("raw_path == \"/x\"", &ambiguous),
        ("path_segment(0) == \"x\"", &ambiguous),
        ("host == \"x\"", &duplicate),
        ("header[\"host\"] == \"x\"", &duplicate),
    ] {
        let p = compile(&format!(
            "[[rule]]\nid = \"r\"\nwhen = '{when}'\naction = \"forbid\"\n"
        ));
        for d in [p.evaluate(req), p.evaluate_reference(req)] {
            assert_eq!(d.status(), 400, "{when}");
        }
    }
    let keyed = compile(
        "[[rule]]\nid = \"r\"\nwhen = 'method == \"GET\"'\naction = \"rate_limit\"\nrate_limit = { key = ['header[\"Host\"]'], limit = 9, period = \"1m\" }\n",
    );
    assert_eq!(keyed.evaluate(&duplicate).status(), 400);
    // Under `rewrite`, an ambiguous path is judged normalised: nothing to check.
    let rewrite = compile("[policy]\non_ambiguous_path = \"rewrite\"\n[[rule]]\nid = \"r\"\nwhen = 'path == \"/x\"'\naction = \"forbid\"\n");
    assert_eq!(rewrite.evaluate(&ambiguous).status(), 200);
}

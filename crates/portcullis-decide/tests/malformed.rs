//! Malformed input: invalid UTF-8 and percent-encoding everywhere, empty, huge, many and
//! duplicate headers, IPv6 zone ids, garbage in `X-Forwarded-For`. Every request gets a
//! defined decision (the same from the compiled program and the reference evaluator) and
//! an answer that is valid JSON; nothing panics.

use std::net::{IpAddr, SocketAddr};

use portcullis::{Engine, HttpRequest, TrustedProxies};
use portcullis_decide::{parse_client_ip, Auth, OwnedRequest, Policy, Request, Verdict};
use portcullis_rules::RuleSet;

/// Rules reading every field, plus the starter pack's conditions' kinds.
const EVERY_FIELD: &str = r#"
[policy]
reveal = "detail"
max_uri_bytes = 2000000
max_header_count = 100000
max_header_bytes = 20000000

[lists]
bots = { kind = "pattern", items = ["sqlmap", "nikto"], case = "insensitive" }
nets = { kind = "ip", items = ["10.0.0.0/8", "fe80::/10"] }

[[rule]]
id = "fields"
when = '''path contains "�" or raw_path contains "%" or query contains "\0" or arg["a"] == "x"
    or header["x-a"] matches "^\\w+$" or cookie["s"] starts_with "t" or host ends_with ".test"
    or lower(user_agent) contains_any $bots or url_decode(query) contains "<"
    or path_segment(3) == "z" or len(header["x-a"]) > 1000
    or request_line contains "\0" or protocol == "HTTP/9"'''
action = "log"

[[rule]]
id = "nets"
when = 'ip in $nets'
action = "log"

[[rule]]
id = "admin"
when = 'path starts_with "/admin" and not auth.roles has "admin"'
action = "forbid"
"#;

fn policy(text: &str) -> Policy {
    Policy::compile(RuleSet::parse("malformed.toml", text).unwrap_or_else(|e| panic!("{e}")))
        .unwrap()
}

/// Decides with both evaluators, checks they agree and that the answer is valid JSON.
fn decide(p: &Policy, req: &Request<'_>) -> (Verdict, u16) {
    let a = p.evaluate(req);
    let b = p.evaluate_reference(req);
    let shadow = |d: &portcullis_decide::Decision| {
        d.shadow_hits()
            .map(|(r, _)| r.id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        (a.verdict(), a.status(), a.rule_id(), shadow(&a)),
        (b.verdict(), b.status(), b.rule_id(), shadow(&b)),
        "{req:?}"
    );
    if let Some(r) = a.response(req) {
        let _: serde_json::Value =
            serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body));
    }
    let _ = p.explain(req);
    (a.verdict(), a.status())
}

const BAD_BYTES: &[&[u8]] = &[
    b"\xff",
    b"\xc0\xaf",
    b"\xe0\x80\xaf",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"a\xc3",
    b"\x00",
    b"\xfe\xff\x00a",
    b"\xef\xbb\xbfx",
    b"\r\n",
    b"",
];

const BAD_TARGETS: &[&str] = &[
    "",
    "/",
    "*",
    "?",
    "#",
    "//",
    "/%",
    "/%%",
    "/%z",
    "/%4",
    "/%zz%",
    "/a%ff%feb",
    "/%c0%af",
    "/%e0%80%af",
    "/%ed%a0%80",
    "/%00",
    "/a?%",
    "/a?a=%",
    "/a?%zz=1&a=%4x",
    "/a?a=%ff&a=2",
    "/?=&&==&a",
    "/a#%ff",
    "http://",
    "http:///",
    "http://[::1",
    "http://a@",
    "//evil/admin",
    "/admin%",
    "/%2e%2e%2f%2e%2e%2f",
    "/;;;",
    "/...;/",
    "/\u{FFFD}",
    "/\u{0}admin",
    "/é/%C3%A9",
    "/a?q=%3c%00%3e",
    "\\\\admin",
    "/a b",
    "/%20admin",
];

#[test]
fn invalid_utf8_and_percent_encoding_everywhere() {
    let p = policy(EVERY_FIELD);
    let roles = Auth::authenticated("u").with_roles(["viewer"]);
    for target in BAD_TARGETS {
        for bytes in BAD_BYTES {
            let mut cookie = b"s=".to_vec();
            cookie.extend_from_slice(bytes);
            let headers: Vec<(&str, &[u8])> = vec![
                ("user-agent", bytes),
                ("x-a", bytes),
                ("host", bytes),
                ("cookie", &cookie),
                ("x-request-id", bytes),
            ];
            let req = Request::new("GET", target).headers(&headers);
            decide(&p, &req);
            decide(&p, &req.auth(&roles));
            decide(&p, &req.version("HTTP/1.1"));
        }
    }
}

#[test]
fn invalid_utf8_in_the_starter_pack() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let p = Policy::compile(RuleSet::load(&[dir]).unwrap()).unwrap();
    for target in BAD_TARGETS {
        for bytes in BAD_BYTES {
            let headers: Vec<(&str, &[u8])> = vec![
                ("user-agent", bytes),
                ("authorization", bytes),
                ("origin", bytes),
            ];
            let req = Request::new("OPTIONS", target).headers(&headers);
            // Rate limits count each evaluation, so only the answer is checked here.
            let d = p.evaluate(&req);
            let _ = d.response(&req);
            let _ = p.evaluate_reference(&req);
        }
    }
}

#[test]
fn empty_and_huge_header_values() {
    let p = policy(EVERY_FIELD);
    let huge = "a".repeat(1 << 20);
    for v in ["", " ", "\t", huge.as_str()] {
        let h = [("x-a", v), ("user-agent", v), ("host", v), ("cookie", v)];
        decide(&p, &Request::new("GET", "/").headers(&h));
    }
    // Under the default limits a 1 MiB header is refused with 431, before any rule.
    let p =
        policy("[[rule]]\nid = \"r\"\nwhen = 'header[\"x-a\"] contains \"a\"'\naction = \"log\"\n");
    let h = [("x-a", huge.as_str())];
    let d = p.evaluate(&Request::new("GET", "/").headers(&h));
    assert_eq!(
        (
            d.verdict(),
            d.status(),
            d.rule_id(),
            d.shadow_hits().count()
        ),
        (Verdict::Forbid, 431, None, 0)
    );
}

#[test]
fn thousands_of_headers() {
    let p = policy(EVERY_FIELD);
    let many: Vec<(String, String)> = (0..5000)
        .map(|i| (format!("x-h{}", i % 700), format!("v{i}")))
        .collect();
    decide(&p, &Request::new("GET", "/").headers(&many));
    let same: Vec<(&str, &str)> = (0..5000).map(|_| ("x-a", "word")).collect();
    decide(&p, &Request::new("GET", "/").headers(&same));
    // Under the default limits: 431.
    let p = policy("[[rule]]\nid = \"r\"\nwhen = 'true'\naction = \"log\"\n");
    assert_eq!(
        decide(&p, &Request::new("GET", "/").headers(&many)),
        (Verdict::Forbid, 431)
    );
}

#[test]
fn duplicate_headers_are_joined_in_order() {
    let p = policy("[[rule]]\nid = \"r\"\nwhen = 'header[\"x-a\"] == \"1, 2, 3\" and host == \"a.test\"'\naction = \"forbid\"\n");
    let h = [("x-a", "1"), ("host", "a.test"), ("X-A", "2"), ("x-a", "3")];
    assert_eq!(
        decide(&p, &Request::new("GET", "/").headers(&h)),
        (Verdict::Forbid, 403)
    );
    // Two Host fields are never joined into one value a `host == "…"` rule could miss:
    // RFC 9112 §3.2 makes them a 400.
    let h = [("host", "a.test"), ("HOST", "b.test")];
    assert_eq!(
        decide(&p, &Request::new("GET", "/").headers(&h)),
        (Verdict::Forbid, 400)
    );
    // The first cookie header that holds the name wins.
    let p =
        policy("[[rule]]\nid = \"r\"\nwhen = 'cookie[\"s\"] == \"one\"'\naction = \"forbid\"\n");
    let h = [
        ("cookie", "a=1"),
        ("cookie", "s=one; s=two"),
        ("cookie", "s=three"),
    ];
    assert_eq!(
        decide(&p, &Request::new("GET", "/").headers(&h)),
        (Verdict::Forbid, 403)
    );
}

#[test]
fn ipv6_zone_ids_and_odd_addresses() {
    for (text, want) in [
        ("fe80::1%eth0", Some("fe80::1")),
        ("[fe80::1%25eth0]:8080", Some("fe80::1")),
        ("[fe80::1%eth0]", Some("fe80::1")),
        ("fe80::1%", Some("fe80::1")),
        ("::ffff:10.1.2.3", Some("10.1.2.3")),
        (" 10.1.2.3 ", Some("10.1.2.3")),
        ("%eth0", None),
        ("[", None),
        ("[]", None),
        ("10.1.2.3.4", None),
        ("10.1.2", None),
        ("::1::", None),
        ("\u{FFFD}", None),
        ("", None),
    ] {
        assert_eq!(
            parse_client_ip(text),
            want.map(|w| w.parse::<IpAddr>().unwrap()),
            "{text:?}"
        );
    }
    let p = policy(EVERY_FIELD);
    let req = OwnedRequest::from_json(r#"{"ip": "fe80::1%eth0", "uri": "/"}"#).unwrap();
    let d = p.evaluate(&req.view());
    assert!(
        d.shadow_hits().any(|(r, _)| r.id == "nets"),
        "fe80::1 is in fe80::/10"
    );
    assert!(OwnedRequest::from_json(r#"{"ip": "fe80::zz%eth0", "uri": "/"}"#).is_err());
}

#[test]
fn malformed_json_requests_are_errors_not_panics() {
    for text in [
        "",
        "{",
        "[]",
        "null",
        r#"{"uri": 1}"#,
        r#"{"uri": "/", "method": ""}"#,
        r#"{"uri": "/", "method": "G T"}"#,
        r#"{"uri": "/", "time": -1}"#,
        r#"{"uri": "/", "version": ""}"#,
        r#"{"uri": "/", "version": "HTTP/1.1 x"}"#,
        r#"{"uri": "/", "version": 1.1}"#,
        r#"{"uri": "/", "time": 1e300}"#,
        r#"{"uri": "/", "headers": 5}"#,
        r#"{"uri": "/", "headers": [["a"]]}"#,
        r#"{"uri": "/", "auth": {"status": "root"}}"#,
        r#"{"uri": "/", "x": 1}"#,
        "{\"uri\": \"/\\ud800\"}",
    ] {
        assert!(OwnedRequest::from_json(text).is_err(), "{text}");
    }
}

fn xff_client(values: &[&[u8]]) -> Option<IpAddr> {
    let mut req = http::Request::builder().uri("/x");
    for v in values {
        req = req.header("x-forwarded-for", http::HeaderValue::from_bytes(v).unwrap());
    }
    let req = req.body(()).unwrap();
    let proxies = TrustedProxies::parse(["10.0.0.0/8", "fd00::/8"]).unwrap();
    let peer: SocketAddr = "10.0.0.1:443".parse().unwrap();
    let http_req = HttpRequest::from_request(&req, Some(peer), &proxies);
    let engine = Engine::from_str(EVERY_FIELD).unwrap();
    let d = engine.evaluate(&http_req.request());
    let _ = d.response(&http_req.request());
    http_req.client_ip()
}

#[test]
fn garbage_in_x_forwarded_for_falls_back_to_the_peer() {
    let peer: IpAddr = "10.0.0.1".parse().unwrap();
    let long = "1.2.3.4, ".repeat(10_000) + "5.6.7.8";
    let garbage: &[&[u8]] = &[
        b"",
        b",",
        b",,,",
        b"unknown",
        b"garbage",
        b"\xff\xfe",
        b"1.2.3.4.5",
        b"999.1.1.1",
        b"1.2.3",
        b"::g",
        b"[2001:db8::1",
        b"2001:db8::1]",
        b"fe80::1%eth0%",
        b"_hidden",
        b"1.2.3.4 5.6.7.8",
        b"1.2.3.4, bogus",
    ];
    for v in garbage {
        assert_eq!(
            xff_client(&[v]),
            Some(peer),
            "{:?}",
            String::from_utf8_lossy(v)
        );
    }
    // Readable ones are read: the rightmost address that is not a trusted proxy.
    assert_eq!(
        xff_client(&[b"203.0.113.9"]),
        Some("203.0.113.9".parse().unwrap())
    );
    assert_eq!(
        xff_client(&[b"bogus, 203.0.113.9, 10.1.1.1"]),
        Some("203.0.113.9".parse().unwrap())
    );
    assert_eq!(
        xff_client(&[b"198.51.100.1", b"203.0.113.9"]),
        Some("203.0.113.9".parse().unwrap())
    );
    assert_eq!(
        xff_client(&[b"[2001:db8::7]:443"]),
        Some("2001:db8::7".parse().unwrap())
    );
    // A zone id only means something on the proxy's own link: such a hop is unreadable.
    assert_eq!(xff_client(&[b"fe80::7%eth0"]), Some(peer));
    assert_eq!(
        xff_client(&[long.as_bytes()]),
        Some("5.6.7.8".parse().unwrap())
    );
    // A trailing empty hop is unreadable.
    assert_eq!(xff_client(&[b"203.0.113.9, "]), Some(peer));
}

#[test]
fn http_requests_with_many_headers_get_431_through_the_facade() {
    let engine =
        Engine::from_str("[[rule]]\nid = \"r\"\nwhen = 'true'\naction = \"log\"\n").unwrap();
    let mut req = http::Request::builder().uri("/x");
    for i in 0..101 {
        req = req.header("x-dup", format!("v{i}"));
    }
    let req = req.body(()).unwrap();
    let http_req = HttpRequest::from_request(&req, None, &TrustedProxies::none());
    let d = engine.evaluate(&http_req.request());
    assert_eq!(
        (d.status(), d.oversize().map(|o| o.setting())),
        (431, Some("max_header_count"))
    );
    let answer = portcullis::to_http_response(d.response(&http_req.request()).unwrap());
    assert_eq!(answer.status(), 431);
    let long = format!("/{}", "a".repeat(9000));
    let req = http::Request::builder()
        .uri(long.as_str())
        .body(())
        .unwrap();
    let http_req = HttpRequest::from_request(&req, None, &TrustedProxies::none());
    assert_eq!(engine.evaluate(&http_req.request()).status(), 414);
}

#[test]
fn host_from_a_url_in_the_query_is_not_the_targets_authority() {
    // A URL inside the path, query or fragment is not an absolute-form target: the host
    // is not taken from it (both evaluators have their own reading of the target).
    let p = policy("[[rule]]\nid = \"r\"\nwhen = 'host == \"evil.test\"'\naction = \"forbid\"\n");
    for uri in [
        "/r?to=http://evil.test/",
        "/a/http://evil.test/",
        "/p#http://evil.test/",
    ] {
        assert_eq!(
            decide(&p, &Request::new("GET", uri)),
            (Verdict::Allow, 200),
            "{uri}"
        );
    }
    assert_eq!(
        decide(&p, &Request::new("GET", "http://evil.test/x")),
        (Verdict::Forbid, 403)
    );
}

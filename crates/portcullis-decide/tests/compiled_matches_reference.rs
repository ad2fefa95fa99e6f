//! The compiled program must decide exactly as the reference evaluator does, for random
//! rule sets and random requests.

use std::time::Duration;

use portcullis_decide::{Auth, AuthStatus, Policy, Request};
use portcullis_rules::RuleSet;
use proptest::prelude::*;

const STRING_TERMS: &[&str] = &[
    "path",
    "raw_path",
    "query",
    "method",
    "host",
    "user_agent",
    "header[\"x-a\"]",
    "arg[\"a\"]",
    "cookie[\"c\"]",
    "auth.subject",
    "auth.tenant",
    "geo.country",
    "attr[\"k\"]",
    "lower(user_agent)",
    "url_decode(query)",
    "path_segment(0)",
    "path_segment(1)",
    "lower(path)",
];
const LITERALS: &[&str] = &[
    "a",
    "b",
    "/a",
    "ab",
    "A",
    "",
    "/a/b",
    "%61",
    "GET",
    "x.example",
    "b/",
];
const REGEXES: &[&str] = &["a+b", "^/a", "b$", "[ab]c", "(?i)AB", "^$", "a.*b"];
const OTHER_PREDS: &[&str] = &[
    "ip in $ips",
    "ip in {10.0.0.0/8, ::1}",
    "ip == 10.0.0.1",
    "ip != 192.168.1.1",
    "auth.roles has \"admin\"",
    "auth.roles has_any {\"a\", \"admin\"}",
    "auth.scopes has_any $s",
    "auth.authenticated",
    "cors.preflight",
    "present(header[\"x-a\"])",
    "present(auth.subject)",
    "len(path) > 3",
    "len(auth.roles) == 1",
    "len(query) <= 2",
    "path_segment(1) != auth.tenant",
    "auth.subject == attr[\"k\"]",
    "true",
    "not true",
    "\"ab\" contains \"b\"",
];

fn pred() -> impl Strategy<Value = String> {
    let term = prop::sample::select(STRING_TERMS);
    let lit = prop::sample::select(LITERALS);
    prop_oneof![
        (
            term.clone(),
            prop::sample::select(&["==", "!=", "contains", "starts_with", "ends_with"][..]),
            lit.clone()
        )
            .prop_map(|(t, op, l)| format!("{t} {op} \"{l}\"")),
        (term.clone(), prop::sample::select(REGEXES))
            .prop_map(|(t, r)| format!("{t} matches \"{r}\"")),
        (term.clone(), lit.clone(), lit)
            .prop_map(|(t, a, b)| format!("{t} in {{\"{a}\", \"{b}\"}}")),
        (
            term,
            prop::sample::select(
                &[
                    "contains_any $p",
                    "starts_with_any $p",
                    "ends_with_any $p",
                    "in $s",
                    "matches_any $r",
                    "contains_any $pi",
                    "in $si"
                ][..]
            )
        )
            .prop_map(|(t, op)| format!("{t} {op}")),
        prop::sample::select(OTHER_PREDS).prop_map(str::to_string),
    ]
}

fn condition() -> impl Strategy<Value = String> {
    pred().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} and {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} or {b})")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

fn rule() -> impl Strategy<Value = (String, &'static str, bool, bool, i64)> {
    (
        condition(),
        prop::sample::select(&["allow", "forbid", "forbid", "log", "rate_limit"][..]),
        any::<bool>(),
        prop::bool::weighted(0.2),
        prop::sample::select(&[0i64, 0, 0, 1, -1][..]),
    )
}

fn rules_text(rules: &[(String, &'static str, bool, bool, i64)], default_forbid: bool) -> String {
    let mut t = format!(
        "[policy]\ndefault = \"{}\"\nreveal = \"detail\"\n\n[lists]\nips = {{ kind = \"ip\", items = [\"10.0.0.0/8\", \"2001:db8::/32\", \"192.168.1.1\"] }}\np = {{ kind = \"pattern\", items = [\"a\", \"/b\", \"ba\"] }}\npi = {{ kind = \"pattern\", items = [\"A\", \"B/\"], case = \"insensitive\" }}\ns = {{ kind = \"string\", items = [\"a\", \"/a\", \"GET\", \"admin\"] }}\nsi = {{ kind = \"string\", items = [\"A\", \"/A\"], case = \"insensitive\" }}\nr = {{ kind = \"regex\", items = [\"a+\", \"^/b\", \"[0-9]\"] }}\n",
        if default_forbid { "forbid" } else { "allow" }
    );
    for (i, (when, action, hide, shadow, priority)) in rules.iter().enumerate() {
        t.push_str(&format!("\n[[rule]]\nid = \"r{i}\"\nwhen = '{when}'\naction = \"{action}\"\npriority = {priority}\n"));
        if *hide && *action == "forbid" {
            t.push_str("hide = true\n");
        }
        if *shadow {
            t.push_str("mode = \"shadow\"\n");
        }
        if *action == "rate_limit" {
            t.push_str("rate_limit = { key = [\"ip\"], limit = 2, period = \"1m\", burst = 2 }\n");
        }
    }
    t
}

#[derive(Debug, Clone)]
struct Req {
    method: &'static str,
    uri: String,
    ip: Option<&'static str>,
    headers: Vec<(&'static str, String)>,
    auth: Auth,
    geo: Option<&'static str>,
    attrs: Vec<(&'static str, String)>,
}

fn small_string() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(
            &[
                "a", "b", "/", "A", "%61", "%", ".", "..", "B", "%2F", "=", "&", "c",
            ][..],
        ),
        0..6,
    )
    .prop_map(|v| v.concat())
}

fn request() -> impl Strategy<Value = Req> {
    (
        prop::sample::select(&["GET", "POST", "OPTIONS", "get"][..]),
        small_string(),
        small_string(),
        prop::sample::select(
            &[
                None,
                Some("10.1.2.3"),
                Some("10.0.0.1"),
                Some("::ffff:10.0.0.1"),
                Some("2001:db8::5"),
                Some("::1"),
                Some("192.168.1.1"),
                Some("8.8.8.8"),
            ][..],
        ),
        prop::collection::vec(
            (
                prop::sample::select(
                    &[
                        "x-a",
                        "user-agent",
                        "host",
                        "cookie",
                        "origin",
                        "access-control-request-method",
                    ][..],
                ),
                small_string(),
            ),
            0..4,
        ),
        (
            0u8..4,
            prop::collection::vec(prop::sample::select(&["a", "admin", "b", "A"][..]), 0..3),
            prop::option::of(small_string()),
        ),
        prop::option::of(prop::sample::select(&["a", "DE"][..])),
        prop::option::of(small_string()),
    )
        .prop_map(
            |(method, path, query, ip, mut headers, (auth_kind, roles, tenant), geo, attr)| {
                if headers.iter().any(|(n, _)| *n == "cookie") {
                    headers.push(("cookie", "c=ab; d=1".to_string()));
                }
                let auth = match auth_kind {
                    0 => Auth::default(),
                    1 => Auth {
                        status: Some(AuthStatus::Invalid),
                        ..Auth::default()
                    },
                    _ => {
                        let mut a = Auth::authenticated(if auth_kind == 2 { "a" } else { "ab" })
                            .with_roles(roles.clone())
                            .with_scopes(roles);
                        a.tenant = tenant;
                        a
                    }
                };
                Req {
                    method,
                    uri: if query.is_empty() {
                        format!("/{path}")
                    } else {
                        format!("/{path}?{query}")
                    },
                    ip,
                    headers,
                    auth,
                    geo,
                    attrs: attr.map(|v| vec![("k", v)]).unwrap_or_default(),
                }
            },
        )
}

fn view<'a>(r: &'a Req, t: u64) -> Request<'a> {
    let mut v = Request::new(r.method, &r.uri)
        .headers(&r.headers)
        .auth(&r.auth)
        .attrs(&r.attrs)
        .time(Duration::from_secs(1_000_000 + t));
    v.client_ip = r.ip.and_then(portcullis_decide::parse_client_ip);
    v.geo_country = r.geo;
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn compiled_matches_reference(
        rules in prop::collection::vec(rule(), 1..7),
        default_forbid in any::<bool>(),
        requests in prop::collection::vec(request(), 1..6),
    ) {
        let text = rules_text(&rules, default_forbid);
        let set = match RuleSet::parse("gen.toml", &text) {
            Ok(s) => s,
            Err(e) => return Err(TestCaseError::fail(format!("generated rules must parse: {e}\n{text}"))),
        };
        let compiled = Policy::compile(set.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let reference = Policy::compile(set).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (t, r) in requests.iter().enumerate() {
            let req = view(r, t as u64);
            let a = compiled.evaluate(&req);
            let b = reference.evaluate_reference(&req);
            let shadow = |d: &portcullis_decide::Decision| d.shadow_hits().map(|(r, a)| (r.id.clone(), a)).collect::<Vec<_>>();
            prop_assert_eq!(
                (a.verdict(), a.status(), a.rule_id(), shadow(&a)),
                (b.verdict(), b.status(), b.rule_id(), shadow(&b)),
                "request {:?}\nrules:\n{}", r, text
            );
            let (ra, rb) = (a.response(&req), b.response(&req));
            prop_assert_eq!(ra.map(|r| (r.status, r.headers.len())), rb.map(|r| (r.status, r.headers.len())));
        }
    }
}

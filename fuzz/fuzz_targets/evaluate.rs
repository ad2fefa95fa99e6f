//! A structured rule set and request: the compiled policy decides exactly as the reference
//! evaluator does.
#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use portcullis_decide::{Auth, AuthStatus, Policy, Request};
use portcullis_rules::RuleSet;

const TERMS: &[&str] = &[
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
    "\"ab\"",
];
const LITS: &[&str] = &[
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
    "é",
];
const REGEXES: &[&str] = &["a+b", "^/a", "b$", "[ab]c", "(?i)AB", "^$", "a.*b", "\\d"];
const OTHER: &[&str] = &[
    "ip in $ips",
    "ip in {10.0.0.0/8, ::1}",
    "ip == 10.0.0.1",
    "ip != ::ffff:192.168.1.1",
    "auth.roles has \"admin\"",
    "auth.roles has_any {\"a\", \"admin\"}",
    "auth.scopes has_any $si",
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
];
const OPS: &[&str] = &["==", "!=", "contains", "starts_with", "ends_with"];
const LIST_OPS: &[&str] = &[
    "contains_any $p",
    "starts_with_any $p",
    "ends_with_any $pi",
    "in $s",
    "in $si",
    "matches_any $r",
];

#[derive(Arbitrary, Debug)]
enum Cond {
    Str(u8, u8, u8),
    Regex(u8, u8),
    List(u8, u8),
    Other(u8),
    Not(Box<Cond>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
}

fn pick<'a>(items: &[&'a str], i: u8) -> &'a str {
    items[usize::from(i) % items.len()]
}

fn render(c: &Cond, depth: usize, out: &mut String) {
    if depth > 8 {
        out.push_str("true");
        return;
    }
    match c {
        Cond::Str(t, o, l) => out.push_str(&format!(
            "{} {} \"{}\"",
            pick(TERMS, *t),
            pick(OPS, *o),
            pick(LITS, *l)
        )),
        Cond::Regex(t, r) => out.push_str(&format!(
            "{} matches \"{}\"",
            pick(TERMS, *t),
            pick(REGEXES, *r).replace('\\', "\\\\")
        )),
        Cond::List(t, o) => out.push_str(&format!("{} {}", pick(TERMS, *t), pick(LIST_OPS, *o))),
        Cond::Other(i) => out.push_str(pick(OTHER, *i)),
        Cond::Not(c) => {
            out.push_str("not (");
            render(c, depth + 1, out);
            out.push(')');
        }
        Cond::And(a, b) | Cond::Or(a, b) => {
            out.push('(');
            render(a, depth + 1, out);
            out.push_str(if matches!(c, Cond::And(..)) {
                " and "
            } else {
                " or "
            });
            render(b, depth + 1, out);
            out.push(')');
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Rule {
    when: Cond,
    action: u8,
    hide: bool,
    shadow: bool,
    priority: i8,
}

#[derive(Arbitrary, Debug)]
struct Req {
    method: u8,
    path: String,
    query: String,
    ip: u8,
    headers: Vec<(u8, String)>,
    auth: u8,
    roles: Vec<u8>,
    tenant: Option<String>,
    attr: Option<String>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    rules: Vec<Rule>,
    default_forbid: bool,
    requests: Vec<Req>,
}

fuzz_target!(|input: Input| {
    if input.rules.len() > 12 || input.requests.len() > 8 {
        return;
    }
    let mut text = format!(
        "[policy]\ndefault = \"{}\"\nreveal = \"detail\"\n\n[lists]\nips = {{ kind = \"ip\", items = [\"10.0.0.0/8\", \"2001:db8::/32\", \"192.168.1.1\"] }}\np = {{ kind = \"pattern\", items = [\"a\", \"/b\", \"ba\"] }}\npi = {{ kind = \"pattern\", items = [\"A\", \"B/\"], case = \"insensitive\" }}\ns = {{ kind = \"string\", items = [\"a\", \"/a\", \"GET\", \"admin\"] }}\nsi = {{ kind = \"string\", items = [\"A\", \"/A\", \"ADMIN\"], case = \"insensitive\" }}\nr = {{ kind = \"regex\", items = [\"a+\", \"^/b\", \"[0-9]\"] }}\n",
        if input.default_forbid { "forbid" } else { "allow" }
    );
    for (i, r) in input.rules.iter().enumerate() {
        let mut when = String::new();
        render(&r.when, 0, &mut when);
        let action = pick(&["allow", "forbid", "log", "rate_limit"], r.action);
        text.push_str(&format!(
            "\n[[rule]]\nid = \"r{i}\"\nwhen = '{when}'\naction = \"{action}\"\npriority = {}\n",
            r.priority % 3
        ));
        if r.hide && action == "forbid" {
            text.push_str("hide = true\n");
        }
        if r.shadow {
            text.push_str("mode = \"shadow\"\n");
        }
        if action == "rate_limit" {
            text.push_str(
                "rate_limit = { key = [\"ip\"], limit = 2, period = \"1m\", burst = 2 }\n",
            );
        }
    }
    let rules = match RuleSet::parse("fuzz.toml", &text) {
        Ok(r) => r,
        Err(e) => panic!("generated rules must parse: {e}\n{text}"),
    };
    let (Ok(compiled), Ok(reference)) = (Policy::compile(rules.clone()), Policy::compile(rules))
    else {
        return;
    };
    for (t, r) in input.requests.iter().enumerate() {
        let headers: Vec<(&str, String)> = r
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    pick(
                        &[
                            "x-a",
                            "user-agent",
                            "host",
                            "cookie",
                            "origin",
                            "access-control-request-method",
                        ],
                        *n,
                    ),
                    v.clone(),
                )
            })
            .collect();
        let auth = match r.auth % 4 {
            0 => Auth::default(),
            1 => Auth {
                status: Some(AuthStatus::Invalid),
                ..Auth::default()
            },
            _ => {
                let mut a = Auth::authenticated("a")
                    .with_roles(r.roles.iter().map(|i| pick(&["a", "admin", "A", "b"], *i)));
                a.tenant = r.tenant.clone();
                a
            }
        };
        let attrs: Vec<(&str, String)> = r.attr.iter().map(|v| ("k", v.clone())).collect();
        let uri = format!("/{}?{}", r.path, r.query);
        let mut req = Request::new(pick(&["GET", "POST", "OPTIONS", "get"], r.method), &uri)
            .headers(&headers)
            .auth(&auth)
            .attrs(&attrs)
            .time(Duration::from_secs(1_000_000 + t as u64));
        req.client_ip = [
            None,
            Some("10.1.2.3"),
            Some("::ffff:10.0.0.1"),
            Some("2001:db8::5"),
            Some("::1"),
            Some("192.168.1.1"),
        ][usize::from(r.ip) % 6]
            .and_then(portcullis_decide::parse_client_ip);
        let a = compiled.evaluate(&req);
        let b = reference.evaluate_reference(&req);
        let shadow = |d: &portcullis_decide::Decision| {
            d.shadow_hits()
                .map(|(r, a)| (r.id.clone(), a))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            (a.verdict(), a.status(), a.rule_id(), shadow(&a)),
            (b.verdict(), b.status(), b.rule_id(), shadow(&b)),
            "request {r:?}\nrules:\n{text}"
        );
    }
});

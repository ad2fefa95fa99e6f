//! Random rule sets and requests, drawn from a byte string: the one generator behind the
//! property tests (`crates/portcullis-decide/tests/compiled_matches_reference.rs`, bytes
//! from proptest) and the `evaluate` fuzz target (bytes from libFuzzer), so both explore
//! the same language and the same hostile alphabet, and neither drifts from the other.
//!
//! Every choice reads the next byte ([`Gen::pick`]); past the end every choice is the
//! first option, so any byte string is a valid, finite case, and shorter strings shrink
//! towards simpler ones.
//!
//! [`check`] is the oracle both use: the compiled evaluator and the reference decide
//! identically, answers included.

#![forbid(unsafe_code)]

pub mod broken;
pub mod redis_server;

use std::time::Duration;

use portcullis_decide::{Auth, AuthStatus, Decision, OwnedAppResponse, OwnedRequest, Policy};

/// String terms a predicate reads.
pub const TERMS: &[&str] = &[
    "path",
    "raw_path",
    "query",
    "method",
    "protocol",
    "request_line",
    "uri",
    "raw_uri",
    "basename",
    "filename",
    "lower(uri)",
    "body.processor",
    "host",
    "user_agent",
    "header[\"x-a\"]",
    "arg[\"a\"]",
    "arg[\"\u{FFFD}\"]",
    "cookie[\"c\"]",
    "auth.subject",
    "auth.tenant",
    "geo.country",
    "attr[\"k\"]",
    "lower(user_agent)",
    "response.status",
    "response.header[\"x-a\"]",
    "response.body",
    "lower(response.body)",
    "lower(arg[\"a\"])",
    "url_decode(query)",
    "url_decode(arg[\"a\"])",
    "path_segment(0)",
    "path_segment(1)",
    "lower(path)",
    "url_decode_uni(query)",
    "lower(url_decode_uni(arg[\"a\"]))",
    "html_entity_decode(header[\"x-a\"])",
    "js_decode(url_decode(arg[\"a\"]))",
    "cmd_line(arg[\"a\"])",
    "normalize_path(raw_path)",
    "lower(request_line)",
    "url_decode(request_line)",
    "compress_whitespace(replace_comments(query))",
    "base64_decode(cookie[\"c\"])",
    "escape_seq_decode(arg[\"a\"])",
    "hex_encode(sha1(query))",
    "remove_comments_char(url_decode_uni(query))",
    "args",
    "arg_names",
    "files",
    "lower(args)",
    "headers",
    "header_names",
    "cookies",
    "cookie_names",
    "url_decode(cookies)",
    // Chains over one collection: filled together, a member no chain changes scanned once.
    "url_decode_uni(args)",
    "cmd_line(url_decode_uni(args))",
    "trim(html_entity_decode(args))",
    "upper(cookies)",
    "lower(headers)",
    // Collections narrowed by member name (ASCII case folded), and the query-only,
    // body-only and file-field ones.
    "args[\"a\"]",
    "args[/^b/]",
    "args[not \"a\"]",
    "args[\"A\", \"b\", not /^b$/]",
    "arg_names[not /^a$/]",
    "arg_names[not /\\/|%/]",
    "query_args",
    "query_arg_names",
    "query_args[not \"b\"]",
    "body_args",
    "body_arg_names[/b\\.[0-9]/]",
    "lower(body_args[/^a/])",
    "file_fields",
    "files[\"F\"]",
    "file_fields[not \"f\"]",
    "part_headers",
    "lower(part_headers[\"f\"])",
    "xml_text",
    "url_decode(xml_attrs)",
    "xml_attrs[\"a\"]",
    "headers[\"x-a\"]",
    "lower(headers[not \"user-agent\", not \"host\"])",
    "header_names[/^X-/]",
    "cookies[not /^c/]",
    "cookie_names[\"C\"]",
    "url_decode(cookies[\"c\", \"d\"])",
    "url_decode_uni(args[/^a/])",
    "cmd_line(url_decode_uni(args[/^a/]))",
    "body",
    "body.error",
    "arg[\"b.0\"]",
    "\"ab\"",
];

/// Literals predicates compare with.
pub const LITERALS: &[&str] = &[
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
    " ",
    "a b",
    "\u{FFFD}",
    "..",
    "/",
    "HTTP/1.1",
    "GET /a",
];

/// Regexes (as written in a rule).
pub const REGEXES: &[&str] = &[
    "a+b", "^/a", "b$", "[ab]c", "(?i)AB", "^$", "a.*b", "\\\\d", "é", "^/a/?$",
    // Capitals and negated classes: `lower(x) matches` these is rewritten onto `x`. The
    // last three read a request line: its method, its three parts, its version.
    "[A-Z]", "^[^a]+$", "B", "^GET /a", " [^ ]+ ", "1\\\\.0$",
];

/// Predicates of other kinds.
pub const OTHER: &[&str] = &[
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
    "present(arg[\"a\"])",
    "score[\"s\"] >= 2",
    "score[\"t\"] == 0",
    "labels has \"l\"",
    "labels has_any {\"l\", \"m\"}",
    "len(labels) > 1",
    "present(labels)",
    "body.inspected",
    "not body.truncated",
    "present(body.error)",
    "method within \"GET HEAD\"",
    "url_decode(args) within \"a b /a\"",
    "detect_sqli(args)",
    "detect_xss(url_decode(arg[\"a\"]))",
    "not detect_sqli(query)",
    "len(args) > 2",
    "count(args) > 2",
    "count(args[/^a/]) == len(arg[\"a\"])",
    "count(headers[\"x-a\"]) == 0",
    "count(headers[\"x-a\"]) > 1",
    "count(headers[\"X-A\", \"host\"]) == 2",
    "count(cookies[not /^c/]) >= 1",
    "count(query_arg_names) == count(body_args)",
    "count(file_fields) > 0",
    "count(xml_text) == count(xml_attrs)",
    "count(part_headers) > 2",
    "count(header_names[not \"host\"]) < 3",
    "len(args[\"a\"]) > 1",
    "present(headers[/^x/])",
    "detect_sqli(args[not \"b\"])",
    "args[\"a\"] == arg[\"a\"]",
    "headers[\"x-a\"] != header[\"x-a\"]",
    "args == arg[\"a\"]",
    "len(path) > 3",
    "len(arg[\"a\"]) > 1",
    "len(arg[\"a\"]) != 1",
    "len(auth.roles) == 1",
    "len(query) <= 2",
    "present(protocol)",
    "len(request_line) > 12",
    "body.length > 3",
    "files_size > 4",
    "files_size == 0",
    "body.length == len(body)",
    "count(args) < body.length",
    "basename within \"a b.a\"",
    "args not within \"a b /a\"",
    "lower(headers) not within \"a x.example\"",
    "path_segment(1) != auth.tenant",
    "auth.subject == attr[\"k\"]",
    "arg[\"a\"] == arg[\"b\"]",
    "arg[\"a\"] != header[\"x-a\"]",
    "auth.roles has arg[\"a\"]",
    "true",
    "not true",
];

const OPS: &[&str] = &[
    "==",
    "!=",
    "contains",
    "starts_with",
    "ends_with",
    // Negated member by member: some value fails the test.
    "not ==",
    "not contains",
    "not starts_with",
    "not ends_with",
];
const LIST_OPS: &[&str] = &[
    "contains_any $p",
    "starts_with_any $p",
    "ends_with_any $pi",
    "in $s",
    "in $si",
    "matches_any $r",
    "not contains_any $p",
    "not ends_with_any $pi",
    "not in $si",
    "not matches_any $r",
];

/// Pieces of paths, queries and header values: the spellings normalisation must agree on.
pub const ALPHABET: &[&str] = &[
    "a",
    "b",
    "A",
    "/",
    "//",
    ".",
    "..",
    "%61",
    "%",
    "%2",
    "%2F",
    "%2f",
    "%2e",
    "%2E%2e",
    "%5c",
    "\\",
    ";",
    "%3b",
    "=",
    "&",
    "+",
    "%20",
    "%ff",
    "%c3%a9",
    "%c3",
    "é",
    "%u0061",
    "%u002e",
    "%uD800",
    "%00",
    "::$DATA",
    ":",
    "?",
    "#",
    "a=",
    "&a=",
    "b=",
    "&b=",
    "%25",
    "%3F",
    "~",
    " ",
    "\t",
    "c",
    // Enough for the injection detectors to fire on some values and not others.
    "'",
    "' or '1'='1",
    "%27%20OR%201=1",
    "<script>",
    "<b>",
    "onerror=",
    "1;",
];

const METHODS: &[&str] = &["GET", "POST", "OPTIONS", "get", "options"];
const HEADERS: &[&str] = &[
    "x-a",
    "user-agent",
    "host",
    "cookie",
    "origin",
    "access-control-request-method",
    "authorization",
    "X-A",
];
const IPS: &[Option<&str>] = &[
    None,
    Some("10.1.2.3"),
    Some("10.0.0.1"),
    Some("::ffff:10.0.0.1"),
    Some("2001:db8::5"),
    Some("::1"),
    Some("192.168.1.1"),
    Some("8.8.8.8"),
];

/// Choices drawn from a byte string.
#[derive(Clone, Debug)]
pub struct Gen<'a> {
    bytes: &'a [u8],
}

impl<'a> Gen<'a> {
    /// Choices from `bytes`.
    #[must_use]
    pub fn new(bytes: &'a [u8]) -> Gen<'a> {
        Gen { bytes }
    }

    /// The next byte (0 past the end).
    pub fn byte(&mut self) -> u8 {
        match self.bytes.split_first() {
            Some((&b, rest)) => {
                self.bytes = rest;
                b
            }
            None => 0,
        }
    }

    /// One of `items` (the first past the end). `items` must not be empty.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        let i = usize::from(self.byte()) % items.len().max(1);
        items[i]
    }

    /// A number below `n` (at least 1).
    pub fn below(&mut self, n: u8) -> u8 {
        self.byte() % n.max(1)
    }

    /// A short string of [`ALPHABET`] pieces.
    pub fn text(&mut self, max_pieces: u8) -> String {
        let n = self.below(max_pieces + 1);
        (0..n).map(|_| self.pick(ALPHABET)).collect()
    }

    /// Whether the bytes are used up.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// A condition of at most `depth` levels of `and`/`or`/`not`.
pub fn condition(g: &mut Gen<'_>, depth: u8) -> String {
    let kind = if depth == 0 { g.below(4) } else { g.below(7) };
    match kind {
        0 => format!("{} {} \"{}\"", g.pick(TERMS), g.pick(OPS), g.pick(LITERALS)),
        1 => format!(
            "{} {} \"{}\"",
            g.pick(TERMS),
            g.pick(&["matches", "matches", "not matches"]),
            g.pick(REGEXES)
        ),
        2 => format!("{} {}", g.pick(TERMS), g.pick(LIST_OPS)),
        3 => g.pick(OTHER).to_string(),
        4 => format!("not ({})", condition(g, depth - 1)),
        5 => format!(
            "({} and {})",
            condition(g, depth - 1),
            condition(g, depth - 1)
        ),
        _ => format!(
            "({} or {})",
            condition(g, depth - 1),
            condition(g, depth - 1)
        ),
    }
}

/// A rule file: settings, the lists every generated predicate may name, and 1 to 8 rules.
pub fn rules_text(g: &mut Gen<'_>) -> String {
    let default = g.pick(&["allow", "forbid"]);
    let ambiguous = g.pick(&["rewrite", "forbid"]);
    let preflight_exempt = g.pick(&[true, false]);
    let windows = g.pick(&[false, false, true]);
    let mut t = format!(
        "[policy]\ndefault = \"{default}\"\nreveal = \"detail\"\non_ambiguous_path = \"{ambiguous}\"\npreflight_exempt = {preflight_exempt}\nwindows_paths = {windows}\n\n[lists]\nips = {{ kind = \"ip\", items = [\"10.0.0.0/8\", \"2001:db8::/32\", \"192.168.1.1\"] }}\np = {{ kind = \"pattern\", items = [\"a\", \"/b\", \"ba\", \"é\"] }}\npi = {{ kind = \"pattern\", items = [\"A\", \"B/\"], case = \"insensitive\" }}\ns = {{ kind = \"string\", items = [\"a\", \"/a\", \"GET\", \"admin\"] }}\nsi = {{ kind = \"string\", items = [\"A\", \"/A\", \"ADMIN\"], case = \"insensitive\" }}\nr = {{ kind = \"regex\", items = [\"a+\", \"^/b\", \"[0-9]\"] }}\n"
    );
    let n = 1 + g.below(8);
    for i in 0..n {
        let when = condition(g, 3);
        let action = g.pick(&["allow", "forbid", "forbid", "log", "rate_limit"]);
        let priority = g.pick(&[0, 0, 0, 1, -1]);
        t.push_str(&format!(
            "\n[[rule]]\nid = \"r{i}\"\nwhen = '{when}'\naction = \"{action}\"\npriority = {priority}\n"
        ));
        if action == "forbid" && g.below(4) == 0 {
            t.push_str("hide = true\n");
        }
        if g.below(5) == 0 {
            t.push_str("mode = \"shadow\"\n");
        }
        if g.below(3) == 0 {
            let points = g.pick(&["1", "2", "-1"]);
            t.push_str(&format!("score = {{ s = {points} }}\n"));
        }
        if g.below(4) == 0 {
            t.push_str(g.pick(&["labels = [\"l\"]\n", "labels = [\"m\", \"n\"]\n"]));
        }
        if action == "rate_limit" {
            let key = g.pick(&[
                "[\"ip\"]",
                "[\"header[\\\"x-a\\\"]\"]",
                "[\"auth.subject\"]",
            ]);
            t.push_str(&format!(
                "rate_limit = {{ key = {key}, limit = 2, period = \"1m\", burst = 2 }}\n"
            ));
        }
    }
    t
}

/// A request: method, target (origin or absolute form) with a path and query from
/// [`ALPHABET`], up to 5 headers (repeats allowed), an address, an identity, attributes,
/// a body now and then, an HTTP version or none, and the arrival time `t` seconds into
/// the run.
pub fn request(g: &mut Gen<'_>, t: u64) -> OwnedRequest {
    let method = g.pick(METHODS).to_string();
    let path = g.text(6);
    // Arguments often repeat, under spellings that decode to the same name.
    let query = (0..g.below(5))
        .map(|_| {
            let name = g.pick(&["a", "a", "b", "%61", "%ff", "A", "a+", ""]);
            let sep = g.pick(&["=", "=", "=", ""]);
            format!("{name}{sep}{}", g.text(3))
        })
        .collect::<Vec<_>>()
        .join("&");
    let scheme = g.pick(&["", "", "", "http://x.example", "https://a@X.example:8"]);
    let mut uri = format!("{scheme}/{path}");
    if !query.is_empty() {
        uri.push('?');
        uri.push_str(&query);
    }
    let mut headers: Vec<(String, String)> = (0..g.below(6))
        .map(|_| {
            let name = g.pick(HEADERS).to_string();
            let value = match name.as_str() {
                "host" => g
                    .pick(&["x.example", "X.example:8", "other.example", ""])
                    .to_string(),
                "cookie" => g
                    .pick(&["c=ab; d=1", "c=\"a\"", "d=1", "c=%61"])
                    .to_string(),
                _ => g.text(4),
            };
            (name, value)
        })
        .collect();
    let roles: Vec<&str> = (0..g.below(3))
        .map(|_| g.pick(&["a", "admin", "b", "A"]))
        .collect();
    let auth = match g.below(4) {
        0 => Auth::default(),
        1 => Auth {
            status: Some(AuthStatus::Invalid),
            ..Auth::default()
        },
        k => {
            let mut a = Auth::authenticated(if k == 2 { "a" } else { "ab" })
                .with_roles(roles.iter().copied())
                .with_scopes(roles.iter().copied());
            a.tenant = g.pick(&[None, Some("a"), Some("b")]).map(str::to_string);
            a
        }
    };
    let attrs = match g.below(3) {
        0 => Vec::new(),
        _ => vec![("k".to_string(), g.text(3))],
    };
    // A body, now and then, of every kind the processors read, well formed or not.
    let content_type = |headers: &mut Vec<(String, String)>, v: &str| {
        headers.push(("content-type".to_string(), v.to_string()));
    };
    let body = match g.below(8) {
        0 => {
            content_type(&mut headers, "application/x-www-form-urlencoded");
            Some(format!("a={}&b={}&{}", g.text(3), g.text(2), g.text(2)))
        }
        1 => {
            content_type(
                &mut headers,
                g.pick(&["application/json", "application/x+json"]),
            );
            let leaf = g
                .pick(&["1", "true", "null", "\"x\"", "[]", "{\"a\": 2}"])
                .to_string();
            Some(format!(
                "{{\"a\": \"{}\", \"b\": [{leaf}, {{\"a\": \"{}\"}}]{}",
                g.text(3),
                g.text(2),
                g.pick(&["}", "}", "", "}}"])
            ))
        }
        2 => {
            content_type(
                &mut headers,
                g.pick(&["multipart/form-data; boundary=zz", "multipart/form-data"]),
            );
            Some(format!(
                "--zz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n{}\r\n--zz\r\nContent-Disposition: form-data; name=\"f\"; filename=\"{}\"\r\n\r\nbytes\r\n--zz{}\r\n",
                g.text(3),
                g.text(2),
                g.pick(&["--", "--", ""])
            ))
        }
        3 => {
            content_type(&mut headers, g.pick(&["text/xml", "application/soap+xml"]));
            Some(format!(
                "<r a=\"{}\" xmlns=\"u\"><b>{}</b>{}",
                g.text(3),
                g.text(2),
                g.pick(&["</r>", "<![CDATA[a]]></r>", "", "</r><r/>", "&amp;</r>"])
            ))
        }
        4 => Some(g.text(4)),
        _ => None,
    };
    // Drawn last, so the choices before it stay where they were.
    let version = g
        .pick(&[
            None,
            Some("HTTP/1.1"),
            Some("HTTP/1.0"),
            Some("HTTP/2.0"),
            Some("a"),
        ])
        .map(str::to_string);
    // Drawn after everything else, for the same reason.
    let response = (g.below(3) > 0).then(|| OwnedAppResponse {
        status: g.pick(&[200, 404, 500, 503]),
        headers: vec![("X-A".to_string(), g.text(2))],
        body: (g.below(2) > 0).then(|| g.text(4).into_bytes()),
    });
    OwnedRequest {
        id: Some(format!("req-{t}")),
        client_ip: g.pick(IPS).and_then(portcullis_decide::parse_client_ip),
        method,
        uri,
        version,
        headers,
        auth,
        geo_country: g.pick(&[None, Some("a"), Some("DE")]).map(str::to_string),
        attrs,
        time: Some(Duration::from_secs(1_000_000 + t)),
        body: body.map(String::into_bytes),
        response,
    }
}

/// Everything a decision says, for comparing two evaluators: verdict, status, deciding
/// rule, the rules that matched, shadow hits, rate-limit state, why it was refused before any rule, the answer
/// allowed requests get (`RateLimit` headers) and the refusal (status, headers, body).
#[must_use]
pub fn summary(d: &Decision, req: &OwnedRequest) -> String {
    let shadow: Vec<(String, &str)> = d
        .shadow_hits()
        .map(|(r, a)| (r.id.clone(), a.name()))
        .collect();
    let matched: Vec<&str> = d.matched().map(|r| r.id.as_str()).collect();
    format!(
        "verdict {:?} status {} rule {:?} matched {:?} shadow {:?} rate {:?} malformed {:?} oversize {:?} allow {:?} response {:?}",
        d.verdict(),
        d.status(),
        d.rule_id(),
        matched,
        shadow,
        d.rate_limit(),
        d.malformed(),
        d.oversize(),
        d.allow_headers(),
        d.response(&req.view()),
    )
}

/// The oracle: the compiled evaluator and the reference decide identically on every
/// request, in order (so rate-limit sequences are compared too). `Err` says where not.
/// Rule sets over a compile limit are skipped (`Ok`); rule files that do not parse are
/// a generator bug (`Err`).
///
/// # Errors
///
/// Where the evaluators disagree, or the generator's bug, as above.
pub fn check(bytes: &[u8]) -> Result<(), String> {
    let mut g = Gen::new(bytes);
    let text = rules_text(&mut g);
    let rules = portcullis_rules::RuleSet::parse("gen.toml", &text)
        .map_err(|e| format!("generated rules must parse: {e}\n{text}"))?;
    let resumed = rules.clone();
    let (Ok(compiled), Ok(reference)) = (Policy::compile(rules.clone()), Policy::compile(rules))
    else {
        return Ok(());
    };
    let n = 1 + g.below(6);
    let reqs: Vec<_> = (0..u64::from(n)).map(|t| request(&mut g, t)).collect();
    // Three times over: the compiled program remembers, across requests, members that
    // matched nothing (learnt when offered a second time, used from the third).
    for req in reqs.iter().chain(&reqs).chain(&reqs) {
        let view = req.view();
        let (dc, dr) = (
            compiled.evaluate(&view),
            reference.evaluate_reference(&view),
        );
        let ev = |e: Vec<(&portcullis_rules::Rule, portcullis_decide::Evidence)>| {
            format!(
                "{:?}",
                e.into_iter()
                    .map(|(r, e)| (r.id.clone(), e))
                    .collect::<Vec<_>>()
            )
        };
        let a = summary(&dc, req) + " evidence " + &ev(dc.evidence(&view));
        let b = summary(&dr, req) + " evidence " + &ev(dr.evidence_reference(&view));
        if a != b {
            return Err(format!(
                "compiled and reference disagree\nrequest {req:?}\ncompiled  {a}\nreference {b}\nrules:\n{text}"
            ));
        }
    }
    if compiled.reads_response() {
        check_resumed(resumed, &reqs).map_err(|e| format!("{e}\nrules:\n{text}"))?;
    }
    Ok(())
}

/// Asked again with the response, after a first decision without it that allowed the
/// request, [`Policy::evaluate_after`] decides as evaluating the whole policy does. On a
/// policy of its own, whose rate limits the first decisions count.
fn check_resumed(rules: portcullis_rules::RuleSet, reqs: &[OwnedRequest]) -> Result<(), String> {
    let Ok(policy) = Policy::compile(rules) else {
        return Ok(());
    };
    for req in reqs.iter().filter(|r| r.response.is_some()) {
        let without = OwnedRequest {
            response: None,
            ..req.clone()
        };
        let first = policy.evaluate(&without.view());
        let view = req.view();
        let (resumed, whole) = (policy.evaluate_after(&view, &first), policy.evaluate(&view));
        let (a, b) = (summary(&resumed, req), summary(&whole, req));
        if a != b {
            return Err(format!(
                "resumed after the request's decision, and evaluated whole, disagree\nrequest {req:?}\nfirst   {}\nresumed {a}\nwhole   {b}",
                summary(&first, &without)
            ));
        }
    }
    Ok(())
}

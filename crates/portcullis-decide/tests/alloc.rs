//! Evaluation allocates nothing in the steady state, for allowed and refused requests alike.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use portcullis_decide::{Auth, Policy, Request, Verdict};
use portcullis_rules::RuleSet;

struct Counting;

thread_local! {
    // This thread's allocations only: the tests of this file run in parallel threads.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: defers to the system allocator; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const RULES: &str = r#"
[policy]
reveal = "detail"

[lists]
blocklist = { kind = "ip", items = ["192.0.2.0/24", "2001:db8:bad::/48"] }
scanners = { kind = "pattern", items = ["sqlmap", "nikto", "nmap"], case = "insensitive" }
secrets = { kind = "regex", items = ['\.(env|git)(/|$)', '\.bak$'] }

[[rule]]
id = "blocklist"
when = "ip in $blocklist"
action = "forbid"

[[rule]]
id = "scanners"
when = "user_agent contains_any $scanners or header[\"x-scanner\"] == \"1\""
action = "forbid"

[[rule]]
id = "secrets"
when = "path matches_any $secrets"
action = "forbid"
hide = true

[[rule]]
id = "admin"
when = 'path starts_with "/admin/" and not auth.roles has "admin"'
action = "forbid"

[[rule]]
id = "tenant"
when = 'path starts_with "/tenants/" and path_segment(1) != auth.tenant'
action = "forbid"

[[rule]]
id = "login"
when = 'method == "POST" and lower(path) == "/login" and len(query) < 100'
action = "rate_limit"
rate_limit = { key = ["ip"], limit = 1000000, period = "1s" }

[[rule]]
id = "old-clients"
when = 'request_line starts_with "GET /old/" and protocol != "HTTP/1.1"'
action = "forbid"

[[rule]]
id = "shadow-args"
when = 'arg["q"] contains "union" and cookie["s"] != "x"'
action = "forbid"
mode = "shadow"

[[rule]]
id = "selected"
when = 'lower(cookies[not /^__utm/]) contains "<script" or url_decode_uni(args[/^q/, not "qq"]) contains "drop table"'
action = "forbid"

[[rule]]
id = "counted"
when = 'count(args[not /^utm_/]) > 50 or count(headers["host"]) > 1'
action = "forbid"

[[rule]]
id = "modsec-fields"
when = 'uri contains "/cgi-bin/" or basename ends_with ".bak" or raw_uri starts_with "ftp:" or body.processor == "XML" or body.length > 100000'
action = "forbid"

[[rule]]
id = "some-not"
when = 'query_args[not /^utm_/] not matches "^[a-z0-9 ]*$"'
action = "forbid"
"#;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn evaluate_allocates_nothing_in_the_steady_state() {
    let policy =
        Policy::compile(RuleSet::parse("alloc.toml", RULES).expect("rules")).expect("compile");
    let ua = [
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        ),
        ("cookie", "s=y; t=1"),
    ];
    let scanner = [("user-agent", "Mozilla/5.0 sqlmap/1.8")];
    let analytics = [
        ("user-agent", "Mozilla/5.0 Firefox/128.0"),
        ("cookie", "__utmz=<script>; s=y"),
    ];
    let form = [
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
        ),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    let json = [
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
        ),
        ("content-type", "application/json"),
    ];
    let xml = [
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
        ),
        ("content-type", "application/soap+xml"),
    ];
    let viewer = Auth::authenticated("bob")
        .with_roles(["viewer"])
        .with_tenant("acme");
    let ip = "198.51.100.7".parse().expect("ip");
    let blocked = "2001:db8:bad::1".parse().expect("ip");
    let cases: Vec<(Request<'_>, Verdict)> = vec![
        (
            Request::new("GET", "/index.html?q=union+select")
                .client_ip(ip)
                .headers(&ua),
            Verdict::Allow,
        ),
        // `request_line` and `protocol`: the line is built in a reused buffer.
        (
            Request::new("GET", "/old/page?x=1")
                .version("HTTP/1.1")
                .client_ip(ip)
                .headers(&ua),
            Verdict::Allow,
        ),
        (
            Request::new("GET", "/old/page?x=1")
                .version("HTTP/1.0")
                .client_ip(ip)
                .headers(&ua),
            Verdict::Forbid,
        ),
        (
            Request::new("GET", "/tenants/acme/invoices")
                .client_ip(ip)
                .headers(&ua)
                .auth(&viewer),
            Verdict::Allow,
        ),
        (
            Request::new("POST", "/LOGIN")
                .client_ip(ip)
                .headers(&ua)
                .time(Duration::from_secs(1_000)),
            Verdict::Allow,
        ),
        (
            Request::new("GET", "/").client_ip(blocked).headers(&ua),
            Verdict::Forbid,
        ),
        (
            Request::new("GET", "/x").client_ip(ip).headers(&scanner),
            Verdict::Forbid,
        ),
        (
            Request::new("GET", "/app/.env").client_ip(ip).headers(&ua),
            Verdict::Forbid,
        ),
        (
            Request::new("GET", "/%61dmin/users")
                .client_ip(ip)
                .headers(&ua)
                .auth(&viewer),
            Verdict::Forbid,
        ),
        (
            Request::new("GET", "/tenants/globex/x")
                .client_ip(ip)
                .headers(&ua)
                .auth(&viewer),
            Verdict::Forbid,
        ),
        // Selected collections: names tested against the compiled selectors in place.
        (
            Request::new("GET", "/x?qs=drop%20table&qq=drop+table")
                .client_ip(ip)
                .headers(&ua),
            Verdict::Forbid,
        ),
        (
            Request::new("GET", "/x?qq=drop+table&utm_a=1")
                .client_ip(ip)
                .headers(&analytics),
            Verdict::Allow,
        ),
        // ModSecurity's fields (decoded in place) and `not matches` on each value: one
        // value failing, then several each scanned alone, none failing.
        (
            Request::new("GET", "/files/a.bak?x=%2F")
                .client_ip(ip)
                .headers(&ua),
            Verdict::Forbid,
        ),
        (
            Request::new("GET", "/p?a=x&b=y&c=Z!")
                .client_ip(ip)
                .headers(&ua),
            Verdict::Forbid,
        ),
        (
            Request::new("GET", "/p?a=x&b=y&utm_c=Z!")
                .client_ip(ip)
                .headers(&ua),
            Verdict::Allow,
        ),
        // Bodies a rule reads (`arg["q"]`): form, JSON and XML into reused buffers.
        (
            Request::new("POST", "/search")
                .client_ip(ip)
                .headers(&form)
                .body(b"q=union+select&page=2"),
            Verdict::Allow,
        ),
        (
            Request::new("POST", "/api/search")
                .client_ip(ip)
                .headers(&json)
                .body(br#"{"q": "union select", "filters": {"tags": ["a", "b"], "n": 2}}"#),
            Verdict::Allow,
        ),
        (
            Request::new("POST", "/api/soap")
                .client_ip(ip)
                .headers(&xml)
                .body(br#"<?xml version="1.0"?><e:Envelope xmlns:e="u"><e:Body><q a="1 &amp; 2">union select</q><![CDATA[x]]></e:Body></e:Envelope>"#),
            // `body.processor == "XML"`.
            Verdict::Forbid,
        ),
    ];
    // The counter works: the reference evaluator allocates.
    assert!(allocations_during(|| drop(policy.evaluate_reference(&cases[0].0))) > 0);
    // Each case warmed up right before it is measured: scratch buffers grow to their
    // working size, the rate-limit key is created, and its members are remembered (the
    // second time they are seen; members sharing a set of the table take turns in its two
    // entries, each growing to the largest it held, which takes a few rounds). The cases
    // before it may have taken its members' places.
    for (req, want) in &cases {
        for _ in 0..10 {
            assert_eq!(policy.evaluate(req).verdict(), *want, "{req:?}");
        }
        let n = allocations_during(|| {
            for _ in 0..100 {
                let d = policy.evaluate(req);
                assert_eq!(d.verdict(), *want);
            }
        });
        assert_eq!(n, 0, "{n} allocations evaluating {req:?}");
    }
}

/// The other per-decision cost that does not show as an allocation: a handle to the policy
/// is a counter every core writes. An allow by default refers to no rule and holds none.
#[test]
fn only_a_decision_that_refers_to_the_policy_holds_it() {
    let policy =
        Policy::compile(RuleSet::parse("alloc.toml", RULES).expect("rules")).expect("compile");
    let ua = [("user-agent", "curl/8.5"), ("cookie", "s=y")];
    let ip = "198.51.100.7".parse().expect("ip");
    let plain = policy.evaluate(&Request::new("GET", "/a").client_ip(ip).headers(&ua));
    assert_eq!(plain.verdict(), Verdict::Allow);
    assert!(plain.policy().is_none());
    assert_eq!(plain.routed_path("/a/../%62"), Some("/b".to_string()));
    let shadowed = policy.evaluate(&Request::new("GET", "/a?q=union").client_ip(ip).headers(&ua));
    assert_eq!(shadowed.verdict(), Verdict::Allow);
    assert_eq!(shadowed.shadow_hits().count(), 1);
    assert!(shadowed.policy().is_some());
    let refused = policy.evaluate(&Request::new("GET", "/.env").client_ip(ip).headers(&ua));
    assert_eq!(refused.rule_id(), Some("secrets"));
    assert!(refused.response(&Request::new("GET", "/.env")).is_some());
}

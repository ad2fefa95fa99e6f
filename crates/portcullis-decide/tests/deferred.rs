//! Rate limits counted by a store (`evaluate_deferred` + `Pending::resolve`) give the
//! decisions the in-process limiter gives, for any sequence of requests: the store here is
//! a second `RateLimiter` answering the checks in order, as the Redis script does.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use portcullis_decide::{Evaluation, LimitCheck, Policy, RateCheck, RateLimiter, Request, Verdict};
use portcullis_rules::RuleSet;
use proptest::prelude::*;

const RULES: &str = r#"
[policy]
reveal = "detail"

[[rule]]
id = "log-admin"
when = 'path starts_with "/admin"'
action = "log"

[[rule]]
id = "login-shadow"
when = 'path == "/login"'
action = "rate_limit"
mode = "shadow"
rate_limit = { key = ["ip"], limit = 2, period = "10s", burst = 1 }

[[rule]]
id = "login"
when = 'path == "/login"'
action = "rate_limit"
rate_limit = { key = ["ip"], limit = 3, period = "10s" }

[[rule]]
id = "audit-login"
when = 'path == "/login"'
action = "log"

[[rule]]
id = "per-net"
when = 'path starts_with "/"'
action = "rate_limit"
status = 503
rate_limit = { key = ["ip"], limit = 6, period = "5s", burst = 4, ipv4_prefix = 24 }

[[rule]]
id = "admin"
when = 'path starts_with "/admin"'
action = "forbid"
"#;

/// What a decision says, everything a client or the log sees.
fn summary(d: &portcullis_decide::Decision) -> String {
    let shadow: Vec<String> = d
        .shadow_hits()
        .map(|(r, a)| format!("{}:{a:?}", r.id))
        .collect();
    let matched: Vec<&str> = d.matched().map(|r| r.id.as_str()).collect();
    format!(
        "{:?} {:?} {matched:?} {} {:?} {:?} {:?}",
        d.verdict(),
        d.rule_id(),
        d.status(),
        d.rate_limit(),
        shadow,
        d.allow_headers()
    )
}

/// A store: counts the checks in order, stopping after the first exceeded enforced one.
fn answer(store: &RateLimiter, checks: &[LimitCheck]) -> Vec<Option<RateCheck>> {
    let mut out = Vec::new();
    for c in checks {
        let now = c.now_ns.unwrap_or(0);
        #[allow(clippy::cast_possible_truncation)]
        let r = store.check(c.key as u64, now, c.limit, c.period_ns, c.burst);
        out.push(Some(r));
        if c.enforce && !r.allowed {
            break;
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn a_store_answering_the_checks_decides_as_the_local_limiter(
        steps in prop::collection::vec((0u8..4, 0u8..3, 0u64..3_000), 1..80)
    ) {
        let local = Policy::compile(RuleSet::parse("t.toml", RULES).unwrap()).unwrap();
        let deferred = Policy::compile(RuleSet::parse("t.toml", RULES).unwrap()).unwrap();
        let store = RateLimiter::new(1000);
        let paths = ["/login", "/admin/x", "/", "/login?x=1"];
        let mut now_ms = 1_000_000u64;
        for (path, host, dt) in steps {
            now_ms += dt;
            let ip = IpAddr::V4(Ipv4Addr::new(198, 51, 100 + host / 2, host));
            let req = Request::new("POST", paths[usize::from(path)])
                .client_ip(ip)
                .time(Duration::from_millis(now_ms));
            let want = local.evaluate(&req);
            let got = match deferred.evaluate_deferred(&req, (7, 9)) {
                Evaluation::Done(d) => d,
                Evaluation::Pending(p) => {
                    let answers = answer(&store, p.checks());
                    p.resolve(&answers, false)
                }
            };
            prop_assert_eq!(summary(&want), summary(&got), "at {} ms", now_ms);
        }
    }
}

#[test]
fn keys_depend_on_the_seed_and_the_client_not_on_the_process() {
    let a = Policy::compile(RuleSet::parse("t.toml", RULES).unwrap()).unwrap();
    let b = Policy::compile(RuleSet::parse("t.toml", RULES).unwrap()).unwrap();
    let req =
        |ip: u8| Request::new("POST", "/login").client_ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, ip)));
    let keys = |p: &Policy, ip: u8, seed: (u64, u64)| -> Vec<u128> {
        match p.evaluate_deferred(&req(ip), seed) {
            Evaluation::Pending(p) => p.checks().iter().map(|c| c.key).collect(),
            Evaluation::Done(_) => Vec::new(),
        }
    };
    // Two policies (two servers) with one seed agree; three limits, three keys.
    let k = keys(&a, 1, (1, 2));
    assert_eq!(k.len(), 3);
    assert_eq!(k, keys(&b, 1, (1, 2)));
    assert_ne!(k, keys(&a, 2, (1, 2)));
    assert_ne!(k, keys(&a, 1, (1, 3)));
    // Without a request time the store's clock counts.
    let Evaluation::Pending(p) = a.evaluate_deferred(&req(1), (1, 2)) else {
        panic!("three limits apply");
    };
    assert!(p.checks().iter().all(|c| c.now_ns.is_none()));
    // A store that fails open counts nothing: the tentative decision stands, marked.
    let d = p.resolve(&[None, None, None], true);
    assert_eq!(d.verdict(), Verdict::Allow);
    assert!(d.rate_store_unavailable());
    assert!(d.rate_limit().is_none());
}

//! Concurrency: evaluation during reloads sees whole policies, and the rate limiter holds
//! its bound when many threads hit one key at once.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use portcullis::Engine;
use portcullis_decide::{Policy, Request, Verdict};
use portcullis_rules::RuleSet;

const A: &str = "[[rule]]\nid = \"a\"\nwhen = 'path starts_with \"/x\"'\naction = \"forbid\"\n\
    [[rule]]\nid = \"a-log\"\nwhen = 'true'\naction = \"log\"\n";
const B: &str = "[policy]\nreveal = \"reason\"\n\
    [[rule]]\nid = \"b\"\nwhen = 'path starts_with \"/x\"'\naction = \"forbid\"\nhide = true\n";

#[test]
fn evaluations_during_reloads_see_one_whole_policy() {
    let engine = Engine::from_str(A).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (engine, stop, seen) = (engine.clone(), Arc::clone(&stop), Arc::clone(&seen));
            std::thread::spawn(move || {
                let req = Request::new("GET", "/x/y");
                while !stop.load(Ordering::Relaxed) {
                    let d = engine.evaluate(&req);
                    // Every part of a decision comes from the same policy.
                    match d.rule_id() {
                        Some("a") => {
                            assert_eq!(d.status(), 403);
                            assert_eq!(d.shadow_hits().count(), 0, "a-log comes after a");
                            assert!(d.response(&req).is_some_and(|r| r.status == 403));
                            seen[0].fetch_add(1, Ordering::Relaxed);
                        }
                        Some("b") => {
                            assert_eq!(d.status(), 404);
                            assert!(d.response(&req).is_some_and(|r| r.status == 404));
                            seen[1].fetch_add(1, Ordering::Relaxed);
                        }
                        other => panic!("decided by {other:?}"),
                    }
                    assert!(d.policy().is_some_and(|p| p
                        .rules()
                        .rules
                        .iter()
                        .any(|r| Some(r.id.as_str()) == d.rule_id())));
                    let allowed = engine.evaluate(&Request::new("GET", "/other"));
                    assert_eq!(allowed.verdict(), Verdict::Allow);
                }
            })
        })
        .collect();
    for i in 0..300 {
        let next = if i % 2 == 0 { B } else { A };
        engine.reload_str(next).unwrap();
        // A reload that fails changes nothing.
        assert!(engine
            .reload_str("[[rule]]\nid = \"broken\"\nwhen = 'path ==='\naction = \"forbid\"\n")
            .is_err());
        let want = if i % 2 == 0 { "b" } else { "a" };
        assert_eq!(
            engine.evaluate(&Request::new("GET", "/x")).rule_id(),
            Some(want)
        );
        if i % 50 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("an evaluating thread panicked");
    }
    assert!(seen[0].load(Ordering::Relaxed) + seen[1].load(Ordering::Relaxed) > 0);
}

/// `threads` threads send `per_thread` requests each on one key, at times spread over
/// `span_ms` milliseconds from `start`; returns how many passed.
fn hammer(policy: &Policy, threads: usize, per_thread: u64, start_ms: u64, span_ms: u64) -> usize {
    let passed = AtomicUsize::new(0);
    let clock = AtomicU64::new(0);
    let total = per_thread * threads as u64;
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let ip = "2001:db8::1".parse().unwrap();
                for _ in 0..per_thread {
                    // A shared clock: request n arrives at start + n * span / total.
                    let n = clock.fetch_add(1, Ordering::Relaxed);
                    let t = Duration::from_millis(start_ms + n * span_ms / total);
                    let req = Request::new("POST", "/login").client_ip(ip).time(t);
                    let d = policy.evaluate(&req);
                    if d.is_allowed() {
                        passed.fetch_add(1, Ordering::Relaxed);
                    } else {
                        assert_eq!(
                            (d.verdict(), d.status(), d.rule_id()),
                            (Verdict::RateLimit, 429, Some("login"))
                        );
                    }
                }
            });
        }
    });
    passed.load(Ordering::Relaxed)
}

fn login_policy(limit: u32, burst: u32) -> Policy {
    let text = format!(
        "[[rule]]\nid = \"login\"\nwhen = 'path == \"/login\"'\naction = \"rate_limit\"\n\
         rate_limit = {{ key = [\"ip\"], limit = {limit}, period = \"1m\", burst = {burst} }}\n"
    );
    Policy::compile(RuleSet::parse("rl.toml", &text).unwrap()).unwrap()
}

#[test]
fn rate_limit_holds_under_concurrent_load_on_one_key() {
    let (limit, burst) = (10, 5);
    // All at once: only the burst passes.
    let p = login_policy(limit, burst);
    assert_eq!(hammer(&p, 8, 500, 1_000_000, 0), burst as usize);
    // Spread over one period: never more than limit + burst.
    let p = login_policy(limit, burst);
    let passed = hammer(&p, 8, 2000, 1_000_000, 59_999);
    assert!(
        passed <= (limit + burst) as usize,
        "{passed} passed in one period"
    );
    assert!(
        passed >= burst as usize + (limit as usize - 1),
        "{passed}: the limit was not honoured either way"
    );
    // Over ten periods: about limit per period, plus the burst once.
    let p = login_policy(limit, burst);
    let passed = hammer(&p, 8, 5000, 1_000_000, 600_000);
    assert!(
        passed <= (10 * limit + burst) as usize,
        "{passed} passed in ten periods"
    );
}

#[test]
fn rate_limit_state_survives_reloads_under_load() {
    let rules = "[[rule]]\nid = \"login\"\nwhen = 'path == \"/login\"'\naction = \"rate_limit\"\n\
        rate_limit = { key = [\"ip\"], limit = 3, period = \"1h\" }\n";
    let engine = Engine::from_str(rules).unwrap();
    let passed = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let req = Request::new("POST", "/login").client_ip("10.9.8.7".parse().unwrap());
                for _ in 0..200 {
                    passed.fetch_add(
                        usize::from(engine.evaluate(&req).is_allowed()),
                        Ordering::Relaxed,
                    );
                }
            });
        }
        s.spawn(|| {
            for _ in 0..50 {
                engine.reload_str(rules).unwrap();
            }
        });
    });
    // The same rule and limit keep their counter across reloads: 3 (the burst) in all.
    assert_eq!(passed.load(Ordering::Relaxed), 3);
}

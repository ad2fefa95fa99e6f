//! Rate limits shared through a real `redis-server` (started on 127.0.0.1 on a free port;
//! skipped, loudly, where none is installed, unless `PORTCULLIS_REQUIRE_REDIS` is set).

#![cfg(feature = "redis")]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis::store::{FailureMode, RedisOptions, RedisStore};
use portcullis::{Decision, Engine, Request, Verdict};
use portcullis_testgen::redis_server::{free_port, RedisCluster, RedisServer};

const RULES: &str = r#"
[policy]
reveal = "detail"

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
rate_limit = { key = ["ip"], limit = 5, period = "1m", burst = 5 }

[[rule]]
id = "per-net"
when = 'path starts_with "/"'
action = "rate_limit"
rate_limit = { key = ["ip"], limit = 7, period = "5s", burst = 4, ipv4_prefix = 24 }

[[rule]]
id = "by-token"
when = 'present(header["x-token"])'
action = "rate_limit"
rate_limit = { key = ['header["x-token"]'], limit = 1000, period = "1s" }
"#;

/// Options for tests about answers, not timing: a timeout a loaded machine cannot reach.
fn options() -> RedisOptions {
    RedisOptions {
        timeout: Duration::from_secs(2),
        ..RedisOptions::default()
    }
}

fn engine_with(store: RedisStore) -> Engine {
    Engine::builder()
        .rate_limit_store(store)
        .parse(RULES)
        .unwrap()
}

/// Everything a client and the log see of a decision.
fn seen(d: &Decision, req: &Request<'_>) -> String {
    let shadow: Vec<String> = d
        .shadow_hits()
        .map(|(r, a)| format!("{}:{a:?}", r.id))
        .collect();
    let response = d
        .response(req)
        .map(|r| format!("{} {:?}", r.status, r.headers));
    format!(
        "{:?} {:?} {} {:?} {:?} {:?} {response:?}",
        d.verdict(),
        d.rule_id(),
        d.status(),
        d.rate_limit(),
        shadow,
        d.allow_headers()
    )
}

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(198, 51, 100, last))
}

#[test]
fn one_sequence_both_stores_identical_answers() {
    let Some(server) = RedisServer::start("one_sequence_both_stores_identical_answers") else {
        return;
    };
    let shared = engine_with(RedisStore::connect(&server.url(), options()).unwrap());
    same_answers_as_in_process(&shared);
}

#[test]
fn a_cluster_gives_the_same_answers() {
    let Some(cluster) = RedisCluster::start("a_cluster_gives_the_same_answers") else {
        return;
    };
    let store = RedisStore::connect_cluster(&cluster.urls(), options()).unwrap();
    same_answers_as_in_process(&engine_with(store));
    // The keys are spread over the nodes.
    let per_node: Vec<usize> = cluster
        .nodes()
        .iter()
        .map(|n| {
            let info = n.command(&["DBSIZE"]).unwrap();
            info.trim_start_matches(':').trim().parse().unwrap()
        })
        .collect();
    assert!(
        per_node.iter().filter(|n| **n > 0).count() >= 2,
        "{per_node:?}"
    );
}

/// Drives one sequence of requests (limits reached, shadow limits exceeded, three limits on
/// one request) through `shared` and through an in-process engine: identical answers.
fn same_answers_as_in_process(shared: &Engine) {
    let local = Engine::from_str(RULES).unwrap();
    let paths = ["/login", "/", "/login", "/other", "/login"];
    // Times in whole milliseconds (the store counts in microseconds).
    let mut now_ms = 1_700_000_000_000u64;
    let mut refused = 0;
    for i in 0..300u64 {
        now_ms += (i * 7919) % 1_700;
        let path = paths[usize::try_from(i % 5).unwrap()];
        let mut req = Request::new("POST", path)
            .client_ip(ip(u8::try_from(i % 3).unwrap()))
            .time(Duration::from_millis(now_ms));
        req.id = Some("r-1");
        let want = local.evaluate(&req);
        let got = shared.evaluate(&req);
        assert!(!got.rate_store_unavailable(), "request {i}");
        assert_eq!(
            seen(&want, &req),
            seen(&got, &req),
            "request {i} at {now_ms} ms"
        );
        refused += usize::from(!want.is_allowed());
    }
    assert!(
        refused > 20,
        "the sequence reaches the limits: {refused} refused"
    );
}

#[test]
fn a_fleet_of_engines_never_lets_more_than_limit_plus_burst_through() {
    let Some(server) =
        RedisServer::start("a_fleet_of_engines_never_lets_more_than_limit_plus_burst_through")
    else {
        return;
    };
    let rules = r#"
        [[rule]]
        id = "login"
        when = 'path == "/login"'
        action = "rate_limit"
        rate_limit = { key = ["ip"], limit = 5, period = "1m", burst = 5 }

        [[rule]]
        id = "by-token"
        when = 'present(header["x-token"])'
        action = "rate_limit"
        rate_limit = { key = ['header["x-token"]'], limit = 1000, period = "1s" }
    "#;
    // Four servers, as four engines each with its own store (connection, runtime).
    let engines: Vec<Engine> = (0..4)
        .map(|_| {
            let store = RedisStore::connect(&server.url(), options()).unwrap();
            Engine::builder()
                .rate_limit_store(store)
                .parse(rules)
                .unwrap()
        })
        .collect();
    let allowed = Arc::new(AtomicUsize::new(0));
    let quiet_refused = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..8 {
            let engine = engines[t % 4].clone();
            let allowed = Arc::clone(&allowed);
            let quiet_refused = Arc::clone(&quiet_refused);
            s.spawn(move || {
                for n in 0..150 {
                    // Everyone hammers one client's login limit (5 a minute, burst 5)...
                    let req = Request::new("POST", "/login").client_ip(ip(7));
                    let d = engine.evaluate(&req);
                    assert!(!d.rate_store_unavailable());
                    if d.is_allowed() {
                        allowed.fetch_add(1, Ordering::Relaxed);
                    }
                    // ...while a quiet client (a token used 8 x 10 times, far below its
                    // 1000 a second) is never refused.
                    if t < 4 && n % 15 == 0 {
                        let token = [("x-token", format!("quiet-{t}"))];
                        let q = Request::new("GET", "/x")
                            .client_ip(ip(200 + u8::try_from(t).unwrap()))
                            .headers(&token);
                        if !engine.evaluate(&q).is_allowed() {
                            quiet_refused.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    let elapsed = started.elapsed();
    let allowed = allowed.load(Ordering::Relaxed);
    // GCRA: at most burst + elapsed / T (T = 12 s) in any window.
    let most = 5 + usize::try_from(elapsed.as_secs() / 12).unwrap();
    assert!(
        allowed <= most,
        "{allowed} allowed in {elapsed:?}, at most {most}"
    );
    assert_eq!(allowed, 5, "the burst is used in full");
    assert_eq!(quiet_refused.load(Ordering::Relaxed), 0);
}

#[test]
fn redis_killed_then_restarted_answers_within_the_timeout_then_shares_again() {
    let Some(mut server) = RedisServer::start("redis_killed_then_restarted") else {
        return;
    };
    let opts = RedisOptions {
        timeout: Duration::from_millis(20),
        breaker_failures: 2,
        breaker_cooldown: Duration::from_millis(200),
        failure_mode: FailureMode::Local { instances: 2 },
        ..RedisOptions::default()
    };
    let store = RedisStore::connect(&server.url(), opts).unwrap();
    let engine = engine_with(store.clone());
    let req = |last: u8| Request::new("GET", "/").client_ip(ip(last));
    // The first call loads the script (three round trips): let it succeed once.
    let deadline = Instant::now() + Duration::from_secs(10);
    while engine.evaluate(&req(1)).rate_store_unavailable() {
        assert!(Instant::now() < deadline, "the store never answered");
    }

    server.kill();
    let mut slowest = Duration::ZERO;
    let mut answered = Vec::new();
    for i in 0..40u8 {
        let t = Instant::now();
        let d = engine.evaluate(&req(100 + (i % 2)));
        slowest = slowest.max(t.elapsed());
        assert!(
            d.rate_store_unavailable(),
            "request {i} while Redis is down"
        );
        answered.push(d.is_allowed());
    }
    // Every request answered within the timeout (and a margin for a loaded machine); the
    // circuit opened, so most did not even wait.
    assert!(slowest < Duration::from_millis(500), "slowest {slowest:?}");
    assert!(store.circuit_open());
    // The local share: per-net limit 7/5 s with burst 4, halved: burst 2 for the /24.
    assert_eq!(answered.iter().filter(|a| **a).count(), 2, "{answered:?}");

    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let d = engine.evaluate(&req(50));
        if !d.rate_store_unavailable() {
            break;
        }
        assert!(Instant::now() < deadline, "the store never came back");
    }
    assert!(!store.circuit_open());
    // Limits are enforced in Redis again: the burst of 4 for the /24, then refusals.
    let verdicts: Vec<Verdict> = (0..6)
        .map(|_| engine.evaluate(&req(51)).verdict())
        .collect();
    assert_eq!(
        verdicts
            .iter()
            .filter(|v| **v == Verdict::RateLimit)
            .count(),
        3,
        "{verdicts:?}"
    );
}

#[test]
fn failing_open_or_closed_while_redis_is_down() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    for (mode, want) in [
        (FailureMode::Open, Verdict::Allow),
        (FailureMode::Closed, Verdict::RateLimit),
    ] {
        let opts = RedisOptions {
            timeout: Duration::from_millis(20),
            failure_mode: mode,
            ..RedisOptions::default()
        };
        let engine = engine_with(RedisStore::connect_lazy(&url, opts).unwrap());
        let req = Request::new("GET", "/").client_ip(ip(9));
        for _ in 0..5 {
            let d = engine.evaluate(&req);
            assert_eq!(d.verdict(), want, "{mode:?}");
            assert!(d.rate_store_unavailable());
            if want == Verdict::RateLimit {
                let r = d.response(&req).unwrap();
                assert_eq!(r.status, 429);
                assert!(r
                    .headers
                    .iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case("retry-after")));
            }
        }
    }
}

#[test]
fn bad_urls_and_unreachable_servers_are_clear_errors() {
    for url in ["not a url", "http://127.0.0.1:6379", "redis://"] {
        let e = RedisStore::connect(url, options());
        assert!(e.is_err(), "{url}");
    }
    let port = free_port();
    let e = RedisStore::connect(&format!("redis://127.0.0.1:{port}"), options()).unwrap_err();
    assert!(e.to_string().contains(&port.to_string()), "{e}");
    let bad = RedisOptions {
        prefix: String::new(),
        ..options()
    };
    assert!(RedisStore::connect_lazy("redis://127.0.0.1:1", bad).is_err());
}

#[test]
fn client_text_never_becomes_a_key_and_keys_are_bounded() {
    let Some(server) = RedisServer::start("client_text_never_becomes_a_key") else {
        return;
    };
    let rules = r#"
        [[rule]]
        id = "by-token"
        when = 'present(header["x-token"])'
        action = "rate_limit"
        rate_limit = { key = ['header["x-token"]'], limit = 10, period = "10s" }
    "#;
    let store = RedisStore::connect(&server.url(), options()).unwrap();
    let engine = Engine::builder()
        .rate_limit_store(store)
        .parse(rules)
        .unwrap();
    let long = "x".repeat(6000);
    let odd = "{}\r\n*1\r\n$4\r\nPING\r\n\u{0}\u{7f}é".to_string();
    for token in [long, odd, "a".to_string()] {
        let pairs = [("x-token", token)];
        let req = Request::new("GET", "/").client_ip(ip(3)).headers(&pairs);
        assert!(!engine.evaluate(&req).rate_store_unavailable());
    }
    let keys = server.command(&["KEYS", "*"]).unwrap();
    let names: Vec<&str> = keys
        .lines()
        .filter(|l| !l.starts_with(['*', '$']))
        .collect();
    assert_eq!(names.len(), 3, "{keys}");
    for k in names {
        // `portcullis:{` + 32 hex digits + `}`.
        assert!(k.starts_with("portcullis:{") && k.len() == 45, "{k}");
        let ttl = server.command(&["PTTL", k]).unwrap();
        let ms: i64 = ttl.trim_start_matches(':').trim().parse().unwrap();
        // Every key expires, once its client is back to a full burst: one emission
        // interval (1 s) after its one request.
        assert!(ms > 0 && ms <= 1_001, "{k}: {ttl}");
    }
}

#[test]
fn a_server_answering_garbage_is_an_unavailable_store_not_a_panic() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for (n, conn) in listener.incoming().enumerate() {
            let Ok(mut c) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let reply: &[u8] = match n % 3 {
                0 => b"-ERR something odd\r\n",
                1 => b"*1\r\n*2\r\n:1\r\n:2\r\n",
                _ => b"\x00\xffgarbage\r\n",
            };
            let _ = c.write_all(reply);
        }
    });
    let engine = engine_with(
        RedisStore::connect_lazy(&format!("redis://127.0.0.1:{port}"), options()).unwrap(),
    );
    let req = Request::new("GET", "/").client_ip(ip(4));
    for _ in 0..6 {
        let d = engine.evaluate(&req);
        assert!(d.rate_store_unavailable());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluate_async_waits_without_blocking_the_runtime() {
    let Some(server) = RedisServer::start("evaluate_async_waits_without_blocking_the_runtime")
    else {
        return;
    };
    let engine = engine_with(RedisStore::connect_lazy(&server.url(), options()).unwrap());
    let mut verdicts = Vec::new();
    for _ in 0..6 {
        let req = Request::new("POST", "/login").client_ip(ip(8));
        let d = engine.evaluate_async(&req).await;
        assert!(!d.rate_store_unavailable());
        verdicts.push(d.verdict());
    }
    // The per-net burst (4) ends first.
    assert_eq!(
        verdicts,
        [
            Verdict::Allow,
            Verdict::Allow,
            Verdict::Allow,
            Verdict::Allow,
            Verdict::RateLimit,
            Verdict::RateLimit
        ]
    );
}

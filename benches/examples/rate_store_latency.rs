//! What a shared rate-limit store adds per decision: p50 / p99 latency of decisions that
//! reach rate limits, in process and through a local `redis-server` (started here on a free
//! port), and the round trips per request (Redis's own count of script calls).
//!
//! ```sh
//! cargo run --release -p portcullis-benches --example rate_store_latency [REQUESTS]
//! ```

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use portcullis::store::{RedisOptions, RedisStore};
use portcullis::{Engine, Request};
use portcullis_testgen::redis_server::{RedisCluster, RedisServer};

const RULES: &str = r#"
[[rule]]
id = "per-ip"
when = 'path starts_with "/"'
action = "rate_limit"
rate_limit = { key = ["ip"], limit = 1000000, period = "1s" }

[[rule]]
id = "per-net"
when = 'path starts_with "/api/"'
action = "rate_limit"
rate_limit = { key = ["ip"], limit = 1000000, period = "1s", ipv4_prefix = 24 }

[[rule]]
id = "login"
when = 'path == "/api/login"'
action = "rate_limit"
rate_limit = { key = ["ip"], limit = 1000000, period = "1m" }
"#;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let Some(server) = RedisServer::start("rate_store_latency") else {
        return;
    };
    let local = Engine::from_str(RULES).expect("rules");
    let options = || RedisOptions {
        timeout: Duration::from_millis(100),
        ..RedisOptions::default()
    };
    let store = RedisStore::connect(&server.url(), options()).expect("redis");
    let shared = Engine::builder()
        .rate_limit_store(store)
        .parse(RULES)
        .expect("rules");
    let cluster = RedisCluster::start("rate_store_latency").expect("redis-server is there");
    let store = RedisStore::connect_cluster(&cluster.urls(), options()).expect("redis cluster");
    let clustered = Engine::builder()
        .rate_limit_store(store)
        .parse(RULES)
        .expect("rules");
    println!("{n} decisions per row, one client address each of 65,536, sequential");
    println!(
        "{:<38} {:>9} {:>9} {:>9} {:>12}",
        "", "p50", "p99", "mean", "round trips"
    );
    for (path, limits) in [("/", 1), ("/api/login", 3)] {
        for (name, engine) in [
            ("in process", &local),
            ("redis (loopback)", &shared),
            ("redis cluster, 3 masters", &clustered),
        ] {
            let nodes = std::iter::once(&server).chain(cluster.nodes());
            let before: u64 = nodes.clone().map(script_calls).sum();
            let mut times = Vec::with_capacity(n);
            for i in 0..n {
                let b = u16::try_from(i % 65_536).unwrap_or(0).to_be_bytes();
                let ip = IpAddr::V4(Ipv4Addr::new(10, 1, b[0], b[1]));
                let req = Request::new("GET", path).client_ip(ip);
                let t = Instant::now();
                let d = engine.evaluate(&req);
                times.push(t.elapsed());
                assert!(d.is_allowed() && !d.rate_store_unavailable());
            }
            let trips = nodes.map(script_calls).sum::<u64>() - before;
            times.sort_unstable();
            let mean = times.iter().sum::<Duration>() / u32::try_from(n).unwrap_or(1);
            println!(
                "{:<38} {:>9.1?} {:>9.1?} {:>9.1?} {:>12.2}",
                format!("{name}, {limits} limit(s)"),
                times[n / 2],
                times[n * 99 / 100],
                mean,
                trips as f64 / n as f64
            );
        }
    }
}

/// Script calls Redis has served (`INFO commandstats`: evalsha, and eval after a NOSCRIPT).
fn script_calls(server: &RedisServer) -> u64 {
    let info = server
        .command(&["INFO", "commandstats"])
        .unwrap_or_default();
    info.lines()
        .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
        .filter_map(|l| {
            let calls = l.split("calls=").nth(1)?;
            calls.split(',').next()?.parse::<u64>().ok()
        })
        .sum()
}

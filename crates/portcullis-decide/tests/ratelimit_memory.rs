//! A million distinct IPv6 addresses hit a rate-limited rule: the limiter keeps at most
//! `rate_limit_max_keys` keys and the heap stays flat once it is full. Its own test binary,
//! so the counting allocator sees nothing else.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use portcullis_decide::{Policy, Request};
use portcullis_rules::RuleSet;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static A: Counting = Counting;

#[test]
fn a_million_ipv6_addresses_stay_under_the_key_cap() {
    const CAP: usize = 10_000;
    let text = format!(
        "[policy]\nrate_limit_max_keys = {CAP}\n\
         [[rule]]\nid = \"api\"\nwhen = 'path starts_with \"/api\"'\naction = \"rate_limit\"\n\
         rate_limit = {{ key = [\"ip\"], limit = 100, period = \"1h\", ipv6_prefix = 128 }}\n"
    );
    let policy = Policy::compile(RuleSet::parse("rl.toml", &text).unwrap()).unwrap();
    let limiter = std::sync::Arc::clone(policy.limiter());
    let base = 0x2001_0db8_u128 << 96;
    let run = |from: u64, to: u64| {
        for i in from..to {
            // Spread over the whole /32, as an attacker rotating addresses would.
            let ip = IpAddr::V6(Ipv6Addr::from(
                base | u128::from(i.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            ));
            let req = Request::new("GET", "/api/x")
                .client_ip(ip)
                .time(Duration::from_secs(1_000_000));
            assert!(policy.evaluate(&req).is_allowed());
        }
    };
    run(0, 100_000);
    let full = LIVE.load(Ordering::Relaxed);
    let max_keys = CAP.div_ceil(16) * 16;
    assert!(limiter.len() <= max_keys, "{} keys", limiter.len());
    std::thread::scope(|s| {
        let threads = [
            s.spawn(|| run(100_000, 550_000)),
            s.spawn(|| run(550_000, 1_000_000)),
        ];
        // Joined, not left to the scope's end: a scope may return before its threads have
        // dropped their thread-local scratch (half a megabyte each, counted as growth).
        for t in threads {
            t.join().expect("no panic");
        }
    });
    assert!(
        limiter.len() <= max_keys,
        "{} keys after a million addresses",
        limiter.len()
    );
    let grown = LIVE.load(Ordering::Relaxed) - full;
    // The map is full after the first 100,000; what it holds afterwards is the same size,
    // give or take a rehash.
    assert!(
        grown < 1 << 20,
        "heap grew by {grown} bytes after the limiter was full"
    );
}

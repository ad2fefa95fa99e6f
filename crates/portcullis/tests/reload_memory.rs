//! Memory stays flat across 1,000 reloads: a counting global allocator tracks the bytes
//! alive, and the resident set size is checked too.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use portcullis::{Engine, Request};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call to `System` unchanged; only counts the bytes alive.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Resident set size in bytes, from /proc (None elsewhere).
fn rss() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// A rule set of some weight: an IP list, pattern lists, a rate limit.
fn rules(gen: usize) -> String {
    let nets: Vec<String> = (0..500)
        .map(|i| format!("\"10.{}.{}.0/24\"", i / 250, i % 250))
        .collect();
    let words: Vec<String> = (0..200).map(|i| format!("\"bot-{gen}-{i}\"")).collect();
    format!(
        r#"
[lists]
nets = {{ kind = "ip", items = [{nets}] }}
bots = {{ kind = "pattern", items = [{words}], case = "insensitive" }}

[[rule]]
id = "bots"
when = 'user_agent contains_any $bots or path matches "^/wp-(admin|login)"'
action = "forbid"

[[rule]]
id = "nets"
when = 'ip in $nets and path starts_with "/internal/"'
action = "forbid"

[[rule]]
id = "login"
when = 'method == "POST" and path == "/login"'
action = "rate_limit"
rate_limit = {{ key = ["ip"], limit = 5, period = "1m" }}
"#,
        nets = nets.join(", "),
        words = words.join(", ")
    )
}

// One test function: the harness allocates on other threads while tests run.
#[test]
fn memory_stays_flat_across_1000_reloads() {
    let texts: Vec<String> = (0..4).map(rules).collect();
    let engine = Engine::from_str(&texts[0]).unwrap();
    let headers = [("user-agent", "Mozilla/5.0")];
    let ip = "10.0.0.1".parse().unwrap();
    let cycle = |n: usize| {
        for i in 0..n {
            engine.reload_str(&texts[i % texts.len()]).unwrap();
            let req = Request::new("POST", "/login")
                .client_ip(ip)
                .headers(&headers);
            let _ = engine.evaluate(&req);
        }
    };
    // Warm up: thread-local scratch, the limiter's maps, allocator caches.
    cycle(50);
    let (live_before, rss_before) = (live(), rss());
    cycle(1000);
    let (live_after, rss_after) = (live(), rss());

    let one_policy = {
        let before = live();
        let other = Engine::from_str(&texts[1]).unwrap();
        let size = live() - before;
        drop(other);
        size
    };
    let grown = live_after - live_before;
    eprintln!(
        "live heap {live_before} -> {live_after} bytes, RSS {rss_before:?} -> {rss_after:?}, one policy {one_policy} bytes"
    );
    // A leaked policy per reload would grow by 1,000 policies; allow a few policies'
    // worth of slack for scratch space resized to the largest policy seen.
    assert!(
        grown < 2 * one_policy.max(64 * 1024),
        "live heap grew by {grown} bytes over 1,000 reloads (one policy is {one_policy} bytes)"
    );
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        let grown = after.saturating_sub(before);
        assert!(
            grown < 64 << 20,
            "RSS grew by {} MiB over 1,000 reloads",
            grown >> 20
        );
    }
}

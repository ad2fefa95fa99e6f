//! With a rate-limit store, a request that reaches no rate limit is decided as without one:
//! synchronously and without allocating (no server is needed to show it: the store is
//! never asked).

#![cfg(feature = "redis")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr};

use portcullis::store::{RedisOptions, RedisStore};
use portcullis::{Engine, Request};

struct Counting;

thread_local! {
    // This thread's allocations only: the store's own runtime thread (trying to connect
    // in the background) is not the request's path.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
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

#[test]
fn requests_that_reach_no_limit_allocate_nothing() {
    let rules = r#"
        [[rule]]
        id = "login"
        when = 'path == "/login"'
        action = "rate_limit"
        rate_limit = { key = ["ip"], limit = 5, period = "1m" }

        [[rule]]
        id = "admin"
        when = 'path starts_with "/admin"'
        action = "forbid"
    "#;
    let store = RedisStore::connect_lazy("redis://127.0.0.1:1", RedisOptions::default()).unwrap();
    let engine = Engine::builder()
        .rate_limit_store(store)
        .parse(rules)
        .unwrap();
    let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let allowed = Request::new("GET", "/index.html").client_ip(ip);
    let refused = Request::new("GET", "/admin/users").client_ip(ip);
    // Warm up: thread-local scratch, lazily built state.
    for _ in 0..10 {
        let _ = engine.evaluate(&allowed);
        let _ = engine.evaluate(&refused);
    }
    let before = allocations();
    for _ in 0..1000 {
        assert!(engine.evaluate(&allowed).is_allowed());
        assert!(!engine.evaluate(&refused).is_allowed());
    }
    assert_eq!(allocations() - before, 0);
}

//! Scans and lookups allocate nothing once warm: a counting global
//! allocator proves it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use portcullis_match::{IpTableBuilder, PatternId, PatternKind, ScannerBuilder};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to `System` unchanged; only counts them.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.load(Ordering::Relaxed)
}

// One test function: the test harness itself allocates on other threads
// while tests run, so two tests in this binary would count each other.
#[test]
fn scans_and_lookups_do_not_allocate_once_warm() {
    // --- IP table
    let mut builder = IpTableBuilder::new();
    for (i, net) in [
        "10.0.0.0/8",
        "10.1.2.0/24",
        "192.0.2.7/32",
        "2001:db8::/32",
        "::/0",
    ]
    .iter()
    .enumerate()
    {
        builder.insert(net.parse().unwrap(), i as u32);
    }
    let table = builder.build();
    let ips: Vec<std::net::IpAddr> = [
        "10.1.2.3",
        "192.0.2.7",
        "2001:db8::1",
        "::ffff:10.1.2.3",
        "8.8.8.8",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();

    // --- scanner with every kind, case-sensitive and not
    let scanner = ScannerBuilder::new()
        .add(PatternId::new(0), PatternKind::Contains, "bot", true)
        .add(
            PatternId::new(1),
            PatternKind::StartsWith,
            "Mozilla/",
            false,
        )
        .add(
            PatternId::new(2),
            PatternKind::EndsWith,
            "Safari/537.36",
            false,
        )
        .add(PatternId::new(3), PatternKind::Equals, "curl", true)
        .add(
            PatternId::new(4),
            PatternKind::Regex,
            r"(?:sqlmap|nikto)/\d+",
            true,
        )
        .add(
            PatternId::new(5),
            PatternKind::Regex,
            r"Chrome/1[0-9]{2}\.",
            false,
        )
        .add(PatternId::new(6), PatternKind::Regex, r"\bwget\b", false)
        .add(PatternId::new(7), PatternKind::Contains, "", false)
        .build()
        .unwrap();
    let haystacks = [
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        "sqlmap/1.7.2#stable (https://sqlmap.org)",
        "CURL",
        "Wget/1.21 wget",
        "Googlebot/2.1 (+http://www.google.com/bot.html)",
        "",
    ];
    let mut scratch = scanner.scratch();
    let mut out = scanner.match_set();

    let mut run = || {
        let mut total = 0usize;
        for ip in &ips {
            total += table.lookup(*ip).iter().count();
        }
        for hay in &haystacks {
            out.clear();
            scanner.scan(hay, &mut scratch, &mut out);
            total += out.iter().count();
        }
        total
    };
    // Warm up: the lazy DFA fills its cache on first use.
    let expected = run();
    run();

    let before = allocations();
    for _ in 0..100 {
        assert_eq!(run(), expected);
    }
    let after = allocations();
    assert_eq!(
        after - before,
        0,
        "scans and lookups allocated {} times",
        after - before
    );
}

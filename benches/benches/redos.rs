//! `redos`: the classic catastrophic-backtracking patterns, evaluated over inputs of
//! 1 KB, 10 KB and 100 KB. A backtracking engine takes exponential (or degree-12
//! polynomial) time on these inputs; portcullis's time grows linearly with the input
//! length: compare the `time` of the three sizes of one pattern (criterion's throughput
//! column stays about flat).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use portcullis_decide::{Policy, Request};
use portcullis_rules::RuleSet;

/// Builds the worst-case input of `n` bytes: the almost-match a backtracker explores.
type Input = fn(usize) -> String;

/// (name, pattern, worst-case input).
const PATTERNS: &[(&str, &str, Input)] = &[
    ("nested_plus", "(a+)+$", |n| {
        format!("{}!", "a".repeat(n - 1))
    }),
    ("x_plus_x_plus", "(x+x+)+y", |n| "x".repeat(n)),
    ("overlapping_alt", "(a|aa)+b", |n| "a".repeat(n)),
    ("dot_star_12", "(.*a){12}$", |n| {
        format!("{}!", "a".repeat(n - 1))
    }),
];

fn redos(c: &mut Criterion) {
    let mut g = c.benchmark_group("redos");
    g.sample_size(20);
    for &(name, pattern, input) in PATTERNS {
        // Request limits raised so the 100 KB requests reach the rule.
        let text = format!(
            "[policy]\nmax_header_bytes = 1000000\n\
             [[rule]]\nid = \"{name}\"\nwhen = 'user_agent matches \"{pattern}\"'\naction = \"forbid\"\n"
        );
        let rules = RuleSet::parse("redos.toml", &text).expect("rules parse");
        let policy = Policy::compile(rules).expect("rules compile");
        for n in [1024, 10 * 1024, 100 * 1024] {
            let ua = input(n);
            let headers = [("user-agent", ua.as_str())];
            let req = Request::new("GET", "/").headers(&headers);
            assert!(
                policy.evaluate(&req).is_allowed(),
                "{name}: the worst-case input must not match"
            );
            g.throughput(Throughput::Bytes(n as u64));
            g.bench_function(BenchmarkId::new(name, n), |b| {
                b.iter(|| std::hint::black_box(policy.evaluate(&req)))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, redos);
criterion_main!(benches);

//! `compile`: parse and compile time for 1k and 10k rules, and for a full-table-sized IP
//! list.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use portcullis_benches::corpus::{self, Rng};
use portcullis_benches::policies;
use portcullis_decide::Policy;
use portcullis_rules::RuleSet;

fn compile(c: &mut Criterion) {
    let mut g = c.benchmark_group("compile");
    g.sample_size(10);
    for n in [1_000, 10_000] {
        let text = policies::many_rules(n, &mut Rng::new(n as u64));
        g.bench_function(BenchmarkId::new("parse", n), |b| {
            b.iter(|| RuleSet::parse("gen.toml", &text).expect("parses"))
        });
        let rules = RuleSet::parse("gen.toml", &text).expect("parses");
        g.bench_function(BenchmarkId::new("compile", n), |b| {
            b.iter(|| Policy::compile(rules.clone()).expect("compiles"))
        });
    }
    // A full routing table as one IP list, read from a list file as operators would.
    let (table, _) = corpus::routing_table();
    let dir = std::env::temp_dir().join(format!("portcullis-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let list: String = table.iter().map(|n| format!("{n}\n")).collect();
    std::fs::write(dir.join("table.txt"), list).expect("write list");
    std::fs::write(
        dir.join("rules.toml"),
        "[lists]\ntable = { kind = \"ip\", file = \"table.txt\" }\n\n[[rule]]\nid = \"t\"\nwhen = 'ip in $table'\naction = \"forbid\"\n",
    )
    .expect("write rules");
    let path = dir.join("rules.toml");
    g.bench_function(BenchmarkId::new("load_and_compile", "full_table"), |b| {
        b.iter(|| Policy::compile(RuleSet::load(&[&path]).expect("loads")).expect("compiles"))
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, compile);
criterion_main!(benches);

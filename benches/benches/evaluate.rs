//! `evaluate`: ns per decision, compiled program against the reference evaluator, on the
//! starter pack, a large generated policy, the small rule set an operator writes first and
//! a policy without rules (the floor), over realistic request mixes; and how decisions per
//! second scale from one thread to two on the small rule set.

use std::path::Path;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use portcullis_benches::corpus::Rng;
use portcullis_benches::{note, policies};
use portcullis_decide::{OwnedRequest, Policy, Request};
use portcullis_rules::RuleSet;

const REQUESTS: usize = 1000;

fn run(c: &mut Criterion, name: &str, policy: &Policy, requests: &[OwnedRequest]) {
    let views: Vec<Request<'_>> = requests.iter().map(OwnedRequest::view).collect();
    let mut g = c.benchmark_group("evaluate");
    g.throughput(Throughput::Elements(views.len() as u64));
    g.bench_function(BenchmarkId::new("compiled", name), |b| {
        b.iter(|| {
            for r in &views {
                std::hint::black_box(policy.evaluate(r));
            }
        })
    });
    let mut batch = Vec::with_capacity(views.len());
    g.bench_function(BenchmarkId::new("compiled_batch", name), |b| {
        b.iter(|| {
            batch.clear();
            policy.evaluate_many(&views, &mut batch);
            std::hint::black_box(&batch);
        })
    });
    g.sample_size(10);
    g.bench_function(BenchmarkId::new("reference", name), |b| {
        b.iter(|| {
            for r in &views {
                std::hint::black_box(policy.evaluate_reference(r));
            }
        })
    });
    g.finish();
}

/// Each thread evaluates the whole mix per iteration: criterion's elements per second is the
/// total rate, so the 2-thread figure over the 1-thread one is the scaling. `small/N` shares
/// one policy among N threads; `small_own/2` gives each thread a policy compiled on its
/// own, which shares nothing: the gap between the two is what sharing costs.
fn threads(c: &mut Criterion, shared: &Policy, own: &[Policy], requests: &[OwnedRequest]) {
    let mut g = c.benchmark_group("evaluate_threads");
    let runs: [(&str, Vec<&Policy>); 3] = [
        ("small/1", vec![shared]),
        ("small/2", vec![shared, shared]),
        ("small_own/2", own.iter().collect()),
    ];
    for (name, policies) in runs {
        g.throughput(Throughput::Elements(
            (requests.len() * policies.len()) as u64,
        ));
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = std::time::Instant::now();
                std::thread::scope(|s| {
                    for &policy in &policies {
                        s.spawn(move || {
                            // A `Request` is not `Sync`: each thread takes its own views
                            // (microseconds, next to the iterations' milliseconds).
                            let views: Vec<Request<'_>> =
                                requests.iter().map(OwnedRequest::view).collect();
                            for _ in 0..iters {
                                for r in &views {
                                    std::hint::black_box(policy.evaluate(r));
                                }
                            }
                        });
                    }
                });
                start.elapsed()
            })
        });
    }
    g.finish();
}

fn evaluate(c: &mut Criterion) {
    let mut rng = Rng::new(0x5eed);
    let (text, blocklist) = policies::large_policy(&mut rng);
    let requests = policies::requests(REQUESTS, &blocklist, &mut rng);

    let pack = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules");
    let starter =
        Policy::compile(RuleSet::load(&[&pack]).expect("starter pack loads")).expect("compiles");
    run(c, "starter", &starter, &requests);

    let rules = RuleSet::parse("large.toml", &text).expect("generated policy parses");
    note(format_args!(
        "large policy: {} rules, {} lists",
        rules.rules.len(),
        rules.lists.len()
    ));
    let large = Policy::compile(rules).expect("compiles");
    run(c, "large", &large, &requests);

    let (text, blocklist) = policies::small_policy(&mut rng);
    let small_requests = policies::small_requests(REQUESTS, &blocklist, &mut rng);
    let small = RuleSet::parse("small.toml", &text).expect("small policy parses");
    assert!(small.warnings().is_empty(), "{:?}", small.warnings());
    let small = Policy::compile(small).expect("compiles");
    run(c, "small", &small, &small_requests);
    let own: Vec<Policy> = (0..2)
        .map(|_| {
            let rules = RuleSet::parse("small.toml", &text).expect("small policy parses");
            Policy::compile(rules).expect("compiles")
        })
        .collect();
    threads(c, &small, &own, &small_requests);

    let empty =
        Policy::compile(RuleSet::parse("empty.toml", "").expect("parses")).expect("compiles");
    run(c, "empty", &empty, &small_requests);

    // ~4 KB JSON bodies against fifty body rules beside the starter pack (copied to a
    // scratch directory with the body rules as one more file).
    let dir = std::env::temp_dir().join(format!("portcullis-bench-{}", std::process::id()));
    copy_dir(&pack, &dir);
    std::fs::write(dir.join("90-body.toml"), policies::body_rules()).expect("writes");
    let body_rules = RuleSet::load(&[&dir]).expect("starter pack and body rules load");
    note(format_args!("json_body: {} rules", body_rules.rules.len()));
    let json = Policy::compile(body_rules).expect("compiles");
    let _ = std::fs::remove_dir_all(&dir);
    run(
        c,
        "json_body",
        &json,
        &policies::json_requests(200, &mut rng),
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("creates");
    for entry in std::fs::read_dir(from).expect("reads").flatten() {
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).expect("copies");
        }
    }
}

criterion_group!(benches, evaluate);
criterion_main!(benches);

//! `crs`: OWASP CRS v4 (from `../shared/crs`, never copied into the repository) in
//! portcullis, per phase: parsing the SecLang files, lowering and compiling them, and
//! evaluating a realistic request mix at paranoia level 1 (CRS's default, blocking) and at
//! paranoia level 4, and at paranoia level 1 the mix with small bodies instead of large;
//! and, as the tower layer asks, each request and then its response.

use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use portcullis_benches::corpus::Rng;
use portcullis_benches::{note, policies};
use portcullis_decide::{AppResponse, OwnedRequest, Policy, Request};
use portcullis_seclang::{lower, LoadOptions, LowerOptions, SecLangConfig};

fn crs() -> PathBuf {
    std::env::var_os("PORTCULLIS_CRS_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/crs"),
        PathBuf::from,
    )
}

/// Paranoia level 4, detecting and blocking, beside the setup example.
const PL4: &str = r#"SecAction "id:900000,phase:1,pass,nolog,setvar:tx.blocking_paranoia_level=4""#;

/// Requests in one mix.
const MIX: usize = 1000;
/// Fresh mixes the evaluation benches cycle through: 16,000 requests, more than the
/// per-thread caches hold.
const BATCHES: usize = 16;

/// The request mix: browser page loads (most, their Chrome agents as Chrome sends them:
/// see `policies::reduce_chrome_agents`), API calls with query strings, and a tenth
/// of bodies from `bodies`: JSON orders (`json_requests`: ~3.6 KB, 170 arguments, 5 % of
/// them an attack) for the bench's mix, or small form and JSON bodies
/// (`small_body_requests`: 100 to 400 bytes) for the mix the issue describes.
fn mix(rng: &mut Rng, bodies: fn(usize, &mut Rng) -> Vec<OwnedRequest>) -> Vec<OwnedRequest> {
    // Some clients come from this documentation range (the generators' blocklist).
    let clients: Vec<ipnet::IpNet> = vec!["192.0.2.0/24".parse().expect("net")];
    let mut reqs = policies::small_requests(MIX * 7 / 10, &clients, rng);
    reqs.extend(policies::requests(MIX / 5, &clients, rng));
    reqs.extend(bodies(MIX / 10, rng));
    policies::reduce_chrome_agents(&mut reqs);
    reqs
}

/// Views of the requests of each batch.
fn views(batches: &[Vec<OwnedRequest>]) -> Vec<Vec<Request<'_>>> {
    batches
        .iter()
        .map(|b| b.iter().map(OwnedRequest::view).collect())
        .collect()
}

fn config(extra: Option<&Path>) -> SecLangConfig {
    let mut paths = vec![crs().join("crs-setup.conf.example")];
    paths.extend(extra.map(Path::to_path_buf));
    paths.push(crs().join("rules"));
    SecLangConfig::load(&paths, &LoadOptions::default()).expect("CRS parses")
}

fn policy(config: SecLangConfig) -> Policy {
    let set = config.resolve().expect("CRS resolves");
    let lowered = lower(
        &set,
        &LowerOptions {
            skip_unsupported: true,
        },
    )
    .expect("lowers");
    note(format_args!(
        "{} engine rules, {} decided at load, {} left out as unsupported",
        lowered.rules.rules.len(),
        lowered.folded,
        lowered.skipped.len()
    ));
    Policy::compile(lowered.rules).expect("compiles")
}

fn crs_bench(c: &mut Criterion) {
    if !crs().join("rules").is_dir() {
        eprintln!("*** SKIPPED: CRS not found at {} ***", crs().display());
        return;
    }
    let dir = std::env::temp_dir().join(format!("portcullis-crs-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let pl4 = dir.join("pl4.conf");
    std::fs::write(&pl4, PL4).expect("writes");

    let mut g = c.benchmark_group("crs");
    g.sample_size(10);
    g.bench_function("parse", |b| b.iter(|| std::hint::black_box(config(None))));
    g.bench_function("lower_and_compile", |b| {
        b.iter_batched(
            || config(None),
            |c| std::hint::black_box(policy(c)),
            criterion::BatchSize::PerIteration,
        )
    });
    g.finish();

    // Each iteration evaluates the next of several fresh mixes: replaying one mix would
    // let the per-thread caches (remembered members, detector verdicts) hold values real
    // traffic never repeats (paths, item ids, user agents).
    let fresh = |bodies: fn(usize, &mut Rng) -> Vec<OwnedRequest>| -> Vec<Vec<OwnedRequest>> {
        let mut rng = Rng::new(0xC25);
        (0..BATCHES).map(|_| mix(&mut rng, bodies)).collect()
    };
    let (large, small) = (
        fresh(policies::json_requests),
        fresh(policies::small_body_requests),
    );
    let (large, small) = (views(&large), views(&small));
    let pl1 = policy(config(None));
    let pl4 = policy(config(Some(pl4.as_path())));
    for (p, name) in [(&pl1, "pl1"), (&pl4, "pl4")] {
        note(format_args!(
            "crs {name}: regexes {} MB",
            p.regex_bytes() >> 20
        ));
    }
    let mut g = c.benchmark_group("crs_evaluate");
    g.throughput(Throughput::Elements(MIX as u64));
    g.sample_size(10);
    for (p, name, batches) in [
        (&pl1, "pl1", &large),
        (&pl4, "pl4", &large),
        (&pl1, "pl1_small_bodies", &small),
        (&pl4, "pl4_small_bodies", &small),
    ] {
        let mut next = batches.iter().cycle();
        g.bench_function(BenchmarkId::new("compiled", name), |b| {
            b.iter(|| {
                for r in next.next().into_iter().flatten() {
                    std::hint::black_box(p.evaluate(r));
                }
            })
        });
    }
    // As the tower layer asks about an allowed request again with the application's
    // response (a small HTML page), resuming after the request's rules
    // (`Policy::evaluate_after`), or evaluating the whole policy again (`_whole`).
    let page = format!(
        "<!doctype html><html><head><title>Shop</title></head><body>{}</body></html>",
        "<p>Item, in stock, ships tomorrow.</p>".repeat(20)
    );
    let html = [("content-type", "text/html; charset=utf-8")];
    for (name, resume) in [
        ("pl1_small_bodies_and_response", true),
        ("pl1_small_bodies_and_response_whole", false),
    ] {
        let mut next = small.iter().cycle();
        g.bench_function(BenchmarkId::new("compiled", name), |b| {
            b.iter(|| {
                for r in next.next().into_iter().flatten() {
                    let first = pl1.evaluate(r);
                    if !first.is_allowed() {
                        continue;
                    }
                    let answered =
                        (*r).response(AppResponse::new(200).headers(&html).body(page.as_bytes()));
                    std::hint::black_box(if resume {
                        pl1.evaluate_after(&answered, &first)
                    } else {
                        pl1.evaluate(&answered)
                    });
                }
            })
        });
    }
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, crs_bench);
criterion_main!(benches);

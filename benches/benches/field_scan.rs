//! `field_scan`: one user agent against every pattern of a policy.
//!
//! User agents of about 120 bytes against 100, 1,000 and 10,000 patterns
//! (literals of every kind, 10% regexes). Baselines: the naive reference
//! (`NaiveScanner`: `str` methods on the haystack lowercased once, one regex
//! each), one `regex::RegexSet` of all patterns, and one `AhoCorasick` over
//! the literals only (a lower bound: it skips the regexes, anchoring and
//! exact-case checks).

use std::hint::black_box;
use std::time::Instant;

use aho_corasick::AhoCorasick;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use portcullis_benches::corpus::{self, regex_escape, Pattern, Rng};
use portcullis_benches::note;
use portcullis_match::{NaiveScanner, PatternId, PatternKind, Scanner, ScannerBuilder};

/// User agents per measured iteration.
const AGENTS: usize = 200;
const REGEX_PERCENT: u64 = 10;

/// Every pattern as a regex in one `RegexSet`.
fn regex_set(patterns: &[Pattern]) -> (regex::RegexSet, Vec<PatternId>) {
    // A detector has no regex: the corpus has none, and the set leaves any out.
    let (texts, ids): (Vec<String>, Vec<PatternId>) = patterns
        .iter()
        .filter_map(|p| {
            let flags = if p.case_insensitive {
                // Literal kinds are ASCII case-insensitive; (?i-u) is that.
                if p.kind == PatternKind::Regex {
                    "(?i)"
                } else {
                    "(?i-u)"
                }
            } else {
                ""
            };
            let body = match p.kind {
                PatternKind::Regex => p.text.clone(),
                PatternKind::Contains => regex_escape(&p.text),
                PatternKind::StartsWith => format!("^{}", regex_escape(&p.text)),
                PatternKind::EndsWith => format!("{}$", regex_escape(&p.text)),
                PatternKind::Equals => format!("^{}$", regex_escape(&p.text)),
                PatternKind::Detect(_) => return None,
            };
            Some((format!("{flags}(?:{body})"), p.id))
        })
        .unzip();
    let set = regex::RegexSetBuilder::new(&texts)
        .size_limit(256 << 20)
        .dfa_size_limit(16 << 20)
        .build()
        .expect("corpus regexes fit the raised limits");
    (set, ids)
}

/// The literals (any kind) in one ASCII case-insensitive automaton.
fn literal_automaton(patterns: &[Pattern]) -> (AhoCorasick, Vec<PatternId>) {
    let literals: Vec<&Pattern> = patterns
        .iter()
        .filter(|p| p.kind != PatternKind::Regex)
        .collect();
    let ac = AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(literals.iter().map(|p| &p.text))
        .expect("small automaton");
    (ac, literals.iter().map(|p| p.id).collect())
}

fn field_scan(c: &mut Criterion) {
    let mut rng = Rng::new(11);
    let agents = corpus::user_agents(AGENTS, &mut rng);
    let mean = agents.iter().map(String::len).sum::<usize>() / agents.len();
    for n in [100, 1_000, 10_000] {
        let patterns = corpus::agent_patterns(n, REGEX_PERCENT, &mut rng);
        let start = Instant::now();
        let mut builder = ScannerBuilder::new();
        for p in &patterns {
            builder.add(p.id, p.kind, &p.text, p.case_insensitive);
        }
        let scanner: Scanner = builder.build().expect("corpus patterns are valid");
        let built = start.elapsed();
        let mut naive = NaiveScanner::new();
        for p in &patterns {
            naive
                .add(p.id, p.kind, &p.text, p.case_insensitive)
                .expect("corpus regexes are valid");
        }
        let start = Instant::now();
        let (set, set_ids) = regex_set(&patterns);
        let set_built = start.elapsed();
        let (ac, ac_ids) = literal_automaton(&patterns);

        // The scanner must agree with the naive reference and the RegexSet.
        let mut scratch = scanner.scratch();
        let mut got = scanner.match_set();
        let mut want = scanner.match_set();
        let mut hits = 0;
        for hay in &agents {
            got.clear();
            want.clear();
            scanner.scan(hay, &mut scratch, &mut got);
            naive.scan(hay, &mut want);
            assert_eq!(got, want, "naive reference disagrees on {hay:?}");
            want.clear();
            want.extend(set.matches(hay).iter().map(|i| set_ids[i]));
            assert_eq!(got, want, "RegexSet disagrees on {hay:?}");
            hits += got.len();
        }
        note(format_args!(
            "field_scan/{n}: {} regexes; user agents {mean} bytes on average; {hits} matches over {} agents; Scanner built in {:.1} ms (regex part {} KiB), RegexSet in {:.1} ms",
            patterns.iter().filter(|p| p.kind == PatternKind::Regex).count(),
            agents.len(),
            built.as_secs_f64() * 1e3,
            scanner.regex_memory_bytes() / 1024,
            set_built.as_secs_f64() * 1e3,
        ));

        let mut group = c.benchmark_group("field_scan");
        group.throughput(Throughput::Elements(agents.len() as u64));
        if n >= 10_000 {
            // The naive reference and the RegexSet take milliseconds a batch here.
            group.sample_size(10);
        }
        group.bench_function(BenchmarkId::new("portcullis", n), |b| {
            let mut scratch = scanner.scratch();
            let mut out = scanner.match_set();
            b.iter(|| {
                let mut total = 0;
                for hay in &agents {
                    out.clear();
                    scanner.scan(black_box(hay), &mut scratch, &mut out);
                    total += usize::from(!out.is_empty());
                }
                total
            })
        });
        group.bench_function(BenchmarkId::new("naive", n), |b| {
            let mut out = scanner.match_set();
            b.iter(|| {
                let mut total = 0;
                for hay in &agents {
                    out.clear();
                    naive.scan(black_box(hay), &mut out);
                    total += usize::from(!out.is_empty());
                }
                total
            })
        });
        group.bench_function(BenchmarkId::new("regex-set", n), |b| {
            let mut out = scanner.match_set();
            b.iter(|| {
                let mut total = 0;
                for hay in &agents {
                    out.clear();
                    out.extend(set.matches(black_box(hay)).iter().map(|i| set_ids[i]));
                    total += usize::from(!out.is_empty());
                }
                total
            })
        });
        group.bench_function(BenchmarkId::new("aho-corasick-literals", n), |b| {
            let mut out = scanner.match_set();
            b.iter(|| {
                let mut total = 0;
                for hay in &agents {
                    out.clear();
                    for m in ac.find_overlapping_iter(black_box(hay.as_str())) {
                        out.insert(ac_ids[m.pattern().as_usize()]);
                    }
                    total += usize::from(!out.is_empty());
                }
                total
            })
        });
        group.finish();
    }
}

criterion_group!(benches, field_scan);
criterion_main!(benches);

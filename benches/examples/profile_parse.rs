//! Parses a generated rule set, for profilers: `profile_parse N`.
use portcullis_benches::corpus::Rng;
use portcullis_benches::policies;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let text = policies::many_rules(n, &mut Rng::new(n as u64));
    let start = std::time::Instant::now();
    let rules = portcullis_rules::RuleSet::parse("gen.toml", &text).expect("parses");
    println!(
        "{} rules parsed in {:?}",
        rules.rules.len(),
        start.elapsed()
    );
}

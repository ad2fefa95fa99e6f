// Temporary: profile Scanner parts on the bench corpus.
use std::hint::black_box;
use std::time::Instant;
use portcullis_benches::corpus::{self, Rng};
use portcullis_match::{PatternKind, ScannerBuilder};

fn main() {
    let mut rng = Rng::new(11);
    let agents = corpus::user_agents(200, &mut rng);
    for n in [100usize, 1000] {
        let patterns = corpus::agent_patterns(n, 10, &mut rng);
        for (label, filter) in [("all", 0), ("literals", 1), ("regexes", 2), ("contains-only", 3), ("equals", 4)] {
            let mut b = ScannerBuilder::new();
            for p in &patterns {
                let keep = match filter { 0 => true, 1 => p.kind != PatternKind::Regex, 2 => p.kind == PatternKind::Regex, 3 => p.kind == PatternKind::Contains, _ => p.kind == PatternKind::Equals };
                if keep { b.add(p.id, p.kind, &p.text, p.case_insensitive); }
            }
            let s = b.build().unwrap();
            let mut scratch = s.scratch();
            let mut out = s.match_set();
            let mut best = f64::MAX;
            for _ in 0..50 {
                let t = Instant::now();
                for a in &agents { out.clear(); s.scan(black_box(a), &mut scratch, &mut out); }
                best = best.min(t.elapsed().as_secs_f64() * 1e9 / agents.len() as f64);
            }
            println!("{n} {label}: {best:.0} ns/agent");
        }
    }
}

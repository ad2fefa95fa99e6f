//! Runs the `evaluate` workload in a loop, for profilers (`valgrind --tool=callgrind`).
use portcullis_benches::corpus::Rng;
use portcullis_benches::policies;
use portcullis_decide::{OwnedRequest, Policy, Request};
use portcullis_rules::RuleSet;

fn main() {
    // `large` (default), `small` (the operator's first rule set), `starter` (the bundled
    // pack), `json` (the pack and fifty body rules over ~4 KB JSON bodies, as the
    // `json_body` bench) or `empty` (no rules: the floor).
    let which = std::env::args().nth(1).unwrap_or_default();
    let rounds: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let mut rng = Rng::new(0x5eed);
    let (text, requests) = if which == "json" {
        (String::new(), policies::json_requests(200, &mut rng))
    } else if which == "small" {
        let (text, blocklist) = policies::small_policy(&mut rng);
        let requests = policies::small_requests(1000, &blocklist, &mut rng);
        (text, requests)
    } else {
        let (text, blocklist) = policies::large_policy(&mut rng);
        let requests = policies::requests(1000, &blocklist, &mut rng);
        (text, requests)
    };
    let rules = match which.as_str() {
        "starter" => {
            RuleSet::load(&[std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules")])
                .expect("loads")
        }
        "json" => {
            let body =
                std::env::temp_dir().join(format!("portcullis-body-{}.toml", std::process::id()));
            std::fs::write(&body, policies::body_rules()).expect("writes");
            let pack = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules");
            let rules = RuleSet::load(&[pack, body.clone()]).expect("loads");
            let _ = std::fs::remove_file(&body);
            rules
        }
        "empty" => RuleSet::parse("empty.toml", "").expect("parses"),
        "small" => RuleSet::parse("small.toml", &text).expect("parses"),
        _ => RuleSet::parse("large.toml", &text).expect("parses"),
    };
    let policy = Policy::compile(rules).expect("compiles");
    let views: Vec<Request<'_>> = requests.iter().map(OwnedRequest::view).collect();
    let mut n = 0;
    for _ in 0..rounds {
        for r in &views {
            n += usize::from(policy.evaluate(r).is_allowed());
        }
    }
    println!("{n}");
}

//! CRS at paranoia level 1 over the `crs` bench's request mix, in a loop, for profilers
//! (`valgrind --tool=callgrind --toggle-collect='portcullis_decide::policy::Policy::evaluate'`):
//! `profile_crs ROUNDS [small|browser|json|bodies] [same] [unique]`.
use std::path::Path;

use portcullis_benches::corpus::Rng;
use portcullis_benches::policies;
use portcullis_decide::{OwnedRequest, Policy, Request};
use portcullis_seclang::{lower, LoadOptions, LowerOptions, SecLangConfig};

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let crs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/crs");
    let paths = vec![crs.join("crs-setup.conf.example"), crs.join("rules")];
    let set = SecLangConfig::load(&paths, &LoadOptions::default())
        .expect("parses")
        .resolve()
        .expect("resolves");
    let lowered = lower(
        &set,
        &LowerOptions {
            skip_unsupported: true,
        },
    )
    .expect("lowers");
    let policy = Policy::compile(lowered.rules).expect("compiles");
    let mut rng = Rng::new(0xC25);
    let clients: Vec<ipnet::IpNet> = vec!["192.0.2.0/24".parse().expect("net")];
    let args: Vec<String> = std::env::args().skip(2).collect();
    let has = |a: &str| args.iter().any(|x| x == a);
    // The bench's mix, or one part of it: `small`, `browser` or `json`.
    let part = ["small", "browser", "json", "bodies"]
        .into_iter()
        .find(|p| has(p))
        .unwrap_or_default();
    // Each round is a fresh batch of the mix (or of one part): values unique to a request
    // (paths, item ids, user agents) do not come back, as in real traffic, and only what
    // real traffic repeats (header names, a client's headers, an API's argument names)
    // does. `same` replays the first batch instead. Chrome's agents are reduced as in the
    // bench (`policies::reduce_chrome_agents`), unless `unique`: every agent new.
    let same = has("same");
    let mut batches = Vec::new();
    for round in 0..rounds {
        if same && round > 0 {
            break;
        }
        let mut reqs = Vec::new();
        if part.is_empty() || part == "small" {
            reqs.extend(policies::small_requests(70, &clients, &mut rng));
        }
        if part.is_empty() || part == "browser" {
            reqs.extend(policies::requests(20, &clients, &mut rng));
        }
        if part.is_empty() || part == "json" {
            reqs.extend(policies::json_requests(10, &mut rng));
        }
        // Not in the mix: the small form and JSON bodies the mix asks for.
        if part == "bodies" {
            reqs.extend(policies::small_body_requests(10, &mut rng));
        }
        if !has("unique") {
            policies::reduce_chrome_agents(&mut reqs);
        }
        batches.push(reqs);
    }
    let mut n = 0;
    for round in 0..rounds {
        let Some(batch) = batches.get(if same { 0 } else { round }) else {
            break;
        };
        let views: Vec<Request<'_>> = batch.iter().map(OwnedRequest::view).collect();
        for r in &views {
            n += usize::from(policy.evaluate(r).is_allowed());
        }
    }
    println!("{n}");
}

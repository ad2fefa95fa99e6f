//! CRS at paranoia level 1 over the `crs` bench's request mix, in a loop, for profilers
//! (`valgrind --tool=callgrind --toggle-collect='portcullis_decide::policy::Policy::evaluate'`):
//! `profile_crs ROUNDS [small|browser|json]`.
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
    // The bench's mix, or one part of it: `small`, `browser` or `json` (second argument).
    let part = std::env::args().nth(2).unwrap_or_default();
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
    let views: Vec<Request<'_>> = reqs.iter().map(OwnedRequest::view).collect();
    let mut n = 0;
    for _ in 0..rounds {
        for r in &views {
            n += usize::from(policy.evaluate(r).is_allowed());
        }
    }
    println!("{n}");
}

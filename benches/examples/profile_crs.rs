//! CRS at paranoia level 1 over the `crs` bench's request mix, in a loop, for profilers
//! (`valgrind --tool=callgrind --toggle-collect='portcullis_decide::policy::Policy::evaluate'`).
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
    let mut reqs = policies::small_requests(70, &clients, &mut rng);
    reqs.extend(policies::requests(20, &clients, &mut rng));
    reqs.extend(policies::json_requests(10, &mut rng));
    let views: Vec<Request<'_>> = reqs.iter().map(OwnedRequest::view).collect();
    let mut n = 0;
    for _ in 0..rounds {
        for r in &views {
            n += usize::from(policy.evaluate(r).is_allowed());
        }
    }
    println!("{n}");
}

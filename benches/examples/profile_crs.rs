//! CRS at paranoia level 1 over the `crs` bench's request mix, in a loop, for profilers
//! (`valgrind --tool=callgrind --toggle-collect='portcullis_decide::policy::Policy::evaluate'`):
//! `profile_crs ROUNDS [small|browser|json|bodies] [same|cycle] [unique] [pl4]`.
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
    let args: Vec<String> = std::env::args().skip(2).collect();
    let has = |a: &str| args.iter().any(|x| x == a);
    let crs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/crs");
    let mut paths = vec![crs.join("crs-setup.conf.example")];
    // `pl4`: paranoia level 4, detecting and blocking, as in the `crs` bench.
    let pl4 = std::env::temp_dir().join(format!("profile-crs-pl4-{}.conf", std::process::id()));
    if has("pl4") {
        std::fs::write(
            &pl4,
            r#"SecAction "id:900000,phase:1,pass,nolog,setvar:tx.blocking_paranoia_level=4""#,
        )
        .expect("writes");
        paths.push(pl4.clone());
    }
    paths.push(crs.join("rules"));
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
    let _ = std::fs::remove_file(&pl4);
    let policy = Policy::compile(lowered.rules).expect("compiles");
    let mut rng = Rng::new(0xC25);
    let clients: Vec<ipnet::IpNet> = vec!["192.0.2.0/24".parse().expect("net")];
    // The bench's mix, or one part of it: `small`, `browser` or `json`; or the issue's
    // mix, `issue` (small bodies instead of JSON orders).
    let part = ["small", "browser", "json", "bodies", "issue"]
        .into_iter()
        .find(|p| has(p))
        .unwrap_or_default();
    // Each round is a fresh batch of the mix (or of one part): values unique to a request
    // (paths, item ids, user agents) do not come back, as in real traffic, and only what
    // real traffic repeats (header names, a client's headers, an API's argument names)
    // does. `same` replays the first batch instead. Chrome's agents are reduced as in the
    // bench (`policies::reduce_chrome_agents`), unless `unique`: every agent new.
    let same = has("same");
    // `cycle`: as the `crs` bench, 16 fresh batches of ten times as many requests,
    // evaluated in turn.
    let cycle = has("cycle");
    let kept = if same {
        1
    } else if cycle {
        16
    } else {
        rounds
    };
    let m = if cycle { 10 } else { 1 };
    let mut batches = Vec::new();
    for _ in 0..kept {
        let mut reqs = Vec::new();
        if matches!(part, "" | "small" | "issue") {
            reqs.extend(policies::small_requests(70 * m, &clients, &mut rng));
        }
        if matches!(part, "" | "browser" | "issue") {
            reqs.extend(policies::requests(20 * m, &clients, &mut rng));
        }
        if matches!(part, "" | "json") {
            reqs.extend(policies::json_requests(10 * m, &mut rng));
        }
        if matches!(part, "bodies" | "issue") {
            reqs.extend(policies::small_body_requests(10 * m, &mut rng));
        }
        if !has("unique") {
            policies::reduce_chrome_agents(&mut reqs);
        }
        batches.push(reqs);
    }
    let mut n = 0;
    for round in 0..rounds {
        let Some(batch) = batches.get(round % kept.max(1)) else {
            break;
        };
        let views: Vec<Request<'_>> = batch.iter().map(OwnedRequest::view).collect();
        for r in &views {
            n += usize::from(policy.evaluate(r).is_allowed());
        }
    }
    println!("{n}");
}

//! Arbitrary URIs, methods, headers and bytes through normalisation and evaluation against
//! the starter pack: never a panic, and compiled equals reference.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use portcullis_decide::{Auth, Policy, Request};
use portcullis_rules::RuleSet;

#[derive(Arbitrary, Debug)]
struct Input {
    method: String,
    uri: String,
    headers: Vec<(String, Vec<u8>)>,
    ip: Option<String>,
    authenticated: bool,
    tenant: String,
}

fn policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules");
        let rules = RuleSet::load(&[dir]).unwrap_or_else(|e| panic!("starter pack: {e}"));
        Policy::compile(rules).unwrap_or_else(|e| panic!("starter pack: {e}"))
    })
}

fuzz_target!(|input: Input| {
    let policy = policy();
    let headers: Vec<(&str, &[u8])> = input
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_slice()))
        .collect();
    let auth = if input.authenticated {
        Auth::authenticated("fuzz")
            .with_roles(["viewer"])
            .with_tenant(input.tenant.clone())
    } else {
        Auth::default()
    };
    let mut req = Request::new(&input.method, &input.uri)
        .headers(&headers)
        .auth(&auth);
    req.client_ip = input
        .ip
        .as_deref()
        .and_then(portcullis_decide::parse_client_ip);
    let a = policy.evaluate(&req);
    let _ = a.response(&req);
    let b = policy.evaluate_reference(&req);
    // Rate-limit rules count each evaluation, so compare only rules without state.
    if a.rule().is_none_or(|r| r.rate_limit.is_none())
        && b.rule().is_none_or(|r| r.rate_limit.is_none())
    {
        assert_eq!(
            (a.verdict(), a.status(), a.rule_id()),
            (b.verdict(), b.status(), b.rule_id()),
            "{input:?}"
        );
    }
});

//! Arbitrary request targets and headers through the `http` glue: never a panic, and the
//! target the server is told to route on (`HttpRequest::routed_uri`) is the one the rules
//! judged: it normalises to the same path, and is already in normal form.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use portcullis::{Engine, HttpRequest, TrustedProxies};
use portcullis_match::normalize;

#[derive(Arbitrary, Debug)]
struct Input {
    method: u8,
    target: String,
    headers: Vec<(u8, Vec<u8>)>,
    rewrite: bool,
}

fn engines() -> &'static [Engine; 2] {
    static ENGINES: OnceLock<[Engine; 2]> = OnceLock::new();
    ENGINES.get_or_init(|| {
        let rules = |mode: &str| {
            format!(
                "[policy]\non_ambiguous_path = \"{mode}\"\n[[rule]]\nid = \"admin\"\nwhen = 'path starts_with \"/admin\" or host == \"admin.example\"'\naction = \"forbid\"\n"
            )
        };
        [
            Engine::from_str(&rules("forbid")).expect("rules load"),
            Engine::from_str(&rules("rewrite")).expect("rules load"),
        ]
    })
}

fn path(raw: &str) -> String {
    let (mut out, mut scratch) = (String::new(), String::new());
    normalize::normalize_path(raw, &mut out, &mut scratch);
    out
}

fuzz_target!(|input: Input| {
    let Ok(uri) = input.target.parse::<http::Uri>() else {
        return;
    };
    let method = ["GET", "POST", "OPTIONS", "DELETE"][usize::from(input.method) % 4];
    let mut builder = http::Request::builder().method(method).uri(uri);
    for (name, value) in input.headers.iter().take(16) {
        let name =
            ["host", "x-forwarded-for", "origin", "cookie", "user-agent"][usize::from(*name) % 5];
        if let Ok(v) = http::HeaderValue::from_bytes(value) {
            builder = builder.header(name, v);
        }
    }
    let Ok(req) = builder.body(()) else {
        return;
    };
    let peer = "192.0.2.1:4000".parse().ok();
    let view = HttpRequest::from_request(&req, peer, &TrustedProxies::none());
    let engine = &engines()[usize::from(input.rewrite)];
    let decision = engine.evaluate(&view.request());
    if let Some(routed) = view.routed_uri(&decision) {
        let judged = path(req.uri().path());
        assert_eq!(path(routed.path()), judged, "{:?}", req.uri());
        assert!(
            normalize::routed_path(normalize::PathStyle::Standard, routed.path()).is_none(),
            "routed {routed:?} is not in normal form"
        );
        // What is forwarded decides as what was judged.
        let again = http::Request::builder()
            .method(method)
            .uri(routed)
            .body(())
            .expect("a routed target is a valid URI");
        let mut again = again;
        *again.headers_mut() = req.headers().clone();
        let view2 = HttpRequest::from_request(&again, peer, &TrustedProxies::none());
        let routed_decision = engine.evaluate(&view2.request());
        // Re-encoding may lengthen the target past `max_uri_bytes`: a refusal for size is
        // no disagreement about what the path is.
        if decision.is_allowed() && routed_decision.oversize().is_none() {
            assert!(routed_decision.is_allowed(), "{:?}", req.uri());
        }
    }
});

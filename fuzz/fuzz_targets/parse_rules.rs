//! Rule files (TOML and JSON) from arbitrary bytes: as text, or, when the first byte is odd,
//! as broken rule files built from the rest with the vocabulary the parser's property tests
//! use (`portcullis_testgen::broken`). Never a panic, never a hang; what parses also
//! compiles or fails cleanly, and evaluates.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_decide::{Policy, Request};
use portcullis_rules::RuleSet;
use portcullis_testgen::{broken, Gen};

fuzz_target!(|data: &[u8]| {
    if data.len() > 64 * 1024 {
        return;
    }
    let text = match data.split_first() {
        Some((mode, rest)) if mode % 2 == 1 => {
            let mut g = Gen::new(rest);
            if mode % 4 == 1 {
                broken::rules_around(&broken::condition(&mut g))
            } else {
                broken::file(&mut g)
            }
        }
        _ => String::from_utf8_lossy(data).into_owned(),
    };
    for parsed in [
        RuleSet::parse("fuzz.toml", &text),
        RuleSet::parse_json("fuzz.json", &text),
    ] {
        match parsed {
            Ok(rules) => {
                if let Ok(policy) = Policy::compile(rules) {
                    let headers = [("user-agent", "fuzz/1.0"), ("cookie", "a=b")];
                    let req = Request::new("GET", "/a/../b?c=d").headers(&headers);
                    let d = policy.evaluate(&req);
                    let _ = d.response(&req);
                    let _ = policy.evaluate_reference(&req);
                }
            }
            Err(e) => {
                // Rendering every diagnostic must not panic either.
                let _ = e.to_string();
            }
        }
    }
});

//! SecLang text from arbitrary bytes: parsing and resolving never panic or hang, and every
//! error renders. Paths point nowhere, so `Include` and data files fail cleanly. What
//! parses is lowered, compiled and asked about a request and its response, with the
//! decision's evidence and log texts (`msg`, `logdata` macros): none of it panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_decide::{AppResponse, Policy, Request};
use portcullis_seclang::{lower, LowerOptions};

fuzz_target!(|data: &[u8]| {
    if data.len() > 64 * 1024 {
        return;
    }
    let text = String::from_utf8_lossy(data);
    match portcullis_seclang::parse_str("/nonexistent/fuzz.conf", &text) {
        Ok(rules) => {
            for w in &rules.warnings {
                let _ = w.render(&rules.sources);
            }
            let options = LowerOptions {
                skip_unsupported: true,
            };
            let Ok(lowered) = lower(&rules, &options) else {
                return;
            };
            let Ok(policy) = Policy::compile(lowered.rules) else {
                return;
            };
            let headers = [("user-agent", "sqlmap/1.5"), ("cookie", "a=1'--")];
            let req = Request::new("GET", "/wp-login.php?pwd=1%27%20OR%20%271&a=%3Cscript%3E")
                .headers(&headers);
            let first = policy.evaluate(&req);
            let _ = (first.evidence(&req), first.messages(&req));
            let answered = req.response(AppResponse::new(500).body(b"ORA-00933 <b>x</b>"));
            let second = policy.evaluate_after(&answered, &first);
            let _ = second.messages(&answered);
        }
        Err(e) => {
            assert!(e.error_count() > 0);
            let _ = e.to_string();
        }
    }
});

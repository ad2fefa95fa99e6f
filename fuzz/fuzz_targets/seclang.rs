//! SecLang text from arbitrary bytes: parsing and resolving never panic or hang, and every
//! error renders. Paths point nowhere, so `Include` and data files fail cleanly.
#![no_main]

use libfuzzer_sys::fuzz_target;

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
        }
        Err(e) => {
            assert!(e.error_count() > 0);
            let _ = e.to_string();
        }
    }
});

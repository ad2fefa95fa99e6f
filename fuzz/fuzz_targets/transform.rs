//! Decoding functions, chained, against the reference's naive models; then the injection
//! detectors (libinjection's port) on the raw bytes and the decoded text, which must not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_rules::{Detector, Transform};

fuzz_target!(|data: &[u8]| {
    // The first bytes pick a chain of up to three functions; the rest is the text.
    let (picks, text) = data.split_at(data.len().min(3));
    let mut fast = String::from_utf8_lossy(text).into_owned();
    let mut naive = fast.clone();
    let mut bytes = Vec::new();
    for &p in picks {
        let func = Transform::ALL[usize::from(p) % Transform::ALL.len()];
        let mut out = String::new();
        func.apply(&fast, &mut out, &mut bytes);
        fast = out;
        naive = portcullis_decide::reference_transform(func, &naive);
        assert_eq!(fast, naive, "{func}");
    }
    for d in Detector::ALL {
        let _ = d.detect(text);
        let _ = d.detect(fast.as_bytes());
    }
});

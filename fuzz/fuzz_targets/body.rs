//! Body processors (form, JSON, multipart, XML) against the reference's naive readers, under
//! tight and default limits: the same arguments, error and truncation, and never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_match::body::{BodyArgs, BodyKind, BodyLimits};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let kind = [BodyKind::Form, BodyKind::Json, BodyKind::Multipart, BodyKind::Xml][usize::from(pick % 4)];
    let limits = if pick & 4 == 0 {
        BodyLimits::default()
    } else {
        BodyLimits {
            max_bytes: 64,
            max_depth: 2,
            max_args: 3,
            max_parts: 1,
        }
    };
    let boundary = ["b", "--x", "a b"][usize::from(pick >> 3) % 3];
    let mut fast = BodyArgs::new();
    fast.parse(kind, Some(boundary), body, &limits);
    let got: Vec<_> = fast
        .iter()
        .map(|(k, n, v)| (k, n.to_string(), v.to_string()))
        .collect();
    let want = portcullis_decide::reference_body(kind, Some(boundary), body, &limits);
    assert_eq!((got, fast.error, fast.truncated), want);
});

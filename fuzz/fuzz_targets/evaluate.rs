//! A generated rule set and requests (`portcullis-testgen`, the generator the property
//! tests share): the compiled policy decides exactly as the reference evaluator does,
//! HTTP answers included.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if bytes.len() > 4096 {
        return;
    }
    if let Err(e) = portcullis_testgen::check(bytes) {
        panic!("{e}");
    }
});

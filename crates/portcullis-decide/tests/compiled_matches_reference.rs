//! The compiled program must decide exactly as the reference evaluator does, for random
//! rule sets and random requests: verdicts, statuses, rules, shadow hits, rate-limit
//! state and the whole HTTP answer. Cases come from `portcullis-testgen`, the generator
//! the `evaluate` fuzz target shares, over a hostile alphabet (`%ff`, `+`, `%u`, encoded
//! dots and slashes, `;`, `\\`, repeated arguments and headers, absolute-form targets).

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn compiled_matches_reference(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        if let Err(e) = portcullis_testgen::check(&bytes) {
            return Err(TestCaseError::fail(e));
        }
    }
}

/// Fixed byte strings: the simplest case, and every choice at each extreme.
#[test]
fn fixed_cases() {
    let all: Vec<u8> = (0..=255).collect();
    for bytes in [&b""[..], &[1; 64], &[255; 300], &all] {
        portcullis_testgen::check(bytes).unwrap_or_else(|e| panic!("{e}"));
    }
}

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

/// Cases the generator once found, kept as regressions.
#[test]
fn regressions() {
    for bytes in [&b""[..]] {
        portcullis_testgen::check(bytes).unwrap_or_else(|e| panic!("{e}"));
    }
}

//! OWASP CRS's regression tests, in the go-ftw format, run against any engine.
//!
//! go-ftw sends each test's requests to a WAF over HTTP and reads the WAF's log for the
//! rule ids it expects (`log.expect_ids`) or must not see (`log.no_expect_ids`). Here
//! the WAF is a callback: [`run_suite`] builds each stage's request exactly as go-ftw
//! would put it on the wire (see [`stage_request`]), asks the callback which rules
//! matched, and checks the ids. Rule ids are compared as text, so a portcullis rule set
//! (string ids) and CRS (numbers) are run alike.
//!
//! ```
//! use portcullis_suite::{parse_ftw_file, stage_request, FtwLimits};
//!
//! let file = parse_ftw_file(r#"
//! rule_id: 942100
//! tests:
//!   - test_id: 1
//!     stages:
//!       - input:
//!           uri: "/?id=1'+or+'1'='1"
//!           headers: { Host: localhost }
//!         output:
//!           log: { expect_ids: [942100] }
//! "#).unwrap();
//! let req = stage_request(&file.tests[0].stages[0].input, &FtwLimits::default()).unwrap();
//! assert_eq!(req.request.uri, "/?id=1'+or+'1'='1");
//! assert_eq!(req.request.version.as_deref(), Some("HTTP/1.1"));
//!
//! // A space in the target would split the request line in four: not representable.
//! let mut input = file.tests[0].stages[0].input.clone();
//! input.uri = Some("/?id=1' or '1'='1".into());
//! let problem = stage_request(&input, &FtwLimits::default()).unwrap_err();
//! assert_eq!(problem.kind(), portcullis_suite::ProblemKind::NotRepresentable);
//! ```

// Nothing input can reach may panic (tests aside).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod backend;
mod request;
mod run;
mod schema;
#[cfg(test)]
mod tests;

pub use request::{parse_http_request, stage_request, FtwRequest, ProblemKind, RequestProblem};
pub use run::{
    run_suite, Failure as FtwFailure, FileError, Outcome, Report, SuiteOptions, TestOutcome,
    TestResult, Totals,
};
pub use schema::{
    parse_ftw_file, parse_overrides, read_ftw_file, read_overrides, Data, FtwError, FtwFile,
    FtwLimits, FtwMeta, FtwTest, HeaderMap, HeaderTuple, Ids, Input, Log, Output, Overrides,
    OverridesMeta, Stage, TestOverride,
};

//! Rule tests: files of `[[test]]`s, each one request (or a sequence of steps) and what the
//! decision must be, read through one schema with unknown keys refused, so a misspelt
//! expectation fails instead of passing silently.
//!
//! `portcullis test` runs a rule pack's `tests/*.toml` with it; the engine's own corpus
//! (`testdata/*.toml`) runs every case under every [`Evaluator`], so each configuration of
//! the compiled evaluator is held to the reference.
//!
//! ```toml
//! [[test]]
//! name = "admin-only: an anonymous caller is asked to log in"
//! request = { uri = "/admin/users" }
//! expect = { verdict = "forbid", status = 401, rule = "admin-only" }
//!
//! [[test]]
//! name = "login-throttle: the sixth login in a minute is refused"
//! step = [
//!   { request = { method = "POST", uri = "/login" }, repeat = 5, every = "1s", expect = { verdict = "allow" } },
//!   { request = { method = "POST", uri = "/login" }, expect = { verdict = "rate_limit", status = 429 } },
//! ]
//! ```
//!
//! The format is documented in docs/operators.md; [`Expect`] lists every expectation.

#![forbid(unsafe_code)]
#![warn(
    clippy::must_use_candidate,
    clippy::return_self_not_must_use,
    clippy::missing_errors_doc
)]

mod expect;
mod ftw;
mod run;
mod schema;

pub use expect::{Expect, Mismatch, RateExpect, RuleExpect};
pub use ftw::*;
pub use run::{run, Evaluator, Failure};
pub use schema::{parse_file, Step, Test, TestFile, DEFAULT_TIME};

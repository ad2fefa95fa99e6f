//! portcullis decisions: compile a [`RuleSet`](portcullis_rules::RuleSet) into a
//! [`Policy`] and evaluate [`Request`]s into [`Decision`]s that carry their HTTP answer.
//!
//! - [`Request`] borrows everything a rule can read: client IP, method, target, headers
//!   (through [`HeaderSource`]), the caller's [`Auth`], host attributes and a timestamp.
//!   [`OwnedRequest`] reads one from JSON.
//! - [`Policy::evaluate`] returns a [`Decision`]: the [`Verdict`], the deciding rule,
//!   shadow hits, a request id, and [`Decision::response`], the refusal to send
//!   (401 with `WWW-Authenticate`, 403, 404, 429 with `Retry-After` and `RateLimit`
//!   headers, an `application/problem+json` body as revealing as the policy says).
//! - [`RateLimiter`] holds GCRA state outside the policy so it survives reloads.
//!
//! # Example
//!
//! ```
//! use portcullis_decide::{Auth, Policy, Request, Verdict};
//! use portcullis_rules::RuleSet;
//!
//! let rules = RuleSet::parse("inline.toml", r#"
//! [policy]
//! www_authenticate = 'Bearer realm="api"'
//!
//! [[rule]]
//! id = "admin-only"
//! when = 'path starts_with "/admin/" and not auth.roles has "admin"'
//! action = "forbid"
//! "#).unwrap();
//! let policy = Policy::compile(rules).unwrap();
//!
//! // Anonymous: logging in could fix it, so 401 with a challenge.
//! let req = Request::new("GET", "/%61dmin/users");
//! let d = policy.evaluate(&req);
//! assert_eq!((d.verdict(), d.status(), d.rule_id()), (Verdict::Forbid, 401, Some("admin-only")));
//! let answer = d.response(&req).unwrap();
//! assert_eq!(answer.header("www-authenticate"), Some(r#"Bearer realm="api""#));
//!
//! // Known but not an admin: 403.
//! let viewer = Auth::authenticated("bob").with_roles(["viewer"]);
//! assert_eq!(policy.evaluate(&req.auth(&viewer)).status(), 403);
//! ```

#![forbid(unsafe_code)]
// The public API says what must not be dropped and what each error means.
#![warn(
    clippy::must_use_candidate,
    clippy::return_self_not_must_use,
    clippy::missing_errors_doc
)]
// Nothing input can reach may panic (tests aside).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![warn(missing_docs)]

mod compiled;
mod decision;
mod deferred;
mod evidence;
mod fields;
mod naive;
mod policy;
mod ratekey;
mod ratelimit;
mod reference;
mod request;
mod response;

pub use compiled::{FieldCost, RuleCost, Scratch};
pub use decision::{
    BodyState, Decision, Malformed, Oversize, RateInfo, RequestId, Response, Verdict,
};
pub use deferred::{Evaluation, LimitCheck, Pending};
pub use evidence::{Evidence, Message};

/// The reference evaluator's reading of a body, as (kind, name, value) arguments, its error
/// and whether it was truncated: for the differential fuzz target.
#[doc(hidden)]
#[must_use]
pub fn reference_body(
    kind: portcullis_match::body::BodyKind,
    boundary: Option<&str>,
    body: &[u8],
    limits: &portcullis_match::body::BodyLimits,
) -> ReferenceBody {
    let b = naive::read_body(kind, boundary, body, limits);
    (b.args, b.error, b.truncated)
}

/// What [`reference_body`] gives.
#[doc(hidden)]
pub type ReferenceBody = (
    Vec<(portcullis_match::body::ArgKind, String, String)>,
    Option<portcullis_match::body::BodyError>,
    bool,
);

/// The reference evaluator's model of a decoding function, for the differential fuzz target.
#[doc(hidden)]
#[must_use]
pub fn reference_transform(func: portcullis_rules::Transform, text: &str) -> String {
    naive::transform(func, text)
}
pub use policy::{CompileError, Policy, RuleTrace};
pub use portcullis_match::normalize::Ambiguity;
pub use ratelimit::{intervals, RateCheck, RateLimiter};
pub use request::{
    parse_client_ip, AttrSource, Auth, AuthStatus, HeaderSource, HeaderTotals, OwnedRequest,
    Request, RequestError,
};
pub use response::{AppResponse, OwnedAppResponse};

#[cfg(test)]
mod testoibits {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_unwind_safe<T: std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}

    #[test]
    fn public_types_are_send_sync() {
        assert_send_sync::<Policy>();
        assert_send_sync::<Decision>();
        assert_send_sync::<RateLimiter>();
        assert_send_sync::<OwnedRequest>();
        assert_send_sync::<CompileError>();
        assert_send_sync::<Oversize>();
        assert_send_sync::<HeaderTotals>();
        assert_unwind_safe::<OwnedRequest>();
        assert_unwind_safe::<Decision>();
    }
}

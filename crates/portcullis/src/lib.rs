//! portcullis: a web application firewall rule engine for Rust servers.
//!
//! Operators write rule files; an [`Engine`] compiles them once and, for every request,
//! returns a [`Decision`]: Allow, Forbid or RateLimit, with the HTTP answer already made
//! (401 with `WWW-Authenticate`, 403, 404, 429 with `Retry-After` and `RateLimit` headers,
//! a problem+json body) and the id of the rule that fired.
//!
//! # Example
//!
//! ```
//! use portcullis::{Auth, Engine, Request, Verdict};
//!
//! let engine = Engine::from_str(r#"
//! [[rule]]
//! id = "block-scanners"
//! when = 'user_agent contains_any {"sqlmap", "nikto"}'
//! action = "forbid"
//! reason = "automated scanner"
//! "#).unwrap();
//!
//! let headers = [("user-agent", "sqlmap/1.7")];
//! let req = Request::new("GET", "/").headers(&headers);
//! let decision = engine.evaluate(&req);
//! assert_eq!(decision.verdict(), Verdict::Forbid);
//! assert_eq!(decision.rule_id(), Some("block-scanners"));
//! assert_eq!(decision.response(&req).unwrap().status, 403);
//! ```
//!
//! The crates behind it: `portcullis-rules` (rule files), `portcullis-match` (matchers),
//! `portcullis-decide` (policies and decisions). Their main types are re-exported here.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod engine;

pub use engine::{Engine, LoadError, Reloaded};
pub use portcullis_decide::{
    parse_client_ip, Auth, AuthStatus, CompileError, Decision, HeaderSource, OwnedRequest,
    Policy, RateInfo, RateLimiter, Request, RequestError, RequestId, Response, RuleTrace, AttrSource,
    Verdict,
};
pub use portcullis_rules::{Diagnostic, RuleSet, Severity};

#[cfg(test)]
mod testoibits {
    use super::*;

    fn assert_send_sync<T: Send + Sync + std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}

    #[test]
    fn public_types_are_send_sync() {
        assert_send_sync::<Engine>();
        assert_send_sync::<Decision>();
        assert_send_sync::<LoadError>();
    }
}

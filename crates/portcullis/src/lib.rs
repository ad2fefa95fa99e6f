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
//! # Embedding
//!
//! - [`Engine`]: load rules ([`Engine::from_path`], [`Engine::from_str`]), decide
//!   ([`Engine::evaluate`]), reload while serving ([`Engine::reload`],
//!   [`Engine::reload_from`]). Cheap to clone, `Send + Sync`. A reload compiles off to the
//!   side and swaps atomically: each decision comes from the whole old or the whole new
//!   policy. A reload whose rules do not load keeps the old policy and returns
//!   [`LoadError`] with located diagnostics. Rate-limit state survives reloads for rules
//!   whose id and limit are unchanged.
//! - [`HttpRequest`] (feature `http`): a [`Request`] over `http::Request` or
//!   `http::request::Parts` and the peer address, borrowing header values in place;
//!   [`TrustedProxies`] works out the client address behind reverse proxies;
//!   [`to_http_response`] turns a refusal into an `http::Response`.
//! - [`PortcullisLayer`] (feature `tower`): a tower layer for axum, hyper and tonic.
//! - [`Engine::watch`] (feature `watch`): reload when the rule files change.
//!
//! # Decision log
//!
//! [`Engine::evaluate`] emits one `tracing` event at info level per refusal (target
//! `portcullis::decision`) and one per shadow hit, i.e. per `log` rule or shadow-mode rule
//! that matched (target `portcullis::shadow`), with the fields `request_id`, `rule`,
//! `verdict`, `status`, `reason`, `client_ip`, `method` and `path` (without the query).
//! The request id is the one in the refusal's body and `X-Request-Id` header, so an
//! operator can go from a complaint to the rule that fired. An allowed request without
//! shadow hits logs nothing and formats nothing.
//!
//! - `rule` is the deciding rule's id; for a refusal before any rule ran, the limit it
//!   exceeded (`(limit max_uri_bytes)`, `(limit max_header_count)`,
//!   `(limit max_header_bytes)`: 414, 431) or `(malformed)` (400); `(default)` only for
//!   the policy's default.
//! - Shadow hits add `action`, what the rule would have done, and `app_status`, what the
//!   application answered: its status when the [`PortcullisLayer`] logged the hit after
//!   the inner service answered, `unknown` when [`Engine::evaluate`] did (it cannot know)
//!   or the application never answered (a refusal, a failed inner service, a client
//!   that went away). It is written as text, so it has one type in JSON logs.
//! - **Budget.** Each rule may write [`LogBudget::DEFAULT`] events (100 per second; set
//!   with [`Engine::set_log_budget`], 0 for unlimited), so that a flood of refusals cannot
//!   fill a disk (35,000 refusals of one rule in a second wrote 8 MB; now 23 KB). Each
//!   rule, each pre-rule name above and the default has its own budget: one flooded rule
//!   does not silence another. Events past it are counted, not written; the rule's first
//!   event in a later interval is preceded by one `warn` event under the same target,
//!   `rule` and `suppressed` (the count) with the message `decision events suppressed`
//!   (`shadow events suppressed` for shadow hits). Counts pending when a reload replaces
//!   the policy, or the engine is dropped, are written then.
//!
//! The file watcher logs reloads under `portcullis::reload`: a reload that fails is one
//! `error` event, `error` the error count and `diagnostics` the located diagnostics.
//!
//! # Features
//!
//! - `http` (default): [`HttpRequest`], [`HeaderMapSource`], [`to_http_response`].
//! - `tower`: [`PortcullisLayer`], [`Portcullis`], [`CorsHeaders`]. Implies `http`.
//! - `watch`: [`Engine::watch`], reloading on file changes (the `notify` crate).
//!
//! The crates behind it: `portcullis-rules` (rule files), `portcullis-match` (matchers),
//! `portcullis-decide` (policies and decisions). Their main types are re-exported here.

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

pub mod access_log;
#[cfg(test)]
mod capture;
mod engine;
#[cfg(feature = "http")]
mod http_request;
#[cfg(feature = "tower")]
mod layer;
mod log;
mod proxy;
pub mod store;
#[cfg(feature = "watch")]
mod watch;

pub use engine::{Engine, EngineBuilder, LoadError, Reloaded};
#[cfg(feature = "http")]
pub use http_request::{to_http_response, ClientIp, HeaderMapSource, HttpRequest, PeerAddr};
#[cfg(feature = "tower")]
pub use layer::{
    CorsHeaders, Portcullis, PortcullisLayer, RequestBody, ResponseBody, ResponseFuture,
};
pub use log::LogBudget;
pub use portcullis_decide::{
    parse_client_ip, Ambiguity, AppResponse, AttrSource, Auth, AuthStatus, CompileError, Decision,
    HeaderSource, Malformed, Oversize, OwnedAppResponse, OwnedRequest, Policy, RateCheck, RateInfo,
    RateLimiter, Request, RequestError, RequestId, Response, Verdict,
};
pub use portcullis_rules::{
    Action, Ceilings, Diagnostic, Error as RulesError, LoadOptions, Mode, Rule, RuleSet, Severity,
};
pub use portcullis_seclang::{load_rules, load_rules_summarized};

/// Looking inside evaluation: traces of what each rule saw, what each field costs, and the
/// pieces for tuning the hot path and custom header sources. The crate root holds the
/// embedding API; this holds the tools around it.
pub mod inspect {
    pub use portcullis_decide::{FieldCost, HeaderTotals, RuleCost, RuleTrace, Scratch};
}
pub use proxy::{ForwardedHeader, ProxyError, TrustedProxies};
#[cfg(feature = "watch")]
pub use watch::{WatchError, Watcher, DEFAULT_DEBOUNCE};

#[cfg(test)]
mod testoibits {
    use super::*;

    fn assert_send_sync<T: Send + Sync + std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}

    #[test]
    fn public_types_are_send_sync() {
        assert_send_sync::<Engine>();
        assert_send_sync::<Decision>();
        assert_send_sync::<LoadError>();
        assert_send_sync::<Reloaded>();
        assert_send_sync::<LogBudget>();
        assert_send_sync::<Policy>();
        assert_send_sync::<TrustedProxies>();
        assert_send_sync::<ProxyError>();
        #[cfg(feature = "http")]
        {
            assert_send_sync::<HttpRequest<'static>>();
            assert_send_sync::<HeaderMapSource<'static>>();
            assert_send_sync::<PeerAddr>();
            assert_send_sync::<ClientIp>();
        }
        // Not unwind-safe: they hold the host's hooks, and `http` extensions.
        #[cfg(feature = "tower")]
        {
            assert_send_sync_only::<PortcullisLayer>();
            assert_send_sync_only::<Portcullis<()>>();
            assert_send_sync::<CorsHeaders>();
            assert_send_sync_only::<ResponseFuture<std::future::Ready<()>, (), (), ()>>();
            assert_send_sync::<ResponseBody<String>>();
        }
        #[cfg(feature = "watch")]
        {
            assert_send_sync::<WatchError>();
            assert_send::<Watcher>();
        }
    }

    #[cfg(feature = "watch")]
    fn assert_send<T: Send>() {}

    #[cfg(feature = "tower")]
    fn assert_send_sync_only<T: Send + Sync>() {}

    // Compile-time too: an engine can be moved into and shared between threads.
    const _: () = {
        const fn send_sync<T: Send + Sync>() {}
        send_sync::<Engine>();
        send_sync::<Decision>();
    };
}

//! The typed model a rule set is made of: settings, rules, actions and rate limits.

use std::time::Duration;

use crate::expr::Expr;
use crate::source::Span;

/// What happens when no rule decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Default {
    /// Let the request through.
    Allow,
    /// Refuse it (deny-by-default APIs).
    Forbid,
}

/// How much a 401/403 body tells the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reveal {
    /// Title and status only (public APIs).
    None,
    /// Adds the rule's reason.
    Reason,
    /// Adds the rule id and what was required against what the caller had (internal APIs).
    Detail,
}

/// The `[policy]` table: settings for the whole rule set.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Verdict when no rule decides.
    pub default: Default,
    /// Body detail for refusals.
    pub reveal: Reveal,
    /// The `WWW-Authenticate` challenge sent with 401.
    pub www_authenticate: String,
    /// Status for exceeded rate limits: 429 (default), 403 or 503.
    pub rate_limit_status: u16,
    /// Rules that read `auth.*` do not apply to CORS preflights (default true).
    pub preflight_exempt: bool,
    /// A request header whose value (if it is a safe token) becomes the request id.
    pub request_id_header: Option<String>,
    /// Most keys one rate-limited rule remembers; the idlest are evicted past it.
    pub rate_limit_max_keys: usize,
    /// Deepest nesting of a `when` condition.
    pub max_expression_depth: usize,
    /// Most items in one list, after its `file` is read (default 4,000,000: a full
    /// Internet routing table fits).
    pub max_list_items: usize,
    /// Most patterns matched against one field, across all rules and lists (default
    /// 100,000).
    pub max_patterns: usize,
    /// Longest pattern (literal or regex), in bytes (default 4,096).
    pub max_pattern_len: usize,
    /// Most heap bytes the regexes on one field may compile to (default 64 MiB).
    pub max_regex_bytes: usize,
    /// Most heap bytes of lazy-DFA cache per compiled regex and thread; past it the cache
    /// is reset, and searches stay linear-time (default 2 MiB).
    pub max_regex_cache_bytes: usize,
    /// Most heap bytes the literal automaton of one field may take as a DFA; a larger one
    /// is built as a compact NFA instead (default 32 MiB).
    pub max_literal_dfa_bytes: usize,
    /// Longest request target (path and query), in bytes (default 8,192).
    pub max_uri_bytes: usize,
    /// Most header fields in a request (default 100).
    pub max_header_count: usize,
    /// Most bytes of header names and values in a request, together (default 65,536).
    pub max_header_bytes: usize,
    /// What a request over one of the request limits gets (default: refused).
    pub on_oversize: OnOversize,
    /// Status refusing an over-long request target (default 414).
    pub uri_too_long_status: u16,
    /// Status refusing too many or too large headers (default 431).
    pub headers_too_large_status: u16,
    /// What a request whose path routers could read differently from `path` gets
    /// (default: refused with 400).
    pub on_ambiguous_path: OnAmbiguousPath,
    /// The server behind reads paths as Windows and IIS do (`%uXXXX`, trailing spaces,
    /// `::$DATA`, any case): `path` folds those too (default false).
    pub windows_paths: bool,
    /// Most bytes of a request body inspected (default 131,072).
    pub max_body_bytes: usize,
    /// Deepest nesting of JSON objects and arrays read; deeper is a `body.error`
    /// (default 32).
    pub max_json_depth: usize,
    /// Most arguments read from a body; past them `body.truncated` (default 1,000).
    pub max_body_args: usize,
    /// Most multipart parts read; past them `body.truncated` (default 100).
    pub max_multipart_parts: usize,
    /// What a request whose body is over `max_body_bytes` gets, when a rule reads the body
    /// (default: refused with 413).
    pub on_body_limit: OnBodyLimit,
}

/// What a request whose body is longer than `max_body_bytes` gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnBodyLimit {
    /// Refused with 413 before any rule runs (but only by a policy with a rule that reads
    /// the body).
    Forbid,
    /// Rules read the first `max_body_bytes`, and `body.truncated` is true.
    Inspect,
    /// Rules read none of it: `body.inspected` is false and `body.truncated` true.
    Allow,
}

/// What a request gets whose raw path routers read differently from the normalised
/// `path` the rules judge (a dot segment, an encoded `/` or `\`, a `\`, a `;` parameter,
/// a segment ending in a dot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnAmbiguousPath {
    /// Refused with 400 before any rule runs.
    Forbid,
    /// Judged on its normalised path like any other; the server must route on that path
    /// too (the tower layer forwards it; `HttpRequest::routed_uri` gives it).
    Rewrite,
}

/// What a request over a request limit (`max_uri_bytes`, `max_header_count`,
/// `max_header_bytes`) gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnOversize {
    /// Refused with `uri_too_long_status` or `headers_too_large_status`; no rule runs.
    Forbid,
    /// Not refused for its size: rules decide as usual (over the whole request, so
    /// padding cannot push an attack past what rules see), and the decision reports the
    /// limit exceeded.
    Allow,
}

impl std::default::Default for Settings {
    fn default() -> Settings {
        Settings {
            default: Default::Allow,
            reveal: Reveal::None,
            www_authenticate: "Bearer".to_string(),
            rate_limit_status: 429,
            preflight_exempt: true,
            request_id_header: Some("x-request-id".to_string()),
            rate_limit_max_keys: 100_000,
            max_expression_depth: 64,
            max_list_items: 4_000_000,
            max_patterns: 100_000,
            max_pattern_len: 4096,
            max_regex_bytes: 64 << 20,
            max_regex_cache_bytes: 2 << 20,
            max_literal_dfa_bytes: 32 << 20,
            max_uri_bytes: 8192,
            max_header_count: 100,
            max_header_bytes: 64 << 10,
            on_oversize: OnOversize::Forbid,
            uri_too_long_status: 414,
            headers_too_large_status: 431,
            on_ambiguous_path: OnAmbiguousPath::Forbid,
            windows_paths: false,
            max_body_bytes: 128 << 10,
            max_json_depth: 32,
            max_body_args: 1_000,
            max_multipart_parts: 100,
            on_body_limit: OnBodyLimit::Forbid,
        }
    }
}

/// What a rule does when its condition holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Let the request through; later rules are not consulted.
    Allow,
    /// Refuse it (401, 403 or 404).
    Forbid,
    /// Count it against a rate limit; refuse when exceeded (429).
    RateLimit,
    /// Record a match and go on.
    Log,
}

impl Action {
    /// The name used in rule files.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Forbid => "forbid",
            Action::RateLimit => "rate_limit",
            Action::Log => "log",
        }
    }
}

/// Whether a rule acts or only records what it would have done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// It acts.
    Enforce,
    /// It records and evaluation goes on: the safe way to roll out a rule.
    Shadow,
}

/// One part of a rate-limit key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RateKey {
    /// The client address, IPv4 cut to `v4_prefix` bits and IPv6 to `v6_prefix` bits.
    Ip {
        /// Prefix length for IPv4 (default 32).
        v4_prefix: u8,
        /// Prefix length for IPv6 (default 64: one subscriber usually holds a /64).
        v6_prefix: u8,
    },
    /// A header's value.
    Header(String),
    /// The caller's subject.
    AuthSubject,
    /// A host-supplied attribute.
    Attr(String),
}

/// `rate_limit = { key = [...], limit, period, burst }`: a GCRA limit.
#[derive(Clone, Debug, PartialEq)]
pub struct RateLimit {
    /// What requests are counted together.
    pub key: Vec<RateKey>,
    /// Requests per period, sustained.
    pub limit: u32,
    /// The period.
    pub period: Duration,
    /// Requests that may arrive at once from an idle key (default `limit`).
    pub burst: u32,
}

/// One `[[rule]]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// Unique id, reported in decisions.
    pub id: String,
    /// The condition.
    pub when: Expr,
    /// What happens when it holds.
    pub action: Action,
    /// Why, for logs and (with `reveal`) the caller.
    pub reason: Option<String>,
    /// Answer 404 instead of 401/403.
    pub hide: bool,
    /// Status override.
    pub status: Option<u16>,
    /// Enforce or shadow.
    pub mode: Mode,
    /// Higher runs first; ties keep file order.
    pub priority: i64,
    /// Free-form labels.
    pub tags: Vec<String>,
    /// Points the rule adds to named scores when it matches (`score = { inbound = 5 }`),
    /// read by later rules as `score["inbound"]`.
    pub score: Vec<(String, i64)>,
    /// Labels the rule attaches to the request when it matches, read by later rules as
    /// `labels`.
    pub labels: Vec<String>,
    /// The limit, for `action = "rate_limit"`.
    pub rate_limit: Option<RateLimit>,
    /// Its message and data for the log, filled in per match (SecLang's `msg` and
    /// `logdata`); `reason` is the message as written.
    pub log: Option<crate::RuleLog>,
    /// Where the rule's `id` is written.
    pub span: Span,
}

impl Rule {
    /// Whether the condition reads the caller's identity (`auth.*`).
    #[must_use]
    pub fn is_identity(&self) -> bool {
        self.when.is_identity()
    }

    /// Whether the condition reads the application's response (`response.*`).
    #[must_use]
    pub fn reads_response(&self) -> bool {
        let mut reads = false;
        self.when
            .visit_preds(&mut |p| p.visit_fields(&mut |f| reads |= f.reads_response()));
        reads
    }
}

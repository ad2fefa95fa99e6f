//! Decisions and the HTTP answers they carry.

use std::cell::Cell;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use portcullis_match::normalize::{Ambiguity, PathStyle};
use portcullis_rules::{Action, CmpOp, Field, PredKind, Reveal, Rule, Term};
use serde_json::{json, Map, Value};
use smallvec::SmallVec;

use crate::evidence::Evidence;
use crate::fields::Fields;
use crate::policy::{Policy, RuleIndex};
use crate::request::{AuthStatus, Request};

/// The outcome for a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Pass it on to the application.
    Allow,
    /// Refuse it: 401, 403 or 404.
    Forbid,
    /// Refuse it for now: 429 (or the configured status).
    RateLimit,
}

impl Verdict {
    /// `allow`, `forbid` or `rate_limit`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Forbid => "forbid",
            Verdict::RateLimit => "rate_limit",
        }
    }
}

/// A rule that matched without deciding: a `log` rule, or a rule in shadow mode reporting
/// what it would have done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ShadowHit {
    pub rule: RuleIndex,
    /// For a shadow rate limit, `RateLimit` only when the limit was exceeded.
    pub action: Action,
}

/// The state of the tightest rate limit that counted the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateInfo {
    pub(crate) rule: RuleIndex,
    /// Requests per period.
    pub limit: u32,
    /// Period in seconds (rounded up).
    pub window_secs: u64,
    /// Requests the key may still send at once.
    pub remaining: u32,
    /// Seconds until the key is fully replenished (rounded up).
    pub reset_secs: u64,
    /// Seconds to wait before retrying (rounded up; 0 when not exceeded).
    pub retry_after_secs: u64,
}

/// A request id: given by the host, taken from a request header, or generated.
/// Stored inline so a decision allocates nothing.
#[derive(Clone, Copy)]
pub struct RequestId {
    buf: [u8; 64],
    len: u8,
}

impl RequestId {
    /// Accepts 1 to 64 characters of `A-Z a-z 0-9 - _ . :` (so it is safe in headers, logs
    /// and JSON); anything else is refused.
    #[must_use]
    pub fn parse(s: &str) -> Option<RequestId> {
        let ok = (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
        ok.then(|| {
            let mut buf = [0u8; 64];
            buf[..s.len()].copy_from_slice(s.as_bytes());
            RequestId {
                buf,
                len: s.len() as u8,
            }
        })
    }

    /// A fresh id: 16 hex digits, unique within the process (a bijective mix of a serial
    /// number) and unpredictable across processes (the serials start from a random seed).
    #[must_use]
    pub fn generate() -> RequestId {
        RequestId::from_serial(next_serial())
    }

    /// The id generated for serial number `serial`: a bijection, so distinct serials
    /// give distinct ids.
    fn from_serial(serial: u64) -> RequestId {
        static SEED: OnceLock<u64> = OnceLock::new();
        let seed = *SEED.get_or_init(|| {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(0x9E37_79B9_7F4A_7C15);
            h.finish()
        });
        // splitmix64's finaliser.
        let mut v = serial.wrapping_add(seed);
        v = (v ^ (v >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        v = (v ^ (v >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        v ^= v >> 31;
        let mut buf = [0u8; 64];
        for (i, b) in buf.iter_mut().take(16).enumerate() {
            let nib = ((v >> (60 - 4 * i)) & 0xF) as u8;
            *b = b"0123456789abcdef"[nib as usize];
        }
        RequestId { buf, len: 16 }
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len as usize]).unwrap_or("")
    }
}

/// A serial number unique within the process. Each thread takes a block of them from the
/// shared counter and hands them out alone, so deciding touches no shared cache line.
pub(crate) fn next_serial() -> u64 {
    const BLOCK: u64 = 1 << 16;
    static NEXT_BLOCK: AtomicU64 = AtomicU64::new(0);
    thread_local! {
        static RANGE: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    }
    RANGE.with(|range| {
        let (mut next, mut end) = range.get();
        if next == end {
            next = NEXT_BLOCK.fetch_add(BLOCK, Ordering::Relaxed);
            end = next.wrapping_add(BLOCK);
        }
        range.set((next.wrapping_add(1), end));
        next
    })
}

/// A decision's request id as it was found: given (by the host or a header), or a serial
/// number, made into text only when someone asks for it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum IdSource {
    Given(RequestId),
    Serial(u64),
}

impl IdSource {
    fn id(self) -> RequestId {
        match self {
            IdSource::Given(id) => id,
            IdSource::Serial(n) => RequestId::from_serial(n),
        }
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({:?})", self.as_str())
    }
}

/// A request limit of the policy (`[policy]` settings) that a request exceeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Oversize {
    /// The request target is longer than `max_uri_bytes`.
    Uri {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// There are more header fields than `max_header_count`.
    HeaderCount {
        /// Header fields in the request.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// Header names and values take more bytes than `max_header_bytes`.
    HeaderBytes {
        /// Their size in bytes.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// The body is longer than `max_body_bytes` (refused under `on_body_limit =
    /// "forbid"`, by a policy with a rule that reads the body).
    Body {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl Oversize {
    /// The `[policy]` setting exceeded: `max_uri_bytes`, `max_header_count`,
    /// `max_header_bytes` or `max_body_bytes`.
    #[must_use]
    pub fn setting(&self) -> &'static str {
        match self {
            Oversize::Uri { .. } => "max_uri_bytes",
            Oversize::HeaderCount { .. } => "max_header_count",
            Oversize::HeaderBytes { .. } => "max_header_bytes",
            Oversize::Body { .. } => "max_body_bytes",
        }
    }

    /// A short description, used as the reason of a refusal for size.
    #[must_use]
    pub fn description(&self) -> &'static str {
        match self {
            Oversize::Uri { .. } => "request URI too long",
            Oversize::HeaderCount { .. } => "too many request headers",
            Oversize::HeaderBytes { .. } => "request headers too large",
            Oversize::Body { .. } => "request body too large",
        }
    }

    /// The size found and the limit.
    #[must_use]
    pub fn size_and_limit(&self) -> (usize, usize) {
        match *self {
            Oversize::Uri { len: n, max }
            | Oversize::HeaderCount { count: n, max }
            | Oversize::HeaderBytes { bytes: n, max }
            | Oversize::Body { len: n, max } => (n, max),
        }
    }
}

impl fmt::Display for Oversize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (n, max) = self.size_and_limit();
        write!(
            f,
            "{}: {n} over the limit of {max} (`{}`)",
            self.description(),
            self.setting()
        )
    }
}

/// A request the rules and the server behind portcullis could read differently: refused
/// with 400 before any rule runs, since any rule's verdict on it could be a bypass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Malformed {
    /// More than one `Host` field (RFC 9112 §3.2: a 400).
    DuplicateHost,
    /// A `Host` field that names another host than the target's authority (absolute-form
    /// target, or HTTP/2 `:authority`).
    HostMismatch,
    /// A path that routers read differently from the normalised `path`, refused under
    /// `on_ambiguous_path = "forbid"` (the default).
    AmbiguousPath(Ambiguity),
}

impl Malformed {
    /// A short description, used as the reason of the refusal.
    #[must_use]
    pub fn description(&self) -> &'static str {
        match self {
            Malformed::DuplicateHost => "more than one Host header",
            Malformed::HostMismatch => "Host header does not match the request target",
            Malformed::AmbiguousPath(a) => a.description(),
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

/// Why a refusal has the status it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cause {
    None,
    /// Identity-dependent refusal of a caller who is anonymous (`false`) or whose
    /// credentials were rejected (`true`): logging in could fix it.
    Unauthenticated {
        invalid: bool,
    },
    Forbidden,
    Hidden,
    RateLimited,
    /// Refused for its size before any rule ran (`on_oversize = "forbid"`).
    Oversize,
    /// Refused as malformed before any rule ran.
    Malformed,
}

/// The engine's answer for one request. When it refers to the policy that made it (a
/// deciding rule, a shadow hit or rate limit, a refusal's settings) it holds a handle to
/// that policy (a reference count, not a copy), so it outlives reloads and can travel with
/// the request. An allow by default refers to nothing and holds none: the common decision
/// writes no counter shared between cores.
#[derive(Clone, Debug)]
pub struct Decision {
    /// Which compiled policy decided ([`Policy`]'s own number, unique in the process):
    /// a decision that refers to nothing holds no handle to it.
    pub(crate) policy_id: u64,
    pub(crate) policy: Option<Policy>,
    pub(crate) path_style: PathStyle,
    pub(crate) verdict: Verdict,
    pub(crate) rule: Option<RuleIndex>,
    pub(crate) status: u16,
    pub(crate) cause: Cause,
    pub(crate) rate: Option<RateInfo>,
    pub(crate) shadow: SmallVec<[ShadowHit; 4]>,
    /// Every rule whose condition held, in evaluation order, the deciding one last.
    pub(crate) matched: SmallVec<[RuleIndex; 4]>,
    pub(crate) request_id: IdSource,
    pub(crate) oversize: Option<Oversize>,
    pub(crate) malformed: Option<Malformed>,
    /// Whether a rate-limit store was to count the request and could not (see
    /// [`Decision::rate_store_unavailable`]).
    pub(crate) rate_store_unavailable: bool,
    /// The body fields, when a rule read the body.
    pub(crate) body: Option<BodyState>,
}

/// What the body fields said about a request (`body.inspected`, `body.truncated`,
/// `body.error`), for the decision log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyState {
    /// `body.inspected`.
    pub inspected: bool,
    /// `body.truncated`.
    pub truncated: bool,
    /// `body.error`.
    pub error: Option<portcullis_match::body::BodyError>,
}

impl Decision {
    /// Whether a rate-limit store shared with other servers was to count this request and
    /// did not answer in time (or its circuit breaker was open): its limits were then
    /// applied under the store's failure mode (a local share, open or closed).
    #[must_use]
    pub fn rate_store_unavailable(&self) -> bool {
        self.rate_store_unavailable
    }

    /// Every rule whose condition held, in evaluation order: logging, shadow and rate-limit
    /// rules as well as the one that decided (last). Rules after the deciding one were not
    /// evaluated.
    pub fn matched(&self) -> impl Iterator<Item = &Rule> + '_ {
        self.matched
            .iter()
            .filter_map(|&i| self.policy.as_ref()?.rule_at(i))
    }

    /// For each matched rule that has log texts (SecLang's `msg` and `logdata`), the texts
    /// filled in: with the value it held on (`%{MATCHED_VAR}`), where (`%{MATCHED_VAR_NAME}`),
    /// what of it matched (`%{TX.0}`) and the scores as they stood after it ran, in the order
    /// of [`Decision::matched`]. Computed again from `req`, as [`Decision::evidence`] is.
    #[must_use]
    pub fn messages(&self, req: &Request<'_>) -> Vec<crate::Message> {
        match &self.policy {
            Some(p) => p.messages(req, &self.matched),
            None => Vec::new(),
        }
    }

    /// For each matched rule whose condition held on a member of a collection (`args`,
    /// `arg["q"]`, `headers`, `cookies`…), which member: its name and its value as the
    /// rule saw it (see [`Evidence`]), in the order of [`Decision::matched`]. It is
    /// computed again from `req`, which must be the request this decision is about, so a
    /// decision stays small and deciding allocates nothing: ask for it where a decision is
    /// shown (the decision log, `portcullis eval`). Empty for a decision that holds no
    /// policy (an allow by default with no shadow hit).
    #[must_use]
    pub fn evidence(&self, req: &Request<'_>) -> Vec<(&Rule, Evidence)> {
        match &self.policy {
            Some(p) => p.evidence(req, &self.matched),
            None => Vec::new(),
        }
    }

    /// [`Decision::evidence`] by the reference evaluator, for the differential tests.
    #[doc(hidden)]
    #[must_use]
    pub fn evidence_reference(&self, req: &Request<'_>) -> Vec<(&Rule, Evidence)> {
        match &self.policy {
            Some(p) => p.evidence_reference(req, &self.matched),
            None => Vec::new(),
        }
    }

    /// What the body fields said, when a rule read the body (the compiled evaluator reads
    /// it on the first rule that needs it; `None` when none did).
    #[must_use]
    pub fn body(&self) -> Option<BodyState> {
        self.body
    }

    /// Each score the rules that matched added to, with its total, in name order.
    #[must_use]
    pub fn scores(&self) -> Vec<(&str, i64)> {
        let mut totals: Vec<(&str, i64)> = Vec::new();
        for r in self.matched() {
            for (name, points) in &r.score {
                match totals.iter_mut().find(|(n, _)| n == name) {
                    Some((_, t)) => *t = t.saturating_add(*points),
                    None => totals.push((name, *points)),
                }
            }
        }
        totals.sort_unstable();
        totals
    }

    /// The rules that added to score `name`, in evaluation order.
    pub fn score_rules<'d>(&'d self, name: &'d str) -> impl Iterator<Item = &'d Rule> + 'd {
        self.matched()
            .filter(move |r| r.score.iter().any(|(n, _)| n == name))
    }

    /// The labels the rules that matched attached, in the order first attached.
    #[must_use]
    pub fn labels(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for l in self.matched().flat_map(|r| r.labels.iter()) {
            if !out.contains(&l.as_str()) {
                out.push(l);
            }
        }
        out
    }

    /// Allow, Forbid or RateLimit.
    #[must_use]
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// The rule that decided; `None` when the policy's default did.
    #[must_use]
    pub fn rule(&self) -> Option<&Rule> {
        self.rule.and_then(|i| self.policy.as_ref()?.rule_at(i))
    }

    /// The deciding rule's id.
    #[must_use]
    pub fn rule_id(&self) -> Option<&str> {
        self.rule().map(|r| r.id.as_str())
    }

    /// The deciding rule's reason; for a refusal for size, which limit was exceeded. A
    /// rule whose log texts fill it in (SecLang's `msg`: `Inbound Anomaly Score Exceeded
    /// (Total Score: 5)`) has it filled in from the decision's scores, never from what
    /// the request sent.
    #[must_use]
    pub fn reason(&self) -> Option<std::borrow::Cow<'_, str>> {
        use std::borrow::Cow;
        match (self.cause, self.oversize, self.malformed) {
            (Cause::Oversize, Some(o), _) => Some(Cow::Borrowed(o.description())),
            (Cause::Malformed, _, Some(m)) => Some(Cow::Borrowed(m.description())),
            _ => {
                let rule = self.rule()?;
                let policy = self.policy.as_ref()?;
                let filled = rule.log.as_ref().and_then(|log| {
                    log.0
                        .reason(&|name| policy.score_total(&self.matched, name))
                });
                match filled {
                    Some(filled) => Some(Cow::Owned(filled)),
                    None => rule.reason.as_deref().map(Cow::Borrowed),
                }
            }
        }
    }

    /// Why the request was refused as malformed (status 400, no rule id), if it was.
    #[must_use]
    pub fn malformed(&self) -> Option<Malformed> {
        self.malformed
    }

    /// The request limit the request exceeded, if any. With `on_oversize = "forbid"` the
    /// request was refused for it (status 414 or 431 by default, no rule id); with
    /// `"allow"` the rules decided as usual and this only reports it.
    #[must_use]
    pub fn oversize(&self) -> Option<Oversize> {
        self.oversize
    }

    /// The HTTP status: 200 when allowed, else 401, 403, 404, 429 or an override.
    #[must_use]
    pub fn status(&self) -> u16 {
        self.status
    }

    /// `log` and shadow-mode rules that matched.
    /// A shadow rate limit is listed (with `RateLimit`) only when it was exceeded.
    pub fn shadow_hits(&self) -> impl Iterator<Item = (&Rule, Action)> + '_ {
        self.shadow
            .iter()
            .filter_map(|h| Some((self.policy.as_ref()?.rule_at(h.rule)?, h.action)))
    }

    /// The tightest rate limit that counted this request, if any.
    #[must_use]
    pub fn rate_limit(&self) -> Option<&RateInfo> {
        self.rate.as_ref()
    }

    /// The rule whose limit a [`RateInfo`] describes.
    #[must_use]
    pub fn rate_limit_rule(&self) -> Option<&Rule> {
        self.rate
            .and_then(|r| self.policy.as_ref()?.rule_at(r.rule))
    }

    /// The policy that decided, when the decision refers to it: always for a refusal, a
    /// deciding rule, a shadow hit or a rate limit; `None` for an allow by default.
    #[must_use]
    pub fn policy(&self) -> Option<&Policy> {
        self.policy.as_ref()
    }

    /// The request id, also in every answer's body and in the decision log: the host's, the
    /// request header's, or one generated for this decision (made into text on each call,
    /// the same every time).
    #[must_use]
    pub fn request_id(&self) -> RequestId {
        self.request_id.id()
    }

    /// The path the server must route on for this decision to hold: the normalised path
    /// the rules judged, re-encoded, when it differs from `raw_path` (the path as sent);
    /// `None` when `raw_path` already is it. See `HttpRequest::routed_uri` in the facade.
    #[must_use]
    pub fn routed_path(&self, raw_path: &str) -> Option<String> {
        portcullis_match::normalize::routed_path(self.path_style, raw_path)
    }

    /// Whether this is a hidden refusal (`hide = true`): a 404 that must look like any
    /// other not-found answer of the application.
    #[must_use]
    pub fn is_hidden(&self) -> bool {
        self.cause == Cause::Hidden
    }

    /// Whether the request may pass.
    #[must_use]
    pub fn is_allowed(&self) -> bool {
        self.verdict == Verdict::Allow
    }

    /// Headers to add to the application's response when the request is allowed: the
    /// `RateLimit` fields when a limit counted it.
    #[must_use]
    pub fn allow_headers(&self) -> Vec<(&'static str, String)> {
        let mut h = Vec::new();
        if let (Some(r), Some(rule)) = (&self.rate, self.rate_limit_rule()) {
            rate_headers(r, &rule.id, &mut h);
        }
        h
    }

    /// The refusal to send instead of calling the application; `None` when allowed.
    /// `request` is the one decided about (read for `reveal = "detail"`).
    #[must_use]
    pub fn response(&self, request: &Request<'_>) -> Option<Response> {
        // A refusal always holds its policy (`Policy::decision`).
        let policy = self
            .policy
            .as_ref()
            .filter(|_| self.verdict != Verdict::Allow)?;
        let mut headers: Vec<(&'static str, String)> = vec![
            ("content-type", "application/problem+json".to_string()),
            ("cache-control", "no-store".to_string()),
            ("x-request-id", self.request_id().to_string()),
        ];
        let mut body = Map::new();
        body.insert("type".into(), json!("about:blank"));
        body.insert("title".into(), json!(title(self.status)));
        body.insert("status".into(), json!(self.status));
        let settings = &policy.rules().settings;
        let reveal = settings.reveal;
        // RFC 9110 §15.5.2: every 401 carries a challenge, also one set by a `status`
        // override on a rule that does not read identity.
        let challenge = match self.cause {
            Cause::Unauthenticated { invalid } => Some(invalid),
            _ if self.status == 401 => Some(request.auth.effective_status() == AuthStatus::Invalid),
            _ => None,
        };
        if let Some(invalid) = challenge {
            let mut challenge = settings.www_authenticate.trim_end().to_string();
            let scheme = challenge.split(' ').next().unwrap_or("");
            if invalid && scheme.eq_ignore_ascii_case("bearer") {
                // RFC 6750 §3.1: tell the client its token, not its request, is the problem.
                challenge.push_str(if challenge.len() > scheme.len() {
                    ", "
                } else {
                    " "
                });
                challenge.push_str("error=\"invalid_token\"");
            }
            headers.push(("www-authenticate", challenge));
        }
        if self.cause == Cause::RateLimited {
            if let (Some(r), Some(rule)) = (&self.rate, self.rate_limit_rule()) {
                headers.push(("retry-after", r.retry_after_secs.max(1).to_string()));
                rate_headers(r, &rule.id, &mut headers);
            }
        }
        // A hidden resource answers like any missing one: nothing more.
        if self.cause != Cause::Hidden {
            if reveal >= Reveal::Reason {
                if let Some(reason) = self.reason() {
                    body.insert("detail".into(), json!(reason.as_ref()));
                }
            }
            if reveal >= Reveal::Detail {
                if let Some(rule) = self.rule() {
                    body.insert("rule".into(), json!(rule.id));
                    requirements(rule, request, settings, &mut body);
                }
                if let (Cause::Oversize, Some(o)) = (self.cause, self.oversize) {
                    let (size, max) = o.size_and_limit();
                    body.insert("limit".into(), json!(o.setting()));
                    body.insert("size".into(), json!(size));
                    body.insert("max".into(), json!(max));
                }
                if let (Cause::RateLimited, Some(r)) = (self.cause, &self.rate) {
                    body.insert("limit".into(), json!(r.limit));
                    body.insert("window_seconds".into(), json!(r.window_secs));
                    body.insert(
                        "retry_after_seconds".into(),
                        json!(r.retry_after_secs.max(1)),
                    );
                }
            }
        }
        body.insert("request_id".into(), json!(self.request_id().as_str()));
        Some(Response {
            status: self.status,
            headers,
            body: Value::Object(body).to_string(),
        })
    }
}

/// A refusal, ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header names (lowercase) and values.
    pub headers: Vec<(&'static str, String)>,
    /// An `application/problem+json` body (RFC 9457).
    pub body: String,
}

impl Response {
    /// The first value of a header.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers): the policy
/// named after the rule, its quota and window, what remains and when it resets.
fn rate_headers(r: &RateInfo, name: &str, out: &mut Vec<(&'static str, String)>) {
    out.push((
        "ratelimit-policy",
        format!("\"{name}\";q={};w={}", r.limit, r.window_secs),
    ));
    out.push((
        "ratelimit",
        format!("\"{name}\";r={};t={}", r.remaining, r.reset_secs),
    ));
}

fn title(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        414 => "URI Too Long",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ if status < 500 => "Client Error",
        _ => "Server Error",
    }
}

/// For `reveal = "detail"`: what the rule required of the caller's identity and what the
/// caller had, e.g. `required_role: admin`, `your_roles: [viewer]`.
fn requirements(
    rule: &Rule,
    request: &Request<'_>,
    settings: &portcullis_rules::Settings,
    body: &mut Map<String, Value>,
) {
    let fields = Fields::new(request, settings);
    let auth = request.auth;
    let authed = auth.is_authenticated();
    rule.when.visit_preds(&mut |p| match &p.kind {
        PredKind::Has {
            set: Term::Field(f),
            item: Term::Str(want),
        } => {
            let (req, have, mine) = match f {
                Field::AuthRoles => ("required_role", "your_roles", &auth.roles),
                Field::AuthScopes => ("required_scope", "your_scopes", &auth.scopes),
                _ => return,
            };
            body.insert(req.into(), json!(want));
            body.insert(
                have.into(),
                json!(if authed { mine.clone() } else { Vec::new() }),
            );
        }
        PredKind::Compare {
            lhs,
            op: CmpOp::Eq | CmpOp::Ne,
            rhs,
        } => {
            let (other, field) = match (lhs, rhs) {
                (Term::Field(f), o) | (o, Term::Field(f)) if f.is_identity() => (o, f),
                _ => return,
            };
            let name = match field {
                Field::AuthTenant => "tenant",
                Field::AuthSubject => "subject",
                _ => return,
            };
            let required = match other {
                Term::Str(s) => Some(s.clone()),
                Term::PathSegment(n) => {
                    crate::naive::path_segment(&fields.path, *n).map(str::to_string)
                }
                Term::Field(f) => fields.string(f).map(|s| s.into_owned()),
                _ => None,
            };
            let mine = fields.string(field).map(|s| s.into_owned());
            body.insert(format!("required_{name}"), json!(required));
            body.insert(format!("your_{name}"), json!(mine));
        }
        PredKind::Test(Term::Field(Field::AuthAuthenticated)) => {
            body.insert("required".into(), json!("authentication"));
            let status = match auth.effective_status() {
                AuthStatus::Anonymous => "anonymous",
                AuthStatus::Invalid => "invalid",
                AuthStatus::Authenticated => "authenticated",
            };
            body.insert("your_status".into(), json!(status));
        }
        _ => {}
    });
}

//! The request a decision is made about: a borrowed view, and an owned form read from JSON.

use crate::response::{AppResponse, OwnedAppResponse};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;

use crate::decision::Malformed;
use crate::policy::MalformedChecks;

/// Access to a request's headers without copying them.
///
/// Implemented for arrays and vectors of `(name, value)` pairs; the `portcullis` crate implements it
/// for `http::HeaderMap`.
pub trait HeaderSource {
    /// Calls `f` with every value of the header `name` (given lowercase), in order.
    fn for_each(&self, name: &str, f: &mut dyn FnMut(&[u8]));

    /// Calls `f` with every header field's name and value, in order (the `headers` and
    /// `header_names` collections): the same fields [`for_each`](HeaderSource::for_each)
    /// finds by name.
    fn for_all(&self, f: &mut dyn FnMut(&str, &[u8]));

    /// How many header fields there are (a repeated header counts once per value) and
    /// how many bytes their names and values take together: what the policy's
    /// `max_header_count` and `max_header_bytes` limits are checked against.
    fn totals(&self) -> HeaderTotals;

    /// [`totals`](HeaderSource::totals), calling `f` with every value of the header `name`
    /// (given lowercase) on the way. A source that walks its fields for both (a list of
    /// pairs) does it in one pass; the default asks for each apart.
    fn totals_with(&self, name: &str, f: &mut dyn FnMut(&[u8])) -> HeaderTotals {
        self.for_each(name, f);
        self.totals()
    }
}

/// The size of a request's headers, from [`HeaderSource::totals`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeaderTotals {
    /// Header fields, each value of a repeated header counted.
    pub count: usize,
    /// Bytes of names and values together (without separators).
    pub bytes: usize,
}

impl HeaderTotals {
    /// Counts one field.
    pub fn add(&mut self, name: &[u8], value: &[u8]) {
        self.count += 1;
        self.bytes = self
            .bytes
            .saturating_add(name.len())
            .saturating_add(value.len());
    }
}

fn pairs_for_each<N: AsRef<str>, V: AsRef<[u8]>>(
    pairs: &[(N, V)],
    name: &str,
    f: &mut dyn FnMut(&[u8]),
) {
    for (n, v) in pairs {
        if n.as_ref().eq_ignore_ascii_case(name) {
            f(v.as_ref());
        }
    }
}

fn pairs_totals<N: AsRef<str>, V: AsRef<[u8]>>(pairs: &[(N, V)]) -> HeaderTotals {
    pairs_totals_with(pairs, "", &mut |_| {})
}

fn pairs_totals_with<N: AsRef<str>, V: AsRef<[u8]>>(
    pairs: &[(N, V)],
    name: &str,
    f: &mut dyn FnMut(&[u8]),
) -> HeaderTotals {
    let mut t = HeaderTotals::default();
    for (n, v) in pairs {
        let (n, v) = (n.as_ref(), v.as_ref());
        t.add(n.as_bytes(), v);
        if n.eq_ignore_ascii_case(name) {
            f(v);
        }
    }
    t
}

impl<N: AsRef<str>, V: AsRef<[u8]>> HeaderSource for Vec<(N, V)> {
    fn for_each(&self, name: &str, f: &mut dyn FnMut(&[u8])) {
        pairs_for_each(self, name, f);
    }
    fn for_all(&self, f: &mut dyn FnMut(&str, &[u8])) {
        for (n, v) in self {
            f(n.as_ref(), v.as_ref());
        }
    }
    fn totals(&self) -> HeaderTotals {
        pairs_totals(self)
    }
    fn totals_with(&self, name: &str, f: &mut dyn FnMut(&[u8])) -> HeaderTotals {
        pairs_totals_with(self, name, f)
    }
}

impl<N: AsRef<str>, V: AsRef<[u8]>, const K: usize> HeaderSource for [(N, V); K] {
    fn for_each(&self, name: &str, f: &mut dyn FnMut(&[u8])) {
        pairs_for_each(self, name, f);
    }
    fn for_all(&self, f: &mut dyn FnMut(&str, &[u8])) {
        for (n, v) in self {
            f(n.as_ref(), v.as_ref());
        }
    }
    fn totals(&self) -> HeaderTotals {
        pairs_totals(self)
    }
    fn totals_with(&self, name: &str, f: &mut dyn FnMut(&[u8])) -> HeaderTotals {
        pairs_totals_with(self, name, f)
    }
}

/// Host-supplied attributes (`attr["name"]`) without copying them.
///
/// Implemented for arrays and vectors of `(name, value)` pairs.
pub trait AttrSource {
    /// The value of attribute `name`.
    fn get(&self, name: &str) -> Option<&str>;
}

impl<K: AsRef<str>, V: AsRef<str>> AttrSource for Vec<(K, V)> {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.as_ref() == name)
            .map(|(_, v)| v.as_ref())
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> AttrSource for [(K, V); N] {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.as_ref() == name)
            .map(|(_, v)| v.as_ref())
    }
}

/// Whether the host verified the caller, and how that went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthStatus {
    /// No credentials were presented.
    #[default]
    Anonymous,
    /// Credentials were presented and rejected (expired, bad signature, unknown token).
    Invalid,
    /// Credentials were verified.
    Authenticated,
}

/// The caller's identity, as the host established it. Authentication is the host's job;
/// portcullis only reads the result.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// Anonymous, invalid or authenticated. When absent in JSON, a `subject` means
    /// authenticated.
    #[serde(default)]
    pub status: Option<AuthStatus>,
    /// User or client id.
    #[serde(default)]
    pub subject: Option<String>,
    /// Roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// OAuth scopes or permissions.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Tenant the caller belongs to.
    #[serde(default)]
    pub tenant: Option<String>,
}

impl Auth {
    /// An authenticated caller.
    pub fn authenticated(subject: impl Into<String>) -> Auth {
        Auth {
            status: Some(AuthStatus::Authenticated),
            subject: Some(subject.into()),
            ..Auth::default()
        }
    }

    /// A caller whose credentials were rejected.
    #[must_use]
    pub fn invalid() -> Auth {
        Auth {
            status: Some(AuthStatus::Invalid),
            ..Auth::default()
        }
    }

    /// Adds roles.
    #[must_use]
    pub fn with_roles<S: Into<String>>(mut self, roles: impl IntoIterator<Item = S>) -> Auth {
        self.roles.extend(roles.into_iter().map(Into::into));
        self
    }

    /// Adds scopes.
    #[must_use]
    pub fn with_scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Auth {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Sets the tenant.
    #[must_use]
    pub fn with_tenant(mut self, tenant: impl Into<String>) -> Auth {
        self.tenant = Some(tenant.into());
        self
    }

    /// The effective status: explicit, else authenticated when there is a subject.
    #[must_use]
    pub fn effective_status(&self) -> AuthStatus {
        self.status.unwrap_or(if self.subject.is_some() {
            AuthStatus::Authenticated
        } else {
            AuthStatus::Anonymous
        })
    }

    /// Whether the caller is authenticated. Identity fields of a caller that is not are
    /// treated as absent.
    #[must_use]
    pub fn is_authenticated(&self) -> bool {
        self.effective_status() == AuthStatus::Authenticated
    }

    /// The anonymous caller, borrowed: what a request without credentials carries.
    #[must_use]
    pub fn anonymous() -> &'static Auth {
        &ANONYMOUS
    }
}

static ANONYMOUS: Auth = Auth {
    status: None,
    subject: None,
    roles: Vec::new(),
    scopes: Vec::new(),
    tenant: None,
};

pub(crate) static NO_HEADERS: [(&str, &str); 0] = [];

impl<'a> Request<'a> {
    /// Sets the host attributes.
    #[must_use]
    pub fn attrs(mut self, attrs: &'a dyn AttrSource) -> Self {
        self.attrs = attrs;
        self
    }
}

/// A borrowed view of one HTTP request: everything a rule can read.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// Client address; `None` when the host could not tell (rules on `ip` then do not match).
    pub client_ip: Option<IpAddr>,
    /// Method, as sent.
    pub method: &'a str,
    /// Request target as sent: `/path?query` (absolute form accepted).
    pub uri: &'a str,
    /// The HTTP version as sent, as a request line spells it (`HTTP/1.1`; `HTTP/2.0` and
    /// `HTTP/3.0` for those, as ModSecurity spells them): the `protocol` field, and the
    /// end of `request_line`. `None` when the host does not know it (rules on `protocol`
    /// then see it absent).
    pub version: Option<&'a str>,
    /// The target's authority when the host knows it apart from `uri`: HTTP/2's
    /// `:authority`, or the authority of an absolute-form target whose `uri` was given in
    /// origin form. Like an absolute-form `uri`'s own authority, it wins over `Host`.
    pub authority: Option<&'a str>,
    /// Headers.
    pub headers: &'a dyn HeaderSource,
    /// The caller's identity.
    pub auth: &'a Auth,
    /// ISO country code, from the host's geo lookup.
    pub geo_country: Option<&'a str>,
    /// Host-supplied attributes (`attr["name"]`).
    pub attrs: &'a dyn AttrSource,
    /// When the request arrived (since the Unix epoch). Rate limits use it when given, so
    /// replaying recorded traffic is deterministic; otherwise the clock.
    pub time: Option<Duration>,
    /// An id for the request; otherwise one is taken from the request-id header or made up.
    pub id: Option<&'a str>,
    /// The body, when the host has it (read as its `Content-Type` header says; see
    /// docs/requests.md). `None`: no body was given (rules see none: `body.inspected` is
    /// false for a request that says it has one).
    pub body: Option<&'a [u8]>,
    /// The application's response to this request, when the host asks about it (after
    /// the request was allowed): the `response.*` fields read it; without it they are
    /// absent, and rules on them do not match. Asked with its response, a request is not
    /// counted against rate limits again.
    pub response: Option<AppResponse<'a>>,
}

/// Appends every value of header `name` joined with `, ` (RFC 9110 field combination),
/// invalid UTF-8 replaced; returns whether the header is there.
pub(crate) fn header_into(headers: &dyn HeaderSource, name: &str, out: &mut String) -> bool {
    let mut n = 0;
    headers.for_each(name, &mut |v| {
        if n > 0 {
            out.push_str(", ");
        }
        portcullis_match::normalize::push_bytes_lossy(v, out);
        n += 1;
    });
    n > 0
}

impl<'a> Request<'a> {
    /// A request with no headers, an anonymous caller and no attributes.
    #[must_use]
    pub fn new(method: &'a str, uri: &'a str) -> Request<'a> {
        Request {
            client_ip: None,
            method,
            uri,
            version: None,
            authority: None,
            headers: &NO_HEADERS,
            auth: &ANONYMOUS,
            geo_country: None,
            attrs: &NO_HEADERS,
            time: None,
            id: None,
            body: None,
            response: None,
        }
    }

    /// Sets the application's response, for the rules on `response.*`.
    #[must_use]
    pub fn response(mut self, response: AppResponse<'a>) -> Self {
        self.response = Some(response);
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn body(mut self, body: &'a [u8]) -> Self {
        self.body = Some(body);
        self
    }

    /// Sets the HTTP version as sent (`"HTTP/1.1"`; see [`Request::version`]).
    #[must_use]
    pub fn version(mut self, version: &'a str) -> Self {
        self.version = Some(version);
        self
    }

    /// Sets the client address.
    #[must_use]
    pub fn client_ip(mut self, ip: IpAddr) -> Self {
        self.client_ip = Some(ip);
        self
    }

    /// Sets the headers.
    #[must_use]
    pub fn headers(mut self, headers: &'a dyn HeaderSource) -> Self {
        self.headers = headers;
        self
    }

    /// Sets the target's authority (see [`Request::authority`]).
    #[must_use]
    pub fn authority(mut self, authority: &'a str) -> Self {
        self.authority = Some(authority);
        self
    }

    /// Sets the caller's identity.
    #[must_use]
    pub fn auth(mut self, auth: &'a Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Sets the arrival time.
    #[must_use]
    pub fn time(mut self, since_epoch: Duration) -> Self {
        self.time = Some(since_epoch);
        self
    }

    /// A header's values joined ([`header_into`]).
    pub(crate) fn header_into(&self, name: &str, out: &mut String) -> bool {
        header_into(self.headers, name, out)
    }

    /// Whether this is a CORS preflight: the method exactly `OPTIONS` (methods are
    /// case-sensitive, RFC 9110 §9.1), `Origin` and `Access-Control-Request-Method`
    /// present, and no credentials (`Authorization`, `Cookie`, or an authenticated
    /// caller): a browser never sends them on a preflight, so a request that carries them
    /// is not one, whatever else it looks like.
    #[must_use]
    pub fn is_preflight(&self) -> bool {
        if self.method != "OPTIONS" || self.auth.is_authenticated() {
            return false;
        }
        let has = |name: &str| {
            let mut found = false;
            self.headers.for_each(name, &mut |_| found = true);
            found
        };
        has("origin")
            && has("access-control-request-method")
            && !has("authorization")
            && !has("cookie")
    }

    /// How the request is malformed in a way that would let the rules and the server
    /// disagree about it, if it is (the fast form; the reference has its own).
    /// `raw_path` gives the target's path, as `normalize::split_target` cuts it.
    pub(crate) fn malformed<'p>(
        &self,
        raw_path: impl FnOnce() -> &'p str,
        checks: MalformedChecks,
    ) -> Option<Malformed> {
        if checks.host {
            if let Some(m) = self.host_malformed() {
                return Some(m);
            }
        }
        if checks.ambiguous_path {
            return portcullis_match::normalize::ambiguity(raw_path())
                .map(Malformed::AmbiguousPath);
        }
        None
    }

    fn host_malformed(&self) -> Option<Malformed> {
        use portcullis_match::normalize;
        let authority = self.authority.or_else(|| normalize::authority(self.uri));
        let (mut hosts, mut mismatch) = (0, false);
        self.headers.for_each("host", &mut |v| {
            hosts += 1;
            if let (1, Some(a)) = (hosts, authority) {
                let h = String::from_utf8_lossy(v);
                mismatch = !normalize::host_part(&h).eq_ignore_ascii_case(normalize::host_part(a));
            }
        });
        if hosts > 1 {
            return Some(Malformed::DuplicateHost);
        }
        mismatch.then_some(Malformed::HostMismatch)
    }
}

impl std::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("client_ip", &self.client_ip)
            .field("method", &self.method)
            .field("uri", &self.uri)
            .field("version", &self.version)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// Headers in JSON: an object (`{"name": "value"}`, a value may be an array for repeated
/// headers) or an array of `[name, value]` pairs.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
enum JsonHeaders {
    Map(BTreeMap<String, OneOrMany>),
    Pairs(Vec<(String, String)>),
}

#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Geo {
    country: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRequest {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    ip: Option<String>,
    #[serde(default = "default_method")]
    method: String,
    #[serde(alias = "path")]
    uri: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    headers: Option<JsonHeaders>,
    #[serde(default)]
    auth: Option<Auth>,
    #[serde(default)]
    geo: Option<Geo>,
    #[serde(default)]
    attrs: BTreeMap<String, String>,
    #[serde(default)]
    time: Option<f64>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    body_base64: Option<String>,
    #[serde(default)]
    response: Option<JsonResponse>,
}

/// `"response": {"status": 500, "headers": {…}, "body": "…"}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonResponse {
    status: u16,
    #[serde(default)]
    headers: Option<JsonHeaders>,
    #[serde(default)]
    body: Option<String>,
}

fn default_method() -> String {
    "GET".to_string()
}

/// An owned request, read from JSON (the format of `portcullis eval`; see docs/requests.md).
#[derive(Clone, Debug, Default)]
pub struct OwnedRequest {
    /// Request id.
    pub id: Option<String>,
    /// Client address.
    pub client_ip: Option<IpAddr>,
    /// Method.
    pub method: String,
    /// Request target.
    pub uri: String,
    /// HTTP version as sent (`HTTP/1.1`), when known.
    pub version: Option<String>,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
    /// Identity.
    pub auth: Auth,
    /// Country.
    pub geo_country: Option<String>,
    /// Attributes.
    pub attrs: Vec<(String, String)>,
    /// Arrival time.
    pub time: Option<Duration>,
    /// Body.
    pub body: Option<Vec<u8>>,
    /// The application's response, when the request is asked about with it.
    pub response: Option<OwnedAppResponse>,
}

/// Why a JSON request could not be read.
#[derive(Debug)]
pub struct RequestError(String);

impl RequestError {
    /// What is wrong with the request, in one line.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RequestError {}

impl OwnedRequest {
    /// Reads one request from JSON.
    ///
    /// # Errors
    ///
    /// Text that is not JSON, or not the request schema (docs/requests.md): unknown keys, a
    /// missing `method` or `path`, an invalid address, a `version` that is empty or holds
    /// a space or a control character.
    pub fn from_json(text: &str) -> Result<OwnedRequest, RequestError> {
        let j: JsonRequest = serde_json::from_str(text).map_err(|e| RequestError(e.to_string()))?;
        let client_ip = match j.ip.as_deref() {
            None => None,
            Some(s) => Some(
                parse_client_ip(s)
                    .ok_or_else(|| RequestError(format!("`ip` is not an IP address: {s:?}")))?,
            ),
        };
        let time = match j.time {
            None => None,
            Some(t) if (0.0..1e11).contains(&t) => Some(Duration::from_secs_f64(t)),
            Some(t) => {
                return Err(RequestError(format!(
                    "`time` must be seconds since the Unix epoch, found {t}"
                )))
            }
        };
        let headers = header_pairs(j.headers);
        if j.method.is_empty() || !j.method.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(RequestError(format!(
                "`method` is not a valid method: {:?}",
                j.method
            )));
        }
        // A request line's version is one token: a space would shift `request_line`.
        if let Some(v) = &j.version {
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(RequestError(format!(
                    "`version` is not an HTTP version as a request line spells it (`HTTP/1.1`): {v:?}"
                )));
            }
        }
        let body = match (j.body, j.body_base64) {
            (Some(_), Some(_)) => {
                return Err(RequestError(
                    "give the body as `body` or as `body_base64`, not both".to_string(),
                ))
            }
            (Some(text), None) => Some(text.into_bytes()),
            (None, Some(b64)) => Some(base64(&b64).ok_or_else(|| {
                RequestError("`body_base64` is not base64 (RFC 4648, with padding)".to_string())
            })?),
            (None, None) => None,
        };
        Ok(OwnedRequest {
            id: j.id,
            client_ip,
            method: j.method,
            uri: j.uri,
            version: j.version,
            headers,
            auth: j.auth.unwrap_or_default(),
            geo_country: j.geo.and_then(|g| g.country),
            attrs: j.attrs.into_iter().collect(),
            time,
            body,
            response: j.response.map(|r| OwnedAppResponse {
                status: r.status,
                headers: header_pairs(r.headers),
                body: r.body.map(String::into_bytes),
            }),
        })
    }

    /// The borrowed view.
    #[must_use]
    pub fn view(&self) -> Request<'_> {
        Request {
            client_ip: self.client_ip,
            method: &self.method,
            uri: &self.uri,
            version: self.version.as_deref(),
            authority: None,
            headers: &self.headers,
            auth: &self.auth,
            geo_country: self.geo_country.as_deref(),
            attrs: &self.attrs,
            time: self.time,
            id: self.id.as_deref(),
            body: self.body.as_deref(),
            response: self.response.as_ref().map(OwnedAppResponse::view),
        }
    }
}

fn header_pairs(headers: Option<JsonHeaders>) -> Vec<(String, String)> {
    match headers {
        None => Vec::new(),
        Some(JsonHeaders::Pairs(p)) => p,
        Some(JsonHeaders::Map(m)) => m
            .into_iter()
            .flat_map(|(k, v)| {
                let vals = match v {
                    OneOrMany::One(s) => vec![s],
                    OneOrMany::Many(v) => v,
                };
                vals.into_iter().map(move |v| (k.clone(), v))
            })
            .collect(),
    }
}

/// Strict base64 (RFC 4648 §4, padded, whitespace not allowed): `None` when it is not.
fn base64(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if b.len() % 4 != 0 {
        return None;
    }
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(b.len() / 4 * 3);
    for (n, chunk) in b.chunks(4).enumerate() {
        let last = n + 1 == b.len() / 4;
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut acc: u32 = 0;
        for &c in &chunk[..4 - pad] {
            acc = acc << 6 | u32::from(value(c)?);
        }
        acc <<= 6 * pad as u32;
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - pad]);
    }
    Some(out)
}

/// Parses a client address as it appears in logs and headers: IPv4, IPv6, bracketed IPv6,
/// an IPv6 zone id (dropped). IPv4-mapped IPv6 becomes IPv4.
pub fn parse_client_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    let s = s
        .strip_prefix('[')
        .and_then(|r| r.split_once(']'))
        .map_or(s, |(a, _)| a);
    let s = s.split_once('%').map_or(s, |(a, _)| a);
    s.parse().ok().map(portcullis_rules::canonical_ip)
}

//! One stage's input as the request portcullis evaluates.
//!
//! The request is first written out as the bytes go-ftw would send (its `BuildRequest`:
//! the request line as given, headers from a map sorted by name, the body's form
//! encoding, multipart line endings, and the autocompleted `Content-Type`, `Connection`
//! and `Content-Length`), then read back by one HTTP/1.x reader, the same one that reads
//! `encoded_request` and `raw_request`. So every request is what a server would have
//! read off the wire, and what that reader cannot represent in an [`OwnedRequest`] (a
//! request line that does not split in three, bytes that are not UTF-8 where the request
//! holds text, a body whose length cannot be told) is reported with the reason, never
//! guessed.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use portcullis_decide::OwnedRequest;

use super::schema::{Data, FtwLimits, Input};

/// The request of one stage, ready to evaluate.
#[derive(Clone, Debug)]
pub struct FtwRequest {
    /// The request: client 127.0.0.1 (the test runner; `dest_addr` is the WAF's address),
    /// method, target as sent (query included), the request line's version as sent
    /// (`HTTP/1.1`), headers in the order sent, and the body (empty when there is none; a
    /// chunked body is given decoded).
    pub request: OwnedRequest,
    /// The request line as sent, without its line ending.
    pub request_line: String,
    /// Whether the request was given whole (`encoded_request` or `raw_request`).
    pub raw: bool,
    /// Bytes sent after the request's end (past its `Content-Length`, or a body a request
    /// without framing headers carries): a server reads them as the next request.
    pub trailing_bytes: usize,
}

/// What kind of problem kept a stage's request from being built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProblemKind {
    /// The input cannot be decoded (bad base64).
    Unreadable,
    /// The request is well-formed for go-ftw but portcullis's request cannot carry it.
    NotRepresentable,
    /// A go-ftw feature this runner does not have (redirects, cookies, templates beyond
    /// `repeat`…).
    Unsupported,
}

impl ProblemKind {
    /// `unreadable`, `not representable` or `unsupported`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            ProblemKind::Unreadable => "unreadable",
            ProblemKind::NotRepresentable => "not representable",
            ProblemKind::Unsupported => "unsupported",
        }
    }
}

/// Why a stage's request could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestProblem {
    kind: ProblemKind,
    raw: bool,
    reason: String,
}

impl RequestProblem {
    fn new(kind: ProblemKind, reason: impl Into<String>) -> RequestProblem {
        RequestProblem {
            kind,
            raw: false,
            reason: reason.into(),
        }
    }

    pub(crate) fn unsupported(reason: impl Into<String>) -> RequestProblem {
        RequestProblem::new(ProblemKind::Unsupported, reason)
    }

    fn unrepresentable(reason: impl Into<String>) -> RequestProblem {
        RequestProblem::new(ProblemKind::NotRepresentable, reason)
    }

    /// The kind of problem.
    #[must_use]
    pub fn kind(&self) -> ProblemKind {
        self.kind
    }

    /// Whether the request was given whole (`encoded_request`, `raw_request`).
    #[must_use]
    pub fn is_raw(&self) -> bool {
        self.raw
    }

    /// The reason, without the kind.
    #[must_use]
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for RequestProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.raw {
            f.write_str("raw: ")?;
        }
        write!(f, "{}: {}", self.kind.name(), self.reason)
    }
}

impl std::error::Error for RequestProblem {}

/// Builds the request of one stage as go-ftw would send it, with the response the test
/// setup's backend gives it (see `backend.rs`).
///
/// # Errors
///
/// A request that cannot be decoded, represented or built by this runner, with the reason.
pub fn stage_request(input: &Input, limits: &FtwLimits) -> Result<FtwRequest, RequestProblem> {
    if input.follow_redirect == Some(true) {
        return Err(RequestProblem::new(
            ProblemKind::Unsupported,
            "follow_redirect: no response to follow",
        ));
    }
    if input.save_cookie == Some(true) {
        return Err(RequestProblem::new(
            ProblemKind::Unsupported,
            "save_cookie: no response to take cookies from",
        ));
    }
    if input.uris.as_ref().is_some_and(|u| !u.is_empty()) {
        return Err(RequestProblem::new(
            ProblemKind::Unsupported,
            "uris: one stage per target is not supported",
        ));
    }
    let (wire, raw) = if let Some(enc) = input.encoded_request.as_deref().filter(|s| !s.is_empty())
    {
        // go-ftw: base64.StdEncoding, which skips line breaks in its input.
        let bytes = decode_base64(enc).ok_or_else(|| RequestProblem {
            kind: ProblemKind::Unreadable,
            raw: true,
            reason: "encoded_request is not base64 (RFC 4648, padded)".into(),
        })?;
        (bytes, true)
    } else if let Some(raw) = input.raw_request.as_deref().filter(|s| !s.is_empty()) {
        (raw.as_bytes().to_vec(), true)
    } else {
        (build_wire(input, limits)?, false)
    };
    if wire.len() > limits.max_request_bytes {
        return Err(RequestProblem {
            kind: ProblemKind::Unsupported,
            raw,
            reason: format!(
                "the request is {} bytes, over the limit of {}",
                wire.len(),
                limits.max_request_bytes
            ),
        });
    }
    parse_http_request(&wire)
        .map_err(|mut p| {
            p.raw = raw;
            p
        })
        .map(|mut r| {
            r.raw = raw;
            r.request.response = Some(super::backend::answer(&r.request));
            r
        })
}

/// Reads one HTTP/1.x request: request line, header fields (lines may end in CRLF or LF),
/// and the body as its framing says (`Transfer-Encoding: chunked`, decoded, else
/// `Content-Length`, else none).
///
/// # Errors
///
/// A request portcullis's request cannot carry: a request line that is not
/// `METHOD SP TARGET SP VERSION` with a token method and a target without spaces or
/// control bytes, text that is not UTF-8, a malformed header field or obsolete line
/// folding, a body whose length cannot be told or that is shorter than announced.
pub fn parse_http_request(bytes: &[u8]) -> Result<FtwRequest, RequestProblem> {
    let mut pos = 0;
    // RFC 9112 §2.2: a server ignores empty lines before the request line.
    while let Some(rest) = bytes.get(pos..) {
        if rest.starts_with(b"\r\n") {
            pos += 2;
        } else if rest.starts_with(b"\n") {
            pos += 1;
        } else {
            break;
        }
    }
    let Some((line, next)) = next_line(bytes, pos) else {
        return Err(RequestProblem::unrepresentable(
            "no request line ending in a line break",
        ));
    };
    let line = text(line, "the request line")?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(RequestProblem::unrepresentable(format!(
            "request line {line:?} is not METHOD SP TARGET SP VERSION"
        )));
    };
    if method.is_empty() || !method.bytes().all(is_tchar) {
        return Err(RequestProblem::unrepresentable(format!(
            "method {method:?} is not a token"
        )));
    }
    if target.is_empty() || target.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(RequestProblem::unrepresentable(format!(
            "target {target:?} is empty or holds a control byte"
        )));
    }
    if version.is_empty() || version.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(RequestProblem::unrepresentable(format!(
            "version {version:?} is empty or holds a control byte"
        )));
    }
    let mut headers: Vec<(String, String)> = Vec::new();
    pos = next;
    loop {
        let Some((field, next)) = next_line(bytes, pos) else {
            return Err(RequestProblem::unrepresentable(
                "no empty line ends the header section",
            ));
        };
        pos = next;
        if field.is_empty() {
            break;
        }
        if field[0] == b' ' || field[0] == b'\t' {
            return Err(RequestProblem::unrepresentable(
                "obsolete line folding in a header field",
            ));
        }
        let Some(colon) = field.iter().position(|&b| b == b':') else {
            return Err(RequestProblem::unrepresentable(format!(
                "header line {:?} has no colon",
                String::from_utf8_lossy(field)
            )));
        };
        let (name, value) = (&field[..colon], &field[colon + 1..]);
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(RequestProblem::unrepresentable(format!(
                "header name {:?} is not a token",
                String::from_utf8_lossy(name)
            )));
        }
        let value = trim_ows(value);
        if value.contains(&b'\r') {
            return Err(RequestProblem::unrepresentable(format!(
                "header {} holds a bare CR",
                String::from_utf8_lossy(name)
            )));
        }
        let name = text(name, "a header name")?.to_string();
        let value = text(value, &format!("header {name}"))?.to_string();
        headers.push((name, value));
    }
    let rest = bytes.get(pos..).unwrap_or_default();
    let (body, used) = read_body(&headers, rest)?;
    Ok(FtwRequest {
        request: OwnedRequest {
            client_ip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            method: method.to_string(),
            uri: target.to_string(),
            version: Some(version.to_string()),
            headers,
            body: Some(body),
            ..OwnedRequest::default()
        },
        request_line: line.to_string(),
        raw: false,
        trailing_bytes: rest.len() - used,
    })
}

/// The line starting at `pos` without its CRLF or LF, and where the next one starts;
/// `None` when no line break follows.
fn next_line(bytes: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let rest = bytes.get(pos..)?;
    let lf = rest.iter().position(|&b| b == b'\n')?;
    let line = &rest[..lf];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    Some((line, pos + lf + 1))
}

fn text<'a>(b: &'a [u8], what: &str) -> Result<&'a str, RequestProblem> {
    std::str::from_utf8(b).map_err(|e| {
        RequestProblem::unrepresentable(format!("{what} is not UTF-8 (byte {})", e.valid_up_to()))
    })
}

fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// RFC 9110 §5.6.2 token characters.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The body and how many bytes of `rest` it took, by RFC 9112 §6.3.
fn read_body(
    headers: &[(String, String)],
    rest: &[u8],
) -> Result<(Vec<u8>, usize), RequestProblem> {
    let codings: Vec<&str> = field_values(headers, "transfer-encoding").collect();
    if !codings.is_empty() {
        // Transfer-Encoding overrides Content-Length (§6.3, 3).
        if codings.len() != 1 || !codings[0].eq_ignore_ascii_case("chunked") {
            return Err(RequestProblem::unrepresentable(format!(
                "transfer coding {:?}: only `chunked` alone is read",
                codings.join(", ")
            )));
        }
        return dechunk(rest);
    }
    let mut length: Option<&str> = None;
    for v in field_values(headers, "content-length") {
        if !v.bytes().all(|b| b.is_ascii_digit()) || length.is_some_and(|l| l != v) {
            return Err(RequestProblem::unrepresentable(format!(
                "Content-Length {v:?} is not one decimal length"
            )));
        }
        length = Some(v);
    }
    let Some(length) = length else {
        return Ok((Vec::new(), 0));
    };
    let n: usize = length.parse().map_err(|_| {
        RequestProblem::unrepresentable(format!("Content-Length {length} is too large"))
    })?;
    match rest.get(..n) {
        Some(body) => Ok((body.to_vec(), n)),
        None => Err(RequestProblem::unrepresentable(format!(
            "the body is {} bytes, shorter than its Content-Length {n}: a server would wait for the rest",
            rest.len()
        ))),
    }
}

/// Every comma-separated value of the fields named `name`.
fn field_values<'a>(
    headers: &'a [(String, String)],
    name: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn dechunk(rest: &[u8]) -> Result<(Vec<u8>, usize), RequestProblem> {
    let bad = |why: &str| RequestProblem::unrepresentable(format!("chunked body: {why}"));
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let (line, next) =
            next_line(rest, pos).ok_or_else(|| bad("a chunk size line is missing"))?;
        let size = line.split(|&b| b == b';').next().unwrap_or_default();
        let size = std::str::from_utf8(trim_ows(size))
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|s| usize::from_str_radix(s, 16).ok())
            .ok_or_else(|| bad(&format!("chunk size {:?}", String::from_utf8_lossy(line))))?;
        pos = next;
        if size == 0 {
            let (trailer, next) =
                next_line(rest, pos).ok_or_else(|| bad("no empty line ends it"))?;
            if !trailer.is_empty() {
                return Err(bad("trailer fields are not read"));
            }
            return Ok((body, next));
        }
        let end = pos
            .checked_add(size)
            .filter(|&e| e <= rest.len())
            .ok_or_else(|| bad("a chunk is shorter than its size"))?;
        body.extend_from_slice(&rest[pos..end]);
        pos = match rest.get(end..) {
            Some([b'\r', b'\n', ..]) => end + 2,
            Some([b'\n', ..]) => end + 1,
            _ => return Err(bad("a chunk does not end in a line break")),
        };
    }
}

/// The bytes go-ftw's `BuildRequest` writes for a stage given field by field.
fn build_wire(input: &Input, limits: &FtwLimits) -> Result<Vec<u8>, RequestProblem> {
    let method = input.method.as_deref().unwrap_or("GET");
    let uri = input.uri.as_deref().unwrap_or("/");
    let version = input.version.as_deref().unwrap_or("HTTP/1.1");
    let mut headers: Vec<(String, String)> = match (&input.ordered_headers, &input.headers) {
        (Some(list), _) => list
            .iter()
            .map(|h| (h.name.clone(), h.value.clone()))
            .collect(),
        (None, Some(map)) => {
            // A Go map: the last of a repeated name wins, and go-ftw sends the names sorted.
            let mut m: Vec<(String, String)> = Vec::new();
            for (k, v) in &map.0 {
                match m.iter_mut().find(|(n, _)| n == k) {
                    Some(e) => e.1.clone_from(v),
                    None => m.push((k.clone(), v.clone())),
                }
            }
            m.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            m
        }
        (None, None) => Vec::new(),
    };
    let has = |headers: &[(String, String)], name: &str| {
        headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    let mut data: Vec<u8> = match (&input.data, &input.encoded_data) {
        (Some(Data::Lines(_)), _) => {
            return Err(RequestProblem::new(
                ProblemKind::Unsupported,
                "data as a list of lines (go-ftw refuses it: write one block scalar)",
            ))
        }
        (Some(Data::Text(t)), _) => expand_template(t, limits.max_request_bytes)?,
        (None, Some(b64)) => decode_base64(b64).ok_or_else(|| {
            RequestProblem::new(ProblemKind::Unreadable, "encoded_data is not base64")
        })?,
        (None, None) => Vec::new(),
    };
    let autocomplete = input.autocomplete();
    if !data.is_empty() && autocomplete {
        if !has(&headers, "content-type") {
            headers.push(("Content-Type".into(), FORM.into()));
        }
        if headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("content-type") && v.eq_ignore_ascii_case(FORM))
        {
            data = encode_form(data);
        }
    }
    // go-ftw: multipart bodies get CRLF line endings, every LF (even one after a CR).
    if headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("content-type")
            && v.to_ascii_lowercase().contains("multipart/form-data;")
    }) {
        let mut out = Vec::with_capacity(data.len() + data.len() / 16);
        for &b in &data {
            if b == b'\n' {
                out.push(b'\r');
            }
            out.push(b);
        }
        data = out;
    }
    if autocomplete {
        if !has(&headers, "connection") {
            headers.push(("Connection".into(), "close".into()));
        }
        // Go's `^POST|PUT|PATCH|DELETE$`: alternation binds loosest, so it is four tests.
        let body_method = method.starts_with("POST")
            || method.contains("PUT")
            || method.contains("PATCH")
            || method.ends_with("DELETE");
        if !has(&headers, "content-length") && (!data.is_empty() || body_method) {
            headers.push(("Content-Length".into(), data.len().to_string()));
        }
    }
    let mut wire = format!("{method} {uri} {version}\r\n").into_bytes();
    for (n, v) in &headers {
        wire.extend_from_slice(n.as_bytes());
        wire.extend_from_slice(b": ");
        wire.extend_from_slice(v.as_bytes());
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"\r\n");
    wire.extend_from_slice(&data);
    Ok(wire)
}

const FORM: &str = "application/x-www-form-urlencoded";

/// go-ftw's `encodeDataParameters`: a form body that `url.QueryUnescape` leaves unchanged
/// (no `%`, no `+`) has each name and value of its `&`-separated pairs query-escaped.
fn encode_form(data: Vec<u8>) -> Vec<u8> {
    if data.contains(&b'%') || data.contains(&b'+') {
        return data;
    }
    // go-ftw's loop stops at a trailing `&` without an empty pair after it.
    let pairs = data.strip_suffix(b"&").unwrap_or(&data);
    let mut out = Vec::with_capacity(data.len() * 2);
    for (i, token) in pairs.split(|&b| b == b'&').enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        match token.iter().position(|&b| b == b'=') {
            Some(eq) => {
                query_escape(&token[..eq], &mut out);
                out.push(b'=');
                query_escape(&token[eq + 1..], &mut out);
            }
            None => query_escape(token, &mut out),
        }
    }
    out
}

/// Go's `url.QueryEscape`: unreserved bytes kept, space as `+`, the rest `%XX`.
fn query_escape(s: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b),
            b' ' => out.push(b'+'),
            _ => out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]),
        }
    }
}

/// go-ftw runs `data` through Go's `text/template` (with sprig). The one action CRS uses
/// is `{{ "x" | repeat N }}` (and `{{ repeat N "x" }}`); others are reported unsupported.
fn expand_template(t: &str, max: usize) -> Result<Vec<u8>, RequestProblem> {
    if !t.contains("{{") {
        return Ok(t.as_bytes().to_vec());
    }
    let unsupported = |action: &str| {
        RequestProblem::new(
            ProblemKind::Unsupported,
            format!("data: Go template action `{{{{{action}}}}}` (only `\"text\" | repeat N` is expanded)"),
        )
    };
    let mut out = String::new();
    let mut rest = t;
    while let Some(open) = rest.find("{{") {
        let mut text = &rest[..open];
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            return Err(unsupported(after));
        };
        let mut action = &after[..close];
        rest = &after[close + 2..];
        if let Some(a) = action.strip_prefix("- ") {
            text = text.trim_end();
            action = a;
        }
        if let Some(a) = action.strip_suffix(" -") {
            rest = rest.trim_start();
            action = a;
        }
        out.push_str(text);
        let (s, n) = repeat_action(action.trim()).ok_or_else(|| unsupported(action))?;
        if s.len().saturating_mul(n).saturating_add(out.len()) > max {
            return Err(RequestProblem::new(
                ProblemKind::Unsupported,
                format!("data: the template expands past the limit of {max} bytes"),
            ));
        }
        out.push_str(&s.repeat(n));
    }
    out.push_str(rest);
    Ok(out.into_bytes())
}

/// `"s" | repeat N` or `repeat N "s"`.
fn repeat_action(a: &str) -> Option<(String, usize)> {
    if let Some((lit, call)) = a.split_once('|') {
        let n = call.trim().strip_prefix("repeat")?.trim().parse().ok()?;
        return Some((go_string(lit.trim())?, n));
    }
    let args = a.strip_prefix("repeat")?.trim_start();
    let (n, lit) = args.split_once(char::is_whitespace)?;
    Some((go_string(lit.trim())?, n.parse().ok()?))
}

/// A Go string literal: `"…"` with the common escapes, or a raw `` `…` ``.
fn go_string(s: &str) -> Option<String> {
    if let Some(raw) = s.strip_prefix('`').and_then(|r| r.strip_suffix('`')) {
        return Some(raw.to_string());
    }
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            '\\' => '\\',
            '"' => '"',
            _ => return None,
        });
    }
    Some(out)
}

/// Go's `base64.StdEncoding.DecodeString`: padded RFC 4648, line breaks skipped.
pub(crate) fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let clean: Vec<u8> = s.bytes().filter(|&b| b != b'\r' && b != b'\n').collect();
    if clean.len() % 4 != 0 {
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
    let quads = clean.len() / 4;
    let mut out = Vec::with_capacity(quads * 3);
    for (i, chunk) in clean.chunks(4).enumerate() {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != quads) {
            return None;
        }
        let mut acc: u32 = 0;
        for &c in &chunk[..4 - pad] {
            acc = acc << 6 | u32::from(value(c)?);
        }
        acc <<= 6 * pad as u32;
        out.extend_from_slice(&acc.to_be_bytes()[1..4 - pad]);
    }
    Some(out)
}

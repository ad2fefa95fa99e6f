//! The reference evaluator's own request normalisation: the rules of docs/rules.md written
//! as plainly as possible, allocating freely, and sharing no code with the fast path in
//! `portcullis_match::normalize`. The compiled evaluator is tested against what these
//! functions say, so a bug in the fast path shows up as a difference instead of being
//! repeated here.

mod body;
mod transform;

use portcullis_match::normalize::Ambiguity;

pub(crate) use body::{read_body, view as body_view, BodyView};
pub(crate) use transform::transform;

use crate::decision::Malformed;
use crate::policy::MalformedChecks;
use crate::request::Request;

/// One byte of a decoded text, and whether it was written as a `%XX` escape.
struct Decoded {
    byte: u8,
    escaped: bool,
}

fn hex_value(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Each valid `%XX` decoded once (and `+` as a space when `plus`); anything else kept.
fn decode_bytes(text: &str, plus: bool) -> Vec<Decoded> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex_value(b[i + 1]), hex_value(b[i + 2])) {
                out.push(Decoded {
                    byte: h * 16 + l,
                    escaped: true,
                });
                i += 3;
                continue;
            }
        }
        let byte = if plus && b[i] == b'+' { b' ' } else { b[i] };
        out.push(Decoded {
            byte,
            escaped: false,
        });
        i += 1;
    }
    out
}

/// Percent-decoding as text: invalid UTF-8 in the result becomes U+FFFD.
/// libinjection's verdict on a value, asked of the library directly: the detectors have no
/// simpler twin (they are the specification), so the reference only checks what the
/// compiled side adds around them.
pub(crate) fn detect(d: portcullis_rules::Detector, value: &str) -> bool {
    match d {
        portcullis_rules::Detector::Sqli => {
            libinjectionrs::detect_sqli(value.as_bytes()).is_injection()
        }
        portcullis_rules::Detector::Xss => {
            libinjectionrs::detect_xss(value.as_bytes()).is_injection()
        }
    }
}

pub(crate) fn percent_decode(text: &str, plus: bool) -> String {
    let bytes: Vec<u8> = decode_bytes(text, plus)
        .into_iter()
        .map(|d| d.byte)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// ModSecurity v3's `REQUEST_URI` (`Transaction::processURI`): the target percent-decoded
/// once (`+` kept), then, unless it starts with `/`, cut to the first `/` after
/// `scheme://` when its first `:` is followed by `//` (so `http://h` stays whole).
pub(crate) fn modsec_uri(target: &str) -> String {
    let decoded = percent_decode(target, false);
    if decoded.is_empty() || decoded.starts_with('/') {
        return decoded;
    }
    let Some(colon) = decoded.find(':') else {
        return decoded;
    };
    let Some(authority) = decoded[colon + 1..].strip_prefix("//") else {
        return decoded;
    };
    match authority.find('/') {
        Some(slash) => authority[slash..].to_string(),
        None => decoded,
    }
}

/// ModSecurity v3's `REQUEST_BASENAME`: in the decoded target (as [`modsec_uri`] decodes
/// it, scheme and authority kept) up to its first `?`, what follows the last `/` or `\`;
/// `""` when there is none or nothing follows.
pub(crate) fn modsec_filename(target: &str) -> String {
    let decoded = percent_decode(target, false);
    decoded.split('?').next().unwrap_or_default().to_string()
}

pub(crate) fn modsec_basename(target: &str) -> String {
    let decoded = percent_decode(target, false);
    let path = decoded.split('?').next().unwrap_or_default();
    match path.rfind(['/', '\\']) {
        Some(i) => path[i + 1..].to_string(),
        None => String::new(),
    }
}

/// The target without its fragment, and the part after `scheme://` when it is in
/// absolute form (a scheme is a letter followed by letters, digits, `+`, `-`, `.`).
fn absolute_rest(target: &str) -> (&str, Option<&str>) {
    let target = match target.find('#') {
        Some(i) => &target[..i],
        None => target,
    };
    let Some(i) = target.find("://") else {
        return (target, None);
    };
    let scheme = &target[..i];
    let mut chars = scheme.chars();
    let is_scheme = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.');
    if is_scheme {
        (target, Some(&target[i + 3..]))
    } else {
        (target, None)
    }
}

/// The raw path and the raw query (without `?`) of a request target.
pub(crate) fn path_and_query(target: &str) -> (&str, &str) {
    let origin = match absolute_rest(target) {
        (_, Some(rest)) => match rest.char_indices().find(|&(_, c)| c == '/' || c == '?') {
            Some((i, _)) => &rest[i..],
            None => "/",
        },
        (t, None) => t,
    };
    match origin.find('?') {
        Some(i) => (&origin[..i], &origin[i + 1..]),
        None => (origin, ""),
    }
}

/// The authority of an absolute-form target, without user info; `None` otherwise.
pub(crate) fn target_authority(target: &str) -> Option<&str> {
    let rest = absolute_rest(target).1?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = match authority.rfind('@') {
        Some(i) => &authority[i + 1..],
        None => authority,
    };
    (!host.is_empty()).then_some(host)
}

/// IIS's `%uXXXX` escapes decoded (to U+FFFD for a surrogate); the rest left as it is.
fn decode_iis(raw: &str) -> String {
    let chars: Vec<char> = raw.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let digits: String = chars.iter().skip(i + 2).take(4).collect();
        let escape = chars[i] == '%'
            && chars.get(i + 1) == Some(&'u')
            && digits.len() == 4
            && digits.chars().all(|c| c.is_ascii_hexdigit());
        if escape {
            let code = u32::from_str_radix(&digits, 16).unwrap_or(0xFFFD);
            out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
            i += 6;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// The normalised path (docs/rules.md, "Normalisation"); `windows` for a Windows or IIS
/// server behind (`windows_paths`).
pub(crate) fn path(raw: &str, windows: bool) -> String {
    let decoded = if windows {
        percent_decode(&decode_iis(raw), false)
    } else {
        percent_decode(raw, false)
    };
    let mut stack: Vec<&str> = Vec::new();
    let mut ends_with_slash = false;
    for piece in decoded.split(['/', '\\']) {
        let mut piece = piece.split(';').next().unwrap_or("");
        if windows && piece.contains(":$") {
            // An NTFS stream of the file: `web.config::$DATA` is `web.config`.
            piece = piece.split(':').next().unwrap_or("");
        }
        let piece = if piece == "." || piece == ".." {
            piece
        } else if windows {
            piece.trim_end_matches(['.', ' '])
        } else {
            piece.trim_end_matches('.')
        };
        match piece {
            "" | "." => ends_with_slash = true,
            ".." => {
                stack.pop();
                ends_with_slash = true;
            }
            name => {
                stack.push(name);
                ends_with_slash = false;
            }
        }
    }
    if stack.is_empty() {
        return "/".to_string();
    }
    let mut out = String::new();
    for name in &stack {
        out.push('/');
        out.push_str(name);
    }
    if ends_with_slash {
        out.push('/');
    }
    if windows {
        out = out.to_ascii_lowercase();
    }
    out
}

/// The `n`-th non-empty segment of a normalised path.
pub(crate) fn path_segment(path: &str, n: u32) -> Option<&str> {
    let mut seen = 0;
    for segment in path.split('/') {
        if segment.is_empty() {
            continue;
        }
        if seen == n {
            return Some(segment);
        }
        seen += 1;
    }
    None
}

/// Whether a raw path holds something routers read differently from [`path`]: a dot
/// segment, an encoded `/` or `\`, a `\`, a `;`, or a segment ending in a dot: the first
/// found.
pub(crate) fn ambiguity(raw: &str) -> Option<Ambiguity> {
    let decoded = decode_bytes(raw, false);
    let mut segments: Vec<Vec<u8>> = vec![Vec::new()];
    for d in &decoded {
        match d.byte {
            b'/' | b'\\' if d.escaped => return Some(Ambiguity::EncodedSeparator),
            b'\\' => return Some(Ambiguity::Backslash),
            b';' => return Some(Ambiguity::Parameter),
            b'/' => {
                if let Some(a) = segment_ambiguity(segments.last()) {
                    return Some(a);
                }
                segments.push(Vec::new());
            }
            b => {
                if let Some(s) = segments.last_mut() {
                    s.push(b);
                }
            }
        }
    }
    segment_ambiguity(segments.last())
}

fn segment_ambiguity(segment: Option<&Vec<u8>>) -> Option<Ambiguity> {
    let s = segment?;
    if s.as_slice() == b"." || s.as_slice() == b".." {
        Some(Ambiguity::DotSegment)
    } else if s.last() == Some(&b'.') {
        Some(Ambiguity::TrailingDot)
    } else {
        None
    }
}

/// How the request is malformed (see `Malformed`), if it is: two `Host` fields, a `Host`
/// naming another host than the target's authority, or (when refused) an ambiguous path.
pub(crate) fn malformed(req: &Request<'_>, checks: MalformedChecks) -> Option<Malformed> {
    if checks.host {
        if let Some(m) = host_malformed(req) {
            return Some(m);
        }
    }
    if checks.ambiguous_path {
        return ambiguity(path_and_query(req.uri).0).map(Malformed::AmbiguousPath);
    }
    None
}

fn host_malformed(req: &Request<'_>) -> Option<Malformed> {
    let hosts = header_values(req, "host");
    if hosts.len() > 1 {
        return Some(Malformed::DuplicateHost);
    }
    let authority = req.authority.or_else(|| target_authority(req.uri));
    if let (Some(a), Some(h)) = (authority, hosts.first()) {
        if host(a) != host(h) {
            return Some(Malformed::HostMismatch);
        }
    }
    None
}

/// Every value of query argument `name`, in order.
pub(crate) fn arg_values(query: &str, name: &str) -> Vec<String> {
    let mut values = Vec::new();
    for pair in query.split('&') {
        let (k, v) = match pair.find('=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, ""),
        };
        if percent_decode(k, true) == name {
            values.push(percent_decode(v, true));
        }
    }
    values
}

/// The normalised host: without port or trailing dot, lowercase; an IPv6 literal keeps
/// its brackets.
pub(crate) fn host(raw: &str) -> String {
    let raw = raw.trim();
    let host = if raw.starts_with('[') {
        match raw.find(']') {
            Some(i) => &raw[..i + 1],
            None => raw,
        }
    } else {
        match raw.rfind(':') {
            Some(i) if raw[i + 1..].chars().all(|c| c.is_ascii_digit()) => &raw[..i],
            _ => raw,
        }
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    host.to_ascii_lowercase()
}

/// A header value as text: invalid UTF-8 replaced, surrounding spaces and tabs removed.
pub(crate) fn header_text(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    text.trim_matches([' ', '\t']).to_string()
}

/// Every value of a header, as text, in order.
pub(crate) fn header_values(req: &Request<'_>, name: &str) -> Vec<String> {
    let mut values = Vec::new();
    req.headers
        .for_each(name, &mut |v| values.push(header_text(v)));
    values
}

/// All values of a header joined with `, ` (RFC 9110 §5.3); `None` when absent.
pub(crate) fn header(req: &Request<'_>, name: &str) -> Option<String> {
    let values = header_values(req, name);
    (!values.is_empty()).then(|| values.join(", "))
}

/// The first cookie `name` in the request's `Cookie` headers, quotes removed.
pub(crate) fn cookie(req: &Request<'_>, name: &str) -> Option<String> {
    cookies(req)
        .into_iter()
        .find_map(|(k, v)| (k == name).then_some(v))
}

/// Every cookie of the request's `Cookie` headers, in order: name and value, trimmed,
/// the value's quotes removed; a pair without `=` is a name with an empty value.
pub(crate) fn cookies(req: &Request<'_>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in header_values(req, "cookie") {
        for pair in line.split(';') {
            if pair.trim().is_empty() {
                continue;
            }
            // No `=`: a name with an empty value (ModSecurity's reading).
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = v.trim();
            let unquoted = if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
                &v[1..v.len() - 1]
            } else {
                v
            };
            out.push((k.trim().to_string(), unquoted.to_string()));
        }
    }
    out
}

/// Whether the request is a CORS preflight: exactly `OPTIONS`, with `Origin` and
/// `Access-Control-Request-Method`, and without credentials of any kind (a browser never
/// sends them on a preflight).
pub(crate) fn is_preflight(req: &Request<'_>) -> bool {
    let has = |name: &str| !header_values(req, name).is_empty();
    req.method == "OPTIONS"
        && has("origin")
        && has("access-control-request-method")
        && !has("authorization")
        && !has("cookie")
        && !req.auth.is_authenticated()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_in_examples() {
        assert_eq!(path("/x/..;/admin", false), "/admin");
        assert_eq!(path("/a/b/..", false), "/a/");
        assert_eq!(path("/a/..", false), "/");
        assert_eq!(path("/%ff", false), "/\u{FFFD}");
        assert_eq!(path("/%", false), "/%");
        assert_eq!(path("/Web.Config::$DATA", true), "/web.config");
        assert_eq!(path("/%u0041dmin%20/x", true), "/admin/x");
        assert_eq!(path_and_query("http://h/p?q#f"), ("/p", "q"));
        assert_eq!(path_and_query("://h/p"), ("://h/p", ""));
        assert_eq!(target_authority("http://u@h:1/p"), Some("h:1"));
        assert_eq!(arg_values("q=1&q=%3Cs%3E&%ff=x", "q"), ["1", "<s>"]);
        assert_eq!(arg_values("%ff=x", "\u{FFFD}"), ["x"]);
        assert_eq!(host("EXAMPLE.com.:80"), "example.com");
        assert_eq!(ambiguity("/a/%2e%2e/b"), Some(Ambiguity::DotSegment));
        assert_eq!(ambiguity("/a/b.c"), None);
    }
}

//! Request normalisation: the canonical forms rules match against.
//!
//! Every function writes into a caller-owned `String`, so a reused buffer makes
//! normalisation allocation-free. The rules, documented in `docs/rules.md`:
//!
//! - **Percent-decoding** decodes each valid `%XX` once; a `%` not followed by two hex
//!   digits is kept as it is. Decoded bytes that are not valid UTF-8 become U+FFFD, so
//!   every field is text and invalid input has one deterministic form.
//! - **Paths** are decoded, `\` is read as `/` (as Windows servers do), each segment's
//!   `;parameters` are dropped (as Tomcat and Jetty do, so `/admin;x/` and `/x/..;/admin`
//!   are `/admin/` and `/admin`), so are a segment's trailing dots (as Windows does:
//!   `/admin./` is `/admin/`), `.` and `..` segments are resolved (never above the root),
//!   repeated slashes are merged, and a trailing slash is kept. The result always starts
//!   with `/`. Whatever a server in front of which portcullis stands reads as the same
//!   resource, the path rules see as the same path.
//! - **Header values** lose leading and trailing spaces and tabs (RFC 9110 §5.5: they are
//!   not part of the value), as HTTP parsers strip them; inner whitespace is kept.

/// Value of an ASCII hex digit.
fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Appends `input` with each valid `%XX` decoded (and `+` read as a space when
/// `plus_as_space`, as in query strings). Invalid UTF-8 in the result becomes U+FFFD.
pub fn percent_decode_into(input: &str, plus_as_space: bool, out: &mut String) {
    let bytes = input.as_bytes();
    if !bytes
        .iter()
        .any(|&b| b == b'%' || (plus_as_space && b == b'+'))
    {
        out.push_str(input);
        return;
    }
    // Decode runs of escapes into a small stack buffer, then validate them as UTF-8; the
    // literal text between them is already valid.
    let mut i = 0;
    let mut lit_start = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'+' && plus_as_space {
            out.push_str(&input[lit_start..i]);
            out.push(' ');
            i += 1;
            lit_start = i;
            continue;
        }
        let decoded = (b == b'%')
            .then(|| Some((hex(*bytes.get(i + 1)?)? << 4) | hex(*bytes.get(i + 2)?)?))
            .flatten();
        if decoded.is_none() {
            i += 1;
            continue;
        }
        out.push_str(&input[lit_start..i]);
        let mut run = [0u8; 64];
        let mut n = 0;
        while n < run.len() {
            let Some(&b'%') = bytes.get(i) else { break };
            let Some(v) = bytes
                .get(i + 1)
                .and_then(|&h| hex(h))
                .zip(bytes.get(i + 2).and_then(|&l| hex(l)))
                .map(|(h, l)| (h << 4) | l)
            else {
                break;
            };
            run[n] = v;
            n += 1;
            i += 3;
        }
        if n == run.len() {
            // A full buffer may end inside a character that the next escapes complete:
            // leave those bytes to the next run, so buffer size never changes the text.
            let tail = incomplete_tail(&run);
            n -= tail;
            i -= 3 * tail;
        }
        push_lossy(&run[..n], out);
        lit_start = i;
    }
    out.push_str(&input[lit_start..]);
}

/// How many bytes at the end of `bytes` begin a UTF-8 character that is not complete yet.
fn incomplete_tail(bytes: &[u8]) -> usize {
    for back in 1..=3.min(bytes.len()) {
        let b = bytes[bytes.len() - back];
        if b & 0xC0 == 0x80 {
            continue; // a continuation byte: look further back for the lead
        }
        let needs = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        return if needs > back { back } else { 0 };
    }
    0
}

/// Appends bytes as UTF-8, each invalid sequence replaced by U+FFFD, without allocating.
pub(crate) fn push_lossy(bytes: &[u8], out: &mut String) {
    // Valid text (nearly all) through the validator's fast path; past the first invalid
    // sequence, one pass over the rest: decoded binary (`base64_decode` of a plain word)
    // is mostly invalid, and validating the rest again after each made it quadratic.
    let valid = match std::str::from_utf8(bytes) {
        Ok(s) => {
            out.push_str(s);
            return;
        }
        Err(e) => e.valid_up_to(),
    };
    let (head, rest) = (bytes.get(..valid), bytes.get(valid..));
    out.push_str(
        head.and_then(|h| std::str::from_utf8(h).ok())
            .unwrap_or_default(),
    );
    for chunk in rest.unwrap_or_default().utf8_chunks() {
        out.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            out.push('\u{FFFD}');
        }
    }
}

/// Appends a header value as UTF-8, invalid sequences replaced, without the leading and
/// trailing spaces and tabs that are not part of it (RFC 9110 §5.5).
pub fn push_bytes_lossy(bytes: &[u8], out: &mut String) {
    let ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !ows(b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !ows(b)).map_or(start, |i| i + 1);
    push_lossy(bytes.get(start..end).unwrap_or_default(), out);
}

/// Splits a request target into its path and query (without `?`), as sent. An absolute
/// form (`http://host/p?q`) yields its path; a fragment is dropped.
#[must_use]
pub fn split_target(target: &str) -> (&str, &str) {
    // A byte search: `str::find` with a set of chars is several times slower on short text.
    let bytes = target.as_bytes();
    let target = match bytes.iter().position(|&b| b == b'#' || b == b'?') {
        // No fragment: one search for `?` is all an origin-form target needs.
        Some(i) if bytes[i] == b'?' && !bytes[i..].contains(&b'#') => {
            if target.starts_with('/') {
                return (&target[..i], &target[i + 1..]);
            }
            target
        }
        Some(_) => target.split_once('#').map_or(target, |(t, _)| t),
        None if target.starts_with('/') => return (target, ""),
        None => target,
    };
    let target = match after_scheme(target) {
        Some(rest) => rest.find(['/', '?']).map_or("/", |j| &rest[j..]),
        None => target,
    };
    match target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (target, ""),
    }
}

/// The part of an absolute-form target after `scheme://` (fragment already removed), or
/// `None` for an origin-form target. Only a `://` preceded by scheme characters counts, so
/// a URL inside the path or query (`/r?to=http://x/`) is not mistaken for the target's own.
fn after_scheme(target: &str) -> Option<&str> {
    // Origin form, the common case, without searching.
    if target.starts_with('/') {
        return None;
    }
    let i = target.find("://")?;
    let scheme = &target[..i];
    // RFC 3986 §3.1: a letter, then letters, digits, `+`, `-` and `.`.
    (scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)))
    .then(|| &target[i + 3..])
}

/// The authority (host and port, user info removed) of an absolute-form target
/// (`http://user@host:port/p`), as [`split_target`] reads it; `None` for an origin-form
/// target or an empty authority.
#[must_use]
pub fn authority(target: &str) -> Option<&str> {
    if target.starts_with('/') {
        return None;
    }
    let target = target.split_once('#').map_or(target, |(t, _)| t);
    let rest = after_scheme(target)?;
    let a = rest.split(['/', '?']).next().unwrap_or(rest);
    let a = a.rsplit_once('@').map_or(a, |(_, h)| h);
    (!a.is_empty()).then_some(a)
}

/// Writes the normalised form of a raw path (see the module docs) into `out`, which is
/// cleared first. `scratch` is a second reusable buffer.
pub fn normalize_path(raw: &str, out: &mut String, scratch: &mut String) {
    normalize_path_as(PathStyle::Standard, raw, out, scratch);
}

/// How the server behind portcullis reads paths, beyond what [`normalize_path`] already
/// folds for every server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PathStyle {
    /// What servers in general do.
    #[default]
    Standard,
    /// Windows and IIS: `%uXXXX` escapes are decoded, trailing spaces of a segment are
    /// dropped like its trailing dots, an NTFS stream suffix (`web.config::$DATA`) is
    /// dropped, and ASCII letters are lowercased (NTFS and IIS ignore case).
    Windows,
}

/// [`normalize_path`] for a server of the given [`PathStyle`].
pub fn normalize_path_as(style: PathStyle, raw: &str, out: &mut String, scratch: &mut String) {
    out.clear();
    if is_normal(style, raw) {
        out.push_str(raw);
        return;
    }
    let windows = style == PathStyle::Windows;
    scratch.clear();
    if windows && raw.contains("%u") {
        // `out` is free until the segments are written: decode `%u` escapes into it.
        decode_u_escapes(raw, out);
        percent_decode_into(out, false, scratch);
        out.clear();
    } else {
        percent_decode_into(raw, false, scratch);
    }
    let mut trailing = false;
    for seg in scratch.split(['/', '\\']) {
        trailing = false;
        // `;parameters` (RFC 3986 §3.3) go before dot segments are seen, so `..;` is `..`.
        let seg = seg.split_once(';').map_or(seg, |(s, _)| s);
        // An NTFS stream (`name::$DATA`, `name:stream:$DATA`) names the file itself.
        let seg = match seg.find(':') {
            Some(i) if windows && seg.contains(":$") => &seg[..i],
            _ => seg,
        };
        let seg = match seg {
            "." | ".." => seg,
            // A segment of dots only (`...`) ends up empty: dropped like `//`.
            s if windows => s.trim_end_matches(['.', ' ']),
            s => s.trim_end_matches('.'),
        };
        match seg {
            "" => trailing = true,
            "." => trailing = true,
            ".." => {
                let cut = out.rfind('/').unwrap_or(0);
                out.truncate(cut);
                trailing = true;
            }
            s => {
                out.push('/');
                out.push_str(s);
            }
        }
    }
    if out.is_empty() || trailing {
        out.push('/');
    }
    if windows {
        out.make_ascii_lowercase();
    }
}

/// Whether `raw` already is its normalised form, as most paths are: it starts with `/` and
/// has nothing to decode or fold (no escape, `\`, `;`, `//`, nor a `.` ending a segment;
/// for Windows no space, `:` or capital either). One pass over the bytes.
fn is_normal(style: PathStyle, raw: &str) -> bool {
    match raw.as_bytes().split_first() {
        Some((&b'/', rest)) => plain(rest, style == PathStyle::Windows, false),
        _ => false,
    }
}

/// Whether path bytes, read as following a `/`, hold no escape, `\`, `;` or `.` ending a
/// segment, nor (unless `double_slash_ok`) a `//`, nor (for `windows`) a space, `:` or a
/// capital.
fn plain(bytes: &[u8], windows: bool, double_slash_ok: bool) -> bool {
    let mut prev = b'/';
    for &b in bytes {
        let folded = match b {
            b'%' | b'\\' | b';' => true,
            b'/' => prev == b'.' || (prev == b'/' && !double_slash_ok),
            b' ' | b':' | b'A'..=b'Z' => windows,
            _ => false,
        };
        if folded {
            return false;
        }
        prev = b;
    }
    prev != b'.'
}

/// Appends `raw` with each IIS `%uXXXX` escape replaced by its character (a surrogate
/// becomes U+FFFD); other text is kept for percent-decoding.
fn decode_u_escapes(raw: &str, out: &mut String) {
    let mut rest = raw;
    while let Some(i) = rest.find("%u") {
        out.push_str(&rest[..i]);
        let digits = rest
            .get(i + 2..i + 6)
            .filter(|d| d.bytes().all(|b| hex(b).is_some()));
        match digits.and_then(|d| u32::from_str_radix(d, 16).ok()) {
            Some(code) => {
                out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                rest = &rest[i + 6..];
            }
            None => {
                out.push_str("%u");
                rest = &rest[i + 2..];
            }
        }
    }
    out.push_str(rest);
}

/// A way a raw path can be read differently by the router behind portcullis than by the
/// normalised `path` the rules judge: servers and frameworks disagree on each of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ambiguity {
    /// A `.` or `..` segment, literal or percent-encoded (`/a/../b`, `/a/%2e%2e/b`).
    DotSegment,
    /// A percent-encoded `/` or `\\` (`%2f`, `%5c`): one segment to some routers, two to
    /// the rules.
    EncodedSeparator,
    /// A literal `\\`, a separator on Windows servers only.
    Backslash,
    /// A `;` (literal or `%3b`): a path parameter to Tomcat and Jetty, text to others.
    Parameter,
    /// A segment ending in `.` (`/admin./`): the same file as `/admin/` on Windows only.
    TrailingDot,
}

impl Ambiguity {
    /// A short description: `dot segment`, `encoded separator`, ….
    #[must_use]
    pub fn description(self) -> &'static str {
        match self {
            Ambiguity::DotSegment => "dot segment in the path",
            Ambiguity::EncodedSeparator => "encoded slash or backslash in the path",
            Ambiguity::Backslash => "backslash in the path",
            Ambiguity::Parameter => "`;` parameter in the path",
            Ambiguity::TrailingDot => "path segment ending in a dot",
        }
    }
}

/// The first [`Ambiguity`] of a raw path (as sent, before decoding), or `None` when every
/// router reads it as [`normalize_path`] does, up to percent-encoding and repeated slashes.
/// One pass over the bytes, without allocating.
#[must_use]
pub fn ambiguity(raw: &str) -> Option<Ambiguity> {
    let bytes = raw.as_bytes();
    // Most paths have no escape, `\\` or `;`, and no dot ending a segment: nothing to find.
    if plain(bytes, false, true) {
        return None;
    }
    // The current segment, decoded: its length, whether it is dots only, its last byte.
    let (mut len, mut dots, mut last) = (0usize, true, 0u8);
    let end_segment = |len: usize, dots: bool, last: u8| match (len, dots) {
        (0, _) => None,
        (1 | 2, true) => Some(Ambiguity::DotSegment),
        _ if last == b'.' => Some(Ambiguity::TrailingDot),
        _ => None,
    };
    let mut i = 0;
    while i < bytes.len() {
        let raw_byte = bytes[i];
        let escaped = (raw_byte == b'%')
            .then(|| Some((hex(*bytes.get(i + 1)?)? << 4) | hex(*bytes.get(i + 2)?)?))
            .flatten();
        let b = escaped.unwrap_or(raw_byte);
        i += if escaped.is_some() { 3 } else { 1 };
        match b {
            b'/' | b'\\' if escaped.is_some() => return Some(Ambiguity::EncodedSeparator),
            b'\\' => return Some(Ambiguity::Backslash),
            b';' => return Some(Ambiguity::Parameter),
            b'/' => {
                if let Some(a) = end_segment(len, dots, last) {
                    return Some(a);
                }
                (len, dots, last) = (0, true, 0);
            }
            _ => {
                len += 1;
                dots &= b == b'.';
                last = b;
            }
        }
    }
    end_segment(len, dots, last)
}

/// Appends a normalised path percent-encoded as a URI path: every byte outside RFC 3986's
/// `pchar` and `/` is escaped, so a router decoding it gets back exactly the path the
/// rules judged.
pub fn encode_path(path: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in path.as_bytes() {
        let plain = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b);
        if plain {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

/// The path a router must see to route on what the rules judged: the normalised path,
/// re-encoded ([`encode_path`]), when it differs from the raw one; `None` when the raw
/// path already is it (the common case, decided without allocating).
#[must_use]
pub fn routed_path(style: PathStyle, raw: &str) -> Option<String> {
    if is_normal(style, raw) {
        return None;
    }
    let (mut normal, mut scratch) = (String::new(), String::new());
    normalize_path_as(style, raw, &mut normal, &mut scratch);
    scratch.clear();
    encode_path(&normal, &mut scratch);
    (scratch != raw).then_some(scratch)
}

/// The `n`-th (0-based) segment of a normalised path: `path_segment("/a/b", 1) == Some("b")`.
#[must_use]
pub fn path_segment(path: &str, n: u32) -> Option<&str> {
    path.split('/').filter(|s| !s.is_empty()).nth(n as usize)
}

/// The values of one query argument, in order: a cursor over a query string.
///
/// Names are compared after decoding them as values are decoded (`+` is a space, each
/// valid `%XX` once, invalid UTF-8 as U+FFFD), so `%ff=x` is the argument `"\u{FFFD}"`.
#[derive(Clone, Debug)]
pub struct QueryArgs<'q> {
    pairs: std::str::Split<'q, char>,
}

impl<'q> QueryArgs<'q> {
    /// A cursor at the start of `query` (without `?`).
    #[must_use]
    pub fn new(query: &'q str) -> QueryArgs<'q> {
        QueryArgs {
            pairs: query.split('&'),
        }
    }

    /// Finds the next argument named `name` and writes its decoded value into `out`
    /// (cleared first); `false` when there is none. `name_buf` is a reusable buffer.
    pub fn next_value(&mut self, name: &str, name_buf: &mut String, out: &mut String) -> bool {
        for pair in self.pairs.by_ref() {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let matches = if k.bytes().any(|b| b == b'%' || b == b'+') {
                name_buf.clear();
                percent_decode_into(k, true, name_buf);
                name_buf == name
            } else {
                k == name
            };
            if matches {
                out.clear();
                percent_decode_into(v, true, out);
                return true;
            }
        }
        false
    }
}

/// Finds cookie `name` in a `Cookie` header value and returns its value (quotes removed).
#[must_use]
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    cookies(header).find_map(|(k, v)| (k == name).then_some(v))
}

/// Every cookie of a `Cookie` header value, name and value, trimmed, the value's
/// surrounding quotes removed. A pair without `=` is a cookie with that name and an
/// empty value, as ModSecurity reads it: skipping it would hide what it carries from
/// every cookie rule, while the application may well read it. Empty pairs are skipped.
pub fn cookies(header: &str) -> impl Iterator<Item = (&str, &str)> {
    header.split(';').filter_map(|pair| {
        if pair.trim().is_empty() {
            return None;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = v.trim();
        Some((
            k.trim(),
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v),
        ))
    })
}

/// Writes the normalised host into `out`: lowercase, without port or trailing dot;
/// IPv6 literals keep their brackets.
pub fn normalize_host(raw: &str, out: &mut String) {
    out.clear();
    out.push_str(host_part(raw));
    out.make_ascii_lowercase();
}

/// The host of a `Host` value or authority, as [`normalize_host`] reads it but keeping
/// its case: without surrounding whitespace, port or trailing dot.
#[must_use]
pub fn host_part(raw: &str) -> &str {
    let raw = raw.trim();
    let host = if raw.starts_with('[') {
        raw.find(']').map_or(raw, |i| &raw[..=i])
    } else {
        raw.rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(raw, |(h, _)| h)
    };
    host.strip_suffix('.').unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(raw: &str) -> String {
        let (mut out, mut scratch) = (String::new(), String::new());
        normalize_path(raw, &mut out, &mut scratch);
        out
    }

    #[test]
    fn paths_normalise() {
        for (raw, want) in [
            ("/admin", "/admin"),
            ("/%61dmin", "/admin"),
            ("//admin", "/admin"),
            ("/./admin", "/admin"),
            ("/x/../admin", "/admin"),
            ("/../../admin", "/admin"),
            ("/admin/", "/admin/"),
            ("/admin/.", "/admin/"),
            ("/admin/x/..", "/admin/"),
            ("", "/"),
            ("/", "/"),
            ("/a\\b", "/a/b"),
            ("/a%2fb", "/a/b"),
            ("/%zz", "/%zz"),
            ("/%", "/%"),
            ("/%ff", "/\u{FFFD}"),
            ("/%c3%a9", "/é"),
            // 63 escapes then a two-byte character across the decoder's 64-byte buffer.
            (
                &format!("/{}%c3%a9", "%41".repeat(63)),
                &format!("/{}é", "A".repeat(63)),
            ),
            ("/%2e%2e/admin", "/admin"),
            ("/admin;jsessionid=1/users", "/admin/users"),
            ("/admin;", "/admin"),
            ("/x/..;/admin", "/admin"),
            ("/x/..%3b/admin", "/admin"),
            ("/;x/admin", "/admin"),
            ("/admin./users", "/admin/users"),
            ("/admin.", "/admin"),
            ("/admin..", "/admin"),
            ("/x/.../admin", "/x/admin"),
            ("/a.b/c", "/a.b/c"),
            ("/a.;/b", "/a/b"),
            ("/.well-known/x", "/.well-known/x"),
        ] {
            assert_eq!(path(raw), want, "{raw}");
        }
    }

    #[test]
    fn ambiguous_paths_are_named() {
        use Ambiguity::*;
        for (raw, want) in [
            ("/admin/users", None),
            ("/a.b/c.d", None),
            ("/.well-known/x", None),
            ("//a///b/", None),
            ("/%61dmin", None),
            ("/%ff", None),
            ("/a%2eb", None),
            ("", None),
            ("/admin/../public", Some(DotSegment)),
            ("/admin/..", Some(DotSegment)),
            ("/./x", Some(DotSegment)),
            ("/admin/%2e%2e/public", Some(DotSegment)),
            ("/admin/%2E./public", Some(DotSegment)),
            ("/admin/..;/public", Some(Parameter)),
            ("/admin/x%3bjsessionid=1", Some(Parameter)),
            ("/admin/%5c..%5cpublic", Some(EncodedSeparator)),
            ("/a%2Fb", Some(EncodedSeparator)),
            ("/admin\\x", Some(Backslash)),
            ("/admin./x", Some(TrailingDot)),
            ("/x/...", Some(TrailingDot)),
            ("/%", None),
            ("/%2", None),
        ] {
            assert_eq!(ambiguity(raw), want, "{raw}");
        }
    }

    #[test]
    fn routed_paths_decode_to_the_judged_path() {
        for (raw, want) in [
            ("/admin/users", None),
            ("/app.js", None),
            ("/admin/../public", Some("/public")),
            ("/tenants/globex/../../public", Some("/public")),
            ("/%61dmin/x", Some("/admin/x")),
            ("//admin", Some("/admin")),
            ("/a%20b", None),
            ("/a%3Fb", None),
            ("/a%3fb", Some("/a%3Fb")),
            ("/caf%c3%a9", Some("/caf%C3%A9")),
            ("/%ff", Some("/%EF%BF%BD")),
            ("/a%2fb", Some("/a/b")),
            ("/x;p=1/y", Some("/x/y")),
            ("", Some("/")),
        ] {
            assert_eq!(
                routed_path(PathStyle::Standard, raw).as_deref(),
                want,
                "{raw}"
            );
            // What a router decodes is what the rules saw.
            let routed = routed_path(PathStyle::Standard, raw).unwrap_or_else(|| raw.to_string());
            assert_eq!(path(&routed), path(raw), "{raw}");
        }
    }

    #[test]
    fn windows_paths_fold_what_iis_folds() {
        let win = |raw: &str| {
            let (mut out, mut scratch) = (String::new(), String::new());
            normalize_path_as(PathStyle::Windows, raw, &mut out, &mut scratch);
            out
        };
        for (raw, want) in [
            ("/Admin/Users", "/admin/users"),
            ("/admin%20/x", "/admin/x"),
            ("/admin. . /x", "/admin/x"),
            ("/web.config::$DATA", "/web.config"),
            ("/web.config:stream:$DATA", "/web.config"),
            ("/%u0061dmin", "/admin"),
            ("/%u002e%u002e/admin", "/admin"),
            ("/%uD800x", "/\u{FFFD}x"),
            ("/%uzz", "/%uzz"),
            ("/a:b", "/a:b"),
        ] {
            assert_eq!(win(raw), want, "{raw}");
        }
        assert_eq!(path("/Admin%20"), "/Admin ");
        assert_eq!(
            routed_path(PathStyle::Windows, "/Admin").as_deref(),
            Some("/admin")
        );
        assert_eq!(routed_path(PathStyle::Windows, "/admin"), None);
    }

    #[test]
    fn header_values_lose_surrounding_whitespace() {
        for (raw, want) in [
            (&b"  curl/8 \t"[..], "curl/8"),
            (b"a  b", "a  b"),
            (b" \t ", ""),
            (b"", ""),
            (b"\xff x ", "\u{FFFD} x"),
        ] {
            let mut out = String::new();
            push_bytes_lossy(raw, &mut out);
            assert_eq!(out, want, "{raw:?}");
        }
    }

    #[test]
    fn args_and_cookies() {
        let (mut out, mut name) = (String::new(), String::new());
        let mut b = QueryArgs::new("a=1&b=x%20y+z&b=2&%ff=3");
        assert!(b.next_value("b", &mut name, &mut out));
        assert_eq!(out, "x y z");
        assert!(b.next_value("b", &mut name, &mut out));
        assert_eq!(out, "2");
        assert!(!b.next_value("b", &mut name, &mut out));
        assert!(QueryArgs::new("na%6De=v").next_value("name", &mut name, &mut out));
        assert!(QueryArgs::new("%ff=x").next_value("\u{FFFD}", &mut name, &mut out));
        assert!(!QueryArgs::new("a=1").next_value("c", &mut name, &mut out));
        assert_eq!(cookie("a=1; session=\"xyz\"; b=2", "session"), Some("xyz"));
        assert_eq!(cookie("a=1", "b"), None);
        assert_eq!(split_target("/p?q=1#f"), ("/p", "q=1"));
        assert_eq!(split_target("http://h:8/p?q"), ("/p", "q"));
        assert_eq!(authority("http://u:p@h:8/p?q"), Some("h:8"));
        assert_eq!(authority("/r?to=http://evil/x"), None);
        assert_eq!(authority("/p#http://evil/"), None);
        assert_eq!(authority("http:///p"), None);
        let mut h = String::new();
        normalize_host("Example.COM.:8080", &mut h);
        assert_eq!(h, "example.com");
        normalize_host("[::1]:80", &mut h);
        assert_eq!(h, "[::1]");
    }

    proptest::proptest! {
        /// Invalid sequences are replaced as the standard library replaces them: one
        /// U+FFFD for each maximal invalid subpart.
        #[test]
        fn lossy_text_is_the_standard_librarys(
            bytes in proptest::collection::vec(
                proptest::sample::select(vec![
                    b'a', b' ', 0x80, 0xbf, 0xc2, 0xa0, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0xff,
                ]),
                0..24,
            ),
        ) {
            let mut out = String::from("kept:");
            push_lossy(&bytes, &mut out);
            proptest::prop_assert_eq!(out, format!("kept:{}", String::from_utf8_lossy(&bytes)));
        }
    }
}

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
        push_lossy(&run[..n], out);
        lit_start = i;
    }
    out.push_str(&input[lit_start..]);
}

/// Appends bytes as UTF-8, each invalid sequence replaced by U+FFFD, without allocating.
fn push_lossy(mut bytes: &[u8], out: &mut String) {
    loop {
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                out.push_str(s);
                return;
            }
            Err(e) => {
                let (good, rest) = bytes.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(good).unwrap_or_default());
                out.push('\u{FFFD}');
                let skip = e.error_len().unwrap_or(rest.len()).max(1);
                bytes = rest.get(skip..).unwrap_or_default();
            }
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
pub fn split_target(target: &str) -> (&str, &str) {
    let target = target.split_once('#').map_or(target, |(t, _)| t);
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
    let i = target.find("://")?;
    target[..i]
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        .then(|| &target[i + 3..])
}

/// The authority (host and port, user info removed) of an absolute-form target
/// (`http://user@host:port/p`), as [`split_target`] reads it; `None` for an origin-form
/// target or an empty authority.
pub fn authority(target: &str) -> Option<&str> {
    let target = target.split_once('#').map_or(target, |(t, _)| t);
    let rest = after_scheme(target)?;
    let a = rest.split(['/', '?']).next().unwrap_or(rest);
    let a = a.rsplit_once('@').map_or(a, |(_, h)| h);
    (!a.is_empty()).then_some(a)
}

/// Writes the normalised form of a raw path (see the module docs) into `out`, which is
/// cleared first. `scratch` is a second reusable buffer.
pub fn normalize_path(raw: &str, out: &mut String, scratch: &mut String) {
    scratch.clear();
    percent_decode_into(raw, false, scratch);
    out.clear();
    let mut trailing = false;
    for seg in scratch.split(['/', '\\']) {
        trailing = false;
        // `;parameters` (RFC 3986 §3.3) go before dot segments are seen, so `..;` is `..`.
        let seg = seg.split_once(';').map_or(seg, |(s, _)| s);
        let seg = match seg {
            "." | ".." => seg,
            // A segment of dots only (`...`) ends up empty: dropped like `//`.
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
}

/// The `n`-th (0-based) segment of a normalised path: `path_segment("/a/b", 1) == Some("b")`.
pub fn path_segment(path: &str, n: u32) -> Option<&str> {
    path.split('/').filter(|s| !s.is_empty()).nth(n as usize)
}

/// Finds query argument `name` (compared after decoding) and appends its decoded value to
/// `out`. Returns whether it was present; the first occurrence wins.
pub fn query_arg(query: &str, name: &str, out: &mut String) -> bool {
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if decoded_eq(k, name) {
            percent_decode_into(v, true, out);
            return true;
        }
    }
    false
}

/// Whether `encoded`, query-decoded, equals `plain`, without allocating.
fn decoded_eq(encoded: &str, plain: &str) -> bool {
    if !encoded.bytes().any(|b| b == b'%' || b == b'+') {
        return encoded == plain;
    }
    let mut buf = [0u8; 256];
    if encoded.len() > buf.len() {
        let mut s = String::new();
        percent_decode_into(encoded, true, &mut s);
        return s == plain;
    }
    let mut n = 0;
    let b = encoded.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let v = match b[i] {
            b'+' => b' ',
            b'%' => match (
                b.get(i + 1).and_then(|&h| hex(h)),
                b.get(i + 2).and_then(|&l| hex(l)),
            ) {
                (Some(h), Some(l)) => {
                    i += 2;
                    (h << 4) | l
                }
                _ => b'%',
            },
            c => c,
        };
        buf[n] = v;
        n += 1;
        i += 1;
    }
    // Invalid UTF-8 in a name never equals a rule's (valid) name, as with the lossy form.
    std::str::from_utf8(&buf[..n]).is_ok_and(|s| s == plain)
}

/// Finds cookie `name` in a `Cookie` header value and returns its value (quotes removed).
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k.trim() == name).then(|| {
            let v = v.trim();
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v)
        })
    })
}

/// Writes the normalised host into `out`: lowercase, without port or trailing dot;
/// IPv6 literals keep their brackets.
pub fn normalize_host(raw: &str, out: &mut String) {
    out.clear();
    let raw = raw.trim();
    let host = if raw.starts_with('[') {
        raw.find(']').map_or(raw, |i| &raw[..=i])
    } else {
        raw.rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(raw, |(h, _)| h)
    };
    out.push_str(host.strip_suffix('.').unwrap_or(host));
    out.make_ascii_lowercase();
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
        let mut out = String::new();
        assert!(query_arg("a=1&b=x%20y+z&b=2", "b", &mut out));
        assert_eq!(out, "x y z");
        out.clear();
        assert!(query_arg("na%6De=v", "name", &mut out));
        assert!(!query_arg("a=1", "c", &mut out));
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
}

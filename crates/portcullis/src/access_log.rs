//! Access-log lines to requests: the nginx/Apache combined (and common) log format, and
//! JSON lines (our request schema, or the usual keys of JSON access logs). `portcullis
//! replay` evaluates a day of traffic with it; embedders can replay their own logs in tests.

use std::time::Duration;

use portcullis_decide::{Auth, OwnedRequest};
use serde_json::{Map, Value};

/// How to read each log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Per line: JSON when it starts with `{`, else combined.
    Auto,
    /// `host ident user [time] "request" status bytes "referer" "user-agent"`; the common
    /// log format (without the last two) is accepted too.
    Combined,
    /// One JSON object a line.
    Json,
}

impl LogFormat {
    /// Its name: `auto`, `combined` or `json`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::Auto => "auto",
            LogFormat::Combined => "combined",
            LogFormat::Json => "json",
        }
    }
}

/// One request read from a log line, with what was logged about the response.
#[derive(Debug)]
pub struct LogRequest {
    /// The request.
    pub request: OwnedRequest,
    /// Which parser read it (`combined` or `json`).
    pub format: LogFormat,
}

/// Reads one log line.
///
/// # Errors
///
/// Why the line is not a request in `format`.
pub fn parse_line(line: &str, format: LogFormat) -> Result<LogRequest, String> {
    let trimmed = line.trim_start();
    let json = match format {
        LogFormat::Auto => trimmed.starts_with('{'),
        LogFormat::Json => true,
        LogFormat::Combined => false,
    };
    if json {
        parse_json(trimmed).map(|request| LogRequest {
            request,
            format: LogFormat::Json,
        })
    } else {
        parse_combined(line).map(|request| LogRequest {
            request,
            format: LogFormat::Combined,
        })
    }
}

/// A cursor over a combined-format line.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn skip_spaces(&mut self) {
        let rest = &self.s[self.pos..];
        self.pos += rest.len() - rest.trim_start_matches([' ', '\t']).len();
    }

    fn token(&mut self, what: &str) -> Result<&'a str, String> {
        self.skip_spaces();
        let rest = &self.s[self.pos..];
        let end = rest.find([' ', '\t']).unwrap_or(rest.len());
        if end == 0 {
            return Err(format!("the line ends before the {what}"));
        }
        self.pos += end;
        Ok(&rest[..end])
    }

    fn bracketed(&mut self) -> Result<&'a str, String> {
        self.skip_spaces();
        let rest = &self.s[self.pos..];
        let Some(inner) = rest.strip_prefix('[') else {
            return Err("expected `[time]` after the user".into());
        };
        let end = inner.find(']').ok_or("the `[time]` field is not closed")?;
        self.pos += end + 2;
        Ok(&inner[..end])
    }

    /// A quoted field, with `\"`, `\\` and `\xHH` escapes (Apache and nginx) decoded.
    fn quoted(&mut self, what: &str) -> Result<String, String> {
        self.skip_spaces();
        let rest = &self.s[self.pos..];
        let Some(inner) = rest.strip_prefix('"') else {
            return Err(format!("expected the quoted {what}"));
        };
        // Most fields have no escapes: take them as they are.
        if let Some(end) = inner
            .find(['"', '\\'])
            .filter(|&i| inner.as_bytes()[i] == b'"')
        {
            self.pos += end + 2;
            return Ok(inner[..end].to_string());
        }
        let bytes = inner.as_bytes();
        let mut out = Vec::with_capacity(bytes.len().min(256));
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'"' => {
                    self.pos += i + 2;
                    return Ok(String::from_utf8(out)
                        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()));
                }
                b'\\' if i + 1 < bytes.len() => {
                    let hex = |b: u8| (b as char).to_digit(16);
                    match bytes[i + 1] {
                        b'x' if i + 3 < bytes.len() => match (hex(bytes[i + 2]), hex(bytes[i + 3]))
                        {
                            (Some(h), Some(l)) => {
                                out.push((h * 16 + l) as u8);
                                i += 4;
                                continue;
                            }
                            _ => out.push(b'\\'),
                        },
                        b'"' => out.push(b'"'),
                        b'\\' => out.push(b'\\'),
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        other => {
                            out.push(b'\\');
                            out.push(other);
                        }
                    }
                    i += 2;
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        Err(format!("the quoted {what} is not closed"))
    }

    fn at_end(&mut self) -> bool {
        self.skip_spaces();
        self.pos >= self.s.len()
    }
}

/// `host ident user [10/Oct/2000:13:55:36 -0700] "GET /x HTTP/1.1" 200 2326 "referer" "agent"`.
/// Fields after the user agent (nginx `$http_x_forwarded_for`, timings) are ignored.
///
/// # Errors
///
/// Why the line is not in the combined format (a missing field, a bad request line).
pub fn parse_combined(line: &str) -> Result<OwnedRequest, String> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() {
        return Err("empty line".into());
    }
    let mut c = Cursor { s: line, pos: 0 };
    let host = c.token("client address")?;
    let client_ip = portcullis_decide::parse_client_ip(host)
        .ok_or_else(|| format!("the client {host:?} is not an IP address"))?;
    let _ident = c.token("ident")?;
    let user = c.token("user")?;
    let time = c.bracketed()?;
    let time = parse_clf_time(time)
        .ok_or_else(|| format!("the time {time:?} is not `dd/Mon/yyyy:hh:mm:ss +zzzz`"))?;
    let request_line = c.quoted("request line")?;
    let (method, uri, version) = parse_request_line(&request_line)?;
    let status = c.token("status")?;
    if status != "-" && !(status.len() == 3 && status.bytes().all(|b| b.is_ascii_digit())) {
        return Err(format!("the status {status:?} is not a 3-digit code"));
    }
    let _bytes = c.token("size")?;
    let mut headers = Vec::new();
    if !c.at_end() {
        let referer = c.quoted("referer")?;
        let agent = if c.at_end() {
            String::from("-")
        } else {
            c.quoted("user agent")?
        };
        if agent != "-" && !agent.is_empty() {
            headers.push(("user-agent".to_string(), agent));
        }
        if referer != "-" && !referer.is_empty() {
            headers.push(("referer".to_string(), referer));
        }
    }
    let auth = if user == "-" {
        Auth::default()
    } else {
        Auth::authenticated(user)
    };
    Ok(OwnedRequest {
        client_ip: Some(client_ip),
        method,
        uri,
        version,
        headers,
        auth,
        time: Some(time),
        ..OwnedRequest::default()
    })
}

/// `GET /path?q HTTP/1.1`: the method, the target and the version (HTTP/0.9 lines without a
/// protocol are accepted: no version).
fn parse_request_line(s: &str) -> Result<(String, String, Option<String>), String> {
    let mut parts = s.split(' ').filter(|p| !p.is_empty());
    let bad = || {
        format!(
            "the request line is not `METHOD target PROTOCOL`: {:?}",
            truncate(s, 60)
        )
    };
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(bad());
    };
    let proto = parts.next();
    if parts.next().is_some()
        || !method
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
        || proto.is_some_and(|p| !p.starts_with("HTTP/"))
        || target.bytes().any(|b| b.is_ascii_control())
    {
        return Err(bad());
    }
    Ok((
        method.to_string(),
        target.to_string(),
        proto.map(str::to_string),
    ))
}

/// A logged protocol as a request line spells it: `HTTP/1.1` as it is, a bare `1.1` (a
/// log's `http_version`) as `HTTP/1.1`.
fn protocol(p: String) -> String {
    if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        format!("HTTP/{p}")
    } else {
        p
    }
}

/// `s` cut to `max` characters, with `…` where it was cut: how log text is quoted.
#[must_use]
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

/// Days from 1970-01-01 to a civil date (proleptic Gregorian), after H. Hinnant.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A civil date `(year, month, day)` and time `(hour, minute, second, fraction)` at an offset
/// from UTC, as time since the epoch.
fn to_duration(
    (y, mo, d): (i64, u32, u32),
    (h, mi, s, frac): (u32, u32, u32, f64),
    offset_secs: i64,
) -> Option<Duration> {
    // Bounding the year keeps the arithmetic below from overflowing.
    if !(1970..=9999).contains(&y)
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&d)
        || h > 23
        || mi > 59
        || s > 60
    {
        return None;
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + i64::from(h * 3600 + mi * 60 + s) - offset_secs;
    let secs = u64::try_from(secs).ok()?;
    Some(Duration::from_secs(secs) + Duration::from_secs_f64(frac.clamp(0.0, 0.999_999_999)))
}

/// `10/Oct/2000:13:55:36 -0700` (the `%t` of Apache and `$time_local` of nginx).
#[must_use]
pub fn parse_clf_time(s: &str) -> Option<Duration> {
    let (datetime, zone) = s.trim().split_once(' ').unwrap_or((s.trim(), "+0000"));
    let mut it = datetime.splitn(4, [':', '/']);
    let d: u32 = it.next()?.parse().ok()?;
    let mon = it.next()?;
    let y: i64 = it.next()?.parse().ok()?;
    let mut hms = it.next()?.split(':');
    let h: u32 = hms.next()?.parse().ok()?;
    let mi: u32 = hms.next()?.parse().ok()?;
    let (s, frac) = seconds(hms.next()?)?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mo = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(mon))? as u32 + 1;
    to_duration((y, mo, d), (h, mi, s, frac), zone_offset(zone.trim())?)
}

/// `13` or `13.250`: whole seconds and the fraction.
fn seconds(s: &str) -> Option<(u32, f64)> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let w: u32 = whole.parse().ok()?;
    let f = if frac.is_empty() {
        0.0
    } else {
        format!("0.{frac}").parse().ok()?
    };
    Some((w, f))
}

/// `+0200`, `-07:00`, `Z`: seconds east of UTC.
fn zone_offset(z: &str) -> Option<i64> {
    if z.is_empty()
        || z.eq_ignore_ascii_case("z")
        || z.eq_ignore_ascii_case("utc")
        || z.eq_ignore_ascii_case("gmt")
    {
        return Some(0);
    }
    let sign = match z.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: String = z[1..].chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: i64 = digits[..2].parse().ok()?;
    let m: i64 = digits[2..].parse().ok()?;
    Some(sign * (h * 3600 + m * 60))
}

/// `2026-01-12T06:00:00Z`, `2026-01-12T06:00:00.123+01:00`, `2026-01-12 06:00:00`.
#[must_use]
pub fn parse_rfc3339(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (date, rest) = (s.get(..10)?, s.get(11..)?);
    if !matches!(s.as_bytes().get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let mut dp = date.split('-');
    let y: i64 = dp.next()?.parse().ok()?;
    let mo: u32 = dp.next()?.parse().ok()?;
    let d: u32 = dp.next()?.parse().ok()?;
    let zone_at = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
    let (time, zone) = rest.split_at(zone_at);
    let mut tp = time.split(':');
    let h: u32 = tp.next()?.parse().ok()?;
    let mi: u32 = tp.next()?.parse().ok()?;
    let (sec, frac) = seconds(tp.next()?)?;
    to_duration((y, mo, d), (h, mi, sec, frac), zone_offset(zone)?)
}

/// A time value from a JSON log: seconds (or milliseconds, microseconds) since the epoch,
/// as a number or a string, RFC 3339, or the combined format's `[time]`.
fn json_time(v: &Value) -> Option<Duration> {
    let from_number = |n: f64| -> Option<Duration> {
        let secs = if n > 1e15 {
            n / 1e6
        } else if n > 1e12 {
            n / 1e3
        } else {
            n
        };
        Duration::try_from_secs_f64(secs).ok()
    };
    // Whole numbers are converted exactly (an f64 loses a millisecond count's last digit).
    let from_int = |n: u64| -> Duration {
        if n > 1_000_000_000_000_000 {
            Duration::from_micros(n)
        } else if n > 1_000_000_000_000 {
            Duration::from_millis(n)
        } else {
            Duration::from_secs(n)
        }
    };
    match v {
        Value::Number(n) => n
            .as_u64()
            .map(from_int)
            .or_else(|| from_number(n.as_f64()?)),
        Value::String(s) => s
            .trim()
            .parse::<u64>()
            .ok()
            .map(from_int)
            .or_else(|| s.trim().parse::<f64>().ok().and_then(from_number))
            .or_else(|| parse_rfc3339(s))
            .or_else(|| parse_clf_time(s.trim_start_matches('[').trim_end_matches(']'))),
        _ => None,
    }
}

/// A JSON log line: first as our request schema (docs/requests.md), else by the usual keys
/// of JSON access logs (nginx `escape=json` formats, Caddy's `request` object, …).
///
/// # Errors
///
/// A line that is not JSON, or JSON with no method or path under any known key.
pub fn parse_json(line: &str) -> Result<OwnedRequest, String> {
    if let Ok(r) = OwnedRequest::from_json(line) {
        return Ok(r);
    }
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(top) = v else {
        return Err("a JSON log line must be an object".into());
    };
    let nested = top.get("request").and_then(Value::as_object);
    let get = |keys: &[&str]| -> Option<&Value> {
        keys.iter()
            .find_map(|k| top.get(*k).or_else(|| nested.and_then(|n| n.get(*k))))
    };
    let text = |keys: &[&str]| -> Option<String> {
        get(keys).and_then(|v| match v {
            Value::String(s) if !s.is_empty() && s != "-" => Some(s.clone()),
            Value::Array(a) => a.first().and_then(Value::as_str).map(str::to_string),
            _ => None,
        })
    };
    let mut req = Map::new();
    let (mut method, mut uri) = (
        text(&["method", "request_method", "verb"]),
        text(&["uri", "request_uri", "url", "target"]),
    );
    if uri.is_none() {
        if let Some(path) = text(&["path"]) {
            uri = Some(match text(&["query", "query_string", "args"]) {
                Some(q) => format!("{path}?{}", q.trim_start_matches('?')),
                None => path,
            });
        }
    }
    // nginx's `$server_protocol`, Apache's `%H`, Caddy's `request.proto`.
    let mut version = text(&[
        "protocol",
        "server_protocol",
        "request_protocol",
        "proto",
        "http_version",
    ])
    .map(protocol);
    if let (None, Some(Value::String(line))) = (&uri, top.get("request")) {
        let (m, u, v) = parse_request_line(line)?;
        method = method.or(Some(m));
        uri = Some(u);
        version = version.or(v);
    }
    let uri = uri.ok_or("no request target (`uri`, `request_uri`, `url`, `path` or `request`)")?;
    req.insert("uri".into(), Value::String(uri));
    if let Some(m) = method {
        req.insert("method".into(), Value::String(m));
    }
    if let Some(v) = version {
        req.insert("version".into(), Value::String(v));
    }
    if let Some(ip) = text(&[
        "ip",
        "client_ip",
        "remote_addr",
        "remote_ip",
        "clientip",
        "client",
        "src_ip",
    ]) {
        req.insert("ip".into(), Value::String(ip));
    }
    let mut headers = Map::new();
    if let Some(Value::Object(h)) = get(&["headers"]) {
        for (k, v) in h {
            headers.insert(k.to_ascii_lowercase(), v.clone());
        }
    }
    for (name, keys) in [
        (
            "user-agent",
            &["user_agent", "http_user_agent", "ua", "agent"][..],
        ),
        ("referer", &["referer", "referrer", "http_referer"][..]),
        ("host", &["host", "http_host"][..]),
    ] {
        if let Some(v) = text(keys) {
            headers.entry(name).or_insert(Value::String(v));
        }
    }
    if !headers.is_empty() {
        req.insert("headers".into(), Value::Object(headers));
    }
    // Set after the request is built: through an f64 it would lose its last digits.
    let time = match get(&[
        "time",
        "timestamp",
        "@timestamp",
        "ts",
        "time_iso8601",
        "time_local",
        "msec",
        "start_time",
    ]) {
        Some(t) => Some(json_time(t).ok_or_else(|| format!("the time {t} is not a timestamp"))?),
        None => None,
    };
    if let Some(a) = get(&["auth"]) {
        req.insert("auth".into(), a.clone());
    } else if let Some(user) = text(&["remote_user", "user"]) {
        req.insert("auth".into(), serde_json::json!({ "subject": user }));
    }
    if let Some(id) = text(&["id", "request_id"]) {
        req.insert("id".into(), Value::String(id));
    }
    if let Some(c) = text(&["country", "geo_country"]) {
        req.insert("geo".into(), serde_json::json!({ "country": c }));
    } else if let Some(g) = get(&["geo"]) {
        req.insert("geo".into(), g.clone());
    }
    if let Some(a) = get(&["attrs"]) {
        req.insert("attrs".into(), a.clone());
    }
    // A logged body (nginx's `$request_body`, an application's own field), as text or
    // base64.
    if let Some(Value::String(b)) = get(&["body", "request_body"]) {
        if !b.is_empty() && b != "-" {
            req.insert("body".into(), Value::String(b.clone()));
        }
    } else if let Some(Value::String(b)) = get(&["body_base64", "request_body_base64"]) {
        req.insert("body_base64".into(), Value::String(b.clone()));
    }
    let mut request =
        OwnedRequest::from_json(&Value::Object(req).to_string()).map_err(|e| e.to_string())?;
    request.time = time;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_carry_their_bodies() {
        let line = r#"{"remote_addr": "192.0.2.1", "request": "POST /api HTTP/1.1", "http_content_type": "x", "headers": {"Content-Type": "application/json"}, "request_body": "{\"a\": 1}"}"#;
        let r = parse_json(line).unwrap();
        assert_eq!(r.body.as_deref(), Some(&b"{\"a\": 1}"[..]));
        let line = r#"{"uri": "/up", "request_body_base64": "AAEC"}"#;
        assert_eq!(
            parse_json(line).unwrap().body.as_deref(),
            Some(&[0u8, 1, 2][..])
        );
        let line = r#"{"uri": "/", "request_body": "-"}"#;
        assert_eq!(parse_json(line).unwrap().body, None);
    }

    const LINE: &str = r#"203.0.113.9 - - [12/Jan/2026:06:25:24 +0100] "GET /admin/users?page=2 HTTP/1.1" 403 153 "https://example.com/" "Mozilla/5.0 (X11; Linux x86_64)""#;

    #[test]
    fn combined_line() {
        let r = parse_combined(LINE).expect("parses");
        assert_eq!(r.client_ip, Some("203.0.113.9".parse().expect("ip")));
        assert_eq!(
            (r.method.as_str(), r.uri.as_str()),
            ("GET", "/admin/users?page=2")
        );
        assert_eq!(r.version.as_deref(), Some("HTTP/1.1"));
        assert_eq!(
            r.headers[0],
            (
                "user-agent".into(),
                "Mozilla/5.0 (X11; Linux x86_64)".into()
            )
        );
        assert_eq!(
            r.headers[1],
            ("referer".into(), "https://example.com/".into())
        );
        // 2026-01-12T05:25:24Z
        assert_eq!(r.time, Some(Duration::from_secs(1_768_195_524)));
        assert!(!r.auth.is_authenticated());
    }

    #[test]
    fn common_format_user_ipv6_and_trailing_fields() {
        let r = parse_combined(
            r#"2001:db8::1 - alice [01/Jan/2026:00:00:00 +0000] "POST /login HTTP/2.0" 200 -"#,
        )
        .expect("common");
        assert_eq!(r.auth.subject.as_deref(), Some("alice"));
        assert_eq!(r.version.as_deref(), Some("HTTP/2.0"));
        assert!(r.headers.is_empty());
        assert_eq!(r.time, Some(Duration::from_secs(1_767_225_600)));
        let r = parse_combined(&format!("{LINE} \"10.0.0.1\" rt=0.003")).expect("nginx extras");
        assert_eq!(r.uri, "/admin/users?page=2");
    }

    #[test]
    fn combined_escapes() {
        let r = parse_combined(r#"198.51.100.1 - - [01/Jan/2026:00:00:00 +0000] "GET /a\x22b HTTP/1.1" 404 0 "-" "say \"hi\" \\o/""#).expect("escapes");
        assert_eq!(r.uri, "/a\"b");
        assert_eq!(
            r.headers,
            vec![("user-agent".to_string(), "say \"hi\" \\o/".to_string())]
        );
    }

    #[test]
    fn combined_rejects_what_is_not_a_request() {
        let cases = [
            (
                r#"198.51.100.1 - - [01/Jan/2026:00:00:00 +0000] "\x16\x03\x01\x00" 400 157 "-" "-""#,
                "request line",
            ),
            (
                r#"198.51.100.1 - - [01/Jan/2026:00:00:00 +0000] "-" 408 0 "-" "-""#,
                "request line",
            ),
            (
                r#"example.com - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1"#,
                "not an IP address",
            ),
            (
                r#"198.51.100.1 - - [32/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1"#,
                "time",
            ),
            (
                r#"198.51.100.1 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1"#,
                "not closed",
            ),
            ("garbage", "not an IP address"),
            ("198.51.100.1 -", "ends before the user"),
            ("", "empty"),
        ];
        for (line, want) in cases {
            let e = parse_combined(line).expect_err(line);
            assert!(e.contains(want), "{line}: {e}");
        }
    }

    #[test]
    fn times() {
        assert_eq!(
            parse_clf_time("10/Oct/2000:13:55:36 -0700"),
            Some(Duration::from_secs(971_211_336))
        );
        assert_eq!(
            parse_rfc3339("2000-10-10T20:55:36Z"),
            Some(Duration::from_secs(971_211_336))
        );
        assert_eq!(
            parse_rfc3339("2000-10-10T22:55:36.5+02:00"),
            Some(Duration::from_millis(971_211_336_500))
        );
        assert_eq!(parse_rfc3339("2000-13-10T22:55:36Z"), None);
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn json_lines_in_our_schema_and_common_log_keys() {
        let r = parse_line(
            r#"{"ip":"198.51.100.7","method":"GET","uri":"/x","time":1767225600}"#,
            LogFormat::Auto,
        )
        .expect("schema");
        assert_eq!(r.format, LogFormat::Json);
        assert_eq!(r.request.uri, "/x");
        assert_eq!(r.request.version, None);
        let r = parse_json(r#"{"uri":"/x","version":"HTTP/1.0"}"#).expect("schema version");
        assert_eq!(r.version.as_deref(), Some("HTTP/1.0"));
        let r = parse_json(r#"{"remote_addr":"198.51.100.7","request":"GET /y?z=1 HTTP/1.1","status":200,"http_user_agent":"curl/8","time_iso8601":"2026-01-01T00:00:00+00:00","remote_user":"-"}"#).expect("nginx json");
        assert_eq!((r.method.as_str(), r.uri.as_str()), ("GET", "/y?z=1"));
        assert_eq!(r.version.as_deref(), Some("HTTP/1.1"));
        assert_eq!(
            r.headers,
            vec![("user-agent".to_string(), "curl/8".to_string())]
        );
        assert_eq!(r.time, Some(Duration::from_secs(1_767_225_600)));
        let caddy = r#"{"level":"info","ts":1767225600.25,"request":{"remote_ip":"2001:db8::2","method":"POST","uri":"/login","host":"example.com","headers":{"User-Agent":["Go-http-client/1.1"]}},"status":401}"#;
        let r = parse_json(caddy).expect("caddy");
        assert_eq!(r.method, "POST");
        assert_eq!(r.version, None);
        assert!(r
            .headers
            .contains(&("user-agent".to_string(), "Go-http-client/1.1".to_string())));
        assert!(r
            .headers
            .contains(&("host".to_string(), "example.com".to_string())));
        assert_eq!(r.time, Some(Duration::from_millis(1_767_225_600_250)));
        let r =
            parse_json(r#"{"path":"/s","query":"q=1","timestamp":1767225600123}"#).expect("millis");
        assert_eq!(r.uri, "/s?q=1");
        assert_eq!(r.time, Some(Duration::from_millis(1_767_225_600_123)));
        let caddy = r#"{"request":{"method":"GET","uri":"/","proto":"HTTP/2.0"}}"#;
        assert_eq!(
            parse_json(caddy).expect("proto").version.as_deref(),
            Some("HTTP/2.0")
        );
        let r = parse_json(r#"{"uri":"/","server_protocol":"HTTP/1.0","http_version":"1.1"}"#)
            .expect("server_protocol");
        assert_eq!(r.version.as_deref(), Some("HTTP/1.0"));
        let r = parse_json(r#"{"uri":"/","http_version":"1.1"}"#).expect("http_version");
        assert_eq!(r.version.as_deref(), Some("HTTP/1.1"));
        // HTTP/0.9 request lines carry no version.
        let r = parse_json(r#"{"request":"GET /old"}"#).expect("0.9");
        assert_eq!((r.uri.as_str(), r.version), ("/old", None));
    }

    #[test]
    fn json_errors_say_what_is_missing() {
        assert!(parse_json("{\"status\":200}")
            .expect_err("no uri")
            .contains("no request target"));
        assert!(parse_json("[1]").expect_err("array").contains("object"));
        assert!(parse_json("{not json")
            .expect_err("bad")
            .contains("not JSON"));
        assert!(parse_json(r#"{"uri":"/","ip":"nope"}"#)
            .expect_err("ip")
            .contains("nope"));
        // Forced formats do not guess.
        assert!(parse_line(LINE, LogFormat::Json).is_err());
        assert!(parse_line(r#"{"uri":"/"}"#, LogFormat::Combined).is_err());
    }
}

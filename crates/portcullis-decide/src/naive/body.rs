//! Bodies as the reference reads docs/requests.md: form, JSON, multipart and XML, plainly and
//! allocating freely, sharing nothing with `portcullis_match::body`.

use portcullis_match::body::{ArgKind, BodyError, BodyKind, BodyLimits};
use portcullis_rules::{OnBodyLimit, Settings};

use crate::request::Request;

/// Everything the body fields say about a request.
#[derive(Clone, Debug, Default)]
pub(crate) struct BodyView {
    /// `body`.
    pub(crate) text: Option<String>,
    /// The body's arguments.
    pub(crate) args: Vec<(ArgKind, String, String)>,
    /// `body.error`.
    pub(crate) error: Option<BodyError>,
    /// `body.truncated`.
    pub(crate) truncated: bool,
    /// `body.inspected`.
    pub(crate) inspected: bool,
    /// `body.processor`: the processor that read the body, `None` when none did.
    pub(crate) processor: Option<BodyKind>,
    /// `body.length`: the body's bytes, all of them (0 without a body).
    pub(crate) length: usize,
    /// `files_size`: the bytes of a multipart body's file contents.
    pub(crate) files_size: u64,
}

/// The body fields of `req` under `s`, as docs/requests.md says.
pub(crate) fn view(req: &Request<'_>, s: &Settings) -> BodyView {
    let header_values = |name: &str| super::header_values(req, name);
    let body = req.body.unwrap_or_default();
    let length = body.len();
    let types = header_values("content-type");
    let kind = match types.as_slice() {
        [one] => content_kind(one),
        _ => None,
    };
    // Named by the type whether a body came or not.
    let processor = kind.as_ref().map(|(k, _)| *k);
    if body.is_empty() {
        let length_says = header_values("content-length").iter().any(|v| v != "0");
        let chunked = !header_values("transfer-encoding").is_empty();
        return BodyView {
            inspected: !(length_says || chunked),
            processor,
            ..BodyView::default()
        };
    }
    let too_long = body.len() > s.max_body_bytes;
    if too_long && s.on_body_limit == OnBodyLimit::Allow {
        return BodyView {
            truncated: true,
            length,
            processor,
            ..BodyView::default()
        };
    }
    let shown = &body[..body.len().min(s.max_body_bytes)];
    let text = Some(String::from_utf8_lossy(shown).into_owned());
    let Some((kind, boundary)) = kind else {
        return BodyView {
            text,
            truncated: too_long,
            length,
            ..BodyView::default()
        };
    };
    let limits = BodyLimits {
        max_bytes: s.max_body_bytes,
        max_depth: s.max_json_depth,
        max_args: s.max_body_args,
        max_parts: s.max_multipart_parts,
    };
    let read = read_body(kind, boundary.as_deref(), body, &limits);
    BodyView {
        text,
        inspected: read.error.is_none() && !read.truncated,
        args: read.args,
        error: read.error,
        truncated: read.truncated,
        processor: Some(kind),
        length,
        files_size: read.files_size,
    }
}

/// The processor a `Content-Type` names, and its boundary parameter.
fn content_kind(ct: &str) -> Option<(BodyKind, Option<String>)> {
    let parts: Vec<&str> = ct.split(';').collect();
    let media = parts[0].trim().to_ascii_lowercase();
    let kind = if media == "application/x-www-form-urlencoded" {
        BodyKind::Form
    } else if media == "application/json"
        || (media.contains('/') && media.ends_with("+json") && media.len() > 5)
    {
        BodyKind::Json
    } else if media == "multipart/form-data" {
        BodyKind::Multipart
    } else if media == "application/xml"
        || media == "text/xml"
        || (media.contains('/') && media.ends_with("+xml") && media.len() > 4)
    {
        BodyKind::Xml
    } else {
        return None;
    };
    let mut boundary = None;
    for p in &parts[1..] {
        if let Some(eq) = p.find('=') {
            if p[..eq].trim().eq_ignore_ascii_case("boundary") && boundary.is_none() {
                let v = p[eq + 1..].trim();
                let v = if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
                    &v[1..v.len() - 1]
                } else {
                    v
                };
                boundary = Some(v.to_string());
            }
        }
    }
    Some((kind, boundary))
}

/// A body's arguments (kind, name, value), why it could not be read, and whether a limit
/// cut it short.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Body {
    pub(crate) args: Vec<(ArgKind, String, String)>,
    pub(crate) error: Option<BodyError>,
    pub(crate) truncated: bool,
    pub(crate) files_size: u64,
}

/// An argument: its kind, name and value.
type Arg = (ArgKind, String, String);

pub(crate) fn read_body(
    kind: BodyKind,
    boundary: Option<&str>,
    body: &[u8],
    limits: &BodyLimits,
) -> Body {
    let mut truncated = body.len() > limits.max_bytes;
    let body = &body[..body.len().min(limits.max_bytes)];
    let no_files = |args| (args, 0);
    let result = match kind {
        BodyKind::Form => Ok(no_files(form(body))),
        BodyKind::Json => json(body, limits.max_depth.min(512)).map(no_files),
        BodyKind::Multipart => match boundary {
            Some(b) if boundary_ok(b) => multipart(body, b, limits.max_parts, &mut truncated),
            _ => Err(BodyError::NoBoundary),
        },
        BodyKind::Xml => xml(body, limits.max_depth).map(no_files),
    };
    match result {
        Ok((mut args, files_size)) => {
            if args.len() > limits.max_args {
                args.truncate(limits.max_args);
                truncated = true;
            }
            Body {
                args,
                error: None,
                truncated,
                files_size,
            }
        }
        Err(e) => Body {
            args: Vec::new(),
            error: Some(e),
            files_size: 0,
            truncated,
        },
    }
}

fn form(body: &[u8]) -> Vec<(ArgKind, String, String)> {
    let text = String::from_utf8_lossy(body);
    let mut args = Vec::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let mut halves = pair.splitn(2, '=');
        let name = halves.next().unwrap_or("");
        let value = halves.next().unwrap_or("");
        args.push((
            ArgKind::Field,
            super::percent_decode(name, true),
            super::percent_decode(value, true),
        ));
    }
    args
}

#[derive(Debug, PartialEq)]
enum Tok {
    Open(char),
    Close(char),
    Colon,
    Comma,
    Str(String),
    Scalar(String),
    /// What no JSON token is; reading stops there.
    Bad,
}

/// JSON as tokens first, then a tree walk over them.
fn json(body: &[u8], max_depth: usize) -> Result<Vec<(ArgKind, String, String)>, BodyError> {
    let bad = BodyError::MalformedJson;
    let text = std::str::from_utf8(body).map_err(|_| bad)?;
    let chars: Vec<char> = text.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '{' | '[' => {
                toks.push(Tok::Open(c));
                i += 1;
            }
            '}' | ']' => {
                toks.push(Tok::Close(c));
                i += 1;
            }
            ':' => {
                toks.push(Tok::Colon);
                i += 1;
            }
            ',' => {
                toks.push(Tok::Comma);
                i += 1;
            }
            '"' => match json_string(&chars, i + 1) {
                Some((s, next)) => {
                    toks.push(Tok::Str(s));
                    i = next;
                }
                None => {
                    toks.push(Tok::Bad);
                    break;
                }
            },
            _ => {
                let start = i;
                while i < chars.len() && !" \t\n\r{}[]:,\"".contains(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                if !scalar_ok(&word) {
                    toks.push(Tok::Bad);
                    break;
                }
                toks.push(Tok::Scalar(word));
            }
        }
    }
    let mut args = Vec::new();
    let mut at = 0;
    walk(&toks, &mut at, "", 0, max_depth, &mut args)?;
    if at != toks.len() {
        return Err(bad);
    }
    Ok(args)
}

fn scalar_ok(w: &str) -> bool {
    if w == "true" || w == "false" || w == "null" {
        return true;
    }
    // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    let b = w.strip_prefix('-').unwrap_or(w);
    let (mantissa, exponent) = match b.find(['e', 'E']) {
        Some(i) => (&b[..i], Some(&b[i + 1..])),
        None => (b, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((a, f)) => (a, Some(f)),
        None => (mantissa, None),
    };
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    let int_ok = int == "0" || (digits(int) && !int.starts_with('0'));
    let frac_ok = frac.is_none_or(digits);
    let exp_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)));
    int_ok && frac_ok && exp_ok
}

/// A string's text from just after its opening quote; the index after its closing one.
fn json_string(chars: &[char], mut i: usize) -> Option<(String, usize)> {
    let mut s = String::new();
    loop {
        let c = *chars.get(i)?;
        i += 1;
        match c {
            '"' => return Some((s, i)),
            '\\' => {
                let e = *chars.get(i)?;
                i += 1;
                match e {
                    '"' | '\\' | '/' => s.push(e),
                    'b' => s.push('\u{8}'),
                    'f' => s.push('\u{c}'),
                    'n' => s.push('\n'),
                    'r' => s.push('\r'),
                    't' => s.push('\t'),
                    'u' => {
                        let code = |at: usize| -> Option<u32> {
                            let h: String = chars.get(at..at + 4)?.iter().collect();
                            if h.len() != 4 || !h.chars().all(|c| c.is_ascii_hexdigit()) {
                                return None;
                            }
                            u32::from_str_radix(&h, 16).ok()
                        };
                        let hi = code(i)?;
                        i += 4;
                        let is_high = (0xd800..=0xdbff).contains(&hi);
                        let next_is_low = chars.get(i) == Some(&'\\')
                            && chars.get(i + 1) == Some(&'u')
                            && code(i + 2).is_some_and(|lo| (0xdc00..=0xdfff).contains(&lo));
                        if is_high && next_is_low {
                            let lo = code(i + 2)?;
                            i += 6;
                            s.push(char::from_u32(
                                0x10000 + (hi - 0xd800) * 0x400 + (lo - 0xdc00),
                            )?);
                        } else {
                            s.push(char::from_u32(hi).unwrap_or('\u{fffd}'));
                        }
                    }
                    _ => return None,
                }
            }
            c if (c as u32) < 0x20 => return None,
            c => s.push(c),
        }
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

fn walk(
    toks: &[Tok],
    at: &mut usize,
    path: &str,
    depth: usize,
    max_depth: usize,
    args: &mut Vec<(ArgKind, String, String)>,
) -> Result<(), BodyError> {
    let bad = BodyError::MalformedJson;
    let tok = toks.get(*at).ok_or(bad)?;
    *at += 1;
    match tok {
        Tok::Str(s) | Tok::Scalar(s) => {
            args.push((ArgKind::Field, path.to_string(), s.clone()));
            Ok(())
        }
        Tok::Open(_) if depth >= max_depth => Err(BodyError::JsonTooDeep),
        Tok::Open('{') => {
            if toks.get(*at) == Some(&Tok::Close('}')) {
                *at += 1;
                return Ok(());
            }
            loop {
                let Some(Tok::Str(key)) = toks.get(*at) else {
                    return Err(bad);
                };
                let key = key.clone();
                *at += 1;
                if toks.get(*at) != Some(&Tok::Colon) {
                    return Err(bad);
                }
                *at += 1;
                walk(toks, at, &join(path, &key), depth + 1, max_depth, args)?;
                match toks.get(*at) {
                    Some(Tok::Comma) => *at += 1,
                    Some(Tok::Close('}')) => {
                        *at += 1;
                        return Ok(());
                    }
                    _ => return Err(bad),
                }
            }
        }
        Tok::Open(_) => {
            if toks.get(*at) == Some(&Tok::Close(']')) {
                *at += 1;
                return Ok(());
            }
            let mut n = 0;
            loop {
                walk(
                    toks,
                    at,
                    &join(path, &n.to_string()),
                    depth + 1,
                    max_depth,
                    args,
                )?;
                n += 1;
                match toks.get(*at) {
                    Some(Tok::Comma) => *at += 1,
                    Some(Tok::Close(']')) => {
                        *at += 1;
                        return Ok(());
                    }
                    _ => return Err(bad),
                }
            }
        }
        _ => Err(bad),
    }
}

/// XML: the root's text (all character data inside it, in order) named after the root,
/// then every attribute but namespace declarations; a DTD, a second root, a mismatched
/// tag, an attribute named twice or an unknown reference refuses the document.
fn xml(body: &[u8], max_depth: usize) -> Result<Vec<(ArgKind, String, String)>, BodyError> {
    let bad = BodyError::MalformedXml;
    let doc = std::str::from_utf8(body).map_err(|_| bad)?;
    let blank = |t: &str| t.chars().all(|c| " \t\r\n".contains(c));
    let mut rest = doc.strip_prefix('\u{feff}').unwrap_or(doc);
    let mut open: Vec<String> = Vec::new();
    let mut root: Option<String> = None;
    let mut text = String::new();
    let mut attrs = Vec::new();
    loop {
        let (chunk, tail) = rest.split_at(rest.find('<').unwrap_or(rest.len()));
        if open.is_empty() {
            if !blank(chunk) {
                return Err(bad);
            }
        } else {
            text += &xml_unescape(chunk, false).ok_or(bad)?;
        }
        if tail.is_empty() {
            break;
        }
        let skip = |r: &str, end: &str| r.find(end).map(|e| e + end.len());
        if let Some(r) = tail.strip_prefix("<!--") {
            rest = &r[skip(r, "-->").ok_or(bad)?..];
        } else if let Some(r) = tail.strip_prefix("<?") {
            rest = &r[skip(r, "?>").ok_or(bad)?..];
        } else if let Some(r) = tail.strip_prefix("<![CDATA[") {
            let end = r.find("]]>").ok_or(bad)?;
            if open.is_empty() {
                return Err(bad);
            }
            text += &xml_lines(&r[..end]);
            rest = &r[end + 3..];
        } else if tail.starts_with("<!DOCTYPE") {
            return Err(BodyError::XmlDtd);
        } else if let Some(r) = tail.strip_prefix("</") {
            let gt = r.find('>').ok_or(bad)?;
            let name = r[..gt].trim_end_matches([' ', '\t', '\r', '\n']);
            if !xml_name_ok(name) || open.pop().as_deref() != Some(name) {
                return Err(bad);
            }
            rest = &r[gt + 1..];
        } else {
            if open.is_empty() && root.is_some() {
                return Err(bad);
            }
            if open.len() >= max_depth {
                return Err(BodyError::XmlTooDeep);
            }
            // The tag runs to the first `>` outside quotes.
            let mut quote = None;
            let gt = tail
                .char_indices()
                .skip(1)
                .find(|&(_, c)| {
                    match quote {
                        Some(q) if c == q => quote = None,
                        None if c == '"' || c == '\'' => quote = Some(c),
                        _ => {}
                    }
                    quote.is_none() && c == '>'
                })
                .ok_or(bad)?
                .0;
            let inner = &tail[1..gt];
            rest = &tail[gt + 1..];
            let (inner, empty) = match inner.strip_suffix('/') {
                Some(i) => (i, true),
                None => (inner, false),
            };
            let name: String = inner.chars().take_while(|&c| xml_name_char(c)).collect();
            if !xml_name_ok(&name) {
                return Err(bad);
            }
            let mut seen: Vec<String> = Vec::new();
            let mut list = &inner[name.len()..];
            loop {
                let trimmed = list.trim_start_matches([' ', '\t', '\r', '\n']);
                if trimmed.is_empty() {
                    break;
                }
                if trimmed.len() == list.len() {
                    return Err(bad);
                }
                let attr: String = trimmed.chars().take_while(|&c| xml_name_char(c)).collect();
                let after = trimmed[attr.len()..].trim_start_matches([' ', '\t', '\r', '\n']);
                let after = after.strip_prefix('=').ok_or(bad)?;
                let after = after.trim_start_matches([' ', '\t', '\r', '\n']);
                let q = after
                    .chars()
                    .next()
                    .filter(|&c| c == '"' || c == '\'')
                    .ok_or(bad)?;
                let close = after[1..].find(q).ok_or(bad)? + 1;
                let raw = &after[1..close];
                if !xml_name_ok(&attr) || raw.contains('<') || seen.contains(&attr) {
                    return Err(bad);
                }
                let value = xml_unescape(raw, true).ok_or(bad)?;
                if attr != "xmlns" && !attr.starts_with("xmlns:") {
                    attrs.push((ArgKind::XmlAttr, attr.clone(), value));
                }
                seen.push(attr);
                list = &after[close + 1..];
            }
            if root.is_none() {
                root = Some(name.clone());
            }
            if !empty {
                open.push(name);
            }
        }
    }
    let root = root.filter(|_| open.is_empty()).ok_or(bad)?;
    let mut args = vec![(ArgKind::XmlText, root, text)];
    args.extend(attrs);
    Ok(args)
}

fn xml_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-.:".contains(c) || !c.is_ascii()
}

fn xml_name_ok(name: &str) -> bool {
    match name.chars().next() {
        Some(first) => {
            !first.is_ascii_digit()
                && first != '-'
                && first != '.'
                && name.chars().all(xml_name_char)
        }
        None => false,
    }
}

/// `raw` with `\r\n` and `\r` read as `\n`.
fn xml_lines(raw: &str) -> String {
    raw.replace("\r\n", "\n").replace('\r', "\n")
}

/// Text or an attribute value (`attr`: tabs and line ends become spaces) with its
/// references replaced; `None` for an unknown or unterminated one.
fn xml_unescape(raw: &str, attr: bool) -> Option<String> {
    let literal = |t: &str| {
        let t = xml_lines(t);
        if attr {
            t.replace(['\t', '\n'], " ")
        } else {
            t
        }
    };
    let mut pieces = raw.split('&');
    let mut out = literal(pieces.next().unwrap_or(""));
    for piece in pieces {
        let (entity, after) = piece.split_at(piece.find(';')?);
        let c = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = entity.strip_prefix('#')?;
                let (digits, radix) = match code.strip_prefix('x') {
                    Some(h) => (h, 16),
                    None => (code, 10),
                };
                let ok =
                    (1..=8).contains(&digits.len()) && digits.chars().all(|d| d.is_digit(radix));
                char::from_u32(u32::from_str_radix(digits, radix).ok().filter(|_| ok)?)
                    .filter(|&c| c != '\0')?
            }
        };
        out.push(c);
        out += &literal(&after[1..]);
    }
    Some(out)
}

fn boundary_ok(b: &str) -> bool {
    let allowed = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'()+_,-./:=? ";
    !b.is_empty() && b.len() <= 70 && !b.ends_with(' ') && b.chars().all(|c| allowed.contains(c))
}

fn position(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    (from..=hay.len().saturating_sub(needle.len())).find(|&i| hay[i..].starts_with(needle))
}

fn multipart(
    body: &[u8],
    boundary: &str,
    max_parts: usize,
    truncated: &mut bool,
) -> Result<(Vec<Arg>, u64), BodyError> {
    let bad = BodyError::MalformedMultipart;
    let delimiter = format!("\r\n--{boundary}").into_bytes();
    // Every delimiter, the first one possibly without its CRLF at the very start.
    // (start, end) of each delimiter, the first possibly without its CRLF at the start;
    // after one, `--` closes the body, and past `max_parts` parts the rest is not read.
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    let mut next = if body.starts_with(&delimiter[2..]) {
        Some((0, delimiter.len() - 2))
    } else {
        position(body, &delimiter, 0).map(|i| (i, i + delimiter.len()))
    };
    let (mut closed, mut cut_short) = (false, false);
    while let Some(cut) = next {
        cuts.push(cut);
        if body[cut.1..].starts_with(b"--") {
            closed = true;
            break;
        }
        if cuts.len() == max_parts + 1 {
            cut_short = true;
            break;
        }
        next = position(body, &delimiter, cut.1).map(|i| (i, i + delimiter.len()));
    }
    if !closed && !cut_short {
        return Err(bad);
    }
    let mut args = Vec::new();
    let mut files_size = 0u64;
    for pair in cuts.windows(2) {
        let part = &body[pair[0].1..pair[1].0];
        let part = part.strip_prefix(b"\r\n").ok_or(bad)?;
        let (part_args, file_bytes) = part_args(part)?;
        args.extend(part_args);
        files_size += file_bytes as u64;
    }
    // Cut short only if what was read was well formed.
    *truncated |= cut_short;
    Ok((args, files_size))
}

/// A part's arguments, and the bytes of its content when it is a file.
fn part_args(part: &[u8]) -> Result<(Vec<Arg>, usize), BodyError> {
    let bad = BodyError::MalformedMultipart;
    let (head, content): (&[u8], &[u8]) = if part.starts_with(b"\r\n") {
        (b"", &part[2..])
    } else {
        let i = position(part, b"\r\n\r\n", 0).ok_or(bad)?;
        (&part[..i], &part[i + 4..])
    };
    let head = String::from_utf8(head.to_vec()).map_err(|_| bad)?;
    let mut headers = Vec::new();
    for line in head.split("\r\n").filter(|_| !head.is_empty()) {
        let colon = line.find(':').ok_or(bad)?;
        let name = line[..colon].trim();
        if name.is_empty() {
            return Err(bad);
        }
        headers.push((
            name.to_ascii_lowercase(),
            line[colon + 1..].trim().to_string(),
            name.to_string(),
        ));
    }
    let mut field = None;
    let mut file = None;
    let mut seen = false;
    for (name, value, _) in &headers {
        if name != "content-disposition" {
            continue;
        }
        seen = true;
        let params = params(value).ok_or(bad)?;
        if !params
            .first()
            .is_some_and(|(k, v)| k.eq_ignore_ascii_case("form-data") && v.is_none())
        {
            return Err(bad);
        }
        for (k, v) in &params[1..] {
            let v = v.clone().ok_or(bad)?;
            match k.to_ascii_lowercase().as_str() {
                "name" => field = Some(v),
                "filename" => file = Some(v),
                _ => {}
            }
        }
    }
    let field = match (seen, field) {
        (true, Some(f)) => f,
        _ => return Err(bad),
    };
    let mut args: Vec<(ArgKind, String, String)> = headers
        .into_iter()
        .map(|(_, v, sent)| (ArgKind::PartHeader, field.clone(), format!("{sent}: {v}")))
        .collect();
    let file_bytes = if file.is_some() { content.len() } else { 0 };
    args.push(match file {
        Some(f) => (ArgKind::File, field, f),
        None => (
            ArgKind::Field,
            field,
            String::from_utf8_lossy(content).into_owned(),
        ),
    });
    Ok((args, file_bytes))
}

/// `form-data; name="a"; filename=b` as `[("form-data", None), ("name", Some("a")), …]`.
fn params(v: &str) -> Option<Vec<(String, Option<String>)>> {
    let chars: Vec<char> = v.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        // One parameter: text up to `;` outside quotes.
        let mut raw = String::new();
        let mut quoted = false;
        while i < chars.len() && (quoted || chars[i] != ';') {
            if chars[i] == '\\' && quoted && i + 1 < chars.len() {
                raw.push(chars[i]);
                raw.push(chars[i + 1]);
                i += 2;
                continue;
            }
            if chars[i] == '"' {
                quoted = !quoted;
            }
            raw.push(chars[i]);
            i += 1;
        }
        let item = match raw.split_once('=') {
            None if out.is_empty() => (raw.trim().to_string(), None),
            None => return None,
            Some((k, val)) => (k.trim().to_string(), Some(unquote(val.trim())?)),
        };
        out.push(item);
        if i >= chars.len() {
            return Some(out);
        }
        i += 1;
    }
}

fn unquote(v: &str) -> Option<String> {
    if !v.starts_with('"') {
        return Some(v.to_string());
    }
    let body: Vec<char> = v.chars().skip(1).collect();
    let mut out = String::new();
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            '\\' if matches!(body.get(i + 1), Some('"' | '\\')) => {
                out.push(body[i + 1]);
                i += 2;
            }
            '"' => return (i + 1 == body.len()).then_some(out),
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_match::body::BodyArgs;
    use proptest::prelude::*;

    fn fast(kind: BodyKind, boundary: Option<&str>, body: &[u8], limits: &BodyLimits) -> Body {
        let mut b = BodyArgs::new();
        b.parse(kind, boundary, body, limits);
        Body {
            args: b
                .iter()
                .map(|(k, n, v)| (k, n.to_string(), v.to_string()))
                .collect(),
            error: b.error,
            truncated: b.truncated,
            files_size: b.files_size,
        }
    }

    fn limits(small: bool) -> BodyLimits {
        if small {
            BodyLimits {
                max_bytes: 60,
                max_depth: 3,
                max_args: 4,
                max_parts: 2,
            }
        } else {
            BodyLimits::default()
        }
    }

    fn atoms(list: &'static [&'static str]) -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(list), 0..12).prop_map(|v| v.concat())
    }

    /// XML-ish text: mostly well formed, with the pieces that break it.
    fn xml_text() -> impl Strategy<Value = String> {
        let text = atoms(&[
            "a",
            " ",
            "\r\n",
            "\r",
            "\t",
            "&amp;",
            "&#x41;",
            "&#65;",
            "&#0;",
            "&bogus;",
            "&",
            "é",
            ">",
            "]]>",
            "<![CDATA[x<y]]>",
            "<!-- c -->",
            "<?pi x?>",
            "<",
            "<!DOCTYPE a>",
        ]);
        let attr = (
            prop::sample::select(vec!["a", "b", "xmlns", "xmlns:p", "p:c", "1x", ""]),
            prop::sample::select(vec!["=", " = ", "", "=\n"]),
            prop::sample::select(vec!["\"", "'"]),
            atoms(&["v", "&lt;", "\t", "\r\n", "'", "\"", "<", ">", "&#9;", " "]),
        )
            .prop_map(|(n, eq, q, v)| format!(" {n}{eq}{q}{v}{q}"))
            .boxed();
        let tree = text.prop_recursive(6, 40, 4, move |inner| {
            (
                prop::sample::select(vec!["r", "a", "p:x", "é", "-a", ""]),
                prop::collection::vec(attr.clone(), 0..3),
                prop::collection::vec(inner, 0..4),
                prop::sample::select(vec!["", "", " ", "x", "/"]),
                any::<bool>(),
            )
                .prop_map(|(name, attrs, kids, close_extra, empty)| {
                    let attrs = attrs.concat();
                    if empty {
                        format!("<{name}{attrs}/>")
                    } else {
                        let close = if close_extra == "x" { "y" } else { name };
                        format!(
                            "<{name}{attrs}>{}</{close}{}>",
                            kids.concat(),
                            close_extra.replace(['x', '/'], "")
                        )
                    }
                })
        });
        (
            prop::sample::select(vec![
                "",
                "<?xml version=\"1.0\"?>\n",
                "\u{feff}",
                " x",
                "<!-- c -->",
            ]),
            tree,
            prop::sample::select(vec!["", "\n", "<r/>", "<!-- c -->", "x"]),
        )
            .prop_map(|(before, tree, after)| format!("{before}{tree}{after}"))
    }

    /// JSON-ish text: mostly JSON, with the characters that break it.
    fn json_text() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            atoms(&[
                "a",
                "é",
                "\\\"",
                "\\\\",
                "\\n",
                "\\u0041",
                "\\ud83d\\ude00",
                "\\ud800",
                " ",
                "\\x"
            ])
            .prop_map(|s| format!("\"{s}\"")),
            prop::sample::select(vec![
                "0", "-1.5e3", "true", "false", "null", "01", "1.", "tru", "2E+5"
            ])
            .prop_map(str::to_string),
        ];
        let tree = leaf.prop_recursive(6, 40, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[{}]", v.join(", "))),
                prop::collection::vec((atoms(&["k", "a", ".", "", "é"]), inner), 0..4).prop_map(
                    |v| {
                        let items: Vec<String> = v
                            .into_iter()
                            .map(|(k, x)| format!("\"{k}\" :{x}"))
                            .collect();
                        format!("{{{}}}", items.join(","))
                    }
                ),
            ]
        });
        (
            tree,
            any::<u8>(),
            0usize..100,
            prop::sample::select(vec!["", "}", "]", ",", "x", "\u{1}", " "]),
        )
            .prop_map(|(t, cut, at, junk)| {
                let mut t = t;
                match cut % 4 {
                    0 => t.truncate(t.char_indices().nth(at).map_or(t.len(), |(i, _)| i)),
                    1 => t.insert_str(t.char_indices().nth(at).map_or(t.len(), |(i, _)| i), junk),
                    _ => {}
                }
                t
            })
    }

    fn multipart_body() -> impl Strategy<Value = (String, String)> {
        let part = (
            atoms(&["a", "b", ";", "\\\"", "é", " "]),
            prop::option::of(atoms(&["f", ".txt", ";", " ", "\\\\"])),
            atoms(&["x", "\r\n", "--", "é", "=", "a"]),
            prop::sample::select(vec![
                "",
                "Content-Type: text/plain\r\n",
                "X-A:b\r\n",
                "bad header\r\n",
            ]),
            any::<bool>(),
        )
            .prop_map(|(name, file, content, extra, quote)| {
                let q = |s: &str| {
                    if quote {
                        format!("\"{s}\"")
                    } else {
                        s.to_string()
                    }
                };
                let file = file
                    .map(|f| format!("; filename={}", q(&f)))
                    .unwrap_or_default();
                format!(
                    "Content-Disposition: form-data; name={}{file}\r\n{extra}\r\n{content}",
                    q(&name)
                )
            });
        (
            prop::sample::select(vec!["b", "XyZ-1", "a b", "--"]),
            prop::collection::vec(part, 0..4),
            any::<u8>(),
        )
            .prop_map(|(boundary, parts, mode)| {
                let mut body = String::new();
                if mode % 5 == 0 {
                    body.push_str("preamble\r\n");
                }
                for p in &parts {
                    body.push_str(&format!("--{boundary}\r\n{p}\r\n"));
                }
                if mode % 3 != 0 {
                    body.push_str(&format!("--{boundary}--\r\n"));
                }
                (boundary.to_string(), body)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1500))]
        #[test]
        fn json_agrees_with_the_naive_reader(text in json_text(), small in any::<bool>()) {
            let l = limits(small);
            prop_assert_eq!(
                fast(BodyKind::Json, None, text.as_bytes(), &l),
                read_body(BodyKind::Json, None, text.as_bytes(), &l),
                "{}", text
            );
        }

        #[test]
        fn multipart_agrees_with_the_naive_reader((boundary, body) in multipart_body(), small in any::<bool>()) {
            let l = limits(small);
            prop_assert_eq!(
                fast(BodyKind::Multipart, Some(&boundary), body.as_bytes(), &l),
                read_body(BodyKind::Multipart, Some(&boundary), body.as_bytes(), &l),
                "{:?}", body
            );
        }

        #[test]
        fn xml_agrees_with_the_naive_reader(text in xml_text(), small in any::<bool>()) {
            let l = limits(small);
            prop_assert_eq!(
                fast(BodyKind::Xml, None, text.as_bytes(), &l),
                read_body(BodyKind::Xml, None, text.as_bytes(), &l),
                "{:?}", text
            );
        }

        #[test]
        fn forms_agree_with_the_naive_reader(
            text in atoms(&["a", "=", "&", "%41", "%", "+", "é", "%zz", "&&"]),
            small in any::<bool>()
        ) {
            let l = limits(small);
            prop_assert_eq!(
                fast(BodyKind::Form, None, text.as_bytes(), &l),
                read_body(BodyKind::Form, None, text.as_bytes(), &l)
            );
        }

        #[test]
        fn any_bytes_are_read_or_refused_alike(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let l = limits(false);
            for kind in [BodyKind::Form, BodyKind::Json, BodyKind::Multipart, BodyKind::Xml] {
                prop_assert_eq!(
                    fast(kind, Some("b"), &bytes, &l),
                    read_body(kind, Some("b"), &bytes, &l)
                );
            }
        }
    }

    #[test]
    fn examples() {
        let l = BodyLimits::default();
        let json =
            br#"{"user": {"name": "O'Brien", "tags": ["a", 1, true, null]}, "q": "1' OR '1'='1"}"#;
        let got = fast(BodyKind::Json, None, json, &l);
        let pairs: Vec<(&str, &str)> = got
            .args
            .iter()
            .map(|(_, n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("user.name", "O'Brien"),
                ("user.tags.0", "a"),
                ("user.tags.1", "1"),
                ("user.tags.2", "true"),
                ("user.tags.3", "null"),
                ("q", "1' OR '1'='1"),
            ]
        );
        assert_eq!(
            fast(BodyKind::Json, None, b"{\"a\": ", &l).error,
            Some(BodyError::MalformedJson)
        );
        let deep = "[".repeat(100_000);
        assert_eq!(
            fast(BodyKind::Json, None, deep.as_bytes(), &l).error,
            Some(BodyError::JsonTooDeep)
        );
        let mp = b"--xx\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a;b.php\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n--xx\r\nContent-Disposition: form-data; name=comment\r\n\r\n<script>\r\n--xx--\r\n";
        let got = fast(BodyKind::Multipart, Some("xx"), mp, &l);
        assert_eq!(got.error, None);
        let all: Vec<(ArgKind, &str, &str)> = got
            .args
            .iter()
            .map(|(k, n, v)| (*k, n.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            all,
            [
                (
                    ArgKind::PartHeader,
                    "f",
                    "Content-Disposition: form-data; name=\"f\"; filename=\"a;b.php\""
                ),
                (ArgKind::PartHeader, "f", "Content-Type: image/png"),
                (ArgKind::File, "f", "a;b.php"),
                (
                    ArgKind::PartHeader,
                    "comment",
                    "Content-Disposition: form-data; name=comment"
                ),
                (ArgKind::Field, "comment", "<script>"),
            ]
        );
        assert_eq!(
            fast(BodyKind::Multipart, None, mp, &l).error,
            Some(BodyError::NoBoundary)
        );
        assert_eq!(
            fast(BodyKind::Multipart, Some("yy"), mp, &l).error,
            Some(BodyError::MalformedMultipart)
        );
        let form = fast(BodyKind::Form, None, b"a=1+2&b=%3Cscript%3E&&c", &l);
        let pairs: Vec<(&str, &str)> = form
            .args
            .iter()
            .map(|(_, n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(pairs, [("a", "1 2"), ("b", "<script>"), ("c", "")]);
        assert_eq!(
            BodyKind::of("multipart/form-data; boundary=\"a b\""),
            Some((BodyKind::Multipart, Some("a b")))
        );
        assert_eq!(
            BodyKind::of("application/vnd.api+json"),
            Some((BodyKind::Json, None))
        );
        assert_eq!(BodyKind::of("text/plain"), None);
        assert_eq!(
            BodyKind::of("application/soap+xml; charset=utf-8"),
            Some((BodyKind::Xml, None))
        );
        let xml = b"<?xml version=\"1.0\"?>\r\n<r xmlns=\"u\" a=\"1\r\n&lt;2\"><b>x &amp; y</b>\n<![CDATA[<z>]]><c p:q='\"'/></r>";
        let got = fast(BodyKind::Xml, None, xml, &l);
        let all: Vec<(ArgKind, &str, &str)> = got
            .args
            .iter()
            .map(|(k, n, v)| (*k, n.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            all,
            [
                (ArgKind::XmlText, "r", "x & y\n<z>"),
                (ArgKind::XmlAttr, "a", "1 <2"),
                (ArgKind::XmlAttr, "p:q", "\""),
            ]
        );
        for (doc, error) in [
            (
                &b"<!DOCTYPE r [<!ENTITY e \"x\">]><r>&e;</r>"[..],
                BodyError::XmlDtd,
            ),
            (b"<r>&e;</r>", BodyError::MalformedXml),
            (b"<r a='1' a='2'/>", BodyError::MalformedXml),
            (b"<r></s>", BodyError::MalformedXml),
            (b"<r/><r/>", BodyError::MalformedXml),
            (b"", BodyError::MalformedXml),
        ] {
            assert_eq!(fast(BodyKind::Xml, None, doc, &l).error, Some(error));
        }
        let deep = "<a>".repeat(100_000);
        assert_eq!(
            fast(BodyKind::Xml, None, deep.as_bytes(), &l).error,
            Some(BodyError::XmlTooDeep)
        );
    }
}

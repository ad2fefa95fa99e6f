//! `application/xml`, `text/xml` and `…/…+xml`: the document's character data and its
//! attributes, what ModSecurity's `XML:/*` and `XML://@*` give.
//!
//! - One [`ArgKind::XmlText`] argument, first, named after the root element: every text
//!   and CDATA section inside the root, concatenated in document order, blanks included
//!   (what the root's text content is to an XPath engine).
//! - One [`ArgKind::XmlAttr`] argument per attribute, in document order: its name as
//!   written and its value with references replaced and whitespace normalised (XML 1.0
//!   §3.3.3). Namespace declarations (`xmlns`, `xmlns:p`) are not attributes to XPath and
//!   are left out.
//!
//! The reader checks what an application's parser would refuse: one root, matched tags,
//! quoted attributes named once per element, known references (the five predefined
//! entities and character references). A document type declaration is refused outright:
//! its entities could make the text the application reads differ from the text inspected
//! (and expand without bound). Names are checked loosely (ASCII letters, digits, `_ - . :`
//! and any non-ASCII character), and so are characters XML forbids, which a stricter
//! parser would refuse on its own. Only UTF-8 is read (a byte-order mark is skipped).

use super::{ArgKind, BodyArgs, BodyError, BodyLimits};

const BAD: BodyError = BodyError::MalformedXml;

/// `bufs`: the text and scratch buffers, reused; `stack`: the open elements' names.
pub(super) fn parse(
    body: &[u8],
    limits: &BodyLimits,
    out: &mut BodyArgs,
    bufs: &mut (String, String),
    stack: &mut Vec<(usize, usize)>,
) -> Result<(), BodyError> {
    let Ok(s) = std::str::from_utf8(body) else {
        return Err(BAD);
    };
    let s = s.strip_prefix('\u{feff}').unwrap_or(s);
    let (text, scratch) = bufs;
    text.clear();
    stack.clear();
    // The text argument comes first; its name and value are known at the end.
    let text_slot = out.room(limits).then(|| {
        out.push(ArgKind::XmlText, |_| {}, |_| {});
        out.args.len() - 1
    });
    let b = s.as_bytes();
    let mut root: Option<(usize, usize)> = None;
    let mut i = 0;
    while i < b.len() {
        let next = find(b, i, b"<").unwrap_or(b.len());
        let chunk = s.get(i..next).unwrap_or_default();
        if stack.is_empty() {
            if !chunk.bytes().all(is_space) {
                return Err(BAD);
            }
        } else {
            decode(chunk, false, text)?;
        }
        i = next;
        let rest = b.get(i..).unwrap_or_default();
        if rest.is_empty() {
            break;
        }
        if rest.starts_with(b"<!--") {
            i = find(b, i + 4, b"-->").ok_or(BAD)? + 3;
        } else if rest.starts_with(b"<?") {
            i = find(b, i + 2, b"?>").ok_or(BAD)? + 2;
        } else if rest.starts_with(b"<![CDATA[") {
            let end = find(b, i + 9, b"]]>").ok_or(BAD)?;
            if stack.is_empty() {
                return Err(BAD);
            }
            newlines(s.get(i + 9..end).unwrap_or_default(), false, text);
            i = end + 3;
        } else if rest.starts_with(b"<!DOCTYPE") {
            return Err(BodyError::XmlDtd);
        } else if rest.starts_with(b"</") {
            let (name, mut j) = name_at(b, i + 2)?;
            j = skip_space(b, j);
            if b.get(j) != Some(&b'>') {
                return Err(BAD);
            }
            let open = stack.pop().ok_or(BAD)?;
            if b.get(open.0..open.1) != b.get(name.0..name.1) {
                return Err(BAD);
            }
            i = j + 1;
        } else {
            if stack.is_empty() && root.is_some() {
                return Err(BAD);
            }
            if stack.len() >= limits.max_depth {
                return Err(BodyError::XmlTooDeep);
            }
            let (name, j) = name_at(b, i + 1)?;
            root.get_or_insert(name);
            let (j, empty) = attributes(s, j, limits, out, scratch, stack)?;
            if !empty {
                stack.push(name);
            }
            i = j;
        }
    }
    if !stack.is_empty() {
        return Err(BAD);
    }
    let root = root.ok_or(BAD)?;
    if let Some(slot) = text_slot {
        let at = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let na = out.text.len();
        out.text.push_str(s.get(root.0..root.1).unwrap_or_default());
        let nb = out.text.len();
        out.text.push_str(text);
        let vb = out.text.len();
        if let Some(arg) = out.args.get_mut(slot) {
            *arg = (ArgKind::XmlText, (at(na), at(nb)), (at(nb), at(vb)));
        }
    }
    Ok(())
}

/// Reads a start tag's attributes from `j` (just past its name) to its `>` or `/>`:
/// where the tag ends, and whether it was empty. `seen` holds this tag's attribute
/// names, to refuse one named twice; it is left as it was found.
fn attributes(
    s: &str,
    mut j: usize,
    limits: &BodyLimits,
    out: &mut BodyArgs,
    scratch: &mut String,
    seen: &mut Vec<(usize, usize)>,
) -> Result<(usize, bool), BodyError> {
    let b = s.as_bytes();
    let open = seen.len();
    let end = loop {
        let spaced = skip_space(b, j);
        let had_space = spaced > j;
        j = spaced;
        match b.get(j..).unwrap_or_default() {
            [b'>', ..] => break (j + 1, false),
            [b'/', b'>', ..] => break (j + 2, true),
            _ if !had_space => return Err(BAD),
            _ => {}
        }
        let (name, k) = name_at(b, j)?;
        let k = skip_space(b, k);
        if b.get(k) != Some(&b'=') {
            return Err(BAD);
        }
        let k = skip_space(b, k + 1);
        let quote = *b.get(k).filter(|q| matches!(q, b'"' | b'\'')).ok_or(BAD)?;
        let close = find(b, k + 1, &[quote]).ok_or(BAD)?;
        let raw = s.get(k + 1..close).unwrap_or_default();
        if raw.contains('<') {
            return Err(BAD);
        }
        let name_bytes = b.get(name.0..name.1).unwrap_or_default();
        if seen
            .get(open..)
            .unwrap_or_default()
            .iter()
            .any(|&(a, z)| b.get(a..z) == Some(name_bytes))
        {
            return Err(BAD);
        }
        seen.push(name);
        scratch.clear();
        decode(raw, true, scratch)?;
        let name = s.get(name.0..name.1).unwrap_or_default();
        let namespace = name == "xmlns" || name.starts_with("xmlns:");
        if !namespace && out.room(limits) {
            out.push(
                ArgKind::XmlAttr,
                |t| t.push_str(name),
                |t| t.push_str(scratch),
            );
        }
        j = close + 1;
    };
    seen.truncate(open);
    Ok(end)
}

/// The name starting at `i` and where it ends.
fn name_at(b: &[u8], i: usize) -> Result<((usize, usize), usize), BodyError> {
    let first = *b.get(i).ok_or(BAD)?;
    if !is_name(first) || first.is_ascii_digit() || matches!(first, b'-' | b'.') {
        return Err(BAD);
    }
    let mut j = i + 1;
    while b.get(j).copied().is_some_and(is_name) {
        j += 1;
    }
    Ok(((i, j), j))
}

fn is_name(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b':') || c >= 0x80
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn skip_space(b: &[u8], mut j: usize) -> usize {
    while b.get(j).copied().is_some_and(is_space) {
        j += 1;
    }
    j
}

/// Where `needle` next occurs in `b` at or after `from`.
fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let hay = b.get(from..)?;
    match needle {
        [one] => memchr(*one, hay),
        _ => hay.windows(needle.len()).position(|w| w == needle),
    }
    .map(|p| p + from)
}

fn memchr(c: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&h| h == c)
}

/// Appends `raw` with its line ends normalised (`\r\n` and `\r` to `\n`), and in an
/// attribute value (`attr`) every `\t`, `\n` and `\r` to a space.
fn newlines(raw: &str, attr: bool, out: &mut String) {
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        let c = match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                '\n'
            }
            c => c,
        };
        out.push(if attr && matches!(c, '\t' | '\n') {
            ' '
        } else {
            c
        });
    }
}

/// Appends text or an attribute value with its references replaced (and its whitespace
/// normalised, see [`newlines`]); an unknown or malformed reference is an error.
fn decode(raw: &str, attr: bool, out: &mut String) -> Result<(), BodyError> {
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        newlines(rest.get(..amp).unwrap_or_default(), attr, out);
        let after = rest.get(amp + 1..).unwrap_or_default();
        let semi = after.find(';').ok_or(BAD)?;
        let entity = after.get(..semi).unwrap_or_default();
        out.push(reference(entity).ok_or(BAD)?);
        rest = after.get(semi + 1..).unwrap_or_default();
    }
    newlines(rest, attr, out);
    Ok(())
}

/// The character `&entity;` stands for.
fn reference(entity: &str) -> Option<char> {
    let code = match entity {
        "lt" => return Some('<'),
        "gt" => return Some('>'),
        "amp" => return Some('&'),
        "quot" => return Some('"'),
        "apos" => return Some('\''),
        _ => entity.strip_prefix('#')?,
    };
    let (digits, radix) = match code.strip_prefix('x') {
        Some(hex) => (hex, 16),
        None => (code, 10),
    };
    if digits.is_empty() || digits.len() > 8 || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let n = u32::from_str_radix(digits, radix).ok()?;
    char::from_u32(n).filter(|&c| c != '\0')
}

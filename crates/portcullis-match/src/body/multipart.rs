//! `multipart/form-data` (RFC 7578 over RFC 2046): parts between `--BOUNDARY` lines, each
//! with CRLF-separated headers, a blank line and its content, up to `CRLF--BOUNDARY`;
//! `--BOUNDARY--` ends the body. Each part needs `Content-Disposition: form-data` with a
//! `name`; a part with a `filename` is a file (its name is the value, its content is not
//! an argument), any other a field. Every part header is an argument too: its line
//! (`Name: value`, trimmed), named by the part's field name.

use super::{ArgKind, BodyArgs, BodyError, BodyLimits};

const BAD: BodyError = BodyError::MalformedMultipart;

/// RFC 2046 §5.1.1: 1 to 70 characters of a restricted set, not ending in a space.
pub(super) fn valid_boundary(b: &str) -> bool {
    (1..=70).contains(&b.len())
        && !b.ends_with(' ')
        && b.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(&c))
}

/// Where `needle` first occurs in `hay`: linear time, so a body full of near-boundaries
/// costs what its length costs.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

pub(super) fn parse(
    body: &[u8],
    boundary: &str,
    limits: &BodyLimits,
    out: &mut BodyArgs,
) -> Result<(), BodyError> {
    let mut delimiter = Vec::with_capacity(boundary.len() + 4);
    delimiter.extend_from_slice(b"\r\n--");
    delimiter.extend_from_slice(boundary.as_bytes());
    // The first delimiter may open the body (without its CRLF) or follow a preamble.
    let first = if body.starts_with(&delimiter[2..]) {
        delimiter.len() - 2
    } else {
        find(body, &delimiter).ok_or(BAD)? + delimiter.len()
    };
    let mut rest = body.get(first..).ok_or(BAD)?;
    let mut parts = 0;
    loop {
        // After a delimiter: `--` ends the body, CRLF starts a part.
        if rest.starts_with(b"--") {
            return Ok(());
        }
        if parts == limits.max_parts {
            out.truncated = true;
            return Ok(());
        }
        rest = rest.strip_prefix(b"\r\n").ok_or(BAD)?;
        let end = find(rest, &delimiter).ok_or(BAD)?;
        let (part, after) = rest.split_at(end);
        parts += 1;
        read_part(part, limits, out)?;
        rest = after.get(delimiter.len()..).ok_or(BAD)?;
    }
}

fn read_part(part: &[u8], limits: &BodyLimits, out: &mut BodyArgs) -> Result<(), BodyError> {
    let split = find(part, b"\r\n\r\n");
    let (head, content) = match split {
        Some(i) => (&part[..i], &part[i + 4..]),
        // No header at all: the part starts with its blank line.
        None if part.starts_with(b"\r\n") => (&part[..0], &part[2..]),
        None => return Err(BAD),
    };
    let head = std::str::from_utf8(head).map_err(|_| BAD)?;
    let mut name = None;
    let mut filename = None;
    let mut disposition = false;
    let lines = if head.is_empty() {
        Vec::new()
    } else {
        head.split("\r\n").collect()
    };
    for line in &lines {
        let (n, v) = line.split_once(':').ok_or(BAD)?;
        let (n, v) = (n.trim(), v.trim());
        if n.is_empty() {
            return Err(BAD);
        }
        if n.eq_ignore_ascii_case("content-disposition") {
            disposition = true;
            let mut params = split_params(v).into_iter();
            if !params
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("form-data"))
            {
                return Err(BAD);
            }
            for p in params {
                let (k, val) = p.split_once('=').ok_or(BAD)?;
                let val = unquote(val.trim())?;
                match k.trim().to_ascii_lowercase().as_str() {
                    "name" => name = Some(val),
                    "filename" => filename = Some(val),
                    _ => {}
                }
            }
        }
    }
    let name = match (disposition, name) {
        (true, Some(n)) => n,
        _ => return Err(BAD),
    };
    if filename.is_some() {
        out.files_size = out.files_size.saturating_add(content.len() as u64);
    }
    for line in &lines {
        if let Some((n, v)) = line.split_once(':') {
            if out.room(limits) {
                out.push(
                    ArgKind::PartHeader,
                    |t| t.push_str(&name),
                    |t| {
                        t.push_str(n.trim());
                        t.push_str(": ");
                        t.push_str(v.trim());
                    },
                );
            }
        }
    }
    if !out.room(limits) {
        return Ok(());
    }
    match filename {
        Some(f) => out.push(ArgKind::File, |t| t.push_str(&name), |t| t.push_str(&f)),
        None => out.push(
            ArgKind::Field,
            |t| t.push_str(&name),
            |t| t.push_str(&String::from_utf8_lossy(content)),
        ),
    }
    Ok(())
}

/// `v` split on the `;` outside quoted strings.
fn split_params(v: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in v.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => {
                out.push(&v[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&v[start..]);
    out
}

/// A parameter value: a token, or a quoted string with `\` escapes.
fn unquote(v: &str) -> Result<String, BodyError> {
    let Some(inner) = v.strip_prefix('"') else {
        return Ok(v.to_string());
    };
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                return if chars.as_str().is_empty() {
                    Ok(out)
                } else {
                    Err(BAD)
                }
            }
            // Only `\"` and `\\` are escapes (as ModSecurity reads them): a Windows path
            // keeps its backslashes.
            '\\' => match chars.clone().next() {
                Some(e @ ('"' | '\\')) => {
                    chars.next();
                    out.push(e);
                }
                _ => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    Err(BAD)
}

#[cfg(test)]
mod tests {
    use super::super::{BodyArgs, BodyKind, BodyLimits};

    #[test]
    fn files_size_adds_every_files_content_and_no_fields() {
        let body = "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nfield text\r\n\
                    --b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.txt\"\r\n\r\n12345\r\n\
                    --b\r\nContent-Disposition: form-data; name=\"g\"; filename=\"y\"\r\n\r\n123\r\n--b--\r\n";
        let mut args = BodyArgs::new();
        args.parse(
            BodyKind::Multipart,
            Some("b"),
            body.as_bytes(),
            &BodyLimits::default(),
        );
        assert_eq!((args.error, args.files_size), (None, 8));
        // Past `max_args` the files still count; a malformed body counts none.
        let few = BodyLimits {
            max_args: 1,
            ..BodyLimits::default()
        };
        args.parse(BodyKind::Multipart, Some("b"), body.as_bytes(), &few);
        assert_eq!((args.truncated, args.files_size), (true, 8));
        let cut = &body[..body.len() - 8];
        args.parse(
            BodyKind::Multipart,
            Some("b"),
            cut.as_bytes(),
            &BodyLimits::default(),
        );
        assert!(args.error.is_some());
        assert_eq!(args.files_size, 0);
    }
}

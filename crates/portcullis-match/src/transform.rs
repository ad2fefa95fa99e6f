//! Decoding and normalising functions (`url_decode_uni(x)`, `cmd_line(x)`, …): what a rule
//! applies to a value before matching it, so that an attack encoded once or twice is seen
//! as what the server behind will read.
//!
//! Each function follows ModSecurity's transformation of the same name where it defines one
//! (OWASP CRS relies on them); where ModSecurity yields bytes that are not UTF-8 (a
//! decoded `%ff`), the result has U+FFFD in their place. A `sha1` digest is all raw bytes:
//! it writes a byte 0x80–0xFF as the private-use character U+EF80–U+EFFF (U+EF00 plus the
//! byte, as MirBSD's OPTU-8 does), and `sha1` and `hex_encode` read such a character back
//! as its one byte, so `hex_encode(sha1(x))` is ModSecurity's forty hex digits. Each is a
//! single pass into a reused buffer; `portcullis-decide`'s naive reference implements them
//! again, plainly, and the two are property-tested against each other.

use std::fmt;

/// A function of one string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transform {
    /// ASCII lowercase.
    Lower,
    /// ASCII uppercase.
    Upper,
    /// One round of percent-decoding; `+` stays `+`; a `%` not followed by two hex digits
    /// stays as it is.
    UrlDecode,
    /// ModSecurity's `urlDecodeUni`: `%HH`, `+` as a space, and IIS's `%uHHHH`, of which
    /// only the low byte is kept, but for full-width ASCII (`%uFF01`–`%uFF5E`), which
    /// becomes its ASCII character.
    UrlDecodeUni,
    /// HTML character references: `&#DDD;`, `&#xHH;` (the `;` optional, the low byte
    /// kept) and `&quot;` `&amp;` `&lt;` `&gt;` `&nbsp;` (a name ends at the first character
    /// that is not a letter or digit).
    HtmlEntityDecode,
    /// JavaScript escapes: `\n` and the other single-letter ones, `\xHH`, `\uHHHH` (as in
    /// `url_decode_uni`), octal `\OOO`, and `\c` for any other `c`.
    JsDecode,
    /// CSS escapes: `\` and one to six hex digits (the last byte kept; a full-width form
    /// becomes ASCII; one whitespace after it dropped), `\` and a newline dropped, `\c`.
    CssDecode,
    /// Base64 (standard alphabet), up to the first character outside it; padding optional.
    Base64Decode,
    /// Pairs of hex digits, up to the first pair that is not one.
    HexDecode,
    /// ModSecurity's `escapeSeqDecode` (v3 `escape_seq_decode.cc`): the ANSI C escapes
    /// `\a \b \f \n \r \t \v \\ \? \' \"`, `\xHH` (`\X` too) and octal `\OOO` (one
    /// to three digits, the value's low byte); any other `\c`, and an `\x` without two hex
    /// digits, is `c` (the backslash dropped); a `\` that ends the value stays.
    EscapeSeqDecode,
    /// ModSecurity's `hexEncode` (v3 `hex_encode.cc`): each byte as two lowercase hex
    /// digits (a `sha1` digest byte, U+EF80–U+EFFF, as the one byte it stands for).
    HexEncode,
    /// ModSecurity's `removeCommentsChar` (v3 `remove_comments_char.cc`): every `/*`,
    /// `*/`, `<!--`, `-->`, `--` and `#` removed, read left to right in that order of
    /// preference, the value between them kept.
    RemoveCommentsChar,
    /// ModSecurity's `sha1` (v3 `sha1.cc`): the 20-byte SHA-1 digest of the value's bytes,
    /// a byte below 0x80 as that character, one from 0x80 as U+EF00 plus it (U+EF80–U+EFFF);
    /// `hex_encode` turns it into the usual forty hex digits.
    Sha1,
    /// Every NUL removed.
    RemoveNulls,
    /// Every whitespace character removed (ASCII whitespace and U+00A0).
    RemoveWhitespace,
    /// Every run of whitespace (as `remove_whitespace` sees it) made one space.
    CompressWhitespace,
    /// Every C comment (`/* … */`, or `/*` to the end) made one space; a lone `*/` stays.
    ReplaceComments,
    /// Dot segments and repeated slashes resolved (`/a/./b/../c//d` → `/a/c/d`), without
    /// decoding; a relative path keeps the `..` it cannot resolve.
    NormalizePath,
    /// `normalize_path` after turning every `\` into `/`.
    NormalizePathWin,
    /// ModSecurity's `cmdLine`: `\ " ' ^` removed, `, ;` and whitespace runs made one
    /// space, a space before `/` or `(` removed, ASCII lowercased.
    CmdLine,
    /// Every non-ASCII character written `%uHHHH` (lowercase hex, more digits past
    /// U+FFFF).
    Utf8ToUnicode,
    /// Whitespace removed at both ends (as `remove_whitespace` sees it).
    Trim,
}

impl Transform {
    /// Every function, in the order of their names.
    pub const ALL: [Transform; 22] = [
        Transform::Base64Decode,
        Transform::CmdLine,
        Transform::CompressWhitespace,
        Transform::CssDecode,
        Transform::EscapeSeqDecode,
        Transform::HexDecode,
        Transform::HexEncode,
        Transform::HtmlEntityDecode,
        Transform::JsDecode,
        Transform::Lower,
        Transform::NormalizePath,
        Transform::NormalizePathWin,
        Transform::RemoveCommentsChar,
        Transform::RemoveNulls,
        Transform::RemoveWhitespace,
        Transform::ReplaceComments,
        Transform::Sha1,
        Transform::Trim,
        Transform::Upper,
        Transform::UrlDecode,
        Transform::UrlDecodeUni,
        Transform::Utf8ToUnicode,
    ];

    /// The function's name in rules.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Transform::Lower => "lower",
            Transform::Upper => "upper",
            Transform::UrlDecode => "url_decode",
            Transform::UrlDecodeUni => "url_decode_uni",
            Transform::HtmlEntityDecode => "html_entity_decode",
            Transform::JsDecode => "js_decode",
            Transform::CssDecode => "css_decode",
            Transform::Base64Decode => "base64_decode",
            Transform::HexDecode => "hex_decode",
            Transform::EscapeSeqDecode => "escape_seq_decode",
            Transform::HexEncode => "hex_encode",
            Transform::RemoveCommentsChar => "remove_comments_char",
            Transform::Sha1 => "sha1",
            Transform::RemoveNulls => "remove_nulls",
            Transform::RemoveWhitespace => "remove_whitespace",
            Transform::CompressWhitespace => "compress_whitespace",
            Transform::ReplaceComments => "replace_comments",
            Transform::NormalizePath => "normalize_path",
            Transform::NormalizePathWin => "normalize_path_win",
            Transform::CmdLine => "cmd_line",
            Transform::Utf8ToUnicode => "utf8_to_unicode",
            Transform::Trim => "trim",
        }
    }

    /// The function a rule names.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Transform> {
        Transform::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Appends the function's value of `input` to `out`; `bytes` is scratch space.
    pub fn apply(self, input: &str, out: &mut String, bytes: &mut Vec<u8>) {
        let s = input.as_bytes();
        // Most values hold nothing a function changes: copy those as they are.
        if self.leaves_alone(s) {
            out.push_str(input);
            return;
        }
        match self {
            Transform::Lower => {
                let at = out.len();
                out.push_str(input);
                out[at..].make_ascii_lowercase();
                return;
            }
            Transform::Upper => {
                let at = out.len();
                out.push_str(input);
                out[at..].make_ascii_uppercase();
                return;
            }
            Transform::UrlDecode => {
                crate::normalize::percent_decode_into(input, false, out);
                return;
            }
            Transform::Utf8ToUnicode => {
                for c in input.chars() {
                    if c.is_ascii() {
                        out.push(c);
                    } else {
                        use fmt::Write;
                        let _ = write!(out, "%u{:04x}", u32::from(c));
                    }
                }
                return;
            }
            Transform::Trim => {
                out.push_str(input.trim_matches(is_space_char));
                return;
            }
            Transform::HexEncode => {
                const DIGITS: &[u8; 16] = b"0123456789abcdef";
                raw_bytes(s, |run| {
                    for &b in run {
                        out.push(char::from(DIGITS[usize::from(b >> 4)]));
                        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
                    }
                });
                return;
            }
            Transform::Sha1 => {
                let mut hash = sha1_smol::Sha1::new();
                raw_bytes(s, |run| hash.update(run));
                out.extend(hash.digest().bytes().into_iter().map(digest_char));
                return;
            }
            _ => {}
        }
        bytes.clear();
        match self {
            Transform::UrlDecodeUni => url_decode_uni(s, bytes),
            Transform::HtmlEntityDecode => html_entity_decode(s, bytes),
            Transform::JsDecode => js_decode(s, bytes),
            Transform::CssDecode => css_decode(s, bytes),
            Transform::Base64Decode => base64_decode(s, bytes),
            Transform::HexDecode => hex_decode(s, bytes),
            Transform::EscapeSeqDecode => escape_seq_decode(s, bytes),
            Transform::RemoveCommentsChar => remove_comments_char(s, bytes),
            Transform::RemoveNulls => bytes.extend(s.iter().filter(|&&b| b != 0)),
            Transform::RemoveWhitespace => whitespace(input, None, bytes),
            Transform::CompressWhitespace => whitespace(input, Some(b' '), bytes),
            Transform::ReplaceComments => replace_comments(s, bytes),
            Transform::NormalizePath => normalize_path(s, false, bytes),
            Transform::NormalizePathWin => normalize_path(s, true, bytes),
            Transform::CmdLine => cmd_line(s, bytes),
            _ => {}
        }
        crate::normalize::push_lossy(bytes, out);
    }
}

impl Transform {
    /// The function's index in [`Transform::ALL`]: its bit in a set of functions.
    #[must_use]
    pub fn index(self) -> usize {
        Transform::ALL.iter().position(|&t| t == self).unwrap_or(0)
    }

    /// Which of the functions in `among` (bits by [`Transform::index`]) may change `s`:
    /// one pass over its bytes for the bytes each function acts on, then
    /// [`Transform::leaves_alone`] for those whose bytes are there. A function outside the
    /// result leaves `s` as it is.
    #[must_use]
    pub fn changing(s: &[u8], among: u64) -> u64 {
        let mut seen = 0u32;
        for &b in s {
            seen |= TRIGGERS[b as usize];
        }
        let maybe = (u64::from(seen) | ALWAYS) & among;
        // Those whose bytes alone decide are known without a second look.
        let mut changing = maybe & DECIDED;
        let mut maybe = maybe & !DECIDED;
        while maybe != 0 {
            let i = maybe.trailing_zeros();
            maybe &= maybe - 1;
            if Transform::ALL
                .get(i as usize)
                .is_some_and(|t| !t.leaves_alone(s))
            {
                changing |= 1 << i;
            }
        }
        changing
    }

    /// Whether the function returns `s` unchanged: a quick look for what it acts on. It
    /// may answer `false` for a value the function would not change (`base64_decode`,
    /// `hex_decode`, `hex_encode` and `sha1` always), never `true` for one it would: a
    /// caller may then use `s` as the value.
    #[must_use]
    pub fn leaves_alone(self, s: &[u8]) -> bool {
        let has = |b: u8| s.contains(&b);
        let any_space = || s.iter().any(|&b| is_space(b) || b == 0xc2);
        match self {
            Transform::UrlDecodeUni => !has(b'%') && !has(b'+'),
            Transform::UrlDecode => !has(b'%'),
            Transform::HtmlEntityDecode => !has(b'&'),
            Transform::JsDecode | Transform::CssDecode | Transform::EscapeSeqDecode => !has(b'\\'),
            Transform::RemoveCommentsChar => {
                !has(b'#') && !s.windows(2).any(|w| matches!(w, b"/*" | b"*/" | b"--"))
            }
            Transform::RemoveNulls => !has(0),
            Transform::RemoveWhitespace => !any_space(),
            Transform::CompressWhitespace => {
                // Single spaces stay; anything else that is whitespace changes.
                !s.iter().any(|&b| is_space(b) && b != b' ' || b == 0xc2)
                    && !s.windows(2).any(|w| w == b"  ")
            }
            Transform::ReplaceComments => !s.windows(2).any(|w| w == b"/*"),
            Transform::Utf8ToUnicode => s.is_ascii(),
            Transform::Lower => !s.iter().any(u8::is_ascii_uppercase),
            Transform::Upper => !s.iter().any(u8::is_ascii_lowercase),
            Transform::Trim => {
                let nbsp = |b: &[u8]| b == [0xc2, 0xa0];
                !s.first().is_some_and(|&b| is_space(b))
                    && !s.last().is_some_and(|&b| is_space(b))
                    && !s.get(..2).is_some_and(nbsp)
                    && !s.get(s.len().saturating_sub(2)..).is_some_and(nbsp)
            }
            // What `cmd_line` removes, joins, lowercases, or a space it drops.
            Transform::CmdLine => {
                !s.iter().any(|&b| {
                    matches!(
                        b,
                        b'"' | b'\'' | b'\\' | b'^' | b',' | b';' | b'\t' | b'\r' | b'\n'
                    ) || b.is_ascii_uppercase()
                }) && !s
                    .windows(2)
                    .any(|w| w[0] == b' ' && matches!(w[1], b' ' | b'/' | b'('))
            }
            Transform::NormalizePath | Transform::NormalizePathWin => {
                let windows = self == Transform::NormalizePathWin;
                if windows && has(b'\\') {
                    return false;
                }
                let n = s.split(|&b| b == b'/').count();
                s.split(|&b| b == b'/').enumerate().all(|(i, seg)| {
                    seg != b"." && seg != b".." && (!seg.is_empty() || i == 0 || i + 1 == n)
                })
            }
            _ => false,
        }
    }
}

impl fmt::Display for Transform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Two hex digits at `s[i..]`.
fn hex2(s: &[u8], i: usize) -> Option<u8> {
    Some((hex(*s.get(i)?)? << 4) | hex(*s.get(i + 1)?)?)
}

/// `%uHHHH` (or `\uHHHH`) at `s[i..]`, `i` at the `u`: the byte ModSecurity keeps.
fn unicode_escape(s: &[u8], i: usize) -> Option<u8> {
    let digits = s.get(i + 1..i + 5)?;
    if !digits.iter().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let low = hex2(digits, 2)?;
    let full_width = digits[0].eq_ignore_ascii_case(&b'f') && digits[1].eq_ignore_ascii_case(&b'f');
    Some(if full_width && low > 0 && low < 0x5f {
        low + 0x20
    } else {
        low
    })
}

fn url_decode_uni(s: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        match b {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if matches!(s.get(i + 1), Some(b'u' | b'U')) => match unicode_escape(s, i + 1) {
                Some(c) => {
                    out.push(c);
                    i += 6;
                }
                None => {
                    out.push(b);
                    i += 1;
                }
            },
            b'%' => match hex2(s, i + 1) {
                Some(c) => {
                    out.push(c);
                    i += 3;
                }
                None => {
                    out.push(b);
                    i += 1;
                }
            },
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
}

fn html_entity_decode(s: &[u8], out: &mut Vec<u8>) {
    const NAMED: [(&[u8], u8); 5] = [
        (b"quot", b'"'),
        (b"amp", b'&'),
        (b"lt", b'<'),
        (b"gt", b'>'),
        (b"nbsp", 0xa0),
    ];
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        i += 1;
        if b != b'&' {
            out.push(b);
            continue;
        }
        let rest = s.get(i..).unwrap_or_default();
        let (value, used) = if rest.first() == Some(&b'#') {
            let hexa = matches!(rest.get(1), Some(b'x' | b'X'));
            let start = if hexa { 2 } else { 1 };
            let digits = rest
                .get(start..)
                .unwrap_or_default()
                .iter()
                .take_while(|b| {
                    if hexa {
                        b.is_ascii_hexdigit()
                    } else {
                        b.is_ascii_digit()
                    }
                })
                .count();
            if digits == 0 {
                (None, 0)
            } else {
                let mut v: u32 = 0;
                for &d in &rest[start..start + digits] {
                    let d = u32::from(hex(d).unwrap_or(0));
                    v = v.wrapping_mul(if hexa { 16 } else { 10 }).wrapping_add(d);
                }
                ((v as u8).into(), start + digits)
            }
        } else {
            let name_len = rest
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric())
                .count();
            let name = &rest[..name_len];
            match NAMED.iter().find(|(n, _)| name.eq_ignore_ascii_case(n)) {
                Some(&(_, v)) => (Some(v), name_len),
                None => (None, 0),
            }
        };
        match value {
            Some(v) => {
                out.push(v);
                i += used;
                if s.get(i) == Some(&b';') {
                    i += 1;
                }
            }
            None => out.push(b'&'),
        }
    }
}

fn js_decode(s: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let Some(&c) = s.get(i + 1) else {
            out.push(b);
            i += 1;
            continue;
        };
        if c == b'u' {
            if let Some(v) = unicode_escape(s, i + 1) {
                out.push(v);
                i += 6;
                continue;
            }
        }
        if c == b'x' {
            if let Some(v) = hex2(s, i + 2) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        if (b'0'..=b'7').contains(&c) {
            let n = s[i + 1..]
                .iter()
                .take(3)
                .take_while(|d| (b'0'..=b'7').contains(*d))
                .count();
            let mut v: u32 = 0;
            let mut used = 0;
            for &d in &s[i + 1..i + 1 + n] {
                let next = v * 8 + u32::from(d - b'0');
                if next > 0xff {
                    break;
                }
                v = next;
                used += 1;
            }
            out.push(v as u8);
            i += 1 + used;
            continue;
        }
        out.push(match c {
            b'a' => 0x07,
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'v' => 0x0b,
            other => other,
        });
        i += 2;
    }
}

fn css_decode(s: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        i += 1;
        let Some(&c) = s.get(i) else {
            break;
        };
        let n = s[i..]
            .iter()
            .take(6)
            .take_while(|d| d.is_ascii_hexdigit())
            .count();
        if n > 0 {
            let digits = &s[i..i + n];
            let last = if n == 1 {
                hex(digits[0]).unwrap_or(0)
            } else {
                hex2(digits, n - 2).unwrap_or(0)
            };
            // A full-width form: four digits `ffHH`, or five or six with leading zeros.
            let leading_zeros = digits.iter().take_while(|d| **d == b'0').count();
            let full_width = (n == 4 || (n >= 5 && leading_zeros >= n - 4))
                && digits[n - 4].eq_ignore_ascii_case(&b'f')
                && digits[n - 3].eq_ignore_ascii_case(&b'f');
            out.push(if full_width && last > 0 && last < 0x5f {
                last + 0x20
            } else {
                last
            });
            i += n;
            if s.get(i).is_some_and(|w| is_space(*w)) {
                i += 1;
            }
        } else if c == b'\n' {
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
}

fn base64_decode(s: &[u8], out: &mut Vec<u8>) {
    let value = |b: u8| match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &b in s {
        let Some(v) = value(b) else { break };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
}

fn hex_decode(s: &[u8], out: &mut Vec<u8>) {
    for pair in s.chunks_exact(2) {
        match hex2(pair, 0) {
            Some(v) => out.push(v),
            None => break,
        }
    }
}

/// ModSecurity v3's `ansi_c_sequences_decode_inplace` (`escape_seq_decode.cc`).
fn escape_seq_decode(s: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        let c = match s.get(i + 1) {
            Some(&c) if b == b'\\' => c,
            // Not a backslash, or one that ends the value: kept.
            _ => {
                out.push(b);
                i += 1;
                continue;
            }
        };
        let named = match c {
            b'a' => Some(0x07),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'v' => Some(0x0b),
            b'\\' | b'?' | b'\'' | b'"' => Some(c),
            _ => None,
        };
        if let Some(v) = named {
            out.push(v);
            i += 2;
        } else if let (b'x' | b'X', Some(v)) = (c, hex2(s, i + 2)) {
            out.push(v);
            i += 4;
        } else if (b'0'..=b'7').contains(&c) {
            // One to three octal digits; v3 stores the value in a byte, so `\777` is 0xff.
            let mut v: u32 = 0;
            let mut n = 0;
            while let Some(&d @ b'0'..=b'7') = s.get(i + 1 + n).filter(|_| n < 3) {
                v = v * 8 + u32::from(d - b'0');
                n += 1;
            }
            out.push(v as u8);
            i += 1 + n;
        } else {
            // Unknown, or `\x` without two hex digits: the backslash dropped.
            out.push(c);
            i += 2;
        }
    }
}

/// ModSecurity v3's `RemoveCommentsChar::transform` (`remove_comments_char.cc`).
fn remove_comments_char(s: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        let rest = &s[i..];
        let skip = if rest.starts_with(b"/*") || rest.starts_with(b"*/") {
            2
        } else if rest.starts_with(b"<!--") {
            4
        } else if rest.starts_with(b"-->") {
            3
        } else if rest.starts_with(b"--") {
            2
        } else if b == b'#' {
            1
        } else {
            out.push(b);
            1
        };
        i += skip;
    }
}

/// The bytes a value stands for, in runs: its UTF-8, but a character U+EF80–U+EFFF (a
/// `sha1` digest byte) is the one byte 0x80–0xFF.
fn raw_bytes(s: &[u8], mut f: impl FnMut(&[u8])) {
    let mut start = 0;
    let mut i = 0;
    while i < s.len() {
        // U+EF80–U+EFFF is `EE BE 80`–`EE BF BF` in UTF-8.
        if let [0xee, second @ (0xbe | 0xbf), third, ..] = s[i..] {
            f(&s[start..i]);
            f(&[0x80 | ((second & 1) << 6) | (third & 0x3f)]);
            i += 3;
            start = i;
        } else {
            i += 1;
        }
    }
    f(&s[start..]);
}

/// How `sha1` writes a digest byte: itself below 0x80, U+EF00 plus it from there.
fn digest_char(b: u8) -> char {
    if b.is_ascii() {
        char::from(b)
    } else {
        char::from_u32(0xef00 + u32::from(b)).unwrap_or(char::REPLACEMENT_CHARACTER)
    }
}

/// Functions that may change any value (their `leaves_alone` always says no), by index:
/// `base64_decode`, `hex_decode`, `hex_encode`, `sha1`.
const ALWAYS: u64 = (1 << 0) | (1 << 5) | (1 << 6) | (1 << 16);

/// Functions that change every value holding one of their bytes (see `TRIGGERS`), by
/// index: `css_decode`, `escape_seq_decode`, `html_entity_decode`, `js_decode`, `lower`,
/// `remove_nulls`, `remove_whitespace`, `upper`, `url_decode`, `url_decode_uni`,
/// `utf8_to_unicode`; with those of `ALWAYS`, whose `leaves_alone` is never asked.
const DECIDED: u64 = ALWAYS
    | (1 << 3)
    | (1 << 4)
    | (1 << 7)
    | (1 << 8)
    | (1 << 9)
    | (1 << 13)
    | (1 << 14)
    | (1 << 18)
    | (1 << 19)
    | (1 << 20)
    | (1 << 21);

/// For each byte, the functions (bits by index) that act on a value holding it: a value
/// with none of a function's bytes is one it leaves alone.
static TRIGGERS: [u32; 256] = triggers();

const fn triggers() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut b = 0usize;
    while b < 256 {
        let c = b as u8;
        let space = matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0xc2);
        let mut bits = 0u32;
        if matches!(
            c,
            b'"' | b'\'' | b'\\' | b'^' | b',' | b';' | b'\t' | b'\r' | b'\n' | b' '
        ) || c.is_ascii_uppercase()
        {
            bits |= 1 << 1; // cmd_line
        }
        if space {
            bits |= (1 << 2) | (1 << 14) | (1 << 17); // compress_whitespace, remove_whitespace, trim
        }
        if c == b'\\' {
            // css_decode, escape_seq_decode, js_decode, normalize_path_win
            bits |= (1 << 3) | (1 << 4) | (1 << 8) | (1 << 11);
        }
        if c == b'&' {
            bits |= 1 << 7; // html_entity_decode
        }
        if c.is_ascii_uppercase() {
            bits |= 1 << 9; // lower
        }
        if c == b'/' || c == b'.' {
            bits |= (1 << 10) | (1 << 11); // normalize_path(_win)
        }
        if matches!(c, b'/' | b'*' | b'-' | b'#') {
            bits |= 1 << 12; // remove_comments_char
        }
        if c == 0 {
            bits |= 1 << 13; // remove_nulls
        }
        if c == b'/' {
            bits |= 1 << 15; // replace_comments
        }
        if c.is_ascii_lowercase() {
            bits |= 1 << 18; // upper
        }
        if c == b'%' {
            bits |= (1 << 19) | (1 << 20); // url_decode, url_decode_uni
        }
        if c == b'+' {
            bits |= 1 << 20; // url_decode_uni
        }
        if c >= 0x80 {
            bits |= 1 << 21; // utf8_to_unicode
        }
        t[b] = bits;
        b += 1;
    }
    t
}

/// ASCII whitespace as C's `isspace` sees it.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn is_space_char(c: char) -> bool {
    c.is_ascii() && is_space(c as u8) || c == '\u{a0}'
}

/// Whitespace removed (`with` = None) or each run of it made `with`. Byte by byte, the
/// text between runs copied whole: the only whitespace outside ASCII is U+00A0, which
/// UTF-8 writes `C2 A0` (and `C2` only ever starts a character).
fn whitespace(input: &str, with: Option<u8>, out: &mut Vec<u8>) {
    let s = input.as_bytes();
    let (mut i, mut copied, mut in_run) = (0, 0, false);
    while let Some(&b) = s.get(i) {
        let width = if is_space(b) {
            1
        } else if b == 0xC2 && s.get(i + 1) == Some(&0xA0) {
            2
        } else {
            in_run = false;
            i += 1;
            continue;
        };
        out.extend_from_slice(s.get(copied..i).unwrap_or_default());
        if let (Some(w), false) = (with, in_run) {
            out.push(w);
        }
        in_run = true;
        i += width;
        copied = i;
    }
    out.extend_from_slice(s.get(copied..).unwrap_or_default());
}

fn replace_comments(s: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < s.len() {
        if s[i..].starts_with(b"/*") {
            out.push(b' ');
            match s[i + 2..].windows(2).position(|w| w == b"*/") {
                Some(end) => i += 2 + end + 2,
                None => return,
            }
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
}

fn normalize_path(s: &[u8], windows: bool, out: &mut Vec<u8>) {
    let absolute = s
        .first()
        .is_some_and(|&b| b == b'/' || (windows && b == b'\\'));
    // On the stack for paths of up to 16 segments (most): this runs on every request.
    let mut segments: smallvec::SmallVec<[&[u8]; 16]> = smallvec::SmallVec::new();
    // Splitting on both separators equals turning `\` into `/` first.
    let parts = s.split(|&b| b == b'/' || (windows && b == b'\\'));
    let mut last_was_dir = false;
    for part in parts {
        last_was_dir = true;
        match part {
            b"" | b"." => {}
            b".." => match segments.last() {
                Some(&p) if p != b".." => {
                    segments.pop();
                }
                _ if absolute => {}
                _ => segments.push(part),
            },
            _ => {
                segments.push(part);
                last_was_dir = false;
            }
        }
    }
    if absolute {
        out.push(b'/');
    }
    for (n, seg) in segments.iter().enumerate() {
        if n > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(seg);
    }
    let ends_with_slash = s
        .last()
        .is_some_and(|&b| b == b'/' || (windows && b == b'\\'));
    if !segments.is_empty() && (ends_with_slash || last_was_dir) {
        out.push(b'/');
    }
}

fn cmd_line(s: &[u8], out: &mut Vec<u8>) {
    let special = |b: &u8| {
        matches!(
            b,
            b'"' | b'\'' | b'\\' | b'^' | b' ' | b',' | b';' | b'\t' | b'\r' | b'\n' | b'/' | b'('
        )
    };
    let mut space = false;
    let mut rest = s;
    loop {
        // The bytes up to the next special one, lowercased in one go.
        let n = rest.iter().position(special).unwrap_or(rest.len());
        let Some((plain, tail)) = rest.split_at_checked(n) else {
            return;
        };
        if !plain.is_empty() {
            out.extend(plain.iter().map(u8::to_ascii_lowercase));
            space = false;
        }
        let Some((&b, tail)) = tail.split_first() else {
            return;
        };
        rest = tail;
        match b {
            b'"' | b'\'' | b'\\' | b'^' => {}
            b'/' | b'(' => {
                if space {
                    out.pop();
                }
                space = false;
                out.push(b);
            }
            _ => {
                if !space {
                    out.push(b' ');
                    space = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Transform;

    /// The trigger table names functions by index: the indexes it assumes are `ALL`'s.
    #[test]
    fn trigger_bits_follow_the_order_of_all() {
        let expect = [
            (0, Transform::Base64Decode),
            (1, Transform::CmdLine),
            (2, Transform::CompressWhitespace),
            (3, Transform::CssDecode),
            (4, Transform::EscapeSeqDecode),
            (5, Transform::HexDecode),
            (6, Transform::HexEncode),
            (7, Transform::HtmlEntityDecode),
            (8, Transform::JsDecode),
            (9, Transform::Lower),
            (10, Transform::NormalizePath),
            (11, Transform::NormalizePathWin),
            (12, Transform::RemoveCommentsChar),
            (13, Transform::RemoveNulls),
            (14, Transform::RemoveWhitespace),
            (15, Transform::ReplaceComments),
            (16, Transform::Sha1),
            (17, Transform::Trim),
            (18, Transform::Upper),
            (19, Transform::UrlDecode),
            (20, Transform::UrlDecodeUni),
            (21, Transform::Utf8ToUnicode),
        ];
        assert_eq!(expect.len(), Transform::ALL.len());
        for (i, t) in expect {
            assert_eq!(t.index(), i, "{t}");
        }
        // `ALWAYS` is exactly the functions whose `leaves_alone` has no answer but no.
        let always = [
            Transform::Base64Decode,
            Transform::HexDecode,
            Transform::HexEncode,
            Transform::Sha1,
        ];
        let mask = always.iter().fold(0u64, |m, t| m | 1 << t.index());
        assert_eq!(super::ALWAYS, mask);
        for t in always {
            assert!(!t.leaves_alone(b""), "{t}");
        }
    }

    /// `changing` is `leaves_alone` asked of every function, on every single byte and on
    /// values that hit the checks past the trigger bytes.
    #[test]
    fn changing_agrees_with_leaves_alone() {
        let all = (1u64 << Transform::ALL.len()) - 1;
        let mut values: Vec<Vec<u8>> = (0u8..=255).map(|b| vec![b]).collect();
        values.extend(
            [
                "",
                "plain",
                "Mixed Case",
                "a  b",
                "a /b",
                "x(",
                "/a/./b",
                "..",
                "a.b",
                "/*c*/",
                " t ",
                "\u{a0}x",
                "x\u{a0}",
                "%41",
                "a+b",
                "&amp;",
                "\\x",
                "é",
                "a\tb",
                "a,b;c",
                "a--b",
                "a-b",
                "*/",
                "*x/",
                "<!--",
                "\\",
            ]
            .iter()
            .map(|s| s.as_bytes().to_vec()),
        );
        for v in values {
            let want = Transform::ALL
                .iter()
                .filter(|t| !t.leaves_alone(&v))
                .fold(0u64, |m, t| m | 1 << t.index());
            assert_eq!(
                Transform::changing(&v, all),
                want,
                "{:?}",
                String::from_utf8_lossy(&v)
            );
        }
    }
}

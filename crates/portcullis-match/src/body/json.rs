//! `application/json` (RFC 8259, strict): every scalar is one argument named by its path,
//! object keys joined with `.` and array elements by their index (`{"a": {"b": [1, "x"]}}`
//! gives `a.b.0 = 1` and `a.b.1 = x`; a scalar at the root is named ``). Strings are
//! unescaped; numbers are kept as written; `true`, `false` and `null` as those words.

use super::{ArgKind, BodyArgs, BodyError, BodyLimits};

/// The deepest nesting read whatever the limits say: the parser recurses once per level.
const HARD_DEPTH: usize = 512;

/// `bufs`: the path and string buffers, reused.
pub(super) fn parse(
    body: &[u8],
    limits: &BodyLimits,
    out: &mut BodyArgs,
    bufs: &mut (String, String),
) -> Result<(), BodyError> {
    if std::str::from_utf8(body).is_err() {
        return Err(BodyError::MalformedJson);
    }
    bufs.0.clear();
    bufs.1.clear();
    let mut p = Parser {
        s: body,
        i: 0,
        path: std::mem::take(&mut bufs.0),
        text: std::mem::take(&mut bufs.1),
        max_depth: limits.max_depth.min(HARD_DEPTH),
        limits,
        out,
    };
    p.ws();
    let read = p.value(0);
    p.ws();
    let whole = p.i == body.len();
    *bufs = (std::mem::take(&mut p.path), std::mem::take(&mut p.text));
    read?;
    if whole {
        Ok(())
    } else {
        Err(BodyError::MalformedJson)
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    /// The path of the value being read.
    path: String,
    /// A string's unescaped text.
    text: String,
    max_depth: usize,
    limits: &'a BodyLimits,
    out: &'a mut BodyArgs,
}

const BAD: BodyError = BodyError::MalformedJson;

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Result<(), BodyError> {
        if self.peek() == Some(b) {
            self.i += 1;
            Ok(())
        } else {
            Err(BAD)
        }
    }

    fn leaf(&mut self, value: &str) {
        if self.out.room(self.limits) {
            let path = &self.path;
            self.out
                .push(ArgKind::Field, |t| t.push_str(path), |t| t.push_str(value));
        }
    }

    /// Appends `.name` (or `name` at the root) to the path; returns the old length.
    fn enter(&mut self, name: impl FnOnce(&mut String)) -> usize {
        let len = self.path.len();
        if len > 0 {
            self.path.push('.');
        }
        name(&mut self.path);
        len
    }

    fn value(&mut self, depth: usize) -> Result<(), BodyError> {
        match self.peek().ok_or(BAD)? {
            b'{' | b'[' if depth >= self.max_depth => Err(BodyError::JsonTooDeep),
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => {
                self.string()?;
                let text = std::mem::take(&mut self.text);
                self.leaf(&text);
                self.text = text;
                Ok(())
            }
            b't' => self.word("true"),
            b'f' => self.word("false"),
            b'n' => self.word("null"),
            _ => self.number(),
        }
    }

    fn word(&mut self, w: &'static str) -> Result<(), BodyError> {
        if !self
            .s
            .get(self.i..)
            .is_some_and(|r| r.starts_with(w.as_bytes()))
        {
            return Err(BAD);
        }
        self.i += w.len();
        self.leaf(w);
        Ok(())
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<(), BodyError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(BAD),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(BAD);
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(BAD);
            }
        }
        // The input is UTF-8 and a number is ASCII.
        let text =
            std::str::from_utf8(self.s.get(start..self.i).unwrap_or_default()).map_err(|_| BAD)?;
        self.leaf(text);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, BodyError> {
        let digits = self.s.get(self.i..self.i + 4).ok_or(BAD)?;
        let mut v = 0;
        for &d in digits {
            v = v * 16 + (d as char).to_digit(16).ok_or(BAD)?;
        }
        self.i += 4;
        Ok(v)
    }

    /// Reads a string into `self.text`.
    fn string(&mut self) -> Result<(), BodyError> {
        self.eat(b'"')?;
        self.text.clear();
        loop {
            let start = self.i;
            while self
                .peek()
                .is_some_and(|b| b != b'"' && b != b'\\' && b >= 0x20)
            {
                self.i += 1;
            }
            let run = std::str::from_utf8(self.s.get(start..self.i).unwrap_or_default())
                .map_err(|_| BAD)?;
            self.text.push_str(run);
            match self.peek().ok_or(BAD)? {
                b'"' => {
                    self.i += 1;
                    return Ok(());
                }
                b'\\' => {
                    self.i += 1;
                    let c = self.peek().ok_or(BAD)?;
                    self.i += 1;
                    let ch = match c {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode()?,
                        _ => return Err(BAD),
                    };
                    self.text.push(ch);
                }
                // A control character must be escaped.
                _ => return Err(BAD),
            }
        }
    }

    /// `\uXXXX` after the `u`, with a surrogate pair's second half; a lone surrogate is
    /// U+FFFD.
    fn unicode(&mut self) -> Result<char, BodyError> {
        let hi = self.hex4()?;
        if !(0xd800..0xdc00).contains(&hi) {
            return Ok(char::from_u32(hi).unwrap_or('\u{fffd}'));
        }
        let pair = self.s.get(self.i..self.i + 2) == Some(b"\\u");
        if pair {
            let save = self.i;
            self.i += 2;
            let lo = self.hex4()?;
            if (0xdc00..0xe000).contains(&lo) {
                let c = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
                return Ok(char::from_u32(c).unwrap_or('\u{fffd}'));
            }
            self.i = save;
        }
        Ok('\u{fffd}')
    }

    fn object(&mut self, depth: usize) -> Result<(), BodyError> {
        self.eat(b'{')?;
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            self.string()?;
            let key = std::mem::take(&mut self.text);
            let len = self.enter(|p| p.push_str(&key));
            self.text = key;
            self.ws();
            self.eat(b':')?;
            self.ws();
            self.value(depth)?;
            self.path.truncate(len);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(BAD),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), BodyError> {
        self.eat(b'[')?;
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(());
        }
        let mut index = 0usize;
        loop {
            self.ws();
            let len = self.enter(|p| {
                use std::fmt::Write;
                let _ = write!(p, "{index}");
            });
            self.value(depth)?;
            self.path.truncate(len);
            index += 1;
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(BAD),
            }
        }
    }
}

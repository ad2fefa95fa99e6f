//! Lexing SecLang the way ModSecurity (and Apache before it) reads a configuration file.
//!
//! - One directive per *logical* line: a backslash at the end of a physical line (trailing
//!   spaces allowed) joins the next one, without the backslash and the line break; the next
//!   line's indentation is kept, as Apache does (action lists are trimmed later).
//! - A logical line whose first non-blank character is `#` is a comment. Continuation is
//!   applied first, as Apache's `ap_cfg_getline` does, so a comment ending in `\` swallows
//!   the next line.
//! - Arguments are separated by blanks. A double-quoted argument runs to the next unescaped
//!   `"`. Inside it `\"` is a quote and every other backslash is kept as written, `\\`
//!   included (ModSecurity v3's scanner hands the quoted text over verbatim; regexes in CRS
//!   rely on their backslashes surviving). A backslash only escapes for the purpose of finding
//!   the closing quote: an odd run of backslashes before `"` escapes it.
//!
//! Every byte of a lexed argument remembers where it came from ([`Word`]), so the parsers
//! that split arguments further (variables, actions, macros) still point into the file.

use std::ops::Range;

use portcullis_rules::{Diagnostic, Span};

/// Text cut from a source file, with the source offset of each of its bytes.
#[derive(Clone, Debug, Default)]
pub(crate) struct Word {
    pub(crate) text: String,
    /// `offs[i]` is the file offset of byte `i` of `text`; one more entry for the end.
    offs: Vec<u32>,
    file: u32,
}

impl Word {
    fn new(file: u32, end: u32) -> Word {
        Word {
            text: String::new(),
            offs: vec![end],
            file,
        }
    }

    /// A word for text found verbatim at `start` of a file (unit tests build words so).
    #[cfg(test)]
    pub(crate) fn verbatim(file: u32, text: &str, start: usize) -> Word {
        let start = u32::try_from(start).unwrap_or(u32::MAX);
        let offs = (0..=text.len())
            .map(|i| start.saturating_add(u32::try_from(i).unwrap_or(u32::MAX)))
            .collect();
        Word {
            text: text.to_string(),
            offs,
            file,
        }
    }

    fn push(&mut self, c: char, at: u32, next: u32) {
        self.text.push(c);
        self.offs.pop();
        // Every byte of a multi-byte character points at its start, so spans cut inside it
        // still start on a character boundary of the file.
        self.offs.extend(std::iter::repeat_n(at, c.len_utf8()));
        self.offs.push(next);
    }

    /// The span of the whole word.
    pub(crate) fn span(&self) -> Span {
        self.span_of(0..self.text.len())
    }

    /// The span of a byte range of the word's text.
    pub(crate) fn span_of(&self, range: Range<usize>) -> Span {
        let last = self.offs.last().copied().unwrap_or(0);
        let start = self.offs.get(range.start).copied().unwrap_or(last);
        let end = self.offs.get(range.end).copied().unwrap_or(last).max(start);
        Span::new(self.file, start as usize..end as usize)
    }

    /// The part of the word in `range` (clamped to character boundaries by the callers,
    /// who only cut at ASCII delimiters).
    pub(crate) fn slice(&self, range: Range<usize>) -> Word {
        let end = range.end.min(self.text.len());
        let start = range.start.min(end);
        Word {
            text: self.text.get(start..end).unwrap_or("").to_string(),
            offs: self
                .offs
                .get(start..=end)
                .map(<[u32]>::to_vec)
                .unwrap_or_else(|| vec![self.offs.last().copied().unwrap_or(0)]),
            file: self.file,
        }
    }

    /// The part of the word in `range` with `\<quote>` turned into `<quote>` (other
    /// backslashes kept), for single-quoted action values.
    pub(crate) fn unescape(&self, range: Range<usize>, quote: char) -> Word {
        let part = self.slice(range);
        let mut out = Word::new(self.file, part.offs.first().copied().unwrap_or(0));
        let mut chars = part.text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            let at = part.offs.get(i).copied().unwrap_or(0);
            if c == '\\' {
                if let Some(&(k, q)) = chars.peek() {
                    if q == quote {
                        chars.next();
                        out.push(q, at, part.offs.get(k + 1).copied().unwrap_or(at));
                        continue;
                    }
                }
            }
            out.push(
                c,
                at,
                part.offs.get(i + c.len_utf8()).copied().unwrap_or(at),
            );
        }
        out
    }

    /// The word without leading and trailing blanks.
    pub(crate) fn trim(&self) -> Word {
        let start = self.text.len() - self.text.trim_start().len();
        let end = self.text.trim_end().len().max(start);
        self.slice(start..end)
    }
}

/// One argument of a directive.
#[derive(Clone, Debug)]
pub(crate) struct Arg {
    /// The text, quotes removed and `\"` unescaped.
    pub(crate) word: Word,
    /// The span of the argument as written, quotes included.
    pub(crate) span: Span,
}

/// One directive: its arguments, the first being its name.
#[derive(Clone, Debug)]
pub(crate) struct Line {
    pub(crate) args: Vec<Arg>,
    /// From the start of the name to the end of the last argument.
    pub(crate) span: Span,
}

/// Splits a file into directives, reporting lexical errors (and skipping their lines).
pub(crate) fn lines(
    file: u32,
    text: &str,
    max_line_bytes: usize,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Line> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < text.len() {
        let (logical, next) = logical_line(text, pos, max_line_bytes);
        let line_start = pos;
        pos = next;
        let chars = match logical {
            Logical::Chars(chars) => chars,
            Logical::TooLong(len) => {
                let end = text
                    .get(line_start..)
                    .and_then(|t| t.find(['\n', '\r']))
                    .map_or(text.len(), |i| line_start + i);
                diags.push(
                    Diagnostic::error(
                        Span::new(file, line_start..end),
                        format!(
                            "directive is {len} bytes long, more than the limit of {max_line_bytes}"
                        ),
                    )
                    .hint(
                        "raise `LoadOptions::max_line_bytes` if this line is meant to be this long",
                    ),
                );
                continue;
            }
            Logical::DanglingContinuation(at) => {
                diags.push(
                    Diagnostic::error(
                        Span::new(file, at..at + 1),
                        "line continuation `\\` at the end of the file",
                    )
                    .hint("remove the trailing backslash or add the rest of the directive"),
                );
                continue;
            }
        };
        let first = chars.iter().position(|(c, _)| !c.is_whitespace());
        let Some(first) = first else { continue };
        if chars.get(first).is_some_and(|(c, _)| *c == '#') {
            continue;
        }
        if let Some(line) = split_args(file, chars.get(first..).unwrap_or(&[]), diags) {
            out.push(line);
        }
    }
    out
}

enum Logical {
    /// Characters with their offsets; the offset after the last one is the second field's.
    Chars(Vec<(char, u32)>),
    TooLong(usize),
    /// A continuation backslash at this offset with nothing after it.
    DanglingContinuation(usize),
}

/// The logical line starting at `pos`, and where the next one starts.
fn logical_line(text: &str, mut pos: usize, max: usize) -> (Logical, usize) {
    let mut chars: Vec<(char, u32)> = Vec::new();
    let mut len = 0usize;
    loop {
        let rest = text.get(pos..).unwrap_or("");
        let (line, next) = match rest.find('\n') {
            Some(i) => (rest.get(..i).unwrap_or(""), pos + i + 1),
            None => (rest, text.len()),
        };
        let line = line.strip_suffix('\r').unwrap_or(line);
        let trimmed = line.trim_end_matches([' ', '\t']);
        let continued = trimmed.ends_with('\\') && !ends_with_escaped_backslash(trimmed);
        let content = if continued {
            trimmed.get(..trimmed.len() - 1).unwrap_or("")
        } else {
            line
        };
        len += content.len();
        if len <= max {
            chars.extend(
                content
                    .char_indices()
                    .map(|(i, c)| (c, u32::try_from(pos + i).unwrap_or(u32::MAX))),
            );
        }
        if continued && next >= text.len() {
            return (Logical::DanglingContinuation(pos + trimmed.len() - 1), next);
        }
        pos = next;
        if !continued {
            break;
        }
    }
    if len > max {
        return (Logical::TooLong(len), pos);
    }
    (Logical::Chars(chars), pos)
}

/// Whether a line ends in an even run of backslashes (`\\`): an escaped backslash, the end of
/// a regex say, not a continuation. Only an odd run continues the line, so a pattern ending
/// in `\\` is not silently joined with the directive below it.
fn ends_with_escaped_backslash(line: &str) -> bool {
    let run = line.bytes().rev().take_while(|&b| b == b'\\').count();
    run % 2 == 0
}

fn end_of(chars: &[(char, u32)], i: usize) -> u32 {
    chars
        .get(i)
        .map(|(c, at)| at.saturating_add(u32::try_from(c.len_utf8()).unwrap_or(1)))
        .unwrap_or(0)
}

fn span(file: u32, start: u32, end: u32) -> Span {
    Span::new(file, start as usize..end.max(start) as usize)
}

/// Splits a logical line (starting at its first non-blank character) into arguments.
fn split_args(file: u32, chars: &[(char, u32)], diags: &mut Vec<Diagnostic>) -> Option<Line> {
    let mut args = Vec::new();
    let mut i = 0;
    let n = chars.len();
    while i < n {
        while chars.get(i).is_some_and(|(c, _)| c.is_whitespace()) {
            i += 1;
        }
        let Some(&(c, start)) = chars.get(i) else {
            break;
        };
        if c == '"' {
            let mut word = Word::new(file, start.saturating_add(1));
            let mut j = i + 1;
            let mut closed = false;
            while let Some(&(c, at)) = chars.get(j) {
                let next = chars.get(j + 1).copied();
                match (c, next) {
                    ('\\', Some(('"', _))) => {
                        word.push('"', at, end_of(chars, j + 1));
                        j += 2;
                    }
                    ('\\', Some(('\\', at2))) => {
                        word.push('\\', at, at2);
                        word.push('\\', at2, end_of(chars, j + 1));
                        j += 2;
                    }
                    ('"', _) => {
                        closed = true;
                        j += 1;
                        break;
                    }
                    _ => {
                        word.push(c, at, end_of(chars, j));
                        j += 1;
                    }
                }
            }
            let end = end_of(chars, j.saturating_sub(1));
            if !closed {
                diags.push(
                    Diagnostic::error(span(file, start, end), "unterminated quoted argument")
                        .hint("close it with `\"`; a quote inside it is written `\\\"`"),
                );
                return None;
            }
            if let Some(&(c, at)) = chars.get(j) {
                if !c.is_whitespace() {
                    diags.push(
                        Diagnostic::error(
                            span(file, at, end_of(chars, j)),
                            "expected a blank after the closing quote",
                        )
                        .hint("arguments are separated by blanks; a quote inside a quoted argument is written `\\\"`"),
                    );
                    return None;
                }
            }
            args.push(Arg {
                word,
                span: span(file, start, end),
            });
            i = j;
        } else {
            let mut word = Word::new(file, start);
            let mut j = i;
            while let Some(&(c, at)) = chars.get(j) {
                if c.is_whitespace() {
                    break;
                }
                word.push(c, at, end_of(chars, j));
                j += 1;
            }
            args.push(Arg {
                span: span(file, start, end_of(chars, j.saturating_sub(1))),
                word,
            });
            i = j;
        }
    }
    let first = args.first()?.span;
    let last = args.last()?.span;
    Some(Line {
        span: Span {
            file,
            start: first.start,
            end: last.end,
        },
        args,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(text: &str) -> (Vec<Vec<String>>, usize) {
        let mut diags = Vec::new();
        let lines = lines(0, text, 1 << 20, &mut diags);
        (
            lines
                .into_iter()
                .map(|l| l.args.into_iter().map(|a| a.word.text).collect())
                .collect(),
            diags.len(),
        )
    }

    #[test]
    fn continuation_comments_and_quotes() {
        let (lines, errs) =
            lex("# c \\\n still comment\nSecRule ARGS \\\n  \"@rx a\\\"b\\\\c\\d\" \"id:1\"\n");
        assert_eq!(errs, 0);
        assert_eq!(
            lines,
            vec![vec!["SecRule", "ARGS", "@rx a\"b\\\\c\\d", "id:1"]]
        );
    }

    #[test]
    fn errors() {
        assert_eq!(lex("SecRule \"abc\n").1, 1);
        assert_eq!(lex("SecRule \"abc\"x\n").1, 1);
        assert_eq!(lex("SecRule a \\").1, 1);
    }

    #[test]
    fn spans_follow_escapes() {
        let mut diags = Vec::new();
        let text = "X \"a\\\"bc\"";
        let l = lines(0, text, 100, &mut diags);
        let w = &l[0].args[1].word;
        assert_eq!(w.text, "a\"bc");
        let s = w.span_of(2..4);
        assert_eq!(&text[s.range()], "bc");
    }
}

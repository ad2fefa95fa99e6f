//! SecLang operators (`@rx`, `@pm`, `@eq`…) as engine predicates on a term.

use portcullis_rules::{
    CmpOp, Detector, Expr, List, ListId, ListItems, ListKind, ListOp, PredKind, Span, StrOp, Term,
};

use super::{Lowering, Unsupported};
use crate::operator::{Operator, OperatorKind};

/// `e`, or `not e` under a negated operator (`!@…`).
pub(super) fn negated(e: Expr, op: &Operator) -> Expr {
    if op.negated {
        Expr::Not(Box::new(e))
    } else {
        e
    }
}

impl Lowering<'_> {
    /// The predicate an operator makes of a term.
    pub(super) fn operator(
        &mut self,
        term: Term,
        op: &Operator,
        span: Span,
    ) -> Result<PredKind, Unsupported> {
        let text = |s: &str| s.to_string();
        Ok(match &op.kind {
            OperatorKind::Rx(m) => PredKind::Str {
                lhs: term,
                op: StrOp::Matches,
                pattern: pcre_pattern(&self.expand(m)?),
            },
            OperatorKind::Pm(phrases) => self.phrases(term, phrases.clone(), span),
            OperatorKind::PmFromFile(files) => {
                let phrases = files.iter().flat_map(|f| f.lines.iter().cloned()).collect();
                self.phrases(term, phrases, span)
            }
            OperatorKind::Streq(m) => PredKind::Compare {
                lhs: term,
                op: CmpOp::Eq,
                rhs: Term::Str(self.expand(m)?),
            },
            OperatorKind::Within(m) => PredKind::Str {
                lhs: term,
                op: StrOp::Within,
                pattern: self.expand(m)?,
            },
            OperatorKind::Contains(m) => PredKind::Str {
                lhs: term,
                op: StrOp::Contains,
                pattern: self.expand(m)?,
            },
            OperatorKind::BeginsWith(m) => PredKind::Str {
                lhs: term,
                op: StrOp::StartsWith,
                pattern: self.expand(m)?,
            },
            OperatorKind::EndsWith(m) => PredKind::Str {
                lhs: term,
                op: StrOp::EndsWith,
                pattern: self.expand(m)?,
            },
            OperatorKind::ContainsWord(m) => PredKind::Str {
                lhs: term,
                op: StrOp::Matches,
                pattern: format!(
                    r"(?:^|\W){}(?:\W|$)",
                    regex_syntax::escape(&self.expand(m)?)
                ),
            },
            OperatorKind::DetectSqli => {
                PredKind::Test(Term::Detect(Detector::Sqli, Box::new(term)))
            }
            OperatorKind::DetectXss => PredKind::Test(Term::Detect(Detector::Xss, Box::new(term))),
            OperatorKind::ValidateByteRange(ranges) => PredKind::Str {
                lhs: term,
                op: StrOp::Matches,
                pattern: byte_range_violation(ranges)?,
            },
            OperatorKind::ValidateUrlEncoding => PredKind::Str {
                lhs: term,
                op: StrOp::Matches,
                pattern: text("%(?:[^0-9A-Fa-f]|[0-9A-Fa-f](?:[^0-9A-Fa-f]|$)|$)"),
            },
            // Values reach rules as text, invalid UTF-8 replaced by U+FFFD: a replacement
            // character is the trace of a byte that was not UTF-8.
            OperatorKind::ValidateUtf8Encoding => PredKind::Str {
                lhs: term,
                op: StrOp::Contains,
                pattern: text("\u{FFFD}"),
            },
            OperatorKind::Eq(_)
            | OperatorKind::Ge(_)
            | OperatorKind::Gt(_)
            | OperatorKind::Lt(_)
            | OperatorKind::Le(_) => {
                let Term::Len(_) = term else {
                    return Err(Unsupported("a number compared with a field's text".into()));
                };
                let Some((cmp, n)) = self.comparison(op)? else {
                    return Err(Unsupported("this operator".into()));
                };
                PredKind::Compare {
                    lhs: term,
                    op: cmp,
                    rhs: Term::Int(n),
                }
            }
            OperatorKind::UnconditionalMatch => PredKind::Test(Term::Bool(true)),
            OperatorKind::NoMatch => PredKind::Test(Term::Bool(false)),
            _ => return Err(Unsupported("this operator".into())),
        })
    }

    /// `@eq @ge @gt @lt @le`: the comparison and the load-time number it compares with;
    /// `None` for the other operators.
    pub(super) fn comparison(&self, op: &Operator) -> Result<Option<(CmpOp, i64)>, Unsupported> {
        let (cmp, m) = match &op.kind {
            OperatorKind::Eq(m) => (CmpOp::Eq, m),
            OperatorKind::Ge(m) => (CmpOp::Ge, m),
            OperatorKind::Gt(m) => (CmpOp::Gt, m),
            OperatorKind::Lt(m) => (CmpOp::Lt, m),
            OperatorKind::Le(m) => (CmpOp::Le, m),
            _ => return Ok(None),
        };
        let n = self
            .expand(m)?
            .trim()
            .parse()
            .map_err(|_| Unsupported("a comparison with what is not a number".into()))?;
        Ok(Some((cmp, n)))
    }

    /// `@pm`: any phrase, ASCII case-insensitively, as a pattern list.
    fn phrases(&mut self, term: Term, phrases: Vec<String>, span: Span) -> PredKind {
        let id = ListId(u32::try_from(self.lists.len()).unwrap_or(u32::MAX));
        self.lists.push(List {
            name: format!(
                "@pm {}",
                self.set
                    .sources
                    .slice(span)
                    .chars()
                    .take(60)
                    .collect::<String>()
            ),
            kind: ListKind::Pattern,
            case_insensitive: true,
            items: ListItems::Str(phrases),
            span,
            anonymous: true,
        });
        PredKind::List {
            lhs: term,
            op: ListOp::ContainsAny,
            list: id,
        }
    }
}

/// `@validateByteRange`: a regex matching a character with a byte outside the ranges.
/// Values are text: a non-ASCII character is all bytes 0x80-0xFF, so the high half must be
/// wholly in the ranges or wholly out.
fn byte_range_violation(ranges: &[(u8, u8)]) -> Result<String, Unsupported> {
    let inside = |b: u8| ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&b));
    let high_all = (0x80..=0xffu8).all(inside);
    let high_none = !(0x80..=0xffu8).any(inside);
    if !high_all && !high_none {
        return Err(Unsupported(
            "@validateByteRange splitting the bytes 0x80-0xFF".into(),
        ));
    }
    let mut class = String::from("[^");
    for &(lo, hi) in ranges.iter().filter(|&&(lo, _)| lo < 0x80) {
        let hi = hi.min(0x7f);
        class.push_str(&format!("\\x{{{lo:02x}}}-\\x{{{hi:02x}}}"));
    }
    if high_all {
        class.push_str("\\x{80}-\\x{10ffff}");
    }
    class.push(']');
    Ok(class)
}

/// `@rx`'s pattern as ModSecurity v3 compiles it: PCRE2 with `DOTALL` and `MULTILINE`
/// (`(?sm)`) and without UTF (`(?-u)`): it matches bytes, so `\x{e2}\x80[\x98\x99]`
/// is `’` or `‘` in UTF-8, `[^a]` and `.` take one byte, and `\w`, `\s`, `\b` and
/// `(?i)` are ASCII's.
///
/// Two spellings are rewritten for the regex parser, which reads bytes only as `\xHH`:
/// `\x{HH}` becomes `\xHH`, and a non-ASCII character inside a class its UTF-8 bytes
/// (PCRE without UTF reads `[é]` as the two bytes).
pub(crate) fn pcre_pattern(pattern: &str) -> String {
    let mut out = String::from("(?sm-u)");
    let mut chars = pattern.chars().peekable();
    let mut class = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('x') if chars.peek() == Some(&'{') => {
                    let braced: String = chars.clone().skip(1).take_while(|&h| h != '}').collect();
                    match u8::from_str_radix(&braced, 16) {
                        Ok(byte) if !braced.is_empty() && braced.len() <= 4 => {
                            for _ in 0..braced.len() + 2 {
                                chars.next();
                            }
                            out.push_str(&format!("\\x{byte:02x}"));
                        }
                        _ => out.push_str("\\x"),
                    }
                }
                Some(e) => {
                    out.push('\\');
                    out.push(e);
                }
                None => out.push('\\'),
            },
            '[' => {
                class += 1;
                out.push(c);
                // A `]` first in a class is a literal.
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push(']');
                    chars.next();
                }
            }
            ']' if class > 0 => {
                class -= 1;
                out.push(c);
            }
            c if class > 0 && !c.is_ascii() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::pcre_pattern;

    #[test]
    fn rx_patterns_read_bytes_as_pcre_without_utf_does() {
        assert_eq!(
            pcre_pattern(r"a\x{e2}\x80[\x98\x{99}]"),
            r"(?sm-u)a\xe2\x80[\x98\x99]"
        );
        assert_eq!(
            pcre_pattern(r"[\x7f-\x{ff}]\\x{41}"),
            r"(?sm-u)[\x7f-\xff]\\x{41}"
        );
        assert_eq!(pcre_pattern("[é]é"), r"(?sm-u)[\xc3\xa9]é");
        assert_eq!(
            pcre_pattern(r"[]é][^]é]"),
            r"(?sm-u)[]\xc3\xa9][^]\xc3\xa9]"
        );
        assert_eq!(pcre_pattern(r"\x{zz}\x{100}"), r"(?sm-u)\x{zz}\x{100}");
    }
}

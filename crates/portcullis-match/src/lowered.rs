//! Regexes on ASCII-lowercased text, rewritten to run on the text itself: `lower(x) matches
//! R` is `x matches R'`, so the compiler scans `x` once instead of building a lowered copy.
//!
//! Lowercasing maps `A`–`Z` to `a`–`z` and nothing else, so `R'` is `R` where every
//! ASCII lowercase letter also accepts its capital, and every ASCII capital (which a
//! lowered text never holds) accepts nothing.

use crate::scan::{lower_to_literal, parse_regex};
use crate::PatternKind;
use regex_syntax::hir::{
    Capture, Class, ClassBytes, ClassBytesRange, ClassUnicode, ClassUnicodeRange, Hir, HirKind,
    Repetition,
};

/// A pattern `(kind, text, case_insensitive)`, as [`ScannerBuilder::add`] takes it, that
/// matches a text exactly where the regex `pattern` (case-sensitive, parsed as the scanner
/// parses it) matches the text's ASCII-lowercased form. A literal regex (`admin`,
/// `^/api/`) becomes the ASCII case-insensitive literal, which the literal automaton
/// serves; any other the rewritten regex. `None` when `pattern` does not parse (the
/// scanner then reports it) or when the rewritten regex would be much longer than it (a
/// Unicode class such as `\w` prints as hundreds of ranges, and must not push a rule past
/// the pattern limits): the caller then matches the lowered text as written.
///
/// [`ScannerBuilder::add`]: crate::ScannerBuilder::add
#[must_use]
pub fn regex_on_lowered(pattern: &str) -> Option<(PatternKind, String, bool)> {
    let hir = parse_regex(pattern, false).ok()?;
    match lower_to_literal(&hir) {
        Some((kind, text)) if !text.bytes().any(|b| b.is_ascii_uppercase()) => {
            Some((kind, text, true))
        }
        _ => {
            let rewritten = fold(&hir).to_string();
            (rewritten.len() <= pattern.len().saturating_mul(4).saturating_add(64)).then_some((
                PatternKind::Regex,
                rewritten,
                false,
            ))
        }
    }
}

fn fold(hir: &Hir) -> Hir {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => hir.clone(),
        HirKind::Literal(lit) => fold_literal(&lit.0),
        HirKind::Class(Class::Unicode(c)) => Hir::class(Class::Unicode(fold_unicode(c))),
        HirKind::Class(Class::Bytes(c)) => Hir::class(Class::Bytes(fold_bytes(c))),
        HirKind::Repetition(r) => Hir::repetition(Repetition {
            sub: Box::new(fold(&r.sub)),
            ..r.clone()
        }),
        HirKind::Capture(c) => Hir::capture(Capture {
            sub: Box::new(fold(&c.sub)),
            ..c.clone()
        }),
        HirKind::Concat(subs) => Hir::concat(subs.iter().map(fold).collect()),
        HirKind::Alternation(subs) => Hir::alternation(subs.iter().map(fold).collect()),
    }
}

/// A literal: runs of bytes other than ASCII letters stay literal (a letter is ASCII, so
/// no run splits a UTF-8 sequence), a lowercase letter becomes `[xX]`, a capital fails.
fn fold_literal(bytes: &[u8]) -> Hir {
    if bytes.iter().any(u8::is_ascii_uppercase) {
        return Hir::fail();
    }
    let mut parts = Vec::new();
    let mut run_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b.is_ascii_lowercase() {
            if let Some(run) = bytes.get(run_start..i).filter(|r| !r.is_empty()) {
                parts.push(Hir::literal(run));
            }
            let (c, upper) = (char::from(b), char::from(b.to_ascii_uppercase()));
            parts.push(Hir::class(Class::Unicode(ClassUnicode::new([
                ClassUnicodeRange::new(c, c),
                ClassUnicodeRange::new(upper, upper),
            ]))));
            run_start = i + 1;
        }
    }
    if let Some(run) = bytes.get(run_start..).filter(|r| !r.is_empty()) {
        parts.push(Hir::literal(run));
    }
    Hir::concat(parts)
}

/// `c` without `A`–`Z`, plus the capital of each `a`–`z` it holds.
fn fold_unicode(c: &ClassUnicode) -> ClassUnicode {
    let mut out = c.clone();
    out.difference(&ClassUnicode::new([ClassUnicodeRange::new('A', 'Z')]));
    let mut lower = c.clone();
    lower.intersect(&ClassUnicode::new([ClassUnicodeRange::new('a', 'z')]));
    let shift = |ch: char| char::from((ch as u8).to_ascii_uppercase());
    out.union(&ClassUnicode::new(lower.iter().map(|r| {
        ClassUnicodeRange::new(shift(r.start()), shift(r.end()))
    })));
    out
}

/// [`fold_unicode`] for a byte class.
fn fold_bytes(c: &ClassBytes) -> ClassBytes {
    let mut out = c.clone();
    out.difference(&ClassBytes::new([ClassBytesRange::new(b'A', b'Z')]));
    let mut lower = c.clone();
    lower.intersect(&ClassBytes::new([ClassBytesRange::new(b'a', b'z')]));
    out.union(&ClassBytes::new(lower.iter().map(|r| {
        ClassBytesRange::new(r.start().to_ascii_uppercase(), r.end().to_ascii_uppercase())
    })));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(pattern: &str, texts: &[&str]) {
        let (kind, text, ci) = regex_on_lowered(pattern).expect("rewritten");
        let on_lower = regex_automata::meta::Regex::new(pattern).expect("compiles");
        let mut rewritten = crate::ScannerBuilder::new();
        rewritten.add(crate::PatternId::new(0), kind, &text, ci);
        let rewritten = rewritten.build().expect("rewritten compiles");
        let mut scratch = rewritten.scratch();
        let mut out = rewritten.match_set();
        for t in texts {
            out.clear();
            rewritten.scan(t, &mut scratch, &mut out);
            assert_eq!(
                on_lower.is_match(&t.to_ascii_lowercase()),
                !out.is_empty(),
                "{pattern} -> {kind:?} {text} {ci} on {t:?}"
            );
        }
    }

    #[test]
    fn rewritten_regexes_match_as_on_the_lowered_text() {
        let texts = [
            "",
            "/.git/x",
            "/.GIT/x",
            "/.Env",
            "/static/.ENV",
            "Admin",
            "aDMIN",
            "é",
            "É",
            "x1_Y",
            "ZZZ",
            "/wp-admin",
            "/WP-ADMIN/",
            "Kelvin \u{212A}",
        ];
        for p in [
            r"\.(?:git|env)(?:[/.]|$)",
            "admin",
            "Admin",
            "[A-Z]+",
            "[a-z]+$",
            "^[^a-z]*$",
            "[^A-Z]",
            r"\bk",
            "(?i)admin",
            "(?-u:[a-c])",
            "é|x(?P<n>y)?",
            "[a-fK-Q]{2,}",
            "\u{212A}",
        ] {
            same(p, &texts);
        }
        assert_eq!(regex_on_lowered("("), None);
        // `\w` would print as some 700 ranges: left to match the lowered text.
        assert_eq!(regex_on_lowered(r"\w+"), None);
        assert_eq!(
            regex_on_lowered("^/wp-admin"),
            Some((PatternKind::StartsWith, "/wp-admin".into(), true))
        );
        assert_eq!(
            regex_on_lowered("Admin").map(|p| p.0),
            Some(PatternKind::Regex)
        );
    }
}

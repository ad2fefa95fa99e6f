//! Regexes on ASCII-lowercased text, rewritten to run on the text itself: `lower(x) matches
//! R` is `x matches R'`, so the compiler scans `x` once instead of building a lowered copy.
//!
//! Lowercasing maps `A`–`Z` to `a`–`z` and nothing else, so `R'` is `R` where every
//! ASCII lowercase letter also accepts its capital, and every ASCII capital (which a
//! lowered text never holds) accepts nothing.

use regex_syntax::hir::{
    Capture, Class, ClassBytes, ClassBytesRange, ClassUnicode, ClassUnicodeRange, Hir, HirKind,
    Repetition,
};

/// A regex that matches a text exactly where `pattern` (case-sensitive, parsed as the
/// scanner parses it) matches the text's ASCII-lowercased form; `None` when `pattern` does
/// not parse (the scanner then reports it).
#[must_use]
pub fn regex_on_lowered(pattern: &str) -> Option<String> {
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(pattern)
        .ok()?;
    Some(fold(&hir).to_string())
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
        let lowered = regex_on_lowered(pattern).expect("parses");
        let on_lower = regex_automata::meta::Regex::new(pattern).expect("compiles");
        let on_raw = regex_automata::meta::Regex::new(&lowered).expect("rewritten compiles");
        for t in texts {
            assert_eq!(
                on_lower.is_match(&t.to_ascii_lowercase()),
                on_raw.is_match(t),
                "{pattern} -> {lowered} on {t:?}"
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
            r"\w+",
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
    }
}

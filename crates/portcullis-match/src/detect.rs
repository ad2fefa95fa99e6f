//! Injection detectors: libinjection's tokenising SQL injection and XSS tests.
//!
//! A regex sees characters; libinjection sees tokens. Its SQL detector reads a value as
//! SQL in each quoting context it could be pasted into (bare, after `'`, after `"`),
//! folds the tokens into a short fingerprint (`s&sos` for `1' OR '1'='1`) and looks the
//! fingerprint up in a list learnt from real attacks; its XSS detector runs an HTML5
//! tokeniser in each context (text, attribute values) and flags tags, attributes and URL
//! schemes that run script. Both are what ModSecurity's `@detectSQLi` and `@detectXSS`
//! run, so CRS rules 942100 and 941100 mean here what they mean there.

/// Which detector a rule runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Detector {
    /// `detect_sqli(x)`: SQL injection (libinjection's `libinjection_sqli`).
    Sqli,
    /// `detect_xss(x)`: cross-site scripting (libinjection's `libinjection_xss`).
    Xss,
}

impl Detector {
    /// Both detectors.
    pub const ALL: [Detector; 2] = [Detector::Sqli, Detector::Xss];

    /// The function's name in rules.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Detector::Sqli => "detect_sqli",
            Detector::Xss => "detect_xss",
        }
    }

    /// The detector a rule names.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Detector> {
        Detector::ALL.into_iter().find(|d| d.name() == name)
    }

    /// Whether `value` is an injection. Empty values never are.
    ///
    /// A detector costs microseconds a value, and the same values come again and again
    /// (user agents, referers, common arguments): each thread remembers the verdicts on
    /// recent short values, compared byte for byte, so a repeated value costs a hash.
    #[must_use]
    pub fn detect(self, value: &[u8]) -> bool {
        if value.is_empty() || plain_word(value) || plain_number(value) {
            return false;
        }
        if self == Detector::Xss && no_tag_or_value(value) {
            return false;
        }
        if value.len() > cache::MAX_LEN {
            return self.run(value);
        }
        cache::CACHE
            .try_with(|c| {
                let mut c = c.borrow_mut();
                match c.get(self, value) {
                    Some(verdict) => verdict,
                    None => {
                        let verdict = self.run(value);
                        c.put(self, value, verdict);
                        verdict
                    }
                }
            })
            .unwrap_or_else(|_| self.run(value))
    }

    /// What the SQL detector read `value` as when it flagged it: libinjection's
    /// fingerprint (`s&sos`), which ModSecurity's `@detectSQLi` puts in `TX:0`. `None`
    /// for the XSS detector and for a value not flagged.
    #[must_use]
    pub fn fingerprint(self, value: &[u8]) -> Option<String> {
        if self != Detector::Sqli {
            return None;
        }
        let found = libinjectionrs::detect_sqli(value);
        if !found.is_injection() {
            return None;
        }
        found.fingerprint.map(|f| f.as_str().to_string())
    }

    pub(crate) fn run(self, value: &[u8]) -> bool {
        match self {
            // `detect_sqli` would fold the tokens once more after the verdict, for a
            // fingerprint we do not read: half its cost.
            Detector::Sqli => {
                libinjectionrs::SqliState::new(value, libinjectionrs::SqliFlags::FLAG_NONE).detect()
            }
            Detector::Xss => libinjectionrs::detect_xss(value).is_injection(),
        }
    }
}

/// Whether `value` is one plain word: an ASCII letter, then letters, digits and `_`. Most
/// argument values, names and cookies are; neither detector ever flags one, so they are
/// answered without running either (a third of CRS's per-request cost at paranoia level
/// 1 was these). Why, reading libinjection:
///
/// - SQL: a letter starts a word (the letters that may open a string, `b e n q u x`, fall
///   back to a word when no `'` follows), and a word runs to the first delimiter, of which
///   a plain word has none: one token, typed by the keyword table (`k`, `U`, `E`, `f`,
///   `n`…; never `X`, which only the tokeniser's evil characters make). The only
///   one-token fingerprint on the blacklist is `X`.
/// - XSS: in the text context a word is text; in the attribute contexts it is one name
///   or one value, and a verdict needs a tag (`<`), a value after a name (`=`), a URL
///   (`:`) or a comment, none of which a plain word holds.
///
/// `tests::plain_words_are_never_flagged` checks it against the library on every SQL
/// keyword and every tag, attribute and protocol name the XSS detector knows, and on
/// random words.
fn plain_word(value: &[u8]) -> bool {
    value.first().is_some_and(u8::is_ascii_alphabetic)
        && value
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Whether `value` holds neither `<` nor `=`: then the XSS detector never flags it (a user
/// agent, a path, most argument values). Reading libinjection's HTML5 tokeniser: a tag, a
/// comment or a doctype, three of its verdicts, are tokens only the state after a `<`
/// reaches; the other verdicts are an attribute value after a blacklisted name, and a
/// value follows a name only across a `=` (the one value with no name before it, which
/// the attribute contexts start with, is never one). `tests::xss_needs_a_tag_or_a_value`
/// checks it against the library on attribute-laden text.
fn no_tag_or_value(value: &[u8]) -> bool {
    !value.iter().any(|&b| b == b'<' || b == b'=')
}

/// Whether `value` is a plain decimal number: digits, and at most one `.` between digits.
/// SQL reads it as one number token (`1`, not on the blacklist alone); XSS as text or one
/// attribute value.
fn plain_number(value: &[u8]) -> bool {
    let (int, frac) = match value.iter().position(|&b| b == b'.') {
        Some(i) => (&value[..i], Some(&value[i + 1..])),
        None => (value, None),
    };
    let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    digits(int) && frac.is_none_or(digits)
}

/// Recent verdicts per thread: a two-way set-associative table indexed by a seeded hash
/// (the seed random per process, so no client can aim values at one set), each entry
/// holding the whole value it answers for.
mod cache {
    use std::cell::RefCell;

    use super::Detector;

    /// Longest value remembered.
    pub(super) const MAX_LEN: usize = 256;
    /// 4,096 slots (about 1 MiB per thread): room for a JSON API's hundreds of argument
    /// names and values across requests; at 512, CRS's request mix missed 6 times as often.
    const SLOTS: usize = 4096;

    struct Entry {
        len: u16,
        detector: u8,
        verdict: bool,
        bytes: [u8; MAX_LEN],
    }

    pub(super) struct Cache {
        seed: u64,
        entries: Box<[Entry]>,
    }

    thread_local! {
        pub(super) static CACHE: RefCell<Cache> = RefCell::new(Cache::new());
    }

    impl Cache {
        fn new() -> Cache {
            Cache {
                seed: crate::quickhash::seed(),
                entries: (0..SLOTS)
                    .map(|_| Entry {
                        len: 0,
                        // No detector: an empty slot matches nothing.
                        detector: u8::MAX,
                        verdict: false,
                        bytes: [0; MAX_LEN],
                    })
                    .collect(),
            }
        }

        /// The first of the two entries value `value` may be in.
        fn set(&self, d: Detector, value: &[u8]) -> usize {
            let h = crate::quickhash::hash(self.seed ^ d as u64, value);
            (h % (SLOTS / 2) as u64) as usize * 2
        }

        fn holds(&self, i: usize, d: Detector, value: &[u8]) -> Option<bool> {
            let e = self.entries.get(i)?;
            (e.detector == d as u8
                && usize::from(e.len) == value.len()
                && e.bytes.get(..value.len()) == Some(value))
            .then_some(e.verdict)
        }

        /// The verdict remembered for `value`. Each value has two entries it may be in,
        /// the first the more recently used: two values both recurring no longer evict each
        /// other (with one entry, CRS's JSON mix ran libinjection half as often again).
        pub(super) fn get(&mut self, d: Detector, value: &[u8]) -> Option<bool> {
            let i = self.set(d, value);
            if let Some(v) = self.holds(i, d, value) {
                return Some(v);
            }
            let v = self.holds(i + 1, d, value)?;
            self.entries.swap(i, i + 1);
            Some(v)
        }

        /// Remembers a verdict in its set's first entry; the one there moves to the second.
        pub(super) fn put(&mut self, d: Detector, value: &[u8], verdict: bool) {
            let i = self.set(d, value);
            let Ok(len) = u16::try_from(value.len()) else {
                return;
            };
            if i + 1 < self.entries.len() {
                self.entries.swap(i, i + 1);
            }
            let Some(e) = self.entries.get_mut(i) else {
                return;
            };
            let Some(dst) = e.bytes.get_mut(..value.len()) else {
                return;
            };
            dst.copy_from_slice(value);
            e.len = len;
            e.detector = d as u8;
            e.verdict = verdict;
        }
    }
}

impl std::fmt::Display for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::{no_tag_or_value, Detector};

    /// Cases from libinjection's own test files and CRS's regression tests for 942100 and
    /// 941100, with the benign look-alikes the starter pack must let through.
    #[test]
    fn detects_what_libinjection_detects() {
        let sqli = [
            "1' OR '1'='1",
            "1234 OR 1=1",
            "-1839' or '1'='1",
            "1 UNION SELECT password FROM users--",
            "1; DROP TABLE users",
            "admin'--",
            "1' AND sleep(5)#",
        ];
        for s in sqli {
            assert!(Detector::Sqli.detect(s.as_bytes()), "{s:?}");
        }
        let xss = [
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "<svg onload=alert(1)>",
            "\"><script>alert(1)</script>",
        ];
        for s in xss {
            assert!(Detector::Xss.detect(s.as_bytes()), "{s:?}");
        }
        let benign = [
            "",
            "O'Brien",
            "I love <3 cats",
            "Select your size",
            "rock & roll",
            "hello world",
            "john.smith@example.com",
            "2024-01-01",
            "/static/app.js",
        ];
        for s in benign {
            assert!(!Detector::Sqli.detect(s.as_bytes()), "sqli {s:?}");
            assert!(!Detector::Xss.detect(s.as_bytes()), "xss {s:?}");
        }
    }

    /// The cache answers what the detector answers, for repeated and colliding values.
    #[test]
    fn remembered_verdicts_are_the_detectors() {
        let values: Vec<String> = (0..3000)
            .map(|i| match i % 3 {
                0 => format!("{i}' OR '1'='1"),
                1 => format!("<img src=x onerror=alert({i})>"),
                _ => format!("Mozilla/5.0 build {i}"),
            })
            .collect();
        for _ in 0..2 {
            for v in &values {
                for d in Detector::ALL {
                    assert_eq!(d.detect(v.as_bytes()), d.run(v.as_bytes()), "{d} {v:?}");
                }
            }
        }
        let long = "1' OR '1'='1 ".repeat(40);
        assert!(Detector::Sqli.detect(long.as_bytes()));
    }

    /// What `plain_word` lets the detectors skip, the library never flags.
    #[test]
    fn plain_words_are_never_flagged() {
        use super::plain_word;
        let mut words: Vec<String> = libinjectionrs::sqli::sqli_data::SQL_KEYWORDS
            .iter()
            .map(|k| k.word.to_string())
            .filter(|w| plain_word(w.as_bytes()))
            .collect();
        assert!(words.len() > 500, "the keyword table: {}", words.len());
        // The XSS detector's tags, attributes (events and URL-bearing ones) and protocols.
        words.extend(
            [
                "script",
                "iframe",
                "svg",
                "xss",
                "style",
                "object",
                "embed",
                "applet",
                "meta",
                "link",
                "base",
                "frameset",
                "frame",
                "form",
                "isindex",
                "xml",
                "import",
                "entity",
                "doctype",
                "onload",
                "onerror",
                "onclick",
                "onmouseover",
                "onfocus",
                "onbegin",
                "onanimationstart",
                "ontoggle",
                "href",
                "src",
                "action",
                "formaction",
                "srcdoc",
                "data",
                "xlink",
                "xmlns",
                "attributename",
                "values",
                "to",
                "from",
                "by",
                "javascript",
                "vbscript",
                "livescript",
                "view_source",
                "about",
                "behavior",
                "background",
                "lowsrc",
                "dynsrc",
                "expression",
            ]
            .map(str::to_string),
        );
        let variants = |w: &str| {
            [
                w.to_string(),
                w.to_ascii_uppercase(),
                format!("{w}1"),
                format!("{w}_x"),
                format!("{}{}", w.to_ascii_uppercase(), 2),
            ]
        };
        for w in &words {
            for v in variants(w) {
                assert!(plain_word(v.as_bytes()), "{v}");
                for d in Detector::ALL {
                    assert!(!d.run(v.as_bytes()), "{d} flags the plain word {v:?}");
                }
            }
        }
    }

    #[test]
    fn plain_numbers_are_never_flagged() {
        use super::plain_number;
        for v in ["0", "7", "151.65", "0.5", "00", "1234567890.0987654321"] {
            assert!(plain_number(v.as_bytes()), "{v}");
        }
        for v in [
            "", ".5", "5.", "1.2.3", "0x1f", "0b1", "1e5", "1d", "-1", "1 ",
        ] {
            assert!(!plain_number(v.as_bytes()), "{v}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]
        #[test]
        fn random_plain_numbers_are_never_flagged(v in "[0-9]{1,20}(\\.[0-9]{1,20})?") {
            for d in Detector::ALL {
                proptest::prop_assert!(!d.run(v.as_bytes()), "{} flags {:?}", d, v);
            }
        }

        #[test]
        fn random_plain_words_are_never_flagged(w in "[A-Za-z][A-Za-z0-9_]{0,40}") {
            for d in Detector::ALL {
                proptest::prop_assert!(!d.run(w.as_bytes()), "{} flags {:?}", d, w);
                proptest::prop_assert_eq!(d.detect(w.as_bytes()), d.run(w.as_bytes()));
            }
        }

        #[test]
        fn xss_needs_a_tag_or_a_value(
            parts in proptest::collection::vec(
                "(on[a-z]{1,8}|style|href|src|xmlns|xlink:href|formaction|javascript:|vbscript:|data:|alert\\(1\\)|[ \t\n\"'`/>:;()#&%?!*-]|[A-Za-z0-9]{1,6}|\\x00|\\u{e9})",
                0..12,
            )
        ) {
            let v = parts.concat();
            proptest::prop_assert!(no_tag_or_value(v.as_bytes()));
            proptest::prop_assert!(!Detector::Xss.run(v.as_bytes()), "flags {:?}", v);
            // With a `=` or a `<` somewhere, the library decides, as `detect` does.
            for extra in ["=", "<", "=x ", " <a "] {
                let w = format!("{v}{extra}{v}");
                proptest::prop_assert_eq!(Detector::Xss.detect(w.as_bytes()), Detector::Xss.run(w.as_bytes()));
            }
        }

        /// `run` skips the library's wrapper (which folds the tokens once more for a
        /// fingerprint we do not read); the verdict is the wrapper's, in every quoting
        /// context and dialect the detector tries (quotes, `--` and `#` comments).
        #[test]
        fn sqli_verdict_is_the_wrappers(
            parts in proptest::collection::vec(
                "(1|0x1f|'|\"|`|--|#|/\\*|\\*/|OR|AND|UNION|SELECT|FROM|WHERE|SLEEP\\(5\\)|=|<|>|\\(|\\)|,|;| |[a-z]{1,6}|@@version|\\x00)",
                0..14,
            )
        ) {
            let v = parts.concat();
            proptest::prop_assert_eq!(
                Detector::Sqli.run(v.as_bytes()),
                libinjectionrs::detect_sqli(v.as_bytes()).is_injection(),
                "{:?}", v
            );
        }

        #[test]
        fn random_words_are_looked_up_as_naively(w in "[A-Za-z0-9_ .@$!|&<>=~*/-]{0,12}") {
            proptest::prop_assert_eq!(
                libinjectionrs::sqli::sqli_data::lookup_word(&w),
                naive_lookup(&w),
                "{:?}", w
            );
        }

        #[test]
        fn detect_answers_as_the_library(v in "[A-Za-z0-9_ '\\\"<>=:;()#/*-]{0,30}") {
            for d in Detector::ALL {
                proptest::prop_assert_eq!(d.detect(v.as_bytes()), d.run(v.as_bytes()), "{} {:?}", d, v);
            }
        }
    }

    /// The patched keyword lookup (vendor/libinjectionrs: no upper-case copy of the word)
    /// answers as an upper-case copy searched entry by entry does.
    fn naive_lookup(word: &str) -> libinjectionrs::sqli::TokenType {
        use libinjectionrs::sqli::TokenType as T;
        let upper = word.to_ascii_uppercase();
        let found = libinjectionrs::sqli::sqli_data::SQL_KEYWORDS
            .iter()
            .find(|k| k.word == upper);
        match found.map(|k| k.token_type) {
            Some(b'k') => T::Keyword,
            Some(b'f') => T::Function,
            Some(b'U') => T::Union,
            Some(b'E') => T::Expression,
            Some(b'T') => T::Tsql,
            Some(b't') => T::SqlType,
            Some(b'o') => T::Operator,
            Some(b'&') => T::LogicOperator,
            Some(b'v') => T::Variable,
            Some(b'1') => T::Number,
            Some(b'A') => T::Collate,
            Some(b'B') => T::Group,
            Some(b'F') => T::Fingerprint,
            _ => T::Bareword,
        }
    }

    #[test]
    fn keyword_lookup_is_the_naive_one() {
        use libinjectionrs::sqli::sqli_data::{lookup_word, SQL_KEYWORDS};
        // Long words are never looked up in a stack buffer of 32 (blacklist, merges).
        assert!(SQL_KEYWORDS.iter().all(|k| k.word.len() < 32));
        for k in SQL_KEYWORDS {
            let mixed: String = k
                .word
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if i % 2 == 0 {
                        c.to_ascii_lowercase()
                    } else {
                        c
                    }
                })
                .collect();
            for v in [
                k.word.to_string(),
                k.word.to_ascii_lowercase(),
                mixed,
                format!("{}x", k.word),
                k.word[..k.word.len() - 1].to_string(),
            ] {
                assert_eq!(lookup_word(&v), naive_lookup(&v), "{v:?}");
            }
        }
    }

    /// The patched tokenizer ends a word at the C library's delimiters, and only there.
    #[test]
    fn words_end_at_the_delimiters() {
        use libinjectionrs::sqli::{SqliFlags, SqliTokenizer};
        let delimiters = b" []{}<>:\\?=@!#~+-*/&|^%(),';\t\n\x0B\x0C\r\"\xA0\x00";
        assert_eq!(
            naive_lookup("zq"),
            libinjectionrs::sqli::TokenType::Bareword
        );
        for b in 0..=255u8 {
            let input = [b'z', b'q', b, b'z', b'q'];
            let first = SqliTokenizer::new(&input, SqliFlags::FLAG_NONE).next_token();
            let len = first.map(|t| t.len);
            let want = if delimiters.contains(&b) { 2 } else { 5 };
            assert_eq!(len, Some(want), "byte {b:#x}");
        }
    }

    #[test]
    fn names_round_trip() {
        for d in Detector::ALL {
            assert_eq!(Detector::from_name(d.name()), Some(d));
        }
        assert_eq!(Detector::from_name("detect_rce"), None);
    }
}

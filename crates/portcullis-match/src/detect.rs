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
        if value.is_empty() {
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

    fn run(self, value: &[u8]) -> bool {
        match self {
            Detector::Sqli => libinjectionrs::detect_sqli(value).is_injection(),
            Detector::Xss => libinjectionrs::detect_xss(value).is_injection(),
        }
    }
}

/// Recent verdicts per thread: a direct-mapped table indexed by a keyed hash (the
/// process's random SipHash keys, so no client can aim values at one slot), each entry
/// holding the whole value it answers for.
mod cache {
    use std::cell::RefCell;
    use std::hash::{BuildHasher, Hasher};

    use super::Detector;

    /// Longest value remembered.
    pub(super) const MAX_LEN: usize = 256;
    const SLOTS: usize = 512;

    struct Entry {
        len: u16,
        detector: u8,
        verdict: bool,
        bytes: [u8; MAX_LEN],
    }

    pub(super) struct Cache {
        keys: std::collections::hash_map::RandomState,
        entries: Box<[Entry]>,
    }

    thread_local! {
        pub(super) static CACHE: RefCell<Cache> = RefCell::new(Cache::new());
    }

    impl Cache {
        fn new() -> Cache {
            Cache {
                keys: std::collections::hash_map::RandomState::new(),
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

        fn slot(&self, d: Detector, value: &[u8]) -> usize {
            let mut h = self.keys.build_hasher();
            h.write_u8(d as u8);
            h.write(value);
            (h.finish() % SLOTS as u64) as usize
        }

        pub(super) fn get(&self, d: Detector, value: &[u8]) -> Option<bool> {
            let e = self.entries.get(self.slot(d, value))?;
            (e.detector == d as u8
                && usize::from(e.len) == value.len()
                && e.bytes.get(..value.len()) == Some(value))
            .then_some(e.verdict)
        }

        pub(super) fn put(&mut self, d: Detector, value: &[u8], verdict: bool) {
            let i = self.slot(d, value);
            let (Some(e), Ok(len)) = (self.entries.get_mut(i), u16::try_from(value.len())) else {
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
    use super::Detector;

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

    #[test]
    fn names_round_trip() {
        for d in Detector::ALL {
            assert_eq!(Detector::from_name(d.name()), Some(d));
        }
        assert_eq!(Detector::from_name("detect_rce"), None);
    }
}

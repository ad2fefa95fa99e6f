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
    #[must_use]
    pub fn detect(self, value: &[u8]) -> bool {
        if value.is_empty() {
            return false;
        }
        match self {
            Detector::Sqli => libinjectionrs::detect_sqli(value).is_injection(),
            Detector::Xss => libinjectionrs::detect_xss(value).is_injection(),
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

    #[test]
    fn names_round_trip() {
        for d in Detector::ALL {
            assert_eq!(Detector::from_name(d.name()), Some(d));
        }
        assert_eq!(Detector::from_name("detect_rce"), None);
    }
}

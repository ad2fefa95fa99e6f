//! The error of [`ScannerBuilder::build`](crate::ScannerBuilder::build).

use std::fmt;

use crate::PatternId;

/// Why a [`Scanner`](crate::Scanner) could not be built, and which pattern
/// caused it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanError {
    kind: ScanErrorKind,
    pattern_id: Option<PatternId>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ScanErrorKind {
    TooManyPatterns { max: usize },
    PatternTooLong { len: usize, max: usize },
    InvalidRegex { message: String },
    RegexTooBig { limit: usize },
    Automaton { message: String },
}

impl ScanError {
    pub(crate) fn new(kind: ScanErrorKind, pattern_id: Option<PatternId>) -> Self {
        ScanError { kind, pattern_id }
    }

    /// The id of the offending pattern, if one pattern is to blame.
    #[must_use]
    pub fn pattern_id(&self) -> Option<PatternId> {
        self.pattern_id
    }

    /// The [`ScanLimits`](crate::ScanLimits) field that was exceeded, if one was:
    /// `"max_patterns"`, `"max_pattern_len"` or `"regex_size_limit"`.
    #[must_use]
    pub fn exceeded(&self) -> Option<&'static str> {
        match self.kind {
            ScanErrorKind::TooManyPatterns { .. } => Some("max_patterns"),
            ScanErrorKind::PatternTooLong { .. } => Some("max_pattern_len"),
            ScanErrorKind::RegexTooBig { .. } => Some("regex_size_limit"),
            _ => None,
        }
    }

    /// What went wrong, without the pattern id (for callers that name the pattern their
    /// own way).
    #[must_use]
    pub fn reason(&self) -> impl fmt::Display + '_ {
        &self.kind
    }

    /// Whether a size limit of [`ScanLimits`](crate::ScanLimits) was
    /// exceeded (as opposed to an invalid regex).
    #[must_use]
    pub fn is_limit(&self) -> bool {
        matches!(
            self.kind,
            ScanErrorKind::TooManyPatterns { .. }
                | ScanErrorKind::PatternTooLong { .. }
                | ScanErrorKind::RegexTooBig { .. }
        )
    }
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(id) = self.pattern_id {
            write!(f, "pattern {id}: ")?;
        }
        self.kind.fmt(f)
    }
}

impl fmt::Display for ScanErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScanErrorKind::TooManyPatterns { max } => {
                write!(f, "too many patterns (the limit is {max})")
            }
            ScanErrorKind::PatternTooLong { len, max } => {
                write!(f, "pattern is {len} bytes long (the limit is {max})")
            }
            ScanErrorKind::InvalidRegex { message } => write!(f, "invalid regex: {message}"),
            ScanErrorKind::RegexTooBig { limit } => write!(
                f,
                "regexes compile to more than the size limit of {limit} bytes"
            ),
            ScanErrorKind::Automaton { message } => {
                write!(f, "could not build the literal automaton: {message}")
            }
        }
    }
}

impl std::error::Error for ScanError {}

//! Located diagnostics: every error and warning points at the text it is about.

use std::fmt;

use crate::source::{Sources, Span};

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// The rule set cannot be used.
    Error,
    /// The rule set works, but probably not as intended.
    Warning,
}

/// One located message about a rule file.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    severity: Severity,
    message: String,
    span: Option<Span>,
    hint: Option<String>,
}

impl Diagnostic {
    /// An error at `span`; tools built on the rule set (the compiler) report with it too.
    pub fn error(span: impl Into<Option<Span>>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span: span.into(),
            hint: None,
        }
    }

    /// A warning at `span`.
    pub fn warning(span: impl Into<Option<Span>>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(span, message)
        }
    }

    /// The same diagnostic with its span moved by `f` (files renumbered on a merge).
    #[must_use]
    pub fn moved(mut self, f: &dyn Fn(Span) -> Span) -> Diagnostic {
        self.span = self.span.map(f);
        self
    }

    /// Adds a suggestion for fixing it.
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    /// Error or warning.
    #[must_use]
    pub fn severity(&self) -> Severity {
        self.severity
    }

    /// The message, lowercase and without a location.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Where it applies, when it applies to a place in a file.
    #[must_use]
    pub fn span(&self) -> Option<Span> {
        self.span
    }

    /// A suggestion for fixing it.
    #[must_use]
    pub fn hint_text(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// Renders the diagnostic the way compilers do: the message, `file:line:col`, the source
    /// line, a caret under the offending text, and the hint.
    #[must_use]
    pub fn render(&self, sources: &Sources) -> String {
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut out = format!("{label}: {}\n", bounded(&self.message));
        if let Some(span) = self.span {
            if let Some(file) = sources.get(span.file) {
                let (line, col) = file.line_col(span.start as usize);
                let (end_line, end_col) = file.line_col(span.end as usize);
                let text: Vec<char> = file.line_text(line).chars().collect();
                let caret = (col - 1).min(text.len());
                let width = if end_line == line && end_col > col {
                    end_col - col
                } else {
                    text.len().saturating_sub(caret)
                };
                // A long line (a 10 MB condition, a minified list) shows only a window
                // around the caret, marked with `…` where it was cut.
                let start = if text.len() > WINDOW {
                    caret.saturating_sub(WINDOW_BEFORE)
                } else {
                    0
                };
                let end = text.len().min(start + WINDOW);
                let width = width.min(end.saturating_sub(caret)).max(1);
                let cut_before = if start > 0 { "…" } else { "" };
                let cut_after = if end < text.len() { "…" } else { "" };
                let shown: String = text[start..end].iter().collect();
                let gutter = line.to_string().len();
                let pad = " ".repeat(gutter);
                // Tabs keep their width so the caret lines up with the text above it.
                let lead: String = cut_before
                    .chars()
                    .map(|_| ' ')
                    .chain(
                        text[start..caret]
                            .iter()
                            .map(|&c| if c == '\t' { '\t' } else { ' ' }),
                    )
                    .collect();
                out.push_str(&format!(
                    "{pad}--> {}:{line}:{col}\n{pad} |\n{line} | {cut_before}{shown}{cut_after}\n{pad} | {lead}{}\n",
                    file.path.display(),
                    "^".repeat(width)
                ));
            }
        }
        if let Some(hint) = &self.hint {
            let pad = " ".repeat(self.span.map_or(0, |s| {
                sources
                    .get(s.file)
                    .map_or(0, |f| f.line_col(s.start as usize).0.to_string().len())
            }));
            out.push_str(&format!("{pad} = hint: {}\n", bounded(hint)));
        }
        out
    }
}

/// Characters of a source line shown around the caret, and how many of them before it.
const WINDOW: usize = 120;
const WINDOW_BEFORE: usize = 40;
/// Longest message or hint rendered: they may quote rule text, which has no length limit.
const MAX_MESSAGE: usize = 400;

/// `text`, cut at a character boundary past [`MAX_MESSAGE`] bytes and marked with `…`.
fn bounded(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= MAX_MESSAGE {
        return text.into();
    }
    let mut end = MAX_MESSAGE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end]).into()
}

/// The error returned when rule files do not compile: every error found, plus the
/// warnings, with the sources needed to render them.
#[derive(Clone)]
pub struct Error {
    diagnostics: Vec<Diagnostic>,
    sources: Sources,
}

impl Error {
    /// Errors and warnings about `sources`, in the order given.
    #[must_use]
    pub fn new(diagnostics: Vec<Diagnostic>, sources: Sources) -> Error {
        Error {
            diagnostics,
            sources,
        }
    }

    /// Errors and warnings, in file order.
    #[must_use]
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// The files the diagnostics point into.
    #[must_use]
    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    /// Number of errors (not warnings).
    #[must_use]
    pub fn error_count(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.diagnostics {
            f.write_str(&d.render(&self.sources))?;
        }
        write!(f, "{} error(s) in rule files", self.error_count())
    }
}

/// Debug shows the rendered diagnostics, not the sources (which may be megabytes of list
/// files), so `main() -> Result<..>` and `expect` print something readable.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {}

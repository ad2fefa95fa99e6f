//! Source files and byte spans into them.

use std::ops::Range;
use std::path::{Path, PathBuf};

/// A byte range into one source file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// Index of the file in [`Sources`].
    pub file: u32,
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// A span over `range` (byte offsets, saturated at `u32::MAX`) of file `file` of a
    /// [`Sources`]; front ends other than this crate's (SecLang) locate their nodes with it.
    #[must_use]
    pub fn new(file: u32, range: Range<usize>) -> Span {
        Span {
            file,
            start: u32::try_from(range.start).unwrap_or(u32::MAX),
            end: u32::try_from(range.end).unwrap_or(u32::MAX),
        }
    }

    /// The byte range, for slicing the file's text.
    #[must_use]
    pub fn range(&self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// One loaded rule or list file.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// The path as the user gave it (or a name such as `<string>`).
    pub path: PathBuf,
    /// The whole text.
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub(crate) fn new(path: PathBuf, text: String) -> SourceFile {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile {
            path,
            text,
            line_starts,
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    #[must_use]
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1) - 1;
        let start = self.line_starts.get(line).copied().unwrap_or(0);
        let col = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line + 1, col + 1)
    }

    /// The text of a 1-based line, without its line terminator.
    #[must_use]
    pub fn line_text(&self, line: usize) -> &str {
        let start = self
            .line_starts
            .get(line.wrapping_sub(1))
            .copied()
            .unwrap_or(0);
        let end = self
            .line_starts
            .get(line)
            .copied()
            .unwrap_or(self.text.len());
        self.text
            .get(start..end)
            .unwrap_or("")
            .trim_end_matches(['\n', '\r'])
    }
}

/// Every file a rule set was loaded from; [`Span::file`] indexes into it.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    /// Adds a file and returns its index, the [`Span::file`] of spans into it.
    pub fn add(&mut self, path: &Path, text: String) -> u32 {
        self.files.push(SourceFile::new(path.to_path_buf(), text));
        u32::try_from(self.files.len() - 1).unwrap_or(u32::MAX)
    }

    /// Number of files.
    #[must_use]
    pub fn len(&self) -> u32 {
        u32::try_from(self.files.len()).unwrap_or(u32::MAX)
    }

    /// Whether there is no file.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Every file, in index order.
    pub fn iter(&self) -> impl Iterator<Item = &SourceFile> {
        self.files.iter()
    }

    /// The file a span points into.
    #[must_use]
    pub fn get(&self, file: u32) -> Option<&SourceFile> {
        self.files.get(file as usize)
    }

    /// The text a span covers (empty when the span is out of range).
    #[must_use]
    pub fn slice(&self, span: Span) -> &str {
        self.get(span.file)
            .and_then(|f| f.text.get(span.range()))
            .unwrap_or("")
    }

    /// `path:line:col` of a span's start.
    #[must_use]
    pub fn location(&self, span: Span) -> String {
        match self.get(span.file) {
            Some(f) => {
                let (line, col) = f.line_col(span.start as usize);
                format!("{}:{line}:{col}", f.path.display())
            }
            None => "<unknown>".to_string(),
        }
    }
}

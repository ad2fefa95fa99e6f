//! Reading SecLang files: bounded reads, directories of `*.conf`, `Include` (with globs,
//! loops and depth checked) and the data files operators name.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use portcullis_rules::{Diagnostic, Error, Severity, Sources, Span};

use crate::directive::{include_pattern, parse_directive, Directive, DirectiveKind};
use crate::lex::{lines, Word};

/// Limits on what SecLang files may contain and read.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Largest rule or data file, in bytes: every read is bounded by it. The default is
    /// portcullis' own rule files' limit (`portcullis_rules::LoadOptions::max_file_bytes`,
    /// 64 MiB).
    pub max_file_bytes: u64,
    /// Longest directive, continuation lines joined, in bytes (default 1 MiB; CRS's longest
    /// is under 16 KiB).
    pub max_line_bytes: usize,
    /// Deepest nesting of `Include` (default 16).
    pub max_include_depth: usize,
    /// Most files read in all, rule and data files together (default 4096).
    pub max_files: usize,
    /// Most diagnostics reported; the rest are counted in a last one (default 1000).
    pub max_diagnostics: usize,
}

impl Default for LoadOptions {
    fn default() -> LoadOptions {
        LoadOptions {
            max_file_bytes: portcullis_rules::LoadOptions::default().max_file_bytes,
            max_line_bytes: 1 << 20,
            max_include_depth: 16,
            max_files: 4096,
            max_diagnostics: 1000,
        }
    }
}

/// Parsed SecLang files: every directive in the order ModSecurity reads them (the files an
/// `Include` names follow it), not yet resolved.
#[derive(Clone, Debug)]
pub struct SecLangConfig {
    /// The directives.
    pub directives: Vec<Directive>,
    /// The files they came from; spans index into it.
    pub sources: Sources,
}

impl SecLangConfig {
    /// Parses one file's text. `Include`s and data files are looked up relative to
    /// `name`'s directory.
    ///
    /// # Errors
    ///
    /// Every syntax error found, located.
    pub fn parse_str(name: &str, text: &str) -> Result<SecLangConfig, Error> {
        SecLangConfig::parse_str_with(name, text, &LoadOptions::default())
    }

    /// [`SecLangConfig::parse_str`] with limits.
    ///
    /// # Errors
    ///
    /// Every syntax error found, located.
    pub fn parse_str_with(
        name: &str,
        text: &str,
        options: &LoadOptions,
    ) -> Result<SecLangConfig, Error> {
        let mut ctx = Ctx::new(options);
        let path = Path::new(name);
        let id = ctx.sources.add(path, text.to_string());
        ctx.read_text(id, path, text);
        ctx.finish()
    }

    /// Reads files and directories (each directory's `*.conf` files, sorted by name), in
    /// the order given.
    ///
    /// # Errors
    ///
    /// Every error found in every file, located; unreadable files too.
    pub fn load(paths: &[PathBuf], options: &LoadOptions) -> Result<SecLangConfig, Error> {
        let mut ctx = Ctx::new(options);
        for path in paths {
            if path.is_dir() {
                match conf_files(path) {
                    Ok(files) => {
                        for f in files {
                            ctx.read_file(&f, None);
                        }
                    }
                    Err(e) => ctx
                        .diags
                        .push(Diagnostic::error(None, format!("{}: {e}", path.display()))),
                }
            } else {
                ctx.read_file(path, None);
            }
        }
        ctx.finish()
    }
}

/// The `*.conf` files of a directory, sorted by name.
fn conf_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "conf"))
        .collect();
    files.sort();
    Ok(files)
}

/// Reads at most `max` bytes of a file: `None` when it holds more. Only regular files: a
/// FIFO or a device (`/dev/stdin`) named by an `Include` or a data file would block.
fn read_bounded(path: &Path, max: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= max).then_some(bytes))
}

/// The loader's state while reading files.
pub(crate) struct Ctx<'o> {
    opts: &'o LoadOptions,
    pub(crate) sources: Sources,
    pub(crate) diags: Vec<Diagnostic>,
    /// The directory of the file being read: `Include`s and data files are relative to it.
    dir: PathBuf,
    /// Data files already read, by the path they were read from.
    data: HashMap<PathBuf, Arc<[String]>>,
    /// The files being read, outermost first (canonical paths), to find `Include` loops.
    stack: Vec<PathBuf>,
    files_read: usize,
    directives: Vec<Directive>,
}

impl<'o> Ctx<'o> {
    fn new(opts: &'o LoadOptions) -> Ctx<'o> {
        Ctx {
            opts,
            sources: Sources::default(),
            diags: Vec::new(),
            dir: PathBuf::new(),
            data: HashMap::new(),
            stack: Vec::new(),
            files_read: 0,
            directives: Vec::new(),
        }
    }

    fn finish(mut self) -> Result<SecLangConfig, Error> {
        let errors = self
            .diags
            .iter()
            .filter(|d| d.severity() == Severity::Error)
            .count();
        if errors > 0 {
            let max = self.opts.max_diagnostics.max(1);
            if self.diags.len() > max {
                let more = self.diags.len() - max;
                self.diags.truncate(max);
                self.diags.push(Diagnostic::error(
                    None,
                    format!("{more} more diagnostics not shown"),
                ));
            }
            return Err(Error::new(self.diags, self.sources));
        }
        Ok(SecLangConfig {
            directives: self.directives,
            sources: self.sources,
        })
    }

    fn count_file(&mut self, span: Option<Span>, path: &Path) -> bool {
        self.files_read += 1;
        if self.files_read > self.opts.max_files {
            self.diags.push(
                Diagnostic::error(
                    span,
                    format!(
                        "too many files: {} would be file number {}",
                        path.display(),
                        self.files_read
                    ),
                )
                .hint("raise `LoadOptions::max_files`"),
            );
            return false;
        }
        true
    }

    /// Reads a rule file; `from` is the `Include` that named it.
    fn read_file(&mut self, path: &Path, from: Option<Span>) {
        if !self.count_file(from, path) {
            return;
        }
        let text = match read_bounded(path, self.opts.max_file_bytes) {
            Ok(Some(bytes)) => match String::from_utf8(bytes) {
                Ok(t) => t,
                Err(e) => {
                    self.diags.push(Diagnostic::error(
                        from,
                        format!(
                            "{} is not UTF-8 (invalid byte at offset {})",
                            path.display(),
                            e.utf8_error().valid_up_to()
                        ),
                    ));
                    return;
                }
            },
            Ok(None) => {
                self.diags.push(
                    Diagnostic::error(
                        from,
                        format!(
                            "{} is larger than {} bytes",
                            path.display(),
                            self.opts.max_file_bytes
                        ),
                    )
                    .hint("raise `LoadOptions::max_file_bytes` if it is meant to be this large"),
                );
                return;
            }
            Err(e) => {
                self.diags.push(Diagnostic::error(
                    from,
                    format!("cannot read {}: {e}", path.display()),
                ));
                return;
            }
        };
        let id = self.sources.add(path, text.clone());
        self.read_text(id, path, &text);
    }

    fn read_text(&mut self, file: u32, path: &Path, text: &str) {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let saved = std::mem::replace(&mut self.dir, dir);
        self.stack.push(canonical);
        for line in lines(file, text, self.opts.max_line_bytes, &mut self.diags) {
            match include_pattern(&line, &mut self.diags) {
                Some(Some(pattern)) => self.include(&pattern, line.span),
                Some(None) => {}
                None => {
                    if let Some(kind) = parse_directive(&line, self) {
                        self.directives.push(Directive {
                            kind,
                            span: line.span,
                        });
                    }
                }
            }
        }
        self.stack.pop();
        self.dir = saved;
    }

    fn include(&mut self, pattern: &Word, span: Span) {
        let at = pattern.span();
        if self.stack.len() >= self.opts.max_include_depth {
            self.diags.push(
                Diagnostic::error(
                    at,
                    format!(
                        "`Include` nested more than {} deep",
                        self.opts.max_include_depth
                    ),
                )
                .hint("is there an include loop through symbolic links?"),
            );
            return;
        }
        let full = self.dir.join(&pattern.text);
        let files = match expand(&full) {
            Ok(files) => files,
            Err(e) => {
                self.diags.push(
                    Diagnostic::error(at, e)
                        .hint("`Include` paths are relative to the including file's directory"),
                );
                return;
            }
        };
        self.directives.push(Directive {
            kind: DirectiveKind::Include {
                pattern: pattern.text.clone(),
                files: files.clone(),
            },
            span,
        });
        for f in files {
            let canonical = std::fs::canonicalize(&f).unwrap_or_else(|_| f.clone());
            if self.stack.contains(&canonical) {
                self.diags.push(
                    Diagnostic::error(
                        at,
                        format!("`Include` loop: {} is already being read", f.display()),
                    )
                    .hint("a file must not include itself, directly or through others"),
                );
                continue;
            }
            self.read_file(&f, Some(at));
        }
    }

    /// Reads a data file named by an operator at `span`, relative to the rule file.
    pub(crate) fn data_file(
        &mut self,
        written: &str,
        span: Span,
    ) -> Option<(PathBuf, Arc<[String]>)> {
        if written.starts_with("https://") || written.starts_with("http://") {
            self.diags.push(
                Diagnostic::error(span, "data files are not downloaded")
                    .hint("save the file beside the rule file and name it by its path"),
            );
            return None;
        }
        let path = self.dir.join(written);
        if let Some(lines) = self.data.get(&path) {
            return Some((path, lines.clone()));
        }
        if !self.count_file(Some(span), &path) {
            return None;
        }
        let text = match read_bounded(&path, self.opts.max_file_bytes) {
            Ok(Some(bytes)) => match String::from_utf8(bytes) {
                Ok(t) => t,
                Err(_) => {
                    self.diags.push(Diagnostic::error(
                        span,
                        format!("data file {} is not UTF-8", path.display()),
                    ));
                    return None;
                }
            },
            Ok(None) => {
                self.diags.push(
                    Diagnostic::error(
                        span,
                        format!(
                            "data file {} is larger than {} bytes",
                            path.display(),
                            self.opts.max_file_bytes
                        ),
                    )
                    .hint("raise `LoadOptions::max_file_bytes`"),
                );
                return None;
            }
            Err(e) => {
                self.diags.push(
                    Diagnostic::error(
                        span,
                        format!("cannot read data file {}: {e}", path.display()),
                    )
                    .hint("data files are relative to the rule file's directory"),
                );
                return None;
            }
        };
        // ModSecurity v3's rule for data files: blank lines and lines whose first non-blank
        // character is `#` are skipped; the rest is taken as is (but for the line ending).
        let lines: Arc<[String]> = text
            .lines()
            .filter(|l| {
                let t = l.trim_start();
                !t.is_empty() && !t.starts_with('#')
            })
            .map(str::to_string)
            .collect();
        self.data.insert(path.clone(), lines.clone());
        Some((path, lines))
    }
}

/// The files an `Include` path names: itself, a directory's `*.conf` files, or the files
/// matching `*` and `?` in its last component, sorted.
fn expand(path: &Path) -> Result<Vec<PathBuf>, String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parent = path.parent().unwrap_or(Path::new(""));
    if parent.to_string_lossy().contains(['*', '?']) {
        return Err(format!(
            "wildcards are only allowed in the file name: {}",
            path.display()
        ));
    }
    if !name.contains(['*', '?']) {
        if path.is_dir() {
            return conf_files(path).map_err(|e| format!("cannot read {}: {e}", path.display()));
        }
        if !path.exists() {
            return Err(format!("{} does not exist", path.display()));
        }
        return Ok(vec![path.to_path_buf()]);
    }
    let dir = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| wildcard(name.as_bytes(), e.file_name().to_string_lossy().as_bytes()))
        .map(|e| parent.join(e.file_name()))
        .filter(|p| p.is_file())
        .collect();
    if files.is_empty() {
        return Err(format!("no file matches {}", path.display()));
    }
    files.sort();
    Ok(files)
}

/// Whether `name` matches `pat` (`*` any run, `?` any one byte), in O(len(pat)·len(name)).
fn wildcard(pat: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pat.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == b'?' || Some(&c) == name.get(n) => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pat.get(p..)
        .is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

#[cfg(test)]
mod tests {
    use super::wildcard;

    #[test]
    fn globs() {
        assert!(wildcard(b"*.conf", b"a.conf"));
        assert!(wildcard(b"REQUEST-9??-*.conf", b"REQUEST-901-INIT.conf"));
        assert!(!wildcard(b"*.conf", b"a.conf.example"));
        assert!(wildcard(b"*", b""));
        assert!(!wildcard(b"a", b""));
    }
}

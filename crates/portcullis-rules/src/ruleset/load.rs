//! Reading rule files: bounded reads, the loader every decoder fills, and the final
//! checks once all files are read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::model::*;
use super::RuleSet;
use crate::ceilings::Ceilings;
use crate::diag::{Diagnostic, Error, Severity};
use crate::expr::ListId;
use crate::lists::{List, ListItems};
use crate::parse::{parse_condition, suggest, Scope, SpanMap};
use crate::source::{Sources, Span};
use crate::tree::{parse_json, parse_toml, Node, Value};

/// Limits on what rule files may contain and read.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Largest rule or list file, in bytes (default 64 MiB). Every read is bounded by it,
    /// whatever the file system says of the file's size.
    pub max_file_bytes: u64,
    /// Directories list `file`s may be read from besides the directory tree of the rule
    /// file that names them (default none: a list file is under its rule file's directory,
    /// with no `..` out of it, no absolute path and no symbolic link leading elsewhere).
    pub list_roots: Vec<std::path::PathBuf>,
    /// The most the files' `[policy]` may set each resource limit to.
    pub ceilings: Ceilings,
    /// Deepest nesting of arrays and objects in a JSON rule file (default 64). TOML files
    /// are bounded by their parser's own limit.
    pub max_json_depth: usize,
    /// Deepest nesting of groups and repetitions in a rule's regex (default 64; the
    /// matcher's regex compiler accepts at most 250).
    pub max_regex_nesting: u32,
    /// How many of the nearest earlier rules reading the same fields the "can never
    /// decide" lint compares each rule with (default 256), which keeps linting linear in
    /// the number of rules.
    pub lint_lookback: usize,
}

impl std::default::Default for LoadOptions {
    fn default() -> LoadOptions {
        LoadOptions {
            max_file_bytes: 64 << 20,
            list_roots: Vec::new(),
            ceilings: Ceilings::default(),
            max_json_depth: 64,
            max_regex_nesting: 64,
            lint_lookback: 256,
        }
    }
}

impl LoadOptions {
    /// Lets list `file`s be read from under `dir` too (shared block lists, say).
    #[must_use]
    pub fn allow_list_root(mut self, dir: impl Into<std::path::PathBuf>) -> LoadOptions {
        self.list_roots.push(dir.into());
        self
    }

    /// Why `path` (a list file named by a rule file in `dir`, as written: `written`) may
    /// not be read, if it may not.
    pub(super) fn list_file_refusal(
        &self,
        dir: &Path,
        written: &str,
        path: &Path,
    ) -> Option<String> {
        let escapes = Path::new(written).components().any(|c| {
            matches!(
                c,
                std::path::Component::ParentDir
                    | std::path::Component::RootDir
                    | std::path::Component::Prefix(_)
            )
        });
        if escapes && self.list_roots.is_empty() {
            return Some(format!(
                "list file `{written}` is outside the rule file's directory"
            ));
        }
        // Symbolic links are followed: what counts is where the file really is.
        let real = std::fs::canonicalize(path).ok()?;
        let base = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let inside = |root: &Path| std::fs::canonicalize(root).is_ok_and(|r| real.starts_with(r));
        if inside(base) || self.list_roots.iter().any(|r| inside(r)) {
            return None;
        }
        Some(format!(
            "list file `{written}` is outside the rule file's directory (it is {})",
            real.display()
        ))
    }
}

/// Reads at most `max` bytes of a file: `None` when it holds more (it may have grown since
/// its size was looked up, or lie about it).
fn read_bounded(path: &Path, max: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= max).then_some(bytes))
}

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Format {
    Toml,
    Json,
}

pub(super) struct Loader<'o> {
    pub(super) opts: &'o LoadOptions,
    pub(super) sources: Sources,
    pub(super) diags: Vec<Diagnostic>,
    pub(super) settings: Option<(Settings, Span)>,
    /// The `[policy]` keys written, with their values' spans (for ceilings).
    pub(super) policy_values: Vec<(String, Span)>,
    pub(super) lists: Vec<List>,
    pub(super) list_names: HashMap<String, ListId>,
    pub(super) list_used: Vec<bool>,
    /// Rules with the `when` text kept until all lists are known.
    pub(super) pending: Vec<PendingRule>,
    /// Where each rule id was first declared, to report duplicates.
    pub(super) rule_ids: HashMap<String, Span>,
}

pub(super) struct PendingRule {
    pub(super) rule: Rule,
    pub(super) when: Option<(String, SpanMap)>,
}

/// Error for a problem that is not in a file (I/O on the paths themselves).
pub(super) fn io_error(path: &Path, e: &std::io::Error) -> Diagnostic {
    Diagnostic::error(None, format!("cannot read {}: {e}", path.display()))
        .hint("check the path and its permissions")
}

impl<'o> Loader<'o> {
    pub(super) fn new(opts: &'o LoadOptions) -> Self {
        Loader {
            opts,
            sources: Sources::default(),
            diags: Vec::new(),
            settings: None,
            policy_values: Vec::new(),
            lists: Vec::new(),
            list_names: HashMap::new(),
            list_used: Vec::new(),
            pending: Vec::new(),
            rule_ids: HashMap::new(),
        }
    }

    pub(super) fn add_path(&mut self, path: &Path) {
        if path.is_dir() {
            let mut files: Vec<PathBuf> = match std::fs::read_dir(path) {
                Ok(rd) => rd
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.is_file()
                            && matches!(
                                p.extension().and_then(|e| e.to_str()),
                                Some("toml" | "json")
                            )
                    })
                    .collect(),
                Err(e) => {
                    self.diags.push(io_error(path, &e));
                    return;
                }
            };
            files.sort();
            if files.is_empty() {
                self.diags.push(
                    Diagnostic::error(
                        None,
                        format!("{} holds no *.toml or *.json rule files", path.display()),
                    )
                    .hint("rule files live directly in the directory; subdirectories are not read"),
                );
            }
            for f in files {
                self.add_file(&f);
            }
        } else {
            self.add_file(path);
        }
    }

    pub(super) fn read(&mut self, path: &Path) -> Option<String> {
        match std::fs::metadata(path) {
            // A FIFO would block loading (and every reload) forever; a device such as
            // /dev/zero never ends.
            Ok(m) if !m.is_file() => {
                self.diags.push(
                    Diagnostic::error(None, format!("{} is not a regular file", path.display()))
                        .hint("rule and list files must be regular files"),
                );
                return None;
            }
            Ok(m) if m.len() > self.opts.max_file_bytes => {
                self.diags.push(
                    Diagnostic::error(
                        None,
                        format!(
                            "{} is {} bytes, over the limit of {}",
                            path.display(),
                            m.len(),
                            self.opts.max_file_bytes
                        ),
                    )
                    .hint("split it, or raise the file size limit"),
                );
                return None;
            }
            Err(e) => {
                self.diags.push(io_error(path, &e));
                return None;
            }
            Ok(_) => {}
        }
        match read_bounded(path, self.opts.max_file_bytes) {
            Ok(None) => {
                self.diags.push(
                    Diagnostic::error(
                        None,
                        format!(
                            "{} grew over the limit of {} bytes while it was read",
                            path.display(),
                            self.opts.max_file_bytes
                        ),
                    )
                    .hint("split it, or raise the file size limit"),
                );
                None
            }
            Ok(Some(bytes)) => match String::from_utf8(bytes) {
                Ok(s) => Some(s),
                Err(e) => {
                    let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
                    let at = e.utf8_error().valid_up_to();
                    let file = self.sources.add(path, text);
                    self.diags.push(
                        Diagnostic::error(
                            Span::new(file, at..at + 1),
                            "the file is not valid UTF-8",
                        )
                        .hint("save it as UTF-8"),
                    );
                    None
                }
            },
            Err(e) => {
                self.diags.push(io_error(path, &e));
                None
            }
        }
    }

    pub(super) fn add_file(&mut self, path: &Path) {
        let format = if path.extension().and_then(|e| e.to_str()) == Some("json") {
            Format::Json
        } else {
            Format::Toml
        };
        if let Some(text) = self.read(path) {
            self.add_text(path, text, format);
        }
    }

    pub(super) fn add_text(&mut self, path: &Path, text: String, format: Format) {
        let file = self.sources.add(path, text);
        let text = self
            .sources
            .get(file)
            .map(|f| f.text.clone())
            .unwrap_or_default();
        let root = match format {
            Format::Toml => parse_toml(file, &text, &mut self.diags),
            Format::Json => parse_json(file, &text, self.opts.max_json_depth, &mut self.diags),
        };
        let Some(root) = root else { return };
        let Value::Table(entries) = root.value else {
            self.diags.push(
                Diagnostic::error(root.span, "a rule file must be a table at its top level")
                    .hint("start with [policy], [lists] or [[rule]]"),
            );
            return;
        };
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        for (key, kspan, node) in entries {
            match key.as_str() {
                "policy" => self.policy(node, kspan),
                "lists" => self.lists(node, &dir),
                "rule" | "rules" => match node.value {
                    Value::Array(rules) => rules.into_iter().for_each(|r| self.rule(r)),
                    _ => self.diags.push(
                        Diagnostic::error(node.span, "`rule` must be an array of tables")
                            .hint("write each rule under its own [[rule]] header"),
                    ),
                },
                other => self.unknown_key(other, kspan, &["policy", "lists", "rule"]),
            }
        }
    }

    pub(super) fn unknown_key(&mut self, key: &str, span: Span, known: &[&str]) {
        let hint = suggest(key, known.iter().copied()).map_or_else(
            || format!("known keys here: {}", known.join(", ")),
            |s| format!("did you mean `{s}`?"),
        );
        self.diags
            .push(Diagnostic::error(span, format!("unknown key `{key}`")).hint(hint));
    }

    pub(super) fn expect_table(
        &mut self,
        node: Node,
        what: &str,
    ) -> Option<Vec<(String, Span, Node)>> {
        match node.value {
            Value::Table(t) => Some(t),
            v => {
                self.diags.push(
                    Diagnostic::error(
                        node.span,
                        format!("{what} must be a table, found {}", v.kind()),
                    )
                    .hint("see docs/rules.md for the layout of rule files"),
                );
                None
            }
        }
    }

    pub(super) fn string(&mut self, node: Node, what: &str) -> Option<(String, Span)> {
        match node.value {
            Value::Str(s) => Some((s, node.span)),
            v => {
                self.diags.push(
                    Diagnostic::error(
                        node.span,
                        format!("`{what}` must be a string, found {}", v.kind()),
                    )
                    .hint("quote it"),
                );
                None
            }
        }
    }

    pub(super) fn int(&mut self, node: &Node, what: &str) -> Option<i64> {
        match node.value {
            Value::Int(n) => Some(n),
            ref v => {
                self.diags.push(
                    Diagnostic::error(
                        node.span,
                        format!("`{what}` must be an integer, found {}", v.kind()),
                    )
                    .hint("write a whole number without quotes"),
                );
                None
            }
        }
    }

    pub(super) fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        match node.value {
            Value::Bool(b) => Some(b),
            ref v => {
                self.diags.push(
                    Diagnostic::error(
                        node.span,
                        format!("`{what}` must be true or false, found {}", v.kind()),
                    )
                    .hint("write true or false without quotes"),
                );
                None
            }
        }
    }

    pub(super) fn choice<T: Copy>(
        &mut self,
        node: Node,
        what: &str,
        options: &[(&str, T)],
    ) -> Option<T> {
        let (s, span) = self.string(node, what)?;
        if let Some((_, v)) = options.iter().find(|(name, _)| *name == s) {
            return Some(*v);
        }
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        let hint = suggest(&s, names.iter().copied()).map_or_else(
            || format!("use one of: {}", names.join(", ")),
            |x| format!("did you mean `{x}`?"),
        );
        self.diags
            .push(Diagnostic::error(span, format!("`{s}` is not a valid {what}")).hint(hint));
        None
    }

    pub(super) fn finish(mut self) -> Result<RuleSet, Error> {
        let mut settings = self.settings.take().map(|s| s.0).unwrap_or_default();
        self.opts
            .ceilings
            .apply(&mut settings, &self.policy_values, &mut self.diags);
        let mut rules = Vec::with_capacity(self.pending.len());
        let pending = std::mem::take(&mut self.pending);
        for p in pending {
            let mut rule = p.rule;
            if let Some((text, map)) = p.when {
                let mut scope = Scope {
                    names: &self.list_names,
                    lists: &mut self.lists,
                    used: &mut self.list_used,
                    max_depth: settings.max_expression_depth,
                    regex_nesting: self.opts.max_regex_nesting,
                };
                match parse_condition(&text, map, &mut scope, &mut self.diags) {
                    Some(e) => rule.when = e,
                    None => continue,
                }
            }
            rules.push(rule);
        }
        for list in &self.lists {
            let len = match &list.items {
                ListItems::Ip(v) => v.len(),
                ListItems::Str(v) => v.len(),
            };
            if len > settings.max_list_items {
                let what = if list.anonymous {
                    "an inline set".to_string()
                } else {
                    format!("list `{}`", list.name)
                };
                self.diags.push(
                    Diagnostic::error(
                        list.span,
                        format!(
                            "{what} has {len} items, over the limit of {}",
                            settings.max_list_items
                        ),
                    )
                    .hint("split it, or raise `max_list_items` in [policy]"),
                );
            }
        }
        for (i, list) in self.lists.iter().enumerate() {
            if !list.anonymous && !self.list_used.get(i).copied().unwrap_or(true) {
                self.diags.push(
                    Diagnostic::warning(
                        list.span,
                        format!("list `{}` is declared but never used", list.name),
                    )
                    .hint("remove it, or use it in a rule (`in $name`, `contains_any $name`, …)"),
                );
            }
        }
        // Stable: equal priorities keep file order.
        rules.sort_by_key(|r| std::cmp::Reverse(r.priority));
        // Report in file order, whatever pass found them.
        self.diags
            .sort_by_key(|d| d.span().map(|s| (s.file, s.start)));
        let (errors, warnings): (Vec<_>, Vec<_>) = self
            .diags
            .into_iter()
            .partition(|d| d.severity() == Severity::Error);
        if !errors.is_empty() {
            let mut all = errors;
            all.extend(warnings);
            return Err(Error::new(all, self.sources));
        }
        // Lints need a valid rule set: they run only when there are no errors.
        let mut warnings = warnings;
        warnings.extend(crate::lints::lint(
            &rules,
            &self.lists,
            &settings,
            &self.sources,
            self.opts.lint_lookback,
        ));
        warnings.sort_by_key(|d| d.span().map(|s| (s.file, s.start)));
        Ok(RuleSet {
            settings,
            lists: self.lists,
            rules,
            sources: self.sources,
            warnings,
        })
    }
}

//! The rule set: `[policy]`, `[lists]` and `[[rule]]`, read from one or more files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::ceilings::Ceilings;
use crate::diag::{Diagnostic, Error, Severity};
use crate::expr::{is_header_name, Expr, ListId};
use crate::lists::{list_file_entries, parse_net, List, ListItems, ListKind};
use crate::parse::{check_regex, parse_condition, suggest, Scope, SpanMap};
use crate::source::{Sources, Span};
use crate::tree::{parse_json, parse_toml, Node, Value};

/// Invalid entries of one list reported one by one, the rest counted.
const MAX_LIST_DIAGNOSTICS: usize = 10;

/// Counts the invalid entries of one list, reporting only the first few.
#[derive(Default)]
struct BadEntries(usize);

impl BadEntries {
    fn push(&mut self, diags: &mut Vec<Diagnostic>, d: Diagnostic) {
        self.0 += 1;
        if self.0 <= MAX_LIST_DIAGNOSTICS {
            diags.push(d);
        }
    }

    fn finish(self, diags: &mut Vec<Diagnostic>, list: &str, span: Span) {
        if self.0 > MAX_LIST_DIAGNOSTICS {
            let more = self.0 - MAX_LIST_DIAGNOSTICS;
            diags.push(
                Diagnostic::error(
                    span,
                    format!("list `{list}` has {more} more invalid entries"),
                )
                .hint(format!(
                    "only the first {MAX_LIST_DIAGNOSTICS} are shown; is `file` the right file?"
                )),
            );
        }
    }
}

/// What happens when no rule decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Default {
    /// Let the request through.
    Allow,
    /// Refuse it (deny-by-default APIs).
    Forbid,
}

/// How much a 401/403 body tells the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reveal {
    /// Title and status only (public APIs).
    None,
    /// Adds the rule's reason.
    Reason,
    /// Adds the rule id and what was required against what the caller had (internal APIs).
    Detail,
}

/// The `[policy]` table: settings for the whole rule set.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Verdict when no rule decides.
    pub default: Default,
    /// Body detail for refusals.
    pub reveal: Reveal,
    /// The `WWW-Authenticate` challenge sent with 401.
    pub www_authenticate: String,
    /// Status for exceeded rate limits: 429 (default), 403 or 503.
    pub rate_limit_status: u16,
    /// Rules that read `auth.*` do not apply to CORS preflights (default true).
    pub preflight_exempt: bool,
    /// A request header whose value (if it is a safe token) becomes the request id.
    pub request_id_header: Option<String>,
    /// Most keys one rate-limited rule remembers; the idlest are evicted past it.
    pub rate_limit_max_keys: usize,
    /// Deepest nesting of a `when` condition.
    pub max_expression_depth: usize,
    /// Most items in one list, after its `file` is read (default 4,000,000: a full
    /// Internet routing table fits).
    pub max_list_items: usize,
    /// Most patterns matched against one field, across all rules and lists (default
    /// 100,000).
    pub max_patterns: usize,
    /// Longest pattern (literal or regex), in bytes (default 4,096).
    pub max_pattern_len: usize,
    /// Most heap bytes the regexes on one field may compile to (default 64 MiB).
    pub max_regex_bytes: usize,
    /// Most heap bytes of lazy-DFA cache per compiled regex and thread; past it the cache
    /// is reset, and searches stay linear-time (default 2 MiB).
    pub max_regex_cache_bytes: usize,
    /// Most heap bytes the literal automaton of one field may take as a DFA; a larger one
    /// is built as a compact NFA instead (default 32 MiB).
    pub max_literal_dfa_bytes: usize,
    /// Longest request target (path and query), in bytes (default 8,192).
    pub max_uri_bytes: usize,
    /// Most header fields in a request (default 100).
    pub max_header_count: usize,
    /// Most bytes of header names and values in a request, together (default 65,536).
    pub max_header_bytes: usize,
    /// What a request over one of the request limits gets (default: refused).
    pub on_oversize: OnOversize,
    /// Status refusing an over-long request target (default 414).
    pub uri_too_long_status: u16,
    /// Status refusing too many or too large headers (default 431).
    pub headers_too_large_status: u16,
    /// What a request whose path routers could read differently from `path` gets
    /// (default: refused with 400).
    pub on_ambiguous_path: OnAmbiguousPath,
    /// The server behind reads paths as Windows and IIS do (`%uXXXX`, trailing spaces,
    /// `::$DATA`, any case): `path` folds those too (default false).
    pub windows_paths: bool,
}

/// What a request gets whose raw path routers read differently from the normalised
/// `path` the rules judge (a dot segment, an encoded `/` or `\`, a `\`, a `;` parameter,
/// a segment ending in a dot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnAmbiguousPath {
    /// Refused with 400 before any rule runs.
    Forbid,
    /// Judged on its normalised path like any other; the server must route on that path
    /// too (the tower layer forwards it; `HttpRequest::routed_uri` gives it).
    Rewrite,
}

/// What a request over a request limit (`max_uri_bytes`, `max_header_count`,
/// `max_header_bytes`) gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnOversize {
    /// Refused with `uri_too_long_status` or `headers_too_large_status`; no rule runs.
    Forbid,
    /// Not refused for its size: rules decide as usual (over the whole request, so
    /// padding cannot push an attack past what rules see), and the decision reports the
    /// limit exceeded.
    Allow,
}

impl std::default::Default for Settings {
    fn default() -> Settings {
        Settings {
            default: Default::Allow,
            reveal: Reveal::None,
            www_authenticate: "Bearer".to_string(),
            rate_limit_status: 429,
            preflight_exempt: true,
            request_id_header: Some("x-request-id".to_string()),
            rate_limit_max_keys: 100_000,
            max_expression_depth: 64,
            max_list_items: 4_000_000,
            max_patterns: 100_000,
            max_pattern_len: 4096,
            max_regex_bytes: 64 << 20,
            max_regex_cache_bytes: 2 << 20,
            max_literal_dfa_bytes: 32 << 20,
            max_uri_bytes: 8192,
            max_header_count: 100,
            max_header_bytes: 64 << 10,
            on_oversize: OnOversize::Forbid,
            uri_too_long_status: 414,
            headers_too_large_status: 431,
            on_ambiguous_path: OnAmbiguousPath::Forbid,
            windows_paths: false,
        }
    }
}

/// What a rule does when its condition holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Let the request through; later rules are not consulted.
    Allow,
    /// Refuse it (401, 403 or 404).
    Forbid,
    /// Count it against a rate limit; refuse when exceeded (429).
    RateLimit,
    /// Record a match and go on.
    Log,
}

impl Action {
    /// The name used in rule files.
    pub fn name(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Forbid => "forbid",
            Action::RateLimit => "rate_limit",
            Action::Log => "log",
        }
    }
}

/// Whether a rule acts or only records what it would have done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// It acts.
    Enforce,
    /// It records and evaluation goes on: the safe way to roll out a rule.
    Shadow,
}

/// One part of a rate-limit key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RateKey {
    /// The client address, IPv4 cut to `v4_prefix` bits and IPv6 to `v6_prefix` bits.
    Ip {
        /// Prefix length for IPv4 (default 32).
        v4_prefix: u8,
        /// Prefix length for IPv6 (default 64: one subscriber usually holds a /64).
        v6_prefix: u8,
    },
    /// A header's value.
    Header(String),
    /// The caller's subject.
    AuthSubject,
    /// A host-supplied attribute.
    Attr(String),
}

/// `rate_limit = { key = [...], limit, period, burst }`: a GCRA limit.
#[derive(Clone, Debug, PartialEq)]
pub struct RateLimit {
    /// What requests are counted together.
    pub key: Vec<RateKey>,
    /// Requests per period, sustained.
    pub limit: u32,
    /// The period.
    pub period: Duration,
    /// Requests that may arrive at once from an idle key (default `limit`).
    pub burst: u32,
}

/// One `[[rule]]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// Unique id, reported in decisions.
    pub id: String,
    /// The condition.
    pub when: Expr,
    /// What happens when it holds.
    pub action: Action,
    /// Why, for logs and (with `reveal`) the caller.
    pub reason: Option<String>,
    /// Answer 404 instead of 401/403.
    pub hide: bool,
    /// Status override.
    pub status: Option<u16>,
    /// Enforce or shadow.
    pub mode: Mode,
    /// Higher runs first; ties keep file order.
    pub priority: i64,
    /// Free-form labels.
    pub tags: Vec<String>,
    /// The limit, for `action = "rate_limit"`.
    pub rate_limit: Option<RateLimit>,
    /// Where the rule's `id` is written.
    pub span: Span,
}

impl Rule {
    /// Whether the condition reads the caller's identity (`auth.*`).
    pub fn is_identity(&self) -> bool {
        self.when.is_identity()
    }
}

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
}

impl std::default::Default for LoadOptions {
    fn default() -> LoadOptions {
        LoadOptions {
            max_file_bytes: 64 << 20,
            list_roots: Vec::new(),
            ceilings: Ceilings::default(),
        }
    }
}

impl LoadOptions {
    /// Lets list `file`s be read from under `dir` too (shared block lists, say).
    pub fn allow_list_root(mut self, dir: impl Into<std::path::PathBuf>) -> LoadOptions {
        self.list_roots.push(dir.into());
        self
    }

    /// Why `path` (a list file named by a rule file in `dir`, as written: `written`) may
    /// not be read, if it may not.
    fn list_file_refusal(&self, dir: &Path, written: &str, path: &Path) -> Option<String> {
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

/// A checked, typed set of rules, lists and settings, in evaluation order.
#[derive(Clone, Debug)]
pub struct RuleSet {
    /// The `[policy]` settings.
    pub settings: Settings,
    /// Declared lists, then anonymous ones; [`ListId`] indexes here.
    pub lists: Vec<List>,
    /// Rules in evaluation order (priority, then file order).
    pub rules: Vec<Rule>,
    sources: Sources,
    warnings: Vec<Diagnostic>,
}

impl RuleSet {
    /// Loads rule files and directories (every `*.toml` and `*.json` in a directory, sorted by
    /// name).
    pub fn load<P: AsRef<Path>>(paths: &[P]) -> Result<RuleSet, Error> {
        RuleSet::load_with(paths, &LoadOptions::default())
    }

    /// [`RuleSet::load`] with explicit limits.
    pub fn load_with<P: AsRef<Path>>(paths: &[P], opts: &LoadOptions) -> Result<RuleSet, Error> {
        let mut loader = Loader::new(opts);
        for p in paths {
            loader.add_path(p.as_ref());
        }
        loader.finish()
    }

    /// Parses TOML rules from a string. `name` is used in diagnostics; list `file`s are
    /// resolved relative to its directory.
    pub fn parse(name: &str, text: &str) -> Result<RuleSet, Error> {
        RuleSet::parse_with(name, text, &LoadOptions::default())
    }

    /// [`RuleSet::parse`] with explicit limits and ceilings.
    pub fn parse_with(name: &str, text: &str, opts: &LoadOptions) -> Result<RuleSet, Error> {
        let mut loader = Loader::new(opts);
        loader.add_text(Path::new(name), text.to_string(), Format::Toml);
        loader.finish()
    }

    /// Parses JSON rules (same schema as TOML) from a string.
    pub fn parse_json(name: &str, text: &str) -> Result<RuleSet, Error> {
        let opts = LoadOptions::default();
        let mut loader = Loader::new(&opts);
        loader.add_text(Path::new(name), text.to_string(), Format::Json);
        loader.finish()
    }

    /// Warnings found while loading.
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// The files the rule set came from.
    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    /// A list by id.
    pub fn list(&self, id: ListId) -> Option<&List> {
        self.lists.get(id.0 as usize)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Toml,
    Json,
}

struct Loader<'o> {
    opts: &'o LoadOptions,
    sources: Sources,
    diags: Vec<Diagnostic>,
    settings: Option<(Settings, Span)>,
    /// The `[policy]` keys written, with their values' spans (for ceilings).
    policy_values: Vec<(String, Span)>,
    lists: Vec<List>,
    list_names: HashMap<String, ListId>,
    list_used: Vec<bool>,
    /// Rules with the `when` text kept until all lists are known.
    pending: Vec<PendingRule>,
    /// Where each rule id was first declared, to report duplicates.
    rule_ids: HashMap<String, Span>,
}

struct PendingRule {
    rule: Rule,
    when: Option<(String, SpanMap)>,
}

/// Error for a problem that is not in a file (I/O on the paths themselves).
fn io_error(path: &Path, e: &std::io::Error) -> Diagnostic {
    Diagnostic::error(None, format!("cannot read {}: {e}", path.display()))
        .hint("check the path and its permissions")
}

impl<'o> Loader<'o> {
    fn new(opts: &'o LoadOptions) -> Self {
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

    fn add_path(&mut self, path: &Path) {
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

    fn read(&mut self, path: &Path) -> Option<String> {
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

    fn add_file(&mut self, path: &Path) {
        let format = if path.extension().and_then(|e| e.to_str()) == Some("json") {
            Format::Json
        } else {
            Format::Toml
        };
        if let Some(text) = self.read(path) {
            self.add_text(path, text, format);
        }
    }

    fn add_text(&mut self, path: &Path, text: String, format: Format) {
        let file = self.sources.add(path, text);
        let text = self
            .sources
            .get(file)
            .map(|f| f.text.clone())
            .unwrap_or_default();
        let root = match format {
            Format::Toml => parse_toml(file, &text, &mut self.diags),
            Format::Json => parse_json(file, &text, &mut self.diags),
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

    fn unknown_key(&mut self, key: &str, span: Span, known: &[&str]) {
        let hint = suggest(key, known.iter().copied()).map_or_else(
            || format!("known keys here: {}", known.join(", ")),
            |s| format!("did you mean `{s}`?"),
        );
        self.diags
            .push(Diagnostic::error(span, format!("unknown key `{key}`")).hint(hint));
    }

    fn expect_table(&mut self, node: Node, what: &str) -> Option<Vec<(String, Span, Node)>> {
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

    fn string(&mut self, node: Node, what: &str) -> Option<(String, Span)> {
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

    fn int(&mut self, node: &Node, what: &str) -> Option<i64> {
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

    fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
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

    fn choice<T: Copy>(&mut self, node: Node, what: &str, options: &[(&str, T)]) -> Option<T> {
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

    fn policy(&mut self, node: Node, kspan: Span) {
        if let Some((_, first)) = &self.settings {
            let at = self.sources.location(*first);
            self.diags.push(
                Diagnostic::error(kspan, "[policy] is declared more than once").hint(format!(
                    "the first one is at {at}; keep one [policy] table per rule set"
                )),
            );
            return;
        }
        let mut s = Settings::default();
        let Some(entries) = self.expect_table(node, "[policy]") else {
            return;
        };
        for (key, kspan2, v) in entries {
            self.policy_values.push((key.clone(), v.span));
            match key.as_str() {
                "default" => {
                    if let Some(d) = self.choice(
                        v,
                        "default",
                        &[("allow", Default::Allow), ("forbid", Default::Forbid)],
                    ) {
                        s.default = d;
                    }
                }
                "reveal" => {
                    if let Some(r) = self.choice(
                        v,
                        "reveal level",
                        &[
                            ("none", Reveal::None),
                            ("reason", Reveal::Reason),
                            ("detail", Reveal::Detail),
                        ],
                    ) {
                        s.reveal = r;
                    }
                }
                "www_authenticate" => {
                    if let Some((w, span)) = self.string(v, "www_authenticate") {
                        if w.is_empty() || w.bytes().any(|b| b < 0x20 || b == 0x7f) {
                            self.diags.push(Diagnostic::error(span, "`www_authenticate` must be a non-empty header value without control characters").hint("e.g. 'Bearer realm=\"api\"'"));
                        } else {
                            s.www_authenticate = w;
                        }
                    }
                }
                "rate_limit_status" => {
                    if let Some(n) = self.int(&v, "rate_limit_status") {
                        if matches!(n, 429 | 403 | 503) {
                            s.rate_limit_status = n as u16;
                        } else {
                            self.diags.push(Diagnostic::error(v.span, format!("{n} is not an allowed rate-limit status")).hint("use 429 (the standard), or 403 or 503 if your clients expect them"));
                        }
                    }
                }
                "preflight_exempt" => {
                    if let Some(b) = self.boolean(&v, "preflight_exempt") {
                        s.preflight_exempt = b;
                    }
                }
                "request_id_header" => {
                    if let Some((h, span)) = self.string(v, "request_id_header") {
                        if h.is_empty() || is_header_name(&h) {
                            s.request_id_header = (!h.is_empty()).then(|| h.to_ascii_lowercase());
                        } else {
                            self.diags.push(
                                Diagnostic::error(span, format!("{h:?} is not a header name"))
                                    .hint("header names are tokens, e.g. \"x-request-id\"; \"\" turns request ids from headers off"),
                            );
                        }
                    }
                }
                "rate_limit_max_keys" => {
                    if let Some(n) = self.int(&v, "rate_limit_max_keys") {
                        match usize::try_from(n) {
                            Ok(n) if n >= 1 => s.rate_limit_max_keys = n,
                            _ => self.diags.push(
                                Diagnostic::error(
                                    v.span,
                                    "`rate_limit_max_keys` must be at least 1",
                                )
                                .hint("the default is 100000"),
                            ),
                        }
                    }
                }
                "max_expression_depth" => {
                    if let Some(n) = self.int(&v, "max_expression_depth") {
                        match usize::try_from(n) {
                            Ok(n @ 1..=1000) => s.max_expression_depth = n,
                            _ => self.diags.push(
                                Diagnostic::error(
                                    v.span,
                                    "`max_expression_depth` must be between 1 and 1000",
                                )
                                .hint("the default is 64"),
                            ),
                        }
                    }
                }
                "on_oversize" => {
                    if let Some(o) = self.choice(
                        v,
                        "on_oversize",
                        &[("forbid", OnOversize::Forbid), ("allow", OnOversize::Allow)],
                    ) {
                        s.on_oversize = o;
                    }
                }
                "windows_paths" => {
                    if let Some(b) = self.boolean(&v, "windows_paths") {
                        s.windows_paths = b;
                    }
                }
                "on_ambiguous_path" => {
                    if let Some(o) = self.choice(
                        v,
                        "on_ambiguous_path",
                        &[
                            ("forbid", OnAmbiguousPath::Forbid),
                            ("rewrite", OnAmbiguousPath::Rewrite),
                        ],
                    ) {
                        s.on_ambiguous_path = o;
                    }
                }
                "uri_too_long_status" | "headers_too_large_status" => {
                    if let Some(n) = self.int(&v, &key) {
                        match u16::try_from(n) {
                            Ok(n @ 400..=599) if key == "uri_too_long_status" => s.uri_too_long_status = n,
                            Ok(n @ 400..=599) => s.headers_too_large_status = n,
                            _ => self.diags.push(Diagnostic::error(v.span, format!("{n} is not an error status")).hint("a refusal's status is between 400 and 599; the defaults are 414 and 431")),
                        }
                    }
                }
                other if limit_setting(&mut s, other).is_some() => {
                    if let Some(n) = self.int(&v, other) {
                        let default =
                            limit_setting(&mut Settings::default(), other).map_or(0, |l| *l);
                        match (usize::try_from(n), limit_setting(&mut s, other)) {
                            (Ok(n), Some(slot)) if n >= 1 => *slot = n,
                            _ => self.diags.push(
                                Diagnostic::error(v.span, format!("`{other}` must be at least 1"))
                                    .hint(format!("the default is {default}")),
                            ),
                        }
                    }
                }
                other => self.unknown_key(
                    other,
                    kspan2,
                    &[
                        "default",
                        "reveal",
                        "www_authenticate",
                        "rate_limit_status",
                        "preflight_exempt",
                        "request_id_header",
                        "rate_limit_max_keys",
                        "max_expression_depth",
                        "max_list_items",
                        "max_patterns",
                        "max_pattern_len",
                        "max_regex_bytes",
                        "max_regex_cache_bytes",
                        "max_literal_dfa_bytes",
                        "max_uri_bytes",
                        "max_header_count",
                        "max_header_bytes",
                        "on_oversize",
                        "uri_too_long_status",
                        "headers_too_large_status",
                        "on_ambiguous_path",
                        "windows_paths",
                    ],
                ),
            }
        }
        self.settings = Some((s, kspan));
    }

    fn lists(&mut self, node: Node, dir: &Path) {
        let Some(entries) = self.expect_table(node, "[lists]") else {
            return;
        };
        for (name, nspan, v) in entries {
            if !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                || name.is_empty()
            {
                self.diags.push(
                    Diagnostic::error(nspan, format!("`{name}` is not a valid list name"))
                        .hint("list names use letters, digits, `_` and `-`"),
                );
                continue;
            }
            if let Some(&ListId(prev)) = self.list_names.get(&name) {
                let at = self
                    .lists
                    .get(prev as usize)
                    .map(|l| self.sources.location(l.span))
                    .unwrap_or_default();
                self.diags.push(
                    Diagnostic::error(nspan, format!("list `{name}` is declared twice"))
                        .hint(format!("the first declaration is at {at}")),
                );
                continue;
            }
            if let Some(list) = self.list(&name, nspan, v, dir) {
                let id = ListId(u32::try_from(self.lists.len()).unwrap_or(u32::MAX));
                self.list_names.insert(name, id);
                self.lists.push(list);
                self.list_used.push(false);
            }
        }
    }

    fn list(&mut self, name: &str, nspan: Span, node: Node, dir: &Path) -> Option<List> {
        let tspan = node.span;
        let entries = self.expect_table(node, "a list")?;
        let mut kind = None;
        let mut case_insensitive = false;
        let mut items: Option<Vec<(String, Span)>> = None;
        for (key, kspan, v) in entries {
            match key.as_str() {
                "kind" => {
                    kind = self.choice(
                        v,
                        "list kind",
                        &[
                            ("ip", ListKind::Ip),
                            ("string", ListKind::String),
                            ("pattern", ListKind::Pattern),
                            ("regex", ListKind::Regex),
                        ],
                    )
                }
                "case" => {
                    case_insensitive = self
                        .choice(v, "case", &[("sensitive", false), ("insensitive", true)])
                        .unwrap_or(false);
                }
                "items" => match v.value {
                    Value::Array(arr) => {
                        let mut out = Vec::new();
                        for item in arr {
                            if let Some(s) = self.string(item, "list item") {
                                out.push(s);
                            }
                        }
                        items.get_or_insert_with(Vec::new).extend(out);
                    }
                    ref other => self.diags.push(
                        Diagnostic::error(
                            v.span,
                            format!(
                                "`items` must be an array of strings, found {}",
                                other.kind()
                            ),
                        )
                        .hint("e.g. items = [\"10.0.0.0/8\"]"),
                    ),
                },
                "file" => {
                    let vspan = v.span;
                    if let Some((f, _)) = self.string(v, "file") {
                        let path = dir.join(&f);
                        if let Some(why) = self.opts.list_file_refusal(dir, &f, &path) {
                            items.get_or_insert_with(Vec::new);
                            self.diags.push(Diagnostic::error(vspan, why).hint(
                                "keep list files beside the rules, or let the embedder allow another directory (LoadOptions::allow_list_root)",
                            ));
                        } else if let Some(text) = self.read(&path) {
                            let file = self.sources.add(&path, text.clone());
                            let out = items.get_or_insert_with(Vec::new);
                            for (entry, range) in list_file_entries(&text) {
                                out.push((entry.to_string(), Span::new(file, range)));
                            }
                        } else {
                            // Declare the list (empty) so the read error is not followed by
                            // "has neither `items` nor `file`" and "unknown list" errors.
                            items.get_or_insert_with(Vec::new);
                            // An I/O error has no place yet: put it on the `file` key. (A list
                            // file that is not UTF-8 already points into that file.)
                            if let Some(d) = self.diags.last_mut().filter(|d| d.span().is_none()) {
                                let msg = format!("{} (the `file` of list `{name}`, resolved relative to the rule file)", d.message());
                                *d = Diagnostic::error(kspan, msg).hint("list files are resolved relative to the rule file that names them");
                            }
                        }
                    }
                }
                other => self.unknown_key(other, kspan, &["kind", "items", "file", "case"]),
            }
        }
        let Some(kind) = kind else {
            self.diags.push(
                Diagnostic::error(nspan, format!("list `{name}` has no `kind`"))
                    .hint("add kind = \"ip\", \"string\", \"pattern\" or \"regex\""),
            );
            return None;
        };
        let Some(raw) = items else {
            self.diags.push(
                Diagnostic::error(
                    tspan,
                    format!("list `{name}` has neither `items` nor `file`"),
                )
                .hint(
                    "give its entries inline (items = [...]) or in a file (file = \"lists/x.txt\")",
                ),
            );
            return None;
        };
        // A file that is not a list at all (a binary, the wrong file) would otherwise echo
        // itself line by line into the error and the server's reload log.
        let mut bad = BadEntries::default();
        let items = match kind {
            ListKind::Ip => {
                let mut nets = Vec::with_capacity(raw.len());
                for (s, span) in raw {
                    let s = s
                        .split_once(char::is_whitespace)
                        .map_or(s.as_str(), |(a, _)| a);
                    match parse_net(s) {
                        Ok(n) => nets.push(n),
                        Err(e) => bad.push(
                            &mut self.diags,
                            Diagnostic::error(span, e).hint(
                                "one IPv4 or IPv6 address or CIDR per entry, e.g. 10.0.0.0/8",
                            ),
                        ),
                    }
                }
                ListItems::Ip(nets)
            }
            ListKind::Regex => {
                for (s, span) in &raw {
                    if let Err(e) = check_regex(s) {
                        bad.push(&mut self.diags, Diagnostic::error(*span, format!("invalid regex: {e}")).hint("regexes use the syntax of the regex crate (no look-around or back-references)"));
                    } else if s.is_empty() {
                        self.diags.push(
                            Diagnostic::warning(
                                *span,
                                format!("empty regex in list `{name}` matches every value"),
                            )
                            .hint(
                                "remove the entry, or anchor it: ^$ matches only the empty value",
                            ),
                        );
                    }
                }
                ListItems::Str(raw.into_iter().map(|(s, _)| s).collect())
            }
            ListKind::Pattern => {
                for (s, span) in &raw {
                    if s.is_empty() {
                        self.diags.push(
                            Diagnostic::warning(
                                *span,
                                format!("empty pattern in list `{name}` matches every value"),
                            )
                            .hint(
                                "remove the entry: every value contains, starts and ends with \"\"",
                            ),
                        );
                    }
                }
                ListItems::Str(raw.into_iter().map(|(s, _)| s).collect())
            }
            ListKind::String => ListItems::Str(raw.into_iter().map(|(s, _)| s).collect()),
        };
        bad.finish(&mut self.diags, name, nspan);
        Some(List {
            name: name.to_string(),
            kind,
            case_insensitive,
            items,
            span: nspan,
            anonymous: false,
        })
    }

    fn rule(&mut self, node: Node) {
        let tspan = node.span;
        let Some(entries) = self.expect_table(node, "a rule") else {
            return;
        };
        let mut id: Option<(String, Span)> = None;
        let mut when = None;
        let mut action = None;
        let mut action_span = tspan;
        let mut rule = Rule {
            id: String::new(),
            when: Expr::Const(true),
            action: Action::Log,
            reason: None,
            hide: false,
            status: None,
            mode: Mode::Enforce,
            priority: 0,
            tags: Vec::new(),
            rate_limit: None,
            span: tspan,
        };
        let mut rl_node = None;
        let mut status_span = tspan;
        let mut hide_span = tspan;
        for (key, kspan, v) in entries {
            match key.as_str() {
                "id" => id = self.string(v, "id"),
                "when" => {
                    if let Some((s, span)) = self.string(v, "when") {
                        let base =
                            string_base(self.sources.slice(span), &s).map(|off| span.start + off);
                        when = Some((s, SpanMap { node: span, base }));
                    }
                }
                "action" => {
                    action_span = v.span;
                    action = self.choice(
                        v,
                        "action",
                        &[
                            ("allow", Action::Allow),
                            ("forbid", Action::Forbid),
                            ("rate_limit", Action::RateLimit),
                            ("log", Action::Log),
                        ],
                    );
                }
                "reason" => rule.reason = self.string(v, "reason").map(|s| s.0),
                "hide" => {
                    hide_span = v.span;
                    rule.hide = self.boolean(&v, "hide").unwrap_or(false);
                }
                "status" => {
                    status_span = v.span;
                    if let Some(n) = self.int(&v, "status") {
                        if (400..=599).contains(&n) {
                            rule.status = Some(n as u16);
                        } else {
                            self.diags.push(
                                Diagnostic::error(v.span, format!("{n} is not an error status"))
                                    .hint("a refusal's status is between 400 and 599"),
                            );
                        }
                    }
                }
                "mode" => {
                    rule.mode = self
                        .choice(
                            v,
                            "mode",
                            &[("enforce", Mode::Enforce), ("shadow", Mode::Shadow)],
                        )
                        .unwrap_or(Mode::Enforce)
                }
                "priority" => rule.priority = self.int(&v, "priority").unwrap_or(0),
                "tags" => match v.value {
                    Value::Array(arr) => {
                        for t in arr {
                            if let Some((s, _)) = self.string(t, "tag") {
                                rule.tags.push(s);
                            }
                        }
                    }
                    ref o => self.diags.push(
                        Diagnostic::error(
                            v.span,
                            format!("`tags` must be an array of strings, found {}", o.kind()),
                        )
                        .hint("e.g. tags = [\"owasp\"]"),
                    ),
                },
                "rate_limit" => rl_node = Some(v),
                other => self.unknown_key(
                    other,
                    kspan,
                    &[
                        "id",
                        "when",
                        "action",
                        "reason",
                        "hide",
                        "status",
                        "mode",
                        "priority",
                        "tags",
                        "rate_limit",
                    ],
                ),
            }
        }
        let Some((id, id_span)) = id else {
            self.diags.push(
                Diagnostic::error(tspan, "a rule has no `id`")
                    .hint("give every rule a unique id, e.g. id = \"block-scanners\""),
            );
            return;
        };
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
        {
            self.diags.push(
                Diagnostic::error(id_span, format!("`{id}` is not a valid rule id"))
                    .hint("ids use letters, digits, `-`, `_`, `.` and `:`"),
            );
        }
        if let Some(&first) = self.rule_ids.get(&id) {
            let at = self.sources.location(first);
            self.diags.push(
                Diagnostic::error(id_span, format!("duplicate rule id `{id}`")).hint(format!(
                    "the first rule with this id is at {at}; ids must be unique"
                )),
            );
        } else {
            self.rule_ids.insert(id.clone(), id_span);
        }
        rule.id = id;
        rule.span = id_span;
        match action {
            Some(a) => rule.action = a,
            None if !self
                .diags
                .iter()
                .any(|d| d.span().is_some_and(|s| s == action_span)) =>
            {
                self.diags.push(
                    Diagnostic::error(id_span, format!("rule `{}` has no `action`", rule.id))
                        .hint("add action = \"allow\", \"forbid\", \"rate_limit\" or \"log\""),
                );
            }
            None => {}
        }
        if when.is_none() {
            self.diags.push(
                Diagnostic::error(
                    id_span,
                    format!("rule `{}` has no `when` condition", rule.id),
                )
                .hint("add when = '…'; write when = \"true\" for a rule that always applies"),
            );
        }
        if rule.hide && rule.action != Action::Forbid {
            self.diags.push(
                Diagnostic::error(hide_span, "`hide` only applies to `forbid` rules")
                    .hint("remove it, or make the rule forbid"),
            );
        }
        if rule.status.is_some() && matches!(rule.action, Action::Allow | Action::Log) {
            self.diags.push(
                Diagnostic::error(
                    status_span,
                    format!("a `{}` rule sends no status", rule.action.name()),
                )
                .hint("`status` overrides the answer of forbid and rate_limit rules"),
            );
        }
        match (rule.action, rl_node) {
            (Action::RateLimit, Some(n)) => rule.rate_limit = self.rate_limit(n),
            (Action::RateLimit, None) => self.diags.push(
                Diagnostic::error(action_span, "a rate_limit rule needs a `rate_limit` table")
                    .hint("add rate_limit = { key = [\"ip\"], limit = 10, period = \"1m\" }"),
            ),
            (_, Some(n)) => self.diags.push(
                Diagnostic::error(
                    n.span,
                    "`rate_limit` only applies to rules with action = \"rate_limit\"",
                )
                .hint("change the action or remove the table"),
            ),
            (_, None) => {}
        }
        self.pending.push(PendingRule { rule, when });
    }

    fn rate_limit(&mut self, node: Node) -> Option<RateLimit> {
        let tspan = node.span;
        let entries = self.expect_table(node, "`rate_limit`")?;
        let (mut key, mut limit, mut period, mut burst) = (None, None, None, None);
        let (mut v4, mut v6) = (32u8, 64u8);
        for (k, kspan, v) in entries {
            match k.as_str() {
                "key" => match v.value {
                    Value::Array(arr) => {
                        let mut keys = Vec::new();
                        for item in arr {
                            if let Some((s, span)) = self.string(item, "key") {
                                match parse_rate_key(&s) {
                                    Some(k) => keys.push(k),
                                    None => self.diags.push(Diagnostic::error(span, format!("`{s}` is not a rate-limit key")).hint("keys are \"ip\", \"header[\\\"name\\\"]\", \"auth.subject\" and \"attr[\\\"name\\\"]\"")),
                                }
                            }
                        }
                        key = Some(keys);
                    }
                    ref o => self.diags.push(
                        Diagnostic::error(
                            v.span,
                            format!("`key` must be an array of strings, found {}", o.kind()),
                        )
                        .hint("e.g. key = [\"ip\"]"),
                    ),
                },
                "limit" => {
                    limit = self.int(&v, "limit").and_then(|n| match u32::try_from(n) {
                        Ok(n) if n >= 1 => Some(n),
                        _ => {
                            self.diags.push(
                                Diagnostic::error(v.span, "`limit` must be at least 1")
                                    .hint("to refuse every request, use a forbid rule"),
                            );
                            None
                        }
                    })
                }
                "burst" => {
                    burst = self.int(&v, "burst").and_then(|n| match u32::try_from(n) {
                        Ok(n) if n >= 1 => Some(n),
                        _ => {
                            self.diags.push(
                                Diagnostic::error(v.span, "`burst` must be at least 1").hint(
                                    "burst is how many requests an idle key may send at once",
                                ),
                            );
                            None
                        }
                    })
                }
                "period" => {
                    let span = v.span;
                    let parsed = match &v.value {
                        Value::Str(s) => parse_period(s),
                        Value::Int(n) if *n > 0 => Some(Duration::from_secs(*n as u64)),
                        _ => None,
                    };
                    match parsed {
                        Some(d) => period = Some(d),
                        None => self.diags.push(Diagnostic::error(span, "bad period").hint("write a positive duration such as \"500ms\", \"10s\", \"1m\", \"1h\" or \"1d\" (at most 30 days)")),
                    }
                }
                "ipv4_prefix" | "ipv6_prefix" => {
                    let max = if k == "ipv4_prefix" { 32 } else { 128 };
                    if let Some(n) = self.int(&v, &k) {
                        match u8::try_from(n) {
                            Ok(n) if (1..=max).contains(&n) => {
                                if max == 32 {
                                    v4 = n
                                } else {
                                    v6 = n
                                }
                            }
                            _ => self.diags.push(
                                Diagnostic::error(
                                    v.span,
                                    format!("`{k}` must be between 1 and {max}"),
                                )
                                .hint(
                                    "the prefix length rate-limit keys are cut to, e.g. 24 or 64",
                                ),
                            ),
                        }
                    }
                }
                other => self.unknown_key(
                    other,
                    kspan,
                    &[
                        "key",
                        "limit",
                        "period",
                        "burst",
                        "ipv4_prefix",
                        "ipv6_prefix",
                    ],
                ),
            }
        }
        let mut key = key.unwrap_or_else(|| {
            vec![RateKey::Ip {
                v4_prefix: 32,
                v6_prefix: 64,
            }]
        });
        for k in &mut key {
            if let RateKey::Ip {
                v4_prefix,
                v6_prefix,
            } = k
            {
                *v4_prefix = v4;
                *v6_prefix = v6;
            }
        }
        let (Some(limit), Some(period)) = (limit, period) else {
            if !self.diags.iter().any(|d| {
                d.severity() == Severity::Error
                    && d.span().is_some_and(|s| {
                        s.start >= tspan.start && s.end <= tspan.end && s.file == tspan.file
                    })
            }) {
                self.diags.push(
                    Diagnostic::error(tspan, "`rate_limit` needs `limit` and `period`")
                        .hint("e.g. rate_limit = { key = [\"ip\"], limit = 10, period = \"1m\" }"),
                );
            }
            return None;
        };
        Some(RateLimit {
            key,
            limit,
            period,
            burst: burst.unwrap_or(limit),
        })
    }

    fn finish(mut self) -> Result<RuleSet, Error> {
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

/// The size limit a `[policy]` key sets, for the keys that are plain positive sizes.
fn limit_setting<'s>(s: &'s mut Settings, key: &str) -> Option<&'s mut usize> {
    Some(match key {
        "max_list_items" => &mut s.max_list_items,
        "max_patterns" => &mut s.max_patterns,
        "max_pattern_len" => &mut s.max_pattern_len,
        "max_regex_bytes" => &mut s.max_regex_bytes,
        "max_regex_cache_bytes" => &mut s.max_regex_cache_bytes,
        "max_literal_dfa_bytes" => &mut s.max_literal_dfa_bytes,
        "max_uri_bytes" => &mut s.max_uri_bytes,
        "max_header_count" => &mut s.max_header_count,
        "max_header_bytes" => &mut s.max_header_bytes,
        _ => return None,
    })
}

/// Offset of a string's value inside its quoted source text, when the value appears there
/// verbatim (no escapes), so positions inside it map exactly.
fn string_base(raw: &str, value: &str) -> Option<u32> {
    [1usize, 3, 4, 5].into_iter().find_map(|skip| {
        let inner = raw.get(skip..skip + value.len())?;
        (inner == value).then_some(skip as u32)
    })
}

fn parse_rate_key(s: &str) -> Option<RateKey> {
    let bracket = |prefix: &str| -> Option<String> {
        let inner = s
            .strip_prefix(prefix)?
            .strip_prefix("[\"")?
            .strip_suffix("\"]")?;
        (!inner.is_empty()).then(|| inner.to_string())
    };
    match s {
        "ip" => Some(RateKey::Ip {
            v4_prefix: 32,
            v6_prefix: 64,
        }),
        "auth.subject" => Some(RateKey::AuthSubject),
        _ => bracket("header")
            .map(|h| RateKey::Header(h.to_ascii_lowercase()))
            .or_else(|| bracket("attr").map(RateKey::Attr)),
    }
}

/// `"500ms"`, `"10s"`, `"1m"`, `"1h"`, `"1d"`: positive and at most 30 days.
pub(crate) fn parse_period(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let ms = match unit {
        "ms" => n,
        "s" => n.checked_mul(1000)?,
        "m" => n.checked_mul(60_000)?,
        "h" => n.checked_mul(3_600_000)?,
        "d" => n.checked_mul(86_400_000)?,
        _ => return None,
    };
    (1..=30 * 86_400_000)
        .contains(&ms)
        .then(|| Duration::from_millis(ms))
}

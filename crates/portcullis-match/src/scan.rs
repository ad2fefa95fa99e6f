//! Field scanners: every pattern on one field, answered in one pass.
//!
//! A [`Scanner`] splits its patterns by how they are best matched:
//!
//! * literal `Contains`, `StartsWith` and `EndsWith` patterns share one
//!   aho-corasick automaton searched with overlapping semantics, so every
//!   occurrence of every literal is seen; anchoring is checked from the match
//!   position. When any literal is case-insensitive the automaton is ASCII
//!   case-insensitive and case-sensitive literals are confirmed against the
//!   haystack bytes, which keeps it to one automaton and one pass;
//! * `Equals` patterns sit in a hash table keyed by a hash of the
//!   ASCII-lowercased bytes (computed without copying the haystack);
//! * regexes share one regex-automata meta regex (`MatchKind::All`), asked
//!   for the set of patterns that match anywhere. A regex whose every match
//!   starts with one of a few literals of 3 bytes or more (`sqlmap/\d+`,
//!   `(?:nikto|nessus)[ /]`) is *gated*: its literals join the aho-corasick
//!   automaton, it is compiled on its own, and it runs only when the literal
//!   pass saw one of its literals. On typical traffic (no scanner names in
//!   the user agent) no gated regex runs at all, and an attacker who puts
//!   every literal in a field pays one small regex per gated pattern, not a
//!   giant automaton. Other regexes (`\w+bot`) share the meta regex, run on
//!   every scan;
//! * regexes that are plain literals, possibly anchored (`admin`, `^/api/`,
//!   `\.php$`, `^GET$`), are lowered to the literal kinds first: a literal
//!   costs far less than a regex in the set;
//! * empty `Contains`/`StartsWith`/`EndsWith` literals always match and are
//!   set without looking at the haystack.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use aho_corasick::{AhoCorasick, AhoCorasickKind};
use regex_automata::meta;
use regex_automata::nfa::thompson::{self, WhichCaptures};
use regex_automata::{Input, MatchKind, PatternSet};
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::{Hir, HirKind, Look};

use crate::error::{ScanError, ScanErrorKind};
use crate::MatchSet;

/// How a pattern is matched against a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PatternKind {
    /// The field contains the pattern (`str::contains`).
    Contains,
    /// The field starts with the pattern (`str::starts_with`).
    StartsWith,
    /// The field ends with the pattern (`str::ends_with`).
    EndsWith,
    /// The field is the pattern (`==`).
    Equals,
    /// The regex matches somewhere in the field (an unanchored search;
    /// regex-automata syntax, Unicode-aware by default).
    Regex,
}

/// Size limits of a [`Scanner`], checked by [`ScannerBuilder::build`].
///
/// They bound what a rule file can make the engine compile and hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanLimits {
    /// Most patterns one scanner takes. Default: 100,000.
    pub max_patterns: usize,
    /// Longest pattern, in bytes. Default: 4,096.
    pub max_pattern_len: usize,
    /// Most heap bytes the regexes of one scanner may compile to: the NFAs
    /// of the shared regex, and the whole of each gated regex. Default:
    /// 64 MiB (about 2,500 user-agent regexes with Unicode classes such as
    /// `\w` and `\d`).
    pub regex_size_limit: usize,
    /// Most heap bytes of lazy DFA cache, per compiled regex and
    /// [`ScanScratch`] (the shared regex and each gated regex that ran have
    /// their own); past it the cache is reset, and if that happens too often
    /// the search falls back to a slower (still linear-time) engine.
    /// Default: 2 MiB.
    pub dfa_size_limit: usize,
    /// Most heap bytes the literal automaton may take as a DFA, its fastest
    /// form; a larger literal set gets aho-corasick's compact NFA instead
    /// (about 1.5x slower). Default: 32 MiB (about 13,000 user-agent
    /// literals).
    pub literal_dfa_size_limit: usize,
}

impl Default for ScanLimits {
    fn default() -> Self {
        ScanLimits {
            max_patterns: 100_000,
            max_pattern_len: 4096,
            regex_size_limit: 64 * (1 << 20),
            dfa_size_limit: 2 * (1 << 20),
            literal_dfa_size_limit: 32 * (1 << 20),
        }
    }
}

/// Collects the patterns of one field, then builds a [`Scanner`].
///
/// ```
/// use portcullis_match::{MatchSet, PatternKind, ScannerBuilder};
///
/// let scanner = ScannerBuilder::new()
///     .add(0, PatternKind::Contains, "sqlmap", true)
///     .add(1, PatternKind::StartsWith, "curl/", false)
///     .add(2, PatternKind::Regex, r"nikto|nessus", true)
///     .build()?;
/// let mut scratch = scanner.scratch();
/// let mut hits = scanner.match_set();
/// scanner.scan("SQLMap/1.7 (Nikto)", &mut scratch, &mut hits);
/// assert_eq!(hits.iter().collect::<Vec<_>>(), [0, 2]);
/// # Ok::<(), portcullis_match::ScanError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct ScannerBuilder {
    limits: ScanLimits,
    patterns: Vec<Pattern>,
}

#[derive(Clone, Debug)]
struct Pattern {
    id: u32,
    kind: PatternKind,
    text: String,
    case_insensitive: bool,
}

impl ScannerBuilder {
    /// A builder with default [`ScanLimits`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the size limits.
    pub fn limits(&mut self, limits: ScanLimits) -> &mut Self {
        self.limits = limits;
        self
    }

    /// Adds a pattern; a match sets bit `id` of the [`MatchSet`].
    ///
    /// `case_insensitive` means ASCII case-insensitive for the literal kinds
    /// and the `(?i)` flag (Unicode case folding) for [`PatternKind::Regex`].
    /// Several patterns may share an id: the bit is set if any matches.
    pub fn add(
        &mut self,
        id: u32,
        kind: PatternKind,
        pattern: &str,
        case_insensitive: bool,
    ) -> &mut Self {
        self.patterns.push(Pattern {
            id,
            kind,
            text: pattern.to_owned(),
            case_insensitive,
        });
        self
    }

    /// Number of patterns added.
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    /// Whether no pattern was added.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Compiles the patterns.
    ///
    /// Fails, naming the pattern, on an invalid regex, a pattern longer than
    /// [`ScanLimits::max_pattern_len`], more than
    /// [`ScanLimits::max_patterns`] patterns, or regexes that together
    /// exceed [`ScanLimits::regex_size_limit`].
    pub fn build(&self) -> Result<Scanner, ScanError> {
        let limits = self.limits;
        if let Some(p) = self.patterns.get(limits.max_patterns) {
            return Err(ScanError::new(
                ScanErrorKind::TooManyPatterns {
                    max: limits.max_patterns,
                },
                Some(p.id),
            ));
        }
        let mut literals = LiteralsBuilder::default();
        let mut equals = EqualsBuilder::default();
        let mut gated = RegexesBuilder::default();
        let mut ungated = RegexesBuilder::default();
        let mut always = Vec::new();
        let mut max_id = None;
        for p in &self.patterns {
            if p.text.len() > limits.max_pattern_len {
                return Err(ScanError::new(
                    ScanErrorKind::PatternTooLong {
                        len: p.text.len(),
                        max: limits.max_pattern_len,
                    },
                    Some(p.id),
                ));
            }
            max_id = max_id.max(Some(p.id));
            let lowered;
            let (kind, text, ci) = match p.kind {
                PatternKind::Regex => {
                    let hir = parse_regex(&p.text, p.case_insensitive).map_err(|message| {
                        ScanError::new(ScanErrorKind::InvalidRegex { message }, Some(p.id))
                    })?;
                    match lower_to_literal(&hir) {
                        Some((kind, text)) => {
                            lowered = text;
                            (kind, lowered.as_str(), false)
                        }
                        None => {
                            match gate_literals(&hir, p.case_insensitive) {
                                Some(gate) => {
                                    let index = gated.add(p.id, &p.text, p.case_insensitive, hir);
                                    for lit in gate {
                                        literals.add(index, Anchor::Gate, lit, p.case_insensitive);
                                    }
                                }
                                None => {
                                    ungated.add(p.id, &p.text, p.case_insensitive, hir);
                                }
                            }
                            continue;
                        }
                    }
                }
                kind => (kind, p.text.as_str(), p.case_insensitive),
            };
            match kind {
                PatternKind::Equals => equals.add(p.id, text, ci),
                _ if text.is_empty() => always.push(p.id),
                PatternKind::StartsWith => literals.add(p.id, Anchor::Start, text.into(), ci),
                PatternKind::EndsWith => literals.add(p.id, Anchor::End, text.into(), ci),
                _ => literals.add(p.id, Anchor::None, text.into(), ci),
            }
        }
        always.sort_unstable();
        always.dedup();
        let ungated = ungated.build(&limits)?;
        let ungated_bytes = ungated
            .as_ref()
            .map_or(0, |r| r.regex.memory_usage() + r.any.memory_usage());
        Ok(Scanner {
            token: NEXT_TOKEN.fetch_add(1, Ordering::Relaxed),
            always: always.into_boxed_slice(),
            literals: literals.build(limits.literal_dfa_size_limit)?,
            equals: equals.build(),
            ungated,
            gated: gated.build_each(&limits, ungated_bytes)?,
            max_id,
        })
    }
}

/// Tells scratch values apart, so a scratch made by another scanner is
/// detected and rebuilt instead of confusing the regex engine.
static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

/// The compiled patterns of one field. Immutable, `Send + Sync`, cheap to
/// clone (the automata are shared).
///
/// See [`ScannerBuilder`] for an example.
#[derive(Clone, Debug)]
pub struct Scanner {
    token: u64,
    always: Box<[u32]>,
    literals: Option<Literals>,
    equals: Option<Equals>,
    /// Regexes run on every scan.
    ungated: Option<Regexes>,
    /// Regexes run, each on its own, only when the literal pass saw one of
    /// their gates.
    gated: Box<[Gated]>,
    max_id: Option<u32>,
}

/// Per-thread scratch space for [`Scanner::scan`]: the regex caches.
///
/// Make one per thread with [`Scanner::scratch`] and reuse it; a scan then
/// allocates nothing. Passing the scratch of another scanner works, but
/// rebuilds it (allocating) first.
#[derive(Clone, Debug)]
pub struct ScanScratch {
    token: u64,
    ungated: Option<RegexScratch>,
    /// Cache of each gated regex, made on its first run.
    gated: Vec<Option<meta::Cache>>,
    /// The gated regexes whose gate the current scan saw.
    candidates: MatchSet,
}

#[derive(Clone, Debug)]
struct RegexScratch {
    cache: meta::Cache,
    any_cache: meta::Cache,
    patset: PatternSet,
}

impl Scanner {
    /// A builder; same as [`ScannerBuilder::new`].
    pub fn builder() -> ScannerBuilder {
        ScannerBuilder::new()
    }

    /// Fresh scratch space for [`scan`](Scanner::scan).
    pub fn scratch(&self) -> ScanScratch {
        ScanScratch {
            token: self.token,
            ungated: self.ungated.as_ref().map(Regexes::scratch),
            gated: vec![None; self.gated.len()],
            candidates: MatchSet::new(self.gated.len()),
        }
    }

    /// Bytes held by the compiled regexes (not their per-thread caches): what
    /// [`ScanLimits::regex_size_limit`] bounds.
    pub fn regex_memory(&self) -> usize {
        let ungated = self
            .ungated
            .as_ref()
            .map_or(0, |r| r.regex.memory_usage() + r.any.memory_usage());
        self.gated
            .iter()
            .fold(ungated, |n, g| n.saturating_add(g.regex.memory_usage()))
    }

    /// A [`MatchSet`] with room for every id of this scanner.
    pub fn match_set(&self) -> MatchSet {
        MatchSet::new(self.max_id.map_or(0, |id| id as usize + 1))
    }

    /// The largest pattern id, or `None` without patterns.
    pub fn max_id(&self) -> Option<u32> {
        self.max_id
    }

    /// Heap bytes of the literal automaton, as aho-corasick reports them.
    pub fn literal_memory_bytes(&self) -> usize {
        self.literals
            .as_ref()
            .map_or(0, |l| l.automaton.memory_usage())
    }

    /// Heap bytes of the regexes, as regex-automata reports them.
    pub fn regex_memory_bytes(&self) -> usize {
        let gated: usize = self.gated.iter().map(|g| g.regex.memory_usage()).sum();
        gated + self.ungated.as_ref().map_or(0, |r| r.regex.memory_usage())
    }

    /// Sets bit `id` in `out` for every pattern `haystack` satisfies. Bits
    /// already set stay set, so one set can collect several fields.
    ///
    /// Allocates nothing once `scratch` is warm and `out` has room for
    /// [`max_id`](Scanner::max_id) (see [`match_set`](Scanner::match_set)).
    pub fn scan(&self, haystack: &str, scratch: &mut ScanScratch, out: &mut MatchSet) {
        for &id in self.always.iter() {
            out.insert(id);
        }
        if scratch.token != self.token {
            *scratch = self.scratch();
        }
        let gate_open = match &self.literals {
            Some(literals) => literals.scan(haystack, out, &mut scratch.candidates),
            None => false,
        };
        if let Some(equals) = &self.equals {
            equals.scan(haystack, out);
        }
        if let (Some(regexes), Some(scratch)) = (&self.ungated, &mut scratch.ungated) {
            regexes.scan(haystack, scratch, out);
        }
        if gate_open {
            for index in scratch.candidates.iter() {
                let (Some(gated), Some(cache)) = (
                    self.gated.get(index as usize),
                    scratch.gated.get_mut(index as usize),
                ) else {
                    continue;
                };
                if gated.ids.iter().all(|&id| out.contains(id)) {
                    continue;
                }
                let cache = cache.get_or_insert_with(|| gated.regex.create_cache());
                let input = Input::new(haystack).earliest(true);
                if gated.regex.search_half_with(cache, &input).is_some() {
                    out.extend(gated.ids.iter().copied());
                }
            }
            scratch.candidates.clear();
        }
    }
}

// ---------------------------------------------------------------------------
// Literals: one aho-corasick automaton.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Anchor {
    None,
    Start,
    End,
    /// Not a pattern: a gate literal of the gated regex numbered `id`.
    Gate,
}

#[derive(Clone, Debug)]
struct LiteralTarget {
    id: u32,
    anchor: Anchor,
    /// The exact bytes to confirm, for a case-sensitive literal in an ASCII
    /// case-insensitive automaton. `None`: any case variant matches.
    exact: Option<Box<[u8]>>,
}

#[derive(Default)]
struct LiteralsBuilder {
    /// Automaton pattern -> its targets; keys are ASCII-lowercased when the
    /// automaton is case-insensitive, which is only known at the end, so
    /// collect raw first.
    raw: Vec<(u32, Anchor, Vec<u8>, bool)>,
}

impl LiteralsBuilder {
    /// Adds a literal. `text` is bytes because gate literals may end inside
    /// a UTF-8 sequence; pattern literals are whole strings.
    fn add(&mut self, id: u32, anchor: Anchor, text: Vec<u8>, ci: bool) {
        self.raw.push((id, anchor, text, ci));
    }

    fn build(self, dfa_limit: usize) -> Result<Option<Literals>, ScanError> {
        if self.raw.is_empty() {
            return Ok(None);
        }
        let any_ci = self.raw.iter().any(|(_, _, _, ci)| *ci);
        let mut keys: Vec<Vec<u8>> = Vec::new();
        let mut key_index: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut targets: Vec<Vec<LiteralTarget>> = Vec::new();
        for (id, anchor, text, ci) in self.raw {
            let key = if any_ci {
                text.to_ascii_lowercase()
            } else {
                text.clone()
            };
            // A case-sensitive literal needs confirming only if the
            // automaton folds case and the literal has letters to fold. A
            // gate may over-approximate, so it never needs confirming.
            let exact = (any_ci
                && !ci
                && anchor != Anchor::Gate
                && text.iter().any(|b| b.is_ascii_alphabetic()))
            .then(|| text.into_boxed_slice());
            let index = *key_index.entry(key.clone()).or_insert_with(|| {
                keys.push(key);
                targets.push(Vec::new());
                keys.len() - 1
            });
            let target = LiteralTarget { id, anchor, exact };
            if let Some(list) = targets.get_mut(index) {
                let duplicate = list.iter().any(|t| {
                    t.id == target.id && t.anchor == target.anchor && t.exact == target.exact
                });
                if !duplicate {
                    list.push(target);
                }
            }
        }
        let build = |kind| {
            AhoCorasick::builder()
                .ascii_case_insensitive(any_ci)
                .match_kind(aho_corasick::MatchKind::Standard)
                .kind(kind)
                .build(&keys)
        };
        // A DFA scans about 1.5x faster than the NFA aho-corasick picks
        // past ~100 patterns, at ~250 bytes per pattern byte; take it while
        // it fits the limit (estimated first, so a huge set is never built
        // as a DFA just to be thrown away).
        let key_bytes: usize = keys.iter().map(Vec::len).sum();
        let dfa = (key_bytes.saturating_mul(256) <= dfa_limit)
            .then(|| build(Some(AhoCorasickKind::DFA)).ok())
            .flatten()
            .filter(|ac| ac.memory_usage() <= dfa_limit);
        let automaton = match dfa {
            Some(ac) => ac,
            None => build(None).map_err(|e| {
                ScanError::new(
                    ScanErrorKind::Automaton {
                        message: e.to_string(),
                    },
                    None,
                )
            })?,
        };
        let mut flat = Vec::new();
        let mut spans = Vec::with_capacity(targets.len());
        for list in targets {
            spans.push((flat.len() as u32, list.len() as u32));
            flat.extend(list);
        }
        Ok(Some(Literals {
            automaton,
            targets: flat.into_boxed_slice(),
            spans: spans.into_boxed_slice(),
        }))
    }
}

#[derive(Clone, Debug)]
struct Literals {
    automaton: AhoCorasick,
    targets: Box<[LiteralTarget]>,
    /// Automaton pattern id -> `(start, len)` in `targets`.
    spans: Box<[(u32, u32)]>,
}

impl Literals {
    /// Sets the literal patterns found and adds the gated regexes whose gate
    /// was seen to `candidates`; returns whether there are any.
    #[inline]
    fn scan(&self, haystack: &str, out: &mut MatchSet, candidates: &mut MatchSet) -> bool {
        let mut gate_open = false;
        let bytes = haystack.as_bytes();
        for m in self.automaton.find_overlapping_iter(haystack) {
            let Some(&(start, len)) = self.spans.get(m.pattern().as_usize()) else {
                continue;
            };
            let start = start as usize;
            let targets = self.targets.get(start..start + len as usize).unwrap_or(&[]);
            for t in targets {
                let anchored = match t.anchor {
                    Anchor::None => true,
                    Anchor::Start => m.start() == 0,
                    Anchor::End => m.end() == bytes.len(),
                    Anchor::Gate => {
                        gate_open = true;
                        candidates.insert(t.id);
                        continue;
                    }
                };
                if !anchored {
                    continue;
                }
                if let Some(exact) = &t.exact {
                    if bytes.get(m.start()..m.end()) != Some(&exact[..]) {
                        continue;
                    }
                }
                out.insert(t.id);
            }
        }
        gate_open
    }
}

// ---------------------------------------------------------------------------
// Equals: a hash table keyed by the hash of the ASCII-lowercased bytes.

#[derive(Default)]
struct EqualsBuilder {
    entries: Vec<(u32, String, bool)>,
}

impl EqualsBuilder {
    fn add(&mut self, id: u32, text: &str, ci: bool) {
        self.entries.push((id, text.to_owned(), ci));
    }

    fn build(mut self) -> Option<Equals> {
        if self.entries.is_empty() {
            return None;
        }
        self.entries.sort();
        self.entries.dedup();
        let max_len = self
            .entries
            .iter()
            .map(|(_, t, _)| t.len())
            .max()
            .unwrap_or(0);
        let mut by_hash: HashMap<u64, Vec<EqualsTarget>> = HashMap::new();
        for (id, text, ci) in self.entries {
            by_hash
                .entry(caseless_hash(text.as_bytes()))
                .or_default()
                .push(EqualsTarget {
                    id,
                    text: text.into_bytes().into_boxed_slice(),
                    case_insensitive: ci,
                });
        }
        let mut targets = Vec::new();
        let mut table = HashMap::with_capacity_and_hasher(by_hash.len(), Default::default());
        for (hash, list) in by_hash {
            table.insert(hash, (targets.len() as u32, list.len() as u32));
            targets.extend(list);
        }
        Some(Equals {
            table,
            targets: targets.into_boxed_slice(),
            max_len,
        })
    }
}

#[derive(Clone, Debug)]
struct EqualsTarget {
    id: u32,
    text: Box<[u8]>,
    case_insensitive: bool,
}

#[derive(Clone, Debug)]
struct Equals {
    /// Caseless hash -> `(start, len)` in `targets`. The keys are already
    /// hashes, so the table's own hasher passes them through. Attackers pick
    /// haystacks, not patterns: a collision costs one extra comparison.
    table: HashMap<u64, (u32, u32), BuildHasherDefault<PassThrough>>,
    targets: Box<[EqualsTarget]>,
    max_len: usize,
}

impl Equals {
    #[inline]
    fn scan(&self, haystack: &str, out: &mut MatchSet) {
        let bytes = haystack.as_bytes();
        if bytes.len() > self.max_len {
            return;
        }
        let Some(&(start, len)) = self.table.get(&caseless_hash(bytes)) else {
            return;
        };
        let start = start as usize;
        for t in self.targets.get(start..start + len as usize).unwrap_or(&[]) {
            let equal = if t.case_insensitive {
                t.text.eq_ignore_ascii_case(bytes)
            } else {
                t.text[..] == *bytes
            };
            if equal {
                out.insert(t.id);
            }
        }
    }
}

/// A hasher for keys that are already hashes.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(K);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

const K: u64 = 0xf135_7aea_2e62_a9c5;

/// A hash of `bytes` ASCII-lowercased, eight bytes at a time, without
/// copying them.
fn caseless_hash(bytes: &[u8]) -> u64 {
    let mut h = (bytes.len() as u64).wrapping_mul(K);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = (h.rotate_left(26) ^ ascii_lower_word(u64::from_le_bytes(word))).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut word = [0u8; 8];
        for (w, b) in word.iter_mut().zip(rest) {
            *w = *b;
        }
        h = (h.rotate_left(26) ^ ascii_lower_word(u64::from_le_bytes(word))).wrapping_mul(K);
    }
    // Final mix so the low bits (used by the table) depend on every byte.
    h ^= h >> 32;
    h = h.wrapping_mul(K);
    h ^ (h >> 29)
}

/// ASCII-lowercases the eight bytes of `word` at once (bytes >= 0x80 are
/// left alone, as `u8::to_ascii_lowercase` does).
#[inline]
fn ascii_lower_word(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low7 = word & !HIGH;
    // High bit of each byte: low7 >= 'A', then low7 > 'Z'.
    let ge_a = low7 + (0x80 - u64::from(b'A')) * ONES;
    let gt_z = low7 + (0x80 - u64::from(b'Z') - 1) * ONES;
    let upper = ge_a & !gt_z & !word & HIGH;
    word | (upper >> 2)
}

// ---------------------------------------------------------------------------
// Regexes: one meta regex over all of them.

/// Parses `pattern` as regex-automata's `meta::Regex` would.
fn parse_regex(pattern: &str, case_insensitive: bool) -> Result<Hir, String> {
    regex_syntax::ParserBuilder::new()
        .case_insensitive(case_insensitive)
        .build()
        .parse(pattern)
        .map_err(|e| {
            // regex-syntax errors span several lines (pattern, caret,
            // message); the last line is the message.
            let full = e.to_string();
            full.lines()
                .last()
                .unwrap_or("")
                .trim_start_matches("error: ")
                .to_owned()
        })
}

/// The literal kind and text equivalent to `hir`, if it is a literal,
/// optionally anchored at `\A` and/or `\z`.
fn lower_to_literal(hir: &Hir) -> Option<(PatternKind, String)> {
    fn unwrap_captures(hir: &Hir) -> &Hir {
        match hir.kind() {
            HirKind::Capture(c) => unwrap_captures(&c.sub),
            _ => hir,
        }
    }
    let hir = unwrap_captures(hir);
    let parts: &[Hir] = match hir.kind() {
        HirKind::Concat(parts) => parts,
        _ => std::slice::from_ref(hir),
    };
    let mut parts: Vec<&Hir> = parts.iter().map(unwrap_captures).collect();
    let is_look = |h: &Hir, look: Look| matches!(h.kind(), HirKind::Look(l) if *l == look);
    let start = parts.first().is_some_and(|h| is_look(h, Look::Start));
    if start {
        parts.remove(0);
    }
    let end = parts.last().is_some_and(|h| is_look(h, Look::End));
    if end {
        parts.pop();
    }
    let mut text = Vec::new();
    for part in parts {
        match part.kind() {
            HirKind::Literal(lit) => text.extend_from_slice(&lit.0),
            HirKind::Empty => {}
            _ => return None,
        }
    }
    let text = String::from_utf8(text).ok()?;
    let kind = match (start, end) {
        (false, false) => PatternKind::Contains,
        (true, false) => PatternKind::StartsWith,
        (false, true) => PatternKind::EndsWith,
        (true, true) => PatternKind::Equals,
    };
    Some((kind, text))
}

/// Most literals a regex's gate may have, and the shortest: a gate that
/// big or that short would open on most haystacks (and slow the literal
/// pass with matches) for little gain.
const MAX_GATE_LITERALS: usize = 64;
const MIN_GATE_LEN: usize = 3;

/// Literals one of which starts every match of `hir`, if there are few
/// and long enough ones. Sound by construction of regex-syntax's prefix
/// extraction: a haystack containing none of them cannot match.
///
/// For a case-insensitive regex the literals are ASCII-lowercased and
/// deduplicated (its gate goes into an ASCII case-insensitive automaton),
/// so `(?i)googlebot` is a handful of gates, not 512 case variants.
fn gate_literals(hir: &Hir, case_insensitive: bool) -> Option<Vec<Vec<u8>>> {
    let seq = Extractor::new()
        .kind(ExtractKind::Prefix)
        .limit_total(1024)
        .extract(hir);
    let mut literals: Vec<Vec<u8>> = seq
        .literals()?
        .iter()
        .map(|l| {
            if case_insensitive {
                l.as_bytes().to_ascii_lowercase()
            } else {
                l.as_bytes().to_vec()
            }
        })
        .collect();
    literals.sort_unstable();
    literals.dedup();
    let usable = !literals.is_empty()
        && literals.len() <= MAX_GATE_LITERALS
        && literals.iter().all(|l| l.len() >= MIN_GATE_LEN);
    usable.then_some(literals)
}

#[derive(Default)]
struct RegexesBuilder {
    hirs: Vec<Hir>,
    /// Regex index -> ids sharing it.
    ids: Vec<Vec<u32>>,
    seen: HashMap<(String, bool), usize>,
}

impl RegexesBuilder {
    /// Adds a regex; returns its index (shared by duplicates).
    fn add(&mut self, id: u32, text: &str, ci: bool, hir: Hir) -> u32 {
        let index = *self.seen.entry((text.to_owned(), ci)).or_insert_with(|| {
            self.hirs.push(hir);
            self.ids.push(Vec::new());
            self.ids.len() - 1
        });
        if let Some(ids) = self.ids.get_mut(index) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        u32::try_from(index).unwrap_or(u32::MAX)
    }

    fn config(limits: &ScanLimits, kind: MatchKind) -> meta::Config {
        meta::Config::new()
            .match_kind(kind)
            .which_captures(WhichCaptures::None)
            .nfa_size_limit(Some(limits.regex_size_limit))
            .dfa_size_limit(Some(limits.regex_size_limit))
            .hybrid_cache_capacity(limits.dfa_size_limit)
    }

    /// Compiles each regex on its own (the gated ones). Their sizes add up,
    /// with `used` bytes before them, against [`ScanLimits::regex_size_limit`].
    fn build_each(self, limits: &ScanLimits, used: usize) -> Result<Box<[Gated]>, ScanError> {
        let mut total = used;
        let mut gated = Vec::with_capacity(self.hirs.len());
        for (hir, ids) in self.hirs.iter().zip(self.ids) {
            let id = ids.first().copied();
            // Implicit captures: without them meta's half searches (all a
            // yes/no answer needs) may come back empty.
            let config = Self::config(limits, MatchKind::LeftmostFirst)
                .which_captures(WhichCaptures::Implicit);
            let regex = meta::Builder::new()
                .configure(config)
                .build_from_hir(hir)
                .map_err(|e| {
                    let kind = match e.size_limit() {
                        Some(limit) => ScanErrorKind::RegexTooBig { limit },
                        None => ScanErrorKind::InvalidRegex {
                            message: e.to_string(),
                        },
                    };
                    ScanError::new(kind, id)
                })?;
            total = total.saturating_add(regex.memory_usage());
            if total > limits.regex_size_limit {
                return Err(ScanError::new(
                    ScanErrorKind::RegexTooBig {
                        limit: limits.regex_size_limit,
                    },
                    id,
                ));
            }
            gated.push(Gated {
                regex,
                ids: ids.into_boxed_slice(),
            });
        }
        Ok(gated.into_boxed_slice())
    }

    fn build(self, limits: &ScanLimits) -> Result<Option<Regexes>, ScanError> {
        if self.hirs.is_empty() {
            return Ok(None);
        }
        let regex = match meta::Builder::new()
            .configure(Self::config(limits, MatchKind::All))
            .build_many_from_hir(&self.hirs)
        {
            Ok(regex) => regex,
            Err(e) => {
                let culprit = self.culprit(limits.regex_size_limit);
                let pattern_id = culprit
                    .and_then(|i| self.ids.get(i))
                    .and_then(|ids| ids.first().copied());
                let kind = match e.size_limit() {
                    Some(limit) => ScanErrorKind::RegexTooBig { limit },
                    None => ScanErrorKind::InvalidRegex {
                        message: e.to_string(),
                    },
                };
                return Err(ScanError::new(kind, pattern_id));
            }
        };
        // The same set for "does any match?": a leftmost-first regex answers with an
        // earliest forward search, which an all-matches regex cannot run.
        // Implicit captures: without them meta's half searches may come back empty.
        let any = meta::Builder::new()
            .configure(
                Self::config(limits, MatchKind::LeftmostFirst)
                    .which_captures(WhichCaptures::Implicit),
            )
            .build_many_from_hir(&self.hirs)
            .map_err(|e| {
                let kind = match e.size_limit() {
                    Some(limit) => ScanErrorKind::RegexTooBig { limit },
                    None => ScanErrorKind::InvalidRegex {
                        message: e.to_string(),
                    },
                };
                ScanError::new(kind, self.ids.first().and_then(|ids| ids.first().copied()))
            })?;
        // Each NFA was within the limit; the two regexes together must be too.
        if regex.memory_usage().saturating_add(any.memory_usage()) > limits.regex_size_limit {
            let culprit = self.culprit(limits.regex_size_limit / 2).unwrap_or(0);
            return Err(ScanError::new(
                ScanErrorKind::RegexTooBig {
                    limit: limits.regex_size_limit,
                },
                self.ids.get(culprit).and_then(|ids| ids.first().copied()),
            ));
        }
        Ok(Some(Regexes {
            regex,
            any,
            ids: self.ids.into_iter().map(Vec::into_boxed_slice).collect(),
        }))
    }

    /// The first regex whose NFAs, together with the ones before it, exceed
    /// `limit`: a binary search over prefixes of the list, only run on the
    /// error path. The meta regex compiles a forward and a reverse NFA;
    /// either may be the one over the limit.
    fn culprit(&self, limit: usize) -> Option<usize> {
        let fits = |n: usize| {
            let hirs = self.hirs.get(..n).unwrap_or(&[]);
            [false, true].iter().all(|&reverse| {
                thompson::Compiler::new()
                    .configure(
                        thompson::Config::new()
                            .which_captures(WhichCaptures::None)
                            .nfa_size_limit(Some(limit))
                            .reverse(reverse)
                            .shrink(false),
                    )
                    .build_many_from_hir(hirs)
                    .is_ok()
            })
        };
        if fits(self.hirs.len()) {
            return None;
        }
        // Invariant: fits(lo) and !fits(hi).
        let (mut lo, mut hi) = (0, self.hirs.len());
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if fits(mid) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(hi - 1)
    }
}

/// A gated regex, compiled on its own.
#[derive(Clone, Debug)]
struct Gated {
    regex: meta::Regex,
    /// Pattern ids it sets.
    ids: Box<[u32]>,
}

#[derive(Clone, Debug)]
struct Regexes {
    regex: meta::Regex,
    /// The same regexes, leftmost-first: a cheap "does any match?" before `regex`.
    any: meta::Regex,
    /// Regex pattern id -> pattern ids it sets.
    ids: Box<[Box<[u32]>]>,
}

impl Regexes {
    fn scratch(&self) -> RegexScratch {
        RegexScratch {
            cache: self.regex.create_cache(),
            any_cache: self.any.create_cache(),
            patset: PatternSet::new(self.ids.len()),
        }
    }

    #[inline]
    fn scan(&self, haystack: &str, scratch: &mut RegexScratch, out: &mut MatchSet) {
        // Most fields match no regex: an earliest-match search stops at the first match and
        // spares the costlier overlapping search that finds which ones matched.
        let input = Input::new(haystack).earliest(true);
        if self
            .any
            .search_half_with(&mut scratch.any_cache, &input)
            .is_none()
        {
            return;
        }
        scratch.patset.clear();
        self.regex.which_overlapping_matches_with(
            &mut scratch.cache,
            &Input::new(haystack),
            &mut scratch.patset,
        );
        for pid in scratch.patset.iter() {
            for &id in self.ids.get(pid.as_usize()).map_or(&[][..], |ids| &ids[..]) {
                out.insert(id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(scanner: &Scanner, haystack: &str) -> Vec<u32> {
        let mut scratch = scanner.scratch();
        let mut out = scanner.match_set();
        scanner.scan(haystack, &mut scratch, &mut out);
        out.iter().collect()
    }

    #[test]
    fn swar_lowercase_matches_std() {
        for b in 0..=255u8 {
            let word = u64::from_le_bytes([b, b'A', b'z', b'@', b'[', 0x80 | b'A', b'Z', 0xff]);
            let lower = ascii_lower_word(word).to_le_bytes();
            let expect = word.to_le_bytes().map(|c| c.to_ascii_lowercase());
            assert_eq!(lower, expect, "byte {b:#x}");
        }
    }

    #[test]
    fn caseless_hash_ignores_ascii_case_only() {
        assert_eq!(
            caseless_hash(b"Hello World, Long"),
            caseless_hash(b"hELLO wORLD, lONG")
        );
        assert_ne!(caseless_hash(b"abc"), caseless_hash(b"abd"));
        assert_ne!(caseless_hash(b"ab"), caseless_hash(b"ab\0"));
        assert_ne!(caseless_hash("é".as_bytes()), caseless_hash("É".as_bytes()));
    }

    #[test]
    fn literal_regexes_are_lowered() {
        let lower = |p: &str| lower_to_literal(&parse_regex(p, false).unwrap());
        assert_eq!(lower("abc"), Some((PatternKind::Contains, "abc".into())));
        assert_eq!(
            lower("^/api/"),
            Some((PatternKind::StartsWith, "/api/".into()))
        );
        assert_eq!(
            lower(r"\.php$"),
            Some((PatternKind::EndsWith, ".php".into()))
        );
        assert_eq!(lower("^(GET)$"), Some((PatternKind::Equals, "GET".into())));
        assert_eq!(lower(""), Some((PatternKind::Contains, String::new())));
        assert_eq!(lower("^$"), Some((PatternKind::Equals, String::new())));
        assert_eq!(lower("a+"), None);
        assert_eq!(lower("(?m)^a"), None);
        assert_eq!(lower("^^a"), None);
        // Unicode case folding is not ASCII folding: stays a regex.
        assert_eq!(lower_to_literal(&parse_regex("k", true).unwrap()), None);
    }

    #[test]
    fn gates_are_prefix_literals_long_and_few_enough() {
        let gate = |p: &str, ci| {
            gate_literals(&parse_regex(p, ci).unwrap(), ci).map(|mut lits| {
                lits.sort();
                lits.into_iter()
                    .map(|l| String::from_utf8(l).unwrap())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(gate(r"sqlmap/\d+", false), Some(vec!["sqlmap/".to_owned()]));
        assert_eq!(
            gate(r"(?:nikto|nessus)[ /]", false),
            Some(
                ["nessus ", "nessus/", "nikto ", "nikto/"]
                    .map(String::from)
                    .to_vec()
            )
        );
        assert_eq!(gate(r"\bwget\b", false), Some(vec!["wget".to_owned()]));
        assert_eq!(gate(r"(?i)bot", false).map(|l| l.len()), Some(8));
        assert_eq!(gate(r"bot", true), Some(vec!["bot".to_owned()]));
        // Unicode folding keeps the long s (U+017F) apart from ASCII s.
        assert_eq!(gate(r"googlebot/\d", true).map(|l| l.len()), Some(1));
        assert_eq!(gate(r"sqlmap", true).map(|l| l.len()), Some(2));
        assert_eq!(gate(r"\w+bot", false), None);
        assert_eq!(gate(r"ab|abcd", false), None);
        assert_eq!(gate(r"x?yz", false), None);
    }

    #[test]
    fn gated_regexes_run_only_behind_their_gate() {
        let scanner = ScannerBuilder::new()
            .add(0, PatternKind::Regex, r"sqlmap/\d+", true)
            .add(1, PatternKind::Regex, r"[0-9]+x", false)
            .build()
            .unwrap();
        assert!(scanner.gated.len() == 1 && scanner.ungated.is_some());
        assert_eq!(scan(&scanner, "SQLMap/17 9x"), [0, 1]);
        assert_eq!(scan(&scanner, "sqlmap/ 9x"), [1]);
        assert!(scan(&scanner, "curl").is_empty());
    }

    #[test]
    fn kinds_anchor_where_they_should() {
        let scanner = ScannerBuilder::new()
            .add(0, PatternKind::Contains, "ab", false)
            .add(1, PatternKind::StartsWith, "ab", false)
            .add(2, PatternKind::EndsWith, "ab", false)
            .add(3, PatternKind::Equals, "ab", false)
            .add(4, PatternKind::Equals, "AB", true)
            .add(5, PatternKind::Contains, "AB", false)
            .add(6, PatternKind::Regex, "a.b", false)
            .build()
            .unwrap();
        assert_eq!(scan(&scanner, "ab"), [0, 1, 2, 3, 4]);
        assert_eq!(scan(&scanner, "xab"), [0, 2]);
        assert_eq!(scan(&scanner, "abx"), [0, 1]);
        assert_eq!(scan(&scanner, "aXb"), [6]);
        assert_eq!(scan(&scanner, "Ab"), [4]);
        assert_eq!(scan(&scanner, "xABx"), [5]);
    }

    #[test]
    fn empty_literals_follow_str_semantics() {
        let scanner = ScannerBuilder::new()
            .add(0, PatternKind::Contains, "", false)
            .add(1, PatternKind::StartsWith, "", true)
            .add(2, PatternKind::EndsWith, "", false)
            .add(3, PatternKind::Equals, "", false)
            .build()
            .unwrap();
        assert_eq!(scan(&scanner, ""), [0, 1, 2, 3]);
        assert_eq!(scan(&scanner, "x"), [0, 1, 2]);
    }

    #[test]
    fn errors_name_the_pattern() {
        let err = ScannerBuilder::new()
            .add(7, PatternKind::Regex, "a(", false)
            .build()
            .unwrap_err();
        assert_eq!(err.pattern_id(), Some(7));
        assert!(
            err.to_string().starts_with("pattern 7: invalid regex"),
            "{err}"
        );

        let limits = ScanLimits {
            max_patterns: 1,
            ..ScanLimits::default()
        };
        let err = ScannerBuilder::new()
            .limits(limits)
            .add(1, PatternKind::Contains, "a", false)
            .add(2, PatternKind::Contains, "b", false)
            .build()
            .unwrap_err();
        assert_eq!(err.pattern_id(), Some(2));
        assert!(err.is_limit());
        assert_eq!(
            err.to_string(),
            "pattern 2: too many patterns (the limit is 1)"
        );

        let limits = ScanLimits {
            max_pattern_len: 3,
            ..ScanLimits::default()
        };
        let err = ScannerBuilder::new()
            .limits(limits)
            .add(4, PatternKind::Equals, "abcd", false)
            .build()
            .unwrap_err();
        assert_eq!(err.pattern_id(), Some(4));
        assert_eq!(
            err.to_string(),
            "pattern 4: pattern is 4 bytes long (the limit is 3)"
        );

        let limits = ScanLimits {
            regex_size_limit: 20_000,
            ..ScanLimits::default()
        };
        let err = ScannerBuilder::new()
            .limits(limits)
            .add(1, PatternKind::Regex, "a[0-9]", false)
            .add(2, PatternKind::Regex, r"\w{50}", false)
            .add(3, PatternKind::Regex, "b[0-9]", false)
            .build()
            .unwrap_err();
        assert_eq!(err.pattern_id(), Some(2));
        assert!(err.is_limit());
        assert!(err.to_string().contains("size limit"), "{err}");
    }

    #[test]
    fn scratch_of_another_scanner_is_rebuilt() {
        let a = ScannerBuilder::new()
            .add(0, PatternKind::Regex, "a+b", false)
            .build()
            .unwrap();
        let b = ScannerBuilder::new()
            .add(0, PatternKind::Regex, "x", false)
            .add(1, PatternKind::Regex, "y+z", false)
            .build()
            .unwrap();
        let mut scratch = a.scratch();
        let mut out = MatchSet::new(2);
        b.scan("yyz", &mut scratch, &mut out);
        assert_eq!(out.iter().collect::<Vec<_>>(), [1]);
    }
}

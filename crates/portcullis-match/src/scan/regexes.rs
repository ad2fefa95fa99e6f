//! Regex patterns: lowering literal regexes, extracting gates, and the set of ungated
//! regexes beside the gated ones compiled on their own.

use std::collections::HashMap;
use std::sync::Arc;

use regex_automata::hybrid;
use regex_automata::meta;
use regex_automata::nfa::thompson::{self, pikevm::PikeVM, WhichCaptures};
use regex_automata::{Input, MatchKind, PatternSet};
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::{Hir, HirKind, Look};

use super::{PatternKind, RegexScratch, ScanLimits};
use crate::error::{ScanError, ScanErrorKind};
use crate::{MatchSet, PatternId};

/// Parses `pattern` as regex-automata's `meta::Regex` would.
pub(crate) fn parse_regex(pattern: &str, case_insensitive: bool) -> Result<Hir, String> {
    // `utf8(false)`: a pattern may match bytes (`(?-u)\xff`), as SecLang's `@rx` does;
    // the rule files' own regexes are checked to match UTF-8 before they get here.
    regex_syntax::ParserBuilder::new()
        .case_insensitive(case_insensitive)
        .utf8(false)
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
pub(crate) fn lower_to_literal(hir: &Hir) -> Option<(PatternKind, String)> {
    pub(super) fn unwrap_captures(hir: &Hir) -> &Hir {
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
pub(super) fn gate_literals(hir: &Hir, case_insensitive: bool) -> Option<Vec<Vec<u8>>> {
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

pub(super) type FirstMatch = Arc<regex_automata::dfa::dense::DFA<Vec<u32>>>;

/// What the scanners of one policy share as they are built: the same regex on several
/// fields (OWASP CRS puts most of its on arguments, their names, cookies and XML alike) is
/// parsed once, and compiled once, alone or in the same set.
#[derive(Clone, Debug, Default)]
pub struct CompileCache {
    parsed: HashMap<RegexKey, ParseResult>,
    gated: HashMap<(String, bool), meta::Regex>,
    ungated: HashMap<Vec<(String, bool)>, RegexSet>,
    /// Literal automata by keys and case folding.
    pub(super) literals: HashMap<(Vec<Vec<u8>>, bool), aho_corasick::AhoCorasick>,
    /// First-match DFAs of literal sets, by keys and case folding.
    pub(super) first_match: HashMap<(Vec<Vec<u8>>, bool), Option<FirstMatch>>,
}

/// A regex as written, and whether it ignores case.
type RegexKey = (String, bool);
/// A regex parsed, or why it cannot be.
type ParseResult = Result<Arc<Parsed>, String>;

/// A regex parsed, and what the scanner makes of it.
#[derive(Debug)]
pub(super) struct Parsed {
    pub(super) hir: Arc<Hir>,
    /// [`lower_to_literal`]
    pub(super) literal: Option<(PatternKind, String)>,
    /// [`gate_literals`]
    pub(super) gate: Option<Vec<Vec<u8>>>,
}

impl Parsed {
    /// [`parse_regex`], [`lower_to_literal`] and [`gate_literals`].
    fn new(pattern: &str, case_insensitive: bool) -> Result<Arc<Parsed>, String> {
        let hir = parse_regex(pattern, case_insensitive)?;
        let literal = lower_to_literal(&hir);
        let gate = match literal {
            Some(_) => None,
            None => gate_literals(&hir, case_insensitive),
        };
        Ok(Arc::new(Parsed {
            hir: Arc::new(hir),
            literal,
            gate,
        }))
    }
}

impl CompileCache {
    /// Bytes held by the regexes compiled so far, each counted once however many
    /// scanners share it.
    #[must_use]
    pub fn regex_bytes(&self) -> usize {
        let sets = self.ungated.values().map(RegexSet::memory_usage);
        self.gated
            .values()
            .map(meta::Regex::memory_usage)
            .chain(sets)
            .fold(0, usize::saturating_add)
    }

    /// [`Parsed::new`], remembered.
    pub(super) fn parse(
        &mut self,
        pattern: &str,
        case_insensitive: bool,
    ) -> Result<Arc<Parsed>, String> {
        self.parsed
            .entry((pattern.to_owned(), case_insensitive))
            .or_insert_with(|| Parsed::new(pattern, case_insensitive))
            .clone()
    }

    /// Parses the regexes of `builders` not parsed yet, on the machine's cores (up to 4):
    /// parsing and gating CRS's large regexes is a third of compiling it, and each regex
    /// is parsed on its own. The builds after it find them parsed.
    pub fn prepare<'b>(&mut self, builders: impl IntoIterator<Item = &'b super::ScannerBuilder>) {
        let mut todo: Vec<(String, bool)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for b in builders {
            for p in b.patterns.iter().filter(|p| p.kind == PatternKind::Regex) {
                let key = (p.text.clone(), p.case_insensitive);
                if p.text.len() <= b.limits.max_pattern_len
                    && !self.parsed.contains_key(&key)
                    && seen.insert(key.clone())
                {
                    todo.push(key);
                }
            }
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        if threads < 2 || todo.len() < 2 * threads {
            return;
        }
        // Round robin: CRS's regexes run from a few bytes to 11 KB, in file order.
        let done: Vec<Vec<(RegexKey, ParseResult)>> = std::thread::scope(|s| {
            let todo = &todo;
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    s.spawn(move || {
                        todo.iter()
                            .skip(t)
                            .step_by(threads)
                            .map(|(p, ci)| ((p.clone(), *ci), Parsed::new(p, *ci)))
                            .collect()
                    })
                })
                .collect();
            // A thread that failed leaves its regexes to be parsed when built.
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        self.parsed.extend(done.into_iter().flatten());
    }
}

#[derive(Default)]
pub(super) struct RegexesBuilder {
    pub(super) hirs: Vec<Arc<Hir>>,
    /// Each regex as written, and whether case-insensitive: its key in the cache.
    pub(super) texts: Vec<(String, bool)>,
    /// Regex index -> ids sharing it.
    pub(super) ids: Vec<Vec<PatternId>>,
    pub(super) seen: HashMap<(String, bool), usize>,
}

impl RegexesBuilder {
    /// Adds a regex; returns its index (shared by duplicates).
    pub(super) fn add(&mut self, id: PatternId, text: &str, ci: bool, hir: Arc<Hir>) -> u32 {
        let index = *self.seen.entry((text.to_owned(), ci)).or_insert_with(|| {
            self.hirs.push(hir);
            self.texts.push((text.to_owned(), ci));
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

    pub(super) fn config(limits: &ScanLimits, kind: MatchKind) -> meta::Config {
        meta::Config::new()
            .match_kind(kind)
            .which_captures(WhichCaptures::None)
            .nfa_size_limit(Some(limits.regex_size_limit))
            .dfa_size_limit(Some(limits.regex_size_limit))
            .hybrid_cache_capacity(limits.dfa_size_limit)
    }

    /// Compiles each regex on its own (the gated ones). Their sizes add up,
    /// with `used` bytes before them, against [`ScanLimits::regex_size_limit`].
    pub(super) fn build_each(
        self,
        limits: &ScanLimits,
        used: usize,
        cache: &mut CompileCache,
    ) -> Result<Box<[Gated]>, ScanError> {
        let mut total = used;
        let mut gated = Vec::with_capacity(self.hirs.len());
        for ((hir, ids), text) in self.hirs.iter().zip(self.ids).zip(self.texts) {
            let id = ids.first().copied();
            let regex = match cache.gated.get(&text) {
                Some(regex) => regex.clone(),
                None => {
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
                    cache.gated.insert(text, regex.clone());
                    regex
                }
            };
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

    /// Compiles the ungated regexes into one set: a single forward NFA, searched by a lazy
    /// DFA and, where that gives up, a PikeVM. A set is only asked which of its regexes
    /// match, never where, so it needs none of what a meta regex adds for match bounds
    /// (a reverse NFA, a literal prefilter): building those was most of compiling CRS.
    pub(super) fn build(
        self,
        limits: &ScanLimits,
        cache: &mut CompileCache,
    ) -> Result<Option<Regexes>, ScanError> {
        if self.hirs.is_empty() {
            return Ok(None);
        }
        let ids: Box<[Box<[PatternId]>]> = self
            .ids
            .iter()
            .map(|ids| ids.clone().into_boxed_slice())
            .collect();
        if let Some(set) = cache.ungated.get(&self.texts) {
            return Ok(Some(Regexes {
                set: set.clone(),
                ids,
            }));
        }
        let nfa = thompson::Compiler::new()
            .configure(
                thompson::Config::new()
                    .which_captures(WhichCaptures::None)
                    .nfa_size_limit(Some(limits.regex_size_limit))
                    .shrink(false),
            )
            .build_many_from_hir(&self.hirs)
            .map_err(|e| {
                let kind = match e.size_limit() {
                    Some(limit) => ScanErrorKind::RegexTooBig { limit },
                    None => ScanErrorKind::InvalidRegex {
                        message: e.to_string(),
                    },
                };
                let culprit = self.culprit(limits.regex_size_limit);
                let id = culprit
                    .and_then(|i| self.ids.get(i))
                    .and_then(|ids| ids.first().copied());
                ScanError::new(kind, id)
            })?;
        let set = RegexSet::new(nfa, limits.dfa_size_limit).map_err(|message| {
            let id = self.ids.first().and_then(|ids| ids.first().copied());
            ScanError::new(ScanErrorKind::InvalidRegex { message }, id)
        })?;
        if set.memory_usage() > limits.regex_size_limit {
            let culprit = self.culprit(limits.regex_size_limit).unwrap_or(0);
            return Err(ScanError::new(
                ScanErrorKind::RegexTooBig {
                    limit: limits.regex_size_limit,
                },
                self.ids.get(culprit).and_then(|ids| ids.first().copied()),
            ));
        }
        cache.ungated.insert(self.texts, set.clone());
        Ok(Some(Regexes { set, ids }))
    }

    /// The first regex whose NFA, together with the ones before it, exceeds
    /// `limit`: a binary search over prefixes of the list, only run on the
    /// error path.
    pub(super) fn culprit(&self, limit: usize) -> Option<usize> {
        let fits = |n: usize| {
            let hirs = self.hirs.get(..n).unwrap_or(&[]);
            thompson::Compiler::new()
                .configure(
                    thompson::Config::new()
                        .which_captures(WhichCaptures::None)
                        .nfa_size_limit(Some(limit))
                        .shrink(false),
                )
                .build_many_from_hir(hirs)
                .is_ok()
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
pub(super) struct Gated {
    pub(super) regex: meta::Regex,
    /// Pattern ids it sets.
    pub(super) ids: Box<[PatternId]>,
}

/// Regexes asked together which of them match anywhere in a haystack.
#[derive(Clone, Debug)]
pub(super) struct RegexSet {
    /// `None` when the NFA cannot be searched lazily (never for CRS); the PikeVM answers.
    dfa: Option<hybrid::dfa::DFA>,
    pikevm: PikeVM,
}

impl RegexSet {
    fn new(nfa: thompson::NFA, cache_capacity: usize) -> Result<RegexSet, String> {
        // As the meta regex configures its lazy DFA: give up on a haystack that thrashes
        // the cache (the PikeVM then answers, still in linear time), and search ASCII
        // haystacks despite a Unicode `\b`.
        let dfa = hybrid::dfa::Builder::new()
            .configure(
                hybrid::dfa::Config::new()
                    .match_kind(MatchKind::All)
                    .cache_capacity(cache_capacity)
                    .skip_cache_capacity_check(true)
                    .unicode_word_boundary(true)
                    .minimum_cache_clear_count(Some(3))
                    .minimum_bytes_per_state(Some(10)),
            )
            .build_from_nfa(nfa.clone())
            .ok();
        let pikevm = PikeVM::builder()
            .configure(PikeVM::config().match_kind(MatchKind::All))
            .build_from_nfa(nfa)
            .map_err(|e| e.to_string())?;
        Ok(RegexSet { dfa, pikevm })
    }

    /// Bytes of the NFA and the DFA's tables, not its per-thread cache.
    pub(super) fn memory_usage(&self) -> usize {
        self.pikevm.get_nfa().memory_usage() + self.dfa.as_ref().map_or(0, |d| d.memory_usage())
    }
}

#[derive(Clone, Debug)]
pub(super) struct Regexes {
    pub(super) set: RegexSet,
    /// Regex pattern id -> pattern ids it sets.
    pub(super) ids: Box<[Box<[PatternId]>]>,
}

impl Regexes {
    pub(super) fn scratch(&self) -> RegexScratch {
        RegexScratch {
            dfa: self.set.dfa.as_ref().map(hybrid::dfa::DFA::create_cache),
            pikevm: self.set.pikevm.create_cache(),
            patset: PatternSet::new(self.ids.len()),
        }
    }

    #[inline]
    pub(super) fn scan(&self, haystack: &str, scratch: &mut RegexScratch, out: &mut MatchSet) {
        scratch.patset.clear();
        let found = match (&self.set.dfa, &mut scratch.dfa) {
            (Some(dfa), Some(cache)) => {
                // Most fields match no regex: an earliest search stops at the first match
                // and spares the costlier overlapping one that finds which ones matched.
                match dfa.try_search_fwd(cache, &Input::new(haystack).earliest(true)) {
                    Ok(None) => return,
                    Ok(Some(_)) => dfa
                        .try_which_overlapping_matches(
                            cache,
                            &Input::new(haystack),
                            &mut scratch.patset,
                        )
                        .is_ok(),
                    Err(_) => false,
                }
            }
            _ => false,
        };
        if !found {
            scratch.patset.clear();
            self.set.pikevm.which_overlapping_matches(
                &mut scratch.pikevm,
                &Input::new(haystack),
                &mut scratch.patset,
            );
        }
        for pid in scratch.patset.iter() {
            for &id in self.ids.get(pid.as_usize()).map_or(&[][..], |ids| &ids[..]) {
                out.insert(id);
            }
        }
    }
}

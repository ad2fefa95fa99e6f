//! Field scanners: every pattern on one field, answered in one pass.
//!
//! A [`Scanner`] splits its patterns by how they are best matched, one submodule per
//! kind (`literals`, `equals`, `regexes`):
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

mod equals;
mod literals;
mod regexes;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use regex_automata::nfa::thompson::pikevm;
use regex_automata::{hybrid, meta};
use regex_automata::{Input, PatternSet};

use crate::error::{ScanError, ScanErrorKind};
use crate::{Detector, MatchSet, PatternId};

use equals::{Equals, EqualsBuilder};
use literals::{Anchor, Literals, LiteralsBuilder};
pub use regexes::CompileCache;
pub(crate) use regexes::{lower_to_literal, parse_regex};
use regexes::{Gated, Regexes, RegexesBuilder};

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
    /// The detector flags the field as an injection ([`Detector::detect`]); the
    /// pattern text and case flag are not read. Scanned with the field, a
    /// detector's verdict is a bit like any pattern's.
    Detect(Detector),
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
    /// the search falls back to a slower (still linear-time) engine; a regex
    /// whose lazy DFA needs more than this to start runs on that engine only.
    /// Also the most a field's literals may take as a first-match DFA, up to
    /// 2 MiB (larger sets use the literal automaton alone).
    /// Default: 2 MiB.
    pub dfa_size_limit: usize,
    /// Most heap bytes the literal automaton may take as a DFA, its fastest
    /// form; a larger literal set gets aho-corasick's compact NFA instead
    /// (about 1.5x slower). Default: 32 MiB (about 13,000 user-agent
    /// literals).
    pub literal_dfa_size_limit: usize,
}

/// Largest first-match DFA of a field's literals, whatever
/// [`ScanLimits::dfa_size_limit`] allows.
const FIRST_MATCH_DFA_MAX: usize = 2 << 20;

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
/// use portcullis_match::{MatchSet, PatternId, PatternKind, ScannerBuilder};
///
/// let scanner = ScannerBuilder::new()
///     .add(PatternId::new(0), PatternKind::Contains, "sqlmap", true)
///     .add(PatternId::new(1), PatternKind::StartsWith, "curl/", false)
///     .add(PatternId::new(2), PatternKind::Regex, r"nikto|nessus", true)
///     .build()?;
/// let mut scratch = scanner.scratch();
/// let mut hits = scanner.match_set();
/// scanner.scan("SQLMap/1.7 (Nikto)", &mut scratch, &mut hits);
/// assert_eq!(hits.iter().map(PatternId::as_u32).collect::<Vec<_>>(), [0, 2]);
/// # Ok::<(), portcullis_match::ScanError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct ScannerBuilder {
    limits: ScanLimits,
    patterns: Vec<Pattern>,
}

#[derive(Clone, Debug)]
struct Pattern {
    id: PatternId,
    kind: PatternKind,
    text: String,
    case_insensitive: bool,
}

impl ScannerBuilder {
    /// A builder with default [`ScanLimits`].
    #[must_use]
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
        id: PatternId,
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
    #[must_use]
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    /// Whether no pattern was added.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Compiles the patterns.
    ///
    /// Fails, naming the pattern, on an invalid regex, a pattern longer than
    /// [`ScanLimits::max_pattern_len`], more than
    /// [`ScanLimits::max_patterns`] patterns, or regexes that together
    /// exceed [`ScanLimits::regex_size_limit`].
    ///
    /// # Errors
    ///
    /// A [`ScanError`] naming the pattern and the limit, as above.
    pub fn build(&self) -> Result<Scanner, ScanError> {
        self.build_shared(&mut CompileCache::default())
    }

    /// [`build`](ScannerBuilder::build), parsing and compiling each regex once across the
    /// scanners built with the same `cache`.
    ///
    /// # Errors
    ///
    /// As [`build`](ScannerBuilder::build).
    pub fn build_shared(&self, cache: &mut CompileCache) -> Result<Scanner, ScanError> {
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
        let mut detectors: Vec<(Detector, Vec<PatternId>)> = Vec::new();
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
            if let PatternKind::Detect(d) = p.kind {
                match detectors.iter_mut().find(|(e, _)| *e == d) {
                    Some((_, ids)) => ids.push(p.id),
                    None => detectors.push((d, vec![p.id])),
                }
                continue;
            }
            let lowered;
            let (kind, text, ci) = match p.kind {
                PatternKind::Regex => {
                    let parsed = cache
                        .parse(&p.text, p.case_insensitive)
                        .map_err(|message| {
                            ScanError::new(ScanErrorKind::InvalidRegex { message }, Some(p.id))
                        })?;
                    match &parsed.literal {
                        Some((kind, text)) => {
                            lowered = text.clone();
                            (*kind, lowered.as_str(), false)
                        }
                        None => {
                            let hir = Arc::clone(&parsed.hir);
                            match &parsed.gate {
                                Some(gate) => {
                                    let index = gated.add(p.id, &p.text, p.case_insensitive, hir);
                                    for lit in gate {
                                        literals.add(
                                            index,
                                            Anchor::Gate,
                                            lit.clone(),
                                            p.case_insensitive,
                                        );
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
                PatternKind::StartsWith => {
                    literals.add(p.id.as_u32(), Anchor::Start, text.into(), ci)
                }
                PatternKind::EndsWith => literals.add(p.id.as_u32(), Anchor::End, text.into(), ci),
                _ => literals.add(p.id.as_u32(), Anchor::None, text.into(), ci),
            }
        }
        always.sort_unstable();
        always.dedup();
        let ungated = ungated.build(&limits, cache)?;
        let ungated_bytes = ungated.as_ref().map_or(0, |r| r.set.memory_usage());
        Ok(Scanner {
            token: NEXT_TOKEN.fetch_add(1, Ordering::Relaxed),
            always: always.into_boxed_slice(),
            // A first-match DFA past a few MiB takes seconds to build (OWASP CRS's phrase
            // files): the literal automaton serves those lists as fast.
            literals: literals.build(
                limits.literal_dfa_size_limit,
                limits.dfa_size_limit.min(FIRST_MATCH_DFA_MAX),
                cache,
            )?,
            equals: equals.build(),
            ungated,
            gated: gated.build_each(&limits, ungated_bytes, cache)?,
            detectors: detectors
                .into_iter()
                .map(|(d, ids)| (d, ids.into_boxed_slice()))
                .collect(),
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
    always: Box<[PatternId]>,
    literals: Option<Literals>,
    equals: Option<Equals>,
    /// Regexes run on every scan.
    ungated: Option<Regexes>,
    /// Regexes run, each on its own, only when the literal pass saw one of
    /// their gates.
    gated: Box<[Gated]>,
    /// Each detector run, once a scan, with the ids of its patterns.
    detectors: Box<[(Detector, Box<[PatternId]>)]>,
    max_id: Option<PatternId>,
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
    dfa: Option<hybrid::dfa::Cache>,
    pikevm: pikevm::Cache,
    patset: PatternSet,
}

impl Scanner {
    /// A builder; same as [`ScannerBuilder::new`].
    #[must_use]
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
    #[must_use]
    pub fn regex_memory(&self) -> usize {
        let ungated = self.ungated.as_ref().map_or(0, |r| r.set.memory_usage());
        self.gated
            .iter()
            .fold(ungated, |n, g| n.saturating_add(g.regex.memory_usage()))
    }

    /// A [`MatchSet`] with room for every id of this scanner.
    #[must_use]
    pub fn match_set(&self) -> MatchSet {
        MatchSet::new(self.max_id.map_or(0, |id| id.as_usize() + 1))
    }

    /// The largest pattern id, or `None` without patterns.
    #[must_use]
    pub fn max_id(&self) -> Option<PatternId> {
        self.max_id
    }

    /// Heap bytes of the literal automaton, as aho-corasick reports them, and of its
    /// first-match DFA (shared with the scanners that have the same literals).
    #[must_use]
    pub fn literal_memory_bytes(&self) -> usize {
        self.literals.as_ref().map_or(0, |l| {
            let dfa = l.first_dfa.as_ref().map_or(0, |d| d.memory_usage());
            l.automaton.memory_usage() + dfa
        })
    }

    /// Heap bytes of the regexes, as regex-automata reports them.
    #[must_use]
    pub fn regex_memory_bytes(&self) -> usize {
        let gated: usize = self.gated.iter().map(|g| g.regex.memory_usage()).sum();
        gated + self.ungated.as_ref().map_or(0, |r| r.set.memory_usage())
    }

    /// Sets bit `id` in `out` for every pattern `haystack` satisfies. Bits
    /// already set stay set, so one set can collect several fields.
    ///
    /// Allocates nothing once `scratch` is warm and `out` has room for
    /// [`max_id`](Scanner::max_id) (see [`match_set`](Scanner::match_set)),
    /// but in a detector: libinjection's tokenizer allocates on the values it
    /// runs on (plain words and numbers, and values it already judged, skip it).
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
                    self.gated.get(index.as_usize()),
                    scratch.gated.get_mut(index.as_usize()),
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
        for (d, ids) in self.detectors.iter() {
            if !ids.iter().all(|&id| out.contains(id)) && d.detect(haystack.as_bytes()) {
                out.extend(ids.iter().copied());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::equals::{ascii_lower_word, caseless_hash};
    use super::regexes::gate_literals;
    use super::*;
    use regex_automata::dfa::Automaton;

    fn scan(scanner: &Scanner, haystack: &str) -> Vec<u32> {
        let mut scratch = scanner.scratch();
        let mut out = scanner.match_set();
        scanner.scan(haystack, &mut scratch, &mut out);
        out.iter().map(PatternId::as_u32).collect()
    }

    #[test]
    fn literal_sets_get_the_first_match_dfa_unless_too_large() {
        let build = |lits: &[(u32, PatternKind, &str)], ci: bool, limits: ScanLimits| {
            let mut b = ScannerBuilder::new();
            b.limits(limits);
            for &(id, kind, l) in lits {
                b.add(PatternId::new(id), kind, l, ci);
            }
            b.build().unwrap()
        };
        let dfa = |s: &Scanner| s.literals.as_ref().is_some_and(|l| l.first_dfa.is_some());
        let list = |lits: &[&'static str]| -> Vec<(u32, PatternKind, &'static str)> {
            lits.iter()
                .map(|&l| (7, PatternKind::Contains, l))
                .collect()
        };
        let caseless = build(
            &list(&["nikto", "sqlmap", "a.b"]),
            true,
            ScanLimits::default(),
        );
        assert!(dfa(&caseless));
        assert_eq!(scan(&caseless, "Mozilla SQLMap/1"), [7]);
        assert_eq!(scan(&caseless, "aXb"), Vec::<u32>::new());
        let exact = build(&list(&["Nikto", "é"]), false, ScanLimits::default());
        assert!(dfa(&exact));
        assert_eq!(scan(&exact, "nikto"), Vec::<u32>::new());
        assert_eq!(scan(&exact, "café"), [7]);
        // Several ids and anchors: the DFA finds where the first occurrence ends, the
        // automaton's overlapping search the rest from there, with or without the DFA.
        let mixed = [
            (1, PatternKind::Contains, "ab"),
            (2, PatternKind::Contains, "b"),
            (3, PatternKind::StartsWith, "b"),
            (4, PatternKind::EndsWith, "xa"),
        ];
        let tiny = ScanLimits {
            dfa_size_limit: 16,
            ..ScanLimits::default()
        };
        for (limits, with_dfa) in [(ScanLimits::default(), true), (tiny, false)] {
            let s = build(&mixed, false, limits);
            assert_eq!(dfa(&s), with_dfa);
            assert_eq!(scan(&s, "xxabxa"), [1, 2, 4]);
            assert_eq!(scan(&s, "bab"), [1, 2, 3]);
            assert_eq!(scan(&s, "xyz"), Vec::<u32>::new());
        }
        // Keys are bytes: a gate literal may end inside a UTF-8 sequence.
        let bytes = literals::first_match_dfa(&[b"a\xc3".to_vec()], false, 1 << 20).unwrap();
        let found = |h: &str| {
            let input = Input::new(h).earliest(true);
            bytes.try_search_fwd(&input).unwrap().map(|m| m.offset())
        };
        assert_eq!(found("xxaé"), Some(4));
        assert_eq!(found("xxa"), None);
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
            .add(PatternId::new(0), PatternKind::Regex, r"sqlmap/\d+", true)
            .add(PatternId::new(1), PatternKind::Regex, r"[0-9]+x", false)
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
            .add(PatternId::new(0), PatternKind::Contains, "ab", false)
            .add(PatternId::new(1), PatternKind::StartsWith, "ab", false)
            .add(PatternId::new(2), PatternKind::EndsWith, "ab", false)
            .add(PatternId::new(3), PatternKind::Equals, "ab", false)
            .add(PatternId::new(4), PatternKind::Equals, "AB", true)
            .add(PatternId::new(5), PatternKind::Contains, "AB", false)
            .add(PatternId::new(6), PatternKind::Regex, "a.b", false)
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
            .add(PatternId::new(0), PatternKind::Contains, "", false)
            .add(PatternId::new(1), PatternKind::StartsWith, "", true)
            .add(PatternId::new(2), PatternKind::EndsWith, "", false)
            .add(PatternId::new(3), PatternKind::Equals, "", false)
            .build()
            .unwrap();
        assert_eq!(scan(&scanner, ""), [0, 1, 2, 3]);
        assert_eq!(scan(&scanner, "x"), [0, 1, 2]);
    }

    #[test]
    fn errors_name_the_pattern() {
        let err = ScannerBuilder::new()
            .add(PatternId::new(7), PatternKind::Regex, "a(", false)
            .build()
            .unwrap_err();
        assert_eq!(err.pattern_id(), Some(PatternId::new(7)));
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
            .add(PatternId::new(1), PatternKind::Contains, "a", false)
            .add(PatternId::new(2), PatternKind::Contains, "b", false)
            .build()
            .unwrap_err();
        assert_eq!(err.pattern_id(), Some(PatternId::new(2)));
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
            .add(PatternId::new(4), PatternKind::Equals, "abcd", false)
            .build()
            .unwrap_err();
        assert_eq!(err.pattern_id(), Some(PatternId::new(4)));
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
            .add(PatternId::new(1), PatternKind::Regex, "a[0-9]", false)
            .add(PatternId::new(2), PatternKind::Regex, r"\w{50}", false)
            .add(PatternId::new(3), PatternKind::Regex, "b[0-9]", false)
            .build()
            .unwrap_err();
        assert_eq!(err.pattern_id(), Some(PatternId::new(2)));
        assert!(err.is_limit());
        assert!(err.to_string().contains("size limit"), "{err}");
    }

    #[test]
    fn scratch_of_another_scanner_is_rebuilt() {
        let a = ScannerBuilder::new()
            .add(PatternId::new(0), PatternKind::Regex, "a+b", false)
            .build()
            .unwrap();
        let b = ScannerBuilder::new()
            .add(PatternId::new(0), PatternKind::Regex, "x", false)
            .add(PatternId::new(1), PatternKind::Regex, "y+z", false)
            .build()
            .unwrap();
        let mut scratch = a.scratch();
        let mut out = MatchSet::new(2);
        b.scan("yyz", &mut scratch, &mut out);
        assert_eq!(out.iter().map(PatternId::as_u32).collect::<Vec<_>>(), [1]);
    }
}

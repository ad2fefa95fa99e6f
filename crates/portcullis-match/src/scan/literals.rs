//! Literal patterns: one aho-corasick automaton for every `Contains`, `StartsWith` and
//! `EndsWith` literal (and every regex gate): a plain search for the first occurrence (by
//! a first-match DFA when the set is small enough), then an overlapping one from there.

use std::collections::HashMap;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickKind};
use regex_automata::dfa::{dense, Automaton};
use regex_automata::util::syntax;

use super::CompileCache;
use crate::error::{ScanError, ScanErrorKind};
use crate::{MatchSet, PatternId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Anchor {
    None,
    Start,
    End,
    /// Not a pattern: a gate literal of the gated regex numbered `id` (which
    /// `candidates` collects, a [`MatchSet`] used as a plain bitset).
    Gate,
}

#[derive(Clone, Debug)]
pub(super) struct LiteralTarget {
    pub(super) id: u32,
    pub(super) anchor: Anchor,
    /// The exact bytes to confirm, for a case-sensitive literal in an ASCII
    /// case-insensitive automaton. `None`: any case variant matches.
    pub(super) exact: Option<Box<[u8]>>,
}

#[derive(Default)]
pub(super) struct LiteralsBuilder {
    /// Automaton pattern -> its targets; keys are ASCII-lowercased when the
    /// automaton is case-insensitive, which is only known at the end, so
    /// collect raw first.
    pub(super) raw: Vec<(u32, Anchor, Vec<u8>, bool)>,
}

impl LiteralsBuilder {
    /// Adds a literal. `text` is bytes because gate literals may end inside
    /// a UTF-8 sequence; pattern literals are whole strings.
    pub(super) fn add(&mut self, id: u32, anchor: Anchor, text: Vec<u8>, ci: bool) {
        self.raw.push((id, anchor, text, ci));
    }

    /// `dfa_limit` bounds the automaton as a DFA, `first_limit` the [`first_match_dfa`].
    pub(super) fn build(
        self,
        dfa_limit: usize,
        first_limit: usize,
        cache: &mut CompileCache,
    ) -> Result<Option<Literals>, ScanError> {
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
        let build = |keys: &Vec<Vec<u8>>, kind| {
            AhoCorasick::builder()
                .ascii_case_insensitive(any_ci)
                .match_kind(aho_corasick::MatchKind::Standard)
                .kind(kind)
                .build(keys)
        };
        // A DFA scans about 1.5x faster than the NFA aho-corasick picks
        // past ~100 patterns, at ~250 bytes per pattern byte; take it while
        // it fits the limit (estimated first, so a huge set is never built
        // as a DFA just to be thrown away).
        let key_bytes: usize = keys.iter().map(Vec::len).sum();
        let cache_key = (keys, any_ci);
        let automaton = match cache.literals.get(&cache_key) {
            Some(ac) => ac.clone(),
            None => {
                let keys = &cache_key.0;
                let build = |kind| build(keys, kind);
                let dfa = (key_bytes.saturating_mul(256) <= dfa_limit)
                    .then(|| build(Some(AhoCorasickKind::DFA)).ok())
                    .flatten()
                    .filter(|ac| ac.memory_usage() <= dfa_limit);
                let ac = match dfa {
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
                cache.literals.insert(cache_key.clone(), ac.clone());
                ac
            }
        };
        let keys = &cache_key.0;
        let mut flat: Vec<LiteralTarget> = Vec::new();
        let mut spans = Vec::with_capacity(targets.len());
        for list in targets {
            spans.push((flat.len() as u32, list.len() as u32));
            flat.extend(list);
        }
        let single = flat.first().map(|t| t.id).filter(|&id| {
            flat.iter()
                .all(|t| t.id == id && t.anchor == Anchor::None && t.exact.is_none())
        });
        // Determinising takes time too: try only sets likely to fit (~600 bytes of DFA per
        // key byte for user-agent phrases). Sets of gates and anchored literals grow
        // faster: OWASP CRS's five sets of 700 to 1,400 key bytes took 30 to 40 ms each.
        let per_byte = if single.is_some() { 512 } else { 4096 };
        let first_dfa = (key_bytes.saturating_mul(per_byte) <= first_limit)
            .then(|| {
                cache
                    .first_match
                    .entry(cache_key.clone())
                    .or_insert_with(|| first_match_dfa(keys, any_ci, first_limit).map(Arc::new))
                    .clone()
            })
            .flatten();
        Ok(Some(Literals {
            automaton,
            first_dfa,
            targets: flat.into_boxed_slice(),
            spans: spans.into_boxed_slice(),
            max_len: keys.iter().map(Vec::len).max().unwrap_or(0),
            single,
        }))
    }
}

/// A DFA that finds where the first occurrence of any of `keys` ends: it answers with
/// about half the instructions of aho-corasick's DFA (a tighter loop, and it stops at the
/// first match), and most haystacks contain no key. `None` when the DFA would outgrow
/// `limit`.
pub(super) fn first_match_dfa(
    keys: &[Vec<u8>],
    ci: bool,
    limit: usize,
) -> Option<dense::DFA<Vec<u32>>> {
    use std::fmt::Write;
    // Bytes, not text: a gate literal may end inside a UTF-8 sequence. Letters and digits
    // stay as they are, so `(?i)` folds the letters' ASCII case.
    let mut alternation = String::from(if ci { "(?i-u:" } else { "(?-u:" });
    for (i, key) in keys.iter().enumerate() {
        if i > 0 {
            alternation.push('|');
        }
        for &b in key {
            if b.is_ascii_alphanumeric() {
                alternation.push(char::from(b));
            } else {
                let _ = write!(alternation, "\\x{b:02X}");
            }
        }
    }
    alternation.push(')');
    dense::Builder::new()
        .syntax(syntax::Config::new().unicode(false).utf8(false))
        .configure(
            dense::Config::new()
                .dfa_size_limit(Some(limit))
                .determinize_size_limit(Some(limit)),
        )
        .build(&alternation)
        .ok()
}

#[derive(Clone, Debug)]
pub(super) struct Literals {
    pub(super) automaton: AhoCorasick,
    /// The [`first_match_dfa`] of its literals, when it fits.
    pub(super) first_dfa: Option<super::regexes::FirstMatch>,
    pub(super) targets: Box<[LiteralTarget]>,
    /// Automaton pattern id -> `(start, len)` in `targets`.
    pub(super) spans: Box<[(u32, u32)]>,
    /// The longest literal, in bytes.
    pub(super) max_len: usize,
    /// The one id every literal sets, when none is anchored, confirmed or a gate (one
    /// `contains_any` list): the first occurrence is then the whole answer.
    pub(super) single: Option<u32>,
}

impl Literals {
    /// Sets the literal patterns found and adds the gated regexes whose gate
    /// was seen to `candidates`; returns whether there are any.
    #[inline]
    pub(super) fn scan(
        &self,
        haystack: &str,
        out: &mut MatchSet,
        candidates: &mut MatchSet,
    ) -> bool {
        // Most haystacks contain no literal, and a plain search (one table lookup per
        // byte) says so several times faster than an overlapping one. It stops at the
        // occurrence that ends first, so every other ends no earlier and starts at most
        // `max_len` bytes before that end: the overlapping search starts there.
        let input = regex_automata::Input::new(haystack).earliest(true);
        // The DFA has no quit bytes and no size to give up on, so it cannot fail; if it
        // did, the automaton answers.
        let first = match self.first_dfa.as_deref().map(|d| d.try_search_fwd(&input)) {
            Some(Ok(found)) => found.map(|m| m.offset()),
            _ => self.automaton.find(haystack).map(|m| m.end()),
        };
        let Some(first) = first else {
            return false;
        };
        if let Some(id) = self.single {
            out.insert(PatternId::new(id));
            return false;
        }
        let from = first.saturating_sub(self.max_len);
        let input = aho_corasick::Input::new(haystack).range(from..);
        let mut gate_open = false;
        let bytes = haystack.as_bytes();
        for m in self.automaton.find_overlapping_iter(input) {
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
                        candidates.insert(PatternId::new(t.id));
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
                out.insert(PatternId::new(t.id));
            }
        }
        gate_open
    }
}

//! Selected collections (`cookies[not /^__utm/]`): each distinct selection compiled once,
//! its regexes built when the program is, so a member's name is tested without allocating.

use portcullis_rules::{Field, NameMatch, RuleSet, Selection};
use regex_automata::meta::Regex;

use crate::policy::CompileError;

/// One test on a member's name.
#[derive(Debug)]
enum NameTest {
    /// Equal ignoring ASCII case.
    Name(String),
    /// A case-insensitive regex found somewhere in the name.
    Regex(Regex),
}

impl NameTest {
    fn hit(&self, name: &str) -> bool {
        match self {
            NameTest::Name(n) => n.eq_ignore_ascii_case(name),
            NameTest::Regex(re) => re.is_match(name),
        }
    }
}

/// A compiled [`Selection`]: the members it keeps are those whose name passes an include
/// (any name, when there is none) and no exclude.
#[derive(Debug)]
pub(super) struct NameFilter {
    include: Vec<NameTest>,
    exclude: Vec<NameTest>,
}

impl NameFilter {
    pub(super) fn keeps(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|t| t.hit(name)))
            && !self.exclude.iter().any(|t| t.hit(name))
    }

    /// The names it keeps, when it keeps those names only (`headers["host"]`).
    pub(super) fn exact_names(&self) -> Option<Vec<&str>> {
        if self.include.is_empty() || !self.exclude.is_empty() {
            return None;
        }
        self.include
            .iter()
            .map(|t| match t {
                NameTest::Name(n) => Some(n.as_str()),
                NameTest::Regex(_) => None,
            })
            .collect()
    }
}

/// Every distinct selection the rules read, compiled.
#[derive(Debug, Default)]
pub(super) struct Selections(Vec<(Selection, NameFilter)>);

impl Selections {
    /// Compiles the selections of every rule; a regex over `max_regex_bytes` is an error
    /// at its predicate.
    pub(super) fn compile(rules: &RuleSet) -> Result<Selections, CompileError> {
        let mut out: Vec<(Selection, NameFilter)> = Vec::new();
        let mut error = None;
        for rule in &rules.rules {
            rule.when.visit_preds(&mut |p| {
                p.visit_fields(&mut |f| {
                    let (_, Some(selection)) = f.selected() else {
                        return;
                    };
                    if error.is_some() || out.iter().any(|(s, _)| s == selection) {
                        return;
                    }
                    match NameFilter::new(selection, rules.settings.max_regex_bytes) {
                        Ok(filter) => out.push((selection.clone(), filter)),
                        Err(e) => error = Some(
                            CompileError::new(Some(&rule.id), None, e)
                                .hint("simplify the regex, or raise `max_regex_bytes` in [policy]")
                                .at(Some(p.span)),
                        ),
                    }
                });
            });
        }
        match error {
            Some(e) => Err(e),
            None => Ok(Selections(out)),
        }
    }

    /// The filter of a selected collection; `None` for any other field (every member kept).
    pub(super) fn of(&self, f: &Field) -> Option<&NameFilter> {
        self.get(self.index_of(f))
    }

    /// Where [`Selections::of`] finds `f`'s filter, for [`Selections::get`]: a group looks
    /// its own up once, when the program is built.
    pub(super) fn index_of(&self, f: &Field) -> Option<u32> {
        let (_, selection) = f.selected();
        let selection = selection?;
        let at = self.0.iter().position(|(s, _)| s == selection)?;
        u32::try_from(at).ok()
    }

    pub(super) fn get(&self, at: Option<u32>) -> Option<&NameFilter> {
        self.0.get(at? as usize).map(|(_, filter)| filter)
    }
}

impl NameFilter {
    fn new(selection: &Selection, max_regex_bytes: usize) -> Result<NameFilter, String> {
        let mut filter = NameFilter {
            include: Vec::new(),
            exclude: Vec::new(),
        };
        for s in &selection.items {
            let test = match &s.name {
                NameMatch::Name(n) => NameTest::Name(n.clone()),
                NameMatch::Regex(re) => NameTest::Regex(
                    crate::reference::build_regex(re, true, max_regex_bytes)
                        .map_err(|e| format!("regex {re:?} does not compile: {e}"))?,
                ),
            };
            if s.exclude {
                filter.exclude.push(test);
            } else {
                filter.include.push(test);
            }
        }
        Ok(filter)
    }
}

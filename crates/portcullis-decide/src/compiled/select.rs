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

/// The filters of one walk's readers (see `members::Admit`), their tests shared: each
/// distinct test on a name runs once per member, however many filters hold it (CRS's
/// cookie exclusions repeat `/^pbjs-\w+$/` in seven rules at paranoia level 4).
#[derive(Debug)]
pub(super) struct SharedTests {
    /// The distinct tests: the selection holding the first, whether it excludes, and its
    /// place among that filter's includes or excludes. At most 64.
    tests: Vec<(u32, bool, usize)>,
    /// Per filter: the bits of its includes and of its excludes in `tests`.
    filters: Vec<(u64, u64)>,
}

impl SharedTests {
    /// The shared tests of `filters` (indexes in `selections`); `None` past 64 distinct
    /// tests, or for a filter `selections` lacks.
    pub(super) fn new(selections: &Selections, filters: &[u32]) -> Option<SharedTests> {
        let mut sources: Vec<&NameMatch> = Vec::new();
        let mut shared = SharedTests {
            tests: Vec::new(),
            filters: Vec::new(),
        };
        for &f in filters {
            let (selection, _) = selections.0.get(f as usize)?;
            let (mut include, mut exclude) = (0u64, 0u64);
            let (mut includes, mut excludes) = (0, 0);
            for item in &selection.items {
                let t = match sources.iter().position(|&s| *s == item.name) {
                    Some(t) => t,
                    None => {
                        let place = if item.exclude { excludes } else { includes };
                        sources.push(&item.name);
                        shared.tests.push((f, item.exclude, place));
                        sources.len() - 1
                    }
                };
                let bit = 1u64.checked_shl(u32::try_from(t).ok()?)?;
                if item.exclude {
                    exclude |= bit;
                    excludes += 1;
                } else {
                    include |= bit;
                    includes += 1;
                }
            }
            shared.filters.push((include, exclude));
        }
        Some(shared)
    }

    /// Bit `j` set when filter `j` keeps a member named `name`.
    pub(super) fn mask(&self, selections: &Selections, name: &str) -> u64 {
        let mut hits = 0u64;
        for (t, &(f, exclude, place)) in self.tests.iter().enumerate() {
            let filter = selections.0.get(f as usize).map(|(_, filter)| filter);
            let tests = filter.map(|f| if exclude { &f.exclude } else { &f.include });
            if tests
                .and_then(|tests| tests.get(place))
                .is_some_and(|t| t.hit(name))
            {
                hits |= 1 << t;
            }
        }
        let mut mask = 0;
        for (j, &(include, exclude)) in self.filters.iter().enumerate() {
            if (include == 0 || hits & include != 0) && hits & exclude == 0 {
                mask |= 1 << j;
            }
        }
        mask
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

#[cfg(test)]
mod tests {
    use portcullis_rules::RuleSet;

    use super::{Selections, SharedTests};

    /// CRS's shape: selections of one collection repeating each other's tests.
    fn selections() -> Selections {
        let rules = RuleSet::parse(
            "s.toml",
            r#"
[[rule]]
id = "a"
when = 'cookies[not /^_ga(?:_\w+)?$/, not "__gads", not /^pbjs-\w+$/] == "x"'
action = "log"
[[rule]]
id = "b"
when = 'cookies[not "__gads", not /^pbjs-\w+$/, not "FCCDCF"] == "x"'
action = "log"
[[rule]]
id = "c"
when = 'cookies[/^_ga/, "fccdcf", not "_ga_X"] == "x" or cookies[not /^pbjs-\w+$/] == "x"'
action = "log"
"#,
        )
        .expect("parses");
        Selections::compile(&rules).expect("compiles")
    }

    /// Each filter keeps through the shared tests what it keeps alone.
    fn agrees(selections: &Selections, shared: &SharedTests, name: &str) {
        let mask = shared.mask(selections, name);
        for j in 0..selections.0.len() {
            let alone = selections
                .get(Some(j as u32))
                .is_some_and(|f| f.keeps(name));
            assert_eq!(mask >> j & 1 == 1, alone, "filter {j} on {name:?}");
        }
    }

    #[test]
    fn shared_tests_keep_what_each_filter_keeps() {
        let s = selections();
        let filters: Vec<u32> = (0..s.0.len() as u32).collect();
        assert_eq!(filters.len(), 4);
        let shared = SharedTests::new(&s, &filters).expect("under 64 tests");
        // Seven distinct tests among ten (names differing in case stay apart).
        assert_eq!(shared.tests.len(), 7);
        for name in [
            "_ga", "_GA_X", "_ga_1", "__gads", "__GADS", "pbjs-a", "PBJS-", "FCCDCF", "fccdcf",
            "x", "", "_gab",
        ] {
            agrees(&s, &shared, name);
        }
    }

    proptest::proptest! {
        #[test]
        fn shared_tests_agree_on_random_names(name in "(_ga|_GA|__gads|pbjs-|FCCDCF|_X|x|-|_){0,4}") {
            let s = selections();
            let filters: Vec<u32> = (0..s.0.len() as u32).collect();
            let shared = SharedTests::new(&s, &filters).expect("under 64 tests");
            agrees(&s, &shared, &name);
        }
    }
}

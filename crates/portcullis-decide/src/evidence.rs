//! Which member of a collection made a rule match: what the decision log, `portcullis eval`
//! and `--explain` show, so an operator sees the argument that carried the attack.

/// The member a matched rule's condition held on: the first predicate (left to right,
/// outside any `not`) that reads a field with several values and holds, and the first
/// member it holds for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evidence {
    /// The term the predicate read, as a rule writes it (`lower(args)`, `arg["q"]`).
    pub term: String,
    /// The member's name: an argument's, a header's (as sent), a cookie's, a file's form
    /// field; for a collection of names (`arg_names`…), the name itself.
    pub name: String,
    /// The member's value as the rule saw it (after its functions), cut to
    /// [`Evidence::MAX_VALUE`] bytes at a character boundary (`…` marks a cut).
    pub value: String,
}

impl Evidence {
    /// Longest value kept: a log line must not carry a megabyte of attacker's text.
    pub const MAX_VALUE: usize = 120;
    /// Longest name kept.
    pub const MAX_NAME: usize = 64;

    pub(crate) fn new(term: String, name: &str, value: &str) -> Evidence {
        Evidence {
            term,
            name: cut(name, Evidence::MAX_NAME),
            value: cut(value, Evidence::MAX_VALUE),
        }
    }
}

fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_at_a_character_boundary() {
        let e = Evidence::new("args".into(), "q", &"é".repeat(100));
        assert_eq!(e.value.len(), 120 + "…".len());
        assert!(e.value.ends_with('…'));
        let short = Evidence::new("args".into(), "q", "x");
        assert_eq!(short.value, "x");
    }
}

/// A matched rule's log texts (SecLang's `msg` and `logdata`), filled in with what it
/// matched: see [`crate::Decision::messages`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The rule's id.
    pub rule: String,
    /// Its message.
    pub message: Option<String>,
    /// Its data: what it matched, and where.
    pub data: Option<String>,
    /// How grave a match is (`CRITICAL`).
    pub severity: Option<String>,
    /// The rule's tags.
    pub tags: Vec<String>,
}

//! What a rule writes to the log when it matches, filled in with what the request matched:
//! SecLang's `msg` and `logdata` (`Matched Data: %{TX.0} found within
//! %{MATCHED_VAR_NAME}: %{MATCHED_VAR}`), which a rule file's front end knows how to read.

use std::fmt;
use std::sync::Arc;

/// A rule's log texts, filled in per match.
pub trait LogText:
    fmt::Debug + Send + Sync + std::panic::RefUnwindSafe + std::panic::UnwindSafe
{
    /// The rule's message.
    fn message(&self, m: &Matched<'_>) -> Option<String>;
    /// Its data: what it matched, and where.
    fn data(&self, m: &Matched<'_>) -> Option<String>;
    /// How grave a match is (SecLang's `severity`: `CRITICAL`).
    fn severity(&self) -> Option<&str>;
    /// The message as a refusal may show it (the decision's `reason`), from the totals
    /// of the scores (`score`) alone: what the request sent is never filled in. `None`:
    /// the rule's `reason` as written.
    fn reason(&self, score: &dyn Fn(&str) -> Option<i64>) -> Option<String> {
        let _ = score;
        None
    }
}

/// What a rule matched on one request, as its log texts read it.
pub struct Matched<'a> {
    /// The value the rule held on, as it saw it (after its functions), with the field it
    /// was read from and, for a member of a collection, the member's name; `None` when
    /// no single value made the rule hold (a count, a score).
    pub value: Option<MatchedValue<'a>>,
    /// The total of a score at the end of the evaluation.
    pub score: &'a dyn Fn(&str) -> Option<i64>,
    /// The request's values, for a text that quotes one (`%{ARGS._method}`).
    pub values: &'a dyn crate::Values,
}

/// One value a rule matched.
pub struct MatchedValue<'a> {
    /// The field or collection it was read from (a selection keeps its selector).
    pub field: &'a crate::Field,
    /// The member's name, for a member of a collection.
    pub name: Option<&'a str>,
    /// The value as the rule saw it.
    pub value: &'a str,
}

/// A shared [`LogText`]; two are equal when they are the same one.
#[derive(Clone)]
pub struct RuleLog(pub Arc<dyn LogText>);

impl fmt::Debug for RuleLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl PartialEq for RuleLog {
    fn eq(&self, other: &RuleLog) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&self.0), Arc::as_ptr(&other.0))
    }
}

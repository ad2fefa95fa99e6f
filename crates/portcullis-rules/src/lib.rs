//! Rule files for portcullis: syntax, lists, type checking and located diagnostics.
//!
//! This crate turns rule text into a [`RuleSet`]: settings from `[policy]`, lists from
//! `[lists]` (inline or from files), and `[[rule]]`s whose `when` conditions are parsed
//! into a typed [`Expr`]. It knows nothing of matching: `portcullis-decide` compiles a
//! `RuleSet` into a policy.
//!
//! Every problem is a [`Diagnostic`] with a place in a file; [`Error`] holds all of them
//! and renders each with `file:line:col`, the line, a caret and a hint.
//!
//! # Example
//!
//! ```
//! use portcullis_rules::{Action, RuleSet};
//!
//! let rules = RuleSet::parse("inline.toml", r#"
//! [[rule]]
//! id = "admin-only"
//! when = 'path starts_with "/admin/" and not auth.roles has "admin"'
//! action = "forbid"
//! "#).unwrap();
//! assert_eq!(rules.rules[0].action, Action::Forbid);
//! assert!(rules.rules[0].is_identity());
//!
//! let err = RuleSet::parse("bad.toml", "[[rule]]\nid = \"x\"\nwhen = 'pth == \"/\"'\naction = \"allow\"\n")
//!     .unwrap_err();
//! assert!(err.to_string().contains("bad.toml:3:9"));
//! ```
//!
//! The rule language is documented in `docs/rules.md`.

#![forbid(unsafe_code)]
// The public API says what must not be dropped and what each error means.
#![warn(
    clippy::must_use_candidate,
    clippy::return_self_not_must_use,
    clippy::missing_errors_doc
)]
// Nothing input can reach may panic (tests aside).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![warn(missing_docs)]

mod ceilings;
mod diag;
mod expr;
mod lints;
mod lists;
mod logtext;
mod parse;
mod ruleset;
mod source;
mod tree;

pub use ceilings::Ceilings;
pub use diag::{Diagnostic, Error, Severity};
pub use expr::{
    CmpOp, Detector, Expr, Field, Interpret, Interpreted, ListId, ListOp, NameMatch, Pred,
    PredKind, Selection, Selector, StrOp, Term, Transform, Type, Values,
};
pub use lists::{parse_net, List, ListItems, ListKind};
pub use logtext::{LogText, Matched, MatchedValue, RuleLog};
pub use portcullis_match::canonical_ip;
pub use ruleset::{
    Action, Default, LoadOptions, Mode, OnAmbiguousPath, OnBodyLimit, OnOversize, RateKey,
    RateLimit, Reveal, Rule, RuleSet, Settings,
};
pub use source::{SourceFile, Sources, Span};

#[cfg(test)]
mod testoibits {
    use super::*;

    fn assert_send_sync<T: Send + Sync + std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}

    #[test]
    fn public_types_are_send_sync() {
        assert_send_sync::<RuleSet>();
        assert_send_sync::<Error>();
        assert_send_sync::<Diagnostic>();
        assert_send_sync::<Expr>();
    }
}

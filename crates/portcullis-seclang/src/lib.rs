//! SecLang, ModSecurity v3's rule language, parsed into a typed, located AST: the front end
//! for running the OWASP Core Rule Set (CRS v4) unmodified in portcullis.
//!
//! Two phases, named after what they produce:
//!
//! - [`SecLangConfig::parse_str`] / [`SecLangConfig::load`]: text to [`Directive`]s, each
//!   typed ([`DirectiveKind`]) with a [`Span`](portcullis_rules::Span) on every directive,
//!   [`Variable`], [`Operator`] and [`Action`]. `Include`s are followed and the data files
//!   operators name are read here.
//! - [`SecLangConfig::resolve`]: directives to a [`SecLangRuleSet`] of [`Rule`]s (chains
//!   grouped into [`Link`]s, `SecDefaultAction` merged, removals and updates applied,
//!   `skipAfter` targets and id uniqueness checked), [`Marker`]s, [`EngineSettings`] and
//!   warnings. [`parse_str`] and [`load`] do both.
//!
//! Every problem is a [`Diagnostic`](portcullis_rules::Diagnostic) rendered with
//! `file:line:col`, the line, a caret and a hint; an [`Error`](portcullis_rules::Error)
//! holds all of them, not just the first.
//!
//! # Example
//!
//! ```
//! use portcullis_seclang::{parse_str, ActionKind, OperatorKind, VariableKind};
//!
//! let rules = parse_str("inline.conf", r#"
//! SecDefaultAction "phase:2,log,auditlog,pass"
//! SecRule REQUEST_HEADERS:User-Agent "@rx (?i)sqlmap" \
//!     "id:1001,phase:2,block,t:none,msg:'scanner',setvar:'tx.score=+5'"
//! "#).unwrap();
//! let rule = rules.rules().next().unwrap();
//! assert_eq!(rule.id, 1001);
//! assert_eq!(rule.links[0].variables[0].kind, VariableKind::RequestHeaders);
//! assert!(matches!(rule.links[0].operator.kind, OperatorKind::Rx(_)));
//! // `block` is the phase's default disruptive action: `pass`.
//! assert_eq!(rule.disruptive.kind, ActionKind::Pass);
//!
//! let err = parse_str("bad.conf", "SecRule ARGZ \"@rx x\" \"id:1\"\n").unwrap_err();
//! let shown = err.to_string();
//! assert!(shown.contains("bad.conf:1:9"));
//! assert!(shown.contains("did you mean `ARGS`?"));
//! ```
//!
//! # What is parsed
//!
//! - Lexing as Apache and ModSecurity do: one directive per logical line (`\` continues a
//!   line), `#` comments, blank-separated arguments, double-quoted arguments in which `\"`
//!   is a quote and every other backslash is kept (so regexes keep theirs), and in action
//!   lists single-quoted values with `\'`.
//! - Directives: `SecRule`, `SecAction`, `SecMarker`, `SecDefaultAction`, `SecRuleEngine`,
//!   `SecRequestBodyAccess`, `SecRequestBody{,NoFiles,InMemory}Limit`,
//!   `SecRequestBodyLimitAction`, `SecRequestBodyJsonDepthLimit`, `SecArgumentsLimit`,
//!   `SecResponseBodyAccess`, `SecResponseBodyMimeType`, `SecResponseBodyLimit{,Action}`,
//!   `SecRuleRemoveById/ByTag/ByMsg`, `SecRuleUpdateTargetById/ByTag`,
//!   `SecRuleUpdateActionById`, `SecComponentSignature`, `SecCollectionTimeout`, `Include`
//!   (globs in the file name, relative to the including file; loops and nesting deeper
//!   than [`LoadOptions::max_include_depth`] are errors). Logging, telemetry and file
//!   storage directives (`SecDebugLog*`, `SecAuditLog*`, `SecAuditEngine`, `SecTmpDir`,
//!   `SecUpload*`, `SecPcreMatchLimit*`…) become [`DirectiveKind::Ignored`] with the reason
//!   they change no decision.
//! - Variables: every one of ModSecurity v3's ([`VariableKind`]), with `!` (exclusion),
//!   `&` (count) and a [`Selector`]: a key (compared ignoring case, as v3 does), a quoted
//!   key, a `/regex/`, or for `XML` an XPath.
//! - Operators ([`OperatorKind`]): `@rx` (also with no `@`), `@pm`, `@pmFromFile`/`@pmf`
//!   (data files read relative to the rule file, bounded), `@eq`, `@ge`, `@gt`, `@lt`, `@le`,
//!   `@within`, `@streq`, `@beginsWith`, `@endsWith`, `@contains`, `@containsWord`,
//!   `@strmatch`, `@detectSQLi`, `@detectXSS`, `@validateByteRange` (ranges parsed),
//!   `@validateUrlEncoding`, `@validateUtf8Encoding`, `@ipMatch` and `@ipMatchFromFile`
//!   (addresses parsed), `@unconditionalMatch`, `@noMatch`; arguments keep their
//!   `%{…}` macros as a [`MacroString`].
//! - Actions ([`ActionKind`]): metadata (`id`, `phase`, `msg`, `tag`, `severity`, `logdata`,
//!   `ver`, `rev`, `maturity`, `accuracy`), flow (`chain`, `skip`, `skipAfter`), disruptive
//!   (`deny`, `block`, `pass`, `allow`, `drop`, `redirect`, `status`), `setvar` in all its
//!   forms, `ctl` (each option its own [`Ctl`] variant), `t:` (every [`Transformation`]),
//!   `capture`, `multiMatch`, logging flags, `initcol`, `expirevar`.
//!
//! # What is rejected
//!
//! Unknown directives, variables, operators, actions, transformations and `ctl` options
//! (with a "did you mean" hint); ModSecurity features with effects portcullis does not
//! model, each with why: `SecRuleScript`, `SecRemoteRules`, `SecArgumentSeparator`,
//! `SecCookieFormat`, `SecGeoLookupDb`, `SecDataDir`…; operators `@rsub`, `@rxGlobal`,
//! `@rbl`, `@geoLookup`, `@inspectFile`, `@fuzzyHash`, `@verifyCC`…; actions `exec`,
//! `proxy`, `pause`, `append`, `prepend`, `setenv`, `setuid`, `setsid`, `sanitise*`…;
//! values out of range (`phase:9`, `id:abc`, `status:xyz`, byte ranges past 255, bad
//! addresses); chains without a next rule; duplicate ids; `skipAfter` to no later marker;
//! rules without an id; and what the limits of [`LoadOptions`] bound (file size, line
//! length, include depth, file count).
//!
//! Resolution follows ModSecurity v3; [`SecLangConfig::resolve`]'s documentation says how,
//! and where v3 and the v2 reference manual differ.

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
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]
#![warn(missing_docs)]

mod action;
mod ctl;
mod directive;
mod files;
mod interpret;
mod lex;
mod load;
mod lower;
mod macros;
mod operator;
mod resolve;
mod suggest;
mod transform;
mod variable;

use std::path::PathBuf;

pub use action::{
    Action, ActionKind, AllowScope, Collection, IdRange, Phase, SetVar, SetVarOp, Severity,
};
pub use ctl::{AuditEngine, BodyProcessor, Ctl, EngineMode};
pub use directive::{BodyLimitAction, Directive, DirectiveKind, SecRule};
pub use files::{load_rules, load_rules_summarized};
pub use load::{LoadOptions, SecLangConfig};
pub use lower::{lower, LowerOptions, Lowered};
pub use macros::{MacroPart, MacroString};
pub use operator::{DataFile, Operator, OperatorKind};
pub use resolve::{
    EngineSettings, IgnoredDirective, Item, Link, Marker, RemovedRule, Rule, SecLangRuleSet,
};
pub use transform::Transformation;
pub use variable::{Selector, Variable, VariableKind};

/// Parses and resolves one file's text (`Include`s and data files relative to `name`'s
/// directory).
///
/// # Errors
///
/// Every parse error, or else every resolution error, located.
pub fn parse_str(name: &str, text: &str) -> Result<SecLangRuleSet, portcullis_rules::Error> {
    SecLangConfig::parse_str(name, text)?.resolve()
}

/// Reads, parses and resolves files and directories (each directory's `*.conf`, sorted).
///
/// # Errors
///
/// Every read and parse error, or else every resolution error, located.
pub fn load(
    paths: &[PathBuf],
    options: &LoadOptions,
) -> Result<SecLangRuleSet, portcullis_rules::Error> {
    SecLangConfig::load(paths, options)?.resolve()
}

#[cfg(test)]
mod testoibits {
    use super::*;

    fn assert_send_sync<T: Send + Sync + std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}

    #[test]
    fn public_types_are_send_sync() {
        assert_send_sync::<SecLangRuleSet>();
        assert_send_sync::<SecLangConfig>();
        assert_send_sync::<Directive>();
        assert_send_sync::<Rule>();
        assert_send_sync::<LoadOptions>();
    }
}

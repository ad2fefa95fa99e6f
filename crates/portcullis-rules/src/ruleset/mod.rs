//! The rule set: `[policy]`, `[lists]` and `[[rule]]`, read from one or more files.
//!
//! `load` reads files and holds the loader every decoder fills; `policy`, `lists` and
//! `rule` decode one top-level table each; `model` is what they produce.

mod lists;
mod load;
mod model;
mod policy;
mod rule;

use std::path::Path;

use crate::diag::{Diagnostic, Error};
use crate::expr::ListId;
use crate::lists::List;
use crate::source::{Sources, Span};

pub use load::LoadOptions;
use load::{Format, Loader};
pub use model::{
    Action, Default, Mode, OnAmbiguousPath, OnBodyLimit, OnOversize, RateKey, RateLimit, Reveal,
    Rule, Settings,
};

/// A checked, typed set of rules, lists and settings, in evaluation order.
#[derive(Clone, Debug)]
pub struct RuleSet {
    /// The `[policy]` settings.
    pub settings: Settings,
    /// Declared lists, then anonymous ones; [`ListId`] indexes here.
    pub lists: Vec<List>,
    /// Rules in evaluation order (priority, then file order).
    pub rules: Vec<Rule>,
    sources: Sources,
    warnings: Vec<Diagnostic>,
}

impl RuleSet {
    /// Loads rule files and directories (every `*.toml` and `*.json` in a directory, sorted by
    /// name).
    ///
    /// # Errors
    ///
    /// Every problem found in the files, each located (`file:line:col`) with a hint: I/O,
    /// syntax, unknown keys, type errors, limits.
    pub fn load<P: AsRef<Path>>(paths: &[P]) -> Result<RuleSet, Error> {
        RuleSet::load_with(paths, &LoadOptions::default())
    }

    /// [`RuleSet::load`] with explicit limits.
    ///
    /// # Errors
    ///
    /// As [`RuleSet::load`], and a file or `[policy]` value over a limit of `opts`.
    pub fn load_with<P: AsRef<Path>>(paths: &[P], opts: &LoadOptions) -> Result<RuleSet, Error> {
        let mut loader = Loader::new(opts);
        for p in paths {
            loader.add_path(p.as_ref());
        }
        loader.finish()
    }

    /// Parses TOML rules from a string. `name` is used in diagnostics; list `file`s are
    /// resolved relative to its directory.
    ///
    /// # Errors
    ///
    /// Every problem found in the text, located in `name`.
    pub fn parse(name: &str, text: &str) -> Result<RuleSet, Error> {
        RuleSet::parse_with(name, text, &LoadOptions::default())
    }

    /// [`RuleSet::parse`] with explicit limits and ceilings.
    ///
    /// # Errors
    ///
    /// As [`RuleSet::parse`], and a `[policy]` value over a ceiling of `opts`.
    pub fn parse_with(name: &str, text: &str, opts: &LoadOptions) -> Result<RuleSet, Error> {
        let mut loader = Loader::new(opts);
        loader.add_text(Path::new(name), text.to_string(), Format::Toml);
        loader.finish()
    }

    /// Parses JSON rules (same schema as TOML) from a string.
    ///
    /// # Errors
    ///
    /// Every problem found in the text, located in `name` (JSON stops at its first syntax
    /// error).
    pub fn parse_json(name: &str, text: &str) -> Result<RuleSet, Error> {
        let opts = LoadOptions::default();
        let mut loader = Loader::new(&opts);
        loader.add_text(Path::new(name), text.to_string(), Format::Json);
        loader.finish()
    }

    /// A rule set another front end built (SecLang): `rules` and `lists` whose spans
    /// index `sources`.
    #[must_use]
    pub fn from_parts(
        settings: Settings,
        lists: Vec<List>,
        rules: Vec<Rule>,
        sources: Sources,
        warnings: Vec<Diagnostic>,
    ) -> RuleSet {
        RuleSet {
            settings,
            lists,
            rules,
            sources,
            warnings,
        }
    }

    /// Appends `other`'s rules after this set's, with its lists, files and warnings
    /// (renumbered to follow this set's); this set's settings stay. How a TOML file and a
    /// SecLang file are loaded together.
    pub fn append(&mut self, other: RuleSet) {
        let file_base = self.sources.len();
        let list_base = u32::try_from(self.lists.len()).unwrap_or(u32::MAX);
        let moved = |span: Span| Span {
            file: span.file.saturating_add(file_base),
            ..span
        };
        for f in other.sources.iter() {
            self.sources.add(&f.path, f.text.clone());
        }
        self.lists.extend(other.lists.into_iter().map(|mut l| {
            l.span = moved(l.span);
            l
        }));
        for mut rule in other.rules {
            rule.span = moved(rule.span);
            rule.when.renumber(&|span| moved(span), list_base);
            self.rules.push(rule);
        }
        self.warnings
            .extend(other.warnings.into_iter().map(|d| d.moved(&moved)));
    }

    /// Warnings found while loading.
    #[must_use]
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// The files the rule set came from.
    #[must_use]
    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    /// A list by id.
    #[must_use]
    pub fn list(&self, id: ListId) -> Option<&List> {
        self.lists.get(id.0 as usize)
    }
}

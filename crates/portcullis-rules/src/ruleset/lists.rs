//! The `[lists]` table: named IP and string lists, inline or read from files.

use std::path::Path;

use super::load::Loader;
use crate::diag::Diagnostic;
use crate::expr::ListId;
use crate::lists::{list_file_entries, parse_net, List, ListItems, ListKind};
use crate::parse::check_regex;
use crate::source::Span;
use crate::tree::{Node, Value};

/// Invalid entries of one list reported one by one, the rest counted.
const MAX_LIST_DIAGNOSTICS: usize = 10;

/// Counts the invalid entries of one list, reporting only the first few.
#[derive(Default)]
struct BadEntries(usize);

impl BadEntries {
    fn push(&mut self, diags: &mut Vec<Diagnostic>, d: Diagnostic) {
        self.0 += 1;
        if self.0 <= MAX_LIST_DIAGNOSTICS {
            diags.push(d);
        }
    }

    fn finish(self, diags: &mut Vec<Diagnostic>, list: &str, span: Span) {
        if self.0 > MAX_LIST_DIAGNOSTICS {
            let more = self.0 - MAX_LIST_DIAGNOSTICS;
            diags.push(
                Diagnostic::error(
                    span,
                    format!("list `{list}` has {more} more invalid entries"),
                )
                .hint(format!(
                    "only the first {MAX_LIST_DIAGNOSTICS} are shown; is `file` the right file?"
                )),
            );
        }
    }
}

impl Loader<'_> {
    pub(super) fn lists(&mut self, node: Node, dir: &Path) {
        let Some(entries) = self.expect_table(node, "[lists]") else {
            return;
        };
        for (name, nspan, v) in entries {
            if !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                || name.is_empty()
            {
                self.diags.push(
                    Diagnostic::error(nspan, format!("`{name}` is not a valid list name"))
                        .hint("list names use letters, digits, `_` and `-`"),
                );
                continue;
            }
            if let Some(&ListId(prev)) = self.list_names.get(&name) {
                let at = self
                    .lists
                    .get(prev as usize)
                    .map(|l| self.sources.location(l.span))
                    .unwrap_or_default();
                self.diags.push(
                    Diagnostic::error(nspan, format!("list `{name}` is declared twice"))
                        .hint(format!("the first declaration is at {at}")),
                );
                continue;
            }
            if let Some(list) = self.list(&name, nspan, v, dir) {
                let id = ListId(u32::try_from(self.lists.len()).unwrap_or(u32::MAX));
                self.list_names.insert(name, id);
                self.lists.push(list);
                self.list_used.push(false);
            }
        }
    }

    pub(super) fn list(&mut self, name: &str, nspan: Span, node: Node, dir: &Path) -> Option<List> {
        let tspan = node.span;
        let entries = self.expect_table(node, "a list")?;
        let mut kind = None;
        let mut case_insensitive = false;
        let mut items: Option<Vec<(String, Span)>> = None;
        for (key, kspan, v) in entries {
            match key.as_str() {
                "kind" => {
                    kind = self.choice(
                        v,
                        "list kind",
                        &[
                            ("ip", ListKind::Ip),
                            ("string", ListKind::String),
                            ("pattern", ListKind::Pattern),
                            ("regex", ListKind::Regex),
                        ],
                    )
                }
                "case" => {
                    case_insensitive = self
                        .choice(v, "case", &[("sensitive", false), ("insensitive", true)])
                        .unwrap_or(false);
                }
                "items" => match v.value {
                    Value::Array(arr) => {
                        let mut out = Vec::new();
                        for item in arr {
                            if let Some(s) = self.string(item, "list item") {
                                out.push(s);
                            }
                        }
                        items.get_or_insert_with(Vec::new).extend(out);
                    }
                    ref other => self.diags.push(
                        Diagnostic::error(
                            v.span,
                            format!(
                                "`items` must be an array of strings, found {}",
                                other.kind()
                            ),
                        )
                        .hint("e.g. items = [\"10.0.0.0/8\"]"),
                    ),
                },
                "file" => {
                    let vspan = v.span;
                    if let Some((f, _)) = self.string(v, "file") {
                        let path = dir.join(&f);
                        if let Some(why) = self.opts.list_file_refusal(dir, &f, &path) {
                            items.get_or_insert_with(Vec::new);
                            self.diags.push(Diagnostic::error(vspan, why).hint(
                                "keep list files beside the rules, or let the embedder allow another directory (LoadOptions::allow_list_root)",
                            ));
                        } else if let Some(text) = self.read(&path) {
                            let file = self.sources.add(&path, text.clone());
                            let out = items.get_or_insert_with(Vec::new);
                            for (entry, range) in list_file_entries(&text) {
                                out.push((entry.to_string(), Span::new(file, range)));
                            }
                        } else {
                            // Declare the list (empty) so the read error is not followed by
                            // "has neither `items` nor `file`" and "unknown list" errors.
                            items.get_or_insert_with(Vec::new);
                            // An I/O error has no place yet: put it on the `file` key. (A list
                            // file that is not UTF-8 already points into that file.)
                            if let Some(d) = self.diags.last_mut().filter(|d| d.span().is_none()) {
                                let msg = format!("{} (the `file` of list `{name}`, resolved relative to the rule file)", d.message());
                                *d = Diagnostic::error(kspan, msg).hint("list files are resolved relative to the rule file that names them");
                            }
                        }
                    }
                }
                other => self.unknown_key(other, kspan, &["kind", "items", "file", "case"]),
            }
        }
        let Some(kind) = kind else {
            self.diags.push(
                Diagnostic::error(nspan, format!("list `{name}` has no `kind`"))
                    .hint("add kind = \"ip\", \"string\", \"pattern\" or \"regex\""),
            );
            return None;
        };
        let Some(raw) = items else {
            self.diags.push(
                Diagnostic::error(
                    tspan,
                    format!("list `{name}` has neither `items` nor `file`"),
                )
                .hint(
                    "give its entries inline (items = [...]) or in a file (file = \"lists/x.txt\")",
                ),
            );
            return None;
        };
        // A file that is not a list at all (a binary, the wrong file) would otherwise echo
        // itself line by line into the error and the server's reload log.
        let mut bad = BadEntries::default();
        let items = match kind {
            ListKind::Ip => {
                let mut nets = Vec::with_capacity(raw.len());
                for (s, span) in raw {
                    let s = s
                        .split_once(char::is_whitespace)
                        .map_or(s.as_str(), |(a, _)| a);
                    match parse_net(s) {
                        Ok(n) => nets.push(n),
                        Err(e) => bad.push(
                            &mut self.diags,
                            Diagnostic::error(span, e).hint(
                                "one IPv4 or IPv6 address or CIDR per entry, e.g. 10.0.0.0/8",
                            ),
                        ),
                    }
                }
                ListItems::Ip(nets)
            }
            ListKind::Regex => {
                for (s, span) in &raw {
                    if let Err(e) = check_regex(s, self.opts.max_regex_nesting) {
                        bad.push(&mut self.diags, Diagnostic::error(*span, format!("invalid regex: {e}")).hint("regexes use the syntax of the regex crate (no look-around or back-references)"));
                    } else if s.is_empty() {
                        self.diags.push(
                            Diagnostic::warning(
                                *span,
                                format!("empty regex in list `{name}` matches every value"),
                            )
                            .hint(
                                "remove the entry, or anchor it: ^$ matches only the empty value",
                            ),
                        );
                    }
                }
                ListItems::Str(raw.into_iter().map(|(s, _)| s).collect())
            }
            ListKind::Pattern => {
                for (s, span) in &raw {
                    if s.is_empty() {
                        self.diags.push(
                            Diagnostic::warning(
                                *span,
                                format!("empty pattern in list `{name}` matches every value"),
                            )
                            .hint(
                                "remove the entry: every value contains, starts and ends with \"\"",
                            ),
                        );
                    }
                }
                ListItems::Str(raw.into_iter().map(|(s, _)| s).collect())
            }
            ListKind::String => ListItems::Str(raw.into_iter().map(|(s, _)| s).collect()),
        };
        bad.finish(&mut self.diags, name, nspan);
        Some(List {
            name: name.to_string(),
            kind,
            case_insensitive,
            items,
            span: nspan,
            anonymous: false,
        })
    }
}

//! The `[policy]` table.

use super::load::Loader;
use super::model::*;
use crate::diag::Diagnostic;
use crate::expr::is_header_name;
use crate::source::Span;
use crate::tree::Node;

impl Loader<'_> {
    pub(super) fn policy(&mut self, node: Node, kspan: Span) {
        if let Some((_, first)) = &self.settings {
            let at = self.sources.location(*first);
            self.diags.push(
                Diagnostic::error(kspan, "[policy] is declared more than once").hint(format!(
                    "the first one is at {at}; keep one [policy] table per rule set"
                )),
            );
            return;
        }
        let mut s = Settings::default();
        let Some(entries) = self.expect_table(node, "[policy]") else {
            return;
        };
        for (key, kspan2, v) in entries {
            self.policy_values.push((key.clone(), v.span));
            match key.as_str() {
                "default" => {
                    if let Some(d) = self.choice(
                        v,
                        "default",
                        &[("allow", Default::Allow), ("forbid", Default::Forbid)],
                    ) {
                        s.default = d;
                    }
                }
                "reveal" => {
                    if let Some(r) = self.choice(
                        v,
                        "reveal level",
                        &[
                            ("none", Reveal::None),
                            ("reason", Reveal::Reason),
                            ("detail", Reveal::Detail),
                        ],
                    ) {
                        s.reveal = r;
                    }
                }
                "www_authenticate" => {
                    if let Some((w, span)) = self.string(v, "www_authenticate") {
                        if w.is_empty() || w.bytes().any(|b| b < 0x20 || b == 0x7f) {
                            self.diags.push(Diagnostic::error(span, "`www_authenticate` must be a non-empty header value without control characters").hint("e.g. 'Bearer realm=\"api\"'"));
                        } else {
                            s.www_authenticate = w;
                        }
                    }
                }
                "rate_limit_status" => {
                    if let Some(n) = self.int(&v, "rate_limit_status") {
                        if matches!(n, 429 | 403 | 503) {
                            s.rate_limit_status = n as u16;
                        } else {
                            self.diags.push(Diagnostic::error(v.span, format!("{n} is not an allowed rate-limit status")).hint("use 429 (the standard), or 403 or 503 if your clients expect them"));
                        }
                    }
                }
                "preflight_exempt" => {
                    if let Some(b) = self.boolean(&v, "preflight_exempt") {
                        s.preflight_exempt = b;
                    }
                }
                "request_id_header" => {
                    if let Some((h, span)) = self.string(v, "request_id_header") {
                        if h.is_empty() || is_header_name(&h) {
                            s.request_id_header = (!h.is_empty()).then(|| h.to_ascii_lowercase());
                        } else {
                            self.diags.push(
                                Diagnostic::error(span, format!("{h:?} is not a header name"))
                                    .hint("header names are tokens, e.g. \"x-request-id\"; \"\" turns request ids from headers off"),
                            );
                        }
                    }
                }
                "rate_limit_max_keys" => {
                    if let Some(n) = self.int(&v, "rate_limit_max_keys") {
                        match usize::try_from(n) {
                            Ok(n) if n >= 1 => s.rate_limit_max_keys = n,
                            _ => self.diags.push(
                                Diagnostic::error(
                                    v.span,
                                    "`rate_limit_max_keys` must be at least 1",
                                )
                                .hint("the default is 100000"),
                            ),
                        }
                    }
                }
                "max_expression_depth" => {
                    if let Some(n) = self.int(&v, "max_expression_depth") {
                        match usize::try_from(n) {
                            Ok(n @ 1..=1000) => s.max_expression_depth = n,
                            _ => self.diags.push(
                                Diagnostic::error(
                                    v.span,
                                    "`max_expression_depth` must be between 1 and 1000",
                                )
                                .hint("the default is 64"),
                            ),
                        }
                    }
                }
                "on_oversize" => {
                    if let Some(o) = self.choice(
                        v,
                        "on_oversize",
                        &[("forbid", OnOversize::Forbid), ("allow", OnOversize::Allow)],
                    ) {
                        s.on_oversize = o;
                    }
                }
                "on_body_limit" => {
                    if let Some(o) = self.choice(
                        v,
                        "on_body_limit",
                        &[
                            ("forbid", OnBodyLimit::Forbid),
                            ("inspect", OnBodyLimit::Inspect),
                            ("allow", OnBodyLimit::Allow),
                        ],
                    ) {
                        s.on_body_limit = o;
                    }
                }
                "windows_paths" => {
                    if let Some(b) = self.boolean(&v, "windows_paths") {
                        s.windows_paths = b;
                    }
                }
                "on_ambiguous_path" => {
                    if let Some(o) = self.choice(
                        v,
                        "on_ambiguous_path",
                        &[
                            ("forbid", OnAmbiguousPath::Forbid),
                            ("rewrite", OnAmbiguousPath::Rewrite),
                        ],
                    ) {
                        s.on_ambiguous_path = o;
                    }
                }
                "uri_too_long_status" | "headers_too_large_status" => {
                    if let Some(n) = self.int(&v, &key) {
                        match u16::try_from(n) {
                            Ok(n @ 400..=599) if key == "uri_too_long_status" => s.uri_too_long_status = n,
                            Ok(n @ 400..=599) => s.headers_too_large_status = n,
                            _ => self.diags.push(Diagnostic::error(v.span, format!("{n} is not an error status")).hint("a refusal's status is between 400 and 599; the defaults are 414 and 431")),
                        }
                    }
                }
                other if limit_setting(&mut s, other).is_some() => {
                    if let Some(n) = self.int(&v, other) {
                        let default =
                            limit_setting(&mut Settings::default(), other).map_or(0, |l| *l);
                        match (usize::try_from(n), limit_setting(&mut s, other)) {
                            (Ok(n), Some(slot)) if n >= 1 => *slot = n,
                            _ => self.diags.push(
                                Diagnostic::error(v.span, format!("`{other}` must be at least 1"))
                                    .hint(format!("the default is {default}")),
                            ),
                        }
                    }
                }
                other => self.unknown_key(
                    other,
                    kspan2,
                    &[
                        "default",
                        "reveal",
                        "www_authenticate",
                        "rate_limit_status",
                        "preflight_exempt",
                        "request_id_header",
                        "rate_limit_max_keys",
                        "max_expression_depth",
                        "max_list_items",
                        "max_patterns",
                        "max_pattern_len",
                        "max_regex_bytes",
                        "max_regex_cache_bytes",
                        "max_literal_dfa_bytes",
                        "max_uri_bytes",
                        "max_header_count",
                        "max_header_bytes",
                        "on_oversize",
                        "uri_too_long_status",
                        "headers_too_large_status",
                        "on_ambiguous_path",
                        "windows_paths",
                        "max_body_bytes",
                        "max_json_depth",
                        "max_body_args",
                        "max_multipart_parts",
                        "on_body_limit",
                    ],
                ),
            }
        }
        self.settings = Some((s, kspan));
    }
}

/// The size limit a `[policy]` key sets, for the keys that are plain positive sizes.
fn limit_setting<'s>(s: &'s mut Settings, key: &str) -> Option<&'s mut usize> {
    Some(match key {
        "max_list_items" => &mut s.max_list_items,
        "max_patterns" => &mut s.max_patterns,
        "max_pattern_len" => &mut s.max_pattern_len,
        "max_regex_bytes" => &mut s.max_regex_bytes,
        "max_regex_cache_bytes" => &mut s.max_regex_cache_bytes,
        "max_literal_dfa_bytes" => &mut s.max_literal_dfa_bytes,
        "max_uri_bytes" => &mut s.max_uri_bytes,
        "max_header_count" => &mut s.max_header_count,
        "max_header_bytes" => &mut s.max_header_bytes,
        "max_body_bytes" => &mut s.max_body_bytes,
        "max_json_depth" => &mut s.max_json_depth,
        "max_body_args" => &mut s.max_body_args,
        "max_multipart_parts" => &mut s.max_multipart_parts,
        _ => return None,
    })
}

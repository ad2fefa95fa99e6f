//! Ceilings: upper bounds an embedder sets on what rule files it does not fully trust may
//! make the engine hold. A `[policy]` may lower each limit, never raise it past its ceiling.

use crate::diag::Diagnostic;
use crate::ruleset::Settings;
use crate::source::Span;

/// The most a rule file's `[policy]` may set each resource limit to (`None`: no ceiling
/// beyond the setting's own range). A default above a ceiling is lowered to it; a value
/// written above it is an error located at the value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ceilings {
    /// Ceiling of `max_patterns`.
    pub max_patterns: Option<usize>,
    /// Ceiling of `max_pattern_len`.
    pub max_pattern_len: Option<usize>,
    /// Ceiling of `max_regex_bytes`.
    pub max_regex_bytes: Option<usize>,
    /// Ceiling of `max_regex_cache_bytes`.
    pub max_regex_cache_bytes: Option<usize>,
    /// Ceiling of `max_literal_dfa_bytes`.
    pub max_literal_dfa_bytes: Option<usize>,
    /// Ceiling of `max_list_items`.
    pub max_list_items: Option<usize>,
    /// Ceiling of `max_expression_depth`.
    pub max_expression_depth: Option<usize>,
    /// Ceiling of `rate_limit_max_keys`.
    pub rate_limit_max_keys: Option<usize>,
    /// Ceiling of `max_body_bytes`: what the tower layer may read of one request's body.
    pub max_body_bytes: Option<usize>,
    /// Ceiling of `max_body_args`.
    pub max_body_args: Option<usize>,
    /// Ceiling of `max_multipart_parts`.
    pub max_multipart_parts: Option<usize>,
    /// Ceiling of `max_json_depth`.
    pub max_json_depth: Option<usize>,
}

impl Ceilings {
    /// Holds `s` under the ceilings; `written` are the `[policy]` keys the files set, with
    /// where their values are.
    pub(crate) fn apply(
        &self,
        s: &mut Settings,
        written: &[(String, Span)],
        diags: &mut Vec<Diagnostic>,
    ) {
        let limits: [(&str, Option<usize>, &mut usize); 12] = [
            ("max_patterns", self.max_patterns, &mut s.max_patterns),
            (
                "max_pattern_len",
                self.max_pattern_len,
                &mut s.max_pattern_len,
            ),
            (
                "max_regex_bytes",
                self.max_regex_bytes,
                &mut s.max_regex_bytes,
            ),
            (
                "max_regex_cache_bytes",
                self.max_regex_cache_bytes,
                &mut s.max_regex_cache_bytes,
            ),
            (
                "max_literal_dfa_bytes",
                self.max_literal_dfa_bytes,
                &mut s.max_literal_dfa_bytes,
            ),
            ("max_list_items", self.max_list_items, &mut s.max_list_items),
            (
                "max_expression_depth",
                self.max_expression_depth,
                &mut s.max_expression_depth,
            ),
            (
                "rate_limit_max_keys",
                self.rate_limit_max_keys,
                &mut s.rate_limit_max_keys,
            ),
            ("max_body_bytes", self.max_body_bytes, &mut s.max_body_bytes),
            ("max_body_args", self.max_body_args, &mut s.max_body_args),
            (
                "max_multipart_parts",
                self.max_multipart_parts,
                &mut s.max_multipart_parts,
            ),
            ("max_json_depth", self.max_json_depth, &mut s.max_json_depth),
        ];
        for (name, ceiling, value) in limits {
            let Some(ceiling) = ceiling else { continue };
            if *value <= ceiling {
                continue;
            }
            match written.iter().find(|(k, _)| k == name) {
                Some((_, span)) => diags.push(
                    Diagnostic::error(
                        *span,
                        format!("`{name} = {value}` is above the ceiling of {ceiling} that the program loading these rules sets"),
                    )
                    .hint(format!("lower it to {ceiling} or less, or ask for the ceiling to be raised")),
                ),
                None => *value = ceiling,
            }
        }
    }
}

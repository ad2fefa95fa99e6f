//! Macro-expandable strings: `Matched Data: %{TX.0} found within %{MATCHED_VAR_NAME}`.

use portcullis_rules::{Diagnostic, Span};

use crate::lex::Word;
use crate::variable::VariableKind;

/// A string that may hold `%{VARIABLE}` or `%{COLLECTION.key}` references, expanded per
/// request.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MacroString {
    /// The literal text and the references, in order.
    pub parts: Vec<MacroPart>,
    /// The text as written (after unescaping), for messages and exact comparisons.
    pub raw: String,
}

/// One part of a [`MacroString`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MacroPart {
    /// Text taken as is.
    Literal(String),
    /// `%{tx.anomaly_score}`: a variable, or a member of a collection. The key is kept as
    /// written; collection keys compare ignoring ASCII case.
    Ref {
        /// The variable or collection.
        variable: VariableKind,
        /// The member, for collections.
        key: Option<String>,
        /// `%{…}` in the file.
        span: Span,
    },
}

impl MacroString {
    /// The text, when it holds no reference.
    #[must_use]
    pub fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [MacroPart::Literal(s)] => Some(s),
            _ => None,
        }
    }

    /// The literal text before the first reference (all of it without one), lowercased:
    /// what a variable name built from it starts with.
    #[must_use]
    pub(crate) fn literal_start(&self) -> String {
        self.parts
            .iter()
            .map_while(|p| match p {
                MacroPart::Literal(s) => Some(s.to_ascii_lowercase()),
                MacroPart::Ref { .. } => None,
            })
            .collect()
    }

    /// Whether it holds at least one reference.
    #[must_use]
    pub fn has_refs(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, MacroPart::Ref { .. }))
    }

    /// A string without references.
    #[must_use]
    pub fn literal(text: &str) -> MacroString {
        MacroString {
            parts: if text.is_empty() {
                Vec::new()
            } else {
                vec![MacroPart::Literal(text.to_string())]
            },
            raw: text.to_string(),
        }
    }
}

/// Parses the macros of `word`. `%` not followed by `{` is literal; `%{` must be closed and
/// name a known variable.
pub(crate) fn parse_macros(word: &Word, diags: &mut Vec<Diagnostic>) -> Option<MacroString> {
    let text = word.text.as_str();
    let mut parts = Vec::new();
    let mut lit_start = 0;
    let mut i = 0;
    let mut ok = true;
    while let Some(k) = text.get(i..).and_then(|t| t.find("%{")) {
        let open = i + k;
        let Some(close) = text.get(open + 2..).and_then(|t| t.find('}')) else {
            diags.push(
                Diagnostic::error(
                    word.span_of(open..text.len()),
                    "unterminated macro: `%{` without `}`",
                )
                .hint("write a macro as `%{tx.name}` or `%{MATCHED_VAR}`"),
            );
            return None;
        };
        let close = open + 2 + close;
        if open > lit_start {
            parts.push(MacroPart::Literal(
                text.get(lit_start..open).unwrap_or("").to_string(),
            ));
        }
        let inner = text.get(open + 2..close).unwrap_or("");
        let (name, key) = match inner.split_once('.') {
            Some((n, k)) => (n, Some(k.to_string())),
            None => (inner, None),
        };
        let span = word.span_of(open..close + 1);
        match VariableKind::from_name(name) {
            Some(variable) => {
                if key.is_some() && !variable.is_collection() {
                    diags.push(Diagnostic::error(
                        span,
                        format!(
                            "`{}` is not a collection: `%{{{inner}}}` names no member of it",
                            variable.name()
                        ),
                    ));
                    ok = false;
                }
                parts.push(MacroPart::Ref {
                    variable,
                    key,
                    span,
                });
            }
            None => {
                diags.push(
                    Diagnostic::error(span, format!("unknown variable `{name}` in macro"))
                        .hint(VariableKind::hint(name)),
                );
                ok = false;
            }
        }
        i = close + 1;
        lit_start = i;
    }
    if lit_start < text.len() {
        parts.push(MacroPart::Literal(
            text.get(lit_start..).unwrap_or("").to_string(),
        ));
    }
    ok.then(|| MacroString {
        parts,
        raw: text.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts() {
        let mut d = Vec::new();
        let m = parse_macros(&Word::verbatim(0, "a %{tx.x} b %{MATCHED_VAR}%", 0), &mut d).unwrap();
        assert_eq!(m.parts.len(), 5);
        assert!(
            matches!(&m.parts[1], MacroPart::Ref { variable: VariableKind::Tx, key: Some(k), .. } if k == "x")
        );
        assert_eq!(m.parts[4], MacroPart::Literal("%".into()));
        assert!(parse_macros(&Word::verbatim(0, "%{tx.x", 0), &mut d).is_none());
        assert!(parse_macros(&Word::verbatim(0, "%{foo.x}", 0), &mut d).is_none());
        assert_eq!(MacroString::literal("5").as_literal(), Some("5"));
    }
}

//! A chain whose second link tests what its first captured whole, wrapped, against a
//! list: CRS's restricted headers (920450, 920451).
//!
//! ```text
//! SecRule REQUEST_HEADERS_NAMES "@rx ^.*$" "capture,t:lowercase,chain,
//!     setvar:'tx.header_name_920450_%{tx.0}=/%{tx.0}/'"
//!     SecRule TX:/^header_name_920450_/ "@within %{tx.restricted_headers_basic}"
//! ```
//!
//! Under `(?sm)`, `^.*$` captures every value whole, so the first link sets one variable
//! per name, `/name/`, and the second holds when one of them is within the list: when
//! some name is one of the strings the list holds between a `/` and a later `/`. That set
//! is known at load time, so the test is an `in` list on the names, which their scanner
//! answers with its other patterns, instead of the chain run link by link on every
//! request.

use portcullis_rules::{List, ListId, ListItems, ListKind, ListOp, PredKind, Term, Transform};

use super::chain::transforms;
use super::{Cond, Lowering, Unsupported};
use crate::action::{Action, ActionKind, Collection, SetVarOp};
use crate::macros::{MacroPart, MacroString};
use crate::operator::OperatorKind;
use crate::resolve::Link;
use crate::variable::{Selector, VariableKind};

/// More strings than this between the list's delimiters: left to the interpreter.
const MAX_ITEMS: usize = 10_000;

impl Lowering<'_> {
    /// `link`, the one after `prev`, as a test of what `prev` captured whole, when the
    /// two have that shape; `None` when they do not.
    pub(super) fn captured_within(
        &mut self,
        link: &Link,
        actions: &[Action],
        prev: Option<(&Link, &[Action])>,
    ) -> Option<Result<Cond, Unsupported>> {
        let (first, first_actions) = prev?;
        let captures_whole = matches!(&first.operator.kind,
            OperatorKind::Rx(m) if m.as_literal() == Some("^.*$"))
            && !first.operator.negated
            && first_actions
                .iter()
                .any(|a| matches!(a.kind, ActionKind::Capture));
        if !captures_whole {
            return None;
        }
        // The variables the second link reads: `TX:/^prefix/`.
        let [v] = link.variables.as_slice() else {
            return None;
        };
        let Some(Selector::Regex(r)) = &v.selector else {
            return None;
        };
        let read = r.strip_prefix('^')?.to_ascii_lowercase();
        let plain = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if v.kind != VariableKind::Tx || v.count || v.exclude || !plain(&read) {
            return None;
        }
        // The first link sets `tx.<name>%{tx.0}` to `<before>%{tx.0}<after>`, and nothing
        // else sets a variable the second link reads.
        let mut set = None;
        for a in first_actions {
            let ActionKind::SetVar(sv) = &a.kind else {
                continue;
            };
            let (name, rest) = around_capture(&sv.name)?;
            if !rest.is_empty() || !name.to_ascii_lowercase().starts_with(&read) {
                return None;
            }
            let SetVarOp::Set(value) = &sv.op else {
                return None;
            };
            if sv.collection != Collection::Tx || set.is_some() {
                return None;
            }
            set = Some(around_capture(value)?);
        }
        let (before, after) = set?;
        if self.others_set(&read, first_actions) {
            return None;
        }
        let OperatorKind::Within(list) = &link.operator.kind else {
            return None;
        };
        let list = self.expand(list).ok()?;
        let mut chain = transforms(first_actions).ok()?;
        let second = transforms(actions).ok()?;
        if chain.length || chain.multi_match || second.length || second.multi_match {
            return None;
        }
        // `t:lowercase` on `/name/` is `/` + the name lowercased + `/`.
        let (before, after) = match second.funcs.as_slice() {
            [] => (before, after),
            [Transform::Lower] => {
                chain.funcs.push(Transform::Lower);
                (before.to_ascii_lowercase(), after.to_ascii_lowercase())
            }
            _ => return None,
        };
        let items = between(&list, &before, &after)?;
        let id = ListId(u32::try_from(self.lists.len()).unwrap_or(u32::MAX));
        self.lists.push(List {
            name: format!("@within {}", list.chars().take(60).collect::<String>()),
            kind: ListKind::String,
            case_insensitive: false,
            items: ListItems::Str(items),
            span: link.operator.span,
            anonymous: true,
        });
        let negated = link.operator.negated;
        let span = link.span;
        Some(self.each_target(&first.variables, |l, v, excl| {
            l.field_target(v, excl, &chain, negated, span, &mut |_, term: Term| {
                Ok(PredKind::List {
                    lhs: term,
                    op: ListOp::In,
                    list: id,
                })
            })
        }))
    }

    /// Whether a constant, or a `setvar` other than `own`'s, may name a variable starting
    /// with `prefix`.
    fn others_set(&self, prefix: &str, own: &[Action]) -> bool {
        if self.env.keys().any(|k| k.starts_with(prefix)) {
            return true;
        }
        let own: Vec<*const Action> = own.iter().map(|a| a as *const Action).collect();
        self.set
            .rules()
            .flat_map(|r| {
                r.actions
                    .iter()
                    .chain(r.links.iter().flat_map(|l| &l.actions))
            })
            .filter(|a| !own.contains(&(*a as *const Action)))
            .any(|a| match &a.kind {
                ActionKind::SetVar(sv) if sv.collection == Collection::Tx => {
                    let literal = sv.name.literal_start();
                    let whole = sv.name.as_literal().is_some();
                    literal.starts_with(prefix) || (!whole && prefix.starts_with(&literal))
                }
                _ => false,
            })
    }
}

/// `<before>%{tx.0}<after>`: the literal text around the one reference, to the whole
/// capture.
fn around_capture(m: &MacroString) -> Option<(String, String)> {
    let at = m.parts.iter().position(|p| {
        matches!(p, MacroPart::Ref { variable: VariableKind::Tx, key: Some(k), .. } if k == "0")
    })?;
    let literal = |parts: &[MacroPart]| -> Option<String> {
        parts
            .iter()
            .map(|p| match p {
                MacroPart::Literal(s) => Some(s.as_str()),
                MacroPart::Ref { .. } => None,
            })
            .collect()
    };
    Some((
        literal(m.parts.get(..at)?)?,
        literal(m.parts.get(at + 1..)?)?,
    ))
}

/// Every `w` for which `<before>w<after>` is within `list`; `None` past [`MAX_ITEMS`].
fn between(list: &str, before: &str, after: &str) -> Option<Vec<String>> {
    // Every occurrence, overlapping ones too (`||` twice in `|||`).
    let at = |pat: &str| -> Vec<usize> {
        (0..=list.len())
            .filter(|&i| list.get(i..).is_some_and(|rest| rest.starts_with(pat)))
            .collect()
    };
    let starts: Vec<usize> = at(before).iter().map(|i| i + before.len()).collect();
    let ends = at(after);
    let mut items = Vec::new();
    for &s in &starts {
        for &e in ends.iter().filter(|&&e| e >= s) {
            items.push(list.get(s..e)?.to_string());
            if items.len() > MAX_ITEMS {
                return None;
            }
        }
    }
    items.sort_unstable();
    items.dedup();
    Some(items)
}

#[cfg(test)]
mod tests {
    use super::between;

    #[test]
    fn between_finds_every_string_the_list_wraps() {
        let list = "/proxy/ /if/";
        let naive = |w: &str| list.contains(&format!("/{w}/"));
        let items = between(list, "/", "/").unwrap_or_default();
        for w in ["proxy", "if", " ", "proxy/ /if", "prox", "", "if/"] {
            assert_eq!(items.iter().any(|i| i == w), naive(w), "{w:?}");
        }
        assert_eq!(items, [" ", " /if", "if", "proxy", "proxy/ ", "proxy/ /if"]);
        assert!(items.iter().all(|w| naive(w)));
        // Adjacent delimiters: `//` wraps the empty string.
        assert!(between("a//b", "/", "/").is_some_and(|i| i.contains(&String::new())));
        // Overlapping ones: `||x|` starts at the second `|` of `|||`.
        let items = between("|||x|", "||", "|").unwrap_or_default();
        assert_eq!(items, ["", "x", "|x"]);
    }
}

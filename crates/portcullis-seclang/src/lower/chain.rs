//! A link's transformations (`t:…`) as engine functions.

use portcullis_rules::Transform;

use super::Unsupported;
use crate::action::{Action, ActionKind};
use crate::transform::Transformation;

/// A link's transformations: the decoding functions in order (`t:none` clears those
/// before it), and whether `t:length` ends them.
pub(crate) struct Chain {
    pub(crate) funcs: Vec<Transform>,
    pub(crate) length: bool,
    pub(crate) multi_match: bool,
}

pub(crate) fn transforms(actions: &[Action]) -> Result<Chain, Unsupported> {
    let mut funcs = Vec::new();
    let mut length = false;
    let multi_match = actions.iter().any(|a| a.kind == ActionKind::MultiMatch);
    for a in actions {
        let ActionKind::Transform(t) = a.kind else {
            continue;
        };
        if length {
            return Err(Unsupported("a transformation after t:length".into()));
        }
        let f = match t {
            Transformation::None => {
                funcs.clear();
                continue;
            }
            Transformation::Length => {
                length = true;
                continue;
            }
            Transformation::Lowercase => Transform::Lower,
            Transformation::Uppercase => Transform::Upper,
            Transformation::UrlDecode => Transform::UrlDecode,
            Transformation::UrlDecodeUni => Transform::UrlDecodeUni,
            Transformation::HtmlEntityDecode => Transform::HtmlEntityDecode,
            Transformation::JsDecode => Transform::JsDecode,
            Transformation::CssDecode => Transform::CssDecode,
            Transformation::Base64Decode => Transform::Base64Decode,
            Transformation::HexDecode => Transform::HexDecode,
            Transformation::RemoveNulls => Transform::RemoveNulls,
            Transformation::RemoveWhitespace => Transform::RemoveWhitespace,
            Transformation::CompressWhitespace => Transform::CompressWhitespace,
            Transformation::ReplaceComments => Transform::ReplaceComments,
            Transformation::NormalizePath => Transform::NormalizePath,
            Transformation::NormalizePathWin => Transform::NormalizePathWin,
            Transformation::CmdLine => Transform::CmdLine,
            Transformation::Utf8ToUnicode => Transform::Utf8ToUnicode,
            Transformation::Trim => Transform::Trim,
            other => match Transform::from_name(&snake(other.name())) {
                Some(f) => f,
                None => {
                    return Err(Unsupported(format!("t:{}", other.name())));
                }
            },
        };
        funcs.push(f);
    }
    Ok(Chain {
        funcs,
        length,
        multi_match,
    })
}

/// `escapeSeqDecode` → `escape_seq_decode`: the rule language's name of a transformation.
fn snake(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

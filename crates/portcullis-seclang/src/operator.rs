//! Operators: `"@rx ^a"`, `"!@within %{tx.allowed_methods}"`, `"@pmFromFile x.data"`; no
//! `@` means `@rx`.

use std::path::PathBuf;
use std::sync::Arc;

use ipnet::IpNet;
use portcullis_rules::{Diagnostic, Span};

use crate::lex::Word;
use crate::load::Ctx;
use crate::macros::{parse_macros, MacroString};
use crate::suggest::did_you_mean;

/// A rule's operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operator {
    /// `!@…`: the rule matches when the operator does not.
    pub negated: bool,
    /// What it tests.
    pub kind: OperatorKind,
    /// The whole operator argument as written.
    pub span: Span,
}

/// A data file an operator reads (`@pmFromFile`, `@ipMatchFromFile`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataFile {
    /// Where it was read from (relative to the rule file's directory).
    pub path: PathBuf,
    /// Its lines, but for blank ones and `#` comments (ModSecurity v3's rule for data files).
    pub lines: Arc<[String]>,
}

/// Every operator CRS v4 uses, and the other ones this crate can type.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OperatorKind {
    /// `@rx regex`: the regex as written (ModSecurity expands macros in it).
    Rx(MacroString),
    /// `@pm a b c`: any of the space-separated phrases, case-insensitively.
    Pm(Vec<String>),
    /// `@pmFromFile f.data` (alias `@pmf`): any phrase of the files.
    PmFromFile(Vec<DataFile>),
    /// `@eq n`
    Eq(MacroString),
    /// `@ge n`
    Ge(MacroString),
    /// `@gt n`
    Gt(MacroString),
    /// `@lt n`
    Lt(MacroString),
    /// `@le n`
    Le(MacroString),
    /// `@within list`: the value is a substring of the argument.
    Within(MacroString),
    /// `@streq s`
    Streq(MacroString),
    /// `@beginsWith s`
    BeginsWith(MacroString),
    /// `@endsWith s`
    EndsWith(MacroString),
    /// `@contains s`
    Contains(MacroString),
    /// `@containsWord s`
    ContainsWord(MacroString),
    /// `@strmatch s`
    StrMatch(MacroString),
    /// `@detectSQLi` (libinjection)
    DetectSqli,
    /// `@detectXSS` (libinjection)
    DetectXss,
    /// `@validateByteRange 1-255,9`: matches when a byte is outside every range.
    ValidateByteRange(Vec<(u8, u8)>),
    /// `@validateUrlEncoding`
    ValidateUrlEncoding,
    /// `@validateUtf8Encoding`
    ValidateUtf8Encoding,
    /// `@ipMatch 10.0.0.0/8,::1`
    IpMatch(Vec<IpNet>),
    /// `@ipMatchFromFile f` (alias `@ipMatchF`)
    IpMatchFromFile {
        /// The file.
        path: PathBuf,
        /// Its addresses and networks.
        nets: Vec<IpNet>,
    },
    /// `@unconditionalMatch`
    UnconditionalMatch,
    /// `@noMatch`
    NoMatch,
}

impl OperatorKind {
    /// The phrases of `@pm` and `@pmFromFile`, lowercased (they match ignoring case).
    pub(crate) fn phrases(&self) -> Option<Vec<String>> {
        let lower = |s: &String| s.to_ascii_lowercase();
        match self {
            OperatorKind::Pm(p) => Some(p.iter().map(lower).collect()),
            OperatorKind::PmFromFile(files) => Some(
                files
                    .iter()
                    .flat_map(|f| f.lines.iter())
                    .map(lower)
                    .collect(),
            ),
            _ => None,
        }
    }
}

/// Operators ModSecurity defines that we refuse, with why.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("rsub", "it rewrites stream data"),
    ("rxGlobal", "global regex matching is not supported yet"),
    ("rbl", "it queries DNS block lists"),
    ("geoLookup", "it needs a GeoIP database"),
    ("gsbLookup", "it queries Google Safe Browsing"),
    ("inspectFile", "it runs an external program"),
    ("fuzzyHash", "it needs ssdeep"),
    ("validateDTD", "XML validation is not supported"),
    ("validateSchema", "XML validation is not supported"),
    ("validateHash", "hash validation is not supported"),
    ("verifyCC", "credit-card detection is not supported"),
    ("verifyCPF", "CPF detection is not supported"),
    ("verifySSN", "SSN detection is not supported"),
    ("verifySVNR", "SVNR detection is not supported"),
];

const KNOWN: &[&str] = &[
    "rx",
    "pm",
    "pmFromFile",
    "pmf",
    "eq",
    "ge",
    "gt",
    "lt",
    "le",
    "within",
    "streq",
    "beginsWith",
    "endsWith",
    "contains",
    "containsWord",
    "strmatch",
    "detectSQLi",
    "detectXSS",
    "validateByteRange",
    "validateUrlEncoding",
    "validateUtf8Encoding",
    "ipMatch",
    "ipMatchFromFile",
    "ipMatchF",
    "unconditionalMatch",
    "noMatch",
];

pub(crate) fn parse_operator(word: &Word, ctx: &mut Ctx<'_>) -> Option<Operator> {
    let text = word.text.as_str();
    let span = word.span();
    let mut i = 0;
    let negated = text.starts_with('!');
    if negated {
        i = 1;
    }
    if text.as_bytes().get(i) != Some(&b'@') {
        let arg = parse_macros(&word.slice(i..text.len()), &mut ctx.diags)?;
        return Some(Operator {
            negated,
            kind: OperatorKind::Rx(arg),
            span,
        });
    }
    let name_start = i + 1;
    let mut j = name_start;
    while text
        .as_bytes()
        .get(j)
        .is_some_and(u8::is_ascii_alphanumeric)
    {
        j += 1;
    }
    let name = text.get(name_start..j).unwrap_or("");
    let name_span = word.span_of(i..j);
    // One blank separates the name from the argument; the rest of the argument is kept as
    // written (ModSecurity v3 consumes exactly one space there).
    let arg_start = if matches!(text.as_bytes().get(j), Some(b' ' | b'\t')) {
        j + 1
    } else {
        j
    };
    if arg_start == j && j < text.len() {
        let c = text.get(j..).and_then(|t| t.chars().next()).unwrap_or(' ');
        ctx.diags.push(
            Diagnostic::error(
                word.span_of(j..j + c.len_utf8()),
                format!("unexpected `{c}` after the operator name"),
            )
            .hint("separate the operator from its argument with a space"),
        );
        return None;
    }
    let arg = word.slice(arg_start..text.len());
    let kind = parse_kind(name, name_span, &arg, word, ctx)?;
    Some(Operator {
        negated,
        kind,
        span,
    })
}

fn parse_kind(
    name: &str,
    name_span: Span,
    arg: &Word,
    whole: &Word,
    ctx: &mut Ctx<'_>,
) -> Option<OperatorKind> {
    let lower = name.to_ascii_lowercase();
    let needs_arg = !matches!(
        lower.as_str(),
        "detectsqli"
            | "detectxss"
            | "validateurlencoding"
            | "validateutf8encoding"
            | "unconditionalmatch"
            | "nomatch"
    );
    let known = KNOWN.iter().any(|k| k.eq_ignore_ascii_case(name));
    if known {
        if needs_arg && arg.text.trim().is_empty() {
            ctx.diags.push(
                Diagnostic::error(
                    whole.span(),
                    format!("operator `@{name}` needs an argument"),
                )
                .hint(format!("e.g. `@{name} value`")),
            );
            return None;
        }
        if !needs_arg && !arg.text.trim().is_empty() {
            ctx.diags.push(
                Diagnostic::error(arg.span(), format!("operator `@{name}` takes no argument"))
                    .hint(format!("write `@{name}` alone")),
            );
            return None;
        }
    }
    let m = |ctx: &mut Ctx<'_>| parse_macros(arg, &mut ctx.diags);
    Some(match lower.as_str() {
        "rx" => OperatorKind::Rx(m(ctx)?),
        "pm" => OperatorKind::Pm(arg.text.split_whitespace().map(str::to_string).collect()),
        "pmfromfile" | "pmf" => {
            let mut files = Vec::new();
            let mut ok = true;
            for (range, written) in words(&arg.text) {
                match ctx.data_file(written, arg.span_of(range)) {
                    Some((path, lines)) => files.push(DataFile { path, lines }),
                    None => ok = false,
                }
            }
            if !ok {
                return None;
            }
            OperatorKind::PmFromFile(files)
        }
        "eq" => OperatorKind::Eq(m(ctx)?),
        "ge" => OperatorKind::Ge(m(ctx)?),
        "gt" => OperatorKind::Gt(m(ctx)?),
        "lt" => OperatorKind::Lt(m(ctx)?),
        "le" => OperatorKind::Le(m(ctx)?),
        "within" => OperatorKind::Within(m(ctx)?),
        "streq" => OperatorKind::Streq(m(ctx)?),
        "beginswith" => OperatorKind::BeginsWith(m(ctx)?),
        "endswith" => OperatorKind::EndsWith(m(ctx)?),
        "contains" => OperatorKind::Contains(m(ctx)?),
        "containsword" => OperatorKind::ContainsWord(m(ctx)?),
        "strmatch" => OperatorKind::StrMatch(m(ctx)?),
        "detectsqli" => OperatorKind::DetectSqli,
        "detectxss" => OperatorKind::DetectXss,
        "validateurlencoding" => OperatorKind::ValidateUrlEncoding,
        "validateutf8encoding" => OperatorKind::ValidateUtf8Encoding,
        "unconditionalmatch" => OperatorKind::UnconditionalMatch,
        "nomatch" => OperatorKind::NoMatch,
        "validatebyterange" => {
            OperatorKind::ValidateByteRange(parse_byte_ranges(arg, &mut ctx.diags)?)
        }
        "ipmatch" => {
            let mut nets = Vec::new();
            let mut ok = true;
            for (range, item) in items(&arg.text) {
                match portcullis_rules::parse_net(item) {
                    Ok(n) => nets.push(n),
                    Err(e) => {
                        ctx.diags.push(Diagnostic::error(arg.span_of(range), e).hint("write addresses or networks separated by commas, e.g. `10.0.0.0/8,::1`"));
                        ok = false;
                    }
                }
            }
            if !ok {
                return None;
            }
            OperatorKind::IpMatch(nets)
        }
        "ipmatchfromfile" | "ipmatchf" => {
            let written = arg.text.trim();
            let (path, lines) = ctx.data_file(written, arg.span())?;
            let mut nets = Vec::new();
            let mut bad = 0usize;
            for line in lines.iter() {
                match portcullis_rules::parse_net(line.trim()) {
                    Ok(n) => nets.push(n),
                    Err(e) => {
                        bad += 1;
                        if bad == 1 {
                            ctx.diags.push(
                                Diagnostic::error(arg.span(), format!("in `{written}`: {e}"))
                                    .hint("an IP data file holds one address or network per line"),
                            );
                        }
                    }
                }
            }
            if bad > 0 {
                return None;
            }
            OperatorKind::IpMatchFromFile { path, nets }
        }
        _ => {
            if let Some((known, why)) = UNSUPPORTED
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                ctx.diags.push(
                    Diagnostic::error(
                        name_span,
                        format!("operator `@{known}` is not supported: {why}"),
                    )
                    .hint("remove the rule, or rewrite it with a supported operator"),
                );
                return None;
            }
            let hint = did_you_mean(name, KNOWN.iter().copied())
                .unwrap_or_else(|| "see ModSecurity's reference manual for the operators".into());
            ctx.diags.push(
                Diagnostic::error(name_span, format!("unknown operator `@{name}`")).hint(hint),
            );
            return None;
        }
    })
}

/// Whitespace-separated words with their byte ranges.
fn words(text: &str) -> impl Iterator<Item = (std::ops::Range<usize>, &str)> {
    let base = text.as_ptr() as usize;
    text.split_whitespace().map(move |w| {
        let start = w.as_ptr() as usize - base;
        (start..start + w.len(), w)
    })
}

/// Comma- (or blank-) separated items with their byte ranges.
fn items(text: &str) -> impl Iterator<Item = (std::ops::Range<usize>, &str)> {
    let base = text.as_ptr() as usize;
    text.split([',', ' ', '\t'])
        .filter(|w| !w.is_empty())
        .map(move |w| {
            let start = w.as_ptr() as usize - base;
            (start..start + w.len(), w)
        })
}

/// `1-255,9,10`: byte values and inclusive ranges of them.
fn parse_byte_ranges(arg: &Word, diags: &mut Vec<Diagnostic>) -> Option<Vec<(u8, u8)>> {
    let mut out = Vec::new();
    let mut ok = true;
    for (range, item) in items(&arg.text) {
        let parsed = match item.split_once('-') {
            Some((a, b)) => a.trim().parse::<u8>().ok().zip(b.trim().parse::<u8>().ok()),
            None => item.trim().parse::<u8>().ok().map(|n| (n, n)),
        };
        match parsed {
            Some((a, b)) if a <= b => out.push((a, b)),
            _ => {
                diags.push(
                    Diagnostic::error(arg.span_of(range), format!("`{item}` is not a byte or a range of bytes"))
                        .hint("write values from 0 to 255 and ranges such as `32-126`, separated by commas"),
                );
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

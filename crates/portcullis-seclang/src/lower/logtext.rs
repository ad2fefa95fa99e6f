//! A rule's `msg` and `logdata` for the log. Load-time constants are filled in when the
//! rule is lowered; what only the request knows, per match: the value the rule held on
//! (`%{MATCHED_VAR}`), where (`%{MATCHED_VAR_NAME}`: `ARGS:q`), what of it the operator
//! matched (`%{TX.0}`–`%{TX.9}`: the regex's match and groups, the phrase, libinjection's
//! fingerprint) and the anomaly scores as they stood after the rule ran.

use std::sync::{Arc, OnceLock};

use portcullis_rules::{Detector, Field, LogText, Matched, RuleLog};
use regex_automata::meta::Regex;

use super::constants::Tx;
use super::{field_of, pcre_pattern, Lowering};
use crate::action::{ActionKind, Severity};
use crate::interpret::regex;
use crate::macros::{MacroPart, MacroString};
use crate::operator::OperatorKind;
use crate::resolve::Rule;
use crate::variable::{with_exclusions, Selector, Variable, VariableKind};

/// Longest value a part fills in: a log line must not carry a megabyte of attacker's text.
const MAX_PART: usize = 200;

#[derive(Debug)]
struct SecLangLog {
    msg: Option<Vec<Part>>,
    /// The `msg` with what the request sent left as written, for the decision's reason;
    /// `None` when it has no macro to fill in.
    reason: Option<Vec<Part>>,
    data: Option<Vec<Part>>,
    severity: Option<Severity>,
    /// Each link's targets, with the names ModSecurity gives their values, and what its
    /// operator captures.
    links: Vec<(Vec<(Field, String)>, Capture)>,
}

#[derive(Debug)]
enum Part {
    Lit(String),
    MatchedVar,
    MatchedVarName,
    /// `%{TX.n}`: the operator's match (0) or a regex group.
    Group(usize),
    /// An engine score.
    Score(String),
    /// The first value of another variable (`%{ARGS._method}`, `%{REQUEST_HEADERS.host}`),
    /// and the macro as written.
    First(Field, String),
    /// What the log cannot know (a variable set per request by another rule): as written.
    Raw(String),
}

#[derive(Debug)]
enum Capture {
    /// The regex, compiled the first time a match of it is logged.
    Regex(String, OnceLock<Option<Regex>>),
    Phrases(Vec<String>),
    Sqli,
    Nothing,
}

impl Lowering<'_> {
    /// The log texts of `rule`, if it has a `msg` or a `logdata`.
    pub(super) fn rule_log(&self, rule: &Rule) -> Option<RuleLog> {
        let text = |pick: fn(&ActionKind) -> Option<&MacroString>| {
            rule.actions.iter().rev().find_map(|a| pick(&a.kind))
        };
        let msg = text(|k| match k {
            ActionKind::Msg(m) => Some(m),
            _ => None,
        });
        let data = text(|k| match k {
            ActionKind::LogData(m) => Some(m),
            _ => None,
        });
        let reason = msg
            .filter(|m| m.as_literal().is_none())
            .map(|m| self.parts(m).into_iter().map(Part::unfilled).collect());
        let (msg, data) = (msg.map(|m| self.parts(m)), data.map(|m| self.parts(m)));
        let severity = rule.actions.iter().rev().find_map(|a| match a.kind {
            ActionKind::Severity(s) => Some(s),
            _ => None,
        });
        if msg.is_none() && data.is_none() && severity.is_none() {
            return None;
        }
        let links = rule
            .links
            .iter()
            .map(|link| {
                let targets = with_exclusions(&link.variables)
                    .filter(|(v, _)| !v.count)
                    .filter_map(|(v, excl)| {
                        let (field, _) = field_of(v, &excl).ok()?;
                        Some((field, shown_name(v)))
                    })
                    .collect();
                (targets, capture(&link.operator.kind))
            })
            .collect();
        Some(RuleLog(Arc::new(SecLangLog {
            msg,
            reason,
            data,
            severity,
            links,
        })))
    }

    fn parts(&self, m: &MacroString) -> Vec<Part> {
        let mut parts: Vec<Part> = Vec::new();
        for p in &m.parts {
            let part = match p {
                MacroPart::Literal(s) => Part::Lit(s.clone()),
                MacroPart::Ref {
                    variable,
                    key,
                    span,
                } => match (variable, key) {
                    (VariableKind::MatchedVar, _) => Part::MatchedVar,
                    (VariableKind::MatchedVarName, _) => Part::MatchedVarName,
                    (VariableKind::Tx, Some(k)) => match k.parse::<usize>() {
                        Ok(n) if n < 10 => Part::Group(n),
                        _ => match self.env.get(&k.to_ascii_lowercase()) {
                            Some(Tx::Const(c)) => Part::Lit(c.clone()),
                            Some(Tx::Score(s)) => Part::Score(s.clone()),
                            None => Part::Lit(String::new()),
                            Some(Tx::Dynamic) => Part::Raw(format!("%{{TX.{k}}}")),
                        },
                    },
                    (v, key) => {
                        let var = Variable::quoted(*v, key.as_deref(), *span);
                        let written = match key {
                            Some(k) => format!("%{{{}.{k}}}", v.name()),
                            None => format!("%{{{}}}", v.name()),
                        };
                        match field_of(&var, &[]) {
                            Ok((field, _)) => Part::First(field, written),
                            Err(_) => Part::Raw(written),
                        }
                    }
                },
            };
            // Adjacent literals as one.
            match (parts.last_mut(), part) {
                (Some(Part::Lit(a)), Part::Lit(b)) => a.push_str(&b),
                (_, part) => parts.push(part),
            }
        }
        parts
    }
}

impl Part {
    /// The part as a refusal may show it: what the request sent left as written.
    fn unfilled(self) -> Part {
        match self {
            Part::MatchedVar => Part::Lit("%{MATCHED_VAR}".into()),
            Part::MatchedVarName => Part::Lit("%{MATCHED_VAR_NAME}".into()),
            Part::Group(n) => Part::Lit(format!("%{{TX.{n}}}")),
            Part::First(_, written) => Part::Lit(written),
            p @ (Part::Lit(_) | Part::Score(_) | Part::Raw(_)) => p,
        }
    }
}

/// `ARGS`, `REQUEST_HEADERS:User-Agent`: the variable as ModSecurity names its values.
fn shown_name(v: &Variable) -> String {
    match &v.selector {
        Some(Selector::Key(k)) => format!("{}:{k}", v.kind.name()),
        _ => v.kind.name().to_string(),
    }
}

fn capture(op: &OperatorKind) -> Capture {
    match op {
        OperatorKind::Rx(m) => match m.as_literal() {
            Some(p) => Capture::Regex(pcre_pattern(p), OnceLock::new()),
            None => Capture::Nothing,
        },
        OperatorKind::DetectSqli => Capture::Sqli,
        op => op.phrases().map_or(Capture::Nothing, Capture::Phrases),
    }
}

impl Capture {
    /// `%{TX.n}` for `value`: the match or group `n`, empty when there is none.
    fn group(&self, value: &str, n: usize) -> String {
        match self {
            Capture::Regex(pattern, re) => {
                let Some(re) = re.get_or_init(|| regex(pattern)) else {
                    return String::new();
                };
                let mut caps = re.create_captures();
                re.captures(value, &mut caps);
                caps.get_group(n)
                    .and_then(|s| value.get(s.range()))
                    .unwrap_or_default()
                    .to_string()
            }
            // The first phrase found, as it is written in the value.
            Capture::Phrases(phrases) if n == 0 => {
                let lower = value.to_ascii_lowercase();
                phrases
                    .iter()
                    .filter(|p| !p.is_empty())
                    .filter_map(|p| lower.find(p.as_str()).map(|at| (at, p.len())))
                    .min()
                    .and_then(|(at, len)| value.get(at..at + len))
                    .unwrap_or_default()
                    .to_string()
            }
            Capture::Sqli if n == 0 => Detector::Sqli
                .fingerprint(value.as_bytes())
                .unwrap_or_default(),
            _ => String::new(),
        }
    }
}

impl SecLangLog {
    fn fill(&self, parts: &[Part], m: &Matched<'_>) -> String {
        let found = m.value.as_ref();
        // The link the value was read by: the first whose targets hold its field.
        let link = found.and_then(|v| {
            self.links.iter().find_map(|(targets, cap)| {
                let (_, name) = targets.iter().find(|(f, _)| f == v.field)?;
                Some((name, cap))
            })
        });
        let mut out = String::new();
        for p in parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::MatchedVar => push_cut(&mut out, found.map_or("", |v| v.value)),
                Part::MatchedVarName => {
                    let name = match (link, found.and_then(|v| v.name)) {
                        (Some((var, _)), Some(member)) => {
                            // `ARGS:q`: the collection's name, then the member's.
                            let collection = var.split(':').next().unwrap_or(var);
                            format!("{collection}:{member}")
                        }
                        (Some((var, _)), None) => var.clone(),
                        (None, _) => String::new(),
                    };
                    push_cut(&mut out, &name);
                }
                Part::Group(n) => {
                    if let (Some((_, cap)), Some(v)) = (link, found) {
                        push_cut(&mut out, &cap.group(v.value, *n));
                    }
                }
                Part::Score(s) => out.push_str(&(m.score)(s).unwrap_or(0).to_string()),
                Part::First(f, _) => {
                    let mut first = None;
                    m.values.each(f, &mut |_, v| {
                        first.get_or_insert_with(|| v.to_string());
                    });
                    push_cut(&mut out, first.as_deref().unwrap_or_default());
                }
                Part::Raw(s) => out.push_str(s),
            }
        }
        out
    }
}

/// Appends `s`, cut to [`MAX_PART`] bytes at a character boundary (`…` marks a cut).
fn push_cut(out: &mut String, s: &str) {
    if s.len() <= MAX_PART {
        out.push_str(s);
        return;
    }
    let mut end = MAX_PART;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.push_str(s.get(..end).unwrap_or_default());
    out.push('…');
}

impl LogText for SecLangLog {
    fn message(&self, m: &Matched<'_>) -> Option<String> {
        Some(self.fill(self.msg.as_ref()?, m))
    }

    fn data(&self, m: &Matched<'_>) -> Option<String> {
        Some(self.fill(self.data.as_ref()?, m))
    }

    fn severity(&self) -> Option<&str> {
        self.severity.map(Severity::name)
    }

    fn reason(&self, score: &dyn Fn(&str) -> Option<i64>) -> Option<String> {
        let m = Matched {
            value: None,
            score,
            values: &NoValues,
        };
        Some(self.fill(self.reason.as_ref()?, &m))
    }
}

/// No request: a reason is filled in from the scores alone.
struct NoValues;

impl portcullis_rules::Values for NoValues {
    fn each(&self, _: &Field, _: &mut dyn FnMut(&str, &str)) {}
}

//! Actions: `"id:1,phase:2,t:none,msg:'x',setvar:'tx.score=+%{tx.critical_anomaly_score}'"`.
//!
//! A list is comma-separated `name` or `name:value`; a value may be single-quoted, with
//! `\'` for a quote inside it (other backslashes are kept). Names are case-insensitive.

use portcullis_rules::{Diagnostic, Span};

use crate::ctl::{parse_ctl, Ctl};
use crate::lex::Word;
use crate::macros::{parse_macros, MacroString};
use crate::suggest::did_you_mean;
use crate::transform::Transformation;
use crate::variable::VariableKind;

/// A processing phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// 1: request headers read.
    RequestHeaders = 1,
    /// 2 (`request`, and the default): request body read.
    RequestBody = 2,
    /// 3: response headers read.
    ResponseHeaders = 3,
    /// 4 (`response`): response body read.
    ResponseBody = 4,
    /// 5 (`logging`): after the response, before logging.
    Logging = 5,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Phase; 5] = [
        Phase::RequestHeaders,
        Phase::RequestBody,
        Phase::ResponseHeaders,
        Phase::ResponseBody,
        Phase::Logging,
    ];

    /// 1 to 5.
    #[must_use]
    pub fn number(self) -> u8 {
        self as u8
    }

    fn parse(s: &str) -> Option<Phase> {
        match s.to_ascii_lowercase().as_str() {
            "1" => Some(Phase::RequestHeaders),
            "2" | "request" => Some(Phase::RequestBody),
            "3" => Some(Phase::ResponseHeaders),
            "4" | "response" => Some(Phase::ResponseBody),
            "5" | "logging" => Some(Phase::Logging),
            _ => None,
        }
    }
}

/// A rule's severity (`severity:CRITICAL` or `severity:2`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// 0
    Emergency = 0,
    /// 1
    Alert = 1,
    /// 2
    Critical = 2,
    /// 3
    Error = 3,
    /// 4
    Warning = 4,
    /// 5
    Notice = 5,
    /// 6
    Info = 6,
    /// 7
    Debug = 7,
}

impl Severity {
    const NAMES: [(&'static str, Severity); 8] = [
        ("EMERGENCY", Severity::Emergency),
        ("ALERT", Severity::Alert),
        ("CRITICAL", Severity::Critical),
        ("ERROR", Severity::Error),
        ("WARNING", Severity::Warning),
        ("NOTICE", Severity::Notice),
        ("INFO", Severity::Info),
        ("DEBUG", Severity::Debug),
    ];

    /// Its name (`CRITICAL`).
    #[must_use]
    pub fn name(self) -> &'static str {
        Severity::NAMES
            .iter()
            .find(|(_, v)| *v == self)
            .map_or("", |(n, _)| n)
    }

    fn parse(s: &str) -> Option<Severity> {
        if let Ok(n) = s.parse::<usize>() {
            return Severity::NAMES.get(n).map(|(_, v)| *v);
        }
        Severity::NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(s))
            .map(|(_, v)| *v)
    }
}

/// What `allow` lets through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllowScope {
    /// `allow`: the rest of the transaction (but for the logging phase).
    All,
    /// `allow:phase`: the rest of the current phase.
    Phase,
    /// `allow:request`: the rest of the request phases.
    Request,
}

/// A collection `setvar`, `initcol` and `expirevar` write to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Collection {
    /// `tx`: this transaction's variables.
    Tx,
    /// `ip`: persistent, per client address (after `initcol`).
    Ip,
    /// `session`: persistent, per session (after `setsid`).
    Session,
    /// `user`: persistent, per user (after `setuid`).
    User,
    /// `global`: persistent, shared.
    Global,
    /// `resource`: persistent, per resource.
    Resource,
}

impl Collection {
    fn parse(s: &str) -> Option<Collection> {
        Some(match s.to_ascii_lowercase().as_str() {
            "tx" => Collection::Tx,
            "ip" => Collection::Ip,
            "session" => Collection::Session,
            "user" => Collection::User,
            "global" => Collection::Global,
            "resource" => Collection::Resource,
            _ => return None,
        })
    }

    /// The variable that reads it back (`TX`, `IP`…).
    #[must_use]
    pub fn variable(self) -> VariableKind {
        match self {
            Collection::Tx => VariableKind::Tx,
            Collection::Ip => VariableKind::Ip,
            Collection::Session => VariableKind::Session,
            Collection::User => VariableKind::User,
            Collection::Global => VariableKind::Global,
            Collection::Resource => VariableKind::Resource,
        }
    }
}

/// What a `setvar` does to its variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetVarOp {
    /// `tx.x=v`
    Set(MacroString),
    /// `tx.x=+v`: adds `v` (a number) to the current value.
    Add(MacroString),
    /// `tx.x=-v`: subtracts `v` (ModSecurity reads `=-5` as "minus 5", not "set to -5").
    Sub(MacroString),
    /// `tx.x` alone: sets it to 1.
    SetOne,
    /// `!tx.x`: removes it.
    Unset,
}

/// `setvar:'tx.name=value'`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetVar {
    /// Where the variable lives.
    pub collection: Collection,
    /// Its name, which may hold macros (`tx.rfi_parameter_%{MATCHED_VAR_NAME}`).
    pub name: MacroString,
    /// What is done to it.
    pub op: SetVarOp,
}

/// An inclusive range of rule ids (`100-199`, or one id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IdRange {
    /// First id.
    pub start: u32,
    /// Last id (inclusive).
    pub end: u32,
}

impl IdRange {
    /// Whether `id` is in the range.
    #[must_use]
    pub fn contains(&self, id: u32) -> bool {
        (self.start..=self.end).contains(&id)
    }
}

/// One action of a rule, with its place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Action {
    /// What it is.
    pub kind: ActionKind,
    /// `name:value` as written.
    pub span: Span,
}

/// Every action CRS v4 uses, and the other harmless ones of ModSecurity v3.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ActionKind {
    /// `id:n`
    Id(u32),
    /// `phase:n`
    Phase(Phase),
    /// `msg:'…'`
    Msg(MacroString),
    /// `tag:'…'`
    Tag(MacroString),
    /// `severity:…`
    Severity(Severity),
    /// `logdata:'…'`
    LogData(MacroString),
    /// `ver:'…'`
    Ver(String),
    /// `rev:'…'`
    Rev(String),
    /// `maturity:n`
    Maturity(u8),
    /// `accuracy:n`
    Accuracy(u8),
    /// `setvar:…`
    SetVar(SetVar),
    /// `chain`: the next `SecRule` is a further condition of this one.
    Chain,
    /// `skipAfter:MARKER`
    SkipAfter(String),
    /// `skip:n`: skips the next n rules (chains count as one).
    Skip(u32),
    /// `ctl:…`
    Ctl(Ctl),
    /// `capture`: regex groups into `TX.0`–`TX.9`.
    Capture,
    /// `t:…`
    Transform(Transformation),
    /// `multiMatch`: the operator runs after every transformation, not only the last.
    MultiMatch,
    /// `deny`
    Deny,
    /// `block`: the disruptive action of the phase's `SecDefaultAction`.
    Block,
    /// `pass`
    Pass,
    /// `allow`, `allow:phase`, `allow:request`
    Allow(AllowScope),
    /// `drop`
    Drop,
    /// `status:n`: the status `deny` answers with.
    Status(u16),
    /// `redirect:url`
    Redirect(MacroString),
    /// `log`
    Log,
    /// `nolog`
    NoLog,
    /// `auditlog`
    AuditLog,
    /// `noauditlog`
    NoAuditLog,
    /// `initcol:ip=%{REMOTE_ADDR}`: opens a persistent collection.
    InitCol {
        /// The collection.
        collection: Collection,
        /// The record's key.
        key: MacroString,
    },
    /// `expirevar:ip.x=60`
    ExpireVar {
        /// The collection.
        collection: Collection,
        /// The variable.
        name: MacroString,
        /// Seconds until it expires.
        seconds: MacroString,
    },
}

impl ActionKind {
    /// Whether it decides what happens to the transaction (`deny`, `block`, `pass`…).
    #[must_use]
    pub fn is_disruptive(&self) -> bool {
        matches!(
            self,
            ActionKind::Deny
                | ActionKind::Block
                | ActionKind::Pass
                | ActionKind::Allow(_)
                | ActionKind::Drop
                | ActionKind::Redirect(_)
        )
    }

    /// Whether only the first rule of a chain may carry it (ModSecurity's reference manual:
    /// disruptive and flow actions, and the metadata, belong to the chain starter).
    pub(crate) fn starter_only(&self) -> bool {
        self.is_disruptive()
            || matches!(
                self,
                ActionKind::Id(_)
                    | ActionKind::Phase(_)
                    | ActionKind::Skip(_)
                    | ActionKind::SkipAfter(_)
                    | ActionKind::Msg(_)
                    | ActionKind::Tag(_)
                    | ActionKind::Severity(_)
                    | ActionKind::Ver(_)
                    | ActionKind::Rev(_)
                    | ActionKind::Maturity(_)
                    | ActionKind::Accuracy(_)
            )
    }
}

/// Names of every action this crate parses, for hints.
const KNOWN: &[&str] = &[
    "id",
    "phase",
    "msg",
    "tag",
    "severity",
    "logdata",
    "ver",
    "rev",
    "maturity",
    "accuracy",
    "setvar",
    "chain",
    "skipAfter",
    "skip",
    "ctl",
    "capture",
    "t",
    "multiMatch",
    "deny",
    "block",
    "pass",
    "allow",
    "drop",
    "status",
    "redirect",
    "log",
    "nolog",
    "auditlog",
    "noauditlog",
    "initcol",
    "expirevar",
];

/// Actions ModSecurity knows that we refuse, with why.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("exec", "it runs an external program"),
    ("proxy", "it forwards the request elsewhere"),
    ("pause", "it delays the transaction"),
    ("append", "it changes the response body"),
    ("prepend", "it changes the response body"),
    ("setenv", "it sets server environment variables"),
    ("setuid", "it needs user collections"),
    ("setsid", "it needs session collections"),
    ("setrsc", "it needs resource collections"),
    ("deprecatevar", "it needs persistent collections"),
    ("xmlns", "XPath namespaces are not supported"),
    ("sanitiseArg", "audit-log sanitising is not supported"),
    ("sanitiseMatched", "audit-log sanitising is not supported"),
    (
        "sanitiseMatchedBytes",
        "audit-log sanitising is not supported",
    ),
    (
        "sanitiseRequestHeader",
        "audit-log sanitising is not supported",
    ),
    (
        "sanitiseResponseHeader",
        "audit-log sanitising is not supported",
    ),
];

/// One `name[:value]` of an action list.
pub(crate) struct RawAction {
    pub(crate) name: Word,
    pub(crate) value: Option<Word>,
    pub(crate) span: Span,
}

/// Splits an action list.
pub(crate) fn split_actions(word: &Word, diags: &mut Vec<Diagnostic>) -> Option<Vec<RawAction>> {
    let text = word.text.as_str();
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let skip_ws = |mut i: usize| {
        while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        i
    };
    loop {
        i = skip_ws(i);
        if i >= bytes.len() {
            break;
        }
        let start = i;
        while bytes
            .get(i)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
        {
            i += 1;
        }
        let name = word.slice(start..i);
        if name.text.is_empty() {
            let c = text.get(i..).and_then(|t| t.chars().next()).unwrap_or(' ');
            diags.push(
                Diagnostic::error(
                    word.span_of(i..i + c.len_utf8()),
                    format!("expected an action name, found `{c}`"),
                )
                .hint("actions are `name` or `name:value`, separated by commas"),
            );
            return None;
        }
        let mut value = None;
        if bytes.get(i) == Some(&b':') {
            i += 1;
            if bytes.get(i) == Some(&b'\'') {
                let open = i;
                let mut k = i + 1;
                loop {
                    match bytes.get(k) {
                        None => {
                            diags.push(
                                Diagnostic::error(
                                    word.span_of(open..text.len()),
                                    "unterminated quoted action value",
                                )
                                .hint("close it with `'`; a quote inside it is written `\\'`"),
                            );
                            return None;
                        }
                        Some(b'\\') if bytes.get(k + 1) == Some(&b'\'') => k += 2,
                        Some(b'\'') => break,
                        Some(_) => k += 1,
                    }
                }
                value = Some(word.unescape(open + 1..k, '\''));
                i = skip_ws(k + 1);
                if !matches!(bytes.get(i), None | Some(b',')) {
                    diags.push(
                        Diagnostic::error(
                            word.span_of(i..i + 1),
                            "expected `,` after the quoted value",
                        )
                        .hint("a quote inside a quoted value is written `\\'`"),
                    );
                    return None;
                }
            } else {
                let end = text
                    .get(i..)
                    .and_then(|t| t.find(','))
                    .map_or(text.len(), |k| i + k);
                value = Some(word.slice(i..end).trim());
                i = end;
            }
        } else {
            i = skip_ws(i);
            if !matches!(bytes.get(i), None | Some(b',')) {
                let c = text.get(i..).and_then(|t| t.chars().next()).unwrap_or(' ');
                diags.push(
                    Diagnostic::error(
                        word.span_of(i..i + c.len_utf8()),
                        format!("unexpected `{c}` after action `{}`", name.text),
                    )
                    .hint("actions are `name` or `name:value`, separated by commas"),
                );
                return None;
            }
        }
        out.push(RawAction {
            span: word.span_of(start..i),
            name,
            value,
        });
        // Past the comma.
        i += 1;
    }
    Some(out)
}

/// Parses an action list.
pub(crate) fn parse_actions(word: &Word, diags: &mut Vec<Diagnostic>) -> Option<Vec<Action>> {
    let raw = split_actions(word, diags)?;
    let mut ok = true;
    let mut out = Vec::with_capacity(raw.len());
    for r in raw {
        match parse_action(&r, diags) {
            Some(kind) => out.push(Action { kind, span: r.span }),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn parse_action(r: &RawAction, diags: &mut Vec<Diagnostic>) -> Option<ActionKind> {
    let name = r.name.text.as_str();
    let lower = name.to_ascii_lowercase();
    let value = r.value.as_ref();
    let bad = |diags: &mut Vec<Diagnostic>, msg: String, hint: &str| {
        let span = value.map_or(r.span, Word::span);
        diags.push(Diagnostic::error(span, msg).hint(hint.to_string()));
        None
    };
    let need = |diags: &mut Vec<Diagnostic>, example: &str| {
        diags.push(
            Diagnostic::error(r.span, format!("action `{name}` needs a value"))
                .hint(format!("e.g. `{example}`")),
        );
        None::<&Word>
    };
    let none = |diags: &mut Vec<Diagnostic>, kind: ActionKind| {
        if let Some(v) = value {
            diags.push(
                Diagnostic::error(v.span(), format!("action `{name}` takes no value"))
                    .hint(format!("write `{name}` alone")),
            );
            return None;
        }
        Some(kind)
    };
    let get = |diags: &mut Vec<Diagnostic>, example: &str| match value {
        Some(v) => Some(v),
        None => need(diags, example),
    };
    let text = value.map_or("", |v| v.text.as_str());
    match lower.as_str() {
        "id" => {
            get(diags, "id:942100")?;
            match text.parse::<u32>() {
                Ok(n) if n > 0 => Some(ActionKind::Id(n)),
                _ => bad(
                    diags,
                    format!("`{text}` is not a rule id"),
                    "a rule id is a whole number from 1 to 4294967295",
                ),
            }
        }
        "phase" => {
            get(diags, "phase:2")?;
            match Phase::parse(text) {
                Some(p) => Some(ActionKind::Phase(p)),
                None => bad(
                    diags,
                    format!("`{text}` is not a phase"),
                    "a phase is 1 to 5, or `request` (2), `response` (4), `logging` (5)",
                ),
            }
        }
        "msg" => Some(ActionKind::Msg(parse_macros(
            get(diags, "msg:'…'")?,
            diags,
        )?)),
        "tag" => Some(ActionKind::Tag(parse_macros(
            get(diags, "tag:'…'")?,
            diags,
        )?)),
        "logdata" => Some(ActionKind::LogData(parse_macros(
            get(diags, "logdata:'…'")?,
            diags,
        )?)),
        "ver" => Some(ActionKind::Ver(get(diags, "ver:'1.0'")?.text.clone())),
        "rev" => Some(ActionKind::Rev(get(diags, "rev:'1'")?.text.clone())),
        "severity" => {
            get(diags, "severity:'CRITICAL'")?;
            match Severity::parse(text) {
                Some(s) => Some(ActionKind::Severity(s)),
                None => bad(
                    diags,
                    format!("`{text}` is not a severity"),
                    "a severity is 0 to 7, or EMERGENCY, ALERT, CRITICAL, ERROR, WARNING, NOTICE, INFO, DEBUG",
                ),
            }
        }
        "maturity" | "accuracy" => {
            get(diags, "maturity:9")?;
            match text.parse::<u8>() {
                Ok(n) if n <= 9 => Some(if lower == "maturity" {
                    ActionKind::Maturity(n)
                } else {
                    ActionKind::Accuracy(n)
                }),
                _ => bad(
                    diags,
                    format!("`{text}` is not a valid {lower}"),
                    "it is a number from 1 to 9",
                ),
            }
        }
        "setvar" => {
            parse_setvar(get(diags, "setvar:'tx.score=+5'")?, diags).map(ActionKind::SetVar)
        }
        "chain" => none(diags, ActionKind::Chain),
        "skipafter" => {
            let v = get(diags, "skipAfter:END-CHECKS")?;
            if v.text.is_empty() {
                return bad(diags, "empty marker name".into(), "name a `SecMarker`");
            }
            Some(ActionKind::SkipAfter(v.text.clone()))
        }
        "skip" => {
            get(diags, "skip:1")?;
            match text.parse::<u32>() {
                Ok(n) if n > 0 => Some(ActionKind::Skip(n)),
                _ => bad(
                    diags,
                    format!("`{text}` is not a number of rules to skip"),
                    "a whole number from 1",
                ),
            }
        }
        "ctl" => parse_ctl(get(diags, "ctl:ruleRemoveById=942100")?, diags).map(ActionKind::Ctl),
        "capture" => none(diags, ActionKind::Capture),
        "t" => {
            get(diags, "t:lowercase")?;
            match Transformation::from_name(text) {
                Some(t) => Some(ActionKind::Transform(t)),
                None => {
                    let hint = did_you_mean(text, Transformation::ALL.iter().map(|t| t.name()))
                        .unwrap_or_else(|| "see ModSecurity's list of transformations".into());
                    bad(diags, format!("unknown transformation `{text}`"), &hint)
                }
            }
        }
        "multimatch" => none(diags, ActionKind::MultiMatch),
        "deny" => none(diags, ActionKind::Deny),
        "block" => none(diags, ActionKind::Block),
        "pass" => none(diags, ActionKind::Pass),
        "drop" => none(diags, ActionKind::Drop),
        "log" => none(diags, ActionKind::Log),
        "nolog" => none(diags, ActionKind::NoLog),
        "auditlog" => none(diags, ActionKind::AuditLog),
        "noauditlog" => none(diags, ActionKind::NoAuditLog),
        "allow" => match value.map(|v| v.text.to_ascii_lowercase()) {
            None => Some(ActionKind::Allow(AllowScope::All)),
            Some(v) if v == "phase" => Some(ActionKind::Allow(AllowScope::Phase)),
            Some(v) if v == "request" => Some(ActionKind::Allow(AllowScope::Request)),
            Some(_) => bad(
                diags,
                format!("`{text}` is not a scope of `allow`"),
                "write `allow`, `allow:phase` or `allow:request`",
            ),
        },
        "status" => {
            get(diags, "status:403")?;
            match text.parse::<u16>() {
                Ok(n) if (100..=599).contains(&n) => Some(ActionKind::Status(n)),
                _ => bad(
                    diags,
                    format!("`{text}` is not an HTTP status"),
                    "a status is a number from 100 to 599",
                ),
            }
        }
        "redirect" => Some(ActionKind::Redirect(parse_macros(
            get(diags, "redirect:https://example.com/")?,
            diags,
        )?)),
        "initcol" => {
            let v = get(diags, "initcol:ip=%{REMOTE_ADDR}")?;
            let Some(eq) = v.text.find('=') else {
                return bad(
                    diags,
                    format!("`{text}` is not `collection=key`"),
                    "e.g. `initcol:ip=%{REMOTE_ADDR}`",
                );
            };
            let col = v.text.get(..eq).unwrap_or("");
            let Some(collection) = Collection::parse(col) else {
                return bad(
                    diags,
                    format!("`{col}` is not a persistent collection"),
                    "one of ip, session, user, global, resource",
                );
            };
            let key = parse_macros(&v.slice(eq + 1..v.text.len()), diags)?;
            Some(ActionKind::InitCol { collection, key })
        }
        "expirevar" => {
            let v = get(diags, "expirevar:ip.blocked=60")?;
            let (Some(dot), Some(eq)) = (v.text.find('.'), v.text.rfind('=')) else {
                return bad(
                    diags,
                    format!("`{text}` is not `collection.name=seconds`"),
                    "e.g. `expirevar:ip.blocked=60`",
                );
            };
            let col = v.text.get(..dot).unwrap_or("");
            let Some(collection) = Collection::parse(col) else {
                return bad(
                    diags,
                    format!("`{col}` is not a collection"),
                    "one of tx, ip, session, user, global, resource",
                );
            };
            if eq < dot {
                return bad(
                    diags,
                    format!("`{text}` is not `collection.name=seconds`"),
                    "e.g. `expirevar:ip.blocked=60`",
                );
            }
            let name = parse_macros(&v.slice(dot + 1..eq), diags)?;
            let seconds = parse_macros(&v.slice(eq + 1..v.text.len()), diags)?;
            Some(ActionKind::ExpireVar {
                collection,
                name,
                seconds,
            })
        }
        _ => {
            if let Some((known, why)) = UNSUPPORTED
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                diags.push(
                    Diagnostic::error(r.span, format!("action `{known}` is not supported: {why}"))
                        .hint("remove it, or the rule"),
                );
                return None;
            }
            let hint = did_you_mean(name, KNOWN.iter().copied())
                .unwrap_or_else(|| "see ModSecurity's reference manual for the actions".into());
            diags.push(
                Diagnostic::error(r.name.span(), format!("unknown action `{name}`")).hint(hint),
            );
            None
        }
    }
}

/// `tx.name=value`, `tx.name=+value`, `tx.name=-value`, `tx.name`, `!tx.name`.
fn parse_setvar(v: &Word, diags: &mut Vec<Diagnostic>) -> Option<SetVar> {
    let text = v.text.as_str();
    let (unset, from) = if text.starts_with('!') {
        (true, 1)
    } else {
        (false, 0)
    };
    let Some(dot) = text.find('.') else {
        diags.push(
            Diagnostic::error(v.span(), format!("`{text}` names no collection"))
                .hint("write `collection.name=value`, e.g. `tx.score=+5`"),
        );
        return None;
    };
    let col = text.get(from..dot).unwrap_or("");
    let Some(collection) = Collection::parse(col) else {
        diags.push(
            Diagnostic::error(
                v.span_of(from..dot),
                format!("`{col}` is not a collection setvar can write"),
            )
            .hint("one of tx, ip, session, user, global, resource"),
        );
        return None;
    };
    let eq = text.get(dot..).and_then(|t| t.find('=')).map(|k| dot + k);
    let name_end = eq.unwrap_or(text.len());
    let name = parse_macros(&v.slice(dot + 1..name_end), diags)?;
    if name.raw.is_empty() {
        diags.push(
            Diagnostic::error(v.span(), "setvar names no variable").hint("e.g. `tx.score=+5`"),
        );
        return None;
    }
    let op = match (unset, eq) {
        (true, Some(eq)) => {
            diags.push(
                Diagnostic::error(
                    v.span_of(eq..text.len()),
                    "`!` removes a variable; it takes no value",
                )
                .hint(format!("write `!{col}.{}`", name.raw)),
            );
            return None;
        }
        (true, None) => SetVarOp::Unset,
        (false, None) => SetVarOp::SetOne,
        (false, Some(eq)) => match text.as_bytes().get(eq + 1) {
            Some(b'+') => SetVarOp::Add(parse_macros(&v.slice(eq + 2..text.len()), diags)?),
            Some(b'-') => SetVarOp::Sub(parse_macros(&v.slice(eq + 2..text.len()), diags)?),
            _ => SetVarOp::Set(parse_macros(&v.slice(eq + 1..text.len()), diags)?),
        },
    };
    Some(SetVar {
        collection,
        name,
        op,
    })
}

/// Parses ids and ranges (`1 2 100-199`, or comma-separated), as `SecRuleRemoveById` and
/// `ctl:ruleRemoveById` take them.
pub(crate) fn parse_id_ranges(word: &Word, diags: &mut Vec<Diagnostic>) -> Option<Vec<IdRange>> {
    let text = word.text.as_str();
    let mut out = Vec::new();
    let mut ok = true;
    let mut i = 0;
    for part in text.split([' ', '\t', ',']) {
        let range = i..i + part.len();
        i += part.len() + 1;
        if part.is_empty() {
            continue;
        }
        let parsed = match part.split_once('-') {
            Some((a, b)) => a.parse::<u32>().ok().zip(b.parse::<u32>().ok()),
            None => part.parse::<u32>().ok().map(|n| (n, n)),
        };
        match parsed {
            Some((start, end)) if start <= end => out.push(IdRange { start, end }),
            _ => {
                diags.push(
                    Diagnostic::error(
                        word.span_of(range),
                        format!("`{part}` is not a rule id or a range of them"),
                    )
                    .hint("write ids such as `942100` or ranges such as `942100-942199`"),
                );
                ok = false;
            }
        }
    }
    if out.is_empty() && ok {
        diags.push(
            Diagnostic::error(word.span(), "expected rule ids").hint("e.g. `942100 942200-942299`"),
        );
        return None;
    }
    ok.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> (Option<Vec<Action>>, Vec<Diagnostic>) {
        let mut d = Vec::new();
        (parse_actions(&Word::verbatim(0, s, 0), &mut d), d)
    }

    #[test]
    fn crs_like() {
        let (a, d) = parse("id:1, phase:request,\n    msg:'it\\'s %{tx.x}',t:none,t:urlDecodeUni,setvar:'tx.a=+%{tx.b}',setvar:tx.c=-5,setvar:!tx.d,setvar:tx.e,ctl:ruleRemoveTargetById=123;ARGS:foo,severity:'CRITICAL',pass");
        assert!(d.is_empty(), "{d:?}");
        let a = a.unwrap();
        assert_eq!(a[1].kind, ActionKind::Phase(Phase::RequestBody));
        let ActionKind::Msg(m) = &a[2].kind else {
            panic!()
        };
        assert_eq!(m.raw, "it's %{tx.x}");
        assert!(matches!(
            &a[5].kind,
            ActionKind::SetVar(SetVar {
                op: SetVarOp::Add(_),
                ..
            })
        ));
        assert!(matches!(
            &a[6].kind,
            ActionKind::SetVar(SetVar {
                op: SetVarOp::Sub(_),
                ..
            })
        ));
        assert!(matches!(
            &a[7].kind,
            ActionKind::SetVar(SetVar {
                op: SetVarOp::Unset,
                ..
            })
        ));
        assert!(matches!(
            &a[8].kind,
            ActionKind::SetVar(SetVar {
                op: SetVarOp::SetOne,
                ..
            })
        ));
        assert_eq!(a[10].kind, ActionKind::Severity(Severity::Critical));
    }

    #[test]
    fn bad_values() {
        for s in [
            "phase:7",
            "id:abc",
            "status:xyz",
            "t:lowercas",
            "foo",
            "exec:/bin/sh",
            "msg:'abc",
            "id:1 x",
            "deny:1",
        ] {
            let (a, d) = parse(s);
            assert!(a.is_none() && !d.is_empty(), "{s}");
        }
        assert!(parse("t:lowercas").1[0]
            .hint_text()
            .unwrap()
            .contains("lowercase"));
    }
}

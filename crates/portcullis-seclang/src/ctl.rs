//! `ctl:option=value`: per-transaction changes to the configuration.

use portcullis_rules::Diagnostic;

use crate::action::{parse_id_ranges, IdRange};
use crate::lex::Word;
use crate::suggest::did_you_mean;
use crate::variable::{parse_variables, Variable};

/// `SecRuleEngine` and `ctl:ruleEngine`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineMode {
    /// Rules run and their disruptive actions apply.
    On,
    /// Rules do not run.
    Off,
    /// Rules run, match and log, but nothing is disrupted.
    DetectionOnly,
}

impl EngineMode {
    pub(crate) fn parse(s: &str) -> Option<EngineMode> {
        match s.to_ascii_lowercase().as_str() {
            "on" => Some(EngineMode::On),
            "off" => Some(EngineMode::Off),
            "detectiononly" => Some(EngineMode::DetectionOnly),
            _ => None,
        }
    }
}

/// A request body processor (`ctl:requestBodyProcessor`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyProcessor {
    /// `URLENCODED`
    UrlEncoded,
    /// `MULTIPART`
    Multipart,
    /// `XML`
    Xml,
    /// `JSON`
    Json,
}

/// `ctl:auditEngine`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditEngine {
    /// `On`
    On,
    /// `Off`
    Off,
    /// `RelevantOnly`
    RelevantOnly,
}

/// One `ctl:` change.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ctl {
    /// `ruleRemoveById=ids`: skips these rules for the rest of the transaction.
    RuleRemoveById(Vec<IdRange>),
    /// `ruleRemoveByTag=tag`: skips the rules with this tag (compared exactly, as v3 does).
    RuleRemoveByTag(String),
    /// `ruleRemoveTargetById=id;TARGETS`: removes targets from rules.
    RuleRemoveTargetById {
        /// The rules.
        ids: Vec<IdRange>,
        /// The targets removed.
        targets: Vec<Variable>,
    },
    /// `ruleRemoveTargetByTag=tag;TARGETS`.
    RuleRemoveTargetByTag {
        /// Rules with this tag.
        tag: String,
        /// The targets removed.
        targets: Vec<Variable>,
    },
    /// `ruleEngine=On|Off|DetectionOnly`.
    RuleEngine(EngineMode),
    /// `requestBodyProcessor=…`.
    RequestBodyProcessor(BodyProcessor),
    /// `requestBodyAccess=On|Off`.
    RequestBodyAccess(bool),
    /// `forceRequestBodyVariable=On|Off`: fills `REQUEST_BODY` whatever the processor.
    ForceRequestBodyVariable(bool),
    /// `auditEngine=…` (logging only).
    AuditEngine(AuditEngine),
    /// `auditLogParts=…` (logging only).
    AuditLogParts(String),
}

const OPTIONS: &[&str] = &[
    "ruleRemoveById",
    "ruleRemoveByTag",
    "ruleRemoveTargetById",
    "ruleRemoveTargetByTag",
    "ruleEngine",
    "requestBodyProcessor",
    "requestBodyAccess",
    "forceRequestBodyVariable",
    "auditEngine",
    "auditLogParts",
];

pub(crate) fn on_off(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "on" => Some(true),
        "off" => Some(false),
        _ => None,
    }
}

pub(crate) fn parse_ctl(v: &Word, diags: &mut Vec<Diagnostic>) -> Option<Ctl> {
    let text = v.text.as_str();
    let Some(eq) = text.find('=') else {
        diags.push(
            Diagnostic::error(v.span(), format!("`ctl:{text}` sets nothing"))
                .hint("write `ctl:option=value`, e.g. `ctl:ruleRemoveById=942100`"),
        );
        return None;
    };
    let option = text.get(..eq).unwrap_or("");
    let value = v.slice(eq + 1..text.len());
    let val = value.text.as_str();
    let bad = |diags: &mut Vec<Diagnostic>, hint: &str| {
        diags.push(
            Diagnostic::error(
                value.span(),
                format!("`{val}` is not a valid value for `ctl:{option}`"),
            )
            .hint(hint.to_string()),
        );
        None
    };
    let targets = |diags: &mut Vec<Diagnostic>| -> Option<(Word, Vec<Variable>)> {
        let Some(semi) = val.find(';') else {
            diags.push(
                Diagnostic::error(
                    value.span(),
                    format!("`ctl:{option}` needs targets after `;`"),
                )
                .hint(format!("e.g. `ctl:{option}=942100;ARGS:password`")),
            );
            return None;
        };
        let head = value.slice(0..semi);
        let vars = parse_variables(&value.slice(semi + 1..val.len()), diags)?;
        Some((head, vars))
    };
    match option.to_ascii_lowercase().as_str() {
        "ruleremovebyid" => parse_id_ranges(&value, diags).map(Ctl::RuleRemoveById),
        "ruleremovebytag" => Some(Ctl::RuleRemoveByTag(val.to_string())),
        "ruleremovetargetbyid" => {
            let (head, targets) = targets(diags)?;
            let ids = parse_id_ranges(&head, diags)?;
            Some(Ctl::RuleRemoveTargetById { ids, targets })
        }
        "ruleremovetargetbytag" => {
            let (head, targets) = targets(diags)?;
            Some(Ctl::RuleRemoveTargetByTag {
                tag: head.text,
                targets,
            })
        }
        "ruleengine" => match EngineMode::parse(val) {
            Some(m) => Some(Ctl::RuleEngine(m)),
            None => bad(diags, "one of On, Off, DetectionOnly"),
        },
        "requestbodyprocessor" => match val.to_ascii_uppercase().as_str() {
            "URLENCODED" => Some(Ctl::RequestBodyProcessor(BodyProcessor::UrlEncoded)),
            "MULTIPART" => Some(Ctl::RequestBodyProcessor(BodyProcessor::Multipart)),
            "XML" => Some(Ctl::RequestBodyProcessor(BodyProcessor::Xml)),
            "JSON" => Some(Ctl::RequestBodyProcessor(BodyProcessor::Json)),
            _ => bad(diags, "one of URLENCODED, MULTIPART, XML, JSON"),
        },
        "requestbodyaccess" => match on_off(val) {
            Some(b) => Some(Ctl::RequestBodyAccess(b)),
            None => bad(diags, "On or Off"),
        },
        "forcerequestbodyvariable" => match on_off(val) {
            Some(b) => Some(Ctl::ForceRequestBodyVariable(b)),
            None => bad(diags, "On or Off"),
        },
        "auditengine" => match val.to_ascii_lowercase().as_str() {
            "on" => Some(Ctl::AuditEngine(AuditEngine::On)),
            "off" => Some(Ctl::AuditEngine(AuditEngine::Off)),
            "relevantonly" => Some(Ctl::AuditEngine(AuditEngine::RelevantOnly)),
            _ => bad(diags, "one of On, Off, RelevantOnly"),
        },
        "auditlogparts" => {
            let parts = val.trim_start_matches(['+', '-']);
            if parts.is_empty() || !parts.bytes().all(|b| b"ABCDEFGHIJKZ".contains(&b)) {
                return bad(
                    diags,
                    "audit log parts are letters from A to K and Z, optionally after `+` or `-`",
                );
            }
            Some(Ctl::AuditLogParts(val.to_string()))
        }
        _ => {
            let hint = did_you_mean(option, OPTIONS.iter().copied())
                .unwrap_or_else(|| format!("supported: {}", OPTIONS.join(", ")));
            diags.push(
                Diagnostic::error(
                    v.span_of(0..eq),
                    format!("unknown or unsupported ctl option `{option}`"),
                )
                .hint(hint),
            );
            None
        }
    }
}

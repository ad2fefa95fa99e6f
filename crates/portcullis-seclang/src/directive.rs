//! Directives: one logical line each, typed.

use std::path::PathBuf;

use portcullis_rules::{Diagnostic, Span};

use crate::action::{parse_actions, parse_id_ranges, Action, IdRange};
use crate::ctl::{on_off, EngineMode};
use crate::lex::{Arg, Line, Word};
use crate::load::Ctx;
use crate::operator::{parse_operator, Operator};
use crate::suggest::did_you_mean;
use crate::variable::{parse_variables, Variable};

/// One directive, with its place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directive {
    /// What it says.
    pub kind: DirectiveKind,
    /// The whole directive (all its physical lines).
    pub span: Span,
}

/// `SecRule VARIABLES OPERATOR [ACTIONS]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecRule {
    /// The targets.
    pub variables: Vec<Variable>,
    /// The test.
    pub operator: Operator,
    /// The actions (none when the argument is left out).
    pub actions: Vec<Action>,
}

/// What `SecRequestBodyLimitAction` and `SecResponseBodyLimitAction` do with a body over
/// the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyLimitAction {
    /// Refuse the transaction.
    Reject,
    /// Inspect the part within the limit.
    ProcessPartial,
}

/// Every directive this crate understands.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DirectiveKind {
    /// `SecRule`
    Rule(SecRule),
    /// `SecAction "actions"`: a rule that always matches.
    Action(Vec<Action>),
    /// `SecMarker NAME`: a target for `skipAfter`.
    Marker(String),
    /// `SecDefaultAction "phase:2,log,auditlog,pass"`
    DefaultAction(Vec<Action>),
    /// `SecRuleEngine On|Off|DetectionOnly`
    RuleEngine(EngineMode),
    /// `SecRequestBodyAccess On|Off`
    RequestBodyAccess(bool),
    /// `SecRequestBodyLimit bytes`
    RequestBodyLimit(u64),
    /// `SecRequestBodyNoFilesLimit bytes`
    RequestBodyNoFilesLimit(u64),
    /// `SecRequestBodyInMemoryLimit bytes`
    RequestBodyInMemoryLimit(u64),
    /// `SecRequestBodyLimitAction Reject|ProcessPartial`
    RequestBodyLimitAction(BodyLimitAction),
    /// `SecRequestBodyJsonDepthLimit n`
    RequestBodyJsonDepthLimit(u64),
    /// `SecArgumentsLimit n`
    ArgumentsLimit(u64),
    /// `SecResponseBodyAccess On|Off`
    ResponseBodyAccess(bool),
    /// `SecResponseBodyMimeType type…`
    ResponseBodyMimeType(Vec<String>),
    /// `SecResponseBodyLimit bytes`
    ResponseBodyLimit(u64),
    /// `SecResponseBodyLimitAction Reject|ProcessPartial`
    ResponseBodyLimitAction(BodyLimitAction),
    /// `SecRuleRemoveById ids…`
    RuleRemoveById(Vec<IdRange>),
    /// `SecRuleRemoveByTag tag` (compared exactly)
    RuleRemoveByTag(String),
    /// `SecRuleRemoveByMsg msg` (compared exactly)
    RuleRemoveByMsg(String),
    /// `SecRuleUpdateTargetById ids "TARGETS"`
    RuleUpdateTargetById {
        /// The rules.
        ids: Vec<IdRange>,
        /// Targets added, or (with `!`) excluded.
        targets: Vec<Variable>,
    },
    /// `SecRuleUpdateTargetByTag tag "TARGETS"`
    RuleUpdateTargetByTag {
        /// Rules with this tag.
        tag: String,
        /// Targets added, or (with `!`) excluded.
        targets: Vec<Variable>,
    },
    /// `SecRuleUpdateActionById id "ACTIONS"`
    RuleUpdateActionById {
        /// The rule.
        id: u32,
        /// The actions.
        actions: Vec<Action>,
    },
    /// `SecComponentSignature "OWASP_CRS/4.x"` (logged only)
    ComponentSignature(String),
    /// `SecCollectionTimeout seconds`
    CollectionTimeout(u64),
    /// `Include pattern`: the files it named follow it in the directive list.
    Include {
        /// The pattern as written.
        pattern: String,
        /// The files it matched, in the order they were read.
        files: Vec<PathBuf>,
    },
    /// A directive that has no effect on decisions (logging, telemetry, file storage),
    /// kept so a checker can list what was ignored.
    Ignored {
        /// The directive's name as ModSecurity spells it.
        name: &'static str,
        /// Why it makes no difference to decisions.
        reason: &'static str,
    },
}

/// Directives parsed and dropped, with why they change no decision.
const IGNORED: &[(&str, &str)] = &[
    ("SecDebugLog", "debug logging only"),
    ("SecDebugLogLevel", "debug logging only"),
    ("SecAuditEngine", "audit logging only"),
    ("SecAuditLog", "audit logging only"),
    ("SecAuditLog2", "audit logging only"),
    ("SecAuditLogParts", "audit logging only"),
    ("SecAuditLogRelevantStatus", "audit logging only"),
    ("SecAuditLogType", "audit logging only"),
    ("SecAuditLogFormat", "audit logging only"),
    ("SecAuditLogStorageDir", "audit logging only"),
    ("SecAuditLogDirMode", "audit logging only"),
    ("SecAuditLogFileMode", "audit logging only"),
    ("SecStatusEngine", "telemetry only"),
    (
        "SecTmpDir",
        "where temporary files go; portcullis keeps bodies in memory",
    ),
    (
        "SecUploadDir",
        "where uploaded files are kept; portcullis keeps none",
    ),
    (
        "SecUploadKeepFiles",
        "whether uploaded files are kept; portcullis keeps none",
    ),
    (
        "SecUploadFileMode",
        "uploaded files' permissions; portcullis keeps none",
    ),
    (
        "SecTmpSaveUploadedFiles",
        "whether uploaded files are kept; portcullis keeps none",
    ),
    (
        "SecPcreMatchLimit",
        "a PCRE backtracking limit; portcullis' regexes run in linear time and never reach it",
    ),
    (
        "SecPcreMatchLimitRecursion",
        "a PCRE backtracking limit; portcullis' regexes run in linear time and never reach it",
    ),
];

/// Every directive name, for hints.
const KNOWN: &[&str] = &[
    "SecRule",
    "SecAction",
    "SecMarker",
    "SecDefaultAction",
    "SecRuleEngine",
    "SecRequestBodyAccess",
    "SecRequestBodyLimit",
    "SecRequestBodyNoFilesLimit",
    "SecRequestBodyInMemoryLimit",
    "SecRequestBodyLimitAction",
    "SecRequestBodyJsonDepthLimit",
    "SecArgumentsLimit",
    "SecResponseBodyAccess",
    "SecResponseBodyMimeType",
    "SecResponseBodyLimit",
    "SecResponseBodyLimitAction",
    "SecRuleRemoveById",
    "SecRuleRemoveByTag",
    "SecRuleRemoveByMsg",
    "SecRuleUpdateTargetById",
    "SecRuleUpdateTargetByTag",
    "SecRuleUpdateActionById",
    "SecComponentSignature",
    "SecCollectionTimeout",
    "Include",
];

/// Directives ModSecurity knows that change behaviour we do not model.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("SecRuleScript", "Lua rules are not supported"),
    ("SecRemoteRules", "rules are not downloaded"),
    ("SecRemoteRulesFailAction", "rules are not downloaded"),
    (
        "SecRuleUpdateTargetByMsg",
        "ModSecurity v3 does not implement it either",
    ),
    (
        "SecArgumentSeparator",
        "arguments are always separated by `&`",
    ),
    ("SecCookieFormat", "cookies are always parsed as version 0"),
    (
        "SecCookieV0Separator",
        "cookies are always separated by `;`",
    ),
    (
        "SecUnicodeMapFile",
        "urlDecodeUni uses the default code point mapping",
    ),
    ("SecGeoLookupDb", "GEO lookups are not supported"),
    ("SecHttpBlKey", "@rbl is not supported"),
    ("SecWebAppId", "persistent collections are not supported"),
    ("SecDataDir", "persistent collections are not supported"),
    (
        "SecXmlExternalEntity",
        "external XML entities are never loaded",
    ),
    (
        "SecResponseBodyMimeTypesClear",
        "use SecResponseBodyMimeType to set the list",
    ),
    (
        "SecServerSignature",
        "the Server header is the server's business",
    ),
    ("SecConnEngine", "connection limits are not supported"),
    ("SecContentInjection", "content injection is not supported"),
    (
        "SecStreamInBodyInspection",
        "stream inspection is not supported",
    ),
    (
        "SecStreamOutBodyInspection",
        "stream inspection is not supported",
    ),
    ("SecHashEngine", "hash signing is not supported"),
    ("SecInterceptOnError", "not supported"),
    (
        "SecRuleInheritance",
        "configuration contexts are not supported",
    ),
    ("SecRulePerfTime", "not supported"),
    ("SecSensorId", "not supported"),
    ("SecUploadFileLimit", "not supported"),
    ("SecGuardianLog", "not supported"),
    ("SecChrootDir", "not supported"),
    ("SecCacheTransformations", "not supported"),
    ("SecDisableBackendCompression", "not supported"),
];

fn bad_count(ctx: &mut Ctx<'_>, line: &Line, name: &str, usage: &str) {
    ctx.diags.push(
        Diagnostic::error(line.span, format!("wrong number of arguments to `{name}`"))
            .hint(format!("usage: `{usage}`")),
    );
}

fn number(ctx: &mut Ctx<'_>, arg: &Arg) -> Option<u64> {
    match arg.word.text.parse::<u64>() {
        Ok(n) => Some(n),
        Err(_) => {
            ctx.diags.push(
                Diagnostic::error(
                    arg.span,
                    format!("`{}` is not a whole number", arg.word.text),
                )
                .hint("write a number of bytes (or items) without a unit"),
            );
            None
        }
    }
}

fn switch(ctx: &mut Ctx<'_>, arg: &Arg) -> Option<bool> {
    let v = on_off(&arg.word.text);
    if v.is_none() {
        ctx.diags.push(
            Diagnostic::error(
                arg.span,
                format!("`{}` is not `On` or `Off`", arg.word.text),
            )
            .hint("write `On` or `Off`"),
        );
    }
    v
}

fn limit_action(ctx: &mut Ctx<'_>, arg: &Arg) -> Option<BodyLimitAction> {
    match arg.word.text.to_ascii_lowercase().as_str() {
        "reject" => Some(BodyLimitAction::Reject),
        "processpartial" => Some(BodyLimitAction::ProcessPartial),
        _ => {
            ctx.diags.push(
                Diagnostic::error(
                    arg.span,
                    format!("`{}` is not `Reject` or `ProcessPartial`", arg.word.text),
                )
                .hint("write `Reject` or `ProcessPartial`"),
            );
            None
        }
    }
}

/// The directive on `line`, or `None` (with diagnostics) when it does not parse. `Include`
/// is handled by the loader before this is called.
pub(crate) fn parse_directive(line: &Line, ctx: &mut Ctx<'_>) -> Option<DirectiveKind> {
    let name_arg = line.args.first()?;
    let name = name_arg.word.text.as_str();
    let args = line.args.get(1..).unwrap_or(&[]);
    let lower = name.to_ascii_lowercase();
    let one = |ctx: &mut Ctx<'_>, usage: &str| -> Option<&Arg> {
        match args {
            [a] => Some(a),
            _ => {
                bad_count(ctx, line, name, usage);
                None
            }
        }
    };
    Some(match lower.as_str() {
        "secrule" => {
            let (vars, op, actions) = match args {
                [v, o] => (v, o, None),
                [v, o, a] => (v, o, Some(a)),
                _ => {
                    bad_count(ctx, line, name, "SecRule VARIABLES OPERATOR [ACTIONS]");
                    return None;
                }
            };
            let variables = parse_variables(&vars.word, &mut ctx.diags);
            let operator = parse_operator(&op.word, ctx);
            let actions = match actions {
                Some(a) => parse_actions(&a.word, &mut ctx.diags),
                None => Some(Vec::new()),
            };
            DirectiveKind::Rule(SecRule {
                variables: variables?,
                operator: operator?,
                actions: actions?,
            })
        }
        "secaction" => DirectiveKind::Action(parse_actions(
            &one(ctx, "SecAction \"ACTIONS\"")?.word,
            &mut ctx.diags,
        )?),
        "secdefaultaction" => DirectiveKind::DefaultAction(parse_actions(
            &one(ctx, "SecDefaultAction \"ACTIONS\"")?.word,
            &mut ctx.diags,
        )?),
        "secmarker" => {
            let a = one(ctx, "SecMarker NAME")?;
            if a.word.text.is_empty() {
                ctx.diags.push(
                    Diagnostic::error(a.span, "empty marker name")
                        .hint("e.g. `SecMarker END-CHECKS`"),
                );
                return None;
            }
            DirectiveKind::Marker(a.word.text.clone())
        }
        "secruleengine" => {
            let a = one(ctx, "SecRuleEngine On|Off|DetectionOnly")?;
            match EngineMode::parse(&a.word.text) {
                Some(m) => DirectiveKind::RuleEngine(m),
                None => {
                    ctx.diags.push(
                        Diagnostic::error(
                            a.span,
                            format!("`{}` is not a rule engine mode", a.word.text),
                        )
                        .hint("write `On`, `Off` or `DetectionOnly`"),
                    );
                    return None;
                }
            }
        }
        "secrequestbodyaccess" => DirectiveKind::RequestBodyAccess({
            let a = one(ctx, "SecRequestBodyAccess On|Off")?;
            switch(ctx, a)?
        }),
        "secresponsebodyaccess" => DirectiveKind::ResponseBodyAccess({
            let a = one(ctx, "SecResponseBodyAccess On|Off")?;
            switch(ctx, a)?
        }),
        "secrequestbodylimit" => DirectiveKind::RequestBodyLimit({
            let a = one(ctx, "SecRequestBodyLimit BYTES")?;
            number(ctx, a)?
        }),
        "secrequestbodynofileslimit" => DirectiveKind::RequestBodyNoFilesLimit({
            let a = one(ctx, "SecRequestBodyNoFilesLimit BYTES")?;
            number(ctx, a)?
        }),
        "secrequestbodyinmemorylimit" => DirectiveKind::RequestBodyInMemoryLimit({
            let a = one(ctx, "SecRequestBodyInMemoryLimit BYTES")?;
            number(ctx, a)?
        }),
        "secrequestbodyjsondepthlimit" => DirectiveKind::RequestBodyJsonDepthLimit({
            let a = one(ctx, "SecRequestBodyJsonDepthLimit N")?;
            number(ctx, a)?
        }),
        "secargumentslimit" => DirectiveKind::ArgumentsLimit({
            let a = one(ctx, "SecArgumentsLimit N")?;
            number(ctx, a)?
        }),
        "secresponsebodylimit" => DirectiveKind::ResponseBodyLimit({
            let a = one(ctx, "SecResponseBodyLimit BYTES")?;
            number(ctx, a)?
        }),
        "seccollectiontimeout" => DirectiveKind::CollectionTimeout({
            let a = one(ctx, "SecCollectionTimeout SECONDS")?;
            number(ctx, a)?
        }),
        "secrequestbodylimitaction" => DirectiveKind::RequestBodyLimitAction({
            let a = one(ctx, "SecRequestBodyLimitAction Reject|ProcessPartial")?;
            limit_action(ctx, a)?
        }),
        "secresponsebodylimitaction" => DirectiveKind::ResponseBodyLimitAction({
            let a = one(ctx, "SecResponseBodyLimitAction Reject|ProcessPartial")?;
            limit_action(ctx, a)?
        }),
        "secresponsebodymimetype" => {
            if args.is_empty() {
                bad_count(ctx, line, name, "SecResponseBodyMimeType TYPE…");
                return None;
            }
            DirectiveKind::ResponseBodyMimeType(
                args.iter()
                    .flat_map(|a| a.word.text.split_whitespace().map(str::to_string))
                    .collect(),
            )
        }
        "secruleremovebyid" => {
            if args.is_empty() {
                bad_count(ctx, line, name, "SecRuleRemoveById ID|RANGE…");
                return None;
            }
            let mut ids = Vec::new();
            let mut ok = true;
            for a in args {
                match parse_id_ranges(&a.word, &mut ctx.diags) {
                    Some(r) => ids.extend(r),
                    None => ok = false,
                }
            }
            if !ok {
                return None;
            }
            DirectiveKind::RuleRemoveById(ids)
        }
        "secruleremovebytag" => {
            DirectiveKind::RuleRemoveByTag(one(ctx, "SecRuleRemoveByTag TAG")?.word.text.clone())
        }
        "secruleremovebymsg" => {
            DirectiveKind::RuleRemoveByMsg(one(ctx, "SecRuleRemoveByMsg MSG")?.word.text.clone())
        }
        "secruleupdatetargetbyid" | "secruleupdatetargetbytag" => {
            let by_id = lower.ends_with("byid");
            let (head, targets) = match args {
                [h, t] => (h, t),
                [_, _, r] => {
                    ctx.diags.push(
                        Diagnostic::error(r.span, "replacing a target is not supported")
                            .hint("exclude the target with `!` and add the new one instead"),
                    );
                    return None;
                }
                _ => {
                    bad_count(
                        ctx,
                        line,
                        name,
                        &format!("{name} {} \"TARGETS\"", if by_id { "ID" } else { "TAG" }),
                    );
                    return None;
                }
            };
            let targets = parse_variables(&targets.word, &mut ctx.diags)?;
            if by_id {
                DirectiveKind::RuleUpdateTargetById {
                    ids: parse_id_ranges(&head.word, &mut ctx.diags)?,
                    targets,
                }
            } else {
                DirectiveKind::RuleUpdateTargetByTag {
                    tag: head.word.text.clone(),
                    targets,
                }
            }
        }
        "secruleupdateactionbyid" => {
            let [id, actions] = args else {
                bad_count(ctx, line, name, "SecRuleUpdateActionById ID \"ACTIONS\"");
                return None;
            };
            let parsed = id.word.text.parse::<u32>().ok().filter(|n| *n > 0);
            let actions = parse_actions(&actions.word, &mut ctx.diags);
            let Some(id_n) = parsed else {
                ctx.diags.push(
                    Diagnostic::error(id.span, format!("`{}` is not a rule id", id.word.text))
                        .hint("SecRuleUpdateActionById takes one id (chained rules cannot be updated by a link)"),
                );
                return None;
            };
            DirectiveKind::RuleUpdateActionById {
                id: id_n,
                actions: actions?,
            }
        }
        "seccomponentsignature" => DirectiveKind::ComponentSignature(
            one(ctx, "SecComponentSignature \"TEXT\"")?
                .word
                .text
                .clone(),
        ),
        _ => {
            if let Some((known, reason)) =
                IGNORED.iter().find(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                return Some(DirectiveKind::Ignored {
                    name: known,
                    reason,
                });
            }
            if let Some((known, why)) = UNSUPPORTED
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                ctx.diags.push(
                    Diagnostic::error(
                        name_arg.span,
                        format!("directive `{known}` is not supported: {why}"),
                    )
                    .hint("remove it"),
                );
                return None;
            }
            let hint = did_you_mean(
                name,
                KNOWN.iter().chain(IGNORED.iter().map(|(n, _)| n)).copied(),
            )
            .unwrap_or_else(|| "see ModSecurity's reference manual for the directives".into());
            ctx.diags.push(
                Diagnostic::error(name_arg.span, format!("unknown directive `{name}`")).hint(hint),
            );
            return None;
        }
    })
}

/// The `Include` pattern of a line, if it is one.
pub(crate) fn include_pattern(line: &Line, diags: &mut Vec<Diagnostic>) -> Option<Option<Word>> {
    let name = line.args.first()?;
    if !name.word.text.eq_ignore_ascii_case("include") {
        return None;
    }
    match line.args.get(1..) {
        Some([a]) => Some(Some(a.word.clone())),
        _ => {
            diags.push(
                Diagnostic::error(line.span, "wrong number of arguments to `Include`")
                    .hint("usage: `Include PATH` (a glob such as `rules/*.conf` is allowed)"),
            );
            Some(None)
        }
    }
}

//! One `[[rule]]`: its condition, action, mode and rate limit.

use std::time::Duration;

use super::load::{Loader, PendingRule};
use super::model::*;
use crate::diag::{Diagnostic, Severity};
use crate::expr::Expr;
use crate::parse::SpanMap;
use crate::source::Span;
use crate::tree::{Node, Value};

impl Loader<'_> {
    pub(super) fn rule(&mut self, node: Node) {
        let tspan = node.span;
        let Some(entries) = self.expect_table(node, "a rule") else {
            return;
        };
        let mut id: Option<(String, Span)> = None;
        let mut when = None;
        let mut action = None;
        let mut action_span = tspan;
        let mut rule = Rule {
            id: String::new(),
            when: Expr::Const(true),
            action: Action::Log,
            reason: None,
            hide: false,
            status: None,
            mode: Mode::Enforce,
            priority: 0,
            tags: Vec::new(),
            score: Vec::new(),
            labels: Vec::new(),
            rate_limit: None,
            log: None,
            span: tspan,
        };
        let mut rl_node = None;
        let mut status_span = tspan;
        let mut hide_span = tspan;
        for (key, kspan, v) in entries {
            match key.as_str() {
                "id" => id = self.string(v, "id"),
                "when" => {
                    if let Some((s, span)) = self.string(v, "when") {
                        let base =
                            string_base(self.sources.slice(span), &s).map(|off| span.start + off);
                        when = Some((s, SpanMap { node: span, base }));
                    }
                }
                "action" => {
                    action_span = v.span;
                    action = self.choice(
                        v,
                        "action",
                        &[
                            ("allow", Action::Allow),
                            ("forbid", Action::Forbid),
                            ("rate_limit", Action::RateLimit),
                            ("log", Action::Log),
                        ],
                    );
                }
                "reason" => rule.reason = self.string(v, "reason").map(|s| s.0),
                "hide" => {
                    hide_span = v.span;
                    rule.hide = self.boolean(&v, "hide").unwrap_or(false);
                }
                "status" => {
                    status_span = v.span;
                    if let Some(n) = self.int(&v, "status") {
                        if (400..=599).contains(&n) {
                            rule.status = Some(n as u16);
                        } else {
                            self.diags.push(
                                Diagnostic::error(v.span, format!("{n} is not an error status"))
                                    .hint("a refusal's status is between 400 and 599"),
                            );
                        }
                    }
                }
                "mode" => {
                    rule.mode = self
                        .choice(
                            v,
                            "mode",
                            &[("enforce", Mode::Enforce), ("shadow", Mode::Shadow)],
                        )
                        .unwrap_or(Mode::Enforce)
                }
                "priority" => rule.priority = self.int(&v, "priority").unwrap_or(0),
                "tags" => match v.value {
                    Value::Array(arr) => {
                        for t in arr {
                            if let Some((s, _)) = self.string(t, "tag") {
                                rule.tags.push(s);
                            }
                        }
                    }
                    ref o => self.diags.push(
                        Diagnostic::error(
                            v.span,
                            format!("`tags` must be an array of strings, found {}", o.kind()),
                        )
                        .hint("e.g. tags = [\"owasp\"]"),
                    ),
                },
                "score" => match v.value {
                    Value::Table(entries) => {
                        for (name, _, n) in entries {
                            if let Some(points) = self.int(&n, "a score's points") {
                                rule.score.push((name, points));
                            }
                        }
                    }
                    ref o => self.diags.push(
                        Diagnostic::error(
                            v.span,
                            format!("`score` must be a table of points, found {}", o.kind()),
                        )
                        .hint("e.g. score = { inbound = 5 }"),
                    ),
                },
                "labels" => match v.value {
                    Value::Array(arr) => {
                        for t in arr {
                            if let Some((s, _)) = self.string(t, "label") {
                                rule.labels.push(s);
                            }
                        }
                    }
                    ref o => self.diags.push(
                        Diagnostic::error(
                            v.span,
                            format!("`labels` must be an array of strings, found {}", o.kind()),
                        )
                        .hint("e.g. labels = [\"sqli\"]"),
                    ),
                },
                "rate_limit" => rl_node = Some(v),
                other => self.unknown_key(
                    other,
                    kspan,
                    &[
                        "id",
                        "when",
                        "action",
                        "reason",
                        "hide",
                        "status",
                        "mode",
                        "priority",
                        "tags",
                        "score",
                        "labels",
                        "rate_limit",
                    ],
                ),
            }
        }
        let Some((id, id_span)) = id else {
            self.diags.push(
                Diagnostic::error(tspan, "a rule has no `id`")
                    .hint("give every rule a unique id, e.g. id = \"block-scanners\""),
            );
            return;
        };
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
        {
            self.diags.push(
                Diagnostic::error(id_span, format!("`{id}` is not a valid rule id"))
                    .hint("ids use letters, digits, `-`, `_`, `.` and `:`"),
            );
        }
        if let Some(&first) = self.rule_ids.get(&id) {
            let at = self.sources.location(first);
            self.diags.push(
                Diagnostic::error(id_span, format!("duplicate rule id `{id}`")).hint(format!(
                    "the first rule with this id is at {at}; ids must be unique"
                )),
            );
        } else {
            self.rule_ids.insert(id.clone(), id_span);
        }
        rule.id = id;
        rule.span = id_span;
        match action {
            Some(a) => rule.action = a,
            None if !self
                .diags
                .iter()
                .any(|d| d.span().is_some_and(|s| s == action_span)) =>
            {
                self.diags.push(
                    Diagnostic::error(id_span, format!("rule `{}` has no `action`", rule.id))
                        .hint("add action = \"allow\", \"forbid\", \"rate_limit\" or \"log\""),
                );
            }
            None => {}
        }
        if when.is_none() {
            self.diags.push(
                Diagnostic::error(
                    id_span,
                    format!("rule `{}` has no `when` condition", rule.id),
                )
                .hint("add when = '…'; write when = \"true\" for a rule that always applies"),
            );
        }
        if rule.hide && rule.action != Action::Forbid {
            self.diags.push(
                Diagnostic::error(hide_span, "`hide` only applies to `forbid` rules")
                    .hint("remove it, or make the rule forbid"),
            );
        }
        if rule.status.is_some() && matches!(rule.action, Action::Allow | Action::Log) {
            self.diags.push(
                Diagnostic::error(
                    status_span,
                    format!("a `{}` rule sends no status", rule.action.name()),
                )
                .hint("`status` overrides the answer of forbid and rate_limit rules"),
            );
        }
        match (rule.action, rl_node) {
            (Action::RateLimit, Some(n)) => rule.rate_limit = self.rate_limit(n),
            (Action::RateLimit, None) => self.diags.push(
                Diagnostic::error(action_span, "a rate_limit rule needs a `rate_limit` table")
                    .hint("add rate_limit = { key = [\"ip\"], limit = 10, period = \"1m\" }"),
            ),
            (_, Some(n)) => self.diags.push(
                Diagnostic::error(
                    n.span,
                    "`rate_limit` only applies to rules with action = \"rate_limit\"",
                )
                .hint("change the action or remove the table"),
            ),
            (_, None) => {}
        }
        self.pending.push(PendingRule { rule, when });
    }

    pub(super) fn rate_limit(&mut self, node: Node) -> Option<RateLimit> {
        let tspan = node.span;
        let entries = self.expect_table(node, "`rate_limit`")?;
        let (mut key, mut limit, mut period, mut burst) = (None, None, None, None);
        let (mut v4, mut v6) = (32u8, 64u8);
        for (k, kspan, v) in entries {
            match k.as_str() {
                "key" => match v.value {
                    Value::Array(arr) => {
                        let mut keys = Vec::new();
                        for item in arr {
                            if let Some((s, span)) = self.string(item, "key") {
                                match parse_rate_key(&s) {
                                    Some(k) => keys.push(k),
                                    None => self.diags.push(Diagnostic::error(span, format!("`{s}` is not a rate-limit key")).hint("keys are \"ip\", \"header[\\\"name\\\"]\", \"auth.subject\" and \"attr[\\\"name\\\"]\"")),
                                }
                            }
                        }
                        key = Some(keys);
                    }
                    ref o => self.diags.push(
                        Diagnostic::error(
                            v.span,
                            format!("`key` must be an array of strings, found {}", o.kind()),
                        )
                        .hint("e.g. key = [\"ip\"]"),
                    ),
                },
                "limit" => {
                    limit = self.int(&v, "limit").and_then(|n| match u32::try_from(n) {
                        Ok(n) if n >= 1 => Some(n),
                        _ => {
                            self.diags.push(
                                Diagnostic::error(v.span, "`limit` must be at least 1")
                                    .hint("to refuse every request, use a forbid rule"),
                            );
                            None
                        }
                    })
                }
                "burst" => {
                    burst = self.int(&v, "burst").and_then(|n| match u32::try_from(n) {
                        Ok(n) if n >= 1 => Some(n),
                        _ => {
                            self.diags.push(
                                Diagnostic::error(v.span, "`burst` must be at least 1").hint(
                                    "burst is how many requests an idle key may send at once",
                                ),
                            );
                            None
                        }
                    })
                }
                "period" => {
                    let span = v.span;
                    let parsed = match &v.value {
                        Value::Str(s) => parse_period(s),
                        Value::Int(n) if *n > 0 => Some(Duration::from_secs(*n as u64)),
                        _ => None,
                    };
                    match parsed {
                        Some(d) => period = Some(d),
                        None => self.diags.push(Diagnostic::error(span, "bad period").hint("write a positive duration such as \"500ms\", \"10s\", \"1m\", \"1h\" or \"1d\" (at most 30 days)")),
                    }
                }
                "ipv4_prefix" | "ipv6_prefix" => {
                    let max = if k == "ipv4_prefix" { 32 } else { 128 };
                    if let Some(n) = self.int(&v, &k) {
                        match u8::try_from(n) {
                            Ok(n) if (1..=max).contains(&n) => {
                                if max == 32 {
                                    v4 = n
                                } else {
                                    v6 = n
                                }
                            }
                            _ => self.diags.push(
                                Diagnostic::error(
                                    v.span,
                                    format!("`{k}` must be between 1 and {max}"),
                                )
                                .hint(
                                    "the prefix length rate-limit keys are cut to, e.g. 24 or 64",
                                ),
                            ),
                        }
                    }
                }
                other => self.unknown_key(
                    other,
                    kspan,
                    &[
                        "key",
                        "limit",
                        "period",
                        "burst",
                        "ipv4_prefix",
                        "ipv6_prefix",
                    ],
                ),
            }
        }
        let mut key = key.unwrap_or_else(|| {
            vec![RateKey::Ip {
                v4_prefix: 32,
                v6_prefix: 64,
            }]
        });
        for k in &mut key {
            if let RateKey::Ip {
                v4_prefix,
                v6_prefix,
            } = k
            {
                *v4_prefix = v4;
                *v6_prefix = v6;
            }
        }
        let (Some(limit), Some(period)) = (limit, period) else {
            if !self.diags.iter().any(|d| {
                d.severity() == Severity::Error
                    && d.span().is_some_and(|s| {
                        s.start >= tspan.start && s.end <= tspan.end && s.file == tspan.file
                    })
            }) {
                self.diags.push(
                    Diagnostic::error(tspan, "`rate_limit` needs `limit` and `period`")
                        .hint("e.g. rate_limit = { key = [\"ip\"], limit = 10, period = \"1m\" }"),
                );
            }
            return None;
        };
        Some(RateLimit {
            key,
            limit,
            period,
            burst: burst.unwrap_or(limit),
        })
    }
}

/// Offset of a string's value inside its quoted source text, when the value appears there
/// verbatim (no escapes), so positions inside it map exactly.
fn string_base(raw: &str, value: &str) -> Option<u32> {
    [1usize, 3, 4, 5].into_iter().find_map(|skip| {
        let inner = raw.get(skip..skip + value.len())?;
        (inner == value).then_some(skip as u32)
    })
}

fn parse_rate_key(s: &str) -> Option<RateKey> {
    let bracket = |prefix: &str| -> Option<String> {
        let inner = s
            .strip_prefix(prefix)?
            .strip_prefix("[\"")?
            .strip_suffix("\"]")?;
        (!inner.is_empty()).then(|| inner.to_string())
    };
    match s {
        "ip" => Some(RateKey::Ip {
            v4_prefix: 32,
            v6_prefix: 64,
        }),
        "auth.subject" => Some(RateKey::AuthSubject),
        _ => bracket("header")
            .map(|h| RateKey::Header(h.to_ascii_lowercase()))
            .or_else(|| bracket("attr").map(RateKey::Attr)),
    }
}

/// `"500ms"`, `"10s"`, `"1m"`, `"1h"`, `"1d"`: positive and at most 30 days.
pub(crate) fn parse_period(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let ms = match unit {
        "ms" => n,
        "s" => n.checked_mul(1000)?,
        "m" => n.checked_mul(60_000)?,
        "h" => n.checked_mul(3_600_000)?,
        "d" => n.checked_mul(86_400_000)?,
        _ => return None,
    };
    (1..=30 * 86_400_000)
        .contains(&ms)
        .then(|| Duration::from_millis(ms))
}

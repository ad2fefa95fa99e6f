//! Lints: rule sets that load fine but probably do not do what their author meant.
//!
//! Every lint is a warning located on the rule it is about, with a hint. They are
//! conservative: a lint that cannot prove its point stays quiet, so a warning is worth
//! reading. The implication test behind "can never decide" is sound but incomplete: it
//! knows literal prefixes, suffixes, substrings, identical predicates, IP list containment
//! and the boolean connectives, and nothing else.
//!
//! - a rule that can never decide because an earlier terminal rule matches every request
//!   it matches (checked against the nearest earlier rules reading the same fields, 256 by
//!   default, [`LoadOptions::lint_lookback`](crate::LoadOptions::lint_lookback), so the lint
//!   stays linear in the number of rules);
//! - an unconditional allow or forbid, which switches off every rule after it;
//! - an allow rule that only reads what any client can send (headers, cookies, query
//!   arguments, the protocol), which lets anyone skip the rules after it;
//! - with `preflight_exempt = false`, a forbid rule that reads identity and that a CORS
//!   preflight (anonymous by design) would trip;
//! - a `matches` regex that is a plain literal (`contains`, `starts_with`, `ends_with`
//!   or `==` say the same, and say it faster);
//! - `hide = true` on a rule that reads neither identity nor the path;
//! - a pattern that every value matches (`contains ""`, `matches ""`, `matches "a*"`);
//! - `path starts_with "/admin/"` with nothing in the rule for `/admin` itself, which most
//!   routers serve too.
//!
//! Unused lists are reported by the loader itself.

mod implies;

use regex_syntax::hir::{Hir, HirKind, Look};

use crate::diag::Diagnostic;
use crate::expr::{CmpOp, Expr, Field, ListOp, Pred, PredKind, StrOp, Term, Transform};
use crate::lists::List;
use crate::ruleset::{Action, Mode, Rule, Settings};
use crate::source::{Sources, Span};
use implies::{implies, to_nnf};

/// Runs every lint over rules in evaluation order.
pub(crate) fn lint(
    rules: &[Rule],
    lists: &[List],
    settings: &Settings,
    sources: &Sources,
    lookback: usize,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let nnf: Vec<Expr> = rules.iter().map(|r| to_nnf(&r.when, false)).collect();
    unreachable_rules(rules, &nnf, lists, sources, lookback, &mut out);
    client_controlled_allow(rules, &nnf, &mut out);
    if !settings.preflight_exempt {
        preflight_forbids(rules, &mut out);
    }
    for r in rules {
        literal_regexes(r, &mut out);
        vacuous_patterns(r, &mut out);
        prefix_misses_itself(r, &mut out);
        pointless_hide(r, sources, &mut out);
    }
    out
}

/// Whether a rule ends evaluation whenever its condition holds.
fn is_terminal(r: &Rule) -> bool {
    r.mode == Mode::Enforce && matches!(r.action, Action::Allow | Action::Forbid)
}

fn unreachable_rules(
    rules: &[Rule],
    nnf: &[Expr],
    lists: &[List],
    sources: &Sources,
    lookback: usize,
    out: &mut Vec<Diagnostic>,
) {
    for (i, e) in rules.iter().enumerate() {
        if !is_terminal(e) || !matches!(nnf[i], Expr::Const(true)) {
            continue;
        }
        let after: Vec<&str> = rules[i + 1..].iter().map(|r| r.id.as_str()).collect();
        if after.is_empty() {
            continue;
        }
        let shown = after
            .iter()
            .take(5)
            .map(|id| format!("`{id}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let more = if after.len() > 5 {
            format!(" and {} more", after.len() - 5)
        } else {
            String::new()
        };
        out.push(
            Diagnostic::warning(
                e.span,
                format!(
                    "rule `{}` {}s every request, so the {} rule(s) after it never run: {shown}{more}",
                    e.id,
                    e.action.name(),
                    after.len()
                ),
            )
            .hint(match e.action {
                Action::Allow => "an unconditional allow switches the firewall off; give it a condition, or remove it and set [policy] default = \"allow\"",
                _ => "give it a condition, or set [policy] default = \"forbid\" instead",
            }),
        );
    }
    // Computed once per rule, so the pairwise search below stays cheap: an earlier rule can
    // only be proved to cover a later one when it reads no field the later one does not.
    let identity: Vec<bool> = rules.iter().map(Rule::is_identity).collect();
    let masks: Vec<u64> = rules.iter().map(field_mask).collect();
    let candidates: Vec<usize> = (0..rules.len())
        .filter(|&i| is_terminal(&rules[i]) && !matches!(nnf[i], Expr::Const(true)))
        .collect();
    for (j, r) in rules.iter().enumerate() {
        if matches!(nnf[j], Expr::Const(false)) {
            continue; // switched off on purpose
        }
        // The nearest earlier rules first, and at most `lookback` of them that read
        // compatible fields: the lint stays linear on rule sets of tens of thousands.
        let before = candidates.partition_point(|&i| i < j);
        let shadowing = candidates[..before]
            .iter()
            .rev()
            .copied()
            .filter(|&i| masks[i] & !masks[j] == 0 && (identity[j] || !identity[i]))
            .take(lookback)
            // An identity rule is skipped for preflights; a rule that is not then still
            // decides them.
            .filter(|&i| implies(&nnf[j], &nnf[i], lists))
            .last();
        if let Some(i) = shadowing {
            let e = &rules[i];
            out.push(
                Diagnostic::warning(
                    r.span,
                    format!(
                        "rule `{}` can never decide: rule `{}` ({}) runs first and {}s every request this one matches",
                        r.id,
                        e.id,
                        sources.location(e.span),
                        e.action.name()
                    ),
                )
                .hint(format!(
                    "move `{}` before `{}` (or give it a higher `priority`), narrow `{}`, or remove `{}`",
                    r.id, e.id, e.id, r.id
                )),
            );
        }
    }
}

/// The fields a rule reads, hashed into 64 buckets.
fn field_mask(r: &Rule) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut mask = 0u64;
    r.when.visit_preds(&mut |p| {
        for t in pred_terms(p) {
            if let Some(f) = t.field() {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                f.hash(&mut h);
                mask |= 1 << (h.finish() % 64);
            }
        }
    });
    mask
}

/// Fields any client sets to whatever it likes, with no server-side meaning.
fn client_controlled(f: &Field) -> bool {
    matches!(
        f,
        Field::UserAgent
            | Field::Header(_)
            | Field::Cookie(_)
            | Field::Arg(_)
            | Field::Query
            | Field::Protocol
    )
}

fn client_controlled_allow(rules: &[Rule], nnf: &[Expr], out: &mut Vec<Diagnostic>) {
    for (i, r) in rules.iter().enumerate() {
        if r.action != Action::Allow || r.mode != Mode::Enforce || matches!(nnf[i], Expr::Const(_))
        {
            continue;
        }
        let mut fields = Vec::new();
        let mut only_client = true;
        r.when.visit_preds(&mut |p| {
            for t in pred_terms(p) {
                match t.field() {
                    Some(f) if client_controlled(f) => {
                        let name = f.to_string();
                        if !fields.contains(&name) {
                            fields.push(name);
                        }
                    }
                    Some(_) => only_client = false,
                    None => {}
                }
            }
        });
        let later = rules[i + 1..]
            .iter()
            .filter(|l| l.action != Action::Log)
            .count();
        if only_client && !fields.is_empty() && later > 0 {
            out.push(
                Diagnostic::warning(
                    r.span,
                    format!(
                        "allow rule `{}` reads only {}, which any client can send: whoever sends it skips the {later} rule(s) after it",
                        r.id,
                        fields.join(", ")
                    ),
                )
                .hint("tie the exception to something the client cannot choose (`ip in $list`, `path`, `auth.*`), or move it after the rules it must not switch off"),
            );
        }
    }
}

fn pred_terms(p: &Pred) -> Vec<&Term> {
    p.kind.terms()
}

/// Three-valued: `Some(b)` when known on every CORS preflight from an anonymous caller.
fn on_preflight(e: &Expr) -> Option<bool> {
    match e {
        Expr::Const(b) => Some(*b),
        Expr::Not(x) => on_preflight(x).map(|b| !b),
        Expr::And(xs) => {
            let vals: Vec<Option<bool>> = xs.iter().map(on_preflight).collect();
            if vals.contains(&Some(false)) {
                Some(false)
            } else if vals.iter().all(|v| *v == Some(true)) {
                Some(true)
            } else {
                None
            }
        }
        Expr::Or(xs) => {
            let vals: Vec<Option<bool>> = xs.iter().map(on_preflight).collect();
            if vals.contains(&Some(true)) {
                Some(true)
            } else if vals.iter().all(|v| *v == Some(false)) {
                Some(false)
            } else {
                None
            }
        }
        Expr::Pred(p) => match &p.kind {
            PredKind::Test(Term::Field(Field::AuthAuthenticated)) => Some(false),
            PredKind::Test(Term::Field(Field::CorsPreflight)) => Some(true),
            PredKind::Has {
                set: Term::Field(Field::AuthRoles | Field::AuthScopes),
                ..
            } => Some(false),
            PredKind::List {
                lhs: Term::Field(Field::AuthRoles | Field::AuthScopes),
                op: ListOp::HasAny,
                ..
            } => Some(false),
            PredKind::Compare {
                lhs: Term::Field(Field::Method),
                op,
                rhs: Term::Str(s),
            }
            | PredKind::Compare {
                lhs: Term::Str(s),
                op,
                rhs: Term::Field(Field::Method),
            } => match op {
                CmpOp::Eq => Some(s == "OPTIONS"),
                CmpOp::Ne => Some(s != "OPTIONS"),
                _ => None,
            },
            _ => None,
        },
    }
}

fn preflight_forbids(rules: &[Rule], out: &mut Vec<Diagnostic>) {
    for r in rules {
        if r.action != Action::Forbid || r.mode != Mode::Enforce || !r.is_identity() {
            continue;
        }
        if on_preflight(&r.when) != Some(false) {
            out.push(
                Diagnostic::warning(
                    r.span,
                    format!(
                        "rule `{}` reads identity and would refuse CORS preflights: a preflight carries no credentials, and preflight_exempt = false",
                        r.id
                    ),
                )
                .hint("set [policy] preflight_exempt = true (the default), or add `and not cors.preflight` to the condition"),
            );
        }
    }
}

/// The literal a regex stands for, with whether it is anchored at the start and the end;
/// `None` when the regex is more than a literal.
fn regex_literal(pattern: &str) -> Option<(String, bool, bool)> {
    let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
    let parts: Vec<&Hir> = match hir.kind() {
        HirKind::Concat(xs) => xs.iter().collect(),
        _ => vec![&hir],
    };
    let (mut start, mut end) = (false, false);
    let mut lit = Vec::new();
    for (i, h) in parts.iter().enumerate() {
        match h.kind() {
            HirKind::Look(Look::Start) if i == 0 => start = true,
            HirKind::Look(Look::End) if i + 1 == parts.len() => end = true,
            HirKind::Literal(l) if !end => lit.extend_from_slice(&l.0),
            _ => return None,
        }
    }
    let lit = String::from_utf8(lit).ok()?;
    (!lit.is_empty()).then_some((lit, start, end))
}

fn literal_regexes(r: &Rule, out: &mut Vec<Diagnostic>) {
    r.when.visit_preds(&mut |p| {
        let PredKind::Str {
            lhs,
            op: StrOp::Matches,
            pattern,
        } = &p.kind
        else {
            return;
        };
        let Some((lit, start, end)) = regex_literal(pattern) else {
            return;
        };
        let (op, text) = match (start, end) {
            (false, false) => ("contains", format!("{lhs} contains {lit:?}")),
            (true, false) => ("starts_with", format!("{lhs} starts_with {lit:?}")),
            (false, true) => ("ends_with", format!("{lhs} ends_with {lit:?}")),
            (true, true) => ("==", format!("{lhs} == {lit:?}")),
        };
        out.push(
            Diagnostic::warning(
                p.span,
                format!("the regex {pattern:?} is a plain literal: `{op}` says the same"),
            )
            .hint(format!(
                "write `{text}`: it needs no regex engine and reads more plainly"
            )),
        );
    });
}

/// Whether every string has a match of `pattern`: it can match empty and asserts nothing.
fn matches_everything(pattern: &str) -> bool {
    regex_syntax::Parser::new().parse(pattern).is_ok_and(|hir| {
        let props = hir.properties();
        props.minimum_len() == Some(0) && props.look_set().is_empty()
    })
}

fn vacuous_patterns(r: &Rule, out: &mut Vec<Diagnostic>) {
    r.when.visit_preds(&mut |p| {
        let PredKind::Str { op, pattern, .. } = &p.kind else {
            return;
        };
        let vacuous = match op {
            StrOp::Matches => matches_everything(pattern),
            _ => pattern.is_empty(),
        };
        if vacuous {
            out.push(
                Diagnostic::warning(
                    p.span,
                    format!("`{}` holds for every value the field has", p.text),
                )
                .hint("to test that a field is there, write `present(…)`; to test that it is empty, `== \"\"`"),
            );
        }
    });
}

/// Calls `f` on every predicate with whether an odd number of `not`s negate it.
fn visit_polarity<'a>(e: &'a Expr, negated: bool, f: &mut dyn FnMut(&'a Pred, bool)) {
    match e {
        Expr::Const(_) => {}
        Expr::Pred(p) => f(p, negated),
        Expr::Not(e) => visit_polarity(e, !negated, f),
        Expr::And(es) | Expr::Or(es) => es.iter().for_each(|e| visit_polarity(e, negated, f)),
    }
}

/// Flags a directory prefix where missing the directory itself lets a request through:
/// refusing rules that test it, and allow rules that test its negation.
fn prefix_misses_itself(r: &Rule, out: &mut Vec<Diagnostic>) {
    let unsafe_when_negated = match r.action {
        Action::Forbid | Action::RateLimit => false,
        Action::Allow => true,
        Action::Log => return,
    };
    let path_term = |t: &Term| match t {
        Term::Field(Field::Path) => true,
        Term::Func(Transform::Lower, t) => matches!(**t, Term::Field(Field::Path)),
        _ => false,
    };
    let mut prefixes = Vec::new();
    // What else in the rule matches the directory itself: `==` it, or a shorter prefix.
    let (mut equal, mut shorter) = (Vec::new(), Vec::new());
    visit_polarity(&r.when, false, &mut |p, negated| match &p.kind {
        PredKind::Str {
            lhs,
            op: StrOp::StartsWith,
            pattern,
        } if path_term(lhs) => match pattern.strip_suffix('/') {
            Some(dir) if !dir.is_empty() && negated == unsafe_when_negated => {
                prefixes.push((p, dir))
            }
            _ => shorter.push(pattern.as_str()),
        },
        PredKind::Compare {
            lhs,
            op: CmpOp::Eq,
            rhs: Term::Str(s),
        } if path_term(lhs) => equal.push(s.as_str()),
        _ => {}
    });
    for (p, dir) in prefixes {
        if equal.contains(&dir) || shorter.iter().any(|s| dir.starts_with(s)) {
            continue;
        }
        out.push(
            Diagnostic::warning(
                p.span,
                format!(
                    "`{}` does not match {dir:?} itself, which routers serve too, so rule `{}` lets it through",
                    p.text, r.id
                ),
            )
            .hint(format!("write `({} == {dir:?} or {})`", p.text.split(" starts_with").next().unwrap_or("path"), p.text)),
        );
    }
}

/// The source text of a predicate's left side (the text before the operator).
fn pointless_hide(r: &Rule, sources: &Sources, out: &mut Vec<Diagnostic>) {
    if !r.hide || r.is_identity() {
        return;
    }
    let mut reads_path = false;
    r.when.visit_preds(&mut |p| {
        reads_path |= pred_terms(p)
            .iter()
            .any(|t| t.field().is_some_and(Field::reads_path));
    });
    if reads_path {
        return;
    }
    out.push(
        Diagnostic::warning(
            hide_span(r, sources),
            format!("`hide = true` has no effect on rule `{}`: it reads neither identity nor the path", r.id),
        )
        .hint("a 404 hides that a resource exists; this rule refuses whatever the resource, so a plain 403 says the same. Remove `hide`"),
    );
}

/// The span of a rule's `hide` key, found in the text of its table; the id's span when it
/// cannot be found (JSON rules, unusual layouts).
fn hide_span(r: &Rule, sources: &Sources) -> Span {
    let Some(file) = sources.get(r.span.file) else {
        return r.span;
    };
    let text = &file.text;
    let at = (r.span.start as usize).min(text.len());
    let start = text.get(..at).and_then(|t| t.rfind("[[")).unwrap_or(0);
    let end = text
        .get(at..)
        .and_then(|t| t.find("[["))
        .map_or(text.len(), |e| at + e);
    let mut offset = start;
    for line in text.get(start..end).unwrap_or("").split_inclusive('\n') {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("hide") {
            if rest.trim_start().starts_with('=') {
                let s = offset + (line.len() - trimmed.len());
                let e = s + line.trim().len();
                return Span {
                    file: r.span.file,
                    start: s as u32,
                    end: e as u32,
                };
            }
        }
        offset += line.len();
    }
    r.span
}

#[cfg(test)]
mod tests {
    use crate::RuleSet;

    fn warnings(text: &str) -> Vec<String> {
        let rs = RuleSet::parse("lint.toml", text).unwrap_or_else(|e| panic!("{e}"));
        rs.warnings()
            .iter()
            .map(|w| w.render(rs.sources()))
            .collect()
    }

    fn assert_one(text: &str, needle: &str) -> String {
        let w = warnings(text);
        assert_eq!(
            w.len(),
            1,
            "expected one warning containing {needle:?}, got {w:#?}"
        );
        assert!(w[0].contains(needle), "{}", w[0]);
        w[0].clone()
    }

    fn assert_none(text: &str) {
        let w = warnings(text);
        assert!(w.is_empty(), "expected no warnings, got {w:#?}");
    }

    fn rule(id: &str, when: &str, action: &str) -> String {
        format!("[[rule]]\nid = \"{id}\"\nwhen = '{when}'\naction = \"{action}\"\n\n")
    }

    #[test]
    fn starter_pack_is_lint_free() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
        let rs = RuleSet::load(&[root]).unwrap_or_else(|e| panic!("{e}"));
        let w: Vec<String> = rs
            .warnings()
            .iter()
            .map(|w| w.render(rs.sources()))
            .collect();
        assert!(w.is_empty(), "{w:#?}");
    }

    #[test]
    fn identical_condition_is_unreachable() {
        let text = rule("a", r#"path == "/x" and method == "GET""#, "forbid")
            + &rule("b", r#"method == "GET" and path == "/x""#, "forbid");
        let w = assert_one(&text, "rule `b` can never decide: rule `a` (lint.toml:2:6)");
        assert!(w.contains("lint.toml:7:6"), "{w}");
        assert!(w.contains("hint: move `b` before `a`"), "{w}");
    }

    #[test]
    fn broader_prefix_first_makes_narrower_unreachable() {
        assert_one(
            &(rule("broad", r#"path starts_with "/a""#, "forbid")
                + &rule("narrow", r#"path starts_with "/a/b""#, "allow")),
            "rule `narrow` can never decide",
        );
        // The other way round is how exceptions are written: no warning.
        assert_none(
            &(rule("narrow", r#"path starts_with "/a/b""#, "allow")
                + &rule("broad", r#"path starts_with "/a""#, "forbid")),
        );
        // Different fields: no warning.
        assert_none(
            &(rule("a", r#"raw_path starts_with "/a""#, "forbid")
                + &rule("b", r#"path starts_with "/a/b""#, "forbid")),
        );
    }

    #[test]
    fn facts_lists_and_connectives() {
        // == implies contains; an extra conjunct only narrows.
        assert_one(
            &(rule("a", r#"path contains "admin""#, "forbid")
                + &rule(
                    "b",
                    r#"path == "/admin/x" and ip in {10.0.0.0/8}"#,
                    "forbid",
                )),
            "rule `b` can never decide",
        );
        // An or on the earlier rule: one branch is enough.
        assert_one(
            &(rule(
                "a",
                r#"path ends_with ".bak" or path ends_with ".old""#,
                "forbid",
            ) + &rule("b", r#"path ends_with "db.old""#, "log")),
            "rule `b` can never decide",
        );
        // A pattern list covering the literal.
        assert_one(
            &(rule(
                "a",
                r#"user_agent contains_any {"sqlmap", "nikto"}"#,
                "forbid",
            ) + &rule("b", r#"user_agent starts_with "sqlmap/1""#, "forbid")),
            "rule `b` can never decide",
        );
        // IP lists: a /24 inside a /16.
        assert_one(
            &(rule("a", "ip in {10.1.0.0/16}", "forbid")
                + &rule("b", "ip in {10.1.2.0/24}", "forbid")),
            "rule `b` can never decide",
        );
        // Negations: not starts_with "/api/" implies not starts_with "/api/public/".
        assert_one(
            &(rule("a", r#"not path starts_with "/api/public/""#, "forbid")
                + &rule("b", r#"not path starts_with "/api/""#, "forbid")),
            "rule `b` can never decide",
        );
        // An or on the later rule needs every branch covered.
        assert_none(
            &(rule("a", r#"path starts_with "/a""#, "forbid")
                + &rule(
                    "b",
                    r#"path starts_with "/a/b" or path starts_with "/c""#,
                    "forbid",
                )),
        );
    }

    #[test]
    fn non_terminal_and_identity_rules_do_not_shadow() {
        // A log rule, a shadow rule and a rate limit let evaluation go on.
        assert_none(
            &(rule("a", r#"path starts_with "/a""#, "log")
                + &rule("b", r#"path starts_with "/a""#, "forbid")),
        );
        assert_none(&format!(
            "{}mode = \"shadow\"\n\n{}",
            rule("a", r#"path starts_with "/a""#, "forbid"),
            rule("b", r#"path starts_with "/a""#, "forbid")
        ));
        // An identity rule is skipped for preflights, where the later rule still decides.
        assert_none(
            &(rule("a", r#"path == "/x" or auth.authenticated"#, "forbid")
                + &rule("b", r#"path == "/x""#, "forbid")),
        );
        // A rule switched off with `false` is left alone.
        assert_none(&(rule("a", r#"path == "/x""#, "forbid") + &rule("b", "false", "forbid")));
    }

    #[test]
    fn unconditional_rule_switches_off_the_rest() {
        let text = rule("everything", "true", "allow")
            + &rule("b", r#"path == "/x""#, "forbid")
            + &rule("c", r#"path == "/y""#, "log");
        let w = assert_one(
            &text,
            "rule `everything` allows every request, so the 2 rule(s) after it never run: `b`, `c`",
        );
        assert!(w.contains("switches the firewall off"), "{w}");
        // Last rule: nothing after it to switch off.
        assert_none(
            &(rule("b", r#"path == "/x""#, "forbid") + &rule("everything", "true", "forbid")),
        );
    }

    #[test]
    fn allow_on_client_controlled_fields_is_flagged() {
        assert_one(
            &(rule("bots", r#"user_agent contains "Googlebot""#, "allow") + &rule("b", r#"path starts_with "/admin""#, "forbid")),
            "allow rule `bots` reads only user_agent, which any client can send: whoever sends it skips the 1 rule(s) after it",
        );
        assert_one(
            &(rule(
                "debug",
                r#"header["x-debug"] == "1" or arg["debug"] == "1""#,
                "allow",
            ) + &rule("b", r#"path starts_with "/admin""#, "forbid")),
            r#"reads only header["x-debug"], arg["debug"]"#,
        );
        assert_one(
            &(rule("old", r#"protocol == "HTTP/1.0""#, "allow")
                + &rule("b", r#"path starts_with "/admin""#, "forbid")),
            "reads only protocol, which any client can send",
        );
        // Tied to the network or the path: fine.
        assert_none(
            &(rule(
                "ok",
                r#"user_agent contains "Googlebot" and ip in {66.249.64.0/19}"#,
                "allow",
            ) + &rule("b", r#"path starts_with "/admin""#, "forbid")),
        );
        assert_none(
            &(rule("static", r#"path starts_with "/static/""#, "allow")
                + &rule("b", r#"path starts_with "/admin""#, "forbid")),
        );
    }

    #[test]
    fn identity_forbid_that_preflights_trip() {
        let forbid = rule(
            "admin-only",
            r#"path starts_with "/admin" and not auth.roles has "admin""#,
            "forbid",
        );
        assert_none(&forbid);
        let off = format!("[policy]\npreflight_exempt = false\n\n{forbid}");
        assert_one(
            &off,
            "rule `admin-only` reads identity and would refuse CORS preflights",
        );
        // Excluding preflights or OPTIONS in the condition silences it.
        assert_none(&off.replace(r#"and not auth"#, r#"and not cors.preflight and not auth"#));
        assert_none(&off.replace(r#"and not auth"#, r#"and method != "OPTIONS" and not auth"#));
        // A rule that needs a role present never trips on an anonymous preflight.
        assert_none(&format!(
            "[policy]\npreflight_exempt = false\n\n{}",
            rule("x", r#"auth.roles has "banned""#, "forbid")
        ));
    }

    #[test]
    fn literal_regexes_are_flagged_with_the_operator_to_use() {
        for (re, suggestion) in [
            (r#""admin""#, r#"write `path contains "admin"`"#),
            (r#""^/admin""#, r#"write `path starts_with "/admin"`"#),
            (r#""\\.php$""#, r#"write `path ends_with ".php"`"#),
            (r#""^/x$""#, r#"write `path == "/x"`"#),
        ] {
            let w = assert_one(
                &rule("r", &format!("path matches {re}"), "forbid"),
                "is a plain literal",
            );
            assert!(w.contains(suggestion), "{w}");
        }
        assert_none(&rule("r", r#"path matches "^/admin/[0-9]+$""#, "forbid"));
        assert_none(&rule("r", r#"user_agent matches "(?i)sqlmap""#, "forbid"));
        assert_none(&rule("r", r#"path matches "a|b""#, "forbid"));
    }

    #[test]
    fn hide_without_identity_or_path_is_flagged_at_the_key() {
        let text = "[[rule]]\nid = \"bots\"\nwhen = 'user_agent contains \"sqlmap\"'\naction = \"forbid\"\nhide = true\n";
        let w = assert_one(text, "`hide = true` has no effect on rule `bots`");
        assert!(w.contains("lint.toml:5:1"), "{w}");
        assert_none(&text.replace("user_agent contains \"sqlmap\"", "path starts_with \"/x\""));
        assert_none(&text.replace("user_agent contains \"sqlmap\"", "not auth.authenticated"));
    }

    #[test]
    fn unused_lists_still_warn() {
        assert_one(
            &format!(
                "[lists]\nunused = {{ kind = \"string\", items = [\"x\"] }}\n\n{}",
                rule("a", r#"path == "/""#, "log")
            ),
            "list `unused` is declared but never used",
        );
    }

    #[test]
    fn patterns_every_value_matches_are_flagged() {
        for when in [
            r#"user_agent contains """#,
            r#"path starts_with """#,
            r#"header["x"] ends_with """#,
            r#"path matches """#,
            r#"user_agent matches "(?i)x*""#,
        ] {
            assert_one(&rule("r", when, "forbid"), "holds for every value");
        }
        assert_none(&rule("r", r#"path matches "^$""#, "forbid"));
        assert_none(&rule("r", r#"user_agent matches "x+""#, "forbid"));
    }

    #[test]
    fn a_directory_prefix_that_misses_the_directory_is_flagged() {
        let w = assert_one(
            &rule("r", r#"path starts_with "/admin/""#, "forbid"),
            r#"does not match "/admin" itself"#,
        );
        assert!(
            w.contains(r#"(path == "/admin" or path starts_with "/admin/")"#),
            "{w}"
        );
        let w = assert_one(
            &rule(
                "r",
                r#"lower(path) starts_with "/admin/""#,
                "rate_limit\"\nrate_limit = { key = [\"ip\"], limit = 1, period = \"1s\" }\n#",
            ),
            "itself",
        );
        assert!(w.contains(r#"(lower(path) == "/admin" or"#), "{w}");
        assert_one(
            &rule("r", r#"not path starts_with "/public/""#, "allow"),
            r#""/public" itself"#,
        );
        for (when, action) in [
            (
                r#"path == "/admin" or path starts_with "/admin/""#,
                "forbid",
            ),
            (r#"path starts_with "/admin""#, "forbid"),
            (r#"path starts_with "/""#, "forbid"),
            (r#"raw_path starts_with "/admin/""#, "forbid"),
            // Missing the directory refuses more, not less.
            (r#"not path starts_with "/public/""#, "forbid"),
            (r#"path starts_with "/public/""#, "allow"),
            (r#"path starts_with "/admin/""#, "log"),
        ] {
            assert_none(&rule("r", when, action));
        }
    }
}

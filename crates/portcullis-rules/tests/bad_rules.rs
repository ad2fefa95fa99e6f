//! Bad rule files: every one gets a located error (`file:line:col`), a message and a hint;
//! none panics, whatever the input.

use std::path::{Path, PathBuf};

use portcullis_rules::{Error, RuleSet, Severity};
use portcullis_testgen::{broken, Gen};
use proptest::prelude::*;

/// One expected diagnostic: where, what, and a piece of the hint.
struct Want<'a> {
    at: &'a str,
    message: &'a str,
    hint: &'a str,
}

const fn want<'a>(at: &'a str, message: &'a str, hint: &'a str) -> Want<'a> {
    Want { at, message, hint }
}

/// Checks that `err` holds each wanted error, and that its rendering shows it.
fn assert_errors(name: &str, err: &Error, wants: &[Want<'_>]) {
    let rendered = err.to_string();
    for w in wants {
        let found = err.diagnostics().iter().any(|d| {
            d.severity() == Severity::Error
                && d.span().is_some_and(|s| err.sources().location(s) == w.at)
                && d.message().contains(w.message)
                && d.hint_text().is_some_and(|h| h.contains(w.hint))
        });
        assert!(
            found,
            "{name}: no error at {} with message {:?} and hint {:?}; got:\n{rendered}",
            w.at, w.message, w.hint
        );
        assert!(
            rendered.contains(&format!("--> {}\n", w.at)),
            "{name}: rendering lacks {}:\n{rendered}",
            w.at
        );
        assert!(
            rendered.contains(w.message),
            "{name}: rendering lacks the message:\n{rendered}"
        );
        assert!(
            rendered.contains("= hint: "),
            "{name}: rendering lacks a hint:\n{rendered}"
        );
    }
    assert_eq!(
        err.error_count(),
        wants.len(),
        "{name}: error count; got:\n{rendered}"
    );
    assert!(
        rendered.ends_with(&format!("{} error(s) in rule files", wants.len())),
        "{rendered}"
    );
}

fn toml_err(name: &str, text: &str) -> Error {
    match RuleSet::parse(name, text) {
        Ok(_) => panic!("{name}: parsed, but should not have:\n{text}"),
        Err(e) => e,
    }
}

/// The rule text `[[rule]] id = "r" when = '<when>' action = "forbid"`: the condition starts
/// at line 3, column 9.
fn rule_when(when: &str) -> String {
    format!("[[rule]]\nid = \"r\"\nwhen = '{when}'\naction = \"forbid\"\n")
}

/// `(name, file text, expected errors)`: small TOML files with one mistake each.
#[test]
fn bad_toml_files() {
    let cases: Vec<(&str, String, Vec<Want<'_>>)> = vec![
        (
            "unknown field",
            rule_when(r#"pth == "/""#),
            vec![want("b.toml:3:9", "unknown field `pth`", "did you mean `path`?")],
        ),
        (
            "unknown field after an operator",
            rule_when(r#"path == "/" and user_agnet contains "x""#),
            vec![want("b.toml:3:25", "unknown field `user_agnet`", "did you mean `user_agent`?")],
        ),
        (
            "unknown list",
            format!(
                "[lists]\nblocklist = {{ kind = \"ip\", items = [\"10.0.0.0/8\"] }}\n{}",
                rule_when("ip in $blocklsit or ip in $blocklist")
            ),
            vec![want("b.toml:5:15", "unknown list `$blocklsit`", "did you mean `$blocklist`?")],
        ),
        (
            "unknown operator",
            rule_when(r#"path startswith "/admin""#),
            vec![want("b.toml:3:14", "unknown operator `startswith`", "did you mean `starts_with`?")],
        ),
        (
            "comparing a string with an IP literal",
            rule_when("host == 10.0.0.1"),
            vec![want("b.toml:3:9", "cannot compare a string with an IP address", "quote the address")],
        ),
        (
            "comparing ip with a string",
            rule_when(r#"ip == "10.0.0.1""#),
            vec![want("b.toml:3:9", "cannot compare an IP address with a string", "only `ip` holds addresses")],
        ),
        (
            "regex that does not compile",
            rule_when(r#"path matches "a(b""#),
            vec![want("b.toml:3:22", "invalid regex", "syntax of the regex crate")],
        ),
        (
            "look-around is not supported",
            rule_when(r#"path matches "a(?=b)""#),
            vec![want("b.toml:3:22", "invalid regex", "no look-around")],
        ),
        (
            "duplicate rule id",
            "[[rule]]\nid = \"same\"\nwhen = 'true'\naction = \"allow\"\n\n[[rule]]\nid = \"same\"\nwhen = 'true'\naction = \"forbid\"\n".into(),
            vec![want("b.toml:7:6", "duplicate rule id `same`", "the first rule with this id is at b.toml:2:6")],
        ),
        (
            "invalid CIDR prefix in a list",
            "[lists]\nnets = { kind = \"ip\", items = [\"10.0.0.0/8\", \"10.0.0.0/33\"] }\n[[rule]]\nid = \"r\"\nwhen = 'ip in $nets'\naction = \"forbid\"\n".into(),
            vec![want("b.toml:2:46", "`/33` is not a valid prefix length for IPv4 (0 to 32)", "one IPv4 or IPv6 address or CIDR per entry")],
        ),
        (
            "invalid IPv4 address in a list",
            "[lists]\nnets = { kind = \"ip\", items = [\"300.1.1.1\"] }\n[[rule]]\nid = \"r\"\nwhen = 'ip in $nets'\naction = \"forbid\"\n".into(),
            vec![want("b.toml:2:32", "`300.1.1.1` is not a valid IP address or CIDR", "one IPv4 or IPv6 address or CIDR per entry")],
        ),
        (
            "invalid CIDR in an inline set",
            rule_when("ip in {10.0.0.0/8, 10.0.0.0/33}"),
            vec![want("b.toml:3:28", "`/33` is not a valid prefix length for IPv4", "write an address")],
        ),
        (
            "invalid address literal",
            rule_when("ip == 300.1.1.1"),
            vec![want("b.toml:3:15", "`300.1.1.1` is not a valid IP address", "write a valid IPv4")],
        ),
        (
            "a CIDR where an address is needed",
            rule_when("ip == 10.0.0.0/8"),
            vec![want("b.toml:3:15", "is a network, not an address", "test it with `ip in {…}`")],
        ),
        (
            "bad period",
            "[[rule]]\nid = \"r\"\nwhen = 'true'\naction = \"rate_limit\"\nrate_limit = { limit = 5, period = \"1 fortnight\" }\n".into(),
            vec![want("b.toml:5:36", "bad period", "positive duration")],
        ),
        (
            "period over 30 days",
            "[[rule]]\nid = \"r\"\nwhen = 'true'\naction = \"rate_limit\"\nrate_limit = { limit = 5, period = \"31d\" }\n".into(),
            vec![want("b.toml:5:36", "bad period", "at most 30 days")],
        ),
        (
            "zero period",
            "[[rule]]\nid = \"r\"\nwhen = 'true'\naction = \"rate_limit\"\nrate_limit = { limit = 5, period = 0 }\n".into(),
            vec![want("b.toml:5:36", "bad period", "positive duration")],
        ),
        (
            "limit 0",
            "[[rule]]\nid = \"r\"\nwhen = 'true'\naction = \"rate_limit\"\nrate_limit = { limit = 0, period = \"1m\" }\n".into(),
            vec![want("b.toml:5:24", "`limit` must be at least 1", "use a forbid rule")],
        ),
        (
            "missing limit",
            "[[rule]]\nid = \"r\"\nwhen = 'true'\naction = \"rate_limit\"\nrate_limit = { period = \"1m\" }\n".into(),
            vec![want("b.toml:5:14", "`rate_limit` needs `limit` and `period`", "limit = 10")],
        ),
        (
            "unknown rate-limit key",
            "[[rule]]\nid = \"r\"\nwhen = 'true'\naction = \"rate_limit\"\nrate_limit = { key = [\"cookie\"], limit = 1, period = \"1m\" }\n".into(),
            vec![want("b.toml:5:23", "`cookie` is not a rate-limit key", "keys are \"ip\"")],
        ),
        (
            "missing action",
            "[[rule]]\nid = \"r\"\nwhen = 'true'\n".into(),
            vec![want("b.toml:2:6", "rule `r` has no `action`", "add action = \"allow\"")],
        ),
        (
            "unknown action",
            "[[rule]]\nid = \"r\"\nwhen = 'true'\naction = \"deny\"\n".into(),
            vec![want("b.toml:4:10", "`deny` is not a valid action", "use one of: allow, forbid, rate_limit, log")],
        ),
        (
            "missing when",
            "[[rule]]\nid = \"r\"\naction = \"allow\"\n".into(),
            vec![want("b.toml:2:6", "rule `r` has no `when` condition", "when = \"true\"")],
        ),
        (
            "missing id",
            "[[rule]]\nwhen = 'true'\naction = \"allow\"\n".into(),
            vec![want("b.toml:1:1", "a rule has no `id`", "give every rule a unique id")],
        ),
        (
            "invalid id",
            "[[rule]]\nid = \"no spaces\"\nwhen = 'true'\naction = \"allow\"\n".into(),
            vec![want("b.toml:2:6", "`no spaces` is not a valid rule id", "ids use letters")],
        ),
        (
            "hide on allow",
            "[[rule]]\nid = \"r\"\nwhen = 'true'\naction = \"allow\"\nhide = true\n".into(),
            vec![want("b.toml:5:8", "`hide` only applies to `forbid` rules", "remove it")],
        ),
        (
            "status on a log rule",
            "[[rule]]\nid = \"r\"\nwhen = 'true'\naction = \"log\"\nstatus = 403\n".into(),
            vec![want("b.toml:5:10", "a `log` rule sends no status", "overrides the answer of forbid and rate_limit")],
        ),
        (
            "status that is not an error",
            "[[rule]]\nid = \"r\"\nwhen = 'true'\naction = \"forbid\"\nstatus = 200\n".into(),
            vec![want("b.toml:5:10", "200 is not an error status", "between 400 and 599")],
        ),
        (
            "rate_limit action without a table",
            "[[rule]]\nid = \"r\"\nwhen = 'true'\naction = \"rate_limit\"\n".into(),
            vec![want("b.toml:4:10", "a rate_limit rule needs a `rate_limit` table", "rate_limit = { key = [\"ip\"]")],
        ),
        (
            "rate_limit table on a forbid rule",
            "[[rule]]\nid = \"r\"\nwhen = 'true'\naction = \"forbid\"\nrate_limit = { limit = 1, period = \"1s\" }\n".into(),
            vec![want("b.toml:5:14", "`rate_limit` only applies to rules with action = \"rate_limit\"", "change the action")],
        ),
        (
            "unknown key in a rule",
            "[[rule]]\nid = \"r\"\nwhen = 'true'\nacton = \"allow\"\naction = \"allow\"\n".into(),
            vec![want("b.toml:4:1", "unknown key `acton`", "did you mean `action`?")],
        ),
        (
            "unknown top-level table",
            "[polcy]\ndefault = \"allow\"\n".into(),
            vec![want("b.toml:1:2", "unknown key `polcy`", "did you mean `policy`?")],
        ),
        (
            "bad policy values",
            "[policy]\ndefault = \"deny\"\nreveal = \"all\"\nrate_limit_status = 404\nmax_expression_depth = 0\n".into(),
            vec![
                want("b.toml:2:11", "`deny` is not a valid default", "use one of: allow, forbid"),
                want("b.toml:3:10", "`all` is not a valid reveal level", "use one of: none, reason, detail"),
                want("b.toml:4:21", "404 is not an allowed rate-limit status", "use 429"),
                want("b.toml:5:24", "`max_expression_depth` must be between 1 and 1000", "the default is 64"),
            ],
        ),
        (
            "list without kind, list with neither items nor file, bad kind",
            "[lists]\na = { items = [\"x\"] }\nb = { kind = \"string\" }\nc = { kind = \"word\", items = [] }\n".into(),
            vec![
                want("b.toml:2:1", "list `a` has no `kind`", "add kind = \"ip\""),
                want("b.toml:3:5", "list `b` has neither `items` nor `file`", "items = [...]"),
                want("b.toml:4:14", "`word` is not a valid list kind", "ip, string, pattern, regex"),
                want("b.toml:4:1", "list `c` has no `kind`", "add kind"),
            ],
        ),
        (
            "list of the wrong kind for the operator",
            format!(
                "[lists]\nips = {{ kind = \"ip\", items = [\"10.0.0.0/8\"] }}\n{}",
                rule_when("user_agent contains_any $ips")
            ),
            vec![want("b.toml:5:33", "`$ips` is a list of kind `ip`, which does not fit this operator", "IP lists work with `ip in $list`")],
        ),
        (
            "ordering strings",
            rule_when(r#"path < "/b""#),
            vec![want("b.toml:3:9", "a string cannot be ordered", "compare integers")],
        ),
        (
            "a string is not a condition",
            rule_when("path"),
            vec![want("b.toml:3:9", "this is a string, not a condition", "compare it with an operator")],
        ),
        (
            "has on a string",
            rule_when(r#"path has "x""#),
            vec![want("b.toml:3:9", "`has` needs a set", "this is a string")],
        ),
        (
            "single =",
            rule_when(r#"path = "/""#),
            vec![want("b.toml:3:14", "`=` is not an operator", "compare with `==`")],
        ),
        (
            "unterminated string",
            rule_when(r#"path == "/"#),
            vec![want("b.toml:3:17", "unterminated string literal", "close the string")],
        ),
        (
            "unknown escape",
            rule_when(r#"path == "\q""#),
            vec![want("b.toml:3:18", "unknown escape in string literal", "the escapes are")],
        ),
        (
            "keyed field without a name",
            rule_when(r#"header == "x""#),
            vec![want("b.toml:3:9", "`header` needs a name in brackets", "write `header[\"name\"]`")],
        ),
        (
            "unclosed parenthesis",
            rule_when(r#"(path == "/""#),
            vec![want("b.toml:3:21", "expected `)`, found end of expression", "close the group")],
        ),
        (
            "trailing tokens",
            rule_when(r#"path == "/" path == "/x""#),
            vec![want("b.toml:3:21", "unexpected `path` after a complete condition", "join conditions with `and` / `or`")],
        ),
        (
            "present of a literal",
            rule_when(r#"present("x")"#),
            vec![want("b.toml:3:17", "`present` takes a field", "present(header")],
        ),
        (
            "path_segment of a string",
            rule_when(r#"path_segment("a") == "x""#),
            vec![want("b.toml:3:22", "`path_segment` takes a segment number", "segments count from 0")],
        ),
        (
            "empty condition",
            rule_when(""),
            vec![want("b.toml:3:9", "expected a field or a value, found end of expression", "a condition starts with a field")],
        ),
        (
            "a condition written with escapes points at the whole string",
            "[[rule]]\nid = \"r\"\nwhen = \"pth == \\\"/\\\"\"\naction = \"allow\"\n".into(),
            vec![want("b.toml:3:8", "unknown field `pth`", "did you mean `path`?")],
        ),
        (
            "bad TOML syntax",
            "[[rule]\nid = \"r\"\n".into(),
            vec![want("b.toml:1:8", "invalid TOML", "toml.io")],
        ),
        (
            "a float where an integer is needed",
            "[[rule]]\nid = \"r\"\nwhen = 'true'\naction = \"forbid\"\npriority = 1.5\n".into(),
            vec![want("b.toml:5:12", "`priority` must be an integer, found a float", "")],
        ),        (
            "an empty selector",
            rule_when(r#"args[] == "x""#),
            vec![want("b.toml:3:13", "empty selector `[]`", "name the members to keep")],
        ),
        (
            "a selector's regex that does not compile",
            rule_when(r#"args[/a(/] == "x""#),
            vec![want("b.toml:3:14", "invalid regex", "a `/` inside is written `\\/`")],
        ),
        (
            "an empty selector regex",
            rule_when(r#"args[//] == "x""#),
            vec![want("b.toml:3:14", "an empty regex `//` matches every name", "write `args`")],
        ),
        (
            "an unterminated selector regex",
            rule_when(r#"cookies[not /^__utm] == "x""#),
            vec![want("b.toml:3:21", "unterminated regex", "close it with `/`")],
        ),
        (
            "a selector on a field that is not a collection",
            rule_when(r#"path["a"] == "x""#),
            vec![want("b.toml:3:13", "`path` is not a collection", "only a collection takes a selector")],
        ),
        (
            "a selector after one header",
            rule_when(r#"header["x"]["y"] == "z""#),
            vec![want("b.toml:3:20", "`header[\"x\"]` is not a collection", "write `headers[\"x\"]`")],
        ),
        (
            "a selector element that is neither a name nor a regex",
            rule_when(r#"args[1] == "x""#),
            vec![want("b.toml:3:14", "expected a member name or a `/regex/`", "cookies[not /^__utm/]")],
        ),
        (
            "selector elements without a comma",
            rule_when(r#"args["a" "b"] == "x""#),
            vec![want("b.toml:3:18", "expected `,` or `]` in a selector", "separate selectors with commas")],
        ),
        (
            "a header selector that is no header name",
            rule_when(r#"headers["user agent"] == "x""#),
            vec![want("b.toml:3:17", "is not a header name", "header names are tokens")],
        ),
        (
            "a regex where a value is needed",
            rule_when("path == /admin/"),
            vec![want("b.toml:3:17", "found regex `/admin/`", "strings are quoted")],
        ),
        (
            "count of a field that is not a collection",
            rule_when("count(path) > 1"),
            vec![want("b.toml:3:15", "`count` takes a collection, not path", "counts a collection's members")],
        ),
        (
            "count of one header",
            rule_when(r#"count(header["host"]) == 0"#),
            vec![want("b.toml:3:15", "`count` takes a collection", "count(headers[\"host\"])")],
        ),
        (
            "`not` before an operator it cannot negate member by member",
            rule_when(r#"args not != "x""#),
            vec![want("b.toml:3:18", "`!=` cannot follow `not`", "some value of x fails")],
        ),
        (
            "`not` before `has`",
            rule_when(r#"auth.roles not has "x""#),
            vec![want("b.toml:3:24", "`has` cannot follow `not`", "Negate a whole test with `not (…)`")],
        ),
        (
            "`not` and no operator",
            rule_when("args not and true"),
            vec![want("b.toml:3:14", "expected an operator after `not`", "args not matches")],
        ),
        (
            "`not` before an operator on an address",
            rule_when("ip not in {10.0.0.0/8}"),
            vec![want("b.toml:3:9", "`not` before an operator needs a string on its left", "not (…)")],
        ),
        (
            "`not ==` against a field",
            rule_when(r#"args not == header["x"]"#),
            vec![want("b.toml:3:9", "`not ==` compares with a string literal", "compare two fields with `!=`")],
        ),
    ];
    for (name, text, wants) in cases {
        let err = toml_err("b.toml", &text);
        assert_errors(name, &err, &wants);
    }
}

#[test]
fn several_errors_in_one_file_are_all_reported_in_file_order() {
    let text = r#"[policy]
reveal = "everything"

[lists]
office = { kind = "ip", items = ["10.0.0.0/33"] }

[[rule]]
id = "a"
when = 'pth == "/"'
action = "forbid"

[[rule]]
id = "b"
when = 'ip in $ofice'
action = "alow"

[[rule]]
id = "a"
when = 'host == 10.0.0.1 and path matches "("'
action = "forbid"
hide = "yes"
"#;
    let err = toml_err("many.toml", text);
    let wants = [
        want(
            "many.toml:2:10",
            "`everything` is not a valid reveal level",
            "none, reason, detail",
        ),
        want(
            "many.toml:5:34",
            "`/33` is not a valid prefix length",
            "CIDR per entry",
        ),
        want(
            "many.toml:9:9",
            "unknown field `pth`",
            "did you mean `path`?",
        ),
        want(
            "many.toml:14:15",
            "unknown list `$ofice`",
            "did you mean `$office`?",
        ),
        want(
            "many.toml:15:10",
            "`alow` is not a valid action",
            "did you mean `allow`?",
        ),
        want("many.toml:18:6", "duplicate rule id `a`", "many.toml:8:6"),
        want(
            "many.toml:19:9",
            "cannot compare a string with an IP address",
            "quote the address",
        ),
        want("many.toml:19:43", "invalid regex", "regex crate"),
        want(
            "many.toml:21:8",
            "`hide` must be true or false, found a string",
            "",
        ),
    ];
    // Hints are checked for those that have one.
    let rendered = err.to_string();
    for w in &wants {
        let d = err
            .diagnostics()
            .iter()
            .find(|d| {
                d.span().is_some_and(|s| err.sources().location(s) == w.at)
                    && d.message().contains(w.message)
            })
            .unwrap_or_else(|| panic!("no {} {:?} in:\n{rendered}", w.at, w.message));
        if !w.hint.is_empty() {
            assert!(
                d.hint_text().is_some_and(|h| h.contains(w.hint)),
                "{}: hint {:?}",
                w.at,
                d.hint_text()
            );
        }
    }
    assert_eq!(err.error_count(), wants.len(), "{rendered}");
    // Errors in file order (warnings, here the unused `office`, follow them).
    let lines: Vec<usize> = err
        .diagnostics()
        .iter()
        .filter(|d| d.severity() == Severity::Error)
        .filter_map(|d| d.span())
        .map(|s| {
            err.sources()
                .get(s.file)
                .map_or(0, |f| f.line_col(s.start as usize).0)
        })
        .collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{lines:?}");
}

#[test]
fn rendering_underlines_the_offending_text() {
    let err = toml_err("u.toml", &rule_when(r#"path startswith "/admin""#));
    let rendered = err.to_string();
    let expected = "\
error: unknown operator `startswith`
 --> u.toml:3:14
  |
3 | when = 'path startswith \"/admin\"'
  |              ^^^^^^^^^^
  = hint: did you mean `starts_with`?
";
    assert!(rendered.starts_with(expected), "{rendered}");
}

#[test]
fn bad_json_is_located() {
    for (name, text, at, message) in [
        (
            "missing comma",
            "{\n  \"rule\": [\n    {\"id\": \"a\" \"when\": \"true\"}\n  ]\n}\n",
            "b.json:3:16",
            "invalid JSON: expected `,` or `}`",
        ),
        (
            "trailing comma",
            "{\"rule\": [],}",
            "b.json:1:13",
            "invalid JSON: expected a string key",
        ),
        (
            "unterminated",
            "{\"rule\": [",
            "b.json:1:11",
            "invalid JSON: unexpected end of input",
        ),
        (
            "bad escape",
            "{\"a\": \"\\q\"}",
            "b.json:1:9",
            "invalid JSON: invalid escape",
        ),
        (
            "trailing text",
            "{} x",
            "b.json:1:4",
            "invalid JSON: trailing characters",
        ),
        (
            "not a table",
            "[1, 2]",
            "b.json:1:1",
            "a rule file must be a table at its top level",
        ),
    ] {
        let err = RuleSet::parse_json("b.json", text).expect_err(name);
        let hint = if name == "not a table" {
            "start with [policy]"
        } else {
            "same schema as TOML"
        };
        assert_errors(name, &err, &[want(at, message, hint)]);
    }
}

#[test]
fn json_schema_errors_are_located() {
    let text = "{\n  \"rule\": [\n    {\"id\": \"a\", \"when\": \"pth == \\\"/\\\"\", \"action\": \"allow\"},\n    {\"id\": \"b\", \"when\": \"true\", \"action\": \"nope\"}\n  ]\n}\n";
    let err = RuleSet::parse_json("s.json", text).unwrap_err();
    assert_errors(
        "json schema",
        &err,
        &[
            want("s.json:3:25", "unknown field `pth`", "did you mean `path`?"),
            want("s.json:4:43", "`nope` is not a valid action", "use one of"),
        ],
    );
}

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

#[test]
fn invalid_list_file_entries_are_located_in_the_list_file() {
    let dir = testdata().join("bad");
    let name = dir.join("lists.toml");
    let text = "[lists]\nnets = { kind = \"ip\", file = \"lists/bad-ips.txt\" }\n[[rule]]\nid = \"r\"\nwhen = 'ip in $nets'\naction = \"forbid\"\n";
    let err = RuleSet::parse(&name.to_string_lossy(), text).unwrap_err();
    let list = dir.join("lists/bad-ips.txt");
    let at = |line: usize, col: usize| format!("{}:{line}:{col}", list.display());
    let (a, b, c, d) = (at(3, 1), at(5, 1), at(6, 3), at(7, 1));
    assert_errors(
        "list file",
        &err,
        &[
            want(
                &a,
                "`/33` is not a valid prefix length for IPv4",
                "CIDR per entry",
            ),
            want(
                &b,
                "`300.1.1.1` is not a valid IP address or CIDR",
                "CIDR per entry",
            ),
            want(
                &c,
                "`/129` is not a valid prefix length for IPv6 (0 to 128)",
                "CIDR per entry",
            ),
            want(
                &d,
                "`not-an-ip` is not a valid IP address or CIDR",
                "CIDR per entry",
            ),
        ],
    );
}

#[test]
fn a_missing_list_file_is_located_at_its_key() {
    let name = testdata().join("bad").join("missing.toml");
    let text = "[lists]\nnets = { kind = \"ip\", file = \"lists/nope.txt\" }\n[[rule]]\nid = \"r\"\nwhen = 'ip in $nets'\naction = \"forbid\"\n";
    let err = RuleSet::parse(&name.to_string_lossy(), text).unwrap_err();
    let at = format!("{}:2:23", name.display());
    assert_errors(
        "missing list file",
        &err,
        &[want(
            &at,
            "the `file` of list `nets`, resolved relative to the rule file",
            "resolved relative to the rule file",
        )],
    );
}

#[test]
fn unused_lists_are_warnings_not_errors() {
    let rules = RuleSet::parse(
        "w.toml",
        "[lists]\nspare = { kind = \"string\", items = [\"a\"] }\n[[rule]]\nid = \"r\"\nwhen = 'true'\naction = \"allow\"\n",
    )
    .expect("warnings do not fail");
    let w = rules
        .warnings()
        .iter()
        .find(|w| {
            w.message()
                .contains("list `spare` is declared but never used")
        })
        .expect("an unused-list warning");
    assert_eq!(w.severity(), Severity::Warning);
    assert_eq!(rules.sources().location(w.span().unwrap()), "w.toml:2:1");
}

/// Runs `f` on a thread with a small stack: a parser that recursed once per nesting level
/// would overflow it long before reaching 100,000 levels.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("no stack overflow or panic")
}

#[test]
fn deep_nesting_is_a_depth_error_not_a_stack_overflow() {
    let n = 100_000;
    for (what, when) in [
        (
            "parentheses",
            format!("{}true{}", "(".repeat(n), ")".repeat(n)),
        ),
        ("not", format!("{}true", "not ".repeat(n))),
        ("!(", format!("{}true{}", "!(".repeat(n), ")".repeat(n))),
        ("unbalanced", "(".repeat(n)),
        // Function calls nest too: `lower(` 20,000 deep once overflowed the stack.
        (
            "lower(",
            format!(
                "{}path{} == \"x\"",
                "lower(".repeat(20_000),
                ")".repeat(20_000)
            ),
        ),
        (
            "url_decode(",
            format!("{}path{} == \"x\"", "url_decode(".repeat(n), ")".repeat(n)),
        ),
        (
            "len(",
            format!("{}path{} > 1", "len(".repeat(n), ")".repeat(n)),
        ),
        ("unclosed calls", "lower(".repeat(n)),
    ] {
        let text = rule_when(&when);
        let err = on_small_stack(move || RuleSet::parse("deep.toml", &text).err());
        let err = err.unwrap_or_else(|| panic!("{what}: accepted"));
        assert_eq!(err.error_count(), 1, "{what}");
        let d = &err.diagnostics()[0];
        assert!(
            d.message()
                .contains("condition nested deeper than 64 levels"),
            "{what}: {}",
            d.message()
        );
        assert!(
            d.hint_text()
                .is_some_and(|h| h.contains("max_expression_depth")),
            "{what}"
        );
        assert!(
            err.sources()
                .location(d.span().unwrap())
                .starts_with("deep.toml:3:"),
            "{what}"
        );
    }
    // Deep JSON and TOML documents are refused by their parsers, without overflowing.
    let json = format!("{{\"rule\": {}{}}}", "[".repeat(n), "]".repeat(n));
    let err =
        on_small_stack(move || RuleSet::parse_json("deep.json", &json).err()).expect("refused");
    assert!(
        err.to_string().contains("invalid JSON: nested too deeply"),
        "{err}"
    );
}

#[test]
fn max_expression_depth_is_a_setting() {
    let nested = |n: usize| format!("{}true{}", "(".repeat(n), ")".repeat(n));
    let text = format!(
        "[policy]\nmax_expression_depth = 200\n{}",
        rule_when(&nested(150)).replace("[[rule]]", "\n[[rule]]")
    );
    assert!(RuleSet::parse("d.toml", &text).is_ok());
    let text = format!(
        "[policy]\nmax_expression_depth = 4\n{}",
        rule_when(&nested(5))
    );
    let err = RuleSet::parse("d.toml", &text).unwrap_err();
    assert!(
        err.to_string()
            .contains("condition nested deeper than 4 levels"),
        "{err}"
    );
}

fn check_no_panic(text: &str) {
    for result in [
        RuleSet::parse("p.toml", text),
        RuleSet::parse_json("p.json", text),
    ] {
        if let Err(e) = result {
            // Rendering must not panic either, and every error must say where it is.
            let rendered = e.to_string();
            assert!(rendered.contains("error"), "{rendered}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics_the_parser(text in ".{0,200}") {
        check_no_panic(&text);
    }

    #[test]
    fn arbitrary_when_expressions_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..32)) {
        let when = broken::condition(&mut Gen::new(&bytes));
        let text = broken::rules_around(&when);
        check_no_panic(&text);
        // The same rule as JSON.
        let json = format!(
            "{{\"lists\": {{\"l\": {{\"kind\": \"string\", \"items\": [\"a\"]}}}}, \"rule\": [{{\"id\": \"r\", \"when\": {}, \"action\": \"forbid\"}}]}}",
            serde_json::to_string(&when).unwrap_or_default()
        );
        check_no_panic(&json);
    }

    #[test]
    fn arbitrary_rule_files_from_fragments_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..24)
    ) {
        check_no_panic(&broken::file(&mut Gen::new(&bytes)));
    }
}

#[test]
fn json_duplicate_keys_are_refused_not_last_wins() {
    // `"action":"forbid","action":"allow"` once ran as allow.
    let json = r#"{"rule":[{"id":"a","when":"true","action":"forbid","action":"allow"}]}"#;
    let err = RuleSet::parse_json("dup.json", json).expect_err("refused");
    let d = &err.diagnostics()[0];
    assert!(
        d.message().contains("key `action` appears twice"),
        "{}",
        d.message()
    );
    assert_eq!(err.sources().location(d.span().unwrap()), "dup.json:1:52");
    let json = r#"{"policy":{"default":"forbid"},"policy":{"default":"allow"}}"#;
    assert!(RuleSet::parse_json("dup.json", json).is_err());
}

/// A fresh directory under the system's temporary one.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("portcullis-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("rules/lists")).unwrap();
    dir
}

fn list_rules(file: &str) -> String {
    format!("[lists]\nbad = {{ kind = \"ip\", file = \"{file}\" }}\n\n[[rule]]\nid = \"r\"\nwhen = 'ip in $bad'\naction = \"forbid\"\n")
}

fn load_error(dir: &Path, opts: &portcullis_rules::LoadOptions) -> String {
    match RuleSet::load_with(&[dir.join("rules/r.toml")], opts) {
        Ok(_) => "loaded".to_string(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn list_files_outside_the_rule_tree_are_refused() {
    let dir = scratch_dir("confine");
    std::fs::write(dir.join("secret.txt"), "10.0.0.1\n").unwrap();
    std::fs::write(dir.join("rules/lists/ok.txt"), "10.0.0.1\n").unwrap();
    std::os::unix::fs::symlink(dir.join("secret.txt"), dir.join("rules/lists/link.txt")).unwrap();
    let opts = portcullis_rules::LoadOptions::default();
    for (file, want) in [
        ("../secret.txt", "outside the rule file's directory"),
        (
            "lists/../../secret.txt",
            "outside the rule file's directory",
        ),
        ("/etc/passwd", "outside the rule file's directory"),
        ("lists/link.txt", "outside the rule file's directory"),
    ] {
        std::fs::write(dir.join("rules/r.toml"), list_rules(file)).unwrap();
        let err = load_error(&dir, &opts);
        assert!(err.contains(want), "{file}: {err}");
        assert!(
            err.contains("r.toml:2:"),
            "{file}: located at the `file` value: {err}"
        );
        assert!(
            !err.contains("root:"),
            "{file}: never echoes the file: {err}"
        );
    }
    std::fs::write(dir.join("rules/r.toml"), list_rules("lists/ok.txt")).unwrap();
    assert_eq!(load_error(&dir, &opts), "loaded");
    // The embedder may allow more.
    std::fs::write(dir.join("rules/r.toml"), list_rules("../secret.txt")).unwrap();
    assert_eq!(
        load_error(&dir, &opts.clone().allow_list_root(&dir)),
        "loaded"
    );
    std::fs::write(dir.join("rules/r.toml"), list_rules("lists/link.txt")).unwrap();
    assert_eq!(load_error(&dir, &opts.allow_list_root(&dir)), "loaded");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn only_regular_files_are_read_and_every_read_is_bounded() {
    let dir = scratch_dir("special");
    // A FIFO once hung loading (and every later reload) forever.
    let fifo = dir.join("rules/lists/fifo.txt");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        std::fs::write(dir.join("rules/r.toml"), list_rules("lists/fifo.txt")).unwrap();
        let err = load_error(&dir, &portcullis_rules::LoadOptions::default());
        assert!(err.contains("is not a regular file"), "{err}");
        let err = RuleSet::load(&[&fifo]).unwrap_err().to_string();
        assert!(err.contains("is not a regular file"), "{err}");
    }
    // /dev/zero, allowed as a root, is still not read until memory runs out.
    std::fs::write(dir.join("rules/r.toml"), list_rules("/dev/zero")).unwrap();
    let opts = portcullis_rules::LoadOptions::default().allow_list_root("/dev");
    let err = load_error(&dir, &opts);
    assert!(err.contains("is not a regular file"), "{err}");
    // A file over the limit is refused.
    std::fs::write(dir.join("rules/lists/big.txt"), "10.0.0.1\n".repeat(1000)).unwrap();
    std::fs::write(dir.join("rules/r.toml"), list_rules("lists/big.txt")).unwrap();
    let opts = portcullis_rules::LoadOptions {
        max_file_bytes: 100,
        ..portcullis_rules::LoadOptions::default()
    };
    let err = load_error(&dir, &opts);
    assert!(err.contains("over the limit of 100"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn diagnostics_show_a_window_of_a_long_line_not_all_of_it() {
    // A 1 MB condition with a mistake in the middle: the rendering quotes ~120 characters
    // around the caret, marked as cut, not the whole line.
    let pad = "path == \"/a\" or ".repeat(30_000);
    let text = rule_when(&format!("{pad}pth == \"/x\" or {pad}path == \"/y\""));
    let err = toml_err("long.toml", &text);
    let rendered = err.to_string();
    assert!(
        rendered.len() < 2_000,
        "{} bytes:\n{}",
        rendered.len(),
        &rendered[..2_000.min(rendered.len())]
    );
    assert!(rendered.contains("unknown field `pth`"), "{rendered}");
    let shown = rendered
        .lines()
        .find(|l| l.starts_with("3 | "))
        .expect(&rendered);
    assert!(
        shown.starts_with("3 | …") && shown.ends_with('…'),
        "{shown}"
    );
    let caret = rendered.lines().find(|l| l.contains('^')).expect(&rendered);
    // The caret sits under `pth` in the window.
    let at = caret.chars().position(|c| c == '^').unwrap();
    let under: String = shown.chars().skip(at).take(3).collect();
    assert_eq!(under, "pth", "{shown}\n{caret}");
    // A long message (quoting a long token) is bounded too.
    let long_name = "x".repeat(100_000);
    let err = toml_err(
        "long-name.toml",
        &rule_when(&format!("{long_name} == \"a\"")),
    );
    assert!(err.to_string().len() < 2_000);
}

#[test]
fn a_list_of_garbage_reports_a_few_entries_and_counts_the_rest() {
    let items: Vec<String> = (0..500).map(|i| format!("\"not-an-ip-{i}\"")).collect();
    let text = format!(
        "[lists]\nnets = {{ kind = \"ip\", items = [{}] }}\n{}",
        items.join(", "),
        rule_when("ip in $nets")
    );
    let err = toml_err("garbage.toml", &text);
    assert_eq!(err.error_count(), 11, "{err}");
    assert!(
        err.to_string()
            .contains("list `nets` has 490 more invalid entries"),
        "{err}"
    );
}

#[test]
fn header_names_that_no_request_can_have_are_errors() {
    for name in ["x-api-key ", "x api key", "x:y", ""] {
        let err = toml_err(
            "h.toml",
            &rule_when(&format!("header[\"{name}\"] == \"k\"")),
        );
        assert_eq!(err.error_count(), 1, "{err}");
        assert!(err.to_string().contains("is not a header name"), "{err}");
        assert_eq!(
            err.sources().location(err.diagnostics()[0].span().unwrap()),
            "h.toml:3:16"
        );
    }
    let err = toml_err("p.toml", "[policy]\nrequest_id_header = \"x request id\"\n");
    assert!(err.to_string().contains("is not a header name"), "{err}");
    assert!(RuleSet::parse("ok.toml", "[policy]\nrequest_id_header = \"\"\n").is_ok());
}

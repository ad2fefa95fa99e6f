//! Broken rule files: pieces of the rule language glued at random, so most results are
//! wrong in some way. The parser's property tests (`crates/portcullis-rules/tests/
//! bad_rules.rs`) and the `parse_rules` fuzz target read them through one [`Gen`], so both
//! explore the same mistakes.

use crate::Gen;

/// Pieces of the `when` grammar.
pub const FRAGMENTS: &[&str] = &[
    "path",
    "raw_path",
    "ip",
    "method",
    "host",
    "query",
    "protocol",
    "request_line",
    "uri",
    "basename",
    "body.processor",
    "body.length",
    "user_agent",
    "auth.roles",
    "auth.subject",
    "auth.authenticated",
    "cors.preflight",
    "geo.country",
    "header[\"x\"]",
    "arg[\"a\"]",
    "cookie[\"c\"]",
    "attr[\"k\"]",
    "response.status",
    "response.header[\"x\"]",
    "response.body",
    "header[",
    "]",
    "[",
    "\"x\"",
    "\"",
    "\"\\q\"",
    "\"a\\\"b\"",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "=",
    "!",
    "and",
    "or",
    "not",
    "&&",
    "||",
    "&",
    "|",
    "(",
    ")",
    "{",
    "}",
    ",",
    "in",
    "has",
    "has_any",
    "contains",
    "starts_with",
    "ends_with",
    "matches",
    "contains_any",
    "starts_with_any",
    "ends_with_any",
    "matches_any",
    "$l",
    "$ips",
    "$",
    "$nope",
    "lower(",
    "url_decode(",
    "len(",
    "present(",
    "path_segment(",
    // Selectors and counts, right and wrong.
    "args",
    "headers[",
    "cookies[not",
    "/^a/",
    "/",
    "/(/",
    "//",
    "/a\\/",
    "count(",
    "query_args",
    "file_fields",
    "0",
    "1",
    "-1",
    "99999999999999999999",
    "10.0.0.0/8",
    "10.0.0.0/33",
    "300.1.1.1",
    "::1",
    "2001:db8::/129",
    "::ffff:1.2.3.4",
    "1.2.3",
    "true",
    "false",
    "\"(\"",
    "\"[a-\"",
    "é",
    "\u{0}",
    "\t",
    "'",
    "#",
    "\n",
];

/// Lines of a rule file, right and wrong.
pub const LINES: &[&str] = &[
    "[policy]",
    "[lists]",
    "[[rule]]",
    "[[rule]",
    "id = \"r\"",
    "id = \"r\"",
    "id = 1",
    "when = 'true'",
    "when = 'path == \"/\"'",
    "when = '('",
    "action = \"forbid\"",
    "action = \"rate_limit\"",
    "action = \"allow\"",
    "hide = true",
    "status = 401",
    "rate_limit = { limit = 1, period = \"1s\" }",
    "rate_limit = { key = [\"ip\", \"header[\\\"x\\\"]\"], limit = 0, period = \"1x\" }",
    "l = { kind = \"ip\", items = [\"10.0.0.0/8\", \"::ffff:0:0/96\", \"x\"] }",
    "l = { kind = \"regex\", items = [\"(\"] }",
    "l = { kind = \"pattern\", file = \"nope.txt\" }",
    "default = \"forbid\"",
    "reveal = \"detail\"",
    "max_expression_depth = 1",
    "priority = -9223372036854775808",
    "tags = [\"a\", 1]",
    "mode = \"shadow\"",
    "x = 1979-05-27",
    "= =",
    "\"",
    "'''",
    "",
];

/// Up to 24 [`FRAGMENTS`], space-separated.
pub fn condition(g: &mut Gen<'_>) -> String {
    let n = g.below(25);
    (0..n)
        .map(|_| g.pick(FRAGMENTS))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Up to 20 [`LINES`].
pub fn file(g: &mut Gen<'_>) -> String {
    let n = g.below(21);
    (0..n).map(|_| g.pick(LINES)).collect::<Vec<_>>().join("\n")
}

/// A rule file around a condition, with the lists it may name (`$l`, `$ips`).
#[must_use]
pub fn rules_around(when: &str) -> String {
    // A literal TOML string cannot hold `'` or a newline: use a basic string with escapes.
    let escaped: String = when
        .chars()
        .flat_map(|c| match c {
            '"' => vec!['\\', '"'],
            '\\' => vec!['\\', '\\'],
            '\n' => vec!['\\', 'n'],
            '\t' => vec!['\\', 't'],
            c if (c as u32) < 0x20 => format!("\\u{:04X}", c as u32).chars().collect(),
            c => vec![c],
        })
        .collect();
    format!(
        "[lists]\nl = {{ kind = \"string\", items = [\"a\"] }}\nips = {{ kind = \"ip\", items = [\"10.0.0.0/8\"] }}\n\n[[rule]]\nid = \"r\"\nwhen = \"{escaped}\"\naction = \"forbid\"\n"
    )
}

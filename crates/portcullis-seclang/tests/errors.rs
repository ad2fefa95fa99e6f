//! Bad inputs: each error is located (`file:line:col`), shows a caret under the offending
//! text, and usually a hint.

use std::path::PathBuf;

use portcullis_seclang::{parse_str, LoadOptions, SecLangConfig};

/// The rendered error of `text`, which must not load.
fn error(text: &str) -> String {
    match parse_str("t.conf", text) {
        Ok(_) => panic!("loaded: {text}"),
        Err(e) => e.to_string(),
    }
}

/// The caret line of the first diagnostic, without its gutter.
fn caret(rendered: &str) -> &str {
    rendered
        .lines()
        .find(|l| l.contains('^') && l.trim_start().starts_with('|'))
        .and_then(|l| l.split_once("| "))
        .map_or("", |(_, c)| c)
}

/// Asserts the first error is at `line:col`, with `width` carets, mentioning `message` and
/// (if given) hinting `hint`.
#[track_caller]
fn check(text: &str, line: usize, col: usize, width: usize, message: &str, hint: Option<&str>) {
    let shown = error(text);
    assert!(
        shown.contains(&format!("--> t.conf:{line}:{col}\n")),
        "{shown}"
    );
    assert_eq!(
        caret(&shown),
        format!("{}{}", " ".repeat(col - 1), "^".repeat(width)),
        "{shown}"
    );
    assert!(shown.contains(message), "{shown}");
    if let Some(hint) = hint {
        assert!(shown.contains(&format!("= hint: {hint}")), "{shown}");
    }
}

#[test]
fn unbalanced_quotes() {
    check(
        "SecRule ARGS \"@rx abc\n",
        1,
        14,
        8,
        "unterminated quoted argument",
        None,
    );
    check(
        "SecRule ARGS \"@rx a\"b \"id:1\"\n",
        1,
        21,
        1,
        "expected a blank after the closing quote",
        None,
    );
}

#[test]
fn bad_escapes() {
    // `\'` escapes the closing quote, so the value never ends.
    check(
        "SecAction \"id:1,msg:'it\\'s\\'\"\n",
        1,
        21,
        8,
        "unterminated quoted action value",
        Some("close it with `'`"),
    );
    check(
        "SecAction \"id:1\" \\",
        1,
        18,
        1,
        "line continuation `\\` at the end of the file",
        None,
    );
}

#[test]
fn unknown_names_have_hints() {
    check(
        "SecRul ARGS \"x\" \"id:1\"\n",
        1,
        1,
        6,
        "unknown directive `SecRul`",
        Some("did you mean `SecRule`?"),
    );
    check(
        "SecRule ARGS|ARGZ \"x\" \"id:1\"\n",
        1,
        14,
        4,
        "unknown variable `ARGZ`",
        Some("did you mean `ARGS`?"),
    );
    check(
        "SecRule ARGS \"@rxx a\" \"id:1\"\n",
        1,
        15,
        4,
        "unknown operator `@rxx`",
        Some("did you mean `rx`?"),
    );
    check(
        "SecRule ARGS \"x\" \"id:1,msgg:'a'\"\n",
        1,
        24,
        4,
        "unknown action `msgg`",
        Some("did you mean `msg`?"),
    );
    check(
        "SecRule ARGS \"x\" \"id:1,t:lowercas\"\n",
        1,
        26,
        8,
        "unknown transformation `lowercas`",
        Some("did you mean `lowercase`?"),
    );
    check(
        "SecRule ARGS \"x\" \"id:1,ctl:ruleRemoveByTg=a\"\n",
        1,
        28,
        14,
        "unknown or unsupported ctl option",
        Some("did you mean `ruleRemoveByTag`?"),
    );
    check(
        "SecRule ARGS \"x\" \"id:1,setvar:'tx.a=%{TXX.b}'\"\n",
        1,
        37,
        8,
        "unknown variable `TXX` in macro",
        Some("did you mean `TX`?"),
    );
}

#[test]
fn bad_values_point_at_the_value() {
    check(
        "SecRule ARGS \"x\" \"id:1,phase:9\"\n",
        1,
        30,
        1,
        "`9` is not a phase",
        None,
    );
    check(
        "SecRule ARGS \"x\" \"id:abc\"\n",
        1,
        22,
        3,
        "`abc` is not a rule id",
        None,
    );
    check(
        "SecRule ARGS \"x\" \"id:1,deny,status:xyz\"\n",
        1,
        36,
        3,
        "`xyz` is not an HTTP status",
        None,
    );
    check(
        "SecRule ARGS \"@validateByteRange 1-300,9\" \"id:1\"\n",
        1,
        34,
        5,
        "`1-300` is not a byte",
        None,
    );
    check(
        "SecRule REMOTE_ADDR \"@ipMatch 10.0.0.0/33\" \"id:1\"\n",
        1,
        31,
        11,
        "prefix length",
        None,
    );
    check(
        "SecRuleEngine Sometimes\n",
        1,
        15,
        9,
        "not a rule engine mode",
        None,
    );
    check(
        "SecRequestBodyLimit 13mb\n",
        1,
        21,
        4,
        "not a whole number",
        None,
    );
}

#[test]
fn unsupported_features_say_why() {
    check(
        "SecRule ARGS \"@rsub s/a/b/\" \"id:1\"\n",
        1,
        15,
        5,
        "operator `@rsub` is not supported",
        None,
    );
    check(
        "SecRule ARGS \"x\" \"id:1,exec:/bin/true\"\n",
        1,
        24,
        14,
        "action `exec` is not supported",
        None,
    );
    check(
        "SecRuleScript /x.lua\n",
        1,
        1,
        13,
        "directive `SecRuleScript` is not supported",
        None,
    );
}

#[test]
fn chain_without_next_rule() {
    check(
        "SecRule ARGS \"x\" \"id:1,chain\"\n",
        1,
        24,
        5,
        "`chain` without a next rule",
        Some("a rule with `chain` must be followed by a `SecRule`"),
    );
    check(
        "SecRule ARGS \"x\" \"id:1,chain\"\nSecMarker END\n",
        1,
        24,
        5,
        "`chain` without a next rule",
        Some("the directive after a rule with `chain` must be a `SecRule`"),
    );
    check(
        "SecRule ARGS \"x\" \"id:1,chain\"\n  SecRule ARGS \"y\" \"id:2\"\n",
        2,
        21,
        4,
        "only the first rule of a chain",
        None,
    );
}

#[test]
fn duplicate_ids_and_unknown_markers() {
    check(
        "SecAction \"id:7,pass\"\nSecAction \"id:7,pass\"\n",
        2,
        12,
        4,
        "duplicate rule id 7",
        None,
    );
    check(
        "SecAction \"id:1,pass,skipAfter:END-HOST\"\nSecMarker END-HOTS\n",
        1,
        22,
        18,
        "no `SecMarker END-HOST`",
        Some("did you mean `END-HOTS`?"),
    );
    check(
        "SecMarker END\nSecAction \"id:1,pass,skipAfter:END\"\n",
        2,
        22,
        13,
        "the marker comes before this rule",
        None,
    );
    check(
        "SecRule ARGS \"x\" \"phase:2,pass\"\n",
        1,
        1,
        31,
        "rule has no id",
        None,
    );
}

#[test]
fn default_actions() {
    check(
        "SecDefaultAction \"phase:2,pass\"\nSecDefaultAction \"phase:2,deny\"\n",
        2,
        1,
        31,
        "a second `SecDefaultAction` for phase 2",
        None,
    );
    check(
        "SecDefaultAction \"log,pass\"\n",
        1,
        1,
        27,
        "without a phase",
        None,
    );
    check(
        "SecDefaultAction \"phase:1,id:5,pass\"\n",
        1,
        27,
        4,
        "cannot be a default action",
        None,
    );
}

#[test]
fn huge_lines() {
    let opts = LoadOptions {
        max_line_bytes: 64,
        ..LoadOptions::default()
    };
    let text = format!("SecRule ARGS \"@rx {}\" \"id:1\"\n", "a".repeat(100));
    let e = SecLangConfig::parse_str_with("t.conf", &text, &opts)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("--> t.conf:1:1\n") && e.contains("more than the limit of 64"),
        "{e}"
    );
    // Past the default limit (1 MiB), continuation lines joined: the rendering shows only a
    // window of the line.
    let long = format!(
        "SecRule ARGS \\\n\"@rx {}\" \"id:1\"\n",
        "b".repeat(2 << 20)
    );
    let e = parse_str("t.conf", &long).unwrap_err().to_string();
    assert!(
        e.contains("more than the limit of 1048576") && e.len() < 2000,
        "{}",
        &e[..e.len().min(2000)]
    );
}

#[test]
fn every_error_is_reported() {
    let e = parse_str(
        "t.conf",
        "SecRule ARGZ \"x\" \"id:1\"\nSecRule ARGS \"@foo\" \"id:2\"\nSecRule ARGS \"x\" \"id:3,phase:0\"\n",
    )
    .unwrap_err();
    assert_eq!(e.error_count(), 3, "{e}");
}

/// A fresh directory under the system's temporary one.
fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("portcullis-seclang-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn include_loops_and_globs() {
    let dir = scratch("include");
    std::fs::write(dir.join("a.conf"), "Include b.conf\n").unwrap();
    std::fs::write(
        dir.join("b.conf"),
        "SecAction \"id:1,pass\"\nInclude a.conf\n",
    )
    .unwrap();
    let e = portcullis_seclang::load(&[dir.join("a.conf")], &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("b.conf:2:9\n") && e.contains("`Include` loop"),
        "{e}"
    );
    assert!(e.contains("  |         ^^^^^^\n"), "{e}");

    let sub = dir.join("rules");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(sub.join("x-2.conf"), "SecAction \"id:2,pass\"\n").unwrap();
    std::fs::write(sub.join("x-1.conf"), "SecAction \"id:1,pass\"\n").unwrap();
    std::fs::write(sub.join("x-3.conf.example"), "SecAction \"id:3,pass\"\n").unwrap();
    std::fs::write(dir.join("main.conf"), "Include rules/x-*.conf\n").unwrap();
    let rules =
        portcullis_seclang::load(&[dir.join("main.conf")], &LoadOptions::default()).unwrap();
    let ids: Vec<u32> = rules.rules().map(|r| r.id).collect();
    assert_eq!(ids, [1, 2]);

    std::fs::write(dir.join("deep.conf"), "Include deep.conf\n").unwrap();
    let e = portcullis_seclang::load(&[dir.join("deep.conf")], &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("`Include` loop"), "{e}");
    let opts = LoadOptions {
        max_include_depth: 2,
        ..LoadOptions::default()
    };
    std::fs::write(dir.join("d1.conf"), "Include d2.conf\n").unwrap();
    std::fs::write(dir.join("d2.conf"), "Include d3.conf\n").unwrap();
    std::fs::write(dir.join("d3.conf"), "SecAction \"id:1,pass\"\n").unwrap();
    let e = portcullis_seclang::load(&[dir.join("d1.conf")], &opts)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("d2.conf:1:9") && e.contains("nested more than 2 deep"),
        "{e}"
    );
    let e = portcullis_seclang::load(&[dir.join("nope.conf")], &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot read"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn data_files() {
    let dir = scratch("data");
    std::fs::write(dir.join("words.data"), "# a comment\n\nfoo\n  bar baz\n").unwrap();
    std::fs::write(
        dir.join("r.conf"),
        "SecRule ARGS \"@pmFromFile words.data\" \"id:1,pass\"\nSecRule ARGS \"@pmf missing.data\" \"id:2,pass\"\n",
    )
    .unwrap();
    let e = portcullis_seclang::load(&[dir.join("r.conf")], &LoadOptions::default()).unwrap_err();
    assert_eq!(e.error_count(), 1, "{e}");
    let shown = e.to_string();
    assert!(
        shown.contains("r.conf:2:20\n") && shown.contains("cannot read data file"),
        "{shown}"
    );
    assert!(
        shown.contains("  |                    ^^^^^^^^^^^^\n"),
        "{shown}"
    );

    std::fs::write(
        dir.join("r.conf"),
        "SecRule ARGS \"@pmFromFile words.data\" \"id:1,pass\"\n",
    )
    .unwrap();
    let rules = portcullis_seclang::load(&[dir.join("r.conf")], &LoadOptions::default()).unwrap();
    let rule = rules.rules().next().unwrap();
    let portcullis_seclang::OperatorKind::PmFromFile(files) = &rule.links[0].operator.kind else {
        panic!("{:?}", rule.links[0].operator)
    };
    assert_eq!(
        &*files[0].lines,
        ["foo".to_string(), "  bar baz".to_string()]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

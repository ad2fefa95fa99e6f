//! `portcullis test`: the starter pack's own tests, failure reports, JSON output.

mod common;

use common::portcullis;

use std::path::PathBuf;

/// A rule pack in a fresh temp dir: `rules.toml` and `tests/t.toml`.
fn pack(name: &str, rules: &str, tests: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("portcullis-test-cmd-{}-{name}", std::process::id()));
    std::fs::create_dir_all(dir.join("tests")).expect("temp dir");
    std::fs::write(dir.join("rules.toml"), rules).expect("write rules");
    std::fs::write(dir.join("tests/t.toml"), tests).expect("write tests");
    dir
}

const RULES: &str =
    "[[rule]]\nid = \"admin\"\nwhen = 'path starts_with \"/admin\"'\naction = \"forbid\"\n";

#[test]
fn the_starter_pack_passes_its_tests() {
    let out = portcullis(&["test", "rules/"], None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = stdout.lines().last().unwrap_or("");
    assert!(summary.ends_with("passed, 0 failed"), "{summary}");
    let passed: usize = summary
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(passed >= 30, "{summary}");
}

#[test]
fn a_failing_test_shows_expected_against_actual_and_exits_1() {
    let dir = pack(
        "fail",
        RULES,
        "[[test]]\nname = \"admin is refused\"\nrequest = { uri = \"/admin/x\" }\nexpect = { verdict = \"allow\", status = 200 }\n\n[[test]]\nname = \"home passes\"\nrequest = { uri = \"/\" }\nexpect = { verdict = \"allow\" }\n",
    );
    let out = portcullis(&["test", dir.to_str().expect("utf-8 path")], None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("admin is refused ... FAILED"), "{stdout}");
    assert!(stdout.contains("home passes ... ok"), "{stdout}");
    assert!(
        stdout.contains("allow") && stdout.contains("forbid"),
        "the diff names both verdicts: {stdout}"
    );
    assert!(stdout.contains("1 passed, 1 failed"), "{stdout}");
}

#[test]
fn json_format_is_machine_readable() {
    let dir = pack(
        "json",
        RULES,
        "[[test]]\nname = \"admin\"\nrequest = { uri = \"/admin/x\" }\nexpect = { verdict = \"forbid\", status = 403, rule = \"admin\" }\n",
    );
    let out = portcullis(
        &[
            "test",
            dir.to_str().expect("utf-8 path"),
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    let parsed: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(!parsed.is_empty(), "{text}");
}

#[test]
fn a_malformed_test_file_is_reported_with_its_location() {
    let dir = pack("bad", RULES, "[[test]]\nname = \"x\"\nrequest = { uri = \"/\" }\nexpect = { verdict = \"allow\", colour = \"red\" }\n");
    let out = portcullis(&["test", dir.to_str().expect("utf-8 path")], None);
    assert_eq!(out.status.code(), Some(1));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("line 4, column 31"), "{report}");
    assert!(report.contains("unknown field `colour`"), "{report}");
}

#[test]
fn a_pack_without_tests_is_an_error() {
    let dir = std::env::temp_dir().join(format!("portcullis-test-cmd-{}-none", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("rules.toml"), RULES).expect("write rules");
    let out = portcullis(&["test", dir.to_str().expect("utf-8 path")], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no tests found"));
}

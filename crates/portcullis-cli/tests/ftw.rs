//! `portcullis ftw`: go-ftw regression tests against a portcullis rule file, end to end.

mod common;

use common::portcullis;

use std::path::PathBuf;

/// A rule file and a go-ftw test directory in a fresh temp dir.
fn setup(name: &str, tests: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("portcullis-ftw-cmd-{}-{name}", std::process::id()));
    std::fs::create_dir_all(dir.join("tests/REQUEST-900")).expect("temp dir");
    std::fs::write(dir.join("rules.toml"), RULES).expect("write rules");
    std::fs::write(dir.join("tests/REQUEST-900/900100.yaml"), tests).expect("write tests");
    dir
}

const RULES: &str = "[[rule]]\nid = \"900100\"\nwhen = 'query contains \"attack\"'\naction = \"log\"\n\n[[rule]]\nid = \"900200\"\nwhen = 'path starts_with \"/admin\"'\naction = \"forbid\"\n";

const PASSING: &str = r#"
meta: { author: test }
rule_id: 900100
tests:
  - test_id: 1
    stages:
      - input: { uri: "/?q=attack", headers: { Host: localhost } }
        output: { log: { expect_ids: [900100], no_expect_ids: [900200] } }
  - test_id: 2
    stages:
      - input: { uri: "/?q=fine", headers: { Host: localhost } }
        output: { log: { no_expect_ids: [900100] } }
      - input: { uri: "/admin", headers: { Host: localhost } }
        output: { status: 403, log: { expect_ids: [900200] } }
  - test_id: 3
    stages:
      - input: { encoded_request: "R0VUIC9hIGIgSFRUUC8xLjENCg0K" }
        output: { log: { expect_ids: [900100] } }
"#;

fn run(dir: &std::path::Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let tests = dir.join("tests");
    let rules = dir.join("rules.toml");
    let mut args = vec!["ftw", tests.to_str().unwrap(), rules.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = portcullis(&args, None);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn passing_tests_exit_0_with_a_summary() {
    let dir = setup("pass", PASSING);
    let (code, stdout, stderr) = run(&dir, &[]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    // The raw request's line has a space in its target: skipped with the reason.
    assert!(
        stdout.contains("test 900100-3 ... skipped (raw: not representable: request line"),
        "{stdout}"
    );
    assert_eq!(
        stdout.lines().last(),
        Some("2 passed, 0 failed, 1 skipped"),
        "{stdout}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_failing_test_exits_1_and_names_what_failed() {
    let failing = PASSING.replace("no_expect_ids: [900100] }", "expect_ids: [900100] }");
    let dir = setup("fail", &failing);
    let (code, stdout, stderr) = run(&dir, &[]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("test 900100-2 ... FAILED (stage 1: expected rule 900100 to match, it did not; matched: none)"),
        "{stdout}"
    );
    assert_eq!(
        stdout.lines().last(),
        Some("1 passed, 1 failed, 1 skipped"),
        "{stdout}"
    );

    // Overridden, the failure is reported and not counted.
    let overrides = dir.join("overrides.yaml");
    std::fs::write(
        &overrides,
        "version: v0\nmeta: { engine: portcullis, platform: test }\ntest_overrides:\n  - rule_id: 900100\n    test_ids: [2]\n    reason: known\n",
    )
    .unwrap();
    let (code, stdout, _) = run(&dir, &["--overrides", overrides.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("1 overridden"), "{stdout}");

    // Filtered, and as JSON.
    let (code, stdout, _) = run(&dir, &["--include", "900100-1$", "--format", "json"]);
    assert_eq!(code, Some(0), "{stdout}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(doc["passed"], 1);
    assert_eq!(doc["filtered_out"], 2);
    assert_eq!(doc["tests"][0]["id"], "900100-1");
    assert_eq!(doc["tests"][0]["outcome"], "passed");
    let (code, stdout, _) = run(&dir, &["--exclude", "900100-[13]$", "--format", "json"]);
    assert_eq!(code, Some(1), "{stdout}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(doc["tests"][0]["outcome"], "failed");
    assert_eq!(doc["tests"][0]["stage"], 1);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_yaml_is_named_and_fails() {
    let dir = setup("bad", "rule_id: 900100\ntests: [\n");
    let (code, stdout, stderr) = run(&dir, &[]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("error: ") && stdout.contains("900100.yaml:"),
        "{stdout}"
    );
    assert_eq!(
        stdout.lines().last(),
        Some("0 passed, 1 failed, 0 skipped"),
        "{stdout}"
    );
    // A regex that does not compile is a usage error.
    let (code, _, stderr) = run(&dir, &["--include", "("]);
    assert_eq!(code, Some(2), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}

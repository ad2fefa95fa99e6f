//! Loading rule files and directories.

use std::path::PathBuf;

use portcullis_rules::{Default, RuleSet};

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

#[test]
fn a_directory_loads_its_toml_and_json_files_in_name_order() {
    let rules = RuleSet::load(&[testdata().join("ruleset-dir")]).expect("loads");
    // Priority first, then file order (file name order, then order in the file); README.txt
    // and the subdirectory are not read; a list declared in one file serves another.
    let ids: Vec<&str> = rules.rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["json-priority", "json-first", "office"]);
    assert_eq!(rules.settings.default, Default::Forbid);
    assert_eq!(rules.lists.len(), 1);
}

#[test]
fn files_given_one_by_one_load_in_the_order_given() {
    let dir = testdata().join("ruleset-dir");
    let rules = RuleSet::load(&[
        dir.join("20-more.toml"),
        dir.join("10-rules.json"),
        dir.join("00-policy.toml"),
    ])
    .expect("loads");
    let ids: Vec<&str> = rules.rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["json-priority", "office", "json-first"]);
}

#[test]
fn policy_may_be_declared_once_per_rule_set() {
    let bad = testdata().join("bad");
    let err = RuleSet::load(&[bad.join("policy-a.toml"), bad.join("policy-b.toml")]).unwrap_err();
    let text = err.to_string();
    assert_eq!(err.error_count(), 1, "{text}");
    assert!(
        text.contains("error: [policy] is declared more than once"),
        "{text}"
    );
    assert!(
        text.contains(&format!("--> {}:1:2", bad.join("policy-b.toml").display())),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "hint: the first one is at {}:1:2",
            bad.join("policy-a.toml").display()
        )),
        "{text}"
    );
}

#[test]
fn missing_paths_and_empty_directories_are_errors() {
    let err = RuleSet::load(&[testdata().join("no-such-dir")]).unwrap_err();
    assert!(err.to_string().contains("cannot read"), "{err}");
    let err = RuleSet::load(&[testdata().join("lists")]).unwrap_err();
    assert!(
        err.to_string()
            .contains("holds no *.toml or *.json rule files"),
        "{err}"
    );
}

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

#[test]
fn load_options_bound_json_nesting_regex_nesting_and_the_lint_look_back() {
    use portcullis_rules::LoadOptions;
    let dir = std::env::temp_dir().join(format!("portcullis-load-options-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let json = dir.join("deep.json");
    // 10 nested arrays inside a rule's `id`: fine by default, refused at depth 4.
    let deep = format!(
        "{{\"rule\": [{{\"id\": {}1{}}}]}}",
        "[".repeat(10),
        "]".repeat(10)
    );
    std::fs::write(&json, deep).expect("write");
    let shallow = LoadOptions {
        max_json_depth: 4,
        ..LoadOptions::default()
    };
    let err = RuleSet::load_with(&[&json], &shallow)
        .expect_err("too deep")
        .to_string();
    assert!(err.contains("nested too deeply"), "{err}");
    let err = RuleSet::load(&[&json])
        .expect_err("not a string id")
        .to_string();
    assert!(!err.contains("nested too deeply"), "{err}");

    let regex = "[[rule]]\nid = \"r\"\nwhen = 'path matches \"((((a))))\"'\naction = \"forbid\"\n";
    assert!(RuleSet::parse("r.toml", regex).is_ok());
    let strict = LoadOptions {
        max_regex_nesting: 2,
        ..LoadOptions::default()
    };
    let err = RuleSet::parse_with("r.toml", regex, &strict)
        .expect_err("nested")
        .to_string();
    assert!(err.contains("nest"), "{err}");

    // The second rule is shadowed by the first: found by default, not with no look-back.
    let shadowed =
        "[[rule]]\nid = \"a\"\nwhen = 'path starts_with \"/x\"'\naction = \"forbid\"\n\n\
                    [[rule]]\nid = \"b\"\nwhen = 'path starts_with \"/x/y\"'\naction = \"allow\"\n";
    let lints = |opts: &LoadOptions| {
        RuleSet::parse_with("s.toml", shadowed, opts)
            .expect("loads")
            .warnings()
            .len()
    };
    assert_eq!(lints(&LoadOptions::default()), 1);
    let blind = LoadOptions {
        lint_lookback: 0,
        ..LoadOptions::default()
    };
    assert_eq!(lints(&blind), 0);
    std::fs::remove_dir_all(&dir).ok();
}

//! Each lint fires where it should, located on the rule it is about, and stays quiet on the
//! starter pack.

use std::path::Path;

use portcullis_rules::{RuleSet, Severity};

/// The rendered warnings of a rule file that must load.
fn warnings(text: &str) -> Vec<String> {
    let rules = RuleSet::parse("lint.toml", text).unwrap_or_else(|e| panic!("{e}"));
    rules
        .warnings()
        .iter()
        .inspect(|w| assert_eq!(w.severity(), Severity::Warning))
        .map(|w| w.render(rules.sources()))
        .collect()
}

fn rule(id: &str, when: &str, action: &str) -> String {
    format!("[[rule]]\nid = \"{id}\"\nwhen = '{when}'\naction = \"{action}\"\n\n")
}

#[test]
fn broader_earlier_rule_shadows_a_later_one() {
    let w = warnings(
        &(rule("admin", "path starts_with \"/admin\"", "forbid")
            + &rule(
                "admin-users",
                "path starts_with \"/admin/users\" and method == \"GET\"",
                "forbid",
            )),
    );
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("rule `admin-users` can never decide"),
        "{}",
        w[0]
    );
    assert!(w[0].contains("lint.toml:7:6"), "{}", w[0]);
    assert!(w[0].contains("hint:"), "{}", w[0]);
}

#[test]
fn identical_conditions_shadow_and_narrower_ones_do_not() {
    let same = warnings(
        &(rule("a", "ip in {10.0.0.0/8}", "allow") + &rule("b", "ip in {10.1.0.0/16}", "forbid")),
    );
    assert!(
        same.iter().any(|w| w.contains("rule `b` can never decide")),
        "{same:?}"
    );
    let narrower_first = warnings(
        &(rule("a", "path starts_with \"/a/b\"", "forbid")
            + &rule("b", "path starts_with \"/a\"", "forbid")),
    );
    assert!(narrower_first.is_empty(), "{narrower_first:?}");
    // A log rule decides nothing, so it shadows nothing.
    let log_first = warnings(
        &(rule("a", "path starts_with \"/a\"", "log")
            + &rule("b", "path starts_with \"/a/b\"", "forbid")),
    );
    assert!(log_first.is_empty(), "{log_first:?}");
}

#[test]
fn unconditional_allow_switches_off_later_rules() {
    let w =
        warnings(&(rule("all", "true", "allow") + &rule("later", "method == \"POST\"", "forbid")));
    assert!(
        w.iter()
            .any(|w| w.contains("rule `all` allows every request") && w.contains("`later`")),
        "{w:?}"
    );
}

#[test]
fn allow_on_client_controlled_fields_is_flagged() {
    let w = warnings(
        &(rule("debug", "header[\"x-debug\"] == \"1\"", "allow")
            + &rule("later", "path starts_with \"/a\"", "forbid")),
    );
    assert!(
        w.iter()
            .any(|w| w.contains("allow rule `debug` reads only header")),
        "{w:?}"
    );
    // An allow on the client address is the operator's own decision: no warning.
    let ip = warnings(
        &(rule("office", "ip in {203.0.113.0/24}", "allow")
            + &rule("later", "path starts_with \"/a\"", "forbid")),
    );
    assert!(ip.is_empty(), "{ip:?}");
}

#[test]
fn identity_rules_that_would_refuse_preflights_without_the_exemption() {
    let body = rule(
        "login",
        "path starts_with \"/api\" and not auth.authenticated",
        "forbid",
    );
    assert!(warnings(&body).is_empty());
    let w = warnings(&format!("[policy]\npreflight_exempt = false\n\n{body}"));
    assert!(
        w.iter().any(|w| w.contains("would refuse CORS preflights")),
        "{w:?}"
    );
}

#[test]
fn literal_regexes_suggest_the_plain_operator() {
    let w = warnings(
        &(rule("a", "user_agent matches \"curl\"", "log")
            + &rule("b", "path matches \"^/api/\"", "log")
            + &rule("c", "path matches \"\\\\.php$\"", "log")
            + &rule("d", "path matches \"^/a[0-9]\"", "log")),
    );
    assert!(
        w.iter().any(|w| w.contains("`contains` says the same")),
        "{w:?}"
    );
    assert!(w.iter().any(|w| w.contains("`starts_with`")), "{w:?}");
    assert!(w.iter().any(|w| w.contains("`ends_with`")), "{w:?}");
    assert_eq!(w.len(), 3, "a real regex is not flagged: {w:?}");
}

#[test]
fn hide_without_identity_or_path_has_no_effect() {
    let w = warnings("[[rule]]\nid = \"ua\"\nwhen = 'user_agent contains \"x\"'\naction = \"forbid\"\nhide = true\n");
    assert!(
        w.iter().any(|w| w.contains("`hide = true` has no effect")),
        "{w:?}"
    );
    let on_path = warnings("[[rule]]\nid = \"p\"\nwhen = 'path starts_with \"/x\"'\naction = \"forbid\"\nhide = true\n");
    assert!(on_path.is_empty(), "{on_path:?}");
}

#[test]
fn the_starter_pack_is_lint_free() {
    let pack = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let rules = RuleSet::load(&[pack]).unwrap_or_else(|e| panic!("{e}"));
    let w: Vec<String> = rules
        .warnings()
        .iter()
        .map(|w| w.render(rules.sources()))
        .collect();
    assert!(w.is_empty(), "{w:?}");
}

#[test]
fn linting_ten_thousand_rules_stays_linear() {
    // Not a timing assertion: the lookback bound caps the work, so this finishes quickly
    // even in a debug build, and still finds the nearby shadowed rule.
    let mut text = String::new();
    for i in 0..5000 {
        text += &rule(
            &format!("r{i}"),
            &format!("path starts_with \"/p{i}/\""),
            "forbid",
        );
    }
    text += &rule("shadowed", "path starts_with \"/p4999/x\"", "forbid");
    let w = warnings(&text);
    assert!(
        w.iter()
            .any(|w| w.contains("rule `shadowed` can never decide")),
        "{}",
        w.len()
    );
}

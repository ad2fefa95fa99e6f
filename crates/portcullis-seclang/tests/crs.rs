//! All of OWASP CRS v4 (at `../shared/crs/`, never copied into the repository) parses and
//! resolves with no error, and its totals are the ones the CRS README states.

use std::path::{Path, PathBuf};
use std::time::Instant;

use portcullis_seclang::{
    load, ActionKind, DirectiveKind, EngineMode, Item, LoadOptions, OperatorKind, Phase,
    SecLangConfig,
};

fn crs() -> PathBuf {
    std::env::var_os("PORTCULLIS_CRS_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/crs"),
        PathBuf::from,
    )
}

/// Whether CRS is there to test against. A checkout without `shared/` beside it skips
/// these tests, loudly; CI (`CI` set), which always has it, fails instead.
fn have_crs() -> bool {
    if crs().join("rules").is_dir() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CRS not found at {} (set PORTCULLIS_CRS_DIR)",
        crs().display()
    );
    eprintln!(
        "*** SKIPPED: CRS not found at {} (set PORTCULLIS_CRS_DIR) ***",
        crs().display()
    );
    false
}

/// The setup example first (as users include `crs-setup.conf` before the rules), then
/// every rule file, sorted.
fn crs_paths() -> Vec<PathBuf> {
    vec![crs().join("crs-setup.conf.example"), crs().join("rules")]
}

#[test]
fn every_crs_file_parses_with_the_readme_totals() {
    if !have_crs() {
        return;
    }
    let start = Instant::now();
    let config = SecLangConfig::load(&crs_paths(), &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let parsed = start.elapsed();
    let count = |f: fn(&DirectiveKind) -> bool, from_rules: bool| {
        config
            .directives
            .iter()
            .filter(|d| f(&d.kind))
            .filter(|d| {
                !from_rules
                    || config
                        .sources
                        .get(d.span.file)
                        .is_some_and(|s| s.path.starts_with(crs().join("rules")))
            })
            .count()
    };
    let secrules = count(|k| matches!(k, DirectiveKind::Rule(_)), true);
    let secactions = count(|k| matches!(k, DirectiveKind::Action(_)), true);
    // The README: "695 `SecRule` + 7 `SecAction`" in `rules/*.conf`; the setup example adds
    // one SecAction (900990, the setup version) and the five SecDefaultActions.
    assert_eq!((secrules, secactions), (695, 7));
    assert_eq!(count(|k| matches!(k, DirectiveKind::Action(_)), false), 8);
    assert_eq!(
        count(|k| matches!(k, DirectiveKind::DefaultAction(_)), false),
        5
    );
    assert_eq!(count(|k| matches!(k, DirectiveKind::Marker(_)), false), 30);
    assert_eq!(
        count(
            |k| matches!(k, DirectiveKind::RuleUpdateTargetById { .. }),
            false
        ),
        55
    );

    let directives = count(|_| true, false);
    let start = Instant::now();
    let rules = config.resolve().unwrap_or_else(|e| panic!("{e}"));
    let resolved = start.elapsed();
    let all: Vec<_> = rules.rules().collect();
    // 695 SecRules, 73 of them chained to the one before, plus 8 SecActions: 630 rules,
    // the README's 629 ids and the setup's 900990.
    let chained = all.iter().filter(|r| r.links.len() > 1).count();
    let links: usize = all.iter().map(|r| r.links.len()).sum();
    assert_eq!(links, 695);
    assert_eq!(all.len(), 695 - 73 + 8);
    assert_eq!(
        links - all.iter().filter(|r| !r.links.is_empty()).count(),
        73
    );
    assert!(chained > 0);
    // The README: 629 rule ids in the rule files (the setup adds 900990).
    assert_eq!(all.iter().filter(|r| r.id != 900_990).count(), 629);
    assert_eq!(
        rules
            .items
            .iter()
            .filter(|i| matches!(i, Item::Marker(_)))
            .count(),
        30
    );
    assert!(rules.warnings.is_empty(), "{:?}", rules.warnings);
    assert_eq!(rules.settings.rule_engine, None::<EngineMode>);
    // Every rule got CRS's defaults: `block` is `pass`, and `log,auditlog` came along.
    assert!(all
        .iter()
        .all(|r| r.disruptive.kind == ActionKind::Pass || r.disruptive.kind == ActionKind::Deny));
    let r = all
        .iter()
        .find(|r| r.id == 942_100)
        .unwrap_or_else(|| panic!("942100"));
    assert_eq!(r.phase, Phase::RequestBody);
    assert!(matches!(r.links[0].operator.kind, OperatorKind::DetectSqli));
    assert!(r.actions.iter().any(|a| a.kind == ActionKind::AuditLog));
    // REQUEST-999's updates landed on rules defined before them.
    let r = all
        .iter()
        .find(|r| r.id == 932_240)
        .unwrap_or_else(|| panic!("932240"));
    assert!(r.links[0].variables.iter().any(|v| v.exclude));
    println!(
        "CRS: {} directives parsed in {parsed:?}, {} rules resolved in {resolved:?}",
        directives,
        all.len()
    );
}

#[test]
fn crs_loads_in_one_call() {
    if !have_crs() {
        return;
    }
    let rules = load(&crs_paths(), &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(rules.rules().count() > 500);
}

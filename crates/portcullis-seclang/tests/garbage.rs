//! Garbage never panics: random text over SecLang's own vocabulary and punctuation either
//! loads or fails with errors that render.

use proptest::prelude::*;

const PIECES: &[&str] = &[
    "SecRule ",
    "SecAction ",
    "SecMarker ",
    "SecDefaultAction ",
    "SecRuleRemoveById ",
    "SecRuleUpdateTargetById ",
    "SecRuleUpdateActionById ",
    "Include ",
    "SecRuleEngine On",
    "ARGS",
    "REQUEST_HEADERS:",
    "!",
    "&",
    "|",
    ":",
    "'",
    "\"",
    "\\",
    "\\\n",
    "\n",
    " ",
    "#",
    "/",
    "@rx ",
    "@pm ",
    "@validateByteRange ",
    "@ipMatch ",
    "@pmFromFile ",
    "@eq ",
    "!@",
    "id:",
    "1",
    "2",
    "-",
    ",",
    "phase:",
    "chain",
    "skipAfter:",
    "setvar:",
    "tx.",
    "=",
    "+",
    "%{",
    "}",
    "t:",
    "ctl:",
    "ruleRemoveTargetById=",
    ";",
    "msg:",
    "block",
    "é",
    "\r",
    "XML:/*",
    "255",
    "10.0.0.0/8",
    "*.conf",
];

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..60).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn never_panics(text in text()) {
        match portcullis_seclang::parse_str("/nonexistent/fuzz.conf", &text) {
            Ok(rules) => {
                for w in &rules.warnings {
                    let _ = w.render(&rules.sources);
                }
            }
            Err(e) => {
                prop_assert!(e.error_count() > 0);
                let _ = e.to_string();
            }
        }
    }

    #[test]
    fn arbitrary_strings_never_panic(text in ".{0,200}") {
        let _ = portcullis_seclang::parse_str("/nonexistent/fuzz.conf", &text).map_err(|e| e.to_string());
    }
}

/// Inputs that once broke something, or could: kept as regressions.
#[test]
fn edge_cases() {
    for text in [
        "",
        "\\",
        "\"",
        "SecRule",
        "SecRule \"",
        "SecRule ARGS \"@rx\"",
        "SecRule : : :",
        "SecRule ARGS|",
        "SecRule ARGS:/ x \"id:1\"",
        "SecRule ARGS \"@ipMatch \" \"id:1\"",
        "SecAction \"id:1,msg:'\\\"",
        "SecAction \"id:1,setvar:!tx.=1\"",
        "SecAction \"id:1,setvar:tx\"",
        "SecAction \"id:1,ctl:=\"",
        "SecAction \"id:1,t:\"",
        "SecAction \",,,\"",
        "SecAction \"id:1,msg:%{\"",
        "SecRule ARGS \"@validateByteRange 5-1\" \"id:1\"",
        "SecRule ARGS \"!\" \"id:1\"",
        "SecRule XML: \"x\" \"id:1\"",
        "SecRuleRemoveById 5-",
        "SecRuleUpdateActionById 1 \"id:2\"",
        "SecRule ARGS \"x\" \"id:1,chain\"\nSecRule ARGS \"x\" \"chain\"",
        "é\\\né",
        "SecAction \"id:1\"\r\n",
        "SecAction \"id:4294967295,pass\"",
        "SecAction \"id:4294967296\"",
    ] {
        let _ = portcullis_seclang::parse_str("/nonexistent/edge.conf", text)
            .map_err(|e| e.to_string());
    }
}

//! How a decision names the scores SecLang's `setvar`s add up: after the variable, and
//! after each reset (a new value from then on) with its number.

use portcullis_decide::{Policy, Request};
use portcullis_seclang::{lower, parse_str, LowerOptions};

fn scores(text: &str, req: &Request<'_>) -> Vec<(String, i64)> {
    let set = parse_str("t.conf", text).unwrap_or_else(|e| panic!("{e}"));
    let lowered = lower(&set, &LowerOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let policy = Policy::compile(lowered.rules).unwrap_or_else(|e| panic!("{e}"));
    let d = policy.evaluate(req);
    d.scores()
        .into_iter()
        .map(|(n, t)| (n.to_string(), t))
        .collect()
}

#[test]
fn a_score_is_named_after_its_variable_and_each_reset_gets_a_number() {
    // `total` starts as a copy of `pl1` (CRS 980099's shape), `sum` is reset once it has
    // points (949059), and `tmp` is unset, then added to again: three values of `sum`
    // and two of `tmp`, none of them mixed up.
    let rules = r#"
SecAction "id:900,phase:1,pass,nolog,setvar:tx.pl1=0,setvar:tx.sum=0"
SecRule ARGS "@rx a" "id:1,phase:1,pass,log,setvar:tx.pl1=+5,setvar:tx.tmp=+1"
SecAction "id:2,phase:1,pass,nolog,setvar:'tx.total=%{tx.pl1}',setvar:'tx.sum=+%{tx.pl1}'"
SecAction "id:3,phase:2,pass,nolog,setvar:tx.sum=0,setvar:!tx.tmp"
SecRule ARGS "@rx b" "id:4,phase:2,pass,log,setvar:tx.pl1=+2,setvar:tx.tmp=+7"
SecAction "id:5,phase:2,pass,nolog,setvar:'tx.sum=+%{tx.pl1}'"
"#;
    let got = scores(rules, &Request::new("GET", "/?x=ab"));
    let want = [
        ("pl1", 7),
        ("sum", 5),
        ("sum@2", 7),
        ("tmp", 1),
        ("tmp@2", 7),
        ("total", 5),
    ];
    let want: Vec<(String, i64)> = want.iter().map(|(n, t)| (n.to_string(), *t)).collect();
    assert_eq!(got, want);
}

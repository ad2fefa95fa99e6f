//! Collections narrowed by member name, the query-only and body-only collections and
//! `count(…)`: what they parse into, and that they print back as written (for `--explain`
//! and diagnostics).

use portcullis_rules::{Expr, Field, NameMatch, PredKind, RuleSet, Selection, Selector, Term};

/// The left term of the one predicate of `when`.
fn lhs(when: &str) -> Term {
    let text = format!("[[rule]]\nid = \"r\"\nwhen = '{when}'\naction = \"forbid\"\n");
    let rules = RuleSet::parse("s.toml", &text).unwrap_or_else(|e| panic!("{when}: {e}"));
    let Some(Expr::Pred(p)) = rules.rules.first().map(|r| r.when.clone()) else {
        panic!("{when}: not one predicate");
    };
    match p.kind {
        PredKind::Compare { lhs, .. }
        | PredKind::Str { lhs, .. }
        | PredKind::List { lhs, .. }
        | PredKind::Test(lhs) => lhs,
        PredKind::Has { set, .. } => set,
        PredKind::SomeNot(inner) => match *inner {
            PredKind::Compare { lhs, .. }
            | PredKind::Str { lhs, .. }
            | PredKind::List { lhs, .. } => lhs,
            other => panic!("{when}: {other:?} inside `not`"),
        },
        PredKind::Interpreted(i) => panic!("{when}: {i:?} from the rule language"),
    }
}

fn name(exclude: bool, n: &str) -> Selector {
    Selector {
        exclude,
        name: NameMatch::Name(n.to_string()),
    }
}

fn regex(exclude: bool, r: &str) -> Selector {
    Selector {
        exclude,
        name: NameMatch::Regex(r.to_string()),
    }
}

fn select(of: Field, items: Vec<Selector>) -> Field {
    Field::Select {
        of: Box::new(of),
        selection: Selection { items },
    }
}

#[test]
fn selectors_parse_into_includes_and_excludes() {
    let cases = [
        (
            r#"cookies[not /^__utm/] contains "x""#,
            Term::Field(select(Field::Cookies, vec![regex(true, "^__utm")])),
        ),
        (
            r#"headers[not "user-agent", not "referer"] contains "x""#,
            Term::Field(select(
                Field::Headers,
                vec![name(true, "user-agent"), name(true, "referer")],
            )),
        ),
        (
            r#"args[/^id_/, not "id_x"] == "1""#,
            Term::Field(select(
                Field::Args,
                vec![regex(false, "^id_"), name(true, "id_x")],
            )),
        ),
        (
            r#"lower(args["a", "b"]) == "x""#,
            Term::Func(
                portcullis_rules::Transform::Lower,
                Box::new(Term::Field(select(
                    Field::Args,
                    vec![name(false, "a"), name(false, "b")],
                ))),
            ),
        ),
        // `\/` is a `/` in the regex; other escapes are the regex's own.
        (
            r#"arg_names[/a\/b\.c/] == "x""#,
            Term::Field(select(Field::ArgNames, vec![regex(false, r"a/b\.c")])),
        ),
        (r#"query_args == "x""#, Term::Field(Field::QueryArgs)),
        (
            r#"body_arg_names[! "a"] == "x""#,
            Term::Field(select(Field::BodyArgNames, vec![name(true, "a")])),
        ),
        ("count(args) > 255", Term::Count(Field::Args)),
        (
            r#"count(headers["host"]) == 0"#,
            Term::Count(select(Field::Headers, vec![name(false, "host")])),
        ),
        ("count(file_fields) > 1", Term::Count(Field::FileFields)),
    ];
    for (when, want) in cases {
        assert_eq!(lhs(when), want, "{when}");
    }
}

#[test]
fn selected_terms_print_as_written() {
    for written in [
        r#"cookies[not /^__utm/]"#,
        r#"headers[not "user-agent", not "referer"]"#,
        r#"args[/^id_/, not "id_x"]"#,
        r#"url_decode_uni(query_args["a", "b"])"#,
        r#"arg_names[/a\/b\\\/c/]"#,
        r#"count(cookies[not /^__utm/])"#,
        r#"count(body_args)"#,
        "file_fields",
        "body_arg_names",
        "query_arg_names",
    ] {
        let cmp = if written.starts_with("count") {
            "== 1"
        } else {
            "== \"x\""
        };
        let term = lhs(&format!("{written} {cmp}"));
        assert_eq!(term.to_string(), written);
    }
}

#[test]
fn only_the_body_collections_read_the_body() {
    for (when, reads) in [
        (r#"query_args == "x""#, false),
        (r#"query_arg_names[/a/] == "x""#, false),
        (r#"body_args == "x""#, true),
        (r#"body_arg_names == "x""#, true),
        (r#"file_fields == "x""#, true),
        (r#"args[not "a"] == "x""#, true),
        (r#"headers["a"] == "x""#, false),
        ("count(query_args) > 1", false),
        ("count(body_args) > 1", true),
    ] {
        let reads_body = lhs(when).field().is_some_and(Field::reads_body);
        assert_eq!(reads_body, reads, "{when}");
    }
}

/// `x not op …` is the predicate `op` wrapped in `SomeNot`, the term on its left as
/// written; the fields ModSecurity's variables map to print as written.
#[test]
fn negated_operators_wrap_the_predicate() {
    let text = "[[rule]]\nid = \"r\"\nwhen = 'lower(args[not \"a\"]) not matches \"^[0-9]+$\"'\naction = \"forbid\"\n";
    let rules = RuleSet::parse("s.toml", text).unwrap_or_else(|e| panic!("{e}"));
    let Some(Expr::Pred(p)) = rules.rules.first().map(|r| r.when.clone()) else {
        panic!("not one predicate");
    };
    let PredKind::SomeNot(inner) = &p.kind else {
        panic!("{:?}", p.kind);
    };
    assert!(matches!(
        &**inner,
        PredKind::Str { op: portcullis_rules::StrOp::Matches, pattern, .. } if pattern == "^[0-9]+$"
    ));
    assert_eq!(
        p.kind
            .some_not_operand()
            .map(ToString::to_string)
            .as_deref(),
        Some("lower(args[not \"a\"])")
    );
    for (when, shown) in [
        (r#"arg["m"] not in {"on", "off"}"#, r#"arg["m"]"#),
        (r#"headers not == "1""#, "headers"),
        (r#"uri not contains "x""#, "uri"),
        (r#"raw_uri contains "x""#, "raw_uri"),
        (r#"basename == "x""#, "basename"),
        (r#"body.processor == "JSON""#, "body.processor"),
        ("body.length > 1", "body.length"),
    ] {
        assert_eq!(lhs(when).to_string(), shown, "{when}");
    }
}

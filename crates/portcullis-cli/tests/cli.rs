//! The `portcullis` binary end to end: exit codes, output formats, error reporting.

mod common;

use common::{portcullis, root};

use std::path::PathBuf;
use std::process::Output;

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("portcullis-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write temp file");
    p
}

fn stdout_json(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each stdout line is JSON"))
        .collect()
}

#[test]
fn check_accepts_the_starter_pack() {
    let out = portcullis(&["check", "rules/"], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: "));
}

#[test]
fn check_reports_every_error_located_and_exits_1() {
    let bad = temp_file(
        "bad.toml",
        "[[rule]]\nid = \"a\"\nwhen = 'pth == \"/\"'\naction = \"forbid\"\n\n[[rule]]\nid = \"b\"\nwhen = 'ip in {10.0.0.0/33}'\naction = \"forbid\"\n",
    );
    let out = portcullis(&["check", bad.to_str().expect("utf-8 path")], None);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:3:9"), "{err}");
    assert!(err.contains("unknown field `pth`"), "{err}");
    assert!(err.contains("did you mean `path`?"), "{err}");
    assert!(err.contains("bad.toml:8:16"), "{err}");
    assert!(err.contains("^^^"), "{err}");
}

#[test]
fn check_deny_warnings_fails_on_warnings() {
    let f = temp_file(
        "warn.toml",
        "[lists]\nunused = { kind = \"string\", items = [\"x\"] }\n\n[[rule]]\nid = \"a\"\nwhen = 'path == \"/\"'\naction = \"log\"\n",
    );
    let path = f.to_str().expect("utf-8 path");
    assert_eq!(portcullis(&["check", path], None).status.code(), Some(0));
    let out = portcullis(&["check", "--deny-warnings", path], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("never used"));
}

#[test]
fn check_missing_file_is_a_rule_error() {
    let out = portcullis(&["check", "does/not/exist.toml"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

#[test]
fn eval_samples_show_every_outcome() {
    let out = portcullis(
        &["eval", "rules/", "--requests", "samples/requests.jsonl"],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decisions = stdout_json(&out);
    let lines = std::fs::read_to_string(root().join("samples/requests.jsonl")).expect("samples");
    assert_eq!(decisions.len(), lines.lines().count());
    let status = |id: &str| {
        decisions
            .iter()
            .find(|d| d["request_id"] == id)
            .unwrap_or_else(|| panic!("no decision for {id}"))["status"]
            .as_u64()
    };
    assert_eq!(status("home"), Some(200));
    assert_eq!(status("admin-anonymous"), Some(401));
    assert_eq!(status("admin-viewer"), Some(403));
    assert_eq!(status("git-probe"), Some(404));
    assert_eq!(status("login-6"), Some(429));
    assert_eq!(status("preflight"), Some(200));
    let limited = decisions
        .iter()
        .find(|d| d["request_id"] == "login-6")
        .expect("login-6");
    assert_eq!(limited["headers"]["retry-after"], "7");
    assert_eq!(
        limited["headers"]["ratelimit-policy"],
        "\"login-throttle\";q=5;w=60"
    );
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(summary.contains("429: 1"), "{summary}");
}

#[test]
fn eval_reports_bad_lines_in_place_and_exits_1() {
    let input =
        "{\"uri\":\"/\"}\nnot json\n{\"uri\":\"/\",\"ip\":\"300.1.1.1\"}\n{\"uri\":\"/admin/x\"}\n";
    let out = portcullis(&["eval", "rules/"], Some(input));
    assert_eq!(out.status.code(), Some(1));
    let d = stdout_json(&out);
    assert_eq!(d.len(), 4);
    assert_eq!(d[0]["action"], "allow");
    assert_eq!(d[1]["line"], 2);
    assert!(d[1]["error"].is_string());
    assert_eq!(d[2]["line"], 3);
    assert!(d[2]["error"]
        .as_str()
        .is_some_and(|e| e.contains("300.1.1.1")));
    assert_eq!(d[3]["status"], 401);
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 invalid lines"));
}

#[test]
fn eval_explain_traces_rules() {
    let input = "{\"uri\":\"/admin/x\",\"auth\":{\"subject\":\"bob\",\"roles\":[\"viewer\"]}}\n";
    let out = portcullis(&["eval", "rules/", "--explain"], Some(input));
    assert_eq!(out.status.code(), Some(0));
    let d = stdout_json(&out);
    let trace = d[0]["explain"].as_array().expect("explain array");
    let last = trace.last().expect("a rule");
    assert_eq!(last["rule"], "admin-only");
    assert_eq!(last["matched"], true);
    assert!(last["predicates"].as_array().is_some_and(|p| p.len() == 3));
}

#[test]
fn eval_with_bad_rules_exits_1_and_unreadable_requests_exit_2() {
    let bad = temp_file("bad-eval.toml", "[[rule]]\nid = \"x\"\n");
    assert_eq!(
        portcullis(&["eval", bad.to_str().expect("utf-8")], Some(""))
            .status
            .code(),
        Some(1)
    );
    let out = portcullis(
        &["eval", "rules/", "--requests", "no/such/file.jsonl"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
}

/// Runs `portcullis` with stdout and/or stderr connected to pipes nobody reads.
fn with_closed_output(args: &[&str], close_stdout: bool, close_stderr: bool) -> Option<i32> {
    use std::process::{Command, Stdio};
    // The write end of a pipe whose reader is gone: the stdin of a process that has exited.
    let closed = || {
        let mut reader = Command::new("true")
            .stdin(Stdio::piped())
            .spawn()
            .expect("spawn true");
        let writer = reader.stdin.take().expect("stdin");
        reader.wait().expect("wait for true");
        Stdio::from(writer)
    };
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(if close_stdout {
            closed()
        } else {
            Stdio::null()
        })
        .stderr(if close_stderr {
            closed()
        } else {
            Stdio::null()
        })
        .status()
        .expect("run portcullis")
        .code()
}

#[test]
fn a_closed_stdout_ends_quietly_and_a_closed_stderr_never_panics() {
    // `portcullis check rules/ | head -0`: the reader left; that is not an error.
    assert_eq!(
        with_closed_output(&["check", "rules/"], true, false),
        Some(0)
    );
    assert_eq!(
        with_closed_output(&["test", "rules/"], true, false),
        Some(0)
    );
    let requests = root().join("samples/requests.jsonl");
    let requests = requests.to_str().expect("utf-8");
    assert_eq!(
        with_closed_output(&["eval", "rules/", "-r", requests], true, false),
        Some(0)
    );
    // Diagnostics to a closed stderr: the exit code still says what happened (1: bad rules),
    // never 101 (a panic).
    let bad = temp_file("closed-stderr.toml", "[[rule]]\nid = \"x\"\n");
    let bad = bad.to_str().expect("utf-8");
    assert_eq!(with_closed_output(&["check", bad], false, true), Some(1));
    assert_eq!(with_closed_output(&["check", bad], true, true), Some(1));
    assert_eq!(
        with_closed_output(&["check", "rules/"], true, true),
        Some(0)
    );
}

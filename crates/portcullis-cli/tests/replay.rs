//! `portcullis replay` end to end: log formats (detected and forced), unparseable lines,
//! the JSON report, `--compare`, rate limits replayed on the log's clock, exit codes.

mod common;

use common::{portcullis, root};

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

/// A directory of its own for each test (tests run in parallel).
fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("portcullis-replay-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write temp file");
    p.to_str().expect("utf-8 path").to_string()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn report(out: &Output) -> Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("--output json writes one JSON document")
}

/// The report's entry for a deciding rule, from `result.rules` (or another list of rules).
fn rule<'a>(rules: &'a Value, id: &str) -> &'a Value {
    rules
        .as_array()
        .expect("a list of rules")
        .iter()
        .find(|r| r["rule"] == id)
        .unwrap_or_else(|| panic!("no {id} in {rules}"))
}

fn count(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn combined(ip: &str, time: &str, request: &str, agent: &str) -> String {
    format!(r#"{ip} - - [12/Jan/2026:{time} +0100] "{request}" 200 512 "-" "{agent}""#)
}

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const SQLMAP: &str = "sqlmap/1.8.11#stable (https://sqlmap.org)";

#[test]
fn the_sample_log_replays_with_every_kind_of_traffic() {
    let out = portcullis(&["replay", "rules/", "--log", "samples/access.log"], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    assert!(text.starts_with("replayed samples/access.log: "), "{text}");
    for rule in [
        "block-scanners",
        "sensitive-files",
        "admin-only",
        "login-throttle",
        "blocklist",
        "office-internal",
    ] {
        assert!(
            text.contains(&format!("\n  {rule} ")),
            "{rule} missing from\n{text}"
        );
    }
    assert!(text.contains("top client IPs refused"), "{text}");
    assert!(text.contains("\nunparseable lines: "), "{text}");

    let json = report(&portcullis(
        &[
            "replay",
            "rules/",
            "--log",
            "samples/access.log",
            "--output",
            "json",
        ],
        None,
    ));
    let lines = std::fs::read_to_string(root().join("samples/access.log"))
        .expect("sample")
        .lines()
        .count() as u64;
    assert_eq!(count(&json["lines"]), lines);
    let bad = count(&json["unparseable"]["count"]);
    assert!(bad >= 1, "the sample has malformed lines");
    assert_eq!(count(&json["requests"]) + bad, lines);
    assert_eq!(
        count(&json["formats"]["combined"]),
        count(&json["requests"])
    );
    assert!(count(&rule(&json["result"]["rules"], "login-throttle")["status"]["429"]) >= 1);
}

#[test]
fn combined_format_is_detected_and_decided() {
    let dir = temp_dir("combined");
    let log = [
        combined("198.18.0.1", "10:00:00", "GET / HTTP/1.1", FIREFOX),
        combined(
            "198.18.0.2",
            "10:00:01",
            "GET /products?id=1%27 HTTP/1.1",
            SQLMAP,
        ),
        combined(
            "198.18.0.3",
            "10:00:02",
            "GET /.git/config HTTP/1.1",
            "curl/8.5.0",
        ),
        combined("192.0.2.7", "10:00:03", "GET / HTTP/1.1", FIREFOX),
        // The common log format (no referer, no user agent) and a logged user.
        r#"198.18.0.4 - alice [12/Jan/2026:10:00:04 +0100] "GET /api/v1/orders HTTP/1.1" 200 99"#
            .to_string(),
        r#"198.18.0.5 - - [12/Jan/2026:10:00:05 +0100] "GET /api/v1/orders HTTP/1.1" 401 65"#
            .to_string(),
    ]
    .join("\n");
    let log = write(&dir, "access.log", &log);
    for format in [None, Some("combined")] {
        let mut args = vec!["replay", "rules/", "--log", &log, "--output", "json"];
        if let Some(f) = format {
            args.extend(["--format", f]);
        }
        let json = report(&portcullis(&args, None));
        assert_eq!(
            json["formats"],
            serde_json::json!({ "combined": 6 }),
            "{format:?}"
        );
        assert_eq!(count(&json["unparseable"]["count"]), 0);
        let rules = &json["result"]["rules"];
        assert_eq!(count(&rule(rules, "block-scanners")["requests"]), 1);
        assert_eq!(rule(rules, "block-scanners")["examples"][0]["line"], 2);
        assert_eq!(
            rule(rules, "sensitive-files")["status"]["404"],
            1,
            "hidden: 404"
        );
        assert_eq!(rule(rules, "blocklist")["examples"][0]["ip"], "192.0.2.7");
        // Only the anonymous API call is refused: the logged user counts as signed in.
        assert_eq!(count(&rule(rules, "api-needs-login")["requests"]), 1);
        assert_eq!(rule(rules, "api-needs-login")["examples"][0]["line"], 6);
        assert_eq!(
            json["result"]["verdicts"],
            serde_json::json!({ "allow": 2, "forbid": 4 })
        );
    }
}

#[test]
fn json_lines_are_detected_and_forced() {
    let dir = temp_dir("json");
    let log = [
        // Our request schema (docs/requests.md).
        r#"{"ip":"198.18.0.1","method":"GET","uri":"/","headers":{"user-agent":"curl/8.5.0"},"time":1768208400}"#,
        r#"{"ip":"198.18.0.2","method":"GET","uri":"/search?q=1","headers":{"user-agent":"Nikto/2.5.0"},"time":1768208401}"#,
        // nginx `log_format ... escape=json` keys.
        r#"{"remote_addr":"198.18.0.3","request":"GET /.env HTTP/1.1","status":404,"http_user_agent":"curl/8.5.0","time_iso8601":"2026-01-12T10:00:02+01:00"}"#,
        // Caddy's nested request object.
        r#"{"ts":1768208403.5,"request":{"remote_ip":"198.18.0.4","method":"GET","uri":"/admin/","headers":{"User-Agent":["Firefox"]}},"status":302}"#,
    ]
    .join("\n");
    let log = write(&dir, "access.jsonl", &log);
    for format in [None, Some("json")] {
        let mut args = vec!["replay", "rules/", "--log", &log, "--output", "json"];
        if let Some(f) = format {
            args.extend(["--format", f]);
        }
        let json = report(&portcullis(&args, None));
        assert_eq!(
            json["formats"],
            serde_json::json!({ "json": 4 }),
            "{format:?}"
        );
        let rules = &json["result"]["rules"];
        assert_eq!(rule(rules, "block-scanners")["examples"][0]["line"], 2);
        assert_eq!(
            rule(rules, "sensitive-files")["examples"][0]["uri"],
            "/.env"
        );
        assert_eq!(rule(rules, "admin-only")["examples"][0]["ip"], "198.18.0.4");
        assert_eq!(rule(rules, "(default)")["requests"], 1);
    }
}

#[test]
fn forced_formats_do_not_guess_and_mixed_logs_are_read_per_line() {
    let dir = temp_dir("mixed");
    let log = [
        combined("198.18.0.1", "10:00:00", "GET / HTTP/1.1", FIREFOX),
        r#"{"ip":"198.18.0.2","method":"GET","uri":"/"}"#.to_string(),
        combined("198.18.0.3", "10:00:02", "GET /about HTTP/1.1", FIREFOX),
    ]
    .join("\n");
    let log = write(&dir, "mixed.log", &log);
    let json = report(&portcullis(
        &["replay", "rules/", "--log", &log, "--output", "json"],
        None,
    ));
    assert_eq!(
        json["formats"],
        serde_json::json!({ "combined": 2, "json": 1 })
    );
    assert_eq!(count(&json["unparseable"]["count"]), 0);

    let json = report(&portcullis(
        &[
            "replay", "rules/", "--log", &log, "--format", "combined", "--output", "json",
        ],
        None,
    ));
    assert_eq!(count(&json["requests"]), 2);
    assert_eq!(json["unparseable"]["lines"][0]["line"], 2);

    let json = report(&portcullis(
        &[
            "replay", "rules/", "--log", &log, "--format", "json", "--output", "json",
        ],
        None,
    ));
    assert_eq!(count(&json["requests"]), 1);
    let bad: Vec<u64> = json["unparseable"]["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|b| count(&b["line"]))
        .collect();
    assert_eq!(bad, [1, 3]);
}

#[test]
fn unparseable_lines_are_counted_and_reported_by_number() {
    let dir = temp_dir("bad");
    let log = [
        combined("198.18.0.1", "10:00:00", "GET / HTTP/1.1", FIREFOX),
        // A TLS handshake on the plain-HTTP port.
        r#"198.18.0.2 - - [12/Jan/2026:10:00:01 +0100] "\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03" 400 157 "-" "-""#.to_string(),
        String::new(), // blank lines are skipped, not errors
        combined("198.18.0.3", "10:00:02", "GET /about HTTP/1.1", FIREFOX),
        r#"198.18.0.4 - - [12/Jan/2026:10:00:03 +0100] "GET /products/12 HTTP/1."#.to_string(),
        "not a log line at all".to_string(),
        r#"{"uri": }"#.to_string(),
        combined("198.18.0.5", "10:00:05", "GET /pricing HTTP/1.1", FIREFOX),
    ]
    .join("\n");
    let log = write(&dir, "bad.log", &log);

    let out = portcullis(&["replay", "rules/", "--log", &log], None);
    assert_eq!(out.status.code(), Some(0), "reported, not fatal");
    let text = stdout(&out);
    assert!(
        text.contains("8 lines, 3 requests (combined 3), 4 unparseable"),
        "{text}"
    );
    assert!(
        text.contains("unparseable lines: 4 (not evaluated)"),
        "{text}"
    );
    for n in [2, 5, 6, 7] {
        assert!(
            text.contains(&format!("\n  line {n}: ")),
            "line {n} not reported in\n{text}"
        );
    }
    assert!(
        text.contains("line 5: the quoted request line is not closed"),
        "{text}"
    );
    assert!(
        text.contains("line 6: the client \"not\" is not an IP address"),
        "{text}"
    );
    assert!(text.contains("line 7: not JSON"), "{text}");

    let json = report(&portcullis(
        &["replay", "rules/", "--log", &log, "--output", "json"],
        None,
    ));
    let bad: Vec<u64> = json["unparseable"]["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|b| count(&b["line"]))
        .collect();
    assert_eq!(bad, [2, 5, 6, 7]);
    assert_eq!(json["unparseable"]["truncated"], false);
    assert!(json["unparseable"]["lines"][0]["error"]
        .as_str()
        .expect("error")
        .contains("METHOD target PROTOCOL"));

    let out = portcullis(&["replay", "rules/", "--log", &log, "--strict"], None);
    assert_eq!(
        out.status.code(),
        Some(1),
        "--strict fails on unparseable lines"
    );
    assert!(stdout(&out).contains("unparseable lines: 4"));
}

#[test]
fn rate_limits_replay_on_the_log_clock() {
    // Seven attempts within seven seconds: the starter pack allows five a minute per address.
    let burst: Vec<String> = (0..7)
        .map(|i| {
            combined(
                "198.51.100.9",
                &format!("10:00:0{i}"),
                "POST /login HTTP/1.1",
                "python-requests/2.31.0",
            )
        })
        .collect();
    // The same address an hour later is allowed again.
    let later = combined(
        "198.51.100.9",
        "11:00:00",
        "POST /login HTTP/1.1",
        "python-requests/2.31.0",
    );
    let log = format!("{}\n{later}\n", burst.join("\n"));
    let json = report(&portcullis(
        &["replay", "rules/", "--log", "-", "--output", "json"],
        Some(&log),
    ));
    let throttle = rule(&json["result"]["rules"], "login-throttle");
    assert_eq!(throttle["status"], serde_json::json!({ "429": 2 }));
    let lines: Vec<u64> = throttle["examples"]
        .as_array()
        .expect("examples")
        .iter()
        .map(|e| count(&e["line"]))
        .collect();
    assert_eq!(lines, [6, 7]);
    assert_eq!(
        json["result"]["verdicts"],
        serde_json::json!({ "allow": 6, "rate_limit": 2 })
    );
    assert_eq!(json["log"], "-");
}

#[test]
fn json_report_has_the_documented_shape() {
    let json = report(&portcullis(
        &[
            "replay",
            "rules/",
            "--log",
            "samples/access.log",
            "--output",
            "json",
            "--examples",
            "1",
            "--top",
            "2",
        ],
        None,
    ));
    for key in [
        "log",
        "lines",
        "requests",
        "formats",
        "seconds",
        "unparseable",
        "result",
    ] {
        assert!(json.get(key).is_some(), "no {key}");
    }
    assert!(json.get("compare").is_none(), "no --compare, no comparison");
    let result = &json["result"];
    let decided: u64 = result["verdicts"]
        .as_object()
        .expect("verdicts")
        .values()
        .map(count)
        .sum();
    assert_eq!(decided, count(&json["requests"]));
    let by_status: u64 = result["status"]
        .as_object()
        .expect("status")
        .values()
        .map(count)
        .sum();
    assert_eq!(by_status, decided);
    for r in result["rules"].as_array().expect("rules") {
        assert!(
            r["examples"].as_array().expect("examples").len() <= 1,
            "--examples 1: {r}"
        );
        assert!(r["verdict"].is_string() && r["requests"].is_u64(), "{r}");
    }
    for list in ["ips", "paths", "user_agents"] {
        let top = result["top_refused"][list].as_array().expect("top list");
        assert_eq!(top.len(), 2, "--top 2: {list}");
        assert!(
            count(&top[0]["requests"]) >= count(&top[1]["requests"]),
            "most first: {list}"
        );
    }
    assert!(result["shadow"].is_array());
}

#[test]
fn compare_shows_newly_blocked_and_newly_allowed() {
    let dir = temp_dir("compare");
    let next = dir.join("rules-next");
    copy_dir(&root().join("rules"), &next);
    // The next version: scanners are only logged, and /search is closed.
    let threats = next.join("10-threats.toml");
    let text = std::fs::read_to_string(&threats).expect("threats");
    let edited = text.replacen(
        "when = 'user_agent contains_any $scanners'\naction = \"forbid\"",
        "when = 'user_agent contains_any $scanners'\naction = \"log\"",
        1,
    );
    assert_ne!(
        edited, text,
        "the starter pack's block-scanners rule changed shape"
    );
    std::fs::write(&threats, edited).expect("write");
    write(&next, "30-search.toml", "[[rule]]\nid = \"no-search\"\nwhen = 'path == \"/search\"'\naction = \"forbid\"\nreason = \"search is down\"\n");

    let log = [
        combined(
            "198.18.0.1",
            "10:00:00",
            "GET /search?q=tent HTTP/1.1",
            FIREFOX,
        ),
        combined(
            "198.18.0.2",
            "10:00:01",
            "GET /products?id=1%27 HTTP/1.1",
            SQLMAP,
        ),
        combined(
            "198.18.0.2",
            "10:00:02",
            "GET /.git/config HTTP/1.1",
            SQLMAP,
        ),
        combined("198.18.0.3", "10:00:03", "GET / HTTP/1.1", FIREFOX),
    ]
    .join("\n");
    let log = write(&dir, "access.log", &log);
    let next = next.to_str().expect("utf-8 path");

    let out = portcullis(
        &["replay", "rules/", "--log", &log, "--compare", next],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    assert!(text.contains(&format!("compared with {next}:")), "{text}");
    assert!(
        text.contains("newly blocked (allowed before), by the rule that now refuses: 1"),
        "{text}"
    );
    assert!(
        text.contains("newly allowed (refused before), by the rule that refused: 1"),
        "{text}"
    );
    assert!(
        text.contains("refused by another rule or with another status, old -> new: 1"),
        "{text}"
    );

    let json = report(&portcullis(
        &[
            "replay",
            "rules/",
            "--log",
            &log,
            "--compare",
            next,
            "--output",
            "json",
        ],
        None,
    ));
    let c = &json["compare"];
    let blocked = rule(&c["newly_blocked"], "no-search");
    assert_eq!(
        (count(&blocked["requests"]), &blocked["examples"][0]["line"]),
        (1, &Value::from(1))
    );
    // Newly allowed is keyed by the rule that refused before.
    let allowed = rule(&c["newly_allowed"], "block-scanners");
    assert_eq!(
        (count(&allowed["requests"]), &allowed["examples"][0]["line"]),
        (1, &Value::from(2))
    );
    // The probe is still refused, now by the next rule, and hidden (404 instead of 403).
    let changed = rule(
        &c["changed"],
        "block-scanners (403) -> sensitive-files (404)",
    );
    assert_eq!(changed["examples"][0]["line"], 3);
    assert_eq!(
        c["result"]["verdicts"],
        serde_json::json!({ "allow": 2, "forbid": 2 })
    );
    assert_eq!(
        json["result"]["verdicts"],
        serde_json::json!({ "allow": 2, "forbid": 2 })
    );
    assert_eq!(
        c["result"]["shadow"][0]["rule"], "block-scanners",
        "now a log rule"
    );

    // The same rules compared with themselves change nothing.
    let json = report(&portcullis(
        &[
            "replay",
            "rules/",
            "--log",
            &log,
            "--compare",
            "rules/",
            "--output",
            "json",
        ],
        None,
    ));
    for key in ["newly_blocked", "newly_allowed", "changed"] {
        assert_eq!(json["compare"][key], serde_json::json!([]), "{key}");
    }
}

#[test]
fn exit_codes() {
    let dir = temp_dir("exit");
    let log = write(
        &dir,
        "ok.log",
        &combined("198.18.0.1", "10:00:00", "GET / HTTP/1.1", FIREFOX),
    );
    assert_eq!(
        portcullis(&["replay", "rules/", "--log", &log], None)
            .status
            .code(),
        Some(0)
    );

    // The log cannot be read: the tool failed.
    let out = portcullis(&["replay", "rules/", "--log", "does/not/exist.log"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open does/not/exist.log"));

    // Invalid rules (either set): errors in rules, nothing replayed.
    let bad = write(
        &dir,
        "bad.toml",
        "[[rule]]\nid = \"a\"\nwhen = 'pth == \"/\"'\naction = \"forbid\"\n",
    );
    let out = portcullis(&["replay", &bad, "--log", &log], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field `pth`"));
    assert!(out.stdout.is_empty());
    assert_eq!(
        portcullis(
            &["replay", "rules/", "--log", &log, "--compare", &bad],
            None
        )
        .status
        .code(),
        Some(1)
    );

    // Usage errors.
    assert_eq!(
        portcullis(&["replay", "rules/"], None).status.code(),
        Some(2),
        "--log is required"
    );
    assert_eq!(
        portcullis(
            &["replay", "rules/", "--log", &log, "--format", "xml"],
            None
        )
        .status
        .code(),
        Some(2)
    );

    // An empty log is not an error.
    let out = portcullis(&["replay", "rules/", "--log", "-"], Some(""));
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).contains("0 lines, 0 requests"),
        "{}",
        stdout(&out)
    );
}

//! The file watcher reloads on changes, debounced, and keeps the rules on a bad change.
#![cfg(feature = "watch")]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use portcullis::{Engine, Request, Verdict};

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("portcullis-watch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("lists")).unwrap();
    dir
}

const RULES: &str = r#"
[lists]
bad = { kind = "pattern", file = "lists/bad.txt" }

[[rule]]
id = "bad-paths"
when = 'path contains_any $bad'
action = "forbid"
"#;

fn forbidden(engine: &Engine, path: &str) -> bool {
    engine.evaluate(&Request::new("GET", path)).verdict() == Verdict::Forbid
}

/// Waits up to 10 s for `cond`.
fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

#[test]
fn watcher_reloads_rule_and_list_changes_and_survives_bad_ones() {
    let dir = temp_dir();
    std::fs::write(dir.join("rules.toml"), RULES).unwrap();
    std::fs::write(dir.join("lists/bad.txt"), "/old\n").unwrap();
    let engine = Engine::from_path(&dir).unwrap();
    let watcher = engine.watch_with(Duration::from_millis(100)).unwrap();
    assert!(forbidden(&engine, "/old"));

    // A list file changes.
    std::fs::write(dir.join("lists/bad.txt"), "/new\n").unwrap();
    assert!(
        eventually(|| forbidden(&engine, "/new")),
        "list change not picked up"
    );
    assert!(!forbidden(&engine, "/old"));

    // A broken rule file: the rules in force stay.
    std::fs::write(
        dir.join("rules.toml"),
        "[[rule]]\nid = 'x'\nwhen = 'path =='\n",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(forbidden(&engine, "/new"));

    // Fixed with an atomic rename, as deploy tools do.
    let tmp = dir.join("rules.toml.tmp");
    std::fs::write(&tmp, RULES.replace("bad-paths", "bad-paths-v2")).unwrap();
    std::fs::rename(&tmp, dir.join("rules.toml")).unwrap();
    assert!(eventually(|| engine
        .evaluate(&Request::new("GET", "/new"))
        .rule_id()
        == Some("bad-paths-v2")));

    // Dropped: no more reloads.
    drop(watcher);
    std::fs::write(dir.join("lists/bad.txt"), "/other\n").unwrap();
    std::thread::sleep(Duration::from_millis(400));
    assert!(!forbidden(&engine, "/other"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn watching_an_engine_without_files_is_an_error() {
    let engine = Engine::from_str("").unwrap();
    let err = engine.watch().unwrap_err();
    assert!(err.to_string().contains("not loaded from files"), "{err}");
}

//! The engine under reloads: rate-limit state, failing reloads, concurrent readers.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use portcullis::{Engine, Request, Verdict};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "portcullis-engine-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, file: &str, text: &str) -> PathBuf {
        let p = self.0.join(file);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn throttle(id: &str, limit: u32) -> String {
    format!(
        r#"
[[rule]]
id = "{id}"
when = 'method == "POST" and path == "/login"'
action = "rate_limit"
rate_limit = {{ key = ["ip"], limit = {limit}, period = "1m" }}
"#
    )
}

fn login(ip: &str) -> (IpAddr, Duration) {
    (ip.parse().unwrap(), Duration::from_secs(1_700_000_000))
}

fn verdict(engine: &Engine, (ip, time): (IpAddr, Duration)) -> Verdict {
    engine
        .evaluate(&Request::new("POST", "/login").client_ip(ip).time(time))
        .verdict()
}

#[test]
fn rate_limit_state_survives_reload_of_unchanged_rules() {
    let engine = Engine::from_str(&throttle("login", 2)).unwrap();
    let client = login("192.0.2.1");
    assert_eq!(verdict(&engine, client), Verdict::Allow);
    assert_eq!(verdict(&engine, client), Verdict::Allow);
    assert_eq!(verdict(&engine, client), Verdict::RateLimit);

    // Same id and limit, other rules around it: the client is still limited.
    let more = format!(
        "{}\n[[rule]]\nid = \"other\"\nwhen = 'path == \"/x\"'\naction = \"forbid\"\n",
        throttle("login", 2)
    );
    engine.reload_str(&more).unwrap();
    assert_eq!(verdict(&engine, client), Verdict::RateLimit);
    // Another client was never counted.
    assert_eq!(verdict(&engine, login("192.0.2.2")), Verdict::Allow);

    // The limit changed: the rule starts afresh.
    engine.reload_str(&throttle("login", 3)).unwrap();
    assert_eq!(verdict(&engine, client), Verdict::Allow);
    assert_eq!(verdict(&engine, client), Verdict::Allow);
    assert_eq!(verdict(&engine, client), Verdict::Allow);
    assert_eq!(verdict(&engine, client), Verdict::RateLimit);

    // A renamed rule is another rule: fresh state too.
    engine.reload_str(&throttle("login-v2", 3)).unwrap();
    assert_eq!(verdict(&engine, client), Verdict::Allow);
}

#[test]
fn rate_limit_state_survives_reload_from_files() {
    let dir = TempDir::new("ratelimit");
    dir.write("rules.toml", &throttle("login", 1));
    let engine = Engine::from_path(dir.path()).unwrap();
    let client = login("198.51.100.1");
    assert_eq!(verdict(&engine, client), Verdict::Allow);
    assert_eq!(verdict(&engine, client), Verdict::RateLimit);
    engine.reload().unwrap();
    assert_eq!(verdict(&engine, client), Verdict::RateLimit);
    dir.write("rules.toml", &throttle("login", 2));
    engine.reload().unwrap();
    assert_eq!(verdict(&engine, client), Verdict::Allow);
}

const GOOD: &str = r#"
[[rule]]
id = "block-x"
when = 'path starts_with "/x"'
action = "forbid"
"#;

const BROKEN: &str = r#"
[[rule]]
id = "block-y"
when = 'path starts_with "/y" and'
action = "forbid"
"#;

#[test]
fn failing_reload_keeps_the_old_policy_and_reports_diagnostics() {
    let dir = TempDir::new("failing");
    let file = dir.write("rules.toml", GOOD);
    let engine = Engine::from_path(&file).unwrap();
    let before = engine.policy();
    assert_eq!(
        engine.evaluate(&Request::new("GET", "/x")).verdict(),
        Verdict::Forbid
    );

    dir.write("rules.toml", BROKEN);
    let err = engine.reload().unwrap_err();
    assert!(!err.diagnostics().is_empty());
    let rendered = err.render();
    assert!(rendered.contains("rules.toml:4:"), "{rendered}");
    assert!(rendered.contains('^'), "{rendered}");
    // The old rules are still in force, untouched.
    assert_eq!(
        engine.evaluate(&Request::new("GET", "/x")).rule_id(),
        Some("block-x")
    );
    assert_eq!(
        engine.evaluate(&Request::new("GET", "/y")).verdict(),
        Verdict::Allow
    );
    assert!(std::ptr::eq(engine.policy().rules(), before.rules()));

    // A bad reload_from does not switch the engine's paths either.
    let other = dir.write("other.toml", BROKEN);
    assert!(engine.reload_from(&[&other]).is_err());
    assert_eq!(engine.paths(), vec![file.clone()]);
    assert!(engine
        .reload_from(&[dir.path().join("missing.toml")])
        .is_err());
    assert_eq!(engine.paths(), vec![file.clone()]);

    // Fixed: the reload goes through.
    dir.write("rules.toml", &GOOD.replace("/x", "/z"));
    let report = engine.reload().unwrap();
    assert_eq!(report.rules, 1);
    assert_eq!(
        engine.evaluate(&Request::new("GET", "/x")).verdict(),
        Verdict::Allow
    );
    assert_eq!(
        engine.evaluate(&Request::new("GET", "/z")).verdict(),
        Verdict::Forbid
    );
}

#[test]
fn decisions_keep_the_policy_that_made_them() {
    let engine = Engine::from_str(GOOD).unwrap();
    let decision = engine.evaluate(&Request::new("GET", "/x"));
    engine
        .reload_str(&GOOD.replace("block-x", "renamed"))
        .unwrap();
    assert_eq!(decision.rule_id(), Some("block-x"));
    assert_eq!(
        engine.evaluate(&Request::new("GET", "/x")).rule_id(),
        Some("renamed")
    );
}

/// Policy `gen`: a `log` rule and a `forbid` rule that both match every request, and
/// enough other rules and lists that compiling takes a while. A decision that mixed two
/// policies would show rules of two generations.
fn generation(gen: usize) -> String {
    let mut s = format!(
        r#"
[lists]
nets = {{ kind = "ip", items = [{}] }}

[[rule]]
id = "g{gen}-log"
when = 'path starts_with "/"'
action = "log"

[[rule]]
id = "g{gen}-unused"
when = 'ip in $nets and user_agent contains_any {{"a{gen}", "b{gen}"}}'
action = "forbid"

[[rule]]
id = "g{gen}-forbid"
when = 'path starts_with "/"'
action = "forbid"
"#,
        (0..200)
            .map(|i| format!("\"10.{}.{}.0/24\"", gen % 250, i))
            .collect::<Vec<_>>()
            .join(", ")
    );
    s.push('\n');
    s
}

fn gen_of(id: &str) -> usize {
    id.trim_start_matches('g')
        .split('-')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn concurrent_evaluations_see_whole_policies_during_reloads() {
    const LAST: usize = 100;
    let engine = Engine::from_str(&generation(0)).unwrap();
    let started = std::time::Instant::now();
    let evaluated = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let engine = engine.clone();
            let evaluated = Arc::clone(&evaluated);
            std::thread::spawn(move || {
                let mut last = 0;
                // Until this reader has seen the last policy.
                while last < LAST {
                    assert!(
                        started.elapsed() < Duration::from_secs(120),
                        "stuck at generation {last}"
                    );
                    let d = engine.evaluate(&Request::new("GET", "/any"));
                    let decided = gen_of(d.rule_id().unwrap());
                    let shadow: Vec<usize> = d.shadow_hits().map(|(r, _)| gen_of(&r.id)).collect();
                    assert_eq!(shadow, vec![decided], "a decision mixed two policies");
                    assert!(d.policy().is_some_and(|p| p
                        .rules()
                        .rules
                        .iter()
                        .all(|r| gen_of(&r.id) == decided)));
                    // Reloads are seen in order: never an older policy after a newer one.
                    assert!(decided >= last, "went back from {last} to {decided}");
                    last = decided;
                    evaluated.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for gen in 1..=LAST {
        engine.reload_str(&generation(gen)).unwrap();
    }
    for r in readers {
        r.join().expect("a reader saw a mixed or older policy");
    }
    assert!(evaluated.load(Ordering::Relaxed) >= 3);
}

#[test]
fn engine_is_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>(_: &T) {}
    let engine = Engine::from_str(GOOD).unwrap();
    assert_send_sync(&engine);
    let clone = engine.clone();
    std::thread::spawn(move || clone.reload_str(&GOOD.replace("/x", "/w")).unwrap())
        .join()
        .unwrap();
    // Clones share the policy: the reload through one is seen by the other.
    assert_eq!(
        engine.evaluate(&Request::new("GET", "/w")).verdict(),
        Verdict::Forbid
    );
}

#[test]
fn a_rule_over_a_compile_limit_is_reported_at_its_place() {
    let dir = TempDir::new("compile-limit");
    let file = dir.write(
        "big.toml",
        "[policy]\nmax_regex_bytes = 100000\n\n[[rule]]\nid = \"big\"\nwhen = 'path matches \"(a{100}){100}\"'\naction = \"forbid\"\n",
    );
    let Err(err) = Engine::from_path(&file) else {
        panic!("over the limit, yet compiled");
    };
    let rendered = err.render();
    assert!(
        rendered.contains(&format!("--> {}:6:9", file.display())),
        "{rendered}"
    );
    assert!(rendered.contains("^^^"), "{rendered}");
    assert!(rendered.contains("= hint: "), "{rendered}");
    assert_eq!(err.diagnostics().len(), 1);
    // The same through a reload: the engine keeps its rules and says where.
    let engine = Engine::from_str("").expect("empty rules");
    let err = engine.reload_from(&[&file]).expect_err("over the limit");
    assert!(err.render().contains(":6:9"), "{}", err.render());
}

#[test]
fn ceilings_bound_what_a_rule_file_may_ask_for_on_load_and_reload() {
    use portcullis::Ceilings;
    let ceilings = Ceilings {
        max_patterns: Some(10),
        max_list_items: Some(5),
        ..Ceilings::default()
    };
    let dir = TempDir::new("ceilings");
    // Defaults above a ceiling are lowered to it.
    let file = dir.write(
        "ok.toml",
        "[[rule]]\nid = \"a\"\nwhen = 'path contains \"x\"'\naction = \"forbid\"\n",
    );
    let engine = Engine::builder()
        .ceilings(ceilings)
        .load(&[&file])
        .expect("loads");
    assert_eq!(engine.policy().rules().settings.max_patterns, 10);
    // A [policy] may lower a limit ...
    dir.write("ok.toml", "[policy]\nmax_patterns = 3\n[[rule]]\nid = \"a\"\nwhen = 'path contains \"x\"'\naction = \"forbid\"\n");
    engine.reload().expect("lowering is fine");
    assert_eq!(engine.policy().rules().settings.max_patterns, 3);
    // ... but never raise it past the ceiling, on reload too: a located error.
    dir.write("ok.toml", "[policy]\nmax_patterns = 1000000\n[[rule]]\nid = \"a\"\nwhen = 'path contains \"x\"'\naction = \"forbid\"\n");
    let err = engine.reload().expect_err("above the ceiling");
    assert!(
        err.render()
            .contains(&format!("--> {}:2:16", file.display())),
        "{}",
        err.render()
    );
    assert!(
        err.render().contains("above the ceiling of 10"),
        "{}",
        err.render()
    );
    assert_eq!(engine.policy().rules().settings.max_patterns, 3);
    // The lowered defaults hold: a list over the list-item ceiling is refused.
    let err = Engine::builder()
        .ceilings(ceilings)
        .parse("[lists]\nl = { kind = \"string\", items = [\"1\",\"2\",\"3\",\"4\",\"5\",\"6\"] }\n[[rule]]\nid = \"a\"\nwhen = 'path in $l'\naction = \"forbid\"\n")
        .expect_err("over the lowered default");
    assert!(err.render().contains("max_list_items"), "{}", err.render());
}

#[test]
fn a_ceiling_bounds_what_a_rule_file_may_make_the_layer_read_of_a_body() {
    use portcullis::Ceilings;
    let ceilings = Ceilings {
        max_body_bytes: Some(1024),
        ..Ceilings::default()
    };
    let body_rule = "[[rule]]\nid = \"b\"\nwhen = 'body contains \"x\"'\naction = \"forbid\"\n";
    let engine = Engine::builder()
        .ceilings(ceilings)
        .parse(body_rule)
        .expect("loads");
    assert_eq!(engine.policy().rules().settings.max_body_bytes, 1024);
    assert_eq!(engine.body_bytes_wanted(), Some(1025));
    let err = Engine::builder()
        .ceilings(ceilings)
        .parse(&format!(
            "[policy]\nmax_body_bytes = 1073741824\n{body_rule}"
        ))
        .expect_err("above the ceiling");
    assert!(
        err.render().contains("above the ceiling"),
        "{}",
        err.render()
    );
    // A policy without body rules wants no body at all.
    assert_eq!(Engine::from_str("").unwrap().body_bytes_wanted(), None);
}

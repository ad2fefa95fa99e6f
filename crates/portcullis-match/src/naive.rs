//! Naive references: the specification the fast matchers are tested against.
//!
//! Each is the obvious implementation, a linear scan that is easy to check by
//! reading: property tests (`*_matches_naive`) and fuzz targets compare the
//! fast paths with them, and benches use them as the baseline.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};
use regex_automata::meta;

use crate::{MatchSet, PatternId, PatternKind};

/// The reference for [`IpTable`](crate::IpTable): a list of prefixes,
/// scanned in full on every lookup.
#[derive(Clone, Debug, Default)]
pub struct NaiveIpTable {
    entries: Vec<(IpNet, u32)>,
}

impl NaiveIpTable {
    /// An empty table.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `net` to list `list` (as [`IpTableBuilder::insert`] does:
    /// host bits ignored, IPv4-mapped IPv6 prefixes of /96 or longer taken
    /// as IPv4).
    ///
    /// [`IpTableBuilder::insert`]: crate::IpTableBuilder::insert
    pub fn insert(&mut self, net: IpNet, list: u32) {
        self.entries.push((v4_form_net(net), list));
    }

    /// Every list containing `ip`, ascending, without duplicates.
    /// IPv4-mapped IPv6 addresses are looked up as IPv4.
    #[must_use]
    pub fn lookup(&self, ip: IpAddr) -> Vec<u32> {
        let ip = v4_form(ip);
        let mut lists: Vec<u32> = self
            .entries
            .iter()
            .filter(|(net, _)| net.contains(&ip))
            .map(|&(_, list)| list)
            .collect();
        lists.sort_unstable();
        lists.dedup();
        lists
    }
}

/// The IPv4 address an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`: ten zero bytes, two
/// `0xff` bytes, then the IPv4 address) stands for; any other address as it is.
fn v4_form(ip: IpAddr) -> IpAddr {
    if let IpAddr::V6(v6) = ip {
        let o = v6.octets();
        if o[..10].iter().all(|&b| b == 0) && o[10] == 0xff && o[11] == 0xff {
            return IpAddr::V4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
        }
    }
    ip
}

/// A prefix inside `::ffff:0:0/96` as the IPv4 prefix it stands for; any other as it is.
fn v4_form_net(net: IpNet) -> IpNet {
    match (net, v4_form(net.network())) {
        (IpNet::V6(v6), IpAddr::V4(v4)) if v6.prefix_len() >= 96 => {
            Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(net, IpNet::V4)
        }
        _ => net,
    }
}

/// The reference for [`Scanner`](crate::Scanner): every pattern tried on its
/// own with the `str` methods (and one regex per regex pattern).
#[derive(Clone, Debug, Default)]
pub struct NaiveScanner {
    patterns: Vec<NaivePattern>,
}

#[derive(Clone, Debug)]
struct NaivePattern {
    id: PatternId,
    kind: PatternKind,
    /// ASCII-lowercased when case-insensitive (literal kinds).
    text: String,
    case_insensitive: bool,
    regex: Option<meta::Regex>,
}

impl NaiveScanner {
    /// An empty scanner.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a pattern, with the meaning of [`ScannerBuilder::add`].
    /// Fails on an invalid regex.
    ///
    /// [`ScannerBuilder::add`]: crate::ScannerBuilder::add
    ///
    /// # Errors
    ///
    /// The regex's syntax error, when `kind` is a regex that does not parse.
    pub fn add(
        &mut self,
        id: PatternId,
        kind: PatternKind,
        pattern: &str,
        case_insensitive: bool,
    ) -> Result<(), String> {
        let regex = match kind {
            PatternKind::Regex => Some(
                meta::Regex::builder()
                    .syntax(
                        regex_automata::util::syntax::Config::new()
                            .case_insensitive(case_insensitive)
                            .utf8(false),
                    )
                    .build(pattern)
                    .map_err(|e| e.to_string())?,
            ),
            _ => None,
        };
        let text = if case_insensitive {
            pattern.to_ascii_lowercase()
        } else {
            pattern.to_owned()
        };
        self.patterns.push(NaivePattern {
            id,
            kind,
            text,
            case_insensitive,
            regex,
        });
        Ok(())
    }

    /// Whether pattern `p` matches `haystack` (`lowered` is `haystack` ASCII-lowercased).
    fn matches(p: &NaivePattern, haystack: &str, lowered: &str) -> bool {
        let hay = if p.case_insensitive && p.kind != PatternKind::Regex {
            lowered
        } else {
            haystack
        };
        match (p.kind, &p.regex) {
            (PatternKind::Contains, _) => hay.contains(p.text.as_str()),
            (PatternKind::StartsWith, _) => hay.starts_with(p.text.as_str()),
            (PatternKind::EndsWith, _) => hay.ends_with(p.text.as_str()),
            (PatternKind::Equals, _) => hay == p.text,
            (PatternKind::Regex, Some(re)) => re.is_match(hay),
            (PatternKind::Regex, None) => false,
            (PatternKind::Detect(d), _) => d.run(haystack.as_bytes()),
        }
    }

    /// Sets bit `id` in `out` for every pattern `haystack` satisfies.
    pub fn scan(&self, haystack: &str, out: &mut MatchSet) {
        let lowered = haystack.to_ascii_lowercase();
        for p in &self.patterns {
            if Self::matches(p, haystack, &lowered) {
                out.insert(p.id);
            }
        }
    }
}

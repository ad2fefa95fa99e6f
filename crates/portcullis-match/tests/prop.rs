//! Property tests: the fast matchers against the naive references.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use portcullis_match::{
    Detector, IpTableBuilder, MatchSet, NaiveIpTable, NaiveScanner, PatternId, PatternKind,
    ScannerBuilder,
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------
// IP table

/// A prefix as generated: family, address bits, length, list.
#[derive(Clone, Debug)]
enum Gen {
    V4(u32, u8),
    V6(u128, u8),
    /// An IPv4-mapped IPv6 prefix `::ffff:a.b.c.d/(96 + len)`.
    Mapped(u32, u8),
}

impl Gen {
    fn net(&self) -> IpNet {
        match *self {
            Gen::V4(a, len) => IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), len).unwrap()),
            Gen::V6(a, len) => IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), len).unwrap()),
            Gen::Mapped(a, len) => {
                IpNet::V6(Ipv6Net::new(Ipv4Addr::from(a).to_ipv6_mapped(), 96 + len).unwrap())
            }
        }
    }
}

/// IPv4 addresses clustered in four /4s (so prefixes nest and overlap),
/// with some from anywhere.
fn v4_bits() -> impl Strategy<Value = u32> {
    prop_oneof![
        3 => (0u32..4, any::<u32>()).prop_map(|(c, r)| (c << 28) | (r >> 4 & 0x00ff_f00f)),
        1 => any::<u32>(),
    ]
}

fn v6_bits() -> impl Strategy<Value = u128> {
    prop_oneof![
        3 => (0u128..4, any::<u128>()).prop_map(|(c, r)| (c << 124) | (r & 0xffff_0000_0000_ffff_0000_0000_0000_000f)),
        1 => any::<u128>(),
    ]
}

/// Lengths biased to the interesting ones, all of 0..=max reachable.
fn len(max: u8) -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => max / 4..=max,
        1 => 0..=max,
        1 => Just(max),
    ]
}

fn prefix() -> impl Strategy<Value = Gen> {
    prop_oneof![
        4 => (v4_bits(), len(32)).prop_map(|(a, l)| Gen::V4(a, l)),
        4 => (v6_bits(), len(128)).prop_map(|(a, l)| Gen::V6(a, l)),
        1 => (v4_bits(), len(32)).prop_map(|(a, l)| Gen::Mapped(a, l)),
    ]
}

/// An address inside `net` (host bits from `noise`).
fn inside(net: &IpNet, noise: u128) -> IpAddr {
    match net {
        IpNet::V4(n) => {
            let host = u32::from(n.hostmask()) & noise as u32;
            IpAddr::V4(Ipv4Addr::from(u32::from(n.network()) | host))
        }
        IpNet::V6(n) => {
            let host = u128::from(n.hostmask()) & noise;
            IpAddr::V6(Ipv6Addr::from(u128::from(n.network()) | host))
        }
    }
}

fn check_table(prefixes: &[(Gen, u32)], probes: &[IpAddr]) -> Result<(), TestCaseError> {
    let mut fast = IpTableBuilder::new();
    let mut naive = NaiveIpTable::new();
    for (g, list) in prefixes {
        fast.insert(g.net(), *list);
        naive.insert(g.net(), *list);
    }
    let fast = fast.build();
    for &ip in probes {
        let got: Vec<u32> = fast.lookup(ip).iter().collect();
        prop_assert_eq!(&got, &naive.lookup(ip), "ip {}", ip);
        // The same address IPv4-mapped looks up the same.
        if let IpAddr::V4(v4) = ip {
            let mapped = IpAddr::V6(v4.to_ipv6_mapped());
            let got_mapped: Vec<u32> = fast.lookup(mapped).iter().collect();
            prop_assert_eq!(&got_mapped, &got, "mapped {}", mapped);
        }
        for &list in &got {
            prop_assert!(fast.lookup(ip).contains(list));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn iptable_matches_naive(
        prefixes in prop::collection::vec((prefix(), 0u32..6), 0..60),
        noise in prop::collection::vec(any::<u128>(), 40),
        random_v4 in prop::collection::vec(v4_bits(), 10),
        random_v6 in prop::collection::vec(v6_bits(), 10),
    ) {
        let mut probes: Vec<IpAddr> = Vec::new();
        for (i, (g, _)) in prefixes.iter().enumerate() {
            let net = g.net();
            probes.push(net.network());
            probes.push(net.broadcast());
            probes.push(inside(&net, noise[i % noise.len()]));
        }
        probes.extend(random_v4.into_iter().map(|a| IpAddr::V4(a.into())));
        probes.extend(random_v6.into_iter().map(|a| IpAddr::V6(a.into())));
        check_table(&prefixes, &probes)?;
    }

    /// Many prefixes in few /16s: deep, dense nodes and long runs of leaves.
    #[test]
    fn iptable_dense_matches_naive(
        prefixes in prop::collection::vec(
            ((0u32..2, any::<u16>(), 16u8..=32), 0u32..3), 0..200),
        probes in prop::collection::vec((0u32..2, any::<u16>()), 100),
    ) {
        let prefixes: Vec<(Gen, u32)> = prefixes
            .into_iter()
            .map(|((hi, lo, l), list)| (Gen::V4(0x0a00_0000 | (hi << 16) | u32::from(lo), l), list))
            .collect();
        let probes: Vec<IpAddr> = probes
            .into_iter()
            .map(|(hi, lo)| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (hi << 16) | u32::from(lo))))
            .collect();
        check_table(&prefixes, &probes)?;
    }
}

// ---------------------------------------------------------------------------
// Scanners

/// Literals from a small alphabet so that matches are frequent; a non-ASCII
/// letter whose case ASCII folding must leave alone.
fn literal() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec!["a", "b", "A", "B", "é", "É", "-"]),
        0..4,
    )
    .prop_map(|parts| parts.concat())
}

fn haystack() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec!["a", "b", "A", "B", "é", "É", "-", "ab"]),
        0..10,
    )
    .prop_map(|parts| parts.concat())
}

/// Small valid regexes over the same alphabet, anchors and classes included.
fn regex() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "a", "b", "A", "é", "-", "[ab]", "a+", "b*", "B?", ".", "(a|b)", r"\w", r"\b", "(?:ab)+",
        "[^a]",
    ]);
    (
        any::<bool>(),
        prop::collection::vec(piece, 0..4),
        any::<bool>(),
    )
        .prop_map(|(start, parts, end)| {
            format!(
                "{}{}{}",
                if start { "^" } else { "" },
                parts.concat(),
                if end { "$" } else { "" }
            )
        })
}

fn kind() -> impl Strategy<Value = PatternKind> {
    prop::sample::select(vec![
        PatternKind::Contains,
        PatternKind::StartsWith,
        PatternKind::EndsWith,
        PatternKind::Equals,
        PatternKind::Regex,
    ])
}

fn pattern() -> impl Strategy<Value = (u32, PatternKind, String, bool)> {
    (0u32..24, kind(), any::<bool>(), literal(), regex()).prop_map(|(id, kind, ci, lit, re)| {
        let text = if kind == PatternKind::Regex { re } else { lit };
        (id, kind, text, ci)
    })
}

fn check_scanner(
    patterns: &[(u32, PatternKind, String, bool)],
    haystacks: &[String],
) -> Result<(), TestCaseError> {
    let mut builder = ScannerBuilder::new();
    let mut naive = NaiveScanner::new();
    for (id, kind, text, ci) in patterns {
        builder.add(PatternId::new(*id), *kind, text, *ci);
        naive.add(PatternId::new(*id), *kind, text, *ci).unwrap();
    }
    let scanner = builder.build().unwrap();
    let mut scratch = scanner.scratch();
    let mut got = scanner.match_set();
    let mut want = MatchSet::default();
    for hay in haystacks {
        got.clear();
        want.clear();
        scanner.scan(hay, &mut scratch, &mut got);
        naive.scan(hay, &mut want);
        prop_assert_eq!(
            got.iter().collect::<Vec<_>>(),
            want.iter().collect::<Vec<_>>(),
            "haystack {:?}",
            hay
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn scanner_matches_naive(
        patterns in prop::collection::vec(pattern(), 0..30),
        haystacks in prop::collection::vec(haystack(), 1..20),
    ) {
        check_scanner(&patterns, &haystacks)?;
    }

    /// Literal kinds only, so the literal paths get all the cases.
    #[test]
    fn literal_scanner_matches_naive(
        patterns in prop::collection::vec(
            (0u32..12, kind().prop_filter("literal", |k| *k != PatternKind::Regex), literal(), any::<bool>()),
            0..20),
        haystacks in prop::collection::vec(haystack(), 1..20),
    ) {
        check_scanner(&patterns, &haystacks)?;
    }

    /// One `contains_any` list (one id, all `Contains`, one case rule): the first-match
    /// DFA's case.
    #[test]
    fn contains_any_list_matches_naive(
        literals in prop::collection::vec(literal(), 1..12),
        ci in any::<bool>(),
        haystacks in prop::collection::vec(haystack(), 1..20),
    ) {
        let patterns: Vec<_> = literals
            .into_iter()
            .map(|l| (3, PatternKind::Contains, l, ci))
            .collect();
        check_scanner(&patterns, &haystacks)?;
    }

    /// Haystacks that are the patterns themselves (and their case
    /// variants), so equality and anchoring get hit often.
    #[test]
    fn equals_scanner_matches_naive(
        patterns in prop::collection::vec((0u32..8, kind(), literal(), any::<bool>()), 1..10),
        flips in prop::collection::vec(any::<bool>(), 10),
    ) {
        let patterns: Vec<_> = patterns
            .into_iter()
            .map(|(id, kind, text, ci)| (id, if kind == PatternKind::Regex { PatternKind::Equals } else { kind }, text, ci))
            .collect();
        let haystacks: Vec<String> = patterns
            .iter()
            .zip(&flips)
            .map(|((_, _, text, _), &flip)| if flip { text.to_ascii_uppercase() } else { text.clone() })
            .collect();
        check_scanner(&patterns, &haystacks)?;
    }

    /// Detectors beside literals and regexes, ids shared between them, over text that
    /// is sometimes an injection: a detector's bit is its verdict on the field, however
    /// many patterns share the detector or the id.
    #[test]
    fn detectors_match_naive(
        patterns in prop::collection::vec(
            (0u32..6, prop::sample::select(vec![
                PatternKind::Detect(Detector::Sqli),
                PatternKind::Detect(Detector::Xss),
                PatternKind::Contains,
                PatternKind::Regex,
            ]), prop::sample::select(vec!["'", "or", "<", "^1", "script"])),
            0..10),
        haystacks in prop::collection::vec(
            prop::collection::vec(
                prop::sample::select(vec![
                    "1", "'", " OR ", "=", "<script>", "alert(1)", "<img src=x onerror=", ">",
                    "--", "(", ")", "\"", "a", " ", "union select ", "Mozilla/5.0 ",
                ]),
                0..8,
            ).prop_map(|parts| parts.concat()),
            1..20),
    ) {
        let patterns: Vec<_> = patterns
            .into_iter()
            .map(|(id, kind, text)| (id, kind, text.to_string(), false))
            .collect();
        check_scanner(&patterns, &haystacks)?;
    }
}

//! The full Internet routing table: every prefix of a real BGP table in one
//! list, checked against a sorted-range reference. Skipped (with a note) when
//! the data file is absent; it is never copied into the repository.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use ipnet::IpNet;
use portcullis_match::IpTableBuilder;

fn table_path() -> PathBuf {
    match std::env::var_os("PORTCULLIS_FULL_TABLE") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/ris-full-table-2026-05-11.txt.gz"),
    }
}

fn load(path: &PathBuf) -> Vec<IpNet> {
    let file = std::fs::File::open(path).unwrap();
    let reader = BufReader::new(flate2::read::GzDecoder::new(file));
    reader
        .lines()
        .map(|l| l.unwrap())
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.trim().parse::<IpNet>().unwrap())
        .collect()
}

/// The union of the prefixes as sorted, disjoint, merged ranges: the
/// reference answer to "is this address in any prefix".
struct Ranges<T>(Vec<(T, T)>);

impl<T: Copy + Ord + std::fmt::Debug> Ranges<T> {
    fn new(mut ranges: Vec<(T, T)>, succ: impl Fn(T) -> Option<T>) -> Self {
        ranges.sort_unstable();
        let mut merged: Vec<(T, T)> = Vec::new();
        for (lo, hi) in ranges {
            if let Some(last) = merged.last_mut() {
                if succ(last.1).is_none_or(|next| lo <= next) {
                    last.1 = last.1.max(hi);
                    continue;
                }
            }
            merged.push((lo, hi));
        }
        Ranges(merged)
    }

    fn contains(&self, x: T) -> bool {
        let i = self.0.partition_point(|&(lo, _)| lo <= x);
        i > 0 && self.0[i - 1].1 >= x
    }
}

/// xorshift64*, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn full_routing_table_matches_ranges() {
    let path = table_path();
    if !path.exists() {
        eprintln!(
            "note: {} is absent; full-table test skipped",
            path.display()
        );
        return;
    }
    let nets = load(&path);
    let (v4count, v6count) = (
        nets.iter().filter(|n| matches!(n, IpNet::V4(_))).count(),
        nets.iter().filter(|n| matches!(n, IpNet::V6(_))).count(),
    );
    let start = std::time::Instant::now();
    let table: portcullis_match::IpTable = nets
        .iter()
        .map(|n| (*n, 0))
        .collect::<IpTableBuilder>()
        .build();
    let built_in = start.elapsed();
    let bytes = table.memory_bytes();
    eprintln!(
        "full table: {v4count} IPv4 + {v6count} IPv6 lines, {} distinct prefixes, {bytes} bytes, {:.2} bytes/prefix, built in {built_in:?} (this build profile)",
        table.prefix_count(),
        bytes as f64 / table.prefix_count() as f64,
    );
    eprintln!("{table:?}");

    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for n in &nets {
        match n.trunc() {
            IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()))),
            IpNet::V6(n) => v6.push((u128::from(n.network()), u128::from(n.broadcast()))),
        }
    }
    let v4 = Ranges::new(v4, |x: u32| x.checked_add(1));
    let v6 = Ranges::new(v6, |x: u128| x.checked_add(1));

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut hits = 0;
    let mut check = |ip: IpAddr| {
        let want = match ip {
            IpAddr::V4(a) => v4.contains(u32::from(a)),
            IpAddr::V6(a) => v6.contains(u128::from(a)),
        };
        let got = table.lookup(ip);
        assert_eq!(!got.is_empty(), want, "{ip}");
        assert!(got.is_empty() || got.iter().eq([0]));
        hits += usize::from(want);
    };
    // Random addresses, and addresses drawn from the table: each prefix's
    // first and last address and one inside it, for a sample of prefixes.
    for _ in 0..200_000 {
        check(IpAddr::V4(Ipv4Addr::from(rng.next() as u32)));
        let hi = rng.next();
        // Most random IPv6 addresses are unrouted; keep half in 2000::/3.
        let hi = if hi & 1 == 0 {
            (hi >> 3) | (1 << 61)
        } else {
            hi
        };
        check(IpAddr::V6(Ipv6Addr::from(
            (u128::from(hi) << 64) | u128::from(rng.next()),
        )));
    }
    for _ in 0..200_000 {
        let net = nets[(rng.next() % nets.len() as u64) as usize];
        check(net.network());
        check(net.broadcast());
        let noise = (u128::from(rng.next()) << 64) | u128::from(rng.next());
        let inside = match net {
            IpNet::V4(n) => IpAddr::V4(Ipv4Addr::from(
                u32::from(n.network()) | (u32::from(n.hostmask()) & noise as u32),
            )),
            IpNet::V6(n) => IpAddr::V6(Ipv6Addr::from(
                u128::from(n.network()) | (u128::from(n.hostmask()) & noise),
            )),
        };
        check(inside);
        // Just outside the prefix, on both sides.
        match net {
            IpNet::V4(n) => {
                if let Some(a) = u32::from(n.broadcast()).checked_add(1) {
                    check(IpAddr::V4(a.into()));
                }
                if let Some(a) = u32::from(n.network()).checked_sub(1) {
                    check(IpAddr::V4(a.into()));
                }
            }
            IpNet::V6(n) => {
                if let Some(a) = u128::from(n.broadcast()).checked_add(1) {
                    check(IpAddr::V6(a.into()));
                }
                if let Some(a) = u128::from(n.network()).checked_sub(1) {
                    check(IpAddr::V6(a.into()));
                }
            }
        }
    }
    eprintln!("{hits} of the probes hit");
    assert!(bytes as f64 / (table.prefix_count() as f64) <= 24.0);
}

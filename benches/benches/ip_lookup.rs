//! `ip_lookup`: one IP against every IP list of a policy.
//!
//! Prefix sets of 10k, 100k and the full Internet routing table (all in one
//! list), probed with random addresses and with addresses inside the table.
//! Baselines: a linear scan (10k only), `ip_network_table` and `prefix-trie`
//! (both longest-prefix match, which answers one list; `IpTable` answers the
//! set of all lists).

use std::hint::black_box;
use std::net::IpAddr;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use portcullis_benches::corpus::{self, Rng, TableSource};
use portcullis_benches::note;
use portcullis_match::{IpTable, IpTableBuilder};
use prefix_trie::PrefixMap;

/// Addresses per measured iteration (the linear scan gets fewer).
const PROBES: usize = 10_000;
const LINEAR_PROBES: usize = 100;

struct PrefixTrie {
    v4: PrefixMap<Ipv4Net, u32>,
    v6: PrefixMap<Ipv6Net, u32>,
}

impl PrefixTrie {
    fn new(nets: &[IpNet]) -> Self {
        let mut t = PrefixTrie {
            v4: PrefixMap::new(),
            v6: PrefixMap::new(),
        };
        for net in nets {
            match net.trunc() {
                IpNet::V4(n) => t.v4.insert(n, 0),
                IpNet::V6(n) => t.v6.insert(n, 0),
            };
        }
        t
    }

    #[inline]
    fn lookup(&self, ip: IpAddr) -> Option<u32> {
        match ip {
            IpAddr::V4(a) => self.v4.get_lpm(&Ipv4Net::from(a)).map(|(_, v)| *v),
            IpAddr::V6(a) => self.v6.get_lpm(&Ipv6Net::from(a)).map(|(_, v)| *v),
        }
    }
}

fn network_table(nets: &[IpNet]) -> ip_network_table::IpNetworkTable<u32> {
    let mut t = ip_network_table::IpNetworkTable::new();
    for net in nets {
        let n = match net.trunc() {
            IpNet::V4(n) => ip_network::Ipv4Network::new(n.network(), n.prefix_len())
                .map(ip_network::IpNetwork::V4),
            IpNet::V6(n) => ip_network::Ipv6Network::new(n.network(), n.prefix_len())
                .map(ip_network::IpNetwork::V6),
        };
        t.insert(n.expect("truncated prefixes are valid networks"), 0);
    }
    t
}

/// Every list containing `ip`, as a bitmask: the linear scan an IP list
/// check starts as.
#[inline]
fn linear(nets: &[(IpNet, u32)], ip: IpAddr) -> u64 {
    let mut lists = 0;
    for (net, list) in nets {
        if net.contains(&ip) {
            lists |= 1 << list;
        }
    }
    lists
}

fn ip_lookup(c: &mut Criterion) {
    let (full, source) = corpus::routing_table();
    let mut rng = Rng::new(7);
    let sets = [
        ("10k", corpus::sample_prefixes(&full, 10_000, &mut rng)),
        ("100k", corpus::sample_prefixes(&full, 100_000, &mut rng)),
        ("full", full),
    ];
    for (name, nets) in sets {
        let start = Instant::now();
        let table: IpTable = nets
            .iter()
            .map(|n| (*n, 0))
            .collect::<IpTableBuilder>()
            .build();
        let built = start.elapsed();
        note(format_args!(
            "ip_lookup/{name}: IpTable of {} prefixes ({}): {} bytes, {:.2} bytes/prefix, built in {:.0} ms",
            table.prefix_count(),
            if source == TableSource::Real { "real table" } else { "synthetic table" },
            table.memory_bytes(),
            table.memory_bytes() as f64 / table.prefix_count() as f64,
            built.as_secs_f64() * 1e3,
        ));
        let start = Instant::now();
        let trie = PrefixTrie::new(&nets);
        let trie_built = start.elapsed();
        let start = Instant::now();
        let ipnt = network_table(&nets);
        let ipnt_built = start.elapsed();
        note(format_args!(
            "ip_lookup/{name}: prefix-trie: {:.2} bytes/prefix, built in {:.0} ms; ip_network_table built in {:.0} ms",
            (trie.v4.mem_size() + trie.v6.mem_size()) as f64 / table.prefix_count() as f64,
            trie_built.as_secs_f64() * 1e3,
            ipnt_built.as_secs_f64() * 1e3,
        ));

        let mut probes = vec![
            ("random", corpus::random_addrs(PROBES, &mut rng)),
            ("in-table", corpus::addrs_in(&nets, PROBES, &mut rng)),
        ];
        if name == "full" {
            // The mix above is ~80% IPv4; show each family on its own too.
            let (v4, v6): (Vec<IpNet>, Vec<IpNet>) =
                nets.iter().partition(|n| matches!(n, IpNet::V4(_)));
            probes.push(("in-table-v4", corpus::addrs_in(&v4, PROBES, &mut rng)));
            probes.push(("in-table-v6", corpus::addrs_in(&v6, PROBES, &mut rng)));
        }
        // The baselines must agree with IpTable on every probe.
        for (_, addrs) in &probes {
            for &ip in addrs {
                let hit = !table.lookup(ip).is_empty();
                assert_eq!(
                    hit,
                    trie.lookup(ip).is_some(),
                    "prefix-trie disagrees on {ip}"
                );
                assert_eq!(
                    hit,
                    ipnt.longest_match(ip).is_some(),
                    "ip_network_table disagrees on {ip}"
                );
            }
        }

        let mut group = c.benchmark_group(format!("ip_lookup/{name}"));
        for (kind, addrs) in &probes {
            group.throughput(Throughput::Elements(addrs.len() as u64));
            group.bench_with_input(BenchmarkId::new("portcullis", kind), addrs, |b, addrs| {
                b.iter(|| {
                    let mut hits = 0;
                    for &ip in addrs {
                        hits += table.lookup(black_box(ip)).len();
                    }
                    hits
                })
            });
            group.bench_with_input(BenchmarkId::new("prefix-trie", kind), addrs, |b, addrs| {
                b.iter(|| {
                    let mut hits = 0;
                    for &ip in addrs {
                        hits += usize::from(trie.lookup(black_box(ip)).is_some());
                    }
                    hits
                })
            });
            group.bench_with_input(
                BenchmarkId::new("ip_network_table", kind),
                addrs,
                |b, addrs| {
                    b.iter(|| {
                        let mut hits = 0;
                        for &ip in addrs {
                            hits += usize::from(ipnt.longest_match(black_box(ip)).is_some());
                        }
                        hits
                    })
                },
            );
            if name == "10k" {
                let listed: Vec<(IpNet, u32)> = nets.iter().map(|n| (n.trunc(), 0)).collect();
                let few = &addrs[..LINEAR_PROBES];
                group.throughput(Throughput::Elements(few.len() as u64));
                group.bench_with_input(BenchmarkId::new("linear", kind), few, |b, addrs| {
                    b.iter(|| {
                        let mut hits = 0;
                        for &ip in addrs {
                            hits += linear(&listed, black_box(ip)).count_ones();
                        }
                        hits
                    })
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, ip_lookup);
criterion_main!(benches);

// Temporary exploration harness (not committed).
use std::hint::black_box;
use std::net::IpAddr;
use std::time::Instant;
use portcullis_benches::corpus::{self, Rng};
use portcullis_match::{IpTable, IpTableBuilder};

fn time(table: &IpTable, addrs: &[IpAddr], label: &str) {
    let mut best = f64::MAX;
    for _ in 0..20 {
        let t = Instant::now();
        let mut hits = 0;
        for &ip in addrs { hits += table.lookup(black_box(ip)).len(); }
        black_box(hits);
        best = best.min(t.elapsed().as_secs_f64() * 1e9 / addrs.len() as f64);
    }
    println!("{label}: {best:.1} ns/lookup");
}

fn main() {
    let (full, _) = corpus::routing_table();
    let table: IpTable = full.iter().map(|n| (*n, 0)).collect::<IpTableBuilder>().build();
    let mut rng = Rng::new(3);
    let addrs = corpus::addrs_in(&full, 100_000, &mut rng);
    let v4: Vec<IpAddr> = addrs.iter().copied().filter(|a| a.is_ipv4()).collect();
    let v6: Vec<IpAddr> = addrs.iter().copied().filter(|a| a.is_ipv6()).collect();
    time(&table, &addrs, "in-table mixed");
    time(&table, &v4, "in-table v4");
    time(&table, &v6, "in-table v6");
    let r = corpus::random_addrs(100_000, &mut rng);
    time(&table, &r, "random");
    println!("{table:?}");
}

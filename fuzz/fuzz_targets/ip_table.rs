//! IpTable against a linear scan over the same prefixes.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use arbitrary::Arbitrary;
use ipnet::IpNet;
use libfuzzer_sys::fuzz_target;
use portcullis_match::{IpTableBuilder, NaiveIpTable};

#[derive(Arbitrary, Debug)]
struct Prefix {
    v6: bool,
    addr: u128,
    len: u8,
    list: u8,
}

#[derive(Arbitrary, Debug)]
struct Input {
    prefixes: Vec<Prefix>,
    /// Addresses: near a prefix (an index into it plus noise), or anywhere.
    probes: Vec<(bool, u16, u128, bool)>,
}

fn addr(v6: bool, bits: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(bits))
    } else {
        IpAddr::V4(Ipv4Addr::from(bits as u32))
    }
}

fuzz_target!(|input: Input| {
    if input.prefixes.len() > 2000 {
        return;
    }
    let mut fast = IpTableBuilder::new();
    let mut naive = NaiveIpTable::new();
    let mut nets = Vec::new();
    for p in &input.prefixes {
        let max = if p.v6 { 128 } else { 32 };
        let Ok(net) = IpNet::new(addr(p.v6, p.addr), p.len % (max + 1)) else {
            continue;
        };
        let list = u32::from(p.list % 16);
        fast.insert(net, list);
        naive.insert(net, list);
        nets.push(net);
    }
    let table = fast.build();
    for &(near, index, noise, mapped) in &input.probes {
        let ip = match nets.get(usize::from(index) % nets.len().max(1)) {
            Some(net) if near => match net.network() {
                IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(
                    u32::from(v4) ^ (noise as u32 & (u32::MAX >> net.prefix_len().min(31))),
                )),
                IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(
                    u128::from(v6) ^ (noise & (u128::MAX >> net.prefix_len().min(127))),
                )),
            },
            _ => addr(noise & 1 == 1, noise),
        };
        // An IPv4 address may be asked for in its IPv4-mapped IPv6 form.
        let ip = match (ip, mapped) {
            (IpAddr::V4(v4), true) => IpAddr::V6(v4.to_ipv6_mapped()),
            (ip, _) => ip,
        };
        let got: Vec<u32> = table.lookup(ip).iter().collect();
        assert_eq!(got, naive.lookup(ip), "lookup of {ip}");
    }
});

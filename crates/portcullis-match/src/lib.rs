/*!
Compiled matchers for portcullis: the pieces a compiled policy runs on every
request. This crate knows no rule syntax; `portcullis-decide` turns rules into
calls to it.

# Overview

* [`IpTable`] holds every IP list of a policy, IPv4 and IPv6, in one
  multibit trie (Poptrie-style: popcount-compressed 64-slot nodes below a
  direct-pointing root, list sets pushed to the leaves). One
  [`lookup`](IpTable::lookup) returns the [`ListSet`] of every list that
  contains the address, in a handful of memory loads whatever the number of
  prefixes. Build one with [`IpTableBuilder`].
* [`Scanner`] holds every pattern applied to one request field
  ([`PatternKind`]: contains, starts with, ends with, equals, regex, each
  case-sensitive or not, and the injection detectors of [`Detector`]). One
  [`scan`](Scanner::scan) of the field sets, in a
  [`MatchSet`], the id of every pattern it satisfies: the literals share one
  aho-corasick automaton, the regexes one regex-automata regex, and a regex
  that needs a literal to match runs only when the literal pass saw it.
  Build one with [`ScannerBuilder`], bounded by [`ScanLimits`]; a pattern
  over a limit is a [`ScanError`] naming it.
* [`NaiveIpTable`] and [`NaiveScanner`] are the references: linear scans
  that define what the fast structures must answer. Property tests compare
  the two; benches use them as baselines.

# Example

```
use portcullis_match::{IpTableBuilder, PatternId, PatternKind, ScannerBuilder};

// Two IP lists: 0 = office, 1 = blocklist.
let mut ips = IpTableBuilder::new();
ips.insert("203.0.113.0/24".parse()?, 0);
ips.insert("2001:db8::/32".parse()?, 0);
ips.insert("198.51.100.7/32".parse()?, 1);
let ips = ips.build();
assert!(ips.lookup("203.0.113.9".parse()?).contains(0));
assert!(ips.lookup("::ffff:198.51.100.7".parse()?).contains(1));

// The user-agent patterns of every rule, in one scanner.
let agents = ScannerBuilder::new()
    .add(PatternId::new(0), PatternKind::Contains, "sqlmap", true)
    .add(PatternId::new(1), PatternKind::StartsWith, "curl/", false)
    .add(PatternId::new(2), PatternKind::Regex, r"(?:nikto|nessus)/\d", true)
    .build()?;
let mut scratch = agents.scratch(); // one per thread, reused
let mut hits = agents.match_set();  // reused: clear() between requests
agents.scan("curl/8.5.0 Nessus/10", &mut scratch, &mut hits);
assert_eq!(hits.iter().map(PatternId::as_u32).collect::<Vec<_>>(), [1, 2]);
# Ok::<(), Box<dyn std::error::Error>>(())
```

# Performance and safety

Scanning and lookups allocate nothing once the scratch space is warm
(`tests/alloc.rs` proves it with a counting allocator). Matching is
linear-time: regex-automata never backtracks, so no pattern can make a field
take exponential time, and compiled sizes are bounded by [`ScanLimits`].
The crate has no `unsafe` code.

# Features

None yet: everything is always built.
*/

#![forbid(unsafe_code)]
// The public API says what must not be dropped and what each error means.
#![warn(
    clippy::must_use_candidate,
    clippy::return_self_not_must_use,
    clippy::missing_errors_doc
)]
// Nothing input can reach may panic (tests aside).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![warn(missing_docs, missing_debug_implementations)]

pub mod body;
mod detect;
mod error;
mod iptable;
mod lowered;
mod matchset;
mod naive;
pub mod normalize;
pub mod quickhash;
mod scan;
pub mod transform;

pub use crate::detect::Detector;
pub use crate::error::ScanError;
pub use crate::iptable::{canonical_ip, canonical_net, IpTable, IpTableBuilder, ListSet};
pub use crate::lowered::regex_on_lowered;
pub use crate::matchset::{MatchSet, PatternId, RangeIds};
pub use crate::naive::{NaiveIpTable, NaiveScanner};
pub use crate::scan::{
    CompileCache, PatternKind, ScanLimits, ScanScratch, Scanner, ScannerBuilder,
};

/// Every public type is `Send + Sync` and unwind-safe, checked at compile
/// time: a compiled policy is shared across threads.
#[cfg(test)]
mod testoibits {
    use std::panic::{RefUnwindSafe, UnwindSafe};

    use super::*;

    fn assert_all<T: Send + Sync + UnwindSafe + RefUnwindSafe>() {}

    #[test]
    fn oibits() {
        assert_all::<IpTable>();
        assert_all::<IpTableBuilder>();
        assert_all::<ListSet<'static>>();
        assert_all::<MatchSet>();
        assert_all::<NaiveIpTable>();
        assert_all::<NaiveScanner>();
        assert_all::<PatternId>();
        assert_all::<PatternKind>();
        assert_all::<ScanError>();
        assert_all::<ScanLimits>();
        assert_all::<ScanScratch>();
        assert_all::<Scanner>();
        assert_all::<ScannerBuilder>();
    }
}

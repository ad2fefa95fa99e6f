//! The IP table: every IP list of a policy in one multibit trie.
//!
//! The layout follows Poptrie (Asai & Ohara, SIGCOMM 2015), with list sets in
//! place of next hops:
//!
//! * Each address family has a *direct-pointing* root array indexed by the
//!   top [`ROOT_BITS`] bits of the address ([`LARGE_V4_ROOT_BITS`] for a
//!   large IPv4 table). An entry is either a leaf (a list
//!   set id) or, with [`NODE_FLAG`] set, the index of an internal node.
//! * Below the root, internal nodes consume [`STRIDE`] = 6 bits each, so the
//!   64 slots of a node fit one `u64` bitmap. `children` marks the slots that
//!   hold a child node; children of a node are stored contiguously, so the
//!   child of slot `i` is `child_base + popcount(children below i)`.
//! * All other slots are leaves. Leaves are *pushed*: a leaf holds the set of
//!   every list whose prefix covers the slot (not just the longest match), so
//!   a lookup never backtracks. Runs of equal leaves are stored once:
//!   `leaves` marks the slot that starts each run and the leaf of slot `i` is
//!   `leaf_base + popcount(leaves up to i) - 1`.
//! * Distinct list sets are interned once ([`SetInterner`]); leaves hold a
//!   `u32` set id, and id 0 is the empty set, which most leaves point to.
//!
//! A lookup is one root load plus one node and one popcount per 6 bits below
//! the root, then one leaf load: for a full routing table, a /24 costs the
//! root, one node and the leaf; a /48 five nodes.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net};

/// Bits resolved by the direct-pointing root array of a small table.
const ROOT_BITS: u32 = 16;
/// Bits resolved by the root of a large IPv4 table: /18 to /24 prefixes (most
/// of a routing table) then end in the first node below the root, which saves
/// a dependent load on most lookups for 768 KiB more root.
const LARGE_V4_ROOT_BITS: u32 = 18;
/// IPv4 prefix count from which a table uses [`LARGE_V4_ROOT_BITS`].
const LARGE_V4: usize = 1 << 16;
/// Bits resolved by the root of a large IPv6 table.
const LARGE_V6_ROOT_BITS: u32 = 20;
/// IPv6 prefix count from which a table uses [`LARGE_V6_ROOT_BITS`].
const LARGE_V6: usize = 1 << 16;
/// Bits resolved per internal node (64 slots = one `u64` bitmap).
const STRIDE: u32 = 6;
/// Tag of a root entry that points at an internal node instead of a leaf.
const NODE_FLAG: u32 = 1 << 31;
/// The empty list set.
const EMPTY: u32 = 0;

/// Builds an [`IpTable`] from `(prefix, list)` pairs.
///
/// Insert every prefix of every IP list of a policy, then [`build`] once.
/// Inserting the same prefix into several lists, or the same pair twice, is
/// fine.
///
/// [`build`]: IpTableBuilder::build
///
/// ```
/// use portcullis_match::IpTableBuilder;
///
/// let mut builder = IpTableBuilder::new();
/// builder.insert("10.0.0.0/8".parse()?, 0);
/// builder.insert("10.1.0.0/16".parse()?, 1);
/// let table = builder.build();
///
/// let hit = table.lookup("10.1.2.3".parse()?);
/// assert_eq!(hit.iter().collect::<Vec<_>>(), [0, 1]);
/// assert!(table.lookup("192.0.2.1".parse()?).is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct IpTableBuilder {
    v4: Vec<Entry<u32>>,
    v6: Vec<Entry<u128>>,
}

/// One inserted prefix, left-aligned in its key type, with host bits clear.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Entry<K> {
    addr: K,
    len: u8,
    list: u32,
}

impl IpTableBuilder {
    /// An empty builder.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `net` to list `list`.
    ///
    /// Host bits are ignored (`10.1.2.3/8` is `10.0.0.0/8`). An IPv6 prefix
    /// inside `::ffff:0:0/96` (IPv4-mapped) of length 96 or more is stored as
    /// the IPv4 prefix it maps, since [`IpTable::lookup`] looks IPv4-mapped
    /// addresses up as IPv4.
    ///
    /// List ids are meant to be small and dense (`0..n` for `n` lists), but
    /// any `u32` works.
    pub fn insert(&mut self, net: IpNet, list: u32) {
        match canonical_net(net) {
            IpNet::V4(n) => self.v4.push(Entry {
                addr: u32::from(n.network()),
                len: n.prefix_len(),
                list,
            }),
            IpNet::V6(n) => self.v6.push(Entry {
                addr: u128::from(n.network()),
                len: n.prefix_len(),
                list,
            }),
        }
    }

    /// Number of `(prefix, list)` pairs inserted so far, duplicates included.
    #[must_use]
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Whether nothing was inserted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Compiles the table.
    #[must_use]
    pub fn build(mut self) -> IpTable {
        self.v4.sort_unstable();
        self.v4.dedup();
        self.v6.sort_unstable();
        self.v6.dedup();
        let prefix_count = distinct_prefixes(&self.v4) + distinct_prefixes(&self.v6);
        let mut sets = SetInterner::new();
        let v4_root_bits = if self.v4.len() >= LARGE_V4 {
            LARGE_V4_ROOT_BITS
        } else {
            ROOT_BITS
        };
        let v4 = Trie::build(&self.v4, v4_root_bits, &mut sets);
        let v6_root_bits = if self.v6.len() >= LARGE_V6 {
            LARGE_V6_ROOT_BITS
        } else {
            ROOT_BITS
        };
        let v6 = Trie::build(&self.v6, v6_root_bits, &mut sets);
        IpTable {
            v4,
            v6,
            sets: sets.finish(),
            prefix_count,
        }
    }
}

impl Extend<(IpNet, u32)> for IpTableBuilder {
    fn extend<I: IntoIterator<Item = (IpNet, u32)>>(&mut self, iter: I) {
        for (net, list) in iter {
            self.insert(net, list);
        }
    }
}

impl FromIterator<(IpNet, u32)> for IpTableBuilder {
    fn from_iter<I: IntoIterator<Item = (IpNet, u32)>>(iter: I) -> Self {
        let mut builder = Self::new();
        builder.extend(iter);
        builder
    }
}

/// `net` with host bits cleared, IPv4-mapped IPv6 prefixes (`::ffff:0:0/96` and longer)
/// made IPv4, so they match IPv4 clients: the form every IP list and table holds.
#[must_use]
pub fn canonical_net(net: IpNet) -> IpNet {
    match net.trunc() {
        IpNet::V6(n) if n.prefix_len() >= 96 => match n.network().to_ipv4_mapped() {
            Some(v4) => match Ipv4Net::new(v4, n.prefix_len() - 96) {
                Ok(v4net) => IpNet::V4(v4net),
                Err(_) => IpNet::V6(n),
            },
            None => IpNet::V6(n),
        },
        other => other,
    }
}

/// `ip` with an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) made the IPv4 address it
/// stands for.
#[must_use]
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

fn distinct_prefixes<K: PartialEq>(sorted: &[Entry<K>]) -> usize {
    let mut count = 0;
    let mut prev: Option<(&K, u8)> = None;
    for e in sorted {
        if prev != Some((&e.addr, e.len)) {
            count += 1;
            prev = Some((&e.addr, e.len));
        }
    }
    count
}

/// Every IP list of a policy in one immutable table.
///
/// [`lookup`](IpTable::lookup) returns, in one walk, the [`ListSet`] of every
/// list with a prefix containing the address. Cost does not grow with the
/// number of prefixes or lists: at most 4 memory loads for IPv4.
#[derive(Clone, Default)]
pub struct IpTable {
    v4: Trie,
    v6: Trie,
    sets: SetTable,
    prefix_count: usize,
}

impl IpTable {
    /// A builder; same as [`IpTableBuilder::new`].
    #[must_use]
    pub fn builder() -> IpTableBuilder {
        IpTableBuilder::new()
    }

    /// Every list containing `ip`.
    ///
    /// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is looked up as the
    /// IPv4 address `a.b.c.d`.
    #[inline]
    #[must_use]
    pub fn lookup(&self, ip: IpAddr) -> ListSet<'_> {
        match ip {
            IpAddr::V4(v4) => self.lookup_v4(v4),
            IpAddr::V6(v6) => self.lookup_v6(v6),
        }
    }

    /// Every list containing the IPv4 address `ip`.
    #[inline]
    #[must_use]
    pub fn lookup_v4(&self, ip: Ipv4Addr) -> ListSet<'_> {
        self.sets.get(self.v4.lookup(u32::from(ip)))
    }

    /// Every list containing the IPv6 address `ip` (IPv4-mapped addresses
    /// are looked up as IPv4).
    #[inline]
    #[must_use]
    pub fn lookup_v6(&self, ip: Ipv6Addr) -> ListSet<'_> {
        match ip.to_ipv4_mapped() {
            Some(v4) => self.lookup_v4(v4),
            None => self.sets.get(self.v6.lookup(u128::from(ip))),
        }
    }

    /// Number of distinct prefixes in the table (a prefix in several lists
    /// counts once).
    #[must_use]
    pub fn prefix_count(&self) -> usize {
        self.prefix_count
    }

    /// Number of distinct list sets the leaves point to, the empty set
    /// included.
    #[must_use]
    pub fn list_set_count(&self) -> usize {
        self.sets.spans.len()
    }

    /// Heap bytes held by the table.
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        self.v4.memory_bytes() + self.v6.memory_bytes() + self.sets.memory_bytes()
    }
}

impl fmt::Debug for IpTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpTable")
            .field("prefix_count", &self.prefix_count)
            .field("list_sets", &self.sets.spans.len())
            .field("v4_nodes", &self.v4.nodes.len())
            .field("v6_nodes", &self.v6.nodes.len())
            .field("memory_bytes", &self.memory_bytes())
            .finish()
    }
}

/// The set of lists containing an address: a sorted slice of list ids
/// borrowed from the [`IpTable`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ListSet<'a> {
    lists: &'a [u32],
}

impl<'a> ListSet<'a> {
    /// Whether `list` is in the set.
    #[inline]
    #[must_use]
    pub fn contains(&self, list: u32) -> bool {
        // Sets are almost always tiny; a linear scan beats a binary search.
        if self.lists.len() <= 16 {
            self.lists.contains(&list)
        } else {
            self.lists.binary_search(&list).is_ok()
        }
    }

    /// The list ids, ascending.
    #[inline]
    #[must_use]
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = u32> + ExactSizeIterator + 'a {
        self.lists.iter().copied()
    }

    /// Whether no list contains the address.
    #[inline]
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.lists.is_empty()
    }

    /// Number of lists in the set.
    #[inline]
    #[must_use]
    pub fn len(&self) -> usize {
        self.lists.len()
    }

    /// The list ids, ascending.
    #[inline]
    #[must_use]
    pub fn as_slice(&self) -> &'a [u32] {
        self.lists
    }
}

/// A key type: an address as an unsigned integer, most significant bit
/// first.
trait Key: Copy + Ord + fmt::Debug {
    /// The top `bits` bits (`bits` in 1..=24).
    fn root_index(self, bits: u32) -> usize;
    /// The [`STRIDE`] bits starting at bit `pos` (from the top), padded with
    /// zeros past the end of the address.
    fn chunk(self, pos: u32) -> u32;
}

impl Key for u32 {
    #[inline]
    fn root_index(self, bits: u32) -> usize {
        (self >> (32 - bits)) as usize
    }
    #[inline]
    fn chunk(self, pos: u32) -> u32 {
        self.checked_shl(pos).unwrap_or(0) >> (32 - STRIDE)
    }
}

impl Key for u128 {
    #[inline]
    fn root_index(self, bits: u32) -> usize {
        (self >> (128 - bits)) as usize
    }
    #[inline]
    fn chunk(self, pos: u32) -> u32 {
        (self.checked_shl(pos).unwrap_or(0) >> (128 - STRIDE)) as u32
    }
}

/// One internal node: 64 slots, 24 bytes.
#[derive(Clone, Copy, Debug, Default)]
struct Node {
    /// Bit `i` set: slot `i` holds a child node.
    children: u64,
    /// Bit `i` set: slot `i` is a leaf that starts a run of equal leaves.
    /// Zero when all leaves of the node are one run (common deep in a
    /// table: a long prefix inside a shorter one of the same lists); then
    /// `leaf_base` is that run's set id, which saves the lookup a dependent
    /// load.
    leaves: u64,
    /// Index in `Trie::nodes` of the first child.
    child_base: u32,
    /// Index in `Trie::leaves` of the first leaf run, or the set id of the
    /// only run (see `leaves`).
    leaf_base: u32,
}

/// The trie of one address family.
#[derive(Clone)]
struct Trie {
    /// Bits resolved by `root`.
    root_bits: u32,
    /// `1 << root_bits` entries, or none when the family has no prefix.
    root: Box<[u32]>,
    nodes: Box<[Node]>,
    /// List set ids.
    leaves: Box<[u32]>,
}

impl Default for Trie {
    fn default() -> Self {
        Trie {
            root_bits: ROOT_BITS,
            root: Box::new([]),
            nodes: Box::new([]),
            leaves: Box::new([]),
        }
    }
}

impl Trie {
    #[inline]
    fn lookup<K: Key>(&self, key: K) -> u32 {
        let Some(&entry) = self.root.get(key.root_index(self.root_bits)) else {
            return EMPTY;
        };
        if entry & NODE_FLAG == 0 {
            return entry;
        }
        let mut node_index = (entry & !NODE_FLAG) as usize;
        let mut pos = self.root_bits;
        loop {
            let Some(node) = self.nodes.get(node_index) else {
                return EMPTY;
            };
            // chunk() is < 64, so the shift cannot overflow.
            let bit = 1u64 << (key.chunk(pos) & 63);
            if node.children & bit != 0 {
                let below = (node.children & (bit - 1)).count_ones();
                node_index = node.child_base as usize + below as usize;
                pos += STRIDE;
            } else if node.leaves == 0 {
                return node.leaf_base;
            } else {
                // A leaf slot always has its run start at or before it, so
                // the count is at least 1; wrapping keeps a broken invariant
                // from panicking (get() then misses).
                let runs = (node.leaves & (bit | (bit - 1))).count_ones();
                let index = (node.leaf_base as usize + runs as usize).wrapping_sub(1);
                return self.leaves.get(index).copied().unwrap_or(EMPTY);
            }
        }
    }

    fn memory_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.root)
            + std::mem::size_of_val(&*self.nodes)
            + std::mem::size_of_val(&*self.leaves)
    }

    /// Builds the trie of `entries`, sorted by `(addr, len)`, deduplicated.
    fn build<K: Key>(entries: &[Entry<K>], root_bits: u32, sets: &mut SetInterner) -> Trie {
        if entries.is_empty() {
            return Trie::default();
        }
        let mut root_sets = vec![EMPTY; 1 << root_bits];
        for e in entries.iter().filter(|e| u32::from(e.len) <= root_bits) {
            let span = 1usize << (root_bits - u32::from(e.len));
            for slot in root_sets
                .iter_mut()
                .skip(e.addr.root_index(root_bits))
                .take(span)
            {
                *slot = sets.add(*slot, e.list);
            }
        }
        let mut builder = TrieBuilder {
            nodes: Vec::new(),
            leaves: Vec::new(),
        };
        let mut root = root_sets.clone();
        let deep = move |e: &Entry<K>| u32::from(e.len) > root_bits;
        for group in groups(entries, deep, move |e| e.addr.root_index(root_bits)) {
            let (slot, range) = group;
            let index = builder.nodes.len();
            builder.nodes.push(Node::default());
            let inherited = root_sets.get(slot).copied().unwrap_or(EMPTY);
            builder.build_node(index, &entries[range], root_bits, inherited, sets);
            if let Some(entry) = root.get_mut(slot) {
                *entry = NODE_FLAG | index_u32(index);
            }
        }
        Trie {
            root_bits,
            root: root.into_boxed_slice(),
            nodes: builder.nodes.into_boxed_slice(),
            leaves: builder.leaves.into_boxed_slice(),
        }
    }
}

/// Groups the entries that satisfy `deep` by `slot`. Entries are sorted by
/// address, so every group is one contiguous range; shallower entries between
/// them (which sort before the deeper prefixes they cover) are skipped.
fn groups<K, D, S>(
    entries: &[Entry<K>],
    deep: D,
    slot: S,
) -> impl Iterator<Item = (usize, std::ops::Range<usize>)> + '_
where
    D: Fn(&Entry<K>) -> bool + 'static,
    S: Fn(&Entry<K>) -> usize + 'static,
{
    let mut i = 0;
    std::iter::from_fn(move || {
        while let Some(e) = entries.get(i) {
            if deep(e) {
                let s = slot(e);
                let start = i;
                i += 1;
                // Shallower entries cannot sit between two deep entries of
                // one slot (they would sort before both), so a run of equal
                // slots among deep entries is contiguous.
                while let Some(next) = entries.get(i) {
                    if !deep(next) || slot(next) != s {
                        break;
                    }
                    i += 1;
                }
                return Some((s, start..i));
            }
            i += 1;
        }
        None
    })
}

struct TrieBuilder {
    nodes: Vec<Node>,
    leaves: Vec<u32>,
}

impl TrieBuilder {
    /// Fills node `at` (already allocated) for the bits `pos..pos + STRIDE`
    /// from `entries`: the prefixes longer than `pos` inside the node's
    /// range. `inherited` is the set of the prefixes covering the whole node.
    fn build_node<K: Key>(
        &mut self,
        at: usize,
        entries: &[Entry<K>],
        pos: u32,
        inherited: u32,
        sets: &mut SetInterner,
    ) {
        let end = pos + STRIDE;
        let mut slot_sets = [inherited; 64];
        for e in entries.iter().filter(|e| u32::from(e.len) <= end) {
            let span = 1usize << (end - u32::from(e.len));
            let start = e.addr.chunk(pos) as usize;
            for slot in slot_sets.iter_mut().skip(start).take(span) {
                *slot = sets.add(*slot, e.list);
            }
        }
        let deep = move |e: &Entry<K>| u32::from(e.len) > end;
        let children: Vec<(usize, std::ops::Range<usize>)> =
            groups(entries, deep, move |e| e.addr.chunk(pos) as usize).collect();
        let mut child_bits = 0u64;
        for (slot, _) in &children {
            child_bits |= 1 << slot;
        }
        let leaf_base = self.leaves.len();
        let mut leaf_bits = 0u64;
        let mut last = None;
        for (slot, &set) in slot_sets.iter().enumerate() {
            if child_bits & (1 << slot) != 0 {
                continue;
            }
            if last != Some(set) {
                leaf_bits |= 1 << slot;
                self.leaves.push(set);
                last = Some(set);
            }
        }
        let (leaf_bits, leaf_base) = if leaf_bits.count_ones() == 1 {
            // One run: inline its set id (see `Node::leaves`).
            (0, self.leaves.pop().unwrap_or(EMPTY))
        } else {
            (leaf_bits, index_u32(leaf_base))
        };
        let child_base = self.nodes.len();
        self.nodes
            .resize(child_base + children.len(), Node::default());
        if let Some(node) = self.nodes.get_mut(at) {
            *node = Node {
                children: child_bits,
                leaves: leaf_bits,
                child_base: index_u32(child_base),
                leaf_base,
            };
        }
        for (k, (slot, range)) in children.into_iter().enumerate() {
            let inherited = slot_sets.get(slot).copied().unwrap_or(EMPTY);
            self.build_node(child_base + k, &entries[range], end, inherited, sets);
        }
    }
}

/// A node or leaf index as stored. Four billion nodes would need 96 GiB, so
/// the allocator gives up long before this saturates; saturating keeps the
/// table panic-free (a saturated index misses in `get`).
fn index_u32(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX) & !NODE_FLAG
}

/// Interns list sets while building: set id -> sorted list ids.
struct SetInterner {
    sets: Vec<Box<[u32]>>,
    by_content: HashMap<Box<[u32]>, u32>,
    /// `(set, list) -> set ∪ {list}`, so building a full routing table with
    /// one list costs a hash lookup per slot, not an allocation.
    union_cache: HashMap<(u32, u32), u32>,
}

impl SetInterner {
    fn new() -> Self {
        let empty: Box<[u32]> = Box::new([]);
        let mut by_content = HashMap::new();
        by_content.insert(empty.clone(), EMPTY);
        SetInterner {
            sets: vec![empty],
            by_content,
            union_cache: HashMap::new(),
        }
    }

    fn add(&mut self, set: u32, list: u32) -> u32 {
        if let Some(&id) = self.union_cache.get(&(set, list)) {
            return id;
        }
        let current = self.sets.get(set as usize).map_or(&[][..], |s| &s[..]);
        let id = match current.binary_search(&list) {
            Ok(_) => set,
            Err(at) => {
                let mut lists = Vec::with_capacity(current.len() + 1);
                lists.extend_from_slice(&current[..at]);
                lists.push(list);
                lists.extend_from_slice(&current[at..]);
                let lists = lists.into_boxed_slice();
                match self.by_content.get(&lists) {
                    Some(&id) => id,
                    None => {
                        // Leaf ids share the root entry with NODE_FLAG.
                        let id = index_u32(self.sets.len());
                        self.sets.push(lists.clone());
                        self.by_content.insert(lists, id);
                        id
                    }
                }
            }
        };
        self.union_cache.insert((set, list), id);
        id
    }

    fn finish(self) -> SetTable {
        let mut pool = Vec::new();
        let mut spans = Vec::with_capacity(self.sets.len());
        for set in &self.sets {
            spans.push((index_u32(pool.len()), index_u32(set.len())));
            pool.extend_from_slice(set);
        }
        SetTable {
            pool: pool.into_boxed_slice(),
            spans: spans.into_boxed_slice(),
        }
    }
}

/// The interned list sets: set id -> `(start, len)` in `pool`.
#[derive(Clone, Debug)]
struct SetTable {
    pool: Box<[u32]>,
    spans: Box<[(u32, u32)]>,
}

impl Default for SetTable {
    fn default() -> Self {
        SetTable {
            pool: Box::new([]),
            spans: Box::new([(0, 0)]),
        }
    }
}

impl SetTable {
    #[inline]
    fn get(&self, id: u32) -> ListSet<'_> {
        let lists = match self.spans.get(id as usize) {
            Some(&(start, len)) => {
                let start = start as usize;
                self.pool.get(start..start + len as usize).unwrap_or(&[])
            }
            None => &[],
        };
        ListSet { lists }
    }

    fn memory_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.pool) + std::mem::size_of_val(&*self.spans)
    }
}

#[cfg(test)]
mod tests {
    use ipnet::Ipv6Net;

    use super::*;

    fn table(items: &[(&str, u32)]) -> IpTable {
        items
            .iter()
            .map(|(net, list)| (net.parse().unwrap(), *list))
            .collect::<IpTableBuilder>()
            .build()
    }

    fn lists(table: &IpTable, ip: &str) -> Vec<u32> {
        table.lookup(ip.parse().unwrap()).iter().collect()
    }

    #[test]
    fn empty_table_finds_nothing() {
        let t = IpTableBuilder::new().build();
        assert!(t.lookup("1.2.3.4".parse().unwrap()).is_empty());
        assert!(t.lookup("::1".parse().unwrap()).is_empty());
        assert_eq!(t.prefix_count(), 0);
        assert_eq!(t.memory_bytes(), 8);
    }

    #[test]
    fn nested_prefixes_union_their_lists() {
        let t = table(&[
            ("0.0.0.0/0", 3),
            ("10.0.0.0/8", 0),
            ("10.1.0.0/16", 1),
            ("10.1.2.0/23", 2),
            ("10.1.2.3/32", 4),
        ]);
        assert_eq!(lists(&t, "10.1.2.3"), [0, 1, 2, 3, 4]);
        assert_eq!(lists(&t, "10.1.3.3"), [0, 1, 2, 3]);
        assert_eq!(lists(&t, "10.1.4.3"), [0, 1, 3]);
        assert_eq!(lists(&t, "10.2.0.0"), [0, 3]);
        assert_eq!(lists(&t, "11.0.0.0"), [3]);
        assert!(lists(&t, "2001:db8::1").is_empty());
        assert_eq!(t.prefix_count(), 5);
    }

    #[test]
    fn host_bits_are_truncated() {
        let t = table(&[("192.0.2.77/24", 0), ("2001:db8::1/32", 1)]);
        assert_eq!(lists(&t, "192.0.2.1"), [0]);
        assert_eq!(lists(&t, "2001:db8:ffff::"), [1]);
    }

    #[test]
    fn ipv4_mapped_addresses_and_prefixes_are_ipv4() {
        let t = table(&[
            ("192.0.2.0/24", 0),
            ("::ffff:198.51.100.0/120", 1),
            ("::/0", 2),
        ]);
        assert_eq!(lists(&t, "::ffff:192.0.2.9"), [0]);
        assert_eq!(lists(&t, "198.51.100.7"), [1]);
        assert_eq!(lists(&t, "::ffff:198.51.100.7"), [1]);
        assert_eq!(lists(&t, "2001:db8::"), [2]);
    }

    #[test]
    fn host_routes_at_the_bottom_of_both_families() {
        let t = table(&[
            ("255.255.255.255/32", 0),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", 1),
            ("::/128", 2),
            ("2001:db8::1:0/127", 3),
        ]);
        assert_eq!(lists(&t, "255.255.255.255"), [0]);
        assert!(lists(&t, "255.255.255.254").is_empty());
        assert_eq!(lists(&t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), [1]);
        assert!(lists(&t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe").is_empty());
        assert_eq!(lists(&t, "::"), [2]);
        assert!(lists(&t, "::1").is_empty());
        assert_eq!(lists(&t, "2001:db8::1:1"), [3]);
        assert!(lists(&t, "2001:db8::1:2").is_empty());
    }

    #[test]
    fn large_ipv4_tables_use_the_wider_root() {
        let mut builder = IpTableBuilder::new();
        let mut naive = crate::NaiveIpTable::new();
        let mut add = |net: IpNet, list| {
            builder.insert(net, list);
            naive.insert(net, list);
        };
        for i in 0..(LARGE_V4 as u32 + 100) {
            let net = Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + i * 256), 24).unwrap();
            add(IpNet::V4(net), i % 3);
        }
        add("10.0.0.0/17".parse().unwrap(), 3);
        add("10.0.0.0/19".parse().unwrap(), 4);
        add("10.0.77.5/32".parse().unwrap(), 5);
        add("10.0.77.6/31".parse().unwrap(), 6);
        add("0.0.0.0/1".parse().unwrap(), 7);
        let t = builder.build();
        assert_eq!(t.v4.root_bits, LARGE_V4_ROOT_BITS);
        let mut x = 0x1234_5678u32;
        for i in 0..300u32 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            // Half the probes in 10.0.0.0/15, where the prefixes are.
            let ip = if i % 2 == 0 {
                0x0a00_0000 | (x & 0x1_ffff)
            } else {
                x
            };
            let ip = IpAddr::V4(Ipv4Addr::from(ip));
            assert_eq!(t.lookup(ip).as_slice(), naive.lookup(ip), "{ip}");
        }
        for ip in [
            "10.0.77.5",
            "10.0.77.6",
            "10.0.77.7",
            "10.0.77.8",
            "10.1.17.0",
        ] {
            let ip = ip.parse().unwrap();
            assert_eq!(t.lookup(ip).as_slice(), naive.lookup(ip), "{ip}");
        }
    }

    #[test]
    fn large_ipv6_tables_use_the_wider_root() {
        let mut builder = IpTableBuilder::new();
        let mut naive = crate::NaiveIpTable::new();
        let mut add = |net: IpNet, list| {
            builder.insert(net, list);
            naive.insert(net, list);
        };
        let base = u128::from("2001:db8::".parse::<Ipv6Addr>().unwrap());
        for i in 0..(LARGE_V6 as u128 + 100) {
            // /48s spread over 2001:db8::/32 and beyond, every third one
            // with a /64 inside.
            let addr = base + ((i * 0x1_0003) << 80);
            add(
                IpNet::V6(Ipv6Net::new(Ipv6Addr::from(addr), 48).unwrap()),
                (i % 2) as u32,
            );
            if i % 3 == 0 {
                add(
                    IpNet::V6(Ipv6Net::new(Ipv6Addr::from(addr), 64).unwrap()),
                    2,
                );
            }
        }
        add("2001:db8::/32".parse().unwrap(), 3);
        add("2000::/3".parse().unwrap(), 4);
        let t = builder.build();
        assert_eq!(t.v6.root_bits, LARGE_V6_ROOT_BITS);
        let mut x = 0x1234_5678_9abc_def0u64;
        for i in 0..300u128 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let block = (i * 97 % (LARGE_V6 as u128)) * 0x1_0003;
            let ip = base + (block << 80) + u128::from(((x % 4) << 62) | (x >> 40));
            let ip = IpAddr::V6(Ipv6Addr::from(ip));
            assert_eq!(t.lookup(ip).as_slice(), naive.lookup(ip), "{ip}");
        }
    }

    #[test]
    fn same_prefix_in_several_lists_counts_once() {
        let t = table(&[("10.0.0.0/8", 2), ("10.0.0.0/8", 0), ("10.0.0.0/8", 0)]);
        assert_eq!(lists(&t, "10.9.9.9"), [0, 2]);
        assert_eq!(t.prefix_count(), 1);
        let set = t.lookup("10.9.9.9".parse().unwrap());
        assert!(set.contains(2) && !set.contains(1));
    }
}

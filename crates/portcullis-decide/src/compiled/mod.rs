//! The compiled program: every predicate of every rule becomes a bit, computed by one scan
//! per field (or one IP table lookup), and rules become formulas over those bits.
//!
//! Compilation:
//! - each distinct string-valued term a predicate reads (`path`, `lower(header["x"])`,
//!   `path_segment(1)`…) is a *slot*: computed at most once per request into a reused buffer;
//! - every literal, list, regex and detector predicate on a slot goes into that slot's
//!   `Scanner`, with the predicate's id as pattern id; predicate ids of one slot are
//!   contiguous;
//! - every `ip in <list>` predicate is answered by one `IpTable` holding all IP lists;
//! - the rest (`has`, `len`, `present`, field-to-field comparisons…) are evaluated directly;
//! - each rule gets an *anchor* when its condition implies one of a set of scanned
//!   predicates on one slot. Rules are then found through the bits that are set instead of
//!   being visited one by one, so 10,000 rules cost about what their matches cost.
//!
//! A field is scanned only when the next rule that could match needs it.

use std::collections::HashMap;
use std::net::IpAddr;

use portcullis_match::normalize::PathStyle;
use portcullis_match::{IpTable, MatchSet, ScanScratch, Scanner};
use portcullis_rules::{PredKind, Term, Transform};

mod anchors;
mod body;
mod build;
mod direct;
mod explain;
mod fill;
mod members;
mod memo;
mod profile;
mod repeats;
mod run;
mod select;
mod steps;
mod terms;

pub use profile::{FieldCost, RuleCost};
pub(crate) use run::Run;

/// Where a predicate's value comes from.
/// What a rule adds when it matches: points to scores, labels (by name index).
type Effects = (Box<[(u32, i64)]>, Box<[u32]>);

#[derive(Debug)]
enum Code {
    /// A bit set by the slot's scanner.
    Scan(u32),
    /// A bit set from the IP table lookup.
    Ip,
    /// Evaluated directly; the slots of its left and right string terms (or of the term
    /// inside `len`/`present`), and its quick form when it has one.
    Direct(PredKind, [Option<u32>; 2], Option<direct::Quick>),
    /// `lhs not op rhs`: holds when some value of the slot fails the inner predicate
    /// (`None`: one that never holds), tested value by value.
    SomeNot { slot: u32, inner: Option<u32> },
}

#[derive(Debug)]
enum Formula {
    Const(bool),
    Pred(u32),
    Not(Box<Formula>),
    And(Box<[Formula]>),
    Or(Box<[Formula]>),
}

/// Where an integer operand's value is, found when the program is built.
#[derive(Clone, Copy, Debug)]
enum IntOperand {
    /// `count(x[…])`: its filter's index in `Program::selections`.
    Filter(u32),
    /// `count(headers["a", "b"])`: the bits of its names in `Program::watched`, whose
    /// fields the request's one pass over its headers counted.
    Headers(u64),
    /// A score: its index in `Program::score_names`.
    Score(u32),
}

/// The source of an anchor's bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Source {
    Ip,
    /// Every plain `arg["name"]` slot: filled by one pass over the query string.
    Args,
    Slot(u32),
    /// Every slot of a group: filled in one walk.
    Group(u32),
}

/// The slots computed from one collection (`args`, `url_decode_uni(args)`,
/// `cmd_line(args)`, `lower(cookies[not "_ga"])`…), filled together in one walk over its
/// members: each slot reads the members its selection keeps, or every one.
#[derive(Debug)]
struct Group {
    /// The collection (never selected), or the single field, the group's terms are over.
    of: portcullis_rules::Field,
    /// `of` as a term.
    base: Term,
    slots: Vec<u32>,
    /// Per slot: the functions of its chain, one bit per index in `Transform::ALL`.
    chains: Vec<u64>,
    /// Every function of any chain.
    used: u64,
    /// Per slot: the earlier slot of the group whose term is this one's but for its outer
    /// function, and that function (`lower(url_decode_uni(args))` after
    /// `url_decode_uni(args)`): its value is that slot's with one more function applied.
    /// Slots are ordered by the depth of their chains, so a parent comes first.
    parents: Vec<Option<(usize, portcullis_rules::Transform)>>,
    /// Per slot: its parent's slot when the parent scans the very same patterns (CRS's
    /// `multiMatch` scans one regex after each function of a chain): a member the outer
    /// function leaves alone gives both the same value, so when the parent did not match
    /// it, this one cannot either and is not scanned.
    twin_parents: Vec<Option<u32>>,
    /// Per predicate of the group's slots (from the group's first): the position of its
    /// slot, to give a shared scan's matches to their slots.
    owners: Vec<u16>,
    /// Every pattern of the group's slots (their predicate ids): one scan of a member that
    /// no chain changes serves them all. `None` when fewer than two slots scan, or when
    /// it would not fit the regex limits (each slot then scans alone, as it would anyway).
    merged: Option<Scanner>,
    /// The distinct selections of the slots' collections, by index in
    /// `Program::selections` (at most 63), and whether some slot reads every member: what
    /// the walk admits (see `members::Admit`).
    filters: Vec<u32>,
    all: bool,
    /// Per slot: the bit of its selection in a member's mask (`Admit::ALL`: every member).
    admits: Vec<u64>,
    /// The selections' name tests, each run once per member, when there are several.
    shared: Option<select::SharedTests>,
    /// Whether `of` is read from the body (which is then read first).
    reads_body: bool,
    /// Where every member of `of` comes from, when a request can be seen to lack it.
    origin: Option<members::Origin>,
}

pub(crate) struct Program {
    /// String terms computed per request, with their scanners.
    slots: Vec<Term>,
    /// Per slot, for a function of a single value: its argument's slot and the function.
    single_parents: Vec<Option<(u32, Transform)>>,
    /// Per slot: whether a predicate reads its values (not only its scanner's bits); a
    /// remembered member's values are copied into these slots alone.
    kept: Vec<bool>,
    scanners: Vec<Option<Scanner>>,
    /// Bytes the scanners' regexes hold, within `max_regex_bytes`.
    pub(crate) regex_bytes: usize,
    codes: Vec<Code>,
    /// Each rule's condition, as a tree (to explain it) and as steps (to evaluate it).
    formulas: Vec<Formula>,
    steps: steps::Steps,
    ip_table: Option<IpTable>,
    /// For each IP list id: the predicates true when the address is in it.
    ip_list_preds: Vec<Vec<u32>>,
    /// Predicate ids of each slot (contiguous) and of the IP predicates.
    slot_preds: Vec<(u32, u32)>,
    ip_preds: (u32, u32),
    /// Predicate ids of all `arg` slots (contiguous).
    arg_preds: (u32, u32),
    /// For each predicate: the rules it anchors (ascending; empty for most).
    anchored: Vec<Box<[u32]>>,
    /// Rules without an anchor: always candidates.
    unanchored: Vec<u64>,
    /// Sources in order of the first rule they anchor: scanned when the walk reaches it.
    pending: Vec<(u32, Source)>,
    /// String sets for `has_any`, and whether they are case-insensitive (then lowercased).
    sets: HashMap<u32, (bool, std::collections::HashSet<String>)>,
    /// Groups of slots over one collection or single field, and each slot's group.
    groups: Vec<Group>,
    /// Predicate ids of each group's slots (contiguous).
    group_preds: Vec<(u32, u32)>,
    /// The headers groups are read from alone, or counted by name.
    watched: members::WatchedHeaders,
    /// The selections of selected collections, compiled.
    selections: select::Selections,
    /// Per predicate, what each integer side reads, looked up once when the program is
    /// built.
    int_operands: Vec<[Option<IntOperand>; 2]>,
    slot_group: Vec<Option<u32>>,
    /// Per slot of a group over a selected collection: its selection's place in the
    /// group's `filters` (its values are the members that filter keeps).
    slot_filter: Vec<Option<u8>>,
    /// Slots holding a plain `arg["name"]`, sorted by name: filled together in one pass
    /// over the query string.
    arg_slots: Vec<(String, Vec<u32>)>,
    /// The slot of `path`, when any rule reads it or a segment of it.
    path_slot: Option<u32>,
    /// How `path` is normalised.
    path_style: PathStyle,
    /// How bodies are read, and whether any rule reads one.
    body: body::BodyPolicy,
    pub(crate) reads_body: bool,
    /// Whether any rule reads the application's response.
    pub(crate) reads_response: bool,
    /// Score and label names, sorted (a request's tally is indexed by them), and what each
    /// rule adds when it matches.
    score_names: Vec<String>,
    label_names: Vec<String>,
    effects: Vec<Effects>,
    rule_count: usize,
    id: u64,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("slots", &self.slots.len())
            .field("predicates", &self.codes.len())
            .finish_non_exhaustive()
    }
}

/// Reusable per-thread state for evaluating one program.
pub struct Scratch {
    program: u64,
    bits: MatchSet,
    /// Per slot, the scratch of its scanner (`None`: the slot has no scanner).
    scan: Vec<Option<ScanScratch>>,
    /// Per slot outside a group: 0 not computed, 1 absent, 2 present (and scanned when it
    /// has a scanner).
    state: Vec<u8>,
    /// The same per group, for all its slots: a fill sets one byte, not one per chain.
    group_state: Vec<u8>,
    /// Per slot: its values, one after the other (one value, except for a term on an
    /// argument repeated in the query), and where each one is in it.
    values: Vec<String>,
    ranges: Vec<Vec<(u32, u32)>>,
    tmp: String,
    tmp2: String,
    /// One argument value, decoded, while terms over it are computed.
    arg: String,
    /// One value of an argument-based term, before it joins its slot.
    one: String,
    /// Holds one side of a comparison; never written by slot computation.
    held: String,
    /// A decoding function's bytes before they join their value.
    bytes: Vec<u8>,
    /// The matches of one value scanned alone (`SomeNot`): room for every predicate id,
    /// never cleared but for the one bit read.
    one_hits: MatchSet,
    /// Per group: the merged scanner's scratch, and the matches of one member.
    group_scan: Vec<Option<ScanScratch>>,
    group_hits: Vec<MatchSet>,
    /// Per group: the members of its walk, which its slots' unchanged values are.
    repeats: Vec<repeats::Repeats>,
    /// Per group: its slots holding values of its last walk (emptied when the next walk
    /// has a member; the others are empty already).
    written: Vec<Vec<u32>>,
    /// Group members of earlier requests, with their values and matches.
    memo: memo::Memo,
    /// The matches of the group member being walked, apart from the other members'.
    member_hits: MatchSet,
    ip_done: bool,
    args_done: bool,
    body_done: bool,
    body: portcullis_match::body::BodyArgs,
    body_facts: body::BodyFacts,
    headers: members::HeaderFields,
    /// How many fields of each of `Program::watched` the request has, once asked.
    watched: Option<[u32; 64]>,
    /// The request's scores and labels so far, by name index.
    scores: Vec<i64>,
    labels: Vec<bool>,
    candidates: Vec<u64>,
    next_pending: usize,
}

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scratch").finish_non_exhaustive()
    }
}

impl Program {
    /// Looks an address up only to bring the table's lines into the cache.
    pub(crate) fn touch_ip(&self, ip: IpAddr) {
        if let Some(t) = &self.ip_table {
            std::hint::black_box(t.lookup(ip));
        }
    }

    /// Fresh scratch space for this program.
    pub(crate) fn scratch(&self) -> Scratch {
        Scratch {
            program: self.id,
            bits: MatchSet::new(self.codes.len()),
            scan: self
                .scanners
                .iter()
                .map(|s| s.as_ref().map(Scanner::scratch))
                .collect(),
            state: vec![0; self.slots.len()],
            group_state: vec![0; self.groups.len()],
            values: vec![String::new(); self.slots.len()],
            ranges: vec![Vec::new(); self.slots.len()],
            tmp: String::new(),
            tmp2: String::new(),
            arg: String::new(),
            one: String::new(),
            held: String::new(),
            one_hits: MatchSet::new(self.codes.len()),
            member_hits: MatchSet::new(self.codes.len()),
            group_scan: self
                .groups
                .iter()
                .map(|g| g.merged.as_ref().map(Scanner::scratch))
                .collect(),
            group_hits: self
                .groups
                .iter()
                .map(|g| {
                    g.merged
                        .as_ref()
                        .map_or_else(|| MatchSet::new(0), Scanner::match_set)
                })
                .collect(),
            written: vec![Vec::new(); self.groups.len()],
            repeats: self
                .groups
                .iter()
                .map(|_| repeats::Repeats::default())
                .collect(),
            bytes: Vec::new(),
            memo: memo::Memo::default(),
            ip_done: false,
            args_done: false,
            body_done: false,
            body: portcullis_match::body::BodyArgs::new(),
            body_facts: body::BodyFacts::default(),
            headers: members::HeaderFields::default(),
            watched: None,
            scores: vec![0; self.score_names.len()],
            labels: vec![false; self.label_names.len()],
            candidates: vec![0; self.unanchored.len()],
            next_pending: 0,
        }
    }

    /// Whether `s` was made for this program.
    pub(crate) fn owns(&self, s: &Scratch) -> bool {
        s.program == self.id
    }

    /// Prepares scratch for a new request.
    pub(crate) fn reset(&self, s: &mut Scratch) {
        if s.program != self.id {
            *s = self.scratch();
        }
        s.bits.clear();
        // An empty slice would still cost a call to memset.
        if !s.state.is_empty() {
            s.state.fill(0);
        }
        if !s.group_state.is_empty() {
            s.group_state.fill(0);
        }
        s.ip_done = false;
        s.args_done = false;
        s.body_done = false;
        s.headers.reset();
        s.watched = None;
        if !s.scores.is_empty() {
            s.scores.fill(0);
        }
        if !s.labels.is_empty() {
            s.labels.fill(false);
        }
        s.candidates.copy_from_slice(&self.unanchored);
        s.next_pending = 0;
    }
}

//! Walking a collection's members (`args`, `headers`, `cookies`, body fields…): their
//! values, their count, their names.

use portcullis_match::body::ArgKind;
use portcullis_match::normalize;
use portcullis_rules::Field;

use crate::request::Request;

use super::select::{Selections, SharedTests};
use super::{Run, Scratch};

/// A request's header fields, decoded once for every walk over them (CRS walks them in
/// four groups and counts them six times a request): each name lowercased, each value as
/// text (bytes that are not UTF-8 replaced).
#[derive(Default)]
pub(super) struct HeaderFields {
    read: bool,
    text: String,
    /// Per field: where its name ends and where its value ends in `text` (each name starts
    /// where the field before ended).
    ends: Vec<(u32, u32)>,
}

impl HeaderFields {
    /// Forgets the fields of the request before.
    pub(super) fn reset(&mut self) {
        self.read = false;
    }

    /// The request's fields, (lowercased name, value), in order.
    pub(super) fn of<'h>(
        &'h mut self,
        req: &Request<'_>,
    ) -> impl Iterator<Item = (&'h str, &'h str)> + 'h {
        if !self.read {
            self.read = true;
            self.text.clear();
            self.ends.clear();
            let (text, ends) = (&mut self.text, &mut self.ends);
            // Offsets fit: header bytes are bounded by `max_header_bytes` before a rule
            // runs; past `u32::MAX` a slice would read as empty, never panic.
            let at = |t: &String| u32::try_from(t.len()).unwrap_or(u32::MAX);
            req.headers.for_all(&mut |n, v| {
                let start = text.len();
                text.push_str(n);
                if let Some(name) = text.get_mut(start..) {
                    name.make_ascii_lowercase();
                }
                let name_end = at(text);
                normalize::push_bytes_lossy(v, text);
                ends.push((name_end, at(text)));
            });
        }
        let text = &self.text;
        let mut start = 0usize;
        self.ends.iter().map(move |&(n, v)| {
            let name = text.get(start..n as usize).unwrap_or_default();
            let value = text.get(n as usize..v as usize).unwrap_or_default();
            start = v as usize;
            (name, value)
        })
    }
}

/// Where every member of a collection (or a single field) comes from, when a request can
/// be seen to lack it at a glance: its group then has no member, known without a walk.
#[derive(Clone, Copy, Debug)]
pub(super) enum Origin {
    /// One header (a bit of `Program::watched`): `header["referer"]`, the cookies.
    Header(u8),
    /// The body's parsed members (files, multipart headers, XML, form fields).
    Body,
}

impl Origin {
    /// The origin of field `of`'s members, its header watched from now on.
    pub(super) fn of(of: &Field, watched: &mut WatchedHeaders) -> Option<Origin> {
        let name = match of.selected().0 {
            Field::Header(name) => name,
            Field::UserAgent => "user-agent",
            Field::Cookie(_) | Field::Cookies | Field::CookieNames => "cookie",
            Field::Files
            | Field::FileFields
            | Field::PartHeaders
            | Field::XmlText
            | Field::XmlAttrs
            | Field::BodyArgs
            | Field::BodyArgNames => return Some(Origin::Body),
            _ => return None,
        };
        watched.watch(name).map(Origin::Header)
    }
}

/// The headers groups are read from alone, and those counted by name
/// (`count(headers["host"])`), up to 64: how many fields of each a request has is found
/// in one pass over its fields.
#[derive(Debug, Default)]
pub(super) struct WatchedHeaders {
    /// Lowercase.
    names: Vec<String>,
    /// Per name length (the last entry: that length or more), the names of it as bits.
    by_len: [u64; 32],
}

impl WatchedHeaders {
    /// The bit of header `name` (any case), watched from now on; `None` past 64 names.
    pub(super) fn watch(&mut self, name: &str) -> Option<u8> {
        let name = name.to_ascii_lowercase();
        let k = match self.names.iter().position(|n| *n == name) {
            Some(k) => k,
            None if self.names.len() < 64 => {
                let k = self.names.len();
                if let Some(m) = self.by_len.get_mut(name.len().min(31)) {
                    *m |= 1 << k;
                }
                self.names.push(name);
                k
            }
            None => return None,
        };
        u8::try_from(k).ok()
    }

    /// How many fields of each watched header `req` has.
    fn count(&self, req: &Request<'_>) -> [u32; 64] {
        let mut counts = [0u32; 64];
        req.headers.for_all(&mut |n, _| {
            let mut m = self.by_len.get(n.len().min(31)).copied().unwrap_or(0);
            while m != 0 {
                let k = m.trailing_zeros() as usize;
                m &= m - 1;
                if let (Some(w), Some(c)) = (self.names.get(k), counts.get_mut(k)) {
                    if w.eq_ignore_ascii_case(n) {
                        *c = c.saturating_add(1);
                    }
                }
            }
        });
        counts
    }
}

impl Run<'_, '_> {
    /// How many fields of each watched header the request has (counted once a request).
    fn watched(&mut self) -> &[u32; 64] {
        let (req, watched) = (self.req, &self.program.watched);
        self.scratch
            .watched
            .get_or_insert_with(|| watched.count(req))
    }

    /// Whether the request lacks `origin`, so a field from it has no member.
    pub(super) fn lacks(&mut self, origin: Origin) -> bool {
        match origin {
            Origin::Header(bit) => self.watched().get(bit as usize).is_none_or(|&n| n == 0),
            Origin::Body => self.req.body.is_none_or(<[u8]>::is_empty),
        }
    }

    /// How many fields of the watched headers `mask` the request has.
    pub(super) fn count_watched(&mut self, mask: u64) -> i64 {
        let counts = self.watched();
        let mut m = mask;
        let mut n = 0i64;
        while m != 0 {
            n += i64::from(
                counts
                    .get(m.trailing_zeros() as usize)
                    .copied()
                    .unwrap_or(0),
            );
            m &= m - 1;
        }
        n
    }
}

/// Which members a walk gives, by name, and which of its readers each is for: a group's
/// slots over one collection may each read a selection of their own (CRS excludes other
/// cookies for each rule), and one walk serves them all.
#[derive(Clone, Copy)]
pub(super) struct Admit<'p> {
    /// Where the filters are.
    pub(super) selections: &'p Selections,
    /// The selections' filters, by index in `selections`: bit `j` of a member's mask says
    /// whether `filters[j]` keeps it (at most 63 of them).
    pub(super) filters: &'p [u32],
    /// Whether some reader takes every member (bit [`Admit::ALL`] of every mask).
    pub(super) all: bool,
    /// The filters' tests, each run once (see [`SharedTests`]), when they were shared.
    pub(super) shared: Option<&'p SharedTests>,
}

impl Admit<'_> {
    /// The bit of a reader that takes every member.
    pub(super) const ALL: u64 = 1 << 63;

    /// The mask of the readers a member named `name` is for (0: none, skipped).
    fn mask(&self, name: &str) -> u64 {
        let mut mask = if self.all { Admit::ALL } else { 0 };
        if let Some(shared) = self.shared {
            return mask | shared.mask(self.selections, name);
        }
        for (j, &f) in self.filters.iter().enumerate().take(63) {
            if self.selections.get(Some(f)).is_some_and(|f| f.keeps(name)) {
                mask |= 1 << j;
            }
        }
        mask
    }

    /// Whether members must be named to be admitted (some reader has a filter).
    fn by_name(&self) -> bool {
        !self.filters.is_empty()
    }
}

/// Calls `each` with every member of collection `of` that `admit` admits, in order, and
/// the mask of the readers it is for: the query's arguments, then the body's (or their
/// names, or the body's file names or their form fields); every header field's value (or
/// lowercased name); every cookie's value (or name). `line` and `arg` are scratch.
#[allow(clippy::too_many_arguments)] // one walk shared by every caller, over split borrows
pub(super) fn for_members(
    req: &Request<'_>,
    of: &Field,
    admit: Admit<'_>,
    query: &str,
    body: &portcullis_match::body::BodyArgs,
    headers: &mut HeaderFields,
    line: &mut String,
    arg: &mut String,
    each: &mut dyn FnMut(&str, u64),
) {
    let (of, _) = of.selected();
    match of {
        Field::Headers | Field::HeaderNames => {
            for (n, v) in headers.of(req) {
                let mask = admit.mask(n);
                if mask != 0 {
                    each(if *of == Field::HeaderNames { n } else { v }, mask);
                }
            }
        }
        Field::Cookies | Field::CookieNames => {
            req.headers.for_each("cookie", &mut |v| {
                line.clear();
                normalize::push_bytes_lossy(v, line);
                for (name, value) in normalize::cookies(line) {
                    let mask = admit.mask(name);
                    if mask == 0 {
                        continue;
                    }
                    arg.clear();
                    arg.push_str(if *of == Field::CookieNames {
                        name
                    } else {
                        value
                    });
                    each(arg, mask);
                }
            });
        }
        _ => {
            let names = matches!(
                of,
                Field::ArgNames | Field::QueryArgNames | Field::BodyArgNames | Field::FileFields
            );
            let query_too = matches!(
                of,
                Field::Args | Field::ArgNames | Field::QueryArgs | Field::QueryArgNames
            );
            if query_too {
                for pair in query.split('&').filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    arg.clear();
                    let mask = if names {
                        normalize::percent_decode_into(k, true, arg);
                        admit.mask(arg)
                    } else if admit.by_name() {
                        line.clear();
                        normalize::percent_decode_into(k, true, line);
                        let mask = admit.mask(line);
                        if mask != 0 {
                            normalize::percent_decode_into(v, true, arg);
                        }
                        mask
                    } else {
                        normalize::percent_decode_into(v, true, arg);
                        Admit::ALL
                    };
                    if mask != 0 {
                        each(arg, mask);
                    }
                }
            }
            let want = match of {
                Field::Files | Field::FileFields => ArgKind::File,
                Field::PartHeaders => ArgKind::PartHeader,
                Field::XmlText => ArgKind::XmlText,
                Field::XmlAttrs => ArgKind::XmlAttr,
                Field::QueryArgs | Field::QueryArgNames => return,
                _ => ArgKind::Field,
            };
            for (kind, n, v) in body.iter() {
                if kind != want {
                    continue;
                }
                let mask = admit.mask(n);
                if mask != 0 {
                    arg.clear();
                    arg.push_str(if names { n } else { v });
                    each(arg, mask);
                }
            }
        }
    }
}

impl Run<'_, '_> {
    /// Calls `each` with every member of collection `of` (after its selection).
    pub(super) fn walk(&mut self, of: &Field, each: &mut dyn FnMut(&str)) {
        let filter = self.program.selections.index_of(of);
        self.walk_with(of, filter, each);
    }

    /// [`Run::walk`], the selection's filter being at `filter` in the program's selections.
    fn walk_with(&mut self, of: &Field, filter: Option<u32>, each: &mut dyn FnMut(&str)) {
        let target = self.target_for(of);
        let filter = filter.as_slice();
        let admit = Admit {
            selections: &self.program.selections,
            filters: filter,
            all: filter.is_empty(),
            shared: None,
        };
        let Scratch {
            body,
            headers,
            tmp,
            arg,
            ..
        } = &mut *self.scratch;
        for_members(
            self.req,
            of,
            admit,
            target.query,
            body,
            headers,
            tmp,
            arg,
            &mut |member, _| each(member),
        );
    }

    /// How many members collection `of` has (after its selection, whose filter is at
    /// `filter` in the program's selections), for `count(of)`.
    pub(super) fn count(&mut self, of: &Field, filter: Option<u32>) -> i64 {
        let mut n = 0i64;
        self.walk_with(of, filter, &mut |_| n += 1);
        n
    }

    /// The names of a collection's members (those its selection keeps), in the order
    /// its group's walk gives its values.
    pub(super) fn member_names(&mut self, of: &Field) -> Vec<String> {
        let mut names = Vec::new();
        let req = self.req;
        let filter = self.program.selections.of(of);
        let keeps = |name: &str| filter.is_none_or(|f| f.keeps(name));
        let (of, _) = of.selected();
        match of {
            Field::Headers | Field::HeaderNames => {
                req.headers.for_all(&mut |n, _| {
                    if keeps(n) {
                        names.push(n.to_string());
                    }
                });
            }
            Field::Cookies | Field::CookieNames => {
                let mut line = String::new();
                req.headers.for_each("cookie", &mut |v| {
                    line.clear();
                    normalize::push_bytes_lossy(v, &mut line);
                    names.extend(
                        normalize::cookies(&line)
                            .map(|(n, _)| n)
                            .filter(|n| keeps(n))
                            .map(str::to_string),
                    );
                });
            }
            _ => {
                let target = self.target_for(of);
                if matches!(
                    of,
                    Field::Args | Field::ArgNames | Field::QueryArgs | Field::QueryArgNames
                ) {
                    for pair in target.query.split('&').filter(|p| !p.is_empty()) {
                        let (k, _) = pair.split_once('=').unwrap_or((pair, ""));
                        let mut name = String::new();
                        normalize::percent_decode_into(k, true, &mut name);
                        if keeps(&name) {
                            names.push(name);
                        }
                    }
                }
                let want = match of {
                    Field::Files | Field::FileFields => Some(ArgKind::File),
                    Field::PartHeaders => Some(ArgKind::PartHeader),
                    Field::XmlText => Some(ArgKind::XmlText),
                    Field::XmlAttrs => Some(ArgKind::XmlAttr),
                    Field::QueryArgs | Field::QueryArgNames => None,
                    _ => Some(ArgKind::Field),
                };
                for (kind, n, _) in self.scratch.body.iter() {
                    if Some(kind) == want && keeps(n) {
                        names.push(n.to_string());
                    }
                }
            }
        }
        names
    }
}

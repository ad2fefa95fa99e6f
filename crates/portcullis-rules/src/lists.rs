//! Named lists (`[lists]`): IP ranges, exact strings, substrings and regexes.

use ipnet::IpNet;
use std::net::IpAddr;

use crate::source::Span;

/// What a list holds and which operators take it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListKind {
    /// IP addresses and CIDRs (`ip in $list`).
    Ip,
    /// Exact strings (`in`, `has_any`).
    String,
    /// Substrings (`contains_any`, `starts_with_any`, `ends_with_any`).
    Pattern,
    /// Regexes (`matches_any`).
    Regex,
}

impl ListKind {
    /// The name used in rule files.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            ListKind::Ip => "ip",
            ListKind::String => "string",
            ListKind::Pattern => "pattern",
            ListKind::Regex => "regex",
        }
    }
}

/// The entries of a list.
#[derive(Clone, Debug, PartialEq)]
pub enum ListItems {
    /// Networks, normalised: host bits cleared, IPv4-mapped IPv6 stored as IPv4.
    Ip(Vec<IpNet>),
    /// Strings, patterns or regexes, as written.
    Str(Vec<String>),
}

/// A declared list, or an anonymous one made from an inline `{…}` set.
#[derive(Clone, Debug, PartialEq)]
pub struct List {
    /// `name` from `[lists]`, or the set's source text.
    pub name: String,
    /// What it holds.
    pub kind: ListKind,
    /// ASCII case-insensitive matching (`case = "insensitive"`).
    pub case_insensitive: bool,
    /// The entries.
    pub items: ListItems,
    /// Where it was declared.
    pub span: Span,
    /// Made from an inline set.
    pub anonymous: bool,
}

impl List {
    /// Number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        match &self.items {
            ListItems::Ip(v) => v.len(),
            ListItems::Str(v) => v.len(),
        }
    }

    /// Whether the list has no entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Parses an address or CIDR into a normalised network: host bits cleared, IPv4-mapped IPv6
/// (`::ffff:0:0/96` and longer) stored as IPv4 so it matches IPv4 clients.
///
/// # Errors
///
/// A message saying what is wrong: an address that does not parse, or a prefix length
/// out of range for its family.
pub fn parse_net(s: &str) -> Result<IpNet, String> {
    let net = if let Some((addr, len)) = s.split_once('/') {
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{addr}` is not a valid IP address"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let len: u8 = match len.parse() {
            Ok(n) if n <= max => n,
            _ => {
                return Err(format!(
                    "`/{len}` is not a valid prefix length for {} (0 to {max})",
                    if ip.is_ipv4() { "IPv4" } else { "IPv6" }
                ))
            }
        };
        IpNet::new(ip, len).map_err(|e| e.to_string())?
    } else {
        let ip: IpAddr = s
            .parse()
            .map_err(|_| format!("`{s}` is not a valid IP address or CIDR"))?;
        IpNet::from(ip)
    };
    Ok(portcullis_match::canonical_net(net))
}

/// Splits a list file into entries: one a line, `#` comment lines and blank lines skipped,
/// CRLF tolerated, surrounding whitespace trimmed. Returns each entry with its byte range.
pub(crate) fn list_file_entries(text: &str) -> Vec<(&str, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if !trimmed.is_empty() && !trimmed.starts_with('#') {
            let lead = line.len() - line.trim_start().len();
            out.push((trimmed, offset + lead..offset + lead + trimmed.len()));
        }
        offset += line.len();
    }
    out
}

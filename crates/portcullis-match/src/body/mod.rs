//! Request bodies as arguments: `application/x-www-form-urlencoded`, `application/json`
//! (nested objects and arrays flattened into named arguments), `multipart/form-data`
//! (fields, file names, part headers) and XML (the text and the attributes), read into
//! reused buffers under [`BodyLimits`].
//!
//! A body that could not be read whole is never silent: [`BodyArgs::error`] says what was
//! wrong (malformed JSON, a bad multipart boundary…) and [`BodyArgs::truncated`] that a
//! limit cut the inspection short; a malformed body gives no arguments at all, so what a
//! rule sees never depends on how far a parser got. `portcullis-decide`'s naive reference
//! reads bodies again, plainly, and the two are property-tested against each other.

mod form;
mod json;
mod multipart;
mod xml;

use std::fmt;

/// How much of a body is inspected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyLimits {
    /// Bytes read; past them the body is inspected up to there and marked truncated.
    pub max_bytes: usize,
    /// Nesting of JSON objects and arrays, or of XML elements; deeper is an error.
    pub max_depth: usize,
    /// Arguments kept; past them the rest is dropped and the body marked truncated.
    pub max_args: usize,
    /// Multipart parts read; past them the rest is dropped and the body marked truncated.
    pub max_parts: usize,
}

impl Default for BodyLimits {
    fn default() -> BodyLimits {
        BodyLimits {
            max_bytes: 128 * 1024,
            max_depth: 32,
            max_args: 1_000,
            max_parts: 100,
        }
    }
}

/// Which processor a content type selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// `application/x-www-form-urlencoded`.
    Form,
    /// `application/json`, or any `…/…+json`.
    Json,
    /// `multipart/form-data`.
    Multipart,
    /// `application/xml`, `text/xml`, or any `…/…+xml` (`application/soap+xml`).
    Xml,
}

impl BodyKind {
    /// The processor for a `Content-Type` value, and the multipart boundary; `None` for a
    /// type no processor reads.
    #[must_use]
    pub fn of(content_type: &str) -> Option<(BodyKind, Option<&str>)> {
        let mut params = content_type.split(';');
        let media = params.next().unwrap_or_default().trim();
        let kind = if media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            BodyKind::Form
        } else if media.eq_ignore_ascii_case("application/json")
            || (media.contains('/')
                && media.len() > 5
                && media
                    .get(media.len() - 5..)
                    .is_some_and(|s| s.eq_ignore_ascii_case("+json")))
        {
            BodyKind::Json
        } else if media.eq_ignore_ascii_case("multipart/form-data") {
            BodyKind::Multipart
        } else if media.eq_ignore_ascii_case("application/xml")
            || media.eq_ignore_ascii_case("text/xml")
            || (media.contains('/')
                && media.len() > 4
                && media
                    .get(media.len() - 4..)
                    .is_some_and(|s| s.eq_ignore_ascii_case("+xml")))
        {
            BodyKind::Xml
        } else {
            return None;
        };
        let boundary = params.find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim().eq_ignore_ascii_case("boundary").then(|| {
                let v = v.trim();
                v.strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v)
            })
        });
        Some((kind, boundary))
    }
}

/// What a body could not be read for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Not JSON (or not UTF-8, which JSON must be).
    MalformedJson,
    /// JSON nested deeper than `max_depth`.
    JsonTooDeep,
    /// A multipart body without a boundary parameter, or with an invalid one.
    NoBoundary,
    /// A multipart body whose parts do not follow RFC 7578.
    MalformedMultipart,
    /// Not well-formed XML (or not UTF-8), or a reference to an entity never declared.
    MalformedXml,
    /// XML elements nested deeper than `max_depth`.
    XmlTooDeep,
    /// An XML document type declaration: refused, as its entities could make the text
    /// the application reads differ from the text inspected.
    XmlDtd,
}

impl BodyError {
    /// The error as the `body.error` field shows it.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            BodyError::MalformedJson => "malformed json",
            BodyError::JsonTooDeep => "json too deep",
            BodyError::NoBoundary => "no multipart boundary",
            BodyError::MalformedMultipart => "malformed multipart",
            BodyError::MalformedXml => "malformed xml",
            BodyError::XmlTooDeep => "xml too deep",
            BodyError::XmlDtd => "xml dtd",
        }
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an argument of a body is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    /// A form field, a JSON value, a multipart field: name and value.
    Field,
    /// A multipart file: the field's name, and the file's name as the value.
    File,
    /// A multipart part's header: the part's field name, and the header's line
    /// (`Name: value`, each trimmed).
    PartHeader,
    /// An XML document's text: named after the root element.
    XmlText,
    /// An XML attribute: its name and value.
    XmlAttr,
}

/// Where a name or value lies in [`BodyArgs`]' text.
type Span = (u32, u32);

/// A body's arguments, in document order, in reused buffers.
#[derive(Clone, Debug, Default)]
pub struct BodyArgs {
    text: String,
    args: Vec<(ArgKind, Span, Span)>,
    /// Why the body could not be read; its arguments are then empty.
    pub error: Option<BodyError>,
    /// Whether a limit cut the inspection short: the bytes, or (for a body read without
    /// error) the arguments or parts.
    pub truncated: bool,
    /// The bytes of a multipart body's file contents, all files read together (past
    /// `max_args` too): ModSecurity's `FILES_COMBINED_SIZE`.
    pub files_size: u64,
    /// The JSON reader's path and string buffers, or the XML reader's text and scratch
    /// buffers, kept so a body allocates nothing once they have grown.
    bufs: (String, String),
    /// The XML reader's open elements.
    stack: Vec<(usize, usize)>,
}

impl BodyArgs {
    /// Empty buffers.
    #[must_use]
    pub fn new() -> BodyArgs {
        BodyArgs::default()
    }

    /// Empties the buffers: no arguments, no error, not truncated.
    pub fn clear(&mut self) {
        self.text.clear();
        self.args.clear();
        self.error = None;
        self.truncated = false;
        self.files_size = 0;
    }

    /// Reads `body` as `kind` (with multipart `boundary`) under `limits`, replacing what
    /// the buffers held.
    pub fn parse(
        &mut self,
        kind: BodyKind,
        boundary: Option<&str>,
        body: &[u8],
        limits: &BodyLimits,
    ) {
        self.clear();
        let cut = body.len() > limits.max_bytes;
        self.truncated = cut;
        let body = body.get(..limits.max_bytes).unwrap_or(body);
        let result = match kind {
            BodyKind::Form => {
                form::parse(body, limits, self);
                Ok(())
            }
            BodyKind::Json => {
                let mut bufs = std::mem::take(&mut self.bufs);
                let r = json::parse(body, limits, self, &mut bufs);
                self.bufs = bufs;
                r
            }
            BodyKind::Xml => {
                let mut bufs = std::mem::take(&mut self.bufs);
                let mut stack = std::mem::take(&mut self.stack);
                let r = xml::parse(body, limits, self, &mut bufs, &mut stack);
                (self.bufs, self.stack) = (bufs, stack);
                r
            }
            BodyKind::Multipart => match boundary {
                Some(b) if multipart::valid_boundary(b) => multipart::parse(body, b, limits, self),
                _ => Err(BodyError::NoBoundary),
            },
        };
        if let Err(e) = result {
            // No arguments: only the byte limit can have cut what was not read.
            self.error = Some(e);
            self.truncated = cut;
            self.text.clear();
            self.args.clear();
            self.files_size = 0;
        }
    }

    /// The arguments: kind, name, value.
    pub fn iter(&self) -> impl Iterator<Item = (ArgKind, &str, &str)> + '_ {
        self.args.iter().map(|&(k, (na, nb), (va, vb))| {
            let text = |a: u32, b: u32| self.text.get(a as usize..b as usize).unwrap_or_default();
            (k, text(na, nb), text(va, vb))
        })
    }

    /// How many arguments there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.args.len()
    }

    /// Whether there is none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.args.is_empty()
    }

    /// Whether another argument may be added; marks the body truncated when not.
    fn room(&mut self, limits: &BodyLimits) -> bool {
        if self.args.len() < limits.max_args {
            return true;
        }
        self.truncated = true;
        false
    }

    /// Adds an argument whose name and value `name` and `value` write into the text buffer.
    fn push(
        &mut self,
        kind: ArgKind,
        name: impl FnOnce(&mut String),
        value: impl FnOnce(&mut String),
    ) {
        let na = self.text.len();
        name(&mut self.text);
        let nb = self.text.len();
        value(&mut self.text);
        let vb = self.text.len();
        let at = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        self.args.push((kind, (at(na), at(nb)), (at(nb), at(vb))));
    }
}

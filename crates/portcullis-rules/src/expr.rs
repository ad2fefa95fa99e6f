//! The typed syntax tree of `when` conditions.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

pub use portcullis_match::transform::Transform;
pub use portcullis_match::Detector;

use crate::source::Span;

/// The type of a value in a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    /// Text; may be absent (a missing header, an anonymous caller's subject).
    Str,
    /// A signed integer (`len(..)`, literals).
    Int,
    /// `true` or `false`.
    Bool,
    /// An IP address (`ip`, IP literals).
    Ip,
    /// A set of strings (`auth.roles`, `auth.scopes`).
    StrSet,
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Type::Str => "a string",
            Type::Int => "an integer",
            Type::Bool => "a boolean",
            Type::Ip => "an IP address",
            Type::StrSet => "a set of strings",
        })
    }
}

/// A request field. See docs/rules.md for where each comes from and how it is normalised.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// Client IP address.
    Ip,
    /// Request method, as sent.
    Method,
    /// Host, lowercased, without port or trailing dot.
    Host,
    /// Normalised path.
    Path,
    /// Path exactly as sent.
    RawPath,
    /// Query string as sent, without `?`.
    Query,
    /// The HTTP version as sent (`HTTP/1.1`, `HTTP/2.0`); absent when the host does not
    /// know it.
    Protocol,
    /// The request line: method, the target as sent and the protocol, separated by single
    /// spaces (`GET /a?b=1 HTTP/1.1`); without the protocol (and its space) when it is
    /// unknown.
    RequestLine,
    /// The request target with the scheme and authority of an absolute-form target cut
    /// off, query included, percent-decoded once (`%HH` only; `+` and invalid escapes
    /// kept): ModSecurity v3's `REQUEST_URI`.
    Uri,
    /// The request target exactly as sent (`REQUEST_URI_RAW`).
    RawUri,
    /// What follows the last `/` or `\` of the decoded target's part before its first
    /// `?`; `""` when that is nothing (`REQUEST_BASENAME`).
    Basename,
    /// The decoded target's part before its first `?` (`REQUEST_FILENAME`).
    Filename,
    /// An argument, from the query (percent-decoded) or the body; one value per
    /// occurrence.
    Arg(String),
    /// Every argument value, query and body: one value per argument.
    Args,
    /// Every argument name, query and body.
    ArgNames,
    /// Every argument value of the query string (ModSecurity's `ARGS_GET`).
    QueryArgs,
    /// Every argument name of the query string (`ARGS_GET_NAMES`).
    QueryArgNames,
    /// Every argument value of the body (`ARGS_POST`).
    BodyArgs,
    /// Every argument name of the body (`ARGS_POST_NAMES`).
    BodyArgNames,
    /// The request body as text (invalid UTF-8 replaced), up to `max_body_bytes`.
    Body,
    /// Whether a body processor read the whole body without error.
    BodyInspected,
    /// Whether a limit cut the body's inspection short.
    BodyTruncated,
    /// Why the body could not be read (`malformed json`…); absent when it could.
    BodyError,
    /// Which body processor read the body, as ModSecurity names it (`URLENCODED`,
    /// `MULTIPART`, `JSON`); `""` when none did (`REQBODY_PROCESSOR`).
    BodyProcessor,
    /// The body's length in bytes, 0 without one (`REQUEST_BODY_LENGTH`).
    BodyLength,
    /// The file names of a multipart body's files.
    Files,
    /// The bytes of a multipart body's file contents, all files together (0 without
    /// files; ModSecurity's `FILES_COMBINED_SIZE`).
    FilesSize,
    /// The form field names of a multipart body's files (`FILES_NAMES`).
    FileFields,
    /// Every header line of every part of a multipart body (`Name: value`), named by the
    /// part's field name (ModSecurity's `MULTIPART_PART_HEADERS`).
    PartHeaders,
    /// An XML body's text: one member, named after the root element, holding all the
    /// character data inside the root in document order (ModSecurity's `XML:/*`).
    XmlText,
    /// An XML body's attribute values, named by attribute (`XML://@*`).
    XmlAttrs,
    /// Every header value, one per header field.
    Headers,
    /// Every header name, lowercased.
    HeaderNames,
    /// Every cookie value, from every `Cookie` header.
    Cookies,
    /// Every cookie name.
    CookieNames,
    /// The application's response status code, three digits (`"404"`); absent until the
    /// host asks about the response (ModSecurity's `RESPONSE_STATUS`).
    ResponseStatus,
    /// A response header (name lowercased); repeated headers are joined with `, `.
    ResponseHeader(String),
    /// The response body as text (invalid UTF-8 replaced), up to `max_body_bytes`; absent
    /// when the host did not read it (`RESPONSE_BODY`).
    ResponseBody,
    /// A named score: the points the rules that matched so far added (0 when none).
    Score(String),
    /// The labels the rules that matched so far attached.
    Labels,
    /// A header (name lowercased); repeated headers are joined with `, `.
    Header(String),
    /// The `User-Agent` header.
    UserAgent,
    /// A cookie value.
    Cookie(String),
    /// Whether the host verified the caller's credentials.
    AuthAuthenticated,
    /// The caller's subject (user or client id).
    AuthSubject,
    /// The caller's roles.
    AuthRoles,
    /// The caller's scopes.
    AuthScopes,
    /// The caller's tenant.
    AuthTenant,
    /// ISO 3166 country code supplied by the host.
    GeoCountry,
    /// Any host-supplied string.
    Attr(String),
    /// Whether the request is a CORS preflight.
    CorsPreflight,
    /// A collection narrowed to the members whose name the selection keeps:
    /// `cookies[not /^__utm/]`, `args["a", "b"]`. `of` is a collection
    /// ([`Field::is_collection`]), never itself selected.
    Select {
        /// The collection.
        of: Box<Field>,
        /// Which of its members are kept.
        selection: Selection,
    },
}

/// Which members of a collection a selector (`[…]` after it) keeps, by member name: those
/// whose name matches an include (every member when there is none) and no exclude. Names
/// compare ASCII case-insensitively and regexes match case-insensitively, as ModSecurity
/// folds collection keys.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Selection {
    /// The selectors as written, at least one.
    pub items: Vec<Selector>,
}

/// One element of a [`Selection`]: `"name"`, `/regex/`, `not "name"`, `not /regex/`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Selector {
    /// `not …`: members whose name matches are dropped.
    pub exclude: bool,
    /// What the name must match.
    pub name: NameMatch,
}

/// How a [`Selector`] tests a member's name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NameMatch {
    /// Equal to this name, ignoring ASCII case.
    Name(String),
    /// This regex matches somewhere in the name, ignoring case (the pattern as the regex
    /// engine reads it: a `\/` written inside `/…/` is a `/` here).
    Regex(String),
}

impl Selection {
    /// Whether any selector includes (a selection of excludes only keeps every other
    /// member).
    #[must_use]
    pub fn has_include(&self) -> bool {
        self.items.iter().any(|s| !s.exclude)
    }

    /// The regexes of the selection.
    pub fn regexes(&self) -> impl Iterator<Item = &str> + '_ {
        self.items.iter().filter_map(|s| match &s.name {
            NameMatch::Regex(r) => Some(r.as_str()),
            NameMatch::Name(_) => None,
        })
    }
}

/// As written: `"user-agent"`, `not /^__utm/` (a `/` in the regex written `\/`).
impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.exclude {
            f.write_str("not ")?;
        }
        match &self.name {
            NameMatch::Name(n) => write!(f, "{n:?}"),
            NameMatch::Regex(r) => {
                f.write_str("/")?;
                let mut chars = r.chars();
                while let Some(c) = chars.next() {
                    match c {
                        // An escape stays as it is: `\\/` is an escaped backslash, then `/`.
                        '\\' => {
                            f.write_str("\\")?;
                            if let Some(next) = chars.next() {
                                write!(f, "{next}")?;
                            }
                        }
                        '/' => f.write_str("\\/")?,
                        c => write!(f, "{c}")?,
                    }
                }
                f.write_str("/")
            }
        }
    }
}

/// As written, without the brackets: `not "user-agent", not "referer"`.
impl fmt::Display for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.items.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            s.fmt(f)?;
        }
        Ok(())
    }
}

/// Whether `name` is a valid header field name: a non-empty RFC 9110 token. A name with a
/// space or a colon is never sent, so a rule on it could never match.
pub(crate) fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl Field {
    /// The field's type.
    #[must_use]
    pub fn ty(&self) -> Type {
        match self {
            Field::Ip => Type::Ip,
            Field::AuthAuthenticated
            | Field::CorsPreflight
            | Field::BodyInspected
            | Field::BodyTruncated => Type::Bool,
            Field::AuthRoles | Field::AuthScopes | Field::Labels => Type::StrSet,
            Field::Score(_) | Field::BodyLength | Field::FilesSize => Type::Int,
            _ => Type::Str,
        }
    }

    /// Whether the field has one value per member (an argument's occurrences, a
    /// collection's members): a predicate on it holds when it holds for any value.
    #[must_use]
    pub fn is_multi(&self) -> bool {
        matches!(self, Field::Arg(_)) || self.is_collection()
    }

    /// Whether the field is a collection of named members (`args`, `headers`,
    /// `cookie_names`…, selected or not): what a selector `[…]` and `count(…)` apply to.
    #[must_use]
    pub fn is_collection(&self) -> bool {
        matches!(
            self,
            Field::Args
                | Field::ArgNames
                | Field::QueryArgs
                | Field::QueryArgNames
                | Field::BodyArgs
                | Field::BodyArgNames
                | Field::Files
                | Field::FileFields
                | Field::PartHeaders
                | Field::XmlText
                | Field::XmlAttrs
                | Field::Headers
                | Field::HeaderNames
                | Field::Cookies
                | Field::CookieNames
                | Field::Select { .. }
        )
    }

    /// The collection a field reads and the selection narrowing it: `(headers, Some(…))`
    /// for `headers[not "referer"]`, `(self, None)` for any other field.
    #[must_use]
    pub fn selected(&self) -> (&Field, Option<&Selection>) {
        match self {
            Field::Select { of, selection } => (of, Some(selection)),
            f => (f, None),
        }
    }

    /// Whether the field reads the request body.
    #[must_use]
    pub fn reads_body(&self) -> bool {
        match self {
            Field::Select { of, .. } => of.reads_body(),
            f => matches!(
                f,
                Field::Arg(_)
                    | Field::Args
                    | Field::ArgNames
                    | Field::BodyArgs
                    | Field::BodyArgNames
                    | Field::Body
                    | Field::BodyInspected
                    | Field::BodyTruncated
                    | Field::BodyError
                    | Field::BodyProcessor
                    | Field::BodyLength
                    | Field::FilesSize
                    | Field::Files
                    | Field::FileFields
                    | Field::PartHeaders
                    | Field::XmlText
                    | Field::XmlAttrs
            ),
        }
    }

    /// Whether the field reads the application's response (`response.*`): a host asks
    /// about the response only for a policy with such rules.
    #[must_use]
    pub fn reads_response(&self) -> bool {
        matches!(
            self,
            Field::ResponseStatus | Field::ResponseHeader(_) | Field::ResponseBody
        )
    }

    /// Whether the field holds the request's path, as sent, decoded once or normalised
    /// (`path`, `raw_path`, `request_line`, `uri`, `raw_uri`, `basename`, `filename`).
    #[must_use]
    pub fn reads_path(&self) -> bool {
        matches!(
            self,
            Field::Path
                | Field::RawPath
                | Field::RequestLine
                | Field::Uri
                | Field::RawUri
                | Field::Basename
                | Field::Filename
        )
    }

    /// Whether the field describes the caller's identity (`auth.*`).
    #[must_use]
    pub fn is_identity(&self) -> bool {
        matches!(
            self,
            Field::AuthAuthenticated
                | Field::AuthSubject
                | Field::AuthRoles
                | Field::AuthScopes
                | Field::AuthTenant
        )
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Ip => f.write_str("ip"),
            Field::Method => f.write_str("method"),
            Field::Host => f.write_str("host"),
            Field::Path => f.write_str("path"),
            Field::RawPath => f.write_str("raw_path"),
            Field::Query => f.write_str("query"),
            Field::Protocol => f.write_str("protocol"),
            Field::RequestLine => f.write_str("request_line"),
            Field::Uri => f.write_str("uri"),
            Field::RawUri => f.write_str("raw_uri"),
            Field::Basename => f.write_str("basename"),
            Field::Filename => f.write_str("filename"),
            Field::Arg(n) => write!(f, "arg[{n:?}]"),
            Field::Args => f.write_str("args"),
            Field::ArgNames => f.write_str("arg_names"),
            Field::QueryArgs => f.write_str("query_args"),
            Field::QueryArgNames => f.write_str("query_arg_names"),
            Field::BodyArgs => f.write_str("body_args"),
            Field::BodyArgNames => f.write_str("body_arg_names"),
            Field::Body => f.write_str("body"),
            Field::BodyInspected => f.write_str("body.inspected"),
            Field::BodyTruncated => f.write_str("body.truncated"),
            Field::BodyError => f.write_str("body.error"),
            Field::BodyProcessor => f.write_str("body.processor"),
            Field::BodyLength => f.write_str("body.length"),
            Field::Files => f.write_str("files"),
            Field::FilesSize => f.write_str("files_size"),
            Field::FileFields => f.write_str("file_fields"),
            Field::PartHeaders => f.write_str("part_headers"),
            Field::XmlText => f.write_str("xml_text"),
            Field::XmlAttrs => f.write_str("xml_attrs"),
            Field::Headers => f.write_str("headers"),
            Field::HeaderNames => f.write_str("header_names"),
            Field::Cookies => f.write_str("cookies"),
            Field::CookieNames => f.write_str("cookie_names"),
            Field::ResponseStatus => f.write_str("response.status"),
            Field::ResponseHeader(n) => write!(f, "response.header[{n:?}]"),
            Field::ResponseBody => f.write_str("response.body"),
            Field::Score(n) => write!(f, "score[{n:?}]"),
            Field::Labels => f.write_str("labels"),
            Field::Header(n) => write!(f, "header[{n:?}]"),
            Field::UserAgent => f.write_str("user_agent"),
            Field::Cookie(n) => write!(f, "cookie[{n:?}]"),
            Field::AuthAuthenticated => f.write_str("auth.authenticated"),
            Field::AuthSubject => f.write_str("auth.subject"),
            Field::AuthRoles => f.write_str("auth.roles"),
            Field::AuthScopes => f.write_str("auth.scopes"),
            Field::AuthTenant => f.write_str("auth.tenant"),
            Field::GeoCountry => f.write_str("geo.country"),
            Field::Attr(n) => write!(f, "attr[{n:?}]"),
            Field::CorsPreflight => f.write_str("cors.preflight"),
            Field::Select { of, selection } => write!(f, "{of}[{selection}]"),
        }
    }
}

/// A value in a condition: a field, a function of one, or a literal.
#[derive(Clone, Debug, PartialEq)]
pub enum Term {
    /// A request field.
    Field(Field),
    /// A function of a string: `lower(s)`, `url_decode_uni(s)`, … (see [`Transform`]).
    Func(Transform, Box<Term>),
    /// `path_segment(n)`: the n-th (0-based) segment of the normalised path.
    PathSegment(u32),
    /// `len(x)`: bytes of a string (0 when absent) or members of a set.
    Len(Box<Term>),
    /// `count(c)`: the number of members of a collection (after its selection).
    Count(Field),
    /// `present(x)`: whether a field that may be absent is there.
    Present(Box<Term>),
    /// `detect_sqli(x)`, `detect_xss(x)`: whether libinjection's detector flags the string
    /// (any value of it, for a field with several).
    Detect(Detector, Box<Term>),
    /// A string literal.
    Str(String),
    /// An integer literal.
    Int(i64),
    /// `true` or `false`.
    Bool(bool),
    /// An IP address literal.
    Ip(IpAddr),
}

impl Term {
    /// The term's type.
    #[must_use]
    pub fn ty(&self) -> Type {
        match self {
            Term::Field(f) => f.ty(),
            Term::Func(..) | Term::PathSegment(_) | Term::Str(_) => Type::Str,
            Term::Len(_) | Term::Count(_) | Term::Int(_) => Type::Int,
            Term::Present(_) | Term::Detect(..) | Term::Bool(_) => Type::Bool,
            Term::Ip(_) => Type::Ip,
        }
    }

    /// The field this term reads, if any.
    #[must_use]
    pub fn field(&self) -> Option<&Field> {
        match self {
            Term::Field(f) | Term::Count(f) => Some(f),
            Term::Func(_, t) | Term::Len(t) | Term::Present(t) | Term::Detect(_, t) => t.field(),
            Term::PathSegment(_) => Some(&Field::Path),
            _ => None,
        }
    }
}

/// A term as a rule writes it: `lower(header["x"])`, `"text"`, `42`.
impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Term::Field(x) => x.fmt(f),
            Term::Func(func, t) => write!(f, "{func}({t})"),
            Term::PathSegment(n) => write!(f, "path_segment({n})"),
            Term::Len(t) => write!(f, "len({t})"),
            Term::Count(c) => write!(f, "count({c})"),
            Term::Present(t) => write!(f, "present({t})"),
            Term::Detect(d, t) => write!(f, "{d}({t})"),
            Term::Str(s) => write!(f, "{s:?}"),
            Term::Int(n) => n.fmt(f),
            Term::Bool(b) => b.fmt(f),
            Term::Ip(ip) => ip.fmt(f),
        }
    }
}

/// Comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// Whether `a op b` holds.
    pub fn holds<T: Ord>(self, a: T, b: T) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
        }
    }
}

/// String operators whose right side is a literal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrOp {
    /// `contains`
    Contains,
    /// `starts_with`
    StartsWith,
    /// `ends_with`
    EndsWith,
    /// `matches` (regex search, linear time)
    Matches,
    /// `within`: the value is a substring of the literal (`method within "GET HEAD"`;
    /// ModSecurity's `@within`).
    Within,
}

/// Operators whose right side is a list (`$name` or an inline `{…}` set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListOp {
    /// `in`: an IP in an IP list, or a string equal to a member.
    In,
    /// `contains_any`
    ContainsAny,
    /// `starts_with_any`
    StartsWithAny,
    /// `ends_with_any`
    EndsWithAny,
    /// `matches_any`
    MatchesAny,
    /// `has_any`: a set sharing a member with the list.
    HasAny,
}

/// Index of a list in [`RuleSet::lists`](crate::RuleSet::lists).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListId(pub u32);

/// One test on the request: the leaves of a condition.
#[derive(Clone, Debug, PartialEq)]
pub enum PredKind {
    /// A boolean term (`auth.authenticated`, `present(header["x"])`).
    Test(Term),
    /// `lhs op rhs`, both of the same type; only integers are ordered.
    Compare {
        /// Left side.
        lhs: Term,
        /// Operator.
        op: CmpOp,
        /// Right side.
        rhs: Term,
    },
    /// `lhs contains "lit"` and friends.
    Str {
        /// A string term.
        lhs: Term,
        /// Operator.
        op: StrOp,
        /// The literal (a regex for `matches`).
        pattern: String,
    },
    /// `lhs in $list`, `lhs contains_any {…}` and friends.
    List {
        /// A string, IP or set term.
        lhs: Term,
        /// Operator.
        op: ListOp,
        /// The list.
        list: ListId,
    },
    /// `set has item`.
    Has {
        /// A set term.
        set: Term,
        /// A string term.
        item: Term,
    },
    /// `lhs not op rhs` (`args not matches "R"`): ModSecurity's negated operator
    /// (`ARGS "!@rx R"`), which tests each member: holds when the string term `lhs` has
    /// some value for which the inner predicate does not hold, so never when it is absent
    /// (an empty collection). The inner predicate is a [`PredKind::Str`] (any operator), a
    /// [`PredKind::Compare`] `lhs == "literal"`, or a [`PredKind::List`] with `in`,
    /// `contains_any`, `starts_with_any`, `ends_with_any` or `matches_any` on a string
    /// list, its left side a string term; evaluators refuse any other.
    SomeNot(Box<PredKind>),
    /// A test the rule model has no words for, run as its builder gave it.
    Interpreted(Interpreted),
}

/// A test the rule model has no words for: SecLang's chained rules whose later links read
/// what an earlier one captured or matched (`TX:1`, `MATCHED_VARS`, `%{ARGS.x}`). Both
/// evaluators run the same test over the same values, so the differential oracle does not
/// check it; its builder tests it.
pub trait Interpret:
    fmt::Debug + Send + Sync + std::panic::RefUnwindSafe + std::panic::UnwindSafe
{
    /// The fields and collections it reads (a body field makes the body read first).
    fn reads(&self) -> &[Field];
    /// Whether it holds for the request `values` shows.
    fn holds(&self, values: &dyn Values) -> bool;
}

/// A request's values, as an [`Interpret`] test reads them.
pub trait Values {
    /// Calls `each` with the name and value of every member of collection `f` (selected
    /// or not), in order; for another field, once with an empty name (the field names
    /// itself) and its value when it has one.
    fn each(&self, f: &Field, each: &mut dyn FnMut(&str, &str));
}

/// A shared [`Interpret`] test; two are equal when they are the same one.
#[derive(Clone)]
pub struct Interpreted(pub Arc<dyn Interpret>);

impl fmt::Debug for Interpreted {
    /// The test and its address: what tells two apart.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} at {:p}", self.0, Arc::as_ptr(&self.0))
    }
}

impl PartialEq for Interpreted {
    fn eq(&self, other: &Interpreted) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&self.0), Arc::as_ptr(&other.0))
    }
}

impl PredKind {
    /// The terms the predicate reads, left to right (those of the inner predicate of a
    /// [`PredKind::SomeNot`]).
    #[must_use]
    pub fn terms(&self) -> Vec<&Term> {
        match self {
            PredKind::Test(t) => vec![t],
            PredKind::Compare { lhs, rhs, .. } => vec![lhs, rhs],
            PredKind::Str { lhs, .. } | PredKind::List { lhs, .. } => vec![lhs],
            PredKind::Has { set, item } => vec![set, item],
            PredKind::SomeNot(inner) => inner.terms(),
            PredKind::Interpreted(_) => Vec::new(),
        }
    }

    /// For a [`PredKind::SomeNot`], its string term when the inner predicate is one it
    /// may hold (see there); `None` for any other predicate.
    #[must_use]
    pub fn some_not_operand(&self) -> Option<&Term> {
        let PredKind::SomeNot(inner) = self else {
            return None;
        };
        let lhs = match &**inner {
            PredKind::Str { lhs, .. } => lhs,
            PredKind::Compare {
                lhs,
                op: CmpOp::Eq,
                rhs: Term::Str(_),
            } => lhs,
            PredKind::List { lhs, op, .. } if *op != ListOp::HasAny => lhs,
            _ => return None,
        };
        (lhs.ty() == Type::Str).then_some(lhs)
    }
}

/// A predicate with the text it was written as.
#[derive(Clone, Debug, PartialEq)]
pub struct Pred {
    /// What it tests.
    pub kind: PredKind,
    /// Where it was written.
    pub span: Span,
    /// The source text, for explanations.
    pub text: String,
}

impl Pred {
    /// Whether the predicate reads the caller's identity.
    #[must_use]
    pub fn is_identity(&self) -> bool {
        let mut any = false;
        self.visit_fields(&mut |f| any |= f.is_identity());
        any
    }

    /// Calls `f` on the field each of the predicate's terms reads, left to right.
    pub fn visit_fields<'a>(&'a self, f: &mut dyn FnMut(&'a Field)) {
        for field in self.kind.terms().into_iter().filter_map(Term::field) {
            f(field);
        }
        if let PredKind::Interpreted(i) = &self.kind {
            i.0.reads().iter().for_each(f);
        }
    }
}

/// A condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// Always true (a rule without `when`) or false.
    Const(bool),
    /// A test on the request.
    Pred(Pred),
    /// `not e`
    Not(Box<Expr>),
    /// `a and b and …`
    And(Vec<Expr>),
    /// `a or b or …`
    Or(Vec<Expr>),
}

impl Expr {
    /// Calls `f` on every predicate, left to right.
    pub fn visit_preds<'a>(&'a self, f: &mut dyn FnMut(&'a Pred)) {
        match self {
            Expr::Const(_) => {}
            Expr::Pred(p) => f(p),
            Expr::Not(e) => e.visit_preds(f),
            Expr::And(es) | Expr::Or(es) => es.iter().for_each(|e| e.visit_preds(f)),
        }
    }

    /// Whether any predicate reads the caller's identity.
    #[must_use]
    pub fn is_identity(&self) -> bool {
        let mut any = false;
        self.visit_preds(&mut |p| any |= p.is_identity());
        any
    }

    /// Moves every predicate's span by `span` and every list id by `list_base`: the
    /// condition of a rule set appended to another ([`crate::RuleSet::append`]).
    pub(crate) fn renumber(&mut self, span: &dyn Fn(Span) -> Span, list_base: u32) {
        match self {
            Expr::Const(_) => {}
            Expr::Pred(p) => {
                p.span = span(p.span);
                let kind = match &mut p.kind {
                    PredKind::SomeNot(inner) => &mut **inner,
                    k => k,
                };
                if let PredKind::List { list, .. } = kind {
                    list.0 = list.0.saturating_add(list_base);
                }
            }
            Expr::Not(e) => e.renumber(span, list_base),
            Expr::And(es) | Expr::Or(es) => es.iter_mut().for_each(|e| e.renumber(span, list_base)),
        }
    }
}

//! Field values of a request, normalised as docs/rules.md says, for the reference
//! evaluator: straightforward and allocating, on the reference's own normalisation
//! (`naive.rs`), so the compiled evaluator is tested against an independent derivation.

use std::borrow::Cow;
use std::net::IpAddr;

use portcullis_match::body::{ArgKind, BodyKind};
use portcullis_rules::{Field, NameMatch, Selection, Settings};
use regex_automata::meta::Regex;

use crate::naive;
use crate::request::Request;

/// Every value a rule can read from one request.
pub(crate) struct Fields<'r> {
    pub req: &'r Request<'r>,
    pub path: String,
    pub raw_path: &'r str,
    pub query: &'r str,
    pub preflight: bool,
    pub body: naive::BodyView,
    /// The scores and labels of the rules that matched so far.
    pub tally: std::cell::RefCell<Tally>,
    /// Selectors' regexes on member names, compiled on first use (`None`: over the size
    /// limit, which the compiled program refuses).
    name_regexes: std::cell::RefCell<std::collections::HashMap<String, Option<Regex>>>,
    max_regex_bytes: usize,
    max_body_bytes: usize,
}

impl portcullis_rules::Values for Fields<'_> {
    fn each(&self, f: &Field, each: &mut dyn FnMut(&str, &str)) {
        if f.is_collection() {
            for (name, value) in self.members(f) {
                each(&name, &value);
            }
        } else if let Some(value) = self.string(f) {
            each("", &value);
        }
    }
}

/// Scores and labels, by name.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub scores: std::collections::BTreeMap<String, i64>,
    pub labels: Vec<String>,
}

impl Tally {
    /// Adds what a rule that matched sets.
    pub fn add(&mut self, rule: &portcullis_rules::Rule) {
        for (name, points) in &rule.score {
            let s = self.scores.entry(name.clone()).or_insert(0);
            *s = s.saturating_add(*points);
        }
        for l in &rule.labels {
            if !self.labels.contains(l) {
                self.labels.push(l.clone());
            }
        }
    }
}

impl<'r> Fields<'r> {
    /// Under the policy's settings (`windows_paths`, the body limits).
    pub fn new(req: &'r Request<'r>, settings: &Settings) -> Fields<'r> {
        let (raw_path, query) = naive::path_and_query(req.uri);
        Fields {
            req,
            path: naive::path(raw_path, settings.windows_paths),
            raw_path,
            query,
            preflight: naive::is_preflight(req),
            body: naive::body_view(req, settings),
            tally: std::cell::RefCell::new(Tally::default()),
            name_regexes: std::cell::RefCell::default(),
            max_regex_bytes: settings.max_regex_bytes,
            max_body_bytes: settings.max_body_bytes,
        }
    }

    /// Whether a selection keeps the member named `name`: it matches an include (any name
    /// does when there is none) and no exclude; names compare with ASCII case folded,
    /// regexes match ignoring case.
    pub fn keeps(&self, selection: &Selection, name: &str) -> bool {
        let lowered = name.to_ascii_lowercase();
        let hit = |m: &NameMatch| match m {
            NameMatch::Name(n) => n.to_ascii_lowercase() == lowered,
            NameMatch::Regex(re) => {
                let mut cache = self.name_regexes.borrow_mut();
                let compiled = cache.entry(re.clone()).or_insert_with(|| {
                    crate::reference::build_regex(re, true, self.max_regex_bytes).ok()
                });
                compiled.as_ref().is_some_and(|r| r.is_match(name))
            }
        };
        let includes: Vec<&NameMatch> = selection
            .items
            .iter()
            .filter(|s| !s.exclude)
            .map(|s| &s.name)
            .collect();
        let excluded = selection
            .items
            .iter()
            .filter(|s| s.exclude)
            .any(|s| hit(&s.name));
        (includes.is_empty() || includes.into_iter().any(hit)) && !excluded
    }

    /// All values of a header joined with `, ` (RFC 9110 field combination), invalid UTF-8
    /// replaced; `None` when the header is absent.
    pub fn header(&self, name: &str) -> Option<String> {
        naive::header(self.req, name)
    }

    /// Every value of argument `name`: the query's, then the body's.
    pub fn args(&self, name: &str) -> Vec<String> {
        let mut values = naive::arg_values(self.query, name);
        values.extend(
            self.body
                .args
                .iter()
                .filter(|(k, n, _)| *k == ArgKind::Field && n == name)
                .map(|(_, _, v)| v.clone()),
        );
        values
    }

    /// The values of a field with one value per member (`arg["a"]`, `args`, `files`…).
    pub fn values(&self, f: &Field) -> Vec<String> {
        self.members(f).into_iter().map(|(_, v)| v).collect()
    }

    /// The members of a field with one value per member, each with its name: an
    /// argument's, a header's (as sent), a cookie's, a file's form field; for a collection
    /// of names, the name itself. A selected collection keeps the members its selection
    /// keeps, by that name.
    pub fn members(&self, f: &Field) -> Vec<(String, String)> {
        if let Field::Select { of, selection } = f {
            let mut all = self.members(of);
            all.retain(|(name, _)| self.keeps(selection, name));
            return all;
        }
        let pairs = || {
            self.query
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| match p.find('=') {
                    Some(i) => (&p[..i], &p[i + 1..]),
                    None => (p, ""),
                })
        };
        let body = |kind: ArgKind, name: bool| {
            self.body
                .args
                .iter()
                .filter(move |(k, _, _)| *k == kind)
                .map(move |(_, n, v)| (n.clone(), if name { n.clone() } else { v.clone() }))
        };
        let query = |name: bool| {
            pairs().map(move |(k, v)| {
                let k = naive::percent_decode(k, true);
                let v = if name {
                    k.clone()
                } else {
                    naive::percent_decode(v, true)
                };
                (k, v)
            })
        };
        match f {
            Field::Arg(name) => self
                .args(name)
                .into_iter()
                .map(|v| (name.clone(), v))
                .collect(),
            Field::Args => query(false).chain(body(ArgKind::Field, false)).collect(),
            Field::ArgNames => query(true).chain(body(ArgKind::Field, true)).collect(),
            Field::QueryArgs => query(false).collect(),
            Field::QueryArgNames => query(true).collect(),
            Field::BodyArgs => body(ArgKind::Field, false).collect(),
            Field::BodyArgNames => body(ArgKind::Field, true).collect(),
            Field::Files => body(ArgKind::File, false).collect(),
            Field::FileFields => body(ArgKind::File, true).collect(),
            Field::PartHeaders => body(ArgKind::PartHeader, false).collect(),
            Field::XmlText => body(ArgKind::XmlText, false).collect(),
            Field::XmlAttrs => body(ArgKind::XmlAttr, false).collect(),
            Field::Headers | Field::HeaderNames => {
                let mut out = Vec::new();
                self.req.headers.for_all(&mut |n, v| {
                    out.push(if *f == Field::HeaderNames {
                        (n.to_string(), n.to_ascii_lowercase())
                    } else {
                        (n.to_string(), naive::header_text(v))
                    });
                });
                out
            }
            Field::Cookies | Field::CookieNames => naive::cookies(self.req)
                .into_iter()
                .map(|(k, v)| {
                    let v = if *f == Field::CookieNames {
                        k.clone()
                    } else {
                        v
                    };
                    (k, v)
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    pub fn ip(&self) -> Option<IpAddr> {
        self.req.client_ip.map(portcullis_rules::canonical_ip)
    }

    pub fn boolean(&self, f: &Field) -> bool {
        match f {
            Field::AuthAuthenticated => self.req.auth.is_authenticated(),
            Field::CorsPreflight => self.preflight,
            Field::BodyInspected => self.body.inspected,
            Field::BodyTruncated => self.body.truncated,
            _ => false,
        }
    }

    /// Roles or scopes; empty unless the caller is authenticated.
    pub fn set(&self, f: &Field) -> &'r [String] {
        let auth = self.req.auth;
        if !auth.is_authenticated() {
            return &[];
        }
        match f {
            Field::AuthRoles => &auth.roles,
            Field::AuthScopes => &auth.scopes,
            _ => &[],
        }
    }

    pub fn string(&self, f: &Field) -> Option<Cow<'_, str>> {
        let auth = self.req.auth;
        let authed = auth.is_authenticated();
        match f {
            Field::Method => Some(Cow::Borrowed(self.req.method)),
            Field::Host => {
                // RFC 9112 §3.2.2: an absolute-form target's authority wins over Host.
                let raw = match self
                    .req
                    .authority
                    .or_else(|| naive::target_authority(self.req.uri))
                {
                    Some(a) => a.to_string(),
                    None => self.header("host")?,
                };
                Some(Cow::Owned(naive::host(&raw)))
            }
            Field::Path => Some(Cow::Borrowed(&self.path)),
            Field::RawPath => Some(Cow::Borrowed(self.raw_path)),
            Field::Query => Some(Cow::Borrowed(self.query)),
            Field::Protocol => self.req.version.map(Cow::Borrowed),
            Field::RequestLine => {
                let mut parts = vec![self.req.method, self.req.uri];
                parts.extend(self.req.version);
                Some(Cow::Owned(parts.join(" ")))
            }
            Field::Uri => Some(Cow::Owned(naive::modsec_uri(self.req.uri))),
            Field::RawUri => Some(Cow::Borrowed(self.req.uri)),
            Field::Basename => Some(Cow::Owned(naive::modsec_basename(self.req.uri))),
            Field::Filename => Some(Cow::Owned(naive::modsec_filename(self.req.uri))),
            Field::BodyProcessor => Some(Cow::Borrowed(match self.body.processor {
                Some(BodyKind::Form) => "URLENCODED",
                Some(BodyKind::Multipart) => "MULTIPART",
                Some(BodyKind::Json) => "JSON",
                Some(BodyKind::Xml) => "XML",
                None => "",
            })),
            // The first value; the reference evaluates predicates on every value itself.
            Field::Arg(name) => self.args(name).into_iter().next().map(Cow::Owned),
            Field::Header(name) => self.header(name).map(Cow::Owned),
            Field::UserAgent => self.header("user-agent").map(Cow::Owned),
            Field::Cookie(name) => naive::cookie(self.req, name).map(Cow::Owned),
            Field::AuthSubject if authed => auth.subject.as_deref().map(Cow::Borrowed),
            Field::AuthTenant if authed => auth.tenant.as_deref().map(Cow::Borrowed),
            Field::GeoCountry => self.req.geo_country.map(Cow::Borrowed),
            Field::Attr(name) => self.req.attrs.get(name).map(Cow::Borrowed),
            Field::Body => self.body.text.as_deref().map(Cow::Borrowed),
            Field::BodyError => self.body.error.map(|e| Cow::Borrowed(e.name())),
            Field::ResponseStatus => self.req.response.map(|r| Cow::Owned(r.status.to_string())),
            Field::ResponseHeader(name) => {
                let mut values = Vec::new();
                self.req
                    .response?
                    .headers
                    .for_each(name, &mut |v| values.push(naive::header_text(v)));
                (!values.is_empty()).then(|| Cow::Owned(values.join(", ")))
            }
            Field::ResponseBody => {
                let body = self.req.response?.body?;
                let kept = &body[..body.len().min(self.max_body_bytes)];
                Some(Cow::Owned(String::from_utf8_lossy(kept).into_owned()))
            }
            _ => None,
        }
    }
}

//! Field values of a request, normalised as docs/rules.md says. Straightforward and
//! allocating: this is the reference the compiled evaluator is tested against.

use std::borrow::Cow;
use std::net::IpAddr;

use portcullis_match::normalize;
use portcullis_rules::Field;

use crate::request::Request;

/// Every value a rule can read from one request.
pub(crate) struct Fields<'r> {
    pub req: &'r Request<'r>,
    pub path: String,
    pub raw_path: &'r str,
    pub query: &'r str,
    pub preflight: bool,
}

impl<'r> Fields<'r> {
    pub fn new(req: &'r Request<'r>) -> Fields<'r> {
        let (raw_path, query) = normalize::split_target(req.uri);
        let (mut path, mut scratch) = (String::new(), String::new());
        normalize::normalize_path(raw_path, &mut path, &mut scratch);
        Fields {
            req,
            path,
            raw_path,
            query,
            preflight: req.is_preflight(),
        }
    }

    /// All values of a header joined with `, ` (RFC 9110 field combination), invalid UTF-8
    /// replaced; `None` when the header is absent.
    pub fn header(&self, name: &str) -> Option<String> {
        let mut out = String::new();
        self.req.header_into(name, &mut out).then_some(out)
    }

    pub fn ip(&self) -> Option<IpAddr> {
        self.req.client_ip.map(portcullis_rules::canonical_ip)
    }

    pub fn boolean(&self, f: &Field) -> bool {
        match f {
            Field::AuthAuthenticated => self.req.auth.is_authenticated(),
            Field::CorsPreflight => self.preflight,
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
                let raw = normalize::authority(self.req.uri)
                    .map(Cow::Borrowed)
                    .or_else(|| self.header("host").map(Cow::Owned))?;
                let mut out = String::new();
                normalize::normalize_host(&raw, &mut out);
                Some(Cow::Owned(out))
            }
            Field::Path => Some(Cow::Borrowed(&self.path)),
            Field::RawPath => Some(Cow::Borrowed(self.raw_path)),
            Field::Query => Some(Cow::Borrowed(self.query)),
            Field::Arg(name) => {
                let mut out = String::new();
                normalize::query_arg(self.query, name, &mut out).then_some(Cow::Owned(out))
            }
            Field::Header(name) => self.header(name).map(Cow::Owned),
            Field::UserAgent => self.header("user-agent").map(Cow::Owned),
            Field::Cookie(name) => {
                let mut found = None;
                self.req.headers.for_each("cookie", &mut |v| {
                    if found.is_none() {
                        let s = String::from_utf8_lossy(v);
                        found = normalize::cookie(&s, name).map(str::to_string);
                    }
                });
                found.map(Cow::Owned)
            }
            Field::AuthSubject if authed => auth.subject.as_deref().map(Cow::Borrowed),
            Field::AuthTenant if authed => auth.tenant.as_deref().map(Cow::Borrowed),
            Field::GeoCountry => self.req.geo_country.map(Cow::Borrowed),
            Field::Attr(name) => self.req.attrs.get(name).map(Cow::Borrowed),
            _ => None,
        }
    }
}

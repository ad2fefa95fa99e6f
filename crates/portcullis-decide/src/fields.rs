//! Field values of a request, normalised as docs/rules.md says, for the reference
//! evaluator: straightforward and allocating, on the reference's own normalisation
//! (`naive.rs`), so the compiled evaluator is tested against an independent derivation.

use std::borrow::Cow;
use std::net::IpAddr;

use portcullis_rules::Field;

use crate::naive;
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
    /// `windows`: the policy's `windows_paths`.
    pub fn new(req: &'r Request<'r>, windows: bool) -> Fields<'r> {
        let (raw_path, query) = naive::path_and_query(req.uri);
        Fields {
            req,
            path: naive::path(raw_path, windows),
            raw_path,
            query,
            preflight: naive::is_preflight(req),
        }
    }

    /// All values of a header joined with `, ` (RFC 9110 field combination), invalid UTF-8
    /// replaced; `None` when the header is absent.
    pub fn header(&self, name: &str) -> Option<String> {
        naive::header(self.req, name)
    }

    /// Every value of query argument `name`.
    pub fn args(&self, name: &str) -> Vec<String> {
        naive::arg_values(self.query, name)
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
            // The first value; the reference evaluates predicates on every value itself.
            Field::Arg(name) => self.args(name).into_iter().next().map(Cow::Owned),
            Field::Header(name) => self.header(name).map(Cow::Owned),
            Field::UserAgent => self.header("user-agent").map(Cow::Owned),
            Field::Cookie(name) => naive::cookie(self.req, name).map(Cow::Owned),
            Field::AuthSubject if authed => auth.subject.as_deref().map(Cow::Borrowed),
            Field::AuthTenant if authed => auth.tenant.as_deref().map(Cow::Borrowed),
            Field::GeoCountry => self.req.geo_country.map(Cow::Borrowed),
            Field::Attr(name) => self.req.attrs.get(name).map(Cow::Borrowed),
            _ => None,
        }
    }
}

//! A string term's value for a request: fields, decoded arguments, functions of them.

use std::fmt::Write as _;
use std::net::IpAddr;

use portcullis_match::normalize;
use portcullis_match::normalize::PathStyle;
use portcullis_rules::{Field, Term, Transform};

use super::body::{self, BodyFacts};
use crate::request::Request;

/// A request target as sent, and how the server behind reads its path.
#[derive(Clone, Copy)]
pub(super) struct Target<'r> {
    pub(super) path: &'r str,
    pub(super) query: &'r str,
    pub(super) style: PathStyle,
    /// The body fields, once the body was read (see `Run::target_with_body`).
    pub(super) body: BodyFacts,
    pub(super) max_body_bytes: usize,
}

pub(super) fn ip_of(t: &Term, req: &Request<'_>) -> Option<IpAddr> {
    match t {
        Term::Ip(ip) => Some(portcullis_rules::canonical_ip(*ip)),
        Term::Field(Field::Ip) => req.client_ip.map(portcullis_rules::canonical_ip),
        _ => None,
    }
}

/// The argument a term is computed from (`q` for `lower(arg["q"])`), if any.
pub(super) fn base_arg(t: &Term) -> Option<&str> {
    match t {
        Term::Field(Field::Arg(name)) => Some(name),
        Term::Func(_, inner) => base_arg(inner),
        _ => None,
    }
}

/// The collection a term is computed from (`args` for `lower(args)`), if any: its slot
/// has one value per member.
pub(super) fn collection(t: &Term) -> Option<&Field> {
    match t {
        Term::Field(f) if f.is_multi() && !matches!(f, Field::Arg(_)) => Some(f),
        Term::Func(_, inner) => collection(inner),
        _ => None,
    }
}

/// The single-valued field a term is computed from (`filename` for
/// `url_decode_uni(filename)`), if any: not a collection, an argument, a path segment or a
/// body (whose few chains scan faster alone than through a merged scanner).
pub(super) fn single_field(t: &Term) -> Option<&Field> {
    match t {
        Term::Field(Field::Body | Field::ResponseBody) => None,
        Term::Field(f) if !f.is_multi() => Some(f),
        Term::Func(_, inner) => single_field(inner),
        _ => None,
    }
}

/// Writes ModSecurity v3's `REQUEST_URI` of `target` into `out`: percent-decoded once
/// (`+` kept); unless that starts with `/`, from the first `/` after `scheme://` when the
/// first `:` is followed by `//` and a `/` comes after them.
fn modsec_uri(target: &str, out: &mut String) {
    let start = out.len();
    normalize::percent_decode_into(target, false, out);
    let decoded = out.get(start..).unwrap_or_default();
    if decoded.starts_with('/') {
        return;
    }
    let cut = decoded.find(':').and_then(|colon| {
        let after = colon + 3;
        let authority = decoded.get(colon + 1..)?.strip_prefix("//")?;
        Some(after + authority.find('/')?)
    });
    if let Some(cut) = cut {
        out.drain(start..start + cut);
    }
}

/// Records that slot `i` holds one value, its whole buffer.
pub(super) fn set_single(ranges: &mut [Vec<(u32, u32)>], i: usize, len: usize) {
    if let Some(r) = ranges.get_mut(i) {
        r.clear();
        r.push((0, len as u32));
    }
}

/// Writes a string term's value into `out`; returns whether it is present. `arg` is the
/// value of the argument the term reads, for a term over an argument. `tmp` and `tmp2`
/// are scratch buffers.
pub(super) fn compute(
    t: &Term,
    req: &Request<'_>,
    target: Target<'_>,
    arg: Option<&str>,
    out: &mut String,
    tmp: &mut String,
    tmp2: &mut String,
) -> bool {
    let auth = req.auth;
    let authed = auth.is_authenticated();
    let copy = |s: Option<&str>, out: &mut String| match s {
        Some(s) => {
            out.push_str(s);
            true
        }
        None => false,
    };
    match t {
        Term::Str(s) => copy(Some(s), out),
        Term::Field(f) => match f {
            Field::Method => copy(Some(req.method), out),
            Field::Host => {
                // RFC 9112 §3.2.2: an absolute-form target's authority wins over Host.
                tmp.clear();
                let found = match req.authority.or_else(|| normalize::authority(req.uri)) {
                    Some(a) => {
                        tmp.push_str(a);
                        true
                    }
                    None => req.header_into("host", tmp),
                };
                if found {
                    normalize::normalize_host(tmp, out);
                }
                found
            }
            Field::Path => {
                normalize::normalize_path_as(target.style, target.path, out, tmp);
                true
            }
            Field::RawPath => copy(Some(target.path), out),
            Field::Query => copy(Some(target.query), out),
            Field::Protocol => copy(req.version, out),
            Field::RequestLine => {
                out.push_str(req.method);
                out.push(' ');
                out.push_str(req.uri);
                if let Some(v) = req.version {
                    out.push(' ');
                    out.push_str(v);
                }
                true
            }
            Field::Uri => {
                modsec_uri(req.uri, out);
                true
            }
            Field::RawUri => copy(Some(req.uri), out),
            Field::Filename => {
                tmp.clear();
                normalize::percent_decode_into(req.uri, false, tmp);
                out.push_str(tmp.split('?').next().unwrap_or_default());
                true
            }
            Field::Basename => {
                tmp.clear();
                normalize::percent_decode_into(req.uri, false, tmp);
                let path = tmp.split('?').next().unwrap_or_default();
                if let Some(i) = path.rfind(['/', '\\']) {
                    out.push_str(path.get(i + 1..).unwrap_or_default());
                }
                true
            }
            Field::BodyProcessor => copy(Some(body::processor_name(target.body.processor)), out),
            f if f.is_multi() => copy(arg, out),
            Field::Body if target.body.shown => {
                body::text(req, target.max_body_bytes, out);
                true
            }
            Field::BodyError => copy(target.body.error.map(|e| e.name()), out),
            Field::Header(name) => req.header_into(name, out),
            Field::ResponseStatus => match req.response {
                Some(r) => {
                    let _ = write!(out, "{}", r.status);
                    true
                }
                None => false,
            },
            Field::ResponseHeader(name) => req.response.is_some_and(|r| r.header_into(name, out)),
            Field::ResponseBody => match req.response.and_then(|r| r.body) {
                Some(b) => {
                    body::push_text(b, target.max_body_bytes, out);
                    true
                }
                None => false,
            },
            Field::UserAgent => req.header_into("user-agent", out),
            Field::Cookie(name) => {
                let mut found = false;
                req.headers.for_each("cookie", &mut |v| {
                    if found {
                        return;
                    }
                    tmp.clear();
                    normalize::push_bytes_lossy(v, tmp);
                    if let Some(c) = normalize::cookie(tmp, name) {
                        out.push_str(c);
                        found = true;
                    }
                });
                found
            }
            Field::AuthSubject if authed => copy(auth.subject.as_deref(), out),
            Field::AuthTenant if authed => copy(auth.tenant.as_deref(), out),
            Field::GeoCountry => copy(req.geo_country, out),
            Field::Attr(name) => copy(req.attrs.get(name), out),
            _ => false,
        },
        Term::Func(Transform::Lower, inner) => {
            let present = compute(inner, req, target, arg, out, tmp, tmp2);
            out.make_ascii_lowercase();
            present
        }
        Term::Func(func, inner) => {
            tmp2.clear();
            let mut inner_buf = std::mem::take(tmp2);
            let present = compute(inner, req, target, arg, &mut inner_buf, tmp, out);
            out.clear();
            if present {
                let mut bytes = std::mem::take(tmp).into_bytes();
                func.apply(&inner_buf, out, &mut bytes);
                bytes.clear();
                *tmp = String::from_utf8(bytes).unwrap_or_default();
            }
            *tmp2 = inner_buf;
            present
        }
        Term::PathSegment(n) => {
            tmp2.clear();
            normalize::normalize_path_as(target.style, target.path, tmp2, tmp);
            copy(normalize::path_segment(tmp2, *n), out)
        }
        _ => false,
    }
}

//! Glue for the `http` crate: a [`Request`] over `http::Request` / `http::request::Parts`
//! without copying, and refusals as `http::Response`.

use std::net::{IpAddr, SocketAddr};

use http::header::{HeaderName, HeaderValue};
use http::request::Parts;
use http::uri::{Authority, PathAndQuery};
use http::{HeaderMap, Method, StatusCode, Uri, Version};
use portcullis_decide::{Auth, Decision, HeaderSource, HeaderTotals, Request, Response};

use crate::proxy::TrustedProxies;

/// The peer address of a connection, for hosts that put it in the request extensions
/// (the tower layer reads it there by default, as well as a bare `SocketAddr`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PeerAddr(pub SocketAddr);

/// The client address the engine decided with (the peer, or the client behind trusted
/// proxies). The tower layer puts it in the request extensions for the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientIp(pub IpAddr);

/// An `http::HeaderMap` as a [`HeaderSource`]: values are read in place, never copied.
///
/// HTTP/2 and HTTP/3 requests carry the host in the `:authority` pseudo-header, which
/// `http` keeps in the URI rather than the header map; when the map has no `Host`, the
/// URI's authority answers for it, so `host` rules see the same value on every version.
#[derive(Clone, Copy, Debug)]
pub struct HeaderMapSource<'a> {
    map: &'a HeaderMap,
    authority: Option<&'a Authority>,
}

impl<'a> HeaderMapSource<'a> {
    /// Reads `map`.
    #[must_use]
    pub fn new(map: &'a HeaderMap) -> HeaderMapSource<'a> {
        HeaderMapSource {
            map,
            authority: None,
        }
    }

    /// Reads `map`, with `uri`'s authority standing in for a missing `Host`.
    pub fn with_uri(map: &'a HeaderMap, uri: &'a Uri) -> HeaderMapSource<'a> {
        HeaderMapSource {
            map,
            authority: uri.authority(),
        }
    }
}

impl HeaderSource for HeaderMapSource<'_> {
    fn totals(&self) -> HeaderTotals {
        let mut t = HeaderTotals::default();
        for (name, value) in self.map {
            t.add(name.as_str().as_bytes(), value.as_bytes());
        }
        t
    }

    fn for_all(&self, f: &mut dyn FnMut(&str, &[u8])) {
        for (name, value) in self.map {
            f(name.as_str(), value.as_bytes());
        }
        if !self.map.contains_key(http::header::HOST) {
            if let Some(authority) = self.authority {
                f("host", authority.as_str().as_bytes());
            }
        }
    }

    fn for_each(&self, name: &str, f: &mut dyn FnMut(&[u8])) {
        let mut any = false;
        // `get_all` parses `name`; a name that is not a valid header name finds nothing.
        for value in self.map.get_all(name) {
            any = true;
            f(value.as_bytes());
        }
        if !any && name.eq_ignore_ascii_case("host") {
            if let Some(authority) = self.authority {
                f(authority.as_str().as_bytes());
            }
        }
    }
}

/// A [`Request`] over an `http` request: the method, target and headers are borrowed,
/// the client address is worked out from the peer and the trusted proxies.
///
/// ```
/// use portcullis::{Auth, Engine, HttpRequest, TrustedProxies};
///
/// let engine = Engine::from_str(r#"
/// [[rule]]
/// id = "admin-only"
/// when = 'path starts_with "/admin/" and not auth.roles has "admin"'
/// action = "forbid"
/// "#).unwrap();
///
/// let req = http::Request::get("/admin/users").header("user-agent", "curl/8").body(()).unwrap();
/// let peer = "192.0.2.10:51000".parse().unwrap();
/// let auth = Auth::authenticated("bob").with_roles(["viewer"]);
/// let http_req = HttpRequest::from_request(&req, Some(peer), &TrustedProxies::none()).auth(&auth);
/// let decision = engine.evaluate(&http_req.request());
/// assert_eq!(decision.status(), 403);
/// let refusal = decision.response(&http_req.request()).map(portcullis::to_http_response).unwrap();
/// assert_eq!(refusal.status(), 403);
/// assert_eq!(refusal.headers()["cache-control"], "no-store");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct HttpRequest<'a> {
    method: &'a Method,
    uri: &'a Uri,
    version: Option<&'static str>,
    headers: HeaderMapSource<'a>,
    client_ip: Option<IpAddr>,
    auth: Option<&'a Auth>,
}

/// An `http::Version` as a request line spells it, and as ModSecurity's `REQUEST_PROTOCOL`
/// does (`HTTP/2.0`, not `HTTP/2`); `None` for a version this list does not know.
fn version_str(version: Version) -> Option<&'static str> {
    match version {
        Version::HTTP_09 => Some("HTTP/0.9"),
        Version::HTTP_10 => Some("HTTP/1.0"),
        Version::HTTP_11 => Some("HTTP/1.1"),
        Version::HTTP_2 => Some("HTTP/2.0"),
        Version::HTTP_3 => Some("HTTP/3.0"),
        _ => None,
    }
}

impl<'a> HttpRequest<'a> {
    /// A request from its parts and the peer address (`None` when the transport has no
    /// address, as over a Unix socket: `ip` rules then do not match).
    pub fn from_parts(
        parts: &'a Parts,
        peer: Option<SocketAddr>,
        proxies: &TrustedProxies,
    ) -> HttpRequest<'a> {
        HttpRequest::new(&parts.method, &parts.uri, &parts.headers, peer, proxies)
            .version(parts.version)
    }

    /// A request from an `http::Request` (the body is not read) and the peer address.
    pub fn from_request<B>(
        req: &'a http::Request<B>,
        peer: Option<SocketAddr>,
        proxies: &TrustedProxies,
    ) -> HttpRequest<'a> {
        HttpRequest::new(req.method(), req.uri(), req.headers(), peer, proxies)
            .version(req.version())
    }

    /// A request from its pieces. It has no HTTP version (`protocol` is absent) until
    /// [`version`](HttpRequest::version) sets one.
    pub fn new(
        method: &'a Method,
        uri: &'a Uri,
        headers: &'a HeaderMap,
        peer: Option<SocketAddr>,
        proxies: &TrustedProxies,
    ) -> HttpRequest<'a> {
        let headers = HeaderMapSource::with_uri(headers, uri);
        let client_ip = peer.map(|p| proxies.client_ip(p.ip(), &headers));
        HttpRequest {
            method,
            uri,
            version: None,
            headers,
            client_ip,
            auth: None,
        }
    }

    /// Sets the HTTP version (`protocol`: `HTTP/1.1`, `HTTP/2.0`…; a version the `http`
    /// crate may add later is left unknown).
    #[must_use]
    pub fn version(mut self, version: Version) -> HttpRequest<'a> {
        self.version = version_str(version);
        self
    }

    /// Sets the caller's identity (anonymous otherwise).
    #[must_use]
    pub fn auth(mut self, auth: &'a Auth) -> HttpRequest<'a> {
        self.auth = Some(auth);
        self
    }

    /// The client address decided with.
    #[must_use]
    pub fn client_ip(&self) -> Option<IpAddr> {
        self.client_ip
    }

    /// The borrowed view the engine evaluates. Set attributes, geo, time or an id on it
    /// with [`Request`]'s builder methods and fields.
    pub fn request(&self) -> Request<'_> {
        // Origin form (`/path?query`) as sent; `*` and authority-form targets have none.
        let target = self.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let mut req = Request::new(self.method.as_str(), target).headers(&self.headers);
        // An absolute-form target's authority (or HTTP/2's `:authority`) is the host, and
        // a `Host` naming another is refused, as `portcullis eval` reads the same request.
        req.authority = self.uri.authority().map(Authority::as_str);
        req.version = self.version;
        req.client_ip = self.client_ip;
        if let Some(auth) = self.auth {
            req = req.auth(auth);
        }
        req
    }
}

impl HttpRequest<'_> {
    /// The target the server must route on for `decision` (made about this request) to
    /// hold: the request's URI with its path replaced by the normalised `path` the rules
    /// judged (re-encoded, so a router decoding it gets exactly that path), or `None` when
    /// the path already is it. The tower layer hands it to the inner service; embedders
    /// without tower should route on it too. Under the default
    /// `on_ambiguous_path = "forbid"` only harmless differences remain (`/%61dmin`, `//x`);
    /// under `"rewrite"`, `/admin/../public` is `/public` here as it was to the rules.
    #[must_use]
    pub fn routed_uri(&self, decision: &Decision) -> Option<Uri> {
        routed_uri(self.uri, decision)
    }
}

/// See [`HttpRequest::routed_uri`].
pub(crate) fn routed_uri(uri: &Uri, decision: &Decision) -> Option<Uri> {
    let pq = uri.path_and_query()?;
    // `OPTIONS *` and authority-form targets have no path to route on.
    if pq.path() == "*" {
        return None;
    }
    let path = decision.routed_path(pq.path())?;
    let target = match pq.query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(target).ok()?);
    Uri::from_parts(parts).ok()
}

/// A refusal as an `http::Response`. A header the `http` crate rejects (a control
/// character in a configured `www_authenticate`, say) is left out rather than panicking.
#[must_use]
pub fn to_http_response(refusal: Response) -> http::Response<String> {
    let mut res = http::Response::new(refusal.body);
    *res.status_mut() = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::FORBIDDEN);
    let headers = res.headers_mut();
    headers.reserve(refusal.headers.len());
    for (name, value) in refusal.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::try_from(value),
        ) {
            headers.append(name, value);
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_are_borrowed_and_host_falls_back_to_authority() {
        let req = http::Request::get("https://api.example.com/x?y=1")
            .header("X-Forwarded-For", "1.2.3.4")
            .header("x-forwarded-for", "5.6.7.8")
            .body(())
            .unwrap();
        let view = HttpRequest::from_request(&req, None, &TrustedProxies::none());
        let r = view.request();
        assert_eq!(r.uri, "/x?y=1");
        assert_eq!(r.version, Some("HTTP/1.1"));
        let mut seen = Vec::new();
        r.headers
            .for_each("x-forwarded-for", &mut |v| seen.push(v.as_ptr()));
        let stored: Vec<_> = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.as_bytes().as_ptr())
            .collect();
        assert_eq!(seen, stored, "values are the map's own bytes");
        let mut host = Vec::new();
        r.headers.for_each("host", &mut |v| host.push(v.to_vec()));
        assert_eq!(host, vec![b"api.example.com".to_vec()]);
        // An invalid header name finds nothing and does not panic.
        r.headers.for_each("bad name\n", &mut |_| panic!("found"));
        assert_eq!(r.client_ip, None);
    }

    #[test]
    fn host_of_an_absolute_target_is_its_authority_as_eval_reads_it() {
        let engine = crate::Engine::from_str(
            "[[rule]]\nid = \"h\"\nwhen = 'host == \"api.example.com\"'\naction = \"forbid\"\n",
        )
        .unwrap();
        let owned = |uri: &str, host: Option<&str>| {
            let mut b = http::Request::get(uri);
            if let Some(h) = host {
                b = b.header("host", h);
            }
            b.body(()).unwrap()
        };
        for (uri, host, status) in [
            ("http://api.example.com/x", Some("api.example.com"), 403),
            ("http://api.example.com/x", None, 403),
            ("http://api.example.com/x", Some("www.example.com"), 400),
            ("http://www.example.com/x", Some("api.example.com"), 400),
            ("/x", Some("api.example.com"), 403),
        ] {
            let req = owned(uri, host);
            let view = HttpRequest::from_request(&req, None, &TrustedProxies::none());
            assert_eq!(
                engine.evaluate(&view.request()).status(),
                status,
                "{uri} {host:?}"
            );
            // `portcullis eval` gets the same answer from the whole target and the header.
            let headers: Vec<(&str, &str)> = host.iter().map(|h| ("host", *h)).collect();
            let eval = portcullis_decide::Request::new("GET", uri).headers(&headers);
            assert_eq!(
                engine.evaluate(&eval).status(),
                status,
                "eval {uri} {host:?}"
            );
        }
        let two = http::Request::get("/x")
            .header("host", "api.example.com")
            .header("host", "www.example.com")
            .body(())
            .unwrap();
        let view = HttpRequest::from_request(&two, None, &TrustedProxies::none());
        assert_eq!(engine.evaluate(&view.request()).status(), 400);
    }

    #[test]
    fn protocol_and_request_line_come_from_the_version() {
        let engine = crate::Engine::from_str(
            "[[rule]]\nid = \"h2\"\nwhen = 'protocol == \"HTTP/2.0\"'\naction = \"forbid\"\n\n[[rule]]\nid = \"line\"\nwhen = 'request_line == \"GET /x?y=1 HTTP/1.0\"'\naction = \"forbid\"\n",
        )
        .unwrap();
        for (version, want) in [
            (Version::HTTP_09, Some("HTTP/0.9")),
            (Version::HTTP_10, Some("HTTP/1.0")),
            (Version::HTTP_11, Some("HTTP/1.1")),
            (Version::HTTP_2, Some("HTTP/2.0")),
            (Version::HTTP_3, Some("HTTP/3.0")),
        ] {
            let req = http::Request::get("https://h.example/x?y=1")
                .version(version)
                .body(())
                .unwrap();
            let view = HttpRequest::from_request(&req, None, &TrustedProxies::none());
            assert_eq!(view.request().version, want);
            let (parts, ()) = req.into_parts();
            let view = HttpRequest::from_parts(&parts, None, &TrustedProxies::none());
            assert_eq!(view.request().version, want);
            let status = engine.evaluate(&view.request()).status();
            let refused = version == Version::HTTP_2 || version == Version::HTTP_10;
            assert_eq!(status == 403, refused, "{version:?}");
        }
        let (method, uri, headers) = (Method::GET, Uri::from_static("/x"), HeaderMap::new());
        let bare = HttpRequest::new(&method, &uri, &headers, None, &TrustedProxies::none());
        assert_eq!(bare.request().version, None);
    }

    #[test]
    fn routed_uri_is_the_judged_path() {
        let engine = crate::Engine::from_str("").unwrap();
        for (uri, want) in [
            ("/admin/users?x=1", None),
            ("/admin/../public?x=%2e", Some("/public?x=%2e")),
            ("http://h/admin/../public", Some("http://h/public")),
            ("/%61dmin", Some("/admin")),
            ("/a%2fb", Some("/a/b")),
            ("*", None),
        ] {
            let uri: Uri = uri.parse().unwrap();
            let decision = engine.evaluate(&portcullis_decide::Request::new("GET", "/"));
            assert_eq!(
                routed_uri(&uri, &decision)
                    .map(|u| u.to_string())
                    .as_deref(),
                want,
                "{uri}"
            );
        }
    }

    #[test]
    fn client_ip_comes_from_trusted_proxies_only() {
        let req = http::Request::get("/")
            .header("x-forwarded-for", "198.51.100.7")
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        let peer: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        let untrusted = HttpRequest::from_parts(&parts, Some(peer), &TrustedProxies::none());
        assert_eq!(untrusted.client_ip(), Some(peer.ip()));
        let proxies = TrustedProxies::parse(["127.0.0.0/8"]).unwrap();
        let trusted = HttpRequest::from_parts(&parts, Some(peer), &proxies);
        assert_eq!(trusted.client_ip(), Some("198.51.100.7".parse().unwrap()));
        assert_eq!(trusted.request().client_ip, trusted.client_ip());
    }

    #[test]
    fn bad_header_values_are_dropped_not_panicked_on() {
        let refusal = Response {
            status: 1000,
            headers: vec![
                ("www-authenticate", "Bearer\nX: y".to_string()),
                ("x-ok", "1".to_string()),
            ],
            body: "{}".to_string(),
        };
        let res = to_http_response(refusal);
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(res.headers().get("www-authenticate").is_none());
        assert_eq!(res.headers()["x-ok"], "1");
    }
}

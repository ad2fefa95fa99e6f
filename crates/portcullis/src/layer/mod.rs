//! The tower layer: `PortcullisLayer` wraps a service in `Portcullis<S>`.

use std::fmt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use portcullis_decide::Auth;
use tower_layer::Layer;
use tower_service::Service;

use crate::engine::Engine;
use crate::http_request::PeerAddr;
use crate::proxy::TrustedProxies;

mod body;
mod future;
pub use body::RequestBody;
pub use future::ResponseFuture;
use future::{Kind, Reading, Rest, Step};

type IdentityFn = dyn Fn(&Parts) -> Auth + Send + Sync;
type PeerFn = dyn Fn(&Parts) -> Option<SocketAddr> + Send + Sync;
type NotFoundFn = dyn Fn(&Parts) -> http::Response<Bytes> + Send + Sync;

#[derive(Clone)]
struct Config {
    /// `None`: the [`Auth`] an earlier layer put in the request extensions, borrowed.
    identity: Option<Arc<IdentityFn>>,
    peer: Arc<PeerFn>,
    proxies: TrustedProxies,
    cors: Option<CorsHeaders>,
    not_found: NotFound,
}

/// How a hidden refusal (`hide = true`) is answered.
#[derive(Clone)]
enum NotFound {
    /// The decision's own 404.
    Decision,
    /// The inner service's answer to a target it does not route.
    Via(http::Uri),
    /// The host's answer.
    Answer(Arc<NotFoundFn>),
}

/// A tower [`Layer`] that puts an [`Engine`] in front of a service.
///
/// For every request, [`Portcullis`] works out the caller's identity (through the host's
/// hook, or the [`Auth`] extension the host's authentication layer set: authentication is
/// the host's job) and address, asks the engine, and then:
///
/// - **Forbid / RateLimit**: answers with the decision's HTTP response (401 with
///   `WWW-Authenticate`, 403 with `Cache-Control: no-store`, 404, 429 with `Retry-After`
///   and `RateLimit` headers; a problem+json body) without calling the inner service. A
///   refusal is a response, never an error. Refusals of cross-origin requests carry the
///   configured [`CorsHeaders`], so browsers show the real error.
/// - **Allow**: calls the inner service with the [`Decision`](crate::Decision), the
///   caller's [`Auth`] and the [`ClientIp`] in the request extensions, and adds the
///   `RateLimit` headers to its response when a rate limit counted the request. The inner
///   service gets the target the rules judged ([`HttpRequest::routed_uri`]): a path that
///   normalises to another (`/%61dmin`, `//x`, and with `on_ambiguous_path = "rewrite"`
///   `/admin/../public`) reaches it as the normalised path, so it cannot route to a
///   resource the rules did not judge.
/// - **Hidden** (`hide = true`): a 404 that must look like the application's own. Make
///   it so with [`PortcullisLayer::not_found_via`] (the application answers, as for any
///   target it does not route) or [`PortcullisLayer::not_found`] (your answer).
///
/// **Placement.** Put the layer *outside* the router, so that it sees every request and
/// nothing the router adds (axum's `Allow` header on a 405, say) confirms a route on a
/// refusal: in axum, `Router::new().fallback_service(layer.layer(app))`, not
/// `app.layer(layer)` (which wraps each route inside its method router).
///
/// **Bodies.** When the policy in force has a rule that reads the body (`args`, `body`,
/// …), the layer reads the body up to `max_body_bytes` before deciding and hands the
/// inner service a [`RequestBody`] that replays those bytes, then the rest of the stream
/// and its trailers; a body stream that fails meanwhile is answered 400. Otherwise the
/// [`RequestBody`] wraps the stream untouched.
///
/// **Responses.** When the policy has a rule on the application's response
/// (`response.status`, `response.header[…]`, `response.body`: OWASP CRS's data leakage
/// rules), the layer asks again once the inner service answered: with its status and
/// headers, and its body up to `max_body_bytes` when that is text (a `text/*`, JSON or XML
/// type, or none) and not compressed. A refusal replaces the response; otherwise it goes
/// out whole, the bytes read followed by the rest of the stream. A response stream that
/// fails while it is read is answered 502. Without such rules the response passes untouched.
///
/// The check is synchronous but for a body to read or a rate-limit store to ask
/// ([`Engine::evaluate_async`]); then the readied inner service goes with the request and
/// a clone stays behind, which is why the inner service must be `Clone`. `poll_ready` is
/// the inner service's; the allow path does not box the inner future.
///
/// ```
/// use portcullis::{Auth, Engine, PortcullisLayer, TrustedProxies};
///
/// let engine = Engine::from_str(r#"
/// [[rule]]
/// id = "admin-only"
/// when = 'path starts_with "/admin/" and not auth.roles has "admin"'
/// action = "forbid"
/// "#).unwrap();
/// let layer = PortcullisLayer::new(engine)
///     .identity(|parts: &http::request::Parts| {
///         match parts.headers.get("authorization").map(|v| v.as_bytes()) {
///             None => Auth::default(),
///             Some(b"Bearer let-me-in") => Auth::authenticated("alice").with_roles(["admin"]),
///             Some(_) => Auth::invalid(),
///         }
///     })
///     .trusted_proxies(TrustedProxies::parse(["10.0.0.0/8"]).unwrap());
/// // axum: `Router::new().route(..).layer(layer)`; tower: `ServiceBuilder::new().layer(layer)`.
/// # let _ = layer;
/// ```
#[derive(Clone)]
pub struct PortcullisLayer {
    engine: Engine,
    config: Arc<Config>,
}

impl fmt::Debug for PortcullisLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortcullisLayer")
            .field("engine", &self.engine)
            .field("proxies", &self.config.proxies)
            .field("cors", &self.config.cors)
            .finish_non_exhaustive()
    }
}

/// The default peer hook: a [`PeerAddr`] or a bare `SocketAddr` in the extensions.
fn peer_from_extensions(parts: &Parts) -> Option<SocketAddr> {
    parts
        .extensions
        .get::<PeerAddr>()
        .map(|p| p.0)
        .or_else(|| parts.extensions.get::<SocketAddr>().copied())
}

impl PortcullisLayer {
    /// A layer over `engine`: the caller's identity is the [`Auth`] request extension an
    /// earlier authentication layer set (borrowed, not cloned; anonymous when there is
    /// none), the peer address read from a [`PeerAddr`] or `SocketAddr` request extension,
    /// no trusted proxy, no CORS headers.
    pub fn new(engine: Engine) -> PortcullisLayer {
        PortcullisLayer {
            engine,
            config: Arc::new(Config {
                identity: None,
                peer: Arc::new(peer_from_extensions),
                proxies: TrustedProxies::none(),
                cors: None,
                not_found: NotFound::Decision,
            }),
        }
    }

    fn with(mut self, f: impl FnOnce(&mut Config)) -> PortcullisLayer {
        f(Arc::make_mut(&mut self.config));
        self
    }

    /// The identity hook: the caller's [`Auth`], from credentials the host verified
    /// (a bearer token, a session cookie, a client certificate). Return
    /// [`Auth::invalid`] for credentials that were presented and rejected, so refusals
    /// become 401 with `error="invalid_token"`. Without a hook the layer borrows the
    /// [`Auth`] request extension, which costs no copy of the caller's roles and scopes.
    #[must_use]
    pub fn identity(self, f: impl Fn(&Parts) -> Auth + Send + Sync + 'static) -> PortcullisLayer {
        self.with(|c| c.identity = Some(Arc::new(f)))
    }

    /// The peer-address hook, for servers that keep it somewhere else (axum:
    /// `parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)`).
    #[must_use]
    pub fn peer_addr(
        self,
        f: impl Fn(&Parts) -> Option<SocketAddr> + Send + Sync + 'static,
    ) -> PortcullisLayer {
        self.with(|c| c.peer = Arc::new(f))
    }

    /// The reverse proxies whose forwarding headers are believed.
    #[must_use]
    pub fn trusted_proxies(self, proxies: TrustedProxies) -> PortcullisLayer {
        self.with(|c| c.proxies = proxies)
    }

    /// CORS headers for refusals of cross-origin requests.
    #[must_use]
    pub fn cors(self, cors: CorsHeaders) -> PortcullisLayer {
        self.with(|c| c.cors = Some(cors))
    }

    /// Answers hidden refusals (`hide = true`) the way the application answers a target
    /// it does not route: the request is passed to the inner service with its target
    /// replaced by `target` (a path the application routes nowhere, such as
    /// `/.portcullis/not-found`), so its status, headers and body, and whatever middleware
    /// sits between, are the application's own, byte for byte. The request carries no
    /// [`Decision`](crate::Decision) extension, as a request for a missing page would not.
    ///
    /// # Panics
    ///
    /// When `target` is not a valid origin-form target (`/path`): a programming error,
    /// found at start-up.
    #[must_use]
    pub fn not_found_via(self, target: &'static str) -> PortcullisLayer {
        let uri = http::Uri::from_static(target);
        assert!(
            uri.scheme().is_none() && target.starts_with('/'),
            "not_found_via takes an origin-form target such as \"/.portcullis/not-found\""
        );
        self.with(|c| c.not_found = NotFound::Via(uri))
    }

    /// Answers hidden refusals (`hide = true`) with `f`'s response: the application's
    /// not-found answer, made the same way it makes it.
    #[must_use]
    pub fn not_found(
        self,
        f: impl Fn(&Parts) -> http::Response<Bytes> + Send + Sync + 'static,
    ) -> PortcullisLayer {
        self.with(|c| c.not_found = NotFound::Answer(Arc::new(f)))
    }

    /// The engine.
    #[must_use]
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

impl<S> Layer<S> for PortcullisLayer {
    type Service = Portcullis<S>;

    fn layer(&self, inner: S) -> Portcullis<S> {
        Portcullis {
            inner,
            engine: self.engine.clone(),
            config: Arc::clone(&self.config),
        }
    }
}

/// A service guarded by an [`Engine`]; made by [`PortcullisLayer`].
#[derive(Clone)]
pub struct Portcullis<S> {
    inner: S,
    engine: Engine,
    config: Arc<Config>,
}

impl<S: fmt::Debug> fmt::Debug for Portcullis<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Portcullis")
            .field("inner", &self.inner)
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

impl<S> Portcullis<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for Portcullis<S>
where
    S: Service<http::Request<RequestBody<ReqBody>>, Response = http::Response<ResBody>> + Clone,
    ReqBody: Body<Data = Bytes>,
    ResBody: Body<Data = Bytes>,
{
    type Response = http::Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S, ReqBody, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let (parts, body) = req.into_parts();
        let computed = self.config.identity.as_ref().map(|f| f(&parts));
        // A policy that reads bodies gets them: read up to the limit before deciding.
        if let Some(limit) = self
            .engine
            .body_bytes_wanted()
            .filter(|_| !body.is_end_stream())
        {
            return ResponseFuture {
                kind: Kind::Reading {
                    reading: Box::new(Reading {
                        body: Some(Box::pin(body)),
                        buf: Vec::new(),
                        leftover: None,
                        trailers: None,
                        limit,
                        rest: Some(self.rest(parts, (), computed)),
                    }),
                },
            };
        }
        let step = Step {
            config: &self.config,
            engine: &self.engine,
            parts,
            body: RequestBody::stream(body),
            bytes: None,
            computed,
        };
        match step.respond(&mut self.inner, None) {
            Ok(kind) => ResponseFuture { kind },
            Err(waits) => {
                let (waiting, parts, body, computed) = *waits;
                ResponseFuture {
                    kind: Kind::Waiting {
                        waiting: Box::new(waiting),
                        rest: Some(self.rest(parts, body, computed)),
                    },
                }
            }
        }
    }
}

impl<S: Clone> Portcullis<S> {
    /// What a request that is not decided in `call` needs to go on: the readied service
    /// goes with it, a clone stays for the next call (which polls it ready first).
    fn rest<B>(&mut self, parts: Parts, body: B, computed: Option<Auth>) -> Box<Rest<S, B>> {
        let clone = self.inner.clone();
        Box::new(Rest {
            inner: std::mem::replace(&mut self.inner, clone),
            engine: self.engine.clone(),
            config: Arc::clone(&self.config),
            parts,
            body,
            computed,
        })
    }
}

pin_project! {
    /// The response body of [`Portcullis`]: the inner service's, or a refusal's
    /// problem+json.
    pub struct ResponseBody<B> {
        #[pin]
        kind: BodyKind<B>,
    }
}

pin_project! {
    #[project = BodyProj]
    enum BodyKind<B> {
        Inner { #[pin] body: B },
        // The part the response rules read, then the rest of the stream.
        Replayed { #[pin] body: RequestBody<B> },
        Full { data: Option<Bytes> },
    }
}

impl<B> ResponseBody<B> {
    fn inner(body: B) -> ResponseBody<B> {
        ResponseBody {
            kind: BodyKind::Inner { body },
        }
    }

    fn replayed(body: RequestBody<B>) -> ResponseBody<B> {
        ResponseBody {
            kind: BodyKind::Replayed { body },
        }
    }

    fn full(data: Bytes) -> ResponseBody<B> {
        ResponseBody {
            kind: BodyKind::Full {
                data: (!data.is_empty()).then_some(data),
            },
        }
    }
}

impl<B> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            BodyKind::Inner { .. } => f.write_str("ResponseBody::Inner"),
            BodyKind::Replayed { .. } => f.write_str("ResponseBody::Replayed"),
            BodyKind::Full { data } => f.debug_tuple("ResponseBody::Full").field(data).finish(),
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().kind.project() {
            BodyProj::Inner { body } => body.poll_frame(cx),
            BodyProj::Replayed { body } => body.poll_frame(cx),
            BodyProj::Full { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            BodyKind::Inner { body } => body.is_end_stream(),
            BodyKind::Replayed { body } => body.is_end_stream(),
            BodyKind::Full { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            BodyKind::Inner { body } => body.size_hint(),
            BodyKind::Replayed { body } => body.size_hint(),
            BodyKind::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
        }
    }
}

/// CORS headers for refusals of cross-origin requests.
///
/// A browser shows a response to a cross-origin request only when it carries
/// `Access-Control-Allow-Origin`; without it a 401 or 403 looks like a network failure.
/// The host's own CORS middleware never sees refusals (the layer answers before calling
/// it), so the layer adds them: for requests with an allowed `Origin`, every refusal gets
/// `Access-Control-Allow-Origin`, `Vary: Origin`, `Access-Control-Expose-Headers` (by
/// default `WWW-Authenticate`, `Retry-After`, `RateLimit`, `RateLimit-Policy`,
/// `X-Request-Id`, so scripts can read them) and, when configured,
/// `Access-Control-Allow-Credentials: true`. Configure the same origins as the host's CORS
/// middleware.
#[derive(Clone, Debug)]
pub struct CorsHeaders {
    origins: Origins,
    credentials: bool,
    expose: Option<HeaderValue>,
}

#[derive(Clone, Debug)]
enum Origins {
    Any,
    List(Vec<HeaderValue>),
}

const DEFAULT_EXPOSE: &str =
    "www-authenticate, retry-after, ratelimit, ratelimit-policy, x-request-id";

impl CorsHeaders {
    /// Any origin (`Access-Control-Allow-Origin: *`, or the request's origin when
    /// credentials are allowed, since browsers refuse `*` with credentials).
    #[must_use]
    pub fn any_origin() -> CorsHeaders {
        CorsHeaders {
            origins: Origins::Any,
            credentials: false,
            expose: Some(HeaderValue::from_static(DEFAULT_EXPOSE)),
        }
    }

    /// These origins (`https://app.example.com`); others get no CORS headers. Entries
    /// that are not valid header values are skipped.
    pub fn origins<S: AsRef<str>>(origins: impl IntoIterator<Item = S>) -> CorsHeaders {
        CorsHeaders {
            origins: Origins::List(
                origins
                    .into_iter()
                    .filter_map(|o| HeaderValue::from_str(o.as_ref().trim_end_matches('/')).ok())
                    .collect(),
            ),
            ..CorsHeaders::any_origin()
        }
    }

    /// Sends `Access-Control-Allow-Credentials: true`.
    #[must_use]
    pub fn allow_credentials(mut self, yes: bool) -> CorsHeaders {
        self.credentials = yes;
        self
    }

    /// The headers scripts may read (replacing the default list).
    #[must_use]
    pub fn expose_headers<S: AsRef<str>>(
        mut self,
        names: impl IntoIterator<Item = S>,
    ) -> CorsHeaders {
        let joined = names
            .into_iter()
            .map(|n| n.as_ref().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        self.expose = if joined.is_empty() {
            None
        } else {
            HeaderValue::try_from(joined).ok()
        };
        self
    }

    /// Adds the headers to a refusal of a request from `origin`.
    fn apply(&self, origin: &HeaderValue, headers: &mut HeaderMap) {
        let allow = match &self.origins {
            Origins::Any if !self.credentials => HeaderValue::from_static("*"),
            Origins::Any => origin.clone(),
            Origins::List(list)
                if list
                    .iter()
                    .any(|o| o.as_bytes().eq_ignore_ascii_case(origin.as_bytes())) =>
            {
                origin.clone()
            }
            Origins::List(_) => return,
        };
        if allow != "*" {
            headers.append(header::VARY, HeaderValue::from_static("origin"));
        }
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        if self.credentials {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if let Some(expose) = &self.expose {
            headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::future::Future;
    use std::task::Waker;

    use super::*;
    use crate::http_request::ClientIp;
    use crate::Decision;

    const RULES: &str = r#"
[policy]
www_authenticate = 'Bearer realm="api"'

[[rule]]
id = "admin-only"
when = 'path starts_with "/admin/" and not auth.roles has "admin"'
action = "forbid"

[[rule]]
id = "login-throttle"
when = 'method == "POST" and path == "/login"'
action = "rate_limit"
rate_limit = { key = ["ip"], limit = 2, period = "1m" }
"#;

    /// An inner service that answers at once with what it saw.
    #[derive(Clone)]
    struct Echo;

    impl<B> Service<http::Request<B>> for Echo {
        type Response = http::Response<String>;
        type Error = Infallible;
        type Future = std::future::Ready<Result<http::Response<String>, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: http::Request<B>) -> Self::Future {
            let d = req
                .extensions()
                .get::<Decision>()
                .map(|d| d.verdict().name())
                .unwrap_or("none");
            let ip = req
                .extensions()
                .get::<ClientIp>()
                .map(|c| c.0.to_string())
                .unwrap_or_default();
            let who = req
                .extensions()
                .get::<Auth>()
                .and_then(|a| a.subject.as_deref())
                .map(|s| format!(" as {s}"))
                .unwrap_or_default();
            std::future::ready(Ok(http::Response::new(format!("{d} {ip}{who}"))))
        }
    }

    fn call(
        svc: &mut Portcullis<Echo>,
        req: http::Request<String>,
    ) -> http::Response<ResponseBody<String>> {
        let mut cx = Context::from_waker(Waker::noop());
        let fut = std::pin::pin!(svc.call(req));
        match fut.poll(&mut cx) {
            Poll::Ready(Ok(res)) => res,
            _ => unreachable!("ready service"),
        }
    }

    fn body_text<B: Body<Data = Bytes>>(body: B) -> Option<String> {
        let mut body = std::pin::pin!(body);
        let mut cx = Context::from_waker(Waker::noop());
        let mut out = Vec::new();
        while let Poll::Ready(Some(frame)) = body.as_mut().poll_frame(&mut cx) {
            out.extend_from_slice(frame.ok()?.data_ref()?);
        }
        String::from_utf8(out).ok()
    }

    fn layer() -> PortcullisLayer {
        PortcullisLayer::new(Engine::from_str(RULES).unwrap()).identity(|parts| {
            match parts.headers.get("authorization").map(|v| v.as_bytes()) {
                None => Auth::default(),
                Some(b"Bearer admin") => Auth::authenticated("alice").with_roles(["admin"]),
                Some(_) => Auth::invalid(),
            }
        })
    }

    fn get(path: &str) -> http::request::Builder {
        http::Request::get(path).extension(PeerAddr("192.0.2.1:5000".parse().unwrap()))
    }

    /// An application whose answers leak, in ways the response rules can and cannot read.
    #[derive(Clone)]
    struct Leaky;

    impl<B> Service<http::Request<B>> for Leaky {
        type Response = http::Response<String>;
        type Error = Infallible;
        type Future = std::future::Ready<Result<http::Response<String>, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: http::Request<B>) -> Self::Future {
            let leak = "ORA-00933: SQL command not properly ended";
            let (status, kind, encoding, body) = match req.uri().path() {
                "/leak" => (200, "text/html", None, leak.to_string()),
                "/late" => (200, "text/html", None, format!("{}{leak}", "x".repeat(40))),
                "/png" => (200, "image/png", None, leak.to_string()),
                "/gz" => (200, "text/html", Some("gzip"), leak.to_string()),
                "/boom" => (500, "text/plain", None, String::new()),
                _ => (200, "text/plain", None, "fine".to_string()),
            };
            let mut res = http::Response::builder()
                .status(status)
                .header("content-type", kind);
            if let Some(e) = encoding {
                res = res.header("content-encoding", e);
            }
            std::future::ready(Ok(res.body(body).unwrap()))
        }
    }

    #[test]
    fn responses_are_judged_when_the_policy_reads_them() {
        let engine = Engine::from_str(
            r#"
[policy]
max_body_bytes = 32

[[rule]]
id = "sql-leak"
when = 'response.body contains "ORA-00933"'
action = "forbid"

[[rule]]
id = "server-error"
when = 'response.status == "500"'
action = "forbid"
"#,
        )
        .unwrap();
        let mut svc = PortcullisLayer::new(engine).layer(Leaky);
        let mut cx = Context::from_waker(Waker::noop());
        let mut ask = |path: &str| {
            let fut = std::pin::pin!(svc.call(get(path).body(String::new()).unwrap()));
            match fut.poll(&mut cx) {
                Poll::Ready(Ok(res)) => {
                    let status = res.status().as_u16();
                    (status, body_text(res.into_body()).unwrap_or_default())
                }
                _ => unreachable!("ready service"),
            }
        };
        let (status, body) = ask("/leak");
        assert_eq!(status, 403);
        assert!(
            body.contains("Forbidden") && !body.contains("ORA"),
            "{body}"
        );
        assert_eq!(ask("/boom").0, 403);
        // What the rules could not read goes out whole: past `max_body_bytes`, an image, a
        // compressed body.
        let (status, body) = ask("/late");
        assert_eq!((status, body.len()), (200, 40 + 41));
        assert!(body.ends_with("properly ended"));
        assert_eq!(ask("/png").0, 200);
        assert_eq!(ask("/gz").0, 200);
        assert_eq!(ask("/fine"), (200, "fine".to_string()));
    }

    #[test]
    fn refusals_answer_without_calling_the_inner_service() {
        let mut svc = layer().layer(Echo);
        let res = call(&mut svc, get("/admin/x").body(String::new()).unwrap());
        assert_eq!(res.status(), 401);
        assert_eq!(res.headers()["www-authenticate"], r#"Bearer realm="api""#);
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        let res = call(
            &mut svc,
            get("/admin/x")
                .header("authorization", "Bearer nope")
                .body(String::new())
                .unwrap(),
        );
        assert_eq!(res.status(), 401);
        assert!(res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token"));
    }

    #[test]
    fn without_a_hook_the_auth_extension_an_earlier_layer_set_is_the_identity() {
        let mut svc = PortcullisLayer::new(Engine::from_str(RULES).unwrap()).layer(Echo);
        let res = call(&mut svc, get("/admin/x").body(String::new()).unwrap());
        assert_eq!(res.status(), 401);
        let admin = Auth::authenticated("alice").with_roles(["admin"]);
        let res = call(
            &mut svc,
            get("/admin/x")
                .extension(admin)
                .body(String::new())
                .unwrap(),
        );
        assert_eq!(res.status(), 200);
        assert_eq!(
            body_text(res.into_body()).unwrap(),
            "allow 192.0.2.1 as alice"
        );
    }

    #[test]
    fn allowed_requests_carry_the_decision_and_rate_limit_headers() {
        let mut svc = layer().layer(Echo);
        let res = call(
            &mut svc,
            get("/admin/x")
                .header("authorization", "Bearer admin")
                .body(String::new())
                .unwrap(),
        );
        assert_eq!(res.status(), 200);
        assert!(res.headers().get("ratelimit").is_none());
        assert_eq!(
            body_text(res.into_body()).unwrap(),
            "allow 192.0.2.1 as alice"
        );

        let post = || {
            http::Request::post("/login")
                .extension(PeerAddr("192.0.2.1:5000".parse().unwrap()))
                .body(String::new())
                .unwrap()
        };
        let res = call(&mut svc, post());
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers()["ratelimit-policy"],
            r#""login-throttle";q=2;w=60"#
        );
        assert_eq!(res.headers()["ratelimit"], r#""login-throttle";r=1;t=30"#);
        call(&mut svc, post());
        let res = call(&mut svc, post());
        assert_eq!(res.status(), 429);
        assert_eq!(res.headers()["retry-after"], "30");
    }

    #[test]
    fn cors_headers_on_refusals_of_allowed_origins_only() {
        let cors = CorsHeaders::origins(["https://app.example"]).allow_credentials(true);
        let mut svc = layer().cors(cors).layer(Echo);
        let res = call(
            &mut svc,
            get("/admin/x")
                .header("origin", "https://app.example")
                .body(String::new())
                .unwrap(),
        );
        assert_eq!(res.status(), 401);
        assert_eq!(
            res.headers()["access-control-allow-origin"],
            "https://app.example"
        );
        assert_eq!(res.headers()["access-control-allow-credentials"], "true");
        assert_eq!(res.headers()["vary"], "origin");
        assert!(res.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("www-authenticate"));
        let res = call(
            &mut svc,
            get("/admin/x")
                .header("origin", "https://evil.example")
                .body(String::new())
                .unwrap(),
        );
        assert!(res.headers().get("access-control-allow-origin").is_none());
        let res = call(&mut svc, get("/admin/x").body(String::new()).unwrap());
        assert!(res.headers().get("access-control-allow-origin").is_none());

        let mut svc = layer().cors(CorsHeaders::any_origin()).layer(Echo);
        let res = call(
            &mut svc,
            get("/admin/x")
                .header("origin", "https://any.example")
                .body(String::new())
                .unwrap(),
        );
        assert_eq!(res.headers()["access-control-allow-origin"], "*");
    }

    /// An inner service that answers with the target it was asked to route, 404 for
    /// `/missing`.
    #[derive(Clone)]
    struct Router;

    impl<B> Service<http::Request<B>> for Router {
        type Response = http::Response<String>;
        type Error = Infallible;
        type Future = std::future::Ready<Result<http::Response<String>, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: http::Request<B>) -> Self::Future {
            let mut res = http::Response::new(req.uri().to_string());
            if req.uri().path() == "/missing" {
                *res.status_mut() = http::StatusCode::NOT_FOUND;
                res.headers_mut()
                    .insert("content-type", HeaderValue::from_static("text/html"));
            }
            std::future::ready(Ok(res))
        }
    }

    fn routed(layer: PortcullisLayer, uri: &str) -> (u16, String) {
        let mut svc = layer.layer(Router);
        let mut cx = Context::from_waker(Waker::noop());
        let req = get(uri).body(String::new()).unwrap();
        let fut = std::pin::pin!(svc.call(req));
        let Poll::Ready(Ok(res)) = fut.poll(&mut cx) else {
            unreachable!("ready service")
        };
        (
            res.status().as_u16(),
            body_text(res.into_body()).unwrap_or_default(),
        )
    }

    const REWRITE: &str = r#"
[policy]
on_ambiguous_path = "rewrite"
[[rule]]
id = "admin-hidden"
when = 'path starts_with "/admin"'
action = "forbid"
hide = true
"#;

    #[test]
    fn the_inner_service_routes_on_the_path_the_rules_judged() {
        let layer = || PortcullisLayer::new(Engine::from_str(REWRITE).unwrap());
        for (uri, want) in [
            ("/public/x?q=1", "/public/x?q=1"),
            ("/admin/../public", "/public"),
            ("/x/%2e%2e/public?a=%2e", "/public?a=%2e"),
            ("/x/..;/public", "/public"),
            ("/x%5c..%5cpublic", "/public"),
            ("http://h/x/../public", "http://h/public"),
            ("/%70ublic//x", "/public/x"),
        ] {
            assert_eq!(routed(layer(), uri), (200, want.to_string()), "{uri}");
        }
        // Under the default, ambiguous paths never reach it (when a rule reads the path).
        let strict = REWRITE.replace("on_ambiguous_path = \"rewrite\"", "");
        let strict = PortcullisLayer::new(Engine::from_str(&strict).unwrap());
        assert_eq!(routed(strict, "/admin/../public").0, 400);
    }

    #[test]
    fn hidden_refusals_answer_as_the_application_does_for_a_missing_page() {
        let layer = || PortcullisLayer::new(Engine::from_str(REWRITE).unwrap());
        let own = routed(layer(), "/missing");
        assert_eq!(own.0, 404);
        let via = || layer().not_found_via("/missing");
        assert_eq!(routed(via(), "/admin/users"), own);
        assert_eq!(routed(via(), "/admin/../admin/x"), own);
        let mut svc = via().layer(Router);
        let res = call_router(&mut svc, "/admin/users");
        assert_eq!(res.headers()["content-type"], "text/html");
        assert!(res.headers().get("x-request-id").is_none());
        assert!(res.headers().get("cache-control").is_none());
        let answer = layer().not_found(|_| {
            let mut r = http::Response::new(Bytes::from_static(b"nope"));
            *r.status_mut() = http::StatusCode::NOT_FOUND;
            r
        });
        assert_eq!(routed(answer, "/admin"), (404, "nope".to_string()));
        // Without either, the decision's own 404.
        assert_eq!(routed(layer(), "/admin").0, 404);
    }

    fn call_router(
        svc: &mut Portcullis<Router>,
        uri: &str,
    ) -> http::Response<ResponseBody<String>> {
        let mut cx = Context::from_waker(Waker::noop());
        let fut = std::pin::pin!(svc.call(get(uri).body(String::new()).unwrap()));
        match fut.poll(&mut cx) {
            Poll::Ready(Ok(res)) => res,
            _ => unreachable!("ready service"),
        }
    }

    /// An inner service that answers 418, or never when `pending`.
    #[derive(Clone)]
    struct Teapot {
        pending: bool,
    }

    impl<B> Service<http::Request<B>> for Teapot {
        type Response = http::Response<String>;
        type Error = Infallible;
        type Future = Pin<Box<dyn Future<Output = Result<http::Response<String>, Infallible>>>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: http::Request<B>) -> Self::Future {
            if self.pending {
                return Box::pin(std::future::pending());
            }
            let mut res = http::Response::new(String::new());
            *res.status_mut() = http::StatusCode::IM_A_TEAPOT;
            Box::pin(std::future::ready(Ok(res)))
        }
    }

    const SHADOW: &str = r#"
[[rule]]
id = "new-rule"
when = 'path starts_with "/api"'
action = "forbid"
mode = "shadow"

[[rule]]
id = "admin"
when = 'path starts_with "/api/admin"'
action = "forbid"
"#;

    fn shadow_events(seen: &[crate::capture::Captured]) -> Vec<(String, String)> {
        seen.iter()
            .filter(|e| e.target == "portcullis::shadow")
            .map(|e| {
                let field = |n| e.get(n).unwrap_or("").to_string();
                (field("rule"), field("app_status"))
            })
            .collect()
    }

    #[test]
    fn shadow_hits_through_the_layer_carry_the_applications_status_once() {
        let layer = PortcullisLayer::new(Engine::from_str(SHADOW).unwrap());
        let mut svc = layer.layer(Teapot { pending: false });
        let (status, seen) = crate::capture::events(|| {
            let mut cx = Context::from_waker(Waker::noop());
            let fut = std::pin::pin!(svc.call(get("/api/teapot").body(String::new()).unwrap()));
            match fut.poll(&mut cx) {
                Poll::Ready(Ok(res)) => res.status(),
                _ => unreachable!("ready service"),
            }
        });
        assert_eq!(status, 418);
        let want = [("new-rule".to_string(), "418".to_string())];
        assert_eq!(shadow_events(&seen), want, "{seen:#?}");
        assert_eq!(seen.len(), 1);
    }

    #[test]
    fn shadow_hits_the_application_never_answered_are_logged_as_unknown() {
        // Refused: the application is not asked.
        let layer = PortcullisLayer::new(Engine::from_str(SHADOW).unwrap());
        let mut svc = layer.layer(Teapot { pending: false });
        let (_, seen) = crate::capture::events(|| {
            let mut cx = Context::from_waker(Waker::noop());
            let fut = std::pin::pin!(svc.call(get("/api/admin").body(String::new()).unwrap()));
            assert!(fut.poll(&mut cx).is_ready());
        });
        let unknown = [("new-rule".to_string(), "unknown".to_string())];
        assert_eq!(shadow_events(&seen), unknown, "{seen:#?}");
        assert_eq!(seen.len(), 2, "the shadow hit and the refusal: {seen:#?}");

        // Allowed, but the response future is dropped first (the client went away):
        // nothing while the application works, the hit when it is given up on.
        let mut svc = layer.layer(Teapot { pending: true });
        let events = crate::capture::Events::default();
        crate::capture::recording(&events, || {
            let mut cx = Context::from_waker(Waker::noop());
            let mut fut = Box::pin(svc.call(get("/api/x").body(String::new()).unwrap()));
            assert!(fut.as_mut().poll(&mut cx).is_pending());
            assert!(events.take().is_empty());
            drop(fut);
        });
        let seen = events.take();
        assert_eq!(shadow_events(&seen), unknown, "{seen:#?}");
    }

    #[test]
    fn refusal_body_is_problem_json() {
        let mut svc = layer().layer(Echo);
        let res = call(&mut svc, get("/admin/x").body(String::new()).unwrap());
        let len = res.body().size_hint().exact();
        let text = body_text(res.into_body()).unwrap();
        assert_eq!(len, Some(text.len() as u64));
        assert!(text.contains(r#""status":401"#), "{text}");
    }
}

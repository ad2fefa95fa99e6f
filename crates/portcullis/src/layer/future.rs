//! The response future of [`Portcullis`](super::Portcullis): a request whose body is read
//! first, or that waits for a rate-limit store, then the inner service's future or a
//! refusal; and, for a policy that reads responses, the application's response read and
//! judged before it goes out.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::request::Parts;
use http::HeaderMap;
use http_body::Body;
use pin_project_lite::pin_project;
use portcullis_decide::{AppResponse, Auth, Decision};
use tower_service::Service;

use super::{Config, NotFound, RequestBody, ResponseBody};
use crate::engine::{Engine, Waiting};
use crate::http_request::{to_http_response, ClientIp, HeaderMapSource, HttpRequest};
use crate::log::ShadowHits;

/// What a request waiting for its body or a rate-limit store needs to go on.
pub(super) struct Rest<S, B> {
    pub(super) inner: S,
    pub(super) engine: Engine,
    pub(super) config: Arc<Config>,
    pub(super) parts: Parts,
    pub(super) body: B,
    pub(super) computed: Option<Auth>,
}

/// A body being read before the decision.
pub(super) struct Reading<S, B> {
    /// `None` once the stream ended.
    pub(super) body: Option<Pin<Box<B>>>,
    pub(super) buf: Vec<u8>,
    /// Bytes of the last frame past the limit: not judged, passed on.
    pub(super) leftover: Option<Bytes>,
    pub(super) trailers: Option<HeaderMap>,
    pub(super) limit: usize,
    pub(super) rest: Option<Box<Rest<S, ()>>>,
}

/// What the layer keeps of an allowed request, for a policy that reads responses: the
/// request as the rules judged it, to ask again with the application's response.
pub(super) struct Asked {
    engine: Engine,
    config: Arc<Config>,
    /// Method, target, version and headers as they came (the extensions stay behind).
    parts: Parts,
    peer: Option<SocketAddr>,
    auth: Auth,
    body: Option<Bytes>,
    /// How much of the response body to read.
    limit: usize,
    /// The decision that allowed the request: asked again, the rules resume after it.
    first: Decision,
}

impl Asked {
    /// The refusal the rules give the response, with the body read so far (`None`: a body
    /// that is not text); `None` when they let it through.
    fn judge(
        &self,
        head: &http::response::Parts,
        body: Option<&[u8]>,
    ) -> Option<http::Response<Bytes>> {
        let view =
            HttpRequest::from_parts(&self.parts, self.peer, &self.config.proxies).auth(&self.auth);
        let mut request = view.request();
        request.body = self.body.as_deref();
        let headers = HeaderMapSource::new(&head.headers);
        let mut response = AppResponse::new(head.status.as_u16()).headers(&headers);
        response.body = body;
        let request = request.response(response);
        let decision = self.engine.evaluate_response_after(&request, &self.first);
        let refusal = decision.response(&request)?;
        let mut res = to_http_response(refusal).map(Bytes::from);
        if let (Some(cors), Some(origin)) =
            (&self.config.cors, self.parts.headers.get(header::ORIGIN))
        {
            cors.apply(origin, res.headers_mut());
        }
        Some(res)
    }
}

/// An application's response being read for the response rules.
pub(super) struct Answering<R> {
    asked: Box<Asked>,
    head: http::response::Parts,
    /// `None` once the stream ended.
    body: Option<Pin<Box<R>>>,
    buf: Vec<u8>,
    leftover: Option<Bytes>,
    trailers: Option<HeaderMap>,
}

/// Whether the rules can read a response body as text: not compressed, and of a text type
/// (or none), as ModSecurity reads only the types `SecResponseBodyMimeType` names.
fn readable(headers: &HeaderMap) -> bool {
    let encoded = headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"));
    let text = headers.get(header::CONTENT_TYPE).is_none_or(|v| {
        let t = v.to_str().unwrap_or("").to_ascii_lowercase();
        let essence = t.split(';').next().unwrap_or("").trim();
        essence.starts_with("text/")
            || essence.ends_with("/json")
            || essence.ends_with("+json")
            || essence.ends_with("/xml")
            || essence.ends_with("+xml")
            || essence == "application/javascript"
    });
    !encoded && text
}

/// A request on its way through the layer.
pub(super) struct Step<'a, B> {
    pub(super) config: &'a Arc<Config>,
    pub(super) engine: &'a Engine,
    pub(super) parts: Parts,
    pub(super) body: RequestBody<B>,
    /// The body as read, for the rules.
    pub(super) bytes: Option<Bytes>,
    pub(super) computed: Option<Auth>,
}

pub(super) type Waits<B> = Box<(Waiting, Parts, RequestBody<B>, Option<Auth>)>;

impl<B> Step<'_, B> {
    /// Decides (or takes the decision a store's answer gave) and answers: a refusal, or
    /// the inner service's future. A request that must wait for a store is handed back.
    pub(super) fn respond<S, F, ResBody>(
        self,
        inner: &mut S,
        decided: Option<(Decision, &Waiting)>,
    ) -> Result<Kind<F, S, B, ResBody>, Waits<B>>
    where
        S: Service<http::Request<RequestBody<B>>, Response = http::Response<ResBody>, Future = F>,
    {
        let Step {
            config,
            engine,
            mut parts,
            body,
            bytes,
            computed,
        } = self;
        let extension = match computed {
            Some(_) => None,
            None => parts.extensions.get::<Auth>(),
        };
        let has_extension = extension.is_some();
        let auth = computed.as_ref().or(extension).unwrap_or(Auth::anonymous());
        let peer = (config.peer)(&parts);
        let view = HttpRequest::from_parts(&parts, peer, &config.proxies).auth(auth);
        let mut request = view.request();
        request.body = bytes.as_deref();
        // Shadow hits wait for the application's answer, to be logged with its status.
        let (decision, shadow) = match decided {
            Some((decision, waiting)) => {
                let shadow = waiting.log(&decision, &request);
                (decision, shadow)
            }
            None => match engine.evaluate_deferring_shadow(&request) {
                Ok(d) => d,
                Err(waiting) => return Err(Box::new((waiting, parts, body, computed))),
            },
        };
        if decision.is_hidden() {
            match &config.not_found {
                NotFound::Decision => {}
                NotFound::Via(target) => {
                    // Nothing of this request's routing survives: the application sees a
                    // request for a page it does not have.
                    parts.uri = target.clone();
                    let future = inner.call(http::Request::from_parts(parts, body));
                    return Ok(Kind::Allowed {
                        future,
                        headers: Vec::new(),
                        shadow,
                        asked: None,
                    });
                }
                NotFound::Answer(f) => {
                    return Ok(Kind::Refused {
                        response: Some(f(&parts)),
                    });
                }
            }
        }
        if let Some(refusal) = decision.response(&request) {
            let mut res = to_http_response(refusal).map(Bytes::from);
            if let (Some(cors), Some(origin)) = (&config.cors, parts.headers.get(header::ORIGIN)) {
                cors.apply(origin, res.headers_mut());
            }
            return Ok(Kind::Refused {
                response: Some(res),
            });
        }
        let client_ip = view.client_ip();
        let routed = view.routed_uri(&decision);
        let headers = decision.allow_headers();
        let asked = engine.response_bytes_wanted().map(|limit| {
            let (mut copy, ()) = http::Request::new(()).into_parts();
            copy.method = parts.method.clone();
            copy.uri = parts.uri.clone();
            copy.version = parts.version;
            copy.headers = parts.headers.clone();
            Box::new(Asked {
                engine: engine.clone(),
                config: Arc::clone(config),
                parts: copy,
                peer,
                auth: auth.clone(),
                body: bytes.clone(),
                limit,
                first: decision.clone(),
            })
        });
        if let Some(uri) = routed {
            parts.uri = uri;
        }
        if let Some(ip) = client_ip {
            parts.extensions.insert(ClientIp(ip));
        }
        parts.extensions.insert(decision);
        // The inner service finds the caller's Auth where it finds the rest.
        if !has_extension {
            parts.extensions.insert(computed.unwrap_or_default());
        }
        let future = inner.call(http::Request::from_parts(parts, body));
        Ok(Kind::Allowed {
            future,
            headers,
            shadow,
            asked,
        })
    }
}

pin_project! {
    /// The response future of [`Portcullis`]: the inner service's, a refusal ready at
    /// once, or a request whose body is being read, or that waits for a rate-limit
    /// store's answer, first.
    pub struct ResponseFuture<F, S, B, R> {
        #[pin]
        pub(super) kind: Kind<F, S, B, R>,
    }
}

pin_project! {
    #[project = KindProj]
    pub(super) enum Kind<F, S, B, R> {
        Reading {
            reading: Box<Reading<S, B>>,
        },
        Waiting {
            waiting: Box<Waiting>,
            // Taken when the store answered.
            rest: Option<Box<Rest<S, RequestBody<B>>>>,
        },
        Allowed {
            #[pin]
            future: F,
            // `RateLimit` headers to add; empty (no allocation) when no limit counted.
            headers: Vec<(&'static str, String)>,
            // Shadow hits to log with the inner service's status; `None` (no
            // allocation) without any.
            shadow: Option<Box<ShadowHits>>,
            // The request, to ask again with the response; `None` (no allocation) for a
            // policy without response rules.
            asked: Option<Box<Asked>>,
        },
        Answering {
            answering: Box<Answering<R>>,
        },
        Refused {
            response: Option<http::Response<Bytes>>,
        },
    }
}

impl<F, S, B, ResBody, E> Future for ResponseFuture<F, S, B, ResBody>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
    S: Service<
        http::Request<RequestBody<B>>,
        Response = http::Response<ResBody>,
        Future = F,
        Error = E,
    >,
    B: Body<Data = Bytes>,
    ResBody: Body<Data = Bytes>,
{
    type Output = Result<http::Response<ResponseBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut kind = self.project().kind;
        loop {
            match kind.as_mut().project() {
                KindProj::Reading { reading } => {
                    let r = &mut **reading;
                    while r.buf.len() < r.limit {
                        let Some(body) = r.body.as_mut() else { break };
                        match ready!(body.as_mut().poll_frame(cx)) {
                            Some(Ok(frame)) => match frame.into_data() {
                                Ok(data) => {
                                    let room = r.limit - r.buf.len();
                                    let take = data.len().min(room);
                                    r.buf.extend_from_slice(&data[..take]);
                                    if take < data.len() {
                                        r.leftover = Some(data.slice(take..));
                                    }
                                }
                                Err(frame) => {
                                    if let Ok(t) = frame.into_trailers() {
                                        r.trailers = Some(t);
                                    }
                                }
                            },
                            // A body that cannot be read is not judged, nor passed on.
                            Some(Err(_)) => {
                                kind.set(Kind::Refused {
                                    response: Some(unreadable_body()),
                                });
                                break;
                            }
                            None => r.body = None,
                        }
                    }
                    let KindProj::Reading { reading } = kind.as_mut().project() else {
                        continue;
                    };
                    let Some(rest) = reading.rest.take() else {
                        return Poll::Ready(Ok(again::<Bytes>().map(ResponseBody::full)));
                    };
                    let bytes = Bytes::from(std::mem::take(&mut reading.buf));
                    let forward = match reading.leftover.take() {
                        Some(more) => [bytes.as_ref(), more.as_ref()].concat().into(),
                        None => bytes.clone(),
                    };
                    let body =
                        RequestBody::read(forward, reading.trailers.take(), reading.body.take());
                    let Rest {
                        mut inner,
                        engine,
                        config,
                        parts,
                        computed,
                        ..
                    } = *rest;
                    let step = Step {
                        config: &config,
                        engine: &engine,
                        parts,
                        body,
                        bytes: Some(bytes),
                        computed,
                    };
                    let next = match step.respond(&mut inner, None) {
                        Ok(k) => k,
                        Err(waits) => {
                            let (waiting, parts, body, computed) = *waits;
                            Kind::Waiting {
                                waiting: Box::new(waiting),
                                rest: Some(Box::new(Rest {
                                    inner,
                                    engine,
                                    config,
                                    parts,
                                    body,
                                    computed,
                                })),
                            }
                        }
                    };
                    kind.set(next);
                }
                KindProj::Waiting { waiting, rest } => {
                    let decision = ready!(Pin::new(&mut waiting.wait).poll(cx));
                    let Some(rest) = rest.take() else {
                        return Poll::Ready(Ok(again::<Bytes>().map(ResponseBody::full)));
                    };
                    let Rest {
                        mut inner,
                        engine,
                        config,
                        parts,
                        body,
                        computed,
                    } = *rest;
                    let step = Step {
                        config: &config,
                        engine: &engine,
                        parts,
                        body,
                        bytes: None,
                        computed,
                    };
                    let next = match step.respond(&mut inner, Some((decision, waiting))) {
                        Ok(k) => k,
                        // A decided request never waits again.
                        Err(_) => Kind::Refused {
                            response: Some(again()),
                        },
                    };
                    kind.set(next);
                }
                KindProj::Allowed {
                    future,
                    headers,
                    shadow,
                    asked,
                } => {
                    let out = ready!(future.poll(cx));
                    if let Some(shadow) = shadow.take() {
                        shadow.write(out.as_ref().ok().map(|r| r.status().as_u16()));
                    }
                    let mut res = out?;
                    add_headers(res.headers_mut(), std::mem::take(headers));
                    let Some(asked) = asked.take() else {
                        return Poll::Ready(Ok(res.map(ResponseBody::inner)));
                    };
                    let (head, body) = res.into_parts();
                    if readable(&head.headers) && !body.is_end_stream() {
                        kind.set(Kind::Answering {
                            answering: Box::new(Answering {
                                asked,
                                head,
                                body: Some(Box::pin(body)),
                                buf: Vec::new(),
                                leftover: None,
                                trailers: None,
                            }),
                        });
                        continue;
                    }
                    let read = readable(&head.headers).then_some(&[][..]);
                    let res = match asked.judge(&head, read) {
                        Some(refusal) => refusal.map(ResponseBody::full),
                        None => http::Response::from_parts(head, ResponseBody::inner(body)),
                    };
                    return Poll::Ready(Ok(res));
                }
                KindProj::Answering { answering } => {
                    let a = &mut **answering;
                    while a.buf.len() < a.asked.limit {
                        let Some(body) = a.body.as_mut() else { break };
                        match ready!(body.as_mut().poll_frame(cx)) {
                            Some(Ok(frame)) => match frame.into_data() {
                                Ok(data) => {
                                    let take = data.len().min(a.asked.limit - a.buf.len());
                                    a.buf.extend_from_slice(&data[..take]);
                                    if take < data.len() {
                                        a.leftover = Some(data.slice(take..));
                                    }
                                }
                                Err(frame) => {
                                    if let Ok(t) = frame.into_trailers() {
                                        a.trailers = Some(t);
                                    }
                                }
                            },
                            // A response that cannot be read is not judged, nor sent on.
                            Some(Err(_)) => {
                                return Poll::Ready(Ok(bad_gateway().map(ResponseBody::full)));
                            }
                            None => a.body = None,
                        }
                    }
                    if let Some(refusal) = a.asked.judge(&a.head, Some(&a.buf)) {
                        return Poll::Ready(Ok(refusal.map(ResponseBody::full)));
                    }
                    let bytes = Bytes::from(std::mem::take(&mut a.buf));
                    let forward = match a.leftover.take() {
                        Some(more) => [bytes.as_ref(), more.as_ref()].concat().into(),
                        None => bytes,
                    };
                    let body = RequestBody::read(forward, a.trailers.take(), a.body.take());
                    let head = std::mem::replace(&mut a.head, again::<()>().into_parts().0);
                    return Poll::Ready(Ok(http::Response::from_parts(
                        head,
                        ResponseBody::replayed(body),
                    )));
                }
                KindProj::Refused { response } => {
                    // Polled again after completion: answer rather than panic.
                    let res = response.take().unwrap_or_else(again);
                    return Poll::Ready(Ok(res.map(ResponseBody::full)));
                }
            }
        }
    }
}

/// The answer to a request whose body stream failed while the layer read it.
fn unreadable_body() -> http::Response<Bytes> {
    tracing::info!(target: crate::log::DECISION_TARGET, "request refused: its body could not be read");
    let mut r = http::Response::new(Bytes::from_static(
        br#"{"type":"about:blank","title":"Bad Request","status":400,"detail":"the request body could not be read"}"#,
    ));
    *r.status_mut() = http::StatusCode::BAD_REQUEST;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    r
}

/// The answer to a request whose response stream failed while the layer read it.
fn bad_gateway() -> http::Response<Bytes> {
    tracing::info!(target: crate::log::DECISION_TARGET, "response withheld: its body could not be read");
    let mut r = http::Response::new(Bytes::from_static(
        br#"{"type":"about:blank","title":"Bad Gateway","status":502,"detail":"the response could not be read"}"#,
    ));
    *r.status_mut() = http::StatusCode::BAD_GATEWAY;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    r
}

/// The answer of a future polled after it completed (executors never do this).
fn again<B: Default>() -> http::Response<B> {
    let mut r = http::Response::new(B::default());
    *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    r
}

/// Adds the decision's headers unless the application set them itself.
fn add_headers(map: &mut HeaderMap, headers: Vec<(&'static str, String)>) {
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::try_from(value),
        ) {
            map.entry(name).or_insert(value);
        }
    }
}

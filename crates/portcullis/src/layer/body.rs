//! The request body the inner service gets: the stream untouched, or, when the policy reads
//! bodies, the bytes the layer read (and judged) followed by whatever it did not read.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The request body of [`Portcullis`](crate::Portcullis)'s inner service: the client's
    /// body as it came, or the part the rules read followed by the rest of the stream.
    pub struct RequestBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Stream {
            #[pin]
            body: B,
        },
        Read {
            data: Option<Bytes>,
            // Read past the end of the data: sent after it.
            trailers: Option<HeaderMap>,
            // What was not read (past the limit); `None` when the stream ended.
            rest: Option<Pin<Box<B>>>,
        },
    }
}

impl<B> RequestBody<B> {
    /// The client's body, untouched.
    pub(crate) fn stream(body: B) -> RequestBody<B> {
        RequestBody {
            kind: Kind::Stream { body },
        }
    }

    /// The bytes read, then the trailers read, or the rest of the stream.
    pub(crate) fn read(
        data: Bytes,
        trailers: Option<HeaderMap>,
        rest: Option<Pin<Box<B>>>,
    ) -> RequestBody<B> {
        RequestBody {
            kind: Kind::Read {
                data: (!data.is_empty()).then_some(data),
                trailers,
                rest,
            },
        }
    }
}

impl<B: std::fmt::Debug> std::fmt::Debug for RequestBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestBody").finish_non_exhaustive()
    }
}

impl<B: Body<Data = Bytes>> Body for RequestBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().kind.project() {
            KindProj::Stream { body } => body.poll_frame(cx),
            KindProj::Read {
                data,
                trailers,
                rest,
            } => {
                if let Some(d) = data.take() {
                    return Poll::Ready(Some(Ok(Frame::data(d))));
                }
                if let Some(r) = rest {
                    return r.as_mut().poll_frame(cx);
                }
                Poll::Ready(trailers.take().map(|t| Ok(Frame::trailers(t))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Stream { body } => body.is_end_stream(),
            Kind::Read {
                data,
                trailers,
                rest,
            } => {
                data.is_none()
                    && trailers.is_none()
                    && rest.as_ref().is_none_or(|r| r.is_end_stream())
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Stream { body } => body.size_hint(),
            Kind::Read { data, rest, .. } => {
                let n = data.as_ref().map_or(0, |d| d.len() as u64);
                match rest {
                    None => SizeHint::with_exact(n),
                    Some(r) => {
                        let h = r.size_hint();
                        let mut s = SizeHint::new();
                        s.set_lower(h.lower().saturating_add(n));
                        if let Some(u) = h.upper() {
                            s.set_upper(u.saturating_add(n));
                        }
                        s
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::future::Future;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::task::Waker;

    use tower_layer::Layer;
    use tower_service::Service;

    use super::*;
    use crate::{Engine, PeerAddr, PortcullisLayer};

    const RULES: &str = r#"
[policy]
max_body_bytes = 64
on_body_limit = "inspect"
reveal = "reason"
[[rule]]
id = "xss"
when = 'lower(args) contains "<script"'
action = "forbid"
reason = "cross-site scripting"
[[rule]]
id = "unread"
when = 'not body.inspected and not body.truncated'
action = "forbid"
status = 400
"#;

    /// A body of chunks then trailers (or an error), counting how often it was polled.
    struct Chunks {
        chunks: Vec<Bytes>,
        trailers: Option<HeaderMap>,
        fail: bool,
        polls: Arc<AtomicUsize>,
    }

    impl Body for Chunks {
        type Data = Bytes;
        type Error = &'static str;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, &'static str>>> {
            self.polls.fetch_add(1, Ordering::Relaxed);
            if !self.chunks.is_empty() {
                let c = self.chunks.remove(0);
                return Poll::Ready(Some(Ok(Frame::data(c))));
            }
            if self.fail {
                self.fail = false;
                return Poll::Ready(Some(Err("connection reset")));
            }
            Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
        }
    }

    fn chunks(c: &[&[u8]]) -> (Chunks, Arc<AtomicUsize>) {
        let polls = Arc::new(AtomicUsize::new(0));
        let body = Chunks {
            chunks: c.iter().map(|c| Bytes::copy_from_slice(c)).collect(),
            trailers: None,
            fail: false,
            polls: Arc::clone(&polls),
        };
        (body, polls)
    }

    /// An inner service that reads its whole body and keeps what it got.
    #[derive(Clone, Default)]
    struct Keep(Arc<Mutex<Vec<Received>>>);

    /// A body as the inner service read it: its bytes and trailers.
    type Received = (Vec<u8>, Option<HeaderMap>);

    impl<B: Body<Data = Bytes>> Service<http::Request<B>> for Keep {
        type Response = http::Response<String>;
        type Error = Infallible;
        type Future = std::future::Ready<Result<http::Response<String>, Infallible>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, req: http::Request<B>) -> Self::Future {
            let mut body = std::pin::pin!(req.into_body());
            let mut cx = Context::from_waker(Waker::noop());
            let (mut data, mut trailers) = (Vec::new(), None);
            while let Poll::Ready(Some(Ok(frame))) = body.as_mut().poll_frame(&mut cx) {
                match frame.into_data() {
                    Ok(d) => data.extend_from_slice(&d),
                    Err(f) => trailers = f.into_trailers().ok(),
                }
            }
            self.0.lock().unwrap().push((data, trailers));
            std::future::ready(Ok(http::Response::new("ok".to_string())))
        }
    }

    fn send<B: Body<Data = Bytes>>(rules: &str, keep: &Keep, body: B, ct: &str) -> u16 {
        let mut svc = PortcullisLayer::new(Engine::from_str(rules).unwrap()).layer(keep.clone());
        let req = http::Request::post("/api")
            .header("content-type", ct)
            .extension(PeerAddr("192.0.2.1:5000".parse().unwrap()))
            .body(body)
            .unwrap();
        let mut cx = Context::from_waker(Waker::noop());
        let fut = std::pin::pin!(svc.call(req));
        match fut.poll(&mut cx) {
            Poll::Ready(Ok(res)) => res.status().as_u16(),
            _ => unreachable!("ready bodies and service"),
        }
    }

    const FORM: &str = "application/x-www-form-urlencoded";

    #[test]
    fn a_body_the_rules_refuse_never_reaches_the_service() {
        let keep = Keep::default();
        let (body, _) = chunks(&[b"name=x&comment=<scr", b"ipt>alert(1)"]);
        assert_eq!(send(RULES, &keep, body, FORM), 403);
        assert!(keep.0.lock().unwrap().is_empty());
    }

    #[test]
    fn the_service_gets_the_bytes_the_rules_judged_then_the_rest_and_the_trailers() {
        let keep = Keep::default();
        let (mut body, _) = chunks(&[b"a=1&", b"b=2"]);
        let mut t = HeaderMap::new();
        t.insert("x-checksum", "abc".parse().unwrap());
        body.trailers = Some(t.clone());
        assert_eq!(send(RULES, &keep, body, FORM), 200);
        // Past the limit (64 bytes): the first 65 were judged, all are passed on.
        let long = format!("a={}", "x".repeat(100)).into_bytes();
        let (body, _) = chunks(&[&long[..30], &long[30..]]);
        assert_eq!(send(RULES, &keep, body, FORM), 200);
        let got = keep.0.lock().unwrap();
        assert_eq!(got[0], (b"a=1&b=2".to_vec(), Some(t)));
        assert_eq!(got[1].0, long);
    }

    #[test]
    fn a_policy_without_body_rules_does_not_touch_the_stream() {
        let (body, polls) = chunks(&[b"comment=<script>"]);
        let rules =
            "[[rule]]\nid = \"admin\"\nwhen = 'path starts_with \"/admin\"'\naction = \"forbid\"\n";
        let mut svc =
            PortcullisLayer::new(Engine::from_str(rules).unwrap()).layer(Probe(Arc::clone(&polls)));
        let req = http::Request::post("/api").body(body).unwrap();
        let mut cx = Context::from_waker(Waker::noop());
        let fut = std::pin::pin!(svc.call(req));
        assert!(matches!(fut.poll(&mut cx), Poll::Ready(Ok(_))));
        assert_eq!(
            polls.load(Ordering::Relaxed),
            0,
            "the layer polled the body"
        );
    }

    /// An inner service that never reads its body.
    #[derive(Clone)]
    struct Probe(#[allow(dead_code)] Arc<AtomicUsize>);

    impl<B> Service<http::Request<B>> for Probe {
        type Response = http::Response<String>;
        type Error = Infallible;
        type Future = std::future::Ready<Result<http::Response<String>, Infallible>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: http::Request<B>) -> Self::Future {
            std::future::ready(Ok(http::Response::new(String::new())))
        }
    }

    #[test]
    fn a_body_stream_that_fails_is_a_400_and_reaches_nothing() {
        let keep = Keep::default();
        let (mut body, _) = chunks(&[b"a=1"]);
        body.fail = true;
        assert_eq!(send(RULES, &keep, body, FORM), 400);
        assert!(keep.0.lock().unwrap().is_empty());
    }

    #[test]
    fn an_unknown_content_type_is_not_inspected() {
        let keep = Keep::default();
        let (body, _) = chunks(&[b"{\"comment\": \"<script>\"}"]);
        assert_eq!(send(RULES, &keep, body, "text/plain"), 400);
        let (body, _) = chunks(&[b"{\"comment\": \"<script>\"}"]);
        assert_eq!(send(RULES, &keep, body, "application/json"), 403);
    }
}

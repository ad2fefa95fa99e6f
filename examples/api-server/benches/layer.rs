//! What the portcullis layer adds per request: the same trivial service called bare and
//! behind the layer configured as the example server configures it (its rules, its
//! identity hook, its CORS headers), polled in place with no runtime or network, so the
//! difference is the layer's own cost: identity hook, client address, evaluation,
//! extensions, and for refusals building the problem+json answer.
//!
//! `cargo bench -p portcullis-example-api --bench layer`

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::net::SocketAddr;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use criterion::{criterion_group, criterion_main, Criterion};
use http::{Request, Response};
use portcullis::{Engine, PeerAddr};
use portcullis_example_api::{layer, rules_dir, Options};
use tower::{Layer, Service};

/// The application: answers at once.
#[derive(Clone)]
struct Hello;

impl<B> Service<Request<B>> for Hello {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        std::future::ready(Ok(Response::new(String::new())))
    }
}

fn run<S, B>(svc: &mut S, req: Request<String>) -> u16
where
    S: Service<Request<String>, Response = Response<B>>,
{
    let mut cx = Context::from_waker(Waker::noop());
    let fut = pin!(svc.call(req));
    match fut.poll(&mut cx) {
        Poll::Ready(Ok(res)) => res.status().as_u16(),
        _ => 0,
    }
}

fn request(method: &str, path: &str, token: Option<&str>) -> Request<String> {
    let peer: SocketAddr = "192.0.2.10:50000".parse().unwrap();
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "api.example.com")
        .header(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0",
        )
        .header("accept", "application/json")
        .extension(PeerAddr(peer));
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b.body(String::new()).unwrap()
}

fn bench(c: &mut Criterion) {
    let engine = Engine::from_path(rules_dir()).unwrap();
    let mut bare = Hello;
    let mut guarded = layer(engine, &Options::default()).layer(Hello);
    let mut group = c.benchmark_group("layer");
    let cases: [(&str, &str, &str, Option<&str>, u16); 4] = [
        ("public-anonymous", "GET", "/public", None, 200),
        (
            "tenant-authenticated",
            "GET",
            "/tenants/acme/projects?page=2",
            Some("viewer-token"),
            200,
        ),
        (
            "admin-forbidden-403",
            "GET",
            "/admin/users",
            Some("viewer-token"),
            403,
        ),
        ("admin-anonymous-401", "GET", "/admin/users", None, 401),
    ];
    for (name, method, path, token, status) in cases {
        assert_eq!(
            run(&mut guarded, request(method, path, token)),
            status,
            "{name}"
        );
        group.bench_function(format!("bare/{name}"), |b| {
            b.iter(|| black_box(run(&mut bare, request(method, path, token))))
        });
        group.bench_function(format!("guarded/{name}"), |b| {
            b.iter(|| black_box(run(&mut guarded, request(method, path, token))))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

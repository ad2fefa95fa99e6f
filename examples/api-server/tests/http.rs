//! The example API over real HTTP: the server on 127.0.0.1 with a random port, a real
//! HTTP client.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use portcullis::{Engine, TrustedProxies};
use portcullis_example_api::{app_with, rules_dir, serve, Options};
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::Value;

const ORIGIN: &str = "http://localhost:8080";

struct Server {
    addr: SocketAddr,
    engine: Engine,
    client: Client,
}

impl Server {
    async fn start() -> Server {
        Server::start_with(Options::default()).await
    }

    async fn start_with(options: Options) -> Server {
        let engine = Engine::from_path(rules_dir()).expect("the example rules load");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, app_with(engine.clone(), options)));
        let client = Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Server {
            addr,
            engine,
            client,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.expect("the request gets an answer")
    }

    async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.send(Method::GET, path, token, &[]).await
    }

    /// Reloads the engine with the example rules, edited.
    fn reload_edited(&self, edit: impl FnOnce(String) -> String) {
        let text = std::fs::read_to_string(rules_dir().join("api.toml")).unwrap();
        self.engine
            .reload_str(&edit(text))
            .expect("the edited rules load");
    }
}

fn header<'r>(res: &'r Response, name: &str) -> &'r str {
    res.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header in {res:?}"))
        .to_str()
        .unwrap()
}

async fn problem(res: Response) -> Value {
    assert_eq!(header(&res, "content-type"), "application/problem+json");
    let id = header(&res, "x-request-id").to_string();
    let body: Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    assert_eq!(
        body["request_id"],
        id.as_str(),
        "body and header carry the same request id"
    );
    body
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

#[tokio::test]
async fn statuses() {
    let s = Server::start().await;
    let cases: &[(&str, Option<&str>, StatusCode)] = &[
        ("/public", None, StatusCode::OK),
        ("/public/docs", Some("nonsense"), StatusCode::OK),
        ("/me", Some("viewer-token"), StatusCode::OK),
        ("/me", None, StatusCode::UNAUTHORIZED),
        ("/admin/users", None, StatusCode::UNAUTHORIZED),
        ("/admin/users", Some("viewer-token"), StatusCode::FORBIDDEN),
        ("/admin/users", Some("admin-token"), StatusCode::OK),
        (
            "/tenants/acme/projects",
            Some("viewer-token"),
            StatusCode::OK,
        ),
        (
            "/tenants/globex/projects",
            Some("viewer-token"),
            StatusCode::FORBIDDEN,
        ),
        (
            "/tenants/globex/projects",
            Some("globex-token"),
            StatusCode::OK,
        ),
        (
            "/tenants/%61cme/projects",
            Some("globex-token"),
            StatusCode::FORBIDDEN,
        ),
        ("/tenants/acme/projects", None, StatusCode::UNAUTHORIZED),
        ("/internal/metrics", Some("admin-token"), StatusCode::OK),
        (
            "/internal/metrics",
            Some("viewer-token"),
            StatusCode::NOT_FOUND,
        ),
        ("/internal/metrics", None, StatusCode::NOT_FOUND),
        ("/.git/config", None, StatusCode::NOT_FOUND),
        ("/public/../.env", None, StatusCode::NOT_FOUND),
        (
            "/no/such/route",
            Some("viewer-token"),
            StatusCode::NOT_FOUND,
        ),
    ];
    for (path, token, want) in cases {
        let res = s.get(path, *token).await;
        assert_eq!(res.status(), *want, "GET {path} with {token:?}");
    }
    // The decision travels to the handler: /me reports who was let in.
    let me: Value = s.get("/me", Some("admin-token")).await.json_value().await;
    assert_eq!(me["subject"], "alice");
    assert_eq!(me["tenant"], "acme");
}

trait JsonValue {
    async fn json_value(self) -> Value;
}

impl JsonValue for Response {
    async fn json_value(self) -> Value {
        serde_json::from_str(&self.text().await.unwrap()).unwrap()
    }
}

#[tokio::test]
async fn unauthorized_carries_a_challenge_and_forbidden_is_not_cached() {
    let s = Server::start().await;
    let res = s.get("/admin/users", None).await;
    assert_eq!(res.status(), 401);
    assert_eq!(
        header(&res, "www-authenticate"),
        r#"Bearer realm="example-api""#
    );
    assert_eq!(header(&res, "cache-control"), "no-store");

    let res = s.get("/admin/users", Some("expired-token")).await;
    assert_eq!(res.status(), 401);
    assert_eq!(
        header(&res, "www-authenticate"),
        r#"Bearer realm="example-api", error="invalid_token""#
    );

    let res = s.get("/admin/users", Some("viewer-token")).await;
    assert_eq!(res.status(), 403);
    assert_eq!(header(&res, "cache-control"), "no-store");
    assert!(res.headers().get("www-authenticate").is_none());
    let body = problem(res).await;
    assert_eq!(body["status"], 403);
}

/// A response as a client sees it: status, headers (without `date`) and body.
async fn snapshot(res: Response) -> (u16, Vec<(String, String)>, String) {
    let status = res.status().as_u16();
    let mut headers: Vec<(String, String)> = res
        .headers()
        .iter()
        .filter(|(k, _)| k.as_str() != "date")
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    headers.sort();
    (status, headers, res.text().await.unwrap())
}

#[tokio::test]
async fn hidden_paths_answer_like_missing_ones() {
    let s = Server::start().await;
    let with_origin = [("origin", ORIGIN)];
    let preflight = [("origin", ORIGIN), ("access-control-request-method", "GET")];
    // Hidden for the viewer, a path the application does not have, for comparison.
    for (method, hidden, token, headers) in [
        (
            Method::GET,
            "/internal/metrics",
            Some("viewer-token"),
            &[][..],
        ),
        (Method::GET, "/.env", Some("viewer-token"), &[][..]),
        (Method::GET, "/WP-ADMIN/", Some("viewer-token"), &[][..]),
        // Axum's method router would add `Allow: GET,HEAD` here, confirming the route.
        (
            Method::POST,
            "/internal/metrics",
            Some("viewer-token"),
            &[][..],
        ),
        (
            Method::DELETE,
            "/internal/metrics",
            Some("viewer-token"),
            &[][..],
        ),
        (
            Method::GET,
            "/internal/metrics",
            Some("viewer-token"),
            &with_origin[..],
        ),
        (Method::OPTIONS, "/internal/metrics", None, &preflight[..]),
        (Method::OPTIONS, "/.git/config", None, &preflight[..]),
    ] {
        let missing = snapshot(
            s.send(method.clone(), "/no/such/page", token, headers)
                .await,
        )
        .await;
        let got = snapshot(s.send(method.clone(), hidden, token, headers).await).await;
        assert_eq!(got, missing, "{method} {hidden}");
        assert!(
            got.1
                .iter()
                .all(|(k, _)| k != "allow" && k != "x-request-id"),
            "{method} {hidden}: {got:?}"
        );
    }
    // The owner of the route still gets it, with its real method rules.
    let res = s
        .send(Method::POST, "/internal/metrics", Some("admin-token"), &[])
        .await;
    assert_eq!(res.status(), 405);
}

#[tokio::test]
async fn login_burst_is_throttled_with_rate_limit_headers() {
    let s = Server::start().await;
    // 5 a minute, burst 5: one request every 12 s refills.
    for i in 1..=5u64 {
        let res = s.send(Method::POST, "/login", None, &[]).await;
        assert_eq!(res.status(), 200, "request {i}");
        assert_eq!(
            header(&res, "ratelimit-policy"),
            r#""login-throttle";q=5;w=60"#
        );
        let rl = header(&res, "ratelimit");
        let (r, t) = parse_ratelimit(rl);
        assert_eq!(r, 5 - i, "{rl}");
        assert!((12 * i - 1..=12 * i).contains(&t), "request {i}: {rl}");
    }
    for _ in 0..3 {
        let res = s.send(Method::POST, "/login", None, &[]).await;
        assert_eq!(res.status(), 429);
        let retry: u64 = header(&res, "retry-after").parse().unwrap();
        assert!((11..=12).contains(&retry), "retry-after {retry}");
        assert_eq!(
            header(&res, "ratelimit-policy"),
            r#""login-throttle";q=5;w=60"#
        );
        let (r, t) = parse_ratelimit(header(&res, "ratelimit"));
        assert_eq!(r, 0);
        assert!((59..=60).contains(&t), "reset {t}");
        let body = problem(res).await;
        assert_eq!(body["status"], 429);
        assert_eq!(body["detail"], "too many login attempts");
    }
    // Other routes are not counted.
    assert_eq!(s.get("/public", None).await.status(), 200);
}

/// `"name";r=R;t=T` -> (R, T).
fn parse_ratelimit(v: &str) -> (u64, u64) {
    let mut r = None;
    let mut t = None;
    for part in v.split(';').skip(1) {
        match part.split_once('=') {
            Some(("r", n)) => r = n.parse().ok(),
            Some(("t", n)) => t = n.parse().ok(),
            _ => {}
        }
    }
    (r.unwrap(), t.unwrap())
}

#[tokio::test]
async fn problem_bodies_at_each_reveal_level() {
    let s = Server::start().await;
    let set_reveal = |level: &str| {
        s.reload_edited(|t| t.replace(r#"reveal = "reason""#, &format!(r#"reveal = "{level}""#)));
    };

    set_reveal("none");
    let body = problem(s.get("/admin/users", Some("viewer-token")).await).await;
    assert_eq!(
        keys(&body),
        ["request_id", "status", "title", "type"],
        "{body}"
    );
    assert_eq!(body["title"], "Forbidden");

    set_reveal("reason");
    let body = problem(s.get("/admin/users", Some("viewer-token")).await).await;
    assert_eq!(
        keys(&body),
        ["detail", "request_id", "status", "title", "type"],
        "{body}"
    );
    assert_eq!(body["detail"], "the admin area needs the admin role");

    set_reveal("detail");
    let body = problem(s.get("/admin/users", Some("viewer-token")).await).await;
    assert_eq!(body["rule"], "admin-only", "{body}");
    assert_eq!(body["required_role"], "admin");
    assert_eq!(body["your_roles"], serde_json::json!(["viewer"]));
    let body = problem(s.get("/tenants/globex/x", Some("viewer-token")).await).await;
    assert_eq!(body["rule"], "tenant-isolation", "{body}");
    assert_eq!(body["required_tenant"], "globex");
    assert_eq!(body["your_tenant"], "acme");
    let body = problem(s.get("/me", None).await).await;
    assert_eq!(
        (body["status"].as_u64(), body["rule"].as_str()),
        (Some(401), Some("needs-login")),
        "{body}"
    );
}

#[tokio::test]
async fn cors_preflight_passes_and_refusals_carry_cors_headers() {
    let s = Server::start().await;
    let preflight = [
        ("origin", ORIGIN),
        ("access-control-request-method", "GET"),
        ("access-control-request-headers", "authorization"),
    ];
    // No credentials on a preflight, by design: the auth rules do not apply to it.
    let res = s
        .send(Method::OPTIONS, "/admin/users", None, &preflight)
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "access-control-allow-origin"), ORIGIN);
    assert!(header(&res, "access-control-allow-headers").contains("authorization"));

    // A cross-origin refusal the browser can read.
    let res = s
        .send(Method::GET, "/admin/users", None, &[("origin", ORIGIN)])
        .await;
    assert_eq!(res.status(), 401);
    assert_eq!(header(&res, "access-control-allow-origin"), ORIGIN);
    assert!(header(&res, "access-control-expose-headers").contains("www-authenticate"));
    let res = s
        .send(
            Method::GET,
            "/admin/users",
            Some("viewer-token"),
            &[("origin", ORIGIN)],
        )
        .await;
    assert_eq!(res.status(), 403);
    assert_eq!(header(&res, "access-control-allow-origin"), ORIGIN);

    // Other origins get none.
    let res = s
        .send(
            Method::GET,
            "/admin/users",
            None,
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(res.status(), 401);
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn forwarded_for_is_ignored_from_untrusted_peers() {
    let block = |t: String| {
        let t = t.replace(
            "[lists]\n",
            "[lists]\nblocked = { kind = \"ip\", items = [\"198.51.100.7\"] }\n",
        );
        format!("{t}\n[[rule]]\nid = \"blocked-client\"\nwhen = 'ip in $blocked'\naction = \"forbid\"\n")
    };
    let xff = [("x-forwarded-for", "198.51.100.7")];

    // The loopback peer is not a trusted proxy: the header is the client's word, ignored.
    let s = Server::start().await;
    s.reload_edited(block);
    let res = s.send(Method::GET, "/public", None, &xff).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json_value().await["client_ip"], "127.0.0.1");

    // Behind a trusted proxy, the forwarded address is the client.
    let s = Server::start_with(Options {
        trusted_proxies: TrustedProxies::parse(["127.0.0.0/8", "::1"]).unwrap(),
        ..Options::default()
    })
    .await;
    s.reload_edited(block);
    let res = s.send(Method::GET, "/public", None, &xff).await;
    assert_eq!(res.status(), 403);
    let spoofed = [("x-forwarded-for", "198.51.100.7, 203.0.113.5")];
    let res = s.send(Method::GET, "/public", None, &spoofed).await;
    assert_eq!(res.status(), 200, "only the rightmost untrusted hop counts");
    assert_eq!(res.json_value().await["client_ip"], "203.0.113.5");
    let garbage = [("x-forwarded-for", "not-an-ip")];
    let res = s.send(Method::GET, "/public", None, &garbage).await;
    assert_eq!(res.json_value().await["client_ip"], "127.0.0.1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_reload_under_concurrent_traffic() {
    const CLIENTS: usize = 8;
    const REQUESTS: usize = 60;
    let s = Arc::new(Server::start().await);
    let sent = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let s = Arc::clone(&s);
            let sent = Arc::clone(&sent);
            tokio::spawn(async move {
                let mut statuses = Vec::with_capacity(REQUESTS);
                for _ in 0..REQUESTS {
                    let res = s.get("/public/feature", None).await;
                    statuses.push(res.status().as_u16());
                    // Read the whole body: a request that fails half-way fails here.
                    res.bytes().await.expect("a whole response");
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                statuses
            })
        })
        .collect();
    // Reload once a quarter of the traffic is through.
    while sent.load(Ordering::Relaxed) < CLIENTS * REQUESTS / 4 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    s.reload_edited(|t| {
        format!("{t}\n[[rule]]\nid = \"feature-off\"\nwhen = 'path == \"/public/feature\"'\naction = \"forbid\"\n")
    });
    let mut before = 0;
    let mut after = 0;
    for t in tasks {
        let statuses = t.await.expect("no client failed");
        assert_eq!(statuses.len(), REQUESTS);
        // Each client sees the old rules, then the new ones: never back.
        let switch = statuses
            .iter()
            .position(|&c| c == 403)
            .unwrap_or(statuses.len());
        assert!(statuses[..switch].iter().all(|&c| c == 200), "{statuses:?}");
        assert!(statuses[switch..].iter().all(|&c| c == 403), "{statuses:?}");
        before += switch;
        after += statuses.len() - switch;
    }
    assert!(
        before >= CLIENTS * REQUESTS / 4,
        "{before} before the reload"
    );
    assert!(after > 0, "the new rule took effect");
    assert_eq!(s.get("/public/feature", None).await.status(), 403);
    assert_eq!(s.get("/public", None).await.status(), 200);
}

/// Sends `head` (request line and headers, without the final blank line) over a raw TCP
/// connection, as an attacker would: no client library normalises the target first.
/// Returns the status and the body.
async fn raw(addr: SocketAddr, head: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("{head}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// Every spelling of "a protected route, then back out to a public one" that routers and
/// the rules have read differently, with the token sent (the tenant ones as acme's viewer).
const EVASIONS: &[(&str, &str)] = &[
    ("/admin/../public", ""),
    ("/admin/%2e%2e/public", ""),
    ("/admin/%2E%2E/public", ""),
    ("/admin/.%2e/public", ""),
    ("/admin/..;/public", ""),
    ("/admin/..%3b/public", ""),
    ("/admin/..;x=1/public", ""),
    ("/admin/%5c..%5cpublic", ""),
    ("/admin%5c..%5cpublic", ""),
    ("/admin/..%2fpublic", ""),
    ("/admin/%2e%2e%2fpublic", ""),
    ("/admin/x/../../public", ""),
    ("/admin./../public", ""),
    ("/tenants/globex/../../public", "viewer-token"),
    ("/tenants/globex/%2e%2e/%2e%2e/public", "viewer-token"),
    ("/tenants/globex/..;/..;/public", "viewer-token"),
];

fn head(target: &str, token: &str, host: &str) -> String {
    let auth = if token.is_empty() {
        String::new()
    } else {
        format!("\r\nAuthorization: Bearer {token}")
    };
    format!("GET {target} HTTP/1.1\r\nHost: {host}{auth}")
}

#[tokio::test]
async fn router_serves_what_the_rules_judged() {
    // By default the ambiguous forms are refused before any rule or route.
    let s = Server::start().await;
    let host = s.addr.to_string();
    for &(path, token) in EVASIONS {
        for target in [path.to_string(), format!("http://{host}{path}")] {
            let (status, body) = raw(s.addr, &head(&target, token, &host)).await;
            assert_eq!(status, 400, "{target}: {body}");
            assert!(
                !body.contains("\"admin\"") && !body.contains("\"tenant\""),
                "{target}: {body}"
            );
        }
    }
    // Under `rewrite` they are judged as the public path, and that is what is served.
    s.reload_edited(|t| t.replace("[policy]\n", "[policy]\non_ambiguous_path = \"rewrite\"\n"));
    for &(path, token) in EVASIONS {
        for target in [path.to_string(), format!("http://{host}{path}")] {
            let (status, body) = raw(s.addr, &head(&target, token, &host)).await;
            assert_eq!(status, 200, "{target}: {body}");
            assert!(
                body.contains("\"hello\""),
                "{target}: the public handler answers: {body}"
            );
        }
    }
    // And what the rules refuse stays refused, whatever the spelling.
    for target in [
        "/public/../admin/users",
        "/%61dmin/users",
        "//admin/users",
        "/public/..;/admin/users",
    ] {
        let (status, body) = raw(s.addr, &head(target, "", &host)).await;
        assert_eq!(status, 401, "{target}: {body}");
    }
    for target in [
        "/tenants/acme/../globex/projects",
        "/tenants/%67lobex/projects",
    ] {
        let (status, body) = raw(s.addr, &head(target, "viewer-token", &host)).await;
        assert_eq!(status, 403, "{target}: {body}");
    }
}

#[tokio::test]
async fn host_fields_that_disagree_are_refused() {
    let s = Server::start().await;
    let host = s.addr.to_string();
    let public = format!("http://{host}/public");
    for head in [
        format!("GET /public HTTP/1.1\r\nHost: {host}\r\nHost: admin.internal"),
        format!("GET {public} HTTP/1.1\r\nHost: admin.internal"),
        format!("GET http://admin.internal/public HTTP/1.1\r\nHost: {host}"),
    ] {
        let (status, body) = raw(s.addr, &head).await;
        assert_eq!(status, 400, "{head}: {body}");
    }
    let (status, _) = raw(s.addr, &format!("GET {public} HTTP/1.1\r\nHost: {host}")).await;
    assert_eq!(status, 200);
    // What the checks protect: the rule on the internal host.
    let (status, _) = raw(s.addr, "GET /public HTTP/1.1\r\nHost: admin.internal").await;
    assert_eq!(status, 404);
}

//! An example API guarded by portcullis: an axum router behind [`PortcullisLayer`].
//!
//! - `GET /public`, `GET /public/{*rest}`: open to anyone.
//! - `POST /login`: open, throttled to 5 a minute per client address (429 past that).
//! - `GET /me`: who you are, and the decision that let you in.
//! - `GET /admin/{*rest}`: role `admin` (401 when anonymous, 403 otherwise).
//! - `GET|POST /tenants/{id}/{*rest}`: only your own tenant.
//! - `GET /internal/metrics`: role `ops`; everyone else gets a 404.
//!
//! Authentication is the host's job: [`identity`] maps bearer tokens from a toy table
//! ([`TOKENS`]) to subjects, roles and tenants; an unknown token is
//! [`AuthStatus::Invalid`](portcullis::AuthStatus::Invalid). Authorization is the rules'
//! (`rules/api.toml`). CORS is allowed for [`Options::cors_origins`].
//!
//! [`app`] builds the router, [`serve`] runs it on a listener; the integration tests start
//! it on `127.0.0.1:0` and talk to it with a real HTTP client.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::extract::{ConnectInfo, Extension, Path};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use http::request::Parts;
use portcullis::{Auth, ClientIp, CorsHeaders, Decision, Engine, PortcullisLayer, TrustedProxies};
use serde_json::json;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The toy token table: bearer token, subject, roles, tenant.
pub const TOKENS: &[(&str, &str, &[&str], &str)] = &[
    ("admin-token", "alice", &["admin", "ops"], "acme"),
    ("viewer-token", "bob", &["viewer"], "acme"),
    ("globex-token", "carol", &["viewer"], "globex"),
];

/// The identity hook: the caller's [`Auth`] from `Authorization: Bearer <token>`.
///
/// No header: anonymous. A known token: authenticated, with the table's subject, roles
/// and tenant. Anything else (unknown token, another scheme, a value that is not text):
/// invalid credentials, so refusals are 401 with `error="invalid_token"`.
pub fn identity(parts: &Parts) -> Auth {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Auth::default();
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    match token.and_then(|t| TOKENS.iter().find(|(known, ..)| *known == t)) {
        Some((_, subject, roles, tenant)) => Auth::authenticated(*subject)
            .with_roles(roles.iter().copied())
            .with_tenant(*tenant),
        None => Auth::invalid(),
    }
}

/// The peer-address hook for axum: the connection's address from `ConnectInfo`.
pub fn peer_addr(parts: &Parts) -> Option<SocketAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

/// How the server is set up.
#[derive(Clone, Debug)]
pub struct Options {
    /// Reverse proxies whose `X-Forwarded-For` is believed (none by default).
    pub trusted_proxies: TrustedProxies,
    /// Origins allowed to call the API from a browser.
    pub cors_origins: Vec<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            trusted_proxies: TrustedProxies::none(),
            cors_origins: vec!["http://localhost:8080".to_string()],
        }
    }
}

/// The rule directory shipped with the example.
#[must_use]
pub fn rules_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules")
}

/// The router with default [`Options`].
pub fn app(engine: Engine) -> Router {
    app_with(engine, Options::default())
}

/// A target no route serves: hidden refusals are answered as the application answers it.
pub const NOT_FOUND_TARGET: &str = "/.portcullis/not-found";

/// The portcullis layer as this server configures it.
pub fn layer(engine: Engine, options: &Options) -> PortcullisLayer {
    PortcullisLayer::new(engine)
        .identity(identity)
        .peer_addr(peer_addr)
        .trusted_proxies(options.trusted_proxies.clone())
        .cors(CorsHeaders::origins(&options.cors_origins))
        // A hidden path gets the application's own 404 (headers, body, CORS and all).
        .not_found_via(NOT_FOUND_TARGET)
}

/// The application: portcullis in front of the host's CORS middleware and the routes.
///
/// The layer wraps the whole router (an outer router whose only service is the guarded
/// one), not each route: `Router::layer` would put it inside axum's method routers,
/// whose `Allow` header on a refusal would confirm that a hidden route exists.
pub fn app_with(engine: Engine, options: Options) -> Router {
    // The CORS middleware wraps the router too: it answers preflights itself, the same
    // for every path, so a preflight confirms no route either.
    let app = tower::Layer::layer(&cors(&options), routes());
    let guarded = tower::Layer::layer(&layer(engine, &options), app);
    Router::new().fallback_service(guarded)
}

/// The host's CORS: answers preflights and decorates the application's responses.
/// Refusals never reach it; the portcullis layer adds the same headers to those.
fn cors(options: &Options) -> CorsLayer {
    let origins: Vec<HeaderValue> = options
        .cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([
            header::HeaderName::from_static("ratelimit"),
            header::HeaderName::from_static("ratelimit-policy"),
        ])
}

/// The routes, unguarded.
fn routes() -> Router {
    Router::new()
        .route("/public", get(public))
        .route("/public/{*rest}", get(public))
        .route("/login", post(login))
        .route("/me", get(me))
        .route("/admin/{*rest}", get(admin))
        .route("/tenants/{id}", get(tenant))
        .route("/tenants/{id}/{*rest}", get(tenant).post(tenant_write))
        .route("/internal/metrics", get(metrics))
        .fallback(not_found)
}

/// Serves `app` on `listener` until the task is dropped, with each connection's peer
/// address available to the layer.
///
/// # Errors
///
/// The I/O error that stops the server.
pub async fn serve(listener: tokio::net::TcpListener, app: Router) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

async fn public(client: Option<Extension<ClientIp>>) -> impl IntoResponse {
    let ip = client.map_or_else(|| "-".to_string(), |c| c.0 .0.to_string());
    Json(json!({ "hello": "world", "client_ip": ip }))
}

async fn login() -> impl IntoResponse {
    // A real server checks a password here; the example hands out a viewer token.
    Json(json!({ "token": "viewer-token" }))
}

async fn me(
    Extension(auth): Extension<Auth>,
    Extension(decision): Extension<Decision>,
) -> impl IntoResponse {
    Json(json!({
        "subject": auth.subject,
        "roles": auth.roles,
        "tenant": auth.tenant,
        "request_id": decision.request_id().as_str(),
        "allowed_by": decision.rule_id(),
    }))
}

async fn admin(Path(rest): Path<String>) -> impl IntoResponse {
    Json(json!({ "admin": rest }))
}

async fn tenant(Path(params): Path<Vec<(String, String)>>) -> impl IntoResponse {
    let id = params
        .iter()
        .find(|(k, _)| k == "id")
        .map(|(_, v)| v.clone());
    Json(json!({ "tenant": id, "projects": ["alpha", "beta"] }))
}

async fn tenant_write(Path(params): Path<Vec<(String, String)>>) -> impl IntoResponse {
    let id = params
        .iter()
        .find(|(k, _)| k == "id")
        .map(|(_, v)| v.clone());
    (
        StatusCode::CREATED,
        Json(json!({ "tenant": id, "created": true })),
    )
}

async fn metrics() -> impl IntoResponse {
    "requests_total 42\n"
}

async fn not_found() -> impl IntoResponse {
    (StatusCode::NOT_FOUND, Json(json!({ "error": "not found" })))
}

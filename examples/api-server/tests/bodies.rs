//! The layer reads bodies when the rules do: the starter pack's attack rules refuse an
//! injection in a JSON or form body sent over real HTTP, and benign bodies go through.

use std::time::Duration;

use portcullis::Engine;
use portcullis_example_api::{app, serve};

async fn server() -> String {
    let pack = concat!(env!("CARGO_MANIFEST_DIR"), "/../../rules");
    let engine = Engine::from_path(pack).expect("the starter pack loads");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, app(engine)));
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injections_in_bodies_are_refused_and_benign_bodies_pass() {
    let base = server().await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let post = |path: &str, ct: &'static str, body: &'static str| {
        client
            .post(format!("{base}{path}"))
            .header("content-type", ct)
            .header("user-agent", "Mozilla/5.0")
            .body(body)
            .send()
    };
    let json = "application/json";
    let res = post(
        "/comments",
        json,
        r#"{"post": 7, "text": "<img src=x onerror=alert(1)>"}"#,
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 403);
    let body: serde_json::Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    assert_eq!(body["status"], 403);
    let form = "application/x-www-form-urlencoded";
    let res = post("/search", form, "q=1%27%20OR%20%271%27%3D%271")
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // Benign look-alikes reach the application (which has no such page: 404, not 403).
    let res = post("/comments", json, r#"{"text": "I love <3 cats, O'Brien"}"#)
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

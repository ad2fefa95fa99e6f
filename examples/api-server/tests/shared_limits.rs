//! Two instances of the example server sharing one Redis share the login limit: five
//! attempts a minute in all, not five per instance. Needs a real `redis-server` (skipped,
//! loudly, where none is installed, unless `PORTCULLIS_REQUIRE_REDIS` is set).

use std::time::Duration;

use portcullis::store::{RedisOptions, RedisStore};
use portcullis::Engine;
use portcullis_example_api::{app, rules_dir, serve};
use portcullis_testgen::redis_server::RedisServer;

async fn instance(redis: &str) -> String {
    // A timeout a loaded test machine cannot reach: this test is about sharing, not timing.
    let options = RedisOptions {
        timeout: Duration::from_secs(2),
        ..RedisOptions::default()
    };
    let store = RedisStore::connect(redis, options).expect("redis answers");
    let engine = Engine::builder()
        .rate_limit_store(store)
        .load(&[rules_dir()])
        .expect("the example rules load");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, app(engine)));
    format!("http://{addr}/login")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_the_login_limit() {
    let Some(redis) = RedisServer::start("two_instances_share_the_login_limit") else {
        return;
    };
    let a = instance(&redis.url()).await;
    let b = instance(&redis.url()).await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut statuses = Vec::new();
    for i in 0..8 {
        let url = if i % 2 == 0 { &a } else { &b };
        let res = client.post(url).send().await.unwrap();
        statuses.push(res.status().as_u16());
        if res.status() == 429 {
            let retry: u64 = res.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=12).contains(&retry), "{retry}");
            assert_eq!(res.headers()["ratelimit"], r#""login-throttle";r=0;t=60"#);
        }
    }
    // Alternating between the instances: five in all pass, then both refuse.
    let passed = statuses.iter().filter(|s| **s != 429).count();
    assert_eq!(passed, 5, "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
}

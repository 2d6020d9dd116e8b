//! Usage metering and quotas shared through Redis (`AUTHZ_TEST_REDIS_URL`): two instances
//! enforce one quota exactly under concurrency; counters from two meters add up in Redis; a
//! failing or hanging store fails the way the app chose, never with a 500 or a hang.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use authz_axum::core::lifecycle::store::{RedisStore, StoreError, StoreResult};
use authz_axum::usage::{
    FailMode, Quota, QuotaDecision, QuotaStore, Quotas, UsageLayer, UsageMeter,
};
use authz_axum::{Algorithm, AuthLayer, Issuer, KeySet, SigningKey, Verifier};
use axum::Router;
use axum::routing::get;
use serde_json::json;

const SECRET: &[u8] = b"k7#pQ9v!Lm2$Xr8^Tz4&Wb6*Ny1(Hc3)";

fn key() -> SigningKey {
    SigningKey::from_secret(Algorithm::HS256, SECRET).unwrap()
}

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// The shared Redis. The test runs only when the build saw the variable (see
/// `tests/build/probe.rs`); gone at run time, it is a failure, not a skip.
fn redis_url() -> Option<String> {
    match std::env::var("AUTHZ_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => panic!("AUTHZ_TEST_REDIS_URL was set when the tests were built, and is not now"),
    }
}

async fn instance(meter: Arc<UsageMeter>, quotas: Quotas) -> String {
    let verifier = Verifier::builder(KeySet::single(key().verifying_key()))
        .build()
        .unwrap();
    let app = Router::new()
        .route("/items/{id}", get(|| async { "item" }))
        .layer(UsageLayer::new(meter).with_quotas(quotas))
        .layer(AuthLayer::new(verifier));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(authz_redis),
    ignore = "needs Redis: set AUTHZ_TEST_REDIS_URL (./scripts/services prints it)"
)]
async fn two_instances_enforce_one_quota_and_share_counters() {
    let Some(url) = redis_url() else { return };
    let prefix = format!("{}:", unique("usage"));
    let redis = Arc::new(RedisStore::connect(&url, &prefix).await.unwrap());
    let quotas = || {
        Quotas::new()
            .for_authenticated(Quota::rate(30, 0.0))
            .shared(redis.clone(), FailMode::Closed, Duration::from_secs(2))
    };
    let (meter_a, meter_b) = (
        Arc::new(UsageMeter::new().exporting()),
        Arc::new(UsageMeter::new().exporting()),
    );
    let a = instance(meter_a.clone(), quotas()).await;
    let b = instance(meter_b.clone(), quotas()).await;
    let subject = unique("carol");
    let token = Issuer::new(key()).issue(&json!({"sub": subject})).unwrap();
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let base = if i % 2 == 0 { a.clone() } else { b.clone() };
        let (http, token) = (http.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let response = http
                .get(format!("{base}/items/{i}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            (
                response.status().as_u16(),
                response.headers().get("retry-after").is_some(),
            )
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    let ok = statuses.iter().filter(|(s, _)| *s == 200).count();
    let limited = statuses.iter().filter(|(s, r)| *s == 429 && *r).count();
    assert_eq!((ok, limited), (30, 170), "one quota across both instances");

    // Counters: each meter flushes its own batch; Redis holds the sum.
    redis.flush_usage(&meter_a.take_pending()).await.unwrap();
    redis.flush_usage(&meter_b.take_pending()).await.unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let day = now - now % 86_400;
    let totals = redis.usage_totals(day).await.unwrap();
    assert_eq!(totals, [(subject.clone(), 200)]);
    let rows = redis.usage_of(&subject, day).await.unwrap();
    let by_class: u64 = rows
        .iter()
        .filter(|r| r.route == "/items/{id}" && r.status_class == "4xx")
        .map(|r| r.count)
        .sum();
    assert_eq!(by_class, 170);
    assert!(meter_a.take_pending().is_empty(), "taken once");
}

/// A store that fails, or hangs.
struct Broken {
    hang: bool,
}

#[async_trait::async_trait]
impl QuotaStore for Broken {
    async fn take(&self, _: &str, _: &Quota, _: f64) -> StoreResult<QuotaDecision> {
        if self.hang {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        Err(StoreError::message("connection refused"))
    }
}

#[tokio::test]
async fn a_store_outage_fails_open_or_closed_as_chosen_never_500_never_hanging() {
    let token = Issuer::new(key()).issue(&json!({"sub": "dave"})).unwrap();
    let http = reqwest::Client::new();
    for (hang, mode, expected) in [
        (false, FailMode::Open, 200),
        (false, FailMode::Closed, 503),
        (true, FailMode::Open, 200),
        (true, FailMode::Closed, 503),
    ] {
        let quotas = Quotas::new().for_authenticated(Quota::rate(1, 0.0)).shared(
            Arc::new(Broken { hang }),
            mode,
            Duration::from_millis(100),
        );
        let base = instance(Arc::new(UsageMeter::new()), quotas).await;
        let started = Instant::now();
        let response = http
            .get(format!("{base}/items/1"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), expected, "hang={hang} {mode:?}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "bounded by the timeout"
        );
        if expected == 503 {
            assert_eq!(response.headers()["retry-after"], "1");
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["code"], "quota_unavailable");
        }
    }
}

/// A real outage: a redis-server of the test's own, killed mid-run.
#[tokio::test]
#[cfg_attr(
    not(authz_redis_server),
    ignore = "needs redis-server on PATH (apt-get install redis-server)"
)]
async fn a_real_redis_outage_fails_as_chosen() {
    let binary = which_redis_server().expect("redis-server was on PATH when the tests were built");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = std::process::Command::new(binary)
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("redis://127.0.0.1:{port}/");
    let mut store = None;
    for _ in 0..50 {
        if let Ok(s) = RedisStore::connect(&url, "outage:").await {
            store = Some(Arc::new(s));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let store = store.expect("the test's redis-server started");
    let token = Issuer::new(key()).issue(&json!({"sub": "erin"})).unwrap();
    let http = reqwest::Client::new();
    let open = instance(
        Arc::new(UsageMeter::new()),
        Quotas::new()
            .for_authenticated(Quota::rate(100, 0.0))
            .shared(store.clone(), FailMode::Open, Duration::from_millis(200)),
    )
    .await;
    let closed = instance(
        Arc::new(UsageMeter::new()),
        Quotas::new()
            .for_authenticated(Quota::rate(100, 0.0))
            .shared(store, FailMode::Closed, Duration::from_millis(200)),
    )
    .await;
    let get = |base: String| {
        let (http, token) = (http.clone(), token.clone());
        async move {
            let started = Instant::now();
            let response = http
                .get(format!("{base}/items/1"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), started.elapsed())
        }
    };
    assert_eq!(get(open.clone()).await.0, 200);
    assert_eq!(get(closed.clone()).await.0, 200);

    server.kill().unwrap();
    server.wait().unwrap();
    for _ in 0..3 {
        let (status, took) = get(open.clone()).await;
        assert_eq!(status, 200, "fail open");
        assert!(took < Duration::from_secs(2));
        let (status, took) = get(closed.clone()).await;
        assert_eq!(status, 503, "fail closed");
        assert!(took < Duration::from_secs(2));
    }
}

fn which_redis_server() -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .chain([
            std::path::PathBuf::from("/usr/bin"),
            std::path::PathBuf::from("/usr/sbin"),
        ])
        .map(|dir| dir.join("redis-server"))
        .find(|path| path.is_file())
        .ok_or(())
}

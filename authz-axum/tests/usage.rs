//! The usage layer over real HTTP: exact counts by caller, route template, method and status
//! class; quotas exact under 200 concurrent requests; 429 with `Retry-After` and
//! `RateLimit-*`; per-role and anonymous quotas.

#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use authz_axum::usage::{Granularity, Quota, Quotas, UsageLayer, UsageMeter};
use authz_axum::{Algorithm, AuthLayer, Issuer, KeySet, SigningKey, Verifier};
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::json;

const SECRET: &[u8] = b"k7#pQ9v!Lm2$Xr8^Tz4&Wb6*Ny1(Hc3)";

fn key() -> SigningKey {
    SigningKey::from_secret(Algorithm::HS256, SECRET).unwrap()
}

fn token(sub: &str, roles: &[&str]) -> String {
    Issuer::new(key())
        .issue(&json!({"sub": sub, "roles": roles}))
        .unwrap()
}

async fn start(meter: Arc<UsageMeter>, quotas: Option<Quotas>, hits: Arc<AtomicU64>) -> String {
    let verifier = Verifier::builder(KeySet::single(key().verifying_key()))
        .build()
        .unwrap();
    let usage = match quotas {
        Some(quotas) => UsageLayer::new(meter).with_quotas(quotas),
        None => UsageLayer::new(meter),
    };
    let app = Router::new()
        .route(
            "/posts/{id}",
            get(|State(hits): State<Arc<AtomicU64>>| async move {
                hits.fetch_add(1, Ordering::SeqCst);
                "post"
            })
            .post(|| async { (axum::http::StatusCode::CREATED, "created") }),
        )
        .route(
            "/missing",
            get(|| async { axum::http::StatusCode::NOT_FOUND }),
        )
        .with_state(hits)
        .layer(usage)
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

#[tokio::test]
async fn counts_are_exact_by_caller_route_method_and_class() {
    let meter = Arc::new(UsageMeter::new());
    let base = start(meter.clone(), None, Arc::default()).await;
    let http = reqwest::Client::new();
    let alice = token("alice", &["user"]);
    let bob = Issuer::new(key())
        .issue(&json!({"sub": "bob", "roles": ["user"], "client_id": "mobile-app"}))
        .unwrap();
    for (who, method, path) in [
        (Some(&alice), "GET", "/posts/1"),
        (Some(&alice), "GET", "/posts/2"),
        (Some(&alice), "GET", "/posts/3"),
        (Some(&alice), "POST", "/posts/3"),
        (Some(&alice), "GET", "/missing"),
        (Some(&bob), "GET", "/posts/9"),
        (None, "GET", "/posts/1"),
        (None, "GET", "/posts/2"),
    ] {
        let mut request = http.request(method.parse().unwrap(), format!("{base}{path}"));
        if let Some(token) = who {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap();
    }
    let summary = |subject: &str| -> Vec<(String, String, String, u64)> {
        meter
            .usage(Some(subject), Granularity::Day, 0, u64::MAX)
            .into_iter()
            .map(|r| (r.route, r.method, r.status_class, r.count))
            .collect()
    };
    assert_eq!(
        summary("alice"),
        [
            ("/missing".into(), "GET".into(), "4xx".into(), 1),
            ("/posts/{id}".into(), "GET".into(), "2xx".into(), 3),
            ("/posts/{id}".into(), "POST".into(), "2xx".into(), 1),
        ]
    );
    assert_eq!(
        summary("bob"),
        [("/posts/{id}".into(), "GET".into(), "2xx".into(), 1)]
    );
    // Bob's token names its OAuth client: counted for the client too (not in the totals,
    // which count callers).
    assert_eq!(
        summary("client:mobile-app"),
        [("/posts/{id}".into(), "GET".into(), "2xx".into(), 1)]
    );
    assert_eq!(
        summary("anon:127.0.0.1"),
        [("/posts/{id}".into(), "GET".into(), "2xx".into(), 2)]
    );
    assert_eq!(
        meter.totals(0, u64::MAX),
        [
            ("alice".into(), 5),
            ("anon:127.0.0.1".into(), 2),
            ("bob".into(), 1),
        ]
    );
}

#[tokio::test]
async fn a_quota_holds_exactly_under_200_concurrent_requests() {
    let meter = Arc::new(UsageMeter::new());
    let hits = Arc::new(AtomicU64::new(0));
    let quotas = Quotas::new().for_authenticated(Quota::rate(50, 0.0));
    let base = start(meter.clone(), Some(quotas), hits.clone()).await;
    let http = reqwest::Client::new();
    let alice = token("alice", &["user"]);
    let mut tasks = Vec::new();
    for i in 0..200 {
        let (http, url, alice) = (http.clone(), format!("{base}/posts/{i}"), alice.clone());
        tasks.push(tokio::spawn(async move {
            http.get(url).bearer_auth(alice).send().await.unwrap()
        }));
    }
    let (mut ok, mut limited) = (0, 0);
    for task in tasks {
        let response = task.await.unwrap();
        match response.status().as_u16() {
            200 => {
                ok += 1;
                assert_eq!(response.headers()["ratelimit-limit"], "50");
            }
            429 => {
                limited += 1;
                assert_eq!(response.headers()["ratelimit-remaining"], "0");
                assert!(response.headers().contains_key("retry-after"));
                let body: serde_json::Value = response.json().await.unwrap();
                assert_eq!(body["code"], "rate_limited");
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((ok, limited), (50, 150));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        50,
        "refused requests never reach the handler"
    );
    let rows = meter.usage(Some("alice"), Granularity::Day, 0, u64::MAX);
    let by_class: Vec<_> = rows
        .iter()
        .map(|r| (r.status_class.as_str(), r.count))
        .collect();
    assert_eq!(by_class, [("2xx", 50), ("4xx", 150)]);
}

#[tokio::test]
async fn roles_subjects_and_anonymous_callers_have_their_own_quotas() {
    let quotas = Quotas::new()
        .for_authenticated(Quota::rate(1, 0.0))
        .for_role("admin", Quota::rate(3, 0.0))
        .for_subject("vip", Quota::rate(5, 0.0))
        .for_anonymous(Quota::rate(2, 0.0));
    let base = start(Arc::new(UsageMeter::new()), Some(quotas), Arc::default()).await;
    let http = reqwest::Client::new();
    let count_ok = |token: Option<String>| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let mut ok = 0;
            for _ in 0..10 {
                let mut request = http.get(format!("{base}/posts/1"));
                if let Some(token) = &token {
                    request = request.bearer_auth(token);
                }
                if request.send().await.unwrap().status() == 200 {
                    ok += 1;
                }
            }
            ok
        }
    };
    assert_eq!(count_ok(Some(token("user-1", &["user"]))).await, 1);
    assert_eq!(count_ok(Some(token("root", &["admin"]))).await, 3);
    assert_eq!(count_ok(Some(token("vip", &["admin"]))).await, 5);
    assert_eq!(count_ok(None).await, 2);
    // Another user has a fresh quota.
    assert_eq!(count_ok(Some(token("user-2", &["user"]))).await, 1);
}

#[tokio::test]
async fn made_up_methods_and_reserved_subjects_mint_nothing() {
    let meter = Arc::new(UsageMeter::new());
    let quotas = Quotas::new()
        .for_authenticated(Quota::rate(100, 0.0))
        .for_anonymous(Quota::rate(2, 0.0));
    let base = start(meter.clone(), Some(quotas), Arc::default()).await;
    let http = reqwest::Client::new();
    for method in ["QWERTY1", "QWERTY2", "QWERTY3"] {
        http.request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{base}/posts/1"),
        )
        .bearer_auth(token("alice", &["user"]))
        .send()
        .await
        .unwrap();
    }
    let methods: Vec<String> = meter
        .usage(Some("alice"), Granularity::Day, 0, u64::MAX)
        .into_iter()
        .map(|r| r.method)
        .collect();
    assert_eq!(
        methods,
        ["OTHER"],
        "one counter, not one per made-up method"
    );

    // A token whose sub imitates an anonymous address spends its own quota, not the address's.
    let imitator = token("anon:127.0.0.1", &["user"]);
    for _ in 0..5 {
        http.get(format!("{base}/posts/1"))
            .bearer_auth(&imitator)
            .send()
            .await
            .unwrap();
    }
    let anonymous_ok = {
        let mut ok = 0;
        for _ in 0..2 {
            if http
                .get(format!("{base}/posts/1"))
                .send()
                .await
                .unwrap()
                .status()
                == 200
            {
                ok += 1;
            }
        }
        ok
    };
    assert_eq!(
        anonymous_ok, 2,
        "the real address still has its whole quota"
    );
    let subjects: Vec<String> = meter
        .totals(0, u64::MAX)
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert!(
        subjects.contains(&"sub:anon:127.0.0.1".to_owned()),
        "{subjects:?}"
    );
}

/// Issue 18, item 8: filling the limiter with ~100 000 other keys used to evict a capped
/// bucket, so that the same caller's day cap started over.
#[test]
fn a_spent_cap_survives_a_flood_of_other_keys() {
    use authz_axum::usage::{Period, Quota, QuotaDecision, QuotaLimiter};
    let limiter = QuotaLimiter::new(); // tracks 100 000 keys
    let capped = Quota::rate(1_000, 1_000.0).with_cap(Period::Day, 100);
    let t = 86_400.0 * 20_000.0;
    for _ in 0..100 {
        assert!(matches!(
            limiter.check("victim", &capped, t),
            QuotaDecision::Allowed { .. }
        ));
    }
    for i in 0..150_000 {
        let _ = limiter.check(&format!("anon:10.{i}"), &capped, t + 1.0);
    }
    assert!(matches!(
        limiter.check("victim", &capped, t + 2.0),
        QuotaDecision::Limited { cap: true, .. }
    ));
}

/// Issue 13: the injected clock reaches the usage layer too. Behind an AuthLayer whose
/// verifier reads a `FixedClock`, quotas refill and counts land by that clock, not the
/// system's.
#[tokio::test]
async fn the_usage_layer_reads_the_auth_layers_clock() {
    use authz_axum::FixedClock;
    use tower::ServiceExt;

    let start = 1_900_000_000; // 2030-03-17, far from the system clock
    let clock = FixedClock::at_unix(start);
    let verifier = Verifier::builder(KeySet::single(key().verifying_key()))
        .with_clock(clock.clone())
        .build()
        .unwrap();
    let meter = Arc::new(UsageMeter::new());
    let app = Router::new()
        .route("/posts", get(|| async { "posts" }))
        .layer(
            UsageLayer::new(meter.clone())
                .with_quotas(Quotas::new().for_authenticated(Quota::rate(1, 1.0))),
        )
        .layer(AuthLayer::new(verifier));
    let token = Issuer::new(key())
        .with_clock(clock.clone())
        .issue(&json!({"sub": "ivy"}))
        .unwrap();
    let send = || {
        let request = axum::http::Request::get("/posts")
            .header("authorization", format!("Bearer {token}"))
            .body(axum::body::Body::empty())
            .unwrap();
        app.clone().oneshot(request)
    };
    assert_eq!(send().await.unwrap().status(), 200);
    // The clock stands still: no refill, however long the test takes.
    assert_eq!(send().await.unwrap().status(), 429);
    clock.advance(std::time::Duration::from_secs(1));
    assert_eq!(send().await.unwrap().status(), 200);
    // Three requests counted in the minute of the fixed clock.
    let rows = meter.usage(Some("ivy"), Granularity::Minute, start - 60, start + 60);
    assert_eq!(rows.iter().map(|r| r.count).sum::<u64>(), 3, "{rows:?}");
}

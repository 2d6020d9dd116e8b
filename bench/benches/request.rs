//! The guarded request path in process, without the network: one `GET /hello` through the
//! axum router, plain or behind `AuthLayer` + `#[require_auth(role = "user")]`, with the
//! verifier and the 11-claim tokens of `bench/http.sh`. Against `plain, token sent`, the
//! difference is what the layer, the verifier and the guard cost per request in user space;
//! the load run adds the kernel and hyper, the same for every target.
//!
//! Run: `taskset -c 0 cargo bench -p authz-bench --bench request`.

#![allow(clippy::unwrap_used, missing_docs)] // setup failures in a benchmark should stop it loudly

use std::hint::black_box;
use std::time::Duration;

use authz_axum::Algorithm;
use authz_bench::{guarded_app, plain_router, ready, request};
use axum::Router;
use criterion::{Criterion, criterion_group, criterion_main};
use http::StatusCode;
use tower::ServiceExt;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("request");
    let mut run = |name: &str, app: &Router, token: Option<&str>, status: StatusCode| {
        let response = ready(app.clone().oneshot(request(token))).unwrap();
        assert_eq!(response.status(), status, "{name}");
        group.bench_function(name, |b| {
            b.iter(|| {
                let response = ready(app.clone().oneshot(request(black_box(token)))).unwrap();
                black_box(response.status())
            })
        });
    };

    let (app, tokens) = guarded_app(Algorithm::HS256, false).unwrap();
    let plain = plain_router();
    run("plain", &plain, None, StatusCode::OK);
    run(
        "plain, token sent",
        &plain,
        Some(&tokens.valid),
        StatusCode::OK,
    );
    run("hs256 valid", &app, Some(&tokens.valid), StatusCode::OK);
    run(
        "hs256 bad signature",
        &app,
        Some(&tokens.badsig),
        StatusCode::UNAUTHORIZED,
    );
    run(
        "hs256 expired",
        &app,
        Some(&tokens.expired),
        StatusCode::UNAUTHORIZED,
    );
    run(
        "hs256 no role (403)",
        &app,
        Some(&tokens.norole),
        StatusCode::FORBIDDEN,
    );
    run("hs256 no token (401)", &app, None, StatusCode::UNAUTHORIZED);
    for (alg, name) in [
        (Algorithm::HS256, "hs256"),
        (Algorithm::ES256, "es256"),
        (Algorithm::RS256, "rs256"),
        (Algorithm::EdDSA, "eddsa"),
    ] {
        let (app, tokens) = guarded_app(alg, true).unwrap();
        let name = format!("{name} valid, cache");
        run(&name, &app, Some(&tokens.valid), StatusCode::OK);
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);

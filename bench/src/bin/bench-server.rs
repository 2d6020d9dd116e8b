//! One route, `GET /hello`, served plain or behind `AuthLayer` + `#[require_auth(role =
//! "user")]`, on one tokio thread, for `bench/http.sh`.
//!
//! ```text
//! bench-server --port 18100 --mode plain|hs256|rs256|es256|eddsa --tokens DIR [--cache] [--remote]
//!              [--revocation memory|sqlite|postgres]
//! ```
//!
//! `--remote` trusts the keys through a `RemoteKeySet` instead of a static set: a JWKS
//! server in the same process answers after 500 ms with `Cache-Control: max-age=1`, so that
//! a refresh runs (and is in flight half the time) throughout the load run.
//!
//! `--forbidden` (plain mode): the route answers the guarded route's 403 (same bytes) without
//! any check, to tell the cost of the bigger response from the cost of refusing.
//!
//! `--usage` adds the `UsageLayer` with the memory meter (counting only); `--quota` adds it with
//! a quota that never refuses (counting, the limiter and the `RateLimit-*` headers).
//! `--usage-redis`: counting, flushed to Redis once a second; `--quota-redis`: the same plus
//! a quota spent in Redis on every request.
//!
//! `--revocation` checks every verified token with a `TokenService` whose session store holds
//! 10 000 revoked `jti`s, none of them the benchmark token's: `memory` asks the memory store,
//! `sqlite` and `postgres` (`AUTHZ_TEST_POSTGRES_URL`) the instance's mirror of the durable
//! store.
//!
//! In a guarded mode it generates a key and writes the tokens it will see into DIR: `valid`,
//! `badsig`, `expired`, `norole`. In plain mode it writes HS256 tokens of the same shape, which
//! the route ignores (`plain, token sent`: the bytes of a guarded request, without the layer).

use std::time::Duration;

use std::sync::Arc;

use authz_axum::core::lifecycle::TokenService;
use authz_axum::core::lifecycle::store::{
    Families, MemoryStore, RedisStore, Revocation, Revoke, Revoked, SessionStore, SqlStore,
};
use authz_axum::core::remote::{RemoteKeySet, RemoteOptions};
use authz_axum::jwks::HttpFetcher;
use authz_axum::usage::{FailMode, Quota, Quotas, UsageLayer, UsageMeter};
use authz_axum::{Algorithm, AuthLayer, KeySet, Verifier};
use authz_bench::{
    configure, guarded_router, keys_and_tokens, plain_forbidden_router, plain_router,
};
use axum::Router;
use axum::routing::get;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let port = arg(&args, "--port").unwrap_or_else(|| "18100".to_owned());
    let mode = arg(&args, "--mode").unwrap_or_else(|| "plain".to_owned());
    let cache = args.iter().any(|a| a == "--cache");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let app = match mode.as_str() {
        "plain" => {
            // The same tokens as the HS256 targets, for `plain, token sent` (the request of a
            // guarded target, to a route that ignores it).
            if let Some(dir) = arg(&args, "--tokens") {
                write_tokens(&keys_and_tokens(Algorithm::HS256)?.1, &dir)?;
            }
            if args.iter().any(|a| a == "--forbidden") {
                plain_forbidden_router()
            } else {
                plain_router()
            }
        }
        alg => {
            let alg = authz_bench::algorithm(alg)?;
            let dir = arg(&args, "--tokens").ok_or("--tokens DIR is required")?;
            let remote = args.iter().any(|a| a == "--remote").then_some(&runtime);
            let verifier = setup(alg, &dir, cache, remote)?;
            let layer = AuthLayer::new(verifier);
            let layer = match arg(&args, "--revocation") {
                None => layer,
                Some(kind) => {
                    let service = runtime.block_on(revocation_service(&kind))?;
                    layer.with_revocation(service)
                }
            };
            let router = guarded_router();
            let flag = |name: &str| args.iter().any(|a| a == name);
            let redis_usage = flag("--usage-redis") || flag("--quota-redis");
            let meter = Arc::new(if redis_usage {
                UsageMeter::new().exporting()
            } else {
                UsageMeter::new()
            });
            let usage = UsageLayer::new(meter.clone());
            let router = if redis_usage {
                let url = std::env::var("AUTHZ_TEST_REDIS_URL")
                    .unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
                let redis = Arc::new(
                    runtime
                        .block_on(RedisStore::connect(
                            &url,
                            &format!("bench{}:", std::process::id()),
                        ))
                        .map_err(|e| e.to_string())?,
                );
                // Counters go to Redis in one pipeline a second.
                runtime.block_on(async {
                    redis.spawn_usage_flush(&meter, Duration::from_secs(1));
                });
                if flag("--quota-redis") {
                    let quotas = Quotas::new()
                        .for_authenticated(Quota::rate(u32::MAX, 1e12))
                        .shared(redis, FailMode::Open, Duration::from_millis(100));
                    router.layer(usage.with_quotas(quotas))
                } else {
                    router.layer(usage)
                }
            } else if args.iter().any(|a| a == "--quota") {
                // Counting plus a quota that never refuses: the whole path, headers included.
                let quotas = Quotas::new().for_authenticated(Quota::rate(u32::MAX, 1e12));
                router.layer(usage.with_quotas(quotas))
            } else if args.iter().any(|a| a == "--usage") {
                router.layer(usage)
            } else {
                router
            };
            router.layer(layer)
        }
    };
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
            .await
            .map_err(|e| e.to_string())?;
        println!("ready");
        axum::serve(listener, app).await.map_err(|e| e.to_string())
    })
}

/// A key, the tokens written into `dir`, and the verifier of every guarded target (static or
/// remote keys).
fn setup(
    alg: Algorithm,
    dir: &str,
    cache: bool,
    remote: Option<&tokio::runtime::Runtime>,
) -> Result<Verifier, String> {
    let (keys, tokens) = keys_and_tokens(alg)?;
    write_tokens(&tokens, dir)?;
    let builder = match remote {
        None => Verifier::builder(keys),
        Some(runtime) => Verifier::builder(runtime.block_on(remote_keys(keys))?),
    };
    configure(builder, cache)
}

fn write_tokens(tokens: &authz_bench::Tokens, dir: &str) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    for name in ["valid", "badsig", "expired", "norole"] {
        let token = tokens.get(name).unwrap_or_default();
        std::fs::write(format!("{dir}/{name}"), token).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A token service over a session store holding 10 000 revoked ids, its revocation mirror
/// loaded (`memory`: the store itself; `sqlite`, `postgres`: the mirror of the durable store).
async fn revocation_service(kind: &str) -> Result<TokenService, String> {
    let store: Arc<dyn SessionStore> = match kind {
        "memory" => Arc::new(MemoryStore::new()),
        "sqlite" => {
            let path = std::env::temp_dir().join(format!("bench-rev-{}.db", std::process::id()));
            Arc::new(
                SqlStore::open_sqlite(&path)
                    .await
                    .map_err(|e| e.to_string())?,
            )
        }
        "postgres" => {
            let url = std::env::var("AUTHZ_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
            Arc::new(SqlStore::connect(&url).await.map_err(|e| e.to_string())?)
        }
        other => return Err(format!("unknown revocation store {other}")),
    };
    for batch in 0..10 {
        let mut request = Revoke::new(Families::None, now());
        for i in 0..1_000 {
            request = request.also(Revocation::new(
                Revoked::Token {
                    id: format!("revoked-{}-{batch}-{i}", std::process::id()),
                },
                now() + 3600,
            ));
        }
        store.revoke(&request).await.map_err(|e| e.to_string())?;
    }
    let signing = authz_axum::SigningKey::generate(Algorithm::ES256).map_err(|e| e.to_string())?;
    let service = TokenService::builder(signing)
        .with_session_store(store)
        .build()
        .map_err(|e| e.to_string())?;
    service.load_revocations().await;
    Ok(service)
}

/// Serves `keys` as a slow JWKS (500 ms, max-age=1) on a free port and returns a
/// `RemoteKeySet` over it, loaded once and refreshing in the background.
async fn remote_keys(keys: KeySet) -> Result<RemoteKeySet, String> {
    let jwks = keys.to_jwks_string();
    let app = Router::new().route(
        "/jwks.json",
        get(move || {
            let jwks = jwks.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(500)).await;
                ([("cache-control", "max-age=1")], jwks)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let url = format!(
        "http://{}/jwks.json",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let remote = RemoteKeySet::with_options(
        url,
        Arc::new(HttpFetcher::new()?),
        RemoteOptions {
            min_ttl: Duration::from_secs(1),
            ..RemoteOptions::default()
        },
    );
    remote.refresh().await.map_err(|e| e.to_string())?;
    remote.spawn_refresh();
    Ok(remote)
}
